"""Object semantics of the Cluster on both backends (docs/kubernetes-objects.md): generic
metadata, finalizers, node ports, type and ipFamilyPolicy transitions, status-only and dry-run
updates, metadata validation."""
from __future__ import annotations

import pytest

from fastcidr import Cluster
from fastcidr.errors import ConflictError, RangeFullError, ValidationError
from fastcidr.k8s.nodeports import NodePortAllocator, parse_port_range, range_offset
from fastcidr.k8s.objects import ServicePort


def _np_service(name: str, *node_ports: int, **extra):
    ports = [{"port": 80 + i, "name": f"p{i}", **({"nodePort": p} if p else {})} for i, p in enumerate(node_ports)]
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": "NodePort", "ports": ports or [{"port": 80}], **extra}}


def test_finalizers_hold_a_service_and_its_address(backend):
    c = Cluster("10.96.0.0/24")
    svc = c.create({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "web", "finalizers": ["example.com/hold"],
                                 "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "1"}]},
                    "spec": {"ports": [{"port": 80}]}})
    assert svc.finalizers == ["example.com/hold"] and svc.owner_references[0]["name"] == "o"
    marked = c.delete_service("web")
    assert marked is not None and marked.terminating and c.get_ip_address(svc.cluster_ip).name == svc.cluster_ip
    assert marked.to_dict()["metadata"]["deletionGracePeriodSeconds"] == 0
    assert c.delete_service("web").deletion_timestamp == marked.deletion_timestamp  # a second delete: as it was
    with pytest.raises(ValidationError) as added:
        c.update({**c.get_service("web").to_dict(), "metadata": {
            **c.get_service("web").to_dict()["metadata"], "finalizers": ["example.com/hold", "b.io/x"]}})
    assert "no new finalizers can be added" in str(added.value)
    current = c.get_service("web").to_dict()
    current["metadata"]["finalizers"] = []
    c.update(current)
    assert [s.name for s in c.list_services()] == ["kubernetes"]
    assert [ip.name for ip in c.list_ip_addresses()] == ["10.96.0.1"]


def test_ip_address_finalizers(backend):
    c = Cluster("10.96.0.0/24")
    svc = c.create_service("web", ports=[80])
    ip = c.get_ip_address(svc.cluster_ip)
    ip.finalizers = ["example.com/keep"]
    c.update(ip)
    kept = c.delete_ip_address(svc.cluster_ip)
    assert kept is not None and kept.terminating and kept.finalizers == ["example.com/keep"]
    kept.finalizers = []
    c.update(kept)
    assert svc.cluster_ip not in [i.name for i in c.list_ip_addresses()]


def test_generation_on_servicecidrs(backend):
    c = Cluster("10.96.0.0/24")
    sc = c.create_service_cidr("extra", ["10.97.0.0/24"])
    assert sc.generation == 1
    labelled = c.get_service_cidr("extra")
    labelled.labels = {"a": "b"}
    assert c.update(labelled).generation == 1  # metadata only
    assert c.update_service_cidr("extra", ["10.97.0.0/24", "fd00:1::/112"]).generation == 2


def test_immutable_uid_and_metadata_validation(backend):
    c = Cluster("10.96.0.0/24")
    svc = c.create_service("web", ports=[80])
    changed = c.get_service("web")
    changed.uid = "another"
    with pytest.raises(ValidationError) as err:
        c.update(changed)
    assert err.value.errors == [("metadata.uid", 'Invalid value: "another": field is immutable')]
    with pytest.raises(ValidationError) as labels:
        c.create_service("bad", ports=[80], labels={"a/b/c": "x", "ok": "-x"})
    texts = [m for _, m in labels.value.errors]
    assert any("a qualified name must consist of" in t for t in texts)
    assert any(t.startswith('Invalid value: "-x": a valid label must be an empty string') for t in texts)
    with pytest.raises(ValidationError) as fin:
        c.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "f", "finalizers": ["plain"]},
                  "spec": {"ports": [{"port": 80}]}})
    assert fin.value.errors == [("metadata.finalizers", 'Invalid value: "plain": name is neither a standard '
                                 "finalizer name nor is it fully qualified")]
    assert c.get_service("web").uid == svc.uid


def test_node_ports_band_rule_and_messages(backend):
    assert range_offset(2768) == 86 and range_offset(16) == 0 and range_offset(100_000) == 128
    alloc = NodePortAllocator(30000, 30031, seed=3)
    offset = alloc.band_offset
    assert offset == 16
    dynamic = sorted(alloc.allocate_next() for _ in range(16))
    assert dynamic == list(range(30016, 30032))  # the upper band is used up first
    assert 30000 <= alloc.allocate_next() < 30016  # then the static one
    with pytest.raises(Exception) as taken:
        alloc.allocate(30016)
    assert str(taken.value) == "provided port is already allocated"
    assert parse_port_range("31000+9") == (31000, 31009)


def test_node_ports_on_services(backend, tmp_path):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    c = Cluster("10.96.0.0/24", store=url, service_node_port_range="31000-31009")
    a = c.create(_np_service("a", 0))
    port = a.ports[0].node_port
    assert 31000 <= port <= 31009 and a.extra["externalTrafficPolicy"] == "Cluster"
    with pytest.raises(ValidationError) as dup:
        c.create(_np_service("b", port))
    assert dup.value.errors == [("spec.ports[0].nodePort", f"Invalid value: {port}: provided port is already allocated")]
    with pytest.raises(ValidationError) as out:
        c.create(_np_service("b", 30000))
    assert out.value.errors == [("spec.ports[0].nodePort", "Invalid value: 30000: provided port is not in the valid "
                                 "range. The range of valid ports is 31000-31009")]
    with pytest.raises(ValidationError):
        c.create(_np_service("b", 31001, 31001))  # one port twice in one Service
    c.close()
    # durable: a new Cluster on the same store knows the port is taken
    c = Cluster(store=url, service_node_port_range="31000-31009")
    with pytest.raises(ValidationError):
        c.create(_np_service("b", port))
    for i in range(9):
        c.create(_np_service(f"fill-{i}"))
    with pytest.raises(RangeFullError) as full:
        c.create(_np_service("over"))
    assert str(full.value) == "failed to allocate a nodePort: range is full"
    lb = c.get_service("fill-0").to_dict()
    lb["spec"]["type"] = "ClusterIP"  # node ports go with the type
    freed = c.update(lb).to_dict()["spec"]
    assert "nodePort" not in freed["ports"][0] and "externalTrafficPolicy" not in freed
    assert c.create(_np_service("again")).ports[0].node_port
    c.delete_service("a")
    assert c.create(_np_service("reuse", port)).ports[0].node_port == port
    c.close()


def test_load_balancer_defaults_and_status(backend):
    c = Cluster("10.96.0.0/24")
    lb = c.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb"},
                   "spec": {"type": "LoadBalancer", "ports": [{"port": 443}], "sessionAffinity": "ClientIP"}})
    spec = lb.to_dict()["spec"]
    assert spec["allocateLoadBalancerNodePorts"] is True and spec["externalTrafficPolicy"] == "Cluster"
    assert spec["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}} and spec["ports"][0]["nodePort"]
    no_ports = c.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb2"},
                         "spec": {"type": "LoadBalancer", "ports": [{"port": 443}],
                                  "allocateLoadBalancerNodePorts": False}})
    assert no_ports.ports[0].node_port is None
    body = c.get_service("lb").to_dict()
    body["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}]}}
    body["spec"]["type"] = "ClusterIP"  # ignored by a status write
    written = c.update_status(body)
    assert written.status["loadBalancer"]["ingress"] == [{"ip": "203.0.113.9"}] and written.type == "LoadBalancer"
    body = c.get_service("lb").to_dict()
    body["status"] = {}
    assert c.update(body).status["loadBalancer"]["ingress"]  # a main-resource write ignores status
    with pytest.raises(ConflictError):
        stale = c.get_service("lb").to_dict()
        stale["metadata"]["resourceVersion"] = "1"
        c.update_status(stale)


def test_dry_run_update_validates_and_allocates_nothing(backend):
    c = Cluster("10.96.0.0/24,fd00::/108")
    svc = c.create_service("web", ports=[80])
    before = (c.store.current_revision(), [i.name for i in c.list_ip_addresses()])
    body = c.get_service("web").to_dict()
    body["spec"]["ipFamilyPolicy"] = "RequireDualStack"
    body["spec"]["type"] = "NodePort"
    preview = c.update(body, dry_run=True)
    assert len(preview.cluster_ips) == 2 and preview.ports[0].node_port
    assert (c.store.current_revision(), [i.name for i in c.list_ip_addresses()]) == before
    body["spec"]["clusterIPs"] = ["10.96.0.200"]
    with pytest.raises(ValidationError):
        c.update(body, dry_run=True)
    sc = c.get_service_cidr("kubernetes")
    sc.cidrs = ["10.200.0.0/24"]
    with pytest.raises(ValidationError):
        c.update(sc, dry_run=True)
    assert c.get_service("web").cluster_ips == svc.cluster_ips


def test_type_and_family_transitions(backend):
    c = Cluster("10.96.0.0/24,fd00::/108")
    svc = c.create_service("web", ports=[ServicePort(80)])
    body = c.get_service("web").to_dict()
    body["spec"]["ipFamilyPolicy"] = "PreferDualStack"
    up = c.update(body)
    assert up.ip_families == ["IPv4", "IPv6"] and up.cluster_ips[0] == svc.cluster_ip
    assert {i.name for i in c.list_ip_addresses()} >= set(up.cluster_ips)
    body = c.get_service("web").to_dict()
    body["spec"]["ipFamilyPolicy"] = "SingleStack"
    down = c.update(body)
    assert down.cluster_ips == [svc.cluster_ip] and up.cluster_ips[1] not in {i.name for i in c.list_ip_addresses()}
    body = c.get_service("web").to_dict()
    body["spec"].update(type="ExternalName", externalName="db.example.com")
    ext = c.update(body)
    assert ext.cluster_ips == [] and svc.cluster_ip not in {i.name for i in c.list_ip_addresses()}
    body = c.get_service("web").to_dict()
    body["spec"]["type"] = "ClusterIP"
    body["spec"].pop("externalName")
    back = c.update(body)
    assert back.cluster_ip and back.cluster_ip in {i.name for i in c.list_ip_addresses()}
    single = Cluster("10.96.0.0/24")
    single.create_service("web", ports=[80])
    body = single.get_service("web").to_dict()
    body["spec"]["ipFamilyPolicy"] = "RequireDualStack"
    with pytest.raises(ValidationError):
        single.update(body)


def test_node_port_repair(backend):
    from fastcidr.k8s.layout import META
    from fastcidr.store.base import Delete, Put

    c = Cluster("10.96.0.0/24", service_node_port_range="31000-31099")
    a = c.create(_np_service("a", 31050))
    c.create(_np_service("b", 31060))
    c.store.commit([Delete(META, "nodeports/31050"), Put(META, "nodeports/31077", {"service": "default/gone"})])
    events = c.repair()
    assert [(e.reason, e.message, e.regarding) for e in events] == [
        ("PortNotAllocated", "Port 31050 is not allocated; repairing", "services/default/a")]
    keys = sorted(r.key for r in c.store.list(META)[0] if r.key.startswith("nodeports/"))
    assert keys == ["nodeports/31050", "nodeports/31060"]
    with pytest.raises(ValidationError):
        c.create(_np_service("thief", 31050))
    assert c.create(_np_service("ok", 31077)).ports[0].node_port == 31077
    assert a.ports[0].node_port == 31050


def test_apply_keeps_finalizers_and_import_keeps_node_ports(backend):
    c = Cluster("10.96.0.0/24")
    c.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "finalizers": ["a.io/x"]},
              "spec": {"ports": [{"port": 80}]}})
    applied = c.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "labels": {"a": "b"}},
                       "spec": {"ports": [{"port": 80}]}})
    assert applied.finalizers == ["a.io/x"] and applied.labels == {"a": "b"}
    exported = c.create(_np_service("np", 30123)).to_dict()
    other = Cluster("10.96.0.0/24")
    other.import_objects([exported])
    assert not [e for e in other.events() if e.reason.startswith("Port")]
    with pytest.raises(ValidationError):
        other.create(_np_service("thief", 30123))


def test_update_without_node_port_keeps_it(backend):
    c = Cluster("10.96.0.0/24")
    port = c.create(_np_service("np", 0)).ports[0].node_port
    body = c.get_service("np").to_dict()
    del body["spec"]["ports"][0]["nodePort"]  # a PUT of the manifest as first written
    body["metadata"]["labels"] = {"a": "b"}
    assert c.update(body).ports[0].node_port == port


def test_node_ports_shared_between_clusters_on_one_store(backend, tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = Cluster("10.96.0.0/24", store=url)
    second = Cluster(store=url)
    first.create(_np_service("a", 30500))
    with pytest.raises(ValidationError) as taken:
        second.create(_np_service("b", 30500))
    assert "provided port is already allocated" in str(taken.value)
    ports = {first.create(_np_service(f"x{i}")).ports[0].node_port for i in range(5)}
    ports |= {second.create(_np_service(f"y{i}")).ports[0].node_port for i in range(5)}
    assert len(ports) == 10 and 30500 not in ports
    first.close()
    second.close()


def test_health_check_node_port(backend):
    c = Cluster("10.96.0.0/24")
    lb = c.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb"},
                   "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local", "ports": [{"port": 443}]}})
    health = lb.extra["healthCheckNodePort"]
    assert 30000 <= health <= 32767 and health != lb.ports[0].node_port
    with pytest.raises(ValidationError):
        c.create(_np_service("thief", health))
    with pytest.raises(ValidationError) as misplaced:
        c.create(_np_service("hc", 0, healthCheckNodePort=31000))
    assert misplaced.value.errors == [("spec.healthCheckNodePort", "Invalid value: 31000: may only be set when "
                                       "`type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'")]
    body = c.get_service("lb").to_dict()
    body["spec"]["externalTrafficPolicy"] = "Cluster"
    assert "healthCheckNodePort" not in c.update(body).extra
    assert c.create(_np_service("reuse", health)).ports[0].node_port == health


def test_port_names_and_externalname_left_behind(backend):
    c = Cluster("10.96.0.0/24")
    with pytest.raises(ValidationError) as named:
        c.create_service("web", ports=[ServicePort(80, name="HTTP")])
    assert named.value.errors[0][0] == "spec.ports[0].name"
    assert "a lowercase RFC 1123 label must consist of" in named.value.errors[0][1]
    c.create_service("ext", service_type="ExternalName", external_name="db.example.com")
    body = c.get_service("ext").to_dict()
    body["spec"]["type"] = "ClusterIP"
    body["spec"]["ports"] = [{"port": 80}]
    moved = c.update(body)
    assert moved.external_name is None and moved.cluster_ip
