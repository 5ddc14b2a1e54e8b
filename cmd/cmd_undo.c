/* cmd/cmd_undo.c — `warden undo --rule NAME [--version V] --from TIME --to
 * TIME [--dry-run] [--json] -c warden.lua`: revokes every action one rule
 * (version) produced in a window of event time.  It reads the actions the
 * rule took part in from the results store (run.run_id's rows), writes one
 * compensating action per original ("verdict":"revoke", naming the
 * original event, rule and entity, and what other rules still hold on the
 * entity) to the actions topic in one Kafka transaction, and records the
 * undo in the store (undo_runs, and the revocations in actions under
 * run_id undo:ID) and the audit log.  The labels the rule set in the
 * window (rule_results.labels) are removed through the control topic: one
 * label deletion per (entity, label), effective from the undo's time, that
 * hides what rules set up to the latest expiry the undone hits gave
 * ("rule_labels_until"); a label another rule or an analyst also set on
 * the entity stays, and the report says so.
 *
 * Exactly once: the undo's id is a digest of (rule, version, window,
 * run_id) and its transactional.id is warden-undo.ID, so a second
 * process of the same undo fences the first; undo_runs is set to
 * "committing" before the commit and "done" after, and a rerun of a done
 * undo emits nothing.  A run that died between the two is refused (its
 * transaction may or may not have committed: docs/operations.md). */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/cmd.h"
#include "cmd/cmd_control.h"
#include "rules/rule_overlay.h"
#include "admin/adm.h"
#include "base/wd_alloc.h"
#include "base/wd_buf.h"
#include "base/wd_config.h"
#include "base/wd_log.h"
#include "base/wd_util.h"
#include "storage/store.h"
#include "storage/store_read.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: warden undo --rule NAME [--version V] --from TIME --to TIME [--dry-run] [--json]\n"
        "                   -c warden.lua\n"
        "Revokes every action rule NAME (version V; default every version) took part in\n"
        "for events in [--from, --to) (RFC 3339): one compensating action per original,\n"
        "\"verdict\":\"revoke\", on run.actions_topic, exactly once, recorded in the store\n"
        "(undo_runs) and in admin.audit_file.  An entity another rule also acted on keeps\n"
        "that action: the revocation names what it keeps, and the report counts it.\n"
        "The labels the rule set on those events are removed through run.control_topic\n"
        "from now on (one label deletion each, audited); a label another rule or an\n"
        "analyst also set on the entity stays, and the report says which.\n\n"
        "  -c, --config FILE   warden.lua: kafka, store, run.actions_topic, run.run_id\n"
        "      --rule NAME     the rule to undo\n"
        "      --version V     only this version's actions\n"
        "      --from TIME     first event time (inclusive)\n"
        "      --to TIME       end of the window (exclusive)\n"
        "      --dry-run       report what would be revoked; change nothing\n"
        "      --json          the report as one JSON object\n"
        "  -h, --help          this help\n\n"
        "Rerunning an undo that finished emits nothing and says so.  Exit status: 0 ok,\n"
        "1 store, Kafka or audit failure (or an interrupted earlier run), 2 usage.\n");
}

typedef struct undo {
    const char *rule;
    int         version;
    char        id[33];
    char        run_id[160];    /* "undo:ID" */
    wd_buf_t    lines;          /* one revocation JSON per line */
    wd_buf_t    keys;           /* their keys, one per line */
    wd_buf_t    report;         /* JSON array items */
    uint64_t    revoked, kept;
    /* for the store: each revocation as a decision */
    store_decision_t *rows;
    char      **owned;
    size_t      nrows, cap, nowned, capowned;
} undo_t;

static char *keep(undo_t *u, const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *c = malloc(n + 1);
    if (!c)
        cmd_oom("a string of the results");
    memcpy(c, s, n);
    c[n] = '\0';
    if (u->nowned == u->capowned) {
        u->capowned = u->capowned ? u->capowned * 2 : 256;
        u->owned = realloc(u->owned, u->capowned * sizeof(*u->owned));
        if (!u->owned)
            cmd_oom("the strings of the results");
    }
    u->owned[u->nowned++] = c;
    return c;
}

static void json_opt(wd_buf_t *b, const char *s)
{
    if (s)
        wd_buf_json_str(b, s, strlen(s));
    else
        wd_buf_adds(b, "null");
}

static void json_list(wd_buf_t *b, const char *csv)
{
    wd_buf_addc(b, '[');
    const char *p = csv ? csv : "";
    int first = 1;
    while (*p) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (!first)
            wd_buf_addc(b, ',');
        wd_buf_json_str(b, p, l);
        first = 0;
        p += l + (c ? 1 : 0);
    }
    wd_buf_addc(b, ']');
}

/* One revocation (the action format v2 with verdict "revoke"). */
static int on_item(void *ud, const store_undo_item_t *it)
{
    undo_t *u = ud;
    const store_hist_t *a = &it->action;
    int kept = strcmp(it->rest_verdict, "none") != 0;
    wd_buf_t *b = &u->lines;
    wd_buf_adds(b, "{\"schema\":2,\"event_id\":");
    json_opt(b, a->event_id);
    wd_buf_adds(b, ",\"stream\":");
    json_opt(b, a->stream);
    wd_buf_adds(b, ",\"entity\":");
    wd_buf_json_str(b, a->entity, a->entity_len);
    wd_buf_adds(b, ",\"entity_type\":");
    json_opt(b, a->entity_type);
    wd_buf_adds(b, ",\"verdict\":\"revoke\",\"ttl\":null,\"rules\":[{\"rule\":");
    json_opt(b, u->rule);
    wd_buf_printf(b, ",\"version\":%d,\"sha256\":", it->version);
    json_opt(b, it->rule_sha256);
    wd_buf_adds(b, ",\"verdict\":");
    json_opt(b, it->rule_verdict);
    wd_buf_adds(b, ",\"reason\":\"undo\",\"score\":null,\"ttl\":null}],\"revokes\":{\"run_id\":");
    json_opt(b, a->run_id);
    wd_buf_adds(b, ",\"verdict\":");
    json_opt(b, a->verdict);
    wd_buf_adds(b, ",\"rules\":");
    json_list(b, a->rules);
    wd_buf_adds(b, "},\"kept\":");
    if (kept) {
        wd_buf_adds(b, "{\"verdict\":");
        json_opt(b, it->rest_verdict);
        wd_buf_adds(b, ",\"rules\":");
        json_list(b, it->rest_rules);
        wd_buf_addc(b, '}');
    } else {
        wd_buf_adds(b, "null");
    }
    wd_buf_adds(b, ",\"undo_id\":");
    json_opt(b, u->id);
    wd_buf_adds(b, ",\"event_ts\":");
    if (a->event_ts_ms == INT64_MIN) {
        wd_buf_adds(b, "null");
    } else {
        wd_buf_addc(b, '"');
        wd_buf_rfc3339(b, a->event_ts_ms);
        wd_buf_addc(b, '"');
    }
    wd_buf_adds(b, ",\"run_id\":");
    json_opt(b, u->run_id);
    wd_buf_adds(b, "}\n");
    wd_buf_adds(&u->keys, a->entity_type ? a->entity_type : "unknown");
    wd_buf_addc(&u->keys, ':');
    wd_buf_add(&u->keys, a->entity, a->entity_len);
    wd_buf_addc(&u->keys, '\0');

    wd_buf_t *r = &u->report;
    if (r->len)
        wd_buf_addc(r, ',');
    wd_buf_adds(r, "{\"event_id\":");
    json_opt(r, a->event_id);
    wd_buf_adds(r, ",\"entity_type\":");
    json_opt(r, a->entity_type);
    wd_buf_adds(r, ",\"entity\":");
    wd_buf_json_str(r, a->entity, a->entity_len);
    wd_buf_adds(r, ",\"verdict\":");
    json_opt(r, a->verdict);
    wd_buf_printf(r, ",\"version\":%d,\"kept\":", it->version);
    if (kept) {
        wd_buf_adds(r, "{\"verdict\":");
        json_opt(r, it->rest_verdict);
        wd_buf_adds(r, ",\"rules\":");
        json_list(r, it->rest_rules);
        wd_buf_addc(r, '}');
    } else {
        wd_buf_adds(r, "null");
    }
    wd_buf_addc(r, '}');

    if (u->nrows == u->cap) {
        u->cap = u->cap ? u->cap * 2 : 64;
        u->rows = realloc(u->rows, u->cap * sizeof(*u->rows));
        if (!u->rows)
            cmd_oom("the rows of the results");
    }
    store_decision_t *d = &u->rows[u->nrows++];
    memset(d, 0, sizeof(*d));
    d->run_id = u->run_id;
    d->event_id = keep(u, a->event_id, strlen(a->event_id));
    d->stream = keep(u, a->stream, strlen(a->stream));
    d->entity = keep(u, a->entity, a->entity_len);
    d->entity_len = a->entity_len;
    d->entity_type = keep(u, a->entity_type, strlen(a->entity_type));
    d->verdict = "revoke";
    d->event_ts_ms = a->event_ts_ms;
    d->topic = a->topic ? keep(u, a->topic, strlen(a->topic)) : NULL;
    d->partition = a->partition;
    d->offset = a->offset;
    if (kept)
        u->kept++;
    else
        u->revoked++;
    return 0;
}

/* ---- labels ------------------------------------------------------------
 * One target per (entity, label) the undone hits set: the latest expiry
 * they gave it, and what decides its fate. */
typedef struct ulabel {
    char    *entity, *label, *type;
    size_t   elen, llen;
    int64_t  expire;         /* the latest the undone hits gave */
    /* kept by another rule's set (rule, version, expiry) or a manual label */
    char    *by_rule;
    int      by_version;
    int64_t  by_expire;
    char    *by_who, *by_reason;
    int      manual;
} ulabel_t;

typedef struct ulabels {
    ulabel_t *v;
    size_t    n, cap;
    uint64_t  unreadable;    /* the undone hits' label items that cannot be read (store_hist_labels) */
    uint64_t  unreadable_other;  /* the same in the hits read for other sets: not reported, since an
                                  * entity's hits are read once per target and include the undone ones */
    /* the undone set, to tell other rows apart */
    const char *rule;
    int         version;
    int64_t     from, to;
    ulabel_t   *cur;         /* the target whose entity is being read */
    int64_t     t;           /* the undo's effective time */
} ulabels_t;

static int add_target(void *ud, const store_hist_t *h, const store_label_t *l)
{
    ulabels_t *ls = ud;
    for (size_t i = 0; i < ls->n; i++) {
        ulabel_t *u = &ls->v[i];
        if (u->elen == l->entity_len && u->llen == l->label_len && memcmp(u->entity, l->entity, u->elen) == 0 &&
            memcmp(u->label, l->label, u->llen) == 0) {
            if (l->expire_ms > u->expire)
                u->expire = l->expire_ms;
            return 0;
        }
    }
    if (ls->n == ls->cap) {
        size_t cap = ls->cap ? ls->cap * 2 : 16;
        ulabel_t *nv = realloc(ls->v, cap * sizeof(*nv));
        if (!nv)
            return -1;
        ls->v = nv;
        ls->cap = cap;
    }
    ulabel_t *u = &ls->v[ls->n++];
    memset(u, 0, sizeof(*u));
    /* The record key wants a type: the hit's when the label is on its entity. */
    int same = l->entity_len == h->entity_len && memcmp(l->entity, h->entity, l->entity_len) == 0;
    u->entity = wd_strndup(l->entity, l->entity_len);
    u->elen = l->entity_len;
    u->label = wd_strndup(l->label, l->label_len);
    u->llen = l->label_len;
    u->type = wd_strdup(same && h->entity_type ? h->entity_type : "unknown");
    u->expire = l->expire_ms;
    return u->entity && u->label && u->type ? 0 : -1;
}

static int on_label_hit(void *ud, const store_hist_t *h)
{
    ulabels_t *ls = ud;
    return store_hist_labels(h, add_target, ls, &ls->unreadable);
}

/* Another set of the target's label on its entity that is still in force
 * at the undo's time: not one of the undone hits. */
static int other_set(void *ud, const store_hist_t *h, const store_label_t *l)
{
    ulabels_t *ls = ud;
    ulabel_t *u = ls->cur;
    if (l->entity_len != u->elen || l->label_len != u->llen || memcmp(l->entity, u->entity, u->elen) != 0 ||
        memcmp(l->label, u->label, u->llen) != 0)
        return 0;
    int undone = strcmp(h->rule, ls->rule) == 0 && (ls->version < 0 || h->version == ls->version) &&
                 h->event_ts_ms >= ls->from && h->event_ts_ms < ls->to;
    if (undone || l->expire_ms <= ls->t || l->expire_ms <= u->by_expire)
        return 0;
    free(u->by_rule);
    if (!(u->by_rule = wd_strdup(h->rule)))
        return -1;
    u->by_version = h->version;
    u->by_expire = l->expire_ms;
    return 0;
}

static int on_entity_hit(void *ud, const store_hist_t *h)
{
    ulabels_t *ls = ud;
    if (h->is_action || !h->mode || strcmp(h->mode, "enforce") != 0)
        return 0;
    return store_hist_labels(h, other_set, ls, &ls->unreadable_other);
}

/* A manual label on the target in force at t (from the control topic). */
static void manual_at(const rule_overlay_t *ov, ulabel_t *u, int64_t t)
{
    if (!ov || !rule_overlay_has_label(ov, u->entity, u->elen, u->label, u->llen, t))
        return;
    u->manual = 1;
    wd_buf_t b = WD_BUF_INIT;
    rule_overlay_entity_labels_json(ov, u->entity, u->elen, &b);
    json_t *a = json_loadb(b.data, b.len, JSON_ALLOW_NUL, NULL);
    size_t i;
    json_t *c;
    json_array_foreach(a, i, c) {
        json_t *l = json_object_get(c, "label");
        const char *op = json_string_value(json_object_get(c, "op"));
        if (json_string_length(l) == u->llen && memcmp(json_string_value(l), u->label, u->llen) == 0 && op &&
            strcmp(op, "add") == 0 && json_integer_value(json_object_get(c, "time_ms")) <= t) {
            free(u->by_who);
            free(u->by_reason);
            const char *w = json_string_value(json_object_get(c, "who"));
            const char *r = json_string_value(json_object_get(c, "reason"));
            u->by_who = w ? strdup(w) : NULL;
            u->by_reason = r ? strdup(r) : NULL;
            u->by_expire = json_integer_value(json_object_get(c, "expires_ms"));
        }
    }
    json_decref(a);
    wd_buf_free(&b);
}

static int label_removed(const ulabel_t *u, int64_t t)
{
    return u->expire > t && !u->by_rule && !u->manual;
}

static void ulabels_free(ulabels_t *ls)
{
    for (size_t i = 0; i < ls->n; i++) {
        free(ls->v[i].entity);
        free(ls->v[i].label);
        free(ls->v[i].type);
        free(ls->v[i].by_rule);
        free(ls->v[i].by_who);
        free(ls->v[i].by_reason);
    }
    free(ls->v);
}

static void json_ts(wd_buf_t *b, int64_t ms)
{
    wd_buf_addc(b, '"');
    wd_buf_rfc3339(b, ms);
    wd_buf_addc(b, '"');
}

/* The record that removes u: a label deletion at t, hiding rule-set
 * labels that expire by u->expire. */
static void label_record(const undo_t *u, const ulabel_t *l, int64_t t, wd_buf_t *key, wd_buf_t *val)
{
    char who[48], reason[200];
    snprintf(who, sizeof who, "undo:%s", u->id);
    if (u->version >= 0)
        snprintf(reason, sizeof reason, "undo %s of %s v%d", u->id, u->rule, u->version);
    else
        snprintf(reason, sizeof reason, "undo %s of %s", u->id, u->rule);
    wd_buf_reset(key);
    wd_buf_reset(val);
    rule_overlay_label_key(key, l->type, l->label, l->entity, l->elen);
    rule_overlay_value(val, RULE_OV_DEL, t, who, reason, NULL, l->expire);
}

/* The report's "labels" object. */
static void labels_json(wd_buf_t *b, const ulabels_t *ls, int64_t t, const char *note)
{
    uint64_t removed = 0, kept = 0, expired = 0;
    wd_buf_adds(b, "{\"time\":");
    json_ts(b, t);
    wd_buf_adds(b, ",\"items\":[");
    for (size_t i = 0; i < ls->n; i++) {
        const ulabel_t *u = &ls->v[i];
        if (i)
            wd_buf_addc(b, ',');
        wd_buf_adds(b, "{\"entity_type\":");
        wd_buf_json_str(b, u->type, strlen(u->type));
        wd_buf_adds(b, ",\"entity\":");
        wd_buf_json_str(b, u->entity, u->elen);
        wd_buf_adds(b, ",\"label\":");
        wd_buf_json_str(b, u->label, u->llen);
        wd_buf_adds(b, ",\"expires\":");
        json_ts(b, u->expire);
        if (u->expire <= t) {
            wd_buf_adds(b, ",\"result\":\"expired\"");
            expired++;
        } else if (u->manual) {
            wd_buf_adds(b, ",\"result\":\"kept\",\"kept_by\":{\"manual\":true,\"who\":");
            wd_buf_json_str(b, u->by_who ? u->by_who : "", u->by_who ? strlen(u->by_who) : 0);
            wd_buf_adds(b, ",\"reason\":");
            json_opt(b, u->by_reason);
            wd_buf_adds(b, ",\"expires\":");
            json_ts(b, u->by_expire);
            wd_buf_addc(b, '}');
            kept++;
        } else if (u->by_rule) {
            wd_buf_adds(b, ",\"result\":\"kept\",\"kept_by\":{\"rule\":");
            wd_buf_json_str(b, u->by_rule, strlen(u->by_rule));
            wd_buf_printf(b, ",\"version\":%d,\"expires\":", u->by_version);
            json_ts(b, u->by_expire);
            wd_buf_addc(b, '}');
            kept++;
        } else {
            wd_buf_adds(b, ",\"result\":\"removed\"");
            removed++;
        }
        wd_buf_addc(b, '}');
    }
    wd_buf_printf(b, "],\"removed\":%" PRIu64 ",\"kept\":%" PRIu64 ",\"expired\":%" PRIu64
                     ",\"unreadable\":%" PRIu64 ",\"note\":",
                  removed, kept, expired, ls->unreadable);
    json_opt(b, note);
    wd_buf_addc(b, '}');
}

/* Produces the revocations in one transaction under warden-undo.ID.
 * Returns 0 when committed, -1 (aborted: nothing visible) with a message. */
static int produce(const wd_config_t *cfg, undo_t *u, const char *topic, char *err, size_t n)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char txn[80];
    snprintf(txn, sizeof txn, "warden-undo.%s", u->id);
    if (wd_config_kafka_apply(cfg, conf, err, n) != 0 ||
        rd_kafka_conf_set(conf, "transactional.id", txn, err, n) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", err, n) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, n);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    int rc = -1;
    rd_kafka_error_t *e = rd_kafka_init_transactions(rk, 30000);
    if (!e)
        e = rd_kafka_begin_transaction(rk);
    if (e) {
        snprintf(err, n, "kafka transaction %s: %s", txn, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        goto done;
    }
    const char *key = u->keys.data, *line = u->lines.data;
    for (size_t i = 0; i < u->nrows; i++) {
        const char *nl = strchr(line, '\n');
        size_t klen = strlen(key);
        rd_kafka_resp_err_t pe;
        do {
            pe = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, klen),
                                   RD_KAFKA_V_VALUE((void *)line, (size_t)(nl - line)),
                                   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                   RD_KAFKA_V_HEADER("warden.undo", u->id, -1), RD_KAFKA_V_END);
            if (pe == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(rk, 100);
        } while (pe == RD_KAFKA_RESP_ERR__QUEUE_FULL);
        if (pe) {
            snprintf(err, n, "produce to %s: %s", topic, rd_kafka_err2str(pe));
            e = rd_kafka_abort_transaction(rk, 30000);
            if (e)
                rd_kafka_error_destroy(e);
            goto done;
        }
        key += klen + 1;
        line = nl + 1;
    }
    e = rd_kafka_commit_transaction(rk, 60000);
    if (e) {
        snprintf(err, n, "kafka commit %s: %s", txn, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        e = rd_kafka_abort_transaction(rk, 30000);
        if (e)
            rd_kafka_error_destroy(e);
        goto done;
    }
    rc = 0;
done:
    rd_kafka_destroy(rk);
    return rc;
}

static void print_report(const undo_t *u, int as_json, int dry, const char *state, int64_t from,
                         int64_t to, const wd_buf_t *labels)
{
    if (as_json) {
        wd_buf_t b = WD_BUF_INIT;
        wd_buf_adds(&b, "{\"undo_id\":");
        wd_buf_json_str(&b, u->id, strlen(u->id));
        wd_buf_adds(&b, ",\"rule\":");
        wd_buf_json_str(&b, u->rule, strlen(u->rule));
        wd_buf_adds(&b, ",\"version\":");
        if (u->version >= 0)
            wd_buf_printf(&b, "%d", u->version);
        else
            wd_buf_adds(&b, "null");
        wd_buf_adds(&b, ",\"from\":\"");
        wd_buf_rfc3339(&b, from);
        wd_buf_adds(&b, "\",\"to\":\"");
        wd_buf_rfc3339(&b, to);
        wd_buf_printf(&b, "\",\"dry_run\":%s,\"state\":\"%s\",\"revoked\":%" PRIu64 ",\"kept\":%" PRIu64
                          ",\"labels\":",
                      dry ? "true" : "false", state, u->revoked, u->kept);
        if (labels && labels->len)
            wd_buf_add(&b, labels->data, labels->len);
        else
            wd_buf_adds(&b, "null");
        wd_buf_adds(&b, ",\"actions\":[");
        if (u->report.len)
            wd_buf_add(&b, u->report.data, u->report.len);
        wd_buf_adds(&b, "]}\n");
        fwrite(b.data, 1, b.len, stdout);
        wd_buf_free(&b);
        return;
    }
    printf("undo %s: rule %s", u->id, u->rule);
    if (u->version >= 0)
        printf(" version %d", u->version);
    printf(": %s%" PRIu64 " actions revoked, %" PRIu64 " revoked on entities other rules also acted on "
           "(those keep the other rules' action)\n",
           dry ? "dry run, would revoke: " : strcmp(state, "already done") == 0 ? "already done earlier: " : "",
           u->revoked, u->kept);
    if (labels && labels->len) {
        json_t *j = json_loadb(labels->data, labels->len, JSON_ALLOW_NUL, NULL);
        printf("labels: %" JSON_INTEGER_FORMAT " removed, %" JSON_INTEGER_FORMAT " kept (another rule or an analyst "
               "also set them), %" JSON_INTEGER_FORMAT " expired already\n",
               json_integer_value(json_object_get(j, "removed")), json_integer_value(json_object_get(j, "kept")),
               json_integer_value(json_object_get(j, "expired")));
        json_decref(j);
    }
}

int cmd_undo(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "rule", required_argument, NULL, 'r' },
        { "version", required_argument, NULL, 'v' },
        { "from", required_argument, NULL, 'f' },
        { "to", required_argument, NULL, 't' },
        { "dry-run", no_argument, NULL, 'n' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *config = NULL, *from_s = NULL, *to_s = NULL;
    int dry = 0, as_json = 0, c;
    undo_t u;
    memset(&u, 0, sizeof(u));
    ulabels_t ls;
    memset(&ls, 0, sizeof(ls));
    wd_buf_t lrep = WD_BUF_INIT;
    cmd_control_t *ctl = NULL;
    u.version = -1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", lopts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'r': u.rule = optarg; break;
        case 'v': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 0 || v > 1000000000) {
                fprintf(stderr, "warden undo: --version wants a non-negative integer, got '%s'\n", optarg);
                return CMD_EXIT_USAGE;
            }
            u.version = (int)v;
            break;
        }
        case 'f': from_s = optarg; break;
        case 't': to_s = optarg; break;
        case 'n': dry = 1; break;
        case 'j': as_json = 1; break;
        case 'h': usage(stdout); return CMD_EXIT_OK;
        default: usage(stderr); return CMD_EXIT_USAGE;
        }
    }
    int64_t from = 0, to = 0;
    if (!config || !u.rule || !from_s || !to_s || optind != argc) {
        fprintf(stderr, "warden undo: -c, --rule, --from and --to are required\n\n");
        usage(stderr);
        return CMD_EXIT_USAGE;
    }
    if (wd_parse_rfc3339(from_s, strlen(from_s), &from) != 0 || wd_parse_rfc3339(to_s, strlen(to_s), &to) != 0 ||
        from >= to) {
        fprintf(stderr, "warden undo: --from and --to must be RFC 3339 times, --from before --to\n");
        return CMD_EXIT_USAGE;
    }
    static char err[8192];
    wd_config_t *cfg = wd_config_load(config, dry ? 0 : WD_CONFIG_NEED_KAFKA, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "%s", err);
        return CMD_EXIT_LOAD;
    }
    const char *live = wd_config_str(cfg, "run.run_id");
    char ident[600];
    snprintf(ident, sizeof ident, "undo\n%s\n%d\n%" PRId64 "\n%" PRId64 "\n%s", u.rule, u.version, from, to, live);
    char hex[65];
    wd_sha256_hex(ident, strlen(ident), hex);
    memcpy(u.id, hex, 32);
    u.id[32] = '\0';
    snprintf(u.run_id, sizeof u.run_id, "undo:%s", u.id);

    int rc = CMD_EXIT_LOAD;
    store_reader_t *rd = NULL;
    store_t *st = NULL;
    char status[32];
    uint64_t done_rev = 0, done_kept = 0;
    const char *url = wd_config_str(cfg, "store");
    if (store_reader_open(&rd, url, err, sizeof err) != 0 ||
        store_read_undo(rd, u.id, status, sizeof status, &done_rev, &done_kept, err, sizeof err) != 0) {
        fprintf(stderr, "warden undo: %s\n", err);
        goto done;
    }
    if (strcmp(status, "done") == 0) {
        u.revoked = done_rev;
        u.kept = done_kept;
        print_report(&u, as_json, dry, "already done", from, to, NULL);
        rc = CMD_EXIT_OK;
        goto done;
    }
    if (strcmp(status, "committing") == 0) {
        fprintf(stderr, "warden undo: undo %s was interrupted between its Kafka commit and its record: its "
                        "revocations may or may not be on %s (header warden.undo=%s); check the topic, then "
                        "set undo_runs.status to 'done' or 'aborted' for it (docs/operations.md, Undo)\n",
                u.id, wd_config_str(cfg, "run.actions_topic"), u.id);
        goto done;
    }
    if (store_read_rule_actions(rd, u.rule, u.version, from, to, live, on_item, &u, err, sizeof err) != 0) {
        fprintf(stderr, "warden undo: %s\n", err);
        goto done;
    }
    /* The labels: what the undone hits set, what else holds them. */
    ls.rule = u.rule;
    ls.version = u.version;
    ls.from = from;
    ls.to = to;
    ls.t = (int64_t)time(NULL) * 1000;
    err[0] = '\0';
    if (store_read_rule_labels(rd, u.rule, u.version, from, to, live, on_label_hit, &ls, err, sizeof err) != 0) {
        fprintf(stderr, "warden undo: %s\n", err[0] ? err : "out of memory");
        goto done;
    }
    const char *note = NULL;
    char cerr[1024];
    if (ls.n) {
        ctl = cmd_control_open(cfg, 0, dry, cerr, sizeof cerr);
        if (!ctl && !dry) {
            fprintf(stderr, "warden undo: control topic %s: %s (the labels are removed through it)\n",
                    wd_config_str(cfg, "run.control_topic"), cerr);
            goto done;
        }
        if (!ctl)
            note = "manual labels not checked: the control topic could not be read";
    }
    for (size_t i = 0; i < ls.n; i++) {
        ls.cur = &ls.v[i];
        if (ls.v[i].expire <= ls.t)
            continue;
        err[0] = '\0';
        if (store_read_entity(rd, NULL, ls.v[i].entity, ls.v[i].elen, INT64_MIN, live, on_entity_hit, &ls, err,
                              sizeof err) != 0) {
            fprintf(stderr, "warden undo: %s\n", err[0] ? err : "out of memory");
            goto done;
        }
        manual_at(ctl ? cmd_control_overlay(ctl) : NULL, &ls.v[i], ls.t);
    }
    labels_json(&lrep, &ls, ls.t, note);
    if (dry) {
        print_report(&u, as_json, 1, "dry run", from, to, &lrep);
        rc = CMD_EXIT_OK;
        goto done;
    }
    if (store_write_undo(rd, u.id, u.rule, u.version, from, to, "committing", u.revoked, u.kept, err,
                         sizeof err) != 0) {
        fprintf(stderr, "warden undo: %s\n", err);
        goto done;
    }
    /* The label deletions first: a failure aborts before any revocation;
     * an undo aborted after them removed the labels, and its rerun writes
     * the same deletions again (the same effect). */
    uint64_t lremoved = 0;
    wd_buf_t lkey = WD_BUF_INIT, lval = WD_BUF_INIT, laudit = WD_BUF_INIT;
    int lfail = 0;
    for (size_t i = 0; i < ls.n && !lfail; i++) {
        if (!label_removed(&ls.v[i], ls.t))
            continue;
        label_record(&u, &ls.v[i], ls.t, &lkey, &lval);
        int64_t off = -1;
        if (cmd_control_put(ctl, lkey.data, lkey.len, lval.data, lval.len, &off, err, sizeof err) != 0) {
            lfail = 1;
            break;
        }
        lremoved++;
        wd_buf_reset(&laudit);
        wd_buf_adds(&laudit, "ok {\"key\":");
        wd_buf_json_str(&laudit, lkey.data, lkey.len);
        wd_buf_adds(&laudit, ",\"value\":");
        wd_buf_add(&laudit, lval.data, lval.len);
        wd_buf_addc(&laudit, '}');
        char cut[129], e2[512];
        snprintf(cut, sizeof cut, "%s", lkey.data);
        if (adm_audit_append(wd_config_str(cfg, "admin.audit_file"), NULL, "label.delete", cut, NULL, "del",
                             laudit.data, 200, e2, sizeof e2) != 0)
            fprintf(stderr, "warden undo: %s\n", e2);
    }
    wd_buf_free(&lkey);
    wd_buf_free(&lval);
    wd_buf_free(&laudit);
    if (lfail) {
        char e2[1024];
        fprintf(stderr, "warden undo: removing labels through %s: %s (aborted: nothing was revoked; rerun the "
                        "same undo)\n", cmd_control_topic(ctl), err);
        if (store_write_undo(rd, u.id, u.rule, u.version, from, to, "aborted", 0, 0, e2, sizeof e2) != 0)
            fprintf(stderr, "warden undo: %s\n", e2);
        goto done;
    }
    if (u.nrows && produce(cfg, &u, wd_config_str(cfg, "run.actions_topic"), err, sizeof err) != 0) {
        char e2[1024];
        fprintf(stderr, "warden undo: %s (aborted: nothing was revoked; rerun the same undo)\n", err);
        if (store_write_undo(rd, u.id, u.rule, u.version, from, to, "aborted", 0, 0, e2, sizeof e2) != 0)
            fprintf(stderr, "warden undo: %s\n", e2);
        goto done;
    }
    /* Committed: the revocations into actions (run_id undo:ID), then done. */
    if (store_open(&st, url, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "warden undo: %s\n", err);
        goto done;
    }
    for (size_t i = 0; i < u.nrows; i++) {
        if (store_write_action(st, &u.rows[i], err, sizeof err) != 0) {
            fprintf(stderr, "warden undo: %s\n", err);
            goto done;
        }
    }
    char result[320], before[32];
    snprintf(result, sizeof result, "undo_id=%s revoked=%" PRIu64 " kept=%" PRIu64 " labels_removed=%" PRIu64
             " window=%s..%s", u.id, u.revoked, u.kept, lremoved, from_s, to_s);
    snprintf(before, sizeof before, u.version >= 0 ? "v%d" : "all", u.version);
    int64_t now = (int64_t)time(NULL) * 1000;
    char aid[128];
    snprintf(aid, sizeof aid, "undo:%s", u.id);
    store_audit_t sa = { aid, now, "warden-undo", NULL, "undo", u.rule, before, "revoked", result, 200 };
    if (store_audit(st, &sa, err, sizeof err) != 0 || store_close(st, err, sizeof err) != 0) {
        st = NULL;
        fprintf(stderr, "warden undo: %s\n", err);
        goto done;
    }
    st = NULL;
    if (store_write_undo(rd, u.id, u.rule, u.version, from, to, "done", u.revoked, u.kept, err,
                         sizeof err) != 0) {
        fprintf(stderr, "warden undo: %s\n", err);
        goto done;
    }
    if (adm_audit_append(wd_config_str(cfg, "admin.audit_file"), NULL, "undo", u.rule, before, "revoked",
                         result, 200, err, sizeof err) != 0) {
        fprintf(stderr, "warden undo: %s\n", err);
        goto done;
    }
    print_report(&u, as_json, 0, "done", from, to, &lrep);
    rc = CMD_EXIT_OK;
done:
    cmd_control_close(ctl);
    ulabels_free(&ls);
    wd_buf_free(&lrep);
    if (st)
        store_close(st, err, sizeof err);
    store_reader_close(rd);
    wd_config_destroy(cfg);
    for (size_t i = 0; i < u.nowned; i++)
        free(u.owned[i]);
    free(u.owned);
    free(u.rows);
    wd_buf_free(&u.lines);
    wd_buf_free(&u.keys);
    wd_buf_free(&u.report);
    return rc;
}
