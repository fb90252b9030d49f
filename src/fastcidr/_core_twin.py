"""The pure-Python twin of the compiled core (``_core``): same API, same algorithms, same results.

Everything here follows ``docs/ALGORITHMS.md`` to the bit, so that a seed gives the same addresses
and a snapshot written by either backend restores in the other. The twin is slower than the
compiled core by a constant factor only: the same hierarchical bitmap and run index, written in
Python.

Besides ``CIDRAllocator`` this module re-exports the address parsers of ``_addr_twin`` (the twin
of ``_addr``; the canonical formatting and the rules both backends share live in ``_rules``) and
the building blocks that the other twins (``_tree_twin``, ``_multi_twin``) import:

- ``Xoshiro256(seed)``: the xoshiro256** generator (``next()``, ``bounded(n)``, ``state``,
  ``Xoshiro256.from_state(words)``).
- ``DenseBitmap(nbits)`` and ``RunSet()`` of ``_space_twin`` (the twin of ``fc_space.h``): a
  hierarchical, lazily paged bitmap over up to 2**32 offsets, and maximal runs for sparse ranges.

>>> a = CIDRAllocator("10.96.0.0/28", seed=1, strategy="sequential")
>>> a.allocate_next()
'10.96.0.1'
"""
from __future__ import annotations

import os
import threading
import zlib
from typing import Any, Dict, Iterator, List, Optional, Tuple

from . import _freespace
from ._addr_twin import (  # noqa: F401 - re-exported: the twins import their parsers from here
    _MAX_IPV4,
    _MAX_IPV6,
    _ip_error,
    _parse_ip_text,
    _prefix_mask,
    canonical_cidr,
    canonical_ip,
    parse_cidr,
    parse_ip,
)
from ._snapshot_twin import decode_body, decode_body_parts, encode_body, encode_body_dense
from ._space_twin import DenseBitmap, RunSet, new_storage  # noqa: F401 - re-exported too
from ._rules import (
    CRC,
    FCAL_HEADER,
    FCAL_MAGIC,
    FCAL_RUN,
    FCAL_VERSION,
    FCAL_VERSION_RUNS,
    FCMA_MAGIC,
    OUTPUTS,
    band_offset,
    check_allocatable,
    format_cidr,
    format_ip,
    output_code,
    output_formatter,
    output_maker,
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
        "_out",
        "_maker",
        "_formatter",
        "__weakref__",
    )

    def __init__(self, cidr: Any, *, seed: Optional[int] = None, strategy: str = "random",
                 output: str = "str") -> None:
        out = output_code(output)
        if strategy not in _STRATEGIES:
            raise ValueError(f"strategy must be 'random' or 'sequential', got {strategy!r}")
        if seed is not None and not isinstance(seed, int):
            raise TypeError(f"seed must be an int or None, not {type(seed).__name__}")
        family, network, prefix = parse_cidr(cidr)
        check_allocatable(family, network, prefix)
        self._setup(family, network, prefix, _STRATEGIES[strategy], Xoshiro256(seed))
        self._set_output(out)

    def _set_output(self, out: int) -> None:
        self._out = out
        self._maker = output_maker(out, self._family)
        self._formatter = output_formatter(out)

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
        return self._text(0) if self._size else None

    @property
    def last(self) -> Optional[str]:
        return self._text(self._size - 1) if self._size else None

    @property
    def band_offset(self) -> int:
        return self._band

    @property
    def strategy(self) -> str:
        return _STRATEGY_NAMES[self._strategy]

    @property
    def output(self) -> str:
        return OUTPUTS[self._out]

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

    def _text(self, offset: int) -> Any:
        """The address at ``offset`` in the output type (canonical text by default)."""
        if self._out == 0:
            return format_ip(self._family, self._network + 1 + offset)
        if self._out == 1:
            return self._network + 1 + offset
        return self._maker(self._network + 1 + offset)  # type: ignore[misc]

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
        return self._text(offset)

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
        return _freespace.free_ranges(self, cidr, limit, self._formatter)

    def iter_free(self, cidr: Any = None) -> Iterator[str]:
        """The free usable addresses, lazily, in address order."""
        return _freespace.iter_free(self, cidr, self._formatter)

    def first_free(self, n: int, cidr: Any = None) -> List[str]:
        """The first ``n`` free usable addresses in address order (fewer if fewer are free); O(n)."""
        return _freespace.first_free(self, n, cidr, self._formatter)

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
        shown = f", output={self.output!r}" if self._out else ""
        return (
            f"CIDRAllocator({self._cidr_text!r}, strategy={self.strategy!r}{shown}, "
            f"used={self._store.count}, size={self._size})"
        )

    def __sizeof__(self) -> int:
        return object.__sizeof__(self) + self._store.nbytes()

    # -- snapshots ---------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The allocator as bytes (docs/ALGORITHMS.md "Snapshot format", version 2: per 64 Ki
        block a bitmap, a run list or a one-byte tag); ``restore`` reads it back."""
        with self._lock:
            if isinstance(self._store, DenseBitmap):  # block by block from the words
                body = encode_body_dense(self._size, self._store.block_bits)
            else:
                body = encode_body(self._size, self._store.runs())
            state = self._rng.state
            used = self._store.count
        head = _HEADER.pack(_MAGIC, _VERSION, self._family, self._prefix,
                            self._network.to_bytes(16, "big"), self._strategy, *state, used, len(body))
        return head + body + _CRC.pack(zlib.crc32(body, zlib.crc32(head)))

    @classmethod
    def restore(cls, data: Any, *, output: str = "str") -> "CIDRAllocator":
        """Rebuild an allocator from ``snapshot()`` bytes of either backend, format version 2 or 1.

        Everything is validated before anything is built; any defect → ``SnapshotError``
        (a ``ValueError``); input that is not bytes-like → ``TypeError``. A snapshot holds state
        only: ``output`` is chosen here (pickle and ``copy()`` keep the allocator's own).
        """
        out = output_code(output)
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
        bitmaps: List[Tuple[int, int, int]] = []
        if version == FCAL_VERSION_RUNS:
            runs = list(_RUN.iter_unpack(raw[_HEADER.size: len(raw) - _CRC.size]))
        elif size <= 1 << 32:  # a DenseBitmap takes the bitmap blocks whole
            runs, bitmaps = decode_body_parts(raw[_HEADER.size: len(raw) - _CRC.size], size)
        else:
            runs = decode_body(raw[_HEADER.size: len(raw) - _CRC.size], size)
        total = sum(value.bit_count() for _, _, value in bitmaps)
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
        self._set_output(out)
        band = self._band
        for start, length in runs:
            self._store.set_run(start, length)
        for first_word, nwords, value in bitmaps:
            self._store.load_bits(first_word, nwords, value)
        self._used_static = sum(1 for offset in range(band) if self._store.test(offset))  # band <= 256
        return self

    def __reduce__(self) -> Tuple[Any, Tuple[bytes], str]:
        return (self.__class__.restore, (self.snapshot(),), self.output)

    def __setstate__(self, state: str) -> None:
        self._set_output(output_code(state))

    def copy(self) -> "CIDRAllocator":
        """An independent copy (same addresses, same generator state, same output type)."""
        return self.restore(self.snapshot(), output=self.output)

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

