/* Hash and HyperLogLog.  See state/state_hll.h.
 *
 * The hash reads 16 bytes per step and folds them with a 64x64→128-bit
 * multiply, then finishes with a murmur-style avalanche, so short keys
 * (user ids, IPs) cost a handful of cycles and every output bit depends on
 * every input bit.
 *
 * The estimator is Otmar Ertl's "improved raw estimator" (New cardinality
 * estimation algorithms for HyperLogLog sketches, 2017, algorithm 6): it
 * uses the register histogram, needs no empirical bias correction and is
 * unbiased from tiny to huge cardinalities. */
#include "state/state_hll.h"

#include <math.h>
#include <string.h>

static inline uint64_t rd64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t rd32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t fold(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

#define K0 0x9e3779b97f4a7c15ull
#define K1 0xbf58476d1ce4e5b9ull
#define K2 0x94d049bb133111ebull
#define K3 0xd6e8feb86659fd93ull

uint64_t wd_hash64(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = fold(seed ^ K0, (uint64_t)len ^ K1);
    size_t n = len;
    while (n > 16) {
        h = fold(rd64(p) ^ K1, rd64(p + 8) ^ h ^ K2);
        p += 16;
        n -= 16;
    }
    uint64_t a = 0, b = 0;
    if (n >= 8) {
        a = rd64(p);
        b = rd64(p + n - 8);
    } else if (n >= 4) {
        a = rd32(p);
        b = rd32(p + n - 4);
    } else if (n > 0) {
        a = ((uint64_t)p[0] << 16) | ((uint64_t)p[n >> 1] << 8) | p[n - 1];
    }
    h = fold(a ^ h ^ K3, b ^ K2);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

/* Register index: the top P bits; rank: leading zeros of the next Q bits
 * plus one (Q + 1 when they are all zero), so registers hold 0..15. */
int state_hll_add(uint8_t *regs, uint64_t hash)
{
    uint32_t idx = (uint32_t)(hash >> (64 - STATE_HLL_P));
    uint64_t w = (hash >> (64 - STATE_HLL_P - STATE_HLL_Q)) & ((1u << STATE_HLL_Q) - 1);
    unsigned rank = w ? (unsigned)__builtin_clzll(w) - (64 - STATE_HLL_Q) + 1 : STATE_HLL_Q + 1;
    uint8_t *r = &regs[idx >> 1];
    unsigned shift = (idx & 1) * 4;
    unsigned cur = (*r >> shift) & 15;
    if (rank <= cur)
        return 0;
    *r = (uint8_t)((*r & ~(15u << shift)) | (rank << shift));
    return 1;
}

void state_hll_merge(uint8_t *dst, const uint8_t *src)
{
    for (size_t i = 0; i < STATE_HLL_BYTES; i++) {
        unsigned a = dst[i], b = src[i];
        unsigned lo = (a & 15) > (b & 15) ? (a & 15) : (b & 15);
        unsigned hi = (a & 240) > (b & 240) ? (a & 240) : (b & 240);
        dst[i] = (uint8_t)(lo | hi);
    }
}

static double sigma(double x)
{
    if (x == 1.0)
        return INFINITY;
    double y = 1.0, z = x, zp;
    do {
        x *= x;
        zp = z;
        z += x * y;
        y += y;
    } while (z != zp);
    return z;
}

static double tau(double x)
{
    if (x == 0.0 || x == 1.0)
        return 0.0;
    double y = 1.0, z = 1.0 - x, zp;
    do {
        x = sqrt(x);
        zp = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
    } while (z != zp);
    return z / 3.0;
}

double state_hll_estimate(const uint8_t *regs)
{
    unsigned c[STATE_HLL_Q + 2] = { 0 };
    for (size_t i = 0; i < STATE_HLL_BYTES; i++) {
        c[regs[i] & 15]++;
        c[regs[i] >> 4]++;
    }
    const double m = STATE_HLL_M;
    if (c[0] == STATE_HLL_M)
        return 0.0;
    double z = m * tau(1.0 - c[STATE_HLL_Q + 1] / m);
    for (int k = STATE_HLL_Q; k >= 1; k--)
        z = 0.5 * (z + c[k]);
    z += m * sigma(c[0] / m);
    return (m * m / z) / (2.0 * log(2.0));
}
