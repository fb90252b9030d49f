"""What kubectl reaches for besides the objects (docs/serve.md "OpenAPI", "Authentication and
authorization reviews", "Namespaces"): ``kubectl explain`` (OpenAPI v3 schemas), a ``kind: List``
through ``kubectl apply`` (validated against ``/openapi/v2``), ``kubectl auth can-i`` / ``whoami``,
and ``kubectl label`` / ``annotate`` of Namespaces, against a ``fastcidr serve`` subprocess.
"""
from __future__ import annotations

import json

import pytest
import yaml

from fastcidr.server import openapi
from fastcidr.server.protobuf import iter_fields
from tests.test_server_controllers import api_client, kubectl, serve  # noqa: F401

from kubernetes import client as k8s_client  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402


def test_kubectl_explain_walks_the_v3_schemas(serve, tmp_path):
    server = serve()
    out = kubectl(server, tmp_path, "explain", "svc.spec.ports").stdout
    assert "KIND:       Service" in out and "FIELD: ports <[]ServicePort>" in out
    assert "port\t<integer>" in out and "protocol\t<string>" in out
    out = kubectl(server, tmp_path, "explain", "servicecidrs.spec").stdout
    assert "GROUP:      networking.k8s.io" in out and "cidrs\t<[]string>" in out
    out = kubectl(server, tmp_path, "explain", "ipaddress.spec.parentRef").stdout
    assert "FIELD: parentRef <ParentReference>" in out and "resource\t<string>" in out
    out = kubectl(server, tmp_path, "explain", "events.involvedObject").stdout
    assert "ObjectReference" in out


def test_a_list_round_trips_through_apply(serve, tmp_path):
    server = serve()
    kubectl(server, tmp_path, "create", "service", "clusterip", "web", "--tcp=80")
    listing = kubectl(server, tmp_path, "get", "svc,servicecidr,ipaddress,ns", "-o", "yaml").stdout
    assert yaml.safe_load(listing)["kind"] == "List"
    applied = kubectl(server, tmp_path, "apply", "-f", "-", stdin=listing).stdout
    assert "service/web configured" in applied and "servicecidr.networking.k8s.io/kubernetes" in applied
    # the validation is real: an unknown field in an item is refused before anything is sent
    bad = {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bad"},
         "spec": {"ports": [{"port": 80, "bogus": 1}]}}]}
    refused = kubectl(server, tmp_path, "apply", "-f", "-", stdin=json.dumps(bad), check=False)
    assert refused.returncode != 0
    assert 'unknown field "bogus" in io.k8s.api.core.v1.ServicePort' in refused.stderr
    assert kubectl(server, tmp_path, "get", "svc", "bad", check=False).returncode != 0


def test_openapi_v2_in_json_and_protobuf(serve):
    server = serve()
    code, headers, document = server.request("GET", "/openapi/v2")
    assert code == 200 and document["swagger"] == "2.0"
    service = document["definitions"]["io.k8s.api.core.v1.Service"]
    assert service["x-kubernetes-group-version-kind"] == [{"group": "", "kind": "Service", "version": "v1"}]
    assert service["properties"]["spec"] == {"$ref": "#/definitions/io.k8s.api.core.v1.ServiceSpec"}
    code, headers, raw = server.request("GET", "/openapi/v2", headers={"Accept": openapi.V2_PROTOBUF_TYPE})
    assert code == 200 and headers["content-type"] == openapi.V2_PROTOBUF_REPLY_TYPE
    fields = {number: value for number, _, value in iter_fields(raw)}
    assert fields[1] == b"2.0"
    names = [dict((n, v) for n, _, v in iter_fields(named))[1].decode()
             for _, _, named in iter_fields(fields[9])]
    assert sorted(names) == sorted(document["definitions"])


def test_openapi_v3_documents_carry_the_schemas(serve):
    server = serve()
    code, _, root = server.request("GET", "/openapi/v3")
    assert code == 200
    for path in ("api/v1", "apis/networking.k8s.io/v1", "apis/events.k8s.io/v1"):
        code, _, document = server.request("GET", root["paths"][path]["serverRelativeURL"])
        assert code == 200
        kinds = {gvk["kind"] for schema in document["components"]["schemas"].values()
                 for gvk in schema.get("x-kubernetes-group-version-kind", [])}
        assert {"Service", "ServiceCIDR", "IPAddress", "Event"} <= kinds


def test_auth_can_i_and_whoami(serve, tmp_path):
    server = serve()
    assert kubectl(server, tmp_path, "auth", "can-i", "delete", "servicecidrs").stdout.strip() == "yes"
    assert kubectl(server, tmp_path, "auth", "can-i", "get", "/healthz").stdout.strip() == "yes"
    whoami = kubectl(server, tmp_path, "auth", "whoami").stdout
    assert "fastcidr-admin" in whoami and "system:masters" in whoami
    with api_client(server) as api:
        review = k8s_client.AuthorizationV1Api(api).create_self_subject_access_review(
            k8s_client.V1SelfSubjectAccessReview(spec=k8s_client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=k8s_client.V1ResourceAttributes(verb="create", resource="services"))))
        assert review.status.allowed is True
        who = k8s_client.AuthenticationV1Api(api).create_self_subject_review(k8s_client.V1SelfSubjectReview())
        assert who.status.user_info.username == "fastcidr-admin"
        with pytest.raises(ApiException) as invalid:
            k8s_client.AuthorizationV1Api(api).create_self_subject_access_review(
                k8s_client.V1SelfSubjectAccessReview(spec=k8s_client.V1SelfSubjectAccessReviewSpec()))
        assert invalid.value.status == 422


def test_namespaces_label_annotate_patch_and_update(serve, tmp_path):
    server = serve()
    kubectl(server, tmp_path, "label", "ns", "default", "team=net")
    kubectl(server, tmp_path, "annotate", "ns", "default", "owner=me")
    kubectl(server, tmp_path, "create", "ns", "web")
    kubectl(server, tmp_path, "label", "ns", "web", "a=b")
    shown = json.loads(kubectl(server, tmp_path, "get", "ns", "default", "-o", "json").stdout)
    assert shown["metadata"]["labels"] == {"team": "net", "kubernetes.io/metadata.name": "default"}
    assert shown["metadata"]["annotations"] == {"owner": "me"}
    assert kubectl(server, tmp_path, "get", "ns", "-l", "a=b", "-o", "name").stdout.split() == ["namespace/web"]
    kubectl(server, tmp_path, "label", "ns", "default", "team-")
    with api_client(server) as api:
        core = k8s_client.CoreV1Api(api)
        ns = core.read_namespace("default")
        assert "team" not in ns.metadata.labels
        # a JSON patch, and an update with the current resourceVersion
        core.patch_namespace("default", [{"op": "add", "path": "/metadata/labels/x", "value": "1"}])
        ns = core.read_namespace("default")
        ns.metadata.labels["y"] = "2"
        updated = core.replace_namespace("default", ns)
        assert updated.metadata.labels["x"] == "1" and updated.metadata.labels["y"] == "2"
        assert updated.status.phase == "Active" and updated.metadata.uid == ns.metadata.uid
        # a stale one conflicts and changes nothing
        with pytest.raises(ApiException) as stale:
            core.replace_namespace("default", ns)
        assert stale.value.status == 409
        assert core.read_namespace("default").metadata.labels == updated.metadata.labels
        with pytest.raises(ApiException) as missing:
            core.patch_namespace("nope", {"metadata": {"labels": {"a": "b"}}})
        assert missing.value.status == 404
