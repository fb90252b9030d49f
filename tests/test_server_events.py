"""The Events API (docs/serve.md "Events"): core/v1 and events.k8s.io/v1 Events, one storage,
with the official Python client and the real kubectl against a ``fastcidr serve`` subprocess;
the bounded log (TTL and cap) in process on both backends.
"""
from __future__ import annotations

import datetime as _dt
import threading
import time

import pytest

from fastcidr.errors import AlreadyExistsError, ConflictError, NotFoundError, ValidationError
from fastcidr.k8s.events import EventLog, to_core, to_v1
from fastcidr.k8s.objects import Event as ControllerEvent
from tests.test_server_controllers import api_client, kubectl, serve, wait_for  # noqa: F401

from kubernetes import client as k8s_client  # noqa: E402
from kubernetes import watch as k8s_watch  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402


def _core_event(name: str, reason: str = "Started") -> k8s_client.CoreV1Event:
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    return k8s_client.CoreV1Event(
        metadata=k8s_client.V1ObjectMeta(name=name),
        involved_object=k8s_client.V1ObjectReference(kind="Service", namespace="default", name="web",
                                                     api_version="v1"),
        reason=reason, message=f"{reason} the thing", type="Normal",
        source=k8s_client.V1EventSource(component="my-operator"),
        first_timestamp=now, last_timestamp=now, count=1)


def test_core_events_round_trip_and_read_as_events_k8s_io(serve):
    server = serve()
    with api_client(server) as api:
        core = k8s_client.CoreV1Api(api)
        created = core.create_namespaced_event("default", _core_event("web.1"))
        assert created.metadata.uid and created.metadata.resource_version
        assert core.read_namespaced_event("web.1", "default").reason == "Started"
        # the same object in the other version
        v1 = k8s_client.EventsV1Api(api).read_namespaced_event("web.1", "default")
        assert v1.note == "Started the thing" and v1.regarding.name == "web"
        assert v1.deprecated_source.component == "my-operator"
        # patch (what client-go's recorders do to count repeats) and list by field
        patched = core.patch_namespaced_event("web.1", "default", {"count": 2})
        assert patched.count == 2
        core.create_namespaced_event("default", _core_event("other.1", reason="Killing"))
        selected = core.list_namespaced_event(
            "default", field_selector="involvedObject.name=web,reason=Killing").items
        assert [e.metadata.name for e in selected] == ["other.1"]
        assert {e.metadata.name for e in core.list_event_for_all_namespaces().items} >= {"web.1", "other.1"}
        with pytest.raises(ApiException) as exists:
            core.create_namespaced_event("default", _core_event("web.1"))
        assert exists.value.status == 409
        core.delete_namespaced_event("web.1", "default")
        with pytest.raises(ApiException) as gone:
            core.read_namespaced_event("web.1", "default")
        assert gone.value.status == 404


def test_events_k8s_io_create_is_listed_in_core(serve):
    server = serve()
    with api_client(server) as api:
        body = k8s_client.EventsV1Event(
            metadata=k8s_client.V1ObjectMeta(name="x.1"),
            event_time=_dt.datetime.now(_dt.timezone.utc), reporting_controller="example.com/ctl",
            reporting_instance="ctl-1", action="Reconcile", reason="Synced", note="all good",
            type="Normal", regarding=k8s_client.V1ObjectReference(kind="Service", name="web",
                                                                  namespace="default"))
        k8s_client.EventsV1Api(api).create_namespaced_event("default", body)
        core = k8s_client.CoreV1Api(api).read_namespaced_event("x.1", "default")
    assert core.message == "all good" and core.reporting_component == "example.com/ctl"
    assert core.involved_object.name == "web"


def test_a_watch_sees_a_posted_event(serve):
    server = serve()
    with api_client(server) as api:
        core = k8s_client.CoreV1Api(api)
        revision = core.list_namespaced_event("default").metadata.resource_version
        seen = []

        def watch() -> None:
            for item in k8s_watch.Watch().stream(core.list_namespaced_event, "default",
                                                 resource_version=revision, timeout_seconds=10):
                seen.append((item["type"], item["object"].metadata.name))
                return

        thread = threading.Thread(target=watch)
        thread.start()
        time.sleep(0.3)
        core.create_namespaced_event("default", _core_event("watched.1"))
        thread.join(15)
    assert seen == [("ADDED", "watched.1")]


def test_kubectl_get_events_and_strict_validation(serve, tmp_path):
    server = serve()
    with api_client(server) as api:
        k8s_client.CoreV1Api(api).create_namespaced_event("default", _core_event("web.2", reason="Pulled"))
    lines = kubectl(server, tmp_path, "get", "events").stdout.splitlines()
    assert lines[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert lines[1].split()[1:] == ["Normal", "Pulled", "service/web", "Pulled", "the", "thing"]
    wide = kubectl(server, tmp_path, "get", "events", "-o", "wide").stdout.splitlines()
    assert "my-operator" in wide[1] and "web.2" in wide[1]
    assert kubectl(server, tmp_path, "get", "events.events.k8s.io", "-o", "name").stdout.strip() == \
        "event.events.k8s.io/web.2"
    manifest = ('{"apiVersion": "v1", "kind": "Event", "metadata": {"name": "bad.1"}, '
                '"involvedObject": {"kind": "Service", "name": "web"}, "bogus": 1}')
    result = kubectl(server, tmp_path, "create", "-f", "-", check=False, stdin=manifest)
    assert result.returncode != 0 and 'unknown field "bogus"' in result.stderr


def test_events_expire_after_their_ttl(serve):
    server = serve("--event-ttl", "1")
    with api_client(server) as api:
        core = k8s_client.CoreV1Api(api)
        core.create_namespaced_event("default", _core_event("short.1"))
        wait_for(lambda: not core.list_namespaced_event("default").items, timeout=15,
                 what="the Event to expire")


# -- the log, in process (both backends) -------------------------------------------------------


def _body(name: str, namespace: str = "default") -> dict:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {"kind": "Service", "name": "web"}, "reason": "R", "message": "m",
            "type": "Normal"}


def test_log_is_capped_oldest_first(fc):
    with fc.Cluster("10.0.0.0/24") as cluster:
        log = EventLog(cluster, max_events=3)
        for i in range(5):
            log.create(_body(f"e{i}"))
        assert [e["metadata"]["name"] for e in log.list("default")] == ["e2", "e3", "e4"]


def test_log_ttl_uses_the_last_write(fc):
    now = [_dt.datetime(2026, 1, 1, tzinfo=_dt.timezone.utc)]
    with fc.Cluster("10.0.0.0/24") as cluster:
        log = EventLog(cluster, ttl=60, clock=lambda: now[0])
        log.create(_body("old"))
        fresh = dict(_body("fresh"), lastTimestamp="2026-01-01T00:02:00Z")
        log.create(fresh)
        now[0] += _dt.timedelta(seconds=90)
        assert log.expire() == 1
        assert [e["metadata"]["name"] for e in log.list()] == ["fresh"]


def test_log_errors_leave_state_unchanged(fc):
    with fc.Cluster("10.0.0.0/24") as cluster:
        log = EventLog(cluster)
        first = log.create(_body("a"))
        before = log.list()
        with pytest.raises(AlreadyExistsError):
            log.create(_body("a"))
        with pytest.raises(ValidationError):
            log.create(_body("Not_A_Name"))
        with pytest.raises(ValidationError):
            log.create(dict(_body("b"), type="Fatal"))
        stale = dict(first, metadata=dict(first["metadata"], resourceVersion="1"))
        with pytest.raises(ConflictError):
            log.update(stale)
        with pytest.raises(NotFoundError):
            log.delete("default", "nope")
        assert log.list() == before


def test_controller_events_are_counted_not_repeated(fc):
    with fc.Cluster("10.0.0.0/24") as cluster:
        log = EventLog(cluster)
        event = ControllerEvent("Warning", "ClusterIPNotAllocated",
                                "Cluster IP [IPv4]: 10.0.0.9 is not allocated; repairing",
                                "services/default/kubernetes")
        log.record(event)
        log.record(event)
        (stored,) = log.list("default")
    assert stored["count"] == 2 and stored["involvedObject"]["kind"] == "Service"
    assert stored["reportingComponent"] == "ipallocator-repair-controller"
    assert stored["action"] == "ClusterIPAllocation"
    assert stored["involvedObject"]["uid"]  # the live Service's


def test_versions_convert_both_ways():
    core = _body("x")
    core["source"] = {"component": "c"}
    assert to_core(to_v1(dict(core, eventTime="2026-01-01T00:00:00.000000Z"))) == \
        dict(core, eventTime="2026-01-01T00:00:00.000000Z")
    assert to_v1(core)["regarding"] == core["involvedObject"]
