/* tests/kafka/test_broker_replay.c — the bounded Kafka reader of warden replay
 * (replay/rpl_kafka.c) against the real test broker: exactly the messages
 * of [start, to) by message time, merged across partitions in event-time
 * order; an empty range; a start older than retention (records deleted)
 * names the earliest retained time per partition; transactional input
 * (commit markers at the end) still ends.  Needs KAFKA_BOOTSTRAP (run by
 * tests/integration/kafka_replay.sh, never in the unit stages); fails
 * without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "base/wd_config.h"
#include "replay/rpl_kafka.h"

static const char *bootstrap(void) { return getenv("KAFKA_BOOTSTRAP"); }
static const int64_t BASE = 1790000000000;   /* message times: BASE + i s */

static rd_kafka_conf_t *conf_with(const char *k, const char *v)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(c, "bootstrap.servers", bootstrap(), err, sizeof err), RD_KAFKA_CONF_OK);
    if (k)
        assert_int_equal(rd_kafka_conf_set(c, k, v, err, sizeof err), RD_KAFKA_CONF_OK);
    return c;
}

static void create_topic(const char *name, int partitions)
{
    char err[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf_with(NULL, NULL), err, sizeof err);
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

/* Message i: partition i % parts, message time BASE + i s, an event with
 * no ts field (its time is the message time) unless evts: then its ts is
 * the message time minus i % parts ms, so the merge must order by it. */
static void produce_n(const char *topic, int from, int to, int parts, const char *txn)
{
    char err[256], val[128];
    rd_kafka_conf_t *c = conf_with("linger.ms", "5");
    if (txn)
        assert_int_equal(rd_kafka_conf_set(c, "transactional.id", txn, err, sizeof err), RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    assert_non_null(rk);
    if (txn) {
        assert_null(rd_kafka_init_transactions(rk, 30000));
        assert_null(rd_kafka_begin_transaction(rk));
    }
    for (int i = from; i < to; i++) {
        snprintf(val, sizeof val, "{\"type\":\"s\",\"id\":\"m%d\",\"ts\":%lld}", i,
                 (long long)(BASE + i * 1000LL));
        assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(i % parts),
                                           RD_KAFKA_V_VALUE(val, strlen(val)),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_TIMESTAMP(BASE + i * 1000LL), RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    if (txn)
        assert_null(rd_kafka_commit_transaction(rk, 30000));
    assert_int_equal(rd_kafka_flush(rk, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
}

static wd_config_t *config(void)
{
    char err[1024];
    wd_config_t *c = wd_config_load(NULL, 0, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(wd_config_kafka_set(c, "bootstrap.servers", bootstrap(), err, sizeof err), 0);
    return c;
}

typedef struct seen {
    char ids[4096];
    int  n;
    int64_t last_ts;
    int  ordered;
} seen_t;

static int collect(void *ud, const char *buf, size_t len, const eng_src_t *src, uint64_t done,
                   uint64_t total)
{
    seen_t *s = ud;
    (void)done, (void)total;
    const char *p = strstr(buf, "\"id\":\"");
    const char *ts = strstr(buf, "\"ts\":");
    assert_non_null(p);
    assert_non_null(ts);
    assert_true(len > 0 && src->topic && src->offset >= 0);
    long long t = atoll(ts + 5);
    if (t < s->last_ts)
        s->ordered = 0;
    s->last_ts = t;
    size_t used = strlen(s->ids);
    snprintf(s->ids + used, sizeof s->ids - used, "%s%.*s", s->n ? "," : "",
             (int)(strchr(p + 6, '"') - (p + 6)), p + 6);
    s->n++;
    return 0;
}

static void name(char *buf, size_t n, const char *what)
{
    snprintf(buf, n, "test_rpl_kafka.%s.%ld.%d", what, (long)time(NULL), (int)getpid());
}

static void test_reads_exactly_the_time_range_in_time_order(void **st)
{
    (void)st;
    if (!bootstrap())
        fail_msg("KAFKA_BOOTSTRAP is not set: this binary runs in tests/integration/kafka_replay.sh");
    char topic[128], err[2048];
    name(topic, sizeof topic, "range");
    create_topic(topic, 3);
    produce_n(topic, 0, 12, 3, NULL);
    wd_config_t *c = config();
    const char *topics[] = { topic };
    rpl_kafka_t *k = rpl_kafka_open(c, topics, 1, BASE + 3000, BASE + 9000, "ts", err, sizeof err);
    if (k == NULL)
        fail_msg("%s", err);
    assert_int_equal(rpl_kafka_total(k), 6);
    seen_t s = { .ordered = 1 };
    volatile sig_atomic_t stop = 0;
    assert_int_equal(rpl_kafka_run(k, collect, &s, &stop, err, sizeof err), 0);
    assert_string_equal(s.ids, "m3,m4,m5,m6,m7,m8");
    assert_true(s.ordered);
    rpl_kafka_close(k);
    wd_config_destroy(c);
}

static void test_empty_range_is_empty(void **st)
{
    (void)st;
    if (!bootstrap())
        fail_msg("KAFKA_BOOTSTRAP is not set: this binary runs in tests/integration/kafka_replay.sh");
    char topic[128], err[2048];
    name(topic, sizeof topic, "empty");
    create_topic(topic, 2);
    produce_n(topic, 0, 4, 2, NULL);
    wd_config_t *c = config();
    const char *topics[] = { topic };
    rpl_kafka_t *k = rpl_kafka_open(c, topics, 1, BASE + 60000, BASE + 90000, "ts", err, sizeof err);
    if (k == NULL)
        fail_msg("%s", err);
    assert_int_equal(rpl_kafka_total(k), 0);
    seen_t s = { .ordered = 1 };
    volatile sig_atomic_t stop = 0;
    assert_int_equal(rpl_kafka_run(k, collect, &s, &stop, err, sizeof err), 0);
    assert_int_equal(s.n, 0);
    rpl_kafka_close(k);
    wd_config_destroy(c);
}

static void test_start_past_retention_names_earliest_retained(void **st)
{
    (void)st;
    if (!bootstrap())
        fail_msg("KAFKA_BOOTSTRAP is not set: this binary runs in tests/integration/kafka_replay.sh");
    char topic[128], err[2048];
    name(topic, sizeof topic, "retention");
    create_topic(topic, 2);
    produce_n(topic, 0, 10, 2, NULL);   /* partition 0: m0 m2 … m8 at offsets 0..4 */
    /* Delete partition 0 before offset 2 (m4 is its earliest retained). */
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf_with(NULL, NULL), err, sizeof err);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0)->offset = 2;
    rd_kafka_DeleteRecords_t *dr = rd_kafka_DeleteRecords_new(l);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteRecords(rk, &dr, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
    assert_non_null(ev);
    assert_int_equal(rd_kafka_event_error(ev), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteRecords_destroy(dr);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);

    wd_config_t *c = config();
    const char *topics[] = { topic };
    rpl_kafka_t *k = rpl_kafka_open(c, topics, 1, BASE, BASE + 90000, "ts", err, sizeof err);
    assert_null(k);
    char want[256];
    snprintf(want, sizeof want, "%s/0: earliest retained 2026-09-21T", topic);
    if (strstr(err, want) == NULL || strstr(err, "(offset 2)") == NULL || strstr(err, "/1:") != NULL)
        fail_msg("error does not name the earliest retained time of partition 0 only: %s", err);
    /* From m4's time on the window is retained. */
    k = rpl_kafka_open(c, topics, 1, BASE + 4000, BASE + 90000, "ts", err, sizeof err);
    if (k == NULL)
        fail_msg("%s", err);
    seen_t s = { .ordered = 1 };
    volatile sig_atomic_t stop = 0;
    assert_int_equal(rpl_kafka_run(k, collect, &s, &stop, err, sizeof err), 0);
    assert_string_equal(s.ids, "m4,m5,m6,m7,m8,m9");
    rpl_kafka_close(k);
    wd_config_destroy(c);
}

static void test_transactional_input_ends_at_commit_markers(void **st)
{
    (void)st;
    if (!bootstrap())
        fail_msg("KAFKA_BOOTSTRAP is not set: this binary runs in tests/integration/kafka_replay.sh");
    char topic[128], txn[160], err[2048];
    name(topic, sizeof topic, "txn");
    snprintf(txn, sizeof txn, "%s.p", topic);
    create_topic(topic, 2);
    produce_n(topic, 0, 6, 2, txn);   /* each partition ends with a commit marker */
    /* The markers are written after commit_transaction returns; a replay's
     * end is the last stable offset when it opens, so wait for them. */
    rd_kafka_t *rc = rd_kafka_new(RD_KAFKA_CONSUMER, conf_with("isolation.level", "read_committed"),
                                  err, sizeof err);
    int64_t lo, hi0 = 0, hi1 = 0;
    for (int i = 0; i < 100 && (hi0 < 4 || hi1 < 4); i++) {
        usleep(100000);
        rd_kafka_query_watermark_offsets(rc, topic, 0, &lo, &hi0, 5000);
        rd_kafka_query_watermark_offsets(rc, topic, 1, &lo, &hi1, 5000);
    }
    rd_kafka_destroy(rc);
    assert_int_equal(hi0 + hi1, 8);   /* 3 records + 1 marker each */
    wd_config_t *c = config();
    const char *topics[] = { topic };
    rpl_kafka_t *k = rpl_kafka_open(c, topics, 1, BASE, BASE + 90000, "ts", err, sizeof err);
    if (k == NULL)
        fail_msg("%s", err);
    seen_t s = { .ordered = 1 };
    volatile sig_atomic_t stop = 0;
    time_t t0 = time(NULL);
    assert_int_equal(rpl_kafka_run(k, collect, &s, &stop, err, sizeof err), 0);
    assert_true(time(NULL) - t0 < 20);
    assert_string_equal(s.ids, "m0,m1,m2,m3,m4,m5");
    rpl_kafka_close(k);
    wd_config_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_exactly_the_time_range_in_time_order),
        cmocka_unit_test(test_empty_range_is_empty),
        cmocka_unit_test(test_start_past_retention_names_earliest_retained),
        cmocka_unit_test(test_transactional_input_ends_at_commit_markers),
    };
    return cmocka_run_group_tests_name("replay kafka reader", tests, NULL, NULL);
}
