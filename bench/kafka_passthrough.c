/* bench/kafka_passthrough.c — the I/O baseline for bench/kafka.sh: a plain
 * librdkafka consume → produce passthrough with warden run's batching and
 * transactions (consumer group, read_committed, transactional producer,
 * offsets sent in the transaction, commit every BATCH_MAX messages or
 * BATCH_MS), copying every message to the output topic.  Stops after COUNT
 * messages and prints its rate and poll-to-commit latency.  With OUT "-"
 * it only consumes (plain, non-transactional, read_uncommitted): the I/O
 * ceiling of reading the input.  Both print the process's CPU seconds.
 *
 *   kafka_passthrough BOOTSTRAP IN OUT GROUP COUNT [BATCH_MAX BATCH_MS]
 *
 * Without arguments (as `make bench` runs every bench binary) it explains
 * itself and exits 0: bench/kafka.sh gives it a broker. */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "kafka_passthrough: %s: %s\n", what, msg);
    exit(1);
}

static void set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[512];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK)
        die(k, err);
}

static void check(rd_kafka_error_t *e, const char *what)
{
    if (e)
        die(what, rd_kafka_error_string(e));
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

/* OUT "-": consume COUNT messages, nothing else. */
static int consume_only(const char *bootstrap, const char *in, const char *group, long count)
{
    char err[512];
    rd_kafka_conf_t *cc = rd_kafka_conf_new();
    set(cc, "bootstrap.servers", bootstrap);
    set(cc, "group.id", group);
    set(cc, "enable.auto.commit", "false");
    set(cc, "auto.offset.reset", "earliest");
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof err);
    if (!c)
        die("consumer", err);
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, in, RD_KAFKA_PARTITION_UA);
    if (rd_kafka_subscribe(c, sub))
        die("subscribe", in);
    rd_kafka_topic_partition_list_destroy(sub);
    long n = 0;
    uint64_t first = 0, last = 0;
    size_t bytes = 0;
    while (n < count) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        if (!m->err) {
            last = now_ns();
            if (!first)
                first = last;
            bytes += m->len;
            n++;
        }
        rd_kafka_message_destroy(m);
    }
    double secs = (double)(last - first) / 1e9;
    printf("consume events=%ld bytes=%zu seconds=%.3f events_per_s=%.0f cpu_s=%.2f\n", n, bytes, secs,
           secs > 0 ? (double)n / secs : 0.0, cpu_seconds());
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        printf("kafka_passthrough: the raw librdkafka baseline of bench/kafka.sh (needs a broker); skipped\n");
        return 0;
    }
    const char *bootstrap = argv[1], *in = argv[2], *out = argv[3], *group = argv[4];
    long count = atol(argv[5]);
    long batch_max = argc > 6 ? atol(argv[6]) : 2000;
    long batch_ms = argc > 7 ? atol(argv[7]) : 200;
    char err[512], txn[256];
    if (strcmp(out, "-") == 0)
        return consume_only(bootstrap, in, group, count);

    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    set(pc, "bootstrap.servers", bootstrap);
    snprintf(txn, sizeof txn, "%s.passthrough", group);
    set(pc, "transactional.id", txn);
    set(pc, "linger.ms", "5");
    set(pc, "queue.buffering.max.messages", "500000");
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof err);
    if (!p)
        die("producer", err);
    check(rd_kafka_init_transactions(p, 60000), "init_transactions");

    rd_kafka_conf_t *cc = rd_kafka_conf_new();
    set(cc, "bootstrap.servers", bootstrap);
    set(cc, "group.id", group);
    set(cc, "enable.auto.commit", "false");
    set(cc, "isolation.level", "read_committed");
    set(cc, "auto.offset.reset", "earliest");
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof err);
    if (!c)
        die("consumer", err);
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, in, RD_KAFKA_PARTITION_UA);
    if (rd_kafka_subscribe(c, sub))
        die("subscribe", in);
    rd_kafka_topic_partition_list_destroy(sub);

    uint64_t *polled = calloc((size_t)batch_max, sizeof(*polled));
    uint32_t *lat = calloc((size_t)count + 1, sizeof(*lat));
    if (!polled || !lat)
        die("alloc", "out of memory");
    long n = 0, nb = 0, nlat = 0, commits = 0;
    uint64_t first = 0, start = 0, last_commit = 0;
    int open = 0;
    while (n < count || open) {
        rd_kafka_message_t *m = n < count ? rd_kafka_consumer_poll(c, 50) : NULL;
        uint64_t t = now_ns();
        if (m && !m->err) {
            if (!open) {
                check(rd_kafka_begin_transaction(p), "begin_transaction");
                open = 1;
                nb = 0;
                start = t;
            }
            if (!first)
                first = t;
            for (;;) {
                rd_kafka_resp_err_t e = rd_kafka_producev(
                    p, RD_KAFKA_V_TOPIC(out), RD_KAFKA_V_KEY(m->key, m->key_len),
                    RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_END);
                if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                    rd_kafka_poll(p, 10);
                    continue;
                }
                if (e)
                    die("produce", rd_kafka_err2str(e));
                break;
            }
            polled[nb++] = t;
            n++;
        }
        if (m)
            rd_kafka_message_destroy(m);
        if (open && (nb >= batch_max || n >= count || t - start >= (uint64_t)batch_ms * 1000000ull)) {
            rd_kafka_topic_partition_list_t *pos;
            rd_kafka_assignment(c, &pos);
            rd_kafka_position(c, pos);
            rd_kafka_consumer_group_metadata_t *gm = rd_kafka_consumer_group_metadata(c);
            check(rd_kafka_send_offsets_to_transaction(p, pos, gm, -1), "send_offsets_to_transaction");
            rd_kafka_consumer_group_metadata_destroy(gm);
            rd_kafka_topic_partition_list_destroy(pos);
            check(rd_kafka_commit_transaction(p, -1), "commit_transaction");
            last_commit = now_ns();
            for (long i = 0; i < nb; i++)
                lat[nlat++] = (uint32_t)((last_commit - polled[i]) / 1000);
            commits++;
            open = 0;
        }
    }
    double secs = (double)(last_commit - first) / 1e9;
    qsort(lat, (size_t)nlat, sizeof(*lat), cmp_u32);
    printf("passthrough events=%ld commits=%ld seconds=%.3f events_per_s=%.0f latency_p50_us=%u "
           "latency_p99_us=%u cpu_s=%.2f\n", n, commits, secs, secs > 0 ? (double)n / secs : 0.0,
           nlat ? lat[nlat / 2] : 0, nlat ? lat[(size_t)((double)(nlat - 1) * 0.99)] : 0, cpu_seconds());
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    rd_kafka_destroy(p);
    free(polled);
    free(lat);
    return 0;
}
