/* tests/storage/test_alloc_store.c — the sinks with allocation N failing
 * for N = 1, 2, … (base/wd_alloc.h, tests/base/alloc_loop.h): the jsonl
 * sink (open, write, flush, close) and the writer queue of the mysql://
 * and starrocks:// sinks (rows, a decision, an action, a run, a rule
 * version, flush: the batching and cell encoding, handed to a backend that
 * records what it gets, without a server).  A failing call returns an
 * error saying memory; the rows a successful call wrote are the rows of a
 * call without failure, none half-written; nothing leaks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/wd_buf.h"
#include "base/wd_log.h"
#include "base/wd_util.h"
#include "storage/store.h"
#include "storage/store_queue.h"
#include "tests/base/alloc_loop.h"

static store_row_t row(const char *event_id)
{
    store_row_t r = { .run_id = "live", .event_id = event_id, .stream = "login", .rule = "ato.x",
                      .version = 3, .mode = "enforce", .verdict = "block", .entity = "u1",
                      .entity_len = 2, .reason = "a reason with \"quotes\" and é", .reason_len = 0,
                      .has_score = 1, .score = 0.5, .event_ts_ms = 1763632800000, .partition = -1,
                      .offset = -1, .rule_sha256 = "ab12", .entity_type = "user" };
    r.reason_len = strlen(r.reason);
    return r;
}

/* ---- jsonl ----------------------------------------------------------------- */

typedef struct jl {
    char path[64];
    char *want;
} jl_t;

/* Opens, writes 50 rows in 5 calls, flushes, closes. */
static int jsonl_op(void *ud, char *err, size_t errn)
{
    jl_t *j = ud;
    char url[96];
    snprintf(url, sizeof url, "jsonl:%s", j->path);
    store_t *s = NULL;
    if (store_open(&s, url, NULL, err, errn) != 0)
        return -1;
    int rc = 0;
    for (int c = 0; c < 5 && rc == 0; c++) {
        store_row_t rows[10];
        char ids[10][16];
        for (int i = 0; i < 10; i++) {
            snprintf(ids[i], sizeof ids[i], "e%d", c * 10 + i);
            rows[i] = row(ids[i]);
        }
        rc = store_write(s, rows, 10, err, errn);
    }
    if (rc == 0)
        rc = store_flush(s, err, errn);
    char cerr[256];
    if (store_close(s, cerr, sizeof cerr) != 0 && rc == 0) {
        snprintf(err, errn, "%s", cerr);
        rc = -1;
    }
    return rc;
}

/* A success wrote exactly the file of a run without failure; a failure a
 * prefix of whole lines of it. */
static void jsonl_done(void *ud, int rc)
{
    jl_t *j = ud;
    char *got = NULL, err[256];
    size_t len;
    if (wd_read_file(j->path, &got, &len, err, sizeof err) != 0)
        fail_msg("%s", err);
    if (rc == 0 && j->want && strcmp(got, j->want) != 0)
        fail_msg("the file differs:\n%.300s", got);
    if (rc != 0 && j->want && (strncmp(got, j->want, len) != 0 || (len && got[len - 1] != '\n')))
        fail_msg("a failed write left more than whole lines of the rows:\n%.300s", got);
    if (j->want == NULL)
        j->want = got;
    else
        free(got);
}

static void test_alloc_jsonl_sink(void **st)
{
    (void)st;
    jl_t j = { .want = NULL };
    snprintf(j.path, sizeof j.path, "/tmp/test_alloc_store.%d.jsonl", (int)getpid());
    char err[256];
    assert_int_equal(jsonl_op(&j, err, sizeof err), 0);
    jsonl_done(&j, 0);
    al_report_t r;
    alloc_loop("jsonl sink: open, 50 rows, flush, close", jsonl_op, jsonl_done, &j, &r);
    assert_true(r.c_failures > 0);
    unlink(j.path);
    free(j.want);
}

/* ---- the writer queue -------------------------------------------------------- */

typedef struct rec {
    pthread_mutex_t mu;
    wd_buf_t        seen;   /* every batch as text, in the order written */
    wd_buf_t        want;
} rec_t;

/* The backend: records each batch's table and cells as text (with plain
 * malloc behind wd_buf: the hook is armed only for the test's calls, and
 * this runs on the writer thread, which a one-shot failure may hit too —
 * a retriable failure then, as from a server). */
static int exec_record(void *ctx, const sq_batch_t *b, char *err, size_t errsz)
{
    rec_t *r = ctx;
    wd_buf_t t = WD_BUF_INIT;
    wd_buf_printf(&t, "%s %zu:", sq_tables[b->table].name, b->nrows);
    for (size_t i = 0; i < b->nrows; i++)
        for (int c = 0; c < sq_tables[b->table].ncols; c++) {
            const sq_cell_t *cl = sq_cell(b, i, c);
            if (cl->t == SQ_STR)
                wd_buf_printf(&t, " '%.*s'", (int)cl->v.s.len, sq_str(b, cl));
            else if (cl->t == SQ_INT)
                wd_buf_printf(&t, " %lld", (long long)cl->v.i);
            else if (cl->t == SQ_DBL)
                wd_buf_printf(&t, " %g", cl->v.d);
            else
                wd_buf_adds(&t, " NULL");
        }
    wd_buf_addc(&t, '\n');
    if (wd_buf_failed(&t)) {
        wd_buf_free(&t);
        snprintf(err, errsz, "out of memory");
        return 1;
    }
    pthread_mutex_lock(&r->mu);
    wd_buf_add(&r->seen, t.data, t.len);
    pthread_mutex_unlock(&r->mu);
    wd_buf_free(&t);
    return 0;
}

static const sq_ops_t rec_ops = { exec_record, NULL, NULL };

static int queue_op(void *ud, char *err, size_t errn)
{
    rec_t *r = ud;
    sq_conf_t c = { .batch_rows = 7, .batch_ms = 600000, .max_rows = 10000, .name = "test",
                    .backoff_ms = 1, .backoff_max_ms = 2, .event_day = 1 };
    store_queue_t *q = NULL;
    if (store_queue_new(&q, &c, &rec_ops, r, err, errn) != 0)
        return -1;
    int rc = 0;
    store_run_t run = { .run_id = "live", .kind = "run", .started_ms = 1763632800000,
                        .rules_sha256 = "cafe", .params = "{}" };
    store_rule_version_t rv = { .name = "ato.x", .version = 3, .sha256 = "ab12", .source = "return {}",
                                .source_len = 9, .seen_ms = 1763632800000 };
    rc = store_queue_run(q, &run, 0, err, errn);
    if (rc == 0)
        rc = store_queue_rule_version(q, &rv, err, errn);
    for (int i = 0; i < 20 && rc == 0; i++) {
        char id[16];
        snprintf(id, sizeof id, "e%d", i);
        store_row_t rw = row(id);
        rc = store_queue_rows(q, &rw, 1, err, errn);
        const char *rules[] = { "ato.x", "spam.y" };
        store_decision_t d = { .run_id = "live", .event_id = id, .stream = "login", .entity = "u1",
                               .entity_len = 2, .entity_type = "user", .verdict = "block",
                               .rules = rules, .nrules = 2, .ttl = "1h", .event_ts_ms = 1763632800000 };
        if (rc == 0)
            rc = store_queue_decision(q, &d, err, errn);
        if (rc == 0)
            rc = store_queue_action(q, &d, err, errn);
    }
    if (rc == 0)
        rc = store_queue_flush(q, err, errn);
    char cerr[256];
    if (store_queue_close(q, cerr, sizeof cerr) != 0 && rc == 0) {
        snprintf(err, errn, "%s", cerr);
        rc = -1;
    }
    return rc;
}

static void queue_done(void *ud, int rc)
{
    rec_t *r = ud;
    if (rc == 0 && r->want.len && strcmp(r->seen.data, r->want.data) != 0)
        fail_msg("the batches differ:\n%.400s\nwant\n%.400s", r->seen.data, r->want.data);
    wd_buf_reset(&r->seen);
}

static void test_alloc_store_queue(void **st)
{
    (void)st;
    rec_t r = { .seen = WD_BUF_INIT, .want = WD_BUF_INIT };
    pthread_mutex_init(&r.mu, NULL);
    char err[256];
    assert_int_equal(queue_op(&r, err, sizeof err), 0);
    wd_buf_add(&r.want, r.seen.data, r.seen.len);
    wd_buf_reset(&r.seen);
    assert_true(r.want.len > 0);
    al_report_t rep;
    alloc_loop("store queue: a run, a rule version, 20 rows, decisions and actions, flush", queue_op,
               queue_done, &r, &rep);
    assert_true(rep.c_failures > 0);
    wd_buf_free(&r.seen);
    wd_buf_free(&r.want);
    pthread_mutex_destroy(&r.mu);
}

int main(void)
{
    wd_log_level = WD_LOG_ERROR;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_jsonl_sink),
        cmocka_unit_test(test_alloc_store_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
