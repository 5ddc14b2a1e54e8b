/* storage/store_starrocks.c — the starrocks:// sink: StarRocks Stream Load
 * over libcurl.  Contract-tested only (against tests/storage/fake_starrocks.py,
 * which follows the documented protocol); no StarRocks server runs here.
 *
 * Batching, backpressure and retries are storage/store_queue.c's.  Each
 * batch becomes one HTTP PUT of a JSON array to
 * {fe}/api/{db}/{table}/_stream_load with
 *   Expect: 100-continue          (the FE refuses requests without it)
 *   label: warden_<table>_<hash>  (a hash of the body: deterministic, so a
 *                                  retried batch is never loaded twice)
 *   format: json, strip_outer_array: true
 * The FE answers 307 to a BE; curl follows it with the credentials kept
 * (CURLOPT_UNRESTRICTED_AUTH) and rewinds the body (seek callback).  The
 * response JSON decides: Success / Publish Timeout with every row loaded →
 * done; Label Already Exists → done when ExistingJobStatus is FINISHED,
 * asked again later (backoff) while it runs; Fail with filtered rows or an
 * ErrorURL → the batch is rejected (fatal, never silently lost); 5xx,
 * connection errors and transient Fail messages → retried with backoff. */
#include "storage/store_int.h"
#include "storage/store_queue.h"
#include "storage/store_url.h"
#include "base/wd_alloc.h"
#include "base/wd_log.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sr {
    store_queue_t *q;             /* first: the shared queue adapters reach it */
    store_url_t    url;
    char          *redacted;
    char          *base;          /* http://host:port/api/db/ */
    char          *label_prefix;
    long           timeout_s;
    long           connect_timeout_s;
    /* writer thread only */
    CURL          *curl;
    wd_buf_t      body;
    wd_buf_t      resp;
    size_t         body_off;       /* read position of the upload */
} sr_t;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* 128-bit FNV-1a-style digest (two 64-bit lanes) as 32 hex digits. */
static void body_label(const sr_t *s, const char *table, const wd_buf_t *body, char *out, size_t size)
{
    uint64_t h1 = 0xcbf29ce484222325ull, h2 = 0x84222325cbf29ce4ull;
    for (size_t i = 0; i < body->len; i++) {
        unsigned char c = (unsigned char)body->data[i];
        h1 = (h1 ^ c) * 0x100000001b3ull;
        h2 = (h2 ^ c) * 0x100000001b3ull + (h1 >> 29);
    }
    snprintf(out, size, "%s_%s_%016llx%016llx", s->label_prefix, table,
             (unsigned long long)h1, (unsigned long long)h2);
}

/* The batch as a JSON array of objects keyed by column name. */
static void body_json(wd_buf_t *o, const sq_batch_t *b)
{
    const sq_table_t *t = &sq_tables[b->table];
    wd_buf_reset(o);
    wd_buf_addc(o, '[');
    for (size_t r = 0; r < b->nrows; r++) {
        wd_buf_adds(o, r ? ",{" : "{");
        for (int c = 0; c < t->ncols; c++) {
            const sq_cell_t *cl = sq_cell(b, r, c);
            if (c)
                wd_buf_addc(o, ',');
            wd_buf_json_str(o, t->cols[c].name, strlen(t->cols[c].name));
            wd_buf_addc(o, ':');
            switch (cl->t) {
            case SQ_NULL: wd_buf_add(o, "null", 4); break;
            case SQ_INT: wd_buf_printf(o, "%lld", (long long)cl->v.i); break;
            case SQ_DBL: wd_buf_json_num(o, cl->v.d); break;
            default: wd_buf_json_str(o, sq_str(b, cl), cl->v.s.len); break;
            }
        }
        wd_buf_addc(o, '}');
    }
    wd_buf_addc(o, ']');
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *arg)
{
    sr_t *s = arg;
    size_t want = size * nitems, left = s->body.len - s->body_off;
    size_t n = want < left ? want : left;
    memcpy(buf, s->body.data + s->body_off, n);
    s->body_off += n;
    return n;
}

/* Rewinds the body when curl resends it to the BE after the FE's 307. */
static int on_seek(void *arg, curl_off_t off, int origin)
{
    sr_t *s = arg;
    if (origin != SEEK_SET || off < 0 || (size_t)off > s->body.len)
        return CURL_SEEKFUNC_CANTSEEK;
    s->body_off = (size_t)off;
    return CURL_SEEKFUNC_OK;
}

static size_t on_write(char *p, size_t size, size_t n, void *arg)
{
    sr_t *s = arg;
    if (s->resp.len + size * n > (4u << 20))
        return 0;   /* a Stream Load answer is small; refuse garbage */
    wd_buf_add(&s->resp, p, size * n);
    return wd_buf_failed(&s->resp) ? 0 : size * n;   /* out of memory: curl fails the load */
}

static void sr_reset(void *ctx)
{
    sr_t *s = ctx;
    if (s->curl)
        curl_easy_cleanup(s->curl);
    s->curl = NULL;
}

static long jint(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (json_is_integer(v))
        return (long)json_integer_value(v);
    if (json_is_string(v))
        return atol(json_string_value(v));
    return -1;
}

static const char *jstr(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

/* A Fail the server may get over by itself (overload, a BE restarting). */
static int transient(const char *msg)
{
    static const char *const words[] = { "too many versions", "Too many versions", "timeout",
                                         "Timeout", "is not alive", "try again", "busy",
                                         "Service Unavailable", "memory exceed", "Memory exceed",
                                         NULL };
    for (size_t i = 0; words[i]; i++)
        if (strstr(msg, words[i]))
            return 1;
    return 0;
}

/* Interprets a Stream Load answer (storage/store_int.h). */
int store_sr_judge(const char *label, size_t n, const char *body, size_t len, char *err, size_t errsz)
{
    json_error_t je;
    json_t *o = json_loadb(body, len, 0, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        snprintf(err, errsz, "label %s: answer is not a JSON object: %.*s", label,
                 (int)(len < 200 ? len : 200), body);
        return 1;
    }
    int rc;
    const char *status = jstr(o, "Status"), *msg = jstr(o, "Message"), *eurl = jstr(o, "ErrorURL");
    long loaded = jint(o, "NumberLoadedRows"), filtered = jint(o, "NumberFilteredRows");
    if (strcmp(status, "Success") == 0 || strcmp(status, "Publish Timeout") == 0) {
        if (filtered > 0 || (loaded >= 0 && (size_t)loaded != n)) {
            snprintf(err, errsz, "label %s: %ld of %zu rows loaded, %ld filtered: %s%s%s", label,
                     loaded, n, filtered, msg, *eurl ? " (errors: " : "", *eurl ? eurl : "");
            rc = -1;
        } else {
            if (strcmp(status, "Publish Timeout") == 0)
                LOG_WARN("label=%s msg=\"stream load committed, publish pending\"", label);
            rc = 0;
        }
    } else if (strcmp(status, "Label Already Exists") == 0) {
        const char *job = jstr(o, "ExistingJobStatus");
        if (strcmp(job, "FINISHED") == 0) {
            rc = 0;
        } else {
            snprintf(err, errsz, "label %s: an earlier load of this batch is %s; checking again",
                     label, *job ? job : "in progress");
            rc = 1;
        }
    } else if (strcmp(status, "Fail") == 0) {
        if (filtered > 0 || *eurl || strstr(msg, "filtered") || !transient(msg)) {
            snprintf(err, errsz, "label %s: batch of %zu rows rejected: %s (filtered %ld)%s%s", label,
                     n, msg, filtered, *eurl ? " errors: " : "", eurl);
            rc = -1;
        } else {
            snprintf(err, errsz, "label %s: %s", label, msg);
            rc = 1;
        }
    } else if (strcmp(status, "FAILED") == 0) {
        /* The FE's own refusals (no Expect header, unknown database…). */
        snprintf(err, errsz, "label %s: refused: %s", label, *msg ? msg : jstr(o, "Msg"));
        rc = -1;
    } else {
        snprintf(err, errsz, "label %s: status \"%s\": %s", label, status, msg);
        rc = 1;
    }
    json_decref(o);
    return rc;
}

static int sr_exec(void *ctx, const sq_batch_t *b, char *err, size_t errsz)
{
    sr_t *s = ctx;
    const char *table = sq_tables[b->table].name;
    char label[160], url[1024];
    body_json(&s->body, b);
    if (wd_buf_failed(&s->body)) {
        wd_buf_free(&s->body);
        snprintf(err, errsz, "%s (%zu rows): out of memory while encoding the Stream Load body", table,
                 b->nrows);
        return 1;
    }
    body_label(s, table, &s->body, label, sizeof(label));
    snprintf(url, sizeof(url), "%s%s/_stream_load", s->base, table);
    if (!s->curl && !(s->curl = curl_easy_init())) {
        snprintf(err, errsz, "curl_easy_init failed");
        return 1;
    }
    CURL *c = s->curl;
    curl_easy_reset(c);
    char hlabel[200];
    snprintf(hlabel, sizeof(hlabel), "label: %s", label);
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Expect: 100-continue");
    h = curl_slist_append(h, hlabel);
    h = curl_slist_append(h, "format: json");
    h = curl_slist_append(h, "strip_outer_array: true");
    h = curl_slist_append(h, "Content-Type: application/json");
    s->body_off = 0;
    wd_buf_reset(&s->resp);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, s);
    curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(c, CURLOPT_SEEKDATA, s);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)s->body.len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, s->url.user ? s->url.user : "root");
    curl_easy_setopt(c, CURLOPT_PASSWORD, s->url.password ? s->url.password : "");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, s->timeout_s);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, s->connect_timeout_s);
    curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(c);
    curl_slist_free_all(h);
    if (cc != CURLE_OK) {
        snprintf(err, errsz, "label %s: %s: %s", label, url, curl_easy_strerror(cc));
        return 1;
    }
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    const char *resp = s->resp.data ? s->resp.data : "";
    if (code >= 500 || code == 429 || code == 408) {
        snprintf(err, errsz, "label %s: HTTP %ld: %.200s", label, code, resp);
        return 1;
    }
    if (code != 200) {
        snprintf(err, errsz, "label %s: HTTP %ld from %s: %.200s", label, code, url, resp);
        return -1;
    }
    int rc = store_sr_judge(label, b->nrows, resp, s->resp.len, err, errsz);
    if (s->body.cap > (64u << 20))
        wd_buf_free(&s->body);
    return rc;
}

static void sr_free(void *ctx)
{
    sr_t *s = ctx;
    sr_reset(s);
    wd_buf_free(&s->body);
    wd_buf_free(&s->resp);
    free(s->base);
    free(s->label_prefix);
    free(s->redacted);
    store_url_free(&s->url);
    free(s);
}

static const sq_ops_t sr_ops = { sr_exec, sr_reset, sr_free };

static int sr_open(void **impl, const char *url, const store_opts_t *opts,
                   char *errstr, size_t errstr_size)
{
    static const char *const extra[] = { "timeout", "connect_timeout", "label_prefix", "tls", NULL };
    pthread_once(&curl_once, curl_init_once);

    sr_t *s = wd_calloc(1, sizeof(*s));
    if (!s)
        return store_seterr(errstr, errstr_size, "store: out of memory");
    if (store_url_parse(&s->url, url, errstr, errstr_size) != 0) {
        free(s);
        return -1;
    }
    if (!s->url.port)
        s->url.port = 8030;
    s->redacted = store_url_redacted(&s->url);
    long tls = 0;
    s->timeout_s = 600;
    s->connect_timeout_s = 5;
    sq_conf_t qc;
    if (!s->url.db) {
        store_seterr(errstr, errstr_size, "store: %s: no database in the URL "
                     "(starrocks://user@fe-host:8030/db)", s->redacted);
        goto fail;
    }
    if (store_queue_check_params(&s->url, extra, errstr, errstr_size) != 0 ||
        store_url_param_long(&s->url, "timeout", 1, 86400, &s->timeout_s, errstr, errstr_size) != 0 ||
        store_url_param_long(&s->url, "connect_timeout", 1, 3600, &s->connect_timeout_s, errstr, errstr_size) != 0 ||
        store_url_param_long(&s->url, "tls", 0, 1, &tls, errstr, errstr_size) != 0 ||
        store_queue_conf(&qc, &s->url, opts, errstr, errstr_size) != 0)
        goto fail;
    const char *lp = store_url_param(&s->url, "label_prefix");
    if (lp && (strlen(lp) > 40 || strspn(lp, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen(lp))) {
        store_seterr(errstr, errstr_size, "store: %s: ?label_prefix= takes up to 40 of [A-Za-z0-9_-]",
                     s->redacted);
        goto fail;
    }
    s->label_prefix = wd_strdup(lp && *lp ? lp : "warden");
    if (!s->label_prefix) {
        store_seterr(errstr, errstr_size, "store: out of memory");
        goto fail;
    }
    int v6 = strchr(s->url.host, ':') != NULL;
    if (asprintf(&s->base, "%s://%s%s%s:%u/api/%s/", tls ? "https" : "http", v6 ? "[" : "",
                 s->url.host, v6 ? "]" : "", s->url.port, s->url.db) < 0) {
        s->base = NULL;
        store_seterr(errstr, errstr_size, "store: out of memory");
        goto fail;
    }
    /* A Stream Load body is JSON text: keep batches well under the FE's
     * default 10 GB limit and BE memory; 64 MiB per load is plenty. */
    qc.batch_bytes = 64u << 20;
    qc.event_day = 1;
    qc.name = s->redacted;
    if (store_queue_new(&s->q, &qc, &sr_ops, s, errstr, errstr_size) != 0)
        goto fail;
    *impl = s;
    return 0;
fail:
    sr_free(s);
    return -1;
}

const store_backend_t store_starrocks_backend = STORE_QUEUE_BACKEND("starrocks", sr_open);
