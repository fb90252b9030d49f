"""Kubernetes' validation of ServiceCIDR, IPAddress and Service objects: field paths and messages.

Each ``validate_*`` function returns a list of ``(field_path, message)`` pairs, the message being
what Go's ``field.Error.ErrorBody()`` prints (``Invalid value: "10.96.0.0/33": must be a valid CIDR
value, (e.g. 10.9.8.0/24 or 2001:db8::/64)``); :func:`check` raises one
:class:`~fastcidr.errors.ValidationError` carrying all of them. kubectl prints such an error as
``The ServiceCIDR "x" is invalid: spec.cidrs[0]: Invalid value: ...``.

The address parsers here are deliberately independent of the core: they reproduce the two Go
parsers Kubernetes combines (``netutils.ParseIPSloppy``, which allows leading zeros, and
``netip.ParseAddr``, which does not) so that each malformed input gets the same message as on a
real apiserver.

>>> validate_service_cidr_spec(["10.96.0.0/33"])
[('spec.cidrs[0]', 'Invalid value: "10.96.0.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)')]
>>> validate_service_cidr_spec(["FD00:1234::2/64"])  # doctest: +NORMALIZE_WHITESPACE
[('spec.cidrs[0]', 'Invalid value: "FD00:1234::2/64": must be in canonical form ("fd00:1234::2/64")'),
 ('spec.cidrs[0]', 'Invalid value: "FD00:1234::2/64": must not have bits set beyond the prefix length')]
"""
from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from ..errors import ValidationError

__all__ = [
    "FieldErrors",
    "check",
    "go_repr",
    "invalid",
    "required",
    "parse_ip_sloppy",
    "parse_cidr_sloppy",
    "format_ipv4",
    "format_ipv6",
    "ip_errors",
    "cidr_errors",
    "dns1123_subdomain_errors",
    "dns1123_label_errors",
    "dns1035_label_errors",
    "validate_service_cidr_spec",
    "validate_service_cidr",
    "validate_service_cidr_update",
    "validate_ip_address",
    "validate_ip_address_update",
    "validate_service",
    "service_manifest_errors",
    "validate_range",
]

FieldErrors = List[Tuple[str, str]]

# ---------------------------------------------------------------------------------------------
# Go value rendering (field.Error.ErrorBody)


def go_quote(text: str) -> str:
    """Go's ``%q`` for a string (``strconv.Quote``)."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\a":
            out.append("\\a")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif ch == "\v":
            out.append("\\v")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable():
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


class GoLiteral:
    """A value rendered verbatim (a Go struct printed with ``%#v``)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def go_string_slice(values: Sequence[Any]) -> str:
    """``%#v`` of a ``[]string``: ``[]string{"a", "b"}``."""
    return "[]string{" + ", ".join(go_quote(str(v)) for v in values) + "}"


def go_repr(value: Any) -> str:
    """How ``field.Invalid`` prints its bad value."""
    if value is None:
        return go_quote("null")
    if isinstance(value, GoLiteral):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, (list, tuple)):
        return go_string_slice(value)
    return go_quote(str(value))


def invalid(path: str, value: Any, detail: str) -> Tuple[str, str]:
    return (path, f"Invalid value: {go_repr(value)}: {detail}" if detail else f"Invalid value: {go_repr(value)}")


def required(path: str, detail: str = "") -> Tuple[str, str]:
    return (path, f"Required value: {detail}" if detail else "Required value")


def unsupported(path: str, value: Any, supported: Iterable[str]) -> Tuple[str, str]:
    values = ", ".join(go_quote(s) for s in sorted(supported))
    return (path, f"Unsupported value: {go_repr(value)}: supported values: {values}")


def duplicate(path: str, value: Any) -> Tuple[str, str]:
    return (path, f"Duplicate value: {go_repr(value)}")


def too_many(path: str, actual: int, limit: int) -> Tuple[str, str]:
    return (path, f"Too many: {actual}: must have at most {limit} items")


def forbidden(path: str, detail: str) -> Tuple[str, str]:
    return (path, f"Forbidden: {detail}")


def check(errors: FieldErrors, kind: str, name: str) -> None:
    """Raise one ValidationError with every field error, if there are any."""
    if errors:
        raise ValidationError(errors, kind=kind, name=name)


# ---------------------------------------------------------------------------------------------
# Address parsing, as Go does it

_BIG = 0xFFFFFF  # Go's dtoi/xtoi give up at this value


def _ipv4_sloppy(text: str) -> Optional[Tuple[int, bool]]:
    """``(value, has_leading_zeros)`` or None; leading zeros are read as decimal."""
    parts = text.split(".")
    if len(parts) != 4:
        return None
    value = 0
    leading = False
    for part in parts:
        if not part or not part.isascii() or not part.isdigit():
            return None
        n = 0
        for ch in part:
            n = n * 10 + (ord(ch) - 48)
            if n >= _BIG:
                return None
        if n > 255:
            return None
        if len(part) > 1 and part[0] == "0":
            leading = True
        if len(part) > 3:
            leading = True  # netip refuses it; only possible with leading zeros anyway
        value = (value << 8) | n
    return value, leading


_HEX = frozenset("0123456789abcdefABCDEF")


def _ipv6_sloppy(text: str) -> Optional[Tuple[int, bool]]:
    """``(value, strict_ok)`` or None, following Go's pre-netip ``parseIPv6``."""
    groups: List[int] = []  # 16-bit groups (an embedded IPv4 adds two)
    ellipsis = -1
    strict = True
    s = text
    if s.startswith("::"):
        ellipsis = 0
        s = s[2:]
        if not s:
            return 0, True
    while len(groups) < 8:
        count = 0
        n = 0
        while count < len(s) and s[count] in _HEX:
            n = n * 16 + int(s[count], 16)
            count += 1
            if n >= _BIG:
                return None
        if count == 0 or n > 0xFFFF:
            return None
        if count > 4:
            strict = False
        if count < len(s) and s[count] == ".":
            if ellipsis < 0 and len(groups) != 6:
                return None
            if len(groups) + 2 > 8:
                return None
            v4 = _ipv4_sloppy(s)
            if v4 is None:
                return None
            if v4[1]:
                strict = False
            groups.append(v4[0] >> 16)
            groups.append(v4[0] & 0xFFFF)
            s = ""
            break
        groups.append(n)
        s = s[count:]
        if not s:
            break
        if s[0] != ":" or len(s) == 1:
            return None
        s = s[1:]
        if s[0] == ":":
            if ellipsis >= 0:
                return None
            ellipsis = len(groups)
            s = s[1:]
            if not s:
                break
    if s:
        return None
    if len(groups) < 8:
        if ellipsis < 0:
            return None
        groups = groups[:ellipsis] + [0] * (8 - len(groups)) + groups[ellipsis:]
    elif ellipsis >= 0:
        return None
    value = 0
    for g in groups:
        value = (value << 16) | g
    return value, strict


MAPPED_PREFIX = 0xFFFF << 32


def parse_ip_sloppy(text: str) -> Optional[Tuple[int, int, bool, bool]]:
    """Go's ``netutils.ParseIPSloppy`` plus ``netip.ParseAddr``'s verdict.

    Returns ``(family, value, strict_ok, ipv4_mapped)`` or None when unparseable. ``strict_ok`` is
    False for leading zeros (or an over-long IPv6 group) that only the sloppy parser accepts.
    """
    if not isinstance(text, str):
        return None
    for ch in text:
        if ch == ".":
            v4 = _ipv4_sloppy(text)
            if v4 is None:
                return None
            return 4, v4[0], not v4[1], False
        if ch == ":":
            v6 = _ipv6_sloppy(text)
            if v6 is None:
                return None
            value, strict = v6
            mapped = strict and (value >> 32) == 0xFFFF
            return 6, value, strict, mapped
    return None


def format_ipv4(value: int) -> str:
    return f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"


def format_ipv6(value: int) -> str:
    """RFC 5952 text (Go's ``net.IP.String`` for a non-mapped IPv6 address)."""
    groups = [(value >> (112 - 16 * i)) & 0xFFFF for i in range(8)]
    best_start, best_len = -1, 0
    i = 0
    while i < 8:
        if groups[i] == 0:
            j = i
            while j < 8 and groups[j] == 0:
                j += 1
            if j - i > best_len:
                best_start, best_len = i, j - i
            i = j
        else:
            i += 1
    if best_len < 2:
        return ":".join(f"{g:x}" for g in groups)
    head = ":".join(f"{g:x}" for g in groups[:best_start])
    tail = ":".join(f"{g:x}" for g in groups[best_start + best_len :])
    return head + "::" + tail


def go_ip_string(family: int, value: int) -> str:
    """Go's ``net.IP.String()``: an IPv4-mapped IPv6 address prints as IPv4."""
    if family == 4:
        return format_ipv4(value)
    if (value >> 32) == 0xFFFF:
        return format_ipv4(value & 0xFFFFFFFF)
    return format_ipv6(value)


def parse_cidr_sloppy(text: str) -> Optional[Tuple[int, int, int, bool]]:
    """Go's ``netutils.ParseCIDRSloppy`` plus ``netip.ParsePrefix``'s verdict.

    Returns ``(family, address_value, prefix_length, strict_ok)`` (the address unmasked) or None.
    """
    if not isinstance(text, str) or "/" not in text:
        return None
    addr, mask = text.split("/", 1)
    v4 = _ipv4_sloppy(addr)
    if v4 is not None:
        family, value, strict, bits = 4, v4[0], not v4[1], 32
    else:
        v6 = _ipv6_sloppy(addr)
        if v6 is None:
            return None
        family, value, strict, bits = 6, v6[0], v6[1], 128
    if not mask or not mask.isascii() or not mask.isdigit():
        return None
    n = 0
    for ch in mask:
        n = n * 10 + (ord(ch) - 48)
        if n >= _BIG:
            return None
    if n > bits:
        return None
    if len(mask) > 1 and mask[0] == "0":
        strict = False
    return family, value, n, strict


def ip_errors(path: str, value: str, *, canonical: bool = True) -> FieldErrors:
    """``validation.IsValidIP`` (strict), optionally with ``IPIsCanonical``."""
    parsed = parse_ip_sloppy(value)
    if parsed is None:
        return [invalid(path, value, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")]
    family, ip, strict, mapped = parsed
    errors: FieldErrors = []
    if not strict:
        errors.append(invalid(path, value, "must not have leading 0s"))
    if mapped:
        errors.append(invalid(path, value, "must not be an IPv4-mapped IPv6 address"))
    if canonical and not errors:
        text = go_ip_string(family, ip)
        if value != text:
            errors.append(invalid(path, value, f"must be in canonical form ({go_quote(text)})"))
    return errors


def ip_detail_messages(value: str) -> List[str]:
    """Only the details (used for names, where the caller builds the field error)."""
    return [m.split(": ", 2)[-1] for _, m in ip_errors("", value)]


def cidr_errors(path: str, value: str) -> FieldErrors:
    """``validation.IsValidCIDR`` (strict) with ``CIDRIsCanonical``."""
    parsed = parse_cidr_sloppy(value)
    if parsed is None:
        return [invalid(path, value, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")]
    family, ip, prefix, strict = parsed
    errors: FieldErrors = []
    if not strict:
        errors.append(invalid(path, value, "must not have leading 0s in IP or prefix length"))
    if strict and family == 6 and (ip >> 32) == 0xFFFF:
        errors.append(invalid(path, value, "must not have an IPv4-mapped IPv6 address"))
    if not errors:
        text = f"{go_ip_string(family, ip)}/{prefix}"
        if value != text:
            errors.append(invalid(path, value, f"must be in canonical form ({go_quote(text)})"))
    bits = 32 if family == 4 else 128
    host_mask = (1 << (bits - prefix)) - 1
    if ip & host_mask:
        errors.append(invalid(path, value, "must not have bits set beyond the prefix length"))
    return errors


def cidr_family(text: str) -> Optional[int]:
    parsed = parse_cidr_sloppy(text)
    if parsed is None:
        return None
    family, ip, _, _ = parsed
    if family == 6 and (ip >> 32) == 0xFFFF:
        return 4  # Go treats an IPv4-mapped address as IPv4 (ip.To4() != nil)
    return family


# ---------------------------------------------------------------------------------------------
# Names

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?\Z")

_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)


def _dns_name_errors(value: str, max_length: int, pattern: "re.Pattern[str]", message: str) -> List[str]:
    """apimachinery's IsDNS1123Subdomain / IsDNS1123Label / IsDNS1035Label: length, then shape."""
    msgs = []
    if len(value) > max_length:
        msgs.append(f"must be no more than {max_length} characters")
    if not pattern.match(value):
        msgs.append(message)
    return msgs


def dns1123_subdomain_errors(value: str) -> List[str]:
    return _dns_name_errors(value, 253, _DNS1123_SUBDOMAIN, _DNS1123_SUBDOMAIN_MSG)


def dns1123_label_errors(value: str) -> List[str]:
    return _dns_name_errors(value, 63, _DNS1123_LABEL, _DNS1123_LABEL_MSG)


def dns1035_label_errors(value: str) -> List[str]:
    return _dns_name_errors(value, 63, _DNS1035_LABEL, _DNS1035_LABEL_MSG)


def path_segment_errors(value: str) -> List[str]:
    """``IsValidPathSegmentName``."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    msgs = []
    for bad in ("/", "%"):
        if bad in value:
            msgs.append(f"may not contain '{bad}'")
    return msgs


def _name_errors(name: Any, validator: Any) -> FieldErrors:
    if not name:
        return [required("metadata.name", "name or generateName is required")]
    return [invalid("metadata.name", str(name), m) for m in validator(str(name))]


# ---------------------------------------------------------------------------------------------
# ServiceCIDR

def _service_cidr_spec_literal(cidrs: Sequence[str]) -> GoLiteral:
    return GoLiteral("networking.ServiceCIDRSpec{CIDRs:" + go_string_slice(cidrs) + "}")


def validate_service_cidr_spec(cidrs: Any) -> FieldErrors:
    """``spec.cidrs``: count, families, then each entry (strict, canonical)."""
    path = "spec.cidrs"
    if cidrs is None:
        cidrs = []
    if isinstance(cidrs, str):
        cidrs = [cidrs]
    cidrs = [c if isinstance(c, str) else str(c) for c in cidrs]
    if len(cidrs) == 0:
        return [required(path, "at least one CIDR required")]
    if len(cidrs) > 2:
        return [invalid(path, _service_cidr_spec_literal(cidrs), "may only hold up to 2 values")]
    if len(cidrs) == 2:
        families = [cidr_family(c) for c in cidrs]
        if None in families or families[0] == families[1]:
            return [
                invalid(
                    path,
                    _service_cidr_spec_literal(cidrs),
                    "may specify no more than one IP for each IP family, i.e 192.168.0.0/24 and 2001:db8::/64",
                )
            ]
    errors: FieldErrors = []
    for i, cidr in enumerate(cidrs):
        errors.extend(cidr_errors(f"{path}[{i}]", cidr))
    return errors


def validate_service_cidr(obj: Any) -> FieldErrors:
    """A ServiceCIDR on create: a DNS-subdomain name and a valid spec."""
    errors = _name_errors(obj.name, dns1123_subdomain_errors)
    errors.extend(validate_service_cidr_spec(obj.cidrs))
    return errors


def validate_service_cidr_update(new: Any, old: Any) -> FieldErrors:
    """Create validation plus immutability of ``spec.cidrs``, except single → dual stack that
    keeps ``cidrs[0]`` (Kubernetes 1.33+)."""
    errors = validate_service_cidr(new)
    new_cidrs, old_cidrs = list(new.cidrs), list(old.cidrs)
    if len(new_cidrs) == len(old_cidrs):
        for i, (a, b) in enumerate(zip(new_cidrs, old_cidrs)):
            if a != b:
                errors.append(invalid(f"spec.cidrs[{i}]", a, "field is immutable"))
    elif len(old_cidrs) == 1 and len(new_cidrs) == 2:
        if new_cidrs[0] != old_cidrs[0]:
            errors.append(invalid("spec.cidrs[0]", new_cidrs[0], "field is immutable"))
    else:
        errors.append(invalid("spec.cidrs", new_cidrs, "field is immutable"))
    return errors


# ---------------------------------------------------------------------------------------------
# IPAddress

def _ip_name_errors(name: Any) -> FieldErrors:
    if not name:
        return [required("metadata.name", "name or generateName is required")]
    return [("metadata.name", m) for _, m in ip_errors("metadata.name", str(name))]


def _parent_ref_literal(ref: Any) -> GoLiteral:
    if ref is None:
        return GoLiteral(go_quote("null"))
    return GoLiteral(
        "networking.ParentReference{"
        f"Group:{go_quote(ref.group)}, Resource:{go_quote(ref.resource)}, "
        f"Namespace:{go_quote(ref.namespace)}, Name:{go_quote(ref.name)}}}"
    )


def validate_ip_address(obj: Any) -> FieldErrors:
    """An IPAddress on create: the name is a canonical IP, ``spec.parentRef`` is required and
    made of valid segments."""
    errors = _ip_name_errors(obj.name)
    ref = obj.parent_ref
    if ref is None:
        errors.append(required("spec.parentRef"))
        return errors
    base = "spec.parentRef"
    if ref.group:
        errors.extend(invalid(f"{base}.group", ref.group, m) for m in dns1123_subdomain_errors(ref.group))
    if not ref.resource:
        errors.append(required(f"{base}.resource"))
    else:
        errors.extend(invalid(f"{base}.resource", ref.resource, m) for m in path_segment_errors(ref.resource))
    if not ref.name:
        errors.append(required(f"{base}.name"))
    else:
        errors.extend(invalid(f"{base}.name", ref.name, m) for m in path_segment_errors(ref.name))
    if ref.namespace:
        errors.extend(
            invalid(f"{base}.namespace", ref.namespace, m) for m in path_segment_errors(ref.namespace)
        )
    return errors


def validate_ip_address_update(new: Any, old: Any) -> FieldErrors:
    """Metadata only, plus ``spec.parentRef`` is immutable."""
    errors: FieldErrors = []
    if new.parent_ref != old.parent_ref:
        errors.append(invalid("spec.parentRef", _parent_ref_literal(new.parent_ref), "field is immutable"))
    return errors


# ---------------------------------------------------------------------------------------------
# Service

SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
POLICIES = ("SingleStack", "PreferDualStack", "RequireDualStack")
FAMILIES = ("IPv4", "IPv6")
PROTOCOLS = ("TCP", "UDP", "SCTP")


#: ``match_dns1035_label(s)``: a match (true) when the string ``s`` is a DNS-1035 label (a
#: Service name), length aside; the pattern's own method, for the create path's hot loop
match_dns1035_label = _DNS1035_LABEL.match
#: ``match_dns1123_label(s)``: the same for a DNS-1123 label (a namespace)
match_dns1123_label = _DNS1123_LABEL.match


def validate_service(svc: Any) -> FieldErrors:
    """The fields of a Service this layer interprets (names, type, ports, cluster IPs, families,
    policy), with Kubernetes' paths and messages."""
    name, namespace = svc.name, svc.namespace
    if (  # the common case, a plain ClusterIP Service, checked at the cost of two regex matches
        svc.type == "ClusterIP" and not svc.ports and not svc.cluster_ips and not svc.ip_families
        and svc.ip_family_policy is None and not svc.extra and isinstance(name, str) and isinstance(namespace, str)
        and 0 < len(name) <= 63 and 0 < len(namespace) <= 63
        and _DNS1035_LABEL.match(name) and _DNS1123_LABEL.match(namespace)
    ):
        return []
    errors = _name_errors(svc.name, dns1035_label_errors)
    if not svc.namespace:
        errors.append(required("metadata.namespace"))
    else:
        errors.extend(invalid("metadata.namespace", svc.namespace, m) for m in dns1123_label_errors(svc.namespace))
    if svc.type not in SERVICE_TYPES:
        errors.append(unsupported("spec.type", svc.type, SERVICE_TYPES))
    if svc.type == "ExternalName":
        if not svc.external_name:
            errors.append(required("spec.externalName"))
        else:
            errors.extend(
                invalid("spec.externalName", svc.external_name, m)
                for m in dns1123_subdomain_errors(str(svc.external_name).rstrip("."))
            )
    names: Dict[str, int] = {}
    for i, port in enumerate(svc.ports):
        base = f"spec.ports[{i}]"
        if len(svc.ports) > 1 and not port.name:
            errors.append(required(f"{base}.name"))
        elif port.name:
            errors.extend(invalid(f"{base}.name", port.name, m) for m in dns1123_label_errors(port.name))
            if port.name in names:
                errors.append(duplicate(f"{base}.name", port.name))
            names[port.name] = i
        if not isinstance(port.port, int) or not 1 <= port.port <= 65535:
            errors.append(invalid(f"{base}.port", port.port, "must be between 1 and 65535, inclusive"))
        if port.protocol not in PROTOCOLS:
            errors.append(unsupported(f"{base}.protocol", port.protocol, PROTOCOLS))
        target = port.target_port
        if isinstance(target, int) and not isinstance(target, bool) and not 0 <= target <= 65535:
            errors.append(invalid(f"{base}.targetPort", target, "must be between 1 and 65535, inclusive"))
        node_port = port.node_port
        if node_port:
            if not isinstance(node_port, int) or not 1 <= node_port <= 65535:
                errors.append(invalid(f"{base}.nodePort", node_port, "must be between 1 and 65535, inclusive"))
            elif svc.type in ("ClusterIP", "ExternalName"):
                errors.append(forbidden(f"{base}.nodePort", f"may not be used when `type` is '{svc.type}'"))
    errors.extend(_port_duplicates(svc.ports))
    errors.extend(_traffic_and_affinity_errors(svc))
    ips = list(svc.cluster_ips)
    if len(ips) > 2:
        errors.append(too_many("spec.clusterIPs", len(ips), 2))
    elif ips:
        if svc.cluster_ip and svc.cluster_ip != ips[0]:
            errors.append(invalid("spec.clusterIPs[0]", ips[0], "first value must match `clusterIP`"))
        if ips[0] == "None":
            if len(ips) > 1:
                errors.append(invalid("spec.clusterIPs[1]", ips[1], "must be empty when the first value is 'None'"))
        else:
            seen: List[int] = []
            for i, ip in enumerate(ips):
                ip_errs = ip_errors(f"spec.clusterIPs[{i}]", ip, canonical=False)
                errors.extend(ip_errs)
                if not ip_errs:
                    family = parse_ip_sloppy(ip)[0]  # type: ignore[index]
                    if family in seen:
                        errors.append(
                            invalid(f"spec.clusterIPs[{i}]", ips, "may specify no more than one IP for each IP family")
                        )
                    seen.append(family)
                    if i < len(svc.ip_families) and svc.ip_families[i] in FAMILIES:
                        wanted = svc.ip_families[i]
                        if wanted != f"IPv{family}":
                            errors.append(
                                invalid(
                                    f"spec.clusterIPs[{i}]",
                                    ips,
                                    f"expected an {wanted} value as indicated by `ipFamilies[{i}]`",
                                )
                            )
    families = list(svc.ip_families)
    if len(families) > 2:
        errors.append(too_many("spec.ipFamilies", len(families), 2))
    else:
        for i, fam in enumerate(families):
            if fam not in FAMILIES:
                errors.append(unsupported(f"spec.ipFamilies[{i}]", fam, FAMILIES))
            elif fam in families[:i]:
                errors.append(duplicate(f"spec.ipFamilies[{i}]", fam))
    if svc.ip_family_policy is not None and svc.ip_family_policy not in POLICIES:
        errors.append(unsupported("spec.ipFamilyPolicy", svc.ip_family_policy, POLICIES))
    return errors


def service_manifest_errors(manifest: Any, current: Any = None) -> FieldErrors:
    """What kube-apiserver refuses in a Service manifest (a dict) that the library's Service
    accepts: a Service that needs a cluster IP must have ports. Headless ones (``clusterIP:
    None``) and ExternalName ones may have none. ``current`` is the stored Service a manifest
    updates: like the apiserver, an update that omits ``clusterIP`` keeps the stored one when
    neither is of type ExternalName. (``Cluster.create_service(ports=None)`` is not refused:
    a convenience of the library.)"""
    spec = _spec_of(manifest)
    if spec.get("ports") or spec.get("type") == "ExternalName":
        return []
    cluster_ip = spec.get("clusterIP")
    if not cluster_ip and current is not None:
        old = _spec_of(current)
        if old.get("type") != "ExternalName":
            cluster_ip = old.get("clusterIP")
    if cluster_ip == "None":
        return []
    return [required("spec.ports")]


def _spec_of(manifest: Any) -> Dict[str, Any]:
    spec = manifest.get("spec") if isinstance(manifest, dict) else None
    return spec if isinstance(spec, dict) else {}


def _service_port_literal(port: Any) -> GoLiteral:
    return GoLiteral(f'core.ServicePort{{Name:"", Protocol:{go_quote(str(port.protocol))}, AppProtocol:(*string)(nil), '
                     f'Port:{port.port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:""}}, NodePort:0}}')


def _port_duplicates(ports: Sequence[Any]) -> FieldErrors:
    """Two ports with one (port, protocol), or one (nodePort, protocol), as upstream refuses them."""
    errors: FieldErrors = []
    seen = set()
    node_seen = set()
    for i, port in enumerate(ports):
        key = (port.port, port.protocol)
        if key in seen:
            errors.append(duplicate(f"spec.ports[{i}]", _service_port_literal(port)))
        seen.add(key)
        if port.node_port:
            node_key = (port.node_port, port.protocol)
            if node_key in node_seen:
                errors.append(duplicate(f"spec.ports[{i}].nodePort", port.node_port))
            node_seen.add(node_key)
    return errors


_MAX_CLIENT_IP_TIMEOUT = 86400


def _traffic_and_affinity_errors(svc: Any) -> FieldErrors:
    """externalTrafficPolicy, internalTrafficPolicy, sessionAffinity(Config) and
    allocateLoadBalancerNodePorts against the type, with upstream's messages."""
    errors: FieldErrors = []
    extra = svc.extra
    external = svc.type in ("NodePort", "LoadBalancer") or (svc.type == "ClusterIP" and bool(extra.get("externalIPs")))
    etp = extra.get("externalTrafficPolicy")
    if etp not in (None, ""):
        if not external:
            errors.append(invalid("spec.externalTrafficPolicy", etp, "may only be set for externally-accessible services"))
        elif etp not in ("Cluster", "Local"):
            errors.append(unsupported("spec.externalTrafficPolicy", etp, ("Cluster", "Local")))
    itp = extra.get("internalTrafficPolicy")
    if itp not in (None, "") and itp not in ("Cluster", "Local"):
        errors.append(unsupported("spec.internalTrafficPolicy", itp, ("Cluster", "Local")))
    affinity = extra.get("sessionAffinity", "None") or "None"
    if affinity not in ("None", "ClientIP"):
        errors.append(unsupported("spec.sessionAffinity", affinity, ("ClientIP", "None")))
    config = extra.get("sessionAffinityConfig")
    if affinity == "ClientIP":
        client = (config or {}).get("clientIP") if isinstance(config, dict) else None
        timeout = client.get("timeoutSeconds") if isinstance(client, dict) else None
        if not isinstance(timeout, int) or isinstance(timeout, bool) or not 0 < timeout <= _MAX_CLIENT_IP_TIMEOUT:
            errors.append(invalid("spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                                  timeout if isinstance(timeout, int) else 0,
                                  f"must be greater than 0 and less than {_MAX_CLIENT_IP_TIMEOUT}"))
    elif config:
        errors.append(invalid("spec.sessionAffinityConfig", GoLiteral(repr(config)),
                              "must not be set when session affinity is None"))
    health = extra.get("healthCheckNodePort")
    if health and not (svc.type == "LoadBalancer" and etp == "Local"):
        errors.append(invalid("spec.healthCheckNodePort", health, "may only be set when `type` is 'LoadBalancer' "
                              "and `externalTrafficPolicy` is 'Local'"))
    if "allocateLoadBalancerNodePorts" in extra and svc.type != "LoadBalancer":
        errors.append(forbidden("spec.allocateLoadBalancerNodePorts", "may only be used when `type` is 'LoadBalancer'"))
    return errors


def validate_range(cidrs: Sequence[str]) -> FieldErrors:
    """``--service-cluster-ip-range``: one or two canonical CIDRs of different families."""
    errors: FieldErrors = []
    if len(cidrs) > 2:
        return [("service-cluster-ip-range", "must not contain more than two entries")]
    for i, cidr in enumerate(cidrs):
        errors.extend(cidr_errors(f"service-cluster-ip-range[{i}]", cidr))
    if not errors and len(cidrs) == 2 and cidr_family(cidrs[0]) == cidr_family(cidrs[1]):
        errors.append(("service-cluster-ip-range", "the two CIDRs must be of different IP families"))
    return errors
