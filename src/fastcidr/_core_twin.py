"""The pure-Python twin of the compiled core (``_core``): same API, same algorithms, same results.

Everything here follows ``docs/ALGORITHMS.md`` to the bit, so that a seed gives the same addresses
and a snapshot written by either backend restores in the other. The twin is slower than the
compiled core by a constant factor only: the same hierarchical bitmap and run index, written in
Python.

Besides ``CIDRAllocator`` this module exports the address parsers (the canonical formatting and the
rules both backends share live in ``_rules``) and three building blocks that the other twins
(``_tree_twin``, ``_multi_twin``) import:

- ``Xoshiro256(seed)``: the xoshiro256** generator (``next()``, ``bounded(n)``, ``state``,
  ``Xoshiro256.from_state(words)``).
- ``DenseBitmap(nbits)``: hierarchical, lazily paged bitmap over ``nbits <= 2**32`` offsets.
- ``RunSet()``: maximal runs of allocated offsets in a chunked sorted list (sparse ranges).

Both storage classes share one interface (offsets are ints, ``limit`` is exclusive):
``set(p) -> bool`` (True if it was clear), ``clear(p) -> bool`` (True if it was set),
``test(p) -> bool``, ``first_free(p, limit) -> int`` and ``first_set(p, limit) -> int`` (the
first clear / set offset in ``[p, limit)``, or ``-1``), ``count`` (number of set offsets),
``set_run(start, length)`` (bulk load of a run into clear offsets), ``runs()`` (an iterator of
``(start, length)`` maximal runs, ascending) and ``nbytes()`` (memory owned, for ``__sizeof__``).

>>> a = CIDRAllocator("10.96.0.0/28", seed=1, strategy="sequential")
>>> a.allocate_next()
'10.96.0.1'
"""
from __future__ import annotations

import ipaddress
import os
import re
import sys
import threading
import zlib
from bisect import bisect_right
from typing import Any, Dict, Iterator, List, Optional, Tuple

from . import _freespace
from ._snapshot_twin import decode_body, encode_body
from ._rules import (
    CRC,
    FCAL_HEADER,
    FCAL_MAGIC,
    FCAL_RUN,
    FCAL_VERSION,
    FCAL_VERSION_RUNS,
    FCMA_MAGIC,
    band_offset,
    check_allocatable,
    format_cidr,
    format_ip,
    snapshot_bytes,
    usable_size,
)
from .errors import (
    AlreadyAllocatedError,
    InvalidAddressError,
    NotInRangeError,
    RangeFullError,
    SnapshotError,
)

_MASK64 = (1 << 64) - 1
_ALL_ONES_WORD = _MASK64
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


# --------------------------------------------------------------------------------------------
# Random generator: splitmix64-seeded xoshiro256** (ALGORITHMS.md)
# --------------------------------------------------------------------------------------------


def _splitmix64(x: int) -> Tuple[int, int]:
    """(output, new state)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31), x


class Xoshiro256:
    """xoshiro256** (Blackman & Vigna), seeded by four successive splitmix64 outputs.

    >>> rng = Xoshiro256(1)
    >>> rng.bounded(10) < 10
    True
    """

    __slots__ = ("s0", "s1", "s2", "s3")

    def __init__(self, seed: Optional[int] = None) -> None:
        if seed is None:
            seed = int.from_bytes(os.urandom(8), "little")
        x = int(seed) & _MASK64
        words = []
        for _ in range(4):
            out, x = _splitmix64(x)
            words.append(out)
        self.s0, self.s1, self.s2, self.s3 = words

    @classmethod
    def from_state(cls, state: Tuple[int, int, int, int]) -> "Xoshiro256":
        rng = cls.__new__(cls)
        rng.s0, rng.s1, rng.s2, rng.s3 = (int(w) & _MASK64 for w in state)
        return rng

    @property
    def state(self) -> Tuple[int, int, int, int]:
        return (self.s0, self.s1, self.s2, self.s3)

    def copy(self) -> "Xoshiro256":
        return Xoshiro256.from_state(self.state)

    def next(self) -> int:
        s0, s1, s2, s3 = self.s0, self.s1, self.s2, self.s3
        x = (s1 * 5) & _MASK64
        result = ((((x << 7) | (x >> 57)) & _MASK64) * 9) & _MASK64
        t = (s1 << 17) & _MASK64
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = ((s3 << 45) | (s3 >> 19)) & _MASK64
        self.s0, self.s1, self.s2, self.s3 = s0, s1, s2, s3
        return result

    def bounded(self, n: int) -> int:
        """A draw in ``[0, n)`` for ``1 <= n <= 2**64``: ``(next() * n) >> 64``."""
        return (self.next() * n) >> 64


# --------------------------------------------------------------------------------------------
# Dense storage: hierarchical, lazily paged bitmap
# --------------------------------------------------------------------------------------------

_PAGE_SHIFT = 8  # 256 words (16384 offsets) per page; a page is a list of ints
_PAGE_WORDS = 1 << _PAGE_SHIFT
_PAGE_MASK = _PAGE_WORDS - 1


def _ctz(x: int) -> int:
    return (x & -x).bit_length() - 1


class _PagedWords:
    """An array of 64-bit words, all zero until written, stored in lazily created pages."""

    __slots__ = ("pages",)

    def __init__(self) -> None:
        self.pages: dict = {}

    def get(self, w: int) -> int:
        page = self.pages.get(w >> _PAGE_SHIFT)
        return 0 if page is None else page[w & _PAGE_MASK]

    def put(self, w: int, value: int) -> None:
        page = self.pages.get(w >> _PAGE_SHIFT)
        if page is None:
            if not value:
                return
            page = self.pages[w >> _PAGE_SHIFT] = [0] * _PAGE_WORDS
        page[w & _PAGE_MASK] = value

    def nbytes(self) -> int:
        return sys.getsizeof(self.pages) + len(self.pages) * (
            sys.getsizeof([0] * _PAGE_WORDS) + 32 * _PAGE_WORDS
        )


class DenseBitmap:
    """A bitmap over ``nbits`` offsets (1 = allocated) with two summary hierarchies.

    Level 0 holds one bit per offset in 64-bit words. In the *full* hierarchy a bit of level k+1
    is set when word k of the level below is all ones (``first_free`` climbs those); in the *any*
    hierarchy it is set when that word is non-zero (``first_set`` climbs those, for iteration
    and snapshots). Each query costs at most ``2 * log64(nbits)`` word steps. Pages are created
    on first write, so an empty bitmap of ``2**31`` bits costs a few hundred bytes.

    >>> b = DenseBitmap(200)
    >>> b.set(0), b.set(1), b.first_free(0, 200), b.first_set(2, 200)
    (True, True, 2, -1)
    """

    __slots__ = ("nbits", "count", "_full", "_any")

    def __init__(self, nbits: int) -> None:
        if not 0 <= nbits <= 1 << 32:
            raise ValueError("DenseBitmap holds at most 2**32 bits")
        self.nbits = nbits
        self.count = 0
        level0 = _PagedWords()
        self._full: List[_PagedWords] = [level0]
        self._any: List[_PagedWords] = [level0]
        width = nbits
        while width > 64:
            width = (width + 63) >> 6
            self._full.append(_PagedWords())
            self._any.append(_PagedWords())

    def test(self, p: int) -> bool:
        return bool(self._full[0].get(p >> 6) >> (p & 63) & 1)

    def set(self, p: int) -> bool:
        level0 = self._full[0]
        w = p >> 6
        old = level0.get(w)
        bit = 1 << (p & 63)
        if old & bit:
            return False
        new = old | bit
        if new == _ALL_ONES_WORD:
            new = _ALL_ONES_WORD  # share one int object among all full words (memory)
        level0.put(w, new)
        self.count += 1
        if new == _ALL_ONES_WORD:  # propagate "full" while words become full
            pos, k = w, 1
            while k < len(self._full):
                words = self._full[k]
                word = words.get(pos >> 6) | (1 << (pos & 63))
                words.put(pos >> 6, word)
                if word != _ALL_ONES_WORD:
                    break
                pos >>= 6
                k += 1
        if not old:  # propagate "any" while words become non-zero
            pos, k = w, 1
            while k < len(self._any):
                words = self._any[k]
                before = words.get(pos >> 6)
                words.put(pos >> 6, before | (1 << (pos & 63)))
                if before:
                    break
                pos >>= 6
                k += 1
        return True

    def clear(self, p: int) -> bool:
        level0 = self._full[0]
        w = p >> 6
        old = level0.get(w)
        bit = 1 << (p & 63)
        if not old & bit:
            return False
        new = old & ~bit
        level0.put(w, new)
        self.count -= 1
        if old == _ALL_ONES_WORD:  # propagate "not full" while words stop being full
            pos, k = w, 1
            while k < len(self._full):
                words = self._full[k]
                before = words.get(pos >> 6)
                words.put(pos >> 6, before & ~(1 << (pos & 63)))
                if before != _ALL_ONES_WORD:
                    break
                pos >>= 6
                k += 1
        if not new:  # propagate "empty" while words become zero
            pos, k = w, 1
            while k < len(self._any):
                words = self._any[k]
                word = words.get(pos >> 6) & ~(1 << (pos & 63))
                words.put(pos >> 6, word)
                if word:
                    break
                pos >>= 6
                k += 1
        return True

    @staticmethod
    def _search(levels: List[_PagedWords], invert: bool, p: int, limit: int) -> int:
        """First offset in [p, limit) whose level-0 bit is 0 (invert) or 1, else -1."""
        if p >= limit:
            return -1
        k, pos = 0, p
        top = len(levels)
        while True:
            w = pos >> 6
            word = levels[k].get(w)
            if invert:
                word ^= _ALL_ONES_WORD
            word &= _ALL_ONES_WORD << (pos & 63)
            if word:
                break
            pos = w + 1
            k += 1
            if k == top:
                return -1
        pos = (w << 6) | _ctz(word & _ALL_ONES_WORD)
        while k:
            k -= 1
            word = levels[k].get(pos)
            if invert:
                word ^= _ALL_ONES_WORD
            pos = (pos << 6) | _ctz(word)
        return pos if pos < limit else -1

    def first_free(self, p: int, limit: int) -> int:
        return self._search(self._full, True, p, min(limit, self.nbits))

    def first_set(self, p: int, limit: int) -> int:
        return self._search(self._any, False, p, min(limit, self.nbits))

    def set_run(self, start: int, length: int) -> None:
        """Set ``[start, start+length)``, all currently clear (bulk load for restore)."""
        if length <= 0:
            return
        end = start + length  # exclusive
        level0 = self._full[0]
        first_word, last_word = start >> 6, (end - 1) >> 6
        w = first_word
        while w <= last_word:
            lo = max(start, w << 6) - (w << 6)
            hi = min(end, (w + 1) << 6) - (w << 6)
            if lo == 0 and (w & _PAGE_MASK) == 0 and (w + _PAGE_WORDS) << 6 <= end:
                # a whole page of full words at once
                page = level0.pages.get(w >> _PAGE_SHIFT)
                if page is None:
                    level0.pages[w >> _PAGE_SHIFT] = [_ALL_ONES_WORD] * _PAGE_WORDS
                else:
                    page[:] = [_ALL_ONES_WORD] * _PAGE_WORDS
                w += _PAGE_WORDS
                continue
            mask = (_ALL_ONES_WORD >> (64 - (hi - lo))) << lo
            level0.put(w, level0.get(w) | mask)
            w += 1
        self.count += length
        self._refresh(first_word, last_word)

    def _refresh(self, first_word: int, last_word: int) -> None:
        """Recompute both summaries above level-0 words [first_word, last_word]."""
        lo, hi = first_word, last_word
        for k in range(1, len(self._full)):
            below_full, below_any = self._full[k - 1], self._any[k - 1]
            full_words, any_words = self._full[k], self._any[k]
            for parent in range(lo >> 6, (hi >> 6) + 1):
                base = parent << 6
                page_full = below_full.pages.get(base >> _PAGE_SHIFT)
                page_any = below_any.pages.get(base >> _PAGE_SHIFT)
                full_bits = any_bits = 0
                if page_full is not None:
                    chunk = page_full[base & _PAGE_MASK:(base & _PAGE_MASK) + 64]
                    if chunk.count(_ALL_ONES_WORD) == 64:
                        full_bits = _ALL_ONES_WORD
                    else:
                        for i, word in enumerate(chunk):
                            if word == _ALL_ONES_WORD:
                                full_bits |= 1 << i
                if page_any is not None:
                    chunk = page_any[base & _PAGE_MASK:(base & _PAGE_MASK) + 64]
                    zeros = chunk.count(0)
                    if zeros == 0:
                        any_bits = _ALL_ONES_WORD
                    elif zeros < 64:
                        for i, word in enumerate(chunk):
                            if word:
                                any_bits |= 1 << i
                full_words.put(parent, full_bits)
                any_words.put(parent, any_bits)
            lo, hi = lo >> 6, hi >> 6

    def runs(self) -> Iterator[Tuple[int, int]]:
        p = 0
        while True:
            start = self.first_set(p, self.nbits)
            if start < 0:
                return
            end = self.first_free(start, self.nbits)
            if end < 0:
                end = self.nbits
            yield start, end - start
            p = end

    def nbytes(self) -> int:
        seen = {id(self._full[0])}
        total = self._full[0].nbytes()
        for words in self._full[1:] + self._any[1:]:
            if id(words) not in seen:
                seen.add(id(words))
                total += words.nbytes()
        return total


# --------------------------------------------------------------------------------------------
# Sparse storage: maximal runs in a chunked sorted list
# --------------------------------------------------------------------------------------------

_CHUNK = 256  # runs per chunk before it splits; inserts cost O(_CHUNK + runs/_CHUNK)


class RunSet:
    """Allocated offsets as maximal runs ``[start, end]`` (inclusive), ordered by start.

    The runs live in chunks of at most ``2 * _CHUNK`` (parallel lists of starts and ends) with an
    index of each chunk's first start, so a lookup is two bisections and an update touches one
    chunk: O(log runs) search, O(sqrt-ish) update, memory O(runs).

    >>> r = RunSet()
    >>> r.set(5), r.set(6), r.set(8), list(r.runs())
    (True, True, True, [(5, 2), (8, 1)])
    >>> r.first_free(5, 100), r.first_set(7, 100)
    (7, 8)
    """

    __slots__ = ("count", "_starts", "_ends", "_firsts")

    def __init__(self) -> None:
        self.count = 0
        self._starts: List[List[int]] = []
        self._ends: List[List[int]] = []
        self._firsts: List[int] = []

    def _pred(self, p: int) -> Tuple[int, int]:
        """(chunk, index) of the run with the largest start <= p, or (-1, -1)."""
        ci = bisect_right(self._firsts, p) - 1
        if ci < 0:
            return -1, -1
        return ci, bisect_right(self._starts[ci], p) - 1

    def _next(self, ci: int, i: int) -> Tuple[int, int]:
        """The position after (ci, i) (ci == -1: the first run), or (-1, -1) past the end."""
        if ci < 0:
            return (0, 0) if self._starts else (-1, -1)
        if i + 1 < len(self._starts[ci]):
            return ci, i + 1
        if ci + 1 < len(self._starts):
            return ci + 1, 0
        return -1, -1

    def _insert(self, ci: int, i: int, start: int, end: int) -> None:
        """Insert a run at position i of chunk ci (ci == len: a new last chunk)."""
        if not self._starts:
            self._starts.append([start])
            self._ends.append([end])
            self._firsts.append(start)
            return
        if ci >= len(self._starts):
            ci, i = len(self._starts) - 1, len(self._starts[-1])
        starts, ends = self._starts[ci], self._ends[ci]
        starts.insert(i, start)
        ends.insert(i, end)
        if i == 0:
            self._firsts[ci] = start
        if len(starts) > 2 * _CHUNK:
            self._starts.insert(ci + 1, starts[_CHUNK:])
            self._ends.insert(ci + 1, ends[_CHUNK:])
            self._firsts.insert(ci + 1, starts[_CHUNK])
            del starts[_CHUNK:]
            del ends[_CHUNK:]

    def _delete(self, ci: int, i: int) -> None:
        starts, ends = self._starts[ci], self._ends[ci]
        del starts[i]
        del ends[i]
        if not starts:
            del self._starts[ci]
            del self._ends[ci]
            del self._firsts[ci]
        elif i == 0:
            self._firsts[ci] = starts[0]

    def test(self, p: int) -> bool:
        ci, i = self._pred(p)
        return ci >= 0 and self._ends[ci][i] >= p

    def set(self, p: int) -> bool:
        ci, i = self._pred(p)
        if ci >= 0 and self._ends[ci][i] >= p:
            return False
        self.count += 1
        joins_left = ci >= 0 and self._ends[ci][i] == p - 1
        ni, nj = self._next(ci, i)
        joins_right = ni >= 0 and self._starts[ni][nj] == p + 1
        if joins_left and joins_right:
            self._ends[ci][i] = self._ends[ni][nj]
            self._delete(ni, nj)
        elif joins_left:
            self._ends[ci][i] = p
        elif joins_right:
            self._starts[ni][nj] = p
            if nj == 0:
                self._firsts[ni] = p
        elif ci < 0:
            self._insert(0, 0, p, p)
        else:
            self._insert(ci, i + 1, p, p)
        return True

    def clear(self, p: int) -> bool:
        ci, i = self._pred(p)
        if ci < 0 or self._ends[ci][i] < p:
            return False
        self.count -= 1
        start, end = self._starts[ci][i], self._ends[ci][i]
        if start == end:
            self._delete(ci, i)
        elif p == start:
            self._starts[ci][i] = p + 1
            if i == 0:
                self._firsts[ci] = p + 1
        elif p == end:
            self._ends[ci][i] = p - 1
        else:
            self._ends[ci][i] = p - 1
            self._insert(ci, i + 1, p + 1, end)
        return True

    def first_free(self, p: int, limit: int) -> int:
        if p >= limit:
            return -1
        ci, i = self._pred(p)
        if ci >= 0 and self._ends[ci][i] >= p:
            p = self._ends[ci][i] + 1  # runs are maximal: the offset after one is free
        return p if p < limit else -1

    def first_set(self, p: int, limit: int) -> int:
        if p >= limit:
            return -1
        ci, i = self._pred(p)
        if ci >= 0 and self._ends[ci][i] >= p:
            return p
        ni, nj = self._next(ci, i)
        if ni < 0:
            return -1
        start = self._starts[ni][nj]
        return start if start < limit else -1

    def set_run(self, start: int, length: int) -> None:
        """Append a run after every stored one, not adjacent to the last (bulk load, ascending)."""
        if length <= 0:
            return
        if self._starts and start <= self._ends[-1][-1] + 1:
            raise ValueError("RunSet.set_run needs ascending, non-adjacent runs")
        end = start + length - 1
        if not self._starts or len(self._starts[-1]) >= _CHUNK:
            self._starts.append([start])
            self._ends.append([end])
            self._firsts.append(start)
        else:
            self._starts[-1].append(start)
            self._ends[-1].append(end)
        self.count += length

    def runs(self) -> Iterator[Tuple[int, int]]:
        for starts, ends in zip(self._starts, self._ends):
            for start, end in zip(starts, ends):
                yield start, end - start + 1

    def nruns(self) -> int:
        return sum(len(s) for s in self._starts)

    def nbytes(self) -> int:
        total = sys.getsizeof(self._firsts) + sys.getsizeof(self._starts) + sys.getsizeof(self._ends)
        for starts, ends in zip(self._starts, self._ends):
            total += sys.getsizeof(starts) + sys.getsizeof(ends) + 64 * len(starts)
        return total


def new_storage(size: int) -> Any:
    """Dense bitmap for ``size <= 2**32`` offsets, run index above (ALGORITHMS.md "Storage")."""
    return DenseBitmap(size) if size <= 1 << 32 else RunSet()


# --------------------------------------------------------------------------------------------
# The allocator (sizes and bands: _rules, docs/behaviour.md §1, §2.1)
# --------------------------------------------------------------------------------------------

_WIDTH = {4: 32, 6: 128}
_FAMILY_NAMES = {4: "IPv4", 6: "IPv6"}
_STRATEGIES = {"random": 0, "sequential": 1}
_STRATEGY_NAMES = {0: "random", 1: "sequential"}


# Snapshot framing (FCAL version 1): the layout lives in _rules, shared with the compiled core.
_MAGIC = FCAL_MAGIC
_MULTI_MAGIC = FCMA_MAGIC
_VERSION = FCAL_VERSION
_HEADER = FCAL_HEADER
_RUN = FCAL_RUN
_CRC = CRC


class CIDRAllocator:
    """Allocates the addresses of one CIDR with Kubernetes' semantics (docs/behaviour.md §1-§2).

    Every operation is O(1) (a hierarchical bitmap for up to 2**32 offsets, a run index above),
    the ``random`` strategy draws from a seeded xoshiro256** exactly as the compiled core does.

    Thread safety: each public method holds the allocator's ``threading.Lock`` for its whole
    duration (``allocate_many`` for the whole batch), so every operation is atomic with respect
    to other threads. Iteration takes the lock per step and continues after the last address
    it yielded, so it never fails when the allocator changes meanwhile.

    >>> a = CIDRAllocator("10.96.0.0/24", seed=7)
    >>> a.size, a.band_offset, a.first, a.last
    (254, 16, '10.96.0.1', '10.96.0.254')
    >>> a.allocate("10.96.0.10")
    '10.96.0.10'
    >>> CIDRAllocator("10.96.0.0/24", strategy="sequential").allocate_next()
    '10.96.0.17'
    >>> len(a), "10.96.0.10" in a
    (1, True)
    """

    __slots__ = (
        "_family",
        "_network",
        "_prefix",
        "_size",
        "_band",
        "_strategy",
        "_rng",
        "_store",
        "_used_static",
        "_lock",
        "_cidr_text",
        "__weakref__",
    )

    def __init__(self, cidr: Any, *, seed: Optional[int] = None, strategy: str = "random") -> None:
        if strategy not in _STRATEGIES:
            raise ValueError(f"strategy must be 'random' or 'sequential', got {strategy!r}")
        if seed is not None and not isinstance(seed, int):
            raise TypeError(f"seed must be an int or None, not {type(seed).__name__}")
        family, network, prefix = parse_cidr(cidr)
        check_allocatable(family, network, prefix)
        self._setup(family, network, prefix, _STRATEGIES[strategy], Xoshiro256(seed))

    def _setup(self, family: int, network: int, prefix: int, strategy: int, rng: Xoshiro256) -> None:
        self._family = family
        self._network = network
        self._prefix = prefix
        self._size = usable_size(family, prefix)
        self._band = band_offset(family, prefix)
        self._strategy = strategy
        self._rng = rng
        self._store = new_storage(self._size)
        self._used_static = 0
        self._lock = threading.Lock()
        self._cidr_text = format_cidr(family, network, prefix)

    # -- properties --------------------------------------------------------------------------

    @property
    def cidr(self) -> str:
        return self._cidr_text

    @property
    def family(self) -> str:
        return _FAMILY_NAMES[self._family]

    @property
    def size(self) -> int:
        return self._size

    @property
    def first(self) -> Optional[str]:
        return format_ip(self._family, self._network + 1) if self._size else None

    @property
    def last(self) -> Optional[str]:
        return format_ip(self._family, self._network + self._size) if self._size else None

    @property
    def band_offset(self) -> int:
        return self._band

    @property
    def strategy(self) -> str:
        return _STRATEGY_NAMES[self._strategy]

    @property
    def used(self) -> int:
        return self._store.count

    @property
    def free(self) -> int:
        return self._size - self._store.count

    # -- input -------------------------------------------------------------------------------

    def _address(self, ip: Any) -> Tuple[int, int]:
        """(family, value) of an address argument; an int is of this allocator's family."""
        if isinstance(ip, int) and not isinstance(ip, bool):
            if not 0 <= ip <= (_MAX_IPV4 if self._family == 4 else _MAX_IPV6):
                raise _ip_error(ip, f"out of the {self.family} address range")
            return self._family, ip
        return parse_ip(ip)

    def _offset(self, family: int, value: int) -> int:
        """Offset of a usable address of this CIDR, else -1."""
        if family != self._family:
            return -1
        offset = value - self._network - 1
        return offset if 0 <= offset < self._size else -1

    def _text(self, offset: int) -> str:
        return format_ip(self._family, self._network + 1 + offset)

    # -- allocation --------------------------------------------------------------------------

    def _take(self, offset: int) -> None:
        self._store.set(offset)
        if offset < self._band:
            self._used_static += 1

    def _next_offset(self) -> int:
        """The offset the strategy picks next (not yet taken), or -1 when the range is full."""
        store, size, band = self._store, self._size, self._band
        dynamic_free = (size - band) - (store.count - self._used_static)
        if self._strategy == 0:
            if dynamic_free > 0:
                start = band + self._rng.bounded(size - band)
                offset = store.first_free(start, size)
                return offset if offset >= 0 else store.first_free(band, start)
            if band - self._used_static > 0:
                start = self._rng.bounded(band)
                offset = store.first_free(start, band)
                return offset if offset >= 0 else store.first_free(0, start)
            return -1
        if dynamic_free > 0:
            return store.first_free(band, size)
        if band - self._used_static > 0:
            return store.first_free(0, band)
        return -1

    def allocate(self, ip: Any) -> str:
        """Take this address (either band). Taken → ``AlreadyAllocatedError``; not usable here
        (outside, network, IPv4 broadcast, other family) → ``NotInRangeError``."""
        family, value = self._address(ip)
        with self._lock:
            offset = self._offset(family, value)
            if offset < 0:
                raise NotInRangeError(format_ip(family, value), self._cidr_text)
            if self._store.test(offset):
                raise AlreadyAllocatedError()
            self._take(offset)
        return format_ip(family, value)

    def allocate_next(self) -> str:
        """The next address by the strategy; ``RangeFullError`` when nothing is free."""
        with self._lock:
            offset = self._next_offset()
            if offset < 0:
                raise RangeFullError()
            self._take(offset)
        return self._text(offset)

    def allocate_next_int(self) -> int:
        """Like ``allocate_next`` but returns the address as an int."""
        with self._lock:
            offset = self._next_offset()
            if offset < 0:
                raise RangeFullError()
            self._take(offset)
        return self._network + 1 + offset

    def _many_offsets(self, n: Any) -> List[int]:
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"n must be an int, not {type(n).__name__}")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        with self._lock:
            if self._size - self._store.count < n:
                raise RangeFullError()
            offsets = []
            for _ in range(n):
                offset = self._next_offset()
                self._take(offset)
                offsets.append(offset)
        return offsets

    def allocate_many(self, n: int) -> List[str]:
        """``n`` addresses as ``n`` successive ``allocate_next()`` would give, all or nothing."""
        return [self._text(offset) for offset in self._many_offsets(n)]

    def allocate_many_int(self, n: int) -> List[int]:
        """Like ``allocate_many`` but returns ints."""
        base = self._network + 1
        return [base + offset for offset in self._many_offsets(n)]

    def release(self, ip: Any) -> None:
        """Free the address; a no-op when it is free or not in this range (idempotent)."""
        family, value = self._address(ip)
        with self._lock:
            offset = self._offset(family, value)
            if offset >= 0 and self._store.clear(offset) and offset < self._band:
                self._used_static -= 1

    def has(self, ip: Any) -> bool:
        """True when the address is allocated here."""
        family, value = self._address(ip)
        with self._lock:
            offset = self._offset(family, value)
            return offset >= 0 and self._store.test(offset)

    def __contains__(self, ip: Any) -> bool:
        return self.has(ip)

    def __len__(self) -> int:
        return self._store.count

    # -- free space (docs/ALGORITHMS.md "Free space"; the argument checks are in _freespace) ------
    def _window(self, cidr: Any) -> None:
        if cidr is not None and parse_cidr(cidr) != (self._family, self._network, self._prefix):
            raise KeyError(canonical_cidr(cidr))

    def _free_runs(self, cidr: Any, after: Optional[Tuple[int, int]],
                   limit: int) -> List[Tuple[int, int, int]]:
        self._window(cidr)
        base = self._network + 1
        start = 0
        if after is not None:
            family, value = after
            if family > self._family or (family == self._family and value >= base + self._size - 1):
                return []
            if family == self._family and value >= base:
                start = value - base + 1
        out: List[Tuple[int, int, int]] = []
        with self._lock:
            store, size, p = self._store, self._size, start
            while p < size and (limit == 0 or len(out) < limit):
                used = store.first_set(p, size)
                end = size if used < 0 else used
                if end > p:
                    out.append((self._family, base + p, base + end - 1))
                if used < 0:
                    break
                p = store.first_free(used, size)
                if p < 0:
                    break
        return out

    def free_ranges(self, cidr: Any = None, *, limit: Optional[int] = None) -> List[Tuple[str, str]]:
        """Maximal runs of free usable addresses, ``(first, last)`` canonical text, in address
        order; at most ``limit`` runs. O(runs), not O(addresses). ``cidr``: this allocator's CIDR
        or None (anything else: ``KeyError``)."""
        return _freespace.free_ranges(self, cidr, limit)

    def iter_free(self, cidr: Any = None) -> Iterator[str]:
        """The free usable addresses, lazily, in address order."""
        return _freespace.iter_free(self, cidr)

    def first_free(self, n: int, cidr: Any = None) -> List[str]:
        """The first ``n`` free usable addresses in address order (fewer if fewer are free); O(n)."""
        return _freespace.first_free(self, n, cidr)

    def stats(self) -> Dict[str, Any]:
        """``{"size", "used", "free", "utilisation"}`` (utilisation = used / size, 0.0 if size is 0)."""
        with self._lock:
            used = self._store.count
        return _freespace.utilisation(self._size, used)

    def __iter__(self) -> Iterator[str]:
        position = 0
        while True:
            with self._lock:
                offset = self._store.first_set(position, self._size)
            if offset < 0:
                return
            yield self._text(offset)
            position = offset + 1

    def __repr__(self) -> str:
        return (
            f"CIDRAllocator({self._cidr_text!r}, strategy={self.strategy!r}, "
            f"used={self._store.count}, size={self._size})"
        )

    def __sizeof__(self) -> int:
        return object.__sizeof__(self) + self._store.nbytes()

    # -- snapshots ---------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The allocator as bytes (docs/ALGORITHMS.md "Snapshot format", version 2: per 64 Ki
        block a bitmap, a run list or a one-byte tag); ``restore`` reads it back."""
        with self._lock:
            runs = list(self._store.runs())
            state = self._rng.state
            used = self._store.count
        body = encode_body(self._size, runs)
        head = _HEADER.pack(_MAGIC, _VERSION, self._family, self._prefix,
                            self._network.to_bytes(16, "big"), self._strategy, *state, used, len(body))
        return head + body + _CRC.pack(zlib.crc32(body, zlib.crc32(head)))

    @classmethod
    def restore(cls, data: Any) -> "CIDRAllocator":
        """Rebuild an allocator from ``snapshot()`` bytes of either backend, format version 2 or 1.

        Everything is validated before anything is built; any defect → ``SnapshotError``
        (a ``ValueError``); input that is not bytes-like → ``TypeError``.
        """
        raw = snapshot_bytes(data)
        if raw[:4] == _MULTI_MAGIC:
            raise SnapshotError("not a CIDRAllocator snapshot (it is a MultiCIDRAllocator one)")
        if raw[:4] != _MAGIC:
            if len(raw) < 4 and _MAGIC.startswith(raw):
                raise SnapshotError(f"snapshot truncated: {len(raw)} bytes")
            raise SnapshotError("not a fastcidr CIDRAllocator snapshot (bad magic)")
        if len(raw) < _HEADER.size + _CRC.size:
            raise SnapshotError(f"snapshot truncated: {len(raw)} bytes")
        (
            _magic,
            version,
            family,
            prefix,
            network_bytes,
            strategy,
            s0,
            s1,
            s2,
            s3,
            used,
            last,  # version 1: the run count; version 2: the body length
        ) = _HEADER.unpack_from(raw, 0)
        if version not in (FCAL_VERSION_RUNS, _VERSION):
            raise SnapshotError(f"unsupported snapshot version {version}")
        body_size = last * _RUN.size if version == FCAL_VERSION_RUNS else last
        if len(raw) != _HEADER.size + body_size + _CRC.size:
            raise SnapshotError(f"snapshot length {len(raw)} does not match its header")
        (crc,) = _CRC.unpack_from(raw, len(raw) - _CRC.size)
        if zlib.crc32(raw[: len(raw) - _CRC.size]) != crc:
            raise SnapshotError("snapshot checksum mismatch")
        if family not in (4, 6):
            raise SnapshotError(f"snapshot has an invalid address family {family}")
        if prefix > _WIDTH[family]:
            raise SnapshotError(f"snapshot has an invalid prefix length {prefix}")
        network = int.from_bytes(network_bytes, "big")
        if family == 4 and network > _MAX_IPV4:
            raise SnapshotError("snapshot has an invalid IPv4 network")
        if network & ~_prefix_mask(family, prefix):
            raise SnapshotError("snapshot network has host bits set")
        try:
            check_allocatable(family, network, prefix)
        except InvalidAddressError as exc:
            raise SnapshotError(f"snapshot CIDR is not allocatable: {exc}") from None
        if strategy not in _STRATEGY_NAMES:
            raise SnapshotError(f"snapshot has an invalid strategy {strategy}")
        if not (s0 | s1 | s2 | s3):
            raise SnapshotError("snapshot has an all-zero random generator state")
        size = usable_size(family, prefix)
        if used > size:
            raise SnapshotError("snapshot: more addresses used than the range holds")
        if version == FCAL_VERSION_RUNS:
            runs = list(_RUN.iter_unpack(raw[_HEADER.size: len(raw) - _CRC.size]))
        else:
            runs = decode_body(raw[_HEADER.size: len(raw) - _CRC.size], size)
        total = 0
        next_allowed = 0  # runs are ascending, disjoint and non-adjacent
        for start, length in runs:
            if length < 1:
                raise SnapshotError("snapshot has an empty run")
            if start < next_allowed:
                raise SnapshotError("snapshot runs are not ascending, disjoint and non-adjacent")
            if start + length > size:
                raise SnapshotError("snapshot run lies outside the range")
            next_allowed = start + length + 1
            total += length
        if total != used:
            raise SnapshotError(f"snapshot counts {used} used addresses but its runs hold {total}")
        self = cls.__new__(cls)
        self._setup(family, network, prefix, strategy, Xoshiro256.from_state((s0, s1, s2, s3)))
        band = self._band
        for start, length in runs:
            self._store.set_run(start, length)
            if start < band:
                self._used_static += min(start + length, band) - start
        return self

    def __reduce__(self) -> Tuple[Any, Tuple[bytes]]:
        return (self.__class__.restore, (self.snapshot(),))

    def copy(self) -> "CIDRAllocator":
        """An independent copy (same addresses, same generator state)."""
        return self.restore(self.snapshot())

    def __copy__(self) -> "CIDRAllocator":
        return self.copy()

    def __deepcopy__(self, memo: dict) -> "CIDRAllocator":
        return self.copy()


__all__ = [
    "CIDRAllocator",
    "parse_ip",
    "parse_cidr",
    "format_ip",
    "format_cidr",
    "canonical_ip",
    "canonical_cidr",
]

