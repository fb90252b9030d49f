/* fc_bitmap.h - hierarchical, lazily paged dense bitmap over n <= 2^32 bits (1 = allocated).
 *
 * Plain C99, header only, no Python API. Used by _core.pyx (one CIDR) and _multi.pyx.
 *
 * Layout (why: an empty 2^32-bit map must cost a few KiB, a full one ~1.02 bits per bit):
 *   bitmap -> up to 256 chunks of 2^24 bits -> up to 256 pages of 2^16 bits -> 1024 words.
 *   A page keeps l1 (one bit per word: word all ones) and l2 (one bit per l1 word: all ones);
 *   a chunk keeps one "page full" bit per page, the bitmap one "chunk full" bit per chunk.
 *   Absent chunks and pages are all zero; they are allocated on the first set. The last page and
 *   chunk are sized to the bits they hold, so a /24 costs a couple of hundred bytes.
 *   "First zero at or after p" costs at most ~8 word steps at any size and fill.
 *
 * API (offsets are uint64_t; `limit` is exclusive and clamped to nbits; FC_NONE = not found)
 *   int      fc_bm_init(fc_bitmap *bm, uint64_t nbits)        0, or -1 (nbits > 2^32 / no memory)
 *   void     fc_bm_free(fc_bitmap *bm)                        releases everything; re-init to reuse
 *   int      fc_bm_copy(fc_bitmap *dst, const fc_bitmap *src)  0 or -1 (no memory); dst uninitialised
 *   int      fc_bm_test(const fc_bitmap *bm, uint64_t i)        i < nbits
 *   int      fc_bm_set(fc_bitmap *bm, uint64_t i)       1 newly set, 0 already set, -1 no memory
 *   int      fc_bm_clear(fc_bitmap *bm, uint64_t i)     1 newly cleared, 0 already clear
 *   uint64_t fc_bm_first_zero(const fc_bitmap *bm, uint64_t p, uint64_t limit)
 *   uint64_t fc_bm_first_one(const fc_bitmap *bm, uint64_t p, uint64_t limit)
 *   int      fc_bm_take_first_zero(fc_bitmap *bm, uint64_t p, uint64_t limit, uint64_t *out)
 *                                        first_zero + set: 1 and *out, 0 none, -1 no memory
 *   int64_t  fc_bm_set_range(fc_bitmap *bm, uint64_t start, uint64_t len)
 *                                        sets [start, start+len) (must be < nbits); returns the
 *                                        number of bits newly set, or -1 (no memory; bits set so
 *                                        far stay set and are counted)
 *   uint64_t fc_bm_count_range(const fc_bitmap *bm, uint64_t a, uint64_t b)   ones in [a, b)
 *   uint64_t fc_bm_count(bm)  (== bm->count),  uint64_t fc_bm_nbits(bm)
 *   size_t   fc_bm_memory(const fc_bitmap *bm)   bytes allocated by the structure (not *bm itself)
 *   void     fc_bm_clear_all(fc_bitmap *bm)       all zero again, memory released
 *   int      fc_bm_load_page(fc_bitmap *bm, uint64_t page, const unsigned char *le_words)
 *                                        fills page `page` (absent so far) from its words in
 *                                        little-endian bytes (bits past nbits zero): 0 or -1
 *   int      fc_bm_fill_page(fc_bitmap *bm, uint64_t page)   page `page` (absent so far) all ones
 *
 * Not thread safe by itself: the caller serialises (the GIL / a critical section).
 */
#ifndef FC_BITMAP_H
#define FC_BITMAP_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fc_platform.h"

#ifndef FC_NONE
#define FC_NONE (~(uint64_t)0)
#endif

#define FC_BM_PAGE_SHIFT 16
#define FC_BM_PAGE_BITS (1u << FC_BM_PAGE_SHIFT)
#define FC_BM_PAGE_WORDS (FC_BM_PAGE_BITS / 64)
#define FC_BM_L1_WORDS (FC_BM_PAGE_WORDS / 64)
#define FC_BM_CHUNK_PAGES 256
#define FC_BM_CHUNK_SHIFT (FC_BM_PAGE_SHIFT + 8)
#define FC_BM_MAX_CHUNKS 256
#define FC_BM_MAX_BITS (1ULL << 32)

typedef struct {
    uint32_t count;              /* ones in this page */
    uint32_t nbits;              /* bits this page holds (2^16 except maybe the last page) */
    uint64_t l2;                 /* bit i: l1[i] is all ones; unused bits set */
    uint64_t l1[FC_BM_L1_WORDS]; /* bit j of l1[i]: words[64*i + j] all ones; unused bits set */
    uint64_t words[1];           /* really ceil(nbits / 64) words */
} fc_bm_page;

typedef struct {
    uint32_t count;      /* ones in this chunk */
    uint32_t nbits;      /* bits this chunk holds */
    uint32_t npages;
    uint32_t _pad;
    uint64_t full[4];    /* bit per page: page holds only ones; unused bits set */
    fc_bm_page *pages[1]; /* really npages */
} fc_bm_chunk;

typedef struct {
    uint64_t nbits;
    uint64_t count;
    uint32_t nchunks;
    uint32_t _pad;
    size_t mem;
    uint64_t full[4];    /* bit per chunk: chunk holds only ones; unused bits set */
    fc_bm_chunk **chunks;
} fc_bitmap;

static inline uint64_t fc_bm_count(const fc_bitmap *bm) { return bm->count; }
static inline uint64_t fc_bm_nbits(const fc_bitmap *bm) { return bm->nbits; }

static inline size_t fc_bm_memory(const fc_bitmap *bm)
{
    return bm->mem;
}

/* first zero bit at or after `start` in a 256-bit mask (4 words); 256 if none */
static inline uint32_t fc__mask256_next_zero(const uint64_t *m, uint32_t start)
{
    uint32_t wi = start >> 6;
    uint64_t w;
    if (start >= 256) return 256;
    w = ~m[wi] & (~0ULL << (start & 63));
    for (;;) {
        if (w) return (wi << 6) | (uint32_t)fc_ctz64(w);
        if (++wi >= 4) return 256;
        w = ~m[wi];
    }
}

static inline void fc__mask_set(uint64_t *m, uint32_t i) { m[i >> 6] |= 1ULL << (i & 63); }
static inline void fc__mask_clear(uint64_t *m, uint32_t i) { m[i >> 6] &= ~(1ULL << (i & 63)); }
static inline int fc__mask_test(const uint64_t *m, uint32_t i) { return (int)((m[i >> 6] >> (i & 63)) & 1); }

/* mark bits [n, 256) of a 256-bit mask as set */
static inline void fc__mask256_pad(uint64_t *m, uint32_t n)
{
    uint32_t i;
    for (i = n; i < 256; i++) fc__mask_set(m, i);
}

static inline uint32_t fc__page_nwords(uint32_t nbits) { return (nbits + 63) / 64; }

static inline size_t fc__page_bytes(uint32_t nbits)
{
    return offsetof(fc_bm_page, words) + sizeof(uint64_t) * fc__page_nwords(nbits);
}

static inline size_t fc__chunk_bytes(uint32_t npages)
{
    return offsetof(fc_bm_chunk, pages) + sizeof(fc_bm_page *) * npages;
}

/* bits held by page `pi` of chunk `c` */
static inline uint32_t fc__bm_page_nbits(const fc_bitmap *bm, uint32_t c, uint32_t pi)
{
    uint64_t start = ((uint64_t)c << FC_BM_CHUNK_SHIFT) | ((uint64_t)pi << FC_BM_PAGE_SHIFT);
    uint64_t rest = bm->nbits - start;
    return rest >= FC_BM_PAGE_BITS ? FC_BM_PAGE_BITS : (uint32_t)rest;
}

static inline int fc_bm_init(fc_bitmap *bm, uint64_t nbits)
{
    memset(bm, 0, sizeof(*bm));
    if (nbits > FC_BM_MAX_BITS) return -1;
    bm->nbits = nbits;
    bm->nchunks = (uint32_t)((nbits + (1ULL << FC_BM_CHUNK_SHIFT) - 1) >> FC_BM_CHUNK_SHIFT);
    fc__mask256_pad(bm->full, bm->nchunks);
    if (bm->nchunks) {
        bm->chunks = (fc_bm_chunk **)calloc(bm->nchunks, sizeof(fc_bm_chunk *));
        if (!bm->chunks) return -1;
        bm->mem = bm->nchunks * sizeof(fc_bm_chunk *);
    }
    return 0;
}

static inline void fc_bm_free(fc_bitmap *bm)
{
    uint32_t c, p;
    if (bm->chunks) {
        for (c = 0; c < bm->nchunks; c++) {
            fc_bm_chunk *ch = bm->chunks[c];
            if (!ch) continue;
            for (p = 0; p < ch->npages; p++) free(ch->pages[p]);
            free(ch);
        }
        free(bm->chunks);
    }
    bm->chunks = NULL;
    bm->nchunks = 0;
    bm->nbits = 0;
    bm->count = 0;
    bm->mem = 0;
}

static inline void fc_bm_clear_all(fc_bitmap *bm)
{
    uint64_t nbits = bm->nbits;
    fc_bm_free(bm);
    fc_bm_init(bm, nbits); /* cannot fail for a size that was valid, except out of memory */
}

static inline fc_bm_chunk *fc__bm_get_chunk(fc_bitmap *bm, uint32_t c)
{
    fc_bm_chunk *ch = bm->chunks[c];
    if (!ch) {
        uint64_t start = (uint64_t)c << FC_BM_CHUNK_SHIFT;
        uint64_t rest = bm->nbits - start;
        uint32_t nbits = rest >= (1ULL << FC_BM_CHUNK_SHIFT) ? (1u << FC_BM_CHUNK_SHIFT) : (uint32_t)rest;
        uint32_t npages = (nbits + FC_BM_PAGE_BITS - 1) >> FC_BM_PAGE_SHIFT;
        size_t bytes = fc__chunk_bytes(npages);
        ch = (fc_bm_chunk *)calloc(1, bytes);
        if (!ch) return NULL;
        ch->nbits = nbits;
        ch->npages = npages;
        fc__mask256_pad(ch->full, npages);
        bm->chunks[c] = ch;
        bm->mem += bytes;
    }
    return ch;
}

static inline fc_bm_page *fc__bm_get_page(fc_bitmap *bm, fc_bm_chunk *ch, uint32_t c, uint32_t pi)
{
    fc_bm_page *pg = ch->pages[pi];
    if (!pg) {
        uint32_t nbits = fc__bm_page_nbits(bm, c, pi);
        uint32_t nwords = fc__page_nwords(nbits);
        size_t bytes = fc__page_bytes(nbits);
        uint32_t w;
        pg = (fc_bm_page *)calloc(1, bytes);
        if (!pg) return NULL;
        pg->nbits = nbits;
        /* words beyond the page count as full in l1, l1 words beyond it as full in l2, so a
         * search never walks into them */
        for (w = nwords; w < FC_BM_PAGE_WORDS; w++) pg->l1[w >> 6] |= 1ULL << (w & 63);
        pg->l2 = ~0ULL;
        for (w = 0; w < FC_BM_L1_WORDS; w++)
            if (w * 64 < nwords) pg->l2 &= ~(1ULL << w);
        for (w = 0; w < FC_BM_L1_WORDS; w++)
            if (pg->l1[w] == ~0ULL) pg->l2 |= 1ULL << w;
        ch->pages[pi] = pg;
        bm->mem += bytes;
    }
    return pg;
}

static inline int fc_bm_test(const fc_bitmap *bm, uint64_t i)
{
    const fc_bm_chunk *ch;
    const fc_bm_page *pg;
    uint32_t b;
    if (i >= bm->nbits) return 0;
    ch = bm->chunks[i >> FC_BM_CHUNK_SHIFT];
    if (!ch) return 0;
    pg = ch->pages[(i >> FC_BM_PAGE_SHIFT) & (FC_BM_CHUNK_PAGES - 1)];
    if (!pg) return 0;
    b = (uint32_t)i & (FC_BM_PAGE_BITS - 1);
    return (int)((pg->words[b >> 6] >> (b & 63)) & 1);
}

static inline int fc_bm_set(fc_bitmap *bm, uint64_t i)
{
    uint32_t c = (uint32_t)(i >> FC_BM_CHUNK_SHIFT);
    uint32_t pi = (uint32_t)(i >> FC_BM_PAGE_SHIFT) & (FC_BM_CHUNK_PAGES - 1);
    uint32_t b = (uint32_t)i & (FC_BM_PAGE_BITS - 1), wi = b >> 6;
    uint64_t bit = 1ULL << (b & 63);
    fc_bm_chunk *ch = bm->chunks[c];
    fc_bm_page *pg;
    if (!ch && !(ch = fc__bm_get_chunk(bm, c))) return -1;
    pg = ch->pages[pi];
    if (!pg && !(pg = fc__bm_get_page(bm, ch, c, pi))) return -1;
    if (pg->words[wi] & bit) return 0;
    if ((pg->words[wi] |= bit) == ~0ULL) {
        if ((pg->l1[wi >> 6] |= 1ULL << (wi & 63)) == ~0ULL) pg->l2 |= 1ULL << (wi >> 6);
    }
    if (++pg->count == pg->nbits) fc__mask_set(ch->full, pi);
    if (++ch->count == ch->nbits) fc__mask_set(bm->full, c);
    bm->count++;
    return 1;
}

static inline int fc_bm_clear(fc_bitmap *bm, uint64_t i)
{
    uint32_t c = (uint32_t)(i >> FC_BM_CHUNK_SHIFT);
    uint32_t pi = (uint32_t)(i >> FC_BM_PAGE_SHIFT) & (FC_BM_CHUNK_PAGES - 1);
    uint32_t b = (uint32_t)i & (FC_BM_PAGE_BITS - 1), wi = b >> 6;
    uint64_t bit = 1ULL << (b & 63);
    fc_bm_chunk *ch;
    fc_bm_page *pg;
    if (i >= bm->nbits) return 0;
    ch = bm->chunks[c];
    if (!ch) return 0;
    pg = ch->pages[pi];
    if (!pg || !(pg->words[wi] & bit)) return 0;
    pg->words[wi] &= ~bit;
    pg->l1[wi >> 6] &= ~(1ULL << (wi & 63));
    pg->l2 &= ~(1ULL << (wi >> 6));
    pg->count--;
    fc__mask_clear(ch->full, pi);
    ch->count--;
    fc__mask_clear(bm->full, c);
    bm->count--;
    return 1;
}

/* first zero at or after bit b of a page, as a page-relative index (may be >= pg->nbits when
 * only the padding of the last word is left); 0xFFFFFFFF if none */
static inline uint32_t fc__page_first_zero(const fc_bm_page *pg, uint32_t b)
{
    uint32_t wi = b >> 6, i, j;
    uint64_t w = ~pg->words[wi] & (~0ULL << (b & 63)), m;
    if (w) return (wi << 6) | (uint32_t)fc_ctz64(w);
    i = wi >> 6;
    j = (wi & 63) + 1;
    m = j < 64 ? (~pg->l1[i] & (~0ULL << j)) : 0;
    if (!m) {
        uint64_t m2 = (i + 1 < 64) ? (~pg->l2 & (~0ULL << (i + 1))) : 0;
        if (!m2) return 0xFFFFFFFFu;
        i = (uint32_t)fc_ctz64(m2);
        m = ~pg->l1[i];
    }
    wi = (i << 6) | (uint32_t)fc_ctz64(m);
    return (wi << 6) | (uint32_t)fc_ctz64(~pg->words[wi]);
}

static inline uint64_t fc_bm_first_zero(const fc_bitmap *bm, uint64_t p, uint64_t limit)
{
    if (limit > bm->nbits) limit = bm->nbits;
    while (p < limit) {
        uint32_t c = (uint32_t)(p >> FC_BM_CHUNK_SHIFT), pi, r;
        const fc_bm_chunk *ch;
        const fc_bm_page *pg;
        if (fc__mask_test(bm->full, c)) {
            c = fc__mask256_next_zero(bm->full, c + 1);
            if (c >= 256) return FC_NONE;
            p = (uint64_t)c << FC_BM_CHUNK_SHIFT;
            continue;
        }
        ch = bm->chunks[c];
        if (!ch) return p;
        pi = (uint32_t)(p >> FC_BM_PAGE_SHIFT) & (FC_BM_CHUNK_PAGES - 1);
        if (fc__mask_test(ch->full, pi)) {
            pi = fc__mask256_next_zero(ch->full, pi + 1);
            if (pi >= 256) {
                p = (uint64_t)(c + 1) << FC_BM_CHUNK_SHIFT;
                continue;
            }
            p = ((uint64_t)c << FC_BM_CHUNK_SHIFT) | ((uint64_t)pi << FC_BM_PAGE_SHIFT);
            if (p >= limit) return FC_NONE;
        }
        pg = ch->pages[pi];
        if (!pg) return p;
        r = fc__page_first_zero(pg, (uint32_t)p & (FC_BM_PAGE_BITS - 1));
        if (r != 0xFFFFFFFFu) {
            uint64_t q = (p & ~(uint64_t)(FC_BM_PAGE_BITS - 1)) | r;
            return q < limit ? q : FC_NONE;
        }
        p = (p | (FC_BM_PAGE_BITS - 1)) + 1;
    }
    return FC_NONE;
}

static inline uint64_t fc_bm_first_one(const fc_bitmap *bm, uint64_t p, uint64_t limit)
{
    if (limit > bm->nbits) limit = bm->nbits;
    while (p < limit) {
        uint32_t c = (uint32_t)(p >> FC_BM_CHUNK_SHIFT), pi, b, wi, nwords;
        const fc_bm_chunk *ch = bm->chunks[c];
        const fc_bm_page *pg;
        uint64_t w;
        if (!ch || ch->count == 0) {
            p = (uint64_t)(c + 1) << FC_BM_CHUNK_SHIFT;
            continue;
        }
        if (fc__mask_test(bm->full, c)) return p;
        pi = (uint32_t)(p >> FC_BM_PAGE_SHIFT) & (FC_BM_CHUNK_PAGES - 1);
        pg = ch->pages[pi];
        if (!pg || pg->count == 0) {
            p = (p | (FC_BM_PAGE_BITS - 1)) + 1;
            continue;
        }
        if (pg->count == pg->nbits) return p;
        b = (uint32_t)p & (FC_BM_PAGE_BITS - 1);
        wi = b >> 6;
        nwords = fc__page_nwords(pg->nbits);
        w = pg->words[wi] & (~0ULL << (b & 63));
        for (;;) {
            if (w) {
                uint64_t q = (p & ~(uint64_t)(FC_BM_PAGE_BITS - 1)) | ((uint64_t)wi << 6) | (uint64_t)fc_ctz64(w);
                return q < limit ? q : FC_NONE;
            }
            if (++wi >= nwords) break;
            w = pg->words[wi];
        }
        p = (p | (FC_BM_PAGE_BITS - 1)) + 1;
    }
    return FC_NONE;
}

static inline int fc_bm_take_first_zero(fc_bitmap *bm, uint64_t p, uint64_t limit, uint64_t *out)
{
    uint64_t q = fc_bm_first_zero(bm, p, limit);
    int r;
    if (q == FC_NONE) return 0;
    r = fc_bm_set(bm, q);
    if (r == 1) *out = q;
    return r < 0 ? -1 : 1;
}

/* recompute l1/l2 bits and the full flags after bulk word changes in words [w0, w1] of a page */
static inline void fc__page_refresh(fc_bm_page *pg, uint32_t w0, uint32_t w1)
{
    uint32_t w, i;
    for (w = w0; w <= w1; w++) {
        if (pg->words[w] == ~0ULL) pg->l1[w >> 6] |= 1ULL << (w & 63);
        else pg->l1[w >> 6] &= ~(1ULL << (w & 63));
    }
    for (i = w0 >> 6; i <= (w1 >> 6); i++) {
        if (pg->l1[i] == ~0ULL) pg->l2 |= 1ULL << i;
        else pg->l2 &= ~(1ULL << i);
    }
}

static inline int64_t fc_bm_set_range(fc_bitmap *bm, uint64_t start, uint64_t len)
{
    uint64_t end = start + len, p = start; /* exclusive */
    int64_t added = 0;
    if (len == 0) return 0;
    if (end > bm->nbits || end < start) return -1;
    while (p < end) {
        uint32_t c = (uint32_t)(p >> FC_BM_CHUNK_SHIFT);
        uint32_t pi = (uint32_t)(p >> FC_BM_PAGE_SHIFT) & (FC_BM_CHUNK_PAGES - 1);
        uint64_t page_start = p & ~(uint64_t)(FC_BM_PAGE_BITS - 1);
        uint64_t page_end = page_start + FC_BM_PAGE_BITS;
        uint64_t seg_end = end < page_end ? end : page_end;
        uint32_t b0 = (uint32_t)(p - page_start), b1 = (uint32_t)(seg_end - page_start); /* [b0,b1) */
        uint32_t w0 = b0 >> 6, w1 = (b1 - 1) >> 6, w;
        uint32_t delta = 0;
        fc_bm_chunk *ch = fc__bm_get_chunk(bm, c);
        fc_bm_page *pg;
        if (!ch) return -1;
        pg = fc__bm_get_page(bm, ch, c, pi);
        if (!pg) return -1;
        for (w = w0; w <= w1; w++) {
            uint64_t mask = ~0ULL, old = pg->words[w];
            if (w == w0) mask &= ~0ULL << (b0 & 63);
            if (w == w1 && (b1 & 63)) mask &= ~0ULL >> (64 - (b1 & 63));
            if (mask == ~0ULL && old == 0) delta += 64;
            else delta += (uint32_t)fc_popcount64(mask & ~old);
            pg->words[w] = old | mask;
        }
        fc__page_refresh(pg, w0, w1);
        pg->count += delta;
        if (pg->count == pg->nbits) fc__mask_set(ch->full, pi);
        ch->count += delta;
        if (ch->count == ch->nbits) fc__mask_set(bm->full, c);
        bm->count += delta;
        added += delta;
        p = seg_end;
    }
    return added;
}

static inline int fc_bm_load_page(fc_bitmap *bm, uint64_t page, const unsigned char *le_words)
{
    uint32_t c = (uint32_t)(page >> 8), pi = (uint32_t)page & (FC_BM_CHUNK_PAGES - 1), nw, w, ones;
    int any_full = 0;
    fc_bm_chunk *ch = fc__bm_get_chunk(bm, c);
    fc_bm_page *pg;
    size_t bytes;
    if (!ch) return -1;
    /* every word is written below: only the header of the page needs zeroing, not 8 KiB */
    nw = fc__page_nwords(fc__bm_page_nbits(bm, c, pi));
    bytes = fc__page_bytes(fc__bm_page_nbits(bm, c, pi));
    pg = (fc_bm_page *)malloc(bytes);
    if (!pg) return -1;
    memset(pg, 0, offsetof(fc_bm_page, words));
    pg->nbits = fc__bm_page_nbits(bm, c, pi);
    ones = (uint32_t)fc_load_count_words(pg->words, le_words, nw, &any_full);
    for (w = nw; w < FC_BM_PAGE_WORDS; w++) pg->l1[w >> 6] |= 1ULL << (w & 63);
    if (any_full)
        for (w = 0; w < nw; w++)
            if (pg->words[w] == ~0ULL) pg->l1[w >> 6] |= 1ULL << (w & 63);
    for (w = 0; w < FC_BM_L1_WORDS; w++)
        if (pg->l1[w] == ~0ULL) pg->l2 |= 1ULL << w;
    pg->l2 |= FC_BM_L1_WORDS < 64 ? ~0ULL << FC_BM_L1_WORDS : 0;
    ch->pages[pi] = pg;
    bm->mem += bytes;
    pg->count = ones;
    if (ones == pg->nbits) fc__mask_set(ch->full, pi);
    ch->count += ones;
    if (ch->count == ch->nbits) fc__mask_set(bm->full, c);
    bm->count += ones;
    return 0;
}

static inline int fc_bm_fill_page(fc_bitmap *bm, uint64_t page)
{
    uint32_t c = (uint32_t)(page >> 8), pi = (uint32_t)page & (FC_BM_CHUNK_PAGES - 1), nbits, nw;
    fc_bm_chunk *ch = fc__bm_get_chunk(bm, c);
    fc_bm_page *pg;
    size_t bytes;
    if (!ch) return -1;
    nbits = fc__bm_page_nbits(bm, c, pi);
    nw = fc__page_nwords(nbits);
    bytes = fc__page_bytes(nbits);
    pg = (fc_bm_page *)malloc(bytes);
    if (!pg) return -1;
    memset(pg, 0xFF, bytes); /* every summary bit set too: words, l1 and l2 all say "full" */
    if (nbits & 63) pg->words[nw - 1] = ~0ULL >> (64 - (nbits & 63)); /* padding stays zero */
    if (nbits & 63) {
        pg->l1[(nw - 1) >> 6] &= ~(1ULL << ((nw - 1) & 63));
        pg->l2 &= ~(1ULL << ((nw - 1) >> 6));
    }
    pg->count = nbits;
    pg->nbits = nbits;
    ch->pages[pi] = pg;
    bm->mem += bytes;
    fc__mask_set(ch->full, pi);
    ch->count += nbits;
    if (ch->count == ch->nbits) fc__mask_set(bm->full, c);
    bm->count += nbits;
    return 0;
}

static inline uint64_t fc__popcount_words(const uint64_t *w, uint32_t w0, uint32_t w1, uint32_t b0, uint32_t b1)
{
    /* ones in page bits [b0, b1) where w0 = b0>>6, w1 = (b1-1)>>6 */
    uint64_t n = 0;
    uint32_t i;
    for (i = w0; i <= w1; i++) {
        uint64_t mask = ~0ULL;
        if (i == w0) mask &= ~0ULL << (b0 & 63);
        if (i == w1 && (b1 & 63)) mask &= ~0ULL >> (64 - (b1 & 63));
        n += (uint64_t)fc_popcount64(w[i] & mask);
    }
    return n;
}

static inline uint64_t fc_bm_count_range(const fc_bitmap *bm, uint64_t a, uint64_t b)
{
    uint64_t n = 0, p = a;
    if (b > bm->nbits) b = bm->nbits;
    if (a == 0 && b == bm->nbits) return bm->count;
    while (p < b) {
        uint32_t c = (uint32_t)(p >> FC_BM_CHUNK_SHIFT);
        uint64_t chunk_start = (uint64_t)c << FC_BM_CHUNK_SHIFT;
        uint64_t chunk_end = chunk_start + (1ULL << FC_BM_CHUNK_SHIFT);
        const fc_bm_chunk *ch = bm->chunks[c];
        if (!ch || ch->count == 0) {
            p = chunk_end;
            continue;
        }
        if (p == chunk_start && b >= chunk_start + ch->nbits) {
            n += ch->count;
            p = chunk_end;
            continue;
        }
        {
            uint32_t pi = (uint32_t)(p >> FC_BM_PAGE_SHIFT) & (FC_BM_CHUNK_PAGES - 1);
            uint64_t page_start = p & ~(uint64_t)(FC_BM_PAGE_BITS - 1);
            uint64_t page_end = page_start + FC_BM_PAGE_BITS;
            const fc_bm_page *pg = ch->pages[pi];
            if (pg && pg->count) {
                if (p == page_start && b >= page_start + pg->nbits) n += pg->count;
                else {
                    uint64_t seg_end = b < page_end ? b : page_end;
                    uint32_t b0 = (uint32_t)(p - page_start), b1 = (uint32_t)(seg_end - page_start);
                    n += fc__popcount_words(pg->words, b0 >> 6, (b1 - 1) >> 6, b0, b1);
                }
            }
            p = page_end;
        }
    }
    return n;
}

static inline int fc_bm_copy(fc_bitmap *dst, const fc_bitmap *src)
{
    uint32_t c, p;
    *dst = *src;
    dst->chunks = NULL;
    if (!src->nchunks) return 0;
    dst->chunks = (fc_bm_chunk **)calloc(src->nchunks, sizeof(fc_bm_chunk *));
    if (!dst->chunks) {
        dst->nchunks = 0;
        return -1;
    }
    for (c = 0; c < src->nchunks; c++) {
        const fc_bm_chunk *sc = src->chunks[c];
        fc_bm_chunk *dc;
        size_t cb;
        if (!sc) continue;
        cb = fc__chunk_bytes(sc->npages);
        dc = (fc_bm_chunk *)malloc(cb);
        if (!dc) goto fail;
        memcpy(dc, sc, cb);
        dst->chunks[c] = dc;
        for (p = 0; p < sc->npages; p++) dc->pages[p] = NULL;
        for (p = 0; p < sc->npages; p++) {
            const fc_bm_page *sp = sc->pages[p];
            size_t pb;
            if (!sp) continue;
            pb = fc__page_bytes(sp->nbits);
            dc->pages[p] = (fc_bm_page *)malloc(pb);
            if (!dc->pages[p]) goto fail;
            memcpy(dc->pages[p], sp, pb);
        }
    }
    return 0;
fail:
    fc_bm_free(dst);
    return -1;
}

#endif /* FC_BITMAP_H */
