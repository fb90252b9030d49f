"""Every behavioural test runs on both backends: request the ``backend`` fixture (or ``fc``).

``backend`` is the implementation module (compiled core or pure twin) and also becomes
``fastcidr._backend.impl`` for the duration of the test, so code above the core (the Kubernetes
layer, the stores) runs on that backend too. In CI a missing compiled core is a failure, never a skip.
"""
from __future__ import annotations

import os
import types

import pytest

import fastcidr
from fastcidr import _backend

BACKENDS = ["compiled", "pure"]


def _module_for(name: str) -> types.ModuleType:
    if name == "pure":
        return _backend.pure
    if _backend.compiled is None:
        pytest.fail(f"the compiled core is not importable: {_backend.compile_error}")
    return _backend.compiled  # type: ignore[return-value]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    mod = _module_for(request.param)
    monkeypatch.setattr(_backend, "impl", mod)
    return mod


class _Api(types.SimpleNamespace):
    """Core classes from the chosen backend; every other public name from ``fastcidr``."""

    def __getattr__(self, name: str) -> object:
        return getattr(fastcidr, name)


@pytest.fixture
def fc(backend: types.ModuleType) -> _Api:
    """The public API with the core classes of the current backend (``fc.CIDRAllocator`` etc.)."""
    return _Api(
        CIDRAllocator=backend.CIDRAllocator,
        MultiCIDRAllocator=backend.MultiCIDRAllocator,
        PrefixTree=backend.PrefixTree,
        backend_name="pure" if backend is _backend.pure else "compiled",
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"fastcidr backend (default): {_backend.BACKEND}; CI={os.environ.get('CI', '')}"


# Fixtures that start real servers (etcd members) live in their own plugin module.
pytest_plugins = ["tests.servers"]
