/* The replay report, as JSON (rpl_report_json: one object, stable field
 * names, for tools and tests) and as Markdown (rpl_report_md: the same
 * numbers for people).  Field meanings: docs/replay.md. */
#include "replay/rpl_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rule_types.h"

static int cmp_pair(const void *x, const void *y)
{
    const rpl_pair_t *p = x, *q = y;
    if (p->jaccard != q->jaccard)
        return p->jaccard < q->jaccard ? 1 : -1;
    if (p->a != q->a)
        return p->a < q->a ? -1 : 1;
    return p->b < q->b ? -1 : p->b > q->b;
}

size_t rpl_pairs(const rpl_t *r, rpl_pair_t **out)
{
    size_t n = 0, cap = 0;
    rpl_pair_t *ps = NULL;
    for (size_t a = 0; a < r->nrules; a++)
        for (size_t b = a + 1; b < r->nrules; b++) {
            uint64_t both = r->inter[a * r->nrules + b];
            if (both == 0)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                rpl_pair_t *g = realloc(ps, cap * sizeof(*ps));
                if (g == NULL)
                    break;
                ps = g;
            }
            uint64_t either = r->rules[a].hits[RPL_CAND] + r->rules[b].hits[RPL_CAND] - both;
            ps[n++] = (rpl_pair_t){ a, b, both, either, either ? (double)both / (double)either : 0 };
        }
    if (n)
        qsort(ps, n, sizeof(*ps), cmp_pair);
    *out = ps;
    return n;
}

static void json_time(wd_buf_t *b, int64_t ms)
{
    if (ms == RPL_UNBOUNDED_FROM || ms == RPL_UNBOUNDED_TO) {
        wd_buf_adds(b, "null");
        return;
    }
    wd_buf_addc(b, '"');
    wd_buf_rfc3339(b, ms);
    wd_buf_addc(b, '"');
}

static void json_key(wd_buf_t *b, const char *k)
{
    wd_buf_json_str(b, k, strlen(k));
    wd_buf_addc(b, ':');
}

static void json_s(wd_buf_t *b, const char *s)
{
    if (s)
        wd_buf_json_str(b, s, strlen(s));
    else
        wd_buf_adds(b, "null");
}

static void json_ratio(wd_buf_t *b, uint64_t num, uint64_t den)
{
    if (den == 0)
        wd_buf_adds(b, "null");
    else
        wd_buf_printf(b, "%.4f", (double)num / (double)den);
}

static const char *verdict_or_null(int v)
{
    return v == RULE_VERDICT_NONE ? NULL : rule_verdict_name(v);
}

static void json_pr(wd_buf_t *b, const rpl_pr_t *p)
{
    wd_buf_printf(b, "{\"tp\":%" PRIu64 ",\"fp\":%" PRIu64 ",\"fn\":%" PRIu64 ",\"precision\":",
                  p->tp, p->fp, p->fn);
    json_ratio(b, p->tp, p->tp + p->fp);
    wd_buf_adds(b, ",\"recall\":");
    json_ratio(b, p->tp, p->tp + p->fn);
    wd_buf_addc(b, '}');
}

static void json_side(const rpl_t *r, wd_buf_t *b, int s)
{
    if ((size_t)s >= r->nsides) {
        wd_buf_adds(b, "null");
        return;
    }
    wd_buf_adds(b, "{\"rules\":");
    json_s(b, r->dir[s]);
    wd_buf_adds(b, ",\"pack_sha256\":");
    json_s(b, eng_engine_pack_hash(r->eng[s]));
    wd_buf_printf(b, ",\"hits\":%" PRIu64 ",\"actions\":%" PRIu64 ",\"unrouted\":%" PRIu64 "}",
                  s == RPL_CAND ? r->c.hits_candidate : r->c.hits_baseline, r->actions[s],
                  r->unrouted[s]);
}

void rpl_report_json(const rpl_t *r, wd_buf_t *b)
{
    int base = r->nsides > 1;
    wd_buf_printf(b, "{\"partial\":%s,\"window\":{\"from\":", r->partial ? "true" : "false");
    json_time(b, r->opts.from_ms);
    wd_buf_adds(b, ",\"to\":");
    json_time(b, r->opts.to_ms);
    wd_buf_printf(b, ",\"warmup_ms\":%" PRId64 ",\"warmup_from\":", r->warmup_ms);
    json_time(b, r->start_ms);
    wd_buf_adds(b, "},\"input\":");
    wd_buf_adds(b, r->input_json ? r->input_json : "null");
    wd_buf_printf(b,
                  ",\"events\":{\"read\":%" PRIu64 ",\"before_window\":%" PRIu64 ",\"warmup\":%" PRIu64
                  ",\"in_window\":%" PRIu64 ",\"after_window\":%" PRIu64 ",\"rejected\":%" PRIu64 "}",
                  r->c.read, r->c.before, r->c.warmup, r->c.window, r->c.after, r->c.rejected);
    wd_buf_adds(b, ",\"candidate\":");
    json_side(r, b, RPL_CAND);
    wd_buf_adds(b, ",\"baseline\":");
    json_side(r, b, RPL_BASE);
    if (base)
        wd_buf_printf(b,
                      ",\"decisions\":{\"candidate\":%" PRIu64 ",\"baseline\":%" PRIu64
                      ",\"changed\":%" PRIu64 ",\"added\":%" PRIu64 ",\"removed\":%" PRIu64
                      ",\"verdict_changed\":%" PRIu64 "}",
                      r->actions[0], r->actions[1], r->dec_changed, r->dec_added, r->dec_removed,
                      r->dec_verdict);
    else
        wd_buf_adds(b, ",\"decisions\":null");
    wd_buf_adds(b, ",\"rules\":[");
    for (size_t i = 0; i < r->nrules; i++) {
        const rpl_rule_t *u = &r->rules[i];
        if (i)
            wd_buf_addc(b, ',');
        wd_buf_adds(b, "{\"rule\":");
        json_s(b, u->name);
        for (int s = 0; s < 2; s++) {
            wd_buf_printf(b, ",\"%s\":", s ? "baseline" : "candidate");
            if (u->def[s] == NULL) {
                wd_buf_adds(b, "null");
                continue;
            }
            wd_buf_printf(b, "{\"version\":%ld,\"mode\":\"%s\",\"hits\":%" PRIu64 ",\"errors\":%" PRIu64
                          ",\"budget_kills\":%" PRIu64 "}",
                          u->def[s]->version, rule_mode_name(u->def[s]->mode), u->hits[s], u->errors[s],
                          u->kills[s]);
        }
        wd_buf_printf(b, ",\"unique_hits\":%" PRIu64, u->unique);
        if (!base) {
            wd_buf_addc(b, '}');
            continue;
        }
        wd_buf_printf(b,
                      ",\"added\":%" PRIu64 ",\"removed\":%" PRIu64 ",\"verdict_changed\":%" PRIu64
                      ",\"entity_changed\":%" PRIu64 ",\"entities_affected\":%zu"
                      ",\"decisions_changed\":%" PRIu64 ",\"samples\":[",
                      u->added, u->removed, u->verdict_changed, u->entity_changed, u->entities.n,
                      u->decisions_changed);
        for (size_t k = 0; k < u->nsamples; k++) {
            const rpl_sample_t *s = &u->samples[k];
            if (k)
                wd_buf_addc(b, ',');
            wd_buf_adds(b, "{\"event_id\":");
            json_s(b, s->event_id);
            wd_buf_adds(b, ",\"source\":");
            json_s(b, s->source);
            wd_buf_adds(b, ",\"entity\":");
            json_s(b, s->entity);
            wd_buf_adds(b, ",\"reason\":");
            json_s(b, s->reason);
            wd_buf_adds(b, ",\"candidate\":");
            json_s(b, verdict_or_null(s->verdict[0]));
            wd_buf_adds(b, ",\"baseline\":");
            json_s(b, verdict_or_null(s->verdict[1]));
            wd_buf_addc(b, '}');
        }
        wd_buf_adds(b, "]}");
    }
    wd_buf_adds(b, "],\"overlap\":[");
    rpl_pair_t *ps;
    size_t np = rpl_pairs(r, &ps);
    for (size_t i = 0; i < np && i < RPL_TOP_PAIRS; i++) {
        if (i)
            wd_buf_addc(b, ',');
        wd_buf_adds(b, "{\"a\":");
        json_s(b, r->rules[ps[i].a].name);
        wd_buf_adds(b, ",\"b\":");
        json_s(b, r->rules[ps[i].b].name);
        wd_buf_printf(b, ",\"both\":%" PRIu64 ",\"either\":%" PRIu64 ",\"jaccard\":%.4f}", ps[i].both,
                      ps[i].either, ps[i].jaccard);
    }
    free(ps);
    wd_buf_adds(b, "],\"truth\":");
    if (!r->has_truth) {
        wd_buf_adds(b, "null");
    } else {
        wd_buf_printf(b, "{\"event_labels\":%" PRIu64 ",\"entity_labels\":%" PRIu64, r->truth.n_event,
                      r->truth.n_entity);
        for (int s = 0; s < (int)r->nsides; s++) {
            rpl_pr_t pr;
            wd_buf_printf(b, ",\"%s\":{\"pack\":", s ? "baseline" : "candidate");
            rpl_truth_pr(r, r->nrules, s, &pr);
            json_pr(b, &pr);
            wd_buf_adds(b, ",\"rules\":{");
            int first = 1;
            for (size_t i = 0; i < r->nrules; i++) {
                if (r->rules[i].def[s] == NULL)
                    continue;
                if (!first)
                    wd_buf_addc(b, ',');
                first = 0;
                json_key(b, r->rules[i].name);
                rpl_truth_pr(r, i, s, &pr);
                json_pr(b, &pr);
            }
            wd_buf_adds(b, "}}");
        }
        wd_buf_addc(b, '}');
    }
    wd_buf_adds(b, ",\"fields\":[");
    char flag[256];
    for (size_t i = 0; i < r->nfrules; i++) {
        const rpl_frule_t *f = &r->frules[i];
        const rpl_fpath_t *p = &r->fpaths[f->fpath];
        uint64_t evs = 0;
        for (size_t s = 0; s < r->nfstreams; s++)
            if (strcmp(r->fstreams[s].name, p->stream) == 0)
                evs = r->fstreams[s].events;
        if (i)
            wd_buf_addc(b, ',');
        wd_buf_adds(b, "{\"rule\":");
        json_s(b, r->rules[f->rule].name);
        wd_buf_adds(b, ",\"stream\":");
        json_s(b, p->stream);
        wd_buf_adds(b, ",\"field\":");
        json_s(b, p->path);
        wd_buf_printf(b, ",\"events\":%" PRIu64 ",\"present\":%" PRIu64 ",\"types\":{", evs, p->present);
        int first = 1;
        for (int t = WD_JNULL; t <= WD_JOBJECT; t++) {
            uint64_t n = p->types[t];
            if (t == WD_JINT)
                n += p->types[WD_JDOUBLE];
            if (t == WD_JDOUBLE || n == 0)
                continue;
            wd_buf_printf(b, "%s\"%s\":%" PRIu64, first ? "" : ",", rpl_jtype_name(t), n);
            first = 0;
        }
        wd_buf_adds(b, "},\"expected\":[");
        first = 1;
        for (int t = WD_JBOOL; t <= WD_JOBJECT; t++) {
            if (t == WD_JDOUBLE || !(f->expected & (1u << t)))
                continue;
            wd_buf_printf(b, "%s\"%s\"", first ? "" : ",", rpl_jtype_name(t));
            first = 0;
        }
        wd_buf_adds(b, "],\"flag\":");
        json_s(b, rpl_fields_flag(r, f, flag, sizeof(flag)));
        wd_buf_addc(b, '}');
    }
    wd_buf_adds(b, "]}\n");
}

/* ---- Markdown ------------------------------------------------------------ */

static void md_time(wd_buf_t *b, int64_t ms, const char *unbounded)
{
    if (ms == RPL_UNBOUNDED_FROM || ms == RPL_UNBOUNDED_TO)
        wd_buf_adds(b, unbounded);
    else
        wd_buf_rfc3339(b, ms);
}

/* Markdown table cells: '|' and newlines would break the row. */
static void md_cell(wd_buf_t *b, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '|')
            wd_buf_adds(b, "\\|");
        else if (*s == '\n' || *s == '\r')
            wd_buf_addc(b, ' ');
        else
            wd_buf_addc(b, *s);
    }
}

static void md_pct(wd_buf_t *b, uint64_t num, uint64_t den)
{
    if (den == 0)
        wd_buf_adds(b, "–");
    else
        wd_buf_printf(b, "%.1f%%", 100.0 * (double)num / (double)den);
}

void rpl_report_md(const rpl_t *r, wd_buf_t *b)
{
    int base = r->nsides > 1;
    wd_buf_adds(b, "# Replay report\n\n");
    if (r->partial)
        wd_buf_adds(b, "**PARTIAL: the replay was stopped before the end of its window; the numbers "
                       "cover only the events read.**\n\n");
    wd_buf_adds(b, "- Window: ");
    md_time(b, r->opts.from_ms, "(start of input)");
    wd_buf_adds(b, " → ");
    md_time(b, r->opts.to_ms, "(end of input)");
    wd_buf_printf(b, ", warm-up %" PRId64 " s from ", r->warmup_ms / 1000);
    md_time(b, r->start_ms, "(start of input)");
    wd_buf_adds(b, "\n- Candidate: `");
    md_cell(b, r->dir[0]);
    wd_buf_printf(b, "` — %" PRIu64 " hits, %" PRIu64 " actions\n", r->c.hits_candidate, r->actions[0]);
    if (base) {
        wd_buf_adds(b, "- Baseline: `");
        md_cell(b, r->dir[1]);
        wd_buf_printf(b, "` — %" PRIu64 " hits, %" PRIu64 " actions\n", r->c.hits_baseline,
                      r->actions[1]);
    }
    wd_buf_printf(b,
                  "- Events: %" PRIu64 " read, %" PRIu64 " in the window, %" PRIu64 " warm-up, %" PRIu64
                  " before, %" PRIu64 " after, %" PRIu64 " rejected\n\n",
                  r->c.read, r->c.window, r->c.warmup, r->c.before, r->c.after, r->c.rejected);
    if (base) {
        wd_buf_printf(b,
                      "## Decisions\n\n%" PRIu64 " actions would change: %" PRIu64 " new, %" PRIu64
                      " gone, %" PRIu64 " with another verdict or entity.\n\n",
                      r->dec_changed, r->dec_added, r->dec_removed, r->dec_verdict);
    }
    wd_buf_adds(b, "## Rules\n\n");
    if (base)
        wd_buf_adds(b, "| rule | candidate | baseline | added | removed | verdict changed | entities "
                       "| decisions changed | errors (c/b) | budget kills (c/b) | unique |\n"
                       "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    else
        wd_buf_adds(b, "| rule | hits | errors | budget kills | unique |\n|---|---:|---:|---:|---:|\n");
    for (size_t i = 0; i < r->nrules; i++) {
        const rpl_rule_t *u = &r->rules[i];
        wd_buf_adds(b, "| ");
        md_cell(b, u->name);
        if (!base) {
            wd_buf_printf(b, " | %" PRIu64 " | %" PRIu64 " | %" PRIu64 " | %" PRIu64 " |\n", u->hits[0],
                          u->errors[0], u->kills[0], u->unique);
            continue;
        }
        wd_buf_adds(b, " | ");
        if (u->def[0])
            wd_buf_printf(b, "%" PRIu64, u->hits[0]);
        else
            wd_buf_adds(b, "(absent)");
        wd_buf_adds(b, " | ");
        if (u->def[1])
            wd_buf_printf(b, "%" PRIu64, u->hits[1]);
        else
            wd_buf_adds(b, "(absent)");
        wd_buf_printf(b,
                      " | %" PRIu64 " | %" PRIu64 " | %" PRIu64 " | %zu | %" PRIu64 " | %" PRIu64
                      "/%" PRIu64 " | %" PRIu64 "/%" PRIu64 " | %" PRIu64 " |\n",
                      u->added, u->removed, u->verdict_changed, u->entities.n, u->decisions_changed,
                      u->errors[0], u->errors[1], u->kills[0], u->kills[1], u->unique);
    }
    if (base) {
        int any = 0;
        for (size_t i = 0; i < r->nrules; i++) {
            const rpl_rule_t *u = &r->rules[i];
            if (u->nsamples == 0)
                continue;
            if (!any)
                wd_buf_adds(b, "\n## Differing events (samples)\n");
            any = 1;
            wd_buf_adds(b, "\n### ");
            md_cell(b, u->name);
            wd_buf_adds(b, "\n\n| event | source | entity | candidate | baseline |\n|---|---|---|---|---|\n");
            for (size_t k = 0; k < u->nsamples; k++) {
                const rpl_sample_t *s = &u->samples[k];
                wd_buf_adds(b, "| ");
                md_cell(b, s->event_id);
                wd_buf_adds(b, " | ");
                md_cell(b, s->source);
                wd_buf_adds(b, " | ");
                md_cell(b, s->entity);
                wd_buf_printf(b, " | %s | %s |\n", s->verdict[0] ? rule_verdict_name(s->verdict[0]) : "–",
                              s->verdict[1] ? rule_verdict_name(s->verdict[1]) : "–");
            }
        }
    }
    wd_buf_adds(b, "\n## Overlap (candidate)\n\n");
    rpl_pair_t *ps;
    size_t np = rpl_pairs(r, &ps);
    if (np == 0)
        wd_buf_adds(b, "No two candidate rules hit the same event.\n");
    else
        wd_buf_adds(b, "| rule A | rule B | both | either | Jaccard |\n|---|---|---:|---:|---:|\n");
    for (size_t i = 0; i < np && i < RPL_TOP_PAIRS; i++) {
        wd_buf_adds(b, "| ");
        md_cell(b, r->rules[ps[i].a].name);
        wd_buf_adds(b, " | ");
        md_cell(b, r->rules[ps[i].b].name);
        wd_buf_printf(b, " | %" PRIu64 " | %" PRIu64 " | %.3f |\n", ps[i].both, ps[i].either,
                      ps[i].jaccard);
    }
    free(ps);
    if (r->has_truth) {
        wd_buf_printf(b, "\n## Ground truth\n\n%" PRIu64 " event labels, %" PRIu64 " entity labels.\n\n",
                      r->truth.n_event, r->truth.n_entity);
        wd_buf_adds(b, "| rule | side | TP | FP | FN | precision | recall |\n|---|---|---:|---:|---:|---:|---:|\n");
        for (size_t i = 0; i <= r->nrules; i++) {
            for (int s = 0; s < (int)r->nsides; s++) {
                if (i < r->nrules && r->rules[i].def[s] == NULL)
                    continue;
                rpl_pr_t pr;
                rpl_truth_pr(r, i, s, &pr);
                wd_buf_adds(b, "| ");
                if (i < r->nrules)
                    md_cell(b, r->rules[i].name);
                else
                    wd_buf_adds(b, "**whole pack**");
                wd_buf_printf(b, " | %s | %" PRIu64 " | %" PRIu64 " | %" PRIu64 " | ",
                              s ? "baseline" : "candidate", pr.tp, pr.fp, pr.fn);
                md_pct(b, pr.tp, pr.tp + pr.fp);
                wd_buf_adds(b, " | ");
                md_pct(b, pr.tp, pr.tp + pr.fn);
                wd_buf_adds(b, " |\n");
            }
        }
    }
    wd_buf_adds(b, "\n## Field check (candidate)\n\n");
    char flag[256];
    int flagged = 0;
    for (size_t i = 0; i < r->nfrules; i++) {
        const rpl_frule_t *f = &r->frules[i];
        const char *why = rpl_fields_flag(r, f, flag, sizeof(flag));
        if (why == NULL)
            continue;
        if (!flagged)
            wd_buf_adds(b, "| rule | stream | field | present | flag |\n|---|---|---|---:|---|\n");
        flagged++;
        const rpl_fpath_t *p = &r->fpaths[f->fpath];
        wd_buf_adds(b, "| ");
        md_cell(b, r->rules[f->rule].name);
        wd_buf_adds(b, " | ");
        md_cell(b, p->stream);
        wd_buf_adds(b, " | ");
        md_cell(b, p->path);
        wd_buf_printf(b, " | %" PRIu64 " | ", p->present);
        md_cell(b, why);
        wd_buf_adds(b, " |\n");
    }
    if (!flagged)
        wd_buf_printf(b, "All %zu declared fields look as the rules expect.\n", r->nfrules);
}
