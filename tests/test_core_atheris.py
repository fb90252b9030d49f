"""A short, bounded run of the coverage-guided fuzz of the core's address parser and snapshot
restore (tests/fuzz_core_atheris.py: compiled core against the pure twin), in its own process so
that a crash of the compiled core is a failed test and not a dead test runner.

Where atheris is missing the test fails under ``CI=true`` (it is in the ``test`` extra) and skips
elsewhere.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).with_name("fuzz_core_atheris.py")
SRC = str(Path(__file__).resolve().parents[1] / "src")


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("FASTCIDR_PURE", None)  # the harness compares both backends itself
    return env


@pytest.fixture
def atheris_available() -> None:
    try:
        import atheris  # noqa: F401
    except ImportError:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("atheris is not installed (it is in the test extra)")
        pytest.skip("atheris is not installed")


@pytest.mark.parametrize("seed", [1, 2])
def test_core_parser_and_restore_fuzz(atheris_available, seed, tmp_path):
    corpus = tmp_path / "corpus"
    subprocess.run([sys.executable, str(HARNESS), "--write-seeds", str(corpus)], check=True,
                   env=_env(), timeout=120, capture_output=True)
    result = subprocess.run(
        [sys.executable, str(HARNESS), "-runs=40000", f"-seed={seed}", "-max_len=512",
         "-max_total_time=60", str(corpus)],
        cwd=tmp_path, env=_env(), timeout=180, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Done 40000 runs" in result.stderr, result.stderr[-2000:]
    assert not list(tmp_path.glob("crash-*"))
