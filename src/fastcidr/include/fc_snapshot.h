/* fc_snapshot.h - the block body of the compact snapshot (FCAL version 2) of an fc_space.
 *
 * Plain C99, header only, no Python API. The format is documented in docs/ALGORITHMS.md
 * ("Snapshot format"); _snapshot_twin.py writes and reads the same bytes in Python.
 *
 * The offsets [0, size) are cut into blocks of 2^16 (the last one may be shorter), in order, and
 * every block is written as exactly one of these records (n, k, gap, len-1: LEB128 varints):
 *   0x00            one block with nothing allocated     0x04 n   n >= 2 such blocks
 *   0x01            one block with everything allocated  0x05 n   n >= 2 such blocks
 *   0x02 words      the block's bitmap, ceil(bits/64) little-endian u64, bits past its end zero
 *   0x03 k runs     k >= 1 runs (gap, len-1): the first gap is the run's offset in the block, a
 *                   later gap is the number of free offsets before it minus one, so runs are
 *                   ascending, disjoint and non-adjacent by construction
 * A partly used block is written as runs when that record is strictly shorter than the bitmap.
 * The choice depends only on the set, so any writer that follows it writes the same bytes.
 *
 *   size_t   fc_snap_bound(const fc_space *sp)   bytes the body of this state can take
 *   int64_t  fc_snap_encode(const fc_space *sp, unsigned char *out, size_t cap)
 *            the body length; -1 if cap is too small (the state changed since fc_snap_bound),
 *            -2 out of memory
 *   int      fc_snap_read(fc_space *sp, const unsigned char *b, size_t n, uint64_t *used)
 *            a body into a freshly initialised empty space: 0 and the allocated count, -1 out
 *            of memory, or an FC_SNAP_E* code (fc_snap_error_text) for a body that is not
 *            exactly a valid cover of [0, size); on any error the space is to be discarded
 *   size_t   fc_snap_bound_window(sp, base, size), int64_t fc_snap_encode_window(sp, base, size,
 *            out, cap), int fc_snap_read_window(sp, base, size, b, n, &used)
 *            the same for the window [base, base + size) of a space (the multi allocator's
 *            CIDRs); the window of a read is clear, the rest of the space is left alone
 *   int      fc_snap_check_v1(b, nruns, size, &used), fc_snap_load_v1(sp, b, nruns)
 *            the same for the body of version 1: nruns (u64 start, u64 length) little-endian
 */
#ifndef FC_SNAPSHOT_H
#define FC_SNAPSHOT_H
/* The caller has run fc_platform_init() (fc_run_starts, fc_popcount_words). */

#include "fc_space.h"

#define FC_SNAP_BLOCK_SHIFT 16
#define FC_SNAP_BLOCK_BITS (1u << FC_SNAP_BLOCK_SHIFT)
#define FC_SNAP_BLOCK_WORDS (FC_SNAP_BLOCK_BITS / 64)
#define FC_SNAP_SLACK 32 /* a record may be written past its budget by this much, then replaced */

enum {
    FC_SNAP_FREE = 0,
    FC_SNAP_FULL = 1,
    FC_SNAP_BITMAP = 2,
    FC_SNAP_RUNS = 3,
    FC_SNAP_FREE_N = 4,
    FC_SNAP_FULL_N = 5,
};

enum {
    FC_SNAP_OK = 0,
    FC_SNAP_ETRUNC = 1,
    FC_SNAP_ETAG = 2,
    FC_SNAP_EVARINT = 3,
    FC_SNAP_EBLOCKS = 4,
    FC_SNAP_ERUN = 5,
    FC_SNAP_EPAD = 6,
    FC_SNAP_ESHORT = 7,
    FC_SNAP_ECOUNT = 8,
    FC_SNAP_EEMPTY = 9,
    FC_SNAP_EOUTSIDE = 10,
    FC_SNAP_EORDER = 11,
};

static inline const char *fc_snap_error_text(int code)
{
    switch (code) {
    case FC_SNAP_ETRUNC: return "a block record is truncated";
    case FC_SNAP_ETAG: return "unknown block record tag";
    case FC_SNAP_EVARINT: return "malformed variable-length integer";
    case FC_SNAP_EBLOCKS: return "block records run past the end of the range";
    case FC_SNAP_ERUN: return "a run lies outside its block";
    case FC_SNAP_EPAD: return "bits set beyond the end of the range";
    case FC_SNAP_ESHORT: return "block records do not cover the range";
    case FC_SNAP_ECOUNT: return "a repeat count or run count is out of range";
    case FC_SNAP_EEMPTY: return "empty run";
    case FC_SNAP_EOUTSIDE: return "run outside the range";
    case FC_SNAP_EORDER: return "runs not ascending, disjoint and non-adjacent";
    default: return "damaged block records";
    }
}

static inline uint64_t fc__snap_nblocks(uint64_t size)
{
    return (size >> FC_SNAP_BLOCK_SHIFT) + ((size & (FC_SNAP_BLOCK_BITS - 1)) != 0);
}

static inline uint32_t fc__snap_block_bits(uint64_t size, uint64_t block)
{
    uint64_t rest = size - (block << FC_SNAP_BLOCK_SHIFT);
    return rest >= FC_SNAP_BLOCK_BITS ? FC_SNAP_BLOCK_BITS : (uint32_t)rest;
}

static inline size_t fc__varint_put(unsigned char *o, uint64_t v)
{
    size_t i = 0;
    while (v >= 0x80) {
        o[i++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    o[i++] = (unsigned char)v;
    return i;
}

static inline size_t fc__varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* 1 and *v, or 0 (truncated, longer than 10 bytes or above 2^64-1) */
static inline int fc__varint_get(const unsigned char *b, size_t n, size_t *i, uint64_t *v)
{
    uint64_t r = 0;
    int shift = 0;
    for (;;) {
        unsigned char c;
        if (*i >= n || shift > 63) return 0;
        c = b[(*i)++];
        if (shift == 63 && c > 1) return 0;
        r |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) break;
        shift += 7;
    }
    *v = r;
    return 1;
}

/* ------------------------------------------------------------------ writing */

typedef struct {
    unsigned char *o;
    size_t pos, cap;
    int kind;    /* FC_SNAP_FREE or FC_SNAP_FULL: the pending repeat */
    uint64_t n;  /* blocks pending */
} fc__snap_out;

static inline int fc__snap_flush(fc__snap_out *w)
{
    if (!w->n) return 0;
    if (w->pos + (w->n == 1 ? 1 : 1 + fc__varint_len(w->n)) > w->cap) return -1;
    if (w->n == 1) {
        w->o[w->pos++] = (unsigned char)w->kind;
    } else {
        w->o[w->pos++] = (unsigned char)(w->kind + 4);
        w->pos += fc__varint_put(w->o + w->pos, w->n);
    }
    w->n = 0;
    return 0;
}

static inline int fc__snap_repeat(fc__snap_out *w, int kind, uint64_t n)
{
    if (w->n && w->kind != kind && fc__snap_flush(w) < 0) return -1;
    w->kind = kind;
    w->n += n;
    return 0;
}

/* first set (want = 1) or clear (want = 0) bit at or after `from` in nbits bits; nbits if none */
static inline uint32_t fc__snap_scan(const uint64_t *w, uint32_t nbits, uint32_t from, int want)
{
    uint32_t wi = from >> 6, nw = (nbits + 63) >> 6;
    uint64_t x;
    if (from >= nbits) return nbits;
    x = (want ? w[wi] : ~w[wi]) & (~0ULL << (from & 63));
    for (;;) {
        if (x) {
            uint32_t r = (wi << 6) | (uint32_t)fc_ctz64(x);
            return r < nbits ? r : nbits;
        }
        if (++wi >= nw) return nbits;
        x = want ? w[wi] : ~w[wi];
    }
}

/* the bitmap record of a partly used block given as words; the runs record instead when that is
   strictly shorter. The caller made room for the bitmap record plus FC_SNAP_SLACK. */
static inline void fc__snap_block_words(fc__snap_out *w, const uint64_t *words, uint32_t nbits)
{
    uint32_t nw = (nbits + 63) >> 6, p, s, e;
    size_t bitmap_len = 1 + (size_t)8 * nw, start = w->pos, q;
    uint64_t next = 0; /* the first offset a following run may start at */
    /* every run takes at least two bytes: at bitmap_len / 2 runs the bitmap has won already */
    uint64_t k = fc_run_starts(words, nw, bitmap_len / 2);
    if (k < bitmap_len / 2 && 1 + fc__varint_len(k) + 2 * k < bitmap_len) {
        q = start;
        w->o[q++] = FC_SNAP_RUNS;
        q += fc__varint_put(w->o + q, k);
        p = 0;
        while (q - start < bitmap_len) {
            s = fc__snap_scan(words, nbits, p, 1);
            if (s >= nbits) break;
            e = fc__snap_scan(words, nbits, s, 0); /* exclusive */
            q += fc__varint_put(w->o + q, s - next);
            q += fc__varint_put(w->o + q, (uint64_t)(e - s - 1));
            next = (uint64_t)e + 1;
            p = e;
        }
        if (q - start < bitmap_len) {
            w->pos = q;
            return;
        }
    }
    w->o[start] = FC_SNAP_BITMAP;
#if defined(FC_BIG_ENDIAN)
    for (p = 0; p < nw; p++) fc_store_le64(w->o + start + 1 + 8 * (size_t)p, words[p]);
#else
    memcpy(w->o + start + 1, words, (size_t)8 * nw);
#endif
    w->pos = start + bitmap_len;
}

/* a partly used block given as k clamped runs [s, e] (block-relative, ascending, disjoint,
   non-adjacent); renders the bitmap only when it is the shorter record */
static inline void fc__snap_block_runs(fc__snap_out *w, const uint32_t *runs, uint64_t k, uint32_t nbits,
                                       uint64_t *scratch)
{
    uint32_t nw = (nbits + 63) >> 6;
    size_t bitmap_len = 1 + (size_t)8 * nw, len = 1 + fc__varint_len(k), q;
    uint64_t j;
    for (j = 0; j < k && len < bitmap_len; j++) {
        uint32_t gap = j ? runs[2 * j] - runs[2 * j - 1] - 2 : runs[0];
        len += fc__varint_len(gap) + fc__varint_len(runs[2 * j + 1] - runs[2 * j]);
    }
    if (len < bitmap_len) {
        q = w->pos;
        w->o[q++] = FC_SNAP_RUNS;
        q += fc__varint_put(w->o + q, k);
        for (j = 0; j < k; j++) {
            uint32_t gap = j ? runs[2 * j] - runs[2 * j - 1] - 2 : runs[0];
            q += fc__varint_put(w->o + q, gap);
            q += fc__varint_put(w->o + q, runs[2 * j + 1] - runs[2 * j]);
        }
        w->pos = q;
        return;
    }
    memset(scratch, 0, (size_t)8 * nw);
    for (j = 0; j < k; j++) {
        uint32_t s = runs[2 * j], e = runs[2 * j + 1], b;
        for (b = s; b <= e && (b & 63); b++) scratch[b >> 6] |= 1ULL << (b & 63);
        for (; b + 63 <= e; b += 64) scratch[b >> 6] = ~0ULL;
        for (; b <= e; b++) scratch[b >> 6] |= 1ULL << (b & 63);
    }
    fc__snap_block_words(w, scratch, nbits);
}

static inline size_t fc_snap_bound(const fc_space *sp)
{
    uint64_t nblocks = fc__snap_nblocks(sp->size);
    if (sp->sparse) {
        /* a run touches at most two partly used blocks and adds at most two repeats; a partly
           used block's record is never longer than its runs record (<= 11 + 20 per run) */
        uint64_t nruns = sp->rs.nruns;
        return (size_t)(64 * nruns + 22 * (nruns + 1) + FC_SNAP_SLACK);
    } else {
        size_t total = FC_SNAP_SLACK;
        uint64_t b;
        for (b = 0; b < nblocks; b++) {
            const fc_bm_chunk *ch = sp->bm.chunks[b >> 8];
            const fc_bm_page *pg = ch ? ch->pages[b & 255] : NULL;
            if (pg && pg->count && pg->count < pg->nbits) total += 1 + (size_t)8 * ((pg->nbits + 63) >> 6);
            else total += 1;
        }
        return total;
    }
}

static inline int64_t fc__snap_encode_dense(const fc_bitmap *bm, fc__snap_out *w, uint64_t size)
{
    uint64_t nblocks = fc__snap_nblocks(size), b;
    for (b = 0; b < nblocks; b++) {
        const fc_bm_chunk *ch = bm->chunks[b >> 8];
        const fc_bm_page *pg = ch ? ch->pages[b & 255] : NULL;
        if (!pg || pg->count == 0) {
            if (fc__snap_repeat(w, FC_SNAP_FREE, 1) < 0) return -1;
        } else if (pg->count == pg->nbits) {
            if (fc__snap_repeat(w, FC_SNAP_FULL, 1) < 0) return -1;
        } else {
            if (fc__snap_flush(w) < 0) return -1;
            if (w->pos + 1 + (size_t)8 * ((pg->nbits + 63) >> 6) + FC_SNAP_SLACK > w->cap) return -1;
            fc__snap_block_words(w, pg->words, pg->nbits);
        }
    }
    if (fc__snap_flush(w) < 0) return -1;
    return (int64_t)w->pos;
}

/* the run of the window [base, base + size) of sp that holds window offset p or follows it,
   clamped to the window, as window offsets (inclusive end); 0 if none */
static inline int fc__snap_next_run(const fc_space *sp, uint64_t base, uint64_t size, uint64_t p,
                                    uint64_t *s, uint64_t *e)
{
    uint64_t as, ae;
    if (p >= size || !fc_space_next_run(sp, base + p, &as, &ae)) return 0;
    if (as > base + p && as - base >= size) return 0; /* the next run starts past the window */
    *s = as < base + p ? p : as - base;
    *e = ae - base >= size - 1 ? size - 1 : ae - base; /* ae >= base + p: no wrap */
    return 1;
}

static inline int64_t fc__snap_encode_runs(const fc_space *sp, uint64_t base, uint64_t size, fc__snap_out *w,
                                           uint32_t *runs, uint64_t *scratch)
{
    uint64_t nblocks = fc__snap_nblocks(size), blk = 0, s, e, k, bstart, last;
    while (blk < nblocks) {
        uint32_t bits;
        bstart = blk << FC_SNAP_BLOCK_SHIFT;
        if (!fc__snap_next_run(sp, base, size, bstart, &s, &e)) {
            if (fc__snap_repeat(w, FC_SNAP_FREE, nblocks - blk) < 0) return -1;
            break;
        }
        if ((s >> FC_SNAP_BLOCK_SHIFT) > blk) {
            if (fc__snap_repeat(w, FC_SNAP_FREE, (s >> FC_SNAP_BLOCK_SHIFT) - blk) < 0) return -1;
            blk = s >> FC_SNAP_BLOCK_SHIFT;
            bstart = blk << FC_SNAP_BLOCK_SHIFT;
        }
        bits = fc__snap_block_bits(size, blk);
        last = bstart + bits - 1;
        if (s == bstart && e >= last) {
            uint64_t nfull = e == size - 1 ? nblocks - blk : ((e + 1) >> FC_SNAP_BLOCK_SHIFT) - blk;
            if (fc__snap_repeat(w, FC_SNAP_FULL, nfull) < 0) return -1;
            blk += nfull;
            continue;
        }
        k = 0;
        for (;;) {
            uint64_t ce = e < last ? e : last;
            runs[2 * k] = (uint32_t)(s - bstart);
            runs[2 * k + 1] = (uint32_t)(ce - bstart);
            k++;
            if (e >= last || !fc__snap_next_run(sp, base, size, e + 1, &s, &e) || s > last) break;
        }
        if (fc__snap_flush(w) < 0) return -1;
        if (w->pos + 11 + 20 * k + FC_SNAP_SLACK > w->cap) return -1;
        fc__snap_block_runs(w, runs, k, bits, scratch);
        blk++;
    }
    if (fc__snap_flush(w) < 0) return -1;
    return (int64_t)w->pos;
}

/* bytes the body of the window [base, base + size) of sp can take */
static inline size_t fc_snap_bound_window(const fc_space *sp, uint64_t base, uint64_t size)
{
    uint64_t nruns = 0, p = 0, s, e;
    while (fc__snap_next_run(sp, base, size, p, &s, &e)) {
        nruns++;
        if (e >= size - 1) break;
        p = e + 1;
    }
    return (size_t)(64 * nruns + 22 * (nruns + 1) + FC_SNAP_SLACK);
}

/* the body of the window [base, base + size) of sp, as fc_snap_encode writes a whole space */
static inline int64_t fc_snap_encode_window(const fc_space *sp, uint64_t base, uint64_t size,
                                            unsigned char *out, size_t cap)
{
    fc__snap_out w;
    int64_t r;
    uint32_t *runs = (uint32_t *)malloc(sizeof(uint32_t) * FC_SNAP_BLOCK_BITS);
    uint64_t *scratch = (uint64_t *)malloc(sizeof(uint64_t) * FC_SNAP_BLOCK_WORDS);
    w.o = out;
    w.pos = 0;
    w.cap = cap;
    w.kind = FC_SNAP_FREE;
    w.n = 0;
    r = runs && scratch ? fc__snap_encode_runs(sp, base, size, &w, runs, scratch) : -2;
    free(runs);
    free(scratch);
    return r;
}

static inline int64_t fc_snap_encode(const fc_space *sp, unsigned char *out, size_t cap)
{
    fc__snap_out w;
    int64_t r;
    uint32_t *runs;
    uint64_t *scratch;
    w.o = out;
    w.pos = 0;
    w.cap = cap;
    w.kind = FC_SNAP_FREE;
    w.n = 0;
    if (!sp->sparse) return fc__snap_encode_dense(&sp->bm, &w, sp->size);
    runs = (uint32_t *)malloc(sizeof(uint32_t) * FC_SNAP_BLOCK_BITS);
    scratch = (uint64_t *)malloc(sizeof(uint64_t) * FC_SNAP_BLOCK_WORDS);
    r = runs && scratch ? fc__snap_encode_runs(sp, 0, sp->size, &w, runs, scratch) : -2;
    free(runs);
    free(scratch);
    return r;
}

/* ------------------------------------------------------------------ reading */

/* blocks [blk, blk + cnt) of the window all allocated: whole pages of a bitmap are filled, not
   set bit by bit, when the window is the whole space */
static inline int fc__snap_fill(fc_space *sp, uint64_t base, uint64_t size, uint64_t blk, uint64_t cnt)
{
    uint64_t start = blk << FC_SNAP_BLOCK_SHIFT, end, b;
    if (sp->sparse || base != 0 || size != sp->size) {
        end = blk + cnt == fc__snap_nblocks(size) ? size : (blk + cnt) << FC_SNAP_BLOCK_SHIFT;
        return fc_space_set_range(sp, base + start, end - start) < 0 ? -1 : 0;
    }
    for (b = blk; b < blk + cnt; b++)
        if (fc_bm_fill_page(&sp->bm, b) < 0) return -1;
    return 0;
}

/* every record is checked before it is applied, so a damaged body leaves a partly filled space
   that the caller throws away (it was never visible to anyone) */
static inline int fc_snap_read_window(fc_space *sp, uint64_t base, uint64_t size, const unsigned char *b,
                                      size_t n, uint64_t *used)
{
    uint64_t nblocks = fc__snap_nblocks(size), blk = 0, total = 0;
    int whole = base == 0 && size == sp->size && !sp->sparse; /* pages can be installed whole */
    uint64_t cnt, k, j, gap, len1, next, bstart;
    uint64_t words[FC_SNAP_BLOCK_WORDS];
    size_t i = 0;
    while (i < n) {
        unsigned char tag = b[i++];
        uint32_t bits;
        if (blk >= nblocks) return FC_SNAP_EBLOCKS;
        bits = fc__snap_block_bits(size, blk);
        bstart = blk << FC_SNAP_BLOCK_SHIFT;
        switch (tag) {
        case FC_SNAP_FREE:
            blk++;
            break;
        case FC_SNAP_FULL:
            if (fc__snap_fill(sp, base, size, blk, 1) < 0) return -1;
            total += bits;
            blk++;
            break;
        case FC_SNAP_FREE_N:
        case FC_SNAP_FULL_N:
            if (!fc__varint_get(b, n, &i, &cnt)) return FC_SNAP_EVARINT;
            if (cnt < 2) return FC_SNAP_ECOUNT;
            if (cnt > nblocks - blk) return FC_SNAP_EBLOCKS;
            if (tag == FC_SNAP_FULL_N) {
                if (fc__snap_fill(sp, base, size, blk, cnt) < 0) return -1;
                total += blk + cnt == nblocks ? size - bstart : cnt << FC_SNAP_BLOCK_SHIFT;
            }
            blk += cnt;
            break;
        case FC_SNAP_BITMAP: {
            uint32_t nw = (bits + 63) >> 6, p, s, e;
            if (n - i < (size_t)8 * nw) return FC_SNAP_ETRUNC;
            if ((bits & 63) && (fc_load_le64(b + i + 8 * (size_t)(nw - 1)) >> (bits & 63))) return FC_SNAP_EPAD;
            if (whole) {
                uint64_t before = sp->bm.count;
                if (fc_bm_load_page(&sp->bm, blk, b + i) < 0) return -1;
                total += sp->bm.count - before;
            } else {
                uint32_t wi;
                for (wi = 0; wi < nw; wi++) words[wi] = fc_load_le64(b + i + 8 * (size_t)wi);
                for (p = 0;;) {
                    s = fc__snap_scan(words, bits, p, 1);
                    if (s >= bits) break;
                    e = fc__snap_scan(words, bits, s, 0);
                    if (fc_space_set_range(sp, base + bstart + s, e - s) < 0) return -1;
                    total += e - s;
                    p = e;
                }
            }
            i += (size_t)8 * nw;
            blk++;
            break;
        }
        case FC_SNAP_RUNS:
            if (!fc__varint_get(b, n, &i, &k)) return FC_SNAP_EVARINT;
            if (k < 1 || k > (bits + 1) / 2) return FC_SNAP_ECOUNT;
            next = 0;
            for (j = 0; j < k; j++) {
                if (!fc__varint_get(b, n, &i, &gap) || !fc__varint_get(b, n, &i, &len1)) return FC_SNAP_EVARINT;
                if (gap >= bits || next + gap >= bits) return FC_SNAP_ERUN;
                next += gap;
                if (len1 >= bits - next) return FC_SNAP_ERUN;
                if (fc_space_set_range(sp, base + bstart + next, len1 + 1) < 0) return -1;
                total += len1 + 1;
                next += len1 + 2;
            }
            blk++;
            break;
        default:
            return FC_SNAP_ETAG;
        }
    }
    if (blk != nblocks) return FC_SNAP_ESHORT;
    *used = total;
    return FC_SNAP_OK;
}

static inline int fc_snap_read(fc_space *sp, const unsigned char *b, size_t n, uint64_t *used)
{
    return fc_snap_read_window(sp, 0, sp->size, b, n, used);
}

/* ------------------------------------------------------------------ version 1 */

static inline int fc_snap_check_v1(const unsigned char *b, uint64_t nruns, uint64_t size, uint64_t *used)
{
    uint64_t k, start, length, prev_end = 0, total = 0;
    for (k = 0; k < nruns; k++) {
        start = fc_load_le64(b + 16 * k);
        length = fc_load_le64(b + 16 * k + 8);
        if (length == 0) return FC_SNAP_EEMPTY;
        if (start >= size || length > size - start) return FC_SNAP_EOUTSIDE;
        if (k && start <= prev_end + 1) return FC_SNAP_EORDER;
        prev_end = start + length - 1;
        total += length; /* disjoint runs inside the range: cannot wrap */
    }
    *used = total;
    return FC_SNAP_OK;
}

static inline int fc_snap_load_v1(fc_space *sp, const unsigned char *b, uint64_t nruns)
{
    uint64_t k;
    for (k = 0; k < nruns; k++)
        if (fc_space_set_range(sp, fc_load_le64(b + 16 * k), fc_load_le64(b + 16 * k + 8)) < 0) return -1;
    return 0;
}

#endif /* FC_SNAPSHOT_H */
