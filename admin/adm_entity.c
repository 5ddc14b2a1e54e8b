/* admin/adm_entity.c — the investigation of one entity (GET
 * /entities/{type}/{id} and `warden investigate`): every hit and action on
 * it from the results store in time order, the pack's lists it is on, the
 * command that reproduces each block, and its labels: those the store's
 * hits set (rule_results.labels, with their expiry) merged with the
 * control topic's manual labels and deletions by effective time — the
 * same answer whichever process or command asks, since both sources are
 * shared by every process.
 * Reads the store through storage/store_read.h; blocking (one connection
 * per call). */
#include "admin/adm.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/wd_alloc.h"
#include "base/wd_buf.h"
#include "rules/rule_lists.h"
#include "storage/store_read.h"

typedef struct item {
    int64_t ts;
    char   *event_id;
    int     is_action;
    char   *rule;
    json_t *j;
} item_t;

typedef struct inv {
    item_t *items;
    size_t  n, cap;
    int     failed;
    const adm_entity_query_t *qy;
} inv_t;

static json_t *jts(int64_t ms);

/* A label a rule set on the entity: the latest expiry among the sets at or
 * before the time asked, and the hit that gave it. */
typedef struct rlabel {
    char   *label;
    size_t  llen;
    int64_t expire;
    char   *rule, *event_id;
    int     version;
} rlabel_t;

typedef struct rlabels {
    rlabel_t   *v;
    size_t      n, cap;
    const char *entity;
    size_t      elen;
    int64_t     at;
    uint64_t    unreadable;
} rlabels_t;

/* A label item of a hit in the window: kept when it is on the entity,
 * with the latest expiry and the hit that gave it. */
static int on_label(void *ud, const store_hist_t *h, const store_label_t *l)
{
    rlabels_t *ls = ud;
    if (l->entity_len != ls->elen || memcmp(l->entity, ls->entity, ls->elen) != 0)
        return 0;   /* on another entity */
    size_t k = 0;
    while (k < ls->n && (ls->v[k].llen != l->label_len || memcmp(ls->v[k].label, l->label, l->label_len) != 0))
        k++;
    if (k == ls->n) {
        if (ls->n == ls->cap) {
            size_t cap = ls->cap ? ls->cap * 2 : 8;
            rlabel_t *nv = realloc(ls->v, cap * sizeof(*nv));
            if (!nv)
                return -1;
            ls->v = nv;
            ls->cap = cap;
        }
        memset(&ls->v[k], 0, sizeof(ls->v[k]));
        if (!(ls->v[k].label = wd_strndup(l->label, l->label_len)))
            return -1;
        ls->v[k].llen = l->label_len;
        ls->v[k].expire = INT64_MIN;
        ls->n++;
    }
    rlabel_t *r = &ls->v[k];
    if (l->expire_ms > r->expire) {
        free(r->rule);
        free(r->event_id);
        r->rule = strdup(h->rule ? h->rule : "");
        r->event_id = strdup(h->event_id ? h->event_id : "");
        if (!r->rule || !r->event_id)
            return -1;
        r->expire = l->expire_ms;
        r->version = h->version;
    }
    return 0;
}

static int on_label_row(void *ud, const store_hist_t *h)
{
    rlabels_t *ls = ud;
    if (h->is_action || !h->mode || strcmp(h->mode, "enforce") != 0 || h->event_ts_ms > ls->at)
        return 0;
    return store_hist_labels(h, on_label, ls, &ls->unreadable);
}

static int same_label(json_t *c, const char *label, size_t llen)
{
    json_t *l = json_object_get(c, "label");
    return json_string_length(l) == llen && memcmp(json_string_value(l), label, llen) == 0;
}

/* labels.items (in force at `at`) and labels.removed (rule-set labels a
 * deletion hides, e.g. an undo's): the store's sets merged with the
 * control topic's changes (ctl: their JSON array, or NULL). */
static json_t *labels_json(rlabels_t *ls, json_t *ctl, int64_t at, const char *note)
{
    json_t *items = json_array(), *removed = json_array();
    for (size_t i = 0; i < ls->n; i++) {
        rlabel_t *r = &ls->v[i];
        if (r->expire <= at)
            continue;
        json_t *hide = NULL, *c;
        size_t k;
        json_array_foreach(ctl, k, c) {
            json_t *u = json_object_get(c, "rule_labels_until_ms");
            if (same_label(c, r->label, r->llen) && json_is_integer(u) && json_integer_value(u) >= r->expire &&
                json_integer_value(json_object_get(c, "time_ms")) <= at)
                hide = c;
        }
        json_t *j = json_object();
        json_object_set_new(j, "label", json_stringn_nocheck(r->label, r->llen));
        json_object_set_new(j, "expires", jts(r->expire));
        json_object_set_new(j, "source", json_string("rule"));
        json_object_set_new(j, "rule", json_string(r->rule));
        json_object_set_new(j, "version", json_integer(r->version));
        json_object_set_new(j, "event_id", json_string(r->event_id));
        if (hide) {
            json_object_set_new(j, "removed_at", jts(json_integer_value(json_object_get(hide, "time_ms"))));
            json_object_set(j, "removed_by", json_object_get(hide, "who"));
            json_object_set(j, "reason", json_object_get(hide, "reason"));
            json_array_append_new(removed, j);
        } else {
            json_array_append_new(items, j);
        }
    }
    /* Manual labels: the last change of each at or before `at`. */
    size_t k;
    json_t *c;
    json_array_foreach(ctl, k, c) {
        const char *op = json_string_value(json_object_get(c, "op"));
        if (!op || strcmp(op, "add") != 0 || json_integer_value(json_object_get(c, "time_ms")) > at)
            continue;
        json_t *l = json_object_get(c, "label"), *n;
        int later = 0;
        for (size_t m = k + 1; (n = json_array_get(ctl, m)) != NULL; m++)
            if (same_label(n, json_string_value(l), json_string_length(l)) &&
                json_integer_value(json_object_get(n, "time_ms")) <= at)
                later = 1;
        int64_t x = json_integer_value(json_object_get(c, "expires_ms"));
        if (later || x <= at)
            continue;
        json_t *j = json_object();
        json_object_set(j, "label", l);
        json_object_set_new(j, "expires", jts(x));
        json_object_set_new(j, "source", json_string("manual"));
        json_object_set_new(j, "since", jts(json_integer_value(json_object_get(c, "time_ms"))));
        json_object_set(j, "who", json_object_get(c, "who"));
        json_object_set(j, "reason", json_object_get(c, "reason"));
        json_array_append_new(items, j);
    }
    json_t *out = json_object();
    json_object_set_new(out, "available", json_true());
    json_object_set_new(out, "at", jts(at));
    json_object_set_new(out, "items", items);
    json_object_set_new(out, "removed", removed);
    json_object_set_new(out, "control_topic", ctl ? json_true() : json_false());
    json_object_set_new(out, "unreadable", json_integer((json_int_t)ls->unreadable));
    json_object_set_new(out, "note", note ? json_string(note) : json_null());
    return out;
}

static json_t *jstrn(const char *s, size_t n)
{
    return s ? json_stringn_nocheck(s, n) : json_null();
}

static json_t *jstr(const char *s)
{
    return s ? json_string_nocheck(s) : json_null();
}

static json_t *jts(int64_t ms)
{
    if (ms == INT64_MIN)
        return json_null();
    wd_buf_t b = WD_BUF_INIT;
    wd_buf_rfc3339(&b, ms);
    json_t *j = json_stringn(b.data, b.len);
    wd_buf_free(&b);
    return j;
}

/* The command that re-evaluates the event with an explanation, runnable
 * as printed when the config (Kafka input) or the pack (file input) is
 * known. */
static json_t *reproduce(const inv_t *v, const store_hist_t *h)
{
    char cmd[2048];
    const char *cfg = v->qy->config_path ? v->qy->config_path : "warden.lua";
    const char *rules = v->qy->rules_dir ? v->qy->rules_dir : "RULES_DIR";
    if (h->topic)
        snprintf(cmd, sizeof cmd, "warden explain -c %s --event %s/%d/%" PRId64, cfg, h->topic,
                 (int)h->partition, h->offset);
    else
        snprintf(cmd, sizeof cmd, "warden explain --rules %s --input EVENTS.jsonl --id %s", rules,
                 h->event_id);
    return json_string(cmd);
}

static int on_row(void *ud, const store_hist_t *h)
{
    inv_t *v = ud;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        item_t *n = realloc(v->items, cap * sizeof(*n));
        if (!n)
            return -1;
        v->items = n;
        v->cap = cap;
    }
    json_t *j = json_object();
    json_object_set_new(j, "kind", json_string(h->is_action ? "action" : "hit"));
    json_object_set_new(j, "event_ts", jts(h->event_ts_ms));
    json_object_set_new(j, "run_id", jstr(h->run_id));
    json_object_set_new(j, "event_id", jstr(h->event_id));
    json_object_set_new(j, "stream", jstr(h->stream));
    json_object_set_new(j, "entity_type", jstr(h->entity_type));
    if (h->is_action) {
        json_t *rules = json_array();
        const char *p = h->rules ? h->rules : "";
        while (*p) {
            const char *c = strchr(p, ',');
            size_t l = c ? (size_t)(c - p) : strlen(p);
            json_array_append_new(rules, json_stringn(p, l));
            p += l + (c ? 1 : 0);
        }
        json_object_set_new(j, "verdict", jstr(h->verdict));
        json_object_set_new(j, "rules", rules);
        json_object_set_new(j, "ttl", jstr(h->ttl));
    } else {
        json_object_set_new(j, "rule", jstr(h->rule));
        json_object_set_new(j, "version", json_integer(h->version));
        json_object_set_new(j, "sha256", jstr(h->rule_sha256));
        json_object_set_new(j, "mode", jstr(h->mode));
        json_object_set_new(j, "verdict", jstr(h->verdict));
        json_object_set_new(j, "reason", jstrn(h->reason, h->reason_len));
        json_object_set_new(j, "score", h->has_score ? json_real(h->score) : json_null());
    }
    if (h->topic) {
        char src[600];
        snprintf(src, sizeof src, "%s/%d/%" PRId64, h->topic, (int)h->partition, h->offset);
        json_object_set_new(j, "source", json_string(src));
    } else {
        json_object_set_new(j, "source", json_null());
    }
    if (h->verdict && strcmp(h->verdict, "block") == 0)
        json_object_set_new(j, "reproduce", reproduce(v, h));
    item_t *it = &v->items[v->n++];
    it->ts = h->event_ts_ms;
    it->event_id = strdup(h->event_id ? h->event_id : "");
    it->is_action = h->is_action;
    it->rule = strdup(h->rule ? h->rule : "");
    it->j = j;
    return 0;
}

static int cmp_item(const void *a, const void *b)
{
    const item_t *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    int c = strcmp(x->event_id, y->event_id);
    if (c)
        return c;
    if (x->is_action != y->is_action)
        return x->is_action - y->is_action;
    return strcmp(x->rule, y->rule);
}

json_t *adm_entity_json(const adm_entity_query_t *qy, char *errstr, size_t n)
{
    store_reader_t *rd = NULL;
    inv_t v = { 0 };
    v.qy = qy;
    json_t *out = NULL;
    if (store_reader_open(&rd, qy->store_url, errstr, n) != 0 ||
        store_read_entity(rd, qy->type, qy->entity, strlen(qy->entity), qy->since_ms, qy->run_id, on_row,
                          &v, errstr, n) != 0)
        goto done;
    int64_t at = qy->at_ms != INT64_MIN ? qy->at_ms : (int64_t)time(NULL) * 1000;
    rlabels_t lab = { .entity = qy->entity, .elen = strlen(qy->entity), .at = at };
    if (store_read_entity(rd, qy->type, qy->entity, strlen(qy->entity), INT64_MIN,
                          qy->labels_run_id ? qy->labels_run_id : "live", on_label_row, &lab, errstr, n) != 0) {
        if (!errstr[0])
            snprintf(errstr, n, "out of memory");
        goto done_labels;
    }
    if (v.n > 1)
        qsort(v.items, v.n, sizeof(*v.items), cmp_item);   /* never qsort(NULL, 0): UBSan */
    json_t *lists = json_array();
    if (qy->rules_dir && *qy->rules_dir) {
        rule_lists_t *ls = rule_lists_load(qy->rules_dir, errstr, n);
        if (!ls) {
            json_decref(lists);
            goto done_labels;
        }
        for (size_t i = 0; i < rule_lists_count(ls); i++) {
            const char *name = rule_lists_name(ls, i);
            if (rule_list_contains(rule_lists_get(ls, name), qy->entity, strlen(qy->entity)))
                json_array_append_new(lists, json_string(name));
        }
        rule_lists_destroy(ls);
    }
    out = json_object();
    json_object_set_new(out, "entity", json_string_nocheck(qy->entity));
    json_object_set_new(out, "entity_type", jstr(qy->type));
    json_object_set_new(out, "since", jts(qy->since_ms));
    json_t *hist = json_array();
    for (size_t i = 0; i < v.n; i++)
        json_array_append(hist, v.items[i].j);
    json_object_set_new(out, "history", hist);
    json_object_set_new(out, "lists", lists);
    json_t *ctl = qy->control_labels ? json_loads(qy->control_labels, JSON_ALLOW_NUL, NULL) : NULL;
    json_object_set_new(out, "labels", labels_json(&lab, ctl, at, qy->control_labels ? NULL :
        "manual labels and deletions not read (no control topic): only the labels rules set"));
    json_decref(ctl);
done_labels:
    for (size_t i = 0; i < lab.n; i++) {
        free(lab.v[i].label);
        free(lab.v[i].rule);
        free(lab.v[i].event_id);
    }
    free(lab.v);
done:
    for (size_t i = 0; i < v.n; i++) {
        json_decref(v.items[i].j);
        free(v.items[i].event_id);
        free(v.items[i].rule);
    }
    free(v.items);
    store_reader_close(rd);
    return out;
}
