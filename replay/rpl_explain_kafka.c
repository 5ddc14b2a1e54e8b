/* warden explain over Kafka (rpl_explain_kafka in replay/rpl_explain.h):
 * the target message first (an assigned consumer, read_committed), then
 * the history of its state slot — the same partition of every
 * co-partitioned input topic, from the warm-up's start by offsets-for-times
 * — merged in warden run's order (kfk_order_cmp) up to the target.  One
 * queue per partition holds one head message each; memory is one message
 * per partition plus librdkafka's prefetch.  Nothing is committed. */
#include "replay/rpl_explain.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/wd_util.h"
#include "kafka/kfk.h"

#define TIMEOUT_MS 10000
#define STALL_NS (60ull * 1000000000ull)   /* no message for this long: fail */

typedef struct xpart {
    const char         *topic;
    int32_t             partition;
    int64_t             lo, hi, start, end;
    rd_kafka_queue_t   *q;
    rd_kafka_message_t *head;
    int                 done;
    int                 cut;       /* the warm-up starts before the retained data */
} xpart_t;

static rd_kafka_t *consumer(const wd_config_t *cfg, char *err, size_t n)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[512];
    if (wd_config_kafka_apply(cfg, conf, err, n) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    /* Its own consumer: assigned partitions, no group offsets ever written. */
    static const char *const fixed[][2] = {
        { "group.id", "warden-explain" },   /* required by the API; never joined or committed */
        { "enable.auto.commit", "false" },
        { "enable.auto.offset.store", "false" },
        { "isolation.level", "read_committed" },
        { "enable.partition.eof", "true" },
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if (rd_kafka_conf_set(conf, fixed[i][0], fixed[i][1], e, sizeof(e)) != RD_KAFKA_CONF_OK) {
            snprintf(err, n, "kafka %s: %s", fixed[i][0], e);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e));
    if (rk == NULL) {
        snprintf(err, n, "kafka consumer: %s", e);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

/* The partition count of topic, or -1 with a message. */
static int partitions(rd_kafka_t *rk, const char *topic, char *err, size_t n)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, TIMEOUT_MS);
    rd_kafka_topic_destroy(t);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, n, "topic %s: metadata: %s", topic, rd_kafka_err2str(e));
        return -1;
    }
    int np = -1;
    if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR)
        snprintf(err, n, "topic %s: %s", topic, md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "not found");
    else
        np = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return np;
}

/* The first offset at or after ts (ms) in topic/partition, hi when none. */
static int offset_at(rd_kafka_t *rk, const xpart_t *p, int64_t ts, int64_t *out, char *err, size_t n)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = ts;
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, l, TIMEOUT_MS);
    int rc = 0;
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        e = l->elems[0].err;
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, n, "%s/%" PRId32 ": offsets for times: %s", p->topic, p->partition, rd_kafka_err2str(e));
        rc = -1;
    } else {
        *out = l->elems[0].offset < 0 ? p->hi : l->elems[0].offset;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

/* Reads the one message at p's offset `off`.  Returns it, or NULL with a
 * message (not committed, not readable). */
static rd_kafka_message_t *read_target(rd_kafka_t *rk, const xpart_t *p, int64_t off, char *err, size_t n)
{
    rd_kafka_queue_t *q = rd_kafka_queue_get_partition(rk, p->topic, p->partition);
    rd_kafka_queue_forward(q, NULL);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = off;
    rd_kafka_resp_err_t ae = rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_message_t *got = NULL;
    uint64_t t0 = wd_now_ns();
    if (ae)
        snprintf(err, n, "assign: %s", rd_kafka_err2str(ae));
    while (!ae && got == NULL) {
        if (wd_now_ns() - t0 > STALL_NS) {
            snprintf(err, n, "%s/%" PRId32 "/%" PRId64 ": no message after %llu s", p->topic, p->partition,
                     off, STALL_NS / 1000000000ull);
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consume_queue(q, 200);
        if (m == NULL)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* read_committed stops at the last stable offset: the message
             * is held by an open transaction, or was a marker. */
            if (m->offset >= p->hi) {
                snprintf(err, n, "%s/%" PRId32 "/%" PRId64 " is not a committed message (a transaction "
                         "marker, or a transaction still open or aborted)", p->topic, p->partition, off);
                rd_kafka_message_destroy(m);
                break;
            }
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->err) {
            snprintf(err, n, "%s/%" PRId32 ": %s", p->topic, p->partition, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            break;
        }
        if (m->offset != off) {
            snprintf(err, n, "%s/%" PRId32 "/%" PRId64 " is not a committed message (a transaction marker "
                     "or an aborted transaction's); the next committed one is at offset %" PRId64,
                     p->topic, p->partition, off, m->offset);
            rd_kafka_message_destroy(m);
            break;
        }
        got = m;
    }
    rd_kafka_assign(rk, NULL);
    rd_kafka_queue_destroy(q);
    return got;
}

/* Fills p->head unless p is done.  Returns 0, or -1. */
static int fill(xpart_t *p, char *err, size_t n)
{
    uint64_t t0 = wd_now_ns();
    while (!p->head && !p->done) {
        if (wd_now_ns() - t0 > STALL_NS) {
            snprintf(err, n, "%s/%" PRId32 ": no message for %llu s reading offsets %" PRId64 "..%" PRId64,
                     p->topic, p->partition, STALL_NS / 1000000000ull, p->start, p->end);
            return -1;
        }
        rd_kafka_message_t *m = rd_kafka_consume_queue(p->q, 200);
        if (m == NULL)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
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
        if (m->offset >= p->end) {
            p->done = 1;
            rd_kafka_message_destroy(m);
            break;
        }
        p->head = m;
    }
    return 0;
}

static eng_src_t src_of(const xpart_t *p, const rd_kafka_message_t *m)
{
    rd_kafka_timestamp_type_t tt;
    int64_t mts = rd_kafka_message_timestamp(m, &tt);
    return (eng_src_t){ .topic = p->topic, .partition = p->partition, .offset = m->offset,
                        .msg_ts_ms = mts >= 0 ? mts : INT64_MIN };
}

int rpl_explain_kafka(rpl_explain_t *x, const wd_config_t *cfg, const char *const *topics,
                      size_t ntopics, const char *topic, int32_t partition, int64_t offset,
                      char *errstr, size_t errstr_size)
{
    int rc = -1;
    xpart_t *parts = calloc(ntopics + 1, sizeof(*parts));
    size_t np = 0, tgt = 0;
    rd_kafka_message_t *tm = NULL;
    wd_buf_t in = WD_BUF_INIT;
    if (parts == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    rd_kafka_t *rk = consumer(cfg, errstr, errstr_size);
    if (rk == NULL)
        goto done;
    int n = partitions(rk, topic, errstr, errstr_size);
    if (n < 0)
        goto done;
    if (partition >= n) {
        snprintf(errstr, errstr_size, "%s/%" PRId32 "/%" PRId64 ": no such partition (topic %s has %d: 0..%d)",
                 topic, partition, offset, topic, n, n - 1);
        goto done;
    }
    /* The slot warden run kept this partition's state in. */
    int copart = 0;
    for (size_t i = 0; i < ntopics; i++)
        copart |= strcmp(topics[i], topic) == 0;
    for (size_t i = 0; i < ntopics && copart; i++) {
        if (strcmp(topics[i], topic) == 0)
            continue;
        int m = partitions(rk, topics[i], errstr, errstr_size);
        if (m < 0)
            goto done;
        copart = m == n;
    }
    if (copart && ntopics > 1) {
        for (size_t i = 0; i < ntopics; i++) {
            if (strcmp(topics[i], topic) == 0)
                tgt = np;
            parts[np++] = (xpart_t){ .topic = topics[i], .partition = partition };
        }
    } else {
        parts[np++] = (xpart_t){ .topic = topic, .partition = partition };
    }
    for (size_t i = 0; i < np; i++) {
        xpart_t *p = &parts[i];
        rd_kafka_resp_err_t re = rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, &p->lo, &p->hi,
                                                                  TIMEOUT_MS);
        if (re) {
            snprintf(errstr, errstr_size, "%s/%" PRId32 ": watermarks: %s", p->topic, p->partition,
                     rd_kafka_err2str(re));
            goto done;
        }
    }
    xpart_t *tp = &parts[tgt];
    if (offset < tp->lo || offset >= tp->hi) {
        if (tp->lo >= tp->hi)
            snprintf(errstr, errstr_size, "%s/%" PRId32 "/%" PRId64 ": offset out of range: the partition "
                     "holds no messages (next offset %" PRId64 ")", topic, partition, offset, tp->hi);
        else
            snprintf(errstr, errstr_size, "%s/%" PRId32 "/%" PRId64 ": offset out of range: the partition "
                     "holds offsets %" PRId64 "..%" PRId64 "%s", topic, partition, offset, tp->lo, tp->hi - 1,
                     offset < tp->lo ? " (older ones are past retention)" : "");
        goto done;
    }
    if ((tm = read_target(rk, tp, offset, errstr, errstr_size)) == NULL)
        goto done;
    eng_src_t tsrc = src_of(tp, tm);
    int64_t start;
    int timed = rpl_explain_aim(x, tm->payload ? tm->payload : "", tm->len, &tsrc, &start) == 0;
    for (size_t i = 0; i < np; i++) {
        xpart_t *p = &parts[i];
        p->end = p->start = p->lo;
        if (!timed)
            continue;   /* rejected for its time: no history needed */
        if (offset_at(rk, p, start, &p->start, errstr, errstr_size) != 0)
            goto done;
        if (i == tgt)
            p->end = offset;
        else if (tsrc.msg_ts_ms == INT64_MIN)
            p->end = p->hi;
        else if (offset_at(rk, p, tsrc.msg_ts_ms + 1, &p->end, errstr, errstr_size) != 0)
            goto done;
        if (p->start < p->lo)
            p->start = p->lo;
        if (p->end < p->start)
            p->end = p->start;
    }
    /* Queues stop forwarding before the assignment (see rpl_kafka.c). */
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)np);
    for (size_t i = 0; i < np; i++) {
        xpart_t *p = &parts[i];
        p->q = rd_kafka_queue_get_partition(rk, p->topic, p->partition);
        rd_kafka_queue_forward(p->q, NULL);
        p->done = p->start >= p->end;
        rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->start;
    }
    rd_kafka_resp_err_t ae = rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (ae) {
        snprintf(errstr, errstr_size, "assign: %s", rd_kafka_err2str(ae));
        goto done;
    }
    /* The merge: the earliest head in run's order goes next; the target
     * stands in for its partition once that partition's history is done,
     * and the merge ends when it is the earliest. */
    for (;;) {
        xpart_t *best = NULL;
        for (size_t i = 0; i < np; i++) {
            xpart_t *p = &parts[i];
            if (fill(p, errstr, errstr_size) != 0)
                goto done;
            /* Past retention: the range starts at the first retained offset,
             * earlier ones were deleted, and that message is younger than
             * the warm-up's start — the history is incomplete. */
            rd_kafka_timestamp_type_t tt;
            if (p->head && p->head->offset == p->lo && p->lo > 0 && p->start == p->lo &&
                rd_kafka_message_timestamp(p->head, &tt) > start)
                p->cut = 1;
        }
        rd_kafka_message_t *bm = NULL;
        for (size_t i = 0; i < np; i++) {
            xpart_t *p = &parts[i];
            rd_kafka_message_t *h = p->head ? p->head : i == tgt ? tm : NULL;
            if (h && (bm == NULL || kfk_order_cmp(h, p->topic, bm, best->topic) < 0)) {
                bm = h;
                best = p;
            }
        }
        if (bm == tm)
            break;
        eng_src_t s = src_of(best, bm);
        best->head = NULL;
        int r = rpl_explain_history(x, bm->payload ? bm->payload : "", bm->len, &s, errstr, errstr_size);
        if (bm->offset + 1 >= best->end)
            best->done = 1;
        rd_kafka_message_destroy(bm);
        if (r != 0)
            goto done;
    }
    if (rpl_explain_target(x, tm->payload ? tm->payload : "", tm->len, &tsrc, errstr, errstr_size) != 0)
        goto done;
    wd_buf_printf(&in, "{\"slot\":\"%s\",\"past_retention\":[", np > 1 ? "co-partitioned" : "topic-partition");
    int ncut = 0;
    for (size_t i = 0; i < np; i++) {
        if (!parts[i].cut)
            continue;
        wd_buf_printf(&in, "%s\"%s/%" PRId32 "\"", ncut++ ? "," : "", parts[i].topic, parts[i].partition);
        fprintf(stderr, "warden explain: warning: the warm-up starts before the retained data of %s/%" PRId32
                " (earliest retained offset %" PRId64 "): the history is incomplete\n",
                parts[i].topic, parts[i].partition, parts[i].lo);
    }
    wd_buf_adds(&in, "],\"kafka\":[");
    for (size_t i = 0; i < np; i++) {
        const xpart_t *p = &parts[i];
        if (i)
            wd_buf_addc(&in, ',');
        wd_buf_adds(&in, "{\"topic\":");
        wd_buf_json_str(&in, p->topic, strlen(p->topic));
        wd_buf_printf(&in, ",\"partition\":%" PRId32 ",\"start\":%" PRId64 ",\"end\":%" PRId64 "}",
                      p->partition, p->start, p->end);
    }
    wd_buf_adds(&in, "]}");
    rpl_explain_set_input(x, in.data);
    rc = 0;
done:
    for (size_t i = 0; i < np; i++) {
        if (parts[i].head)
            rd_kafka_message_destroy(parts[i].head);
        if (parts[i].q)
            rd_kafka_queue_destroy(parts[i].q);
    }
    if (tm)
        rd_kafka_message_destroy(tm);
    if (rk) {
        rd_kafka_assign(rk, NULL);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    free(parts);
    wd_buf_free(&in);
    return rc;
}
