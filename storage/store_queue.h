/* storage/store_queue.h — batching, the bounded buffer and the retrying
 * writer thread shared by the mysql:// and starrocks:// sinks.  Private to
 * storage/.  Rows are copied into per-table batches of typed cells; sealed
 * batches go FIFO to one writer thread, which hands each to the backend's
 * exec() until it succeeds (retriable failures back off with jitter and are
 * tried again, forever) or fails for good (the sink fails). */
#ifndef WARDEN_STORAGE_STORE_QUEUE_H
#define WARDEN_STORAGE_STORE_QUEUE_H

#include "storage/store.h"
#include "storage/store_url.h"

enum { SQ_CT_STR, SQ_CT_INT, SQ_CT_DBL };        /* column types */
enum { SQ_NULL, SQ_STR, SQ_INT, SQ_DBL };        /* cell values */

typedef struct sq_col {
    const char *name;
    int         type;
    int         sr_only;   /* StarRocks only (event_day partition column, row_key) */
} sq_col_t;

typedef struct sq_table {
    const char     *name;     /* SQL table */
    const sq_col_t *cols;
    int             ncols;
    const char     *update;   /* ON DUPLICATE KEY UPDATE tail (MariaDB/MySQL) */
} sq_table_t;

enum { SQ_RESULTS, SQ_DECISIONS, SQ_RUN_BEGIN, SQ_RUN_END, SQ_VERSIONS, SQ_AUDIT, SQ_ACTIONS, SQ_NTABLES };
#define SQ_MAX_COLS 20

extern const sq_table_t sq_tables[SQ_NTABLES];

typedef struct sq_cell {
    uint8_t t;   /* SQ_NULL … */
    union {
        struct { size_t off, len; } s;   /* bytes in the batch's arena */
        int64_t i;
        double  d;
    } v;
} sq_cell_t;

typedef struct sq_batch {
    struct sq_batch *next;
    int              table;      /* SQ_RESULTS … */
    size_t           nrows;
    size_t           cap;
    sq_cell_t       *cells;      /* nrows × ncols, row-major */
    wd_buf_t        arena;
    uint64_t         seq;
    uint64_t         opened_us;
} sq_batch_t;

static inline const sq_cell_t *sq_cell(const sq_batch_t *b, size_t row, int col)
{
    return &b->cells[row * (size_t)sq_tables[b->table].ncols + (size_t)col];
}

static inline const char *sq_str(const sq_batch_t *b, const sq_cell_t *c)
{
    return b->arena.data ? b->arena.data + c->v.s.off : "";
}

typedef struct sq_ops {
    /* Writes b.  Returns 0 when durable, 1 on a retriable failure, -1 when
     * b can never be written; a message in err either way. */
    int  (*exec)(void *ctx, const sq_batch_t *b, char *err, size_t errsz);
    /* After a retriable failure, before the backoff: drop connections. */
    void (*reset)(void *ctx);
    /* Frees the sink (ctx) once its queue is closed: store_queue_be_close. */
    void (*destroy)(void *ctx);
} sq_ops_t;

typedef struct sq_conf {
    size_t      batch_rows;      /* seal at this many rows */
    int         batch_ms;        /* … or when the oldest open row is this old */
    size_t      batch_bytes;     /* … or past this many string bytes */
    size_t      max_rows;        /* store_write blocks past this many buffered rows */
    size_t      max_bytes;       /* … or bytes */
    uint32_t    backoff_ms;      /* first retry delay */
    uint32_t    backoff_max_ms;
    int         event_day;       /* fill the StarRocks event_day column */
    const char *name;            /* for log lines (a redacted URL); copied */
} sq_conf_t;

typedef struct store_queue store_queue_t;

/* Reads ?batch_rows= ?batch_ms= ?buffer_rows= ?buffer_mb= ?backoff_ms=
 * ?backoff_max_ms= over opts over the defaults into c (other fields zero). */
int store_queue_conf(sq_conf_t *c, const store_url_t *u, const store_opts_t *opts,
                     char *errstr, size_t errstr_size);
/* The URL parameters store_queue_conf reads (NULL-terminated). */
extern const char *const store_queue_params[];
/* Checks u's parameters against a sink's own (extra, NULL-terminated) and
 * the queue's (store_queue_params).  Returns 0, or -1 naming the unknown one. */
int store_queue_check_params(const store_url_t *u, const char *const *extra, char *errstr,
                             size_t errstr_size);

/* Starts the writer thread.  ops/ctx are borrowed until store_queue_close. */
int store_queue_new(store_queue_t **out, const sq_conf_t *c, const sq_ops_t *ops, void *ctx,
                    char *errstr, size_t errstr_size);

/* The StarRocks primary key digest of a result (rule set) or decision
 * (rule NULL): 32 lowercase hex digits and a NUL into out. */
void store_row_key(const char *run_id, const char *event_id, const char *rule, char out[33]);

int store_queue_rows(store_queue_t *q, const store_row_t *rows, size_t n,
                     char *errstr, size_t errstr_size);
int store_queue_decision(store_queue_t *q, const store_decision_t *d,
                         char *errstr, size_t errstr_size);
int store_queue_action(store_queue_t *q, const store_decision_t *d,
                       char *errstr, size_t errstr_size);
int store_queue_run(store_queue_t *q, const store_run_t *r, int end,
                    char *errstr, size_t errstr_size);
int store_queue_rule_version(store_queue_t *q, const store_rule_version_t *rv,
                             char *errstr, size_t errstr_size);
int store_queue_flush(store_queue_t *q, char *errstr, size_t errstr_size);
/* Flushes, stops the writer and frees q (NULL: no-op).  exec() is not
 * called after it returns. */
int store_queue_close(store_queue_t *q, char *errstr, size_t errstr_size);
void store_queue_stats(store_queue_t *q, store_stats_t *out);

/* store_backend_t entries for a sink whose impl struct starts with its
 * store_queue_t pointer (mysql, starrocks): everything but open is the
 * queue's business. */
int store_queue_be_write(void *impl, const store_row_t *rows, size_t n, char *errstr, size_t errstr_size);
int store_queue_be_write_decision(void *impl, const store_decision_t *d, char *errstr, size_t errstr_size);
int store_queue_be_write_action(void *impl, const store_decision_t *d, char *errstr, size_t errstr_size);
int store_queue_be_begin_run(void *impl, const store_run_t *r, char *errstr, size_t errstr_size);
int store_queue_be_end_run(void *impl, const store_run_t *r, char *errstr, size_t errstr_size);
int store_queue_audit(store_queue_t *q, const store_audit_t *a, char *errstr, size_t errstr_size);
int store_queue_be_audit(void *impl, const store_audit_t *a, char *errstr, size_t errstr_size);
int store_queue_be_rule_version(void *impl, const store_rule_version_t *rv, char *errstr,
                                size_t errstr_size);
int store_queue_be_flush(void *impl, char *errstr, size_t errstr_size);
void store_queue_be_stats(void *impl, store_stats_t *out);
int store_queue_be_health(void *impl, char *errstr, size_t errstr_size);
/* Closes the queue, then ops->destroy(impl). */
int store_queue_be_close(void *impl, char *errstr, size_t errstr_size);

/* The whole store_backend_t of such a sink: one table for mysql and
 * starrocks, which differ only in their scheme and open. */
#define STORE_QUEUE_BACKEND(scheme_, open_)                                   \
    {                                                                         \
        .scheme = (scheme_), .open = (open_), .write = store_queue_be_write,  \
        .write_decision = store_queue_be_write_decision,                      \
        .write_action = store_queue_be_write_action,                          \
        .begin_run = store_queue_be_begin_run, .end_run = store_queue_be_end_run, \
        .rule_version = store_queue_be_rule_version, .audit = store_queue_be_audit, .flush = store_queue_be_flush, \
        .close = store_queue_be_close, .stats = store_queue_be_stats,         \
        .health = store_queue_be_health,                                      \
    }
int store_queue_health(store_queue_t *q, char *errstr, size_t errstr_size);

/* "YYYY-MM-DD HH:MM:SS.mmm" UTC of ms into out (>= 24 bytes); returns the
 * length, 0 when ms is INT64_MIN or out of range. */
size_t store_sql_datetime(int64_t ms, char *out, size_t size);

#endif
