"""First contact with the command line: a mistyped store creates nothing, an empty store hints
``fastcidr init``, ``init`` reports what really happened, ``default/kubernetes`` comes back after
``delete svc --all``, and a missing optional package is one clear line without a traceback."""
from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any, Callable

import pytest

from fastcidr.errors import MissingDependencyError, StoreNotFoundError
from fastcidr.store.urls import open_store
from tests.helpers import Result, cli_invoker

Run = Callable[..., Result]


@pytest.fixture
def run(backend: types.ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Run:
    monkeypatch.delenv("FASTCIDR_STORE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return cli_invoker(monkeypatch, capsys)


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.mark.parametrize("command", ["get servicecidr", "get svc -A", "get ip 10.96.0.1", "describe servicecidr",
                                     "describe svc kubernetes"])
def test_read_only_commands_on_a_missing_store_create_nothing(run: Run, tmp_path: Path, command: str) -> None:
    before = _tree(tmp_path)
    mistyped = tmp_path / "no-such-dir" / "typo.db"
    for argv in (["--store", str(mistyped)] + command.split(), command.split(),  # the default location too
                 ["--store", f"sqlite:///{mistyped}"] + command.split()):
        r = run(argv)
        assert r.status == 1 and r.out == "", r
        assert r.err.startswith("error: no fastcidr store at "), r
        assert "fastcidr init --service-cluster-ip-range" in r.err and "--store" in r.err, r
        assert len(r.err.splitlines()) == 1, r
        assert _tree(tmp_path) == before  # no folder, no database file


def test_open_store_create_false_creates_nothing(tmp_path: Path) -> None:
    for url in (str(tmp_path / "a" / "b.db"), f"sqlite:///{tmp_path}/c.db"):
        with pytest.raises(StoreNotFoundError) as info:
            open_store(url, create=False)
        assert info.value.path.startswith(str(tmp_path))
    assert _tree(tmp_path) == []


def test_an_empty_store_hints_init(run: Run, tmp_path: Path) -> None:
    from fastcidr.store.sqlite import SQLiteStore

    path = tmp_path / "empty.db"
    SQLiteStore(path).close()
    r = run(["--store", str(path), "get", "servicecidr"])
    assert r.status == 0 and r.out == ""
    assert r.err.splitlines() == ["No resources found",
                                  "hint: this store holds no service cluster IP range yet: run "
                                  "'fastcidr init --service-cluster-ip-range CIDR[,CIDR]' to set it up"]
    assert run(["--store", str(path), "init", "--service-cluster-ip-range", "10.96.0.0/28"]).status == 0
    r = run(["--store", str(path), "get", "svc", "-n", "empty"])
    assert r.err == "No resources found in empty namespace.\n"  # an initialised store: no hint


def test_init_reports_what_happened(run: Run, tmp_path: Path) -> None:
    store = str(tmp_path / "s.db")
    r = run(["--store", store, "init", "--service-cluster-ip-range", "10.96.0.0/28"])
    assert (r.status, r.err) == (0, "")
    assert r.out.splitlines() == [f"service-cluster-ip-range 10.96.0.0/28 recorded in {store}",
                                  "servicecidr.networking.k8s.io/kubernetes ready"]
    r = run(["--store", store, "init", "--service-cluster-ip-range", "10.96.0.0/28"])
    assert r.out.splitlines()[0] == f"service-cluster-ip-range 10.96.0.0/28 already recorded in {store}"

    # single -> dual stack with the same primary: the kubernetes ServiceCIDR is upgraded
    r = run(["--store", store, "init", "--service-cluster-ip-range", "10.96.0.0/28,fd00::/120"])
    assert (r.status, r.err) == (0, "")
    assert r.out.splitlines() == [
        f"service-cluster-ip-range changed from 10.96.0.0/28 to 10.96.0.0/28,fd00::/120 in {store}",
        "servicecidr.networking.k8s.io/kubernetes upgraded to dual-stack 10.96.0.0/28,fd00::/120",
        "servicecidr.networking.k8s.io/kubernetes ready"]
    assert run(["--store", store, "get", "servicecidr", "kubernetes", "-o", "jsonpath={.spec.cidrs}"]).out == \
        '["10.96.0.0/28","fd00::/120"]'

    # another range: left alone with the Warning event, and said so
    r = run(["--store", store, "init", "--service-cluster-ip-range", "10.100.0.0/24"])
    assert r.status == 0
    assert r.out.splitlines()[0] == (
        f"service-cluster-ip-range changed from 10.96.0.0/28,fd00::/120 to 10.100.0.0/24 in {store}")
    assert "recorded in" not in r.out
    assert r.err.startswith("Warning: KubernetesDefaultServiceCIDRInconsistent: The default ServiceCIDR "
                            "[10.96.0.0/28 fd00::/120] does not match the controller flag configurations "
                            "10.100.0.0/24; the existing ServiceCIDR is left as it is"), r.err
    assert run(["--store", store, "get", "servicecidr", "kubernetes", "-o", "jsonpath={.spec.cidrs}"]).out == \
        '["10.96.0.0/28","fd00::/120"]'


def test_init_does_not_call_a_terminating_default_cidr_ready(run: Run, tmp_path: Path) -> None:
    store = str(tmp_path / "s.db")
    assert run(["--store", store, "init", "--service-cluster-ip-range", "10.96.0.0/28"]).status == 0
    # 10.96.0.1 (default/kubernetes) keeps it Terminating
    assert run(["--store", store, "delete", "servicecidr", "kubernetes"]).status == 0
    r = run(["--store", store, "init", "--service-cluster-ip-range", "10.96.0.0/28"])
    assert r.status == 0
    assert " ready" not in r.out.splitlines()[1]
    assert r.out.splitlines()[1].startswith("servicecidr.networking.k8s.io/kubernetes is Terminating"), r.out


def test_delete_all_services_recreates_default_kubernetes(run: Run, tmp_path: Path) -> None:
    store = str(tmp_path / "s.db")
    assert run(["--store", store, "init", "--service-cluster-ip-range", "10.96.0.0/28"]).status == 0
    before = run(["--store", store, "get", "svc", "kubernetes", "-o", "jsonpath={.metadata.uid}"]).out
    assert run(["--store", store, "create", "service", "clusterip", "web", "--tcp", "80"]).status == 0
    r = run(["--store", store, "delete", "svc", "--all"])
    assert r.status == 0 and 'service "kubernetes" deleted' in r.out and 'service "web" deleted' in r.out
    r = run(["--store", store, "get", "svc", "-o", "jsonpath={range .items[*]}{.metadata.name} "
             "{.spec.clusterIP} {.metadata.uid}{\"\\n\"}{end}"])
    name, ip, uid = r.out.split()
    assert (name, ip) == ("kubernetes", "10.96.0.1") and uid != before
    assert run(["--store", store, "get", "ip", "10.96.0.1", "-o", "jsonpath={.spec.parentRef.name}"]).out == \
        "kubernetes"


_HIDE = (
    "import builtins, sys\n"
    "real = builtins.__import__\n"
    "def hide(name, *args, **kwargs):\n"
    "    if name.split('.')[0] in {hidden!r}:\n"
    "        raise ImportError(f'No module named {{name!r}}', name=name)\n"
    "    return real(name, *args, **kwargs)\n"
    "builtins.__import__ = hide\n"
)


@pytest.mark.parametrize("hidden", [("etcd3gw",), ("requests", "etcd3gw")])
def test_a_missing_optional_dependency_is_one_line(tmp_path: Path, hidden: tuple[str, ...]) -> None:
    code = _HIDE.format(hidden=set(hidden)) + (
        "from fastcidr import cli\n"
        "sys.exit(cli.main(sys.argv[1:]))\n")
    env = dict(os.environ, HOME=str(tmp_path))
    env.pop("FASTCIDR_STORE", None)
    for args in (["--store", "etcd://127.0.0.1:1/x", "get", "svc"],
                 ["--store", "etcd://127.0.0.1:1/x", "init", "--service-cluster-ip-range", "10.96.0.0/28"]):
        proc = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 1, proc
        assert proc.stdout == ""
        lines = proc.stderr.splitlines()
        assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert lines[0].startswith("error: the etcd store needs the ") and \
            lines[0].endswith("package: pip install 'fastcidr[etcd]'"), lines


def test_open_store_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real = builtins.__import__

    def hide(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] == "etcd3gw":
            raise ImportError(f"No module named {name!r}", name=name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", hide)
    with pytest.raises(MissingDependencyError, match=r"pip install 'fastcidr\[etcd\]'"):
        open_store("etcd://127.0.0.1:1/x")


def test_sqlite_store_works_without_orjson(tmp_path: Path) -> None:
    code = _HIDE.format(hidden={"orjson"}) + (
        "from fastcidr.store import sqlite\n"
        "from fastcidr.store.base import Put\n"
        "assert sqlite._orjson is None\n"
        f"store = sqlite.SQLiteStore({str(tmp_path / 'x.db')!r})\n"
        "store.commit([Put('k', 'a', {'n': 1 << 70, 'text': 'é'})])\n"
        "print(store.get('k', 'a').value)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "{'n': 1180591620717411303424, 'text': 'é'}"
