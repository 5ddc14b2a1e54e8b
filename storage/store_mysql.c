/* storage/store_mysql.c — the mysql:// sink (MariaDB, MySQL, StarRocks' FE
 * MySQL port) over libmariadb.
 *
 * Batching, the bounded buffer, backpressure and the retry loop are
 * storage/store_queue.c's; batches are sealed at batch_rows rows or
 * ~max_allowed_packet/4 bytes.  The queue's writer thread owns the
 * connection and calls exec() below for each batch.
 *
 * exec() runs a batch as one statement: on MariaDB a prepared INSERT
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
#include "storage/store_int.h"
#include "storage/store_backoff.h"
#include "storage/store_migrate.h"
#include "storage/store_queue.h"
#include "storage/store_url.h"
#include "base/wd_alloc.h"
#include "base/wd_log.h"

#include <errmsg.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    if (o->socket && !*o->socket)
        o->socket = NULL;
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

/* ---- the sink ----------------------------------------------------------- */

typedef struct my {
    store_queue_t      *q;                  /* first: the shared queue adapters reach it */
    store_url_t         url;
    char               *redacted;
    store_myconn_opts_t copts;
    int                 dialect;
    int                 bulk;               /* array binding available and wanted */
    /* writer thread only */
    MYSQL              *conn;
    MYSQL_STMT         *stmts[SQ_NTABLES];
    wd_buf_t           sql;
} my_t;

static void my_disconnect(void *ctx)
{
    my_t *m = ctx;
    for (int t = 0; t < SQ_NTABLES; t++) {
        if (m->stmts[t])
            mysql_stmt_close(m->stmts[t]);
        m->stmts[t] = NULL;
    }
    if (m->conn)
        mysql_close(m->conn);
    m->conn = NULL;
}

/* Prepared INSERT … ON DUPLICATE KEY UPDATE for table t, built once per
 * connection. */
static MYSQL_STMT *my_prepare(my_t *m, int t, int *rc, char *err, size_t errsz)
{
    if (m->stmts[t])
        return m->stmts[t];
    const sq_table_t *tb = &sq_tables[t];
    wd_buf_reset(&m->sql);
    wd_buf_printf(&m->sql, "INSERT INTO %s (", tb->name);
    int np = 0;
    for (int c = 0; c < tb->ncols; c++)
        if (!tb->cols[c].sr_only)
            wd_buf_printf(&m->sql, "%s%s", np++ ? ", " : "", tb->cols[c].name);
    wd_buf_adds(&m->sql, ") VALUES (");
    for (int i = 0; i < np; i++)
        wd_buf_adds(&m->sql, i ? ", ?" : "?");
    wd_buf_printf(&m->sql, ") ON DUPLICATE KEY UPDATE %s", tb->update);
    if (wd_buf_failed(&m->sql)) {
        wd_buf_free(&m->sql);
        snprintf(err, errsz, "prepare insert into %s: out of memory", tb->name);
        *rc = 1;
        return NULL;
    }
    MYSQL_STMT *st = mysql_stmt_init(m->conn);
    if (!st) {
        snprintf(err, errsz, "mysql_stmt_init: out of memory");
        *rc = 1;
        return NULL;
    }
    if (mysql_stmt_prepare(st, m->sql.data, m->sql.len) != 0) {
        unsigned e = mysql_stmt_errno(st);
        snprintf(err, errsz, "prepare insert into %s: %s (error %u)", tb->name, mysql_stmt_error(st), e);
        *rc = store_my_retriable(e, mysql_stmt_error(st)) ? 1 : -1;
        mysql_stmt_close(st);
        return NULL;
    }
    return m->stmts[t] = st;
}

/* One execution with column-wise array binding: per column an indicator
 * array plus a pointer/length array (strings) or a value array. */
static int exec_bulk(my_t *m, const sq_batch_t *b, char *err, size_t errsz)
{
    int rc = 0;
    MYSQL_STMT *st = my_prepare(m, b->table, &rc, err, errsz);
    if (!st)
        return rc;
    const sq_table_t *tb = &sq_tables[b->table];
    size_t n = b->nrows;
    MYSQL_BIND bind[SQ_MAX_COLS];
    void *arrays[SQ_MAX_COLS * 3];
    int narrays = 0, p = 0;
    memset(bind, 0, sizeof(bind));
    for (int c = 0; c < tb->ncols; c++) {
        if (tb->cols[c].sr_only)
            continue;
        char *ind = wd_malloc(n);
        arrays[narrays++] = ind;
        MYSQL_BIND *bd = &bind[p++];
        bd->u.indicator = ind;
        if (tb->cols[c].type == SQ_CT_STR) {
            const char **ptr = wd_malloc(n * sizeof(char *));
            unsigned long *len = wd_malloc(n * sizeof(unsigned long));
            arrays[narrays++] = (void *)ptr;
            arrays[narrays++] = len;
            if (!ind || !ptr || !len)
                goto oom;
            for (size_t r = 0; r < n; r++) {
                const sq_cell_t *cl = sq_cell(b, r, c);
                int str = cl->t == SQ_STR;
                ind[r] = str ? STMT_INDICATOR_NONE : STMT_INDICATOR_NULL;
                ptr[r] = str ? sq_str(b, cl) : "";
                len[r] = str ? (unsigned long)cl->v.s.len : 0;
            }
            bd->buffer_type = MYSQL_TYPE_BLOB;
            bd->buffer = (void *)ptr;
            bd->length = len;
        } else if (tb->cols[c].type == SQ_CT_INT) {
            int64_t *v = wd_malloc(n * sizeof(int64_t));
            arrays[narrays++] = v;
            if (!ind || !v)
                goto oom;
            for (size_t r = 0; r < n; r++) {
                const sq_cell_t *cl = sq_cell(b, r, c);
                ind[r] = cl->t == SQ_INT ? STMT_INDICATOR_NONE : STMT_INDICATOR_NULL;
                v[r] = cl->t == SQ_INT ? cl->v.i : 0;
            }
            bd->buffer_type = MYSQL_TYPE_LONGLONG;
            bd->buffer = v;
        } else {
            double *v = wd_malloc(n * sizeof(double));
            arrays[narrays++] = v;
            if (!ind || !v)
                goto oom;
            for (size_t r = 0; r < n; r++) {
                const sq_cell_t *cl = sq_cell(b, r, c);
                ind[r] = cl->t == SQ_DBL ? STMT_INDICATOR_NONE : STMT_INDICATOR_NULL;
                v[r] = cl->t == SQ_DBL ? cl->v.d : 0;
            }
            bd->buffer_type = MYSQL_TYPE_DOUBLE;
            bd->buffer = v;
        }
    }
    unsigned int asz = (unsigned int)n;
    if (mysql_stmt_attr_set(st, STMT_ATTR_ARRAY_SIZE, &asz) != 0 ||
        mysql_stmt_bind_param(st, bind) != 0 || mysql_stmt_execute(st) != 0) {
        unsigned e = mysql_stmt_errno(st);
        snprintf(err, errsz, "insert into %s (%zu rows): %s (error %u)", tb->name, n,
                 mysql_stmt_error(st), e);
        rc = store_my_retriable(e, mysql_stmt_error(st)) ? 1 : -1;
    }
    if (0) {
    oom:
        /* Retriable: memory may be there when the writer tries again. */
        snprintf(err, errsz, "insert into %s (%zu rows): out of memory while binding the rows",
                 tb->name, n);
        rc = 1;
    }
    for (int i = 0; i < narrays; i++)
        free(arrays[i]);
    return rc;
}

/* Multi-row INSERT with every string escaped by the server's rules
 * (mysql_real_escape_string on this connection). */
static int exec_text(my_t *m, const sq_batch_t *b, char *err, size_t errsz)
{
    const sq_table_t *tb = &sq_tables[b->table];
    int sr = m->dialect == STORE_DIALECT_STARROCKS;
    wd_buf_t *q = &m->sql;
    wd_buf_reset(q);
    wd_buf_printf(q, "INSERT INTO %s (", tb->name);
    int np = 0;
    for (int c = 0; c < tb->ncols; c++)
        if (!tb->cols[c].sr_only || sr)
            wd_buf_printf(q, "%s%s", np++ ? ", " : "", tb->cols[c].name);
    wd_buf_adds(q, ") VALUES ");
    for (size_t r = 0; r < b->nrows; r++) {
        wd_buf_adds(q, r ? ",(" : "(");
        int first = 1;
        for (int c = 0; c < tb->ncols; c++) {
            if (tb->cols[c].sr_only && !sr)
                continue;
            if (!first)
                wd_buf_addc(q, ',');
            first = 0;
            const sq_cell_t *cl = sq_cell(b, r, c);
            switch (cl->t) {
            case SQ_NULL:
                wd_buf_add(q, "NULL", 4);
                break;
            case SQ_INT:
                wd_buf_printf(q, "%lld", (long long)cl->v.i);
                break;
            case SQ_DBL:
                wd_buf_printf(q, "%.17g", cl->v.d);
                break;
            default:
                if (wd_buf_reserve(q, cl->v.s.len * 2 + 3) < 0)
                    break;   /* out of memory: failed below */
                q->data[q->len++] = '\'';
                q->len += mysql_real_escape_string(m->conn, q->data + q->len, sq_str(b, cl),
                                                   (unsigned long)cl->v.s.len);
                q->data[q->len++] = '\'';
                q->data[q->len] = '\0';
                break;
            }
        }
        wd_buf_addc(q, ')');
    }
    if (!sr)
        wd_buf_printf(q, " ON DUPLICATE KEY UPDATE %s", tb->update);
    if (wd_buf_failed(q)) {
        wd_buf_free(q);
        snprintf(err, errsz, "insert into %s (%zu rows): out of memory while encoding the statement",
                 tb->name, b->nrows);
        return 1;
    }
    if (mysql_real_query(m->conn, q->data, q->len) != 0) {
        unsigned e = mysql_errno(m->conn);
        snprintf(err, errsz, "insert into %s (%zu rows): %s (error %u)", tb->name, b->nrows,
                 mysql_error(m->conn), e);
        return store_my_retriable(e, mysql_error(m->conn)) ? 1 : -1;
    }
    if (q->cap > (64u << 20)) {
        /* Do not keep a huge statement buffer after one outsized batch. */
        wd_buf_free(q);
    }
    return 0;
}

static int my_exec(void *ctx, const sq_batch_t *b, char *err, size_t errsz)
{
    my_t *m = ctx;
    if (!m->conn) {
        int retriable, d;
        /* Any connect failure may heal (restart, failover, network). */
        m->conn = store_my_connect(&m->url, &m->copts, &d, &retriable, err, errsz);
        if (!m->conn)
            return 1;
    }
    return m->bulk ? exec_bulk(m, b, err, errsz) : exec_text(m, b, err, errsz);
}

static void my_free(void *ctx)
{
    my_t *m = ctx;
    my_disconnect(m);
    wd_buf_free(&m->sql);
    free(m->redacted);
    store_url_free(&m->url);
    free(m);
}

static const sq_ops_t my_ops = { my_exec, my_disconnect, my_free };

int store_my_check_params(const store_url_t *u, char *errstr, size_t errstr_size)
{
    static const char *const extra[] = { "dialect", "socket", "connect_timeout", "timeout", "bulk",
                                         "check_schema", "start_wait_ms", NULL };
    return store_queue_check_params(u, extra, errstr, errstr_size);
}

static int my_open(void **impl, const char *url, const store_opts_t *opts,
                   char *errstr, size_t errstr_size)
{

    my_t *m = wd_calloc(1, sizeof(*m));
    if (!m)
        return store_seterr(errstr, errstr_size, "store: out of memory");
    if (store_url_parse(&m->url, url, errstr, errstr_size) != 0) {
        free(m);
        return -1;
    }
    m->redacted = store_url_redacted(&m->url);
    char err[512];
    long bulk = 1, check_schema = 1, start_wait_ms = 60000;
    sq_conf_t qc;
    if (!m->url.db) {
        store_seterr(errstr, errstr_size, "store: %s: no database in the URL (mysql://user@host:port/db)",
                     m->redacted);
        goto fail;
    }
    if (store_my_check_params(&m->url, errstr, errstr_size) != 0 ||
        store_my_opts_from_url(&m->url, &m->copts, errstr, errstr_size) != 0 ||
        store_url_param_long(&m->url, "bulk", 0, 1, &bulk, errstr, errstr_size) != 0 ||
        store_url_param_long(&m->url, "check_schema", 0, 1, &check_schema, errstr, errstr_size) != 0 ||
        store_url_param_long(&m->url, "start_wait_ms", 0, 3600000, &start_wait_ms, errstr, errstr_size) != 0 ||
        store_queue_conf(&qc, &m->url, opts, errstr, errstr_size) != 0)
        goto fail;

    /* Connect once now: a wrong URL, password or schema fails at start.
     * A server that is down (restarting, say) is waited for, with the
     * sink's backoff, for start_wait_ms: a process restarted during a
     * store outage comes up with it instead of exiting. */
    int retriable;
    store_backoff_t bo;
    store_backoff_init(&bo, qc.backoff_ms, qc.backoff_max_ms, (uint64_t)time(NULL));
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int tries = 0;; tries++) {
        m->conn = store_my_connect(&m->url, &m->copts, &m->dialect, &retriable, err, sizeof(err));
        clock_gettime(CLOCK_MONOTONIC, &now);
        long el = (long)(now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        if (m->conn || !retriable || el >= start_wait_ms)
            break;
        if (tries == 0)
            LOG_WARN("store=%s msg=\"waiting for the store at start\" wait_ms=%ld err=\"%s\"", m->redacted,
                     start_wait_ms, err);
        uint32_t d = store_backoff_next(&bo);
        struct timespec ts = { (time_t)(d / 1000), (long)(d % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
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
            store_seterr(errstr, errstr_size,
                         "store: %s: schema version %d < required %d: run warden migrate %s",
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
    /* Escaping can double a string: keep a batch's statement under the
     * server's packet limit. */
    qc.batch_bytes = packet / 4;
    if (qc.batch_bytes > (8u << 20))
        qc.batch_bytes = 8u << 20;
    if (qc.batch_bytes < (64u << 10))
        qc.batch_bytes = 64u << 10;
    qc.event_day = m->dialect == STORE_DIALECT_STARROCKS;
    qc.name = m->redacted;
    if (store_queue_new(&m->q, &qc, &my_ops, m, errstr, errstr_size) != 0)
        goto fail;
    LOG_DEBUG("store=%s dialect=%s bulk=%d batch_rows=%zu batch_ms=%d buffer_rows=%zu",
              m->redacted, store_dialect_name(m->dialect), m->bulk, qc.batch_rows, qc.batch_ms,
              qc.max_rows);
    *impl = m;
    return 0;
fail:
    my_free(m);
    return -1;
}

const store_backend_t store_mysql_backend = STORE_QUEUE_BACKEND("mysql", my_open);
