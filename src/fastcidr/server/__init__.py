"""A Kubernetes-API-compatible HTTP server over a :class:`fastcidr.Cluster` (docs/api.md "Server").

The real ``kubectl`` and the official client libraries work against it unchanged:

>>> import fastcidr
>>> cluster = fastcidr.Cluster("10.96.0.0/28")            # doctest: +SKIP
>>> server = fastcidr.serve(cluster)                       # doctest: +SKIP
>>> server.kubeconfig("/tmp/kubeconfig")                   # doctest: +SKIP
>>> # kubectl --kubeconfig /tmp/kubeconfig get servicecidr
>>> server.close()                                         # doctest: +SKIP

Command line: ``fastcidr serve [--store URL] [--service-cluster-ip-range CIDR[,CIDR]]
[--address 127.0.0.1] [--port N] [--kubeconfig-out FILE] [--tls-cert F --tls-key F]
[--allow-remote] [--allow-host NAME] [--tls-client-ca F] [--repair-interval S]
[--kubernetes-service-interval S] [--event-ttl S] [--no-controllers]`` and the limits of
docs/serve.md ("Limits and security").
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
import time
from typing import TYPE_CHECKING, Any, List, Optional, Sequence, cast

from .._log import get_logger
from ..k8s.events import EVENT_TTL, EventLog
from .api import ResourceApi
from .controllers import KUBERNETES_SERVICE_INTERVAL, REPAIR_INTERVAL, Controllers
from .events import EventsApi
from .resources import EVENTS, EVENTS_V1, SELF_SUBJECT_ACCESS_REVIEWS, SELF_SUBJECT_REVIEWS
from .reviews import ReviewsApi
from .http import ApiHTTPServer
from .limits import ServerLimits, SizeLimitedCluster
from .security import AccessPolicy, is_loopback, new_token

log = get_logger(__name__)

if TYPE_CHECKING:
    from ..k8s.cluster import Cluster

__all__ = ["ApiServer", "serve", "main", "write_kubeconfig"]


def _yaml_scalar(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid YAML double-quoted scalar


def kubeconfig_text(url: str, ca_data: Optional[bytes] = None, name: str = "fastcidr",
                    token: Optional[str] = None) -> str:
    """A kubeconfig with one cluster, user (with ``token``, if given) and context (current),
    namespace ``default``."""
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
        *(["  user:", f"    token: {_yaml_scalar(token)}"] if token else ["  user: {}"]),
        "contexts:",
        "- context:",
        f"    cluster: {name}",
        f"    user: {name}",
        "    namespace: default",
        f"  name: {name}",
        f"current-context: {name}",
        "",
    ])


def write_kubeconfig(path: str, url: str, ca_data: Optional[bytes] = None,
                     token: Optional[str] = None) -> str:
    """Write a kubeconfig atomically (temporary file in the same directory, then rename),
    readable by its owner only (it may carry the server's token)."""
    path = os.path.abspath(path)
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".kubeconfig-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(kubeconfig_text(url, ca_data, token=token))
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


#: kube-apiserver's ``--service-cluster-ip-range`` when the flag is not given
DEFAULT_SERVICE_RANGE = "10.0.0.0/24"


class ApiServer:
    """A running server: ``.url``, ``.kubeconfig(path)``, ``.close()``; a context manager.

    It serves in a daemon thread, so it never keeps the process alive.

    On a loopback address (the default) it needs no credentials. Listening anywhere else needs
    ``allow_remote=True`` and then requires the bearer ``token`` (generated unless given; in the
    kubeconfig) or, with ``tls_client_ca``, a client certificate it signed. With TLS the
    kubeconfig always carries the token, so kubectl never prompts. Requests whose Host is not
    this server (or one of ``allow_hosts``) and cross-origin browser writes are refused
    everywhere. ``limits``: a :class:`~fastcidr.server.limits.ServerLimits`."""

    def __init__(self, cluster: Any, host: str = "127.0.0.1", port: int = 0, *,
                 tls_cert: Optional[str] = None, tls_key: Optional[str] = None,
                 verbose: bool = False, allow_remote: bool = False,
                 allow_hosts: Sequence[str] = (), token: Optional[str] = None,
                 tls_client_ca: Optional[str] = None,
                 limits: Optional[ServerLimits] = None,
                 controllers: bool = True,
                 repair_interval: float = REPAIR_INTERVAL,
                 kubernetes_service_interval: float = KUBERNETES_SERVICE_INTERVAL,
                 event_ttl: float = EVENT_TTL) -> None:
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("--tls-cert and --tls-key go together")
        if tls_client_ca is not None and tls_cert is None:
            raise ValueError("--tls-client-ca needs --tls-cert and --tls-key")
        remote = not is_loopback(host)
        if remote and not allow_remote:
            raise ValueError(
                f"refusing to listen on {host or '0.0.0.0'!r}, which is not a loopback address, "
                "without --allow-remote (allow_remote=True); with it, every request must carry "
                "the server's bearer token (written into the kubeconfig)")
        if token is not None and not token.strip():
            raise ValueError("the token must not be empty")
        context: Optional[ssl.SSLContext] = None
        self._ca_data: Optional[bytes] = None
        if tls_cert is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls_cert, tls_key)
            if tls_client_ca is not None:
                context.load_verify_locations(tls_client_ca)
                context.verify_mode = ssl.CERT_OPTIONAL  # a certificate, or else the token
            with open(tls_cert, "rb") as handle:
                self._ca_data = handle.read()
        #: the bearer token the kubeconfig carries (None on plain loopback, which needs none)
        self.token: Optional[str] = token or (new_token() if remote or context is not None else None)
        self.limits = limits if limits is not None else ServerLimits()
        self.cluster = cluster
        # The wrapper checks object sizes on writes and hands every other attribute to the Cluster.
        self.api = ResourceApi(cast("Cluster", SizeLimitedCluster(cluster, self.limits.max_object_bytes)))
        #: the Events of this server's Cluster (what clients post and the controllers write)
        self.events = EventLog(cluster, ttl=event_ttl)
        self._httpd = ApiHTTPServer((host, port), self.api, context, verbose=verbose,
                                    limits=self.limits)
        events_api = EventsApi(cluster, self.events, self.limits.max_object_bytes)
        reviews = ReviewsApi()
        self._httpd.apis.update({EVENTS: events_api, EVENTS_V1: events_api,
                                 SELF_SUBJECT_ACCESS_REVIEWS: reviews, SELF_SUBJECT_REVIEWS: reviews})
        #: the background controllers (None when started with ``controllers=False``)
        self.controllers: Optional[Controllers] = None
        if controllers:
            self.controllers = Controllers(cluster, self.events, repair_interval=repair_interval,
                                           kubernetes_service_interval=kubernetes_service_interval,
                                           event_expiry_interval=min(60.0, event_ttl))
        bound_host = str(self._httpd.server_address[0])
        bound_port = int(self._httpd.server_address[1])
        self._httpd.policy = AccessPolicy(bound_host, bound_port, remote=remote,
                                          allow_hosts=allow_hosts, token=self.token,
                                          client_certificates=tls_client_ca is not None)
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
        if self.controllers is not None:
            self.controllers.start()

    def kubeconfig(self, path: str) -> str:
        """Write a kubeconfig for this server to ``path`` (atomically); return the path."""
        return write_kubeconfig(path, self.url, self._ca_data, self.token)

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
        if self.controllers is not None:
            self.controllers.stop()
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
                        help="the default Service range, CIDR[,CIDR] (default: the one the store "
                             f"holds, else kube-apiserver's default {DEFAULT_SERVICE_RANGE})")
    parser.add_argument("--service-node-port-range", dest="service_node_port_range", default="30000-32767",
                        help="the node ports NodePort and LoadBalancer Services get, A-B (default 30000-32767)")
    parser.add_argument("--address", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (0 picks a free one)")
    parser.add_argument("--kubeconfig-out", dest="kubeconfig_out",
                        help="write a kubeconfig for this server here once it accepts connections")
    parser.add_argument("--tls-cert", dest="tls_cert", help="serve HTTPS with this certificate")
    parser.add_argument("--tls-key", dest="tls_key", help="the certificate's private key")
    parser.add_argument("--tls-client-ca", dest="tls_client_ca",
                        help="also accept clients with a certificate signed by this CA (with TLS)")
    parser.add_argument("--allow-remote", dest="allow_remote", action="store_true",
                        help="allow an --address that is not loopback; every request must then "
                             "carry the server's bearer token (in the kubeconfig) or a client "
                             "certificate")
    parser.add_argument("--allow-host", dest="allow_hosts", action="append", default=[],
                        metavar="NAME", help="also accept requests whose Host header is NAME "
                                             "(repeatable); loopback names always are")
    parser.add_argument("--token-file", dest="token_file",
                        help="the bearer token to require, read from this file (default: a "
                             "fresh random one when authentication is on)")
    defaults = ServerLimits()
    for flag, field, kind, text in (
        ("--max-request-body-bytes", "max_body_bytes", int, "a request body"),
        ("--max-object-bytes", "max_object_bytes", int, "an object as stored"),
        ("--idle-timeout", "idle_timeout", float, "seconds a connection may wait for a request"),
        ("--header-timeout", "header_timeout", float, "seconds for a request's headers to arrive"),
        ("--body-timeout", "body_timeout", float, "seconds for a request's body to arrive"),
        ("--max-connections", "max_connections", int, "open connections (more get 429)"),
        ("--max-watches", "max_watches", int, "concurrent watches (more get 429)"),
    ):
        parser.add_argument(flag, dest=field, type=kind, default=getattr(defaults, field),
                            help=f"limit: {text} (default {getattr(defaults, field)})")
    parser.add_argument("--repair-interval", dest="repair_interval", type=float,
                        default=REPAIR_INTERVAL, metavar="SECONDS",
                        help=f"how often the ClusterIP/IPAddress repair loop runs (default "
                             f"{REPAIR_INTERVAL:g}, as kube-apiserver)")
    parser.add_argument("--kubernetes-service-interval", dest="kubernetes_service_interval",
                        type=float, default=KUBERNETES_SERVICE_INTERVAL, metavar="SECONDS",
                        help="how often the ServiceCIDR controllers, the default/kubernetes "
                             f"Service and leak detection run (default {KUBERNETES_SERVICE_INTERVAL:g})")
    parser.add_argument("--ip-leak-grace-period", dest="leak_grace_period", type=float,
                        default=60.0, metavar="SECONDS",
                        help="the age an IPAddress without its Service must reach before repair "
                             "deletes it (default 60, as kube-apiserver)")
    parser.add_argument("--event-ttl", dest="event_ttl", type=float, default=EVENT_TTL,
                        metavar="SECONDS", help=f"how long Events are kept (default {EVENT_TTL:g})")
    parser.add_argument("--no-controllers", dest="controllers", action="store_false",
                        help="do not run the background controllers")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log every request (and what the library does) to stderr")
    return parser


def _limits(args: argparse.Namespace) -> ServerLimits:
    names = ("max_body_bytes", "max_object_bytes", "idle_timeout", "header_timeout",
             "body_timeout", "max_connections", "max_watches")
    return ServerLimits(**{name: getattr(args, name) for name in names})


def main(argv: Optional[List[str]] = None) -> int:
    """``fastcidr serve ...``: run until SIGINT or SIGTERM; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    try:
        limits = _limits(args)
    except ValueError as exc:
        parser.error(str(exc))
    from ..k8s.nodeports import parse_port_range

    try:
        args.node_ports = parse_port_range(args.service_node_port_range)
    except ValueError as exc:
        parser.error(f"--service-node-port-range: {exc}")
    if not args.leak_grace_period >= 0:
        parser.error(f"--ip-leak-grace-period must not be negative, got {args.leak_grace_period:g}")
    for flag, value in (("--repair-interval", args.repair_interval),
                        ("--kubernetes-service-interval", args.kubernetes_service_interval),
                        ("--event-ttl", args.event_ttl)):
        if not value > 0 or value != value or value == float("inf"):
            parser.error(f"{flag} must be a positive number of seconds, got {value:g}")
    token = None
    if args.token_file:
        try:
            with open(args.token_file, encoding="utf-8") as handle:
                token = handle.read().strip()
        except OSError as exc:
            parser.error(f"--token-file: {exc.strerror}")
    from .._log import Progress, configure_cli, unconfigure_cli

    # warnings (internal errors) always reach stderr; -v adds every request (DEBUG)
    configure_cli(2 if args.verbose else 0, prefix="fastcidr serve", detailed=False)
    progress = Progress("fastcidr serve: starting (loading the store, rebuilding the index)", delay=0.5).ticking()
    try:
        return _serve(args, limits, token, progress)
    finally:
        progress.done()
        unconfigure_cli()


def _serve(args: argparse.Namespace, limits: ServerLimits, token: Optional[str], progress: Any) -> int:
    from ..errors import FastCIDRError
    from ..k8s.cluster import Cluster

    try:
        # with no range given and none in the store, kube-apiserver's default (a server where no
        # Service can get an address helps nobody); a store that holds one keeps it
        cluster = Cluster(args.service_cluster_ip_range, store=args.store,
                          service_node_port_range=args.node_ports,
                          leak_grace_period=args.leak_grace_period, default_range=DEFAULT_SERVICE_RANGE)
    except FastCIDRError as exc:
        progress.done()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    progress.done()
    try:
        server = ApiServer(cluster, args.address, args.port, tls_cert=args.tls_cert,
                           tls_key=args.tls_key, verbose=bool(args.verbose),
                           allow_remote=args.allow_remote, allow_hosts=args.allow_hosts,
                           token=token, tls_client_ca=args.tls_client_ca, limits=limits,
                           controllers=args.controllers, repair_interval=args.repair_interval,
                           kubernetes_service_interval=args.kubernetes_service_interval,
                           event_ttl=args.event_ttl)
    except (OSError, ssl.SSLError, ValueError) as exc:
        cluster.close()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    # The handler only flips a flag: setting a threading.Event there can deadlock, because the
    # handler runs in the main thread, which may at that instant hold the Event's own lock
    # (inside Event.wait). The main loop sleeps in short steps and looks at the flag.
    stop_requested: List[int] = []
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda signum, _frame: stop_requested.append(signum))
    try:
        server.wait_until_accepting()
        if server.token is not None and args.tls_cert is None:
            log.warning("warning: the bearer token travels over plain HTTP, readable on the network, "
                        "and kubectl sends tokens only over HTTPS: serve with --tls-cert/--tls-key")
        if args.kubeconfig_out:
            server.kubeconfig(args.kubeconfig_out)
        print(server.url, flush=True)
        while not stop_requested:
            time.sleep(0.1)
    finally:
        server.close()
        cluster.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


