"""Several Clusters on one shared store, and threads on one Cluster (both backends).

A ``MemoryStore`` marked ``shared`` stands in for SQLite/etcd here so that races can be staged
deterministically: a hook runs another writer's commit right before this one's.
"""
from __future__ import annotations

import threading
from typing import Callable, List, Optional

import pytest

from fastcidr.errors import AlreadyAllocatedError, AlreadyExistsError, MismatchedNetworkError, RangeFullError
from fastcidr.k8s.cluster import Cluster
from fastcidr.k8s.objects import IPAddress, ParentReference, Service
from fastcidr.store.base import Create
from fastcidr.store.memory import MemoryStore

MANAGED = {"ipaddress.kubernetes.io/ip-family": "IPv4", "ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io"}


class SharedMemoryStore(MemoryStore):
    shared = True

    def __init__(self, log_limit: int = 100_000) -> None:
        super().__init__(log_limit)
        self.hook: Optional[Callable[[list], None]] = None
        self.conflicts = 0

    def commit(self, ops):
        hook, self.hook = self.hook, None
        if hook is not None:
            hook(list(ops))
        try:
            return super().commit(ops)
        except Exception:
            self.conflicts += 1
            raise


@pytest.fixture
def pair(backend):
    store = SharedMemoryStore()
    a = Cluster("10.0.0.0/28", store=store, seed=1)
    b = Cluster(store=store, seed=1)
    yield store, a, b
    a.close()
    b.close()


def test_each_cluster_sees_the_others_writes(pair):
    store, a, b = pair
    ip = a.create_service("one").cluster_ip
    with pytest.raises(AlreadyAllocatedError):
        b.create_service("two", cluster_ip=ip)
    with pytest.raises(AlreadyExistsError):
        b.create_service("one")
    taken = {s.cluster_ip for s in a.list_services()}
    more = [b.create_service(f"b-{i}").cluster_ip for i in range(5)]
    assert not taken & set(more)
    a.create_service_cidr("extra", ["10.1.0.0/29"])
    assert b.get_service_cidr("extra").ready
    assert b.delete_service_cidr("extra") is None
    with pytest.raises(MismatchedNetworkError):
        a.create_service("x", cluster_ip="10.1.0.3")


def test_a_collision_makes_dynamic_allocation_try_again(pair):
    store, a, b = pair

    def steal(ops: List) -> None:
        for op in ops:
            if isinstance(op, Create) and op.kind == "ipaddresses":
                other = IPAddress(op.key, ParentReference("", "services", "default", "thief"), MANAGED).to_dict()
                MemoryStore.commit(store, [Create("ipaddresses", op.key, other)])
                return

    store.hook = steal
    svc = b.create_service("victim")  # the first choice is stolen: no ConflictError, another address
    assert store.conflicts == 1
    stolen = a.get_ip_address(svc.cluster_ip)
    assert stolen.parent_ref.name == "victim"
    names = {i.name: i.parent_ref.name for i in a.list_ip_addresses()}
    assert "thief" in names.values() and names[svc.cluster_ip] == "victim"


def test_allocation_requires_the_service_cidr_it_was_decided_on(pair):
    store, a, b = pair
    for i in range(13):
        a.create_service(f"fill-{i}")
    a.create_service_cidr("extra", ["10.1.0.0/30"])  # two addresses

    def delete_extra(ops: List) -> None:
        a.delete_service_cidr("extra")  # another apiserver marks it for deletion meanwhile

    b.get_service_cidr("extra")
    store.hook = delete_extra
    with pytest.raises(RangeFullError):
        b.create_service("late")  # the retry sees extra terminating (gone): nothing is left
    assert store.conflicts == 1
    assert [s.name for s in b.list_service_cidrs()] == ["kubernetes"]
    assert len(b.list_ip_addresses()) == 14


def test_compacted_change_log_means_a_full_relist(backend):
    store = SharedMemoryStore(log_limit=8)
    a = Cluster("10.0.0.0/24", store=store, seed=2)
    b = Cluster(store=store, seed=3)
    used = {a.create_service(f"a-{i}").cluster_ip for i in range(30)}
    mine = {b.create_service(f"b-{i}").cluster_ip for i in range(30)}
    assert not used & mine
    assert len(b.list_ip_addresses()) == 61


def test_threads_share_one_cluster(backend):
    c = Cluster("10.0.0.0/20", seed=4)
    errors: List[BaseException] = []
    barrier = threading.Barrier(4)

    def work(k: int) -> None:
        try:
            barrier.wait()
            for i in range(150):
                c.create_service(f"t{k}-{i}")
                if i % 3 == 0:
                    c.delete_service(f"t{k}-{i}")
            c.create_services([{"name": f"bulk{k}-{i}"} for i in range(100)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    services = c.list_services()
    ips = [s.cluster_ip for s in services]
    assert len(services) == 1 + 4 * 100 + 4 * 100 and len(set(ips)) == len(ips)
    assert sorted(i.name for i in c.list_ip_addresses()) == sorted(ips)


class CappedStore(SharedMemoryStore):
    """A store whose transactions hold at most a few operations, like etcd's 128."""

    max_ops = 5

    def commit(self, ops):
        assert len(ops) <= self.max_ops
        return super().commit(ops)


def test_batches_are_split_for_stores_with_small_transactions(backend):
    store = CappedStore()
    c = Cluster("10.0.0.0/24", store=store, seed=5)
    out = c.create_services([{"name": f"s-{i}"} for i in range(12)])
    assert len({s.cluster_ip for s in out}) == 12 and len(c.list_ip_addresses()) == 13
    taken = out[0].cluster_ip
    with pytest.raises(AlreadyAllocatedError):
        c.create_services([{"name": f"t-{i}"} for i in range(6)] + [{"name": "bad", "cluster_ip": taken}])
    # a later chunk fails: the chunks already written are taken back
    other = Service("u-4", cluster_ip="None", cluster_ips=["None"]).to_dict()
    store.hook = lambda ops: MemoryStore.commit(store, [Create("services", "default/u-4", other)])
    with pytest.raises(AlreadyExistsError):
        c.create_services([{"name": f"u-{i}"} for i in range(6)])
    assert [s.name for s in c.list_services() if s.name.startswith("u-")] == ["u-4"]
    assert len(c.list_ip_addresses()) == 13


def test_deletes_and_range_changes_by_others_are_seen(pair):
    store, a, b = pair
    svc = a.create_service("one", cluster_ip="10.0.0.9")
    b.delete_service("one")
    assert a.create_service("two", cluster_ip=svc.cluster_ip).cluster_ip == "10.0.0.9"
    Cluster("10.0.0.0/28,fd00::/120", store=store).close()
    assert b.service_cluster_ip_range == ["10.0.0.0/28", "fd00::/120"]
    assert len(b.create_service("dual", ip_family_policy="RequireDualStack").cluster_ips) == 2


def test_a_failing_store_leaves_nothing_taken(backend):
    from fastcidr.errors import StoreError

    store = SharedMemoryStore()
    c = Cluster("10.0.0.0/29", store=store, seed=1)

    def fail(ops):
        raise StoreError("store memory: disk on fire")

    for _ in range(10):  # more attempts than free addresses: each failure must give its address back
        store.hook = fail
        with pytest.raises(StoreError):
            c.create_service("x")
    assert len(c.create_services([{"name": f"s{i}"} for i in range(5)])) == 5
