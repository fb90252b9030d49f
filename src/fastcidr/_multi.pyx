# cython: language_level=3
"""Compiled PrefixTree and MultiCIDRAllocator (docs/ALGORITHMS.md "Many CIDRs").

A path-compressed binary trie over 128-bit keys (IPv4 left-aligned in its own root) serves both
classes. The allocator keeps one allocation state per address: top-level CIDRs own an
``fc_space`` (dense bitmap or run set from the shared C headers), nested CIDRs are windows onto
it, and the candidates for ``allocate_next`` sit in a Fenwick tree over insertion slots per family.

Thread safety: every public method runs under the GIL without calling back into Python while C
structures are half-changed (Python objects are created only before or after a mutation), so
each call is atomic with respect to other threads.
"""
from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcpy, memset, memchr
from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF, Py_DECREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM

import os
import struct
import zlib

from .errors import (
    AlreadyAllocatedError,
    MismatchedNetworkError,
    RangeFullError,
    SnapshotError,
)
from ._pure import (
    parse_ip as _py_parse_ip,
    parse_cidr as _py_parse_cidr,
    check_allocatable as _py_check_allocatable,
    _snapshot_bytes,
)

__all__ = ["PrefixTree", "MultiCIDRAllocator"]

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object, Py_ssize_t*) except NULL
    bint PyUnicode_IS_ASCII(object)
    object PyUnicode_New(Py_ssize_t, Py_UCS4)
    void* PyUnicode_DATA(object)

cdef extern from "fc_addr.h" nogil:
    ctypedef struct fc_addr:
        uint64_t hi
        uint64_t lo
    int FC_ADDR_BUFSIZE
    int FC_CIDR_BUFSIZE
    int fc_parse_ip(const char *s, size_t n, int *family, fc_addr *out)
    int fc_parse_cidr(const char *s, size_t n, int *family, fc_addr *net, int *prefix)
    size_t fc_format_ip(int family, fc_addr a, char *buf)
    size_t fc_format_cidr(int family, fc_addr net, int prefix, char *buf)
    uint64_t fc_size(int family, int prefix)
    uint64_t fc_band_offset(int family, int prefix)

cdef extern from "fc_rng.h" nogil:
    ctypedef struct fc_rng:
        uint64_t s[4]
    void fc_rng_seed(fc_rng *r, uint64_t seed)
    uint64_t fc_rng_bounded(fc_rng *r, uint64_t n)

cdef extern from "fc_space.h" nogil:
    uint64_t FC_NONE
    ctypedef struct fc_space:
        pass
    int fc_space_init(fc_space *sp, uint64_t size)
    void fc_space_free(fc_space *sp)
    int fc_space_test(const fc_space *sp, uint64_t p)
    int fc_space_set(fc_space *sp, uint64_t p)
    int fc_space_clear(fc_space *sp, uint64_t p)
    uint64_t fc_space_first_free(const fc_space *sp, uint64_t p, uint64_t limit)
    int fc_space_next_run(const fc_space *sp, uint64_t p, uint64_t *start, uint64_t *end)
    int64_t fc_space_set_range(fc_space *sp, uint64_t start, uint64_t length)
    uint64_t fc_space_count(const fc_space *sp)
    uint64_t fc_space_count_range(const fc_space *sp, uint64_t a, uint64_t b)
    size_t fc_space_memory(const fc_space *sp)

cdef extern from *:
    """
    static inline int fc_clz64(uint64_t x) { return x ? __builtin_clzll(x) : 64; }
    """
    int fc_clz64(uint64_t x) nogil

cdef enum:
    MAXDEPTH = 130  # a chain of nested prefixes has at most 129 distinct lengths
cdef uint64_t WEIGHT_CAP = (<uint64_t>1) << 40
cdef uint64_t V4_HI_MASK = 0xFFFFFFFF00000000ULL

# ------------------------------------------------------------------------------------------------
# Keys: 128-bit, left-aligned (IPv4 in the top 32 bits of hi), so one trie code serves both families
# ------------------------------------------------------------------------------------------------

ctypedef struct key_t:
    uint64_t hi
    uint64_t lo

cdef inline key_t key_of(int family, fc_addr a) noexcept nogil:
    cdef key_t k
    if family == 4:
        k.hi = a.lo << 32
        k.lo = 0
    else:
        k.hi = a.hi
        k.lo = a.lo
    return k

cdef inline fc_addr addr_of(int family, key_t k) noexcept nogil:
    cdef fc_addr a
    if family == 4:
        a.hi = 0
        a.lo = k.hi >> 32
    else:
        a.hi = k.hi
        a.lo = k.lo
    return a

cdef inline uint64_t mask_hi(int plen) noexcept nogil:
    if plen <= 0:
        return 0
    if plen >= 64:
        return ~(<uint64_t>0)
    return ~(<uint64_t>0) << (64 - plen)

cdef inline uint64_t mask_lo(int plen) noexcept nogil:
    if plen <= 64:
        return 0
    if plen >= 128:
        return ~(<uint64_t>0)
    return ~(<uint64_t>0) << (128 - plen)

cdef inline int key_bit(key_t k, int pos) noexcept nogil:
    if pos < 64:
        return <int>((k.hi >> (63 - pos)) & 1)
    return <int>((k.lo >> (127 - pos)) & 1)

cdef inline int common_len(key_t a, key_t b) noexcept nogil:
    cdef uint64_t x = a.hi ^ b.hi
    if x:
        return fc_clz64(x)
    x = a.lo ^ b.lo
    if x:
        return 64 + fc_clz64(x)
    return 128

cdef inline bint prefix_contains(key_t net, int plen, key_t q, int qplen) noexcept nogil:
    """(net, plen) equals or contains (q, qplen)."""
    return plen <= qplen and ((net.hi ^ q.hi) & mask_hi(plen)) == 0 and ((net.lo ^ q.lo) & mask_lo(plen)) == 0

# ------------------------------------------------------------------------------------------------
# The trie
# ------------------------------------------------------------------------------------------------

ctypedef struct tnode:
    key_t net
    int plen
    int has
    tnode *child[2]
    PyObject *key    # canonical text (owned) while has
    PyObject *value  # PrefixTree: the value (owned) while has
    void *entry      # MultiCIDRAllocator: the entry while has

ctypedef struct ctrie:
    tnode *root
    Py_ssize_t count
    int family
    int width

cdef inline void trie_init(ctrie *t, int family) noexcept nogil:
    t.root = NULL
    t.count = 0
    t.family = family
    t.width = 32 if family == 4 else 128

cdef void node_free_tree(tnode *n) noexcept:
    cdef tnode *stack[260]
    cdef int sp = 0
    if n == NULL:
        return
    stack[0] = n
    sp = 1
    while sp:
        sp -= 1
        n = stack[sp]
        if n.child[0] != NULL:
            stack[sp] = n.child[0]
            sp += 1
        if n.child[1] != NULL:
            stack[sp] = n.child[1]
            sp += 1
        Py_XDECREF(n.key)
        Py_XDECREF(n.value)
        free(n)

cdef inline bint is_host(const ctrie *t, const tnode *n, key_t q) noexcept nogil:
    """q (a full-length key) is a host of n (SPEC.md §1); q is known to be inside n."""
    if q.hi == n.net.hi and q.lo == n.net.lo:
        return False
    if t.family == 4 and q.hi == (n.net.hi | (~mask_hi(n.plen) & V4_HI_MASK)):
        return False
    return True

cdef tnode *trie_find(const ctrie *t, key_t k, int plen) noexcept nogil:
    cdef tnode *n = t.root
    while n != NULL and prefix_contains(n.net, n.plen, k, plen):
        if n.plen == plen:
            return n if n.has else NULL
        n = n.child[key_bit(k, n.plen)]
    return NULL

cdef tnode *trie_insert(ctrie *t, key_t k, int plen, bint *existed) noexcept nogil:
    """The node for (k, plen), created if needed (has set by the caller); NULL: no memory."""
    cdef tnode **link = &t.root
    cdef tnode *n = t.root
    cdef tnode *new
    cdef tnode *glue
    cdef int common
    existed[0] = False
    while n != NULL:
        common = common_len(n.net, k)
        if common > n.plen:
            common = n.plen
        if common > plen:
            common = plen
        if common == n.plen:
            if n.plen == plen:
                existed[0] = n.has != 0
                return n
            link = &n.child[key_bit(k, n.plen)]
            n = link[0]
            continue
        new = <tnode*>calloc(1, sizeof(tnode))
        if new == NULL:
            return NULL
        new.net = k
        new.plen = plen
        if common == plen:  # the new prefix is an ancestor of n
            new.child[key_bit(n.net, plen)] = n
            link[0] = new
            return new
        glue = <tnode*>calloc(1, sizeof(tnode))
        if glue == NULL:
            free(new)
            return NULL
        glue.net.hi = k.hi & mask_hi(common)
        glue.net.lo = k.lo & mask_lo(common)
        glue.plen = common
        glue.child[key_bit(k, common)] = new
        glue.child[key_bit(n.net, common)] = n
        link[0] = glue
        return new
    new = <tnode*>calloc(1, sizeof(tnode))
    if new == NULL:
        return NULL
    new.net = k
    new.plen = plen
    link[0] = new
    return new

cdef void trie_unlink(ctrie *t, key_t k, int plen) noexcept nogil:
    """Drop the (already emptied: has == 0, refs released) node at (k, plen) if the shape allows."""
    cdef tnode **link = &t.root
    cdef tnode **parent_link = NULL
    cdef tnode *n = t.root
    cdef tnode *parent = NULL
    cdef tnode *only
    cdef int bit = 0
    while n != NULL and n.plen < plen:
        parent_link = link
        parent = n
        bit = key_bit(k, n.plen)
        link = &n.child[bit]
        n = link[0]
    if n == NULL or n.plen != plen or n.has:
        return
    if n.child[0] != NULL and n.child[1] != NULL:
        return
    only = n.child[0] if n.child[0] != NULL else n.child[1]
    link[0] = only
    free(n)
    # a glue node left with a single child goes too
    if only == NULL and parent != NULL and not parent.has:
        parent_link[0] = parent.child[1 - bit]
        free(parent)

cdef inline tnode *trie_subtree(const ctrie *t, key_t k, int plen) noexcept nogil:
    """The highest node whose prefix is equal to or inside (k, plen)."""
    cdef tnode *n = t.root
    while n != NULL:
        if n.plen >= plen:
            return n if prefix_contains(k, plen, n.net, n.plen) else NULL
        if not prefix_contains(n.net, n.plen, k, plen):
            return NULL
        n = n.child[key_bit(k, n.plen)]
    return NULL

cdef int trie_path(const ctrie *t, key_t k, int plen, tnode **out) noexcept nogil:
    """Stored nodes equal to or containing (k, plen), least specific first."""
    cdef int n_out = 0
    cdef tnode *n = t.root
    while n != NULL and prefix_contains(n.net, n.plen, k, plen):
        if n.has:
            out[n_out] = n
            n_out += 1
        if n.plen == plen:
            break
        n = n.child[key_bit(k, n.plen)]
    return n_out

cdef int trie_host_path(const ctrie *t, key_t k, tnode **out) noexcept nogil:
    """Stored nodes holding the full-length key k as a host, least specific first."""
    cdef int n_out = 0
    cdef int width = t.width
    cdef tnode *n = t.root
    while n != NULL and prefix_contains(n.net, n.plen, k, width):
        if n.has and is_host(t, n, k):
            out[n_out] = n
            n_out += 1
        if n.plen == width:
            break
        n = n.child[key_bit(k, n.plen)]
    return n_out

cdef int trie_preorder(tnode *start, bint stop_at_value, tnode ***out, Py_ssize_t *n_out) except -1:
    """Stored nodes under start in pre-order, into a malloc'd array (caller frees)."""
    cdef tnode *stack[260]
    cdef int sp = 0
    cdef Py_ssize_t cap = 16, n = 0
    cdef tnode **buf = <tnode**>malloc(cap * sizeof(tnode*))
    cdef tnode **grown
    cdef tnode *node
    if buf == NULL:
        raise MemoryError()
    if start != NULL:
        stack[0] = start
        sp = 1
    while sp:
        sp -= 1
        node = stack[sp]
        if node.has:
            if n == cap:
                cap *= 2
                grown = <tnode**>realloc(buf, cap * sizeof(tnode*))
                if grown == NULL:
                    free(buf)
                    raise MemoryError()
                buf = grown
            buf[n] = node
            n += 1
            if stop_at_value:
                continue
        if node.child[1] != NULL:
            stack[sp] = node.child[1]
            sp += 1
        if node.child[0] != NULL:
            stack[sp] = node.child[0]
            sp += 1
    out[0] = buf
    n_out[0] = n
    return 0

# ------------------------------------------------------------------------------------------------
# Input and output
# ------------------------------------------------------------------------------------------------

cdef inline void int_to_addr(object value, fc_addr *a):
    a.hi = <uint64_t>(value >> 64)
    a.lo = <uint64_t>(value & 0xFFFFFFFFFFFFFFFF)

cdef inline object addr_to_int(fc_addr a):
    return ((<object>a.hi) << 64) | <object>a.lo

cdef int parse_ip_obj(object obj, int *family, fc_addr *out) except -1:
    cdef Py_ssize_t n
    cdef const char *s
    if type(obj) is str and PyUnicode_IS_ASCII(obj):
        s = PyUnicode_AsUTF8AndSize(obj, &n)
        if fc_parse_ip(s, <size_t>n, family, out) == 0:
            return 0
    fam, value = _py_parse_ip(obj)  # raises InvalidAddressError with the shared wording
    family[0] = fam
    int_to_addr(value, out)
    return 0

cdef int parse_cidr_obj(object obj, int *family, fc_addr *net, int *plen) except -1:
    cdef Py_ssize_t n
    cdef const char *s
    if type(obj) is str and PyUnicode_IS_ASCII(obj):
        s = PyUnicode_AsUTF8AndSize(obj, &n)
        if fc_parse_cidr(s, <size_t>n, family, net, plen) == 0:
            return 0
    fam, value, prefix = _py_parse_cidr(obj)
    family[0] = fam
    int_to_addr(value, net)
    plen[0] = prefix
    return 0

cdef int parse_ip_or_cidr(object obj, int *family, fc_addr *net, int *plen) except -1:
    """An address is a full-length prefix."""
    cdef Py_ssize_t n
    cdef const char *s
    if type(obj) is str and PyUnicode_IS_ASCII(obj):
        s = PyUnicode_AsUTF8AndSize(obj, &n)
        if memchr(s, 47, <size_t>n) == NULL:  # no '/'
            if fc_parse_ip(s, <size_t>n, family, net) == 0:
                plen[0] = 32 if family[0] == 4 else 128
                return 0
            parse_ip_obj(obj, family, net)
            plen[0] = 32 if family[0] == 4 else 128
            return 0
        return parse_cidr_obj(obj, family, net, plen)
    if isinstance(obj, str) or hasattr(obj, "prefixlen"):
        return parse_cidr_obj(obj, family, net, plen)
    parse_ip_obj(obj, family, net)
    plen[0] = 32 if family[0] == 4 else 128
    return 0

cdef inline object ascii_str(const char *buf, size_t n):
    cdef object s = PyUnicode_New(<Py_ssize_t>n, 127)
    memcpy(PyUnicode_DATA(s), buf, n)
    return s

cdef inline object format_ip_str(int family, fc_addr a):
    cdef char buf[64]
    cdef size_t n = fc_format_ip(family, a, buf)
    return ascii_str(buf, n)

cdef inline object format_cidr_str(int family, fc_addr net, int plen):
    cdef char buf[64]
    cdef size_t n = fc_format_cidr(family, net, plen, buf)
    return ascii_str(buf, n)

cdef int family_code(object family) except -1:
    if family is None:
        return 0
    if family == "IPv4" or (type(family) is int and family == 4):
        return 4
    if family == "IPv6" or (type(family) is int and family == 6):
        return 6
    raise ValueError(f"family must be 'IPv4', 'IPv6', 4, 6 or None, got {family!r}")

# ------------------------------------------------------------------------------------------------
# PrefixTree
# ------------------------------------------------------------------------------------------------

cdef inline object node_pair(tnode *n):
    cdef object t = PyTuple_New(2)
    Py_INCREF(<object>n.key)
    PyTuple_SET_ITEM(t, 0, <object>n.key)
    Py_INCREF(<object>n.value)
    PyTuple_SET_ITEM(t, 1, <object>n.value)
    return t


cdef class PrefixTree:
    """A map from CIDR to value over both families (Kubernetes' ``iptree``), as a
    path-compressed binary trie; IPv4 and IPv6 keys live in separate roots and never mix.

    >>> t = PrefixTree()
    >>> t.insert("192.168.0.0/16", 1), t.insert("192.168.0.0/24", 2), t.insert("192.168.0.0/24", 3)
    (False, False, True)
    >>> t.host_matches("192.168.0.3")
    [('192.168.0.0/24', 3), ('192.168.0.0/16', 1)]
    >>> t.longest_match("192.168.7.1")
    ('192.168.0.0/16', 1)
    """

    cdef ctrie v4
    cdef ctrie v6

    def __cinit__(self):
        trie_init(&self.v4, 4)
        trie_init(&self.v6, 6)

    def __dealloc__(self):
        node_free_tree(self.v4.root)
        node_free_tree(self.v6.root)
        self.v4.root = NULL
        self.v6.root = NULL

    cdef inline ctrie *trie(self, int family) noexcept:
        return &self.v4 if family == 4 else &self.v6

    # -- mapping ----------------------------------------------------------------------------
    def insert(self, cidr, value):
        """Store value under cidr; True when it replaced an existing value."""
        cdef int family, plen
        cdef fc_addr net
        cdef bint existed
        cdef tnode *n
        parse_cidr_obj(cidr, &family, &net, &plen)
        cdef object text = format_cidr_str(family, net, plen)
        cdef ctrie *t = self.trie(family)
        n = trie_insert(t, key_of(family, net), plen, &existed)
        if n == NULL:
            raise MemoryError()
        cdef PyObject *old = n.value
        Py_INCREF(value)
        n.value = <PyObject*>value
        if not existed:
            Py_INCREF(text)
            n.key = <PyObject*>text
            n.has = 1
            t.count += 1
        Py_XDECREF(old)  # last: a finalizer may run here, the tree is consistent
        return existed

    def __setitem__(self, cidr, value):
        self.insert(cidr, value)

    cdef tnode *_find(self, object cidr, int *family) except? NULL:
        cdef int plen
        cdef fc_addr net
        parse_cidr_obj(cidr, family, &net, &plen)
        return trie_find(self.trie(family[0]), key_of(family[0], net), plen)

    def __getitem__(self, cidr):
        cdef int family
        cdef tnode *n = self._find(cidr, &family)
        if n == NULL:
            raise KeyError(_canonical_cidr(cidr))
        return <object>n.value

    def get(self, cidr, default=None):
        cdef int family
        cdef tnode *n = self._find(cidr, &family)
        if n == NULL:
            return default
        return <object>n.value

    def __contains__(self, cidr):
        cdef int family
        return self._find(cidr, &family) != NULL

    def pop(self, cidr, *default):
        cdef int family
        cdef tnode *n = self._find(cidr, &family)
        if n == NULL:
            if default:
                return default[0]
            raise KeyError(_canonical_cidr(cidr))
        cdef object value = <object>n.value
        cdef object text = <object>n.key
        cdef key_t k = n.net
        cdef int plen = n.plen
        cdef ctrie *t = self.trie(family)
        Py_XDECREF(n.value)
        Py_XDECREF(n.key)  # `value` and `text` still hold references: no finalizer runs here
        n.value = NULL
        n.key = NULL
        n.has = 0
        t.count -= 1
        trie_unlink(t, k, plen)
        return value

    def __delitem__(self, cidr):
        self.pop(cidr)

    def __len__(self):
        return self.v4.count + self.v6.count

    def __bool__(self):
        return (self.v4.count + self.v6.count) > 0

    cdef list _collect(self, tnode *start, bint stop_at_value, int what):
        """what: 0 keys, 1 values, 2 pairs."""
        cdef tnode **nodes
        cdef Py_ssize_t n, i
        trie_preorder(start, stop_at_value, &nodes, &n)
        cdef list out = []
        try:
            for i in range(n):
                if what == 0:
                    out.append(<object>nodes[i].key)
                elif what == 1:
                    out.append(<object>nodes[i].value)
                else:
                    out.append(node_pair(nodes[i]))
        finally:
            free(nodes)
        return out

    def keys(self):
        return self._collect(self.v4.root, False, 0) + self._collect(self.v6.root, False, 0)

    def values(self):
        return self._collect(self.v4.root, False, 1) + self._collect(self.v6.root, False, 1)

    def items(self):
        return self._collect(self.v4.root, False, 2) + self._collect(self.v6.root, False, 2)

    def __iter__(self):
        return iter(self.keys())

    def clear(self):
        cdef tnode *r4 = self.v4.root
        cdef tnode *r6 = self.v6.root
        trie_init(&self.v4, 4)
        trie_init(&self.v6, 6)
        node_free_tree(r4)
        node_free_tree(r6)

    # -- queries ----------------------------------------------------------------------------
    def longest_match(self, ip_or_cidr):
        """The most specific stored prefix equal to or containing the query, as (cidr, value)."""
        cdef int family, plen
        cdef fc_addr a
        parse_ip_or_cidr(ip_or_cidr, &family, &a, &plen)
        cdef ctrie *t = &self.v4 if family == 4 else &self.v6
        cdef key_t k = key_of(family, a)
        cdef tnode *n = t.root
        cdef tnode *best = NULL
        while n != NULL and prefix_contains(n.net, n.plen, k, plen):
            if n.has:
                best = n
            if n.plen == plen:
                break
            n = n.child[key_bit(k, n.plen)]
        if best == NULL:
            return None
        return node_pair(best)

    def shortest_match(self, ip_or_cidr):
        """The least specific stored prefix equal to or containing the query, as (cidr, value)."""
        cdef int family, plen
        cdef fc_addr a
        parse_ip_or_cidr(ip_or_cidr, &family, &a, &plen)
        cdef ctrie *t = self.trie(family)
        cdef key_t k = key_of(family, a)
        cdef tnode *n = t.root
        while n != NULL and prefix_contains(n.net, n.plen, k, plen):
            if n.has:
                return node_pair(n)
            if n.plen == plen:
                break
            n = n.child[key_bit(k, n.plen)]
        return None

    def host_matches(self, ip):
        """Stored prefixes holding ip as a host address (SPEC.md §1), most specific first."""
        cdef int family, i, count
        cdef fc_addr a
        cdef tnode *found[MAXDEPTH]
        parse_ip_obj(ip, &family, &a)
        count = trie_host_path(self.trie(family), key_of(family, a), found)
        cdef list out = []
        for i in range(count - 1, -1, -1):
            out.append(node_pair(found[i]))
        return out

    def covering(self, cidr):
        """Stored prefixes equal to or containing cidr, least specific first."""
        cdef int family, plen, i, count
        cdef fc_addr a
        cdef tnode *found[MAXDEPTH]
        parse_cidr_obj(cidr, &family, &a, &plen)
        count = trie_path(self.trie(family), key_of(family, a), plen, found)
        return [node_pair(found[i]) for i in range(count)]

    def covered(self, cidr):
        """Stored prefixes equal to or inside cidr, in pre-order (ascending)."""
        cdef int family, plen
        cdef fc_addr a
        parse_cidr_obj(cidr, &family, &a, &plen)
        cdef tnode *start = trie_subtree(self.trie(family), key_of(family, a), plen)
        return self._collect(start, False, 2)

    def top_level(self, family=None):
        """Stored prefixes not contained in another stored prefix, ascending."""
        cdef int fam = family_code(family)
        cdef list out = []
        if fam in (0, 4):
            out += self._collect(self.v4.root, True, 2)
        if fam in (0, 6):
            out += self._collect(self.v6.root, True, 2)
        return out

    # -- protocol ---------------------------------------------------------------------------
    def __reduce__(self):
        return (self.__class__, (), self.items())

    def __setstate__(self, state):
        for key, value in state:
            self.insert(key, value)

    def __repr__(self):
        return f"PrefixTree({dict(self.items())!r})"

    def __sizeof__(self):
        return sizeof(PrefixTree) + (self.v4.count + self.v6.count) * 2 * sizeof(tnode)


cdef object _canonical_cidr(object cidr):
    cdef int family, plen
    cdef fc_addr net
    parse_cidr_obj(cidr, &family, &net, &plen)
    return format_cidr_str(family, net, plen)
