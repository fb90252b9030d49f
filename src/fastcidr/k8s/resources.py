"""The resource registry: every kind fastcidr serves, with all its names in one place.

One :class:`ResourceType` per resource carries what the command line (names, aliases, table
columns), the API server (discovery, URL routing, Status errors, strict field validation) and the
``Cluster`` (error messages) need, so they cannot disagree; no other module spells a resource name.

>>> lookup("svc") is SERVICES, lookup("servicecidrs.networking.k8s.io") is SERVICECIDRS
(True, True)
>>> SERVICECIDRS.qualified, SERVICECIDRS.qualified_singular, SERVICES.headings(wide=True)[-1]
('servicecidrs.networking.k8s.io', 'servicecidr.networking.k8s.io', 'SELECTOR')
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import printers

__all__ = ["ResourceType", "Column", "SERVICECIDRS", "IPADDRESSES", "SERVICES", "NAMESPACES", "RESOURCES",
           "EVENTS", "EVENTS_V1", "SELF_SUBJECT_ACCESS_REVIEWS", "SELF_SUBJECT_REVIEWS", "OBJECT_KINDS",
           "unknown_fields", "find", "lookup", "by_kind"]

NETWORKING = "networking.k8s.io"


@dataclass(frozen=True)
class Column:
    """A table column as the apiserver defines it (kubectl prints ``name`` upper-cased, and the
    columns of ``priority`` > 0 only with ``-o wide``)."""

    name: str
    description: str
    format: str = ""
    priority: int = 0

    def definition(self) -> Dict[str, Any]:
        """The ``columnDefinitions`` entry of a ``meta.k8s.io/v1`` Table."""
        return {"name": self.name, "type": "string", "format": self.format, "description": self.description,
                "priority": self.priority}


CellsFunction = Callable[[Dict[str, Any], Optional[datetime], bool], List[str]]


@dataclass(frozen=True)
class ResourceType:
    plural: str
    singular: str
    kind: str
    group: str  # "" = the core group
    version: str
    namespaced: bool
    short_names: Tuple[str, ...] = ()
    categories: Tuple[str, ...] = ()
    has_status: bool = False
    verbs: Tuple[str, ...] = (
        "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch",
    )
    # the fields a manifest of this kind may carry (for fieldValidation=Strict)
    schema: Dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    columns: Tuple[Column, ...] = field(default=(), compare=False, hash=False)
    # the row's cells (every one the apiserver generates, wide included), from the wire dict
    row_cells: Optional[CellsFunction] = field(default=None, compare=False, hash=False)

    @property
    def qualified_singular(self) -> str:
        """``servicecidr.networking.k8s.io`` / ``service``: what kubectl prints before names."""
        return f"{self.singular}.{self.group}" if self.group else self.singular

    @property
    def names(self) -> Tuple[str, ...]:
        """Every name kubectl accepts for this resource (``svc``, ``services``,
        ``servicecidrs.v1.networking.k8s.io``, ...)."""
        short = (self.plural, self.singular) + self.short_names
        if not self.group:
            return short
        return short + tuple(f"{n}.{self.group}" for n in short) + tuple(
            f"{n}.{self.version}.{self.group}" for n in short)

    def headings(self, wide: bool = False) -> List[str]:
        """kubectl's table header."""
        return [c.name.upper() for c in self.columns if wide or c.priority == 0]

    def cells(self, obj: Dict[str, Any], wide: bool, now: datetime) -> List[str]:
        """A table row: the apiserver's cells, as many as kubectl has columns for."""
        assert self.row_cells is not None
        return self.row_cells(obj, now, wide)[:len(self.headings(wide))]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``servicecidrs.networking.k8s.io`` / ``services``: how error messages name it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """``ServiceCIDR.networking.k8s.io`` / ``Service``: how 422 messages name the kind."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def base_path(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def object_path(self) -> str:
        """The OpenAPI path of one object (``{name}`` and ``{namespace}`` placeholders)."""
        ns = "/namespaces/{namespace}" if self.namespaced else ""
        return f"{self.base_path()}{ns}/{self.plural}/{{name}}"


# Field schemas: a dict maps a field to its sub-schema; ANY accepts anything below it;
# LIST_OF(schema) is a list whose items follow schema; MAP is a string map.
ANY: Any = "any"
MAP: Any = "map"


def LIST_OF(schema: Any) -> Tuple[str, Any]:  # noqa: N802 - reads like a type
    return ("list", schema)


_OWNER_REFERENCE = {k: ANY for k in
                    ("apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion")}
OBJECT_META: Dict[str, Any] = {
    "name": ANY, "generateName": ANY, "namespace": ANY, "selfLink": ANY, "uid": ANY,
    "resourceVersion": ANY, "generation": ANY, "creationTimestamp": ANY, "deletionTimestamp": ANY,
    "deletionGracePeriodSeconds": ANY, "labels": MAP, "annotations": MAP,
    "ownerReferences": LIST_OF(_OWNER_REFERENCE), "finalizers": ANY, "managedFields": ANY,
}
_CONDITION = {k: ANY for k in
              ("type", "status", "observedGeneration", "lastTransitionTime", "reason", "message")}


def _object_schema(spec: Dict[str, Any], status: Dict[str, Any]) -> Dict[str, Any]:
    return {"apiVersion": ANY, "kind": ANY, "metadata": OBJECT_META, "spec": spec, "status": status}


_SERVICE_PORT = {k: ANY for k in ("name", "protocol", "appProtocol", "port", "targetPort", "nodePort")}
_SERVICE_SPEC = {
    "ports": LIST_OF(_SERVICE_PORT), "selector": MAP, "clusterIP": ANY, "clusterIPs": ANY,
    "type": ANY, "externalIPs": ANY, "sessionAffinity": ANY, "loadBalancerIP": ANY,
    "loadBalancerSourceRanges": ANY, "externalName": ANY, "externalTrafficPolicy": ANY,
    "healthCheckNodePort": ANY, "publishNotReadyAddresses": ANY, "sessionAffinityConfig": ANY,
    "ipFamilies": ANY, "ipFamilyPolicy": ANY, "allocateLoadBalancerNodePorts": ANY,
    "loadBalancerClass": ANY, "internalTrafficPolicy": ANY, "trafficDistribution": ANY,
}
_SERVICE_STATUS = {"loadBalancer": ANY, "conditions": ANY}


_NAME_DOC = (
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name automatically. "
    "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
    "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
_AGE_DOC = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. "
    "It is not guaranteed to be set in happens-before order across separate operations. Clients "
    "may not set this value. It is represented in RFC3339 form and is in UTC."
)
_NAME = Column("Name", _NAME_DOC, format="name")
_AGE = Column("Age", _AGE_DOC)

SERVICECIDRS = ResourceType(
    "servicecidrs", "servicecidr", "ServiceCIDR", NETWORKING, "v1", False, has_status=True,
    schema=_object_schema({"cidrs": ANY}, {"conditions": LIST_OF(_CONDITION)}),
    columns=(_NAME, Column("CIDRs", "CIDRs defines the IP blocks in CIDR notation (e.g. \"192.168.0.0/24\" or "
                           "\"2001:db8::/64\") from which to assign service cluster IPs."), _AGE),
    row_cells=printers.servicecidr_cells,
)
IPADDRESSES = ResourceType(
    "ipaddresses", "ipaddress", "IPAddress", NETWORKING, "v1", False, short_names=("ip",),
    schema=_object_schema(
        {"parentRef": {k: ANY for k in ("group", "resource", "namespace", "name")}}, {}
    ),
    columns=(_NAME, Column("ParentRef", "ParentRef references the resource that an IPAddress is attached to.")),
    row_cells=printers.ipaddress_cells,
)
SERVICES = ResourceType(
    "services", "service", "Service", "", "v1", True, short_names=("svc",),
    categories=("all",), has_status=True,
    verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
    schema=_object_schema(_SERVICE_SPEC, _SERVICE_STATUS),
    columns=(
        _NAME,
        Column("Type", "The type of service."),
        Column("Cluster-IP", "The cluster IP address of the service."),
        Column("External-IP", "The external IP address of the service."),
        Column("Port(s)", "The ports of the service."),
        _AGE,
        Column("Selector", "Route service traffic to pods with label keys and values matching this selector.",
               priority=1),
    ),
    row_cells=printers.service_cells,
)
NAMESPACES = ResourceType(
    "namespaces", "namespace", "Namespace", "", "v1", False, short_names=("ns",),
    verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
    schema=_object_schema({"finalizers": ANY}, {"phase": ANY, "conditions": ANY}),
    columns=(_NAME, Column("Status", "The status of the namespace"), _AGE),
    row_cells=printers.namespace_cells,
)

_OBJECT_REFERENCE = {k: ANY for k in ("kind", "namespace", "name", "uid", "apiVersion",
                                      "resourceVersion", "fieldPath")}
_EVENT_COLUMNS = (
    Column("Last Seen", "Time when this Event was last observed."),
    Column("Type", "Type of this event (Normal, Warning), new types could be added in the future."),
    Column("Reason", "This should be a short, machine understandable string that gives the reason "
                     "for this event being generated."),
    Column("Object", "The object that this event is about."),
    Column("Subobject", "The subobject that this event is about.", priority=1),
    Column("Source", "The component reporting this event.", priority=1),
    Column("Message", "A human-readable description of the status of this operation."),
    Column("First Seen", "The time at which the event was first recorded.", priority=1),
    Column("Count", "The number of times this event has occurred.", priority=1),
    Column("Name", _NAME_DOC, format="name", priority=1),
)
def _v1_event_cells(obj: Dict[str, Any], now: Optional[datetime], wide: bool) -> List[str]:
    from .events import to_core  # (events imports this module)

    return printers.event_cells(to_core(obj), now, wide)


#: core/v1 Events and events.k8s.io/v1 Events are one object in two versions (one storage)
EVENTS = ResourceType(
    "events", "event", "Event", "", "v1", True, short_names=("ev",),
    schema={"apiVersion": ANY, "kind": ANY, "metadata": OBJECT_META,
            "involvedObject": _OBJECT_REFERENCE, "related": _OBJECT_REFERENCE, "reason": ANY,
            "message": ANY, "source": {"component": ANY, "host": ANY}, "firstTimestamp": ANY,
            "lastTimestamp": ANY, "count": ANY, "type": ANY, "eventTime": ANY,
            "series": {"count": ANY, "lastObservedTime": ANY, "state": ANY}, "action": ANY,
            "reportingComponent": ANY, "reportingInstance": ANY},
    columns=_EVENT_COLUMNS, row_cells=printers.event_cells,
)
EVENTS_V1 = ResourceType(
    "events", "event", "Event", "events.k8s.io", "v1", True, short_names=("ev",),
    schema={"apiVersion": ANY, "kind": ANY, "metadata": OBJECT_META, "eventTime": ANY,
            "series": {"count": ANY, "lastObservedTime": ANY}, "reportingController": ANY,
            "reportingInstance": ANY, "action": ANY, "reason": ANY, "regarding": _OBJECT_REFERENCE,
            "related": _OBJECT_REFERENCE, "note": ANY, "type": ANY,
            "deprecatedSource": {"component": ANY, "host": ANY}, "deprecatedFirstTimestamp": ANY,
            "deprecatedLastTimestamp": ANY, "deprecatedCount": ANY},
    columns=_EVENT_COLUMNS, row_cells=lambda obj, now, wide: _v1_event_cells(obj, now, wide),
)
#: the reviews ``kubectl auth can-i`` and ``kubectl auth whoami`` create (never stored)
SELF_SUBJECT_ACCESS_REVIEWS = ResourceType(
    "selfsubjectaccessreviews", "selfsubjectaccessreview", "SelfSubjectAccessReview", "authorization.k8s.io",
    "v1", False,
    verbs=("create",), schema={"apiVersion": ANY, "kind": ANY, "metadata": OBJECT_META, "spec": ANY,
                               "status": ANY},
)
SELF_SUBJECT_REVIEWS = ResourceType(
    "selfsubjectreviews", "selfsubjectreview", "SelfSubjectReview", "authentication.k8s.io", "v1", False,
    verbs=("create",), schema={"apiVersion": ANY, "kind": ANY, "metadata": OBJECT_META, "status": ANY},
)

RESOURCES: Dict[Tuple[str, str], ResourceType] = {
    (r.group, r.plural): r for r in (SERVICECIDRS, IPADDRESSES, SERVICES, NAMESPACES, EVENTS, EVENTS_V1,
                                     SELF_SUBJECT_ACCESS_REVIEWS, SELF_SUBJECT_REVIEWS)
}
#: the kinds of object a Cluster keeps (what the command line creates, gets and deletes)
OBJECT_KINDS: Tuple[ResourceType, ...] = (SERVICECIDRS, IPADDRESSES, SERVICES)
_BY_NAME: Dict[str, ResourceType] = {name: r for r in OBJECT_KINDS for name in r.names}
# (a manifest's ``kind: Event`` means the core/v1 one)
_BY_KIND: Dict[str, ResourceType] = {r.kind: r for r in RESOURCES.values() if r is not EVENTS_V1}


def unknown_fields(obj: Any, schema: Any, path: str = "") -> List[str]:
    """Dotted paths of the fields of ``obj`` that ``schema`` does not know (Strict validation).

    >>> unknown_fields({"spec": {"cidrs": [], "foo": 1}, "bar": 2}, SERVICECIDRS.schema)
    ['spec.foo', 'bar']
    """
    found: List[str] = []
    if schema is ANY or obj is None:
        return found
    if schema is MAP:
        return found
    if isinstance(schema, tuple) and schema[0] == "list":
        if isinstance(obj, list):
            for index, item in enumerate(obj):
                found += unknown_fields(item, schema[1], f"{path}[{index}]")
        return found
    if isinstance(schema, dict) and isinstance(obj, dict):
        for key, value in obj.items():
            sub_path = f"{path}.{key}" if path else key
            if key not in schema:
                found.append(sub_path)
            else:
                found += unknown_fields(value, schema[key], sub_path)
    return found


def find(group: str, plural: str) -> Optional[ResourceType]:
    """The resource served at ``/apis/<group>/<version>/<plural>`` (the core group is "")."""
    return RESOURCES.get((group, plural))


def lookup(name: str) -> Optional[ResourceType]:
    """The object kind a command-line name means (``svc``, ``ip``, ``servicecidrs``, ...), or None."""
    return _BY_NAME.get(name.lower())


def by_kind(kind: str) -> Optional[ResourceType]:
    """The resource of a manifest's ``kind`` (``ServiceCIDR``, ``Service``, ...), or None."""
    return _BY_KIND.get(kind)
