"""``Cluster``: the Service IP part of a Kubernetes control plane as a library (SPEC.md §3-§8).

The store is the truth; the allocation index (the core's ``MultiCIDRAllocator``) and the table of
ServiceCIDR objects are caches rebuilt from the store when a Cluster starts (then ``repair()``
runs) and kept current from the writes this Cluster makes and, on a shared store (SQLite, etcd),
from the store's change log before every decision. Every write is one ``store.commit``: a Service
and its IPAddress objects go together, and the controllers' side effects (finalizer, conditions,
the default ``kubernetes`` ServiceCIDR) are committed synchronously right after.

Thread safety: every public method holds one re-entrant lock for its whole duration, so calls
from several threads are serialised and each is atomic with respect to the others. Several
Clusters (threads, processes, machines) may share one SQLite file or etcd: allocation commits are
conditional on the store state they were decided on and are retried after a conflict.

>>> c = Cluster("10.96.0.0/28", seed=1)
>>> c.get_service("kubernetes").cluster_ip
'10.96.0.1'
>>> c.create_service("test-1").cluster_ip in [f"10.96.0.{i}" for i in range(2, 15)]
True
>>> c.close()
"""
from __future__ import annotations

import atexit
import datetime as _dt
import functools
import gc
import json
import os
import threading
import time
import uuid
import weakref
from collections import deque
from dataclasses import replace
from typing import (
    Any, Callable, Deque, Dict, Iterable, List, Optional, Sequence, Set, Tuple, TypeVar, Union, cast,
)

from .. import _backend
from ..errors import (
    AllocationError,
    AlreadyAllocatedError,
    AlreadyExistsError,
    ConflictError,
    InvalidAddressError,
    MismatchedNetworkError,
    NotFoundError,
    RangeFullError,
    StoreError,
    ValidationError,
)
from ..store.base import ABSENT, Compacted, Create, Delete, Put, Record, Require, Store, TxnConflict
from . import validation as V
from .metrics import AllocatorMetrics
from .objects import (
    FINALIZER,
    LABEL_IP_FAMILY,
    LABEL_MANAGED_BY,
    MANAGED_BY_ALLOCATOR,
    UTC,
    Condition,
    Event,
    IPAddress,
    ParentReference,
    Service,
    ServiceCIDR,
    ServicePort,
    format_time,
    parse_time,
)

__all__ = ["Cluster"]

SERVICECIDRS = "servicecidrs"
IPADDRESSES = "ipaddresses"
SERVICES = "services"
META = "meta"
RANGE_KEY = "service-cluster-ip-range"

RES_CIDR = "servicecidrs.networking.k8s.io"
RES_IP = "ipaddresses.networking.k8s.io"
RES_SVC = "services"

DEFAULT_NAME = "kubernetes"
_DEFAULT_SERVICE_KEY = "default/kubernetes"
READY_MESSAGE = "Kubernetes Service CIDR is ready"
TERMINATING_REASON = "Terminating"
TERMINATING_MESSAGE = (
    "There are still IPAddresses referencing the ServiceCIDR, please remove them or create a new ServiceCIDR"
)
_MAX_RETRIES = 64
# batches at least this large run with the cyclic garbage collector paused (see create_services)
_GC_PAUSE_MIN = 10_000

Net = Tuple[int, int, int]  # family, network, prefix length


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(UTC)


def _net_of(cidr: str, _cache: Dict[str, Optional[Net]] = {}) -> Optional[Net]:
    """(family, network, prefix) of a ServiceCIDR entry (masked), None if unparseable."""
    net = _cache.get(cidr)
    if net is None and cidr not in _cache:
        parsed = V.parse_cidr_sloppy(cidr)
        if parsed is not None:
            family, value, plen, _ = parsed
            bits = 32 if family == 4 else 128
            value &= ~((1 << (bits - plen)) - 1)
            net = (family, value, plen)
        if len(_cache) > 100_000:
            _cache.clear()
        _cache[cidr] = net
    return net


def _contains(outer: Net, inner: Net) -> bool:
    """outer equals inner or contains it."""
    if outer[0] != inner[0] or outer[2] > inner[2]:
        return False
    shift = (32 if outer[0] == 4 else 128) - outer[2]
    return (outer[1] >> shift) == (inner[1] >> shift)


def _holds_host(net: Net, family: int, ip: int) -> bool:
    """SPEC.md §1 host containment: inside, not the network address, not the IPv4 broadcast."""
    if net[0] != family:
        return False
    bits = 32 if family == 4 else 128
    shift = bits - net[2]
    if (ip >> shift) != (net[1] >> shift) or ip == net[1]:
        return False
    if family == 4 and ip == net[1] | ((1 << shift) - 1):
        return False
    return True


def _parse_ip(text: str) -> Optional[Tuple[int, int]]:
    parsed = V.parse_ip_sloppy(text)
    if parsed is None:
        return None
    return parsed[0], parsed[1]


def _ip_order(ip: str) -> Tuple[int, int, str]:
    """Numeric order (IPv4 first), for lists people read."""
    parsed = _parse_ip(ip)
    return (parsed[0], parsed[1], ip) if parsed is not None else (7, 0, ip)


def _canonical(family: int, value: int) -> str:
    return V.format_ipv4(value) if family == 4 else V.format_ipv6(value)


def _family_name(family: int) -> str:
    return "IPv4" if family == 4 else "IPv6"


def _create_op(kind: str, key: str, value: Dict[str, Any]) -> Create:
    """``Create(kind, key, value)`` built ~2x faster (it is a frozen dataclass; filling its
    ``__dict__`` skips the field-by-field ``object.__setattr__`` of its ``__init__``)."""
    op = _new_object(Create)
    op.__dict__.update(kind=kind, key=key, value=value)
    return op


_new_object = object.__new__


def _service_ips(value: Dict[str, Any]) -> List[str]:
    """The cluster IPs a stored Service holds (nothing for headless / ExternalName)."""
    spec = value.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return []
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    if not ips or ips[0] in ("None", ""):
        return []
    return [str(ip) for ip in ips if ip]


# Read-only parts shared by the values this Cluster writes to its store (the store keeps the
# Cluster's dicts, copy_values=False, and nothing mutates a stored value): a status dict holding
# a dict is one more container per Service for the cyclic collector to walk; the labels cost a
# dict per IPAddress.
_EMPTY_SERVICE_STATUS: Dict[str, Any] = {"loadBalancer": {}}
_ALLOCATOR_LABELS: Dict[str, Dict[str, str]] = {
    family: {LABEL_IP_FAMILY: family, LABEL_MANAGED_BY: MANAGED_BY_ALLOCATOR} for family in ("IPv4", "IPv6")
}
# The JSON text a store keeps as the projection (store.base.project) of an IPAddress the allocator
# wrote, around its creation time and its Service's namespace and name: start-up recognises the
# consistent majority from the text alone, without decoding it.
_PROJECTION_HEAD = '{"metadata":{"creationTimestamp":"'
_PROJECTION_LABELS = {
    family: '","labels":'
    + json.dumps({LABEL_MANAGED_BY: MANAGED_BY_ALLOCATOR, LABEL_IP_FAMILY: family},
                 separators=(",", ":"), ensure_ascii=False)
    + '},"spec":{"parentRef":{"resource":"services","namespace":"'
    for family in ("IPv4", "IPv6")
}


def _is_allocator_projection(text: str, ns: str, name: str, family: str) -> bool:
    """Whether ``text`` is exactly the projection JSON of an IPAddress of ``family`` managed by the
    allocator and owned by Service ``ns/name`` (any creation time). Exact, so that it implies what
    the decoded check would accept; ``ns`` and ``name`` must need no JSON escaping.

    >>> _is_allocator_projection(_PROJECTION_HEAD + "2026-01-01T00:00:00Z" + _PROJECTION_LABELS["IPv4"]
    ...                          + 'default","name":"web"}}}', "default", "web", "IPv4")
    True
    """
    start = len(_PROJECTION_HEAD)
    if not text.startswith(_PROJECTION_HEAD):
        return False
    end = text.find('"', start)
    if end < 0 or text.find("\\", start, end) >= 0:
        return False
    return text[end:] == _PROJECTION_LABELS[family] + ns + '","name":"' + name + '"}}}'


_SERVICE_PROJECTION_HEAD = '{"spec":{"type":"ClusterIP","clusterIPs":["'


def _single_cluster_ip(text: str) -> Optional[str]:
    """The one cluster IP of a single-stack ClusterIP Service whose projection JSON is ``text``
    (exactly as the store writes it), None for any other text.

    >>> _single_cluster_ip('{"spec":{"type":"ClusterIP","clusterIPs":["10.0.0.5"],"clusterIP":"10.0.0.5"}}')
    '10.0.0.5'
    """
    start = len(_SERVICE_PROJECTION_HEAD)
    if not text.startswith(_SERVICE_PROJECTION_HEAD):
        return None
    end = text.find('"', start)
    if end < 0:
        return None
    ip = text[start:end]
    if "\\" in ip or text[end:] != '"],"clusterIP":"' + ip + '"}}':
        return None
    return ip


class _LazyRecords:
    """Records of one kind by key for repair, each decoded from the store's raw projection
    (``Store.list_projection_raw``) only when something looks into it."""

    def __init__(self, kind: str, rows: List[Tuple[str, Any, int]], decode: Callable[[Any], Any]) -> None:
        self.kind = kind
        # by key, the listing's own (key, raw, revision) rows: no new tuple per object
        self.raw: Dict[str, Tuple[str, Any, int]] = {row[0]: row for row in rows}
        self._decoded: Dict[str, Record] = {}
        self._decode = decode

    def get(self, key: str) -> Optional[Record]:
        rec = self._decoded.get(key)
        if rec is None:
            entry = self.raw.get(key)
            if entry is None:
                return None
            rec = self._decoded[key] = Record(self.kind, key, self._decode(entry[1]), entry[2])
        return rec

    def __getitem__(self, key: str) -> Record:
        rec = self.get(key)
        if rec is None:
            raise KeyError(key)
        return rec

    def __setitem__(self, key: str, rec: Record) -> None:
        self._decoded[key] = rec

    def keys(self) -> Set[str]:
        return self.raw.keys() | self._decoded.keys()


# range (tuple of CIDR strings) -> its families, see Cluster._families (few distinct ranges)
_FAMILIES_OF_RANGE: Dict[Tuple[str, ...], List[str]] = {}


class _UidMaker:
    """Unique ids shaped like UUIDs: a random per-Cluster prefix and a counter (~10x cheaper
    than ``uuid.uuid4()`` per object)."""

    def __init__(self) -> None:
        self._prefix = str(uuid.uuid4())[:24]  # 'xxxxxxxx-xxxx-4xxx-yxxx-'
        self._counter = int.from_bytes(os.urandom(5), "little")

    def __call__(self) -> str:
        self._counter += 1
        return f"{self._prefix}{self._counter & 0xFFFFFFFFFFFF:012x}"


def _open_store(store: Any) -> Tuple[Store, bool]:
    """(store, owned): None → an in-memory store owned by the Cluster."""
    if store is None:
        from ..store.memory import MemoryStore

        return MemoryStore(copy_values=False), True
    if isinstance(store, Store):
        return store, False
    from ..store import urls

    return urls.open_store(store), True


def _split_range(value: Any) -> Optional[List[str]]:
    if value is None:
        return None
    if isinstance(value, str):
        items = [p.strip() for p in value.split(",")]
    else:
        items = [str(p).strip() for p in value]
    items = [p for p in items if p]
    return items or None


def _coerce_cidrs(cidrs: Any) -> List[str]:
    """A list of texts from a list, a comma-separated string or a single object."""
    if cidrs is None:
        return []
    if isinstance(cidrs, str):
        return [p.strip() for p in cidrs.split(",") if p.strip()]
    if isinstance(cidrs, (list, tuple)) or (hasattr(cidrs, "__iter__") and not hasattr(cidrs, "prefixlen")
                                             and not hasattr(cidrs, "version")):
        return [str(c) for c in cidrs]
    return [str(cidrs)]


def _allocation_error(exc: AllocationError, requested: List[str], ip_text: str, name: str) -> AllocationError:
    """The allocator's error class, with Kubernetes' 422 text for a requested cluster IP."""
    detail = f"Invalid value: {V.go_string_slice(requested)}: failed to allocate IP {ip_text}: {exc}"
    err = type(exc)(message=f"spec.clusterIPs: {detail}")
    err.reason = "Invalid"  # type: ignore[misc]
    err.code = 422  # type: ignore[misc]
    err.errors = [("spec.clusterIPs", detail)]  # type: ignore[attr-defined]
    err.kind = "Service"  # type: ignore[attr-defined]
    err.name = name  # type: ignore[attr-defined]
    return err


def _clone(sc: Optional[ServiceCIDR]) -> Optional[ServiceCIDR]:
    """A ServiceCIDR that shares nothing mutable with the cache (callers may edit what they get)."""
    if sc is None:
        return None
    return replace(
        sc,
        cidrs=list(sc.cidrs),
        finalizers=list(sc.finalizers),
        conditions=[replace(c) for c in sc.conditions],
        labels=dict(sc.labels),
        annotations=dict(sc.annotations),
    )


def _conflict(resource: str, name: str) -> ConflictError:
    return ConflictError(
        f'Operation cannot be fulfilled on {resource} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _locked(method: _Method) -> _Method:
    """Run ``method`` under the Cluster's lock (refused once the Cluster is closed), keeping its
    signature, name and docstring for ``help()`` and type checkers (``functools.wraps``; the
    wrapper is typed as the method itself)."""

    @functools.wraps(method)
    def wrapper(self: "Cluster", *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            if self._closed:
                raise StoreError("the Cluster is closed")
            return method(self, *args, **kwargs)

    return cast(_Method, wrapper)


class Cluster:
    """The ServiceCIDR / IPAddress / Service lifecycle of a Kubernetes control plane.

    See API.md "Cluster". ``service_cluster_ip_range`` (``"10.96.0.0/12"``, ``"10.96.0.0/12,fd00::/108"``
    or a list) is recorded in the store; the ``kubernetes`` ServiceCIDR and the ``default/kubernetes``
    Service then exist. ``store``: None (in memory), a URL / path, or a Store object. ``clock``: a
    callable returning the current UTC ``datetime``. ``deletion_grace_period`` (seconds) delays
    finalizer removal (``reconcile()`` finishes it later); ``leak_grace_period`` is the age an
    orphaned IPAddress must reach before ``repair()`` deletes it. ``seed`` and ``policy`` go to the
    allocation index. Thread-safe (one re-entrant lock per call); a context manager.
    """

    def __init__(
        self,
        service_cluster_ip_range: Union[None, str, Sequence[str]] = None,
        *,
        store: Any = None,
        seed: Optional[int] = None,
        clock: Optional[Callable[[], _dt.datetime]] = None,
        deletion_grace_period: float = 0.0,
        leak_grace_period: float = 60.0,
        policy: str = "weighted",
    ) -> None:
        self._lock = threading.RLock()
        self._closed = True  # until the constructor finishes
        rng = _split_range(service_cluster_ip_range)
        if rng is not None:
            V.check(V.validate_range(rng), "ServiceCIDR", DEFAULT_NAME)
        if policy not in ("weighted", "random", "ordered"):
            raise ValueError(f"policy must be 'weighted', 'random' or 'ordered', got {policy!r}")
        self._impl = _backend.impl
        self._seed = seed
        self._policy = policy
        self._clock = clock or _utcnow
        self._now_second = -1
        self._now_value = _dt.datetime.fromtimestamp(0, UTC)
        self._deletion_grace = float(deletion_grace_period)
        self._leak_grace = float(leak_grace_period)
        self._events: Deque[Event] = deque(maxlen=10_000)
        self._collectors: List[List[Event]] = []
        self._metrics = AllocatorMetrics()
        self._uid = _UidMaker()
        self._inconsistent_reported = False
        self._leak_watch: Dict[str, _dt.datetime] = {}
        self._store, self._owns_store = _open_store(store)
        self._shared = bool(getattr(self._store, "shared", False))
        self._max_ops = getattr(self._store, "max_ops", None)
        # caches (rebuilt from the store)
        self._rev = 0
        self._scs: Dict[str, ServiceCIDR] = {}
        self._range: Optional[List[str]] = None
        self._alloc: Any = None
        self._alloc_cidrs: Dict[str, bool] = {}
        self._single_ready: Dict[str, Optional[str]] = {}
        self._unallocatable: Set[str] = set()
        self._outside: Set[str] = set()
        # the raw IPAddress listing of the last _rebuild, for the repair() that follows it
        self._ip_listing: Optional[Tuple[int, List[Tuple[str, Any, int]]]] = None
        try:
            # Start-up builds a few containers per stored object and no reference cycles: the
            # cyclic collector would rescan the growing heap again and again (~2x the start-up).
            gc_enabled = gc.isenabled()
            gc.disable()
            try:
                with self._lock:
                    self._closed = False
                    self._rebuild()
                    if rng is not None and rng != self._range:
                        self._write_range(rng)
                    self._controller_pass(None)
                    self._repair()  # before the default Service takes its address
                    self._ip_listing = None
                    self._ensure_default_service()
            finally:
                if gc_enabled:
                    gc.enable()
        except BaseException:
            self._closed = True
            if self._owns_store:
                self._store.close()
            raise
        # close() also runs at exit; a weak reference, so that the registration keeps nothing alive
        self._at_exit = functools.partial(_close_at_exit, weakref.ref(self))
        atexit.register(self._at_exit)

    # ------------------------------------------------------------------------------------------
    # plumbing

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<fastcidr.Cluster store={self._store.url or type(self._store).__name__} range={self._range}>"

    @property
    def store(self) -> Store:
        """The store holding this Cluster's objects (the truth)."""
        return self._store

    @property
    def service_cluster_ip_range(self) -> List[str]:
        """The configured range (recorded in the store, else the ``kubernetes`` ServiceCIDR's)."""
        with self._lock:
            if not self._closed:
                self._sync()
            return list(self._effective_range())

    def close(self) -> None:
        """Release the store (if this Cluster opened it). Later calls raise ``StoreError``."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            at_exit = getattr(self, "_at_exit", None)
            if at_exit is not None:
                atexit.unregister(at_exit)
            if self._owns_store:
                self._store.close()

    def _now(self) -> _dt.datetime:
        if self._clock is _utcnow:
            # the default clock at whole seconds, built once per second
            second = int(time.time())
            if second != self._now_second:
                self._now_second = second
                self._now_value = _dt.datetime.fromtimestamp(second, UTC)
            return self._now_value
        now = self._clock()
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        # Kubernetes keeps timestamps to the second; so do the objects, so that they equal
        # their wire form read back
        return now.replace(microsecond=0)

    def _emit(self, type_: str, reason: str, message: str, regarding: str) -> Event:
        event = Event(type_, reason, message, regarding, self._now())
        self._events.append(event)
        for sink in self._collectors:
            sink.append(event)
        return event

    def _commit(self, ops: List[Any]) -> int:
        """One atomic commit (split only when a store caps its transaction size, compensating
        the Create operations of earlier chunks if a later chunk fails)."""
        limit = self._max_ops
        if not limit or len(ops) <= limit:
            rev = self._store.commit(ops)
            # Every commit takes exactly one revision: if it is the one after the last seen, no
            # other writer came in between, and the caches (which every caller updates with its
            # own changes) are current without reading our own changes back.
            if not self._shared or rev == self._rev + 1:
                self._rev = rev
            return rev
        requires = [op for op in ops if isinstance(op, Require)]
        writes = [op for op in ops if not isinstance(op, Require)]
        room = max(1, limit - len(requires))
        done: List[Any] = []
        rev = 0
        try:
            for i in range(0, len(writes), room):
                chunk = writes[i : i + room]
                rev = self._store.commit((requires if i == 0 else []) + chunk)
                done.extend(chunk)
        except BaseException:
            undo = [Delete(op.kind, op.key) for op in done if isinstance(op, Create)]
            for j in range(0, len(undo), limit):
                try:
                    self._store.commit(undo[j : j + limit])
                except Exception:  # best effort: repair() cleans what is left
                    pass
            raise
        return rev

    # ------------------------------------------------------------------------------------------
    # caches

    def _rebuild(self) -> None:
        """Rebuild every cache from the store (start-up, or after the change log was compacted)."""
        records, rev = self._store.list(SERVICECIDRS)
        # only the keys are read here; repair() at start-up reuses the listing (see _repair_pass)
        ip_rows, ip_rev = self._store.list_projection_raw(IPADDRESSES)
        self._ip_listing = (ip_rev, ip_rows)
        meta = self._store.get(META, RANGE_KEY)
        self._rev = rev
        records.sort(key=lambda r: (r.create_revision, r.key))
        self._scs = {r.key: self._cidr_from_record(r.value, r.revision) for r in records}
        self._range = _split_range((meta.value or {}).get("cidrs")) if meta is not None else None
        self._alloc = self._impl.MultiCIDRAllocator(seed=self._seed, policy=self._policy)
        self._alloc_cidrs = {}
        self._unallocatable = set()
        self._outside = set()
        for sc in self._scs.values():
            for cidr in sc.cidrs:
                self._add_cidr(cidr)
        allocate = self._alloc.allocate
        for key, _raw, _rev in ip_rows:
            try:
                allocate(key)
            except (AllocationError, InvalidAddressError, ValueError):
                self._mark(key)
        self._refresh_cidrs()
        self._sync()

    def _list_projection(self, kind: str) -> Tuple[List[Record], int]:
        """``store.list_projection(kind)``: values cut down to ``store.base.project``'s fields."""
        return self._store.list_projection(kind)

    def _cidr_from_record(self, value: Dict[str, Any], revision: int) -> ServiceCIDR:
        sc = ServiceCIDR.from_dict(value)
        sc.resource_version = str(revision)
        if not sc.name:
            sc.name = str((value.get("metadata") or {}).get("name") or "")
        return sc

    def _sync(self) -> None:
        """On a shared store, catch up with other writers before deciding anything."""
        if not self._shared:
            return
        try:
            changes, rev = self._store.changes_since(self._rev)
        except Compacted:
            self._rebuild_without_sync()
            return
        cidrs_changed = False
        for ch in changes:
            if ch.kind == IPADDRESSES:
                if ch.type == "PUT":
                    if ch.created:
                        self._mark(ch.key)
                else:
                    self._unmark(ch.key)
            elif ch.kind == SERVICECIDRS:
                if ch.type == "PUT" and ch.value is not None:
                    self._scs[ch.key] = self._cidr_from_record(ch.value, ch.revision)
                else:
                    self._scs.pop(ch.key, None)
                cidrs_changed = True
            elif ch.kind == META and ch.key == RANGE_KEY:
                self._range = _split_range((ch.value or {}).get("cidrs")) if ch.type == "PUT" else None
        if changes:
            self._rev = max(self._rev, changes[-1].revision)
        self._rev = max(self._rev, rev)
        if cidrs_changed:
            self._refresh_cidrs()

    def _rebuild_without_sync(self) -> None:
        shared, self._shared = self._shared, False
        try:
            self._rebuild()
        finally:
            self._shared = shared
            self._ip_listing = None  # only start-up's repair reuses it: do not pin a big listing

    def _add_cidr(self, cidr: str) -> bool:
        if cidr in self._alloc_cidrs or cidr in self._unallocatable:
            return cidr in self._alloc_cidrs
        try:
            self._alloc.add(cidr, ready=True)
        except (InvalidAddressError, ValueError, OverflowError):
            # an IPv6 prefix shorter than /64 (or one over the IPv4-mapped range): the object is
            # valid but nothing is ever allocated from it, as in Kubernetes
            self._unallocatable.add(cidr)
            return False
        self._alloc_cidrs[cidr] = True
        return True

    def _refresh_cidrs(self) -> None:
        """Make the index hold exactly the CIDRs of the ServiceCIDR objects, with their readiness
        (ready while one listing ServiceCIDR is ready, SPEC.md §2.3)."""
        desired: Dict[str, bool] = {}
        for sc in self._scs.values():
            ready = sc.ready
            for cidr in sc.cidrs:
                desired[cidr] = desired.get(cidr, False) or ready
        for cidr in [c for c in self._alloc_cidrs if c not in desired]:
            forgotten = self._alloc.remove(cidr)
            del self._alloc_cidrs[cidr]
            self._outside.update(forgotten)
        self._unallocatable.intersection_update(desired)
        for cidr, ready in desired.items():
            if cidr not in self._alloc_cidrs:
                if not self._add_cidr(cidr):
                    continue
                self._adopt_outside(cidr)
            if self._alloc_cidrs[cidr] != ready:
                self._alloc.set_ready(cidr, ready)
                self._alloc_cidrs[cidr] = ready
        # the usual case, one ready CIDR per family, labels metrics without a lookup
        per_family: Dict[str, List[str]] = {"IPv4": [], "IPv6": []}
        for cidr, ready in self._alloc_cidrs.items():
            net = _net_of(cidr)
            if ready and net is not None:
                per_family[_family_name(net[0])].append(cidr)
        self._single_ready = {f: (v[0] if len(v) == 1 else None) for f, v in per_family.items()}

    def _adopt_outside(self, cidr: str) -> None:
        """IPAddresses that no CIDR held become allocated when a CIDR holding them arrives."""
        if not self._outside:
            return
        net = _net_of(cidr)
        if net is None:
            return
        for ip in list(self._outside):
            parsed = _parse_ip(ip)
            if parsed is not None and _holds_host(net, parsed[0], parsed[1]):
                self._outside.discard(ip)
                self._mark(ip)

    def _mark(self, ip: str) -> None:
        """Record an existing IPAddress object in the index, whatever the readiness of its CIDRs."""
        alloc = self._alloc
        try:
            alloc.allocate(ip)
            return
        except AlreadyAllocatedError:
            return
        except MismatchedNetworkError:
            pass
        except (InvalidAddressError, ValueError):
            return  # a name that is not an address: nothing to index
        try:
            owners = alloc.owners(ip)
        except (InvalidAddressError, ValueError):
            return
        if not owners:
            self._outside.add(ip)
            return
        cidr = owners[0]  # held only by CIDRs that are not ready: open one for a moment
        alloc.set_ready(cidr, True)
        try:
            alloc.allocate(ip)
        except AllocationError:
            pass
        finally:
            alloc.set_ready(cidr, False)

    def _unmark(self, ip: str) -> None:
        if ip in self._outside:
            self._outside.discard(ip)
            return
        try:
            self._alloc.release(ip)
        except (InvalidAddressError, ValueError):
            pass

    # ------------------------------------------------------------------------------------------
    # range and families

    def _effective_range(self) -> List[str]:
        if self._range:
            return self._range
        default = self._scs.get(DEFAULT_NAME)
        return list(default.cidrs) if default is not None else []

    def _families(self) -> List[str]:
        """The configured families in range order (worked out once per distinct range: every
        Service creation asks)."""
        rng = tuple(self._effective_range())
        families = _FAMILIES_OF_RANGE.get(rng)
        if families is None:
            families = []
            for cidr in rng:
                net = _net_of(cidr)
                if net is not None and _family_name(net[0]) not in families:
                    families.append(_family_name(net[0]))
            _FAMILIES_OF_RANGE[rng] = families
        return list(families)

    def _write_range(self, rng: List[str]) -> None:
        rev = self._commit([Put(META, RANGE_KEY, {"cidrs": list(rng)})])
        self._range = list(rng)
        if not self._shared:
            self._rev = rev

    # ------------------------------------------------------------------------------------------
    # reading

    @_locked
    def get_service_cidr(self, name: str) -> ServiceCIDR:
        rec = self._store.get(SERVICECIDRS, str(name))
        if rec is None:
            raise NotFoundError(RES_CIDR, str(name))
        return self._cidr_from_record(rec.value, rec.revision)

    @_locked
    def list_service_cidrs(self) -> List[ServiceCIDR]:
        records, _ = self._store.list(SERVICECIDRS)
        return [self._cidr_from_record(r.value, r.revision) for r in sorted(records, key=lambda r: r.key)]

    def _ip_key(self, ip: Any) -> str:
        if isinstance(ip, str):
            return ip
        return str(self._impl.canonical_ip(ip))

    @_locked
    def get_ip_address(self, ip: Any) -> IPAddress:
        key = self._ip_key(ip)
        rec = self._store.get(IPADDRESSES, key)
        if rec is None and isinstance(ip, str):
            parsed = _parse_ip(ip)
            if parsed is not None:
                rec = self._store.get(IPADDRESSES, _canonical(*parsed))
        if rec is None:
            raise NotFoundError(RES_IP, str(ip))
        return self._ip_from_record(rec)

    @staticmethod
    def _ip_from_record(rec: Record) -> IPAddress:
        obj = IPAddress.from_dict(rec.value)
        obj.resource_version = str(rec.revision)
        obj.name = obj.name or rec.key
        return obj

    @_locked
    def list_ip_addresses(self) -> List[IPAddress]:
        records, _ = self._store.list(IPADDRESSES)
        return [self._ip_from_record(r) for r in sorted(records, key=lambda r: r.key)]

    @staticmethod
    def _svc_from_record(rec: Record) -> Service:
        obj = Service.from_dict(rec.value)
        obj.resource_version = str(rec.revision)
        return obj

    @_locked
    def get_service(self, name: str, namespace: str = "default") -> Service:
        rec = self._store.get(SERVICES, f"{namespace}/{name}")
        if rec is None:
            raise NotFoundError(RES_SVC, str(name))
        return self._svc_from_record(rec)

    @_locked
    def list_services(self, namespace: Optional[str] = None) -> List[Service]:
        records, _ = self._store.list(SERVICES)
        prefix = None if namespace is None else f"{namespace}/"
        return [
            self._svc_from_record(r)
            for r in sorted(records, key=lambda r: r.key)
            if prefix is None or r.key.startswith(prefix)
        ]

    @_locked
    def events(self) -> List[Event]:
        """Events recorded so far (the last 10,000), oldest first."""
        return list(self._events)

    # ------------------------------------------------------------------------------------------
    # ServiceCIDR writes

    @_locked
    def create_service_cidr(self, name: str, cidrs: Any, *, dry_run: bool = False) -> ServiceCIDR:
        """Create a ServiceCIDR; it is Ready at once (finalizer and condition set by the controller)."""
        return self._create_cidr(ServiceCIDR(str(name), _coerce_cidrs(cidrs)), dry_run=dry_run)

    def _ready_condition(self, now: _dt.datetime, previous: Optional[Condition] = None) -> Condition:
        when = previous.last_transition_time if previous is not None and previous.status == "True" else now
        return Condition("Ready", "True", "", READY_MESSAGE, when or now)

    def _create_cidr(self, obj: ServiceCIDR, *, dry_run: bool = False) -> ServiceCIDR:
        V.check(V.validate_service_cidr(obj), "ServiceCIDR", obj.name)
        self._sync()
        if obj.name in self._scs or self._store.get(SERVICECIDRS, obj.name) is not None:
            raise AlreadyExistsError(RES_CIDR, obj.name)
        now = self._now()
        new = ServiceCIDR(
            name=obj.name,
            cidrs=list(obj.cidrs),
            uid=self._uid(),
            creation_timestamp=now,
            finalizers=[FINALIZER] + [f for f in obj.finalizers if f != FINALIZER],
            conditions=[self._ready_condition(now)],
            labels=dict(obj.labels),
            annotations=dict(obj.annotations),
        )
        if dry_run:
            return new
        try:
            rev = self._commit([Create(SERVICECIDRS, new.name, new.to_dict())])
        except TxnConflict:
            raise AlreadyExistsError(RES_CIDR, obj.name) from None
        new.resource_version = str(rev)
        self._scs[new.name] = _clone(new)  # type: ignore[assignment]
        if not self._shared:
            self._rev = rev
        self._refresh_cidrs()
        self._sync_overlapping(new.cidrs, exclude=new.name)
        return _clone(self._scs.get(new.name, new))  # type: ignore[return-value]

    def _put_cidr(self, new: ServiceCIDR, expect: int) -> Optional[ServiceCIDR]:
        """Write a ServiceCIDR if it is still at revision ``expect``; None on a conflict."""
        value = replace(new, resource_version="").to_dict()
        try:
            rev = self._commit([Put(SERVICECIDRS, new.name, value, expect=expect)])
        except TxnConflict:
            self._sync()
            return None
        stored = _clone(replace(new, resource_version=str(rev)))
        assert stored is not None
        self._scs[new.name] = stored
        if not self._shared:
            self._rev = rev
        self._refresh_cidrs()
        return stored

    def _update_cidr(self, obj: ServiceCIDR, *, check_rv: bool, status: bool = False,
                     keep_finalizers: bool = False) -> ServiceCIDR:
        for _ in range(_MAX_RETRIES):
            self._sync()
            old = self._scs.get(obj.name)
            if old is None:
                raise NotFoundError(RES_CIDR, obj.name)
            if check_rv and obj.resource_version and obj.resource_version != old.resource_version:
                raise _conflict(RES_CIDR, obj.name)
            if status:
                new = replace(old, conditions=list(obj.conditions))
            else:
                candidate = replace(old, cidrs=list(obj.cidrs))
                V.check(V.validate_service_cidr_update(candidate, old), "ServiceCIDR", obj.name)
                # update() replaces the list (as a PUT does: removing the last finalizer of a
                # terminating object lets it go); apply() of a manifest without any keeps them
                keep = keep_finalizers and not obj.finalizers
                finalizers = list(old.finalizers) if keep else list(obj.finalizers)
                if not old.terminating and FINALIZER not in finalizers:
                    finalizers.insert(0, FINALIZER)  # the controller puts it back at once
                new = replace(
                    old,
                    cidrs=list(obj.cidrs),
                    labels=dict(obj.labels),
                    annotations=dict(obj.annotations),
                    finalizers=finalizers,
                )
            if new == old:
                return _clone(old)  # type: ignore[return-value]
            stored = self._put_cidr(new, int(old.resource_version))
            if stored is None:
                if check_rv and obj.resource_version:
                    raise _conflict(RES_CIDR, obj.name)
                continue
            self._sync_cidr(obj.name)
            self._sync_overlapping(list(set(old.cidrs) | set(new.cidrs)), exclude=obj.name)
            return _clone(self._scs.get(obj.name, stored))  # type: ignore[return-value]
        raise _conflict(RES_CIDR, obj.name)

    @_locked
    def update_service_cidr(self, name: str, cidrs: Any) -> ServiceCIDR:
        """Change ``spec.cidrs``: only single → dual stack keeping ``cidrs[0]`` is allowed."""
        self._sync()
        old = self._scs.get(str(name))
        if old is None:
            raise NotFoundError(RES_CIDR, str(name))
        return self._update_cidr(replace(old, cidrs=_coerce_cidrs(cidrs), resource_version=""), check_rv=False)

    @_locked
    def update_status(self, obj_or_dict: Any) -> ServiceCIDR:
        """Replace a ServiceCIDR's status (conditions); the spec is kept. The controller then
        reconciles it as Kubernetes' would."""
        obj = ServiceCIDR.from_dict(obj_or_dict) if isinstance(obj_or_dict, dict) else obj_or_dict
        if not isinstance(obj, ServiceCIDR):
            raise TypeError("update_status takes a ServiceCIDR")
        return self._update_cidr(obj, check_rv=True, status=True)

    @_locked
    def delete_service_cidr(self, name: str) -> Optional[ServiceCIDR]:
        """Mark a ServiceCIDR for deletion. Returns None when it is gone at once, else the
        terminating object (``Ready=False/Terminating`` while IPAddresses depend on it)."""
        name = str(name)
        for _ in range(_MAX_RETRIES):
            self._sync()
            old = self._scs.get(name)
            if old is None:
                raise NotFoundError(RES_CIDR, name)
            if old.terminating:
                return _clone(old)
            marked = replace(old, deletion_timestamp=self._now())
            if self._put_cidr(marked, int(old.resource_version)) is None:
                continue
            self._sync_cidr(name)
            self._sync_overlapping(marked.cidrs, exclude=name)
            self._ensure_default_cidr()
            current = self._scs.get(name)
            if current is None or not current.terminating:
                return None  # gone (the default one may have been recreated at once)
            return _clone(current)
        raise _conflict(RES_CIDR, name)

    # ------------------------------------------------------------------------------------------
    # the ServiceCIDR controllers (synchronous)

    def _others(self, name: str) -> List[ServiceCIDR]:
        """ServiceCIDRs that may cover another: not itself, not being deleted (fastcidr decision)."""
        return [o for o in self._scs.values() if o.name != name and not o.terminating]

    def _blocking(self, sc: ServiceCIDR, *, first_only: bool) -> List[str]:
        """Managed IPAddresses that only ``sc`` holds among the live ServiceCIDRs (SPEC.md §4)."""
        others = self._others(sc.name)
        other_nets = [n for o in others for n in (_net_of(c) for c in o.cidrs) if n is not None]
        other_cidrs = {c for o in others for c in o.cidrs}
        found: List[str] = []
        for cidr in sc.cidrs:
            net = _net_of(cidr)
            if net is None or any(_contains(o, net) for o in other_nets):
                continue
            if cidr in self._alloc_cidrs:
                ignore = [c for c in self._alloc_cidrs if c != cidr and c not in other_cidrs]
                candidates = sorted(self._alloc.orphans_if_removed(cidr, ignore=ignore), key=_ip_order)
            else:
                records, _ = self._store.list(IPADDRESSES)
                candidates = []
                for r in records:
                    parsed = _parse_ip(r.key)
                    if parsed is None or not _holds_host(net, *parsed):
                        continue
                    if any(_holds_host(o, *parsed) for o in other_nets):
                        continue
                    candidates.append(r.key)
                candidates.sort(key=_ip_order)
            for ip in candidates:
                rec = self._store.get(IPADDRESSES, ip)
                if rec is None:
                    continue
                labels = (rec.value.get("metadata") or {}).get("labels") or {}
                if labels.get(LABEL_MANAGED_BY) != MANAGED_BY_ALLOCATOR:
                    continue
                found.append(ip)
                if first_only:
                    return found
        return found

    def _can_delete(self, sc: ServiceCIDR) -> bool:
        return not self._blocking(sc, first_only=True)

    def _sync_cidr(self, name: str, depth: int = 0) -> None:
        """The ServiceCIDR controller for one object (finalizer, Ready condition, deletion)."""
        sc = self._scs.get(name)
        if sc is None or depth > 8:
            return
        now = self._now()
        if not sc.terminating:
            cond = sc.condition("Ready")
            finalizers = sc.finalizers if FINALIZER in sc.finalizers else [FINALIZER] + sc.finalizers
            conditions = sc.conditions
            if cond is None or (cond.status, cond.reason, cond.message) != ("True", "", READY_MESSAGE):
                conditions = [c for c in sc.conditions if c.type != "Ready"] + [self._ready_condition(now, cond)]
            if finalizers is not sc.finalizers or conditions is not sc.conditions:
                if self._put_cidr(replace(sc, finalizers=list(finalizers), conditions=list(conditions)),
                                  int(sc.resource_version)) is None:
                    self._sync_cidr(name, depth + 1)
            return
        if FINALIZER not in sc.finalizers and sc.finalizers:
            return  # only someone else's finalizers are left: theirs to remove
        if not sc.finalizers or self._can_delete(sc):
            assert sc.deletion_timestamp is not None
            if sc.finalizers and (now - sc.deletion_timestamp).total_seconds() < self._deletion_grace:
                return  # a later reconcile() finishes it
            finalizers = [f for f in sc.finalizers if f != FINALIZER]
            if finalizers:
                if self._put_cidr(replace(sc, finalizers=finalizers), int(sc.resource_version)) is None:
                    self._sync_cidr(name, depth + 1)
                return
            try:
                rev = self._commit([Delete(SERVICECIDRS, name, expect=int(sc.resource_version))])
            except TxnConflict:
                self._sync()
                self._sync_cidr(name, depth + 1)
                return
            self._scs.pop(name, None)
            if not self._shared:
                self._rev = rev
            self._refresh_cidrs()
            self._ensure_default_cidr()
            return
        cond = sc.condition("Ready")
        if cond is None or (cond.status, cond.reason, cond.message) != ("False", TERMINATING_REASON, TERMINATING_MESSAGE):
            when = cond.last_transition_time if cond is not None and cond.status == "False" else now
            blocked = Condition("Ready", "False", TERMINATING_REASON, TERMINATING_MESSAGE, when or now)
            conditions = [c for c in sc.conditions if c.type != "Ready"] + [blocked]
            if self._put_cidr(replace(sc, conditions=conditions), int(sc.resource_version)) is None:
                self._sync_cidr(name, depth + 1)

    def _sync_overlapping(self, cidrs: Iterable[str], *, exclude: str = "") -> None:
        """Re-check the terminating ServiceCIDRs overlapping ``cidrs`` (a cover came or went)."""
        nets = [n for n in (_net_of(c) for c in cidrs) if n is not None]
        for sc in [s for s in self._scs.values() if s.terminating and s.name != exclude]:
            for c in sc.cidrs:
                n = _net_of(c)
                if n is not None and any(_contains(n, o) or _contains(o, n) for o in nets):
                    self._sync_cidr(sc.name)
                    break

    def _sync_holding(self, ips: Iterable[str]) -> None:
        """Re-check the terminating ServiceCIDRs holding any of ``ips`` (an address came or went)."""
        terminating = [s for s in self._scs.values() if s.terminating]
        if not terminating:
            return
        parsed = [p for p in (_parse_ip(ip) for ip in ips) if p is not None]
        for sc in terminating:
            nets = [n for n in (_net_of(c) for c in sc.cidrs) if n is not None]
            if any(_holds_host(n, f, v) for n in nets for f, v in parsed):
                self._sync_cidr(sc.name)

    def _ensure_default_cidr(self) -> None:
        """The default ServiceCIDR controller: create ``kubernetes`` from the recorded range,
        upgrade it single → dual stack, or warn once when it disagrees."""
        rng = self._range
        if not rng:
            return
        sc = self._scs.get(DEFAULT_NAME)
        if sc is None:
            try:
                self._create_cidr(ServiceCIDR(DEFAULT_NAME, list(rng)))
            except (AlreadyExistsError, ValidationError):
                pass
            return
        if sc.terminating or sc.cidrs == rng:
            return
        if len(rng) == 2 and len(sc.cidrs) == 1 and sc.cidrs[0] == rng[0]:
            try:
                self._update_cidr(replace(sc, cidrs=list(rng), resource_version=""), check_rv=False)
            except (ValidationError, ConflictError):
                pass
            return
        if not self._inconsistent_reported:
            self._inconsistent_reported = True
            self._emit(
                "Warning",
                "KubernetesDefaultServiceCIDRInconsistent",
                f"The default ServiceCIDR [{' '.join(sc.cidrs)}] does not match the controller flag "
                f"configurations {','.join(rng)}",
                f"servicecidrs/{DEFAULT_NAME}",
            )

    def _ensure_default_service(self) -> None:
        """``default/kubernetes`` on the first usable address of the primary range."""
        rng = self._range
        if not rng or self._store.get(SERVICES, "default/kubernetes") is not None:
            return
        net = _net_of(rng[0])
        if net is None:
            return
        ip = _canonical(net[0], net[1] + 1)
        try:
            self._create_prepared(
                [
                    Service(
                        name="kubernetes",
                        namespace="default",
                        cluster_ip=ip,
                        cluster_ips=[ip],
                        ip_families=[_family_name(net[0])],
                        ip_family_policy="SingleStack",
                        ports=[ServicePort(443, "TCP", "https", 6443)],
                        labels={"component": "apiserver", "provider": "kubernetes"},
                    )
                ],
                dry_run=False,
            )
        except (AllocationError, AlreadyExistsError, ValidationError):
            pass  # the address is taken or not served: like the apiserver, try again later

    def _controller_pass(self, names: Optional[Iterable[str]]) -> None:
        for name in list(self._scs) if names is None else list(names):
            self._sync_cidr(name)
        self._ensure_default_cidr()

    @_locked
    def reconcile(self) -> List[Event]:
        """Run the controllers now (finalizers past their grace period, conditions, the default
        ServiceCIDR and Service, leaked IPAddresses past their grace period); returns the events."""
        sink: List[Event] = []
        self._collectors.append(sink)
        try:
            self._sync()
            self._controller_pass(None)
            self._ensure_default_service()
            if self._leak_watch:
                now = self._now()
                if any(due <= now for due in self._leak_watch.values()):
                    self._repair()
        finally:
            self._collectors.remove(sink)
        return sink

    @_locked
    def blocking_ip_addresses(self, name: str) -> List[IPAddress]:
        """The managed IPAddresses that keep this ServiceCIDR from going (empty when every CIDR
        of it is covered by another live ServiceCIDR)."""
        self._sync()
        sc = self._scs.get(str(name))
        if sc is None:
            raise NotFoundError(RES_CIDR, str(name))
        out = []
        for ip in self._blocking(sc, first_only=False):
            rec = self._store.get(IPADDRESSES, ip)
            if rec is not None:
                out.append(self._ip_from_record(rec))
        return out

    # ------------------------------------------------------------------------------------------
    # Services

    def _prepare_service(
        self,
        name: Any,
        namespace: Any = "default",
        *,
        cluster_ip: Optional[str] = None,
        cluster_ips: Optional[Sequence[str]] = None,
        ip_families: Optional[Sequence[str]] = None,
        ip_family_policy: Optional[str] = None,
        ports: Optional[Sequence[Any]] = None,
        service_type: Optional[str] = None,
        selector: Optional[Dict[str, str]] = None,
        labels: Optional[Dict[str, str]] = None,
        annotations: Optional[Dict[str, str]] = None,
        external_name: Optional[str] = None,
        extra: Optional[Dict[str, Any]] = None,
        status: Optional[Dict[str, Any]] = None,
    ) -> Service:
        """A validated Service with its families and policy resolved (``initIPFamilyFields``)."""
        requested = _coerce_cidrs(cluster_ips) if cluster_ips else ([str(cluster_ip)] if cluster_ip else [])
        if isinstance(ip_families, str):
            ip_families = _coerce_cidrs(ip_families)
        if ports is not None and (isinstance(ports, (int, str, dict, ServicePort))):
            ports = [ports]
        svc = Service(
            name=str(name),
            namespace=str(namespace) if namespace is not None else "default",
            cluster_ip=str(cluster_ip) if cluster_ip else (requested[0] if requested else None),
            cluster_ips=requested,
            ip_families=[str(f) for f in ip_families] if ip_families else [],
            ip_family_policy=ip_family_policy,
            ports=[ServicePort.coerce(p) for p in ports] if ports else [],
            type=service_type or "ClusterIP",
            selector=dict(selector) if selector else {},
            external_name=external_name,
            labels=dict(labels) if labels else {},
            annotations=dict(annotations) if annotations else {},
            extra=dict(extra) if extra else {},
            status=dict(status) if status else {},
        )
        V.check(V.validate_service(svc), "Service", svc.name)
        if svc.type == "ExternalName":
            svc.cluster_ip, svc.cluster_ips, svc.ip_families, svc.ip_family_policy = None, [], [], None
            return svc
        configured = self._families()
        headless = bool(requested) and requested[0] == "None"
        selectorless = not svc.selector
        policy = svc.ip_family_policy
        if policy is None:
            policy = "RequireDualStack" if headless and selectorless else "SingleStack"
        svc.ip_family_policy = policy
        families = svc.ip_families
        errors: V.FieldErrors = []
        if policy == "SingleStack":
            if len(requested) == 2:
                errors.append(V.invalid("spec.ipFamilyPolicy", policy,
                                        "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified"))
            if len(families) == 2:
                errors.append(V.invalid("spec.ipFamilyPolicy", policy,
                                        "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"))
        if not headless:
            canonical = []
            for i, ip in enumerate(requested):
                family, value = _parse_ip(ip)  # type: ignore[misc]  # validated above
                canonical.append(_canonical(family, value))
                if i >= len(families):
                    fam = _family_name(family)
                    if fam not in configured:
                        errors.append(V.invalid(f"spec.clusterIPs[{i}]", requested, f"{fam} is not configured on this cluster"))
                    else:
                        families.append(fam)
            svc.cluster_ips = canonical
            svc.cluster_ip = canonical[0] if canonical else None
        V.check(errors, "Service", svc.name)
        if headless and selectorless:
            if not families:
                families.append(configured[0] if configured else "IPv4")
            if len(families) < 2 and policy != "SingleStack":
                families.append("IPv6" if families[0] == "IPv4" else "IPv4")
            svc.cluster_ip, svc.cluster_ips = "None", ["None"]
            return svc
        if policy == "RequireDualStack" and len(configured) < 2:
            errors.append(V.invalid("spec.ipFamilyPolicy", policy, "this cluster is not configured for dual-stack services"))
        for i, fam in enumerate(families):
            if fam not in configured:
                errors.append(V.invalid(f"spec.ipFamilies[{i}]", fam, "not configured on this cluster"))
        if not families and not configured:
            errors.append(V.invalid("spec.ipFamilies[0]", "IPv4", "not configured on this cluster"))
        V.check(errors, "Service", svc.name)
        if not families:
            families.append(configured[0])
        if policy != "SingleStack" and len(families) == 1 and len(configured) == 2:
            families.append("IPv6" if families[0] == "IPv4" else "IPv4")
        if headless:
            svc.cluster_ip, svc.cluster_ips = "None", ["None"]
        return svc

    def _metric_cidr(self, ip: str, family: str) -> Optional[str]:
        single = self._single_ready.get(family)
        if single is not None:
            return single
        try:
            owners = self._alloc.owners(ip)
        except (InvalidAddressError, ValueError):
            return None
        for cidr in owners:
            if self._alloc_cidrs.get(cidr):
                return cidr
        return owners[0] if owners else None

    def _allocate(self, svc: Service, dry_run: bool) -> List[str]:
        """Allocate every address ``svc`` needs (requested or dynamic) in the index; all or
        nothing. Returns the addresses taken (already released again for a dry run)."""
        if svc.type == "ExternalName" or svc.cluster_ip == "None":
            return []
        requested = svc.cluster_ips
        taken: List[str] = []
        alloc = self._alloc
        metrics = self._metrics
        try:
            for i, fam in enumerate(svc.ip_families):
                start = time.perf_counter()
                if i < len(requested):
                    ip = requested[i]
                    try:
                        alloc.allocate(ip)
                    except AllocationError as exc:
                        if not dry_run:
                            cidr = self._metric_cidr(ip, fam)
                            if cidr is not None and not isinstance(exc, MismatchedNetworkError):
                                metrics.failed(cidr, "static")
                        user_slice = list(requested) + [""] * (len(svc.ip_families) - len(requested))
                        raise _allocation_error(exc, user_slice, ip, svc.name) from None
                    scope = "static"
                else:
                    try:
                        ip = alloc.allocate_next(fam)
                    except RangeFullError:
                        if not dry_run:
                            for cidr, ready in self._alloc_cidrs.items():
                                net = _net_of(cidr)
                                if ready and net is not None and _family_name(net[0]) == fam:
                                    metrics.failed(cidr, "dynamic")
                        raise RangeFullError("failed to allocate a serviceIP: range is full") from None
                    scope = "dynamic"
                taken.append(ip)
                if not dry_run:
                    cidr = self._metric_cidr(ip, fam)
                    if cidr is not None:
                        metrics.allocated(cidr, scope, time.perf_counter() - start)
        except BaseException:
            for ip in taken:
                alloc.release(ip)
            raise
        if dry_run:
            for ip in taken:
                alloc.release(ip)
        return taken

    def _requires_for(self, ips: Iterable[str]) -> List[Require]:
        """On a shared store: the allocation holds only if a ServiceCIDR that made each chosen
        CIDR ready is unchanged when the transaction commits."""
        out: Dict[str, Require] = {}
        for ip in ips:
            try:
                owners = self._alloc.owners(ip)
            except (InvalidAddressError, ValueError):
                continue
            for cidr in owners:
                if not self._alloc_cidrs.get(cidr):
                    continue
                for sc in self._scs.values():
                    if sc.ready and cidr in sc.cidrs:
                        out.setdefault(sc.name, Require(SERVICECIDRS, sc.name, int(sc.resource_version)))
                        break
                break
        return list(out.values())

    def _create_prepared(self, services: List[Service], dry_run: bool) -> List[Service]:
        """Allocate and commit prepared Services in one transaction (all or nothing)."""
        if len(services) > 1:
            seen: Set[str] = set()
            for svc in services:
                if svc.key in seen:
                    raise AlreadyExistsError(RES_SVC, svc.name)
                seen.add(svc.key)
        store_get = self._store.get
        requested = [(svc.cluster_ip, svc.cluster_ips) for svc in services]
        for attempt in range(_MAX_RETRIES):
            if attempt:  # a conflict: start again from what was asked for
                for svc, (ip, ips) in zip(services, requested):
                    svc.cluster_ip, svc.cluster_ips = ip, ips
            self._sync()
            if dry_run or not self._shared:
                # (on a shared store a lookup is a query: there the Create's condition says it)
                for svc in services:
                    if store_get(SERVICES, f"{svc.namespace}/{svc.name}") is not None:
                        raise AlreadyExistsError(RES_SVC, svc.name)
            taken_all: List[str] = []
            results: List[Service] = []
            now = self._now()
            try:
                for svc in services:
                    taken = self._allocate(svc, dry_run)
                    if dry_run:
                        results.append(self._with_ips(replace(svc), taken, "", None))
                    else:
                        taken_all.extend(taken)
                        results.append(self._with_ips(svc, taken, self._uid(), now))
            except BaseException:
                for ip in taken_all:
                    self._alloc.release(ip)
                for svc, (ip, ips) in zip(services, requested):
                    svc.cluster_ip, svc.cluster_ips = ip, ips
                raise
            if dry_run:
                return results
            ops: List[Any] = self._requires_for(taken_all) if self._shared else []
            ts = None
            for svc in results:
                ts = ts or format_time(svc.creation_timestamp)
                for ip in svc.cluster_ips if svc.cluster_ip != "None" else ():
                    ops.append(_create_op(IPADDRESSES, ip, self._ip_value(ip, svc, ts)))
                ops.append(_create_op(SERVICES, f"{svc.namespace}/{svc.name}", svc._wire(_EMPTY_SERVICE_STATUS)))
            try:
                rev = self._commit(ops)
            except TxnConflict as conflict:
                for ip in taken_all:
                    self._alloc.release(ip)
                op = conflict.op
                if op.kind == SERVICES:
                    self._sync()
                    raise AlreadyExistsError(RES_SVC, op.key.split("/", 1)[-1]) from None
                if op.kind == IPADDRESSES and not self._shared:
                    self._mark(op.key)  # the index missed an object: learn it and try again
                continue
            except BaseException:  # the store failed: nothing was written, nothing stays taken
                for ip in taken_all:
                    self._alloc.release(ip)
                raise
            if not self._shared:
                self._rev = rev
            resource_version = str(rev)
            for svc in results:
                svc.resource_version = resource_version
            if taken_all:
                for sc in self._scs.values():
                    if sc.terminating:
                        self._sync_holding(taken_all)
                        break
            return results
        raise ConflictError("could not commit the Services: the store kept changing")

    @staticmethod
    def _with_ips(svc: Service, taken: List[str], uid: str, now: Optional[_dt.datetime]) -> Service:
        """Fill in what the registry sets (the prepared Service is this call's own object)."""
        svc.uid = uid
        svc.creation_timestamp = now
        if svc.type != "ExternalName" and svc.cluster_ip != "None":
            # requested addresses come first (in family order), dynamic ones fill the rest
            svc.cluster_ips = taken
            svc.cluster_ip = taken[0] if taken else None
        return svc

    def _ip_value(self, ip: str, svc: Service, ts: Optional[str]) -> Dict[str, Any]:
        meta: Dict[str, Any] = {"name": ip, "uid": self._uid()}
        if ts:
            meta["creationTimestamp"] = ts
        meta["labels"] = _ALLOCATOR_LABELS["IPv6" if ":" in ip else "IPv4"]
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IPAddress",
            "metadata": meta,
            "spec": {"parentRef": {"resource": "services", "namespace": svc.namespace, "name": svc.name}},
        }

    @_locked
    def create_service(
        self,
        name: str,
        namespace: str = "default",
        *,
        cluster_ip: Optional[str] = None,
        cluster_ips: Optional[Sequence[str]] = None,
        ip_families: Optional[Sequence[str]] = None,
        ip_family_policy: Optional[str] = None,
        ports: Optional[Sequence[Any]] = None,
        dry_run: bool = False,
        service_type: Optional[str] = None,
        selector: Optional[Dict[str, str]] = None,
        labels: Optional[Dict[str, str]] = None,
        annotations: Optional[Dict[str, str]] = None,
        external_name: Optional[str] = None,
    ) -> Service:
        """Create a Service and its IPAddress objects in one transaction (SPEC.md §5).

        Errors: ``ValidationError`` (422) for bad fields and families; for a requested address the
        allocator's class (``AlreadyAllocatedError``, ``MismatchedNetworkError``, ...) with reason
        Invalid / 422 and Kubernetes' message; ``RangeFullError`` (500) ``failed to allocate a
        serviceIP: range is full``; ``AlreadyExistsError``. ``dry_run`` changes nothing.
        """
        svc = self._prepare_service(
            name, namespace, cluster_ip=cluster_ip, cluster_ips=cluster_ips, ip_families=ip_families,
            ip_family_policy=ip_family_policy, ports=ports, service_type=service_type, selector=selector,
            labels=labels, annotations=annotations, external_name=external_name,
        )
        return self._create_prepared([svc], dry_run)[0]

    @_locked
    def create_services(self, specs: Iterable[Dict[str, Any]], *, dry_run: bool = False) -> List[Service]:
        """Create many Services in one transaction: all of them or (on any error) none.

        Each spec is a dict of ``create_service``'s keyword arguments (``name`` required)."""
        specs = list(specs)
        if len(specs) < _GC_PAUSE_MIN or not gc.isenabled():
            return self._create_services(specs, dry_run)
        # A batch builds a few hundred thousand containers that all stay alive; the cyclic
        # collector would rescan the growing heap again and again (3-5x the cost of the batch).
        # Nothing here makes reference cycles, so the collector is paused for the batch.
        gc.disable()
        try:
            return self._create_services(specs, dry_run)
        finally:
            gc.enable()
            # promote the survivors to the oldest generation now, once, rather than letting
            # every young collection traverse them until the next full one
            gc.collect(1)

    def _create_services(self, specs: List[Any], dry_run: bool) -> List[Service]:
        prepared = []
        for spec in specs:
            if not isinstance(spec, dict) or "name" not in spec:
                raise TypeError(f"each Service spec must be a dict with a 'name', not {spec!r}")
            args = dict(spec)
            args.pop("dry_run", None)
            prepared.append(self._prepare_service(args.pop("name"), args.pop("namespace", "default"), **args))
        if not prepared:
            return []
        return self._create_prepared(prepared, dry_run)

    @_locked
    def delete_service(self, name: str, namespace: str = "default") -> None:
        """Delete a Service and the IPAddress objects that belong to it (one transaction).
        ``default/kubernetes`` is then recreated at once, as the apiserver does."""
        key = f"{namespace}/{name}"
        for _ in range(_MAX_RETRIES):
            self._sync()
            rec = self._store.get(SERVICES, key)
            if rec is None:
                raise NotFoundError(RES_SVC, str(name))
            ops: List[Any] = [Delete(SERVICES, key, expect=rec.revision)]
            released = []
            for text in _service_ips(rec.value):
                parsed = _parse_ip(text)
                ip = _canonical(*parsed) if parsed else text
                ip_rec = self._store.get(IPADDRESSES, ip)
                if ip_rec is None:
                    continue
                ref = (ip_rec.value.get("spec") or {}).get("parentRef") or {}
                if ref.get("group", "") == "" and ref.get("resource") == "services" and \
                        ref.get("namespace", "") == namespace and ref.get("name") == name:
                    ops.append(Delete(IPADDRESSES, ip, expect=ip_rec.revision))
                    released.append(ip)
            try:
                rev = self._commit(ops)
            except TxnConflict:
                continue
            if not self._shared:
                self._rev = rev
            for ip in released:
                self._unmark(ip)
            self._sync_holding(released)
            if key == _DEFAULT_SERVICE_KEY:
                self._ensure_default_service()  # the apiserver recreates it, on its first address
            return None
        raise _conflict(RES_SVC, str(name))

    @_locked
    def delete_ip_address(self, ip: Any) -> None:
        """Delete an IPAddress object (the address becomes free)."""
        key = self._ip_key(ip)
        for _ in range(_MAX_RETRIES):
            self._sync()
            rec = self._store.get(IPADDRESSES, key)
            if rec is None:
                raise NotFoundError(RES_IP, key)
            try:
                rev = self._commit([Delete(IPADDRESSES, key, expect=rec.revision)])
            except TxnConflict:
                continue
            if not self._shared:
                self._rev = rev
            self._unmark(key)
            self._sync_holding([key])
            return None
        raise _conflict(RES_IP, key)

    # ------------------------------------------------------------------------------------------
    # generic create / apply / update

    @staticmethod
    def _coerce(obj_or_dict: Any) -> Any:
        if isinstance(obj_or_dict, (ServiceCIDR, IPAddress, Service)):
            return obj_or_dict
        if isinstance(obj_or_dict, dict):
            kind = obj_or_dict.get("kind")
            if kind == "ServiceCIDR":
                return ServiceCIDR.from_dict(obj_or_dict)
            if kind == "IPAddress":
                return IPAddress.from_dict(obj_or_dict)
            if kind == "Service":
                return Service.from_dict(obj_or_dict)
            raise ValueError(f"unsupported kind {kind!r}: expected ServiceCIDR, IPAddress or Service")
        raise TypeError(f"expected a ServiceCIDR, IPAddress or Service (object or dict), not {type(obj_or_dict).__name__}")

    def _create_ip(self, obj: IPAddress, dry_run: bool) -> IPAddress:
        V.check(V.validate_ip_address(obj), "IPAddress", obj.name)
        self._sync()
        if self._store.get(IPADDRESSES, obj.name) is not None:
            raise AlreadyExistsError(RES_IP, obj.name)
        new = replace(obj, uid=self._uid(), creation_timestamp=self._now(), resource_version="")
        if dry_run:
            return new
        try:
            rev = self._commit([Create(IPADDRESSES, new.name, new.to_dict())])
        except TxnConflict:
            raise AlreadyExistsError(RES_IP, obj.name) from None
        if not self._shared:
            self._rev = rev
        self._mark(new.name)
        self._sync_holding([new.name])
        new.resource_version = str(rev)
        return new

    def _update_ip(self, obj: IPAddress, check_rv: bool) -> IPAddress:
        for _ in range(_MAX_RETRIES):
            self._sync()
            rec = self._store.get(IPADDRESSES, obj.name)
            if rec is None:
                raise NotFoundError(RES_IP, obj.name)
            old = self._ip_from_record(rec)
            if check_rv and obj.resource_version and obj.resource_version != old.resource_version:
                raise _conflict(RES_IP, obj.name)
            V.check(V.validate_ip_address_update(obj, old), "IPAddress", obj.name)
            new = replace(old, labels=dict(obj.labels), annotations=dict(obj.annotations))
            if new == old:
                return old
            try:
                rev = self._commit([Put(IPADDRESSES, obj.name, replace(new, resource_version="").to_dict(),
                                        expect=rec.revision)])
            except TxnConflict:
                if check_rv and obj.resource_version:
                    raise _conflict(RES_IP, obj.name) from None
                continue
            if not self._shared:
                self._rev = rev
            new.resource_version = str(rev)
            return new
        raise _conflict(RES_IP, obj.name)

    def _create_service_obj(self, obj: Service, dry_run: bool) -> Service:
        svc = self._prepare_service(
            obj.name, obj.namespace, cluster_ip=obj.cluster_ip, cluster_ips=obj.cluster_ips,
            ip_families=obj.ip_families, ip_family_policy=obj.ip_family_policy, ports=obj.ports,
            service_type=obj.type, selector=obj.selector, labels=obj.labels, annotations=obj.annotations,
            external_name=obj.external_name, extra=obj.extra, status=obj.status,
        )
        return self._create_prepared([svc], dry_run)[0]

    def _update_service(self, obj: Service, check_rv: bool) -> Service:
        for _ in range(_MAX_RETRIES):
            self._sync()
            rec = self._store.get(SERVICES, obj.key)
            if rec is None:
                raise NotFoundError(RES_SVC, obj.name)
            old = self._svc_from_record(rec)
            if check_rv and obj.resource_version and obj.resource_version != old.resource_version:
                raise _conflict(RES_SVC, obj.name)
            errors = V.validate_service(obj)
            if (obj.type == "ExternalName") != (old.type == "ExternalName"):
                errors.append(V.invalid("spec.type", obj.type,
                                        "fastcidr does not convert Services to or from ExternalName; recreate it"))
            if obj.cluster_ips and obj.cluster_ips != old.cluster_ips:
                errors.append(V.invalid("spec.clusterIPs[0]", obj.cluster_ips, "may not change once set"))
            elif obj.cluster_ip and obj.cluster_ip != old.cluster_ip:
                errors.append(V.invalid("spec.clusterIP", obj.cluster_ip, "may not change once set"))
            V.check(errors, "Service", obj.name)
            new = replace(
                old,
                ports=list(obj.ports),
                selector=dict(obj.selector),
                labels=dict(obj.labels),
                annotations=dict(obj.annotations),
                external_name=obj.external_name if old.type == "ExternalName" else old.external_name,
                type=obj.type or old.type,
                extra=dict(obj.extra),
                status=dict(obj.status) if obj.status else old.status,
            )
            if new == old:
                return old
            try:
                rev = self._commit([Put(SERVICES, obj.key, replace(new, resource_version="").to_dict(),
                                        expect=rec.revision)])
            except TxnConflict:
                if check_rv and obj.resource_version:
                    raise _conflict(RES_SVC, obj.name) from None
                continue
            if not self._shared:
                self._rev = rev
            new.resource_version = str(rev)
            return new
        raise _conflict(RES_SVC, obj.name)

    @_locked
    def create(self, obj_or_dict: Any, *, dry_run: bool = False) -> Any:
        """Create a ServiceCIDR, IPAddress or Service from an object or a manifest dict
        (``AlreadyExistsError`` if it exists). Status in the input is ignored, as on create."""
        obj = self._coerce(obj_or_dict)
        if isinstance(obj, ServiceCIDR):
            return self._create_cidr(obj, dry_run=dry_run)
        if isinstance(obj, IPAddress):
            return self._create_ip(obj, dry_run)
        return self._create_service_obj(obj, dry_run)

    @_locked
    def apply(self, obj_or_dict: Any) -> Any:
        """Create the object, or update it if it exists (like ``kubectl apply``)."""
        obj = self._coerce(obj_or_dict)
        self._sync()
        if isinstance(obj, ServiceCIDR):
            if obj.name in self._scs:
                return self._update_cidr(obj, check_rv=False, keep_finalizers=True)
            return self._create_cidr(obj)
        if isinstance(obj, IPAddress):
            if self._store.get(IPADDRESSES, obj.name) is not None:
                return self._update_ip(obj, check_rv=False)
            return self._create_ip(obj, False)
        if self._store.get(SERVICES, obj.key) is not None:
            return self._update_service(obj, check_rv=False)
        return self._create_service_obj(obj, False)

    @_locked
    def update(self, obj_or_dict: Any) -> Any:
        """Replace an existing object; a given ``resource_version`` that is not the current one
        raises ``ConflictError`` (optimistic concurrency, as the apiserver does)."""
        obj = self._coerce(obj_or_dict)
        if isinstance(obj, ServiceCIDR):
            return self._update_cidr(obj, check_rv=True)
        if isinstance(obj, IPAddress):
            return self._update_ip(obj, check_rv=True)
        return self._update_service(obj, check_rv=True)

    # ------------------------------------------------------------------------------------------
    # import

    @_locked
    def import_objects(self, items: Any) -> int:
        """Restore objects as they are (a kubectl ``List`` or its items): uid, timestamps,
        finalizers and conditions kept, cluster IPs not reallocated, same-named objects replaced.
        If no range is recorded, the ``kubernetes`` ServiceCIDR's CIDRs become it. ``repair()``
        runs after. Returns the number of objects imported."""
        if isinstance(items, dict):
            items = items.get("items", []) if items.get("kind", "").endswith("List") or "items" in items else [items]
        ops: List[Any] = []
        count = 0
        default_cidrs: Optional[List[str]] = None
        for item in items:
            if isinstance(item, (ServiceCIDR, IPAddress, Service)):
                item = item.to_dict()
            if not isinstance(item, dict):
                raise TypeError(f"cannot import {item!r}")
            kind = item.get("kind")
            if kind == "ServiceCIDR":
                obj = ServiceCIDR.from_dict(item)
                if not obj.name:
                    raise ValidationError([V.required("metadata.name", "name or generateName is required")],
                                          kind="ServiceCIDR", name="")
                obj.uid = obj.uid or self._uid()
                obj.creation_timestamp = obj.creation_timestamp or self._now()
                ops.append(Put(SERVICECIDRS, obj.name, replace(obj, resource_version="").to_dict()))
                if obj.name == DEFAULT_NAME:
                    default_cidrs = list(obj.cidrs)
            elif kind == "IPAddress":
                obj2 = IPAddress.from_dict(item)
                if not obj2.name:
                    raise ValidationError([V.required("metadata.name", "name or generateName is required")],
                                          kind="IPAddress", name="")
                obj2.uid = obj2.uid or self._uid()
                obj2.creation_timestamp = obj2.creation_timestamp or self._now()
                ops.append(Put(IPADDRESSES, obj2.name, replace(obj2, resource_version="").to_dict()))
            elif kind == "Service":
                obj3 = Service.from_dict(item)
                if not obj3.name:
                    raise ValidationError([V.required("metadata.name", "name or generateName is required")],
                                          kind="Service", name="")
                obj3.uid = obj3.uid or self._uid()
                obj3.creation_timestamp = obj3.creation_timestamp or self._now()
                ops.append(Put(SERVICES, obj3.key, replace(obj3, resource_version="").to_dict()))
            else:
                continue
            count += 1
        self._sync()
        if not self._range and default_cidrs:
            ops.append(Put(META, RANGE_KEY, {"cidrs": default_cidrs}))
        if ops:
            self._commit(ops)
        self._rebuild_without_sync()
        self._controller_pass(None)
        self._ensure_default_service()
        self._repair()
        return count

    # ------------------------------------------------------------------------------------------
    # repair (SPEC.md §6)

    @_locked
    def repair(self) -> List[Event]:
        """Check every Service IP against the IPAddress objects and the other way round, fix what
        can be fixed, and return the events (SPEC.md §6)."""
        self._sync()
        return self._repair()

    def _held_by_any(self, family: int, value: int) -> bool:
        for sc in self._scs.values():
            for cidr in sc.cidrs:
                net = _net_of(cidr)
                if net is not None and _holds_host(net, family, value):
                    return True
        return False

    def _repair(self) -> List[Event]:
        sink: List[Event] = []
        self._collectors.append(sink)
        try:
            self._repair_pass()
        finally:
            self._collectors.remove(sink)
        return sink

    def _repair_commit(self, ops: List[Any]) -> bool:
        try:
            rev = self._commit(ops)
        except TxnConflict:
            return False
        if not self._shared:
            self._rev = rev
        return True

    def _canonical_ip(self, text: str) -> Optional[Tuple[int, int, str]]:
        """(family, value, canonical text) of a cluster IP, None if it is not a valid address."""
        try:
            family, value = self._impl.parse_ip(text)
        except (InvalidAddressError, ValueError, TypeError):
            parsed = _parse_ip(text)  # leading zeros etc.: still an address to Kubernetes
            if parsed is None:
                return None
            family, value = parsed
        return family, value, _canonical(family, value)

    def _lists_ip(self, value: Dict[str, Any], ip: str) -> bool:
        """Whether a stored Service lists ``ip`` (canonical) among its cluster IPs."""
        listed = _service_ips(value)
        if ip in listed:
            return True
        for text in listed:
            parsed = self._canonical_ip(text)
            if parsed is not None and parsed[2] == ip:
                return True
        return False

    def _repair_pass(self) -> None:
        now = self._now()
        # Only the projected fields of each object are read below (store.project): no whole
        # objects are decoded, which is what makes start-up on a million objects fast.
        svc_rows, _ = self._store.list_projection_raw(SERVICES)
        listing, self._ip_listing = self._ip_listing, None
        if listing is not None and listing[0] == self._store.current_revision():
            ip_rows = listing[1]  # start-up: what _rebuild just listed, nobody wrote since
        else:
            ip_rows, _ = self._store.list_projection_raw(IPADDRESSES)
        services = _LazyRecords(SERVICES, svc_rows, self._store.decode_projection)
        ips = _LazyRecords(IPADDRESSES, ip_rows, self._store.decode_projection)
        raw_ip = ips.raw.get
        self._leak_watch = {}
        ts = format_time(now)
        has = self._alloc.has

        def owned_value(ip: str, ns: str, name: str) -> Dict[str, Any]:
            return self._ip_value(ip, Service(name=name, namespace=ns), ts)

        # A first pass over everything only recognises the consistent majority (a Service whose
        # every address has its object, pointing back at it, correctly labelled) without sorting
        # or parsing; whatever it does not recognise gets the full treatment, in key order.
        verified: Set[str] = set()
        suspects: List[str] = []
        add_verified = verified.add
        v4_labels, v6_labels = _ALLOCATOR_LABELS["IPv4"], _ALLOCATOR_LABELS["IPv6"]
        for key, (_key, service_raw, _rev) in services.raw.items():
            if type(service_raw) is str:
                # from the stored text alone: a single-stack ClusterIP Service and its one address
                text = _single_cluster_ip(service_raw)
                entry = raw_ip(text) if text is not None else None
                if text is not None and entry is not None and type(entry[1]) is str and has(text) \
                        and '"' not in key and "\\" not in key and key.isprintable():
                    ns, _, name = key.partition("/")
                    if _is_allocator_projection(entry[1], ns, name, "IPv6" if ":" in text else "IPv4"):
                        add_verified(text)
                        continue
                value = services[key].value
            else:
                value = service_raw
            # Fastest check first, for the single-stack Service the allocator wrote: its one
            # address's object holds exactly the expected reference and labels (dict equality runs
            # in C). Anything else (dual-stack, odd shapes) takes the general check just below;
            # being stricter here only sends more objects there, never changes the outcome.
            spec: Any = value.get("spec") if type(value) is dict else None
            listed = spec.get("clusterIPs") if type(spec) is dict else None
            if type(listed) is list and len(listed) == 1 and spec.get("type") != "ExternalName":
                text = listed[0]
                entry = raw_ip(text) if type(text) is str else None
                if entry is not None and has(text):
                    v = entry[1]
                    ns, _, name = key.partition("/")
                    if type(v) is str and '"' not in key and "\\" not in key and key.isprintable():
                        if _is_allocator_projection(v, ns, name, "IPv6" if ":" in text else "IPv4"):
                            add_verified(text)
                            continue
                        v = ips[text].value
                    try:
                        ok = v["spec"]["parentRef"] == {"resource": "services", "namespace": ns, "name": name} \
                            and v["metadata"]["labels"] == (v6_labels if ":" in text else v4_labels)
                    except (KeyError, TypeError, IndexError):
                        ok = False
                    if ok:
                        add_verified(text)
                        continue
            listed = _service_ips(value)
            if not listed:
                continue
            ns, _, name = key.partition("/")
            good = []
            for text in listed:
                rec = ips.get(text)
                if rec is None or not has(text):
                    break
                v = rec.value
                ref = (v.get("spec") or {}).get("parentRef") or {}
                if ref.get("name") != name or ref.get("namespace", "") != ns or ref.get("resource") != "services" \
                        or ref.get("group", ""):
                    break
                labels = (v.get("metadata") or {}).get("labels") or {}
                if labels.get(LABEL_MANAGED_BY) != MANAGED_BY_ALLOCATOR or \
                        labels.get(LABEL_IP_FAMILY) != ("IPv6" if ":" in text else "IPv4"):
                    break
                good.append(text)
            else:
                verified.update(good)
                continue
            suspects.append(key)

        # the Service side
        for key in sorted(suspects):
            value = services[key].value
            ns, name = key.split("/", 1) if "/" in key else ("default", key)
            regarding = f"services/{ns}/{name}"
            for text in _service_ips(value):
                rec = ips.get(text)
                if rec is not None and has(text):
                    # the usual case: a canonical address with its object, inside a CIDR
                    ip = text
                    fam = "IPv6" if ":" in ip else "IPv4"
                else:
                    parsed = self._canonical_ip(text)
                    if parsed is None:
                        self._emit("Warning", "ClusterIPNotValid",
                                   f"Cluster IP {text} is not a valid IP; please recreate Service", regarding)
                        continue
                    family, number, ip = parsed
                    fam = _family_name(family)
                    if not self._held_by_any(family, number):
                        self._emit("Warning", "ClusterIPOutOfRange",
                                   f"Cluster IP [{fam}]: {ip} is not within any configured Service CIDR; "
                                   "please recreate service", regarding)
                        continue
                    rec = ips.get(ip)
                if rec is None:
                    self._emit("Warning", "ClusterIPNotAllocated",
                               f"Cluster IP [{fam}]: {ip} is not allocated; repairing", regarding)
                    new = owned_value(ip, ns, name)
                    if self._repair_commit([Create(IPADDRESSES, ip, new)]):
                        ips[ip] = Record(IPADDRESSES, ip, new, 0)
                        self._mark(ip)
                    continue
                spec = rec.value.get("spec") or {}
                ref = spec.get("parentRef") or {}
                labels = (rec.value.get("metadata") or {}).get("labels") or {}
                wrong = False
                if ref.get("group", "") != "" or ref.get("resource") != "services":
                    wrong = True
                elif ref.get("name", "") != name or ref.get("namespace", "") != ns:
                    other = services.get(f"{ref.get('namespace', '')}/{ref.get('name', '')}")
                    if other is None:
                        wrong = True
                    else:
                        if self._lists_ip(other.value, ip):
                            self._emit("Warning", "ClusterIPAlreadyAllocated",
                                       f"Cluster IP [{fam}]:{ip} was assigned to multiple services; "
                                       "please recreate service", regarding)
                        continue  # otherwise the IPAddress side removes the stale object
                if wrong:
                    self._emit("Warning", "ClusterIPNotAllocated",
                               f"the ClusterIP [{fam}]: {ip} for Service {ns}/{name} has a wrong reference; "
                               "repairing", regarding)
                elif labels.get(LABEL_IP_FAMILY) == fam and labels.get(LABEL_MANAGED_BY) == MANAGED_BY_ALLOCATOR:
                    continue
                new = owned_value(ip, ns, name)
                if self._repair_commit([Put(IPADDRESSES, ip, new, expect=rec.revision)]):
                    ips[ip] = Record(IPADDRESSES, ip, new, 0)

        # the IPAddress side
        removed: List[str] = []
        for ip in sorted(ips.keys() - verified):
            rec = ips[ip]
            meta = rec.value.get("metadata") or {}
            labels = meta.get("labels") or {}
            if labels.get(LABEL_MANAGED_BY) != MANAGED_BY_ALLOCATOR:
                continue
            ref = (rec.value.get("spec") or {}).get("parentRef")
            if isinstance(ref, dict) and ref.get("resource") == "services" and ref.get("group", "") == "":
                ns, name = ref.get("namespace", ""), ref.get("name", "")
                svc = services.get(f"{ns}/{name}")
                if svc is not None and ip in _service_ips(svc.value):
                    continue  # the usual case
            regarding = f"ipaddresses/{ip}"
            expect = rec.revision or None
            if not isinstance(ref, dict) or ref.get("group", "") != "" or ref.get("resource") != "services":
                pr = ParentReference.from_dict(ref) if isinstance(ref, dict) else None
                shown = "<nil>" if pr is None else f"&{{{pr.group} {pr.resource} {pr.namespace} {pr.name}}}"
                self._emit("Warning", "IPAddressNotAllocated",
                           f"IPAddress {ip} appears to have been modified, not referencing a Service {shown}: "
                           "cleaning up", regarding)
                if self._repair_commit([Delete(IPADDRESSES, ip, expect=expect)]):
                    removed.append(ip)
                continue
            if svc is None:
                created = parse_time(meta.get("creationTimestamp"))
                age = (now - created).total_seconds() if created is not None else float("inf")
                if age > self._leak_grace:
                    self._emit("Warning", "IPAddressNotAllocated",
                               f"IPAddress: {ip} for Service {ns}/{name} appears to have leaked: cleaning up",
                               regarding)
                    if self._repair_commit([Delete(IPADDRESSES, ip, expect=expect)]):
                        removed.append(ip)
                elif created is not None:
                    self._leak_watch[ip] = created + _dt.timedelta(seconds=self._leak_grace)
                continue
            if not self._lists_ip(svc.value, ip):
                self._emit("Warning", "IPAddressWrongReference",
                           f"IPAddress: {ip} for Service {ns}/{name} has a wrong reference; cleaning up", regarding)
                if self._repair_commit([Delete(IPADDRESSES, ip, expect=expect)]):
                    removed.append(ip)
        for ip in removed:
            self._unmark(ip)
        if removed:
            self._sync_holding(removed)

    # ------------------------------------------------------------------------------------------
    # metrics

    @_locked
    def metrics(self) -> Dict[str, Any]:
        """The allocator metrics of SPEC.md §8 as a dict (see ``fastcidr.k8s.metrics``)."""
        self._sync()
        gauges = {}
        for cidr in self._alloc_cidrs:
            stats = self._alloc.stats(cidr)
            gauges[cidr] = (int(stats["used"]), int(stats["free"]))
        return self._metrics.snapshot(gauges)

    def metrics_text(self) -> str:
        """The same metrics in Prometheus' text exposition format."""
        return AllocatorMetrics.text(self.metrics())


def _close_at_exit(ref: "weakref.ReferenceType[Cluster]") -> None:
    cluster = ref()
    if cluster is not None:
        try:
            cluster.close()
        except Exception:
            pass
