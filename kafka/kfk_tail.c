/* A compacted topic read whole and followed.  See kafka/kfk_tail.h.
 * The consumer is assigned every partition from the beginning once, at
 * open, and never joins a group or commits: each process reads it all. */
#include "kafka/kfk_tail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/wd_config.h"
#include "base/wd_log.h"
#include "base/wd_util.h"

struct kfk_tail {
    rd_kafka_t *c, *p;     /* p: made on the first put */
    const wd_config_t *cfg;
    char       *topic;
    int         np;
    int64_t    *pos;       /* next offset to read, per partition */
    wd_log_every_t warn;   /* consumer errors (an outage: repeats suppressed) */
};

typedef struct dr_slot {
    int                 done, abandoned;
    rd_kafka_resp_err_t err;
    int64_t             offset;
} dr_slot_t;

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    int l = level <= 3 ? WD_LOG_ERROR : level == 4 ? WD_LOG_WARN : WD_LOG_DEBUG;
    if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "will be ignored by this"))
        l = WD_LOG_DEBUG;
    WD_LOG_(l, "rdkafka client=%s fac=%s msg=\"%s\"", rd_kafka_name(rk), fac, buf);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    dr_slot_t *s = m->_private;
    if (s && s->abandoned) {
        free(s);
    } else if (s) {
        s->err = m->err;
        s->offset = m->offset;
        s->done = 1;
    }
}

static rd_kafka_conf_t *conf_new(kfk_tail_t *t, const char *role, char *errstr, size_t n)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (t->cfg && wd_config_kafka_apply(t->cfg, conf, errstr, n) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    char cid[64];
    snprintf(cid, sizeof cid, "warden-control-%s", role);
    rd_kafka_conf_set(conf, "client.id", cid, NULL, 0);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    return conf;
}

static int set(rd_kafka_conf_t *c, const char *k, const char *v, char *errstr, size_t n)
{
    return rd_kafka_conf_set(c, k, v, errstr, n) == RD_KAFKA_CONF_OK ? 0 : -1;
}

int kfk_compacted_partitions(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t *kt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int np = -1;
    if (rd_kafka_metadata(rk, 0, kt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        np = md->topic_cnt == 1 && !md->topics[0].err ? md->topics[0].partition_cnt : 0;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(kt);
    return np;
}

/* kfk_compacted_create, telling a transient refusal apart: *transient
 * (may be NULL) is set for an error a broker gives while it is not ready
 * to place replicas yet (just started, or unfenced after a stall). */
static int create_compacted(rd_kafka_t *rk, const char *topic, const char *min_lag_ms, const char *what,
                            int *transient, char *errstr, size_t n);

int kfk_compacted_create(rd_kafka_t *rk, const char *topic, const char *min_lag_ms, const char *what,
                         char *errstr, size_t n)
{
    return create_compacted(rk, topic, min_lag_ms, what, NULL, errstr, n);
}

static int create_compacted(rd_kafka_t *rk, const char *topic, const char *min_lag_ms, const char *what,
                            int *transient, char *errstr, size_t n)
{
    char err[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, 1, -1, err, sizeof err);
    if (!nt) {
        snprintf(errstr, n, "%s %s: %s", what, topic, err);
        return -1;
    }
    rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    if (min_lag_ms)
        rd_kafka_NewTopic_set_config(nt, "min.compaction.lag.ms", min_lag_ms);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
    int rc = 0;
    if (!ev) {
        /* The request may still be done: the caller's metadata tells. */
        LOG_WARN("%s %s: no answer to its creation within 15 s", what, topic);
    } else {
        size_t cnt = 0;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        rd_kafka_resp_err_t e = cnt ? rd_kafka_topic_result_error(tr[0]) : rd_kafka_event_error(ev);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            snprintf(errstr, n, "%s %s: %s", what, topic, rd_kafka_err2str(e));
            rc = -1;
            if (transient)
                *transient = e == RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR ||
                             e == RD_KAFKA_RESP_ERR_NOT_CONTROLLER || e == RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT ||
                             e == RD_KAFKA_RESP_ERR__TIMED_OUT || e == RD_KAFKA_RESP_ERR__TRANSPORT;
        } else if (!e) {
            LOG_INFO("created the %s %s (compacted)", what, topic);
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

/* Polls the metadata every 200 ms until np is answered (>= 0; > 0 when
 * exists is set) or wait_ms passed; logs once what it waits for. */
static int partitions_within(rd_kafka_t *rk, const char *topic, int exists, const char *what, int wait_ms)
{
    uint64_t until = wd_now_ns() + (uint64_t)wait_ms * 1000000ull;
    int np, logged = 0;
    while ((np = kfk_compacted_partitions(rk, topic)) < 0 || (exists && np == 0)) {
        if (wd_now_ns() >= until)
            break;
        if (!logged) {
            LOG_INFO("waiting for the brokers' metadata of the %s %s (%s)", what, topic,
                     np < 0 ? "no answer yet" : "created, not shown yet");
            logged = 1;
        }
        rd_kafka_poll(rk, 200);
    }
    return np;
}

int kfk_compacted_ensure(rd_kafka_t *rk, rd_kafka_t *admin, const char *topic, int create,
                         const char *min_lag_ms, const char *what, int wait_ms, int *absent,
                         char *errstr, size_t n)
{
    uint64_t t0 = wd_now_ns();
    int np = partitions_within(rk, topic, 0, what, wait_ms);
    while (np == 0 && create) {
        int transient = 0;
        if (create_compacted(admin ? admin : rk, topic, min_lag_ms, what, &transient, errstr, n) == 0) {
            np = partitions_within(rk, topic, 1, what, wait_ms);
            break;
        }
        if (!transient || (wd_now_ns() - t0) / 1000000ull >= (uint64_t)wait_ms)
            return -1;
        LOG_WARN("%s; creating it again in 1 s", errstr);
        rd_kafka_poll(rk, 1000);
        np = kfk_compacted_partitions(rk, topic);
    }
    if (np == 0 && absent)
        *absent = 1;
    if (np <= 0) {
        snprintf(errstr, n, "%s %s: %s", what, topic,
                 np == 0 ? (create ? "not in the brokers' metadata after it was created"
                                   : "does not exist (create it, compacted, or set run.create_topics)")
                         : "no metadata from the brokers");
        return -1;
    }
    return np;
}

kfk_tail_t *kfk_tail_open(const wd_config_t *cfg, const char *topic, int create_missing, int *absent,
                          char *errstr, size_t n)
{
    if (absent)
        *absent = 0;
    kfk_tail_t *t = calloc(1, sizeof(*t));
    if (!t || !(t->topic = strdup(topic))) {
        free(t);
        snprintf(errstr, n, "out of memory");
        return NULL;
    }
    t->cfg = cfg;
    char err[512];
    rd_kafka_conf_t *cc = conf_new(t, "consumer", errstr, n);
    if (!cc || set(cc, "enable.auto.commit", "false", errstr, n) ||
        set(cc, "auto.offset.reset", "earliest", errstr, n) || set(cc, "enable.partition.eof", "true", errstr, n) ||
        set(cc, "group.id", "warden-control-reader", errstr, n)) {
        if (cc)
            rd_kafka_conf_destroy(cc);
        goto fail;
    }
    if (!(t->c = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof err))) {
        rd_kafka_conf_destroy(cc);
        snprintf(errstr, n, "control topic consumer: %s", err);
        goto fail;
    }
    int np = kfk_compacted_ensure(t->c, NULL, t->topic, create_missing, "604800000", "control topic",
                                  KFK_COMPACTED_WAIT_MS, absent, errstr, n);
    if (np < 0)
        goto fail;
    t->np = np;
    t->pos = calloc((size_t)np, sizeof(*t->pos));
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(np);
    for (int p = 0; p < np; p++)
        rd_kafka_topic_partition_list_add(tl, t->topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t e = rd_kafka_assign(t->c, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    if (!t->pos || e) {
        snprintf(errstr, n, "control topic %s: %s", t->topic, t->pos ? rd_kafka_err2str(e) : "out of memory");
        goto fail;
    }
    return t;
fail:
    kfk_tail_close(t);
    return NULL;
}

void kfk_tail_close(kfk_tail_t *t)
{
    if (!t)
        return;
    if (t->c) {
        rd_kafka_consumer_close(t->c);
        rd_kafka_destroy(t->c);
    }
    if (t->p) {
        rd_kafka_flush(t->p, 5000);
        rd_kafka_destroy(t->p);
    }
    free(t->pos);
    free(t->topic);
    free(t);
}

const char *kfk_tail_topic(const kfk_tail_t *t) { return t->topic; }

/* One message off the consumer: a record to fn, an EOF noted. */
static int take(kfk_tail_t *t, rd_kafka_message_t *m, kfk_tail_fn fn, void *ud)
{
    int rec = 0;
    if (!m->err) {
        fn(ud, m);
        rec = 1;
        if (m->partition >= 0 && m->partition < t->np)
            t->pos[m->partition] = m->offset + 1;
    } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        LOG_WARN_EVERY(&t->warn, "control topic %s: %s", t->topic, rd_kafka_message_errstr(m));
    } else if (m->partition >= 0 && m->partition < t->np && m->offset > t->pos[m->partition]) {
        t->pos[m->partition] = m->offset;
    }
    rd_kafka_message_destroy(m);
    return rec;
}

rd_kafka_resp_err_t kfk_watermarks_wait(rd_kafka_t *rk, const char *topic, int p, int64_t *lo, int64_t *hi,
                                        uint64_t until_ns)
{
    rd_kafka_resp_err_t e;
    /* A topic created a moment ago has no leader for a while (longer on a
     * busy broker): that is worth waiting for, within the time. */
    while ((e = rd_kafka_query_watermark_offsets(rk, topic, p, lo, hi, 5000)) != 0 && wd_now_ns() < until_ns &&
           (e == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE || e == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
            e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
            e == RD_KAFKA_RESP_ERR__TIMED_OUT || e == RD_KAFKA_RESP_ERR__TRANSPORT))
        rd_kafka_poll(rk, 200);
    return e;
}

long kfk_tail_catch_up(kfk_tail_t *t, kfk_tail_fn fn, void *ud, int timeout_ms, char *errstr, size_t n)
{
    int64_t *high = calloc((size_t)t->np, sizeof(*high));
    if (!high) {
        snprintf(errstr, n, "out of memory");
        return -1;
    }
    uint64_t until = wd_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    for (int p = 0; p < t->np; p++) {
        int64_t lo = 0;
        rd_kafka_resp_err_t e = kfk_watermarks_wait(t->c, t->topic, p, &lo, &high[p], until);
        if (e != 0) {
            snprintf(errstr, n, "control topic %s: cannot read its offsets: %s", t->topic, rd_kafka_err2str(e));
            free(high);
            return -1;
        }
        if (t->pos[p] < lo)
            t->pos[p] = lo;   /* compacted or deleted below lo */
    }
    long records = 0;
    for (;;) {
        int left = 0;
        for (int p = 0; p < t->np; p++)
            left += t->pos[p] < high[p];
        if (!left)
            break;
        if (wd_now_ns() >= until) {
            snprintf(errstr, n, "control topic %s: not read to its end within %d ms", t->topic, timeout_ms);
            free(high);
            return -1;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(t->c, 100);
        if (m)
            records += take(t, m, fn, ud);
    }
    free(high);
    return records;
}

size_t kfk_tail_follow(kfk_tail_t *t, kfk_tail_fn fn, void *ud)
{
    size_t records = 0;
    rd_kafka_message_t *m;
    while ((m = rd_kafka_consumer_poll(t->c, 0)) != NULL)
        records += (size_t)take(t, m, fn, ud);
    if (t->p)
        rd_kafka_poll(t->p, 0);
    return records;
}

int kfk_tail_put(kfk_tail_t *t, const void *key, size_t klen, const void *val, size_t vlen, int64_t ts_ms,
                 int64_t *offset, char *errstr, size_t n)
{
    if (!t->p) {
        char err[512];
        rd_kafka_conf_t *pc = conf_new(t, "producer", errstr, n);
        if (!pc || set(pc, "enable.idempotence", "true", errstr, n) || set(pc, "acks", "all", errstr, n) ||
            set(pc, "linger.ms", "0", errstr, n)) {
            if (pc)
                rd_kafka_conf_destroy(pc);
            return -1;
        }
        rd_kafka_conf_set_dr_msg_cb(pc, dr_cb);
        if (!(t->p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof err))) {
            rd_kafka_conf_destroy(pc);
            snprintf(errstr, n, "control topic producer: %s", err);
            return -1;
        }
    }
    /* Delivery reports are served by rd_kafka_poll on this thread; one that
     * comes after we gave up frees its slot. */
    dr_slot_t *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(errstr, n, "out of memory");
        return -1;
    }
    rd_kafka_resp_err_t err =
        rd_kafka_producev(t->p, RD_KAFKA_V_TOPIC(t->topic), RD_KAFKA_V_KEY((void *)key, klen),
                          RD_KAFKA_V_VALUE((void *)val, vlen), RD_KAFKA_V_TIMESTAMP(ts_ms), RD_KAFKA_V_OPAQUE(s),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err) {
        free(s);
        snprintf(errstr, n, "%s: %s", t->topic, rd_kafka_err2str(err));
        return -1;
    }
    uint64_t until = wd_now_ns() + 10000000000ull;
    while (!s->done && wd_now_ns() < until)
        rd_kafka_poll(t->p, 50);
    if (!s->done) {
        s->abandoned = 1;
        snprintf(errstr, n, "%s: not acknowledged within 10 s", t->topic);
        return -1;
    }
    rd_kafka_resp_err_t derr = s->err;
    int64_t off = s->offset;
    free(s);
    if (derr) {
        snprintf(errstr, n, "%s: %s", t->topic, rd_kafka_err2str(derr));
        return -1;
    }
    if (offset)
        *offset = off;
    return 0;
}
