"""Typed use of the public API. ``mypy tests`` (``make typecheck``) checks these annotations against
the stubs (``_core.pyi``, ``_multi.pyi``) and the typed Python modules; pytest runs them too, on
both backends, so a stub that drifts from the code fails one way or the other."""
from __future__ import annotations

import types
from typing import Dict, List, Optional, Tuple

import fastcidr


def test_cidr_allocator_types(fc: types.SimpleNamespace) -> None:
    cls: type[fastcidr.CIDRAllocator] = fc.CIDRAllocator
    alloc = cls("10.96.0.0/28", seed=1, strategy="sequential")
    first: str = alloc.allocate_next()
    many: List[str] = alloc.allocate_many(2)
    as_int: int = alloc.allocate_next_int()
    size: int = alloc.size
    last: Optional[str] = alloc.last
    held: bool = alloc.has(first)
    alloc.release(first)
    data: bytes = alloc.snapshot()
    again: fastcidr.CIDRAllocator = cls.restore(data)
    listed: List[str] = list(again)
    assert first == "10.96.0.1" and len(many) == 2 and as_int > 0 and size == 14
    assert last == "10.96.0.14" and held and listed == ["10.96.0.2", "10.96.0.3", "10.96.0.4"]


def test_multi_and_tree_types(fc: types.SimpleNamespace) -> None:
    multi: fastcidr.MultiCIDRAllocator = fc.MultiCIDRAllocator(["10.0.0.0/24"], seed=3)
    added: bool = multi.add("fd00::/120")
    ip: str = multi.allocate_next("IPv6")
    owners: List[str] = multi.owners(ip)
    stats: Dict[str, int] = multi.stats("fd00::/120")
    orphans: List[str] = multi.remove("fd00::/120")
    assert added and owners == ["fd00::/120"] and stats["used"] == 1 and orphans == [ip]

    tree: fastcidr.PrefixTree = fc.PrefixTree()
    tree["10.0.0.0/8"] = "a"
    replaced: bool = tree.insert("10.1.0.0/16", "b")
    match: Optional[Tuple[str, object]] = tree.longest_match("10.1.2.3")
    hosts: List[Tuple[str, object]] = tree.host_matches("10.1.2.3")
    assert not replaced and match == ("10.1.0.0/16", "b") and [c for c, _ in hosts] == ["10.1.0.0/16", "10.0.0.0/8"]


def test_cluster_types(backend: types.ModuleType) -> None:
    with fastcidr.Cluster("10.96.0.0/28") as cluster:
        svc: fastcidr.Service = cluster.create_service("web")
        cidr: fastcidr.ServiceCIDR = cluster.get_service_cidr("kubernetes")
        ips: List[fastcidr.IPAddress] = cluster.list_ip_addresses()
        events: List[fastcidr.Event] = cluster.events()
        gone: Optional[fastcidr.ServiceCIDR] = cluster.delete_service_cidr("kubernetes")
        assert svc.cluster_ip is not None and cidr.cidrs == ["10.96.0.0/28"]
        assert len(ips) == 2 and isinstance(events, list) and gone is not None and gone.terminating
