"""The limits ``fastcidr serve`` holds, kube-apiserver's where it has one (docs/serve.md,
"Limits and security"), and the checks that enforce them before a request reaches the API.

Each check raises :class:`~fastcidr.server.status.ApiError` with the code and ``Status`` body
Kubernetes uses (400, 413, 415, 429), so a refused request changes nothing.
"""
from __future__ import annotations

import dataclasses
import json
import re
import resource
from typing import Any, Dict, Iterable

from . import status
from ..k8s.yaml_reader import json_type_name

__all__ = ["ServerLimits", "too_large", "too_many_requests", "check_nesting", "check_object_types",
           "check_numeric_query", "object_size", "SizeLimitedCluster", "default_max_connections"]

MIB = 1024 * 1024


def default_max_connections() -> int:
    """1024, or fewer when the process may open fewer files: the server keeps room for its own
    files (store, logs, the listening socket), so its own connections never exhaust them."""
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):  # pragma: no cover - every POSIX system has it
        return 1024
    if soft == resource.RLIM_INFINITY:
        return 1024
    return max(8, min(1024, soft - 64 if soft > 128 else soft // 2))


@dataclasses.dataclass
class ServerLimits:
    """Every limit of the server; the defaults are kube-apiserver's where it has one."""

    #: a request body (kube-apiserver's ``--max-request-body-bytes`` default, 3 MiB) -> 413
    max_body_bytes: int = 3 * MIB
    #: an object as it would be stored (etcd's default ``--max-request-bytes``, 1.5 MiB) -> 413
    max_object_bytes: int = 3 * MIB // 2
    #: operations in one JSON patch (kube-apiserver's ``maxJSONPatchOperations``) -> 413
    max_json_patch_operations: int = 10_000
    #: bytes the ``copy`` operations of one JSON patch may add (``--json-patch-max-copy-bytes``
    #: default, 3 MiB) -> 422, as kube-apiserver answers a patch that cannot be applied
    max_json_patch_copy_bytes: int = 3 * MIB
    #: nesting of a JSON or YAML body (objects and arrays) -> 400
    max_nesting_depth: int = 100
    #: seconds a keep-alive connection may wait for its next request (kube-apiserver: 90)
    idle_timeout: float = 90.0
    #: seconds from a request's first byte to the end of its headers (kube-apiserver: 32)
    header_timeout: float = 32.0
    #: seconds to receive a request's body (kube-apiserver's default request timeout: 60)
    body_timeout: float = 60.0
    #: seconds a response write may block on a client that does not read
    write_timeout: float = 60.0
    #: open connections; more are answered 429 and closed
    max_connections: int = dataclasses.field(default_factory=default_max_connections)
    #: concurrent watch streams; more are answered 429
    max_watches: int = 256

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{field.name} must be a positive number, got {value!r}")


def too_large(message: str) -> status.ApiError:
    """413, as kube-apiserver's ``NewRequestEntityTooLargeError``."""
    return status.ApiError(413, status.status_body(
        413, "RequestEntityTooLarge", f"Request entity too large: {message}"))


def too_many_requests(message: str = "Too many requests, please try again later.") -> status.ApiError:
    return status.ApiError(429, status.status_body(
        429, "TooManyRequests", message, {"retryAfterSeconds": 1}))


def check_nesting(value: Any, limit: int, *, allow_shared: bool = True) -> None:
    """400 if ``value`` nests objects/arrays deeper than ``limit``. Iterative (no recursion
    limit to hit). ``allow_shared=False`` also refuses a container reached twice: YAML aliases,
    whose expansion (on every later serialisation) is the "billion laughs" attack."""
    stack = [(value, 1)]
    seen = set()
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Iterable[Any] = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            raise status.bad_request(
                f"the request body nests objects and arrays deeper than {limit} levels")
        if not allow_shared:
            if id(node) in seen:
                raise status.bad_request("YAML aliases and anchors are not accepted in a request body")
            seen.add(id(node))
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, (dict, list)))


_STRING_META = ("name", "generateName", "namespace", "resourceVersion", "uid",
                "creationTimestamp", "deletionTimestamp", "selfLink")


def check_object_types(obj: Any, *, patch: bool = False) -> None:
    """400 when the fields every object shares (``apiVersion``, ``kind``, ``metadata`` and its
    strings, labels, annotations, finalizers, ``spec``/``status`` objects) have the wrong JSON
    type, as kube-apiserver's decoder refuses them ("cannot unmarshal number into ... of type
    string"). ``patch``: ``null`` is allowed everywhere (a merge patch's deletion)."""
    if not isinstance(obj, dict):
        return

    def refuse(field: str, value: Any, expected: str) -> None:
        kind = obj.get("kind") if isinstance(obj.get("kind"), str) else "object"
        raise status.bad_request(
            f"the {kind} cannot be handled: json: cannot unmarshal {json_type_name(value)} into "
            f"the field {field} of type {expected}")

    def expect(field: str, value: Any, kind: type, expected: str) -> bool:
        if value is None and patch:
            return False
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            refuse(field, value, expected)
        return True

    for field in ("apiVersion", "kind"):
        if field in obj:
            expect(field, obj[field], str, "string")
    for field in ("spec", "status"):
        if field in obj:
            expect(field, obj[field], dict, "object")
    metadata = obj.get("metadata")
    if metadata is None or not expect("metadata", metadata, dict, "object"):
        return
    for field in _STRING_META:
        if field in metadata:
            expect(f"metadata.{field}", metadata[field], str, "string")
    for field in ("labels", "annotations"):
        values = metadata.get(field)
        if values is not None and expect(f"metadata.{field}", values, dict, "map[string]string"):
            for key, value in values.items():
                expect(f"metadata.{field}[{key[:60]!r}]", value, str, "string")
    finalizers = metadata.get("finalizers")
    if finalizers is not None and expect("metadata.finalizers", finalizers, list, "[]string"):
        for value in finalizers:
            expect("metadata.finalizers[]", value, str, "string")
    references = metadata.get("ownerReferences")
    if references is not None and expect("metadata.ownerReferences", references, list, "[]object"):
        for value in references:
            expect("metadata.ownerReferences[]", value, dict, "object")


_INT64 = re.compile(r"^[0-9]{1,19}$")
_INT64_MAX = 2**63 - 1
#: the query parameters that carry a non-negative integer, and what kube-apiserver says of a bad one
_NUMERIC_QUERY = {
    "resourceVersion": "invalid resource version",
    "limit": "invalid limit",
    "timeoutSeconds": "invalid timeoutSeconds",
    "gracePeriodSeconds": "invalid gracePeriodSeconds",
}


def check_numeric_query(query: Dict[str, str]) -> None:
    """400 for a numeric query parameter that is not a plain ASCII number fitting int64
    (``str.isdigit`` accepts "²" and "٣", and ``int`` refuses more than 4,300 digits)."""
    for key, what in _NUMERIC_QUERY.items():
        value = query.get(key)
        if value and (not _INT64.match(value) or int(value) > _INT64_MAX):
            shown = value if len(value) <= 40 else value[:40] + "..."
            raise status.bad_request(f"{what} {shown!r}: must be a non-negative integer")


def object_size(obj: Any) -> int:
    """Bytes of ``obj`` as compact JSON (how it would be stored)."""
    return len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


class SizeLimitedCluster:
    """A Cluster whose writes refuse an object larger than ``max_object_bytes`` (413) before
    it is stored; every other attribute is the Cluster's own. It sits where the server hands
    objects to the Cluster, so creates, updates and every kind of patch are covered."""

    def __init__(self, cluster: Any, max_object_bytes: int) -> None:
        self._cluster = cluster
        self._max_object_bytes = max_object_bytes

    def _check(self, obj: Any) -> None:
        check_object_types(obj)  # a patch's result is first seen here
        size = object_size(obj)
        if size > self._max_object_bytes:
            raise too_large(f"the object is {size} bytes, limit is {self._max_object_bytes}")

    def create(self, body: Any, *args: Any, **kwargs: Any) -> Any:
        self._check(body)
        return self._cluster.create(body, *args, **kwargs)

    def update(self, body: Any, *args: Any, **kwargs: Any) -> Any:
        self._check(body)
        return self._cluster.update(body, *args, **kwargs)

    def update_status(self, body: Any, *args: Any, **kwargs: Any) -> Any:
        self._check(body)
        return self._cluster.update_status(body, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cluster, name)

    def __repr__(self) -> str:
        return f"<SizeLimitedCluster {self._cluster!r} max={self._max_object_bytes}>"
