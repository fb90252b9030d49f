"""``fastcidr bench``: a few seconds of fastcidr against the peers installed here (the real
measurement is ``make bench``)."""
from __future__ import annotations

import functools
from typing import (
    Any,
    Callable,
    Dict,
    List,
    Sequence,
    Tuple,
)


def _calls_for(fn: Callable[[], Any], seconds: float) -> int:
    """How many calls of ``fn`` take about ``seconds`` (doubling until they do)."""
    import time

    calls = 1
    while calls < 1 << 22:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        if time.perf_counter() - start > seconds:
            break
        calls *= 2
    return calls


def _interleaved_medians(fns: Sequence[Callable[[], Any]], budget: float, rounds: int = 7) -> List[float]:
    """Median ns per call of each function, measured in alternating rounds so that every one sees
    the same moments of a busy machine (their ratios are what the table is about)."""
    import time

    batch = [_calls_for(fn, budget / (rounds * 2)) for fn in fns]
    samples: List[List[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            for _ in range(batch[i]):
                fn()
            samples[i].append((time.perf_counter() - start) / batch[i])
    return [sorted(s)[len(s) // 2] * 1e9 for s in samples]


def bench_rows(budget: float = 0.25) -> List[List[str]]:
    """A short comparison on this machine: fastcidr (compiled and pure) against what a Python
    user would build with the peers installed here (pyroaring, bitarray, netaddr, pytricia).
    Peers that are not installed are left out. Ratios are against the first fastcidr row of each
    operation; ``make bench`` is the real measurement."""
    import random

    from .. import _backend

    modules = [("fastcidr", _backend.compiled)] if _backend.compiled is not None else []
    modules.append(("fastcidr, pure Python", _backend.pure))
    size = 1 << 16
    rng = random.Random(1)
    half = rng.sample(range(1, size - 1), size // 2)
    results: List[Tuple[str, str, float]] = []

    candidates: List[Tuple[str, str, Callable[[], Any]]] = []

    def measure(operation: str, label: str, fn: Callable[[], Any]) -> None:
        candidates.append((operation, label, fn))

    def optional(name: str) -> Any:
        import importlib

        try:
            return importlib.import_module(name)
        except ImportError:
            return None

    # 1. churn at half full: release an address and take the next free one
    churn = "release + next address, IPv4 /16 half full"
    for label, module in modules:
        alloc = module.CIDRAllocator("10.0.0.0/16", seed=1)
        for offset in half:
            alloc.allocate(f"10.0.{offset >> 8}.{offset & 255}")

        def step(alloc: Any = alloc) -> None:
            alloc.release(alloc.allocate_next())

        measure(churn, label + " (str)", step)
    pyroaring = optional("pyroaring")
    if pyroaring is not None:
        free = pyroaring.BitMap(range(1, size - 1))
        free.difference_update(pyroaring.BitMap(half))

        def roaring_step() -> None:
            offset = free.min()
            free.remove(offset)
            free.add(offset)

        measure(churn, "pyroaring BitMap min/remove (int)", roaring_step)
    bitarray_mod = optional("bitarray")
    if bitarray_mod is not None:
        used = bitarray_mod.bitarray(size)
        used.setall(0)
        used[0] = used[size - 1] = 1
        for offset in half:
            used[offset] = 1
        start = size // 2

        def bitarray_step() -> None:
            offset = used.find(0, start)
            if offset < 0:
                offset = used.find(0)
            used[offset] = 1
            used[offset] = 0

        measure(churn, "bitarray find (int)", bitarray_step)

    # 2. membership of a given address at half full
    member = "is this address allocated?, IPv4 /16 half full"
    probe = f"10.0.{half[7] >> 8}.{half[7] & 255}"
    for label, module in modules:
        alloc = module.CIDRAllocator("10.0.0.0/16", seed=1)
        for offset in half:
            alloc.allocate(f"10.0.{offset >> 8}.{offset & 255}")
        measure(member, label + " (str)", functools.partial(alloc.has, probe))
    netaddr = optional("netaddr")
    if netaddr is not None:
        pool = netaddr.IPSet(f"10.0.{o >> 8}.{o & 255}" for o in half[:4096])
        measure(member, "netaddr IPSet (str, 4k members)", lambda: probe in pool)

    # 3. which of 1,000 CIDRs holds an address
    match = "longest prefix match, 1,000 CIDRs"
    prefixes = sorted({f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.0/24"
                       for _ in range(1000)})
    target = prefixes[500].replace(".0/24", ".77")
    for label, module in modules:
        tree = module.PrefixTree()
        for cidr in prefixes:
            tree[cidr] = cidr
        measure(match, label + (" (str)" if "pure" in label else " PrefixTree (str)"),
                functools.partial(tree.longest_match, target))
    pytricia = optional("pytricia")
    if pytricia is not None:
        trie = pytricia.PyTricia()
        for cidr in prefixes:
            trie[cidr] = cidr
        measure(match, "pytricia (str)", lambda: trie.get_key(target))

    operations = list(dict.fromkeys(operation for operation, _, _ in candidates))
    for operation in operations:
        group = [(label, fn) for op, label, fn in candidates if op == operation]
        medians = _interleaved_medians([fn for _, fn in group], budget * len(group))
        results.extend((operation, label, ns) for (label, _), ns in zip(group, medians))
    rows = [["OPERATION", "IMPLEMENTATION", "NS/OP", "VS FASTCIDR"]]
    baseline: Dict[str, float] = {}
    for operation, label, ns in results:
        reference = baseline.setdefault(operation, ns)
        rows.append([operation, label, f"{ns:,.0f}", f"{ns / reference:.2f}x"])
    return rows

