/* storage/store_queue.c — batching, bounded buffer and retrying writer
 * thread for the networked sinks (storage/store_queue.h).
 *
 * Producers (store_write and friends) copy each row into the open batch of
 * its table under the lock: a few string copies into the batch's arena, no
 * allocation per row beyond the arena's doubling.  A batch is sealed into the
 * FIFO at batch_rows rows or batch_bytes bytes, after batch_ms, at flush, or
 * when the buffer is full.  While buffered rows (open + sealed, not yet
 * durable) reach max_rows or max_bytes, producers wait: backpressure.
 *
 * The writer thread takes the FIFO's head without removing it, calls the
 * backend's exec() without the lock, and only on success pops it, counts it
 * durable and wakes flushers and blocked producers.  A retriable failure
 * resets the backend (drops its connection), sleeps with exponential backoff
 * and jitter, and tries the same batch again — there is no retry limit, so a
 * row is never dropped; a fatal failure marks the sink failed. */
#include "storage/store_queue.h"
#include "storage/store_backoff.h"
#include "storage/store_int.h"
#include "base/wd_alloc.h"
#include "base/wd_util.h"
#include "base/wd_log.h"
#include "base/wd_util.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef WARDEN_VERSION
#define WARDEN_VERSION "0.0.0"
#endif

/* ---- tables ------------------------------------------------------------- */

static const sq_col_t results_cols[] = {
    { "event_day", SQ_CT_STR, 1 }, { "run_id", SQ_CT_STR, 0 }, { "event_id", SQ_CT_STR, 0 },
    { "rule", SQ_CT_STR, 0 }, { "stream", SQ_CT_STR, 0 }, { "version", SQ_CT_INT, 0 },
    { "mode", SQ_CT_STR, 0 }, { "verdict", SQ_CT_STR, 0 }, { "entity", SQ_CT_STR, 0 },
    { "reason", SQ_CT_STR, 0 }, { "score", SQ_CT_DBL, 0 }, { "event_ts", SQ_CT_STR, 0 },
    { "topic", SQ_CT_STR, 0 }, { "kafka_partition", SQ_CT_INT, 0 }, { "kafka_offset", SQ_CT_INT, 0 },
    { "rule_sha256", SQ_CT_STR, 0 }, { "row_key", SQ_CT_STR, 1 }, { "entity_type", SQ_CT_STR, 0 },
    { "labels", SQ_CT_STR, 0 },
};
static const sq_col_t decisions_cols[] = {
    { "event_day", SQ_CT_STR, 1 }, { "run_id", SQ_CT_STR, 0 }, { "event_id", SQ_CT_STR, 0 },
    { "stream", SQ_CT_STR, 0 }, { "entity", SQ_CT_STR, 0 }, { "verdict", SQ_CT_STR, 0 },
    { "rules", SQ_CT_STR, 0 }, { "event_ts", SQ_CT_STR, 0 }, { "row_key", SQ_CT_STR, 1 },
    { "entity_type", SQ_CT_STR, 0 },
};
static const sq_col_t actions_cols[] = {
    { "event_day", SQ_CT_STR, 1 }, { "row_key", SQ_CT_STR, 1 }, { "run_id", SQ_CT_STR, 0 },
    { "event_id", SQ_CT_STR, 0 }, { "entity_key", SQ_CT_STR, 0 }, { "stream", SQ_CT_STR, 0 },
    { "entity_type", SQ_CT_STR, 0 }, { "entity", SQ_CT_STR, 0 }, { "verdict", SQ_CT_STR, 0 },
    { "rules", SQ_CT_STR, 0 }, { "ttl", SQ_CT_STR, 0 }, { "event_ts", SQ_CT_STR, 0 },
    { "topic", SQ_CT_STR, 0 }, { "kafka_partition", SQ_CT_INT, 0 }, { "kafka_offset", SQ_CT_INT, 0 },
};
static const sq_col_t run_begin_cols[] = {
    { "run_id", SQ_CT_STR, 0 }, { "kind", SQ_CT_STR, 0 }, { "status", SQ_CT_STR, 0 },
    { "started_at", SQ_CT_STR, 0 }, { "rules_sha256", SQ_CT_STR, 0 }, { "params", SQ_CT_STR, 0 },
    { "warden_version", SQ_CT_STR, 0 },
};
static const sq_col_t run_end_cols[] = {
    { "run_id", SQ_CT_STR, 0 }, { "kind", SQ_CT_STR, 0 }, { "status", SQ_CT_STR, 0 },
    { "started_at", SQ_CT_STR, 0 }, { "rules_sha256", SQ_CT_STR, 0 }, { "params", SQ_CT_STR, 0 },
    { "warden_version", SQ_CT_STR, 0 }, { "finished_at", SQ_CT_STR, 0 }, { "events", SQ_CT_INT, 0 },
    { "hits", SQ_CT_INT, 0 }, { "rejected", SQ_CT_INT, 0 }, { "errors", SQ_CT_INT, 0 },
};
static const sq_col_t versions_cols[] = {
    { "name", SQ_CT_STR, 0 }, { "version", SQ_CT_INT, 0 }, { "sha256", SQ_CT_STR, 0 },
    { "source", SQ_CT_STR, 0 }, { "first_seen", SQ_CT_STR, 0 }, { "row_key", SQ_CT_STR, 1 },
};

static const sq_col_t audit_cols[] = {
    { "id", SQ_CT_STR, 0 }, { "ts", SQ_CT_STR, 0 }, { "instance", SQ_CT_STR, 0 }, { "token", SQ_CT_STR, 0 },
    { "action", SQ_CT_STR, 0 }, { "rule", SQ_CT_STR, 0 }, { "before_v", SQ_CT_STR, 0 },
    { "after_v", SQ_CT_STR, 0 }, { "result", SQ_CT_STR, 0 }, { "status", SQ_CT_INT, 0 },
};

#define NCOLS(a) ((int)(sizeof(a) / sizeof((a)[0])))

const sq_table_t sq_tables[SQ_NTABLES] = {
    [SQ_RESULTS] = { "rule_results", results_cols, NCOLS(results_cols),
        "stream=VALUES(stream), version=VALUES(version), mode=VALUES(mode), "
        "verdict=VALUES(verdict), entity=VALUES(entity), reason=VALUES(reason), "
        "score=VALUES(score), event_ts=VALUES(event_ts), topic=VALUES(topic), "
        "kafka_partition=VALUES(kafka_partition), kafka_offset=VALUES(kafka_offset), "
        "rule_sha256=VALUES(rule_sha256), entity_type=VALUES(entity_type), labels=VALUES(labels)" },
    [SQ_DECISIONS] = { "decisions", decisions_cols, NCOLS(decisions_cols),
        "stream=VALUES(stream), entity=VALUES(entity), verdict=VALUES(verdict), "
        "rules=VALUES(rules), event_ts=VALUES(event_ts), entity_type=VALUES(entity_type)" },
    [SQ_RUN_BEGIN] = { "rule_runs", run_begin_cols, NCOLS(run_begin_cols),
        "kind=VALUES(kind), status=VALUES(status), started_at=VALUES(started_at), "
        "rules_sha256=VALUES(rules_sha256), params=VALUES(params), "
        "warden_version=VALUES(warden_version)" },
    [SQ_RUN_END] = { "rule_runs", run_end_cols, NCOLS(run_end_cols),
        "status=VALUES(status), finished_at=VALUES(finished_at), events=VALUES(events), "
        "hits=VALUES(hits), rejected=VALUES(rejected), errors=VALUES(errors)" },
    [SQ_VERSIONS] = { "rule_versions", versions_cols, NCOLS(versions_cols),
        "first_seen=LEAST(first_seen, VALUES(first_seen))" },
    [SQ_AUDIT] = { "audit_log", audit_cols, NCOLS(audit_cols), "status=VALUES(status)" },
    [SQ_ACTIONS] = { "actions", actions_cols, NCOLS(actions_cols),
        "stream=VALUES(stream), entity_type=VALUES(entity_type), entity=VALUES(entity), "
        "verdict=VALUES(verdict), rules=VALUES(rules), ttl=VALUES(ttl), event_ts=VALUES(event_ts), "
        "topic=VALUES(topic), kafka_partition=VALUES(kafka_partition), kafka_offset=VALUES(kafka_offset)" },
};

size_t store_sql_datetime(int64_t ms, char *out, size_t size)
{
    if (ms == INT64_MIN)
        return 0;
    int64_t sec = ms / 1000, rem = ms % 1000;
    if (rem < 0) {
        rem += 1000;
        sec--;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
        return 0;
    int n = snprintf(out, size, "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)rem);
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

/* ---- the queue ---------------------------------------------------------- */

struct store_queue {
    sq_conf_t        c;
    char            *name;
    const sq_ops_t  *ops;
    void            *ctx;

    pthread_mutex_t  lock;
    pthread_cond_t   wake_writer;   /* CLOCK_MONOTONIC, for the batch_ms deadline */
    pthread_cond_t   progress;      /* a batch became durable, or the sink failed */
    sq_batch_t      *open[SQ_NTABLES];
    sq_batch_t      *head, *tail;   /* sealed, oldest first */
    uint64_t         last_seq;      /* last sealed */
    uint64_t         done_seq;      /* last durable */
    size_t           buf_rows;
    size_t           buf_rows_max;  /* high-water mark of buf_rows */
    uint64_t         blocked_us;    /* producers' time in wait_room */
    uint64_t         flush_us, flush_max_us;  /* flushers' time waiting for durability */
    size_t           buf_bytes;
    int              closing;
    int              failed;
    int              healthy;
    char             lasterr[1536];
    uint64_t         rows_queued, rows_written, batches, retries, failures;
    uint64_t         us_last, us_max, us_total;

    pthread_t        thread;
    store_backoff_t  backoff;       /* writer thread only */
};

const char *const store_queue_params[] = {
    "batch_rows", "batch_ms", "buffer_rows", "buffer_mb", "backoff_ms", "backoff_max_ms", NULL,
};

int store_queue_check_params(const store_url_t *u, const char *const *extra, char *errstr,
                             size_t errstr_size)
{
    const char *known[32];
    size_t nk = 0;
    for (size_t i = 0; extra[i] && nk < 16; i++)
        known[nk++] = extra[i];
    for (size_t i = 0; store_queue_params[i] && nk < 31; i++)
        known[nk++] = store_queue_params[i];
    known[nk] = NULL;
    return store_url_check_params(u, known, errstr, errstr_size);
}

int store_queue_conf(sq_conf_t *c, const store_url_t *u, const store_opts_t *opts,
                     char *errstr, size_t errstr_size)
{
    memset(c, 0, sizeof(*c));
    store_opts_t o = { 0, 0, 0 };
    if (opts)
        o = *opts;
    store_opts_fill(&o, 10000, 200, 100000);
    long batch_rows = (long)o.batch_rows, batch_ms = o.batch_ms, buffer_rows = (long)o.max_buffer_rows;
    long buffer_mb = 256, backoff_ms = 100, backoff_max_ms = 5000;
    if (store_url_param_long(u, "batch_rows", 1, 1000000, &batch_rows, errstr, errstr_size) ||
        store_url_param_long(u, "batch_ms", 1, 3600000, &batch_ms, errstr, errstr_size) ||
        store_url_param_long(u, "buffer_rows", 1, 100000000, &buffer_rows, errstr, errstr_size) ||
        store_url_param_long(u, "buffer_mb", 1, 1 << 20, &buffer_mb, errstr, errstr_size) ||
        store_url_param_long(u, "backoff_ms", 1, 60000, &backoff_ms, errstr, errstr_size) ||
        store_url_param_long(u, "backoff_max_ms", 1, 3600000, &backoff_max_ms, errstr, errstr_size))
        return -1;
    c->batch_rows = (size_t)batch_rows;
    c->batch_ms = (int)batch_ms;
    c->max_rows = (size_t)buffer_rows < c->batch_rows ? c->batch_rows : (size_t)buffer_rows;
    c->max_bytes = (size_t)buffer_mb << 20;
    c->batch_bytes = 8u << 20;
    c->backoff_ms = (uint32_t)backoff_ms;
    c->backoff_max_ms = (uint32_t)backoff_max_ms;
    return 0;
}

static void batch_free(sq_batch_t *b)
{
    if (!b)
        return;
    free(b->cells);
    wd_buf_free(&b->arena);
    free(b);
}

static size_t batch_cost(const sq_batch_t *b)
{
    return b->arena.len + b->nrows * (size_t)sq_tables[b->table].ncols * sizeof(sq_cell_t);
}

static void seal_all(store_queue_t *q);

/* Runs and rule versions explain the hits queued after them: a hit must not
 * be durable before its rule version's row (nor a run's end before its
 * hits).  Batches of one table are sealed together, in table order, so a
 * run or version row never shares a seal with rows of another table: the
 * FIFO then writes every kind in the order it was queued.  Hits and
 * decisions need no order between them and keep batching together. */
static int is_meta(int t)
{
    return t == SQ_RUN_BEGIN || t == SQ_RUN_END || t == SQ_VERSIONS;
}

/* The open batch of table t (started when there is none); lock held.
 * Seals the other tables' open batches first when order requires it. */
static sq_batch_t *batch_open(store_queue_t *q, int t)
{
    for (int u = 0; u < SQ_NTABLES; u++)
        if (u != t && q->open[u] && (is_meta(u) || is_meta(t))) {
            seal_all(q);
            break;
        }
    sq_batch_t *b = q->open[t];
    if (b)
        return b;
    b = wd_calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->table = t;
    b->cap = 64;
    b->cells = wd_malloc(b->cap * (size_t)sq_tables[t].ncols * sizeof(sq_cell_t));
    if (!b->cells) {
        free(b);
        return NULL;
    }
    b->opened_us = wd_now_ns() / 1000u;
    q->open[t] = b;
    /* The writer sleeps without a deadline while nothing is open. */
    pthread_cond_signal(&q->wake_writer);
    return b;
}

static sq_cell_t *batch_row(sq_batch_t *b)
{
    size_t nc = (size_t)sq_tables[b->table].ncols;
    if (b->nrows == b->cap) {
        sq_cell_t *c = wd_realloc(b->cells, b->cap * 2 * nc * sizeof(sq_cell_t));
        if (!c)
            return NULL;
        b->cells = c;
        b->cap *= 2;
    }
    sq_cell_t *row = b->cells + b->nrows * nc;
    b->nrows++;
    return row;
}

static void cell_str(sq_batch_t *b, sq_cell_t *c, const char *s, size_t len)
{
    if (!s) {
        c->t = SQ_NULL;
        return;
    }
    c->t = SQ_STR;
    c->v.s.off = b->arena.len;
    c->v.s.len = len;
    wd_buf_add(&b->arena, s, len);
}

static void cell_strz(sq_batch_t *b, sq_cell_t *c, const char *s)
{
    cell_str(b, c, s, s ? strlen(s) : 0);
}

/* A string with an explicit length where 0 means "use strlen". */
static void cell_strn(sq_batch_t *b, sq_cell_t *c, const char *s, size_t len)
{
    cell_str(b, c, s, s ? (len ? len : strlen(s)) : 0);
}

static void cell_int(sq_cell_t *c, int64_t i)
{
    c->t = SQ_INT;
    c->v.i = i;
}

static void cell_ts(sq_batch_t *b, sq_cell_t *c, int64_t ms)
{
    char tmp[40];
    size_t n = store_sql_datetime(ms, tmp, sizeof(tmp));
    if (n)
        cell_str(b, c, tmp, n);
    else
        c->t = SQ_NULL;
}

/* StarRocks partition day of an event time ("1970-01-01" without one). */
static void cell_day(store_queue_t *q, sq_batch_t *b, sq_cell_t *c, int64_t ms)
{
    if (!q->c.event_day) {
        c->t = SQ_NULL;
        return;
    }
    char tmp[40];
    size_t n = store_sql_datetime(ms, tmp, sizeof(tmp));
    cell_str(b, c, n ? tmp : "1970-01-01", 10);
}

/* StarRocks primary key of a row: the first 32 hex digits of sha256 over
 * the length-prefixed natural key "LEN:run_idLEN:event_id[rule]", a fixed
 * 32 bytes whatever the ids' lengths (StarRocks refuses a load whose key
 * encodes to more than primary_key_limit_size, 128 bytes by default).
 * rule_versions uses it too, over (name, version digits, sha256).  The
 * schema's v5 migration computes the same digest in SQL for rows already
 * there.  Exposed for its test. */
void store_row_key(const char *run_id, const char *event_id, const char *rule, char out[33])
{
    wd_sha256_t *h = wd_sha256_new();
    char len[24];
    int n = snprintf(len, sizeof(len), "%zu:", strlen(run_id));
    wd_sha256_update(h, len, (size_t)n);
    wd_sha256_update(h, run_id, strlen(run_id));
    n = snprintf(len, sizeof(len), "%zu:", strlen(event_id));
    wd_sha256_update(h, len, (size_t)n);
    wd_sha256_update(h, event_id, strlen(event_id));
    if (rule)
        wd_sha256_update(h, rule, strlen(rule));
    char hex[65];
    wd_sha256_final(h, hex);
    memcpy(out, hex, 32);
    out[32] = '\0';
}

static void cell_row_key(store_queue_t *q, sq_batch_t *b, sq_cell_t *c, const char *run_id,
                         const char *event_id, const char *rule)
{
    if (!q->c.event_day) {
        c->t = SQ_NULL;
        return;
    }
    char key[33];
    store_row_key(run_id ? run_id : "", event_id ? event_id : "", rule, key);
    cell_str(b, c, key, 32);
}

/* Moves every open batch to the FIFO; lock held. */
static void seal_all(store_queue_t *q)
{
    for (int t = 0; t < SQ_NTABLES; t++) {
        sq_batch_t *b = q->open[t];
        if (!b)
            continue;
        q->open[t] = NULL;
        b->seq = ++q->last_seq;
        if (q->tail)
            q->tail->next = b;
        else
            q->head = b;
        q->tail = b;
    }
    pthread_cond_signal(&q->wake_writer);
}

/* Waits while the buffer is full; lock held.  -1 once the sink failed. */
static int wait_room(store_queue_t *q, char *errstr, size_t errstr_size)
{
    if (!q->failed && (q->buf_rows >= q->c.max_rows || q->buf_bytes >= q->c.max_bytes)) {
        uint64_t t0 = wd_now_ns();
        while (!q->failed && (q->buf_rows >= q->c.max_rows || q->buf_bytes >= q->c.max_bytes)) {
            seal_all(q);
            pthread_cond_wait(&q->progress, &q->lock);
        }
        q->blocked_us += (wd_now_ns() - t0) / 1000u;
    }
    if (q->failed)
        return store_seterr(errstr, errstr_size, "%s", q->lasterr);
    return 0;
}

/* A new row of table t in its open batch: *bp the batch, *before its
 * arena's length.  NULL when out of memory (nothing changed); lock held. */
static sq_cell_t *row_begin(store_queue_t *q, int t, sq_batch_t **bp, size_t *before)
{
    sq_batch_t *b = batch_open(q, t);
    if (!b)
        return NULL;
    *bp = b;
    *before = b->arena.len;
    return batch_row(b);
}

static int row_oom(char *errstr, size_t errstr_size)
{
    return store_seterr(errstr, errstr_size, "store: out of memory while queueing a row");
}

static void account(store_queue_t *q, sq_batch_t *b, size_t before);

/* Ends the row row_begin made: counts it, or, when one of its strings
 * did not fit in memory (the arena failed), takes it back whole and
 * returns -1 with a message; lock held. */
static int row_end(store_queue_t *q, sq_batch_t *b, size_t before, char *errstr, size_t errstr_size)
{
    if (!wd_buf_failed(&b->arena)) {
        account(q, b, before);
        return 0;
    }
    b->nrows--;
    b->arena.len = before;
    b->arena.failed = 0;
    if (b->arena.data)
        b->arena.data[before] = '\0';
    if (b->nrows == 0) {
        q->open[b->table] = NULL;
        batch_free(b);
    }
    return row_oom(errstr, errstr_size);
}

/* Locks q, waits for room and begins a row of table t (row_begin): its
 * cells, the lock held.  NULL, the lock released and errstr set, when the
 * sink failed or memory ran out. */
static sq_cell_t *row_open(store_queue_t *q, int t, sq_batch_t **bp, size_t *before, char *errstr,
                           size_t errstr_size)
{
    pthread_mutex_lock(&q->lock);
    if (wait_room(q, errstr, errstr_size) != 0) {
        pthread_mutex_unlock(&q->lock);
        return NULL;
    }
    sq_cell_t *c = row_begin(q, t, bp, before);
    if (!c) {
        pthread_mutex_unlock(&q->lock);
        row_oom(errstr, errstr_size);
    }
    return c;
}

/* Ends the row row_open began (row_end) and releases the lock. */
static int row_close(store_queue_t *q, sq_batch_t *b, size_t before, char *errstr, size_t errstr_size)
{
    int rc = row_end(q, b, before, errstr, errstr_size);
    pthread_mutex_unlock(&q->lock);
    return rc;
}

/* Counts a row just added to b, whose arena was `before` bytes long. */
static void account(store_queue_t *q, sq_batch_t *b, size_t before)
{
    if (++q->buf_rows > q->buf_rows_max)
        q->buf_rows_max = q->buf_rows;
    q->buf_bytes += b->arena.len - before + (size_t)sq_tables[b->table].ncols * sizeof(sq_cell_t);
    if (b->nrows >= q->c.batch_rows || b->arena.len >= q->c.batch_bytes)
        seal_all(q);
}

int store_queue_rows(store_queue_t *q, const store_row_t *rows, size_t n,
                     char *errstr, size_t errstr_size)
{
    pthread_mutex_lock(&q->lock);
    for (size_t i = 0; i < n; i++) {
        if (wait_room(q, errstr, errstr_size) != 0) {
            pthread_mutex_unlock(&q->lock);
            return -1;
        }
        const store_row_t *r = &rows[i];
        sq_batch_t *b;
        size_t before;
        sq_cell_t *c = row_begin(q, SQ_RESULTS, &b, &before);
        if (!c) {
            pthread_mutex_unlock(&q->lock);
            return row_oom(errstr, errstr_size);
        }
        cell_day(q, b, &c[0], r->event_ts_ms);
        cell_strz(b, &c[1], r->run_id);
        cell_strz(b, &c[2], r->event_id);
        cell_strz(b, &c[3], r->rule);
        cell_strz(b, &c[4], r->stream);
        cell_int(&c[5], r->version);
        cell_strz(b, &c[6], r->mode);
        cell_strz(b, &c[7], r->verdict);
        cell_strn(b, &c[8], r->entity ? r->entity : "", r->entity ? r->entity_len : 0);
        cell_strn(b, &c[9], r->reason, r->reason_len);
        if (r->has_score && isfinite(r->score)) {
            c[10].t = SQ_DBL;
            c[10].v.d = r->score;
        } else {
            c[10].t = SQ_NULL;
        }
        cell_ts(b, &c[11], r->event_ts_ms);
        cell_strz(b, &c[12], r->topic);
        if (r->topic) {
            cell_int(&c[13], r->partition);
            cell_int(&c[14], r->offset);
        } else {
            c[13].t = c[14].t = SQ_NULL;
        }
        cell_strz(b, &c[15], r->rule_sha256);
        cell_row_key(q, b, &c[16], r->run_id, r->event_id, r->rule ? r->rule : "");
        cell_strz(b, &c[17], r->entity_type ? r->entity_type : "unknown");
        cell_strn(b, &c[18], r->labels, r->labels ? r->labels_len : 0);
        if (row_end(q, b, before, errstr, errstr_size) != 0) {
            pthread_mutex_unlock(&q->lock);
            return -1;
        }
        q->rows_queued++;
    }
    pthread_mutex_unlock(&q->lock);
    return 0;
}

int store_queue_decision(store_queue_t *q, const store_decision_t *d,
                         char *errstr, size_t errstr_size)
{
    sq_batch_t *b;
    size_t before;
    sq_cell_t *c = row_open(q, SQ_DECISIONS, &b, &before, errstr, errstr_size);
    if (!c)
        return -1;
    cell_day(q, b, &c[0], d->event_ts_ms);
    cell_strz(b, &c[1], d->run_id);
    cell_strz(b, &c[2], d->event_id);
    cell_strz(b, &c[3], d->stream);
    cell_strn(b, &c[4], d->entity ? d->entity : "", d->entity ? d->entity_len : 0);
    cell_strz(b, &c[5], d->verdict);
    /* Rule names are [a-z0-9_.]+: a comma list is unambiguous (FIND_IN_SET). */
    c[6].t = SQ_STR;
    c[6].v.s.off = b->arena.len;
    for (size_t i = 0; i < d->nrules; i++) {
        if (i)
            wd_buf_addc(&b->arena, ',');
        wd_buf_adds(&b->arena, d->rules[i]);
    }
    c[6].v.s.len = b->arena.len - c[6].v.s.off;
    cell_ts(b, &c[7], d->event_ts_ms);
    cell_row_key(q, b, &c[8], d->run_id, d->event_id, NULL);
    cell_strz(b, &c[9], d->entity_type ? d->entity_type : "unknown");
    return row_close(q, b, before, errstr, errstr_size);
}

/* Rule names are [a-z0-9_.]+: a comma list is unambiguous (FIND_IN_SET). */
static void cell_rules(sq_batch_t *b, sq_cell_t *c, const char *const *rules, size_t n)
{
    c->t = SQ_STR;
    c->v.s.off = b->arena.len;
    for (size_t i = 0; i < n; i++) {
        if (i)
            wd_buf_addc(&b->arena, ',');
        wd_buf_adds(&b->arena, rules[i]);
    }
    c->v.s.len = b->arena.len - c->v.s.off;
}

int store_queue_action(store_queue_t *q, const store_decision_t *d,
                       char *errstr, size_t errstr_size)
{
    sq_batch_t *b;
    size_t before;
    sq_cell_t *c = row_open(q, SQ_ACTIONS, &b, &before, errstr, errstr_size);
    if (!c)
        return -1;
    const char *ent = d->entity ? d->entity : "";
    size_t elen = d->entity ? (d->entity_len ? d->entity_len : strlen(ent)) : 0;
    char ekey[33];
    store_entity_key(d->entity_type, ent, elen, ekey);
    cell_day(q, b, &c[0], d->event_ts_ms);
    cell_row_key(q, b, &c[1], d->run_id, d->event_id, ekey);
    cell_strz(b, &c[2], d->run_id);
    cell_strz(b, &c[3], d->event_id);
    cell_str(b, &c[4], ekey, 32);
    cell_strz(b, &c[5], d->stream);
    cell_strz(b, &c[6], d->entity_type ? d->entity_type : "unknown");
    cell_strn(b, &c[7], ent, elen);
    cell_strz(b, &c[8], d->verdict);
    cell_rules(b, &c[9], d->rules, d->nrules);
    cell_strz(b, &c[10], d->ttl);
    cell_ts(b, &c[11], d->event_ts_ms);
    cell_strz(b, &c[12], d->topic);
    if (d->topic) {
        cell_int(&c[13], d->partition);
        cell_int(&c[14], d->offset);
    } else {
        c[13].t = c[14].t = SQ_NULL;
    }
    return row_close(q, b, before, errstr, errstr_size);
}

int store_queue_run(store_queue_t *q, const store_run_t *r, int end,
                    char *errstr, size_t errstr_size)
{
    if (!r->run_id || !r->kind)
        return store_seterr(errstr, errstr_size, "store: a run needs run_id and kind");
    sq_batch_t *b;
    size_t before;
    sq_cell_t *c = row_open(q, end ? SQ_RUN_END : SQ_RUN_BEGIN, &b, &before, errstr, errstr_size);
    if (!c)
        return -1;
    cell_strz(b, &c[0], r->run_id);
    cell_strz(b, &c[1], r->kind);
    cell_strz(b, &c[2], end ? (r->status ? r->status : "finished") : "running");
    cell_ts(b, &c[3], r->started_ms);
    if (c[3].t == SQ_NULL)
        cell_str(b, &c[3], "1970-01-01 00:00:00.000", 23);
    cell_strz(b, &c[4], r->rules_sha256);
    cell_strz(b, &c[5], r->params);
    cell_strz(b, &c[6], WARDEN_VERSION);
    if (end) {
        cell_ts(b, &c[7], r->finished_ms);
        cell_int(&c[8], (int64_t)r->events);
        cell_int(&c[9], (int64_t)r->hits);
        cell_int(&c[10], (int64_t)r->rejected);
        cell_int(&c[11], (int64_t)r->errors);
    }
    return row_close(q, b, before, errstr, errstr_size);
}

int store_queue_rule_version(store_queue_t *q, const store_rule_version_t *rv,
                             char *errstr, size_t errstr_size)
{
    if (!rv->name || !rv->sha256)
        return store_seterr(errstr, errstr_size, "store: a rule version needs name and sha256");
    sq_batch_t *b;
    size_t before;
    sq_cell_t *c = row_open(q, SQ_VERSIONS, &b, &before, errstr, errstr_size);
    if (!c)
        return -1;
    cell_strz(b, &c[0], rv->name);
    cell_int(&c[1], rv->version);
    cell_strz(b, &c[2], rv->sha256);
    cell_strn(b, &c[3], rv->source ? rv->source : "", rv->source ? rv->source_len : 0);
    cell_ts(b, &c[4], rv->seen_ms);
    if (c[4].t == SQ_NULL)
        cell_str(b, &c[4], "1970-01-01 00:00:00.000", 23);
    char ver[24];
    snprintf(ver, sizeof(ver), "%d", rv->version);
    cell_row_key(q, b, &c[5], rv->name, ver, rv->sha256);
    return row_close(q, b, before, errstr, errstr_size);
}

int store_queue_audit(store_queue_t *q, const store_audit_t *a, char *errstr, size_t errstr_size)
{
    if (!a->id || !a->action)
        return store_seterr(errstr, errstr_size, "store: an audit row needs id and action");
    sq_batch_t *b;
    size_t before;
    sq_cell_t *c = row_open(q, SQ_AUDIT, &b, &before, errstr, errstr_size);
    if (!c)
        return -1;
    cell_strz(b, &c[0], a->id);
    cell_ts(b, &c[1], a->ts_ms);
    if (c[1].t == SQ_NULL)
        cell_str(b, &c[1], "1970-01-01 00:00:00.000", 23);
    cell_strz(b, &c[2], a->instance ? a->instance : "");
    cell_strz(b, &c[3], a->token);
    cell_strz(b, &c[4], a->action);
    cell_strz(b, &c[5], a->rule);
    cell_strz(b, &c[6], a->before);
    cell_strz(b, &c[7], a->after);
    cell_strz(b, &c[8], a->result);
    cell_int(&c[9], a->status);
    return row_close(q, b, before, errstr, errstr_size);
}

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Writes b until it is durable (0) or fails for good (-1); writer thread,
 * lock not held. */
static int write_batch(store_queue_t *q, sq_batch_t *b)
{
    char err[1024];
    for (;;) {
        uint64_t t0 = wd_now_ns() / 1000u;
        err[0] = '\0';
        int rc = q->ops->exec(q->ctx, b, err, sizeof(err));
        if (rc == 0) {
            uint64_t us = wd_now_ns() / 1000u - t0;
            pthread_mutex_lock(&q->lock);
            if (!q->healthy)
                LOG_INFO("store=%s msg=\"writing again\"", q->name);
            q->healthy = 1;
            q->batches++;
            q->us_last = us;
            q->us_total += us;
            if (us > q->us_max)
                q->us_max = us;
            pthread_mutex_unlock(&q->lock);
            store_backoff_reset(&q->backoff);
            return 0;
        }
        pthread_mutex_lock(&q->lock);
        q->failures++;
        q->healthy = 0;
        store_seterr(q->lasterr, sizeof(q->lasterr), "store: %s: %s", q->name, err);
        if (rc < 0) {
            q->failed = 1;
            pthread_mutex_unlock(&q->lock);
            LOG_ERROR("store=%s msg=\"batch rejected, sink failed\" table=%s rows=%zu err=\"%s\"",
                      q->name, sq_tables[b->table].name, b->nrows, err);
            return -1;
        }
        q->retries++;
        pthread_mutex_unlock(&q->lock);
        if (q->ops->reset)
            q->ops->reset(q->ctx);
        uint32_t ms = store_backoff_next(&q->backoff);
        LOG_WARN("store=%s msg=\"retrying batch\" table=%s rows=%zu attempt=%u delay_ms=%u err=\"%s\"",
                 q->name, sq_tables[b->table].name, b->nrows, q->backoff.attempt, ms, err);
        sleep_ms(ms);
    }
}

static void *writer_main(void *arg)
{
    store_queue_t *q = arg;
    pthread_mutex_lock(&q->lock);
    while (!q->failed) {
        if (!q->head) {
            uint64_t oldest = UINT64_MAX;
            for (int t = 0; t < SQ_NTABLES; t++)
                if (q->open[t] && q->open[t]->opened_us < oldest)
                    oldest = q->open[t]->opened_us;
            if (oldest != UINT64_MAX) {
                uint64_t due = oldest + (uint64_t)q->c.batch_ms * 1000u;
                uint64_t now = wd_now_ns() / 1000u;
                if (now >= due || q->closing) {
                    seal_all(q);
                    continue;
                }
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                uint64_t ns = (uint64_t)ts.tv_nsec + (due - now) * 1000u;
                ts.tv_sec += (time_t)(ns / 1000000000u);
                ts.tv_nsec = (long)(ns % 1000000000u);
                pthread_cond_timedwait(&q->wake_writer, &q->lock, &ts);
                continue;
            }
            if (q->closing)
                break;
            pthread_cond_wait(&q->wake_writer, &q->lock);
            continue;
        }
        sq_batch_t *b = q->head;
        pthread_mutex_unlock(&q->lock);
        int rc = write_batch(q, b);
        pthread_mutex_lock(&q->lock);
        if (rc != 0) {
            pthread_cond_broadcast(&q->progress);
            break;
        }
        q->head = b->next;
        if (!q->head)
            q->tail = NULL;
        q->done_seq = b->seq;
        q->buf_rows -= b->nrows;
        q->buf_bytes -= batch_cost(b);
        if (b->table == SQ_RESULTS)
            q->rows_written += b->nrows;
        pthread_cond_broadcast(&q->progress);
        pthread_mutex_unlock(&q->lock);
        batch_free(b);
        pthread_mutex_lock(&q->lock);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

static void queue_free(store_queue_t *q)
{
    for (int t = 0; t < SQ_NTABLES; t++)
        batch_free(q->open[t]);
    while (q->head) {
        sq_batch_t *b = q->head;
        q->head = b->next;
        batch_free(b);
    }
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->wake_writer);
    pthread_cond_destroy(&q->progress);
    free(q->name);
    free(q);
}

int store_queue_new(store_queue_t **out, const sq_conf_t *c, const sq_ops_t *ops, void *ctx,
                    char *errstr, size_t errstr_size)
{
    store_queue_t *q = wd_calloc(1, sizeof(*q));
    if (!q)
        return store_seterr(errstr, errstr_size, "store: out of memory");
    q->c = *c;
    if (q->c.batch_rows == 0)
        q->c.batch_rows = 10000;
    if (q->c.batch_ms <= 0)
        q->c.batch_ms = 200;
    if (q->c.batch_bytes == 0)
        q->c.batch_bytes = 8u << 20;
    if (q->c.max_rows < q->c.batch_rows)
        q->c.max_rows = q->c.batch_rows;
    if (q->c.max_bytes == 0)
        q->c.max_bytes = 256u << 20;
    q->name = wd_strdup(c->name ? c->name : "store");
    if (!q->name) {
        free(q);
        return store_seterr(errstr, errstr_size, "store: out of memory");
    }
    q->ops = ops;
    q->ctx = ctx;
    q->healthy = 1;
    store_backoff_init(&q->backoff, c->backoff_ms ? c->backoff_ms : 100,
                       c->backoff_max_ms ? c->backoff_max_ms : 5000, 0);
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->wake_writer, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&q->progress, NULL);
    if (pthread_create(&q->thread, NULL, writer_main, q) != 0) {
        queue_free(q);
        return store_seterr(errstr, errstr_size, "store: cannot start the writer thread");
    }
    *out = q;
    return 0;
}

int store_queue_flush(store_queue_t *q, char *errstr, size_t errstr_size)
{
    pthread_mutex_lock(&q->lock);
    seal_all(q);
    uint64_t target = q->last_seq, t0 = wd_now_ns();
    while (!q->failed && q->done_seq < target)
        pthread_cond_wait(&q->progress, &q->lock);
    uint64_t us = (wd_now_ns() - t0) / 1000u;
    q->flush_us += us;
    if (us > q->flush_max_us)
        q->flush_max_us = us;
    int rc = q->failed ? store_seterr(errstr, errstr_size, "%s", q->lasterr) : 0;
    pthread_mutex_unlock(&q->lock);
    return rc;
}

int store_queue_close(store_queue_t *q, char *errstr, size_t errstr_size)
{
    if (!q)
        return 0;
    int rc = store_queue_flush(q, errstr, errstr_size);
    pthread_mutex_lock(&q->lock);
    q->closing = 1;
    pthread_cond_signal(&q->wake_writer);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->thread, NULL);
    if (rc == 0 && q->failed)
        rc = store_seterr(errstr, errstr_size, "%s", q->lasterr);
    queue_free(q);
    return rc;
}

void store_queue_stats(store_queue_t *q, store_stats_t *out)
{
    pthread_mutex_lock(&q->lock);
    out->rows_queued = q->rows_queued;
    out->rows_written = q->rows_written;
    out->batches = q->batches;
    out->retries = q->retries;
    out->failures = q->failures;
    out->batch_us_last = q->us_last;
    out->batch_us_max = q->us_max;
    out->batch_us_total = q->us_total;
    out->buffer_rows = q->buf_rows;
    out->buffer_cap = q->c.max_rows;
    out->buffer_rows_max = q->buf_rows_max;
    out->blocked_us = q->blocked_us;
    out->flush_wait_us = q->flush_us;
    out->flush_wait_max_us = q->flush_max_us;
    out->healthy = q->healthy && !q->failed;
    pthread_mutex_unlock(&q->lock);
}

int store_queue_health(store_queue_t *q, char *errstr, size_t errstr_size)
{
    pthread_mutex_lock(&q->lock);
    int rc = (q->healthy && !q->failed) ? 0 : store_seterr(errstr, errstr_size, "%s", q->lasterr);
    pthread_mutex_unlock(&q->lock);
    return rc;
}

/* ---- backend vtable adapters (impl starts with its queue pointer) ------- */

static store_queue_t *impl_queue(void *impl)
{
    return *(store_queue_t **)impl;
}

int store_queue_be_write(void *impl, const store_row_t *rows, size_t n, char *errstr, size_t errstr_size)
{
    return store_queue_rows(impl_queue(impl), rows, n, errstr, errstr_size);
}

int store_queue_be_write_decision(void *impl, const store_decision_t *d, char *errstr, size_t errstr_size)
{
    return store_queue_decision(impl_queue(impl), d, errstr, errstr_size);
}

int store_queue_be_write_action(void *impl, const store_decision_t *d, char *errstr, size_t errstr_size)
{
    return store_queue_action(impl_queue(impl), d, errstr, errstr_size);
}

int store_queue_be_begin_run(void *impl, const store_run_t *r, char *errstr, size_t errstr_size)
{
    return store_queue_run(impl_queue(impl), r, 0, errstr, errstr_size);
}

int store_queue_be_end_run(void *impl, const store_run_t *r, char *errstr, size_t errstr_size)
{
    return store_queue_run(impl_queue(impl), r, 1, errstr, errstr_size);
}

int store_queue_be_audit(void *impl, const store_audit_t *a, char *errstr, size_t errstr_size)
{
    return store_queue_audit(impl_queue(impl), a, errstr, errstr_size);
}

int store_queue_be_rule_version(void *impl, const store_rule_version_t *rv, char *errstr,
                                size_t errstr_size)
{
    return store_queue_rule_version(impl_queue(impl), rv, errstr, errstr_size);
}

int store_queue_be_flush(void *impl, char *errstr, size_t errstr_size)
{
    return store_queue_flush(impl_queue(impl), errstr, errstr_size);
}

void store_queue_be_stats(void *impl, store_stats_t *out)
{
    store_queue_stats(impl_queue(impl), out);
}

int store_queue_be_health(void *impl, char *errstr, size_t errstr_size)
{
    return store_queue_health(impl_queue(impl), errstr, errstr_size);
}

int store_queue_be_close(void *impl, char *errstr, size_t errstr_size)
{
    store_queue_t *q = impl_queue(impl);
    void (*destroy)(void *) = q->ops->destroy;
    int rc = store_queue_close(q, errstr, errstr_size);
    destroy(impl);
    return rc;
}
