"""Small helpers shared by several test modules: CLI results, manifests, child processes."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, NamedTuple, Optional

REPO = Path(__file__).resolve().parent.parent
# The directory holding the fastcidr these tests import: the checkout's src/ (core built in place)
# or site-packages when the suite runs from an unpacked sdist against an installed wheel.
import fastcidr  # noqa: E402

PACKAGE_ROOT = Path(str(fastcidr.__file__)).resolve().parents[1]


class Result(NamedTuple):
    """One command's exit status, stdout and stderr."""

    status: int
    out: str
    err: str

    @property
    def lines(self) -> List[str]:
        return self.out.splitlines()


CIDR_YAML = """apiVersion: networking.k8s.io/v1
kind: ServiceCIDR
metadata:
  name: {name}
spec:
  cidrs:
{cidrs}"""


def cli_invoker(monkeypatch: Any, capsys: Any) -> Callable[..., Result]:
    """``invoke("get svc -A", stdin=...)``: one in-process ``fastcidr.cli.main`` call with the
    given standard input; its exit status and what it printed."""
    from fastcidr import cli

    def invoke(command: Any, stdin: str = "") -> Result:
        argv = command.split() if isinstance(command, str) else list(command)
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        status = cli.main(argv)
        captured = capsys.readouterr()
        return Result(status, captured.out, captured.err)

    return invoke


def cidr_yaml(name: str, *cidrs: str) -> str:
    """A ServiceCIDR manifest as the walkthrough writes it."""
    return CIDR_YAML.format(name=name, cidrs="".join(f"  - {c}\n" for c in cidrs))


def service(name: str, **metadata: Any) -> Dict[str, Any]:
    """The smallest Service body the apiserver accepts: one that needs a cluster IP must have a
    port (``spec.ports: Required value`` otherwise)."""
    return {"metadata": {"name": name, **metadata}, "spec": {"ports": [{"port": 80}]}}


def child_env(backend: Optional[str] = None) -> Dict[str, str]:
    """The environment of a child Python that imports this checkout's ``fastcidr``: on the named
    backend (``"pure"`` or compiled), else on the one the environment chose, pure by default."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PACKAGE_ROOT), env.get("PYTHONPATH", "")])
    if backend is None:
        env.setdefault("FASTCIDR_PURE", "1")
    else:
        env["FASTCIDR_PURE"] = "1" if backend == "pure" else "0"
    return env


def read_acks(proc: "subprocess.Popen[bytes]", acked: List[str], count: int, timeout: float = 60) -> None:
    """Append to ``acked`` the keys a writer child printed (whitespace-separated, one line a
    commit) until ``count`` more have come; fails if the child stalls or ends first."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    target = len(acked) + count
    # readline() blocks while a stalled child prints nothing: a watchdog kills the child at the
    # deadline, which ends the read with EOF, so a stall fails the test instead of hanging it.
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.daemon = True
    watchdog.start()
    try:
        while len(acked) < target and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            acked.extend(line.decode().split())
    finally:
        watchdog.cancel()
    if len(acked) < target:
        ended = proc.poll() is not None and proc.stderr is not None
        why = proc.stderr.read().decode()[-3000:] if ended and proc.stderr is not None else ""
        raise AssertionError(f"the writer stalled at {len(acked)} acks (wanted {target}) {why}")


def drain(proc: "subprocess.Popen[bytes]") -> "tuple[bytes, bytes]":
    """What a killed child left in its pipes. Not ``communicate()``: it reads the raw file
    descriptors and would skip what ``readline()`` already buffered (splitting a line in two)."""
    assert proc.stdout is not None and proc.stderr is not None
    with proc.stdout, proc.stderr:
        rest = proc.stdout.read()
        err = proc.stderr.read()
    proc.wait(30)
    return rest, err
