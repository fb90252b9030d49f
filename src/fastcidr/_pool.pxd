# cython: language_level=3
"""The C structures of ``MultiCIDRAllocator`` (``_multi.pyx``) and the code that keeps them: the
per-CIDR entry, the candidate arrays by weight class (policies weighted and random), the Fenwick
tree over insertion slots (policy ordered), the look-ahead prefetch, and the run copying between
IPv6 storages (docs/ALGORITHMS.md "Many CIDRs").

Only ``cdef inline`` functions and declarations, as in ``_trie.pxd``: the allocator compiles its
own copy, so the hot path pays no call across modules and no ``_pool`` module exists at run time.
"""
from libc.stdint cimport int8_t, int32_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcpy, memset

from fastcidr._fc cimport *
from fastcidr._trie cimport *

ctypedef struct entry_t:
    # Everything allocate_next touches sits in the first 64 bytes (one cache line: entries are
    # 64-byte aligned), because with 100,000 CIDRs every pick is a cache miss.
    uint64_t used
    uint64_t size
    uint64_t shift        # this CIDR's offset 0 inside top's storage
    uint64_t weight
    entry_t *top          # owner of the storage (IPv6: the top-level CIDR; IPv4: the family)
    entry_t *parent
    int32_t nchildren
    int32_t pos           # index in the candidate array of class cls
    uint16_t band         # <= 256
    uint16_t static_used
    uint8_t ready
    int8_t cls            # candidate class floor(log2(weight)), -1 when weight is 0
    # cold
    int family
    int plen
    fc_addr net
    key_t key
    fc_space *storage     # IPv6 top-level entries only (NULL when size == 0)
    tnode *node
    int32_t slot          # insertion slot in the Fenwick tree (policy ordered)
    char _pad[4]          # 128 bytes: entries pack two cache lines each in the pool

ctypedef struct slot_t:
    uint64_t w            # the entry's weight (0 for a hole)
    entry_t *e

cdef enum:
    NCLASSES = 41  # candidate classes floor(log2(w)) for w in [1, 2^40]
    PREFETCH_MIN = 4096  # candidates from which looking ahead pays (the arrays leave the caches)

ctypedef struct cand_t:
    entry_t *e
    uint64_t w            # e's weight, inline so a choice reads one array only
    # Copies of e's constant fields, so prefetch_ahead can guess the bitmap word without
    # reading the entry (hints only; span = 0 when no guess is safe: IPv6, whose storage moves)
    uint64_t shift
    uint32_t span         # size - band (IPv4 sizes fit)
    uint16_t band

ctypedef struct fam_t:
    ctrie trie
    # Policies weighted and random: candidates in arrays by weight class (ALGORITHMS.md);
    # policy ordered: the Fenwick tree below. total is the sum of all weights either way.
    int arrays
    uint64_t cand_mask    # bit k set: class k is not empty (the choice skips empty classes)
    cand_t *cand[NCLASSES]
    Py_ssize_t cand_len[NCLASSES]
    Py_ssize_t cand_cap[NCLASSES]
    uint64_t cand_total[NCLASSES]
    slot_t *slots         # insertion slots (weights inline, so a scan reads one array)
    uint64_t *tree        # Fenwick tree over blocks of BLOCK slots, 1-based
    Py_ssize_t cap        # slots, a multiple of BLOCK
    Py_ssize_t nblocks
    Py_ssize_t live
    Py_ssize_t next_free
    uint64_t total        # sum of all weights
    uint64_t used
    fc_u128 ready_free    # free addresses in the union of the ready CIDRs (valid unless dirty)
    int ready_dirty
    fc_u128 top_size      # sum of the sizes of the top-level CIDRs

ctypedef struct u64buf:
    uint64_t *data
    Py_ssize_t n
    Py_ssize_t cap

cdef inline int buf_push(u64buf *b, uint64_t v) except -1:
    cdef uint64_t *grown
    if b.n == b.cap:
        b.cap = b.cap * 2 if b.cap else 64
        grown = <uint64_t*>realloc(b.data, b.cap * sizeof(uint64_t))
        if grown == NULL:
            raise MemoryError()
        b.data = grown
    b.data[b.n] = v
    b.n += 1
    return 0

cdef inline int collect_offsets(const fc_space *sp, uint64_t lo, uint64_t hi, u64buf *out) except -1:
    """Append the allocated offsets of sp in [lo, hi)."""
    cdef uint64_t start, end, o
    if sp == NULL:
        return 0
    while lo < hi and fc_space_next_run(sp, lo, &start, &end):
        if start >= hi:
            break
        if end >= hi:
            end = hi - 1
        o = start
        while True:
            buf_push(out, o)
            if o == end:
                break
            o += 1
        if end == FC_NONE:
            break
        lo = end + 1
    return 0

cdef inline int copy_runs(const fc_space *src, uint64_t lo, uint64_t hi, fc_space *dst, uint64_t base,
                   bint add) except -1:
    """Set in dst every allocated offset of src in [lo, hi), moved by +base (add) or -base."""
    cdef uint64_t start, end
    if src == NULL or dst == NULL:
        return 0
    while lo < hi and fc_space_next_run(src, lo, &start, &end):
        if start >= hi:
            break
        if end >= hi:
            end = hi - 1
        if fc_space_set_range(dst, (start + base) if add else (start - base), end - start + 1) < 0:
            raise MemoryError()
        if end == FC_NONE:
            break
        lo = end + 1
    return 0

cdef inline uint64_t count_window(const entry_t *e, uint64_t length) noexcept nogil:
    cdef const fc_space *sp = e.top.storage
    if sp == NULL or length == 0:
        return 0
    return fc_space_count_range(sp, e.shift, e.shift + length)

cdef inline void put_le(unsigned char *p, uint64_t v, int nbytes) noexcept nogil:
    cdef int i
    for i in range(nbytes):
        p[i] = <unsigned char>(v >> (8 * i))

cdef inline bint addr_le(fc_addr a, fc_addr b) noexcept nogil:
    return a.hi < b.hi or (a.hi == b.hi and a.lo <= b.lo)

cdef inline bint addr_is_next(uint64_t hi, uint64_t lo, fc_addr b) noexcept nogil:
    """b == (hi, lo) + 1."""
    return (b.lo == lo + 1 and b.hi == hi) if lo != ~(<uint64_t>0) else (b.lo == 0 and b.hi == hi + 1)

cdef inline fc_addr addr_plus(fc_addr net, uint64_t off) noexcept nogil:
    """net + 1 + off (128-bit)."""
    cdef fc_addr r
    r.lo = net.lo + 1
    r.hi = net.hi + (r.lo == 0)
    cdef uint64_t lo = r.lo + off
    r.hi += (lo < r.lo)
    r.lo = lo
    return r

cdef enum:
    BLOCK = 16  # slots per Fenwick leaf: a leaf is scanned linearly (sequential memory)

cdef inline void fw_add(fam_t *f, Py_ssize_t slot, uint64_t delta) noexcept nogil:
    cdef Py_ssize_t i = slot // BLOCK + 1
    f.slots[slot].w += delta
    while i <= f.nblocks:
        f.tree[i] += delta
        i += i & -i
    f.total += delta

cdef inline void fw_set_weight(fam_t *f, entry_t *e, uint64_t w) noexcept nogil:
    if w != e.weight:
        fw_add(f, e.slot, w - e.weight)  # mod 2^64: a decrease wraps correctly
        e.weight = w

cdef inline entry_t *fw_search(fam_t *f, uint64_t r) noexcept nogil:
    """The entry where the running sum of weights in slot order first exceeds r (r < total)."""
    cdef Py_ssize_t pos = 0, nxt, j
    cdef Py_ssize_t step = 1
    cdef const slot_t *sl
    while step * 2 <= f.nblocks:
        step *= 2
    while step:
        nxt = pos + step
        if nxt <= f.nblocks and f.tree[nxt] <= r:
            pos = nxt
            r -= f.tree[nxt]
        step >>= 1
    sl = f.slots + pos * BLOCK
    for j in range(BLOCK):
        if sl[j].w > r:
            return sl[j].e
        r -= sl[j].w
    return NULL  # unreachable while the sums are right

cdef inline int fw_reserve(fam_t *f) except -1:
    """Make room for one more slot (compacting holes, keeping insertion order)."""
    cdef Py_ssize_t cap, i, j, nblocks, n = 0
    cdef slot_t *slots
    cdef uint64_t *tree
    if f.next_free < f.cap:
        return 0
    cap = 2 * (f.live + 1)
    cap = ((cap + BLOCK - 1) // BLOCK) * BLOCK
    nblocks = cap // BLOCK
    slots = <slot_t*>fc_big_calloc(cap * sizeof(slot_t))
    tree = <uint64_t*>calloc(nblocks + 1, sizeof(uint64_t))
    if slots == NULL or tree == NULL:
        if slots != NULL:
            fc_big_free(slots, cap * sizeof(slot_t))
        free(tree)
        raise MemoryError()
    for i in range(f.next_free):
        if f.slots[i].e != NULL:
            slots[n].e = f.slots[i].e
            slots[n].w = f.slots[i].e.weight
            slots[n].e.slot = <int32_t>n
            tree[n // BLOCK + 1] += slots[n].w
            n += 1
    for i in range(1, nblocks + 1):
        j = i + (i & -i)
        if j <= nblocks:
            tree[j] += tree[i]
    if f.slots != NULL:
        fc_big_free(f.slots, f.cap * sizeof(slot_t))
    free(f.tree)
    f.slots = slots
    f.tree = tree
    f.cap = cap
    f.nblocks = nblocks
    f.next_free = n
    return 0

cdef inline int cand_grow(fam_t *f, int cls) except -1:
    """Room for one more candidate in class cls."""
    cdef Py_ssize_t cap
    cdef cand_t *grown
    if f.cand_len[cls] < f.cand_cap[cls]:
        return 0
    cap = 2 * f.cand_cap[cls] if f.cand_cap[cls] else 16
    grown = <cand_t*>realloc(f.cand[cls], cap * sizeof(cand_t))
    if grown == NULL:
        raise MemoryError()
    f.cand[cls] = grown
    f.cand_cap[cls] = cap
    return 0

cdef inline int cand_reserve(fam_t *f) except -1:
    """Room for one more candidate in every class (add() reserves before changing anything)."""
    cdef int cls
    if f.arrays:
        for cls in range(NCLASSES):
            cand_grow(f, cls)
    return 0

cdef inline void cand_fill(cand_t *c, entry_t *e, uint64_t w) noexcept nogil:
    c.e = e
    c.w = w
    c.shift = e.shift
    c.band = e.band
    c.span = <uint32_t>(e.size - e.band) if e.family == 4 else 0

cdef inline int set_weight(fam_t *f, entry_t *e, uint64_t w) except -1:
    """Give e weight w: Fenwick update (ordered) or move between candidate classes: swap-remove
    from the old class, append to the new one (ALGORITHMS.md "Many CIDRs")."""
    cdef uint64_t old = e.weight
    cdef int cls
    cdef cand_t *last
    if w == old:
        return 0
    if not f.arrays:
        fw_add(f, e.slot, w - old)  # mod 2^64: a decrease wraps correctly
        e.weight = w
        return 0
    cls = 63 - fc_clz64(w) if w else -1
    if cls == e.cls:
        f.cand_total[cls] += w - old
        f.cand[cls][e.pos].w = w
        f.total += w - old
        e.weight = w
        return 0
    if cls >= 0:
        cand_grow(f, cls)  # before changing anything
    if e.cls >= 0:
        f.cand_total[e.cls] -= old
        f.cand_len[e.cls] -= 1
        last = &f.cand[e.cls][f.cand_len[e.cls]]
        if last.e != e:
            f.cand[e.cls][e.pos] = last[0]
            last.e.pos = e.pos
        if f.cand_len[e.cls] == 0:
            f.cand_mask &= ~((<uint64_t>1) << e.cls)
    e.cls = <int8_t>cls
    e.pos = -1
    if cls >= 0:
        f.cand_total[cls] += w
        e.pos = <int32_t>f.cand_len[cls]
        cand_fill(&f.cand[cls][f.cand_len[cls]], e, w)
        f.cand_len[cls] += 1
        f.cand_mask |= (<uint64_t>1) << cls
    f.total += w - old
    e.weight = w
    return 0

cdef inline entry_t *cand_choose(fam_t *f, fc_rng *rng, int policy) noexcept nogil:
    """The candidate for allocate_next under weighted (0) or random (1); f.total > 0."""
    cdef uint64_t r, limit
    cdef uint64_t mask = f.cand_mask
    cdef int cls
    cdef const cand_t *array
    cdef const cand_t *c
    cdef uint64_t n
    if policy == 1:
        return f.cand[0][fc_rng_bounded(rng, <uint64_t>f.cand_len[0])].e
    r = fc_rng_bounded(rng, f.total)
    cls = fc_ctz64(mask)  # empty classes add nothing to the running sum: skip them
    while r >= f.cand_total[cls]:
        r -= f.cand_total[cls]
        mask &= mask - 1
        cls = fc_ctz64(mask)
    array = f.cand[cls]
    n = <uint64_t>f.cand_len[cls]
    limit = (<uint64_t>2) << cls
    while True:
        c = &array[fc_rng_bounded(rng, n)]
        if fc_rng_bounded(rng, limit) < c.w:
            return c.e

cdef inline const cand_t *sim_choose(const fam_t *f, fc_rng *sim, int policy, bint peek) noexcept nogil:
    """cand_choose on a copy of the generator, for prefetching only (reads, never writes).
    peek: stop after the first index draw and return that slot without reading it."""
    cdef uint64_t r, limit, mask = f.cand_mask
    cdef int cls, rounds
    cdef const cand_t *c
    if f.total == 0 or mask == 0:
        return NULL
    if policy == 1:
        return &f.cand[0][fc_rng_bounded(sim, <uint64_t>f.cand_len[0])]
    r = fc_rng_bounded(sim, f.total)
    cls = fc_ctz64(mask)
    while r >= f.cand_total[cls]:
        r -= f.cand_total[cls]
        mask &= mask - 1
        if mask == 0:
            return NULL
        cls = fc_ctz64(mask)
    limit = (<uint64_t>2) << cls
    for rounds in range(8):
        c = &f.cand[cls][fc_rng_bounded(sim, <uint64_t>f.cand_len[cls])]
        if peek:
            return c
        if fc_rng_bounded(sim, limit) < c.w:
            return c
    return NULL

cdef inline void prefetch_guess(const cand_t *c, fc_rng *sim, const fc_space *v4) noexcept nogil:
    """Prefetch c's entry and, for IPv4, the bitmap word its band draw will start from (assuming
    the dynamic band has room); consumes that draw from the simulated generator."""
    cdef uint64_t start
    fc_prefetch(c.e)
    if c.span:
        start = c.band + fc_rng_bounded(sim, c.span)
        fc_space_prefetch(v4, start + c.shift)
    else:
        fc_rng_next(sim)

cdef inline void prefetch_ahead(const fam_t *f, fc_rng rng, int policy, const fc_space *v4) noexcept nogil:
    """Look three allocate_next calls ahead on a copy of the generator and prefetch what they
    will touch, so each load has a call or two to arrive: the entries and bitmap words of the
    next two calls (guessed from the candidate arrays alone), the array slot of the third.
    Purely a hint (reads of live arrays only): any change in between just wastes a prefetch."""
    cdef const cand_t *c
    c = sim_choose(f, &rng, policy, False)
    if c == NULL:
        return
    prefetch_guess(c, &rng, v4)
    c = sim_choose(f, &rng, policy, False)
    if c == NULL:
        return
    prefetch_guess(c, &rng, v4)
    c = sim_choose(f, &rng, policy, True)
    if c != NULL:
        fc_prefetch(c)

cdef inline int fw_attach(fam_t *f, entry_t *e) except -1:
    """Needs fw_reserve (and cand_reserve) first."""
    cdef uint64_t w = e.weight
    e.slot = <int32_t>f.next_free
    f.next_free += 1
    f.slots[e.slot].e = e
    f.slots[e.slot].w = 0
    f.live += 1
    e.weight = 0
    e.cls = -1
    e.pos = -1
    set_weight(f, e, w)
    return 0

cdef inline int fw_detach(fam_t *f, entry_t *e) except -1:
    set_weight(f, e, 0)  # never grows anything
    f.slots[e.slot].e = NULL
    f.live -= 1
    return 0

cdef inline void fam_free(fam_t *f) noexcept:
    cdef tnode **nodes
    cdef Py_ssize_t n, i
    cdef entry_t *e
    if f.trie.root != NULL:
        try:
            trie_preorder(f.trie.root, False, &nodes, &n)
        except MemoryError:
            n = 0
            nodes = NULL
        for i in range(n):
            e = <entry_t*>nodes[i].value
            if e != NULL and e.storage != NULL:  # the entries themselves belong to the pool
                fc_space_free(e.storage)
                free(e.storage)
            nodes[i].value = NULL
        free(nodes)
    trie_free(&f.trie)
    if f.slots != NULL:
        fc_big_free(f.slots, f.cap * sizeof(slot_t))
    free(f.tree)
    f.slots = NULL
    f.tree = NULL
    for i in range(NCLASSES):
        free(f.cand[i])
        f.cand[i] = NULL
        f.cand_len[i] = f.cand_cap[i] = 0
