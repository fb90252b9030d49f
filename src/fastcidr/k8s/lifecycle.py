"""The ServiceCIDR lifecycle: create, update and delete ServiceCIDRs, and the controllers that
keep them (finalizer, ``Ready`` condition, deletion while no IPAddress depends on them, the
default ``kubernetes`` ServiceCIDR) run synchronously inside each write (docs/behaviour.md §3-§4).
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import replace
from typing import Iterable, List, Optional

from ..errors import (
    AlreadyExistsError,
    ConflictError,
    NotFoundError,
    ValidationError,
)
from ..store.base import Create, Delete, Put, TxnConflict, UnreadableRecordError
from . import meta_validation as MV
from . import validation as V
from ._index import (
    _MAX_RETRIES,
    DEFAULT_NAME,
    READY_MESSAGE,
    RES_CIDR,
    TERMINATING_MESSAGE,
    TERMINATING_REASON,
    IndexedStore,
    _clone,
    _conflict,
    _contains,
    _holds_host,
    _ip_order,
    _net_of,
    _parse_ip,
)
from .layout import IPADDRESSES, SERVICECIDRS
from .view import shape_problem
from .objects import (
    FINALIZER,
    LABEL_MANAGED_BY,
    MANAGED_BY_ALLOCATOR,
    Condition,
    ServiceCIDR,
)

__all__ = ["ServiceCIDRLifecycle"]


class ServiceCIDRLifecycle(IndexedStore):
    """ServiceCIDR writes and controllers over an :class:`IndexedStore`."""

    def _ready_condition(self, now: _dt.datetime, previous: Optional[Condition] = None) -> Condition:
        when = previous.last_transition_time if previous is not None and previous.status == "True" else now
        return Condition("Ready", "True", "", READY_MESSAGE, when or now)

    def _create_cidr(self, obj: ServiceCIDR, *, dry_run: bool = False) -> ServiceCIDR:
        V.check(V.validate_service_cidr(obj) + MV.validate_object_meta(obj), "ServiceCIDR", obj.name)
        self._sync()
        if obj.name in self._scs or self._exists(SERVICECIDRS, obj.name):
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
            owner_references=[dict(r) for r in obj.owner_references],
            generation=1,
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
                     keep_finalizers: bool = False, dry_run: bool = False) -> ServiceCIDR:
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
                errors = V.validate_service_cidr_update(candidate, old)
                errors.extend(MV.validate_object_meta_update(obj, old))
                V.check(errors, "ServiceCIDR", obj.name)
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
                    owner_references=[dict(r) for r in obj.owner_references],
                    # spec changes bump the generation, as for every kind that has one
                    generation=(old.generation or 1) + (1 if list(obj.cidrs) != old.cidrs else 0),
                )
            if new == old or dry_run:
                return _clone(new if dry_run else old)  # type: ignore[return-value]
            stored = self._put_cidr(new, int(old.resource_version))
            if stored is None:
                if check_rv and obj.resource_version:
                    raise _conflict(RES_CIDR, obj.name)
                continue
            self._sync_cidr(obj.name)
            self._sync_overlapping(list(set(old.cidrs) | set(new.cidrs)), exclude=obj.name)
            return _clone(self._scs.get(obj.name, stored))  # type: ignore[return-value]
        raise _conflict(RES_CIDR, obj.name)

    def _others(self, name: str) -> List[ServiceCIDR]:
        """ServiceCIDRs that may cover another: not itself, not being deleted (fastcidr decision)."""
        return [o for o in self._scs.values() if o.name != name and not o.terminating]

    def _blocking(self, sc: ServiceCIDR, *, first_only: bool) -> List[str]:
        """Managed IPAddresses that only ``sc`` holds among the live ServiceCIDRs (docs/behaviour.md §4)."""
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
                try:
                    rec = self._store.get(IPADDRESSES, ip)
                except UnreadableRecordError:
                    found.append(ip)  # a damaged record may hold a Service's address: it blocks
                    if first_only:
                        return found
                    continue
                if rec is None:
                    continue
                if not shape_problem(rec.value):  # (a damaged one blocks, as above)
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

    def _controller_pass(self, names: Optional[Iterable[str]]) -> None:
        for name in list(self._scs) if names is None else list(names):
            self._sync_cidr(name)
        self._ensure_default_cidr()
