"""Free space and utilisation, written once for both backends and both allocator classes
(docs/ALGORITHMS.md "Free space").

Each allocator offers one primitive, ``_free_runs(cidr, after, limit)``: the maximal runs of free
usable addresses, in address order (IPv4 first), as ``(family, first, last)`` integers, only
addresses after ``after = (family, value)`` when given, at most ``limit`` runs (0: all). It walks
the allocated runs of the storage, so it costs O(runs returned), never O(addresses). Everything
here is the argument checking and the formatting on top of it.

>>> from fastcidr import CIDRAllocator
>>> a = CIDRAllocator("10.0.0.0/29", seed=1)
>>> _ = a.allocate("10.0.0.3")
>>> free_ranges(a, None, None)
[('10.0.0.1', '10.0.0.2'), ('10.0.0.4', '10.0.0.6')]
>>> first_free(a, 3, None)
['10.0.0.1', '10.0.0.2', '10.0.0.4']
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

from ._rules import format_ip

__all__ = ["free_ranges", "iter_free", "first_free", "utilisation"]

# Runs fetched per step of iter_free / first_free: small enough that the first address comes at
# once, large enough that the per-call overhead disappears.
_BATCH = 256

Format = Callable[[int, int], str]  # (family, value) -> canonical text; the compiled core passes its C one


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{what} must be >= 0, got {value}")
    return value


def free_ranges(alloc: Any, cidr: Any, limit: Optional[int], fmt: Format = format_ip) -> List[Tuple[str, str]]:
    """Maximal runs of free usable addresses as ``(first, last)`` canonical text, in address order."""
    n = None if limit is None else _count(limit, "limit")
    runs = alloc._free_runs(cidr, None, 1 if n == 0 else (n or 0))  # KeyError even when n == 0
    if n == 0:
        return []
    return [(fmt(family, first), fmt(family, last)) for family, first, last in runs]


def _addresses(alloc: Any, cidr: Any, runs: List[Tuple[int, int, int]], fmt: Format) -> Iterator[str]:
    while runs:
        for family, first, last in runs:
            for value in range(first, last + 1):
                yield fmt(family, value)
        if len(runs) < _BATCH:
            return
        family, _, last = runs[-1]
        runs = alloc._free_runs(cidr, (family, last), _BATCH)


def iter_free(alloc: Any, cidr: Any, fmt: Format = format_ip) -> Iterator[str]:
    """Free usable addresses one by one, in address order, fetched a batch of runs at a time (an
    unknown ``cidr`` raises at the call, not at the first ``next``)."""
    return _addresses(alloc, cidr, alloc._free_runs(cidr, None, _BATCH), fmt)


def first_free(alloc: Any, n: int, cidr: Any, fmt: Format = format_ip) -> List[str]:
    """The first ``n`` free usable addresses in address order (fewer when fewer are free): O(n),
    since every run holds at least one address."""
    n = _count(n, "n")
    out: List[str] = []
    runs = alloc._free_runs(cidr, None, min(n, _BATCH) or 1)
    while runs and len(out) < n:
        for family, first, last in runs:
            for value in range(first, min(last, first + (n - len(out)) - 1) + 1):
                out.append(fmt(family, value))
            if len(out) >= n:
                return out
        family, _, last = runs[-1]
        runs = alloc._free_runs(cidr, (family, last), min(n - len(out), _BATCH))
    return out


def utilisation(size: int, used: int) -> Dict[str, Union[int, float]]:
    """The stats dict: ``size``, ``used``, ``free`` and ``utilisation`` (used / size, 0.0 when empty)."""
    return {"size": size, "used": used, "free": size - used, "utilisation": used / size if size else 0.0}
