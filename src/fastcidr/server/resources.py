"""The resource types this server serves: names, scope and the fields each kind accepts.

One :class:`ResourceType` per served resource carries everything the discovery documents, the
URL router, the Status errors and strict field validation need, so they cannot disagree.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

__all__ = ["ResourceType", "SERVICECIDRS", "IPADDRESSES", "SERVICES", "NAMESPACES", "RESOURCES",
           "unknown_fields"]

NETWORKING = "networking.k8s.io"


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

SERVICECIDRS = ResourceType(
    "servicecidrs", "servicecidr", "ServiceCIDR", NETWORKING, "v1", False, has_status=True,
    schema=_object_schema({"cidrs": ANY}, {"conditions": LIST_OF(_CONDITION)}),
)
IPADDRESSES = ResourceType(
    "ipaddresses", "ipaddress", "IPAddress", NETWORKING, "v1", False, short_names=("ip",),
    schema=_object_schema(
        {"parentRef": {k: ANY for k in ("group", "resource", "namespace", "name")}}, {}
    ),
)
SERVICES = ResourceType(
    "services", "service", "Service", "", "v1", True, short_names=("svc",),
    categories=("all",), has_status=True,
    verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
    schema=_object_schema(_SERVICE_SPEC, _SERVICE_STATUS),
)
NAMESPACES = ResourceType(
    "namespaces", "namespace", "Namespace", "", "v1", False, short_names=("ns",),
    verbs=("create", "delete", "get", "list", "watch"),
    schema=_object_schema({"finalizers": ANY}, {"phase": ANY, "conditions": ANY}),
)

RESOURCES: Dict[Tuple[str, str], ResourceType] = {
    (r.group, r.plural): r for r in (SERVICECIDRS, IPADDRESSES, SERVICES, NAMESPACES)
}


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
    return RESOURCES.get((group, plural))
