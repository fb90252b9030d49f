"""Chooses the implementation of the core: the compiled Cython module or its pure-Python twin.

``FASTCIDR_PURE=1`` forces the twin. Unset, empty or ``0`` selects the compiled core; if it cannot be
imported, a ``RuntimeWarning`` says so and the twin is used.

Internal code reads ``_backend.impl`` at call time (not at import time) so the test-suite can run
every behavioural test on both backends by swapping ``impl``.
"""
from __future__ import annotations

import os
import types
import warnings
from typing import Optional

from . import _pure as pure

compiled: Optional[types.ModuleType]
compile_error: Optional[BaseException] = None

_forced_pure = os.environ.get("FASTCIDR_PURE", "") not in ("", "0")


def _load_compiled() -> Optional[types.ModuleType]:
    global compile_error
    try:
        from . import _core, _multi  # noqa: F401
    except ImportError as exc:  # the extension was not built, or failed to build
        compile_error = exc
        return None
    ns = types.SimpleNamespace()
    for mod in (_core, _multi):
        for name in getattr(mod, "__all__", ()):
            setattr(ns, name, getattr(mod, name))
    ns.__name__ = "fastcidr._core"
    return ns  # type: ignore[return-value]


compiled = _load_compiled()

if _forced_pure:
    impl = pure
    BACKEND = "pure"
elif compiled is not None:
    impl = compiled
    BACKEND = "compiled"
else:
    warnings.warn(
        f"fastcidr: the compiled core is not available ({compile_error}); "
        "using the pure-Python twin (set FASTCIDR_PURE=1 to silence this)",
        RuntimeWarning,
        stacklevel=2,
    )
    impl = pure
    BACKEND = "pure"
