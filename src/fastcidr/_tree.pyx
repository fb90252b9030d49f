# cython: language_level=3
"""Compiled PrefixTree: a map from CIDR to value over both families, on the C trie of ``_trie.pxd``
(shared with ``MultiCIDRAllocator``). Its pure-Python twin is ``_tree_twin``.

Thread safety: every public method runs under the GIL (and a per-object critical section on
free-threaded builds) and creates Python objects only before or after its changes to the C
structures, so each call is atomic with respect to other threads.
"""
cimport cython
from libc.stdint cimport uint64_t
from libc.stdlib cimport free
from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF

from fastcidr._fc cimport fc_addr
from fastcidr._trie cimport *

from .errors import InvalidAddressError

__all__ = ["PrefixTree"]


cdef int int_address(object value, object family, int *fam, fc_addr *out) except -1:
    """An int address of a family given explicitly (4 or 6, "IPv4" or "IPv6")."""
    fam[0] = family_code(family)
    if fam[0] == 0:
        raise ValueError("family must be given for an integer address")
    if type(value) is not int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidAddressError(f"invalid IP address {value!r}: not an integer")
    if fam[0] == 4 and type(value) is int and 0 <= value <= 0xFFFFFFFF:
        out.hi = 0
        out.lo = <uint64_t>value
        return 0
    if not 0 <= value <= (0xFFFFFFFF if fam[0] == 4 else (1 << 128) - 1):
        raise InvalidAddressError(f"invalid IP address {value!r}: out of range for IPv{fam[0]}")
    int_to_addr(value, out)
    return 0


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
        trie_init(&self.v4, 4, True)
        trie_init(&self.v6, 6, True)

    def __dealloc__(self):
        trie_free(&self.v4)
        trie_free(&self.v6)

    cdef inline ctrie *trie(self, int family) noexcept:
        return &self.v4 if family == 4 else &self.v6

    # -- mapping ----------------------------------------------------------------------------
    @cython.critical_section
    def insert(self, cidr, value):
        """Store value under cidr; True when it replaced an existing value."""
        cdef int family, plen
        cdef fc_addr net
        cdef bint existed
        cdef tnode *n
        parse_cidr_obj(cidr, &family, &net, &plen)
        cdef object text = format_cidr_str(family, net, plen)
        cdef tuple pair = (text, value)
        cdef ctrie *t = self.trie(family)
        n = trie_add(t, key_of(family, net), plen, &existed)
        if n == NULL:
            raise MemoryError()
        cdef PyObject *old = <PyObject*>n.value
        Py_INCREF(pair)
        n.value = <PyObject*>pair
        if not existed:
            Py_INCREF(text)
            n.key = <PyObject*>text
        Py_XDECREF(old)  # last: a finalizer may run here, the tree is consistent
        return existed

    def __setitem__(self, cidr, value):
        self.insert(cidr, value)

    cdef tnode *_find(self, object cidr, int *family) except? NULL:
        cdef int plen
        cdef fc_addr net
        parse_cidr_obj(cidr, family, &net, &plen)
        return trie_find(self.trie(family[0]), key_of(family[0], net), plen)

    @cython.critical_section
    def __getitem__(self, cidr):
        cdef int family
        cdef tnode *n = self._find(cidr, &family)
        if n == NULL:
            raise KeyError(_canonical_cidr(cidr))
        return node_value(n)

    @cython.critical_section
    def get(self, cidr, default=None):
        cdef int family
        cdef tnode *n = self._find(cidr, &family)
        if n == NULL:
            return default
        return node_value(n)

    @cython.critical_section
    def __contains__(self, cidr):
        cdef int family
        return self._find(cidr, &family) != NULL

    @cython.critical_section
    def pop(self, cidr, *default):
        cdef int family
        cdef tnode *n = self._find(cidr, &family)
        if n == NULL:
            if default:
                return default[0]
            raise KeyError(_canonical_cidr(cidr))
        cdef object pair = <object>n.value
        cdef object value = node_value(n)
        cdef object text = <object>n.key
        Py_XDECREF(<PyObject*>n.value)
        Py_XDECREF(n.key)  # `value` and `text` still hold references: no finalizer runs here
        n.value = NULL
        n.key = NULL
        trie_remove(self.trie(family), n)
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
        cdef Py_ssize_t n
        trie_preorder(start, stop_at_value, &nodes, &n)
        try:
            return owned_list(nodes, n, what, False)
        finally:
            free(nodes)

    @cython.critical_section
    def keys(self):
        return self._collect(self.v4.root, False, 0) + self._collect(self.v6.root, False, 0)

    @cython.critical_section
    def values(self):
        return self._collect(self.v4.root, False, 1) + self._collect(self.v6.root, False, 1)

    @cython.critical_section
    def items(self):
        return self._collect(self.v4.root, False, 2) + self._collect(self.v6.root, False, 2)

    def __iter__(self):
        return iter(self.keys())

    @cython.critical_section
    def clear(self):
        # detach first: releasing the values can run finalizers that look at this tree
        cdef ctrie old4 = self.v4
        cdef ctrie old6 = self.v6
        trie_init(&self.v4, 4, True)
        trie_init(&self.v6, 6, True)
        trie_free(&old4)
        trie_free(&old6)

    # -- queries ----------------------------------------------------------------------------
    @cython.critical_section
    def longest_match(self, ip_or_cidr):
        """The most specific stored prefix equal to or containing the query, as (cidr, value)."""
        cdef int family, plen
        cdef fc_addr a
        parse_ip_or_cidr(ip_or_cidr, &family, &a, &plen)
        cdef tnode *best = trie_deepest(&self.v4 if family == 4 else &self.v6, key_of(family, a), plen)
        if best == NULL:
            return None
        return node_pair(best)

    @cython.critical_section
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

    @cython.critical_section
    def host_matches(self, ip):
        """Stored prefixes holding ip as a host address (docs/behaviour.md §1), most specific first."""
        cdef int family, i, count
        cdef fc_addr a
        cdef tnode *found[MAXDEPTH]
        parse_ip_obj(ip, &family, &a)
        count = trie_host_matches(self.trie(family), key_of(family, a), found)
        return owned_list(found, count, 2, False)

    @cython.critical_section
    def longest_match_int(self, value, family=4):
        """``longest_match`` for an integer address of the given family (an extra fast path)."""
        cdef int fam
        cdef fc_addr a
        int_address(value, family, &fam, &a)
        cdef tnode *best = trie_deepest(self.trie(fam), key_of(fam, a), 32 if fam == 4 else 128)
        if best == NULL:
            return None
        return node_pair(best)

    @cython.critical_section
    def host_matches_int(self, value, family=4):
        """``host_matches`` for an integer address of the given family (an extra fast path)."""
        cdef int fam, count, i
        cdef fc_addr a
        cdef tnode *found[MAXDEPTH]
        int_address(value, family, &fam, &a)
        count = trie_host_matches(self.trie(fam), key_of(fam, a), found)
        return owned_list(found, count, 2, False)

    @cython.critical_section
    def covering(self, cidr):
        """Stored prefixes equal to or containing cidr, least specific first."""
        cdef int family, plen, i, count
        cdef fc_addr a
        cdef tnode *found[MAXDEPTH]
        parse_cidr_obj(cidr, &family, &a, &plen)
        count = trie_path(self.trie(family), key_of(family, a), plen, found)
        return owned_list(found, count, 2, False)

    @cython.critical_section
    def covered(self, cidr):
        """Stored prefixes equal to or inside cidr, in pre-order (ascending)."""
        cdef int family, plen
        cdef fc_addr a
        parse_cidr_obj(cidr, &family, &a, &plen)
        cdef tnode *start = trie_subtree(self.trie(family), key_of(family, a), plen)
        return self._collect(start, False, 2)

    @cython.critical_section
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

    @cython.critical_section
    def __sizeof__(self):
        return sizeof(PrefixTree) + (self.v4.count + self.v6.count) * 2 * sizeof(tnode)


cdef object _canonical_cidr(object cidr):
    cdef int family, plen
    cdef fc_addr net
    parse_cidr_obj(cidr, &family, &net, &plen)
    return format_cidr_str(family, net, plen)
