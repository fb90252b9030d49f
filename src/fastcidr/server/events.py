"""The Events API: core/v1 ``events`` and events.k8s.io/v1 ``events``, one storage
(:class:`fastcidr.k8s.events.EventLog`) served in both versions (docs/serve.md "Events").

:class:`EventsApi` speaks the same verbs as :class:`~fastcidr.server.api.ResourceApi` (it is
one, with the object access replaced), so lists, pagination, patches and watches behave as for
every other kind; a watch sees the Events written by clients and by the controllers alike.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from .. import errors
from ..k8s.events import EventLog, to_core, to_v1
from . import status
from .api import ResourceApi
from .limits import check_object_types, object_size, too_large
from .resources import EVENTS, EVENTS_V1, ResourceType

__all__ = ["EventsApi"]


class EventsApi(ResourceApi):
    """The verbs of both Event resources over an :class:`EventLog`."""

    def __init__(self, cluster: Any, log: EventLog, max_object_bytes: int) -> None:
        super().__init__(cluster)
        self.log = log
        self._max_object_bytes = max_object_bytes

    @staticmethod
    def _form(resource: ResourceType, obj: Dict[str, Any]) -> Dict[str, Any]:
        return to_v1(obj) if resource is EVENTS_V1 else to_core(obj)

    def _events_call(self, resource: ResourceType, name: str, fn: Any) -> Any:
        try:
            return fn()
        except errors.FastCIDRError as exc:
            if isinstance(exc, errors.NotFoundError):
                raise status.not_found(resource, name) from None
            if isinstance(exc, errors.AlreadyExistsError):
                raise status.already_exists(resource, name) from None
            raise status.from_exception(exc, resource, name) from None

    def _check_size(self, body: Any) -> None:
        check_object_types(body)
        size = object_size(body)
        if size > self._max_object_bytes:
            raise too_large(f"the object is {size} bytes, limit is {self._max_object_bytes}")

    # -- reads (the generic list, pagination and watch of ResourceApi build on these) ----------

    def get(self, resource: ResourceType, namespace: Optional[str], name: str) -> Dict[str, Any]:
        obj = self._events_call(resource, name, lambda: self.log.get(namespace or "default", name))
        return self._form(resource, obj)

    def _list_all(self, resource: ResourceType, namespace: Optional[str]) -> List[Dict[str, Any]]:
        return [self._form(resource, o) for o in self.log.list(namespace)]

    def _from_change(self, resource: ResourceType, value: Dict[str, Any], revision: int) -> Dict[str, Any]:
        return self._form(resource, super()._from_change(EVENTS, value, revision))

    # -- writes --------------------------------------------------------------------------------

    def create(self, resource: ResourceType, namespace: Optional[str], body: Any, *,
               dry_run: bool = False, field_validation: str = "Warn") -> Tuple[Dict[str, Any], List[str]]:
        body, warnings = self._check_body(resource, namespace, body, None, field_validation)
        metadata = body["metadata"]
        if not metadata.get("name") and metadata.get("generateName"):
            import random

            metadata["name"] = metadata["generateName"] + "".join(
                random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
        core = to_core(body)
        self._check_size(core)
        created = self._events_call(resource, str(metadata.get("name") or ""),
                                    lambda: self.log.create(core, dry_run=dry_run))
        return self._form(resource, created), warnings

    def update(self, resource: ResourceType, namespace: Optional[str], name: str, body: Any, *,
               subresource: str = "", dry_run: bool = False,
               field_validation: str = "Warn", **options: Any) -> Tuple[Dict[str, Any], List[str]]:
        # (options: what newer callers pass, e.g. whether the body is a patch's result)
        if subresource:
            raise status.not_found_path()
        body, warnings = self._check_body(resource, namespace, body, name, field_validation)
        core = to_core(body)
        self._check_size(core)
        updated = self._events_call(resource, name, lambda: self.log.update(core, dry_run=dry_run))
        return self._form(resource, updated), warnings

    def delete(self, resource: ResourceType, namespace: Optional[str], name: str, *,
               dry_run: bool = False, preconditions: Optional[Dict[str, Any]] = None,
               **options: Any) -> Dict[str, Any]:
        for field, wanted in (preconditions or {}).items():
            if field in ("uid", "resourceVersion") and wanted:
                current = self.get(resource, namespace, name)["metadata"].get(field)
                if str(wanted) != str(current):
                    raise status.conflict(resource, name, f"Precondition failed: {field} in precondition: "
                                                          f"{wanted}, {field} in object meta: {current}")
        gone = self._events_call(resource, name,
                                 lambda: self.log.delete(namespace or "default", name, dry_run=dry_run))
        return self._form(resource, gone)
