"""Fixtures that start real servers for the tests: throw-away etcd members on free loopback ports.

``etcd_server``: one member for the whole test session (per xdist worker); tests keep apart by using
their own key prefix (``etcd_server.url(prefix)`` or the ``etcd_prefix`` fixture).
``etcd_cluster3``: a three-member cluster for one test (members can be killed and restarted).

Where ``CI=true`` a missing ``etcd`` binary is a test failure, never a skip (``make test`` installs it
through ``scripts/install-tools.sh``).
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import pytest

ETCD_START_TIMEOUT = 30.0
_prefix_counter = itertools.count()


def _etcd_binary() -> str:
    path = shutil.which("etcd") or ("/usr/bin/etcd" if os.path.exists("/usr/bin/etcd") else None)
    if path is None:
        message = "etcd is not installed (run scripts/install-tools.sh: apt-get install etcd-server)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get_json(url: str, timeout: float = 1.0, tls: Optional[TLSFiles] = None) -> Optional[dict]:
    opener = _NO_PROXY
    if tls is not None:
        import ssl

        context = ssl.create_default_context(cafile=tls.ca)
        context.load_cert_chain(tls.client_cert, tls.client_key)
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(url, timeout=timeout) as response:
            return json.loads(response.read().decode())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


class TLSFiles:
    """A throw-away CA, a server certificate for 127.0.0.1 and a client certificate (openssl)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory
        self.ca = str(directory / "ca.pem")
        self.server_cert, self.server_key = str(directory / "server.pem"), str(directory / "server.key")
        self.client_cert, self.client_key = str(directory / "client.pem"), str(directory / "client.key")
        openssl = shutil.which("openssl")
        if openssl is None:
            pytest.fail("openssl is needed to make test certificates")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

        def run(*args: str) -> None:
            subprocess.run([openssl, *args], check=True, capture_output=True)

        run("req", "-x509", *ec, "-keyout", str(directory / "ca.key"), "-out", self.ca, "-days", "2",
            "-subj", "/CN=fastcidr test CA")
        for role, cert, key, usage in (
            ("server", self.server_cert, self.server_key, "serverAuth,clientAuth"),
            ("client", self.client_cert, self.client_key, "clientAuth"),
        ):
            ext = directory / f"{role}.ext"
            ext.write_text(f"subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage={usage}\n")
            csr = str(directory / f"{role}.csr")
            run("req", *ec, "-keyout", key, "-out", csr, "-subj", f"/CN=fastcidr-{role}")
            run("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", str(directory / "ca.key"),
                "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", str(ext))


class EtcdMember:
    """One etcd process; ``start``/``stop``/``kill`` keep its ports and data directory."""

    def __init__(self, name: str, data_dir: Path, client_port: int, peer_port: int,
                 tls: Optional[TLSFiles] = None) -> None:
        self.tls = tls
        self.name = name
        self.data_dir = data_dir
        self.client_port = client_port
        self.peer_port = peer_port
        self.process: Optional[subprocess.Popen[bytes]] = None
        self.initial_cluster = f"{name}=http://127.0.0.1:{peer_port}"
        self.cluster_state = "new"
        self.cluster_token = f"fastcidr-test-{peer_port}"  # one token shared by every member

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.client_port}"

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir.parent / f"{self.name}.log", "ab")
        cmd = [
            _etcd_binary(),
            "--name", self.name,
            "--data-dir", str(self.data_dir / "data"),
            "--listen-client-urls", self.endpoint,
            "--advertise-client-urls", self.endpoint,
            "--listen-peer-urls", f"http://127.0.0.1:{self.peer_port}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_port}",
            "--initial-cluster", self.initial_cluster,
            "--initial-cluster-state", self.cluster_state,
            "--initial-cluster-token", self.cluster_token,
            "--heartbeat-interval", "50",
            "--election-timeout", "500",
            "--logger", "zap",
            "--log-level", "warn",
        ]
        if self.tls is not None:  # clients must present a certificate signed by the test CA
            cmd += ["--cert-file", self.tls.server_cert, "--key-file", self.tls.server_key,
                    "--trusted-ca-file", self.tls.ca, "--client-cert-auth"]
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        env.pop("ETCDCTL_API", None)
        self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()

    def wait_healthy(self, timeout: float = ETCD_START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"etcd {self.name} exited with {self.process.returncode}; "
                                   f"see {self.data_dir.parent / (self.name + '.log')}")
            health = _get_json(self.endpoint + "/health", tls=self.tls)
            if health and str(health.get("health")) == "true":
                return
            time.sleep(0.05)
        raise RuntimeError(f"etcd {self.name} did not become healthy within {timeout}s")

    def kill(self) -> None:
        """SIGKILL, as a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class EtcdServer:
    """A running etcd (one or several members)."""

    def __init__(self, members: List[EtcdMember]) -> None:
        self.members = members

    @property
    def endpoints(self) -> List[str]:
        return [m.endpoint for m in self.members]

    @property
    def hostports(self) -> str:
        return ",".join(f"127.0.0.1:{m.client_port}" for m in self.members)

    def url(self, prefix: str) -> str:
        """A store URL for keys under ``prefix``."""
        return f"etcd://{self.hostports}/{prefix.strip('/')}"

    def new_prefix(self, label: str = "t") -> str:
        return f"/test-{os.getpid()}-{next(_prefix_counter)}-{label}"

    def stop(self) -> None:
        for member in self.members:
            member.stop()


def _start_members(base: Path, count: int, tls: Optional[TLSFiles] = None) -> EtcdServer:
    for attempt in range(3):
        ports = [(free_port(), free_port()) for _ in range(count)]
        members = [
            EtcdMember(f"m{i}", base / f"attempt{attempt}" / f"m{i}", client, peer, tls)
            for i, (client, peer) in enumerate(ports)
        ]
        cluster = ",".join(f"m{i}=http://127.0.0.1:{peer}" for i, (_, peer) in enumerate(ports))
        for member in members:
            member.initial_cluster = cluster
            member.cluster_token = f"fastcidr-test-{ports[0][1]}"
            member.start()
        try:
            for member in members:
                member.wait_healthy()
            for member in members:
                member.cluster_state = "existing"  # restarts rejoin the same cluster
            return EtcdServer(members)
        except RuntimeError:
            for member in members:
                member.kill()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    """One etcd member on free loopback ports for the session; stopped at the end."""
    _etcd_binary()
    server = _start_members(tmp_path_factory.mktemp("etcd1"), 1)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def etcd_prefix(etcd_server: EtcdServer, request: pytest.FixtureRequest) -> str:
    """A key prefix no other test uses."""
    return etcd_server.new_prefix(request.node.name[:20].replace("[", "-").replace("]", ""))


@pytest.fixture
def etcd_cluster3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    """Three etcd members (a real quorum) for one test; every member is stopped at the end."""
    _etcd_binary()
    server = _start_members(tmp_path_factory.mktemp("etcd3"), 3)
    try:
        yield server
    finally:
        for member in server.members:
            member.kill()


@pytest.fixture(scope="session")
def etcd_tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[EtcdServer, TLSFiles]]:
    """One etcd member serving HTTPS that requires client certificates, and the certificates."""
    _etcd_binary()
    base = tmp_path_factory.mktemp("etcd-tls")
    tls = TLSFiles(base / "pki")
    server = _start_members(base, 1, tls=tls)
    try:
        yield server, tls
    finally:
        server.stop()
