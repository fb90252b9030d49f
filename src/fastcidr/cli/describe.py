"""``fastcidr describe``: kubectl's describers for ServiceCIDRs, IPAddresses and Services, with
the addresses that keep a ServiceCIDR from going."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import (
    Any,
    Dict,
    List,
    Optional,
    Sequence,
    Tuple,
)

from ..k8s.printers import age, format_labels
from .output import rfc1123z, tabwrite

#: More blocking addresses than this are summarised, so a big range stays readable.
DESCRIBE_ADDRESS_LIMIT = 50


def describe_service_cidr(obj: Dict[str, Any], blocking: Sequence[Dict[str, Any]],
                          events: Sequence[Dict[str, Any]], now: Optional[datetime] = None,
                          stats: Optional[Dict[str, Any]] = None) -> str:
    """kubectl's ServiceCIDR describer, plus the finalizers, the deletion time, the addresses
    used and free per CIDR (``stats``: ``Cluster.stats(name)``, the figures of ``fastcidr top``)
    and the IPAddresses (with their Services) that keep the ServiceCIDR from going away."""
    now = now or datetime.now(timezone.utc)
    meta = obj.get("metadata") or {}
    lines = [f"Name:\t{meta.get('name', '')}"]
    lines += _multiline("Labels", meta.get("labels") or {}, "=")
    lines += _multiline("Annotations", meta.get("annotations") or {}, ": ")
    lines.append(f"CIDRs:\t{', '.join((obj.get('spec') or {}).get('cidrs') or [])}")
    finalizers = meta.get("finalizers") or []
    lines.append(f"Finalizers:\t[{' '.join(finalizers)}]" if finalizers else "Finalizers:\t<none>")
    if meta.get("deletionTimestamp"):
        lines.append(f"Deletion Timestamp:\t{rfc1123z(meta['deletionTimestamp'])}")
    conditions = (obj.get("status") or {}).get("conditions") or []
    if conditions:
        lines.append("Status:")
        lines.append("Conditions:")
        lines.append("  Type\tStatus\tLastTransitionTime\tReason\tMessage")
        lines.append("  ----\t------\t------------------\t------\t-------")
        for cond in conditions:
            lines.append(
                f"  {cond.get('type', '')}\t{cond.get('status', '')}\t"
                f"{rfc1123z(cond.get('lastTransitionTime'))}\t{cond.get('reason', '')}\t"
                f"{cond.get('message', '')}")
    text = tabwrite("\n".join(lines) + "\n", minwidth=0, padding=2)
    # New sections flush the writer, as DescribeEvents does, so their columns stand alone.
    if stats is not None:
        from .top import percent

        rows = ["Addresses:", "  CIDR\tUsed\tFree\tSize\tUsed%", "  ----\t----\t----\t----\t-----"]
        for cidr, figures in stats["per_cidr"].items():
            rows.append(f"  {cidr}\t{figures['used']}\t{figures['free']}\t{figures['size']}\t"
                        f"{percent(float(figures['utilisation']))}")
        text += tabwrite("\n".join(rows) + "\n", minwidth=0, padding=2)
    if blocking:
        rows = ["Blocking IPAddresses:", "  IP\tService"  , "  --\t-------"]
        for ip in blocking[:DESCRIBE_ADDRESS_LIMIT]:
            ref = (ip.get("spec") or {}).get("parentRef") or {}
            owner = "/".join(x for x in (ref.get("namespace"), ref.get("name")) if x) or "<none>"
            rows.append(f"  {ip['metadata']['name']}\t{owner}")
        if len(blocking) > DESCRIBE_ADDRESS_LIMIT:
            rows.append(f"  ... and {len(blocking) - DESCRIBE_ADDRESS_LIMIT} more")
        text += tabwrite("\n".join(rows) + "\n", minwidth=0, padding=2)
    else:
        text += tabwrite("Blocking IPAddresses:\t<none>\n", minwidth=0, padding=2)
    if not events:
        text += tabwrite("Events:\t<none>\n", minwidth=0, padding=2)
    else:
        rows = ["Events:", "  Type\tReason\tAge\tFrom\tMessage", "  ----\t------\t----\t----\t-------"]
        for event in events:
            rows.append(f"  {event.get('type', '')}\t{event.get('reason', '')}\t"
                        f"{age(event.get('timestamp'), now)}\t{event.get('from', 'fastcidr')}\t"
                        f"{str(event.get('message', '')).strip()}")
        text += tabwrite("\n".join(rows) + "\n", minwidth=0, padding=2)
    return text


def _multiline(title: str, values: Dict[str, str], separator: str) -> List[str]:
    if not values:
        return [f"{title}:\t<none>"]
    keys = sorted(values)
    lines = [f"{title}:\t{keys[0]}{separator}{values[keys[0]]}"]
    lines += [f"\t{key}{separator}{values[key]}" for key in keys[1:]]
    return lines


def _event_dict(event: Any) -> Dict[str, Any]:
    if isinstance(event, dict):
        return event
    timestamp = getattr(event, "timestamp", None)
    if isinstance(timestamp, datetime):
        timestamp = timestamp.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"type": getattr(event, "type", ""), "reason": getattr(event, "reason", ""),
            "message": getattr(event, "message", ""), "timestamp": timestamp,
            "regarding": getattr(event, "regarding", None)}


def _regards(event: Dict[str, Any], reference: str) -> bool:
    """Whether an event is about the object ``servicecidrs/x``, ``services/ns/name`` or
    ``ipaddresses/ip`` (the ``regarding`` text of fastcidr's events)."""
    ref = event.get("regarding")
    if isinstance(ref, dict):
        parts = [ref.get("resource") or ref.get("kind", ""), ref.get("namespace", ""), ref.get("name", "")]
        ref = "/".join(p for p in parts if p)
    return str(ref or "") == reference


def describe_ip_address(obj: Dict[str, Any], events: Sequence[Dict[str, Any]],
                        now: Optional[datetime] = None) -> str:
    """kubectl's IPAddress describer."""
    meta = obj.get("metadata") or {}
    lines = [f"Name:\t{meta.get('name', '')}"]
    lines += _multiline("Labels", meta.get("labels") or {}, "=")
    lines += _multiline("Annotations", meta.get("annotations") or {}, ": ")
    ref = (obj.get("spec") or {}).get("parentRef")
    if ref:
        lines.append("Parent Reference:")
        for title, key in (("Group", "group"), ("Resource", "resource"), ("Namespace", "namespace"),
                           ("Name", "name")):
            lines.append(f"  {title}:\t{ref.get(key, '')}")
    return _with_events("\n".join(lines) + "\n", events, now)


def describe_service(obj: Dict[str, Any], events: Sequence[Dict[str, Any]],
                     now: Optional[datetime] = None) -> str:
    """kubectl's Service describer (no endpoints: fastcidr has no Pods)."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    lines = [f"Name:\t{meta.get('name', '')}", f"Namespace:\t{meta.get('namespace', '')}"]
    lines += _multiline("Labels", meta.get("labels") or {}, "=")
    lines += _multiline("Annotations", meta.get("annotations") or {}, ": ")
    lines.append(f"Selector:\t{format_labels(spec.get('selector'))}")
    lines.append(f"Type:\t{spec.get('type', '')}")
    if spec.get("ipFamilyPolicy"):
        lines.append(f"IP Family Policy:\t{spec['ipFamilyPolicy']}")
    lines.append(f"IP Families:\t{','.join(spec.get('ipFamilies') or []) or '<none>'}")
    lines.append(f"IP:\t{spec.get('clusterIP', '')}")
    lines.append(f"IPs:\t{','.join(spec.get('clusterIPs') or []) or '<none>'}")
    if spec.get("externalIPs"):
        lines.append(f"External IPs:\t{','.join(spec['externalIPs'])}")
    if spec.get("externalName"):
        lines.append(f"External Name:\t{spec['externalName']}")
    for port in spec.get("ports") or []:
        name = port.get("name") or "<unset>"
        protocol = port.get("protocol") or "TCP"
        lines.append(f"Port:\t{name}\t{port.get('port')}/{protocol}")
        lines.append(f"TargetPort:\t{port.get('targetPort', port.get('port'))}/{protocol}")
        if port.get("nodePort"):
            lines.append(f"NodePort:\t{name}\t{port['nodePort']}/{protocol}")
        lines.append("Endpoints:\t<none>")
    lines.append(f"Session Affinity:\t{spec.get('sessionAffinity', 'None')}")
    if spec.get("internalTrafficPolicy"):
        lines.append(f"Internal Traffic Policy:\t{spec['internalTrafficPolicy']}")
    return _with_events("\n".join(lines) + "\n", events, now)


def _with_events(body: str, events: Sequence[Dict[str, Any]], now: Optional[datetime]) -> str:
    """The describer's body and kubectl's Events section, in one tabwriter (kubectl flushes only
    before a non-empty event table)."""
    now = now or datetime.now(timezone.utc)
    if not events:
        return tabwrite(body + "Events:\t<none>\n", minwidth=0, padding=2)
    rows = ["Events:", "  Type\tReason\tAge\tFrom\tMessage", "  ----\t------\t----\t----\t-------"]
    for event in events:
        rows.append(f"  {event.get('type', '')}\t{event.get('reason', '')}\t"
                    f"{age(event.get('timestamp'), now)}\t{event.get('from', 'fastcidr')}\t"
                    f"{str(event.get('message', '')).strip()}")
    return tabwrite(body, minwidth=0, padding=2) + tabwrite("\n".join(rows) + "\n", minwidth=0, padding=2)


def _address_order(obj: Dict[str, Any]) -> Tuple[int, int, str]:
    """IPv4 before IPv6, then numerically (10.96.0.9 before 10.96.0.10)."""
    import ipaddress

    name = obj["metadata"]["name"]
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return (9, 0, name)
    return (ip.version, int(ip), name)

