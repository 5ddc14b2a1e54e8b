/* The control topic.  See cmd/cmd_control.h. */
#include "cmd/cmd_control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/wd_config.h"
#include "base/wd_util.h"
#include "base/wd_log.h"
#include "kafka/kfk_tail.h"
#include "rules/rule_overlay.h"

struct cmd_control {
    kfk_tail_t     *tail;
    rule_overlay_t *ov;
    char           *topic;
    uint64_t        records, rejected;
};

static void on_record(void *ud, const rd_kafka_message_t *m)
{
    cmd_control_t *c = ud;
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(m, &tt);
    char err[256];
    if (!m->key || m->key_len == 0) {
        snprintf(err, sizeof err, "no key");
    } else if (rule_overlay_apply(c->ov, m->key, m->key_len, m->payload, m->payload ? m->len : 0,
                                  ts >= 0 ? ts : INT64_MIN, err, sizeof err) == 0) {
        c->records++;
        return;
    }
    c->rejected++;
    LOG_WARN("control record=%s/%d/%lld msg=\"%s; passed over\"", rd_kafka_topic_name(m->rkt), (int)m->partition,
             (long long)m->offset, err);
}

cmd_control_t *cmd_control_open(const wd_config_t *cfg, int create, int missing_ok, char *errstr, size_t n)
{
    cmd_control_t *c = calloc(1, sizeof(*c));
    if (!c || !(c->ov = rule_overlay_new())) {
        free(c);
        snprintf(errstr, n, "out of memory");
        return NULL;
    }
    rule_overlay_clamp_to_record_time(c->ov, 1);
    const char *topic = wd_config_str(cfg, "run.control_topic");
    int absent = 0;
    if (!(c->topic = strdup(topic))) {
        cmd_control_close(c);
        snprintf(errstr, n, "out of memory");
        return NULL;
    }
    c->tail = kfk_tail_open(cfg, topic, create, &absent, errstr, n);
    if (!c->tail && absent && missing_ok) {
        LOG_INFO("control topic %s does not exist: no runtime list entries or manual labels", topic);
        return c;
    }
    if (!c->tail || kfk_tail_catch_up(c->tail, on_record, c, 30000, errstr, n) < 0) {
        cmd_control_close(c);
        return NULL;
    }
    LOG_INFO("control topic %s read: records=%llu rejected=%llu", topic, (unsigned long long)c->records,
             (unsigned long long)c->rejected);
    return c;
}

void cmd_control_close(cmd_control_t *c)
{
    if (!c)
        return;
    kfk_tail_close(c->tail);
    rule_overlay_destroy(c->ov);
    free(c->topic);
    free(c);
}

const struct rule_overlay *cmd_control_overlay(const cmd_control_t *c) { return c->ov; }
const char *cmd_control_topic(const cmd_control_t *c) { return c->topic; }

size_t cmd_control_follow(cmd_control_t *c)
{
    return c->tail ? kfk_tail_follow(c->tail, on_record, c) : 0;
}

int cmd_control_put(cmd_control_t *c, const void *key, size_t klen, const void *val, size_t vlen,
                    int64_t *offset, char *errstr, size_t n)
{
    if (!c->tail) {
        snprintf(errstr, n, "control topic %s: not open", c->topic);
        return -1;
    }
    /* The record's timestamp is its effective time (warden's writers give
     * one at or past now), so the clamp to the record time keeps it. */
    int64_t ts = 0;
    json_t *j = val ? json_loadb(val, vlen, 0, NULL) : NULL;
    json_t *t = json_object_get(j, "time");
    if (json_is_string(t) && wd_parse_rfc3339(json_string_value(t), json_string_length(t), &ts) != 0)
        ts = 0;
    json_decref(j);
    if (kfk_tail_put(c->tail, key, klen, val, vlen, ts > 0 ? ts : 0, offset, errstr, n) != 0)
        return -1;
    return kfk_tail_catch_up(c->tail, on_record, c, 10000, errstr, n) < 0 ? -1 : 0;
}

void cmd_control_stats(const cmd_control_t *c, cmd_control_stats_t *out)
{
    rule_overlay_stats_t s;
    rule_overlay_stats(c->ov, &s);
    out->records = c->records;
    out->rejected = c->rejected;
    out->entries = s.entries;
}
