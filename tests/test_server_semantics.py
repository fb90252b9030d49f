"""Kubernetes object semantics through a real ``fastcidr serve`` subprocess, driven by the real
kubectl and the official Python client (docs/kubernetes-objects.md): finalizers and
deletionTimestamp, ownerReferences, ``services/status``, server-side dry-run of updates,
DELETE preconditions, immutable metadata, node ports, type transitions, unknown-field pruning and
metadata / Service validation. One server per backend (compiled core, pure twin) for the module;
every test uses its own object names.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from fastcidr.testing import stop_child
from tests.serve_process import ServeProcess
from tests.test_server_kubectl import Kubectl

pytestmark = [pytest.mark.kubectl]

SVC = "/api/v1/namespaces/default/services"
IPS = "/apis/networking.k8s.io/v1/ipaddresses"
MERGE = "application/merge-patch+json"


@pytest.fixture(scope="module", params=["compiled", "pure"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[ServeProcess, Kubectl]]:
    tmp = tmp_path_factory.mktemp(f"semantics-{request.param}")
    proc = ServeProcess(tmp, pure=request.param == "pure", cidr="10.96.0.0/20")
    try:
        yield proc, Kubectl(proc.kubeconfig, tmp / "cache")
    finally:
        proc.stop()


def _svc(name: str, **spec: Any) -> Dict[str, Any]:
    body: Dict[str, Any] = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                            "spec": {"ports": [{"port": 80}], **spec}}
    return body


def _json(kubectl: Kubectl, *args: str) -> Dict[str, Any]:
    return json.loads("\n".join(kubectl.ok(*args, "-o", "json")))


def _ip_names(proc: ServeProcess) -> List[str]:
    code, _, body = proc.request("GET", IPS)
    assert code == 200
    return [item["metadata"]["name"] for item in body["items"]]


def test_service_finalizer_holds_deletion_and_its_cluster_ip(server):
    proc, kubectl = server
    kubectl.ok("create", "service", "clusterip", "held", "--tcp=80:80")
    out = kubectl.ok("patch", "service", "held", "--type=merge",
                     "-p", '{"metadata":{"finalizers":["example.com/hold"]}}')
    assert out == ["service/held patched"]  # not "(no change)"
    ip = _json(kubectl, "get", "service", "held")["spec"]["clusterIP"]
    kubectl.ok("delete", "service", "held", "--wait=false")
    kept = _json(kubectl, "get", "service", "held")
    assert kept["metadata"]["finalizers"] == ["example.com/hold"]
    assert kept["metadata"]["deletionTimestamp"] and kept["metadata"]["deletionGracePeriodSeconds"] == 0
    assert ip in _ip_names(proc)
    # the address stays taken: another Service cannot have it
    code, _, body = proc.request("POST", SVC, _svc("thief", clusterIP=ip))
    assert code == 422 and "provided IP is already allocated" in body["message"]
    # adding a finalizer to an object being deleted is refused, as upstream
    code, _, body = proc.request("PATCH", f"{SVC}/held", {"metadata": {"finalizers": ["example.com/hold", "b.io/x"]}},
                                 content_type=MERGE)
    assert code == 422 and "no new finalizers can be added if the object is being deleted" in body["message"]
    kubectl.ok("patch", "service", "held", "--type=json", "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
    result = kubectl.run("get", "service", "held")
    assert result.returncode != 0 and "NotFound" in result.stderr
    assert ip not in _ip_names(proc)


def test_owner_references_and_finalizers_on_ipaddresses_are_kept(server):
    proc, kubectl = server
    owner = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "6d1f3b0e-0000-4000-8000-000000000001"}
    code, _, created = proc.request("POST", SVC, {**_svc("owned"), "metadata": {"name": "owned",
                                                                               "ownerReferences": [owner]}})
    assert code == 201 and created["metadata"]["ownerReferences"] == [owner]
    assert _json(kubectl, "get", "service", "owned")["metadata"]["ownerReferences"] == [owner]
    ip = created["spec"]["clusterIP"]
    assert kubectl.ok("patch", "ipaddress", ip, "--type=merge",
                      "-p", '{"metadata":{"finalizers":["example.com/keep"]}}') == [f"ipaddress.networking.k8s.io/{ip} patched"]
    assert _json(kubectl, "get", "ipaddress", ip)["metadata"]["finalizers"] == ["example.com/keep"]
    kubectl.ok("patch", "ipaddress", ip, "--type=merge", "-p", '{"metadata":{"finalizers":null}}')


def test_services_status_subresource(server):
    proc, kubectl = server
    kubectl.ok("create", "service", "loadbalancer", "lb", "--tcp=80:80")
    before = _json(kubectl, "get", "service", "lb")
    assert before["spec"]["allocateLoadBalancerNodePorts"] is True
    assert before["spec"]["externalTrafficPolicy"] == "Cluster"
    assert 30000 <= before["spec"]["ports"][0]["nodePort"] <= 32767
    assert kubectl.ok("get", "service", "lb")[1].split()[3] == "<pending>"
    kubectl.ok("patch", "service", "lb", "--subresource=status", "--type=merge",
               "-p", '{"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.7"}]}}}')
    assert kubectl.ok("get", "service", "lb")[1].split()[3] == "203.0.113.7"
    # a write to the main resource ignores status; one to status ignores the spec
    kubectl.ok("patch", "service", "lb", "--type=merge", "-p", '{"status":{"loadBalancer":{}}}')
    assert _json(kubectl, "get", "service", "lb")["status"]["loadBalancer"]["ingress"] == [{"ip": "203.0.113.7"}]
    code, _, body = proc.request("PATCH", f"{SVC}/lb/status", {"spec": {"type": "ClusterIP"}}, content_type=MERGE)
    assert code == 200 and body["spec"]["type"] == "LoadBalancer"
    code, _, body = proc.request("GET", f"{SVC}/lb/status")
    assert code == 200 and body["status"]["loadBalancer"]["ingress"] == [{"ip": "203.0.113.7"}]


def test_server_dry_run_of_an_update_validates_and_allocates_nothing(server):
    proc, kubectl = server
    result = kubectl.run("patch", "servicecidr", "kubernetes", "--type=merge", "--dry-run=server",
                         "-p", '{"spec":{"cidrs":["10.200.0.0/16"]}}')
    assert result.returncode != 0 and "is invalid" in result.stderr and "spec.cidrs" in result.stderr
    assert _json(kubectl, "get", "servicecidr", "kubernetes")["spec"]["cidrs"] == ["10.96.0.0/20"]
    kubectl.ok("create", "service", "clusterip", "dry", "--tcp=80:80")
    state = proc.state()
    out = _json(kubectl, "patch", "service", "dry", "--type=merge", "--dry-run=server",
                "-p", '{"spec":{"type":"NodePort"}}')
    assert out["spec"]["type"] == "NodePort" and out["spec"]["ports"][0]["nodePort"]
    assert proc.state() == state  # nothing written, no node port kept
    result = kubectl.run("patch", "service", "dry", "--type=merge", "--dry-run=server",
                         "-p", '{"spec":{"externalTrafficPolicy":"Local"}}')
    assert result.returncode != 0 and "may only be set for externally-accessible services" in result.stderr


def test_delete_preconditions_and_immutable_uid(server):
    proc, kubectl = server
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.client.rest import ApiException

    core = k8s_client.CoreV1Api(k8s_config.new_client_from_config(str(proc.kubeconfig)))
    created = core.create_namespaced_service("default", _svc("guarded"))
    uid = created.metadata.uid
    with pytest.raises(ApiException) as refused:
        core.delete_namespaced_service("guarded", "default", body=k8s_client.V1DeleteOptions(
            preconditions=k8s_client.V1Preconditions(uid="00000000-0000-0000-0000-000000000000")))
    assert refused.value.status == 409
    assert json.loads(refused.value.body)["message"] == (
        'Operation cannot be fulfilled on services "guarded": Precondition failed: UID in precondition: '
        f"00000000-0000-0000-0000-000000000000, UID in object meta: {uid}")
    with pytest.raises(ApiException) as stale:
        core.delete_namespaced_service("guarded", "default", body=k8s_client.V1DeleteOptions(
            preconditions=k8s_client.V1Preconditions(resource_version="1")))
    assert stale.value.status == 409 and "Precondition failed: ResourceVersion in precondition: 1" in stale.value.body
    with pytest.raises(ApiException) as changed:
        core.patch_namespaced_service("guarded", "default", {"metadata": {"uid": "something-else"}})
    assert changed.value.status == 422 and "metadata.uid: Invalid value: \\\"something-else\\\": field is immutable" in \
        changed.value.body
    replaced = core.read_namespaced_service("guarded", "default")
    replaced.metadata.uid = "00000000-0000-0000-0000-000000000001"
    with pytest.raises(ApiException) as put:
        core.replace_namespaced_service("guarded", "default", replaced)
    assert put.value.status == 409 and "Precondition failed: UID in precondition: " \
        f"00000000-0000-0000-0000-000000000001, UID in object meta: {uid}" in put.value.body
    core.delete_namespaced_service("guarded", "default", body=k8s_client.V1DeleteOptions(
        preconditions=k8s_client.V1Preconditions(uid=uid)))
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_service("guarded", "default")
    assert gone.value.status == 404


def test_node_ports_in_range_and_duplicates_refused(server):
    proc, kubectl = server
    kubectl.ok("create", "service", "nodeport", "np-a", "--tcp=80:80")
    port = _json(kubectl, "get", "service", "np-a")["spec"]["ports"][0]["nodePort"]
    assert 30000 + 86 <= port <= 32767  # the dynamic band: above the static one
    result = kubectl.run("create", "service", "nodeport", "np-b", "--tcp=80:80", f"--node-port={port}")
    assert result.returncode != 0
    assert f"spec.ports[0].nodePort: Invalid value: {port}: provided port is already allocated" in result.stderr
    result = kubectl.run("create", "service", "nodeport", "np-c", "--tcp=80:80", "--node-port=1")
    assert result.returncode != 0 and ("provided port is not in the valid range. The range of valid ports is "
                                       "30000-32767") in result.stderr
    kubectl.ok("create", "service", "nodeport", "np-d", "--tcp=80:80", "--node-port=30001")
    # NodePort -> ClusterIP releases the port: another Service may take it
    kubectl.ok("patch", "service", "np-d", "--type=merge", "-p", '{"spec":{"type":"ClusterIP"}}')
    assert "nodePort" not in _json(kubectl, "get", "service", "np-d")["spec"]["ports"][0]
    kubectl.ok("create", "service", "nodeport", "np-e", "--tcp=80:80", "--node-port=30001")
    kubectl.ok("delete", "service", "np-e")
    kubectl.ok("create", "service", "nodeport", "np-f", "--tcp=80:80", "--node-port=30001")


def test_clusterip_externalname_round_trip(server):
    proc, kubectl = server
    kubectl.ok("create", "service", "clusterip", "flip", "--tcp=80:80")
    ip = _json(kubectl, "get", "service", "flip")["spec"]["clusterIP"]
    kubectl.ok("patch", "service", "flip", "--type=merge",
               "-p", '{"spec":{"type":"ExternalName","externalName":"db.example.com"}}')
    flipped = _json(kubectl, "get", "service", "flip")["spec"]
    assert flipped["type"] == "ExternalName" and "clusterIP" not in flipped and ip not in _ip_names(proc)
    kubectl.ok("patch", "service", "flip", "--type=merge", "-p", '{"spec":{"type":"ClusterIP","externalName":null}}')
    back = _json(kubectl, "get", "service", "flip")["spec"]
    assert back["type"] == "ClusterIP" and back["clusterIP"] in _ip_names(proc)


def test_unknown_fields_pruned_and_warned_once(server):
    proc, kubectl = server
    body = _svc("pruned")
    body["spec"]["frobnicate"] = True
    code, headers, created = proc.request("POST", f"{SVC}?fieldValidation=Warn", body)
    assert code == 201 and 'unknown field \\"spec.frobnicate\\"' in headers.get("warning", "") or \
        'unknown field "spec.frobnicate"' in headers.get("warning", "")
    assert "frobnicate" not in created["spec"]
    code, _, stored = proc.request("GET", f"{SVC}/pruned")
    assert "frobnicate" not in stored["spec"]
    code, headers, _ = proc.request("PATCH", f"{SVC}/pruned", {"metadata": {"labels": {"a": "b"}}},
                                    content_type=MERGE)
    assert code == 200 and "warning" not in headers


def test_metadata_and_service_validation_messages(server):
    proc, kubectl = server
    cases = [
        ({"metadata": {"name": "v1", "labels": {"app": "a b"}}},
         "metadata.labels: Invalid value: \"a b\": a valid label must be an empty string or consist of alphanumeric"),
        ({"metadata": {"name": "v2", "annotations": {"bad key": "x"}}},
         "metadata.annotations: Invalid value: \"bad key\": name part must consist of alphanumeric characters"),
        ({"metadata": {"name": "v3", "annotations": {"big": "x" * (256 * 1024)}}},
         "metadata.annotations: Too long: must have at most 262144 bytes"),
        ({"spec": {"ports": [{"port": 80}, {"port": 80}]}}, "spec.ports[1]: Duplicate value"),
        ({"spec": {"ports": [{"port": 80}], "externalTrafficPolicy": "Local"}},
         "spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set for externally-accessible services"),
        ({"spec": {"ports": [{"port": 80, "nodePort": 30005}]}},
         "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"),
        ({"spec": {"ports": [{"port": 80}], "sessionAffinity": "ClientIP",
                   "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 86401}}}},
         "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 86401: must be greater than 0 and "
         "less than 86400"),
    ]
    for index, (override, message) in enumerate(cases):
        body = _svc(f"bad-{index}")
        body["metadata"] = override.get("metadata", body["metadata"])
        body["spec"] = {**body["spec"], **override.get("spec", {})}
        code, _, answer = proc.request("POST", SVC, body)
        assert code == 422 and message in answer["message"], (override, answer)
    code, _, created = proc.request("POST", SVC, _svc("aff", sessionAffinity="ClientIP"))
    assert code == 201 and created["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    # {"spec": null} does not wipe the ports of a Service
    code, _, answer = proc.request("PATCH", f"{SVC}/aff", {"spec": None}, content_type=MERGE)
    assert code == 422 and answer["message"] == 'Service "aff" is invalid: spec.ports: Required value'
    code, _, after = proc.request("GET", f"{SVC}/aff")
    assert after["spec"]["ports"][0]["port"] == 80 and after["spec"]["clusterIP"] == created["spec"]["clusterIP"]


@pytest.mark.parametrize("pure", [False, True], ids=["compiled", "pure"])
def test_ip_family_policy_upgrade_and_downgrade(tmp_path: Path, pure: bool):
    proc = ServeProcess(tmp_path, cidr="10.96.0.0/20,fd00::/108", pure=pure)
    try:
        code, _, created = proc.request("POST", SVC, _svc("dual"))
        assert code == 201 and created["spec"]["ipFamilyPolicy"] == "SingleStack"
        code, _, up = proc.request("PATCH", f"{SVC}/dual", {"spec": {"ipFamilyPolicy": "PreferDualStack"}},
                                   content_type=MERGE)
        assert code == 200 and up["spec"]["ipFamilies"] == ["IPv4", "IPv6"] and len(up["spec"]["clusterIPs"]) == 2
        second = up["spec"]["clusterIPs"][1]
        assert ":" in second and second in _ip_names(proc)
        code, _, down = proc.request("PATCH", f"{SVC}/dual", {"spec": {"ipFamilyPolicy": "SingleStack"}},
                                     content_type=MERGE)
        assert code == 200 and down["spec"]["clusterIPs"] == up["spec"]["clusterIPs"][:1]
        assert down["spec"]["ipFamilies"] == ["IPv4"] and second not in _ip_names(proc)
    finally:
        proc.stop()


_OPERATOR = '''
import json, os
import kopf

def _log(*event):
    with open(os.environ["OPERATOR_LOG"], "a") as handle:
        handle.write(json.dumps(event) + "\\n")

@kopf.on.startup()
def configure(settings, **_):
    settings.posting.enabled = False
    settings.watching.server_timeout = 10

@kopf.on.create("", "v1", "services", labels={"operated": "yes"})
def created(name, meta, **_):
    _log("create", name, meta.get("finalizers", []))

@kopf.on.update("", "v1", "services", labels={"operated": "yes"})
def updated(name, **_):
    _log("update", name)

@kopf.on.delete("", "v1", "services", labels={"operated": "yes"})
def deleted(name, **_):
    _log("delete", name)
'''


def test_kopf_operator_with_finalizers_handles_create_update_delete(server, tmp_path):
    """A real kopf operator (its finalizer, create / update / delete handlers) end to end."""
    import subprocess
    import sys
    import time

    proc, kubectl = server
    operator = tmp_path / "operator.py"
    operator.write_text(_OPERATOR)
    log = tmp_path / "events.jsonl"
    env = {k: v for k, v in kubectl.env.items()}
    env.update(KUBECONFIG=str(proc.kubeconfig), OPERATOR_LOG=str(log))
    output = open(tmp_path / "kopf.out", "w")
    kopf = subprocess.Popen([sys.executable, "-m", "kopf", "run", "--standalone", "--namespace", "default",
                             str(operator)], env=env, stdout=output, stderr=subprocess.STDOUT)

    def events(count: int, timeout: float = 60.0) -> List[Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = log.read_text().splitlines() if log.exists() else []
            if len(lines) >= count:
                return [json.loads(line) for line in lines]
            time.sleep(0.2)
        raise AssertionError((tmp_path / "kopf.out").read_text()[-4000:])

    try:
        body = _svc("operated")
        body["metadata"]["labels"] = {"operated": "yes"}
        kubectl.ok("apply", "-f", "-", stdin=json.dumps(body))
        assert events(1)[0][:2] == ["create", "operated"]
        deadline = time.monotonic() + 30
        while "kopf.zalando.org/KopfFinalizerMarker" not in \
                (_json(kubectl, "get", "service", "operated")["metadata"].get("finalizers") or []):
            assert time.monotonic() < deadline, "kopf's finalizer never stayed on the Service"
            time.sleep(0.2)
        ip = _json(kubectl, "get", "service", "operated")["spec"]["clusterIP"]
        kubectl.ok("patch", "service", "operated", "--type=merge", "-p", '{"spec":{"ports":[{"port":81}]}}')
        assert ["update", "operated"] in events(2)
        kubectl.ok("delete", "service", "operated", "--timeout=60s")
        assert ["delete", "operated"] in events(3)
        result = kubectl.run("get", "service", "operated")
        assert result.returncode != 0 and "NotFound" in result.stderr
        assert ip not in _ip_names(proc)
    finally:
        stop_child(kopf)
        output.close()
