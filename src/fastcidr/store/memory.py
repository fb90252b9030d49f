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
    Delete,
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


class MemoryStore(Store):
    """Keeps everything in dicts; the change log keeps the last ``log_limit`` changes.

    >>> s = MemoryStore()
    >>> s.commit([Create("meta", "k", {"v": 1})])
    1
    >>> s.get("meta", "k").value
    {'v': 1}
    """

    shared = False

    def __init__(self, log_limit: int = 100_000) -> None:
        self.url = "memory:"
        self._data: Dict[str, Dict[str, Record]] = {}
        self._revision = 0
        self._log: List[Change] = []
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
            self._check_open()
            return self._data.get(kind, {}).get(key)

    def list(self, kind: str) -> Tuple[List[Record], int]:
        with self._lock:
            self._check_open()
            return list(self._data.get(kind, {}).values()), self._revision

    def commit(self, ops: Sequence[Op]) -> int:
        with self._lock:
            self._check_open()
            for index, op in enumerate(ops):
                current = self._data.get(op.kind, {}).get(op.key)
                actual = current.revision if current is not None else None
                if not check_expect(expected_of(op), actual):
                    raise TxnConflict(index, op, actual)
            if not any(not isinstance(op, Require) for op in ops):
                return self._revision
            self._revision += 1
            rev = self._revision
            for op in ops:
                table = self._data.setdefault(op.kind, {})
                if isinstance(op, (Create, Put)):
                    # values are copied so a caller mutating its dict cannot change stored state
                    value = copy.deepcopy(op.value)
                    old = table.get(op.key)
                    table[op.key] = Record(
                        op.kind, op.key, value, rev, old.create_revision if old else rev
                    )
                    self._log.append(Change("PUT", op.kind, op.key, value, rev, created=old is None))
                elif isinstance(op, Delete):
                    old = table.pop(op.key, None)
                    if old is not None:
                        self._log.append(Change("DELETE", op.kind, op.key, old.value, rev))
            if len(self._log) > self._log_limit:
                drop = len(self._log) - self._log_limit // 2
                self._compacted = self._log[drop - 1].revision
                del self._log[:drop]
            self._cond.notify_all()
            return rev

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
            return self._log[lo:], self._revision

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
