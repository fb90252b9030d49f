"""Server-side printing: the ``meta.k8s.io/v1`` ``Table`` that ``kubectl get`` asks for.

kubectl has no compiled-in columns for these kinds any more; without a Table it prints only
``NAME AGE``. The columns and cells follow kube-apiserver's printers
(``pkg/printers/internalversion/printers.go``); like the apiserver, cells are always generated
"wide" and the client hides ``priority: 1`` columns unless ``-o wide``.
"""
from __future__ import annotations

import datetime as _dt
from typing import Any, Callable, Dict, Iterable, List, Optional

from .resources import IPADDRESSES, NAMESPACES, SERVICECIDRS, SERVICES, ResourceType

__all__ = ["human_duration", "age", "table", "row_cells", "COLUMNS"]

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


def human_duration(seconds: float) -> str:
    """kubectl's AGE text (apimachinery ``duration.HumanDuration``).

    >>> [human_duration(s) for s in (5, 119, 450, 600, 3 * 3600 + 60, 76 * 3600, 17 * 86400)]
    ['5s', '119s', '7m30s', '10m', '3h1m', '3d4h', '17d']
    """
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{hours // 24 // 365}y"


def parse_timestamp(text: Any) -> Optional[_dt.datetime]:
    if not isinstance(text, str) or not text:
        return None
    try:
        return _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def age(obj: Dict[str, Any], now: _dt.datetime) -> str:
    created = parse_timestamp(obj.get("metadata", {}).get("creationTimestamp"))
    if created is None:
        return "<unknown>"
    if created.tzinfo is None:
        created = created.replace(tzinfo=_dt.timezone.utc)
    return human_duration((now - created).total_seconds())


def _format_labels(selector: Any) -> str:
    if not selector:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


def _service_external_ip(spec: Dict[str, Any], status: Dict[str, Any]) -> str:
    service_type = spec.get("type") or "ClusterIP"
    external = list(spec.get("externalIPs") or [])
    if service_type in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if service_type == "LoadBalancer":
        ingress = (status.get("loadBalancer") or {}).get("ingress") or []
        addresses = [i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")]
        addresses += external
        return ",".join(addresses) if addresses else "<pending>"
    if service_type == "ExternalName":
        return spec.get("externalName", "")
    return "<unknown>"


def _port_string(ports: Iterable[Dict[str, Any]]) -> str:
    parts = []
    for port in ports:
        protocol = port.get("protocol") or "TCP"
        if port.get("nodePort"):
            parts.append(f"{port.get('port')}:{port['nodePort']}/{protocol}")
        else:
            parts.append(f"{port.get('port')}/{protocol}")
    return ",".join(parts) if parts else "<none>"


def _servicecidr_cells(obj: Dict[str, Any], now: _dt.datetime) -> List[Any]:
    cidrs = (obj.get("spec") or {}).get("cidrs") or []
    return [obj["metadata"]["name"], ",".join(cidrs), age(obj, now)]


def _ipaddress_cells(obj: Dict[str, Any], now: _dt.datetime) -> List[Any]:
    parent = (obj.get("spec") or {}).get("parentRef")
    text = "<none>"
    if parent:
        group, resource = parent.get("group", ""), parent.get("resource", "")
        text = (f"{resource}.{group}" if group else resource).lower()
        if parent.get("namespace"):
            text += "/" + parent["namespace"]
        text += "/" + parent.get("name", "")
    # the apiserver computes an age cell too but defines only two columns: kubectl shows two
    return [obj["metadata"]["name"], text, age(obj, now)]


def _service_cells(obj: Dict[str, Any], now: _dt.datetime) -> List[Any]:
    spec = obj.get("spec") or {}
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return [
        obj["metadata"]["name"],
        spec.get("type") or "ClusterIP",
        cluster_ips[0] if cluster_ips else "<none>",
        _service_external_ip(spec, obj.get("status") or {}),
        _port_string(spec.get("ports") or []),
        age(obj, now),
        _format_labels(spec.get("selector")),
    ]


def _namespace_cells(obj: Dict[str, Any], now: _dt.datetime) -> List[Any]:
    phase = (obj.get("status") or {}).get("phase", "")
    return [obj["metadata"]["name"], phase, age(obj, now)]


_CELLS: Dict[str, Callable[[Dict[str, Any], _dt.datetime], List[Any]]] = {
    SERVICECIDRS.plural: _servicecidr_cells,
    IPADDRESSES.plural: _ipaddress_cells,
    SERVICES.plural: _service_cells,
    NAMESPACES.plural: _namespace_cells,
}


def row_cells(resource: ResourceType, obj: Dict[str, Any], now: _dt.datetime) -> List[Any]:
    return _CELLS[resource.plural](obj, now)


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
