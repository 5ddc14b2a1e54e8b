/* state/state.h — rule state for one owner (the engine, or one Kafka
 * partition): windowed counters (minute/hour/day bucket cascade), distinct
 * counts (exact sets, then HyperLogLog), entity labels with a TTL, LRU
 * eviction under a byte ceiling, expiry by event time, and versioned,
 * checksummed snapshots.  Driven by event time only: the same calls in the
 * same order give the same answers.  Not thread-safe: one owner at a time.
 * Semantics and memory costs: docs/state.md. */
#ifndef WARDEN_STATE_STATE_H
#define WARDEN_STATE_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "base/wd_buf.h"

typedef struct state state_t;

/* A counter as declared in counters.lua (rules/rule_counters.h makes these).
 * All strings are copied by state_new; stream, key and distinct feed the
 * spec fingerprint that snapshots are checked against. */
typedef struct state_counter_def {
    const char    *name;
    const char    *stream;
    const char    *key;         /* key field path */
    const char    *distinct;    /* distinct field path; NULL for a plain counter */
    const int64_t *windows_ms;  /* whole minutes, 1m .. 366d, no repeats */
    size_t         nwindows;
} state_counter_def_t;

/* Return codes of the calls below (negative: errors). */
enum state_rc {
    STATE_OK         = 0,
    STATE_SKIPPED    = 1,   /* add: older than the counter's longest window; not counted */
    STATE_ENOCOUNTER = -1,  /* no counter with that index */
    STATE_EKIND      = -2,  /* count on a distinct counter, or the reverse */
    STATE_EWINDOW    = -3,  /* the window is not one the counter declared */
    STATE_ENOMEM     = -4,  /* out of memory; the state is unchanged */
    STATE_EKEY       = -5,  /* key or value longer than STATE_MAX_KEY */
    STATE_ETOOBIG    = -6,  /* a snapshot size limit below an empty snapshot */
};
#define STATE_MAX_KEY (1u << 20)
/* Event times are within ±STATE_TS_LIMIT_MS (10^15 ms, year ~33,600): the
 * engine refuses events beyond, and a snapshot or changelog record whose
 * clock lies beyond cannot have come from real events and is refused. */
#define STATE_TS_LIMIT_MS 1000000000000000LL

/* "window is not declared by the counter", … (static strings). */
const char *state_strerror(int rc);

/* Builds an empty state for these counters (index i in every call below is
 * the position in defs).  max_bytes: ceiling for the accounted state size,
 * 0 for none.  Returns NULL with a message in errstr for bad defs (a bad
 * window, a repeated name) or out of memory. */
state_t *state_new(const state_counter_def_t *defs, size_t ndefs, size_t max_bytes,
                           char *errstr, size_t errstr_size);
/* An empty state with the same counters and ceiling as proto (one per Kafka
 * partition).  NULL only when out of memory. */
state_t *state_new_like(const state_t *proto);
void state_destroy(state_t *st);

/* Index of the counter named name, or -1. */
int state_counter_index(const state_t *st, const char *name);
size_t state_ncounters(const state_t *st);
/* Fingerprint of the counter specs (names, streams, keys, distinct, windows). */
uint64_t state_fingerprint(const state_t *st);
void state_set_max_bytes(state_t *st, size_t max_bytes);

/* Moves the state's clock (the newest event time seen) forward to ts_ms if
 * it is later.  The engine calls it once per event, before the counters;
 * state_add does it too.  The clock decides which events are too late
 * to count and which keys and labels have expired; it never goes back. */
void state_advance(state_t *st, int64_t ts_ms);
int64_t state_clock(const state_t *st);   /* INT64_MIN before any event */

/* Counts one event at ts_ms for key[0..klen) in plain counter i.  Returns
 * STATE_OK, STATE_SKIPPED (older than the counter's longest window
 * at the clock: not counted, stats.late_skipped counts it) or an error
 * (state unchanged).  Hot path: a hash lookup and the key's 64-byte header
 * line when the event falls in the key's newest minute; the bucket rings
 * when the key's newest minute moves on; allocation only for a new key. */
int state_add(state_t *st, size_t i, const char *key, size_t klen, int64_t ts_ms);
/* The same for distinct counter i with the distinct value val[0..vlen). */
int state_add_distinct(state_t *st, size_t i, const char *key, size_t klen,
                           const char *val, size_t vlen, int64_t ts_ms);

/* Events of plain counter i for key in window window_ms read at event time
 * now_ms: with g = 1m for W <= 1h, 1h for W <= 1d, else 1d, and t_g = now
 * floored to g, it counts the events whose g-bucket start b satisfies
 * t_g - W < b <= t_g.  Exact for reads at or after the key's newest event,
 * and for earlier reads as long as the window lies within the buckets kept
 * (at least 4 minutes, 2 hours or 1 day behind the newest; docs/state.md).
 * O(1) when now_ms is in the key's newest g-bucket (a read right after the
 * event counted), else a sum of up to ceil(W/g) buckets.  Returns the count
 * (>= 0) or a negative enum state_rc (STATE_EWINDOW for a window
 * the counter did not declare).  Reads mark the key as recently used. */
int64_t state_count(state_t *st, size_t i, const char *key, size_t klen,
                        int64_t window_ms, int64_t now_ms);
/* Distinct values of distinct counter i for key over the same buckets:
 * exact while every bucket read holds at most 64 values, else a HyperLogLog
 * estimate (1.6% standard error), rounded. */
int64_t state_distinct(state_t *st, size_t i, const char *key, size_t klen,
                           int64_t window_ms, int64_t now_ms);
/* Work done by the reads above so far, in units of about one Lua
 * instruction (a bucket summed, a value unioned; a sketch merge is 1,024):
 * the engine charges a rule's ctx.count/ctx.distinct calls with it. */
uint64_t state_read_work(const state_t *st);

/* Sets label on entity until expire_ms (event time); an existing label
 * keeps the later of the two expiries.  The engine applies the labels a
 * rule sets after all rules of the event ran.  Returns 0 or STATE_ENOMEM
 * / STATE_EKEY (state unchanged). */
int state_label_set(state_t *st, const char *entity, size_t elen, const char *label,
                        size_t llen, int64_t expire_ms);
/* 1 while now_ms < expire and clock < expire, else 0; STATE_ENOMEM only
 * when entity and label together exceed 252 bytes and memory is out. */
int state_label_has(state_t *st, const char *entity, size_t elen, const char *label,
                        size_t llen, int64_t now_ms);
/* state_label_has that also gives the label's expiry in *expire when it
 * says 1 (the engine compares it with a control-topic deletion's bound). */
int state_label_expiry(state_t *st, const char *entity, size_t elen, const char *label,
                       size_t llen, int64_t now_ms, int64_t *expire);

typedef struct state_stats {
    uint64_t late_skipped;  /* adds older than their counter's longest window */
    uint64_t evictions;     /* keys and labels dropped by the byte ceiling (LRU) */
    uint64_t expired;       /* keys idle past their longest window, labels past expiry */
    uint64_t keys;          /* live counter keys, all counters */
    uint64_t labels;        /* live labels */
    uint64_t bytes;         /* accounted bytes (what max_bytes limits; docs/state.md) */
} state_stats_t;
void state_stats(const state_t *st, state_stats_t *out);

/* Removes every expired key and label now (normally done incrementally as
 * the clock crosses minute and hour boundaries).  Invisible to reads:
 * expired entries already read as absent. */
void state_expire(state_t *st);

/* Snapshots.  A snapshot holds the clock, every live key, distinct set and
 * label, in LRU order, behind a header with a version, the spec
 * fingerprint and CRC-32s of header and payload.  Loading checks all of it
 * and builds the new content aside: on any error the state is untouched.
 * After a load the state answers exactly as the saved one did.
 * save_buf appends to out; save_file writes FILE.tmp then renames it. */
int state_save_buf(const state_t *st, wd_buf_t *out);
int state_load_buf(state_t *st, const void *buf, size_t len, char *errstr,
                       size_t errstr_size);
/* save_buf for a snapshot that must fit in limit bytes (a Kafka record):
 * when the state does not fit, its least recently used keys and labels are
 * evicted — from st itself, so the live state and its snapshot agree — and
 * it is saved again.  *evicted (may be NULL) gets how many went; they also
 * count in the evictions metric, and stay evicted if the save then fails.
 * Returns 0, or STATE_ENOMEM, or STATE_ETOOBIG (nothing evicted)
 * when limit is below state_empty_snapshot_size. */
int state_save_buf_within(state_t *st, wd_buf_t *out, size_t limit, uint64_t *evicted);
/* An upper bound of the size of this state's snapshot with no keys. */
size_t state_empty_snapshot_size(const state_t *st);
/* load_buf for a snapshot that may be of other counters (a rule pack that
 * changed since it was written): a counter whose name and spec (stream,
 * key, distinct field, windows) are unchanged gets its keys back, a counter
 * that is new starts empty, one that is gone or changed is dropped; labels
 * always carry over.  Same checks and all-or-nothing as load_buf otherwise;
 * a version 1 snapshot must match exactly.  carry says what happened. */
typedef struct state_carry {
    int      exact;                  /* the snapshot was of exactly these counters */
    size_t   kept, dropped;          /* counters of the snapshot */
    uint64_t records, records_dropped;
} state_carry_t;
int state_load_buf_carry(state_t *st, const void *buf, size_t len, state_carry_t *carry,
                             char *errstr, size_t errstr_size);
int state_save_file(const state_t *st, const char *path, char *errstr,
                        size_t errstr_size);
int state_load_file(state_t *st, const char *path, char *errstr, size_t errstr_size);

/* The per-key changelog (docs/state.md).  With tracking on, the state
 * keeps, for every entry (a counter's key, or a label) that changed since
 * the last state_log_commit — counted, set, evicted or expired — its value
 * before the first change (an undo log).  state_log_changes hands each one
 * out as one self-contained record: an id (counter name and key, or the
 * label; unique per entry, so a compacted topic keyed by it keeps the
 * newest) and a value (the entry: every window of the key together), or
 * no value (a tombstone) for an entry that is gone; plus a clock record
 * when the clock moved.  state_log_apply puts such records back, oldest
 * first; state_log_rollback puts the state back as of the last commit at
 * the cost of the entries changed since, not of the whole state.
 * Records are versioned ("WRDE", version 2) and checksummed; a record of a
 * counter that is gone or whose spec changed is passed over on apply. */
/* Turns tracking on (and empties the log: the state as it is counts as
 * committed) or off.  Returns 0 or STATE_ENOMEM. */
int state_log_track(state_t *st, int on);
/* One record: val NULL (vlen 0) is a tombstone.  Return 0 to go on;
 * anything else stops state_log_changes, which returns it. */
typedef int (*state_log_emit_fn)(void *ud, const void *id, size_t idlen, const void *val,
                                 size_t vlen);
/* Emits a record per entry changed since the last commit (or, after
 * state_log_mark_all, per live entry and per entry gone).  Leaves the log
 * as it is (commit or rollback decide).  Returns 0, what emit returned, or
 * STATE_ENOMEM (tracking could not keep up: the log is incomplete). */
int state_log_changes(state_t *st, state_log_emit_fn emit, void *ud);
/* The changes were made durable: the log starts over (after a seal: the
 * sealed batch's changes; the open batch's stay logged). */
void state_log_commit(state_t *st);
/* Seals the log of the batch whose changes state_log_changes just handed
 * out: its commit is in flight while the next batch is counted.  The
 * next state_log_commit then commits the sealed batch only (the open
 * one's log stays), and state_log_rollback puts back both.  One sealed
 * batch at a time.  Returns 0 or STATE_ENOMEM. */
int state_log_seal(state_t *st);
/* Puts every entry changed since the last commit back as it was then,
 * and the clock.  Returns 0, or STATE_ENOMEM (the state is then not
 * usable: a fatal error for the caller). */
int state_log_rollback(state_t *st);
/* Entries changed since the last commit. */
size_t state_log_pending(const state_t *st);
/* Makes the next state_log_changes emit every live entry (migration from
 * a whole-state snapshot, whose entries the changelog does not hold yet). */
void state_log_mark_all(state_t *st);
/* Applies one record from state_log_changes (restore): replaces the entry,
 * removes it (tombstone), or moves the clock forward.  The clock's
 * tombstone (id "K", no value: written by `warden rewind`, never by a run)
 * empties the state and its clock, so the records after it are the whole
 * state (docs/state.md, "Rewind").  Not logged as a
 * change, but evictions it causes (the byte ceiling) are.  Returns 0,
 * 1 when the record was passed over (a counter gone or changed), or -1
 * with a message (state untouched). */
int state_log_apply(state_t *st, const void *id, size_t idlen, const void *val, size_t vlen,
                    char *errstr, size_t errstr_size);
/* After the last apply: drops what expired at the restored clock (as a
 * logged change) and enforces the byte ceiling. */
void state_log_restored(state_t *st);

/* Test hook: the n-th allocation from now on fails (n >= 1), then all
 * succeed again; n = 0 turns it off. */
void state_fail_alloc_after(state_t *st, long n);

#endif
