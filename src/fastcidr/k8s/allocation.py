"""Services and their addresses: a Service is validated and its families resolved once
(:mod:`fastcidr.k8s.family`), its addresses are taken in the index (all or nothing), and the
Service and its IPAddress objects are committed in one transaction (docs/behaviour.md §5).
"""
from __future__ import annotations

import copy
import datetime as _dt
import time
from dataclasses import replace
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from ..errors import (
    AllocationError,
    AlreadyAllocatedError,
    AlreadyExistsError,
    ConflictError,
    InvalidAddressError,
    MismatchedNetworkError,
    NotFoundError,
    RangeFullError,
    ValidationError,
)
from ..store.base import Create, Delete, Put, Require, TxnConflict
from . import meta_validation as MV
from . import validation as V
from ._index import (
    _ALLOCATOR_LABELS,
    _EMPTY_SERVICE_STATUS,
    _MAX_RETRIES,
    RES_IP,
    RES_SVC,
    _canonical,
    _coerce_cidrs,
    _conflict,
    _create_op,
    _family_name,
    _net_of,
    _parse_ip,
    _service_ips,
)
from .family import resolve_families
from .layout import IPADDRESSES, META, SERVICECIDRS, SERVICES
from .lifecycle import ServiceCIDRLifecycle
from .nodeports import (
    DEFAULT_NODE_PORT_RANGE,
    NODE_PORT_PREFIX,
    NodePortAllocator,
    NotInRangeError,
    node_port_key,
)
from .objects import (
    IPAddress,
    Service,
    ServiceCIDR,
    ServicePort,
    format_time,
)

__all__ = ["Allocation"]

#: the keys of a ``create_services`` spec that asks for nothing else
_PLAIN_SPEC = frozenset(("name", "namespace"))


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



def needs_node_ports(svc: Service) -> bool:
    """NodePort Services, and LoadBalancers unless ``allocateLoadBalancerNodePorts: false``."""
    if svc.type == "NodePort":
        return True
    return svc.type == "LoadBalancer" and svc.extra.get("allocateLoadBalancerNodePorts", True) is not False


def apply_type_defaults(svc: Service) -> None:
    """The defaults kube-apiserver gives a Service of each type (``SetDefaults_Service``)."""
    extra = svc.extra
    if svc.type in ("NodePort", "LoadBalancer") and not extra.get("externalTrafficPolicy"):
        extra["externalTrafficPolicy"] = "Cluster"
    if svc.type == "LoadBalancer" and "allocateLoadBalancerNodePorts" not in extra:
        extra["allocateLoadBalancerNodePorts"] = True
    if extra.get("sessionAffinity") == "ClientIP" and not extra.get("sessionAffinityConfig"):
        extra["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}


def needs_health_check_port(svc: Service) -> bool:
    """A LoadBalancer with ``externalTrafficPolicy: Local`` gets a ``healthCheckNodePort``."""
    return svc.type == "LoadBalancer" and svc.extra.get("externalTrafficPolicy") == "Local"


def _node_ports_of(svc: Service) -> Set[int]:
    return {p.node_port for p in svc.ports if isinstance(p.node_port, int) and p.node_port}


def held_node_ports(svc: Service) -> Set[int]:
    """The node ports a stored Service holds: its ports' (when its type needs them) and its
    health-check port."""
    held = _node_ports_of(svc) if needs_node_ports(svc) else set()
    health = svc.extra.get("healthCheckNodePort")
    if needs_health_check_port(svc) and isinstance(health, int) and health:
        held.add(health)
    return held


class Allocation(ServiceCIDRLifecycle):
    """Service and IPAddress writes over the ServiceCIDR lifecycle."""

    _node_port_range: Tuple[int, int] = DEFAULT_NODE_PORT_RANGE
    _np: Optional[NodePortAllocator] = None
    _np_rev = -1

    # -- node ports ----------------------------------------------------------------------------

    def _node_port_allocator(self) -> NodePortAllocator:
        """The node-port bitmap, rebuilt from the store's records whenever anyone else may have
        written since it was last brought up to date (cheap: at most one record per port)."""
        rev = self._store.current_revision()
        if self._np is None or self._np_rev != rev:
            records, _ = self._store.list(META)
            used = [int(r.key[len(NODE_PORT_PREFIX):]) for r in records
                    if r.key.startswith(NODE_PORT_PREFIX) and r.key[len(NODE_PORT_PREFIX):].isdigit()]
            self._np = NodePortAllocator(*self._node_port_range, seed=self._seed, used=used)
            self._np_rev = rev
        return self._np

    def _assign_node_ports(self, svc: Service, held: Set[int]) -> Tuple[List[int], Set[int]]:
        """Give every port of ``svc`` (this call's own object) its node port: requested ones are
        taken unless ``svc`` holds them already (``held``), missing ones are allocated (dynamic
        band first). Returns (ports taken now, every port ``svc`` holds after); all or nothing."""
        np = self._node_port_allocator()
        taken: List[int] = []
        mine: Set[int] = set()
        ports = list(enumerate(svc.ports)) if needs_node_ports(svc) else []
        try:
            if needs_health_check_port(svc):
                wanted = svc.extra.get("healthCheckNodePort")
                if isinstance(wanted, int) and wanted and wanted not in held:
                    try:
                        np.allocate(wanted)
                    except (NotInRangeError, AlreadyAllocatedError) as exc:
                        raise ValidationError([V.invalid("spec.healthCheckNodePort", wanted, str(exc))],
                                              kind="Service", name=svc.name) from None
                    taken.append(wanted)
                elif not wanted:
                    try:
                        wanted = np.allocate_next()
                    except RangeFullError:
                        raise RangeFullError("failed to allocate a nodePort: range is full") from None
                    svc.extra["healthCheckNodePort"] = wanted
                    taken.append(wanted)
                mine.add(wanted)
            for i, port in ports:
                wanted = port.node_port
                if not wanted or wanted in held or wanted in mine:
                    if wanted:
                        mine.add(wanted)
                    continue
                try:
                    np.allocate(wanted)
                except (NotInRangeError, AlreadyAllocatedError) as exc:
                    raise ValidationError([V.invalid(f"spec.ports[{i}].nodePort", wanted, str(exc))],
                                          kind="Service", name=svc.name) from None
                taken.append(wanted)
                mine.add(wanted)
            for i, port in ports:
                if port.node_port:
                    continue
                # a second protocol on one port number shares that port's node port, as upstream
                same = [p.node_port for p in svc.ports if p.port == port.port and p.node_port]
                if same:
                    svc.ports[i] = replace(port, node_port=same[0])
                    continue
                try:
                    value = np.allocate_next()
                except RangeFullError:
                    raise RangeFullError("failed to allocate a nodePort: range is full") from None
                svc.ports[i] = replace(port, node_port=value)
                taken.append(value)
                mine.add(value)
        except BaseException:
            for value in taken:
                np.release(value)
            raise
        return taken, mine

    def _release_node_ports(self, ports: Iterable[int]) -> None:
        if self._np is not None:
            for port in ports:
                self._np.release(port)

    @staticmethod
    def _node_port_ops(svc_key: str, taken: Iterable[int], released: Iterable[int]) -> List[Any]:
        ops: List[Any] = [Create(META, node_port_key(p), {"service": svc_key}) for p in taken]
        ops.extend(Delete(META, node_port_key(p)) for p in released)
        return ops

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
        return self._prepare(svc, requested)

    def _prepare(self, svc: Service, requested: List[str]) -> Service:
        """Validate ``svc`` (this call's own object) and resolve its families and policy in
        place; ``requested``: the cluster IPs asked for (``svc.cluster_ips`` or ``[cluster_ip]``)."""
        apply_type_defaults(svc)
        errors = V.validate_service(svc)
        if svc.labels or svc.annotations or svc.finalizers or svc.owner_references:
            errors.extend(MV.validate_object_meta(svc))
        V.check(errors, "Service", svc.name)
        if svc.type == "ExternalName":
            svc.cluster_ip, svc.cluster_ips, svc.ip_families, svc.ip_family_policy = None, [], [], None
            return svc
        resolved = resolve_families(svc.name, requested, svc.ip_families, svc.ip_family_policy,
                                    has_selector=bool(svc.selector), configured=self._families())
        svc.ip_family_policy, svc.ip_families = resolved.policy, resolved.families
        if requested:
            svc.cluster_ips = resolved.cluster_ips
            svc.cluster_ip = resolved.cluster_ips[0]
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

    # -- the short path of Services that ask for nothing -----------------------------------------
    # ClusterIP, no ports, no addresses, families or metadata: what _create_prepared does for
    # them, in a fraction of the steps. create_service(name) is the library's usual call (and the
    # one the benchmarks time). Each returns None, having changed nothing, whenever the general
    # path must decide: a name to refuse, a Service that exists or is named twice, a full range,
    # a store conflict; the general path then raises. On a shared store, as on the general path,
    # the index first catches up and an existing Service is found by the Create's condition.

    def _plain_key(self, name: Any, namespace: Any) -> Optional[str]:
        """The store key of a Service the short path may create, or None."""
        if (type(name) is not str or type(namespace) is not str
                or not 0 < len(name) <= 63 or not 0 < len(namespace) <= 63
                or not V.match_dns1035_label(name) or not V.match_dns1123_label(namespace)):
            return None
        key = f"{namespace}/{name}"
        return None if not self._shared and self._store.get(SERVICES, key) is not None else key

    def _plain_objects(self, name: str, namespace: str, key: str, ip: str, family: str,
                       now: _dt.datetime, ts: Optional[str], entries: List[Any]) -> Service:
        """The Service, and (appended to ``entries``) its IPAddress and Service records."""
        svc = Service._plain(name, namespace, ip, family, self._uid(), now)
        entries.append((IPADDRESSES, ip, self._ip_value(ip, svc, ts)))
        entries.append((SERVICES, key, {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "uid": svc.uid, "creationTimestamp": ts},
            "spec": {"clusterIP": ip, "clusterIPs": [ip], "type": "ClusterIP", "sessionAffinity": "None",
                     "ipFamilies": [family], "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"},
            "status": _EMPTY_SERVICE_STATUS}))
        return svc

    def _plain_commit(self, entries: List[Any], taken: List[Tuple[str, float]], family: str) -> Optional[int]:
        """Write ``entries`` (None on a conflict); on any failure nothing stays taken. Then the
        metrics of the ``(address, seconds)`` taken, and the terminating ranges' holders."""
        try:
            if self._shared or self._max_ops:
                ops: List[Any] = self._requires_for(ip for ip, _ in taken) if self._shared else []
                ops.extend(_create_op(kind, key, value) for kind, key, value in entries)
                rev = self._commit(ops)
            else:
                rev = self._rev = self._store.create_all(entries)
        except BaseException as exc:  # nothing was written
            for ip, _ in taken:
                self._alloc.release(ip)
            if isinstance(exc, TxnConflict):
                return None
            raise
        metrics = self._metrics
        for ip, seconds in taken:
            cidr = self._metric_cidr(ip, family)
            if cidr is not None:
                metrics.allocated(cidr, "dynamic", seconds)
        for sc in self._scs.values():
            if sc.terminating:
                self._sync_holding([ip for ip, _ in taken])
                break
        return rev

    def _create_plain(self, name: Any, namespace: Any) -> Optional[Service]:
        """``create_service(name, namespace)`` by the short path (see above), or None."""
        self._sync()
        family = self._primary_family()
        if family is None:
            return None
        key = self._plain_key(name, namespace)
        if key is None:
            return None
        start = time.perf_counter()
        try:
            ip = self._alloc.allocate_next(family)
        except RangeFullError:
            return None
        seconds = time.perf_counter() - start
        now = self._now()
        entries: List[Any] = []
        svc = self._plain_objects(name, namespace, key, ip, family, now, format_time(now), entries)
        rev = self._plain_commit(entries, [(ip, seconds)], family)
        if rev is None:
            return None
        svc.resource_version = str(rev)
        return svc

    def _create_plain_batch(self, names: Sequence[Tuple[Any, Any]]) -> Optional[List[Service]]:
        """``create_services`` of ``(name, namespace)`` pairs by the short path, or None."""
        self._sync()
        family = self._primary_family()
        if family is None:
            return None
        keys = []
        for name, namespace in names:
            key = self._plain_key(name, namespace)
            if key is None:
                return None
            keys.append(key)
        if len(set(keys)) != len(keys):
            return None
        alloc = self._alloc
        perf_counter = time.perf_counter
        taken: List[Tuple[str, float]] = []
        try:
            for _ in keys:
                start = perf_counter()
                ip = alloc.allocate_next(family)
                taken.append((ip, perf_counter() - start))
        except RangeFullError:
            for ip, _ in taken:
                alloc.release(ip)
            return None
        now = self._now()
        ts = format_time(now)
        entries: List[Any] = []
        services = [self._plain_objects(name, namespace, key, ip, family, now, ts, entries)
                    for (name, namespace), key, (ip, _) in zip(names, keys, taken)]
        rev = self._plain_commit(entries, taken, family)
        if rev is None:
            return None
        resource_version = str(rev)
        for svc in services:
            svc.resource_version = resource_version
        return services

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
        with_node_ports = [svc for svc in services if needs_node_ports(svc) or needs_health_check_port(svc)]
        requested_ports = [list(svc.ports) for svc in with_node_ports]
        node_port_ids = {id(svc) for svc in with_node_ports}
        for attempt in range(_MAX_RETRIES):
            if attempt:  # a conflict: start again from what was asked for
                for svc, (ip, ips) in zip(services, requested):
                    svc.cluster_ip, svc.cluster_ips = ip, ips
                for svc, ports in zip(with_node_ports, requested_ports):
                    svc.ports = list(ports)
            self._sync()
            if dry_run or not self._shared:
                # (on a shared store a lookup is a query: there the Create's condition says it)
                for svc in services:
                    if store_get(SERVICES, f"{svc.namespace}/{svc.name}") is not None:
                        raise AlreadyExistsError(RES_SVC, svc.name)
            taken_all: List[str] = []
            ports_taken: List[Tuple[str, int]] = []
            results: List[Service] = []
            now = self._now()
            try:
                for svc in services:
                    if id(svc) in node_port_ids:
                        svc.ports = list(svc.ports)
                        ports_taken.extend((svc.key, p) for p in self._assign_node_ports(svc, set())[0])
                    taken = self._allocate(svc, dry_run)
                    if dry_run:
                        results.append(self._with_ips(replace(svc), taken, "", None))
                    else:
                        taken_all.extend(taken)
                        results.append(self._with_ips(svc, taken, self._uid(), now))
            except BaseException:
                for ip in taken_all:
                    self._alloc.release(ip)
                self._release_node_ports(p for _, p in ports_taken)
                for svc, (ip, ips) in zip(services, requested):
                    svc.cluster_ip, svc.cluster_ips = ip, ips
                for svc, ports in zip(with_node_ports, requested_ports):
                    svc.ports = list(ports)
                raise
            if dry_run:
                self._release_node_ports(p for _, p in ports_taken)
                return results
            ops: List[Any] = self._requires_for(taken_all) if self._shared else []
            ops.extend(Create(META, node_port_key(p), {"service": key}) for key, p in ports_taken)
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
                self._np = None  # rebuilt from the store on the next try
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
                self._np = None
                raise
            if not self._shared:
                self._rev = rev
            if ports_taken and self._np is not None:
                self._np_rev = rev
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
            "spec": {"parentRef": {"resource": SERVICES, "namespace": svc.namespace, "name": svc.name}},
        }

    def _ensure_default_service(self) -> None:
        """``default/kubernetes`` on the first usable address of the primary range."""
        rng = self._range
        if not rng or self._exists(SERVICES, "default/kubernetes"):
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

    def _create_services(self, specs: List[Any], dry_run: bool) -> List[Service]:
        if not dry_run and specs and all(type(spec) is dict and "name" in spec and spec.keys() <= _PLAIN_SPEC
                                         for spec in specs):
            plain = self._create_plain_batch([(spec["name"], spec.get("namespace", "default")) for spec in specs])
            if plain is not None:
                return plain
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
        V.check(MV.validate_object_meta(obj), "IPAddress", obj.name)
        new = replace(obj, uid=self._uid(), creation_timestamp=self._now(), resource_version="",
                      deletion_timestamp=None, generation=0)
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

    def _update_ip(self, obj: IPAddress, check_rv: bool, dry_run: bool = False) -> IPAddress:
        for _ in range(_MAX_RETRIES):
            self._sync()
            rec = self._store.get(IPADDRESSES, obj.name)
            if rec is None:
                raise NotFoundError(RES_IP, obj.name)
            old = self._ip_from_record(rec)
            if check_rv and obj.resource_version and obj.resource_version != old.resource_version:
                raise _conflict(RES_IP, obj.name)
            errors = V.validate_ip_address_update(obj, old)
            errors.extend(MV.validate_object_meta_update(obj, old))
            V.check(errors, "IPAddress", obj.name)
            new = replace(old, labels=dict(obj.labels), annotations=dict(obj.annotations),
                          finalizers=list(obj.finalizers), owner_references=copy.deepcopy(obj.owner_references))
            if new == old or dry_run:
                return new
            if new.terminating and not new.finalizers:  # the last finalizer went: now it goes
                op: Any = Delete(IPADDRESSES, obj.name, expect=rec.revision)
            else:
                op = Put(IPADDRESSES, obj.name, replace(new, resource_version="").to_dict(), expect=rec.revision)
            try:
                rev = self._commit([op])
            except TxnConflict:
                if check_rv and obj.resource_version:
                    raise _conflict(RES_IP, obj.name) from None
                continue
            if not self._shared:
                self._rev = rev
            if isinstance(op, Delete):
                self._unmark(obj.name)
                self._sync_holding([obj.name])
            new.resource_version = str(rev)
            return new
        raise _conflict(RES_IP, obj.name)

    def _create_service_obj(self, obj: Service, dry_run: bool, *, owned: bool = False) -> Service:
        """Create a Service given as an object: prepared in place when it is this call's own
        (``owned``: just read from a manifest), else a copy, so the caller's object is untouched.
        What the registry sets (uid, creation time, resourceVersion) is cleared first."""
        requested = [str(ip) for ip in obj.cluster_ips] if obj.cluster_ips else (
            [str(obj.cluster_ip)] if obj.cluster_ip else [])
        if owned:
            svc = obj
        else:
            svc = replace(obj, ports=list(obj.ports), selector=dict(obj.selector), labels=dict(obj.labels),
                          annotations=dict(obj.annotations), extra=dict(obj.extra), status=dict(obj.status),
                          ip_families=list(obj.ip_families))
        svc.cluster_ips = requested
        svc.cluster_ip = str(obj.cluster_ip) if obj.cluster_ip else (requested[0] if requested else None)
        svc.uid, svc.creation_timestamp, svc.resource_version = "", None, ""
        svc.deletion_timestamp, svc.generation = None, 0
        svc.type = svc.type or "ClusterIP"
        svc.namespace = svc.namespace or "default"
        return self._create_prepared([self._prepare(svc, requested)], dry_run)[0]

    def _owned_ips(self, value: Dict[str, Any], namespace: str, name: str) -> List[Tuple[str, int]]:
        """(address, revision) of the IPAddress objects that belong to a stored Service."""
        out = []
        for text in _service_ips(value):
            parsed = _parse_ip(text)
            ip = _canonical(*parsed) if parsed else text
            ip_rec = self._store.get(IPADDRESSES, ip)
            if ip_rec is None:
                continue
            ref = (ip_rec.value.get("spec") or {}).get("parentRef") or {}
            if ref.get("group", "") == "" and ref.get("resource") == SERVICES and \
                    ref.get("namespace", "") == namespace and ref.get("name") == name:
                out.append((ip, ip_rec.revision))
        return out

    def _removal_ops(self, rec: Any, namespace: str, name: str) -> Tuple[List[Any], List[str], Set[int]]:
        """What deleting a stored Service commits: the Service, its IPAddresses, its node ports."""
        ops: List[Any] = [Delete(SERVICES, f"{namespace}/{name}", expect=rec.revision)]
        owned = self._owned_ips(rec.value, namespace, name)
        ops.extend(Delete(IPADDRESSES, ip, expect=revision) for ip, revision in owned)
        old = self._svc_from_record(rec)
        ports = held_node_ports(old)
        ops.extend(Delete(META, node_port_key(p)) for p in ports)
        return ops, [ip for ip, _ in owned], ports

    def _after_removal(self, rev: int, released: List[str], ports: Set[int]) -> None:
        if not self._shared:
            self._rev = rev
        for ip in released:
            self._unmark(ip)
        self._release_node_ports(ports)
        if self._np is not None and ports:
            self._np_rev = rev
        self._sync_holding(released)

    def _plan_service_update(self, obj: Service, old: Service) -> Tuple[Service, List[str], List[str]]:
        """The Service an update of ``old`` to ``obj`` stores, validated, and the addresses it
        must take and release (upstream's type and ``ipFamilyPolicy`` transitions). Fields only
        the registry sets come from ``old``; so does the status (a main-resource write ignores it)."""
        svc = replace(obj, ports=[replace(p) for p in obj.ports], extra=copy.deepcopy(obj.extra),
                      selector=dict(obj.selector), labels=dict(obj.labels), annotations=dict(obj.annotations),
                      finalizers=list(obj.finalizers), owner_references=copy.deepcopy(obj.owner_references),
                      cluster_ips=list(obj.cluster_ips), ip_families=list(obj.ip_families),
                      uid=old.uid, creation_timestamp=old.creation_timestamp, deletion_timestamp=old.deletion_timestamp,
                      status=old.status, generation=old.generation, resource_version=old.resource_version,
                      type=obj.type or "ClusterIP")
        meta_errors = MV.validate_object_meta_update(obj, old)
        old_ip, new_ip = old.type != "ExternalName", svc.type != "ExternalName"
        same_ips = not svc.cluster_ips and not svc.cluster_ip or svc.cluster_ips == old.cluster_ips \
            or (not svc.cluster_ips and svc.cluster_ip == old.cluster_ip)
        # like upstream's dropTypeDependentFields: what the old type needed and the user left
        # as it was goes with the type
        if old_ip and not new_ip:
            if same_ips:
                svc.cluster_ip, svc.cluster_ips = None, []
            if not svc.ip_families or svc.ip_families == old.ip_families:
                svc.ip_families = []
            if svc.ip_family_policy in (None, old.ip_family_policy):
                svc.ip_family_policy = None
        if not old_ip and new_ip and svc.external_name == old.external_name:
            svc.external_name = None
        if needs_node_ports(old) and not needs_node_ports(svc) and \
                [p.node_port for p in svc.ports] == [p.node_port for p in old.ports][:len(svc.ports)]:
            svc.ports = [replace(p, node_port=None) for p in svc.ports]
        external = ("NodePort", "LoadBalancer")
        if old.type in external and svc.type not in external and \
                svc.extra.get("externalTrafficPolicy") == old.extra.get("externalTrafficPolicy"):
            svc.extra.pop("externalTrafficPolicy", None)
        if old.type == "LoadBalancer" and svc.type != "LoadBalancer" and \
                svc.extra.get("allocateLoadBalancerNodePorts") == old.extra.get("allocateLoadBalancerNodePorts"):
            svc.extra.pop("allocateLoadBalancerNodePorts", None)
        if needs_health_check_port(old) and not needs_health_check_port(svc) and \
                svc.extra.get("healthCheckNodePort") == old.extra.get("healthCheckNodePort"):
            svc.extra.pop("healthCheckNodePort", None)
        if needs_health_check_port(old) and needs_health_check_port(svc) and not svc.extra.get("healthCheckNodePort"):
            svc.extra["healthCheckNodePort"] = old.extra.get("healthCheckNodePort")
        apply_type_defaults(svc)
        if needs_node_ports(old) and needs_node_ports(svc):
            # an update that omits a port's nodePort keeps the one the port of that name had
            # (upstream's patchAllocatedValues), unless another port now uses it
            used = _node_ports_of(old) & _node_ports_of(svc)
            by_name = {p.name: p.node_port for p in old.ports}
            svc.ports = [replace(p, node_port=by_name[p.name])
                         if not p.node_port and by_name.get(p.name) and by_name[p.name] not in used else p
                         for p in svc.ports]
        if old_ip and new_ip and not svc.cluster_ips and not svc.cluster_ip:
            svc.cluster_ip, svc.cluster_ips = old.cluster_ip, list(old.cluster_ips)  # omitted: kept
        errors = V.validate_service(svc) + meta_errors
        if old_ip and new_ip and old.cluster_ips:
            asked = svc.cluster_ips or ([svc.cluster_ip] if svc.cluster_ip else [])
            if asked and asked[0] != old.cluster_ips[0]:
                errors.append(V.invalid("spec.clusterIPs[0]", asked, "may not change once set"))
            if svc.ip_families and old.ip_families and svc.ip_families[0] != old.ip_families[0]:
                errors.append(V.invalid("spec.ipFamilies[0]", svc.ip_families[0], "may not change once set"))
        V.check(errors, "Service", svc.name)
        take: List[str] = []
        release: List[str] = []
        if not new_ip:
            release = [ip for ip in old.cluster_ips if ip != "None"] if old_ip else []
            return svc, take, release
        if not old_ip:  # ExternalName -> a type with cluster IPs: allocated as on create
            requested = svc.cluster_ips or ([svc.cluster_ip] if svc.cluster_ip else [])
            svc.cluster_ips = list(requested)
            self._prepare(svc, list(requested))
            return svc, take, release
        policy = svc.ip_family_policy or old.ip_family_policy or "SingleStack"
        if old.headless:
            resolved = resolve_families(svc.name, ["None"], svc.ip_families or old.ip_families, policy,
                                        has_selector=bool(svc.selector), configured=self._families())
            svc.ip_family_policy, svc.ip_families = resolved.policy, resolved.families
            svc.cluster_ip, svc.cluster_ips = "None", ["None"]
            return svc, take, release
        primary = old.cluster_ips[:1]
        families = (svc.ip_families or old.ip_families)[:2]
        if policy == "SingleStack":
            svc.cluster_ips, svc.cluster_ip = list(primary), primary[0] if primary else None
            svc.ip_families = old.ip_families[:1]
            release = old.cluster_ips[1:]  # a downgrade drops the secondary address
        else:
            resolved = resolve_families(svc.name, list(primary), families[:1] if len(old.cluster_ips) < 2 and
                                        len(families) < 2 else families, policy,
                                        has_selector=bool(svc.selector), configured=self._families())
            svc.ip_families = resolved.families
            if len(old.cluster_ips) >= 2:
                svc.cluster_ips = list(old.cluster_ips[:2])
                if len(obj.cluster_ips) >= 2 and obj.cluster_ips[1] != old.cluster_ips[1]:
                    V.check([V.invalid("spec.clusterIPs[1]", obj.cluster_ips, "may not change once set")],
                            "Service", svc.name)
            elif len(resolved.families) == 2:  # an upgrade takes the second family's address
                svc.cluster_ips = list(primary)
                if len(obj.cluster_ips) >= 2:
                    take = [obj.cluster_ips[1]]
                take = take or [""]
            svc.cluster_ip = svc.cluster_ips[0] if svc.cluster_ips else None
        svc.ip_family_policy = policy
        return svc, take, release

    def _undo_taken(self, taken: List[str]) -> None:
        """An update that failed after allocating: its new addresses go back to the index and the
        node-port view (which it may have changed) is read again."""
        for ip in taken:
            self._alloc.release(ip)
        self._np = None

    @staticmethod
    def _refuse_lost_race(obj: Service, check_rv: bool) -> None:
        """Another writer committed first: a 409 when the caller pinned its resourceVersion,
        otherwise (returning) the caller retries on the new state."""
        if check_rv and obj.resource_version:
            raise _conflict(RES_SVC, obj.name) from None

    def _update_service(self, obj: Service, check_rv: bool, dry_run: bool = False,
                        status_only: bool = False) -> Service:
        for _ in range(_MAX_RETRIES):
            self._sync()
            rec = self._store.get(SERVICES, obj.key)
            if rec is None:
                raise NotFoundError(RES_SVC, obj.name)
            old = self._svc_from_record(rec)
            if check_rv and obj.resource_version and obj.resource_version != old.resource_version:
                raise _conflict(RES_SVC, obj.name)
            if status_only:  # services/status: the status, nothing else
                new = replace(old, status=copy.deepcopy(obj.status))
                if new == old or dry_run:
                    return new
                ops: List[Any] = [Put(SERVICES, obj.key, replace(new, resource_version="").to_dict(),
                                      expect=rec.revision)]
                try:
                    rev = self._commit(ops)
                except TxnConflict:
                    self._refuse_lost_race(obj, check_rv)
                    continue
                if not self._shared:
                    self._rev = rev
                new.resource_version = str(rev)
                return new
            new, take, release = self._plan_service_update(obj, old)
            if new.terminating and not new.finalizers:  # the last finalizer went: now it goes
                if dry_run:
                    return new
                ops, released, ports = self._removal_ops(rec, old.namespace, old.name)
                try:
                    rev = self._commit(ops)
                except TxnConflict:
                    self._refuse_lost_race(obj, check_rv)
                    continue
                self._after_removal(rev, released, ports)
                if obj.key == "default/kubernetes":
                    self._ensure_default_service()
                return new
            if new == old:
                return old
            taken: List[str] = []
            ports_taken: List[int] = []
            held = held_node_ports(old)
            try:
                if old.type == "ExternalName" and new.type != "ExternalName":
                    taken = self._allocate(new, dry_run)
                    self._with_ips(new, taken, new.uid, new.creation_timestamp)
                elif take:
                    second = Service(name=new.name, namespace=new.namespace, ip_families=new.ip_families[1:2],
                                     cluster_ips=[ip for ip in take if ip])
                    taken = self._allocate(second, dry_run)
                    new.cluster_ips = list(new.cluster_ips[:1]) + taken
                ports_after: Set[int] = set()
                if needs_node_ports(new) or needs_health_check_port(new):
                    ports_taken, ports_after = self._assign_node_ports(new, held)
                ports_released = held - ports_after
            except BaseException:
                self._undo_taken([] if dry_run else taken)
                raise
            if dry_run:
                self._release_node_ports(ports_taken)
                return new
            owned = dict(self._owned_ips(rec.value, old.namespace, old.name)) if release else {}
            ops = [Put(SERVICES, obj.key, replace(new, resource_version="").to_dict(), expect=rec.revision)]
            ts = format_time(self._now())
            ops.extend(_create_op(IPADDRESSES, ip, self._ip_value(ip, new, ts)) for ip in taken)
            ops.extend(Delete(IPADDRESSES, ip, expect=owned[ip]) for ip in release if ip in owned)
            ops.extend(self._node_port_ops(new.key, ports_taken, ports_released))
            if taken and self._shared:
                ops.extend(self._requires_for(taken))
            try:
                rev = self._commit(ops)
            except TxnConflict:
                self._undo_taken(taken)
                self._refuse_lost_race(obj, check_rv)
                continue
            except BaseException:
                self._undo_taken(taken)
                raise
            if not self._shared:
                self._rev = rev
            gone = [ip for ip in release if ip in owned]
            for ip in gone:
                self._unmark(ip)
            self._release_node_ports(ports_released)
            if self._np is not None and (ports_taken or ports_released):
                self._np_rev = rev
            if taken or gone:
                self._sync_holding(taken + gone)
            new.resource_version = str(rev)
            return new
        raise _conflict(RES_SVC, obj.name)
