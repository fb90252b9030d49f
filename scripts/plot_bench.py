#!/usr/bin/env python3
"""Turn saved pytest-benchmark results into the README's PNG plot.

    python scripts/plot_bench.py bench/results/latest.json docs/bench.png
    python scripts/plot_bench.py bench/results/*.json -o docs/bench.png

One panel per benchmark group (pytest-benchmark's ``group``, else the test function), one bar per
benchmark: the median in ns per operation on a log scale, fastcidr's bars in a strong colour and
the peers' in grey, each labelled with its median and its ratio to the fastest fastcidr bar of
the panel. With ``--headline``: one panel for the README, fastcidr's speed-up over the peer of each
row of the README's performance table (scripts/perf_table.py), the target marked. Operations per call are taken from ``extra_info["ops"]`` (or ``"n"``) when a benchmark
times a batch, so every bar is per address. Results from several files are merged; a benchmark
that appears twice keeps the later file's numbers.
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import os
import re
import sys
from typing import Any, Dict, List, Optional, Tuple

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


def _strip_common_suffix(labels: List[str]) -> List[str]:
    """``fastcidr-int-v4/16-half``, ``pyroaring-v4/16-half`` → ``fastcidr-int``, ``pyroaring``."""
    if len(labels) < 2:
        return labels
    suffix = os.path.commonprefix([label[::-1] for label in labels])[::-1]
    cut = suffix.find("-")  # keep whole words: cut at a separator
    if cut < 0 or len(suffix) - cut < 2:
        return labels
    suffix = suffix[cut:]
    stripped = [label[: len(label) - len(suffix)] for label in labels]
    return stripped if all(stripped) else labels


Row = Tuple[str, float, bool]


def panels(benchmarks: Dict[str, Dict[str, Any]], pattern: str) -> List[Tuple[str, List[Row]]]:
    grouped: Dict[str, List[Tuple[str, float, bool]]] = {}
    for bench in benchmarks.values():
        group = group_of(bench)
        if not re.search(pattern, group):
            continue
        grouped.setdefault(group, []).append((label_of(bench, group), ns_per_op(bench), is_fastcidr(bench)))
    out = []
    for group, rows in sorted(grouped.items()):
        labels = _strip_common_suffix([r[0] for r in rows])
        rows = [(label, r[1], r[2]) for label, r in zip(labels, rows)]
        out.append((group, sorted(rows, key=lambda r: r[1])))
    return out


FILL_GROUP = re.compile(r"^next-v4/(\d+)-(first1|half|last1)$")
FILL_LEVELS = [("first1", "first 1%"), ("half", "50%"), ("last1", "last 1%")]


def fill_series(benchmarks: Dict[str, Dict[str, Any]]) -> Dict[Tuple[str, str], Dict[str, float]]:
    """(implementation, prefix) → {fill level: ns/op} from the ``next-v4/<prefix>-<level>`` groups:
    the flatness picture (O(1) means a flat line)."""
    series: Dict[Tuple[str, str], Dict[str, float]] = {}
    for bench in benchmarks.values():
        match = FILL_GROUP.match(group_of(bench))
        if not match:
            continue
        prefix, level = match.groups()
        impl = label_of(bench, group_of(bench))
        impl = re.sub(rf"-?v4/{prefix}-{level}$", "", impl) or impl
        series.setdefault((impl, prefix), {})[level] = ns_per_op(bench)
    return series


def plot(benchmarks: Dict[str, Dict[str, Any]], output: str, title: str, pattern: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = fill_series(benchmarks)
    bar_panels = [p for p in panels(benchmarks, pattern) if not FILL_GROUP.match(p[0])]
    if not series and not bar_panels:
        raise SystemExit("plot_bench: no benchmarks in the input match " + pattern)
    columns = 2 if len(bar_panels) > 3 else 1
    bar_rows = (len(bar_panels) + columns - 1) // columns
    heights = ([3.2] if series else []) + [
        max(1.3, 0.28 * max(len(r) for _, r in bar_panels[i * columns:(i + 1) * columns]) + 0.9)
        for i in range(bar_rows)]
    fig = plt.figure(figsize=(7 * columns, sum(heights) + 0.8))
    grid = fig.add_gridspec(len(heights), columns, height_ratios=heights)
    row = 0
    if series:
        ax = fig.add_subplot(grid[0, :])
        xs = list(range(len(FILL_LEVELS)))
        for (impl, prefix), by_level in sorted(series.items()):
            points = [(x, by_level[level]) for x, (level, _) in zip(xs, FILL_LEVELS) if level in by_level]
            if len(points) < 2:
                continue
            is_ours = "fastcidr" in impl
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o",
                    linestyle="-" if prefix == "16" else "--", linewidth=2.2 if is_ours else 1.2,
                    color=None if not is_ours else (FASTCIDR_COLOUR if "int" not in impl else "#0a3d91"),
                    label=f"{impl}, /{prefix}")
        ax.set_yscale("log")
        ax.set_xticks(xs)
        ax.set_xticklabels([text for _, text in FILL_LEVELS])
        ax.set_xlabel("fill level of the range")
        ax.set_ylabel("ns per next address")
        ax.set_title("next address against fill level (flat = O(1))", fontsize=10, loc="left")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        row = 1
    for index, (group, rows) in enumerate(bar_panels):
        ax = fig.add_subplot(grid[row + index // columns, index % columns])
        labels = [r[0] for r in rows]
        values = [r[1] for r in rows]
        colours = [FASTCIDR_COLOUR if r[2] else PEER_COLOUR for r in rows]
        ours = [r[1] for r in rows if r[2]]
        reference = min(ours) if ours else None
        y = list(range(len(rows)))
        ax.barh(y, values, color=colours)
        ax.set_yticks(y)
        ax.set_yticklabels(labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_title(group, fontsize=9, loc="left")
        ax.set_xlim(min(values) / 2, max(values) * 30)
        for yi, value in zip(y, values):
            text = f"{value:,.0f} ns" if value >= 10 else f"{value:.1f} ns"
            if reference:
                text += f" ({value / reference:.1f}x)"
            ax.text(value * 1.08, yi, text, va="center", fontsize=6.5)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", which="major", alpha=0.3)
    fig.suptitle(title, fontsize=11)
    fig.text(0.5, 0.005, "ns per operation, median, log scale; (Nx) = time relative to the fastest "
             "fastcidr entry of the panel", ha="center", fontsize=7)
    fig.tight_layout(rect=(0, 0.02, 1, 0.98))
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    fig.savefig(output, dpi=100)
    plt.close(fig)


def plot_headline(paths: List[str], output: str, title: str) -> int:
    """One panel a reader can take in at README width: for each row of the README's performance
    table that has a peer, how many times faster fastcidr is (log scale), with the target marked.
    Returns the number of bars."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import perf_table

    results = perf_table.load(paths)
    bars: List[Tuple[str, float, Optional[float]]] = []
    missed: List[bool] = []
    for what, group, ours, theirs, label, target in perf_table.ROWS:
        mine = perf_table.find(results, group, ours)
        peer = perf_table.find(results, group, theirs) if theirs else None
        if mine is None or peer is None or "cost" in target:
            continue
        wanted = perf_table._number(target) if target.startswith("≥") and target.endswith("x") else None
        name = re.sub(r"`", "", what)
        bars.append((f"{name}\nvs {label.split(' (')[0]}", peer / mine, wanted))
        missed.append("missed" in perf_table.verdict(target, mine, peer))
    if not bars:
        return 0
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(bars) + 1.2))
    names = [b[0] for b in bars][::-1]
    speedups = [b[1] for b in bars][::-1]
    targets = [b[2] for b in bars][::-1]
    colours = ["#d1242f" if miss else FASTCIDR_COLOUR for miss in missed[::-1]]
    ax.barh(range(len(bars)), speedups, color=colours)
    for y, (s, t) in enumerate(zip(speedups, targets)):
        ax.text(s * 1.04, y, f"{s:.1f}x", va="center", fontsize=7)
        if t is not None:
            ax.plot([t, t], [y - 0.4, y + 0.4], color="black", linewidth=1.2)
    ax.axvline(1.0, color="#57606a", linewidth=0.8, linestyle=":")
    ax.set_xscale("log")
    ax.set_yticks(range(len(bars)))
    ax.set_yticklabels(names, fontsize=6.5)
    ax.set_xlabel("times faster than the peer (same run, median; black tick = target; red = target missed)",
                  fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    fig.savefig(output, dpi=110)
    plt.close(fig)
    return len(bars)


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="*", help="pytest-benchmark JSON files (default: bench/results/*.json)")
    parser.add_argument("-o", "--output", default=None, help="PNG to write (default: docs/bench.png)")
    parser.add_argument("--title", default="fastcidr vs peers (this machine; lower is better)")
    parser.add_argument("--groups", default=r"^(?!memory)",
                        help="regular expression selecting the groups drawn as bars (default: all but "
                             "memory-*, whose timing is only the build)")
    parser.add_argument("--headline", action="store_true",
                        help="one panel: fastcidr's speed-up over each peer of the README's table")
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
    if args.headline:
        count = plot_headline(inputs, output, "fastcidr against its peers (higher is better)")
        print(f"plot_bench: {count} speed-ups from {len(inputs)} file(s) -> {output}")
        return 0 if count else 1
    benchmarks = load(inputs)
    plot(benchmarks, output, args.title, args.groups)
    finite = [ns_per_op(b) for b in benchmarks.values() if math.isfinite(ns_per_op(b))]
    print(f"plot_bench: {len(finite)} benchmarks from {len(inputs)} file(s) -> {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
