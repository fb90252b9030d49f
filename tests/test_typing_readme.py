"""The README's Python section type-checks under ``mypy --strict``, and ``Cluster``'s methods keep
their real signatures under the locking decorator (for ``help()`` and for type checkers)."""
from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fastcidr

README = Path(__file__).resolve().parent.parent / "README.md"


def _readme_python_block() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## The Python API in five minutes")
    match = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert match is not None, "the README's Python section has no python code block"
    return match.group(1)


def _mypy_strict(tmp_path: Path, name: str, source: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / name
    script.write_text(source, encoding="utf-8")
    env = dict(os.environ, MYPY_CACHE_DIR=str(tmp_path / ".mypy_cache"))
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--hide-error-context", str(script)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.mark.slow
def test_readme_python_section_passes_mypy_strict(tmp_path: Path) -> None:
    block = _readme_python_block()
    assert "fastcidr.Cluster(" in block and "create_service(" in block
    result = _mypy_strict(tmp_path, "readme_api.py", block)
    assert result.returncode == 0, result.stdout + result.stderr
    # ...and mypy really sees the Cluster's signatures: a wrong argument and a wrong result type fail
    misuse = (
        "import fastcidr\n"
        "with fastcidr.Cluster('10.96.0.0/28') as cluster:\n"
        "    cluster.create_service('web', ports=[80], no_such_flag=True)\n"
        "    wrong: int = cluster.get_service('web')\n"
    )
    result = _mypy_strict(tmp_path, "misuse.py", misuse)
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'Unexpected keyword argument "no_such_flag"' in result.stdout, result.stdout
    assert 'incompatible type "Service"' in result.stdout or '"Service", variable has type "int"' in result.stdout, \
        result.stdout


def _public_methods() -> list[str]:
    return [name for name, value in vars(fastcidr.Cluster).items()
            if not name.startswith("_") and inspect.isfunction(value)]


def test_cluster_methods_keep_their_signatures() -> None:
    names = _public_methods()
    assert {"create_service", "get_service", "delete_service_cidr", "create_services"} <= set(names)
    for name in names:
        method = getattr(fastcidr.Cluster, name)
        signature = inspect.signature(method)
        params = list(signature.parameters.values())
        assert params and params[0].name == "self", name
        kinds = {p.kind for p in params[1:]}
        # a generic wrapper would show (self, *args, **kwargs)
        assert not (kinds and kinds <= {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD}), \
            f"{name}{signature}"
        assert method.__doc__ == getattr(method, "__wrapped__", method).__doc__
    create = inspect.signature(fastcidr.Cluster.create_service)
    assert list(create.parameters)[:3] == ["self", "name", "namespace"]
    assert create.parameters["dry_run"].kind is inspect.Parameter.KEYWORD_ONLY


def test_help_shows_real_signatures() -> None:
    import pydoc

    text = pydoc.plain(pydoc.render_doc(fastcidr.Cluster.get_service))
    assert "get_service(self, name: 'str', namespace: 'str' = 'default') -> 'Service'" in text, text
