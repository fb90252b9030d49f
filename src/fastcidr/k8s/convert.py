"""Converters between fastcidr's objects (``Service``, ``ServiceCIDR``, ``IPAddress``) and the
models of the official ``kubernetes`` client and of lightkube (docs/ipset.md "Client models").

Both directions go through the Kubernetes wire form (``to_dict()`` / ``from_dict()`` of
fastcidr.k8s.objects), which is what both libraries are generated from, so a field either side
does not model is not silently invented. The client libraries are imported on first use; a
missing one raises ``ImportError`` naming what to install.

- ``to_kubernetes(obj)`` -> ``V1Service`` / ``V1ServiceCIDR`` / ``V1IPAddress`` (the ``v1beta1``
  models when the installed client has no ``v1`` ones); ``from_kubernetes(model)`` the reverse,
  also for the ``...List`` models (a ``list`` of objects).
- ``to_lightkube(obj)`` -> ``lightkube.resources.core_v1.Service`` /
  ``networking_v1.ServiceCIDR`` / ``networking_v1.IPAddress``; ``from_lightkube(resource)`` the
  reverse (also for lightkube's list models).

>>> from fastcidr.k8s.objects import ServiceCIDR
>>> model = to_kubernetes(ServiceCIDR("extra", ["10.97.0.0/24"]))
>>> type(model).__name__, model.spec.cidrs
('V1ServiceCIDR', ['10.97.0.0/24'])
>>> from_kubernetes(model) == ServiceCIDR("extra", ["10.97.0.0/24"])
True
"""
from __future__ import annotations

import importlib
import inspect
import json
from typing import Any, Dict, List, Tuple, Type, Union

from .objects import IPAddress, Service, ServiceCIDR

__all__ = ["to_kubernetes", "from_kubernetes", "to_lightkube", "from_lightkube"]

Obj = Union[Service, ServiceCIDR, IPAddress]

# fastcidr class -> (API group version, kind); the client model names follow from them
_KINDS: Dict[Type[Any], Tuple[str, str]] = {
    Service: ("v1", "Service"),
    ServiceCIDR: ("networking.k8s.io/v1", "ServiceCIDR"),
    IPAddress: ("networking.k8s.io/v1", "IPAddress"),
}
_BY_KIND: Dict[str, Type[Any]] = {kind: cls for cls, (_, kind) in _KINDS.items()}
# versions tried, newest first, for the kinds that went through beta
_NETWORKING_VERSIONS = ("v1", "v1beta1")


def _require(module: str, package: str, what: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"fastcidr.k8s.convert.{what} needs the {package!r} package: "
                          f"pip install {package}") from None


def _kind_of(obj: Any) -> Tuple[str, str]:
    try:
        return _KINDS[type(obj)]
    except KeyError:
        raise TypeError(f"expected a fastcidr Service, ServiceCIDR or IPAddress, got {type(obj).__name__}") from None


def _to_object(wire: Dict[str, Any], kind: str) -> Obj:
    cls = _BY_KIND.get(kind)
    if cls is None:
        raise TypeError(f"no fastcidr object for kind {kind!r} (Service, ServiceCIDR, IPAddress)")
    return cls.from_dict(wire)  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------- kubernetes

class _Response:
    """What an older client's ``ApiClient.deserialize(response, type)`` reads: a body in ``.data``."""

    def __init__(self, text: str) -> None:
        self.data = text


def _deserialize(client: Any, wire: Dict[str, Any], model_name: str) -> Any:
    """``ApiClient.deserialize``, its public way in: the body as text; newer clients (v33+) take
    it with a content type, older ones wrapped in a response object."""
    text = json.dumps(wire)
    if "response_text" in inspect.signature(client.deserialize).parameters:
        return client.deserialize(text, model_name, "application/json")
    return client.deserialize(_Response(text), model_name)


_client_cache: List[Any] = []


def _api_client() -> Any:
    if not _client_cache:
        client = _require("kubernetes.client", "kubernetes", "to_kubernetes/from_kubernetes")
        _client_cache.append(client.ApiClient())
    return _client_cache[0]


def _kubernetes_model(group_version: str, kind: str) -> Tuple[str, str]:
    """(model class name, apiVersion) of ``kind`` in the installed client, newest version first."""
    client = _require("kubernetes.client", "kubernetes", "to_kubernetes")
    if "/" not in group_version:
        return f"V1{kind}", group_version
    group = group_version.split("/")[0]
    for version in _NETWORKING_VERSIONS:
        name = f"{version[0].upper()}{version[1:]}{kind}"
        if hasattr(client, name):
            return name, f"{group}/{version}"
    raise ImportError(f"the installed 'kubernetes' client has no {kind} model: pip install -U kubernetes")


def to_kubernetes(obj: Obj) -> Any:
    """The official client's model of a fastcidr Service, ServiceCIDR or IPAddress."""
    group_version, kind = _kind_of(obj)
    model_name, api_version = _kubernetes_model(group_version, kind)
    wire = obj.to_dict()
    wire["apiVersion"] = api_version
    return _deserialize(_api_client(), wire, model_name)


def from_kubernetes(model: Any) -> Union[Obj, List[Obj]]:
    """The fastcidr object of an official client model (a list for ``V1ServiceList`` etc.)."""
    wire = _api_client().sanitize_for_serialization(model)
    name = type(model).__name__
    if name.endswith("List") and isinstance(wire, dict) and "items" in wire:
        kind = _model_kind(name[: -len("List")])
        return [_to_object(item, kind) for item in wire.get("items") or []]
    if not isinstance(wire, dict):
        raise TypeError(f"expected a kubernetes client model, got {name}")
    return _to_object(wire, _model_kind(name))


def _model_kind(model_name: str) -> str:
    """``V1beta1ServiceCIDR`` -> ``ServiceCIDR``: the version prefix is V, digits, optional
    alpha/beta and digits."""
    rest = model_name[1:] if model_name.startswith("V") else model_name
    rest = rest.lstrip("0123456789")
    for stage in ("alpha", "beta"):
        if rest.startswith(stage):
            rest = rest[len(stage):].lstrip("0123456789")
    return rest


# ----------------------------------------------------------------------------- lightkube

def _lightkube_class(group_version: str, kind: str) -> Any:
    if "/" not in group_version:
        module = _require("lightkube.resources.core_v1", "lightkube", "to_lightkube")
        return getattr(module, kind)
    _require("lightkube.resources", "lightkube", "to_lightkube")
    for version in _NETWORKING_VERSIONS:
        try:
            module = importlib.import_module(f"lightkube.resources.networking_{version}")
        except ImportError:
            continue
        if hasattr(module, kind):
            return getattr(module, kind)
    raise ImportError(f"the installed lightkube models have no {kind}: pip install -U lightkube-models")


def to_lightkube(obj: Obj) -> Any:
    """The lightkube resource of a fastcidr Service, ServiceCIDR or IPAddress."""
    group_version, kind = _kind_of(obj)
    cls = _lightkube_class(group_version, kind)
    wire = obj.to_dict()
    wire["apiVersion"] = cls._api_info.resource.api_version
    return cls.from_dict(wire)


def from_lightkube(resource: Any) -> Union[Obj, List[Obj]]:
    """The fastcidr object of a lightkube resource (a list for lightkube's list models)."""
    to_dict = getattr(resource, "to_dict", None)
    if to_dict is None:
        raise TypeError(f"expected a lightkube resource, got {type(resource).__name__}")
    wire = to_dict()
    name = type(resource).__name__
    if name.endswith("List") and "items" in wire:
        kind = name[: -len("List")]
        return [_to_object(item, kind) for item in wire.get("items") or []]
    return _to_object(wire, str(wire.get("kind") or name))
