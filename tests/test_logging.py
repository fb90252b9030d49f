"""Logging and the progress line (docs/observability.md): silent unless configured, records under
``fastcidr.*`` when configured, ``-v`` on the command line and ``fastcidr serve``, a ``\\r``
progress line only on a terminal."""
from __future__ import annotations

import io
import json
import logging
import os
import pty
import select
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any, Dict, List

import pytest

from fastcidr import cli
from fastcidr._log import Progress, configure_cli
from fastcidr.k8s.cluster import Cluster

from .helpers import child_env
from .serve_process import ServeProcess

ORPHAN_SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a", "namespace": "default"},
                  "spec": {"clusterIP": "10.0.0.9", "clusterIPs": ["10.0.0.9"]}}


@pytest.fixture(autouse=True)
def _no_cli_handler() -> Any:
    """configure_cli() changes the ``fastcidr`` logger: put it back after each test."""
    root = logging.getLogger("fastcidr")
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_silent_by_default(backend: types.ModuleType) -> None:
    """A host application that configures nothing sees nothing, not even warnings (which Python
    would otherwise print through its last-resort handler)."""
    code = (
        "import fastcidr.k8s.cluster as m\n"
        "c = m.Cluster('10.0.0.0/24')\n"
        f"c.import_objects([{ORPHAN_SERVICE!r}])\n"
        "assert [e.reason for e in c.events()] == ['ClusterIPNotAllocated'], c.events()\n"
        "print('done')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=child_env("pure" if backend.__name__.endswith("twin") else "compiled"), timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "done\n" and done.stderr == ""
    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("fastcidr").handlers)


def test_records_when_configured(backend: types.ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="fastcidr"):
        with Cluster("10.0.0.0/24") as cluster:
            cluster.import_objects([ORPHAN_SERVICE])
    by_logger: Dict[str, List[logging.LogRecord]] = {}
    for record in caplog.records:
        by_logger.setdefault(record.name, []).append(record)
    assert all(name.startswith("fastcidr.") for name in by_logger), list(by_logger)
    started = by_logger["fastcidr.k8s.cluster"][0]
    assert started.levelno == logging.INFO and "started on" in started.getMessage()
    warning = [r for r in by_logger["fastcidr.k8s._index"] if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warning] == [
        "Warning ClusterIPNotAllocated services/default/a: Cluster IP [IPv4]: 10.0.0.9 is not allocated; repairing"]
    assert any(r.getMessage().startswith("imported 1 objects in ") for r in by_logger["fastcidr.k8s.importer"])
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fastcidr"):  # INFO is below the level now
        with Cluster("10.0.0.0/24"):
            pass
    assert caplog.records == []


def _dump(path: Path, n: int) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import import_scale

    path.write_text(json.dumps(import_scale.dump(n), indent=4))
    return path


def test_cli_verbose(backend: types.ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                     capsys: pytest.CaptureFixture[str]) -> None:
    dump = _dump(tmp_path / "dump.json", 3)
    store = str(tmp_path / "cli.db")
    assert cli.main(["--store", store, "import", "-f", str(dump)]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == "" and quiet.out.startswith("imported 9 objects")
    assert cli.main(["-v", "--store", store, "import", "-f", str(dump)]) == 0
    loud = capsys.readouterr()
    assert loud.out == quiet.out
    lines = loud.err.splitlines()
    assert any(line.startswith("fastcidr: started on ") for line in lines), lines
    assert any(line.startswith("fastcidr: imported 9 objects in ") for line in lines), lines
    assert cli.main(["-vv", "--store", store, "get", "servicecidr", "-o", "name"]) == 0
    assert capsys.readouterr().out == "servicecidr.networking.k8s.io/kubernetes\n"
    # the command's handler is gone with the command: later records reach no stale stream
    root = logging.getLogger("fastcidr")
    assert [type(h).__name__ for h in root.handlers] == ["NullHandler"] and root.level == logging.NOTSET


def test_serve_logs_requests_with_v_and_errors_always(backend: types.ModuleType, tmp_path: Path) -> None:
    pure = backend.__name__.endswith("twin")
    quiet = ServeProcess(tmp_path, pure=pure)
    try:
        status, _, _ = quiet.request("GET", "/api/v1/namespaces/default/services")
        assert status == 200
    finally:
        err = quiet.stop()
    assert "GET /api/v1/namespaces/default/services" not in err
    loud = ServeProcess(tmp_path, "-v", pure=pure)
    try:
        status, _, _ = loud.request("GET", "/api/v1/namespaces/default/services")
        assert status == 200
    finally:
        err = loud.stop()
    request_lines = [line for line in err.splitlines() if "GET /api/v1/namespaces/default/services" in line]
    assert request_lines and request_lines[0].startswith("fastcidr serve: 127.0.0.1 - "), err
    assert request_lines[0].endswith(" 200 -"), request_lines


def test_progress_writes_only_to_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    off = io.StringIO()
    p = Progress("importing", stream=off)
    p.update(5, force=True)
    p.done()
    assert off.getvalue() == ""
    on = Tty()
    p = Progress("importing", stream=on, interval=0.0)
    p.update(1000, force=True)
    p.update(2000, label="writing", force=True)
    p.total = 4000
    p.update(3000, force=True)
    p.done()
    assert on.getvalue() == ("\rimporting: 1,000 objects" "\rwriting: 2,000 objects  "
                             "\rwriting: 3,000/4,000 objects (75%)" "\r" + " " * 34 + "\r")
    ticking = Tty()
    p = Progress("starting", stream=ticking, interval=0.01).ticking()
    time.sleep(0.2)
    p.done()
    assert ticking.getvalue().startswith("\rstarting... 0.") and ticking.getvalue().endswith("\r")


def _run_import(argv: List[str], env: Dict[str, str], tty: bool) -> str:
    """stderr of ``fastcidr import`` with stderr on a pseudo-terminal (or a pipe)."""
    if not tty:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stderr
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 300)
        assert ready, "no output and no end from the import"
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(60) == 0
    return b"".join(chunks).decode()


def test_import_progress_line_on_a_pty(backend: types.ModuleType, tmp_path: Path) -> None:
    dump = _dump(tmp_path / "dump.json", 4000)
    env = child_env("pure" if backend.__name__.endswith("twin") else "compiled")
    argv = [sys.executable, "-m", "fastcidr", "--store", str(tmp_path / "a.db"), "import", "-f", str(dump)]
    on_tty = _run_import(argv, env, tty=True)
    assert "\rimporting: " in on_tty and on_tty.endswith("\r"), on_tty[-300:]
    assert "objects" in on_tty
    argv[4] = str(tmp_path / "b.db")
    assert _run_import(argv, env, tty=False) == ""
