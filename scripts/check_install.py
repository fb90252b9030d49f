#!/usr/bin/env python3
"""Checks the doors a user takes: the sdist, the wheel pip builds from it, and a plain install.

    python scripts/check_install.py [--keep]

Run by ``make test`` (and so by CI) after the test suite. Steps, each failing loudly:

1. ``python -m build --sdist`` from this checkout; the sdist must hold the ``.pyx`` sources, the C
   headers, the stubs, ``py.typed``, LICENSE and the whole test suite with its helpers and data,
   and no generated C, compiled module or build directory.
2. ``pip wheel`` of that sdist (plain pip, build isolation, build requirements from the package
   index): the wheel must be a platform wheel holding the compiled core and LICENSE, and no
   generated C or ``.pyx``.
3. A fresh virtual environment with only that wheel installed by plain ``pip`` (its runtime
   dependencies from the index): ``fastcidr.BACKEND == "compiled"``; the Kubernetes walkthrough's
   CLI steps, YAML ``apply -f -`` and ``-o yaml`` included; a mistyped ``--store`` path creates
   nothing; a missing optional dependency is one line on stderr, exit status 1, no traceback.
4. Part of the test suite run from the unpacked sdist against the installed package.
"""
from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import zipfile
from typing import Dict, List, Optional, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SDIST_MUST_HAVE = [
    "src/fastcidr/_core.pyx", "src/fastcidr/_multi.pyx", "src/fastcidr/_tree.pyx",
    "src/fastcidr/_fc.pxd", "src/fastcidr/include/fc_platform.h", "src/fastcidr/_core.pyi",
    "src/fastcidr/py.typed", "LICENSE", "README.md", "pyproject.toml", "setup.py",
    "tests/conftest.py", "tests/helpers.py", "tests/servers.py", "tests/serve_process.py",
    "tests/test_cidr_allocator.py",
]
GENERATED = (".c", ".cpp", ".so", ".pyd", ".o", ".html")

# The sdist's tests run against the installed package: the core on both backends, the backend
# selector and the CLI's first contact (no servers, no optional dependencies beyond these).
SDIST_TESTS = [
    "tests/test_addresses.py", "tests/test_cidr_allocator.py", "tests/test_prefix_tree.py",
    "tests/test_multi_allocator.py", "tests/test_backend_selection.py",
    "tests/test_cli_first_contact.py",
]
SDIST_TEST_TOOLS = ["pytest>=8", "pytest-timeout>=2.3", "pytest-xdist>=3.5", "hypothesis>=6.100",
                    "netaddr>=1.0"]

SERVICE_YAML = textwrap.dedent("""\
    apiVersion: v1
    kind: Service
    metadata:
      name: web
      labels:
        app: web
    spec:
      ports:
      - port: 80
        protocol: TCP
      selector:
        app: web
    """)


class CheckFailed(Exception):
    pass


def step(title: str) -> None:
    print(f"check_install: {title}", flush=True)


def run(cmd: Sequence[str], *, cwd: Optional[str] = None, env: Optional[Dict[str, str]] = None,
        stdin: Optional[str] = None, expect: int = 0) -> subprocess.CompletedProcess:
    done = subprocess.run(list(cmd), cwd=cwd, env=env, input=stdin, capture_output=True, text=True,
                          timeout=900)
    if done.returncode != expect:
        raise CheckFailed(f"{' '.join(cmd)} exited {done.returncode} (expected {expect})\n"
                          f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}")
    return done


def clean_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment of a user's shell: no PYTHONPATH into this checkout, no forced backend."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "FASTCIDR_PURE", "FASTCIDR_STORE", "VIRTUAL_ENV")}
    env.update(extra or {})
    return env


def build_sdist(out: str) -> str:
    step("building the sdist (python -m build --sdist)")
    run([sys.executable, "-m", "build", "--sdist", "--outdir", out, ROOT], cwd=ROOT)
    (sdist,) = glob.glob(os.path.join(out, "fastcidr-*.tar.gz"))
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
    top = names[0].split("/")[0]
    inside = {name[len(top) + 1:] for name in names if name.startswith(top + "/")}
    missing = [path for path in SDIST_MUST_HAVE if path not in inside]
    generated = sorted(path for path in inside if path.endswith(GENERATED))
    build_dirs = sorted(path for path in inside if path.split("/")[0] in ("build", "dist", ".venv"))
    if missing or generated or build_dirs:
        raise CheckFailed(f"sdist contents: missing {missing}, generated {generated}, "
                          f"build directories {build_dirs}")
    if not any(path.startswith("tests/data/") for path in inside):
        raise CheckFailed("sdist contents: tests/data is missing")
    print(f"  {os.path.basename(sdist)}: {len(inside)} entries, .pyx and tests in, no generated C")
    return sdist


def build_wheel(sdist: str, out: str) -> str:
    step("building a wheel from the sdist (pip wheel, build isolation)")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, sdist],
        env=clean_env())
    (wheel,) = glob.glob(os.path.join(out, "fastcidr-*.whl"))
    name = os.path.basename(wheel)
    if name.endswith("-py3-none-any.whl") or "-none-any" in name:
        raise CheckFailed(f"{name} is a pure wheel: the compiled core was not built")
    with zipfile.ZipFile(wheel) as whl:
        members = whl.namelist()
    compiled = [m for m in members if m.startswith("fastcidr/_") and m.endswith((".so", ".pyd"))]
    generated = [m for m in members if m.endswith((".c", ".cpp", ".html", ".pyx", ".o"))]
    licence = [m for m in members if m.endswith(".dist-info/licenses/LICENSE")]
    if len(compiled) < 3 or generated or not licence:
        raise CheckFailed(f"wheel contents: compiled {compiled}, generated {generated}, "
                          f"licence {licence}")
    print(f"  {name}: {len(compiled)} compiled modules, LICENSE in, no generated C")
    return wheel


def fresh_venv(where: str, wheel: str) -> str:
    step("installing the wheel into a fresh virtual environment (plain pip)")
    run([sys.executable, "-m", "venv", where])
    python = os.path.join(where, "bin", "python")
    run([python, "-m", "pip", "install", "-q", wheel], env=clean_env())
    return python


def check_install(python: str, scratch: str) -> None:
    step("the installed package: compiled core, CLI walkthrough, first contact")
    env = clean_env()
    probe = run([python, "-W", "error", "-c",
                 "import fastcidr, sys; print(fastcidr.BACKEND, fastcidr.__version__)"],
                cwd=scratch, env=env)
    if not probe.stdout.startswith("compiled "):
        raise CheckFailed(f"installed backend is {probe.stdout.strip()!r}, not compiled")
    print(f"  backend, version: {probe.stdout.strip()}")
    plugin = run([python, "-c", "from importlib.metadata import entry_points; "
                  "print([e.value for e in entry_points(group='pytest11') if e.name == 'fastcidr.testing'])"],
                 cwd=scratch, env=env)
    if plugin.stdout.strip() != "['fastcidr.testing']":
        raise CheckFailed(f"the pytest11 entry point of fastcidr.testing is missing: {plugin.stdout!r}")

    fastcidr = os.path.join(os.path.dirname(python), "fastcidr")
    store = "sqlite:///" + os.path.join(scratch, "walkthrough.db")

    def cli(*args: str, stdin: Optional[str] = None, expect: int = 0) -> subprocess.CompletedProcess:
        return run([fastcidr, "--store", store, *args], cwd=scratch, env=env, stdin=stdin,
                   expect=expect)

    cli("init", "--service-cluster-ip-range", "10.96.0.0/28")
    table = cli("get", "servicecidr").stdout
    if "kubernetes" not in table or "10.96.0.0/28" not in table:
        raise CheckFailed(f"get servicecidr printed:\n{table}")
    cli("apply", "-f", "-", stdin=SERVICE_YAML)
    shown = cli("get", "service", "web", "-o", "yaml").stdout
    import yaml  # the checker's own interpreter has PyYAML (a runtime dependency)
    cluster_ip = yaml.safe_load(shown)["spec"]["clusterIP"]
    owner = cli("get", "ipaddress", cluster_ip, "-o", "yaml").stdout
    if "name: web" not in owner:
        raise CheckFailed(f"the IPAddress of {cluster_ip} does not name web:\n{owner}")
    cli("create", "servicecidr", "newcidr1", "--cidrs", "10.96.0.0/24")
    cli("delete", "servicecidr", "newcidr1")
    print(f"  walkthrough: init, apply -f - (YAML), -o yaml ({cluster_ip}), servicecidr create/delete")

    typo = os.path.join(scratch, "no-such-dir", "cluster.db")
    missing = run([fastcidr, "--store", "sqlite:///" + typo, "get", "services"], cwd=scratch,
                  env=env, expect=1)
    if os.path.exists(os.path.dirname(typo)) or "fastcidr init" not in missing.stderr:
        raise CheckFailed(f"a mistyped store path: created={os.path.exists(os.path.dirname(typo))}"
                          f" stderr={missing.stderr!r}")
    print("  a mistyped --store path creates nothing and hints `fastcidr init`")

    no_etcd = run([fastcidr, "--store", "etcd://127.0.0.1:2379", "get", "services"], cwd=scratch,
                  env=env, expect=1)
    lines = no_etcd.stderr.strip().splitlines()
    if len(lines) != 1 or "Traceback" in no_etcd.stderr or "fastcidr[etcd]" not in lines[0]:
        raise CheckFailed(f"a missing optional dependency printed: {no_etcd.stderr!r}")
    print(f"  a missing optional dependency: {lines[0]}")


def run_sdist_tests(python: str, sdist: str, scratch: str) -> None:
    step("the sdist's own tests against the installed package")
    with tarfile.open(sdist) as tar:
        tar.extractall(scratch, filter="data")
    (unpacked,) = glob.glob(os.path.join(scratch, "fastcidr-*/"))
    run([python, "-m", "pip", "install", "-q", *SDIST_TEST_TOOLS], env=clean_env())
    # CI=true: a compiled core that does not load is a failure, never a fallback.
    done = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", "-n", "2", *SDIST_TESTS],
               cwd=unpacked, env=clean_env({"CI": "true"}))
    print("  " + done.stdout.strip().splitlines()[-1])
    where = run([python, "-c", "import fastcidr; print(fastcidr.__file__)"], cwd=unpacked,
                env=clean_env()).stdout.strip()
    if where.startswith(os.path.abspath(unpacked)):
        raise CheckFailed(f"the sdist's tests imported the unpacked sources ({where})")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args(argv)
    scratch = tempfile.mkdtemp(prefix="fastcidr-install-")
    try:
        sdist = build_sdist(os.path.join(scratch, "dist"))
        wheel = build_wheel(sdist, os.path.join(scratch, "wheels"))
        python = fresh_venv(os.path.join(scratch, "venv"), wheel)
        work = os.path.join(scratch, "work")
        os.mkdir(work)
        check_install(python, work)
        run_sdist_tests(python, sdist, os.path.join(scratch, "unpacked"))
    except CheckFailed as failure:
        print(f"check_install: FAILED: {failure}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"check_install: scratch directory kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    step("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
