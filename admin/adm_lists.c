/* admin/adm_lists.c — runtime lists and manual labels on the loop thread:
 * GET /lists and /lists/NAME from the overlay the control topic built;
 * PUT/DELETE /lists/NAME/VALUE and /labels/TYPE/ID/LABEL write one record
 * to the control topic (never to memory: every process, this one too,
 * applies it from the topic) with its effective time — now, or just after
 * the latest event this process evaluated if that is later — and answer
 * once this process has read it back.  Audited: one entry per call. */
#include "admin/adm_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rule_lists.h"
#include "rules/rule_overlay.h"

void adm_req_free(adm_req_t *r)
{
    if (!r)
        return;
    wd_buf_free(&r->body);
    free(r->rule);
    free(r->name);
    free(r->value);
    free(r->label);
    free(r->ttl);
    free(r->reason);
    free(r);
}

static void answer_error(adm_req_t *q, int status, const char *msg)
{
    q->status = status;
    wd_buf_reset(&q->body);
    wd_buf_adds(&q->body, "{\"error\":");
    wd_buf_json_str(&q->body, msg, strlen(msg));
    wd_buf_adds(&q->body, "}\n");
}

static void list_summary(wd_buf_t *b, const rule_overlay_t *ov, const rule_list_t *l, const char *name,
                         int with_entries)
{
    wd_buf_t ent = WD_BUF_INIT;
    size_t added = 0, deleted = 0;
    rule_overlay_list_json(ov, name, &ent, &added, &deleted);
    wd_buf_adds(b, "{\"name\":");
    wd_buf_json_str(b, name, strlen(name));
    wd_buf_printf(b, ",\"kind\":\"%s\",\"file_values\":%zu,\"runtime_added\":%zu,\"runtime_deleted\":%zu",
                  rule_list_is_cidr(l) ? "cidr" : "exact", rule_list_size(l), added, deleted);
    if (with_entries) {
        wd_buf_adds(b, ",\"runtime\":");
        wd_buf_add(b, ent.data ? ent.data : "[]", ent.data ? ent.len : 2);
    }
    wd_buf_addc(b, '}');
    wd_buf_free(&ent);
}

/* Audit fields of a list or label call (the audit_log columns rule and
 * after hold 128 bytes): rule = what it names (cut to 128 bytes), after =
 * the op, result = the outcome and, for a write, the whole record. */
static void audit_ctl(adm_t *a, const adm_req_t *q, const char *action, const char *target, const char *op,
                      const char *result, const char *record, int status)
{
    char cut[129];
    snprintf(cut, sizeof cut, "%s", target ? target : "");
    wd_buf_t r = WD_BUF_INIT;
    wd_buf_adds(&r, result);
    if (record) {
        wd_buf_addc(&r, ' ');
        wd_buf_adds(&r, record);
    }
    adm_audit(a, q->token_id, action, target ? cut : NULL, NULL, op, r.data, status);
    wd_buf_free(&r);
}

static int64_t now_ms(void)
{
    return (int64_t)(adm_now_unix() * 1000.0);
}

void adm_control_apply(adm_t *a, const adm_host_t *h, adm_req_t *q)
{
    if (q->ctl_op == ADM_CTL_ENTITY_LABELS) {
        /* The body: the entity's manual labels and deletions, or null. */
        wd_buf_reset(&q->body);
        if (h->overlay)
            rule_overlay_entity_labels_json(h->overlay, q->value, q->value_len, &q->body);
        else
            wd_buf_adds(&q->body, "null");
        q->status = 200;
        return;
    }
    int write = q->ctl_op >= ADM_CTL_LIST_PUT;
    int labels = q->ctl_op >= ADM_CTL_LABEL_PUT;
    int put = q->ctl_op == ADM_CTL_LIST_PUT || q->ctl_op == ADM_CTL_LABEL_PUT;
    char action[32];
    snprintf(action, sizeof action, "%s.%s", labels ? "label" : "list", put ? "put" : "delete");
    if (!h->overlay || !h->control_put) {
        answer_error(q, 503, "runtime lists and labels are not available in this process (no control topic)");
        if (write)
            audit_ctl(a, q, action, q->name, NULL, "no control topic", NULL, 503);
        return;
    }
    const rule_lists_t *ls = eng_engine_lists(h->engine(h->ud));
    wd_buf_reset(&q->body);
    if (q->ctl_op == ADM_CTL_LISTS) {
        wd_buf_adds(&q->body, "{\"lists\":[");
        for (size_t i = 0; i < rule_lists_count(ls); i++) {
            const char *name = rule_lists_name(ls, i);
            if (i)
                wd_buf_addc(&q->body, ',');
            list_summary(&q->body, h->overlay, rule_lists_get(ls, name), name, 0);
        }
        wd_buf_adds(&q->body, "],\"topic\":");
        wd_buf_json_str(&q->body, h->control_topic ? h->control_topic : "",
                        h->control_topic ? strlen(h->control_topic) : 0);
        wd_buf_adds(&q->body, "}\n");
        q->status = 200;
        return;
    }
    const rule_list_t *l = labels ? NULL : rule_lists_get(ls, q->name);
    if (!labels && !l) {
        char msg[320];
        snprintf(msg, sizeof msg, "unknown list '%.200s' (a runtime list must exist as lists/NAME.txt)", q->name);
        answer_error(q, 404, msg);
        if (write)
            audit_ctl(a, q, action, q->name, NULL, "unknown list", NULL, 404);
        return;
    }
    if (q->ctl_op == ADM_CTL_LIST) {
        list_summary(&q->body, h->overlay, l, q->name, 1);
        wd_buf_addc(&q->body, '\n');
        q->status = 200;
        return;
    }
    rule_cidr_t range;
    char cerr[256];
    if (!labels && rule_list_is_cidr(l) && rule_cidr_parse(q->value, q->value_len, &range, cerr, sizeof cerr) != 0) {
        char msg[400];
        snprintf(msg, sizeof msg, "list '%.100s' is a CIDR list: %s", q->name, cerr);
        answer_error(q, 400, msg);
        audit_ctl(a, q, action, q->name, NULL, msg, NULL, 400);
        return;
    }
    /* The effective time: after every event this process evaluated. */
    int64_t t = now_ms();
    if (h->event_ts_ms != INT64_MIN && h->event_ts_ms >= t)
        t = h->event_ts_ms + 1;
    wd_buf_t key = WD_BUF_INIT, val = WD_BUF_INIT, audit = WD_BUF_INIT;
    if (labels)
        rule_overlay_label_key(&key, q->name, q->label, q->value, q->value_len);
    else
        rule_overlay_list_key(&key, q->name, q->value, q->value_len);
    rule_overlay_value(&val, put ? RULE_OV_ADD : RULE_OV_DEL, t, q->token_id, q->reason, q->ttl, INT64_MIN);
    wd_buf_adds(&audit, "{\"key\":");
    wd_buf_json_str(&audit, key.data, key.len);
    wd_buf_adds(&audit, ",\"value\":");
    wd_buf_add(&audit, val.data, val.len);
    wd_buf_addc(&audit, '}');
    char err[512];
    int64_t offset = -1;
    if (h->control_put(h->ud, key.data, key.len, val.data, val.len, &offset, err, sizeof err) != 0) {
        char msg[640];
        snprintf(msg, sizeof msg, "the control topic did not take the change: %s", err);
        answer_error(q, 503, msg);
        audit_ctl(a, q, action, key.data, put ? "add" : "del", err, audit.data, 503);
    } else {
        q->status = 200;
        wd_buf_adds(&q->body, "{\"result\":\"ok\",\"key\":");
        wd_buf_json_str(&q->body, key.data, key.len);
        wd_buf_adds(&q->body, ",\"op\":");
        wd_buf_adds(&q->body, put ? "\"add\"" : "\"del\"");
        wd_buf_adds(&q->body, ",\"time\":\"");
        wd_buf_rfc3339(&q->body, t);
        wd_buf_printf(&q->body, "\",\"time_ms\":%" PRId64 ",\"offset\":%" PRId64 ",\"topic\":", t, offset);
        wd_buf_json_str(&q->body, h->control_topic ? h->control_topic : "",
                        h->control_topic ? strlen(h->control_topic) : 0);
        wd_buf_adds(&q->body, "}\n");
        audit_ctl(a, q, action, key.data, put ? "add" : "del", "ok", audit.data, 200);
    }
    wd_buf_free(&key);
    wd_buf_free(&val);
    wd_buf_free(&audit);
}
