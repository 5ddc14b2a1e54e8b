/* admin/adm_ovr.c — durable mode overrides: a compacted Kafka topic
 * (admin.overrides_topic, default GROUP.overrides; one partition), key =
 * rule name, value = {"mode","source","reason","token","ts"} or a tombstone
 * when the override is cleared.  Every process of the group reads it to its
 * end at start (before the first batch) and follows it between batches, so
 * an override survives reloads and restarts and reaches every process.  A
 * change is produced and flushed (acks=all) before the call is answered. */
#include "admin/adm_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "base/wd_config.h"
#include "base/wd_log.h"
#include "base/wd_util.h"
#include "kafka/kfk_tail.h"
#include "rules/rule_types.h"

struct adm_ovr {
    rd_kafka_t *p, *c;
    char       *topic;
};

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    int l = level <= 3 ? WD_LOG_ERROR : level == 4 ? WD_LOG_WARN : WD_LOG_DEBUG;
    if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "will be ignored by this"))
        l = WD_LOG_DEBUG;   /* one kafka section serves producer and consumer */
    WD_LOG_(l, "rdkafka client=%s fac=%s msg=\"%s\"", rd_kafka_name(rk), fac, buf);
}

static rd_kafka_conf_t *conf_new(const wd_config_t *cfg, const char *role, char *errstr, size_t n)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (cfg && wd_config_kafka_apply(cfg, conf, errstr, n) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    char cid[64];
    snprintf(cid, sizeof cid, "warden-admin-%s", role);
    rd_kafka_conf_set(conf, "client.id", cid, NULL, 0);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    return conf;
}

static int set(rd_kafka_conf_t *c, const char *k, const char *v, char *errstr, size_t n)
{
    return rd_kafka_conf_set(c, k, v, errstr, n) == RD_KAFKA_CONF_OK ? 0 : -1;
}

/* One record → the table (and, when e is not NULL, the engine). */
static void apply_record(adm_t *a, const rd_kafka_message_t *m, eng_engine_t *e)
{
    if (!m->key || m->key_len == 0 || m->key_len > RULE_MAX_NAME_LEN)
        return;
    char rule[RULE_MAX_NAME_LEN + 1];
    memcpy(rule, m->key, m->key_len);
    rule[m->key_len] = '\0';
    int mode = -1;
    json_t *j = NULL;
    const char *source = NULL, *reason = NULL, *token = NULL;
    double ts = 0;
    if (m->payload && m->len) {
        j = json_loadb(m->payload, m->len, 0, NULL);
        const char *ms = j ? json_string_value(json_object_get(j, "mode")) : NULL;
        if (!ms) {
            LOG_WARN("admin: overrides topic offset=%lld rule=%s: not an override record, ignored",
                     (long long)m->offset, rule);
            json_decref(j);
            return;
        }
        mode = strcmp(ms, "enforce") == 0 ? RULE_MODE_ENFORCE : strcmp(ms, "shadow") == 0 ? RULE_MODE_SHADOW
                                                                                          : RULE_MODE_OFF;
        source = json_string_value(json_object_get(j, "source"));
        reason = json_string_value(json_object_get(j, "reason"));
        token = json_string_value(json_object_get(j, "token"));
        ts = json_number_value(json_object_get(j, "ts"));
    }
    pthread_mutex_lock(&a->mu);
    adm_ovr_ent_t *cur = adm_ovr_find(a, rule);
    int same = (mode < 0 && !cur) || (cur && mode == cur->mode && cur->ts - ts < 1e-3 && ts - cur->ts < 1e-3);
    if (!same)
        adm_ovr_set(a, rule, mode, source, reason, token, ts);
    pthread_mutex_unlock(&a->mu);
    json_decref(j);
    if (!same && e) {
        int rc = adm_apply_mode(a, e, rule);
        LOG_INFO("admin: rule=%s mode override %s from the overrides topic%s", rule,
                 mode < 0 ? "cleared" : rule_mode_name(mode), rc == 0 ? "" : " (not applied here)");
        adm_account(a, e);
    }
}

adm_ovr_t *adm_ovr_open(adm_t *a, char *errstr, size_t n)
{
    adm_ovr_t *o = calloc(1, sizeof(*o));
    if (!o || !(o->topic = strdup(a->o.overrides_topic))) {
        free(o);
        snprintf(errstr, n, "out of memory");
        return NULL;
    }
    char err[512];
    rd_kafka_conf_t *pc = conf_new(a->o.cfg, "producer", errstr, n);
    if (!pc || set(pc, "enable.idempotence", "true", errstr, n) || set(pc, "acks", "all", errstr, n) ||
        set(pc, "linger.ms", "0", errstr, n)) {
        if (pc)
            rd_kafka_conf_destroy(pc);
        goto fail;
    }
    if (!(o->p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof err))) {
        rd_kafka_conf_destroy(pc);
        snprintf(errstr, n, "overrides producer: %s", err);
        goto fail;
    }
    rd_kafka_conf_t *cc = conf_new(a->o.cfg, "consumer", errstr, n);
    if (!cc || set(cc, "enable.auto.commit", "false", errstr, n) ||
        set(cc, "auto.offset.reset", "earliest", errstr, n) ||
        set(cc, "enable.partition.eof", "true", errstr, n) || set(cc, "group.id", "warden-admin-overrides", errstr, n)) {
        if (cc)
            rd_kafka_conf_destroy(cc);
        goto fail;
    }
    if (!(o->c = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof err))) {
        rd_kafka_conf_destroy(cc);
        snprintf(errstr, n, "overrides consumer: %s", err);
        goto fail;
    }
    int np = kfk_compacted_ensure(o->c, o->p, o->topic, a->o.create_topic, NULL, "overrides topic",
                                  KFK_COMPACTED_WAIT_MS, NULL, errstr, n);
    if (np < 0)
        goto fail;
    /* Read every partition from the start to its high watermark. */
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(np);
    int64_t *high = calloc((size_t)np, sizeof(int64_t));
    int left = 0;
    uint64_t wm_until = wd_now_ns() + 30ull * 1000000000ull;
    for (int p = 0; high && p < np; p++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t e = kfk_watermarks_wait(o->c, o->topic, p, &lo, &hi, wm_until);
        if (e != 0) {
            snprintf(errstr, n, "overrides topic %s: cannot read its offsets: %s", o->topic, rd_kafka_err2str(e));
            rd_kafka_topic_partition_list_destroy(tl);
            free(high);
            goto fail;
        }
        high[p] = hi;
        left += hi > lo;
        rd_kafka_topic_partition_list_add(tl, o->topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_assign(o->c, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    uint64_t until = wd_now_ns() + 30ull * 1000000000ull;
    size_t records = 0;
    while (left > 0 && high && wd_now_ns() < until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(o->c, 200);
        if (!m)
            continue;
        int p = m->partition;
        if (!m->err) {
            apply_record(a, m, NULL);
            records++;
        }
        if (p >= 0 && p < np && high[p] >= 0 &&
            ((!m->err && m->offset + 1 >= high[p]) || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)) {
            high[p] = -1;
            left--;
        }
        rd_kafka_message_destroy(m);
    }
    free(high);
    if (left > 0) {
        snprintf(errstr, n, "overrides topic %s: not read to its end within 30 s", o->topic);
        goto fail;
    }
    LOG_INFO("admin: overrides topic %s read: records=%zu overrides=%zu", o->topic, records, a->novr);
    return o;
fail:
    adm_ovr_close(o);
    return NULL;
}

int adm_ovr_publish(adm_ovr_t *o, const adm_ovr_ent_t *e, const char *rule, char *errstr, size_t n)
{
    wd_buf_t b = WD_BUF_INIT;
    if (e) {
        wd_buf_printf(&b, "{\"mode\":\"%s\",\"source\":", rule_mode_name(e->mode));
        wd_buf_json_str(&b, e->source, strlen(e->source));
        wd_buf_adds(&b, ",\"reason\":");
        if (e->reason)
            wd_buf_json_str(&b, e->reason, strlen(e->reason));
        else
            wd_buf_adds(&b, "null");
        wd_buf_adds(&b, ",\"token\":");
        wd_buf_json_str(&b, e->token ? e->token : "", e->token ? strlen(e->token) : 0);
        wd_buf_printf(&b, ",\"ts\":%.6f}", e->ts);
    }
    rd_kafka_resp_err_t err = rd_kafka_producev(o->p, RD_KAFKA_V_TOPIC(o->topic),
                                                RD_KAFKA_V_KEY(rule, strlen(rule)),
                                                RD_KAFKA_V_VALUE(b.data, b.len),
                                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    wd_buf_free(&b);
    if (err) {
        snprintf(errstr, n, "%s: %s", o->topic, rd_kafka_err2str(err));
        return -1;
    }
    err = rd_kafka_flush(o->p, 10000);
    if (err || rd_kafka_outq_len(o->p) > 0) {
        snprintf(errstr, n, "%s: not acknowledged within 10 s (%s)", o->topic, rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

void adm_ovr_follow(adm_t *a, adm_ovr_t *o, eng_engine_t *e)
{
    rd_kafka_message_t *m;
    while ((m = rd_kafka_consumer_poll(o->c, 0)) != NULL) {
        if (!m->err)
            apply_record(a, m, e);
        rd_kafka_message_destroy(m);
    }
    rd_kafka_poll(o->p, 0);
}

void adm_ovr_close(adm_ovr_t *o)
{
    if (!o)
        return;
    if (o->c) {
        rd_kafka_consumer_close(o->c);
        rd_kafka_destroy(o->c);
    }
    if (o->p) {
        rd_kafka_flush(o->p, 5000);
        rd_kafka_destroy(o->p);
    }
    free(o->topic);
    free(o);
}
