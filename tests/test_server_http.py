"""The HTTP layer of ``fastcidr serve`` over a small fake Cluster (independent of the k8s layer).

The fake implements just the Cluster methods the server calls, on a MemoryStore, so these tests
pin the wire behaviour (routing, discovery, Table, Status, watch, patch, protobuf) on their own.
"""
from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import http.client
import ipaddress
import json
import threading
import time
import uuid
from typing import Any, Dict, List, Optional, Tuple

import pytest

from fastcidr import errors
from fastcidr.k8s import namespaces
from fastcidr.k8s.resources import NAMESPACES
from fastcidr.server import ApiServer, kubeconfig_text
from fastcidr.server.protobuf import MAGIC, _ld, _vi
from fastcidr.store.base import Create, Delete, Put
from fastcidr.store.memory import MemoryStore
from tests.helpers import service

FINALIZER = "networking.k8s.io/service-cidr-finalizer"


class _Obj:
    def __init__(self, data: Dict[str, Any], rv: int) -> None:
        self.data = copy.deepcopy(data)
        self.data["metadata"]["resourceVersion"] = str(rv)

    def to_dict(self) -> Dict[str, Any]:
        return copy.deepcopy(self.data)


class FakeCluster:
    """Services get the lowest free address of the union of live ServiceCIDRs."""

    def __init__(self, cidr: str = "10.96.0.0/28") -> None:
        self.store = MemoryStore()
        self.clock = lambda: dt.datetime.now(dt.timezone.utc)
        self.lock = threading.RLock()
        self.create({"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR",
                     "metadata": {"name": "kubernetes"}, "spec": {"cidrs": [cidr]}})
        self.create({"apiVersion": "v1", "kind": "Service",
                     "metadata": {"name": "kubernetes", "namespace": "default"},
                     "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                         "targetPort": 6443}]}})

    def _now(self) -> str:
        return self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")

    def _get(self, kind: str, key: str, resource: str, name: str) -> _Obj:
        record = self.store.get(kind, key)
        if record is None:
            raise errors.NotFoundError(resource, name)
        return _Obj(record.value, record.revision)

    def get_service_cidr(self, name: str) -> _Obj:
        return self._get("servicecidrs", name, "servicecidrs.networking.k8s.io", name)

    def get_ip_address(self, ip: str) -> _Obj:
        return self._get("ipaddresses", ip, "ipaddresses.networking.k8s.io", ip)

    def get_service(self, name: str, namespace: str = "default") -> _Obj:
        return self._get("services", f"{namespace}/{name}", "services", name)

    def _list(self, kind: str) -> List[_Obj]:
        records, _ = self.store.list(kind)
        return [_Obj(r.value, r.revision) for r in records]

    def list_service_cidrs(self) -> List[_Obj]:
        return self._list("servicecidrs")

    def list_ip_addresses(self) -> List[_Obj]:
        return self._list("ipaddresses")

    def list_services(self, namespace: Optional[str] = None) -> List[_Obj]:
        return [o for o in self._list("services")
                if namespace is None or o.data["metadata"]["namespace"] == namespace]

    def _live_networks(self) -> List[ipaddress.IPv4Network]:
        nets: list = []
        for obj in self._list("servicecidrs"):
            if not obj.data["metadata"].get("deletionTimestamp"):
                nets += [ipaddress.ip_network(c) for c in obj.data["spec"]["cidrs"]]
        return nets

    def create(self, body: Dict[str, Any], dry_run: bool = False) -> _Obj:
        with self.lock:
            data = copy.deepcopy(body)
            meta = data["metadata"]
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = self._now()
            ops: List[Any] = []
            if data["kind"] == "ServiceCIDR":
                for cidr in data["spec"].get("cidrs", []):
                    try:
                        ipaddress.ip_network(cidr)
                    except ValueError:
                        raise errors.ValidationError(
                            [("spec.cidrs[0]", f'Invalid value: "{cidr}": must be a valid CIDR value, '
                              "(e.g. 10.9.8.0/24 or 2001:db8::/64)")], kind="ServiceCIDR",
                            name=meta["name"]) from None
                meta["finalizers"] = [FINALIZER]
                data["status"] = {"conditions": [{"type": "Ready", "status": "True", "reason": "",
                                                  "message": "Kubernetes Service CIDR is ready",
                                                  "lastTransitionTime": self._now()}]}
                kind, key, resource = "servicecidrs", meta["name"], "servicecidrs.networking.k8s.io"
            elif data["kind"] == "Service":
                kind, key, resource = "services", f"{meta['namespace']}/{meta['name']}", "services"
                if self.store.get(kind, key) is not None:
                    raise errors.AlreadyExistsError(resource, meta["name"])
                taken = {r.key for r in self.store.list("ipaddresses")[0]}
                free = [str(h) for net in self._live_networks() for h in net.hosts()
                        if str(h) not in taken]
                wanted = data.get("spec", {}).get("clusterIP")
                if wanted and wanted not in free:
                    error = errors.AlreadyAllocatedError(
                        f'spec.clusterIPs: Invalid value: []string{{"{wanted}"}}: failed to '
                        f"allocate IP {wanted}: provided IP is already allocated")
                    error.reason, error.code = "Invalid", 422
                    raise error
                if not free:
                    raise errors.RangeFullError("failed to allocate a serviceIP: range is full")
                ip = wanted or free[0]
                spec = data.setdefault("spec", {})
                spec.update({"clusterIP": ip, "clusterIPs": [ip], "ipFamilies": ["IPv4"],
                             "ipFamilyPolicy": "SingleStack", "type": spec.get("type", "ClusterIP")})
                ops.append(Create("ipaddresses", ip, {
                    "apiVersion": "networking.k8s.io/v1", "kind": "IPAddress",
                    "metadata": {"name": ip, "uid": str(uuid.uuid4()),
                                 "creationTimestamp": self._now(),
                                 "labels": {"ipaddress.kubernetes.io/ip-family": "IPv4"}},
                    "spec": {"parentRef": {"resource": "services", "namespace": meta["namespace"],
                                           "name": meta["name"]}}}))
            else:
                raise AssertionError(data["kind"])
            if self.store.get(kind, key) is not None:
                raise errors.AlreadyExistsError(resource, meta["name"])
            if dry_run:
                return _Obj(data, self.store.current_revision())
            rev = self.store.commit([Create(kind, key, data)] + ops)
            return _Obj(data, rev)

    def update(self, body: Dict[str, Any]) -> _Obj:
        with self.lock:
            data = copy.deepcopy(body)
            meta = data["metadata"]
            kind = {"ServiceCIDR": "servicecidrs", "Service": "services", "IPAddress": "ipaddresses"}[data["kind"]]
            key = f"{meta['namespace']}/{meta['name']}" if kind == "services" else meta["name"]
            record = self.store.get(kind, key)
            rv = meta.pop("resourceVersion", None)
            if record is None:
                raise errors.NotFoundError(kind, meta["name"])
            if rv and int(rv) != record.revision:
                raise errors.ConflictError("stale")
            rev = self.store.commit([Put(kind, key, data, expect=record.revision)])
            return _Obj(data, rev)

    def _cidr_blocked(self, data: Dict[str, Any]) -> bool:
        nets = [ipaddress.ip_network(c) for c in data["spec"]["cidrs"]]
        others = self._live_networks()

        def holds(net: Any, ip: Any) -> bool:
            return ip in net and ip not in (net.network_address, net.broadcast_address)

        return any(any(holds(n, ipaddress.ip_address(r.key)) for n in nets)
                   and not any(holds(o, ipaddress.ip_address(r.key)) for o in others)
                   for r in self.store.list("ipaddresses")[0])

    def _reconcile(self) -> None:
        for record in self.store.list("servicecidrs")[0]:
            if record.value["metadata"].get("deletionTimestamp") and not self._cidr_blocked(record.value):
                self.store.commit([Delete("servicecidrs", record.key)])

    def delete_service_cidr(self, name: str) -> Optional[_Obj]:
        with self.lock:
            record = self.store.get("servicecidrs", name)
            if record is None:
                raise errors.NotFoundError("servicecidrs.networking.k8s.io", name)
            data = copy.deepcopy(record.value)
            if data["metadata"].get("deletionTimestamp"):
                return _Obj(data, record.revision)
            data["metadata"]["deletionTimestamp"] = self._now()
            rev = self.store.commit([Put("servicecidrs", name, data)])
            if self._cidr_blocked(data):
                data["status"]["conditions"] = [{
                    "type": "Ready", "status": "False", "reason": "Terminating",
                    "message": "There are still IPAddresses referencing the ServiceCIDR, please "
                               "remove them or create a new ServiceCIDR",
                    "lastTransitionTime": self._now()}]
                rev = self.store.commit([Put("servicecidrs", name, data)])
                return _Obj(data, rev)
            self.store.commit([Delete("servicecidrs", name)])
            return None

    def delete_service(self, name: str, namespace: str = "default") -> None:
        with self.lock:
            record = self.store.get("services", f"{namespace}/{name}")
            if record is None:
                raise errors.NotFoundError("services", name)
            ops: List[Any] = [Delete("services", record.key)]
            ops += [Delete("ipaddresses", ip) for ip in record.value["spec"].get("clusterIPs", [])]
            self.store.commit(ops)
            self._reconcile()

    def delete_ip_address(self, ip: str) -> None:
        with self.lock:
            if self.store.get("ipaddresses", ip) is None:
                raise errors.NotFoundError("ipaddresses.networking.k8s.io", ip)
            self.store.commit([Delete("ipaddresses", ip)])
            self._reconcile()

    # -- the generic access the server uses: get / list / delete by kind, Namespaces, the change log

    def get(self, resource: Any, name: str, namespace: Optional[str] = None) -> Any:
        plural = resource.plural
        if plural == "servicecidrs":
            return self.get_service_cidr(name)
        if plural == "ipaddresses":
            return self.get_ip_address(name)
        if plural == "services":
            return self.get_service(name, namespace or "default")
        for item in self.list_namespaces():
            if item["metadata"]["name"] == name:
                return item
        raise errors.NotFoundError("namespaces", name)

    def list(self, resource: Any, namespace: Optional[str] = None) -> Any:
        plural = resource.plural
        if plural == "servicecidrs":
            return self.list_service_cidrs()
        if plural == "ipaddresses":
            return self.list_ip_addresses()
        if plural == "services":
            return self.list_services(namespace)
        return self.list_namespaces()

    def delete(self, resource: Any, name: str, namespace: Optional[str] = None) -> Any:
        plural = resource.plural
        if plural == "servicecidrs":
            return self.delete_service_cidr(name)
        if plural == "ipaddresses":
            return self.delete_ip_address(name)
        return self.delete_service(name, namespace or "default")

    def list_namespaces(self) -> List[Dict[str, Any]]:
        oldest: Dict[str, Optional[str]] = {}
        for obj in self.list_services(None):
            oldest.setdefault(obj.data["metadata"]["namespace"], obj.data["metadata"].get("creationTimestamp"))
        return namespaces.list_namespaces(self.store, oldest, self._now(), None)

    def create_namespace(self, name: str, *, labels: Any = None, annotations: Any = None,
                         dry_run: bool = False) -> Dict[str, Any]:
        existing = [n["metadata"]["name"] for n in self.list_namespaces()]
        return namespaces.create_namespace(self.store, existing, name, self._now(), labels, annotations, dry_run)

    def delete_namespace(self, name: str, *, dry_run: bool = False) -> Dict[str, Any]:
        current = self.get(NAMESPACES, name)
        namespaces.check_deletable(name)
        current["metadata"]["deletionTimestamp"] = self._now()
        current["status"] = {"phase": "Terminating"}
        if not dry_run:
            for obj in self.list_services(name):
                self.delete_service(obj.data["metadata"]["name"], name)
            namespaces.delete_namespace(self.store, name)
        return current

    def current_revision(self) -> int:
        return self.store.current_revision()

    def _location(self, resource: Any, name: str, namespace: Optional[str]) -> Tuple[str, str]:
        if resource.plural == "namespaces":
            return "meta", "namespaces/" + name
        return resource.plural, (f"{namespace or 'default'}/{name}" if resource.namespaced else name)

    def revision_of(self, resource: Any, name: str, namespace: Optional[str] = None) -> Optional[int]:
        record = self.store.get(*self._location(resource, name, namespace))
        return record.revision if record is not None else None

    def stored(self, resource: Any) -> List[Tuple[str, Dict[str, Any], int]]:
        if resource.plural == "namespaces":
            return [(r.key[len("namespaces/"):], r.value, r.revision) for r in self.store.list("meta")[0]
                    if r.key.startswith("namespaces/")]
        return [(r.key, r.value, r.revision) for r in self.store.list(resource.plural)[0]]

    def changes_since(self, revision: int) -> Any:
        changes, current = self.store.changes_since(revision)
        return [dataclasses.replace(c, kind="namespaces", key=c.key[len("namespaces/"):])
                if c.kind == "meta" and c.key.startswith("namespaces/") else c for c in changes], current

    def wait_for_change(self, revision: int, timeout: float) -> bool:
        return self.store.wait_for_change(revision, timeout)


# -- a small client ----------------------------------------------------------------------------

TABLE_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,"
                "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")
AGGREGATED_ACCEPT = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                     "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
                     "application/json")
CIDRS = "/apis/networking.k8s.io/v1/servicecidrs"
SERVICES = "/api/v1/namespaces/default/services"


class Client:
    def __init__(self, server: ApiServer) -> None:
        self.conn = http.client.HTTPConnection(server.host, server.port, timeout=20)

    def request(self, method: str, path: str, body: Any = None, *,
                content_type: str = "application/json",
                accept: str = "application/json") -> Tuple[int, Dict[str, str], Any]:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        headers = {"Accept": accept}
        if data is not None:
            headers["Content-Type"] = content_type
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        raw = response.read()
        payload = json.loads(raw) if raw and raw[:1] in (b"{", b"[") else raw
        return response.status, dict(response.getheaders()), payload

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def server():
    cluster = FakeCluster()
    srv = ApiServer(cluster)
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture
def client(server):
    c = Client(server)
    yield c
    c.close()


# -- discovery and the non-resource endpoints ----------------------------------------------------

def test_aggregated_discovery_has_the_exact_content_type(client):
    code, headers, body = client.request("GET", "/apis", accept=AGGREGATED_ACCEPT)
    assert code == 200
    assert headers["Content-Type"] == \
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    group = body["items"][0]
    assert group["metadata"]["name"] == "networking.k8s.io"
    resources = {r["resource"]: r for r in group["versions"][0]["resources"]}
    assert resources["servicecidrs"]["subresources"][0]["subresource"] == "status"
    assert resources["ipaddresses"]["shortNames"] == ["ip"]
    code, headers, body = client.request("GET", "/api", accept=AGGREGATED_ACCEPT)
    assert "name" not in body["items"][0]["metadata"]
    names = [r["resource"] for r in body["items"][0]["versions"][0]["resources"]]
    assert "services" in names and "namespaces" in names


def test_legacy_discovery_when_plain_json_is_asked(client):
    code, headers, body = client.request("GET", "/api")
    assert headers["Content-Type"] == "application/json"
    assert body["kind"] == "APIVersions" and body["versions"] == ["v1"]
    assert client.request("GET", "/apis")[2]["groups"][0]["name"] == "networking.k8s.io"
    listing = client.request("GET", "/apis/networking.k8s.io/v1")[2]
    assert {r["name"] for r in listing["resources"]} == \
        {"servicecidrs", "servicecidrs/status", "ipaddresses"}
    core = client.request("GET", "/api/v1")[2]
    assert {"services", "services/status", "namespaces"} <= {r["name"] for r in core["resources"]}


def test_version_and_openapi_stub(client):
    assert client.request("GET", "/version")[2]["gitVersion"].startswith("v1.")
    root = client.request("GET", "/openapi/v3")[2]
    url = root["paths"]["apis/networking.k8s.io/v1"]["serverRelativeURL"]
    assert "?hash=" in url
    code, _, doc = client.request("GET", url + "&timeout=32s")
    assert code == 200
    op = doc["paths"]["/apis/networking.k8s.io/v1/servicecidrs/{name}"]["patch"]
    # kubectl only looks at operation-level parameters
    assert {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}} in op["parameters"]
    core = client.request("GET", root["paths"]["api/v1"]["serverRelativeURL"])[2]
    assert "/api/v1/namespaces/{namespace}/services/{name}" in core["paths"]
    assert client.request("GET", "/openapi/v2")[0] == 200  # served since issue 12 (List validation)


def test_unknown_paths_are_404_status(client):
    code, _, body = client.request("GET", "/apis/example.com/v1/things")
    assert code == 404 and body["kind"] == "Status" and body["reason"] == "NotFound"


# -- get / list / Table ------------------------------------------------------------------------

def test_table_list_of_servicecidrs(client):
    code, _, table = client.request("GET", CIDRS + "?limit=500", accept=TABLE_ACCEPT)
    assert code == 200 and table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "CIDRs", "Age"]
    row = table["rows"][0]
    assert row["cells"][:2] == ["kubernetes", "10.96.0.0/28"]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["metadata"]["name"] == "kubernetes"
    assert int(table["metadata"]["resourceVersion"]) >= 1


def test_table_of_one_service_and_ipaddress(client):
    code, _, table = client.request("GET", SERVICES + "/kubernetes", accept=TABLE_ACCEPT)
    assert [c["name"] for c in table["columnDefinitions"]] == \
        ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"]
    assert table["columnDefinitions"][-1]["priority"] == 1
    assert table["rows"][0]["cells"][:5] == ["kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP"]
    assert table["rows"][0]["cells"][6] == "<none>"
    assert table["rows"][0]["object"]["metadata"]["namespace"] == "default"
    code, _, table = client.request("GET", "/apis/networking.k8s.io/v1/ipaddresses/10.96.0.1",
                                    accept=TABLE_ACCEPT)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "ParentRef"]
    assert table["rows"][0]["cells"][:2] == ["10.96.0.1", "services/default/kubernetes"]


def test_plain_list_always_has_items_and_honours_field_selector(client):
    code, _, body = client.request("GET", CIDRS + "?fieldSelector=metadata.name%3Dnope")
    assert code == 200 and body["kind"] == "ServiceCIDRList" and body["items"] == []
    body = client.request("GET", CIDRS + "?fieldSelector=metadata.name%3Dkubernetes")[2]
    assert [i["metadata"]["name"] for i in body["items"]] == ["kubernetes"]
    code, _, body = client.request("GET", CIDRS + "?fieldSelector=spec.cidrs%3Dx")
    assert code == 400 and body["reason"] == "BadRequest"


def test_list_limit_and_continue(client):
    for i in range(3):
        client.request("POST", SERVICES, service(f"s{i}"))
    page = client.request("GET", SERVICES + "?limit=2")[2]
    assert len(page["items"]) == 2 and page["metadata"]["remainingItemCount"] == 2
    rest = client.request("GET", SERVICES + "?limit=2&continue=" + page["metadata"]["continue"])[2]
    names = [i["metadata"]["name"] for i in page["items"] + rest["items"]]
    assert len(rest["items"]) == 2 and "continue" not in rest["metadata"]
    assert sorted(names) == ["kubernetes", "s0", "s1", "s2"]


def test_label_selector_and_all_namespaces(client):
    client.request("POST", "/api/v1/namespaces/other/services",
                   service("x", labels={"app": "web"}))
    body = client.request("GET", "/api/v1/services?labelSelector=app%3Dweb")[2]
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in body["items"]] == [("other", "x")]
    names = [n["metadata"]["name"] for n in client.request("GET", "/api/v1/namespaces")[2]["items"]]
    assert names == ["default", "kube-system", "other"]
    assert client.request("GET", "/api/v1/namespaces/other")[0] == 200
    assert client.request("GET", "/api/v1/namespaces/nope")[2]["message"] == 'namespaces "nope" not found'


# -- errors --------------------------------------------------------------------------------------

def test_not_found_status_names_the_plural_resource(client):
    code, _, body = client.request("GET", CIDRS + "/nope", accept=TABLE_ACCEPT)
    assert code == 404
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": 'servicecidrs.networking.k8s.io "nope" not found',
                    "reason": "NotFound",
                    "details": {"name": "nope", "group": "networking.k8s.io", "kind": "servicecidrs"},
                    "code": 404}
    body = client.request("DELETE", SERVICES + "/nope")[2]
    assert body["message"] == 'services "nope" not found'
    assert body["details"] == {"name": "nope", "kind": "services"}


def test_already_exists_and_invalid(client):
    cidr = {"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR",
            "metadata": {"name": "kubernetes"}, "spec": {"cidrs": ["10.0.0.0/24"]}}
    code, _, body = client.request("POST", CIDRS, cidr)
    assert (code, body["reason"]) == (409, "AlreadyExists")
    assert body["message"] == 'servicecidrs.networking.k8s.io "kubernetes" already exists'
    cidr["metadata"]["name"] = "bad"
    cidr["spec"]["cidrs"] = ["10.96.0.0/33"]
    code, _, body = client.request("POST", CIDRS, cidr)
    assert (code, body["reason"]) == (422, "Invalid")
    assert body["details"] == {
        "name": "bad", "group": "networking.k8s.io", "kind": "ServiceCIDR",
        "causes": [{"reason": "FieldValueInvalid", "field": "spec.cidrs[0]",
                    "message": 'Invalid value: "10.96.0.0/33": must be a valid CIDR value, '
                               "(e.g. 10.9.8.0/24 or 2001:db8::/64)"}]}


def test_range_full_is_internal_error(client):
    for i in range(13):
        assert client.request("POST", SERVICES, service(f"t{i}"))[0] == 201
    code, _, body = client.request("POST", SERVICES, service("t13"))
    assert (code, body["reason"]) == (500, "InternalError")
    assert body["message"] == "Internal error occurred: failed to allocate a serviceIP: range is full"
    assert body["details"] == {"causes": [{"message": "failed to allocate a serviceIP: range is full"}]}


def test_strict_field_validation(client):
    cidr = {"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR",
            "metadata": {"name": "n", "labels": {"a": "b"}, "annotations": {"x": "y"}},
            "spec": {"cidrs": ["10.1.0.0/24"], "bogus": 1}}
    code, _, body = client.request("POST", CIDRS + "?fieldValidation=Strict", cidr)
    assert (code, body["reason"]) == (400, "BadRequest")
    assert body["message"].endswith('strict decoding error: unknown field "spec.bogus"')
    del cidr["spec"]["bogus"]
    code, _, body = client.request("POST", CIDRS + "?fieldValidation=Strict", cidr)
    assert code == 201 and body["metadata"]["labels"] == {"a": "b"}


def test_namespace_mismatch_and_name_mismatch(client):
    code, _, body = client.request("POST", SERVICES, service("a", namespace="x"))
    assert code == 400
    code, _, body = client.request("PUT", CIDRS + "/kubernetes",
                                   {"metadata": {"name": "other"}, "spec": {"cidrs": []}})
    assert code == 400 and "does not match the name on the URL" in body["message"]


# -- writes ------------------------------------------------------------------------------------

def test_protobuf_service_create(client):
    meta = _ld(1, b"pb-1") + _ld(2, b"") + _ld(3, b"") + _ld(11, _ld(1, b"app") + _ld(2, b"pb-1"))
    port = _ld(1, b"80") + _ld(2, b"TCP") + _vi(3, 80) + _ld(4, _vi(1, 0) + _vi(2, 80) + _ld(3, b""))
    spec = _ld(1, port) + _ld(2, _ld(1, b"app") + _ld(2, b"pb-1")) + _ld(3, b"") + _ld(4, b"ClusterIP")
    raw = _ld(1, meta) + _ld(2, spec)
    body = MAGIC + _ld(1, _ld(1, b"v1") + _ld(2, b"Service")) + _ld(2, raw) + _ld(3, b"") + _ld(4, b"")
    code, _, svc = client.request("POST", SERVICES + "?fieldManager=kubectl-create&fieldValidation=Strict",
                                  body, content_type="application/vnd.kubernetes.protobuf",
                                  accept="application/vnd.kubernetes.protobuf,application/json")
    assert code == 201, svc
    assert svc["metadata"]["name"] == "pb-1" and svc["metadata"]["namespace"] == "default"
    assert svc["spec"]["ports"] == [{"name": "80", "protocol": "TCP", "port": 80, "targetPort": 80}]
    assert svc["spec"]["selector"] == {"app": "pb-1"}
    assert svc["spec"]["clusterIP"].startswith("10.96.0.")


def test_protobuf_for_a_servicecidr_is_415(client):
    code, _, body = client.request("POST", CIDRS, MAGIC + b"\x0a\x00",
                                   content_type="application/vnd.kubernetes.protobuf")
    assert code == 415 and body["reason"] == "UnsupportedMediaType"


def test_merge_and_strategic_patch(client):
    client.request("POST", SERVICES, {"metadata": {"name": "p"},
                                      "spec": {"ports": [{"port": 80, "protocol": "TCP"}]}})
    code, _, svc = client.request(
        "PATCH", SERVICES + "/p",
        {"metadata": {"annotations": {"a": "1"}},
         "spec": {"$setElementOrder/ports": [{"port": 81}, {"port": 80}],
                  "ports": [{"port": 81, "protocol": "TCP"}, {"name": "b", "port": 80}]}},
        content_type="application/strategic-merge-patch+json")
    assert code == 200, svc
    assert [(p["port"], p.get("name")) for p in svc["spec"]["ports"]] == [(81, None), (80, "b")]
    assert svc["metadata"]["annotations"] == {"a": "1"}
    code, _, svc = client.request("PATCH", SERVICES + "/p", {"metadata": {"annotations": None}},
                                  content_type="application/merge-patch+json")
    assert code == 200 and "annotations" not in svc["metadata"]
    code, _, svc = client.request(
        "PATCH", SERVICES + "/p", [{"op": "add", "path": "/metadata/labels", "value": {"x": "y"}}],
        content_type="application/json-patch+json")
    assert code == 200 and svc["metadata"]["labels"] == {"x": "y"}
    code, _, body = client.request("PATCH", SERVICES + "/p", {}, content_type="text/plain")
    assert code == 415


def test_stale_update_is_conflict(client):
    cidr = client.request("GET", CIDRS + "/kubernetes")[2]
    client.request("PATCH", CIDRS + "/kubernetes", {"metadata": {"labels": {"x": "1"}}},
                   content_type="application/merge-patch+json")
    code, _, body = client.request("PUT", CIDRS + "/kubernetes", cidr)
    assert (code, body["reason"]) == (409, "Conflict")
    assert body["message"].startswith('Operation cannot be fulfilled on servicecidrs.networking.k8s.io "kubernetes"')


def test_dry_run_changes_nothing(client):
    code, _, body = client.request("POST", SERVICES + "?dryRun=All", service("dry"))
    assert code == 201
    assert client.request("GET", SERVICES + "/dry")[0] == 404
    code, _, body = client.request("DELETE", CIDRS + "/kubernetes?dryRun=All")
    assert code == 200 and body["metadata"]["deletionTimestamp"]
    assert "deletionTimestamp" not in client.request("GET", CIDRS + "/kubernetes")[2]["metadata"]


def test_delete_returns_200_and_the_object(client):
    client.request("POST", CIDRS, {"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR",
                                   "metadata": {"name": "c2"}, "spec": {"cidrs": ["10.97.0.0/24"]}})
    code, _, body = client.request("DELETE", CIDRS + "/c2", {"propagationPolicy": "Background"})
    assert code == 200 and body["metadata"]["name"] == "c2"
    assert body["metadata"]["deletionTimestamp"]
    assert client.request("GET", CIDRS + "/c2")[0] == 404


# -- watch -------------------------------------------------------------------------------------

def _watch_lines(server: ApiServer, path: str, accept: str = "application/json",
                 count: int = 1, timeout: float = 10.0) -> List[Dict[str, Any]]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    conn.request("GET", path, headers={"Accept": accept})
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Transfer-Encoding") == "chunked"
    events: list = []
    while len(events) < count:
        try:
            line = response.readline()
        except http.client.IncompleteRead:  # the server closed the stream
            break
        if not line:
            break
        if line.strip():
            events.append(json.loads(line))
    conn.close()
    return events


def watch_in_background(server: ApiServer, path: str, count: int,
                        timeout: float = 10.0) -> "tuple[threading.Thread, List[Dict[str, Any]]]":
    """A watch of ``path`` reading up to ``count`` events on a thread, given time to connect
    before the caller makes the changes it should see; ``join`` the thread, then read the list."""
    events: List[Dict[str, Any]] = []
    watcher = threading.Thread(target=lambda: events.extend(
        _watch_lines(server, path, count=count, timeout=timeout)))
    watcher.start()
    time.sleep(0.3)
    return watcher, events


def test_watch_streams_changes_including_side_effects(server, client):
    rv = client.request("GET", CIDRS)[2]["metadata"]["resourceVersion"]
    watcher, result = watch_in_background(server, f"{CIDRS}?watch=true&resourceVersion={rv}&timeoutSeconds=20", 3)
    client.request("POST", CIDRS, {"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR",
                                   "metadata": {"name": "w"}, "spec": {"cidrs": ["10.98.0.0/24"]}})
    client.request("DELETE", CIDRS + "/w")
    watcher.join(20)
    assert [e["type"] for e in result] == ["ADDED", "MODIFIED", "DELETED"]
    assert all(e["object"]["metadata"]["name"] == "w" for e in result)
    revisions = [int(e["object"]["metadata"]["resourceVersion"]) for e in result]
    assert revisions == sorted(revisions) and revisions[0] > int(rv)


def test_watch_table_events_and_initial_state(server):
    events = _watch_lines(server, f"{CIDRS}?watch=true&timeoutSeconds=5", accept=TABLE_ACCEPT)
    assert events[0]["type"] == "ADDED"
    table = events[0]["object"]
    assert table["kind"] == "Table" and table["rows"][0]["cells"][:2] == ["kubernetes", "10.96.0.0/28"]


def test_watch_ends_at_timeout_and_with_field_selector(server, client):
    rv = client.request("GET", CIDRS)[2]["metadata"]["resourceVersion"]
    start = time.monotonic()
    events = _watch_lines(server, f"{CIDRS}?watch=true&resourceVersion={rv}&timeoutSeconds=1"
                                  "&fieldSelector=metadata.name%3Dnone&allowWatchBookmarks=true")
    assert events == [] and time.monotonic() - start < 8


def test_watch_bad_resource_version_is_400(client):
    code, _, body = client.request("GET", CIDRS + "?watch=true&resourceVersion=abc")
    assert code == 400


def test_close_ends_running_watches(server, client):
    rv = client.request("GET", CIDRS)[2]["metadata"]["resourceVersion"]
    done = threading.Event()

    def watch() -> None:
        _watch_lines(server, f"{CIDRS}?watch=true&resourceVersion={rv}", count=1, timeout=30)
        done.set()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    time.sleep(0.3)
    client.close()
    server.close()
    assert done.wait(10)


def test_kubeconfig_file(server, tmp_path):
    path = server.kubeconfig(str(tmp_path / "sub" / "kubeconfig"))
    with open(path) as handle:
        text = handle.read()
    assert f'server: "{server.url}"' in text and "current-context: fastcidr" in text
    assert "namespace: default" in text
    import yaml

    config = yaml.safe_load(text)
    assert config["clusters"][0]["cluster"]["server"] == server.url
    assert kubeconfig_text("http://x", b"CA").count("certificate-authority-data: Q0E=") == 1


def test_watch_list_protocol_ends_initial_events_with_a_bookmark(server):
    events = _watch_lines(server, f"{CIDRS}?watch=true&sendInitialEvents=true"
                                  "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
                                  "&timeoutSeconds=5", count=2)
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


@pytest.mark.parametrize("host", ["0.0.0.0", "::1"])
def test_wildcard_and_ipv6_addresses(host):
    import socket

    if host == "::1" and not socket.has_ipv6:
        pytest.fail("IPv6 loopback expected on the test machines")
    srv = ApiServer(FakeCluster(), host=host, allow_remote=host == "0.0.0.0")
    try:
        assert srv.url.startswith("http://127.0.0.1:" if host == "0.0.0.0" else "http://[::1]:")
        srv.wait_until_accepting()
        conn = http.client.HTTPConnection("127.0.0.1" if host == "0.0.0.0" else "::1", srv.port, timeout=10)
        conn.request("GET", "/version")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        srv.close()


def test_main_reports_bad_arguments(capsys):
    from fastcidr.server import main

    assert main(["--store", "memory:", "--service-cluster-ip-range", "10.96.0.0/33"]) == 1
    assert capsys.readouterr().err.startswith("error: ")
    with pytest.raises(SystemExit):
        main(["--tls-cert", "only-a-cert"])


def test_keep_alive_survives_bodies_on_any_method_and_chunked_bodies(server):
    import socket

    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        body = b'{"ignored": true}'
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        payload = json.dumps(service("chunked")).encode()
        sock.sendall(b"POST " + SERVICES.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload))
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    import re

    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", data) == [b"200", b"201", b"200"]
    assert data.endswith(b"ok")


def test_pages_come_from_the_first_page_snapshot(client):
    for i in range(5):
        client.request("POST", SERVICES, service(f"p{i}"))
    first = client.request("GET", SERVICES + "?limit=2")[2]
    client.request("POST", SERVICES, service("p0a"))  # sorts into the later pages
    names = [i["metadata"]["name"] for i in first["items"]]
    token = first["metadata"]["continue"]
    while token:
        page = client.request("GET", SERVICES + "?limit=2&continue=" + token)[2]
        assert page["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
    assert names == ["kubernetes", "p0", "p1", "p2", "p3", "p4"]
    assert client.request("GET", SERVICES + "?limit=2&continue=%%%")[0] == 400
