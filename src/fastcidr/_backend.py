"""Chooses the implementation of the core: the compiled Cython modules or their pure-Python twins.

``FASTCIDR_PURE=1`` forces the twin. Unset, empty or ``0`` selects the compiled core; if it cannot be
imported, a ``RuntimeWarning`` says so and the twin is used.

Each compiled module has a twin of the same API: ``_core`` / ``_core_twin``, ``_tree`` /
``_tree_twin``, ``_multi`` / ``_multi_twin``; the rules they share live in ``_rules``. Either set is
gathered into one namespace (``compiled`` or ``pure``) with every name of the modules' ``__all__``.

Internal code reads ``_backend.impl`` at call time (not at import time) so the test-suite can run
every behavioural test on both backends by swapping ``impl``. ``_backend.pure`` (the twins) is
imported on first use only: with the compiled core, ``import fastcidr`` loads no twin module.
"""
from __future__ import annotations

import importlib
import os
import types
import warnings
from typing import Any, Optional

compiled: Optional[types.ModuleType]
compile_error: Optional[BaseException] = None

_forced_pure = os.environ.get("FASTCIDR_PURE", "") not in ("", "0")


COMPILED_MODULES = ("_core", "_tree", "_multi")
TWIN_MODULES = tuple(f"{name}_twin" for name in COMPILED_MODULES)


def _gather(name: str, doc: str, modules: "tuple[str, ...]") -> types.ModuleType:
    ns = types.ModuleType(name, doc)
    names = []
    for module_name in modules:
        mod = importlib.import_module(f"fastcidr.{module_name}")
        for attr in mod.__all__:
            setattr(ns, attr, getattr(mod, attr))
            names.append(attr)
    ns.__all__ = names  # type: ignore[attr-defined]
    return ns


def _load_compiled() -> Optional[types.ModuleType]:
    global compile_error
    try:
        return _gather("fastcidr._compiled", "The compiled core: _core, _tree and _multi together.",
                       COMPILED_MODULES)
    # ImportError: not built. Anything else: a stale or half-built module; either way the twin serves.
    except Exception as exc:
        compile_error = exc
        return None


def unavailable_reason(error: Optional[BaseException]) -> str:
    """Why the compiled core did not load, in words a user can act on.

    A ``ModuleNotFoundError`` for one of the compiled modules themselves means the package was
    installed without building them (a pure wheel, or a source tree where ``make build`` has not
    run); anything else means a built module exists but failed to import, and the error says why
    (a stale build, a missing symbol, a Python version mismatch)."""
    if error is None:
        return "the compiled core is available"
    missing = getattr(error, "name", None)
    if isinstance(error, ModuleNotFoundError) and missing in {f"fastcidr.{m}" for m in COMPILED_MODULES}:
        return (f"the compiled core is not built ({missing} does not exist: reinstall from a "
                "platform wheel, or build it with `make build` / `pip install .`)")
    return f"the compiled core failed to import ({type(error).__name__}: {error})"


def _load_pure() -> types.ModuleType:
    module = globals().get("pure")
    if module is None:  # one namespace, so `backend is _backend.pure` holds
        module = _gather("fastcidr._twin",
                         "The pure-Python twins: _core_twin, _tree_twin and _multi_twin.", TWIN_MODULES)
        globals()["pure"] = module
    return module


def __getattr__(name: str) -> Any:
    if name == "pure":
        return _load_pure()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Loaded even when the twin is forced, so tests can compare both backends in one process.
compiled = _load_compiled()

impl: Any
if compiled is not None and not _forced_pure:
    impl = compiled
    BACKEND = "compiled"
else:
    if compiled is None and not _forced_pure:
        warnings.warn(
            f"fastcidr: {unavailable_reason(compile_error)}; using the pure-Python twin, "
            "30-70x slower (set FASTCIDR_PURE=1 to choose it and silence this)",
            RuntimeWarning,
            stacklevel=2,
        )
    impl = _load_pure()
    BACKEND = "pure"
