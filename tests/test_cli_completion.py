"""``fastcidr completion bash|zsh`` (issue 13 item 4): bash sources the script without error, the
completion function is registered, and it completes commands, resource types, flags, output
formats and the names of the objects in the store (asked from ``fastcidr get``)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import List

import pytest

from tests.helpers import child_env


def _complete(tmp_path: Path, script: Path, words: List[str]) -> List[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    wrapper = bin_dir / "fastcidr"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m fastcidr "$@"\n')
    wrapper.chmod(0o755)
    env = child_env()
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    quoted = " ".join(f"'{w}'" for w in words)
    line = (f"source {script} && COMP_WORDS=({quoted}) && COMP_CWORD={len(words) - 1} && _fastcidr "
            f"&& printf '%s\\n' \"${{COMPREPLY[@]}}\"")
    result = subprocess.run(["bash", "--norc", "-c", line], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0 and result.stderr == "", result
    return result.stdout.split()


@pytest.fixture
def script(backend: types.ModuleType, tmp_path: Path) -> Path:
    if shutil.which("bash") is None:
        pytest.fail("bash is needed to test the bash completion")
    out = subprocess.run([sys.executable, "-m", "fastcidr", "completion", "bash"], capture_output=True,
                         text=True, env=child_env(), timeout=60)
    assert out.returncode == 0 and out.stderr == ""
    path = tmp_path / "fastcidr.bash"
    path.write_text(out.stdout)
    return path


def test_bash_sources_the_script_and_registers_the_function(script: Path) -> None:
    result = subprocess.run(["bash", "--norc", "-c", f"source {script} && declare -F _fastcidr && complete -p fastcidr"],
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == ["_fastcidr", "complete -o default -F _fastcidr fastcidr"]


def test_completes_commands_types_flags_outputs_and_names(script: Path, tmp_path: Path) -> None:
    store = tmp_path / "c.db"
    for args in (["init", "--service-cluster-ip-range", "10.96.0.0/28"],
                 ["create", "service", "clusterip", "web", "--tcp", "80"],
                 ["create", "service", "clusterip", "worker", "--tcp", "81"]):
        done = subprocess.run([sys.executable, "-m", "fastcidr", "--store", str(store), *args],
                              capture_output=True, text=True, env=child_env(), timeout=60)
        assert done.returncode == 0, done.stderr
    assert _complete(tmp_path, script, ["fastcidr", "de"]) == ["delete", "describe"]
    assert _complete(tmp_path, script, ["fastcidr", "get", "servicec"]) == ["servicecidrs", "servicecidr"]
    assert "--sort-by" in _complete(tmp_path, script, ["fastcidr", "get", "--s"])
    assert _complete(tmp_path, script, ["fastcidr", "get", "svc", "-o", "custom"]) == [
        "custom-columns=", "custom-columns-file="]
    assert _complete(tmp_path, script, ["fastcidr", "--store", str(store), "get", "svc", "w"]) == ["web", "worker"]
    assert _complete(tmp_path, script, ["fastcidr", "--store", str(store), "top", "scidr", ""]) == ["kubernetes"]


def test_zsh_script_and_unknown_shells(backend: types.ModuleType) -> None:
    zsh = subprocess.run([sys.executable, "-m", "fastcidr", "completion", "zsh"], capture_output=True,
                         text=True, env=child_env(), timeout=60)
    assert zsh.returncode == 0 and zsh.stdout.startswith("#compdef fastcidr\n")
    assert "bashcompinit" in zsh.stdout and "complete -o default -F _fastcidr fastcidr" in zsh.stdout
    if shutil.which("zsh"):
        loaded = subprocess.run(["zsh", "-f", "-c", "source /dev/stdin && whence -w _fastcidr"], input=zsh.stdout,
                                capture_output=True, text=True, timeout=60)
        assert loaded.returncode == 0 and "function" in loaded.stdout, loaded
    fish = subprocess.run([sys.executable, "-m", "fastcidr", "completion", "fish"], capture_output=True,
                          text=True, env=child_env(), timeout=60)
    assert (fish.returncode, fish.stdout, fish.stderr) == (1, "", 'error: Unsupported shell type "fish".\n')
