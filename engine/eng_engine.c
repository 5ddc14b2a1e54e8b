/* The evaluation core: bytes → parsed event → stream routing → counters →
 * the stream's rules (name order) → decision.  Every command (eval, test,
 * run, replay) goes through eng_engine_eval, so they agree by construction.
 * Per event it allocates nothing in steady state: outcome arrays grow once,
 * strings go to an arena reset per event. */
#include "engine/eng_engine.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/wd_alloc.h"
#include "base/wd_arena.h"
#include "base/wd_buf.h"
#include "base/wd_json.h"
#include "rules/rule_lists.h"
#include "rules/rule_overlay.h"
#include "base/wd_log.h"
#include "base/wd_lua.h"
#include "base/wd_lua_src.h"
#include "state/state.h"
#include "base/wd_util.h"
#include "rules/rule_counters.h"
#include "rules/rule_lua.h"
#include "rules/rule_lua_view.h"
#include "rules/rule_pack.h"
#include "rules/rule_trace.h"

typedef struct stream_info {
    const char  *name;
    const char **fields;    /* union of declared fields, + id/ts/stream */
    size_t       nfields;
    size_t      *counters;  /* indexes of the counters fed by this stream */
    size_t       ncounters;
    rule_view_t *view;      /* the `ev` of this stream (not in strict mode) */
} stream_info_t;

/* A label set by a rule, applied once every rule of the event has run. */
typedef struct pending_label {
    const char *entity;
    size_t      elen;
    const char *label;      /* as kept in the state (a shadow rule's: prefixed) */
    size_t      llen;
    const char *name;       /* as the rule gave it */
    size_t      nlen;
    int64_t     ttl_ms;
} pending_label_t;

/* Event times beyond ±10^15 ms (year ~33,600) are rejected: they would
 * overflow window arithmetic and are never real (snapshots are held to the
 * same bound). */
#define ENG_TS_LIMIT_MS STATE_TS_LIMIT_MS

struct eng_engine {
    int                oom;     /* this evaluation ran out of memory: eval returns -1 */
    eng_opts_t         opts;
    wd_lua_t         *vm;
    rule_pack_t       *pack;
    rule_ctx_t         ctx;
    wd_json_t        *json;
    wd_arena_t       *arena;
    rule_counters_t   *counters;    /* counters.lua */
    rule_lists_t       *lists;       /* lists/ */
    const rule_overlay_t *overlay;   /* runtime entries and manual labels (borrowed), or NULL */
    state_t       *state;       /* the engine's own; per-call override */
    state_t       *cur_state;   /* the state of the event being evaluated */
    pending_label_t   *labels;      /* set by rules on this event */
    size_t             nlabels, labels_cap;
    eng_outcome_t      out;
    eng_hit_t         *hits;
    eng_rule_error_t  *errors;
    const char       **drules;
    eng_action_t      *actions;
    size_t            *action_hits; /* the actions' hit indexes, contiguous per action */
    size_t             cap;         /* of hits/errors/drules/actions: the pack's rule count */
    eng_rule_stats_t  *stats;       /* one per rule, pack order */
    stream_info_t     *streams;
    size_t             nstreams;
    const char       **stream_names;
    size_t            *voff;        /* per counter: its first value slot (windows in order) */
    size_t             nvals;       /* value slots in all */
    const eng_carry_t *carry;       /* the event's carried counter values (repartitioned) */
    wd_jval_t          root;        /* the event being evaluated */
    size_t            *hit_labels;  /* per hit of the event: its labels' range [first, end) in labels */
    wd_buf_t           lbuf;        /* a hit's labels JSON, before the arena copy */
    char               errbuf[2048];
};

void eng_opts_default(eng_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->stream_field = "type";
    o->id_field = "id";
    o->ts_field = "ts";
    o->instr_budget = 1000000;
    o->mem_cap = 64u << 20;
    o->time_limit_ms = 50;
    o->load_time_limit_ms = 1000;
    o->max_future_ms = 3600 * 1000;
    o->state_max_mb = ENG_STATE_MAX_MB;
}

/* An arena copy for the outcome.  Out of memory it is "" and marks the
 * evaluation, which then returns -1 (eng_engine_eval): the outcome's
 * strings so never hold NULL on the way out. */
static char *arena_str(eng_engine_t *e, const char *s, size_t n)
{
    char *d = wd_arena_strndup(e->arena, s, n);
    if (d == NULL) {
        static char empty[1];
        e->oom = 1;
        return empty;
    }
    return d;
}

/* Returns 0, or -1 when out of memory. */
static int add_field(stream_info_t *s, const char *f)
{
    for (size_t i = 0; i < s->nfields; i++)
        if (strcmp(s->fields[i], f) == 0)
            return 0;
    const char **fields = wd_realloc(s->fields, (s->nfields + 1) * sizeof(*s->fields));
    if (fields == NULL)
        return -1;
    s->fields = fields;
    s->fields[s->nfields++] = f;
    return 0;
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static stream_info_t *stream_get(eng_engine_t *e, const char *name)
{
    for (size_t k = 0; k < e->nstreams; k++)
        if (strcmp(e->streams[k].name, name) == 0)
            return &e->streams[k];
    stream_info_t *streams = wd_realloc(e->streams, (e->nstreams + 1) * sizeof(*e->streams));
    if (streams == NULL)
        return NULL;
    e->streams = streams;
    stream_info_t *s = &e->streams[e->nstreams++];
    memset(s, 0, sizeof(*s));
    s->name = name;
    if (add_field(s, e->opts.id_field) || add_field(s, e->opts.ts_field) ||
        add_field(s, e->opts.stream_field))
        return NULL;
    return s;
}

/* Streams the pack uses (by a rule or a counter) and, per stream, the
 * counters it feeds and the fields a pruner must keep.  Returns 0, or -1
 * when out of memory (what was built is freed by eng_engine_destroy). */
static int build_streams(eng_engine_t *e)
{
    rule_t *const *rules;
    size_t n = rule_pack_rules(e->pack, &rules);
    for (size_t i = 0; i < n; i++) {
        const rule_t *r = rules[i];
        if (r->mode == RULE_MODE_OFF && !e->opts.run_off_rules)
            continue;
        for (size_t j = 0; j < r->nstreams; j++) {
            stream_info_t *s = stream_get(e, r->streams[j]);
            if (s == NULL)
                return -1;
            for (size_t f = 0; f < r->nfields; f++)
                if (add_field(s, r->fields[f]))
                    return -1;
        }
    }
    size_t nc = rule_counters_count(e->counters);
    for (size_t i = 0; i < nc; i++) {
        const rule_counter_spec_t *c = rule_counters_get(e->counters, i);
        stream_info_t *s = stream_get(e, c->stream);
        if (s == NULL)
            return -1;
        size_t *counters = wd_realloc(s->counters, (s->ncounters + 1) * sizeof(size_t));
        if (counters == NULL)
            return -1;
        s->counters = counters;
        s->counters[s->ncounters++] = i;
        if (add_field(s, c->key) || (c->distinct && add_field(s, c->distinct)))
            return -1;
        for (size_t w = 0; w < c->nwhere; w++)
            if (add_field(s, c->where[w].path))
                return -1;
    }
    /* Rules read events through one table view per stream holding the
     * fields the stream's rules declare (rule_lua_view.h); strict mode
     * (warden test) uses the checking lazy view instead. */
    for (size_t k = 0; k < e->nstreams && !e->opts.strict_fields; k++) {
        stream_info_t *s = &e->streams[k];
        size_t cap = 1;
        for (size_t i = 0; i < n; i++)
            cap += rules[i]->nfields;
        const char **paths = wd_calloc(cap, sizeof(char *));
        size_t np = 0;
        if (paths == NULL)
            return -1;
        for (size_t i = 0; i < n; i++) {
            const rule_t *r = rules[i];
            int on = 0;
            for (size_t j = 0; j < r->nstreams; j++)
                on |= strcmp(r->streams[j], s->name) == 0;
            on &= r->mode != RULE_MODE_OFF || e->opts.run_off_rules;
            for (size_t f = 0; on && f < r->nfields; f++)
                paths[np++] = r->fields[f];
        }
        s->view = rule_view_new(wd_lua_state(e->vm), paths, np);
        free(paths);
        if (s->view == NULL)
            return -1;
    }
    e->stream_names = wd_calloc(e->nstreams ? e->nstreams : 1, sizeof(char *));
    if (e->stream_names == NULL)
        return -1;
    for (size_t k = 0; k < e->nstreams; k++) {
        e->stream_names[k] = e->streams[k].name;
        qsort(e->streams[k].fields, e->streams[k].nfields, sizeof(char *), cmp_cstr);
    }
    qsort(e->stream_names, e->nstreams, sizeof(char *), cmp_cstr);
    return 0;
}

/* ---- state behind ctx ---------------------------------------------------- */

/* Prefix of labels set by shadow (and, under warden test, off) rules. */
#define SHADOW_LABEL "\x01shadow:"

/* Is s a C string (no NUL inside)?  Declared names never hold a NUL, so
 * a name that does matches nothing (rather than its prefix). */
static int plain(rule_str_t s) { return memchr(s.s, '\0', s.len) == NULL; }

/* Finds counter `name` for a rule, with the right kind and a declared
 * window (window.s NULL: any).  Returns its index, or -1 with a message. */
static int resolve_counter(const eng_engine_t *e, rule_str_t name, rule_str_t window,
                           int distinct, int64_t *window_ms, char *err, size_t errn)
{
    char show[160], wshow[64];
    int i = plain(name) ? rule_counters_find(e->counters, name.s) : -1;
    if (i < 0) {
        snprintf(err, errn, "counter '%s' is not declared in counters.lua",
                 rule_str_show(name, show, sizeof(show)));
        return -1;
    }
    rule_str_show(name, show, sizeof(show));
    const rule_counter_spec_t *c = rule_counters_get(e->counters, (size_t)i);
    if (distinct && c->distinct == NULL) {
        snprintf(err, errn, "counter '%s' counts events, not distinct values: use ctx.count", show);
        return -1;
    }
    if (!distinct && c->distinct != NULL) {
        snprintf(err, errn, "counter '%s' counts distinct values: use ctx.distinct", show);
        return -1;
    }
    if (window.s && (!plain(window) || rule_parse_duration(window.s, window_ms) != 0 ||
                     !rule_counter_has_window(c, *window_ms))) {
        snprintf(err, errn, "window \"%s\" is not declared by counter '%s'",
                 rule_str_show(window, wshow, sizeof(wshow)), show);
        return -1;
    }
    return i;
}

/* The event's own key for counter c: its key field as the counter would
 * read it, whatever its where clauses say.  1 with the bytes, else 0. */
static int own_key(const rule_counter_spec_t *c, wd_jval_t root, const char **key, size_t *klen,
                   char kbuf[RULE_NUMBUF])
{
    rule_counter_spec_t k = *c;
    k.nwhere = 0;
    k.distinct = NULL;
    return rule_counter_match(&k, root, key, klen, kbuf, NULL, NULL, NULL);
}

/* ctx.count/distinct of a counter an upstream hop keeps: the value it
 * carried for the event's own key; any other key is an error (the event
 * carries no other). */
static int carried_count(eng_engine_t *e, size_t i, rule_str_t key, int64_t w, int64_t *out, char *err,
                         size_t errn)
{
    const rule_counter_spec_t *c = rule_counters_get(e->counters, i);
    const char *k;
    size_t kl;
    char kbuf[RULE_NUMBUF], show[160], kshow[160];
    size_t wi = 0;
    while (wi < c->nwindows && c->windows_ms[wi] != w)
        wi++;
    if (!own_key(c, e->root, &k, &kl, kbuf)) {
        snprintf(err, errn, "counter '%s' is kept by another partition (repartitioned by %s) and this "
                 "event has no %s: only the event's own key can be read", c->name, c->key, c->key);
        return -1;
    }
    if (kl != key.len || memcmp(k, key.s, kl) != 0 || wi == c->nwindows || !e->carry->have[e->voff[i] + wi]) {
        snprintf(err, errn, "counter '%s' is kept by another partition (repartitioned by %s): only the "
                 "event's own key '%s' can be read, not '%s'", c->name, c->key,
                 rule_str_show((rule_str_t){ k, kl }, show, sizeof show), rule_str_show(key, kshow, sizeof kshow));
        return -1;
    }
    *out = e->carry->vals[e->voff[i] + wi];
    return 0;
}

static int op_count(void *ud, rule_str_t counter, rule_str_t key, rule_str_t window, int distinct,
                    int64_t *out, char *err, size_t errn)
{
    eng_engine_t *e = ud;
    int64_t w;
    int i = resolve_counter(e, counter, window, distinct, &w, err, errn);
    if (i < 0)
        return -1;
    if (key.s == NULL) {
        *out = 0;
        return 0;
    }
    if (e->carry && !e->carry->local[i])
        return carried_count(e, (size_t)i, key, w, out, err, errn);
    uint64_t work = state_read_work(e->cur_state);
    int64_t n = distinct ? state_distinct(e->cur_state, (size_t)i, key.s, key.len, w, e->ctx.ts_ms)
                         : state_count(e->cur_state, (size_t)i, key.s, key.len, w, e->ctx.ts_ms);
    e->ctx.work = state_read_work(e->cur_state) - work;
    if (n < 0) {
        snprintf(err, errn, "%s", state_strerror((int)n));
        return -1;
    }
    *out = n;
    return 0;
}

/* Labels a rule names can never be internal ones: names starting with the
 * first byte of SHADOW_LABEL are refused, so an enforce rule cannot read a
 * shadow rule's labels by spelling the prefix. */
static int label_reserved(rule_str_t label, char *err, size_t errn)
{
    if (label.len == 0 || label.s[0] != SHADOW_LABEL[0])
        return 0;
    snprintf(err, errn, "label names must not start with byte 0x%02x (reserved for warden's own labels)",
             (unsigned char)SHADOW_LABEL[0]);
    return 1;
}

/* Repartitioned: a label on an entity other than the event's evaluation
 * key lives in this partition only (docs/state.md): counted. */
static void off_key(eng_engine_t *e, rule_str_t entity)
{
    if (e->carry && (!e->carry->entity || entity.len != e->carry->entity_len ||
                     memcmp(entity.s, e->carry->entity, entity.len) != 0))
        e->out.labels_off_key++;
}

static int op_has_label(void *ud, rule_str_t entity, rule_str_t label, int *out, char *err,
                        size_t errn)
{
    eng_engine_t *e = ud;
    if (label_reserved(label, err, errn))
        return -1;
    off_key(e, entity);
    int64_t expire = 0;
    *out = state_label_expiry(e->cur_state, entity.s, entity.len, label.s, label.len, e->ctx.ts_ms,
                              &expire);
    /* A rule-set label `warden undo` removed (docs/rules.md, "Lists"). */
    if (*out == 1 && e->overlay &&
        rule_overlay_label_hidden(e->overlay, entity.s, entity.len, label.s, label.len, e->ctx.ts_ms, expire))
        *out = 0;
    if (!*out && e->overlay)
        *out = rule_overlay_has_label(e->overlay, entity.s, entity.len, label.s, label.len,
                                      e->ctx.ts_ms);
    if (!*out && e->ctx.rule && e->ctx.rule->mode != RULE_MODE_ENFORCE) {
        char shadow[RULE_MAX_NAME_LEN + 16];
        size_t pl = strlen(SHADOW_LABEL);
        if (pl + label.len <= sizeof(shadow)) {
            memcpy(shadow, SHADOW_LABEL, pl);
            memcpy(shadow + pl, label.s, label.len);
            *out = state_label_has(e->cur_state, entity.s, entity.len, shadow, pl + label.len,
                                   e->ctx.ts_ms);
        }
    }
    return 0;
}

static int op_label(void *ud, rule_str_t entity, rule_str_t label, int64_t ttl_ms, char *err,
                    size_t errn)
{
    eng_engine_t *e = ud;
    if (label_reserved(label, err, errn))
        return -1;
    if (ttl_ms <= 0) {
        snprintf(err, errn, "ttl must be positive");
        return -1;
    }
    off_key(e, entity);
    if (e->nlabels == e->labels_cap) {
        size_t cap = e->labels_cap ? e->labels_cap * 2 : 16;
        pending_label_t *l = wd_realloc(e->labels, cap * sizeof(*l));
        if (l == NULL) {
            snprintf(err, errn, "out of memory");
            return -1;
        }
        e->labels = l;
        e->labels_cap = cap;
    }
    if (label.len == 0 || label.len > RULE_MAX_NAME_LEN) {
        snprintf(err, errn, "label must be 1 to %d bytes", RULE_MAX_NAME_LEN);
        return -1;
    }
    pending_label_t *l = &e->labels[e->nlabels++];
    l->entity = arena_str(e, entity.s, entity.len);
    l->elen = entity.len;
    if (e->ctx.rule && e->ctx.rule->mode != RULE_MODE_ENFORCE) {
        /* A shadow rule's labels are seen by shadow rules only: a rule on
         * trial never changes what enforcing rules decide. */
        size_t pl = strlen(SHADOW_LABEL);
        char *s = wd_arena_alloc(e->arena, pl + label.len + 1);
        if (s == NULL) {
            e->nlabels--;
            snprintf(err, errn, "out of memory");
            return -1;
        }
        memcpy(s, SHADOW_LABEL, pl);
        memcpy(s + pl, label.s, label.len);
        s[pl + label.len] = '\0';
        l->label = s;
        l->llen = pl + label.len;
        l->name = s + pl;
    } else {
        l->label = arena_str(e, label.s, label.len);
        l->llen = label.len;
        l->name = l->label;
    }
    l->nlen = label.len;
    l->ttl_ms = ttl_ms;
    return 0;
}

static int op_in_list(void *ud, rule_str_t list, rule_str_t value, int *out, char *err,
                      size_t errn)
{
    eng_engine_t *e = ud;
    const rule_list_t *l = plain(list) ? rule_lists_get(e->lists, list.s) : NULL;
    if (l == NULL) {
        char show[160];
        rule_str_show(list, show, sizeof(show));
        snprintf(err, errn, "no list '%s' (lists/%s.txt or lists/%s.cidr)", show, show, show);
        return -1;
    }
    int rt = rule_list_is_cidr(l) ? rule_overlay_in_cidr(e->overlay, list.s, value.s, value.len, e->ctx.ts_ms)
                                  : rule_overlay_in_list(e->overlay, list.s, value.s, value.len,
                                                         e->ctx.ts_ms);
    *out = rt >= 0 ? rt : rule_list_contains(l, value.s, value.len);
    return 0;
}

static const rule_state_ops_t state_ops = {
    .count = op_count,
    .has_label = op_has_label,
    .label = op_label,
    .in_list = op_in_list,
};

/* Reads a Lua string literal at p ('...' or "..."; no escapes needed for
 * names).  Returns its length and sets *start, or -1. */
static int literal_at(const char *p, const char **start)
{
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '"' && *p != '\'')
        return -1;
    char q = *p++;
    const char *s = p;
    while (*p && *p != q && *p != '\n' && *p != '\\')
        p++;
    if (*p != q)
        return -1;
    *start = s;
    return (int)(p - s);
}

/* Static checks of literal references in rule sources: ctx.count("c", k,
 * "1h") must name a declared counter of the right kind and one of its
 * windows, ctx.in_list("l", v) an existing list.  Only calls in code
 * count: a mention in a comment or a string is not a call (the source is
 * classified byte by byte first).  Dynamic names are checked when the rule
 * runs. */
static int check_rule_refs(eng_engine_t *e, char *errstr, size_t errstr_size)
{
    rule_t *const *rules;
    size_t n = rule_pack_rules(e->pack, &rules);
    size_t len = 0;
    int bad = 0;
    errstr[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *src = rules[i]->source;
        size_t slen = rules[i]->source_len;
        unsigned char *kind = wd_malloc(slen ? slen : 1);
        if (kind == NULL) {
            snprintf(errstr, errstr_size, "out of memory");
            return -1;
        }
        wd_lua_classify(src, slen, kind);
        static const char *const calls[] = { "ctx.count(", "ctx.distinct(", "ctx.in_list(" };
        for (int k = 0; k < 3; k++) {
            size_t cl = strlen(calls[k]);
            for (const char *p = memmem(src, slen, calls[k], cl); p;
                 p = memmem(p + 1, slen - (size_t)(p + 1 - src), calls[k], cl)) {
                size_t at = (size_t)(p - src);
                if (kind[at] != WD_LUA_CODE ||
                    (at > 0 && (isalnum((unsigned char)src[at - 1]) || src[at - 1] == '_' ||
                                src[at - 1] == '.' || src[at - 1] == ':')))
                    continue;   /* a comment, a string, or some other `xctx` */
                const char *name, *q = p + cl;
                int nl = literal_at(q, &name);
                if (nl < 0)
                    continue;
                char cname[128], window[32] = "";
                snprintf(cname, sizeof(cname), "%.*s", nl, name);
                /* The window: the last argument, when it is a literal.
                 * Brackets and commas count in code only. */
                int depth = 1;
                const char *last = NULL, *r = q;
                for (; r < src + slen && depth > 0; r++) {
                    if (kind[r - src] != WD_LUA_CODE)
                        continue;
                    if (*r == '(' || *r == '{')
                        depth++;
                    else if (*r == ')' || *r == '}')
                        depth--;
                    else if (*r == ',' && depth == 1)
                        last = r + 1;
                }
                const char *ws;
                int wl;
                if (last && (wl = literal_at(last, &ws)) >= 0 && wl < (int)sizeof(window)) {
                    const char *after = ws + wl + 1;
                    while (*after == ' ' || *after == '\t')
                        after++;
                    if (*after == ')')
                        snprintf(window, sizeof(window), "%.*s", wl, ws);
                }
                int64_t w;
                char msg[512];
                int bad_ref = 0;
                if (k == 2) {
                    bad_ref = rule_lists_get(e->lists, cname) == NULL;
                    if (bad_ref)
                        snprintf(msg, sizeof(msg), "no list '%s' (lists/%s.txt or lists/%s.cidr)",
                                 cname, cname, cname);
                } else {
                    rule_str_t cn = { cname, strlen(cname) };
                    rule_str_t wn = { window[0] ? window : NULL, strlen(window) };
                    bad_ref = resolve_counter(e, cn, wn, k == 1, &w, msg, sizeof(msg)) < 0;
                }
                if (bad_ref) {
                    int line = 1;
                    for (const char *c = src; c < p; c++)
                        line += *c == '\n';
                    int m = snprintf(errstr + len, errstr_size - len, "%s%s:%d: %s", bad ? "\n" : "",
                                     rules[i]->file, line, msg);
                    if (m > 0 && len + (size_t)m < errstr_size)
                        len += (size_t)m;
                    bad++;
                }
            }
        }
        free(kind);
    }
    return bad ? -1 : 0;
}

eng_engine_t *eng_engine_new(const eng_opts_t *opts, const char *rules_dir, char *errstr,
                             size_t errstr_size)
{
    eng_engine_t *e = wd_calloc(1, sizeof(*e));
    if (e == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (opts)
        e->opts = *opts;
    else
        eng_opts_default(&e->opts);
    e->vm = wd_lua_new(e->opts.mem_cap, e->opts.instr_budget, errstr, errstr_size);
    if (e->vm == NULL)
        goto fail;
    rule_lua_init(e->vm, &e->ctx);
    e->ctx.strict = e->opts.strict_fields;
    /* Loading runs each rule file's chunk: bounded in time as well. */
    wd_lua_set_time_limit(e->vm, e->opts.load_time_limit_ms);
    e->pack = rule_pack_load(e->vm, rules_dir, errstr, errstr_size);
    if (e->pack == NULL)
        goto fail;
    wd_lua_set_time_limit(e->vm, e->opts.time_limit_ms);
    if (e->opts.run_off_rules && rule_pack_run_off_rules(e->pack) != 0) {
        snprintf(errstr, errstr_size, "out of memory while creating the engine");
        goto fail;
    }
    if (rule_counters_load(rule_pack_dir(e->pack), &e->counters, errstr, errstr_size) != 0)
        goto fail;
    if ((e->lists = rule_lists_load(rule_pack_dir(e->pack), errstr, errstr_size)) == NULL)
        goto fail;
    if (check_rule_refs(e, errstr, errstr_size) != 0)
        goto fail;
    e->state = state_new(rule_counters_defs(e->counters), rule_counters_count(e->counters),
                             e->opts.state_max_mb << 20, errstr, errstr_size);
    if (e->state == NULL)
        goto fail;
    e->cur_state = e->state;
    e->ctx.ops = &state_ops;
    e->ctx.ops_ud = e;
    e->json = wd_json_new(0);
    e->arena = wd_arena_new();
    rule_t *const *rules;
    e->cap = rule_pack_rules(e->pack, &rules);
    e->hits = wd_calloc(e->cap, sizeof(*e->hits));
    e->errors = wd_calloc(e->cap, sizeof(*e->errors));
    e->drules = wd_calloc(e->cap, sizeof(*e->drules));
    e->actions = wd_calloc(e->cap, sizeof(*e->actions));
    e->action_hits = wd_calloc(e->cap, sizeof(*e->action_hits));
    e->stats = wd_calloc(e->cap, sizeof(*e->stats));
    e->hit_labels = wd_calloc(2 * e->cap + 2, sizeof(*e->hit_labels));
    if (e->json == NULL || e->arena == NULL || !e->hits || !e->errors || !e->drules || !e->stats ||
        !e->hit_labels ||
        (e->cap && (!e->actions || !e->action_hits))) {
        snprintf(errstr, errstr_size, "out of memory while creating the engine");
        goto fail;
    }
    for (size_t i = 0; i < e->cap; i++) {
        e->stats[i].rule = rules[i]->name;
        e->stats[i].mode = e->stats[i].pack_mode = rules[i]->mode;
    }
    size_t nc = rule_counters_count(e->counters);
    if (build_streams(e) != 0 || (e->voff = wd_calloc(nc + 1, sizeof(*e->voff))) == NULL) {
        snprintf(errstr, errstr_size, "out of memory while creating the engine");
        goto fail;
    }
    for (size_t i = 0; i < nc; i++) {
        e->voff[i] = e->nvals;
        e->nvals += rule_counters_get(e->counters, i)->nwindows;
    }
    e->voff[nc] = e->nvals;
    return e;
fail:
    eng_engine_destroy(e);
    return NULL;
}

void eng_engine_destroy(eng_engine_t *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->nstreams; i++)
        rule_view_destroy(e->streams[i].view, e->vm ? wd_lua_state(e->vm) : NULL);
    rule_pack_destroy(e->pack);
    wd_lua_destroy(e->vm);
    rule_counters_destroy(e->counters);
    rule_lists_destroy(e->lists);
    state_destroy(e->state);
    free(e->labels);
    wd_json_destroy(e->json);
    wd_arena_destroy(e->arena);
    free(e->hits);
    free(e->hit_labels);
    wd_buf_free(&e->lbuf);
    free(e->actions);
    free(e->action_hits);
    free(e->errors);
    free(e->drules);
    free(e->stats);
    for (size_t i = 0; i < e->nstreams; i++) {
        free(e->streams[i].fields);
        free(e->streams[i].counters);
    }
    free(e->streams);
    free(e->stream_names);
    free(e->voff);
    free(e);
}

state_t *eng_engine_state(eng_engine_t *e) { return e->state; }

static const char *fmt_event_id(eng_engine_t *e, wd_jval_t root)
{
    wd_jval_t v;
    char buf[64];
    if (wd_jval_get(root, e->opts.id_field, strlen(e->opts.id_field), &v)) {
        if (wd_jval_type(v) == WD_JSTRING) {
            size_t n;
            const char *s = wd_jval_str(v, &n);
            if (n > 0)
                return arena_str(e, s, n);
        } else if (wd_jval_type(v) == WD_JINT) {
            int n = snprintf(buf, sizeof(buf), "%" PRId64, wd_jval_int(v));
            return arena_str(e, buf, (size_t)n);
        } else if (wd_jval_type(v) == WD_JDOUBLE) {
            /* Integers past int64: their exact digits (as a double,
             * 10000000000000000001 and ...002 were one id). */
            size_t n;
            const char *big = wd_jval_bigint(v, buf, &n);
            if (big)
                return arena_str(e, big, n);
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
    else if (src && src->file) {
        n = snprintf(buf, sizeof(buf), "%s:%ld", src->file, src->line);
        if (n >= RULE_MAX_ID_LEN) {   /* a deep path: its last component will do */
            const char *base = strrchr(src->file, '/');
            n = snprintf(buf, sizeof(buf), "%.400s:%ld", base ? base + 1 : src->file, src->line);
        }
    }
    else
        n = snprintf(buf, sizeof(buf), "-");
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(buf))
        n = sizeof(buf) - 1;
    return arena_str(e, buf, (size_t)n);
}

static int reject(eng_engine_t *e, const char *fmt, const char *arg)
{
    char buf[512];
    snprintf(buf, sizeof(buf), fmt, arg);
    e->out.status = ENG_EVENT_REJECTED;
    e->out.reject_reason = arena_str(e, buf, strlen(buf));
    return 0;
}

int eng_event_time(const eng_opts_t *opts, wd_jval_t root, const eng_src_t *src,
                   int64_t *ts_ms, const char **why)
{
    wd_jval_t v;
    int64_t ts = INT64_MIN;
    *ts_ms = INT64_MIN;
    if (wd_jval_get(root, opts->ts_field, strlen(opts->ts_field), &v)) {
        int t = wd_jval_type(v);
        if (t == WD_JSTRING) {
            size_t n;
            const char *s = wd_jval_str(v, &n);
            if (wd_parse_rfc3339(s, n, &ts) != 0) {
                *why = "timestamp field '%s' is not RFC 3339";
                return -1;
            }
        } else if (t == WD_JINT) {
            ts = wd_jval_int(v);
            if (ts <= -ENG_TS_LIMIT_MS || ts >= ENG_TS_LIMIT_MS) {
                *why = "timestamp field '%s' is out of range";
                return -1;
            }
        } else if (t == WD_JDOUBLE) {
            double d = wd_jval_double(v);
            if (!(d > -ENG_TS_LIMIT_MS && d < ENG_TS_LIMIT_MS)) {
                *why = "timestamp field '%s' is out of range";
                return -1;
            }
            ts = (int64_t)d;
        } else if (t != WD_JNULL) {
            *why = "timestamp field '%s' must be RFC 3339 or epoch milliseconds";
            return -1;
        }
    }
    if (ts == INT64_MIN && src && src->msg_ts_ms != INT64_MIN && src->topic)
        ts = src->msg_ts_ms;
    /* State time only moves forward: one event stamped far in the future
     * would expire every key.  Against Kafka's own timestamp it is refused. */
    if (ts != INT64_MIN && src && src->topic && src->msg_ts_ms != INT64_MIN &&
        opts->max_future_ms > 0 && ts > src->msg_ts_ms + opts->max_future_ms) {
        *why = "timestamp field '%s' is more than max_future ahead of the message time";
        return -1;
    }
    if (ts == INT64_MIN) {
        *why = "missing timestamp field '%s'";
        return -1;
    }
    *ts_ms = ts;
    return 0;
}

static int same_entity(const eng_hit_t *h, const char *ent, size_t len, const char *type)
{
    return h->mode == RULE_MODE_ENFORCE && h->entity_len == len &&
           strcmp(h->entity_type, type) == 0 && memcmp(h->entity, ent, len) == 0;
}

/* Groups the event's enforce-mode hits by (entity_type, entity) into
 * actions, in order of each entity's first hit; an action's hit indexes
 * are contiguous in e->action_hits (at most nhits in all).  Quadratic in
 * the event's hits, which are a handful. */
static void make_actions(eng_engine_t *e, eng_outcome_t *o)
{
    size_t used = 0;
    for (size_t h = 0; h < o->nhits; h++) {
        const eng_hit_t *hit = &e->hits[h];
        if (hit->mode != RULE_MODE_ENFORCE)
            continue;
        int seen = 0;
        for (size_t i = 0; i < o->nactions && !seen; i++)
            seen = same_entity(hit, e->actions[i].entity, e->actions[i].entity_len,
                               e->actions[i].entity_type);
        if (seen)
            continue;
        eng_action_t *a = &e->actions[o->nactions++];
        memset(a, 0, sizeof(*a));
        a->entity = hit->entity;
        a->entity_len = hit->entity_len;
        a->entity_type = hit->entity_type;
        a->hits = e->action_hits + used;
        for (size_t k = h; k < o->nhits; k++) {
            const eng_hit_t *x = &e->hits[k];
            if (!same_entity(x, a->entity, a->entity_len, a->entity_type))
                continue;
            e->action_hits[used++] = k;
            a->nhits++;
            if (x->verdict > a->verdict) {
                a->verdict = x->verdict;
                a->ttl = x->ttl;
            }
        }
    }
}

/* Parse, id, stream, time, route: the part of an evaluation before any
 * state.  Returns the stream's info, or NULL when the outcome is final
 * (rejected, unrouted); *rootp the event. */
/* A fresh outcome for the next evaluation (arena reset). */
static eng_outcome_t *begin_eval(eng_engine_t *e, state_t *state, const eng_outcome_t **out)
{
    eng_outcome_t *o = &e->out;
    wd_arena_reset(e->arena);
    e->oom = 0;
    memset(o, 0, sizeof(*o));
    o->event_ts_ms = INT64_MIN;
    o->hits = e->hits;
    o->errors = e->errors;
    o->decision_rules = e->drules;
    o->actions = e->actions;
    *out = o;
    e->cur_state = state ? state : e->state;
    return o;
}

/* Id, stream, time, route: everything after the parse and before any
 * state.  Returns the stream's info, or NULL when the outcome is final
 * (rejected, unrouted). */
static const stream_info_t *route_root(eng_engine_t *e, eng_outcome_t *o, wd_jval_t root,
                                       const eng_src_t *src)
{
    wd_jval_t v;
    const char *id = fmt_event_id(e, root);
    o->event_id = id ? id : src_event_id(e, src);
    if (id && strlen(id) > RULE_MAX_ID_LEN) {
        o->event_id = src_event_id(e, src);
        { reject(e, "id field '%s' is longer than 512 bytes", e->opts.id_field); return NULL; }
    }
    if (id && wd_jval_get(root, e->opts.id_field, strlen(e->opts.id_field), &v) &&
        wd_jval_type(v) == WD_JSTRING) {
        /* Ids are C strings everywhere downstream: "e1\0a" and "e1\0b"
         * would both be "e1" (one results row for two events). */
        size_t n;
        const char *s = wd_jval_str(v, &n);
        if (memchr(s, '\0', n) != NULL) {
            o->event_id = src_event_id(e, src);
            { reject(e, "id field '%s' contains a NUL byte", e->opts.id_field); return NULL; }
        }
    }
    if (wd_jval_type(root) != WD_JOBJECT)
        { reject(e, "%s", "event is not a JSON object"); return NULL; }

    if (!wd_jval_get(root, e->opts.stream_field, strlen(e->opts.stream_field), &v) ||
        wd_jval_type(v) != WD_JSTRING)
        { reject(e, "missing or non-string stream field '%s'", e->opts.stream_field); return NULL; }
    size_t slen;
    const char *stream = wd_jval_str(v, &slen);
    o->stream = arena_str(e, stream, slen);

    const char *why;
    if (eng_event_time(&e->opts, root, src, &o->event_ts_ms, &why) != 0)
        { reject(e, why, e->opts.ts_field); return NULL; }

    /* By length: the stream is event bytes and may hold a NUL. */
    const stream_info_t *si = NULL;
    for (size_t k = 0; k < e->nstreams && si == NULL; k++)
        if (strlen(e->streams[k].name) == slen && memcmp(e->streams[k].name, stream, slen) == 0)
            si = &e->streams[k];
    if (si == NULL) {
        if (memchr(stream, '\0', slen) != NULL) {
            /* Shown escaped (dead-letter reasons): as a C string
             * "login\0…" would read as the known stream "login". */
            char show[200];
            rule_str_show((rule_str_t){ stream, slen }, show, sizeof(show));
            o->stream = arena_str(e, show, strlen(show));
        }
        o->status = ENG_EVENT_UNROUTED;
        return NULL;
    }
    e->root = root;
    return si;
}


/* Parse, then route_root; *rootp the event. */
static const stream_info_t *prepare(eng_engine_t *e, state_t *state, const char *buf, size_t len,
                                    const eng_src_t *src, const eng_outcome_t **out, wd_jval_t *rootp)
{
    eng_outcome_t *o = begin_eval(e, state, out);
    char perr[256];
    if (wd_json_parse(e->json, buf, len, rootp, perr, sizeof(perr)) != 0) {
        o->event_id = src_event_id(e, src);
        reject(e, "%s", perr);
        return NULL;
    }
    return route_root(e, o, *rootp, src);
}

/* Counters of si that the event feeds (local[c] set, or all when local is
 * NULL) updated at the event's time; with vals, every window of each read
 * back for the event's own key (have set).  Before any rule runs, so a
 * count includes the current event. */
static void update_counters(eng_engine_t *e, const stream_info_t *si, wd_jval_t root,
                            const unsigned char *local, int64_t *vals, unsigned char *have)
{
    eng_outcome_t *o = &e->out;
    state_t *st = e->cur_state;
    state_advance(st, o->event_ts_ms);
    for (size_t k = 0; k < si->ncounters; k++) {
        size_t ci = si->counters[k];
        if (local && !local[ci])
            continue;
        const rule_counter_spec_t *c = rule_counters_get(e->counters, ci);
        const char *key, *val = NULL;
        size_t klen, vlen = 0;
        char kbuf[RULE_NUMBUF] = "", vbuf[RULE_NUMBUF] = "";
        if (rule_counter_match(c, root, &key, &klen, kbuf, c->distinct ? &val : NULL,
                               c->distinct ? &vlen : NULL, c->distinct ? vbuf : NULL)) {
            int rc = c->distinct ? state_add_distinct(st, ci, key, klen, val, vlen, o->event_ts_ms)
                                 : state_add(st, ci, key, klen, o->event_ts_ms);
            if (rc < 0)
                LOG_WARN("counter=%s event=%s msg=\"%s\"", c->name, o->event_id, state_strerror(rc));
        } else if (!vals || !own_key(c, root, &key, &klen, kbuf)) {
            continue;
        }
        for (size_t w = 0; vals && w < c->nwindows; w++) {
            int64_t n = c->distinct ? state_distinct(st, ci, key, klen, c->windows_ms[w], o->event_ts_ms)
                                    : state_count(st, ci, key, klen, c->windows_ms[w], o->event_ts_ms);
            if (n < 0)
                continue;
            vals[e->voff[ci] + w] = n;
            have[e->voff[ci] + w] = 1;
        }
    }
}

int eng_engine_hop(eng_engine_t *e, state_t *state, const char *buf, size_t len, const eng_src_t *src,
                   const unsigned char *local, int64_t *vals, unsigned char *have, const eng_outcome_t **out,
                   wd_jval_t *root)
{
    e->carry = NULL;
    const stream_info_t *si = prepare(e, state, buf, len, src, out, root);
    if (si == NULL)
        return e->oom ? -1 : 0;
    if (local)
        update_counters(e, si, *root, local, vals, have);
    e->out.status = ENG_EVENT_OK;
    return e->oom ? -1 : 0;
}

int eng_engine_eval(eng_engine_t *e, state_t *state, const char *buf, size_t len,
                    const eng_src_t *src, const eng_outcome_t **out)
{
    return eng_engine_eval_carry(e, state, buf, len, src, NULL, out);
}

static int run_rules(eng_engine_t *e, const stream_info_t *si, wd_jval_t root, const eng_carry_t *carry);

int eng_engine_eval_carry(eng_engine_t *e, state_t *state, const char *buf, size_t len,
                          const eng_src_t *src, const eng_carry_t *carry, const eng_outcome_t **out)
{
    wd_jval_t root;
    e->carry = NULL;
    const stream_info_t *si = prepare(e, state, buf, len, src, out, &root);
    int rc = si ? run_rules(e, si, root, carry) : 0;
    return e->oom ? -1 : rc;
}

int eng_engine_eval_doc(eng_engine_t *e, state_t *state, wd_jval_t root, const eng_src_t *src,
                        const eng_outcome_t **out)
{
    e->carry = NULL;
    const stream_info_t *si = route_root(e, begin_eval(e, state, out), root, src);
    int rc = si ? run_rules(e, si, root, NULL) : 0;
    return e->oom ? -1 : rc;
}

/* Each hit's labels (those its rule set while giving the verdict) as
 * the JSON array of eng_hit_t.labels, in the arena.  Only hits that set
 * labels cost anything. */
static void hit_labels_json(eng_engine_t *e, eng_outcome_t *o)
{
    for (size_t i = 0; i < o->nhits; i++) {
        size_t first = e->hit_labels[2 * i], end = e->hit_labels[2 * i + 1];
        if (first >= end)
            continue;
        eng_hit_t *h = &e->hits[i];
        wd_buf_reset(&e->lbuf);
        wd_buf_addc(&e->lbuf, '[');
        for (size_t k = first; k < end; k++) {
            const pending_label_t *l = &e->labels[k];
            if (k > first)
                wd_buf_addc(&e->lbuf, ',');
            wd_buf_adds(&e->lbuf, "{\"label\":");
            wd_buf_json_str(&e->lbuf, l->name, l->nlen);
            wd_buf_printf(&e->lbuf, ",\"ttl_ms\":%" PRId64, l->ttl_ms);
            if (o->event_ts_ms != INT64_MIN) {
                wd_buf_adds(&e->lbuf, ",\"expires\":\"");
                wd_buf_rfc3339(&e->lbuf, o->event_ts_ms + l->ttl_ms);
                wd_buf_addc(&e->lbuf, '"');
            }
            if (l->elen != h->entity_len || memcmp(l->entity, h->entity, l->elen) != 0) {
                wd_buf_adds(&e->lbuf, ",\"entity\":");
                wd_buf_json_str(&e->lbuf, l->entity, l->elen);
            }
            wd_buf_addc(&e->lbuf, '}');
        }
        wd_buf_addc(&e->lbuf, ']');
        if (wd_buf_failed(&e->lbuf)) {
            e->oom = 1;
        } else if (e->lbuf.data) {
            h->labels = wd_arena_strndup(e->arena, e->lbuf.data, e->lbuf.len);
            h->labels_len = h->labels ? e->lbuf.len : 0;
            if (h->labels == NULL)
                e->oom = 1;
        }
    }
}

/* Counters, then the stream's rules, then the decision and the actions. */
static int run_rules(eng_engine_t *e, const stream_info_t *si, wd_jval_t root, const eng_carry_t *carry)
{
    eng_outcome_t *o = &e->out;
    size_t slen = strlen(o->stream);
    const char *stream = o->stream;
    rule_t *const *rules;
    size_t nrules = rule_pack_stream_rules(e->pack, stream, slen, &rules);

    /* Counters first, so that a count includes the current event. */
    state_t *st = e->cur_state;
    update_counters(e, si, root, carry ? carry->local : NULL, NULL, NULL);
    e->carry = carry;
    e->nlabels = 0;

    e->ctx.event_id = o->event_id;
    e->ctx.ts_ms = o->event_ts_ms;
    if (si->view && nrules) {
        lua_State *L = wd_lua_state(e->vm);
        e->ctx.gen++;
        e->ctx.root = root;   /* pairs walks it, in document order */
        rule_view_fill(si->view, L, &e->ctx, root);
        lua_rawseti(L, LUA_REGISTRYINDEX, e->ctx.ev_ref);
    } else if (nrules) {
        rule_lua_begin_event(e->vm, &e->ctx, root);
    }
    char msg[1024];
    /* One clock read per rule: a rule's end is the next one's start. */
    uint64_t t0 = nrules ? wd_now_ns() : 0;
    for (size_t i = 0; i < nrules; i++) {
        const rule_t *r = rules[i];
        eng_rule_stats_t *st = &e->stats[r->index];
        rule_verdict_t vd;
        if (r->mode == RULE_MODE_OFF && !e->opts.run_off_rules)
            continue;   /* switched off by an override */
        st->evals++;
        size_t labels_before = e->nlabels;
        if (e->ctx.trace)
            rule_trace_begin(e->ctx.trace, r->name);
        wd_lua_set_call_start(e->vm, t0);
        int rc = rule_lua_call(e->vm, &e->ctx, r, e->arena, &vd, msg, sizeof(msg));
        wd_lua_set_call_start(e->vm, 0);   /* in case no pcall used it */
        uint64_t t1 = wd_now_ns();
        uint64_t dt = t1 - t0;
        t0 = t1;
        if (e->ctx.trace)
            rule_trace_end(e->ctx.trace, rc);
        st->time_ns += dt;
        st->instr += (uint64_t)wd_lua_instructions(e->vm);
        size_t b = 0;
        while (b < ENG_COST_BUCKETS - 1 && (double)dt > ENG_COST_BOUNDS_US[b] * 1000.0)
            b++;
        st->time_hist[b]++;
        if (rc != RULE_CALL_OK) {
            e->nlabels = labels_before;   /* a failed evaluation has no effects */
            st->errors++;
            if (rc == RULE_CALL_TIMEOUT)
                st->timeouts++;
            else if (rc == RULE_CALL_OOM)
                st->oom++;
            eng_rule_error_t *er = &e->errors[o->nerrors++];
            er->rule = r->name;
            er->message = arena_str(e, msg, strlen(msg));
            continue;
        }
        if (vd.verdict == RULE_VERDICT_NONE)
            continue;
        st->hits[vd.verdict]++;
        eng_hit_t *h = &e->hits[o->nhits++];
        h->rule = r->name;
        h->rule_sha256 = r->sha256;
        h->version = (int)r->version;
        h->mode = r->mode;
        h->verdict = vd.verdict;
        h->entity = vd.entity;
        h->entity_len = vd.entity_len;
        h->entity_type = vd.entity_type;
        h->reason = vd.reason;
        h->reason_len = vd.reason_len;
        h->has_score = vd.has_score;
        h->score = vd.score;
        h->ttl = vd.ttl;
        h->labels = NULL;
        h->labels_len = 0;
        e->hit_labels[2 * (o->nhits - 1)] = labels_before;
        e->hit_labels[2 * (o->nhits - 1) + 1] = e->nlabels;
        if (r->mode == RULE_MODE_ENFORCE) {
            e->drules[o->ndecision_rules++] = r->name;
            if (vd.verdict > o->decision) {
                o->decision = vd.verdict;
                o->decision_entity = vd.entity;
                o->decision_entity_len = vd.entity_len;
                o->decision_ttl = vd.ttl;
            }
        }
    }
    make_actions(e, o);
    hit_labels_json(e, o);
    /* Effects become visible from the next event on (none from an
     * evaluation that ran out of memory: it fails). */
    for (size_t k = 0; k < e->nlabels && !e->oom; k++) {
        const pending_label_t *l = &e->labels[k];
        int rc = state_label_set(st, l->entity, l->elen, l->label, l->llen,
                                     o->event_ts_ms + l->ttl_ms);
        if (rc < 0) {
            char show[160];
            LOG_WARN("label=%s event=%s msg=\"%s\"",
                     rule_str_show((rule_str_t){ l->label, l->llen }, show, sizeof(show)),
                     o->event_id, state_strerror(rc));
        }
    }
    e->nlabels = 0;
    e->carry = NULL;
    o->status = ENG_EVENT_OK;
    return 0;
}

size_t eng_engine_value_slots(const eng_engine_t *e) { return e->nvals; }

size_t eng_engine_value_slot(const eng_engine_t *e, size_t counter) { return e->voff[counter]; }

const struct rule_counters *eng_engine_counters(const eng_engine_t *e) { return e->counters; }

const double ENG_COST_BOUNDS_US[ENG_COST_BUCKETS - 1] = {
    1, 2.5, 5, 10, 25, 50, 100, 250, 1000, 10000, 100000,
};

void eng_engine_set_overlay(eng_engine_t *e, const rule_overlay_t *ov)
{
    e->overlay = ov;
}

const rule_lists_t *eng_engine_lists(const eng_engine_t *e)
{
    return e->lists;
}

int eng_engine_set_mode(eng_engine_t *e, const char *name, int mode)
{
    rule_t *const *rules;
    size_t n = rule_pack_rules(e->pack, &rules);
    for (size_t i = 0; i < n; i++) {
        rule_t *r = rules[i];
        if (strcmp(r->name, name) != 0)
            continue;
        eng_rule_stats_t *st = &e->stats[r->index];
        int m = mode < 0 ? st->pack_mode : mode;
        if (st->pack_mode == RULE_MODE_OFF && m != RULE_MODE_OFF && !e->opts.run_off_rules)
            return -2;
        r->mode = m;
        st->mode = m;
        return 0;
    }
    return -1;
}

const rule_t *eng_engine_rule(const eng_engine_t *e, const char *name)
{
    rule_t *const *rules;
    size_t n = rule_pack_rules(e->pack, &rules);
    for (size_t i = 0; i < n; i++)
        if (strcmp(rules[i]->name, name) == 0)
            return rules[i];
    return NULL;
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

wd_lua_t *eng_engine_vm(eng_engine_t *e) { return e->vm; }
const rule_pack_t *eng_engine_pack(const eng_engine_t *e) { return e->pack; }

const eng_opts_t *eng_engine_opts(const eng_engine_t *e) { return &e->opts; }

rule_ctx_t *eng_engine_rule_ctx(eng_engine_t *e) { return &e->ctx; }

void eng_engine_set_trace(eng_engine_t *e, struct rule_trace *t) { e->ctx.trace = t; }

int eng_engine_reset_state(eng_engine_t *e)
{
    state_t *fresh = state_new_like(e->state);
    if (fresh == NULL)
        return -1;   /* the old state stays */
    state_destroy(e->state);
    e->state = fresh;
    e->cur_state = fresh;
    e->nlabels = 0;
    return 0;
}
