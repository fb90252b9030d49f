"""The backend selector (issue 2, item 5): ``FASTCIDR_PURE`` and the fallback with a warning.

Each case runs in a fresh interpreter so that the choice made at import time is observed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

import fastcidr
from fastcidr import _backend

PROBE = textwrap.dedent(
    """
    import json, sys, warnings
    if BLOCK_CORE:
        class BlockCore:
            def find_spec(self, name, path=None, target=None):
                if name in ("fastcidr._core", "fastcidr._multi"):
                    raise ImportError(f"{name} blocked by the test")
                return None
        sys.meta_path.insert(0, BlockCore())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import fastcidr
        from fastcidr import _backend
    a = fastcidr.CIDRAllocator("10.0.0.0/24", seed=1)
    print(json.dumps({
        "backend": fastcidr.BACKEND,
        "impl": _backend.impl.__name__,
        "class_module": type(a).__module__,
        "first": a.allocate_next(),
        "warnings": [[w.category.__name__, str(w.message)] for w in caught],
    }))
    """
)


def probe(pure_env, *, block_core: bool = False) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "FASTCIDR_PURE"}
    if pure_env is not None:
        env["FASTCIDR_PURE"] = pure_env
    code = f"BLOCK_CORE = {block_core!r}\n" + PROBE
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_pure_forced_by_environment():
    result = probe("1")
    assert result["backend"] == "pure" and "pure" in result["backend"]
    assert result["class_module"] == "fastcidr._pure"
    assert result["warnings"] == []


@pytest.mark.parametrize("value", [None, "", "0"])
def test_compiled_selected_when_not_forced(value):
    result = probe(value)
    assert result["backend"] == "compiled"
    assert result["class_module"] != "fastcidr._pure"
    assert result["warnings"] == []


def test_missing_compiled_core_warns_and_falls_back():
    result = probe(None, block_core=True)
    assert result["backend"] == "pure"
    assert result["class_module"] == "fastcidr._pure"
    categories = [category for category, _ in result["warnings"]]
    assert categories == ["RuntimeWarning"], result["warnings"]
    assert "compiled core" in result["warnings"][0][1]


def test_both_backends_give_the_same_first_address():
    """The seeded choice does not depend on the backend that the selector picked."""
    assert probe("1")["first"] == probe(None)["first"]


def test_backend_name_is_exported(backend):
    assert fastcidr.BACKEND in ("compiled", "pure")
    assert _backend.impl is backend
    assert set(backend.__all__ if hasattr(backend, "__all__") else dir(backend)) >= {
        "CIDRAllocator",
        "parse_ip",
        "parse_cidr",
        "format_ip",
        "format_cidr",
        "canonical_ip",
        "canonical_cidr",
    }
