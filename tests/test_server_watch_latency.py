"""A watch sends its headers at once: the real kubectl's ``wait`` and ``get -w`` against a
``fastcidr serve`` subprocess return when they should, not ~30 s later (before the fix the
response headers sat in the server's write buffer until the first event or the end of the watch).
Both backends (``FASTCIDR_PURE`` in the server's environment). The bounds are generous: the
machine is shared; what they catch is a wait of tens of seconds.
"""
from __future__ import annotations

import subprocess
import time

import pytest

from tests.serve_process import ServeProcess
from tests.test_server_kubectl import Kubectl

pytestmark = [pytest.mark.kubectl]


@pytest.fixture(params=[False, True], ids=["compiled", "pure"])
def kubectl(request, tmp_path):
    server = ServeProcess(tmp_path, pure=request.param)
    try:
        yield Kubectl(server.kubeconfig, tmp_path / "kube-cache")
    finally:
        server.stop()


def _timed(kubectl: Kubectl, *args: str) -> "tuple[float, subprocess.CompletedProcess]":
    kubectl.ok("get", "servicecidr", "kubernetes", "-o", "name")  # discovery cached: not timed
    started = time.monotonic()
    result = kubectl.run(*args, timeout=60)
    return time.monotonic() - started, result


def test_wait_for_a_condition_that_holds_returns_at_once(kubectl):
    elapsed, result = _timed(kubectl, "wait", "--for=condition=Ready", "servicecidr/kubernetes",
                             "--timeout=5s")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "servicecidr.networking.k8s.io/kubernetes condition met"
    assert elapsed < 3.0, elapsed


def test_wait_honours_its_timeout(kubectl):
    elapsed, result = _timed(kubectl, "wait", "--for=condition=NeverTrue", "servicecidr/kubernetes",
                             "--timeout=2s")
    assert result.returncode != 0
    assert "timed out" in result.stderr, result.stderr
    assert 1.5 <= elapsed < 8.0, elapsed


def test_get_watch_honours_the_request_timeout(kubectl):
    elapsed, result = _timed(kubectl, "get", "servicecidr", "-w", "--request-timeout=2s")
    assert result.stdout.splitlines()[0].split()[:2] == ["NAME", "CIDRS"], result.stdout
    assert "kubernetes" in result.stdout
    assert elapsed < 8.0, elapsed
