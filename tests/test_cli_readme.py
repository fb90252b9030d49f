"""The README's examples run as written, and say what they claim (on both backends)."""
from __future__ import annotations

import re
import types
from pathlib import Path

import pytest

import fastcidr

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_the_python_tour_runs_and_its_comments_are_true(
        fc: types.SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CIDRAllocator", "MultiCIDRAllocator", "PrefixTree"):
        monkeypatch.setattr(fastcidr, name, getattr(fc, name))
    monkeypatch.chdir(tmp_path)  # the tour's store is sqlite:///state.db, relative
    block = python_blocks()[0]  # the tour; the serve section's client example is tested in test_server_pyclient
    # Stop right after the line whose claim is checked, then run the rest.
    head, tail = block.split("pool.release(ip)", 1)
    ns: dict = {}
    exec(compile(head, "README.md", "exec"), ns)
    pool = ns["pool"]
    assert ns["ip"].startswith("10.96.0.")
    assert ("10.96.0.5" in pool, pool.used, pool.free, pool.band_offset) == (True, 2, 252, 16)
    exec(compile("pool.release(ip)" + tail, "README.md", "exec"), ns)
    assert ns["multi"].owners("10.96.0.5") == ["10.96.0.0/28", "10.96.0.0/24"]
    assert ns["tree"].longest_match("10.1.2.3") == ("10.1.0.0/16", "lab")
    assert ns["tree"].covering("10.1.0.0/24") == [("10.0.0.0/8", "corp"), ("10.1.0.0/16", "lab")]
    assert ns["svc"].cluster_ip.startswith("10.96.0.")
    # the with-block closed the cluster; the store on disk has the final state
    with fastcidr.Cluster(store="sqlite:///state.db") as cluster:
        assert [c.name for c in cluster.list_service_cidrs()] == ["kubernetes"]
        assert sorted(s.name for s in cluster.list_services()) == ["kubernetes", "web"]


def test_the_readme_names_the_default_store_and_both_setup_commands() -> None:
    from fastcidr import cli

    text = README.read_text()
    assert "make demo" in text and "make test" in text
    assert "~/.local/share/fastcidr/fastcidr.db" in text and "$XDG_DATA_HOME/fastcidr/fastcidr.db" in text
    assert cli.default_store_path().endswith("/fastcidr/fastcidr.db")
    assert "<!-- PERF TABLE -->" in text and "docs/bench.png" in text
