/* admin/adm_int.h — private to admin/: the server's state shared by
 *   adm_http.c     the libmicrohttpd server, routing, auth, the request queue
 *   adm_rules.c    per-rule totals, /rules, mode overrides, reload (loop thread)
 *   adm_metrics.c  the Prometheus text of /metrics
 *   adm_breaker.c  the auto-shadow circuit breaker
 *   adm_audit.c    the audit log
 *   adm_ovr.c      the overrides topic (durable mode overrides)
 *   adm_replay.c   replay jobs (/replays), each in its own thread */
#ifndef WARDEN_ADMIN_ADM_INT_H
#define WARDEN_ADMIN_ADM_INT_H

#include <pthread.h>

#include "admin/adm.h"
#include "base/wd_buf.h"

/* One rule's totals across engines (a reload starts the engine's stats
 * from 0; these never go back), plus its breaker window.  Guarded by mu. */
typedef struct adm_rule {
    char     *name;
    char     *file;
    char     *source;          /* as of the last pack that had the rule */
    char      sha256[65];
    long      version;
    int       present;         /* in the running pack */
    int       mode, pack_mode;
    uint64_t  evals, errors, timeouts, oom, time_ns, instr;
    uint64_t  hits[3][4];      /* [mode][verdict] */
    uint64_t  hist[ENG_COST_BUCKETS];
    uint64_t  trips;
    /* breaker: the current event-time minute and the baseline */
    int64_t   w_min;
    uint64_t  w_evals, w_errors, w_hits, w_actions, w_time_ns;
    double    base_rate;
    int       base_n;
    /* the engine's stats at the last accounting (deltas) */
    eng_rule_stats_t last;
} adm_rule_t;

/* A mode override: the mode, who set it and why. */
typedef struct adm_ovr_ent {
    char *rule;
    int   mode;
    char *source;    /* "operator" | "breaker" */
    char *reason;
    char *token;     /* token id that set it */
    double ts;
} adm_ovr_ent_t;

typedef struct adm_ovr adm_ovr_t;
typedef struct adm_job adm_job_t;

enum adm_req_kind { ADM_REQ_RELOAD = 1, ADM_REQ_MODE, ADM_REQ_MODE_CLEAR, ADM_REQ_CONTROL };

/* Runtime lists and manual labels (adm_lists.c), ADM_REQ_CONTROL. */
enum adm_ctl_op { ADM_CTL_ENTITY_LABELS = -1, /* GET /entities: the entity's overlay labels, read only */
                  ADM_CTL_LISTS = 1, ADM_CTL_LIST, ADM_CTL_LIST_PUT, ADM_CTL_LIST_DEL, ADM_CTL_LABEL_PUT,
                  ADM_CTL_LABEL_DEL };

/* A change queued by the HTTP thread for the loop thread. */
typedef struct adm_req {
    int             kind;
    char           *rule;
    int             mode;
    int             ctl_op;   /* ADM_REQ_CONTROL: enum adm_ctl_op */
    char           *name, *value, *label, *ttl, *reason;   /* list/type, value/id, label */
    size_t          value_len;
    char            token_id[32];
    int             done, abandoned;
    int             status;
    wd_buf_t        body;     /* the JSON answer */
    struct adm_req *next;
} adm_req_t;

struct adm {
    adm_opts_t       o;
    char            *token;
    char             token_id[32];
    struct MHD_Daemon *d;
    int              port;
    pthread_mutex_t  mu;
    pthread_cond_t   cv;
    adm_req_t       *q, **qtail;
    int              reload_pending;
    /* what the loop published (under mu) */
    adm_rule_t      *rules;
    size_t           nrules, caprules;
    adm_ovr_ent_t   *ovr;
    size_t           novr;
    eng_engine_t    *eng;          /* the engine accounted (loop thread only) */
    size_t          *eng_map;      /* engine rule index → rules[] */
    size_t           eng_n;
    char             pack[65];
    int              have_stats;
    adm_run_stats_t  rs;           /* pointers below are copies */
    adm_slot_t      *slots;
    adm_lag_t       *lags;
    char            *topics[ADM_MAX_TOPICS];
    char            *streams[ADM_MAX_TOPICS];
    store_stats_t    store;
    int              store_ok;
    char             store_err[256];
    int              has_store;
    uint64_t         events;
    uint64_t         breaker_trips, audit_failures, http_requests[6];
    double           t0_unix;
    adm_ovr_t       *ovrt;
    int              audit_fd;
    pthread_mutex_t  audit_mu;
    struct adm_audit_row *audit_q, **audit_qtail;   /* for the store (audit_mu) */
    size_t           audit_qn;
    uint64_t         audit_seq;
    /* replay jobs (adm_replay.c), under jobs_mu */
    pthread_mutex_t  jobs_mu;
    adm_job_t       *jobs;         /* newest first */
    unsigned         jobs_running; /* threads not yet returned */
    unsigned long    jobs_seq;
    unsigned         replay_jobs_max, replay_cpu_pct;
    eng_opts_t       replay_eng;
};

/* adm_rules.c (loop thread unless said) */
adm_rule_t *adm_rule_get(adm_t *a, const char *name, int create);    /* under mu */
void adm_rules_json(adm_t *a, wd_buf_t *b);                          /* HTTP, under mu */
int  adm_rule_json(adm_t *a, const char *name, wd_buf_t *b);         /* HTTP, under mu; -1: none */
void adm_apply_req(adm_t *a, const adm_host_t *h, adm_req_t *r);
adm_ovr_ent_t *adm_ovr_find(adm_t *a, const char *rule);             /* under mu */
/* Sets (mode >= 0) or clears (mode < 0) an override in the table, under mu. */
void adm_ovr_set(adm_t *a, const char *rule, int mode, const char *source, const char *reason,
                 const char *token, double ts);
/* Applies the table's override of one rule (or its file's mode) to e. */
int  adm_apply_mode(adm_t *a, eng_engine_t *e, const char *rule);
const char *adm_mode_source(adm_t *a, const char *rule);             /* under mu */

/* adm_lists.c (loop thread): a GET/PUT/DELETE of /lists or /labels. */
void adm_control_apply(adm_t *a, const adm_host_t *h, adm_req_t *q);
/* Any thread: frees a request and what it holds. */
void adm_req_free(adm_req_t *r);

/* adm_metrics.c (HTTP thread, under mu) */
void adm_metrics_text(adm_t *a, wd_buf_t *b);

/* adm_breaker.c (loop thread) */
void adm_breaker_check(adm_t *a, eng_engine_t *e, const adm_host_t *h);

/* adm_audit.c (any thread) */
int  adm_audit_open(adm_t *a, char *errstr, size_t n);
void adm_audit(adm_t *a, const char *token_id, const char *action, const char *rule,
               const char *before, const char *after, const char *result, int status);
void adm_audit_close(adm_t *a);
/* Loop thread: the queued entries to the store's audit_log table. */
void adm_audit_drain(adm_t *a, const adm_host_t *h);
void adm_token_id(const char *token, char out[32]);
double adm_now_unix(void);

/* adm_replay.c (HTTP threads; the caller checked the token and the body
 * size).  Answers /replays and /replays/{id}: the status, the JSON in out,
 * and for a 405 the allowed methods in *allow. */
int  adm_replays_handle(adm_t *a, const char *method, const char *url, const wd_buf_t *body,
                        const char *token_id, wd_buf_t *out, const char **allow);
/* adm_destroy: cancels every job and waits for its thread. */
void adm_replays_stop(adm_t *a);

/* adm_ovr.c (loop thread) */
adm_ovr_t *adm_ovr_open(adm_t *a, char *errstr, size_t n);    /* reads the topic to its end */
int  adm_ovr_publish(adm_ovr_t *o, const adm_ovr_ent_t *e, const char *rule, char *errstr, size_t n);
void adm_ovr_follow(adm_t *a, adm_ovr_t *o, eng_engine_t *e);  /* new records of other processes */
void adm_ovr_close(adm_ovr_t *o);

#endif
