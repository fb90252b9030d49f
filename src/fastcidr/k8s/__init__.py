"""The Kubernetes layer: ServiceCIDR / IPAddress / Service objects and the ``Cluster``.

Names are imported on first use so that ``import fastcidr.k8s`` stays cheap.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._lazy import lazy_loader

if TYPE_CHECKING:
    from .cluster import Cluster as Cluster
    from .objects import (
        Condition as Condition,
    )
    from .objects import (
        Event as Event,
    )
    from .objects import (
        IPAddress as IPAddress,
    )
    from .objects import (
        ParentReference as ParentReference,
    )
    from .objects import (
        Service as Service,
    )
    from .objects import (
        ServiceCIDR as ServiceCIDR,
    )
    from .objects import (
        ServicePort as ServicePort,
    )

_LAZY = {
    "ServiceCIDR": "fastcidr.k8s.objects",
    "Condition": "fastcidr.k8s.objects",
    "IPAddress": "fastcidr.k8s.objects",
    "ParentReference": "fastcidr.k8s.objects",
    "Service": "fastcidr.k8s.objects",
    "ServicePort": "fastcidr.k8s.objects",
    "Event": "fastcidr.k8s.objects",
    "Cluster": "fastcidr.k8s.cluster",
}
_load = lazy_loader('fastcidr.k8s', _LAZY, globals())

__all__ = ["ServiceCIDR", "Condition", "IPAddress", "ParentReference", "Service", "ServicePort", "Event", "Cluster"]


def __getattr__(name: str) -> Any:
    return _load(name)


def __dir__() -> list:
    return sorted(list(globals()) + list(_LAZY))
