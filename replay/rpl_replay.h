/* replay/rpl_replay.h — a bounded replay: events from files or a Kafka time
 * window through a candidate rule pack and (optionally) a baseline pack in
 * one pass, each with its own engine and state, and the report of how they
 * differ: per-rule hits, added/removed hits, verdict and decision changes,
 * overlap between rules, precision/recall against ground truth, and a check
 * of the candidate's declared fields against the window's events.
 * Semantics and report fields: docs/replay.md. */
#ifndef WARDEN_REPLAY_RPL_REPLAY_H
#define WARDEN_REPLAY_RPL_REPLAY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/wd_buf.h"
#include "engine/eng_engine.h"

typedef struct rpl rpl_t;

#define RPL_UNBOUNDED_FROM INT64_MIN
#define RPL_UNBOUNDED_TO   INT64_MAX

/* Called for every candidate outcome in the window that has hits or a
 * decision (o and src are valid for the call only). */
typedef void (*rpl_hit_fn)(void *ud, const eng_outcome_t *o, const eng_src_t *src);

typedef struct rpl_opts {
    eng_opts_t  eng;           /* the same engine options for both packs */
    const char *candidate;     /* rules dir (required) */
    const char *baseline;      /* rules dir, NULL for none */
    int64_t     from_ms;       /* window [from, to) in event time; RPL_UNBOUNDED_* */
    int64_t     to_ms;
    int64_t     warmup_ms;     /* < 0: the longest counter window of the packs */
    size_t      samples;       /* differing events kept per rule (0: 10) */
    rpl_hit_fn  on_hit;        /* may be NULL */
    void       *on_hit_ud;
} rpl_opts_t;

void rpl_opts_default(rpl_opts_t *o);

/* Loads both packs.  Returns NULL with the load errors (prefixed by which
 * pack failed) in errstr. */
rpl_t *rpl_new(const rpl_opts_t *opts, char *errstr, size_t errstr_size);
void rpl_destroy(rpl_t *r);

/* Loads ground truth: JSONL, one {"event_id"|"entity": …, "label":
 * "abusive"|"benign"} a line.  Returns 0, or -1 with "file:line: message". */
int rpl_truth_load(rpl_t *r, const char *path, char *errstr, size_t errstr_size);

/* Where events before the window start counting (from − warm-up), or
 * RPL_UNBOUNDED_FROM. */
int64_t rpl_start_ms(const rpl_t *r);
int64_t rpl_warmup_ms(const rpl_t *r);
/* The longest counter window of e's pack: the default warm-up. */
int64_t rpl_longest_window(eng_engine_t *e);

/* One event (raw JSON bytes).  Classified by event time: before from −
 * warm-up or at/after to: skipped, never evaluated; in the warm-up: both
 * packs evaluate it (state only, nothing recorded); in the window:
 * evaluated, compared, counted.  Returns 0, or -1 on an internal failure
 * (out of memory) with a message in errstr. */
int rpl_feed(rpl_t *r, const char *buf, size_t len, const eng_src_t *src,
             char *errstr, size_t errstr_size);

/* rpl_feed for an event its caller already parsed: doc is its document
 * (valid for the call), NULL when the bytes did not parse (the engine then
 * rejects them with the parser's message).  The Kafka reader parses every
 * message for the merge order and hands that document on. */
int rpl_feed_doc(rpl_t *r, const char *buf, size_t len, const wd_jval_t *doc,
                 const eng_src_t *src, char *errstr, size_t errstr_size);

/* Marks the report partial (stopped by a signal before the end). */
void rpl_set_partial(rpl_t *r);
/* Free-form description of the input for the report ("files": [...],
 * or the Kafka topics and offsets), a JSON value; copied. */
void rpl_set_input(rpl_t *r, const char *json);

typedef struct rpl_counts {
    uint64_t read, before, warmup, window, after, rejected;
    uint64_t hits_candidate, hits_baseline;
    uint64_t errors_candidate;   /* rule errors in the window */
} rpl_counts_t;
void rpl_counts(const rpl_t *r, rpl_counts_t *out);

/* The report: JSON (one object, for tools) or Markdown (for people). */
void rpl_report_json(const rpl_t *r, wd_buf_t *b);
void rpl_report_md(const rpl_t *r, wd_buf_t *b);
/* One self-contained HTML page (inline CSS and SVG, no script, no external
 * asset): the tables of the Markdown report and hits per hour per rule as
 * charts, candidate and baseline.  Event-derived text is escaped. */
void rpl_report_html(const rpl_t *r, wd_buf_t *b);

/* The candidate's engine (rule versions, pack hash for a store). */
eng_engine_t *rpl_candidate(rpl_t *r);
/* Runtime list entries and manual labels both packs see (borrowed; by
 * each event's time, as warden run does: rules/rule_overlay.h). */
struct rule_overlay;
void rpl_set_overlay(rpl_t *r, const struct rule_overlay *ov);

/* Parses a replay time: RFC 3339, epoch milliseconds, "now", or a
 * relative "-24h" / "now-24h" (durations as in counters.lua).  Returns 0
 * or -1. */
int rpl_parse_time(const char *s, int64_t now_ms, int64_t *out);
/* Parses a warm-up duration ("0", or "30m", "7d" …).  Returns 0 or -1. */
int rpl_parse_warmup(const char *s, int64_t *out);

/* A one-line progress report on f ("\r"-terminated): done of total units
 * (0 total: unknown), events, rate, ETA. */
void rpl_progress(FILE *f, const char *unit, uint64_t done, uint64_t total, uint64_t events,
                  double secs);

#endif
