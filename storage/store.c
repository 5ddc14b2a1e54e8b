/* storage/store.c — the sink registry: a URL's scheme picks a backend from a
 * static table, and every store_* call goes through that backend's vtable.
 * Also the contract JSON form of a hit row, shared by jsonl and Stream Load. */
#include "storage/store.h"
#include "storage/store_int.h"
#include "base/wd_alloc.h"
#include "base/wd_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store {
    const store_backend_t *be;
    void                  *impl;
};

static const store_backend_t *const backends[] = {
    &store_jsonl_backend,
    &store_mysql_backend,
    &store_starrocks_backend,
    &store_null_backend,
};

int store_seterr(char *errstr, size_t errstr_size, const char *fmt, ...)
{
    if (errstr && errstr_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void store_opts_fill(store_opts_t *o, size_t batch_rows, int batch_ms, size_t max_buffer_rows)
{
    if (o->batch_rows == 0)
        o->batch_rows = batch_rows;
    if (o->batch_ms <= 0)
        o->batch_ms = batch_ms;
    if (o->max_buffer_rows == 0)
        o->max_buffer_rows = max_buffer_rows;
    if (o->max_buffer_rows < o->batch_rows)
        o->max_buffer_rows = o->batch_rows;
}

int store_open(store_t **out, const char *url, const store_opts_t *opts,
               char *errstr, size_t errstr_size)
{
    *out = NULL;
    if (!url || !*url)
        return store_seterr(errstr, errstr_size, "store: empty URL");
    const char *colon = strchr(url, ':');
    size_t slen = colon ? (size_t)(colon - url) : 0;
    const store_backend_t *be = NULL;
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
        if (strlen(backends[i]->scheme) == slen && strncmp(backends[i]->scheme, url, slen) == 0) {
            be = backends[i];
            break;
        }
    }
    if (!be)
        return store_seterr(errstr, errstr_size,
                            "store: unknown URL scheme in \"%.*s\" (want jsonl:PATH, "
                            "mysql://user@host:port/db, starrocks://user@host:port/db or null:)",
                            (int)(slen ? slen : strlen(url)), url);
    store_opts_t o = { 0, 0, 0 };
    if (opts)
        o = *opts;
    store_t *s = wd_calloc(1, sizeof(*s));
    if (!s)
        return store_seterr(errstr, errstr_size, "store: out of memory");
    s->be = be;
    if (be->open(&s->impl, url, &o, errstr, errstr_size) != 0) {
        free(s);
        return -1;
    }
    *out = s;
    return 0;
}

int store_write(store_t *s, const store_row_t *rows, size_t n, char *errstr, size_t errstr_size)
{
    if (n == 0)
        return 0;
    return s->be->write(s->impl, rows, n, errstr, errstr_size);
}

int store_write_action(store_t *s, const store_decision_t *d, char *errstr, size_t errstr_size)
{
    return s->be->write_action ? s->be->write_action(s->impl, d, errstr, errstr_size) : 0;
}

void store_entity_key(const char *type, const char *entity, size_t len, char out[33])
{
    wd_sha256_t *h = wd_sha256_new();
    const char *t = type ? type : "unknown";
    wd_sha256_update(h, t, strlen(t));
    wd_sha256_update(h, ":", 1);
    wd_sha256_update(h, entity, len ? len : strlen(entity));
    char hex[65];
    wd_sha256_final(h, hex);
    memcpy(out, hex, 32);
    out[32] = '\0';
}

int store_write_decision(store_t *s, const store_decision_t *d, char *errstr, size_t errstr_size)
{
    return s->be->write_decision ? s->be->write_decision(s->impl, d, errstr, errstr_size) : 0;
}

int store_begin_run(store_t *s, const store_run_t *run, char *errstr, size_t errstr_size)
{
    return s->be->begin_run ? s->be->begin_run(s->impl, run, errstr, errstr_size) : 0;
}

int store_end_run(store_t *s, const store_run_t *run, char *errstr, size_t errstr_size)
{
    return s->be->end_run ? s->be->end_run(s->impl, run, errstr, errstr_size) : 0;
}

int store_audit(store_t *s, const store_audit_t *a, char *errstr, size_t errstr_size)
{
    return s->be->audit ? s->be->audit(s->impl, a, errstr, errstr_size) : 0;
}

int store_rule_version(store_t *s, const store_rule_version_t *rv, char *errstr, size_t errstr_size)
{
    return s->be->rule_version ? s->be->rule_version(s->impl, rv, errstr, errstr_size) : 0;
}

int store_flush(store_t *s, char *errstr, size_t errstr_size)
{
    return s->be->flush(s->impl, errstr, errstr_size);
}

int store_close(store_t *s, char *errstr, size_t errstr_size)
{
    if (!s)
        return 0;
    int rc = s->be->close(s->impl, errstr, errstr_size);
    free(s);
    return rc;
}

void store_stats(store_t *s, store_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->healthy = 1;
    if (s->be->stats)
        s->be->stats(s->impl, out);
}

int store_health(store_t *s, char *errstr, size_t errstr_size)
{
    return s->be->health ? s->be->health(s->impl, errstr, errstr_size) : 0;
}

const char *store_scheme(const store_t *s)
{
    return s->be->scheme;
}

/* A string field: JSON null for NULL, else escaped bytes (len 0 → strlen). */
static void json_field_str(wd_buf_t *b, const char *s, size_t len)
{
    if (!s) {
        wd_buf_add(b, "null", 4);
        return;
    }
    wd_buf_json_str(b, s, len ? len : strlen(s));
}

void store_row_json_buf(wd_buf_t *b, const store_row_t *r)
{
    wd_buf_add(b, "{\"event_id\":", 12);
    json_field_str(b, r->event_id, 0);
    wd_buf_add(b, ",\"stream\":", 10);
    json_field_str(b, r->stream, 0);
    wd_buf_add(b, ",\"rule\":", 8);
    json_field_str(b, r->rule, 0);
    wd_buf_printf(b, ",\"version\":%d,\"mode\":", r->version);
    json_field_str(b, r->mode, 0);
    wd_buf_add(b, ",\"verdict\":", 11);
    json_field_str(b, r->verdict, 0);
    wd_buf_add(b, ",\"entity\":", 10);
    json_field_str(b, r->entity, r->entity_len);
    wd_buf_adds(b, ",\"entity_type\":");
    json_field_str(b, r->entity_type ? r->entity_type : "unknown", 0);
    wd_buf_add(b, ",\"reason\":", 10);
    json_field_str(b, r->reason, r->reason_len);
    wd_buf_add(b, ",\"score\":", 9);
    if (r->has_score)
        wd_buf_json_num(b, r->score);
    else
        wd_buf_add(b, "null", 4);
    if (r->labels && r->labels_len) {
        wd_buf_adds(b, ",\"labels\":");
        wd_buf_add(b, r->labels, r->labels_len);
    }
    wd_buf_add(b, ",\"event_ts\":", 12);
    if (r->event_ts_ms == INT64_MIN) {
        wd_buf_add(b, "null", 4);
    } else {
        wd_buf_addc(b, '"');
        wd_buf_rfc3339(b, r->event_ts_ms);
        wd_buf_addc(b, '"');
    }
    wd_buf_add(b, ",\"run_id\":", 10);
    json_field_str(b, r->run_id, 0);
    wd_buf_addc(b, '}');
}

size_t store_row_json(const store_row_t *r, char *buf, size_t size)
{
    wd_buf_t b = WD_BUF_INIT;
    store_row_json_buf(&b, r);
    if (size > 0) {
        size_t n = b.len < size - 1 ? b.len : size - 1;
        if (n)
            memcpy(buf, b.data, n);
        buf[n] = '\0';
    }
    size_t len = b.len;
    wd_buf_free(&b);
    return len;
}
