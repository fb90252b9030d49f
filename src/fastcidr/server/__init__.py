"""A Kubernetes-API-compatible HTTP server over a :class:`fastcidr.Cluster` (docs/api.md "Server").

The real ``kubectl`` and the official client libraries work against it unchanged:

>>> import fastcidr
>>> cluster = fastcidr.Cluster("10.96.0.0/28")            # doctest: +SKIP
>>> server = fastcidr.serve(cluster)                       # doctest: +SKIP
>>> server.kubeconfig("/tmp/kubeconfig")                   # doctest: +SKIP
>>> # kubectl --kubeconfig /tmp/kubeconfig get servicecidr
>>> server.close()                                         # doctest: +SKIP

Command line: ``fastcidr serve [--store URL] [--service-cluster-ip-range CIDR[,CIDR]]
[--address 127.0.0.1] [--port N] [--kubeconfig-out FILE] [--tls-cert F --tls-key F]``.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import socket
import ssl
import sys
import tempfile
import threading
from typing import Any, List, Optional

from .api import ResourceApi
from .http import ApiHTTPServer

__all__ = ["ApiServer", "serve", "main", "write_kubeconfig"]


def _yaml_scalar(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid YAML double-quoted scalar


def kubeconfig_text(url: str, ca_data: Optional[bytes] = None, name: str = "fastcidr") -> str:
    """A kubeconfig with one cluster, user and context (current), namespace ``default``."""
    cluster_lines = [f"    server: {_yaml_scalar(url)}"]
    if ca_data is not None:
        cluster_lines.append(
            f"    certificate-authority-data: {base64.b64encode(ca_data).decode('ascii')}")
    return "\n".join([
        "apiVersion: v1",
        "kind: Config",
        "preferences: {}",
        "clusters:",
        "- cluster:",
        *cluster_lines,
        f"  name: {name}",
        "users:",
        f"- name: {name}",
        "  user: {}",
        "contexts:",
        "- context:",
        f"    cluster: {name}",
        f"    user: {name}",
        "    namespace: default",
        f"  name: {name}",
        f"current-context: {name}",
        "",
    ])


def write_kubeconfig(path: str, url: str, ca_data: Optional[bytes] = None) -> str:
    """Write a kubeconfig atomically (temporary file in the same directory, then rename)."""
    path = os.path.abspath(path)
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".kubeconfig-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(kubeconfig_text(url, ca_data))
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


class ApiServer:
    """A running server: ``.url``, ``.kubeconfig(path)``, ``.close()``; a context manager.

    It serves in a daemon thread, so it never keeps the process alive."""

    def __init__(self, cluster: Any, host: str = "127.0.0.1", port: int = 0, *,
                 tls_cert: Optional[str] = None, tls_key: Optional[str] = None,
                 verbose: bool = False) -> None:
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("--tls-cert and --tls-key go together")
        context: Optional[ssl.SSLContext] = None
        self._ca_data: Optional[bytes] = None
        if tls_cert is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls_cert, tls_key)
            with open(tls_cert, "rb") as handle:
                self._ca_data = handle.read()
        self.cluster = cluster
        self.api = ResourceApi(cluster)
        self._httpd = ApiHTTPServer((host, port), self.api, context, verbose=verbose)
        bound_host = str(self._httpd.server_address[0])
        bound_port = int(self._httpd.server_address[1])
        scheme = "https" if context is not None else "http"
        # a wildcard address is not one to connect to: the URL (and kubeconfig) use loopback
        shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(bound_host, bound_host)
        shown = f"[{shown}]" if ":" in shown else shown
        self.host: str = bound_host
        self.port: int = bound_port
        self.url = f"{scheme}://{shown}:{bound_port}"
        self._closed = False
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.2},
                                        name=f"fastcidr-serve-{bound_port}", daemon=True)
        self._thread.start()

    def kubeconfig(self, path: str) -> str:
        """Write a kubeconfig for this server to ``path`` (atomically); return the path."""
        return write_kubeconfig(path, self.url, self._ca_data)

    def wait_until_accepting(self, timeout: float = 10.0) -> None:
        """Return once a TCP connection to the server succeeds."""
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        with socket.create_connection((host, self.port), timeout=timeout):
            pass

    def close(self) -> None:
        """Stop accepting, end every connection (watch streams included) and wait for the
        serving thread. Idempotent. The Cluster stays open (it belongs to the caller)."""
        if self._closed:
            return
        self._closed = True
        self._httpd.closing.set()
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "ApiServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<fastcidr.ApiServer {self.url}{' closed' if self._closed else ''}>"


def serve(cluster: Any, host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> ApiServer:
    """Serve ``cluster`` over the Kubernetes API; returns the running :class:`ApiServer`."""
    return ApiServer(cluster, host, port, **kwargs)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastcidr serve",
        description="Serve the Kubernetes API for ServiceCIDRs, IPAddresses and Services, "
                    "so the real kubectl and client libraries work against fastcidr.")
    parser.add_argument("--store", default=os.environ.get("FASTCIDR_STORE"),
                        help="store URL: a path, sqlite:///path, etcd://host:port/prefix or memory: "
                             "(default: FASTCIDR_STORE, else a fresh in-memory store)")
    parser.add_argument("--service-cluster-ip-range", dest="service_cluster_ip_range",
                        help="the default Service range, CIDR[,CIDR]")
    parser.add_argument("--address", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (0 picks a free one)")
    parser.add_argument("--kubeconfig-out", dest="kubeconfig_out",
                        help="write a kubeconfig for this server here once it accepts connections")
    parser.add_argument("--tls-cert", dest="tls_cert", help="serve HTTPS with this certificate")
    parser.add_argument("--tls-key", dest="tls_key", help="the certificate's private key")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """``fastcidr serve ...``: run until SIGINT or SIGTERM; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    from ..errors import FastCIDRError
    from ..k8s.cluster import Cluster

    try:
        cluster = Cluster(args.service_cluster_ip_range, store=args.store)
    except FastCIDRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    try:
        server = ApiServer(cluster, args.address, args.port, tls_cert=args.tls_cert,
                           tls_key=args.tls_key, verbose=args.verbose)
    except (OSError, ssl.SSLError, ValueError) as exc:
        cluster.close()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        server.wait_until_accepting()
        if args.kubeconfig_out:
            server.kubeconfig(args.kubeconfig_out)
        print(server.url, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        server.close()
        cluster.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


