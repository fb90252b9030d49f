"""scripts/plot_bench.py turns saved pytest-benchmark JSON into the README's PNG."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bench(group: str, impl: str, median: float, ops: int = 1) -> dict:
    """A pytest-benchmark entry shaped like bench/'s (the param repeats the case: `pyroaring-v4/16-half`)."""
    param = f"{impl}-{group.replace('next-', '')}"
    name = f"bench_x[{param}]"
    return {"group": group, "name": name, "fullname": f"bench/b.py::{name}", "param": param,
            "stats": {"median": median}, "extra_info": {"ops": ops}}


def test_plot_from_saved_results(tmp_path: Path) -> None:
    results = {"benchmarks": [
        bench("next-v4/16-first1", "fastcidr-str", 4.0e-6, ops=100),
        bench("next-v4/16-half", "fastcidr-str", 4.5e-6, ops=100),
        bench("next-v4/16-last1", "fastcidr-str", 4.2e-6, ops=100),
        bench("next-v4/16-first1", "pyroaring", 1.7e-5, ops=100),
        bench("next-v4/16-half", "pyroaring", 1.3e-5, ops=100),
        bench("churn-90-v4/16", "fastcidr-int", 1.2e-7),
        bench("churn-90-v4/16", "pyroaring", 1.6e-7),
        bench("memory-v4/8-1M-random", "fastcidr", 0.5),
    ]}
    source = tmp_path / "latest.json"
    source.write_text(json.dumps(results))
    out = tmp_path / "docs" / "bench.png"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "plot_bench.py"), str(source), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"plot_bench: 8 benchmarks from 1 file(s) -> {out}"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import plot_bench
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    loaded = plot_bench.load([str(source)])
    series = plot_bench.fill_series(loaded)
    assert series[("fastcidr-str", "16")] == {"first1": 40.0, "half": 45.0, "last1": 42.0}
    (group, rows), = plot_bench.panels(loaded, r"^churn")
    assert group == "churn-90-v4/16"
    assert [(label, round(ns), ours) for label, ns, ours in rows] == [("fastcidr-int", 120, True),
                                                                        ("pyroaring", 160, False)]


def test_headline_plot_is_one_readable_panel(tmp_path: Path) -> None:
    """The README's picture: one panel of speed-ups over the peers, small enough for README width."""
    results = {"benchmarks": [
        bench("next-v4/16-half", "fastcidr-str", 4.5e-6, ops=100),
        bench("next-v4/16-half", "pyroaring", 1.3e-5, ops=100),
        bench("churn-90-v4/16", "fastcidr-str", 1.2e-7),
        bench("churn-90-v4/16", "pyroaring", 1.6e-7),
    ]}
    source = tmp_path / "latest.json"
    source.write_text(json.dumps(results))
    out = tmp_path / "bench.png"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "plot_bench.py"), "--headline",
                           str(source), "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"plot_bench: 2 speed-ups from 1 file(s) -> {out}"
    png = out.read_bytes()
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width <= 1100 and height <= 1000, (width, height)


def test_no_results_is_an_error(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "plot_bench.py")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "no results" in proc.stderr
