"""``fastcidr serve`` on durable stores: two servers on one SQLite file (or one etcd prefix)
agree, and a watch on one carries the other's writes. Also HTTPS with a given certificate."""
from __future__ import annotations

import http.client
import json
import shutil
import ssl
import subprocess
from typing import Any, Tuple

import pytest

from tests.test_server_http import CIDRS, SERVICES, TABLE_ACCEPT, watch_in_background


def _request(server: Any, method: str, path: str, body: Any = None,
             accept: str = "application/json") -> Tuple[int, Any]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        headers = {"Accept": accept}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def _two_servers_agree(fc: Any, store_a: Any, store_b: Any) -> None:
    cluster_a = fc.Cluster("10.96.0.0/24", store=store_a)
    cluster_b = fc.Cluster(store=store_b)
    a, b = fc.serve(cluster_a), fc.serve(cluster_b)
    try:
        rv = _request(b, "GET", CIDRS)[1]["metadata"]["resourceVersion"]
        watcher, events = watch_in_background(
            b, f"/apis/networking.k8s.io/v1/ipaddresses?watch=true&resourceVersion={rv}"
               "&timeoutSeconds=20", count=1, timeout=30)
        code, svc = _request(a, "POST", SERVICES, {"metadata": {"name": "shared"},
                                                    "spec": {"ports": [{"port": 80}]}})
        assert code == 201, svc
        ip = svc["spec"]["clusterIP"]
        code, seen = _request(b, "GET", SERVICES + "/shared")
        assert code == 200 and seen["spec"]["clusterIP"] == ip
        assert seen["metadata"]["uid"] == svc["metadata"]["uid"]
        code, taken = _request(b, "POST", SERVICES, {"metadata": {"name": "other"},
                                                      "spec": {"clusterIP": ip}})
        assert code == 422 and taken["reason"] == "Invalid"
        watcher.join(30)
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", ip)]
        # a ServiceCIDR deletion blocked on one server is seen, and finished, through the other
        _request(a, "POST", CIDRS, {"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR",
                                    "metadata": {"name": "extra"}, "spec": {"cidrs": ["10.97.0.0/24"]}})
        code, table = _request(b, "GET", CIDRS, accept=TABLE_ACCEPT)
        assert [r["cells"][:2] for r in table["rows"]] == [["extra", "10.97.0.0/24"],
                                                            ["kubernetes", "10.96.0.0/24"]]
        assert _request(b, "DELETE", CIDRS + "/extra")[0] == 200
        assert _request(a, "GET", CIDRS + "/extra")[0] == 404
        # namespaces created through one server exist for the other
        code, ns = _request(a, "POST", "/api/v1/namespaces", {"metadata": {"name": "team-a"}})
        assert code == 201, ns
        assert _request(b, "GET", "/api/v1/namespaces/team-a")[1]["metadata"]["uid"] == ns["metadata"]["uid"]
        assert _request(b, "DELETE", "/api/v1/namespaces/team-a")[0] == 200
        assert _request(a, "GET", "/api/v1/namespaces/team-a")[0] == 404
    finally:
        a.close()
        b.close()
        cluster_a.close()
        cluster_b.close()


def test_two_servers_on_one_sqlite_file(fc, tmp_path):
    path = f"sqlite:///{tmp_path / 'shared.db'}"
    _two_servers_agree(fc, path, path)


@pytest.mark.etcd
def test_two_servers_on_one_etcd_prefix(fc, etcd_server, etcd_prefix):
    url = etcd_server.url(etcd_prefix)
    _two_servers_agree(fc, url, url)


def _self_signed(tmp_path: Any) -> Tuple[str, str]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is needed to make a test certificate")
    cert, key = str(tmp_path / "tls.crt"), str(tmp_path / "tls.key")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def test_tls_serving_and_kubeconfig_ca(fc, tmp_path):
    cert, key = _self_signed(tmp_path)
    cluster = fc.Cluster("10.96.0.0/28")
    server = fc.serve(cluster, tls_cert=cert, tls_key=key)
    try:
        assert server.url.startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cafile=cert)
        conn = http.client.HTTPSConnection(server.host, server.port, context=context, timeout=30)
        conn.request("GET", CIDRS + "/kubernetes", headers={"Accept": "application/json"})
        response = conn.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["spec"]["cidrs"] == ["10.96.0.0/28"]
        conn.close()
        from kubernetes import client as k8s_client
        from kubernetes import config as k8s_config

        api_client = k8s_config.new_client_from_config(
            config_file=server.kubeconfig(str(tmp_path / "kc")))
        try:
            names = [c.metadata.name for c in k8s_client.NetworkingV1Api(api_client).list_service_cidr().items]
        finally:
            api_client.close()
        assert names == ["kubernetes"]
    finally:
        server.close()
        cluster.close()
