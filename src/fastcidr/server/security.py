"""Who may talk to ``fastcidr serve``: the Host and Origin checks and the bearer token
(docs/serve.md, "Limits and security").

- A request whose ``Host`` names something other than the server (its bound address, loopback,
  ``localhost``, or a name allowed with ``--allow-host``) is refused with 403: a web page that
  rebinds its own DNS name to 127.0.0.1 must not reach the API.
- A write (any method but GET/HEAD) carrying a browser ``Origin`` that is not the server itself
  is refused with 403: a page on another site must not create or delete objects.
- Listening on a non-loopback address needs ``allow_remote`` and turns authentication on: every
  request but the public health and version endpoints must carry the server's bearer token
  (generated at start, written into the kubeconfig, compared in constant time) or a client
  certificate signed by ``--tls-client-ca``; 401 otherwise.
"""
from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket
from typing import Iterable, Optional, Set, Tuple
from urllib.parse import urlsplit

from . import status

__all__ = ["AccessPolicy", "is_loopback", "new_token", "split_host"]

WILDCARDS = ("", "0.0.0.0", "::")
#: What kube-apiserver serves to anyone (system:public-info-viewer): probes and the version.
PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version", "/version/"})
_READ_METHODS = frozenset({"GET", "HEAD"})


def new_token() -> str:
    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) is only reachable from this machine."""
    if host in WILDCARDS:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def split_host(value: str) -> Tuple[str, Optional[int]]:
    """``"[::1]:8080"`` -> ``("::1", 8080)``; ``"Example.COM."`` -> ``("example.com", None)``."""
    value = value.strip()
    port: Optional[int] = None
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest.startswith(":") and rest[1:].isascii() and rest[1:].isdigit():
            port = int(rest[1:])
        elif rest:
            return "", None  # garbage after the bracket: matches nothing
    else:
        host, sep, tail = value.rpartition(":")
        if sep and tail.isascii() and tail.isdigit() and ":" not in host:
            port = int(tail)
        else:
            host = value
    return host.lower().rstrip("."), port


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class AccessPolicy:
    """The checks of one server, made once per request before anything else."""

    def __init__(self, bound_host: str, port: int, *, remote: bool,
                 allow_hosts: Iterable[str] = (), token: Optional[str] = None,
                 client_certificates: bool = False) -> None:
        self.port = port
        self.remote = remote
        self.token = token
        self.client_certificates = client_certificates
        allowed: Set[str] = {"localhost", "127.0.0.1", "::1"}
        if bound_host not in WILDCARDS:
            allowed.add(bound_host.lower())
        allowed.update(split_host(name)[0] for name in allow_hosts if name.strip())
        self.allowed_hosts = frozenset(allowed)

    @property
    def authenticating(self) -> bool:
        return self.remote

    def host_allowed(self, host: str) -> bool:
        if host in self.allowed_hosts:
            return True
        # a remote server is reached by any of the machine's addresses; an address literal
        # cannot be rebound by a web page's DNS, so it is no rebinding risk
        return self.remote and _is_ip(host)

    def check(self, method: str, path: str, host_header: Optional[str],
              origin: Optional[str], authorization: Optional[str],
              has_client_certificate: bool) -> None:
        """Raise the 401/403 ``ApiError`` for a request that may not proceed."""
        if host_header is not None:
            host, _ = split_host(host_header)
            if not self.host_allowed(host):
                raise status.ApiError(403, status.status_body(
                    403, "Forbidden",
                    f"forbidden: the Host header {host_header[:100]!r} does not name this server "
                    "(allow another name with --allow-host)"))
        if origin is not None and method not in _READ_METHODS and not self._same_origin(origin):
            raise status.ApiError(403, status.status_body(
                403, "Forbidden", "forbidden: cross-origin writes are refused "
                                  f"(Origin {origin[:100]!r} is not this server)"))
        presented = _bearer(authorization)
        if presented is not None:
            # a credential is checked whenever one is shown, even where none is required
            if self.token is None or not hmac.compare_digest(
                    presented.encode("utf-8", "surrogateescape"), self.token.encode("utf-8")):
                raise _unauthorized()
            return
        if authorization is not None and authorization.strip():
            raise _unauthorized()  # Basic or another scheme: nothing this server accepts
        if not self.authenticating or has_client_certificate:
            return
        if path.split("?", 1)[0] in PUBLIC_PATHS and method in _READ_METHODS:
            return
        raise _unauthorized()

    def _same_origin(self, origin: str) -> bool:
        try:
            parts = urlsplit(origin.strip())
            origin_port = parts.port
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False  # "null" (sandboxed pages, file://) and anything malformed
        if origin_port is None:
            origin_port = 443 if parts.scheme == "https" else 80
        host = parts.hostname.lower().rstrip(".")
        return origin_port == self.port and self.host_allowed(host)


def _bearer(authorization: Optional[str]) -> Optional[str]:
    if not authorization:
        return None
    scheme, _, credential = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credential.strip()


def _unauthorized() -> status.ApiError:
    return status.ApiError(401, status.status_body(401, "Unauthorized", "Unauthorized"))
