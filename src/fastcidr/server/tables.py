"""Server-side printing: the ``meta.k8s.io/v1`` ``Table`` that ``kubectl get`` asks for.

kubectl has no compiled-in columns for these kinds any more; without a Table it prints only
``NAME AGE``. The columns and cells follow kube-apiserver's printers
(``pkg/printers/internalversion/printers.go``); like the apiserver, cells are always generated
"wide" and the client hides ``priority: 1`` columns unless ``-o wide``.
"""
from __future__ import annotations

import datetime as _dt
from typing import Any, Dict, Iterable, List, Optional

from ..k8s import printers
from .resources import IPADDRESSES, NAMESPACES, SERVICECIDRS, SERVICES, ResourceType

__all__ = ["table", "row_cells", "COLUMNS"]

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


def _column(name: str, description: str, *, fmt: str = "", priority: int = 0) -> Dict[str, Any]:
    return {"name": name, "type": "string", "format": fmt, "description": description,
            "priority": priority}


COLUMNS: Dict[str, List[Dict[str, Any]]] = {
    SERVICECIDRS.plural: [
        _column("Name", _NAME_DOC, fmt="name"),
        _column("CIDRs", "CIDRs defines the IP blocks in CIDR notation (e.g. \"192.168.0.0/24\" or "
                "\"2001:db8::/64\") from which to assign service cluster IPs."),
        _column("Age", _AGE_DOC),
    ],
    IPADDRESSES.plural: [
        _column("Name", _NAME_DOC, fmt="name"),
        _column("ParentRef", "ParentRef references the resource that an IPAddress is attached to."),
    ],
    SERVICES.plural: [
        _column("Name", _NAME_DOC, fmt="name"),
        _column("Type", "The type of service."),
        _column("Cluster-IP", "The cluster IP address of the service."),
        _column("External-IP", "The external IP address of the service."),
        _column("Port(s)", "The ports of the service."),
        _column("Age", _AGE_DOC),
        _column("Selector", "Route service traffic to pods with label keys and values matching "
                "this selector.", priority=1),
    ],
    NAMESPACES.plural: [
        _column("Name", _NAME_DOC, fmt="name"),
        _column("Status", "The status of the namespace"),
        _column("Age", _AGE_DOC),
    ],
}


def row_cells(resource: ResourceType, obj: Dict[str, Any], now: _dt.datetime) -> List[Any]:
    # the apiserver's table convertor always generates wide cells; kubectl hides the rest
    return printers.ROW_CELLS[resource.plural](obj, now, True)


def _row_object(obj: Dict[str, Any], include_object: str) -> Optional[Dict[str, Any]]:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata", {})}


def table(
    resource: ResourceType,
    objects: Iterable[Dict[str, Any]],
    resource_version: str,
    *,
    now: Optional[_dt.datetime] = None,
    include_object: str = "Metadata",
    no_headers: bool = False,
) -> Dict[str, Any]:
    """A ``Table`` of ``objects`` (wire dicts) with kubectl's columns for ``resource``."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    rows = []
    for obj in objects:
        row: Dict[str, Any] = {"cells": row_cells(resource, obj, now)}
        partial = _row_object(obj, include_object)
        if partial is not None:
            row["object"] = partial
        rows.append(row)
    result: Dict[str, Any] = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [] if no_headers else COLUMNS[resource.plural],
        "rows": rows,
    }
    return result
