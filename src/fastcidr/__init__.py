"""fastcidr: O(1) IP address allocation over many IPv4/IPv6 CIDRs, with the Kubernetes
ServiceCIDR / IPAddress lifecycle (KEP-1880) as a library, a kubectl-like CLI and an API server.

>>> import fastcidr
>>> a = fastcidr.CIDRAllocator("10.96.0.0/28", seed=1, strategy="sequential")
>>> a.allocate_next()
'10.96.0.1'
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._lazy import lazy_loader

from . import _backend
from .errors import (
    AllocationError,
    AlreadyAllocatedError,
    AlreadyExistsError,
    ConflictError,
    FastCIDRError,
    ForbiddenError,
    InvalidAddressError,
    MismatchedNetworkError,
    MissingDependencyError,
    NotFoundError,
    NotInRangeError,
    NotReadyError,
    OutputDependencyError,
    RangeFullError,
    ReadOnlyStoreError,
    SnapshotError,
    StoreError,
    StoreNotFoundError,
    UnknownOutcomeError,
    UnreadableRecordError,
    ValidationError,
)

__version__ = "0.1.0"

BACKEND: str = _backend.BACKEND

if TYPE_CHECKING:
    # Type checkers see the compiled core's stubs (the twin has the same API) and the lazy names.
    from ._core import CIDRAllocator as CIDRAllocator
    from ._multi import MultiCIDRAllocator as MultiCIDRAllocator
    from ._tree import PrefixTree as PrefixTree
    from .ipset import IPSet as IPSet
    from .k8s.cluster import Cluster as Cluster
    from .k8s.objects import (
        Condition as Condition,
        Event as Event,
        IPAddress as IPAddress,
        ParentReference as ParentReference,
        Service as Service,
        ServiceCIDR as ServiceCIDR,
        ServicePort as ServicePort,
    )
    from .server import serve as serve
else:
    CIDRAllocator = _backend.impl.CIDRAllocator
    MultiCIDRAllocator = _backend.impl.MultiCIDRAllocator
    PrefixTree = _backend.impl.PrefixTree

# The Kubernetes layer, the stores and the server are imported on first use, so that
# `import fastcidr` (and the CLI's simple commands) stay fast.
_LAZY = {
    "ServiceCIDR": "fastcidr.k8s.objects",
    "Condition": "fastcidr.k8s.objects",
    "IPAddress": "fastcidr.k8s.objects",
    "ParentReference": "fastcidr.k8s.objects",
    "Service": "fastcidr.k8s.objects",
    "ServicePort": "fastcidr.k8s.objects",
    "Event": "fastcidr.k8s.objects",
    "Cluster": "fastcidr.k8s.cluster",
    "serve": "fastcidr.server",
    "IPSet": "fastcidr.ipset",
}
_load = lazy_loader('fastcidr', _LAZY, globals())


def __getattr__(name: str) -> Any:
    return _load(name)


def __dir__() -> list:
    return sorted(list(globals()) + list(_LAZY))


__all__ = [
    "BACKEND",
    "CIDRAllocator",
    "MultiCIDRAllocator",
    "PrefixTree",
    "IPSet",
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
    "StoreNotFoundError",
    "MissingDependencyError",
    "ForbiddenError",
    "UnreadableRecordError",
    "ReadOnlyStoreError",
    "UnknownOutcomeError",
    "OutputDependencyError",
    "ServiceCIDR",
    "Condition",
    "IPAddress",
    "ParentReference",
    "Service",
    "ServicePort",
    "Event",
    "Cluster",
    "serve",
]
