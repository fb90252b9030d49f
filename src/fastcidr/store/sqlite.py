"""The SQLite store: the embedded, durable default (stdlib ``sqlite3``, WAL mode).

One file holds every record, a bounded change log and the global revision counter. Every
:meth:`SQLiteStore.commit` is one ``BEGIN IMMEDIATE`` transaction, so several threads, Cluster objects
and processes can share one file: writers are serialised by SQLite's write lock, each commit checks
its conditions against the latest committed state, and revisions are unique and strictly increasing.

Durability (``synchronous=``):

- ``"NORMAL"`` (the default): in WAL mode a committed transaction survives the crash or ``kill -9`` of
  any process; a power loss or OS crash may lose the last few commits (never corrupting the file).
- ``"FULL"``: every commit is also fsync'ed, so it survives power loss too; slower per commit.

Start-up reads little: next to each value the row keeps the JSON of the store's
``projector(kind, value)`` (schema version 2), and :meth:`SQLiteStore.list_projection`
decodes only that. Files of version 1 are migrated on open (their old rows list whole values until
rewritten). Values are encoded and decoded with ``orjson`` when it is installed (the stdlib ``json`` otherwise).

A file that is not a fastcidr database (another application's SQLite file, random bytes, a truncated
or corrupt file, an SQLite file with a foreign or empty schema) raises :class:`StoreError` naming the
file, and is never written to: it is inspected through a read-only connection before anything else.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "state.db")
>>> with SQLiteStore(path) as s:
...     s.commit([Create("meta", "k", {"v": 1})])
1
>>> SQLiteStore(path).get("meta", "k").value
{'v': 1}
"""
from __future__ import annotations

import functools
import json
import os
import sqlite3
import threading
import time
import weakref
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..errors import StoreError, StoreNotFoundError
from ._sqlite_checks import _foreign, _inspect_header, _is_decode_error, _writable
from .base import (
    ABSENT,
    Change,
    Compacted,
    Create,
    Delete,
    Op,
    Put,
    Record,
    ReadOnlyStoreError,
    Require,
    Store,
    TxnConflict,
    UnreadableRecordError,
    check_expect,
    decode_value,
)


def _optional_orjson() -> Any:
    """``orjson`` (the ``speedups`` extra: ~5x faster JSON) or None; the stdlib then writes and
    reads the same text."""
    try:
        import orjson
    except ImportError:
        return None
    return orjson


__all__ = ["SQLiteStore", "SCHEMA_VERSION", "APPLICATION_ID"]

#: The schema this code writes; older files are migrated on open, newer ones refused.
SCHEMA_VERSION = 2
#: ``PRAGMA application_id`` of a fastcidr database ("fCID").
APPLICATION_ID = 0x66434944
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")

_SCHEMA_V1 = (
    "CREATE TABLE fastcidr_schema (version INTEGER NOT NULL, application TEXT NOT NULL)",
    # one row per object; value is the object's JSON wire form
    "CREATE TABLE fastcidr_records (kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
    " revision INTEGER NOT NULL, create_revision INTEGER NOT NULL,"
    " PRIMARY KEY (kind, key)) WITHOUT ROWID",
    # the change log: one row per changed key, in commit order (id), compacted from the front
    "CREATE TABLE fastcidr_changes (id INTEGER PRIMARY KEY, revision INTEGER NOT NULL,"
    " type TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT,"
    " created INTEGER NOT NULL)",
    "CREATE INDEX fastcidr_changes_revision ON fastcidr_changes (revision)",
    # counters: 'revision' (latest commit) and 'compacted' (log rows <= this are gone)
    "CREATE TABLE fastcidr_state (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
    "INSERT INTO fastcidr_state VALUES ('revision', 0), ('compacted', 0)",
)

#: migrations[v] turns a version-v database into version v+1 (run inside one transaction).
_MIGRATIONS: Dict[int, Tuple[str, ...]] = {
    0: _SCHEMA_V1,
    # version 2: the JSON of the projector's part of the value next to the value, so that start-up
    # decodes a few fields per object instead of whole objects (NULL: read the value; rows
    # written before version 2 stay NULL until their next write)
    1: ("ALTER TABLE fastcidr_records ADD COLUMN projection TEXT",),
}
_INSERT_RECORD = (
    "INSERT INTO fastcidr_records (kind, key, value, revision, create_revision, projection)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_UPSERT_RECORD = (
    _INSERT_RECORD + " ON CONFLICT (kind, key)"
    " DO UPDATE SET value = excluded.value, revision = excluded.revision,"
    " projection = excluded.projection"
)

#: listings at least this long are kept for _LISTING_TTL seconds while the store does not change
_CACHE_LISTINGS_FROM = 10_000
_LISTING_TTL = 10.0
_LIST_SLICE = 50_000

_json_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_orjson = _optional_orjson()


def _dumps(value: Any) -> str:
    """Compact JSON text, as ``json`` writes it with ``separators=(",", ":")`` and
    ``ensure_ascii=False``: ``orjson`` (~5x faster) for everything it encodes, the stdlib for the
    rest. Floats may be spelled differently (``1e16`` for ``1e+16``), never valued differently.

    Text orjson cannot write (integers beyond 64 bits, non-str keys) starts with a space (still
    JSON): :func:`_loads` then reads it with the stdlib, which keeps big integers exact where
    orjson would turn them into floats."""
    if _orjson is None:
        return _json_dumps(value)
    try:
        text = _orjson.dumps(value).decode()
    except (TypeError, _orjson.JSONEncodeError):
        return " " + _json_dumps(value)
    if "null" in text:  # orjson writes NaN and infinities as null, json as NaN / Infinity
        return _json_dumps(value)
    return text


def _loads(text: str) -> Any:
    """Parse JSON text written by :func:`_dumps` (or by the stdlib ``json``, as earlier versions
    did): ``orjson``, or the stdlib for text marked by a leading space and for what orjson refuses
    (``NaN``)."""
    if text[:1] != " " and _orjson is not None:
        try:
            return _orjson.loads(text)
        except _orjson.JSONDecodeError:
            pass
    return json.loads(text)


def _check_schema(con: sqlite3.Connection, path: str) -> int:
    """The schema version of a fastcidr database; StoreError for anything else."""
    tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    app_id = con.execute("PRAGMA application_id").fetchone()[0]
    if "fastcidr_schema" not in tables:
        if not tables:
            raise _foreign(path, "an SQLite file with an empty schema")
        shown = ", ".join(sorted(tables)[:5])
        raise _foreign(path, f"an SQLite file of another application, with tables {shown}")
    if app_id != APPLICATION_ID:
        raise _foreign(path, f"application_id {app_id:#x}")
    try:
        rows = con.execute("SELECT version, application FROM fastcidr_schema").fetchall()
    except sqlite3.DatabaseError as e:
        raise StoreError(f"{path}: corrupt fastcidr database ({e}); the file was left untouched") from None
    if len(rows) != 1 or rows[0][1] != "fastcidr" or not isinstance(rows[0][0], int):
        raise _foreign(path, "damaged schema table")
    version = rows[0][0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: written by a newer fastcidr (schema version {version}, this one knows up to "
            f"{SCHEMA_VERSION})"
        )
    needed = {"fastcidr_records", "fastcidr_changes", "fastcidr_state"} if version >= 1 else set()
    if not needed <= tables:
        raise _foreign(path, f"tables missing: {', '.join(sorted(needed - tables))}")
    return version


# Record is a named tuple: built straight from its fields, without its generated __new__
_tuple_new = tuple.__new__


_UNREADABLE: Any = object()  # the decoded value of a row that could not be decoded


def _value_of(row: Any, note: Optional[Callable[[str, str], None]]) -> Any:
    """The value of one (key, text, ...) row, or _UNREADABLE after ``note(key, reason)``."""
    try:
        return decode_value(row[1], _loads)
    except ValueError as e:
        if note is not None:
            note(str(row[0]), str(e))
        return _UNREADABLE


def _values(rows: List[Any], note: Optional[Callable[[str, str], None]]) -> Tuple[List[Any], bool]:
    """The decoded values of (key, JSON text, ...) rows, fast: one JSON parse over the whole
    slice. A damaged row (not JSON, not an object, a BLOB) sends the slice to the per-row path,
    where it becomes _UNREADABLE and ``note(key, reason)`` hears of it. Returns (values, whether
    some row was unreadable)."""
    try:
        joined = ",".join([row[1] for row in rows])
    except TypeError:  # a cell that is not text (a BLOB written by another program)
        joined = " "
    # Text that needs the stdlib starts with a space (see _dumps), so shows up as ", " here
    # (or at the very start). Compact JSON has no other ", " outside strings: a string that
    # holds one only costs this slice the slower per-row path.
    if joined[:1] != " " and ", " not in joined:
        try:
            values = _loads("[" + joined + "]")
        except ValueError:
            pass
        else:
            # one value per row, every one an object: else some row is damaged
            if type(values) is list and len(values) == len(rows) and set(map(type, values)) <= {dict}:
                return values, False
    values = [_value_of(row, note) for row in rows]
    return values, any(v is _UNREADABLE for v in values)


def _records(kind: str, rows: List[Tuple[str, str, int, int]],
             note: Optional[Callable[[str, str], None]] = None) -> List[Record]:
    """Records from (key, value JSON, revision, create_revision) rows, fast: one json.loads over the
    whole listing, and Records filled in directly (``Record`` is a plain frozen dataclass). Rows
    that cannot be read are left out, after ``note(key, reason)``."""
    if not rows:
        return []
    values, damaged = _values(rows, note)
    if damaged:
        pairs = [(row, value) for row, value in zip(rows, values) if value is not _UNREADABLE]
        rows, values = [p[0] for p in pairs], [p[1] for p in pairs]
    return [_tuple_new(Record, (kind, row[0], value, row[2], row[3]))
            for row, value in zip(rows, values)]


_live_stores: "weakref.WeakSet[SQLiteStore]" = weakref.WeakSet()
# Connections a forked child inherited: never used, and never closed either (closing SQLite's copy
# in the child could drop file locks or state that belong to the parent).
_fork_orphans: List[sqlite3.Connection] = []


def _reset_after_fork() -> None:
    for store in list(_live_stores):
        store._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


class SQLiteStore(Store):
    """A store in one SQLite file, shared safely by threads and processes.

    ``synchronous``: ``"NORMAL"`` (default: survives process crashes) or ``"FULL"`` (also survives
    power loss); see the module docstring. ``log_limit`` bounds the change log (older changes are
    compacted; readers that fall behind get :class:`Compacted` and re-list). ``busy_timeout`` is how
    long (seconds) a writer waits for another process's transaction before giving up.

    ``read_only``: True opens the file for reading only (every write raises
    :class:`ReadOnlyStoreError`, nothing is ever created or migrated); None (the default) does so
    by itself when the file exists but this process may not write it or its directory (SQLite
    writes its ``-wal`` and ``-shm`` files beside it). ``shown``: how messages name the store
    (the URL or path as the user typed it; default: ``path`` as given).
    """

    shared = True

    def __init__(
        self,
        path: "str | os.PathLike[str]",
        *,
        synchronous: str = "NORMAL",
        log_limit: int = 100_000,
        busy_timeout: float = 60.0,
        read_only: Optional[bool] = None,
        shown: Optional[str] = None,
    ) -> None:
        sync = str(synchronous).upper()
        if sync not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(_SYNCHRONOUS)}, got {synchronous!r}")
        if log_limit < 1:
            raise ValueError(f"log_limit must be positive, got {log_limit}")
        self.path = os.path.abspath(os.fspath(path))
        self.url = "sqlite:///" + self.path
        # error texts name the store as the user did: an absolute path tells a client of the
        # server where this machine keeps its files
        self._shown = shown or os.fspath(path)
        self._want_read_only = read_only
        self._read_only_why = "opened read-only"
        # the column listings read projections from (version 1 files, opened read-only and so
        # never migrated, have none)
        self._projection = "coalesce(projection, value)"
        self.synchronous = sync
        self._log_limit = log_limit
        self._compact_every = max(1, min(64, log_limit // 4))  # commits between size checks
        self._busy_ms = int(busy_timeout * 1000)
        self._lock = threading.RLock()
        self._changed = threading.Condition(threading.Lock())
        self._closed = False
        self._con: Optional[sqlite3.Connection] = None
        self._pid = os.getpid()
        self._listing: Dict[str, Tuple[int, List[Record], float]] = {}
        self._open()
        _live_stores.add(self)

    def _after_fork_in_child(self) -> None:
        # Another thread may have held these at the fork; the connection is reopened on first use.
        self._lock = threading.RLock()
        self._changed = threading.Condition(threading.Lock())
        self._listing = {}

    # -- connection management ------------------------------------------------------------------

    def _error(self, e: BaseException) -> StoreError:
        text = str(e)
        if "readonly" in text or "read-only" in text:  # SQLITE_READONLY: the file refused a write
            return self._read_only_error(text.replace("attempt to write a readonly database",
                                                      "the file refused a write"))
        return StoreError(f"store {self._shown}: {text}")

    def _read_only_error(self, why: str) -> ReadOnlyStoreError:
        return ReadOnlyStoreError(f"store is read-only: {self._shown} ({why}); nothing was written")

    def _connect(self, readonly: bool = False, immutable: bool = False) -> sqlite3.Connection:
        if readonly:
            from urllib.parse import quote

            con = sqlite3.connect(
                "file:" + quote(self.path) + "?mode=ro" + ("&immutable=1" if immutable else ""),
                uri=True, isolation_level=None, check_same_thread=False, timeout=self._busy_ms / 1000,
            )
        else:
            con = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False,
                timeout=self._busy_ms / 1000,
            )
        con.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
        return con

    def _open(self) -> None:
        kind = _inspect_header(self.path, self._shown)
        if self._want_read_only is None and kind == "sqlite" and not _writable(self.path):
            self.read_only = True
            self._read_only_why = "the file or its directory is not writable"
        elif self._want_read_only:
            self.read_only = True
        if self.read_only:
            if kind == "new":
                missing = StoreNotFoundError(self.path)
                missing.args = (f"no fastcidr store at {self._shown}",)
                raise missing
            self._con = self._open_read_only()
            return
        if kind == "sqlite":
            # Validate through a read-only connection so that a foreign file is never written.
            try:
                ro = self._connect(readonly=True)
                try:
                    _check_schema(ro, self._shown)
                finally:
                    ro.close()
            except sqlite3.DatabaseError as e:
                raise _foreign(self._shown, str(e)) from None
            except sqlite3.Error as e:
                raise self._error(e) from None
        if kind == "new":
            try:  # a new store may live in a directory that does not exist yet
                os.makedirs(os.path.dirname(self.path), exist_ok=True)
            except OSError as e:
                raise StoreError(f"{self._shown}: cannot create the store's directory: "
                                 f"{e.strerror or e}") from None
        try:
            con = self._connect()
        except sqlite3.Error as e:
            raise StoreError(f"{self._shown}: cannot open the store file: {e}") from None
        try:
            self._initialise(con)
            con.execute(f"PRAGMA synchronous = {self.synchronous}")
            con.execute("PRAGMA cache_size = -65536")
            # checkpoint the WAL every ~40 MB rather than every 4 MB: small commits get cheaper
            con.execute("PRAGMA wal_autocheckpoint = 10000")
            # reads of big listings (start-up) go much faster through a memory map
            con.execute("PRAGMA mmap_size = 1073741824")
        except StoreError:
            con.close()
            raise
        except sqlite3.DatabaseError as e:
            con.close()
            if "readonly" in str(e) and kind == "sqlite":
                # writable by the look of it, yet the file refuses writes (a read-only mount,
                # a lock-down access() cannot see): serve it read-only rather than not at all
                self.read_only = True
                self._read_only_why = "the file refused a write"
                self._con = self._open_read_only()
                return
            raise _foreign(self._shown, str(e)) from None
        except sqlite3.Error as e:
            con.close()
            raise self._error(e) from None
        self._con = con

    def _open_read_only(self) -> sqlite3.Connection:
        """A connection that never writes. In WAL mode SQLite must still create the ``-shm``
        file to read; where it cannot (a read-only directory, no reader left it behind), the
        file is opened as immutable: nobody can be writing it there anyway."""
        last: Optional[BaseException] = None
        for immutable in (False, True):
            try:
                con = self._connect(readonly=True, immutable=immutable)
            except sqlite3.Error as e:
                last = e
                continue
            try:
                version = _check_schema(con, self._shown)
                con.execute("SELECT value FROM fastcidr_state WHERE name = 'revision'").fetchone()
            except StoreError:
                con.close()
                raise
            except sqlite3.DatabaseError as e:
                con.close()
                if "unable to open" in str(e) or "readonly" in str(e):
                    last = e
                    continue
                raise _foreign(self._shown, str(e)) from None
            if version < 2:
                self._projection = "value"
            con.execute("PRAGMA cache_size = -65536")
            con.execute("PRAGMA mmap_size = 1073741824")
            return con
        raise StoreError(f"{self._shown}: cannot open the store file for reading: {last}")

    def _initialise(self, con: sqlite3.Connection) -> None:
        """Create the schema in an empty file, or migrate an older one, in one transaction."""
        con.execute("BEGIN IMMEDIATE")
        try:
            has_tables = con.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
            if has_tables:
                version = _check_schema(con, self._shown)
            else:
                # Only a file that was absent or 0 bytes reaches here: anything else was checked
                # read-only above. (A concurrent creator holds the write lock until it is done.)
                version = 0
                con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            while version < SCHEMA_VERSION:
                for statement in _MIGRATIONS[version]:
                    con.execute(statement)
                version += 1
                con.execute("DELETE FROM fastcidr_schema")
                con.execute("INSERT INTO fastcidr_schema VALUES (?, 'fastcidr')", (version,))
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        if con.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            con.execute("PRAGMA journal_mode = WAL")

    def _connection(self) -> sqlite3.Connection:
        if self._closed or self._con is None:
            raise StoreError(f"store {self._shown} is closed")
        if os.getpid() != self._pid:
            # a forked child must not share the parent's SQLite connection
            self._pid = os.getpid()
            _fork_orphans.append(self._con)
            self._con = None
            self._open()
        return self._con  # type: ignore[return-value]

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._listing = {}
            con, self._con = self._con, None
            if con is not None and self._pid == os.getpid():
                try:
                    con.close()
                except sqlite3.Error:
                    pass
        with self._changed:
            self._changed.notify_all()

    def __repr__(self) -> str:
        ro = ", read_only=True" if self.read_only else ""
        return f"SQLiteStore({self.path!r}, synchronous={self.synchronous!r}{ro})"

    # -- reads ----------------------------------------------------------------------------------

    def get(self, kind: str, key: str) -> Optional[Record]:
        """The record at ``key``, or None; :class:`UnreadableRecordError` naming it when its value
        cannot be read back (not UTF-8, not JSON, not an object)."""
        with self._lock:
            con = self._connection()
            try:
                try:
                    row = con.execute(
                        "SELECT value, revision, create_revision FROM fastcidr_records"
                        " WHERE kind = ? AND key = ?",
                        (kind, key),
                    ).fetchone()
                except sqlite3.OperationalError as e:
                    if not _is_decode_error(e):
                        raise
                    # text that is not UTF-8: read the bytes, and say so below
                    row = con.execute(
                        "SELECT CAST(value AS BLOB), revision, create_revision FROM fastcidr_records"
                        " WHERE kind = ? AND key = ?",
                        (kind, key),
                    ).fetchone()
            except sqlite3.Error as e:
                raise self._error(e) from None
        if row is None:
            return None
        try:
            value = decode_value(row[0], _loads)
        except ValueError as e:
            raise UnreadableRecordError(kind, key, str(e)) from None
        return Record(kind, key, value, row[1], row[2])

    def list(self, kind: str) -> Tuple[List[Record], int]:
        return self._list(kind, "value", kind)

    def list_projection(self, kind: str) -> Tuple[List[Record], int]:
        """Records whose values are ``project(kind, value)`` where the row keeps it (the whole
        value otherwise): ~10x less JSON to decode at start-up."""
        return self._list(kind, self._projection, "projection:" + kind)

    def list_projection_raw(self, kind: str) -> Tuple[List[Tuple[str, Any, int]], int]:
        """(key, projection JSON text, revision) rows as stored, no decoding at all: start-up
        recognises the consistent majority of IPAddresses from their text."""
        with self._lock:
            con = self._connection()
            try:
                con.execute("BEGIN")
                try:
                    revision = con.execute(
                        "SELECT value FROM fastcidr_state WHERE name = 'revision'"
                    ).fetchone()[0]
                    query = f"SELECT key, {self._projection}, revision FROM fastcidr_records WHERE kind = ?"
                    try:
                        rows = con.execute(query, (kind,)).fetchall()
                    except sqlite3.OperationalError as e:
                        if not _is_decode_error(e):
                            raise
                        rows = self._rows_as_bytes(con, kind, self._projection, 3)
                finally:
                    con.execute("COMMIT")
            except sqlite3.Error as e:
                raise self._error(e) from None
        return rows, revision

    def decode_projection(self, raw: Any) -> Any:
        """The value of a :meth:`list_projection_raw` item; ``ValueError`` saying what is wrong
        when the stored text cannot be read (the caller knows the key)."""
        return decode_value(raw, _loads) if isinstance(raw, (str, bytes)) else raw

    def _rows_as_bytes(self, con: sqlite3.Connection, kind: str, column: str, width: int) -> List[Any]:
        """The rows of one kind when some text in them is not UTF-8 (sqlite3 refuses to fetch
        those): keys and values read as bytes, the keys decoded here, the values left for
        :func:`_values`/:meth:`decode_projection` to judge. A row whose key is not text cannot
        be named by key at all: it is reported and left out."""
        extra = ", revision, create_revision" if width == 4 else ", revision"
        rows = con.execute(
            f"SELECT CAST(key AS BLOB), CAST({column} AS BLOB){extra} FROM fastcidr_records WHERE kind = ?",
            (kind,),
        ).fetchall()
        out = []
        for row in rows:
            try:
                key = bytes(row[0]).decode("utf-8")
            except UnicodeDecodeError:
                self.note_unreadable(kind, bytes(row[0]).decode("utf-8", "replace"), "the key is not valid UTF-8")
                continue
            value: Any = bytes(row[1])
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                pass  # judged (and reported) where the value is decoded
            out.append((key, value) + tuple(row[2:]))
        return out

    def _list(self, kind: str, column: str, cache_key: str) -> Tuple[List[Record], int]:
        cached = self._listing.get(cache_key)
        if cached is not None:
            # Start-up lists the same kind twice in a row (rebuild, then repair): while nobody
            # wrote, hand out the same decoded records again (records are read-only, as with
            # MemoryStore). Kept briefly, so a big listing does not pin memory.
            cached_revision, cached_records, expires = cached
            if time.monotonic() < expires and self.current_revision() == cached_revision:
                return list(cached_records), cached_revision
            self._listing.pop(cache_key, None)
        with self._lock:
            con = self._connection()
            try:
                con.execute("BEGIN")
                try:
                    revision = con.execute(
                        "SELECT value FROM fastcidr_state WHERE name = 'revision'"
                    ).fetchone()[0]
                    note = functools.partial(self.note_unreadable, kind)
                    cursor = con.execute(
                        f"SELECT key, {column}, revision, create_revision FROM fastcidr_records"
                        " WHERE kind = ?",
                        (kind,),
                    )
                    # decoded in slices: the rows' JSON text need not all be alive at once
                    records: List[Record] = []
                    try:
                        while True:
                            rows = cursor.fetchmany(_LIST_SLICE)
                            if not rows:
                                break
                            records.extend(_records(kind, rows, note))
                    except sqlite3.OperationalError as e:
                        if not _is_decode_error(e):
                            raise
                        # some text is not UTF-8: list again from the bytes (same transaction)
                        records = _records(kind, self._rows_as_bytes(con, kind, column, 4), note)
                finally:
                    con.execute("COMMIT")
            except sqlite3.Error as e:
                raise self._error(e) from None
        if len(records) >= _CACHE_LISTINGS_FROM:
            self._listing[cache_key] = (revision, records, time.monotonic() + _LISTING_TTL)
        else:
            self._listing.pop(cache_key, None)
        return records, revision

    def current_revision(self) -> int:
        with self._lock:
            con = self._connection()
            try:
                return con.execute(
                    "SELECT value FROM fastcidr_state WHERE name = 'revision'"
                ).fetchone()[0]
            except sqlite3.Error as e:
                raise self._error(e) from None

    def changes_since(self, revision: int) -> Tuple[List[Change], int]:
        with self._lock:
            con = self._connection()
            try:
                current = con.execute(
                    "SELECT value FROM fastcidr_state WHERE name = 'revision'"
                ).fetchone()[0]
                if current <= revision:  # nothing new: one statement, no read transaction
                    return [], current
                con.execute("BEGIN")
                try:
                    state = dict(con.execute("SELECT name, value FROM fastcidr_state").fetchall())
                    if revision < state["compacted"]:
                        raise Compacted(
                            f"store {self._shown}: revision {revision} is compacted "
                            f"(the change log starts after {state['compacted']})"
                        )
                    query = ("SELECT revision, type, kind, key, {}, created FROM fastcidr_changes"
                             " WHERE revision > ? ORDER BY revision, id")
                    try:
                        rows = con.execute(query.format("value"), (revision,)).fetchall()
                    except sqlite3.OperationalError as e:
                        if not _is_decode_error(e):
                            raise
                        rows = con.execute(query.format("CAST(value AS BLOB)"), (revision,)).fetchall()
                finally:
                    con.execute("COMMIT")
            except sqlite3.Error as e:
                raise self._error(e) from None
        changes = []
        for rev, t, kind, key, v, created in rows:
            if v is not None:
                try:
                    v = decode_value(v, _loads)
                except ValueError as e:
                    # the change happened (a reader keyed on it must see it), its value is gone
                    self.note_unreadable(kind, key, f"in the change log: {e}")
                    v = None
            changes.append(Change(t, kind, key, v, rev, created=bool(created)))
        return changes, state["revision"]

    def wait_for_change(self, revision: int, timeout: float) -> bool:
        # Commits in this process notify at once; other processes' commits are seen by polling.
        deadline = time.monotonic() + timeout
        while True:
            if self.current_revision() > revision:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._changed:
                if self._closed:
                    raise StoreError(f"store {self._shown} is closed")
                self._changed.wait(min(remaining, 0.02))

    # -- writes ---------------------------------------------------------------------------------

    def commit(self, ops: Sequence[Op]) -> int:
        if self.read_only:
            self._connection()  # a closed store says so first
            raise self._read_only_error(self._read_only_why)
        ops = list(ops)
        texts: List[Optional[str]] = []
        projections: List[Optional[str]] = []
        projector = self.projector
        for op in ops:
            if isinstance(op, (Create, Put)):
                texts.append(_dumps(op.value))
                small = projector(op.kind, op.value) if projector is not None else None
                projections.append(None if small is None else _dumps(small))
            elif isinstance(op, (Delete, Require)):
                texts.append(None)
                projections.append(None)
            else:
                raise TypeError(f"not a store operation: {op!r}")
        with self._lock:
            con = self._connection()
            try:
                con.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                raise self._error(e) from None
            try:
                revision = self._apply(con, ops, texts, projections)
                con.execute("COMMIT")
            except BaseException as e:
                try:
                    if con.in_transaction:
                        con.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                if isinstance(e, sqlite3.Error):
                    raise self._error(e) from None
                raise
        self._listing = {}
        with self._changed:
            self._changed.notify_all()
        return revision

    def unreadable(self) -> List[Tuple[str, str, str]]:
        """Every record whose value cannot be read back, as (kind, key, reason), by kind and key."""
        with self._lock:
            con = self._connection()
            try:
                rows = con.execute(
                    "SELECT kind, CAST(key AS BLOB), CAST(value AS BLOB) FROM fastcidr_records"
                    " ORDER BY kind, key"
                ).fetchall()
            except sqlite3.Error as e:
                raise self._error(e) from None
        found = []
        for kind, key, value in rows:
            try:
                key_text = bytes(key).decode("utf-8")
            except UnicodeDecodeError:
                found.append((kind, bytes(key).decode("utf-8", "replace"), "the key is not valid UTF-8"))
                continue
            try:
                decode_value(bytes(value), _loads)
            except ValueError as e:
                found.append((kind, key_text, str(e)))
        return found

    def remove_record(self, kind: str, key: str) -> int:
        """Delete one record by key without reading its value (which may be unreadable): the
        change log records the deletion with no last value. Returns the new revision (the
        current one when there was no such record)."""
        if self.read_only:
            self._connection()
            raise self._read_only_error(self._read_only_why)
        with self._lock:
            con = self._connection()
            try:
                con.execute("BEGIN IMMEDIATE")
                try:
                    current = con.execute(
                        "SELECT value FROM fastcidr_state WHERE name = 'revision'").fetchone()[0]
                    gone = con.execute(
                        "DELETE FROM fastcidr_records WHERE kind = ? AND key = ?", (kind, key)).rowcount
                    revision = current
                    if gone:
                        revision = current + 1
                        con.execute("UPDATE fastcidr_state SET value = ? WHERE name = 'revision'", (revision,))
                        con.execute(
                            "INSERT INTO fastcidr_changes (revision, type, kind, key, value, created)"
                            " VALUES (?, 'DELETE', ?, ?, NULL, 0)", (revision, kind, key))
                    con.execute("COMMIT")
                except BaseException:
                    if con.in_transaction:
                        con.execute("ROLLBACK")
                    raise
            except sqlite3.Error as e:
                raise self._error(e) from None
        self._listing = {}
        with self._changed:
            self._changed.notify_all()
        return revision  # type: ignore[no-any-return]

    def _first_conflict(self, con: sqlite3.Connection, ops: Sequence[Op]) -> TxnConflict:
        """The conflict memory semantics report: the first op whose condition fails."""
        for index, op in enumerate(ops):
            row = con.execute(
                "SELECT revision FROM fastcidr_records WHERE kind = ? AND key = ?", (op.kind, op.key)
            ).fetchone()
            actual = row[0] if row else None
            expect = ABSENT if isinstance(op, Create) else op.expect
            if not check_expect(expect, actual):
                return TxnConflict(index, op, actual)
        raise AssertionError("no conflicting operation found")  # pragma: no cover

    def _apply(self, con: sqlite3.Connection, ops: List[Op], texts: List[Optional[str]],
               projections: List[Optional[str]]) -> int:
        current = con.execute("SELECT value FROM fastcidr_state WHERE name = 'revision'").fetchone()[0]
        revision = current + 1
        # Keys written twice in one commit take the slow, general path (checks against the state
        # before the commit, then applied in order), exactly as the memory store does.
        unique = len({(op.kind, op.key) for op in ops}) == len(ops)
        # Checks. Creates are checked by the primary key when inserted (fast for big batches).
        old: Dict[int, Optional[Tuple[str, int, int]]] = {}
        for index, op in enumerate(ops):
            if isinstance(op, Create) or (unique and isinstance(op, Put) and op.expect is ABSENT):
                if not unique:
                    row = con.execute(
                        "SELECT revision FROM fastcidr_records WHERE kind = ? AND key = ?",
                        (op.kind, op.key),
                    ).fetchone()
                    if row is not None:
                        raise self._first_conflict(con, ops)
                continue
            row = con.execute(
                "SELECT value, revision, create_revision FROM fastcidr_records"
                " WHERE kind = ? AND key = ?",
                (op.kind, op.key),
            ).fetchone()
            if not check_expect(op.expect, row[1] if row else None):
                raise self._first_conflict(con, ops)
            old[index] = row
        if all(isinstance(op, Require) for op in ops):
            return current
        if unique:
            # Creates first, in one statement; a key that exists fails the primary key. The
            # savepoint undoes the rows inserted before it, so the conflict is found in the old state.
            inserts = [
                (op.kind, op.key, texts[index], revision, revision, projections[index])
                for index, op in enumerate(ops)
                if isinstance(op, (Create, Put)) and index not in old
            ]
            if len(inserts) == 1:  # one statement is atomic by itself
                try:
                    con.execute(_INSERT_RECORD, inserts[0])
                except sqlite3.IntegrityError:
                    raise self._first_conflict(con, ops) from None
            elif inserts:
                con.execute("SAVEPOINT fastcidr_creates")
                try:
                    con.executemany(_INSERT_RECORD, inserts)
                except sqlite3.IntegrityError:
                    con.execute("ROLLBACK TO fastcidr_creates")
                    raise self._first_conflict(con, ops) from None
                con.execute("RELEASE fastcidr_creates")
        log = []
        for index, op in enumerate(ops):
            if isinstance(op, Require):
                continue
            if isinstance(op, Delete):
                row = old[index] if unique else con.execute(
                    "SELECT value FROM fastcidr_records WHERE kind = ? AND key = ?",
                    (op.kind, op.key),
                ).fetchone()
                if row is not None:
                    con.execute(
                        "DELETE FROM fastcidr_records WHERE kind = ? AND key = ?", (op.kind, op.key)
                    )
                    log.append((revision, "DELETE", op.kind, op.key, row[0], 0))
                continue
            text = texts[index]
            if index not in old:  # a Create (or Put expecting ABSENT)
                created = 1
                if not unique:  # an earlier op of this commit may have written the key already
                    created = con.execute(
                        "SELECT 1 FROM fastcidr_records WHERE kind = ? AND key = ?", (op.kind, op.key)
                    ).fetchone() is None
                    con.execute(
                        _UPSERT_RECORD, (op.kind, op.key, text, revision, revision, projections[index])
                    )
                log.append((revision, "PUT", op.kind, op.key, text, int(created)))
                continue
            row = old[index]
            if not unique:
                row = con.execute(
                    "SELECT value, revision FROM fastcidr_records WHERE kind = ? AND key = ?",
                    (op.kind, op.key),
                ).fetchone()
            con.execute(_UPSERT_RECORD, (op.kind, op.key, text, revision, revision, projections[index]))
            log.append((revision, "PUT", op.kind, op.key, text, 0 if row else 1))
        con.execute("UPDATE fastcidr_state SET value = ? WHERE name = 'revision'", (revision,))
        if len(log) > self._log_limit // 2:
            # A commit this big would flush the log anyway: record it as compacted instead of
            # writing every change twice (readers that are behind re-list).
            con.execute("DELETE FROM fastcidr_changes")
            con.execute("UPDATE fastcidr_state SET value = ? WHERE name = 'compacted'", (revision,))
        else:
            con.executemany(
                "INSERT INTO fastcidr_changes (revision, type, kind, key, value, created)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                log,
            )
            if revision % self._compact_every == 0 or len(log) > 64:  # may overshoot a little
                self._compact(con)
        return revision

    def _compact(self, con: sqlite3.Connection) -> None:
        """Keep the change log bounded: when it exceeds ``log_limit`` rows, drop the older half
        (whole revisions only) and remember the newest dropped revision. (Checked every few
        commits, so the log may exceed the limit by a quarter.)"""
        # two queries: SQLite answers min() and max() alone from the index, but not together
        low = con.execute("SELECT min(id) FROM fastcidr_changes").fetchone()[0]
        high = con.execute("SELECT max(id) FROM fastcidr_changes").fetchone()[0]
        if low is None or high - low + 1 <= self._log_limit:
            return
        cut = con.execute(
            "SELECT revision FROM fastcidr_changes WHERE id <= ? ORDER BY id DESC LIMIT 1",
            (high - self._log_limit // 2,),
        ).fetchone()[0]
        con.execute("DELETE FROM fastcidr_changes WHERE revision <= ?", (cut,))
        con.execute(
            "UPDATE fastcidr_state SET value = max(value, ?) WHERE name = 'compacted'", (cut,)
        )
