/* The replay report as one self-contained HTML page (rpl_report_html):
 * the summary and rules tables, hits over event time per rule as inline
 * SVG charts (candidate and baseline series), decisions, differing-event
 * samples, overlap, precision/recall and the field check.  No script, no
 * external asset; a Content-Security-Policy forbids both, and every string
 * that comes from events or rule files is escaped (html_text).  Also the
 * per-bucket hit counts the charts draw (rpl_series_hit, on the pass). */
#include "replay/rpl_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rule_types.h"

#define HOUR_MS INT64_C(3600000)

/* ---- hits over time ------------------------------------------------------ */

static int64_t floor_to(int64_t t, int64_t w)
{
    int64_t q = t / w;
    if (t % w < 0)
        q--;
    return q * w;
}

/* Doubles the bucket width, adding each bucket into its new one. */
static void widen(rpl_series_t *S, size_t row)
{
    int64_t w2 = S->width_ms * 2;
    int64_t nb = floor_to(S->base_ms, w2);
    size_t nn = 0;
    for (size_t i = 0; i < S->n; i++) {
        size_t j = (size_t)((S->base_ms + (int64_t)i * S->width_ms - nb) / w2);   /* j <= i */
        if (j != i) {
            for (size_t k = 0; k < row; k++) {
                S->counts[j * row + k] += S->counts[i * row + k];
                S->counts[i * row + k] = 0;
            }
        }
        nn = j + 1;
    }
    S->base_ms = nb;
    S->width_ms = w2;
    S->n = nn;
}

/* Cost: O(1) for an event inside the current span (the usual case); a
 * span that grows moves or merges the buckets (at most RPL_SERIES_MAX rows). */
int rpl_series_hit(rpl_t *r, size_t u, int side, int64_t ts)
{
    rpl_series_t *S = &r->series;
    size_t row = r->nrules * 2;
    if (ts == INT64_MIN)
        return 0;
    if (S->counts == NULL) {
        if ((S->counts = calloc(RPL_SERIES_MAX * row + 1, sizeof(uint64_t))) == NULL)
            return -1;
        S->width_ms = HOUR_MS;
    }
    if (S->n == 0) {
        S->base_ms = floor_to(ts, S->width_ms);
        S->n = 1;
    }
    int64_t b;
    for (;;) {
        b = floor_to(ts, S->width_ms);
        int64_t end = S->base_ms + (int64_t)S->n * S->width_ms;
        if (b >= S->base_ms && b < end)
            break;
        int64_t lo = b < S->base_ms ? b : S->base_ms;
        int64_t hi = b >= end ? b + S->width_ms : end;
        if ((hi - lo) / S->width_ms > RPL_SERIES_MAX) {
            widen(S, row);
            continue;
        }
        size_t shift = (size_t)((S->base_ms - lo) / S->width_ms);
        if (shift) {
            memmove(S->counts + shift * row, S->counts, S->n * row * sizeof(uint64_t));
            memset(S->counts, 0, shift * row * sizeof(uint64_t));
        }
        S->base_ms = lo;
        S->n = (size_t)((hi - lo) / S->width_ms);
    }
    S->counts[(size_t)((b - S->base_ms) / S->width_ms) * row + u * 2 + (size_t)side]++;
    return 0;
}

/* ---- HTML ---------------------------------------------------------------- */

/* Text for an element or a quoted attribute: markup characters as
 * entities, control bytes shown as \xNN (never raw). */
static void html_text(wd_buf_t *b, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&': wd_buf_adds(b, "&amp;"); break;
        case '<': wd_buf_adds(b, "&lt;"); break;
        case '>': wd_buf_adds(b, "&gt;"); break;
        case '"': wd_buf_adds(b, "&quot;"); break;
        case '\'': wd_buf_adds(b, "&#39;"); break;
        default:
            if (c < 0x20 || c == 0x7f)
                wd_buf_printf(b, "\\x%02x", c);
            else
                wd_buf_addc(b, (char)c);
        }
    }
}

static void html_time(wd_buf_t *b, int64_t ms, const char *unbounded)
{
    if (ms == RPL_UNBOUNDED_FROM || ms == RPL_UNBOUNDED_TO)
        wd_buf_adds(b, unbounded);
    else
        wd_buf_rfc3339(b, ms);
}

static void html_pct(wd_buf_t *b, uint64_t num, uint64_t den)
{
    if (den == 0)
        wd_buf_adds(b, "–");
    else
        wd_buf_printf(b, "%.1f%%", 100.0 * (double)num / (double)den);
}

static const char STYLE[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}"
    "h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ccc}"
    "table{border-collapse:collapse;margin:8px 0}"
    "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}"
    "th{background:#eef2f7}tr.flag td{background:#fde2e1}"
    ".partial{background:#fff3cd;border:1px solid #e0b300;padding:8px;font-weight:bold}"
    "figure{margin:0}figcaption{font-weight:bold}"
    ".charts{display:flex;flex-wrap:wrap;gap:12px 24px}"
    ".legend span{display:inline-block;margin-right:16px}"
    ".sw{display:inline-block;width:24px;height:0;border-top:3px solid;vertical-align:middle;margin-right:4px}"
    ".sw.c{border-color:#1f6fb4}.sw.b{border-color:#e8710a;border-top-style:dashed}"
    "svg text{font:11px sans-serif;fill:#333}"
    "code{background:#f3f3f3;padding:0 3px}";

/* Chart geometry. */
#define CW 640
#define CH 200
#define ML 64
#define MR 16
#define MT 12
#define MB 44

static double bucket_x(size_t i, size_t n)
{
    return ML + (double)i * (CW - ML - MR) / (double)n;
}

/* One series as a step path over all buckets (a flat line for one bucket). */
static void series_path(wd_buf_t *b, const rpl_t *r, size_t u, int side, uint64_t max)
{
    const rpl_series_t *S = &r->series;
    size_t row = r->nrules * 2;
    uint64_t total = 0;
    for (size_t i = 0; i < S->n; i++)
        total += S->counts[i * row + u * 2 + (size_t)side];
    wd_buf_printf(b, "<path class=\"series %s\" data-side=\"%s\" data-rule=\"",
                  side ? "baseline" : "candidate", side ? "baseline" : "candidate");
    html_text(b, r->rules[u].name);
    wd_buf_printf(b, "\" data-total=\"%" PRIu64 "\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s d=\"",
                  total, side ? "#e8710a" : "#1f6fb4", side ? " stroke-dasharray=\"6 3\"" : "");
    double ph = CH - MT - MB;
    for (size_t i = 0; i < S->n; i++) {
        uint64_t v = S->counts[i * row + u * 2 + (size_t)side];
        double y = MT + ph - (max ? ph * (double)v / (double)max : 0);
        if (i == 0)
            wd_buf_printf(b, "M%.1f %.1f", bucket_x(0, S->n), y);
        else
            wd_buf_printf(b, "V%.1f", y);
        wd_buf_printf(b, "H%.1f", bucket_x(i + 1, S->n));
    }
    wd_buf_adds(b, "\"/>\n");
}

static void time_label(wd_buf_t *b, int64_t ms, double x, const char *anchor)
{
    wd_buf_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"%s\">", x, CH - MB + 16, anchor);
    wd_buf_rfc3339(b, ms);
    wd_buf_adds(b, "</text>\n");
}

static void chart(wd_buf_t *b, const rpl_t *r, size_t u, const char *per)
{
    const rpl_series_t *S = &r->series;
    size_t row = r->nrules * 2;
    uint64_t max = 0;
    for (size_t i = 0; i < S->n; i++)
        for (size_t s = 0; s < r->nsides; s++)
            if (S->counts[i * row + u * 2 + s] > max)
                max = S->counts[i * row + u * 2 + s];
    wd_buf_adds(b, "<figure class=\"chart\" data-rule=\"");
    html_text(b, r->rules[u].name);
    wd_buf_adds(b, "\"><figcaption>");
    html_text(b, r->rules[u].name);
    wd_buf_printf(b, "</figcaption>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                     "viewBox=\"0 0 %d %d\" role=\"img\">\n",
                  CW, CH, CW, CH);
    int x0 = ML, x1 = CW - MR, y0 = MT, y1 = CH - MB;
    wd_buf_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fafbfc\" stroke=\"#bbb\"/>\n",
                  x0, y0, x1 - x0, y1 - y0);
    /* y axis: 0, about half, max, each at its own height */
    for (int k = 0; k <= 2; k++) {
        uint64_t v = max * (uint64_t)k / 2;
        if (k == 1 && (v == 0 || v == max))
            continue;
        double y = y1 - (max ? (double)(y1 - y0) * (double)v / (double)max : 0);
        wd_buf_printf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                         "<text class=\"ytick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%" PRIu64 "</text>\n",
                      x0, y, x1, y, x0 - 6, y + 4, v);
    }
    wd_buf_printf(b, "<text class=\"axis-label\" transform=\"translate(14 %d) rotate(-90)\" "
                     "text-anchor=\"middle\">hits per %s</text>\n",
                  (y0 + y1) / 2, per);
    time_label(b, S->base_ms, x0, "start");
    time_label(b, S->base_ms + (int64_t)S->n * S->width_ms, x1, "end");
    if (S->n >= 4)
        time_label(b, S->base_ms + (int64_t)(S->n / 2) * S->width_ms, bucket_x(S->n / 2, S->n), "middle");
    wd_buf_printf(b, "<text class=\"axis-label\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">event time "
                     "(UTC)</text>\n",
                  (x0 + x1) / 2, CH - 6);
    /* The dashed baseline over the solid candidate: both show where equal. */
    for (int s = 0; s < (int)r->nsides; s++)
        series_path(b, r, u, s, max);
    wd_buf_adds(b, "</svg></figure>\n");
}

static void summary(wd_buf_t *b, const rpl_t *r)
{
    wd_buf_adds(b, "<table id=\"summary\">\n<tr><th>window</th><td>");
    html_time(b, r->opts.from_ms, "(start of input)");
    wd_buf_adds(b, " → ");
    html_time(b, r->opts.to_ms, "(end of input)");
    wd_buf_printf(b, "</td></tr>\n<tr><th>warm-up</th><td>%" PRId64 " s from ", r->warmup_ms / 1000);
    html_time(b, r->start_ms, "(start of input)");
    wd_buf_adds(b, "</td></tr>\n");
    for (size_t s = 0; s < r->nsides; s++) {
        wd_buf_printf(b, "<tr><th>%s</th><td><code>", s ? "baseline" : "candidate");
        html_text(b, r->dir[s]);
        wd_buf_printf(b, "</code> — %" PRIu64 " hits, %" PRIu64 " actions, pack sha256 <code>",
                      s ? r->c.hits_baseline : r->c.hits_candidate, r->actions[s]);
        html_text(b, eng_engine_pack_hash(r->eng[s]));
        wd_buf_adds(b, "</code></td></tr>\n");
    }
    wd_buf_printf(b,
                  "<tr><th>events</th><td>%" PRIu64 " read, %" PRIu64 " in the window, %" PRIu64
                  " warm-up, %" PRIu64 " before, %" PRIu64 " after, %" PRIu64 " rejected</td></tr>\n",
                  r->c.read, r->c.window, r->c.warmup, r->c.before, r->c.after, r->c.rejected);
    if (r->nsides > 1)
        wd_buf_printf(b,
                      "<tr><th>decisions</th><td>%" PRIu64 " actions would change: %" PRIu64
                      " new, %" PRIu64 " gone, %" PRIu64 " with another verdict or entity</td></tr>\n",
                      r->dec_changed, r->dec_added, r->dec_removed, r->dec_verdict);
    wd_buf_adds(b, "</table>\n");
}

static void cell_n(wd_buf_t *b, uint64_t v) { wd_buf_printf(b, "<td class=\"n\">%" PRIu64 "</td>", v); }

static void rules_table(wd_buf_t *b, const rpl_t *r)
{
    int base = r->nsides > 1;
    wd_buf_adds(b, "<h2>Rules</h2>\n<table id=\"rules\">\n<tr><th>rule</th>");
    if (base)
        wd_buf_adds(b, "<th>candidate</th><th>baseline</th><th>added</th><th>removed</th>"
                       "<th>verdict changed</th><th>entities</th><th>decisions changed</th>"
                       "<th>errors (c/b)</th><th>budget kills (c/b)</th>");
    else
        wd_buf_adds(b, "<th>hits</th><th>errors</th><th>budget kills</th>");
    wd_buf_adds(b, "<th>unique</th></tr>\n");
    for (size_t i = 0; i < r->nrules; i++) {
        const rpl_rule_t *u = &r->rules[i];
        wd_buf_adds(b, "<tr><td>");
        html_text(b, u->name);
        wd_buf_adds(b, "</td>");
        if (!base) {
            cell_n(b, u->hits[0]);
            cell_n(b, u->errors[0]);
            cell_n(b, u->kills[0]);
        } else {
            for (int s = 0; s < 2; s++) {
                if (u->def[s])
                    cell_n(b, u->hits[s]);
                else
                    wd_buf_adds(b, "<td>(absent)</td>");
            }
            cell_n(b, u->added);
            cell_n(b, u->removed);
            cell_n(b, u->verdict_changed);
            cell_n(b, u->entities.n);
            cell_n(b, u->decisions_changed);
            wd_buf_printf(b, "<td class=\"n\">%" PRIu64 "/%" PRIu64 "</td><td class=\"n\">%" PRIu64
                             "/%" PRIu64 "</td>",
                          u->errors[0], u->errors[1], u->kills[0], u->kills[1]);
        }
        cell_n(b, u->unique);
        wd_buf_adds(b, "</tr>\n");
    }
    wd_buf_adds(b, "</table>\n");
}

static void charts(wd_buf_t *b, const rpl_t *r)
{
    const rpl_series_t *S = &r->series;
    char per[32];
    if (S->width_ms <= HOUR_MS)   /* 0: no hit yet, hourly */
        snprintf(per, sizeof(per), "hour");
    else
        snprintf(per, sizeof(per), "%" PRId64 " h", S->width_ms / HOUR_MS);
    wd_buf_printf(b, "<h2>Hits per %s</h2>\n", per);
    if (S->n == 0) {
        wd_buf_adds(b, "<p>No hits in the window.</p>\n");
        return;
    }
    wd_buf_adds(b, "<p class=\"legend\"><span><i class=\"sw c\"></i>candidate</span>");
    if (r->nsides > 1)
        wd_buf_adds(b, "<span><i class=\"sw b\"></i>baseline</span>");
    wd_buf_printf(b, "</p>\n<p>Event time in buckets of %" PRId64 " min, from the first to the last hit "
                     "of any rule.</p>\n",
                  S->width_ms / 60000);
    size_t quiet = 0;
    wd_buf_adds(b, "<div class=\"charts\">\n");
    for (size_t i = 0; i < r->nrules; i++) {
        if (r->rules[i].hits[0] + r->rules[i].hits[1] == 0) {
            quiet++;
            continue;
        }
        chart(b, r, i, per);
    }
    wd_buf_adds(b, "</div>\n");
    if (quiet) {
        wd_buf_printf(b, "<p>No hits in the window (%zu): ", quiet);
        int first = 1;
        for (size_t i = 0; i < r->nrules; i++) {
            if (r->rules[i].hits[0] + r->rules[i].hits[1])
                continue;
            if (!first)
                wd_buf_adds(b, ", ");
            first = 0;
            html_text(b, r->rules[i].name);
        }
        wd_buf_adds(b, ".</p>\n");
    }
}

static void samples(wd_buf_t *b, const rpl_t *r)
{
    if (r->nsides < 2)
        return;
    wd_buf_adds(b, "<h2>Differing events (samples)</h2>\n");
    int any = 0;
    for (size_t i = 0; i < r->nrules; i++) {
        const rpl_rule_t *u = &r->rules[i];
        if (u->nsamples == 0)
            continue;
        any = 1;
        wd_buf_adds(b, "<h3>");
        html_text(b, u->name);
        wd_buf_adds(b, "</h3>\n<table class=\"samples\">\n<tr><th>event</th><th>source</th><th>entity</th>"
                       "<th>candidate</th><th>baseline</th><th>reason</th></tr>\n");
        for (size_t k = 0; k < u->nsamples; k++) {
            const rpl_sample_t *s = &u->samples[k];
            wd_buf_adds(b, "<tr><td>");
            html_text(b, s->event_id);
            wd_buf_adds(b, "</td><td>");
            html_text(b, s->source);
            wd_buf_adds(b, "</td><td>");
            html_text(b, s->entity);
            wd_buf_printf(b, "</td><td>%s</td><td>%s</td><td>",
                          s->verdict[0] ? rule_verdict_name(s->verdict[0]) : "–",
                          s->verdict[1] ? rule_verdict_name(s->verdict[1]) : "–");
            html_text(b, s->reason);
            wd_buf_adds(b, "</td></tr>\n");
        }
        wd_buf_adds(b, "</table>\n");
    }
    if (!any)
        wd_buf_adds(b, "<p>No differences between candidate and baseline.</p>\n");
}

static void overlap(wd_buf_t *b, const rpl_t *r)
{
    wd_buf_adds(b, "<h2>Overlap (candidate)</h2>\n");
    rpl_pair_t *ps;
    size_t np = rpl_pairs(r, &ps);
    if (np == 0)
        wd_buf_adds(b, "<p>No two candidate rules hit the same event.</p>\n");
    else
        wd_buf_adds(b, "<table id=\"overlap\">\n<tr><th>rule A</th><th>rule B</th><th>both</th>"
                       "<th>either</th><th>Jaccard</th></tr>\n");
    for (size_t i = 0; i < np && i < RPL_TOP_PAIRS; i++) {
        wd_buf_adds(b, "<tr><td>");
        html_text(b, r->rules[ps[i].a].name);
        wd_buf_adds(b, "</td><td>");
        html_text(b, r->rules[ps[i].b].name);
        wd_buf_adds(b, "</td>");
        cell_n(b, ps[i].both);
        cell_n(b, ps[i].either);
        wd_buf_printf(b, "<td class=\"n\">%.3f</td></tr>\n", ps[i].jaccard);
    }
    if (np)
        wd_buf_adds(b, "</table>\n");
    free(ps);
}

static void truth(wd_buf_t *b, const rpl_t *r)
{
    if (!r->has_truth)
        return;
    wd_buf_printf(b, "<h2>Ground truth</h2>\n<p>%" PRIu64 " event labels, %" PRIu64 " entity labels.</p>\n",
                  r->truth.n_event, r->truth.n_entity);
    wd_buf_adds(b, "<table id=\"truth\">\n<tr><th>rule</th><th>side</th><th>TP</th><th>FP</th><th>FN</th>"
                   "<th>precision</th><th>recall</th></tr>\n");
    for (size_t i = 0; i <= r->nrules; i++) {
        for (int s = 0; s < (int)r->nsides; s++) {
            if (i < r->nrules && r->rules[i].def[s] == NULL)
                continue;
            rpl_pr_t pr;
            rpl_truth_pr(r, i, s, &pr);
            wd_buf_adds(b, "<tr><td>");
            if (i < r->nrules)
                html_text(b, r->rules[i].name);
            else
                wd_buf_adds(b, "<b>whole pack</b>");
            wd_buf_printf(b, "</td><td>%s</td>", s ? "baseline" : "candidate");
            cell_n(b, pr.tp);
            cell_n(b, pr.fp);
            cell_n(b, pr.fn);
            wd_buf_adds(b, "<td class=\"n\">");
            html_pct(b, pr.tp, pr.tp + pr.fp);
            wd_buf_adds(b, "</td><td class=\"n\">");
            html_pct(b, pr.tp, pr.tp + pr.fn);
            wd_buf_adds(b, "</td></tr>\n");
        }
    }
    wd_buf_adds(b, "</table>\n");
}

static void fields(wd_buf_t *b, const rpl_t *r)
{
    wd_buf_adds(b, "<h2>Field check (candidate)</h2>\n");
    if (r->nfrules == 0) {
        wd_buf_adds(b, "<p>The candidate rules declare no fields.</p>\n");
        return;
    }
    char flag[256];
    size_t flagged = 0;
    for (size_t i = 0; i < r->nfrules; i++)
        flagged += rpl_fields_flag(r, &r->frules[i], flag, sizeof(flag)) != NULL;
    if (flagged)
        wd_buf_printf(b, "<p>%zu of %zu declared fields flagged.</p>\n", flagged, r->nfrules);
    else
        wd_buf_printf(b, "<p>All %zu declared fields look as the rules expect.</p>\n", r->nfrules);
    wd_buf_adds(b, "<table id=\"fields\">\n<tr><th>rule</th><th>stream</th><th>field</th><th>events</th>"
                   "<th>present</th><th>types seen</th><th>expected</th><th>flag</th></tr>\n");
    for (size_t i = 0; i < r->nfrules; i++) {
        const rpl_frule_t *f = &r->frules[i];
        const rpl_fpath_t *p = &r->fpaths[f->fpath];
        const char *why = rpl_fields_flag(r, f, flag, sizeof(flag));
        uint64_t evs = 0;
        for (size_t s = 0; s < r->nfstreams; s++)
            if (strcmp(r->fstreams[s].name, p->stream) == 0)
                evs = r->fstreams[s].events;
        wd_buf_adds(b, why ? "<tr class=\"flag\"><td>" : "<tr><td>");
        html_text(b, r->rules[f->rule].name);
        wd_buf_adds(b, "</td><td>");
        html_text(b, p->stream);
        wd_buf_adds(b, "</td><td>");
        html_text(b, p->path);
        wd_buf_adds(b, "</td>");
        cell_n(b, evs);
        cell_n(b, p->present);
        wd_buf_adds(b, "<td>");
        int first = 1;
        for (int t = WD_JNULL; t <= WD_JOBJECT; t++) {
            uint64_t n = p->types[t];
            if (t == WD_JINT)
                n += p->types[WD_JDOUBLE];
            if (t == WD_JDOUBLE || n == 0)
                continue;
            wd_buf_printf(b, "%s%s %" PRIu64, first ? "" : ", ", rpl_jtype_name(t), n);
            first = 0;
        }
        wd_buf_adds(b, "</td><td>");
        first = 1;
        for (int t = WD_JBOOL; t <= WD_JOBJECT; t++) {
            if (t == WD_JDOUBLE || !(f->expected & (1u << t)))
                continue;
            wd_buf_printf(b, "%s%s", first ? "" : ", ", rpl_jtype_name(t));
            first = 0;
        }
        wd_buf_adds(b, "</td><td>");
        html_text(b, why ? why : "");
        wd_buf_adds(b, "</td></tr>\n");
    }
    wd_buf_adds(b, "</table>\n");
}

void rpl_report_html(const rpl_t *r, wd_buf_t *b)
{
    wd_buf_adds(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                   "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                   "style-src 'unsafe-inline'\">\n<title>warden replay report</title>\n<style>");
    wd_buf_adds(b, STYLE);
    wd_buf_adds(b, "</style></head>\n<body>\n<h1>Replay report</h1>\n");
    if (r->partial)
        wd_buf_adds(b, "<p class=\"partial\" id=\"partial\">PARTIAL: the replay was stopped before the "
                       "end of its window; the numbers cover only the events read.</p>\n");
    summary(b, r);
    rules_table(b, r);
    charts(b, r);
    samples(b, r);
    overlap(b, r);
    truth(b, r);
    fields(b, r);
    wd_buf_adds(b, "</body></html>\n");
}
