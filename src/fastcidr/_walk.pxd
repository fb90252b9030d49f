# cython: language_level=3
"""Walks over the CIDRs of ``MultiCIDRAllocator`` (``_multi.pyx``) that need no allocator object,
only its C structures: the ready windows of a family (free space), the candidate order and the
bytes of an FCMA snapshot (docs/ALGORITHMS.md "Snapshot format"), and small helpers.

Only ``cdef inline`` functions and declarations, as in ``_trie.pxd`` and ``_pool.pxd``.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcpy, memset

from fastcidr._fc cimport *
from fastcidr._trie cimport *
from fastcidr._pool cimport *

cdef extern from *:
    """
    #define FC_NO_POSITION 0xFFFFFFFFULL /* an FCMA CIDR record that is no candidate */
    #define FC_FCMA_VERSION 3
    #define FC_CIDR_RECORD 23            /* family, prefix, network, ready, position */
    """
    uint64_t FC_NO_POSITION
    int FC_FCMA_VERSION
    int FC_CIDR_RECORD


cdef inline int ready_windows(fam_t *f, entry_t ***out, Py_ssize_t *n_out) except -1:
    """The ready CIDRs of f not inside another ready CIDR, ascending, into a malloc'd array
    (caller frees): nested windows lie inside their parent's, so these are disjoint and their
    union is every usable address of the family."""
    cdef tnode *stack[260]
    cdef int sp = 0
    cdef tnode *node
    cdef entry_t *e
    cdef Py_ssize_t cap = 16, n = 0
    cdef entry_t **buf = <entry_t**>malloc(cap * sizeof(entry_t*))
    cdef entry_t **grown
    if buf == NULL:
        raise MemoryError()
    if f.trie.root != NULL:
        stack[0] = f.trie.root
        sp = 1
    while sp:
        sp -= 1
        node = stack[sp]
        if node.has:
            e = <entry_t*>node.value
            if e.ready:
                if n == cap:
                    cap *= 2
                    grown = <entry_t**>realloc(buf, cap * sizeof(entry_t*))
                    if grown == NULL:
                        free(buf)
                        raise MemoryError()
                    buf = grown
                buf[n] = e
                n += 1
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


cdef inline int place_candidates(fam_t *f4, fam_t *f6, int policy, list cidrs) except -1:
    """Put every candidate at its snapshot position (cidrs in insertion order, validated
    by _parse_fcma except for the positions): 0, or 1 / 2 for the two defects only the positions
    can have (the caller words them; a .pxd cannot name the Python exception)."""
    cdef fc_addr a
    cdef tnode *node
    cdef entry_t *e
    cdef fam_t *f
    cdef cand_t *order[2 * NCLASSES]
    cdef Py_ssize_t j, position
    cdef int c, fi
    memset(order, 0, sizeof(order))
    try:
        for family, net_int, plen, ready, position_obj in cidrs:
            position = position_obj
            int_to_addr(net_int, &a)
            f = f6 if family == 6 else f4
            node = trie_find(&f.trie, key_of(family, a), plen)
            e = <entry_t*>node.value
            if policy == 2 or e.cls < 0:
                if position != FC_NO_POSITION:
                    return 1  # a position for a CIDR that is no candidate
                continue
            c = e.cls + (NCLASSES if family == 6 else 0)
            if order[c] == NULL:
                order[c] = <cand_t*>calloc(f.cand_len[e.cls] + 1, sizeof(cand_t))
                if order[c] == NULL:
                    raise MemoryError()
            if position >= f.cand_len[e.cls] or order[c][position].e != NULL:
                return 2  # the positions of a class are not a permutation
            cand_fill(&order[c][position], e, e.weight)
        for c in range(2 * NCLASSES):
            if order[c] == NULL:
                continue
            f = f6 if c >= NCLASSES else f4
            fi = c % NCLASSES
            for j in range(f.cand_len[fi]):
                f.cand[fi][j] = order[c][j]
                order[c][j].e.pos = <int32_t>j
    finally:
        for c in range(2 * NCLASSES):
            free(order[c])
    return 0


ctypedef struct bytebuf:
    unsigned char *data
    size_t n
    size_t cap


cdef inline int bytebuf_room(bytebuf *b, size_t more) except -1:
    cdef size_t cap
    cdef unsigned char *grown
    if b.n + more <= b.cap:
        return 0
    cap = b.cap * 2 if b.cap * 2 >= b.n + more else b.n + more
    grown = <unsigned char*>realloc(b.data, cap)
    if grown == NULL:
        raise MemoryError()
    b.data = grown
    b.cap = cap
    return 0


cdef inline int fcma_tops(fam_t *f4, fam_t *f6, bytebuf *out, uint32_t *ntops) except -1:
    """FCMA version 3: per top-level CIDR with usable addresses, ascending, its record (u8 family,
    16-byte network, u8 prefix, u64 body length) and the block body of its usable addresses."""
    cdef tnode **tops
    cdef Py_ssize_t n, i
    cdef entry_t *e
    cdef size_t bound
    cdef int64_t length
    cdef int family
    cdef unsigned char *p
    for family in (4, 6):
        trie_preorder((f6 if family == 6 else f4).trie.root, True, &tops, &n)
        try:
            for i in range(n):
                e = <entry_t*>tops[i].value
                if e.size == 0 or e.top.storage == NULL:
                    continue
                bound = fc_snap_bound_window(e.top.storage, e.shift, e.size)
                bytebuf_room(out, 26 + bound)
                p = out.data + out.n
                p[0] = <unsigned char>family
                fc_addr_to_be16(e.net, p + 1)
                p[17] = <unsigned char>e.plen
                length = fc_snap_encode_window(e.top.storage, e.shift, e.size, p + 26, bound)
                if length < 0:  # -1 cannot happen: nothing changes inside the critical section
                    raise MemoryError()
                put_le(p + 18, <uint64_t>length, 8)
                out.n += 26 + <size_t>length
                ntops[0] += 1
        finally:
            free(tops)
    return 0


cdef inline object fcma_bytes(int policy, const fc_rng *rng, const u64buf *cidrs, const bytebuf *tops,
                              uint32_t ntops):
    """The FCMA bytes of the records read by snapshot(): ``cidrs`` six numbers a CIDR (family,
    prefix, network hi, lo, ready, position), ``tops`` the records of fcma_tops()."""
    cdef Py_ssize_t ncidrs, total, i
    cdef unsigned char *p
    cdef fc_addr net
    ncidrs = cidrs.n // 6
    total = 43 + FC_CIDR_RECORD * ncidrs + 4 + <Py_ssize_t>tops.n + 4
    out = PyBytes_FromStringAndSize(NULL, total)
    p = <unsigned char*>PyBytes_AS_STRING(out)
    memcpy(p, b"FCMA", 4)
    put_le(p + 4, FC_FCMA_VERSION, 2)
    put_le(p + 6, <uint64_t>policy, 1)
    for i in range(4):
        put_le(p + 7 + 8 * i, rng.s[i], 8)
    put_le(p + 39, <uint64_t>ncidrs, 4)
    p += 43
    for i in range(ncidrs):
        p[0] = <unsigned char>cidrs.data[6 * i]
        p[1] = <unsigned char>cidrs.data[6 * i + 1]
        net.hi = cidrs.data[6 * i + 2]
        net.lo = cidrs.data[6 * i + 3]
        fc_addr_to_be16(net, p + 2)
        p[18] = <unsigned char>cidrs.data[6 * i + 4]
        put_le(p + 19, cidrs.data[6 * i + 5], 4)
        p += FC_CIDR_RECORD
    put_le(p, ntops, 4)
    p += 4
    if tops.n:
        memcpy(p, tops.data, tops.n)
    p += tops.n
    put_le(p, fc_crc32(PyBytes_AS_STRING(out), <size_t>(total - 4)), 4)
    return out


cdef inline bint _ignored(const entry_t *e, const key_t *keys, const int *meta, int n) noexcept:
    cdef int i
    for i in range(n):
        if meta[2 * i] == e.family and meta[2 * i + 1] == e.plen and keys[i].hi == e.key.hi \
                and keys[i].lo == e.key.lo:
            return True
    return False


cdef inline object _u128(fc_u128 x):
    return ((<object>fc_u128_hi(x)) << 64) | <object>fc_u128_lo(x)


cdef inline int orphan_offsets(entry_t *e, const key_t *keys, const int *meta, int nign, u64buf *keep,
                               u64buf *out) except -1:
    """The allocated offsets (in e's top storage) that e holds and no CIDR below it that is not
    ignored holds, ascending, into out; 1 (and nothing collected) when an ancestor of e that is
    not ignored holds all of them anyway. Pure C, no Python object."""
    cdef entry_t *p
    cdef tnode *stack[260]
    cdef tnode *nd
    cdef int sp = 0, j
    cdef Py_ssize_t i
    cdef uint64_t lo
    p = e.parent
    while p != NULL:
        if not _ignored(p, keys, meta, nign):
            return 1  # an ancestor holds every host of e
        p = p.parent
    for j in range(1, -1, -1):  # child 0 on top: pre-order is ascending
        if e.node.child[j] != NULL:
            stack[sp] = e.node.child[j]
            sp += 1
    # walk below e; keep the maximal CIDRs that are not ignored (pre-order: ascending)
    while sp:
        sp -= 1
        nd = stack[sp]
        if nd.has and not _ignored(<entry_t*>nd.value, keys, meta, nign):
            buf_push(keep, (<entry_t*>nd.value).shift)
            buf_push(keep, (<entry_t*>nd.value).size)
            continue
        if nd.child[1] != NULL:
            stack[sp] = nd.child[1]
            sp += 1
        if nd.child[0] != NULL:
            stack[sp] = nd.child[0]
            sp += 1
    lo = e.shift
    for i in range(0, keep.n, 2):
        collect_offsets(e.top.storage, lo, keep.data[i], out)
        lo = keep.data[i] + keep.data[i + 1]
    collect_offsets(e.top.storage, lo, e.shift + e.size, out)
    return 0


cdef inline int collect_all(fam_t *f4, fam_t *f6, u64buf *fams, u64buf *his, u64buf *los) except -1:
    """Every allocated address, ascending, IPv4 first (no Python objects created)."""
    cdef tnode **nodes
    cdef Py_ssize_t n, i, j
    cdef entry_t *top
    cdef u64buf offs
    cdef fc_addr a
    cdef fam_t *f
    cdef int family
    for family in (4, 6):
        f = f6 if family == 6 else f4
        trie_preorder(f.trie.root, True, &nodes, &n)
        try:
            for i in range(n):
                top = <entry_t*>nodes[i].value
                memset(&offs, 0, sizeof(u64buf))
                try:
                    collect_offsets(top.top.storage, top.shift, top.shift + top.size, &offs)
                    for j in range(offs.n):
                        a = addr_plus(top.top.net, offs.data[j])
                        buf_push(fams, family)
                        buf_push(his, a.hi)
                        buf_push(los, a.lo)
                finally:
                    free(offs.data)
        finally:
            free(nodes)
    return 0


cdef inline fc_u128 ready_free(fam_t *f) noexcept:
    """Free addresses in the union of the ready CIDRs: sum over maximal ready CIDRs."""
    cdef tnode *stack[260]
    cdef int sp = 0
    cdef tnode *node
    cdef entry_t *e
    cdef fc_u128 total = 0
    if f.ready_dirty:
        if f.trie.root != NULL:
            stack[0] = f.trie.root
            sp = 1
        while sp:
            sp -= 1
            node = stack[sp]
            if node.has:
                e = <entry_t*>node.value
                if e.ready:
                    total += e.size - e.used
                    continue
            if node.child[1] != NULL:
                stack[sp] = node.child[1]
                sp += 1
            if node.child[0] != NULL:
                stack[sp] = node.child[0]
                sp += 1
        f.ready_free = total
        f.ready_dirty = 0
    return f.ready_free


cdef inline int read_top(fam_t *f, int family, fc_addr a, int plen, const unsigned char *b, size_t n) except -1:
    """FCMA version 3: a top-level CIDR's block body into its (clear) window: 0, -2 when the CIDR
    is not top-level or has no usable address, else an FC_SNAP_E* code (fc_snap_error_text)."""
    cdef tnode *node = trie_find(&f.trie, key_of(family, a), plen)
    cdef entry_t *e
    cdef uint64_t used = 0
    cdef int r
    if node == NULL:
        return -2
    e = <entry_t*>node.value
    if e.parent != NULL or e.size == 0 or e.top.storage == NULL:
        return -2
    r = fc_snap_read_window(e.top.storage, e.shift, e.size, b, n, &used)
    if r < 0:
        raise MemoryError()
    return r
