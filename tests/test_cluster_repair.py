"""repair() against Kubernetes' repair controller tables (S-110..S-134), with exact event texts.

Fixture as upstream: ServiceCIDR kubernetes=[10.0.0.0/16, 2001:db8::/64], Services in namespace
``bar``, pre-existing IPAddress objects created in 2012. Inconsistent states are written straight
into the store, as a crash, an old apiserver or an import would leave them.
"""
from __future__ import annotations

import datetime as dt

import pytest

from fastcidr.k8s.cluster import Cluster
from fastcidr.k8s.objects import IPAddress, ParentReference, Service
from fastcidr.store.base import Put

UTC = dt.timezone.utc
OLD = "2012-01-01T00:00:00Z"


class FakeClock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def cluster(backend):
    clock = FakeClock()
    c = Cluster(clock=clock)
    c.create_service_cidr("kubernetes", ["10.0.0.0/16", "2001:db8::/64"])
    c.clock = clock
    yield c
    c.close()


def put_service(c: Cluster, name: str, ips, ns: str = "bar", **kw) -> None:
    fams = ["IPv6" if ":" in ip else "IPv4" for ip in ips if ip != "None"]
    svc = Service(name, ns, cluster_ip=ips[0] if ips else None, cluster_ips=list(ips), ip_families=fams,
                  ip_family_policy="RequireDualStack" if len(ips) > 1 else "SingleStack", uid="u-" + name, **kw)
    c.store.commit([Put("services", f"{ns}/{name}", svc.to_dict())])


def put_ip(c: Cluster, ip: str, ns: str = "bar", name: str = "test-svc", *, created: str = OLD,
           group: str = "", resource: str = "services", labels=None) -> None:
    if labels is None:
        labels = {"ipaddress.kubernetes.io/ip-family": "IPv6" if ":" in ip else "IPv4",
                  "ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io"}
    d = IPAddress(ip, ParentReference(group, resource, ns, name), labels, uid="ip-" + ip).to_dict()
    d["metadata"]["creationTimestamp"] = created
    c.store.commit([Put("ipaddresses", ip, d)])


def texts(events):
    return [str(e) for e in events]


def ip_names(c: Cluster):
    return [i.name for i in c.list_ip_addresses()]


def test_s110_s111_s112_consistent(cluster):
    put_service(cluster, "test-svc", ["10.0.1.1"])
    put_ip(cluster, "10.0.1.1")
    put_service(cluster, "dual", ["10.0.1.2", "2001:db8::10"])
    put_ip(cluster, "10.0.1.2", name="dual")
    put_ip(cluster, "2001:db8::10", name="dual")
    cluster.create_service_cidr("custom", ["192.168.0.0/24", "2001:db8:a:b::/64"])
    put_service(cluster, "custom", ["192.168.0.1", "2001:db8:a:b::10"])
    put_ip(cluster, "192.168.0.1", name="custom")
    put_ip(cluster, "2001:db8:a:b::10", name="custom")
    rev = cluster.store.current_revision()
    assert cluster.repair() == []
    assert cluster.store.current_revision() == rev


def test_s113_s114_missing_ipaddresses(cluster):
    put_service(cluster, "test-svc", ["10.0.1.1", "2001:db8::10"])
    events = cluster.repair()
    assert texts(events) == [
        "Warning ClusterIPNotAllocated Cluster IP [IPv4]: 10.0.1.1 is not allocated; repairing",
        "Warning ClusterIPNotAllocated Cluster IP [IPv6]: 2001:db8::10 is not allocated; repairing",
    ]
    assert events[0].regarding == "services/bar/test-svc"
    for ip in ("10.0.1.1", "2001:db8::10"):
        obj = cluster.get_ip_address(ip)
        assert str(obj.parent_ref) == "services/bar/test-svc" and obj.managed
    assert cluster.repair() == []
    # the repaired address is taken in the index
    from fastcidr.errors import AlreadyAllocatedError

    with pytest.raises(AlreadyAllocatedError):
        cluster.create_service("other", namespace="bar", cluster_ip="10.0.1.1")


def test_s115_missing_in_a_secondary_cidr(cluster):
    cluster.create_service_cidr("custom", ["192.168.1.0/24"])
    put_service(cluster, "test-svc", ["192.168.1.1"])
    assert texts(cluster.repair()) == [
        "Warning ClusterIPNotAllocated Cluster IP [IPv4]: 192.168.1.1 is not allocated; repairing"]
    assert ip_names(cluster) == ["192.168.1.1"]


def test_s116_s117_wrong_reference(cluster):
    put_service(cluster, "test-svc", ["10.0.1.1", "2001:db8::10"])
    put_ip(cluster, "10.0.1.1", name="test-svc2")
    put_ip(cluster, "2001:db8::10", name="test-svc2")
    assert texts(cluster.repair()) == [
        "Warning ClusterIPNotAllocated the ClusterIP [IPv4]: 10.0.1.1 for Service bar/test-svc has a wrong "
        "reference; repairing",
        "Warning ClusterIPNotAllocated the ClusterIP [IPv6]: 2001:db8::10 for Service bar/test-svc has a wrong "
        "reference; repairing",
    ]
    assert cluster.get_ip_address("10.0.1.1").parent_ref.name == "test-svc"
    assert cluster.get_ip_address("2001:db8::10").parent_ref.name == "test-svc"


def test_s118_out_of_range_keeps_everything(cluster):
    put_service(cluster, "test-svc", ["192.168.1.1", "2001:db8::10"])
    put_ip(cluster, "192.168.1.1")
    put_ip(cluster, "2001:db8::10")
    rev = cluster.store.current_revision()
    assert texts(cluster.repair()) == [
        "Warning ClusterIPOutOfRange Cluster IP [IPv4]: 192.168.1.1 is not within any configured Service CIDR; "
        "please recreate service"]
    assert cluster.store.current_revision() == rev


def test_s119_leaked_address(cluster):
    put_ip(cluster, "10.0.1.1")
    events = cluster.repair()
    assert texts(events) == [
        "Warning IPAddressNotAllocated IPAddress: 10.0.1.1 for Service bar/test-svc appears to have leaked: "
        "cleaning up"]
    assert events[0].regarding == "ipaddresses/10.0.1.1" and ip_names(cluster) == []


@pytest.mark.parametrize(
    "ip, event",
    [
        ("10.0.0.0", "Warning ClusterIPOutOfRange Cluster IP [IPv4]: 10.0.0.0 is not within any configured Service "
                     "CIDR; please recreate service"),  # S-120
        ("10.0.255.255", "Warning ClusterIPOutOfRange Cluster IP [IPv4]: 10.0.255.255 is not within any "
                         "configured Service CIDR; please recreate service"),  # S-121
        ("2001:db8::", "Warning ClusterIPOutOfRange Cluster IP [IPv6]: 2001:db8:: is not within any configured "
                       "Service CIDR; please recreate service"),  # S-122
        ("2001:db8::ffff:ffff:ffff:ffff", None),  # S-123: the IPv6 all-ones address is in range
    ],
)
def test_s120_s123_edges_of_the_range(cluster, ip, event):
    put_service(cluster, "test-svc", [ip])
    put_ip(cluster, ip)
    assert texts(cluster.repair()) == ([event] if event else [])
    assert ip_names(cluster) == [ip]


def test_s124_leak_at_the_broadcast_address(cluster):
    put_ip(cluster, "10.0.255.255")
    assert texts(cluster.repair()) == [
        "Warning IPAddressNotAllocated IPAddress: 10.0.255.255 for Service bar/test-svc appears to have leaked: "
        "cleaning up"]
    assert ip_names(cluster) == []


def test_s125_two_addresses_for_one_service(cluster):
    put_service(cluster, "test-svc", ["10.0.1.1"])
    put_ip(cluster, "10.0.1.1")
    put_ip(cluster, "10.0.1.2")
    assert texts(cluster.repair()) == [
        "Warning IPAddressWrongReference IPAddress: 10.0.1.2 for Service bar/test-svc has a wrong reference; "
        "cleaning up"]
    assert ip_names(cluster) == ["10.0.1.1"]
    # the released address can be allocated again
    assert cluster.create_service("again", namespace="bar", cluster_ip="10.0.1.2").cluster_ip == "10.0.1.2"


def test_s126_two_services_one_address(cluster):
    put_service(cluster, "test-svc", ["10.0.1.1"])
    put_service(cluster, "test-svc2", ["10.0.1.1"])
    put_ip(cluster, "10.0.1.1", name="test-svc2")
    rev = cluster.store.current_revision()
    assert texts(cluster.repair()) == [
        "Warning ClusterIPAlreadyAllocated Cluster IP [IPv4]:10.0.1.1 was assigned to multiple services; please "
        "recreate service"]
    assert cluster.store.current_revision() == rev


def test_s127_s128_s129_address_side_no_action(cluster):
    put_service(cluster, "foo", ["10.0.1.1", "2001:db8::11"])
    put_ip(cluster, "10.0.1.1", name="foo")
    put_ip(cluster, "2001:db8::11", name="foo")
    put_ip(cluster, "10.0.9.9", name="gw", group="gateway.networking.k8s.io", resource="gateways",
           labels={"ipaddress.kubernetes.io/managed-by": "controller-foo"})  # S-128: not ours
    put_service(cluster, "far", ["fd00:db8::11"])
    put_ip(cluster, "fd00:db8::11", name="far")  # S-129: outside every ServiceCIDR
    events = cluster.repair()
    assert texts(events) == [
        "Warning ClusterIPOutOfRange Cluster IP [IPv6]: fd00:db8::11 is not within any configured Service CIDR; "
        "please recreate service"]
    assert ip_names(cluster) == ["10.0.1.1", "10.0.9.9", "2001:db8::11", "fd00:db8::11"]


def test_s130_s131_address_side_deletes(cluster):
    put_service(cluster, "foo", ["10.0.1.1"])
    put_ip(cluster, "10.0.1.1", name="foo")
    put_ip(cluster, "10.0.2.2", name="noexist")  # S-130
    put_ip(cluster, "10.0.3.3", name="gw", group="gateway.networking.k8s.io", resource="gateways")  # S-131
    assert texts(cluster.repair()) == [
        "Warning IPAddressNotAllocated IPAddress: 10.0.2.2 for Service bar/noexist appears to have leaked: "
        "cleaning up",
        "Warning IPAddressNotAllocated IPAddress 10.0.3.3 appears to have been modified, not referencing a Service "
        "&{gateway.networking.k8s.io gateways bar gw}: cleaning up",
    ]
    assert ip_names(cluster) == ["10.0.1.1"]


def test_s132_leak_grace_period(cluster):
    clock = cluster.clock
    young = (clock.now - dt.timedelta(seconds=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    put_ip(cluster, "10.0.1.1", created=young)
    assert cluster.repair() == [] and ip_names(cluster) == ["10.0.1.1"]
    clock.advance(50)  # exactly 60 s old: not yet
    assert cluster.reconcile() == [] and ip_names(cluster) == ["10.0.1.1"]
    clock.advance(1)
    assert texts(cluster.reconcile()) == [
        "Warning IPAddressNotAllocated IPAddress: 10.0.1.1 for Service bar/test-svc appears to have leaked: "
        "cleaning up"]
    assert ip_names(cluster) == []


def test_leak_grace_period_is_configurable(backend):
    clock = FakeClock()
    c = Cluster("10.0.0.0/16", clock=clock, leak_grace_period=5)
    put_ip(c, "10.0.1.1", created=clock.now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert c.repair() == []
    clock.advance(6)
    assert len(c.repair()) == 1 and [i.name for i in c.list_ip_addresses()] == ["10.0.0.1"]


def test_s133_labels_are_fixed_silently(cluster):
    put_service(cluster, "test-svc", ["10.0.1.1"])
    put_ip(cluster, "10.0.1.1", labels={"ipaddress.kubernetes.io/ip-family": "IPv6",
                                        "ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io"})
    assert cluster.repair() == []
    assert cluster.get_ip_address("10.0.1.1").labels["ipaddress.kubernetes.io/ip-family"] == "IPv4"


def test_s134_headless_and_empty_are_ignored(cluster):
    put_service(cluster, "headless", ["None"])
    put_service(cluster, "empty", [])
    assert cluster.repair() == []


def test_invalid_cluster_ip(cluster):
    put_service(cluster, "bad", ["10.0.1.300"])
    assert texts(cluster.repair()) == [
        "Warning ClusterIPNotValid Cluster IP 10.0.1.300 is not a valid IP; please recreate Service"]


def test_repair_runs_at_start_on_a_store(backend):
    from fastcidr.store.memory import MemoryStore

    store = MemoryStore()
    Cluster("10.0.0.0/16", store=store).close()
    svc = Service("lost", "bar", cluster_ip="10.0.5.5", cluster_ips=["10.0.5.5"], ip_families=["IPv4"],
                  ip_family_policy="SingleStack")
    store.commit([Put("services", "bar/lost", svc.to_dict())])
    c = Cluster(store=store)
    assert [str(e) for e in c.events()] == [
        "Warning ClusterIPNotAllocated Cluster IP [IPv4]: 10.0.5.5 is not allocated; repairing"]
    from fastcidr.errors import AlreadyAllocatedError

    with pytest.raises(AlreadyAllocatedError):
        c.create_service("x", cluster_ip="10.0.5.5")
