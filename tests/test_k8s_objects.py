"""The Kubernetes objects: wire form (to_dict), reading kubectl output (from_dict), round trips.

These objects are plain dataclasses that never touch the core, so the tests do not need the
``backend`` fixture.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest

from fastcidr.k8s.objects import (
    Condition,
    Event,
    IPAddress,
    ParentReference,
    Service,
    ServiceCIDR,
    ServicePort,
    format_time,
    parse_time,
)

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_lazy_exports():
    import fastcidr
    import fastcidr.k8s as k8s

    for name in ("ServiceCIDR", "Condition", "IPAddress", "ParentReference", "Service", "ServicePort", "Event"):
        assert getattr(fastcidr, name) is getattr(k8s, name)
    with pytest.raises(AttributeError):
        k8s.Nope  # noqa: B018


def test_timestamps_are_rfc3339_utc_seconds():
    assert format_time(dt.datetime(2026, 1, 2, 3, 4, 5, 987654, tzinfo=UTC)) == "2026-01-02T03:04:05Z"
    other = dt.timezone(dt.timedelta(hours=2))
    assert format_time(dt.datetime(2026, 1, 2, 5, 4, 5, tzinfo=other)) == "2026-01-02T03:04:05Z"
    assert parse_time("2012-01-01T00:00:00Z") == dt.datetime(2012, 1, 1, tzinfo=UTC)
    assert parse_time("2012-01-01T02:00:00.5+02:00") == dt.datetime(2012, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)
    assert parse_time(None) is None and parse_time("") is None
    with pytest.raises(ValueError):
        parse_time("yesterday")


def test_service_cidr_wire_form():
    cidr = ServiceCIDR(
        "newcidr1",
        ["10.96.0.0/24", "fd00::/64"],
        uid="u-1",
        resource_version="12",
        creation_timestamp=T0,
        deletion_timestamp=T0,
        finalizers=["networking.k8s.io/service-cidr-finalizer"],
        conditions=[Condition("Ready", "False", "Terminating", "blocked", T0)],
        labels={"a": "b"},
        annotations={"kubectl.kubernetes.io/last-applied-configuration": "{}\n"},
    )
    d = cidr.to_dict()
    assert d["apiVersion"] == "networking.k8s.io/v1" and d["kind"] == "ServiceCIDR"
    assert d["metadata"] == {
        "name": "newcidr1",
        "uid": "u-1",
        "resourceVersion": "12",
        "creationTimestamp": "2026-01-02T03:04:05Z",
        "deletionTimestamp": "2026-01-02T03:04:05Z",
        "deletionGracePeriodSeconds": 0,
        "labels": {"a": "b"},
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"},
        "finalizers": ["networking.k8s.io/service-cidr-finalizer"],
    }
    assert d["spec"] == {"cidrs": ["10.96.0.0/24", "fd00::/64"]}
    assert d["status"]["conditions"] == [
        {
            "type": "Ready",
            "status": "False",
            "lastTransitionTime": "2026-01-02T03:04:05Z",
            "reason": "Terminating",
            "message": "blocked",
        }
    ]
    json.dumps(d)  # JSON-serialisable
    assert ServiceCIDR.from_dict(d) == cidr
    assert cidr.terminating and not cidr.ready


def test_condition_always_has_reason_and_message():
    d = Condition("Ready", "True", "", "Kubernetes Service CIDR is ready", T0).to_dict()
    assert set(d) == {"type", "status", "reason", "message", "lastTransitionTime"}
    assert d["reason"] == ""


def test_service_cidr_ready_rules():
    assert ServiceCIDR("a", ["10.0.0.0/24"]).ready  # no condition counts as ready
    assert ServiceCIDR("a", conditions=[Condition("Ready", "True")]).ready
    assert not ServiceCIDR("a", conditions=[Condition("Ready", "Unknown")]).ready
    assert not ServiceCIDR("a", deletion_timestamp=T0).ready
    d = ServiceCIDR("a").to_dict()
    assert d["status"] == {} and "resourceVersion" not in d["metadata"] and "uid" not in d["metadata"]


def test_service_cidr_from_kubectl_v1beta1_and_sparse_input():
    dumped = {
        "apiVersion": "networking.k8s.io/v1beta1",
        "kind": "ServiceCIDR",
        "metadata": {
            "creationTimestamp": "2024-05-01T10:00:00Z",
            "finalizers": ["networking.k8s.io/service-cidr-finalizer"],
            "name": "kubernetes",
            "resourceVersion": 345,
            "uid": "abc",
            "generation": 1,
        },
        "spec": {"cidrs": ["10.96.0.0/28"]},
        "status": {
            "conditions": [
                {
                    "lastTransitionTime": "2024-05-01T10:00:01Z",
                    "message": "Kubernetes Service CIDR is ready",
                    "reason": "",
                    "status": "True",
                    "type": "Ready",
                }
            ]
        },
    }
    obj = ServiceCIDR.from_dict(dumped)
    assert obj.name == "kubernetes" and obj.cidrs == ["10.96.0.0/28"] and obj.resource_version == "345"
    assert obj.ready and obj.conditions[0].message == "Kubernetes Service CIDR is ready"
    assert ServiceCIDR.from_dict({"metadata": {"name": "x"}}) == ServiceCIDR("x")
    assert ServiceCIDR.from_dict({}).name == ""


def test_parent_reference_text_and_omitempty():
    ref = ParentReference("", "services", "default", "kubernetes")
    assert str(ref) == "services/default/kubernetes"
    assert ref.to_dict() == {"resource": "services", "namespace": "default", "name": "kubernetes"}
    gw = ParentReference("gateway.networking.k8s.io", "Gateways", "", "gw")
    assert str(gw) == "gateways.gateway.networking.k8s.io/gw"
    assert gw.to_dict() == {"group": "gateway.networking.k8s.io", "resource": "Gateways", "name": "gw"}


def test_ip_address_round_trip():
    ip = IPAddress(
        "10.96.0.1",
        ParentReference("", "services", "default", "kubernetes"),
        {"ipaddress.kubernetes.io/ip-family": "IPv4", "ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io"},
        uid="u",
        creation_timestamp=T0,
        resource_version="7",
    )
    d = ip.to_dict()
    assert d["kind"] == "IPAddress" and d["apiVersion"] == "networking.k8s.io/v1"
    assert d["spec"] == {"parentRef": {"resource": "services", "namespace": "default", "name": "kubernetes"}}
    assert IPAddress.from_dict(d) == ip and ip.managed
    assert IPAddress.from_dict({"metadata": {"name": "1.2.3.4"}, "spec": {}}).parent_ref is None
    assert IPAddress("1.2.3.4").to_dict()["spec"] == {}


def test_service_like_the_apiserver_returns_it():
    svc = Service(
        "test-1",
        "default",
        cluster_ip="10.96.0.2",
        cluster_ips=["10.96.0.2"],
        ip_families=["IPv4"],
        ip_family_policy="SingleStack",
        ports=[ServicePort(80, name="80")],
        selector={"app": "test-1"},
        labels={"app": "test-1"},
        uid="u",
        creation_timestamp=T0,
    )
    d = svc.to_dict()
    assert d["apiVersion"] == "v1" and d["kind"] == "Service"
    assert d["metadata"]["namespace"] == "default"
    assert d["spec"] == {
        "ports": [{"name": "80", "protocol": "TCP", "port": 80, "targetPort": 80}],
        "selector": {"app": "test-1"},
        "clusterIP": "10.96.0.2",
        "clusterIPs": ["10.96.0.2"],
        "type": "ClusterIP",
        "sessionAffinity": "None",
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "internalTrafficPolicy": "Cluster",
    }
    assert d["status"] == {"loadBalancer": {}}
    assert Service.from_dict(d) == svc


def test_service_keeps_fields_it_does_not_interpret():
    sent = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "prod", "annotations": {"x": "y"}},
        "spec": {
            "type": "NodePort",
            "ports": [{"port": 443, "targetPort": "https", "nodePort": 30443, "appProtocol": "https"}],
            "externalTrafficPolicy": "Local",
            "sessionAffinity": "ClientIP",
            "publishNotReadyAddresses": True,
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}},
    }
    svc = Service.from_dict(sent)
    assert svc.type == "NodePort" and svc.namespace == "prod"
    assert svc.extra == {"externalTrafficPolicy": "Local", "sessionAffinity": "ClientIP", "publishNotReadyAddresses": True}
    back = svc.to_dict()
    for key, value in sent["spec"].items():
        if key != "ports":
            assert back["spec"][key] == value
    assert back["spec"]["ports"] == [
        {"appProtocol": "https", "protocol": "TCP", "port": 443, "targetPort": "https", "nodePort": 30443}
    ]
    assert back["status"] == sent["status"] and back["metadata"]["annotations"] == {"x": "y"}
    assert Service.from_dict(back) == svc


def test_external_name_and_headless_forms():
    ext = Service("db", type="ExternalName", external_name="db.example.com").to_dict()
    assert ext["spec"]["externalName"] == "db.example.com" and "internalTrafficPolicy" not in ext["spec"]
    assert "clusterIP" not in ext["spec"]
    headless = Service("h", cluster_ip="None", cluster_ips=["None"])
    assert headless.headless and headless.to_dict()["spec"]["clusterIP"] == "None"


def test_service_port_coercion():
    assert ServicePort.coerce(80) == ServicePort(80, target_port=80)
    assert ServicePort.coerce({"port": 53, "protocol": "UDP", "targetPort": "5353"}).target_port == 5353
    with pytest.raises(TypeError):
        ServicePort.coerce(object())


def test_event_text():
    e = Event("Warning", "ClusterIPNotAllocated", "Cluster IP [IPv4]: 10.0.1.1 is not allocated; repairing",
              "services/bar/test-svc", T0)
    assert str(e) == "Warning ClusterIPNotAllocated Cluster IP [IPv4]: 10.0.1.1 is not allocated; repairing"
    assert Event.from_dict(e.to_dict()) == e
