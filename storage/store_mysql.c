/* storage/store_mysql.c — the mysql:// sink (MariaDB, MySQL, StarRocks' FE
 * MySQL port) over libmariadb.
 *
 * store_write copies rows into per-table open batches (strings into one
 * arena per batch).  A batch is sealed when it holds batch_rows rows or
 * ~max_allowed_packet/4 bytes, when it is batch_ms old, or at store_flush;
 * sealed batches wait in a FIFO for the writer thread, which owns the
 * connection.  Past max_buffer_rows (or buffer_mb) buffered rows, store_write
 * blocks: backpressure instead of unbounded memory.
 *
 * The writer executes a batch as one statement: on MariaDB a prepared INSERT
 * … ON DUPLICATE KEY UPDATE with column-wise array binding
 * (STMT_ATTR_ARRAY_SIZE); elsewhere (MySQL, StarRocks, ?bulk=0) a multi-row
 * INSERT whose strings are escaped by mysql_real_escape_string on a binary
 * connection (StarRocks: plain INSERT into Primary Key tables, which replaces
 * rows with the same key).  Either way a retried batch is an upsert, so a
 * batch whose OK was lost is harmless to send again.  A retriable error
 * (server gone, restart, deadlock…) closes the connection, sleeps with
 * exponential backoff and jitter, reconnects, re-prepares and sends the same
 * batch again — forever: rows are never dropped.  Anything else (a row the
 * server rejects) is fatal: the sink fails and every later call returns -1. */
#include "storage/store_mysql.h"
#include "storage/store_backoff.h"
#include "storage/store_int.h"
#include "storage/store_migrate.h"
#include "storage/store_url.h"
#include "engine/eng_log.h"

#include <errmsg.h>
#include <mysqld_error.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef WARDEN_VERSION
#define WARDEN_VERSION "0.0.0"
#endif

/* ---- connection helpers (store_mysql.h) -------------------------------- */

const char *store_dialect_name(int d)
{
    switch (d) {
    case STORE_DIALECT_MARIADB: return "mariadb";
    case STORE_DIALECT_MYSQL: return "mysql";
    case STORE_DIALECT_STARROCKS: return "starrocks";
    default: return "auto";
    }
}

int store_dialect_parse(const char *s)
{
    if (strcmp(s, "mariadb") == 0) return STORE_DIALECT_MARIADB;
    if (strcmp(s, "mysql") == 0) return STORE_DIALECT_MYSQL;
    if (strcmp(s, "starrocks") == 0) return STORE_DIALECT_STARROCKS;
    if (strcmp(s, "auto") == 0) return STORE_DIALECT_AUTO;
    return -1;
}

int store_my_retriable(unsigned err, const char *msg)
{
    switch (err) {
    case CR_CONNECTION_ERROR: case CR_CONN_HOST_ERROR: case CR_UNKNOWN_HOST:
    case CR_SERVER_GONE_ERROR: case CR_SERVER_LOST: case CR_SERVER_LOST_EXTENDED:
    case CR_COMMANDS_OUT_OF_SYNC: case CR_SSL_CONNECTION_ERROR:
    case ER_CON_COUNT_ERROR: case ER_TOO_MANY_USER_CONNECTIONS:
    case ER_SERVER_SHUTDOWN: case ER_NORMAL_SHUTDOWN: case ER_SHUTDOWN_COMPLETE:
    case ER_LOCK_WAIT_TIMEOUT: case ER_LOCK_DEADLOCK: case ER_QUERY_INTERRUPTED:
    case ER_OPTION_PREVENTS_STATEMENT: case ER_CONNECTION_KILLED:
    case ER_NET_READ_ERROR: case ER_NET_READ_INTERRUPTED: case ER_NET_ERROR_ON_WRITE:
    case ER_NET_WRITE_INTERRUPTED: case ER_OUT_OF_RESOURCES:
    case ER_LOCK_TABLE_FULL: case ER_CANT_LOCK:
        return 1;
    default:
        break;
    }
    /* StarRocks answers overload with generic codes and these words. */
    if (msg && (strstr(msg, "too many versions") || strstr(msg, "Too many versions") ||
                strstr(msg, "timeout") || strstr(msg, "Timeout") ||
                strstr(msg, "is not alive") || strstr(msg, "try again")))
        return 1;
    return 0;
}

int store_my_opts_from_url(const store_url_t *u, store_myconn_opts_t *o,
                           char *errstr, size_t errstr_size)
{
    long ct = 5, rw = 60;
    memset(o, 0, sizeof(*o));
    const char *d = store_url_param(u, "dialect");
    if (d) {
        int x = store_dialect_parse(d);
        if (x < 0)
            return store_seterr(errstr, errstr_size,
                                "store: mysql URL: ?dialect=%s (want mariadb, mysql, starrocks or auto)", d);
        o->dialect = x;
    }
    if (store_url_param_long(u, "connect_timeout", 1, 3600, &ct, errstr, errstr_size) ||
        store_url_param_long(u, "timeout", 1, 86400, &rw, errstr, errstr_size))
        return -1;
    o->connect_timeout = (unsigned)ct;
    o->rw_timeout = (unsigned)rw;
    o->socket = store_url_param(u, "socket");
    return 0;
}

static int my_query(MYSQL *m, const char *q, int *retriable, char *errstr, size_t errstr_size)
{
    if (mysql_query(m, q) == 0) {
        MYSQL_RES *r = mysql_store_result(m);
        mysql_free_result(r);
        return 0;
    }
    if (retriable)
        *retriable = store_my_retriable(mysql_errno(m), mysql_error(m));
    return store_seterr(errstr, errstr_size, "%s (error %u)", mysql_error(m), mysql_errno(m));
}

MYSQL *store_my_connect(const store_url_t *u, const store_myconn_opts_t *o, int *dialect,
                        int *retriable, char *errstr, size_t errstr_size)
{
    *retriable = 0;
    MYSQL *m = mysql_init(NULL);
    if (!m) {
        store_seterr(errstr, errstr_size, "out of memory");
        return NULL;
    }
    unsigned ct = o->connect_timeout ? o->connect_timeout : 5;
    unsigned rw = o->rw_timeout ? o->rw_timeout : 60;
    my_bool off = 0;
    mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
    mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &rw);
    mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &rw);
    mysql_optionsv(m, MYSQL_OPT_RECONNECT, &off);
    mysql_optionsv(m, MYSQL_OPT_LOCAL_INFILE, &off);
    const char *host = o->socket ? "localhost" : u->host;
    if (!mysql_real_connect(m, host, u->user ? u->user : "root", u->password, u->db,
                            u->port ? u->port : 3306, o->socket, 0)) {
        unsigned e = mysql_errno(m);
        /* Access or database errors do not heal by themselves at start-up;
         * the sink's writer treats every connect failure as retriable. */
        *retriable = store_my_retriable(e, mysql_error(m));
        store_seterr(errstr, errstr_size, "cannot connect: %s (error %u)", mysql_error(m), e);
        mysql_close(m);
        return NULL;
    }
    int d = o->dialect;
    if (d == STORE_DIALECT_AUTO) {
        const char *info = mysql_get_server_info(m);
        if (info && strstr(info, "MariaDB")) {
            d = STORE_DIALECT_MARIADB;
        } else if (mysql_query(m, "SELECT current_version()") == 0) {
            mysql_free_result(mysql_store_result(m));
            d = STORE_DIALECT_STARROCKS;
        } else {
            d = STORE_DIALECT_MYSQL;
        }
    }
    char err[512];
    if (d != STORE_DIALECT_STARROCKS) {
        if (mysql_set_character_set(m, "binary") != 0) {
            *retriable = store_my_retriable(mysql_errno(m), mysql_error(m));
            store_seterr(errstr, errstr_size, "SET NAMES binary: %s", mysql_error(m));
            mysql_close(m);
            return NULL;
        }
        if (my_query(m, "SET SESSION time_zone = '+00:00', SESSION sql_mode = "
                        "'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'",
                     retriable, err, sizeof(err)) != 0) {
            store_seterr(errstr, errstr_size, "session setup: %s", err);
            mysql_close(m);
            return NULL;
        }
    } else if (my_query(m, "SET time_zone = '+00:00'", retriable, err, sizeof(err)) != 0) {
        store_seterr(errstr, errstr_size, "session setup: %s", err);
        mysql_close(m);
        return NULL;
    }
    *dialect = d;
    return m;
}

int store_my_schema_version(MYSQL *m, int *version, int *retriable, char *errstr, size_t errstr_size)
{
    *version = 0;
    if (retriable)
        *retriable = 0;
    if (mysql_query(m, "SELECT COALESCE(MAX(version), 0) FROM schema_version") != 0) {
        unsigned e = mysql_errno(m);
        if (e == ER_NO_SUCH_TABLE || (mysql_error(m) && strstr(mysql_error(m), "nknown table")))
            return 0;
        if (retriable)
            *retriable = store_my_retriable(e, mysql_error(m));
        return store_seterr(errstr, errstr_size, "reading schema_version: %s (error %u)",
                            mysql_error(m), e);
    }
    MYSQL_RES *r = mysql_store_result(m);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    if (row && row[0])
        *version = atoi(row[0]);
    mysql_free_result(r);
    return 0;
}

/* ---- tables ------------------------------------------------------------- */

enum { CT_STR, CT_INT, CT_DBL };         /* column types */
enum { V_NULL, V_STR, V_INT, V_DBL };    /* cell values */

typedef struct col {
    const char *name;
    int         type;
    int         sr_only;   /* StarRocks only (event_day) */
} col_t;

enum { T_RESULTS, T_DECISIONS, T_RUN_BEGIN, T_RUN_END, T_VERSIONS, T_COUNT };

typedef struct table {
    const char  *name;
    const col_t *cols;
    int          ncols;
    const char  *update;   /* ON DUPLICATE KEY UPDATE tail (MariaDB/MySQL) */
} table_t;

static const col_t results_cols[] = {
    { "event_day", CT_STR, 1 }, { "run_id", CT_STR, 0 }, { "event_id", CT_STR, 0 },
    { "rule", CT_STR, 0 }, { "stream", CT_STR, 0 }, { "version", CT_INT, 0 },
    { "mode", CT_STR, 0 }, { "verdict", CT_STR, 0 }, { "entity", CT_STR, 0 },
    { "reason", CT_STR, 0 }, { "score", CT_DBL, 0 }, { "event_ts", CT_STR, 0 },
    { "topic", CT_STR, 0 }, { "kafka_partition", CT_INT, 0 }, { "kafka_offset", CT_INT, 0 },
};
static const col_t decisions_cols[] = {
    { "event_day", CT_STR, 1 }, { "run_id", CT_STR, 0 }, { "event_id", CT_STR, 0 },
    { "stream", CT_STR, 0 }, { "entity", CT_STR, 0 }, { "verdict", CT_STR, 0 },
    { "rules", CT_STR, 0 }, { "event_ts", CT_STR, 0 },
};
static const col_t run_begin_cols[] = {
    { "run_id", CT_STR, 0 }, { "kind", CT_STR, 0 }, { "status", CT_STR, 0 },
    { "started_at", CT_STR, 0 }, { "rules_sha256", CT_STR, 0 }, { "params", CT_STR, 0 },
    { "warden_version", CT_STR, 0 },
};
static const col_t run_end_cols[] = {
    { "run_id", CT_STR, 0 }, { "kind", CT_STR, 0 }, { "status", CT_STR, 0 },
    { "started_at", CT_STR, 0 }, { "rules_sha256", CT_STR, 0 }, { "params", CT_STR, 0 },
    { "warden_version", CT_STR, 0 }, { "finished_at", CT_STR, 0 }, { "events", CT_INT, 0 },
    { "hits", CT_INT, 0 }, { "rejected", CT_INT, 0 }, { "errors", CT_INT, 0 },
};
static const col_t versions_cols[] = {
    { "name", CT_STR, 0 }, { "version", CT_INT, 0 }, { "sha256", CT_STR, 0 },
    { "source", CT_STR, 0 }, { "first_seen", CT_STR, 0 },
};

#define NCOLS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const table_t tables[T_COUNT] = {
    [T_RESULTS] = { "rule_results", results_cols, NCOLS(results_cols),
        "stream=VALUES(stream), version=VALUES(version), mode=VALUES(mode), "
        "verdict=VALUES(verdict), entity=VALUES(entity), reason=VALUES(reason), "
        "score=VALUES(score), event_ts=VALUES(event_ts), topic=VALUES(topic), "
        "kafka_partition=VALUES(kafka_partition), kafka_offset=VALUES(kafka_offset)" },
    [T_DECISIONS] = { "decisions", decisions_cols, NCOLS(decisions_cols),
        "stream=VALUES(stream), entity=VALUES(entity), verdict=VALUES(verdict), "
        "rules=VALUES(rules), event_ts=VALUES(event_ts)" },
    [T_RUN_BEGIN] = { "rule_runs", run_begin_cols, NCOLS(run_begin_cols),
        "kind=VALUES(kind), status=VALUES(status), started_at=VALUES(started_at), "
        "rules_sha256=VALUES(rules_sha256), params=VALUES(params), "
        "warden_version=VALUES(warden_version)" },
    [T_RUN_END] = { "rule_runs", run_end_cols, NCOLS(run_end_cols),
        "status=VALUES(status), finished_at=VALUES(finished_at), events=VALUES(events), "
        "hits=VALUES(hits), rejected=VALUES(rejected), errors=VALUES(errors)" },
    [T_VERSIONS] = { "rule_versions", versions_cols, NCOLS(versions_cols),
        "first_seen=LEAST(first_seen, VALUES(first_seen))" },
};

#define MAX_COLS 15

/* ---- batches ------------------------------------------------------------ */

typedef struct cell {
    uint8_t t;            /* V_* */
    union {
        struct { size_t off, len; } s;   /* bytes in the batch's arena */
        int64_t i;
        double  d;
    } v;
} cell_t;

typedef struct batch {
    struct batch *next;
    int           table;
    size_t        nrows;
    size_t        cap;
    cell_t       *cells;    /* nrows × tables[table].ncols */
    eng_buf_t     arena;
    uint64_t      seq;
    uint64_t      opened_us;
} batch_t;

static void batch_free(batch_t *b)
{
    if (!b)
        return;
    free(b->cells);
    eng_buf_free(&b->arena);
    free(b);
}

typedef struct my {
    /* configuration (immutable after open) */
    store_url_t         url;
    char               *redacted;
    store_myconn_opts_t copts;
    int                 dialect;
    int                 bulk;          /* array binding available and wanted */
    size_t              batch_rows;
    int                 batch_ms;
    size_t              max_rows;      /* backpressure: buffered rows */
    size_t              max_bytes;     /* backpressure: buffered bytes */
    size_t              batch_bytes;   /* seal a batch past this */
    uint32_t            backoff_base_ms, backoff_max_ms;

    /* shared state, under lock */
    pthread_mutex_t     lock;
    pthread_cond_t      wake_writer;
    pthread_cond_t      progress;      /* a batch finished, or failure */
    batch_t            *open[T_COUNT];
    batch_t            *head, *tail;   /* sealed FIFO */
    uint64_t            last_seq;      /* last sealed */
    uint64_t            done_seq;      /* last written */
    size_t              buf_rows;      /* open + sealed, not yet written */
    size_t              buf_bytes;
    int                 closing;
    int                 failed;        /* fatal: no more writes */
    int                 healthy;
    char                lasterr[1536];
    uint64_t            rows_queued, rows_written, batches, retries, failures;
    uint64_t            us_last, us_max, us_total;

    /* writer thread only */
    pthread_t           thread;
    MYSQL              *conn;
    MYSQL_STMT         *stmts[T_COUNT];
    store_backoff_t     backoff;
    eng_buf_t           sql;
} my_t;

/* Starts a new open batch for table t; caller holds the lock. */
static batch_t *batch_open(my_t *m, int t)
{
    batch_t *b = m->open[t];
    if (b)
        return b;
    b = calloc(1, sizeof(*b));
    if (!b)
        abort();
    b->table = t;
    b->cap = 64;
    b->cells = malloc(b->cap * (size_t)tables[t].ncols * sizeof(cell_t));
    if (!b->cells)
        abort();
    b->opened_us = store_now_us();
    m->open[t] = b;
    /* The writer sleeps without a deadline while nothing is open. */
    pthread_cond_signal(&m->wake_writer);
    return b;
}

/* Appends an empty row and returns its cells. */
static cell_t *batch_row(batch_t *b)
{
    int nc = tables[b->table].ncols;
    if (b->nrows == b->cap) {
        size_t cap = b->cap * 2;
        cell_t *c = realloc(b->cells, cap * (size_t)nc * sizeof(cell_t));
        if (!c)
            abort();
        b->cells = c;
        b->cap = cap;
    }
    cell_t *row = b->cells + b->nrows * (size_t)nc;
    b->nrows++;
    return row;
}

static void cell_str(batch_t *b, cell_t *c, const char *s, size_t len)
{
    if (!s) {
        c->t = V_NULL;
        return;
    }
    c->t = V_STR;
    c->v.s.off = b->arena.len;
    c->v.s.len = len;
    eng_buf_add(&b->arena, s, len);
}

static void cell_strz(batch_t *b, cell_t *c, const char *s)
{
    cell_str(b, c, s, s ? strlen(s) : 0);
}

static void cell_int(cell_t *c, int64_t i)
{
    c->t = V_INT;
    c->v.i = i;
}

/* "YYYY-MM-DD HH:MM:SS.mmm" (UTC), or NULL for INT64_MIN. */
static void cell_ts(batch_t *b, cell_t *c, int64_t ms)
{
    if (ms == INT64_MIN) {
        c->t = V_NULL;
        return;
    }
    int64_t sec = ms / 1000, rem = ms % 1000;
    if (rem < 0) {
        rem += 1000;
        sec--;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    char tmp[40];
    if (!gmtime_r(&t, &tm)) {
        c->t = V_NULL;
        return;
    }
    int n = snprintf(tmp, sizeof(tmp), "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)rem);
    cell_str(b, c, tmp, (size_t)n);
}

/* StarRocks partition day of an event time ("1970-01-01" without one). */
static void cell_day(batch_t *b, cell_t *c, int64_t ms)
{
    cell_ts(b, c, ms);
    if (c->t == V_NULL)
        cell_str(b, c, "1970-01-01", 10);
    else
        c->v.s.len = 10;
}

/* Moves every open batch to the sealed FIFO; caller holds the lock. */
static void seal_all(my_t *m)
{
    for (int t = 0; t < T_COUNT; t++) {
        batch_t *b = m->open[t];
        if (!b)
            continue;
        m->open[t] = NULL;
        b->seq = ++m->last_seq;
        if (m->tail)
            m->tail->next = b;
        else
            m->head = b;
        m->tail = b;
    }
    pthread_cond_signal(&m->wake_writer);
}

static void seal_if_full(my_t *m, batch_t *b)
{
    if (b->nrows >= m->batch_rows || b->arena.len >= m->batch_bytes)
        seal_all(m);
}

/* Waits while the buffer is full; caller holds the lock.  Returns -1 when
 * the sink has failed. */
static int wait_room(my_t *m, char *errstr, size_t errstr_size)
{
    while (!m->failed && (m->buf_rows >= m->max_rows || m->buf_bytes >= m->max_bytes)) {
        seal_all(m);
        pthread_cond_wait(&m->progress, &m->lock);
    }
    if (m->failed)
        return store_seterr(errstr, errstr_size, "%s", m->lasterr);
    return 0;
}

/* Accounts a row just added to b (bytes: arena growth). */
static void account(my_t *m, batch_t *b, size_t bytes_before)
{
    m->buf_rows++;
    m->buf_bytes += b->arena.len - bytes_before + (size_t)tables[b->table].ncols * sizeof(cell_t);
    seal_if_full(m, b);
}

static int my_write(void *impl, const store_row_t *rows, size_t n, char *errstr, size_t errstr_size)
{
    my_t *m = impl;
    int sr = m->dialect == STORE_DIALECT_STARROCKS;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < n; i++) {
        if (wait_room(m, errstr, errstr_size) != 0) {
            pthread_mutex_unlock(&m->lock);
            return -1;
        }
        const store_row_t *r = &rows[i];
        batch_t *b = batch_open(m, T_RESULTS);
        size_t before = b->arena.len;
        cell_t *c = batch_row(b);
        if (sr)
            cell_day(b, &c[0], r->event_ts_ms);
        else
            c[0].t = V_NULL;
        cell_strz(b, &c[1], r->run_id);
        cell_strz(b, &c[2], r->event_id);
        cell_strz(b, &c[3], r->rule);
        cell_strz(b, &c[4], r->stream);
        cell_int(&c[5], r->version);
        cell_strz(b, &c[6], r->mode);
        cell_strz(b, &c[7], r->verdict);
        cell_str(b, &c[8], r->entity ? r->entity : "",
                 r->entity ? (r->entity_len ? r->entity_len : strlen(r->entity)) : 0);
        cell_str(b, &c[9], r->reason, r->reason ? (r->reason_len ? r->reason_len : strlen(r->reason)) : 0);
        if (r->has_score && isfinite(r->score)) {
            c[10].t = V_DBL;
            c[10].v.d = r->score;
        } else {
            c[10].t = V_NULL;
        }
        cell_ts(b, &c[11], r->event_ts_ms);
        cell_strz(b, &c[12], r->topic);
        if (r->topic) {
            cell_int(&c[13], r->partition);
            cell_int(&c[14], r->offset);
        } else {
            c[13].t = c[14].t = V_NULL;
        }
        m->rows_queued++;
        account(m, b, before);
    }
    pthread_mutex_unlock(&m->lock);
    return 0;
}

static int my_write_decision(void *impl, const store_decision_t *d, char *errstr, size_t errstr_size)
{
    my_t *m = impl;
    pthread_mutex_lock(&m->lock);
    if (wait_room(m, errstr, errstr_size) != 0) {
        pthread_mutex_unlock(&m->lock);
        return -1;
    }
    batch_t *b = batch_open(m, T_DECISIONS);
    size_t before = b->arena.len;
    cell_t *c = batch_row(b);
    if (m->dialect == STORE_DIALECT_STARROCKS)
        cell_day(b, &c[0], d->event_ts_ms);
    else
        c[0].t = V_NULL;
    cell_strz(b, &c[1], d->run_id);
    cell_strz(b, &c[2], d->event_id);
    cell_strz(b, &c[3], d->stream);
    cell_strz(b, &c[4], d->entity ? d->entity : "");
    cell_strz(b, &c[5], d->verdict);
    /* Rule names are [a-z0-9_.]+, so a comma list is unambiguous
     * (FIND_IN_SET('spam.x', rules)). */
    c[6].t = V_STR;
    c[6].v.s.off = b->arena.len;
    for (size_t i = 0; i < d->nrules; i++) {
        if (i)
            eng_buf_addc(&b->arena, ',');
        eng_buf_adds(&b->arena, d->rules[i]);
    }
    c[6].v.s.len = b->arena.len - c[6].v.s.off;
    cell_ts(b, &c[7], d->event_ts_ms);
    account(m, b, before);
    pthread_mutex_unlock(&m->lock);
    return 0;
}

static int my_run(my_t *m, const store_run_t *r, int end, char *errstr, size_t errstr_size)
{
    if (!r->run_id || !r->kind)
        return store_seterr(errstr, errstr_size, "store: run_id and kind are required");
    pthread_mutex_lock(&m->lock);
    if (wait_room(m, errstr, errstr_size) != 0) {
        pthread_mutex_unlock(&m->lock);
        return -1;
    }
    batch_t *b = batch_open(m, end ? T_RUN_END : T_RUN_BEGIN);
    size_t before = b->arena.len;
    cell_t *c = batch_row(b);
    cell_strz(b, &c[0], r->run_id);
    cell_strz(b, &c[1], r->kind);
    cell_strz(b, &c[2], end ? (r->status ? r->status : "finished") : "running");
    cell_ts(b, &c[3], r->started_ms);
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
    account(m, b, before);
    pthread_mutex_unlock(&m->lock);
    return 0;
}

static int my_begin_run(void *impl, const store_run_t *r, char *errstr, size_t errstr_size)
{
    return my_run(impl, r, 0, errstr, errstr_size);
}

static int my_end_run(void *impl, const store_run_t *r, char *errstr, size_t errstr_size)
{
    return my_run(impl, r, 1, errstr, errstr_size);
}

static int my_rule_version(void *impl, const store_rule_version_t *rv, char *errstr, size_t errstr_size)
{
    my_t *m = impl;
    if (!rv->name || !rv->sha256)
        return store_seterr(errstr, errstr_size, "store: rule version needs name and sha256");
    pthread_mutex_lock(&m->lock);
    if (wait_room(m, errstr, errstr_size) != 0) {
        pthread_mutex_unlock(&m->lock);
        return -1;
    }
    batch_t *b = batch_open(m, T_VERSIONS);
    size_t before = b->arena.len;
    cell_t *c = batch_row(b);
    cell_strz(b, &c[0], rv->name);
    cell_int(&c[1], rv->version);
    cell_strz(b, &c[2], rv->sha256);
    cell_str(b, &c[3], rv->source ? rv->source : "",
             rv->source ? (rv->source_len ? rv->source_len : strlen(rv->source)) : 0);
    cell_ts(b, &c[4], rv->seen_ms);
    account(m, b, before);
    pthread_mutex_unlock(&m->lock);
    return 0;
}

/* ---- the writer --------------------------------------------------------- */

/* Executes b on m->conn.  Returns 0, 1 for a retriable failure, -1 fatal;
 * the message goes to err. */
static int exec_bulk(my_t *m, batch_t *b, char *err, size_t errsz)
{
    const table_t *t = &tables[b->table];
    MYSQL_STMT *st = m->stmts[b->table];
    if (!st) {
        eng_buf_reset(&m->sql);
        eng_buf_printf(&m->sql, "INSERT INTO %s (", t->name);
        int np = 0;
        for (int c = 0; c < t->ncols; c++) {
            if (t->cols[c].sr_only)
                continue;
            eng_buf_printf(&m->sql, "%s%s", np++ ? ", " : "", t->cols[c].name);
        }
        eng_buf_adds(&m->sql, ") VALUES (");
        for (int i = 0; i < np; i++)
            eng_buf_adds(&m->sql, i ? ", ?" : "?");
        eng_buf_printf(&m->sql, ") ON DUPLICATE KEY UPDATE %s", t->update);
        st = mysql_stmt_init(m->conn);
        if (!st) {
            snprintf(err, errsz, "mysql_stmt_init: out of memory");
            return 1;
        }
        if (mysql_stmt_prepare(st, m->sql.data, m->sql.len) != 0) {
            unsigned e = mysql_stmt_errno(st);
            snprintf(err, errsz, "prepare %s: %s (error %u)", t->name, mysql_stmt_error(st), e);
            int retry = store_my_retriable(e, mysql_stmt_error(st));
            mysql_stmt_close(st);
            return retry ? 1 : -1;
        }
        m->stmts[b->table] = st;
    }
    size_t n = b->nrows;
    MYSQL_BIND bind[MAX_COLS];
    void *arrays[MAX_COLS * 3];
    int narrays = 0;
    memset(bind, 0, sizeof(bind));
    int p = 0, rc = 0;
    const char *base = b->arena.data ? b->arena.data : "";
    for (int c = 0; c < t->ncols; c++) {
        if (t->cols[c].sr_only)
            continue;
        char *ind = malloc(n);
        arrays[narrays++] = ind;
        MYSQL_BIND *bd = &bind[p++];
        bd->u.indicator = ind;
        if (t->cols[c].type == CT_STR) {
            const char **ptr = malloc(n * sizeof(char *));
            unsigned long *len = malloc(n * sizeof(unsigned long));
            arrays[narrays++] = ptr;
            arrays[narrays++] = len;
            for (size_t r = 0; r < n; r++) {
                const cell_t *cl = &b->cells[r * (size_t)t->ncols + (size_t)c];
                ind[r] = cl->t == V_NULL ? STMT_INDICATOR_NULL : STMT_INDICATOR_NONE;
                ptr[r] = cl->t == V_STR ? base + cl->v.s.off : "";
                len[r] = cl->t == V_STR ? (unsigned long)cl->v.s.len : 0;
            }
            bd->buffer_type = MYSQL_TYPE_BLOB;
            bd->buffer = (void *)ptr;
            bd->length = len;
        } else if (t->cols[c].type == CT_INT) {
            int64_t *v = malloc(n * sizeof(int64_t));
            arrays[narrays++] = v;
            for (size_t r = 0; r < n; r++) {
                const cell_t *cl = &b->cells[r * (size_t)t->ncols + (size_t)c];
                ind[r] = cl->t == V_NULL ? STMT_INDICATOR_NULL : STMT_INDICATOR_NONE;
                v[r] = cl->t == V_INT ? cl->v.i : 0;
            }
            bd->buffer_type = MYSQL_TYPE_LONGLONG;
            bd->buffer = v;
        } else {
            double *v = malloc(n * sizeof(double));
            arrays[narrays++] = v;
            for (size_t r = 0; r < n; r++) {
                const cell_t *cl = &b->cells[r * (size_t)t->ncols + (size_t)c];
                ind[r] = cl->t == V_NULL ? STMT_INDICATOR_NULL : STMT_INDICATOR_NONE;
                v[r] = cl->t == V_DBL ? cl->v.d : 0;
            }
            bd->buffer_type = MYSQL_TYPE_DOUBLE;
            bd->buffer = v;
        }
    }
    for (int i = 0; i < narrays; i++)
        if (!arrays[i])
            abort();
    unsigned int asz = (unsigned int)n;
    if (mysql_stmt_attr_set(st, STMT_ATTR_ARRAY_SIZE, &asz) != 0 ||
        mysql_stmt_bind_param(st, bind) != 0 || mysql_stmt_execute(st) != 0) {
        unsigned e = mysql_stmt_errno(st);
        snprintf(err, errsz, "insert into %s (%zu rows): %s (error %u)", t->name, n,
                 mysql_stmt_error(st), e);
        rc = store_my_retriable(e, mysql_stmt_error(st)) ? 1 : -1;
    }
    for (int i = 0; i < narrays; i++)
        free(arrays[i]);
    return rc;
}

/* Multi-row INSERT text with escaped strings (MySQL, StarRocks, ?bulk=0). */
static int exec_text(my_t *m, batch_t *b, char *err, size_t errsz)
{
    const table_t *t = &tables[b->table];
    int sr = m->dialect == STORE_DIALECT_STARROCKS;
    eng_buf_t *q = &m->sql;
    eng_buf_reset(q);
    eng_buf_printf(q, "INSERT INTO %s (", t->name);
    int np = 0;
    for (int c = 0; c < t->ncols; c++) {
        if (t->cols[c].sr_only && !sr)
            continue;
        eng_buf_printf(q, "%s%s", np++ ? ", " : "", t->cols[c].name);
    }
    eng_buf_adds(q, ") VALUES ");
    const char *base = b->arena.data ? b->arena.data : "";
    for (size_t r = 0; r < b->nrows; r++) {
        eng_buf_adds(q, r ? ",(" : "(");
        int first = 1;
        for (int c = 0; c < t->ncols; c++) {
            if (t->cols[c].sr_only && !sr)
                continue;
            if (!first)
                eng_buf_addc(q, ',');
            first = 0;
            const cell_t *cl = &b->cells[r * (size_t)t->ncols + (size_t)c];
            switch (cl->t) {
            case V_NULL:
                eng_buf_add(q, "NULL", 4);
                break;
            case V_INT:
                eng_buf_printf(q, "%lld", (long long)cl->v.i);
                break;
            case V_DBL:
                eng_buf_printf(q, "%.17g", cl->v.d);
                break;
            default:
                eng_buf_reserve(q, cl->v.s.len * 2 + 3);
                q->data[q->len++] = '\'';
                q->len += mysql_real_escape_string(m->conn, q->data + q->len,
                                                   base + cl->v.s.off, (unsigned long)cl->v.s.len);
                q->data[q->len++] = '\'';
                q->data[q->len] = '\0';
                break;
            }
        }
        eng_buf_addc(q, ')');
    }
    if (!sr)
        eng_buf_printf(q, " ON DUPLICATE KEY UPDATE %s", t->update);
    if (mysql_real_query(m->conn, q->data, q->len) != 0) {
        unsigned e = mysql_errno(m->conn);
        snprintf(err, errsz, "insert into %s (%zu rows): %s (error %u)", t->name, b->nrows,
                 mysql_error(m->conn), e);
        return store_my_retriable(e, mysql_error(m->conn)) ? 1 : -1;
    }
    return 0;
}

static void disconnect(my_t *m)
{
    for (int t = 0; t < T_COUNT; t++) {
        if (m->stmts[t])
            mysql_stmt_close(m->stmts[t]);
        m->stmts[t] = NULL;
    }
    if (m->conn)
        mysql_close(m->conn);
    m->conn = NULL;
}

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Writes b until it is durable (0) or fails for good (-1).  Runs on the
 * writer thread without the lock. */
static int write_batch(my_t *m, batch_t *b)
{
    char err[1024];
    for (;;) {
        int rc;
        if (!m->conn) {
            int retriable, d;
            m->conn = store_my_connect(&m->url, &m->copts, &d, &retriable, err, sizeof(err));
            rc = m->conn ? 0 : 1;   /* any connect failure may heal */
        } else {
            rc = 0;
        }
        if (rc == 0) {
            uint64_t t0 = store_now_us();
            rc = m->bulk ? exec_bulk(m, b, err, sizeof(err)) : exec_text(m, b, err, sizeof(err));
            if (rc == 0) {
                uint64_t us = store_now_us() - t0;
                pthread_mutex_lock(&m->lock);
                if (!m->healthy)
                    LOG_INFO("store=%s msg=\"writing again\"", m->redacted);
                m->healthy = 1;
                m->batches++;
                m->us_last = us;
                m->us_total += us;
                if (us > m->us_max)
                    m->us_max = us;
                pthread_mutex_unlock(&m->lock);
                store_backoff_reset(&m->backoff);
                return 0;
            }
        }
        pthread_mutex_lock(&m->lock);
        m->failures++;
        m->healthy = 0;
        store_seterr(m->lasterr, sizeof(m->lasterr), "store: %s: %s", m->redacted, err);
        if (rc < 0) {
            m->failed = 1;
            pthread_mutex_unlock(&m->lock);
            LOG_ERROR("store=%s msg=\"batch rejected, sink failed\" err=\"%s\"", m->redacted, err);
            return -1;
        }
        m->retries++;
        pthread_mutex_unlock(&m->lock);
        disconnect(m);
        uint32_t ms = store_backoff_next(&m->backoff);
        LOG_WARN("store=%s msg=\"retrying batch\" rows=%zu attempt=%u delay_ms=%u err=\"%s\"",
                 m->redacted, b->nrows, m->backoff.attempt, ms, err);
        sleep_ms(ms);
    }
}

static void *writer_main(void *arg)
{
    my_t *m = arg;
    pthread_mutex_lock(&m->lock);
    for (;;) {
        if (m->failed)
            break;
        if (!m->head) {
            uint64_t oldest = 0;
            int any = 0;
            for (int t = 0; t < T_COUNT; t++)
                if (m->open[t] && (!any || m->open[t]->opened_us < oldest)) {
                    oldest = m->open[t]->opened_us;
                    any = 1;
                }
            if (any) {
                uint64_t due = oldest + (uint64_t)m->batch_ms * 1000u;
                uint64_t now = store_now_us();
                if (now >= due || m->closing) {
                    seal_all(m);
                    continue;
                }
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                uint64_t ns = (uint64_t)ts.tv_nsec + (due - now) * 1000u;
                ts.tv_sec += (time_t)(ns / 1000000000u);
                ts.tv_nsec = (long)(ns % 1000000000u);
                pthread_cond_timedwait(&m->wake_writer, &m->lock, &ts);
                continue;
            }
            if (m->closing)
                break;
            pthread_cond_wait(&m->wake_writer, &m->lock);
            continue;
        }
        batch_t *b = m->head;
        pthread_mutex_unlock(&m->lock);
        int rc = write_batch(m, b);
        pthread_mutex_lock(&m->lock);
        if (rc != 0) {
            pthread_cond_broadcast(&m->progress);
            break;
        }
        m->head = b->next;
        if (!m->head)
            m->tail = NULL;
        m->done_seq = b->seq;
        m->buf_rows -= b->nrows;
        m->buf_bytes -= b->arena.len + b->nrows * (size_t)tables[b->table].ncols * sizeof(cell_t);
        if (b->table == T_RESULTS)
            m->rows_written += b->nrows;
        pthread_cond_broadcast(&m->progress);
        pthread_mutex_unlock(&m->lock);
        batch_free(b);
        pthread_mutex_lock(&m->lock);
    }
    pthread_mutex_unlock(&m->lock);
    disconnect(m);
    return NULL;
}

/* ---- open / flush / close ----------------------------------------------- */

static const char *const my_params[] = {
    "dialect", "socket", "connect_timeout", "timeout", "bulk", "batch_rows", "batch_ms",
    "buffer_rows", "buffer_mb", "backoff_ms", "backoff_max_ms", "check_schema", NULL,
};

static void my_free(my_t *m)
{
    for (int t = 0; t < T_COUNT; t++)
        batch_free(m->open[t]);
    while (m->head) {
        batch_t *b = m->head;
        m->head = b->next;
        batch_free(b);
    }
    disconnect(m);
    eng_buf_free(&m->sql);
    free(m->redacted);
    store_url_free(&m->url);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->wake_writer);
    pthread_cond_destroy(&m->progress);
    free(m);
}

static int my_open(void **impl, const char *url, const store_opts_t *opts,
                   char *errstr, size_t errstr_size)
{
    my_t *m = calloc(1, sizeof(*m));
    if (!m)
        return store_seterr(errstr, errstr_size, "store: out of memory");
    pthread_mutex_init(&m->lock, NULL);
    /* The writer's batch_ms deadline is on the monotonic clock. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->wake_writer, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&m->progress, NULL);
    m->healthy = 1;
    if (store_url_parse(&m->url, url, errstr, errstr_size) != 0) {
        pthread_mutex_destroy(&m->lock);
        pthread_cond_destroy(&m->wake_writer);
        pthread_cond_destroy(&m->progress);
        free(m);
        return -1;
    }
    m->redacted = store_url_redacted(&m->url);
    char err[512];
    long batch_rows = 10000, batch_ms = 200, buffer_rows = 100000, buffer_mb = 256;
    long bulk = 1, backoff_ms = 100, backoff_max_ms = 5000, check_schema = 1;
    store_opts_t o = *opts;
    store_opts_fill(&o, (size_t)batch_rows, (int)batch_ms, (size_t)buffer_rows);
    batch_rows = (long)o.batch_rows;
    batch_ms = o.batch_ms;
    buffer_rows = (long)o.max_buffer_rows;
    if (!m->url.db) {
        store_seterr(errstr, errstr_size, "store: %s: no database in the URL (mysql://user@host:port/db)",
                     m->redacted);
        goto fail;
    }
    if (store_url_check_params(&m->url, my_params, errstr, errstr_size) != 0 ||
        store_my_opts_from_url(&m->url, &m->copts, errstr, errstr_size) != 0 ||
        store_url_param_long(&m->url, "bulk", 0, 1, &bulk, errstr, errstr_size) != 0 ||
        store_url_param_long(&m->url, "batch_rows", 1, 1000000, &batch_rows, errstr, errstr_size) != 0 ||
        store_url_param_long(&m->url, "batch_ms", 1, 3600000, &batch_ms, errstr, errstr_size) != 0 ||
        store_url_param_long(&m->url, "buffer_rows", 1, 100000000, &buffer_rows, errstr, errstr_size) != 0 ||
        store_url_param_long(&m->url, "buffer_mb", 1, 1 << 20, &buffer_mb, errstr, errstr_size) != 0 ||
        store_url_param_long(&m->url, "backoff_ms", 1, 60000, &backoff_ms, errstr, errstr_size) != 0 ||
        store_url_param_long(&m->url, "backoff_max_ms", 1, 3600000, &backoff_max_ms, errstr, errstr_size) != 0 ||
        store_url_param_long(&m->url, "check_schema", 0, 1, &check_schema, errstr, errstr_size) != 0)
        goto fail;
    m->batch_rows = (size_t)batch_rows;
    m->batch_ms = (int)batch_ms;
    m->max_rows = (size_t)buffer_rows < m->batch_rows ? m->batch_rows : (size_t)buffer_rows;
    m->max_bytes = (size_t)buffer_mb << 20;
    store_backoff_init(&m->backoff, (uint32_t)backoff_ms, (uint32_t)backoff_max_ms, 0);

    /* Connect once now: a wrong URL, password or schema fails at start. */
    int retriable;
    m->conn = store_my_connect(&m->url, &m->copts, &m->dialect, &retriable, err, sizeof(err));
    if (!m->conn) {
        store_seterr(errstr, errstr_size, "store: %s: %s", m->redacted, err);
        goto fail;
    }
    m->copts.dialect = m->dialect;
    if (check_schema) {
        int have, need = store_schema_required();
        if (store_my_schema_version(m->conn, &have, &retriable, err, sizeof(err)) != 0) {
            store_seterr(errstr, errstr_size, "store: %s: %s", m->redacted, err);
            goto fail;
        }
        if (have < need) {
            store_seterr(errstr, errstr_size, "store: %s: schema version %d < required %d: run warden migrate %s",
                         m->redacted, have, need, m->redacted);
            goto fail;
        }
        if (have > need)
            LOG_INFO("store=%s msg=\"schema is newer than this binary\" have=%d want=%d",
                     m->redacted, have, need);
    }
    unsigned long caps = 0;
    mariadb_get_infov(m->conn, MARIADB_CONNECTION_EXTENDED_SERVER_CAPABILITIES, &caps);
    m->bulk = bulk && m->dialect == STORE_DIALECT_MARIADB &&
              (caps & (MARIADB_CLIENT_STMT_BULK_OPERATIONS >> 32)) != 0;
    size_t packet = 16u << 20;
    if (mysql_query(m->conn, "SELECT @@max_allowed_packet") == 0) {
        MYSQL_RES *r = mysql_store_result(m->conn);
        MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
        if (row && row[0] && atol(row[0]) > 0)
            packet = (size_t)atol(row[0]);
        mysql_free_result(r);
    }
    m->batch_bytes = packet / 4;
    if (m->batch_bytes > (8u << 20))
        m->batch_bytes = 8u << 20;
    if (m->batch_bytes < (64u << 10))
        m->batch_bytes = 64u << 10;
    if (pthread_create(&m->thread, NULL, writer_main, m) != 0) {
        store_seterr(errstr, errstr_size, "store: cannot start the writer thread");
        goto fail;
    }
    LOG_DEBUG("store=%s dialect=%s bulk=%d batch_rows=%zu batch_ms=%d buffer_rows=%zu",
              m->redacted, store_dialect_name(m->dialect), m->bulk, m->batch_rows, m->batch_ms,
              m->max_rows);
    *impl = m;
    return 0;
fail:
    my_free(m);
    return -1;
}

static int my_flush(void *impl, char *errstr, size_t errstr_size)
{
    my_t *m = impl;
    pthread_mutex_lock(&m->lock);
    seal_all(m);
    uint64_t target = m->last_seq;
    while (!m->failed && m->done_seq < target)
        pthread_cond_wait(&m->progress, &m->lock);
    int rc = m->failed ? store_seterr(errstr, errstr_size, "%s", m->lasterr) : 0;
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int my_close(void *impl, char *errstr, size_t errstr_size)
{
    my_t *m = impl;
    int rc = my_flush(m, errstr, errstr_size);
    pthread_mutex_lock(&m->lock);
    m->closing = 1;
    pthread_cond_signal(&m->wake_writer);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->thread, NULL);
    if (rc == 0 && m->failed)
        rc = store_seterr(errstr, errstr_size, "%s", m->lasterr);
    my_free(m);
    return rc;
}

static void my_stats(void *impl, store_stats_t *out)
{
    my_t *m = impl;
    pthread_mutex_lock(&m->lock);
    out->rows_queued = m->rows_queued;
    out->rows_written = m->rows_written;
    out->batches = m->batches;
    out->retries = m->retries;
    out->failures = m->failures;
    out->batch_us_last = m->us_last;
    out->batch_us_max = m->us_max;
    out->batch_us_total = m->us_total;
    out->buffer_rows = m->buf_rows;
    out->buffer_cap = m->max_rows;
    out->healthy = m->healthy && !m->failed;
    pthread_mutex_unlock(&m->lock);
}

static int my_health(void *impl, char *errstr, size_t errstr_size)
{
    my_t *m = impl;
    pthread_mutex_lock(&m->lock);
    int rc = (m->healthy && !m->failed) ? 0 : store_seterr(errstr, errstr_size, "%s", m->lasterr);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

const store_backend_t store_mysql_backend = {
    .scheme = "mysql",
    .open = my_open,
    .write = my_write,
    .write_decision = my_write_decision,
    .begin_run = my_begin_run,
    .end_run = my_end_run,
    .rule_version = my_rule_version,
    .flush = my_flush,
    .close = my_close,
    .stats = my_stats,
    .health = my_health,
};
