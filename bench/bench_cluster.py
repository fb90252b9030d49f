"""Cluster.create_service / create_services in memory, per-Service cost at 1,000 / 100,000 (and,
with ``FASTCIDR_BENCH_BIG=1``, 1,000,000) existing Services (docs/performance.md target 10).

Each round times a batch of 1,000 new Services on a Cluster that already holds N of them (the
state is built once per N, outside the timer, with ``create_services``; each round adds its
1,000, so N grows by a few percent over the rounds). ``extra_info["ops"]`` = 1,000: divide the
times by it for the cost per Service. Flatness = cost at 100,000 (1,000,000) / cost at 1,000.

Run: ``.venv/bin/python -m pytest bench/bench_cluster.py --benchmark-only``; on a shared, loaded
machine add ``--benchmark-timer=time.process_time`` (CPU time of this process only).
"""
from __future__ import annotations

import gc
import itertools
import os
from typing import Dict, List

import pytest

from fastcidr.k8s.cluster import Cluster

BATCH = 1_000
SIZES = [1_000, 100_000] + ([1_000_000] if os.environ.get("FASTCIDR_BENCH_BIG") else [])
_clusters: Dict[int, Cluster] = {}
_names = itertools.count()


def _cluster(n: int) -> Cluster:
    """A Cluster on 10.0.0.0/8 that holds ``n`` Services (built once per size)."""
    c = _clusters.get(n)
    if c is None:
        for other in list(_clusters):  # one big state alive at a time
            _clusters.pop(other).close()
        gc.collect()
        c = Cluster("10.0.0.0/8", seed=1)
        for start in range(0, n, 100_000):
            c.create_services([{"name": f"pre-{i}", "namespace": "fill"}
                               for i in range(start, min(n, start + 100_000))])
        _clusters[n] = c
    return c


def _fresh_names() -> List[str]:
    return [f"svc-{next(_names)}" for _ in range(BATCH)]


@pytest.mark.parametrize("n", SIZES)
def bench_create_service_fastcidr(benchmark, n):
    """One ``create_service`` call per Service (the Service and its IPAddress in one commit)."""
    c = _cluster(n)
    benchmark.group = "Cluster.create_service, memory store, 1000 per round"
    benchmark.extra_info["ops"] = BATCH
    benchmark.extra_info["services_before"] = n

    def run(names: List[str]) -> None:
        create = c.create_service
        for name in names:
            create(name)

    benchmark.pedantic(run, setup=lambda: ((_fresh_names(),), {}), rounds=15, warmup_rounds=1)


@pytest.mark.parametrize("n", SIZES)
def bench_create_services_fastcidr(benchmark, n):
    """One ``create_services`` call of 1,000 specs (one transaction)."""
    c = _cluster(n)
    benchmark.group = "Cluster.create_services, memory store, 1000 per call"
    benchmark.extra_info["ops"] = BATCH
    benchmark.extra_info["services_before"] = n

    def run(specs: List[dict]) -> None:
        c.create_services(specs)

    benchmark.pedantic(run, setup=lambda: (([{"name": name} for name in _fresh_names()],), {}),
                       rounds=15, warmup_rounds=1)


# ------------------------------------------------------------------------------------------------
# import of a kubectl dump (docs/observability.md "Import"): the streaming reader, the objects read
# once, the batched writes, the rebuild and repair, per object. scripts/import_scale.py measures the
# whole command (100,000 Services, wall time and peak RSS) in a subprocess.

IMPORT_SERVICES = 10_000


@pytest.fixture(scope="module")
def dump_text() -> str:
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import import_scale

    return json.dumps(import_scale.dump(IMPORT_SERVICES), indent=4)


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def bench_import_fastcidr(benchmark, dump_text, tmp_path, store):
    """``Cluster.import_objects`` of a 10,000-Service dump read from its text (20,003 objects)."""
    import io

    from fastcidr.k8s.importer import flatten_lists, iter_json_documents

    benchmark.group = "Cluster.import_objects, 10,000-Service kubectl dump, per round"
    benchmark.extra_info["ops"] = 2 * (IMPORT_SERVICES + 1) + 1
    rounds = itertools.count()

    def setup():
        url = None if store == "memory" else str(tmp_path / f"import-{next(rounds)}.db")
        return (Cluster(store=url),), {}

    def run(cluster: Cluster) -> None:
        with cluster:
            cluster.import_objects(flatten_lists(iter_json_documents(io.StringIO(dump_text))))

    benchmark.pedantic(run, setup=setup, rounds=5, warmup_rounds=1)
