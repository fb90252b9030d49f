"""PLACEHOLDER during development: the pure-Python twin is being written (issue 2)."""
from ._pure_multi import MultiCIDRAllocator, PrefixTree  # noqa: F401


class CIDRAllocator:  # placeholder, replaced by the real twin
    def __init__(self, *a, **k):
        raise NotImplementedError("pure twin not written yet")


__all__ = ["CIDRAllocator", "MultiCIDRAllocator", "PrefixTree"]
