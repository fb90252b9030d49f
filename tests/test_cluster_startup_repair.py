"""Start-up on a store recognises the consistent majority of IPAddresses quickly (on SQLite from
their stored projection text, without decoding it) and gives everything else repair()'s full
treatment: the events and the repaired objects are exactly those of a Cluster over a MemoryStore
holding the same objects."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, List

import pytest

from fastcidr.k8s.cluster import Cluster
from fastcidr.k8s.repair import _is_allocator_projection, _single_cluster_ip
from fastcidr.k8s.objects import IPAddress, ParentReference, Service
from fastcidr.k8s.layout import project
from fastcidr.store.base import Put
from fastcidr.store.memory import MemoryStore
from fastcidr.store.sqlite import SQLiteStore

UTC = dt.timezone.utc
OLD = "2012-01-01T00:00:00Z"
ALLOCATOR_LABELS = {"ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io"}


def clock() -> dt.datetime:
    return dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def service(name: str, ips: List[str], ns: str = "bar") -> Put:
    fams = ["IPv6" if ":" in ip else "IPv4" for ip in ips]
    svc = Service(name, ns, cluster_ip=ips[0], cluster_ips=list(ips), ip_families=fams,
                  ip_family_policy="RequireDualStack" if len(ips) > 1 else "SingleStack", uid="u-" + name)
    return Put("services", f"{ns}/{name}", svc.to_dict())


def address(ip: str, name: str, ns: str = "bar", *, group: Any = None, labels: Any = None,
            created: str = OLD) -> Put:
    if labels is None:
        labels = {**ALLOCATOR_LABELS, "ipaddress.kubernetes.io/ip-family": "IPv6" if ":" in ip else "IPv4"}
    d = IPAddress(ip, ParentReference("", "services", ns, name), labels, uid="ip-" + ip).to_dict()
    d["metadata"]["creationTimestamp"] = created
    if group is not None:
        d["spec"]["parentRef"]["group"] = group
    return Put("ipaddresses", ip, d)


STATE = [
    service("ok", ["10.0.1.1"]), address("10.0.1.1", "ok"),
    service("other-name", ["10.0.1.2"]), address("10.0.1.2", "nobody"),
    service("first", ["10.0.1.3"]), service("second", ["10.0.1.3"]), address("10.0.1.3", "first"),
    service("no-object", ["10.0.1.5"]),
    address("10.0.1.6", "gone"),
    service("labels", ["10.0.1.7"]), address("10.0.1.7", "labels", labels=ALLOCATOR_LABELS),
    service("explicit-group", ["10.0.1.8"]), address("10.0.1.8", "explicit-group", group=""),
    service("other-ns", ["10.0.1.9"]), address("10.0.1.9", "other-ns", ns="foo"),
    service("dual", ["10.0.1.10", "2001:db8::10"]), address("10.0.1.10", "dual"),
    address("2001:db8::10", "dual"),
    service("v6", ["2001:db8::11"]), address("2001:db8::11", "v6"),
    service("wrong-family", ["10.0.1.12"]),
    address("10.0.1.12", "wrong-family", labels={**ALLOCATOR_LABELS, "ipaddress.kubernetes.io/ip-family": "IPv6"}),
]


def start(store: Any) -> Cluster:
    Cluster(["10.0.0.0/16", "2001:db8::/64"], store=store, clock=clock, seed=7).close()
    for op in STATE:
        store.commit([op])
    return Cluster(store=store, clock=clock, seed=7)


def test_start_up_repair_on_sqlite_is_exactly_the_memory_one(backend: Any, tmp_path: Path) -> None:
    with start(MemoryStore()) as expected, start(SQLiteStore(tmp_path / "s.db")) as actual:
        assert [str(e) for e in expected.events()], "the state must need repairs"
        assert [(str(e), e.regarding) for e in actual.events()] == \
            [(str(e), e.regarding) for e in expected.events()]
        assert [(i.name, i.parent_ref, i.labels) for i in actual.list_ip_addresses()] == \
            [(i.name, i.parent_ref, i.labels) for i in expected.list_ip_addresses()]
        # a second pass (not at start-up: the listing is read afresh) still agrees
        assert [str(e) for e in actual.repair()] == [str(e) for e in expected.repair()]


def test_projection_text_of_an_allocator_address_is_recognised(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "p.db") as store:
        store.projector = project  # as a Cluster sets it
        put = address("10.0.1.1", "web", ns="default")
        store.commit([put])
        [(key, text, _)], _ = store.list_projection_raw("ipaddresses")
        assert key == "10.0.1.1" and isinstance(text, str)
        assert store.decode_projection(text) == project("ipaddresses", put.value)
        assert _is_allocator_projection(text, "default", "web", "IPv4")
        assert not _is_allocator_projection(text, "default", "we", "IPv4")
        assert not _is_allocator_projection(text, "defaul", "web", "IPv4")
        assert not _is_allocator_projection(text, "default", "web", "IPv6")
        assert not _is_allocator_projection(text.replace("2012", '20\\"12'), "default", "web", "IPv4")
        store.commit([service("web", ["10.0.1.1"], ns="default"), service("dual", ["10.0.1.2", "2001:db8::2"])])
        texts = {key: text for key, text, _ in store.list_projection_raw("services")[0]}
        assert _single_cluster_ip(texts["default/web"]) == "10.0.1.1"
        assert _single_cluster_ip(texts["bar/dual"]) is None
        assert _single_cluster_ip(texts["default/web"].replace("ClusterIP", "NodePort", 1)) is None
        assert _single_cluster_ip(texts["default/web"].replace('"10.0.1.1"}', '"10.0.1.9"}')) is None
        assert _single_cluster_ip(texts["default/web"].replace("10.0.1.1", '10.0\\"1.1')) is None
    memory = MemoryStore()
    memory.commit([address("10.0.1.1", "web")])
    [(key, value, _)], _ = memory.list_projection_raw("ipaddresses")
    assert memory.decode_projection(value) is value and value["spec"]["parentRef"]["name"] == "web"


@pytest.mark.parametrize("name", ['we"b', "we\\b"])
def test_names_that_json_escapes_take_the_decoded_check(backend: Any, tmp_path: Path, name: str) -> None:
    # not valid Kubernetes names, but a store may hold anything: no event for a consistent pair
    state = [service(name, ["10.0.1.1"]), address("10.0.1.1", name)]
    store = SQLiteStore(tmp_path / "n.db")
    Cluster(["10.0.0.0/16"], store=store, clock=clock, seed=7).close()
    store.commit(state)
    with Cluster(store=store, clock=clock, seed=7) as cluster:
        assert cluster.repair() == []
        assert [i.parent_ref and i.parent_ref.name for i in cluster.list_ip_addresses()
                if i.name == "10.0.1.1"] == [name]
