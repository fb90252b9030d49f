"""``fastcidr get -w`` / ``--watch-only`` (issue 13 item 4) as a subprocess, while a second
``fastcidr`` process creates, labels and deletes Services on the same SQLite store; SIGTERM and
Ctrl-C (SIGINT) end the watch cleanly. Every wait is bounded. Both backends."""
from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any, List

import pytest

from tests.helpers import child_env

TIMEOUT = 60


def _fastcidr(store: Path, backend: str, *args: str, **kw: Any) -> "subprocess.Popen[str]":
    return subprocess.Popen([sys.executable, "-m", "fastcidr", "--store", str(store), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env(backend), **kw)


def _ok(store: Path, backend: str, *args: str) -> str:
    proc = _fastcidr(store, backend, *args)
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, (args, out, err)
    return out


class Lines:
    def __init__(self, stream: Any) -> None:
        self.queue: "queue.Queue[str]" = queue.Queue()
        self.thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self.thread.start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self.queue.put(line.rstrip("\n"))

    def take(self, count: int) -> List[str]:
        out: List[str] = []
        deadline = time.monotonic() + TIMEOUT
        while len(out) < count and time.monotonic() < deadline:
            try:
                out.append(self.queue.get(timeout=0.2))
            except queue.Empty:
                continue
        assert len(out) == count, out
        return out


@pytest.fixture
def store(backend: types.ModuleType, tmp_path: Path) -> Any:
    from fastcidr import _backend

    name = "pure" if backend is _backend.pure else "compiled"
    path = tmp_path / "watch.db"
    _ok(path, name, "init", "--service-cluster-ip-range", "10.96.0.0/24")
    return path, name


def _stop(proc: "subprocess.Popen[str]", sig: int, lines: "Lines") -> "tuple[int, str]":
    """Send ``sig``, wait for the exit; (status, stderr), the pipes closed."""
    proc.send_signal(sig)
    try:
        status = proc.wait(TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(TIMEOUT)
    lines.thread.join(TIMEOUT)
    assert proc.stderr is not None and proc.stdout is not None
    err = proc.stderr.read()
    proc.stderr.close()
    proc.stdout.close()
    return status, err


def test_watch_prints_the_list_then_each_change_and_ends_on_sigterm(store: Any) -> None:
    path, backend = store
    watcher = _fastcidr(path, backend, "get", "svc", "-w")
    lines = Lines(watcher.stdout)
    try:
        head = lines.take(2)
        assert head[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
        assert head[1].split()[0] == "kubernetes"
        _ok(path, backend, "create", "service", "clusterip", "a-much-longer-name", "--tcp", "81")
        added = lines.take(1)[0]
        assert added.split()[:2] == ["a-much-longer-name", "ClusterIP"]
        assert added.split()[4] == "81/TCP"
        _ok(path, backend, "label", "svc", "kubernetes", "x=1")
        modified = lines.take(1)[0]
        # kubectl's watch printer remembers the widest cell of each column
        assert modified.startswith("kubernetes" + " " * (len("a-much-longer-name") + 3 - len("kubernetes")))
        _ok(path, backend, "delete", "svc", "a-much-longer-name")
        assert lines.take(1)[0].split()[0] == "a-much-longer-name"
    finally:
        status, err = _stop(watcher, signal.SIGTERM, lines)
    assert (status, err) == (0, "")


def test_watch_only_json_events_and_name_output(store: Any) -> None:
    path, backend = store
    events = _fastcidr(path, backend, "get", "svc", "--watch-only", "-o", "json", "--output-watch-events")
    names = _fastcidr(path, backend, "get", "svc", "-w", "-o", "name", "-l", "app=web")
    event_lines, name_lines = Lines(events.stdout), Lines(names.stdout)
    try:
        time.sleep(1.0)  # both watchers have taken the revision they start after
        _ok(path, backend, "create", "service", "clusterip", "web", "--tcp", "80")
        _ok(path, backend, "create", "service", "clusterip", "other", "--tcp", "80")
        _ok(path, backend, "delete", "svc", "web")
        got = [json.loads(line) for line in event_lines.take(3)]
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in got] == [
            ("ADDED", "web"), ("ADDED", "other"), ("DELETED", "web")]
        assert got[0]["object"]["spec"]["clusterIP"] == got[2]["object"]["spec"]["clusterIP"]
        assert list(got[0]) == ["type", "object"]
        assert name_lines.take(2) == ["service/web", "service/web"]
    finally:
        assert _stop(events, signal.SIGINT, event_lines)[0] in (0, 130)
        assert _stop(names, signal.SIGTERM, name_lines) == (0, "")


def test_a_compacted_log_relists(backend: types.ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """When the change log no longer reaches back (410 Gone for kubectl) the watch re-lists and
    goes on; the objects are printed again without a header."""
    from fastcidr import cli
    from fastcidr.errors import Compacted
    from fastcidr.k8s.cluster import Cluster

    store = str(tmp_path / "c.db")
    assert cli.main(["--store", store, "init", "--service-cluster-ip-range", "10.96.0.0/28"]) == 0
    calls = {"wait": 0}

    def wait(self: Any, revision: int, timeout: float) -> bool:
        calls["wait"] += 1
        if calls["wait"] > 1:
            raise KeyboardInterrupt  # Ctrl-C ends the watch
        return True

    def changes(self: Any, revision: int) -> Any:
        raise Compacted("compacted")

    monkeypatch.setattr(Cluster, "wait_for_change", wait)
    monkeypatch.setattr(Cluster, "changes_since", changes)
    capsys.readouterr()
    assert cli.main(["--store", store, "get", "svc", "-w", "-o", "name"]) == 0
    assert capsys.readouterr().out == "service/kubernetes\nservice/kubernetes\n"
