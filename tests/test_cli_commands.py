"""The CLI's commands over a real ``Cluster`` on a SQLite store: output formats, empty lists,
errors and exit statuses, apply, delete, describe and ``import`` of a kubectl dump.

Commands run in-process through ``fastcidr.cli.main`` (fast, and on both backends through the
``backend`` fixture); ``test_cli_walkthrough.py`` runs the installed console script end to end.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Callable

import pytest
import yaml

from fastcidr import cli
from tests.helpers import Result, cidr_yaml, cli_invoker

DUMP = Path(__file__).resolve().parent / "data" / "kubectl_servicecidr_dump.json"
FINALIZER = "networking.k8s.io/service-cidr-finalizer"
TERMINATING_MESSAGE = ("There are still IPAddresses referencing the ServiceCIDR, please remove them "
                       "or create a new ServiceCIDR")


Run = Callable[..., Result]


@pytest.fixture
def run(backend: types.ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Run:
    """``run("get svc -A", stdin=...)``: one CLI invocation on a store in ``tmp_path``."""
    monkeypatch.setenv("FASTCIDR_STORE", str(tmp_path / "fastcidr.db"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    return cli_invoker(monkeypatch, capsys)


def init(run: Run, cidrs: str = "10.96.0.0/28") -> None:
    r = run(f"init --service-cluster-ip-range {cidrs}")
    assert (r.status, r.err) == (0, ""), r


def age_free(line: str) -> str:
    """A table line with its AGE cell (a kubectl duration) replaced by ``AGE``, keeping the
    column's width (the cell plus its padding) so that the layout is still checked."""

    def replace(match: "re.Match[str]") -> str:
        width = len(match.group(1)) + len(match.group(2))
        return "AGE" + (" " * max(3, width - 3) if match.group(2) else "")

    return re.sub(r"(?<=   )((?:\d+[smhdy])+)( *)(?=\S|$)", replace, line)


# ---------------------------------------------------------------------------------------- empty


EMPTY_HINT = ("hint: this store holds no service cluster IP range yet: run "
              "'fastcidr init --service-cluster-ip-range CIDR[,CIDR]' to set it up\n")


def test_empty_lists_say_no_resources_found_on_stderr(run: Run, tmp_path: Path) -> None:
    from fastcidr.store.sqlite import SQLiteStore

    SQLiteStore(tmp_path / "fastcidr.db").close()  # a store that exists, with nothing in it
    assert run("get servicecidr") == (0, "", "No resources found\n" + EMPTY_HINT)
    assert run("get ipaddresses") == (0, "", "No resources found\n" + EMPTY_HINT)
    assert run("get svc") == (0, "", "No resources found in default namespace.\n" + EMPTY_HINT)
    assert run("get services -n kube-system") == (
        0, "", "No resources found in kube-system namespace.\n" + EMPTY_HINT)
    assert run("get service -A") == (0, "", "No resources found\n" + EMPTY_HINT)
    r = run("get servicecidr -o json")
    assert (r.status, r.err) == (0, "")
    assert r.out == ('{\n    "apiVersion": "v1",\n    "items": [],\n    "kind": "List",\n'
                     '    "metadata": {\n        "resourceVersion": ""\n    }\n}\n')
    assert run("get ip -o name") == (0, "", "")


# -------------------------------------------------------------------------------------- formats


def test_tables_after_init(run: Run) -> None:
    init(run)
    r = run("get servicecidr")
    assert [age_free(line) for line in r.lines] == [
        "NAME         CIDRS          AGE",
        "kubernetes   10.96.0.0/28   AGE"]
    r = run("get svc kubernetes -o wide")
    assert [age_free(line) for line in r.lines] == [
        "NAME         TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE   SELECTOR",
        "kubernetes   ClusterIP   10.96.0.1    <none>        443/TCP   AGE   <none>"]
    assert run("get ipaddress").lines == ["NAME        PARENTREF", "10.96.0.1   services/default/kubernetes"]
    assert run("get ip --no-headers").lines == ["10.96.0.1   services/default/kubernetes"]
    assert run("get servicecidr -o name").out == "servicecidr.networking.k8s.io/kubernetes\n"
    assert run("get ip -o name").out == "ipaddress.networking.k8s.io/10.96.0.1\n"
    assert run("get svc -o name").out == "service/kubernetes\n"
    assert run("get svc -n kube-system").err == "No resources found in kube-system namespace.\n"


def test_services_across_namespaces_and_wide(run: Run) -> None:
    init(run, "10.96.0.0/24")
    assert run("create service clusterip web --tcp 80:8080 --clusterip 10.96.0.50 -n prod").out == \
        "service/web created\n"
    assert run("create service clusterip api --tcp 443,8443 --clusterip 10.96.0.60").status == 0
    r = run("get svc -A -o wide")
    assert [age_free(line) for line in r.lines] == [
        "NAMESPACE   NAME         TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)            AGE   SELECTOR",
        "default     api          ClusterIP   10.96.0.60   <none>        443/TCP,8443/TCP   AGE   app=api",
        "default     kubernetes   ClusterIP   10.96.0.1    <none>        443/TCP            AGE   <none>",
        "prod        web          ClusterIP   10.96.0.50   <none>        80/TCP             AGE   app=web"]
    assert [age_free(line) for line in run("get svc").lines] == [
        "NAME         TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)            AGE",
        "api          ClusterIP   10.96.0.60   <none>        443/TCP,8443/TCP   AGE",
        "kubernetes   ClusterIP   10.96.0.1    <none>        443/TCP            AGE"]
    assert run("get svc -n prod -o name").out == "service/web\n"
    # Cluster-scoped kinds get no NAMESPACE column with -A, as in kubectl.
    assert run("get ip -A").lines[0] == "NAME         PARENTREF"
    assert run("get ip").lines[1:] == ["10.96.0.1    services/default/kubernetes",
                                       "10.96.0.50   services/prod/web",
                                       "10.96.0.60   services/default/api"]
    svc = json.loads(run("get svc web -n prod -o json").out)
    assert svc["spec"]["ports"] == [{"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}]
    assert svc["spec"]["selector"] == {"app": "web"} and svc["metadata"]["labels"] == {"app": "web"}


def test_json_and_yaml_of_one_object_and_of_lists(run: Run) -> None:
    init(run)
    one = run("get servicecidr kubernetes -o json")
    assert (one.status, one.err) == (0, "")
    assert one.out.startswith('{\n    "apiVersion": "networking.k8s.io/v1",\n')
    obj = json.loads(one.out)
    assert one.out == cli.to_json(obj)
    assert obj["kind"] == "ServiceCIDR" and obj["spec"] == {"cidrs": ["10.96.0.0/28"]}
    assert obj["metadata"]["finalizers"] == [FINALIZER]
    (cond,) = obj["status"]["conditions"]
    assert (cond["type"], cond["status"]) == ("Ready", "True")
    as_yaml = run("get servicecidr kubernetes -o yaml")
    assert yaml.safe_load(as_yaml.out) == obj
    assert as_yaml.out == cli.to_yaml(obj)
    listing = json.loads(run("get servicecidrs -o json").out)
    assert listing == {"apiVersion": "v1", "items": [obj], "kind": "List", "metadata": {"resourceVersion": ""}}
    both = json.loads(run("get servicecidr,ipaddress -o json").out)
    assert [item["kind"] for item in both["items"]] == ["ServiceCIDR", "IPAddress"]
    assert yaml.safe_load(run("get ip -o yaml").out)["items"][0]["metadata"]["name"] == "10.96.0.1"
    assert run("get servicecidr/kubernetes ip/10.96.0.1 -o name").lines == [
        "servicecidr.networking.k8s.io/kubernetes", "ipaddress.networking.k8s.io/10.96.0.1"]


def test_several_kinds_print_one_table_each_with_kind_prefixes(run: Run) -> None:
    init(run)
    r = run("get servicecidr,ip")
    assert [age_free(line) for line in r.lines] == [
        "NAME                                       CIDRS          AGE",
        "servicecidr.networking.k8s.io/kubernetes   10.96.0.0/28   AGE",
        "",
        "NAME                                    PARENTREF",
        "ipaddress.networking.k8s.io/10.96.0.1   services/default/kubernetes"]


def test_create_service_output_formats(run: Run) -> None:
    init(run)
    r = run("create service clusterip test-1 --tcp 80 -o json")
    assert (r.status, r.err) == (0, "")
    svc = json.loads(r.out)
    assert r.out == cli.to_json(svc)
    assert svc["apiVersion"] == "v1" and svc["kind"] == "Service"
    assert svc["metadata"]["name"] == "test-1" and svc["metadata"]["namespace"] == "default"
    assert svc["metadata"]["labels"] == {"app": "test-1"}
    assert svc["spec"]["selector"] == {"app": "test-1"}
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["ports"] == [{"name": "80", "port": 80, "protocol": "TCP", "targetPort": 80}]
    ip = svc["spec"]["clusterIP"]
    assert svc["spec"]["clusterIPs"] == [ip]
    assert ip in {f"10.96.0.{i}" for i in range(2, 15)}
    assert run("create service clusterip test-2 --tcp 80 -o name").out == "service/test-2\n"
    assert run("create service clusterip test-3 --tcp=80").out == "service/test-3 created\n"
    as_yaml = yaml.safe_load(run("create service clusterip test-4 --tcp 80 -o yaml").out)
    assert as_yaml["metadata"]["name"] == "test-4"
    assert run(f"get ip {ip}").lines[1].split() == [ip, "services/default/test-1"]


def test_create_servicecidr(run: Run) -> None:
    init(run)
    assert run("create servicecidr newcidr1 --cidrs 10.96.0.0/24,fd00::/108") == \
        (0, "servicecidr.networking.k8s.io/newcidr1 created\n", "")
    r = run("get servicecidr newcidr1")
    assert age_free(r.lines[1]) == "newcidr1   10.96.0.0/24,fd00::/108   AGE"
    assert run("create servicecidr other --cidrs 10.97.0.0/24 -o name").out == \
        "servicecidr.networking.k8s.io/other\n"


# --------------------------------------------------------------------------------------- errors


def test_not_found_errors(run: Run) -> None:
    init(run)
    assert run("get servicecidr newcidr1") == (
        1, "", 'Error from server (NotFound): servicecidrs.networking.k8s.io "newcidr1" not found\n')
    assert run("get svc nope") == (1, "", 'Error from server (NotFound): services "nope" not found\n')
    assert run("get svc kubernetes -n other") == (
        1, "", 'Error from server (NotFound): services "kubernetes" not found\n')
    assert run("get ipaddress 10.96.0.9") == (
        1, "", 'Error from server (NotFound): ipaddresses.networking.k8s.io "10.96.0.9" not found\n')
    assert run("delete servicecidr nope") == (
        1, "", 'Error from server (NotFound): servicecidrs.networking.k8s.io "nope" not found\n')
    assert run("delete service nope") == (1, "", 'Error from server (NotFound): services "nope" not found\n')
    assert run("delete service nope --ignore-not-found") == (0, "", "")
    assert run("describe servicecidr nope") == (
        1, "", 'Error from server (NotFound): servicecidrs.networking.k8s.io "nope" not found\n')
    # found and missing in one command: the table for what exists, an error line for the rest
    r = run("get servicecidr kubernetes nope -o name")
    assert r == (1, "servicecidr.networking.k8s.io/kubernetes\n",
                 'Error from server (NotFound): servicecidrs.networking.k8s.io "nope" not found\n')


def test_create_service_errors(run: Run) -> None:
    init(run)
    assert run("create service clusterip test-0 --tcp 80 -o name").status == 0
    assert run("create service clusterip test-0 --tcp 80") == (
        1, "", 'error: failed to create ClusterIP service: services "test-0" already exists\n')
    for i in range(1, 13):
        assert run(f"create service clusterip test-{i} --tcp 80 -o name").status == 0
    assert run("create service clusterip test-13 --tcp 80 -o json") == (
        1, "", "error: failed to create ClusterIP service: Internal error occurred: failed to allocate "
               "a serviceIP: range is full\n")
    assert run("create service clusterip x --tcp 80 --clusterip 10.96.0.1") == (
        1, "", 'error: failed to create ClusterIP service: Service "x" is invalid: spec.clusterIPs: '
               'Invalid value: []string{"10.96.0.1"}: failed to allocate IP 10.96.0.1: provided IP is '
               "already allocated\n")
    assert run("create service clusterip x --tcp 80 --clusterip 10.97.0.1") == (
        1, "", 'error: failed to create ClusterIP service: Service "x" is invalid: spec.clusterIPs: '
               'Invalid value: []string{"10.97.0.1"}: failed to allocate IP 10.97.0.1: the provided '
               "network does not match the current range\n")
    assert run("create service clusterip x") == (1, "", "error: at least one tcp port specifier must be provided\n")
    assert run("get svc x").status == 1  # nothing was created by the failures


def test_create_servicecidr_errors(run: Run) -> None:
    init(run)
    assert run("create servicecidr kubernetes --cidrs 10.96.0.0/24") == (
        1, "", 'Error from server (AlreadyExists): servicecidrs.networking.k8s.io "kubernetes" already exists\n')
    assert run("create servicecidr bad --cidrs 10.96.0.0/33") == (
        1, "", 'The ServiceCIDR "bad" is invalid: spec.cidrs[0]: Invalid value: "10.96.0.0/33": must be '
               "a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)\n")
    assert run("get servicecidr bad").status == 1


def test_apply_validation_errors_are_rebuilt_like_kubectl(run: Run) -> None:
    init(run)
    assert run("apply -f -", stdin=cidr_yaml("newcidr1", "10.96.0.0/33")) == (
        1, "", 'The ServiceCIDR "newcidr1" is invalid: spec.cidrs[0]: Invalid value: "10.96.0.0/33": '
               "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)\n")
    assert run("apply -f -", stdin=cidr_yaml("bad2", "FD00:1234::2/64")) == (
        1, "", 'The ServiceCIDR "bad2" is invalid: \n'
               '* spec.cidrs[0]: Invalid value: "FD00:1234::2/64": must be in canonical form ("fd00:1234::2/64")\n'
               '* spec.cidrs[0]: Invalid value: "FD00:1234::2/64": must not have bits set beyond the prefix length\n')
    assert run("get servicecidr -o name").out == "servicecidr.networking.k8s.io/kubernetes\n"


def test_apply_created_unchanged_configured(run: Run, tmp_path: Path) -> None:
    init(run)
    assert run("apply -f -", stdin=cidr_yaml("newcidr1", "10.96.0.0/24")) == (
        0, "servicecidr.networking.k8s.io/newcidr1 created\n", "")
    assert run("apply -f - --server-side --validate=false", stdin=cidr_yaml("newcidr1", "10.96.0.0/24")) == (
        0, "servicecidr.networking.k8s.io/newcidr1 unchanged\n", "")
    # single to dual stack keeping cidrs[0] is the one allowed change of spec.cidrs
    assert run("apply -f -", stdin=cidr_yaml("newcidr1", "10.96.0.0/24", "fd00::/108")) == (
        0, "servicecidr.networking.k8s.io/newcidr1 configured\n", "")
    assert json.loads(run("get servicecidr newcidr1 -o json").out)["spec"]["cidrs"] == \
        ["10.96.0.0/24", "fd00::/108"]
    r = run("apply -f -", stdin=cidr_yaml("newcidr1", "10.97.0.0/24"))
    assert (r.status, r.out) == (1, "")
    assert r.err.startswith('The ServiceCIDR "newcidr1" is invalid: ') and "field is immutable" in r.err
    # a JSON List from a file, and multi-document YAML
    listing = {"apiVersion": "v1", "kind": "List", "items": [
        yaml.safe_load(cidr_yaml("a", "10.1.0.0/24")), yaml.safe_load(cidr_yaml("b", "10.2.0.0/24"))]}
    path = tmp_path / "cidrs.json"
    path.write_text(json.dumps(listing))
    assert run(["apply", "-f", str(path)]).out == (
        "servicecidr.networking.k8s.io/a created\nservicecidr.networking.k8s.io/b created\n")
    multi = cidr_yaml("a", "10.1.0.0/24") + "---\n" + cidr_yaml("c", "10.3.0.0/24")
    assert run("apply -f -", stdin=multi).out == (
        "servicecidr.networking.k8s.io/a unchanged\nservicecidr.networking.k8s.io/c created\n")
    svc = ("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n"
           "  selector:\n    app: web\n")
    assert run("apply -f -", stdin=svc).out == "service/web created\n"
    assert run("get svc web -o name").out == "service/web\n"
    r = run("apply -f -", stdin="apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n")
    assert r.status == 1 and 'no matches for kind "Pod" in version "v1"' in r.err
    assert run(["apply", "-f", str(tmp_path / "missing.yaml")]) == (
        1, "", f'error: the path "{tmp_path / "missing.yaml"}" does not exist\n')


def test_apply_range_full_names_the_source(run: Run) -> None:
    init(run, "10.96.0.0/30")  # two usable addresses: kubernetes takes one
    svc = "apiVersion: v1\nkind: Service\nmetadata:\n  name: {}\nspec:\n  ports:\n  - port: 80\n"
    assert run("apply -f -", stdin=svc.format("one")).status == 0
    assert run("apply -f -", stdin=svc.format("two")) == (
        1, "", 'Error from server (InternalError): error when creating "STDIN": Internal error occurred: '
               "failed to allocate a serviceIP: range is full\n")


# ------------------------------------------------------------------------------ delete/describe


def test_delete_does_not_wait_and_describe_shows_why(run: Run) -> None:
    init(run)
    assert run("create servicecidr newcidr1 --cidrs 10.96.0.0/24").status == 0
    assert run("create service clusterip held --tcp 80 --clusterip 10.96.0.100").status == 0
    assert run("create service clusterip free --tcp 80 --clusterip 10.96.0.5").status == 0
    assert run("delete servicecidr newcidr1 --wait=false") == (
        0, 'servicecidr.networking.k8s.io "newcidr1" deleted\n', "")
    obj = json.loads(run("get servicecidr newcidr1 -o json").out)
    meta = obj["metadata"]
    assert meta["finalizers"] == [FINALIZER] and meta["deletionTimestamp"]
    (cond,) = obj["status"]["conditions"]
    assert (cond["status"], cond["reason"], cond["message"]) == ("False", "Terminating", TERMINATING_MESSAGE)
    r = run("describe servicecidr newcidr1")
    assert r.status == 0
    deleted = cli.rfc1123z(meta["deletionTimestamp"])
    changed = cli.rfc1123z(cond["lastTransitionTime"])
    assert r.lines[:18] == [
        "Name:                newcidr1",
        "Labels:              <none>",
        "Annotations:         <none>",
        "CIDRs:               10.96.0.0/24",
        f"Finalizers:          [{FINALIZER}]",
        f"Deletion Timestamp:  {deleted}",
        "Status:",
        "Conditions:",
        "  Type   Status  LastTransitionTime               Reason       Message",
        "  ----   ------  ------------------               ------       -------",
        f"  Ready  False   {changed}  Terminating  {TERMINATING_MESSAGE}",
        "Addresses:",  # Cluster.stats(): the range is shared with the kubernetes ServiceCIDR
        "  CIDR          Used  Free  Size  Used%",
        "  ----          ----  ----  ----  -----",
        "  10.96.0.0/24  3     251   254   1%",
        "Blocking IPAddresses:",
        "  IP           Service",
        "  --           -------",
    ]
    assert r.lines[18] == "  10.96.0.100  default/held"
    assert r.lines[19].startswith("Events:")
    # a new Service may not land in the terminating range
    r = run("create service clusterip late --tcp 80 --clusterip 10.96.0.101")
    assert r.status == 1 and "the provided network does not match the current range" in r.err
    assert run("delete service held") == (0, 'service "held" deleted\n', "")
    assert run("get servicecidr newcidr1").status == 1
    assert run("delete svc free") == (0, 'service "free" deleted\n', "")


def test_delete_several_names_and_kinds(run: Run) -> None:
    init(run, "10.96.0.0/24")
    for name in ("a", "b", "c"):
        assert run(f"create service clusterip {name} --tcp 80").status == 0
    assert run("delete svc a b nope c") == (
        1, 'service "a" deleted\nservice "b" deleted\nservice "c" deleted\n',
        'Error from server (NotFound): services "nope" not found\n')
    assert run("create servicecidr x --cidrs 10.97.0.0/24").status == 0
    assert run("delete servicecidr/x --now --force --grace-period=0 --cascade=foreground") == (
        0, 'servicecidr.networking.k8s.io "x" deleted\n', "")
    r = run("delete ipaddress 10.96.0.77")
    assert r == (1, "", 'Error from server (NotFound): ipaddresses.networking.k8s.io "10.96.0.77" not found\n')


# --------------------------------------------------------------------------------------- import


def test_import_a_kubectl_dump_then_explore_it(run: Run) -> None:
    dump = json.loads(DUMP.read_text())
    r = run(["import", "-f", str(DUMP)])
    assert (r.status, r.err) == (0, "")
    assert r.out == f"imported 12 objects from {DUMP} (5 ipaddresses, 3 servicecidrs, 4 services)\n"
    by_name = {(o["kind"], o["metadata"]["name"]): o for o in dump["items"]}

    r = run("get servicecidr")
    ages = {name: cli.age(by_name[("ServiceCIDR", name)]["metadata"]["creationTimestamp"])
            for name in ("extra", "kubernetes", "legacy")}
    assert r.lines == cli.table([
        ["NAME", "CIDRS", "AGE"],
        ["extra", "10.96.0.0/24", ages["extra"]],
        ["kubernetes", "10.96.0.0/28,fd00:10:96::/112", ages["kubernetes"]],
        ["legacy", "10.100.0.0/24", ages["legacy"]]]).splitlines()
    assert run("get ip").lines == [
        "NAME            PARENTREF",
        "10.100.0.20     services/legacy/db",
        "10.96.0.1       services/default/kubernetes",
        "10.96.0.10      services/kube-system/kube-dns",
        "10.96.0.57      services/default/web",
        "fd00:10:96::a   services/kube-system/kube-dns"]
    r = run("get svc -A -o wide")

    def svc_age(ns: str, name: str) -> str:
        return cli.age(next(o for o in dump["items"] if o["kind"] == "Service" and
                            o["metadata"]["namespace"] == ns and o["metadata"]["name"] == name)
                       ["metadata"]["creationTimestamp"])

    assert r.lines == cli.table([
        ["NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"],
        ["default", "kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP",
         svc_age("default", "kubernetes"), "<none>"],
        ["default", "web", "ClusterIP", "10.96.0.57", "<none>", "80/TCP", svc_age("default", "web"), "app=web"],
        ["kube-system", "kube-dns", "ClusterIP", "10.96.0.10", "<none>", "53/UDP,53/TCP,9153/TCP",
         svc_age("kube-system", "kube-dns"), "k8s-app=kube-dns"],
        ["legacy", "db", "ClusterIP", "10.100.0.20", "<none>", "5432/TCP", svc_age("legacy", "db"), "app=db"],
    ]).splitlines()
    # imported as it was: uid, timestamps, annotations, finalizers and conditions
    extra = json.loads(run("get servicecidr extra -o json").out)
    original = by_name[("ServiceCIDR", "extra")]
    for key in ("uid", "creationTimestamp", "annotations", "finalizers"):
        assert extra["metadata"][key] == original["metadata"][key]
    legacy = yaml.safe_load(run("get servicecidr legacy -o yaml").out)
    assert legacy["metadata"]["deletionTimestamp"] == "2025-09-01T10:30:00Z"
    assert legacy["status"]["conditions"][0]["reason"] == "Terminating"
    # the terminating range still holds legacy/db's address
    r = run("describe servicecidr legacy")
    assert "  Ready  False   Mon, 01 Sep 2025 10:30:00 +0000  Terminating  " + TERMINATING_MESSAGE in r.lines
    assert "  10.100.0.20  legacy/db" in r.lines
    assert "Deletion Timestamp:  Mon, 01 Sep 2025 10:30:00 +0000" in r.lines
    # capacity planning: the /28 has 14 addresses, two taken (kubernetes, kube-dns), 12 left
    # before new Services spill into 'extra'
    created = [json.loads(run(f"create service clusterip s{i} --tcp 80 -o json").out)["spec"]["clusterIP"]
               for i in range(3)]
    assert all(ip.startswith("10.96.0.") for ip in created)
    # releasing the last address of the terminating range lets it go
    assert run("delete service db -n legacy") == (0, 'service "db" deleted\n', "")
    assert run("get servicecidr legacy") == (
        1, "", 'Error from server (NotFound): servicecidrs.networking.k8s.io "legacy" not found\n')


def test_import_errors(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "dump.json"
    path.write_text("{broken")
    r = run(["import", "-f", str(path)])
    assert r.status == 1 and r.err.startswith(f"error: error parsing {path}")
    r = run(["import", "-f", str(tmp_path / "nope.json")])
    assert r == (1, "", f'error: the path "{tmp_path / "nope.json"}" does not exist\n')


# ------------------------------------------------------------------------------ store, startup


def test_store_flag_env_and_default_location(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other.db"
    assert run(["--store", str(other), "init", "--service-cluster-ip-range", "10.1.0.0/24"]).status == 0
    assert run(["get", "servicecidr", "kubernetes", "-o", "json", "--store", f"sqlite:///{other}"]).status == 0
    r = run("get servicecidr")  # FASTCIDR_STORE is another file, which does not exist
    assert r.status == 1 and r.err.startswith(f"error: no fastcidr store at {tmp_path / 'fastcidr.db'}: ")
    monkeypatch.delenv("FASTCIDR_STORE")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    init(run, "10.2.0.0/24")
    assert (tmp_path / "xdg" / "fastcidr" / "fastcidr.db").is_file()
    monkeypatch.delenv("XDG_DATA_HOME")
    init(run, "10.3.0.0/24")
    assert (tmp_path / ".local" / "share" / "fastcidr" / "fastcidr.db").is_file()
    r = run(["--store", "etcd://", "get", "svc"])
    assert r.status == 1 and r.err.startswith("error: ")


def test_a_foreign_sqlite_file_is_an_error_not_a_crash(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "not-ours.db"
    path.write_bytes(b"this is not a database" * 50)
    before = path.read_bytes()
    r = run(["--store", str(path), "get", "servicecidr"])
    assert r.status == 1 and r.err.startswith("error: ") and r.out == ""
    assert path.read_bytes() == before


def test_simple_commands_do_not_import_yaml_or_the_server(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from fastcidr import cli\n"
        "from fastcidr.store.sqlite import SQLiteStore\n"
        f"SQLiteStore({str(tmp_path / 's.db')!r}).close()\n"
        "status = cli.main(['get', 'servicecidr'])\n"
        "print(status, 'yaml' in sys.modules, 'fastcidr.server' in sys.modules)\n"
    )
    env = dict(os.environ, FASTCIDR_STORE=str(tmp_path / "s.db"), HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.stdout.splitlines()[-1] == "0 False False", proc.stdout + proc.stderr


def test_bench_prints_a_table(run: Run) -> None:
    r = run("bench --seconds 0.02")
    assert r.status == 0, r.err
    assert r.lines[0].split() == ["OPERATION", "IMPLEMENTATION", "NS/OP", "VS", "FASTCIDR"]
    labels = " ".join(r.lines)
    assert "fastcidr, pure Python (str)" in labels
    assert "1.00x" in r.lines[1]


def test_serve_is_wired_to_the_server(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["serve", "--help"])
    assert info.value.code == 0
    assert "--kubeconfig-out" in capsys.readouterr().out  # the server's own options


# ------------------------------------------------------------------- more of kubectl's surface


def test_names_may_follow_flags_and_labels_select(run: Run) -> None:
    init(run, "10.96.0.0/24,fd00::/108")
    assert run("create service clusterip web --tcp 80 --clusterip 10.96.0.80 -n prod").status == 0
    assert run("get svc -n prod web -o name").out == "service/web\n"
    assert run("get -o name svc -n prod web").out == "service/web\n"
    assert run("get ip -l ipaddress.kubernetes.io/ip-family=IPv4 -o name").lines == [
        "ipaddress.networking.k8s.io/10.96.0.1", "ipaddress.networking.k8s.io/10.96.0.80"]
    assert run("get ip -l ipaddress.kubernetes.io/ip-family=IPv6").err == "No resources found\n"
    assert run("get svc -A -l app -o name").out == "service/web\n"
    assert run("get svc -A -l !app,provider=kubernetes -o name").out == "service/kubernetes\n"
    assert run("get svc -A -l app!=web -o name").out == "service/kubernetes\n"
    # set-based requirements: the CLI reads -l with the server's parser
    assert run(["get", "svc", "-A", "-l", "app in (web, db)", "-o", "name"]).out == "service/web\n"
    assert run(["get", "svc", "-A", "-l", "provider notin (kubernetes)", "-o", "name"]).out == "service/web\n"
    assert run(["get", "svc", "-A", "-l", "app=web=x"]) == (
        1, "", 'Error from server (BadRequest): Unable to find "/v1, Resource=services" that match label '
               'selector "app=web=x", field selector "": found \'=\', expected: \',\' or \'end of string\'\n')
    r = run("get svc -A --show-labels")
    assert r.lines[0].split() == ["NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)",
                                  "AGE", "LABELS"]
    assert r.lines[1].endswith("   component=apiserver,provider=kubernetes")
    assert r.lines[2].endswith("   app=web")
    assert run("get svc web -l app=web -n prod").status == 1


def test_unknown_flags_exit_1(run: Run) -> None:
    with pytest.raises(SystemExit) as info:
        run("get svc --bogus")
    assert info.value.code == 1


def test_create_and_delete_from_files(run: Run, tmp_path: Path) -> None:
    init(run)
    path = tmp_path / "objs.yaml"
    path.write_text(cidr_yaml("c1", "10.99.0.0/24") + "---\n" +
                    "apiVersion: v1\nkind: Service\nmetadata:\n  name: s1\n  namespace: team\n"
                    "spec:\n  ports:\n  - port: 80\n  clusterIP: 10.99.0.9\n")
    assert run(["create", "-f", str(path)]) == (
        0, "servicecidr.networking.k8s.io/c1 created\nservice/s1 created\n", "")
    # Kubernetes allocates the cluster IP before it finds the name taken: the taken address is
    # what the second Service trips on, reported as kubectl rebuilds a 422.
    assert run(["create", "-f", str(path)]) == (1, "", (
        f'Error from server (AlreadyExists): error when creating "{path}": '
        'servicecidrs.networking.k8s.io "c1" already exists\n'
        'The Service "s1" is invalid: spec.clusterIPs: Invalid value: []string{"10.99.0.9"}: failed to '
        "allocate IP 10.99.0.9: provided IP is already allocated\n"))
    assert run("get svc s1 -n team -o json").status == 0
    assert run(["delete", "-f", str(path)]) == (
        0, 'servicecidr.networking.k8s.io "c1" deleted\nservice "s1" deleted\n', "")
    # deleting the Service let the terminating ServiceCIDR go
    assert run("get servicecidr c1").status == 1
    assert run("create") == (1, "", "error: must specify one of -f and -k, or a subcommand "
                                    "(servicecidr, service)\n")
    assert run("delete") == (1, "", "error: You must provide one or more resources by argument or filename.\n")


def test_describe_ipaddress_and_service(run: Run) -> None:
    init(run)
    r = run("describe ipaddress 10.96.0.1")
    assert r == (0, (
        "Name:         10.96.0.1\n"
        "Labels:       ipaddress.kubernetes.io/ip-family=IPv4\n"
        "              ipaddress.kubernetes.io/managed-by=ipallocator.k8s.io\n"
        "Annotations:  <none>\n"
        "Parent Reference:\n"
        "  Group:      \n"
        "  Resource:   services\n"
        "  Namespace:  default\n"
        "  Name:       kubernetes\n"
        "Events:       <none>\n"), "")
    r = run("describe svc kubernetes")
    assert r.status == 0
    assert r.lines == [
        "Name:                     kubernetes",
        "Namespace:                default",
        "Labels:                   component=apiserver",
        "                          provider=kubernetes",
        "Annotations:              <none>",
        "Selector:                 <none>",
        "Type:                     ClusterIP",
        "IP Family Policy:         SingleStack",
        "IP Families:              IPv4",
        "IP:                       10.96.0.1",
        "IPs:                      10.96.0.1",
        "Port:                     https  443/TCP",
        "TargetPort:               6443/TCP",
        "Endpoints:                <none>",
        "Session Affinity:         None",
        "Internal Traffic Policy:  Cluster",
        "Events:                   <none>"]
    assert run("describe svc nope") == (1, "", 'Error from server (NotFound): services "nope" not found\n')
    both = run("describe servicecidr,ip")
    assert both.status == 0 and both.out.startswith("Name:") and both.out.count("\n\n\nName:") == 1


def test_version(run: Run) -> None:
    r = run("version")
    assert r.status == 0 and re.fullmatch(r"fastcidr \d+\.\d+\.\d+ \((compiled|pure) core\)\n", r.out)


def test_jsonpath_output(run: Run) -> None:
    init(run)
    assert run(["get", "svc", "kubernetes", "-o", "jsonpath={.spec.clusterIP}"]) == (0, "10.96.0.1", "")
    assert run(["get", "ip", "-o=jsonpath={range .items[*]}{.metadata.name} {.spec.parentRef.name}{\"\\n\"}{end}"]) \
        == (0, "10.96.0.1 kubernetes\n", "")
    # kubectl runs a range without {end} to the end of the template (no error)
    assert run(["get", "svc", "-o", "jsonpath={range .items[*]}{.metadata.name};"]) == (0, "kubernetes;", "")
    r = run(["get", "svc", "-o", "jsonpath={.items[3]}"])
    assert r.status == 1 and r.err.startswith('error: error executing jsonpath "{.items[3]}": Error executing '
                                              "template: array index out of bounds: index 3, length 1.")


def test_init_refuses_a_bad_range(run: Run) -> None:
    r = run("init --service-cluster-ip-range nonsense")
    assert r.status == 1 and r.out == ""
    assert r.err.startswith("error: invalid --service-cluster-ip-range 'nonsense': ")
    assert "must be a valid CIDR value" in r.err
    assert run("init --service-cluster-ip-range ,") == (
        1, "", "error: --service-cluster-ip-range needs at least one CIDR\n")
    assert run("get servicecidr").err.startswith("error: no fastcidr store at ")  # nothing was created


def test_dry_runs_change_nothing(run: Run) -> None:
    init(run)
    r = run("create service clusterip x --tcp 80 --dry-run=client -o yaml")
    assert r == (0, (
        "apiVersion: v1\nkind: Service\nmetadata:\n  creationTimestamp: null\n  labels:\n    app: x\n"
        "  name: x\nspec:\n  ports:\n  - name: \"80\"\n    port: 80\n    protocol: TCP\n    targetPort: 80\n"
        "  selector:\n    app: x\n  type: ClusterIP\nstatus:\n  loadBalancer: {}\n"), "")
    assert run("create service clusterip x --tcp 80 --dry-run=server") == (
        0, "service/x created (server dry run)\n", "")
    assert run("create servicecidr c --cidrs 10.1.0.0/24 --dry-run") == (
        0, "servicecidr.networking.k8s.io/c created (dry run)\n", "")
    r = run("create servicecidr c --cidrs 10.1.0.0/24 --dry-run=server -o json")
    assert r.status == 0 and json.loads(r.out)["spec"]["cidrs"] == ["10.1.0.0/24"]
    r = run("create servicecidr c --cidrs 10.1.0.0/33 --dry-run=server")
    assert r.status == 1 and r.err.startswith('The ServiceCIDR "c" is invalid: spec.cidrs[0]')
    assert run("get svc x").status == 1 and run("get servicecidr c").status == 1
    assert run("get ip -o name").out == "ipaddress.networking.k8s.io/10.96.0.1\n"


def test_import_skips_other_kinds_and_reads_stdin(run: Run) -> None:
    dump = {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR", "metadata": {"name": "a"},
         "spec": {"cidrs": ["10.0.0.0/24"]}}]}
    assert run("import -f -", stdin=json.dumps(dump)) == (
        0, "imported 1 object from STDIN (1 servicecidrs); skipped 1 Pod\n", "")
    assert run("get servicecidr -o name").out == "servicecidr.networking.k8s.io/a\n"
    assert run("import -f -", stdin='{"apiVersion": "v1", "kind": "List", "items": []}') == (
        0, "imported 0 objects from STDIN\n", "")
