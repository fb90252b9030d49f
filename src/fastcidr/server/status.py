"""``Status`` error bodies: the library's one translation (:mod:`fastcidr.k8s.status`), for the
server's modules."""
from __future__ import annotations

from ..k8s.status import (  # noqa: F401
    ApiError,
    already_exists,
    bad_request,
    cause_reason,
    conflict,
    expired,
    from_exception,
    internal_error,
    invalid,
    method_not_allowed,
    not_found,
    not_found_path,
    status_body,
    unsupported_media_type,
)

__all__ = ["ApiError", "status_body", "from_exception", "invalid", "not_found", "already_exists",
           "conflict", "bad_request", "cause_reason", "method_not_allowed", "not_found_path",
           "unsupported_media_type", "internal_error", "expired"]
