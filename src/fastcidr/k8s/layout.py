"""How the Kubernetes layer's objects lie in a store: kinds, keys and projections.

A store (``fastcidr.store``) is generic: it maps ``(kind, key)`` to a JSON value and knows nothing
of Kubernetes. This module is the one place that says what goes where:

==================  ==================================  =========================================
store kind          key                                 value
==================  ==================================  =========================================
``servicecidrs``    the object's name                   the ServiceCIDR's wire form
``ipaddresses``     the address (canonical text)        the IPAddress's wire form
``services``        ``namespace/name``                  the Service's wire form
``meta``            ``service-cluster-ip-range``        ``{"cidrs": [...]}``, the configured range
``meta``            ``namespaces/<name>``               a Namespace created through the API
==================  ==================================  =========================================

:func:`project` is the projector a store is given (``Store.projector``): the part of a value that
start-up (index rebuild and repair) reads, which SQLite keeps beside the value.

>>> service_key("default", "web"), split_service_key("default/web")
('default/web', ('default', 'web'))
>>> project(SERVICES, {"metadata": {"name": "a"}, "spec": {"clusterIP": "10.0.0.1", "ports": []}})
{'spec': {'clusterIP': '10.0.0.1'}}
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

from .objects import LABEL_IP_FAMILY, LABEL_MANAGED_BY
from .resources import IPADDRESSES as _IPADDRESSES
from .resources import SERVICECIDRS as _SERVICECIDRS
from .resources import SERVICES as _SERVICES

__all__ = ["SERVICECIDRS", "IPADDRESSES", "SERVICES", "META", "RANGE_KEY", "NAMESPACE_PREFIX", "KINDS",
           "service_key", "split_service_key", "in_namespace", "namespace_key", "project"]

#: store kinds: the resources' plural names, and ``meta`` for settings
SERVICECIDRS = _SERVICECIDRS.plural
IPADDRESSES = _IPADDRESSES.plural
SERVICES = _SERVICES.plural
META = "meta"
KINDS = (SERVICECIDRS, IPADDRESSES, SERVICES, META)
#: the ``meta`` key of the configured service cluster IP range
RANGE_KEY = "service-cluster-ip-range"
#: the ``meta`` keys of Namespaces created through the API
NAMESPACE_PREFIX = "namespaces/"


def service_key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


def split_service_key(key: str) -> Tuple[str, str]:
    """``namespace/name`` → (namespace, name); a key without a namespace is in ``default``."""
    if "/" not in key:
        return "default", key
    namespace, _, name = key.partition("/")
    return namespace, name


def in_namespace(namespace: str) -> Callable[[str], bool]:
    """A test of Service keys: whether the key is in ``namespace``."""
    prefix = f"{namespace}/"
    return lambda key: key.startswith(prefix)


def namespace_key(name: str) -> str:
    return NAMESPACE_PREFIX + name


_IP_LABELS = (LABEL_MANAGED_BY, LABEL_IP_FAMILY)
_SERVICE_SPEC_FIELDS = ("type", "clusterIPs", "clusterIP")


def project(kind: str, value: Any) -> Optional[Dict[str, Any]]:
    """The part of a stored value that start-up (index rebuild and ``repair()``) reads, in the
    value's own shape, or None when the whole value is needed (another kind, or an odd shape).

    An IPAddress keeps ``spec.parentRef``, its creation timestamp and the family / managed-by
    labels; a Service keeps ``spec.type``, ``spec.clusterIPs`` and ``spec.clusterIP``.
    """
    if not isinstance(value, dict):
        return None
    if kind == IPADDRESSES:
        spec = value.get("spec")
        meta = value.get("metadata")
        if not isinstance(spec, dict) or not isinstance(meta, dict):
            return None
        labels = meta.get("labels")
        if labels is not None and not isinstance(labels, dict):
            return None
        small_meta: Dict[str, Any] = {}
        if "creationTimestamp" in meta:
            small_meta["creationTimestamp"] = meta["creationTimestamp"]
        if labels is not None:
            small_meta["labels"] = {k: labels[k] for k in _IP_LABELS if k in labels}
        return {"metadata": small_meta, "spec": {"parentRef": spec["parentRef"]} if "parentRef" in spec else {}}
    if kind == SERVICES:
        spec = value.get("spec")
        if spec is None:
            return {}
        if not isinstance(spec, dict):
            return None
        return {"spec": {k: spec[k] for k in _SERVICE_SPEC_FIELDS if k in spec}}
    return None
