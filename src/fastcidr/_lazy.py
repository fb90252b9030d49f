"""Names a package imports on first use (PEP 562), so importing it stays cheap."""
from __future__ import annotations

import importlib
from typing import Any, Callable, Dict


def lazy_loader(package: str, names: Dict[str, str], namespace: Dict[str, Any]) -> Callable[[str], Any]:
    """A ``__getattr__`` body: imports ``names[name]`` (a module path), caches the attribute in the
    package's ``namespace`` so the next access is a plain lookup, and returns it."""

    def load(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return load
