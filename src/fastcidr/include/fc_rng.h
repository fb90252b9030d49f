/* fc_rng.h - the random generator of docs/ALGORITHMS.md: splitmix64-seeded xoshiro256**.
 *
 * Plain C99, header only, no Python API. Identical to Xoshiro256 in _core_twin.py.
 *
 *   fc_rng                          {uint64_t s[4]}: the whole state (travels in snapshots)
 *   void     fc_rng_seed(fc_rng *r, uint64_t seed)   four successive splitmix64 outputs
 *   uint64_t fc_rng_next(fc_rng *r)                   one xoshiro256** output
 *   uint64_t fc_rng_bounded(fc_rng *r, uint64_t n)    (next() * n) >> 64, a draw in [0, n)
 *                                                    for 1 <= n <= 2^64-1 (n == 0 returns 0
 *                                                    and still draws once; do not rely on it)
 *   uint64_t fc_rng_bounded_pow64(fc_rng *r)          bounded(2^64) == next()
 *   uint64_t fc_mulhi64(uint64_t a, uint64_t b)        high 64 bits of a 128-bit product
 *   uint64_t fc_splitmix64(uint64_t *x)                advances *x, returns the output
 */
#ifndef FC_RNG_H
#define FC_RNG_H

#include <stdint.h>

#include "fc_platform.h" /* fc_mulhi64 */

typedef struct {
    uint64_t s[4];
} fc_rng;

static inline uint64_t fc_splitmix64(uint64_t *x)
{
    uint64_t z;
    *x += 0x9E3779B97F4A7C15ULL;
    z = *x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline void fc_rng_seed(fc_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    r->s[0] = fc_splitmix64(&x);
    r->s[1] = fc_splitmix64(&x);
    r->s[2] = fc_splitmix64(&x);
    r->s[3] = fc_splitmix64(&x);
}

static inline uint64_t fc__rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t fc_rng_next(fc_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = fc__rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = fc__rotl64(s[3], 45);
    return result;
}

static inline uint64_t fc_rng_bounded(fc_rng *r, uint64_t n) { return fc_mulhi64(fc_rng_next(r), n); }

static inline uint64_t fc_rng_bounded_pow64(fc_rng *r) { return fc_rng_next(r); }

#endif /* FC_RNG_H */
