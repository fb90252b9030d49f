"""``fastcidr serve`` over the real Cluster, at the HTTP level: the docs/api.md "Server" promises
(DELETE semantics, labels/annotations on every kind, always-serialised fields, dry run, strategic
merge patches of Services, watch side effects)."""
from __future__ import annotations

import threading
from typing import Any, Dict, List

import pytest

from tests.helpers import service
from tests.test_server_http import CIDRS, SERVICES, TABLE_ACCEPT, Client, watch_in_background

IPS = "/apis/networking.k8s.io/v1/ipaddresses"


@pytest.fixture
def served(fc):
    cluster = fc.Cluster("10.96.0.0/28")
    server = fc.serve(cluster)
    client = Client(server)
    try:
        yield server, client
    finally:
        client.close()
        server.close()
        cluster.close()


def _cidr(name: str, *cidrs: str, **meta: Any) -> Dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR",
            "metadata": {"name": name, **meta}, "spec": {"cidrs": list(cidrs)}}


def _fill_small_range(client: Client) -> None:
    for i in range(13):
        assert client.request("POST", SERVICES, service(f"fill-{i}"))[0] == 201


def test_delete_blocked_servicecidr_twice(served):
    server, client = served
    _fill_small_range(client)
    assert client.request("POST", CIDRS, _cidr("newcidr1", "10.96.0.0/24"))[0] == 201
    code, svc = client.request("POST", SERVICES, service("blocker"))[:3:2]
    assert code == 201
    code, _, first = client.request("DELETE", CIDRS + "/newcidr1", {"propagationPolicy": "Background"})
    assert code == 200
    meta = first["metadata"]
    assert meta["deletionTimestamp"] and meta["finalizers"] == ["networking.k8s.io/service-cidr-finalizer"]
    assert first["status"]["conditions"][0]["reason"] == "Terminating"
    code, _, second = client.request("DELETE", CIDRS + "/newcidr1")
    assert code == 200
    assert second["metadata"]["resourceVersion"] == meta["resourceVersion"]  # nothing changed
    assert second["metadata"]["deletionTimestamp"] == meta["deletionTimestamp"]
    assert client.request("DELETE", SERVICES + "/blocker")[0] == 200
    assert client.request("GET", CIDRS + "/newcidr1")[0] == 404


def test_labels_and_annotations_on_every_kind_under_strict(served):
    server, client = served
    meta = {"labels": {"team": "a"}, "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"}}
    code, _, cidr = client.request("POST", CIDRS + "?fieldValidation=Strict",
                                   _cidr("labelled", "10.97.0.0/24", **meta))
    assert code == 201 and cidr["metadata"]["labels"] == meta["labels"]
    assert cidr["metadata"]["annotations"] == meta["annotations"]
    code, _, svc = client.request("POST", SERVICES + "?fieldValidation=Strict",
                                  {"apiVersion": "v1", "kind": "Service",
                                   "metadata": {"name": "labelled", **meta},
                                   "spec": {"ports": [{"port": 80}]}})
    assert code == 201, svc
    assert client.request("GET", SERVICES + "/labelled")[2]["metadata"]["annotations"] == meta["annotations"]
    code, _, ip = client.request("POST", IPS + "?fieldValidation=Strict", {
        "apiVersion": "networking.k8s.io/v1", "kind": "IPAddress",
        "metadata": {"name": "10.97.0.9", **meta},
        "spec": {"parentRef": {"group": "", "resource": "services", "namespace": "default",
                               "name": "labelled"}}})
    assert code == 201, ip
    stored = client.request("GET", IPS + "/10.97.0.9")[2]
    assert stored["metadata"]["labels"]["team"] == "a"
    assert stored["metadata"]["annotations"] == meta["annotations"]


def test_always_serialised_fields(served):
    server, client = served
    cidr = client.request("GET", CIDRS + "/kubernetes")[2]
    condition = cidr["status"]["conditions"][0]
    assert set(condition) >= {"type", "status", "reason", "message", "lastTransitionTime"}
    assert condition["reason"] == ""
    empty = client.request("GET", IPS + "?labelSelector=nothing%3Dhere")[2]
    assert empty["items"] == [] and empty["kind"] == "IPAddressList"
    for obj in (cidr, client.request("GET", SERVICES + "/kubernetes")[2]):
        meta = obj["metadata"]
        assert meta["uid"] and meta["resourceVersion"].isdigit()
        assert meta["creationTimestamp"].endswith("Z")


def test_dry_run_allocates_nothing(served):
    server, client = served
    before = client.request("GET", IPS)[2]["items"]
    code, _, svc = client.request("POST", SERVICES + "?dryRun=All", service("dry"))
    assert code == 201 and svc["metadata"]["name"] == "dry"
    assert client.request("GET", SERVICES + "/dry")[0] == 404
    assert client.request("GET", IPS)[2]["items"] == before


def test_strategic_merge_patch_of_a_service(served):
    server, client = served
    client.request("POST", SERVICES, {"metadata": {"name": "web"},
                                      "spec": {"ports": [{"name": "a", "port": 80}],
                                               "selector": {"app": "web"}}})
    code, _, svc = client.request(
        "PATCH", SERVICES + "/web",
        {"spec": {"$setElementOrder/ports": [{"port": 81}, {"port": 80}],
                  "ports": [{"name": "b", "port": 81}, {"name": "a2", "port": 80}]}},
        content_type="application/strategic-merge-patch+json")
    assert code == 200, svc
    assert [(p["name"], p["port"]) for p in svc["spec"]["ports"]] == [("b", 81), ("a2", 80)]
    assert svc["spec"]["selector"] == {"app": "web"}
    assert svc["spec"]["clusterIP"] == client.request("GET", SERVICES + "/web")[2]["spec"]["clusterIP"]


def test_immutable_cidrs_are_422(served):
    server, client = served
    code, _, body = client.request("PATCH", CIDRS + "/kubernetes", {"spec": {"cidrs": ["10.95.0.0/24"]}},
                                   content_type="application/merge-patch+json")
    assert (code, body["reason"]) == (422, "Invalid")
    assert body["details"]["kind"] == "ServiceCIDR" and body["details"]["name"] == "kubernetes"
    assert body["details"]["causes"][0]["field"].startswith("spec.cidrs")


def test_watch_sees_controller_side_effects(served):
    server, client = served
    _fill_small_range(client)
    client.request("POST", CIDRS, _cidr("newcidr1", "10.96.0.0/24"))
    client.request("POST", SERVICES, service("blocker"))
    client.request("DELETE", CIDRS + "/newcidr1")
    rv = client.request("GET", CIDRS)[2]["metadata"]["resourceVersion"]
    watcher, events = watch_in_background(
        server, f"{CIDRS}?watch=true&resourceVersion={rv}&timeoutSeconds=20"
                "&fieldSelector=metadata.name%3Dnewcidr1", count=1, timeout=30)
    # deleting the Service makes the controller drop the finalizer: a DELETED event
    client.request("DELETE", SERVICES + "/blocker")
    watcher.join(30)
    assert [e["type"] for e in events][-1:] == ["DELETED"]
    assert events[-1]["object"]["metadata"]["name"] == "newcidr1"


def test_table_rows_for_the_terminating_and_dual_stack(fc):
    cluster = fc.Cluster("10.96.0.0/24,fd00::/108")
    server = fc.serve(cluster)
    client = Client(server)
    try:
        table = client.request("GET", CIDRS, accept=TABLE_ACCEPT)[2]
        assert table["rows"][0]["cells"][:2] == ["kubernetes", "10.96.0.0/24,fd00::/108"]
        code, _, svc = client.request("POST", SERVICES, {"metadata": {"name": "dual"}, "spec": {
            "ipFamilyPolicy": "RequireDualStack", "ports": [{"port": 53, "protocol": "UDP"}]}})
        assert code == 201, svc
        row = client.request("GET", SERVICES + "/dual", accept=TABLE_ACCEPT)[2]["rows"][0]["cells"]
        assert row[2] == svc["spec"]["clusterIPs"][0] and row[4] == "53/UDP"
        assert len(svc["spec"]["clusterIPs"]) == 2
    finally:
        client.close()
        server.close()
        cluster.close()


def test_concurrent_creates_get_unique_addresses(fc):
    cluster = fc.Cluster("10.96.0.0/24")
    server = fc.serve(cluster)
    results: List[Any] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        client = Client(server)
        try:
            for i in range(25):
                code, _, body = client.request("POST", SERVICES, service(f"w{n}-{i}"))
                with lock:
                    results.append((code, body["spec"]["clusterIP"] if code == 201 else body))
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert all(code == 201 for code, _ in results), [r for r in results if r[0] != 201][:3]
        ips = [ip for _, ip in results]
        assert len(ips) == 100 and len(set(ips)) == 100 and "10.96.0.1" not in ips
        listed = Client(server)
        try:
            assert len(listed.request("GET", IPS)[2]["items"]) == 101
        finally:
            listed.close()
    finally:
        server.close()
        cluster.close()


def test_delete_collection_with_a_label_selector(served):
    server, client = served
    for name, team in (("a", "x"), ("b", "x"), ("c", "y")):
        assert client.request("POST", SERVICES, service(name, labels={"team": team}))[0] == 201
    code, _, body = client.request("DELETE", SERVICES + "?labelSelector=team%3Dx")
    assert code == 200 and sorted(i["metadata"]["name"] for i in body["items"]) == ["a", "b"]
    left = [i["metadata"]["name"] for i in client.request("GET", SERVICES)[2]["items"]]
    assert left == ["c", "kubernetes"]
    assert client.request("DELETE", "/api/v1/services")[0] == 405


def test_label_selector_watch_reports_objects_entering_and_leaving(served):
    server, client = served
    client.request("POST", SERVICES, service("in", labels={"team": "x"}))
    rv = client.request("GET", SERVICES)[2]["metadata"]["resourceVersion"]
    watcher, events = watch_in_background(
        server, f"{SERVICES}?watch=true&resourceVersion={rv}&labelSelector=team%3Dx"
                "&timeoutSeconds=20", count=4, timeout=30)
    merge = "application/merge-patch+json"
    client.request("PATCH", SERVICES + "/in", {"metadata": {"labels": {"team": "y"}}}, content_type=merge)
    client.request("PATCH", SERVICES + "/in", {"metadata": {"labels": {"team": "x"}}}, content_type=merge)
    client.request("PATCH", SERVICES + "/in", {"metadata": {"annotations": {"a": "b"}}}, content_type=merge)
    client.request("POST", SERVICES, service("never", labels={"team": "z"}))
    client.request("DELETE", SERVICES + "/in")
    watcher.join(30)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("DELETED", "in"), ("ADDED", "in"), ("MODIFIED", "in"), ("DELETED", "in")]


def test_metrics_endpoint(served):
    server, client = served
    client.request("POST", SERVICES, service("m"))
    code, headers, body = client.request("GET", "/metrics", accept="text/plain")
    assert code == 200 and headers["Content-Type"].startswith("text/plain")
    text = body.decode()
    assert 'kube_apiserver_clusterip_allocator_allocated_ips{cidr="10.96.0.0/28"} 2' in text
