"""End to end: the Kubernetes "Extend Service IP Ranges" walkthrough through the REAL console script.

Every command is the documentation's (kubernetes/website
``content/en/docs/tasks/network/extend-service-ip-ranges.md``) with ``kubectl`` replaced by
``fastcidr``, run by ``bash -c`` with the ``jq`` pipelines as written there, against a SQLite store in
``tmp_path`` (``FASTCIDR_STORE``). Every output line is checked. The addresses are random, as in
Kubernetes, so they are checked as sets and ranges rather than literally.

jq is installed by ``scripts/install-tools.sh`` (``make test``); a missing jq fails, never skips.
"""
from __future__ import annotations

import importlib.util
import ipaddress
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

from fastcidr import _backend, cli
from tests.helpers import REPO, Result

FINALIZER = "networking.k8s.io/service-cidr-finalizer"
TERMINATING_MESSAGE = ("There are still IPAddresses referencing the ServiceCIDR, please remove them "
                       "or create a new ServiceCIDR")
RANGE_FULL = ("error: failed to create ClusterIP service: Internal error occurred: failed to allocate "
              "a serviceIP: range is full")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _load_demo() -> Any:
    """``scripts/demo.py`` (not a package): its ``STEPS`` are the walkthrough's commands."""
    spec = importlib.util.spec_from_file_location("fastcidr_demo", REPO / "scripts" / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DEMO = _load_demo()


def console_script() -> str:
    """The installed ``fastcidr`` entry point next to this interpreter (the venv's bin/)."""
    script = shutil.which("fastcidr", path=os.path.dirname(sys.executable))
    if script is None:
        pytest.fail("the fastcidr console script is not installed next to " + sys.executable)
    return script


@pytest.fixture
def shell(backend: types.ModuleType, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Runs a shell command line with the real ``fastcidr`` and ``jq`` on PATH and a fresh store."""
    if shutil.which("jq") is None:
        pytest.fail("jq is not installed (scripts/install-tools.sh installs it)")
    script_dir = os.path.dirname(console_script())
    env = dict(os.environ)
    env["PATH"] = script_dir + os.pathsep + env.get("PATH", "")
    env["FASTCIDR_STORE"] = str(tmp_path / "fastcidr.db")
    env["HOME"] = str(tmp_path)  # nothing may touch the real default store
    # ~30 short-lived processes: let them share compiled bytecode, in the test's own directory
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path / "pycache")
    env.pop("XDG_DATA_HOME", None)
    if backend is _backend.pure:
        env["FASTCIDR_PURE"] = "1"
    else:
        env.pop("FASTCIDR_PURE", None)

    def run(command: str) -> Result:
        proc = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True,
                              timeout=120)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    run.tmp_path = tmp_path  # type: ignore[attr-defined]
    run.env = env  # type: ignore[attr-defined]
    return run


def _ipv4(text: str) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(text)


def test_the_seed_walkthrough(shell) -> None:  # type: ignore[no-untyped-def]
    """The documentation's steps, as the demo script runs them, with every output line checked."""
    steps = iter(DEMO.STEPS)

    def step() -> Result:
        _, command, status = next(steps)
        r = shell(command)
        assert r.status == status, r
        return r

    # fastcidr init --service-cluster-ip-range 10.96.0.0/28 (the apiserver's flag)
    r = step()
    assert r.status == 0, r.err
    assert r.err == ""

    # kubectl get servicecidr
    r = step()
    assert (r.status, r.err) == (0, "")
    assert r.lines[0] == "NAME         CIDRS          AGE"
    assert re.fullmatch(r"kubernetes   10\.96\.0\.0/28   \d+s", r.lines[1]), r.lines
    assert len(r.lines) == 2

    # kubectl get service kubernetes
    r = step()
    assert (r.status, r.err) == (0, "")
    assert r.lines[0] == "NAME         TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE"
    assert re.fullmatch(r"kubernetes   ClusterIP   10\.96\.0\.1    <none>        443/TCP   \d+s", r.lines[1])
    assert len(r.lines) == 2

    # kubectl get ipaddress 10.96.0.1
    r = step()
    assert (r.status, r.err) == (0, "")
    assert r.lines == ["NAME        PARENTREF", "10.96.0.1   services/default/kubernetes"]

    # The documentation's cluster is a kubeadm one: kube-dns holds the range's 10th address
    # (that is why 10.96.0.10 is missing from the documented output). Same here.
    r = step()
    assert (r.status, r.out, r.err) == (0, "service/kube-dns created\n", "")

    # 13 Services into a /28 with 12 free addresses: the 13th finds the range full
    r = step()
    assert r.status == 0
    first = r.lines
    assert len(first) == 12, r
    assert len(set(first)) == 12
    assert set(first) == {f"10.96.0.{i}" for i in range(2, 15)} - {"10.96.0.10"}
    assert r.err == RANGE_FULL + "\n"

    # cat <<EOF | kubectl apply -f - (a new ServiceCIDR)
    r = step()
    assert (r.status, r.out, r.err) == (0, "servicecidr.networking.k8s.io/newcidr1 created\n", "")

    # more Services land in the new range
    r = step()
    assert (r.status, r.err) == (0, "")
    second = r.lines
    assert len(second) == 4 and len(set(second)) == 4, r
    assert not set(second) & (set(first) | {"10.96.0.1", "10.96.0.10"})
    for ip in second:
        # the /24's dynamic band (.17-.254) has room, so that is where they come from (SPEC §2.1)
        assert _ipv4("10.96.0.17") <= _ipv4(ip) <= _ipv4("10.96.0.254"), ip

    # kubectl delete servicecidr newcidr1 --wait=false
    r = step()
    assert (r.status, r.out, r.err) == (0, 'servicecidr.networking.k8s.io "newcidr1" deleted\n', "")

    # kubectl get servicecidr newcidr1 -o yaml: Terminating, with its finalizer and condition
    r = step()
    assert (r.status, r.err) == (0, "")
    obj = yaml.safe_load(r.out)
    meta = obj["metadata"]
    assert obj["apiVersion"] == "networking.k8s.io/v1" and obj["kind"] == "ServiceCIDR"
    assert meta["name"] == "newcidr1"
    assert meta["finalizers"] == [FINALIZER]
    assert RFC3339.match(meta["creationTimestamp"]) and RFC3339.match(meta["deletionTimestamp"])
    assert meta["resourceVersion"].isdigit() and meta["uid"]
    assert obj["spec"] == {"cidrs": ["10.96.0.0/24"]}
    (cond,) = obj["status"]["conditions"]
    assert {k: cond[k] for k in ("type", "status", "reason", "message")} == {
        "type": "Ready", "status": "False", "reason": "Terminating", "message": TERMINATING_MESSAGE}
    assert RFC3339.match(cond["lastTransitionTime"])
    # ...and printed the way kubectl prints YAML (sorted keys, go-yaml quoting), line by line
    assert r.out == cli.to_yaml(obj)
    assert "  - networking.k8s.io/service-cidr-finalizer\n" in r.out
    assert '    status: "False"\n' in r.out
    assert f'  deletionTimestamp: "{meta["deletionTimestamp"]}"\n' in r.out

    # describe shows the addresses that block the deletion, with their Services
    r = step()
    assert (r.status, r.err) == (0, "")
    owners = _owners(shell, second)
    blocking_rows = [line.split() for line in r.lines[r.lines.index("Blocking IPAddresses:") + 3:]
                     if line.startswith("  ") and not line.startswith("  --")]
    blocking_rows = [row for row in blocking_rows if re.match(r"\d+\.", row[0])]
    assert sorted(row[0] for row in blocking_rows) == sorted(second)
    assert all(row[1] == f"default/{owners[row[0]]}" for row in blocking_rows)
    assert any(re.fullmatch(r"  Ready  False   .* \+0000  Terminating  " + re.escape(TERMINATING_MESSAGE), line)
               for line in r.lines), r.out

    # delete the Services that hold addresses only newcidr1 covers
    r = step()
    assert (r.status, r.err) == (0, "")
    assert r.lines == [f'service "test-{i}" deleted' for i in range(13, 17)]

    # kubectl get servicecidr newcidr1 → NotFound
    r = step()
    assert (r.status, r.out) == (1, "")
    assert r.err == 'Error from server (NotFound): servicecidrs.networking.k8s.io "newcidr1" not found\n'
    assert next(steps, None) is None  # every step of the demo was checked

    # what is left: the default range, full again, and its 14 addresses
    r = shell("fastcidr get servicecidr -o name; fastcidr get ipaddress --no-headers | wc -l")
    assert r.lines == ["servicecidr.networking.k8s.io/kubernetes", "14"]


def _owners(shell, ips: List[str]) -> Dict[str, str]:  # type: ignore[no-untyped-def]
    """ip → Service name, read back with jq from `get ipaddress -o json`."""
    r = shell("fastcidr get ipaddress -o json | jq -r '.items[] | .metadata.name + \" \" + "
              ".spec.parentRef.name'")
    assert r.status == 0, r.err
    table = dict(line.split() for line in r.lines)
    return {ip: table[ip] for ip in ips}


def test_python_dash_m_is_the_same_program(shell) -> None:  # type: ignore[no-untyped-def]
    r = shell(f"{sys.executable} -m fastcidr init --service-cluster-ip-range 10.96.0.0/28 >/dev/null && "
              f"{sys.executable} -m fastcidr get servicecidr kubernetes -o name")
    assert (r.status, r.out, r.err) == (0, "servicecidr.networking.k8s.io/kubernetes\n", "")


def test_demo_script_runs_the_walkthrough(tmp_path: Path) -> None:
    """``make demo``'s script: every documented step behaves as documented (exit status 0)."""
    env = dict(os.environ)
    env["HOME"] = str(tmp_path)
    env.pop("FASTCIDR_STORE", None)
    env["TMPDIR"] = str(tmp_path)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path / "pycache")
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, str(root / "scripts" / "demo.py")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "$ fastcidr get servicecidr\nNAME         CIDRS          AGE\n" in out
    assert RANGE_FULL in out
    assert "servicecidr.networking.k8s.io/newcidr1 created" in out
    assert "reason: Terminating" in out
    assert 'Error from server (NotFound): servicecidrs.networking.k8s.io "newcidr1" not found' in out
    assert out.rstrip().endswith("# every step behaved as the Kubernetes documentation describes")
    assert list(tmp_path.glob("fastcidr-demo-*")) == []  # the temporary store is removed


def test_serve_shares_the_cli_store(shell, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``fastcidr serve`` (H7's server behind the CLI's subcommand) serves the store the other
    commands use: what the CLI writes, the API shows, and the other way round."""
    import json
    import urllib.request

    r = shell("fastcidr init --service-cluster-ip-range 10.96.0.0/28 >/dev/null && "
              "fastcidr create servicecidr newcidr1 --cidrs 10.96.0.0/24")
    assert r.status == 0, r.err
    with subprocess.Popen([console_script(), "serve", "--port", "0"], env=shell.env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as server:
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:"), url
            direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
            with direct.open(url + "/apis/networking.k8s.io/v1/servicecidrs", timeout=30) as reply:
                names = [item["metadata"]["name"] for item in json.load(reply)["items"]]
            assert names == ["kubernetes", "newcidr1"]
            request = urllib.request.Request(
                url + "/apis/networking.k8s.io/v1/servicecidrs/newcidr1", method="DELETE")
            with direct.open(request, timeout=30) as reply:
                assert reply.status == 200
        finally:
            server.terminate()
            server.wait(timeout=30)
    r = shell("fastcidr get servicecidr newcidr1")
    assert r.status == 1 and "not found" in r.err


def test_serve_without_a_store_keeps_nothing(tmp_path: Path) -> None:
    """Without --store and FASTCIDR_STORE, ``fastcidr serve`` works in memory: it neither reads
    nor creates the CLI's default SQLite file, so every start is a fresh control plane."""
    import json
    import urllib.request

    env = {k: v for k, v in os.environ.items() if k not in ("FASTCIDR_STORE", "XDG_DATA_HOME")}
    env["HOME"] = str(tmp_path)
    for attempt in range(2):
        with subprocess.Popen([console_script(), "serve", "--port", "0",
                               "--service-cluster-ip-range", "10.96.0.0/28"], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as server:
            try:
                assert server.stdout is not None
                url = server.stdout.readline().strip()
                direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                with direct.open(url + "/api/v1/namespaces/default/services", timeout=30) as reply:
                    names = [item["metadata"]["name"] for item in json.load(reply)["items"]]
                assert names == ["kubernetes"], (attempt, names)
                body = json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                                   "spec": {"ports": [{"port": 80}]}}).encode()
                request = urllib.request.Request(url + "/api/v1/namespaces/default/services", data=body,
                                                 headers={"Content-Type": "application/json"}, method="POST")
                with direct.open(request, timeout=30) as reply:
                    assert reply.status == 201
            finally:
                server.terminate()
                server.wait(timeout=30)
    assert not (tmp_path / ".local" / "share" / "fastcidr").exists()
