"""Events: the core/v1 ``Event`` objects clients post (kopf, client-go's recorders) and the
controllers write, kept in the Cluster's store, also served as ``events.k8s.io/v1`` (one object in
two versions, as kube-apiserver keeps them) (docs/serve.md "Events").

Like kube-apiserver (``--event-ttl``, 1 h) an Event lives an hour after its last write; on top of
that at most :data:`MAX_EVENTS` are kept, the oldest going first, so a chatty client cannot fill
the store.

>>> core = to_core({"apiVersion": "events.k8s.io/v1", "kind": "Event", "note": "hello",
...                 "regarding": {"kind": "Service", "name": "web"}, "reportingController": "me"})
>>> core["message"], core["involvedObject"]["name"], core["reportingComponent"]
('hello', 'web', 'me')
>>> to_v1(core)["note"]
'hello'
"""
from __future__ import annotations

import datetime as _dt
import re
import threading
import uuid
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..errors import AlreadyExistsError, ConflictError, NotFoundError, ValidationError
from ..store.base import Create, Delete, Put, TxnConflict
from .objects import Event as ControllerEvent
from .resources import EVENTS, EVENTS_V1, IPADDRESSES, SERVICECIDRS, SERVICES

__all__ = ["EventLog", "to_core", "to_v1", "STORE_KIND", "EVENT_TTL", "MAX_EVENTS"]

#: the store kind Events live under (keys ``namespace/name``); Kubernetes-free to the store
STORE_KIND = EVENTS.plural
#: seconds an Event is kept after its last write (kube-apiserver's ``--event-ttl`` default)
EVENT_TTL = 3600.0
#: the most Events kept at once (the oldest are dropped first)
MAX_EVENTS = 10_000

# events.k8s.io/v1 field -> core/v1 field (the rest have the same name in both)
_V1_TO_CORE = (
    ("note", "message"), ("regarding", "involvedObject"), ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"), ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"), ("deprecatedCount", "count"),
)
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

#: where a controller event's ``regarding`` text (``services/ns/name``) points
_REGARDING = {r.plural: (r.kind, r.api_version) for r in (SERVICES, SERVICECIDRS, IPADDRESSES)}
#: the controller that writes each reason (kube-apiserver's recorders)
_REPORTERS = {
    "ClusterIPNotValid": ("ipallocator-repair-controller", "ClusterIPValidation"),
    "ClusterIPOutOfRange": ("ipallocator-repair-controller", "ClusterIPAllocation"),
    "ClusterIPNotAllocated": ("ipallocator-repair-controller", "ClusterIPAllocation"),
    "ClusterIPAlreadyAllocated": ("ipallocator-repair-controller", "ClusterIPAllocation"),
    "IPAddressNotAllocated": ("ipallocator-repair-controller", "IPAddressAllocation"),
    "IPAddressWrongReference": ("ipallocator-repair-controller", "IPAddressAllocation"),
    "KubernetesDefaultServiceCIDRInconsistent": ("kubernetes-default-servicecidr-controller",
                                                 "KubernetesDefaultServiceCIDRInconsistent"),
}


def to_core(obj: Dict[str, Any]) -> Dict[str, Any]:
    """An Event in its core/v1 form (a new top-level dict; nested values are shared)."""
    if obj.get("apiVersion") != EVENTS_V1.api_version:
        return dict(obj)
    out = {k: v for k, v in obj.items() if k not in dict(_V1_TO_CORE)}
    for v1_name, core_name in _V1_TO_CORE:
        if obj.get(v1_name) is not None:
            out[core_name] = obj[v1_name]
    out["apiVersion"] = EVENTS.api_version
    return out


def to_v1(obj: Dict[str, Any]) -> Dict[str, Any]:
    """An Event in its events.k8s.io/v1 form."""
    if obj.get("apiVersion") == EVENTS_V1.api_version:
        return dict(obj)
    core_to_v1 = {core: v1 for v1, core in _V1_TO_CORE}
    out = {k: v for k, v in obj.items() if k not in core_to_v1}
    for core_name, v1_name in core_to_v1.items():
        if obj.get(core_name) is not None:
            out[v1_name] = obj[core_name]
    if not out.get("eventTime"):
        # required in this version: an Event posted without one (core/v1 allows that) gets the
        # time it was first seen, so that typed clients can read it (fastcidr decision)
        first = obj.get("firstTimestamp") or (obj.get("metadata") or {}).get("creationTimestamp")
        if first:
            out["eventTime"] = _micro_from_time(first)
    out["apiVersion"] = EVENTS_V1.api_version
    return out


def _micro_from_time(text: str) -> str:
    return text[:-1] + ".000000Z" if text.endswith("Z") and "." not in text else text


def _time(now: _dt.datetime) -> str:
    return now.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_time(now: _dt.datetime) -> str:
    return now.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: Any) -> Optional[_dt.datetime]:
    if not isinstance(text, str) or not text:
        return None
    try:
        value = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)


class EventLog:
    """The Events of one Cluster's store: create / get / list / update / delete on core/v1 wire
    dicts, :meth:`record` for the controllers' events, :meth:`expire` for the TTL and the cap.
    Thread-safe (the store is; writes are conditional on the revision read)."""

    def __init__(self, cluster: Any, *, ttl: float = EVENT_TTL, max_events: int = MAX_EVENTS,
                 clock: Optional[Callable[[], _dt.datetime]] = None) -> None:
        self._cluster = cluster
        self._store = cluster.store
        self.ttl = float(ttl)
        self.max_events = int(max_events)
        self._clock = clock or (lambda: _dt.datetime.now(_dt.timezone.utc))
        self._lock = threading.Lock()
        self._count: Optional[int] = None  # Events stored, known once listed

    # -- reading -------------------------------------------------------------------------------

    @staticmethod
    def _with_revision(value: Dict[str, Any], revision: int) -> Dict[str, Any]:
        data = dict(value)
        metadata = data["metadata"] = dict(data.get("metadata") or {})
        metadata["resourceVersion"] = str(revision)
        return data

    def get(self, namespace: str, name: str) -> Dict[str, Any]:
        record = self._store.get(STORE_KIND, f"{namespace}/{name}")
        if record is None:
            raise NotFoundError(EVENTS.qualified, name)
        return self._with_revision(record.value, record.revision)

    def list(self, namespace: Optional[str] = None) -> List[Dict[str, Any]]:
        records, _ = self._store.list(STORE_KIND)
        prefix = f"{namespace}/" if namespace else ""
        return [self._with_revision(r.value, r.revision) for r in sorted(records, key=lambda r: r.key)
                if r.key.startswith(prefix)]

    # -- writing -------------------------------------------------------------------------------

    @staticmethod
    def _validate(obj: Dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        name = str(meta.get("name") or "")
        problems: List[Tuple[str, str]] = []
        if not name:
            problems.append(("metadata.name", "Required value: name or generateName is required"))
        elif len(name) > 253 or not _SUBDOMAIN.match(name):
            problems.append(("metadata.name", f'Invalid value: "{name}": a lowercase RFC 1123 subdomain '
                             "must consist of lower case alphanumeric characters, '-' or '.', and must "
                             "start and end with an alphanumeric character (e.g. 'example.com', regex "
                             "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]"
                             "([-a-z0-9]*[a-z0-9])?)*')"))
        involved = obj.get("involvedObject")
        if involved is not None and not isinstance(involved, dict):
            problems.append(("involvedObject", "Invalid value: must be an object reference"))
        event_type = obj.get("type")
        if event_type not in (None, "", "Normal", "Warning"):
            problems.append(("type", f'Unsupported value: "{event_type}": supported values: "Normal", "Warning"'))
        if problems:
            raise ValidationError(problems, kind=EVENTS.kind, name=name)

    def create(self, obj: Dict[str, Any], *, dry_run: bool = False) -> Dict[str, Any]:
        """Store a new core/v1 Event (``AlreadyExistsError``, ``ValidationError``)."""
        self._validate(obj)
        now = self._clock()
        data = dict(obj)
        meta = data["metadata"] = dict(data.get("metadata") or {})
        for field in ("resourceVersion", "uid", "creationTimestamp", "deletionTimestamp", "managedFields"):
            meta.pop(field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _time(now)
        data["apiVersion"], data["kind"] = EVENTS.api_version, EVENTS.kind
        key = f"{meta['namespace']}/{meta['name']}"
        if dry_run:
            if self._store.get(STORE_KIND, key) is not None:
                raise AlreadyExistsError(EVENTS.qualified, meta["name"])
            return data
        try:
            revision = self._store.commit([Create(STORE_KIND, key, data)])
        except (TxnConflict, ConflictError):
            raise AlreadyExistsError(EVENTS.qualified, meta["name"]) from None
        with self._lock:
            if self._count is not None:
                self._count += 1
            over = self._count is None or self._count > self.max_events
        if over:
            self.expire()
        return self._with_revision(data, revision)

    def update(self, obj: Dict[str, Any], *, dry_run: bool = False) -> Dict[str, Any]:
        """Replace an Event (a given ``resourceVersion`` must be current: ``ConflictError``)."""
        self._validate(obj)
        meta = dict(obj.get("metadata") or {})
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        current = self._store.get(STORE_KIND, key)
        if current is None:
            raise NotFoundError(EVENTS.qualified, str(meta.get("name")))
        wanted = meta.get("resourceVersion")
        if wanted and str(wanted) != str(current.revision):
            raise ConflictError(f'Operation cannot be fulfilled on events "{meta.get("name")}": the object '
                                "has been modified; please apply your changes to the latest version and try again")
        old_meta = current.value.get("metadata") or {}
        for field in ("uid", "creationTimestamp"):
            if old_meta.get(field):
                meta[field] = old_meta[field]
        meta.pop("resourceVersion", None)
        data = dict(obj)
        data["metadata"] = meta
        data["apiVersion"], data["kind"] = EVENTS.api_version, EVENTS.kind
        if dry_run:
            return self._with_revision(data, current.revision)
        try:
            revision = self._store.commit([Put(STORE_KIND, key, data, expect=current.revision)])
        except (TxnConflict, ConflictError):
            raise ConflictError(f'Operation cannot be fulfilled on events "{meta.get("name")}": the object '
                                "has been modified; please apply your changes to the latest version and "
                                "try again") from None
        return self._with_revision(data, revision)

    def delete(self, namespace: str, name: str, *, dry_run: bool = False) -> Dict[str, Any]:
        current = self.get(namespace, name)
        if not dry_run:
            try:
                self._store.commit([Delete(STORE_KIND, f"{namespace}/{name}")])
            except (TxnConflict, ConflictError):
                raise NotFoundError(EVENTS.qualified, name) from None
            with self._lock:
                if self._count is not None:
                    self._count -= 1
        return current

    def expire(self) -> int:
        """Delete the Events past their TTL and, beyond :attr:`max_events`, the oldest; returns
        how many went."""
        now = self._clock()
        records, _ = self._store.list(STORE_KIND)
        keep = []
        doomed = []
        for record in records:
            value = record.value
            meta = value.get("metadata") or {}
            series = value.get("series") or {}
            last = (_parse(value.get("lastTimestamp")) or _parse(series.get("lastObservedTime"))
                    or _parse(value.get("eventTime")) or _parse(meta.get("creationTimestamp")))
            if last is not None and (now - last).total_seconds() > self.ttl:
                doomed.append(record)
            else:
                keep.append(record)
        if len(keep) > self.max_events:
            keep.sort(key=lambda r: r.revision)  # the least recently written first
            extra = len(keep) - self.max_events
            doomed += keep[:extra]
            keep = keep[extra:]
        removed = 0
        for start in range(0, len(doomed), 500):
            ops = [Delete(STORE_KIND, r.key, expect=r.revision) for r in doomed[start:start + 500]]
            try:
                self._store.commit(ops)
                removed += len(ops)
            except (TxnConflict, ConflictError):
                for op in ops:  # one was written meanwhile: the others still go
                    try:
                        self._store.commit([op])
                        removed += 1
                    except (TxnConflict, ConflictError):
                        pass
        with self._lock:
            self._count = len(records) - removed
        return removed

    # -- the controllers' events ---------------------------------------------------------------

    def _involved(self, regarding: str) -> Dict[str, Any]:
        resource, _, rest = regarding.partition("/")
        kind, api_version = _REGARDING.get(resource, ("", ""))
        involved: Dict[str, Any] = {"kind": kind, "apiVersion": api_version}
        namespace = ""
        name = rest
        if resource == SERVICES.plural:
            namespace, _, name = rest.partition("/")
            involved["namespace"] = namespace
        involved["name"] = name
        try:
            current = self._cluster.get(resource, name, namespace or None)
            meta = current.get("metadata", {}) if isinstance(current, dict) else None
            if meta is not None:
                involved["uid"] = meta.get("uid", "")
            else:
                involved["uid"] = getattr(current, "uid", "") or ""
                involved["resourceVersion"] = getattr(current, "resource_version", "") or ""
        except Exception:  # gone meanwhile: the event still names it
            pass
        return {k: v for k, v in involved.items() if v != ""}

    def record(self, event: ControllerEvent, *, reporter: Optional[str] = None,
               instance: str = "fastcidr") -> Optional[Dict[str, Any]]:
        """Write a controller event (``Cluster.events()``) as an Event about the object it names,
        in the namespace of that object (``default`` for cluster-scoped ones, as upstream's
        recorders do). A repeat of the same event on the same object raises its count."""
        involved = self._involved(event.regarding)
        namespace = involved.get("namespace") or "default"
        controller, action = _REPORTERS.get(event.reason, (reporter or "fastcidr", event.reason))
        when = event.timestamp or self._clock()
        if when.tzinfo is None:
            when = when.replace(tzinfo=_dt.timezone.utc)
        # one Event per object and reason: a repeat is a count on the same object, as the
        # recorders' aggregation makes it
        digest = uuid.uuid5(uuid.NAMESPACE_OID, f"{event.regarding}|{event.reason}|{event.message}").hex[:16]
        name = f"{(involved.get('name') or 'event').replace(':', '-').lower()}.{digest}"
        name = re.sub(r"[^a-z0-9.-]", "-", name).strip("-.") or digest
        for _ in range(5):
            try:
                current = self.get(namespace, name)
            except NotFoundError:
                body = {
                    "apiVersion": EVENTS.api_version, "kind": EVENTS.kind,
                    "metadata": {"name": name, "namespace": namespace},
                    "involvedObject": involved, "reason": event.reason, "message": event.message,
                    "type": event.type, "source": {"component": controller},
                    "firstTimestamp": _time(when), "lastTimestamp": _time(when), "count": 1,
                    "eventTime": _micro_time(when), "action": action,
                    "reportingComponent": controller, "reportingInstance": instance,
                }
                try:
                    return self.create(body)
                except AlreadyExistsError:
                    continue
            current["count"] = int(current.get("count") or 1) + 1
            current["lastTimestamp"] = _time(when)
            current["involvedObject"] = involved
            try:
                return self.update(current)
            except (ConflictError, NotFoundError):
                continue
        return None
