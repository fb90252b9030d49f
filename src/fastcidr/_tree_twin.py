"""Pure-Python twin of ``_tree``: :class:`PrefixTree` (and the trie ``_multi_twin`` builds on).

Same API, same results as the compiled core; slower by a constant factor only.

>>> t = PrefixTree()
>>> t["10.0.0.0/8"] = "a"; t["10.1.0.0/16"] = "b"
>>> t.longest_match("10.1.2.3")
('10.1.0.0/16', 'b')
"""
from __future__ import annotations

from typing import Any, Iterator, List, Optional, Tuple

from ._core_twin import parse_cidr, parse_ip
from .errors import InvalidAddressError
from ._rules import WIDTH as _WIDTH, format_cidr

__all__ = ["PrefixTree"]


# ----------------------------------------------------------------------------------------------
# Input helpers shared by both classes
# ----------------------------------------------------------------------------------------------

def _family_arg(family: Any) -> Optional[int]:
    """Normalise a ``family`` argument: None, "IPv4"/"IPv6", 4/6."""
    if family is None:
        return None
    is_int = isinstance(family, int) and not isinstance(family, bool)
    if family == "IPv4" or (is_int and family == 4):
        return 4
    if family == "IPv6" or (is_int and family == 6):
        return 6
    raise ValueError(f"family must be 'IPv4', 'IPv6', 4, 6 or None, got {family!r}")


def _is_network_like(obj: Any) -> bool:
    if isinstance(obj, str):
        return "/" in obj
    return hasattr(obj, "prefixlen")


def _parse_ip_or_cidr(obj: Any) -> Tuple[int, int, int]:
    """(family, network, prefix length); an address is a full-length prefix."""
    if _is_network_like(obj):
        return parse_cidr(obj)
    family, value = parse_ip(obj)
    return family, value, _WIDTH[family]


# ----------------------------------------------------------------------------------------------
# The trie
# ----------------------------------------------------------------------------------------------

class _Node:
    """One trie node: a prefix, maybe a stored value, two children."""

    __slots__ = ("net", "plen", "has", "value", "key", "c0", "c1")

    def __init__(self, net: int, plen: int) -> None:
        self.net = net
        self.plen = plen
        self.has = False
        self.value: Any = None
        self.key: Optional[str] = None  # canonical text, set while a value is stored
        self.c0: Optional[_Node] = None
        self.c1: Optional[_Node] = None


class _Trie:
    """A path-compressed binary trie over the prefixes of one family (``width`` bits)."""

    __slots__ = ("family", "width", "root", "count")

    def __init__(self, family: int) -> None:
        self.family = family
        self.width = _WIDTH[family]
        self.root: Optional[_Node] = None
        self.count = 0

    def _bit(self, value: int, pos: int) -> int:
        return (value >> (self.width - 1 - pos)) & 1

    def _contains(self, node: _Node, net: int, plen: int) -> bool:
        """node's prefix equals or contains (net, plen)."""
        return node.plen <= plen and ((node.net ^ net) >> (self.width - node.plen)) == 0

    def find(self, net: int, plen: int) -> Optional[_Node]:
        node = self.root
        while node is not None and self._contains(node, net, plen):
            if node.plen == plen:
                return node if node.has else None
            node = node.c1 if self._bit(net, node.plen) else node.c0
        return None

    def insert(self, net: int, plen: int, value: Any) -> Tuple[_Node, bool]:
        """Store value; returns (node, replaced)."""
        width = self.width
        parent: Optional[_Node] = None
        parent_bit = 0
        node = self.root
        while node is not None:
            diff = node.net ^ net
            common = min(node.plen, plen, width - diff.bit_length())
            if common == node.plen:
                if node.plen == plen:
                    replaced = node.has
                    if not replaced:
                        self.count += 1
                        node.key = format_cidr(self.family, net, plen)
                    node.has = True
                    node.value = value
                    return node, replaced
                parent = node
                parent_bit = self._bit(net, node.plen)
                node = node.c1 if parent_bit else node.c0
                continue
            new = _Node(net, plen)
            new.has = True
            new.value = value
            new.key = format_cidr(self.family, net, plen)
            if common == plen:  # the new prefix is an ancestor of node
                top = new
                if self._bit(node.net, plen):
                    new.c1 = node
                else:
                    new.c0 = node
            else:  # they diverge at bit `common`: a glue node holds both
                mask = ((1 << common) - 1) << (width - common)
                top = _Node(net & mask, common)
                if self._bit(net, common):
                    top.c1, top.c0 = new, node
                else:
                    top.c0, top.c1 = new, node
            self._link(parent, parent_bit, top)
            self.count += 1
            return new, False
        new = _Node(net, plen)
        new.has = True
        new.value = value
        new.key = format_cidr(self.family, net, plen)
        self._link(parent, parent_bit, new)
        self.count += 1
        return new, False

    def _link(self, parent: Optional[_Node], bit: int, child: Optional[_Node]) -> None:
        if parent is None:
            self.root = child
        elif bit:
            parent.c1 = child
        else:
            parent.c0 = child

    def delete(self, net: int, plen: int) -> Optional[_Node]:
        """Remove the value at exactly (net, plen); returns the node it was in, or None."""
        path: List[Tuple[Optional[_Node], int]] = []  # (parent, bit) leading to each node
        parent: Optional[_Node] = None
        bit = 0
        node = self.root
        while node is not None and self._contains(node, net, plen) and node.plen < plen:
            path.append((parent, bit))
            parent = node
            bit = self._bit(net, node.plen)
            node = node.c1 if bit else node.c0
        if node is None or node.plen != plen or node.net != net or not node.has:
            return None
        removed = _Node(node.net, node.plen)
        removed.has, removed.value, removed.key = True, node.value, node.key
        node.has = False
        node.value = None
        node.key = None
        self.count -= 1
        if node.c0 is not None and node.c1 is not None:
            return removed
        only = node.c0 if node.c0 is not None else node.c1
        self._link(parent, bit, only)
        # A glue node left with one child is spliced out too.
        if only is None and parent is not None and not parent.has:
            other = parent.c1 if bit == 0 else parent.c0
            grand, grand_bit = path[-1]
            self._link(grand, grand_bit, other)
        return removed

    def path(self, net: int, plen: int) -> List[_Node]:
        """Stored nodes equal to or containing (net, plen), least specific first."""
        out = []
        node = self.root
        while node is not None and self._contains(node, net, plen):
            if node.has:
                out.append(node)
            if node.plen == plen:
                break
            node = node.c1 if self._bit(net, node.plen) else node.c0
        return out

    def host_path(self, value: int) -> List[_Node]:
        """Stored nodes holding the address as a host, least specific first."""
        width = self.width
        out = []
        node = self.root
        while node is not None and self._contains(node, value, width):
            if node.has and self._is_host(node, value):
                out.append(node)
            if node.plen == width:
                break
            node = node.c1 if self._bit(value, node.plen) else node.c0
        return out

    def _is_host(self, node: _Node, value: int) -> bool:
        if value == node.net:
            return False
        if self.family == 4:
            return value != node.net | ((1 << (32 - node.plen)) - 1)
        return True

    def subtree(self, net: int, plen: int) -> Optional[_Node]:
        """The highest node whose prefix is equal to or inside (net, plen)."""
        node = self.root
        width = self.width
        while node is not None:
            if node.plen >= plen:
                inside = ((node.net ^ net) >> (width - plen)) == 0 if plen else True
                return node if inside else None
            if not self._contains(node, net, plen):
                return None
            node = node.c1 if self._bit(net, node.plen) else node.c0
        return None

    @staticmethod
    def preorder(start: Optional[_Node], stop_at_value: bool = False) -> Iterator[_Node]:
        """Stored nodes under start in pre-order (= ascending address, then prefix length)."""
        stack = [start] if start is not None else []
        while stack:
            node = stack.pop()
            if node.has:
                yield node
                if stop_at_value:
                    continue
            if node.c1 is not None:
                stack.append(node.c1)
            if node.c0 is not None:
                stack.append(node.c0)


# ----------------------------------------------------------------------------------------------
# PrefixTree
# ----------------------------------------------------------------------------------------------

class PrefixTree:
    """A map from CIDR to value over both families (Kubernetes' ``iptree``), as a
    path-compressed binary trie; IPv4 and IPv6 keys live in separate roots and never mix.

    Results name prefixes by canonical text. Not locked: concurrent writers need their own lock.

    >>> t = PrefixTree()
    >>> t.insert("192.168.0.0/16", 1), t.insert("192.168.0.0/24", 2), t.insert("192.168.0.0/24", 3)
    (False, False, True)
    >>> t.host_matches("192.168.0.3")
    [('192.168.0.0/24', 3), ('192.168.0.0/16', 1)]
    >>> t.host_matches("192.168.0.255")
    [('192.168.0.0/16', 1)]
    >>> list(t)
    ['192.168.0.0/16', '192.168.0.0/24']
    """

    __slots__ = ("_v4", "_v6")

    def __init__(self) -> None:
        self._v4 = _Trie(4)
        self._v6 = _Trie(6)

    def _trie(self, family: int) -> _Trie:
        return self._v4 if family == 4 else self._v6

    # -- mapping ----------------------------------------------------------------------------
    def insert(self, cidr: Any, value: Any) -> bool:
        """Store value under cidr; True when it replaced an existing value."""
        family, net, plen = parse_cidr(cidr)
        return self._trie(family).insert(net, plen, value)[1]

    def __setitem__(self, cidr: Any, value: Any) -> None:
        self.insert(cidr, value)

    def __getitem__(self, cidr: Any) -> Any:
        family, net, plen = parse_cidr(cidr)
        node = self._trie(family).find(net, plen)
        if node is None:
            raise KeyError(format_cidr(family, net, plen))
        return node.value

    def get(self, cidr: Any, default: Any = None) -> Any:
        family, net, plen = parse_cidr(cidr)
        node = self._trie(family).find(net, plen)
        return default if node is None else node.value

    def __delitem__(self, cidr: Any) -> None:
        family, net, plen = parse_cidr(cidr)
        if self._trie(family).delete(net, plen) is None:
            raise KeyError(format_cidr(family, net, plen))

    def pop(self, cidr: Any, *default: Any) -> Any:
        family, net, plen = parse_cidr(cidr)
        node = self._trie(family).delete(net, plen)
        if node is None:
            if default:
                return default[0]
            raise KeyError(format_cidr(family, net, plen))
        return node.value

    def __contains__(self, cidr: Any) -> bool:
        family, net, plen = parse_cidr(cidr)
        return self._trie(family).find(net, plen) is not None

    def __len__(self) -> int:
        return self._v4.count + self._v6.count

    def __bool__(self) -> bool:
        return len(self) > 0

    def _nodes(self) -> List[_Node]:
        return list(_Trie.preorder(self._v4.root)) + list(_Trie.preorder(self._v6.root))

    def __iter__(self) -> Iterator[str]:
        return iter([n.key for n in self._nodes()])  # type: ignore[misc]

    def keys(self) -> List[str]:
        return [n.key for n in self._nodes()]  # type: ignore[misc]

    def values(self) -> List[Any]:
        return [n.value for n in self._nodes()]

    def items(self) -> List[Tuple[str, Any]]:
        return [(n.key, n.value) for n in self._nodes()]  # type: ignore[misc]

    def clear(self) -> None:
        self._v4 = _Trie(4)
        self._v6 = _Trie(6)

    # -- queries ----------------------------------------------------------------------------
    def longest_match(self, ip_or_cidr: Any) -> Optional[Tuple[str, Any]]:
        """The most specific stored prefix equal to or containing the query."""
        family, net, plen = _parse_ip_or_cidr(ip_or_cidr)
        path = self._trie(family).path(net, plen)
        if not path:
            return None
        node = path[-1]
        return node.key, node.value  # type: ignore[return-value]

    def shortest_match(self, ip_or_cidr: Any) -> Optional[Tuple[str, Any]]:
        """The least specific stored prefix equal to or containing the query."""
        family, net, plen = _parse_ip_or_cidr(ip_or_cidr)
        path = self._trie(family).path(net, plen)
        if not path:
            return None
        node = path[0]
        return node.key, node.value  # type: ignore[return-value]

    def host_matches(self, ip: Any) -> List[Tuple[str, Any]]:
        """Stored prefixes holding ip as a host address (docs/behaviour.md §1), most specific first."""
        family, value = parse_ip(ip)
        return [(n.key, n.value) for n in reversed(self._trie(family).host_path(value))]  # type: ignore[misc]

    def _int_address(self, value: Any, family: Any) -> Tuple[int, int]:
        fam = _family_arg(family)
        if fam is None:
            raise ValueError("family must be given for an integer address")
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidAddressError(f"invalid IP address {value!r}: not an integer")
        if not 0 <= value < (1 << _WIDTH[fam]):
            raise InvalidAddressError(f"invalid IP address {value!r}: out of range for IPv{fam}")
        return fam, value

    def longest_match_int(self, value: int, family: Any = 4) -> Optional[Tuple[str, Any]]:
        """``longest_match`` for an integer address of the given family (an extra fast path)."""
        fam, value = self._int_address(value, family)
        path = self._trie(fam).path(value, _WIDTH[fam])
        return (path[-1].key, path[-1].value) if path else None  # type: ignore[return-value]

    def host_matches_int(self, value: int, family: Any = 4) -> List[Tuple[str, Any]]:
        """``host_matches`` for an integer address of the given family (an extra fast path)."""
        fam, value = self._int_address(value, family)
        return [(n.key, n.value) for n in reversed(self._trie(fam).host_path(value))]  # type: ignore[misc]

    def covering(self, cidr: Any) -> List[Tuple[str, Any]]:
        """Stored prefixes equal to or containing cidr, least specific first."""
        family, net, plen = parse_cidr(cidr)
        return [(n.key, n.value) for n in self._trie(family).path(net, plen)]  # type: ignore[misc]

    def covered(self, cidr: Any) -> List[Tuple[str, Any]]:
        """Stored prefixes equal to or inside cidr, in pre-order (ascending)."""
        family, net, plen = parse_cidr(cidr)
        trie = self._trie(family)
        return [(n.key, n.value) for n in _Trie.preorder(trie.subtree(net, plen))]  # type: ignore[misc]

    def top_level(self, family: Any = None) -> List[Tuple[str, Any]]:
        """Stored prefixes not contained in another stored prefix, ascending."""
        fam = _family_arg(family)
        out: List[Tuple[str, Any]] = []
        for trie in (self._v4, self._v6):
            if fam is None or fam == trie.family:
                out.extend((n.key, n.value) for n in _Trie.preorder(trie.root, stop_at_value=True))  # type: ignore[misc]
        return out

    # -- protocol ---------------------------------------------------------------------------
    def __reduce__(self) -> Any:
        return (self.__class__, (), self.items())

    def __setstate__(self, state: Any) -> None:
        for key, value in state:
            self.insert(key, value)

    def __repr__(self) -> str:
        return f"PrefixTree({dict(self.items())!r})"
