"""The store interface, run over every store: memory (the reference), SQLite and etcd (a real member).

Stores sit below the core, so these tests do not depend on the backend fixture.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Iterator, List

import pytest

from fastcidr.errors import ConflictError, StoreError
from fastcidr.store import (
    ABSENT,
    Compacted,
    Create,
    Delete,
    MemoryStore,
    Put,
    Require,
    Store,
    TxnConflict,
    open_store,
)
from fastcidr.store.etcd import EtcdStore
from fastcidr.store.sqlite import SQLiteStore

STORES = ["memory", "sqlite", "etcd"]


class Handles:
    """Opens handles on one store (several for SQLite and etcd, as several processes would) and
    closes them at the end; ``compact`` forces the change log to forget old revisions."""

    def __init__(self, kind: str, request: pytest.FixtureRequest, tmp_path: Any) -> None:
        self.kind = kind
        self.opened: List[Store] = []
        self._memory: MemoryStore | None = None
        if kind == "sqlite":
            self.url = "sqlite:///" + str(tmp_path / "store.db")
        elif kind == "etcd":
            server = request.getfixturevalue("etcd_server")
            self.url = server.url(request.getfixturevalue("etcd_prefix"))
        else:
            self.url = "memory:"

    def open(self, **kwargs: Any) -> Store:
        if self.kind == "memory":
            if self._memory is None:
                self._memory = MemoryStore(**kwargs)
            store: Store = self._memory
        elif self.kind == "sqlite":
            store = SQLiteStore(self.url[len("sqlite:///"):], **kwargs)
        else:
            store = open_store(self.url)
        self.opened.append(store)
        return store

    def compact(self, store: Store, through: int) -> None:
        if isinstance(store, EtcdStore):
            store.compact(through)
            return
        # memory and SQLite compact their logs by size: overflow a tiny log
        for i in range(12):
            store.commit([Put("meta", f"filler-{i % 3}", {"i": i})])

    def close(self) -> None:
        for store in self.opened:
            store.close()


@pytest.fixture(params=STORES)
def handles(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Handles]:
    h = Handles(request.param, request, tmp_path)
    yield h
    h.close()


@pytest.fixture
def store(handles: Handles) -> Store:
    return handles.open()


def svc(name: str, **extra: Any) -> dict:
    return {"metadata": {"name": name, "namespace": "default"}, **extra}


def test_create_get_list(store: Store) -> None:
    assert store.current_revision() == 0
    assert store.get("services", "default/a") is None
    assert store.list("services") == ([], store.list("services")[1])
    r1 = store.commit([Create("services", "default/a", svc("a")), Create("ipaddresses", "10.0.0.1", {"n": 1})])
    assert r1 > 0
    assert store.current_revision() == r1
    rec = store.get("services", "default/a")
    assert rec is not None
    assert (rec.kind, rec.key, rec.value, rec.revision, rec.create_revision) == (
        "services", "default/a", svc("a"), r1, r1)
    records, rev = store.list("ipaddresses")
    assert [(r.key, r.value, r.revision) for r in records] == [("10.0.0.1", {"n": 1}, r1)]
    assert rev >= r1
    # kinds are separate name spaces
    assert store.get("ipaddresses", "default/a") is None
    assert store.list("servicecidrs")[0] == []


def test_revisions_strictly_increase_and_create_revision_stays(store: Store) -> None:
    revs = [store.commit([Put("meta", "k", {"v": i})]) for i in range(5)]
    assert revs == sorted(set(revs))
    rec = store.get("meta", "k")
    assert rec is not None and rec.value == {"v": 4}
    assert rec.revision == revs[-1] and rec.create_revision == revs[0]


def test_create_conflict_is_atomic_and_names_the_op(store: Store) -> None:
    r1 = store.commit([Create("ipaddresses", "10.0.0.2", {"a": 1})])
    with pytest.raises(TxnConflict) as info:
        store.commit([
            Create("ipaddresses", "10.0.0.3", {"b": 1}),
            Create("services", "default/x", svc("x")),
            Create("ipaddresses", "10.0.0.2", {"c": 1}),
        ])
    err = info.value
    assert isinstance(err, ConflictError)
    assert err.index == 2 and err.actual_revision == r1
    assert err.op == Create("ipaddresses", "10.0.0.2", {"c": 1})
    assert "ipaddresses/10.0.0.2" in str(err)
    # nothing of the failed commit was written
    assert store.get("ipaddresses", "10.0.0.3") is None
    assert store.get("services", "default/x") is None
    assert store.get("ipaddresses", "10.0.0.2").value == {"a": 1}  # type: ignore[union-attr]
    assert store.current_revision() == r1


def test_create_all_is_a_commit_of_creates(store: Store) -> None:
    r1 = store.create_all([("services", "default/a", svc("a")), ("ipaddresses", "10.0.0.1", {"n": 1})])
    assert store.current_revision() == r1
    rec = store.get("services", "default/a")
    assert rec is not None
    assert (rec.kind, rec.key, rec.value, rec.revision, rec.create_revision) == (
        "services", "default/a", svc("a"), r1, r1)
    changes, _ = store.changes_since(r1 - 1)
    assert [(c.type, c.kind, c.key, c.created) for c in changes] == [
        ("PUT", "services", "default/a", True), ("PUT", "ipaddresses", "10.0.0.1", True)]
    with pytest.raises(TxnConflict) as info:
        store.create_all([("ipaddresses", "10.0.0.9", {}), ("services", "default/a", svc("again"))])
    assert info.value.index == 1 and info.value.actual_revision == r1
    assert info.value.op == Create("services", "default/a", svc("again"))
    # nothing of the refused call was written
    assert store.get("ipaddresses", "10.0.0.9") is None
    assert store.get("services", "default/a").value == svc("a")  # type: ignore[union-attr]
    assert store.current_revision() == r1


def test_first_failing_condition_is_reported(store: Store) -> None:
    r1 = store.commit([Create("meta", "a", {}), Create("meta", "b", {})])
    with pytest.raises(TxnConflict) as info:
        store.commit([Put("meta", "c", {}), Put("meta", "a", {}, expect=r1 + 100), Create("meta", "b", {})])
    assert info.value.index == 1 and info.value.actual_revision == r1


def test_put_compare_and_swap(store: Store) -> None:
    r1 = store.commit([Put("meta", "k", {"v": 1}, expect=ABSENT)])
    with pytest.raises(TxnConflict) as info:
        store.commit([Put("meta", "k", {"v": 2}, expect=ABSENT)])
    assert info.value.actual_revision == r1
    r2 = store.commit([Put("meta", "k", {"v": 2}, expect=r1)])
    assert r2 > r1
    with pytest.raises(TxnConflict) as info:
        store.commit([Put("meta", "k", {"v": 3}, expect=r1)])
    assert info.value.actual_revision == r2 and info.value.index == 0
    with pytest.raises(TxnConflict) as info:
        store.commit([Put("meta", "absent", {"v": 3}, expect=r1)])
    assert info.value.actual_revision is None
    assert store.get("meta", "k").value == {"v": 2}  # type: ignore[union-attr]


def test_delete(store: Store) -> None:
    r1 = store.commit([Create("meta", "k", {"v": 1})])
    # deleting an absent key is a no-op, unless a revision is expected
    store.commit([Delete("meta", "nothing")])
    with pytest.raises(TxnConflict) as info:
        store.commit([Delete("meta", "nothing", expect=r1)])
    assert info.value.actual_revision is None
    with pytest.raises(TxnConflict):
        store.commit([Delete("meta", "k", expect=r1 + 1000)])
    r2 = store.commit([Delete("meta", "k", expect=r1)])
    assert r2 > r1
    assert store.get("meta", "k") is None
    assert store.list("meta")[0] == []
    # a key created again starts a new life
    r3 = store.commit([Create("meta", "k", {"v": 2})])
    assert store.get("meta", "k").create_revision == r3  # type: ignore[union-attr]


def test_require_checks_without_writing(store: Store) -> None:
    r1 = store.commit([Create("servicecidrs", "c", {"spec": 1})])
    assert store.commit([Require("servicecidrs", "c", r1), Require("servicecidrs", "d", ABSENT)]) == r1
    assert store.current_revision() == r1
    r2 = store.commit([Require("servicecidrs", "c", r1), Create("ipaddresses", "10.0.0.1", {})])
    assert r2 > r1
    store.commit([Put("servicecidrs", "c", {"spec": 2})])
    with pytest.raises(TxnConflict) as info:
        store.commit([Require("servicecidrs", "c", r1), Create("ipaddresses", "10.0.0.9", {})])
    assert info.value.index == 0
    assert store.get("ipaddresses", "10.0.0.9") is None
    with pytest.raises(TxnConflict):
        store.commit([Require("servicecidrs", "c", ABSENT)])


def test_changes_since(store: Store) -> None:
    base = store.current_revision()
    r1 = store.commit([Create("services", "default/a", svc("a")), Create("ipaddresses", "10.0.0.1", {"ip": 1})])
    r2 = store.commit([Put("services", "default/a", svc("a", spec={"x": 1}))])
    r3 = store.commit([Delete("ipaddresses", "10.0.0.1")])
    changes, current = store.changes_since(base)
    assert current == r3
    got = [(c.type, c.kind, c.key, c.value, c.revision, c.created) for c in changes]
    assert sorted(got[:2]) == sorted([
        ("PUT", "services", "default/a", svc("a"), r1, True),
        ("PUT", "ipaddresses", "10.0.0.1", {"ip": 1}, r1, True),
    ])
    assert got[2:] == [
        ("PUT", "services", "default/a", svc("a", spec={"x": 1}), r2, False),
        ("DELETE", "ipaddresses", "10.0.0.1", {"ip": 1}, r3, False),
    ]
    assert [c.revision for c in store.changes_since(r2)[0]] == [r3]
    assert store.changes_since(r3) == ([], r3)


def test_changes_seen_by_another_handle(handles: Handles) -> None:
    writer, reader = handles.open(), handles.open()
    records, listed = reader.list("ipaddresses")
    r1 = writer.commit([Create("ipaddresses", "10.0.0.7", {"x": 1})])
    assert reader.current_revision() == r1
    changes, current = reader.changes_since(listed)
    assert [(c.key, c.created) for c in changes] == [("10.0.0.7", True)]
    assert current == r1
    assert reader.get("ipaddresses", "10.0.0.7").value == {"x": 1}  # type: ignore[union-attr]


def test_list_is_consistent_with_its_revision(store: Store) -> None:
    store.commit([Create("ipaddresses", f"10.0.0.{i}", {"i": i}) for i in range(1, 21)])
    records, rev = store.list("ipaddresses")
    assert sorted(r.key for r in records) == sorted(f"10.0.0.{i}" for i in range(1, 21))
    assert all(r.revision <= rev for r in records)
    r2 = store.commit([Delete("ipaddresses", "10.0.0.1"), Create("ipaddresses", "10.0.1.1", {})])
    changes, current = store.changes_since(rev)
    assert current == r2
    assert {(c.type, c.key) for c in changes} == {("DELETE", "10.0.0.1"), ("PUT", "10.0.1.1")}


def test_compacted_log_tells_readers_to_relist(handles: Handles) -> None:
    store = handles.open(log_limit=4) if handles.kind != "etcd" else handles.open()
    old = store.commit([Create("meta", "first", {})])
    for i in range(3):
        store.commit([Put("meta", "x", {"i": i})])
    handles.compact(store, store.current_revision())
    # a reader that opens now cannot get the old changes (etcd handles that were open all along
    # may still serve them from their own watch log, which is fine)
    late = handles.open(log_limit=4) if handles.kind != "etcd" else handles.open()
    with pytest.raises(Compacted):
        late.changes_since(old - 1)
    assert isinstance(Compacted("x"), StoreError)
    # re-listing works, and changes from the listed revision are available again
    records, rev = store.list("meta")
    assert {r.key for r in records} >= {"first", "x"}
    r_new = store.commit([Put("meta", "after", {})])
    assert [c.key for c in store.changes_since(rev)[0]] == ["after"]
    assert store.changes_since(rev)[1] == r_new


def test_values_are_copies(store: Store) -> None:
    value = {"spec": {"cidrs": ["10.0.0.0/24"]}}
    store.commit([Create("servicecidrs", "c", value)])
    value["spec"]["cidrs"].append("changed")
    got = store.get("servicecidrs", "c")
    assert got is not None and got.value == {"spec": {"cidrs": ["10.0.0.0/24"]}}


def test_wait_for_change(handles: Handles) -> None:
    store, other = handles.open(), handles.open()
    rev = store.current_revision()
    assert store.wait_for_change(rev, 0.05) is False
    timer = threading.Timer(0.1, lambda: other.commit([Create("meta", "w", {})]))
    timer.start()
    try:
        assert store.wait_for_change(rev, 20.0) is True
    finally:
        timer.join()
    assert store.current_revision() > rev
    assert store.wait_for_change(rev, 0) is True


def test_close_makes_every_call_fail(store: Store) -> None:
    store.commit([Create("meta", "k", {})])
    store.close()
    calls: List[Callable[[], object]] = [
        lambda: store.get("meta", "k"),
        lambda: store.list("meta"),
        lambda: store.commit([Create("meta", "z", {})]),
        lambda: store.changes_since(0),
        lambda: store.current_revision(),
    ]
    for call in calls:
        with pytest.raises(StoreError):
            call()
    store.close()  # closing twice is harmless


def test_many_threads_compare_and_swap(handles: Handles) -> None:
    """Threads increment one counter by CAS and create their own keys: no lost update."""
    threads_n, per_thread = 6, 15
    stores = [handles.open() for _ in range(2)]
    stores[0].commit([Create("meta", "counter", {"n": 0})])
    revisions: List[int] = []
    lock = threading.Lock()
    errors: List[BaseException] = []

    def work(t: int) -> None:
        try:
            s = stores[t % 2]
            for i in range(per_thread):
                while True:
                    rec = s.get("meta", "counter")
                    assert rec is not None
                    try:
                        rev = s.commit([
                            Put("meta", "counter", {"n": rec.value["n"] + 1}, expect=rec.revision),
                            Create("ipaddresses", f"t{t}-{i}", {"t": t}),
                        ])
                    except TxnConflict as e:
                        assert e.index == 0
                        continue
                    with lock:
                        revisions.append(rev)
                    break
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads_n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors, errors
    total = threads_n * per_thread
    assert stores[1].get("meta", "counter").value == {"n": total}  # type: ignore[union-attr]
    assert len(revisions) == len(set(revisions)) == total
    assert len(stores[1].list("ipaddresses")[0]) == total


def test_repr_and_url(handles: Handles) -> None:
    store = handles.open()
    assert store.url.startswith({"memory": "memory:", "sqlite": "sqlite:///", "etcd": "etcd://"}[handles.kind])
    assert store.shared is (handles.kind != "memory")


def test_a_big_commit(handles: Handles) -> None:
    store = handles.open()
    n = getattr(store, "max_ops", None) or 5000
    rev = store.commit([Create("ipaddresses", f"10.1.{i // 256}.{i % 256}", {"i": i}) for i in range(n)])
    records, _ = store.list("ipaddresses")
    assert len(records) == n and {r.revision for r in records} == {rev}
    with pytest.raises(TxnConflict) as info:
        store.commit([Create("ipaddresses", f"10.2.0.{i}", {}) for i in range(5)]
                     + [Create("ipaddresses", "10.1.0.0", {})])
    assert info.value.index == 5
    assert store.get("ipaddresses", "10.2.0.0") is None


def test_commits_in_a_tight_loop_keep_their_order(store: Store) -> None:
    revs = [store.commit([Put("meta", "loop", {"i": i})]) for i in range(20)]
    assert revs == sorted(revs) and len(set(revs)) == 20
    changes, _ = store.changes_since(revs[0] - 1)
    assert [c.value["i"] for c in changes if c.value] == list(range(20))
