"""Damage containment on a real etcd (docs/stores.md): values that are not JSON objects under the
prefix are skipped and named like SQLite's; a write whose answer is lost is resolved by reading
etcd back (applied, not applied, or unknown), through a fault-injecting proxy between the store
and etcd."""
from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import threading
import types
import urllib.request
from pathlib import Path
from typing import Any, Callable, List, Optional

import pytest

from fastcidr.errors import StoreError
from fastcidr.k8s.cluster import Cluster
from fastcidr.store import Create, Put
from fastcidr.store.base import UnknownOutcomeError, UnreadableRecordError
from fastcidr.store.etcd import EtcdStore
from tests.serve_process import serve_env
from tests.servers import EtcdServer

pytestmark = pytest.mark.etcd


def raw_put(server: EtcdServer, key: str, value: bytes) -> None:
    """Write bytes under ``key`` with plain HTTP, behind the store's back."""
    body = json.dumps({"key": base64.b64encode(key.encode()).decode(),
                       "value": base64.b64encode(value).decode()}).encode()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(urllib.request.Request(server.endpoints[0] + "/v3/kv/put", data=body), timeout=5) as r:
        assert r.status == 200


def test_unreadable_etcd_values(backend: types.ModuleType, etcd_server: EtcdServer, etcd_prefix: str,
                                tmp_path: Path) -> None:
    url = etcd_server.url(etcd_prefix)
    with Cluster("10.96.0.0/24", store=url) as cluster:
        for name in ("api", "web", "zeta"):
            cluster.create_service(name, ports=[{"port": 80}])
        raw_put(etcd_server, f"{etcd_prefix}/services/default/web", b"{not json")
        raw_put(etcd_server, f"{etcd_prefix}/services/default/odd", b"\xff\xfe")
        raw_put(etcd_server, f"{etcd_prefix}/ipaddresses/10.96.0.200", b"[]")
        # this Cluster sees the damage through the change log: its index and listings go on
        assert [s.name for s in cluster.list_services()] == ["api", "kubernetes", "zeta"]
        assert cluster.create_service("more", ports=[{"port": 80}]).cluster_ip
    with Cluster(store=url) as cluster:  # and a new one starts on it
        assert [s.name for s in cluster.list_services()] == ["api", "kubernetes", "more", "zeta"]
        with pytest.raises(UnreadableRecordError, match="services/default/web: value is not valid JSON"):
            cluster.get_service("web")
        with pytest.raises(UnreadableRecordError, match="services/default/odd: value is not valid UTF-8"):
            cluster.get_service("odd")
        assert cluster.get_service("api").name == "api"
        assert len(cluster.list_ip_addresses()) == 5  # the damaged one left out, its address taken
    with EtcdStore(etcd_server.endpoints, etcd_prefix) as store:
        assert [(k, key) for k, key, _ in store.unreadable()] == [
            ("ipaddresses", "10.96.0.200"), ("services", "default/odd"), ("services", "default/web")]

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "fastcidr", "--store", url, *args], cwd=tmp_path,
                              env=serve_env(), capture_output=True, text=True, timeout=120)

    r = cli("get", "svc")
    assert r.returncode == 0 and len([x for x in r.stderr.splitlines() if x.startswith("warning: ")]) == 2
    r = cli("store", "inspect")
    assert [line.split()[0] for line in r.stdout.splitlines()[1:]] == [
        "ipaddresses/10.96.0.200", "services/default/odd", "services/default/web"], r.stderr
    for location in ("services/default/web", "services/default/odd", "ipaddresses/10.96.0.200"):
        r = cli("store", "remove", location)
        assert r.returncode == 0, r.stderr
    r = cli("store", "inspect")
    assert (r.returncode, r.stdout) == (0, "")
    r = cli("get", "svc")
    assert r.returncode == 0 and "warning" not in r.stderr


class FaultyProxy:
    """A TCP relay in front of one etcd member that can lose the answers of kv/txn requests.

    ``mode``: "pass" relays everything; "drop" forwards a txn, waits for etcd's answer (so etcd
    has decided it) and cuts the connection instead of relaying it; "drop-once" does so for the
    first txn only; "swallow" cuts the connection before the txn reaches etcd; "dark" is "drop"
    after which every connection is cut and refused (etcd unreachable). ``on_drop`` runs once
    etcd's answer to a dropped txn is in."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.rpartition("//")[2].partition(":")
        self.upstream = (host, int(port))
        self.mode = "pass"
        self.dropped = 0
        self.swallowed = 0
        self.dark = False
        self.on_drop: Optional[Callable[[], None]] = None
        self._sockets: List[socket.socket] = []
        self._lock = threading.Lock()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.dark:
                client.close()
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _cut(self, *socks: socket.socket) -> None:
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return
        with self._lock:
            self._sockets += [client, upstream]
        doomed = threading.Event()

        def down() -> None:  # etcd -> client
            try:
                while True:
                    data = upstream.recv(65536)
                    if not data:
                        break
                    if doomed.is_set():
                        # etcd has answered (it applied the txn or refused it): the client never hears
                        if self.on_drop is not None:
                            self.on_drop()
                        if self.mode == "dark":
                            self.go_dark()
                        break
                    client.sendall(data)
            except OSError:
                pass
            self._cut(client, upstream)

        threading.Thread(target=down, daemon=True).start()
        try:
            while True:  # client -> etcd
                data = client.recv(65536)
                if not data:
                    break
                if b"/v3/kv/txn" in data and self.mode != "pass":
                    if self.mode == "swallow":
                        self.swallowed += 1
                        break
                    if self.mode == "drop-once":
                        self.mode = "pass"
                    self.dropped += 1
                    doomed.set()
                upstream.sendall(data)
        except OSError:
            pass
        if not doomed.is_set():
            self._cut(client, upstream)

    def go_dark(self) -> None:
        self.dark = True
        with self._lock:
            socks, self._sockets = self._sockets, []
        self._cut(*socks)

    def close(self) -> None:
        self.go_dark()
        self.listener.close()


@pytest.fixture
def proxy(etcd_server: EtcdServer) -> Any:
    p = FaultyProxy(etcd_server.endpoints[0])
    yield p
    p.close()


def test_a_write_whose_answer_is_lost_is_applied(proxy: FaultyProxy, etcd_server: EtcdServer,
                                                 etcd_prefix: str) -> None:
    with EtcdStore([proxy.endpoint], etcd_prefix, timeout=2) as store, \
            EtcdStore(etcd_server.endpoints, etcd_prefix) as direct:
        proxy.mode = "drop"  # every answer to a txn is lost, retries' too
        rev = store.commit([Create("services", "default/web", {"v": 1})])
        assert proxy.dropped >= 2  # the write, and retries whose conditions then failed
        rec = direct.get("services", "default/web")
        assert rec is not None and rec.value == {"v": 1} and rec.revision == rev
        # someone else writes before the answer is looked for: etcd's history still tells
        proxy.dropped = 0
        def someone_else_writes() -> None:
            if proxy.dropped == 1:
                direct.commit([Put("meta", "other", {"by": "someone"})])

        proxy.on_drop = someone_else_writes
        rev = store.commit([Create("services", "default/api", {"v": 2})])
        rec = direct.get("services", "default/api")
        assert rec is not None and rec.revision == rev
        assert direct.current_revision() > rev  # the other write came after
        proxy.on_drop = None
        # an unconditional write whose first answer is lost: the retry's own revision
        proxy.mode = "drop-once"
        rev = store.commit([Put("services", "default/web", {"v": 3})])
        assert direct.get("services", "default/web").revision == rev  # type: ignore[union-attr]


def test_a_write_that_never_reached_etcd_is_reported_not_applied(
        proxy: FaultyProxy, etcd_server: EtcdServer, etcd_prefix: str) -> None:
    with EtcdStore([proxy.endpoint], etcd_prefix, timeout=2) as store, \
            EtcdStore(etcd_server.endpoints, etcd_prefix) as direct:
        before = direct.current_revision()
        proxy.mode = "swallow"
        with pytest.raises(StoreError) as info:
            store.commit([Create("services", "default/web", {"v": 1})])
        assert not isinstance(info.value, UnknownOutcomeError)
        assert "not applied" in str(info.value) and "nothing was written" in str(info.value)
        assert proxy.swallowed >= 1
        assert direct.get("services", "default/web") is None
        assert direct.current_revision() == before


def test_a_write_whose_outcome_cannot_be_learned_is_unknown(
        proxy: FaultyProxy, etcd_server: EtcdServer, etcd_prefix: str) -> None:
    with EtcdStore([proxy.endpoint], etcd_prefix, timeout=1.5) as store, \
            EtcdStore(etcd_server.endpoints, etcd_prefix) as direct:
        proxy.mode = "dark"  # the answer is lost, then etcd is unreachable
        with pytest.raises(UnknownOutcomeError) as info:
            store.commit([Create("services", "default/web", {"v": 1})])
        assert "outcome unknown" in str(info.value) and "may or may not have been applied" in str(info.value)
        assert info.value.code == 504
        # it was applied: "unknown", not "failed", was the truth
        assert direct.get("services", "default/web").value == {"v": 1}  # type: ignore[union-attr]


def test_unreachable_etcd_is_said_in_words() -> None:
    from tests.servers import free_port

    port = free_port()
    with pytest.raises(StoreError) as info:
        EtcdStore([f"127.0.0.1:{port}"], "/x", timeout=1)
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message and "connection refused" in message
    for python in ("Error(", "HTTPConnectionPool", "urllib3", "object at 0x", "Caused by"):
        assert python not in message, message
