"""Discovery (aggregated v2 and legacy), ``/version`` and the ``/openapi/v3`` documents (their
schemas come from :mod:`fastcidr.server.openapi`).

kubectl picks aggregated discovery when the reply carries the exact content type
:data:`AGGREGATED_CONTENT_TYPE`; sent as plain JSON the same body reads as "no groups".
``kubectl apply`` needs ``/openapi/v3`` only to learn that PATCH takes ``fieldValidation``; the
parameter must sit at operation level, or kubectl silently falls back to client-side validation
through ``/openapi/v2`` (docs/serve.md).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Dict, List, Optional

from .. import __version__
from . import openapi
from .resources import EVENTS, EVENTS_V1, IPADDRESSES, NAMESPACES, SELF_SUBJECT_ACCESS_REVIEWS, \
    SELF_SUBJECT_REVIEWS, SERVICECIDRS, SERVICES, ResourceType

__all__ = ["AGGREGATED_CONTENT_TYPE", "wants_aggregated", "aggregated", "legacy_root",
           "legacy_resource_list", "version_info", "openapi_root", "openapi_group_version",
           "GROUP_VERSIONS"]

AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

#: (group, version) -> the resources served there, in discovery order
GROUP_VERSIONS: Dict[tuple, List[ResourceType]] = {
    ("", "v1"): [EVENTS, NAMESPACES, SERVICES],
    ("networking.k8s.io", "v1"): [IPADDRESSES, SERVICECIDRS],
    ("authentication.k8s.io", "v1"): [SELF_SUBJECT_REVIEWS],
    ("authorization.k8s.io", "v1"): [SELF_SUBJECT_ACCESS_REVIEWS],
    ("events.k8s.io", "v1"): [EVENTS_V1],
}

#: The Kubernetes version this server speaks (ServiceCIDR v1 is GA in 1.33).
KUBERNETES_VERSION = {"major": "1", "minor": "33", "gitVersion": "v1.33.1"}


def wants_aggregated(accept: str) -> bool:
    """Whether an Accept header asks for aggregated discovery v2 (what kube-apiserver checks)."""
    for part in accept.split(","):
        params = {p.strip().partition("=")[0]: p.strip().partition("=")[2]
                  for p in part.split(";")[1:]}
        if params.get("as") == "APIGroupDiscoveryList" and params.get("v") == "v2" and \
                params.get("g") == "apidiscovery.k8s.io":
            return True
    return False


def _gvk(resource: ResourceType) -> Dict[str, str]:
    return {"group": resource.group, "version": resource.version, "kind": resource.kind}


def _aggregated_resource(resource: ResourceType) -> Dict[str, Any]:
    entry: Dict[str, Any] = {
        "resource": resource.plural,
        "responseKind": _gvk(resource),
        "scope": "Namespaced" if resource.namespaced else "Cluster",
        "singularResource": resource.singular,
        "verbs": list(resource.verbs),
    }
    if resource.short_names:
        entry["shortNames"] = list(resource.short_names)
    if resource.categories:
        entry["categories"] = list(resource.categories)
    if resource.has_status:
        entry["subresources"] = [{"subresource": "status", "responseKind": _gvk(resource),
                                  "verbs": ["get", "patch", "update"]}]
    return entry


def aggregated(core: bool) -> Dict[str, Any]:
    """``GET /api`` (core=True) or ``GET /apis`` as an ``APIGroupDiscoveryList``."""
    items = []
    for (group, version), resources in GROUP_VERSIONS.items():
        if (group == "") != core:
            continue
        metadata: Dict[str, Any] = {"creationTimestamp": None}
        if group:
            metadata = {"name": group, "creationTimestamp": None}
        items.append({
            "metadata": metadata,
            "versions": [{"version": version, "freshness": "Current",
                          "resources": [_aggregated_resource(r) for r in resources]}],
        })
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {}, "items": items}


def legacy_root(core: bool, server_address: str) -> Dict[str, Any]:
    """``GET /api`` (``APIVersions``) or ``GET /apis`` (``APIGroupList``) in the legacy form."""
    if core:
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                "serverAddress": server_address}]}
    groups = []
    for (group, version) in GROUP_VERSIONS:
        if not group:
            continue
        gv = {"groupVersion": f"{group}/{version}", "version": version}
        groups.append({"name": group, "versions": [gv], "preferredVersion": gv})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def legacy_group(group: str) -> Optional[Dict[str, Any]]:
    """``GET /apis/<group>`` (an ``APIGroup``), or None for a group not served."""
    versions = [v for (g, v) in GROUP_VERSIONS if g == group and group]
    if not versions:
        return None
    gv = {"groupVersion": f"{group}/{versions[0]}", "version": versions[0]}
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": [gv],
            "preferredVersion": gv}


def legacy_resource_list(group: str, version: str) -> Optional[Dict[str, Any]]:
    """``GET /api/v1`` or ``GET /apis/<group>/<version>`` (an ``APIResourceList``)."""
    resources = GROUP_VERSIONS.get((group, version))
    if resources is None:
        return None
    entries = []
    for resource in resources:
        entry: Dict[str, Any] = {
            "name": resource.plural, "singularName": resource.singular,
            "namespaced": resource.namespaced, "kind": resource.kind, "verbs": list(resource.verbs),
        }
        if resource.short_names:
            entry["shortNames"] = list(resource.short_names)
        if resource.categories:
            entry["categories"] = list(resource.categories)
        entries.append(entry)
        if resource.has_status:
            entries.append({"name": f"{resource.plural}/status", "singularName": "",
                            "namespaced": resource.namespaced, "kind": resource.kind,
                            "verbs": ["get", "patch", "update"]})
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": entries}


def version_info() -> Dict[str, str]:
    import platform
    import sys

    return {
        **KUBERNETES_VERSION,
        "gitCommit": f"fastcidr-{__version__}",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": f"python{sys.version_info[0]}.{sys.version_info[1]}",
        "compiler": "cpython",
        "platform": f"{platform.system().lower()}/{platform.machine().lower()}",
    }


def _openapi_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def openapi_group_version(group: str, version: str) -> Optional[Dict[str, Any]]:
    """The OpenAPI v3 document of one group/version: the schemas of the served kinds
    (``kubectl explain``) and PATCH operations with an operation-level ``fieldValidation``
    parameter, which is what ``kubectl apply`` looks for."""
    resources = GROUP_VERSIONS.get((group, version))
    if resources is None:
        return None
    paths: Dict[str, Any] = {}
    for resource in resources:
        if "patch" not in resource.verbs:
            # a create-only kind (the reviews): its POST, as kube-apiserver documents it
            paths[f"{resource.base_path()}/{resource.plural}"] = {
                "post": {"x-kubernetes-group-version-kind": _gvk(resource), "responses": {},
                         "parameters": [{"name": "dryRun", "in": "query", "schema": {"type": "string"}}]}}
            continue
        paths[resource.object_path()] = {
            "patch": {
                "x-kubernetes-group-version-kind": _gvk(resource),
                "responses": {},
                "parameters": [
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
                    {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
                ],
            }
        }
    return {"openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION["gitVersion"]},
            "components": {"schemas": openapi.schemas("v3")}, "paths": paths}


def _hash(document: Dict[str, Any]) -> str:
    # kubectl caches the documents by this hash: it must change whenever a document does
    text = json.dumps(document, sort_keys=True).encode()
    return hashlib.sha512(text).hexdigest()[:128].upper()


def openapi_root() -> Dict[str, Any]:
    paths = {}
    for (group, version) in GROUP_VERSIONS:
        document = openapi_group_version(group, version)
        assert document is not None
        path = _openapi_path(group, version)
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={_hash(document)}"}
    return {"paths": paths}
