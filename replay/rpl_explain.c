/* warden explain (replay/rpl_explain.h): one engine, fed the target's
 * history untraced and the target with a trace attached; the report joins
 * the trace (per rule call: reads, state asked, how it ended), the
 * engine's outcome (hits, errors, decision) and the recorded rows. */
#include "replay/rpl_explain.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/wd_alloc.h"
#include "base/wd_json.h"
#include "base/wd_lua_src.h"
#include "replay/rpl_int.h"
#include "rules/rule_counters.h"
#include "rules/rule_pack.h"
#include "rules/rule_trace.h"
#include "rules/rule_types.h"

typedef struct rec_row {
    char  *rule, *mode, *verdict, *entity, *reason, *sha256;
    size_t entity_len, reason_len;
    int    version, has_score;
    double score;
} rec_row_t;

struct rpl_explain {
    eng_engine_t        *eng;
    eng_opts_t           eo;
    wd_json_t           *json;
    rule_trace_t        *trace;
    int64_t              warmup_ms, start_ms;
    const eng_outcome_t *out;        /* the target's (the engine's; nothing runs after it) */
    char                *source;     /* topic/partition/offset or file:line */
    uint64_t             hist, hist_rejected, hist_older;
    int64_t              hist_first_ts;
    char                *input;      /* JSON */
    char                *store, *run_id;
    rec_row_t           *rec;
    size_t               nrec;
    int                  oom;        /* a recorded row could not be kept (rpl_explain_oom) */
};

/* ---- warm-up --------------------------------------------------------------- */

/* The granularity of a window's buckets (docs/state.md). */
static int64_t granule(int64_t w)
{
    if (w <= 3600000)
        return 60000;
    if (w <= 86400000)
        return 3600000;
    return 86400000;
}

/* The longest literal ttl given to ctx.label in the pack's rule sources:
 * the last string literal inside each ctx.label( … ) call that parses as
 * a duration.  A ttl computed at run time is not seen (--warmup covers
 * it).  -1: out of memory. */
static int64_t longest_label_ttl(const rule_pack_t *p)
{
    rule_t *const *rules;
    size_t n = rule_pack_rules(p, &rules);
    int64_t max = 0;
    static const char call[] = "ctx.label(";
    for (size_t i = 0; i < n; i++) {
        const char *src = rules[i]->source;
        size_t len = rules[i]->source_len;
        unsigned char *kind = malloc(len ? len : 1);
        if (kind == NULL)
            return -1;
        wd_lua_classify(src, len, kind);
        for (const char *at = memmem(src, len, call, sizeof(call) - 1); at;
             at = memmem(at + 1, len - (size_t)(at + 1 - src), call, sizeof(call) - 1)) {
            size_t k = (size_t)(at - src);
            if (kind[k] != WD_LUA_CODE)
                continue;
            int depth = 0;
            const char *last = NULL;
            size_t last_len = 0;
            for (k += sizeof(call) - 2; k < len; k++) {
                if (kind[k] == WD_LUA_STRING && (src[k] == '"' || src[k] == '\'') &&
                    (k == 0 || kind[k - 1] != WD_LUA_STRING || src[k - 1] == src[k])) {
                    size_t e = k + 1;
                    while (e < len && kind[e] == WD_LUA_STRING && src[e] != src[k])
                        e++;
                    last = src + k + 1;
                    last_len = e - k - 1;
                    k = e;
                    continue;
                }
                if (kind[k] != WD_LUA_CODE)
                    continue;
                if (src[k] == '(')
                    depth++;
                else if (src[k] == ')' && --depth == 0)
                    break;
            }
            char d[32];
            int64_t ms;
            if (last && last_len < sizeof(d)) {
                memcpy(d, last, last_len);
                d[last_len] = '\0';
                if (rule_parse_duration(d, &ms) == 0 && ms > max)
                    max = ms;
            }
        }
        free(kind);
    }
    return max;
}

static int64_t default_warmup(eng_engine_t *e)
{
    int64_t w = rpl_longest_window(e);
    if (w > 0)
        w += granule(w);
    int64_t l = longest_label_ttl(eng_engine_pack(e));
    if (l < 0)
        return -1;
    return l > w ? l : w;
}

/* ---- life ------------------------------------------------------------------ */

rpl_explain_t *rpl_explain_new(const rpl_explain_opts_t *o, char *errstr, size_t errstr_size)
{
    rpl_explain_t *x = calloc(1, sizeof(*x));
    if (x == NULL) {
        snprintf(errstr, errstr_size, "out of memory while preparing the explanation");
        return NULL;
    }
    x->eo = o->eng;
    x->eng = eng_engine_new(&o->eng, o->rules, errstr, errstr_size);
    if (x->eng == NULL) {
        free(x);
        return NULL;
    }
    x->json = wd_json_new(0);
    x->trace = rule_trace_new();
    if (x->json == NULL || x->trace == NULL) {
        snprintf(errstr, errstr_size, "out of memory while preparing the explanation");
        rpl_explain_destroy(x);
        return NULL;
    }
    x->warmup_ms = o->warmup_ms >= 0 ? o->warmup_ms : default_warmup(x->eng);
    if (x->warmup_ms < 0) {
        snprintf(errstr, errstr_size, "out of memory while reading the rules for their label ttls");
        rpl_explain_destroy(x);
        return NULL;
    }
    x->start_ms = INT64_MIN;
    x->hist_first_ts = INT64_MIN;
    return x;
}

void rpl_explain_destroy(rpl_explain_t *x)
{
    if (x == NULL)
        return;
    eng_engine_set_trace(x->eng, NULL);
    eng_engine_destroy(x->eng);
    rule_trace_destroy(x->trace);
    wd_json_destroy(x->json);
    for (size_t i = 0; i < x->nrec; i++) {
        rec_row_t *r = &x->rec[i];
        free(r->rule), free(r->mode), free(r->verdict), free(r->entity), free(r->reason), free(r->sha256);
    }
    free(x->rec);
    free(x->source);
    free(x->input);
    free(x->store);
    free(x->run_id);
    free(x);
}

int64_t rpl_explain_warmup_ms(const rpl_explain_t *x) { return x->warmup_ms; }
eng_engine_t *rpl_explain_engine(rpl_explain_t *x) { return x->eng; }

static int event_time(rpl_explain_t *x, const char *buf, size_t len, const eng_src_t *src, int64_t *ts)
{
    wd_jval_t root;
    char perr[256];
    const char *why;
    return wd_json_parse(x->json, buf, len, &root, perr, sizeof(perr)) == 0 &&
                   wd_jval_type(root) == WD_JOBJECT && eng_event_time(&x->eo, root, src, ts, &why) == 0
               ? 0
               : -1;
}

int rpl_explain_aim(rpl_explain_t *x, const char *buf, size_t len, const eng_src_t *src,
                    int64_t *start_ms)
{
    int64_t ts;
    if (event_time(x, buf, len, src, &ts) != 0) {
        x->start_ms = INT64_MAX;
        *start_ms = INT64_MAX;
        return 1;
    }
    x->start_ms = ts - x->warmup_ms;
    *start_ms = x->start_ms;
    return 0;
}

int rpl_explain_history(rpl_explain_t *x, const char *buf, size_t len, const eng_src_t *src,
                        char *errstr, size_t errstr_size)
{
    int64_t ts;
    /* An event without a usable time is rejected by the engine and leaves
     * the state as it was: counted as rejected, not evaluated. */
    if (event_time(x, buf, len, src, &ts) != 0) {
        x->hist++;
        x->hist_rejected++;
        return 0;
    }
    if (ts < x->start_ms) {
        x->hist_older++;
        return 0;
    }
    const eng_outcome_t *o;
    if (eng_engine_eval(x->eng, NULL, buf, len, src, &o) != 0) {
        snprintf(errstr, errstr_size, "internal error evaluating an event (out of memory)");
        return -1;
    }
    x->hist++;
    if (o->status == ENG_EVENT_REJECTED)
        x->hist_rejected++;
    if (x->hist_first_ts == INT64_MIN || ts < x->hist_first_ts)
        x->hist_first_ts = ts;
    return 0;
}

static char *source_of(const eng_src_t *src)
{
    char b[1200];
    if (src && src->topic)
        snprintf(b, sizeof(b), "%s/%" PRId32 "/%" PRId64, src->topic, src->partition, src->offset);
    else if (src && src->file)
        snprintf(b, sizeof(b), "%s:%ld", src->file, src->line);
    else
        snprintf(b, sizeof(b), "-");
    return strdup(b);
}

int rpl_explain_target(rpl_explain_t *x, const char *buf, size_t len, const eng_src_t *src,
                       char *errstr, size_t errstr_size)
{
    rule_trace_clear(x->trace);
    eng_engine_set_trace(x->eng, x->trace);
    int rc = eng_engine_eval(x->eng, NULL, buf, len, src, &x->out);
    eng_engine_set_trace(x->eng, NULL);
    free(x->source);
    x->source = source_of(src);
    if (rc != 0) {
        x->out = NULL;
        snprintf(errstr, errstr_size, "internal error evaluating the event (out of memory)");
        return -1;
    }
    return 0;
}

const char *rpl_explain_event_id(const rpl_explain_t *x) { return x->out ? x->out->event_id : NULL; }

void rpl_explain_set_input(rpl_explain_t *x, const char *json)
{
    free(x->input);
    x->input = json ? strdup(json) : NULL;
}

void rpl_explain_set_store(rpl_explain_t *x, const char *store, const char *run_id)
{
    free(x->store);
    free(x->run_id);
    x->store = strdup(store);
    x->run_id = strdup(run_id);
}

int rpl_explain_recorded(void *ud, const store_result_t *row)
{
    rpl_explain_t *x = ud;
    rec_row_t *r = realloc(x->rec, (x->nrec + 1) * sizeof(*r));
    if (r == NULL) {
        x->oom = 1;
        return 1;   /* stop; rpl_explain_oom says why */
    }
    x->rec = r;
    r = &x->rec[x->nrec++];
    r->rule = strdup(row->rule ? row->rule : "");
    r->mode = strdup(row->mode);
    r->verdict = strdup(row->verdict);
    r->entity = row->entity ? wd_strndup(row->entity, row->entity_len) : NULL;
    r->entity_len = row->entity_len;
    r->reason = row->reason ? wd_strndup(row->reason, row->reason_len) : NULL;
    r->reason_len = row->reason_len;
    r->sha256 = row->rule_sha256 ? strdup(row->rule_sha256) : NULL;
    r->version = row->version;
    r->has_score = row->has_score;
    r->score = row->score;
    if (!r->rule || !r->mode || !r->verdict || (row->entity && !r->entity) || (row->reason && !r->reason) ||
        (row->rule_sha256 && !r->sha256)) {
        x->oom = 1;
        return 1;
    }
    return 0;
}

int rpl_explain_oom(const rpl_explain_t *x) { return x->oom; }

/* ---- the comparison ------------------------------------------------------- */

static const eng_hit_t *hit_of(const eng_outcome_t *o, const char *rule)
{
    for (size_t i = 0; o && i < o->nhits; i++)
        if (strcmp(o->hits[i].rule, rule) == 0)
            return &o->hits[i];
    return NULL;
}

static const char *error_of(const eng_outcome_t *o, const char *rule)
{
    for (size_t i = 0; o && i < o->nerrors; i++)
        if (strcmp(o->errors[i].rule, rule) == 0)
            return o->errors[i].message;
    return NULL;
}

static const rec_row_t *rec_of(const rpl_explain_t *x, const char *rule)
{
    for (size_t i = 0; i < x->nrec; i++)
        if (strcmp(x->rec[i].rule, rule) == 0)
            return &x->rec[i];
    return NULL;
}

static int same_bytes(const char *a, size_t al, const char *b, size_t bl)
{
    if (a == NULL || b == NULL)
        return a == b || (a == NULL && bl == 0) || (b == NULL && al == 0);
    return al == bl && memcmp(a, b, al) == 0;
}

/* Appends the differences between a hit and its recorded row to b as a
 * JSON array's members (json) or "; "-separated text.  Returns how many. */
static int differences(const eng_hit_t *h, const rec_row_t *r, const rule_t *def, int json, wd_buf_t *b)
{
    int n = 0;
#define DIFF(...) do { if (n++) wd_buf_adds(b, json ? "," : "; "); \
                       wd_buf_t t_ = WD_BUF_INIT; wd_buf_printf(&t_, __VA_ARGS__); \
                       if (json) wd_buf_json_str(b, t_.data, t_.len); else wd_buf_add(b, t_.data, t_.len); \
                       wd_buf_free(&t_); } while (0)
    if (h == NULL && r == NULL)
        return 0;
    if (h == NULL) {
        DIFF("recorded a %s hit, explain made none", r->verdict);
        return n;
    }
    if (r == NULL) {
        DIFF("explain made a %s hit, none was recorded", rule_verdict_name(h->verdict));
        return n;
    }
    if (strcmp(rule_verdict_name(h->verdict), r->verdict) != 0)
        DIFF("verdict: recorded %s, explain %s", r->verdict, rule_verdict_name(h->verdict));
    if (!same_bytes(h->entity, h->entity_len, r->entity, r->entity_len))
        DIFF("entity: recorded %.*s, explain %.*s", (int)r->entity_len, r->entity, (int)h->entity_len,
             h->entity);
    if (!same_bytes(h->reason, h->reason_len, r->reason, r->reason_len))
        DIFF("reason: recorded %.*s, explain %.*s", (int)r->reason_len, r->reason ? r->reason : "",
             (int)h->reason_len, h->reason ? h->reason : "");
    if (h->has_score != r->has_score || (h->has_score && h->score != r->score))
        DIFF("score: recorded %.17g, explain %.17g", r->has_score ? r->score : 0.0,
             h->has_score ? h->score : 0.0);
    if (h->version != r->version)
        DIFF("version: recorded %d, explain's pack %d", r->version, h->version);
    if (strcmp(rule_mode_name(h->mode), r->mode) != 0)
        DIFF("mode: recorded %s, explain %s", r->mode, rule_mode_name(h->mode));
    if (r->sha256 && def && strcmp(r->sha256, def->sha256) != 0)
        DIFF("sha256: recorded %s, explain's pack %s", r->sha256, def->sha256);
#undef DIFF
    return n;
}

int rpl_explain_reproduced(const rpl_explain_t *x)
{
    if (x->store == NULL)
        return -1;
    const rule_trace_call_t *calls;
    size_t nc = rule_trace_calls(x->trace, &calls);
    wd_buf_t scratch = WD_BUF_INIT;
    int ok = 1;
    for (size_t i = 0; i < nc && ok; i++)
        ok = differences(hit_of(x->out, calls[i].rule), rec_of(x, calls[i].rule),
                         eng_engine_rule(x->eng, calls[i].rule), 1, &scratch) == 0;
    wd_buf_free(&scratch);
    /* A recorded hit of a rule that did not run on this event. */
    for (size_t r = 0; r < x->nrec && ok; r++) {
        int ran = 0;
        for (size_t i = 0; i < nc && !ran; i++)
            ran = strcmp(calls[i].rule, x->rec[r].rule) == 0;
        ok = ran;
    }
    return ok;
}

/* ---- reports -------------------------------------------------------------- */

static const char *call_status(int st)
{
    switch (st) {
    case RULE_CALL_OK: return "ok";
    case RULE_CALL_ERROR: return "error";
    case RULE_CALL_TIMEOUT: return "budget";
    case RULE_CALL_OOM: return "memory";
    default: return "running";
    }
}

static const char *event_status(const eng_outcome_t *o)
{
    if (o == NULL)
        return "missing";
    return o->status == ENG_EVENT_REJECTED ? "rejected" : o->status == ENG_EVENT_UNROUTED ? "unrouted" : "ok";
}

static void json_strn(wd_buf_t *b, const char *s, size_t n)
{
    if (s == NULL)
        wd_buf_adds(b, "null");
    else
        wd_buf_json_str(b, s, n);
}

static void json_cstr(wd_buf_t *b, const char *s) { json_strn(b, s, s ? strlen(s) : 0); }

static void json_ts(wd_buf_t *b, int64_t ms)
{
    if (ms == INT64_MIN || ms == INT64_MAX) {
        wd_buf_adds(b, "null");
        return;
    }
    wd_buf_addc(b, '"');
    wd_buf_rfc3339(b, ms);
    wd_buf_addc(b, '"');
}

static void json_hit(wd_buf_t *b, const eng_hit_t *h)
{
    if (h == NULL) {
        wd_buf_adds(b, "null");
        return;
    }
    wd_buf_printf(b, "{\"verdict\":\"%s\",\"entity\":", rule_verdict_name(h->verdict));
    json_strn(b, h->entity, h->entity_len);
    wd_buf_adds(b, ",\"reason\":");
    json_strn(b, h->reason, h->reason_len);
    wd_buf_adds(b, ",\"score\":");
    if (h->has_score)
        wd_buf_json_num(b, h->score);
    else
        wd_buf_adds(b, "null");
    wd_buf_adds(b, ",\"ttl\":");
    json_cstr(b, h->ttl);
    wd_buf_addc(b, '}');
}

static void json_rec(wd_buf_t *b, const rec_row_t *r)
{
    if (r == NULL) {
        wd_buf_adds(b, "null");
        return;
    }
    wd_buf_adds(b, "{\"rule\":");
    json_cstr(b, r->rule);
    wd_buf_printf(b, ",\"version\":%d,\"mode\":", r->version);
    json_cstr(b, r->mode);
    wd_buf_adds(b, ",\"verdict\":");
    json_cstr(b, r->verdict);
    wd_buf_adds(b, ",\"entity\":");
    json_strn(b, r->entity, r->entity_len);
    wd_buf_adds(b, ",\"reason\":");
    json_strn(b, r->reason, r->reason_len);
    wd_buf_adds(b, ",\"score\":");
    if (r->has_score)
        wd_buf_json_num(b, r->score);
    else
        wd_buf_adds(b, "null");
    wd_buf_adds(b, ",\"sha256\":");
    json_cstr(b, r->sha256);
    wd_buf_addc(b, '}');
}

/* The entries of one call of kind k (or the label kinds, k < 0). */
static void json_entries(wd_buf_t *b, const rule_trace_t *t, const rule_trace_call_t *c, int k)
{
    int first = 1;
    wd_buf_addc(b, '[');
    for (size_t i = c->first; i < c->first + c->n; i++) {
        const rule_trace_entry_t *e = rule_trace_entry(t, i);
        int label = e->kind == RULE_TRACE_HAS_LABEL || e->kind == RULE_TRACE_LABEL;
        int counter = e->kind == RULE_TRACE_COUNT || e->kind == RULE_TRACE_DISTINCT;
        if (!(k < 0 ? label : k == RULE_TRACE_COUNT ? counter : e->kind == k))
            continue;
        if (!first)
            wd_buf_addc(b, ',');
        first = 0;
        switch (e->kind) {
        case RULE_TRACE_FIELD:
            wd_buf_adds(b, "{\"path\":");
            json_cstr(b, e->name);
            wd_buf_printf(b, ",\"type\":\"%s\",\"value\":%s}", e->type, e->value);
            continue;
        case RULE_TRACE_COUNT:
        case RULE_TRACE_DISTINCT:
            wd_buf_adds(b, "{\"counter\":");
            json_cstr(b, e->name);
            wd_buf_printf(b, ",\"kind\":\"%s\",\"key\":", e->kind == RULE_TRACE_COUNT ? "count" : "distinct");
            json_strn(b, e->key, e->key_len);
            wd_buf_adds(b, ",\"window\":");
            json_cstr(b, e->window);
            if (e->error)
                wd_buf_adds(b, ",\"value\":null");
            else
                wd_buf_printf(b, ",\"value\":%" PRId64, e->num);
            break;
        case RULE_TRACE_HAS_LABEL:
        case RULE_TRACE_LABEL:
            wd_buf_printf(b, "{\"op\":\"%s\",\"entity\":", e->kind == RULE_TRACE_LABEL ? "label" : "has_label");
            json_strn(b, e->key, e->key_len);
            wd_buf_adds(b, ",\"label\":");
            json_cstr(b, e->name);
            if (e->kind == RULE_TRACE_LABEL) {
                wd_buf_adds(b, ",\"ttl\":");
                json_cstr(b, e->window);
            } else {
                wd_buf_printf(b, ",\"value\":%s", e->error ? "null" : e->num ? "true" : "false");
            }
            break;
        case RULE_TRACE_IN_LIST:
            wd_buf_adds(b, "{\"list\":");
            json_cstr(b, e->name);
            wd_buf_adds(b, ",\"value\":");
            json_strn(b, e->key, e->key_len);
            wd_buf_printf(b, ",\"found\":%s", e->error ? "null" : e->num ? "true" : "false");
            break;
        default:
            wd_buf_adds(b, "{");
            break;
        }
        wd_buf_adds(b, ",\"error\":");
        json_cstr(b, e->error);
        wd_buf_addc(b, '}');
    }
    wd_buf_addc(b, ']');
}

void rpl_explain_json(const rpl_explain_t *x, wd_buf_t *b)
{
    const eng_outcome_t *o = x->out;
    wd_buf_adds(b, "{\"event\":{\"event_id\":");
    json_cstr(b, o ? o->event_id : NULL);
    wd_buf_adds(b, ",\"source\":");
    json_cstr(b, x->source);
    wd_buf_adds(b, ",\"stream\":");
    json_cstr(b, o ? o->stream : NULL);
    wd_buf_printf(b, ",\"status\":\"%s\",\"reason\":", event_status(o));
    json_cstr(b, o && o->status == ENG_EVENT_REJECTED ? o->reject_reason : NULL);
    wd_buf_adds(b, ",\"event_ts\":");
    json_ts(b, o ? o->event_ts_ms : INT64_MIN);
    wd_buf_printf(b, "},\"history\":{\"warmup_ms\":%" PRId64 ",\"from\":", x->warmup_ms);
    json_ts(b, x->start_ms);
    wd_buf_printf(b, ",\"events\":%" PRIu64 ",\"rejected\":%" PRIu64 ",\"skipped_older\":%" PRIu64
                  ",\"input\":%s},\"pack\":{\"rules\":",
                  x->hist, x->hist_rejected, x->hist_older, x->input ? x->input : "null");
    const rule_pack_t *pack = eng_engine_pack(x->eng);
    json_cstr(b, rule_pack_dir(pack));
    wd_buf_adds(b, ",\"pack_sha256\":");
    json_cstr(b, eng_engine_pack_hash(x->eng));
    wd_buf_adds(b, "},\"rules\":[");
    const rule_trace_call_t *calls;
    size_t nc = rule_trace_calls(x->trace, &calls);
    for (size_t i = 0; i < nc; i++) {
        const rule_trace_call_t *c = &calls[i];
        const rule_t *def = eng_engine_rule(x->eng, c->rule);
        const eng_hit_t *h = hit_of(o, c->rule);
        const rec_row_t *r = rec_of(x, c->rule);
        if (i)
            wd_buf_addc(b, ',');
        wd_buf_adds(b, "{\"rule\":");
        json_cstr(b, c->rule);
        wd_buf_printf(b, ",\"version\":%ld,\"mode\":\"%s\",\"sha256\":", def ? def->version : 0L,
                      rule_mode_name(def ? def->mode : RULE_MODE_OFF));
        json_cstr(b, def ? def->sha256 : NULL);
        wd_buf_adds(b, ",\"file\":");
        json_cstr(b, def ? def->file : NULL);
        wd_buf_printf(b, ",\"status\":\"%s\",\"error\":", call_status(c->status));
        json_cstr(b, error_of(o, c->rule));
        wd_buf_adds(b, ",\"fields\":");
        json_entries(b, x->trace, c, RULE_TRACE_FIELD);
        wd_buf_adds(b, ",\"counters\":");
        json_entries(b, x->trace, c, RULE_TRACE_COUNT);
        wd_buf_adds(b, ",\"labels\":");
        json_entries(b, x->trace, c, -1);
        wd_buf_adds(b, ",\"lists\":");
        json_entries(b, x->trace, c, RULE_TRACE_IN_LIST);
        wd_buf_printf(b, ",\"trace_dropped\":%zu,\"result\":", c->dropped);
        json_hit(b, h);
        if (x->store) {
            wd_buf_adds(b, ",\"recorded\":");
            json_rec(b, r);
            wd_buf_adds(b, ",\"differences\":[");
            int nd = differences(h, r, def, 1, b);
            wd_buf_printf(b, "],\"reproduced\":%s}", nd ? "false" : "true");
        } else {
            wd_buf_adds(b, ",\"recorded\":null,\"differences\":[],\"reproduced\":null}");
        }
    }
    wd_buf_adds(b, "],\"recorded_elsewhere\":[");
    int first = 1;
    for (size_t r = 0; r < x->nrec; r++) {
        int ran = 0;
        for (size_t i = 0; i < nc && !ran; i++)
            ran = strcmp(calls[i].rule, x->rec[r].rule) == 0;
        if (ran)
            continue;
        if (!first)
            wd_buf_addc(b, ',');
        first = 0;
        json_rec(b, &x->rec[r]);
    }
    wd_buf_printf(b, "],\"hits\":%zu,\"decision\":", o ? o->nhits : 0);
    if (o && o->decision != RULE_VERDICT_NONE) {
        wd_buf_printf(b, "{\"verdict\":\"%s\",\"entity\":", rule_verdict_name(o->decision));
        json_strn(b, o->decision_entity, o->decision_entity_len);
        wd_buf_adds(b, ",\"rules\":[");
        for (size_t i = 0; i < o->ndecision_rules; i++) {
            if (i)
                wd_buf_addc(b, ',');
            json_cstr(b, o->decision_rules[i]);
        }
        wd_buf_adds(b, "]}");
    } else {
        wd_buf_adds(b, "null");
    }
    wd_buf_adds(b, ",\"store\":");
    if (x->store) {
        wd_buf_adds(b, "{\"url\":");
        json_cstr(b, x->store);
        wd_buf_adds(b, ",\"run_id\":");
        json_cstr(b, x->run_id);
        wd_buf_printf(b, ",\"rows\":%zu}", x->nrec);
    } else {
        wd_buf_adds(b, "null");
    }
    int rp = rpl_explain_reproduced(x);
    wd_buf_printf(b, ",\"reproduced\":%s}\n", rp < 0 ? "null" : rp ? "true" : "false");
}

/* ---- text ----------------------------------------------------------------- */

static void text_dur(wd_buf_t *b, int64_t ms)
{
    if (ms <= 0) {
        wd_buf_adds(b, "0");
        return;
    }
    static const struct { int64_t ms; const char *u; } units[] = {
        { 86400000, "d" }, { 3600000, "h" }, { 60000, "m" }, { 1000, "s" }, { 1, "ms" },
    };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (ms >= units[i].ms) {
            wd_buf_printf(b, "%" PRId64 "%s", ms / units[i].ms, units[i].u);
            ms %= units[i].ms;
        }
}

static void text_hit(wd_buf_t *b, const char *verdict, const char *ent, size_t el, const char *reason,
                     size_t rl, int has_score, double score)
{
    wd_buf_printf(b, "%s entity ", verdict);
    json_strn(b, ent, el);
    if (reason) {
        wd_buf_adds(b, " reason ");
        json_strn(b, reason, rl);
    }
    if (has_score) {
        wd_buf_adds(b, " score ");
        wd_buf_json_num(b, score);
    }
}

void rpl_explain_text(const rpl_explain_t *x, wd_buf_t *b)
{
    const eng_outcome_t *o = x->out;
    if (o == NULL) {
        wd_buf_adds(b, "no event evaluated\n");
        return;
    }
    wd_buf_printf(b, "event %s", o->event_id ? o->event_id : "?");
    if (o->stream)
        wd_buf_printf(b, " (stream %s)", o->stream);
    if (o->event_ts_ms != INT64_MIN) {
        wd_buf_adds(b, " at ");
        wd_buf_rfc3339(b, o->event_ts_ms);
    }
    wd_buf_printf(b, ", from %s\n", x->source ? x->source : "-");
    if (o->status == ENG_EVENT_REJECTED) {
        wd_buf_printf(b, "REJECTED: %s\n(warden eval counts it as rejected; warden run sends it to the "
                      "dead-letter topic with this as warden.reason.  No rule ran.)\n",
                      o->reject_reason ? o->reject_reason : "?");
        return;
    }
    if (o->status == ENG_EVENT_UNROUTED) {
        wd_buf_printf(b, "UNROUTED: no rule or counter of the pack uses stream '%s' (warden run sends "
                      "it to the dead-letter topic).  No rule ran.\n", o->stream ? o->stream : "?");
        return;
    }
    wd_buf_printf(b, "history: %" PRIu64 " events evaluated from ", x->hist);
    if (x->start_ms == INT64_MIN || x->start_ms == INT64_MAX)
        wd_buf_adds(b, "the start");
    else
        wd_buf_rfc3339(b, x->start_ms);
    wd_buf_adds(b, " (warm-up ");
    text_dur(b, x->warmup_ms);
    wd_buf_printf(b, "), %" PRIu64 " of them rejected, %" PRIu64 " older events skipped\n",
                  x->hist_rejected, x->hist_older);
    wd_buf_printf(b, "pack: %s (sha256 %s)\n", rule_pack_dir(eng_engine_pack(x->eng)),
                  eng_engine_pack_hash(x->eng));
    if (x->store)
        wd_buf_printf(b, "recorded: %zu hit(s) under run_id %s in %s\n", x->nrec, x->run_id, x->store);
    const rule_trace_call_t *calls;
    size_t nc = rule_trace_calls(x->trace, &calls);
    for (size_t i = 0; i < nc; i++) {
        const rule_trace_call_t *c = &calls[i];
        const rule_t *def = eng_engine_rule(x->eng, c->rule);
        const eng_hit_t *h = hit_of(o, c->rule);
        const rec_row_t *r = rec_of(x, c->rule);
        wd_buf_printf(b, "\nrule %s v%ld (%s) sha256 %s%s%s\n", c->rule, def ? def->version : 0L,
                      rule_mode_name(def ? def->mode : RULE_MODE_OFF), def ? def->sha256 : "?",
                      def ? ", " : "", def ? def->file : "");
        for (size_t k = c->first; k < c->first + c->n; k++) {
            const rule_trace_entry_t *e = rule_trace_entry(x->trace, k);
            switch (e->kind) {
            case RULE_TRACE_FIELD:
                wd_buf_printf(b, "  read     ev.%s = %s (%s)\n", e->name,
                              strcmp(e->type, "object") == 0 ? "{…}" : strcmp(e->type, "array") == 0 ? "[…]" : e->value,
                              e->type);
                continue;
            case RULE_TRACE_COUNT:
            case RULE_TRACE_DISTINCT:
                wd_buf_printf(b, "  %-8s %s[", e->kind == RULE_TRACE_COUNT ? "count" : "distinct", e->name);
                json_strn(b, e->key, e->key_len);
                wd_buf_printf(b, "] over %s", e->window ? e->window : "?");
                if (!e->error)
                    wd_buf_printf(b, " = %" PRId64, e->num);
                break;
            case RULE_TRACE_HAS_LABEL:
                wd_buf_adds(b, "  label?   ");
                json_strn(b, e->key, e->key_len);
                wd_buf_printf(b, " has %s: %s", e->name, e->num ? "yes" : "no");
                break;
            case RULE_TRACE_LABEL:
                wd_buf_adds(b, "  label!   ");
                json_strn(b, e->key, e->key_len);
                wd_buf_printf(b, " set %s for %s (seen from the next event)", e->name, e->window ? e->window : "?");
                break;
            case RULE_TRACE_IN_LIST:
                wd_buf_printf(b, "  list     %s contains ", e->name);
                json_strn(b, e->key, e->key_len);
                wd_buf_printf(b, ": %s", e->num ? "yes" : "no");
                break;
            default:
                break;
            }
            if (e->error)
                wd_buf_printf(b, " -> error: %s", e->error);
            wd_buf_addc(b, '\n');
        }
        if (c->dropped)
            wd_buf_printf(b, "  (%zu more reads not kept)\n", c->dropped);
        if (c->status != RULE_CALL_OK) {
            const char *m = error_of(o, c->rule);
            wd_buf_printf(b, "  %s: %s\n", c->status == RULE_CALL_TIMEOUT ? "KILLED (budget)"
                                           : c->status == RULE_CALL_OOM ? "KILLED (memory)" : "ERROR",
                          m ? m : "?");
        } else if (h) {
            wd_buf_adds(b, "  returned ");
            text_hit(b, rule_verdict_name(h->verdict), h->entity, h->entity_len, h->reason, h->reason_len,
                     h->has_score, h->score);
            if (h->ttl)
                wd_buf_printf(b, " ttl %s", h->ttl);
            wd_buf_addc(b, '\n');
        } else {
            wd_buf_adds(b, "  returned no hit\n");
        }
        if (x->store) {
            if (r) {
                wd_buf_adds(b, "  recorded ");
                text_hit(b, r->verdict, r->entity, r->entity_len, r->reason, r->reason_len, r->has_score,
                         r->score);
                wd_buf_addc(b, '\n');
            } else {
                wd_buf_adds(b, "  recorded no hit\n");
            }
            wd_buf_t d = WD_BUF_INIT;
            int nd = differences(h, r, def, 0, &d);
            wd_buf_printf(b, "  reproduced: %s%s%s\n", nd ? "NO (" : "yes", nd ? d.data : "", nd ? ")" : "");
            wd_buf_free(&d);
        }
    }
    for (size_t r = 0; r < x->nrec; r++) {
        int ran = 0;
        for (size_t i = 0; i < nc && !ran; i++)
            ran = strcmp(calls[i].rule, x->rec[r].rule) == 0;
        if (!ran)
            wd_buf_printf(b, "\nrecorded %s hit of rule %s, which did not run on this event "
                          "(not in this pack, or off): reproduced: NO\n", x->rec[r].verdict, x->rec[r].rule);
    }
    wd_buf_addc(b, '\n');
    if (o->nhits == 0)
        wd_buf_printf(b, "no rule hit this event (%zu rule(s) ran)\n", nc);
    if (o->decision != RULE_VERDICT_NONE) {
        wd_buf_printf(b, "decision: %s entity ", rule_verdict_name(o->decision));
        json_strn(b, o->decision_entity, o->decision_entity_len);
        wd_buf_adds(b, " (");
        for (size_t i = 0; i < o->ndecision_rules; i++)
            wd_buf_printf(b, "%s%s", i ? ", " : "", o->decision_rules[i]);
        wd_buf_adds(b, ")\n");
    } else if (o->nhits) {
        wd_buf_adds(b, "decision: none (no enforce-mode hit)\n");
    }
    int rp = rpl_explain_reproduced(x);
    wd_buf_printf(b, "reproduced: %s\n", rp < 0 ? "no recorded hit to compare (no store)" : rp ? "yes" : "NO");
}
