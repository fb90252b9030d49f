"""Many CIDRs: ``MultiCIDRAllocator.allocate_next`` against one ``CIDRAllocator`` (docs/performance.md target 5).

Run: ``.venv/bin/python -m pytest bench/bench_multi.py --benchmark-only
--benchmark-columns=median,iqr --benchmark-sort=name``. A round is ``OPS`` calls; divide the
median by ``extra_info["ops"]`` for ns per call.

Groups ``multi-next/<N>``, N = 1 / 1,000 / 100,000 CIDRs, each with the single-CIDR baseline
(``CIDRAllocator("10.0.0.0/12").allocate_next()``, random strategy) beside it:
- N = 1: ``10.0.0.0/12``; N = 1,000: disjoint /22s; N = 100,000: disjoint /24s (10.0.0.0 - 10.1.134.0);
- policies ``weighted`` (default: a random CIDR, probability proportional to its free addresses),
  ``random`` (uniform) and ``ordered`` (the first CIDR with room). Each CIDR then allocates by the
  Kubernetes band rule (random start), as the single allocator does.
The allocators are built once (outside the timer) and keep filling across rounds: every setup stays
below 25% full, and the cost of one call does not depend on the fill level (O(1) storage).
"""
from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any, List

import pytest

from benchutil import call_n
from fastcidr._core import CIDRAllocator
from fastcidr._multi import MultiCIDRAllocator

OPS = 20_000
ROUNDS = 10
SIZES = [1, 1_000, 100_000]


def cidrs_for(n: int) -> List[str]:
    if n == 1:
        return ["10.0.0.0/12"]
    step, plen = (1 << 10, 22) if n == 1_000 else (1 << 8, 24)
    return [f"{ipaddress.IPv4Address(0x0A000000 + i * step)}/{plen}" for i in range(n)]


@lru_cache(maxsize=None)
def multi(n: int, policy: str) -> MultiCIDRAllocator:
    return MultiCIDRAllocator(cidrs_for(n), seed=n, policy=policy)


@lru_cache(maxsize=None)
def single(n: int) -> CIDRAllocator:
    return CIDRAllocator("10.0.0.0/12", seed=n)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("impl", ["single-CIDRAllocator", "fastcidr-weighted", "fastcidr-random",
                                  "fastcidr-ordered"])
def bench_multi_next(benchmark: Any, impl: str, n: int) -> None:
    benchmark.group = f"multi-next/{n}"
    benchmark.extra_info["ops"] = OPS
    if impl == "single-CIDRAllocator":
        op = single(n).allocate_next
    else:
        op = multi(n, impl.split("-")[1]).allocate_next
    benchmark.pedantic(call_n, args=(op, OPS), rounds=ROUNDS, warmup_rounds=1)


@pytest.mark.parametrize("n", [1_000, 100_000])
def bench_multi_specific(benchmark: Any, n: int) -> None:
    """allocate(ip) + release(ip) through the CIDR index (the trie walk), n CIDRs."""
    benchmark.group = f"multi-specific/{n}"
    m = MultiCIDRAllocator(cidrs_for(n), seed=1)
    ips = [str(ipaddress.IPv4Address(int(ipaddress.ip_network(c).network_address) + 5))
           for c in cidrs_for(n)[: min(n, OPS)]]
    benchmark.extra_info["ops"] = 2 * len(ips)

    def run() -> None:
        for ip in ips:
            m.allocate(ip)
        for ip in ips:
            m.release(ip)

    benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=1)


def bench_multi_build(benchmark: Any) -> None:
    """Adding 100,000 CIDRs (the candidate index and the trie are built incrementally)."""
    benchmark.group = "multi-build/100000"
    benchmark.extra_info["ops"] = 100_000
    cidrs = cidrs_for(100_000)
    benchmark.pedantic(lambda: MultiCIDRAllocator(cidrs), rounds=3)
