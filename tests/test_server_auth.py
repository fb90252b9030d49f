"""No stranger gets in (docs/serve.md, "Limits and security"): foreign Host headers, cross-origin
browser writes, remote listening only with ``--allow-remote`` and then only with the token (or a
client certificate), TLS used by the real kubectl without a prompt, and 500s that tell the client
nothing about the server's files or code. Against ``fastcidr serve`` subprocesses on both
backends, plus the in-process server for the 500 path.
"""
from __future__ import annotations

import http.client
import json
import ssl
import subprocess
import sys

import pytest

from fastcidr import errors
from tests.helpers import service
from tests.serve_process import ServeProcess, parse_response, serve_env
from tests.servers import TLSFiles
from tests.test_server_kubectl import Kubectl

SERVICES = "/api/v1/namespaces/default/services"
CIDRS = "/apis/networking.k8s.io/v1/servicecidrs"


@pytest.fixture(params=[False, True], ids=["compiled", "pure"])
def pure(request):
    return request.param


@pytest.fixture
def server(pure, tmp_path):
    process = ServeProcess(tmp_path, "--allow-host", "fastcidr.test", pure=pure)
    try:
        yield process
    finally:
        process.stop()


def _host(server: ServeProcess, host: str, method: str = "GET", path: str = CIDRS,
          body: bytes = b"") -> tuple:
    extra = b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body) if body else b""
    return parse_response(server.raw(b"%s %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n%s"
                                     % (method.encode(), path.encode(), host.encode(), extra, body)))


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.nip.io:{port}",
                                  "localhost.evil.example", "[::2]:{port}", "10.0.0.1:{port}", ""])
def test_a_foreign_host_is_403(server, host):
    before = server.state()
    header = host.format(port=server.port)
    for method, body in (("GET", b""), ("POST", json.dumps({"metadata": {"name": "rebound"}}).encode())):
        path = CIDRS if method == "GET" else SERVICES
        code, _, reply = _host(server, header, method, path, body)
        assert code == 403, (header, reply)
        status = json.loads(reply)
        assert status["kind"] == "Status" and status["reason"] == "Forbidden"
    assert server.state() == before


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST", "[::1]:{port}",
                                  "127.0.0.1", "fastcidr.test:{port}"])
def test_the_server_own_names_are_accepted(server, host):
    code, _, reply = _host(server, host.format(port=server.port))
    assert code == 200, reply


def test_a_cross_origin_text_plain_post_is_refused(server):
    before = server.state()
    body = json.dumps({"apiVersion": "v1", "kind": "Service", **service("drive-by")})
    for origin in ("http://evil.example", "null", f"http://127.0.0.1:{server.port + 1}",
                   "https://127.0.0.1", "file://"):
        for content_type in ("text/plain", "application/json"):
            code, _, reply = server.request("POST", SERVICES, body.encode(), content_type=content_type,
                                            headers={"Origin": origin})
            assert code == 403, (origin, content_type, reply)
            assert reply["reason"] == "Forbidden"
    # and without an Origin (not a browser), text/plain still is no JSON
    assert server.request("POST", SERVICES, body.encode(), content_type="text/plain")[0] == 415
    # a browser page loaded from the server itself may write
    code, _, _ = server.request("POST", SERVICES, body.encode(),
                                headers={"Origin": f"http://127.0.0.1:{server.port}"})
    assert code == 201
    assert server.request("DELETE", SERVICES + "/drive-by",
                          headers={"Origin": "http://evil.example"})[0] == 403
    assert server.request("DELETE", SERVICES + "/drive-by")[0] == 200
    assert server.state() == before or server.state()[2] == before[2]


def test_loopback_needs_no_credentials_but_checks_a_presented_token(server):
    assert server.token is None
    assert server.request("GET", CIDRS)[0] == 200
    assert server.request("GET", CIDRS, token="guessed")[0] == 401
    assert server.request("GET", CIDRS, headers={"Authorization": "Basic YWRtaW46YWRtaW4="})[0] == 401


def test_a_non_loopback_address_needs_allow_remote(pure, tmp_path):
    result = subprocess.run([sys.executable, "-m", "fastcidr", "serve", "--store", "memory:",
                             "--address", "0.0.0.0", "--port", "0"],
                            capture_output=True, text=True, timeout=60, env=serve_env(pure))
    assert result.returncode == 1
    assert "--allow-remote" in result.stderr and "Traceback" not in result.stderr


def test_remote_mode_requires_the_generated_token(pure, tmp_path):
    server = ServeProcess(tmp_path, "--address", "0.0.0.0", "--allow-remote", pure=pure)
    try:
        assert server.token and len(server.token) >= 40
        before = server.state()
        # a first character that differs from the real one (the token is random: it may begin with "x")
        wrong_first = ("y" if server.token[0] == "x" else "x") + server.token[1:]
        for token in ("", wrong_first, server.token + "x", server.token[:-1]):
            code, headers, body = server.request(
                "POST", SERVICES, service("intruder"),
                headers={"Authorization": f"Bearer {token}"} if token else {"Authorization": ""},
                token="")
            assert code == 401, (token, body)
            assert body["kind"] == "Status" and body["reason"] == "Unauthorized"
        assert server.state() == before
        # the probes and the version stay public, as kube-apiserver serves them to anyone
        for path in ("/healthz", "/readyz", "/livez", "/version"):
            assert server.request("GET", path, token="")[0] == 200
        assert server.request("GET", "/api", token="")[0] == 401
        # any of the machine's addresses may be the Host; a name still must be allowed
        assert server.request("GET", CIDRS, headers={"Host": f"10.1.2.3:{server.port}"})[0] == 200
        assert server.request("GET", CIDRS, headers={"Host": "evil.example"})[0] == 403
        # the official Python client uses the kubeconfig's token as it is (kubectl sends a
        # token only over HTTPS: see the TLS test below)
        from kubernetes import client as k8s_client
        from kubernetes import config as k8s_config

        api_client = k8s_config.new_client_from_config(config_file=str(server.kubeconfig))
        try:
            names = [c.metadata.name
                     for c in k8s_client.NetworkingV1Api(api_client).list_service_cidr().items]
        finally:
            api_client.close()
        assert names == ["kubernetes"]
    finally:
        err = server.stop()
    assert "--tls-cert" in err  # the warning that a token over plain HTTP is readable on the way


@pytest.mark.kubectl
def test_tls_kubeconfig_carries_a_token_and_kubectl_never_prompts(pure, tmp_path):
    tls = TLSFiles(tmp_path / "pki")
    server = ServeProcess(tmp_path, "--tls-cert", tls.server_cert, "--tls-key", tls.server_key,
                          pure=pure)
    try:
        assert server.url.startswith("https://127.0.0.1:")
        assert server.token
        kubectl = Kubectl(server.kubeconfig, tmp_path / "cache")
        # stdin closed: a prompt would fail the command rather than hang it
        result = subprocess.run(kubectl.args("get", "servicecidr"), stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=60, env=kubectl.env)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[0].split() == ["NAME", "CIDRS", "AGE"]
        assert "Username" not in result.stderr and "Password" not in result.stderr
        assert kubectl.ok("create", "service", "clusterip", "over-tls", "--tcp", "80") == [
            "service/over-tls created"]
        context = ssl.create_default_context(cafile=tls.ca)
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=20)
        conn.request("GET", CIDRS, headers={"Authorization": "Bearer wrong"})
        assert conn.getresponse().status == 401
        conn.close()
    finally:
        server.stop()


@pytest.mark.kubectl
def test_remote_tls_with_token_or_client_certificate(pure, tmp_path):
    tls = TLSFiles(tmp_path / "pki")
    server = ServeProcess(tmp_path, "--address", "0.0.0.0", "--allow-remote",
                          "--tls-cert", tls.server_cert, "--tls-key", tls.server_key,
                          "--tls-client-ca", tls.ca, pure=pure)
    try:
        kubectl = Kubectl(server.kubeconfig, tmp_path / "cache")
        assert kubectl.ok("create", "service", "clusterip", "remote", "--tcp", "80") == [
            "service/remote created"]
        with_cert = ssl.create_default_context(cafile=tls.ca)
        with_cert.load_cert_chain(tls.client_cert, tls.client_key)
        without = ssl.create_default_context(cafile=tls.ca)
        for context, expected in ((with_cert, 200), (without, 401)):
            conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=20)
            conn.request("GET", CIDRS)
            assert conn.getresponse().status == expected
            conn.close()
    finally:
        server.stop()


# -- the 500 path --------------------------------------------------------------------------------


class _Broken:
    """A Cluster whose reads fail the way a bug or a damaged store would."""

    def __init__(self, cluster, exc):
        self._cluster, self._exc = cluster, exc

    def list_service_cidrs(self):
        raise self._exc

    def list(self, *args, **kwargs):  # the server lists every kind through the generic read
        raise self._exc

    def __getattr__(self, name):
        return getattr(self._cluster, name)


@pytest.mark.parametrize("exc", [
    KeyError("/home/someone/secret/state.db"),
    errors.StoreError("cannot read /var/lib/fastcidr/private/state.db: database disk image is malformed"),
])
def test_internal_errors_show_no_paths_or_exception_names(fc, exc, capsys):
    from fastcidr.server import ApiServer

    cluster = fc.Cluster("10.96.0.0/28")
    server = ApiServer(_Broken(cluster, exc))
    try:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=20)
        conn.request("GET", CIDRS)
        response = conn.getresponse()
        text = response.read().decode()
        conn.close()
        assert response.status == 500
        body = json.loads(text)
        assert body["kind"] == "Status" and body["reason"] == "InternalError"
        for secret in ("/home", "/var/lib", "someone", "private", "KeyError", "StoreError",
                       "Traceback"):
            assert secret not in text, text
    finally:
        server.close()
        cluster.close()
