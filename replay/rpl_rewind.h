/* replay/rpl_rewind.h — the state half of `warden rewind`: every state
 * slot's counters and labels as of a time, rebuilt by evaluating the slot's
 * retained input of the warm-up window [to − warmup, to) through the live
 * pack (state only: hits, actions and errors are dropped), with the same
 * bounds as `warden replay --from to`.  docs/replay.md ("Rewind"). */
#ifndef WARDEN_REPLAY_RPL_REWIND_H
#define WARDEN_REPLAY_RPL_REWIND_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/eng_engine.h"
#include "replay/rpl_kafka.h"
#include "state/state.h"

/* The state slot of a message's topic-partition, or -1 (not an input). */
typedef long (*rpl_slot_fn)(void *ud, const char *topic, int32_t partition);

typedef struct rpl_rebuild_counts {
    uint64_t read;        /* messages in the offset ranges */
    uint64_t evaluated;   /* of them, through the engine (rejected ones included) */
    uint64_t before;      /* event time before to − warmup: never evaluated */
    uint64_t rejected;    /* the engine refused them (malformed, no stream, bad time) */
    uint64_t unrouted;    /* a stream the pack does not know */
} rpl_rebuild_counts_t;

/* Reads in (opened for [start_ms, to)) to its end and evaluates each event
 * whose event time is at or after start_ms through e into
 * states[slot_of(topic, partition)], in the reader's order (offset order
 * within a partition, event time across).  Returns 0, 1 when stopped
 * (*stop), -1 with errstr. */
int rpl_rebuild(rpl_kafka_t *in, eng_engine_t *e, const eng_opts_t *eo, int64_t start_ms,
                state_t **states, size_t nstates, rpl_slot_fn slot_of, void *ud,
                volatile sig_atomic_t *stop, rpl_rebuild_counts_t *out, char *errstr,
                size_t errstr_size);

#endif
