/* replay/rpl_int.h — private structures of the replay module, shared by
 * rpl_replay.c (the pass), rpl_truth.c, rpl_fields.c and rpl_report.c. */
#ifndef WARDEN_REPLAY_RPL_INT_H
#define WARDEN_REPLAY_RPL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "base/wd_json.h"
#include "replay/rpl_replay.h"
#include "rules/rule_pack.h"

/* A set of byte strings with an int value each (open addressing, copies
 * the keys).  Used for entities affected and ground-truth labels. */
typedef struct rpl_set {
    char   **keys;
    size_t  *lens;
    int     *vals;
    size_t   cap, n;
} rpl_set_t;
/* Index of key (inserted with val when new; *isnew says which), or -1 on
 * out of memory. */
long rpl_set_put(rpl_set_t *s, const char *k, size_t len, int val, int *isnew);
long rpl_set_find(const rpl_set_t *s, const char *k, size_t len);
void rpl_set_free(rpl_set_t *s);

enum { RPL_CAND = 0, RPL_BASE = 1 };

/* One differing event kept as a sample. */
typedef struct rpl_sample {
    char *event_id;
    char *source;        /* topic/partition/offset or file:line */
    char *entity;
    char *reason;        /* the candidate hit's reason, else the baseline's; NULL: none */
    int   verdict[2];    /* per side, RULE_VERDICT_NONE when no hit */
} rpl_sample_t;

/* A rule of either pack (the union, by name). */
typedef struct rpl_rule {
    const char  *name;
    const rule_t *def[2];        /* per side, NULL when absent */
    uint64_t     hits[2];
    uint64_t     added, removed, verdict_changed, entity_changed, decisions_changed;
    uint64_t     errors[2], kills[2];
    uint64_t     unique;         /* candidate hits no other candidate rule made */
    rpl_set_t    entities;       /* of the differing hits */
    rpl_sample_t *samples;
    size_t       nsamples;
} rpl_rule_t;

/* Ground truth: labels keyed "e:" event_id or "n:" entity. */
typedef struct rpl_truth {
    rpl_set_t  labels;       /* val: 1 abusive, 0 benign */
    uint64_t   n_event, n_entity;
    uint64_t   abusive_entities;
    uint8_t   *seen;         /* per label: an event label met in the window */
    uint8_t   *hit;          /* [label][rule*2+side], rule nrules = the pack */
    size_t     cap;          /* labels with room in seen/hit */
} rpl_truth_t;

/* Field check: one (stream, path) with its counts. */
typedef struct rpl_fpath {
    const char *stream;
    const char *path;
    uint64_t    types[7];    /* enum wd_jtype counts where present */
    uint64_t    present;     /* present and not null */
} rpl_fpath_t;
typedef struct rpl_fstream {
    const char *name;
    uint64_t    events;
    size_t     *paths;       /* indexes into fpaths */
    size_t      npaths;
} rpl_fstream_t;
typedef struct rpl_frule {
    size_t   rule;           /* union index */
    size_t   fpath;
    unsigned expected;       /* bit per enum wd_jtype seen in the rule's tests (0: none) */
} rpl_frule_t;

/* Hits over event time, for the HTML charts: dense buckets of width_ms
 * (an hour; doubled while the window's hits would need more than
 * RPL_SERIES_MAX buckets) from base_ms; counts[bucket * nrules * 2 +
 * rule * 2 + side]. */
#define RPL_SERIES_MAX 1000
typedef struct rpl_series {
    int64_t   width_ms;
    int64_t   base_ms;
    size_t    n;             /* buckets in use (0: no hits yet) */
    uint64_t *counts;        /* RPL_SERIES_MAX buckets, allocated at the first hit */
} rpl_series_t;

struct rpl {
    rpl_opts_t      opts;
    eng_engine_t   *eng[2];
    size_t          nsides;
    int64_t         warmup_ms, start_ms;
    char           *dir[2];
    char           *input_json;
    int             partial;
    wd_json_t      *json;
    rpl_counts_t    c;
    uint64_t        unrouted[2], rejected_side[2], actions[2];
    uint64_t        dec_changed, dec_added, dec_removed, dec_verdict;
    /* per side: pack index → union index; last seen timeouts/oom */
    size_t         *uidx[2];
    uint64_t       *seen_kills[2];
    rpl_rule_t     *rules;       /* sorted by name */
    size_t          nrules;
    /* overlap among candidate rules: inter[a*nrules+b], a < b (union idx) */
    uint64_t       *inter;
    size_t         *hitbuf;      /* union indexes hit by the candidate on one event */
    rpl_truth_t     truth;
    int             has_truth;
    rpl_fpath_t    *fpaths;
    size_t          nfpaths;
    rpl_fstream_t  *fstreams;
    size_t          nfstreams;
    rpl_frule_t    *frules;
    size_t          nfrules;
    rpl_series_t    series;
};

/* Union index of a rule name, or -1. */
long rpl_rule_find(const rpl_t *r, const char *name);

/* rpl_fields.c */
int  rpl_fields_init(rpl_t *r);
void rpl_fields_event(rpl_t *r, wd_jval_t root);
void rpl_fields_free(rpl_t *r);
/* Flag text for field-rule f, or NULL when it looks fine (static buffer). */
const char *rpl_fields_flag(const rpl_t *r, const rpl_frule_t *f, char *buf, size_t n);
const char *rpl_jtype_name(int t);

/* rpl_html.c: counts one window hit of rule u (union index) on side at
 * event time ts.  Returns 0, or -1 on out of memory. */
int  rpl_series_hit(rpl_t *r, size_t u, int side, int64_t ts);

/* rpl_report.c: candidate rule pairs that share hits, highest Jaccard
 * first (the caller frees *out). */
typedef struct rpl_pair {
    size_t   a, b;
    uint64_t both, either;
    double   jaccard;
} rpl_pair_t;
size_t rpl_pairs(const rpl_t *r, rpl_pair_t **out);
#define RPL_TOP_PAIRS 10

/* rpl_truth.c: applies one window event's outcomes to the truth counts. */
void rpl_truth_event(rpl_t *r, const eng_outcome_t *const o[2]);
void rpl_truth_free(rpl_truth_t *t);
typedef struct rpl_pr {
    uint64_t tp, fp, fn;
} rpl_pr_t;
/* Counts for a rule (union index) or the whole pack (rule == nrules) on a side. */
void rpl_truth_pr(const rpl_t *r, size_t rule, int side, rpl_pr_t *out);

/* The longest counter window of e's pack (counters.lua), 0 for none: the
 * default warm-up of replay, the base of explain's. */
int64_t rpl_longest_window(eng_engine_t *e);

#endif
