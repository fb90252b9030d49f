"""The Kubernetes objects of the Service IP layer as plain dataclasses.

Every object converts to the Kubernetes wire form with ``to_dict()`` (what the apiserver returns:
``apiVersion``, ``kind``, ``metadata``, ``spec``, ``status``; RFC 3339 timestamps; empty optional
fields omitted like Go's ``omitempty``) and back with ``from_dict()``, which reads what
``kubectl get ... -o json`` prints (``networking.k8s.io/v1`` and ``v1beta1``) and tolerates absent
fields. ``resource_version`` is a string, as in Kubernetes; an empty one is omitted.

>>> cidr = ServiceCIDR("newcidr1", ["10.96.0.0/24"])
>>> cidr.to_dict()["spec"]
{'cidrs': ['10.96.0.0/24']}
>>> ServiceCIDR.from_dict(cidr.to_dict()) == cidr
True
>>> str(ParentReference(resource="services", namespace="default", name="kubernetes"))
'services/default/kubernetes'
"""
from __future__ import annotations

import copy
import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

__all__ = [
    "ServiceCIDR",
    "Condition",
    "IPAddress",
    "ParentReference",
    "Service",
    "ServicePort",
    "Event",
    "format_time",
    "parse_time",
    "FINALIZER",
    "LABEL_IP_FAMILY",
    "LABEL_MANAGED_BY",
    "MANAGED_BY_ALLOCATOR",
]

NETWORKING_API = "networking.k8s.io/v1"
FINALIZER = "networking.k8s.io/service-cidr-finalizer"
LABEL_IP_FAMILY = "ipaddress.kubernetes.io/ip-family"
LABEL_MANAGED_BY = "ipaddress.kubernetes.io/managed-by"
MANAGED_BY_ALLOCATOR = "ipallocator.k8s.io"

UTC = _dt.timezone.utc

# Formatting a datetime costs ~1.5 µs; Services are created thousands per second within one
# second, so the last result is kept. A Cluster hands out one datetime object per second, so the
# usual hit is an identity test. One tuple (datetime, its whole-second naive key, text), replaced
# as a whole, so that a reader in another thread never pairs one datetime with another's text.
_last_formatted: List[Any] = [(None, None, None)]


def format_time(value: Optional[_dt.datetime]) -> Optional[str]:
    """RFC 3339 in UTC with a ``Z`` and whole seconds, like ``metav1.Time``.

    >>> format_time(_dt.datetime(2026, 1, 2, 3, 4, 5, 999, tzinfo=UTC))
    '2026-01-02T03:04:05Z'
    """
    last = _last_formatted[0]
    if value is last[0]:
        return last[2]  # type: ignore[no-any-return]
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(UTC)
    key = value.replace(microsecond=0, tzinfo=None)
    text = last[2] if last[1] == key else key.strftime("%Y-%m-%dT%H:%M:%SZ")
    _last_formatted[0] = (value, key, text)  # datetimes are immutable: same object, same text
    return text


# Objects read in bulk (an import, a store listing) mostly carry a few distinct timestamps, in
# runs: the last text read and its datetime are kept (datetimes are immutable, so one object can
# be shared, and format_time then knows it by identity).
_last_parsed: List[Any] = [(None, None)]


def parse_time(value: Any) -> Optional[_dt.datetime]:
    """Reads an RFC 3339 timestamp (``Z`` or an offset, fractional seconds allowed) as aware UTC.

    >>> parse_time("2012-01-01T00:00:00Z")
    datetime.datetime(2012, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
    """
    if value is None or value == "":
        return None
    last = _last_parsed[0]
    if value == last[0] and type(value) is str:
        return last[1]  # type: ignore[no-any-return]
    if isinstance(value, _dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    text = str(value).strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = _dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"invalid RFC 3339 timestamp {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    if type(value) is str:
        _last_parsed[0] = (value, parsed)  # one tuple, replaced whole (threads see a matching pair)
    return parsed


def _meta(d: Dict[str, Any]) -> Dict[str, Any]:
    meta = d.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _rv(meta: Dict[str, Any]) -> str:
    rv = meta.get("resourceVersion")
    return "" if rv is None else str(rv)


def _str_map(value: Any) -> Dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def _put_meta_common(meta: Dict[str, Any], obj: Any) -> None:
    """The generic ObjectMeta fields in Kubernetes' field order: uid, resourceVersion,
    generation, timestamps, labels, annotations, ownerReferences, finalizers."""
    if obj.uid:
        meta["uid"] = obj.uid
    if obj.resource_version:
        meta["resourceVersion"] = str(obj.resource_version)
    if obj.generation:
        meta["generation"] = obj.generation
    ts = format_time(obj.creation_timestamp)
    if ts is not None:
        meta["creationTimestamp"] = ts
    deletion = obj.deletion_timestamp
    if deletion is not None:
        meta["deletionTimestamp"] = format_time(deletion)
        meta["deletionGracePeriodSeconds"] = 0  # finalizers hold it: no grace period to wait out
    if obj.labels:
        meta["labels"] = dict(obj.labels)
    if obj.annotations:
        meta["annotations"] = dict(obj.annotations)
    if obj.owner_references:
        meta["ownerReferences"] = copy.deepcopy(obj.owner_references)
    if obj.finalizers:
        meta["finalizers"] = list(obj.finalizers)


def _read_meta_common(meta: Dict[str, Any]) -> Dict[str, Any]:
    """The generic ObjectMeta fields ``_put_meta_common`` writes (and the name), as the keyword
    arguments every kind's ``from_dict`` passes on."""
    return {
        "name": str(meta.get("name") or ""),
        "uid": str(meta.get("uid") or ""),
        "resource_version": _rv(meta),
        "generation": _generation(meta),
        "creation_timestamp": parse_time(meta.get("creationTimestamp")),
        "deletion_timestamp": parse_time(meta.get("deletionTimestamp")),
        "labels": _str_map(meta.get("labels")),
        "annotations": _str_map(meta.get("annotations")),
        "owner_references": _owner_references(meta),
        "finalizers": _finalizers(meta),
    }


def _owner_references(meta: Dict[str, Any]) -> List[Dict[str, Any]]:
    refs = meta.get("ownerReferences")
    if not isinstance(refs, list):
        return []
    return [copy.deepcopy(r) for r in refs if isinstance(r, dict)]


def _finalizers(meta: Dict[str, Any]) -> List[str]:
    value = meta.get("finalizers")
    return [str(f) for f in value] if isinstance(value, list) else []


def _generation(meta: Dict[str, Any]) -> int:
    try:
        return int(meta.get("generation") or 0)
    except (TypeError, ValueError):
        return 0


@dataclass
class Condition:
    """A ``metav1.Condition``. ``to_dict()`` always carries type, status, reason (possibly ""),
    message and lastTransitionTime: strict clients reject conditions without them."""

    type: str = "Ready"
    status: str = "True"
    reason: str = ""
    message: str = ""
    last_transition_time: Optional[_dt.datetime] = None
    observed_generation: int = 0

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"type": self.type, "status": self.status}
        if self.observed_generation:
            d["observedGeneration"] = self.observed_generation
        d["lastTransitionTime"] = format_time(self.last_transition_time)
        d["reason"] = self.reason
        d["message"] = self.message
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Condition":
        return cls(
            type=str(d.get("type") or ""),
            status=str(d.get("status") or ""),
            reason=str(d.get("reason") or ""),
            message=str(d.get("message") or ""),
            last_transition_time=parse_time(d.get("lastTransitionTime")),
            observed_generation=int(d.get("observedGeneration") or 0),
        )


@dataclass
class ServiceCIDR:
    """``networking.k8s.io/v1`` ServiceCIDR (cluster-scoped).

    ``ready``: not being deleted and no ``Ready`` condition other than True (no condition at all
    counts as ready, as the allocator does). ``terminating``: ``deletion_timestamp`` is set.
    """

    name: str
    cidrs: List[str] = field(default_factory=list)
    uid: str = ""
    resource_version: str = ""
    creation_timestamp: Optional[_dt.datetime] = None
    deletion_timestamp: Optional[_dt.datetime] = None
    finalizers: List[str] = field(default_factory=list)
    conditions: List[Condition] = field(default_factory=list)
    labels: Dict[str, str] = field(default_factory=dict)
    annotations: Dict[str, str] = field(default_factory=dict)
    owner_references: List[Dict[str, Any]] = field(default_factory=list)
    generation: int = 0

    @property
    def terminating(self) -> bool:
        return self.deletion_timestamp is not None

    @property
    def ready(self) -> bool:
        if self.deletion_timestamp is not None:
            return False
        cond = self.condition("Ready")
        return cond is None or cond.status == "True"

    def condition(self, type_: str) -> Optional[Condition]:
        for cond in self.conditions:
            if cond.type == type_:
                return cond
        return None

    def to_dict(self) -> Dict[str, Any]:
        meta: Dict[str, Any] = {"name": self.name}
        _put_meta_common(meta, self)
        status: Dict[str, Any] = {}
        if self.conditions:
            status["conditions"] = [c.to_dict() for c in self.conditions]
        return {
            "apiVersion": NETWORKING_API,
            "kind": "ServiceCIDR",
            "metadata": meta,
            "spec": {"cidrs": list(self.cidrs)} if self.cidrs else {},
            "status": status,
        }

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "ServiceCIDR":
        meta = _meta(d)
        spec = d.get("spec") if isinstance(d.get("spec"), dict) else {}
        status = d.get("status") if isinstance(d.get("status"), dict) else {}
        cidrs = spec.get("cidrs") or []  # type: ignore[union-attr]
        conds = status.get("conditions") or []  # type: ignore[union-attr]
        return cls(
            cidrs=[str(c) for c in cidrs] if isinstance(cidrs, list) else [str(cidrs)],
            conditions=[Condition.from_dict(c) for c in conds if isinstance(c, dict)],
            **_read_meta_common(meta),
        )


@dataclass
class ParentReference:
    """The object an IPAddress belongs to. ``str()`` is kubectl's PARENTREF column."""

    group: str = ""
    resource: str = ""
    namespace: str = ""
    name: str = ""

    def __str__(self) -> str:
        resource = self.resource.lower()
        text = f"{resource}.{self.group.lower()}" if self.group else resource
        if self.namespace:
            text += "/" + self.namespace
        return text + "/" + self.name

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {}
        if self.group:
            d["group"] = self.group
        d["resource"] = self.resource
        if self.namespace:
            d["namespace"] = self.namespace
        d["name"] = self.name
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "ParentReference":
        return cls(
            group=str(d.get("group") or ""),
            resource=str(d.get("resource") or ""),
            namespace=str(d.get("namespace") or ""),
            name=str(d.get("name") or ""),
        )


@dataclass
class IPAddress:
    """``networking.k8s.io/v1`` IPAddress (cluster-scoped), named by the canonical address."""

    name: str
    parent_ref: Optional[ParentReference] = None
    labels: Dict[str, str] = field(default_factory=dict)
    uid: str = ""
    creation_timestamp: Optional[_dt.datetime] = None
    resource_version: str = ""
    annotations: Dict[str, str] = field(default_factory=dict)
    finalizers: List[str] = field(default_factory=list)
    owner_references: List[Dict[str, Any]] = field(default_factory=list)
    deletion_timestamp: Optional[_dt.datetime] = None
    generation: int = 0

    @property
    def terminating(self) -> bool:
        return self.deletion_timestamp is not None

    @property
    def managed(self) -> bool:
        """Created by the Service IP allocator (the only ones repair and the finalizer look at)."""
        return self.labels.get(LABEL_MANAGED_BY) == MANAGED_BY_ALLOCATOR

    def to_dict(self) -> Dict[str, Any]:
        meta: Dict[str, Any] = {"name": self.name}
        _put_meta_common(meta, self)
        spec: Dict[str, Any] = {}
        if self.parent_ref is not None:
            spec["parentRef"] = self.parent_ref.to_dict()
        return {"apiVersion": NETWORKING_API, "kind": "IPAddress", "metadata": meta, "spec": spec}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "IPAddress":
        meta = _meta(d)
        spec = d.get("spec") if isinstance(d.get("spec"), dict) else {}
        ref = spec.get("parentRef")  # type: ignore[union-attr]
        return cls(
            parent_ref=ParentReference.from_dict(ref) if isinstance(ref, dict) else None,
            **_read_meta_common(meta),
        )


def _int_or_raw(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


@dataclass
class ServicePort:
    """One entry of ``spec.ports``. ``target_port`` defaults to ``port`` in the wire form, as the
    apiserver defaults it; it may be an int or a named port (str)."""

    port: int = 0
    protocol: str = "TCP"
    name: str = ""
    target_port: Optional[Union[int, str]] = None
    node_port: Optional[int] = None
    app_protocol: Optional[str] = None

    def __post_init__(self) -> None:
        if self.target_port is None:  # the apiserver's default
            self.target_port = self.port

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {}
        if self.name:
            d["name"] = self.name
        if self.app_protocol:
            d["appProtocol"] = self.app_protocol
        d["protocol"] = self.protocol or "TCP"
        d["port"] = self.port
        d["targetPort"] = self.port if self.target_port is None else self.target_port
        if self.node_port:
            d["nodePort"] = self.node_port
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "ServicePort":
        target = d.get("targetPort")
        if isinstance(target, str) and target.isdigit():
            target = int(target)
        return cls(
            port=_int_or_raw(d.get("port") or 0),  # a bad value is kept for validation to name it
            protocol=str(d.get("protocol") or "TCP"),
            name=str(d.get("name") or ""),
            target_port=target,
            node_port=_int_or_raw(d["nodePort"]) if d.get("nodePort") else None,
            app_protocol=str(d["appProtocol"]) if d.get("appProtocol") else None,
        )

    @classmethod
    def coerce(cls, value: Any) -> "ServicePort":
        """A ServicePort from a ServicePort, a wire dict, or a bare port number."""
        if isinstance(value, ServicePort):
            return value
        if isinstance(value, dict):
            return cls.from_dict(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(port=value)
        if isinstance(value, str) and value.isdigit():
            return cls(port=int(value))
        raise TypeError(f"a Service port must be a ServicePort, a dict or an int, not {value!r}")


# Service spec fields this layer interprets; every other spec field travels in Service.extra.
_SERVICE_SPEC_KEYS = frozenset(
    {
        "ports",
        "selector",
        "clusterIP",
        "clusterIPs",
        "type",
        "externalName",
        "ipFamilies",
        "ipFamilyPolicy",
    }
)


_DEFAULT_STATUS: Dict[str, Any] = {"loadBalancer": {}}
_new_object = object.__new__


@dataclass
class Service:
    """A core ``v1`` Service as far as Service IPs are concerned.

    Fields this layer does not interpret (``sessionAffinity``, ``externalTrafficPolicy``, ...) are
    kept in ``extra`` and written back unchanged; ``status`` is kept in ``status``.
    """

    name: str
    namespace: str = "default"
    cluster_ip: Optional[str] = None
    cluster_ips: List[str] = field(default_factory=list)
    ip_families: List[str] = field(default_factory=list)
    ip_family_policy: Optional[str] = None
    ports: List[ServicePort] = field(default_factory=list)
    uid: str = ""
    creation_timestamp: Optional[_dt.datetime] = None
    resource_version: str = ""
    type: str = "ClusterIP"
    selector: Dict[str, str] = field(default_factory=dict)
    external_name: Optional[str] = None
    labels: Dict[str, str] = field(default_factory=dict)
    annotations: Dict[str, str] = field(default_factory=dict)
    extra: Dict[str, Any] = field(default_factory=dict)
    status: Dict[str, Any] = field(default_factory=dict)
    finalizers: List[str] = field(default_factory=list)
    owner_references: List[Dict[str, Any]] = field(default_factory=list)
    deletion_timestamp: Optional[_dt.datetime] = None
    generation: int = 0

    @property
    def terminating(self) -> bool:
        return self.deletion_timestamp is not None

    @classmethod
    def _plain(cls, name: str, namespace: str, ip: str, family: str, uid: str,
               created: Optional[_dt.datetime]) -> "Service":
        """``Service(name, namespace, ip, [ip], [family], "SingleStack", uid=uid,
        creation_timestamp=created)``, built field by field: twice as fast as the dataclass
        ``__init__`` with its default factories, for the Cluster's most common creation (a test
        holds the two equal, field for field)."""
        svc = _new_object(cls)
        svc.name = name
        svc.namespace = namespace
        svc.cluster_ip = ip
        svc.cluster_ips = [ip]
        svc.ip_families = [family]
        svc.ip_family_policy = "SingleStack"
        svc.ports = []
        svc.uid = uid
        svc.creation_timestamp = created
        svc.resource_version = ""
        svc.type = "ClusterIP"
        svc.selector = {}
        svc.external_name = None
        svc.labels = {}
        svc.annotations = {}
        svc.extra = {}
        svc.status = {}
        svc.finalizers = []
        svc.owner_references = []
        svc.deletion_timestamp = None
        svc.generation = 0
        return svc

    @property
    def key(self) -> str:
        """The store key ``namespace/name``."""
        return f"{self.namespace}/{self.name}"

    @property
    def headless(self) -> bool:
        return self.cluster_ip == "None" or (bool(self.cluster_ips) and self.cluster_ips[0] == "None")

    def to_dict(self) -> Dict[str, Any]:
        return self._wire(None)

    def _wire(self, default_status: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        """``to_dict()``; ``default_status``, when given, is used as is for an empty status (the
        Cluster passes one shared read-only dict for the values its store keeps: one container
        less per Service for the cyclic collector to walk)."""
        meta: Dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        _put_meta_common(meta, self)
        spec: Dict[str, Any] = {}
        if self.ports:
            spec["ports"] = [p.to_dict() for p in self.ports]
        if self.selector:
            spec["selector"] = dict(self.selector)
        if self.cluster_ip:
            spec["clusterIP"] = self.cluster_ip
        if self.cluster_ips:
            spec["clusterIPs"] = list(self.cluster_ips)
        service_type = self.type or "ClusterIP"
        spec["type"] = service_type
        if self.external_name:
            spec["externalName"] = self.external_name
        spec["sessionAffinity"] = "None"
        if self.ip_families:
            spec["ipFamilies"] = list(self.ip_families)
        if self.ip_family_policy:
            spec["ipFamilyPolicy"] = self.ip_family_policy
        if service_type != "ExternalName":
            spec["internalTrafficPolicy"] = "Cluster"
        if self.extra:
            spec.update(copy.deepcopy(self.extra))
        if self.status:
            status = copy.deepcopy(self.status)
        else:
            status = {"loadBalancer": {}} if default_status is None else default_status
        return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec, "status": status}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Service":
        meta = _meta(d)
        spec = d.get("spec") if isinstance(d.get("spec"), dict) else {}
        status = d.get("status") if isinstance(d.get("status"), dict) else {}
        assert isinstance(spec, dict) and isinstance(status, dict)
        ports = spec.get("ports") or []
        cluster_ips = spec.get("clusterIPs") or []
        families = spec.get("ipFamilies") or []
        # deep copies: the object must not share mutable parts with the dict it was read from
        extra = {k: copy.deepcopy(v) if isinstance(v, (dict, list)) else v
                 for k, v in spec.items() if k not in _SERVICE_SPEC_KEYS}
        # defaults the apiserver fills in are not "extra": they are re-emitted by to_dict()
        if extra.get("sessionAffinity") == "None":
            del extra["sessionAffinity"]
        if extra.get("internalTrafficPolicy") == "Cluster":
            del extra["internalTrafficPolicy"]
        # (the usual status, {"loadBalancer": {}}, is the default: nothing to copy)
        status_copy = copy.deepcopy(status) if status and status != _DEFAULT_STATUS else {}
        return cls(
            namespace=str(meta.get("namespace") or "default"),
            cluster_ip=str(spec["clusterIP"]) if spec.get("clusterIP") else None,
            cluster_ips=[str(ip) for ip in cluster_ips],
            ip_families=[str(f) for f in families],
            ip_family_policy=str(spec["ipFamilyPolicy"]) if spec.get("ipFamilyPolicy") else None,
            ports=[ServicePort.from_dict(p) for p in ports if isinstance(p, dict)],
            type=str(spec.get("type") or "ClusterIP"),
            selector=_str_map(spec.get("selector")),
            external_name=str(spec["externalName"]) if spec.get("externalName") else None,
            extra=extra,
            status=status_copy,
            **_read_meta_common(meta),
        )


@dataclass
class Event:
    """A controller event. ``str()`` reads like the event recorder's line:
    ``Warning ClusterIPNotAllocated Cluster IP [IPv4]: 10.0.1.1 is not allocated; repairing``.
    ``regarding`` names the object: ``servicecidrs/x``, ``services/ns/name``, ``ipaddresses/ip``."""

    type: str
    reason: str
    message: str
    regarding: str = ""
    timestamp: Optional[_dt.datetime] = None

    def __str__(self) -> str:
        return f"{self.type} {self.reason} {self.message}"

    def to_dict(self) -> Dict[str, Any]:
        return {
            "type": self.type,
            "reason": self.reason,
            "message": self.message,
            "regarding": self.regarding,
            "timestamp": format_time(self.timestamp),
        }

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Event":
        return cls(
            type=str(d.get("type") or ""),
            reason=str(d.get("reason") or ""),
            message=str(d.get("message") or d.get("note") or ""),
            regarding=str(d.get("regarding") or ""),
            timestamp=parse_time(d.get("timestamp") or d.get("eventTime")),
        )
