"""The in-memory store: the reference implementation of the store interface."""
from __future__ import annotations

import copy
import threading
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..errors import StoreError
from .base import (
    Change,
    Compacted,
    Create,
    Op,
    Put,
    Record,
    Require,
    Store,
    TxnConflict,
    check_expect,
    expected_of,
)

__all__ = ["MemoryStore"]

_new = object.__new__
# Change is a frozen dataclass: setting its fields directly builds the same object ~1.5x faster
# than its __init__ (and, unlike writing obj.__dict__, adds no dict per object for the cyclic
# collector to walk). Record is a named tuple, built straight from its fields.
_set = object.__setattr__
_tuple_new = tuple.__new__


def _record(kind: str, key: str, value: Dict[str, Any], revision: int, create_revision: int) -> Record:
    return _tuple_new(Record, (kind, key, value, revision, create_revision))


def _change(type_: str, kind: str, key: str, value: Optional[Dict[str, Any]], revision: int,
            created: bool) -> Change:
    change = _new(Change)
    _set(change, "type", type_)
    _set(change, "kind", kind)
    _set(change, "key", key)
    _set(change, "value", value)
    _set(change, "revision", revision)
    _set(change, "created", created)
    return change


def _as_change(entry: Any) -> Change:
    """A change-log entry as a Change: a PUT is logged as the Record it stored (one object per
    write instead of two for the cyclic collector to walk, and no second allocation)."""
    if type(entry) is Record:
        return _change("PUT", entry.kind, entry.key, entry.value, entry.revision,
                       entry.create_revision == entry.revision)
    return entry  # type: ignore[no-any-return]


class MemoryStore(Store):
    """Keeps everything in dicts; the change log keeps the last ``log_limit`` changes.

    >>> s = MemoryStore()
    >>> s.commit([Create("meta", "k", {"v": 1})])
    1
    >>> s.get("meta", "k").value
    {'v': 1}
    """

    shared = False

    def __init__(self, log_limit: int = 100_000, *, copy_values: bool = True) -> None:
        self.url = "memory:"
        # copy_values=False: the store keeps the caller's dicts (the Cluster builds a fresh one per
        # write and never touches it again); a deep copy of a big value costs more than building it.
        self._copy_values = copy_values
        self._data: Dict[str, Dict[str, Record]] = {}
        self._revision = 0
        # PUTs are logged as their Record (see _as_change), DELETEs (and the rare PUT that the
        # Record alone would misreport) as a Change
        self._log: List[Any] = []
        self._log_limit = log_limit
        self._compacted = 0  # changes with revision <= this are gone from the log
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("store memory: is closed")

    def get(self, kind: str, key: str) -> Optional[Record]:
        with self._lock:
            if self._closed:
                self._check_open()
            table = self._data.get(kind)
            return table.get(key) if table is not None else None

    def list(self, kind: str) -> Tuple[List[Record], int]:
        with self._lock:
            self._check_open()
            return list(self._data.get(kind, {}).values()), self._revision

    def commit(self, ops: Sequence[Op]) -> int:
        with self._lock:
            if self._closed:
                self._check_open()
            data = self._data
            writes = False
            for index, op in enumerate(ops):
                table = data.get(op.kind)
                current = table.get(op.key) if table is not None else None
                if type(op) is Create:  # the common case, without the generic condition calls
                    if current is not None:
                        raise TxnConflict(index, op, current.revision)
                    writes = True
                    continue
                actual = current.revision if current is not None else None
                if not check_expect(expected_of(op), actual):
                    raise TxnConflict(index, op, actual)
                writes = writes or type(op) is not Require
            if not writes:
                return self._revision
            self._revision += 1
            rev = self._revision
            append = self._log.append
            copy_values = self._copy_values
            for op in ops:
                cls = type(op)
                if cls is Require:
                    continue
                kind, key = op.kind, op.key
                table = data.get(kind)
                if table is None:
                    table = data[kind] = {}
                if cls is Create or cls is Put:
                    value = op.value  # type: ignore[union-attr]
                    if copy_values:  # a caller mutating its dict later cannot change stored state
                        value = copy.deepcopy(value)
                    old = table.get(key)
                    record = table[key] = _record(kind, key, value, rev, old.create_revision if old else rev)
                    if old is None or old.create_revision != rev:
                        append(record)
                    else:  # the key was created earlier in this same commit: not "created" here
                        append(_change("PUT", kind, key, value, rev, False))
                else:
                    old = table.pop(key, None)
                    if old is not None:
                        append(_change("DELETE", kind, key, old.value, rev, False))
            self._after_write()
            return rev

    def create_all(self, entries: Sequence[Tuple[str, str, Dict[str, Any]]]) -> int:
        # commit() of Create operations without building them: the conditions, then the writes
        with self._lock:
            if self._closed:
                self._check_open()
            data = self._data
            for index, (kind, key, value) in enumerate(entries):
                table = data.get(kind)
                if table is not None and key in table:
                    raise TxnConflict(index, Create(kind, key, value), table[key].revision)
            if not entries:
                return self._revision
            rev = self._revision = self._revision + 1
            log = self._log
            copy_values = self._copy_values
            for kind, key, value in entries:
                table = data.get(kind)
                if table is None:
                    table = data[kind] = {}
                if copy_values:
                    value = copy.deepcopy(value)
                # the same key twice in one call is, as commit() takes it, a second write
                again = key in table
                record = table[key] = _tuple_new(Record, (kind, key, value, rev, rev))
                log.append(_change("PUT", kind, key, value, rev, False) if again else record)
            if len(log) > self._log_limit or self._cond._waiters:  # type: ignore[attr-defined]
                self._after_write()
            return rev

    def _after_write(self) -> None:
        log = self._log
        if len(log) > self._log_limit:
            drop = len(log) - self._log_limit // 2
            self._compacted = log[drop - 1].revision
            del log[:drop]
        if self._cond._waiters:  # type: ignore[attr-defined]  # notify only when someone waits
            self._cond.notify_all()

    def changes_since(self, revision: int) -> Tuple[List[Change], int]:
        with self._lock:
            self._check_open()
            if revision < self._compacted:
                raise Compacted(f"store memory: revision {revision} is compacted")
            # the log is sorted by revision: binary search for the first newer change
            lo, hi = 0, len(self._log)
            while lo < hi:
                mid = (lo + hi) // 2
                if self._log[mid].revision <= revision:
                    lo = mid + 1
                else:
                    hi = mid
            return [_as_change(entry) for entry in self._log[lo:]], self._revision

    def unreadable(self) -> List[Tuple[str, str, str]]:
        """Records whose value is not a dict (only a caller committing one can put it there)."""
        with self._lock:
            self._check_open()
            return sorted((kind, key, f"value is a {type(rec.value).__name__}, not an object")
                          for kind, table in self._data.items() for key, rec in table.items()
                          if type(rec.value) is not dict)

    def current_revision(self) -> int:
        with self._lock:
            self._check_open()
            return self._revision

    def wait_for_change(self, revision: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._revision > revision or self._closed, timeout)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
