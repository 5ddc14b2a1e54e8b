/* admin/adm_http.c — the libmicrohttpd server: a thread per connection (at
 * most 64), so a change waiting for the loop never holds up a scrape.  Reads (/healthz, /readyz, /metrics, /rules) are
 * formatted from what the loop thread published, under the mutex; changes
 * (reload, mode) are queued for the loop thread, which applies them between
 * batches and answers (the HTTP thread waits for it, at most 30 s). */
#include "admin/adm_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/wd_config.h"
#include "base/wd_log.h"
#include "base/wd_util.h"
#include "rules/rule_counters.h"
#include "rules/rule_types.h"

#define ADM_BODY_MAX (64 * 1024)
#define ADM_WAIT_S   30

int adm_token_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    /* Walk the longer length whatever the contents; a length difference
     * folds into the same accumulator. */
    size_t n = alen > blen ? alen : blen;
    volatile unsigned char acc = (unsigned char)(alen != blen);
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < alen ? (unsigned char)a[i] : 0;
        unsigned char y = i < blen ? (unsigned char)b[i] : 0;
        acc |= (unsigned char)(x ^ y);
    }
    return acc == 0;
}

/* ---- options --------------------------------------------------------------- */

static int read_token_file(const char *path, char *tok, size_t n, char *errstr, size_t en)
{
    char *data = NULL;
    size_t len = 0;
    if (wd_read_file(path, &data, &len, errstr, en) != 0)
        return -1;
    while (len && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' '))
        len--;
    if (len == 0 || len >= n) {
        snprintf(errstr, en, "admin.token_file %s: %s", path, len ? "token too long" : "empty");
        free(data);
        return -1;
    }
    memcpy(tok, data, len);
    tok[len] = '\0';
    free(data);
    return 0;
}

int adm_opts_from_config(const wd_config_t *cfg, adm_opts_t *o, char *tok, size_t toksize,
                         char *errstr, size_t errstr_size)
{
    memset(o, 0, sizeof(*o));
    o->listen = wd_config_str(cfg, "admin.listen");
    o->open_health = wd_config_bool(cfg, "admin.open_health");
    o->audit_path = wd_config_str(cfg, "admin.audit_file");
    o->overrides_topic = wd_config_str(cfg, "admin.overrides_topic");
    o->cfg = cfg;
    o->create_topic = wd_config_bool(cfg, "run.create_topics");
    o->breaker.actions_per_min = wd_config_int(cfg, "admin.breaker_actions_per_min");
    o->breaker.hit_multiple = (double)wd_config_int(cfg, "admin.breaker_hit_multiple");
    o->breaker.error_rate = (double)wd_config_int(cfg, "admin.breaker_error_pct") / 100.0;
    o->breaker.mean_us = (double)wd_config_int(cfg, "admin.breaker_mean_us");
    o->breaker.min_evals = wd_config_int(cfg, "admin.breaker_min_evals");
    o->store_url = wd_config_str(cfg, "store");
    o->rules_dir = wd_config_str(cfg, "rules");
    o->replay_jobs_max = (unsigned)wd_config_int(cfg, "admin.replay_jobs_max");
    o->replay_cpu_pct = (unsigned)wd_config_int(cfg, "admin.replay_cpu_pct");
    const char *tf = wd_config_str(cfg, "admin.token_file");
    const char *env = getenv("WARDEN_ADMIN_TOKEN");
    tok[0] = '\0';
    if (tf && *tf) {
        if (read_token_file(tf, tok, toksize, errstr, errstr_size) != 0)
            return -1;
    } else if (env && *env) {
        if (strlen(env) >= toksize) {
            snprintf(errstr, errstr_size, "WARDEN_ADMIN_TOKEN: too long");
            return -1;
        }
        snprintf(tok, toksize, "%s", env);
    }
    o->token = tok[0] ? tok : NULL;
    return 0;
}

/* ---- answers --------------------------------------------------------------- */

static enum MHD_Result answer(struct MHD_Connection *c, int status, const char *ctype,
                              const char *body, size_t len, const char *allow)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (allow)
        MHD_add_response_header(r, "Allow", allow);
    if (status == 401)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result json_answer(struct MHD_Connection *c, int status, const wd_buf_t *b)
{
    return answer(c, status, "application/json", b->data ? b->data : "{}", b->data ? b->len : 2, NULL);
}

static enum MHD_Result error_answer(struct MHD_Connection *c, int status, const char *msg, const char *allow)
{
    wd_buf_t b = WD_BUF_INIT;
    wd_buf_adds(&b, "{\"error\":");
    wd_buf_json_str(&b, msg, strlen(msg));
    wd_buf_adds(&b, "}\n");
    enum MHD_Result rc = answer(c, status, "application/json", b.data, b.len, allow);
    wd_buf_free(&b);
    return rc;
}

/* ---- the request queue ------------------------------------------------------ */

/* HTTP thread, a->mu held: queues r and waits for the loop thread; unlocks.
 * 0: answered (r->status, r->body; the caller frees r), -1: no answer
 * within ADM_WAIT_S (r is the loop thread's to free). */
static int queue_wait_locked(adm_t *a, adm_req_t *r)
{
    *a->qtail = r;
    a->qtail = &r->next;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ADM_WAIT_S;
    while (!r->done) {
        if (pthread_cond_timedwait(&a->cv, &a->mu, &until) == ETIMEDOUT)
            break;
    }
    if (!r->done) {
        r->abandoned = 1;   /* the loop thread frees it */
        pthread_mutex_unlock(&a->mu);
        return -1;
    }
    pthread_mutex_unlock(&a->mu);
    return 0;
}

/* HTTP thread: queues r and waits for the loop thread's answer. */
static enum MHD_Result submit(adm_t *a, struct MHD_Connection *c, adm_req_t *r)
{
    pthread_mutex_lock(&a->mu);
    if (r->kind == ADM_REQ_RELOAD) {
        if (a->reload_pending) {
            pthread_mutex_unlock(&a->mu);
            free(r->rule);
            free(r);
            return error_answer(c, 409, "a reload is already running", NULL);
        }
        a->reload_pending = 1;
    }
    if (queue_wait_locked(a, r) != 0)
        return error_answer(c, 503, "the service loop did not answer within 30 s (busy or stopping)", NULL);
    enum MHD_Result rc = json_answer(c, r->status, &r->body);
    adm_req_free(r);
    return rc;
}

void adm_poll(adm_t *a, const adm_host_t *h)
{
    eng_engine_t *e = h->engine(h->ud);
    adm_account(a, e);
    if (a->ovrt)
        adm_ovr_follow(a, a->ovrt, h->engine(h->ud));
    pthread_mutex_lock(&a->mu);
    a->events = h->events;
    adm_req_t *q = a->q;
    a->q = NULL;
    a->qtail = &a->q;
    pthread_mutex_unlock(&a->mu);
    while (q) {
        adm_req_t *next = q->next;
        adm_apply_req(a, h, q);
        pthread_mutex_lock(&a->mu);
        if (q->kind == ADM_REQ_RELOAD)
            a->reload_pending = 0;
        if (q->abandoned) {
            adm_req_free(q);
        } else {
            q->done = 1;
        }
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
        q = next;
    }
    adm_breaker_check(a, h->engine(h->ud), h);
    adm_audit_drain(a, h);
}

/* ---- routing ----------------------------------------------------------------- */

typedef struct conn {
    wd_buf_t body;
    int      too_big;
} conn_t;

static int authorized(adm_t *a, struct MHD_Connection *c)
{
    if (!a->token)
        return 0;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) != 0)
        return 0;
    h += 7;
    return adm_token_equal(h, strlen(h), a->token, strlen(a->token));
}

/* The bearer's token id for the audit log: never the token itself. */
static void caller_id(struct MHD_Connection *c, char out[32])
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) != 0) {
        snprintf(out, 32, "none");
        return;
    }
    adm_token_id(h + 7, out);
}

static enum MHD_Result unauthorized(adm_t *a, struct MHD_Connection *c, const char *method, const char *url)
{
    char id[32];
    caller_id(c, id);
    int audit = strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
    const char *msg = !a->token ? "no admin token is configured (WARDEN_ADMIN_TOKEN or admin.token_file)"
                      : strcmp(id, "none") == 0 ? "missing bearer token (Authorization: Bearer TOKEN)"
                                                : "wrong token";
    if (audit) {
        char action[160];
        snprintf(action, sizeof action, "%s %s", method, url);
        adm_audit(a, id, action, NULL, NULL, NULL, "unauthorized", 401);
    }
    return error_answer(c, 401, msg, NULL);
}

/* Parses {"mode": "shadow"|"enforce"|"off"} → the mode, or -1 with msg. */
static int parse_mode_body(const wd_buf_t *b, char *msg, size_t n)
{
    json_error_t je;
    json_t *j = json_loadb(b->data ? b->data : "", b->len, 0, &je);
    if (!j) {
        snprintf(msg, n, "malformed JSON: %s (line %d)", je.text, je.line);
        return -1;
    }
    json_t *m = json_is_object(j) ? json_object_get(j, "mode") : NULL;
    int mode = -1;
    if (!json_is_string(m))
        snprintf(msg, n, "body must be {\"mode\": \"shadow\"|\"enforce\"|\"off\"}");
    else if (strcmp(json_string_value(m), "shadow") == 0)
        mode = RULE_MODE_SHADOW;
    else if (strcmp(json_string_value(m), "enforce") == 0)
        mode = RULE_MODE_ENFORCE;
    else if (strcmp(json_string_value(m), "off") == 0)
        mode = RULE_MODE_OFF;
    else
        snprintf(msg, n, "bad mode \"%.40s\": shadow, enforce or off", json_string_value(m));
    json_decref(j);
    return mode;
}

/* GET /entities/{type}/{id}[?since=TIME&run_id=ID]: the investigation of
 * one entity (adm_entity.c).  Blocks this request on the store. */
static enum MHD_Result entity_answer(adm_t *a, struct MHD_Connection *c, const char *rest, int get)
{
    if (!get)
        return error_answer(c, 405, "method not allowed", "GET");
    const char *slash = strchr(rest, '/');
    if (!slash || slash == rest || !slash[1])
        return error_answer(c, 404, "want /entities/{type}/{id}", NULL);
    char type[RULE_MAX_ENTITY_TYPE_LEN + 1];
    size_t tl = (size_t)(slash - rest);
    if (!rule_entity_type_valid(rest, tl))
        return error_answer(c, 400, "the type is not an entity type ([a-z][a-z0-9_]*, at most 32 bytes)", NULL);
    memcpy(type, rest, tl);
    type[tl] = '\0';
    if (strlen(slash + 1) > RULE_MAX_ENTITY_LEN)
        return error_answer(c, 400, "the entity is longer than 1024 bytes", NULL);
    if (!a->o.store_url || strncmp(a->o.store_url, "mysql://", 8) != 0)
        return error_answer(c, 501, "this service has no MySQL-protocol results store to read "
                            "(store = mysql://…)", NULL);
    const char *since = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since");
    const char *run_id = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "run_id");
    int64_t since_ms = INT64_MIN;
    if (since && wd_parse_rfc3339(since, strlen(since), &since_ms) != 0)
        return error_answer(c, 400, "since is not RFC 3339", NULL);
    const char *at = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "at");
    int64_t at_ms = INT64_MIN;
    if (at && wd_parse_rfc3339(at, strlen(at), &at_ms) != 0)
        return error_answer(c, 400, "at is not RFC 3339", NULL);
    /* The manual labels and deletions: the loop thread's overlay. */
    adm_req_t *r = calloc(1, sizeof(*r));
    if (!r || !(r->value = strdup(slash + 1))) {
        free(r);
        return error_answer(c, 500, "out of memory", NULL);
    }
    r->kind = ADM_REQ_CONTROL;
    r->ctl_op = ADM_CTL_ENTITY_LABELS;
    r->value_len = strlen(r->value);
    pthread_mutex_lock(&a->mu);
    if (queue_wait_locked(a, r) != 0)
        return error_answer(c, 503, "the service loop did not answer within 30 s (busy or stopping)", NULL);
    const char *ctl = r->body.data && strcmp(r->body.data, "null") != 0 ? r->body.data : NULL;
    const char *live = a->o.cfg ? wd_config_str(a->o.cfg, "run.run_id") : NULL;
    adm_entity_query_t q = { a->o.store_url, a->o.rules_dir, type, slash + 1, since_ms, run_id,
                             run_id ? run_id : live, ctl, at_ms,
                             a->o.cfg ? wd_config_path(a->o.cfg) : NULL };
    char err[1024];
    json_t *j = adm_entity_json(&q, err, sizeof err);
    adm_req_free(r);
    if (!j)
        return error_answer(c, 503, err, NULL);
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (!s)
        return error_answer(c, 500, "out of memory", NULL);
    wd_buf_t b = WD_BUF_INIT;
    wd_buf_adds(&b, s);
    wd_buf_addc(&b, '\n');
    free(s);
    enum MHD_Result rc = json_answer(c, 200, &b);
    wd_buf_free(&b);
    return rc;
}

/* The body of PUT /labels: {"ttl": "1d", "reason": "..."} (both required);
 * of PUT/DELETE /lists and DELETE /labels: {"reason": "..."} or empty.
 * 0, or -1 with msg. */
static int parse_control_body(const wd_buf_t *b, int need_ttl, int need_reason, char **ttl, char **reason,
                              char *msg, size_t n)
{
    *ttl = *reason = NULL;
    if (b->len == 0 && !need_ttl && !need_reason)
        return 0;
    json_error_t je;
    json_t *j = json_loadb(b->data ? b->data : "", b->len, 0, &je);
    if (!j || !json_is_object(j)) {
        if (j)
            snprintf(msg, n, "body must be a JSON object");
        else
            snprintf(msg, n, "malformed JSON: %s (line %d)", je.text, je.line);
        json_decref(j);
        return -1;
    }
    json_t *t = json_object_get(j, "ttl"), *r = json_object_get(j, "reason");
    int64_t ms;
    int rc = -1;
    if (need_ttl && (!json_is_string(t) || rule_parse_duration(json_string_value(t), &ms) != 0))
        snprintf(msg, n, "\"ttl\" is required: a duration such as \"30m\", \"1d\" or \"2w\"");
    else if (need_reason && (!json_is_string(r) || json_string_length(r) == 0))
        snprintf(msg, n, "\"reason\" is required (a non-empty string)");
    else if (r && !json_is_null(r) && !json_is_string(r))
        snprintf(msg, n, "\"reason\" must be a string");
    else if (json_is_string(r) && json_string_length(r) > 1024)
        snprintf(msg, n, "\"reason\" is 1024 bytes at most");
    else
        rc = 0;
    if (rc == 0) {
        *ttl = need_ttl ? strdup(json_string_value(t)) : NULL;
        *reason = json_is_string(r) ? strdup(json_string_value(r)) : NULL;
    }
    json_decref(j);
    return rc;
}

/* /lists, /lists/NAME, /lists/NAME/VALUE (VALUE: the rest of the path),
 * /labels/TYPE/ID/LABEL (ID: what lies between).  Everything needs the
 * token; the loop thread answers (adm_lists.c). */
static enum MHD_Result control_route(adm_t *a, struct MHD_Connection *c, const char *url, const char *method,
                                     conn_t *cn)
{
    if (!authorized(a, c))
        return unauthorized(a, c, method, url);
    if (cn->too_big)
        return error_answer(c, 413, "request body too large (64 KiB at most)", NULL);
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int put = strcmp(method, "PUT") == 0, del = strcmp(method, "DELETE") == 0;
    adm_req_t *r = calloc(1, sizeof(*r));
    if (!r)
        return error_answer(c, 500, "out of memory", NULL);
    r->kind = ADM_REQ_CONTROL;
    caller_id(c, r->token_id);
    const char *allow = NULL, *bad = NULL;
    int labels = strncmp(url, "/labels/", 8) == 0;
    if (!labels) {
        const char *name = url[6] == '/' ? url + 7 : NULL;
        const char *slash = name ? strchr(name, '/') : NULL;
        if (!name) {
            r->ctl_op = ADM_CTL_LISTS;
            allow = get ? NULL : "GET";
        } else if (!slash) {
            r->ctl_op = ADM_CTL_LIST;
            r->name = strdup(name);
            allow = get ? NULL : "GET";
            bad = *name ? NULL : "no list name";
        } else {
            r->ctl_op = put ? ADM_CTL_LIST_PUT : ADM_CTL_LIST_DEL;
            r->name = strndup(name, (size_t)(slash - name));
            r->value_len = strlen(slash + 1);
            r->value = strdup(slash + 1);
            allow = put || del ? NULL : "PUT, DELETE";
            bad = slash == name ? "no list name" : r->value_len == 0 ? "no value" : NULL;
        }
    } else {
        const char *type = url + 8, *s1 = strchr(type, '/'), *s2 = strrchr(type, '/');
        r->ctl_op = put ? ADM_CTL_LABEL_PUT : ADM_CTL_LABEL_DEL;
        allow = put || del ? NULL : "PUT, DELETE";
        if (!s1 || s1 == s2 || s1 == type || s2 == s1 + 1 || !s2[1]) {
            bad = "the path must be /labels/TYPE/ID/LABEL";
        } else {
            r->name = strndup(type, (size_t)(s1 - type));
            r->value_len = (size_t)(s2 - s1 - 1);
            r->value = strndup(s1 + 1, r->value_len);
            r->label = strdup(s2 + 1);
            if (r->label && (strlen(r->label) > RULE_MAX_NAME_LEN || (unsigned char)r->label[0] < 0x20))
                bad = "label must be 1 to 128 printable bytes";
        }
    }
    if (allow) {
        adm_req_free(r);
        return error_answer(c, 405, "method not allowed", allow);
    }
    if ((r->ctl_op != ADM_CTL_LISTS && !bad && !r->name) || (r->ctl_op >= ADM_CTL_LIST_PUT && !bad && !r->value) ||
        (labels && !bad && !r->label)) {
        adm_req_free(r);
        return error_answer(c, 500, "out of memory", NULL);
    }
    char msg[256];
    if (!bad && (put || del) &&
        parse_control_body(&cn->body, r->ctl_op == ADM_CTL_LABEL_PUT, labels && put, &r->ttl, &r->reason, msg,
                           sizeof msg) != 0)
        bad = msg;
    if (bad) {
        if (put || del) {
            char action[32];
            snprintf(action, sizeof action, "%s.%s", labels ? "label" : "list", put ? "put" : "delete");
            char cut[129];
            snprintf(cut, sizeof cut, "%s", url);
            adm_audit(a, r->token_id, action, cut, NULL, NULL, bad, 400);
        }
        adm_req_free(r);
        return error_answer(c, 400, bad, NULL);
    }
    return submit(a, c, r);
}

static enum MHD_Result route(adm_t *a, struct MHD_Connection *c, const char *url, const char *method,
                             conn_t *cn)
{
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int health = strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0 || strcmp(url, "/metrics") == 0;
    if (health) {
        if (!get)
            return error_answer(c, 405, "method not allowed", "GET");
        if (!a->o.open_health && !authorized(a, c))
            return unauthorized(a, c, method, url);
        wd_buf_t b = WD_BUF_INIT;
        int status = 200;
        pthread_mutex_lock(&a->mu);
        if (strcmp(url, "/healthz") == 0) {
            wd_buf_adds(&b, "{\"status\":\"ok\"}\n");
        } else if (strcmp(url, "/readyz") == 0) {
            const char *why = NULL;
            if (!a->have_stats || a->rs.kfk.partitions == 0)
                why = "no partitions assigned yet (joining the group or restoring state)";
            else if (a->has_store && !a->store_ok)
                why = "the results store is unreachable";
            if (why) {
                status = 503;
                wd_buf_adds(&b, "{\"ready\":false,\"error\":");
                wd_buf_json_str(&b, why, strlen(why));
                if (a->has_store && !a->store_ok && a->store_err[0]) {
                    wd_buf_adds(&b, ",\"store_error\":");
                    wd_buf_json_str(&b, a->store_err, strlen(a->store_err));
                }
                wd_buf_adds(&b, "}\n");
            } else {
                wd_buf_printf(&b, "{\"ready\":true,\"partitions\":%llu}\n",
                              (unsigned long long)a->rs.kfk.partitions);
            }
        } else {
            adm_metrics_text(a, &b);
        }
        pthread_mutex_unlock(&a->mu);
        enum MHD_Result rc = answer(c, status, strcmp(url, "/metrics") == 0
                                                   ? "text/plain; version=0.0.4; charset=utf-8"
                                                   : "application/json",
                                    b.data ? b.data : "", b.len, NULL);
        wd_buf_free(&b);
        return rc;
    }
    if (strcmp(url, "/lists") == 0 || strncmp(url, "/lists/", 7) == 0 || strncmp(url, "/labels/", 8) == 0)
        return control_route(a, c, url, method, cn);
    /* Everything else needs the token. */
    int known = strcmp(url, "/rules") == 0 || strncmp(url, "/rules/", 7) == 0 ||
                strcmp(url, "/replays") == 0 || strncmp(url, "/replays/", 9) == 0 ||
                strncmp(url, "/entities/", 10) == 0;
    if (!known)
        return error_answer(c, 404, "no such endpoint", NULL);
    if (!authorized(a, c))
        return unauthorized(a, c, method, url);
    if (cn->too_big)
        return error_answer(c, 413, "request body too large (64 KiB at most)", NULL);
    if (strcmp(url, "/replays") == 0 || strncmp(url, "/replays/", 9) == 0) {
        char id[32];
        caller_id(c, id);
        wd_buf_t b = WD_BUF_INIT;
        const char *allow = NULL;
        int st = adm_replays_handle(a, method, url, &cn->body, id, &b, &allow);
        enum MHD_Result rc = answer(c, st, "application/json", b.data ? b.data : "", b.len, allow);
        wd_buf_free(&b);
        return rc;
    }
    if (strncmp(url, "/entities/", 10) == 0)
        return entity_answer(a, c, url + 10, get);
    if (strcmp(url, "/rules") == 0) {
        if (!get)
            return error_answer(c, 405, "method not allowed", "GET");
        wd_buf_t b = WD_BUF_INIT;
        pthread_mutex_lock(&a->mu);
        adm_rules_json(a, &b);
        pthread_mutex_unlock(&a->mu);
        enum MHD_Result rc = json_answer(c, 200, &b);
        wd_buf_free(&b);
        return rc;
    }
    if (strcmp(url, "/rules/reload") == 0) {
        if (strcmp(method, "POST") != 0)
            return error_answer(c, 405, "method not allowed", "POST");
        adm_req_t *r = calloc(1, sizeof(*r));
        if (!r)
            return error_answer(c, 500, "out of memory", NULL);
        r->kind = ADM_REQ_RELOAD;
        caller_id(c, r->token_id);
        return submit(a, c, r);
    }
    const char *name = url + 7;
    const char *slash = strchr(name, '/');
    size_t nlen = slash ? (size_t)(slash - name) : strlen(name);
    if (nlen == 0 || nlen > RULE_MAX_NAME_LEN)
        return error_answer(c, 404, "unknown rule", NULL);
    char rule[RULE_MAX_NAME_LEN + 1];
    memcpy(rule, name, nlen);
    rule[nlen] = '\0';
    if (!slash) {
        if (!get)
            return error_answer(c, 405, "method not allowed", "GET");
        wd_buf_t b = WD_BUF_INIT;
        pthread_mutex_lock(&a->mu);
        int rc = adm_rule_json(a, rule, &b);
        pthread_mutex_unlock(&a->mu);
        enum MHD_Result mrc = rc == 0 ? json_answer(c, 200, &b) : error_answer(c, 404, "unknown rule", NULL);
        wd_buf_free(&b);
        return mrc;
    }
    if (strcmp(slash, "/mode") != 0)
        return error_answer(c, 404, "no such endpoint", NULL);
    int put = strcmp(method, "PUT") == 0, del = strcmp(method, "DELETE") == 0;
    if (!put && !del)
        return error_answer(c, 405, "method not allowed", "PUT, DELETE");
    int mode = -1;
    if (put) {
        char msg[256];
        if ((mode = parse_mode_body(&cn->body, msg, sizeof msg)) < 0) {
            char id[32];
            caller_id(c, id);
            adm_audit(a, id, "mode", rule, NULL, NULL, msg, 400);
            return error_answer(c, 400, msg, NULL);
        }
    }
    adm_req_t *r = calloc(1, sizeof(*r));
    if (!r || !(r->rule = strdup(rule))) {
        free(r);
        return error_answer(c, 500, "out of memory", NULL);
    }
    r->kind = put ? ADM_REQ_MODE : ADM_REQ_MODE_CLEAR;
    r->mode = mode;
    caller_id(c, r->token_id);
    return submit(a, c, r);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    adm_t *a = cls;
    conn_t *cn = *con_cls;
    if (!cn) {
        if (!(cn = calloc(1, sizeof(*cn))))
            return MHD_NO;
        *con_cls = cn;
        return MHD_YES;
    }
    if (*upload_size) {
        if (cn->body.len + *upload_size > ADM_BODY_MAX)
            cn->too_big = 1;
        else
            wd_buf_add(&cn->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    return route(a, c, url, method, cn);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
    (void)cls;
    (void)c;
    (void)t;
    conn_t *cn = *con_cls;
    if (cn) {
        wd_buf_free(&cn->body);
        free(cn);
        *con_cls = NULL;
    }
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    LOG_DEBUG("admin: microhttpd: %s", msg);
}

/* "HOST:PORT", ":PORT" or "PORT" → an IPv4 address (default 127.0.0.1). */
static int parse_listen(const char *s, struct sockaddr_in *sa, char *errstr, size_t n)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    const char *colon = strrchr(s, ':');
    char host[64] = "127.0.0.1";
    const char *port = s;
    if (colon) {
        size_t hl = (size_t)(colon - s);
        if (hl >= sizeof host) {
            snprintf(errstr, n, "admin.listen \"%s\": host too long", s);
            return -1;
        }
        if (hl) {
            memcpy(host, s, hl);
            host[hl] = '\0';
        }
        port = colon + 1;
    }
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 0 || p > 65535 || inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
        snprintf(errstr, n, "admin.listen \"%s\": want HOST:PORT with an IPv4 address, e.g. 127.0.0.1:9100", s);
        return -1;
    }
    sa->sin_port = htons((uint16_t)p);
    return 0;
}

adm_t *adm_new(const adm_opts_t *o, char *errstr, size_t n)
{
    struct sockaddr_in sa;
    if (parse_listen(o->listen, &sa, errstr, n) != 0)
        return NULL;
    adm_t *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(errstr, n, "out of memory");
        return NULL;
    }
    a->o = *o;
    a->audit_fd = -1;
    a->qtail = &a->q;
    a->t0_unix = adm_now_unix();
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->audit_mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    pthread_mutex_init(&a->jobs_mu, NULL);
    a->replay_jobs_max = o->replay_jobs_max ? o->replay_jobs_max : 2;
    a->replay_cpu_pct = o->replay_cpu_pct ? (o->replay_cpu_pct > 100 ? 100 : o->replay_cpu_pct) : 25;
    if (o->replay_eng)
        a->replay_eng = *o->replay_eng;
    else
        eng_opts_default(&a->replay_eng);
    a->o.replay_eng = NULL;
    if (o->token && !(a->token = strdup(o->token))) {
        snprintf(errstr, n, "out of memory");
        goto fail;
    }
    a->o.token = NULL;   /* only a->token holds it */
    if (a->token)
        adm_token_id(a->token, a->token_id);
    if (adm_audit_open(a, errstr, n) != 0)
        goto fail;
    if (o->overrides_topic && *o->overrides_topic && !(a->ovrt = adm_ovr_open(a, errstr, n)))
        goto fail;
    a->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                            handler, a, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, (void *)NULL,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, (void *)NULL,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (!a->d) {
        snprintf(errstr, n, "admin.listen %s: cannot listen (%s)", o->listen,
                 errno ? strerror(errno) : "address in use?");
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(a->d, MHD_DAEMON_INFO_BIND_PORT);
    a->port = di ? (int)di->port : ntohs(sa.sin_port);
    LOG_INFO("admin API listening on http://%s:%d (token %s, health endpoints %s)",
             inet_ntoa(sa.sin_addr), a->port, a->token ? a->token_id : "not configured",
             o->open_health ? "open" : "behind the token");
    return a;
fail:
    adm_destroy(a);
    return NULL;
}

int adm_port(const adm_t *a) { return a->port; }

void adm_destroy(adm_t *a)
{
    if (!a)
        return;
    /* Answer whoever waits, then stop the thread. */
    pthread_mutex_lock(&a->mu);
    for (adm_req_t *r = a->q, *next; r; r = next) {
        next = r->next;
        wd_buf_reset(&r->body);
        wd_buf_adds(&r->body, "{\"error\":\"the service is stopping\"}\n");
        r->status = 503;
        if (r->abandoned) {
            wd_buf_free(&r->body);
            free(r->rule);
            free(r);
        } else {
            r->done = 1;
        }
    }
    a->q = NULL;
    a->qtail = &a->q;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    if (a->d)
        MHD_stop_daemon(a->d);
    adm_replays_stop(a);
    adm_ovr_close(a->ovrt);
    adm_audit_close(a);
    for (size_t i = 0; i < a->nrules; i++) {
        free(a->rules[i].name);
        free(a->rules[i].file);
        free(a->rules[i].source);
    }
    free(a->rules);
    for (size_t i = 0; i < a->novr; i++) {
        free(a->ovr[i].rule);
        free(a->ovr[i].source);
        free(a->ovr[i].reason);
        free(a->ovr[i].token);
    }
    free(a->ovr);
    free(a->eng_map);
    free(a->slots);
    free(a->lags);
    for (size_t i = 0; i < ADM_MAX_TOPICS; i++) {
        free(a->topics[i]);
        free(a->streams[i]);
    }
    if (a->token) {
        memset(a->token, 0, strlen(a->token));
        free(a->token);
    }
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->audit_mu);
    pthread_mutex_destroy(&a->jobs_mu);
    free(a);
}
