"""``StoreView``: read-only access to the objects in a store, without a ``Cluster``.

A ``Cluster`` rebuilds its allocation index and runs repair when it opens (seconds on a store
with a million addresses); a reader such as ``fastcidr get`` needs neither. The objects come out
exactly as ``Cluster``'s getters build them (the stored wire form, ``resourceVersion`` = the
record's revision). Opening a view creates nothing: a SQLite file that is not there raises
``StoreNotFoundError``.

>>> from fastcidr.store.memory import MemoryStore
>>> view = StoreView(MemoryStore())
>>> view.initialised, view.list_service_cidrs()
(False, [])
"""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Type, TypeVar, Union

from ..errors import NotFoundError
from ..store.base import Record, Store
from . import layout
from .objects import IPAddress, Service, ServiceCIDR
from .resources import IPADDRESSES, SERVICECIDRS, SERVICES

__all__ = ["StoreView"]

_T = TypeVar("_T", ServiceCIDR, IPAddress, Service)


def object_from_record(cls: Type[_T], rec: Record) -> _T:
    """The object a stored record holds, ``resourceVersion`` = the record's revision."""
    obj = cls.from_dict(rec.value)
    obj.resource_version = str(rec.revision)
    if not obj.name:
        obj.name = rec.key.rpartition("/")[2]
    return obj


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
        """The service cluster IP range recorded in the store (None: none)."""
        rec = self._store.get(layout.META, layout.RANGE_KEY)
        if rec is None or not isinstance(rec.value, dict):
            return None
        cidrs = rec.value.get("cidrs")
        return [str(c) for c in cidrs] if isinstance(cidrs, list) else None

    @property
    def initialised(self) -> bool:
        """Whether a service cluster IP range or any ServiceCIDR is recorded (``fastcidr init``
        or a ``Cluster`` with a range ran on this store)."""
        if self._store.get(layout.META, layout.RANGE_KEY) is not None:
            return True
        records, _ = self._store.list(layout.SERVICECIDRS)
        return bool(records)

    def _one(self, cls: Type[_T], kind: str, key: str, resource: str, name: str) -> _T:
        rec = self._store.get(kind, key)
        if rec is None:
            raise NotFoundError(resource, name)
        return object_from_record(cls, rec)

    def _all(self, cls: Type[_T], kind: str, keep: Optional[Callable[[str], bool]] = None) -> List[_T]:
        records, _ = self._store.list(kind)
        return [object_from_record(cls, r) for r in sorted(records, key=lambda r: r.key)
                if keep is None or keep(r.key)]

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
