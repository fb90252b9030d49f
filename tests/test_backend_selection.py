"""The backend selector (issue 2, item 5): ``FASTCIDR_PURE`` and the fallback with a warning.

Each case runs in a fresh interpreter so that the choice made at import time is observed.
"""
from __future__ import annotations

import json
import os
import re
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
                if name in ("fastcidr._core", "fastcidr._tree", "fastcidr._multi"):
                    if BLOCK_CORE == "missing":  # as in a pure wheel: the module file is not there
                        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                    raise ImportError(f"{name}: undefined symbol: fc_test_symbol")
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


def probe(pure_env, *, block_core: object = False) -> dict:
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
    assert result["class_module"] == "fastcidr._core_twin"
    assert result["warnings"] == []


@pytest.mark.parametrize("value", [None, "", "0"])
def test_compiled_selected_when_not_forced(value):
    result = probe(value)
    assert result["backend"] == "compiled"
    assert result["class_module"] != "fastcidr._core_twin"
    assert result["warnings"] == []


@pytest.mark.parametrize("how, reason", [
    ("missing", "the compiled core is not built (fastcidr._core does not exist"),
    ("broken", "the compiled core failed to import (ImportError: fastcidr._core: undefined symbol"),
])
def test_missing_compiled_core_warns_with_the_real_reason_and_falls_back(how, reason):
    result = probe(None, block_core=how)
    assert result["backend"] == "pure"
    assert result["class_module"] == "fastcidr._core_twin"
    categories = [category for category, _ in result["warnings"]]
    assert categories == ["RuntimeWarning"], result["warnings"]
    message = result["warnings"][0][1]
    assert reason in message, message
    assert "circular" not in message and "pure-Python twin" in message


TWIN_PROBE = textwrap.dedent(
    """
    import json, sys
    import fastcidr
    from fastcidr import _backend
    m = fastcidr.MultiCIDRAllocator(["10.0.0.0/24"], seed=1)
    t = fastcidr.PrefixTree()
    t["10.0.0.0/8"] = 1
    m.allocate_next()
    print(json.dumps({
        "backend": fastcidr.BACKEND,
        "loaded": sorted(name for name in sys.modules if name.startswith("fastcidr.")),
    }))
    """
)


def test_compiled_backend_loads_no_twin_module():
    """With the compiled core, `import fastcidr` and using all three classes import no twin."""
    env = {k: v for k, v in os.environ.items() if k != "FASTCIDR_PURE"}
    done = subprocess.run(
        [sys.executable, "-c", TWIN_PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["backend"] == "compiled"
    assert {"fastcidr._core", "fastcidr._tree", "fastcidr._multi"} <= set(result["loaded"])
    twins = [name for name in result["loaded"] if name.endswith("_twin") or "_pure" in name]
    assert twins == [], twins


CORE_MODULES = ("_rules", "_freespace", "_core_twin", "_tree_twin", "_multi_twin", "_core", "_tree", "_multi")
# The sources beside this test (a checkout or an unpacked sdist), not the installed package:
# an installed wheel has no .pyx.
SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src", "fastcidr")


def _core_imports(module: str) -> set:
    """The core modules that one core module imports (Python import or Cython cimport)."""
    path = os.path.join(SRC, module + (".py" if os.path.exists(os.path.join(SRC, module + ".py")) else ".pyx"))
    with open(path, encoding="utf-8") as source:
        text = source.read()
    found = set(re.findall(r"^\s*(?:from|c?import)\s+(?:fastcidr)?\.?(_\w+)", text, re.M))
    return {name for name in found if name in CORE_MODULES and name != module}


def test_core_modules_have_no_import_circle():
    graph = {module: _core_imports(module) for module in CORE_MODULES}
    assert graph["_multi_twin"] >= {"_rules", "_core_twin", "_tree_twin"}  # the scan sees imports
    for compiled in ("_core", "_tree", "_multi"):
        assert not any(name.endswith("_twin") for name in graph[compiled]), graph[compiled]
    assert graph["_rules"] == set()

    def visit(module: str, path: tuple) -> None:
        for target in graph[module]:
            assert target not in path, f"import circle: {' -> '.join(path + (target,))}"
            visit(target, path + (target,))

    for module in CORE_MODULES:
        visit(module, (module,))


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
