/* admin/adm_rules.c — per-rule totals (accounted from the engine's stats on
 * the loop thread; they survive reloads), the /rules answers (HTTP thread,
 * under the mutex), the mode override table and the changes the loop
 * thread applies between batches: mode, mode clear, reload. */
#include "admin/adm_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/wd_log.h"
#include "rules/rule_pack.h"
#include "rules/rule_types.h"

adm_rule_t *adm_rule_get(adm_t *a, const char *name, int create)
{
    for (size_t i = 0; i < a->nrules; i++)
        if (strcmp(a->rules[i].name, name) == 0)
            return &a->rules[i];
    if (!create)
        return NULL;
    if (a->nrules == a->caprules) {
        size_t cap = a->caprules ? a->caprules * 2 : 64;
        adm_rule_t *n = realloc(a->rules, cap * sizeof(*n));
        if (!n)
            return NULL;
        a->rules = n;
        a->caprules = cap;
    }
    adm_rule_t *r = &a->rules[a->nrules];
    memset(r, 0, sizeof(*r));
    if (!(r->name = strdup(name)))
        return NULL;
    r->w_min = INT64_MIN;
    a->nrules++;
    return r;
}

adm_ovr_ent_t *adm_ovr_find(adm_t *a, const char *rule)
{
    for (size_t i = 0; i < a->novr; i++)
        if (strcmp(a->ovr[i].rule, rule) == 0)
            return &a->ovr[i];
    return NULL;
}

static void ovr_free(adm_ovr_ent_t *e)
{
    free(e->rule);
    free(e->source);
    free(e->reason);
    free(e->token);
}

void adm_ovr_set(adm_t *a, const char *rule, int mode, const char *source, const char *reason,
                 const char *token, double ts)
{
    adm_ovr_ent_t *e = adm_ovr_find(a, rule);
    if (mode < 0) {
        if (e) {
            ovr_free(e);
            *e = a->ovr[--a->novr];
        }
        return;
    }
    if (!e) {
        adm_ovr_ent_t *n = realloc(a->ovr, (a->novr + 1) * sizeof(*n));
        if (!n)
            return;
        a->ovr = n;
        e = &a->ovr[a->novr++];
        memset(e, 0, sizeof(*e));
        e->rule = strdup(rule);
    } else {
        free(e->source);
        free(e->reason);
        free(e->token);
    }
    e->mode = mode;
    e->source = strdup(source ? source : "operator");
    e->reason = reason ? strdup(reason) : NULL;
    e->token = token ? strdup(token) : NULL;
    e->ts = ts;
}

const char *adm_mode_source(adm_t *a, const char *rule)
{
    adm_ovr_ent_t *e = adm_ovr_find(a, rule);
    if (!e)
        return "file";
    return strcmp(e->source, "breaker") == 0 ? "breaker" : "override";
}

int adm_apply_mode(adm_t *a, eng_engine_t *e, const char *rule)
{
    pthread_mutex_lock(&a->mu);
    adm_ovr_ent_t *o = adm_ovr_find(a, rule);
    int mode = o ? o->mode : -1;
    pthread_mutex_unlock(&a->mu);
    return eng_engine_set_mode(e, rule, mode);
}

/* Adds what the engine counted since the last call to the totals; hits go
 * to the mode in effect (modes change only between batches, after an
 * accounting, so the split is exact). */
void adm_account(adm_t *a, eng_engine_t *e)
{
    if (!e || e != a->eng)
        return;
    const eng_rule_stats_t *st;
    size_t n = eng_engine_rule_stats(e, &st);
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < n && i < a->eng_n; i++) {
        adm_rule_t *r = &a->rules[a->eng_map[i]];
        const eng_rule_stats_t *s = &st[i], *l = &r->last;
        uint64_t de = s->evals - l->evals, derr = s->errors - l->errors;
        uint64_t dt = s->time_ns - l->time_ns;
        uint64_t dh = 0, dact = 0;
        r->evals += de;
        r->errors += derr;
        r->timeouts += s->timeouts - l->timeouts;
        r->oom += s->oom - l->oom;
        r->time_ns += dt;
        r->instr += s->instr - l->instr;
        int m = s->mode >= 0 && s->mode <= 2 ? s->mode : 0;
        for (int v = 1; v < 4; v++) {
            uint64_t d = s->hits[v] - l->hits[v];
            r->hits[m][v] += d;
            dh += d;
        }
        if (m == RULE_MODE_ENFORCE)
            dact = dh;
        for (int b = 0; b < ENG_COST_BUCKETS; b++)
            r->hist[b] += s->time_hist[b] - l->time_hist[b];
        r->mode = s->mode;
        r->pack_mode = s->pack_mode;
        r->w_evals += de;
        r->w_errors += derr;
        r->w_hits += dh;
        r->w_actions += dact;
        r->w_time_ns += dt;
        r->last = *s;
    }
    pthread_mutex_unlock(&a->mu);
}

void adm_engine_loaded(adm_t *a, eng_engine_t *e)
{
    const eng_rule_stats_t *st;
    size_t n = eng_engine_rule_stats(e, &st);
    /* Overrides first, so that the stats below carry the modes in effect. */
    pthread_mutex_lock(&a->mu);
    size_t no = a->novr;
    char **names = calloc(no ? no : 1, sizeof(char *));
    for (size_t i = 0; names && i < no; i++)
        names[i] = strdup(a->ovr[i].rule);
    pthread_mutex_unlock(&a->mu);
    for (size_t i = 0; names && i < no; i++) {
        int rc = names[i] ? adm_apply_mode(a, e, names[i]) : 0;
        if (rc == -2)
            LOG_WARN("admin: rule=%s msg=\"mode override not applied: the rule is off in its file\"", names[i]);
        free(names[i]);
    }
    free(names);
    size_t *map = calloc(n ? n : 1, sizeof(size_t));
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < a->nrules; i++)
        a->rules[i].present = 0;
    for (size_t i = 0; map && i < n; i++) {
        adm_rule_t *r = adm_rule_get(a, st[i].rule, 1);
        if (!r)
            continue;
        map[i] = (size_t)(r - a->rules);
        const rule_t *rl = eng_engine_rule(e, st[i].rule);
        r->present = 1;
        r->mode = st[i].mode;
        r->pack_mode = st[i].pack_mode;
        memset(&r->last, 0, sizeof(r->last));
        r->last.mode = st[i].mode;
        if (rl) {
            r->version = rl->version;
            memcpy(r->sha256, rl->sha256, sizeof r->sha256);
            free(r->file);
            r->file = rl->file ? strdup(rl->file) : NULL;
            free(r->source);
            r->source = rl->source ? strndup(rl->source, rl->source_len) : NULL;
        }
    }
    /* rules[] may have moved: the map holds indexes, not pointers. */
    free(a->eng_map);
    a->eng_map = map;
    a->eng_n = map ? n : 0;
    a->eng = e;
    snprintf(a->pack, sizeof a->pack, "%s", eng_engine_pack_hash(e));
    pthread_mutex_unlock(&a->mu);
}

static void rule_obj(adm_t *a, const adm_rule_t *r, wd_buf_t *b, int with_source)
{
    uint64_t hits = 0;
    for (int m = 0; m < 3; m++)
        for (int v = 1; v < 4; v++)
            hits += r->hits[m][v];
    wd_buf_adds(b, "{\"name\":");
    wd_buf_json_str(b, r->name, strlen(r->name));
    wd_buf_printf(b, ",\"version\":%ld,\"mode\":\"%s\",\"file_mode\":\"%s\",\"mode_source\":\"%s\"",
                  r->version, rule_mode_name(r->mode), rule_mode_name(r->pack_mode),
                  adm_mode_source(a, r->name));
    adm_ovr_ent_t *o = adm_ovr_find(a, r->name);
    if (o) {
        wd_buf_printf(b, ",\"override\":{\"mode\":\"%s\",\"source\":", rule_mode_name(o->mode));
        wd_buf_json_str(b, o->source, strlen(o->source));
        if (o->reason) {
            wd_buf_adds(b, ",\"reason\":");
            wd_buf_json_str(b, o->reason, strlen(o->reason));
        }
        wd_buf_adds(b, "}");
    }
    wd_buf_adds(b, ",\"file\":");
    if (r->file)
        wd_buf_json_str(b, r->file, strlen(r->file));
    else
        wd_buf_adds(b, "null");
    wd_buf_printf(b, ",\"sha256\":\"%s\",\"loaded\":%s", r->sha256, r->present ? "true" : "false");
    wd_buf_printf(b, ",\"evaluations\":%" PRIu64 ",\"hits\":%" PRIu64 ",\"errors\":%" PRIu64
                  ",\"budget_kills\":%" PRIu64 ",\"breaker_trips\":%" PRIu64,
                  r->evals, hits, r->errors, r->timeouts + r->oom, r->trips);
    wd_buf_adds(b, ",\"mean_cost\":{\"us\":");
    wd_buf_json_num(b, r->evals ? (double)r->time_ns / (double)r->evals / 1000.0 : 0.0);
    wd_buf_adds(b, ",\"instructions\":");
    wd_buf_json_num(b, r->evals ? (double)r->instr / (double)r->evals : 0.0);
    wd_buf_adds(b, "}");
    if (with_source) {
        wd_buf_adds(b, ",\"source\":");
        if (r->source)
            wd_buf_json_str(b, r->source, strlen(r->source));
        else
            wd_buf_adds(b, "null");
    }
    wd_buf_adds(b, "}");
}

void adm_rules_json(adm_t *a, wd_buf_t *b)
{
    wd_buf_adds(b, "{\"pack\":");
    wd_buf_json_str(b, a->pack, strlen(a->pack));
    wd_buf_adds(b, ",\"rules\":[");
    int first = 1;
    for (size_t i = 0; i < a->nrules; i++) {
        if (!a->rules[i].present)
            continue;
        if (!first)
            wd_buf_addc(b, ',');
        first = 0;
        rule_obj(a, &a->rules[i], b, 0);
    }
    wd_buf_adds(b, "]}\n");
}

int adm_rule_json(adm_t *a, const char *name, wd_buf_t *b)
{
    adm_rule_t *r = adm_rule_get(a, name, 0);
    if (!r || !r->present)
        return -1;
    rule_obj(a, r, b, 1);
    wd_buf_addc(b, '\n');
    return 0;
}

static void req_error(adm_req_t *q, int status, const char *msg)
{
    q->status = status;
    wd_buf_reset(&q->body);
    wd_buf_adds(&q->body, "{\"error\":");
    wd_buf_json_str(&q->body, msg, strlen(msg));
    wd_buf_adds(&q->body, "}\n");
}

/* Records a mode change: the table, the engine, the overrides topic (so
 * that it survives restarts and every process of the group follows).
 * Returns the HTTP status; the body is in q (NULL q: the breaker's). */
static int change_mode(adm_t *a, const adm_host_t *h, const char *rule, int mode, const char *source,
                       const char *reason, const char *token, adm_req_t *q)
{
    eng_engine_t *e = h->engine(h->ud);
    adm_account(a, e);
    const eng_rule_stats_t *st;
    size_t n = eng_engine_rule_stats(e, &st);
    int before = -1, file_mode = -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(st[i].rule, rule) == 0) {
            before = st[i].mode;
            file_mode = st[i].pack_mode;
        }
    const char *action = mode < 0 ? "mode_clear" : strcmp(source, "breaker") == 0 ? "auto_shadow" : "mode";
    const char *after_name = rule_mode_name(mode < 0 ? file_mode : mode);
    if (before < 0) {
        if (q)
            req_error(q, 404, "unknown rule");
        adm_audit(a, token, action, rule, NULL, mode < 0 ? NULL : after_name, "unknown rule", 404);
        return 404;
    }
    if (file_mode == RULE_MODE_OFF && mode > RULE_MODE_OFF) {
        const char *msg = "the rule is off in its file: switch it on there and reload";
        if (q)
            req_error(q, 409, msg);
        adm_audit(a, token, action, rule, rule_mode_name(before), after_name, msg, 409);
        return 409;
    }
    adm_ovr_ent_t ent = { (char *)rule, mode, (char *)source, (char *)reason, (char *)token, adm_now_unix() };
    char err[512];
    if (a->ovrt && adm_ovr_publish(a->ovrt, mode < 0 ? NULL : &ent, rule, err, sizeof err) != 0) {
        char msg[640];
        snprintf(msg, sizeof msg, "the override could not be made durable: %s", err);
        if (q)
            req_error(q, 503, msg);
        adm_audit(a, token, action, rule, rule_mode_name(before), after_name, msg, 503);
        return 503;
    }
    pthread_mutex_lock(&a->mu);
    adm_ovr_set(a, rule, mode, source, reason, token, ent.ts);
    pthread_mutex_unlock(&a->mu);
    adm_apply_mode(a, e, rule);
    adm_account(a, e);   /* the mode in the totals */
    pthread_mutex_lock(&a->mu);
    adm_rule_t *r = adm_rule_get(a, rule, 0);
    if (r) {
        r->mode = mode < 0 ? file_mode : mode;
        /* A fresh breaker window: a restored rule is judged anew. */
        r->w_evals = r->w_errors = r->w_hits = r->w_actions = r->w_time_ns = 0;
        r->last.mode = r->mode;
    }
    pthread_mutex_unlock(&a->mu);
    if (q) {
        q->status = 200;
        wd_buf_reset(&q->body);
        wd_buf_adds(&q->body, "{\"rule\":");
        wd_buf_json_str(&q->body, rule, strlen(rule));
        wd_buf_printf(&q->body, ",\"before\":\"%s\",\"after\":\"%s\",\"mode_source\":\"%s\",\"events\":%" PRIu64 "}\n",
                      rule_mode_name(before), after_name, mode < 0 ? "file" : "override", h->events);
    }
    char res[64];
    snprintf(res, sizeof res, "ok events=%" PRIu64, h->events);
    adm_audit(a, token, action, rule, rule_mode_name(before), after_name, res, 200);
    LOG_INFO("admin: rule=%s mode %s -> %s source=%s events=%" PRIu64, rule, rule_mode_name(before),
             after_name, mode < 0 ? "file" : source, h->events);
    return 200;
}

/* For the breaker (adm_breaker.c): shadow now, durable, audited. */
int adm_breaker_shadow(adm_t *a, const adm_host_t *h, const char *rule, const char *reason);
int adm_breaker_shadow(adm_t *a, const adm_host_t *h, const char *rule, const char *reason)
{
    return change_mode(a, h, rule, RULE_MODE_SHADOW, "breaker", reason, "breaker", NULL);
}

void adm_apply_req(adm_t *a, const adm_host_t *h, adm_req_t *q)
{
    if (q->kind == ADM_REQ_CONTROL) {
        adm_control_apply(a, h, q);
        return;
    }
    if (q->kind == ADM_REQ_MODE || q->kind == ADM_REQ_MODE_CLEAR) {
        change_mode(a, h, q->rule, q->kind == ADM_REQ_MODE ? q->mode : -1, "operator", NULL, q->token_id, q);
        return;
    }
    char *err = malloc(65536);
    if (!err) {
        req_error(q, 500, "out of memory");
        return;
    }
    err[0] = '\0';
    char before[65];
    pthread_mutex_lock(&a->mu);
    snprintf(before, sizeof before, "%s", a->pack);
    pthread_mutex_unlock(&a->mu);
    if (h->reload(h->ud, err, 65536) != 0) {
        q->status = 400;
        wd_buf_reset(&q->body);
        wd_buf_adds(&q->body, "{\"error\":\"the rule pack failed to load; the old pack keeps running\",\"errors\":[");
        int first = 1;
        char *save = NULL;
        for (char *line = strtok_r(err, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            if (!first)
                wd_buf_addc(&q->body, ',');
            first = 0;
            wd_buf_json_str(&q->body, line, strlen(line));
        }
        wd_buf_adds(&q->body, "],\"pack\":");
        wd_buf_json_str(&q->body, before, strlen(before));
        wd_buf_adds(&q->body, "}\n");
        adm_audit(a, q->token_id, "reload", NULL, before, NULL, "rejected", 400);
        free(err);
        return;
    }
    free(err);
    pthread_mutex_lock(&a->mu);
    q->status = 200;
    wd_buf_reset(&q->body);
    wd_buf_printf(&q->body, "{\"result\":\"ok\",\"before\":\"%s\",\"pack\":\"%s\",\"events\":%" PRIu64 "}\n",
                  before, a->pack, h->events);
    char after[65];
    snprintf(after, sizeof after, "%s", a->pack);
    pthread_mutex_unlock(&a->mu);
    adm_audit(a, q->token_id, "reload", NULL, before, after, "ok", 200);
}

void adm_publish(adm_t *a, eng_engine_t *e, const adm_run_stats_t *rs)
{
    adm_account(a, e);
    store_stats_t so;
    char serr[256] = "";
    int sok = 1;
    if (rs->store) {
        store_stats(rs->store, &so);
        sok = store_health(rs->store, serr, sizeof serr) == 0;
    }
    pthread_mutex_lock(&a->mu);
    if (!a->slots)
        a->slots = calloc(ADM_MAX_SLOTS, sizeof(adm_slot_t));
    a->rs = *rs;
    a->rs.store = NULL;
    a->rs.nslots = a->slots ? (rs->nslots < ADM_MAX_SLOTS ? rs->nslots : ADM_MAX_SLOTS) : 0;
    if (a->slots && a->rs.nslots)
        memcpy(a->slots, rs->slots, a->rs.nslots * sizeof(adm_slot_t));
    a->rs.slots = a->slots;
    if (!a->lags)
        a->lags = calloc(ADM_MAX_SLOTS, sizeof(adm_lag_t));
    a->rs.nlags = a->lags ? (rs->nlags < ADM_MAX_SLOTS ? rs->nlags : ADM_MAX_SLOTS) : 0;
    if (a->lags && a->rs.nlags)
        memcpy(a->lags, rs->lags, a->rs.nlags * sizeof(adm_lag_t));
    a->rs.lags = a->lags;
    a->rs.nstreams = rs->nstreams < ADM_MAX_TOPICS ? rs->nstreams : ADM_MAX_TOPICS;
    for (size_t i = 0; i < a->rs.nstreams; i++) {
        if (!a->streams[i] || strcmp(a->streams[i], rs->stream[i]) != 0) {
            free(a->streams[i]);
            a->streams[i] = strdup(rs->stream[i]);
        }
        a->rs.stream[i] = a->streams[i] ? a->streams[i] : "";
    }
    a->rs.ntopics = rs->ntopics < ADM_MAX_TOPICS ? rs->ntopics : ADM_MAX_TOPICS;
    for (size_t i = 0; i < a->rs.ntopics; i++) {
        if (!a->topics[i] || strcmp(a->topics[i], rs->topic[i]) != 0) {
            free(a->topics[i]);
            a->topics[i] = strdup(rs->topic[i]);
        }
        a->rs.topic[i] = a->topics[i] ? a->topics[i] : "";
    }
    a->rs.stream_field = NULL;
    a->has_store = rs->store != NULL;
    if (rs->store) {
        a->store = so;
        a->store_ok = sok;
        snprintf(a->store_err, sizeof a->store_err, "%s", serr);
    }
    a->have_stats = 1;
    pthread_mutex_unlock(&a->mu);
}
