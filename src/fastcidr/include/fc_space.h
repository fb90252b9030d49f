/* fc_space.h - one address space of `size` offsets: dense bitmap when size <= 2^32, else runs.
 *
 * Plain C99, header only, no Python API. A thin facade so callers need not branch.
 *
 *   int      fc_space_init(fc_space *sp, uint64_t size)       0 or -1 (no memory)
 *   void     fc_space_free(fc_space *sp)
 *   int      fc_space_copy(fc_space *dst, const fc_space *src)  0 or -1
 *   int      fc_space_test(sp, p)           p < size
 *   int      fc_space_set(sp, p)            1 newly set, 0 already, -1 no memory   (p < size)
 *   int      fc_space_clear(sp, p)          1 newly cleared, 0 already clear, -1 no memory
 *   uint64_t fc_space_first_free(sp, p, limit)    first clear offset in [p, limit) or FC_NONE
 *   int      fc_space_take_first_free(sp, p, limit, &out)  first_free + set fused: 1 and out,
 *                                                    0 none in [p, limit), -1 no memory
 *   uint64_t fc_space_first_used(sp, p, limit)    first set offset in [p, limit) or FC_NONE
 *   int      fc_space_next_run(sp, p, &start, &end)  the run of set offsets holding p or the
 *                                                    next one after p (inclusive end); 0 if none
 *   int64_t  fc_space_set_range(sp, start, len)    bulk set (range must be clear for sparse);
 *                                                  newly set count (saturated) or -1
 *   uint64_t fc_space_count(sp), fc_space_count_range(sp, a, b), fc_space_size(sp)
 *   size_t   fc_space_memory(sp)                   bytes allocated (not *sp itself)
 *   int      fc_space_is_sparse(sp)
 *   void     fc_space_prefetch(sp, p)              prefetch the bitmap word of offset p of a dense
 *                                                  space (a hint: never faults; NULL sp allowed)
 */
#ifndef FC_SPACE_H
#define FC_SPACE_H

#include "fc_bitmap.h"
#include "fc_runs.h"

#define FC_DENSE_MAX ((uint64_t)1 << 32)

typedef struct {
    int sparse;
    uint64_t size;
    fc_bitmap bm;
    fc_runs rs;
} fc_space;

static inline int fc_space_init(fc_space *sp, uint64_t size)
{
    memset(sp, 0, sizeof(*sp));
    sp->size = size;
    sp->sparse = size > FC_DENSE_MAX;
    if (sp->sparse) {
        fc_runs_init(&sp->rs, size);
        return 0;
    }
    return fc_bm_init(&sp->bm, size);
}

static inline void fc_space_free(fc_space *sp)
{
    if (sp->sparse) fc_runs_free(&sp->rs);
    else fc_bm_free(&sp->bm);
}

static inline int fc_space_copy(fc_space *dst, const fc_space *src)
{
    *dst = *src;
    if (src->sparse) return fc_runs_copy(&dst->rs, &src->rs);
    return fc_bm_copy(&dst->bm, &src->bm);
}

static inline int fc_space_is_sparse(const fc_space *sp) { return sp->sparse; }
static inline uint64_t fc_space_size(const fc_space *sp) { return sp->size; }

static inline int fc_space_test(const fc_space *sp, uint64_t p)
{
    return sp->sparse ? fc_runs_test(&sp->rs, p) : fc_bm_test(&sp->bm, p);
}

static inline int fc_space_set(fc_space *sp, uint64_t p)
{
    return sp->sparse ? fc_runs_set(&sp->rs, p) : fc_bm_set(&sp->bm, p);
}

static inline int fc_space_clear(fc_space *sp, uint64_t p)
{
    return sp->sparse ? fc_runs_clear(&sp->rs, p) : fc_bm_clear(&sp->bm, p);
}

static inline uint64_t fc_space_first_free(const fc_space *sp, uint64_t p, uint64_t limit)
{
    return sp->sparse ? fc_runs_first_zero(&sp->rs, p, limit) : fc_bm_first_zero(&sp->bm, p, limit);
}

static inline int fc_space_take_first_free(fc_space *sp, uint64_t p, uint64_t limit, uint64_t *out)
{
    return sp->sparse ? fc_runs_take_first_zero(&sp->rs, p, limit, out)
                      : fc_bm_take_first_zero(&sp->bm, p, limit, out);
}

static inline uint64_t fc_space_first_used(const fc_space *sp, uint64_t p, uint64_t limit)
{
    return sp->sparse ? fc_runs_first_one(&sp->rs, p, limit) : fc_bm_first_one(&sp->bm, p, limit);
}

static inline int fc_space_next_run(const fc_space *sp, uint64_t p, uint64_t *start, uint64_t *end)
{
    uint64_t s, z;
    if (sp->sparse) return fc_runs_run_at_or_after(&sp->rs, p, start, end);
    s = fc_bm_first_one(&sp->bm, p, sp->size);
    if (s == FC_NONE) return 0;
    z = fc_bm_first_zero(&sp->bm, s, sp->size);
    *start = s;
    *end = (z == FC_NONE ? sp->size : z) - 1;
    return 1;
}

static inline int64_t fc_space_set_range(fc_space *sp, uint64_t start, uint64_t len)
{
    return sp->sparse ? fc_runs_set_range(&sp->rs, start, len) : fc_bm_set_range(&sp->bm, start, len);
}

static inline uint64_t fc_space_count(const fc_space *sp)
{
    return sp->sparse ? sp->rs.count : sp->bm.count;
}

static inline uint64_t fc_space_count_range(const fc_space *sp, uint64_t a, uint64_t b)
{
    return sp->sparse ? fc_runs_count_range(&sp->rs, a, b) : fc_bm_count_range(&sp->bm, a, b);
}

static inline size_t fc_space_memory(const fc_space *sp)
{
    return sp->sparse ? fc_runs_memory(&sp->rs) : fc_bm_memory(&sp->bm);
}

static inline void fc_space_prefetch(const fc_space *sp, uint64_t i)
{
    const fc_bm_chunk *ch;
    const fc_bm_page *pg;
    uint32_t b;
    if (sp == NULL || sp->sparse || i >= sp->bm.nbits) return;
    ch = sp->bm.chunks[i >> FC_BM_CHUNK_SHIFT];
    if (!ch) return;
    pg = ch->pages[(i >> FC_BM_PAGE_SHIFT) & (FC_BM_CHUNK_PAGES - 1)];
    if (!pg) return;
    b = (uint32_t)i & (FC_BM_PAGE_BITS - 1);
    FC_PREFETCH(&pg->words[b >> 6]);
}

#endif /* FC_SPACE_H */
