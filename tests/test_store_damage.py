"""Damage containment (docs/stores.md): one unreadable record leaves every other object readable,
is named when asked for, and is found and removed with ``fastcidr store inspect|remove``; a
read-only SQLite store serves reads and says "read-only" for writes. SQLite records are damaged
directly with the ``sqlite3`` module; the command line and the server run as subprocesses."""
from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import types
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from fastcidr.errors import StoreError
from fastcidr.k8s.cluster import Cluster
from fastcidr.k8s.view import StoreView
from fastcidr.store import Put, open_store
from fastcidr.store.base import LOGGER_NAME, ReadOnlyStoreError, UnreadableRecordError
from fastcidr.store.memory import MemoryStore
from fastcidr.store.sqlite import SQLiteStore
from tests.serve_process import ServeProcess, serve_env

SERVICES = "/api/v1/namespaces/default/services"

# (what the damaged row holds, as SQL, and the words its reason must contain)
DAMAGE = {
    "not-json": ("'{\"metadata\": {'", "not valid JSON"),
    "bad-utf8": ("CAST(x'7b226d65746164617461223a22ff227d' AS TEXT)", "not valid UTF-8"),
    "blob": ("x'00ff10'", "not valid UTF-8"),
    "array": ("'[1, 2, 3]'", "an array, not a JSON object"),
    "number": ("'42'", "a number, not a JSON object"),
    "metadata-not-object": ("'{\"metadata\": \"web\", \"spec\": {}}'", "metadata is not an object"),
    "wrong-shape": ("'{\"metadata\": {\"name\": \"web\", \"creationTimestamp\": \"yesterday\"}}'",
                    "not a valid Service"),
}


def damage(path: Path, kind: str, key: str, sql_value: str) -> None:
    """Overwrite one record's value behind the store's back (as another program, a bad disk or
    a hand edit would)."""
    con = sqlite3.connect(path)
    try:
        changed = con.execute(
            f"UPDATE fastcidr_records SET value = {sql_value} WHERE kind = ? AND key = ?", (kind, key)
        ).rowcount
        con.commit()
    finally:
        con.close()
    assert changed == 1, (kind, key)


def three_services(path: Path) -> None:
    with Cluster("10.96.0.0/24", store=str(path)) as cluster:
        for name in ("api", "web", "zeta"):
            cluster.create_service(name, ports=[{"port": 80}])


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fastcidr", *args], cwd=cwd, env=serve_env(),
                          capture_output=True, text=True, timeout=120)


# -- the library ---------------------------------------------------------------------------------


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_an_unreadable_sqlite_record_is_skipped_and_named(
        backend: types.ModuleType, tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "state.db"
    three_services(path)
    sql_value, words = DAMAGE[how]
    damage(path, "services", "default/web", sql_value)
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)
    # start-up (index rebuild and repair) survives it, and changes nothing about it
    with Cluster(store=str(path)) as cluster:
        names = [s.name for s in cluster.list_services()]
        assert names == ["api", "kubernetes", "zeta"]
        assert [s.name for s in cluster.list("services")] == names
        with pytest.raises(UnreadableRecordError) as info:
            cluster.get_service("web")
        assert isinstance(info.value, StoreError)
        assert info.value.location == "services/default/web"
        assert "services/default/web" in str(info.value) and words in str(info.value)
        assert "Error" not in str(info.value)  # no Python exception names
        assert cluster.get_service("api").name == "api"
        # the damaged Service's address stays taken: nothing new lands on it
        taken = {ip.name for ip in cluster.list_ip_addresses()}
        new = cluster.create_service("new", ports=[{"port": 80}])
        assert new.cluster_ip not in taken - {new.cluster_ip}
        assert cluster.store.unreadable_skipped >= 1
    warned = [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]
    assert warned and all(m.startswith("skipped unreadable record services/default/web: ") for m in warned)
    # repair left the damaged record where it was
    con = sqlite3.connect(path)
    assert con.execute("SELECT count(*) FROM fastcidr_records WHERE key = 'default/web'").fetchone()[0] == 1
    con.close()


@pytest.mark.parametrize("kind,key", [("servicecidrs", "kubernetes"), ("services", "default/kubernetes"),
                                      ("meta", "service-cluster-ip-range"), ("ipaddresses", "10.96.0.1")])
def test_start_up_survives_damaged_default_objects(backend: types.ModuleType, tmp_path: Path,
                                                   kind: str, key: str) -> None:
    """The objects the controllers keep (the default ServiceCIDR and Service, the recorded range)
    damaged: the Cluster starts, does not try to create them again over the damaged record, and
    everything else stays readable."""
    path = tmp_path / "state.db"
    three_services(path)
    damage(path, kind, key, DAMAGE["not-json"][0])
    for rng in (None, "10.96.0.0/24"):
        with Cluster(rng, store=str(path)) as cluster:
            assert {"api", "web", "zeta"} <= {s.name for s in cluster.list_services()}
            assert cluster.get_service("web").name == "web"
        with StoreView(str(path)) as view:
            # left as it was; only the range, given again, is written over with what was asked
            healed = rng is not None and kind == "meta"
            assert [location for location, _ in view.unreadable()] == ([] if healed else [f"{kind}/{key}"])


def test_a_damaged_address_keeps_blocking_its_service_cidr(backend: types.ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with Cluster("10.96.0.0/24", store=str(path)) as cluster:
        cluster.create_service_cidr("extra", ["10.97.0.0/24"])
        cluster.create_service("web", ports=[{"port": 80}], cluster_ip="10.97.0.10")
        cluster.delete_service_cidr("extra")  # Terminating: the address holds it
    damage(path, "ipaddresses", "10.97.0.10", DAMAGE["not-json"][0])
    with Cluster(store=str(path)) as cluster:
        cluster.reconcile()
        # nobody can tell whose address it is: the ServiceCIDR stays until it is dealt with
        assert cluster.get_service_cidr("extra").terminating
        assert cluster.blocking_ip_addresses("extra") == []  # no IPAddress to show for it
        assert cluster.get_service("web").cluster_ip == "10.97.0.10"


def test_store_level_reads_and_the_change_log(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SQLiteStore(path) as store:
        rev = store.commit([Put("services", "default/a", {"v": 1}), Put("services", "default/b", {"v": 2})])
    damage(path, "services", "default/b", DAMAGE["bad-utf8"][0])
    with SQLiteStore(path) as store:
        assert [r.key for r in store.list("services")[0]] == ["default/a"]
        assert [r.key for r in store.list_projection("services")[0]] == ["default/a"]
        assert {row[0] for row in store.list_projection_raw("services")[0]} == {"default/a", "default/b"}
        with pytest.raises(UnreadableRecordError, match="services/default/b: value is not valid UTF-8"):
            store.get("services", "default/b")
        assert store.unreadable() == [("services", "default/b", "value is not valid UTF-8 (byte 13)")]
        # the change log keeps the values as written; a damaged entry there is a change without value
        con = sqlite3.connect(path)
        con.execute("UPDATE fastcidr_changes SET value = '{' WHERE key = 'default/a'")
        con.commit()
        con.close()
        changes, _ = store.changes_since(rev - 1)
        assert [(c.key, c.value) for c in changes] == [("default/a", None), ("default/b", {"v": 2})]
        # removing it by key touches nothing else
        new_rev = store.remove_record("services", "default/b")
        assert new_rev == rev + 1 and store.unreadable() == []
        assert [r.key for r in store.list("services")[0]] == ["default/a"]
        assert store.changes_since(rev)[0][0].type == "DELETE"


def test_memory_store_values_of_the_wrong_shape(backend: types.ModuleType,
                                                caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryStore()
    with Cluster("10.96.0.0/24", store=store) as cluster:
        cluster.create_service("web", ports=[{"port": 80}])
        cluster.create_service("api", ports=[{"port": 80}])
        store.commit([Put("services", "default/web", {"spec": {"clusterIPs": 5}})])
        store.commit([Put("services", "default/odd", [1, 2])])  # type: ignore[arg-type]
        caplog.set_level(logging.WARNING, logger=LOGGER_NAME)
        assert [s.name for s in cluster.list_services()] == ["api", "kubernetes"]
        with pytest.raises(UnreadableRecordError, match="services/default/web: not a valid Service"):
            cluster.get_service("web")
        with pytest.raises(UnreadableRecordError, match="services/default/odd"):
            cluster.get_service("odd")
        view = StoreView(store)
        assert [s.name for s in view.list_services()] == ["api", "kubernetes"]
        assert [loc for loc, _ in view.unreadable()] == ["services/default/odd", "services/default/web"]
    with Cluster(store=store) as again:  # a new Cluster starts on it
        assert [s.name for s in again.list_services()] == ["api", "kubernetes"]


def test_repair_keeps_the_node_ports_of_a_damaged_service(backend: types.ModuleType) -> None:
    """A NodePort Service whose record is damaged: its ports are unknown, so the node-port repair
    at the next start-up must not take its port records for leaks (nor crash on the record)."""
    store = MemoryStore()
    with Cluster("10.96.0.0/24", store=store) as cluster:
        svc = cluster.create_service("web", ports=[{"port": 80}], service_type="NodePort")
        (port,) = [p["nodePort"] for p in svc.to_dict()["spec"]["ports"]]
        store.commit([Put("services", "default/web",
                          {"spec": {"type": "NodePort", "clusterIPs": 5}})])
    with Cluster(store=store) as again:
        assert [s.name for s in again.list_services()] == ["kubernetes"]
        records, _ = store.list("meta")
        assert f"nodeports/{port}" in {r.key for r in records}
        with pytest.raises(Exception, match="provided port is already allocated"):
            again.create_service("other", ports=[{"port": 80, "nodePort": port}],
                                 service_type="NodePort")


# -- the command line and the server, as subprocesses --------------------------------------------


def test_cli_get_inspect_and_remove(tmp_path: Path) -> None:
    three_services(tmp_path / "state.db")
    damage(tmp_path / "state.db", "services", "default/web", DAMAGE["not-json"][0])
    store = ["--store", "state.db"]  # relative: error texts name it so, never absolutely

    r = cli(*store, "get", "svc", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [line.split()[0] for line in r.stdout.splitlines()[1:]] == ["api", "kubernetes", "zeta"]
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and warnings[0].startswith(
        "warning: skipped unreadable record services/default/web: value is not valid JSON"), r.stderr
    assert "Traceback" not in r.stderr

    r = cli(*store, "get", "svc", "web", cwd=tmp_path)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.splitlines() == [r.stderr.strip()]  # one line
    assert r.stderr.startswith("error: unreadable record services/default/web: ")
    assert str(tmp_path) not in r.stderr and "JSONDecodeError" not in r.stderr

    r = cli(*store, "get", "svc", "api", "-o", "name", cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, "service/api\n")

    r = cli(*store, "store", "inspect", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].split() == ["RECORD", "REASON"]
    assert [line.split()[0] for line in r.stdout.splitlines()[1:]] == ["services/default/web"]
    assert "warning" not in r.stderr

    r = cli(*store, "store", "remove", "services/default/api", cwd=tmp_path)
    assert r.returncode == 1 and "reads fine" in r.stderr and len(r.stderr.splitlines()) == 1
    r = cli(*store, "store", "remove", "services/default/nothing", cwd=tmp_path)
    assert r.returncode == 1 and "no record services/default/nothing" in r.stderr
    r = cli(*store, "store", "remove", "services/default/web", cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, "record services/default/web removed\n"), r.stderr

    r = cli(*store, "store", "inspect", cwd=tmp_path)
    assert (r.returncode, r.stdout, r.stderr.strip()) == (0, "", "No unreadable records")
    r = cli(*store, "get", "svc", cwd=tmp_path)
    assert r.returncode == 0 and "warning" not in r.stderr
    # --force removes a record that reads fine, as it is
    r = cli(*store, "store", "remove", "--force", "services/default/zeta", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "zeta" not in cli(*store, "get", "svc", cwd=tmp_path).stdout


def test_server_lists_the_rest_and_names_the_damaged_one(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    three_services(path)
    damage(path, "services", "default/web", DAMAGE["not-json"][0])
    damage(path, "ipaddresses", sorted(_ip_keys(path))[-1], DAMAGE["array"][0])
    server = ServeProcess(tmp_path, "--store", str(path), cidr="10.96.0.0/24")
    try:
        code, _, body = server.request("GET", SERVICES)
        assert code == 200, body
        assert [i["metadata"]["name"] for i in body["items"]] == ["api", "kubernetes", "zeta"]
        code, _, body = server.request("GET", "/apis/networking.k8s.io/v1/ipaddresses")
        assert code == 200 and len(body["items"]) == 3
        damage(path, "services", "default/zeta", DAMAGE["metadata-not-object"][0])
        code, _, body = server.request("GET", SERVICES, headers={
            "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})  # as kubectl asks
        assert code == 200 and [row["cells"][0] for row in body["rows"]] == ["api", "kubernetes"]
        code, _, body = server.request("GET", "/api/v1/namespaces")
        assert code == 200 and "default" in [i["metadata"]["name"] for i in body["items"]]
        # kube-apiserver answers a corrupt object with 500 InternalError naming its key
        code, _, body = server.request("GET", f"{SERVICES}/web")
        assert code == 500 and body["kind"] == "Status" and body["reason"] == "InternalError"
        assert "unreadable record services/default/web" in body["message"]
        assert str(tmp_path) not in body["message"]
        code, _, body = server.request("GET", f"{SERVICES}/api")
        assert code == 200 and body["metadata"]["name"] == "api"
        # writes elsewhere go on
        code, _, body = server.request("POST", SERVICES, {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "more"},
            "spec": {"ports": [{"port": 80}]}})
        assert code == 201, body
        assert server.alive
    finally:
        err = server.stop()
    assert "Traceback" not in err


def _ip_keys(path: Path) -> List[str]:
    con = sqlite3.connect(path)
    try:
        return [row[0] for row in con.execute(
            "SELECT key FROM fastcidr_records WHERE kind = 'ipaddresses' AND key != '10.96.0.1'")]
    finally:
        con.close()


# -- read-only stores ----------------------------------------------------------------------------


def test_a_read_only_open_reads_and_refuses_writes(backend: types.ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    three_services(path)
    before = path.read_bytes()
    url = f"sqlite:///{path}?mode=ro"
    with open_store(url) as store:
        assert store.read_only
        assert len(store.list("services")[0]) == 4
        with pytest.raises(ReadOnlyStoreError) as info:
            store.commit([Put("meta", "x", {})])
        assert str(info.value).startswith("store is read-only: ")
        assert "not a fastcidr database" not in str(info.value)
    with Cluster(store=url) as cluster:  # a Cluster starts on it and serves reads
        assert cluster.get_service("web").name == "web"
        with pytest.raises(ReadOnlyStoreError, match="read-only"):
            cluster.create_service("new", ports=[{"port": 80}])
        assert [s.name for s in cluster.list_services()] == ["api", "kubernetes", "web", "zeta"]
    with pytest.raises(ReadOnlyStoreError):  # a range it cannot record is an error, not ignored
        Cluster("10.97.0.0/24", store=url)
    with Cluster("10.96.0.0/24", store=url) as cluster:  # the range it holds is fine
        assert cluster.service_cluster_ip_range == ["10.96.0.0/24"]
    assert path.read_bytes() == before
    with pytest.raises(StoreError, match="no fastcidr store at"):
        open_store(f"sqlite:///{tmp_path}/absent.db?mode=ro")
    assert not (tmp_path / "absent.db").exists()


def test_a_store_this_process_may_not_write_opens_read_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The automatic path: a file or directory not writable for this process (os.access; the
    test may run as root, for whom chmod does not bind, so the check is what is patched)."""
    path = tmp_path / "state.db"
    three_services(path)
    real_access = os.access

    def access(target: Any, mode: int, *args: Any, **kwargs: Any) -> bool:
        if mode & os.W_OK and os.fspath(target) in (str(path), str(tmp_path)):
            return False
        return real_access(target, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    with open_store(str(path)) as store:
        assert store.read_only
        with pytest.raises(ReadOnlyStoreError, match="not writable"):
            store.remove_record("services", "default/web")
    with StoreView(str(path)) as view:
        assert view.get_service("web").name == "web"


def test_a_read_only_directory_and_file(tmp_path: Path) -> None:
    """chmod: a file and directory nobody may write. (Permissions do not stop the superuser, but
    a store nobody may write opens read-only for the superuser too.)"""
    folder = tmp_path / "ro"
    folder.mkdir()
    three_services(folder / "state.db")
    before = (folder / "state.db").read_bytes()
    os.chmod(folder / "state.db", 0o444)
    os.chmod(folder, 0o555)
    try:
        r = cli("--store", "ro/state.db", "get", "svc", "web", "-o", "name", cwd=tmp_path)
        assert (r.returncode, r.stdout) == (0, "service/web\n"), r.stderr
        r = cli("--store", "ro/state.db", "create", "service", "clusterip", "new", "--tcp", "80", cwd=tmp_path)
        assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
        assert "store is read-only: ro/state.db (the file or its directory is not writable)" in r.stderr
        assert "not a fastcidr database" not in r.stderr and str(tmp_path) not in r.stderr
        assert (folder / "state.db").read_bytes() == before
    finally:
        os.chmod(folder, 0o755)
        os.chmod(folder / "state.db", 0o644)


def test_cli_and_server_on_a_read_only_store(tmp_path: Path) -> None:
    three_services(tmp_path / "state.db")
    ro = "sqlite:///state.db?mode=ro"
    r = cli("--store", ro, "get", "svc", "web", "-o", "name", cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, "service/web\n"), r.stderr
    r = cli("--store", ro, "describe", "svc", "web", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("Name:"), r.stderr
    r = cli("--store", ro, "create", "service", "clusterip", "new", "--tcp", "80", cwd=tmp_path)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "store is read-only" in r.stderr and "not a fastcidr database" not in r.stderr
    r = cli("--store", ro, "delete", "svc", "web", cwd=tmp_path)
    assert r.returncode == 1 and "read-only" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr

    server = ServeProcess(tmp_path, "--store", f"sqlite:///{tmp_path}/state.db?mode=ro", cidr="10.96.0.0/24")
    try:
        code, _, body = server.request("GET", f"{SERVICES}/web")
        assert code == 200 and body["metadata"]["name"] == "web"
        code, _, body = server.request("GET", SERVICES)
        assert code == 200 and len(body["items"]) == 4
        code, _, body = server.request("POST", SERVICES, {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "new"},
            "spec": {"ports": [{"port": 80}]}})
        assert code == 503 and body["kind"] == "Status" and body["reason"] == "ServiceUnavailable"
        assert "read-only" in body["message"]
        code, _, body = server.request("DELETE", f"{SERVICES}/web")
        assert code == 503 and "read-only" in body["message"]
        assert server.request("GET", f"{SERVICES}/web")[0] == 200
    finally:
        server.stop()


# -- error texts ---------------------------------------------------------------------------------


def test_store_errors_name_the_store_as_typed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("junk.db").write_bytes(b"not a database at all" * 20)
    messages: List[Tuple[str, str]] = []
    for url in ("junk.db", "sqlite:///junk.db"):
        with pytest.raises(StoreError) as info:
            open_store(url)
        messages.append((url, str(info.value)))
    for url, message in messages:
        assert str(tmp_path) not in message and url in message, message
    with pytest.raises(StoreError) as missing:
        open_store("sqlite:///nothing-here.db", create=False)
    assert str(tmp_path) not in str(missing.value) and "sqlite:///nothing-here.db" in str(missing.value)


def _status_of(exc: BaseException) -> Dict[str, Any]:
    from fastcidr.k8s.status import from_exception

    return from_exception(exc, None).body


def test_statuses_of_the_store_errors() -> None:
    unreadable = _status_of(UnreadableRecordError("services", "default/web", "value is not valid JSON"))
    assert (unreadable["code"], unreadable["reason"]) == (500, "InternalError")
    assert "unreadable record services/default/web" in unreadable["message"]
    read_only = _status_of(ReadOnlyStoreError("store is read-only: state.db (opened read-only)"))
    assert (read_only["code"], read_only["reason"]) == (503, "ServiceUnavailable")
