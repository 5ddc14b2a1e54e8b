/* admin/adm_audit.c — the audit log: one JSON line per mutating call and
 * per automatic mode change (time, token id — a hash prefix, never the
 * token — action, rule, before, after, result, status), appended with
 * O_APPEND and fsynced before the call is answered.  Any thread. */
#include "admin/adm_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/wd_log.h"
#include "base/wd_util.h"

double adm_now_unix(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void adm_token_id(const char *token, char out[32])
{
    char hex[65];
    wd_sha256_hex(token, strlen(token), hex);
    snprintf(out, 32, "sha256:%.12s", hex);
}

int adm_audit_open(adm_t *a, char *errstr, size_t n)
{
    if (!a->o.audit_path || !*a->o.audit_path)
        return 0;
    a->audit_fd = open(a->o.audit_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (a->audit_fd < 0) {
        snprintf(errstr, n, "admin.audit_file %s: %s", a->o.audit_path, strerror(errno));
        return -1;
    }
    return 0;
}

/* An entry waiting for the loop thread to queue it in the store. */
typedef struct adm_audit_row {
    int64_t ts_ms;
    char   *token, *action, *rule, *before, *after, *result;
    int     status;
    struct adm_audit_row *next;
} adm_audit_row_t;

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void row_free(adm_audit_row_t *r)
{
    free(r->token);
    free(r->action);
    free(r->rule);
    free(r->before);
    free(r->after);
    free(r->result);
    free(r);
}

void adm_audit_close(adm_t *a)
{
    if (a->audit_fd >= 0)
        close(a->audit_fd);
    a->audit_fd = -1;
    for (adm_audit_row_t *r = a->audit_q, *n; r; r = n) {
        n = r->next;
        row_free(r);
    }
    a->audit_q = NULL;
}

void adm_audit_drain(adm_t *a, const adm_host_t *h)
{
    pthread_mutex_lock(&a->audit_mu);
    adm_audit_row_t *q = a->audit_q;
    a->audit_q = NULL;
    a->audit_qtail = &a->audit_q;
    a->audit_qn = 0;
    pthread_mutex_unlock(&a->audit_mu);
    for (adm_audit_row_t *r = q, *n; r; r = n) {
        n = r->next;
        if (h->store) {
            char id[320], err[512];
            snprintf(id, sizeof id, "%s:%lld:%llu", h->instance ? h->instance : "",
                     (long long)r->ts_ms, (unsigned long long)++a->audit_seq);
            store_audit_t sa = { id, r->ts_ms, h->instance, r->token, r->action, r->rule,
                                 r->before, r->after, r->result, r->status };
            if (store_audit(h->store, &sa, err, sizeof err) != 0) {
                __atomic_add_fetch(&a->audit_failures, 1, __ATOMIC_RELAXED);
                LOG_ERROR("admin: audit row to the store: %s", err);
            }
        }
        row_free(r);
    }
}

static void str_or_null(wd_buf_t *b, const char *s)
{
    if (s)
        wd_buf_json_str(b, s, strlen(s));
    else
        wd_buf_adds(b, "null");
}

/* The audit line (JSON and a newline) of one entry at ts into b. */
static void audit_line(wd_buf_t *b, int64_t ts_ms, const char *token_id, const char *action,
                       const char *rule, const char *before, const char *after, const char *result,
                       int status)
{
    wd_buf_adds(b, "{\"ts\":\"");
    wd_buf_rfc3339(b, ts_ms);
    wd_buf_adds(b, "\",\"token\":");
    str_or_null(b, token_id);
    wd_buf_adds(b, ",\"action\":");
    str_or_null(b, action);
    wd_buf_adds(b, ",\"rule\":");
    str_or_null(b, rule);
    wd_buf_adds(b, ",\"before\":");
    str_or_null(b, before);
    wd_buf_adds(b, ",\"after\":");
    str_or_null(b, after);
    wd_buf_adds(b, ",\"result\":");
    str_or_null(b, result);
    wd_buf_printf(b, ",\"status\":%d}\n", status);
}

int adm_audit_append(const char *path, const char *token_id, const char *action, const char *rule,
                     const char *before, const char *after, const char *result, int status,
                     char *errstr, size_t n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    LOG_INFO("audit token=%s action=%s rule=%s before=%s after=%s result=\"%s\" status=%d",
             token_id ? token_id : "-", action ? action : "-", rule ? rule : "-", before ? before : "-",
             after ? after : "-", result ? result : "", status);
    if (!path || !*path)
        return 0;
    wd_buf_t b = WD_BUF_INIT;
    audit_line(&b, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, token_id, action, rule, before,
               after, result, status);
    int rc = 0, fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len || fsync(fd) != 0) {
        snprintf(errstr, n, "admin.audit_file %s: %s", path, strerror(errno));
        rc = -1;
    }
    if (fd >= 0)
        close(fd);
    wd_buf_free(&b);
    return rc;
}

void adm_audit(adm_t *a, const char *token_id, const char *action, const char *rule,
               const char *before, const char *after, const char *result, int status)
{
    wd_buf_t b = WD_BUF_INIT;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    audit_line(&b, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, token_id, action, rule, before,
               after, result, status);
    LOG_INFO("audit token=%s action=%s rule=%s before=%s after=%s result=\"%s\" status=%d",
             token_id ? token_id : "-", action ? action : "-", rule ? rule : "-", before ? before : "-",
             after ? after : "-", result ? result : "", status);
    pthread_mutex_lock(&a->audit_mu);
    if (a->audit_fd >= 0) {
        ssize_t w = write(a->audit_fd, b.data, b.len);
        if (w != (ssize_t)b.len || fsync(a->audit_fd) != 0) {
            __atomic_add_fetch(&a->audit_failures, 1, __ATOMIC_RELAXED);
            LOG_ERROR("admin.audit_file %s: %s", a->o.audit_path, strerror(errno));
        }
    }
    adm_audit_row_t *row = a->audit_qn < 10000 ? calloc(1, sizeof(*row)) : NULL;
    if (row) {
        row->ts_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        row->token = dup_or_null(token_id);
        row->action = dup_or_null(action);
        row->rule = dup_or_null(rule);
        row->before = dup_or_null(before);
        row->after = dup_or_null(after);
        row->result = dup_or_null(result);
        row->status = status;
        if (!a->audit_qtail)
            a->audit_qtail = &a->audit_q;
        *a->audit_qtail = row;
        a->audit_qtail = &row->next;
        a->audit_qn++;
    }
    pthread_mutex_unlock(&a->audit_mu);
    wd_buf_free(&b);
}
