"""kubectl's printers: the text of each table cell, computed from wire dicts.

One home for what kube-apiserver's ``pkg/printers/internalversion/printers.go`` (and
apimachinery's ``duration.HumanDuration``) print, shared by the command line (``fastcidr.cli``)
and the API server's ``Table`` responses (``fastcidr.server.tables``). Pure functions over the
JSON form of objects: nothing here knows about a terminal, HTTP or a store, and this module
imports neither the CLI nor the server.

The row-cell functions return every cell the apiserver generates ("wide", as its table
convertor always asks for); a client shows as many as it has columns for.

>>> service = {"metadata": {"name": "web", "creationTimestamp": "2026-01-01T11:52:30Z"},
...            "spec": {"clusterIPs": ["10.96.0.10"], "ports": [{"port": 80, "protocol": "TCP"}],
...                     "selector": {"app": "web"}}}
>>> service_cells(service, parse_timestamp("2026-01-01T12:00:00Z"))
['web', 'ClusterIP', '10.96.0.10', '<none>', '80/TCP', '7m30s', 'app=web']
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, Optional

__all__ = ["human_duration", "parse_timestamp", "age", "format_labels", "parent_ref_text",
           "external_ip_text", "port_text", "servicecidr_cells", "ipaddress_cells",
           "service_cells", "namespace_cells", "event_cells"]

# getServiceExternalIP cuts the load balancers' addresses to this many characters unless wide
LOAD_BALANCER_WIDTH = 16


def human_duration(seconds: float) -> str:
    """kubectl's AGE (``duration.HumanDuration`` of k8s.io/apimachinery): 2-3 significant figures.

    >>> [human_duration(s) for s in (0, 45, 119, 120, 450, 600, 3 * 3600, 7 * 3600 + 60, 76 * 3600, 17 * 86400)]
    ['0s', '45s', '119s', '2m', '7m30s', '10m', '3h', '7h1m', '3d4h', '17d']
    """
    whole = int(seconds)  # Go truncates toward zero
    if whole < -1:  # up to a second in the future is clock skew, printed as now
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


def parse_timestamp(text: Any) -> Optional[datetime]:
    """An RFC 3339 timestamp as Kubernetes writes it (``2023-10-12T15:11:07Z``), timezone-aware
    (UTC when it names no offset), or None for anything else.

    >>> parse_timestamp("2023-10-12T15:11:07Z").isoformat()
    '2023-10-12T15:11:07+00:00'
    """
    if not isinstance(text, str) or not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def age(timestamp: Optional[str], now: Optional[datetime] = None) -> str:
    """The AGE cell (``translateTimestampSince``): ``<unknown>`` without a creation timestamp."""
    created = parse_timestamp(timestamp)
    if created is None:
        return "<unknown>"
    now = now or datetime.now(timezone.utc)
    return human_duration((now - created).total_seconds())


def _age_of(obj: Dict[str, Any], now: Optional[datetime]) -> str:
    return age((obj.get("metadata") or {}).get("creationTimestamp"), now)


def _name_of(obj: Dict[str, Any]) -> str:
    return (obj.get("metadata") or {}).get("name") or ""


def format_labels(labels: Optional[Dict[str, str]]) -> str:
    """``labels.FormatLabels``: ``k=v,k2=v2`` sorted by key, ``<none>`` when empty."""
    if not labels:
        return "<none>"
    return ",".join(f"{key}={labels[key]}" for key in sorted(labels))


def parent_ref_text(ref: Optional[Dict[str, Any]]) -> str:
    """PARENTREF: ``services/default/kubernetes``; a named group as ``resource.group``, and only
    the group-resource lower-cased, as ``printIPAddress`` does."""
    if not ref:
        return "<none>"
    resource = ref.get("resource") or ""
    group = ref.get("group") or ""
    text = (f"{resource}.{group}" if group else resource).lower()
    if ref.get("namespace"):
        text += "/" + ref["namespace"]
    return text + "/" + (ref.get("name") or "")


def _load_balancer_text(status: Optional[Dict[str, Any]], wide: bool) -> str:
    """``loadBalancerStatusStringer``: each ingress' IP, else hostname, as a sorted set."""
    ingress = ((status or {}).get("loadBalancer") or {}).get("ingress") or []
    names = sorted({i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")})
    text = ",".join(names)
    if not wide and len(text) > LOAD_BALANCER_WIDTH:
        text = text[:LOAD_BALANCER_WIDTH - 3] + "..."
    return text


def external_ip_text(spec: Dict[str, Any], status: Optional[Dict[str, Any]] = None, wide: bool = False) -> str:
    """EXTERNAL-IP (``getServiceExternalIP``).

    >>> external_ip_text({"type": "LoadBalancer"}, {"loadBalancer": {"ingress": [{"ip": "5.5.5.5"}, {"ip": "3.3.3.3"}]}})
    '3.3.3.3,5.5.5.5'
    """
    kind = spec.get("type") or "ClusterIP"
    external = list(spec.get("externalIPs") or [])
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if kind == "ExternalName":
        return spec.get("externalName") or ""
    if kind == "LoadBalancer":
        balanced = _load_balancer_text(status, wide)
        if external:
            return ",".join((balanced.split(",") if balanced else []) + external)
        return balanced or "<pending>"
    return "<unknown>"


def port_text(ports: Iterable[Dict[str, Any]]) -> str:
    """PORT(S) (``makePortString``): ``80/TCP,443:30443/TCP``, ``<none>`` without ports."""
    pieces = []
    for port in ports:
        protocol = port.get("protocol") or "TCP"
        if port.get("nodePort"):
            pieces.append(f"{port.get('port')}:{port['nodePort']}/{protocol}")
        else:
            pieces.append(f"{port.get('port')}/{protocol}")
    return ",".join(pieces) if pieces else "<none>"


def servicecidr_cells(obj: Dict[str, Any], now: Optional[datetime] = None, wide: bool = True) -> List[str]:
    """NAME, CIDRS, AGE."""
    cidrs = (obj.get("spec") or {}).get("cidrs") or []
    return [_name_of(obj), ",".join(cidrs), _age_of(obj, now)]


def ipaddress_cells(obj: Dict[str, Any], now: Optional[datetime] = None, wide: bool = True) -> List[str]:
    """NAME, PARENTREF, and an age that the apiserver computes but defines no column for (so
    kubectl shows two)."""
    return [_name_of(obj), parent_ref_text((obj.get("spec") or {}).get("parentRef")), _age_of(obj, now)]


def service_cells(obj: Dict[str, Any], now: Optional[datetime] = None, wide: bool = True) -> List[str]:
    """NAME, TYPE, CLUSTER-IP, EXTERNAL-IP, PORT(S), AGE, SELECTOR (the last one wide only)."""
    spec = obj.get("spec") or {}
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return [
        _name_of(obj),
        spec.get("type") or "ClusterIP",
        cluster_ips[0] if cluster_ips else "<none>",
        external_ip_text(spec, obj.get("status"), wide),
        port_text(spec.get("ports") or []),
        _age_of(obj, now),
        format_labels(spec.get("selector")),
    ]


def namespace_cells(obj: Dict[str, Any], now: Optional[datetime] = None, wide: bool = True) -> List[str]:
    """NAME, STATUS, AGE."""
    phase = (obj.get("status") or {}).get("phase") or ""
    return [_name_of(obj), phase, _age_of(obj, now)]


def _event_source(event: Dict[str, Any]) -> str:
    """formatEventSource: ``component, host``, else the reporting controller."""
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent") or ""
    host = source.get("host") or ""
    return f"{component}, {host}" if host else component


def event_cells(obj: Dict[str, Any], now: Optional[datetime] = None, wide: bool = True) -> List[str]:
    """A core/v1 Event: LAST SEEN, TYPE, REASON, OBJECT, SUBOBJECT, SOURCE, MESSAGE, FIRST SEEN,
    COUNT, NAME (the apiserver's printEvent; the fifth, sixth and last three are wide)."""
    meta = obj.get("metadata") or {}
    involved = obj.get("involvedObject") or {}
    series = obj.get("series") or {}
    first = obj.get("firstTimestamp") or obj.get("eventTime") or meta.get("creationTimestamp")
    last = obj.get("lastTimestamp") or series.get("lastObservedTime") or obj.get("eventTime") or first
    count = obj.get("count") or series.get("count") or 1
    last_seen = age(last, now) if last else "<unknown>"
    if series:
        last_seen = f"{age(series.get('lastObservedTime') or last, now)} (x{count} over {age(first, now)})"
    elif int(count) > 1:
        last_seen = f"{age(last, now)} (x{count} over {age(first, now)})"
    kind = str(involved.get("kind") or "").lower()
    return [
        last_seen,
        str(obj.get("type") or ""),
        str(obj.get("reason") or ""),
        f"{kind}/{involved.get('name') or ''}",
        str(involved.get("fieldPath") or ""),
        _event_source(obj),
        str(obj.get("message") or "").strip(),
        age(first, now) if first else "<unknown>",
        str(count),
        _name_of(obj),
    ]
