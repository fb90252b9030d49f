# cython: language_level=3
"""Compiled MultiCIDRAllocator (docs/ALGORITHMS.md "Many CIDRs"); its pure-Python twin is
``_multi_twin``.

The CIDRs of each family sit in the C trie of ``_trie.pxd`` (shared with ``PrefixTree``), which
finds every CIDR holding an address as the deepest match plus its ancestor links.

The allocator keeps one allocation state per address: IPv4 uses a single lazily paged bitmap for
the whole family (offset = address - 1), so adding or removing a CIDR never moves allocations;
an IPv6 top-level CIDR owns an ``fc_space`` (run set for a /64) that its nested CIDRs window into,
handed to its children when it is removed. The candidates for ``allocate_next`` sit in arrays by
weight class (policies weighted and random: an O(1) choice, ALGORITHMS.md) or in a Fenwick tree over
blocks of insertion slots (policy ordered); per-CIDR counters are updated for every CIDR holding the
address. Entries live in a pooled arena (hot fields in the first cache line, huge pages advised).
With 100,000 CIDRs a random pick is dominated by cache and TLB misses (array slot -> entry ->
bitmap word), so each allocate_next simulates the next three choices on a copy of the generator
and prefetches what they will touch (prefetch_ahead; the candidate arrays carry what it needs).

Thread safety: every public method runs under the GIL (and a per-object critical section on
free-threaded builds) and creates Python objects only before or after its changes to the C
structures, so each call is atomic with respect to other threads.
"""
cimport cython
from libc.stdint cimport uint8_t, uint16_t, int32_t, uint32_t, uint64_t, int64_t, int8_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcpy, memset, memchr
from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF, Py_DECREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.dict cimport PyDict_Next
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING

from fastcidr._fc cimport *
from fastcidr._trie cimport *
from fastcidr._pool cimport *
from fastcidr._walk cimport *

import os
import struct
import sys

from .errors import (
    AlreadyAllocatedError,
    InvalidAddressError,
    MismatchedNetworkError,
    RangeFullError,
    SnapshotError,
)
from ._rules import check_allocatable as _py_check_allocatable, parse_fcma as _parse_fcma
from ._rules import snapshot_bytes as _snapshot_bytes
from . import _freespace
from ._addr import format_ip as _format_ip
from ._rules import OUTPUTS as _OUTPUTS, output_code as _output_code, output_formatter as _output_formatter

__all__ = ["MultiCIDRAllocator"]

fc_platform_init()  # fc_crc32 of the snapshots

cdef uint64_t WEIGHT_CAP = (<uint64_t>1) << 40


cdef class MultiCIDRAllocator:
    """Kubernetes' MetaAllocator over any number of nested IPv4/IPv6 CIDRs with one allocation
    state per address (docs/api.md, docs/behaviour.md §2.3, ALGORITHMS.md "Many CIDRs").

    Top-level CIDRs own the storage of their addresses; nested CIDRs are windows onto it. The
    candidates for ``allocate_next`` are kept in arrays by weight class (policies ``weighted`` and
    ``random``: O(1) per choice) or in a Fenwick tree over insertion slots (``ordered``), never
    scanned. Thread-safe: each call is atomic under the GIL.

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

    cdef fam_t f4
    cdef fam_t f6
    cdef fc_rng rng
    cdef int _policy
    cdef int first_family
    cdef int out          # output type (_rules.OUTPUTS): 0 str, 1 int, 2 ipaddress, 3 netaddr
    cdef object _formatter  # (family, int) -> address in the output type
    cdef dict _order      # canonical CIDR -> None, in insertion order
    cdef entry_t root4    # owner of the one IPv4 storage (offset = address - 1), not a CIDR
    cdef block_pool pool  # where the entries live

    def __cinit__(self, *args, **kwargs):
        memset(&self.f4, 0, sizeof(fam_t))
        memset(&self.f6, 0, sizeof(fam_t))
        trie_init(&self.f4.trie, 4, False)
        trie_init(&self.f6.trie, 6, False)
        self._order = {}
        self.first_family = 0
        cdef entry_t probe
        pool_init(&self.pool, sizeof(entry_t), 32, <char*>&probe.parent - <char*>&probe)
        memset(&self.root4, 0, sizeof(entry_t))
        self.root4.family = 4
        self.root4.size = 0xFFFFFFFE  # every possible IPv4 host: 0.0.0.1 .. 255.255.255.254
        self.root4.top = &self.root4
        self.root4.storage = <fc_space*>malloc(sizeof(fc_space))
        if self.root4.storage == NULL or fc_space_init(self.root4.storage, self.root4.size) != 0:
            free(self.root4.storage)
            self.root4.storage = NULL
            raise MemoryError()
        self._policy = 0
        self.f4.arrays = self.f6.arrays = 1
        fc_rng_seed(&self.rng, 0)
        self._formatter = _format_ip

    def __init__(self, cidrs=(), *, seed=None, policy="weighted", output="str"):
        if not isinstance(policy, str) or policy not in ("weighted", "random", "ordered"):
            raise ValueError(f"policy must be 'weighted', 'random' or 'ordered', got {policy!r}")
        self._set_output(_output_code(output))
        self._policy = ("weighted", "random", "ordered").index(policy)
        self.f4.arrays = self.f6.arrays = self._policy != 2
        if seed is None:
            seed = int.from_bytes(os.urandom(8), "little")
        fc_rng_seed(&self.rng, <uint64_t>(int(seed) & 0xFFFFFFFFFFFFFFFF))
        if isinstance(cidrs, str) or hasattr(cidrs, "prefixlen"):
            cidrs = [cidrs]
        for cidr in cidrs:
            self.add(cidr)

    cdef int _set_output(self, int out) except -1:
        self.out = out
        # text through the compiled formatter (_rules' is the twin's, in Python)
        self._formatter = _format_ip if out == 0 else _output_formatter(out)
        return 0

    cdef inline object _addr_out(self, int family, fc_addr a):
        if self.out == 0:
            return format_ip_str(family, a)
        return self._formatter(family, addr_to_int(a))

    @property
    def output(self):
        """What the calls return for an address: ``"str"``, ``"int"``, ``"ipaddress"``, ``"netaddr"``."""
        return _OUTPUTS[self.out]

    def __dealloc__(self):
        fam_free(&self.f4)
        fam_free(&self.f6)
        pool_free(&self.pool)
        if self.root4.storage != NULL:
            fc_space_free(self.root4.storage)
            free(self.root4.storage)
            self.root4.storage = NULL

    cdef inline fam_t *fam(self, int family) noexcept:
        return &self.f4 if family == 4 else &self.f6

    cdef inline uint64_t weight(self, const entry_t *e) noexcept nogil:
        cdef uint64_t free_ = e.size - e.used
        if not e.ready or free_ == 0:
            return 0
        if self._policy == 0:
            return free_ if free_ < WEIGHT_CAP else WEIGHT_CAP
        return 1

    cdef entry_t *lookup(self, object cidr) except NULL:
        cdef int family, plen
        cdef fc_addr net
        parse_cidr_obj(cidr, &family, &net, &plen)
        cdef tnode *n = trie_find(&self.fam(family).trie, key_of(family, net), plen)
        if n == NULL:
            raise KeyError(format_cidr_str(family, net, plen))
        return <entry_t*>n.value

    cdef int account(self, fam_t *f, entry_t **hs, int n, uint64_t off_top, int delta) except -1:
        """An address (offset off_top in the top's storage) held by hs (least specific first)
        changed state."""
        cdef int i
        cdef entry_t *e
        cdef bint any_ready = False
        cdef uint64_t d = <uint64_t>(<int64_t>delta)
        for i in range(n):
            e = hs[i]
            e.used += d
            if off_top - e.shift < e.band:
                e.static_used += d
            if e.ready:
                any_ready = True
            set_weight(f, e, self.weight(e))
        f.used += d
        if any_ready:
            if delta > 0:
                f.ready_free -= 1
            else:
                f.ready_free += 1
        return 0

    cdef int rebase(self, tnode *node, entry_t *top) except -1:
        """Every CIDR under node now lives in top's storage."""
        cdef tnode **nodes
        cdef Py_ssize_t n, i
        cdef entry_t *d
        trie_preorder(node, False, &nodes, &n)
        for i in range(n):
            d = <entry_t*>nodes[i].value
            d.top = top
            d.shift = d.net.lo - top.net.lo
        free(nodes)
        return 0

    # -- CIDRs ------------------------------------------------------------------------------
    @cython.critical_section
    def add(self, cidr, *, ready=True):
        """Add a CIDR (False if already present); allocations inside it become visible to it."""
        cdef int family, plen, npath, i
        cdef fc_addr net
        cdef bint existed
        cdef tnode *path[MAXDEPTH]
        cdef tnode **children = NULL
        cdef Py_ssize_t nchildren = 0
        cdef entry_t *e
        cdef entry_t *c
        cdef entry_t *parent = NULL
        cdef tnode *node
        parse_cidr_obj(cidr, &family, &net, &plen)
        if family == 6:
            _py_check_allocatable(family, addr_to_int(net), plen)
        cdef fam_t *f = self.fam(family)
        cdef key_t k = key_of(family, net)
        if trie_find(&f.trie, k, plen) != NULL:
            return False
        cdef object text = format_cidr_str(family, net, plen)
        cdef bint was_ready = bool(ready)
        fw_reserve(f)
        cand_reserve(f)
        # -- from here on no Python object is created until the structures are consistent --
        e = <entry_t*>pool_get(&self.pool)
        if e == NULL:
            raise MemoryError()
        e.family = family
        e.plen = plen
        e.net = net
        e.key = k
        e.ready = was_ready
        e.size = fc_size(family, plen)
        e.band = fc_band_offset(family, plen)
        npath = trie_path(&f.trie, k, plen, path)
        if npath:
            parent = <entry_t*>path[npath - 1].value
        elif family == 6:
            if e.size:
                e.storage = <fc_space*>malloc(sizeof(fc_space))
                if e.storage == NULL or fc_space_init(e.storage, e.size) != 0:
                    free(e.storage)
                    pool_put(&self.pool, e)
                    raise MemoryError()
        try:
            trie_preorder(trie_subtree(&f.trie, k, plen), True, &children, &nchildren)
        except MemoryError:
            if e.storage != NULL:
                fc_space_free(e.storage)
                free(e.storage)
            pool_put(&self.pool, e)
            raise
        node = trie_add(&f.trie, k, plen, &existed)
        if node == NULL:
            free(children)
            if e.storage != NULL:
                fc_space_free(e.storage)
                free(e.storage)
            pool_put(&self.pool, e)
            raise MemoryError()
        Py_INCREF(text)
        node.key = <PyObject*>text
        node.value = <void*>e
        e.node = node
        e.parent = parent
        e.nchildren = nchildren
        for i in range(nchildren):
            c = <entry_t*>children[i].value
            c.parent = e
        try:
            if parent != NULL:
                parent.nchildren += 1 - nchildren
                e.top = parent.top
                e.shift = net.lo - e.top.net.lo
            elif family == 4:
                e.top = &self.root4  # IPv4 shares one storage: nothing to move
                e.shift = net.lo
                f.top_size += e.size
                for i in range(nchildren):
                    f.top_size -= (<entry_t*>children[i].value).size
            else:
                e.top = e
                f.top_size += e.size
                for i in range(nchildren):
                    c = <entry_t*>children[i].value
                    f.top_size -= c.size
                    copy_runs(c.storage, 0, c.size, e.storage, c.net.lo - net.lo, True)
                    if c.storage != NULL:
                        fc_space_free(c.storage)
                        free(c.storage)
                        c.storage = NULL
                self.rebase(node, e)
            e.used = count_window(e, e.size)
            e.static_used = count_window(e, e.band)
            e.weight = self.weight(e)
            fw_attach(f, e)
            f.ready_dirty = 1
        finally:
            free(children)
        self._order[text] = None
        if self.first_family == 0:
            self.first_family = family
        return True

    @cython.critical_section
    def remove(self, cidr):
        """Remove a CIDR; returns the allocated addresses no remaining CIDR holds as a host
        (ascending), which are forgotten."""
        cdef entry_t *e = self.lookup(cidr)
        cdef fam_t *f = self.fam(e.family)
        cdef tnode *node = e.node
        cdef tnode **kids0 = NULL
        cdef tnode **kids1 = NULL
        cdef Py_ssize_t n0 = 0, n1 = 0, i
        cdef entry_t *c
        cdef u64buf orphans
        cdef uint64_t lo, window
        cdef fc_addr base = e.top.net
        cdef int family = e.family
        cdef object text = <object>node.key
        memset(&orphans, 0, sizeof(u64buf))
        fw_reserve(f)  # nothing to reserve, but keeps MemoryError paths before mutation
        try:
            trie_preorder(node.child[0], True, &kids0, &n0)
            trie_preorder(node.child[1], True, &kids1, &n1)
            # Collect the orphans and build the children's storages before changing anything.
            if e.parent == NULL:
                # offsets in the storage's coordinates (IPv4: the shared family storage)
                lo = e.shift
                for i in range(n0 + n1):
                    c = <entry_t*>(kids0[i] if i < n0 else kids1[i - n0]).value
                    collect_offsets(e.top.storage, lo, c.shift, &orphans)
                    lo = c.shift + c.size
                collect_offsets(e.top.storage, lo, e.shift + e.size, &orphans)
                for i in range(n0 + n1):
                    c = <entry_t*>(kids0[i] if i < n0 else kids1[i - n0]).value
                    if c.size and family == 6:
                        c.storage = <fc_space*>malloc(sizeof(fc_space))
                        if c.storage == NULL or fc_space_init(c.storage, c.size) != 0:
                            free(c.storage)
                            c.storage = NULL
                            raise MemoryError()
                        window = c.net.lo - e.net.lo
                        copy_runs(e.storage, window, window + c.size, c.storage, window, False)
            # -- commit: no Python object is created until the structures are consistent --
            for i in range(n0 + n1):
                c = <entry_t*>(kids0[i] if i < n0 else kids1[i - n0]).value
                c.parent = e.parent
            if e.parent != NULL:
                e.parent.nchildren += n0 + n1 - 1
            else:
                for i in range(n0 + n1):
                    c = <entry_t*>(kids0[i] if i < n0 else kids1[i - n0]).value
                    if family == 6:
                        self.rebase(c.node, c)
                    f.top_size += c.size
                f.top_size -= e.size
                f.used -= <uint64_t>orphans.n
                if family == 4:
                    for i in range(orphans.n):  # forgotten: nobody can release them any more
                        fc_space_clear(e.top.storage, orphans.data[i])
                if e.storage != NULL:
                    fc_space_free(e.storage)
                    free(e.storage)
                    e.storage = NULL
            fw_detach(f, e)
            node.value = NULL
            node.key = NULL  # `text` keeps the reference alive until we return
            trie_remove(&f.trie, node)
            pool_put(&self.pool, e)
            f.ready_dirty = 1
        except BaseException:
            # only reachable before the commit: undo the children's new storages
            for i in range(n0 + n1):
                c = <entry_t*>(kids0[i] if i < n0 else kids1[i - n0]).value
                if family == 6 and c.top != c and c.storage != NULL:
                    fc_space_free(c.storage)
                    free(c.storage)
                    c.storage = NULL
            free(orphans.data)
            raise
        finally:
            free(kids0)
            free(kids1)
        Py_DECREF(text)  # the reference the node held
        try:
            del self._order[text]
            if self._order:
                self.first_family = 6 if ":" in next(iter(self._order)) else 4
            else:
                self.first_family = 0
            return [self._addr_out(family, addr_plus(base, orphans.data[i])) for i in range(orphans.n)]
        finally:
            free(orphans.data)

    @cython.critical_section
    def set_ready(self, cidr, ready):
        """Mark a CIDR ready (serves new allocations) or not (only releases)."""
        cdef bint flag = bool(ready)
        cdef entry_t *e = self.lookup(cidr)
        cdef fam_t *f = self.fam(e.family)
        e.ready = flag
        set_weight(f, e, self.weight(e))
        f.ready_dirty = 1

    @cython.critical_section
    def is_ready(self, cidr):
        return bool(self.lookup(cidr).ready)

    @property
    def cidrs(self):
        """The CIDRs in insertion order."""
        return list(self._order)

    @property
    def policy(self):
        return ("weighted", "random", "ordered")[self._policy]

    # -- allocation -------------------------------------------------------------------------
    cdef int holders(self, fam_t *f, int family, fc_addr a, entry_t **out) noexcept:
        cdef tnode *nodes[MAXDEPTH]
        cdef int n = trie_host_path(&f.trie, key_of(family, a), nodes), i
        for i in range(n):
            out[i] = <entry_t*>nodes[i].value
        return n

    @cython.critical_section
    def allocate(self, ip):
        """Take ip through any ready CIDR holding it as a host."""
        cdef int family, n, i
        cdef fc_addr a
        cdef entry_t *hs[MAXDEPTH]
        cdef bint ok = False
        parse_ip_obj(ip, &family, &a)
        cdef fam_t *f = self.fam(family)
        n = self.holders(f, family, a, hs)
        for i in range(n):
            if hs[i].ready:
                ok = True
                break
        if not ok:
            raise MismatchedNetworkError()
        cdef entry_t *top = hs[0].top
        cdef uint64_t off = a.lo - top.net.lo - 1
        if fc_space_test(top.storage, off):
            raise AlreadyAllocatedError()
        if fc_space_set(top.storage, off) < 0:
            raise MemoryError()
        self.account(f, hs, n, off, 1)
        return self._addr_out(family, a)

    cdef int _next(self, fam_t *f, int family, fc_addr *out) except -1:
        cdef uint64_t r, start, off, size, band, shift
        cdef entry_t *e
        cdef entry_t *top
        cdef entry_t *p
        cdef fc_space *sp
        cdef entry_t *hs[MAXDEPTH]
        cdef int n = 0, width, i
        cdef tnode *node
        cdef key_t k
        if f.total == 0:
            raise RangeFullError()
        if self._policy == 2:
            e = fw_search(f, 0)
        else:
            e = cand_choose(f, &self.rng, self._policy)
        top = e.top
        sp = top.storage
        shift = e.shift
        size = e.size
        band = e.band
        if (size - band) - (e.used - e.static_used) > 0:
            start = band + fc_rng_bounded(&self.rng, size - band)
            off = fc_space_first_free(sp, start + shift, size + shift)
            if off == FC_NONE:
                off = fc_space_first_free(sp, band + shift, start + shift)
        else:
            start = fc_rng_bounded(&self.rng, band)
            off = fc_space_first_free(sp, start + shift, band + shift)
            if off == FC_NONE:
                off = fc_space_first_free(sp, shift, start + shift)
        if off == FC_NONE:  # counters and storage disagree: never expected
            raise RuntimeError("fastcidr: inconsistent allocation state")
        if fc_space_set(sp, off) < 0:
            raise MemoryError()
        out[0] = addr_plus(top.net, off)
        p = e
        while p != NULL:
            hs[n] = p
            n += 1
            p = p.parent
        for i in range(n // 2):  # least specific first, as account() expects
            p = hs[i]
            hs[i] = hs[n - 1 - i]
            hs[n - 1 - i] = p
        if e.nchildren:
            # nested CIDRs below e that hold the address as a host
            k = key_of(family, out[0])
            width = f.trie.width
            node = e.node.child[key_bit(k, e.plen)]
            while node != NULL and prefix_contains(node.net, node.plen, k, width):
                if node.has and is_host(&f.trie, node, k):
                    hs[n] = <entry_t*>node.value
                    n += 1
                if node.plen == width:
                    break
                node = node.child[key_bit(k, node.plen)]
        self.account(f, hs, n, off, 1)
        if self._policy != 2 and f.live >= PREFETCH_MIN:
            prefetch_ahead(f, self.rng, self._policy, self.root4.storage)
        return 0

    cdef int resolve_family(self, object family) except -1:
        cdef int fam
        if family is None:
            fam = self.first_family
            if fam == 0:
                raise RangeFullError()
            return fam
        return family_code(family)

    @cython.critical_section
    def allocate_next(self, family=None):
        """Next address by policy, then by the Kubernetes band rule inside the chosen CIDR."""
        cdef fc_addr a
        cdef int fam = self.resolve_family(family)
        self._next(self.fam(fam), fam, &a)
        return self._addr_out(fam, a)

    @cython.critical_section
    def allocate_many(self, n, family=None):
        """n addresses as n successive allocate_next() calls; all or nothing."""
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"n must be an int, got {type(n).__name__}")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        family_code(family)
        if n == 0:
            return []
        cdef int fam = self.resolve_family(family)
        cdef fam_t *f = self.fam(fam)
        cdef fc_u128 avail = ready_free(f)
        if n > _u128(avail):
            raise RangeFullError()
        if n > 0x7FFFFFFFFFFF // sizeof(fc_addr):
            raise MemoryError()
        cdef Py_ssize_t count = n, i
        cdef fc_addr *values = NULL
        if count > 0:
            values = <fc_addr*>malloc(<size_t>count * sizeof(fc_addr))
        if values == NULL:
            raise MemoryError()
        try:
            for i in range(count):
                self._next(f, fam, &values[i])
            return [self._addr_out(fam, values[i]) for i in range(count)]
        finally:
            free(values)

    @cython.critical_section
    def release(self, ip):
        """Free ip (through any CIDR, ready or not); a no-op when it is not allocated."""
        cdef int family, n
        cdef fc_addr a
        cdef entry_t *hs[MAXDEPTH]
        parse_ip_obj(ip, &family, &a)
        cdef fam_t *f = self.fam(family)
        n = self.holders(f, family, a, hs)
        if n == 0:
            return
        cdef uint64_t off = a.lo - hs[0].top.net.lo - 1
        if fc_space_clear(hs[0].top.storage, off) > 0:
            self.account(f, hs, n, off, -1)

    @cython.critical_section
    def has(self, ip):
        cdef int family, n
        cdef fc_addr a
        cdef entry_t *hs[MAXDEPTH]
        parse_ip_obj(ip, &family, &a)
        n = self.holders(self.fam(family), family, a, hs)
        if n == 0:
            return False
        return fc_space_test(hs[0].top.storage, a.lo - hs[0].top.net.lo - 1) != 0

    def __contains__(self, ip):
        return self.has(ip)

    # -- queries ----------------------------------------------------------------------------
    @cython.critical_section
    def owners(self, ip):
        """CIDRs holding ip as a host address, most specific first."""
        cdef int family, n, i
        cdef fc_addr a
        cdef entry_t *hs[MAXDEPTH]
        parse_ip_obj(ip, &family, &a)
        n = self.holders(self.fam(family), family, a, hs)
        cdef tnode *nodes[MAXDEPTH]
        for i in range(n):
            nodes[i] = hs[i].node
        return owned_list(nodes, n, 0, True)

    @cython.critical_section
    def orphans_if_removed(self, cidr, *, ignore=()):
        """Allocated addresses cidr holds as a host that no other CIDR (not in ignore) holds."""
        cdef int family, plen, nign = 0
        cdef Py_ssize_t i
        cdef fc_addr net
        cdef key_t *ign_keys = NULL
        cdef int *ign_meta = NULL
        cdef entry_t *e
        cdef u64buf keep
        cdef u64buf out
        if isinstance(ignore, str) or hasattr(ignore, "prefixlen"):
            ignore = [ignore]
        ignore = list(ignore)
        memset(&keep, 0, sizeof(u64buf))
        memset(&out, 0, sizeof(u64buf))
        ign_keys = <key_t*>malloc((len(ignore) + 1) * sizeof(key_t))
        ign_meta = <int*>malloc((len(ignore) + 1) * 2 * sizeof(int))
        if ign_keys == NULL or ign_meta == NULL:
            free(ign_keys)
            free(ign_meta)
            raise MemoryError()
        try:
            for item in ignore:
                parse_cidr_obj(item, &family, &net, &plen)
                ign_keys[nign] = key_of(family, net)
                ign_meta[2 * nign] = family
                ign_meta[2 * nign + 1] = plen
                nign += 1
            e = self.lookup(cidr)
            if orphan_offsets(e, ign_keys, ign_meta, nign, &keep, &out):
                return []  # an ancestor holds every host of e
            family = e.family
            net = e.top.net
            return [self._addr_out(family, addr_plus(net, out.data[i])) for i in range(out.n)]
        finally:
            free(ign_keys)
            free(ign_meta)
            free(keep.data)
            free(out.data)

    @cython.critical_section
    def used(self, family=None):
        cdef int fam = family_code(family)
        cdef uint64_t total = 0
        if fam in (0, 4):
            total += self.f4.used
        if fam in (0, 6):
            total += self.f6.used
        return total

    @cython.critical_section
    def free(self, family=None):
        """Sizes of the top-level CIDRs minus used (nested CIDRs counted once)."""
        cdef int fam = family_code(family)
        total = 0
        if fam in (0, 4):
            total += _u128(self.f4.top_size) - self.f4.used
        if fam in (0, 6):
            total += _u128(self.f6.top_size) - self.f6.used
        return total

    @cython.critical_section
    def stats(self, cidr=None):
        """``{"size", "used", "free", "utilisation"}`` of one CIDR; without ``cidr``, a dict of
        them keyed by every CIDR (insertion order). ``used`` counts addresses allocated through
        any CIDR holding them."""
        cdef entry_t *e
        cdef uint64_t size, used
        if cidr is None:
            return {key: self.stats(key) for key in list(self._order)}
        e = self.lookup(cidr)
        size = e.size
        used = e.used  # read before any Python object exists
        return _freespace.utilisation(size, used)

    # -- free space (docs/ALGORITHMS.md "Free space"; the argument checks are in _freespace) ------
    @cython.critical_section
    def _free_runs(self, cidr, after, Py_ssize_t limit):
        """Maximal free runs ``(family, first, last)`` (ints) after ``after``; at most limit (0: all)."""
        cdef entry_t *one = NULL
        cdef entry_t **wins = NULL
        cdef Py_ssize_t nwins = 0, w, i
        cdef int after_family = 0, family
        cdef fc_addr after_addr, first, last
        cdef uint64_t p, hi, s = 0, e_ = 0, end
        cdef u64buf runs  # per run: family, first.hi, first.lo, last.hi, last.lo
        cdef entry_t *e
        cdef bint full = False
        memset(&runs, 0, sizeof(u64buf))
        after_addr.hi = after_addr.lo = 0
        if cidr is not None:
            one = self.lookup(cidr)
        if after is not None:
            after_family = after[0]
            int_to_addr(after[1], &after_addr)
        try:
            for family in (4, 6):
                if full:
                    break
                if one != NULL:
                    if one.family != family:
                        continue
                    wins = <entry_t**>malloc(sizeof(entry_t*))
                    if wins == NULL:
                        raise MemoryError()
                    wins[0] = one
                    nwins = 1
                else:
                    ready_windows(self.fam(family), &wins, &nwins)
                for w in range(nwins):
                    e = wins[w]
                    if e.size == 0 or family < after_family:
                        continue
                    p = e.shift
                    hi = e.shift + e.size
                    if family == after_family:
                        last = addr_plus(e.net, e.size - 1)
                        if addr_le(last, after_addr):
                            continue
                        first = addr_plus(e.net, 0)
                        if addr_le(first, after_addr):
                            p = e.shift + (after_addr.lo - first.lo) + 1
                    while p < hi:
                        if e.top.storage != NULL and fc_space_next_run(e.top.storage, p, &s, &e_) and s < hi:
                            end = s
                        else:
                            end = hi
                            e_ = hi - 1
                        if end > p:
                            first = addr_plus(e.top.net, p)
                            last = addr_plus(e.top.net, end - 1)
                            if (runs.n and <int>runs.data[runs.n - 5] == family
                                    and addr_is_next(runs.data[runs.n - 2], runs.data[runs.n - 1], first)):
                                runs.data[runs.n - 2] = last.hi
                                runs.data[runs.n - 1] = last.lo
                            elif limit and runs.n == 5 * limit:
                                full = True
                                break
                            else:
                                buf_push(&runs, family)
                                buf_push(&runs, first.hi)
                                buf_push(&runs, first.lo)
                                buf_push(&runs, last.hi)
                                buf_push(&runs, last.lo)
                        if e_ >= hi - 1:
                            break
                        p = e_ + 1
                    if full:
                        break
                free(wins)
                wins = NULL
            out = []
            for i in range(0, runs.n, 5):
                first.hi = runs.data[i + 1]
                first.lo = runs.data[i + 2]
                last.hi = runs.data[i + 3]
                last.lo = runs.data[i + 4]
                out.append((<int>runs.data[i], addr_to_int(first), addr_to_int(last)))
            return out
        finally:
            free(wins)
            free(runs.data)

    def free_ranges(self, cidr=None, *, limit=None):
        """Maximal runs of free usable addresses, ``(first, last)`` canonical text, in address
        order; at most ``limit`` runs. ``cidr=None``: every ready CIDR, merged; a CIDR: only its
        usable addresses (``KeyError`` if unknown). O(runs), not O(addresses)."""
        return _freespace.free_ranges(self, cidr, limit, self._formatter)

    def iter_free(self, cidr=None):
        """The free usable addresses, lazily, in address order (``cidr`` as for free_ranges)."""
        return _freespace.iter_free(self, cidr, self._formatter)

    def first_free(self, n, cidr=None):
        """The first ``n`` free usable addresses in address order (fewer if fewer are free); O(n)."""
        return _freespace.first_free(self, n, cidr, self._formatter)

    @cython.critical_section
    def __iter__(self):
        cdef u64buf fams, his, los
        cdef fc_addr a
        cdef Py_ssize_t i
        memset(&fams, 0, sizeof(u64buf))
        memset(&his, 0, sizeof(u64buf))
        memset(&los, 0, sizeof(u64buf))
        try:
            collect_all(&self.f4, &self.f6, &fams, &his, &los)
            out = []
            for i in range(fams.n):
                a.hi = his.data[i]
                a.lo = los.data[i]
                out.append(self._addr_out(<int>fams.data[i], a))
        finally:
            free(fams.data)
            free(his.data)
            free(los.data)
        return iter(out)

    @cython.critical_section
    def __len__(self):
        return self.f4.used + self.f6.used

    def __repr__(self):
        shown = f", output={_OUTPUTS[self.out]!r}" if self.out else ""
        return f"MultiCIDRAllocator({self.cidrs!r}, policy={self.policy!r}{shown}, used={len(self)})"

    @cython.critical_section
    def __sizeof__(self):
        cdef Py_ssize_t total = sizeof(MultiCIDRAllocator)
        cdef tnode **nodes
        cdef Py_ssize_t n, i
        cdef entry_t *e
        for f in (0, 1):
            trie_preorder((self.f4 if f == 0 else self.f6).trie.root, False, &nodes, &n)
            for i in range(n):
                e = <entry_t*>nodes[i].value
                total += sizeof(entry_t) + 2 * sizeof(tnode) + sys.getsizeof(<object>nodes[i].key)
                if e.storage != NULL:
                    total += sizeof(fc_space) + fc_space_memory(e.storage)
            free(nodes)
        total += (self.f4.cap + self.f6.cap) * sizeof(slot_t)
        total += (self.f4.nblocks + self.f6.nblocks + 2) * sizeof(uint64_t)
        if self.root4.storage != NULL:
            total += sizeof(fc_space) + fc_space_memory(self.root4.storage)
        if self.f4.trie.jump != NULL:
            total += (<Py_ssize_t>1 << JUMP_BITS) * sizeof(jump_t)
        return total

    # -- snapshot ---------------------------------------------------------------------------
    @cython.critical_section
    def snapshot(self):
        """FCMA version 3 (docs/ALGORITHMS.md); includes the random generator's state and the
        order of the candidate arrays."""
        cdef int family, plen
        cdef fc_addr net
        cdef tnode *node
        cdef Py_ssize_t pos = 0
        cdef PyObject *k
        cdef PyObject *v
        cdef u64buf cidrs  # (family, prefix, hi, lo, ready, position) per CIDR, insertion order
        cdef entry_t *e
        cdef bytebuf tops  # the block bodies of the top-level CIDRs
        cdef uint32_t ntops = 0
        memset(&cidrs, 0, sizeof(u64buf))
        memset(&tops, 0, sizeof(bytebuf))
        try:
            # Everything is read into C buffers first (no Python object is created meanwhile,
            # so no other thread can change the allocator half-way through).
            while PyDict_Next(self._order, &pos, &k, &v):
                parse_cidr_obj(<object>k, &family, &net, &plen)
                node = trie_find(&self.fam(family).trie, key_of(family, net), plen)
                if node == NULL:
                    raise RuntimeError("fastcidr: CIDR index out of step")
                buf_push(&cidrs, family)
                buf_push(&cidrs, plen)
                buf_push(&cidrs, net.hi)
                buf_push(&cidrs, net.lo)
                e = <entry_t*>node.value
                buf_push(&cidrs, e.ready)
                buf_push(&cidrs, <uint64_t>e.pos if self._policy != 2 and e.cls >= 0 else FC_NO_POSITION)
            fcma_tops(&self.f4, &self.f6, &tops, &ntops)
            return fcma_bytes(self._policy, &self.rng, &cidrs, &tops, ntops)
        finally:
            free(cidrs.data)
            free(tops.data)

    @classmethod
    def restore(cls, data, *, output="str"):
        """Rebuild from snapshot(); any defect raises SnapshotError. A snapshot holds state only:
        ``output`` is chosen here (pickle and ``copy()`` keep the allocator's own)."""
        out = _output_code(output)
        buf = _snapshot_bytes(data)
        policy, state, cidrs, runs, tops = _parse_fcma(buf)
        cdef MultiCIDRAllocator self = cls.__new__(cls)
        cdef int i, n
        cdef fc_addr a
        cdef entry_t *hs[MAXDEPTH]
        cdef entry_t *top
        cdef uint64_t off, length
        cdef fam_t *f
        cdef tnode **nodes
        cdef Py_ssize_t nn, j
        cdef entry_t *e
        self._policy = policy
        self._set_output(out)
        self.f4.arrays = self.f6.arrays = policy != 2
        for i in range(4):
            self.rng.s[i] = state[i]
        for family, net_int, plen, ready, _ in cidrs:
            int_to_addr(net_int, &a)
            self.add(format_cidr_str(family, a, plen), ready=ready)
        for family, start, length_obj in runs:
            int_to_addr(start, &a)
            length = length_obj
            f = self.fam(family)
            n = self.holders(f, family, a, hs)
            if n == 0:
                raise SnapshotError("damaged snapshot: an allocated address is outside every CIDR")
            top = hs[0].top
            off = a.lo - top.net.lo - 1
            if length > hs[0].shift + hs[0].size - off:
                raise SnapshotError("damaged snapshot: an allocated run leaves its CIDR")
            if fc_space_set_range(top.storage, off, length) < 0:
                raise MemoryError()
        for family, net_int, plen, body in tops:  # version 3
            int_to_addr(net_int, &a)
            n = read_top(self.fam(family), family, a, plen, <const unsigned char*>PyBytes_AS_STRING(body),
                         <size_t>len(body))
            if n:
                raise SnapshotError("damaged snapshot: " + ("a block body for a CIDR that is not top-level"
                                    if n == -2 else (<bytes>fc_snap_error_text(n)).decode("ascii")))
        for family in (4, 6):
            f = self.fam(family)
            trie_preorder(f.trie.root, False, &nodes, &nn)
            f.used = 0
            for j in range(nn):
                e = <entry_t*>nodes[j].value
                e.used = count_window(e, e.size)
                e.static_used = count_window(e, e.band)
                set_weight(f, e, self.weight(e))
                if e.parent == NULL:
                    f.used += e.used
            free(nodes)
            f.ready_dirty = 1
        bad = place_candidates(&self.f4, &self.f6, self._policy, cidrs)
        if bad:
            raise SnapshotError("damaged snapshot: a position for a CIDR that is no candidate" if bad == 1
                                else "damaged snapshot: candidate positions are not a permutation")
        return self

    def __reduce__(self):
        return (type(self).restore, (self.snapshot(),), _OUTPUTS[self.out])

    def __setstate__(self, state):
        self._set_output(_output_code(state))

    def copy(self):
        return type(self).restore(self.snapshot(), output=_OUTPUTS[self.out])

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()


if sizeof(entry_t) != 128:  # the pool layout assumes two cache lines per entry
    raise ImportError(f"fastcidr._multi: unexpected entry size {sizeof(entry_t)}")
if sizeof(tnode) != 64:  # one cache line per trie node
    raise ImportError(f"fastcidr._multi: unexpected trie node size {sizeof(tnode)}")
