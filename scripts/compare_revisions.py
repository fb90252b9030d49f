"""Run benchmarks of ``bench/`` against an earlier revision and the working tree, side by side
in one run, and print the medians and their ratio.

    .venv/bin/python scripts/compare_revisions.py dd93ed6 -k create_service_fastcidr

The earlier revision is checked out into a temporary directory (``git worktree``) and its
compiled core is built there with this interpreter. Both trees are then timed by the *same*
benchmark module (this tree's, so both answer the same question), alternating between them
round after round in fresh processes, so that a machine that speeds up or slows down during the
run affects both alike. A benchmark's figure for a tree is the lowest of its per-round medians.
The earlier revision must offer the API the benchmark calls.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parent.parent


def _run(cmd: List[str], cwd: Path, env: Dict[str, str]) -> None:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed in {cwd}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")


def _checkout(revision: str, into: Path) -> Path:
    tree = into / "baseline"
    _run(["git", "worktree", "add", "--detach", str(tree), revision], ROOT, dict(os.environ))
    env = dict(os.environ, PYTHONPATH="")
    _run([sys.executable, "setup.py", "-q", "build_ext", "--inplace", "-j", "2"], tree, env)
    return tree


def _medians(src: Path, module: str, expr: str, timer: str, out: Path) -> Dict[str, float]:
    """One pytest-benchmark run of this tree's ``module`` with ``src`` first on the path."""
    # no plugin auto-loading: this environment's fastcidr plugin need not exist in the other tree
    env = dict(os.environ, PYTHONPATH=str(src), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "pytest_benchmark.plugin", "-p", "pytest_timeout",
           "-p", "no:cacheprovider",
           str(ROOT / module),
           "--benchmark-only", f"--benchmark-json={out}", f"--benchmark-timer={timer}"]
    if expr:
        cmd += ["-k", expr]
    _run(cmd, ROOT, env)
    data = json.loads(out.read_text())
    result: Dict[str, float] = {}
    for bench in data["benchmarks"]:
        ops = bench.get("extra_info", {}).get("ops", 1)
        result[bench["name"]] = bench["stats"]["median"] / ops
    return result


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revision", help="the earlier revision (a commit, tag or branch)")
    parser.add_argument("-k", dest="expr", default="", help="pytest -k expression selecting benchmarks")
    parser.add_argument("--module", default="bench/bench_cluster.py", help="the benchmark module")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per tree")
    parser.add_argument("--timer", default="time.process_time",
                        help="pytest-benchmark timer (CPU time of the benchmark process by default)")
    parser.add_argument("--json", dest="json_out", help="also write the figures to this file")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="fastcidr-compare-"))
    tree = None
    try:
        tree = _checkout(args.revision, scratch)
        trees = {args.revision: tree / "src", "working tree": ROOT / "src"}
        best: Dict[str, Dict[str, float]] = {name: {} for name in trees}
        for round_no in range(args.rounds):
            for name, src in trees.items():
                figures = _medians(src, args.module, args.expr, args.timer, scratch / f"{round_no}.json")
                for bench, seconds in figures.items():
                    best[name][bench] = min(seconds, best[name].get(bench, seconds))
        before, after = best[args.revision], best["working tree"]
        width = max([len(b) for b in after] + [9])
        print(f"{'benchmark':{width}}  {args.revision:>12}  {'now':>12}  {'before/now':>10}   (per op)")
        for bench in sorted(after):
            if bench in before:
                print(f"{bench:{width}}  {before[bench] * 1e6:10.2f}us  {after[bench] * 1e6:10.2f}us"
                      f"  {before[bench] / after[bench]:9.2f}x")
        if args.json_out:
            Path(args.json_out).write_text(json.dumps({"revision": args.revision, "before": before,
                                                       "now": after}, indent=2) + "\n")
    finally:
        if tree is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT,
                           capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
