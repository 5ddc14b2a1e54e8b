#include "cmd/cmd_output.h"

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
        r->reason = h->reason;
        r->reason_len = h->reason_len;
        r->has_score = h->has_score;
        r->score = h->score;
        r->event_ts_ms = o->event_ts_ms;
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
    d->verdict = rule_verdict_name(o->decision);
    d->rules = (const char **)o->decision_rules;
    d->nrules = o->ndecision_rules;
    d->event_ts_ms = o->event_ts_ms;
}

void cmd_action_json(wd_buf_t *b, const eng_outcome_t *o, const char *run_id)
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
    if (o->decision_ttl)
        wd_buf_json_str(b, o->decision_ttl, strlen(o->decision_ttl));
    else
        wd_buf_adds(b, "null");
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
