/* admin/adm_replay.c — replay jobs inside `warden run` (POST/GET/DELETE
 * /replays): the parameters of `warden replay` as JSON, one thread per job
 * with its own engines (rpl_new: a candidate and an optional baseline pack,
 * each with its own state), reading the retained Kafka window with its own
 * assigned consumer (rpl_kafka: no group, no commits) or JSONL files on the
 * server.  A job never touches the live engine, its state or the actions
 * topic.  At most admin.replay_jobs_max run at once; together they use at
 * most admin.replay_cpu_pct percent of one core: each job thread measures
 * its own CPU time (CLOCK_THREAD_CPUTIME_ID) against wall time and sleeps
 * to stay under its part.  Jobs are kept (with their report) until DELETE
 * or until ADM_JOBS_KEPT finished jobs are newer. */
#include "admin/adm_int.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "base/wd_config.h"
#include "base/wd_jsonl.h"
#include "base/wd_log.h"
#include "base/wd_util.h"
#include "replay/rpl_kafka.h"
#include "replay/rpl_replay.h"

#define ADM_JOBS_KEPT     32         /* finished jobs kept for GET */
#define ADM_JOB_ERR       4096
#define THROTTLE_EVERY_NS 10000000u  /* the CPU share is checked every 10 ms of wall time */
#define THROTTLE_WINDOW_NS 1000000000u

enum job_status { JOB_QUEUED = 0, JOB_RUNNING, JOB_DONE, JOB_FAILED, JOB_CANCELLED };
static const char *const status_name[] = { "queued", "running", "done", "failed", "cancelled" };

struct adm_job {
    adm_t        *a;
    char          id[24];
    int           status;      /* under jobs_mu */
    int           finished;    /* the thread has returned (join does not block) */
    int           joined;
    pthread_t     th;
    volatile sig_atomic_t stop;
    /* parameters (owned) */
    char         *params;      /* the accepted parameters, as JSON */
    char        **topics;
    size_t        ntopics;
    char        **inputs;
    size_t        ninputs;
    char         *truth;
    int64_t       to_ms;
    rpl_t        *rpl;         /* the job thread's once started */
    /* progress, under jobs_mu */
    const char   *unit;        /* "messages" (Kafka) or "bytes" (files) */
    uint64_t      done, total;
    rpl_counts_t  counts;
    double        created, started, ended;
    uint64_t      cpu_ns, slept_ns;
    /* the thread's own */
    uint64_t      last_check_ns, mark_wall_ns, mark_cpu_ns, t0_cpu_ns;
    const char   *file;
    uint64_t      fdone;
    wd_buf_t      report;      /* done or cancelled: the JSON report */
    char          err[ADM_JOB_ERR];
    struct adm_job *next;
};

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void job_free(adm_job_t *j)
{
    if (!j)
        return;
    rpl_destroy(j->rpl);
    for (size_t i = 0; i < j->ntopics; i++)
        free(j->topics[i]);
    free(j->topics);
    for (size_t i = 0; i < j->ninputs; i++)
        free(j->inputs[i]);
    free(j->inputs);
    free(j->truth);
    free(j->params);
    wd_buf_free(&j->report);
    free(j);
}

/* ---- the job thread ---------------------------------------------------------- */

/* Keeps the thread's CPU time under its share of one core: every 10 ms of
 * wall time, the CPU used since the window's mark is compared with share ×
 * wall time since the mark, and the thread sleeps off the excess (in
 * slices, so a cancel is seen within 50 ms).  The mark moves every second,
 * so an idle spell (waiting for Kafka) does not bank a burst. */
static void throttle(adm_job_t *j)
{
    uint64_t now = wd_now_ns();
    if (now - j->last_check_ns < THROTTLE_EVERY_NS)
        return;
    j->last_check_ns = now;
    adm_t *a = j->a;
    pthread_mutex_lock(&a->jobs_mu);
    unsigned running = a->jobs_running ? a->jobs_running : 1;
    pthread_mutex_unlock(&a->jobs_mu);
    double share = (double)a->replay_cpu_pct / 100.0 / running;
    uint64_t cpu = thread_cpu_ns();
    double used = (double)(cpu - j->mark_cpu_ns), wall = (double)(now - j->mark_wall_ns);
    if (used > share * wall) {
        uint64_t sleep_ns = (uint64_t)(used / share - wall);
        if (sleep_ns > THROTTLE_WINDOW_NS)
            sleep_ns = THROTTLE_WINDOW_NS;
        uint64_t until = now + sleep_ns;
        while (!j->stop) {
            uint64_t t = wd_now_ns();
            if (t >= until)
                break;
            uint64_t d = until - t < 50000000u ? until - t : 50000000u;
            struct timespec ts = { (time_t)(d / 1000000000u), (long)(d % 1000000000u) };
            nanosleep(&ts, NULL);
        }
        uint64_t after = wd_now_ns();
        j->slept_ns += after - now;
        now = after;
    }
    if (now - j->mark_wall_ns > THROTTLE_WINDOW_NS) {
        j->mark_wall_ns = now;
        j->mark_cpu_ns = thread_cpu_ns();
    }
}

static void job_progress(adm_job_t *j, uint64_t done, uint64_t total)
{
    rpl_counts_t c;
    rpl_counts(j->rpl, &c);
    pthread_mutex_lock(&j->a->jobs_mu);
    j->done = done;
    j->total = total;
    j->counts = c;
    j->cpu_ns = thread_cpu_ns() - j->t0_cpu_ns;
    pthread_mutex_unlock(&j->a->jobs_mu);
}

static int job_kafka_event(void *ud, const char *buf, size_t len, const eng_src_t *src, uint64_t done,
                           uint64_t total)
{
    adm_job_t *j = ud;
    if (rpl_feed(j->rpl, buf, len, src, j->err, sizeof j->err) != 0)
        return -1;
    if ((done & 63) == 0 || done == total)
        job_progress(j, done, total);
    throttle(j);
    return j->stop ? 1 : 0;
}

static int job_line(void *ud, const char *line, size_t len, long lineno)
{
    adm_job_t *j = ud;
    eng_src_t src = { .topic = NULL, .msg_ts_ms = INT64_MIN, .file = j->file, .line = lineno };
    if (rpl_feed(j->rpl, line, len, &src, j->err, sizeof j->err) != 0)
        return 2;
    j->fdone += len + 1;
    if ((lineno & 63) == 0)
        job_progress(j, j->fdone, j->total);
    throttle(j);
    return j->stop ? 1 : 0;
}

/* Files on the server, in order.  0, 1 stopped, -1 failed (j->err). */
static int job_files(adm_job_t *j)
{
    uint64_t total = 0;
    for (size_t i = 0; i < j->ninputs; i++) {
        struct stat sb;
        if (stat(j->inputs[i], &sb) == 0 && S_ISREG(sb.st_mode))
            total += (uint64_t)sb.st_size;
    }
    j->total = total;
    wd_buf_t in = WD_BUF_INIT;
    wd_buf_adds(&in, "{\"files\":[");
    for (size_t i = 0; i < j->ninputs; i++) {
        if (i)
            wd_buf_addc(&in, ',');
        wd_buf_json_str(&in, j->inputs[i], strlen(j->inputs[i]));
    }
    wd_buf_adds(&in, "]}");
    rpl_set_input(j->rpl, in.data);
    wd_buf_free(&in);
    for (size_t i = 0; i < j->ninputs; i++) {
        FILE *f = fopen(j->inputs[i], "r");
        if (!f) {
            snprintf(j->err, sizeof j->err, "%s: cannot open: %s", j->inputs[i], strerror(errno));
            return -1;
        }
        j->file = j->inputs[i];
        int rc = wd_jsonl_each(f, job_line, j);
        fclose(f);
        if (rc == 1)
            return 1;
        if (rc == 2)
            return -1;
        if (rc < 0) {
            snprintf(j->err, sizeof j->err, "%s: read error", j->inputs[i]);
            return -1;
        }
    }
    return 0;
}

static int job_kafka(adm_job_t *j)
{
    adm_t *a = j->a;
    char err[ADM_JOB_ERR];
    rpl_kafka_t *k = rpl_kafka_open(a->o.cfg, (const char *const *)j->topics, j->ntopics,
                                    rpl_start_ms(j->rpl), j->to_ms, a->replay_eng.ts_field, err, sizeof err);
    if (!k) {
        snprintf(j->err, sizeof j->err, "%s", err);
        return -1;
    }
    wd_buf_t in = WD_BUF_INIT;
    rpl_kafka_describe(k, &in);
    rpl_set_input(j->rpl, in.data);
    wd_buf_free(&in);
    pthread_mutex_lock(&a->jobs_mu);
    j->total = rpl_kafka_total(k);
    pthread_mutex_unlock(&a->jobs_mu);
    err[0] = '\0';
    int rc = rpl_kafka_run(k, job_kafka_event, j, &j->stop, err, sizeof err);
    if (rc < 0 && !j->err[0])
        snprintf(j->err, sizeof j->err, "%s", err);
    rpl_kafka_close(k);
    return rc;
}

static void *job_main(void *arg)
{
    adm_job_t *j = arg;
    adm_t *a = j->a;
    pthread_mutex_lock(&a->jobs_mu);
    if (j->status == JOB_QUEUED)
        j->status = JOB_RUNNING;
    j->started = adm_now_unix();
    pthread_mutex_unlock(&a->jobs_mu);
    j->t0_cpu_ns = j->mark_cpu_ns = thread_cpu_ns();
    j->mark_wall_ns = j->last_check_ns = wd_now_ns();
    LOG_INFO("replay job %s: started %s", j->id, j->params);
    int rc = 0;
    if (j->truth && rpl_truth_load(j->rpl, j->truth, j->err, sizeof j->err) != 0)
        rc = -1;
    if (rc == 0 && !j->stop)
        rc = j->ninputs ? job_files(j) : job_kafka(j);
    if (j->stop && rc == 0)
        rc = 1;
    wd_buf_t report = WD_BUF_INIT;
    if (rc >= 0) {
        if (rc == 1)
            rpl_set_partial(j->rpl);
        rpl_report_json(j->rpl, &report);
    }
    job_progress(j, rc == 0 ? j->total : j->done, j->total);
    /* The engines go now; the report and the counts stay. */
    rpl_destroy(j->rpl);
    pthread_mutex_lock(&a->jobs_mu);
    j->rpl = NULL;
    j->report = report;
    j->status = rc == 0 ? JOB_DONE : rc == 1 ? JOB_CANCELLED : JOB_FAILED;
    j->ended = adm_now_unix();
    j->finished = 1;
    a->jobs_running--;
    int st = j->status;
    pthread_mutex_unlock(&a->jobs_mu);
    if (st == JOB_FAILED)
        LOG_WARN("replay job %s: failed: %s", j->id, j->err);
    else
        LOG_INFO("replay job %s: %s events=%" PRIu64 " window=%" PRIu64 " hits=%" PRIu64 " cpu_ms=%" PRIu64
                 " slept_ms=%" PRIu64, j->id, status_name[st], j->counts.read, j->counts.window,
                 j->counts.hits_candidate, j->cpu_ns / 1000000u, j->slept_ns / 1000000u);
    return NULL;
}

/* ---- requests -------------------------------------------------------------------- */

static void err_body(wd_buf_t *out, const char *msg)
{
    wd_buf_adds(out, "{\"error\":");
    wd_buf_json_str(out, msg, strlen(msg));
    wd_buf_adds(out, "}\n");
}

/* A string list from a JSON array of strings (or a single string). */
static int str_list(json_t *v, char ***out, size_t *n, const char *key, char *msg, size_t mn)
{
    size_t cnt = json_is_string(v) ? 1 : json_is_array(v) ? json_array_size(v) : 0;
    if (!json_is_string(v) && (!json_is_array(v) || cnt == 0)) {
        snprintf(msg, mn, "\"%s\" must be a string or a non-empty array of strings", key);
        return -1;
    }
    char **l = calloc(cnt, sizeof(*l));
    if (!l) {
        snprintf(msg, mn, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < cnt; i++) {
        json_t *s = json_is_string(v) ? v : json_array_get(v, i);
        if (!json_is_string(s) || json_string_length(s) == 0 ||
            strlen(json_string_value(s)) != json_string_length(s)) {
            snprintf(msg, mn, "\"%s\"[%zu] must be a non-empty string", key, i);
            for (size_t k = 0; k < i; k++)
                free(l[k]);
            free(l);
            return -1;
        }
        if (!(l[i] = strdup(json_string_value(s)))) {
            for (size_t k = 0; k < i; k++)
                free(l[k]);
            free(l);
            snprintf(msg, mn, "out of memory");
            return -1;
        }
    }
    *out = l;
    *n = cnt;
    return 0;
}

/* A time parameter: a string as for `warden replay --from`, or epoch ms. */
static int json_time(json_t *v, int64_t now, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v))
        return rpl_parse_time(json_string_value(v), now, out);
    return -1;
}

/* A string parameter, NUL-free; NULL when absent or null.  -1 when not a string. */
static int opt_str(json_t *o, const char *key, const char **out, char *msg, size_t mn)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0 || strlen(json_string_value(v)) != json_string_length(v)) {
        snprintf(msg, mn, "\"%s\" must be a non-empty string", key);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* Parses the body into a job (its rpl loaded: a pack that fails is a 400).
 * Returns the job, or NULL with the status and the answer in out. */
static adm_job_t *job_from_body(adm_t *a, const wd_buf_t *body, int *status, wd_buf_t *out)
{
    char msg[512];
    json_error_t je;
    *status = 400;
    json_t *o = json_loadb(body->data ? body->data : "", body->len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        snprintf(msg, sizeof msg, "malformed JSON: %s (line %d)", je.text, je.line);
        err_body(out, msg);
        return NULL;
    }
    static const char *const known[] = { "rules", "baseline", "from", "to", "warmup", "truth", "topics",
                                         "input", "samples", NULL };
    const char *key;
    json_t *val;
    adm_job_t *j = NULL;
    if (!json_is_object(o)) {
        err_body(out, "body must be a JSON object (docs/operations.md: POST /replays)");
        goto fail;
    }
    json_object_foreach(o, key, val) {
        int ok = 0;
        for (size_t i = 0; known[i]; i++)
            ok |= strcmp(key, known[i]) == 0;
        if (!ok) {
            snprintf(msg, sizeof msg, "unknown parameter \"%.64s\" (rules, baseline, from, to, warmup, truth, "
                     "topics, input, samples)", key);
            err_body(out, msg);
            goto fail;
        }
    }
    if (!(j = calloc(1, sizeof(*j)))) {
        *status = 500;
        err_body(out, "out of memory");
        goto fail;
    }
    j->a = a;
    rpl_opts_t ro;
    rpl_opts_default(&ro);
    ro.eng = a->replay_eng;
    const char *rules, *baseline, *truth, *warmup;
    if (opt_str(o, "rules", &rules, msg, sizeof msg) != 0 || opt_str(o, "baseline", &baseline, msg, sizeof msg) != 0 ||
        opt_str(o, "truth", &truth, msg, sizeof msg) != 0 || opt_str(o, "warmup", &warmup, msg, sizeof msg) != 0) {
        err_body(out, msg);
        goto fail;
    }
    if (!rules && a->o.cfg)
        rules = wd_config_str(a->o.cfg, "rules");
    if (!rules || !*rules) {
        err_body(out, "\"rules\" (the candidate pack's directory) is required");
        goto fail;
    }
    ro.candidate = rules;
    ro.baseline = baseline;
    json_t *v = json_object_get(o, "input");
    if (v && str_list(v, &j->inputs, &j->ninputs, "input", msg, sizeof msg) != 0) {
        err_body(out, msg);
        goto fail;
    }
    v = json_object_get(o, "topics");
    if (v && j->ninputs) {
        err_body(out, "\"input\" (files) and \"topics\" (Kafka) are exclusive");
        goto fail;
    }
    if (v && str_list(v, &j->topics, &j->ntopics, "topics", msg, sizeof msg) != 0) {
        err_body(out, msg);
        goto fail;
    }
    if (!j->ninputs && !a->o.cfg) {
        err_body(out, "this server has no Kafka settings: give \"input\" files");
        goto fail;
    }
    if (!j->ninputs && !j->ntopics) {
        const char *const *t = NULL;
        size_t nt = a->o.cfg ? wd_config_list(a->o.cfg, "run.topics", &t) : 0;
        if (nt == 0) {
            err_body(out, "give \"topics\" or \"input\": this server has no run.topics");
            goto fail;
        }
        if (!(j->topics = calloc(nt, sizeof(char *)))) {
            *status = 500;
            err_body(out, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < nt; i++)
            if ((j->topics[j->ntopics++] = strdup(t[i])) == NULL) {
                *status = 500;
                err_body(out, "out of memory");
                goto fail;
            }
    }
    struct timespec now_ts;
    clock_gettime(CLOCK_REALTIME, &now_ts);
    int64_t now = (int64_t)now_ts.tv_sec * 1000 + now_ts.tv_nsec / 1000000;
    v = json_object_get(o, "from");
    if (v && json_time(v, now, &ro.from_ms) != 0) {
        err_body(out, "\"from\": not RFC 3339, epoch ms, \"now\" or \"-DURATION\"");
        goto fail;
    }
    if (!v && !j->ninputs) {
        err_body(out, "\"from\" is required for a Kafka window (RFC 3339, epoch ms, \"-24h\")");
        goto fail;
    }
    v = json_object_get(o, "to");
    if (v && json_time(v, now, &ro.to_ms) != 0) {
        err_body(out, "\"to\": not RFC 3339, epoch ms, \"now\" or \"-DURATION\"");
        goto fail;
    }
    if (!v && !j->ninputs)
        ro.to_ms = now;
    if (ro.from_ms != RPL_UNBOUNDED_FROM && ro.to_ms != RPL_UNBOUNDED_TO && ro.from_ms >= ro.to_ms) {
        err_body(out, "\"from\" must be before \"to\"");
        goto fail;
    }
    if (warmup && rpl_parse_warmup(warmup, &ro.warmup_ms) != 0) {
        err_body(out, "\"warmup\": not a duration (\"0\", \"30m\", \"7d\" …)");
        goto fail;
    }
    v = json_object_get(o, "samples");
    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 100000) {
            err_body(out, "\"samples\" must be an integer in 1..100000");
            goto fail;
        }
        ro.samples = (size_t)json_integer_value(v);
    }
    if (truth && !(j->truth = strdup(truth))) {
        *status = 500;
        err_body(out, "out of memory");
        goto fail;
    }
    j->to_ms = ro.to_ms;
    /* Both packs load here, so a pack that fails is answered at once. */
    char *lerr = malloc(65536);
    if (!lerr) {
        *status = 500;
        err_body(out, "out of memory");
        goto fail;
    }
    j->rpl = rpl_new(&ro, lerr, 65536);
    if (!j->rpl) {
        wd_buf_adds(out, "{\"error\":\"a rule pack failed to load\",\"errors\":[");
        size_t n = 0;
        for (char *line = lerr, *nl; line && *line; line = nl ? nl + 1 : NULL) {
            nl = strchr(line, '\n');
            size_t len = nl ? (size_t)(nl - line) : strlen(line);
            if (len == 0)
                continue;
            if (n++)
                wd_buf_addc(out, ',');
            wd_buf_json_str(out, line, len);
        }
        wd_buf_adds(out, "]}\n");
        free(lerr);
        goto fail;
    }
    free(lerr);
    /* What was accepted, with the defaults filled in. */
    wd_buf_t p = WD_BUF_INIT;
    wd_buf_adds(&p, "{\"rules\":");
    wd_buf_json_str(&p, rules, strlen(rules));
    wd_buf_adds(&p, ",\"baseline\":");
    if (baseline)
        wd_buf_json_str(&p, baseline, strlen(baseline));
    else
        wd_buf_adds(&p, "null");
    wd_buf_printf(&p, ",\"from_ms\":%" PRId64 ",\"to_ms\":%" PRId64 ",\"warmup_ms\":%" PRId64,
                  ro.from_ms == RPL_UNBOUNDED_FROM ? -1 : ro.from_ms, ro.to_ms == RPL_UNBOUNDED_TO ? -1 : ro.to_ms,
                  rpl_warmup_ms(j->rpl));
    wd_buf_adds(&p, j->ninputs ? ",\"input\":[" : ",\"topics\":[");
    for (size_t i = 0; i < (j->ninputs ? j->ninputs : j->ntopics); i++) {
        const char *s = j->ninputs ? j->inputs[i] : j->topics[i];
        if (i)
            wd_buf_addc(&p, ',');
        wd_buf_json_str(&p, s, strlen(s));
    }
    wd_buf_adds(&p, "],\"truth\":");
    if (truth)
        wd_buf_json_str(&p, truth, strlen(truth));
    else
        wd_buf_adds(&p, "null");
    wd_buf_addc(&p, '}');
    j->params = p.data;   /* owned now */
    j->unit = j->ninputs ? "bytes" : "messages";
    json_decref(o);
    *status = 0;
    return j;
fail:
    json_decref(o);
    job_free(j);
    return NULL;
}

/* One job as JSON (under jobs_mu).  full: with its report and parameters. */
static void job_json(const adm_job_t *j, wd_buf_t *b, int full)
{
    wd_buf_adds(b, "{\"id\":");
    wd_buf_json_str(b, j->id, strlen(j->id));
    wd_buf_printf(b, ",\"status\":\"%s\",\"progress\":{\"unit\":\"%s\",\"done\":%" PRIu64 ",\"total\":%" PRIu64
                  ",\"fraction\":%.4f,\"events_read\":%" PRIu64 ",\"in_window\":%" PRIu64
                  ",\"hits_candidate\":%" PRIu64 ",\"hits_baseline\":%" PRIu64 "}",
                  status_name[j->status], j->unit, j->done, j->total,
                  j->total ? (double)(j->done < j->total ? j->done : j->total) / (double)j->total
                           : (j->status == JOB_DONE ? 1.0 : 0.0),
                  j->counts.read, j->counts.window, j->counts.hits_candidate, j->counts.hits_baseline);
    wd_buf_printf(b, ",\"created\":%.3f,\"started\":%.3f,\"finished\":%.3f,\"cpu_seconds\":%.3f,"
                  "\"throttled_seconds\":%.3f",
                  j->created, j->started, j->ended, (double)j->cpu_ns / 1e9, (double)j->slept_ns / 1e9);
    if (full) {
        wd_buf_printf(b, ",\"params\":%s", j->params);
        if (j->finished && j->status == JOB_FAILED) {
            wd_buf_adds(b, ",\"error\":");
            wd_buf_json_str(b, j->err, strlen(j->err));
        }
        if (j->finished && j->report.len) {
            wd_buf_adds(b, ",\"report\":");
            wd_buf_add(b, j->report.data, j->report.len);
            while (b->len && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == ' '))
                b->len--;
        }
    }
    wd_buf_addc(b, '}');
}

static adm_job_t **job_find(adm_t *a, const char *id)
{
    for (adm_job_t **p = &a->jobs; *p; p = &(*p)->next)
        if (strcmp((*p)->id, id) == 0)
            return p;
    return NULL;
}

/* Unlinks and frees finished jobs past the ADM_JOBS_KEPT newest (under
 * jobs_mu; their threads have returned, so the join is immediate). */
static void jobs_trim(adm_t *a)
{
    size_t kept = 0;
    for (adm_job_t **p = &a->jobs; *p;) {
        adm_job_t *j = *p;
        if (j->finished && ++kept > ADM_JOBS_KEPT) {
            *p = j->next;
            pthread_join(j->th, NULL);
            job_free(j);
            continue;
        }
        p = &j->next;
    }
}

static int replays_post(adm_t *a, const wd_buf_t *body, const char *token_id, wd_buf_t *out)
{
    int status;
    pthread_mutex_lock(&a->jobs_mu);
    unsigned running = a->jobs_running;
    pthread_mutex_unlock(&a->jobs_mu);
    if (running >= a->replay_jobs_max) {
        char msg[160];
        snprintf(msg, sizeof msg, "%u replay jobs are running (admin.replay_jobs_max = %u): cancel one or wait",
                 running, a->replay_jobs_max);
        err_body(out, msg);
        adm_audit(a, token_id, "replay start", NULL, NULL, NULL, msg, 429);
        return 429;
    }
    adm_job_t *j = job_from_body(a, body, &status, out);
    if (!j) {
        json_t *e = json_loadb(out->data ? out->data : "", out->len, 0, NULL);
        const char *msg = e ? json_string_value(json_object_get(e, "error")) : NULL;
        adm_audit(a, token_id, "replay start", NULL, NULL, NULL, msg ? msg : "refused", status);
        json_decref(e);
        return status;
    }
    pthread_mutex_lock(&a->jobs_mu);
    /* Counted again under the lock: two POSTs may have raced past the check. */
    if (a->jobs_running >= a->replay_jobs_max) {
        pthread_mutex_unlock(&a->jobs_mu);
        job_free(j);
        wd_buf_reset(out);
        err_body(out, "too many replay jobs are running (admin.replay_jobs_max)");
        adm_audit(a, token_id, "replay start", NULL, NULL, NULL, "too many jobs", 429);
        return 429;
    }
    snprintf(j->id, sizeof j->id, "r%lu", ++a->jobs_seq);
    j->created = adm_now_unix();
    j->status = JOB_QUEUED;
    if (pthread_create(&j->th, NULL, job_main, j) != 0) {
        pthread_mutex_unlock(&a->jobs_mu);
        job_free(j);
        err_body(out, "cannot start a thread for the job");
        adm_audit(a, token_id, "replay start", NULL, NULL, NULL, "no thread", 500);
        return 500;
    }
    a->jobs_running++;
    j->next = a->jobs;
    a->jobs = j;
    job_json(j, out, 1);
    wd_buf_addc(out, '\n');
    jobs_trim(a);
    char id[24];
    snprintf(id, sizeof id, "%s", j->id);
    pthread_mutex_unlock(&a->jobs_mu);
    adm_audit(a, token_id, "replay start", NULL, NULL, id, "ok", 202);
    return 202;
}

static int replays_delete(adm_t *a, const char *id, const char *token_id, wd_buf_t *out)
{
    pthread_mutex_lock(&a->jobs_mu);
    adm_job_t **p = job_find(a, id);
    if (!p) {
        pthread_mutex_unlock(&a->jobs_mu);
        err_body(out, "unknown replay job");
        adm_audit(a, token_id, "replay cancel", NULL, NULL, id, "unknown replay job", 404);
        return 404;
    }
    adm_job_t *j = *p;
    if (!j->finished && j->status != JOB_CANCELLED) {
        /* Running: stop after the event in progress; the partial report
         * stays readable until the job is deleted again. */
        const char *before = status_name[j->status];
        j->stop = 1;
        j->status = JOB_CANCELLED;
        job_json(j, out, 0);
        wd_buf_addc(out, '\n');
        pthread_mutex_unlock(&a->jobs_mu);
        adm_audit(a, token_id, "replay cancel", NULL, before, id, "cancelled", 200);
        return 200;
    }
    if (!j->finished) {
        pthread_mutex_unlock(&a->jobs_mu);
        err_body(out, "the job is stopping (cancelled); delete it again once it has stopped");
        adm_audit(a, token_id, "replay forget", NULL, "cancelled", id, "still stopping", 409);
        return 409;
    }
    *p = j->next;
    const char *before = status_name[j->status];
    pthread_mutex_unlock(&a->jobs_mu);
    pthread_join(j->th, NULL);
    wd_buf_adds(out, "{\"id\":");
    wd_buf_json_str(out, id, strlen(id));
    wd_buf_adds(out, ",\"deleted\":true}\n");
    adm_audit(a, token_id, "replay forget", NULL, before, id, "deleted", 200);
    job_free(j);
    return 200;
}

int adm_replays_handle(adm_t *a, const char *method, const char *url, const wd_buf_t *body,
                       const char *token_id, wd_buf_t *out, const char **allow)
{
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    *allow = NULL;
    if (strcmp(url, "/replays") == 0) {
        if (strcmp(method, "POST") == 0)
            return replays_post(a, body, token_id, out);
        if (!get) {
            *allow = "GET, POST";
            err_body(out, "method not allowed");
            return 405;
        }
        pthread_mutex_lock(&a->jobs_mu);
        wd_buf_printf(out, "{\"running\":%u,\"max\":%u,\"cpu_pct\":%u,\"jobs\":[", a->jobs_running,
                      a->replay_jobs_max, a->replay_cpu_pct);
        for (adm_job_t *j = a->jobs; j; j = j->next) {
            if (j != a->jobs)
                wd_buf_addc(out, ',');
            job_json(j, out, 0);
        }
        pthread_mutex_unlock(&a->jobs_mu);
        wd_buf_adds(out, "]}\n");
        return 200;
    }
    const char *id = url + 9;   /* after "/replays/" */
    if (!*id || strlen(id) >= sizeof(((adm_job_t *)0)->id) || strchr(id, '/')) {
        err_body(out, "unknown replay job");
        return 404;
    }
    if (strcmp(method, "DELETE") == 0)
        return replays_delete(a, id, token_id, out);
    if (!get) {
        *allow = "GET, DELETE";
        err_body(out, "method not allowed");
        return 405;
    }
    pthread_mutex_lock(&a->jobs_mu);
    adm_job_t **p = job_find(a, id);
    if (p) {
        job_json(*p, out, 1);
        wd_buf_addc(out, '\n');
    }
    pthread_mutex_unlock(&a->jobs_mu);
    if (!p) {
        err_body(out, "unknown replay job");
        return 404;
    }
    return 200;
}

void adm_replays_stop(adm_t *a)
{
    pthread_mutex_lock(&a->jobs_mu);
    for (adm_job_t *j = a->jobs; j; j = j->next)
        j->stop = 1;
    adm_job_t *l = a->jobs;
    a->jobs = NULL;
    pthread_mutex_unlock(&a->jobs_mu);
    while (l) {
        adm_job_t *next = l->next;
        pthread_join(l->th, NULL);
        job_free(l);
        l = next;
    }
}
