/* admin/adm_metrics.c — /metrics in the Prometheus text exposition format
 * (version 0.0.4), from the totals and the run stats the loop thread
 * published.  Names: warden_ prefix, _total counters, base units (seconds,
 * bytes); labels: rule, verdict, mode, topic, reason, slot (a partition) —
 * never an entity or event id.  HTTP thread, under the mutex. */
#include "admin/adm_int.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "rules/rule_types.h"

/* Label values: backslash, quote and newline escaped. */
static void label(wd_buf_t *b, const char *s)
{
    wd_buf_addc(b, '"');
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            wd_buf_addc(b, '\\');
        if (*s == '\n') {
            wd_buf_adds(b, "\\n");
            continue;
        }
        wd_buf_addc(b, *s);
    }
    wd_buf_addc(b, '"');
}

static void head(wd_buf_t *b, const char *name, const char *type, const char *help)
{
    wd_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(wd_buf_t *b, const char *name, const char *type, const char *help, double v)
{
    head(b, name, type, help);
    wd_buf_printf(b, "%s %.17g\n", name, v);
}

static void u64(wd_buf_t *b, const char *name, const char *type, const char *help, uint64_t v)
{
    head(b, name, type, help);
    wd_buf_printf(b, "%s %" PRIu64 "\n", name, v);
}

static void per_rule(adm_t *a, wd_buf_t *b, const char *name, const char *help, size_t off)
{
    head(b, name, "counter", help);
    for (size_t i = 0; i < a->nrules; i++) {
        const adm_rule_t *r = &a->rules[i];
        wd_buf_printf(b, "%s{rule=", name);
        label(b, r->name);
        wd_buf_printf(b, "} %" PRIu64 "\n", *(const uint64_t *)((const char *)r + off));
    }
}

void adm_metrics_text(adm_t *a, wd_buf_t *b)
{
    const adm_run_stats_t *rs = &a->rs;
    const kfk_stats_t *k = &rs->kfk;
    head(b, "warden_events_consumed_total", "counter", "Events consumed, by input topic.");
    for (size_t i = 0; i < rs->ntopics; i++) {
        wd_buf_adds(b, "warden_events_consumed_total{topic=");
        label(b, rs->topic[i]);
        wd_buf_printf(b, "} %" PRIu64 "\n", rs->topic_events[i]);
    }
    head(b, "warden_stream_events_total", "counter", "Events evaluated, by stream.");
    for (size_t i = 0; i < rs->nstreams; i++) {
        wd_buf_adds(b, "warden_stream_events_total{stream=");
        label(b, rs->stream[i]);
        wd_buf_printf(b, "} %" PRIu64 "\n", rs->stream_events[i]);
    }
    head(b, "warden_events_dead_lettered_total", "counter", "Events written to the dead-letter topic, by reason.");
    wd_buf_printf(b, "warden_events_dead_lettered_total{reason=\"malformed\"} %" PRIu64 "\n", rs->dlq_malformed);
    wd_buf_printf(b, "warden_events_dead_lettered_total{reason=\"unknown_stream\"} %" PRIu64 "\n",
                  rs->dlq_unknown_stream);
    wd_buf_printf(b, "warden_events_dead_lettered_total{reason=\"rule_error\"} %" PRIu64 "\n", rs->dlq_rule_error);

    head(b, "warden_rule_hits_total", "counter", "Rule verdicts, by rule, verdict and the mode the rule was in.");
    for (size_t i = 0; i < a->nrules; i++) {
        const adm_rule_t *r = &a->rules[i];
        for (int m = 0; m < 3; m++)
            for (int v = 1; v < 4; v++) {
                if (!r->hits[m][v] && !(r->present && m == r->mode))
                    continue;
                wd_buf_adds(b, "warden_rule_hits_total{rule=");
                label(b, r->name);
                wd_buf_printf(b, ",verdict=\"%s\",mode=\"%s\"} %" PRIu64 "\n", rule_verdict_name(v),
                              rule_mode_name(m), r->hits[m][v]);
            }
    }
    per_rule(a, b, "warden_rule_evaluations_total", "Rule evaluations.", offsetof(adm_rule_t, evals));
    per_rule(a, b, "warden_rule_errors_total", "Rule evaluations that failed (errors and budget kills).",
             offsetof(adm_rule_t, errors));
    per_rule(a, b, "warden_rule_budget_kills_total", "Rule evaluations killed by the instruction budget.",
             offsetof(adm_rule_t, timeouts));
    per_rule(a, b, "warden_rule_memory_kills_total", "Rule evaluations killed by the memory cap.",
             offsetof(adm_rule_t, oom));
    per_rule(a, b, "warden_rule_instructions_total",
             "Lua instructions counted by the budget hook (in steps of its granularity).",
             offsetof(adm_rule_t, instr));
    per_rule(a, b, "warden_rule_auto_shadow_total", "Times the breaker moved the rule to shadow.",
             offsetof(adm_rule_t, trips));
    head(b, "warden_rule_evaluation_seconds", "histogram", "Time of one rule evaluation.");
    for (size_t i = 0; i < a->nrules; i++) {
        const adm_rule_t *r = &a->rules[i];
        uint64_t cum = 0;
        for (int j = 0; j < ENG_COST_BUCKETS; j++) {
            cum += r->hist[j];
            wd_buf_adds(b, "warden_rule_evaluation_seconds_bucket{rule=");
            label(b, r->name);
            if (j < ENG_COST_BUCKETS - 1)
                wd_buf_printf(b, ",le=\"%g\"} %" PRIu64 "\n", ENG_COST_BOUNDS_US[j] / 1e6, cum);
            else
                wd_buf_printf(b, ",le=\"+Inf\"} %" PRIu64 "\n", cum);
        }
        wd_buf_adds(b, "warden_rule_evaluation_seconds_sum{rule=");
        label(b, r->name);
        wd_buf_printf(b, "} %.9f\n", (double)r->time_ns / 1e9);
        wd_buf_adds(b, "warden_rule_evaluation_seconds_count{rule=");
        label(b, r->name);
        wd_buf_printf(b, "} %" PRIu64 "\n", cum);
    }
    head(b, "warden_rule_mode", "gauge", "1 for the mode each rule is in now (source: file, override, breaker).");
    for (size_t i = 0; i < a->nrules; i++) {
        const adm_rule_t *r = &a->rules[i];
        if (!r->present)
            continue;
        wd_buf_adds(b, "warden_rule_mode{rule=");
        label(b, r->name);
        wd_buf_printf(b, ",mode=\"%s\",source=\"%s\"} 1\n", rule_mode_name(r->mode), adm_mode_source(a, r->name));
    }
    head(b, "warden_decisions_total", "counter", "Event decisions (most severe enforce-mode verdict), by verdict.");
    for (int v = 1; v < 4; v++)
        wd_buf_printf(b, "warden_decisions_total{verdict=\"%s\"} %" PRIu64 "\n", rule_verdict_name(v),
                      rs->decisions[v]);
    u64(b, "warden_actions_produced_total", "counter", "Actions produced to the actions topic.", rs->actions);
    u64(b, "warden_transaction_commits_total", "counter", "Kafka transactions committed.", k->commits);
    u64(b, "warden_transaction_aborts_total", "counter", "Kafka transactions aborted and redone.", k->aborts);
    u64(b, "warden_producer_restarts_total", "counter", "New producers after a fatal producer error.",
        k->producer_restarts);
    u64(b, "warden_records_produced_total", "counter", "Records produced (actions, dead letters, snapshots).",
        k->produced);
    u64(b, "warden_partitions_assigned", "gauge", "Topic-partitions held now.", k->partitions);
    head(b, "warden_consumer_lag", "gauge", "Messages behind the high watermark, by input topic and partition.");
    for (size_t i = 0; i < rs->nlags; i++)
        if (rs->lags[i].lag >= 0) {
            wd_buf_adds(b, "warden_consumer_lag{topic=");
            label(b, rs->lags[i].topic);
            wd_buf_printf(b, ",partition=\"%d\"} %" PRId64 "\n", (int)rs->lags[i].partition, rs->lags[i].lag);
        }
    head(b, "warden_state_keys", "gauge", "Live counter keys, by state slot.");
    for (size_t i = 0; i < rs->nslots; i++) {
        wd_buf_adds(b, "warden_state_keys{slot=");
        label(b, rs->slots[i].name);
        wd_buf_printf(b, "} %" PRIu64 "\n", rs->slots[i].st.keys);
    }
    head(b, "warden_state_bytes", "gauge", "Accounted state bytes, by state slot.");
    for (size_t i = 0; i < rs->nslots; i++) {
        wd_buf_adds(b, "warden_state_bytes{slot=");
        label(b, rs->slots[i].name);
        wd_buf_printf(b, "} %" PRIu64 "\n", rs->slots[i].st.bytes);
    }
    uint64_t ev = 0, late = 0, labels = 0;
    for (size_t i = 0; i < rs->nslots; i++) {
        ev += rs->slots[i].st.evictions;
        late += rs->slots[i].st.late_skipped;
        labels += rs->slots[i].st.labels;
    }
    u64(b, "warden_state_labels", "gauge", "Live labels, all held slots.", labels);
    u64(b, "warden_state_evictions_total", "counter", "Keys and labels evicted by the state ceiling (held slots).", ev);
    u64(b, "warden_state_late_events_total", "counter", "Counter adds older than the longest window (held slots).", late);
    u64(b, "warden_state_snapshots_total", "counter", "State snapshots written to the changelog.", k->snapshots);
    u64(b, "warden_state_snapshot_bytes_total", "counter", "Bytes of state snapshots written.", k->snapshot_bytes);
    u64(b, "warden_state_restores_total", "counter", "State slots restored from the changelog.", k->restored);
    one(b, "warden_state_restore_seconds_total", "counter", "Time spent restoring state from the changelog.",
        rs->restore_seconds);
    if (a->has_store) {
        const store_stats_t *s = &a->store;
        u64(b, "warden_store_rows_total", "counter", "Rows durable in the results store.", s->rows_written);
        u64(b, "warden_store_batches_total", "counter", "Batches written to the results store.", s->batches);
        u64(b, "warden_store_retries_total", "counter", "Store batch attempts repeated after a retriable error.",
            s->retries);
        u64(b, "warden_store_failures_total", "counter", "Failed store batch attempts.", s->failures);
        one(b, "warden_store_batch_seconds_total", "counter", "Time spent writing store batches.",
            (double)s->batch_us_total / 1e6);
        one(b, "warden_store_batch_seconds_max", "gauge", "Longest store batch.", (double)s->batch_us_max / 1e6);
        u64(b, "warden_store_buffer_rows", "gauge", "Rows waiting to be written.", s->buffer_rows);
        u64(b, "warden_store_buffer_capacity_rows", "gauge", "Rows the buffer holds before writes block.",
            s->buffer_cap);
        u64(b, "warden_store_buffer_rows_max", "gauge", "The most rows waiting to be written at once.",
            s->buffer_rows_max);
        one(b, "warden_store_blocked_seconds_total", "counter",
            "Time evaluation waited for room in the store's buffer (backpressure).", (double)s->blocked_us / 1e6);
        one(b, "warden_store_flush_wait_seconds_total", "counter",
            "Time commits waited for their rows to be durable in the store.", (double)s->flush_wait_us / 1e6);
        one(b, "warden_store_flush_wait_seconds_max", "gauge", "The longest a commit waited for the store.",
            (double)s->flush_wait_max_us / 1e6);
        u64(b, "warden_store_up", "gauge", "1 while the results store is healthy.", a->store_ok ? 1 : 0);
    }
    head(b, "warden_rule_pack_info", "gauge", "The running rule pack (its sha256).");
    wd_buf_adds(b, "warden_rule_pack_info{pack=");
    label(b, a->pack);
    wd_buf_adds(b, "} 1\n");
    one(b, "warden_rule_pack_loaded_timestamp_seconds", "gauge", "When the running rule pack was loaded.",
        rs->pack_loaded_unix);
    one(b, "warden_rule_pack_load_seconds", "gauge", "How long loading the running rule pack took.",
        rs->pack_load_seconds);
    u64(b, "warden_rule_pack_reloads_total", "counter", "Rule pack reloads that took effect.", rs->reloads);
    u64(b, "warden_rule_pack_reload_failures_total", "counter", "Rule pack reloads rejected.", rs->reload_failures);
    u64(b, "warden_control_records_total", "counter", "Control topic records applied (runtime list entries, "
        "manual labels).", rs->control_records);
    u64(b, "warden_control_rejected_total", "counter", "Control topic records passed over as malformed.",
        rs->control_rejected);
    u64(b, "warden_control_entries", "gauge", "Runtime list entries and manual labels known.", rs->control_entries);
    u64(b, "warden_auto_shadow_total", "counter", "Rules moved to shadow by the breaker.", a->breaker_trips);
    u64(b, "warden_audit_write_failures_total", "counter", "Audit entries that could not be written.",
        a->audit_failures);
    one(b, "warden_start_timestamp_seconds", "gauge", "When the process started.", a->t0_unix);
}
