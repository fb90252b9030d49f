"""The ``fastcidr.testing`` pytest plugin (docs/testing.md), run the way a user runs it: a test
file of theirs in a fresh pytest (``pytester``), with the plugin enabled by ``-p``.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture
def user_pytest(pytester, monkeypatch):
    # the inner pytest runs in its own directory: the tree under test must stay importable
    monkeypatch.setenv("PYTHONPATH", SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def run(source: str, *args: str):
        pytester.makepyfile(test_user=source)
        return pytester.runpytest_subprocess("-p", "fastcidr.testing", "-p", "no:cacheprovider", *args)

    return run


def test_fastcidr_server_gives_url_kubeconfig_and_clients(user_pytest):
    result = user_pytest('''
import yaml
from kubernetes import client

def test_server(fastcidr_server):
    assert fastcidr_server.url.startswith("http://127.0.0.1:")
    config = yaml.safe_load(open(fastcidr_server.kubeconfig))
    assert config["clusters"][0]["cluster"]["server"] == fastcidr_server.url
    core = client.CoreV1Api(fastcidr_server.client())
    svc = core.create_namespaced_service("default", client.V1Service(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1ServiceSpec(ports=[client.V1ServicePort(port=80)])))
    assert svc.spec.cluster_ip.startswith("10.96.")
    assert fastcidr_server.cluster.get_service("web").cluster_ip == svc.spec.cluster_ip
    assert fastcidr_server.env()["KUBECONFIG"] == fastcidr_server.kubeconfig

def test_lightkube(fastcidr_server):
    from lightkube.resources.core_v1 import Service
    names = [s.metadata.name for s in fastcidr_server.lightkube().list(Service, namespace="default")]
    assert names == ["kubernetes"]
''')
    result.assert_outcomes(passed=2)


def test_factory_subprocess_sqlite_survives_a_restart(user_pytest):
    result = user_pytest('''
from fastcidr.testing import start_server
from kubernetes import client

def test_subprocess(fastcidr_server_factory, tmp_path):
    server = fastcidr_server_factory(store="sqlite", mode="subprocess", repair_interval=5)
    assert server.mode == "subprocess" and server.cluster is None
    assert server.store_url.startswith("sqlite:///")
    core = client.CoreV1Api(server.client())
    ip = core.create_namespaced_service("default", client.V1Service(
        metadata=client.V1ObjectMeta(name="kept"),
        spec=client.V1ServiceSpec(ports=[client.V1ServicePort(port=80)]))).spec.cluster_ip
    server.stop()
    # the store outlives the server: a Cluster opened on it still holds the Service
    from fastcidr import Cluster
    with Cluster(store=server.store_url) as cluster:
        assert cluster.get_service("kept").cluster_ip == ip

def test_start_server_directly(tmp_path):
    with start_server(str(tmp_path), mode="thread") as server:
        assert (tmp_path / "kubeconfig").exists() and server.cluster is not None

def test_bad_arguments(fastcidr_server_factory):
    import pytest
    with pytest.raises(ValueError, match="store must be one of memory, sqlite"):
        fastcidr_server_factory(store="etcd")
    with pytest.raises(ValueError, match="mode must be one of thread, subprocess"):
        fastcidr_server_factory(mode="fork")
''')
    result.assert_outcomes(passed=3)


def test_servers_stop_at_teardown(user_pytest):
    result = user_pytest('''
import socket
import pytest

PORTS = []

def test_start(fastcidr_server_factory):
    for mode in ("thread", "subprocess"):
        server = fastcidr_server_factory(mode=mode)
        PORTS.append(int(server.url.rsplit(":", 1)[1]))

def test_stopped_after():
    for port in PORTS:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
''')
    result.assert_outcomes(passed=2)


def test_the_plugin_changes_nothing_for_tests_that_do_not_ask(user_pytest):
    result = user_pytest('''
import threading

def test_plain():
    assert not [t for t in threading.enumerate() if t.name.startswith("fastcidr")]
''')
    result.assert_outcomes(passed=1)
    listing = user_pytest("def test_nothing(): pass", "--fixtures").stdout.str()
    assert "fastcidr_server_factory" in listing and "fastcidr_server" in listing
