"""The exception hierarchy of fastcidr (docs/api.md "Exceptions").

Every exception carries ``reason`` and ``code`` so the CLI and the HTTP server can speak
Kubernetes ``Status`` without a lookup table of their own.
"""
from __future__ import annotations

from typing import Iterable, List, Optional, Tuple

__all__ = [
    "FastCIDRError",
    "InvalidAddressError",
    "SnapshotError",
    "AllocationError",
    "RangeFullError",
    "AlreadyAllocatedError",
    "NotInRangeError",
    "MismatchedNetworkError",
    "NotReadyError",
    "ValidationError",
    "NotFoundError",
    "AlreadyExistsError",
    "ConflictError",
    "StoreError",
    "MissingDependencyError",
    "StoreNotFoundError",
    "Compacted",
    "ForbiddenError",
]


class FastCIDRError(Exception):
    """Base of every exception fastcidr raises on purpose."""

    reason = "InternalError"
    code = 500


class InvalidAddressError(FastCIDRError, ValueError):
    """An address or network that cannot be parsed, or is not allowed where it was given."""

    reason = "Invalid"
    code = 422


class SnapshotError(FastCIDRError, ValueError):
    """A snapshot or pickle that is damaged, truncated, foreign or of an unknown version."""

    reason = "Invalid"
    code = 422


class AllocationError(FastCIDRError):
    """An address could not be allocated."""

    reason = "InternalError"
    code = 500
    default_message = "allocation failed"

    def __init__(self, message: Optional[str] = None) -> None:
        super().__init__(message if message is not None else self.default_message)


class RangeFullError(AllocationError):
    default_message = "range is full"


class AlreadyAllocatedError(AllocationError):
    default_message = "provided IP is already allocated"


class NotInRangeError(AllocationError):
    """``the provided IP (<ip>) is not in the valid range. The range of valid IPs is <cidr>``"""

    def __init__(self, ip: object = None, cidr: object = None, message: Optional[str] = None) -> None:
        self.ip = ip
        self.cidr = cidr
        if message is None:
            message = (
                f"the provided IP ({ip}) is not in the valid range. The range of valid IPs is {cidr}"
            )
        super().__init__(message)


class MismatchedNetworkError(AllocationError):
    default_message = "the provided network does not match the current range"


class NotReadyError(AllocationError):
    default_message = "allocator not ready"


class ValidationError(FastCIDRError, ValueError):
    """Kubernetes field errors: ``.errors`` is a list of ``(field_path, message)`` pairs.

    >>> e = ValidationError([("spec.cidrs", "at least one CIDR required")])
    >>> str(e)
    'spec.cidrs: at least one CIDR required'
    """

    reason = "Invalid"
    code = 422

    def __init__(
        self,
        errors: Iterable[Tuple[str, str]],
        *,
        kind: Optional[str] = None,
        name: Optional[str] = None,
    ) -> None:
        self.errors: List[Tuple[str, str]] = [(str(f), str(m)) for f, m in errors]
        self.kind = kind
        self.name = name
        super().__init__("; ".join(f"{f}: {m}" if f else m for f, m in self.errors))


class NotFoundError(FastCIDRError, LookupError):
    """``servicecidrs.networking.k8s.io "x" not found``"""

    reason = "NotFound"
    code = 404

    def __init__(self, resource: str, name: str, message: Optional[str] = None) -> None:
        self.resource = resource
        self.name = name
        super().__init__(message if message is not None else f'{resource} "{name}" not found')

    def __str__(self) -> str:  # LookupError/KeyError-style repr quoting is not wanted
        return str(self.args[0])


class AlreadyExistsError(FastCIDRError):
    """``servicecidrs.networking.k8s.io "x" already exists``"""

    reason = "AlreadyExists"
    code = 409

    def __init__(self, resource: str, name: str, message: Optional[str] = None) -> None:
        self.resource = resource
        self.name = name
        super().__init__(message if message is not None else f'{resource} "{name}" already exists')


class ConflictError(FastCIDRError):
    """An optimistic-concurrency conflict in a store (the object changed since it was read)."""

    reason = "Conflict"
    code = 409


class StoreError(FastCIDRError):
    """A store is unreachable, closed or corrupt; the message says which."""

    reason = "InternalError"
    code = 500


class MissingDependencyError(StoreError):
    """An optional package a store needs is not installed; the message names the extra to
    install (``pip install 'fastcidr[etcd]'``)."""


class StoreNotFoundError(StoreError):
    """A store opened with ``create=False`` does not exist (a SQLite file that is not there);
    nothing was created. ``.path`` is where it was looked for."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"no fastcidr store at {path}")


class Compacted(StoreError):
    """A store's change log no longer reaches back to the requested revision: re-list."""


class ForbiddenError(FastCIDRError):
    """The request is refused whatever its content (e.g. deleting the ``default`` namespace)."""

    reason = "Forbidden"
    code = 403

    def __init__(self, message: str, *, resource: str = "", name: str = "") -> None:
        self.resource = resource
        self.name = name
        super().__init__(message)


class UnreadableRecordError(StoreError):
    """One stored record cannot be read back as an object: its value is not valid UTF-8 or JSON,
    not a JSON object, or not the shape its kind needs. ``location`` names it as
    ``<kind>/<key>`` (``meta/range``); ``reason_text`` says what is wrong. Listings skip
    such a record (with a warning); reading it by key raises this. ``fastcidr store inspect``
    lists them and ``fastcidr store remove`` deletes one (docs/stores.md)."""

    def __init__(self, kind: str, key: str, reason: str) -> None:
        self.store_kind = kind
        self.key = key
        self.location = f"{kind}/{key}"
        self.reason_text = reason
        super().__init__(f"unreadable record {self.location}: {reason}")


class ReadOnlyStoreError(StoreError):
    """A write to a store that is open read-only (a file or directory that is not writable, or
    opened with ``?mode=ro``): reads still work, nothing was written. Served as 503
    ServiceUnavailable, the answer of a server that cannot take writes just now."""

    reason = "ServiceUnavailable"
    code = 503


class UnknownOutcomeError(StoreError):
    """A write was sent, its answer was lost, and reading the store back could not tell whether
    it was applied (the store stayed unreachable). It may or may not have been applied: read the
    object before trying again. Served as 504 Timeout (the outcome of the request is unknown)."""

    reason = "Timeout"
    code = 504


class OutputDependencyError(MissingDependencyError, ImportError):
    """``output="netaddr"`` without netaddr installed (an ImportError too, so ``except
    ImportError`` sees it)."""
