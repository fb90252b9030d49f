"""OpenAPI schemas of the served kinds, generated from the resource registry's field schemas
(:mod:`fastcidr.k8s.resources`): the ``components.schemas`` of the ``/openapi/v3`` documents
(``kubectl explain``) and the ``/openapi/v2`` document (JSON, or the protobuf kubectl asks for:
it validates a ``kind: List`` against it before ``apply``) (docs/serve.md "OpenAPI").

The schemas accept exactly what the server's strict field validation accepts, so that kubectl's
client-side validation and the server never disagree. Definition names follow kube-apiserver's
(``io.k8s.api.core.v1.Service``, ``io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta``, ...).

>>> definitions = schemas("v2")
>>> definitions["io.k8s.api.core.v1.ServicePort"]["properties"]["port"]["type"]
'integer'
>>> definitions["io.k8s.api.core.v1.Service"]["x-kubernetes-group-version-kind"]
[{'group': '', 'kind': 'Service', 'version': 'v1'}]
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple

from ..k8s.resources import ANY, MAP
from .protobuf import _ld
from .resources import RESOURCES, ResourceType

__all__ = ["schemas", "definition_name", "v2_document", "v2_protobuf", "V2_PROTOBUF_TYPE",
           "V2_PROTOBUF_REPLY_TYPE"]

#: what kubectl asks for, and (Go's mime parser refuses the "@") what the reply is labelled
V2_PROTOBUF_TYPE = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
V2_PROTOBUF_REPLY_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"

_META = "io.k8s.apimachinery.pkg.apis.meta.v1"
#: the definition of a nested object, by field name (else ``<Kind><Field>``)
_NESTED = {
    "metadata": f"{_META}.ObjectMeta",
    "ownerReferences": f"{_META}.OwnerReference",
    "conditions": f"{_META}.Condition",
    "ports": "ServicePort",
    "parentRef": "ParentReference",
    "involvedObject": "io.k8s.api.core.v1.ObjectReference",
    "regarding": "io.k8s.api.core.v1.ObjectReference",
    "related": "io.k8s.api.core.v1.ObjectReference",
    "source": "io.k8s.api.core.v1.EventSource",
    "deprecatedSource": "io.k8s.api.core.v1.EventSource",
    "series": "EventSeries",
}
_STRING = {"type": "string"}
_INTEGER = {"type": "integer", "format": "int32"}
_BOOLEAN = {"type": "boolean"}
_STRINGS = {"type": "array", "items": {"type": "string", "default": ""}}
_TIME = {"type": "string", "format": "date-time"}
#: the leaves' types, by field name (a leaf not named here may hold anything)
_LEAVES: Dict[str, Dict[str, Any]] = {
    **{name: _STRING for name in (
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "apiVersion",
        "kind", "clusterIP", "type", "sessionAffinity", "loadBalancerIP", "externalName",
        "externalTrafficPolicy", "ipFamilyPolicy", "loadBalancerClass", "internalTrafficPolicy",
        "trafficDistribution", "protocol", "appProtocol", "group", "resource", "reason", "message",
        "status", "phase", "note", "action", "reportingController", "reportingInstance",
        "reportingComponent", "component", "host", "fieldPath", "state")},
    **{name: _TIME for name in (
        "creationTimestamp", "deletionTimestamp", "lastTransitionTime", "firstTimestamp",
        "lastTimestamp", "deprecatedFirstTimestamp", "deprecatedLastTimestamp")},
    **{name: {"type": "string", "format": "date-time"} for name in ("eventTime", "lastObservedTime")},
    **{name: {"type": "integer", "format": "int64"} for name in (
        "generation", "deletionGracePeriodSeconds", "observedGeneration")},
    **{name: _INTEGER for name in ("port", "nodePort", "healthCheckNodePort", "count", "deprecatedCount")},
    **{name: _BOOLEAN for name in (
        "publishNotReadyAddresses", "allocateLoadBalancerNodePorts", "controller", "blockOwnerDeletion")},
    **{name: _STRINGS for name in (
        "cidrs", "clusterIPs", "externalIPs", "loadBalancerSourceRanges", "ipFamilies", "finalizers")},
    "targetPort": {"type": "string", "format": "int-or-string"},
}
_GROUP_PACKAGE = {"": "core", "networking.k8s.io": "networking", "events.k8s.io": "events",
                  "authorization.k8s.io": "authorization", "authentication.k8s.io": "authentication"}
#: a few words for ``kubectl explain``, by definition
_DESCRIPTIONS = {
    "Service": "Service is a named abstraction of software service (for example, mysql) consisting of "
               "local port (for example 3306) that the proxy listens on, and the selector that "
               "determines which pods will answer requests sent through the proxy.",
    "ServiceSpec": "ServiceSpec describes the attributes that a user creates on a service.",
    "ServicePort": "ServicePort contains information on service's port.",
    "ServiceCIDR": "ServiceCIDR defines a range of IP addresses using CIDR format (e.g. 192.168.0.0/24 or "
                   "2001:db2::/64). This range is used to allocate ClusterIPs to Service objects.",
    "IPAddress": "IPAddress represents a single IP of a single IP Family. The object is designed to be "
                 "used by APIs that operate on IP addresses.",
    "Namespace": "Namespace provides a scope for Names. Use of multiple namespaces is optional.",
    "Event": "Event is a report of an event somewhere in the cluster.",
    "ObjectMeta": "ObjectMeta is metadata that all persisted resources must have, which includes all "
                  "objects users must create.",
}
_FIELD_DESCRIPTIONS = {
    "ports": "The list of ports that are exposed by this service.",
    "port": "The port that will be exposed by this service.",
    "targetPort": "Number or name of the port to access on the pods targeted by the service.",
    "nodePort": "The port on each node on which this service is exposed when type is NodePort or "
                "LoadBalancer.",
    "protocol": 'The IP protocol for this port. Supports "TCP", "UDP", and "SCTP". Default is TCP.',
    "clusterIP": "clusterIP is the IP address of the service and is usually assigned randomly.",
    "clusterIPs": "ClusterIPs is a list of IP addresses assigned to this service, and are usually "
                  "assigned randomly.",
    "cidrs": "CIDRs defines the IP blocks in CIDR notation from which to assign service cluster IPs.",
    "parentRef": "ParentRef references the resource that an IPAddress is attached to.",
    "selector": "Route service traffic to pods with label keys and values matching this selector.",
    "labels": "Map of string keys and values that can be used to organize and categorize objects.",
    "annotations": "Annotations is an unstructured key value map stored with a resource.",
}


def definition_name(resource: ResourceType, local: str = "") -> str:
    """``io.k8s.api.core.v1.Service`` (``local`` names a nested type of its package)."""
    package = _GROUP_PACKAGE.get(resource.group, resource.group.split(".")[0])
    return f"io.k8s.api.{package}.{resource.version}.{local or resource.kind}"


def _ref(name: str, version: str) -> Dict[str, Any]:
    if version == "v3":  # kube-apiserver's v3 documents wrap references
        return {"allOf": [{"$ref": f"#/components/schemas/{name}"}], "default": {}}
    return {"$ref": f"#/definitions/{name}"}


def _capitalised(field: str) -> str:
    return field[:1].upper() + field[1:]


class _Builder:
    def __init__(self, version: str) -> None:
        self.version = version
        self.definitions: Dict[str, Dict[str, Any]] = {}

    def _nested_name(self, resource: ResourceType, owner: str, field: str) -> str:
        local = _NESTED.get(field)
        if local is None:
            local = f"{owner}{_capitalised(field)}"
        if "." in local:
            return local
        return definition_name(resource, local)

    def _leaf(self, owner: str, field: str, schema: Any) -> Dict[str, Any]:
        if schema is MAP:
            out: Dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string", "default": ""}}
        elif field == "status" and owner != "Condition":
            out = {}  # an object of its own (a review's), not a condition's string
        else:
            out = dict(_LEAVES.get(field, {}))
            if out.get("items"):
                out["items"] = dict(out["items"])
        if field in _FIELD_DESCRIPTIONS:
            out["description"] = _FIELD_DESCRIPTIONS[field]
        return out

    def field(self, resource: ResourceType, owner: str, field: str, schema: Any) -> Dict[str, Any]:
        if schema is ANY or schema is MAP:
            return self._leaf(owner, field, schema)
        if isinstance(schema, tuple) and schema[0] == "list":
            item = self.field(resource, owner, field, schema[1])
            item.pop("description", None)  # the list's own
            out = {"type": "array", "items": item}
        elif isinstance(schema, dict):
            name = self._nested_name(resource, owner, field)
            self.object(resource, name, schema)
            out = _ref(name, self.version)
        else:
            out = {}
        if field in _FIELD_DESCRIPTIONS:
            out["description"] = _FIELD_DESCRIPTIONS[field]
        return out

    def object(self, resource: ResourceType, name: str, schema: Dict[str, Any],
               gvk: Optional[List[Dict[str, str]]] = None) -> None:
        if name in self.definitions and gvk is None:
            return
        self.definitions[name] = {}  # placed first: a recursive field finds it
        short = name.rsplit(".", 1)[-1]
        properties = {key: self.field(resource, short, key, sub) for key, sub in schema.items()}
        body: Dict[str, Any] = {"type": "object", "properties": properties}
        if short in _DESCRIPTIONS:
            body["description"] = _DESCRIPTIONS[short]
        if gvk:
            body["x-kubernetes-group-version-kind"] = gvk
        self.definitions[name] = body


_CACHE: Dict[str, Dict[str, Dict[str, Any]]] = {}


def schemas(version: str = "v3") -> Dict[str, Dict[str, Any]]:
    """Every definition of the served kinds (``version``: "v3" wraps references in ``allOf``
    as kube-apiserver's v3 documents do; "v2" uses plain ``$ref``). Computed once and shared:
    do not change it."""
    cached = _CACHE.get(version)
    if cached is not None:
        return cached
    builder = _Builder(version)
    for resource in RESOURCES.values():
        if not resource.schema:
            continue
        gvk = [{"group": resource.group, "kind": resource.kind, "version": resource.version}]
        builder.object(resource, definition_name(resource), resource.schema, gvk)
    _CACHE[version] = dict(sorted(builder.definitions.items()))
    return _CACHE[version]


def v2_document(info_version: str) -> Dict[str, Any]:
    """The ``/openapi/v2`` document (Swagger 2.0): the definitions, no paths."""
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": info_version},
            "paths": {}, "definitions": schemas("v2")}


# -- the protobuf form of the v2 document (gnostic's openapi_v2.Document) ----------------------
# (fields are written with protobuf.py's encoder, the one the protobuf bodies use)

def _text(number: int, value: str) -> bytes:
    return _ld(number, value.encode("utf-8"))


def _named(name: str, value: bytes) -> bytes:
    return _text(1, name) + _ld(2, value)


def _yaml_list_of_maps(items: List[Dict[str, str]]) -> str:
    lines = []
    for item in items:
        for index, (key, value) in enumerate(item.items()):
            lines.append(f"{'- ' if index == 0 else '  '}{key}: {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def _schema_bytes(schema: Dict[str, Any]) -> bytes:
    out = b""
    if "$ref" in schema:
        out += _text(1, schema["$ref"])
    if schema.get("format"):
        out += _text(2, schema["format"])
    if schema.get("description"):
        out += _text(4, schema["description"])
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        out += _ld(21, _ld(1, _schema_bytes(additional)))
    if schema.get("type"):
        out += _ld(22, _text(1, schema["type"]))
    if isinstance(schema.get("items"), dict):
        out += _ld(23, _ld(1, _schema_bytes(schema["items"])))
    properties = schema.get("properties")
    if isinstance(properties, dict):
        out += _ld(25, b"".join(_ld(1, _named(k, _schema_bytes(v))) for k, v in properties.items()))
    gvk = schema.get("x-kubernetes-group-version-kind")
    if gvk:
        out += _ld(31, _named("x-kubernetes-group-version-kind", _text(2, _yaml_list_of_maps(gvk))))
    return out


def v2_protobuf(document: Dict[str, Any]) -> bytes:
    """``document`` (:func:`v2_document`) as the protobuf kubectl reads."""
    info = document.get("info") or {}
    body = _text(1, document.get("swagger", "2.0"))
    body += _ld(2, _text(1, info.get("title", "")) + _text(2, info.get("version", "")))
    body += _ld(8, b"")
    definitions: List[Tuple[str, Dict[str, Any]]] = list((document.get("definitions") or {}).items())
    body += _ld(9, b"".join(_ld(1, _named(name, _schema_bytes(schema))) for name, schema in definitions))
    return body
