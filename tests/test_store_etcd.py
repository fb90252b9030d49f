"""EtcdStore beyond the shared conformance suite, against a real etcd member: key layout, limits,
unreachable endpoints, failover, proxies, retried writes, several processes."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List

import pytest

from fastcidr.errors import StoreError
from fastcidr.store import Create, Delete, Put, Require, TxnConflict, open_store
from fastcidr.store import etcd as etcd_module
from fastcidr.store.etcd import EtcdStore
from tests.servers import EtcdServer, free_port

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.etcd


def raw_keys(server: EtcdServer, prefix: str) -> Dict[str, Any]:
    """Every key under ``prefix`` read with plain HTTP (not through the store)."""
    def b64(s: str) -> str:
        return base64.b64encode(s.encode()).decode()

    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    body = json.dumps({"key": b64(prefix), "range_end": b64(end)}).encode()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(urllib.request.Request(server.endpoints[0] + "/v3/kv/range", data=body), timeout=5) as r:
        kvs = json.loads(r.read()).get("kvs", [])
    return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv["value"]).decode() for kv in kvs}


def test_keys_follow_the_kubernetes_registry_layout(etcd_server: EtcdServer, etcd_prefix: str) -> None:
    with EtcdStore(etcd_server.endpoints, etcd_prefix) as store:
        rev = store.commit([
            Create("servicecidrs", "kubernetes", {"spec": {"cidrs": ["10.96.0.0/12"]}}),
            Create("ipaddresses", "10.96.0.1", {"metadata": {"name": "10.96.0.1"}}),
            Create("services", "default/kubernetes", {"spec": {"clusterIP": "10.96.0.1"}}),
            Create("meta", "service-cluster-ip-range", {"value": "10.96.0.0/12"}),
        ])
        keys = raw_keys(etcd_server, etcd_prefix + "/")
        assert set(keys) == {
            f"{etcd_prefix}/servicecidrs/kubernetes",
            f"{etcd_prefix}/ipaddresses/10.96.0.1",
            f"{etcd_prefix}/services/default/kubernetes",
            f"{etcd_prefix}/meta/service-cluster-ip-range",
            f"{etcd_prefix}/revision",
        }
        assert json.loads(keys[f"{etcd_prefix}/services/default/kubernetes"]) == {
            "spec": {"clusterIP": "10.96.0.1"}}
        assert store.current_revision() == rev
        assert [r.key for r in store.list("services")[0]] == ["default/kubernetes"]


def test_prefixes_are_isolated(etcd_server: EtcdServer, etcd_prefix: str) -> None:
    with EtcdStore(etcd_server.endpoints, etcd_prefix + "/a") as a, \
            EtcdStore(etcd_server.endpoints, etcd_prefix + "/ab") as ab:
        ra = a.commit([Create("meta", "k", {"a": 1})])
        ab.commit([Create("meta", "k", {"ab": 1})])
        assert a.get("meta", "k").value == {"a": 1}  # type: ignore[union-attr]
        assert [r.value for r in a.list("meta")[0]] == [{"a": 1}]
        # another prefix's writes are not this store's changes
        assert a.current_revision() == ra
        assert a.changes_since(ra) == ([], ra)


def test_transaction_size_limit(etcd_server: EtcdServer, etcd_prefix: str) -> None:
    with EtcdStore(etcd_server.endpoints, etcd_prefix) as store:
        assert store.max_ops == 127
        store.commit([Create("ipaddresses", f"10.0.0.{i}", {}) for i in range(127)])
        with pytest.raises(ValueError, match="at most 127"):
            store.commit([Create("ipaddresses", f"10.0.1.{i}", {}) for i in range(128)])
        assert store.get("ipaddresses", "10.0.1.0") is None
        with pytest.raises(ValueError, match="twice"):
            store.commit([Create("meta", "x", {}), Delete("meta", "x")])
    # a server started with a higher --max-txn-ops would take more; this one refuses, clearly
    with open_store(etcd_server.url(etcd_prefix) + "?max_txn_ops=300&timeout=5") as store:
        assert store.max_ops == 299  # type: ignore[attr-defined]
        with pytest.raises(ValueError, match="too many operations"):
            store.commit([Create("ipaddresses", f"10.0.2.{i}", {}) for i in range(200)])
    with pytest.raises(ValueError):
        open_store(etcd_server.url(etcd_prefix) + "?timeout=soon")


def test_unreachable_endpoint_names_it(tmp_path: Path) -> None:
    port = free_port()
    started = time.monotonic()
    with pytest.raises(StoreError) as info:
        EtcdStore([f"127.0.0.1:{port}"], "/x", timeout=3)
    assert f"127.0.0.1:{port}" in str(info.value)
    with pytest.raises(StoreError) as info:
        open_store(f"etcd://127.0.0.1:{port},127.0.0.1:{free_port()}/x?timeout=3")
    assert f"127.0.0.1:{port}" in str(info.value)
    assert time.monotonic() - started < 30


def test_server_gone_while_open_raises_store_error(tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.servers import _start_members

    server = _start_members(tmp_path_factory.mktemp("etcd-gone"), 1)
    try:
        store = EtcdStore(server.endpoints, "/gone", timeout=2)
        store.commit([Create("meta", "k", {})])
    finally:
        server.members[0].kill()
    with pytest.raises(StoreError) as info:
        store.commit([Create("meta", "k2", {})])
    assert server.endpoints[0].split("//")[1] in str(info.value)
    with pytest.raises(StoreError):
        store.get("meta", "k")
    store.close()


def test_failover_to_a_live_endpoint(etcd_server: EtcdServer, etcd_prefix: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with EtcdStore([dead] + etcd_server.endpoints, etcd_prefix) as store:
        rev = store.commit([Create("meta", "k", {"v": 1})])
        assert store.get("meta", "k").revision == rev  # type: ignore[union-attr]
        assert store.endpoints[store._preferred] == etcd_server.endpoints[0]


def test_loopback_ignores_proxy_environment(etcd_server: EtcdServer, etcd_prefix: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with open_store(etcd_server.url(etcd_prefix)) as store:
        rev = store.commit([Create("meta", "k", {})])
        assert store.changes_since(rev - 1)[1] == rev


def test_endpoint_and_url_forms(etcd_server: EtcdServer, etcd_prefix: str) -> None:
    port = etcd_server.members[0].client_port
    with EtcdStore(f"127.0.0.1:{port}", etcd_prefix + "/") as store:
        assert store.endpoints == [f"http://127.0.0.1:{port}"]
        assert store.prefix == etcd_prefix
        assert store.url == f"etcd://127.0.0.1:{port}{etcd_prefix}"
    with pytest.raises(ValueError):
        EtcdStore([], "/x")
    with pytest.raises(ValueError):
        EtcdStore([f"127.0.0.1:{port}"], "/")
    with pytest.raises(ValueError):
        EtcdStore([f"ftp://127.0.0.1:{port}"], "/x")


def test_a_retried_write_that_already_landed_counts_as_done(
        etcd_server: EtcdServer, etcd_prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first attempt is applied but its answer is lost; the retry finds this writer's values."""
    with EtcdStore(etcd_server.endpoints * 2, etcd_prefix) as store:
        real = EtcdStore._post_once
        calls: List[str] = []

        def lossy(self: EtcdStore, index: int, path: str, payload: Dict[str, Any], stream: bool = False) -> Any:
            result = real(self, index, path, payload, stream)
            if path == "kv/txn" and not calls:
                calls.append(path)
                raise etcd_module._Unavailable("answer lost", True)
            return result

        monkeypatch.setattr(EtcdStore, "_post_once", lossy)
        rev = store.commit([Create("ipaddresses", "10.0.0.1", {"owner": "me"}),
                            Create("services", "default/a", {"ip": "10.0.0.1"})])
        assert calls == ["kv/txn"]
        rec = store.get("ipaddresses", "10.0.0.1")
        assert rec is not None and rec.revision == rev
        # but a conflict with someone else's value is still a conflict
        calls.clear()
        other = store.commit([Put("meta", "x", {"by": "other"})])
        calls.clear()
        with pytest.raises(TxnConflict) as info:
            store.commit([Create("meta", "x", {"by": "me"})])
        assert info.value.actual_revision == other


def test_require_only_commit(etcd_server: EtcdServer, etcd_prefix: str) -> None:
    with EtcdStore(etcd_server.endpoints, etcd_prefix) as store:
        assert store.commit([Require("meta", "nothing", None)]) == 0
        rev = store.commit([Create("meta", "k", {})])
        assert store.commit([Require("meta", "k", rev)]) == rev


CAS_WRITER = textwrap.dedent("""
    import json, sys
    from fastcidr.store import Create, Put, TxnConflict, open_store
    url, proc, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = open_store(url)
    revisions = []
    for i in range(n):
        while True:
            rec = store.get("meta", "counter")
            ops = [Create("ipaddresses", f"p{proc}-{i}", {"p": proc})]
            if rec is None:
                ops.append(Create("meta", "counter", {"n": 1}))
            else:
                ops.append(Put("meta", "counter", {"n": rec.value["n"] + 1}, expect=rec.revision))
            try:
                revisions.append(store.commit(ops))
                break
            except TxnConflict:
                continue
    print(json.dumps(revisions))
""")


def python_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    env.setdefault("FASTCIDR_PURE", "1")
    return env


def test_two_processes_compare_and_swap(etcd_server: EtcdServer, etcd_prefix: str) -> None:
    url = etcd_server.url(etcd_prefix)
    n = 40
    procs = [subprocess.Popen([sys.executable, "-c", CAS_WRITER, url, str(p), str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=python_env())
             for p in range(2)]
    revisions: List[int] = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
        revisions.extend(json.loads(out))
    assert len(set(revisions)) == len(revisions) == 2 * n
    with open_store(url) as store:
        assert store.get("meta", "counter").value == {"n": 2 * n}  # type: ignore[union-attr]
        assert len(store.list("ipaddresses")[0]) == 2 * n
        changes, current = store.changes_since(min(revisions) - 1)
        assert current == max(revisions)
        assert sorted(c.revision for c in changes if c.kind == "meta") == sorted(revisions)


def test_tls_with_client_certificates(etcd_tls_server: Any) -> None:
    from urllib.parse import quote

    server, tls = etcd_tls_server
    endpoint = server.endpoints[0]
    assert endpoint.startswith("https://")
    with EtcdStore([endpoint], "/tls", ca_cert=tls.ca, cert_cert=tls.client_cert, cert_key=tls.client_key) as store:
        rev = store.commit([Create("meta", "k", {"tls": True})])
        assert store.get("meta", "k").value == {"tls": True}  # type: ignore[union-attr]
        assert store.changes_since(rev - 1)[0][0].key == "k"
    hostport = endpoint.split("//")[1]
    url = (f"etcds://{hostport}/tls?ca_cert={quote(tls.ca)}&cert_cert={quote(tls.client_cert)}"
           f"&cert_key={quote(tls.client_key)}")
    with open_store(url) as store:
        assert store.get("meta", "k").value == {"tls": True}  # type: ignore[union-attr]
    # without a client certificate the server refuses: a StoreError naming the endpoint
    with pytest.raises(StoreError) as info:
        EtcdStore([endpoint], "/tls", ca_cert=tls.ca, timeout=2)
    assert hostport in str(info.value)
    # a CA that did not sign the server's certificate: refused too
    with pytest.raises(StoreError):
        EtcdStore([endpoint], "/tls", ca_cert=tls.client_cert, cert_cert=tls.client_cert,
                  cert_key=tls.client_key, timeout=2)


def test_a_new_handle_replays_history(etcd_server: EtcdServer, etcd_prefix: str) -> None:
    """A reader that opens after the writes gets them from etcd's history (not its own watch)."""
    with EtcdStore(etcd_server.endpoints, etcd_prefix) as writer:
        r1 = writer.commit([Create("meta", "a", {"v": 1}), Create("meta", "b", {})])
        r2 = writer.commit([Put("meta", "a", {"v": 2}, expect=r1), Delete("meta", "b")])
    with EtcdStore(etcd_server.endpoints, etcd_prefix) as reader:
        changes, current = reader.changes_since(r1 - 1)
        assert current == r2
        assert [(c.type, c.key, c.value, c.revision, c.created) for c in changes] == [
            ("PUT", "a", {"v": 1}, r1, True), ("PUT", "b", {}, r1, True),
            ("PUT", "a", {"v": 2}, r2, False), ("DELETE", "b", {}, r2, False),
        ]


def test_missing_etcd_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests import servers

    monkeypatch.setattr(servers.shutil, "which", lambda name: None)
    monkeypatch.setattr(servers.os.path, "exists", lambda path: False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="etcd is not installed"):
        servers._etcd_binary()
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        servers._etcd_binary()


def test_foreign_values_under_the_prefix(etcd_server: EtcdServer, etcd_prefix: str) -> None:
    """Something that is not JSON under the prefix: a StoreError naming it when read as a record,
    left out of listings, and a change without a value in the change feed (docs/stores.md)."""
    import etcd3gw

    with EtcdStore(etcd_server.endpoints, etcd_prefix) as store:
        before = store.current_revision()
        raw = etcd3gw.client(host="127.0.0.1", port=etcd_server.members[0].client_port)
        raw.session.trust_env = False
        raw.put(f"{etcd_prefix}/meta/garbage", b"\xff\xfe not json")
        rev = store.commit([Create("meta", "fine", {"ok": True})])
        with pytest.raises(StoreError, match="unreadable record meta/garbage: value is not valid UTF-8"):
            store.get("meta", "garbage")
        assert [r.key for r in store.list("meta")[0]] == ["fine"]
        changes, current = store.changes_since(before)
        assert current == rev and [(c.key, c.value) for c in changes] == [("garbage", None), ("fine", {"ok": True})]
        raw.session.close()


def test_a_forked_child_uses_its_own_connections(etcd_server: EtcdServer, etcd_prefix: str) -> None:
    import multiprocessing
    import warnings

    store = EtcdStore(etcd_server.endpoints, etcd_prefix)
    base = store.commit([Create("meta", "parent", {})])
    store.changes_since(0)  # the watch thread and a pooled connection exist before the fork
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()

    def child() -> None:
        revs = [store.commit([Create("meta", f"child-{i}", {})]) for i in range(20)]
        changes, _ = store.changes_since(base)
        queue.put((revs, sorted(c.key for c in changes)))

    proc = ctx.Process(target=child)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads, Python >= 3.12
        proc.start()
    parent_revs = [store.commit([Create("meta", f"parent-{i}", {})]) for i in range(20)]
    child_revs, child_saw = queue.get(timeout=60)
    proc.join(60)
    assert proc.exitcode == 0
    assert len(set(parent_revs + child_revs)) == 40
    assert {f"child-{i}" for i in range(20)} <= set(child_saw)
    changes, _ = store.changes_since(base)
    assert {c.key for c in changes} == {f"child-{i}" for i in range(20)} | {f"parent-{i}" for i in range(20)}
    store.close()
    queue.close()
    queue.join_thread()


def test_a_new_prefix_has_a_complete_history_even_after_compaction(
        etcd_server: EtcdServer, etcd_prefix: str) -> None:
    with EtcdStore(etcd_server.endpoints, etcd_prefix + "/old") as other:
        other.commit([Create("meta", "x", {})])
        other.compact()  # etcd forgets everything so far (for every prefix)
    with EtcdStore(etcd_server.endpoints, etcd_prefix + "/new") as store:
        rev = store.commit([Create("meta", "k", {})])
        changes, current = store.changes_since(0)  # nothing happened here before: no Compacted
        assert current == rev and [c.key for c in changes] == ["k"]
