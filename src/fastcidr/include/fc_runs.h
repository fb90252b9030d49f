/* fc_runs.h - sparse ordered set of uint64 offsets stored as maximal runs [start, end].
 *
 * Plain C99, header only, no Python API. For ranges too large for a bitmap (IPv6 /64..).
 *
 * Structure: a treap keyed by run start. Nodes (24 bytes: start, end, left, right) live in a
 * pool of fixed blocks of 1024 nodes addressed by uint32 index (0 = nil), so growth never moves
 * nodes and memory is O(runs) with at most one partly used block of slack. A node's priority is
 * a hash of its index (no storage), which keeps the expected depth O(log runs).
 * Runs are always maximal (disjoint and non-adjacent), so "first free at or after p" is p itself
 * or the end of the run holding p plus one.
 *
 * API (offsets uint64_t; `limit` exclusive; FC_NONE = not found; every op O(log runs) expected)
 *   void     fc_runs_init(fc_runs *rs, uint64_t nbits)     nbits: the universe size (<= 2^64-1)
 *   void     fc_runs_free(fc_runs *rs)
 *   int      fc_runs_copy(fc_runs *dst, const fc_runs *src)  0 or -1 (no memory)
 *   int      fc_runs_test(const fc_runs *rs, uint64_t p)
 *   int      fc_runs_set(fc_runs *rs, uint64_t p)     1 newly set, 0 already set, -1 no memory
 *   int      fc_runs_take_first_zero(fc_runs *rs, uint64_t p, uint64_t limit, uint64_t *out)
 *                                      first_zero + set in one descent: 1 and *out, 0 none, -1 no memory
 *   int      fc_runs_clear(fc_runs *rs, uint64_t p)   1 newly cleared, 0 already clear, -1 no memory
 *                                                     (splitting a run needs a node)
 *   uint64_t fc_runs_first_zero(const fc_runs *rs, uint64_t p, uint64_t limit)
 *   uint64_t fc_runs_first_one(const fc_runs *rs, uint64_t p, uint64_t limit)
 *   int      fc_runs_run_at_or_after(const fc_runs *rs, uint64_t p, uint64_t *start, uint64_t *end)
 *                                      1 and the run holding p or the first run after p, else 0
 *   int64_t  fc_runs_set_range(fc_runs *rs, uint64_t start, uint64_t len)
 *                                      [start, start+len) must be entirely clear; merges with the
 *                                      neighbours; returns len (saturated at INT64_MAX) or -1
 *   uint64_t fc_runs_count_range(const fc_runs *rs, uint64_t a, uint64_t b)
 *                                      ones in [a, b); O(log runs + runs in range)
 *   uint64_t fc_runs_count(rs) (== rs->count), uint64_t fc_runs_nruns(rs)
 *   size_t   fc_runs_memory(const fc_runs *rs)      bytes allocated (not *rs itself)
 *
 * Not thread safe by itself: the caller serialises.
 */
#ifndef FC_RUNS_H
#define FC_RUNS_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef FC_NONE
#define FC_NONE (~(uint64_t)0)
#endif

#define FC_RUNS_BLOCK_SHIFT 10
#define FC_RUNS_BLOCK_NODES (1u << FC_RUNS_BLOCK_SHIFT)

typedef struct {
    uint64_t start, end; /* inclusive */
    uint32_t left, right;
} fc_run_node;

typedef struct {
    fc_run_node **blocks;
    uint32_t nblocks, cap_blocks;
    uint32_t root;      /* 0 = empty */
    uint32_t next_new;  /* first never-used node index */
    uint32_t free_head; /* free list threaded through .left */
    uint32_t _pad;
    uint64_t nruns;
    uint64_t count;     /* offsets set */
    uint64_t nbits;
    size_t mem;
} fc_runs;

static inline uint64_t fc_runs_count(const fc_runs *rs) { return rs->count; }
static inline uint64_t fc_runs_nruns(const fc_runs *rs) { return rs->nruns; }
static inline size_t fc_runs_memory(const fc_runs *rs) { return rs->mem; }

static inline fc_run_node *fc__rn(const fc_runs *rs, uint32_t i)
{
    return &rs->blocks[i >> FC_RUNS_BLOCK_SHIFT][i & (FC_RUNS_BLOCK_NODES - 1)];
}

static inline uint32_t fc__runs_prio(uint32_t i)
{
    /* a well-mixed 32-bit hash of the index (lowbias32) */
    i ^= i >> 16;
    i *= 0x7feb352dU;
    i ^= i >> 15;
    i *= 0x846ca68bU;
    i ^= i >> 16;
    return i;
}

static inline void fc_runs_init(fc_runs *rs, uint64_t nbits)
{
    memset(rs, 0, sizeof(*rs));
    rs->nbits = nbits;
    rs->next_new = 1; /* index 0 is nil */
}

static inline void fc_runs_free(fc_runs *rs)
{
    uint32_t b;
    for (b = 0; b < rs->nblocks; b++) free(rs->blocks[b]);
    free(rs->blocks);
    rs->blocks = NULL;
    rs->nblocks = rs->cap_blocks = 0;
    rs->root = 0;
    rs->next_new = 1;
    rs->free_head = 0;
    rs->nruns = 0;
    rs->count = 0;
    rs->mem = 0;
}

static inline uint32_t fc__runs_alloc(fc_runs *rs, uint64_t start, uint64_t end)
{
    uint32_t i;
    fc_run_node *n;
    if (rs->free_head) {
        i = rs->free_head;
        rs->free_head = fc__rn(rs, i)->left;
    } else {
        i = rs->next_new;
        if (i == 0xFFFFFFFFu) return 0;
        if ((i >> FC_RUNS_BLOCK_SHIFT) >= rs->nblocks) {
            fc_run_node *block;
            if (rs->nblocks == rs->cap_blocks) {
                uint32_t cap = rs->cap_blocks ? rs->cap_blocks * 2 : 4;
                fc_run_node **nb = (fc_run_node **)realloc(rs->blocks, cap * sizeof(fc_run_node *));
                if (!nb) return 0;
                rs->mem += (cap - rs->cap_blocks) * sizeof(fc_run_node *);
                rs->blocks = nb;
                rs->cap_blocks = cap;
            }
            block = (fc_run_node *)malloc(FC_RUNS_BLOCK_NODES * sizeof(fc_run_node));
            if (!block) return 0;
            rs->blocks[rs->nblocks++] = block;
            rs->mem += FC_RUNS_BLOCK_NODES * sizeof(fc_run_node);
        }
        rs->next_new = i + 1;
    }
    n = fc__rn(rs, i);
    n->start = start;
    n->end = end;
    n->left = n->right = 0;
    return i;
}

static inline void fc__runs_release(fc_runs *rs, uint32_t i)
{
    fc__rn(rs, i)->left = rs->free_head;
    rs->free_head = i;
}

/* the node with the largest start <= p, or 0 */
static inline uint32_t fc__runs_find_le(const fc_runs *rs, uint64_t p)
{
    uint32_t t = rs->root, best = 0;
    while (t) {
        const fc_run_node *n = fc__rn(rs, t);
        if (n->start <= p) {
            best = t;
            t = n->right;
        } else {
            t = n->left;
        }
    }
    return best;
}

/* the node with the smallest start > p, or 0 */
static inline uint32_t fc__runs_find_gt(const fc_runs *rs, uint64_t p)
{
    uint32_t t = rs->root, best = 0;
    while (t) {
        const fc_run_node *n = fc__rn(rs, t);
        if (n->start > p) {
            best = t;
            t = n->left;
        } else {
            t = n->right;
        }
    }
    return best;
}

/* split the subtree t into starts < key (*l) and >= key (*r) */
static inline void fc__runs_split(fc_runs *rs, uint32_t t, uint64_t key, uint32_t *l, uint32_t *r)
{
    /* iterative top-down split: hang pieces on the right spine of l and the left spine of r */
    uint32_t *lp = l, *rp = r;
    while (t) {
        fc_run_node *n = fc__rn(rs, t);
        if (n->start < key) {
            *lp = t;
            lp = &n->right;
            t = n->right;
        } else {
            *rp = t;
            rp = &n->left;
            t = n->left;
        }
    }
    *lp = 0;
    *rp = 0;
}

/* merge two treaps where every start in a is < every start in b */
static inline uint32_t fc__runs_merge(fc_runs *rs, uint32_t a, uint32_t b)
{
    uint32_t root = 0, *slot = &root;
    while (a && b) {
        if (fc__runs_prio(a) > fc__runs_prio(b)) {
            *slot = a;
            slot = &fc__rn(rs, a)->right;
            a = *slot;
        } else {
            *slot = b;
            slot = &fc__rn(rs, b)->left;
            b = *slot;
        }
    }
    *slot = a ? a : b;
    return root;
}

static inline void fc__runs_insert_node(fc_runs *rs, uint32_t x)
{
    uint32_t *slot = &rs->root, px = fc__runs_prio(x);
    fc_run_node *nx = fc__rn(rs, x);
    while (*slot && fc__runs_prio(*slot) > px) {
        fc_run_node *n = fc__rn(rs, *slot);
        slot = nx->start < n->start ? &n->left : &n->right;
    }
    fc__runs_split(rs, *slot, nx->start, &nx->left, &nx->right);
    *slot = x;
}

static inline void fc__runs_delete_node(fc_runs *rs, uint32_t x)
{
    uint32_t *slot = &rs->root;
    uint64_t key = fc__rn(rs, x)->start;
    while (*slot != x) {
        fc_run_node *n = fc__rn(rs, *slot);
        slot = key < n->start ? &n->left : &n->right;
    }
    *slot = fc__runs_merge(rs, fc__rn(rs, x)->left, fc__rn(rs, x)->right);
    fc__runs_release(rs, x);
}

/* one descent: *pred = the node with the largest start <= p, *succ = the smallest start > p */
static inline void fc__runs_find_around(const fc_runs *rs, uint64_t p, uint32_t *pred, uint32_t *succ)
{
    uint32_t t = rs->root, lo = 0, hi = 0;
    while (t) {
        const fc_run_node *n = fc__rn(rs, t);
        if (n->start <= p) {
            lo = t;
            t = n->right;
        } else {
            hi = t;
            t = n->left;
        }
    }
    *pred = lo;
    *succ = hi;
}

/* q is free, pred/succ are its neighbours (pred->end < q < succ->start): mark it taken */
static inline int fc__runs_take_free(fc_runs *rs, uint64_t q, uint32_t pred, uint32_t succ)
{
    fc_run_node *pn = pred ? fc__rn(rs, pred) : NULL, *sn = succ ? fc__rn(rs, succ) : NULL;
    if (pn && pn->end + 1 == q) {
        if (sn && sn->start == q + 1) {
            pn->end = sn->end;
            fc__runs_delete_node(rs, succ);
            rs->nruns--;
        } else {
            pn->end = q;
        }
    } else if (sn && sn->start == q + 1) {
        sn->start = q; /* order kept: q is above the predecessor's end */
    } else {
        uint32_t x = fc__runs_alloc(rs, q, q);
        if (!x) return -1;
        fc__runs_insert_node(rs, x);
        rs->nruns++;
    }
    rs->count++;
    return 1;
}

static inline int fc_runs_test(const fc_runs *rs, uint64_t p)
{
    uint32_t t = fc__runs_find_le(rs, p);
    return t && p <= fc__rn(rs, t)->end;
}

static inline int fc_runs_set(fc_runs *rs, uint64_t p)
{
    uint32_t pred, succ;
    fc__runs_find_around(rs, p, &pred, &succ);
    if (pred && p <= fc__rn(rs, pred)->end) return 0;
    return fc__runs_take_free(rs, p, pred, succ);
}

/* fused first_zero + set: take the first clear offset in [p, limit) with one descent.
 * 1 and *out on success, 0 if none, -1 out of memory (nothing changed) */
static inline int fc_runs_take_first_zero(fc_runs *rs, uint64_t p, uint64_t limit, uint64_t *out)
{
    uint32_t pred, succ;
    uint64_t q = p;
    int r;
    if (limit > rs->nbits) limit = rs->nbits;
    if (p >= limit) return 0;
    fc__runs_find_around(rs, p, &pred, &succ);
    if (pred) {
        const fc_run_node *pn = fc__rn(rs, pred);
        if (p <= pn->end) {
            if (pn->end == FC_NONE) return 0;
            q = pn->end + 1; /* maximal runs: free; its successor is p's successor */
        }
    }
    if (q >= limit) return 0;
    r = fc__runs_take_free(rs, q, pred, succ);
    if (r == 1) *out = q;
    return r;
}

static inline int fc_runs_clear(fc_runs *rs, uint64_t p)
{
    uint32_t t = fc__runs_find_le(rs, p);
    fc_run_node *n;
    if (!t) return 0;
    n = fc__rn(rs, t);
    if (p > n->end) return 0;
    if (n->start == n->end) {
        fc__runs_delete_node(rs, t);
        rs->nruns--;
    } else if (p == n->start) {
        n->start = p + 1; /* order kept: the run ends before the next one starts */
    } else if (p == n->end) {
        n->end = p - 1;
    } else {
        uint64_t end = n->end;
        uint32_t x = fc__runs_alloc(rs, p + 1, end);
        if (!x) return -1;
        n = fc__rn(rs, t);
        n->end = p - 1;
        fc__runs_insert_node(rs, x);
        rs->nruns++;
    }
    rs->count--;
    return 1;
}

static inline uint64_t fc_runs_first_zero(const fc_runs *rs, uint64_t p, uint64_t limit)
{
    uint32_t t;
    if (limit > rs->nbits) limit = rs->nbits;
    if (p >= limit) return FC_NONE;
    t = fc__runs_find_le(rs, p);
    if (t) {
        const fc_run_node *n = fc__rn(rs, t);
        if (p <= n->end) {
            if (n->end == FC_NONE) return FC_NONE;
            p = n->end + 1; /* maximal runs: the next offset is free */
        }
    }
    return p < limit ? p : FC_NONE;
}

static inline uint64_t fc_runs_first_one(const fc_runs *rs, uint64_t p, uint64_t limit)
{
    uint32_t t;
    if (limit > rs->nbits) limit = rs->nbits;
    if (p >= limit) return FC_NONE;
    t = fc__runs_find_le(rs, p);
    if (t && p <= fc__rn(rs, t)->end) return p;
    t = fc__runs_find_gt(rs, p);
    if (!t) return FC_NONE;
    p = fc__rn(rs, t)->start;
    return p < limit ? p : FC_NONE;
}

static inline int fc_runs_run_at_or_after(const fc_runs *rs, uint64_t p, uint64_t *start, uint64_t *end)
{
    uint32_t t = fc__runs_find_le(rs, p);
    if (!(t && p <= fc__rn(rs, t)->end)) t = fc__runs_find_gt(rs, p);
    if (!t) return 0;
    *start = fc__rn(rs, t)->start;
    *end = fc__rn(rs, t)->end;
    return 1;
}

static inline int64_t fc_runs_set_range(fc_runs *rs, uint64_t start, uint64_t len)
{
    uint64_t end;
    uint32_t pred, succ;
    fc_run_node *pn, *sn;
    if (len == 0) return 0;
    end = start + len - 1;
    if (end < start || end >= rs->nbits) return -1;
    pred = fc__runs_find_le(rs, start);
    succ = (end == FC_NONE) ? 0 : fc__runs_find_gt(rs, end);
    pn = pred ? fc__rn(rs, pred) : NULL;
    sn = succ ? fc__rn(rs, succ) : NULL;
    if (pn && pn->end + 1 == start) {
        if (sn && sn->start == end + 1) {
            pn->end = sn->end;
            fc__runs_delete_node(rs, succ);
            rs->nruns--;
        } else {
            pn->end = end;
        }
    } else if (sn && sn->start == end + 1) {
        sn->start = start;
    } else {
        uint32_t x = fc__runs_alloc(rs, start, end);
        if (!x) return -1;
        fc__runs_insert_node(rs, x);
        rs->nruns++;
    }
    rs->count += len;
    return len > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)len;
}

static inline uint64_t fc_runs_count_range(const fc_runs *rs, uint64_t a, uint64_t b)
{
    uint64_t n = 0, p = a, s, e;
    if (b > rs->nbits) b = rs->nbits;
    if (a == 0 && b == rs->nbits) return rs->count;
    while (p < b && fc_runs_run_at_or_after(rs, p, &s, &e)) {
        uint64_t lo = s > p ? s : p, hi;
        if (lo >= b) break;
        hi = e < b - 1 ? e : b - 1;
        n += hi - lo + 1;
        if (e == FC_NONE || e + 1 >= b) break;
        p = e + 1;
    }
    return n;
}

static inline int fc_runs_copy(fc_runs *dst, const fc_runs *src)
{
    uint32_t b;
    *dst = *src;
    dst->blocks = NULL;
    dst->nblocks = dst->cap_blocks = 0;
    if (!src->nblocks) return 0;
    dst->blocks = (fc_run_node **)calloc(src->cap_blocks, sizeof(fc_run_node *));
    if (!dst->blocks) goto fail;
    dst->cap_blocks = src->cap_blocks;
    for (b = 0; b < src->nblocks; b++) {
        dst->blocks[b] = (fc_run_node *)malloc(FC_RUNS_BLOCK_NODES * sizeof(fc_run_node));
        if (!dst->blocks[b]) goto fail;
        dst->nblocks = b + 1;
        memcpy(dst->blocks[b], src->blocks[b], FC_RUNS_BLOCK_NODES * sizeof(fc_run_node));
    }
    return 0;
fail:
    fc_runs_free(dst);
    return -1;
}

#endif /* FC_RUNS_H */
