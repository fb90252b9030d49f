"""PLACEHOLDER during development: PrefixTree and MultiCIDRAllocator twins (issue 3)."""


class PrefixTree:  # placeholder
    def __init__(self, *a, **k):
        raise NotImplementedError


class MultiCIDRAllocator:  # placeholder
    def __init__(self, *a, **k):
        raise NotImplementedError
