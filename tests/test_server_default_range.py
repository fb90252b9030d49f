"""``fastcidr serve`` without ``--service-cluster-ip-range``: on a store that holds no range it
uses kube-apiserver's default (10.0.0.0/24), so Services get addresses; a store that holds a
range keeps it. Real server subprocesses, both backends."""
from __future__ import annotations

import ipaddress
import subprocess
import sys

import pytest

from tests.helpers import service
from tests.serve_process import ServeProcess, serve_env

SERVICES = "/api/v1/namespaces/default/services"
CIDRS = "/apis/networking.k8s.io/v1/servicecidrs"


@pytest.mark.parametrize("pure", [False, True], ids=["compiled", "pure"])
def test_no_range_anywhere_means_kube_apiservers_default(tmp_path, pure):
    server = ServeProcess(tmp_path, pure=pure, cidr=None)
    try:
        code, _, body = server.request("POST", SERVICES, service("web"))
        assert code == 201, body
        assert ipaddress.ip_address(body["spec"]["clusterIP"]) in ipaddress.ip_network("10.0.0.0/24")
        code, _, body = server.request("GET", CIDRS + "/kubernetes")
        assert code == 200 and body["spec"]["cidrs"] == ["10.0.0.0/24"]
    finally:
        stderr = server.stop()
    assert "using kube-apiserver's default 10.0.0.0/24" in stderr


@pytest.mark.parametrize("pure", [False, True], ids=["compiled", "pure"])
def test_a_store_with_a_range_keeps_it(tmp_path, pure):
    path = tmp_path / "state.db"
    init = subprocess.run([sys.executable, "-m", "fastcidr", "--store", str(path), "init",
                           "--service-cluster-ip-range", "10.50.0.0/24"],
                          capture_output=True, text=True, timeout=60, env=serve_env(pure))
    assert init.returncode == 0, init.stderr
    server = ServeProcess(tmp_path, "--store", str(path), pure=pure, cidr=None)
    try:
        code, _, body = server.request("POST", SERVICES, service("web"))
        assert code == 201, body
        assert ipaddress.ip_address(body["spec"]["clusterIP"]) in ipaddress.ip_network("10.50.0.0/24")
    finally:
        stderr = server.stop()
    assert "default 10.0.0.0/24" not in stderr
