"""A hypothesis state machine over ServiceCIDR and Service creation and deletion (both backends).

Invariants after every step: no address is allocated twice; every Service IP has exactly one
IPAddress, pointing back at that Service, and there is no other managed IPAddress; no ServiceCIDR
disappears while it alone held an address in use (every Service IP stays held by a ServiceCIDR);
a ServiceCIDR that is still terminating is blocked and says so in its condition; the index agrees
with the objects.
"""
from __future__ import annotations

import ipaddress

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from fastcidr.errors import (
    AlreadyAllocatedError,
    AlreadyExistsError,
    MismatchedNetworkError,
    NotFoundError,
    RangeFullError,
    ValidationError,
)
from fastcidr.k8s.cluster import Cluster

CIDRS = ["10.0.0.0/28", "10.0.0.0/27", "10.0.0.16/28", "10.0.0.0/24", "10.0.1.0/29", "10.0.0.32/29",
         "fd00::/124", "fd00::/120", "fd00::100/124"]
NAMES = ["a", "b", "c", "d", "kubernetes"]
IPS = ["10.0.0.5", "10.0.0.20", "10.0.0.40", "10.0.1.3", "10.0.0.0", "10.0.0.15", "fd00::5", "fd00::20",
       "fd00::105"]


def holds_host(cidr: str, ip: str) -> bool:
    net = ipaddress.ip_network(cidr)
    addr = ipaddress.ip_address(ip)
    if addr.version != net.version or addr not in net or addr == net.network_address:
        return False
    return not (net.version == 4 and addr == net.broadcast_address)


class ClusterMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.cluster = Cluster("10.0.0.0/28,fd00::/124", seed=0)
        self.counter = 0

    def teardown(self) -> None:
        self.cluster.close()

    @rule(name=st.sampled_from(NAMES), cidrs=st.lists(st.sampled_from(CIDRS), min_size=1, max_size=2))
    def create_service_cidr(self, name, cidrs):
        try:
            sc = self.cluster.create_service_cidr(name, cidrs)
        except AlreadyExistsError:
            assert name in {s.name for s in self.cluster.list_service_cidrs()}
        except ValidationError:
            assert len(cidrs) == 2 and (":" in cidrs[0]) == (":" in cidrs[1])
        else:
            assert sc.ready

    @rule(name=st.sampled_from(NAMES))
    def delete_service_cidr(self, name):
        try:
            self.cluster.delete_service_cidr(name)
        except NotFoundError:
            assert name not in {s.name for s in self.cluster.list_service_cidrs()}

    @rule(
        policy=st.sampled_from([None, "SingleStack", "PreferDualStack", "RequireDualStack"]),
        family=st.sampled_from([None, "IPv4", "IPv6"]),
        ip=st.none() | st.sampled_from(IPS),
        many=st.integers(1, 3),
    )
    def create_services(self, policy, family, ip, many):
        specs = []
        for _ in range(many):
            self.counter += 1
            spec = {"name": f"s{self.counter}", "ip_family_policy": policy}
            if family:
                spec["ip_families"] = [family]
            specs.append(spec)
        if ip:
            specs[0]["cluster_ip"] = ip
            specs[0].pop("ip_families", None)
        before = len(self.cluster.list_services())
        try:
            created = self.cluster.create_services(specs)
        except (RangeFullError, AlreadyAllocatedError, MismatchedNetworkError, ValidationError):
            assert len(self.cluster.list_services()) == before  # all or nothing
        else:
            assert len(created) == many

    @rule(data=st.data())
    def delete_service(self, data):
        services = [s for s in self.cluster.list_services() if s.name != "kubernetes"]
        if services:
            svc = data.draw(st.sampled_from(services))
            self.cluster.delete_service(svc.name, svc.namespace)

    @rule()
    def reconcile(self):
        self.cluster.reconcile()

    @invariant()
    def consistent(self):
        c = self.cluster
        services = c.list_services()
        addresses = {a.name: a for a in c.list_ip_addresses()}
        used = [(ip, s) for s in services for ip in s.cluster_ips if ip != "None"]
        assert len(used) == len({ip for ip, _ in used}), "an address is allocated twice"
        assert set(addresses) == {ip for ip, _ in used}
        for ip, svc in used:
            ref = addresses[ip].parent_ref
            assert (ref.resource, ref.namespace, ref.name) == ("services", svc.namespace, svc.name)
            assert addresses[ip].managed
        cidrs = c.list_service_cidrs()
        for ip, _ in used:
            assert any(holds_host(cidr, ip) for sc in cidrs for cidr in sc.cidrs), f"{ip} was orphaned"
        for sc in cidrs:
            if sc.terminating:
                assert c.blocking_ip_addresses(sc.name), f"{sc.name} should be gone"
                (cond,) = [x for x in sc.conditions if x.type == "Ready"]
                assert (cond.status, cond.reason) == ("False", "Terminating")
            else:
                assert sc.ready
        index = c._alloc
        for ip, _ in used:
            if index.owners(ip):
                assert index.has(ip)
        assert len(index) == len([ip for ip, _ in used if index.owners(ip)])


def test_cluster_state_machine(backend):
    run_state_machine_as_test(
        ClusterMachine,
        settings=settings(max_examples=50, stateful_step_count=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow]),
    )
