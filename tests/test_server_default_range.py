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
    assert "no service cluster IP range given and none in the store: using 10.0.0.0/24" in stderr


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
    assert "using 10.0.0.0/24" not in stderr


def test_the_library_default_range_applies_only_where_nothing_is_held(fc, caplog):
    """``Cluster(default_range=...)``: recorded (with a warning) when neither the argument nor the
    store holds a range; never over a held range or an imported ``kubernetes`` ServiceCIDR."""
    from fastcidr.errors import ValidationError
    from fastcidr.store import MemoryStore

    with caplog.at_level("WARNING", logger="fastcidr"):
        with fc.Cluster(default_range="10.0.0.0/24") as fresh:
            assert fresh.service_cluster_ip_range == ["10.0.0.0/24"]
            assert fresh.create_service("web").cluster_ip.startswith("10.0.0.")
    assert "none in the store: using 10.0.0.0/24" in caplog.text
    caplog.clear()
    store = MemoryStore(copy_values=False)
    fc.Cluster("10.5.0.0/24", store=store).close()
    with caplog.at_level("WARNING", logger="fastcidr"):
        with fc.Cluster(store=store, default_range="10.0.0.0/24") as held:
            assert held.service_cluster_ip_range == ["10.5.0.0/24"]
        with fc.Cluster("fd00::/120", default_range="10.0.0.0/24") as given:
            assert given.service_cluster_ip_range == ["fd00::/120"]
    assert "using 10.0.0.0/24" not in caplog.text
    with pytest.raises(ValidationError):
        fc.Cluster(default_range="10.0.0.0/33")
