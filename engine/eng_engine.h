/* engine/eng_engine.h — the evaluation core shared by eval, test, run and
 * replay: one event's bytes in → parse, route by stream, update counters,
 * call the stream's rules, decide.  Identical input gives identical output
 * whichever command drives it. */
#ifndef WARDEN_ENGINE_ENG_ENGINE_H
#define WARDEN_ENGINE_ENG_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "base/wd_json.h"
#include "rules/rule_types.h"

typedef struct eng_engine eng_engine_t;

typedef struct state state_t;   /* state/state.h */

/* The default ceiling of the state, in MiB (engine.state_max_mb). */
#define ENG_STATE_MAX_MB 2048

typedef struct eng_opts {
    const char *stream_field;   /* default "type" */
    const char *id_field;       /* default "id" */
    const char *ts_field;       /* default "ts" (RFC 3339 or epoch ms) */
    long        instr_budget;   /* Lua instructions per rule evaluation (default 1e6) */
    size_t      mem_cap;        /* bytes the rules' Lua VM may hold (default 64 MiB) */
    long        time_limit_ms;  /* wall-clock ms per rule evaluation (default 50; 0: none) */
    long        load_time_limit_ms; /* per rule file chunk at load (default 1000; 0: none) */
    int         strict_fields;  /* reading an undeclared field is a rule error (warden test) */
    int         run_off_rules;  /* evaluate mode "off" rules too (warden test) */
    size_t      state_max_mb;   /* ceiling for counter/label state (0: none) */
    int64_t     max_future_ms;  /* Kafka input: reject event times further than this
                                 * ahead of the message timestamp (default 1 h; 0: off) */
} eng_opts_t;

/* Fills o with the defaults above. */
void eng_opts_default(eng_opts_t *o);

/* Where an event came from; used for event_id fallback and dead letters. */
typedef struct eng_src {
    const char *topic;      /* Kafka, else NULL */
    int32_t     partition;
    int64_t     offset;
    int64_t     msg_ts_ms;  /* Kafka message timestamp, INT64_MIN if none */
    const char *file;       /* file input, else NULL */
    long        line;
} eng_src_t;

typedef struct eng_hit {
    const char *rule;
    int         version;
    int         mode;       /* enum rule_mode */
    int         verdict;    /* enum rule_verdict_code */
    const char *entity;
    size_t      entity_len;
    const char *entity_type; /* the rule's entity_type, else RULE_ENTITY_TYPE_DEFAULT */
    const char *reason;     /* NULL when the rule gave none */
    size_t      reason_len;
    int         has_score;
    double      score;
    const char *ttl;        /* NULL when none */
    const char *rule_sha256; /* hex sha256 of the rule's source (rule_t.sha256) */
    /* The labels this evaluation set (ctx.label), as the JSON array the
     * hit's "labels" field and rule_results.labels hold:
     * [{"label":L,"ttl_ms":N,"expires":"RFC 3339"[,"entity":E]}], entity
     * only when it is not the hit's; names as the rule gave them (a
     * shadow rule's too).  NULL (len 0) when it set none. */
    const char *labels;
    size_t      labels_len;
} eng_hit_t;

typedef struct eng_rule_error {
    const char *rule;
    const char *message;    /* "spam/link.lua:12: attempt to index a nil value" */
} eng_rule_error_t;

/* One action: the decision for one (entity_type, entity) of an event — the
 * most severe enforce-mode verdict any rule gave that entity, the ttl of the
 * first rule (name order) that gave it, and every enforce-mode hit on the
 * entity (indexes into the outcome's hits, rule-name order). */
typedef struct eng_action {
    const char   *entity;
    size_t        entity_len;
    const char   *entity_type;
    int           verdict;      /* enum rule_verdict_code */
    const char   *ttl;          /* NULL when none */
    const size_t *hits;
    size_t        nhits;
} eng_action_t;

enum eng_status {
    ENG_EVENT_OK = 0,        /* evaluated (maybe without hits) */
    ENG_EVENT_REJECTED,      /* malformed: bad JSON, missing stream, bad ts */
    ENG_EVENT_UNROUTED,      /* valid, but no rule or counter uses its stream */
};

/* Everything one evaluation produced.  Owned by the engine; valid until the
 * next eng_engine_eval() on the same engine. */
typedef struct eng_outcome {
    int                     status;         /* enum eng_status */
    const char             *reject_reason;  /* for ENG_EVENT_REJECTED */
    const char             *event_id;       /* id field, else topic/partition/offset or file:line */
    const char             *stream;
    int64_t                 event_ts_ms;    /* INT64_MIN when none */
    const eng_hit_t        *hits;           /* rule-name order */
    size_t                  nhits;
    const eng_rule_error_t *errors;
    size_t                  nerrors;
    int                     decision;       /* most severe enforce-mode verdict */
    const char             *decision_entity;
    size_t                  decision_entity_len;
    const char             *decision_ttl;
    const char *const      *decision_rules; /* enforce-mode rules that hit, name order */
    size_t                  ndecision_rules;
    /* The event's decision above is the v1 single action (the entity of
     * its most severe verdict); actions are the v2 ones, one per entity
     * with an enforce-mode hit, in order of that entity's first hit. */
    const eng_action_t     *actions;
    size_t                  nactions;
    size_t                  labels_off_key; /* eval_carry: label calls on another entity */
} eng_outcome_t;

/* Loads the rule pack in rules_dir (rules, counters.lua, lists/).  Returns
 * NULL with every load error, one "file:line: message" a line, in errstr. */
eng_engine_t *eng_engine_new(const eng_opts_t *opts, const char *rules_dir,
                             char *errstr, size_t errstr_size);
void eng_engine_destroy(eng_engine_t *e);

/* The engine's own state (counters, labels); eval uses it when state is NULL. */
state_t *eng_engine_state(eng_engine_t *e);

/* Evaluates one event (raw JSON bytes).  state: whose counters/labels to
 * read and update (NULL: the engine's own).  Returns 0, or -1 only for an
 * internal failure (out of memory); bad input is an outcome, not an error. */
int eng_engine_eval(eng_engine_t *e, state_t *state, const char *buf, size_t len,
                    const eng_src_t *src, const eng_outcome_t **out);

/* The repartitioned path (docs/state.md): a counter is kept by the hop
 * whose partitions are keyed by its key field; that hop updates it and reads
 * back every window for the event's own key (value slots: counter c's
 * windows, in declared order, from eng_engine_value_slot(e, c)), and the
 * event carries the values on to the last hop, which runs the rules. */
typedef struct eng_carry {
    const unsigned char *local;  /* per counter: 1 = kept here (updated and read in the state
                                  * given), 0 = carried */
    const int64_t       *vals;   /* per value slot: the value carried */
    const unsigned char *have;   /* per value slot: carried at all */
    const char          *entity; /* the event's evaluation key value: labels on it are
                                  * exact; a label call on another entity counts in
                                  * the outcome's labels_off_key */
    size_t               entity_len;
} eng_carry_t;
size_t eng_engine_value_slots(const eng_engine_t *e);
size_t eng_engine_value_slot(const eng_engine_t *e, size_t counter);
struct rule_counters;
const struct rule_counters *eng_engine_counters(const eng_engine_t *e);

/* eng_engine_eval where carry->local says which counters are kept in state
 * and the others answer ctx.count/ctx.distinct from carry for the event's
 * own key only (another key is a rule error naming the reason).  carry NULL:
 * eng_engine_eval. */
int eng_engine_eval_carry(eng_engine_t *e, state_t *state, const char *buf, size_t len,
                          const eng_src_t *src, const eng_carry_t *carry, const eng_outcome_t **out);

/* One hop: parse, route and time the event as eval does (the outcome's
 * status, stream, id, time; *root the event, valid until the next call);
 * when local is not NULL, update the counters with local[c] set and read
 * every window of each back for the event's own key into vals/have.  No
 * rule runs.  Returns 0, or -1 for an internal failure. */
int eng_engine_hop(eng_engine_t *e, state_t *state, const char *buf, size_t len, const eng_src_t *src,
                   const unsigned char *local, int64_t *vals, unsigned char *have, const eng_outcome_t **out,
                   wd_jval_t *root);
/* The same evaluation of an event its caller already parsed (with any
 * wd_json_t: root must stay valid for the call; a document that failed to
 * parse goes to eng_engine_eval, which rejects it with the parser's
 * message).  Replay parses each event once and hands the document to both
 * packs' engines; the outcome is the one eng_engine_eval gives on the
 * event's bytes. */
int eng_engine_eval_doc(eng_engine_t *e, state_t *state, wd_jval_t root, const eng_src_t *src,
                        const eng_outcome_t **out);

/* The event time of a parsed event exactly as eng_engine_eval reads it: the
 * ts field (RFC 3339 or epoch ms), else the Kafka message timestamp; refused
 * past max_future_ms ahead of the message time.  Returns 0 with *ts_ms, or
 * -1 with the reject reason in *why (static; one %s for the field name).
 * Replay bounds a window with it before evaluating anything. */
int eng_event_time(const eng_opts_t *opts, wd_jval_t root, const eng_src_t *src,
                   int64_t *ts_ms, const char **why);

/* Per-rule counters since creation, for summaries and metrics.  Cost:
 * time_ns is the wall time of the rule's calls (one clock_gettime pair per
 * call, ~40 ns), instr the Lua instructions the budget hook counted (it
 * fires every budget/16 instructions, at least 1000: a rule shorter than
 * one step counts 0, so time is the precise measure).  time_hist counts
 * calls by duration, buckets ENG_COST_BOUNDS_US (the last one: more). */
#define ENG_COST_BUCKETS 12
extern const double ENG_COST_BOUNDS_US[ENG_COST_BUCKETS - 1];
typedef struct eng_rule_stats {
    const char *rule;
    uint64_t    evals, hits[4], errors, timeouts, oom;
    uint64_t    time_ns, instr;
    uint64_t    time_hist[ENG_COST_BUCKETS];
    int         mode;        /* enum rule_mode in effect (after an override) */
    int         pack_mode;   /* as the rule file says */
} eng_rule_stats_t;
size_t eng_engine_rule_stats(const eng_engine_t *e, const eng_rule_stats_t **out);

/* Runtime mode override (admin API, auto-shadow breaker): rule `name`
 * evaluates in `mode` from the next event on; mode -1 puts the file's mode
 * back.  A rule that is "off" in its file is not indexed by stream, so it
 * cannot be switched on here (edit the file and reload).  Returns 0, -1
 * for an unknown rule, -2 for turning on a rule that is off in its file. */
int eng_engine_set_mode(eng_engine_t *e, const char *name, int mode);
/* Runtime list entries and manual labels (rules/rule_overlay.h) that
 * ctx.in_list and ctx.has_label see from the next event on, by the event's
 * time; borrowed (the caller keeps it alive and swaps it before
 * destroying it); NULL: none.  Only exact lists take runtime entries. */
struct rule_overlay;
void eng_engine_set_overlay(eng_engine_t *e, const struct rule_overlay *ov);
/* The pack's file lists (rules/rule_lists.h): the lists that exist. */
struct rule_lists;
const struct rule_lists *eng_engine_lists(const eng_engine_t *e);
/* The rule named name, or NULL (for its file, version, sha256, source). */
const struct rule *eng_engine_rule(const eng_engine_t *e, const char *name);

/* Streams the pack uses, and for each the union of the fields its rules and
 * counters declare (plus id/ts/stream fields) — what a pruner must keep. */
size_t eng_engine_streams(const eng_engine_t *e, const char *const **names);
size_t eng_engine_stream_fields(const eng_engine_t *e, const char *stream,
                                const char *const **paths);
/* For the rule test runner (engine/eng_test.c): the rules' VM and pack, and
 * a reset of all state (counters, labels) between test cases. */
struct wd_lua;
struct rule_pack;
struct wd_lua *eng_engine_vm(eng_engine_t *e);
const struct rule_pack *eng_engine_pack(const eng_engine_t *e);
/* Returns 0, or -1 when out of memory (the state is kept). */
int eng_engine_reset_state(eng_engine_t *e);
/* The options the engine was made with (borrowed: the engine's). */
const eng_opts_t *eng_engine_opts(const eng_engine_t *e);
/* The per-VM rule context (bench/eval calls rules directly for its baseline). */
struct rule_ctx;
struct rule_ctx *eng_engine_rule_ctx(eng_engine_t *e);

/* warden explain: records what every rule reads and returns on the events
 * evaluated while t is attached (rules/rule_trace.h; borrowed, NULL: off,
 * the default).  Off costs one pointer test per rule call. */
struct rule_trace;
void eng_engine_set_trace(eng_engine_t *e, struct rule_trace *t);

/* Hex sha256 over the pack's files (rule_runs.pack_hash). */
const char *eng_engine_pack_hash(const eng_engine_t *e);

#endif
