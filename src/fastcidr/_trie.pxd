# cython: language_level=3
"""The C trie shared by ``PrefixTree`` (``_tree``) and ``MultiCIDRAllocator`` (``_multi``).

One path-compressed binary trie over 128-bit keys (IPv4 left-aligned, in its own root). Each
stored node links to its nearest stored ancestor, and an IPv4 trie of a few hundred prefixes or
more keeps a 2^16-entry jump table over the top 16 bits, so a lookup starts 16 levels down and
"every prefix holding this address" is the deepest match plus its ancestor links. Nodes (and the
allocator's entries) come from a pool of blocks that double in size, huge pages advised.

Also the input and output helpers both classes share (str fast paths in C; any other input goes to
the compiled address module's parsers, so both modules word their errors as ``_core`` does).

Only ``cdef inline`` functions and declarations: each cimporting module compiles its own copy, so
the hot paths of either class pay no call across modules, and no ``_trie`` module exists at run time.
"""
from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memchr, memcpy, memset
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.ref cimport PyObject, Py_DECREF, Py_INCREF, Py_XDECREF

from fastcidr._addr cimport _parse_any_cidr, _parse_any_ip
from fastcidr._fc cimport (
    FC_HUGE,
    fc_addr,
    fc_big_calloc,
    fc_big_free,
    fc_clz64,
    fc_fast_cidr4,
    fc_fast_ipv4,
    fc_format_cidr,
    fc_format_ip,
    fc_parse_cidr,
    fc_parse_ip,
)

cdef extern from "Python.h":
    PyObject *PyTuple_GET_ITEM(object, Py_ssize_t)
    bint PyUnicode_IS_ASCII(object)
    object PyUnicode_New(Py_ssize_t, Py_UCS4)
    void* PyUnicode_DATA(object)

cdef enum:
    MAXDEPTH = 130  # a chain of nested prefixes has at most 129 distinct lengths

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
    tnode *up        # while has: the nearest stored prefix containing this one (free: next free)
    PyObject *key    # canonical text (owned) while has
    void *value      # PrefixTree: the (cidr, value) tuple (owned); MultiCIDRAllocator: its entry

ctypedef struct jump_t:
    tnode *start     # the first node of at least JUMP_BITS bits on the path, if inside the /16
    tnode *best      # the most specific stored prefix shorter than JUMP_BITS on the path

cdef enum:
    JUMP_BITS = 16
    JUMP_MIN = 256   # an IPv4 trie builds its jump table once it holds this many prefixes

# Fixed-size items carved from blocks that double in size up to FC_HUGE bytes (huge pages advised);
# freed items are threaded through the pointer field at link_offset (a field the free item no longer
# needs) and reused first. One pool type serves the trie's nodes and the allocator's entries.
ctypedef struct block_pool:
    char **blocks
    Py_ssize_t nblocks
    Py_ssize_t last_used
    Py_ssize_t last_cap
    Py_ssize_t item_size
    Py_ssize_t first_cap
    Py_ssize_t link_offset
    void *free_list

cdef inline void pool_init(block_pool *p, Py_ssize_t item_size, Py_ssize_t first_cap,
                           Py_ssize_t link_offset) noexcept nogil:
    memset(p, 0, sizeof(block_pool))
    p.item_size = item_size
    p.first_cap = first_cap
    p.link_offset = link_offset

ctypedef struct ctrie:
    tnode *root
    Py_ssize_t count
    int family
    int width
    int owns_values  # value is an owned Python object (PrefixTree) or an entry (allocator)
    jump_t *jump     # IPv4 only: 2^16 entries that skip the top 16 levels of a lookup
    # nodes come from a pool of blocks (one cache line each, huge pages advised when large)
    block_pool nodes

cdef inline void trie_init(ctrie *t, int family, bint owns_values) noexcept nogil:
    memset(t, 0, sizeof(ctrie))
    t.family = family
    t.width = 32 if family == 4 else 128
    t.owns_values = owns_values
    cdef tnode probe
    pool_init(&t.nodes, sizeof(tnode), 64, <char*>&probe.up - <char*>&probe)

cdef inline void *pool_get(block_pool *p) noexcept nogil:
    """A zeroed item, or NULL when memory runs out."""
    cdef void *item
    cdef char **grown
    cdef char *block
    cdef Py_ssize_t cap
    if p.free_list != NULL:
        item = p.free_list
        p.free_list = (<void**>(<char*>item + p.link_offset))[0]
        memset(item, 0, p.item_size)
        return item
    if p.nblocks == 0 or p.last_used == p.last_cap:
        cap = p.first_cap if p.nblocks == 0 else min(p.last_cap * 2, <Py_ssize_t>(FC_HUGE // p.item_size))
        block = <char*>fc_big_calloc(cap * p.item_size)
        if block == NULL:
            return NULL
        grown = <char**>realloc(p.blocks, (p.nblocks + 1) * sizeof(char*))
        if grown == NULL:
            fc_big_free(block, cap * p.item_size)
            return NULL
        p.blocks = grown
        p.blocks[p.nblocks] = block
        p.nblocks += 1
        p.last_used = 0
        p.last_cap = cap
    item = p.blocks[p.nblocks - 1] + p.last_used * p.item_size
    p.last_used += 1
    return item  # blocks start zeroed and are never reused without the free list

cdef inline void pool_put(block_pool *p, void *item) noexcept nogil:
    (<void**>(<char*>item + p.link_offset))[0] = p.free_list
    p.free_list = item

cdef inline void pool_free(block_pool *p) noexcept nogil:
    """Release every block; the pool is empty (and reusable) afterwards."""
    cdef Py_ssize_t i, cap = p.first_cap
    for i in range(p.nblocks):  # block i holds the capacity pool_get gave it
        fc_big_free(p.blocks[i], cap * p.item_size)
        cap = min(cap * 2, <Py_ssize_t>(FC_HUGE // p.item_size))
    free(p.blocks)
    pool_init(p, p.item_size, p.first_cap, p.link_offset)

cdef inline tnode *node_alloc(ctrie *t) noexcept nogil:
    return <tnode*>pool_get(&t.nodes)

cdef inline void node_release(ctrie *t, tnode *n) noexcept nogil:
    pool_put(&t.nodes, n)

cdef inline void trie_free(ctrie *t) noexcept:
    """Release every node (and the references they own), the pool and the jump table."""
    cdef tnode *stack[260]
    cdef int sp = 0
    cdef tnode *n = t.root
    cdef Py_ssize_t i
    if n != NULL:
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
        if t.owns_values:
            Py_XDECREF(<PyObject*>n.value)
    pool_free(&t.nodes)
    free(t.jump)
    trie_init(t, t.family, t.owns_values)

cdef inline bint is_host(const ctrie *t, const tnode *n, key_t q) noexcept nogil:
    """q (a full-length key) is a host of n (docs/behaviour.md §1); q is known to be inside n."""
    if q.hi == n.net.hi and q.lo == n.net.lo:
        return False
    if t.family == 4 and q.hi == (n.net.hi | (~mask_hi(n.plen) & <uint64_t>0xFFFFFFFF00000000)):
        return False
    return True

cdef inline tnode *trie_find(const ctrie *t, key_t k, int plen) noexcept nogil:
    cdef tnode *n = t.root
    while n != NULL and prefix_contains(n.net, n.plen, k, plen):
        if n.plen == plen:
            return n if n.has else NULL
        n = n.child[key_bit(k, n.plen)]
    return NULL

cdef inline tnode *trie_insert(ctrie *t, key_t k, int plen, bint *existed) noexcept nogil:
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
        new = node_alloc(t)
        if new == NULL:
            return NULL
        new.net = k
        new.plen = plen
        if common == plen:  # the new prefix is an ancestor of n
            new.child[key_bit(n.net, plen)] = n
            link[0] = new
            return new
        glue = node_alloc(t)
        if glue == NULL:
            node_release(t, new)
            return NULL
        glue.net.hi = k.hi & mask_hi(common)
        glue.net.lo = k.lo & mask_lo(common)
        glue.plen = common
        glue.child[key_bit(k, common)] = new
        glue.child[key_bit(n.net, common)] = n
        link[0] = glue
        return new
    new = node_alloc(t)
    if new == NULL:
        return NULL
    new.net = k
    new.plen = plen
    link[0] = new
    return new

cdef inline void trie_unlink(ctrie *t, key_t k, int plen) noexcept nogil:
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
    node_release(t, n)
    # a glue node left with a single child goes too
    if only == NULL and parent != NULL and not parent.has:
        parent_link[0] = parent.child[1 - bit]
        node_release(t, parent)

cdef inline void jump_fill(ctrie *t, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef Py_ssize_t x
    cdef key_t k
    cdef tnode *n
    cdef tnode *best
    k.lo = 0
    for x in range(lo, hi):
        k.hi = (<uint64_t>x) << (64 - JUMP_BITS)
        n = t.root
        best = NULL
        while n != NULL and n.plen < JUMP_BITS and prefix_contains(n.net, n.plen, k, JUMP_BITS):
            if n.has:
                best = n
            n = n.child[key_bit(k, n.plen)]
        if n != NULL and not (n.plen >= JUMP_BITS and prefix_contains(k, JUMP_BITS, n.net, n.plen)):
            n = NULL
        t.jump[x].start = n
        t.jump[x].best = best

cdef inline void jump_update(ctrie *t, key_t k, int plen) noexcept nogil:
    """Refresh the jump entries under (k, plen) after a change there."""
    cdef Py_ssize_t x
    if t.jump == NULL:
        if t.family == 4 and t.count >= JUMP_MIN:
            t.jump = <jump_t*>malloc((<size_t>1 << JUMP_BITS) * sizeof(jump_t))
            if t.jump != NULL:  # the table is an optional accelerator
                jump_fill(t, 0, 1 << JUMP_BITS)
        return
    x = <Py_ssize_t>(k.hi >> (64 - JUMP_BITS))
    if plen >= JUMP_BITS:
        jump_fill(t, x, x + 1)
    else:
        jump_fill(t, x, x + ((<Py_ssize_t>1) << (JUMP_BITS - plen)))

cdef inline void adopt(tnode *start, tnode *up) noexcept nogil:
    """The stored prefixes right below start (start included) now hang from up."""
    cdef tnode *stack[260]
    cdef int sp = 0
    cdef tnode *n
    if start == NULL:
        return
    stack[0] = start
    sp = 1
    while sp:
        sp -= 1
        n = stack[sp]
        if n.has:
            n.up = up
            continue
        if n.child[0] != NULL:
            stack[sp] = n.child[0]
            sp += 1
        if n.child[1] != NULL:
            stack[sp] = n.child[1]
            sp += 1

cdef inline tnode *trie_add(ctrie *t, key_t k, int plen, bint *existed) noexcept nogil:
    """Insert (k, plen) as a stored prefix (the caller fills key/value/entry); NULL: no memory."""
    cdef tnode *n = trie_insert(t, k, plen, existed)
    cdef tnode *m
    cdef tnode *up = NULL
    if n == NULL or existed[0]:
        return n
    n.has = 1
    t.count += 1
    m = t.root
    while m != n:
        if m.has:
            up = m
        m = m.child[key_bit(k, m.plen)]
    n.up = up
    adopt(n.child[0], n)
    adopt(n.child[1], n)
    jump_update(t, k, plen)
    return n

cdef inline void trie_remove(ctrie *t, tnode *n) noexcept nogil:
    """Stop storing n's prefix (the caller has released key/value/entry); n may be freed."""
    cdef key_t k = n.net
    cdef int plen = n.plen
    adopt(n.child[0], n.up)
    adopt(n.child[1], n.up)
    n.has = 0
    n.up = NULL
    t.count -= 1
    trie_unlink(t, k, plen)
    jump_update(t, k, plen)

cdef inline tnode *trie_deepest(const ctrie *t, key_t k, int plen) noexcept nogil:
    """The most specific stored prefix equal to or containing (k, plen), or NULL."""
    cdef tnode *n
    cdef tnode *best = NULL
    cdef const jump_t *j
    if t.jump != NULL and plen >= JUMP_BITS:
        j = &t.jump[k.hi >> (64 - JUMP_BITS)]
        best = j.best
        n = j.start
    else:
        n = t.root
    while n != NULL and prefix_contains(n.net, n.plen, k, plen):
        if n.has:
            best = n
        if n.plen == plen:
            break
        n = n.child[key_bit(k, n.plen)]
    return best

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

cdef inline int trie_path(const ctrie *t, key_t k, int plen, tnode **out) noexcept nogil:
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

cdef inline int trie_host_matches(const ctrie *t, key_t k, tnode **out) noexcept nogil:
    """Stored nodes holding the full-length key k as a host, most specific first."""
    cdef int n_out = 0
    cdef tnode *n = trie_deepest(t, k, t.width)
    while n != NULL:
        if is_host(t, n, k):
            out[n_out] = n
            n_out += 1
        n = n.up
    return n_out

cdef inline int trie_host_path(const ctrie *t, key_t k, tnode **out) noexcept nogil:
    """Stored nodes holding the full-length key k as a host, least specific first."""
    cdef int n_out = trie_host_matches(t, k, out), i
    cdef tnode *tmp
    for i in range(n_out // 2):
        tmp = out[i]
        out[i] = out[n_out - 1 - i]
        out[n_out - 1 - i] = tmp
    return n_out

cdef inline int trie_preorder(tnode *start, bint stop_at_value, tnode ***out, Py_ssize_t *n_out) except -1:
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

cdef inline int parse_ip_obj(object obj, int *family, fc_addr *out) except -1:
    cdef Py_ssize_t n
    cdef const char *s
    cdef uint32_t v4
    if type(obj) is str and PyUnicode_IS_ASCII(obj):
        s = <const char*>PyUnicode_DATA(obj)
        n = len(<str>obj)
        if fc_fast_ipv4(s, n, &v4):
            family[0] = 4
            out.hi = 0
            out.lo = v4
            return 0
        if fc_parse_ip(s, <size_t>n, family, out) == 0:
            return 0
    return _parse_any_ip(obj, family, out)  # raises InvalidAddressError with the shared wording

cdef inline int parse_cidr_obj(object obj, int *family, fc_addr *net, int *plen) except -1:
    cdef Py_ssize_t n
    cdef const char *s
    cdef uint32_t v4
    if type(obj) is str and PyUnicode_IS_ASCII(obj):
        s = <const char*>PyUnicode_DATA(obj)
        n = len(<str>obj)
        if fc_fast_cidr4(s, n, &v4, plen):
            family[0] = 4
            net.hi = 0
            net.lo = v4
            return 0
        if fc_parse_cidr(s, <size_t>n, family, net, plen) == 0:
            return 0
    return _parse_any_cidr(obj, family, net, plen)

cdef inline int parse_ip_or_cidr(object obj, int *family, fc_addr *net, int *plen) except -1:
    """An address is a full-length prefix."""
    cdef Py_ssize_t n
    cdef const char *s
    cdef uint32_t v4
    if type(obj) is str and PyUnicode_IS_ASCII(obj):
        s = <const char*>PyUnicode_DATA(obj)
        n = len(<str>obj)
        if fc_fast_ipv4(s, n, &v4):
            family[0] = 4
            net.hi = 0
            net.lo = v4
            plen[0] = 32
            return 0
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

cdef inline int family_code(object family) except -1:
    if family is None:
        return 0
    if type(family) is int:
        if family == 4:
            return 4
        if family == 6:
            return 6
    cdef bint is_int = isinstance(family, int) and not isinstance(family, bool)
    if family == "IPv4" or (is_int and family == 4):
        return 4
    if family == "IPv6" or (is_int and family == 6):
        return 6
    raise ValueError(f"family must be 'IPv4', 'IPv6', 4, 6 or None, got {family!r}")

# ------------------------------------------------------------------------------------------------
# PrefixTree
# ------------------------------------------------------------------------------------------------

cdef inline list owned_list(tnode **nodes, Py_ssize_t n, int what, bint reverse):
    """A list of the nodes' keys (0), values (1) or (key, value) pairs (2).

    Every reference is taken before the list is allocated: an allocation can run the garbage
    collector, finalizers and so other threads, which may change the tree, so no node is read
    after it."""
    cdef PyObject **refs = <PyObject**>malloc((n + 1) * sizeof(PyObject*))
    cdef PyObject *o
    cdef tnode *node
    cdef Py_ssize_t i
    if refs == NULL:
        raise MemoryError()
    for i in range(n):
        node = nodes[n - 1 - i] if reverse else nodes[i]
        if what == 0:
            o = node.key
        elif what == 1:
            o = PyTuple_GET_ITEM(<object>node.value, 1)
        else:
            o = <PyObject*>node.value
        Py_INCREF(<object>o)
        refs[i] = o
    try:
        out = PyList_New(n)
    except BaseException:
        for i in range(n):
            Py_DECREF(<object>refs[i])
        free(refs)
        raise
    for i in range(n):
        PyList_SET_ITEM(out, i, <object>refs[i])  # steals the reference taken above
    free(refs)
    return out

cdef inline object node_pair(tnode *n):
    """The stored (cidr, value) pair: PrefixTree keeps it built (a lookup allocates nothing)."""
    return <object>n.value

cdef inline object node_value(tnode *n):
    return (<tuple>n.value)[1]
