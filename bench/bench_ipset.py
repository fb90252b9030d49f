"""``fastcidr.IPSet`` against ``netaddr.IPSet`` on the operations an address pool uses.

Run: ``.venv/bin/python -m pytest bench/bench_ipset.py --benchmark-only
--benchmark-columns=median,iqr --benchmark-sort=name``. A round is ``extra_info["ops"]``
operations; divide the median by it for the time per operation.

Pools (docs/ipset.md "Performance"): a Service range of 65,536 addresses (10.96.0.0/16) holding
``USED`` addresses taken at random, plus a second, IPv6 pool; every state is built outside the
timer (``timed_batch`` rebuilds it before each round, as a mutated set cannot be reused).
Groups ``ipset-<op>``:
- ``add``: ``OPS`` random free addresses added one by one (allocation bookkeeping);
- ``remove``: ``OPS`` random used addresses removed one by one (release);
- ``contains``: ``OPS`` random addresses of the /16 tested for membership;
- ``union`` / ``intersection`` / ``difference``: the pool with another of the same shape (one op);
- ``add-slash8``: one /8 added to the pool (netaddr keeps CIDRs, fastcidr runs: both instant?);
- ``build``: the pool built from its ``USED`` addresses (constructor over a list);
- ``scale-add`` / ``scale-contains``: ``OPS`` adds / lookups in a /12 holding ``BIG_USED`` random
  addresses (~200,000 runs: where one flat sorted list would pay a memmove per change).
"""
from __future__ import annotations

import ipaddress
import random
from functools import lru_cache
from typing import Any, Callable, List, Tuple

import netaddr
import pytest

from benchutil import timed_batch
from fastcidr.ipset import IPSet

USED = 10_000
OPS = 2_000
POOL = ipaddress.ip_network("10.96.0.0/16")
BIG_USED = 200_000
BIG_POOL = ipaddress.ip_network("10.96.0.0/12")
IMPLS = {"fastcidr": IPSet, "netaddr": netaddr.IPSet}


@lru_cache(maxsize=None)
def addresses(seed: int) -> Tuple[List[str], List[str], List[str]]:
    """(used, free sample, probe sample) of the /16, as text."""
    rng = random.Random(seed)
    base = int(POOL.network_address)
    offsets = rng.sample(range(POOL.num_addresses), USED + OPS)
    used = [str(ipaddress.IPv4Address(base + o)) for o in offsets[:USED]]
    free = [str(ipaddress.IPv4Address(base + o)) for o in offsets[USED:]]
    probes = [str(ipaddress.IPv4Address(base + rng.randrange(POOL.num_addresses))) for _ in range(OPS)]
    return used, free, probes


@lru_cache(maxsize=None)
def pool(impl: str, seed: int) -> Any:
    used = addresses(seed)[0]
    built = IMPLS[impl](used + ["2001:db8::/120", "fd00::1", "fd00::3"])
    return built


def fresh_pool(impl: str, seed: int) -> Any:
    return pool(impl, seed).copy()


def _sanity(impl: str) -> None:
    ours, theirs = pool("fastcidr", 1), pool("netaddr", 1)
    assert [str(c) for c in ours.iter_cidrs()] == [str(c) for c in theirs.iter_cidrs()]


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("op", ["add", "remove", "contains"])
def bench_ipset_single(benchmark: Any, impl: str, op: str) -> None:
    benchmark.group = f"ipset-{op}"
    _sanity(impl)
    used, free, probes = addresses(1)
    args = {"add": free, "remove": used[:OPS], "contains": probes}[op]

    def fresh() -> Tuple[Callable[[Any], Any], List[str]]:
        target = fresh_pool(impl, 1) if op != "contains" else pool(impl, 1)
        method = {"add": target.add, "remove": target.remove, "contains": target.__contains__}[op]
        return method, args

    timed_batch(benchmark, fresh, OPS, rounds=5 if impl == "netaddr" and op == "remove" else 15, mapped=True)


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("op", ["union", "intersection", "difference"])
def bench_ipset_algebra(benchmark: Any, impl: str, op: str) -> None:
    benchmark.group = f"ipset-{op}"
    left, right = pool(impl, 1), pool(impl, 2)
    benchmark.extra_info["ops"] = 1
    result = benchmark.pedantic(getattr(left, op), args=(right,), rounds=10, warmup_rounds=1)
    expected = getattr(pool("netaddr", 1), op)(pool("netaddr", 2))
    assert result.size == expected.size


@pytest.mark.parametrize("impl", list(IMPLS))
def bench_ipset_add_slash8(benchmark: Any, impl: str) -> None:
    benchmark.group = "ipset-add-slash8"

    def fresh() -> Tuple[Callable[[Any], Any], List[str]]:
        return fresh_pool(impl, 1).add, ["11.0.0.0/8"]

    timed_batch(benchmark, fresh, 1, rounds=15, mapped=True)


@pytest.mark.parametrize("impl", list(IMPLS))
def bench_ipset_build(benchmark: Any, impl: str) -> None:
    benchmark.group = "ipset-build"
    used = addresses(1)[0]
    benchmark.extra_info["ops"] = len(used)
    built = benchmark.pedantic(IMPLS[impl], args=(used,), rounds=5, warmup_rounds=1)
    assert built.size == USED


@lru_cache(maxsize=None)
def big_addresses() -> Tuple[List[str], List[str]]:
    rng = random.Random(12)
    base = int(BIG_POOL.network_address)
    offsets = rng.sample(range(BIG_POOL.num_addresses), BIG_USED + OPS)
    return ([str(ipaddress.IPv4Address(base + o)) for o in offsets[:BIG_USED]],
            [str(ipaddress.IPv4Address(base + o)) for o in offsets[BIG_USED:]])


@lru_cache(maxsize=None)
def big_pool(impl: str) -> Any:
    return IMPLS[impl](big_addresses()[0])


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("op", ["add", "contains"])
def bench_ipset_scale(benchmark: Any, impl: str, op: str) -> None:
    benchmark.group = f"ipset-scale-{op}"
    free = big_addresses()[1]

    def fresh() -> Tuple[Callable[[Any], Any], List[str]]:
        if op == "contains":
            return big_pool(impl).__contains__, free
        return big_pool(impl).copy().add, free

    timed_batch(benchmark, fresh, OPS, rounds=5, mapped=True)
