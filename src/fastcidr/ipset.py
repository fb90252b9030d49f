"""``IPSet``: a set of IPv4 and IPv6 addresses with ``netaddr.IPSet``'s names and semantics
(docs/ipset.md), kept as sorted, disjoint, non-adjacent integer runs per family.

Every operation costs O(runs), never O(addresses): adding a /8 is one run, membership is a
binary search, union/intersection/difference are one linear merge of two run lists. Text is read
and written by the core's C parser and formatter (``parse_ip``/``format_ip`` of the current
backend), so the pure twin (``FASTCIDR_PURE=1``) gives the same results.

Results are fastcidr's light value objects: :class:`Address`, :class:`Network` and
:class:`Range` are ``str`` subclasses (canonical text, usable wherever a ``str`` is) that also carry
netaddr's numeric attributes (``value``/``first``/``last``/``prefixlen``/``version``/``size``).

>>> s = IPSet(["10.0.0.0/24", "10.0.1.0/24", "2001:db8::/127"])
>>> s
IPSet(['10.0.0.0/23', '2001:db8::/127'])
>>> "10.0.1.7" in s, "10.0.2.0" in s, "10.0.0.0/23" in s
(True, False, True)
>>> s.remove("10.0.0.128/25")
>>> s.iter_cidrs()
[Network('10.0.0.0/25'), Network('10.0.1.0/24'), Network('2001:db8::/127')]
>>> s.size, len(IPSet(["10.0.0.0/30"]) | IPSet(["10.0.0.4"]))
(386, 5)
>>> list(IPSet(["2001:db8::/127"]))
[Address('2001:db8::'), Address('2001:db8::1')]
"""
from __future__ import annotations

import ipaddress
import socket
import sys
from bisect import bisect_left, bisect_right
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from . import _backend
from .errors import InvalidAddressError

__all__ = ["IPSet", "Address", "Network", "Range"]

_WIDTH = {4: 32, 6: 128}
_MAX = {4: (1 << 32) - 1, 6: (1 << 128) - 1}
# The core refuses these IPv6 forms for allocation; a set of addresses has no reason to, and
# netaddr writes them the way the C library's inet_ntop does (`::ffff:10.0.0.1`, `::1.2.3.4`).
_MAPPED_PREFIX = 0xFFFF

Span = Tuple[int, int, int]  # (version, first, last), inclusive


# ----------------------------------------------------------------------------- text

def _format(version: int, value: int) -> str:
    if version == 6 and (value >> 32 == 0 or value >> 32 == _MAPPED_PREFIX):
        return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big"))
    return _backend.impl.format_ip(version, value)  # type: ignore[no-any-return]


def _parse_address_text(text: str) -> Tuple[int, int]:
    try:
        return _backend.impl.parse_ip(text)  # type: ignore[no-any-return]
    except InvalidAddressError:
        if ":" not in text:
            raise
        # IPv4-mapped and IPv4-compatible IPv6 text: strict inet_pton, as netaddr reads it
        try:
            packed = socket.inet_pton(socket.AF_INET6, text)
        except (OSError, ValueError):
            raise InvalidAddressError(f"invalid IP address {text!r}: not an IPv4 or IPv6 address") from None
        return 6, int.from_bytes(packed, "big")


def _netmask_prefix(version: int, mask_text: str, whole: str) -> int:
    """A dotted IPv4 netmask (``255.255.255.0``) or hostmask (``0.0.0.255``), as netaddr accepts."""
    mask_version, mask = _parse_address_text(mask_text)
    if version != 4 or mask_version != 4:
        raise InvalidAddressError(f"invalid IP network {whole!r}: bad prefix length")
    for candidate in (mask, mask ^ _MAX[4]):  # netmask, then hostmask
        ones = bin(candidate).count("1")
        if candidate == (_MAX[4] << (32 - ones)) & _MAX[4]:
            return ones
    raise InvalidAddressError(f"invalid IP network {whole!r}: bad prefix length")


def _parse_text(text: str) -> Span:
    address, slash, prefix_text = text.partition("/")
    version, value = _parse_address_text(address)
    width = _WIDTH[version]
    if not slash:
        return version, value, value
    if prefix_text.isdigit() and prefix_text.isascii():
        prefix = int(prefix_text)
        if prefix > width:
            raise InvalidAddressError(f"invalid IP network {text!r}: prefix length {prefix} > {width}")
    elif "." in prefix_text:
        prefix = _netmask_prefix(version, prefix_text, text)
    else:
        raise InvalidAddressError(f"invalid IP network {text!r}: bad prefix length")
    host = (1 << (width - prefix)) - 1
    first = value & ~host  # host bits are dropped, as netaddr does (10.0.0.1/24 is 10.0.0.0/24)
    return version, first, first | host


def _int_span(value: int) -> Span:
    """netaddr's reading of a bare integer: IPv4 when it fits in 32 bits, else IPv6."""
    if 0 <= value <= _MAX[4]:
        return 4, value, value
    if 0 <= value <= _MAX[6]:
        return 6, value, value
    raise InvalidAddressError(f"invalid IP address {value!r}: out of range for IPv4 and IPv6")


def _foreign_span(obj: Any) -> Optional[Span]:
    """``ipaddress`` and netaddr objects; None for anything else."""
    if isinstance(obj, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return obj.version, int(obj.network_address), int(obj.broadcast_address)
    if isinstance(obj, (ipaddress.IPv4Interface, ipaddress.IPv6Interface)):
        net = obj.network
        return net.version, int(net.network_address), int(net.broadcast_address)
    if isinstance(obj, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return obj.version, int(obj), int(obj)
    netaddr = sys.modules.get("netaddr")  # a netaddr object implies netaddr is imported
    if netaddr is not None:
        if isinstance(obj, netaddr.IPAddress):
            return obj.version, obj.value, obj.value
        if isinstance(obj, (netaddr.IPNetwork, netaddr.IPRange)):
            return obj.version, obj.first, obj.last
    return None


def _span(obj: Any) -> Span:
    """(version, first, last) of one address, network or range in any accepted form."""
    if isinstance(obj, str):
        if isinstance(obj, Range):
            return obj._span()
        if "/" in obj:
            return _parse_text(obj)
        try:  # the common case first, one call into the core: a plain address
            version, value = _backend.impl.parse_ip(obj)
        except InvalidAddressError:
            version, value = _parse_address_text(obj)
        return version, value, value
    if isinstance(obj, int) and not isinstance(obj, bool):
        return _int_span(obj)
    found = _foreign_span(obj)
    if found is None:
        raise TypeError(f"expected an IP address, network or range (str, int, ipaddress or netaddr), "
                        f"got {type(obj).__name__}")
    return found


def _range_cidrs(version: int, first: int, last: int) -> Iterator[Tuple[int, int]]:
    """The fewest aligned blocks covering [first, last], as (network value, prefix length)."""
    width = _WIDTH[version]
    while first <= last:
        # the largest block that starts at `first` (alignment) and does not pass `last`
        align = (first & -first).bit_length() - 1 if first else width
        fits = (last - first + 1).bit_length() - 1
        bits = min(align, fits)
        yield first, width - bits
        first += 1 << bits


# ----------------------------------------------------------------------------- value objects

class _Value(str):
    """Text with netaddr's numbers: equal to the same text and to an ``ipaddress``/netaddr object
    of the same addresses; ordered by address (IPv4 first) among fastcidr's value objects."""

    __slots__ = ()

    def _key(self) -> Span:
        raise NotImplementedError

    @property
    def version(self) -> int:
        return self._key()[0]

    @property
    def first(self) -> int:
        return self._key()[1]

    @property
    def last(self) -> int:
        return self._key()[2]

    @property
    def size(self) -> int:
        _, first, last = self._key()
        return last - first + 1

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str.__repr__(self)})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return str.__eq__(self, other)
        found = _foreign_span(other)
        return NotImplemented if found is None else self._key() == found

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = str.__hash__

    # address order among fastcidr's own value objects; text order against plain str
    def __lt__(self, other: object) -> bool:
        if isinstance(other, _Value):
            return self._key() < other._key()
        return str.__lt__(self, other)  # type: ignore[operator]

    def __le__(self, other: object) -> bool:
        if isinstance(other, _Value):
            return self._key() <= other._key()
        return str.__le__(self, other)  # type: ignore[operator]

    def __gt__(self, other: object) -> bool:
        if isinstance(other, _Value):
            return self._key() > other._key()
        return str.__gt__(self, other)  # type: ignore[operator]

    def __ge__(self, other: object) -> bool:
        if isinstance(other, _Value):
            return self._key() >= other._key()
        return str.__ge__(self, other)  # type: ignore[operator]


class Address(_Value):
    """One address as canonical text, with netaddr.IPAddress's ``value`` and ``version``;
    ``int()`` gives the value."""

    __slots__ = ()

    @classmethod
    def _make(cls, version: int, value: int) -> "Address":
        return cls(_format(version, value))

    def _key(self) -> Span:
        version, value = _parse_address_text(str(self))
        return version, value, value

    @property
    def version(self) -> int:
        return 6 if ":" in self else 4

    @property
    def value(self) -> int:
        return _parse_address_text(str(self))[1]

    def __int__(self) -> int:
        return self.value


class Network(_Value):
    """One CIDR block as canonical text (``10.0.0.0/24``), with netaddr.IPNetwork's ``first``,
    ``last``, ``prefixlen``, ``version``, ``size``, ``network`` and ``netmask``."""

    __slots__ = ()

    @classmethod
    def _make_block(cls, version: int, first: int, prefix: int) -> "Network":
        return cls(f"{_format(version, first)}/{prefix}")

    def _key(self) -> Span:
        return _parse_text(str(self))

    @property
    def value(self) -> int:
        return self.first

    @property
    def prefixlen(self) -> int:
        return int(self.rpartition("/")[2])

    @property
    def network(self) -> Address:
        return Address(self.partition("/")[0])

    @property
    def netmask(self) -> Address:
        width = _WIDTH[self.version]
        return Address._make(self.version, (_MAX[self.version] << (width - self.prefixlen)) & _MAX[self.version])

    @property
    def cidr(self) -> "Network":
        return self


class Range(_Value):
    """An inclusive run of addresses as netaddr prints an IPRange (``10.0.0.1-10.0.0.5``), with
    ``first``, ``last``, ``version``, ``size`` and ``cidrs()``."""

    __slots__ = ()

    @classmethod
    def _make_range(cls, version: int, first: int, last: int) -> "Range":
        return cls(f"{_format(version, first)}-{_format(version, last)}")

    def _span(self) -> Span:
        low, dash, high = self.partition("-")
        if not dash:
            raise InvalidAddressError(f"invalid IP range {str(self)!r}: expected first-last")
        version, first = _parse_address_text(low)
        high_version, last = _parse_address_text(high)
        if high_version != version or last < first:
            raise InvalidAddressError(f"invalid IP range {str(self)!r}")
        return version, first, last

    _key = _span

    @property
    def value(self) -> int:
        return self.first

    def cidrs(self) -> List[Network]:
        version, first, last = self._span()
        return [Network._make_block(version, net, prefix) for net, prefix in _range_cidrs(version, first, last)]


# ----------------------------------------------------------------------------- run arithmetic
# A family's runs are two parallel lists, starts and ends (inclusive), sorted, disjoint and never
# adjacent (adjacent runs are merged), so that one set has exactly one representation.

Runs = Tuple[List[int], List[int]]


def _runs_from_spans(pairs: List[Tuple[int, int]]) -> Runs:
    pairs.sort()
    starts: List[int] = []
    ends: List[int] = []
    for first, last in pairs:
        if ends and first <= ends[-1] + 1:
            if last > ends[-1]:
                ends[-1] = last
        else:
            starts.append(first)
            ends.append(last)
    return starts, ends


def _add_run(starts: List[int], ends: List[int], first: int, last: int) -> int:
    """Adds [first, last]; returns how many addresses were new."""
    i = bisect_left(ends, first - 1)  # first run that touches or follows `first`
    j = bisect_right(starts, last + 1)  # runs before j start at or before last + 1
    if i == j:
        starts.insert(i, first)
        ends.insert(i, last)
        return last - first + 1
    new_first = min(first, starts[i])
    new_last = max(last, ends[j - 1])
    covered = sum(ends[i:j]) - sum(starts[i:j]) + (j - i)
    starts[i:j] = [new_first]
    ends[i:j] = [new_last]
    return (new_last - new_first + 1) - covered


def _remove_run(starts: List[int], ends: List[int], first: int, last: int) -> int:
    """Removes [first, last]; returns how many addresses were removed."""
    i = bisect_left(ends, first)  # first run that ends at or after `first`
    j = bisect_right(starts, last)  # runs before j start at or before `last`
    if i >= j:
        return 0
    covered = sum(ends[i:j]) - sum(starts[i:j]) + (j - i)
    new_starts: List[int] = []
    new_ends: List[int] = []
    if starts[i] < first:
        new_starts.append(starts[i])
        new_ends.append(first - 1)
    if ends[j - 1] > last:
        new_starts.append(last + 1)
        new_ends.append(ends[j - 1])
    kept = sum(new_ends) - sum(new_starts) + len(new_starts)
    starts[i:j] = new_starts
    ends[i:j] = new_ends
    return covered - kept


def _union(a: Runs, b: Runs) -> Runs:
    if not a[0]:
        return list(b[0]), list(b[1])
    if not b[0]:
        return list(a[0]), list(a[1])
    return _runs_from_spans(list(zip(a[0], a[1])) + list(zip(b[0], b[1])))


def _intersection(a: Runs, b: Runs) -> Runs:
    a_starts, a_ends = a
    b_starts, b_ends = b
    starts: List[int] = []
    ends: List[int] = []
    i = j = 0
    na, nb = len(a_starts), len(b_starts)
    while i < na and j < nb:
        low = max(a_starts[i], b_starts[j])
        a_end, b_end = a_ends[i], b_ends[j]
        high = min(a_end, b_end)
        if low <= high:
            starts.append(low)
            ends.append(high)
        if a_end < b_end:
            i += 1
        else:
            j += 1
    return starts, ends


def _difference(a: Runs, b: Runs) -> Runs:
    a_starts, a_ends = a
    b_starts, b_ends = b
    starts: List[int] = []
    ends: List[int] = []
    j, nb = 0, len(b_starts)
    for first, last in zip(a_starts, a_ends):
        while j < nb and b_ends[j] < first:
            j += 1
        k = j
        while k < nb and b_starts[k] <= last:
            if b_starts[k] > first:
                starts.append(first)
                ends.append(b_starts[k] - 1)
            first = max(first, b_ends[k] + 1)
            if b_ends[k] >= last:
                break
            k += 1
        if first <= last:
            starts.append(first)
            ends.append(last)
        j = k  # a b-run crossing `last` may still cut the next a-run
    return starts, ends


# Runs per chunk of a _Family: a point add/remove moves at most ~2 * _LOAD list slots, however
# many runs the family has (one flat list would move all of them: ~170 us at 360,000 runs).
_LOAD = 512


class _Family:
    """One family's runs, cut into chunks of ``_LOAD`` to ``2 * _LOAD`` runs (a run never spans
    chunks), with each chunk's first start and last end in ``mins`` / ``maxes``: a binary search
    over chunks, then one inside a chunk; a change touches only the chunks it reaches."""

    __slots__ = ("starts", "ends", "mins", "maxes")

    def __init__(self) -> None:
        self.starts: List[List[int]] = []
        self.ends: List[List[int]] = []
        self.mins: List[int] = []
        self.maxes: List[int] = []

    @classmethod
    def from_flat(cls, starts: List[int], ends: List[int]) -> "_Family":
        family = cls()
        family._replace(0, 0, starts, ends)
        return family

    def _replace(self, ci: int, cj: int, starts: List[int], ends: List[int]) -> None:
        """Chunks ci..cj-1 become the runs ``starts``/``ends``, re-cut when too long."""
        n = len(starts)
        if n <= 2 * _LOAD:
            pieces = [(starts, ends)] if n else []
        else:
            pieces = [(starts[k:k + _LOAD], ends[k:k + _LOAD]) for k in range(0, n, _LOAD)]
        self.starts[ci:cj] = [piece[0] for piece in pieces]
        self.ends[ci:cj] = [piece[1] for piece in pieces]
        self.mins[ci:cj] = [piece[0][0] for piece in pieces]
        self.maxes[ci:cj] = [piece[1][-1] for piece in pieces]

    def _change(self, low: int, high: int, first: int, last: int, adding: bool) -> int:
        """Applies one add/remove of [first, last] to the chunks holding runs that reach
        [low, high]; returns the number of addresses added or removed."""
        n = len(self.starts)
        if not n:
            if adding:
                self._replace(0, 0, [first], [last])
            return last - first + 1 if adding else 0
        ci = bisect_left(self.maxes, low)  # first chunk with a run ending at or after `low`
        cj = bisect_right(self.mins, high) - 1  # last chunk with a run starting at or before `high`
        if cj < ci:  # no run reached: an add goes into a neighbouring chunk, a remove does nothing
            if not adding:
                return 0
            ci = cj = min(ci, n - 1)
        if ci == cj:
            starts, ends = self.starts[ci], self.ends[ci]
        else:
            starts = [v for chunk in self.starts[ci:cj + 1] for v in chunk]
            ends = [v for chunk in self.ends[ci:cj + 1] for v in chunk]
        changed = (_add_run if adding else _remove_run)(starts, ends, first, last)
        if ci != cj or not starts or len(starts) > 2 * _LOAD:
            self._replace(ci, cj + 1, starts, ends)
        else:
            self.mins[ci], self.maxes[ci] = starts[0], ends[-1]
        return changed

    def add(self, first: int, last: int) -> int:
        return self._change(first - 1, last + 1, first, last, True)

    def remove(self, first: int, last: int) -> int:
        return self._change(first, last, first, last, False)

    def covers(self, first: int, last: int) -> bool:
        ci = bisect_right(self.mins, first) - 1
        if ci < 0:
            return False
        i = bisect_right(self.starts[ci], first) - 1  # >= 0: the chunk starts at or before `first`
        return self.ends[ci][i] >= last

    def overlaps(self, first: int, last: int) -> bool:
        ci = bisect_left(self.maxes, first)
        if ci == len(self.maxes):
            return False
        i = bisect_left(self.ends[ci], first)  # < len: the chunk ends at or after `first`
        return self.starts[ci][i] <= last

    def flat(self) -> Runs:
        """All runs as two new lists."""
        return [v for chunk in self.starts for v in chunk], [v for chunk in self.ends for v in chunk]

    def pairs(self) -> Iterator[Tuple[int, int]]:
        for starts, ends in zip(self.starts, self.ends):
            yield from zip(starts, ends)

    def count(self) -> int:
        return sum(map(len, self.starts))

    def size(self) -> int:
        return sum(sum(e) - sum(s) + len(s) for s, e in zip(self.starts, self.ends))

    def last_run(self) -> Tuple[int, int]:
        return self.starts[-1][-1], self.ends[-1][-1]

    def copy(self) -> "_Family":
        out = _Family()
        out.starts = [list(chunk) for chunk in self.starts]
        out.ends = [list(chunk) for chunk in self.ends]
        out.mins, out.maxes = list(self.mins), list(self.maxes)
        return out

    def __bool__(self) -> bool:
        return bool(self.starts)


# ----------------------------------------------------------------------------- the set

SetLike = Union["IPSet", Iterable[Any], str]


class IPSet:
    """A set of IPv4 and IPv6 addresses; see the module docstring and docs/ipset.md.

    ``iterable``: addresses, networks and ranges (``str``, ``int``, ``ipaddress`` or netaddr
    objects, :class:`Network`/:class:`Range`), or an ``IPSet`` (fastcidr's or netaddr's), or one
    network or range. ``flags`` is accepted for netaddr compatibility and ignored: text is always
    parsed strictly (netaddr's ``INET_PTON``).
    """

    __slots__ = ("_v4", "_v6", "_size", "__weakref__")

    _v4: _Family
    _v6: _Family
    _size: Optional[int]

    def __init__(self, iterable: Optional[SetLike] = None, flags: int = 0) -> None:
        self._v4, self._v6 = _Family(), _Family()
        self._size = 0
        if iterable is not None:
            self._set_runs(*_coerce(iterable))

    # -- internals
    def _set_runs(self, v4: Runs, v6: Runs) -> None:
        self._v4, self._v6 = _Family.from_flat(*v4), _Family.from_flat(*v6)
        self._size = None

    def _spans(self) -> Iterator[Span]:
        for version, family in ((4, self._v4), (6, self._v6)):
            for first, last in family.pairs():
                yield version, first, last

    @classmethod
    def _from_runs(cls, v4: Runs, v6: Runs) -> "IPSet":
        out = cls.__new__(cls)
        out._set_runs(v4, v6)
        return out

    # -- netaddr's mutators
    def add(self, addr: Any, flags: int = 0) -> None:
        """Adds an address, network or range; no effect where already present."""
        version, first, last = _span(addr)
        added = (self._v4 if version == 4 else self._v6).add(first, last)
        if self._size is not None:
            self._size += added

    def remove(self, addr: Any, flags: int = 0) -> None:
        """Removes an address, network or range. Like netaddr (and unlike ``set.remove``) it does
        nothing for addresses that are not members: no ``KeyError``."""
        version, first, last = _span(addr)
        removed = (self._v4 if version == 4 else self._v6).remove(first, last)
        if self._size is not None:
            self._size -= removed

    def update(self, iterable: SetLike, flags: int = 0) -> None:
        """Adds every member of ``iterable`` (an IPSet, one network or range, or an iterable of
        addresses, networks and ranges)."""
        v4, v6 = _coerce(iterable)
        self._set_runs(_union(self._v4.flat(), v4), _union(self._v6.flat(), v6))

    def clear(self) -> None:
        self._v4, self._v6 = _Family(), _Family()
        self._size = 0

    def pop(self) -> Network:
        """Removes and returns one CIDR block of the set (netaddr: an arbitrary one; here the
        highest). ``KeyError`` when the set is empty."""
        for version, family in ((6, self._v6), (4, self._v4)):
            if family:
                first, last = family.last_run()
                *_, (net, prefix) = _range_cidrs(version, first, last)
                self.remove(Network._make_block(version, net, prefix))
                return Network._make_block(version, net, prefix)
        raise KeyError("pop from an empty IPSet")

    def compact(self) -> None:
        """netaddr merges its CIDR list here; runs are always merged, so there is nothing to do."""

    # -- queries
    def __contains__(self, ip: Any) -> bool:
        """An address, or every address of a network or range, is a member."""
        version, first, last = _span(ip)
        return (self._v4 if version == 4 else self._v6).covers(first, last)

    def __bool__(self) -> bool:
        return bool(self._v4) or bool(self._v6)

    @property
    def size(self) -> int:
        """The number of addresses (any size, unlike ``len()``)."""
        if self._size is None:
            self._size = self._v4.size() + self._v6.size()
        return self._size

    def __len__(self) -> int:
        """The number of addresses; ``IndexError`` (as netaddr raises) above ``sys.maxsize``: use
        ``.size`` for large IPv6 sets."""
        size = self.size
        if size > sys.maxsize:
            raise IndexError(f"range contains more than {sys.maxsize} (sys.maxsize) IP addresses! "
                             "Use the .size property instead.")
        return size

    def __iter__(self) -> Iterator[Address]:
        """Every address, in address order (IPv4 first)."""
        make = Address._make
        fmt = _backend.impl.format_ip
        new = str.__new__
        for version, first, last in self._spans():
            values = range(first, last + 1)  # iterating a range has no sys.maxsize limit
            if version == 6 and first >> 32 <= _MAPPED_PREFIX:  # may hold inet_ntop's forms
                for value in values:
                    yield make(version, value)
            else:  # the core's formatter straight away: this loop is the cost of iterating
                for value in values:
                    yield new(Address, fmt(version, value))

    def iter_cidrs(self) -> List[Network]:
        """The fewest CIDR blocks covering the set, in address order (a list, as in netaddr)."""
        return [Network._make_block(version, net, prefix)
                for version, first, last in self._spans()
                for net, prefix in _range_cidrs(version, first, last)]

    def iter_ipranges(self) -> Iterator[Range]:
        """The maximal runs of the set, in address order."""
        for version, first, last in self._spans():
            yield Range._make_range(version, first, last)

    def iscontiguous(self) -> bool:
        return self._v4.count() + self._v6.count() <= 1

    def iprange(self) -> Optional[Range]:
        """The set as one Range; None when empty; ``ValueError`` when it has gaps."""
        if not self.iscontiguous():
            raise ValueError("IPSet is not contiguous")
        for version, first, last in self._spans():
            return Range._make_range(version, first, last)
        return None

    def runs(self) -> List[Span]:
        """The maximal runs as ``(version, first, last)`` integers, in address order (fastcidr's
        own: the cheapest way out of the set)."""
        return list(self._spans())

    # -- comparisons
    def isdisjoint(self, other: SetLike) -> bool:
        other_set = _as_ipset(other)
        for mine, theirs in ((self._v4, other_set._v4), (self._v6, other_set._v6)):
            small, large = (mine, theirs) if mine.count() <= theirs.count() else (theirs, mine)
            if any(large.overlaps(first, last) for first, last in small.pairs()):
                return False
        return True

    def issubset(self, other: SetLike) -> bool:
        other_set = _as_ipset(other)
        return all(theirs.covers(first, last)
                   for mine, theirs in ((self._v4, other_set._v4), (self._v6, other_set._v6))
                   for first, last in mine.pairs())

    def issuperset(self, other: SetLike) -> bool:
        return _as_ipset(other).issubset(self)

    def __eq__(self, other: object) -> bool:
        other_set = _operand(other)
        if other_set is None:
            return NotImplemented
        return self._v4.flat() == other_set._v4.flat() and self._v6.flat() == other_set._v6.flat()

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __le__(self, other: object) -> bool:
        other_set = _operand(other)
        return NotImplemented if other_set is None else self.issubset(other_set)

    def __ge__(self, other: object) -> bool:
        other_set = _operand(other)
        return NotImplemented if other_set is None else other_set.issubset(self)

    def __lt__(self, other: object) -> bool:
        other_set = _operand(other)
        if other_set is None:
            return NotImplemented
        return self.size < other_set.size and self.issubset(other_set)

    def __gt__(self, other: object) -> bool:
        other_set = _operand(other)
        if other_set is None:
            return NotImplemented
        return self.size > other_set.size and other_set.issubset(self)

    def __hash__(self) -> int:  # type: ignore[override]
        raise TypeError("IP sets are unhashable!")

    # -- algebra (new sets)
    def union(self, other: SetLike) -> "IPSet":
        other_set = _as_ipset(other)
        return self._from_runs(_union(self._v4.flat(), other_set._v4.flat()),
                               _union(self._v6.flat(), other_set._v6.flat()))

    def intersection(self, other: SetLike) -> "IPSet":
        other_set = _as_ipset(other)
        return self._from_runs(_intersection(self._v4.flat(), other_set._v4.flat()),
                               _intersection(self._v6.flat(), other_set._v6.flat()))

    def difference(self, other: SetLike) -> "IPSet":
        other_set = _as_ipset(other)
        return self._from_runs(_difference(self._v4.flat(), other_set._v4.flat()),
                               _difference(self._v6.flat(), other_set._v6.flat()))

    def symmetric_difference(self, other: SetLike) -> "IPSet":
        other_set = _as_ipset(other)
        families = []
        for mine, theirs in ((self._v4.flat(), other_set._v4.flat()), (self._v6.flat(), other_set._v6.flat())):
            families.append(_union(_difference(mine, theirs), _difference(theirs, mine)))
        return self._from_runs(*families)

    def __or__(self, other: object) -> "IPSet":
        other_set = _operand(other)
        return NotImplemented if other_set is None else self.union(other_set)

    def __and__(self, other: object) -> "IPSet":
        other_set = _operand(other)
        return NotImplemented if other_set is None else self.intersection(other_set)

    def __sub__(self, other: object) -> "IPSet":
        other_set = _operand(other)
        return NotImplemented if other_set is None else self.difference(other_set)

    def __xor__(self, other: object) -> "IPSet":
        other_set = _operand(other)
        return NotImplemented if other_set is None else self.symmetric_difference(other_set)

    # a netaddr.IPSet on the left: netaddr's operators raise AttributeError, not NotImplemented,
    # for a foreign right operand, so these serve only `other | fastcidr_set` for other operands
    __ror__ = __or__
    __rand__ = __and__

    def __rsub__(self, other: object) -> "IPSet":
        other_set = _operand(other)
        return NotImplemented if other_set is None else other_set.difference(self)

    __rxor__ = __xor__

    # -- copies, pickling, text
    def copy(self) -> "IPSet":
        out = type(self).__new__(type(self))
        out._v4, out._v6, out._size = self._v4.copy(), self._v6.copy(), self._size
        return out

    __copy__ = copy

    def __deepcopy__(self, memo: Optional[Dict[int, Any]]) -> "IPSet":
        return self.copy()  # ints are immutable: a copy of the lists is a deep copy

    def __getstate__(self) -> Tuple[Tuple[int, ...], ...]:
        (s4, e4), (s6, e6) = self._v4.flat(), self._v6.flat()
        return tuple(s4), tuple(e4), tuple(s6), tuple(e6)

    def __setstate__(self, state: Tuple[Tuple[int, ...], ...]) -> None:
        try:
            s4, e4, s6, e6 = state
            v4 = _checked_runs(4, s4, e4)
            v6 = _checked_runs(6, s6, e6)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not a pickled fastcidr IPSet: {exc}") from None
        self._set_runs(v4, v6)

    def __repr__(self) -> str:
        return "IPSet(%r)" % [str(c) for c in self.iter_cidrs()]

    __str__ = __repr__


def _checked_runs(version: int, starts: Any, ends: Any) -> Runs:
    """Runs from untrusted state: ints in range, sorted, disjoint and not adjacent."""
    starts_list = [int(v) for v in starts]
    ends_list = [int(v) for v in ends]
    if len(starts_list) != len(ends_list):
        raise ValueError("unequal run lists")
    previous = -2
    for first, last in zip(starts_list, ends_list):
        if not (previous + 1 < first <= last <= _MAX[version]):
            raise ValueError(f"bad IPv{version} run {first}..{last}")
        previous = last
    return starts_list, ends_list


def _operand(other: object) -> Optional[IPSet]:
    """The other side of an operator: a fastcidr or netaddr IPSet, else None (NotImplemented)."""
    if isinstance(other, IPSet):
        return other
    netaddr = sys.modules.get("netaddr")
    if netaddr is not None and isinstance(other, netaddr.IPSet):
        return _as_ipset(other)
    return None


def _as_ipset(other: SetLike) -> IPSet:
    if isinstance(other, IPSet):
        return other
    return IPSet._from_runs(*_coerce(other))


def _coerce(iterable: SetLike) -> Tuple[Runs, Runs]:
    """Runs of both families from an IPSet, one element (text, network, range) or an iterable."""
    if isinstance(iterable, IPSet):
        return iterable._v4.flat(), iterable._v6.flat()
    netaddr = sys.modules.get("netaddr")
    if netaddr is not None and isinstance(iterable, netaddr.IPSet):
        iterable = iterable.iter_cidrs()
    elif isinstance(iterable, str) or _foreign_span(iterable) is not None:
        iterable = [iterable]  # one network or range (netaddr takes IPNetwork and IPRange so)
    elif not hasattr(iterable, "__iter__"):
        raise TypeError(f"an iterable was expected, got {type(iterable).__name__}")
    pairs: Dict[int, List[Tuple[int, int]]] = {4: [], 6: []}
    for item in iterable:
        version, first, last = _span(item)
        pairs[version].append((first, last))
    return _runs_from_spans(pairs[4]), _runs_from_spans(pairs[6])
