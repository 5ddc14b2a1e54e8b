/* Runtime lists and manual labels.  See rules/rule_overlay.h.
 *
 * One open-addressing table (linear probing, load <= 1/2) of entries keyed
 * "L\0NAME\0VALUE" (a list entry) or "B\0ID\0LABEL" (a label); each entry
 * holds its changes sorted by effective time.  Entries are never removed:
 * a tombstone is a change back to "the file answers", so a replay over a
 * window before it still sees what was in force then. */
#include "rules/rule_overlay.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/wd_alloc.h"
#include "base/wd_util.h"
#include "rules/rule_counters.h"
#include "rules/rule_lists.h"
#include "state/state.h"
#include "state/state_hll.h"

#define OV_SEED 0x6f7665726c6179ull

typedef struct ov_change {
    int64_t time;     /* effective: applies to events with ts >= time */
    int64_t expire;   /* labels: the add's time + ttl; INT64_MAX otherwise */
    int64_t until;    /* label del: hides rule-set labels expiring <= until; INT64_MIN: none */
    int     op;       /* enum rule_ov_op */
    char   *who, *reason;
} ov_change_t;

typedef struct ov_entry {
    uint64_t     h;
    char        *key;     /* kind, NUL, name/id, NUL, value/label */
    size_t       klen;
    ov_change_t *c;
    size_t       n, cap;
    int          is_cidr;  /* a list entry whose value is an address or range */
    rule_cidr_t  cidr;
} ov_entry_t;

struct rule_overlay {
    ov_entry_t **slots;
    size_t       mask;
    size_t       n;
    uint64_t     records, changes;
    int          clamp;    /* rule_overlay_clamp_to_record_time */
    ov_entry_t **cidr;     /* the list entries with is_cidr, in arrival order */
    size_t       ncidr, capcidr;
};

rule_overlay_t *rule_overlay_new(void)
{
    rule_overlay_t *ov = wd_calloc(1, sizeof(*ov));
    if (!ov)
        return NULL;
    ov->mask = 63;
    ov->slots = wd_calloc(ov->mask + 1, sizeof(*ov->slots));
    if (!ov->slots) {
        free(ov);
        return NULL;
    }
    return ov;
}

void rule_overlay_destroy(rule_overlay_t *ov)
{
    if (!ov)
        return;
    for (size_t i = 0; i <= ov->mask; i++) {
        ov_entry_t *e = ov->slots[i];
        if (!e)
            continue;
        for (size_t k = 0; k < e->n; k++) {
            free(e->c[k].who);
            free(e->c[k].reason);
        }
        free(e->c);
        free(e->key);
        free(e);
    }
    free(ov->slots);
    free(ov->cidr);
    free(ov);
}

/* Builds the internal key kind\0a\0b into buf (at most cap bytes). */
static size_t make_key(char *buf, size_t cap, char kind, const char *a, size_t alen, const char *b,
                       size_t blen)
{
    size_t n = 1 + 1 + alen + 1 + blen;
    if (n > cap)
        return 0;
    buf[0] = kind;
    buf[1] = '\0';
    memcpy(buf + 2, a, alen);
    buf[2 + alen] = '\0';
    memcpy(buf + 3 + alen, b, blen);
    return n;
}

static ov_entry_t *find(const rule_overlay_t *ov, const char *key, size_t klen, uint64_t h)
{
    for (size_t i = h & ov->mask;; i = (i + 1) & ov->mask) {
        ov_entry_t *e = ov->slots[i];
        if (!e)
            return NULL;
        if (e->h == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return e;
    }
}

static int grow(rule_overlay_t *ov)
{
    size_t nm = ov->mask * 2 + 1;
    ov_entry_t **s = wd_calloc(nm + 1, sizeof(*s));
    if (!s)
        return -1;
    for (size_t i = 0; i <= ov->mask; i++) {
        ov_entry_t *e = ov->slots[i];
        if (!e)
            continue;
        size_t j = e->h & nm;
        while (s[j])
            j = (j + 1) & nm;
        s[j] = e;
    }
    free(ov->slots);
    ov->slots = s;
    ov->mask = nm;
    return 0;
}

static ov_entry_t *get_or_add(rule_overlay_t *ov, const char *key, size_t klen)
{
    uint64_t h = wd_hash64(key, klen, OV_SEED);
    ov_entry_t *e = find(ov, key, klen, h);
    if (e)
        return e;
    if ((ov->n + 1) * 2 > ov->mask + 1 && grow(ov) != 0)
        return NULL;
    e = wd_calloc(1, sizeof(*e));
    if (!e || !(e->key = wd_malloc(klen))) {
        free(e);
        return NULL;
    }
    memcpy(e->key, key, klen);
    e->klen = klen;
    e->h = h;
    size_t j = h & ov->mask;
    while (ov->slots[j])
        j = (j + 1) & ov->mask;
    ov->slots[j] = e;
    ov->n++;
    return e;
}

/* Inserts c after every change with time <= c->time (a later record with
 * the same time wins).  Takes ownership of c's strings on success. */
static int insert(rule_overlay_t *ov, ov_entry_t *e, const ov_change_t *c)
{
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 2;
        ov_change_t *nc = wd_realloc(e->c, cap * sizeof(*nc));
        if (!nc)
            return -1;
        e->c = nc;
        e->cap = cap;
    }
    size_t i = e->n;
    while (i > 0 && e->c[i - 1].time > c->time)
        i--;
    memmove(e->c + i + 1, e->c + i, (e->n - i) * sizeof(*e->c));
    e->c[i] = *c;
    e->n++;
    ov->changes++;
    return 0;
}

/* The change in force at ts: the last one with time <= ts, or NULL. */
static const ov_change_t *at(const ov_entry_t *e, int64_t ts)
{
    size_t lo = 0, hi = e->n;   /* first index with time > ts */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e->c[mid].time <= ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? &e->c[lo - 1] : NULL;
}

static const char *seg(const char *p, const char *end, size_t *len)
{
    const char *s = memchr(p, '/', (size_t)(end - p));
    if (!s)
        return NULL;
    *len = (size_t)(s - p);
    return s + 1;
}

static char *dup_str(json_t *j)
{
    const char *s = json_string_value(j);
    return s ? wd_strdup(s) : NULL;
}

int rule_overlay_apply(rule_overlay_t *ov, const void *keyp, size_t klen, const void *val,
                       size_t vlen, int64_t msg_ts_ms, char *errstr, size_t n)
{
    const char *k = keyp, *end = k + klen, *a, *b, *c3 = NULL;
    size_t alen, blen = 0, c3len = 0;
    char kind;
    if (klen > 5 && memcmp(k, "list/", 5) == 0) {
        kind = 'L';
        a = k + 5;
        b = seg(a, end, &alen);
        if (b)
            blen = (size_t)(end - b);
    } else if (klen > 6 && memcmp(k, "label/", 6) == 0) {
        kind = 'B';
        const char *type = k + 6, *label;
        size_t tlen;
        label = seg(type, end, &tlen);
        c3 = label ? seg(label, end, &c3len) : NULL;   /* c3: the id */
        if (c3 && tlen == 0)
            c3 = NULL;
        /* internal key: id, label */
        a = c3;
        alen = c3 ? (size_t)(end - c3) : 0;
        b = label;
        blen = c3len;
    } else {
        snprintf(errstr, n, "key is neither list/NAME/VALUE nor label/TYPE/LABEL/ID");
        return -1;
    }
    if (!a || !b || alen == 0 || blen == 0 || memchr(a, '\0', alen) || memchr(b, '\0', blen)) {
        snprintf(errstr, n, kind == 'L' ? "key must be list/NAME/VALUE with a name and a value"
                                        : "key must be label/TYPE/LABEL/ID with all four parts");
        return -1;
    }
    ov_change_t ch = { .time = msg_ts_ms, .expire = INT64_MAX, .until = INT64_MIN, .op = RULE_OV_FILE };
    if (val) {
        json_error_t je;
        json_t *j = json_loadb(val, vlen, 0, &je);
        if (!j || !json_is_object(j)) {
            snprintf(errstr, n, "value is not a JSON object%s%s", j ? "" : ": ", j ? "" : je.text);
            json_decref(j);
            return -1;
        }
        const char *op = json_string_value(json_object_get(j, "op"));
        json_t *t = json_object_get(j, "time");
        const char *ttl = json_string_value(json_object_get(j, "ttl"));
        int64_t ttl_ms = 0;
        if (op && strcmp(op, "add") == 0)
            ch.op = RULE_OV_ADD;
        else if (op && strcmp(op, "del") == 0)
            ch.op = RULE_OV_DEL;
        else {
            snprintf(errstr, n, "\"op\" must be \"add\" or \"del\"");
            json_decref(j);
            return -1;
        }
        if (json_is_integer(t)) {
            ch.time = json_integer_value(t);
        } else if (json_is_string(t)) {
            if (wd_parse_rfc3339(json_string_value(t), json_string_length(t), &ch.time) != 0) {
                snprintf(errstr, n, "\"time\" is not an RFC 3339 time: %s", json_string_value(t));
                json_decref(j);
                return -1;
            }
        } else if (t && !json_is_null(t)) {
            snprintf(errstr, n, "\"time\" must be an RFC 3339 string or epoch milliseconds");
            json_decref(j);
            return -1;
        }
        json_t *u = json_object_get(j, "rule_labels_until");
        if (u && !json_is_null(u)) {
            int ok = kind == 'B' && ch.op == RULE_OV_DEL;
            if (ok && json_is_integer(u))
                ch.until = json_integer_value(u);
            else if (ok && json_is_string(u))
                ok = wd_parse_rfc3339(json_string_value(u), json_string_length(u), &ch.until) == 0;
            else
                ok = 0;
            if (!ok) {
                snprintf(errstr, n, "\"rule_labels_until\" belongs to a label \"del\" and must be an RFC 3339 "
                                    "string or epoch milliseconds");
                json_decref(j);
                return -1;
            }
        }
        if (kind == 'B' && ch.op == RULE_OV_ADD) {
            if (!ttl || rule_parse_duration(ttl, &ttl_ms) != 0) {
                snprintf(errstr, n, "a label add needs \"ttl\", a duration such as \"30m\" or \"1d\"");
                json_decref(j);
                return -1;
            }
            ch.expire = ch.time + ttl_ms;
        }
        ch.who = dup_str(json_object_get(j, "who"));
        ch.reason = dup_str(json_object_get(j, "reason"));
        json_decref(j);
    }
    if (ov->clamp && msg_ts_ms != INT64_MIN && ch.time != INT64_MIN && ch.time < msg_ts_ms) {
        if (ch.op == RULE_OV_ADD && ch.expire != INT64_MAX)
            ch.expire += msg_ts_ms - ch.time;   /* a label keeps its ttl */
        ch.time = msg_ts_ms;
    }
    if (ch.time == INT64_MIN || ch.time < -STATE_TS_LIMIT_MS || ch.time > STATE_TS_LIMIT_MS) {
        snprintf(errstr, n, "no effective time (no \"time\" and no record timestamp)");
        free(ch.who);
        free(ch.reason);
        return -1;
    }
    char stack[512];
    size_t cap = 3 + alen + blen;
    char *key = cap <= sizeof stack ? stack : wd_malloc(cap);
    ov_entry_t *e = NULL;
    if (key) {
        size_t kl = make_key(key, cap, kind, a, alen, b, blen);
        e = get_or_add(ov, key, kl);
    }
    if (key != stack)
        free(key);
    if (e && kind == 'L' && e->n == 0 && !e->is_cidr) {
        char cerr[8];
        if (rule_cidr_parse(b, blen, &e->cidr, cerr, sizeof cerr) == 0) {
            if (ov->ncidr == ov->capcidr) {
                size_t nc = ov->capcidr ? ov->capcidr * 2 : 16;
                ov_entry_t **v = realloc(ov->cidr, nc * sizeof(*v));
                if (!v)
                    e = NULL;
                else {
                    ov->cidr = v;
                    ov->capcidr = nc;
                }
            }
            if (e) {
                e->is_cidr = 1;
                ov->cidr[ov->ncidr++] = e;
            }
        }
    }
    if (!e || insert(ov, e, &ch) != 0) {
        snprintf(errstr, n, "out of memory");
        free(ch.who);
        free(ch.reason);
        return -1;
    }
    ov->records++;
    return 0;
}

static const ov_entry_t *lookup(const rule_overlay_t *ov, char kind, const char *a, size_t alen,
                                const char *b, size_t blen)
{
    if (ov->n == 0)
        return NULL;
    char stack[512];
    size_t cap = 3 + alen + blen;
    char *key = cap <= sizeof stack ? stack : wd_malloc(cap);
    if (!key)
        return NULL;
    size_t kl = make_key(key, cap, kind, a, alen, b, blen);
    const ov_entry_t *e = find(ov, key, kl, wd_hash64(key, kl, OV_SEED));
    if (key != stack)
        free(key);
    return e;
}

int rule_overlay_in_list(const rule_overlay_t *ov, const char *name, const char *value,
                         size_t len, int64_t ts_ms)
{
    if (!ov)
        return -1;
    const ov_entry_t *e = lookup(ov, 'L', name, strlen(name), value, len);
    const ov_change_t *c = e ? at(e, ts_ms) : NULL;
    if (!c || c->op == RULE_OV_FILE)
        return -1;
    return c->op == RULE_OV_ADD;
}

void rule_overlay_clamp_to_record_time(rule_overlay_t *ov, int on)
{
    ov->clamp = on;
}

int rule_overlay_in_cidr(const rule_overlay_t *ov, const char *name, const char *value, size_t len,
                         int64_t ts_ms)
{
    unsigned char a[16];
    if (!ov || ov->ncidr == 0 || rule_addr_parse(value, len, a) != 0)
        return -1;
    size_t nl = strlen(name);
    const ov_change_t *best = NULL;
    int best_bits = -1;
    for (size_t i = 0; i < ov->ncidr; i++) {
        const ov_entry_t *e = ov->cidr[i];
        if (e->klen <= 3 + nl || memcmp(e->key + 2, name, nl) != 0 || e->key[2 + nl] != '\0' ||
            memcmp(a, e->cidr.lo, 16) < 0 || memcmp(a, e->cidr.hi, 16) > 0)
            continue;
        const ov_change_t *c = at(e, ts_ms);
        if (!c || c->op == RULE_OV_FILE)
            continue;
        if (e->cidr.bits > best_bits || (e->cidr.bits == best_bits && c->time > best->time)) {
            best = c;
            best_bits = e->cidr.bits;
        }
    }
    return best ? best->op == RULE_OV_ADD : -1;
}

int rule_overlay_has_label(const rule_overlay_t *ov, const char *entity, size_t elen,
                           const char *label, size_t llen, int64_t ts_ms)
{
    if (!ov)
        return 0;
    const ov_entry_t *e = lookup(ov, 'B', entity, elen, label, llen);
    const ov_change_t *c = e ? at(e, ts_ms) : NULL;
    return c && c->op == RULE_OV_ADD && ts_ms < c->expire;
}

int rule_overlay_label_hidden(const rule_overlay_t *ov, const char *entity, size_t elen,
                              const char *label, size_t llen, int64_t ts_ms, int64_t expire)
{
    if (!ov)
        return 0;
    const ov_entry_t *e = lookup(ov, 'B', entity, elen, label, llen);
    for (size_t i = 0; e && i < e->n && e->c[i].time <= ts_ms; i++)
        if (e->c[i].op == RULE_OV_DEL && e->c[i].until != INT64_MIN && e->c[i].until >= expire)
            return 1;
    return 0;
}

static int cmp_entry(const void *x, const void *y);

static void json_ms(wd_buf_t *b, const char *name, int64_t ms, int have)
{
    wd_buf_printf(b, ",\"%s\":", name);
    if (have)
        wd_buf_printf(b, "%" PRId64, ms);
    else
        wd_buf_adds(b, "null");
}

/* The entries of one kind ('B' labels of an entity, 'L' entries of a list)
 * under name, sorted by key, in a new array (*m of them).  Out of memory:
 * NULL and b marked failed, so the caller's answer is known to be short. */
static ov_entry_t **entries_under(const rule_overlay_t *ov, char kind, const char *name, size_t nl,
                                  wd_buf_t *b, size_t *m)
{
    *m = 0;
    if (!ov || !ov->n)
        return NULL;
    ov_entry_t **v = wd_malloc(ov->n * sizeof(*v));
    if (!v) {
        b->failed = 1;
        return NULL;
    }
    for (size_t i = 0; i <= ov->mask; i++) {
        ov_entry_t *e = ov->slots[i];
        if (e && e->key[0] == kind && e->klen > 3 + nl && memcmp(e->key + 2, name, nl) == 0 &&
            e->key[2 + nl] == '\0')
            v[(*m)++] = e;
    }
    if (*m > 1)
        qsort(v, *m, sizeof(*v), cmp_entry);
    return v;
}

/* ,"who":…,"reason":… of a change. */
static void who_reason_json(wd_buf_t *b, const ov_change_t *c)
{
    wd_buf_adds(b, ",\"who\":");
    wd_buf_json_str(b, c->who ? c->who : "", c->who ? strlen(c->who) : 0);
    wd_buf_adds(b, ",\"reason\":");
    if (c->reason)
        wd_buf_json_str(b, c->reason, strlen(c->reason));
    else
        wd_buf_adds(b, "null");
}

void rule_overlay_entity_labels_json(const rule_overlay_t *ov, const char *id, size_t idlen, wd_buf_t *b)
{
    size_t m;
    ov_entry_t **v = entries_under(ov, 'B', id, idlen, b, &m);
    wd_buf_addc(b, '[');
    int first = 1;
    for (size_t i = 0; i < m; i++) {
        const char *label = v[i]->key + 3 + idlen;
        size_t llen = v[i]->klen - 3 - idlen;
        for (size_t k = 0; k < v[i]->n; k++) {
            const ov_change_t *c = &v[i]->c[k];
            if (!first)
                wd_buf_addc(b, ',');
            first = 0;
            wd_buf_adds(b, "{\"label\":");
            wd_buf_json_str(b, label, llen);
            wd_buf_adds(b, c->op == RULE_OV_ADD ? ",\"op\":\"add\"" : c->op == RULE_OV_DEL ? ",\"op\":\"del\""
                                                                                : ",\"op\":\"file\"");
            json_ms(b, "time_ms", c->time, 1);
            json_ms(b, "expires_ms", c->expire, c->op == RULE_OV_ADD);
            json_ms(b, "rule_labels_until_ms", c->until, c->until != INT64_MIN);
            who_reason_json(b, c);
            wd_buf_addc(b, '}');
        }
    }
    wd_buf_addc(b, ']');
    free(v);
}

void rule_overlay_list_key(wd_buf_t *b, const char *name, const char *value, size_t len)
{
    wd_buf_adds(b, "list/");
    wd_buf_adds(b, name);
    wd_buf_addc(b, '/');
    wd_buf_add(b, value, len);
}

void rule_overlay_label_key(wd_buf_t *b, const char *type, const char *label, const char *id,
                            size_t idlen)
{
    wd_buf_adds(b, "label/");
    wd_buf_adds(b, type);
    wd_buf_addc(b, '/');
    wd_buf_adds(b, label);
    wd_buf_addc(b, '/');
    wd_buf_add(b, id, idlen);
}

void rule_overlay_value(wd_buf_t *b, int op, int64_t time_ms, const char *who,
                        const char *reason, const char *ttl, int64_t rule_labels_until)
{
    wd_buf_adds(b, op == RULE_OV_ADD ? "{\"op\":\"add\",\"time\":\"" : "{\"op\":\"del\",\"time\":\"");
    wd_buf_rfc3339(b, time_ms);
    wd_buf_adds(b, "\",\"who\":");
    wd_buf_json_str(b, who ? who : "", who ? strlen(who) : 0);
    wd_buf_adds(b, ",\"reason\":");
    if (reason)
        wd_buf_json_str(b, reason, strlen(reason));
    else
        wd_buf_adds(b, "null");
    if (ttl) {
        wd_buf_adds(b, ",\"ttl\":");
        wd_buf_json_str(b, ttl, strlen(ttl));
    }
    if (rule_labels_until != INT64_MIN) {
        wd_buf_adds(b, ",\"rule_labels_until\":\"");
        wd_buf_rfc3339(b, rule_labels_until);
        wd_buf_addc(b, '"');
    }
    wd_buf_addc(b, '}');
}

static int cmp_entry(const void *x, const void *y)
{
    const ov_entry_t *a = *(const ov_entry_t *const *)x, *b = *(const ov_entry_t *const *)y;
    size_t n = a->klen < b->klen ? a->klen : b->klen;
    int c = memcmp(a->key, b->key, n);
    return c ? c : (a->klen > b->klen) - (a->klen < b->klen);
}

void rule_overlay_list_json(const rule_overlay_t *ov, const char *name, wd_buf_t *b,
                            size_t *added, size_t *deleted)
{
    size_t nl = strlen(name), m;
    *added = *deleted = 0;
    ov_entry_t **v = entries_under(ov, 'L', name, nl, b, &m);
    wd_buf_addc(b, '[');
    int first = 1;
    for (size_t i = 0; i < m; i++) {
        const ov_change_t *c = &v[i]->c[v[i]->n - 1];
        if (c->op == RULE_OV_FILE)
            continue;
        if (c->op == RULE_OV_ADD)
            (*added)++;
        else
            (*deleted)++;
        if (!first)
            wd_buf_addc(b, ',');
        first = 0;
        const char *val = v[i]->key + 3 + nl;
        wd_buf_adds(b, "{\"value\":");
        wd_buf_json_str(b, val, v[i]->klen - 3 - nl);
        wd_buf_adds(b, c->op == RULE_OV_ADD ? ",\"op\":\"add\",\"time\":\"" : ",\"op\":\"del\",\"time\":\"");
        wd_buf_rfc3339(b, c->time);
        wd_buf_addc(b, '"');
        who_reason_json(b, c);
        wd_buf_addc(b, '}');
    }
    wd_buf_addc(b, ']');
    free(v);
}

void rule_overlay_stats(const rule_overlay_t *ov, rule_overlay_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!ov)
        return;
    out->records = ov->records;
    out->entries = ov->n;
    out->changes = ov->changes;
}
