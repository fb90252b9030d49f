"""fastcidr.k8s.convert: fastcidr objects to and from the official ``kubernetes`` client's models
and lightkube's resources, round trips both ways, against a real ``fastcidr serve`` too, on both
backends."""
from __future__ import annotations

import datetime as dt
import sys
import types
from typing import Any, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.core_v1 import ServicePort as LkServicePort, ServiceSpec as LkServiceSpec
from lightkube.models.networking_v1 import IPAddressSpec, ServiceCIDRList
from lightkube.models.networking_v1 import ParentReference as LkParentReference
from lightkube.resources import core_v1 as lk_core
from lightkube.resources import networking_v1 as lk_net

from fastcidr.k8s import convert
from fastcidr.k8s.convert import from_kubernetes, from_lightkube, to_kubernetes, to_lightkube
from fastcidr.k8s.objects import (
    FINALIZER,
    LABEL_MANAGED_BY,
    MANAGED_BY_ALLOCATOR,
    Condition,
    IPAddress,
    ParentReference,
    Service,
    ServiceCIDR,
    ServicePort,
)

pytestmark = pytest.mark.usefixtures("backend")

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


def _objects() -> List[Any]:
    return [
        Service("web", "prod", cluster_ip="10.96.0.10", cluster_ips=["10.96.0.10", "fd00::a"],
                ip_families=["IPv4", "IPv6"], ip_family_policy="PreferDualStack",
                ports=[ServicePort(80, name="http", target_port="web"), ServicePort(53, protocol="UDP",
                                                                                    node_port=30053)],
                uid="u1", creation_timestamp=NOW, resource_version="7", selector={"app": "web"},
                labels={"a": "b"}, annotations={"x": "y"},
                extra={"sessionAffinity": "ClientIP", "externalTrafficPolicy": "Local"},
                type="NodePort", status={"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}),
        Service("headless", cluster_ip="None", cluster_ips=["None"]),
        Service("ext", type="ExternalName", external_name="example.com"),
        ServiceCIDR("kubernetes", ["10.96.0.0/16", "fd00::/108"], uid="u2", finalizers=[FINALIZER],
                    conditions=[Condition(last_transition_time=NOW, reason="Terminating", message="m",
                                          status="False", observed_generation=2)],
                    creation_timestamp=NOW, deletion_timestamp=NOW, labels={"l": "v"}),
        ServiceCIDR("empty"),
        IPAddress("10.96.0.10", ParentReference(resource="services", namespace="prod", name="web"),
                  labels={LABEL_MANAGED_BY: MANAGED_BY_ALLOCATOR}, creation_timestamp=NOW, uid="u3",
                  resource_version="9", annotations={"n": "1"}),
        IPAddress("fd00::a", ParentReference(group="gateway.networking.k8s.io", resource="gateways",
                                             namespace="ns", name="gw")),
    ]


@pytest.mark.parametrize("index", range(len(_objects())))
def test_round_trip_through_the_kubernetes_client(index: int) -> None:
    obj = _objects()[index]
    model = to_kubernetes(obj)
    assert type(model).__name__ == "V1" + type(obj).__name__
    assert model.metadata.name == obj.name
    assert from_kubernetes(model) == obj
    # the model's own serialization carries the object's spec as is (timestamps are written
    # with +00:00 rather than Z there, hence the spec only)
    assert k8s_client.ApiClient().sanitize_for_serialization(model)["spec"] == obj.to_dict()["spec"]


@pytest.mark.parametrize("index", range(len(_objects())))
def test_round_trip_through_lightkube(index: int) -> None:
    obj = _objects()[index]
    resource = to_lightkube(obj)
    assert type(resource).__name__ == type(obj).__name__
    assert resource.metadata.name == obj.name
    assert from_lightkube(resource) == obj
    assert resource.to_dict() == obj.to_dict()


def test_fields_land_where_each_library_models_them() -> None:
    svc, _, _, cidr, _, ip, _ = _objects()
    model = to_kubernetes(svc)
    assert model.spec.cluster_ips == ["10.96.0.10", "fd00::a"]
    assert model.spec.ports[0].target_port == "web" and model.spec.ports[1].node_port == 30053
    assert model.metadata.creation_timestamp == NOW and model.spec.session_affinity == "ClientIP"
    assert to_kubernetes(cidr).status.conditions[0].observed_generation == 2
    assert to_kubernetes(ip).spec.parent_ref.namespace == "prod"
    resource = to_lightkube(svc)
    assert resource.spec.clusterIPs == ["10.96.0.10", "fd00::a"] and resource.spec.ports[1].nodePort == 30053
    assert resource.metadata.creationTimestamp == NOW
    assert to_lightkube(cidr).spec.cidrs == ["10.96.0.0/16", "fd00::/108"]
    assert to_lightkube(ip).spec.parentRef.name == "web"


def test_models_built_by_hand_convert() -> None:
    model = k8s_client.V1Service(
        metadata=k8s_client.V1ObjectMeta(name="api", namespace="team"),
        spec=k8s_client.V1ServiceSpec(ports=[k8s_client.V1ServicePort(port=443, target_port=8443)],
                                      selector={"app": "api"}))
    svc = from_kubernetes(model)
    assert isinstance(svc, Service)
    assert (svc.key, svc.ports, svc.selector) == ("team/api", [ServicePort(443, target_port=8443)], {"app": "api"})
    cidr = from_kubernetes(k8s_client.V1ServiceCIDR(metadata=k8s_client.V1ObjectMeta(name="x"),
                                                    spec=k8s_client.V1ServiceCIDRSpec(cidrs=["10.0.0.0/24"])))
    assert cidr == ServiceCIDR("x", ["10.0.0.0/24"])
    resource = lk_core.Service(metadata=ObjectMeta(name="api", namespace="team"),
                               spec=LkServiceSpec(ports=[LkServicePort(port=443, targetPort=8443)],
                                                  selector={"app": "api"}))
    assert from_lightkube(resource) == svc
    address = lk_net.IPAddress(metadata=ObjectMeta(name="10.0.0.1"), spec=IPAddressSpec(
        parentRef=LkParentReference(resource="services", name="api", namespace="team")))
    assert from_lightkube(address) == IPAddress("10.0.0.1", ParentReference(resource="services", name="api",
                                                                            namespace="team"))
    # both libraries' models require what Kubernetes requires (an IPAddress's parentRef)
    for to_model in (to_lightkube, to_kubernetes):
        with pytest.raises(ValueError, match="parentRef"):
            to_model(IPAddress("10.0.0.2"))


def test_list_models_give_lists() -> None:
    objs = _objects()
    services = k8s_client.V1ServiceList(items=[to_kubernetes(o) for o in objs[:3]])
    assert from_kubernetes(services) == objs[:3]
    addresses = k8s_client.V1IPAddressList(items=[to_kubernetes(o) for o in objs[5:]])
    assert from_kubernetes(addresses) == objs[5:]
    lk_list = ServiceCIDRList(items=[to_lightkube(o) for o in objs[3:5]])
    assert from_lightkube(lk_list) == objs[3:5]


def test_wrong_inputs_raise_type_error() -> None:
    for bad in ({"kind": "Service"}, "web", ParentReference()):
        with pytest.raises(TypeError):
            to_kubernetes(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            to_lightkube(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="kind 'Namespace'"):
        from_kubernetes(k8s_client.V1Namespace(metadata=k8s_client.V1ObjectMeta(name="n")))
    with pytest.raises(TypeError, match="lightkube resource"):
        from_lightkube(object())


def test_model_names_of_every_version_map_to_kinds() -> None:
    assert [convert._model_kind(n) for n in ("V1Service", "V1beta1ServiceCIDR", "V1alpha1IPAddress",
                                              "V2beta10IPAddress")] == ["Service", "ServiceCIDR",
                                                                        "IPAddress", "IPAddress"]


def test_a_client_without_v1_networking_models_gets_the_beta_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    # an older client, as a namespace: kubernetes.client itself resolves model names lazily
    older = types.SimpleNamespace(V1beta1ServiceCIDR=object)
    monkeypatch.setattr(convert, "_require", lambda *args: older)
    assert convert._kubernetes_model("networking.k8s.io/v1", "ServiceCIDR") == (
        "V1beta1ServiceCIDR", "networking.k8s.io/v1beta1")
    del older.V1beta1ServiceCIDR
    with pytest.raises(ImportError, match="no ServiceCIDR model: pip install -U kubernetes"):
        convert._kubernetes_model("networking.k8s.io/v1", "ServiceCIDR")


@pytest.mark.parametrize("module,call", [("kubernetes.client", to_kubernetes), ("kubernetes.client", from_kubernetes),
                                         ("lightkube.resources.core_v1", to_lightkube)])
def test_a_missing_client_library_names_what_to_install(monkeypatch: pytest.MonkeyPatch, module: str,
                                                        call: Any) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    monkeypatch.setattr(convert, "_client_cache", [])
    package = module.split(".")[0]
    with pytest.raises(ImportError, match=rf"needs the '{package}' package: pip install {package}$"):
        call(Service("web"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.from_regex(r"[a-z]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True),
       labels=st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), st.text(max_size=10), max_size=3),
       ports=st.lists(st.integers(1, 65535), max_size=3, unique=True),
       ips=st.lists(st.sampled_from(["10.96.0.1", "10.96.0.2", "fd00::1"]), max_size=2, unique=True))
def test_random_services_round_trip_both_ways(name: str, labels: dict, ports: List[int], ips: List[str]) -> None:
    svc = Service(name, labels=labels, ports=[ServicePort(p, name=f"p{p}") for p in ports],
                  cluster_ip=ips[0] if ips else None, cluster_ips=ips)
    assert from_kubernetes(to_kubernetes(svc)) == svc
    assert from_lightkube(to_lightkube(svc)) == svc


def test_objects_read_from_fastcidr_serve_convert_to_the_clusters_own(fc: Any, tmp_path: Any) -> None:
    cluster = fc.Cluster("10.96.0.0/24")
    server = fc.serve(cluster)
    api_client = k8s_config.new_client_from_config(config_file=server.kubeconfig(str(tmp_path / "kc")))
    try:
        core, net = k8s_client.CoreV1Api(api_client), k8s_client.NetworkingV1Api(api_client)
        created = core.create_namespaced_service("default", to_kubernetes(
            Service("web", ports=[ServicePort(80)], selector={"app": "web"}, labels={"team": "a"})))
        assert from_kubernetes(created) == cluster.get_service("web")
        assert created.spec is not None and created.spec.cluster_ip
        ip = created.spec.cluster_ip
        assert from_kubernetes(net.read_ip_address(ip)) == cluster.get_ip_address(ip)
        assert from_kubernetes(net.list_service_cidr()) == cluster.list_service_cidrs()
        net.create_service_cidr(to_kubernetes(ServiceCIDR("extra", ["10.97.0.0/24"])))
        assert from_kubernetes(net.read_service_cidr("extra")) == cluster.get_service_cidr("extra")
    finally:
        api_client.close()
        server.close()
        cluster.close()
