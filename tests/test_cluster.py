"""Cluster: the ServiceCIDR lifecycle, Services and their IPAddresses, on both backends.

Scenario numbers (S-0xx) refer to docs/scenarios.md.
"""
from __future__ import annotations

import datetime as dt
import ipaddress

import pytest

from fastcidr.errors import (
    AlreadyAllocatedError,
    AlreadyExistsError,
    ConflictError,
    MismatchedNetworkError,
    NotFoundError,
    RangeFullError,
    StoreError,
    ValidationError,
)
from fastcidr.k8s.cluster import Cluster
from fastcidr.k8s.objects import IPAddress, ParentReference, Service, ServiceCIDR, ServicePort
from fastcidr.store.memory import MemoryStore

UTC = dt.timezone.utc
TERMINATING = ("There are still IPAddresses referencing the ServiceCIDR, please remove them or "
               "create a new ServiceCIDR")
FINALIZER = "networking.k8s.io/service-cidr-finalizer"
MANAGED = {"ipaddress.kubernetes.io/ip-family": "IPv4", "ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io"}


class FakeClock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def in_net(ip: str, cidr: str) -> bool:
    return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr)


def ready_condition(sc: ServiceCIDR):
    return [c for c in sc.conditions if c.type == "Ready"]


# ---- the walkthrough of issue 4 --------------------------------------------------------------

def test_walkthrough(backend):
    with Cluster("10.96.0.0/28", seed=3) as c:
        (default,) = c.list_service_cidrs()
        assert default.name == "kubernetes" and default.cidrs == ["10.96.0.0/28"]
        assert default.finalizers == [FINALIZER] and default.ready
        (cond,) = ready_condition(default)
        assert (cond.status, cond.reason, cond.message) == ("True", "", "Kubernetes Service CIDR is ready")
        assert c.get_service("kubernetes").cluster_ip == "10.96.0.1"
        (ip,) = c.list_ip_addresses()
        assert ip.name == "10.96.0.1" and str(ip.parent_ref) == "services/default/kubernetes"

        ips = [c.create_service(f"test-{i}", ports=[80]).cluster_ip for i in range(1, 14)]
        assert sorted(ips, key=ipaddress.ip_address) == [f"10.96.0.{i}" for i in range(2, 15)]
        with pytest.raises(RangeFullError) as full:
            c.create_service("test-14")
        assert str(full.value) == "failed to allocate a serviceIP: range is full"
        assert (full.value.reason, full.value.code) == ("InternalError", 500)
        with pytest.raises(NotFoundError):
            c.get_service("test-14")

        new = c.apply({"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR",
                       "metadata": {"name": "newcidr1"}, "spec": {"cidrs": ["10.96.0.0/24"]}})
        assert new.ready and new.finalizers == [FINALIZER]
        more = [c.create_service(f"test-{i}").cluster_ip for i in range(14, 20)]
        assert all(in_net(ip, "10.96.0.0/24") and not in_net(ip, "10.96.0.0/28") for ip in more)

        terminating = c.delete_service_cidr("newcidr1")
        assert terminating is not None and terminating.terminating
        assert terminating.deletion_timestamp is not None and terminating.finalizers == [FINALIZER]
        (cond,) = ready_condition(terminating)
        assert (cond.status, cond.reason, cond.message) == ("False", "Terminating", TERMINATING)
        wire = c.get_service_cidr("newcidr1").to_dict()
        assert wire["status"]["conditions"][0]["reason"] == "Terminating"
        assert sorted(i.name for i in c.blocking_ip_addresses("newcidr1")) == sorted(more)
        # a terminating ServiceCIDR serves no new address
        with pytest.raises(RangeFullError):
            c.create_service("test-20")
        with pytest.raises(MismatchedNetworkError):
            c.create_service("test-20", cluster_ip="10.96.0.200")
        # deleting again changes nothing
        assert c.delete_service_cidr("newcidr1") == c.get_service_cidr("newcidr1")

        for i in range(14, 19):
            c.delete_service(f"test-{i}")
            assert c.get_service_cidr("newcidr1").terminating
        c.delete_service("test-19")
        with pytest.raises(NotFoundError) as gone:
            c.get_service_cidr("newcidr1")
        assert str(gone.value) == 'servicecidrs.networking.k8s.io "newcidr1" not found'


def test_specific_address_errors(backend):
    c = Cluster("10.96.0.0/24", seed=1)
    c.create_service("a", cluster_ip="10.96.0.5")
    with pytest.raises(AlreadyAllocatedError) as taken:
        c.create_service("x", cluster_ip="10.96.0.5")
    e = taken.value
    assert str(e) == ('spec.clusterIPs: Invalid value: []string{"10.96.0.5"}: failed to allocate IP 10.96.0.5: '
                      "provided IP is already allocated")
    assert (e.reason, e.code) == ("Invalid", 422)
    assert e.errors == [("spec.clusterIPs", 'Invalid value: []string{"10.96.0.5"}: failed to allocate IP 10.96.0.5: '
                                            "provided IP is already allocated")]
    with pytest.raises(MismatchedNetworkError) as outside:
        c.create_service("x", cluster_ip="10.97.0.5")
    assert str(outside.value).endswith("failed to allocate IP 10.97.0.5: the provided network does not match the current range")
    assert outside.value.code == 422
    with pytest.raises(MismatchedNetworkError):
        c.create_service("x", cluster_ip="10.96.0.255")  # broadcast
    with pytest.raises(AlreadyExistsError) as dup:
        c.create_service("a")
    assert str(dup.value) == 'services "a" already exists'
    assert [s.name for s in c.list_services()] == ["a", "kubernetes"]


# ---- finalizer table (S-093) -----------------------------------------------------------------

def _ip(name: str, family: str = "IPv4") -> dict:
    labels = dict(MANAGED, **{"ipaddress.kubernetes.io/ip-family": family})
    return IPAddress(name, ParentReference("", "services", "bar", "svc"), labels).to_dict()


@pytest.mark.parametrize(
    "ips, other, deleted",
    [
        ([], None, True),  # b
        (["192.168.0.24"], None, False),  # c
        (["192.168.1.24"], None, True),  # d: outside
        (["192.168.0.0"], None, True),  # e: network address
        (["192.168.0.255"], None, True),  # f: broadcast
        (["2001:db2::ffff:ffff:ffff:ffff"], None, False),  # g: the IPv6 all-ones address is a host
        (["192.168.0.23"], ["192.168.0.0/24", "2001:db2::/64"], True),  # h: identical
        (["192.168.0.23"], ["192.168.0.0/26", "2001:db2::/64"], True),  # i: /26 holds .23
        (["192.168.0.23"], ["192.168.0.0/28", "2001:db2::/64"], False),  # j: /28 ends at .15
        (["192.168.0.23"], ["192.168.0.0/16", "2001:db2::/64"], True),  # k
    ],
)
def test_s093_finalizer_table(backend, ips, other, deleted):
    c = Cluster()
    c.create_service_cidr("kubernetes", ["192.168.0.0/24", "2001:db2::/64"])
    if other:
        c.create_service_cidr("overlapping", other)
    for ip in ips:
        c.create(_ip(ip, "IPv6" if ":" in ip else "IPv4"))
    result = c.delete_service_cidr("kubernetes")
    if deleted:
        assert result is None
        assert [s.name for s in c.list_service_cidrs()] == (["overlapping"] if other else [])
    else:
        assert result is not None and result.terminating
        (cond,) = ready_condition(result)
        assert (cond.status, cond.reason, cond.message) == ("False", "Terminating", TERMINATING)
        assert [i.name for i in c.blocking_ip_addresses("kubernetes")] == ips


def test_unmanaged_addresses_do_not_block(backend):
    c = Cluster()
    c.create_service_cidr("a", ["10.0.0.0/24"])
    c.create(IPAddress("10.0.0.7", ParentReference("gateway.networking.k8s.io", "gateways", "ns", "gw"),
                       {"ipaddress.kubernetes.io/managed-by": "controller-foo"}))
    assert c.delete_service_cidr("a") is None


def test_covering_cidr_unblocks_at_once(backend):
    c = Cluster("10.0.0.0/24")
    c.create_service("svc", cluster_ip="10.0.0.50")
    c.create_service_cidr("extra", ["10.1.0.0/24"])
    assert c.delete_service_cidr("kubernetes").terminating
    c.create_service_cidr("cover", ["10.0.0.0/16"])
    # the terminating default is gone and, the range being configured, recreated at once
    recreated = c.get_service_cidr("kubernetes")
    assert not recreated.terminating and recreated.ready
    assert c.get_service("svc").cluster_ip == "10.0.0.50"


# ---- deletion flow (S-094) -------------------------------------------------------------------

def test_s094_deletion_flow(backend):
    c = Cluster("192.168.0.0/29", seed=9)
    for i in range(5):
        c.create_service(f"svc-{i}")
    with pytest.raises(RangeFullError):
        c.create_service("svc-x")
    c.create_service_cidr("cidr1", ["192.168.0.0/29"])
    assert c.get_service_cidr("cidr1").ready
    assert c.delete_service_cidr("cidr1") is None  # same range as the default: covered
    c.create_service_cidr("cidr2", ["10.0.0.0/24"])
    ip = c.create_service("svc-cidr2").cluster_ip
    assert in_net(ip, "10.0.0.0/24")
    c.create_service_cidr("cidr3", ["10.0.0.0/16"])
    assert c.delete_service_cidr("cidr2") is None  # covered by cidr3
    blocked = c.delete_service_cidr("cidr3")
    assert blocked is not None and not blocked.ready
    assert [i.name for i in c.blocking_ip_addresses("cidr3")] == [ip]
    c.delete_service("svc-cidr2")
    assert [s.name for s in c.list_service_cidrs()] == ["kubernetes"]


def test_s096_terminating_covers_do_not_count(backend):
    clock = FakeClock()
    c = Cluster(clock=clock, deletion_grace_period=10)
    c.create_service_cidr("a", ["10.0.0.0/24"])
    c.create_service_cidr("b", ["10.0.0.0/16"])
    c.create(_ip("10.0.0.5"))
    assert c.delete_service_cidr("a").terminating  # covered by b: deletable, in its grace period
    assert c.delete_service_cidr("b").terminating  # a is terminating: b holds 10.0.0.5 alone
    clock.advance(11)
    c.reconcile()
    for name in ("a", "b"):
        sc = c.get_service_cidr(name)
        assert sc.terminating
        (cond,) = ready_condition(sc)
        assert (cond.status, cond.reason) == ("False", "Terminating")
    c.delete_ip_address("10.0.0.5")
    assert c.list_service_cidrs() == []


def test_deletion_grace_period_with_fake_clock(backend):
    clock = FakeClock()
    c = Cluster(clock=clock, deletion_grace_period=10)
    c.create_service_cidr("a", ["10.0.0.0/24"])
    sc = c.delete_service_cidr("a")
    assert sc is not None and sc.terminating and not sc.ready
    clock.advance(5)
    assert c.reconcile() == [] and c.get_service_cidr("a").terminating
    clock.advance(5)
    c.reconcile()
    with pytest.raises(NotFoundError):
        c.get_service_cidr("a")


def test_default_service_cidr_recreated_and_default_service(backend):
    c = Cluster("10.96.0.0/28")
    uid = c.get_service_cidr("kubernetes").uid
    assert c.delete_service_cidr("kubernetes").terminating  # 10.96.0.1 is in use
    svc_uid = c.get_service("kubernetes").uid
    c.delete_service("kubernetes")  # recreated at once (as the apiserver does), after its ServiceCIDR
    again = c.get_service_cidr("kubernetes")
    assert again.uid != uid and again.ready and again.cidrs == ["10.96.0.0/28"]
    recreated = c.get_service("kubernetes")
    assert recreated.cluster_ip == "10.96.0.1" and recreated.uid != svc_uid
    c.reconcile()
    assert c.get_service("kubernetes").uid == recreated.uid


def test_range_recorded_in_store_and_default_controller(backend):
    store = MemoryStore()
    Cluster("10.96.0.0/28", store=store).close()
    c = Cluster(store=store)  # the recorded range is used
    assert c.service_cluster_ip_range == ["10.96.0.0/28"]
    assert c.create_service("x").cluster_ip.startswith("10.96.0.")
    c.close()
    c = Cluster("10.97.0.0/28", store=store)  # disagrees: left alone, with a warning
    assert c.get_service_cidr("kubernetes").cidrs == ["10.96.0.0/28"]
    (event,) = [e for e in c.events() if e.reason == "KubernetesDefaultServiceCIDRInconsistent"]
    assert event.type == "Warning"
    c.close()
    c = Cluster("10.96.0.0/28,fd00::/120", store=store)  # single -> dual keeping the primary
    assert c.get_service_cidr("kubernetes").cidrs == ["10.96.0.0/28", "fd00::/120"]
    svc = c.create_service("dual", ip_family_policy="RequireDualStack")
    assert len(svc.cluster_ips) == 2 and in_net(svc.cluster_ips[1], "fd00::/120")


# ---- ServiceCIDR create / update / apply -----------------------------------------------------

def test_service_cidr_validation_through_the_cluster(backend):
    c = Cluster("10.96.0.0/28")
    with pytest.raises(ValidationError) as bad:
        c.create_service_cidr("newcidr1", ["10.96.0.0/33"])
    err = bad.value
    assert (err.kind, err.name, err.code, err.reason) == ("ServiceCIDR", "newcidr1", 422, "Invalid")
    assert err.errors == [("spec.cidrs[0]", 'Invalid value: "10.96.0.0/33": must be a valid CIDR value, '
                                            "(e.g. 10.9.8.0/24 or 2001:db8::/64)")]
    with pytest.raises(ValidationError) as many:
        c.create_service_cidr("Bad_Name", ["10.0.0.1/24", "10.1.0.0/16"])
    assert [p for p, _ in many.value.errors] == ["metadata.name", "spec.cidrs"]
    with pytest.raises(AlreadyExistsError) as dup:
        c.create_service_cidr("kubernetes", ["10.0.0.0/24"])
    assert str(dup.value) == 'servicecidrs.networking.k8s.io "kubernetes" already exists'
    with pytest.raises(ValidationError) as imm:
        c.update_service_cidr("kubernetes", ["10.97.0.0/28"])
    assert imm.value.errors == [("spec.cidrs[0]", 'Invalid value: "10.97.0.0/28": field is immutable')]
    assert c.update_service_cidr("kubernetes", ["10.96.0.0/28", "fd00::/64"]).cidrs == ["10.96.0.0/28", "fd00::/64"]
    with pytest.raises(ValidationError):
        c.update_service_cidr("kubernetes", ["10.96.0.0/28"])
    with pytest.raises(NotFoundError):
        c.update_service_cidr("nope", ["10.0.0.0/24"])
    assert len(c.list_service_cidrs()) == 1


def test_apply_update_and_conflicts(backend):
    c = Cluster()
    manifest = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "ServiceCIDR",
        "metadata": {"name": "newcidr1", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {"cidrs": ["10.96.0.0/24"]},
    }
    first = c.apply(manifest)
    assert first.annotations == {"kubectl.kubernetes.io/last-applied-configuration": "{}"}
    assert c.apply(manifest) == first  # unchanged
    manifest["metadata"]["labels"] = {"team": "net"}
    second = c.apply(manifest)
    assert second.labels == {"team": "net"} and int(second.resource_version) > int(first.resource_version)
    stale = replace_rv(second, first.resource_version)
    stale.labels = {"x": "y"}
    with pytest.raises(ConflictError) as conflict:
        c.update(stale)
    assert conflict.value.code == 409
    fresh = c.get_service_cidr("newcidr1")
    fresh.labels = {"x": "y"}
    assert c.update(fresh).labels == {"x": "y"}
    with pytest.raises(NotFoundError):
        c.update(ServiceCIDR("nope", ["10.0.0.0/24"]))
    with pytest.raises(AlreadyExistsError):
        c.create(manifest)
    with pytest.raises(ValueError):
        c.apply({"kind": "Pod", "metadata": {"name": "p"}})


def replace_rv(obj, rv):
    import dataclasses

    return dataclasses.replace(obj, resource_version=rv)


def test_update_status_is_reconciled(backend):
    c = Cluster()
    sc = c.create_service_cidr("a", ["10.0.0.0/24"])
    sc.conditions[0].status = "False"
    again = c.update_status(sc)
    assert again.ready  # the controller sets Ready=True again, as kube-controller-manager does


def test_ip_address_objects(backend):
    c = Cluster("10.0.0.0/24")
    with pytest.raises(ValidationError) as bad:
        c.create(IPAddress("10.0.0.010", ParentReference("", "services", "a", "b")))
    assert bad.value.errors == [("metadata.name", 'Invalid value: "10.0.0.010": must not have leading 0s')]
    ip = c.create(IPAddress("10.0.0.9", ParentReference("", "services", "a", "b"), dict(MANAGED)))
    assert ip.uid and ip.creation_timestamp is not None
    # an IPAddress object takes the address (Kubernetes: the name is the lock)
    with pytest.raises(AlreadyAllocatedError):
        c.create_service("s", cluster_ip="10.0.0.9")
    with pytest.raises(ValidationError) as imm:
        c.apply(IPAddress("10.0.0.9", ParentReference("", "services", "a", "c")))
    assert imm.value.errors[0][1].endswith("field is immutable")
    labelled = c.apply(IPAddress("10.0.0.9", ParentReference("", "services", "a", "b"), {"k": "v"}))
    assert labelled.labels == {"k": "v"}
    c.delete_ip_address("10.0.0.9")
    assert c.create_service("s", cluster_ip="10.0.0.9").cluster_ip == "10.0.0.9"
    with pytest.raises(NotFoundError) as nf:
        c.delete_ip_address("10.0.0.77")
    assert str(nf.value) == 'ipaddresses.networking.k8s.io "10.0.0.77" not found'
    assert c.get_ip_address(ipaddress.ip_address("10.0.0.9")).name == "10.0.0.9"


# ---- Services: families and policies (docs/behaviour.md §5) --------------------------------------------

def test_dual_stack_policies(backend):
    c = Cluster("10.96.0.0/16,fd00::/108", seed=4)
    single = c.create_service("single")
    assert single.ip_families == ["IPv4"] and single.ip_family_policy == "SingleStack"
    assert len(single.cluster_ips) == 1 and single.cluster_ip == single.cluster_ips[0]
    prefer = c.create_service("prefer", ip_family_policy="PreferDualStack")
    assert prefer.ip_families == ["IPv4", "IPv6"]
    assert in_net(prefer.cluster_ips[0], "10.96.0.0/16") and in_net(prefer.cluster_ips[1], "fd00::/108")
    v6 = c.create_service("v6", ip_families=["IPv6"])
    assert v6.ip_families == ["IPv6"] and in_net(v6.cluster_ip, "fd00::/108")
    v6first = c.create_service("v6first", ip_families=["IPv6", "IPv4"], ip_family_policy="RequireDualStack")
    assert v6first.ip_families == ["IPv6", "IPv4"] and ":" in v6first.cluster_ips[0]
    given = c.create_service("given", cluster_ips=["fd00::10", "10.96.5.5"], ip_family_policy="RequireDualStack")
    assert given.cluster_ips == ["fd00::10", "10.96.5.5"] and given.ip_families == ["IPv6", "IPv4"]
    half = c.create_service("half", cluster_ip="10.96.7.7", ip_family_policy="PreferDualStack")
    assert half.cluster_ips[0] == "10.96.7.7" and ":" in half.cluster_ips[1]
    noncanon = c.create_service("noncanon", cluster_ip="FD00:0::20", ip_families=["IPv6"])
    assert noncanon.cluster_ip == "fd00::20" and c.get_ip_address("fd00::20").parent_ref.name == "noncanon"
    for svc in c.list_services():
        for ip in svc.cluster_ips:
            assert str(c.get_ip_address(ip).parent_ref) == f"services/default/{svc.name}"
    with pytest.raises(ValidationError) as two:
        c.create_service("bad", cluster_ips=["10.96.0.9", "fd00::9"])
    assert two.value.errors == [("spec.ipFamilyPolicy", 'Invalid value: "SingleStack": must be \'RequireDualStack\' or '
                                                        "'PreferDualStack' when multiple cluster IPs are specified")]


def test_single_stack_cluster_policies(backend):
    c = Cluster("10.96.0.0/16")
    assert len(c.create_service("p", ip_family_policy="PreferDualStack").cluster_ips) == 1
    with pytest.raises(ValidationError) as req:
        c.create_service("r", ip_family_policy="RequireDualStack")
    assert req.value.errors == [("spec.ipFamilyPolicy", 'Invalid value: "RequireDualStack": this cluster is not '
                                                        "configured for dual-stack services")]
    assert str(req.value).startswith("spec.ipFamilyPolicy: Invalid value")
    with pytest.raises(ValidationError) as fam:
        c.create_service("f", ip_families=["IPv6"])
    assert fam.value.errors == [("spec.ipFamilies[0]", 'Invalid value: "IPv6": not configured on this cluster')]
    with pytest.raises(ValidationError) as ip6:
        c.create_service("i", cluster_ip="fd00::5")
    assert ip6.value.errors == [("spec.clusterIPs[0]", 'Invalid value: []string{"fd00::5"}: IPv6 is not configured '
                                                       "on this cluster")]


def test_headless_and_external_name(backend):
    c = Cluster("10.96.0.0/16")
    before = len(c.list_ip_addresses())
    headless = c.create_service("h", cluster_ip="None")
    assert headless.cluster_ips == ["None"] and headless.ip_family_policy == "RequireDualStack"
    assert headless.ip_families == ["IPv4", "IPv6"]  # selectorless headless may be dual on one stack
    with_selector = c.create_service("hs", cluster_ip="None", selector={"app": "x"})
    assert with_selector.ip_families == ["IPv4"] and with_selector.ip_family_policy == "SingleStack"
    ext = c.create_service("e", service_type="ExternalName", external_name="db.example.com")
    assert ext.cluster_ip is None and ext.ip_families == []
    assert len(c.list_ip_addresses()) == before
    c.delete_service("h")
    c.delete_service("e")


def test_dual_stack_failure_releases_the_first_family(backend):
    c = Cluster("10.96.0.0/24,fd00::/125", seed=2)
    for i in range(7):  # fd00::/125 holds 7 addresses
        c.create_service(f"v6-{i}", ip_families=["IPv6"])
    before = (len(c.list_ip_addresses()), c.metrics()["kube_apiserver_clusterip_allocator_allocated_ips"])
    with pytest.raises(RangeFullError):
        c.create_service("dual", ip_family_policy="RequireDualStack")
    after = (len(c.list_ip_addresses()), c.metrics()["kube_apiserver_clusterip_allocator_allocated_ips"])
    assert before == after


def test_dry_run_changes_nothing(backend):
    c = Cluster("10.96.0.0/24", seed=5)
    c.create_service("a", cluster_ip="10.96.0.50")
    rev = c.store.current_revision()
    svc = c.create_service("dry", dry_run=True)
    assert in_net(svc.cluster_ip, "10.96.0.0/24") and svc.ip_families == ["IPv4"]
    with pytest.raises(AlreadyAllocatedError):
        c.create_service("dry", cluster_ip="10.96.0.50", dry_run=True)
    assert c.create_service("dry2", cluster_ip="10.96.0.51", dry_run=True).cluster_ip == "10.96.0.51"
    assert c.create(ServiceCIDR("x", ["10.1.0.0/24"]), dry_run=True).name == "x"
    assert c.create({"kind": "Service", "metadata": {"name": "dry3"}}, dry_run=True).cluster_ip
    assert c.store.current_revision() == rev
    assert [s.name for s in c.list_services()] == ["a", "kubernetes"]
    assert c.create_service("real", cluster_ip="10.96.0.51").cluster_ip == "10.96.0.51"
    assert c.metrics()["kube_apiserver_clusterip_allocator_allocation_total"]["10.96.0.0/24"] == {
        "static": 3, "dynamic": 0}


def test_create_from_manifest_keeps_client_fields(backend):
    c = Cluster("10.96.0.0/24")
    sent = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "test-1", "labels": {"app": "test-1"}},
        "spec": {"type": "NodePort", "ports": [{"name": "80", "protocol": "TCP", "port": 80, "targetPort": 80}],
                 "selector": {"app": "test-1"}, "externalTrafficPolicy": "Local"},
    }
    svc = c.create(sent)
    stored = c.get_service("test-1").to_dict()
    assert stored["metadata"]["labels"] == {"app": "test-1"}
    assert stored["spec"]["selector"] == {"app": "test-1"} and stored["spec"]["externalTrafficPolicy"] == "Local"
    assert stored["spec"]["clusterIP"] == svc.cluster_ip and stored["metadata"]["resourceVersion"]
    sent["spec"]["ports"].append({"name": "81", "port": 81})
    updated = c.apply(sent)
    assert [p.port for p in updated.ports] == [80, 81] and updated.cluster_ip == svc.cluster_ip


# ---- create_services: one transaction --------------------------------------------------------

def test_create_services_20000_in_one_call(backend):
    c = Cluster("10.0.0.0/16", seed=11)
    rev = c.store.current_revision()
    out = c.create_services([{"name": f"s-{i}", "namespace": "bulk"} for i in range(20_000)])
    assert len(out) == 20_000 and c.store.current_revision() == rev + 1
    ips = {s.cluster_ip for s in out}
    assert len(ips) == 20_000 and "10.0.0.1" not in ips
    assert len(c.list_ip_addresses()) == 20_001
    assert len(c.list_services("bulk")) == 20_000
    # all or nothing: the last spec fails, nothing of the batch is written
    rev = c.store.current_revision()
    specs = [{"name": f"t-{i}"} for i in range(100)] + [{"name": "t-bad", "cluster_ip": out[0].cluster_ip}]
    with pytest.raises(AlreadyAllocatedError):
        c.create_services(specs)
    with pytest.raises(RangeFullError):
        c.create_services([{"name": f"u-{i}"} for i in range(65_534 - 20_001 + 1)])
    with pytest.raises(ValidationError):
        c.create_services([{"name": "ok"}, {"name": "Not_OK"}])
    with pytest.raises(AlreadyExistsError):
        c.create_services([{"name": "dup"}, {"name": "dup"}])
    assert c.store.current_revision() == rev
    assert len(c.list_ip_addresses()) == 20_001
    assert c.metrics()["kube_apiserver_clusterip_allocator_allocated_ips"]["10.0.0.0/16"] == 20_001


# ---- metrics (S-020 / S-054 style) -----------------------------------------------------------

def test_metrics_numbers(backend):
    c = Cluster("10.0.0.0/24,2001:db8::/112", seed=6)
    m = c.metrics()
    assert m["kube_apiserver_clusterip_allocator_allocated_ips"] == {"10.0.0.0/24": 1, "2001:db8::/112": 0}
    assert m["kube_apiserver_clusterip_allocator_available_ips"] == {"10.0.0.0/24": 253, "2001:db8::/112": 65535}
    a = [c.create_service(f"a-{i}").cluster_ip for i in range(2)]
    for ip in a:
        with pytest.raises(AlreadyAllocatedError):
            c.create_service("again", cluster_ip=ip)
    for i in range(2):
        c.delete_service(f"a-{i}")
    m = c.metrics()
    assert m["kube_apiserver_clusterip_allocator_allocated_ips"]["10.0.0.0/24"] == 1
    assert m["kube_apiserver_clusterip_allocator_allocation_total"]["10.0.0.0/24"] == {"static": 1, "dynamic": 2}
    assert m["kube_apiserver_clusterip_allocator_allocation_errors_total"]["10.0.0.0/24"] == {"static": 2, "dynamic": 0}
    failures = 0
    for i in range(264):
        try:
            c.create_service(f"b-{i}")
        except RangeFullError:
            failures += 1
        c.create_service(f"c-{i}", ip_families=["IPv6"])
    assert failures == 264 - 253
    m = c.metrics()
    assert m["kube_apiserver_clusterip_allocator_available_ips"] == {"10.0.0.0/24": 0, "2001:db8::/112": 65271}
    assert m["kube_apiserver_clusterip_allocator_allocation_total"]["10.0.0.0/24"]["dynamic"] == 255
    assert m["kube_apiserver_clusterip_allocator_allocation_errors_total"]["10.0.0.0/24"] == {"static": 2, "dynamic": 11}
    assert m["kube_apiserver_clusterip_allocator_allocation_total"]["2001:db8::/112"] == {"static": 0, "dynamic": 264}
    assert m["kube_apiserver_clusterip_allocator_allocation_total"][("2001:db8::/112", "dynamic")] == 264
    hist = m["kube_apiserver_clusterip_allocator_allocation_duration_seconds"]["2001:db8::/112"]
    assert hist["count"] == 264 and hist["buckets"]["+Inf"] == 264
    text = c.metrics_text()
    assert 'kube_apiserver_clusterip_allocator_allocated_ips{cidr="10.0.0.0/24"} 254' in text
    assert 'kube_apiserver_clusterip_allocator_available_ips{cidr="2001:db8::/112"} 65271' in text
    assert 'kube_apiserver_clusterip_allocator_allocation_errors_total{cidr="10.0.0.0/24",scope="dynamic"} 11' in text
    assert 'kube_apiserver_clusterip_allocator_allocation_duration_seconds_count{cidr="2001:db8::/112"} 264' in text
    assert "# TYPE kube_apiserver_clusterip_allocator_allocation_total counter" in text


def test_gauges_are_seeded_when_a_cidr_is_added(backend):
    c = Cluster()
    c.create_service_cidr("test1", ["192.168.1.0/30"])
    c.create_service_cidr("test2", ["10.0.0.0/29"])
    m = c.metrics()
    assert m["kube_apiserver_clusterip_allocator_available_ips"] == {"192.168.1.0/30": 2, "10.0.0.0/29": 6}
    assert m["kube_apiserver_clusterip_allocator_allocation_total"]["10.0.0.0/29"] == {"static": 0, "dynamic": 0}


# ---- lifecycle -------------------------------------------------------------------------------

def test_close_and_context_manager(backend):
    with Cluster("10.0.0.0/24") as c:
        pass
    with pytest.raises(StoreError):
        c.list_services()
    with pytest.raises(StoreError):
        c.create_service("x")
    c.close()  # idempotent


def test_bad_range_is_refused(backend):
    with pytest.raises(ValidationError):
        Cluster("10.0.0.1/24")
    with pytest.raises(ValidationError):
        Cluster("10.0.0.0/24,10.1.0.0/24")
    with pytest.raises(ValidationError):
        Cluster(["10.0.0.0/24", "fd00::/64", "10.2.0.0/24"])
    with pytest.raises(ValueError):
        Cluster(policy="best")


def test_no_family_configured(backend):
    c = Cluster()
    with pytest.raises(ValidationError) as err:
        c.create_service("x")
    assert err.value.errors == [("spec.ipFamilies[0]", 'Invalid value: "IPv4": not configured on this cluster')]


def test_ipv6_cidr_too_large_to_allocate_from_is_still_an_object(backend):
    c = Cluster("fd00::/112")
    big = c.create_service_cidr("big", ["2001:db8::/48"])
    assert big.ready
    with pytest.raises(MismatchedNetworkError):
        c.create_service("x", cluster_ip="2001:db8::5")
    c.create(_ip("2001:db8::5", "IPv6"))
    assert c.delete_service_cidr("big").terminating  # it alone holds 2001:db8::5
    assert [i.name for i in c.blocking_ip_addresses("big")] == ["2001:db8::5"]
    c.delete_ip_address("2001:db8::5")
    assert [s.name for s in c.list_service_cidrs()] == ["kubernetes"]


def test_import_objects(backend):
    source = Cluster("10.96.0.0/24", seed=1)
    source.create_service("web", namespace="prod", cluster_ip="10.96.0.80")
    source.create_service_cidr("extra", ["10.97.0.0/24"])
    dump = {"apiVersion": "v1", "kind": "List", "items": [
        *(s.to_dict() for s in source.list_service_cidrs()),
        *(i.to_dict() for i in source.list_ip_addresses()),
        *(s.to_dict() for s in source.list_services()),
    ]}
    target = Cluster()
    assert target.import_objects(dump) == len(dump["items"])
    assert target.service_cluster_ip_range == ["10.96.0.0/24"]
    assert target.get_service("web", "prod").cluster_ip == "10.96.0.80"
    assert target.get_service_cidr("extra").uid == source.get_service_cidr("extra").uid
    with pytest.raises(AlreadyAllocatedError):
        target.create_service("x", cluster_ip="10.96.0.80")
    assert not [e for e in target.events() if e.type == "Warning"]


def test_inputs_of_other_types(backend):
    c = Cluster(["10.96.0.0/24", "fd00::/120"])
    assert c.create_service("a", cluster_ips="10.96.0.7").cluster_ips == ["10.96.0.7"]
    assert ":" in c.create_service("b", ip_families="IPv6").cluster_ip
    assert [p.port for p in c.create_service("c", ports=80).ports] == [80]
    assert c.create_service("d", cluster_ip=ipaddress.ip_address("10.96.0.9")).cluster_ip == "10.96.0.9"
    assert c.create_service_cidr("x", ipaddress.ip_network("10.1.0.0/24")).cidrs == ["10.1.0.0/24"]
    assert c.create_service_cidr("y", "10.2.0.0/24,fd01::/64").cidrs == ["10.2.0.0/24", "fd01::/64"]
    with pytest.raises(ValidationError):
        c.create_service_cidr("z", 5)
    with pytest.raises(ValidationError):
        c.create_service("e", cluster_ip="10.96.0.010")
    assert c.delete_ip_address(ipaddress.ip_address("10.96.0.9")) is None


def test_addresses_outside_every_cidr_are_adopted_by_a_new_one(backend):
    c = Cluster("10.96.0.0/24")
    c.create(_ip("10.5.0.5"))  # no ServiceCIDR holds it yet
    c.create_service_cidr("late", ["10.5.0.0/24"])
    with pytest.raises(AlreadyAllocatedError):
        c.create_service("x", cluster_ip="10.5.0.5")
    assert c.delete_service_cidr("late").terminating  # and it blocks the deletion
    c.delete_ip_address("10.5.0.5")
    assert [s.name for s in c.list_service_cidrs()] == ["kubernetes"]


def test_addresses_created_inside_a_terminating_cidr_are_indexed(backend):
    c = Cluster("10.96.0.0/24")
    c.create_service_cidr("old", ["10.7.0.0/24"])
    svc = c.create_service("x", cluster_ip="10.7.0.5")
    assert c.delete_service_cidr("old").terminating
    c.create(_ip("10.7.0.6"))  # an object written into the terminating range
    c.delete_service(svc.name)
    assert [i.name for i in c.blocking_ip_addresses("old")] == ["10.7.0.6"]
    c.create_service_cidr("cover", ["10.7.0.0/16"])
    assert [s.name for s in c.list_service_cidrs()] == ["cover", "kubernetes"]
    with pytest.raises(AlreadyAllocatedError):
        c.create_service("y", cluster_ip="10.7.0.6")


def test_service_and_ip_address_updates(backend):
    c = Cluster("10.96.0.0/24")
    svc = c.create_service("web", ports=[80], selector={"app": "web"})
    svc.ports = [ServicePort(443)]
    svc.labels = {"tier": "front"}
    updated = c.update(svc)
    assert [p.port for p in updated.ports] == [443] and updated.labels == {"tier": "front"}
    assert updated.cluster_ip == svc.cluster_ip and int(updated.resource_version) > int(svc.resource_version)
    with pytest.raises(ConflictError):
        c.update(svc)  # svc still carries the old resourceVersion
    moved = c.get_service("web")
    # a static-band address: dynamic allocation never hands it out while the dynamic band has room
    moved.cluster_ip, moved.cluster_ips = "10.96.0.5", ["10.96.0.5"]
    with pytest.raises(ValidationError) as imm:
        c.update(moved)
    assert imm.value.errors == [("spec.clusterIPs[0]", 'Invalid value: []string{"10.96.0.5"}: may not change once set')]
    with pytest.raises(NotFoundError):
        c.update(Service("nope"))
    assert c.get_service("web").cluster_ip == svc.cluster_ip
    ip = c.get_ip_address(svc.cluster_ip)
    ip.annotations = {"note": "x"}
    assert c.update(ip).annotations == {"note": "x"}
    with pytest.raises(ConflictError):
        c.update(ip)
    with pytest.raises(NotFoundError):
        c.update(IPAddress("10.96.0.6", ParentReference("", "services", "default", "x")))
    with pytest.raises(TypeError):
        c.apply(42)
    # ClusterIP -> ExternalName, as upstream: the unchanged cluster IPs go, the address is freed
    ext = c.get_service("web")
    ext.type, ext.external_name = "ExternalName", "x.example.com"
    converted = c.update(ext)
    assert converted.cluster_ip is None and converted.cluster_ips == [] and converted.ip_families == []
    with pytest.raises(NotFoundError):
        c.get_ip_address(svc.cluster_ip)


def test_foreign_finalizers(backend):
    c = Cluster()
    created = c.create(ServiceCIDR("held", ["10.9.0.0/24"], finalizers=["example.com/hold"]))
    assert created.finalizers == [FINALIZER, "example.com/hold"]
    left = c.delete_service_cidr("held")
    assert left is not None and left.terminating and left.finalizers == ["example.com/hold"]
    rev = c.store.current_revision()
    c.reconcile()
    assert c.store.current_revision() == rev  # nothing for fastcidr to do any more
    # apply of a manifest without finalizers keeps them; a replacing update removes them
    assert c.apply({"kind": "ServiceCIDR", "metadata": {"name": "held"},
                    "spec": {"cidrs": ["10.9.0.0/24"]}}).finalizers == ["example.com/hold"]
    obj = c.get_service_cidr("held")
    obj.finalizers = []
    c.update(obj)
    with pytest.raises(NotFoundError):
        c.get_service_cidr("held")
