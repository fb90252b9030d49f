"""``fastcidr.k8s.metrics.PrometheusCollector`` in a real ``prometheus_client`` registry: the same
samples (names, labels, values) as the Cluster's own text format, the same names and labels as a
running ``fastcidr serve``'s ``/metrics``, and a one-line error without prometheus_client."""
from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Dict, FrozenSet, Set, Tuple

import pytest

from fastcidr.errors import RangeFullError
from fastcidr.k8s.cluster import Cluster
from fastcidr.k8s.metrics import PREFIX, PrometheusCollector

from .serve_process import ServeProcess

from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

Sample = Tuple[str, FrozenSet[Tuple[str, str]]]


def _samples(text: str) -> Dict[Sample, float]:
    out: Dict[Sample, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith(PREFIX):
                out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def _busy_cluster() -> Cluster:
    cluster = Cluster("10.0.0.0/29")
    cluster.create_service_cidr("second", "10.1.0.0/30")
    cluster.create_service("static", cluster_ip="10.0.0.5")
    for i in range(7):
        try:
            cluster.create_service(f"svc-{i}")
        except RangeFullError:
            pass
    return cluster


def test_collector_matches_the_cluster_text(backend: types.ModuleType) -> None:
    with _busy_cluster() as cluster:
        registry = CollectorRegistry()
        collector = PrometheusCollector(cluster, registry)
        ours = _samples(cluster.metrics_text())
        theirs = _samples(generate_latest(registry).decode())
        assert theirs == ours
        names = {name for name, _ in ours}
        assert f"{PREFIX}_allocation_total" in names and f"{PREFIX}_allocation_duration_seconds_bucket" in names
        assert ours[(f"{PREFIX}_allocated_ips", frozenset({("cidr", "10.0.0.0/29")}))] == 6  # full: .1 to .6
        assert ours[(f"{PREFIX}_allocation_errors_total",
                     frozenset({("cidr", "10.1.0.0/30"), ("scope", "dynamic")}))] >= 0
        # read at every scrape
        cluster.delete_service("static")
        after = _samples(generate_latest(registry).decode())
        assert after[(f"{PREFIX}_allocated_ips", frozenset({("cidr", "10.0.0.0/29")}))] == 5
        registry.unregister(collector)
        assert _samples(generate_latest(registry).decode()) == {}


def test_describe_reads_nothing(backend: types.ModuleType) -> None:
    class Untouchable:
        def metrics(self) -> Dict[str, object]:
            raise AssertionError("metrics read at registration")

    registry = CollectorRegistry()
    PrometheusCollector(Untouchable(), registry)  # registering calls describe() only
    with pytest.raises(AssertionError):
        generate_latest(registry)


def test_same_names_and_labels_as_the_server(backend: types.ModuleType, tmp_path: Path) -> None:
    server = ServeProcess(tmp_path, cidr="10.0.0.0/29", pure=backend.__name__.endswith("twin"))
    try:
        body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                "spec": {"ports": [{"port": 80}]}}
        status, _, _ = server.request("POST", "/api/v1/namespaces/default/services", body)
        assert status == 201
        status, _, text = server.request("GET", "/metrics")
        assert status == 200
    finally:
        server.stop()
    served: Set[Sample] = set(_samples(text.decode() if isinstance(text, bytes) else text))
    with Cluster("10.0.0.0/29") as cluster:
        cluster.create_service("web", ports=[80])
        registry = CollectorRegistry()
        PrometheusCollector(cluster, registry)
        ours = set(_samples(generate_latest(registry).decode()))
    assert ours == served


def test_a_clear_error_without_prometheus_client(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "prometheus_client" or m.startswith("prometheus_client.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import fails
    with Cluster("10.0.0.0/29") as cluster, pytest.raises(ImportError) as info:
        PrometheusCollector(cluster)
    assert "pip install 'fastcidr[prometheus]'" in str(info.value) and "\n" not in str(info.value)
