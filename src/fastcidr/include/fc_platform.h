/* fc_platform.h - every compiler- or OS-specific piece of the C core, in one place.
 *
 * Plain C99, header only, no Python API. The other headers and the .pyx modules use only these
 * names, never a builtin, an intrinsic or an OS call directly.
 *
 *   int   fc_ctz64(uint64_t x)          trailing zero bits; x != 0
 *   int   fc_clz64(uint64_t x)          leading zero bits; 64 for x == 0
 *   int   fc_popcount64(uint64_t x)     one bits
 *   uint64_t fc_mulhi64(a, b)           high 64 bits of the 128-bit product
 *   fc_u128                             unsigned 128-bit integer (GCC/Clang, incl. clang-cl)
 *   uint64_t fc_u128_hi(x), fc_u128_lo(x)
 *   FC_PREFETCH(p), fc_prefetch(p)      read prefetch hint into all cache levels; never faults
 *   void *fc_big_calloc(size_t n)       zeroed memory; blocks of FC_HUGE bytes or more are
 *                                       FC_HUGE-aligned and advised for transparent huge pages
 *   void  fc_big_free(void *p, size_t n)  releases fc_big_calloc(n) (n: the size asked for)
 *   uint64_t fc_load_le64(p), void fc_store_le64(p, v)   little-endian words at any alignment
 *   void  fc_platform_init(void)        once per module, before the two below (under the import
 *                                       lock): probes the CPU for POPCNT and PCLMULQDQ
 *   uint64_t fc_popcount_words(w, n)    one bits in n words (the POPCNT instruction when the CPU
 *                                       has it: a build for any x86-64 otherwise calls libgcc)
 *   uint64_t fc_load_count_words(dst, src, n, &any_full)   n little-endian words from src to
 *                                       dst; returns their one bits, any_full = some word ~0
 *   uint64_t fc_run_starts(w, n, cap)   runs of ones that start in n words (a run going on
 *                                       from the word before w does not count); stops counting
 *                                       once cap is reached
 *   uint32_t fc_crc32(const void *p, size_t n)   CRC-32 as zlib.crc32(data) computes it; folded
 *                                       with carry-less multiplies (PCLMULQDQ) where the CPU has
 *                                       them (~10x zlib's table loop), else slice-by-8 tables
 *
 * Fallbacks: MSVC gets _BitScanForward64 / _BitScanReverse64 / __popcnt64 / _mm_prefetch and
 * _aligned_malloc; a compiler without any of these gets portable loops. Only the 128-bit integer
 * has no cheap fallback (the multi-CIDR counters do arithmetic on it): such a compiler is refused.
 */
#ifndef FC_PLATFORM_H
#define FC_PLATFORM_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#define FC_MSVC 1
#endif

/* ------------------------------------------------------------------ bit tricks */

#if defined(FC_MSVC)
static inline int fc_ctz64(uint64_t x)
{
    unsigned long i;
    _BitScanForward64(&i, x);
    return (int)i;
}
static inline int fc_clz64(uint64_t x)
{
    unsigned long i;
    if (!x) return 64;
    _BitScanReverse64(&i, x);
    return 63 - (int)i;
}
static inline int fc_popcount64(uint64_t x) { return (int)__popcnt64(x); }
#elif defined(__GNUC__) || defined(__clang__)
static inline int fc_ctz64(uint64_t x) { return __builtin_ctzll(x); }
static inline int fc_clz64(uint64_t x) { return x ? __builtin_clzll(x) : 64; }
static inline int fc_popcount64(uint64_t x) { return __builtin_popcountll(x); }
#else
static inline int fc_ctz64(uint64_t x)
{
    int n = 0;
    while (!(x & 1)) { x >>= 1; n++; }
    return n;
}
static inline int fc_clz64(uint64_t x)
{
    int n = 0;
    if (!x) return 64;
    while (!(x >> 63)) { x <<= 1; n++; }
    return n;
}
static inline int fc_popcount64(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ULL);
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
    return (int)((x * 0x0101010101010101ULL) >> 56);
}
#endif

/* ------------------------------------------------------------------ 128-bit integers */

#if defined(__SIZEOF_INT128__)
typedef unsigned __int128 fc_u128;
static inline uint64_t fc_u128_hi(fc_u128 x) { return (uint64_t)(x >> 64); }
static inline uint64_t fc_u128_lo(fc_u128 x) { return (uint64_t)x; }
static inline uint64_t fc_mulhi64(uint64_t a, uint64_t b) { return (uint64_t)(((fc_u128)a * b) >> 64); }
#else
#error "fastcidr's core needs a C compiler with unsigned __int128 (GCC or Clang; clang-cl on Windows)"
#endif

/* ------------------------------------------------------------------ prefetch */

/* A volatile asm on x86 GCC/Clang, because GCC treats __builtin_prefetch as free of side effects
   and then deletes a helper whose only effect is prefetching. */
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define FC_PREFETCH(p) __asm__ __volatile__("prefetcht0 %0" : : "m"(*(const char *)(p)))
#elif defined(__GNUC__) || defined(__clang__)
#define FC_PREFETCH(p) __builtin_prefetch((p), 0, 3)
#elif defined(FC_MSVC) && (defined(_M_X64) || defined(_M_IX86))
#include <xmmintrin.h>
#define FC_PREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#else
#define FC_PREFETCH(p) ((void)(p))
#endif

static inline void fc_prefetch(const void *p) { FC_PREFETCH(p); }

/* ------------------------------------------------------------------ big zeroed blocks */

#define FC_HUGE ((size_t)2 * 1024 * 1024)

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#endif

/* calloc that asks for transparent huge pages when the block is large: a random lookup among
   100,000 prefixes or CIDRs otherwise spends more time on TLB misses than on the work. */
static inline void *fc_big_calloc(size_t nbytes)
{
    void *p = NULL;
    if (nbytes < FC_HUGE) return calloc(1, nbytes ? nbytes : 1);
    nbytes = (nbytes + FC_HUGE - 1) / FC_HUGE * FC_HUGE;
#if defined(FC_MSVC)
    p = _aligned_malloc(nbytes, FC_HUGE);
    if (!p) return NULL;
#else
    if (posix_memalign(&p, FC_HUGE, nbytes) != 0) return NULL;
#if defined(MADV_HUGEPAGE)
    madvise(p, nbytes, MADV_HUGEPAGE); /* before the first touch; advisory: failure is harmless */
#endif
#endif
    memset(p, 0, nbytes);
    return p;
}

static inline void fc_big_free(void *p, size_t nbytes)
{
#if defined(FC_MSVC)
    if (nbytes >= FC_HUGE) {
        _aligned_free(p);
        return;
    }
#endif
    (void)nbytes;
    free(p);
}

/* ------------------------------------------------------------------ little-endian words */

#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define FC_BIG_ENDIAN 1
#endif

static inline uint64_t fc_load_le64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(FC_BIG_ENDIAN)
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline void fc_store_le64(void *p, uint64_t v)
{
#if defined(FC_BIG_ENDIAN)
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}

/* ------------------------------------------------------------------ CRC-32 (zlib's) */

/* Snapshots are checksummed with zlib's CRC-32 so that the pure-Python twin can use zlib.crc32;
   zlib's own loop (~3 GB/s) would cost more than the rest of a snapshot, hence the folding. */
static uint32_t fc__crc_table[8][256];
static int fc__crc_fold, fc__popcnt, fc__avx2;

static inline uint32_t fc__crc32_tables(uint32_t crc, const unsigned char *p, size_t n)
{
    while (n && ((uintptr_t)p & 7)) {
        crc = fc__crc_table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
        n--;
    }
    while (n >= 8) {
        uint64_t w = fc_load_le64(p) ^ crc;
        crc = fc__crc_table[7][w & 0xFF] ^ fc__crc_table[6][(w >> 8) & 0xFF] ^
              fc__crc_table[5][(w >> 16) & 0xFF] ^ fc__crc_table[4][(w >> 24) & 0xFF] ^
              fc__crc_table[3][(w >> 32) & 0xFF] ^ fc__crc_table[2][(w >> 40) & 0xFF] ^
              fc__crc_table[1][(w >> 48) & 0xFF] ^ fc__crc_table[0][w >> 56];
        p += 8;
        n -= 8;
    }
    while (n--) crc = fc__crc_table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return crc;
}

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#include <immintrin.h>
#define FC_HAVE_CRC_FOLD 1
/* Folding by carry-less multiplication in the bit-reflected domain (Gopal et al., "Fast CRC
   Computation for Generic Polynomials Using PCLMULQDQ", Intel 2009). The constants are
   x^k mod P(x) for the fold distances 512+64/512 (k1/k2), 128+64/128 (k3/k4), 64 (k5) and the
   Barrett pair (P, mu) of the CRC-32 polynomial, all reflected. `crc` is the running register
   (already inverted); n >= 64 and a multiple of 16. */
__attribute__((target("pclmul,sse4.1"), unused))
static uint32_t fc__crc32_fold(uint32_t crc, const unsigned char *p, size_t n)
{
    const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596LL, 0x0154442bd4LL);
    const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009eLL, 0x01751997d0LL);
    const __m128i k5 = _mm_set_epi64x(0, 0x0163cd6124LL);
    const __m128i poly = _mm_set_epi64x(0x01f7011641LL, 0x01db710641LL);
    const __m128i low32 = _mm_setr_epi32(~0, 0, ~0, 0);
    __m128i a = _mm_loadu_si128((const __m128i *)p);
    __m128i b = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i c = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i d = _mm_loadu_si128((const __m128i *)(p + 48));
    __m128i t;
    a = _mm_xor_si128(a, _mm_cvtsi32_si128((int)crc));
    p += 64;
    n -= 64;
    /* four independent lanes, 64 bytes per step */
    while (n >= 64) {
        __m128i ta = _mm_clmulepi64_si128(a, k1k2, 0x00), tb = _mm_clmulepi64_si128(b, k1k2, 0x00);
        __m128i tc = _mm_clmulepi64_si128(c, k1k2, 0x00), td = _mm_clmulepi64_si128(d, k1k2, 0x00);
        a = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(a, k1k2, 0x11), ta),
                          _mm_loadu_si128((const __m128i *)p));
        b = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(b, k1k2, 0x11), tb),
                          _mm_loadu_si128((const __m128i *)(p + 16)));
        c = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(c, k1k2, 0x11), tc),
                          _mm_loadu_si128((const __m128i *)(p + 32)));
        d = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(d, k1k2, 0x11), td),
                          _mm_loadu_si128((const __m128i *)(p + 48)));
        p += 64;
        n -= 64;
    }
    /* the four lanes into one, then 16 bytes at a time */
    t = _mm_clmulepi64_si128(a, k3k4, 0x00);
    a = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(a, k3k4, 0x11), t), b);
    t = _mm_clmulepi64_si128(a, k3k4, 0x00);
    a = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(a, k3k4, 0x11), t), c);
    t = _mm_clmulepi64_si128(a, k3k4, 0x00);
    a = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(a, k3k4, 0x11), t), d);
    while (n >= 16) {
        t = _mm_clmulepi64_si128(a, k3k4, 0x00);
        a = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(a, k3k4, 0x11), t),
                          _mm_loadu_si128((const __m128i *)p));
        p += 16;
        n -= 16;
    }
    /* 128 -> 64 -> 32 bits, then Barrett reduction */
    t = _mm_clmulepi64_si128(a, k3k4, 0x10);
    a = _mm_xor_si128(_mm_srli_si128(a, 8), t);
    t = _mm_srli_si128(a, 4);
    a = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(a, low32), k5, 0x00), t);
    t = _mm_and_si128(a, low32);
    t = _mm_clmulepi64_si128(t, poly, 0x10);
    t = _mm_and_si128(t, low32);
    t = _mm_clmulepi64_si128(t, poly, 0x00);
    a = _mm_xor_si128(a, t);
    return (uint32_t)_mm_extract_epi32(a, 1);
}
#endif

static inline uint64_t fc__popcount_words_any(const uint64_t *w, size_t n)
{
    uint64_t total = 0;
    size_t i;
    for (i = 0; i < n; i++) total += (uint64_t)fc_popcount64(w[i]);
    return total;
}

static inline uint64_t fc__run_starts_any(const uint64_t *w, size_t n, uint64_t cap)
{
    uint64_t k = 0, carry = 0;
    size_t i, j;
    for (i = 0; i < n && k < cap; i += 64) {
        size_t end = i + 64 < n ? i + 64 : n;
        for (j = i; j < end; j++) {
            k += (uint64_t)fc_popcount64(w[j] & ~((w[j] << 1) | carry));
            carry = w[j] >> 63;
        }
    }
    return k;
}

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define FC_HAVE_POPCNT_TARGET 1
__attribute__((target("popcnt"), unused))
static uint64_t fc__popcount_words_hw(const uint64_t *w, size_t n)
{
    uint64_t a = 0, b = 0;
    size_t i;
    for (i = 0; i + 1 < n; i += 2) {
        a += (uint64_t)__builtin_popcountll(w[i]);
        b += (uint64_t)__builtin_popcountll(w[i + 1]);
    }
    if (i < n) a += (uint64_t)__builtin_popcountll(w[i]);
    return a + b;
}

__attribute__((target("popcnt"), unused))
static uint64_t fc__run_starts_hw(const uint64_t *w, size_t n, uint64_t cap)
{
    uint64_t k = 0;
    size_t i, j;
    for (i = 0; i < n && k < cap; i += 64) {
        size_t end = i + 64 < n ? i + 64 : n;
        for (j = i; j < end; j++) {
            uint64_t before = j ? w[j - 1] >> 63 : 0;
            k += (uint64_t)__builtin_popcountll(w[j] & ~((w[j] << 1) | before));
        }
    }
    return k;
}

/* AVX2: bytes counted by a 16-entry nibble table (Mula, Kurz, Lemire, "Faster population counts
   using AVX2 instructions", 2018); for run starts each word first loses the ones that continue
   a run from the bit below. The byte counters are summed before they can overflow. */
__attribute__((target("avx2"), unused))
static uint64_t fc__ones_avx2(const uint64_t *w, size_t n, int starts, uint64_t cap)
{
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    __m256i acc = _mm256_setzero_si256();
    uint64_t total = 0, lanes[4];
    size_t i = 0, j;
    if (starts && n) { /* word 0 has no word below it */
        total = (uint64_t)__builtin_popcountll(w[0] & ~(w[0] << 1));
        i = 1;
    }
    while (i + 4 <= n) {
        __m256i bytes = _mm256_setzero_si256();
        size_t stop = i + 4 * 28 < n ? i + 4 * 28 : n; /* 28 steps of at most 8 per byte: < 256 */
        for (; i + 4 <= stop; i += 4) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(w + i));
            if (starts) {
                __m256i below = _mm256_loadu_si256((const __m256i *)(w + i - 1));
                v = _mm256_andnot_si256(_mm256_or_si256(_mm256_slli_epi64(v, 1), _mm256_srli_epi64(below, 63)), v);
            }
            bytes = _mm256_add_epi8(bytes, _mm256_add_epi8(
                _mm256_shuffle_epi8(lut, _mm256_and_si256(v, nibble)),
                _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble))));
        }
        acc = _mm256_add_epi64(acc, _mm256_sad_epu8(bytes, _mm256_setzero_si256()));
        if (starts) {
            _mm256_storeu_si256((__m256i *)lanes, acc);
            if (total + lanes[0] + lanes[1] + lanes[2] + lanes[3] >= cap) break;
        }
    }
    _mm256_storeu_si256((__m256i *)lanes, acc);
    total += lanes[0] + lanes[1] + lanes[2] + lanes[3];
    for (j = i; j < n && !(starts && total >= cap); j++)
        total += (uint64_t)__builtin_popcountll(starts ? w[j] & ~((w[j] << 1) | (w[j - 1] >> 63)) : w[j]);
    return total;
}

__attribute__((target("avx2"), unused))
static uint64_t fc__load_count_avx2(uint64_t *dst, const unsigned char *src, size_t n, int *any_full)
{
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i nibble = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi8(-1);
    __m256i acc = _mm256_setzero_si256(), full = _mm256_setzero_si256();
    uint64_t total = 0, lanes[4];
    size_t i = 0, j;
    while (i + 4 <= n) {
        __m256i bytes = _mm256_setzero_si256();
        size_t stop = i + 4 * 28 < n ? i + 4 * 28 : n;
        for (; i + 4 <= stop; i += 4) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(src + 8 * i));
            _mm256_storeu_si256((__m256i *)(dst + i), v);
            full = _mm256_or_si256(full, _mm256_cmpeq_epi64(v, ones));
            bytes = _mm256_add_epi8(bytes, _mm256_add_epi8(
                _mm256_shuffle_epi8(lut, _mm256_and_si256(v, nibble)),
                _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble))));
        }
        acc = _mm256_add_epi64(acc, _mm256_sad_epu8(bytes, _mm256_setzero_si256()));
    }
    _mm256_storeu_si256((__m256i *)lanes, acc);
    total = lanes[0] + lanes[1] + lanes[2] + lanes[3];
    *any_full = !_mm256_testz_si256(full, full);
    for (j = i; j < n; j++) {
        dst[j] = fc_load_le64(src + 8 * j);
        total += (uint64_t)__builtin_popcountll(dst[j]);
        if (dst[j] == ~0ULL) *any_full = 1;
    }
    return total;
}
#endif /* x86_64: the popcnt and AVX2 variants */

static inline uint64_t fc_popcount_words(const uint64_t *w, size_t n)
{
#if defined(FC_HAVE_POPCNT_TARGET)
    if (fc__avx2) return fc__ones_avx2(w, n, 0, 0);
    if (fc__popcnt) return fc__popcount_words_hw(w, n);
#endif
    return fc__popcount_words_any(w, n);
}

static inline uint64_t fc_run_starts(const uint64_t *w, size_t n, uint64_t cap)
{
#if defined(FC_HAVE_POPCNT_TARGET)
    if (fc__avx2) return fc__ones_avx2(w, n, 1, cap);
    if (fc__popcnt) return fc__run_starts_hw(w, n, cap);
#endif
    return fc__run_starts_any(w, n, cap);
}

static inline uint64_t fc_load_count_words(uint64_t *dst, const unsigned char *src, size_t n, int *any_full)
{
    size_t j;
    uint64_t none_full = 1;
#if defined(FC_HAVE_POPCNT_TARGET) && !defined(FC_BIG_ENDIAN)
    if (fc__avx2) return fc__load_count_avx2(dst, src, n, any_full);
#endif
    for (j = 0; j < n; j++) {
        uint64_t t;
        dst[j] = fc_load_le64(src + 8 * j);
        t = ~dst[j];
        none_full &= (t | (0 - t)) >> 63; /* 1 iff t != 0 */
    }
    *any_full = !none_full;
    return fc_popcount_words(dst, n);
}

static inline void fc_platform_init(void)
{
    uint32_t i, j, c;
    for (i = 0; i < 256; i++) {
        c = i;
        for (j = 0; j < 8; j++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
        fc__crc_table[0][i] = c;
    }
    for (i = 0; i < 256; i++)
        for (j = 1; j < 8; j++)
            fc__crc_table[j][i] = (fc__crc_table[j - 1][i] >> 8) ^ fc__crc_table[0][fc__crc_table[j - 1][i] & 0xFF];
#if defined(FC_HAVE_CRC_FOLD) || defined(FC_HAVE_POPCNT_TARGET)
    __builtin_cpu_init();
#endif
#if defined(FC_HAVE_CRC_FOLD)
    fc__crc_fold = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#endif
#if defined(FC_HAVE_POPCNT_TARGET)
    fc__popcnt = __builtin_cpu_supports("popcnt");
    fc__avx2 = __builtin_cpu_supports("avx2") && fc__popcnt;
#endif
}

static inline uint32_t fc_crc32(const void *data, size_t n)
{
    const unsigned char *p = (const unsigned char *)data;
    uint32_t crc = 0xFFFFFFFFu;
#if defined(FC_HAVE_CRC_FOLD)
    if (fc__crc_fold && n >= 64) {
        size_t bulk = n & ~(size_t)15;
        crc = fc__crc32_fold(crc, p, bulk);
        p += bulk;
        n -= bulk;
    }
#endif
    return ~fc__crc32_tables(crc, p, n);
}

#endif /* FC_PLATFORM_H */
