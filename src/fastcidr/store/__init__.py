"""Stores: the durable truth behind a Cluster. ``open_store(url)`` picks one from a URL."""
from __future__ import annotations

from .base import (  # noqa: F401
    ABSENT,
    Change,
    Compacted,
    Create,
    Delete,
    Put,
    Record,
    Require,
    Store,
    TxnConflict,
)
from .memory import MemoryStore  # noqa: F401
