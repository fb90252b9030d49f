"""The ClusterIP allocator metrics of Kubernetes (docs/behaviour.md §8), per CIDR.

Gauges (allocated / available) are read from the index when asked, so they exist from the moment
a CIDR is added (upstream forgets to seed them, kubernetes/kubernetes#140613). Counters and the
latency histogram are kept here.

:class:`PrometheusCollector` hands the same metrics (names, labels, help texts) to a host
application's ``prometheus_client`` registry (docs/observability.md "Metrics"); prometheus_client
is imported only when one is made (``pip install 'fastcidr[prometheus]'``).
"""
from __future__ import annotations

import bisect
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

__all__ = ["AllocatorMetrics", "PrometheusCollector", "PREFIX", "BUCKETS"]

PREFIX = "kube_apiserver_clusterip_allocator"
ALLOCATED = f"{PREFIX}_allocated_ips"
AVAILABLE = f"{PREFIX}_available_ips"
TOTAL = f"{PREFIX}_allocation_total"
ERRORS = f"{PREFIX}_allocation_errors_total"
DURATION = f"{PREFIX}_allocation_duration_seconds"
# Prometheus' DefBuckets, as the apiserver uses
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SCOPES = ("static", "dynamic")

_HELP = {
    ALLOCATED: ("gauge", "Gauge measuring the number of allocated IPs for Services"),
    AVAILABLE: ("gauge", "Gauge measuring the number of available IPs for Services"),
    TOTAL: ("counter", "Number of Cluster IPs allocations"),
    ERRORS: ("counter", "Number of errors trying to allocate Cluster IPs"),
    DURATION: ("histogram", "Duration in seconds to allocate a Cluster IP by ServiceCIDR"),
}


class _ByCidr(dict):
    """``{cidr: {scope: n}}`` that also answers ``[(cidr, scope)]``, the labels as a tuple."""

    def __missing__(self, key: Any) -> Any:
        if isinstance(key, tuple) and len(key) == 2 and key[0] in self:
            return self[key[0]][key[1]]
        raise KeyError(key)


class AllocatorMetrics:
    """Counters per ``(cidr, scope)`` and a latency histogram per CIDR."""

    def __init__(self) -> None:
        self.total: Dict[Tuple[str, str], int] = {}
        self.errors: Dict[Tuple[str, str], int] = {}
        # cidr -> [bucket counts..., +Inf count, sum]
        self.duration: Dict[str, List[float]] = {}

    def allocated(self, cidr: str, scope: str, seconds: float) -> None:
        key = (cidr, scope)
        self.total[key] = self.total.get(key, 0) + 1
        hist = self.duration.get(cidr)
        if hist is None:
            hist = self.duration[cidr] = [0.0] * (len(BUCKETS) + 2)
        hist[bisect.bisect_left(BUCKETS, seconds)] += 1
        hist[-1] += seconds

    def failed(self, cidr: str, scope: str) -> None:
        key = (cidr, scope)
        self.errors[key] = self.errors.get(key, 0) + 1

    def snapshot(self, gauges: Dict[str, Tuple[int, int]]) -> Dict[str, Any]:
        """The metrics as a dict: ``{name: {cidr: value}}`` for gauges, ``{name: {cidr: {scope:
        count}}}`` for counters and ``{name: {cidr: {"count", "sum", "buckets": {le: n}}}}``."""
        cidrs = list(gauges)
        for cidr, _ in list(self.total) + list(self.errors):
            if cidr not in gauges and cidr not in cidrs:
                cidrs.append(cidr)
        out: Dict[str, Any] = {
            ALLOCATED: {c: gauges[c][0] for c in gauges},
            AVAILABLE: {c: gauges[c][1] for c in gauges},
            TOTAL: _ByCidr({c: {s: self.total.get((c, s), 0) for s in SCOPES} for c in cidrs}),
            ERRORS: _ByCidr({c: {s: self.errors.get((c, s), 0) for s in SCOPES} for c in cidrs}),
            DURATION: {},
        }
        for cidr, hist in self.duration.items():
            cumulative = 0
            buckets: Dict[str, int] = {}
            for bound, n in zip(BUCKETS, hist):
                cumulative += int(n)
                buckets[_fmt(bound)] = cumulative
            count = cumulative + int(hist[len(BUCKETS)])
            buckets["+Inf"] = count
            out[DURATION][cidr] = {"count": count, "sum": hist[-1], "buckets": buckets}
        return out

    @staticmethod
    def text(snapshot: Dict[str, Any]) -> str:
        """Prometheus text exposition format (version 0.0.4)."""
        lines: List[str] = []
        for name in (ALLOCATED, AVAILABLE, TOTAL, ERRORS, DURATION):
            kind, help_text = _HELP[name]
            lines.append(f"# HELP {name} [ALPHA] {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            values = snapshot.get(name, {})
            for cidr in sorted(values):
                value = values[cidr]
                label = f'cidr="{cidr}"'
                if kind == "gauge":
                    lines.append(f"{name}{{{label}}} {value}")
                elif kind == "counter":
                    for scope in SCOPES:
                        lines.append(f'{name}{{{label},scope="{scope}"}} {value.get(scope, 0)}')
                else:
                    for bound, n in value["buckets"].items():
                        lines.append(f'{name}_bucket{{{label},le="{bound}"}} {n}')
                    lines.append(f"{name}_sum{{{label}}} {_fmt(value['sum'])}")
                    lines.append(f"{name}_count{{{label}}} {value['count']}")
        return "\n".join(lines) + "\n"


def _fmt(value: float) -> str:
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _prometheus_client() -> Any:
    try:
        import prometheus_client.core as core
    except ImportError:
        raise ImportError("fastcidr.k8s.metrics.PrometheusCollector needs prometheus_client: "
                          "pip install 'fastcidr[prometheus]' (or prometheus-client)") from None
    return core


class PrometheusCollector:
    """A ``prometheus_client`` collector of a Cluster's allocator metrics: the names, labels
    (``cidr``, ``scope``, ``le``) and help texts of the server's ``/metrics``, read from
    ``cluster.metrics()`` at every scrape.

    >>> from prometheus_client import CollectorRegistry, generate_latest  # doctest: +SKIP
    >>> registry = CollectorRegistry()                                   # doctest: +SKIP
    >>> PrometheusCollector(cluster, registry)  # or REGISTRY.register(PrometheusCollector(cluster))  # doctest: +SKIP

    ``source``: anything with a ``metrics()`` method returning :meth:`AllocatorMetrics.snapshot`'s
    dict (a Cluster). ``registry``, if given, is registered with at once. Raises ImportError (one
    line, naming the extra) when prometheus_client is not installed.
    """

    def __init__(self, source: Any, registry: Optional[Any] = None) -> None:
        self._core = _prometheus_client()
        self._metrics: Callable[[], Dict[str, Any]] = source.metrics
        if registry is not None:
            registry.register(self)

    def describe(self) -> List[Any]:
        """The families without samples: registering reads no metrics."""
        return list(self._families({}))

    def collect(self) -> Iterator[Any]:
        return self._families(self._metrics())

    def _families(self, snapshot: Dict[str, Any]) -> Iterator[Any]:
        core = self._core
        for name in (ALLOCATED, AVAILABLE, TOTAL, ERRORS, DURATION):
            kind, help_text = _HELP[name]
            documentation = f"[ALPHA] {help_text}"
            values = snapshot.get(name, {})
            if kind == "gauge":
                gauge = core.GaugeMetricFamily(name, documentation, labels=["cidr"])
                for cidr in sorted(values):
                    gauge.add_metric([cidr], values[cidr])
                yield gauge
            elif kind == "counter":
                # (prometheus_client names the family without its "_total"; the samples keep it)
                counter = core.CounterMetricFamily(name, documentation, labels=["cidr", "scope"])
                for cidr in sorted(values):
                    for scope in SCOPES:
                        counter.add_metric([cidr, scope], values[cidr].get(scope, 0))
                yield counter
            else:
                histogram = core.HistogramMetricFamily(name, documentation, labels=["cidr"])
                for cidr in sorted(values):
                    value = values[cidr]
                    histogram.add_metric([cidr], list(value["buckets"].items()), value["sum"])
                yield histogram
