"""Chooses the implementation of the core: the compiled Cython module or its pure-Python twin.

``FASTCIDR_PURE=1`` forces the twin. Unset, empty or ``0`` selects the compiled core; if it cannot be
imported, a ``RuntimeWarning`` says so and the twin is used.

Internal code reads ``_backend.impl`` at call time (not at import time) so the test-suite can run
every behavioural test on both backends by swapping ``impl``. ``_backend.pure`` (the twin) is
imported on first use only: the CLI's start-up does not pay for it when the compiled core loads.
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


def _load_compiled() -> Optional[types.ModuleType]:
    global compile_error
    try:
        from . import _core, _multi

        ns = types.ModuleType("fastcidr._compiled", "The compiled core: _core and _multi together.")
        for mod in (_core, _multi):
            for name in mod.__all__:
                setattr(ns, name, getattr(mod, name))
    # ImportError: not built. Anything else: a stale or half-built module; either way the twin serves.
    except Exception as exc:
        compile_error = exc
        return None
    return ns


def _load_pure() -> types.ModuleType:
    return importlib.import_module("fastcidr._pure")


def __getattr__(name: str) -> Any:
    if name == "pure":
        module = _load_pure()
        globals()["pure"] = module
        return module
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
            f"fastcidr: the compiled core is not available ({compile_error}); "
            "using the pure-Python twin (set FASTCIDR_PURE=1 to silence this)",
            RuntimeWarning,
            stacklevel=2,
        )
    impl = _load_pure()
    BACKEND = "pure"
