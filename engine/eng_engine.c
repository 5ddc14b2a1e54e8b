/* The evaluation core: bytes → parsed event → stream routing → counters →
 * the stream's rules (name order) → decision.  Every command (eval, test,
 * run, replay) goes through eng_engine_eval, so they agree by construction.
 * Per event it allocates nothing in steady state: outcome arrays grow once,
 * strings go to an arena reset per event. */
#include "engine/eng_engine.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/eng_arena.h"
#include "engine/eng_json.h"
#include "engine/eng_log.h"
#include "engine/eng_lua.h"
#include "engine/eng_util.h"
#include "rules/rule_lua.h"
#include "rules/rule_pack.h"

typedef struct stream_info {
    char        *name;
    const char **fields;   /* union of declared fields, + id/ts/stream */
    size_t       nfields;
} stream_info_t;

struct eng_engine {
    eng_opts_t         opts;
    eng_lua_t         *vm;
    rule_pack_t       *pack;
    rule_ctx_t         ctx;
    eng_json_t        *json;
    eng_arena_t       *arena;
    eng_state_t       *state;       /* the engine's own; per-call override */
    eng_state_t       *cur_state;   /* the state of the event being evaluated */
    eng_outcome_t      out;
    eng_hit_t         *hits;
    eng_rule_error_t  *errors;
    const char       **drules;
    size_t             cap;         /* of hits/errors/drules: the pack's rule count */
    eng_rule_stats_t  *stats;       /* one per rule, pack order */
    stream_info_t     *streams;
    size_t             nstreams;
    const char       **stream_names;
    char               errbuf[2048];
};

const char *eng_verdict_name(int v)
{
    static const char *const n[] = { "none", "flag", "review", "block" };
    return v >= 0 && v <= 3 ? n[v] : "none";
}

const char *eng_mode_name(int m)
{
    static const char *const n[] = { "off", "shadow", "enforce" };
    return m >= 0 && m <= 2 ? n[m] : "off";
}

void eng_opts_default(eng_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->stream_field = "type";
    o->id_field = "id";
    o->ts_field = "ts";
    o->instr_budget = 1000000;
    o->mem_cap = 64u << 20;
}

static void add_field(stream_info_t *s, const char *f)
{
    for (size_t i = 0; i < s->nfields; i++)
        if (strcmp(s->fields[i], f) == 0)
            return;
    s->fields = realloc(s->fields, (s->nfields + 1) * sizeof(*s->fields));
    if (s->fields == NULL)
        abort();
    s->fields[s->nfields++] = f;
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Streams the pack uses and, per stream, the fields a pruner must keep. */
static void build_streams(eng_engine_t *e)
{
    rule_t *const *rules;
    size_t n = rule_pack_rules(e->pack, &rules);
    for (size_t i = 0; i < n; i++) {
        const rule_t *r = rules[i];
        if (r->mode == ENG_MODE_OFF)
            continue;
        for (size_t j = 0; j < r->nstreams; j++) {
            stream_info_t *s = NULL;
            for (size_t k = 0; k < e->nstreams; k++)
                if (strcmp(e->streams[k].name, r->streams[j]) == 0)
                    s = &e->streams[k];
            if (s == NULL) {
                e->streams = realloc(e->streams, (e->nstreams + 1) * sizeof(*e->streams));
                if (e->streams == NULL)
                    abort();
                s = &e->streams[e->nstreams++];
                memset(s, 0, sizeof(*s));
                s->name = r->streams[j];
                add_field(s, e->opts.id_field);
                add_field(s, e->opts.ts_field);
                add_field(s, e->opts.stream_field);
            }
            for (size_t f = 0; f < r->nfields; f++)
                add_field(s, r->fields[f]);
        }
    }
    e->stream_names = calloc(e->nstreams ? e->nstreams : 1, sizeof(char *));
    if (e->stream_names == NULL)
        abort();
    for (size_t k = 0; k < e->nstreams; k++) {
        e->stream_names[k] = e->streams[k].name;
        qsort(e->streams[k].fields, e->streams[k].nfields, sizeof(char *), cmp_cstr);
    }
    qsort(e->stream_names, e->nstreams, sizeof(char *), cmp_cstr);
}

eng_engine_t *eng_engine_new(const eng_opts_t *opts, const char *rules_dir, char *errstr,
                             size_t errstr_size)
{
    eng_engine_t *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (opts)
        e->opts = *opts;
    else
        eng_opts_default(&e->opts);
    e->vm = eng_lua_new(e->opts.mem_cap, e->opts.instr_budget, errstr, errstr_size);
    if (e->vm == NULL)
        goto fail;
    rule_lua_init(e->vm, &e->ctx);
    e->ctx.strict = e->opts.strict_fields;
    e->pack = rule_pack_load(e->vm, rules_dir, errstr, errstr_size);
    if (e->pack == NULL)
        goto fail;
    e->json = eng_json_new(0);
    e->arena = eng_arena_new();
    rule_t *const *rules;
    e->cap = rule_pack_rules(e->pack, &rules);
    e->hits = calloc(e->cap, sizeof(*e->hits));
    e->errors = calloc(e->cap, sizeof(*e->errors));
    e->drules = calloc(e->cap, sizeof(*e->drules));
    e->stats = calloc(e->cap, sizeof(*e->stats));
    if (e->json == NULL || !e->hits || !e->errors || !e->drules || !e->stats) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < e->cap; i++)
        e->stats[i].rule = rules[i]->name;
    build_streams(e);
    return e;
fail:
    eng_engine_destroy(e);
    return NULL;
}

void eng_engine_destroy(eng_engine_t *e)
{
    if (e == NULL)
        return;
    rule_pack_destroy(e->pack);
    eng_lua_destroy(e->vm);
    eng_json_destroy(e->json);
    eng_arena_destroy(e->arena);
    free(e->hits);
    free(e->errors);
    free(e->drules);
    free(e->stats);
    for (size_t i = 0; i < e->nstreams; i++)
        free(e->streams[i].fields);
    free(e->streams);
    free(e->stream_names);
    free(e);
}

eng_state_t *eng_engine_state(eng_engine_t *e) { return e->state; }

static const char *fmt_event_id(eng_engine_t *e, eng_jval_t root)
{
    eng_jval_t v;
    char buf[64];
    if (eng_jval_get(root, e->opts.id_field, strlen(e->opts.id_field), &v)) {
        if (eng_jval_type(v) == ENG_JSTRING) {
            size_t n;
            const char *s = eng_jval_str(v, &n);
            if (n > 0)
                return eng_arena_strndup(e->arena, s, n);
        } else if (eng_jval_type(v) == ENG_JINT) {
            int n = snprintf(buf, sizeof(buf), "%" PRId64, eng_jval_int(v));
            return eng_arena_strndup(e->arena, buf, (size_t)n);
        }
    }
    return NULL;
}

static const char *src_event_id(eng_engine_t *e, const eng_src_t *src)
{
    char buf[1200];
    int n;
    if (src && src->topic)
        n = snprintf(buf, sizeof(buf), "%s/%" PRId32 "/%" PRId64, src->topic, src->partition,
                     src->offset);
    else if (src && src->file)
        n = snprintf(buf, sizeof(buf), "%s:%ld", src->file, src->line);
    else
        n = snprintf(buf, sizeof(buf), "-");
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(buf))
        n = sizeof(buf) - 1;
    return eng_arena_strndup(e->arena, buf, (size_t)n);
}

static int reject(eng_engine_t *e, const char *fmt, const char *arg)
{
    char buf[512];
    snprintf(buf, sizeof(buf), fmt, arg);
    e->out.status = ENG_EVENT_REJECTED;
    e->out.reject_reason = eng_arena_strndup(e->arena, buf, strlen(buf));
    return 0;
}

int eng_engine_eval(eng_engine_t *e, eng_state_t *state, const char *buf, size_t len,
                    const eng_src_t *src, const eng_outcome_t **out)
{
    eng_outcome_t *o = &e->out;
    eng_arena_reset(e->arena);
    memset(o, 0, sizeof(*o));
    o->event_ts_ms = INT64_MIN;
    o->hits = e->hits;
    o->errors = e->errors;
    o->decision_rules = e->drules;
    *out = o;
    e->cur_state = state ? state : e->state;

    eng_jval_t root, v;
    char perr[256];
    if (eng_json_parse(e->json, buf, len, &root, perr, sizeof(perr)) != 0) {
        o->event_id = src_event_id(e, src);
        return reject(e, "%s", perr);
    }
    const char *id = fmt_event_id(e, root);
    o->event_id = id ? id : src_event_id(e, src);
    if (eng_jval_type(root) != ENG_JOBJECT)
        return reject(e, "%s", "event is not a JSON object");

    if (!eng_jval_get(root, e->opts.stream_field, strlen(e->opts.stream_field), &v) ||
        eng_jval_type(v) != ENG_JSTRING)
        return reject(e, "missing or non-string stream field '%s'", e->opts.stream_field);
    size_t slen;
    const char *stream = eng_jval_str(v, &slen);
    o->stream = eng_arena_strndup(e->arena, stream, slen);

    if (eng_jval_get(root, e->opts.ts_field, strlen(e->opts.ts_field), &v)) {
        int t = eng_jval_type(v);
        if (t == ENG_JSTRING) {
            size_t n;
            const char *s = eng_jval_str(v, &n);
            if (eng_parse_rfc3339(s, n, &o->event_ts_ms) != 0)
                return reject(e, "timestamp field '%s' is not RFC 3339", e->opts.ts_field);
        } else if (t == ENG_JINT) {
            o->event_ts_ms = eng_jval_int(v);
        } else if (t == ENG_JDOUBLE) {
            o->event_ts_ms = (int64_t)eng_jval_double(v);
        } else if (t != ENG_JNULL) {
            return reject(e, "timestamp field '%s' must be RFC 3339 or epoch milliseconds",
                          e->opts.ts_field);
        }
    }
    if (o->event_ts_ms == INT64_MIN && src && src->msg_ts_ms != INT64_MIN && src->topic)
        o->event_ts_ms = src->msg_ts_ms;
    if (o->event_ts_ms == INT64_MIN)
        return reject(e, "missing timestamp field '%s'", e->opts.ts_field);

    rule_t *const *rules;
    size_t nrules = rule_pack_stream_rules(e->pack, stream, slen, &rules);
    if (nrules == 0) {
        o->status = ENG_EVENT_UNROUTED;
        return 0;
    }

    e->ctx.event_id = o->event_id;
    e->ctx.ts_ms = o->event_ts_ms;
    rule_lua_begin_event(e->vm, &e->ctx, root);
    char msg[1024];
    for (size_t i = 0; i < nrules; i++) {
        const rule_t *r = rules[i];
        eng_rule_stats_t *st = &e->stats[r->index];
        rule_verdict_t vd;
        st->evals++;
        int rc = rule_lua_call(e->vm, &e->ctx, r, e->arena, &vd, msg, sizeof(msg));
        if (rc != RULE_CALL_OK) {
            st->errors++;
            if (rc == RULE_CALL_TIMEOUT)
                st->timeouts++;
            else if (rc == RULE_CALL_OOM)
                st->oom++;
            eng_rule_error_t *er = &e->errors[o->nerrors++];
            er->rule = r->name;
            er->message = eng_arena_strndup(e->arena, msg, strlen(msg));
            continue;
        }
        if (vd.verdict == ENG_VERDICT_NONE)
            continue;
        st->hits[vd.verdict]++;
        eng_hit_t *h = &e->hits[o->nhits++];
        h->rule = r->name;
        h->version = (int)r->version;
        h->mode = r->mode;
        h->verdict = vd.verdict;
        h->entity = vd.entity;
        h->entity_len = vd.entity_len;
        h->reason = vd.reason;
        h->reason_len = vd.reason_len;
        h->has_score = vd.has_score;
        h->score = vd.score;
        h->ttl = vd.ttl;
        if (r->mode == ENG_MODE_ENFORCE) {
            e->drules[o->ndecision_rules++] = r->name;
            if (vd.verdict > o->decision) {
                o->decision = vd.verdict;
                o->decision_entity = vd.entity;
                o->decision_entity_len = vd.entity_len;
                o->decision_ttl = vd.ttl;
            }
        }
    }
    o->status = ENG_EVENT_OK;
    return 0;
}

size_t eng_engine_rule_stats(const eng_engine_t *e, const eng_rule_stats_t **out)
{
    *out = e->stats;
    return e->cap;
}

size_t eng_engine_streams(const eng_engine_t *e, const char *const **names)
{
    *names = e->stream_names;
    return e->nstreams;
}

size_t eng_engine_stream_fields(const eng_engine_t *e, const char *stream,
                                const char *const **paths)
{
    for (size_t i = 0; i < e->nstreams; i++) {
        if (strcmp(e->streams[i].name, stream) == 0) {
            *paths = e->streams[i].fields;
            return e->streams[i].nfields;
        }
    }
    *paths = NULL;
    return 0;
}

const char *eng_engine_pack_hash(const eng_engine_t *e) { return rule_pack_hash(e->pack); }

eng_lua_t *eng_engine_vm(eng_engine_t *e) { return e->vm; }
const rule_pack_t *eng_engine_pack(const eng_engine_t *e) { return e->pack; }

rule_ctx_t *eng_engine_rule_ctx(eng_engine_t *e) { return &e->ctx; }

void eng_engine_reset_state(eng_engine_t *e)
{
    (void)e;  /* counters and labels arrive with engine/eng_state */
}
