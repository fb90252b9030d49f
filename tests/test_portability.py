"""The core's C builds where the wheels are built: a 64-bit ARM compiler accepts the generated C
and the headers (no x86-only intrinsic outside its guard), and the platform header refuses a
compiler without a 128-bit integer with a clear message.

The ARM check needs ``aarch64-linux-gnu-gcc`` (``scripts/install-tools.sh`` installs it on
x86_64); under ``CI=true`` its absence is a failure, elsewhere the check is skipped.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "fastcidr"
INCLUDE = SRC / "include"
CROSS = "aarch64-linux-gnu-gcc"


def _cross_compiler() -> str:
    found = shutil.which(CROSS)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{CROSS} is missing: run scripts/install-tools.sh")
        pytest.skip(f"{CROSS} is not installed")
    return found


def _generated_c() -> list:
    sources = sorted(SRC.glob("_*.c"))
    if len(sources) < 3:
        pytest.fail("the generated C of the core is missing: build it first (make build)")
    return sources


@pytest.mark.parametrize("header", sorted(p.name for p in INCLUDE.glob("*.h")))
def test_every_header_compiles_for_aarch64(header: str, tmp_path: Path) -> None:
    compiler = _cross_compiler()
    unit = tmp_path / "unit.c"
    unit.write_text(f"#include <Python.h>  /* first, as in the generated C */\n#include \"{header}\"\n")
    done = subprocess.run([compiler, "-fsyntax-only", "-Werror=implicit-function-declaration",
                           f"-I{INCLUDE}", f"-I{sysconfig.get_paths()['include']}", str(unit)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_generated_core_compiles_for_aarch64() -> None:
    compiler = _cross_compiler()
    for source in _generated_c():
        done = subprocess.run([compiler, "-fsyntax-only", "-Werror=implicit-function-declaration",
                               f"-I{INCLUDE}", f"-I{sysconfig.get_paths()['include']}", str(source)],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (source.name, done.stderr[-3000:])


def test_a_compiler_without_128_bit_integers_is_refused(tmp_path: Path) -> None:
    """As MSVC would be: the header stops the build with its own message, not a wall of errors."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    assert compiler is not None, "a C compiler is needed to build fastcidr at all"
    unit = tmp_path / "unit.c"
    unit.write_text('#undef __SIZEOF_INT128__\n#include "fc_platform.h"\n')
    done = subprocess.run([compiler, "-fsyntax-only", f"-I{INCLUDE}", str(unit)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "128" in done.stderr, done.stderr
