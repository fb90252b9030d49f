"""Pure functions of the server: patches, protobuf decoding, Table cells, discovery negotiation,
selectors, Status bodies. None of them touches the allocation core, so they run once rather than
per backend."""
from __future__ import annotations

import datetime as dt

import pytest

from fastcidr import errors
from fastcidr.server import discovery, status, tables
from fastcidr.server.patch import PatchError, json_merge_patch, json_patch, strategic_merge_patch
from fastcidr.server.protobuf import MAGIC, ProtobufError, _ld, _varint, _vi, decode_object
from fastcidr.server.resources import IPADDRESSES, SERVICECIDRS, SERVICES, unknown_fields
from fastcidr.k8s.selectors import (
    SelectorError,
    matches_fields,
    matches_labels,
    parse_field_selector,
    parse_label_selector,
)

# -- RFC 7386 (the examples of its appendix A) -------------------------------------------------


@pytest.mark.parametrize("target, patch, result", [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
])
def test_json_merge_patch_rfc7386_examples(target, patch, result):
    assert json_merge_patch(target, patch) == result


def test_merge_patch_leaves_inputs_alone():
    target = {"a": {"b": 1}}
    json_merge_patch(target, {"a": {"b": 2}})
    assert target == {"a": {"b": 1}}


# -- strategic merge patch ---------------------------------------------------------------------


def test_smp_ports_merge_by_port_and_set_element_order():
    live = {"spec": {"ports": [{"port": 80, "name": "a", "protocol": "TCP"},
                               {"port": 90, "name": "c"}], "type": "ClusterIP"}}
    patch = {"spec": {"$setElementOrder/ports": [{"port": 81}, {"port": 80}],
                      "ports": [{"port": 81}, {"name": "b", "port": 80}]}}
    merged = strategic_merge_patch(live, patch)
    # named elements in the given order; the one it does not name keeps its place after them
    assert merged["spec"]["ports"] == [{"port": 81}, {"port": 80, "name": "b", "protocol": "TCP"},
                                       {"port": 90, "name": "c"}]
    assert merged["spec"]["type"] == "ClusterIP"


def test_smp_delete_and_replace_directives():
    live = {"spec": {"ports": [{"port": 80}, {"port": 81}], "selector": {"a": "1", "b": "2"}}}
    merged = strategic_merge_patch(live, {"spec": {"ports": [{"port": 80, "$patch": "delete"}]}})
    assert merged["spec"]["ports"] == [{"port": 81}]
    merged = strategic_merge_patch(live, {"spec": {"selector": {"$patch": "replace", "c": "3"}}})
    assert merged["spec"]["selector"] == {"c": "3"}
    merged = strategic_merge_patch(live, {"spec": {"ports": [{"$patch": "replace"}, {"port": 9}]}})
    assert merged["spec"]["ports"] == [{"port": 9}]
    merged = strategic_merge_patch(live, {"spec": {"selector": {"$patch": "delete"}}})
    assert "selector" not in merged["spec"]


def test_smp_retain_keys_and_primitive_lists():
    live = {"metadata": {"finalizers": ["a", "b"]},
            "spec": {"strategy": {"type": "X", "rolling": {"n": 1}}}}
    merged = strategic_merge_patch(live, {
        "metadata": {"finalizers": ["c"], "$deleteFromPrimitiveList/finalizers": ["a"]},
        "spec": {"strategy": {"$retainKeys": ["type"], "type": "Y"}}})
    assert merged["metadata"]["finalizers"] == ["b", "c"]
    assert merged["spec"]["strategy"] == {"type": "Y"}


def test_smp_conditions_merge_by_type_and_atomic_lists_replace():
    live = {"status": {"conditions": [{"type": "Ready", "status": "True"},
                                      {"type": "Other", "status": "False"}]},
            "spec": {"cidrs": ["10.0.0.0/24"]}}
    merged = strategic_merge_patch(live, {"status": {"conditions": [{"type": "Ready", "status": "False"}]},
                                          "spec": {"cidrs": ["10.1.0.0/24"]}})
    assert merged["status"]["conditions"] == [{"type": "Ready", "status": "False"},
                                              {"type": "Other", "status": "False"}]
    assert merged["spec"]["cidrs"] == ["10.1.0.0/24"]


def test_smp_errors():
    with pytest.raises(PatchError):
        strategic_merge_patch({}, [])
    with pytest.raises(PatchError):
        strategic_merge_patch({"spec": {"ports": []}}, {"spec": {"ports": [{"name": "no-key"}]}})
    with pytest.raises(PatchError):
        strategic_merge_patch({}, {"$patch": "explode"})


# -- RFC 6902 ----------------------------------------------------------------------------------


def test_json_patch_operations():
    doc = {"a": {"b": [1, 2]}, "c": "d", "e~f": 1, "g/h": 2}
    result = json_patch(doc, [
        {"op": "add", "path": "/a/b/1", "value": 9},
        {"op": "remove", "path": "/c"},
        {"op": "replace", "path": "/e~0f", "value": 3},
        {"op": "move", "from": "/g~1h", "path": "/moved"},
        {"op": "copy", "from": "/a/b", "path": "/copied"},
        {"op": "test", "path": "/moved", "value": 2},
        {"op": "add", "path": "/a/b/-", "value": 7},
    ])
    assert result == {"a": {"b": [1, 9, 2, 7]}, "e~f": 3, "moved": 2, "copied": [1, 9, 2]}
    assert doc["c"] == "d"  # input untouched


@pytest.mark.parametrize("ops", [
    [{"op": "test", "path": "/a", "value": 2}],
    [{"op": "remove", "path": "/missing"}],
    [{"op": "replace", "path": "/missing", "value": 1}],
    [{"op": "add", "path": "/list/5", "value": 1}],
    [{"op": "add", "path": "/list/01", "value": 1}],
    [{"op": "jump", "path": "/a"}],
    [{"op": "add", "path": "a", "value": 1}],
    [{"op": "add", "path": "/a"}],
    [{"op": "move", "from": "/list", "path": "/list/0"}],
    {"op": "add"},
])
def test_json_patch_errors(ops):
    with pytest.raises(PatchError):
        json_patch({"a": 1, "list": [0]}, ops)


# -- protobuf ----------------------------------------------------------------------------------


def _envelope(raw: bytes, api_version: bytes = b"v1", kind: bytes = b"Service") -> bytes:
    return MAGIC + _ld(1, _ld(1, api_version) + _ld(2, kind)) + _ld(2, raw) + _ld(3, b"") + _ld(4, b"")


def test_protobuf_service_every_field():
    meta = (_ld(1, b"svc") + _ld(2, b"") + _ld(3, b"ns") + _vi(7, 0)
            + _ld(11, _ld(1, b"app") + _ld(2, b"web")) + _ld(11, _ld(1, b"tier") + _ld(2, b"x"))
            + _ld(12, _ld(1, b"note") + _ld(2, b"hi")) + _ld(14, b"f1")
            + _ld(99, b"unknown field skipped"))
    port = (_ld(1, b"http") + _ld(2, b"UDP") + _vi(3, 53) + _ld(4, _vi(1, 1) + _ld(3, b"dns"))
            + _vi(5, 30053) + _ld(6, b"kubernetes.io/h2c"))
    spec = (_ld(1, port) + _ld(1, _vi(3, 80) + _ld(4, _vi(1, 0) + _vi(2, 8080)))
            + _ld(2, _ld(1, b"app") + _ld(2, b"web")) + _ld(3, b"10.96.0.5") + _ld(4, b"NodePort")
            + _ld(5, b"1.2.3.4") + _ld(7, b"None") + _vi(13, 1) + _vi(12, 0)
            + _ld(14, _ld(1, _vi(1, 10800))) + _ld(17, b"PreferDualStack")
            + _ld(18, b"10.96.0.5") + _ld(18, b"fd00::5") + _ld(19, b"IPv4") + _ld(19, b"IPv6")
            + _vi(20, 0) + _ld(22, b"Cluster"))
    obj = decode_object(_envelope(_ld(1, meta) + _ld(2, spec) + _ld(3, b"")))
    assert obj == {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "svc", "namespace": "ns", "labels": {"app": "web", "tier": "x"},
                     "annotations": {"note": "hi"}, "finalizers": ["f1"]},
        "spec": {
            "ports": [{"name": "http", "protocol": "UDP", "port": 53, "targetPort": "dns",
                       "nodePort": 30053, "appProtocol": "kubernetes.io/h2c"},
                      {"port": 80, "targetPort": 8080}],
            "selector": {"app": "web"}, "clusterIP": "10.96.0.5", "type": "NodePort",
            "externalIPs": ["1.2.3.4"], "sessionAffinity": "None",
            "publishNotReadyAddresses": True,
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
            "ipFamilyPolicy": "PreferDualStack", "clusterIPs": ["10.96.0.5", "fd00::5"],
            "ipFamilies": ["IPv4", "IPv6"], "allocateLoadBalancerNodePorts": False,
            "internalTrafficPolicy": "Cluster"},
    }


def test_protobuf_negative_varint_is_sign_extended():
    spec = _ld(1, _vi(3, -1))
    assert decode_object(_envelope(_ld(2, spec)))["spec"]["ports"] == [{"port": -1}]
    assert _varint(-1) == b"\xff" * 9 + b"\x01"


@pytest.mark.parametrize("body", [
    b"",
    b"{}",
    MAGIC + b"\x0a",                     # truncated length
    MAGIC + b"\x0a\x05ab",               # length past the end
    MAGIC + b"\x08",                     # truncated varint
    MAGIC + b"\x0b",                     # wire type 3 (groups) unsupported
    MAGIC + b"\x00",                     # field number 0
    MAGIC + b"\x08" + b"\xff" * 11,      # varint too long
    MAGIC + _ld(1, _ld(1, b"v1") + _ld(2, b"Pod")),  # unsupported kind
    MAGIC + _ld(1, _ld(1, b"v1") + _ld(2, b"Service")) + _ld(3, b"gzip"),
    MAGIC + _ld(1, _ld(1, b"v1") + _ld(2, b"Service")) + _ld(2, _ld(1, _ld(1, b"\xff\xfe"))),
    MAGIC + _ld(1, _ld(1, b"v1") + _ld(2, b"Service")) + _ld(2, _vi(1, 5)),
])
def test_protobuf_damaged_or_foreign_bodies(body):
    with pytest.raises(ProtobufError):
        decode_object(body)


def test_protobuf_fixed_width_fields_are_skipped():
    raw = _ld(1, _ld(1, b"x")) + b"\x49" + b"\x00" * 8 + b"\x55" + b"\x00" * 4  # fields 9 (64), 10 (32)
    assert decode_object(_envelope(raw))["metadata"] == {"name": "x"}


# -- Table cells -------------------------------------------------------------------------------


NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)


def _service(spec, status=None):
    return {"metadata": {"name": "s", "creationTimestamp": "2026-01-01T11:59:15Z"},
            "spec": spec, "status": status or {}}


@pytest.mark.parametrize("spec, status, external, ports", [
    ({"type": "ClusterIP", "clusterIP": "None"}, None, "<none>", "<none>"),
    ({"type": "ClusterIP", "externalIPs": ["1.1.1.1", "2.2.2.2"],
      "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}, None,
     "1.1.1.1,2.2.2.2", "80/TCP,53/UDP"),
    ({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}, None,
     "<none>", "80:30080/TCP"),
    ({"type": "LoadBalancer"}, None, "<pending>", "<none>"),
    ({"type": "LoadBalancer"}, {"loadBalancer": {"ingress": [{"ip": "3.3.3.3"}]}}, "3.3.3.3", "<none>"),
    # loadBalancerStatusStringer: a sorted set; the apiserver's cells are wide, so never cut
    ({"type": "LoadBalancer", "externalIPs": ["1.1.1.1"]},
     {"loadBalancer": {"ingress": [{"ip": "5.5.5.5"}, {"hostname": "lb.example.com"}, {"ip": "3.3.3.3"},
                                   {"ip": "5.5.5.5"}]}},
     "3.3.3.3,5.5.5.5,lb.example.com,1.1.1.1", "<none>"),
    ({"type": "ExternalName", "externalName": "example.com"}, None, "example.com", "<none>"),
])
def test_service_cells(spec, status, external, ports):
    cells = tables.row_cells(SERVICES, _service(spec, status), NOW)
    assert cells[3:6] == [external, ports, "45s"]


def test_service_cells_cluster_ip_and_selector():
    cells = tables.row_cells(SERVICES, _service({"clusterIPs": ["10.0.0.1", "fd00::1"],
                                                 "selector": {"b": "2", "a": "1"}}), NOW)
    assert cells[1:3] == ["ClusterIP", "10.0.0.1"] and cells[6] == "a=1,b=2"


def test_ipaddress_parent_ref_text():
    obj = {"metadata": {"name": "10.0.0.1"},
           "spec": {"parentRef": {"group": "Gateway.Example.COM", "resource": "Things", "name": "x"}}}
    assert tables.row_cells(IPADDRESSES, obj, NOW)[1] == "things.gateway.example.com/x"
    assert tables.row_cells(IPADDRESSES, {"metadata": {"name": "x"}, "spec": {}}, NOW)[1] == "<none>"


def test_table_include_object_and_unknown_age():
    obj = {"metadata": {"name": "c", "labels": {"a": "b"}}, "spec": {"cidrs": ["10.0.0.0/24", "fd00::/64"]}}
    table = tables.table(SERVICECIDRS, [obj], "7", now=NOW)
    assert table["rows"][0]["cells"] == ["c", "10.0.0.0/24,fd00::/64", "<unknown>"]
    assert table["rows"][0]["object"]["metadata"]["labels"] == {"a": "b"}
    assert "object" not in tables.table(SERVICECIDRS, [obj], "7", include_object="None")["rows"][0]
    assert tables.table(SERVICECIDRS, [obj], "7", include_object="Object")["rows"][0]["object"] is obj


# -- discovery, selectors, validation, Status --------------------------------------------------


@pytest.mark.parametrize("accept, aggregated", [
    ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json", True),
    ("application/json; g=apidiscovery.k8s.io; v=v2; as=APIGroupDiscoveryList", True),
    ("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList", False),
    ("application/json", False),
    ("", False),
])
def test_aggregated_discovery_negotiation(accept, aggregated):
    assert discovery.wants_aggregated(accept) is aggregated


def test_openapi_hash_changes_with_the_document():
    root = discovery.openapi_root()
    urls = [p["serverRelativeURL"] for p in root["paths"].values()]
    assert len(set(u.split("hash=")[1] for u in urls)) == len(urls) == len(discovery.GROUP_VERSIONS)


def test_label_selectors():
    labels = {"app": "web", "tier": "front"}
    for text, expected in [("app=web", True), ("app==web", True), ("app!=web", False),
                           ("app", True), ("!app", False), ("missing!=x", True),
                           ("tier in (front,back)", True), ("tier notin (front)", False),
                           ("app=web,tier=back", False), ("", True)]:
        assert matches_labels(parse_label_selector(text), labels) is expected, text
    with pytest.raises(SelectorError):
        parse_label_selector("a=b=c")


def test_field_selectors():
    obj = {"metadata": {"name": "x", "namespace": "default"}, "spec": {"type": "ClusterIP"}}
    fields = ("metadata.name", "metadata.namespace", "spec.type")
    assert matches_fields(parse_field_selector("metadata.name=x", fields), obj)
    assert matches_fields(parse_field_selector("metadata.name==x,spec.type!=NodePort", fields), obj)
    assert not matches_fields(parse_field_selector("metadata.namespace=other", fields), obj)
    with pytest.raises(SelectorError, match="field label not supported: spec.cidrs"):
        parse_field_selector("spec.cidrs=x", fields)
    with pytest.raises(SelectorError):
        parse_field_selector("metadata.name", fields)


def test_unknown_fields_keep_labels_annotations_and_list_items():
    obj = {"metadata": {"name": "a", "labels": {"anything": "x"}, "annotations": {"k": "v"},
                        "bogus": 1},
           "spec": {"ports": [{"port": 1, "extra": 2}], "selector": {"free": "form"}}}
    assert unknown_fields(obj, SERVICES.schema) == ["metadata.bogus", "spec.ports[0].extra"]


def test_status_for_each_error_class():
    assert status.from_exception(errors.ConflictError("x"), SERVICECIDRS, "n").body["reason"] == "Conflict"
    assert status.from_exception(errors.StoreError("db gone"), None).body["message"] == \
        "Internal error occurred: db gone"
    err = status.from_exception(errors.RangeFullError("range is full"), SERVICES, "s",
                                creating_service=True)
    assert err.body["message"] == "Internal error occurred: failed to allocate a serviceIP: range is full"
    invalid = status.invalid(SERVICECIDRS, "x", [("spec.cidrs", "Required value"),
                                                 ("metadata.name", "Invalid value: \"X\": bad")])
    assert invalid.body["message"] == \
        'ServiceCIDR.networking.k8s.io "x" is invalid: [spec.cidrs: Required value, ' \
        'metadata.name: Invalid value: "X": bad]'
    assert [c["reason"] for c in invalid.body["details"]["causes"]] == \
        ["FieldValueRequired", "FieldValueInvalid"]
    allocated = errors.AlreadyAllocatedError(
        'spec.clusterIPs: Invalid value: []string{"10.0.0.1"}: failed to allocate IP 10.0.0.1: '
        "provided IP is already allocated")
    allocated.reason, allocated.code = "Invalid", 422
    body = status.from_exception(allocated, SERVICES, "x").body
    assert body["message"].startswith('Service "x" is invalid: spec.clusterIPs: Invalid value: ')
    assert body["details"]["causes"][0]["field"] == "spec.clusterIPs"


def test_an_unexpected_exception_is_a_500_without_its_class_name() -> None:
    """What a client reads names no Python exception (only the server's log does)."""
    from fastcidr.k8s.status import from_exception

    error = from_exception(KeyError("spec"), None, "x")  # type: ignore[arg-type]
    assert error.code == 500 and error.body["reason"] == "InternalError"
    assert "KeyError" not in error.body["message"] and "spec" in error.body["message"]
