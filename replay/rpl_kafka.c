/* The bounded Kafka reader of warden replay.  Offsets first: per partition
 * the watermarks and offsets-for-times of start and end, then one consumer,
 * assigned (no group, no commits), read_committed, one queue per partition
 * so the merge can hold exactly one head message per partition and always
 * hand on the earliest by event time (ties: partition order, offset).
 * Each head is parsed once, by its partition's own parser, for its event
 * time, and that document is what the consumer of the message evaluates.
 * Memory: one message and one parsed document per partition plus
 * librdkafka's prefetch. */
#include "replay/rpl_kafka.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/wd_json.h"

typedef struct part {
    char               *topic;
    int32_t             partition;
    int64_t             lo, hi;        /* watermarks */
    int64_t             start, end;    /* [start, end) to read */
    rd_kafka_queue_t   *q;
    rd_kafka_message_t *head;
    int64_t             head_ts;
    wd_jval_t           head_root;
    wd_json_t          *json;          /* head's document: valid while it is the head */
    int                 head_parsed;
    int                 done;
} part_t;

struct rpl_kafka {
    rd_kafka_t *rk;
    part_t     *parts;
    size_t      nparts;
    uint64_t    total, done;
    int64_t     start_ms, to_ms;
    eng_opts_t  eo;
    part_t     *cur;           /* the partition whose message fn is handling */
    char        ts_field[256];
};

#define TIMEOUT_MS 10000

void rpl_kafka_close(rpl_kafka_t *k)
{
    if (k == NULL)
        return;
    for (size_t i = 0; i < k->nparts; i++) {
        if (k->parts[i].head)
            rd_kafka_message_destroy(k->parts[i].head);
        if (k->parts[i].q)
            rd_kafka_queue_destroy(k->parts[i].q);
        free(k->parts[i].topic);
        wd_json_destroy(k->parts[i].json);
    }
    if (k->rk) {
        rd_kafka_assign(k->rk, NULL);
        rd_kafka_consumer_close(k->rk);
        rd_kafka_destroy(k->rk);
    }
    free(k->parts);
    free(k);
}

static int add_partitions(rpl_kafka_t *k, const char *topic, char *err, size_t n)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(k->rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(k->rk, 0, t, &md, TIMEOUT_MS);
    rd_kafka_topic_destroy(t);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, n, "topic %s: metadata: %s", topic, rd_kafka_err2str(e));
        return -1;
    }
    int rc = 0;
    if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, n, "topic %s: %s", topic,
                 md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "not found");
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < md->topics[0].partition_cnt; i++) {
        part_t *p = realloc(k->parts, (k->nparts + 1) * sizeof(*p));
        if (p == NULL) {
            snprintf(err, n, "topic %s: out of memory", topic);
            rc = -1;
            break;
        }
        k->parts = p;
        p = &k->parts[k->nparts++];
        memset(p, 0, sizeof(*p));
        p->topic = strdup(topic);
        p->partition = md->topics[0].partitions[i].id;
        if (p->topic == NULL || (p->json = wd_json_new(0)) == NULL) {
            snprintf(err, n, "topic %s: out of memory", topic);
            rc = -1;
        }
    }
    rd_kafka_metadata_destroy(md);
    return rc;
}

/* offsets-for-times of ts for every partition into out[i] (-1 → hi). */
static int offsets_at(rpl_kafka_t *k, int64_t ts, int64_t *out, char *err, size_t n)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)k->nparts);
    for (size_t i = 0; i < k->nparts; i++)
        rd_kafka_topic_partition_list_add(l, k->parts[i].topic, k->parts[i].partition)->offset = ts;
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(k->rk, l, TIMEOUT_MS);
    int rc = 0;
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, n, "offsets for times: %s", rd_kafka_err2str(e));
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < k->nparts; i++) {
        const rd_kafka_topic_partition_t *tp = &l->elems[i];
        if (tp->err) {
            snprintf(err, n, "%s/%" PRId32 ": offsets for times: %s", tp->topic, tp->partition,
                     rd_kafka_err2str(tp->err));
            rc = -1;
            break;
        }
        out[i] = tp->offset < 0 ? k->parts[i].hi : tp->offset;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

/* Fills p->head unless the partition is done.  Returns 0, or -1. */
static int fill(rpl_kafka_t *k, part_t *p, volatile sig_atomic_t *stop, char *err, size_t n)
{
    while (!p->head && !p->done) {
        if (stop && *stop)
            return 0;
        rd_kafka_message_t *m = rd_kafka_consume_queue(p->q, 200);
        if (m == NULL)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* read_committed reports EOF at the last stable offset: below
             * the end an open transaction (or markers not yet written)
             * holds the rest back, so wait for it; at or past the end the
             * rest were commit markers, never delivered. */
            if (m->offset >= p->end)
                p->done = 1;
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->err) {
            snprintf(err, n, "%s/%" PRId32 ": %s", p->topic, p->partition, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            return -1;
        }
        if (m->offset >= p->end) {   /* past the range (a marker at end − 1 was skipped) */
            p->done = 1;
            rd_kafka_message_destroy(m);
            break;
        }
        rd_kafka_timestamp_type_t tt;
        int64_t mts = rd_kafka_message_timestamp(m, &tt);
        eng_src_t src = { .topic = p->topic, .partition = p->partition, .offset = m->offset,
                          .msg_ts_ms = mts >= 0 ? mts : INT64_MIN };
        wd_jval_t root;
        char perr[128];
        const char *why;
        int64_t ts = INT64_MIN;
        p->head_parsed = wd_json_parse(p->json, m->payload ? m->payload : "", m->len, &root, perr,
                                       sizeof(perr)) == 0;
        if (!p->head_parsed || wd_jval_type(root) != WD_JOBJECT ||
            eng_event_time(&k->eo, root, &src, &ts, &why) != 0)
            ts = src.msg_ts_ms != INT64_MIN ? src.msg_ts_ms : INT64_MIN;
        p->head = m;
        p->head_ts = ts;
        p->head_root = root;
    }
    return 0;
}

rpl_kafka_t *rpl_kafka_open(const wd_config_t *cfg, const char *const *topics, size_t ntopics,
                            int64_t start_ms, int64_t to_ms, const char *ts_field,
                            char *errstr, size_t errstr_size)
{
    if (ntopics == 0) {
        snprintf(errstr, errstr_size, "%s: no input topics (set streams.topics or run.topics)",
                 wd_config_path(cfg));
        return NULL;
    }
    rpl_kafka_t *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        snprintf(errstr, errstr_size, "out of memory opening the replay input");
        return NULL;
    }
    k->start_ms = start_ms;
    k->to_ms = to_ms;
    snprintf(k->ts_field, sizeof(k->ts_field), "%s", ts_field);
    eng_opts_default(&k->eo);
    k->eo.ts_field = k->ts_field;
    k->eo.max_future_ms = 0;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[512];
    if (wd_config_kafka_apply(cfg, conf, errstr, errstr_size) != 0) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    /* Its own consumer: assigned partitions, no group offsets ever written. */
    static const char *const fixed[][2] = {
        { "group.id", "warden-replay" },   /* required by the API; never joined or committed */
        { "enable.auto.commit", "false" },
        { "enable.auto.offset.store", "false" },
        { "isolation.level", "read_committed" },
        { "enable.partition.eof", "true" },
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if (rd_kafka_conf_set(conf, fixed[i][0], fixed[i][1], e, sizeof(e)) != RD_KAFKA_CONF_OK) {
            snprintf(errstr, errstr_size, "kafka %s: %s", fixed[i][0], e);
            rd_kafka_conf_destroy(conf);
            goto fail;
        }
    if ((k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e))) == NULL) {
        snprintf(errstr, errstr_size, "kafka consumer: %s", e);
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    for (size_t i = 0; i < ntopics; i++)
        if (add_partitions(k, topics[i], errstr, errstr_size) != 0)
            goto fail;
    for (size_t i = 0; i < k->nparts; i++) {
        part_t *p = &k->parts[i];
        rd_kafka_resp_err_t re = rd_kafka_query_watermark_offsets(k->rk, p->topic, p->partition, &p->lo,
                                                                  &p->hi, TIMEOUT_MS);
        if (re) {
            snprintf(errstr, errstr_size, "%s/%" PRId32 ": watermarks: %s", p->topic, p->partition,
                     rd_kafka_err2str(re));
            goto fail;
        }
    }
    int64_t *st = calloc(k->nparts + 1, sizeof(int64_t)), *en = calloc(k->nparts + 1, sizeof(int64_t));
    int rc = -1;
    if (!st || !en)
        snprintf(errstr, errstr_size, "out of memory reading the partitions' offsets");
    else
        rc = offsets_at(k, start_ms == INT64_MIN ? 0 : start_ms, st, errstr, errstr_size);
    if (rc == 0)
        rc = offsets_at(k, to_ms, en, errstr, errstr_size);
    for (size_t i = 0; rc == 0 && i < k->nparts; i++) {
        k->parts[i].start = st[i] < k->parts[i].lo ? k->parts[i].lo : st[i];
        k->parts[i].end = en[i] > k->parts[i].hi ? k->parts[i].hi : en[i];
        if (k->parts[i].end < k->parts[i].start)
            k->parts[i].end = k->parts[i].start;
        k->total += (uint64_t)(k->parts[i].end - k->parts[i].start);
    }
    free(st);
    free(en);
    if (rc != 0)
        goto fail;
    /* One queue per partition, unforwarded BEFORE the assignment: once
     * assigned, fetched messages go to the consumer's main queue until the
     * partition queue stops forwarding, and a message that got there would
     * never reach fill() (a flaky empty replay). */
    for (size_t i = 0; i < k->nparts; i++) {
        part_t *p = &k->parts[i];
        p->q = rd_kafka_queue_get_partition(k->rk, p->topic, p->partition);
        if (p->q == NULL) {
            snprintf(errstr, errstr_size, "%s/%" PRId32 ": no such partition", p->topic, p->partition);
            goto fail;
        }
        rd_kafka_queue_forward(p->q, NULL);
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)k->nparts);
    for (size_t i = 0; i < k->nparts; i++) {
        part_t *p = &k->parts[i];
        p->done = p->start >= p->end;
        rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->start;
    }
    rd_kafka_resp_err_t ae = rd_kafka_assign(k->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (ae) {
        snprintf(errstr, errstr_size, "assign: %s", rd_kafka_err2str(ae));
        goto fail;
    }
    /* Past retention: the range starts at the first retained offset, earlier
     * ones were deleted, and that first message is younger than the start. */
    wd_buf_t bad = WD_BUF_INIT;
    for (size_t i = 0; i < k->nparts && start_ms != INT64_MIN; i++) {
        part_t *p = &k->parts[i];
        if (p->lo == 0 || p->start != p->lo || p->done)
            continue;
        if (fill(k, p, NULL, errstr, errstr_size) != 0) {
            wd_buf_free(&bad);
            goto fail;
        }
        rd_kafka_timestamp_type_t tt;
        int64_t first = p->head ? rd_kafka_message_timestamp(p->head, &tt) : -1;
        if (first > start_ms) {
            wd_buf_printf(&bad, "%s  %s/%" PRId32 ": earliest retained ", bad.len ? "\n" : "", p->topic,
                          p->partition);
            wd_buf_rfc3339(&bad, first);
            wd_buf_printf(&bad, " (offset %" PRId64 ")", p->lo);
        }
    }
    if (bad.len) {
        wd_buf_t msg = WD_BUF_INIT;
        wd_buf_adds(&msg, "the window starts at ");
        wd_buf_rfc3339(&msg, start_ms);
        wd_buf_printf(&msg, " (from - warmup), older than the retained data:\n%s", bad.data);
        snprintf(errstr, errstr_size, "%s", msg.data);
        wd_buf_free(&msg);
        wd_buf_free(&bad);
        goto fail;
    }
    wd_buf_free(&bad);
    return k;
fail:
    rpl_kafka_close(k);
    return NULL;
}

void rpl_kafka_describe(const rpl_kafka_t *k, wd_buf_t *b)
{
    wd_buf_adds(b, "{\"kafka\":[");
    for (size_t i = 0; i < k->nparts; i++) {
        const part_t *p = &k->parts[i];
        if (i)
            wd_buf_addc(b, ',');
        wd_buf_adds(b, "{\"topic\":");
        wd_buf_json_str(b, p->topic, strlen(p->topic));
        wd_buf_printf(b, ",\"partition\":%" PRId32 ",\"start\":%" PRId64 ",\"end\":%" PRId64 "}",
                      p->partition, p->start, p->end);
    }
    wd_buf_printf(b, "],\"messages\":%" PRIu64 "}", k->total);
}

uint64_t rpl_kafka_total(const rpl_kafka_t *k) { return k->total; }

int rpl_kafka_range(const rpl_kafka_t *k, const char *topic, int32_t partition, int64_t *start,
                    int64_t *end)
{
    for (size_t i = 0; i < k->nparts; i++)
        if (k->parts[i].partition == partition && strcmp(k->parts[i].topic, topic) == 0) {
            *start = k->parts[i].start;
            *end = k->parts[i].end;
            return 0;
        }
    return -1;
}

const wd_jval_t *rpl_kafka_doc(const rpl_kafka_t *k)
{
    return k->cur && k->cur->head_parsed ? &k->cur->head_root : NULL;
}

int rpl_kafka_run(rpl_kafka_t *k, rpl_kafka_fn fn, void *ud, volatile sig_atomic_t *stop,
                  char *errstr, size_t errstr_size)
{
    for (;;) {
        part_t *best = NULL;
        for (size_t i = 0; i < k->nparts; i++) {
            part_t *p = &k->parts[i];
            if (fill(k, p, stop, errstr, errstr_size) != 0)
                return -1;
            if (*stop)
                return 1;
            if (p->head && (best == NULL || p->head_ts < best->head_ts))
                best = p;   /* strict <: ties go to the earlier partition */
        }
        if (best == NULL)
            return 0;
        rd_kafka_message_t *m = best->head;
        best->head = NULL;
        rd_kafka_timestamp_type_t tt;
        int64_t mts = rd_kafka_message_timestamp(m, &tt);
        eng_src_t src = { .topic = best->topic, .partition = best->partition, .offset = m->offset,
                          .msg_ts_ms = mts >= 0 ? mts : INT64_MIN };
        k->done++;
        k->cur = best;
        int rc = fn(ud, m->payload ? m->payload : "", m->len, &src, k->done, k->total);
        k->cur = NULL;
        if (m->offset + 1 >= best->end)
            best->done = 1;
        rd_kafka_message_destroy(m);
        if (rc != 0)
            return rc < 0 ? -1 : 1;
    }
}
