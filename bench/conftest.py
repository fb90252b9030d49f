"""pytest configuration for the benchmarks (``pytest bench --benchmark-only``; ``make bench``).

Benchmark modules are named ``bench_*.py`` so the normal test run (``testpaths = tests``) never
collects them; this file teaches pytest to collect them when ``bench`` is given explicitly.
Shared helpers and conventions live in ``benchutil.py``.
"""
from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("python_files", "bench_*.py")
    config.addinivalue_line("python_functions", "bench_*")
