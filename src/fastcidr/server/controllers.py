"""The controllers ``fastcidr serve`` runs in the background, as kube-apiserver and
kube-controller-manager run theirs (docs/serve.md "Controllers"):

- the ClusterIP / IPAddress **repair** loop (``Cluster.repair``), every ``repair_interval``
  seconds (upstream: 3 minutes) and, like upstream's informer-driven repair, soon after an
  IPAddress of a live Service is deleted, so that the object comes back (its address stays
  taken in the allocator meanwhile, see ``Cluster.delete_ip_address``);
- every ``kubernetes_service_interval`` seconds (upstream: 10 s) the reconcile pass
  (``Cluster.reconcile``): the ServiceCIDR controller (finalizers, ``Ready``, deletions past their
  grace), the default ``kubernetes`` ServiceCIDR, the recreation of ``default/kubernetes`` and the
  leaked IPAddresses past the 60 s grace;
- the events those write, as Events (core/v1, also served as events.k8s.io/v1), and the Event
  TTL.

One daemon thread; :meth:`Controllers.stop` ends it promptly. A failing pass is reported once on
stderr and retried at the next interval: a controller never takes the server down.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable, List, Optional

from ..errors import StoreError
from ..k8s.events import EventLog
from ..k8s.layout import IPADDRESSES, SERVICES
from ..k8s.objects import LABEL_MANAGED_BY, MANAGED_BY_ALLOCATOR, Event

__all__ = ["Controllers", "REPAIR_INTERVAL", "KUBERNETES_SERVICE_INTERVAL"]

#: how often kube-apiserver runs its repair loops (3 minutes)
REPAIR_INTERVAL = 180.0
#: kube-apiserver's kubernetes-service controller interval
KUBERNETES_SERVICE_INTERVAL = 10.0
#: how often expired Events are removed
EVENT_EXPIRY_INTERVAL = 60.0
#: the least time between two repairs triggered by deletions (a burst of deletions: one pass)
_REACTIVE_SPACING = 0.5
#: the least time between two looks at the change log
_PACE = 0.05


class Controllers:
    """The background controllers of one server over one Cluster."""

    def __init__(self, cluster: Any, events: Optional[EventLog] = None, *,
                 repair_interval: float = REPAIR_INTERVAL,
                 kubernetes_service_interval: float = KUBERNETES_SERVICE_INTERVAL,
                 event_expiry_interval: float = EVENT_EXPIRY_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        for name, value in (("repair interval", repair_interval),
                            ("kubernetes service interval", kubernetes_service_interval),
                            ("event expiry interval", event_expiry_interval)):
            if not value > 0:
                raise ValueError(f"the {name} must be a positive number of seconds, got {value!r}")
        self.cluster = cluster
        self.events = events
        self.repair_interval = float(repair_interval)
        self.kubernetes_service_interval = float(kubernetes_service_interval)
        self.event_expiry_interval = float(event_expiry_interval)
        self.leak_grace_period = float(getattr(cluster, "leak_grace_period", 60.0))
        self._clock = clock
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._last_event: Optional[Event] = None
        self._reported: set = set()
        #: passes run so far, by duty (for tests and ``/metrics`` readers)
        self.runs = {"repair": 0, "reconcile": 0, "expire": 0}

    # -- life ----------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="fastcidr-controllers", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop and wait for it (a pass in progress finishes first)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- duties --------------------------------------------------------------------------------

    def repair(self) -> None:
        self.cluster.repair()
        self.runs["repair"] += 1
        self.publish_events()

    def reconcile(self) -> None:
        self.cluster.reconcile()
        self.runs["reconcile"] += 1
        self.publish_events()

    def expire_events(self) -> None:
        if self.events is not None:
            self.events.expire()
        self.runs["expire"] += 1

    def publish_events(self) -> None:
        """Write the controller events recorded since the last call as Events."""
        if not hasattr(self.cluster, "events"):
            return  # a stand-in Cluster without controller events
        recorded: List[Event] = self.cluster.events()
        fresh = recorded
        if self._last_event is not None:
            for index in range(len(recorded) - 1, -1, -1):
                if recorded[index] is self._last_event:
                    fresh = recorded[index + 1:]
                    break
        if recorded:
            self._last_event = recorded[-1]
        if self.events is None:
            return
        for event in fresh:
            self.events.record(event)

    def _parent_lists(self, value: Any, ip: str) -> Optional[bool]:
        """Whether the Service an IPAddress names lists ``ip`` (None: no such Service, or the
        object is not a Service's address)."""
        ref = (value.get("spec") or {}).get("parentRef") or {}
        if ref.get("resource") != SERVICES or ref.get("group"):
            return None
        try:
            service = self.cluster.get_service(ref.get("name", ""), ref.get("namespace", ""))
        except Exception:
            return None
        return ip in (service.cluster_ips or [])

    def _scan(self, revision: int) -> "tuple[bool, bool, int]":
        """Look at the writes after ``revision``, as upstream's informers do: (an IPAddress a
        live Service still lists was deleted, an allocator-managed IPAddress without its Service
        was created, the revision read up to)."""
        try:
            changes, current = self.cluster.changes_since(revision)
        except Exception:  # compacted: the periodic pass covers it
            return False, False, self.cluster.current_revision()
        deleted = orphaned = False
        # a Service and its addresses are written together: those need no lookup
        written = {change.key for change in changes if change.kind == SERVICES and change.type == "PUT"}
        for change in changes:
            if change.kind != IPADDRESSES or not change.value:
                continue
            if change.type == "DELETE":
                deleted = deleted or bool(self._parent_lists(change.value, change.key))
            elif change.created and not orphaned:
                labels = (change.value.get("metadata") or {}).get("labels") or {}
                ref = (change.value.get("spec") or {}).get("parentRef") or {}
                if labels.get(LABEL_MANAGED_BY) != MANAGED_BY_ALLOCATOR or \
                        f"{ref.get('namespace', '')}/{ref.get('name', '')}" in written:
                    continue
                orphaned = self._parent_lists(change.value, change.key) is None
        return deleted, orphaned, max([current] + [c.revision for c in changes])

    # -- the loop ------------------------------------------------------------------------------

    def _guarded(self, name: str, duty: Callable[[], None]) -> None:
        try:
            duty()
            self._reported.discard(name)
        except Exception as exc:  # a closed Cluster at shutdown, a store error: retried later
            if self._stop.is_set():
                return
            if isinstance(exc, StoreError) and "closed" in str(exc):
                self._stop.set()  # its owner closed the Cluster first: nothing left to control
                return
            if name not in self._reported:
                self._reported.add(name)
                print(f"fastcidr serve: the {name} controller failed: {type(exc).__name__}: {exc}",
                      file=sys.stderr, flush=True)

    def _run(self) -> None:
        clock = self._clock
        now = clock()
        due = {"repair": now + self.repair_interval,
               "reconcile": now + self.kubernetes_service_interval,
               "expire": now + self.event_expiry_interval}
        duties = {"repair": self.repair, "reconcile": self.reconcile, "expire": self.expire_events}
        self._guarded("events", self.publish_events)  # those of the start-up repair
        try:
            revision = self.cluster.current_revision()
        except Exception:
            return
        last_reactive = -1e9
        next_publish = clock() + 1.0
        while not self._stop.is_set():
            now = clock()
            for name, when in due.items():
                if now >= when:
                    self._guarded(name, duties[name])
                    interval = {"repair": self.repair_interval,
                                "reconcile": self.kubernetes_service_interval,
                                "expire": self.event_expiry_interval}[name]
                    due[name] = clock() + interval
            try:
                deleted, orphaned, revision = self._scan(revision)
            except Exception:
                deleted = orphaned = False
            if orphaned:  # a leak candidate: looked at again once its grace has passed (plus
                # a little: timestamps are whole seconds)
                due["repair"] = min(due["repair"], clock() + self.leak_grace_period + 1.5)
            if deleted:
                wait = last_reactive + _REACTIVE_SPACING - clock()
                if wait > 0 and self._stop.wait(wait):
                    return
                last_reactive = clock()
                self._guarded("repair", self.repair)
                due["repair"] = clock() + self.repair_interval
            # events written by API-driven writes (e.g. an inconsistent default ServiceCIDR),
            # looked for once a second
            if clock() >= next_publish:
                self._guarded("events", self.publish_events)
                next_publish = clock() + 1.0
            # under a stream of writes the loop wakes at most every _PACE seconds
            if self._stop.wait(_PACE):
                return
            timeout = max(0.0, min(min(due.values()) - clock(), next_publish - clock(), 1.0))
            try:
                self.cluster.wait_for_change(revision, timeout)
            except Exception:
                if self._stop.wait(timeout):
                    return
