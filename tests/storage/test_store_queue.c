/* tests/storage/test_store_queue.c — the order in which the shared writer
 * queue of the network sinks hands batches to its backend: a run row or a
 * rule version row is written before the hits queued after it and after
 * the hits queued before it, while hits and decisions still batch
 * together.  The backend here records each batch it is given (table and
 * rows); what the servers do with a batch is tested against MariaDB in
 * test_store_mysql.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "storage/store_queue.h"

#define MAXB 32

typedef struct seen {
    pthread_mutex_t mu;
    int             table[MAXB];
    size_t          rows[MAXB];
    int             version[MAXB];   /* SQ_RESULTS: version of the batch's first row */
    size_t          n;
} seen_t;

static int exec_record(void *ctx, const sq_batch_t *b, char *err, size_t errsz)
{
    (void)err;
    (void)errsz;
    seen_t *s = ctx;
    pthread_mutex_lock(&s->mu);
    if (s->n < MAXB) {
        s->table[s->n] = b->table;
        s->rows[s->n] = b->nrows;
        s->version[s->n] = b->table == SQ_RESULTS ? (int)sq_cell(b, 0, 5)->v.i : 0;
        s->n++;
    }
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static const sq_ops_t ops = { exec_record, NULL, NULL };

/* A queue that seals only on flush (no size or time limit is reached). */
static store_queue_t *queue(seen_t *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    sq_conf_t c = { .batch_rows = 1000, .batch_ms = 600000, .max_rows = 10000, .name = "test" };
    store_queue_t *q = NULL;
    char err[256];
    assert_int_equal(store_queue_new(&q, &c, &ops, s, err, sizeof(err)), 0);
    return q;
}

static void hit(store_queue_t *q, const char *event_id, int version)
{
    store_row_t r = { .run_id = "live", .event_id = event_id, .stream = "s", .rule = "r.x",
                      .version = version, .mode = "shadow", .verdict = "flag", .entity = "u1",
                      .event_ts_ms = INT64_MIN, .partition = -1, .offset = -1 };
    char err[256];
    assert_int_equal(store_queue_rows(q, &r, 1, err, sizeof(err)), 0);
}

static void decision(store_queue_t *q, const char *event_id)
{
    const char *rules[] = { "r.x" };
    store_decision_t d = { .run_id = "live", .event_id = event_id, .stream = "s", .entity = "u1",
                           .verdict = "block", .rules = rules, .nrules = 1, .event_ts_ms = INT64_MIN };
    char err[256];
    assert_int_equal(store_queue_decision(q, &d, err, sizeof(err)), 0);
}

static void version(store_queue_t *q, int v)
{
    store_rule_version_t rv = { .name = "r.x", .version = v, .sha256 = v == 1 ? "aa" : "bb",
                                .source = "return {}", .source_len = 9, .seen_ms = 0 };
    char err[256];
    assert_int_equal(store_queue_rule_version(q, &rv, err, sizeof(err)), 0);
}

static void run(store_queue_t *q, int end)
{
    store_run_t r = { .run_id = "live", .kind = "live", .started_ms = 0, .finished_ms = 0 };
    char err[256];
    assert_int_equal(store_queue_run(q, &r, end, err, sizeof(err)), 0);
}

static void done(store_queue_t *q, seen_t *s)
{
    char err[256];
    assert_int_equal(store_queue_close(q, err, sizeof(err)), 0);
    pthread_mutex_destroy(&s->mu);
}

static void test_a_rule_version_is_written_between_the_hits_around_it(void **st)
{
    (void)st;
    seen_t s;
    store_queue_t *q = queue(&s);
    version(q, 1);
    hit(q, "e1", 1);
    version(q, 2);   /* a reload */
    hit(q, "e2", 2);
    done(q, &s);
    assert_int_equal(s.n, 4);
    assert_int_equal(s.table[0], SQ_VERSIONS);
    assert_int_equal(s.table[1], SQ_RESULTS);
    assert_int_equal(s.version[1], 1);
    assert_int_equal(s.table[2], SQ_VERSIONS);
    assert_int_equal(s.table[3], SQ_RESULTS);
    assert_int_equal(s.version[3], 2);
}

static void test_the_run_row_is_written_before_its_hits_and_its_end_after(void **st)
{
    (void)st;
    seen_t s;
    store_queue_t *q = queue(&s);
    run(q, 0);
    version(q, 1);
    hit(q, "e1", 1);
    run(q, 1);
    done(q, &s);
    assert_int_equal(s.n, 4);
    assert_int_equal(s.table[0], SQ_RUN_BEGIN);
    assert_int_equal(s.table[1], SQ_VERSIONS);
    assert_int_equal(s.table[2], SQ_RESULTS);
    assert_int_equal(s.table[3], SQ_RUN_END);
}

static void test_hits_and_decisions_still_batch_together(void **st)
{
    (void)st;
    seen_t s;
    store_queue_t *q = queue(&s);
    for (int i = 0; i < 10; i++) {
        char id[16];
        snprintf(id, sizeof(id), "e%d", i);
        hit(q, id, 1);
        decision(q, id);
    }
    done(q, &s);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.table[0], SQ_RESULTS);
    assert_int_equal(s.rows[0], 10);
    assert_int_equal(s.table[1], SQ_DECISIONS);
    assert_int_equal(s.rows[1], 10);
}

static void test_the_versions_of_a_pack_go_in_one_batch(void **st)
{
    (void)st;
    seen_t s;
    store_queue_t *q = queue(&s);
    for (int i = 0; i < 18; i++)
        version(q, i + 1);
    hit(q, "e1", 1);
    done(q, &s);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.table[0], SQ_VERSIONS);
    assert_int_equal(s.rows[0], 18);
    assert_int_equal(s.table[1], SQ_RESULTS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_rule_version_is_written_between_the_hits_around_it),
        cmocka_unit_test(test_the_run_row_is_written_before_its_hits_and_its_end_after),
        cmocka_unit_test(test_hits_and_decisions_still_batch_together),
        cmocka_unit_test(test_the_versions_of_a_pack_go_in_one_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
