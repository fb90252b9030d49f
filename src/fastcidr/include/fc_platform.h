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

#endif /* FC_PLATFORM_H */
