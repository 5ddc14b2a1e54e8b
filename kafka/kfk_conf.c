/* kafka/kfk_conf.c — the configs of the loop's three clients (transactional
 * producer, group consumer, changelog restorer): the config file's kafka
 * section first, then warden's defaults for what it leaves unset, then the
 * settings exactly-once depends on, forced (with a warning when the file
 * said otherwise).  Log and error callbacks route librdkafka's messages to
 * wd_log. */
#include "kafka/kfk_int.h"

#include <stdio.h>
#include <string.h>

#include "base/wd_config.h"
#include "base/wd_log.h"

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    int l = level <= 3 ? WD_LOG_ERROR : level == 4 ? WD_LOG_WARN : WD_LOG_DEBUG;
    /* One kafka section serves consumer and producer: librdkafka warns about
     * the other client's properties.  Not worth a warning. */
    if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "will be ignored by this"))
        l = WD_LOG_DEBUG;
    WD_LOG_(l, "rdkafka client=%s fac=%s msg=\"%s\"", rd_kafka_name(rk), fac, buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char msg[512];
        rd_kafka_fatal_error(rk, msg, sizeof msg);
        LOG_ERROR("kafka client=%s fatal error: %s", rd_kafka_name(rk), msg);
    } else if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        LOG_WARN("kafka client=%s err=%s reason=\"%s\"", rd_kafka_name(rk), rd_kafka_err2name(err), reason);
    } else {
        LOG_DEBUG("kafka client=%s err=%s reason=\"%s\"", rd_kafka_name(rk), rd_kafka_err2name(err), reason);
    }
}

/* Sets key=val unless the config file's kafka section set key. */
static int conf_default(const wd_config_t *cfg, rd_kafka_conf_t *conf, const char *key,
                        const char *val, char *errstr, size_t n)
{
    if (cfg && wd_config_kafka_get(cfg, key))
        return 0;
    if (rd_kafka_conf_set(conf, key, val, errstr, n) != RD_KAFKA_CONF_OK)
        return -1;
    return 0;
}

/* Sets key=val whatever the file says (warden's correctness depends on it). */
static int conf_force(const wd_config_t *cfg, rd_kafka_conf_t *conf, const char *key,
                      const char *val, char *errstr, size_t n)
{
    const char *mine = cfg ? wd_config_kafka_get(cfg, key) : NULL;
    if (mine && strcmp(mine, val) != 0)
        LOG_WARN("kafka property %s=%s from the config is overridden with %s (exactly-once needs it)",
                 key, mine, val);
    if (rd_kafka_conf_set(conf, key, val, errstr, n) != RD_KAFKA_CONF_OK)
        return -1;
    return 0;
}

static rd_kafka_conf_t *base_conf(const kfk_t *k, const char *role, char *errstr, size_t n)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (k->cfg && wd_config_kafka_apply(k->cfg, conf, errstr, n) != 0)
        goto fail;
    char cid[256];
    snprintf(cid, sizeof cid, "%s-%s", k->o.client_id ? k->o.client_id : "warden", role);
    if (conf_default(k->cfg, conf, "client.id", cid, errstr, n) != 0)
        goto fail;
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* Transactional: the outputs of a batch commit with its offsets. */
rd_kafka_conf_t *kfk_conf_producer(kfk_t *k, char *errstr, size_t n)
{
    const wd_config_t *cfg = k->cfg;
    rd_kafka_conf_t *pc = base_conf(k, "producer", errstr, n);
    if (!pc)
        return NULL;
    if (conf_force(cfg, pc, "transactional.id", k->o.txn_id, errstr, n) != 0 ||
        conf_force(cfg, pc, "enable.idempotence", "true", errstr, n) != 0 ||
        conf_default(cfg, pc, "transaction.timeout.ms", "30000", errstr, n) != 0 ||
        conf_default(cfg, pc, "linger.ms", "5", errstr, n) != 0 ||
        conf_default(cfg, pc, "message.max.bytes", "16777216", errstr, n) != 0 ||
        conf_default(cfg, pc, "queue.buffering.max.messages", "500000", errstr, n) != 0) {
        rd_kafka_conf_destroy(pc);
        return NULL;
    }
    return pc;
}

/* Prefetch: librdkafka stops fetching once its consumer queue holds
 * queued.min.messages (counted over all partitions, default 100,000), and
 * fetches max.partition.fetch.bytes (default 1 MiB) per partition per
 * request: at 100,000+ events/s the queue then ran dry between fetches on
 * this 2-core machine (bench/kafka W1: 110,000 ev/s, 7,000 empty polls; with
 * these two 156,000 ev/s, none).  The queue stays bounded by
 * queued.max.messages.kbytes (64 MiB).  A loop that holds messages to
 * hand them out side by side (align: pacing, merge, co-partitioned
 * topics) fetches 256 KiB per partition instead: the queue gives out each
 * partition's fetch in one run, so the loop holds about a run of every
 * other partition before the first message can go; with 8 MiB runs
 * (57,000 small events) hop 0 held 200,000 and its median poll-to-commit
 * was 0.7 s, with 256 KiB 37,000 and 0.15 s, at the same rate
 * (docs/operations.md, "Holding for the merge").  A config file's values
 * win. */
static int conf_prefetch(const wd_config_t *cfg, rd_kafka_conf_t *c, int holds, char *errstr, size_t n)
{
    return conf_default(cfg, c, "queued.min.messages", "1000000", errstr, n) != 0 ||
                   conf_default(cfg, c, "max.partition.fetch.bytes", holds ? "262144" : "8388608", errstr, n) != 0
               ? -1
               : 0;
}

/* The group; offsets only through the transaction; the range assignor for
 * co-partitioned inputs (partition N of each topic to one process). */
rd_kafka_conf_t *kfk_conf_consumer(kfk_t *k, char *errstr, size_t n)
{
    const wd_config_t *cfg = k->cfg;
    rd_kafka_conf_t *cc = base_conf(k, "consumer", errstr, n);
    if (!cc)
        return NULL;
    if (conf_force(cfg, cc, "group.id", k->o.group, errstr, n) != 0 ||
        conf_force(cfg, cc, "enable.auto.commit", "false", errstr, n) != 0 ||
        conf_force(cfg, cc, "isolation.level", "read_committed", errstr, n) != 0 ||
        conf_default(cfg, cc, "auto.offset.reset", "earliest", errstr, n) != 0 ||
        conf_force(cfg, cc, "enable.partition.eof", "true", errstr, n) != 0 ||
        conf_prefetch(cfg, cc, k->align, errstr, n) != 0 ||
        (k->copart && k->ntp > 1 &&
         conf_force(cfg, cc, "partition.assignment.strategy", "range", errstr, n) != 0)) {
        rd_kafka_conf_destroy(cc);
        return NULL;
    }
    return cc;
}

/* Reads the changelog: committed snapshots only, from the start. */
rd_kafka_conf_t *kfk_conf_restorer(kfk_t *k, char *errstr, size_t n)
{
    const wd_config_t *cfg = k->cfg;
    rd_kafka_conf_t *rc = base_conf(k, "restore", errstr, n);
    if (!rc)
        return NULL;
    char gid[512];
    snprintf(gid, sizeof gid, "%s.restore", k->o.group);
    if (conf_force(cfg, rc, "group.id", gid, errstr, n) != 0 ||
        conf_force(cfg, rc, "enable.auto.commit", "false", errstr, n) != 0 ||
        conf_force(cfg, rc, "isolation.level", "read_committed", errstr, n) != 0 ||
        conf_force(cfg, rc, "enable.partition.eof", "true", errstr, n) != 0 ||
        conf_force(cfg, rc, "auto.offset.reset", "earliest", errstr, n) != 0 ||
        conf_prefetch(cfg, rc, 0, errstr, n) != 0) {
        rd_kafka_conf_destroy(rc);
        return NULL;
    }
    return rc;
}

/* High watermarks: a read_committed client's ListOffsets answers with the
 * last stable offset, which stops short of an open transaction. */
rd_kafka_conf_t *kfk_conf_watermarks(kfk_t *k, char *errstr, size_t n)
{
    rd_kafka_conf_t *wc = base_conf(k, "watermarks", errstr, n);
    if (!wc)
        return NULL;
    if (conf_force(NULL, wc, "isolation.level", "read_uncommitted", errstr, n) != 0) {
        rd_kafka_conf_destroy(wc);
        return NULL;
    }
    return wc;
}
