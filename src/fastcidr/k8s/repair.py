"""Repair (docs/behaviour.md §6): every Service IP checked against the IPAddress objects and the
other way round, fixed where it can be, with Kubernetes' events. At start-up it reads only the
stored projections (:func:`fastcidr.k8s.layout.project`) and recognises the consistent majority
from their text, without decoding it.
"""
from __future__ import annotations

import datetime as _dt
import json
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from ..errors import (
    InvalidAddressError,
)
from ..store.base import Create, Delete, Put, Record, TxnConflict, UnreadableRecordError
from ._index import (
    _ALLOCATOR_LABELS,
    _canonical,
    _family_name,
    _holds_host,
    _net_of,
    _parse_ip,
    _service_ips,
)
from .allocation import Allocation, held_node_ports
from .layout import IPADDRESSES, META, SERVICES
from .nodeports import NODE_PORT_PREFIX, node_port_key
from .objects import (
    LABEL_IP_FAMILY,
    LABEL_MANAGED_BY,
    MANAGED_BY_ALLOCATOR,
    Event,
    ParentReference,
    Service,
    format_time,
    parse_time,
)

__all__ = ["Repair"]


# The JSON text a store keeps as the projection (store.base.project) of an IPAddress the allocator
# wrote, around its creation time and its Service's namespace and name: start-up recognises the
# consistent majority from the text alone, without decoding it.
_PROJECTION_HEAD = '{"metadata":{"creationTimestamp":"'


_PROJECTION_LABELS = {
    family: '","labels":'
    + json.dumps({LABEL_MANAGED_BY: MANAGED_BY_ALLOCATOR, LABEL_IP_FAMILY: family},
                 separators=(",", ":"), ensure_ascii=False)
    + '},"spec":{"parentRef":{"resource":"' + SERVICES + '","namespace":"'
    for family in ("IPv4", "IPv6")
}


def _is_allocator_projection(text: str, ns: str, name: str, family: str) -> bool:
    """Whether ``text`` is exactly the projection JSON of an IPAddress of ``family`` managed by the
    allocator and owned by Service ``ns/name`` (any creation time). Exact, so that it implies what
    the decoded check would accept; ``ns`` and ``name`` must need no JSON escaping.

    >>> _is_allocator_projection(_PROJECTION_HEAD + "2026-01-01T00:00:00Z" + _PROJECTION_LABELS["IPv4"]
    ...                          + 'default","name":"web"}}}', "default", "web", "IPv4")
    True
    """
    start = len(_PROJECTION_HEAD)
    if not text.startswith(_PROJECTION_HEAD):
        return False
    end = text.find('"', start)
    if end < 0 or text.find("\\", start, end) >= 0:
        return False
    return text[end:] == _PROJECTION_LABELS[family] + ns + '","name":"' + name + '"}}}'


_SERVICE_PROJECTION_HEAD = '{"spec":{"type":"ClusterIP","clusterIPs":["'


def _single_cluster_ip(text: str) -> Optional[str]:
    """The one cluster IP of a single-stack ClusterIP Service whose projection JSON is ``text``
    (exactly as the store writes it), None for any other text.

    >>> _single_cluster_ip('{"spec":{"type":"ClusterIP","clusterIPs":["10.0.0.5"],"clusterIP":"10.0.0.5"}}')
    '10.0.0.5'
    """
    start = len(_SERVICE_PROJECTION_HEAD)
    if not text.startswith(_SERVICE_PROJECTION_HEAD):
        return None
    end = text.find('"', start)
    if end < 0:
        return None
    ip = text[start:end]
    if "\\" in ip or text[end:] != '"],"clusterIP":"' + ip + '"}}':
        return None
    return ip


def _shape_problem(value: Any) -> str:
    """What keeps repair from reading a stored value ("" when nothing does): the parts of the
    projection it looks into must be objects (and lists) where Kubernetes has them."""
    if type(value) is not dict:
        return "value is not a JSON object"
    for part in ("metadata", "spec"):
        if type(value.get(part, {})) is not dict:
            return f"{part} is not an object"
    meta, spec = value.get("metadata") or {}, value.get("spec") or {}
    if type(meta.get("labels") or {}) is not dict:
        return "metadata.labels is not an object"
    if type(spec.get("parentRef") or {}) is not dict:
        return "spec.parentRef is not an object"
    if type(spec.get("clusterIPs") or []) is not list:
        return "spec.clusterIPs is not a list"
    return ""


class _LazyRecords:
    """Records of one kind by key for repair, each decoded from the store's raw projection
    (``Store.list_projection_raw``) only when something looks into it."""

    def __init__(self, kind: str, rows: List[Tuple[str, Any, int]], decode: Callable[[Any], Any]) -> None:
        self.kind = kind
        # by key, the listing's own (key, raw, revision) rows: no new tuple per object
        self.raw: Dict[str, Tuple[str, Any, int]] = {row[0]: row for row in rows}
        self._decoded: Dict[str, Record] = {}
        self._decode = decode

    def get(self, key: str) -> Optional[Record]:
        rec = self._decoded.get(key)
        if rec is None:
            entry = self.raw.get(key)
            if entry is None:
                return None
            try:
                value = self._decode(entry[1])
            except ValueError as e:  # the stored text is damaged (not UTF-8 / JSON / an object)
                raise UnreadableRecordError(self.kind, key, str(e)) from None
            problem = _shape_problem(value)
            if problem:
                raise UnreadableRecordError(self.kind, key, problem)
            rec = self._decoded[key] = Record(self.kind, key, value, entry[2])
        return rec

    def __getitem__(self, key: str) -> Record:
        rec = self.get(key)
        if rec is None:
            raise KeyError(key)
        return rec

    def __setitem__(self, key: str, rec: Record) -> None:
        self._decoded[key] = rec

    def keys(self) -> Set[str]:
        return self.raw.keys() | self._decoded.keys()



class Repair(Allocation):
    """The repair pass over everything a Cluster keeps."""

    _service_rows: List[Tuple[str, Any, int]] = []

    def _held_by_any(self, family: int, value: int) -> bool:
        for sc in self._scs.values():
            for cidr in sc.cidrs:
                net = _net_of(cidr)
                if net is not None and _holds_host(net, family, value):
                    return True
        return False

    def _repair(self) -> List[Event]:
        sink: List[Event] = []
        self._collectors.append(sink)
        try:
            self._repair_pass()
            self._repair_node_ports()
        finally:
            self._collectors.remove(sink)
        return sink

    def _repair_node_ports(self) -> None:
        """The node-port repair (upstream's portallocator controller): every node port a
        NodePort / LoadBalancer Service holds has its record (re-created, ``PortNotAllocated``),
        is in range (``PortOutOfRange``) and is held by one Service (``PortAlreadyAllocated``);
        records no Service holds any more are removed."""
        records, _ = self._store.list(META)
        recorded = {int(r.key[len(NODE_PORT_PREFIX):]): r for r in records
                    if r.key.startswith(NODE_PORT_PREFIX) and r.key[len(NODE_PORT_PREFIX):].isdigit()}
        rows, self._service_rows = self._service_rows, []
        holders: Dict[int, str] = {}
        first, last = self._node_port_range
        ops: List[Any] = []
        damaged = False
        for key, raw, _rev in rows:
            text = raw.decode() if isinstance(raw, (bytes, bytearray)) else raw
            if isinstance(text, str) and "NodePort" not in text and "LoadBalancer" not in text:
                continue  # the projection says the type: most Services have no node ports
            rec = self._store.get(SERVICES, key)
            if rec is None:
                continue
            try:
                svc = self._svc_from_record(rec)
            except UnreadableRecordError:
                damaged = True  # its ports are unknown: no record may be taken for a leak
                continue
            regarding = f"services/{key}"
            for port in sorted(held_node_ports(svc)):
                if not first <= port <= last:
                    self._emit("Warning", "PortOutOfRange", f"Port {port} is not within the port range "
                               f"{first}-{last}; please recreate service", regarding)
                    continue
                if port in holders and holders[port] != key:
                    self._emit("Warning", "PortAlreadyAllocated",
                               f"Port {port} was assigned to multiple services; please recreate service", regarding)
                    continue
                holders[port] = key
                owner = recorded.get(port)
                if owner is None:
                    self._emit("Warning", "PortNotAllocated", f"Port {port} is not allocated; repairing", regarding)
                    ops.append(Create(META, node_port_key(port), {"service": key}))
                elif (owner.value or {}).get("service") != key:
                    ops.append(Put(META, node_port_key(port), {"service": key}, expect=owner.revision))
        for port, rec in recorded.items():
            if port not in holders and not damaged:
                ops.append(Delete(META, rec.key, expect=rec.revision))  # leaked: nobody holds it
        if ops and self._repair_commit(ops):
            self._np = None

    def _repair_commit(self, ops: List[Any]) -> bool:
        try:
            rev = self._commit(ops)
        except TxnConflict:
            return False
        if not self._shared:
            self._rev = rev
        return True

    def _canonical_ip(self, text: str) -> Optional[Tuple[int, int, str]]:
        """(family, value, canonical text) of a cluster IP, None if it is not a valid address."""
        try:
            family, value = self._impl.parse_ip(text)
        except (InvalidAddressError, ValueError, TypeError):
            parsed = _parse_ip(text)  # leading zeros etc.: still an address to Kubernetes
            if parsed is None:
                return None
            family, value = parsed
        return family, value, _canonical(family, value)

    def _lists_ip(self, value: Dict[str, Any], ip: str) -> bool:
        """Whether a stored Service lists ``ip`` (canonical) among its cluster IPs."""
        listed = _service_ips(value)
        if ip in listed:
            return True
        for text in listed:
            parsed = self._canonical_ip(text)
            if parsed is not None and parsed[2] == ip:
                return True
        return False

    def _repair_pass(self) -> None:
        """One repair pass. A record that cannot be read (docs/stores.md) is left as it is, and so
        is every decision that would need it: a damaged Service keeps its addresses, a damaged
        IPAddress is neither rewritten nor deleted."""
        now = self._now()
        # Only the projected fields of each object are read below (store.project): no whole
        # objects are decoded, which is what makes start-up on a million objects fast.
        svc_rows, _ = self._store.list_projection_raw(SERVICES)
        self._service_rows = svc_rows  # the node-port repair reads the same listing
        listing, self._ip_listing = self._ip_listing, None
        if listing is not None and listing[0] == self._store.current_revision():
            ip_rows = listing[1]  # start-up: what _rebuild just listed, nobody wrote since
        else:
            ip_rows, _ = self._store.list_projection_raw(IPADDRESSES)
        services = _LazyRecords(SERVICES, svc_rows, self._store.decode_projection)
        ips = _LazyRecords(IPADDRESSES, ip_rows, self._store.decode_projection)
        raw_ip = ips.raw.get
        self._leak_watch = {}
        ts = format_time(now)
        has = self._alloc.has

        def owned_value(ip: str, ns: str, name: str) -> Dict[str, Any]:
            return self._ip_value(ip, Service(name=name, namespace=ns), ts)

        # A first pass over everything only recognises the consistent majority (a Service whose
        # every address has its object, pointing back at it, correctly labelled) without sorting
        # or parsing; whatever it does not recognise gets the full treatment, in key order.
        verified: Set[str] = set()
        damaged: Set[str] = set()  # Services whose records cannot be read
        suspects: List[str] = []
        add_verified = verified.add
        v4_labels, v6_labels = _ALLOCATOR_LABELS["IPv4"], _ALLOCATOR_LABELS["IPv6"]
        for key, (_key, service_raw, _rev) in services.raw.items():
            if type(service_raw) is str:
                # from the stored text alone: a single-stack ClusterIP Service and its one address
                text = _single_cluster_ip(service_raw)
                entry = raw_ip(text) if text is not None else None
                if text is not None and entry is not None and type(entry[1]) is str and has(text) \
                        and '"' not in key and "\\" not in key and key.isprintable():
                    ns, _, name = key.partition("/")
                    if _is_allocator_projection(entry[1], ns, name, "IPv6" if ":" in text else "IPv4"):
                        add_verified(text)
                        continue
                try:
                    value = services[key].value
                except UnreadableRecordError:
                    damaged.add(key)
                    continue
            else:
                value = service_raw
                if type(value) is not dict:  # bytes that are not UTF-8 text
                    damaged.add(key)
                    continue
            # Fastest check first, for the single-stack Service the allocator wrote: its one
            # address's object holds exactly the expected reference and labels (dict equality runs
            # in C). Anything else (dual-stack, odd shapes) takes the general check just below;
            # being stricter here only sends more objects there, never changes the outcome.
            spec: Any = value.get("spec") if type(value) is dict else None
            listed = spec.get("clusterIPs") if type(spec) is dict else None
            if type(listed) is list and len(listed) == 1 and spec.get("type") != "ExternalName":
                text = listed[0]
                entry = raw_ip(text) if type(text) is str else None
                if entry is not None and has(text):
                    v = entry[1]
                    ns, _, name = key.partition("/")
                    if type(v) is str and '"' not in key and "\\" not in key and key.isprintable():
                        if _is_allocator_projection(v, ns, name, "IPv6" if ":" in text else "IPv4"):
                            add_verified(text)
                            continue
                        try:
                            v = ips[text].value
                        except UnreadableRecordError:
                            continue  # the address's record is damaged: leave both alone
                    try:
                        ok = v["spec"]["parentRef"] == {"resource": SERVICES, "namespace": ns, "name": name} \
                            and v["metadata"]["labels"] == (v6_labels if ":" in text else v4_labels)
                    except (KeyError, TypeError, IndexError):
                        ok = False
                    if ok:
                        add_verified(text)
                        continue
            listed = _service_ips(value)
            if not listed:
                continue
            ns, _, name = key.partition("/")
            good = []
            for text in listed:
                try:
                    rec = ips.get(text)
                except UnreadableRecordError:
                    rec = None
                if rec is None or not has(text):
                    break
                v = rec.value
                ref = (v.get("spec") or {}).get("parentRef") or {}
                if ref.get("name") != name or ref.get("namespace", "") != ns or ref.get("resource") != SERVICES \
                        or ref.get("group", ""):
                    break
                labels = (v.get("metadata") or {}).get("labels") or {}
                if labels.get(LABEL_MANAGED_BY) != MANAGED_BY_ALLOCATOR or \
                        labels.get(LABEL_IP_FAMILY) != ("IPv6" if ":" in text else "IPv4"):
                    break
                good.append(text)
            else:
                verified.update(good)
                continue
            suspects.append(key)

        # the Service side
        for key in sorted(suspects):
            try:
                value = services[key].value
            except UnreadableRecordError:
                continue
            ns, name = key.split("/", 1) if "/" in key else ("default", key)
            regarding = f"services/{ns}/{name}"
            for text in _service_ips(value):
                try:
                    rec = ips.get(text)
                except UnreadableRecordError:
                    continue  # a damaged IPAddress is left alone
                if rec is not None and has(text):
                    # the usual case: a canonical address with its object, inside a CIDR
                    ip = text
                    fam = "IPv6" if ":" in ip else "IPv4"
                else:
                    parsed = self._canonical_ip(text)
                    if parsed is None:
                        self._emit("Warning", "ClusterIPNotValid",
                                   f"Cluster IP {text} is not a valid IP; please recreate Service", regarding)
                        continue
                    family, number, ip = parsed
                    fam = _family_name(family)
                    if not self._held_by_any(family, number):
                        self._emit("Warning", "ClusterIPOutOfRange",
                                   f"Cluster IP [{fam}]: {ip} is not within any configured Service CIDR; "
                                   "please recreate service", regarding)
                        continue
                    try:
                        rec = ips.get(ip)
                    except UnreadableRecordError:
                        continue
                if rec is None:
                    self._emit("Warning", "ClusterIPNotAllocated",
                               f"Cluster IP [{fam}]: {ip} is not allocated; repairing", regarding)
                    new = owned_value(ip, ns, name)
                    if self._repair_commit([Create(IPADDRESSES, ip, new)]):
                        ips[ip] = Record(IPADDRESSES, ip, new, 0)
                        self._mark(ip)
                    continue
                spec = rec.value.get("spec") or {}
                ref = spec.get("parentRef") or {}
                labels = (rec.value.get("metadata") or {}).get("labels") or {}
                wrong = False
                if ref.get("group", "") != "" or ref.get("resource") != SERVICES:
                    wrong = True
                elif ref.get("name", "") != name or ref.get("namespace", "") != ns:
                    try:
                        other = services.get(f"{ref.get('namespace', '')}/{ref.get('name', '')}")
                    except UnreadableRecordError:
                        continue  # the other owner is damaged: leave the address as it is
                    if other is None:
                        wrong = True
                    else:
                        if self._lists_ip(other.value, ip):
                            self._emit("Warning", "ClusterIPAlreadyAllocated",
                                       f"Cluster IP [{fam}]:{ip} was assigned to multiple services; "
                                       "please recreate service", regarding)
                        continue  # otherwise the IPAddress side removes the stale object
                if wrong:
                    self._emit("Warning", "ClusterIPNotAllocated",
                               f"the ClusterIP [{fam}]: {ip} for Service {ns}/{name} has a wrong reference; "
                               "repairing", regarding)
                elif labels.get(LABEL_IP_FAMILY) == fam and labels.get(LABEL_MANAGED_BY) == MANAGED_BY_ALLOCATOR:
                    continue
                new = owned_value(ip, ns, name)
                if self._repair_commit([Put(IPADDRESSES, ip, new, expect=rec.revision)]):
                    ips[ip] = Record(IPADDRESSES, ip, new, 0)

        # the IPAddress side
        removed: List[str] = []
        for ip in sorted(ips.keys() - verified):
            try:
                rec = ips[ip]
            except UnreadableRecordError:
                continue  # a damaged IPAddress is left alone (fastcidr store inspect shows it)
            meta = rec.value.get("metadata") or {}
            labels = meta.get("labels") or {}
            if labels.get(LABEL_MANAGED_BY) != MANAGED_BY_ALLOCATOR:
                continue
            ref = (rec.value.get("spec") or {}).get("parentRef")
            if isinstance(ref, dict) and ref.get("resource") == SERVICES and ref.get("group", "") == "":
                ns, name = ref.get("namespace", ""), ref.get("name", "")
                if f"{ns}/{name}" in damaged:
                    continue  # its Service cannot be read: nothing to judge by
                try:
                    svc = services.get(f"{ns}/{name}")
                except UnreadableRecordError:
                    continue
                if svc is not None and ip in _service_ips(svc.value):
                    continue  # the usual case
            regarding = f"ipaddresses/{ip}"
            expect = rec.revision or None
            if not isinstance(ref, dict) or ref.get("group", "") != "" or ref.get("resource") != SERVICES:
                pr = ParentReference.from_dict(ref) if isinstance(ref, dict) else None
                shown = "<nil>" if pr is None else f"&{{{pr.group} {pr.resource} {pr.namespace} {pr.name}}}"
                self._emit("Warning", "IPAddressNotAllocated",
                           f"IPAddress {ip} appears to have been modified, not referencing a Service {shown}: "
                           "cleaning up", regarding)
                if self._repair_commit([Delete(IPADDRESSES, ip, expect=expect)]):
                    removed.append(ip)
                continue
            if svc is None:
                created = parse_time(meta.get("creationTimestamp"))
                age = (now - created).total_seconds() if created is not None else float("inf")
                if age > self._leak_grace:
                    self._emit("Warning", "IPAddressNotAllocated",
                               f"IPAddress: {ip} for Service {ns}/{name} appears to have leaked: cleaning up",
                               regarding)
                    if self._repair_commit([Delete(IPADDRESSES, ip, expect=expect)]):
                        removed.append(ip)
                elif created is not None:
                    self._leak_watch[ip] = created + _dt.timedelta(seconds=self._leak_grace)
                continue
            if not self._lists_ip(svc.value, ip):
                self._emit("Warning", "IPAddressWrongReference",
                           f"IPAddress: {ip} for Service {ns}/{name} has a wrong reference; cleaning up", regarding)
                if self._repair_commit([Delete(IPADDRESSES, ip, expect=expect)]):
                    removed.append(ip)
        for ip in removed:
            self._unmark(ip)
        if removed:
            self._sync_holding(removed)
