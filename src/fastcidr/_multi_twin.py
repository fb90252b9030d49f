"""Pure-Python twin of ``_multi``: :class:`MultiCIDRAllocator`.

Same API, same algorithms (docs/ALGORITHMS.md "Many CIDRs"), same results for the same seed and
byte-identical snapshots as the compiled core; slower by a constant factor only.

>>> m = MultiCIDRAllocator(["10.0.0.0/28"], seed=1, policy="ordered")
>>> m.allocate("10.0.0.3")
'10.0.0.3'
>>> m.stats("10.0.0.0/28")
{'size': 14, 'used': 1, 'free': 13, 'utilisation': 0.07142857142857142}
"""
from __future__ import annotations

import struct
import threading
import zlib
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from .errors import (
    AlreadyAllocatedError,
    MismatchedNetworkError,
    RangeFullError,
    SnapshotError,
)
from . import _freespace
from ._addr_twin import parse_cidr, parse_ip
from ._core_twin import Xoshiro256
from ._snapshot_twin import decode_body, decode_body_parts, encode_body, encode_body_dense
from ._space_twin import DenseBitmap, new_storage
from ._rules import (
    FCMA_TOP,
    FCMA_VERSION as _FCMA_VERSION,
    NO_POSITION as _NO_POSITION,
    OUTPUTS,
    band_offset,
    check_allocatable,
    format_cidr,
    output_code,
    output_formatter,
    parse_fcma as _parse_fcma,
    snapshot_bytes as _snapshot_bytes,
    usable_size,
)
from ._tree_twin import _Node, _Trie, _family_arg, _is_network_like

__all__ = ["MultiCIDRAllocator"]

_FAMILY_NAME = {4: "IPv4", 6: "IPv6"}
_WEIGHT_CAP = 1 << 40
_NCLASSES = 41  # weight classes floor(log2(w)) for w in [1, 2^40]
_POLICIES = {"weighted": 0, "random": 1, "ordered": 2}
_POLICY_NAMES = {v: k for k, v in _POLICIES.items()}


# ----------------------------------------------------------------------------------------------
# MultiCIDRAllocator
# ----------------------------------------------------------------------------------------------

class _Entry:
    """One CIDR of the allocator."""

    __slots__ = (
        "family", "net", "plen", "key", "ready", "size", "band", "used", "static_used",
        "parent", "nchildren", "top", "shift", "storage", "slot", "weight", "cls", "pos",
    )

    def __init__(self, family: int, net: int, plen: int, ready: bool) -> None:
        self.family = family
        self.net = net
        self.plen = plen
        self.key = format_cidr(family, net, plen)
        self.ready = ready
        self.size = usable_size(family, plen)
        self.band = band_offset(family, plen)
        self.used = 0
        self.static_used = 0
        self.parent: Optional[_Entry] = None
        self.nchildren = 0
        self.top: _Entry = self  # owner of the storage
        self.shift = 0  # this CIDR's offset 0 inside top's storage
        self.storage: Any = None  # only on top-level entries
        self.slot = -1
        self.weight = 0
        self.cls = -1  # candidate class floor(log2(weight)), -1 when weight is 0
        self.pos = -1  # index in that class's array


def _new_storage(size: int) -> Any:
    return None if size == 0 else new_storage(size)


def _runs(storage: Any, lo: int, hi: int) -> Iterator[Tuple[int, int]]:
    """Allocated runs [start, end) of storage inside [lo, hi)."""
    if storage is None:
        return
    p = lo
    while p < hi:
        start = storage.first_set(p, hi)
        if start < 0:
            return
        end = storage.first_free(start, hi)
        if end < 0:
            end = hi
        yield start, end
        p = end


class _Family:
    """Per-family state: the CIDR trie, the candidate index and the union counters."""

    __slots__ = ("trie", "slots", "tree", "cap", "live", "next_free", "top_size", "used",
                 "ready_free", "ready_dirty", "arrays", "classes", "class_total", "weight_total")

    def __init__(self, family: int, arrays: bool) -> None:
        self.trie = _Trie(family)
        # Policies weighted and random choose from candidate arrays by weight class
        # (ALGORITHMS.md "Many CIDRs"); ordered uses the Fenwick tree over insertion slots.
        self.arrays = arrays
        self.classes: List[List[_Entry]] = [[] for _ in range(_NCLASSES)]
        self.class_total = [0] * _NCLASSES
        self.weight_total = 0
        self.slots: List[Optional[_Entry]] = []
        self.cap = 0
        self.tree: List[int] = [0]  # Fenwick tree, 1-based
        self.live = 0
        self.next_free = 0
        self.top_size = 0  # sum of the sizes of the top-level CIDRs
        self.used = 0  # allocated addresses of this family
        # Free addresses in the union of the ready CIDRs, recomputed lazily after a change of
        # structure or readiness (allocate_many's all-or-nothing check needs it).
        self.ready_free = 0
        self.ready_dirty = False

    # Fenwick tree over insertion slots; the weights decide the candidate.
    def _add(self, slot: int, delta: int) -> None:
        i = slot + 1
        tree = self.tree
        cap = self.cap
        while i <= cap:
            tree[i] += delta
            i += i & -i

    def total(self) -> int:
        if self.arrays:
            return self.weight_total
        # Sum of all weights: prefix sum up to cap.
        s = 0
        i = self.cap
        tree = self.tree
        while i > 0:
            s += tree[i]
            i -= i & -i
        return s

    def search(self, r: int) -> _Entry:
        """The entry where the running sum of weights first exceeds r."""
        pos = 0
        step = 1 << (self.cap.bit_length() - 1) if self.cap else 0
        tree = self.tree
        while step:
            nxt = pos + step
            if nxt <= self.cap and tree[nxt] <= r:
                pos = nxt
                r -= tree[nxt]
            step >>= 1
        return self.slots[pos]  # type: ignore[return-value]

    def _rebuild(self, cap: int) -> None:
        entries = [e for e in self.slots if e is not None]
        self.slots = [None] * cap
        self.cap = cap
        tree = [0] * (cap + 1)
        for i, e in enumerate(entries):
            e.slot = i
            self.slots[i] = e
            tree[i + 1] = e.weight
        for i in range(1, cap + 1):  # linear-time Fenwick build
            j = i + (i & -i)
            if j <= cap:
                tree[j] += tree[i]
        self.tree = tree
        self.next_free = len(entries)

    def attach(self, entry: _Entry) -> None:
        if self.next_free >= self.cap:
            self._rebuild(max(16, 2 * (self.live + 1)))
        slot = self.next_free
        self.next_free = slot + 1
        self.slots[slot] = entry
        entry.slot = slot
        self.live += 1
        weight = entry.weight
        entry.weight = 0
        self.set_weight(entry, weight)

    def detach(self, entry: _Entry) -> None:
        self.set_weight(entry, 0)
        self.slots[entry.slot] = None
        entry.slot = -1
        self.live -= 1

    def set_weight(self, entry: _Entry, weight: int) -> None:
        old = entry.weight
        if weight == old:
            return
        self._add(entry.slot, weight - old)
        entry.weight = weight
        if not self.arrays:
            return
        self.weight_total += weight - old
        cls = weight.bit_length() - 1  # -1 for weight 0
        if cls == entry.cls:
            self.class_total[cls] += weight - old
            return
        if entry.cls >= 0:  # swap-remove from the old class
            self.class_total[entry.cls] -= old
            array = self.classes[entry.cls]
            last = array.pop()
            if last is not entry:
                array[entry.pos] = last
                last.pos = entry.pos
        entry.cls = cls
        entry.pos = -1
        if cls >= 0:  # append to the new one
            self.class_total[cls] += weight
            array = self.classes[cls]
            entry.pos = len(array)
            array.append(entry)

    def choose(self, rng: Xoshiro256, policy: int) -> _Entry:
        """The candidate for allocate_next (ALGORITHMS.md); weight_total > 0."""
        if policy == 1:
            array = self.classes[0]
            return array[rng.bounded(len(array))]
        r = rng.bounded(self.weight_total)
        cls = 0
        while r >= self.class_total[cls]:
            r -= self.class_total[cls]
            cls += 1
        array = self.classes[cls]
        limit = 1 << (cls + 1)
        while True:
            entry = array[rng.bounded(len(array))]
            if rng.bounded(limit) < entry.weight:
                return entry


def _count(storage: Any, lo: int, hi: int) -> int:
    return sum(end - start for start, end in _runs(storage, lo, hi))


def _copy_runs(src: Any, lo: int, hi: int, dst: Any, delta: int) -> None:
    """Copy the allocated offsets of src in [lo, hi) into the fresh dst, shifted by delta
    (ascending, so the sparse store's bulk load applies)."""
    for start, end in _runs(src, lo, hi):
        dst.set_run(start + delta, end - start)


class MultiCIDRAllocator:
    """Kubernetes' MetaAllocator over any number of nested IPv4/IPv6 CIDRs with one allocation
    state per address (docs/api.md, docs/behaviour.md §2.3, ALGORITHMS.md "Many CIDRs").

    Top-level CIDRs own the storage of their addresses; nested CIDRs are windows onto it. The
    candidates for ``allocate_next`` are kept in arrays by weight class (policies ``weighted`` and
    ``random``: O(1) per choice) or in a Fenwick tree over insertion slots (``ordered``), never
    scanned. Thread-safe: a lock guards every public call.

    >>> m = MultiCIDRAllocator(["192.168.0.0/28"], seed=7)
    >>> m.add("192.168.0.0/24")
    True
    >>> m.free()
    254
    >>> m.allocate("192.168.0.20"), m.owners("192.168.0.5")
    ('192.168.0.20', ['192.168.0.0/28', '192.168.0.0/24'])
    >>> m.remove("192.168.0.0/24")
    ['192.168.0.20']
    """

    def __init__(self, cidrs: Iterable[Any] = (), *, seed: Optional[int] = None,
                 policy: str = "weighted", output: str = "str") -> None:
        if not isinstance(policy, str) or policy not in _POLICIES:
            raise ValueError(f"policy must be 'weighted', 'random' or 'ordered', got {policy!r}")
        self._set_output(output_code(output))
        self._policy = _POLICIES[policy]
        self._rng = Xoshiro256(seed)
        self._lock = threading.Lock()
        self._entries: Dict[Tuple[int, int, int], _Entry] = {}
        self._fams = {4: _Family(4, self._policy != 2), 6: _Family(6, self._policy != 2)}
        if isinstance(cidrs, str) or _is_network_like(cidrs):
            cidrs = [cidrs]
        for cidr in cidrs:
            self.add(cidr)

    def _set_output(self, out: int) -> None:
        self._out = out
        self._fmt = output_formatter(out)  # (family, value) -> address in the output type

    @property
    def output(self) -> str:
        """What the calls return for an address: ``"str"``, ``"int"``, ``"ipaddress"``, ``"netaddr"``."""
        return OUTPUTS[self._out]

    # -- bookkeeping ------------------------------------------------------------------------
    def _weight(self, e: _Entry) -> int:
        free = e.size - e.used
        if not e.ready or free <= 0:
            return 0
        if self._policy == 0:
            return free if free < _WEIGHT_CAP else _WEIGHT_CAP
        return 1

    def _lookup(self, cidr: Any) -> _Entry:
        family, net, plen = parse_cidr(cidr)
        entry = self._entries.get((family, net, plen))
        if entry is None:
            raise KeyError(format_cidr(family, net, plen))
        return entry

    def _account(self, fam: _Family, holders: List[_Node], value: int, delta: int) -> None:
        """An address held by `holders` changed state: update their counts and weights."""
        any_ready = False
        for node in holders:
            e: _Entry = node.value
            e.used += delta
            if value - e.net - 1 < e.band:
                e.static_used += delta
            any_ready = any_ready or e.ready
            fam.set_weight(e, self._weight(e))
        fam.used += delta
        if any_ready:
            fam.ready_free -= delta

    def _refresh_ready_free(self, fam: _Family) -> int:
        """Free addresses in the union of the ready CIDRs: sum over maximal ready CIDRs."""
        if fam.ready_dirty:
            total = 0
            stack = [fam.trie.root] if fam.trie.root is not None else []
            while stack:
                node = stack.pop()
                if node.has and node.value.ready:
                    total += node.value.size - node.value.used
                    continue
                if node.c1 is not None:
                    stack.append(node.c1)
                if node.c0 is not None:
                    stack.append(node.c0)
            fam.ready_free = total
            fam.ready_dirty = False
        return fam.ready_free

    def _rebase(self, node: _Node, top: _Entry) -> None:
        """Every CIDR under node now lives in top's storage."""
        for n in _Trie.preorder(node):
            d: _Entry = n.value
            d.top = top
            d.shift = d.net - top.net

    # -- CIDRs ------------------------------------------------------------------------------
    def add(self, cidr: Any, *, ready: bool = True) -> bool:
        """Add a CIDR (False if already present); allocations inside it become visible to it."""
        family, net, plen = parse_cidr(cidr)
        check_allocatable(family, net, plen)
        with self._lock:
            key = (family, net, plen)
            if key in self._entries:
                return False
            fam = self._fams[family]
            trie = fam.trie
            e = _Entry(family, net, plen, bool(ready))
            path = trie.path(net, plen)
            parent: Optional[_Entry] = path[-1].value if path else None
            children = [n.value for n in _Trie.preorder(trie.subtree(net, plen), stop_at_value=True)]
            node, _ = trie.insert(net, plen, e)
            e.parent = parent
            e.nchildren = len(children)
            for c in children:
                c.parent = e
            if parent is not None:
                parent.nchildren += 1 - len(children)
                e.top = parent.top
                e.shift = net - e.top.net
            else:
                e.storage = _new_storage(e.size)
                for c in children:
                    _copy_runs(c.storage, 0, c.size, e.storage, c.net - net)
                    c.storage = None
                    fam.top_size -= c.size
                fam.top_size += e.size
                self._rebase(node, e)
            storage = e.top.storage
            e.used = _count(storage, e.shift, e.shift + e.size)
            e.static_used = _count(storage, e.shift, e.shift + e.band)
            e.weight = self._weight(e)
            fam.attach(e)
            fam.ready_dirty = True
            self._entries[key] = e
            return True

    def remove(self, cidr: Any) -> List[str]:
        """Remove a CIDR; returns the allocated addresses no remaining CIDR holds as a host
        (ascending), which are forgotten."""
        with self._lock:
            e = self._lookup(cidr)
            fam = self._fams[e.family]
            trie = fam.trie
            node = trie.find(e.net, e.plen)
            assert node is not None
            children: List[_Entry] = []
            for child in (node.c0, node.c1):
                children.extend(n.value for n in _Trie.preorder(child, stop_at_value=True))
            for c in children:
                c.parent = e.parent
            orphans: List[int] = []
            if e.parent is not None:
                # The parent holds every host of e: nothing is orphaned, the storage stays.
                e.parent.nchildren += len(children) - 1
            else:
                lo = 0
                for c in children:
                    window = c.net - e.net
                    orphans.extend(self._offsets(e.storage, lo, window))
                    c.storage = _new_storage(c.size)
                    _copy_runs(e.storage, window, window + c.size, c.storage, -window)
                    cnode = trie.find(c.net, c.plen)
                    assert cnode is not None
                    self._rebase(cnode, c)
                    fam.top_size += c.size
                    lo = window + c.size
                orphans.extend(self._offsets(e.storage, lo, e.size))
                fam.top_size -= e.size
                fam.used -= len(orphans)
                e.storage = None
            fam.detach(e)
            trie.delete(e.net, e.plen)
            fam.ready_dirty = True
            del self._entries[(e.family, e.net, e.plen)]
            base = e.net + 1
            return [self._fmt(e.family, base + off) for off in orphans]

    @staticmethod
    def _offsets(storage: Any, lo: int, hi: int) -> List[int]:
        out: List[int] = []
        for start, end in _runs(storage, lo, hi):
            out.extend(range(start, end))
        return out

    def set_ready(self, cidr: Any, ready: bool) -> None:
        """Mark a CIDR ready (serves new allocations) or not (only releases)."""
        with self._lock:
            e = self._lookup(cidr)
            e.ready = bool(ready)
            fam = self._fams[e.family]
            fam.set_weight(e, self._weight(e))
            fam.ready_dirty = True

    def is_ready(self, cidr: Any) -> bool:
        with self._lock:
            return self._lookup(cidr).ready

    @property
    def cidrs(self) -> List[str]:
        """The CIDRs in insertion order."""
        with self._lock:
            return [e.key for e in self._entries.values()]

    @property
    def policy(self) -> str:
        return _POLICY_NAMES[self._policy]

    # -- allocation -------------------------------------------------------------------------
    def allocate(self, ip: Any) -> str:
        """Take ip through any ready CIDR holding it as a host."""
        family, value = parse_ip(ip)
        with self._lock:
            fam = self._fams[family]
            holders = fam.trie.host_path(value)
            if not any(n.value.ready for n in holders):
                raise MismatchedNetworkError()
            top: _Entry = holders[0].value
            off = value - top.net - 1
            if top.storage.test(off):
                raise AlreadyAllocatedError()
            top.storage.set(off)
            self._account(fam, holders, value, 1)
        return self._fmt(family, value)

    def _resolve_family(self, family: Any) -> int:
        fam = _family_arg(family)
        if fam is None:
            for e in self._entries.values():
                return e.family
            raise RangeFullError()
        return fam

    def _next(self, fam: _Family) -> int:
        total = fam.total()
        if total == 0:
            raise RangeFullError()
        rng = self._rng
        e = fam.search(0) if self._policy == 2 else fam.choose(rng, self._policy)
        storage = e.top.storage
        shift = e.shift
        size = e.size
        band = e.band
        if (size - band) - (e.used - e.static_used) > 0:
            start = band + rng.bounded(size - band)
            off = storage.first_free(start + shift, size + shift)
            if off < 0:
                off = storage.first_free(band + shift, start + shift)
        else:
            start = rng.bounded(band)
            off = storage.first_free(start + shift, band + shift)
            if off < 0:
                off = storage.first_free(shift, start + shift)
        storage.set(off)
        value = e.top.net + 1 + off
        self._account(fam, fam.trie.host_path(value), value, 1)
        return value

    def allocate_next(self, family: Any = None) -> str:
        """Next address by policy, then by the Kubernetes band rule inside the chosen CIDR."""
        with self._lock:
            fam_id = self._resolve_family(family)
            value = self._next(self._fams[fam_id])
        return self._fmt(fam_id, value)

    def allocate_many(self, n: int, family: Any = None) -> List[str]:
        """n addresses as n successive allocate_next() calls; all or nothing."""
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"n must be an int, got {type(n).__name__}")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        with self._lock:
            fam_arg = _family_arg(family)
            if n == 0:
                return []
            fam_id = self._resolve_family(fam_arg)
            fam = self._fams[fam_id]
            if self._refresh_ready_free(fam) < n:
                raise RangeFullError()
            values = [self._next(fam) for _ in range(n)]
        return [self._fmt(fam_id, v) for v in values]

    def release(self, ip: Any) -> None:
        """Free ip (through any CIDR, ready or not); a no-op when it is not allocated."""
        family, value = parse_ip(ip)
        with self._lock:
            fam = self._fams[family]
            holders = fam.trie.host_path(value)
            if not holders:
                return
            top: _Entry = holders[0].value
            off = value - top.net - 1
            if not top.storage.test(off):
                return
            top.storage.clear(off)
            self._account(fam, holders, value, -1)

    def has(self, ip: Any) -> bool:
        family, value = parse_ip(ip)
        with self._lock:
            holders = self._fams[family].trie.host_path(value)
            if not holders:
                return False
            top: _Entry = holders[0].value
            return bool(top.storage.test(value - top.net - 1))

    __contains__ = has

    # -- queries ----------------------------------------------------------------------------
    def owners(self, ip: Any) -> List[str]:
        """CIDRs holding ip as a host address, most specific first."""
        family, value = parse_ip(ip)
        with self._lock:
            return [n.value.key for n in reversed(self._fams[family].trie.host_path(value))]

    def orphans_if_removed(self, cidr: Any, *, ignore: Iterable[Any] = ()) -> List[str]:
        """Allocated addresses cidr holds as a host that no other CIDR (not in ignore) holds."""
        if isinstance(ignore, str) or _is_network_like(ignore):
            ignore = [ignore]
        ignored = {parse_cidr(c) for c in ignore}
        with self._lock:
            e = self._lookup(cidr)
            p = e.parent
            while p is not None:
                if (p.family, p.net, p.plen) not in ignored:
                    return []  # an ancestor holds every host of e
                p = p.parent
            node = self._fams[e.family].trie.find(e.net, e.plen)
            assert node is not None
            keepers: List[_Entry] = []
            stack = [c for c in (node.c1, node.c0) if c is not None]
            while stack:
                n = stack.pop()
                if n.has and (n.value.family, n.value.net, n.value.plen) not in ignored:
                    keepers.append(n.value)
                    continue
                if n.c1 is not None:
                    stack.append(n.c1)
                if n.c0 is not None:
                    stack.append(n.c0)
            storage = e.top.storage
            lo = e.shift
            out: List[int] = []
            for k in keepers:
                out.extend(self._offsets(storage, lo, k.shift))
                lo = k.shift + k.size
            out.extend(self._offsets(storage, lo, e.shift + e.size))
            base = e.top.net + 1
            return [self._fmt(e.family, base + off) for off in out]

    def used(self, family: Any = None) -> int:
        fam = _family_arg(family)
        with self._lock:
            return sum(f.used for k, f in self._fams.items() if fam in (None, k))

    def free(self, family: Any = None) -> int:
        """Sizes of the top-level CIDRs minus used (nested CIDRs counted once)."""
        fam = _family_arg(family)
        with self._lock:
            return sum(f.top_size - f.used for k, f in self._fams.items() if fam in (None, k))

    def stats(self, cidr: Any = None) -> Dict[str, Any]:
        """``{"size", "used", "free", "utilisation"}`` of one CIDR; without ``cidr``, a dict of
        them keyed by every CIDR (insertion order). ``used`` counts addresses allocated through
        any CIDR holding them."""
        with self._lock:
            if cidr is not None:
                e = self._lookup(cidr)
                return _freespace.utilisation(e.size, e.used)
            return {e.key: _freespace.utilisation(e.size, e.used) for e in self._entries.values()}

    # -- free space (docs/ALGORITHMS.md "Free space"; the argument checks are in _freespace) ------
    def _windows(self, cidr: Any) -> List[_Entry]:
        """The CIDRs whose usable addresses make up the space asked for, in address order:
        ``cidr`` alone, or the ready CIDRs not inside another ready CIDR (nested windows lie
        inside their parent's, so these are disjoint and their union is every usable address)."""
        if cidr is not None:
            return [self._lookup(cidr)]
        out: List[_Entry] = []
        for family in (4, 6):
            root = self._fams[family].trie.root
            stack = [root] if root is not None else []
            while stack:
                node = stack.pop()
                if node.has and node.value.ready:
                    out.append(node.value)
                    continue
                if node.c1 is not None:
                    stack.append(node.c1)
                if node.c0 is not None:
                    stack.append(node.c0)
        return out

    def _free_runs(self, cidr: Any, after: Optional[Tuple[int, int]],
                   limit: int) -> List[Tuple[int, int, int]]:
        out: List[Tuple[int, int, int]] = []
        with self._lock:
            for e in self._windows(cidr):
                first, last = e.net + 1, e.net + e.size  # the window's addresses
                if after is not None:
                    if e.family < after[0] or (e.family == after[0] and last <= after[1]):
                        continue
                    if e.family == after[0] and after[1] >= first:
                        first = after[1] + 1
                storage, base = e.top.storage, e.top.net + 1
                p, hi = first - base, last - base + 1  # offsets in the top's storage
                while p < hi:
                    used = -1 if storage is None else storage.first_set(p, hi)
                    end = hi if used < 0 else used
                    if end > p:
                        if out and out[-1][0] == e.family and out[-1][2] + 1 == base + p:
                            out[-1] = (e.family, out[-1][1], base + end - 1)
                        elif limit and len(out) == limit:
                            return out
                        else:
                            out.append((e.family, base + p, base + end - 1))
                    if used < 0:
                        break
                    p = storage.first_free(used, hi)
                    if p < 0:
                        break
        return out

    def free_ranges(self, cidr: Any = None, *, limit: Optional[int] = None) -> List[Tuple[str, str]]:
        """Maximal runs of free usable addresses, ``(first, last)`` canonical text, in address
        order; at most ``limit`` runs. ``cidr=None``: every ready CIDR, merged; a CIDR: only its
        usable addresses (``KeyError`` if unknown). O(runs), not O(addresses)."""
        return _freespace.free_ranges(self, cidr, limit, self._fmt)

    def iter_free(self, cidr: Any = None) -> Iterator[str]:
        """The free usable addresses, lazily, in address order (``cidr`` as for free_ranges)."""
        return _freespace.iter_free(self, cidr, self._fmt)

    def first_free(self, n: int, cidr: Any = None) -> List[str]:
        """The first ``n`` free usable addresses in address order (fewer if fewer are free); O(n)."""
        return _freespace.first_free(self, n, cidr, self._fmt)

    def _values(self) -> List[Tuple[int, int]]:
        out: List[Tuple[int, int]] = []
        for family in (4, 6):
            for node in _Trie.preorder(self._fams[family].trie.root, stop_at_value=True):
                top: _Entry = node.value
                base = top.net + 1
                out.extend((family, base + off) for off in self._offsets(top.storage, 0, top.size))
        return out

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            values = self._values()
        return (self._fmt(f, v) for f, v in values)

    def __len__(self) -> int:
        with self._lock:
            return self._fams[4].used + self._fams[6].used

    def __repr__(self) -> str:
        shown = f", output={self.output!r}" if self._out else ""
        return f"MultiCIDRAllocator({self.cidrs!r}, policy={self.policy!r}{shown}, used={len(self)})"

    # -- snapshot ---------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """FCMA version 3 (docs/ALGORITHMS.md); includes the random generator's state and the
        order of the candidate arrays."""
        with self._lock:
            parts = [b"FCMA", struct.pack("<HB4QI", _FCMA_VERSION, self._policy, *self._rng.state,
                                          len(self._entries))]
            for e in self._entries.values():
                parts.append(struct.pack("<BB", e.family, e.plen))
                parts.append(e.net.to_bytes(16, "big"))
                parts.append(b"\x01" if e.ready else b"\x00")
                parts.append(struct.pack("<I", e.pos if e.pos >= 0 and self._policy != 2
                                         else _NO_POSITION))
            tops = []  # version 3: per top-level CIDR the block body of its usable addresses
            for family in (4, 6):
                for node in _Trie.preorder(self._fams[family].trie.root, stop_at_value=True):
                    top: _Entry = node.value
                    if top.size == 0:
                        continue
                    if isinstance(top.storage, DenseBitmap):
                        body = encode_body_dense(top.size, top.storage.block_bits)
                    else:
                        body = encode_body(top.size, ((start, end - start) for start, end
                                                      in _runs(top.storage, 0, top.size)))
                    tops.append(FCMA_TOP.pack(family, top.net.to_bytes(16, "big"), top.plen, len(body)) + body)
            parts.append(struct.pack("<I", len(tops)))
            parts.extend(tops)
        body = b"".join(parts)
        return body + struct.pack("<I", zlib.crc32(body))

    @classmethod
    def restore(cls, data: Any, *, output: str = "str") -> "MultiCIDRAllocator":
        """Rebuild from snapshot(); any defect raises SnapshotError and builds nothing. A snapshot
        holds state only: ``output`` is chosen here (pickle and ``copy()`` keep the allocator's own)."""
        out = output_code(output)
        buf = _snapshot_bytes(data)  # TypeError for anything not bytes-like
        policy, state, cidrs, runs, tops = _parse_fcma(buf)
        self = cls.__new__(cls)
        self._set_output(out)
        self._policy = policy
        self._rng = Xoshiro256.from_state(state)
        self._lock = threading.Lock()
        self._entries = {}
        self._fams = {4: _Family(4, policy != 2), 6: _Family(6, policy != 2)}
        for family, net, plen, ready, _ in cidrs:
            self.add(format_cidr(family, net, plen), ready=ready)
        # Every run must lie inside the host range of a top-level CIDR.
        for family, start, length in runs:
            holders = self._fams[family].trie.host_path(start)
            if not holders:
                raise SnapshotError("damaged snapshot: an allocated address is outside every CIDR")
            top: _Entry = holders[0].value
            off = start - top.net - 1
            if off + length > top.size:
                raise SnapshotError("damaged snapshot: an allocated run leaves its CIDR")
            top.storage.set_run(off, length)
        for family, net, plen, body in tops:  # version 3
            top = self._entries[(family, net, plen)]
            if top.parent is not None or top.size == 0:
                raise SnapshotError("damaged snapshot: a block body for a CIDR that is not top-level")
            if isinstance(top.storage, DenseBitmap):
                spans, bitmaps = decode_body_parts(body, top.size)
            else:
                spans, bitmaps = decode_body(body, top.size), []
            for start, length in spans:
                top.storage.set_run(start, length)
            for first_word, nwords, value in bitmaps:
                top.storage.load_bits(first_word, nwords, value)
        for fam in self._fams.values():
            for e in (x for x in fam.slots if x is not None):
                storage = e.top.storage
                e.used = _count(storage, e.shift, e.shift + e.size)
                e.static_used = _count(storage, e.shift, e.shift + e.band)
                fam.set_weight(e, self._weight(e))
            fam.used = sum(e.used for e in (n.value for n in _Trie.preorder(fam.trie.root, True)))
            fam.ready_dirty = True
        self._place_candidates([position for *_, position in cidrs])
        return self

    def _place_candidates(self, positions: List[int]) -> None:
        """Put every candidate at its snapshot position (insertion order = snapshot order)."""
        placed: Dict[int, List[Optional[_Entry]]] = {}  # id of a class array -> new order
        for e, position in zip(self._entries.values(), positions):
            if self._policy == 2 or e.cls < 0:
                if position != _NO_POSITION:
                    raise SnapshotError("damaged snapshot: a position for a CIDR that is no candidate")
                continue
            array = self._fams[e.family].classes[e.cls]
            order = placed.setdefault(id(array), [None] * len(array))
            if position >= len(order) or order[position] is not None:
                raise SnapshotError("damaged snapshot: candidate positions are not a permutation")
            order[position] = e
        for fam in self._fams.values():
            for array in fam.classes:
                restored = placed.get(id(array))
                if restored is not None:
                    array[:] = restored  # type: ignore[assignment]
                    for i, e in enumerate(array):
                        e.pos = i

    def __reduce__(self) -> Any:
        return (self.__class__.restore, (self.snapshot(),), self.output)

    def __setstate__(self, state: str) -> None:
        self._set_output(output_code(state))

    def copy(self) -> "MultiCIDRAllocator":
        return self.restore(self.snapshot(), output=self.output)

    __copy__ = copy

    def __deepcopy__(self, memo: Any) -> "MultiCIDRAllocator":
        return self.copy()
