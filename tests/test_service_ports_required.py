"""kube-apiserver's rule that a Service needing a cluster IP has ports (``spec.ports: Required
value``), through a real ``fastcidr serve`` and through ``fastcidr create -f`` / ``apply -f``;
headless and ExternalName Services may have none. The library's ``create_service(ports=None)``
stays allowed."""
from __future__ import annotations

import io
import sys
import types
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

from fastcidr import cli
from tests.serve_process import ServeProcess

SERVICES = "/api/v1/namespaces/default/services"
REQUIRED = 'Service "bare" is invalid: spec.ports: Required value'


@pytest.fixture
def server(fc: Any, tmp_path: Path) -> Iterator[ServeProcess]:
    process = ServeProcess(tmp_path, pure=fc.backend_name == "pure", cidr="10.96.0.0/24")
    try:
        yield process
    finally:
        process.stop()


def _bare(**spec: Any) -> Dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bare"}, "spec": spec}


def _assert_required_status(code: int, body: Any) -> None:
    assert code == 422, body
    assert isinstance(body, dict) and body["kind"] == "Status", body
    assert (body["status"], body["code"], body["reason"]) == ("Failure", 422, "Invalid")
    assert body["message"] == REQUIRED
    assert body["details"]["name"] == "bare" and body["details"]["kind"] == "Service"
    assert body["details"]["causes"] == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.ports"}]


@pytest.mark.parametrize("spec", [
    {},
    {"selector": {"app": "web"}},
    {"ports": []},
    {"ports": None},
    {"type": "ClusterIP"},
    {"type": "NodePort"},
    {"type": "LoadBalancer"},
    {"clusterIP": "10.96.0.50", "clusterIPs": ["10.96.0.50"]},
], ids=["empty", "selector-only", "empty-list", "null", "clusterip", "nodeport", "loadbalancer",
        "asked-address"])
def test_a_port_less_service_needing_a_cluster_ip_is_422_and_changes_nothing(server, spec):
    before = server.state()
    for query in ("", "?dryRun=All"):
        code, _, body = server.request("POST", SERVICES + query, _bare(**spec))
        _assert_required_status(code, body)
    assert server.state() == before
    assert server.request("GET", SERVICES + "/bare")[0] == 404


def test_headless_and_external_name_services_may_have_no_ports(server):
    code, _, body = server.request("POST", SERVICES, _bare(clusterIP="None", selector={"app": "db"}))
    assert code == 201, body
    assert body["spec"]["clusterIP"] == "None" and "ports" not in body["spec"]
    code, _, body = server.request("POST", SERVICES, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
        "spec": {"type": "ExternalName", "externalName": "db.example.com"}})
    assert code == 201, body
    # neither took an address: only the kubernetes Service's is allocated
    addresses = server.request("GET", "/apis/networking.k8s.io/v1/ipaddresses")[2]["items"]
    assert [a["metadata"]["name"] for a in addresses] == ["10.96.0.1"]


def test_an_update_cannot_leave_a_service_that_needs_a_cluster_ip_port_less(server):
    code, _, web = server.request("POST", SERVICES, _bare(ports=[{"port": 80}]))
    assert code == 201, web
    before = server.state()
    for content_type, patch in (("application/merge-patch+json", {"spec": {"ports": None}}),
                                ("application/merge-patch+json", {"spec": None}),
                                ("application/json-patch+json", [{"op": "remove", "path": "/spec/ports"}])):
        code, _, body = server.request("PATCH", SERVICES + "/bare", patch, content_type=content_type)
        _assert_required_status(code, body)
    put = {**web, "spec": {k: v for k, v in web["spec"].items() if k != "ports"}}
    _assert_required_status(*server.request("PUT", SERVICES + "/bare", put)[::2])
    assert server.state() == before


def test_a_headless_service_updated_without_its_cluster_ip_stays_headless(server):
    code, _, body = server.request("POST", SERVICES, _bare(clusterIP="None", selector={"app": "db"}))
    assert code == 201, body
    # the apiserver keeps the stored clusterIP when an update omits it: still headless, no ports needed
    put = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "bare", "resourceVersion": body["metadata"]["resourceVersion"],
                        "labels": {"tier": "db"}},
           "spec": {"selector": {"app": "db"}}}
    code, _, body = server.request("PUT", SERVICES + "/bare", put)
    assert code == 200, body
    assert body["spec"]["clusterIP"] == "None" and body["metadata"]["labels"] == {"tier": "db"}


# -- the CLI ---------------------------------------------------------------------------------------

BARE_YAML = "apiVersion: v1\nkind: Service\nmetadata:\n  name: bare\nspec:\n  selector:\n    app: web\n"
HEADLESS_YAML = BARE_YAML.replace("spec:\n", "spec:\n  clusterIP: None\n")


@pytest.fixture
def run(backend: types.ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Any:
    monkeypatch.setenv("FASTCIDR_STORE", str(tmp_path / "fastcidr.db"))
    monkeypatch.setenv("HOME", str(tmp_path))

    def invoke(command: str, stdin: str = "") -> Any:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        status = cli.main(command.split())
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    assert invoke("init --service-cluster-ip-range 10.96.0.0/28")[0] == 0
    return invoke


def test_create_and_apply_of_a_port_less_manifest_are_refused_as_kubectl_is(run):
    before = run("get svc,ipaddress -o name")
    for verb in ("create", "apply"):
        assert run(f"{verb} -f -", stdin=BARE_YAML) == (1, "", f"The {REQUIRED}\n")
    assert run("get svc,ipaddress -o name") == before
    assert run("apply -f -", stdin=HEADLESS_YAML) == (0, "service/bare created\n", "")
    # applied again without clusterIP: the stored one (None) is kept, so no ports are needed
    assert run("apply -f -", stdin=BARE_YAML.replace("app: web", "app: db"))[:2] == (
        0, "service/bare configured\n")
    assert run("get svc bare -o jsonpath={.spec.clusterIP}")[1] == "None"


def test_the_library_still_creates_port_less_services(fc):
    cluster = fc.Cluster("10.96.0.0/28")
    try:
        svc = cluster.create_service("bare")
        assert svc.ports == [] and svc.cluster_ip.startswith("10.96.0.")
    finally:
        cluster.close()
