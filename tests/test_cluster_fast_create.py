"""``create_service(name[, namespace])`` of a Service that asks for nothing takes a short path
(``Allocation._create_plain``): it must leave the store, the index, the metrics and the returned
object exactly as the general path does, and hand every case it does not own to the general
path, which raises as before."""
from __future__ import annotations

import dataclasses
import types
from typing import Any, Dict, List

import pytest

from fastcidr.errors import AlreadyExistsError, RangeFullError, ValidationError
from fastcidr.k8s import allocation
from fastcidr.k8s.cluster import Cluster
from fastcidr.k8s.layout import IPADDRESSES, KINDS
from fastcidr.k8s.objects import Service

_GENERATED = ("uid", "creationTimestamp", "lastTransitionTime")


def _normalised(value: Dict[str, Any]) -> Dict[str, Any]:
    """A stored value with its generated uids and timestamps blanked (two Clusters make
    different ones), key order kept: the stored form is compared as a string too."""
    def walk(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: "<generated>" if k in _GENERATED else walk(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [walk(v) for v in obj]
        return obj
    return walk(value)  # type: ignore[no-any-return]


def _stored(cluster: Cluster) -> List[Any]:
    out: List[Any] = []
    for kind in KINDS:  # every kind the Cluster keeps, not only the two a Service writes
        records, _ = cluster._store.list(kind)
        out.extend((r.kind, r.key, repr(_normalised(r.value))) for r in sorted(records, key=lambda r: r.key))
    return out


def _timeless(metrics: Dict[str, Any]) -> Dict[str, Any]:
    """The metrics without the duration sums (two calls never take the same time)."""
    duration = "kube_apiserver_clusterip_allocator_allocation_duration_seconds"
    out = dict(metrics)
    out[duration] = {cidr: {k: v for k, v in hist.items() if k != "sum"} for cidr, hist in metrics[duration].items()}
    return out


def _counting_plain(monkeypatch: pytest.MonkeyPatch) -> List[Any]:
    """Whether each call of the short paths (one Service, a batch) created what it was given."""
    calls: List[Any] = []
    for method in ("_create_plain", "_create_plain_batch"):
        real = getattr(allocation.Allocation, method)

        def counting(self: Any, *args: Any, real: Any = real) -> Any:
            result = real(self, *args)
            calls.append(result is not None)
            return result

        monkeypatch.setattr(allocation.Allocation, method, counting)
    return calls


def test_plain_builder_equals_the_dataclass_constructor() -> None:
    built = Service._plain("web", "prod", "10.0.0.7", "IPv4", "uid-1", None)
    reference = Service("web", "prod", "10.0.0.7", ["10.0.0.7"], ["IPv4"], "SingleStack", uid="uid-1")
    assert built == reference
    assert list(vars(built)) == [f.name for f in dataclasses.fields(Service)]
    assert built.cluster_ips is not reference.cluster_ips


@pytest.mark.parametrize("cidrs", [["10.96.0.0/24"], ["fd00::/120", "10.96.0.0/24"]])
def test_the_short_path_stores_what_the_general_path_stores(backend: types.ModuleType, cidrs: List[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting_plain(monkeypatch)
    with Cluster(cidrs, seed=7) as short, Cluster(cidrs, seed=7) as general:
        for name, namespace in [("web", "default"), ("db", "prod"), ("a" * 63, "b" * 63)]:
            fast = short.create_service(name, namespace)
            # selector={} asks for nothing either, but is not the short path's call
            slow = general.create_service(name, namespace, selector={})
            assert dataclasses.replace(fast, uid="", creation_timestamp=None) == \
                dataclasses.replace(slow, uid="", creation_timestamp=None)
            assert fast.uid and fast.creation_timestamp is not None and fast.resource_version
            assert short.get_service(name, namespace) == fast
        assert _stored(short) == _stored(general)
        assert short.stats() == general.stats()
        assert _timeless(short.metrics()) == _timeless(general.metrics())
        assert short._store.current_revision() == general._store.current_revision()
    assert calls == [True, True, True]


def test_cases_the_short_path_does_not_own_raise_as_before(backend: types.ModuleType,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting_plain(monkeypatch)
    with Cluster("10.96.0.0/30") as cluster:  # one usable address after default/kubernetes
        revision = cluster._store.current_revision()
        with pytest.raises(ValidationError, match="a DNS-1035 label"):
            cluster.create_service("Web")
        with pytest.raises(ValidationError):
            cluster.create_service("web", "Bad_Namespace")
        with pytest.raises(ValidationError):
            cluster.create_service("x" * 64)
        assert cluster._store.current_revision() == revision
        first = cluster.create_service("web")
        with pytest.raises(AlreadyExistsError):
            cluster.create_service("web")
        with pytest.raises(RangeFullError, match="range is full"):
            cluster.create_service("db")
        assert cluster.get_service("web") == first
        assert [s.name for s in cluster.list_services()] == ["kubernetes", "web"]
        failed = cluster.metrics()["kube_apiserver_clusterip_allocator_allocation_errors_total"]
        assert failed["10.96.0.0/30"]["dynamic"] == 1
    assert calls == [False, False, False, True, False, False]


def test_a_store_conflict_falls_back_to_the_general_path(backend: types.ModuleType,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """An IPAddress the index missed (written to the store behind its back): the short path's
    transaction fails, nothing stays taken, and the general path learns the address and retries."""
    with Cluster("10.96.0.0/28", seed=3) as cluster, Cluster("10.96.0.0/28", seed=3) as twin:
        # the twin, with the same seed and history, shows the address the next allocation takes
        assert cluster.create_service("probe").cluster_ip == twin.create_service("probe").cluster_ip
        next_ip = twin.create_service("other").cluster_ip
        assert next_ip is not None
        cluster._store.create_all([(IPADDRESSES, next_ip, {"metadata": {"name": next_ip}})])
        calls = _counting_plain(monkeypatch)
        created = cluster.create_service("web")
        assert calls == [False]
        assert created.cluster_ip not in (next_ip, None)
        assert cluster.get_service("web") == created
        assert cluster.create_service("db").cluster_ip not in (next_ip, created.cluster_ip)
        assert calls == [False, True]


def test_a_plain_batch_stores_what_the_general_path_stores(backend: types.ModuleType,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting_plain(monkeypatch)
    specs: List[Dict[str, Any]] = [{"name": f"svc-{i}"} for i in range(50)] + [{"name": "db", "namespace": "prod"}]
    with Cluster("10.96.0.0/24", seed=5) as short, Cluster("10.96.0.0/24", seed=5) as general:
        fast = short.create_services(specs)
        slow = general.create_services([dict(spec, selector={}) for spec in specs])
        assert [dataclasses.replace(s, uid="", creation_timestamp=None) for s in fast] == \
            [dataclasses.replace(s, uid="", creation_timestamp=None) for s in slow]
        assert len({s.uid for s in fast}) == len(fast) and len({s.resource_version for s in fast}) == 1
        assert _stored(short) == _stored(general)
        assert _timeless(short.metrics()) == _timeless(general.metrics())
    assert calls == [True]


def test_a_plain_batch_is_all_or_nothing(backend: types.ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting_plain(monkeypatch)
    with Cluster("10.96.0.0/28") as cluster:  # 13 free addresses after default/kubernetes
        cluster.create_service("web")
        before = _stored(cluster), cluster.stats()
        with pytest.raises(AlreadyExistsError):
            cluster.create_services([{"name": "a"}, {"name": "web"}])
        with pytest.raises(AlreadyExistsError):
            cluster.create_services([{"name": "a"}, {"name": "a", "namespace": "default"}])
        with pytest.raises(RangeFullError):
            cluster.create_services([{"name": f"s{i}"} for i in range(13)])
        with pytest.raises(ValidationError):
            cluster.create_services([{"name": "a"}, {"name": "B"}])
        assert (_stored(cluster), cluster.stats()) == before
        assert len(cluster.create_services([{"name": f"s{i}"} for i in range(12)])) == 12
    assert calls == [True, False, False, False, False, True]


def test_on_a_shared_store_the_short_path_sees_the_other_writers(backend: types.ModuleType, tmp_path: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Two Clusters on one SQLite file, as two processes would be: each create catches up with
    the other's writes first, an existing Service is refused (the Create's condition) and no
    address is handed out twice."""
    calls = _counting_plain(monkeypatch)
    path = str(tmp_path / "shared.db")
    with Cluster("10.96.0.0/27", store=path, seed=1) as one, Cluster("10.96.0.0/27", store=path, seed=1) as two:
        first = one.create_service("web")
        with pytest.raises(AlreadyExistsError):
            two.create_service("web")
        made = [two.create_service(f"b{i}") for i in range(5)] + one.create_services([{"name": f"a{i}"} for i in range(5)])
        addresses = [first.cluster_ip] + [s.cluster_ip for s in made]
        assert len(set(addresses)) == len(addresses) == 11
        assert {s.name for s in two.list_services()} == {"kubernetes", "web"} | {s.name for s in made}
        with Cluster("10.96.0.0/27", store=path) as general_check:
            assert general_check.stats() == one.stats() == two.stats()
    assert calls == [True, False] + [True] * 5 + [True]
