# cython: language_level=3
"""The compiled core's addresses: strict parsers for text, ``ipaddress`` and netaddr objects, the
canonical formatter (RFC 5952 for IPv6) and the error wording, shared by every compiled class.

The C does the text (``include/fc_addr.h``); this module adds the objects and the errors. Its
pure-Python twin is ``_addr_twin.py``. ``_core`` re-exports the public functions.

>>> parse_ip("10.0.0.1"), canonical_cidr("2001:DB8::/32")
((4, 167772161), '2001:db8::/32')
"""
from cpython.long cimport PyLong_AsUnsignedLongLong, PyLong_FromUnsignedLongLong
from libc.stdint cimport uint64_t

import ipaddress as _ipaddress

from fastcidr.errors import InvalidAddressError

from fastcidr._fc cimport (
    FC_ADDR_BUFSIZE,
    FC_CIDR_BUFSIZE,
    FC_ERR_MAPPED,
    FC_ERR_NON_ASCII,
    FC_ERR_ZONE,
    FC_OK,
    fc_addr,
    fc_format_cidr,
    fc_format_ip,
    fc_has_host_bits,
    fc_is_v4mapped,
    fc_parse_cidr,
    fc_parse_ip,
    fc_py_ascii,
    fc_py_ascii_data,
    fc_reason_text,
)

__all__ = ["parse_ip", "parse_cidr", "format_ip", "format_cidr", "canonical_ip", "canonical_cidr"]

cdef extern from "Python.h":
    bint PyUnicode_Check(object o)


cdef object _ascii(const char *buf, size_t n):
    return <object>fc_py_ascii(buf, <Py_ssize_t>n)


cdef object _addr_to_int(fc_addr a):
    if a.hi == 0:
        return PyLong_FromUnsignedLongLong(a.lo)
    return (PyLong_FromUnsignedLongLong(a.hi) << 64) | PyLong_FromUnsignedLongLong(a.lo)


cdef int _int_to_addr(object value, int family, fc_addr *out) except -1:
    """An int in the family's range; 1 on success, 0 if out of range (no exception)."""
    cdef uint64_t lo
    try:
        if value < 0:
            return 0
        if family == 4:
            if value > 0xFFFFFFFF:
                return 0
            out.hi = 0
            out.lo = PyLong_AsUnsignedLongLong(value)
            return 1
        if value >> 128:
            return 0
        out.hi = PyLong_AsUnsignedLongLong(value >> 64)
        out.lo = PyLong_AsUnsignedLongLong(value & 0xFFFFFFFFFFFFFFFF)
        return 1
    except (OverflowError, TypeError, ValueError):
        return 0


cdef object _ip_error(object obj, str reason):
    return InvalidAddressError(f"invalid IP address {obj!r}: {reason}")


cdef object _cidr_error(object obj, str reason):
    return InvalidAddressError(f"invalid CIDR {obj!r}: {reason}")


cdef str _reason(int r):
    return (<bytes>fc_reason_text(r)).decode("ascii")


cdef int _parse_text_ip(object text, int *family, fc_addr *out) except -1:
    """Strict address text; refuses IPv4-mapped IPv6; raises InvalidAddressError."""
    cdef Py_ssize_t n = 0
    cdef const char *data = fc_py_ascii_data(text, &n)
    cdef int r
    if data == NULL:
        raise _ip_error(text, _reason(FC_ERR_NON_ASCII))
    r = fc_parse_ip(data, <size_t>n, family, out)
    if r != FC_OK:
        raise _ip_error(text, _reason(r))
    return 0


cdef int _parse_object_ip(object obj, int *family, fc_addr *out) except -1:
    """ipaddress / netaddr-like address objects (not str, not int)."""
    cdef int version
    if isinstance(obj, _ipaddress.IPv4Address):
        family[0] = 4
        out.hi = 0
        out.lo = PyLong_AsUnsignedLongLong(int(obj))
        return 0
    if isinstance(obj, _ipaddress.IPv6Address):
        if obj.scope_id:
            raise _ip_error(obj, _reason(FC_ERR_ZONE))
        family[0] = 6
        _int_to_addr(int(obj), 6, out)
        if fc_is_v4mapped(out[0]):
            raise _ip_error(obj, _reason(FC_ERR_MAPPED))
        return 0
    if isinstance(obj, (str, bytes, int)):
        if isinstance(obj, int):
            raise _ip_error(obj, "an integer has no address family here")
        raise _ip_error(obj, f"expected str, ipaddress or netaddr object, got {type(obj).__name__}")
    try:
        version_obj = getattr(obj, "version", None)
    except Exception:
        version_obj = None
    if isinstance(version_obj, int) and version_obj in (4, 6):
        version = version_obj
        try:
            value = int(obj)
        except (TypeError, ValueError, OverflowError):
            raise _ip_error(obj, "not an IPv4 or IPv6 address") from None
        if not _int_to_addr(value, version, out):
            raise _ip_error(obj, "address out of range")
        family[0] = version
        if version == 6 and fc_is_v4mapped(out[0]):
            raise _ip_error(obj, _reason(FC_ERR_MAPPED))
        return 0
    raise _ip_error(obj, f"expected str, ipaddress or netaddr object, got {type(obj).__name__}")


cdef int _parse_any_ip(object obj, int *family, fc_addr *out) except -1:
    if PyUnicode_Check(obj):
        return _parse_text_ip(obj, family, out)
    return _parse_object_ip(obj, family, out)


cdef int _parse_any_cidr(object obj, int *family, fc_addr *net, int *prefix) except -1:
    cdef Py_ssize_t n = 0
    cdef const char *data
    cdef int r, version, plen
    cdef fc_addr value
    if PyUnicode_Check(obj):
        data = fc_py_ascii_data(obj, &n)
        if data == NULL:
            raise _cidr_error(obj, _reason(FC_ERR_NON_ASCII))
        r = fc_parse_cidr(data, <size_t>n, family, net, prefix)
        if r != FC_OK:
            raise _cidr_error(obj, _reason(r))
        return 0
    if isinstance(obj, (_ipaddress.IPv4Network, _ipaddress.IPv6Network)):
        version = obj.version
        _int_to_addr(int(obj.network_address), version, &value)
        plen = obj.prefixlen
        if getattr(obj.network_address, "scope_id", None):
            raise _cidr_error(obj, _reason(FC_ERR_ZONE))
    elif isinstance(obj, (str, bytes, int)):
        if isinstance(obj, int):
            raise _cidr_error(obj, "an integer is not a network")
        raise _cidr_error(obj, f"expected str, ipaddress or netaddr network, got {type(obj).__name__}")
    else:
        try:
            version_obj = getattr(obj, "version", None)
            has_prefixlen = hasattr(obj, "prefixlen")
        except Exception:
            version_obj, has_prefixlen = None, False
        if not (isinstance(version_obj, int) and version_obj in (4, 6) and has_prefixlen):
            raise _cidr_error(
                obj, f"expected str, ipaddress or netaddr network, got {type(obj).__name__}"
            )
        address_obj = getattr(obj, "ip", None)
        if address_obj is None:
            address_obj = getattr(obj, "network_address", None)
        try:
            version = int(version_obj)
            address_value = int(address_obj)
            prefix_value = int(obj.prefixlen)
        except (TypeError, ValueError, OverflowError):
            raise _cidr_error(obj, "not an IPv4 or IPv6 network") from None
        if not _int_to_addr(address_value, version, &value):
            raise _cidr_error(obj, "address out of range")
        if not 0 <= prefix_value <= (32 if version == 4 else 128):
            raise _cidr_error(obj, "prefix length out of range")
        plen = prefix_value
    if not 0 <= plen <= (32 if version == 4 else 128):
        raise _cidr_error(obj, "prefix length out of range")
    if fc_has_host_bits(version, value, plen):
        raise _cidr_error(obj, "host bits are set")
    family[0] = version
    net[0] = value
    prefix[0] = plen
    return 0


cdef object _format(int family, fc_addr a):
    cdef char buf[FC_ADDR_BUFSIZE]
    return _ascii(buf, fc_format_ip(family, a, buf))


cdef object _format_cidr(int family, fc_addr net, int prefix):
    cdef char buf[FC_CIDR_BUFSIZE]
    return _ascii(buf, fc_format_cidr(family, net, prefix, buf))


def parse_ip(obj):
    """``(4 or 6, integer value)`` of an address given as str, ``ipaddress`` or netaddr object.

    >>> parse_ip("10.0.0.1")
    (4, 167772161)
    """
    cdef int family = 0
    cdef fc_addr a
    _parse_any_ip(obj, &family, &a)
    return family, _addr_to_int(a)


def parse_cidr(obj):
    """``(family, network integer, prefix length)``; host bits set → ``InvalidAddressError``.

    >>> parse_cidr("10.96.0.0/12")
    (4, 174063616, 12)
    """
    cdef int family = 0, prefix = 0
    cdef fc_addr net
    _parse_any_cidr(obj, &family, &net, &prefix)
    return family, _addr_to_int(net), prefix


cdef int _family_arg(object family) except -1:
    if family == 4 and not isinstance(family, bool):
        return 4
    if family == 6 and not isinstance(family, bool):
        return 6
    raise ValueError(f"family must be 4 or 6, got {family!r}")


def format_ip(family, value):
    """Canonical text: dotted quad, or RFC 5952 IPv6 (lowercase, longest zero run compressed).

    >>> format_ip(6, 0x20010DB8000000000000000000000001)
    '2001:db8::1'
    """
    cdef int fam = _family_arg(family)
    cdef fc_addr a
    if not isinstance(value, int):
        raise TypeError(f"value must be an int, got {type(value).__name__}")
    if not _int_to_addr(value, fam, &a):
        raise InvalidAddressError(f"invalid IP address {value!r}: address out of range")
    return _format(fam, a)


def format_cidr(family, value, prefix):
    """``format_ip(family, value) + "/" + prefix``.

    >>> format_cidr(4, 167772160, 8)
    '10.0.0.0/8'
    """
    cdef int fam = _family_arg(family)
    cdef fc_addr a
    if not isinstance(value, int) or not isinstance(prefix, int):
        raise TypeError("value and prefix must be ints")
    if not _int_to_addr(value, fam, &a):
        raise InvalidAddressError(f"invalid IP address {value!r}: address out of range")
    if not 0 <= prefix <= (32 if fam == 4 else 128):
        raise InvalidAddressError(f"invalid prefix length {prefix!r}: prefix length out of range")
    return _format_cidr(fam, a, prefix)


def canonical_ip(obj):
    """Canonical text of an address.

    >>> canonical_ip("2001:DB8:0::1")
    '2001:db8::1'
    """
    cdef int family = 0
    cdef fc_addr a
    _parse_any_ip(obj, &family, &a)
    return _format(family, a)


def canonical_cidr(obj):
    """Canonical text of a network.

    >>> canonical_cidr("00fc::/16")
    'fc::/16'
    """
    cdef int family = 0, prefix = 0
    cdef fc_addr net
    _parse_any_cidr(obj, &family, &net, &prefix)
    return _format_cidr(family, net, prefix)
