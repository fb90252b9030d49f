"""The official ``kubernetes`` Python client against ``fastcidr serve``: list, create, read,
watch and delete ServiceCIDRs, IPAddresses and Services (plain JSON; no discovery)."""
from __future__ import annotations

import threading
import time

import pytest

# the official client is in the test extra: a missing one is a failure, never a skip
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch
from kubernetes.client.rest import ApiException

from tests.helpers import service as service_body


@pytest.fixture
def apis(fc, tmp_path):
    cluster = fc.Cluster("10.96.0.0/24")
    server = fc.serve(cluster)
    api_client = k8s_config.new_client_from_config(config_file=server.kubeconfig(str(tmp_path / "kc")))
    try:
        yield k8s_client.NetworkingV1Api(api_client), k8s_client.CoreV1Api(api_client)
    finally:
        api_client.close()
        server.close()
        cluster.close()


def test_list_create_read_delete_servicecidrs(apis):
    net, core = apis
    listed = net.list_service_cidr()
    assert [c.metadata.name for c in listed.items] == ["kubernetes"]
    kubernetes_cidr = listed.items[0]
    assert kubernetes_cidr.spec.cidrs == ["10.96.0.0/24"]
    ready = kubernetes_cidr.status.conditions[0]
    assert (ready.type, ready.status, ready.reason) == ("Ready", "True", "")
    assert int(listed.metadata.resource_version) > 0

    created = net.create_service_cidr(k8s_client.V1ServiceCIDR(
        metadata=k8s_client.V1ObjectMeta(name="extra", labels={"team": "a"},
                                         annotations={"note": "x"}),
        spec=k8s_client.V1ServiceCIDRSpec(cidrs=["10.97.0.0/24"])))
    assert created.metadata.uid and created.metadata.creation_timestamp
    assert created.metadata.finalizers == ["networking.k8s.io/service-cidr-finalizer"]
    read = net.read_service_cidr("extra")
    assert read.metadata.labels == {"team": "a"} and read.metadata.annotations == {"note": "x"}
    selected = net.list_service_cidr(label_selector="team=a")
    assert [c.metadata.name for c in selected.items] == ["extra"]
    patched = net.patch_service_cidr("extra", {"metadata": {"labels": {"team": "b"}}})
    assert patched.metadata.labels == {"team": "b"}
    status = net.read_service_cidr_status("extra")
    assert status.status.conditions[0].type == "Ready"

    with pytest.raises(ApiException) as info:
        net.read_service_cidr("nope")
    assert info.value.status == 404
    assert '"reason":"NotFound"' in info.value.body.replace(" ", "")
    with pytest.raises(ApiException) as info:
        net.create_service_cidr({"metadata": {"name": "bad"}, "spec": {"cidrs": ["10.0.0.0/33"]}})
    assert info.value.status == 422

    net.delete_service_cidr("extra")
    with pytest.raises(ApiException) as info:
        net.read_service_cidr("extra")
    assert info.value.status == 404


def test_services_and_ipaddresses(apis):
    net, core = apis
    service = core.create_namespaced_service("default", k8s_client.V1Service(
        metadata=k8s_client.V1ObjectMeta(name="web"),
        spec=k8s_client.V1ServiceSpec(ports=[k8s_client.V1ServicePort(port=80)],
                                      selector={"app": "web"})))
    ip = service.spec.cluster_ip
    assert ip.startswith("10.96.0.") and service.spec.cluster_ips == [ip]
    address = net.read_ip_address(ip)
    assert address.spec.parent_ref.resource == "services"
    assert (address.spec.parent_ref.namespace, address.spec.parent_ref.name) == ("default", "web")
    names = {a.metadata.name for a in net.list_ip_address().items}
    assert names == {"10.96.0.1", ip}
    everywhere = core.list_service_for_all_namespaces()
    assert {s.metadata.name for s in everywhere.items} == {"kubernetes", "web"}
    assert core.read_namespaced_service("web", "default").spec.selector == {"app": "web"}
    with pytest.raises(ApiException) as info:
        core.create_namespaced_service("default", service_body("web"))
    assert info.value.status == 409
    core.delete_namespaced_service("web", "default")
    with pytest.raises(ApiException) as info:
        net.read_ip_address(ip)
    assert info.value.status == 404


def test_watch_servicecidrs_and_ipaddresses(apis):
    net, core = apis
    seen = []
    started = threading.Event()

    def watch_addresses() -> None:
        stream = k8s_watch.Watch().stream(net.list_ip_address, timeout_seconds=5)
        started.set()
        for event in stream:
            seen.append((event["type"], event["object"].metadata.name,
                         event["object"].spec.parent_ref.name))
            if event["type"] == "DELETED":
                break

    thread = threading.Thread(target=watch_addresses, daemon=True)
    thread.start()
    assert started.wait(10)
    time.sleep(0.5)
    ip = core.create_namespaced_service("default", {"metadata": {"name": "w"}, "spec": {
        "ports": [{"port": 80}]}}).spec.cluster_ip
    core.delete_namespaced_service("w", "default")
    thread.join(20)
    assert not thread.is_alive()
    assert ("ADDED", "10.96.0.1", "kubernetes") in seen  # the initial state
    assert ("ADDED", ip, "w") in seen and ("DELETED", ip, "w") in seen

    events = list(k8s_watch.Watch().stream(net.list_service_cidr, timeout_seconds=1))
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", "kubernetes")]
    assert events[0]["object"].spec.cidrs == ["10.96.0.0/24"]
