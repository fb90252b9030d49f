"""One CIDR: fastcidr's ``CIDRAllocator`` side by side with what a Python user can build today.

Run: ``make bench`` or ``.venv/bin/python -m pytest bench/bench_single.py --benchmark-only
--benchmark-columns=median,iqr --benchmark-sort=name``. Medians are per round; divide by
``extra_info["ops"]`` for ns per operation (``scripts/plot_bench.py`` does).

Groups (docs/performance.md targets):
- ``next-v4/<prefix>-<level>`` (1): next address at the first 1%, 50% and last 1% of an IPv4 /16 and
  /12. fastcidr (str and int paths, random strategy, random fill) against pyroaring (BitMap of free
  offsets, ``min()`` + ``remove()``), bitarray (``find(0, hint)``), an ``ipaddress`` cursor loop and
  netaddr ``IPSet`` where they are not absurdly slow.
- ``next-v6/64-<n>`` (7): next address of an IPv6 /64 holding n = 1k / 50k / 100k random addresses,
  against a pyroaring ``BitMap64`` with a cursor.
- ``specific-<op>`` (3): allocate / release / has of a given address on a half-full /16, str and
  int input, against bitarray's int path (each peer op a small Python function, as a user writes
  it; docs/performance.md's bitarray numbers are of that kind).
- ``churn-90`` (4): release + next at 90% full, against pyroaring.
- ``fill-v4/12`` (2): a whole /12 with ``allocate_many`` against loops of the peers.
- ``memory-*`` (8): bytes per address in ``extra_info`` (timing is the build).
- ``snapshot-*`` / ``restore-*`` (9): a full and a half-full /12, snapshot format version 2, against
  pyroaring's ``serialize`` / ``deserialize`` of the same set (issue 13: a half-full random /12 in
  <= 200 KB, ``extra_info["bytes"]``, and within 2x of pyroaring both ways).
- ``next-output/<type>``: ``allocate_next`` of a /12 for each ``output=`` type; ``str`` is the
  default path and must cost what it cost before the option existed.
"""
from __future__ import annotations

import ipaddress
import pickle
import random
import sys
from functools import lru_cache
from typing import Any, Callable, List, Tuple

import bitarray
import netaddr
import pyroaring
import pytest

from benchutil import call_n, timed_batch
from fastcidr._core import CIDRAllocator

# fill levels: the next-address levels, plus 90% for churn
LEVELS = {"first1": 0.005, "half": 0.5, "last1": 0.995, "churn": 0.9}
NEXT_LEVELS = ["first1", "half", "last1"]
OPS = 200  # operations per timed round (the last 1% of a /16 has 327 free addresses)
ROUNDS = 100


# ------------------------------------------------------------------------------------------
# Prepared states (built once per session, copied into every round)
# ------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def v4_state(prefix: int, level: str) -> Tuple[CIDRAllocator, List[int]]:
    """A randomly filled allocator (the Kubernetes distribution) and its allocated offsets."""
    alloc = CIDRAllocator(f"10.0.0.0/{prefix}", seed=1)
    base = int(ipaddress.ip_address(alloc.first))
    values = alloc.allocate_many_int(int(alloc.size * LEVELS[level]))
    return alloc, [v - base for v in values]


@lru_cache(maxsize=None)
def roaring_free(prefix: int, level: str) -> pyroaring.BitMap:
    alloc, offsets = v4_state(prefix, level)
    free = pyroaring.BitMap(range(alloc.size))
    free.difference_update(pyroaring.BitMap(offsets))
    return free


@lru_cache(maxsize=None)
def bitarray_taken(prefix: int, level: str) -> bitarray.bitarray:
    alloc, offsets = v4_state(prefix, level)
    bits = bitarray.bitarray(alloc.size)
    bits.setall(0)
    if offsets:
        bits[offsets] = 1
    return bits


@lru_cache(maxsize=None)
def v6_state(count: int) -> Tuple[CIDRAllocator, List[int]]:
    alloc = CIDRAllocator("fd00:1:2:3::/64", seed=1)
    base = int(ipaddress.ip_address(alloc.first))
    return alloc, [v - base for v in alloc.allocate_many_int(count)]


# ------------------------------------------------------------------------------------------
# Next address, IPv4 (target 1)
# ------------------------------------------------------------------------------------------

V4_CASES = [(p, lvl) for p in (16, 12) for lvl in NEXT_LEVELS]


def _pyroaring_next(free: pyroaring.BitMap) -> Callable[[], int]:
    def allocate_next() -> int:
        offset = free.min()
        free.remove(offset)
        return offset

    return allocate_next


def _bitarray_next(bits: bitarray.bitarray) -> Callable[[], int]:
    hint = [0]

    def allocate_next() -> int:
        offset = bits.find(0, hint[0])
        if offset < 0:
            offset = bits.find(0)
            if offset < 0:
                raise LookupError("full")
        bits[offset] = 1
        hint[0] = offset
        return offset

    return allocate_next


def _ipaddress_next(prefix: int, level: str) -> Callable[[], str]:
    """NetBox-style: walk the hosts, skip the taken ones (a set of canonical strings)."""
    alloc, offsets = v4_state(prefix, level)
    network = ipaddress.ip_network(alloc.cidr)
    base = int(network.network_address) + 1
    taken = {str(ipaddress.IPv4Address(base + o)) for o in offsets}
    hosts = network.hosts()

    def allocate_next() -> str:
        for host in hosts:
            text = str(host)
            if text not in taken:
                taken.add(text)
                return text
        raise LookupError("full")

    return allocate_next


def _netaddr_next(prefix: int, level: str) -> Callable[[], str]:
    alloc, offsets = v4_state(prefix, level)
    network = netaddr.IPNetwork(alloc.cidr)
    free = netaddr.IPSet(netaddr.IPRange(network.first + 1, network.last - 1))
    for o in offsets:
        free.remove(network.first + 1 + o)

    def allocate_next() -> str:
        ip = next(iter(free))
        free.remove(ip)
        return str(ip)

    return allocate_next


@pytest.mark.parametrize("prefix, level", V4_CASES, ids=[f"v4/{p}-{lvl}" for p, lvl in V4_CASES])
@pytest.mark.parametrize("impl", ["fastcidr-str", "fastcidr-int", "pyroaring", "bitarray"])
def bench_next_v4(benchmark: Any, impl: str, prefix: int, level: str) -> None:
    benchmark.group = f"next-v4/{prefix}-{level}"

    def fresh() -> Tuple[Callable[[], Any], None]:
        if impl.startswith("fastcidr"):
            alloc = v4_state(prefix, level)[0].copy()
            return (alloc.allocate_next if impl == "fastcidr-str" else alloc.allocate_next_int), None
        if impl == "pyroaring":
            return _pyroaring_next(roaring_free(prefix, level).copy()), None
        return _bitarray_next(bitarray_taken(prefix, level).copy()), None

    timed_batch(benchmark, fresh, OPS, rounds=ROUNDS)


# netaddr's IPSet of a fragmented half-full /16 takes minutes to build: first 1% only
SLOW_PEERS = [("ipaddress", "first1"), ("ipaddress", "half"), ("netaddr", "first1")]


@pytest.mark.parametrize("impl, level", SLOW_PEERS, ids=[f"{i}-v4/16-{lvl}" for i, lvl in SLOW_PEERS])
def bench_next_v4_slow_peers(benchmark: Any, impl: str, level: str) -> None:
    """The pure-Python peers, only on a /16 and where a round takes milliseconds, not minutes."""
    benchmark.group = f"next-v4/16-{level}"
    make = _ipaddress_next if impl == "ipaddress" else _netaddr_next
    timed_batch(benchmark, lambda: (make(16, level), None), 20, rounds=5)


# ------------------------------------------------------------------------------------------
# Next address, IPv6 /64 (target 7)
# ------------------------------------------------------------------------------------------

V6_COUNTS = [1_000, 50_000, 100_000]


def _bitmap64_next(count: int) -> Callable[[], int]:
    _, offsets = v6_state(count)
    taken = pyroaring.BitMap64(offsets)
    cursor = [random.Random(count).randrange(1 << 63)]

    def allocate_next() -> int:
        offset = cursor[0]
        while offset in taken:
            offset += 1
        taken.add(offset)
        cursor[0] = offset + 1
        return offset

    return allocate_next


@pytest.mark.parametrize("count", V6_COUNTS, ids=[f"{c // 1000}k" for c in V6_COUNTS])
@pytest.mark.parametrize("impl", ["fastcidr-str", "fastcidr-int", "pyroaring-BitMap64"])
def bench_next_v6(benchmark: Any, impl: str, count: int) -> None:
    benchmark.group = f"next-v6/64-{count // 1000}k"

    def fresh() -> Tuple[Callable[[], Any], None]:
        if impl.startswith("fastcidr"):
            alloc = v6_state(count)[0].copy()
            return (alloc.allocate_next if impl == "fastcidr-str" else alloc.allocate_next_int), None
        return _bitmap64_next(count), None

    timed_batch(benchmark, fresh, OPS, rounds=ROUNDS)


# ------------------------------------------------------------------------------------------
# A given address on a half-full /16: allocate, release, has (target 3)
# ------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def specific_inputs() -> dict:
    alloc, offsets = v4_state(16, "half")
    rng = random.Random(5)
    taken = set(offsets)
    free = [o for o in range(alloc.size) if o not in taken]
    base = int(ipaddress.ip_address(alloc.first))
    picks = {
        "allocate": rng.sample(free, OPS),
        "release": rng.sample(offsets, OPS),
        "has": rng.sample(range(alloc.size), OPS),
    }
    return {
        op: {
            "offsets": chosen,
            "ints": [base + o for o in chosen],
            "strs": [str(ipaddress.IPv4Address(base + o)) for o in chosen],
        }
        for op, chosen in picks.items()
    }


def _bitarray_specific(op: str, bits: bitarray.bitarray) -> Callable[[int], Any]:
    if op == "allocate":

        def allocate(offset: int) -> int:
            if bits[offset]:
                raise KeyError(offset)
            bits[offset] = 1
            return offset

        return allocate
    if op == "release":

        def release(offset: int) -> None:
            bits[offset] = 0

        return release

    def has(offset: int) -> bool:
        return bits[offset] == 1

    return has


@pytest.mark.parametrize("op", ["allocate", "release", "has"])
@pytest.mark.parametrize("impl", ["fastcidr-str", "fastcidr-int", "bitarray-int"])
def bench_specific(benchmark: Any, impl: str, op: str) -> None:
    benchmark.group = f"specific-{op}-v4/16-half"
    inputs = specific_inputs()[op]

    def fresh() -> Tuple[Callable[[Any], Any], list]:
        if impl.startswith("fastcidr"):
            alloc = v4_state(16, "half")[0].copy()
            return getattr(alloc, op), inputs["strs" if impl == "fastcidr-str" else "ints"]
        return _bitarray_specific(op, bitarray_taken(16, "half").copy()), inputs["offsets"]

    timed_batch(benchmark, fresh, OPS, rounds=ROUNDS, mapped=True)


# ------------------------------------------------------------------------------------------
# Churn at 90% full: release one, take the next (target 4)
# ------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def churn_inputs(prefix: int) -> dict:
    alloc, offsets = v4_state(prefix, "churn")
    chosen = random.Random(9).sample(offsets, OPS)
    base = int(ipaddress.ip_address(alloc.first))
    return {
        "offsets": chosen,
        "ints": [base + o for o in chosen],
        "strs": [str(ipaddress.IPv4Address(base + o)) for o in chosen],
    }


@pytest.mark.parametrize("prefix", [16, 12])
@pytest.mark.parametrize("impl", ["fastcidr-str", "fastcidr-int", "pyroaring"])
def bench_churn(benchmark: Any, impl: str, prefix: int) -> None:
    benchmark.group = f"churn-90-v4/{prefix}"
    inputs = churn_inputs(prefix)

    def fresh() -> Tuple[Callable[[Any], Any], list]:
        if impl.startswith("fastcidr"):
            alloc = v4_state(prefix, "churn")[0].copy()
            release = alloc.release
            take = alloc.allocate_next if impl == "fastcidr-str" else alloc.allocate_next_int

            def churn(ip: Any) -> Any:
                release(ip)
                return take()

            return churn, inputs["strs" if impl == "fastcidr-str" else "ints"]
        free = roaring_free(prefix, "churn").copy()

        def churn_roaring(offset: int) -> int:
            free.add(offset)
            taken = free.min()
            free.remove(taken)
            return taken

        return churn_roaring, inputs["offsets"]

    timed_batch(benchmark, fresh, OPS, rounds=ROUNDS, mapped=True)


# ------------------------------------------------------------------------------------------
# Fill a /12 (target 2)
# ------------------------------------------------------------------------------------------

FILL_SIZE = (1 << 20) - 2


@pytest.mark.parametrize(
    "impl",
    ["fastcidr-str", "fastcidr-int", "fastcidr-str-sequential", "pyroaring", "bitarray", "floor-list-of-str"],
)
def bench_fill_v4_12(benchmark: Any, impl: str) -> None:
    benchmark.group = "fill-v4/12"
    benchmark.extra_info["ops"] = FILL_SIZE

    def setup() -> Tuple[tuple, dict]:
        if impl.startswith("fastcidr"):
            strategy = "sequential" if impl.endswith("sequential") else "random"
            alloc = CIDRAllocator("10.96.0.0/12", seed=3, strategy=strategy)
            many = alloc.allocate_many_int if impl == "fastcidr-int" else alloc.allocate_many
            return (lambda: many(FILL_SIZE),), {}
        if impl == "floor-list-of-str":
            # not a peer: what building a list of a million short str costs on this machine at
            # all (allocation and page faults), the floor under any allocate_many(str)
            return (lambda: list(map(str, range(FILL_SIZE))),), {}
        if impl == "pyroaring":
            step = _pyroaring_next(pyroaring.BitMap(range(FILL_SIZE)))
        else:
            bits = bitarray.bitarray(FILL_SIZE)
            bits.setall(0)
            step = _bitarray_next(bits)
        return (lambda: call_n(step, FILL_SIZE),), {}

    result: List[Any] = []

    def run(fill: Callable[[], Any]) -> None:
        result.append(fill())  # freed after the timer stops

    benchmark.pedantic(run, setup=setup, rounds=3 if impl.startswith("fastcidr") else 2)


# ------------------------------------------------------------------------------------------
# Memory per address (target 8): reported in extra_info, the timing is the build
# ------------------------------------------------------------------------------------------

MEMORY_COUNT = 1_000_000


@lru_cache(maxsize=None)
def slash8_offsets() -> List[int]:
    return random.Random(8).sample(range((1 << 24) - 2), MEMORY_COUNT)


@pytest.mark.parametrize("impl", ["fastcidr", "pyroaring", "bitarray"])
def bench_memory_v4_8(benchmark: Any, impl: str) -> None:
    """1M random addresses in an IPv4 /8."""
    benchmark.group = "memory-v4/8-1M-random"
    benchmark.extra_info["ops"] = MEMORY_COUNT
    offsets = slash8_offsets()
    built: List[Any] = []

    def build() -> None:
        if impl == "fastcidr":
            alloc = CIDRAllocator("10.0.0.0/8")
            first = int(ipaddress.ip_address(alloc.first))
            allocate = alloc.allocate
            for o in offsets:
                allocate(first + o)
            built.append(alloc)
        elif impl == "pyroaring":
            built.append(pyroaring.BitMap(offsets))
        else:
            bits = bitarray.bitarray((1 << 24) - 2)
            bits.setall(0)
            bits[offsets] = 1
            built.append(bits)

    benchmark.pedantic(build, rounds=1, iterations=1)
    obj = built[-1]
    if impl == "pyroaring":
        nbytes = len(obj.serialize())  # its C memory is not visible to sys.getsizeof
    else:
        nbytes = sys.getsizeof(obj)
    benchmark.extra_info["bytes_per_address"] = round(nbytes / MEMORY_COUNT, 3)


@pytest.mark.parametrize("pattern", ["random", "sequential"])
def bench_memory_v6_64(benchmark: Any, pattern: str) -> None:
    """100k addresses in an IPv6 /64: random (isolated runs) and sequential (one run)."""
    benchmark.group = f"memory-v6/64-100k-{pattern}"
    benchmark.extra_info["ops"] = 100_000
    built: List[CIDRAllocator] = []

    def build() -> None:
        alloc = CIDRAllocator("fd00::/64", seed=2, strategy=pattern)
        alloc.allocate_many_int(100_000)
        built.append(alloc)

    benchmark.pedantic(build, rounds=1, iterations=1)
    benchmark.extra_info["impl"] = "fastcidr"
    benchmark.extra_info["bytes_per_address"] = round(sys.getsizeof(built[-1]) / 100_000, 3)


def bench_memory_dense_summary(benchmark: Any) -> None:
    """Empty ranges of any size and a full /12: bytes and bits per address of touched storage."""
    benchmark.group = "memory-dense"
    full = CIDRAllocator("10.96.0.0/12", strategy="sequential")
    benchmark.pedantic(full.allocate_many_int, args=(full.size,), rounds=1, iterations=1)
    benchmark.extra_info["impl"] = "fastcidr"
    benchmark.extra_info["full_v4_12_bits_per_address"] = round(sys.getsizeof(full) * 8 / full.size, 4)
    for cidr in ("0.0.0.0/0", "0.0.0.0/1", "10.0.0.0/8", "10.96.0.0/12", "fd00::/64"):
        benchmark.extra_info[f"empty_{cidr}_bytes"] = sys.getsizeof(CIDRAllocator(cidr))


# ------------------------------------------------------------------------------------------
# Snapshot / restore of a /12 (target 9)
# ------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def snapshot_state(kind: str) -> CIDRAllocator:
    if kind == "full":
        alloc = CIDRAllocator("10.96.0.0/12", seed=4)
        alloc.allocate_many_int(alloc.size)
        return alloc
    return v4_state(12, "half")[0]


@pytest.mark.parametrize("kind", ["full", "half"])
@pytest.mark.parametrize("impl", ["fastcidr", "fastcidr-pickle", "pyroaring"])
def bench_snapshot(benchmark: Any, impl: str, kind: str) -> None:
    benchmark.group = f"snapshot-v4/12-{kind}"
    alloc = snapshot_state(kind)
    if impl == "fastcidr":
        data = benchmark(alloc.snapshot)
    elif impl == "fastcidr-pickle":
        data = benchmark(pickle.dumps, alloc)
    else:
        taken = pyroaring.BitMap(v4_state(12, "half")[1]) if kind == "half" else pyroaring.BitMap(
            range(alloc.size)
        )
        taken.run_optimize()
        data = benchmark(taken.serialize)
    benchmark.extra_info["bytes"] = len(data)


@pytest.mark.parametrize("kind", ["full", "half"])
@pytest.mark.parametrize("impl", ["fastcidr", "fastcidr-pickle", "pyroaring"])
def bench_restore(benchmark: Any, impl: str, kind: str) -> None:
    benchmark.group = f"restore-v4/12-{kind}"
    alloc = snapshot_state(kind)
    if impl == "fastcidr":
        clone = benchmark(CIDRAllocator.restore, alloc.snapshot())
        assert len(clone) == len(alloc)
    elif impl == "fastcidr-pickle":
        clone = benchmark(pickle.loads, pickle.dumps(alloc))
        assert len(clone) == len(alloc)
    else:
        taken = pyroaring.BitMap(v4_state(12, "half")[1]) if kind == "half" else pyroaring.BitMap(
            range(alloc.size)
        )
        taken.run_optimize()
        benchmark(pyroaring.BitMap.deserialize, taken.serialize())


@pytest.mark.parametrize("output", ["str", "int", "ipaddress", "netaddr"])
def bench_next_output(benchmark: Any, output: str) -> None:
    benchmark.group = "next-output-v4/12"
    benchmark.name = f"fastcidr-output={output}"

    def fresh() -> Tuple[Callable[[], Any], None]:
        return CIDRAllocator("10.96.0.0/12", seed=6, output=output).allocate_next, None

    timed_batch(benchmark, fresh, 10_000)


# ------------------------------------------------------------------------------------------
# Free space: the first 100 free runs of a half-full /8 against a half-full /16 (target 13)
# ------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def half_full(prefix: int) -> CIDRAllocator:
    """Half the addresses taken at random (no list of them kept: a /8 holds 8.4M)."""
    alloc = CIDRAllocator(f"10.0.0.0/{prefix}", seed=13)
    call_n(alloc.allocate_next_int, alloc.size // 2)
    return alloc


@pytest.mark.parametrize("call", ["free_ranges-100", "first_free-100"])
@pytest.mark.parametrize("prefix", [8, 16])
def bench_free_space(benchmark: Any, prefix: int, call: str) -> None:
    """O(runs), not O(addresses): the /8's time must match the /16's (ratio ~1)."""
    benchmark.group = f"free-space-{call}"
    benchmark.name = f"fastcidr-v4/{prefix}-half"
    alloc = half_full(prefix)
    if call == "free_ranges-100":
        runs = benchmark(alloc.free_ranges, limit=100)
        assert len(runs) == 100
    else:
        assert len(benchmark(alloc.first_free, 100)) == 100
