"""Which of N CIDRs holds an address: ``PrefixTree`` against pytricia and py-radix (docs/performance.md target 6).

Run: ``.venv/bin/python -m pytest bench/bench_tree.py --benchmark-only
--benchmark-columns=median,iqr --benchmark-sort=name``. Each round looks up ``OPS`` addresses;
divide the median by ``extra_info["ops"]`` for ns per lookup.

Data: N = 10 / 1,000 / 100,000 random IPv4 prefixes, lengths uniform in [12, 28] (ServiceCIDR-like
sizes, nesting happens but is not the rule); queries are random addresses inside random stored
prefixes, so every lookup finds something. Groups ``tree-<op>-<input>/<N>``:
- ``longest``: fastcidr ``longest_match`` (returns (cidr, value)) against pytricia ``get_key``
  (the prefix) and ``get`` (the value only), py-radix ``search_best``;
- ``host``: fastcidr ``host_matches`` (every CIDR holding the address as a host) in the same group,
  so its ratio to ``longest`` and to the peers reads directly;
- input ``str`` (dotted quad) or ``int`` (pytricia takes ints; py-radix takes packed bytes, its
  only non-text form; fastcidr uses ``longest_match_int``/``host_matches_int``).
"""
from __future__ import annotations

import ipaddress
import random
import struct
from functools import lru_cache
from typing import Any, Callable, Dict, List, Tuple

import pytest
import pytricia
import radix

from benchutil import map_all
from fastcidr._tree import PrefixTree

SIZES = [10, 1_000, 100_000]
OPS = 20_000
ROUNDS = 15


@lru_cache(maxsize=None)
def dataset(n: int) -> Tuple[List[str], List[int]]:
    rng = random.Random(n)
    prefixes: Dict[Tuple[int, int], None] = {}
    while len(prefixes) < n:
        plen = rng.randint(12, 28)
        net = rng.getrandbits(32) & (((1 << plen) - 1) << (32 - plen))
        prefixes[(net, plen)] = None
    keys = list(prefixes)
    queries = []
    for _ in range(OPS):
        net, plen = keys[rng.randrange(n)]
        queries.append(net | rng.randrange(1, (1 << (32 - plen)) - 1))
    return [f"{ipaddress.IPv4Address(net)}/{plen}" for net, plen in keys], queries


@lru_cache(maxsize=None)
def built(impl: str, n: int) -> Any:
    cidrs, _ = dataset(n)
    if impl == "fastcidr":
        t = PrefixTree()
    elif impl == "pytricia":
        t = pytricia.PyTricia(32)
    else:
        r = radix.Radix()
        for i, c in enumerate(cidrs):
            r.add(c).data["v"] = i
        return r
    for i, c in enumerate(cidrs):
        t[c] = i
    return t


def source_of(impl: str) -> str:
    return "pytricia" if impl.startswith("pytricia") else impl


def lookup(impl: str, op: str, kind: str, n: int) -> Tuple[Callable[[Any], Any], List[Any]]:
    t = built(source_of(impl), n)
    _, ints = dataset(n)
    if kind == "str":
        args: List[Any] = [str(ipaddress.IPv4Address(v)) for v in ints]
    elif impl == "py-radix":
        args = [struct.pack("!I", v) for v in ints]
    else:
        args = list(ints)
    if impl == "fastcidr":
        if kind == "str":
            return (t.longest_match if op == "longest" else t.host_matches), args
        return (t.longest_match_int if op == "longest" else t.host_matches_int), args
    if impl == "pytricia-get_key":
        return t.get_key, args
    if impl == "pytricia-get":
        return t.get, args
    search = t.search_best
    if kind == "str":
        return (lambda a: search(network=a)), args
    return (lambda a: search(packed=a)), args


CASES = [("fastcidr", "longest"), ("fastcidr", "host"), ("pytricia-get_key", "longest"),
         ("pytricia-get", "longest"), ("py-radix", "longest")]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("kind", ["str", "int"])
@pytest.mark.parametrize("impl,op", CASES, ids=[f"{i}-{o}" for i, o in CASES])
def bench_tree_lookup(benchmark: Any, impl: str, op: str, kind: str, n: int) -> None:
    benchmark.group = f"tree-{kind}/{n}"
    built(source_of(impl), n)  # build outside the timer
    fn, args = lookup(impl, op, kind, n)
    # sanity: every implementation agrees on the answer for the first queries
    if op == "longest":
        first = fn(args[0])
        expected = built("fastcidr", n).longest_match_int(dataset(n)[1][0])
        got = first[0] if isinstance(first, tuple) else getattr(first, "prefix", first)
        if impl != "pytricia-get":
            assert got == expected[0]
    benchmark.extra_info["ops"] = len(args)
    benchmark.pedantic(map_all, args=(fn, args), rounds=ROUNDS, warmup_rounds=1)
