"""Stores: the durable truth behind a Cluster. ``open_store(url)`` picks one from a URL."""
from __future__ import annotations

from .base import (  # noqa: F401
    ABSENT,
    Change,
    Compacted,
    Create,
    Delete,
    Put,
    ReadOnlyStoreError,
    Record,
    Require,
    Store,
    TxnConflict,
    UnknownOutcomeError,
    UnreadableRecordError,
)
from .memory import MemoryStore  # noqa: F401
from .urls import open_store  # noqa: F401


def __getattr__(name: str) -> object:
    # The durable stores load lazily: importing fastcidr.store must not import sqlite3/requests.
    if name == "SQLiteStore":
        from .sqlite import SQLiteStore

        return SQLiteStore
    if name == "EtcdStore":
        from .etcd import EtcdStore

        return EtcdStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
