/* admin/adm_entity.c — the investigation of one entity (GET
 * /entities/{type}/{id} and `warden investigate`): every hit and action on
 * it from the results store in time order, the pack's lists it is on, the
 * command that reproduces each block, and what is known of its labels.
 * Reads the store through storage/store_read.h; blocking (one connection
 * per call). */
#include "admin/adm.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
} inv_t;

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

/* The command that re-evaluates the event with an explanation. */
static json_t *reproduce(const store_hist_t *h)
{
    char cmd[1024];
    if (h->topic)
        snprintf(cmd, sizeof cmd, "warden explain --event %s/%d/%" PRId64, h->topic, (int)h->partition,
                 h->offset);
    else
        snprintf(cmd, sizeof cmd, "warden explain --input EVENTS.jsonl --id %s", h->event_id);
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
        json_object_set_new(j, "reproduce", reproduce(h));
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
    json_t *out = NULL;
    if (store_reader_open(&rd, qy->store_url, errstr, n) != 0 ||
        store_read_entity(rd, qy->type, qy->entity, strlen(qy->entity), qy->since_ms, qy->run_id, on_row,
                          &v, errstr, n) != 0)
        goto done;
    qsort(v.items, v.n, sizeof(*v.items), cmp_item);
    json_t *lists = json_array();
    if (qy->rules_dir && *qy->rules_dir) {
        rule_lists_t *ls = rule_lists_load(qy->rules_dir, errstr, n);
        if (!ls) {
            json_decref(lists);
            goto done;
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
    json_t *labels = json_object();
    json_object_set_new(labels, "available", json_false());
    json_object_set_new(labels, "items", json_array());
    json_object_set_new(labels, "note", json_string(
        "labels live in the state of warden run, not in the results store, and are not exposed yet"));
    json_object_set_new(out, "labels", labels);
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
