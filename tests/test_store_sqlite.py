"""SQLiteStore beyond the shared conformance suite: foreign and corrupt files, schema versions,
durability options, and many processes on one file."""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import List

import pytest

from fastcidr.errors import StoreError
from fastcidr.store import Create, Put, TxnConflict, open_store
from fastcidr.store.sqlite import APPLICATION_ID, SCHEMA_VERSION, SQLiteStore

REPO = Path(__file__).resolve().parent.parent


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_fastcidr_db(path: Path, n: int = 2000) -> None:
    with SQLiteStore(path) as store:
        for start in range(0, n, 500):
            store.commit([
                Create("ipaddresses", f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", {"i": i, "pad": "x" * 50})
                for i in range(start, min(n, start + 500))
            ])


def assert_refused(path: Path, *words: str) -> StoreError:
    before = digest(path)
    size = path.stat().st_size
    with pytest.raises(StoreError) as info:
        store = open_store(str(path))
        try:  # a corruption that only shows when pages are read must still surface as StoreError
            for kind in ("servicecidrs", "ipaddresses", "services", "meta"):
                store.list(kind)
        finally:
            store.close()
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message, message
    assert path.stat().st_size == size and digest(path) == before, "the file was modified"
    return info.value


def test_new_file_gets_schema_and_application_id(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    SQLiteStore(path).close()
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert con.execute("SELECT version, application FROM fastcidr_schema").fetchall() == [
            (SCHEMA_VERSION, "fastcidr")]
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        con.close()


def test_empty_file_is_initialised(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with SQLiteStore(path) as store:
        store.commit([Create("meta", "k", {"v": 1})])
    with SQLiteStore(path) as store:
        assert store.get("meta", "k").value == {"v": 1}  # type: ignore[union-attr]


def test_random_bytes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "random.db"
    path.write_bytes(os.urandom(8192))
    assert_refused(path, "not a fastcidr database")


def test_text_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a database\n" * 10)
    assert_refused(path, "not a fastcidr database")


def test_short_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "short.db"
    path.write_bytes(b"SQLite format 3\x00\x10")
    assert_refused(path, "not a fastcidr database")


def test_another_applications_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    con.execute("INSERT INTO users (name) VALUES ('ada')")
    con.commit()
    con.close()
    assert_refused(path, "another application", "users")


def test_empty_but_foreign_schema_is_refused(tmp_path: Path) -> None:
    # an SQLite file with a header but no tables (someone else's, freshly made)
    path = tmp_path / "bare.db"
    con = sqlite3.connect(path)
    con.execute("PRAGMA user_version = 7")
    con.close()
    assert path.stat().st_size > 0
    assert_refused(path, "empty schema")


def test_foreign_table_named_like_ours_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lookalike.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE fastcidr_schema (version INTEGER, application TEXT)")
    con.execute("INSERT INTO fastcidr_schema VALUES (1, 'fastcidr')")
    con.commit()
    con.close()
    assert_refused(path, "application_id")


def test_damaged_schema_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "damaged.db"
    SQLiteStore(path).close()
    con = sqlite3.connect(path)
    con.execute("INSERT INTO fastcidr_schema VALUES (1, 'fastcidr')")  # two rows
    con.commit()
    con.close()
    assert_refused(path, "damaged schema")


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    SQLiteStore(path).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE fastcidr_schema SET version = ?", (SCHEMA_VERSION + 1,))
    con.commit()
    con.close()
    assert_refused(path, "newer fastcidr", f"schema version {SCHEMA_VERSION + 1}")


def test_truncated_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "truncated.db"
    make_fastcidr_db(path)
    assert not (tmp_path / "truncated.db-wal").exists()  # checkpointed on close
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert_refused(path, "truncated")


def test_corrupt_pages_surface_as_store_error(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.db"
    make_fastcidr_db(path)
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    # scribble over every page but the first (header + schema stay readable)
    for offset in range(page, len(data), page):
        data[offset: offset + 64] = b"\xa5" * 64
    path.write_bytes(bytes(data))
    assert_refused(path)


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="directory"):
        SQLiteStore(tmp_path)


def test_synchronous_option(tmp_path: Path) -> None:
    for mode in ("NORMAL", "full", "FULL"):
        with SQLiteStore(tmp_path / "s.db", synchronous=mode) as store:
            assert store.synchronous == mode.upper()
            level = store._connection().execute("PRAGMA synchronous").fetchone()[0]
            assert level == {"NORMAL": 1, "FULL": 2}[mode.upper()]
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStore(tmp_path / "s.db", synchronous="sometimes")
    opened = open_store("sqlite:///" + str(tmp_path / "u.db") + "?synchronous=FULL")
    assert isinstance(opened, SQLiteStore) and opened.synchronous == "FULL"
    opened.close()


def test_restart_keeps_everything_and_revisions_continue(tmp_path: Path) -> None:
    path = tmp_path / "restart.db"
    with SQLiteStore(path) as store:
        r1 = store.commit([Create("servicecidrs", "kubernetes", {"spec": {"cidrs": ["10.0.0.0/24"]}})])
        r2 = store.commit([Put("servicecidrs", "kubernetes", {"spec": {"cidrs": ["10.0.0.0/16"]}}, expect=r1)])
    with SQLiteStore(path) as store:
        assert store.current_revision() == r2
        rec = store.get("servicecidrs", "kubernetes")
        assert rec is not None and rec.value == {"spec": {"cidrs": ["10.0.0.0/16"]}}
        assert (rec.revision, rec.create_revision) == (r2, r1)
        assert store.commit([Create("meta", "x", {})]) == r2 + 1
        assert [c.revision for c in store.changes_since(r1)[0]] == [r2, r2 + 1]


def test_a_huge_commit_compacts_instead_of_logging(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "huge.db", log_limit=100) as store:
        r0 = store.commit([Create("meta", "before", {})])
        rev = store.commit([Create("ipaddresses", f"k{i}", {}) for i in range(500)])
        with pytest.raises(Exception) as info:
            store.changes_since(r0)
        assert type(info.value).__name__ == "Compacted"
        assert store.changes_since(rev) == ([], rev)
        count = store._connection().execute("SELECT count(*) FROM fastcidr_changes").fetchone()[0]
        assert count == 0


def test_log_stays_bounded(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "bounded.db", log_limit=50) as store:
        for i in range(300):
            store.commit([Put("meta", f"k{i % 7}", {"i": i})])
        count = store._connection().execute("SELECT count(*) FROM fastcidr_changes").fetchone()[0]
        assert 25 <= count <= 50 + 50 // 4
        latest = store.current_revision()
        changes, _ = store.changes_since(latest - 20)
        assert [c.revision for c in changes] == list(range(latest - 19, latest + 1))


WRITER = textwrap.dedent("""
    import json, sys, threading
    from fastcidr.store import Create, Put, TxnConflict
    from fastcidr.store.sqlite import SQLiteStore
    path, proc, threads_n, per_thread = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    store = SQLiteStore(path)
    revisions = []
    lock = threading.Lock()
    def work(t):
        mine = []
        for i in range(per_thread):
            while True:
                rec = store.get("meta", "counter")
                ops = [Create("ipaddresses", f"p{proc}-t{t}-{i}", {"p": proc})]
                if rec is None:
                    ops.append(Create("meta", "counter", {"n": 1}))
                else:
                    ops.append(Put("meta", "counter", {"n": rec.value["n"] + 1}, expect=rec.revision))
                try:
                    mine.append(store.commit(ops))
                    break
                except TxnConflict:
                    continue
        with lock:
            revisions.extend(mine)
    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads_n)]
    for w in workers: w.start()
    for w in workers: w.join()
    print(json.dumps(revisions))
""")


def python_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    env.setdefault("FASTCIDR_PURE", "1")  # stores do not need the core; keeps start-up quiet
    return env


def test_four_processes_on_one_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    SQLiteStore(path).close()
    procs_n, threads_n, per_thread = 4, 3, 25
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(p), str(threads_n), str(per_thread)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=python_env())
        for p in range(procs_n)
    ]
    revisions: List[int] = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
        revisions.extend(json.loads(out))
    total = procs_n * threads_n * per_thread
    assert len(revisions) == total and len(set(revisions)) == total, "a revision was handed out twice"
    with SQLiteStore(path) as store:
        assert store.get("meta", "counter").value == {"n": total}  # type: ignore[union-attr]
        assert len(store.list("ipaddresses")[0]) == total
        assert store.current_revision() == max(revisions)
        # the log holds every commit, in order, once
        changes, _ = store.changes_since(0)
        counter_revs = [c.revision for c in changes if c.kind == "meta"]
        assert sorted(counter_revs) == sorted(revisions)


def test_concurrent_first_open_creates_one_schema(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    script = "import sys; from fastcidr.store.sqlite import SQLiteStore; SQLiteStore(sys.argv[1]).close()"
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path)], env=python_env(),
                              stderr=subprocess.PIPE) for _ in range(4)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    with SQLiteStore(path) as store:
        assert store.current_revision() == 0
        with pytest.raises(TxnConflict):
            store.commit([Create("meta", "a", {}), Create("meta", "b", {}), Put("meta", "c", {}, expect=5)])


def test_big_listing_is_reused_only_while_nothing_changes(tmp_path: Path) -> None:
    from fastcidr.store import sqlite as sqlite_module

    with SQLiteStore(tmp_path / "cache.db") as store, SQLiteStore(tmp_path / "cache.db") as other:
        n = sqlite_module._CACHE_LISTINGS_FROM
        store.commit([Create("ipaddresses", f"k{i}", {"i": i}) for i in range(n)])
        first, rev = store.list("ipaddresses")
        again, rev2 = store.list("ipaddresses")
        assert rev2 == rev and again == first and again is not first
        # another handle (another process) writes: the next listing sees it
        other.commit([Create("ipaddresses", "late", {})])
        third, rev3 = store.list("ipaddresses")
        assert rev3 > rev and len(third) == n + 1
        # our own write too
        store.commit([Create("ipaddresses", "later", {})])
        assert len(store.list("ipaddresses")[0]) == n + 2


def test_a_forked_child_gets_its_own_connection(tmp_path: Path) -> None:
    import multiprocessing

    store = SQLiteStore(tmp_path / "fork.db")
    store.commit([Create("meta", "parent", {})])
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()

    def child() -> None:
        rev = store.commit([Create("meta", "child", {})])  # the inherited object reconnects
        queue.put(rev)

    proc = ctx.Process(target=child)
    with warnings.catch_warnings():
        # Python >= 3.12 warns about fork() while other threads (e.g. an etcd watch) exist
        warnings.simplefilter("ignore", DeprecationWarning)
        proc.start()
    child_rev = queue.get(timeout=60)
    proc.join(60)
    assert proc.exitcode == 0
    assert store.get("meta", "child").revision == child_rev  # type: ignore[union-attr]
    assert store.commit([Create("meta", "after", {})]) == child_rev + 1
    store.close()
    queue.close()
    queue.join_thread()


def test_older_schema_is_migrated_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The migration path: a file of the current version opened by code that knows one more."""
    from fastcidr.store import sqlite as sqlite_module

    path = tmp_path / "old.db"
    with SQLiteStore(path) as store:
        rev = store.commit([Create("meta", "kept", {"v": 1})])
    monkeypatch.setattr(sqlite_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(sqlite_module._MIGRATIONS, SCHEMA_VERSION, ("CREATE TABLE fastcidr_extra (x INTEGER)",))
    with SQLiteStore(path) as store:
        assert store.get("meta", "kept").revision == rev  # type: ignore[union-attr]
        con = store._connection()
        assert con.execute("SELECT version FROM fastcidr_schema").fetchall() == [(SCHEMA_VERSION + 1,)]
        assert con.execute("SELECT count(*) FROM fastcidr_extra").fetchone() == (0,)
    # and code that only knows the older version now refuses the file
    monkeypatch.setattr(sqlite_module, "SCHEMA_VERSION", SCHEMA_VERSION)
    with pytest.raises(StoreError, match="newer fastcidr"):
        SQLiteStore(path)


def test_listing_in_slices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastcidr.store import sqlite as sqlite_module

    monkeypatch.setattr(sqlite_module, "_LIST_SLICE", 7)
    with SQLiteStore(tmp_path / "slices.db") as store:
        rev = store.commit([Create("services", f"ns/s{i:02}", {"i": i}) for i in range(20)])
        records, listed = store.list("services")
        assert listed == rev
        assert sorted((r.key, r.value["i"]) for r in records) == [(f"ns/s{i:02}", i) for i in range(20)]
