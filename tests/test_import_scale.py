"""Import of a large kubectl dump: correct at 20,000 Services (counts, no duplicate addresses,
every Service allocated), the streaming JSON reader against ``json`` on any layout, and an import
that fails part-way changes nothing. Speed and memory are measured by scripts/import_scale.py,
not here."""
from __future__ import annotations

import io
import json
import sys
import types
from pathlib import Path
from typing import Any, List

import pytest

from fastcidr.errors import ValidationError
from fastcidr.k8s.cluster import Cluster
from fastcidr.k8s.importer import DumpError, flatten_lists, iter_json_documents

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import import_scale  # noqa: E402  (the same dump generator the measurement uses)

N = 20_000


@pytest.fixture(scope="module")
def dump_text() -> str:
    return json.dumps(import_scale.dump(N), indent=4)


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_import_20000_services(backend: types.ModuleType, dump_text: str, tmp_path: Path, store: str) -> None:
    url = None if store == "memory" else str(tmp_path / "import.db")
    with Cluster(store=url) as cluster:
        imported = cluster.import_objects(flatten_lists(iter_json_documents(io.StringIO(dump_text), chunk_size=4096)))
        assert imported == 2 * (N + 1) + 1
        services = cluster.list_services()
        ips = cluster.list_ip_addresses()
        assert len(services) == N + 1 and len(ips) == N + 1
        cluster_ips = [s.cluster_ip for s in services]
        assert len(set(cluster_ips)) == len(cluster_ips) and None not in cluster_ips
        assert {ip.name for ip in ips} == set(cluster_ips)
        assert cluster.service_cluster_ip_range == [import_scale.RANGE]
        # the index knows every address: a new Service gets one that no imported Service has
        assert cluster.repair() == []
        new = cluster.create_service("after-import")
        assert new.cluster_ip not in set(cluster_ips)
        stats = cluster.metrics()["kube_apiserver_clusterip_allocator_allocated_ips"]
        assert stats == {import_scale.RANGE: N + 2}
        # what was written is what was read (uid, timestamps kept, resourceVersion the store's)
        one = cluster.get_service("svc-7", "ns-7")
        assert one.uid == import_scale._uid(2 * 7 + 2) and one.selector == {"app": "svc-7"}
    if url is not None:  # and a fresh Cluster on the same file finds it all again
        with Cluster(store=url) as again:
            assert len(again.list_services()) == N + 2 and again.repair() == []


def test_import_again_replaces_and_adds(backend: types.ModuleType, tmp_path: Path) -> None:
    small = import_scale.dump(50)
    url = str(tmp_path / "again.db")
    with Cluster(store=url) as cluster:
        assert cluster.import_objects(small) == 103
        small["items"][-1]["metadata"]["labels"] = {"changed": "yes"}
        assert cluster.import_objects(small["items"]) == 103  # same names: replaced (puts)
        assert cluster.get_service("svc-50", "ns-0").labels == {"changed": "yes"}
        assert len(cluster.list_services()) == 51


def test_a_bad_object_late_in_the_dump_writes_nothing(backend: types.ModuleType, tmp_path: Path) -> None:
    items = import_scale.dump(30_000 // 2)["items"]
    items.append({"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "x"}})  # no name
    url = str(tmp_path / "bad.db")
    with Cluster("10.0.0.0/24", store=url) as cluster:
        before = cluster.current_revision()
        with pytest.raises(ValidationError):
            cluster.import_objects(iter(items))
        assert cluster.current_revision() == before
        assert [s.name for s in cluster.list_services()] == ["kubernetes"]


def _documents(text: str, chunk_size: int) -> List[Any]:
    return list(iter_json_documents(io.StringIO(text), chunk_size=chunk_size))


@pytest.mark.parametrize("indent", [None, 1, 4, "\t"])
@pytest.mark.parametrize("chunk_size", [1, 7, 300, 1 << 20])
def test_streaming_reader_matches_json(indent: Any, chunk_size: int) -> None:
    items: List[Any] = import_scale.dump(40)["items"]
    # odd members: strings that look like the separator, escapes, nested lists, numbers at the end
    items.insert(3, {"kind": "Service", "metadata": {"name": "x", "annotations": {"a": "},\n    {", "b": "\"}\\"}},
                     "spec": {"ports": [{"port": 1}, {"port": 2}], "n": [1, 2.5, -3e2, True, None]}})
    items.append({"kind": "Odd", "z": "\u00e9\u4e2d\U0001f600", "lone": "\ud800"})
    for top in ({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}},
                {"kind": "List", "metadata": {}, "items": items}):
        text = json.dumps(top, indent=indent)
        assert _documents(text, chunk_size) == json.loads(text)["items"]
    text = json.dumps(items, indent=indent)
    assert _documents(text, chunk_size) == json.loads(text)  # a bare array
    assert _documents(json.dumps(items[0]), chunk_size) == [items[0]]  # one object
    assert _documents('{"kind": "List", "items": []}', chunk_size) == []
    assert _documents("  ", chunk_size) == []
    assert _documents("12345", chunk_size) == [12345]


def test_streaming_reader_keeps_what_orjson_cannot_read() -> None:
    # integers beyond 64 bits, NaN: orjson refuses them, the reader falls back to json's reading
    items = [{"kind": "A", "n": i} for i in range(20)] + [{"kind": "B", "n": 2 ** 70, "f": float("nan")}]
    items += [{"kind": "C", "n": i} for i in range(20)]
    text = json.dumps({"items": items, "kind": "List"}, indent=2)
    got = _documents(text, 64)
    assert len(got) == len(items) and got[20]["n"] == 2 ** 70 and got[20]["f"] != got[20]["f"]
    assert [g for g in got if g["kind"] != "B"] == [i for i in items if i["kind"] != "B"]


@pytest.mark.parametrize("text", ['{"items": [{"a": 1}, {"a": 2}', '{"items": [{"a": 1} {"a": 2}]}',
                                  "[1, 2,", '{"a" 1}', "[1] 2", "{broken", '{"items": [1,]}'])
def test_streaming_reader_refuses_bad_json(text: str) -> None:
    with pytest.raises(DumpError):
        _documents(text, 3)
    with pytest.raises(ValueError):
        json.loads(text)


def test_flatten_lists() -> None:
    docs = [None, {"kind": "List", "items": [{"kind": "A"}, {"kind": "ServiceList", "items": [{"kind": "B"}]}]},
            {"kind": "C", "items": "not a list"}]
    assert list(flatten_lists(docs)) == [{"kind": "A"}, {"kind": "B"}, {"kind": "C", "items": "not a list"}]
