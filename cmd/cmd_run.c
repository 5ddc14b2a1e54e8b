/* warden run: the enforcement service.  A consumer group on the input
 * topics; every event through the engine with its partition's state;
 * enforce-mode decisions to the actions topic, hits to the results store,
 * bad events and rule errors to the dead-letter topic — exactly once, via
 * the transactional loop of kafka/kfk.h.  What a batch changed in a
 * partition's state goes to a compacted changelog topic with the commit,
 * one record per key (state_log_*), and is restored on assignment.  SIGHUP reloads the rule pack between batches.  The run
 * (rule_runs) and the version of every rule loaded (rule_versions) are
 * recorded at start and at every reload, through the run context. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/adm.h"
#include "cmd/cmd.h"
#include "cmd/cmd_control.h"
#include "cmd/cmd_ctx.h"
#include "cmd/cmd_kafka.h"
#include "base/wd_config.h"
#include "engine/eng_engine.h"
#include "kafka/kfk.h"
#include "base/wd_log.h"
#include "cmd/cmd_output.h"
#include "cmd/cmd_repart.h"
#include "cmd/cmd_stats.h"
#include "state/state.h"
#include "base/wd_util.h"
#include "storage/store.h"

typedef struct rpart {
    state_t  *state;
    char         *name;        /* "topic/partition", for logs */
    struct rpart *prev, *next;
} rpart_t;

/* What a carry-over of state to changed counters kept and dropped:
 * counters as of the last one (the same for every partition), keys summed. */
typedef struct carry_tally {
    uint64_t count;
    size_t   counters_kept, counters_dropped;
    uint64_t keys_kept, keys_dropped;
} carry_tally_t;

/* Events per input topic (a handful: a linear scan, pointer first). */
typedef struct topic_count {
    const char *name;      /* the config's topic name */
    const char *seen;      /* rd_kafka_topic_name() last matched */
    uint64_t    events;
} topic_count_t;

typedef struct run {
    wd_config_t *cfg;
    eng_opts_t    opts;
    cmd_ctx_t    *ctx;         /* engine (swapped by reload), sink, run record */
    const char   *run_id;
    const char   *actions_topic;
    int           unknown_dlq;
    rpart_t      *parts;
    wd_buf_t     action;
    wd_buf_t     action_key;
    int          actions_fmt;    /* output.actions_format */
    wd_buf_t     reason;
    uint64_t      events, rejected, unrouted, dropped, rule_errors, hits, actions;
    uint64_t      reloads, reload_failures, state_resets;
    uint64_t      records_skipped;  /* changelog records of counters gone or changed */
    uint64_t      records_rejected; /* damaged changelog records */
    wd_log_every_t shed_log;        /* rejected changelog records (repeats suppressed) */
    wd_log_every_t rule_error_log;  /* rule errors (repeats suppressed) */
    carry_tally_t restore_carry, reload_carry;
    topic_count_t *topics;
    size_t        ntopics;
    const char   *stats_path;    /* --stats-json, NULL: none */
    const char   *instance;
    uint64_t      t0_ns;
    uint64_t      stats_failures;
    state_stats_t last_state;    /* summed over the partitions at the last write that had some */
    int           failed;
    adm_t        *adm;           /* the admin API (admin.listen), NULL: none */
    cmd_control_t *control;      /* runtime lists and labels (run.control_topic) */
    topic_count_t streams[ADM_MAX_TOPICS];   /* events evaluated per stream (for /metrics) */
    size_t        nstreams;
    uint64_t      decisions[4];  /* by verdict */
    int64_t       last_ts_ms;    /* latest event time evaluated (INT64_MIN: none) */
    double        pack_loaded_unix, pack_load_seconds;
    cmd_rp_t     *rp;            /* the repartitioned path (NULL: off) */
    uint64_t      labels_off_key, internal_errors, watermarks;
} run_t;

static void run_usage(FILE *f)
{
    fprintf(f,
        "usage: warden run -c warden.lua [options]\n"
        "The enforcement service: consumes the configured topics in a consumer group,\n"
        "evaluates every event, writes enforce-mode decisions to the actions topic, hits\n"
        "to the results store and bad events to the dead-letter topic, exactly once.\n\n"
        "  -c, --config FILE      configuration (docs/operations.md)\n"
        "      --instance NAME    this process's stable name in the group (transactional.id\n"
        "                         is GROUP.NAME; default run.instance, else the host name)\n"
        "  -X KEY=VALUE           a librdkafka property (overrides the config's kafka section)\n"
        "      --set KEY=VALUE    any other setting, e.g. --set run.batch_max=500\n"
        "      --max-events N     stop (commit, exit 0) after N events (tests, benchmarks)\n"
        "      --stats-json FILE  the counters as JSON, rewritten after every commit, on\n"
        "                         SIGUSR1 and at exit (docs/operations.md)\n"
        "      --help-config      every setting with its type and default\n"
        "  -h, --help             this help\n\n"
        "Signals: SIGTERM/SIGINT finish the batch, commit and exit 0; SIGHUP reloads the\n"
        "rule pack between batches (a pack that fails to load is rejected, the old one\n"
        "keeps running).  With admin.listen set it serves the admin API (health, /metrics,\n"
        "/rules, reload, mode overrides, /lists and /labels; docs/operations.md; client:\n"
        "warden admin).  Runtime list entries and manual labels come from the compacted\n"
        "control topic (run.control_topic, default GROUP.control), read whole at start.\n"
        "Exit status: 0 stopped by a signal, 1 configuration or rule pack\n"
        "error, 2 usage error, 4 fatal Kafka or store error.\n");
}

/* engine.state_max_mb bounds the process: each partition's state gets an
 * equal share of it, shared out again whenever partitions come or go or a
 * reload builds new states (a shrinking share evicts the least recently
 * used entries of that partition, which the changelog records as removed). */
static void share_ceiling(run_t *r)
{
    size_t total = r->opts.state_max_mb << 20, n = 0;
    if (!total)
        return;
    for (rpart_t *p = r->parts; p; p = p->next)
        n++;
    for (rpart_t *p = r->parts; p; p = p->next)
        state_set_max_bytes(p->state, total / n);
}

static rpart_t *rpart_new(run_t *r, const char *topic, int32_t partition)
{
    rpart_t *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->state = state_new_like(eng_engine_state(cmd_ctx_engine(r->ctx)));
    size_t n = (topic ? strlen(topic) : 1) + 16;
    p->name = malloc(n);
    if (!p->state || !p->name || state_log_track(p->state, 1) != 0) {
        state_destroy(p->state);
        free(p->name);
        free(p);
        return NULL;
    }
    snprintf(p->name, n, "%s/%d", topic ? topic : "*", (int)partition);
    p->next = r->parts;
    if (r->parts)
        r->parts->prev = p;
    r->parts = p;
    return p;
}

static kfk_rc_t h_assign(void *ud, const char *topic, int32_t partition, void **part)
{
    run_t *r = ud;
    rpart_t *p = rpart_new(r, topic, partition);
    if (!p) {
        LOG_ERROR("partition=%s/%d msg=\"out of memory for its state\"", topic, (int)partition);
        return KFK_FATAL;
    }
    *part = p;
    share_ceiling(r);
    return KFK_OK;
}

static void h_revoke(void *ud, void *part)
{
    run_t *r = ud;
    rpart_t *p = part;
    if (!p)
        return;
    if (p->prev)
        p->prev->next = p->next;
    else
        r->parts = p->next;
    if (p->next)
        p->next->prev = p->prev;
    state_destroy(p->state);
    free(p->name);
    free(p);
    share_ceiling(r);
}

/* The per-key changelog: what the batch changed in the partition's state,
 * one record per key or label (state_log_changes), into the transaction. */
static int put_record(void *ud, const void *id, size_t idlen, const void *val, size_t vlen)
{
    kfk_rc_t rc = kfk_changelog_put(ud, id, idlen, val, vlen);
    return rc == KFK_OK ? 0 : rc == KFK_REDO ? 1 : 2;
}

static kfk_rc_t h_changes(void *ud, void *part, kfk_changelog_t *cl, char *errstr, size_t n)
{
    (void)ud;
    rpart_t *p = part;
    int rc = state_log_changes(p->state, put_record, cl);
    if (rc == 1)
        return KFK_REDO;
    if (rc != 0) {
        snprintf(errstr, n, "%s", rc == 2 ? "producing a changelog record failed" : state_strerror(rc));
        return KFK_FATAL;
    }
    return KFK_OK;
}

static void h_committed(void *ud, void *part)
{
    (void)ud;
    state_log_commit(((rpart_t *)part)->state);
}

static kfk_rc_t h_seal(void *ud, void *part, char *errstr, size_t n)
{
    (void)ud;
    int rc = state_log_seal(((rpart_t *)part)->state);
    if (rc != 0) {
        snprintf(errstr, n, "%s", state_strerror(rc));
        return KFK_FATAL;
    }
    return KFK_OK;
}

static kfk_rc_t h_rollback(void *ud, void *part, char *errstr, size_t n)
{
    (void)ud;
    int rc = state_log_rollback(((rpart_t *)part)->state);
    if (rc != 0) {
        snprintf(errstr, n, "%s", state_strerror(rc));
        return KFK_FATAL;
    }
    return KFK_OK;
}

/* One changelog record on restore.  A record of a counter the pack no
 * longer has (or whose spec changed) is passed over; a damaged one is
 * logged, counted and passed over: the key starts empty, the service runs. */
static kfk_rc_t h_apply(void *ud, void *part, const void *id, size_t idlen, const void *val,
                        size_t vlen, char *errstr, size_t n)
{
    (void)errstr;
    (void)n;
    run_t *r = ud;
    rpart_t *p = part;
    char err[512];
    int rc = state_log_apply(p->state, id, idlen, val, vlen, err, sizeof err);
    if (rc == 1) {
        r->records_skipped++;
    } else if (rc != 0) {
        r->records_rejected++;
        LOG_WARN_EVERY(&r->shed_log, "partition=%s msg=\"changelog record rejected, its key starts empty\" "
                       "reason=\"%s\"", p->name, err);
    }
    return KFK_OK;
}

static kfk_rc_t h_restored(void *ud, void *part, char *errstr, size_t n)
{
    (void)ud;
    (void)errstr;
    (void)n;
    state_log_restored(((rpart_t *)part)->state);
    return KFK_OK;
}

/* An old whole-slot snapshot (the changelog format before per-key
 * records): replaces the partition's state, whose entries then all go out
 * per key at the next commit.  One that does not load (a rule pack whose
 * counters changed since it was written, or a damaged record) is logged
 * and the partition starts empty (state_resets): the service keeps
 * running.  NULL (the snapshot's tombstone, written with the migration):
 * nothing to do. */
static kfk_rc_t h_load(void *ud, void *part, const void *data, size_t len, char *errstr, size_t n)
{
    run_t *r = ud;
    rpart_t *p = part;
    char err[512];
    state_carry_t c;
    if (!data)
        return KFK_OK;
    if (state_load_buf_carry(p->state, data, len, &c, err, sizeof err) == 0) {
        if (!c.exact) {
            r->restore_carry.count++;
            r->restore_carry.counters_kept = c.kept;
            r->restore_carry.counters_dropped = c.dropped;
            r->restore_carry.keys_kept += c.records;
            r->restore_carry.keys_dropped += c.records_dropped;
            LOG_WARN("partition=%s msg=\"state snapshot of other counters: unchanged ones carried over\" "
                     "counters_kept=%zu counters_dropped=%zu keys_kept=%" PRIu64 " keys_dropped=%" PRIu64,
                     p->name, c.kept, c.dropped, c.records, c.records_dropped);
        }
        state_log_mark_all(p->state);
        return KFK_OK;
    }
    state_t *fresh = state_new_like(eng_engine_state(cmd_ctx_engine(r->ctx)));
    if (!fresh || state_log_track(fresh, 1) != 0) {
        state_destroy(fresh);
        snprintf(errstr, n, "out of memory");
        return KFK_FATAL;
    }
    r->state_resets++;
    LOG_WARN("partition=%s msg=\"state snapshot rejected, starting empty\" reason=\"%s\"", p->name, err);
    state_destroy(p->state);
    p->state = fresh;
    share_ceiling(r);
    return KFK_OK;
}

/* store_flush already retries what can be retried: a failure is final. */
static kfk_rc_t h_precommit(void *ud, kfk_t *k)
{
    (void)k;
    run_t *r = ud;
    char err[1024];
    if (store_flush(cmd_ctx_store(r->ctx), err, sizeof err) != 0) {
        LOG_ERROR("store flush failed: %s", err);
        return KFK_FATAL;
    }
    return KFK_OK;
}

/* The counters changed with a reload: every partition's state goes over
 * to the new specs through a snapshot — unchanged counters and all labels
 * keep their keys, new counters start empty, changed or removed ones are
 * dropped.  Built aside first: on failure nothing changed.  0 or -1. */
static int carry_state(run_t *r, eng_engine_t *neu)
{
    size_t np = 0, i = 0;
    for (rpart_t *p = r->parts; p; p = p->next)
        np++;
    state_t **ns = calloc(np ? np : 1, sizeof(*ns));
    wd_buf_t buf = { 0 };
    state_carry_t c = { 0, 0, 0, 0, 0 };
    uint64_t kept = 0, dropped = 0;
    int ok = ns != NULL;
    for (rpart_t *p = r->parts; ok && p; p = p->next, i++) {
        char err[512];
        ns[i] = state_new_like(eng_engine_state(neu));
        wd_buf_reset(&buf);
        /* tracked from here: the carried entries are the changelog's already
         * (same counter names and specs, so the same record ids) */
        ok = ns[i] && state_log_track(ns[i], 1) == 0 && state_save_buf(p->state, &buf) == 0 &&
             state_load_buf_carry(ns[i], buf.data, buf.len, &c, err, sizeof err) == 0;
        if (ok) {
            kept += c.records;
            dropped += c.records_dropped;
        }
    }
    wd_buf_free(&buf);
    if (!ok) {
        for (size_t j = 0; ns && j < np; j++)
            state_destroy(ns[j]);
        free(ns);
        return -1;
    }
    i = 0;
    for (rpart_t *p = r->parts; p; p = p->next) {
        state_destroy(p->state);
        p->state = ns[i++];
    }
    free(ns);
    share_ceiling(r);
    r->reload_carry.count++;
    r->reload_carry.counters_kept = c.kept;
    r->reload_carry.counters_dropped = c.dropped;
    r->reload_carry.keys_kept += kept;
    r->reload_carry.keys_dropped += dropped;
    LOG_WARN("reload: the counters changed; state carried over to them msg=\"unchanged counters and labels "
             "keep their keys, new ones start empty, changed or removed ones are dropped\" counters_kept=%zu "
             "counters_dropped=%zu keys_kept=%" PRIu64 " keys_dropped=%" PRIu64 " partitions=%zu",
             c.kept, c.dropped, kept, dropped, np);
    return 0;
}

static double unix_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Do a and b have the same streams, each with the same fields? */
static int same_fields(const eng_engine_t *a, const eng_engine_t *b)
{
    const char *const *na, *const *nb;
    size_t n = eng_engine_streams(a, &na);
    if (eng_engine_streams(b, &nb) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const char *const *fa, *const *fb;
        size_t m = eng_engine_stream_fields(a, na[i], &fa);
        if (strcmp(na[i], nb[i]) != 0 || eng_engine_stream_fields(b, na[i], &fb) != m)
            return 0;
        for (size_t j = 0; j < m; j++)
            if (strcmp(fa[j], fb[j]) != 0)
                return 0;
    }
    return 1;
}

/* SIGHUP or POST /rules/reload: loads the pack again; when it loads and the
 * state carries over, the run context records the new rule versions and
 * swaps the engine (the admin API's mode overrides applied to it).  0, or
 * -1 with the reasons, one a line, in out (may be NULL). */
static int reload(run_t *r, char *out, size_t outn)
{
    char *err = malloc(65536);
    if (!err)
        return -1;
    eng_engine_t *old = cmd_ctx_engine(r->ctx);
    const char *dir = wd_config_str(r->cfg, "rules");
    LOG_INFO("reload: loading the rule pack from %s", dir);
    uint64_t t0 = wd_now_ns();
    eng_engine_t *neu = eng_engine_new(&r->opts, dir, err, 65536);
    if (!neu) {
        if (out)
            snprintf(out, outn, "%s", err);
        r->reload_failures++;
        LOG_ERROR("reload rejected: the rule pack in %s failed to load; the old pack (%s) keeps running",
                  dir, eng_engine_pack_hash(old));
        char *save = NULL;
        for (char *line = strtok_r(err, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
            LOG_ERROR("reload error: %s", line);
        free(err);
        return -1;
    }
    uint64_t fo = state_fingerprint(eng_engine_state(old));
    uint64_t fn = state_fingerprint(eng_engine_state(neu));
    if (r->rp && (fo != fn || !same_fields(old, neu))) {
        /* The hops keep counters and prune fields by the pack they started with. */
        LOG_ERROR("reload rejected: the counters or the fields of a stream changed, and the repartition hops "
                  "run the pack they started with; restart warden run; the old pack (%s) keeps running",
                  eng_engine_pack_hash(old));
        if (out)
            snprintf(out, outn, "the counters or declared fields changed: under repartitioning that takes a "
                     "restart of warden run");
        r->reload_failures++;
        eng_engine_destroy(neu);
        free(err);
        return -1;
    }
    if (fo != fn && carry_state(r, neu) != 0) {
        LOG_ERROR("reload rejected: the state could not be carried over to the new counters (out of "
                  "memory); the old pack (%s) keeps running", eng_engine_pack_hash(old));
        if (out)
            snprintf(out, outn, "the state could not be carried over to the new counters (out of memory)");
        r->reload_failures++;
        eng_engine_destroy(neu);
        free(err);
        return -1;
    }
    LOG_INFO("reload: rule pack %s replaces %s", eng_engine_pack_hash(neu), eng_engine_pack_hash(old));
    if (r->adm)
        adm_account(r->adm, old);
    eng_engine_set_overlay(neu, cmd_control_overlay(r->control));
    if (cmd_ctx_reload(r->ctx, neu, err, 65536) != 0) {
        /* Only a failed sink refuses the versions: the next flush stops the
         * service, and until then no hit names a version it has no row for. */
        LOG_ERROR("reload rejected: recording the new rule versions failed: %s", err);
        if (out)
            snprintf(out, outn, "recording the new rule versions failed: %s", err);
        r->reload_failures++;
        eng_engine_destroy(neu);
        free(err);
        return -1;
    }
    free(err);
    if (r->rp)
        cmd_rp_set_engine(r->rp, cmd_ctx_engine(r->ctx));
    r->reloads++;
    r->pack_loaded_unix = unix_now();
    r->pack_load_seconds = (double)(wd_now_ns() - t0) / 1e9;
    if (r->adm)
        adm_engine_loaded(r->adm, cmd_ctx_engine(r->ctx));
    return 0;
}

static json_t *carry_json(const carry_tally_t *t)
{
    json_t *o = json_object();
    cmd_stats_u64(o, "count", t->count);
    cmd_stats_u64(o, "counters_kept", t->counters_kept);
    cmd_stats_u64(o, "counters_dropped", t->counters_dropped);
    cmd_stats_u64(o, "keys_kept", t->keys_kept);
    cmd_stats_u64(o, "keys_dropped", t->keys_dropped);
    return o;
}

/* The --stats-json file (cmd/cmd_stats.h; fields in docs/operations.md).
 * Once per commit: a few dozen counters, the state stats of every held
 * partition, the store's.  error: the fatal error of a final write. */
static void write_stats(run_t *r, const kfk_stats_t *ks, int final, const char *error)
{
    if (!r->stats_path)
        return;
    json_t *o = cmd_stats_new("run", r->instance, final, (double)(wd_now_ns() - r->t0_ns) / 1e9);
    if (o) {
        cmd_stats_kafka(o, ks, final);
        cmd_stats_u64(o, "events", r->events);
        json_t *bt = json_object();
        for (size_t i = 0; i < r->ntopics; i++)
            cmd_stats_u64(bt, r->topics[i].name, r->topics[i].events);
        json_object_set_new(o, "events_by_topic", bt);
        cmd_stats_u64(o, "actions", r->actions);
        cmd_stats_u64(o, "hits", r->hits);
        if (r->rp) {
            json_t *rj = json_object();
            cmd_stats_u64(rj, "watermarks", r->watermarks);
            cmd_stats_u64(rj, "labels_off_key", r->labels_off_key);
            cmd_stats_u64(rj, "internal_errors", r->internal_errors);
            json_object_set_new(o, "repartition", rj);
        }
        cmd_stats_u64(o, "rejected", r->rejected);
        cmd_stats_u64(o, "unknown_stream", r->unrouted);
        cmd_stats_u64(o, "dropped", r->dropped);
        cmd_stats_u64(o, "rule_errors", r->rule_errors);
        json_t *dl = json_object();
        cmd_stats_u64(dl, "malformed", r->rejected);
        cmd_stats_u64(dl, "unknown_stream", r->unrouted - r->dropped);
        cmd_stats_u64(dl, "rule_error", r->rule_errors);
        json_object_set_new(o, "dead_letters_by_reason", dl);
        cmd_stats_u64(o, "state_resets", r->state_resets);
        cmd_stats_u64(o, "changelog_records_skipped", r->records_skipped);
        cmd_stats_u64(o, "changelog_records_rejected", r->records_rejected);
        cmd_stats_u64(o, "reloads", r->reloads);
        cmd_stats_u64(o, "reload_failures", r->reload_failures);
        cmd_control_stats_t cs;
        cmd_control_stats(r->control, &cs);
        json_t *ctl = json_object();
        cmd_stats_u64(ctl, "records", cs.records);
        cmd_stats_u64(ctl, "rejected", cs.rejected);
        cmd_stats_u64(ctl, "entries", cs.entries);
        json_object_set_new(o, "control", ctl);
        json_object_set_new(o, "restore_carry", carry_json(&r->restore_carry));
        json_object_set_new(o, "reload_carry", carry_json(&r->reload_carry));
        eng_engine_t *eng = r->ctx ? cmd_ctx_engine(r->ctx) : NULL;
        json_object_set_new(o, "pack", eng ? json_string(eng_engine_pack_hash(eng)) : json_null());
        state_stats_t sum = { 0 }, one;
        for (rpart_t *p = r->parts; p; p = p->next) {
            state_stats(p->state, &one);
            sum.keys += one.keys;
            sum.labels += one.labels;
            sum.bytes += one.bytes;
            sum.evictions += one.evictions;
            sum.expired += one.expired;
            sum.late_skipped += one.late_skipped;
        }
        /* At exit the partitions are gone (revoked on leaving the group):
         * the state as last written while they were held. */
        if (r->parts)
            r->last_state = sum;
        else if (final)
            sum = r->last_state;
        json_t *st = json_object();
        cmd_stats_u64(st, "keys", sum.keys);
        cmd_stats_u64(st, "labels", sum.labels);
        cmd_stats_u64(st, "bytes", sum.bytes);
        cmd_stats_u64(st, "evictions", sum.evictions);
        cmd_stats_u64(st, "expired", sum.expired);
        cmd_stats_u64(st, "late_skipped", sum.late_skipped);
        json_object_set_new(o, "state", st);
        store_t *store = r->ctx ? cmd_ctx_store(r->ctx) : NULL;
        if (store) {
            store_stats_t so;
            store_stats(store, &so);
            json_t *sj = json_object();
            json_object_set_new(sj, "scheme", json_string(store_scheme(store)));
            cmd_stats_u64(sj, "rows_queued", so.rows_queued);
            cmd_stats_u64(sj, "rows_written", so.rows_written);
            cmd_stats_u64(sj, "batches", so.batches);
            cmd_stats_u64(sj, "retries", so.retries);
            cmd_stats_u64(sj, "failures", so.failures);
            cmd_stats_u64(sj, "buffer_rows", so.buffer_rows);
            cmd_stats_u64(sj, "buffer_rows_max", so.buffer_rows_max);
            cmd_stats_u64(sj, "buffer_cap", so.buffer_cap);
            cmd_stats_u64(sj, "blocked_ms", so.blocked_us / 1000u);
            cmd_stats_u64(sj, "flush_wait_ms", so.flush_wait_us / 1000u);
            cmd_stats_u64(sj, "flush_wait_max_ms", so.flush_wait_max_us / 1000u);
            json_object_set_new(sj, "batch_ms_max", json_real((double)so.batch_us_max / 1000.0));
            json_object_set_new(sj, "healthy", json_boolean(so.healthy));
            json_object_set_new(o, "store", sj);
        }
        if (final)
            json_object_set_new(o, "error", error ? json_string(error) : json_null());
    }
    char err[512];
    if (cmd_stats_write(r->stats_path, o, err, sizeof err) != 0 && r->stats_failures++ % 1000 == 0)
        LOG_WARN("stats-json: %s (failures=%" PRIu64 ")", err, r->stats_failures);
}

/* The admin API's copy of the counters (adm_publish copies what it keeps). */
static void publish(run_t *r, kfk_t *k, const kfk_stats_t *ks)
{
    size_t n = 0;
    for (rpart_t *p = r->parts; p; p = p->next)
        n++;
    adm_slot_t *slots = calloc(n ? n : 1, sizeof(*slots));
    adm_run_stats_t rs;
    memset(&rs, 0, sizeof rs);
    rs.kfk = *ks;
    rs.ntopics = r->ntopics < ADM_MAX_TOPICS ? r->ntopics : ADM_MAX_TOPICS;
    for (size_t i = 0; i < rs.ntopics; i++) {
        rs.topic[i] = r->topics[i].name;
        rs.topic_events[i] = r->topics[i].events;
    }
    rs.dlq_malformed = r->rejected;
    rs.dlq_unknown_stream = r->unrouted - r->dropped;
    rs.dlq_rule_error = r->rule_errors;
    memcpy(rs.decisions, r->decisions, sizeof rs.decisions);
    rs.actions = r->actions;
    rs.reloads = r->reloads;
    rs.reload_failures = r->reload_failures;
    cmd_control_stats_t cs;
    cmd_control_stats(r->control, &cs);
    rs.control_records = cs.records;
    rs.control_rejected = cs.rejected;
    rs.control_entries = cs.entries;
    rs.pack_loaded_unix = r->pack_loaded_unix;
    rs.pack_load_seconds = r->pack_load_seconds;
    rs.restore_seconds = (double)ks->restore_us / 1e6;
    size_t i = 0;
    for (rpart_t *p = r->parts; slots && p; p = p->next, i++) {
        snprintf(slots[i].name, sizeof slots[i].name, "%s", p->name);
        state_stats(p->state, &slots[i].st);
    }
    rs.nslots = slots ? n : 0;
    rs.slots = slots;
    kfk_lag_t kl[ADM_MAX_SLOTS];
    size_t nl = kfk_lags(k, kl, ADM_MAX_SLOTS);
    adm_lag_t *lags = calloc(nl ? nl : 1, sizeof(*lags));
    for (size_t j = 0; lags && j < nl && j < ADM_MAX_SLOTS; j++) {
        snprintf(lags[j].topic, sizeof lags[j].topic, "%s", kl[j].topic);
        lags[j].partition = kl[j].partition;
        lags[j].lag = kl[j].lag;
    }
    rs.nlags = lags ? (nl < ADM_MAX_SLOTS ? nl : ADM_MAX_SLOTS) : 0;
    rs.lags = lags;
    rs.nstreams = r->nstreams;
    for (size_t j = 0; j < r->nstreams; j++) {
        rs.stream[j] = r->streams[j].name;
        rs.stream_events[j] = r->streams[j].events;
    }
    rs.store = cmd_ctx_store(r->ctx);
    adm_publish(r->adm, cmd_ctx_engine(r->ctx), &rs);
    free(slots);
    free(lags);
}

static void h_report(void *ud, kfk_t *k)
{
    run_t *r = ud;
    kfk_stats_t ks;
    if (!r->stats_path && !r->adm)
        return;
    kfk_counters(k, &ks);
    if (r->adm)
        publish(r, k, &ks);
    if (r->stats_path)
        write_stats(r, &ks, 0, NULL);
}

static eng_engine_t *host_engine(void *ud) { return cmd_ctx_engine(((run_t *)ud)->ctx); }
static int host_reload(void *ud, char *err, size_t n) { return reload(ud, err, n); }

static int host_control_put(void *ud, const void *key, size_t klen, const void *val, size_t vlen,
                            int64_t *offset, char *errstr, size_t n)
{
    return cmd_control_put(((run_t *)ud)->control, key, klen, val, vlen, offset, errstr, n);
}

/* Between batches: the control topic's new records first (a change is in
 * force for the next batch on), then the admin API's queue. */
static void h_between(void *ud, kfk_t *k, int flags)
{
    run_t *r = ud;
    if (r->rp && !r->failed && cmd_rp_check(r->rp) != 0) {
        r->failed = 1;
        kfk_stop(k);
    }
    if (cmd_control_follow(r->control) > 0)
        h_report(ud, k);
    if (flags & KFK_IDLE_HUP) {
        reload(r, NULL, 0);
        h_report(ud, k);
    }
    if (r->adm) {
        adm_host_t host = { r, host_engine, host_reload, r->events, r->last_ts_ms, cmd_ctx_store(r->ctx),
                            r->instance, cmd_control_overlay(r->control), host_control_put,
                            cmd_control_topic(r->control) };
        uint64_t reloads = r->reloads, failures = r->reload_failures;
        adm_poll(r->adm, &host);
        if (r->reloads != reloads || r->reload_failures != failures)
            h_report(ud, k);
    }
}

/* The counter of the message's topic. */
static void count_topic(run_t *r, const char *topic)
{
    for (size_t i = 0; i < r->ntopics; i++) {
        topic_count_t *t = &r->topics[i];
        if (t->seen == topic || (!t->seen && strcmp(t->name, topic) == 0)) {
            t->seen = topic;
            t->events++;
            return;
        }
    }
}

/* Events per stream for /metrics: the pack's stream names (interned by
 * the engine, stable until a reload), a handful, compared by content. */
static void count_stream(run_t *r, const char *stream)
{
    if (!stream)
        return;
    for (size_t i = 0; i < r->nstreams; i++)
        if (strcmp(r->streams[i].name, stream) == 0) {
            r->streams[i].events++;
            return;
        }
    if (r->nstreams < ADM_MAX_TOPICS) {
        char *name = strdup(stream);
        if (!name)
            return;
        r->streams[r->nstreams].name = name;
        r->streams[r->nstreams++].events = 1;
    }
}

static kfk_rc_t h_message(void *ud, kfk_t *k, const rd_kafka_message_t *m, void *part)
{
    run_t *r = ud;
    rpart_t *p = part;
    char err[1024];
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(m, &tstype);
    eng_src_t src = {
        .topic = rd_kafka_topic_name(m->rkt),
        .partition = m->partition,
        .offset = m->offset,
        .msg_ts_ms = ts >= 0 ? ts : INT64_MIN,
    };
    const eng_carry_t *carry = NULL;
    const void *ev = m->payload;
    size_t evlen = m->len;
    if (r->rp) {
        /* The last hop: a watermark passes; a record carries its source
         * and the values of the counters other hops keep. */
        const char *why = NULL;
        int rc = cmd_rp_final_msg(r->rp, m, &src, &carry, &ev, &evlen, &why);
        if (rc == 1) {
            r->watermarks++;
            return KFK_OK;
        }
        if (rc < 0) {
            r->internal_errors++;
            return kfk_dead_letter(k, m, why, NULL);
        }
    }
    r->events++;
    count_topic(r, src.topic);
    if (!ev || evlen == 0) {
        r->rejected++;
        return kfk_dead_letter(k, m, "malformed: empty message", NULL);
    }
    const eng_outcome_t *o;
    if (eng_engine_eval_carry(cmd_ctx_engine(r->ctx), p->state, ev, evlen, &src, carry, &o) != 0) {
        LOG_ERROR("event=%s/%d/%lld msg=\"internal error evaluating the event (out of memory?)\"",
                  src.topic, (int)src.partition, (long long)src.offset);
        return KFK_FATAL;
    }
    if (o->status == ENG_EVENT_REJECTED) {
        r->rejected++;
        wd_buf_reset(&r->reason);
        wd_buf_printf(&r->reason, "malformed: %s", o->reject_reason ? o->reject_reason : "rejected");
        LOG_DEBUG("dead-letter event=%s/%d/%lld reason=\"%s\"", src.topic, (int)src.partition,
                  (long long)src.offset, r->reason.data);
        return kfk_dead_letter(k, m, r->reason.data, NULL);
    }
    if (o->status == ENG_EVENT_UNROUTED) {
        r->unrouted++;
        if (!r->unknown_dlq) {
            r->dropped++;
            return KFK_OK;
        }
        wd_buf_reset(&r->reason);
        wd_buf_printf(&r->reason, "unknown_stream: %s", o->stream ? o->stream : "");
        return kfk_dead_letter(k, m, r->reason.data, NULL);
    }
    for (size_t i = 0; i < o->nerrors; i++) {
        r->rule_errors++;
        wd_buf_reset(&r->reason);
        wd_buf_printf(&r->reason, "rule_error: %s", o->errors[i].message);
        /* The DLQ has every one; the log the first few and then every 1000th. */
        LOG_WARN_EVERY(&r->rule_error_log, "rule=%s event=%s errors_so_far=%" PRIu64 " msg=\"%s\"",
                       o->errors[i].rule, o->event_id, r->rule_errors, o->errors[i].message);
        kfk_rc_t rc = kfk_dead_letter(k, m, r->reason.data, o->errors[i].rule);
        if (rc != KFK_OK)
            return rc;
    }
    if (cmd_ctx_write_outcome(r->ctx, o, &src, err, sizeof err) != 0) {
        LOG_ERROR("store write failed: %s", err);
        return KFK_FATAL;
    }
    r->hits += o->nhits;
    r->labels_off_key += o->labels_off_key;
    if (r->adm)
        count_stream(r, o->stream);
    if (o->event_ts_ms != INT64_MIN && o->event_ts_ms > r->last_ts_ms)
        r->last_ts_ms = o->event_ts_ms;
    if (o->decision > RULE_VERDICT_NONE && o->decision < 4)
        r->decisions[o->decision]++;
    size_t na = cmd_action_count(o, r->actions_fmt);
    for (size_t i = 0; i < na; i++) {
        cmd_action_json(&r->action, &r->action_key, o, i, r->actions_fmt, r->run_id);
        kfk_rc_t rc = kfk_produce(k, r->actions_topic, RD_KAFKA_PARTITION_UA, r->action_key.data,
                                  r->action_key.len, r->action.data, r->action.len, 0, NULL);
        if (rc != KFK_OK)
            return rc;
        r->actions++;
    }
    return KFK_OK;
}

/* The live run's row (kind "live", status running; params: command,
 * group, instance, topics, pack directory) and its rule versions.  Every
 * process of the group and every restart upserts the same run_id: the row
 * says when the latest one started and with which pack.  The service has no
 * end, so the row is never "finished". */
static int begin_run(run_t *r, const char *const *topics, size_t ntopics, char *err, size_t n)
{
    wd_buf_t p = WD_BUF_INIT;
    wd_buf_adds(&p, "{\"command\":\"run\",\"group\":");
    const char *g = wd_config_str(r->cfg, "run.group"), *inst = wd_config_str(r->cfg, "run.instance");
    const char *rules = wd_config_str(r->cfg, "rules");
    wd_buf_json_str(&p, g, strlen(g));
    wd_buf_adds(&p, ",\"instance\":");
    wd_buf_json_str(&p, inst, strlen(inst));
    wd_buf_adds(&p, ",\"topics\":[");
    for (size_t i = 0; i < ntopics; i++) {
        if (i)
            wd_buf_addc(&p, ',');
        wd_buf_json_str(&p, topics[i], strlen(topics[i]));
    }
    wd_buf_adds(&p, "],\"rules\":");
    wd_buf_json_str(&p, rules, strlen(rules));
    wd_buf_addc(&p, '}');
    cmd_run_info_t info = { .run_id = r->run_id, .kind = "live", .params = p.data };
    int rc = cmd_ctx_begin_run(r->ctx, &info, err, n);
    wd_buf_free(&p);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    cmd_args_t a;
    int rc = cmd_parse_common(argc, argv, "run", CMD_KAFKA_MAX_EVENTS, &a, run_usage);
    if (rc >= 0)
        return rc;

    run_t r;
    memset(&r, 0, sizeof r);
    char *err = malloc(65536);
    int status = CMD_EXIT_LOAD;
    kfk_t *k = NULL;
    if (!err)
        return CMD_EXIT_LOAD;
    r.cfg = cmd_load_config(&a, err, 65536);
    if (!r.cfg)
        goto done;
    r.last_ts_ms = INT64_MIN;
    cmd_engine_opts(r.cfg, &r.opts);
    const char *rules = wd_config_str(r.cfg, "rules");
    uint64_t load_t0 = wd_now_ns();
    r.ctx = cmd_ctx_new(&r.opts, rules, err, 65536);
    if (!r.ctx) {
        fprintf(stderr, "warden run: the rule pack in %s failed to load:\n%s", rules, err);
        goto done;
    }
    r.pack_loaded_unix = unix_now();
    r.pack_load_seconds = (double)(wd_now_ns() - load_t0) / 1e9;
    r.run_id = wd_config_str(r.cfg, "run.run_id");
    r.actions_topic = wd_config_str(r.cfg, "run.actions_topic");
    r.actions_fmt = cmd_actions_format_parse(wd_config_str(r.cfg, "output.actions_format"));
    if (r.actions_fmt == CMD_ACTIONS_V1)
        LOG_WARN("msg=\"output.actions_format = v1 is deprecated (one action per event); "
                 "v2 gives one action per entity (docs/operations.md)\"");
    r.unknown_dlq = strcmp(wd_config_str(r.cfg, "run.unknown_stream"), "dlq") == 0;
    const char *const *topics;
    size_t ntopics = wd_config_list(r.cfg, "run.topics", &topics);
    if (ntopics == 0) {
        fprintf(stderr, "warden run: %s: no input topics (set streams.topics or run.topics)\n",
                wd_config_path(r.cfg));
        goto done;
    }
    r.topics = calloc(ntopics, sizeof(*r.topics));
    if (!r.topics)
        goto done;
    for (size_t i = 0; i < ntopics; i++)
        r.topics[i].name = topics[i];
    r.ntopics = ntopics;
    r.stats_path = a.stats_json;
    r.instance = wd_config_str(r.cfg, "run.instance");
    r.t0_ns = wd_now_ns();
    if (cmd_rp_plan(r.cfg, cmd_ctx_engine(r.ctx), topics, ntopics, &r.rp, err, 65536) != 0) {
        fprintf(stderr, "warden run: repartition: %s\n", err);
        status = CMD_EXIT_FATAL;
        goto done;
    }
    if (!r.rp && strcmp(wd_config_str(r.cfg, "run.repartition"), "off") == 0) {
        /* Counters count within their input partition: say so when there are several. */
        int *parts = calloc(ntopics, sizeof(*parts));
        int many = 0;
        if (parts && kfk_topic_partitions(r.cfg, topics, ntopics, parts, err, 65536) == 0)
            for (size_t i = 0; i < ntopics; i++)
                many = many || parts[i] > 1;
        free(parts);
        if (many)
            LOG_WARN("msg=\"run.repartition = off over more than one input partition: counters count within "
                     "their partition, so a counter keyed on another field than the partition key can differ "
                     "from warden eval (warden check --guarantees; docs/state.md)\"");
    }
    if (r.rp) {
        /* Per rule, what is exact under this topology: nothing differs silently. */
        char *g = NULL;
        size_t gl = 0;
        FILE *gf = open_memstream(&g, &gl);
        if (gf) {
            cmd_rp_guarantees(r.rp, gf);
            fclose(gf);
            char *save = NULL;
            for (char *line = strtok_r(g, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *sep = strstr(line, ": ");
                if (sep)
                    *sep = '\0';
                LOG_INFO("guarantee rule=%s is=\"%s\"", line, sep ? sep + 2 : "");
            }
            free(g);
        }
        /* Before the admin port and the store: the hops need neither. */
        if (cmd_rp_start(r.rp, a.stats_json, err, 65536) != 0) {
            fprintf(stderr, "warden run: repartition: %s\n", err);
            status = CMD_EXIT_FATAL;
            goto done;
        }
    }
    if (*wd_config_str(r.cfg, "admin.listen")) {
        adm_opts_t ao;
        char tok[1024];
        eng_opts_t reo;
        cmd_engine_opts(r.cfg, &reo);
        int aorc = adm_opts_from_config(r.cfg, &ao, tok, sizeof tok, err, 65536);
        ao.replay_eng = &reo;
        if (aorc != 0 ||
            !(r.adm = adm_new(&ao, err, 65536))) {
            memset(tok, 0, sizeof tok);
            fprintf(stderr, "warden run: admin API: %s\n", err);
            goto done;
        }
        memset(tok, 0, sizeof tok);
        adm_engine_loaded(r.adm, cmd_ctx_engine(r.ctx));
    }
    /* Read whole before the first event (and so before /readyz says ready). */
    if (!(r.control = cmd_control_open(r.cfg, wd_config_bool(r.cfg, "run.create_topics"), 0, err, 65536))) {
        fprintf(stderr, "warden run: %s\n", err);
        goto done;
    }
    eng_engine_set_overlay(cmd_ctx_engine(r.ctx), cmd_control_overlay(r.control));
    if (cmd_ctx_open_store(r.ctx, wd_config_str(r.cfg, "store"), NULL, err, 65536) != 0) {
        fprintf(stderr, "warden run: %s\n", err);
        goto done;
    }
    char txn[512];
    snprintf(txn, sizeof txn, "%s.%s", wd_config_str(r.cfg, "run.group"),
             wd_config_str(r.cfg, "run.instance"));
    if (begin_run(&r, topics, ntopics, err, 65536) != 0) {
        fprintf(stderr, "warden run: results store: %s\n", err);
        goto done;
    }
    const char *create[2] = { r.actions_topic, wd_config_str(r.cfg, "run.dlq_topic") };
    kfk_opts_t ko = {
        .topics = topics,
        .ntopics = ntopics,
        .group = wd_config_str(r.cfg, "run.group"),
        .txn_id = txn,
        .changelog = wd_config_str(r.cfg, "run.changelog_topic"),
        .dlq = wd_config_str(r.cfg, "run.dlq_topic"),
        .create_missing = wd_config_bool(r.cfg, "run.create_topics"),
        .create = create,
        .ncreate = 2,
        .batch_max = wd_config_int(r.cfg, "run.batch_max"),
        .batch_ms = wd_config_int(r.cfg, "run.batch_ms"),
        .client_id = "warden-run",
        .align_ms = wd_config_int(r.cfg, "run.align_ms"),
        .max_events = a.max_events,
        .overlap = wd_config_bool(r.cfg, "run.commit_overlap"),
    };
    if (r.rp)
        cmd_rp_final_opts(r.rp, &ko);
    kfk_handler_t h = {
        .ud = &r,
        .assign = h_assign,
        .revoke = h_revoke,
        .message = h_message,
        .precommit = h_precommit,
        .changes = h_changes,
        .committed = h_committed,
        .rollback = h_rollback,
        .seal = h_seal,
        .apply = h_apply,
        .load = h_load,
        .restored = h_restored,
        .between = h_between,
        .report = h_report,
    };
    kfk_install_signals();
    status = CMD_EXIT_FATAL;
    k = kfk_new(r.cfg, &ko, &h, err, 65536);
    if (!k) {
        LOG_ERROR("warden run: %s", err);
        goto done;
    }
    h_report(&r, k);   /* the stats file exists once the service is up */
    LOG_INFO("warden run started group=%s instance=%s transactional_id=%s topics=%zu pack=%s store=%s",
             ko.group, wd_config_str(r.cfg, "run.instance"), txn, ntopics,
             eng_engine_pack_hash(cmd_ctx_engine(r.ctx)), store_scheme(cmd_ctx_store(r.ctx)));
    uint64_t t0 = wd_now_ns();
    int lrc = kfk_run(k, err, 65536);
    double secs = (double)(wd_now_ns() - t0) / 1e9;
    kfk_stats_t ks;
    kfk_stats(k, &ks);
    /* First event to last commit: the rate without group join and idling. */
    double busy = ks.first_ns && ks.last_commit_ns > ks.first_ns
                      ? (double)(ks.last_commit_ns - ks.first_ns) / 1e9 : 0.0;
    LOG_INFO("summary events=%" PRIu64 " actions=%" PRIu64 " hits=%" PRIu64 " dead_letters=%" PRIu64
             " rejected=%" PRIu64 " unknown_stream=%" PRIu64 " dropped=%" PRIu64 " rule_errors=%" PRIu64
             " commits=%" PRIu64 " aborts=%" PRIu64 " producer_restarts=%" PRIu64
             " snapshots=%" PRIu64 " snapshot_bytes=%" PRIu64 " restored=%" PRIu64
             " restored_records=%" PRIu64 " restore_ms=%" PRIu64 " misaligned=%" PRIu64
             " state_resets=%" PRIu64 " changelog_records_rejected=%" PRIu64
             " reloads=%" PRIu64 " reload_failures=%" PRIu64
             " latency_p50_us=%" PRIu64 " latency_p99_us=%" PRIu64 " seconds=%.2f events_per_s=%.0f"
             " busy_seconds=%.3f busy_events_per_s=%.0f commits_overlapped=%" PRIu64
             " commit_seconds=%.3f commit_stall_seconds=%.3f",
             r.events, r.actions, r.hits, ks.dead_letters, r.rejected, r.unrouted, r.dropped, r.rule_errors,
             ks.commits, ks.aborts, ks.producer_restarts,
             ks.snapshots, ks.snapshot_bytes, ks.restored, ks.restored_records, ks.restore_ms, ks.misaligned,
             r.state_resets, r.records_rejected,
             r.reloads, r.reload_failures,
             ks.lat_p50_us, ks.lat_p99_us, secs, secs > 0 ? (double)r.events / secs : 0.0,
             busy, busy > 0 ? (double)r.events / busy : 0.0, ks.overlapped, (double)ks.commit_us / 1e6,
             (double)ks.commit_stall_us / 1e6);
    if (cmd_ctx_store(r.ctx)) {
        store_stats_t so;
        store_stats(cmd_ctx_store(r.ctx), &so);
        LOG_INFO("summary store=%s rows_written=%" PRIu64 " batches=%" PRIu64 " batch_ms_max=%.1f"
                 " retries=%" PRIu64 " failures=%" PRIu64 " buffer_rows=%zu",
                 store_scheme(cmd_ctx_store(r.ctx)), so.rows_written, so.batches, (double)so.batch_us_max / 1000.0,
                 so.retries, so.failures, so.buffer_rows);
    }
    if (r.rp && cmd_rp_stop(r.rp) != 0 && lrc == 0) {
        lrc = -1;
        snprintf(err, 65536, "a repartition hop failed (see its log lines)");
    }
    write_stats(&r, &ks, 1, lrc != 0 ? err : NULL);
    if (lrc != 0) {
        LOG_ERROR("warden run: stopping on a fatal error: %s", err);
        goto done;
    }
    status = CMD_EXIT_OK;
done:
    if (r.rp) {
        cmd_rp_stop(r.rp);
        cmd_rp_destroy(r.rp);
    }
    adm_destroy(r.adm);
    cmd_control_close(r.control);
    kfk_destroy(k);
    for (size_t i = 0; i < r.nstreams; i++)
        free((char *)r.streams[i].name);
    if (cmd_ctx_destroy(r.ctx, err, 65536) != 0) {
        LOG_ERROR("warden run: closing the store: %s", err);
        status = CMD_EXIT_FATAL;
    }
    wd_config_destroy(r.cfg);
    cmd_args_free(&a);
    free(r.topics);
    wd_buf_free(&r.action);
    wd_buf_free(&r.action_key);
    wd_buf_free(&r.reason);
    free(err);
    return status;
}
