/* The replay pass: both packs see every event of [from − warm-up, to) in
 * input order, each with its own engine and state; the window's outcomes
 * are compared hit by hit (both hit lists are in rule-name order, so one
 * merge) and counted per rule.  Each event is parsed once: the window
 * check, the field check and both engines read the same document. */
#include "replay/rpl_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/wd_alloc.h"
#include "base/wd_util.h"
#include "rules/rule_counters.h"
#include "rules/rule_types.h"

#define SAMPLES_DEFAULT 10

/* ---- string set ---------------------------------------------------------- */

static uint64_t hash_bytes(const char *k, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 1099511628211ULL;
    return h;
}

static int set_grow(rpl_set_t *s)
{
    size_t cap = s->cap ? s->cap * 2 : 64;
    char **keys = calloc(cap, sizeof(char *));
    size_t *lens = calloc(cap, sizeof(size_t));
    int *vals = calloc(cap, sizeof(int));
    if (!keys || !lens || !vals) {
        free(keys);
        free(lens);
        free(vals);
        return -1;
    }
    /* Order of insertion is not kept: callers index by key only. */
    for (size_t i = 0; i < s->cap; i++) {
        if (s->keys[i] == NULL)
            continue;
        size_t j = hash_bytes(s->keys[i], s->lens[i]) & (cap - 1);
        while (keys[j])
            j = (j + 1) & (cap - 1);
        keys[j] = s->keys[i];
        lens[j] = s->lens[i];
        vals[j] = s->vals[i];
    }
    free(s->keys);
    free(s->lens);
    free(s->vals);
    s->keys = keys;
    s->lens = lens;
    s->vals = vals;
    s->cap = cap;
    return 0;
}

long rpl_set_find(const rpl_set_t *s, const char *k, size_t len)
{
    if (s->cap == 0)
        return -1;
    size_t j = hash_bytes(k, len) & (s->cap - 1);
    while (s->keys[j]) {
        if (s->lens[j] == len && memcmp(s->keys[j], k, len) == 0)
            return (long)j;
        j = (j + 1) & (s->cap - 1);
    }
    return -1;
}

long rpl_set_put(rpl_set_t *s, const char *k, size_t len, int val, int *isnew)
{
    long f = rpl_set_find(s, k, len);
    if (isnew)
        *isnew = f < 0;
    if (f >= 0)
        return f;
    if ((s->n + 1) * 2 > s->cap && set_grow(s) != 0)
        return -1;
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return -1;
    memcpy(copy, k, len);
    copy[len] = '\0';
    size_t j = hash_bytes(k, len) & (s->cap - 1);
    while (s->keys[j])
        j = (j + 1) & (s->cap - 1);
    s->keys[j] = copy;
    s->lens[j] = len;
    s->vals[j] = val;
    s->n++;
    return (long)j;
}

void rpl_set_free(rpl_set_t *s)
{
    for (size_t i = 0; i < s->cap; i++)
        free(s->keys[i]);
    free(s->keys);
    free(s->lens);
    free(s->vals);
    memset(s, 0, sizeof(*s));
}

/* ---- setup --------------------------------------------------------------- */

void rpl_opts_default(rpl_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    eng_opts_default(&o->eng);
    o->from_ms = RPL_UNBOUNDED_FROM;
    o->to_ms = RPL_UNBOUNDED_TO;
    o->warmup_ms = -1;
    o->samples = SAMPLES_DEFAULT;
}

static int cmp_rule(const void *a, const void *b)
{
    return strcmp(((const rpl_rule_t *)a)->name, ((const rpl_rule_t *)b)->name);
}

long rpl_rule_find(const rpl_t *r, const char *name)
{
    size_t lo = 0, hi = r->nrules;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(r->rules[mid].name, name);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* The longest counter window of a pack (0 without counters). */
int64_t rpl_longest_window(eng_engine_t *e)
{
    rule_counters_t *cs;
    char err[256];
    int64_t max = 0;
    if (rule_counters_load(rule_pack_dir(eng_engine_pack(e)), &cs, err, sizeof(err)) != 0)
        return 0;   /* the engine loaded it already: cannot fail here */
    for (size_t i = 0; i < rule_counters_count(cs); i++) {
        const rule_counter_spec_t *c = rule_counters_get(cs, i);
        for (size_t w = 0; w < c->nwindows; w++)
            if (c->windows_ms[w] > max)
                max = c->windows_ms[w];
    }
    rule_counters_destroy(cs);
    return max;
}

/* The union of both packs' rules, by name, and each pack's index map. */
static int build_rules(rpl_t *r)
{
    rule_t *const *rs[2];
    size_t n[2] = { 0, 0 };
    for (size_t s = 0; s < r->nsides; s++)
        n[s] = rule_pack_rules(eng_engine_pack(r->eng[s]), &rs[s]);
    r->rules = calloc(n[0] + n[1] + 1, sizeof(rpl_rule_t));
    if (r->rules == NULL)
        return -1;
    for (size_t s = 0; s < r->nsides; s++) {
        for (size_t i = 0; i < n[s]; i++) {
            long u = rpl_rule_find(r, rs[s][i]->name);
            if (u < 0) {
                r->rules[r->nrules].name = rs[s][i]->name;
                r->rules[r->nrules++].def[s] = rs[s][i];
                qsort(r->rules, r->nrules, sizeof(rpl_rule_t), cmp_rule);
            } else {
                r->rules[u].def[s] = rs[s][i];
            }
        }
    }
    for (size_t s = 0; s < r->nsides; s++) {
        r->uidx[s] = calloc(n[s] + 1, sizeof(size_t));
        r->seen_kills[s] = calloc(n[s] + 1, sizeof(uint64_t));
        if (!r->uidx[s] || !r->seen_kills[s])
            return -1;
        for (size_t i = 0; i < n[s]; i++)
            r->uidx[s][i] = (size_t)rpl_rule_find(r, rs[s][i]->name);
    }
    r->inter = calloc(r->nrules * r->nrules + 1, sizeof(uint64_t));
    r->hitbuf = calloc(r->nrules + 1, sizeof(size_t));
    return r->inter && r->hitbuf ? 0 : -1;
}

rpl_t *rpl_new(const rpl_opts_t *opts, char *errstr, size_t errstr_size)
{
    rpl_t *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    r->opts = *opts;
    if (r->opts.samples == 0)
        r->opts.samples = SAMPLES_DEFAULT;
    const char *dirs[2] = { opts->candidate, opts->baseline };
    r->nsides = opts->baseline ? 2 : 1;
    for (size_t s = 0; s < r->nsides; s++) {
        char err[16384];
        r->eng[s] = eng_engine_new(&r->opts.eng, dirs[s], err, sizeof(err));
        if (r->eng[s] == NULL) {
            snprintf(errstr, errstr_size, "%s pack %s:\n%s", s ? "baseline" : "candidate",
                     dirs[s], err);
            rpl_destroy(r);
            return NULL;
        }
        r->dir[s] = strdup(dirs[s]);
    }
    r->opts.candidate = r->dir[0];
    r->opts.baseline = r->nsides > 1 ? r->dir[1] : NULL;
    r->json = wd_json_new(0);
    if (r->json == NULL || build_rules(r) != 0 || rpl_fields_init(r) != 0) {
        snprintf(errstr, errstr_size, "out of memory");
        rpl_destroy(r);
        return NULL;
    }
    r->warmup_ms = opts->warmup_ms;
    if (r->warmup_ms < 0) {
        r->warmup_ms = 0;
        for (size_t s = 0; s < r->nsides; s++) {
            int64_t w = rpl_longest_window(r->eng[s]);
            if (w > r->warmup_ms)
                r->warmup_ms = w;
        }
    }
    r->start_ms = opts->from_ms < RPL_UNBOUNDED_FROM + r->warmup_ms ? RPL_UNBOUNDED_FROM
                                                                    : opts->from_ms - r->warmup_ms;
    return r;
}

void rpl_destroy(rpl_t *r)
{
    if (r == NULL)
        return;
    for (size_t s = 0; s < 2; s++) {
        eng_engine_destroy(r->eng[s]);
        free(r->dir[s]);
        free(r->uidx[s]);
        free(r->seen_kills[s]);
    }
    for (size_t i = 0; i < r->nrules; i++) {
        rpl_set_free(&r->rules[i].entities);
        for (size_t k = 0; k < r->rules[i].nsamples; k++) {
            free(r->rules[i].samples[k].event_id);
            free(r->rules[i].samples[k].source);
            free(r->rules[i].samples[k].entity);
            free(r->rules[i].samples[k].reason);
        }
        free(r->rules[i].samples);
    }
    free(r->rules);
    free(r->inter);
    free(r->hitbuf);
    rpl_truth_free(&r->truth);
    rpl_fields_free(r);
    free(r->series.counts);
    wd_json_destroy(r->json);
    free(r->input_json);
    free(r);
}

int64_t rpl_start_ms(const rpl_t *r) { return r->start_ms; }
int64_t rpl_warmup_ms(const rpl_t *r) { return r->warmup_ms; }
eng_engine_t *rpl_candidate(rpl_t *r) { return r->eng[RPL_CAND]; }

void rpl_set_overlay(rpl_t *r, const struct rule_overlay *ov)
{
    for (int i = 0; i < 2; i++)
        if (r->eng[i])
            eng_engine_set_overlay(r->eng[i], ov);
}
void rpl_set_partial(rpl_t *r) { r->partial = 1; }

void rpl_set_input(rpl_t *r, const char *json)
{
    free(r->input_json);
    r->input_json = json ? strdup(json) : NULL;
}

void rpl_counts(const rpl_t *r, rpl_counts_t *out)
{
    *out = r->c;
    out->errors_candidate = 0;
    for (size_t i = 0; i < r->nrules; i++)
        out->errors_candidate += r->rules[i].errors[RPL_CAND];
}

/* ---- the pass ------------------------------------------------------------ */

/* Rule errors of one outcome, and budget kills (timeouts, memory) from the
 * engine's per-rule stats since this rule last errored. */
static void count_errors(rpl_t *r, int side, const eng_outcome_t *o, int in_window)
{
    const eng_rule_stats_t *st;
    size_t n = eng_engine_rule_stats(r->eng[side], &st);
    for (size_t i = 0; i < o->nerrors; i++) {
        for (size_t k = 0; k < n; k++) {
            if (st[k].rule != o->errors[i].rule)
                continue;
            uint64_t kills = st[k].timeouts + st[k].oom;
            rpl_rule_t *u = &r->rules[r->uidx[side][k]];
            if (in_window) {
                u->errors[side]++;
                u->kills[side] += kills - r->seen_kills[side][k];
            }
            r->seen_kills[side][k] = kills;
            break;
        }
    }
}

static void source_of(const eng_src_t *src, char *buf, size_t n)
{
    if (src && src->topic)
        snprintf(buf, n, "%s/%" PRId32 "/%" PRId64, src->topic, src->partition, src->offset);
    else if (src && src->file)
        snprintf(buf, n, "%s:%ld", src->file, src->line);
    else
        snprintf(buf, n, "-");
}

static int keep_sample(rpl_t *r, rpl_rule_t *u, const eng_outcome_t *o, const eng_src_t *src,
                       const eng_hit_t *hc, const eng_hit_t *hb)
{
    if (u->nsamples >= r->opts.samples)
        return 0;
    if (u->samples == NULL && (u->samples = calloc(r->opts.samples, sizeof(rpl_sample_t))) == NULL)
        return -1;
    rpl_sample_t *s = &u->samples[u->nsamples];
    char buf[1200];
    source_of(src, buf, sizeof(buf));
    const eng_hit_t *h = hc ? hc : hb;
    s->event_id = strdup(o->event_id);
    s->source = strdup(buf);
    s->entity = wd_strndup(h->entity, h->entity_len);
    const eng_hit_t *hr = hc && hc->reason ? hc : hb && hb->reason ? hb : NULL;
    s->reason = hr ? wd_strndup(hr->reason, hr->reason_len) : NULL;
    s->verdict[0] = hc ? hc->verdict : RULE_VERDICT_NONE;
    s->verdict[1] = hb ? hb->verdict : RULE_VERDICT_NONE;
    u->nsamples++;   /* freed with the others even when a copy failed */
    if (!s->event_id || !s->source || !s->entity || (hr && !s->reason))
        return -1;
    return 0;
}

static int is_enforce(const rpl_rule_t *u)
{
    return (u->def[0] && u->def[0]->mode == RULE_MODE_ENFORCE) ||
           (u->def[1] && u->def[1]->mode == RULE_MODE_ENFORCE);
}

/* Compares the two outcomes of a window event (both RULE_EVENT_OK or not). */
static int compare(rpl_t *r, const eng_outcome_t *oc, const eng_outcome_t *ob, const eng_src_t *src)
{
    static const eng_outcome_t none;
    const eng_outcome_t *c = oc->status == ENG_EVENT_OK ? oc : &none;
    const eng_outcome_t *b = ob->status == ENG_EVENT_OK ? ob : &none;
    int dchanged = c->decision != b->decision ||
                   (c->decision != RULE_VERDICT_NONE &&
                    (c->decision_entity_len != b->decision_entity_len ||
                     memcmp(c->decision_entity, b->decision_entity, c->decision_entity_len) != 0));
    if (dchanged) {
        r->dec_changed++;
        if (b->decision == RULE_VERDICT_NONE)
            r->dec_added++;
        else if (c->decision == RULE_VERDICT_NONE)
            r->dec_removed++;
        else
            r->dec_verdict++;
    }
    size_t i = 0, j = 0;
    while (i < c->nhits || j < b->nhits) {
        const eng_hit_t *hc = i < c->nhits ? &c->hits[i] : NULL;
        const eng_hit_t *hb = j < b->nhits ? &b->hits[j] : NULL;
        int cmp = !hc ? 1 : !hb ? -1 : strcmp(hc->rule, hb->rule);
        if (cmp < 0)
            hb = NULL, i++;
        else if (cmp > 0)
            hc = NULL, j++;
        else
            i++, j++;
        const eng_hit_t *h = hc ? hc : hb;
        long ui = h ? rpl_rule_find(r, h->rule) : -1;
        if (ui < 0)
            continue;
        rpl_rule_t *u = &r->rules[ui];
        int differs = 1;
        if (hb == NULL)
            u->added++;
        else if (hc == NULL)
            u->removed++;
        else if (hc->verdict != hb->verdict)
            u->verdict_changed++;
        else if (hc->entity_len != hb->entity_len ||
                 memcmp(hc->entity, hb->entity, hc->entity_len) != 0)
            u->entity_changed++;
        else
            differs = 0;
        if (!differs)
            continue;
        if (dchanged && is_enforce(u))
            u->decisions_changed++;
        if (hc && rpl_set_put(&u->entities, hc->entity, hc->entity_len, 0, NULL) < 0)
            return -1;
        if (hb && rpl_set_put(&u->entities, hb->entity, hb->entity_len, 0, NULL) < 0)
            return -1;
        if (keep_sample(r, u, oc, src, hc, hb) != 0)
            return -1;
    }
    return 0;
}

/* Candidate hits: per-rule totals, marginal hits and pairwise overlap. */
static void overlap(rpl_t *r, const eng_outcome_t *o)
{
    size_t n = 0;
    for (size_t i = 0; i < o->nhits; i++) {
        long u = rpl_rule_find(r, o->hits[i].rule);
        if (u >= 0)
            r->hitbuf[n++] = (size_t)u;
    }
    if (n == 1)
        r->rules[r->hitbuf[0]].unique++;
    for (size_t a = 0; a < n; a++)
        for (size_t b = a + 1; b < n; b++) {
            size_t x = r->hitbuf[a], y = r->hitbuf[b];
            if (x > y) {
                size_t t = x;
                x = y;
                y = t;
            }
            r->inter[x * r->nrules + y]++;
        }
}

int rpl_feed(rpl_t *r, const char *buf, size_t len, const eng_src_t *src, char *errstr,
             size_t errstr_size)
{
    wd_jval_t root;
    char perr[256];
    int parsed = wd_json_parse(r->json, buf, len, &root, perr, sizeof(perr)) == 0;
    return rpl_feed_doc(r, buf, len, parsed ? &root : NULL, src, errstr, errstr_size);
}

int rpl_feed_doc(rpl_t *r, const char *buf, size_t len, const wd_jval_t *doc,
                 const eng_src_t *src, char *errstr, size_t errstr_size)
{
    r->c.read++;
    wd_jval_t root = doc ? *doc : (wd_jval_t){ NULL, 0 };
    int64_t ts = INT64_MIN;
    const char *why;
    int timed = doc && wd_jval_type(root) == WD_JOBJECT &&
                eng_event_time(&r->opts.eng, root, src, &ts, &why) == 0;
    int in_window = 1;
    if (timed) {
        if (ts < r->start_ms || ts >= r->opts.to_ms) {
            if (ts < r->start_ms)
                r->c.before++;
            else
                r->c.after++;
            return 0;
        }
        in_window = ts >= r->opts.from_ms;
    }
    /* An event without a usable time is evaluated (and so rejected by the
     * engine with its reason), as warden eval does. */
    const eng_outcome_t *o[2] = { NULL, NULL };
    for (size_t s = 0; s < r->nsides; s++) {
        /* One parse for everything: both engines read the same document;
         * bytes that did not parse go to the engine for its reject reason. */
        int rc = doc ? eng_engine_eval_doc(r->eng[s], NULL, root, src, &o[s])
                     : eng_engine_eval(r->eng[s], NULL, buf, len, src, &o[s]);
        if (rc != 0) {
            snprintf(errstr, errstr_size, "internal error evaluating an event (out of memory)");
            return -1;
        }
        if (o[s]->nerrors)
            count_errors(r, (int)s, o[s], in_window);
    }
    if (o[RPL_CAND] == NULL)
        return 0;   /* no side evaluated (nsides is at least 1 once opened) */
    if (o[RPL_CAND]->status == ENG_EVENT_REJECTED) {
        r->c.rejected++;
        return 0;
    }
    if (!in_window) {
        r->c.warmup++;
        return 0;
    }
    r->c.window++;
    rpl_fields_event(r, root);
    for (size_t s = 0; s < r->nsides; s++) {
        if (o[s]->status == ENG_EVENT_UNROUTED)
            r->unrouted[s]++;
        if (o[s]->status != ENG_EVENT_OK)
            continue;
        for (size_t i = 0; i < o[s]->nhits; i++) {
            long u = rpl_rule_find(r, o[s]->hits[i].rule);
            if (u < 0)
                continue;
            r->rules[u].hits[s]++;
            if (rpl_series_hit(r, (size_t)u, (int)s, o[s]->event_ts_ms) != 0) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
            }
        }
        if (s == RPL_CAND)
            r->c.hits_candidate += o[s]->nhits;
        else
            r->c.hits_baseline += o[s]->nhits;
        if (o[s]->decision != RULE_VERDICT_NONE)
            r->actions[s]++;
    }
    if (o[RPL_CAND]->status == ENG_EVENT_OK)
        overlap(r, o[RPL_CAND]);
    if (r->nsides > 1 && compare(r, o[RPL_CAND], o[RPL_BASE], src) != 0) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    if (r->has_truth)
        rpl_truth_event(r, o);
    if (r->opts.on_hit && o[RPL_CAND]->status == ENG_EVENT_OK &&
        (o[RPL_CAND]->nhits || o[RPL_CAND]->decision != RULE_VERDICT_NONE))
        r->opts.on_hit(r->opts.on_hit_ud, o[RPL_CAND], src);
    return 0;
}

/* ---- times and progress -------------------------------------------------- */

int rpl_parse_time(const char *s, int64_t now_ms, int64_t *out)
{
    if (strcmp(s, "now") == 0) {
        *out = now_ms;
        return 0;
    }
    const char *rel = NULL;
    if (s[0] == '-')
        rel = s + 1;
    else if (strncmp(s, "now-", 4) == 0)
        rel = s + 4;
    if (rel) {
        int64_t d;
        if (rule_parse_duration(rel, &d) != 0)
            return -1;
        *out = now_ms - d;
        return 0;
    }
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*s && *end == '\0' && s[0] != '+') {
        *out = v;
        return 0;
    }
    return wd_parse_rfc3339(s, strlen(s), out);
}

int rpl_parse_warmup(const char *s, int64_t *out)
{
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    return rule_parse_duration(s, out);
}

void rpl_progress(FILE *f, const char *unit, uint64_t done, uint64_t total, uint64_t events,
                  double secs)
{
    double rate = secs > 0 ? (double)events / secs : 0;
    if (total) {
        double frac = done >= total ? 1.0 : (double)done / (double)total;
        double eta = frac > 0 ? secs / frac - secs : 0;
        fprintf(f, "\rreplay: %" PRIu64 " events, %.1f%% of %" PRIu64 " %s, %.0f events/s, ETA %.0f s   ",
                events, 100.0 * frac, total, unit, rate, eta);
    } else {
        fprintf(f, "\rreplay: %" PRIu64 " events, %.0f events/s   ", events, rate);
    }
    fflush(f);
}
