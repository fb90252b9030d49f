"""The controllers ``fastcidr serve`` runs (docs/serve.md "Controllers"), driven with the real
kubectl and the official Python client against a ``fastcidr serve`` subprocess: a deleted
IPAddress of a live Service comes back and its address is never handed to another Service,
leaked IPAddresses go after their grace, ``default/kubernetes`` is recreated, and the repair
writes upstream's events. Every wait is bounded.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, List, Optional

import pytest

from tests.serve_process import ServeProcess, serve_env

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import client as k8s_client  # noqa: E402
from kubernetes import config as k8s_config  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402

WAIT = 20.0


def wait_for(predicate: Callable[[], Any], timeout: float = WAIT, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.1)


def kubectl(server: ServeProcess, tmp_path: Path, *args: str, check: bool = True,
            stdin: Optional[str] = None) -> subprocess.CompletedProcess:
    binary = shutil.which("kubectl")
    if binary is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("kubectl is not installed")
        pytest.skip("kubectl is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env["HOME"] = str(tmp_path)
    result = subprocess.run([binary, "--kubeconfig", str(server.kubeconfig), "--cache-dir",
                             str(tmp_path / "kube-cache"), *args],
                            input=stdin, capture_output=True, text=True, timeout=60, env=env)
    if check:
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


def api_client(server: ServeProcess) -> Any:
    configuration = k8s_client.Configuration()
    k8s_config.load_kube_config(config_file=str(server.kubeconfig), client_configuration=configuration)
    return k8s_client.ApiClient(configuration)


@pytest.fixture
def serve(fc, tmp_path):
    """Start ``fastcidr serve`` subprocesses with extra flags (on the test's backend)."""
    started: List[ServeProcess] = []

    def start(*flags: str, cidr: str = "10.96.0.0/16") -> ServeProcess:
        server = ServeProcess(tmp_path, *flags, pure=fc.backend_name == "pure", cidr=cidr)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.proc.returncode is None:  # (a test may have stopped it already)
            server.stop()


def _service(name: str, cluster_ip: str = "") -> Any:
    spec = k8s_client.V1ServiceSpec(ports=[k8s_client.V1ServicePort(port=80)])
    if cluster_ip:
        spec.cluster_ip = cluster_ip
    return k8s_client.V1Service(metadata=k8s_client.V1ObjectMeta(name=name), spec=spec)


def test_deleted_ipaddress_of_a_live_service_is_recreated_and_never_given_away(serve, tmp_path):
    # a long periodic interval: what brings the object back is the reaction to its deletion
    server = serve("--repair-interval", "3600", "--kubernetes-service-interval", "3600")
    with api_client(server) as api:
        core = k8s_client.CoreV1Api(api)
        networking = k8s_client.NetworkingV1Api(api)
        ip = core.create_namespaced_service("default", _service("first")).spec.cluster_ip
        networking.delete_ip_address(ip)
        # whether or not the repair has run yet, the address is not free
        with pytest.raises(ApiException) as refused:
            core.create_namespaced_service("default", _service("second", cluster_ip=ip))
        assert refused.value.status == 422
        assert "provided IP is already allocated" in refused.value.body

        def recreated() -> Any:
            try:
                return networking.read_ip_address(ip)
            except ApiException as exc:
                assert exc.status == 404
                return None

        obj = wait_for(recreated, what="the IPAddress to be recreated")
        assert obj.spec.parent_ref.name == "first" and obj.spec.parent_ref.namespace == "default"
        assert obj.metadata.labels["ipaddress.kubernetes.io/managed-by"] == "ipallocator.k8s.io"
    events = wait_for(lambda: "ClusterIPNotAllocated" in kubectl(server, tmp_path, "get", "events").stdout
                      and kubectl(server, tmp_path, "get", "events").stdout, what="the repair event")
    assert f"Cluster IP [IPv4]: {ip} is not allocated; repairing" in events
    assert "service/first" in events
    described = kubectl(server, tmp_path, "describe", "service", "first").stdout
    assert "ipallocator-repair-controller" in described and "ClusterIPNotAllocated" in described


def test_a_full_range_stays_full_while_an_ipaddress_is_missing(serve, tmp_path):
    # 10.96.0.0/29: .1 is the kubernetes Service's, .2-.6 are five more
    server = serve("--repair-interval", "3600", "--kubernetes-service-interval", "3600",
                   cidr="10.96.0.0/29")
    with api_client(server) as api:
        core = k8s_client.CoreV1Api(api)
        networking = k8s_client.NetworkingV1Api(api)
        ips = [core.create_namespaced_service("default", _service(f"s{i}")).spec.cluster_ip for i in range(5)]
        networking.delete_ip_address(ips[2])
        with pytest.raises(ApiException) as full:
            core.create_namespaced_service("default", _service("one-too-many"))
        assert full.value.status == 500 and "range is full" in full.value.body
        wait_for(lambda: any(i.metadata.name == ips[2] for i in networking.list_ip_address().items),
                 what="the IPAddress to come back")
        # deleting the Service itself frees the address, as always
        core.delete_namespaced_service("s2", "default")
        assert core.create_namespaced_service("default", _service("after")).spec.cluster_ip == ips[2]


def test_the_periodic_repair_recreates_an_address_missing_at_start(serve, tmp_path):
    server = serve("--repair-interval", "1", "--kubernetes-service-interval", "3600")
    with api_client(server) as api:
        core = k8s_client.CoreV1Api(api)
        ip = core.create_namespaced_service("default", _service("web")).spec.cluster_ip
        # the object is gone and comes back again and again, whatever the timing
        for _ in range(2):
            k8s_client.NetworkingV1Api(api).delete_ip_address(ip)
            wait_for(lambda: any(i.metadata.name == ip for i in
                                 k8s_client.NetworkingV1Api(api).list_ip_address().items),
                     what="the repair")


def test_leaked_ipaddress_goes_after_the_grace_period_with_its_event(serve, tmp_path):
    server = serve("--ip-leak-grace-period", "1", "--kubernetes-service-interval", "0.5")
    with api_client(server) as api:
        networking = k8s_client.NetworkingV1Api(api)
        leaked = k8s_client.V1IPAddress(
            metadata=k8s_client.V1ObjectMeta(name="10.96.5.5", labels={
                "ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io",
                "ipaddress.kubernetes.io/ip-family": "IPv4"}),
            spec=k8s_client.V1IPAddressSpec(parent_ref=k8s_client.V1ParentReference(
                resource="services", namespace="default", name="ghost")))
        networking.create_ip_address(leaked)
        wait_for(lambda: all(i.metadata.name != "10.96.5.5" for i in networking.list_ip_address().items),
                 what="the leaked IPAddress to be deleted")
        events = k8s_client.CoreV1Api(api).list_namespaced_event("default").items
    leak = [e for e in events if e.reason == "IPAddressNotAllocated"]
    assert leak and leak[0].message == ("IPAddress: 10.96.5.5 for Service default/ghost appears to "
                                        "have leaked: cleaning up")
    assert leak[0].involved_object.kind == "IPAddress" and leak[0].type == "Warning"


def test_an_unmanaged_young_ipaddress_stays(serve, tmp_path):
    server = serve("--ip-leak-grace-period", "3600", "--kubernetes-service-interval", "0.2",
                   "--repair-interval", "0.5")
    with api_client(server) as api:
        networking = k8s_client.NetworkingV1Api(api)
        networking.create_ip_address(k8s_client.V1IPAddress(
            metadata=k8s_client.V1ObjectMeta(name="10.96.7.7"),
            spec=k8s_client.V1IPAddressSpec(parent_ref=k8s_client.V1ParentReference(
                resource="gateways", group="gateway.networking.k8s.io", name="gw"))))
        time.sleep(1.5)  # several repair passes
        assert networking.read_ip_address("10.96.7.7").spec.parent_ref.name == "gw"


def test_default_kubernetes_service_is_recreated(serve, tmp_path):
    server = serve("--kubernetes-service-interval", "0.5")
    kubectl(server, tmp_path, "delete", "service", "kubernetes")
    lines = wait_for(lambda: kubectl(server, tmp_path, "get", "service", "kubernetes", check=False).stdout,
                     what="default/kubernetes")
    assert "10.96.0.1" in lines and "443/TCP" in lines


@pytest.mark.parametrize("flag", ["--repair-interval", "--kubernetes-service-interval", "--event-ttl"])
@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_intervals_must_be_positive(flag, value):
    result = subprocess.run([sys.executable, "-m", "fastcidr", "serve", "--store", "memory:", flag, value],
                            capture_output=True, text=True, timeout=60, env=serve_env())
    assert result.returncode == 2
    assert f"{flag} must be a positive number of seconds" in result.stderr


def test_shutdown_stops_the_controllers_promptly(serve):
    server = serve("--repair-interval", "0.2", "--kubernetes-service-interval", "0.1")
    time.sleep(0.5)
    started = time.monotonic()
    stderr = server.stop()
    assert server.proc.returncode == 0, stderr
    assert time.monotonic() - started < 10
    assert "controller failed" not in stderr


def test_controllers_in_process_stop_with_the_server(fc):
    cluster = fc.Cluster("10.96.0.0/24")
    server = fc.serve(cluster, repair_interval=0.1, kubernetes_service_interval=0.1)
    try:
        assert server.controllers is not None and server.controllers.running
        wait_for(lambda: server.controllers.runs["repair"] >= 2, what="two repair passes")
    finally:
        server.close()
    assert not server.controllers.running
    cluster.close()


def test_closing_the_cluster_first_ends_the_controllers_quietly(fc, capfd):
    cluster = fc.Cluster("10.96.0.0/24")
    server = fc.serve(cluster, repair_interval=0.1, kubernetes_service_interval=0.1)
    try:
        cluster.close()
        wait_for(lambda: not server.controllers.running, what="the controllers to end")
    finally:
        server.close()
    assert "controller failed" not in capfd.readouterr().err


def test_a_held_address_is_freed_by_the_repair_once_its_service_is_gone(fc):
    from fastcidr.errors import AlreadyAllocatedError

    with fc.Cluster("10.96.0.0/24") as cluster:
        ip = cluster.create_service("web").cluster_ip
        cluster.delete_ip_address(ip)
        with pytest.raises(AlreadyAllocatedError):
            cluster.create_service("thief", cluster_ip=ip)
        cluster.delete_service("web")  # before any repair: the address is still held
        with pytest.raises(AlreadyAllocatedError):
            cluster.create_service("thief", cluster_ip=ip)
        cluster.repair()
        assert cluster.create_service("after", cluster_ip=ip).cluster_ip == ip
        # the IPAddress of a Service that does not list it any more is simply freed
        orphan = "10.96.0.200" if ip != "10.96.0.200" else "10.96.0.201"  # web's address is random
        cluster.create({"apiVersion": "networking.k8s.io/v1", "kind": "IPAddress",
                        "metadata": {"name": orphan},
                        "spec": {"parentRef": {"resource": "services", "namespace": "default",
                                               "name": "after"}}})
        cluster.delete_ip_address(orphan)
        assert cluster.create_service("free", cluster_ip=orphan).cluster_ip == orphan
