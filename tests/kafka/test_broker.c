/* tests/kafka/test_broker.c — checks that the private test broker
 * (tests/kafka/broker.sh) gives librdkafka 2.0.2 everything warden relies
 * on: subscribe()-style consumer groups, transactions whose aborted records
 * stay invisible to read_committed consumers, offsets committed inside a
 * transaction, and offsets-for-times.  Needs KAFKA_BOOTSTRAP: run by
 * tests/integration/kafka_broker.sh once the broker is up (tools/run_tests.sh
 * leaves test_broker* binaries out of the unit stages); without it, exits
 * 77 ("skipped": never a pass) before running anything. */
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

static const char *bootstrap(void) { return getenv("KAFKA_BOOTSTRAP"); }

static void unique_name(char *buf, size_t n, const char *what) {
    snprintf(buf, n, "test_broker.%s.%ld.%d", what, (long)time(NULL), (int)getpid());
}

static rd_kafka_conf_t *base_conf(void) {
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(c, "bootstrap.servers", bootstrap(), err, sizeof err),
                     RD_KAFKA_CONF_OK);
    return c;
}

static void set(rd_kafka_conf_t *c, const char *k, const char *v) {
    char err[256];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK)
        fail_msg("%s=%s: %s", k, v, err);
}

static void create_topic(const char *name, int partitions) {
    char err[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, base_conf(), err, sizeof err);
    assert_non_null(rk);
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, partitions, 1, err, sizeof err);
    assert_non_null(nt);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
    assert_non_null(ev);
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    assert_non_null(res);
    size_t n;
    const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
    assert_int_equal(n, 1);
    if (rd_kafka_topic_result_error(tr[0]) != RD_KAFKA_RESP_ERR_NO_ERROR)
        fail_msg("create %s: %s", name, rd_kafka_topic_result_error_string(tr[0]));
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_destroy(rk);
}

static rd_kafka_t *producer(const char *txn_id) {
    char err[256];
    rd_kafka_conf_t *c = base_conf();
    set(c, "linger.ms", "5");
    if (txn_id) set(c, "transactional.id", txn_id);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    assert_non_null(rk);
    if (txn_id) {
        rd_kafka_error_t *e = rd_kafka_init_transactions(rk, 30000);
        if (e) fail_msg("init_transactions: %s", rd_kafka_error_string(e));
    }
    return rk;
}

static void produce(rd_kafka_t *rk, const char *topic, int32_t part, const char *val,
                    int64_t ts_ms) {
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
        RD_KAFKA_V_VALUE((void *)val, strlen(val)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_TIMESTAMP(ts_ms), RD_KAFKA_V_END);
    assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* Reads partition 0 of topic from the start to its end; returns how many
 * records the consumer saw and writes their values joined by ',' into out. */
static int read_all(const char *topic, const char *isolation, char *out, size_t outn) {
    char err[256];
    rd_kafka_conf_t *c = base_conf();
    set(c, "group.id", "test_broker.reader");
    set(c, "enable.partition.eof", "true");
    set(c, "isolation.level", isolation);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(rk, l), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    int n = 0;
    out[0] = '\0';
    for (int i = 0; i < 200; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) { rd_kafka_message_destroy(m); break; }
        assert_int_equal(m->err, RD_KAFKA_RESP_ERR_NO_ERROR);
        size_t used = strlen(out);
        snprintf(out + used, outn - used, "%s%.*s", n ? "," : "", (int)m->len, (char *)m->payload);
        n++;
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

static void test_aborted_transaction_invisible_to_read_committed(void **st) {
    (void)st;
    char topic[128], txn[128], got[512];
    unique_name(topic, sizeof topic, "txn");
    unique_name(txn, sizeof txn, "txnid");
    create_topic(topic, 1);
    rd_kafka_t *p = producer(txn);
    assert_null(rd_kafka_begin_transaction(p));
    produce(p, topic, 0, "aborted1", 0);
    produce(p, topic, 0, "aborted2", 0);
    assert_int_equal(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_null(rd_kafka_abort_transaction(p, 10000));
    assert_null(rd_kafka_begin_transaction(p));
    produce(p, topic, 0, "kept1", 0);
    produce(p, topic, 0, "kept2", 0);
    assert_null(rd_kafka_commit_transaction(p, 10000));
    rd_kafka_destroy(p);

    assert_int_equal(read_all(topic, "read_committed", got, sizeof got), 2);
    assert_string_equal(got, "kept1,kept2");
    assert_int_equal(read_all(topic, "read_uncommitted", got, sizeof got), 4);
    assert_string_equal(got, "aborted1,aborted2,kept1,kept2");
}

/* consume (subscribe, group) → produce → send_offsets_to_transaction →
 * commit: the group's committed offset moves only with the commit. */
static void test_offsets_committed_in_transaction_are_stored(void **st) {
    (void)st;
    char in[128], out[128], txn[128], group[128], err[256];
    unique_name(in, sizeof in, "in");
    unique_name(out, sizeof out, "out");
    unique_name(txn, sizeof txn, "ctp");
    unique_name(group, sizeof group, "group");
    create_topic(in, 2);
    create_topic(out, 1);
    rd_kafka_t *plain = producer(NULL);
    for (int i = 0; i < 10; i++) produce(plain, in, i % 2, "x", 0);
    assert_int_equal(rd_kafka_flush(plain, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(plain);

    rd_kafka_conf_t *c = base_conf();
    set(c, "group.id", group);
    set(c, "enable.auto.commit", "false");
    set(c, "auto.offset.reset", "earliest");
    set(c, "isolation.level", "read_committed");
    rd_kafka_t *cons = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    assert_non_null(cons);
    rd_kafka_poll_set_consumer(cons);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, in, RD_KAFKA_PARTITION_UA);
    assert_int_equal(rd_kafka_subscribe(cons, sub), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(sub);

    rd_kafka_t *p = producer(txn);
    assert_null(rd_kafka_begin_transaction(p));
    int got = 0;
    for (int i = 0; i < 300 && got < 10; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 100);
        if (!m) continue;
        if (!m->err) { produce(p, out, 0, "y", 0); got++; }
        rd_kafka_message_destroy(m);
    }
    assert_int_equal(got, 10);
    rd_kafka_topic_partition_list_t *pos = NULL;
    assert_int_equal(rd_kafka_assignment(cons, &pos), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_position(cons, pos), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_consumer_group_metadata_t *gm = rd_kafka_consumer_group_metadata(cons);
    rd_kafka_error_t *e = rd_kafka_send_offsets_to_transaction(p, pos, gm, 10000);
    if (e) fail_msg("send_offsets: %s", rd_kafka_error_string(e));
    rd_kafka_consumer_group_metadata_destroy(gm);
    assert_null(rd_kafka_commit_transaction(p, 10000));

    /* The group's committed offsets now sum to the 10 records consumed. */
    for (int i = 0; i < pos->cnt; i++) pos->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
    assert_int_equal(rd_kafka_committed(cons, pos, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    int64_t sum = 0;
    for (int i = 0; i < pos->cnt; i++) sum += pos->elems[i].offset;
    assert_int_equal(sum, 10);
    rd_kafka_topic_partition_list_destroy(pos);
    rd_kafka_consumer_close(cons);
    rd_kafka_destroy(cons);
    rd_kafka_destroy(p);
}

static void test_offsets_for_times_finds_first_at_or_after(void **st) {
    (void)st;
    char topic[128], err[256];
    unique_name(topic, sizeof topic, "times");
    create_topic(topic, 1);
    rd_kafka_t *p = producer(NULL);
    const int64_t base = 1700000000000;
    for (int i = 0; i < 10; i++) produce(p, topic, 0, "t", base + i * 1000);
    assert_int_equal(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);

    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, base_conf(), err, sizeof err);
    assert_non_null(c);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0)->offset = base + 4500;
    assert_int_equal(rd_kafka_offsets_for_times(c, l, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(l->elems[0].offset, 5);
    l->elems[0].offset = base + 60000;   /* after the last: "end" */
    assert_int_equal(rd_kafka_offsets_for_times(c, l, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(l->elems[0].offset, -1);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(c);
}

int main(void) {
    if (!bootstrap()) {
        fprintf(stderr, "test_broker: KAFKA_BOOTSTRAP is not set (tests/kafka/broker.sh env): skipped\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aborted_transaction_invisible_to_read_committed),
        cmocka_unit_test(test_offsets_committed_in_transaction_are_stored),
        cmocka_unit_test(test_offsets_for_times_finds_first_at_or_after),
    };
    return cmocka_run_group_tests_name("kafka broker", tests, NULL, NULL);
}
