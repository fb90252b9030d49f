"""The store interface: a durable, generic map from ``(kind, key)`` to JSON values.

A store maps ``(kind, key)`` to a JSON-serialisable ``value`` and stamps every write with a
global, strictly increasing ``revision`` (like etcd's mod revision). It knows nothing of what the
values mean: the layer above decides the kinds and keys (``fastcidr.k8s.layout``), and may give
the store a :attr:`Store.projector`, a function that picks
the part of a value it reads at start-up, which a store may keep apart (SQLite does).

Writes go through :meth:`Store.commit`, which applies a list of operations atomically: every
``expect`` condition holds and every operation is applied, or nothing is and
:class:`TxnConflict` names the first operation whose condition failed. This is the one primitive
that SQLite (a transaction) and etcd (a ``Txn`` with compares) both provide.

Readers catch up with other writers through :meth:`Store.changes_since` (a change log / etcd
watch history); when the log no longer reaches back that far, :class:`Compacted` tells the reader
to re-list.
"""
from __future__ import annotations

import abc
import contextlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Set,
    Tuple,
    TypeVar,
    Union,
)

from ..errors import (  # the store errors live with the others; re-exported here
    Compacted,
    ConflictError,
    ReadOnlyStoreError,
    StoreError,
    UnknownOutcomeError,
    UnreadableRecordError,
)

__all__ = [
    "ABSENT",
    "Record",
    "Change",
    "Create",
    "Put",
    "Delete",
    "Require",
    "Op",
    "TxnConflict",
    "Compacted",
    "Store",
    "Projector",
    "UnreadableRecordError",
    "ReadOnlyStoreError",
    "UnknownOutcomeError",
    "LOGGER_NAME",
]

#: The logger that reports damage a reader stepped around (a record a listing skipped).
LOGGER_NAME = "fastcidr.store"
_log = logging.getLogger(LOGGER_NAME)

#: ``projector(kind, value)``: the part of ``value`` a reader needs at start-up, in the value's own
#: shape, or None for the whole value.
Projector = Callable[[str, Any], Optional[Dict[str, Any]]]


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


#: ``expect=ABSENT``: the key must not exist.
ABSENT: Any = _Absent()


class Record(NamedTuple):
    """One stored object. Immutable; a named tuple because stores build one per object read
    or written, and a tuple is built ~4x faster than a frozen dataclass."""

    kind: str
    key: str
    value: Dict[str, Any]
    revision: int  # the revision of the last write to this key
    create_revision: int = 0


@dataclass(frozen=True)
class Change:
    type: str  # "PUT" or "DELETE"
    kind: str
    key: str
    value: Optional[Dict[str, Any]]  # the new value; for DELETE the last value (None if unknown)
    revision: int
    created: bool = False  # a PUT that created the key (watch: ADDED rather than MODIFIED)


@dataclass(frozen=True)
class Create:
    """Create ``key``; fails if it exists."""

    kind: str
    key: str
    value: Dict[str, Any]


@dataclass(frozen=True)
class Put:
    """Write ``key``. ``expect``: None = unconditional, an int = the key's current revision
    (compare-and-swap), ``ABSENT`` = same as :class:`Create`."""

    kind: str
    key: str
    value: Dict[str, Any]
    expect: Any = None


@dataclass(frozen=True)
class Delete:
    """Delete ``key`` (a no-op if absent, unless ``expect`` is an int revision)."""

    kind: str
    key: str
    expect: Any = None


@dataclass(frozen=True)
class Require:
    """A compare without a write: ``key`` is at revision ``expect`` (an int) or ``ABSENT``."""

    kind: str
    key: str
    expect: Any


Op = Union[Create, Put, Delete, Require]


class TxnConflict(ConflictError):
    """A condition of :meth:`Store.commit` failed; nothing was written."""

    def __init__(self, index: int, op: Op, actual_revision: Optional[int]) -> None:
        self.index = index
        self.op = op
        self.actual_revision = actual_revision  # None: the key is absent
        super().__init__(
            f"store conflict on {op.kind}/{op.key}: expected "
            f"{getattr(op, 'expect', ABSENT)!r}, found "
            f"{'absent' if actual_revision is None else actual_revision}"
        )



_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "a boolean", type(None): "null"}


def decode_value(raw: Any, loads: Callable[[str], Any] = json.loads) -> Dict[str, Any]:
    """The JSON object stored as ``raw`` (text, or bytes that should be UTF-8 text); raises
    ``ValueError`` whose message says what is wrong, in words a user can act on (no exception
    names): not UTF-8, not JSON, or JSON that is not an object."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"value is not valid UTF-8 (byte {e.start})") from None
    if not isinstance(raw, str):
        raise ValueError("value is not JSON text")
    try:
        value = loads(raw)
    except RecursionError:
        raise ValueError("value is not valid JSON (nested too deeply)") from None
    except ValueError as e:  # json.JSONDecodeError, orjson's, UnicodeDecodeError
        raise ValueError(f"value is not valid JSON ({e})") from None
    if type(value) is not dict:
        raise ValueError(f"value is {_JSON_TYPES.get(type(value), 'something else')}, not a JSON object")
    return value  # type: ignore[no-any-return]


def expected_of(op: Op) -> Any:
    """The condition an operation puts on its key (None = none)."""
    if isinstance(op, Create):
        return ABSENT
    return getattr(op, "expect", None)


def check_expect(expect: Any, actual: Optional[int]) -> bool:
    """Whether a key at revision ``actual`` (None = absent) satisfies ``expect``."""
    if expect is None:
        return True
    if expect is ABSENT:
        return actual is None
    return actual == expect


_S = TypeVar("_S", bound="Store")
_note_lock = threading.Lock()
_quiet = threading.local()


@contextlib.contextmanager
def quiet_unreadable() -> Iterator[None]:
    """Within this block (this thread), skipped records are counted but not warned about: for
    readers that report them themselves (``fastcidr store inspect``)."""
    before = getattr(_quiet, "on", False)
    _quiet.on = True
    try:
        yield
    finally:
        _quiet.on = before


class Store(abc.ABC):
    """Abstract store. Implementations are thread-safe."""

    url: str = ""
    #: True when other processes may write to the same store (SQLite file, etcd): a reader that
    #: keeps caches then catches up with :meth:`changes_since` before every decision.
    shared: bool = False
    #: What :meth:`list_projection` may cut values down to (set by the layer above, before it
    #: writes; None: values are never cut down). A store that keeps projections apart computes
    #: them on write, so a value written without a projector is read back whole (still correct).
    projector: Optional[Projector] = None
    #: True when the store only reads: every write raises :class:`ReadOnlyStoreError`.
    read_only: bool = False
    #: How many records listings have skipped as unreadable since the store was opened.
    unreadable_skipped: int = 0

    def note_unreadable(self, kind: str, key: str, reason: str) -> None:
        """Count a record a reader skipped as unreadable and warn about it on the
        ``fastcidr.store`` logger (once per record and reason: a server lists the same kinds
        again and again, and one line per damaged record is what an operator needs)."""
        warned: Set[Tuple[str, str, str]] = self.__dict__.setdefault("_unreadable_warned", set())
        with _note_lock:
            self.unreadable_skipped += 1
            first = (kind, key, reason) not in warned
            if first and len(warned) < 10_000:
                warned.add((kind, key, reason))
        if first and not getattr(_quiet, "on", False):
            _log.warning("skipped unreadable record %s/%s: %s", kind, key, reason)

    def unreadable(self) -> List[Tuple[str, str, str]]:
        """Every record whose value cannot be read back as a JSON object, as ``(kind, key,
        reason)``, by kind and key. Reads every record (maintenance, not a hot path); what the
        values should look like beyond that is the layer above's business."""
        return []

    def remove_record(self, kind: str, key: str) -> int:
        """Delete one record by key, whatever its value holds (the way to clear an unreadable
        record); returns the new revision. Nothing happens to other records."""
        return self.commit([Delete(kind, key)])

    def create_all(self, entries: Sequence[Tuple[str, str, Dict[str, Any]]]) -> int:
        """Create every ``(kind, key, value)`` of ``entries`` in one transaction; return the new
        revision. The same as :meth:`commit` of their :class:`Create` operations (and so raises
        :class:`TxnConflict` naming the first key that exists); a store may do it in fewer steps."""
        return self.commit([Create(kind, key, value) for kind, key, value in entries])

    @abc.abstractmethod
    def get(self, kind: str, key: str) -> Optional[Record]:
        """The record at ``key``, or None."""

    @abc.abstractmethod
    def list(self, kind: str) -> Tuple[List[Record], int]:
        """Every record of ``kind`` and the revision the listing is consistent with."""

    @abc.abstractmethod
    def commit(self, ops: Sequence[Op]) -> int:
        """Apply ``ops`` atomically; return the new revision. Raises :class:`TxnConflict`."""

    def list_projection(self, kind: str) -> Tuple[List[Record], int]:
        """Like :meth:`list`, but a record's value may be cut down to the :attr:`projector`'s part
        of it (never less; where it gives None, the whole value). Start-up reads only that
        part; stores that keep it apart (SQLite) answer without decoding whole objects. The
        default returns :meth:`list`: whole values hold every projected field."""
        return self.list(kind)

    def list_projection_raw(self, kind: str) -> Tuple[List[Tuple[str, Any, int]], int]:
        """Like :meth:`list_projection`, as ``(key, raw, revision)`` triples where ``raw`` is the
        projected value or, from a store that keeps it as JSON text (SQLite), that text undecoded:
        the caller decodes (:meth:`decode_projection`) only the few it must look into."""
        records, revision = self.list_projection(kind)
        return [(r.key, r.value, r.revision) for r in records], revision

    def decode_projection(self, raw: Any) -> Any:
        """The value behind a ``raw`` item of :meth:`list_projection_raw`."""
        return raw

    @abc.abstractmethod
    def changes_since(self, revision: int) -> Tuple[List[Change], int]:
        """Changes with revision > ``revision`` in order, and the current revision.

        Raises :class:`Compacted` when the log no longer reaches back that far."""

    @abc.abstractmethod
    def current_revision(self) -> int:
        """The revision of the latest committed write (0 for an empty store)."""

    def wait_for_change(self, revision: int, timeout: float) -> bool:
        """Block until the store's revision exceeds ``revision`` or ``timeout`` passes; return
        whether it did. The default polls; stores with a native notification override it."""
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            if self.current_revision() > revision:
                return True
            now = time.monotonic()
            if now >= deadline:
                return False
            time.sleep(min(delay, deadline - now))
            delay = min(delay * 2, 0.1)

    def close(self) -> None:
        """Release connections. Further calls raise :class:`StoreError`."""

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
