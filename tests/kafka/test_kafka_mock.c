/* tests/kafka/test_kafka_mock.c — error paths of the exactly-once loop
 * (kafka/kfk.h) against librdkafka's mock cluster with injected
 * broker errors: an abortable error aborts, rewinds the partition and
 * rolls its state back to the last commit, so every event counts once in the
 * state though some are handed out twice; a producer fenced in a young
 * transaction (a zombie) stops the loop with a clear message, one fenced in
 * a transaction older than its timeout (a broker outage) is replaced and
 * the batch redone, three times at most; retriable coordinator errors are
 * retried; a handler's KFK_REDO redoes the batch; with commits in flight
 * the same, also while paced messages are held across the hand-off.  (The mock
 * cannot prove exactly-once on the broker side: tests/integration/kafka_*
 * do that against a real broker.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "base/wd_config.h"
#include "kafka/kfk.h"
#include "base/wd_log.h"

/* Kafka protocol API keys (rdkafka_protocol.h is not installed). */
enum { API_PRODUCE = 0, API_END_TXN = 26 };
#define N_EVENTS 300

typedef struct th {
    long state;        /* events counted: a changelog record, rolled back on redo */
    long committed;    /* state as of the last commit */
    long sealed;       /* state as of the seal of the batch in flight */
    int  has_seal;
    long calls;        /* message callbacks, redeliveries included */
    long rollbacks, restores, saves;
    long redo_at;      /* message callback number that answers KFK_REDO once (0: none) */
    long redos;
    long reports;      /* report hook calls */
} th_t;

static kfk_rc_t t_assign(void *ud, const char *topic, int32_t partition, void **part)
{
    (void)topic;
    (void)partition;
    *part = ud;
    return KFK_OK;
}

static void t_report(void *ud, kfk_t *k)
{
    (void)k;
    th_t *t = ud;
    t->reports++;
}

/* The paced test's two partitions' handler states (NULL: not that test). */
static th_t *pace_th;

/* The first slow_calls messages take 25 ms each: a batch of 50 then lasts
 * longer than a 1 s transaction.timeout.ms. */
static long slow_calls;

static kfk_rc_t t_message(void *ud, kfk_t *k, const rd_kafka_message_t *m, void *part)
{
    (void)ud;
    th_t *t = part;
    if (t->calls < slow_calls)
        usleep(25000);
    t->calls++;
    t->state++;
    if (t->redo_at && t->calls == t->redo_at) {
        t->redos++;
        return KFK_REDO;   /* after changing the state: the rewind must undo it */
    }
    kfk_rc_t rc = kfk_produce(k, "out", RD_KAFKA_PARTITION_UA, NULL, 0, m->payload, m->len, 0, NULL);
    if (rc != KFK_OK)
        return rc;
    if (t->state == N_EVENTS || (pace_th && pace_th[0].state == N_EVENTS / 2 && pace_th[1].state == N_EVENTS / 2))
        kfk_stop(k);
    return KFK_OK;
}

static kfk_rc_t t_changes(void *ud, void *part, kfk_changelog_t *cl, char *err, size_t n)
{
    (void)ud;
    (void)err;
    (void)n;
    th_t *t = part;
    t->saves++;
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%ld", t->state);
    return kfk_changelog_put(cl, "n", 1, buf, (size_t)len);
}

/* With a commit in flight, the committed state is the sealed one (the
 * next batch has counted on since); else the state now. */
static void t_committed(void *ud, void *part)
{
    (void)ud;
    th_t *t = part;
    t->committed = t->has_seal ? t->sealed : t->state;
    t->has_seal = 0;
}

static kfk_rc_t t_seal(void *ud, void *part, char *err, size_t n)
{
    (void)ud;
    (void)err;
    (void)n;
    th_t *t = part;
    assert_false(t->has_seal);   /* one batch in flight at a time */
    t->sealed = t->state;
    t->has_seal = 1;
    return KFK_OK;
}

static kfk_rc_t t_rollback(void *ud, void *part, char *err, size_t n)
{
    (void)ud;
    (void)err;
    (void)n;
    th_t *t = part;
    t->rollbacks++;
    t->state = t->committed;   /* both batches, with one in flight */
    t->has_seal = 0;
    return KFK_OK;
}

static kfk_rc_t t_apply(void *ud, void *part, const void *id, size_t idlen, const void *val,
                        size_t vlen, char *err, size_t n)
{
    (void)ud;
    (void)id;
    (void)idlen;
    (void)err;
    (void)n;
    th_t *t = part;
    char buf[32];
    snprintf(buf, sizeof buf, "%.*s", (int)vlen, val ? (const char *)val : "0");
    t->state = t->committed = atol(buf);
    return KFK_OK;
}

static kfk_rc_t t_restored(void *ud, void *part, char *err, size_t n)
{
    (void)ud;
    (void)err;
    (void)n;
    th_t *t = part;
    t->restores++;
    return KFK_OK;
}

typedef struct fx {
    rd_kafka_t              *mrk;
    rd_kafka_mock_cluster_t *mc;
    wd_config_t            *cfg;
    th_t                     th;
} fx_t;

/* N_EVENTS events {"n":I} to topic, event I to partition I % nparts. */
static void produce_events(const char *bootstraps, const char *topic, int nparts)
{
    char err[512];
    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    rd_kafka_conf_set(pc, "bootstrap.servers", bootstraps, err, sizeof err);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof err);
    assert_non_null(p);
    for (int i = 0; i < N_EVENTS; i++) {
        char v[32];
        int n = snprintf(v, sizeof v, "{\"n\":%d}", i);
        assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(i % nparts),
                                           RD_KAFKA_V_VALUE(v, (size_t)n),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    assert_int_equal(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);
}

static int setup(void **st)
{
    fx_t *f = calloc(1, sizeof(*f));
    char err[512];
    wd_log_level = getenv("TEST_LOG") ? WD_LOG_DEBUG : WD_LOG_ERROR - 1;
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "test.mock.num.brokers", "1", err, sizeof err);
    rd_kafka_conf_set(c, "log_level", "0", err, sizeof err);
    f->mrk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    assert_non_null(f->mrk);
    f->mc = rd_kafka_handle_mock_cluster(f->mrk);
    assert_non_null(f->mc);
    const char *bs = rd_kafka_mock_cluster_bootstraps(f->mc);
    for (const char *t = "in\0out\0dlq\0cl\0"; *t; t += strlen(t) + 1)
        assert_int_equal(rd_kafka_mock_topic_create(f->mc, t, 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    produce_events(bs, "in", 1);   /* the input events */
    f->cfg = wd_config_load(NULL, 0, err, sizeof err);
    assert_non_null(f->cfg);
    assert_int_equal(wd_config_kafka_set(f->cfg, "bootstrap.servers", bs, err, sizeof err), 0);
    assert_int_equal(wd_config_kafka_set(f->cfg, "log_level", "0", err, sizeof err), 0);
    *st = f;
    return 0;
}

static int teardown(void **st)
{
    fx_t *f = *st;
    wd_config_destroy(f->cfg);
    rd_kafka_destroy(f->mrk);
    free(f);
    return 0;
}

/* Commits in flight (kfk_opts_t.overlap, the handler's seal) for the
 * next run_loop_b. */
static int overlap_on;

/* Runs the loop to the end with batches of at most batch_max events and
 * batch_ms; returns kfk_run's result. */
static int run_loop_b(fx_t *f, const char *txn, long batch_max, long batch_ms, kfk_stats_t *stats,
                      char *err, size_t n)
{
    const char *topics[] = { "in" };
    kfk_opts_t o = {
        .topics = topics, .ntopics = 1, .group = txn, .txn_id = txn, .changelog = "cl", .dlq = "dlq",
        .batch_max = batch_max, .batch_ms = batch_ms, .client_id = "test", .overlap = overlap_on,
    };
    kfk_handler_t h = {
        .ud = &f->th, .assign = t_assign, .message = t_message, .changes = t_changes, .committed = t_committed,
        .rollback = t_rollback, .apply = t_apply, .restored = t_restored,
        .report = t_report, .seal = overlap_on ? t_seal : NULL,
    };
    kfk_t *k = kfk_new(f->cfg, &o, &h, err, n);
    if (!k)
        fail_msg("kfk_new: %s", err);
    int rc = kfk_run(k, err, n);
    kfk_stats(k, stats);
    kfk_destroy(k);
    return rc;
}

static int run_loop(fx_t *f, const char *txn, kfk_stats_t *stats, char *err, size_t n)
{
    return run_loop_b(f, txn, 50, 100, stats, err, n);
}

static void test_abortable_error_rewinds_state_and_redelivers(void **st)
{
    fx_t *f = *st;
    char err[512];
    kfk_stats_t s;
    /* The first produce request fails for good: its records fail delivery,
     * so the commit needs an abort. */
    rd_kafka_mock_push_request_errors(f->mc, API_PRODUCE, 1, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    assert_int_equal(run_loop(f, "t.abort", &s, err, sizeof err), 0);
    assert_true(s.aborts >= 1);
    assert_true(f->th.calls > N_EVENTS);          /* some events came twice … */
    assert_int_equal(f->th.state, N_EVENTS);      /* … but counted once: state rewound */
    assert_true(f->th.restores >= 1);             /* restore on assign */
    assert_true(f->th.rollbacks >= 1);            /* rollback on the rewind */
    assert_true(s.commits >= 1);
}

/* Fenced in a transaction younger than transaction.timeout.ms: no timeout
 * can have aborted it, so another process has our transactional.id and we
 * are the zombie: stop with a clear error. */
static void test_fenced_young_transaction_stops_with_a_clear_error(void **st)
{
    fx_t *f = *st;
    char err[512];
    kfk_stats_t s;
    rd_kafka_mock_push_request_errors(f->mc, API_END_TXN, 1, RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
    assert_int_equal(run_loop(f, "t.zombie", &s, err, sizeof err), -1);
    if (!strstr(err, "fenced") || !strstr(err, "transactional.id t.zombie"))
        fail_msg("error does not say fenced and name the transactional.id: %s", err);
    assert_int_equal(s.producer_restarts, 0);
    assert_true(f->th.state < N_EVENTS);
}

/* Fenced in a transaction older than transaction.timeout.ms (what a broker
 * outage past the timeout looks like): a new producer, the batch redone,
 * every event still counted once. */
static void test_fenced_old_transaction_gets_a_new_producer(void **st)
{
    fx_t *f = *st;
    char err[512];
    kfk_stats_t s;
    assert_int_equal(wd_config_kafka_set(f->cfg, "transaction.timeout.ms", "1000", err, sizeof err), 0);
    slow_calls = 50;   /* the first batch outlives the timeout */
    rd_kafka_mock_push_request_errors(f->mc, API_END_TXN, 1, RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
    int rc = run_loop_b(f, "t.outage", 50, 10000, &s, err, sizeof err);
    slow_calls = 0;
    if (rc != 0)
        fail_msg("the loop stopped: %s", err);
    assert_int_equal(s.producer_restarts, 1);
    assert_true(f->th.calls > N_EVENTS);          /* the fenced batch came again … */
    assert_int_equal(f->th.state, N_EVENTS);      /* … and counted once */
}

/* Old transactions fenced again and again with no commit in between: after
 * three new producers, stop. */
static void test_fenced_again_and_again_stops(void **st)
{
    fx_t *f = *st;
    char err[512];
    kfk_stats_t s;
    assert_int_equal(wd_config_kafka_set(f->cfg, "transaction.timeout.ms", "1000", err, sizeof err), 0);
    slow_calls = 250;
    rd_kafka_mock_push_request_errors(f->mc, API_END_TXN, 4, RD_KAFKA_RESP_ERR_PRODUCER_FENCED,
                                      RD_KAFKA_RESP_ERR_PRODUCER_FENCED, RD_KAFKA_RESP_ERR_PRODUCER_FENCED,
                                      RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
    int rc = run_loop_b(f, "t.again", 50, 10000, &s, err, sizeof err);
    slow_calls = 0;
    assert_int_equal(rc, -1);
    if (!strstr(err, "3 times in a row") || !strstr(err, "transactional.id t.again"))
        fail_msg("error does not say why: %s", err);
    assert_int_equal(s.producer_restarts, 3);
    assert_int_equal(s.commits, 0);               /* nothing of it was made visible */
}

static void test_retriable_commit_errors_are_retried(void **st)
{
    fx_t *f = *st;
    char err[512];
    kfk_stats_t s;
    rd_kafka_mock_push_request_errors(f->mc, API_END_TXN, 2, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
                                      RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS);
    assert_int_equal(run_loop(f, "t.retry", &s, err, sizeof err), 0);
    assert_int_equal(s.aborts, 0);
    assert_int_equal(f->th.state, N_EVENTS);
    assert_int_equal(f->th.calls, N_EVENTS);
}

/* A handler answering KFK_REDO (mid-batch, after touching its state):
 * the transaction is aborted, the partition rewound and its state reloaded
 * from the last commit, and the batch comes again — the loop goes on. */
static void test_handler_redo_aborts_rewinds_and_goes_on(void **st)
{
    fx_t *f = *st;
    char err[512];
    kfk_stats_t s;
    f->th.redo_at = 75;   /* inside the second batch of 50 */
    int rc = run_loop(f, "t.redo", &s, err, sizeof err);
    if (rc != 0)
        fail_msg("the loop stopped: %s", err);
    assert_int_equal(f->th.redos, 1);
    assert_int_equal(s.aborts, 1);
    assert_int_equal(s.producer_restarts, 0);
    assert_true(f->th.calls >= N_EVENTS + 25);    /* the second batch came again … */
    assert_int_equal(f->th.state, N_EVENTS);      /* … from the committed state */
    assert_true(f->th.restores >= 1);             /* restore on assign */
    assert_true(f->th.rollbacks >= 1);            /* rollback on the rewind */
}

/* The report hook runs after every commit (and on rebalances). */
static void test_report_after_every_commit(void **st)
{
    fx_t *f = *st;
    char err[512];
    kfk_stats_t s;
    assert_int_equal(run_loop(f, "t.report", &s, err, sizeof err), 0);
    assert_true(s.commits >= N_EVENTS / 50);
    assert_true(f->th.reports >= (long)s.commits);
    assert_int_equal(s.assigned, 1);
}

/* ---- the same with commits in flight ---- */

/* Every batch but the last (and those before a between) commits in
 * flight while the next one is counted; every event counted once. */
static void test_overlap_commits_in_flight_count_once(void **st)
{
    fx_t *f = *st;
    char err[512];
    kfk_stats_t s;
    overlap_on = 1;
    int rc = run_loop(f, "t.ov", &s, err, sizeof err);
    overlap_on = 0;
    if (rc != 0)
        fail_msg("the loop stopped: %s", err);
    assert_true(s.overlapped >= 1);
    assert_true(s.commits >= N_EVENTS / 50);
    assert_int_equal(s.aborts, 0);
    assert_int_equal(f->th.calls, N_EVENTS);
    assert_int_equal(f->th.state, N_EVENTS);
    assert_int_equal(f->th.committed, N_EVENTS);
    assert_false(f->th.has_seal);
}

/* A commit in flight that fails (its records' delivery failed): the
 * abort rewinds the batch in flight and the one counted meanwhile, both
 * redone from the last commit — every event counted once. */
static void test_overlap_failed_commit_rewinds_both_batches(void **st)
{
    fx_t *f = *st;
    char err[512];
    kfk_stats_t s;
    overlap_on = 1;
    rd_kafka_mock_push_request_errors(f->mc, API_PRODUCE, 1, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    int rc = run_loop(f, "t.ov.abort", &s, err, sizeof err);
    overlap_on = 0;
    if (rc != 0)
        fail_msg("the loop stopped: %s", err);
    assert_true(s.aborts >= 1);
    assert_true(f->th.calls > N_EVENTS);
    assert_int_equal(f->th.state, N_EVENTS);
    assert_int_equal(f->th.committed, N_EVENTS);
    assert_true(f->th.rollbacks >= 1);
}

/* Retriable errors of a commit in flight are retried; nothing redone. */
static void test_overlap_retriable_commit_errors_are_retried(void **st)
{
    fx_t *f = *st;
    char err[512];
    kfk_stats_t s;
    overlap_on = 1;
    rd_kafka_mock_push_request_errors(f->mc, API_END_TXN, 2, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
                                      RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS);
    int rc = run_loop(f, "t.ov.retry", &s, err, sizeof err);
    overlap_on = 0;
    if (rc != 0)
        fail_msg("the loop stopped: %s", err);
    assert_int_equal(s.aborts, 0);
    assert_int_equal(f->th.state, N_EVENTS);
    assert_int_equal(f->th.calls, N_EVENTS);
}

/* Fenced in flight, in a transaction older than transaction.timeout.ms:
 * a new producer, both batches redone, every event counted once. */
static void test_overlap_fenced_old_transaction_gets_a_new_producer(void **st)
{
    fx_t *f = *st;
    char err[512];
    kfk_stats_t s;
    assert_int_equal(wd_config_kafka_set(f->cfg, "transaction.timeout.ms", "1000", err, sizeof err), 0);
    slow_calls = 50;
    overlap_on = 1;
    rd_kafka_mock_push_request_errors(f->mc, API_END_TXN, 1, RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
    int rc = run_loop_b(f, "t.ov.outage", 50, 10000, &s, err, sizeof err);
    slow_calls = 0;
    overlap_on = 0;
    if (rc != 0)
        fail_msg("the loop stopped: %s", err);
    assert_int_equal(s.producer_restarts, 1);
    assert_true(f->th.calls > N_EVENTS);
    assert_int_equal(f->th.state, N_EVENTS);
}
/* Paced (kfk_handler_t.pace_time: hop 0 of the repartitioned path) with
 * commits in flight: two partitions' messages held and handed out by
 * time across the hand-off; a commit in flight that fails rewinds both
 * batches and clears what is held, and every event counts once in its
 * partition's state. */
static kfk_rc_t t_assign2(void *ud, const char *topic, int32_t partition, void **part)
{
    (void)topic;
    *part = &((th_t *)ud)[partition];
    return KFK_OK;
}

static int64_t t_pace(void *ud, const rd_kafka_message_t *m)
{
    (void)ud;
    char v[32];
    snprintf(v, sizeof v, "%.*s", (int)m->len, (const char *)m->payload);
    return atol(v + 5);   /* {"n":N} */
}

static void test_overlap_paced_failed_commit_rewinds_held(void **st)
{
    fx_t *f = *st;
    char err[512];
    assert_int_equal(rd_kafka_mock_topic_create(f->mc, "in2", 2, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    produce_events(rd_kafka_mock_cluster_bootstraps(f->mc), "in2", 2);
    th_t th[2];
    memset(th, 0, sizeof th);
    pace_th = th;
    const char *topics[] = { "in2" };
    kfk_opts_t o = {
        .topics = topics, .ntopics = 1, .group = "t.ov.pace", .txn_id = "t.ov.pace", .changelog = "cl",
        .dlq = "dlq", .batch_max = 50, .batch_ms = 100, .client_id = "test", .overlap = 1,
        .per_partition = 1, .align_ms = 1000,
    };
    kfk_handler_t h = {
        .ud = th, .assign = t_assign2, .message = t_message, .changes = t_changes, .committed = t_committed,
        .rollback = t_rollback, .apply = t_apply, .restored = t_restored, .seal = t_seal,
        .pace_time = t_pace,
    };
    rd_kafka_mock_push_request_errors(f->mc, API_PRODUCE, 1, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    kfk_t *k = kfk_new(f->cfg, &o, &h, err, sizeof err);
    if (!k)
        fail_msg("kfk_new: %s", err);
    int rc = kfk_run(k, err, sizeof err);
    kfk_stats_t s;
    kfk_stats(k, &s);
    kfk_destroy(k);
    pace_th = NULL;
    if (rc != 0)
        fail_msg("the loop stopped: %s", err);
    assert_true(s.overlapped >= 1);
    assert_true(s.aborts >= 1);
    assert_true(s.held_max >= 1);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(th[i].state, N_EVENTS / 2);
        assert_int_equal(th[i].committed, N_EVENTS / 2);
        assert_false(th[i].has_seal);
    }
    assert_true(th[0].rollbacks + th[1].rollbacks >= 1);
    assert_true(th[0].calls + th[1].calls > N_EVENTS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_abortable_error_rewinds_state_and_redelivers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fenced_young_transaction_stops_with_a_clear_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fenced_old_transaction_gets_a_new_producer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fenced_again_and_again_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retriable_commit_errors_are_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handler_redo_aborts_rewinds_and_goes_on, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_after_every_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlap_commits_in_flight_count_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlap_failed_commit_rewinds_both_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlap_retriable_commit_errors_are_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlap_fenced_old_transaction_gets_a_new_producer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_overlap_paced_failed_commit_rewinds_held, setup, teardown),
    };
    return cmocka_run_group_tests_name("kafka loop on the mock cluster", tests, NULL, NULL);
}
