"""Importing a dump (``kubectl get servicecidr,ipaddress,services -A -o json``) into a Cluster.

Two parts, both made for dumps of 100,000s of objects (docs/observability.md "Import"):

* :func:`iter_json_documents` reads JSON from a file item by item: the ``items`` of a ``List`` (or
  the elements of a top-level array) are decoded one at a time from a bounded buffer, so a
  200 MB dump never exists as one string nor as one tree of dicts.
* :func:`import_into` (``Cluster.import_objects``) reads every object into its class once (the
  same normalisation as before: defaults, canonical wire form), keeps only its compact JSON text
  (in a temporary file),
  and only when *all* objects were read (a bad one raises before anything is written) writes them
  in batches of :data:`BATCH` objects, each one store transaction. The caches are rebuilt once,
  at the end, then the controllers and ``repair()`` run.

Batches rather than one transaction: a single commit of 200,000 values holds them all as dicts
at once (~4 KB each), and etcd caps a transaction at 128 operations anyway. Writes are plain
puts (same-named objects replaced), so an import that a store failure cut short is finished by
running it again.

>>> import io
>>> text = '{"apiVersion": "v1", "items": [{"kind": "Service"}, {"kind": "IPAddress"}], "kind": "List"}'
>>> [d["kind"] for d in iter_json_documents(io.StringIO(text), chunk_size=7)]
['Service', 'IPAddress']
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from typing import IO, TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

from .._log import get_logger
from ..errors import ValidationError
from ..store.base import Create, Put, TxnConflict
from . import validation as V
from ._index import DEFAULT_NAME
from .allocation import held_node_ports
from .layout import IPADDRESSES, META, RANGE_KEY, SERVICECIDRS, SERVICES
from .nodeports import node_port_key
from .objects import IPAddress, Service, ServiceCIDR

if TYPE_CHECKING:  # pragma: no cover
    from .cluster import Cluster

__all__ = ["iter_json_documents", "flatten_lists", "import_into", "BATCH", "DumpError"]

log = get_logger(__name__)

#: objects per store transaction while importing
BATCH = 10_000

_orjson: Any
try:  # the store's own optional fast JSON (a dependency of nothing here: the stdlib does the same)
    import orjson as _orjson

    def _encode(value: Any) -> bytes:
        return _orjson.dumps(value)

    _decode: Callable[[Any], Any] = _orjson.loads
except ImportError:  # pragma: no cover - orjson is optional
    _stdlib_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

    def _encode(value: Any) -> bytes:
        return _stdlib_encode(value).encode()  # type: ignore[no-any-return]

    _decode = json.loads
    _orjson = None

_WHITESPACE = " \t\n\r"
_decoder = json.JSONDecoder()


class DumpError(ValueError):
    """The input is not JSON (the message is ``json``'s, with the position)."""


class _Reader:
    """A window on a text stream: ``buf[pos:]`` is what is not consumed yet."""

    def __init__(self, handle: IO[str], chunk_size: int) -> None:
        self.handle = handle
        self.chunk_size = chunk_size
        self.buf = ""
        self.pos = 0
        self.offset = 0  # characters dropped from the front of buf (for error positions)
        self.eof = False

    def more(self) -> bool:
        """Read another chunk (compacting the buffer first); False at the end of the input."""
        if self.eof:
            return False
        chunk = self.handle.read(max(self.chunk_size, len(self.buf) - self.pos))
        if not chunk:
            self.eof = True
            return False
        if self.pos:
            self.offset += self.pos
            self.buf = self.buf[self.pos:]
            self.pos = 0
        self.buf += chunk
        return True

    def peek(self) -> str:
        """The next non-whitespace character ('' at the end), not consumed."""
        while True:
            buf, pos = self.buf, self.pos
            while pos < len(buf) and buf[pos] in _WHITESPACE:
                pos += 1
            self.pos = pos
            if pos < len(buf):
                return buf[pos]
            if not self.more():
                return ""

    def expect(self, chars: str) -> str:
        char = self.peek()
        if not char or char not in chars:
            self.fail(f"Expecting {' or '.join(repr(c) for c in chars)}")
        self.pos += 1
        return char

    def value(self) -> Any:
        """Decode one JSON value. A value that ends where the buffer ends may be cut short (a
        number), and one that fails may just be incomplete: read more and decode again."""
        self.peek()  # (the decoder does not skip leading whitespace)
        while True:
            try:
                value, end = _decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self.more():
                    continue
                raise DumpError(f"{exc.msg}: line {exc.lineno} column {exc.colno} "
                                f"(char {exc.pos + self.offset})") from None
            if end >= len(self.buf) and self.more():
                continue
            self.pos = end
            return value

    def fail(self, message: str) -> None:
        raise DumpError(f"{message}: char {self.pos + self.offset}")


def iter_json_documents(handle: IO[str], *, chunk_size: int = 1 << 20, prefix: str = "") -> Iterator[Any]:
    """The documents of a JSON text, read item by item: a top-level array's elements, a
    top-level object with an ``items`` array (a ``List``) → its items, other objects → themselves.
    ``prefix``: text already read from ``handle``. Lists inside items are left to
    :func:`flatten_lists`. Bad JSON raises :class:`DumpError` when it is reached."""
    reader = _Reader(handle, chunk_size)
    reader.buf = prefix
    first = reader.peek()
    if first == "[":
        reader.pos += 1
        yield from _stream_array(reader)
    elif first == "{":
        reader.pos += 1
        top: Dict[str, Any] = {}
        streamed = False
        if reader.peek() == "}":
            reader.pos += 1
        else:
            while True:
                if reader.peek() != '"':
                    reader.fail("Expecting property name enclosed in double quotes")
                key = reader.value()
                reader.expect(":")
                if key == "items" and reader.peek() == "[" and not streamed:
                    reader.pos += 1
                    streamed = True
                    yield from _stream_array(reader)
                else:
                    top[key] = reader.value()
                if reader.expect(",}") == "}":
                    break
        if not streamed:
            yield top
    elif first == "":
        return
    else:
        yield reader.value()
    if reader.peek():
        reader.fail("Extra data")


def _stream_array(reader: _Reader) -> Iterator[Any]:
    """The elements of the array whose ``[`` was just consumed.

    The first two are decoded one by one (``json``). If they are objects, the text between them
    (``"\\n    },\\n    {"`` in kubectl's output) marks where one element ends and the next begins,
    and from then on :func:`_bulk` decodes a whole buffer of elements at once with ``orjson``."""
    if reader.peek() == "]":
        reader.pos += 1
        return
    separator: Optional[str] = None
    failures = 0
    first = True
    while True:
        if separator is not None and failures < 3:
            elements = _bulk(reader, separator)
            if elements is None:
                failures += 1
            else:
                yield from elements
                if reader.expect(",]") == "]":
                    return
                continue
        start = reader.pos
        value = reader.value()
        end = reader.pos
        yield value
        if reader.expect(",]") == "]":
            return
        if first and _orjson is not None and isinstance(value, dict):
            first = False
            if reader.peek() == "{" and reader.buf[end - 1] == "}" and start >= 0:
                # the closing brace's own line (its indentation), the brace, what follows it
                line = reader.buf.rfind("\n", start, end - 1)
                indent = reader.buf[line:end - 1] if line >= 0 and not reader.buf[line:end - 1].strip() else ""
                separator = indent + reader.buf[end - 1:reader.pos + 1]


def _bulk(reader: _Reader, separator: str) -> Optional[List[Any]]:
    """The elements from here to the last ``separator`` in the buffer, decoded at once, or None
    (nothing consumed) if there is no such stretch or it does not decode.

    Safe wherever the separator text appears: the stretch is decoded as ``[stretch]``, which is
    valid JSON only if it ends exactly at the end of a whole element (no valid element is a
    proper prefix of another, and the stretch ends with a closing brace)."""
    if len(reader.buf) - reader.pos < reader.chunk_size:
        reader.more()
    buf = reader.buf
    cut = buf.rfind(separator, reader.pos)
    if cut < 0:
        return None
    brace = buf.index("}", cut)
    try:
        elements = _orjson.loads("[" + buf[reader.pos:brace + 1] + "]")
    except (_orjson.JSONDecodeError, UnicodeEncodeError):  # not whole elements, or orjson's limits
        return None
    reader.pos = brace + 1
    return elements  # type: ignore[no-any-return]


def flatten_lists(documents: Iterable[Any]) -> Iterator[Any]:
    """Documents with ``List``s (``kind`` ending in ``List`` with an ``items`` array) replaced by
    their items, recursively; None (an empty YAML document) left out."""
    for doc in documents:
        if doc is None:
            continue
        if isinstance(doc, dict):
            kind = doc.get("kind")
            items = doc.get("items")
            if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
                yield from flatten_lists(items)
                continue
        yield doc


_CLASSES: Dict[str, Any] = {"ServiceCIDR": ServiceCIDR, "IPAddress": IPAddress, "Service": Service}


def _node_port_records(cluster: "Cluster", service: Service) -> List[Any]:
    """The node-port records of an imported Service, as the allocator would hold them (ports
    outside the range are left to the repair pass, which reports them)."""
    first, last = cluster._node_port_range
    return [Put(META, node_port_key(port), {"service": service.key})
            for port in held_node_ports(service) if first <= port <= last]


def _record(cluster: "Cluster", item: Any,
            node_ports: List[Any]) -> Optional[Tuple[str, str, bytes, Optional[List[str]]]]:
    """(store kind, key, compact JSON, the CIDRs if it is the ``kubernetes`` ServiceCIDR) of one
    object, or None for another kind. The object is read once into its class and written back in
    its canonical wire form; the item is the caller's and is not changed."""
    if isinstance(item, (ServiceCIDR, IPAddress, Service)):
        item = item.to_dict()
    if not isinstance(item, dict):
        raise TypeError(f"cannot import {item!r}")
    kind = item.get("kind")
    cls = _CLASSES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return None
    obj: Any = cls.from_dict(item)
    if not obj.name:
        raise ValidationError([V.required("metadata.name", "name or generateName is required")],
                              kind=kind, name="")
    obj.uid = obj.uid or cluster._uid()
    obj.creation_timestamp = obj.creation_timestamp or cluster._now()
    obj.resource_version = ""  # the store gives the revision
    text = _encode(obj.to_dict())
    if cls is Service:
        node_ports.extend(_node_port_records(cluster, obj))
        return SERVICES, obj.key, text, None
    if cls is IPAddress:
        return IPADDRESSES, obj.name, text, None
    return SERVICECIDRS, obj.name, text, (list(obj.cidrs) if obj.name == DEFAULT_NAME else None)


def _read_all(cluster: "Cluster", items: Iterable[Any], spool: IO[bytes],
              progress: Optional[Callable[[str, int], None]],
              node_ports: List[Any]) -> Tuple[List[Tuple[str, str, int, int]], Optional[List[str]]]:
    """Every object read and checked, its text in ``spool``: ((store kind, key, offset, length)
    of each, the CIDRs of the ``kubernetes`` ServiceCIDR if there is one). The node-port records
    of the Services are appended to ``node_ports``."""
    records: List[Tuple[str, str, int, int]] = []
    default_cidrs: Optional[List[str]] = None
    offset = 0
    write = spool.write
    for item in items:
        rec = _record(cluster, item, node_ports)
        if rec is None:
            continue
        store_kind, key, text, cidrs = rec
        write(text)
        records.append((store_kind, key, offset, len(text)))
        offset += len(text)
        if cidrs is not None:
            default_cidrs = cidrs
        if progress is not None and not len(records) % 1000:
            progress("reading", len(records))
    spool.flush()
    return records, default_cidrs


def _write_all(cluster: "Cluster", records: List[Tuple[str, str, int, int]], spool: IO[bytes],
               extra: List[Any], progress: Optional[Callable[[str, int], None]]) -> None:
    """Write the spooled objects in batches of :data:`BATCH` (``extra`` goes with the first)."""
    # in key order (a key given twice: the later one last): each batch then fills its own
    # stretch of the store's key index, and SQLite writes far fewer pages per transaction
    records.sort()
    fd = spool.fileno()
    written = 0
    for start in range(0, max(len(records), 1 if extra else 0), BATCH):
        chunk = records[start:start + BATCH]
        values = [_decode(os.pread(fd, length, at)) for _, _, at, length in chunk]
        try:
            # into an empty store (the usual case) every object is new: creates are checked by
            # the key's absence in one statement, where a put reads each old row first
            cluster._commit(extra + [Create(kind, key, value) for (kind, key, _, _), value in zip(chunk, values)])
        except TxnConflict:  # some exist: they are replaced
            cluster._commit(extra + [Put(kind, key, value) for (kind, key, _, _), value in zip(chunk, values)])
        extra = []
        written += len(chunk)
        if progress is not None:
            progress("writing", written)


def import_into(cluster: "Cluster", items: Any, *, progress: Optional[Callable[[str, int], None]] = None) -> int:
    """``Cluster.import_objects``: read every object, then write them in batches, then rebuild
    the caches and run the controllers and ``repair()``. ``progress(phase, count)`` is called
    now and then with phase ``"reading"``, ``"writing"`` or ``"rebuilding"``. Returns the number
    imported. The caller holds the Cluster's lock."""
    started = time.perf_counter()
    if isinstance(items, dict):
        items = items.get("items", []) if items.get("kind", "").endswith("List") or "items" in items else [items]
    # The compact texts wait in a temporary file, not in memory: freed, they would leave the
    # process's heap as large as they were, under the caches that the rebuild then makes.
    with tempfile.TemporaryFile(prefix="fastcidr-import-") as spool:
        node_ports: List[Any] = []  # at most one per port of the range: they go with the first batch
        records, default_cidrs = _read_all(cluster, items, spool, progress, node_ports)
        read = time.perf_counter()
        cluster._sync()
        extra: List[Any] = list({op.key: op for op in node_ports}.values())  # a port's last holder
        if not cluster._range and default_cidrs:
            extra.append(Put(META, RANGE_KEY, {"cidrs": default_cidrs}))
        total = len(records)
        _write_all(cluster, records, spool, extra, progress)
        del records
    wrote = time.perf_counter()
    if progress is not None:
        progress("rebuilding", total)
    cluster._rebuild_without_sync()
    cluster._controller_pass(None)
    cluster._ensure_default_service()
    cluster._repair()
    log.info("imported %d objects in %.2f s (read %.2f s, write %.2f s, rebuild and repair %.2f s)",
             total, time.perf_counter() - started, read - started, wrote - read, time.perf_counter() - wrote)
    return total
