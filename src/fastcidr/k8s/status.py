"""The one translation of fastcidr's exceptions into the ``metav1.Status`` kube-apiserver sends.

The API server answers with these bodies; the command line renders the same bodies as kubectl's
text (``fastcidr.cli.kubectl_errors``). kubectl shows ``Error from server (<reason>): <message>``
for most errors, but rebuilds the text of a 422 from ``details`` (kind, name, causes), and
``create service`` prints the message verbatim: so reason, code, message and details all matter.

>>> from fastcidr.errors import NotFoundError
>>> from fastcidr.k8s.resources import SERVICECIDRS
>>> body = from_exception(NotFoundError(SERVICECIDRS.qualified, "x"), SERVICECIDRS, "x").body
>>> body["code"], body["reason"], body["message"], body["details"]["kind"]
(404, 'NotFound', 'servicecidrs.networking.k8s.io "x" not found', 'servicecidrs')
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

from .. import errors
from .resources import ResourceType

__all__ = ["ApiError", "status_body", "from_exception", "invalid", "not_found", "already_exists",
           "conflict", "bad_request", "cause_reason"]


class ApiError(Exception):
    """An error reply: ``code`` (the HTTP status) and a ready ``Status`` body."""

    def __init__(self, code: int, body: Dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.code = code
        self.body = body


def status_body(code: int, reason: str, message: str,
                details: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    body: Dict[str, Any] = {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason,
    }
    if details:
        body["details"] = details
    body["code"] = code
    return body


def _details(resource: Optional[ResourceType], name: Optional[str], *,
             kind: Optional[str] = None) -> Dict[str, Any]:
    details: Dict[str, Any] = {}
    if name:
        details["name"] = name
    if resource is not None:
        if resource.group:
            details["group"] = resource.group
        details["kind"] = kind if kind is not None else resource.plural
    return details


def not_found(resource: ResourceType, name: str) -> ApiError:
    return ApiError(404, status_body(404, "NotFound", f'{resource.qualified} "{name}" not found',
                                     _details(resource, name)))


def already_exists(resource: ResourceType, name: str) -> ApiError:
    return ApiError(409, status_body(409, "AlreadyExists",
                                     f'{resource.qualified} "{name}" already exists',
                                     _details(resource, name)))


def conflict(resource: ResourceType, name: str, detail: str = "") -> ApiError:
    detail = detail or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(409, status_body(409, "Conflict",
                                     f'Operation cannot be fulfilled on {resource.qualified} "{name}": {detail}',
                                     _details(resource, name)))


def bad_request(message: str) -> ApiError:
    return ApiError(400, status_body(400, "BadRequest", message))


def method_not_allowed(message: str = "the server does not allow this method on the requested resource") -> ApiError:
    return ApiError(405, status_body(405, "MethodNotAllowed", message))


def not_found_path() -> ApiError:
    return ApiError(404, status_body(404, "NotFound", "the server could not find the requested resource",
                                     {}))


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(415, status_body(415, "UnsupportedMediaType",
                                     f'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf ({content_type})'))


def internal_error(message: str) -> ApiError:
    return ApiError(500, status_body(500, "InternalError", f"Internal error occurred: {message}",
                                     {"causes": [{"message": message}]}))


def expired(message: str) -> ApiError:
    return ApiError(410, status_body(410, "Expired", message))


_CAUSE_PREFIXES: Sequence[Tuple[str, str]] = (
    ("Invalid value:", "FieldValueInvalid"),
    ("Required value", "FieldValueRequired"),
    ("Duplicate value:", "FieldValueDuplicate"),
    ("Unsupported value:", "FieldValueNotSupported"),
    ("Not found:", "FieldValueNotFound"),
    ("Forbidden:", "FieldValueForbidden"),
    ("Too long:", "FieldValueTooLong"),
    ("Too many:", "FieldValueTooMany"),
    ("Internal error:", "InternalError"),
)


def cause_reason(message: str) -> str:
    """The ``causes[].reason`` for a field error body (Go's ``field.ErrorType``)."""
    for prefix, reason in _CAUSE_PREFIXES:
        if message.startswith(prefix):
            return reason
    return "FieldValueInvalid"


def invalid(resource: ResourceType, name: str, field_errors: List[Tuple[str, str]]) -> ApiError:
    """422 Invalid; ``field_errors`` are ``(field, message)`` pairs (``ValidationError.errors``)."""
    causes = []
    texts = []
    for field_path, message in field_errors:
        cause = {"reason": cause_reason(message), "message": message}
        if field_path:
            cause["field"] = field_path
        causes.append(cause)
        texts.append(f"{field_path}: {message}" if field_path else message)
    aggregate = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    message = f'{resource.qualified_kind} "{name}" is invalid: {aggregate}'
    details = _details(resource, name, kind=resource.kind)
    details["causes"] = causes
    return ApiError(422, status_body(422, "Invalid", message, details))


def _split_field_error(text: str) -> Tuple[str, str]:
    """``spec.clusterIPs: Invalid value: ...`` -> (``spec.clusterIPs``, ``Invalid value: ...``)."""
    head, sep, rest = text.partition(": ")
    if sep and head and " " not in head:
        return head, rest
    return "", text


def from_exception(exc: BaseException, resource: Optional[ResourceType], name: str = "", *,
                   creating_service: bool = False) -> ApiError:
    """Translate a fastcidr exception into the Status kube-apiserver would send."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, errors.NotFoundError):
        body = status_body(404, "NotFound", str(exc),
                           _details(resource, getattr(exc, "name", name)))
        if resource is None or exc.resource != resource.qualified:
            body["details"] = {"name": exc.name, "kind": exc.resource.split(".", 1)[0]}
            group = exc.resource.partition(".")[2]
            if group:
                body["details"]["group"] = group
        return ApiError(404, body)
    if isinstance(exc, errors.AlreadyExistsError):
        body = status_body(409, "AlreadyExists", str(exc),
                           _details(resource, getattr(exc, "name", name)))
        return ApiError(409, body)
    if isinstance(exc, errors.ForbiddenError):
        return ApiError(403, status_body(403, "Forbidden", str(exc), {"name": exc.name, "kind": exc.resource}))
    if isinstance(exc, errors.ConflictError):
        if resource is not None:
            return conflict(resource, name)
        return ApiError(409, status_body(409, "Conflict", str(exc)))
    if isinstance(exc, errors.ValidationError):
        kind_resource = resource
        if resource is not None:
            return invalid(kind_resource, exc.name or name, exc.errors)  # type: ignore[arg-type]
        return ApiError(422, status_body(422, "Invalid", str(exc)))
    if getattr(exc, "code", None) == 422 and isinstance(exc, errors.FastCIDRError):
        # e.g. a requested clusterIP that cannot be allocated: "spec.clusterIPs: Invalid value: ..."
        if resource is not None:
            return invalid(resource, name, [_split_field_error(str(exc))])
        return ApiError(422, status_body(422, "Invalid", str(exc)))
    if isinstance(exc, errors.RangeFullError):
        message = str(exc)
        if creating_service and not message.startswith("failed to allocate"):
            message = f"failed to allocate a serviceIP: {message}"
        return internal_error(message)
    if isinstance(exc, errors.StoreError) and exc.code != 500:
        # a store that takes no writes (read-only: 503 ServiceUnavailable) or a write whose
        # outcome is unknown (504 Timeout); an unreadable record stays 500 InternalError naming
        # it, as kube-apiserver answers for a corrupt object in etcd (docs/stores.md)
        return ApiError(exc.code, status_body(exc.code, exc.reason, str(exc)))
    if isinstance(exc, errors.FastCIDRError):
        return internal_error(str(exc))
    # the class name of an unexpected exception is the server's business, not the client's
    return internal_error(str(exc) or "an unexpected error occurred")
