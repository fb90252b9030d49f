"""The resources this server serves: the registry of :mod:`fastcidr.k8s.resources`, re-exported
for the server's modules."""
from __future__ import annotations

from ..k8s.resources import (  # noqa: F401
    EVENTS,
    EVENTS_V1,
    SELF_SUBJECT_ACCESS_REVIEWS,
    SELF_SUBJECT_REVIEWS,
    IPADDRESSES,
    NAMESPACES,
    RESOURCES,
    SERVICECIDRS,
    SERVICES,
    ResourceType,
    find,
    unknown_fields,
)

__all__ = ["ResourceType", "SERVICECIDRS", "IPADDRESSES", "SERVICES", "NAMESPACES", "RESOURCES",
           "EVENTS", "EVENTS_V1", "SELF_SUBJECT_ACCESS_REVIEWS", "SELF_SUBJECT_REVIEWS",
           "unknown_fields", "find"]
