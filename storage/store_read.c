/* storage/store_read.c — reading hits, actions and undo records back from
 * a MySQL-protocol results store (storage/store_read.h).  Text protocol,
 * binary values as hex literals, so any entity bytes match exactly. */
#include "storage/store_read.h"
#include "storage/store.h"
#include "storage/store_int.h"
#include "storage/store_migrate.h"
#include "storage/store_mysql.h"
#include "storage/store_queue.h"
#include "storage/store_url.h"
#include "base/wd_alloc.h"
#include "base/wd_buf.h"
#include "base/wd_util.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct store_reader {
    store_url_t url;
    char       *redacted;
    MYSQL      *m;
    int         dialect;
};

void store_reader_close(store_reader_t *r)
{
    if (!r)
        return;
    if (r->m)
        mysql_close(r->m);
    free(r->redacted);
    store_url_free(&r->url);
    free(r);
}

int store_reader_open(store_reader_t **out, const char *url, char *errstr, size_t errstr_size)
{
    *out = NULL;
    if (strncmp(url, "mysql://", 8) != 0)
        return store_seterr(errstr, errstr_size,
                            "store %s: reading results back needs a MySQL-protocol store (mysql://…, "
                            "or a StarRocks FE with ?dialect=starrocks); a jsonl: file is not "
                            "queryable (use jq on it), null: keeps nothing",
                            strncmp(url, "jsonl:", 6) == 0 ? "jsonl:" : url);
    store_reader_t *r = wd_calloc(1, sizeof(*r));
    if (!r)
        return store_seterr(errstr, errstr_size, "out of memory");
    char err[512];
    int retriable, version = 0;
    store_myconn_opts_t o;
    if (store_url_parse(&r->url, url, errstr, errstr_size) != 0) {
        free(r);
        return -1;
    }
    r->redacted = store_url_redacted(&r->url);
    if (store_my_check_params(&r->url, errstr, errstr_size) != 0 ||
        store_my_opts_from_url(&r->url, &o, errstr, errstr_size) != 0)
        goto fail;
    r->m = store_my_connect(&r->url, &o, &r->dialect, &retriable, err, sizeof(err));
    if (!r->m) {
        store_seterr(errstr, errstr_size, "store %s: %s", r->redacted, err);
        goto fail;
    }
    if (store_my_schema_version(r->m, &version, &retriable, err, sizeof(err)) != 0) {
        store_seterr(errstr, errstr_size, "store %s: %s", r->redacted, err);
        goto fail;
    }
    if (version < 8) {
        store_seterr(errstr, errstr_size, "store %s: schema version %d < 8 (no actions table or hit labels): "
                     "run warden migrate %s", r->redacted, version, r->redacted);
        goto fail;
    }
    *out = r;
    return 0;
fail:
    store_reader_close(r);
    return -1;
}

int store_hist_labels(const store_hist_t *h, store_label_fn fn, void *ud, uint64_t *unreadable)
{
    if (!h->labels)
        return 0;
    json_error_t je;
    json_t *a = json_loadb(h->labels, h->labels_len, JSON_ALLOW_NUL, &je);
    if (!a && json_error_code(&je) == json_error_out_of_memory)
        return -1;
    if (!json_is_array(a) || h->event_ts_ms == INT64_MIN) {
        (*unreadable)++;
        json_decref(a);
        return 0;
    }
    int rc = 0;
    size_t i;
    json_t *it;
    json_array_foreach(a, i, it) {
        json_t *l = json_object_get(it, "label"), *t = json_object_get(it, "ttl_ms"),
               *en = json_object_get(it, "entity");
        if (!json_is_string(l) || !json_is_integer(t) || (en && !json_is_string(en))) {
            (*unreadable)++;
            continue;
        }
        store_label_t sl = {
            .entity = en ? json_string_value(en) : h->entity ? h->entity : "",
            .entity_len = en ? json_string_length(en) : h->entity_len,
            .label = json_string_value(l),
            .label_len = json_string_length(l),
            .expire_ms = h->event_ts_ms + json_integer_value(t),
        };
        if ((rc = fn(ud, h, &sl)) != 0)
            break;
    }
    json_decref(a);
    return rc;
}

static void add_hex(wd_buf_t *b, const char *s, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    wd_buf_adds(b, "X'");
    for (size_t i = 0; i < n; i++) {
        wd_buf_addc(b, hx[(unsigned char)s[i] >> 4]);
        wd_buf_addc(b, hx[(unsigned char)s[i] & 15]);
    }
    wd_buf_addc(b, '\'');
}

static void add_ts(wd_buf_t *b, int64_t ms)
{
    char d[40];
    if (store_sql_datetime(ms, d, sizeof(d)) == 0)
        snprintf(d, sizeof(d), "%s", ms < 0 ? "1000-01-01 00:00:00.000" : "9999-12-31 23:59:59.999");
    wd_buf_printf(b, "'%s'", d);
}

/* "YYYY-MM-DD HH:MM:SS[.fff]" UTC → ms; INT64_MIN for NULL or junk. */
static int64_t parse_dt(const char *s)
{
    if (!s)
        return INT64_MIN;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int ms = 0;
    const char *p = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
    if (!p)
        return INT64_MIN;
    if (*p == '.') {
        int k = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, k++)
            if (k < 3)
                ms = ms * 10 + (*p - '0');
        for (; k < 3; k++)
            ms *= 10;
    }
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static int run_query(store_reader_t *r, const wd_buf_t *q, MYSQL_RES **res, char *errstr,
                     size_t errstr_size)
{
    if (mysql_real_query(r->m, q->data, q->len) != 0)
        return store_seterr(errstr, errstr_size, "store %s: %s", r->redacted, mysql_error(r->m));
    *res = mysql_store_result(r->m);
    if (!*res && mysql_field_count(r->m) != 0)
        return store_seterr(errstr, errstr_size, "store %s: %s", r->redacted, mysql_error(r->m));
    return 0;
}

#define HIT_COLS "run_id, event_id, stream, rule, version, rule_sha256, mode, verdict, entity_type, " \
                 "entity, reason, score, event_ts, topic, kafka_partition, kafka_offset, labels"
#define ACT_COLS "run_id, event_id, stream, rules, verdict, entity_type, entity, ttl, event_ts, " \
                 "topic, kafka_partition, kafka_offset"

static void fill_action(store_hist_t *h, MYSQL_ROW row, const unsigned long *len, int base)
{
    memset(h, 0, sizeof(*h));
    h->is_action = 1;
    h->run_id = row[base + 0];
    h->event_id = row[base + 1];
    h->stream = row[base + 2];
    h->rules = row[base + 3];
    h->verdict = row[base + 4];
    h->entity_type = row[base + 5];
    h->entity = row[base + 6];
    h->entity_len = len[base + 6];
    h->ttl = row[base + 7];
    h->event_ts_ms = parse_dt(row[base + 8]);
    h->topic = row[base + 9];
    h->partition = row[base + 10] ? (int32_t)atol(row[base + 10]) : -1;
    h->offset = row[base + 11] ? strtoll(row[base + 11], NULL, 10) : -1;
}

/* A row of HIT_COLS. */
static void fill_hit(store_hist_t *h, MYSQL_ROW row, const unsigned long *l)
{
    memset(h, 0, sizeof(*h));
    h->run_id = row[0];
    h->event_id = row[1];
    h->stream = row[2];
    h->rule = row[3];
    h->version = row[4] ? atoi(row[4]) : 0;
    h->rule_sha256 = row[5];
    h->mode = row[6];
    h->verdict = row[7];
    h->entity_type = row[8];
    h->entity = row[9];
    h->entity_len = l[9];
    h->reason = row[10];
    h->reason_len = row[10] ? l[10] : 0;
    h->has_score = row[11] != NULL;
    h->score = row[11] ? strtod(row[11], NULL) : 0;
    h->event_ts_ms = parse_dt(row[12]);
    h->topic = row[13];
    h->partition = row[14] ? (int32_t)atol(row[14]) : -1;
    h->offset = row[15] ? strtoll(row[15], NULL, 10) : -1;
    h->labels = row[16];
    h->labels_len = row[16] ? l[16] : 0;
}

static void where_run_since(wd_buf_t *q, const char *run_id, int64_t since_ms)
{
    if (since_ms != INT64_MIN) {
        wd_buf_adds(q, " AND event_ts >= ");
        add_ts(q, since_ms);
    }
    if (run_id) {
        wd_buf_adds(q, " AND run_id = ");
        add_hex(q, run_id, strlen(run_id));
    }
}

int store_read_entity(store_reader_t *r, const char *type, const char *entity, size_t len,
                      int64_t since_ms, const char *run_id, store_hist_fn fn, void *ud,
                      char *errstr, size_t errstr_size)
{
    wd_buf_t q = WD_BUF_INIT;
    MYSQL_RES *res = NULL;
    int rc = 0;
    char types[16][40];
    size_t ntypes = 0;
    if (type)
        snprintf(types[ntypes++], sizeof(types[0]), "%s", type);

    wd_buf_adds(&q, "SELECT " HIT_COLS " FROM rule_results WHERE entity = ");
    add_hex(&q, entity, len);
    if (type) {
        wd_buf_adds(&q, " AND entity_type = ");
        add_hex(&q, type, strlen(type));
    }
    where_run_since(&q, run_id, since_ms);
    wd_buf_adds(&q, " ORDER BY event_ts, event_id, rule, run_id");
    if ((rc = run_query(r, &q, &res, errstr, errstr_size)) != 0)
        goto done;
    MYSQL_ROW row;
    while (rc == 0 && res && (row = mysql_fetch_row(res))) {
        store_hist_t h;
        fill_hit(&h, row, mysql_fetch_lengths(res));
        if (!type && h.entity_type) {
            size_t k = 0;
            while (k < ntypes && strcmp(types[k], h.entity_type) != 0)
                k++;
            if (k == ntypes && ntypes < 16)
                snprintf(types[ntypes++], sizeof(types[0]), "%s", h.entity_type);
        }
        rc = fn(ud, &h);
    }
    mysql_free_result(res);
    res = NULL;
    if (rc != 0 || ntypes == 0)
        goto done;

    wd_buf_reset(&q);
    wd_buf_adds(&q, "SELECT " ACT_COLS " FROM actions WHERE entity_key IN (");
    for (size_t k = 0; k < ntypes; k++) {
        char key[33];
        store_entity_key(types[k], entity, len, key);
        wd_buf_printf(&q, "%s'%s'", k ? "," : "", key);
    }
    wd_buf_adds(&q, ")");
    where_run_since(&q, run_id, since_ms);
    wd_buf_adds(&q, " ORDER BY event_ts, event_id, entity_type, run_id");
    if ((rc = run_query(r, &q, &res, errstr, errstr_size)) != 0)
        goto done;
    while (rc == 0 && res && (row = mysql_fetch_row(res))) {
        store_hist_t h;
        fill_action(&h, row, mysql_fetch_lengths(res), 0);
        /* The key is a digest: keep only the exact entity. */
        if (h.entity_len == len && memcmp(h.entity, entity, len) == 0)
            rc = fn(ud, &h);
    }
done:
    mysql_free_result(res);
    wd_buf_free(&q);
    return rc;
}

int store_read_rule_actions(store_reader_t *r, const char *rule, int version, int64_t from_ms,
                            int64_t to_ms, const char *run_id, store_undo_fn fn, void *ud,
                            char *errstr, size_t errstr_size)
{
    wd_buf_t q = WD_BUF_INIT;
    MYSQL_RES *res = NULL;
    int rc = 0;
    wd_buf_adds(&q, "SELECT a.run_id, a.event_id, a.stream, a.rules, a.verdict, a.entity_type, a.entity, "
                    "a.ttl, a.event_ts, a.topic, a.kafka_partition, a.kafka_offset, "
                    "h.version, h.verdict, h.rule_sha256, "
                    "(SELECT ELT(MAX(FIELD(o.verdict, 'flag', 'review', 'block')), 'flag', 'review', 'block') "
                    "   FROM rule_results o WHERE o.run_id = a.run_id AND o.event_id = a.event_id "
                    "   AND o.entity = a.entity AND o.entity_type = a.entity_type AND o.mode = 'enforce' "
                    "   AND o.rule <> h.rule), "
                    "(SELECT GROUP_CONCAT(o.rule ORDER BY o.rule SEPARATOR ',') "
                    "   FROM rule_results o WHERE o.run_id = a.run_id AND o.event_id = a.event_id "
                    "   AND o.entity = a.entity AND o.entity_type = a.entity_type AND o.mode = 'enforce' "
                    "   AND o.rule <> h.rule) "
                    "FROM rule_results h JOIN actions a ON a.run_id = h.run_id AND a.event_id = h.event_id "
                    "AND a.entity_type = h.entity_type AND a.entity = h.entity "
                    "WHERE h.mode = 'enforce' AND h.rule = ");
    add_hex(&q, rule, strlen(rule));
    if (version >= 0)
        wd_buf_printf(&q, " AND h.version = %d", version);
    wd_buf_adds(&q, " AND h.event_ts >= ");
    add_ts(&q, from_ms);
    wd_buf_adds(&q, " AND h.event_ts < ");
    add_ts(&q, to_ms);
    wd_buf_adds(&q, " AND h.run_id = ");
    add_hex(&q, run_id, strlen(run_id));
    wd_buf_adds(&q, " ORDER BY a.event_ts, a.event_id, a.entity_key");
    if ((rc = run_query(r, &q, &res, errstr, errstr_size)) != 0)
        goto done;
    MYSQL_ROW row;
    while (rc == 0 && res && (row = mysql_fetch_row(res))) {
        store_undo_item_t it;
        fill_action(&it.action, row, mysql_fetch_lengths(res), 0);
        it.version = row[12] ? atoi(row[12]) : 0;
        it.rule_verdict = row[13];
        it.rule_sha256 = row[14];
        it.rest_verdict = row[15] ? row[15] : "none";
        it.rest_rules = row[16] ? row[16] : "";
        rc = fn(ud, &it);
    }
done:
    mysql_free_result(res);
    wd_buf_free(&q);
    return rc;
}

int store_read_rule_labels(store_reader_t *r, const char *rule, int version, int64_t from_ms,
                           int64_t to_ms, const char *run_id, store_hist_fn fn, void *ud,
                           char *errstr, size_t errstr_size)
{
    wd_buf_t q = WD_BUF_INIT;
    MYSQL_RES *res = NULL;
    wd_buf_adds(&q, "SELECT " HIT_COLS " FROM rule_results WHERE mode = 'enforce' AND labels IS NOT NULL "
                    "AND rule = ");
    add_hex(&q, rule, strlen(rule));
    if (version >= 0)
        wd_buf_printf(&q, " AND version = %d", version);
    wd_buf_adds(&q, " AND event_ts >= ");
    add_ts(&q, from_ms);
    wd_buf_adds(&q, " AND event_ts < ");
    add_ts(&q, to_ms);
    wd_buf_adds(&q, " AND run_id = ");
    add_hex(&q, run_id, strlen(run_id));
    wd_buf_adds(&q, " ORDER BY event_ts, event_id");
    int rc = run_query(r, &q, &res, errstr, errstr_size);
    MYSQL_ROW row;
    while (rc == 0 && res && (row = mysql_fetch_row(res))) {
        store_hist_t h;
        fill_hit(&h, row, mysql_fetch_lengths(res));
        rc = fn(ud, &h);
    }
    mysql_free_result(res);
    wd_buf_free(&q);
    return rc;
}

int store_read_undo(store_reader_t *r, const char *undo_id, char *status, size_t status_size,
                    uint64_t *revoked, uint64_t *kept, char *errstr, size_t errstr_size)
{
    wd_buf_t q = WD_BUF_INIT;
    MYSQL_RES *res = NULL;
    wd_buf_adds(&q, "SELECT status, revoked, kept FROM undo_runs WHERE undo_id = ");
    add_hex(&q, undo_id, strlen(undo_id));
    int rc = run_query(r, &q, &res, errstr, errstr_size);
    if (status_size)
        status[0] = '\0';
    *revoked = *kept = 0;
    MYSQL_ROW row;
    if (rc == 0 && res && (row = mysql_fetch_row(res))) {
        snprintf(status, status_size, "%s", row[0] ? row[0] : "");
        *revoked = row[1] ? strtoull(row[1], NULL, 10) : 0;
        *kept = row[2] ? strtoull(row[2], NULL, 10) : 0;
    }
    mysql_free_result(res);
    wd_buf_free(&q);
    return rc;
}

int store_write_undo(store_reader_t *r, const char *undo_id, const char *rule, int version,
                     int64_t from_ms, int64_t to_ms, const char *status, uint64_t revoked,
                     uint64_t kept, char *errstr, size_t errstr_size)
{
    wd_buf_t q = WD_BUF_INIT;
    int64_t now = (int64_t)time(NULL) * 1000;
    int done = strcmp(status, "done") == 0;
    wd_buf_adds(&q, "INSERT INTO undo_runs (undo_id, rule, version, from_ts, to_ts, status, revoked, kept, "
                    "started_at, finished_at) VALUES (");
    add_hex(&q, undo_id, strlen(undo_id));
    wd_buf_addc(&q, ',');
    add_hex(&q, rule, strlen(rule));
    if (version >= 0)
        wd_buf_printf(&q, ",%d,", version);
    else
        wd_buf_adds(&q, ",NULL,");
    add_ts(&q, from_ms);
    wd_buf_addc(&q, ',');
    add_ts(&q, to_ms);
    wd_buf_printf(&q, ",'%s',%" PRIu64 ",%" PRIu64 ",", status, revoked, kept);
    add_ts(&q, now);
    wd_buf_addc(&q, ',');
    if (done)
        add_ts(&q, now);
    else
        wd_buf_adds(&q, "NULL");
    wd_buf_adds(&q, ")");
    if (r->dialect != STORE_DIALECT_STARROCKS)
        wd_buf_adds(&q, " ON DUPLICATE KEY UPDATE status = VALUES(status), revoked = VALUES(revoked), "
                        "kept = VALUES(kept), finished_at = VALUES(finished_at)");
    int rc = 0;
    if (mysql_real_query(r->m, q.data, q.len) != 0)
        rc = store_seterr(errstr, errstr_size, "store %s: undo_runs: %s", r->redacted, mysql_error(r->m));
    wd_buf_free(&q);
    return rc;
}
