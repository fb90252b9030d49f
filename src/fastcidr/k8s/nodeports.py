"""Service node ports: the ``--service-node-port-range`` allocator (docs/kubernetes-objects.md).

Like kube-apiserver's port allocator, the range is split in two bands: the lowest
``min(max(16, size/32), 128)`` ports (none for a range of 16 or fewer) are the static band, which
dynamic allocation uses only when the upper, dynamic band is full, so that ports users pick by
hand rarely collide with generated ones.

Each band is a bitmap of the core (a ``CIDRAllocator``: port ``first + i`` is the band's address
``i + 1``; addresses past the band are taken at construction). Allocations are durable as store
records ``meta/nodeports/<port>`` holding the owning Service's key, created in the same
transaction as the Service (a conditional create: two servers on one store cannot hand out one
port twice), and the allocator is rebuilt from those records.

>>> a = NodePortAllocator(30000, 32767)
>>> a.band_offset, a.contains(30080), a.contains(80)
(86, True, False)
>>> a.allocate(30080); a.has(30080)
True
>>> 30086 <= a.allocate_next() <= 32767
True
"""
from __future__ import annotations

from typing import Any, Iterable, List, Optional, Tuple

from .. import _backend
from ..errors import AlreadyAllocatedError, RangeFullError

__all__ = ["NodePortAllocator", "NODE_PORT_PREFIX", "DEFAULT_NODE_PORT_RANGE", "parse_port_range",
           "range_offset", "node_port_key", "NotInRangeError"]

NODE_PORT_PREFIX = "nodeports/"
DEFAULT_NODE_PORT_RANGE = (30000, 32767)


class NotInRangeError(ValueError):
    """A requested node port outside the range (upstream's ``ErrNotInRange`` text)."""


def node_port_key(port: int) -> str:
    return f"{NODE_PORT_PREFIX}{int(port)}"


def parse_port_range(text: Any) -> Tuple[int, int]:
    """``"30000-32767"`` (or ``"30000+2767"``, or one port) as (first, last), as
    ``net.ParsePortRange`` reads ``--service-node-port-range``.

    >>> parse_port_range("30000-32767"), parse_port_range("30000+10"), parse_port_range("8080")
    ((30000, 32767), (30000, 30010), (8080, 8080))
    """
    if isinstance(text, (tuple, list)) and len(text) == 2:
        first, last = int(text[0]), int(text[1])
    else:
        value = str(text).strip()
        try:
            if "-" in value:
                a, b = value.split("-", 1)
                first, last = int(a), int(b)
            elif "+" in value:
                a, b = value.split("+", 1)
                first, last = int(a), int(a) + int(b)
            else:
                first = last = int(value)
        except ValueError:
            raise ValueError(f"unable to parse port range {text!r}") from None
    if not (0 < first <= last <= 65535):
        raise ValueError(f"invalid port range {text!r}: want 1 <= first <= last <= 65535")
    return first, last


def range_offset(size: int) -> int:
    """The size of the static band: ``min(max(16, size/32), 128)``, 0 for 16 ports or fewer."""
    if size <= 16:
        return 0
    return min(max(16, size // 32), 128)


class _Band:
    """Ports ``first..last`` on one core ``CIDRAllocator``."""

    def __init__(self, impl: Any, first: int, last: int, seed: Optional[int]) -> None:
        self.first, self.last = first, last
        size = last - first + 1
        bits = max(2, (size + 1).bit_length())  # room for the network address and the broadcast
        if (1 << bits) < size + 2:
            bits += 1
        self._base = 0x0A000000  # 10.0.0.0/(32-bits); only offsets matter
        self._alloc = impl.CIDRAllocator(f"10.0.0.0/{32 - bits}", seed=seed)
        for address in range(size + 1, (1 << bits) - 1):  # past the band: never handed out
            self._alloc.allocate(self._text(address))

    @staticmethod
    def _text(offset: int) -> str:
        value = 0x0A000000 + offset
        return f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"

    def _address(self, port: int) -> str:
        return self._text(port - self.first + 1)

    def allocate(self, port: int) -> None:
        self._alloc.allocate(self._address(port))

    def allocate_next(self) -> int:
        value = self._alloc.allocate_next_int()
        return int(value) - self._base - 1 + self.first

    def release(self, port: int) -> None:
        self._alloc.release(self._address(port))

    def has(self, port: int) -> bool:
        return bool(self._alloc.has(self._address(port)))


class NodePortAllocator:
    """The node ports of ``first..last`` with upstream's static/dynamic band rule."""

    def __init__(self, first: int = DEFAULT_NODE_PORT_RANGE[0], last: int = DEFAULT_NODE_PORT_RANGE[1], *,
                 seed: Optional[int] = None, used: Iterable[int] = ()) -> None:
        impl = _backend.impl
        self.first, self.last = int(first), int(last)
        self.band_offset = range_offset(self.last - self.first + 1)
        split = self.first + self.band_offset
        self._static = _Band(impl, self.first, split - 1, seed) if self.band_offset else None
        self._dynamic = _Band(impl, split, self.last, seed)
        for port in used:
            if self.contains(port) and not self.has(port):
                self.allocate(port)

    @property
    def range_text(self) -> str:
        """As upstream prints a ``net.PortRange``: ``30000-32767``."""
        return f"{self.first}-{self.last}"

    def contains(self, port: int) -> bool:
        return self.first <= port <= self.last

    def _band(self, port: int) -> _Band:
        if not self.contains(port):
            raise NotInRangeError(
                f"provided port is not in the valid range. The range of valid ports is {self.range_text}")
        if self._static is not None and port <= self._static.last:
            return self._static
        return self._dynamic

    def allocate(self, port: int) -> None:
        """Take ``port``: ``NotInRangeError`` outside the range, ``AlreadyAllocatedError`` if taken."""
        band = self._band(port)
        try:
            band.allocate(port)
        except AlreadyAllocatedError:
            raise AlreadyAllocatedError("provided port is already allocated") from None

    def allocate_next(self) -> int:
        """A free port, from the dynamic band first; ``RangeFullError`` when none is left."""
        try:
            return self._dynamic.allocate_next()
        except RangeFullError:
            if self._static is None:
                raise RangeFullError("range is full") from None
        try:
            return self._static.allocate_next()
        except RangeFullError:
            raise RangeFullError("range is full") from None

    def release(self, port: int) -> None:
        if self.contains(port) and self.has(port):
            self._band(port).release(port)

    def has(self, port: int) -> bool:
        return self.contains(port) and self._band(port).has(port)

    def used(self) -> List[int]:
        return [p for p in range(self.first, self.last + 1) if self.has(p)]
