"""Start-up projections (``fastcidr.k8s.layout.project``, a store's projector / ``Store.list_projection``), the SQLite schema
version 2 that keeps them next to each value, and the SQLite JSON codec's exact round trips."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import pytest

from fastcidr.store import Create, Put
from fastcidr.k8s.layout import project
from fastcidr.store.memory import MemoryStore
from fastcidr.store.sqlite import SQLiteStore

IP_VALUE: Dict[str, Any] = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "IPAddress",
    "metadata": {
        "name": "10.0.0.5",
        "uid": "u",
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "labels": {
            "ipaddress.kubernetes.io/ip-family": "IPv4",
            "ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io",
            "other": "x",
        },
    },
    "spec": {"parentRef": {"resource": "services", "namespace": "default", "name": "a"}},
}
SVC_VALUE: Dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "a", "namespace": "default"},
    "spec": {"clusterIP": "10.0.0.5", "clusterIPs": ["10.0.0.5"], "type": "ClusterIP", "ports": []},
}


def test_project_keeps_exactly_what_start_up_reads() -> None:
    assert project("ipaddresses", IP_VALUE) == {
        "metadata": {
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {
                "ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io",
                "ipaddress.kubernetes.io/ip-family": "IPv4",
            },
        },
        "spec": {"parentRef": IP_VALUE["spec"]["parentRef"]},
    }
    assert project("services", SVC_VALUE) == {
        "spec": {"type": "ClusterIP", "clusterIPs": ["10.0.0.5"], "clusterIP": "10.0.0.5"}
    }
    assert project("ipaddresses", {"metadata": {}, "spec": {}}) == {"metadata": {}, "spec": {}}
    # odd shapes and other kinds: the whole value is needed
    assert project("ipaddresses", {"metadata": [], "spec": {}}) is None
    assert project("services", {"spec": "x"}) is None
    assert project("servicecidrs", {"spec": {}}) is None


def test_memory_store_projection_is_the_listing() -> None:
    store = MemoryStore()
    store.commit([Create("ipaddresses", "10.0.0.5", IP_VALUE)])
    records, rev = store.list_projection("ipaddresses")
    assert rev == 1 and [r.value for r in records] == [IP_VALUE]


def test_a_store_without_a_projector_lists_whole_values(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "g.db") as store:
        assert store.projector is None  # the store is generic: the layer above gives it one
        store.commit([Create("ipaddresses", "10.0.0.5", IP_VALUE)])
        assert [r.value for r in store.list_projection("ipaddresses")[0]] == [IP_VALUE]
        rows, _ = store.list_projection_raw("ipaddresses")
        assert [store.decode_projection(raw) for _, raw, _ in rows] == [IP_VALUE]


def test_a_cluster_gives_its_store_the_layout_projector(tmp_path: Path) -> None:
    from fastcidr.k8s.cluster import Cluster

    store = SQLiteStore(tmp_path / "c.db")
    with Cluster("10.96.0.0/28", store=store) as cluster:
        assert store.projector is project
        cluster.create_service("web")
    rows, _ = store.list_projection("ipaddresses")
    assert all(set(r.value) == {"metadata", "spec"} and "uid" not in r.value["metadata"] for r in rows)
    store.close()


def test_sqlite_lists_projections_and_whole_values(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "p.db") as store:
        store.projector = project
        store.commit([Create("ipaddresses", "10.0.0.5", IP_VALUE), Create("services", "default/a", SVC_VALUE),
                      Create("ipaddresses", "odd", {"metadata": "?", "spec": {}})])
        records, rev = store.list_projection("ipaddresses")
        assert rev == 1
        by_key = {r.key: r for r in records}
        assert by_key["10.0.0.5"].value == project("ipaddresses", IP_VALUE)
        assert by_key["odd"].value == {"metadata": "?", "spec": {}}  # no projection: the value
        assert (by_key["10.0.0.5"].revision, by_key["10.0.0.5"].create_revision) == (1, 1)
        # an update writes the new projection; the whole value is still what get/list return
        changed = {**IP_VALUE, "spec": {"parentRef": {"resource": "services", "namespace": "ns", "name": "b"}}}
        store.commit([Put("ipaddresses", "10.0.0.5", changed, expect=1)])
        (rec,) = [r for r in store.list_projection("ipaddresses")[0] if r.key == "10.0.0.5"]
        assert rec.value["spec"]["parentRef"]["name"] == "b" and rec.revision == 2 and rec.create_revision == 1
        assert store.get("ipaddresses", "10.0.0.5").value == changed  # type: ignore[union-attr]
        (svc,) = store.list_projection("services")[0]
        assert svc.value == project("services", SVC_VALUE)


def test_version_1_file_is_migrated_and_its_rows_still_list(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A file written by schema version 1 (no projection column) is migrated on open; its old
    rows have no projection and list with their whole values."""
    from fastcidr.store import sqlite as sqlite_module

    path = tmp_path / "v1.db"
    monkeypatch.setattr(sqlite_module, "SCHEMA_VERSION", 1)
    monkeypatch.setattr(sqlite_module, "_INSERT_RECORD", "INSERT INTO fastcidr_records"
                        " (kind, key, value, revision, create_revision) VALUES (?, ?, ?, ?, ?)")
    old_insert = sqlite_module._INSERT_RECORD
    with SQLiteStore(path) as store:
        con = store._connection()
        columns = [row[1] for row in con.execute("PRAGMA table_info(fastcidr_records)")]
        assert "projection" not in columns
        # write as version 1 did: five columns
        con.execute("BEGIN IMMEDIATE")
        con.execute(old_insert.replace("?, ?, ?, ?, ?", "?, ?, ?, 1, 1"),
                    ("ipaddresses", "10.0.0.5", sqlite_module._json_dumps(IP_VALUE)))
        con.execute("UPDATE fastcidr_state SET value = 1 WHERE name = 'revision'")
        con.execute("COMMIT")
    monkeypatch.undo()
    with SQLiteStore(path) as store:
        store.projector = project
        con = store._connection()
        assert con.execute("SELECT version FROM fastcidr_schema").fetchall() == [(2,)]
        (rec,) = store.list_projection("ipaddresses")[0]
        assert rec.value == IP_VALUE and rec.revision == 1
        store.commit([Create("services", "default/a", SVC_VALUE)])
        assert store.list_projection("services")[0][0].value == project("services", SVC_VALUE)


@pytest.mark.parametrize("value", [
    {"big": 2**70, "neg": -(2**65)},
    {"nan": float("nan")} ,
    {"float": 1e16, "small": 0.1, "text": "é ☃", "none": None, "list": [1, [2, {"a": True}]]},
    {"digits": "1234567890123456789012345"},
])
def test_sqlite_json_round_trip_is_exact(tmp_path: Path, value: Dict[str, Any]) -> None:
    with SQLiteStore(tmp_path / "j.db") as store:
        store.commit([Create("meta", "k", value)])
        got = store.get("meta", "k").value  # type: ignore[union-attr]
        listed = store.list("meta")[0][0].value
    for read in (got, listed):
        assert read.keys() == value.keys()
        for k, v in value.items():
            if isinstance(v, float) and v != v:
                assert read[k] != read[k]  # NaN stays NaN
            else:
                assert read[k] == v and type(read[k]) is type(v)
