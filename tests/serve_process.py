"""``fastcidr serve`` as a subprocess for the transport tests: the real command line, its own
process (so a crash, a file limit or a spinning accept loop cannot hide in the test process), and
a small raw-socket client for requests no well-behaved library would send.

``ServeProcess(tmp_path, *flags, pure=False, nofile=None)`` starts the server, waits for the URL it
prints and for its kubeconfig; ``.request(...)`` sends one request on a fresh connection and
returns ``(status, headers, body)``; ``.raw(bytes)`` sends bytes verbatim and returns the reply;
``.stop()`` ends it with SIGTERM (``kill`` on timeout).
"""
from __future__ import annotations

import http.client
import json
import os
import queue
import re
import resource
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import fastcidr
from fastcidr.testing import stop_child

# Where the fastcidr these tests import lives (the checkout's src/ with the core built in place,
# or site-packages when the suite runs from an unpacked sdist): the server runs the same code.
SRC = str(Path(fastcidr.__file__).resolve().parents[1])
START_TIMEOUT = 60.0


def serve_env(pure: bool = False) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("FASTCIDR_STORE", None)
    if pure:
        env["FASTCIDR_PURE"] = "1"
    else:
        env.pop("FASTCIDR_PURE", None)
    return env


def _limit_files(nofile: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    return apply


class ServeProcess:
    def __init__(self, tmp_path: Path, *flags: str, pure: bool = False,
                 nofile: Optional[int] = None, cidr: Optional[str] = "10.96.0.0/16") -> None:
        self.kubeconfig = tmp_path / f"kubeconfig-{time.monotonic_ns()}"
        # cidr=None: no --service-cluster-ip-range at all
        ranges = ["--service-cluster-ip-range", cidr] if cidr is not None else []
        args = [sys.executable, "-m", "fastcidr", "serve", "--store", "memory:", *ranges, "--port", "0",
                "--kubeconfig-out", str(self.kubeconfig), *flags]
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=serve_env(pure),
            preexec_fn=_limit_files(nofile) if nofile else None)
        lines: "queue.Queue[str]" = queue.Queue()
        assert self.proc.stdout is not None
        stdout = self.proc.stdout
        def pump() -> None:
            for line in stdout:
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        try:
            self.url = lines.get(timeout=START_TIMEOUT).strip()
        except queue.Empty:
            self.stop()
            raise AssertionError(f"fastcidr serve printed no URL: {self.stderr()}") from None
        match = re.match(r"^(https?)://(\[[^\]]+\]|[^:]+):(\d+)$", self.url)
        assert match, (self.url, self.stderr())
        self.scheme = match.group(1)
        self.host = match.group(2).strip("[]")
        self.port = int(match.group(3))
        self.token = self._token_from_kubeconfig()

    def _token_from_kubeconfig(self) -> Optional[str]:
        import yaml

        config = yaml.safe_load(self.kubeconfig.read_text())
        return (config["users"][0].get("user") or {}).get("token")

    def stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return self.proc.stderr.read()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> str:
        """SIGTERM, wait; returns stderr."""
        stop_child(self.proc)
        err = self.proc.stderr.read() if self.proc.stderr else ""
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return err

    # -- clients -------------------------------------------------------------------------------

    def connection(self, timeout: float = 20.0,
                   context: Optional[ssl.SSLContext] = None) -> http.client.HTTPConnection:
        if self.scheme == "https":
            if context is None:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=context)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method: str, path: str, body: Any = None, *,
                headers: Optional[Dict[str, str]] = None, content_type: str = "application/json",
                token: Optional[str] = None, timeout: float = 20.0) -> Tuple[int, Dict[str, str], Any]:
        """One request on a fresh connection. ``body``: bytes verbatim, else JSON-encoded.
        ``token``: a bearer token (default: the kubeconfig's, if any)."""
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        sent = {"Accept": "application/json"}
        if data is not None and content_type:
            sent["Content-Type"] = content_type
        bearer = token if token is not None else self.token
        if bearer:
            sent["Authorization"] = f"Bearer {bearer}"
        sent.update(headers or {})
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            raw = response.read()
            payload: Any = raw
            if raw[:1] in (b"{", b"["):
                payload = json.loads(raw)
            return response.status, {k.lower(): v for k, v in response.getheaders()}, payload
        finally:
            conn.close()

    def raw(self, data: bytes, timeout: float = 20.0, shutdown_write: bool = False) -> bytes:
        """Send ``data`` as is on a new plain connection; return every byte until the server
        closes (or ``timeout``)."""
        with socket.create_connection((self.host, self.port), timeout=timeout) as sock:
            try:
                sock.sendall(data)
                if shutdown_write:
                    sock.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError):
                # the server answered and closed before taking all of it (a refused body):
                # its answer is still there to read
                pass
            received = b""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    chunk = sock.recv(65536)
                except (socket.timeout, ConnectionResetError):
                    break
                if not chunk:
                    break
                received += chunk
            return received

    def state(self) -> List[Any]:
        """Every object the server holds (names and resourceVersions included), for before/after
        comparisons."""
        listing: List[Any] = []
        for path in ("/apis/networking.k8s.io/v1/servicecidrs", "/apis/networking.k8s.io/v1/ipaddresses",
                     "/api/v1/services", "/api/v1/namespaces"):
            code, _, body = self.request("GET", path)
            assert code == 200, (path, code, body)
            listing.append(body["items"])
        return listing


def parse_response(raw: bytes) -> Tuple[int, Dict[str, str], bytes]:
    """The first HTTP response in ``raw``: status, headers (lower-cased), body (by
    Content-Length; the rest when there is none)."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    match = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    assert match, raw[:200]
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    length = headers.get("content-length")
    body = rest[: int(length)] if length is not None else rest
    return int(match.group(1)), headers, body
