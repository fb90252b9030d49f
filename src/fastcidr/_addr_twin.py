"""The pure-Python twin of the compiled address module (``_addr``): strict parsing of text,
``ipaddress`` and netaddr objects, with the same error wording; the canonical formatting itself
is in ``_rules`` (both backends share it). ``_core_twin`` re-exports the public functions.

>>> parse_ip("10.0.0.1"), canonical_cidr("2001:DB8::/32")
((4, 167772161), '2001:db8::/32')
"""
from __future__ import annotations

import ipaddress
import re
from typing import Any, List, Tuple

from ._rules import format_cidr, format_ip
from .errors import InvalidAddressError

__all__ = ["parse_ip", "parse_cidr", "format_ip", "format_cidr", "canonical_ip", "canonical_cidr"]

_MAX_IPV6 = (1 << 128) - 1
_MAX_IPV4 = (1 << 32) - 1
_MAPPED_NETWORK = 0xFFFF << 32  # ::ffff:0:0/96
_MAPPED_MASK = ((1 << 96) - 1) << 32

# --------------------------------------------------------------------------------------------
# Addresses: strict parsing and canonical formatting (docs/api.md)
# --------------------------------------------------------------------------------------------

_DIGITS = frozenset("0123456789")
_HEXDIGITS = frozenset("0123456789abcdefABCDEF")
_IPV6_CHARS = frozenset("0123456789abcdefABCDEF:.")
_MAX_TEXT = 45  # "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"


class _Refused(Exception):
    """Internal: carries the reason of a refusal up to the function that knows the input."""


def _ip_error(obj: object, reason: str) -> InvalidAddressError:
    return InvalidAddressError(f"invalid IP address {obj!r}: {reason}")


def _cidr_error(obj: object, reason: str) -> InvalidAddressError:
    return InvalidAddressError(f"invalid CIDR {obj!r}: {reason}")


def _check_text(text: str) -> None:
    """Refusals that apply to any address or CIDR text, before looking at its shape."""
    if not text:
        raise _Refused("empty string")
    if not text.isascii():
        raise _Refused("non-ASCII characters are not allowed")
    if "\x00" in text:
        raise _Refused("NUL characters are not allowed")
    for ch in text:
        if ch.isspace() or ord(ch) < 32 or ord(ch) == 127:
            raise _Refused("whitespace and control characters are not allowed")
    if "%" in text:
        raise _Refused("zone ids are not allowed")


def _parse_ipv4_text(text: str) -> int:
    parts = text.split(".")
    if len(parts) != 4:
        raise _Refused("not an IPv4 or IPv6 address")
    value = 0
    for part in parts:
        if not part or len(part) > 3 or not _DIGITS.issuperset(part):
            raise _Refused("not an IPv4 or IPv6 address")
        if len(part) > 1 and part[0] == "0":
            raise _Refused("leading zeros are not allowed")
        octet = int(part)
        if octet > 255:
            raise _Refused("IPv4 octet out of range")
        value = (value << 8) | octet
    return value


def _parse_groups(chunk: str) -> List[int]:
    """Hex groups of one side of '::' ('' → none); a trailing dotted quad counts as two groups."""
    if not chunk:
        return []
    parts = chunk.split(":")
    groups: List[int] = []
    for index, part in enumerate(parts):
        if "." in part:
            if index != len(parts) - 1:
                raise _Refused("not an IPv4 or IPv6 address")
            v4 = _parse_ipv4_text(part)
            groups.append(v4 >> 16)
            groups.append(v4 & 0xFFFF)
            continue
        if not part or len(part) > 4 or not _HEXDIGITS.issuperset(part):
            raise _Refused("not an IPv4 or IPv6 address")
        groups.append(int(part, 16))
    return groups


def _parse_ipv6_text(text: str) -> int:
    if not _IPV6_CHARS.issuperset(text):
        raise _Refused("not an IPv4 or IPv6 address")
    if "::" in text:
        head, tail = text.split("::", 1)
        if "::" in tail or tail.startswith(":") or head.endswith(":"):
            raise _Refused("not an IPv4 or IPv6 address")
        if "." in head:
            raise _Refused("not an IPv4 or IPv6 address")
        left = _parse_groups(head)
        right = _parse_groups(tail)
        if len(left) + len(right) > 7:
            raise _Refused("not an IPv4 or IPv6 address")
        groups = left + [0] * (8 - len(left) - len(right)) + right
    else:
        groups = _parse_groups(text)
        if len(groups) != 8:
            raise _Refused("not an IPv4 or IPv6 address")
    value = 0
    for group in groups:
        value = (value << 16) | group
    return value


# Fast paths: well-formed text is recognised by one regular expression; anything else goes
# through the slow checks, which also find the reason for the refusal.
_IPV4_FAST = re.compile(r"\.".join([r"(0|[1-9][0-9]{0,2})"] * 4))
_IPV6_SAFE_CHARS = re.compile(r"[0-9a-fA-F:.]{2,45}")


def _parse_ip_text(text: str) -> Tuple[int, int]:
    """(family, value) of strict address text; raises _Refused. Does not refuse IPv4-mapped."""
    match = _IPV4_FAST.fullmatch(text)
    if match is not None:
        a, b, c, d = map(int, match.groups())
        if a <= 255 and b <= 255 and c <= 255 and d <= 255:
            return 4, (a << 24) | (b << 16) | (c << 8) | d
    if ":" in text and _IPV6_SAFE_CHARS.fullmatch(text) is not None:
        return 6, _parse_ipv6_text(text)
    _check_text(text)
    if len(text) > _MAX_TEXT:
        raise _Refused("too long")
    if ":" in text:
        return 6, _parse_ipv6_text(text)
    if "." in text:
        return 4, _parse_ipv4_text(text)
    raise _Refused("not an IPv4 or IPv6 address")


def _is_mapped(value: int) -> bool:
    return (value & _MAPPED_MASK) == _MAPPED_NETWORK


def _object_address(obj: Any) -> Tuple[int, int]:
    """(family, value) of an ``ipaddress`` or netaddr-like address object; raises _Refused."""
    if isinstance(obj, ipaddress.IPv4Address):
        return 4, int(obj)
    if isinstance(obj, ipaddress.IPv6Address):
        if obj.scope_id:
            raise _Refused("zone ids are not allowed")
        return 6, int(obj)
    version = getattr(obj, "version", None)
    if version in (4, 6) and not isinstance(obj, (str, bytes, int)):
        try:
            value = int(obj)
        except (TypeError, ValueError, OverflowError):
            raise _Refused("not an IPv4 or IPv6 address") from None
        if not 0 <= value <= (_MAX_IPV4 if version == 4 else _MAX_IPV6):
            raise _Refused("address out of range")
        return version, value
    if isinstance(obj, int):
        raise _Refused("an integer has no address family here")
    raise _Refused(f"expected str, ipaddress or netaddr object, got {type(obj).__name__}")


def parse_ip(obj: Any) -> Tuple[int, int]:
    """``(4 or 6, integer value)`` of an address given as text, ``ipaddress`` or netaddr object.

    >>> parse_ip("10.0.0.1")
    (4, 167772161)
    >>> parse_ip("::1")
    (6, 1)
    """
    try:
        if isinstance(obj, str):
            family, value = _parse_ip_text(obj)
        else:
            family, value = _object_address(obj)
        if family == 6 and _is_mapped(value):
            raise _Refused("IPv4-mapped IPv6 addresses are not allowed")
    except _Refused as refused:
        raise _ip_error(obj, str(refused)) from None
    return family, value


def _prefix_mask(family: int, prefix: int) -> int:
    bits = 32 if family == 4 else 128
    return ((1 << bits) - 1) ^ ((1 << (bits - prefix)) - 1)


def parse_cidr(obj: Any) -> Tuple[int, int, int]:
    """``(family, network integer, prefix length)``; host bits set → ``InvalidAddressError``.

    >>> parse_cidr("10.96.0.0/12")
    (4, 174063616, 12)
    """
    try:
        if isinstance(obj, str):
            _check_text(obj)
            address, sep, length = obj.partition("/")
            if not sep:
                raise _Refused("missing prefix length")
            if not length or len(length) > 3 or not _DIGITS.issuperset(length):
                raise _Refused("invalid prefix length")
            if len(length) > 1 and length[0] == "0":
                raise _Refused("leading zeros are not allowed in the prefix length")
            family, value = _parse_ip_text(address)
            prefix = int(length)
        elif isinstance(obj, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
            family, value, prefix = obj.version, int(obj.network_address), obj.prefixlen
            if getattr(obj.network_address, "scope_id", None):
                raise _Refused("zone ids are not allowed")
        elif (
            getattr(obj, "version", None) in (4, 6)
            and hasattr(obj, "prefixlen")
            and not isinstance(obj, (str, bytes, int))
        ):
            address_obj = getattr(obj, "ip", None)
            if address_obj is None:
                address_obj = getattr(obj, "network_address", None)
            try:
                family = int(obj.version)
                value = int(address_obj)  # type: ignore[arg-type]
                prefix = int(obj.prefixlen)
            except (TypeError, ValueError, OverflowError):
                raise _Refused("not an IPv4 or IPv6 network") from None
            if not 0 <= value <= (_MAX_IPV4 if family == 4 else _MAX_IPV6):
                raise _Refused("address out of range")
        elif isinstance(obj, int):
            raise _Refused("an integer is not a network")
        else:
            raise _Refused(f"expected str, ipaddress or netaddr network, got {type(obj).__name__}")
        if not 0 <= prefix <= (32 if family == 4 else 128):
            raise _Refused("prefix length out of range")
        if value & ~_prefix_mask(family, prefix):
            raise _Refused("host bits are set")
    except _Refused as refused:
        raise _cidr_error(obj, str(refused)) from None
    return family, value, prefix


def canonical_ip(obj: Any) -> str:
    """Canonical text of an address. ``canonical_ip("2001:DB8:0::1") == "2001:db8::1"``."""
    return format_ip(*parse_ip(obj))


def canonical_cidr(obj: Any) -> str:
    """Canonical text of a network. ``canonical_cidr("00fc::/16") == "fc::/16"``."""
    return format_cidr(*parse_cidr(obj))
