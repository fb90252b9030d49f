"""Every docstring example of the Python modules runs (``doctest``), on both backends."""
from __future__ import annotations

import doctest
import importlib
import pkgutil
import types
from typing import List

import pytest

import fastcidr

# modules whose examples need what a unit test does not have (a listening server, the real kubectl)
_NEEDS_A_SERVER = {"fastcidr.server"}


def _module_names() -> List[str]:
    names = ["fastcidr"]
    for info in pkgutil.walk_packages(fastcidr.__path__, "fastcidr."):
        if info.name.rsplit(".", 1)[-1] in ("__main__",):
            continue
        names.append(info.name)
    return sorted(names)


MODULES = _module_names()


def test_the_modules_are_found() -> None:
    assert {"fastcidr.k8s.cluster", "fastcidr.cli.output", "fastcidr.store.urls", "fastcidr.k8s.family"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, backend: types.ModuleType) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = [t for t in finder.find(module, name) if t.examples]
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
