/* storage/store.h — result sinks behind one interface.
 * A sink is opened from a URL (jsonl:PATH, mysql://…, starrocks://…, null:);
 * the engine hands it batches of hit rows and never sees a backend's
 * internals.  See docs/storage.md for URLs, guarantees and metrics. */
#ifndef WARDEN_STORAGE_STORE_H
#define WARDEN_STORAGE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/wd_buf.h"

typedef struct store store_t;

/* One hit: one rule's verdict on one event (the output contract, docs/architecture.md).
 * All strings are borrowed for the duration of the call that receives the
 * row; sinks copy what they keep.  Strings are NUL-terminated but may carry
 * arbitrary bytes (invalid UTF-8 included); *_len gives their length when a
 * backend needs it. */
typedef struct store_row {
    const char *run_id;        /* "live" or a replay's id */
    const char *event_id;
    const char *stream;
    const char *rule;
    int         version;
    const char *mode;          /* "enforce" | "shadow" */
    const char *verdict;       /* "block" | "review" | "flag" */
    const char *entity;
    size_t      entity_len;
    const char *entity_type;   /* NULL: "unknown" (schema v7 column) */
    const char *reason;        /* may be NULL */
    size_t      reason_len;
    int         has_score;
    double      score;
    int64_t     event_ts_ms;   /* INT64_MIN when the event has no time */
    const char *topic;         /* NULL for file input */
    int32_t     partition;
    int64_t     offset;
    const char *rule_sha256;   /* hex sha256 of the rule's source file (as in
                                * rule_versions.sha256); may be NULL.  Stored in
                                * rule_results.rule_sha256 (schema v4); not part
                                * of the contract JSON object. */
    const char *labels;        /* the labels the evaluation set, the JSON array
                                * of eng_hit_t.labels; NULL: none.  The hit's
                                * "labels" field (only when set) and
                                * rule_results.labels (schema v8). */
    size_t      labels_len;
} store_row_t;

/* A decision: the event's (store_write_decision, table decisions: the most
 * severe enforce-mode verdict and every enforce-mode rule that hit) or one
 * entity's (store_write_action, table actions, schema v7: that entity's
 * most severe verdict, its rules and ttl — one action of format v2).
 * Backends that keep decisions store them. */
typedef struct store_decision {
    const char  *run_id;
    const char  *event_id;
    const char  *stream;
    const char  *entity;
    size_t       entity_len;   /* 0: strlen(entity); entities may hold NUL bytes */
    const char  *entity_type;  /* NULL: "unknown" */
    const char  *verdict;
    const char **rules;
    size_t       nrules;
    int64_t      event_ts_ms;
    const char  *ttl;          /* actions only; may be NULL */
    const char  *topic;        /* actions only; NULL for file input */
    int32_t      partition;
    int64_t      offset;
} store_decision_t;

typedef struct store_opts {
    size_t batch_rows;       /* flush after this many rows (0: backend default) */
    int    batch_ms;         /* flush after this long (0: backend default) */
    size_t max_buffer_rows;  /* write() blocks (backpressure) past this */
} store_opts_t;

/* Opens the sink named by url (opts may be NULL: defaults; URL parameters
 * such as ?batch_rows= override opts).  Returns 0, or -1 with a message in
 * errstr (unknown scheme, unreachable server, schema too old…). */
int store_open(store_t **out, const char *url, const store_opts_t *opts,
               char *errstr, size_t errstr_size);

/* Queues rows (copied).  May block while the backend retries an outage and
 * its buffer is full.  Returns 0, or -1 on a fatal error (message in errstr). */
int store_write(store_t *s, const store_row_t *rows, size_t n,
                char *errstr, size_t errstr_size);

/* Queues one decision (copied); a no-op for backends without a decisions table. */
int store_write_decision(store_t *s, const store_decision_t *d,
                         char *errstr, size_t errstr_size);

/* Queues one per-entity action (copied) into the actions table; a no-op
 * for backends without one (jsonl:, null:). */
int store_write_action(store_t *s, const store_decision_t *d,
                       char *errstr, size_t errstr_size);

/* The key of an entity in the actions table: the first 32 hex digits of
 * sha256("type:entity") and a NUL into out (type NULL: "unknown"). */
void store_entity_key(const char *type, const char *entity, size_t len, char out[33]);

/* Returns once everything queued so far is durable in the backend. */
int store_flush(store_t *s, char *errstr, size_t errstr_size);

/* Flushes and frees.  store_close(NULL) is a no-op.  Returns 0 or -1 when the
 * final flush failed. */
int store_close(store_t *s, char *errstr, size_t errstr_size);

/* Writes one hit row as the contract JSON object (no newline) into buf.
 * Returns the length it needs; writes at most size bytes (NUL-terminated when
 * size > 0, like snprintf). */
size_t store_row_json(const store_row_t *r, char *buf, size_t size);
/* The same object appended to b (no newline). */
void store_row_json_buf(wd_buf_t *b, const store_row_t *r);

/* ---- runs and rule versions (rule_runs / rule_versions tables) ----------
 * Queued in order with the rows, like store_write; no-ops for jsonl/null. */
typedef struct store_run {
    const char *run_id;        /* "live" or the replay's id */
    const char *kind;          /* "live" | "replay" | "eval" */
    int64_t     started_ms;
    int64_t     finished_ms;   /* store_end_run only */
    const char *rules_sha256;  /* hex hash of the rule pack, may be NULL */
    const char *params;        /* JSON object text (window, topics…), may be NULL */
    const char *status;        /* store_end_run: "finished" | "failed" (NULL: finished) */
    uint64_t    events;        /* counts, store_end_run only */
    uint64_t    hits;
    uint64_t    rejected;
    uint64_t    errors;
} store_run_t;

/* Records a run as started (upsert on run_id: status "running"). */
int store_begin_run(store_t *s, const store_run_t *run, char *errstr, size_t errstr_size);
/* Records finished_ms, status and counts of the run (upsert on run_id). */
int store_end_run(store_t *s, const store_run_t *run, char *errstr, size_t errstr_size);

typedef struct store_rule_version {
    const char *name;
    int         version;
    const char *sha256;        /* hex sha256 of the source */
    const char *source;        /* the rule file's text (may hold any bytes) */
    size_t      source_len;
    int64_t     seen_ms;       /* kept as first_seen when the row is new */
} store_rule_version_t;

/* Records a rule's source once per (name, version, sha256); later calls with
 * the same key keep the first first_seen. */
int store_rule_version(store_t *s, const store_rule_version_t *rv,
                       char *errstr, size_t errstr_size);

/* One audit entry of the admin API (table audit_log, migration 6). */
typedef struct store_audit {
    const char *id;            /* unique: "instance:unix-ns:seq" */
    int64_t     ts_ms;
    const char *instance;
    const char *token;         /* token id (a hash prefix), may be NULL */
    const char *action;
    const char *rule;          /* may be NULL */
    const char *before;        /* may be NULL */
    const char *after;         /* may be NULL */
    const char *result;        /* may be NULL */
    int         status;        /* HTTP status */
} store_audit_t;

/* Queues an audit row (a no-op for jsonl: and null: stores). */
int store_audit(store_t *s, const store_audit_t *a, char *errstr, size_t errstr_size);

/* ---- health and metrics ------------------------------------------------- */
typedef struct store_stats {
    uint64_t rows_queued;      /* rows accepted by store_write */
    uint64_t rows_written;     /* rows durable in the backend */
    uint64_t batches;          /* batches written */
    uint64_t retries;          /* batch attempts repeated after a retriable error */
    uint64_t failures;         /* failed attempts (retriable or fatal) */
    uint64_t batch_us_last;    /* latency of the last successful batch */
    uint64_t batch_us_max;
    uint64_t batch_us_total;   /* sum, for an average with batches */
    size_t   buffer_rows;      /* rows waiting to be written */
    size_t   buffer_cap;       /* store_write blocks past this */
    size_t   buffer_rows_max;  /* the most rows waiting at once (backpressure reached buffer_cap) */
    uint64_t blocked_us;       /* time writers waited for room in the buffer (backpressure) */
    uint64_t flush_wait_us;    /* time store_flush waited for durability (a commit on a slow store) */
    uint64_t flush_wait_max_us;/* the longest of those waits */
    int      healthy;          /* 0 while the backend is failing */
} store_stats_t;

/* Snapshot of the sink's counters (thread-safe). */
void store_stats(store_t *s, store_stats_t *out);

/* 0 when the backend is writing normally; -1 while it retries an outage or
 * after a fatal error, with the last error in errstr. */
int store_health(store_t *s, char *errstr, size_t errstr_size);

/* The backend's scheme ("jsonl", "mysql", "starrocks", "null"). */
const char *store_scheme(const store_t *s);

#endif
