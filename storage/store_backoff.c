/* storage/store_backoff.c — exponential backoff with jitter
 * (storage/store_backoff.h). */
#include "storage/store_backoff.h"

#include "base/wd_util.h"

void store_backoff_init(store_backoff_t *b, uint32_t base_ms, uint32_t max_ms, uint64_t seed)
{
    if (seed == 0) {
        uint64_t ns = wd_now_ns();
        seed = ns * 0x9E3779B97F4A7C15ull ^ (ns >> 30) ^ (uint64_t)(uintptr_t)b;
    }
    b->base_ms = base_ms ? base_ms : 1;
    b->max_ms = max_ms < b->base_ms ? b->base_ms : max_ms;
    b->attempt = 0;
    b->rng = seed ? seed : 0x2545F4914F6CDD1Dull;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

uint32_t store_backoff_next(store_backoff_t *b)
{
    uint64_t d = b->base_ms;
    for (uint32_t i = 0; i < b->attempt && d < b->max_ms; i++)
        d *= 2;
    if (d > b->max_ms)
        d = b->max_ms;
    if (b->attempt < UINT32_MAX)
        b->attempt++;
    uint64_t half = d / 2;
    return (uint32_t)(d - half + xorshift(&b->rng) % (half + 1));
}

void store_backoff_reset(store_backoff_t *b)
{
    b->attempt = 0;
}
