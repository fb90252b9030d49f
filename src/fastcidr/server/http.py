"""The HTTP layer: the standard library's threading server speaking the Kubernetes REST API.

Why the standard library: the API surface is small, requests are short JSON documents, and a
watch is one long-lived chunked response per connection, which a thread per connection serves
simply; no dependency is needed, and ``close()`` can end every connection (watches included)
deterministically. Each connection is HTTP/1.1 keep-alive, so a client reusing its connection
(kubectl, the Python client) pays no reconnect per request.
"""
from __future__ import annotations

import errno
import io
import json
import re
import select
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Set, Tuple
from urllib.parse import parse_qsl, urlsplit, unquote

from .._log import get_logger
from . import discovery, openapi, status, tables
from .api import ListOptions, ResourceApi
from .limits import ServerLimits, check_nesting, check_numeric_query, check_object_types, \
    object_size, too_large, too_many_requests
from .security import AccessPolicy
from .protobuf import ProtobufError, decode_object
from .resources import NAMESPACES, SELF_SUBJECT_ACCESS_REVIEWS, SELF_SUBJECT_REVIEWS, SERVICES, \
    ResourceType, find

# requests at DEBUG, failures at WARNING (``fastcidr serve -v`` shows both; docs/observability.md)
log = get_logger(__name__)

__all__ = ["ApiHTTPServer", "ApiRequestHandler"]

JSON = "application/json"
PROTOBUF = "application/vnd.kubernetes.protobuf"
#: The media types a create or update body may have (kube-apiserver's serializers); a PATCH
#: body's type is its patch type.
BODY_MEDIA_TYPES = frozenset({JSON, "application/yaml", PROTOBUF})
_DIGITS = re.compile(rb"^[0-9]{1,19}$")
_CHUNK_SIZE = re.compile(rb"^([0-9A-Fa-f]{1,8})(;[^\r\n]*)?\r?\n$")
#: accept() errors that mean "out of file descriptors or memory": retry later, not at once
_ACCEPT_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: reasons for the errors the standard library's request parsing sends (send_error)
_REASONS = {400: "BadRequest", 408: "Timeout", 413: "RequestEntityTooLarge",
            414: "RequestURITooLong", 431: "RequestHeaderFieldsTooLarge", 505: "BadRequest"}
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s/'\":]+/)+([^\s/'\":]+)")


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def wants_table(accept: str) -> bool:
    """Whether the Accept header asks for a meta.k8s.io Table (``kubectl get``)."""
    for part in accept.split(","):
        params = dict(p.strip().partition("=")[::2] for p in part.split(";")[1:])
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
            return True
    return False


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _framing(message: str) -> status.ApiError:
    return status.bad_request(f"malformed request framing: {message}")


def _without_paths(body: Dict[str, Any]) -> Dict[str, Any]:
    """A 5xx Status with absolute file paths cut to their last component: where the server
    keeps its files is none of the client's business."""
    text = json.dumps(body)
    scrubbed = _ABSOLUTE_PATH.sub(r"\1", text)
    return body if scrubbed == text else json.loads(scrubbed)  # type: ignore[no-any-return]


class ApiHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: Tuple[str, int], api: ResourceApi,
                 ssl_context: Optional[ssl.SSLContext] = None, verbose: bool = False,
                 limits: Optional[ServerLimits] = None,
                 policy: Optional[AccessPolicy] = None) -> None:
        self.api = api
        #: resources served by another handler than ``api`` (Events, the auth reviews), each
        #: with ResourceApi's verbs
        self.apis: Dict[ResourceType, Any] = {}
        self.ssl_context = ssl_context
        self.verbose = verbose
        self.limits = limits if limits is not None else ServerLimits()
        self.policy = policy
        self.closing = threading.Event()
        self._connections: Set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._open = 0  # accepted connections not yet closed (TLS handshakes included)
        # connections waiting for their next request, with the time they began to wait: at the
        # cap, the one idle longest makes room for a new connection
        self._idle: Dict[Any, float] = {}
        self._accept_backoff = 0.0
        self._watches = 0
        self._watches_done = threading.Condition(self._connections_lock)
        if ":" in address[0]:
            self.address_family = socket.AF_INET6  # the listening socket is made in __init__
        super().__init__(address, ApiRequestHandler)

    # -- accepting: bounded, and never a busy loop ----------------------------------------------

    def get_request(self) -> Tuple[Any, Any]:
        try:
            accepted = self.socket.accept()
        except OSError as exc:
            if exc.errno in _ACCEPT_EXHAUSTED:
                # the pending connection stays in the backlog and the socket stays readable:
                # without a pause the serving loop would retry at once, at 100 % CPU
                self._accept_backoff = min(1.0, max(0.02, self._accept_backoff * 2))
                self.closing.wait(self._accept_backoff)
            raise
        self._accept_backoff = 0.0
        return accepted

    def process_request(self, request: Any, client_address: Any) -> None:
        victim = None
        with self._connections_lock:
            refused = self._open >= self.limits.max_connections
            if refused and self._idle:
                # idle sockets must not lock others out: the longest idle one is closed (its
                # client, if it is a real one, reconnects) and the new connection takes its place
                victim = min(self._idle, key=self._idle.__getitem__)
                del self._idle[victim]
                refused = False
            if not refused:
                self._open += 1
        if victim is not None:
            try:
                victim.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if refused:
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # e.g. no thread could be started: the connection is not served
            with self._connections_lock:
                self._open -= 1
            self.shutdown_request(request)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)  # type: ignore[misc]
        finally:
            with self._connections_lock:
                self._open -= 1

    def _refuse(self, request: socket.socket) -> None:
        """Past the connection cap: a 429 Status (plain HTTP; a TLS client just sees the close),
        written from the accepting thread without waiting on the client."""
        try:
            if self.ssl_context is None:
                body = _dumps(too_many_requests(
                    "Too many requests, please try again later: the server's connection limit "
                    f"({self.limits.max_connections}) is reached").body)
                request.setblocking(False)
                request.send(b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
                             b"Retry-After: 1\r\nConnection: close\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        except OSError:
            pass
        self.shutdown_request(request)

    def connection_idle(self, connection: Any, idle: bool) -> None:
        with self._connections_lock:
            if idle:
                self._idle[connection] = time.monotonic()
            else:
                self._idle.pop(connection, None)

    def open_connections(self) -> int:
        with self._connections_lock:
            return self._open

    def finish_request(self, request: Any, client_address: Any) -> None:
        # runs in the connection's own thread: the TLS handshake does not hold up accept()
        wrapped = None
        if self.ssl_context is not None:
            try:
                request.settimeout(10)
                # the TLS socket takes over the file descriptor: it is the one to close
                wrapped = request = self.ssl_context.wrap_socket(request, server_side=True)
                request.settimeout(None)
            except (OSError, ssl.SSLError):
                if wrapped is not None:
                    wrapped.close()
                return
        try:
            with self._connections_lock:
                if self.closing.is_set():
                    return
                self._connections.add(request)
            try:
                super().finish_request(request, client_address)
            finally:
                with self._connections_lock:
                    self._connections.discard(request)
                    self._idle.pop(request, None)
        finally:
            if wrapped is not None:
                self.shutdown_request(wrapped)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a connection that failed outside a request (a TLS handshake, a reset): not the
        # server's fault, so only at DEBUG
        log.debug("error on the connection from %s", client_address, exc_info=True)

    def watch_started(self) -> bool:
        """Count a new watch; False (and not counted) past ``max_watches``."""
        with self._connections_lock:
            if self._watches >= self.limits.max_watches:
                return False
            self._watches += 1
            return True

    def watch_ended(self) -> None:
        with self._connections_lock:
            self._watches -= 1
            self._watches_done.notify_all()

    def close_connections(self, grace: float = 2.0) -> None:
        """End every open connection. Running watches see ``closing`` and end their streams
        properly (the terminating chunk) within ``grace`` seconds; then idle keep-alive
        connections and anything left are shut down."""
        self.closing.set()
        with self._connections_lock:
            self._watches_done.wait_for(lambda: self._watches == 0, grace)
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _ClientGone(Exception):
    pass


class _DeadlineReader(io.RawIOBase):
    """The connection's reading side, where every read is bounded by the handler's current
    deadline, not just by a per-read timeout: a client trickling one byte at a time
    (slowloris) is cut when its deadline passes, however often it sends."""

    def __init__(self, sock: socket.socket, handler: "ApiRequestHandler") -> None:
        self._sock = sock
        self._handler = handler

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        handler = self._handler
        remaining = handler.read_deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the client was too slow")
        self._sock.settimeout(remaining)
        count = self._sock.recv_into(buffer)
        if handler.awaiting_request and count:
            # the next request has begun: its headers now have header_timeout to arrive
            handler.awaiting_request = False
            handler.server.connection_idle(handler.connection, False)
            handler.read_deadline = time.monotonic() + handler.server.limits.header_timeout
        return count


class ApiRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fastcidr"
    server: ApiHTTPServer
    # Buffered writes: headers and body leave in one segment (flushed after each request by
    # BaseHTTPRequestHandler, after each event by the watch), and TCP_NODELAY: together they avoid
    # the 40 ms Nagle/delayed-ACK stall of a response written in two pieces.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    read_deadline = 0.0
    awaiting_request = True

    # -- plumbing ------------------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, self), 64 * 1024)

    def handle_one_request(self) -> None:
        # waiting for the next request on this connection: at most idle_timeout; once it has
        # begun, its headers must arrive within header_timeout (_DeadlineReader)
        self.awaiting_request = True
        self.read_deadline = time.monotonic() + self.server.limits.idle_timeout
        self.server.connection_idle(self.connection, True)
        super().handle_one_request()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        # the standard library's request line ("GET /api HTTP/1.1" 200 -), through logging
        if log.isEnabledFor(10):  # logging.DEBUG
            log.debug("%s - %s", self.address_string(), format % args)

    def send_error(self, code: int, message: Optional[str] = None,
                   explain: Optional[str] = None) -> None:
        """The standard library's own refusals (bad request line, URI or headers too long,
        unknown method, bad version) as ``Status`` bodies, never its HTML page."""
        self.close_connection = True
        if code == 501:  # an unknown method
            error = status.method_not_allowed()
        else:
            reason = _REASONS.get(code, "BadRequest" if code < 500 else "InternalError")
            text = message or self.responses.get(code, ("error",))[0]
            error = status.ApiError(code, status.status_body(code, reason, text))
        if not hasattr(self, "command") or not self.command:
            self.command = ""  # a request line that could not be read has no method
        if getattr(self, "request_version", "") not in ("HTTP/1.0", "HTTP/1.1"):
            self.request_version = "HTTP/1.1"  # an unreadable request line gets a 1.1 status line
        try:
            self._send_error(error)
        except OSError:
            pass

    def _send(self, code: int, body: bytes, content_type: str = JSON,
              headers: Optional[Dict[str, str]] = None, warnings: Optional[List[str]] = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for warning in warnings or []:
            self.send_header("Warning", f'299 - {json.dumps(warning)}')
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, code: int, obj: Any, warnings: Optional[List[str]] = None) -> None:
        self._send(code, _dumps(obj), warnings=warnings)

    def _send_error(self, error: status.ApiError) -> None:
        body = error.body
        if error.code >= 500:
            body = _without_paths(body)
        headers = {"Retry-After": "1"} if error.code == 429 else None
        self._send(error.code, _dumps(body), headers=headers)

    def _read_body(self) -> bytes:
        """The request body, within ``max_body_bytes`` and ``body_timeout``. Any framing this
        server cannot be sure of (a negative, signed or repeated Content-Length, a malformed
        chunk size, Content-Length together with chunked) is a 400, and the connection is
        closed: where this request ends is unknown."""
        limit = self.server.limits.max_body_bytes
        self.read_deadline = time.monotonic() + self.server.limits.body_timeout
        encodings = self.headers.get_all("Transfer-Encoding") or []
        lengths = self.headers.get_all("Content-Length") or []
        if encodings:
            if lengths:
                raise _framing("a request may not carry both Content-Length and Transfer-Encoding")
            if [e.strip().lower() for e in ",".join(encodings).split(",")] != ["chunked"]:
                raise _framing(f"unsupported Transfer-Encoding {', '.join(encodings)[:100]!r}")
            return self._read_chunked(limit)
        if not lengths:
            return b""
        values = {value.strip().encode("latin-1", "replace") for value in lengths}
        if len(values) != 1 or not _DIGITS.match(next(iter(values))):
            raise _framing(f"invalid Content-Length {', '.join(lengths)[:100]!r}")
        length = int(next(iter(values)))
        if length > limit:
            raise too_large(f"limit is {limit}")
        data = self.rfile.read(length) if length else b""
        if len(data) != length:
            raise _framing("the request body ended before its Content-Length")
        return data

    def _read_chunked(self, limit: int) -> bytes:
        chunks: List[bytes] = []
        total = 0
        while True:
            match = _CHUNK_SIZE.match(self.rfile.readline(1024))
            if match is None:
                raise _framing("invalid chunk size in the request body")
            size = int(match.group(1), 16)
            if size == 0:
                for _ in range(100):  # trailer lines, then the empty line
                    line = self.rfile.readline(8192)
                    if line in (b"\r\n", b"\n"):
                        return b"".join(chunks)
                    if not line.endswith(b"\n"):
                        break
                raise _framing("invalid trailer in the request body")
            total += size
            if total > limit:
                raise too_large(f"limit is {limit}")
            data = self.rfile.read(size)
            if len(data) != size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _framing("a chunk of the request body is shorter than its size")
            chunks.append(data)

    def _decode_body(self, raw: bytes, resource: Optional[ResourceType], *,
                     patch: bool = False) -> Any:
        # no Content-Type means JSON, as kube-apiserver has it (the official Python client
        # sends none on create); a browser's cross-site write is stopped by its Origin
        content_type = self.headers.get("Content-Type")
        media = _media_type(content_type or JSON)
        if (media not in BODY_MEDIA_TYPES) if not patch else \
                not media.endswith(("+json", "+yaml")):
            # a browser's "simple" cross-site POST is text/plain or a form: never parsed as JSON
            raise status.unsupported_media_type(content_type or "no Content-Type")
        if media == PROTOBUF:
            if resource not in (SERVICES, NAMESPACES, SELF_SUBJECT_ACCESS_REVIEWS, SELF_SUBJECT_REVIEWS):
                raise status.unsupported_media_type(media)
            try:
                return decode_object(raw)
            except ProtobufError as exc:
                raise status.bad_request(f"unable to decode the protobuf body: {exc}") from None
            except RecursionError:
                raise status.bad_request("the protobuf body nests too deeply") from None
        if not raw.strip():
            raise status.bad_request("the body of the request is empty")
        depth = self.server.limits.max_nesting_depth
        try:
            value = json.loads(raw)
        except RecursionError:
            raise status.bad_request(
                f"the request body nests objects and arrays deeper than {depth} levels") from None
        except (ValueError, UnicodeDecodeError) as exc:
            if not media.endswith("yaml"):
                raise status.bad_request(
                    f"the body of the request was not valid JSON: {exc}") from None
            value = self._yaml(raw)
            check_nesting(value, depth, allow_shared=False)
        else:
            check_nesting(value, depth)
        check_object_types(value, patch=patch)
        return value

    def _yaml(self, raw: bytes) -> Any:
        try:
            import yaml  # type: ignore[import-untyped,unused-ignore]  # optional: YAML bodies only
        except ImportError:  # pragma: no cover
            raise status.ApiError(415, status.status_body(
                415, "UnsupportedMediaType", "YAML bodies need PyYAML on the server")) from None
        try:
            from ..k8s.yaml_reader import load_yaml  # YAML read as Kubernetes reads it (one loader)

            documents = load_yaml(raw)
            if len(documents) > 1:
                raise yaml.YAMLError("expected a single document in the stream")
            return documents[0] if documents else None
        except RecursionError:
            raise status.bad_request(
                "the request body nests objects and arrays deeper than "
                f"{self.server.limits.max_nesting_depth} levels") from None
        except (yaml.YAMLError, ValueError) as exc:
            raise status.bad_request(f"the body of the request was not valid YAML: {exc}") from None

    # -- dispatch ------------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch()

    do_HEAD = do_GET
    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _dispatch(self) -> None:
        raw = b""
        if self.awaiting_request:  # the request came whole from the read buffer (pipelined)
            self.awaiting_request = False
            self.server.connection_idle(self.connection, False)
        try:
            self._check_access()
            try:
                # any method may carry a body: read it, or the next request on this
                # keep-alive connection would start in the middle of it
                raw = self._read_body()
            except status.ApiError:
                self.close_connection = True
                raise
            except TimeoutError:
                self.close_connection = True
                raise status.ApiError(408, status.status_body(
                    408, "Timeout", "the request body was not received in time")) from None
            except (ValueError, OSError):
                self.close_connection = True
                raise status.bad_request("the request body could not be read") from None
            # from here on the connection only writes (and a watch peeks): a client that does
            # not read its response is cut after write_timeout
            self.connection.settimeout(self.server.limits.write_timeout)
            split = urlsplit(self.path)
            query = dict(parse_qsl(split.query, keep_blank_values=True))
            check_numeric_query(query)
            parts = [unquote(p) for p in split.path.split("/") if p]
            self._route(parts, query, raw)
        except status.ApiError as error:
            self._send_error(error)
        except _ClientGone:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
        except Exception as exc:  # a bug must become a 500, not a dropped connection
            # the client learns that it failed, not the server's internals (exception
            # names, paths): those go to the server's own log
            log.warning("internal error on %s %s: %s", self.command, self.path[:200],
                        f"{type(exc).__name__}: {exc}"[:2000],
                        exc_info=self.server.verbose or log.isEnabledFor(10))
            self.close_connection = True
            self._send_error(status.internal_error(
                "the server could not handle the request (details are in the server's log)"))

    def _check_access(self) -> None:
        policy = self.server.policy
        if policy is None:
            return
        certificate = False
        if policy.client_certificates and isinstance(self.connection, ssl.SSLSocket):
            certificate = bool(self.connection.getpeercert())
        try:
            policy.check(self.command, self.path, self.headers.get("Host"),
                         self.headers.get("Origin"), self.headers.get("Authorization"),
                         certificate)
        except status.ApiError:
            self.close_connection = True  # its body (if any) is left unread
            raise

    def _route(self, parts: List[str], query: Dict[str, str], raw: bytes) -> None:
        method = self.command if self.command != "HEAD" else "GET"
        accept = self.headers.get("Accept", "") or ""
        if not parts:
            return self._send_json(200, {"paths": ["/api", "/api/v1", "/apis",
                                                   "/apis/networking.k8s.io/v1", "/openapi/v2", "/openapi/v3",
                                                   "/version", "/healthz", "/metrics"]})
        head = parts[0]
        if head in ("healthz", "readyz", "livez") and method == "GET":
            return self._send(200, b"ok", "text/plain; charset=utf-8")
        if head == "metrics" and len(parts) == 1 and method == "GET":
            # kube-apiserver's clusterip_allocator metrics (docs/behaviour.md §8), Prometheus text format
            text = self.server.api.cluster.metrics_text()
            return self._send(200, text.encode("utf-8"), "text/plain; version=0.0.4; charset=utf-8")
        if head == "version" and len(parts) == 1 and method == "GET":
            return self._send_json(200, discovery.version_info())
        if head == "openapi":
            return self._openapi(parts, method)
        if head == "api":
            if len(parts) == 1 and method == "GET":
                return self._discovery_root(core=True, accept=accept)
            if len(parts) == 2 and method == "GET":
                return self._resource_list("", parts[1], accept)
            if len(parts) < 3:
                raise status.method_not_allowed() if len(parts) == 1 else status.not_found_path()
            return self._resource(group="", version=parts[1], rest=parts[2:], query=query,
                                  raw=raw, accept=accept, method=method)
        if head == "apis":
            if len(parts) == 1 and method == "GET":
                return self._discovery_root(core=False, accept=accept)
            if len(parts) == 2 and method == "GET":
                document = discovery.legacy_group(parts[1])
                if document is None:
                    raise status.not_found_path()
                return self._send_json(200, document)
            if len(parts) == 3 and method == "GET":
                return self._resource_list(parts[1], parts[2], accept)
            if len(parts) >= 4:
                return self._resource(group=parts[1], version=parts[2], rest=parts[3:], query=query,
                                      raw=raw, accept=accept, method=method)
        raise status.not_found_path()

    def _discovery_root(self, *, core: bool, accept: str) -> None:
        if discovery.wants_aggregated(accept):
            body = _dumps(discovery.aggregated(core))
            return self._send(200, body, discovery.AGGREGATED_CONTENT_TYPE,
                              headers={"Vary": "Accept"})
        host, port = self.server.server_address[:2]
        address = f"{host!s}:{port}" if isinstance(host, str) else f"127.0.0.1:{port}"
        return self._send(200, _dumps(discovery.legacy_root(core, address)),
                          headers={"Vary": "Accept"})

    def _resource_list(self, group: str, version: str, accept: str) -> None:
        document = discovery.legacy_resource_list(group, version)
        if document is None:
            raise status.not_found_path()
        self._send_json(200, document)

    def _openapi(self, parts: List[str], method: str) -> None:
        if method == "GET" and parts[1:] == ["v2"]:
            v2 = openapi.v2_document(discovery.KUBERNETES_VERSION["gitVersion"])
            if openapi.V2_PROTOBUF_TYPE in (self.headers.get("Accept") or ""):
                return self._send(200, openapi.v2_protobuf(v2), openapi.V2_PROTOBUF_REPLY_TYPE)
            return self._send_json(200, v2)
        if method != "GET" or len(parts) < 2 or parts[1] != "v3":
            raise status.not_found_path()
        if len(parts) == 2:
            return self._send_json(200, discovery.openapi_root())
        rest = parts[2:]
        document = None
        if rest[0] == "api" and len(rest) == 2:
            document = discovery.openapi_group_version("", rest[1])
        elif rest[0] == "apis" and len(rest) == 3:
            document = discovery.openapi_group_version(rest[1], rest[2])
        if document is None:
            raise status.not_found_path()
        self._send_json(200, document)

    # -- resources -----------------------------------------------------------------------------

    def _resource(self, *, group: str, version: str, rest: List[str], query: Dict[str, str],
                  raw: bytes, accept: str, method: str) -> None:
        namespace: Optional[str] = None
        if not rest:
            raise status.not_found_path()
        if rest[0] == NAMESPACES.plural and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
            resource = find(group, rest[0])
            if resource is None or not resource.namespaced:
                raise status.not_found_path()
        else:
            resource = find(group, rest[0])
            if resource is None:
                raise status.not_found_path()
        if version != resource.version:
            raise status.not_found_path()
        name = rest[1] if len(rest) >= 2 else None
        subresource = rest[2] if len(rest) >= 3 else ""
        if len(rest) > 3 or (subresource and (subresource != "status" or not resource.has_status)):
            raise status.not_found_path()
        api = self.server.apis.get(resource, self.server.api)
        if name is None and method == "GET" and "list" not in resource.verbs:
            raise status.method_not_allowed()
        if name is not None and "get" not in resource.verbs:
            raise status.method_not_allowed()
        dry_run = query.get("dryRun") == "All"
        field_validation = query.get("fieldValidation") or "Warn"
        if field_validation not in ("Strict", "Warn", "Ignore"):
            raise status.bad_request(
                f"fieldValidation must be one of Strict, Warn, Ignore, got {field_validation!r}")
        if name is None:
            if method == "GET":
                if query.get("watch") in ("true", "1"):
                    return self._watch(resource, namespace, query, accept)
                return self._list(resource, namespace, query, accept)
            if method == "POST":
                if resource.namespaced and namespace is None:
                    raise status.method_not_allowed()
                body = self._checked_size(self._decode_body(raw, resource))
                obj, warnings = api.create(resource, namespace, body, dry_run=dry_run,
                                           field_validation=field_validation)
                return self._send_json(201, obj, warnings)
            if method == "DELETE" and "deletecollection" in resource.verbs:
                if resource.namespaced and namespace is None:
                    raise status.method_not_allowed()
                selection = ListOptions(resource, query)
                items, _, _, _ = api.list(resource, namespace, selection)
                deleted = []
                for item in items:
                    try:
                        deleted.append(api.delete(resource, namespace, item["metadata"]["name"],
                                                  dry_run=dry_run))
                    except status.ApiError as error:
                        if error.code != 404:  # gone meanwhile: nothing left to delete
                            raise
                return self._send_json(200, {
                    "kind": f"{resource.kind}List", "apiVersion": resource.api_version,
                    "metadata": {"resourceVersion": str(api.current_revision())},
                    "items": deleted})
            raise status.method_not_allowed()
        if resource.namespaced and namespace is None:
            raise status.not_found_path()
        if method == "GET":
            obj = api.get(resource, namespace, name)
            if wants_table(accept):
                return self._send_json(200, tables.table(
                    resource, [obj], obj["metadata"].get("resourceVersion", ""), now=api.now(),
                    include_object=query.get("includeObject") or "Metadata"))
            return self._send_json(200, obj)
        if method == "PUT":
            body = self._checked_size(self._decode_body(raw, resource))
            obj, warnings = api.update(resource, namespace, name, body, subresource=subresource,
                                       dry_run=dry_run, field_validation=field_validation)
            return self._send_json(200, obj, warnings)
        if method == "PATCH":
            body = self._decode_body(raw, None, patch=True)
            content_type = _media_type(self.headers.get("Content-Type", ""))
            limit = self.server.limits.max_json_patch_operations
            if content_type == "application/json-patch+json" and isinstance(body, list) \
                    and len(body) > limit:
                raise too_large(f"The allowed maximum operations in a JSON patch is {limit}, "
                                f"got {len(body)}")
            obj, created, warnings = api.patch(
                resource, namespace, name, content_type, body, subresource=subresource,
                dry_run=dry_run, field_validation=field_validation)
            return self._send_json(201 if created else 200, obj, warnings)
        if method == "DELETE" and not subresource:
            options: Dict[str, Any] = {}
            if raw.strip():
                try:
                    options = json.loads(raw)
                except RecursionError:
                    raise status.bad_request("the DeleteOptions body nests too deeply") from None
                except ValueError:
                    raise status.bad_request("the DeleteOptions body is not valid JSON") from None
                if not isinstance(options, dict):
                    raise status.bad_request("the DeleteOptions body must be an object")
            dry_run = dry_run or "All" in (options.get("dryRun") or [])
            preconditions = options.get("preconditions")
            obj = api.delete(resource, namespace, name, dry_run=dry_run,
                             preconditions=preconditions if isinstance(preconditions, dict) else None)
            return self._send_json(200, obj)
        raise status.method_not_allowed()

    def _checked_size(self, body: Any) -> Any:
        limit = self.server.limits.max_object_bytes
        size = object_size(body)
        if size > limit:
            raise too_large(f"the object is {size} bytes, limit is {limit}")
        return body

    def _list(self, resource: ResourceType, namespace: Optional[str], query: Dict[str, str],
              accept: str) -> None:
        api = self.server.apis.get(resource, self.server.api)
        options = ListOptions(resource, query)
        items, revision, continue_token, remaining = api.list(resource, namespace, options)
        if wants_table(accept):
            body = tables.table(resource, items, revision, now=api.now(),
                                include_object=query.get("includeObject") or "Metadata")
        else:
            body = {"kind": f"{resource.kind}List", "apiVersion": resource.api_version,
                    "metadata": {"resourceVersion": revision}, "items": items}
        if continue_token:
            body["metadata"]["continue"] = continue_token
            body["metadata"]["remainingItemCount"] = remaining
        self._send_json(200, body)

    # -- watch ---------------------------------------------------------------------------------

    def _client_gone(self) -> bool:
        """Whether the client closed its end (plain sockets only: TLS cannot peek)."""
        conn = self.connection
        if isinstance(conn, ssl.SSLSocket):
            return False
        try:
            readable, _, _ = select.select([conn], [], [], 0)
            if readable:
                return conn.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True
        return False

    def _write_chunk(self, data: bytes) -> None:
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        except (OSError, ValueError):
            raise _ClientGone() from None

    def _watch(self, resource: ResourceType, namespace: Optional[str], query: Dict[str, str],
               accept: str) -> None:
        api = self.server.apis.get(resource, self.server.api)
        options = ListOptions(resource, query)
        timeout_text = query.get("timeoutSeconds") or ""
        if timeout_text and not timeout_text.isdigit():
            raise status.bad_request(f"invalid timeoutSeconds {timeout_text!r}")
        timeout = float(timeout_text) if timeout_text else 1800.0
        as_table = wants_table(accept)
        include_object = query.get("includeObject") or "Metadata"
        events = api.watch(resource, namespace, options, timeout=timeout,
                           bookmarks=query.get("allowWatchBookmarks") in ("true", "1"),
                           initial_events=query.get("sendInitialEvents") in ("true", "1"),
                           stop=self.server.closing, clock=time.monotonic)
        # the first event is computed before the headers go out, so that a bad request
        # (e.g. an invalid resourceVersion) still gets a proper error status
        if not self.server.watch_started():
            events.close()  # type: ignore[attr-defined]  # a generator
            raise too_many_requests(
                "Too many requests, please try again later: the server's limit of concurrent "
                f"watches ({self.server.limits.max_watches}) is reached")
        try:
            self._stream(resource, events, as_table, include_object)
        finally:
            self.server.watch_ended()

    def _stream(self, resource: ResourceType, events: Any, as_table: bool,
                include_object: str) -> None:
        api = self.server.apis.get(resource, self.server.api)
        first = next(events, None)
        self.send_response(200)
        self.send_header("Content-Type", JSON)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        # the headers leave now, not with the first event: a client (kubectl wait, get -w) only
        # starts its own timers once the response has begun
        self.wfile.flush()
        self.close_connection = True  # a watch ends with its connection, as kube-apiserver does
        if self.command == "HEAD":  # the headers are the whole answer
            events.close()
            return
        pending = [first] if first is not None else []
        try:
            while True:
                if pending:
                    event = pending.pop()
                else:
                    event = next(events, None)
                    if event is None:
                        break
                kind, obj = event
                if not kind:
                    if self._client_gone():
                        return
                    continue
                if as_table and kind in ("ADDED", "MODIFIED", "DELETED"):
                    obj = tables.table(resource, [obj], obj["metadata"].get("resourceVersion", ""),
                                       now=api.now(), include_object=include_object)
                self._write_chunk(_dumps({"type": kind, "object": obj}) + b"\n")
            self._write_chunk(b"")  # the terminating zero-length chunk
        finally:
            events.close()
