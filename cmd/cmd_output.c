#include "cmd/cmd_output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cmd_outcome_rows(const eng_outcome_t *o, const char *run_id, const eng_src_t *src,
                      store_row_t *rows)
{
    for (size_t i = 0; i < o->nhits; i++) {
        const eng_hit_t *h = &o->hits[i];
        store_row_t *r = &rows[i];
        memset(r, 0, sizeof(*r));
        r->run_id = run_id;
        r->event_id = o->event_id;
        r->stream = o->stream;
        r->rule = h->rule;
        r->version = h->version;
        r->rule_sha256 = h->rule_sha256;
        r->mode = rule_mode_name(h->mode);
        r->verdict = rule_verdict_name(h->verdict);
        r->entity = h->entity;
        r->entity_len = h->entity_len;
        r->entity_type = h->entity_type;
        r->reason = h->reason;
        r->reason_len = h->reason_len;
        r->has_score = h->has_score;
        r->score = h->score;
        r->event_ts_ms = o->event_ts_ms;
        r->labels = h->labels;
        r->labels_len = h->labels_len;
        if (src && src->topic) {
            r->topic = src->topic;
            r->partition = src->partition;
            r->offset = src->offset;
        } else {
            r->partition = -1;
            r->offset = -1;
        }
    }
}

void cmd_outcome_decision(const eng_outcome_t *o, const char *run_id, store_decision_t *d)
{
    memset(d, 0, sizeof(*d));
    d->run_id = run_id;
    d->event_id = o->event_id;
    d->stream = o->stream;
    d->entity = o->decision_entity;
    d->entity_len = o->decision_entity_len;
    d->entity_type = RULE_ENTITY_TYPE_DEFAULT;
    for (size_t i = 0; i < o->nactions; i++)
        if (o->actions[i].entity == o->decision_entity)
            d->entity_type = o->actions[i].entity_type;
    d->verdict = rule_verdict_name(o->decision);
    d->rules = (const char **)o->decision_rules;
    d->nrules = o->ndecision_rules;
    d->event_ts_ms = o->event_ts_ms;
}

void cmd_outcome_action(const eng_outcome_t *o, size_t i, const char *run_id, const eng_src_t *src,
                        const char **names, store_decision_t *d)
{
    const eng_action_t *a = &o->actions[i];
    memset(d, 0, sizeof(*d));
    d->run_id = run_id;
    d->event_id = o->event_id;
    d->stream = o->stream;
    d->entity = a->entity;
    d->entity_len = a->entity_len;
    d->entity_type = a->entity_type;
    d->verdict = rule_verdict_name(a->verdict);
    for (size_t k = 0; k < a->nhits; k++)
        names[k] = o->hits[a->hits[k]].rule;
    d->rules = names;
    d->nrules = a->nhits;
    d->ttl = a->ttl;
    d->event_ts_ms = o->event_ts_ms;
    if (src && src->topic) {
        d->topic = src->topic;
        d->partition = src->partition;
        d->offset = src->offset;
    } else {
        d->partition = -1;
        d->offset = -1;
    }
}

int cmd_outcome_store_decisions(store_t *s, const eng_outcome_t *o, const char *run_id,
                                const eng_src_t *src, char *errstr, size_t errstr_size)
{
    if (o->decision == RULE_VERDICT_NONE)
        return 0;
    store_decision_t d;
    cmd_outcome_decision(o, run_id, &d);
    if (store_write_decision(s, &d, errstr, errstr_size) != 0)
        return -1;
    const char *small[32];
    const char **names = o->nhits <= 32 ? small : malloc(o->nhits * sizeof(*names));
    if (names == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < o->nactions && rc == 0; i++) {
        cmd_outcome_action(o, i, run_id, src, names, &d);
        rc = store_write_action(s, &d, errstr, errstr_size);
    }
    if (names != small)
        free(names);
    return rc;
}

int cmd_actions_format_parse(const char *s)
{
    if (s && strcmp(s, "v2") == 0)
        return CMD_ACTIONS_V2;
    if (s && strcmp(s, "v1") == 0)
        return CMD_ACTIONS_V1;
    return -1;
}

size_t cmd_action_count(const eng_outcome_t *o, int fmt)
{
    if (fmt == CMD_ACTIONS_V1)
        return o->decision != RULE_VERDICT_NONE ? 1 : 0;
    return o->nactions;
}

static void json_opt_str(wd_buf_t *b, const char *s, size_t n)
{
    if (s)
        wd_buf_json_str(b, s, n);
    else
        wd_buf_adds(b, "null");
}

static void action_tail(wd_buf_t *b, const eng_outcome_t *o, const char *run_id)
{
    wd_buf_adds(b, ",\"event_ts\":");
    if (o->event_ts_ms == INT64_MIN) {
        wd_buf_adds(b, "null");
    } else {
        wd_buf_addc(b, '"');
        wd_buf_rfc3339(b, o->event_ts_ms);
        wd_buf_addc(b, '"');
    }
    wd_buf_adds(b, ",\"run_id\":");
    wd_buf_json_str(b, run_id, strlen(run_id));
    wd_buf_addc(b, '}');
}

static void action_v1(wd_buf_t *b, wd_buf_t *key, const eng_outcome_t *o, const char *run_id)
{
    wd_buf_adds(b, "{\"event_id\":");
    wd_buf_json_str(b, o->event_id, strlen(o->event_id));
    wd_buf_adds(b, ",\"stream\":");
    wd_buf_json_str(b, o->stream, strlen(o->stream));
    wd_buf_adds(b, ",\"entity\":");
    wd_buf_json_str(b, o->decision_entity, o->decision_entity_len);
    wd_buf_adds(b, ",\"verdict\":\"");
    wd_buf_adds(b, rule_verdict_name(o->decision));
    wd_buf_adds(b, "\",\"rules\":[");
    for (size_t i = 0; i < o->ndecision_rules; i++) {
        if (i)
            wd_buf_addc(b, ',');
        wd_buf_json_str(b, o->decision_rules[i], strlen(o->decision_rules[i]));
    }
    wd_buf_adds(b, "],\"ttl\":");
    json_opt_str(b, o->decision_ttl, o->decision_ttl ? strlen(o->decision_ttl) : 0);
    action_tail(b, o, run_id);
    wd_buf_add(key, o->decision_entity, o->decision_entity_len);
}

static void action_v2(wd_buf_t *b, wd_buf_t *key, const eng_outcome_t *o, size_t i, const char *run_id)
{
    const eng_action_t *a = &o->actions[i];
    wd_buf_adds(b, "{\"schema\":2,\"event_id\":");
    wd_buf_json_str(b, o->event_id, strlen(o->event_id));
    wd_buf_adds(b, ",\"stream\":");
    wd_buf_json_str(b, o->stream, strlen(o->stream));
    wd_buf_adds(b, ",\"entity\":");
    wd_buf_json_str(b, a->entity, a->entity_len);
    wd_buf_adds(b, ",\"entity_type\":");
    wd_buf_json_str(b, a->entity_type, strlen(a->entity_type));
    wd_buf_adds(b, ",\"verdict\":\"");
    wd_buf_adds(b, rule_verdict_name(a->verdict));
    wd_buf_adds(b, "\",\"ttl\":");
    json_opt_str(b, a->ttl, a->ttl ? strlen(a->ttl) : 0);
    wd_buf_adds(b, ",\"rules\":[");
    for (size_t k = 0; k < a->nhits; k++) {
        const eng_hit_t *h = &o->hits[a->hits[k]];
        if (k)
            wd_buf_addc(b, ',');
        wd_buf_adds(b, "{\"rule\":");
        wd_buf_json_str(b, h->rule, strlen(h->rule));
        wd_buf_printf(b, ",\"version\":%d,\"sha256\":", h->version);
        json_opt_str(b, h->rule_sha256, h->rule_sha256 ? strlen(h->rule_sha256) : 0);
        wd_buf_adds(b, ",\"verdict\":\"");
        wd_buf_adds(b, rule_verdict_name(h->verdict));
        wd_buf_adds(b, "\",\"reason\":");
        json_opt_str(b, h->reason, h->reason_len);
        wd_buf_adds(b, ",\"score\":");
        if (h->has_score)
            wd_buf_json_num(b, h->score);
        else
            wd_buf_adds(b, "null");
        wd_buf_adds(b, ",\"ttl\":");
        json_opt_str(b, h->ttl, h->ttl ? strlen(h->ttl) : 0);
        wd_buf_addc(b, '}');
    }
    wd_buf_addc(b, ']');
    action_tail(b, o, run_id);
    wd_buf_adds(key, a->entity_type);
    wd_buf_addc(key, ':');
    wd_buf_add(key, a->entity, a->entity_len);
}

void cmd_action_json(wd_buf_t *b, wd_buf_t *key, const eng_outcome_t *o, size_t i, int fmt,
                     const char *run_id)
{
    b->len = 0;
    key->len = 0;
    if (fmt == CMD_ACTIONS_V1)
        action_v1(b, key, o, run_id);
    else
        action_v2(b, key, o, i, run_id);
}
