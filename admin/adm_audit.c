/* admin/adm_audit.c — the audit log: one JSON line per mutating call and
 * per automatic mode change (time, token id — a hash prefix, never the
 * token — action, rule, before, after, result, status), appended with
 * O_APPEND and fsynced before the call is answered.  Any thread. */
#include "admin/adm_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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

void adm_audit_close(adm_t *a)
{
    if (a->audit_fd >= 0)
        close(a->audit_fd);
    a->audit_fd = -1;
}

static void str_or_null(wd_buf_t *b, const char *s)
{
    if (s)
        wd_buf_json_str(b, s, strlen(s));
    else
        wd_buf_adds(b, "null");
}

void adm_audit(adm_t *a, const char *token_id, const char *action, const char *rule,
               const char *before, const char *after, const char *result, int status)
{
    wd_buf_t b = WD_BUF_INIT;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    wd_buf_adds(&b, "{\"ts\":\"");
    wd_buf_rfc3339(&b, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    wd_buf_adds(&b, "\",\"token\":");
    str_or_null(&b, token_id);
    wd_buf_adds(&b, ",\"action\":");
    str_or_null(&b, action);
    wd_buf_adds(&b, ",\"rule\":");
    str_or_null(&b, rule);
    wd_buf_adds(&b, ",\"before\":");
    str_or_null(&b, before);
    wd_buf_adds(&b, ",\"after\":");
    str_or_null(&b, after);
    wd_buf_adds(&b, ",\"result\":");
    str_or_null(&b, result);
    wd_buf_printf(&b, ",\"status\":%d}\n", status);
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
    pthread_mutex_unlock(&a->audit_mu);
    wd_buf_free(&b);
}
