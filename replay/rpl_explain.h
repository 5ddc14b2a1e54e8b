/* replay/rpl_explain.h — `warden explain`: one event's verdicts rebuilt
 * from just enough history (its warm-up) and evaluated with tracing on,
 * then compared with the hits a results store recorded for it.  The
 * caller feeds the history in the order the service evaluated it and the
 * target last; this module owns the engine, the warm-up bound, the trace
 * and the report (docs/replay.md, "warden explain"). */
#ifndef WARDEN_REPLAY_RPL_EXPLAIN_H
#define WARDEN_REPLAY_RPL_EXPLAIN_H

#include <stddef.h>
#include <stdint.h>

#include "base/wd_buf.h"
#include "base/wd_config.h"
#include "engine/eng_engine.h"
#include "storage/store_lookup.h"

typedef struct rpl_explain rpl_explain_t;

typedef struct rpl_explain_opts {
    eng_opts_t  eng;
    const char *rules;       /* the pack directory (required) */
    int64_t     warmup_ms;   /* < 0: the default (rpl_explain_new) */
} rpl_explain_opts_t;

/* Loads the pack.  The default warm-up is the longest counter window plus
 * that window's bucket granularity (a window read at t reaches back to a
 * bucket starting up to one granule before t - W, docs/state.md), or the
 * longest literal label ttl of the pack's ctx.label calls when longer.
 * Returns NULL with the load errors in errstr. */
rpl_explain_t *rpl_explain_new(const rpl_explain_opts_t *o, char *errstr, size_t errstr_size);
void rpl_explain_destroy(rpl_explain_t *x);

int64_t rpl_explain_warmup_ms(const rpl_explain_t *x);
eng_engine_t *rpl_explain_engine(rpl_explain_t *x);

/* Reads the target's event time (as the engine will).  Returns 0 with
 * *start_ms = time - warm-up, or 1 when the event has no usable time (it
 * will be rejected: no history is needed). */
int rpl_explain_aim(rpl_explain_t *x, const char *buf, size_t len, const eng_src_t *src,
                    int64_t *start_ms);

/* One event evaluated before the target, untraced: state only.  Events
 * older than the start (rpl_explain_aim) are counted and skipped.  Returns
 * 0, or -1 on an internal failure. */
int rpl_explain_history(rpl_explain_t *x, const char *buf, size_t len, const eng_src_t *src,
                        char *errstr, size_t errstr_size);

/* The target, evaluated with tracing on.  Returns 0 or -1 (internal). */
int rpl_explain_target(rpl_explain_t *x, const char *buf, size_t len, const eng_src_t *src,
                       char *errstr, size_t errstr_size);
/* The target's event id (after rpl_explain_target), for the store lookup. */
const char *rpl_explain_event_id(const rpl_explain_t *x);

/* Kafka: the event at topic/partition/offset and its history, read the
 * way warden run met them.  warden run keeps state per slot — partition N
 * of every input topic when they are co-partitioned (same partition
 * count), else the topic-partition alone — so the history is that slot's
 * messages from the warm-up's start (offsets-for-times), handed on in
 * run's order (message timestamp, then the raw origin, then the topic
 * name), up to the target.  An assigned consumer, no group, no commits,
 * read_committed.  Returns 0, or -1 with a message: offset out of range
 * (naming the partition's offsets), not a committed message, broker
 * errors. */
int rpl_explain_kafka(rpl_explain_t *x, const wd_config_t *cfg, const char *const *topics,
                      size_t ntopics, const char *topic, int32_t partition, int64_t offset,
                      char *errstr, size_t errstr_size);

/* What was read, as a JSON value (copied), for the report. */
void rpl_explain_set_input(rpl_explain_t *x, const char *json);
/* The store looked up (its redacted URL) and the run id; then each row. */
void rpl_explain_set_store(rpl_explain_t *x, const char *store, const char *run_id);
int rpl_explain_recorded(void *x, const store_result_t *row);   /* a store_result_fn */
/* 1 when rpl_explain_recorded stopped because a row could not be kept. */
int rpl_explain_oom(const rpl_explain_t *x);

/* 1 every rule reproduced its recorded hit (or recorded none and made
 * none), 0 some did not, -1 nothing to compare (no store). */
int rpl_explain_reproduced(const rpl_explain_t *x);

/* The report: JSON (one object, the shape in docs/replay.md) or text. */
void rpl_explain_json(const rpl_explain_t *x, wd_buf_t *b);
void rpl_explain_text(const rpl_explain_t *x, wd_buf_t *b);

#endif
