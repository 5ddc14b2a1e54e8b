/* admin/adm_breaker.c — the auto-shadow circuit breaker.  Per enforce-mode
 * rule, over windows of one minute of event time (the latest event's), with
 * the counts the accounting adds between batches: more enforce-mode hits
 * than actions_per_min, an error (and budget kill) rate over error_rate, a
 * mean evaluation time over mean_us, or a hit rate over hit_multiple times
 * the trailing baseline (a mean of the previous windows' rates) moves the
 * rule to shadow — durable, audited, logged, counted.  Driven by event time
 * and counts, so a replayed input trips at the same window. */
#include "admin/adm_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/wd_log.h"
#include "rules/rule_types.h"

int adm_breaker_shadow(adm_t *a, const adm_host_t *h, const char *rule, const char *reason);

static int enabled(const adm_breaker_opts_t *b)
{
    return b->actions_per_min > 0 || b->hit_multiple > 0 || b->error_rate > 0 || b->mean_us > 0;
}

void adm_breaker_check(adm_t *a, eng_engine_t *e, const adm_host_t *h)
{
    const adm_breaker_opts_t *b = &a->o.breaker;
    if (!enabled(b) || !e || e != a->eng || h->event_ts_ms == INT64_MIN)
        return;
    int64_t minute = h->event_ts_ms / 60000;
    char trip[8][RULE_MAX_NAME_LEN + 1];
    char why[8][256];
    size_t ntrip = 0;
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < a->nrules; i++) {
        adm_rule_t *r = &a->rules[i];
        if (!r->present)
            continue;
        if (r->w_min == INT64_MIN)
            r->w_min = minute;   /* the first window: judged from now on */
        if (r->w_min != minute) {
            /* The window closed: its hit rate joins the baseline. */
            if (r->w_min != INT64_MIN && r->w_evals >= (uint64_t)b->min_evals) {
                double rate = (double)r->w_hits / (double)r->w_evals;
                r->base_rate = (r->base_rate * r->base_n + rate) / (r->base_n + 1);
                r->base_n++;
            }
            r->w_min = minute;
            r->w_evals = r->w_errors = r->w_hits = r->w_actions = r->w_time_ns = 0;
            continue;
        }
        if (r->mode != RULE_MODE_ENFORCE || ntrip == 8)
            continue;
        char msg[256] = "";
        int enough = r->w_evals >= (uint64_t)b->min_evals && r->w_evals > 0;
        double ev = (double)r->w_evals;
        if (b->actions_per_min > 0 && r->w_actions > (uint64_t)b->actions_per_min)
            snprintf(msg, sizeof msg, "actions_per_min: %" PRIu64 " actions in the minute, ceiling %ld",
                     r->w_actions, b->actions_per_min);
        else if (enough && b->error_rate > 0 && (double)r->w_errors / ev > b->error_rate)
            snprintf(msg, sizeof msg, "error_rate: %.1f%% of %" PRIu64 " evaluations failed, ceiling %.1f%%",
                     100.0 * (double)r->w_errors / ev, r->w_evals, 100.0 * b->error_rate);
        else if (enough && b->mean_us > 0 && (double)r->w_time_ns / ev / 1000.0 > b->mean_us)
            snprintf(msg, sizeof msg, "mean_cost: %.1f us per evaluation, ceiling %.1f us",
                     (double)r->w_time_ns / ev / 1000.0, b->mean_us);
        else if (enough && b->hit_multiple > 0 && r->base_n > 0 && r->w_hits >= 10 &&
                 (double)r->w_hits / ev > b->hit_multiple * (r->base_rate > 0 ? r->base_rate : 1.0 / ev))
            snprintf(msg, sizeof msg, "hit_rate: %.4f is over %.1f times the baseline %.4f",
                     (double)r->w_hits / ev, b->hit_multiple, r->base_rate);
        if (!msg[0])
            continue;
        snprintf(trip[ntrip], sizeof trip[ntrip], "%s", r->name);
        snprintf(why[ntrip], sizeof why[ntrip], "%s", msg);
        r->trips++;
        a->breaker_trips++;
        ntrip++;
    }
    pthread_mutex_unlock(&a->mu);
    for (size_t i = 0; i < ntrip; i++) {
        LOG_WARN("breaker: rule=%s moved to shadow reason=\"%s\" hint=\"restore with PUT /rules/%s/mode "
                 "(warden admin mode %s enforce)\"", trip[i], why[i], trip[i], trip[i]);
        adm_breaker_shadow(a, h, trip[i], why[i]);
    }
}
