/* tests/kafka/test_broker_restore.c — the Kafka loop's restore of state
 * slots from the changelog (kafka/kfk_slots.c) against the real test
 * broker: a slot gets every committed record of its changelog partition
 * even when a partition of the same restore has a transaction open that
 * ends while the restore runs — aborted (a process killed with a batch
 * open, then fenced or timed out): nothing of it is applied; committed (the
 * previous owner's last commit, whose markers the coordinator writes after
 * commit_transaction returned): all of it is, also when that partition is
 * the only one (its end is the high watermark, which a read_committed
 * client is never told: it hears the last stable offset).
 * Needs KAFKA_BOOTSTRAP (run by tests/integration/kafka_changelog.sh,
 * never in the unit stages); fails without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "base/wd_config.h"
#include "kafka/kfk.h"

static const char *bootstrap(void) { return getenv("KAFKA_BOOTSTRAP"); }

static rd_kafka_conf_t *conf_with(const char *txn_id)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(c, "bootstrap.servers", bootstrap(), err, sizeof err), RD_KAFKA_CONF_OK);
    if (txn_id)
        assert_int_equal(rd_kafka_conf_set(c, "transactional.id", txn_id, err, sizeof err), RD_KAFKA_CONF_OK);
    return c;
}

static void create_topic(const char *name, int partitions)
{
    char err[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf_with(NULL), err, sizeof err);
    assert_non_null(rk);
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, partitions, 1, err, sizeof err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
    assert_non_null(ev);
    size_t n;
    const rd_kafka_topic_result_t **tr =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    assert_int_equal(n, 1);
    assert_int_equal(rd_kafka_topic_result_error(tr[0]), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_destroy(rk);
}

static rd_kafka_t *txn_producer(const char *txn_id)
{
    char err[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf_with(txn_id), err, sizeof err);
    assert_non_null(rk);
    rd_kafka_error_t *e = rd_kafka_init_transactions(rk, 60000);
    if (e)
        fail_msg("init_transactions: %s", rd_kafka_error_string(e));
    return rk;
}

/* A changelog record of slot "* /part" (no space) for key id. */
static void put(rd_kafka_t *rk, const char *topic, int32_t part, const char *id, const char *val)
{
    char key[128];
    int kl = snprintf(key, sizeof key, "*/%d", (int)part);
    kl += 1 + snprintf(key + kl + 1, sizeof key - (size_t)kl - 1, "%s", id);
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part), RD_KAFKA_V_KEY(key, (size_t)kl),
            RD_KAFKA_V_VALUE((void *)val, strlen(val)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(rk, 10);
            continue;
        }
        assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
        return;
    }
}

#define BIG 20000   /* records of slot 1: many fetches at 64 KB each */

/* The handler: counts the records each slot is given; the open
 * transaction on partition 0 ends a quarter into slot 1's records
 * (dozens of fetches in, so partition 0 has reported its end once at the
 * open transaction; it reports it again past its end). */
typedef struct {
    kfk_t      *k;
    int         slot_no[2];
    long        applied[2];
    int         saw_open;      /* the record of the open transaction applied */
    int         restored;
    int         commit;        /* end the open transaction by committing it */
    rd_kafka_t *open_txn;      /* ended in apply, then NULL */
    int         late;          /* instead: committed by a thread 1.5 s after assign */
    pthread_t   committer;
} ud_t;

/* The previous owner's commit, landing while the restore runs. */
static void *commit_late(void *arg)
{
    ud_t *u = arg;
    usleep(1500000);
    rd_kafka_error_t *e = rd_kafka_commit_transaction(u->open_txn, 30000);
    if (e) {
        fprintf(stderr, "commit_transaction: %s\n", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    return NULL;
}

static kfk_rc_t h_assign(void *ud, const char *topic, int32_t partition, void **part)
{
    (void)topic;
    ud_t *u = ud;
    assert_true(partition >= 0 && partition < 2);
    u->slot_no[partition] = partition;
    *part = &u->slot_no[partition];
    if (u->late && partition == 0)
        assert_int_equal(pthread_create(&u->committer, NULL, commit_late, u), 0);
    return KFK_OK;
}

static void h_revoke(void *ud, void *part) { (void)ud; (void)part; }

static kfk_rc_t h_message(void *ud, kfk_t *k, const rd_kafka_message_t *m, void *part)
{
    (void)ud; (void)k; (void)m; (void)part;
    return KFK_OK;
}

static kfk_rc_t h_changes(void *ud, void *part, kfk_changelog_t *cl, char *errstr, size_t n)
{
    (void)ud; (void)part; (void)cl; (void)errstr; (void)n;
    return KFK_OK;
}

static void h_committed(void *ud, void *part) { (void)ud; (void)part; }

static kfk_rc_t h_rollback(void *ud, void *part, char *errstr, size_t n)
{
    (void)ud; (void)part; (void)errstr; (void)n;
    return KFK_OK;
}

static kfk_rc_t h_apply(void *ud, void *part, const void *id, size_t idlen, const void *val, size_t vlen,
                        char *errstr, size_t n)
{
    (void)val; (void)vlen; (void)errstr; (void)n;
    ud_t *u = ud;
    int s = *(int *)part;
    u->applied[s]++;
    if (idlen == 4 && memcmp(id, "open", 4) == 0)
        u->saw_open = 1;
    if (s == 1 && u->applied[1] == BIG / 4 && u->open_txn && !u->late) {
        rd_kafka_error_t *e = u->commit ? rd_kafka_commit_transaction(u->open_txn, 30000)
                                        : rd_kafka_abort_transaction(u->open_txn, 30000);
        if (e)
            fail_msg("ending the open transaction: %s", rd_kafka_error_string(e));
        rd_kafka_destroy(u->open_txn);
        u->open_txn = NULL;
    }
    return KFK_OK;
}

static kfk_rc_t h_restored(void *ud, void *part, char *errstr, size_t n)
{
    (void)part; (void)errstr; (void)n;
    ud_t *u = ud;
    if (++u->restored == 2)
        kfk_stop(u->k);   /* both slots restored: the test has what it needs */
    return KFK_OK;
}

/* Slot 0: one committed record and one in a transaction left open,
 * ended (commit or abort) while slot 1's BIG records are being read; or
 * (late) slot 1 has nothing and the transaction commits 1.5 s after the
 * slots were assigned, while slot 0 alone is being restored. */
static void restore_around_open_transaction(int commit, int late)
{
    char in[96], cl[128], txn[160], group[160], err[512];
    snprintf(in, sizeof in, "restore.%s.%d.%ld", late ? "late" : commit ? "commit" : "abort", (int)getpid(),
             (long)time(NULL));
    snprintf(cl, sizeof cl, "%s.changelog", in);
    snprintf(group, sizeof group, "g.%s", in);
    create_topic(in, 2);
    create_topic(cl, 2);

    /* Committed: one record of slot 0, BIG of slot 1. */
    snprintf(txn, sizeof txn, "%s.writer", in);
    rd_kafka_t *w = txn_producer(txn);
    assert_null(rd_kafka_begin_transaction(w));
    put(w, cl, 0, "first", "v");
    char val[200], id[32];
    memset(val, 'x', sizeof val - 1);
    val[sizeof val - 1] = '\0';
    for (int i = 0; !late && i < BIG; i++) {
        snprintf(id, sizeof id, "k%d", i);
        put(w, cl, 1, id, val);
    }
    assert_null(rd_kafka_commit_transaction(w, 60000));
    rd_kafka_destroy(w);

    /* Open, as a process killed mid-batch leaves it: a record of slot 0. */
    ud_t u = { 0 };
    u.commit = commit;
    u.late = late;
    snprintf(txn, sizeof txn, "%s.killed", in);
    u.open_txn = txn_producer(txn);
    assert_null(rd_kafka_begin_transaction(u.open_txn));
    put(u.open_txn, cl, 0, "open", "v");
    assert_int_equal(rd_kafka_flush(u.open_txn, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);

    wd_config_t *cfg = wd_config_load(NULL, 0, err, sizeof err);
    assert_non_null(cfg);
    /* Small fetches and a small prefetch queue: slot 1's records take many
     * round trips, so partition 0's second end-of-partition (after the
     * abort) arrives while slot 1 is still being read. */
    const char *props[][2] = {
        { "bootstrap.servers", bootstrap() },     { "max.partition.fetch.bytes", "65536" },
        { "queued.max.messages.kbytes", "256" },
        { "queued.min.messages", "500" },          { "session.timeout.ms", "6000" },
    };
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
        assert_int_equal(wd_config_kafka_set(cfg, props[i][0], props[i][1], err, sizeof err), 0);
    const char *topics[] = { in };
    snprintf(txn, sizeof txn, "%s.loop", in);
    kfk_opts_t o = {
        .topics = topics, .ntopics = 1, .group = group, .txn_id = txn, .changelog = cl,
        .dlq = "unused.dlq", .batch_max = 10, .batch_ms = 50, .client_id = "test-restore",
    };
    kfk_handler_t h = {
        .ud = &u, .assign = h_assign, .revoke = h_revoke, .message = h_message, .changes = h_changes,
        .committed = h_committed, .rollback = h_rollback, .apply = h_apply, .restored = h_restored,
    };
    u.k = kfk_new(cfg, &o, &h, err, sizeof err);
    if (!u.k)
        fail_msg("kfk_new: %s", err);
    if (kfk_run(u.k, err, sizeof err) != 0)
        fail_msg("kfk_run: %s", err);
    kfk_destroy(u.k);
    wd_config_destroy(cfg);
    if (late)
        pthread_join(u.committer, NULL);
    if (u.open_txn)
        rd_kafka_destroy(u.open_txn);

    assert_int_equal(u.restored, 2);
    assert_int_equal(u.applied[1], late ? 0 : BIG);
    assert_int_equal(u.applied[0], commit ? 2 : 1);
    assert_int_equal(u.saw_open, commit);
}

static void test_restore_reads_every_slot_to_its_end_past_a_transaction_aborted_meanwhile(void **st)
{
    (void)st;
    restore_around_open_transaction(0, 0);
}

static void test_restore_waits_for_a_transaction_committed_meanwhile(void **st)
{
    (void)st;
    restore_around_open_transaction(1, 0);
}

static void test_restore_of_one_slot_waits_for_the_previous_owners_last_commit(void **st)
{
    (void)st;
    restore_around_open_transaction(1, 1);
}

int main(void)
{
    if (!bootstrap() || !*bootstrap()) {
        fprintf(stderr, "test_broker_restore: KAFKA_BOOTSTRAP is not set (start tests/kafka/broker.sh)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restore_reads_every_slot_to_its_end_past_a_transaction_aborted_meanwhile),
        cmocka_unit_test(test_restore_waits_for_a_transaction_committed_meanwhile),
        cmocka_unit_test(test_restore_of_one_slot_waits_for_the_previous_owners_last_commit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
