"""The seed walkthrough (https://kubernetes.io/docs/tasks/network/extend-service-ip-ranges/) with the real kubectl
against ``fastcidr serve``, comparing kubectl's output lines with what it prints against a real
kube-apiserver (docs/serve.md). Every wait is bounded.

Where kubectl (or jq) is missing the tests fail under ``CI=true`` and skip elsewhere.
"""
from __future__ import annotations

import ipaddress
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, List, Optional

import pytest

from tests.helpers import cidr_yaml

pytestmark = [pytest.mark.kubectl]

KUBECTL_TIMEOUT = 60


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


class Kubectl:
    """Runs the real kubectl against one server, with its own cache directory."""

    def __init__(self, kubeconfig: Path, cache_dir: Path) -> None:
        self.binary = _tool("kubectl")
        self.kubeconfig = kubeconfig
        self.cache_dir = cache_dir
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        self.env["HOME"] = str(cache_dir.parent)  # nothing from the real ~/.kube leaks in

    def args(self, *args: str) -> List[str]:
        return [self.binary, "--kubeconfig", str(self.kubeconfig), "--cache-dir",
                str(self.cache_dir), *args]

    def run(self, *args: str, stdin: Optional[str] = None,
            timeout: float = KUBECTL_TIMEOUT) -> subprocess.CompletedProcess:
        return subprocess.run(self.args(*args), input=stdin, capture_output=True, text=True,
                              timeout=timeout, env=self.env)

    def ok(self, *args: str, stdin: Optional[str] = None) -> List[str]:
        result = self.run(*args, stdin=stdin)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout.splitlines()

    def shell(self, script: str, timeout: float = 2 * KUBECTL_TIMEOUT) -> subprocess.CompletedProcess:
        """Run a shell line where ``kubectl`` means this kubectl (the walkthrough's loops)."""
        _tool("jq")
        prefix = " ".join(self.args())
        env = dict(self.env)
        return subprocess.run(["bash", "-c", f'kubectl() {{ {prefix} "$@"; }}\n{script}'],
                              capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture
def served(fc, tmp_path):
    """A /28 cluster (the walkthrough's) served in-process; yields (server, kubectl)."""
    cluster = fc.Cluster("10.96.0.0/28")
    server = fc.serve(cluster)
    try:
        kubeconfig = Path(server.kubeconfig(str(tmp_path / "kubeconfig")))
        yield server, Kubectl(kubeconfig, tmp_path / "kube-cache")
    finally:
        server.close()
        cluster.close()


def queue_lines(stream: Any) -> Any:
    """A reader for a process's pipe: ``read(count, timeout)`` returns up to ``count`` more
    lines, waiting at most ``timeout`` seconds (a reader thread, so a silent process cannot
    hang the test)."""
    lines: "queue.Queue[str]" = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()

    def read(count: int, timeout: float) -> List[str]:
        found: List[str] = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                found.append(lines.get(timeout=remaining))
            except queue.Empty:
                break
        return found

    return read


def read_lines(stream: Any, count: int, timeout: float) -> List[str]:
    return queue_lines(stream)(count, timeout)  # type: ignore[no-any-return]


AGE = r"(\d+s|\d+m\d*s?)"
SMALL_RANGE_HOSTS = set(ipaddress.ip_network("10.96.0.0/28").hosts())


def table_re(*rows: List[str]) -> List[str]:
    """Regexes for kubectl's table lines: columns padded to the widest cell plus 3 spaces.
    A cell ``None`` stands for an AGE cell (any age); the widths come from the other rows'
    cells, so AGE must be the last column."""
    widths = [max(len(r[i]) for r in rows if r[i] is not None) for i in range(len(rows[0]))]
    patterns = []
    for row in rows:
        parts = []
        for i, cell in enumerate(row):
            if cell is None:
                parts.append(AGE)
            elif i == len(row) - 1:
                parts.append(re.escape(cell))
            else:
                parts.append(re.escape(cell.ljust(widths[i] + 3)))
        patterns.append("^" + "".join(parts) + "$")
    return patterns


def assert_lines(lines: List[str], patterns: List[str]) -> None:
    assert len(lines) == len(patterns), lines
    for line, pattern in zip(lines, patterns):
        assert re.match(pattern, line), (line, pattern)


def test_walkthrough(served):
    server, kubectl = served
    # a real (kind/kubeadm) cluster has kube-dns at .10; with it the loop gives the page's 12 IPs
    assert kubectl.ok("create", "service", "clusterip", "kube-dns", "-n", "kube-system",
                      "--clusterip=10.96.0.10", "--tcp", "53") == ['service/kube-dns created']

    assert_lines(kubectl.ok("get", "servicecidr"), [
        r"^NAME         CIDRS          AGE$", r"^kubernetes   10\.96\.0\.0/28   " + AGE + "$"])
    assert_lines(kubectl.ok("get", "service", "kubernetes"), [
        r"^NAME         TYPE        CLUSTER-IP   EXTERNAL-IP   PORT\(S\)   AGE$",
        r"^kubernetes   ClusterIP   10\.96\.0\.1    <none>        443/TCP   " + AGE + "$"])
    assert kubectl.ok("get", "ipaddress", "10.96.0.1") == [
        "NAME        PARENTREF", "10.96.0.1   services/default/kubernetes"]

    loop = kubectl.shell('for i in $(seq 1 13); do kubectl create service clusterip "test-$i" '
                         '--tcp 80 -o json | jq -r .spec.clusterIP; done')
    ips = loop.stdout.split()
    assert len(ips) == 12 and len(set(ips)) == 12
    expected = {f"10.96.0.{i}" for i in range(2, 15)} - {"10.96.0.10"}
    assert set(ips) == expected
    assert loop.stderr.splitlines() == [
        "error: failed to create ClusterIP service: Internal error occurred: failed to allocate "
        "a serviceIP: range is full"]

    assert kubectl.ok("apply", "-f", "-", stdin=cidr_yaml("newcidr1", "10.96.0.0/24")) == [
        "servicecidr.networking.k8s.io/newcidr1 created"]
    loop = kubectl.shell('for i in $(seq 13 16); do kubectl create service clusterip "test-$i" '
                         '--tcp 80 -o json | jq -r .spec.clusterIP; done')
    assert loop.returncode == 0 and loop.stderr == ""
    new_ips = loop.stdout.split()
    assert len(set(new_ips)) == 4
    for ip in new_ips:
        assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.96.0.0/24")
        assert ipaddress.ip_address(ip) not in SMALL_RANGE_HOSTS

    # applying the same manifest again sends nothing and says so
    assert kubectl.ok("apply", "-f", "-", stdin=cidr_yaml("newcidr1", "10.96.0.0/24")) == [
        "servicecidr.networking.k8s.io/newcidr1 unchanged"]

    assert kubectl.ok("delete", "servicecidr", "newcidr1", "--wait=false") == [
        'servicecidr.networking.k8s.io "newcidr1" deleted']
    document = json.loads("\n".join(kubectl.ok("get", "servicecidr", "newcidr1", "-o", "json")))
    meta = document["metadata"]
    assert meta["finalizers"] == ["networking.k8s.io/service-cidr-finalizer"]
    assert meta["deletionTimestamp"] and meta["deletionGracePeriodSeconds"] == 0
    assert document["status"]["conditions"] == [{
        "type": "Ready", "status": "False", "reason": "Terminating",
        "message": "There are still IPAddresses referencing the ServiceCIDR, please remove them "
                   "or create a new ServiceCIDR",
        "lastTransitionTime": document["status"]["conditions"][0]["lastTransitionTime"]}]
    yaml_lines = kubectl.ok("get", "servicecidr", "newcidr1", "-o", "yaml")
    for expected_line in [
        "apiVersion: networking.k8s.io/v1", "kind: ServiceCIDR", "  deletionGracePeriodSeconds: 0",
        "  finalizers:", "  - networking.k8s.io/service-cidr-finalizer", "  name: newcidr1",
        "  - 10.96.0.0/24", "    message: There are still IPAddresses referencing the ServiceCIDR, please remove",
        "      them or create a new ServiceCIDR", "    reason: Terminating", '    status: "False"',
        "    type: Ready",
    ]:
        assert expected_line in yaml_lines, yaml_lines

    loop = kubectl.shell('for i in $(seq 13 16); do kubectl delete service "test-$i" ; done')
    assert loop.stdout.splitlines() == [f'service "test-{i}" deleted' for i in range(13, 17)]

    result = kubectl.run("get", "servicecidr", "newcidr1")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        'Error from server (NotFound): servicecidrs.networking.k8s.io "newcidr1" not found']


def test_delete_waits_for_the_finalizer(served):
    server, kubectl = served
    # fill the /28 first, so that the next Service lands in newcidr1 alone
    fill = kubectl.shell('for i in $(seq 1 13); do kubectl create service clusterip "fill-$i" '
                         '--tcp 80 -o name; done')
    assert len(fill.stdout.split()) == 13, fill.stderr
    kubectl.ok("apply", "-f", "-", stdin=cidr_yaml("newcidr1", "10.96.0.0/24"))
    ip = kubectl.shell('kubectl create service clusterip blocker --tcp 80 -o json | jq -r .spec.clusterIP')
    assert ipaddress.ip_address(ip.stdout.strip()) not in SMALL_RANGE_HOSTS

    waiting = subprocess.Popen(kubectl.args("delete", "servicecidr", "newcidr1"), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=kubectl.env)
    try:
        time.sleep(2.0)
        assert waiting.poll() is None, waiting.communicate()  # blocked by the finalizer
        assert kubectl.ok("delete", "service", "blocker") == ['service "blocker" deleted']
        out, err = waiting.communicate(timeout=KUBECTL_TIMEOUT)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.communicate()
    assert waiting.returncode == 0, err
    assert out.splitlines() == ['servicecidr.networking.k8s.io "newcidr1" deleted']
    assert err == ""  # a watch, not the reflector's polling errors
    assert kubectl.run("get", "servicecidr", "newcidr1").returncode == 1


def test_get_watch_prints_one_line_per_event(served):
    server, kubectl = served
    proc = subprocess.Popen(kubectl.args("get", "servicecidr", "-w"), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=kubectl.env)
    try:
        assert proc.stdout is not None
        pipe = queue_lines(proc.stdout)
        lines = pipe(2, 30)
        kubectl.ok("apply", "-f", "-", stdin=cidr_yaml("newcidr2", "10.99.0.0/24"))
        kubectl.ok("delete", "servicecidr", "newcidr2")
        lines += pipe(3, 30)
    finally:
        proc.kill()
        proc.communicate()
    assert_lines(lines[:2], [r"^NAME         CIDRS          AGE$",
                             r"^kubernetes   10\.96\.0\.0/28   " + AGE + "$"])
    # ADDED, MODIFIED (deletionTimestamp), DELETED: kubectl prints one line per event
    assert len(lines) == 5
    for line in lines[2:]:
        assert re.match(r"^newcidr2     10\.99\.0\.0/24   " + AGE + "$", line), lines


def test_validation_errors_through_apply(served):
    server, kubectl = served
    result = kubectl.run("apply", "-f", "-", stdin=cidr_yaml("bad", "10.96.0.0/33"))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        'The ServiceCIDR "bad" is invalid: spec.cidrs[0]: Invalid value: "10.96.0.0/33": must be '
        "a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"]
    result = kubectl.run("apply", "-f", "-", stdin=cidr_yaml("bad", "10.0.0.0/24", "10.1.0.0/24"))
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith('The ServiceCIDR "bad" is invalid: spec.cidrs: ')
    assert line.endswith("may specify no more than one IP for each IP family, i.e 192.168.0.0/24 "
                         "and 2001:db8::/64")
    result = kubectl.run("apply", "-f", "-",
                         stdin=cidr_yaml("bad", "10.96.0.0/33").replace("  cidrs:", "  bogus: 1\n  cidrs:"))
    assert result.returncode == 1
    assert 'strict decoding error: unknown field "spec.bogus"' in result.stderr
    assert kubectl.run("get", "servicecidr", "bad").returncode == 1  # nothing was created


def test_errors_and_output_formats(served):
    server, kubectl = served
    kubectl.ok("apply", "-f", "-", stdin=cidr_yaml("newcidr1", "10.97.0.0/24"))
    result = kubectl.run("create", "-f", "-", stdin=cidr_yaml("newcidr1", "10.97.0.0/24"))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        'Error from server (AlreadyExists): error when creating "STDIN": '
        'servicecidrs.networking.k8s.io "newcidr1" already exists']
    result = kubectl.run("create", "service", "clusterip", "dup", "--tcp", "80",
                         "--clusterip=10.96.0.1")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        'error: failed to create ClusterIP service: Service "dup" is invalid: spec.clusterIPs: '
        'Invalid value: []string{"10.96.0.1"}: failed to allocate IP 10.96.0.1: provided IP is '
        "already allocated"]
    result = kubectl.run("delete", "service", "nope")
    assert result.stderr.splitlines() == ['Error from server (NotFound): services "nope" not found']
    assert kubectl.ok("get", "servicecidr", "-o", "name") == [
        "servicecidr.networking.k8s.io/kubernetes", "servicecidr.networking.k8s.io/newcidr1"]
    kubectl.ok("create", "service", "clusterip", "web", "-n", "team-a", "--tcp", "8080:80")
    wide = kubectl.ok("get", "services", "-A", "-o", "wide")
    assert wide[0].split() == ["NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP",
                               "PORT(S)", "AGE", "SELECTOR"]
    rows = {tuple(line.split()[:2]): line.split() for line in wide[1:]}
    assert rows[("default", "kubernetes")][7] == "<none>"
    assert rows[("team-a", "web")][5] == "8080/TCP" and rows[("team-a", "web")][7] == "app=web"
    listed = json.loads("\n".join(kubectl.ok("get", "servicecidr", "-o", "json")))
    assert listed["kind"] == "List" and len(listed["items"]) == 2
    assert kubectl.ok("label", "servicecidr", "newcidr1", "team=a") == [
        "servicecidr.networking.k8s.io/newcidr1 labeled"]
    labels = kubectl.ok("get", "servicecidr", "newcidr1", "--show-labels")
    assert labels[0].split() == ["NAME", "CIDRS", "AGE", "LABELS"]
    assert labels[1].split()[::3] == ["newcidr1", "team=a"]
    assert kubectl.ok("annotate", "servicecidr", "newcidr1", "note=x") == [
        "servicecidr.networking.k8s.io/newcidr1 annotated"]
    assert kubectl.ok("get", "namespaces", "-o", "name") == [
        "namespace/default", "namespace/kube-system", "namespace/team-a"]


def test_serve_command_writes_kubeconfig_and_stops_on_sigterm(tmp_path):
    """``fastcidr serve`` as users start it: prints the URL, writes the kubeconfig once it
    accepts connections, serves a SQLite store, exits 0 on SIGTERM."""
    kubeconfig = tmp_path / "kc"
    store = tmp_path / "state.db"
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastcidr", "serve", "--store", f"sqlite:///{store}",
         "--service-cluster-ip-range", "10.96.0.0/28", "--port", "0",
         "--kubeconfig-out", str(kubeconfig)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        url = (read_lines(proc.stdout, 1, 60) or [""])[0].strip()
        assert re.match(r"^http://127\.0\.0\.1:\d+$", url), (url, proc.stderr and proc.stderr.read())
        assert kubeconfig.exists()
        kubectl = Kubectl(kubeconfig, tmp_path / "cache")
        assert kubectl.ok("get", "servicecidr", "kubernetes", "-o", "name") == [
            "servicecidr.networking.k8s.io/kubernetes"]
        kubectl.ok("create", "service", "clusterip", "persisted", "--tcp", "80")
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    # the state survives the process: a second server on the same file sees the Service
    import fastcidr

    cluster = fastcidr.Cluster(store=f"sqlite:///{store}")
    try:
        assert cluster.get_service("persisted", "default").cluster_ip.startswith("10.96.0.")
    finally:
        cluster.close()


def test_namespaces(served):
    server, kubectl = served
    assert kubectl.ok("create", "namespace", "team-a") == ["namespace/team-a created"]
    result = kubectl.run("create", "namespace", "team-a")
    assert result.stderr.splitlines() == [
        'Error from server (AlreadyExists): namespaces "team-a" already exists']
    assert kubectl.ok("create", "service", "clusterip", "web", "-n", "team-a", "--tcp", "80") == [
        "service/web created"]
    assert_lines(kubectl.ok("get", "namespaces"), table_re(
        ["NAME", "STATUS", "AGE"], ["default", "Active", None], ["kube-system", "Active", None],
        ["team-a", "Active", None]))
    assert kubectl.ok("delete", "namespace", "team-a") == ['namespace "team-a" deleted']
    assert kubectl.run("get", "service", "web", "-n", "team-a").returncode == 1
    result = kubectl.run("delete", "namespace", "default")
    assert result.stderr.splitlines() == [
        'Error from server (Forbidden): namespaces "default" is forbidden: this namespace may not be deleted']


SERVICE_YAML = """apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {{app: web}}
spec:
  selector: {{app: web}}
  ports:
{ports}
"""


def test_apply_service_twice_uses_strategic_merge(served):
    server, kubectl = served
    first = SERVICE_YAML.format(ports="  - {name: http, port: 80, targetPort: 8080}")
    assert kubectl.ok("apply", "-f", "-", stdin=first) == ["service/web created"]
    second = SERVICE_YAML.format(ports="  - {name: https, port: 443}\n"
                                       "  - {name: http, port: 80, targetPort: 8081}")
    assert kubectl.ok("apply", "-f", "-", stdin=second) == ["service/web configured"]
    assert kubectl.ok("apply", "-f", "-", stdin=second) == ["service/web unchanged"]
    ports = json.loads(kubectl.ok("get", "svc", "web", "-o", "jsonpath={.spec.ports}")[0])
    assert [(p["name"], p["port"], p["targetPort"]) for p in ports] == [
        ("https", 443, 443), ("http", 80, 8081)]
    assert kubectl.ok("patch", "svc", "web", "--type=json",
                      "-p", '[{"op":"replace","path":"/spec/selector/app","value":"x"}]') == [
        "service/web patched"]
    wide = kubectl.ok("get", "svc", "web", "-o", "wide")
    assert wide[1].split()[4] == "443/TCP,80/TCP" and wide[1].split()[6] == "app=x"
