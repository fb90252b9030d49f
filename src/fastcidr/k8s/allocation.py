"""Services and their addresses: a Service is validated and its families resolved once
(:mod:`fastcidr.k8s.family`), its addresses are taken in the index (all or nothing), and the
Service and its IPAddress objects are committed in one transaction (docs/behaviour.md §5).
"""
from __future__ import annotations

import datetime as _dt
import time
from dataclasses import replace
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set

from ..errors import (
    AllocationError,
    AlreadyExistsError,
    ConflictError,
    InvalidAddressError,
    MismatchedNetworkError,
    NotFoundError,
    RangeFullError,
    ValidationError,
)
from ..store.base import Create, Put, Require, TxnConflict
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
)
from .family import resolve_families
from .layout import IPADDRESSES, SERVICECIDRS, SERVICES
from .lifecycle import ServiceCIDRLifecycle
from .objects import (
    IPAddress,
    Service,
    ServiceCIDR,
    ServicePort,
    format_time,
)

__all__ = ["Allocation"]


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



class Allocation(ServiceCIDRLifecycle):
    """Service and IPAddress writes over the ServiceCIDR lifecycle."""

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
        V.check(V.validate_service(svc), "Service", svc.name)
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
        svc.type = svc.type or "ClusterIP"
        svc.namespace = svc.namespace or "default"
        return self._create_prepared([self._prepare(svc, requested)], dry_run)[0]

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
