"""The Kubernetes layer on durable stores, across real processes: restart, concurrent writers on
SQLite and etcd, ``kill -9`` during an allocation storm, ServiceCIDR deletion released across processes.

Every test runs on both backends (the children use the same backend as the test)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List

import pytest

from fastcidr.errors import NotFoundError
from tests.helpers import child_env, drain, read_acks
from tests.servers import EtcdServer


CHILD = textwrap.dedent("""
    import json, sys
    from fastcidr import Cluster
    cmd = json.loads(sys.argv[1])
    cluster = Cluster(cmd.get("range"), store=cmd["store"], seed=cmd.get("seed"))
    out = {}
    action = cmd["action"]
    if action == "create":
        prefix, n, batch = cmd["prefix"], cmd["n"], cmd.get("batch", 1)
        i = 0
        while i < n:
            if batch == 1 or i % 2 == 0:
                svc = cluster.create_service(f"{prefix}-{i}")
                out[svc.name] = svc.cluster_ip
                i += 1
            else:
                specs = [{"name": f"{prefix}-{j}"} for j in range(i, min(n, i + batch))]
                for svc in cluster.create_services(specs):
                    out[svc.name] = svc.cluster_ip
                i += len(specs)
    elif action == "storm":
        i = 0
        while True:
            svc = cluster.create_service(f"{cmd['prefix']}-{i}")
            sys.stdout.write(svc.name + "\\n")
            sys.stdout.flush()
            i += 1
    elif action == "setup":
        for name, cidrs in cmd.get("cidrs", {}).items():
            cluster.create_service_cidr(name, cidrs)
        for spec in cmd.get("services", []):
            svc = cluster.create_service(**spec)
            out[svc.name] = svc.cluster_ip
    elif action == "delete_service":
        cluster.delete_service(cmd["name"])
        out = {sc.name: sc.cidrs for sc in cluster.list_service_cidrs()}
    elif action == "delete_cidr":
        sc = cluster.delete_service_cidr(cmd["name"])
        out = {"terminating": sc is not None}
    cluster.close()
    print(json.dumps(out))
""")


def spawn(backend: str, **cmd: Any) -> "subprocess.Popen[bytes]":
    return subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(cmd)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=child_env(backend))


def collect(procs: "List[subprocess.Popen[bytes]]") -> Dict[str, Any]:
    """The children's JSON answers merged, once each has exited cleanly."""
    results: Dict[str, Any] = {}
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()[-3000:]
        results.update(json.loads(out))
    return results


def run(backend: str, **cmd: Any) -> Dict[str, Any]:
    return collect([spawn(backend, **cmd)])


def check_consistent(cluster: Any) -> Dict[str, str]:
    """Every Service has exactly one IPAddress pointing back at it; no address twice. Returns
    {namespace/name: clusterIP}."""
    services = {f"{s.namespace}/{s.name}": s.cluster_ip for s in cluster.list_services()}
    ips = cluster.list_ip_addresses()
    assert len(set(services.values())) == len(services), "an address is held by two Services"
    owners = {ip.name: f"{ip.parent_ref.namespace}/{ip.parent_ref.name}" for ip in ips}
    assert len(owners) == len(ips)
    for key, ip in services.items():
        assert owners.get(ip) == key, f"{key} ({ip}) has no IPAddress pointing at it"
    per_service = Counter(owners.values())
    assert all(n == 1 for n in per_service.values())
    assert set(per_service) == set(services), "an IPAddress without its Service"
    return services


@pytest.fixture(params=["sqlite", "etcd"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return "sqlite:///" + str(tmp_path / "cluster.db")
    server: EtcdServer = request.getfixturevalue("etcd_server")
    return server.url(request.getfixturevalue("etcd_prefix"))


def test_restart_in_a_new_process_keeps_everything(fc: Any, store_url: str) -> None:
    created = run(fc.backend_name, action="setup", store=store_url, range="10.96.0.0/16", seed=7,
                  cidrs={"extra": ["10.100.0.0/24"]},
                  services=[{"name": f"s{i}"} for i in range(20)]
                  + [{"name": "pinned", "cluster_ip": "10.100.0.9"}])
    more = run(fc.backend_name, action="create", store=store_url, prefix="m", n=20, batch=5)
    with fc.Cluster(store=store_url) as cluster:
        assert cluster.service_cluster_ip_range == ["10.96.0.0/16"]
        assert {sc.name for sc in cluster.list_service_cidrs()} == {"kubernetes", "extra"}
        services = check_consistent(cluster)
        expected = {f"default/{k}": v for k, v in {**created, **more}.items()}
        expected["default/kubernetes"] = "10.96.0.1"
        assert services == expected
        assert not [e for e in cluster.repair() if e.type == "Warning"]
        # the rebuilt index knows every address: new ones never collide
        fresh = cluster.create_services([{"name": f"n{i}"} for i in range(30)])
        assert not {s.cluster_ip for s in fresh} & set(services.values())
        check_consistent(cluster)


@pytest.mark.slow
def test_four_processes_on_one_sqlite_file(fc: Any, tmp_path: Path) -> None:
    url = "sqlite:///" + str(tmp_path / "shared.db")
    with fc.Cluster("10.96.0.0/20", store=url) as watcher:
        procs = [spawn(fc.backend_name, action="create", store=url, prefix=f"p{p}", n=300, batch=25)
                 for p in range(4)]
        results = collect(procs)
        assert len(results) == 1200
        assert len(set(results.values())) == 1200, "an address was allocated twice"
        # a Cluster that was open all along catches up
        services = check_consistent(watcher)
        assert len(services) == 1201 and len(watcher.list_ip_addresses()) == 1201
        assert {k[len("default/"):]: v for k, v in services.items() if k != "default/kubernetes"} == results
        stats = watcher.metrics()
        assert stats is not None


@pytest.mark.slow
def test_two_processes_on_one_etcd(fc: Any, etcd_server: EtcdServer, etcd_prefix: str) -> None:
    url = etcd_server.url(etcd_prefix)
    with fc.Cluster("10.96.0.0/24", store=url) as watcher:
        procs = [spawn(fc.backend_name, action="create", store=url, prefix=f"e{p}", n=60, batch=10)
                 for p in range(2)]
        results = collect(procs)
        assert len(results) == 120 and len(set(results.values())) == 120
        services = check_consistent(watcher)
        assert len(services) == 121 and len(watcher.list_ip_addresses()) == 121


@pytest.mark.slow
def test_kill_9_during_an_allocation_storm(fc: Any, store_url: str) -> None:
    run(fc.backend_name, action="setup", store=store_url, range="10.96.0.0/16")
    acked: List[str] = []
    for round_ in range(2):
        procs = [spawn(fc.backend_name, action="storm", store=store_url, prefix=f"r{round_}w{w}") for w in range(2)]
        try:
            for proc in procs:
                read_acks(proc, acked, 60, timeout=120)
        finally:
            for proc in procs:
                proc.kill()  # SIGKILL
        for proc in procs:
            rest, err = drain(proc)
            acked.extend(rest.decode().split())
            assert proc.returncode == -signal.SIGKILL, err.decode()[-3000:]
    assert all(name.startswith("r") for name in acked), [n for n in acked if not n.startswith("r")]
    assert len(acked) >= 240
    with fc.Cluster(store=store_url) as cluster:
        cluster.repair()
        services = check_consistent(cluster)
        missing = {f"default/{name}" for name in acked} - set(services)
        assert not missing, f"acknowledged but lost: {sorted(missing)[:5]}"


def test_service_cidr_deletion_released_across_processes(fc: Any, etcd_server: EtcdServer,
                                                         etcd_prefix: str) -> None:
    url = etcd_server.url(etcd_prefix)
    with fc.Cluster("10.96.0.0/16", store=url) as here:
        here.create_service_cidr("extra", ["10.100.0.0/24"])
        # another process allocates from it
        run(fc.backend_name, action="setup", store=url, services=[{"name": "b1", "cluster_ip": "10.100.0.10"}])
        # deleting here is blocked by the other process's address
        assert here.delete_service_cidr("extra") is not None
        assert [ip.name for ip in here.blocking_ip_addresses("extra")] == ["10.100.0.10"]
        assert here.get_service_cidr("extra").terminating
        # the other process deletes its Service: the ServiceCIDR is gone when that returns
        left = run(fc.backend_name, action="delete_service", store=url, name="b1")
        assert "extra" not in left
        with pytest.raises(NotFoundError):
            here.get_service_cidr("extra")
        assert "extra" not in {sc.name for sc in here.list_service_cidrs()}
        # and the other way round: the deletion is asked elsewhere, released here
        here.create_service_cidr("extra2", ["10.101.0.0/24"])
        here.create_service("held", cluster_ip="10.101.0.7")
        assert run(fc.backend_name, action="delete_cidr", store=url, name="extra2") == {"terminating": True}
        assert here.get_service_cidr("extra2").terminating
        here.delete_service("held")
        with pytest.raises(NotFoundError):
            here.get_service_cidr("extra2")
        check_consistent(here)


@pytest.mark.parametrize("content", ["random", "foreign", "truncated"])
def test_cluster_refuses_a_file_that_is_not_its_database(fc: Any, tmp_path: Path, content: str) -> None:
    import hashlib
    import sqlite3

    from fastcidr.errors import StoreError

    path = tmp_path / "state.db"
    if content == "random":
        path.write_bytes(os.urandom(10_000))
    elif content == "foreign":
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE notes (body TEXT)")
        con.commit()
        con.close()
    else:
        with fc.Cluster("10.96.0.0/16", store=str(path)) as cluster:
            cluster.create_services([{"name": f"s{i}"} for i in range(300)])
        path.write_bytes(path.read_bytes()[:5000])
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    for store in (str(path), "sqlite:///" + str(path)):
        with pytest.raises(StoreError) as info:
            fc.Cluster("10.96.0.0/16", store=store)
        assert str(path) in str(info.value)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_new_store_in_a_new_directory(fc: Any, tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "state.db"
    with fc.Cluster("10.96.0.0/16", store=str(path)) as cluster:
        cluster.create_service("x")
    with fc.Cluster(store=str(path)) as cluster:
        assert cluster.get_service("x").cluster_ip
