/* state/state_hll.h — the 64-bit byte-string hash used by the state tables
 * and lists, and dense HyperLogLog sketches (p = 12: 4096 four-bit
 * registers in 2 KiB, standard error 1.04/sqrt(4096) = 1.6%) with Ertl's
 * improved estimator (no bias tables, accurate from 0 to ~10^8).
 * Everything here is pure: no allocation, no global state. */
#ifndef WARDEN_STATE_STATE_HLL_H
#define WARDEN_STATE_STATE_HLL_H

#include <stddef.h>
#include <stdint.h>

/* A fast, well-mixed 64-bit hash of data[0..len) (all output bits are
 * usable: HLL takes the top bits, tables the low ones).  Stable across
 * runs and builds of the same version: it is persisted in snapshots. */
uint64_t wd_hash64(const void *data, size_t len, uint64_t seed);

#define STATE_HLL_P      12
#define STATE_HLL_M      (1u << STATE_HLL_P)      /* registers */
#define STATE_HLL_Q      14                     /* hash bits for the rank */
#define STATE_HLL_BYTES  (STATE_HLL_M / 2)        /* two registers a byte */

/* Adds a 64-bit hash to the sketch regs[STATE_HLL_BYTES] (zeroed when empty).
 * Returns 1 when a register changed. */
int state_hll_add(uint8_t *regs, uint64_t hash);
/* dst = register-wise max(dst, src): the sketch of the union. */
void state_hll_merge(uint8_t *dst, const uint8_t *src);
/* Estimated number of distinct hashes added. */
double state_hll_estimate(const uint8_t *regs);

#endif
