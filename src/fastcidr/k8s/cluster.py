"""``Cluster``: the Service IP part of a Kubernetes control plane as a library (docs/behaviour.md §3-§8).

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
import contextlib
import datetime as _dt
import functools
import gc
import time
import weakref
from dataclasses import replace
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, TypeVar, Union

from .._log import get_logger
from ..errors import NotFoundError, StoreError
from ..store.base import Change, Delete, Put, Store, TxnConflict, UnreadableRecordError
from . import importer, layout, namespaces, resources
from . import validation as V
from ._index import (
    _DEFAULT_SERVICE_KEY,
    _MAX_RETRIES,
    DEFAULT_NAME,
    RES_CIDR,
    RES_IP,
    RES_SVC,
    _canonical,
    _clone,
    _coerce_cidrs,
    _conflict,
    _locked,
    _parse_ip,
    _shaped,
    _split_range,
)
from .layout import IPADDRESSES, META, SERVICECIDRS, SERVICES
from .metrics import AllocatorMetrics
from .nodeports import parse_port_range
from .objects import UTC, Event, IPAddress, Service, ServiceCIDR, format_time
from .repair import Repair
from .resources import ResourceType

__all__ = ["Cluster", "paused_collector"]

log = get_logger(__name__)
_Finalized = TypeVar("_Finalized", Service, IPAddress)


class Cluster(Repair):
    """The ServiceCIDR / IPAddress / Service lifecycle of a Kubernetes control plane.

    See docs/api.md "Cluster". ``service_cluster_ip_range`` (``"10.96.0.0/12"``, ``"10.96.0.0/12,fd00::/108"``
    or a list) is recorded in the store; the ``kubernetes`` ServiceCIDR and the ``default/kubernetes``
    Service then exist. ``store``: None (in memory), a URL / path, or a Store object. ``clock``: a
    callable returning the current UTC ``datetime``. ``deletion_grace_period`` (seconds) delays
    finalizer removal (``reconcile()`` finishes it later); ``leak_grace_period`` is the age an
    orphaned IPAddress must reach before ``repair()`` deletes it. ``seed`` and ``policy`` go to the
    allocation index. ``service_node_port_range`` (``"30000-32767"``, the default) is where
    NodePort and LoadBalancer Services get their node ports. ``default_range`` is recorded when no
    range is given and the store holds none (nor a ServiceCIDR). Thread-safe (one re-entrant lock
    per call); a context manager.
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
        service_node_port_range: Any = None,
        default_range: Any = None,
    ) -> None:
        rng = _split_range(service_cluster_ip_range)
        fallback = _split_range(default_range)
        if fallback is not None:
            V.check(V.validate_range(fallback), "ServiceCIDR", DEFAULT_NAME)
        if service_node_port_range is not None:
            self._node_port_range = parse_port_range(service_node_port_range)
        if rng is not None:
            V.check(V.validate_range(rng), "ServiceCIDR", DEFAULT_NAME)
        if policy not in ("weighted", "random", "ordered"):
            raise ValueError(f"policy must be 'weighted', 'random' or 'ordered', got {policy!r}")
        super().__init__(store=store, seed=seed, clock=clock, deletion_grace_period=deletion_grace_period,
                         leak_grace_period=leak_grace_period, policy=policy)
        self._started = _dt.datetime.now(UTC).replace(microsecond=0)  # when Namespaces have no other time
        # addresses kept taken in the index after their IPAddress object was deleted while a live
        # Service listed them (delete_ip_address), until repair() has recreated the object
        self._held: Set[str] = set()
        began = time.perf_counter()
        try:
            # (the cyclic collector stays as the host application set it: applications that
            # build or load very large states may pause it around the call, see paused_collector)
            with self._lock:
                self._closed = False
                self._rebuild()
                if (rng is None and fallback is not None and not self._range and not self._scs
                        and not self._store.read_only):
                    # nothing given and nothing held: the default, as kube-apiserver started
                    # without --service-cluster-ip-range uses its own
                    rng = fallback
                    log.warning("no service cluster IP range given and none in the store: using %s",
                                ",".join(fallback))
                if rng is not None and rng != self._range:
                    # (on a read-only store: ReadOnlyStoreError, rather than a range not kept)
                    self._write_range(rng)
                # A read-only store is served as it stands: no controller, repair or
                # default-object writes (each would only fail; docs/stores.md)
                if not self._store.read_only:
                    self._controller_pass(None)
                    self._repair()  # before the default Service takes its address
                self._ip_listing = None
                if not self._store.read_only:
                    self._ensure_default_service()
        except BaseException:
            self._closed = True
            if self._owns_store:
                self._store.close()
            raise
        log.info("started on %s in %.3f s: range %s, %d ServiceCIDRs", self._store.url or type(self._store).__name__,
                 time.perf_counter() - began, ",".join(self._range or []) or "(none)", len(self._scs))
        # close() also runs at exit; a weak reference, so that the registration keeps nothing alive
        self._at_exit = functools.partial(_close_at_exit, weakref.ref(self))
        atexit.register(self._at_exit)

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
    def leak_grace_period(self) -> float:
        """Seconds an orphaned IPAddress must exist before ``repair()`` deletes it."""
        return self._leak_grace

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

    @_locked
    def get_service_cidr(self, name: str) -> ServiceCIDR:
        rec = self._store.get(SERVICECIDRS, str(name))
        if rec is None:
            raise NotFoundError(RES_CIDR, str(name))
        return self._cidr_from_record(rec.value, rec.revision, rec.key)

    @_locked
    def list_service_cidrs(self) -> List[ServiceCIDR]:
        records, _ = self._store.list(SERVICECIDRS)
        return self._readable(records, lambda r: self._cidr_from_record(r.value, r.revision, r.key))

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

    @_locked
    def list_ip_addresses(self) -> List[IPAddress]:
        records, _ = self._store.list(IPADDRESSES)
        return self._readable(records, self._ip_from_record)

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
        if prefix is not None:
            records = [r for r in records if r.key.startswith(prefix)]
        return self._readable(records, self._svc_from_record)

    @_locked
    def events(self) -> List[Event]:
        """Events recorded so far (the last 10,000), oldest first."""
        return list(self._events)

    @_locked
    def create_service_cidr(self, name: str, cidrs: Any, *, dry_run: bool = False) -> ServiceCIDR:
        """Create a ServiceCIDR; it is Ready at once (finalizer and condition set by the controller)."""
        return self._create_cidr(ServiceCIDR(str(name), _coerce_cidrs(cidrs)), dry_run=dry_run)

    @_locked
    def update_service_cidr(self, name: str, cidrs: Any) -> ServiceCIDR:
        """Change ``spec.cidrs``: only single → dual stack keeping ``cidrs[0]`` is allowed."""
        self._sync()
        old = self._scs.get(str(name))
        if old is None:
            raise NotFoundError(RES_CIDR, str(name))
        return self._update_cidr(replace(old, cidrs=_coerce_cidrs(cidrs), resource_version=""), check_rv=False)

    @_locked
    def update_status(self, obj_or_dict: Any, *, dry_run: bool = False) -> Any:
        """Replace the status of a ServiceCIDR (conditions; the controller then reconciles it as
        Kubernetes' would) or of a Service (``status.loadBalancer``, ``status.conditions``); the
        spec and metadata are kept, as the ``status`` subresource does."""
        obj = self._coerce(obj_or_dict)
        if isinstance(obj, ServiceCIDR):
            return self._update_cidr(obj, check_rv=True, status=True, dry_run=dry_run)
        if isinstance(obj, Service):
            return self._update_service(obj, check_rv=True, dry_run=dry_run, status_only=True)
        raise TypeError("update_status takes a ServiceCIDR or a Service")

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
            try:
                rec = self._store.get(IPADDRESSES, ip)
                if rec is not None:
                    out.append(self._ip_from_record(rec))
            except UnreadableRecordError as e:  # it blocks, but is no IPAddress to show
                self._store.note_unreadable(IPADDRESSES, ip, e.reason_text)
        return out

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
        """Create a Service and its IPAddress objects in one transaction (docs/behaviour.md §5).

        Errors: ``ValidationError`` (422) for bad fields and families; for a requested address the
        allocator's class (``AlreadyAllocatedError``, ``MismatchedNetworkError``, ...) with reason
        Invalid / 422 and Kubernetes' message; ``RangeFullError`` (500) ``failed to allocate a
        serviceIP: range is full``; ``AlreadyExistsError``. ``dry_run`` changes nothing.
        """
        if (cluster_ip is None and cluster_ips is None and ip_families is None and ip_family_policy is None
                and ports is None and not dry_run and service_type is None and selector is None
                and labels is None and annotations is None and external_name is None):
            with self._lock:  # what @_locked does, without its extra call: this is the hot call
                if self._closed:
                    raise StoreError("the Cluster is closed")
                plain = self._create_plain(name, namespace)
            if plain is not None:
                return plain
        return self._create_service(
            name, namespace, dry_run, cluster_ip=cluster_ip, cluster_ips=cluster_ips, ip_families=ip_families,
            ip_family_policy=ip_family_policy, ports=ports, service_type=service_type, selector=selector,
            labels=labels, annotations=annotations, external_name=external_name,
        )

    @_locked
    def _create_service(self, name: Any, namespace: Any, dry_run: bool, **fields: Any) -> Service:
        """``create_service`` by the general path (everything it may be asked)."""
        return self._create_prepared([self._prepare_service(name, namespace, **fields)], dry_run)[0]

    @_locked
    def create_services(self, specs: Iterable[Dict[str, Any]], *, dry_run: bool = False) -> List[Service]:
        """Create many Services in one transaction: all of them or (on any error) none.

        Each spec is a dict of ``create_service``'s keyword arguments (``name`` required)."""
        return self._create_services(list(specs), dry_run)

    @_locked
    def delete_service(self, name: str, namespace: str = "default") -> Optional[Service]:
        """Delete a Service and the IPAddress objects and node ports that belong to it (one
        transaction); ``default/kubernetes`` is then recreated at once, as the apiserver does.
        A Service with finalizers is only marked (``deletionTimestamp``) and returned: it keeps
        its addresses until its last finalizer is removed. Returns None when it is gone."""
        key = f"{namespace}/{name}"
        for _ in range(_MAX_RETRIES):
            self._sync()
            rec = self._store.get(SERVICES, key)
            if rec is None:
                raise NotFoundError(RES_SVC, str(name))
            current = self._svc_from_record(rec)
            if current.finalizers:
                marked = self._mark_deleted(SERVICES, key, rec, current)
                if marked is None:
                    continue
                return marked
            ops, released, ports = self._removal_ops(rec, namespace, str(name))
            try:
                rev = self._commit(ops)
            except TxnConflict:
                continue
            self._after_removal(rev, released, ports)
            if key == _DEFAULT_SERVICE_KEY:
                self._ensure_default_service()  # the apiserver recreates it, on its first address
            return None
        raise _conflict(RES_SVC, str(name))

    def _mark_deleted(self, table: str, key: str, rec: Any, current: _Finalized) -> Optional[_Finalized]:
        """The object with finalizers as a delete leaves it: marked with ``deletionTimestamp``
        (once; an object already terminating is returned as it is). None when another writer
        changed the record first, for the caller to retry."""
        if current.terminating:
            return current
        marked = replace(current, deletion_timestamp=self._now(), resource_version="")
        try:
            rev = self._commit([Put(table, key, marked.to_dict(), expect=rec.revision)])
        except TxnConflict:
            return None
        if not self._shared:
            self._rev = rev
        marked.resource_version = str(rev)
        return marked

    @_locked
    def delete_ip_address(self, ip: Any) -> Optional[IPAddress]:
        """Delete an IPAddress object. The address becomes free, unless a live Service still
        lists it: then the index keeps it taken, so that no other Service gets it before the
        repair controller recreates the object (docs/serve.md "Controllers"). One with finalizers
        is only marked (``deletionTimestamp``) and returned; None when it is gone."""
        key = self._ip_key(ip)
        for _ in range(_MAX_RETRIES):
            self._sync()
            rec = self._store.get(IPADDRESSES, key)
            if rec is None:
                raise NotFoundError(RES_IP, key)
            current = self._ip_from_record(rec)
            if current.finalizers:
                marked = self._mark_deleted(IPADDRESSES, key, rec, current)
                if marked is None:
                    continue
                return marked
            try:
                rev = self._commit([Delete(IPADDRESSES, key, expect=rec.revision)])
            except TxnConflict:
                continue
            if not self._shared:
                self._rev = rev
            if self._listed_by_parent(key, rec.value):
                self._held.add(key)
            else:
                self._unmark(key)
                self._sync_holding([key])
            return None
        raise _conflict(RES_IP, key)

    def _listed_by_parent(self, ip: str, value: Dict[str, Any]) -> bool:
        """Whether the Service an IPAddress object (``value``) names lists ``ip``."""
        ref = (value.get("spec") or {}).get("parentRef") or {}
        if ref.get("group", "") != "" or ref.get("resource") != SERVICES:
            return False
        svc = self._store.get(SERVICES, f"{ref.get('namespace', '')}/{ref.get('name', '')}")
        return svc is not None and self._lists_ip(svc.value, ip)

    @_locked
    def create(self, obj_or_dict: Any, *, dry_run: bool = False) -> Any:
        """Create a ServiceCIDR, IPAddress or Service from an object or a manifest dict
        (``AlreadyExistsError`` if it exists). Status in the input is ignored, as on create."""
        obj = self._coerce(obj_or_dict)
        if isinstance(obj, ServiceCIDR):
            return self._create_cidr(obj, dry_run=dry_run)
        if isinstance(obj, IPAddress):
            return self._create_ip(obj, dry_run)
        # a Service read from a manifest is this call's own: prepared in place, not rebuilt
        return self._create_service_obj(obj, dry_run, owned=isinstance(obj_or_dict, dict))

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
            ip_rec = self._store.get(IPADDRESSES, obj.name)
            if ip_rec is not None:
                stored_ip = self._ip_from_record(ip_rec)
                obj = replace(obj, finalizers=obj.finalizers or list(stored_ip.finalizers),
                              owner_references=obj.owner_references or list(stored_ip.owner_references))
                return self._update_ip(obj, check_rv=False)
            return self._create_ip(obj, False)
        rec = self._store.get(SERVICES, obj.key)
        if rec is not None:
            # like kubectl apply, a manifest that does not mention them keeps them
            stored = self._svc_from_record(rec)
            obj = replace(obj, finalizers=obj.finalizers or list(stored.finalizers),
                          owner_references=obj.owner_references or list(stored.owner_references))
            return self._update_service(obj, check_rv=False)
        return self._create_service_obj(obj, False, owned=isinstance(obj_or_dict, dict))

    @_locked
    def update(self, obj_or_dict: Any, *, dry_run: bool = False) -> Any:
        """Replace an existing object; a given ``resource_version`` that is not the current one
        raises ``ConflictError`` (optimistic concurrency, as the apiserver does). ``dry_run``
        validates fully and returns the result, changing and allocating nothing. Removing the
        last finalizer of an object being deleted deletes it."""
        obj = self._coerce(obj_or_dict)
        if isinstance(obj, ServiceCIDR):
            return self._update_cidr(obj, check_rv=True, dry_run=dry_run)
        if isinstance(obj, IPAddress):
            return self._update_ip(obj, check_rv=True, dry_run=dry_run)
        return self._update_service(obj, check_rv=True, dry_run=dry_run)

    @_locked
    def import_objects(self, items: Any, *, progress: Optional[Callable[[str, int], None]] = None) -> int:
        """Restore objects as they are (a kubectl ``List``, its items, or any iterable of them):
        uid, timestamps, finalizers and conditions kept, cluster IPs not reallocated, same-named
        objects replaced, Services with their node ports. Every object is read before the first
        write (a bad one changes nothing); they are then written in batches (see
        :mod:`fastcidr.k8s.importer`). If no range is recorded, the ``kubernetes`` ServiceCIDR's
        CIDRs become it. ``repair()`` runs after. ``progress(phase, count)``, if given, hears how
        far it got. Returns the number imported."""
        return importer.import_into(self, items, progress=progress)

    @_locked
    def repair(self) -> List[Event]:
        """Check every Service IP against the IPAddress objects and the other way round, fix what
        can be fixed, and return the events (docs/behaviour.md §6)."""
        self._sync()
        events = self._repair()
        self._release_held()
        return events

    def _release_held(self) -> None:
        """After a repair pass: an address held for a Service (see delete_ip_address) whose
        object is still missing has no Service listing it any more (the pass would have
        recreated the object): it becomes free."""
        held, self._held = self._held, set()
        gone = [ip for ip in held if self._store.get(IPADDRESSES, ip) is None]
        for ip in gone:
            self._unmark(ip)
        if gone:
            self._sync_holding(gone)


    # ------------------------------------------------------------------------------------------
    # generic access by kind, Namespaces and the change log (for the API server and other clients
    # that serve every kind alike: none of them needs the store)

    @staticmethod
    def _resource(kind: Union[str, ResourceType]) -> ResourceType:
        if isinstance(kind, ResourceType):
            return kind
        res = resources.by_kind(kind) or resources.lookup(kind) or (
            resources.NAMESPACES if kind in resources.NAMESPACES.names else None)
        if res is None:
            raise ValueError(f"unknown kind {kind!r}")
        return res

    def get(self, kind: Union[str, ResourceType], name: str, namespace: Optional[str] = None) -> Any:
        """The object of ``kind`` (``"ServiceCIDR"``, ``"ipaddresses"``, ``"svc"``, ...) by name:
        a ServiceCIDR, IPAddress or Service object, or a Namespace's wire dict."""
        res = self._resource(kind)
        if res is resources.SERVICECIDRS:
            return self.get_service_cidr(name)
        if res is resources.IPADDRESSES:
            return self.get_ip_address(name)
        if res is resources.SERVICES:
            return self.get_service(name, namespace or "default")
        for item in self.list_namespaces():
            if item["metadata"]["name"] == name:
                return item
        raise NotFoundError(res.qualified, name)

    def list(self, kind: Union[str, ResourceType], namespace: Optional[str] = None) -> List[Any]:
        """Every object of ``kind`` (Services: of ``namespace``, or all when None), by key."""
        res = self._resource(kind)
        if res is resources.SERVICECIDRS:
            return self.list_service_cidrs()
        if res is resources.IPADDRESSES:
            return self.list_ip_addresses()
        if res is resources.SERVICES:
            return self.list_services(namespace)
        return self.list_namespaces()

    def delete(self, kind: Union[str, ResourceType], name: str, namespace: Optional[str] = None) -> Any:
        """Delete the object of ``kind``; returns None when it is gone at once, else the object
        still there (being deleted: it has finalizers). A Namespace goes with its Services."""
        res = self._resource(kind)
        if res is resources.SERVICECIDRS:
            return self.delete_service_cidr(name)
        if res is resources.IPADDRESSES:
            return self.delete_ip_address(name)
        if res is resources.SERVICES:
            return self.delete_service(name, namespace or "default")
        return self.delete_namespace(name)

    @_locked
    def list_namespaces(self) -> List[Dict[str, Any]]:
        """Every Namespace (wire dicts), by name: ``default``, ``kube-system``, those created
        through :meth:`create_namespace` and those Services live in."""
        oldest: Dict[str, Optional[str]] = {}  # namespace -> creation time of its oldest Service
        for key, value, _rev in self.stored(resources.SERVICES):
            ns = layout.split_service_key(key)[0]
            ts = (value.get("metadata") or {}).get("creationTimestamp")
            seen = oldest.setdefault(ns, None)
            if ts and (seen is None or ts < seen):
                oldest[ns] = ts
        default = self._scs.get(DEFAULT_NAME)
        created = format_time(default.creation_timestamp) if default is not None else None
        return namespaces.list_namespaces(self._store, oldest, format_time(self._started) or "", created)

    @_locked
    def create_namespace(self, name: str, *, labels: Optional[Dict[str, str]] = None,
                         annotations: Optional[Dict[str, str]] = None, dry_run: bool = False) -> Dict[str, Any]:
        """Create a Namespace (``ValidationError``, ``AlreadyExistsError``); its wire dict."""
        existing = [item["metadata"]["name"] for item in self.list_namespaces()]
        return namespaces.create_namespace(self._store, existing, str(name), format_time(self._now()) or "",
                                           labels, annotations, dry_run)

    @_locked
    def update_namespace(self, obj: Dict[str, Any], *, dry_run: bool = False) -> Dict[str, Any]:
        """Replace a Namespace's labels, annotations and finalizers from its wire dict
        (``NotFoundError``, ``ConflictError`` for a stale ``resourceVersion``); its wire dict."""
        name = str((obj.get("metadata") or {}).get("name") or "")
        current = self.get(resources.NAMESPACES, name)
        return namespaces.update_namespace(self._store, current, obj, dry_run)

    @_locked
    def delete_namespace(self, name: str, *, dry_run: bool = False) -> Dict[str, Any]:
        """Delete a Namespace and, first, its Services (``ForbiddenError`` for the system ones);
        returns it as it was, marked Terminating."""
        current = self.get(resources.NAMESPACES, name)
        namespaces.check_deletable(name)
        current["metadata"]["deletionTimestamp"] = format_time(self._now())
        current["status"] = {"phase": "Terminating"}
        if dry_run:
            return current
        for service in self.list_services(name):
            try:
                self.delete_service(service.name, name)
            except NotFoundError:
                pass
        namespaces.delete_namespace(self._store, name)
        return current

    def current_revision(self) -> int:
        """The store revision of the latest write (the global ``resourceVersion``)."""
        return self._store.current_revision()

    def revision_of(self, kind: Union[str, ResourceType], name: str, namespace: Optional[str] = None) -> Optional[int]:
        """The revision of the last write to one object, None if it is not there."""
        res = self._resource(kind)
        store_kind, key = self._location(res, name, namespace)
        rec = self._store.get(store_kind, key)
        return rec.revision if rec is not None else None

    @staticmethod
    def _location(res: ResourceType, name: str, namespace: Optional[str]) -> Tuple[str, str]:
        if res is resources.NAMESPACES:
            return META, layout.namespace_key(name)
        if res.namespaced:
            return res.plural, layout.service_key(namespace or "default", name)
        return res.plural, name

    def stored(self, kind: Union[str, ResourceType]) -> List[Tuple[str, Dict[str, Any], int]]:
        """(key, value, revision) of every stored object of ``kind`` as the change log names them
        (see :meth:`changes_since`); values are shared with the store: do not change them."""
        res = self._resource(kind)
        if res is resources.NAMESPACES:
            records, _ = self._store.list(META)
            prefix = layout.NAMESPACE_PREFIX
            return [(r.key[len(prefix):], r.value, r.revision) for r in records if r.key.startswith(prefix)]
        records, _ = self._store.list(res.plural)
        return [(r.key, r.value, r.revision) for r in _shaped(records, self._store, res.kind)]

    def changes_since(self, revision: int) -> Tuple[List[Change], int]:
        """The writes after ``revision`` (every writer's, the controllers' included), and the
        current revision. A change's ``kind`` is the resource's plural (``namespaces`` for
        Namespaces) and its ``key`` is the name (``namespace/name`` for Services). Raises
        ``fastcidr.errors.Compacted`` when the log no longer reaches back that far."""
        changes, current = self._store.changes_since(revision)
        prefix = layout.NAMESPACE_PREFIX
        out = [replace(ch, kind=resources.NAMESPACES.plural, key=ch.key[len(prefix):])
               if ch.kind == META and ch.key.startswith(prefix) else ch for ch in changes]
        return out, current

    def wait_for_change(self, revision: int, timeout: float) -> bool:
        """Block until the revision exceeds ``revision`` or ``timeout`` seconds pass."""
        return self._store.wait_for_change(revision, timeout)

    @_locked
    def metrics(self) -> Dict[str, Any]:
        """The allocator metrics of docs/behaviour.md §8 as a dict (see ``fastcidr.k8s.metrics``)."""
        self._sync()
        gauges = {}
        for cidr in self._alloc_cidrs:
            stats = self._alloc.stats(cidr)
            gauges[cidr] = (int(stats["used"]), int(stats["free"]))
        return self._metrics.snapshot(gauges)

    def metrics_text(self) -> str:
        """The same metrics in Prometheus' text exposition format."""
        return AllocatorMetrics.text(self.metrics())

    @_locked
    def stats(self, name: Optional[str] = None) -> Dict[str, Any]:
        """Utilisation per ServiceCIDR (``fastcidr top servicecidr``): for each ServiceCIDR by name,
        ``{"cidrs", "size", "used", "free", "utilisation", "per_cidr": {cidr: {size, used, free,
        utilisation}}}`` from the allocation index's own counters (O(CIDRs), never O(addresses)).
        ``size`` counts usable addresses (docs/behaviour.md §1); a CIDR nothing can be allocated
        from (an IPv6 prefix shorter than /64) reports its size with nothing used. With ``name``,
        that one ServiceCIDR's dict (``NotFoundError`` if there is none).

        >>> with Cluster("10.96.0.0/28") as c:
        ...     s = c.stats("kubernetes")
        >>> s["size"], s["used"], s["free"]
        (14, 1, 13)
        """
        self._sync()
        from .._rules import usable_size

        def one(sc: ServiceCIDR) -> Dict[str, Any]:
            per_cidr: Dict[str, Dict[str, Any]] = {}
            for cidr in sc.cidrs:
                if cidr in self._alloc_cidrs:
                    figures = dict(self._alloc.stats(cidr))
                else:
                    net, _, plen = cidr.partition("/")
                    size = usable_size(6 if ":" in net else 4, int(plen))
                    figures = {"size": size, "used": 0, "free": size, "utilisation": 0.0}
                per_cidr[cidr] = {k: figures[k] for k in ("size", "used", "free", "utilisation")}
            size = sum(int(f["size"]) for f in per_cidr.values())
            used = sum(int(f["used"]) for f in per_cidr.values())
            return {"cidrs": list(sc.cidrs), "size": size, "used": used, "free": size - used,
                    "utilisation": used / size if size else 0.0, "per_cidr": per_cidr}

        if name is not None:
            sc = self._scs.get(name)
            if sc is None:
                raise NotFoundError(resources.SERVICECIDRS.qualified, name)
            return one(sc)
        return {key: one(self._scs[key]) for key in sorted(self._scs)}


@contextlib.contextmanager
def paused_collector() -> Iterator[None]:
    """For applications (never used by the library itself): pause Python's cyclic garbage
    collector while building or loading a very large state, e.g. ``create_services`` of 100,000
    specs (~2.5x faster) or a Cluster start-up on a million objects. fastcidr makes no reference
    cycles, so nothing is lost; the collector is restored after, and the survivors are moved to
    the oldest generation once. It is process-wide: other threads' cycles wait meanwhile.

    >>> with paused_collector():
    ...     cluster = Cluster("10.0.0.0/24")
    >>> cluster.close()
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
            gc.collect(1)


def _close_at_exit(ref: "weakref.ReferenceType[Cluster]") -> None:
    cluster = ref()
    if cluster is not None:
        try:
            cluster.close()
        except Exception:
            pass

