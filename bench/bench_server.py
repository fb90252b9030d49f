"""Requests per second of ``fastcidr serve`` for kubectl's hottest requests.

Two ways to run it:
- ``python bench/bench_server.py [--requests N] [--store URL]``: a load loop per request kind
  over one keep-alive connection (what kubectl and the Python client do), printing req/s;
- ``pytest bench/bench_server.py --benchmark-only``: the same requests under pytest-benchmark.

Request kinds: ``get servicecidr`` (GET one object, JSON; and the Table list kubectl asks for),
``create service`` (POST JSON, and POST protobuf as ``kubectl create service`` sends it).
"""
from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import sys
import tempfile
import time
from typing import Any, Callable, Dict, Tuple

import pytest

import fastcidr
from fastcidr.server.protobuf import MAGIC, _ld, _vi

TABLE_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,"
                "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")
RANGE = "10.0.0.0/12"  # room for a million Services


def _protobuf_service(name: str) -> bytes:
    meta = _ld(1, name.encode()) + _ld(11, _ld(1, b"app") + _ld(2, name.encode()))
    port = _ld(1, b"80") + _ld(2, b"TCP") + _vi(3, 80) + _ld(4, _vi(1, 0) + _vi(2, 80))
    spec = _ld(1, port) + _ld(2, _ld(1, b"app") + _ld(2, name.encode())) + _ld(4, b"ClusterIP")
    return MAGIC + _ld(1, _ld(1, b"v1") + _ld(2, b"Service")) + _ld(2, _ld(1, meta) + _ld(2, spec))


class Load:
    """One server and one keep-alive connection to it."""

    def __init__(self, store: Any = None) -> None:
        self.cluster = fastcidr.Cluster(RANGE, store=store)
        self.server = fastcidr.serve(self.cluster)
        self.conn = http.client.HTTPConnection(self.server.host, self.server.port)
        self.names = itertools.count()

    def request(self, method: str, path: str, body: bytes = b"",
                headers: Dict[str, str] = {}) -> int:  # noqa: B006 - read only
        self.conn.request(method, path, body=body or None, headers=headers)
        response = self.conn.getresponse()
        response.read()
        return response.status

    def get_servicecidr(self) -> None:
        assert self.request("GET", "/apis/networking.k8s.io/v1/servicecidrs/kubernetes",
                            headers={"Accept": "application/json"}) == 200

    def get_servicecidr_table(self) -> None:
        assert self.request("GET", "/apis/networking.k8s.io/v1/servicecidrs?limit=500",
                            headers={"Accept": TABLE_ACCEPT}) == 200

    def create_service_json(self) -> None:
        name = f"svc-{next(self.names)}"
        body = json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                           "spec": {"ports": [{"port": 80, "protocol": "TCP"}]}}).encode()
        assert self.request("POST", "/api/v1/namespaces/default/services", body,
                            {"Content-Type": "application/json"}) == 201

    def create_service_protobuf(self) -> None:
        name = f"pb-{next(self.names)}"
        assert self.request(
            "POST", "/api/v1/namespaces/default/services?fieldManager=kubectl-create&fieldValidation=Strict",
            _protobuf_service(name),
            {"Content-Type": "application/vnd.kubernetes.protobuf",
             "Accept": "application/vnd.kubernetes.protobuf,application/json"}) == 201

    def close(self) -> None:
        self.conn.close()
        self.server.close()
        self.cluster.close()


KINDS: Dict[str, Callable[[Load], Callable[[], None]]] = {
    "get servicecidr": lambda load: load.get_servicecidr,
    "get servicecidr (Table list)": lambda load: load.get_servicecidr_table,
    "create service (JSON)": lambda load: load.create_service_json,
    "create service (protobuf)": lambda load: load.create_service_protobuf,
}


@pytest.fixture
def load():
    instance = Load()
    yield instance
    instance.close()


@pytest.mark.parametrize("kind", list(KINDS))
def test_requests(benchmark, load, kind):
    benchmark(KINDS[kind](load))


def measure(requests: int, store: Any) -> Dict[str, Tuple[float, float]]:
    """req/s and median µs per request for every kind, each on a fresh server."""
    results = {}
    for kind, pick in KINDS.items():
        load = Load(store() if callable(store) else store)
        try:
            call = pick(load)
            for _ in range(min(200, requests // 10)):  # warm up (connections, caches)
                call()
            samples = []
            start = time.perf_counter()
            for _ in range(requests):
                t0 = time.perf_counter()
                call()
                samples.append(time.perf_counter() - t0)
            elapsed = time.perf_counter() - start
        finally:
            load.close()
        samples.sort()
        results[kind] = (requests / elapsed, samples[len(samples) // 2] * 1e6)
    return results


def main(argv: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--store", default="memory", help="memory or sqlite")
    args = parser.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="bench-server-")
    counter = itertools.count()
    store: Any = None
    if args.store == "sqlite":
        store = lambda: os.path.join(tmp, f"s{next(counter)}.db")  # noqa: E731
    print(f"fastcidr serve, backend {fastcidr.BACKEND}, store {args.store}, "
          f"{args.requests} requests per kind, one keep-alive connection")
    for kind, (rate, median) in measure(args.requests, store).items():
        print(f"  {kind:30s} {rate:8.0f} req/s (mean)   median {median:6.0f} µs "
              f"= {1e6 / median:6.0f} req/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
