"""The resources this server serves: the registry of :mod:`fastcidr.k8s.resources`, re-exported
for the server's modules."""
from __future__ import annotations

from ..k8s.resources import (  # noqa: F401
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
           "unknown_fields", "find"]
