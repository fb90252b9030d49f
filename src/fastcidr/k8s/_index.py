"""The Cluster's caches kept in step with its store: the allocation index and the ServiceCIDRs.

The store is the truth; the allocation index (the core's ``MultiCIDRAllocator``) and the table of
ServiceCIDR objects are caches rebuilt from the store when a Cluster starts and kept current from
the writes it makes and, on a shared store (SQLite, etcd), from the store's change log before
every decision (:meth:`IndexedStore._sync`). Also the small helpers every part of the Cluster
shares (address arithmetic on ServiceCIDR entries, uids, the locking decorator).
"""
from __future__ import annotations

import datetime as _dt
import functools
import logging
import os
import threading
import time
import uuid
from collections import deque
from dataclasses import replace
from typing import Any, Callable, Deque, Dict, List, Optional, Set, Tuple, TypeVar, cast

from .. import _backend
from .._log import get_logger
from ..errors import (
    AllocationError,
    AlreadyAllocatedError,
    ConflictError,
    InvalidAddressError,
    MismatchedNetworkError,
    StoreError,
)
from ..store.base import Compacted, Create, Delete, Put, Record, Require, Store, UnreadableRecordError
from . import layout
from . import resources as _resources
from . import validation as V
from .layout import IPADDRESSES, META, RANGE_KEY, SERVICECIDRS
from .metrics import AllocatorMetrics
from .view import decode_object, shape_problem
from .objects import (
    LABEL_IP_FAMILY,
    LABEL_MANAGED_BY,
    MANAGED_BY_ALLOCATOR,
    UTC,
    Event,
    IPAddress,
    Service,
    ServiceCIDR,
)

__all__ = ["IndexedStore"]

log = get_logger(__name__)

# how error messages name the resources
RES_CIDR = _resources.SERVICECIDRS.qualified
RES_IP = _resources.IPADDRESSES.qualified
RES_SVC = _resources.SERVICES.qualified

DEFAULT_NAME = "kubernetes"
_DEFAULT_SERVICE_KEY = "default/kubernetes"
READY_MESSAGE = "Kubernetes Service CIDR is ready"
TERMINATING_REASON = "Terminating"
TERMINATING_MESSAGE = (
    "There are still IPAddresses referencing the ServiceCIDR, please remove them or create a new ServiceCIDR"
)
_MAX_RETRIES = 64

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
    """docs/behaviour.md §1 host containment: inside, not the network address, not the IPv4 broadcast."""
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
    """The cluster IPs a stored Service holds (nothing for headless / ExternalName, nor for a
    value too damaged to hold any)."""
    spec = value.get("spec") if type(value) is dict else None
    if type(spec) is not dict or spec.get("type") == "ExternalName":
        return []
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    if type(ips) is not list or not ips or ips[0] in ("None", ""):
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
    """(store, owned): None → an in-memory store owned by the Cluster. The store is given the
    layout's projector (what start-up reads), unless it has one."""
    owned = True
    if store is None:
        from ..store.memory import MemoryStore

        opened: Store = MemoryStore(copy_values=False)
    elif isinstance(store, Store):
        opened, owned = store, False
    else:
        from ..store import urls

        opened = urls.open_store(store)
    if opened.projector is None:
        opened.projector = layout.project
    return opened, owned


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
_Obj = TypeVar("_Obj")


def _name_in(value: Any) -> str:
    meta = value.get("metadata") if isinstance(value, dict) else None
    return str(meta.get("name") or "") if isinstance(meta, dict) else ""


def _shaped(records: List[Record], store: Store, what: str) -> List[Record]:
    """The records whose values are shaped like Kubernetes objects (see ``view.shape_problem``);
    the others are left out with a warning, as the listings of objects leave them out."""
    out = []
    for rec in records:
        problem = shape_problem(rec.value)
        if problem:
            store.note_unreadable(rec.kind, rec.key, f"not a valid {what} ({problem})")
        else:
            out.append(rec)
    return out


def _locked(method: _Method) -> _Method:
    """Run ``method`` under the Cluster's lock (refused once the Cluster is closed), keeping its
    signature, name and docstring for ``help()`` and type checkers (``functools.wraps``; the
    wrapper is typed as the method itself)."""

    @functools.wraps(method)
    def wrapper(self: "IndexedStore", *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            if self._closed:
                raise StoreError("the Cluster is closed")
            return method(self, *args, **kwargs)

    return cast(_Method, wrapper)



class IndexedStore:
    """A store and the caches built from it (see the module docstring); the base of ``Cluster``."""

    def __init__(
        self,
        *,
        store: Any,
        seed: Optional[int],
        clock: Optional[Callable[[], _dt.datetime]],
        deletion_grace_period: float,
        leak_grace_period: float,
        policy: str,
    ) -> None:
        self._lock = threading.RLock()
        self._closed = True  # until the constructor finishes
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
        self._primary_for: Tuple[Optional[List[str]], Optional[str]] = (None, None)
        self._alloc: Any = None
        self._alloc_cidrs: Dict[str, bool] = {}
        self._single_ready: Dict[str, Optional[str]] = {}
        self._unallocatable: Set[str] = set()
        self._outside: Set[str] = set()
        # the raw IPAddress listing of the last _rebuild, for the repair() that follows it
        self._ip_listing: Optional[Tuple[int, List[Tuple[str, Any, int]]]] = None

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
        log.log(logging.WARNING if type_ == "Warning" else logging.INFO, "%s %s %s: %s",
                type_, reason, regarding, message)
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

    def _rebuild(self) -> None:
        """Rebuild every cache from the store (start-up, or after the change log was compacted).
        Records that cannot be read are left out with a warning (the store's listings skip
        what is not JSON; ServiceCIDRs of the wrong shape are skipped here): one damaged record
        must not keep a Cluster from starting. An IPAddress is indexed by its key alone, so
        even a damaged one keeps its address taken."""
        records, rev = self._store.list(SERVICECIDRS)
        # only the keys are read here; repair() at start-up reuses the listing (see _repair_pass)
        ip_rows, ip_rev = self._store.list_projection_raw(IPADDRESSES)
        self._ip_listing = (ip_rev, ip_rows)
        try:
            meta = self._store.get(META, RANGE_KEY)
        except UnreadableRecordError as e:
            self._store.note_unreadable(e.store_kind, e.key, e.reason_text)
            meta = None
        self._rev = rev
        records.sort(key=lambda r: (r.create_revision, r.key))
        self._scs = {}
        for r in records:
            try:
                self._scs[r.key] = self._cidr_from_record(r.value, r.revision, r.key)
            except UnreadableRecordError as e:
                self._store.note_unreadable(SERVICECIDRS, r.key, e.reason_text)
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

    def _cidr_from_record(self, value: Dict[str, Any], revision: int, key: str = "") -> ServiceCIDR:
        """The ServiceCIDR a record holds; :class:`UnreadableRecordError` naming it when the value
        is not a ServiceCIDR's shape."""
        sc = decode_object(ServiceCIDR, "ServiceCIDR", SERVICECIDRS, key or _name_in(value), value)
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
                sc = None
                if ch.type == "PUT" and ch.value is not None:
                    try:
                        sc = self._cidr_from_record(ch.value, ch.revision, ch.key)
                    except UnreadableRecordError as e:  # as at start-up: an unreadable one is not used
                        self._store.note_unreadable(SERVICECIDRS, ch.key, e.reason_text)
                if sc is not None:
                    self._scs[ch.key] = sc
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
        (ready while one listing ServiceCIDR is ready, docs/behaviour.md §2.3)."""
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

    def _effective_range(self) -> List[str]:
        if self._range:
            return self._range
        default = self._scs.get(DEFAULT_NAME)
        return list(default.cidrs) if default is not None else []

    def _primary_family(self) -> Optional[str]:
        """The first configured family (None without a range), remembered for the range list
        it was worked out for: the range is replaced when it changes, never changed in place."""
        rng = self._range
        remembered = self._primary_for
        if rng and remembered[0] is rng:
            return remembered[1]
        families = self._families()
        primary = families[0] if families else None
        if rng:
            self._primary_for = (rng, primary)
        return primary

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

    def _ip_key(self, ip: Any) -> str:
        if isinstance(ip, str):
            return ip
        return str(self._impl.canonical_ip(ip))

    @staticmethod
    def _ip_from_record(rec: Record) -> IPAddress:
        obj = decode_object(IPAddress, "IPAddress", rec.kind, rec.key, rec.value)
        obj.resource_version = str(rec.revision)
        obj.name = obj.name or rec.key
        return obj

    @staticmethod
    def _svc_from_record(rec: Record) -> Service:
        obj = decode_object(Service, "Service", rec.kind, rec.key, rec.value)
        obj.resource_version = str(rec.revision)
        return obj

    def _exists(self, kind: str, key: str) -> bool:
        """Whether a record is at ``key``, readable or not: a damaged record still holds its
        name (the controllers must not try to create it again)."""
        try:
            return self._store.get(kind, key) is not None
        except UnreadableRecordError:
            return True

    def _readable(self, records: List[Record], decode: Callable[[Record], _Obj]) -> List[_Obj]:
        """``decode`` of each record by key, leaving out (with a warning) those that cannot be
        read: one damaged record must not hide every other object of its kind."""
        out: List[_Obj] = []
        for rec in sorted(records, key=lambda r: r.key):
            try:
                out.append(decode(rec))
            except UnreadableRecordError as e:
                self._store.note_unreadable(rec.kind, rec.key, e.reason_text)
        return out
