"""The in-memory store a ``Cluster`` uses when it is given no store.

It is a :class:`~fastcidr.store.memory.MemoryStore` that takes ownership of the values it is
given instead of deep-copying them: the Cluster builds a fresh dict for every write and never
touches it again, and a deep copy of a Service's wire form costs ~20 µs, twice the whole budget
of ``create_service``. Readers get the stored dicts, exactly as from ``MemoryStore`` (whose
records and change log share one dict per write too): treat them as read-only.
"""
from __future__ import annotations

from typing import Sequence

from ..store.base import Change, Create, Delete, Op, Put, Record, Require, TxnConflict, check_expect, expected_of
from ..store.memory import MemoryStore

__all__ = ["OwnedMemoryStore"]


class OwnedMemoryStore(MemoryStore):
    """``MemoryStore`` whose ``commit`` stores the given values without copying them."""

    def commit(self, ops: Sequence[Op]) -> int:
        with self._lock:
            self._check_open()
            data = self._data
            for index, op in enumerate(ops):
                current = data.get(op.kind, {}).get(op.key)
                actual = current.revision if current is not None else None
                if not check_expect(expected_of(op), actual):
                    raise TxnConflict(index, op, actual)
            if all(isinstance(op, Require) for op in ops):
                return self._revision
            self._revision += 1
            rev = self._revision
            log = self._log
            for op in ops:
                table = data.get(op.kind)
                if table is None:
                    table = data[op.kind] = {}
                if isinstance(op, (Create, Put)):
                    old = table.get(op.key)
                    table[op.key] = Record(op.kind, op.key, op.value, rev, old.create_revision if old else rev)
                    log.append(Change("PUT", op.kind, op.key, op.value, rev, old is None))
                elif isinstance(op, Delete):
                    old = table.pop(op.key, None)
                    if old is not None:
                        log.append(Change("DELETE", op.kind, op.key, old.value, rev))
            if len(log) > self._log_limit:
                drop = len(log) - self._log_limit // 2
                self._compacted = log[drop - 1].revision
                del log[:drop]
            self._cond.notify_all()
            return rev
