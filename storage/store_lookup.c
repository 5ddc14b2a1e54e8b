/* Reading rule_results rows back (storage/store_lookup.h).  Off the hot path:
 * one connection (or one pass over the file) per call. */
#include "storage/store_lookup.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/wd_alloc.h"
#include "base/wd_jsonl.h"
#include "storage/store_int.h"
#include "storage/store_mysql.h"
#include "storage/store_url.h"

/* ---- mysql:// ------------------------------------------------------------- */

static char *escaped(MYSQL *m, const char *s)
{
    size_t n = strlen(s);
    char *out = wd_malloc(2 * n + 1);
    if (out == NULL)
        return NULL;
    mysql_real_escape_string(m, out, s, (unsigned long)n);
    return out;
}

static long read_mysql(const char *url, const char *run_id, const char *event_id, store_result_fn fn,
                       void *ud, char *errstr, size_t errstr_size)
{
    store_url_t u;
    store_myconn_opts_t o;
    if (store_url_parse(&u, url, errstr, errstr_size) != 0)
        return -1;
    if (store_my_opts_from_url(&u, &o, errstr, errstr_size) != 0) {
        store_url_free(&u);
        return -1;
    }
    int dialect, retriable;
    MYSQL *m = store_my_connect(&u, &o, &dialect, &retriable, errstr, errstr_size);
    store_url_free(&u);
    if (m == NULL)
        return -1;
    char *r = escaped(m, run_id), *e = escaped(m, event_id);
    size_t qn = r && e ? strlen(r) + strlen(e) + 256 : 0;
    char *q = qn ? wd_malloc(qn) : NULL;
    long n = -1;
    MYSQL_RES *res = NULL;
    if (q == NULL) {
        free(r);
        free(e);
        store_seterr(errstr, errstr_size, "reading rule_results: out of memory");
        goto done;
    }
    snprintf(q, qn,
             "SELECT rule, version, mode, verdict, entity, reason, score, rule_sha256 FROM rule_results "
             "WHERE run_id = '%s' AND event_id = '%s' ORDER BY rule", r, e);
    free(r);
    free(e);
    if (mysql_query(m, q) != 0 || (res = mysql_store_result(m)) == NULL) {
        store_seterr(errstr, errstr_size, "reading rule_results: %s (error %u)", mysql_error(m),
                     mysql_errno(m));
        goto done;
    }
    n = 0;
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res)) != NULL) {
        unsigned long *len = mysql_fetch_lengths(res);
        store_result_t sr = {
            .rule = row[0], .version = row[1] ? atoi(row[1]) : 0, .mode = row[2] ? row[2] : "",
            .verdict = row[3] ? row[3] : "", .entity = row[4] ? row[4] : "",
            .entity_len = row[4] ? len[4] : 0, .reason = row[5], .reason_len = row[5] ? len[5] : 0,
            .has_score = row[6] != NULL, .score = row[6] ? strtod(row[6], NULL) : 0,
            .rule_sha256 = row[7],
        };
        n++;
        if (fn(ud, &sr) != 0)
            break;
    }
done:
    mysql_free_result(res);
    mysql_close(m);
    free(q);
    return n;
}

/* ---- jsonl:PATH ------------------------------------------------------------ */

typedef struct jl {
    const char     *run_id, *event_id;
    store_result_fn fn;
    void           *ud;
    long            n;
    json_t        **rows;   /* matching rows, sorted by rule before the calls */
    size_t          nrows;
} jl_t;

static int jl_line(void *ud, const char *line, size_t len, long lineno)
{
    (void)lineno;
    jl_t *j = ud;
    json_t *o = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
    const char *rid = json_string_value(json_object_get(o, "run_id"));
    const char *eid = json_string_value(json_object_get(o, "event_id"));
    if (o == NULL || !rid || !eid || strcmp(rid, j->run_id) != 0 || strcmp(eid, j->event_id) != 0 ||
        !json_is_string(json_object_get(o, "rule"))) {
        json_decref(o);
        return 0;
    }
    /* An upsert keeps the last row of (run_id, event_id, rule). */
    const char *rule = json_string_value(json_object_get(o, "rule"));
    for (size_t i = 0; i < j->nrows; i++)
        if (strcmp(json_string_value(json_object_get(j->rows[i], "rule")), rule) == 0) {
            json_decref(j->rows[i]);
            j->rows[i] = o;
            return 0;
        }
    json_t **r = wd_realloc(j->rows, (j->nrows + 1) * sizeof(*r));
    if (r == NULL) {
        json_decref(o);
        return -2;   /* out of memory: read_jsonl fails */
    }
    j->rows = r;
    j->rows[j->nrows++] = o;
    return 0;
}

static int by_rule(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "rule")),
                  json_string_value(json_object_get(*(json_t *const *)b, "rule")));
}

static const char *jstr(json_t *o, const char *k, size_t *len)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_string(v))
        return NULL;
    if (len)
        *len = json_string_length(v);
    return json_string_value(v);
}

static long read_jsonl(const char *path, const char *run_id, const char *event_id, store_result_fn fn,
                       void *ud, char *errstr, size_t errstr_size)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return store_seterr(errstr, errstr_size, "store: jsonl: cannot open %s: %s", path, strerror(errno));
    jl_t j = { .run_id = run_id, .event_id = event_id, .fn = fn, .ud = ud };
    int rc = wd_jsonl_each(f, jl_line, &j);
    fclose(f);
    if (rc < 0) {
        for (size_t i = 0; i < j.nrows; i++)
            json_decref(j.rows[i]);
        free(j.rows);
        return store_seterr(errstr, errstr_size, "store: jsonl: %s in %s",
                            rc == -2 ? "out of memory while reading rows" : "read error", path);
    }
    if (j.nrows > 1)
        qsort(j.rows, j.nrows, sizeof(*j.rows), by_rule);
    int stop = 0;
    for (size_t i = 0; i < j.nrows; i++) {
        json_t *o = j.rows[i];
        json_t *score = json_object_get(o, "score");
        store_result_t sr = { .rule = jstr(o, "rule", NULL),
                              .version = (int)json_integer_value(json_object_get(o, "version")),
                              .mode = jstr(o, "mode", NULL), .verdict = jstr(o, "verdict", NULL),
                              .has_score = json_is_number(score), .score = json_number_value(score) };
        sr.entity = jstr(o, "entity", &sr.entity_len);
        sr.reason = jstr(o, "reason", &sr.reason_len);
        if (!sr.mode)
            sr.mode = "";
        if (!sr.verdict)
            sr.verdict = "";
        if (!sr.entity)
            sr.entity = "";
        if (!stop)
            stop = fn(ud, &sr) != 0;
        json_decref(o);
    }
    free(j.rows);
    return (long)j.nrows;
}

long store_read_results(const char *url, const char *run_id, const char *event_id,
                        store_result_fn fn, void *ud, char *errstr, size_t errstr_size)
{
    if (strncmp(url, "jsonl:", 6) == 0 && strcmp(url + 6, "-") != 0 && url[6])
        return read_jsonl(url + 6, run_id, event_id, fn, ud, errstr, errstr_size);
    if (strncmp(url, "mysql://", 8) == 0)
        return read_mysql(url, run_id, event_id, fn, ud, errstr, errstr_size);
    if (strncmp(url, "starrocks://", 12) == 0)
        return store_seterr(errstr, errstr_size,
                            "store: starrocks:// is written through Stream Load; read it through the "
                            "FE's MySQL port: mysql://USER@FE-HOST:9030/DB");
    return store_seterr(errstr, errstr_size, "store: cannot read hits back from \"%s\" (want jsonl:PATH "
                        "or mysql://…)", url);
}
