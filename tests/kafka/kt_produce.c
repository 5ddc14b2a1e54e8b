/* kt_produce — a test tool: produces records with the timestamps the test
 * gives (kcat cannot), so offsets-for-times can be tested on event times.
 *   kt_produce BOOTSTRAP TOPIC PARTITIONS < lines
 * creates TOPIC with PARTITIONS partitions when it does not exist, then
 * produces one record per input line "PARTITION<TAB>TS_MS<TAB>KEY<TAB>VALUE"
 * (idempotent, acks=all) and waits for every delivery.  Exit 0, or 1 with
 * the reason on stderr. */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failed;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err) {
        fprintf(stderr, "kt_produce: delivery: %s\n", rd_kafka_err2str(m->err));
        failed = 1;
    }
}

static int create_topic(rd_kafka_t *rk, const char *topic, int parts)
{
    char err[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, parts, 1, err, sizeof err);
    if (!nt) {
        fprintf(stderr, "kt_produce: %s\n", err);
        return -1;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    int rc = 0;
    if (!ev) {
        fprintf(stderr, "kt_produce: create %s: no answer\n", topic);
        rc = -1;
    } else {
        size_t n;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        rd_kafka_resp_err_t e = n == 1 ? rd_kafka_topic_result_error(tr[0]) : rd_kafka_event_error(ev);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            fprintf(stderr, "kt_produce: create %s: %s\n", topic, rd_kafka_err2str(e));
            rc = -1;
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: kt_produce BOOTSTRAP TOPIC PARTITIONS < lines\n");
        return 2;
    }
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof err) ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err) ||
        rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err)) {
        fprintf(stderr, "kt_produce: %s\n", err);
        return 1;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "kt_produce: %s\n", err);
        return 1;
    }
    if (create_topic(rk, argv[2], atoi(argv[3])) != 0) {
        rd_kafka_destroy(rk);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long n = 0;
    while ((len = getline(&line, &cap, stdin)) > 0 && !failed) {
        if (line[len - 1] == '\n')
            line[--len] = '\0';
        char *f[4], *p = line;
        int i = 0;
        for (; i < 3; i++) {
            f[i] = p;
            p = strchr(p, '\t');
            if (!p)
                break;
            *p++ = '\0';
        }
        if (i < 3) {
            fprintf(stderr, "kt_produce: line %ld: want PARTITION<TAB>TS_MS<TAB>KEY<TAB>VALUE\n", n + 1);
            failed = 1;
            break;
        }
        f[3] = p;
        for (int tries = 0;; tries++) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(argv[2]), RD_KAFKA_V_PARTITION(atoi(f[0])),
                RD_KAFKA_V_TIMESTAMP(strtoll(f[1], NULL, 10)), RD_KAFKA_V_KEY(f[2], strlen(f[2])),
                RD_KAFKA_V_VALUE(f[3], strlen(f[3])), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && tries < 1000) {
                rd_kafka_poll(rk, 10);
                continue;
            }
            if (e) {
                fprintf(stderr, "kt_produce: line %ld: %s\n", n + 1, rd_kafka_err2str(e));
                failed = 1;
            }
            break;
        }
        n++;
        rd_kafka_poll(rk, 0);
    }
    free(line);
    if (rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "kt_produce: not every record was delivered in 60 s\n");
        failed = 1;
    }
    rd_kafka_destroy(rk);
    return failed ? 1 : 0;
}
