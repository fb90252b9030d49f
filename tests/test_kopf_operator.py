"""A real kopf operator (tests/operators/service_tracker.py) run with ``kopf run`` against a
``fastcidr serve`` subprocess: its create, update and delete handlers run, its finalizer holds a
deleted Service (with ``deletionTimestamp``, keeping its ClusterIP) until the delete handler has
run, and its events are posted through core/v1 (docs/testing.md).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from fastcidr.testing import stop_child
from tests.serve_process import SRC
from tests.test_server_controllers import api_client, serve, wait_for  # noqa: F401

kopf = pytest.importorskip("kopf")
from kubernetes import client as k8s_client  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402

OPERATOR = Path(__file__).resolve().parent / "operators" / "service_tracker.py"
FINALIZER = "tracker.example.com/finalizer"
HANDLER_WAIT = 60.0


@pytest.fixture
def operator(serve, tmp_path) -> Iterator[Any]:
    server = serve("--kubernetes-service-interval", "1")
    out = tmp_path / "tracker"
    out.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE") and "proxy" not in k.lower()}
    env.update(KUBECONFIG=str(server.kubeconfig), TRACKER_DIR=str(out), HOME=str(tmp_path),
               PYTHONPATH=SRC + os.pathsep + env.get("PYTHONPATH", ""))
    kopf_binary = shutil.which("kopf", path=os.path.dirname(sys.executable)) or shutil.which("kopf")
    command = [kopf_binary] if kopf_binary else [sys.executable, "-m", "kopf"]
    log = open(tmp_path / "kopf.log", "w+")
    proc = subprocess.Popen([*command, "run", "--standalone", "--namespace", "default", str(OPERATOR)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        yield server, out, proc, tmp_path / "kopf.log"
    finally:
        stop_child(proc, signal.SIGINT)
        log.close()


def _tracked(name: str) -> Any:
    return k8s_client.V1Service(
        metadata=k8s_client.V1ObjectMeta(name=name, labels={"tracked": "yes"}),
        spec=k8s_client.V1ServiceSpec(ports=[k8s_client.V1ServicePort(port=80)]))


def test_kopf_handlers_run_and_the_finalizer_holds_deletion(operator):
    server, out, proc, log = operator

    def file(name: str) -> Any:
        path = out / name
        if proc.poll() is not None:
            raise AssertionError(f"kopf exited: {log.read_text()}")
        return path.exists() and path.read_text()

    with api_client(server) as api:
        core = k8s_client.CoreV1Api(api)
        ip = core.create_namespaced_service("default", _tracked("web")).spec.cluster_ip
        assert wait_for(lambda: file("created-web"), HANDLER_WAIT, "the create handler") == ip
        # kopf put its finalizer on the Service, and the Service kept it
        svc = wait_for(lambda: (lambda s: s if FINALIZER in (s.metadata.finalizers or []) else None)(
            core.read_namespaced_service("web", "default")), 20, "kopf's finalizer")
        assert svc.spec.cluster_ip == ip

        core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"color": "blue"}}})
        assert "color" in wait_for(lambda: file("updated-web"), HANDLER_WAIT, "the update handler")

        core.delete_namespaced_service("web", "default")
        stamp = wait_for(lambda: file("deleted-web"), HANDLER_WAIT, "the delete handler")
        assert stamp and stamp != "None"  # the handler saw the Service marked for deletion

        def gone() -> bool:
            try:
                core.read_namespaced_service("web", "default")
            except ApiException as exc:
                assert exc.status == 404
                return True
            return False

        wait_for(gone, 30, "the Service to go once the finalizer is removed")
        assert ip not in [i.metadata.name for i in k8s_client.NetworkingV1Api(api).list_ip_address().items]
        # kopf posted its event through core/v1
        events = wait_for(lambda: [e for e in core.list_namespaced_event(
            "default", field_selector="involvedObject.name=web,reason=Tracked").items], 20, "kopf's event")
    assert events[0].message == f"tracking web at {ip}" and events[0].source.component == "kopf"
    assert events[0].involved_object.kind == "Service" and events[0].type == "Normal"


def test_a_foreign_finalizer_keeps_a_deleted_service_and_its_address(serve):
    server = serve()
    with api_client(server) as api:
        core = k8s_client.CoreV1Api(api)
        body = _tracked("held")
        body.metadata.finalizers = ["example.com/hold"]
        ip = core.create_namespaced_service("default", body).spec.cluster_ip
        core.delete_namespaced_service("held", "default")
        held = core.read_namespaced_service("held", "default")
        assert held.metadata.deletion_timestamp is not None and held.spec.cluster_ip == ip
        with pytest.raises(ApiException) as taken:
            core.create_namespaced_service("default", k8s_client.V1Service(
                metadata=k8s_client.V1ObjectMeta(name="thief"),
                spec=k8s_client.V1ServiceSpec(cluster_ip=ip, ports=[k8s_client.V1ServicePort(port=80)])))
        assert taken.value.status == 422
        core.patch_namespaced_service("held", "default", {"metadata": {"finalizers": None}})

        def gone() -> bool:
            try:
                core.read_namespaced_service("held", "default")
            except ApiException as exc:
                return exc.status == 404
            return False

        wait_for(gone, 20, "the Service to go with its last finalizer")
