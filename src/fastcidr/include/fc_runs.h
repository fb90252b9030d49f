/* fc_runs.h - sparse ordered set of uint64 offsets stored as maximal runs [start, end].
 *
 * Plain C99, header only, no Python API. For ranges too large for a bitmap (IPv6 /64..).
 *
 * Structure: a B+tree keyed by run start. Leaves hold up to 64 runs as two sorted arrays (starts,
 * ends) and are linked both ways; inner nodes hold up to 64 separators. A lookup touches about
 * log64(runs) nodes and a few cache lines in each, so the cost stays nearly flat from a thousand
 * to millions of runs (a binary tree would miss the cache at every level). Memory is O(runs):
 * about 24 bytes per isolated address (leaves ~70% full), a few bytes for a long run.
 * Runs are always maximal (disjoint and non-adjacent), so "first free at or after p" is p itself
 * or the end of the run holding p plus one.
 * Invariant of the inner nodes: every start under child[i] is < key[i] <= every start under
 * child[i+1], so a descent for p lands in the one leaf that can hold p's predecessor or, when p
 * precedes all of that leaf, the predecessor is the last run of the previous leaf.
 *
 * API (offsets uint64_t; `limit` exclusive; FC_NONE = not found; every op O(log runs))
 *   void     fc_runs_init(fc_runs *rs, uint64_t nbits)     nbits: the universe size (<= 2^64-1)
 *   void     fc_runs_free(fc_runs *rs)
 *   int      fc_runs_copy(fc_runs *dst, const fc_runs *src)  0 or -1 (no memory)
 *   int      fc_runs_test(const fc_runs *rs, uint64_t p)
 *   int      fc_runs_set(fc_runs *rs, uint64_t p)     1 newly set, 0 already set, -1 no memory
 *   int      fc_runs_take_first_zero(fc_runs *rs, uint64_t p, uint64_t limit, uint64_t *out)
 *                                      first_zero + set in one descent: 1 and *out, 0 none, -1 no memory
 *   int      fc_runs_clear(fc_runs *rs, uint64_t p)   1 newly cleared, 0 already clear, -1 no memory
 *                                                     (splitting a run may need a node)
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
 * Every operation that fails for lack of memory changes nothing.
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

#define FC_BT_LCAP 64 /* runs per leaf */
#define FC_BT_ICAP 64 /* separators per inner node (children: one more) */
#define FC_BT_MAXD 24 /* inner levels; 64/2 fan-out at least: far beyond 2^64 runs */

typedef struct {
    uint32_t n;    /* runs (leaf) or separators (inner) */
    uint32_t leaf; /* 1 for a leaf */
} fc_bt_hdr;

typedef struct fc_bt_leaf {
    fc_bt_hdr h;
    struct fc_bt_leaf *prev, *next;
    uint64_t start[FC_BT_LCAP];
    uint64_t end[FC_BT_LCAP]; /* inclusive */
} fc_bt_leaf;

typedef struct {
    fc_bt_hdr h;
    uint64_t key[FC_BT_ICAP];
    fc_bt_hdr *child[FC_BT_ICAP + 1];
} fc_bt_inner;

typedef struct {
    fc_bt_hdr *root;   /* NULL when there is no run */
    uint64_t nruns;
    uint64_t count;    /* offsets set */
    uint64_t nbits;
    size_t mem;
} fc_runs;

typedef struct {
    fc_bt_inner *node[FC_BT_MAXD];
    int idx[FC_BT_MAXD];
    int depth;
} fc_bt_path;

static inline uint64_t fc_runs_count(const fc_runs *rs) { return rs->count; }
static inline uint64_t fc_runs_nruns(const fc_runs *rs) { return rs->nruns; }
static inline size_t fc_runs_memory(const fc_runs *rs) { return rs->mem; }

static inline void fc_runs_init(fc_runs *rs, uint64_t nbits)
{
    memset(rs, 0, sizeof(*rs));
    rs->nbits = nbits;
}

static inline void fc__bt_free_node(fc_bt_hdr *x)
{
    if (!x) return;
    if (!x->leaf) {
        fc_bt_inner *in = (fc_bt_inner *)x;
        uint32_t i;
        for (i = 0; i <= in->h.n; i++) fc__bt_free_node(in->child[i]);
    }
    free(x);
}

static inline void fc_runs_free(fc_runs *rs)
{
    fc__bt_free_node(rs->root);
    rs->root = NULL;
    rs->nruns = 0;
    rs->count = 0;
    rs->mem = 0;
}

/* number of entries <= p in the sorted a[0..n) */
static inline int fc__bt_upper(const uint64_t *a, int n, uint64_t p)
{
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = (lo + hi) >> 1;
        if (a[mid] <= p) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* the leaf a descent for p reaches (root must exist); records the path when asked */
static inline fc_bt_leaf *fc__bt_descend(const fc_runs *rs, uint64_t p, fc_bt_path *path)
{
    fc_bt_hdr *x = rs->root;
    int d = 0;
    while (!x->leaf) {
        fc_bt_inner *in = (fc_bt_inner *)x;
        int i = fc__bt_upper(in->key, (int)in->h.n, p);
        if (path) {
            path->node[d] = in;
            path->idx[d] = i;
        }
        d++;
        x = in->child[i];
    }
    if (path) path->depth = d;
    return (fc_bt_leaf *)x;
}

/* a run by reference */
typedef struct {
    fc_bt_leaf *leaf;
    int pos;
} fc_bt_ref;

/* pred: the run with the largest start <= p; succ: the smallest start > p (leaf NULL if none) */
static inline fc_bt_leaf *fc__bt_around(const fc_runs *rs, uint64_t p, fc_bt_ref *pred, fc_bt_ref *succ,
                                        fc_bt_path *path)
{
    fc_bt_leaf *l;
    int j;
    pred->leaf = succ->leaf = NULL;
    pred->pos = succ->pos = 0;
    if (!rs->root) {
        if (path) path->depth = 0;
        return NULL;
    }
    l = fc__bt_descend(rs, p, path);
    j = fc__bt_upper(l->start, (int)l->h.n, p) - 1;
    if (j >= 0) {
        pred->leaf = l;
        pred->pos = j;
    } else if (l->prev) {
        pred->leaf = l->prev;
        pred->pos = (int)l->prev->h.n - 1;
    }
    if (j + 1 < (int)l->h.n) {
        succ->leaf = l;
        succ->pos = j + 1;
    } else if (l->next) {
        succ->leaf = l->next;
        succ->pos = 0;
    }
    return l;
}

/* path and position of the run whose start is exactly `key` */
static inline fc_bt_leaf *fc__bt_find_exact(const fc_runs *rs, uint64_t key, fc_bt_path *path, int *pos)
{
    fc_bt_leaf *l = fc__bt_descend(rs, key, path);
    *pos = fc__bt_upper(l->start, (int)l->h.n, key) - 1;
    return l;
}

/* the separator just left of the leaf at the end of `path` is lowered to `key` when above it */
static inline void fc__bt_lower_left_sep(fc_bt_path *path, uint64_t key)
{
    int d;
    for (d = path->depth - 1; d >= 0; d--) {
        if (path->idx[d] > 0) {
            uint64_t *sep = &path->node[d]->key[path->idx[d] - 1];
            if (*sep > key) *sep = key;
            return;
        }
    }
}

/* the separator just right of the leaf at the end of `path` is raised above `key` if needed */
static inline void fc__bt_raise_right_sep(fc_bt_path *path, uint64_t key)
{
    int d;
    for (d = path->depth - 1; d >= 0; d--) {
        if (path->idx[d] < (int)path->node[d]->h.n) {
            uint64_t *sep = &path->node[d]->key[path->idx[d]];
            if (*sep <= key) *sep = key + 1;
            return;
        }
    }
}

/* change the start of the run at `ref` (order among runs preserved) keeping the separators exact */
static inline void fc__bt_set_start(fc_runs *rs, fc_bt_ref ref, uint64_t new_start)
{
    fc_bt_leaf *l = ref.leaf;
    uint64_t old = l->start[ref.pos];
    fc_bt_path path;
    int pos;
    if (ref.pos == 0 || ref.pos == (int)l->h.n - 1) {
        fc__bt_find_exact(rs, old, &path, &pos);
        if (new_start < old && ref.pos == 0) fc__bt_lower_left_sep(&path, new_start);
        if (new_start > old && ref.pos == (int)l->h.n - 1) fc__bt_raise_right_sep(&path, new_start);
    }
    l->start[ref.pos] = new_start;
}

/* how many new nodes inserting into `leaf` (full) can need along `path` */
static inline int fc__bt_split_need(const fc_bt_path *path)
{
    int need = 1, d;
    for (d = path->depth - 1; d >= 0; d--) {
        if (path->node[d]->h.n < FC_BT_ICAP) return need;
        need++;
    }
    return need + 1; /* a new root */
}

static inline void fc__bt_insert_parent(fc_runs *rs, fc_bt_path *path, int level, fc_bt_hdr *left,
                                        uint64_t sep, fc_bt_hdr *right, fc_bt_hdr **spare, int *nspare)
{
    fc_bt_inner *in, *sib;
    uint64_t keys[FC_BT_ICAP + 1];
    fc_bt_hdr *kids[FC_BT_ICAP + 2];
    int i, n, half;
    if (level < 0) {
        fc_bt_inner *root = (fc_bt_inner *)spare[--*nspare];
        root->h.leaf = 0;
        root->h.n = 1;
        root->key[0] = sep;
        root->child[0] = left;
        root->child[1] = right;
        rs->root = &root->h;
        return;
    }
    in = path->node[level];
    i = path->idx[level]; /* left == in->child[i] */
    n = (int)in->h.n;
    if (n < FC_BT_ICAP) {
        memmove(&in->key[i + 1], &in->key[i], sizeof(uint64_t) * (size_t)(n - i));
        memmove(&in->child[i + 2], &in->child[i + 1], sizeof(fc_bt_hdr *) * (size_t)(n - i));
        in->key[i] = sep;
        in->child[i + 1] = right;
        in->h.n++;
        return;
    }
    /* split a full inner node: n + 1 keys, n + 2 children; the middle key moves up */
    memcpy(keys, in->key, sizeof(uint64_t) * (size_t)i);
    keys[i] = sep;
    memcpy(&keys[i + 1], &in->key[i], sizeof(uint64_t) * (size_t)(n - i));
    memcpy(kids, in->child, sizeof(fc_bt_hdr *) * (size_t)(i + 1));
    kids[i + 1] = right;
    memcpy(&kids[i + 2], &in->child[i + 1], sizeof(fc_bt_hdr *) * (size_t)(n - i));
    half = (n + 1) / 2; /* keys kept on the left */
    sib = (fc_bt_inner *)spare[--*nspare];
    sib->h.leaf = 0;
    in->h.n = (uint32_t)half;
    memcpy(in->key, keys, sizeof(uint64_t) * (size_t)half);
    memcpy(in->child, kids, sizeof(fc_bt_hdr *) * (size_t)(half + 1));
    sib->h.n = (uint32_t)(n - half); /* n + 1 keys: half left, one up, the rest right */
    memcpy(sib->key, &keys[half + 1], sizeof(uint64_t) * (size_t)(n - half));
    memcpy(sib->child, &kids[half + 1], sizeof(fc_bt_hdr *) * (size_t)(n - half + 1));
    fc__bt_insert_parent(rs, path, level - 1, &in->h, keys[half], &sib->h, spare, nspare);
}

/* insert run (s, e) at position pos of leaf l (reached by `path`); -1 if out of memory (no change) */
static inline int fc__bt_insert_at(fc_runs *rs, fc_bt_leaf *l, int pos, fc_bt_path *path, uint64_t s, uint64_t e)
{
    int n = (int)l->h.n;
    if (n < FC_BT_LCAP) {
        memmove(&l->start[pos + 1], &l->start[pos], sizeof(uint64_t) * (size_t)(n - pos));
        memmove(&l->end[pos + 1], &l->end[pos], sizeof(uint64_t) * (size_t)(n - pos));
        l->start[pos] = s;
        l->end[pos] = e;
        l->h.n++;
    } else {
        fc_bt_hdr *spare[FC_BT_MAXD + 2];
        int need = fc__bt_split_need(path), nspare = 0, keep, k;
        fc_bt_leaf *r;
        if (path->depth + 1 >= FC_BT_MAXD) return -1;
        /* the leaf first, then the inner nodes (spare[0] is the leaf) */
        for (k = 0; k < need; k++) {
            size_t bytes = k == 0 ? sizeof(fc_bt_leaf) : sizeof(fc_bt_inner);
            spare[k] = (fc_bt_hdr *)malloc(bytes);
            if (!spare[k]) {
                while (k-- > 0) free(spare[k]);
                return -1;
            }
            rs->mem += bytes;
        }
        /* reverse the inner spares so the pops below take them bottom-up; any order works */
        r = (fc_bt_leaf *)spare[0];
        for (k = 1; k < need; k++) spare[k - 1] = spare[k];
        nspare = need - 1;
        r->h.leaf = 1;
        /* an append at the end of the last leaf (sequential) keeps the left leaf nearly full */
        keep = (pos == n && !l->next) ? FC_BT_LCAP - 4 : FC_BT_LCAP / 2;
        r->h.n = (uint32_t)(n - keep);
        memcpy(r->start, &l->start[keep], sizeof(uint64_t) * (size_t)(n - keep));
        memcpy(r->end, &l->end[keep], sizeof(uint64_t) * (size_t)(n - keep));
        l->h.n = (uint32_t)keep;
        r->next = l->next;
        r->prev = l;
        if (l->next) l->next->prev = r;
        l->next = r;
        if (pos <= keep) {
            fc__bt_insert_at(rs, l, pos, path, s, e); /* has room now */
        } else {
            fc__bt_insert_at(rs, r, pos - keep, path, s, e);
        }
        /* separator: first start of r (every start in l is smaller) */
        fc__bt_insert_parent(rs, path, path->depth - 1, &l->h, r->start[0], &r->h, spare, &nspare);
        while (nspare > 0) {
            free(spare[--nspare]);
            rs->mem -= sizeof(fc_bt_inner);
        }
    }
    return 0;
}

/* remove child i of the inner node at path level `level` (the child is already freed/unlinked) */
static inline void fc__bt_remove_child(fc_runs *rs, fc_bt_path *path, int level)
{
    fc_bt_inner *in = path->node[level];
    int i = path->idx[level], n = (int)in->h.n;
    if (n == 0) { /* it was the only child: the inner node goes too */
        free(in);
        rs->mem -= sizeof(fc_bt_inner);
        if (level == 0) {
            rs->root = NULL;
            return;
        }
        fc__bt_remove_child(rs, path, level - 1);
        return;
    }
    if (i > 0) {
        memmove(&in->key[i - 1], &in->key[i], sizeof(uint64_t) * (size_t)(n - i));
    } else {
        memmove(&in->key[0], &in->key[1], sizeof(uint64_t) * (size_t)(n - 1));
    }
    memmove(&in->child[i], &in->child[i + 1], sizeof(fc_bt_hdr *) * (size_t)(n - i));
    in->h.n--;
}

static inline void fc__bt_collapse_root(fc_runs *rs)
{
    while (rs->root && !rs->root->leaf && rs->root->n == 0) {
        fc_bt_inner *in = (fc_bt_inner *)rs->root;
        rs->root = in->child[0];
        free(in);
        rs->mem -= sizeof(fc_bt_inner);
    }
}

static inline void fc__bt_unlink_leaf(fc_runs *rs, fc_bt_leaf *l)
{
    if (l->prev) l->prev->next = l->next;
    if (l->next) l->next->prev = l->prev;
    free(l);
    rs->mem -= sizeof(fc_bt_leaf);
}

/* delete the run at position pos of leaf l, reached by `path` */
static inline void fc__bt_delete_at(fc_runs *rs, fc_bt_leaf *l, int pos, fc_bt_path *path)
{
    int n = (int)l->h.n;
    memmove(&l->start[pos], &l->start[pos + 1], sizeof(uint64_t) * (size_t)(n - pos - 1));
    memmove(&l->end[pos], &l->end[pos + 1], sizeof(uint64_t) * (size_t)(n - pos - 1));
    l->h.n--;
    if (l->h.n == 0) {
        if (path->depth == 0) { /* the root leaf */
            free(l);
            rs->mem -= sizeof(fc_bt_leaf);
            rs->root = NULL;
            return;
        }
        fc__bt_unlink_leaf(rs, l);
        fc__bt_remove_child(rs, path, path->depth - 1);
        fc__bt_collapse_root(rs);
        return;
    }
    /* keep memory O(runs): merge a thin leaf into a sibling under the same parent */
    if (l->h.n < FC_BT_LCAP / 4 && path->depth > 0) {
        int d = path->depth - 1, i = path->idx[d];
        fc_bt_inner *parent = path->node[d];
        if (i < (int)parent->h.n) {
            fc_bt_leaf *r = (fc_bt_leaf *)parent->child[i + 1];
            if (l->h.n + r->h.n <= FC_BT_LCAP * 3 / 4) {
                memcpy(&l->start[l->h.n], r->start, sizeof(uint64_t) * r->h.n);
                memcpy(&l->end[l->h.n], r->end, sizeof(uint64_t) * r->h.n);
                l->h.n += r->h.n;
                fc__bt_unlink_leaf(rs, r);
                path->idx[d] = i + 1;
                fc__bt_remove_child(rs, path, d);
                fc__bt_collapse_root(rs);
                return;
            }
        }
        if (i > 0) {
            fc_bt_leaf *left = (fc_bt_leaf *)parent->child[i - 1];
            if (l->h.n + left->h.n <= FC_BT_LCAP * 3 / 4) {
                memcpy(&left->start[left->h.n], l->start, sizeof(uint64_t) * l->h.n);
                memcpy(&left->end[left->h.n], l->end, sizeof(uint64_t) * l->h.n);
                left->h.n += l->h.n;
                fc__bt_unlink_leaf(rs, l);
                fc__bt_remove_child(rs, path, d);
                fc__bt_collapse_root(rs);
            }
        }
    }
}

static inline int fc__bt_new_root_leaf(fc_runs *rs, uint64_t s, uint64_t e)
{
    fc_bt_leaf *l = (fc_bt_leaf *)malloc(sizeof(fc_bt_leaf));
    if (!l) return -1;
    rs->mem += sizeof(fc_bt_leaf);
    l->h.leaf = 1;
    l->h.n = 1;
    l->prev = l->next = NULL;
    l->start[0] = s;
    l->end[0] = e;
    rs->root = &l->h;
    return 0;
}

/* [q, qe] is clear and lies between pred and succ (pred.end < q, qe < succ.start); `path` and `p`
 * and `l` are the descent for p that found them (q == p, or q adjacent to pred). Mark it set. */
static inline int fc__bt_take(fc_runs *rs, uint64_t q, uint64_t qe, fc_bt_ref pred, fc_bt_ref succ,
                              fc_bt_path *path, fc_bt_leaf *l)
{
    int left = pred.leaf && pred.leaf->end[pred.pos] + 1 == q;
    int right = succ.leaf && qe + 1 == succ.leaf->start[succ.pos];
    if (left && right) {
        fc_bt_path sp;
        int pos;
        fc_bt_leaf *sl;
        pred.leaf->end[pred.pos] = succ.leaf->end[succ.pos];
        sl = fc__bt_find_exact(rs, succ.leaf->start[succ.pos], &sp, &pos);
        fc__bt_delete_at(rs, sl, pos, &sp);
        rs->nruns--;
    } else if (left) {
        pred.leaf->end[pred.pos] = qe;
    } else if (right) {
        fc__bt_set_start(rs, succ, q);
    } else if (!rs->root) {
        if (fc__bt_new_root_leaf(rs, q, qe) < 0) return -1;
        rs->nruns++;
    } else {
        /* not adjacent to pred: q == p, so the descent's leaf l is where q belongs */
        int pos = fc__bt_upper(l->start, (int)l->h.n, q);
        if (fc__bt_insert_at(rs, l, pos, path, q, qe) < 0) return -1;
        rs->nruns++;
    }
    rs->count += qe - q + 1;
    return 1;
}

static inline int fc_runs_test(const fc_runs *rs, uint64_t p)
{
    fc_bt_ref pred, succ;
    fc__bt_around(rs, p, &pred, &succ, NULL);
    return pred.leaf && p <= pred.leaf->end[pred.pos];
}

static inline int fc_runs_set(fc_runs *rs, uint64_t p)
{
    fc_bt_ref pred, succ;
    fc_bt_path path;
    fc_bt_leaf *l = fc__bt_around(rs, p, &pred, &succ, &path);
    if (pred.leaf && p <= pred.leaf->end[pred.pos]) return 0;
    return fc__bt_take(rs, p, p, pred, succ, &path, l);
}

static inline int fc_runs_take_first_zero(fc_runs *rs, uint64_t p, uint64_t limit, uint64_t *out)
{
    fc_bt_ref pred, succ;
    fc_bt_path path;
    uint64_t q = p;
    int r;
    if (limit > rs->nbits) limit = rs->nbits;
    fc_bt_leaf *l;
    if (p >= limit) return 0;
    l = fc__bt_around(rs, p, &pred, &succ, &path);
    if (pred.leaf && p <= pred.leaf->end[pred.pos]) {
        if (pred.leaf->end[pred.pos] == FC_NONE) return 0;
        q = pred.leaf->end[pred.pos] + 1; /* maximal runs: free; its successor is p's successor */
    }
    if (q >= limit) return 0;
    r = fc__bt_take(rs, q, q, pred, succ, &path, l);
    if (r == 1) *out = q;
    return r;
}

static inline int fc_runs_clear(fc_runs *rs, uint64_t p)
{
    fc_bt_ref pred, succ;
    fc_bt_leaf *l;
    uint64_t s, e;
    fc__bt_around(rs, p, &pred, &succ, NULL);
    if (!pred.leaf || p > pred.leaf->end[pred.pos]) return 0;
    l = pred.leaf;
    s = l->start[pred.pos];
    e = l->end[pred.pos];
    if (s == e) {
        fc_bt_path path;
        int pos;
        l = fc__bt_find_exact(rs, s, &path, &pos);
        fc__bt_delete_at(rs, l, pos, &path);
        rs->nruns--;
    } else if (p == s) {
        fc__bt_set_start(rs, pred, p + 1);
    } else if (p == e) {
        l->end[pred.pos] = p - 1;
    } else {
        /* split: insert [p+1, e] first (it can fail), then shorten [s, p-1] */
        fc_bt_path path;
        int pos;
        l = fc__bt_find_exact(rs, s, &path, &pos);
        /* [p+1, e] is not routed by a descent: make room for it under the right separator
         * (still below the next run, which starts after e + 1) */
        if (pos == (int)l->h.n - 1) fc__bt_raise_right_sep(&path, p + 1);
        if (fc__bt_insert_at(rs, l, pos + 1, &path, p + 1, e) < 0) return -1;
        l = fc__bt_find_exact(rs, s, NULL, &pos);
        l->end[pos] = p - 1;
        rs->nruns++;
    }
    rs->count--;
    return 1;
}

static inline uint64_t fc_runs_first_zero(const fc_runs *rs, uint64_t p, uint64_t limit)
{
    fc_bt_ref pred, succ;
    if (limit > rs->nbits) limit = rs->nbits;
    if (p >= limit) return FC_NONE;
    fc__bt_around(rs, p, &pred, &succ, NULL);
    if (pred.leaf && p <= pred.leaf->end[pred.pos]) {
        if (pred.leaf->end[pred.pos] == FC_NONE) return FC_NONE;
        p = pred.leaf->end[pred.pos] + 1;
    }
    return p < limit ? p : FC_NONE;
}

static inline int fc_runs_run_at_or_after(const fc_runs *rs, uint64_t p, uint64_t *start, uint64_t *end)
{
    fc_bt_ref pred, succ, *hit;
    fc__bt_around(rs, p, &pred, &succ, NULL);
    if (pred.leaf && p <= pred.leaf->end[pred.pos]) hit = &pred;
    else if (succ.leaf) hit = &succ;
    else return 0;
    *start = hit->leaf->start[hit->pos];
    *end = hit->leaf->end[hit->pos];
    return 1;
}

static inline uint64_t fc_runs_first_one(const fc_runs *rs, uint64_t p, uint64_t limit)
{
    uint64_t s, e;
    if (limit > rs->nbits) limit = rs->nbits;
    if (p >= limit) return FC_NONE;
    if (!fc_runs_run_at_or_after(rs, p, &s, &e)) return FC_NONE;
    if (s < p) s = p;
    return s < limit ? s : FC_NONE;
}

static inline int64_t fc_runs_set_range(fc_runs *rs, uint64_t start, uint64_t len)
{
    fc_bt_ref pred, succ;
    fc_bt_path path;
    uint64_t end;
    if (len == 0) return 0;
    end = start + len - 1;
    if (end < start || end >= rs->nbits) return -1;
    fc_bt_leaf *l = fc__bt_around(rs, start, &pred, &succ, &path);
    if (fc__bt_take(rs, start, end, pred, succ, &path, l) < 0) return -1;
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

/* deep copy of a subtree; leaves are linked in order through *last */
static inline fc_bt_hdr *fc__bt_copy_node(const fc_bt_hdr *x, fc_bt_leaf **last, size_t *mem, int *fail)
{
    if (x->leaf) {
        fc_bt_leaf *l = (fc_bt_leaf *)malloc(sizeof(fc_bt_leaf));
        if (!l) {
            *fail = 1;
            return NULL;
        }
        memcpy(l, x, sizeof(fc_bt_leaf));
        *mem += sizeof(fc_bt_leaf);
        l->prev = *last;
        l->next = NULL;
        if (*last) (*last)->next = l;
        *last = l;
        return &l->h;
    } else {
        const fc_bt_inner *in = (const fc_bt_inner *)x;
        fc_bt_inner *c = (fc_bt_inner *)malloc(sizeof(fc_bt_inner));
        uint32_t i;
        if (!c) {
            *fail = 1;
            return NULL;
        }
        memcpy(c, in, sizeof(fc_bt_inner));
        *mem += sizeof(fc_bt_inner);
        for (i = 0; i <= in->h.n; i++) c->child[i] = NULL;
        for (i = 0; i <= in->h.n; i++) {
            c->child[i] = fc__bt_copy_node(in->child[i], last, mem, fail);
            if (*fail) return &c->h; /* the children not copied are NULL */
        }
        return &c->h;
    }
}

/* free a partially copied subtree: inner nodes may hold NULL children */
static inline void fc__bt_free_partial(fc_bt_hdr *x)
{
    if (!x) return;
    if (!x->leaf) {
        fc_bt_inner *in = (fc_bt_inner *)x;
        uint32_t i;
        for (i = 0; i <= in->h.n; i++) fc__bt_free_partial(in->child[i]);
    }
    free(x);
}

static inline int fc_runs_copy(fc_runs *dst, const fc_runs *src)
{
    fc_bt_leaf *last = NULL;
    int fail = 0;
    *dst = *src;
    dst->mem = 0;
    dst->root = NULL;
    if (!src->root) return 0;
    dst->root = fc__bt_copy_node(src->root, &last, &dst->mem, &fail);
    if (fail) {
        fc__bt_free_partial(dst->root);
        memset(dst, 0, sizeof(*dst));
        return -1;
    }
    return 0;
}

#endif /* FC_RUNS_H */
