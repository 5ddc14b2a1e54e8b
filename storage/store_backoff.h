/* storage/store_backoff.h — exponential backoff with jitter for the sinks'
 * retry loops: the n-th delay is uniform in [d/2, d] with d = min(max,
 * base * 2^n), so writers that lost the same server do not retry in step. */
#ifndef WARDEN_STORAGE_STORE_BACKOFF_H
#define WARDEN_STORAGE_STORE_BACKOFF_H

#include <stdint.h>

typedef struct store_backoff {
    uint32_t base_ms;
    uint32_t max_ms;
    uint32_t attempt;   /* delays handed out since the last reset */
    uint64_t rng;       /* xorshift state, never 0 */
} store_backoff_t;

/* seed 0 picks one from the clock. */
void store_backoff_init(store_backoff_t *b, uint32_t base_ms, uint32_t max_ms, uint64_t seed);
/* The next delay in ms (and counts the attempt). */
uint32_t store_backoff_next(store_backoff_t *b);
/* After a success: the next delay starts from base again. */
void store_backoff_reset(store_backoff_t *b);

#endif
