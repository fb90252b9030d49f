"""Turn saved pytest-benchmark results into the README's performance table.

    .venv/bin/python scripts/perf_table.py bench/results/*.json [--readme README.md]

Every number is a median from the JSON files (ns per operation = median / extra_info["ops"]);
ratios compare fastcidr with the peer measured in the same run. With --readme the table replaces
the text between ``<!-- PERF TABLE -->`` and ``<!-- /PERF TABLE -->``; --strip first drops the raw
per-round timings from the files (the medians stay), so the results are small enough to keep in git.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

# (what, benchmark group, fastcidr's name fragment, peer's name fragment, peer label, target)
ROWS: List[Tuple[str, str, str, Optional[str], str, str]] = []
for prefix in ("16", "12"):
    for level, label in (("first1", "first 1%"), ("half", "50%"), ("last1", "last 1%")):
        ROWS.append((f"`allocate_next()` str, IPv4 /{prefix}, {label}", f"next-v4/{prefix}-{level}",
                     "[fastcidr-str-", "[pyroaring-", "pyroaring min+remove (int)", "≥ 1.5x"))
    ROWS.append((f"`allocate_next_int()`, IPv4 /{prefix}, 50%", f"next-v4/{prefix}-half",
                 "[fastcidr-int-", "[pyroaring-", "pyroaring min+remove (int)", "≥ 2x"))
ROWS += [
    ("`allocate_next()` str, IPv6 /64, 100k allocated", "next-v6/64-100k", "[fastcidr-str-",
     "[pyroaring-BitMap64", "pyroaring BitMap64 + cursor", "≥ 1.5x"),
    ("`allocate(str)`, /16 half full", "specific-allocate-v4/16-half", "[fastcidr-str-", "[bitarray-",
     "bitarray (int)", "≥ 1x"),
    ("`release(str)`, /16 half full", "specific-release-v4/16-half", "[fastcidr-str-", "[bitarray-",
     "bitarray (int)", "≥ 1x"),
    ("`has(str)`, /16 half full", "specific-has-v4/16-half", "[fastcidr-str-", "[bitarray-",
     "bitarray (int)", "≥ 1x"),
    ("churn at 90%: `release` + `allocate_next`, /16", "churn-90-v4/16", "[fastcidr-str-", "[pyroaring-",
     "pyroaring", "≥ 2x"),
    ("fill an IPv4 /12 (`allocate_many`), per address", "fill-v4/12", "[fastcidr-str]", "[pyroaring]",
     "pyroaring", "≤ 15 ns"),
    ("`PrefixTree.longest_match(str)`, 100,000 prefixes", "tree-str/100000", "[fastcidr-longest-str",
     "[pytricia-get_key-longest-str", "pytricia get_key (str)", "≥ 2x"),
    ("`PrefixTree.host_matches(str)`, 100,000 prefixes", "tree-str/100000", "[fastcidr-host-str",
     "[pytricia-get_key-longest-str", "pytricia get_key (str)", "—"),
    ("`PrefixTree.host_matches(str)` against `longest_match(str)`", "tree-str/100000", "[fastcidr-host-str",
     "[fastcidr-longest-str", "fastcidr longest_match (same run)", "≤ 1.5x its cost"),
    ("`MultiCIDRAllocator.allocate_next()`, 100,000 CIDRs", "multi-next/100000", "[fastcidr-weighted",
     "[single-CIDRAllocator", "one CIDRAllocator (same run)", "≤ 1.5x its cost"),
    ("`MultiCIDRAllocator.allocate_next()`, 1,000 CIDRs", "multi-next/1000", "[fastcidr-weighted",
     "[single-CIDRAllocator", "one CIDRAllocator (same run)", "≤ 1.5x its cost"),
]


# (what, part of the group name, name fragment, target): absolute costs, no peer in the run
LAYER_ROWS: List[Tuple[str, str, str, str]] = [
    ("`Cluster.create_service`, memory, 100,000 Services present", "create_service, memory",
     "[100000]", "≤ 10 µs"),
    ("`Cluster.create_services`, memory, 100,000 present", "create_services, memory", "[100000]", "—"),
    ("`create_service` on SQLite (synchronous=NORMAL)", "create_service on a store", "sqlite[NORMAL]",
     "≥ 5,000/s"),
    ("`create_service` on SQLite (synchronous=FULL)", "create_service on a store", "sqlite[FULL]", "—"),
    ("`create_services` on SQLite (NORMAL), batched", "create_services on SQLite", "[NORMAL]", "≥ 100,000/s"),
    ("`create_service` on etcd (one member, loopback)", "create_service on a store", "etcd", "≥ 400/s"),
    ("`create_services` on etcd, batched", "create_services on etcd", "etcd", "≥ 5,000/s"),
]


def load(paths: List[str]) -> Dict[Tuple[str, str], float]:
    """(group, name) -> median ns per operation."""
    out: Dict[Tuple[str, str], float] = {}
    for path in paths:
        for bench in json.loads(Path(path).read_text())["benchmarks"]:
            ops = bench.get("extra_info", {}).get("ops", 1) or 1
            out[(bench["group"], bench["name"])] = bench["stats"]["median"] * 1e9 / ops
    return out


def find(results: Dict[Tuple[str, str], float], group: str, fragment: str) -> Optional[float]:
    for (g, name), value in results.items():
        if g == group and fragment in name:
            return value
    return None


def fmt_ns(value: float) -> str:
    return f"{value:,.0f} ns" if value >= 100 else f"{value:.1f} ns"


def _number(text: str) -> float:
    return float(re.sub(r"[^0-9.]", "", text))


def verdict(target: str, mine: float, peer: Optional[float] = None) -> str:
    """"met", or "missed" with the measured figure against the target, from a target's text.

    ``mine``/``peer`` are ns per operation. Targets: "≥ Nx" (faster than the peer by N),
    "≤ Nx its cost" (at most N times the peer's cost), "≤ N ns", "≤ N µs", "≥ N/s"."""
    if target == "—":
        return "—"
    if target.endswith("its cost") and peer:
        limit, got = _number(target.split("x")[0]), mine / peer
        return "met" if got <= limit else f"**missed**: {got:.2f}x, target ≤ {limit:g}x"
    if target.startswith("≥") and target.endswith("x") and peer:
        limit, got = _number(target), peer / mine
        return "met" if got >= limit else f"**missed**: {got:.1f}x of {limit:g}x"
    if target.endswith("ns"):
        limit = _number(target)
        return "met" if mine <= limit else f"**missed**: {mine / limit:.1f}x over"
    if target.endswith("µs"):
        limit = _number(target) * 1000
        return "met" if mine <= limit else f"**missed**: {mine / limit:.1f}x over"
    if target.endswith("/s"):
        limit, got = _number(target), 1e9 / mine
        return "met" if got >= limit else f"**missed**: {got / limit:.0%} of the rate"
    return "—"


def render(results: Dict[Tuple[str, str], float]) -> str:
    lines = ["| operation | fastcidr | peer (same run) | ratio | target (docs/performance.md) | met? |",
             "|---|---|---|---|---|---|"]
    for what, group, ours, theirs, label, target in ROWS:
        mine = find(results, group, ours)
        peer = find(results, group, theirs) if theirs else None
        if mine is None:
            continue
        if peer is None:
            lines.append(f"| {what} | {fmt_ns(mine)} | — | — | {target} | {verdict(target, mine)} |")
            continue
        if "cost" in target:  # a cost ratio: fastcidr / peer, lower is better
            ratio = f"{mine / peer:.2f}x the cost"
        else:
            ratio = f"{peer / mine:.1f}x faster"
        lines.append(f"| {what} | {fmt_ns(mine)} | {label}: {fmt_ns(peer)} | {ratio} | {target} "
                     f"| {verdict(target, mine, peer)} |")
    for group, fragment, what in (("snapshot-v4/12-full", "[fastcidr-full]", "`snapshot()` of a full /12"),
                                  ("restore-v4/12-full", "[fastcidr-full]", "`restore()` of a full /12")):
        value = find(results, group, fragment)
        if value is not None:
            k8s = 127_000 if "snapshot" in group else 241_000
            lines.append(f"| {what} | {value / 1000:,.1f} µs | Kubernetes (docs/performance.md): {k8s // 1000} µs | "
                         f"{k8s / value:.0f}x faster | ≥ 2x | {verdict('≥ 2x', value, k8s)} |")
    lines += ["", "| the Kubernetes layer (targets T10–T11) | per Service | Services/s | target | met? |",
              "|---|---|---|---|---|"]
    for what, group_part, fragment, target in LAYER_ROWS:
        value = next((v for (g, name), v in results.items() if group_part in (g or "") and fragment in name), None)
        if value is not None:
            lines.append(f"| {what} | {value / 1000:,.1f} µs | {1e9 / value:,.0f} | {target} "
                         f"| {verdict(target, value)} |")
    restart = find(results, "Cluster start-up on SQLite (rebuild + repair)", "[100000]")
    if restart is not None:
        lines.append(f"| start-up on SQLite with 100,000 IPAddresses (rebuild + repair) | {restart / 1e9:.2f} s "
                     f"in all | — | 1,000,000 in ≤ 5 s | not measured at 1,000,000 |")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+")
    parser.add_argument("--readme")
    parser.add_argument("--strip", action="store_true",
                        help="rewrite the result files without the raw per-round timings (kept in git)")
    args = parser.parse_args(argv)
    if args.strip:
        for path in args.results:
            data = json.loads(Path(path).read_text())
            for bench in data["benchmarks"]:
                bench["stats"].pop("data", None)
            Path(path).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    table = render(load(args.results))
    if not args.readme:
        print(table)
        return 0
    readme = Path(args.readme)
    text = readme.read_text()
    pattern = re.compile(r"(<!-- PERF TABLE -->\n).*?(\n<!-- /PERF TABLE -->)", re.S)
    if not pattern.search(text):
        print(f"{readme}: no <!-- PERF TABLE --> markers", file=sys.stderr)
        return 1
    readme.write_text(pattern.sub(lambda m: m.group(1) + table + m.group(2), text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
