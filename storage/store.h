/* storage/store.h — result sinks behind one interface.
 * A sink is opened from a URL (jsonl:PATH, mysql://…, starrocks://…); the
 * engine hands it batches of hit rows and never sees a backend's internals. */
#ifndef WARDEN_STORE_H
#define WARDEN_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct store store_t;

/* One hit: one rule's verdict on one event (DESIGN.md, output contract).
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
    const char *reason;        /* may be NULL */
    size_t      reason_len;
    int         has_score;
    double      score;
    int64_t     event_ts_ms;   /* INT64_MIN when the event has no time */
    const char *topic;         /* NULL for file input */
    int32_t     partition;
    int64_t     offset;
} store_row_t;

/* The decision for one event: most severe enforce-mode verdict and the rules
 * that hit (enforce mode only).  Backends that keep decisions store it. */
typedef struct store_decision {
    const char  *run_id;
    const char  *event_id;
    const char  *stream;
    const char  *entity;
    const char  *verdict;
    const char **rules;
    size_t       nrules;
    int64_t      event_ts_ms;
} store_decision_t;

typedef struct store_opts {
    size_t batch_rows;       /* flush after this many rows (0: backend default) */
    int    batch_ms;         /* flush after this long (0: backend default) */
    size_t max_buffer_rows;  /* write() blocks (backpressure) past this */
} store_opts_t;

/* Opens the sink named by url.  Returns 0, or -1 with a message in errstr. */
int store_open(store_t **out, const char *url, const store_opts_t *opts,
               char *errstr, size_t errstr_size);

/* Queues rows (copied).  May block while the backend retries an outage and
 * its buffer is full.  Returns 0, or -1 on a fatal error (message in errstr). */
int store_write(store_t *s, const store_row_t *rows, size_t n,
                char *errstr, size_t errstr_size);

/* Queues one decision (copied); a no-op for backends without a decisions table. */
int store_write_decision(store_t *s, const store_decision_t *d,
                         char *errstr, size_t errstr_size);

/* Returns once everything queued so far is durable in the backend. */
int store_flush(store_t *s, char *errstr, size_t errstr_size);

/* Flushes and frees.  store_close(NULL) is a no-op.  Returns 0 or -1 when the
 * final flush failed. */
int store_close(store_t *s, char *errstr, size_t errstr_size);

/* Writes one hit row as the DESIGN.md JSON object (no newline) into buf.
 * Returns the length it needs; writes at most size bytes. */
size_t store_row_json(const store_row_t *r, char *buf, size_t size);

#endif
