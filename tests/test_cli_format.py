"""The CLI's kubectl formatting: AGE, tables, -o json/yaml, error texts, describe layout.

These are pure functions of their inputs (no core, no store), checked against what kubectl prints.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from fastcidr import cli
from fastcidr.k8s import printers
from fastcidr.errors import (
    AlreadyAllocatedError,
    AlreadyExistsError,
    NotFoundError,
    RangeFullError,
    StoreError,
    ValidationError,
)

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "seconds, text",
    [
        (-5, "<invalid>"),
        (-2, "<invalid>"),
        (-1.5, "0s"),  # Go truncates toward zero: up to 2 s of clock skew is "now"
        (-1, "0s"),
        (0, "0s"),
        (45, "45s"),
        (59, "59s"),
        (119.9, "119s"),
        (120, "2m"),
        (121, "2m1s"),
        (7 * 60 + 30, "7m30s"),
        (9 * 60 + 59, "9m59s"),
        (600, "10m"),
        (10 * 60 + 59, "10m"),
        (179 * 60, "179m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 60, "3h1m"),
        (7 * 3600 + 59 * 60, "7h59m"),
        (8 * 3600, "8h"),
        (8 * 3600 + 59 * 60, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (3 * 86400 + 4 * 3600, "3d4h"),
        (7 * 86400 + 23 * 3600, "7d23h"),
        (8 * 86400, "8d"),
        (8 * 86400 + 5 * 3600, "8d"),
        (17 * 86400, "17d"),
        (729 * 86400, "729d"),
        (730 * 86400, "2y"),
        (731 * 86400, "2y1d"),
        (8 * 365 * 86400, "8y"),
        (9 * 365 * 86400, "9y"),
        (20 * 365 * 86400 + 86400 * 30, "20y"),
    ],
)
def test_age_is_kubectl_human_duration(seconds: float, text: str) -> None:
    assert cli.human_duration(seconds) == text


def test_age_from_timestamps() -> None:
    created = (NOW - timedelta(days=17, hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert cli.age(created, NOW) == "17d"
    assert cli.age("2026-11-26T11:52:30Z", NOW) == "7m30s"
    assert cli.age("2026-11-26T12:00:00+00:00", NOW) == "0s"
    assert cli.age(None, NOW) == "<unknown>"
    assert cli.age("not a time", NOW) == "<unknown>"


def test_table_columns_are_widest_cell_plus_three_without_trailing_spaces() -> None:
    text = cli.table([["NAME", "CIDRS", "AGE"], ["kubernetes", "10.96.0.0/28", "17d"],
                      ["newcidr1", "10.96.0.0/24,fd00::/108", "5s"]])
    assert text == (
        "NAME         CIDRS                     AGE\n"
        "kubernetes   10.96.0.0/28              17d\n"
        "newcidr1     10.96.0.0/24,fd00::/108   5s\n"
    )
    assert all(line == line.rstrip() for line in text.splitlines())


def test_table_minimum_column_width_is_six_as_kubectl() -> None:
    # Go's tabwriter with kubectl's minwidth 6: a narrow column still takes 6 characters.
    assert cli.table([["a", "b", "c"]]) == "a     b     c\n"
    assert cli.table([]) == ""


def test_the_seed_documents_tables() -> None:
    assert cli.table([["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
                      ["kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP", "17d"]]) == (
        "NAME         TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE\n"
        "kubernetes   ClusterIP   10.96.0.1    <none>        443/TCP   17d\n")
    assert cli.table([["NAME", "PARENTREF"], ["10.96.0.1", "services/default/kubernetes"]]) == (
        "NAME        PARENTREF\n"
        "10.96.0.1   services/default/kubernetes\n")


def test_tabwriter_blocks_follow_go_semantics() -> None:
    # A line without a cell in a column ends that column's block: "Status:" separates the
    # header lines from the conditions table, whose first column then joins "Events:".
    text = "Name:\tx\nStatus:\n  Type\tStatus\n  Ready\tTrue\nEvents:\t<none>\n"
    assert cli.tabwrite(text, minwidth=0, padding=2) == (
        "Name:  x\n"
        "Status:\n"
        "  Type   Status\n"
        "  Ready  True\n"
        "Events:  <none>\n")
    # Empty cells are padded like any other; the text after the last tab never is.
    assert cli.tabwrite("a\t\tc\nlonger\tb\t\n", minwidth=0, padding=1) == "a        c\nlonger b \n"


def test_service_row_cells() -> None:
    svc = {
        "metadata": {"name": "test-1", "namespace": "default", "creationTimestamp": "2026-11-26T11:59:15Z"},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.11", "clusterIPs": ["10.96.0.11", "fd00::5"],
                 "ports": [{"name": "80", "port": 80, "protocol": "TCP", "targetPort": 80},
                           {"name": "53", "port": 53, "protocol": "UDP", "targetPort": 53}],
                 "selector": {"app": "test-1", "tier": "web"}},
    }
    assert cli.SERVICES.cells(svc, False, NOW) == ["test-1", "ClusterIP", "10.96.0.11", "<none>",
                                                   "80/TCP,53/UDP", "45s"]
    assert cli.SERVICES.cells(svc, True, NOW)[-1] == "app=test-1,tier=web"
    headless = {"metadata": {"name": "h"}, "spec": {"clusterIP": "None", "clusterIPs": ["None"]}}
    assert cli.SERVICES.cells(headless, True, NOW) == ["h", "ClusterIP", "None", "<none>", "<none>",
                                                       "<unknown>", "<none>"]


def test_external_ip_cells() -> None:
    lb = {"type": "LoadBalancer"}
    status = {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}, {"hostname": "a-very-long-host.example.com"}]}}
    assert printers.external_ip_text(lb, status) == "203.0.113.7,a..."  # kubectl cuts at 16 characters
    assert printers.external_ip_text(lb, status, wide=True) == "203.0.113.7,a-very-long-host.example.com"
    assert printers.external_ip_text(lb, {}) == "<pending>"
    assert printers.external_ip_text({"type": "LoadBalancer", "externalIPs": ["1.2.3.4"]}, {}) == "1.2.3.4"
    assert printers.external_ip_text({"type": "NodePort", "externalIPs": ["1.2.3.4", "1.2.3.5"]}) == "1.2.3.4,1.2.3.5"
    assert printers.external_ip_text({"type": "ExternalName", "externalName": "db.example.com"}) == "db.example.com"
    assert printers.external_ip_text({}) == "<none>"
    assert printers.port_text([{"port": 80, "nodePort": 30080}, {"port": 53, "protocol": "UDP"}]) == "80:30080/TCP,53/UDP"


def test_parent_ref_text() -> None:
    assert printers.parent_ref_text({"group": "", "resource": "services", "namespace": "default",
                                "name": "kubernetes"}) == "services/default/kubernetes"
    assert printers.parent_ref_text({"resource": "services", "namespace": "default", "name": "x"}) == \
        "services/default/x"
    assert printers.parent_ref_text({"group": "gateway.networking.k8s.io", "resource": "Gateways",
                                "name": "gw"}) == "gateways.gateway.networking.k8s.io/gw"
    assert printers.parent_ref_text(None) == "<none>"


def test_json_output_is_kubectls() -> None:
    text = cli.to_json({"kind": "List", "apiVersion": "v1", "items": [],
                        "metadata": {"resourceVersion": ""}, "note": "a<b>&c"})
    assert text == (
        '{\n    "apiVersion": "v1",\n    "items": [],\n    "kind": "List",\n'
        '    "metadata": {\n        "resourceVersion": ""\n    },\n'
        '    "note": "a\\u003cb\\u003e\\u0026c"\n}\n')
    assert json.loads(text)["note"] == "a<b>&c"


def test_yaml_output_quotes_like_go_yaml() -> None:
    obj = {
        "spec": {"cidrs": ["10.96.0.0/24"]},
        "metadata": {"name": "newcidr1", "creationTimestamp": "2023-10-12T15:11:07Z",
                     "resourceVersion": "1133", "deletionGracePeriodSeconds": 0,
                     "finalizers": ["networking.k8s.io/service-cidr-finalizer"]},
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "",
                                   "message": "There are still IPAddresses referencing the "
                                              "ServiceCIDR, please remove them or create a new ServiceCIDR",
                                   "lastTransitionTime": "2023-10-12T15:12:45Z"}]},
        "apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR",
    }
    text = cli.to_yaml(obj)
    assert text == (
        "apiVersion: networking.k8s.io/v1\n"
        "kind: ServiceCIDR\n"
        "metadata:\n"
        '  creationTimestamp: "2023-10-12T15:11:07Z"\n'
        "  deletionGracePeriodSeconds: 0\n"
        "  finalizers:\n"
        "  - networking.k8s.io/service-cidr-finalizer\n"
        "  name: newcidr1\n"
        '  resourceVersion: "1133"\n'
        "spec:\n"
        "  cidrs:\n"
        "  - 10.96.0.0/24\n"
        "status:\n"
        "  conditions:\n"
        '  - lastTransitionTime: "2023-10-12T15:12:45Z"\n'
        "    message: There are still IPAddresses referencing the ServiceCIDR, please remove\n"
        "      them or create a new ServiceCIDR\n"
        '    reason: ""\n'
        '    status: "False"\n'
        "    type: Ready\n")
    assert yaml.safe_load(text) == obj


def test_rfc1123z() -> None:
    assert cli.rfc1123z("2023-10-12T15:12:45Z") == "Thu, 12 Oct 2023 15:12:45 +0000"
    assert cli.rfc1123z("2023-10-12T17:12:45+02:00") == "Thu, 12 Oct 2023 17:12:45 +0200"
    assert cli.rfc1123z(None) == "Mon, 01 Jan 0001 00:00:00 +0000"


def test_error_texts_are_kubectls() -> None:
    assert cli.server_error_text(NotFoundError("servicecidrs.networking.k8s.io", "newcidr1")) == \
        'Error from server (NotFound): servicecidrs.networking.k8s.io "newcidr1" not found'
    assert cli.server_error_text(AlreadyExistsError("servicecidrs.networking.k8s.io", "x"),
                                 source="cidr.yaml") == (
        'Error from server (AlreadyExists): error when creating "cidr.yaml": '
        'servicecidrs.networking.k8s.io "x" already exists')
    assert cli.server_error_text(RangeFullError("failed to allocate a serviceIP: range is full"),
                                 source="STDIN") == (
        'Error from server (InternalError): error when creating "STDIN": Internal error occurred: '
        "failed to allocate a serviceIP: range is full")
    one = ValidationError([("spec.cidrs[0]", 'Invalid value: "10.96.0.0/33": must be a valid CIDR '
                                             "value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")],
                          kind="ServiceCIDR", name="newcidr1")
    assert cli.server_error_text(one) == (
        'The ServiceCIDR "newcidr1" is invalid: spec.cidrs[0]: Invalid value: "10.96.0.0/33": '
        "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")
    two = ValidationError([("spec.cidrs[0]", "a"), ("spec.cidrs[1]", "b")])
    assert cli.server_error_text(two, kind="ServiceCIDR", name="x") == (
        'The ServiceCIDR "x" is invalid: \n* spec.cidrs[0]: a\n* spec.cidrs[1]: b')
    assert cli.server_error_text(StoreError("database is locked")) == "error: database is locked"


def test_create_service_status_messages() -> None:
    full = RangeFullError("failed to allocate a serviceIP: range is full")
    assert cli.status_message(full, "Service", "test-13") == \
        "Internal error occurred: failed to allocate a serviceIP: range is full"
    taken = AlreadyAllocatedError(
        'spec.clusterIPs: Invalid value: []string{"10.96.0.5"}: failed to allocate IP 10.96.0.5: '
        "provided IP is already allocated")
    taken.reason, taken.code = "Invalid", 422  # what Cluster.create_service raises (docs/api.md)
    assert cli.status_message(taken, "Service", "x") == (
        'Service "x" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.5"}: failed to '
        "allocate IP 10.96.0.5: provided IP is already allocated")
    two = ValidationError([("metadata.name", "a"), ("spec.ports", "b")])
    assert cli.status_message(two, "Service", "x") == 'Service "x" is invalid: [metadata.name: a, spec.ports: b]'
    assert cli.status_message(AlreadyExistsError("services", "test-1")) == 'services "test-1" already exists'


def test_describe_layout() -> None:
    obj = {
        "metadata": {"name": "newcidr1", "labels": {"b": "2", "a": "1"},
                     "deletionTimestamp": "2023-10-12T15:12:45Z",
                     "finalizers": ["networking.k8s.io/service-cidr-finalizer"]},
        "spec": {"cidrs": ["10.96.0.0/24", "fd00::/108"]},
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Terminating",
                                   "message": "There are still IPAddresses referencing the ServiceCIDR, "
                                              "please remove them or create a new ServiceCIDR",
                                   "lastTransitionTime": "2023-10-12T15:12:45Z"}]},
    }
    blocking = [{"metadata": {"name": "10.96.0.48"},
                 "spec": {"parentRef": {"resource": "services", "namespace": "default", "name": "test-13"}}}]
    events = [{"type": "Warning", "reason": "Blocked", "message": " m ", "timestamp": "2023-10-12T15:12:40Z"}]
    text = cli.describe_service_cidr(obj, blocking, events, now=datetime(2023, 10, 12, 15, 12, 50,
                                                                        tzinfo=timezone.utc))
    assert text == (
        "Name:                newcidr1\n"
        "Labels:              a=1\n"
        "                     b=2\n"
        "Annotations:         <none>\n"
        "CIDRs:               10.96.0.0/24, fd00::/108\n"
        "Finalizers:          [networking.k8s.io/service-cidr-finalizer]\n"
        "Deletion Timestamp:  Thu, 12 Oct 2023 15:12:45 +0000\n"
        "Status:\n"
        "Conditions:\n"
        "  Type   Status  LastTransitionTime               Reason       Message\n"
        "  ----   ------  ------------------               ------       -------\n"
        "  Ready  False   Thu, 12 Oct 2023 15:12:45 +0000  Terminating  There are still IPAddresses "
        "referencing the ServiceCIDR, please remove them or create a new ServiceCIDR\n"
        "Blocking IPAddresses:\n"
        "  IP          Service\n"
        "  --          -------\n"
        "  10.96.0.48  default/test-13\n"
        "Events:\n"
        "  Type     Reason   Age   From      Message\n"
        "  ----     ------   ----  ----      -------\n"
        "  Warning  Blocked  10s   fastcidr  m\n")


def test_resource_names() -> None:
    for word in ("servicecidr", "servicecidrs", "ServiceCIDR", "servicecidrs.networking.k8s.io"):
        assert cli.lookup_resource(word) is cli.SERVICECIDRS
    for word in ("ipaddress", "ipaddresses", "ip"):
        assert cli.lookup_resource(word) is cli.IPADDRESSES
    for word in ("service", "services", "svc"):
        assert cli.lookup_resource(word) is cli.SERVICES
    assert cli.SERVICECIDRS.qualified_singular == "servicecidr.networking.k8s.io"
    assert cli.IPADDRESSES.qualified == "ipaddresses.networking.k8s.io"
    assert cli.SERVICES.qualified_singular == "service"
    with pytest.raises(cli.CommandError, match='doesn\'t have a resource type "pods"'):
        cli.lookup_resource("pods")


def test_manifests_json_yaml_lists_and_multi_documents() -> None:
    yaml_text = (
        "apiVersion: networking.k8s.io/v1\nkind: ServiceCIDR\nmetadata:\n  name: a\nspec:\n  cidrs:\n"
        "  - 10.0.0.0/24\n---\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: networking.k8s.io/v1\n"
        "  kind: ServiceCIDR\n  metadata:\n    name: b\n  spec:\n    cidrs: [10.1.0.0/24]\n")
    names = [d["metadata"]["name"] for d in cli.parse_manifests(yaml_text, "STDIN")]
    assert names == ["a", "b"]
    json_text = json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "networking.k8s.io/v1", "kind": "IPAddress", "metadata": {"name": "10.0.0.5"}}]})
    assert [d["kind"] for d in cli.parse_manifests(json_text, "f.json")] == ["IPAddress"]
    with pytest.raises(cli.CommandError, match="error parsing f.json"):
        cli.parse_manifests("{not json", "f.json")
    with pytest.raises(cli.CommandError, match="expected a mapping"):
        cli.parse_manifests("- 1\n", "STDIN")


def test_tcp_ports_are_named_like_kubectl() -> None:
    assert cli._parse_tcp(["80"]) == [{"name": "80", "port": 80, "protocol": "TCP", "targetPort": 80}]
    assert cli._parse_tcp(["5678:8080,443:https"]) == [
        {"name": "5678-8080", "port": 5678, "protocol": "TCP", "targetPort": 8080},
        {"name": "443-https", "port": 443, "protocol": "TCP", "targetPort": "https"}]
    with pytest.raises(cli.CommandError):
        cli._parse_tcp(["http"])
    manifest = cli.service_manifest("test-1", "default", cli._parse_tcp(["80"]), None)
    assert manifest["metadata"]["labels"] == {"app": "test-1"}
    assert manifest["spec"]["selector"] == {"app": "test-1"}
    assert manifest["spec"]["type"] == "ClusterIP"


def test_default_store_location(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("FASTCIDR_STORE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert cli.resolve_store(None) == str(tmp_path / "data" / "fastcidr" / "fastcidr.db")
    assert (tmp_path / "data" / "fastcidr").is_dir()
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cli.default_store_path() == str(tmp_path / ".local" / "share" / "fastcidr" / "fastcidr.db")
    monkeypatch.setenv("FASTCIDR_STORE", "sqlite:////x/y.db")
    assert cli.resolve_store(None) == "sqlite:////x/y.db"
    assert cli.resolve_store("etcd://127.0.0.1:2379/fc") == "etcd://127.0.0.1:2379/fc"


def test_usage_errors_exit_1_like_kubectl(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["get", "servicecidr", "-o", "table"])
    assert info.value.code == 1
    assert 'unable to match a printer suitable for the output format "table"' in capsys.readouterr().err
    assert cli.main(["get", "pods", "--store", "unused"]) == 1
    assert capsys.readouterr().err == 'error: the server doesn\'t have a resource type "pods"\n'


LIST = {"apiVersion": "v1", "kind": "List", "items": [
    {"metadata": {"name": "kubernetes", "namespace": "default",
                  "labels": {"ipaddress.kubernetes.io/ip-family": "IPv4"}},
     "spec": {"clusterIP": "10.96.0.1", "ports": [{"port": 443, "name": "https"}], "selector": {}}},
    {"metadata": {"name": "web", "namespace": "prod"},
     "spec": {"clusterIP": "10.96.0.50", "ports": [{"port": 80}, {"port": 8080}], "selector": {"app": "web"}}},
]}


@pytest.mark.parametrize("template, text", [
    ("{.items[0].spec.clusterIP}", "10.96.0.1"),
    ("{.items[*].metadata.name}", "kubernetes web"),
    ("{.items[-1].metadata.name}", "web"),
    ("{.items[0:1].metadata.name}", "kubernetes"),
    ("{.items[1].spec.ports[*].port}", "80 8080"),
    ("{.items[1].spec.selector}", '{"app":"web"}'),
    ("{.items[1].spec.ports[0]}", '{"port":80}'),
    ("{.items[?(@.metadata.namespace==\"prod\")].spec.clusterIP}", "10.96.0.50"),
    ("{.items[?(@.metadata.labels)].metadata.name}", "kubernetes"),
    ("{.items[0].metadata.labels.ipaddress\\.kubernetes\\.io/ip-family}", "IPv4"),
    ("{range .items[*]}{.metadata.namespace}/{.metadata.name}{\"\\n\"}{end}", "default/kubernetes\nprod/web\n"),
    ("{range .items[*]}[{range .spec.ports[*]}{.port},{end}]{end}", "[443,][80,8080,]"),
    ("{range .nothing[*]}x{end}done", "done"),
    ("name: {.items[0].metadata.name} missing: {.items[0].nope}.", "name: kubernetes missing: ."),
    ("{.kind}", "List"),
    ("{range .items[*]}{.x}", ""),  # a range without {end} runs to the end, as in kubectl
])
def test_jsonpath(template: str, text: str) -> None:
    assert cli.jsonpath(template, LIST) == text


@pytest.mark.parametrize("template", ["{end}", "{.items[9]}", "{.items", "{\"x}"])
def test_jsonpath_errors(template: str) -> None:
    with pytest.raises(cli.CommandError):
        cli.jsonpath(template, LIST)


def test_docstring_examples() -> None:
    import doctest

    import importlib

    jsonpath_module = importlib.import_module("fastcidr.cli.jsonpath")  # (the package's jsonpath is the function)
    output = importlib.import_module("fastcidr.cli.output")

    for module, least in ((cli, 2), (jsonpath_module, 1), (output, 1), (printers, 5)):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted >= least and result.failed == 0, module


def test_yaml_without_pyyaml_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "yaml", None)  # as if PyYAML were not installed
    with pytest.raises(cli.CommandError, match=r"YAML needs PyYAML, a dependency of fastcidr: pip install PyYAML"):
        cli.parse_manifests("kind: ServiceCIDR\n", "STDIN")
    assert cli.parse_manifests('{"kind": "ServiceCIDR"}', "STDIN") == [{"kind": "ServiceCIDR"}]
