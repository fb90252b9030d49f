"""``StoreView``: read-only access to the objects in a store, without a ``Cluster``.

A ``Cluster`` rebuilds its allocation index and runs repair when it opens (seconds on a store
with a million addresses); a reader such as ``fastcidr get`` needs neither. The objects come out
exactly as ``Cluster``'s getters build them (the stored wire form, ``resourceVersion`` = the
record's revision). Opening a view creates nothing: a SQLite file that is not there raises
``StoreNotFoundError``. A record that cannot be read back as its kind's object is skipped by the
listings (one warning on the ``fastcidr.store`` logger) and raises ``UnreadableRecordError``
naming it when asked for by name; :meth:`StoreView.unreadable` lists them (docs/stores.md).

>>> from fastcidr.store.memory import MemoryStore
>>> view = StoreView(MemoryStore())
>>> view.initialised, view.list_service_cidrs()
(False, [])
"""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple, Type, TypeVar, Union

from ..errors import NotFoundError
from ..store.base import LOGGER_NAME, Record, Store, UnreadableRecordError, quiet_unreadable
from . import layout
from .objects import IPAddress, Service, ServiceCIDR
from .resources import IPADDRESSES, SERVICECIDRS, SERVICES

__all__ = ["StoreView", "StoreMaintenance", "LOGGER_NAME"]

_T = TypeVar("_T", ServiceCIDR, IPAddress, Service)


def object_from_record(cls: Type[_T], rec: Record) -> _T:
    """The object a stored record holds, ``resourceVersion`` = the record's revision;
    :class:`UnreadableRecordError` naming the record when its value is not that kind's shape."""
    obj = decode_object(cls, cls.__name__, rec.kind, rec.key, rec.value)
    obj.resource_version = str(rec.revision)
    if not obj.name:
        obj.name = rec.key.rpartition("/")[2]
    return obj


def shape_problem(value: Any) -> str:
    """What makes a stored value no Kubernetes object ("" when nothing does): the object parts
    every reader looks into must be objects. (``from_dict`` forgives the rest.)"""
    if type(value) is not dict:
        return "not a JSON object"
    meta = value.get("metadata")
    for part, inner in (("metadata", meta), ("spec", value.get("spec")), ("status", value.get("status"))):
        if inner is not None and type(inner) is not dict:
            return f"{part} is not an object"
    if meta:
        for field in ("labels", "annotations"):
            inner = meta.get(field)
            if inner is not None and type(inner) is not dict:
                return f"metadata.{field} is not an object"
        for field in ("name", "namespace", "creationTimestamp", "deletionTimestamp"):
            inner = meta.get(field)
            if inner is not None and type(inner) is not str:
                return f"metadata.{field} is not a string"
    return ""


def decode_object(cls: Any, what: str, kind: str, key: str, value: Any) -> Any:
    """``cls.from_dict(value)``, or :class:`UnreadableRecordError` naming ``kind/key`` when the
    value is not the shape of a ``what``."""
    problem = shape_problem(value)
    if problem:
        raise UnreadableRecordError(kind, key, f"not a valid {what} ({problem})")
    try:
        return cls.from_dict(value)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as e:
        raise unreadable_shape(what, kind, key, e) from None


def unreadable_shape(what: str, kind: str, key: str, error: BaseException) -> UnreadableRecordError:
    """The error for a stored value that is JSON but not the shape of a ``what`` (the reason in
    words, without Python's exception names)."""
    detail = str(error) or "unexpected content"
    return UnreadableRecordError(kind, key, f"not a valid {what} ({detail})")


def objects_from_records(cls: Type[_T], records: List[Record], store: Store,
                         keep: Optional[Callable[[str], bool]] = None) -> List[_T]:
    """The objects of ``records`` by key; records that cannot be read as ``cls`` are left out
    after :meth:`Store.note_unreadable` (one warning each, and a count)."""
    out: List[_T] = []
    for rec in sorted(records, key=lambda r: r.key):
        if keep is not None and not keep(rec.key):
            continue
        try:
            out.append(object_from_record(cls, rec))
        except UnreadableRecordError as e:
            store.note_unreadable(rec.kind, rec.key, e.reason_text)
    return out


#: The Kubernetes object each store kind holds (what "readable" means beyond a JSON object).
_CLASS_OF_KIND = {layout.SERVICECIDRS: ServiceCIDR, layout.IPADDRESSES: IPAddress, layout.SERVICES: Service}


class StoreView:
    """Read-only view of a store (a URL, a path or a ``Store``); a context manager. A view that
    opened the store closes it."""

    def __init__(self, store: Union[str, Store]) -> None:
        if isinstance(store, Store):
            self._store, self._owned = store, False
        else:
            from ..store.urls import open_store

            self._store, self._owned = open_store(store, create=False), True

    def __enter__(self) -> "StoreView":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owned:
            self._store.close()

    @property
    def url(self) -> str:
        return self._store.url

    def recorded_range(self) -> Optional[List[str]]:
        """The service cluster IP range recorded in the store (None: none, or unreadable)."""
        try:
            rec = self._store.get(layout.META, layout.RANGE_KEY)
        except UnreadableRecordError as e:
            self._store.note_unreadable(e.store_kind, e.key, e.reason_text)
            return None
        if rec is None or not isinstance(rec.value, dict):
            return None
        cidrs = rec.value.get("cidrs")
        return [str(c) for c in cidrs] if isinstance(cidrs, list) else None

    @property
    def initialised(self) -> bool:
        """Whether a service cluster IP range or any ServiceCIDR is recorded (``fastcidr init``
        or a ``Cluster`` with a range ran on this store)."""
        try:
            if self._store.get(layout.META, layout.RANGE_KEY) is not None:
                return True
        except UnreadableRecordError:
            return True  # something is recorded there, damaged or not
        records, _ = self._store.list(layout.SERVICECIDRS)
        return bool(records)

    def _one(self, cls: Type[_T], kind: str, key: str, resource: str, name: str) -> _T:
        rec = self._store.get(kind, key)
        if rec is None:
            raise NotFoundError(resource, name)
        return object_from_record(cls, rec)

    def _all(self, cls: Type[_T], kind: str, keep: Optional[Callable[[str], bool]] = None) -> List[_T]:
        records, _ = self._store.list(kind)
        return objects_from_records(cls, records, self._store, keep)

    @property
    def store(self) -> Store:
        return self._store

    def unreadable(self) -> List[Tuple[str, str]]:
        """Every record that cannot be read back, as ``(location, reason)`` by location
        (``services/default/web``): values that are not JSON objects (the store's own check)
        and objects that are not the shape of their kind. Reads everything: maintenance only."""
        found = {f"{kind}/{key}": reason for kind, key, reason in self._store.unreadable()}
        for kind, cls in _CLASS_OF_KIND.items():
            with quiet_unreadable():  # reported here, not warned about as well
                records, _ = self._store.list(kind)
            for rec in records:
                try:
                    object_from_record(cls, rec)  # type: ignore[type-var]
                except UnreadableRecordError as e:
                    found.setdefault(e.location, e.reason_text)
        return sorted(found.items())

    def get_service_cidr(self, name: str) -> ServiceCIDR:
        return self._one(ServiceCIDR, layout.SERVICECIDRS, name, SERVICECIDRS.qualified, name)

    def list_service_cidrs(self) -> List[ServiceCIDR]:
        return self._all(ServiceCIDR, layout.SERVICECIDRS)

    def get_ip_address(self, ip: str) -> IPAddress:
        if self._store.get(layout.IPADDRESSES, ip) is None:
            import ipaddress

            try:  # IPAddress objects are named by the canonical text
                ip = ipaddress.ip_address(ip).compressed
            except ValueError:
                pass
        return self._one(IPAddress, layout.IPADDRESSES, ip, IPADDRESSES.qualified, ip)

    def list_ip_addresses(self) -> List[IPAddress]:
        return self._all(IPAddress, layout.IPADDRESSES)

    def get_service(self, name: str, namespace: str = "default") -> Service:
        return self._one(Service, layout.SERVICES, layout.service_key(namespace, name), SERVICES.qualified, name)

    def list_services(self, namespace: Optional[str] = None) -> List[Service]:
        keep = None if namespace is None else layout.in_namespace(namespace)
        return self._all(Service, layout.SERVICES, keep)

    def get(self, kind: str, name: str, namespace: Optional[str] = None) -> Any:
        """The object of ``kind`` (``ServiceCIDR``, ``IPAddress``, ``Service``) by name."""
        if kind == SERVICECIDRS.kind:
            return self.get_service_cidr(name)
        if kind == IPADDRESSES.kind:
            return self.get_ip_address(name)
        return self.get_service(name, namespace or "default")


class StoreMaintenance(StoreView):
    """A :class:`StoreView` that may also remove one record by its location: how damaged records
    are cleared (``fastcidr store remove``). The one write it makes bypasses the controllers."""

    def record_problem(self, location: str) -> Optional[str]:
        """Why the record at ``location`` (``services/default/web``) cannot be read, or None
        when it reads fine; ``LookupError`` when there is no such record."""
        kind, key = _split_location(location)
        try:
            rec = self._store.get(kind, key)
        except UnreadableRecordError as e:
            return e.reason_text
        if rec is None:
            raise LookupError(location)
        cls = _CLASS_OF_KIND.get(kind)
        if cls is not None:
            try:
                object_from_record(cls, rec)  # type: ignore[type-var]
            except UnreadableRecordError as e:
                return e.reason_text
        return None

    def remove_record(self, location: str) -> int:
        """Delete the record at ``location`` whatever its value holds; the new revision."""
        kind, key = _split_location(location)
        return self._store.remove_record(kind, key)


def _split_location(location: str) -> Tuple[str, str]:
    kind, slash, key = location.strip().partition("/")
    if not kind or not slash or not key:
        raise ValueError(f"bad record location {location!r}: use KIND/KEY as 'fastcidr store inspect' "
                         "prints it, e.g. services/default/web")
    return kind, key
