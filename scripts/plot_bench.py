#!/usr/bin/env python3
"""Turn saved pytest-benchmark results into the README's PNG plot.

    python scripts/plot_bench.py bench/results/latest.json docs/bench.png
    python scripts/plot_bench.py bench/results/*.json -o docs/bench.png

One panel per benchmark group (pytest-benchmark's ``group``, else the test function), one bar per
benchmark: the median in ns per operation on a log scale, fastcidr's bars in a strong colour and
the peers' in grey, each labelled with its median and its ratio to the fastest fastcidr bar of
the panel. Operations per call are taken from ``extra_info["ops"]`` (or ``"n"``) when a benchmark
times a batch, so every bar is per address. Results from several files are merged; a benchmark
that appears twice keeps the later file's numbers.
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import os
import sys
from typing import Any, Dict, List, Tuple

FASTCIDR_COLOUR = "#1f6feb"
PEER_COLOUR = "#9aa4ae"


def load(paths: List[str]) -> Dict[str, Dict[str, Any]]:
    """Benchmarks by full name, later files winning."""
    benchmarks: Dict[str, Dict[str, Any]] = {}
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        for bench in data.get("benchmarks", []):
            benchmarks[bench.get("fullname") or bench["name"]] = bench
    return benchmarks


def ns_per_op(bench: Dict[str, Any]) -> float:
    extra = bench.get("extra_info") or {}
    ops = extra.get("ops") or extra.get("n") or 1
    return float(bench["stats"]["median"]) * 1e9 / float(ops)


def group_of(bench: Dict[str, Any]) -> str:
    if bench.get("group"):
        return str(bench["group"])
    name = str(bench.get("name", ""))
    return name.split("[", 1)[0]


def label_of(bench: Dict[str, Any], group: str) -> str:
    name = str(bench.get("name", ""))
    params = bench.get("param")
    if params:
        return str(params)
    if "[" in name:
        return name.split("[", 1)[1].rstrip("]")
    return name[len(group):].lstrip("_") or name


def is_fastcidr(bench: Dict[str, Any]) -> bool:
    text = f"{bench.get('name', '')} {bench.get('param', '')} {json.dumps(bench.get('extra_info') or {})}"
    return "fastcidr" in text.lower()


def panels(benchmarks: Dict[str, Dict[str, Any]]) -> List[Tuple[str, List[Tuple[str, float, bool]]]]:
    grouped: Dict[str, List[Tuple[str, float, bool]]] = {}
    for bench in benchmarks.values():
        group = group_of(bench)
        grouped.setdefault(group, []).append((label_of(bench, group), ns_per_op(bench), is_fastcidr(bench)))
    return [(group, sorted(rows, key=lambda r: r[1])) for group, rows in sorted(grouped.items())]


def plot(benchmarks: Dict[str, Dict[str, Any]], output: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = panels(benchmarks)
    if not groups:
        raise SystemExit("plot_bench: no benchmarks in the input")
    heights = [max(1.2, 0.32 * len(rows) + 0.8) for _, rows in groups]
    fig, axes = plt.subplots(len(groups), 1, figsize=(10, sum(heights)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, (group, rows) in zip(axes[:, 0], groups):
        labels = [r[0] for r in rows]
        values = [r[1] for r in rows]
        colours = [FASTCIDR_COLOUR if r[2] else PEER_COLOUR for r in rows]
        ours = [r[1] for r in rows if r[2]]
        reference = min(ours) if ours else None
        y = list(range(len(rows)))
        ax.barh(y, values, color=colours)
        ax.set_yticks(y)
        ax.set_yticklabels(labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_title(group, fontsize=10, loc="left")
        ax.set_xlabel("ns per operation (median, log scale)", fontsize=8)
        right = max(values) * 8
        ax.set_xlim(min(values) / 2, right)
        for yi, value in zip(y, values):
            text = f"{value:,.0f} ns" if value >= 10 else f"{value:.1f} ns"
            if reference:
                text += f"  ({value / reference:.1f}x)"
            ax.text(value * 1.05, yi, text, va="center", fontsize=7)
        ax.grid(axis="x", which="major", alpha=0.3)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    fig.savefig(output, dpi=110)
    plt.close(fig)


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="*", help="pytest-benchmark JSON files (default: bench/results/*.json)")
    parser.add_argument("-o", "--output", default=None, help="PNG to write (default: docs/bench.png)")
    parser.add_argument("--title", default="fastcidr vs peers (this machine; lower is better)")
    args = parser.parse_args(argv)
    inputs = list(args.inputs)
    output = args.output
    if output is None and inputs and inputs[-1].endswith(".png"):
        output = inputs.pop()
    output = output or os.path.join("docs", "bench.png")
    if not inputs:
        inputs = sorted(glob.glob(os.path.join("bench", "results", "*.json")))
    if not inputs:
        print("plot_bench: no results; run `make bench` first", file=sys.stderr)
        return 1
    benchmarks = load(inputs)
    plot(benchmarks, output, args.title)
    finite = [ns_per_op(b) for b in benchmarks.values() if math.isfinite(ns_per_op(b))]
    print(f"plot_bench: {len(finite)} benchmarks from {len(inputs)} file(s) -> {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
