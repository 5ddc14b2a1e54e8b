/* admin/adm.h — the admin HTTP API of `warden run` (libmicrohttpd):
 * health, readiness, Prometheus metrics, rules and their runtime mode
 * overrides, reload; bearer-token auth, the audit log, the auto-shadow
 * breaker.  The HTTP thread never touches the engine: it reads snapshots
 * the loop thread publishes and queues changes the loop thread applies
 * between batches (adm_poll).  docs/operations.md has the reference. */
#ifndef WARDEN_ADMIN_ADM_H
#define WARDEN_ADMIN_ADM_H

#include <stddef.h>
#include <stdint.h>

#include "engine/eng_engine.h"
#include "kafka/kfk.h"
#include "state/state.h"
#include "storage/store.h"

typedef struct adm adm_t;
typedef struct wd_config wd_config_t;

/* The auto-shadow breaker's ceilings (0: that check is off).  Windows are
 * minutes of event time; a check needs min_evals evaluations in the window. */
typedef struct adm_breaker_opts {
    long   actions_per_min;   /* enforce-mode hits of one rule in one minute */
    double hit_multiple;      /* hit rate over the trailing baseline's */
    double error_rate;        /* (errors + budget kills) / evaluations, 0..1 */
    double mean_us;           /* mean evaluation time */
    long   min_evals;
} adm_breaker_opts_t;

typedef struct adm_opts {
    const char *listen;         /* "127.0.0.1:9100", ":9100" (127.0.0.1) */
    const char *token;          /* bearer token (NULL: every protected call is 401) */
    int         open_health;    /* /metrics, /healthz, /readyz without a token */
    const char *audit_path;     /* append-only JSONL (NULL or "": none) */
    const char *overrides_topic;/* compacted topic of mode overrides (NULL: not durable) */
    const wd_config_t *cfg;     /* kafka properties for the overrides topic */
    int         create_topic;   /* create overrides_topic when missing */
    adm_breaker_opts_t breaker;
    const char *store_url;      /* GET /entities reads it (NULL or "": 501) */
    const char *rules_dir;      /* the pack, for the lists GET /entities checks */
    /* Replay jobs (POST /replays): at most replay_jobs_max at once, together
     * at most replay_cpu_pct percent of one core; their engines take these
     * options (NULL: eng_opts_default; copied) and Kafka settings from cfg. */
    unsigned    replay_jobs_max;
    unsigned    replay_cpu_pct;
    const eng_opts_t *replay_eng;
} adm_opts_t;

/* Fills the options from the config's admin section (listen, token from
 * admin.token_file else WARDEN_ADMIN_TOKEN, …).  Strings are borrowed from
 * cfg except the token (in tok, a buffer of toksize).  0, or -1 with errstr. */
int adm_opts_from_config(const wd_config_t *cfg, adm_opts_t *o, char *tok, size_t toksize,
                         char *errstr, size_t errstr_size);

/* Starts the server (and reads the overrides topic to its end).  NULL with
 * errstr.  The token is copied. */
adm_t *adm_new(const adm_opts_t *o, char *errstr, size_t errstr_size);
/* Stops the server; queued requests are answered 503. */
void adm_destroy(adm_t *a);
/* The port the server listens on. */
int adm_port(const adm_t *a);

/* What the loop thread lends adm_poll and adm_publish. */
typedef struct adm_host {
    void          *ud;
    eng_engine_t *(*engine)(void *ud);
    /* Loads the pack again; on success the new engine is in place (and
     * adm_engine_loaded was called).  0, or -1 with one error a line. */
    int           (*reload)(void *ud, char *errstr, size_t errstr_size);
    uint64_t       events;        /* consumed so far */
    int64_t        event_ts_ms;   /* latest event time seen (INT64_MIN: none) */
    store_t       *store;         /* audit_log rows go here (NULL: none) */
    const char    *instance;      /* this process's name, for audit row ids */
    /* Runtime lists and manual labels (NULL: not available): what the
     * control topic holds, and a write to it that returns once this
     * process has applied the record (0, or -1 with errstr). */
    const struct rule_overlay *overlay;
    int          (*control_put)(void *ud, const void *key, size_t klen, const void *val, size_t vlen,
                                int64_t *offset, char *errstr, size_t errstr_size);
    const char    *control_topic;
} adm_host_t;

/* Loop thread, between batches: applies queued mode changes and reloads,
 * follows the overrides topic, runs the breaker.  Cheap when idle. */
void adm_poll(adm_t *a, const adm_host_t *h);

/* Loop thread: the engine `e` is about to be replaced: count what it did. */
void adm_account(adm_t *a, eng_engine_t *e);
/* Loop thread: `e` is the engine now (start, reload): overrides applied. */
void adm_engine_loaded(adm_t *a, eng_engine_t *e);

/* Counters of the run the loop publishes for /metrics and /readyz. */
#define ADM_MAX_TOPICS 64
#define ADM_MAX_SLOTS  1024
typedef struct adm_slot {
    char          name[160];   /* a state slot: "topic/partition" (topic "*" when co-partitioned) */
    state_stats_t st;
} adm_slot_t;

typedef struct adm_lag {
    char          topic[160];
    int32_t       partition;
    int64_t       lag;         /* high watermark - position (-1: unknown) */
} adm_lag_t;

typedef struct adm_run_stats {
    kfk_stats_t   kfk;
    size_t        ntopics;
    const char   *topic[ADM_MAX_TOPICS];
    uint64_t      topic_events[ADM_MAX_TOPICS];
    const char   *stream_field;
    uint64_t      dlq_malformed, dlq_unknown_stream, dlq_rule_error;
    uint64_t      decisions[4];   /* by enum rule_verdict_code */
    uint64_t      actions;
    uint64_t      reloads, reload_failures;
    double        pack_loaded_unix;   /* when the running pack was loaded */
    double        pack_load_seconds;
    double        restore_seconds;    /* changelog restores, total */
    uint64_t      control_records;    /* control topic records applied */
    uint64_t      control_rejected;   /* bad control records passed over */
    uint64_t      control_entries;    /* runtime list entries and labels with a history */
    size_t        nslots;
    adm_slot_t   *slots;          /* borrowed for the call */
    size_t        nlags;
    adm_lag_t    *lags;           /* borrowed for the call */
    size_t        nstreams;
    const char   *stream[ADM_MAX_TOPICS];
    uint64_t      stream_events[ADM_MAX_TOPICS];
    store_t      *store;          /* may be NULL */
} adm_run_stats_t;

/* Loop thread: copies what /metrics and /readyz need.  e: the engine. */
void adm_publish(adm_t *a, eng_engine_t *e, const adm_run_stats_t *rs);

/* Constant-time equality of two byte strings (time depends on the
 * lengths only, never on where they differ). */
int adm_token_equal(const char *a, size_t alen, const char *b, size_t blen);

/* Appends one audit line (the audit file's JSON format) to path and
 * fsyncs it, for commands that change enforcement outside the service
 * (warden undo); also logs it.  path NULL or "": the log line only.
 * Returns 0, or -1 with a message. */
int adm_audit_append(const char *path, const char *token_id, const char *action, const char *rule,
                     const char *before, const char *after, const char *result, int status,
                     char *errstr, size_t n);

/* The investigation of one entity as a JSON object (docs/operations.md,
 * "Investigating an entity"): its hits and actions from the store in time
 * order, the lists of rules_dir it is on, a reproduce command per block,
 * its labels with expiry and where each came from.  Blocking: connects to the store.
 * Returns a new reference, or NULL with a message. */
typedef struct adm_entity_query {
    const char *store_url;
    const char *rules_dir;     /* for lists; NULL: none */
    const char *type;          /* NULL: every type */
    const char *entity;
    int64_t     since_ms;      /* INT64_MIN: all */
    const char *run_id;        /* NULL: every run */
    /* Labels: those the hits of labels_run_id set (NULL: "live"), merged
     * with control_labels, the entity's manual labels and deletions
     * (rule_overlay_entity_labels_json; NULL: not read, the answer says
     * so), as they stand at at_ms (INT64_MIN: now). */
    const char *labels_run_id;
    const char *control_labels;
    int64_t     at_ms;
    /* Named in each block's reproduce command: the config (-c) for Kafka
     * input, the pack (--rules) for file input (NULL: placeholders). */
    const char *config_path;
} adm_entity_query_t;
struct json_t;
struct json_t *adm_entity_json(const adm_entity_query_t *q, char *errstr, size_t n);

#endif
