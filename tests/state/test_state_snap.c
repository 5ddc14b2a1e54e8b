/* tests/state/test_state_snap.c — snapshots and changelog entries of
 * state/state: a round trip gives identical answers now and after
 * more identical events (eviction included); flipped bytes, truncation,
 * trailing bytes, a wrong version or other counters are refused with a
 * clear message and leave the target state exactly as it was; payloads
 * re-checksummed after mutation never crash or half-load; allocation
 * failures while loading change nothing; the per-key changelog (records
 * per changed key and label, tombstones, restore, rollback, migration
 * from a snapshot) gives the live state back; a snapshot over its size
 * limit sheds least recently used keys until it fits; a snapshot of
 * changed counters carries over the unchanged ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "state/state.h"

#define SEC  1000LL
#define MIN  (60 * SEC)
#define HOUR (60 * MIN)
#define DAY  (24 * HOUR)
#define D0   (20412 * DAY)

static const int64_t w4[] = { MIN, HOUR, DAY, 7 * DAY };
static const int64_t w2[] = { HOUR, DAY };
static const state_counter_def_t defs[] = {
    { "pins_by_user", "pin_create", "user.id", NULL, w4, 4 },
    { "ips_by_user", "login", "user.id", "ip", w2, 2 },
    { "fails_by_ip", "login", "ip", NULL, w2, 2 },
};
#define NDEFS 3

static state_t *mk(size_t max_bytes)
{
    char err[256];
    state_t *st = state_new(defs, NDEFS, max_bytes, err, sizeof err);
    assert_non_null(st);
    return st;
}

static void key_of(char *buf, size_t n, int k)
{
    /* some keys longer than the inline key size */
    if (k % 7 == 0)
        snprintf(buf, n, "user-with-a-rather-long-identifier-%d", k);
    else
        snprintf(buf, n, "u%d", k);
}

/* One random event into st: counters, and now and then a label. */
static void feed(state_t *st, int64_t ts, uint64_t r)
{
    char k[64], v[32];
    key_of(k, sizeof k, (int)(r % 200));
    state_advance(st, ts);
    state_add(st, 0, k, strlen(k), ts);
    /* u3 gets many distinct values: its buckets become sketches */
    int heavy = r % 200 == 3;
    snprintf(v, sizeof v, "10.%d.%d.%d", (int)(r >> 8) % 4, (int)(r >> 16) % 256,
             heavy ? (int)(r >> 24) % 256 : (int)(r >> 24) % 3);
    state_add_distinct(st, 1, k, strlen(k), v, strlen(v), ts);
    state_add(st, 2, v, strlen(v), ts);
    if ((r >> 40) % 10 == 0)
        state_label_set(st, k, strlen(k), "suspect", 7, ts + (int64_t)((r >> 44) % (2 * HOUR)));
}

static uint64_t event_r(int i)
{
    /* deterministic per index so two states can be fed the same stream */
    uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull + 12345;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    return x;
}

static int64_t event_ts(int i)
{
    return D0 + (int64_t)i * 2 * SEC - ((event_r(i) >> 50) % 4 == 0 ? 30 * MIN : 0);
}

/* Every read the rules could make, as one number per (counter, key, window,
 * time) plus labels and stats; equal digests mean equal answers. */
static void answers(state_t *st, int64_t now, int64_t *out, size_t *n)
{
    size_t j = 0;
    char k[64];
    for (int key = 0; key < 200; key++) {
        key_of(k, sizeof k, key);
        for (int t = 0; t < 2; t++) {
            int64_t at = now - t * 10 * MIN;
            for (size_t w = 0; w < 4; w++)
                out[j++] = state_count(st, 0, k, strlen(k), w4[w], at);
            for (size_t w = 0; w < 2; w++)
                out[j++] = state_distinct(st, 1, k, strlen(k), w2[w], at);
            out[j++] = state_label_has(st, k, strlen(k), "suspect", 7, at);
        }
    }
    for (int ip = 0; ip < 64; ip++) {
        char v[32];
        snprintf(v, sizeof v, "10.%d.%d.%d", ip % 4, ip, ip % 3);
        out[j++] = state_count(st, 2, v, strlen(v), HOUR, now);
    }
    state_stats_t s;
    state_stats(st, &s);
    out[j++] = (int64_t)s.keys;
    out[j++] = (int64_t)s.labels;
    out[j++] = (int64_t)s.bytes;
    *n = j;
}

#define NANS (200 * 2 * 7 + 64 + 3)

static void assert_same_answers(state_t *a, state_t *b, int64_t now)
{
    static int64_t x[NANS], y[NANS];
    size_t nx, ny;
    answers(a, now, x, &nx);
    answers(b, now, y, &ny);
    assert_int_equal(nx, ny);
    for (size_t i = 0; i < nx; i++)
        if (x[i] != y[i])
            fail_msg("answer %zu differs: %lld vs %lld", i, (long long)x[i], (long long)y[i]);
}

static int64_t sum_answers(state_t *st, int64_t now)
{
    static int64_t x[NANS];
    size_t n;
    answers(st, now, x, &n);
    int64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * (int64_t)(i + 1);
    return s;
}

/* Saved and loaded, a state answers exactly as the original, and keeps
 * doing so as both get the same further events under a byte ceiling that
 * forces LRU evictions. */
static void test_snapshot_round_trip_answers_identical(void **s)
{
    (void)s;
    state_t *a = mk(0);
    int i;
    for (i = 0; i < 20000; i++)
        feed(a, event_ts(i), event_r(i));
    int64_t now = event_ts(i - 1);
    wd_buf_t buf = WD_BUF_INIT;
    assert_int_equal(state_save_buf(a, &buf), 0);
    state_t *b = mk(0);
    char err[400];
    if (state_load_buf(b, buf.data, buf.len, err, sizeof err) != 0)
        fail_msg("load: %s", err);
    assert_true(state_clock(b) == state_clock(a));
    assert_same_answers(a, b, now);
    state_stats_t sa;
    state_stats(a, &sa);
    print_message("snapshot: %zu bytes for %llu keys, %llu labels (%llu accounted bytes)\n",
                  buf.len, (unsigned long long)sa.keys, (unsigned long long)sa.labels,
                  (unsigned long long)sa.bytes);
    /* after the same reads (which touch LRU order) both save the same bytes */
    wd_buf_t sa_buf = WD_BUF_INIT, sb_buf = WD_BUF_INIT;
    assert_int_equal(state_save_buf(a, &sa_buf), 0);
    assert_int_equal(state_save_buf(b, &sb_buf), 0);
    assert_int_equal(sa_buf.len, sb_buf.len);
    assert_memory_equal(sa_buf.data, sb_buf.data, sa_buf.len);
    wd_buf_free(&sa_buf);
    wd_buf_free(&sb_buf);
    /* continue both under a ceiling */
    state_set_max_bytes(a, (size_t)sa.bytes / 2);
    state_set_max_bytes(b, (size_t)sa.bytes / 2);
    for (int j = 0; j < 20000; j++, i++) {
        feed(a, event_ts(i), event_r(i));
        feed(b, event_ts(i), event_r(i));
        if (j % 4000 == 0)
            assert_same_answers(a, b, event_ts(i));
    }
    assert_same_answers(a, b, event_ts(i - 1));
    state_stats(b, &sa);
    assert_true(sa.evictions > 0);
    wd_buf_free(&buf);
    state_destroy(a);
    state_destroy(b);
}

static void test_snapshot_file_round_trip(void **s)
{
    (void)s;
    char dir[] = "/tmp/test_state_snap.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], err[400];
    snprintf(path, sizeof path, "%s/state.snap", dir);
    state_t *a = mk(0);
    for (int i = 0; i < 3000; i++)
        feed(a, event_ts(i), event_r(i));
    assert_int_equal(state_save_file(a, path, err, sizeof err), 0);
    char tmp[140];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_not_equal(access(tmp, F_OK), 0);   /* renamed into place */
    state_t *b = mk(0);
    if (state_load_file(b, path, err, sizeof err) != 0)
        fail_msg("load: %s", err);
    assert_same_answers(a, b, event_ts(2999));
    /* errors name the file */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/nope.snap", dir);
    assert_int_equal(state_load_file(b, missing, err, sizeof err), -1);
    assert_non_null(strstr(err, missing));
    snprintf(missing, sizeof missing, "%s/no/such/dir.snap", dir);
    assert_int_equal(state_save_file(a, missing, err, sizeof err), -1);
    assert_non_null(strstr(err, "dir.snap"));
    unlink(path);
    rmdir(dir);
    state_destroy(a);
    state_destroy(b);
}

/* A state with content of its own, to show that a refused load leaves it. */
static state_t *target_n(int n)
{
    state_t *t = mk(0);
    for (int i = 50500 - n; i < 50500; i++)
        feed(t, event_ts(i), event_r(i));
    return t;
}

static state_t *target(void)
{
    state_t *t = mk(0);
    for (int i = 50000; i < 50500; i++)
        feed(t, event_ts(i), event_r(i));
    return t;
}

static void expect_refused(state_t *t, int64_t before, const void *buf, size_t len,
                           const char *msg_part)
{
    char err[400] = "";
    assert_int_equal(state_load_buf(t, buf, len, err, sizeof err), -1);
    if (msg_part && strstr(err, msg_part) == NULL)
        fail_msg("error \"%s\" does not mention \"%s\"", err, msg_part);
    assert_true(err[0] != '\0');
    assert_true(sum_answers(t, event_ts(50499)) == before);
}

static uint32_t crc32_ref(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Header: magic[8] version[4] flags[4] fingerprint[8] len[8] crc[4] hcrc[4]. */
static void reseal(unsigned char *b, size_t len)
{
    put32(b + 32, crc32_ref(b + 40, len - 40));
    put32(b + 36, crc32_ref(b, 36));
}

static void test_snapshot_corruption_refused_state_unchanged(void **s)
{
    (void)s;
    state_t *a = mk(0);
    for (int i = 0; i < 300; i++)
        feed(a, event_ts(i), event_r(i));
    /* one key with sketches, so sketch records get mutated too */
    char v[32];
    for (int i = 0; i < 200; i++) {
        snprintf(v, sizeof v, "v%d", i);
        state_add_distinct(a, 1, "heavy", 5, v, strlen(v), event_ts(299));
    }
    wd_buf_t buf = WD_BUF_INIT;
    assert_int_equal(state_save_buf(a, &buf), 0);
    size_t len = buf.len;
    unsigned char *b = malloc(len + 16);
    state_t *t = target();
    int64_t before = sum_answers(t, event_ts(50499));

    /* every header byte and ~150 payload bytes, one bit flipped each */
    for (size_t pos = 0; pos < len; pos += pos < 40 ? 1 : 1 + len / 150) {
        memcpy(b, buf.data, len);
        b[pos] ^= (unsigned char)(1u << (pos % 8));
        expect_refused(t, before, b, len, pos < 8 ? "not a warden state snapshot" : NULL);
    }
    memcpy(b, buf.data, len);
    b[100] ^= 0x40;
    expect_refused(t, before, b, len, "payload checksum mismatch");
    memcpy(b, buf.data, len);
    b[20] ^= 1;
    expect_refused(t, before, b, len, "header checksum mismatch");

    /* truncated anywhere, or with bytes after the end */
    size_t cuts[] = { 0, 1, 8, 39, 40, 41, len / 2, len - 1 };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        expect_refused(t, before, buf.data, cuts[i], NULL);
    expect_refused(t, before, buf.data, len - 1, "truncated");
    memcpy(b, buf.data, len);
    memset(b + len, 0, 16);
    expect_refused(t, before, b, len + 16, "trailing");

    /* a future version, correctly checksummed */
    memcpy(b, buf.data, len);
    put32(b + 8, 3);
    reseal(b, len);
    expect_refused(t, before, b, len, "version 3 is not supported");

    /* other counters: a state built from different specs */
    int64_t w[] = { HOUR };
    state_counter_def_t other = { "x", "s", "k", NULL, w, 1 };
    char err[400];
    state_t *o = state_new(&other, 1, 0, err, sizeof err);
    assert_int_equal(state_load_buf(o, buf.data, len, err, sizeof err), -1);
    assert_non_null(strstr(err, "other counters"));
    state_destroy(o);
    /* a changed window is another spec too */
    int64_t w4b[] = { MIN, HOUR, DAY, 6 * DAY };
    state_counter_def_t d2[NDEFS];
    memcpy(d2, defs, sizeof d2);
    d2[0].windows_ms = w4b;
    o = state_new(d2, NDEFS, 0, err, sizeof err);
    assert_true(state_fingerprint(o) != state_fingerprint(a));
    assert_int_equal(state_load_buf(o, buf.data, len, err, sizeof err), -1);
    state_destroy(o);

    /* payload mutations re-sealed with valid checksums: each is either a
     * consistent state or refused; never a crash, never half-loaded */
    int refused = 0, loaded = 0;
    state_t *small = target_n(20);
    int64_t small_sum = sum_answers(small, event_ts(50499));
    state_destroy(small);
    for (size_t pos = 40; pos < len; pos += 1 + len / 300) {
        for (int bit = 0; bit < 8; bit += 3) {
            memcpy(b, buf.data, len);
            b[pos] ^= (unsigned char)(1u << bit);
            reseal(b, len);
            state_t *u = target_n(20);
            if (state_load_buf(u, b, len, err, sizeof err) == 0) {
                loaded++;
                (void)sum_answers(u, event_ts(299));
            } else {
                refused++;
                assert_non_null(strstr(err, "snapshot rejected"));
                assert_true(sum_answers(u, event_ts(50499)) == small_sum);
            }
            state_destroy(u);
        }
    }
    print_message("re-sealed mutations: %d refused, %d loaded as another valid state\n", refused,
                  loaded);
    assert_true(refused > 0);

    /* the target still loads the good snapshot */
    assert_int_equal(state_load_buf(t, buf.data, len, err, sizeof err), 0);
    assert_same_answers(a, t, event_ts(299));
    assert_int_equal(state_distinct(t, 1, "heavy", 5, HOUR, event_ts(299)),
                     state_distinct(a, 1, "heavy", 5, HOUR, event_ts(299)));
    free(b);
    wd_buf_free(&buf);
    state_destroy(a);
    state_destroy(t);
}

/* Fail allocation N = 1, 2, … while loading: each failure is reported and
 * leaves the target as it was; then the load succeeds. */
static void test_snapshot_load_alloc_failures_leave_state_unchanged(void **s)
{
    (void)s;
    state_t *a = mk(0);
    for (int i = 0; i < 100; i++)
        feed(a, event_ts(i), event_r(i));
    wd_buf_t buf = WD_BUF_INIT;
    assert_int_equal(state_save_buf(a, &buf), 0);
    state_t *t = target();
    int64_t before = sum_answers(t, event_ts(50499));
    char err[400];
    int rc = -1;
    long n;
    for (n = 1; n < 100000 && rc != 0; n++) {
        state_fail_alloc_after(t, n);
        rc = state_load_buf(t, buf.data, buf.len, err, sizeof err);
        state_fail_alloc_after(t, 0);
        if (rc != 0) {
            assert_non_null(strstr(err, "out of memory"));
            assert_true(sum_answers(t, event_ts(50499)) == before);
        }
    }
    assert_int_equal(rc, 0);
    assert_true(n > 10);
    assert_same_answers(a, t, event_ts(99));
    wd_buf_free(&buf);
    state_destroy(a);
    state_destroy(t);
}

/* ---- the per-key changelog ---- */

typedef struct rec_log {
    wd_buf_t data;     /* u32 idlen | id | u32 vlen+1 (0: tombstone) | value ... */
    size_t   n, tombstones, batch_start;
    int      dup;      /* an id emitted twice in one batch */
} rec_log_t;

static int log_emit(void *ud, const void *id, size_t idlen, const void *val, size_t vlen)
{
    rec_log_t *l = ud;
    /* ids are unique within one batch's records */
    size_t off = l->batch_start;
    while (off < l->data.len) {
        uint32_t il, vl;
        memcpy(&il, l->data.data + off, 4);
        if (il == idlen && memcmp(l->data.data + off + 4, id, idlen) == 0)
            l->dup = 1;
        memcpy(&vl, l->data.data + off + 4 + il, 4);
        off += 8 + il + (vl ? vl - 1 : 0);
    }
    uint32_t il = (uint32_t)idlen, vl = val ? (uint32_t)vlen + 1 : 0;
    wd_buf_add(&l->data, &il, 4);
    wd_buf_add(&l->data, id, idlen);
    wd_buf_add(&l->data, &vl, 4);
    if (val)
        wd_buf_add(&l->data, val, vlen);
    l->n++;
    l->tombstones += val == NULL;
    return 0;
}

static void log_batch(state_t *st, rec_log_t *l)
{
    l->batch_start = l->data.len;
    assert_int_equal(state_log_changes(st, log_emit, l), 0);
    state_log_commit(st);
    assert_int_equal(state_log_pending(st), 0);
}

/* Applies every record of l to st, oldest first; returns how many were
 * passed over. */
static size_t log_replay(state_t *st, const rec_log_t *l)
{
    char err[400];
    size_t off = 0, skipped = 0;
    while (off < l->data.len) {
        uint32_t il, vl;
        memcpy(&il, l->data.data + off, 4);
        const char *id = l->data.data + off + 4;
        memcpy(&vl, id + il, 4);
        const char *v = vl ? id + il + 4 : NULL;
        int rc = state_log_apply(st, id, il, v, vl ? vl - 1 : 0, err, sizeof err);
        if (rc < 0)
            fail_msg("apply: %s", err);
        skipped += rc == 1;
        off += 8 + il + (vl ? vl - 1 : 0);
    }
    state_log_restored(st);
    return skipped;
}

/* A tracked state's records, batch after batch (one record per changed
 * key and label, ids unique in a batch, evictions and expiry as
 * tombstones), put back into an empty state answer as the live one does;
 * with a byte ceiling too. */
static void log_round_trip(size_t max_bytes)
{
    state_t *a = mk(max_bytes), *b = mk(max_bytes);
    assert_int_equal(state_log_track(a, 1), 0);
    rec_log_t l = { WD_BUF_INIT, 0, 0, 0, 0 };
    size_t per_batch_max = 0;
    for (int i = 0; i < 6000; i++) {
        feed(a, event_ts(i), event_r(i));
        if (i % 250 == 249) {
            size_t before = l.n;
            log_batch(a, &l);
            if (l.n - before > per_batch_max)
                per_batch_max = l.n - before;
        }
    }
    log_batch(a, &l);
    assert_false(l.dup);
    /* a batch of 250 events changes far fewer entries than a whole state holds */
    state_stats_t sa;
    state_stats(a, &sa);
    assert_true(per_batch_max < 250 * 4 + 1);
    assert_true(l.tombstones > 0);   /* expiry (and the ceiling) removed keys */
    assert_int_equal(log_replay(b, &l), 0);
    state_expire(a);
    assert_true(state_clock(b) == state_clock(a));
    assert_same_answers(a, b, event_ts(5999));
    /* and both go on alike */
    for (int i = 6000; i < 7000; i++) {
        feed(a, event_ts(i), event_r(i));
        feed(b, event_ts(i), event_r(i));
    }
    assert_same_answers(a, b, event_ts(6999));
    wd_buf_free(&l.data);
    state_destroy(a);
    state_destroy(b);
}

static void test_log_records_restore_the_live_state(void **s)
{
    (void)s;
    log_round_trip(0);
}

static void test_log_records_restore_under_a_ceiling(void **s)
{
    (void)s;
    log_round_trip(64 * 1024);
}

/* warden rewind's marker: the clock's tombstone drops everything restored
 * before it (entries and clock), so a state rebuilt as of an earlier time
 * and written after it restores as itself even though the older records,
 * with their later clock, come first on the topic.  Without the marker the
 * clock stays at the old, later time (records only move it forward). */
static void test_log_clock_tombstone_restarts_the_history(void **s)
{
    (void)s;
    state_t *live = mk(0), *rebuilt = mk(0);
    assert_int_equal(state_log_track(live, 1), 0);
    assert_int_equal(state_log_track(rebuilt, 1), 0);
    rec_log_t old = { WD_BUF_INIT, 0, 0, 0, 0 }, neu = { WD_BUF_INIT, 0, 0, 0, 0 };
    for (int i = 0; i < 6000; i++) {
        feed(live, event_ts(i), event_r(i));
        if (i % 500 == 499)
            log_batch(live, &old);
    }
    for (int i = 1000; i < 3000; i++)
        feed(rebuilt, event_ts(i), event_r(i));
    log_batch(rebuilt, &neu);
    /* old records, the marker, the rebuilt records: one topic */
    rec_log_t all = { WD_BUF_INIT, 0, 0, 0, 0 };
    wd_buf_add(&all.data, old.data.data, old.data.len);
    uint32_t il = 1, vl = 0;
    wd_buf_add(&all.data, &il, 4);
    wd_buf_add(&all.data, "K", 1);
    wd_buf_add(&all.data, &vl, 4);
    wd_buf_add(&all.data, neu.data.data, neu.data.len);
    state_t *b = mk(0);
    assert_int_equal(log_replay(b, &all), 0);
    state_expire(rebuilt);   /* as the restore does */
    assert_true(state_clock(b) == state_clock(rebuilt));
    assert_same_answers(rebuilt, b, event_ts(2999));
    /* and both go on alike */
    for (int i = 3000; i < 4000; i++) {
        feed(rebuilt, event_ts(i), event_r(i));
        feed(b, event_ts(i), event_r(i));
    }
    assert_same_answers(rebuilt, b, event_ts(3999));
    /* the control: without the marker the old clock wins */
    rec_log_t nomark = { WD_BUF_INIT, 0, 0, 0, 0 };
    wd_buf_add(&nomark.data, old.data.data, old.data.len);
    wd_buf_add(&nomark.data, neu.data.data, neu.data.len);
    state_t *c = mk(0);
    assert_int_equal(log_replay(c, &nomark), 0);
    assert_true(state_clock(c) == state_clock(live));
    assert_true(state_clock(c) > event_ts(2999));
    wd_buf_free(&old.data);
    wd_buf_free(&neu.data);
    wd_buf_free(&all.data);
    wd_buf_free(&nomark.data);
    state_destroy(live);
    state_destroy(rebuilt);
    state_destroy(b);
    state_destroy(c);
}

/* A rollback puts back exactly the state of the last commit (keys
 * changed, created, evicted and expired in the batch, labels, the clock),
 * so the batch done again answers as if it had never been done. */
static void test_log_rollback_restores_the_last_commit(void **s)
{
    (void)s;
    for (int ceiling = 0; ceiling < 2; ceiling++) {
        size_t mb = ceiling ? 64 * 1024 : 0;
        state_t *a = mk(mb), *c = mk(mb);
        assert_int_equal(state_log_track(a, 1), 0);
        for (int i = 0; i < 3000; i++)
            feed(a, event_ts(i), event_r(i));
        state_log_commit(a);
        wd_buf_t snap = WD_BUF_INIT;
        char err[400];
        assert_int_equal(state_save_buf(a, &snap), 0);
        assert_int_equal(state_load_buf(c, snap.data, snap.len, err, sizeof err), 0);
        int64_t clock = state_clock(a);
        /* a batch that moves the clock an hour on (expiry) and adds keys */
        for (int i = 3000; i < 5000; i++)
            feed(a, event_ts(i), event_r(i));
        assert_true(state_log_pending(a) > 0);
        assert_int_equal(state_log_rollback(a), 0);
        assert_true(state_clock(a) == clock);
        assert_int_equal(state_log_pending(a), 0);
        assert_same_answers(a, c, event_ts(2999));
        for (int i = 3000; i < 5000; i++) {
            feed(a, event_ts(i), event_r(i));
            feed(c, event_ts(i), event_r(i));
        }
        assert_same_answers(a, c, event_ts(4999));
        wd_buf_free(&snap);
        state_destroy(a);
        state_destroy(c);
    }
}

/* A commit in flight (state_log_seal): the sealed batch's records are
 * handed out, the next batch is counted, and then either the sealed batch
 * commits — its log goes, the open batch's stays, and its records (put
 * out at its own commit) on top of the first restore the live state — or
 * the commit fails and the rollback puts back both batches: the state of
 * the last commit, clock included. */
static void test_log_seal_commits_one_batch_rolls_back_both(void **s)
{
    (void)s;
    for (int fail = 0; fail < 2; fail++) {
        state_t *a = mk(0), *c = mk(0), *b = mk(0);
        assert_int_equal(state_log_track(a, 1), 0);
        rec_log_t l = { WD_BUF_INIT, 0, 0, 0, 0 };
        for (int i = 0; i < 3000; i++)
            feed(a, event_ts(i), event_r(i));
        log_batch(a, &l);   /* the last commit */
        wd_buf_t snap = WD_BUF_INIT;
        char err[400];
        assert_int_equal(state_save_buf(a, &snap), 0);
        assert_int_equal(state_load_buf(c, snap.data, snap.len, err, sizeof err), 0);
        int64_t clock = state_clock(a);
        /* batch 1: its records out, then sealed while its commit flies */
        for (int i = 3000; i < 4000; i++)
            feed(a, event_ts(i), event_r(i));
        size_t sealed_n = state_log_pending(a);
        assert_true(sealed_n > 0);
        rec_log_t l1 = { WD_BUF_INIT, 0, 0, 0, 0 };
        assert_int_equal(state_log_changes(a, log_emit, &l1), 0);
        assert_int_equal(state_log_seal(a), 0);
        assert_int_equal(state_log_pending(a), 0);   /* the open batch's log is empty */
        /* batch 2, counted meanwhile: its log holds its own changes only */
        for (int i = 4000; i < 5000; i++)
            feed(a, event_ts(i), event_r(i));
        size_t open_n = state_log_pending(a);
        assert_true(open_n > 0);
        if (fail) {
            assert_int_equal(state_log_rollback(a), 0);
            assert_true(state_clock(a) == clock);
            assert_int_equal(state_log_pending(a), 0);
            assert_same_answers(a, c, event_ts(2999));
            for (int i = 3000; i < 5000; i++) {
                feed(a, event_ts(i), event_r(i));
                feed(c, event_ts(i), event_r(i));
            }
            assert_same_answers(a, c, event_ts(4999));
        } else {
            state_log_commit(a);   /* batch 1 durable: batch 2 still logged */
            assert_int_equal(state_log_pending(a), open_n);
            wd_buf_add(&l.data, l1.data.data, l1.data.len);
            log_batch(a, &l);      /* batch 2's records */
            assert_int_equal(log_replay(b, &l), 0);
            state_expire(a);
            assert_true(state_clock(b) == state_clock(a));
            assert_same_answers(a, b, event_ts(4999));
        }
        wd_buf_free(&l.data);
        wd_buf_free(&l1.data);
        wd_buf_free(&snap);
        state_destroy(a);
        state_destroy(b);
        state_destroy(c);
    }
}

/* After loading a whole-state snapshot (the old changelog format),
 * mark_all has the next records carry every live entry. */
static void test_log_mark_all_emits_every_entry(void **s)
{
    (void)s;
    state_t *a = mk(0), *b = mk(0), *c = mk(0);
    for (int i = 0; i < 3000; i++)
        feed(a, event_ts(i), event_r(i));
    wd_buf_t snap = WD_BUF_INIT;
    char err[400];
    assert_int_equal(state_save_buf(a, &snap), 0);
    assert_int_equal(state_log_track(b, 1), 0);
    assert_int_equal(state_load_buf(b, snap.data, snap.len, err, sizeof err), 0);
    state_expire(b);   /* stats count live entries only */
    state_log_mark_all(b);
    rec_log_t l = { WD_BUF_INIT, 0, 0, 0, 0 };
    log_batch(b, &l);
    state_stats_t sb;
    state_stats(b, &sb);
    assert_true(l.n >= sb.keys + sb.labels);
    log_replay(c, &l);
    state_expire(a);
    assert_same_answers(a, c, event_ts(2999));
    wd_buf_free(&l.data);
    wd_buf_free(&snap);
    state_destroy(a);
    state_destroy(b);
    state_destroy(c);
}

/* A corrupt record is refused and changes nothing; a record of a counter
 * that is gone or whose spec changed is passed over (1). */
static void test_log_bad_records_refused_foreign_passed_over(void **s)
{
    (void)s;
    state_t *a = mk(0), *b = mk(0);
    assert_int_equal(state_log_track(a, 1), 0);
    state_add(a, 0, "u1", 2, D0);
    state_add(a, 0, "u1", 2, D0 + MIN);
    rec_log_t l = { WD_BUF_INIT, 0, 0, 0, 0 };
    log_batch(a, &l);
    assert_int_equal(l.n, 2);   /* the key and the clock */
    uint32_t il, vl;
    memcpy(&il, l.data.data, 4);
    char *id = l.data.data + 4;
    memcpy(&vl, id + il, 4);
    char *v = id + il + 4;
    size_t vlen = vl - 1;
    char err[400];
    unsigned char *x = malloc(vlen);
    for (size_t pos = 0; pos < vlen; pos++) {
        memcpy(x, v, vlen);
        x[pos] ^= 0x10;
        assert_int_equal(state_log_apply(b, id, il, x, vlen, err, sizeof err), -1);
    }
    assert_int_equal(state_log_apply(b, id, il, v, vlen - 1, err, sizeof err), -1);
    assert_int_equal(state_log_apply(b, "Zx", 2, v, vlen, err, sizeof err), -1);
    /* the key is the id's (the value does not repeat it) */
    char *id2 = malloc(il);
    memcpy(id2, id, il);
    id2[il - 1] = '9';
    assert_int_equal(state_log_apply(b, id2, il, v, vlen, err, sizeof err), 0);
    assert_int_equal(state_count(b, 0, "u9", 2, HOUR, D0 + MIN), 2);
    assert_int_equal(state_log_apply(b, id2, il, NULL, 0, err, sizeof err), 0);
    assert_int_equal(state_count(b, 0, "u9", 2, HOUR, D0 + MIN), 0);
    assert_int_equal(state_count(b, 0, "u1", 2, HOUR, D0 + MIN), 0);
    assert_int_equal(state_log_apply(b, id, il, v, vlen, err, sizeof err), 0);
    assert_int_equal(state_count(b, 0, "u1", 2, HOUR, D0 + MIN), 2);
    /* a pack whose pins_by_user has other windows, or none at all */
    int64_t w[] = { HOUR };
    state_counter_def_t changed = { "pins_by_user", "pin_create", "user.id", NULL, w, 1 };
    state_counter_def_t gone = { "x", "s", "k", NULL, w, 1 };
    state_t *o1 = state_new(&changed, 1, 0, err, sizeof err);
    state_t *o2 = state_new(&gone, 1, 0, err, sizeof err);
    assert_int_equal(state_log_apply(o1, id, il, v, vlen, err, sizeof err), 1);
    assert_int_equal(state_log_apply(o2, id, il, v, vlen, err, sizeof err), 1);
    assert_int_equal(state_count(o1, 0, "u1", 2, HOUR, D0 + MIN), 0);
    /* a tombstone removes */
    assert_int_equal(state_log_apply(b, id, il, NULL, 0, err, sizeof err), 0);
    assert_int_equal(state_count(b, 0, "u1", 2, HOUR, D0 + MIN), 0);
    free(x);
    free(id2);
    wd_buf_free(&l.data);
    state_destroy(o1);
    state_destroy(o2);
    state_destroy(a);
    state_destroy(b);
}

/* A snapshot over its limit sheds least recently used keys from the live
 * state until it fits: what is left answers as a loaded copy does, the
 * most recent keys survive, the ceiling is as before, and evictions are
 * counted.  A state that fits is saved untouched; a limit below an empty
 * snapshot is refused. */
static void test_snapshot_within_limit_evicts_lru(void **s)
{
    (void)s;
    state_t *st = mk(0);
    int64_t ts = 0;
    for (int i = 0; i < 20000; i++) {
        ts = event_ts(i);
        feed(st, ts, event_r(i));
    }
    wd_buf_t full = { 0 }, fit = { 0 };
    assert_int_equal(state_save_buf(st, &full), 0);
    state_stats_t before, after;
    state_stats(st, &before);

    /* fits: nothing changes */
    uint64_t evicted = 99;
    assert_int_equal(state_save_buf_within(st, &fit, full.len, &evicted), 0);
    assert_int_equal(evicted, 0);
    assert_int_equal(fit.len, full.len);
    assert_memory_equal(fit.data, full.data, full.len);

    /* a third of the size: evicts, fits, and still loads */
    size_t limit = full.len / 3;
    wd_buf_reset(&fit);
    assert_int_equal(state_save_buf_within(st, &fit, limit, &evicted), 0);
    assert_true(fit.len <= limit);
    assert_true(fit.len > limit / 4);            /* shed what was needed, not everything */
    state_stats(st, &after);
    assert_true(evicted > 0);
    assert_int_equal(after.evictions, before.evictions + evicted);
    assert_true(after.keys + after.labels < before.keys + before.labels);
    state_t *copy = mk(0);
    char err[256];
    assert_int_equal(state_load_buf(copy, fit.data, fit.len, err, sizeof err), 0);
    assert_same_answers(st, copy, ts);
    /* the key of the newest event is kept */
    char k[64];
    key_of(k, sizeof k, (int)(event_r(19999) % 200));
    assert_true(state_count(st, 0, k, strlen(k), DAY, ts) > 0);
    /* no ceiling was left behind: a few hundred more events (new keys
     * among them) evict nothing */
    for (int i = 20000; i < 20400; i++) {
        feed(st, ts + i - 20000, event_r(i));
        feed(copy, ts + i - 20000, event_r(i));
    }
    ts += 400;
    state_stats_t later;
    state_stats(st, &later);
    assert_true(later.keys > after.keys);
    assert_int_equal(later.evictions, after.evictions);
    assert_same_answers(st, copy, ts);

    /* below an empty snapshot: refused up front, nothing evicted or written */
    wd_buf_reset(&fit);
    wd_buf_add(&fit, "x", 1);
    evicted = 99;
    assert_int_equal(state_save_buf_within(st, &fit, 8, &evicted), STATE_ETOOBIG);
    assert_int_equal(fit.len, 1);
    assert_int_equal(evicted, 0);
    state_stats(st, &after);
    assert_int_equal(after.keys, later.keys);
    assert_int_equal(after.evictions, later.evictions);
    /* at the bound for an empty state: (nearly) everything goes, and what
     * is left is a valid state */
    size_t empty = state_empty_snapshot_size(st);
    assert_int_equal(state_save_buf_within(st, &fit, empty - 1, &evicted), STATE_ETOOBIG);
    wd_buf_reset(&fit);
    assert_int_equal(state_save_buf_within(st, &fit, empty, &evicted), 0);
    assert_true(fit.len <= empty);
    state_stats(st, &after);
    assert_true(after.keys + after.labels < 8);
    assert_int_equal(evicted, later.keys + later.labels - after.keys - after.labels);
    assert_int_equal(state_load_buf(copy, fit.data, fit.len, err, sizeof err), 0);
    assert_same_answers(st, copy, ts);

    wd_buf_free(&full);
    wd_buf_free(&fit);
    state_destroy(copy);
    state_destroy(st);
}

/* A state with its own byte ceiling gets exactly that ceiling back after
 * shedding for a snapshot, and keeps enforcing it. */
static void test_snapshot_within_keeps_the_ceiling(void **s)
{
    (void)s;
    size_t ceiling = 2u << 20;
    state_t *st = mk(ceiling);
    int i = 0;
    for (; i < 20000; i++)
        feed(st, event_ts(i), event_r(i));
    state_stats_t a;
    state_stats(st, &a);
    assert_true(a.evictions > 0);            /* the ceiling binds */
    assert_true(a.bytes <= ceiling);
    wd_buf_t b = { 0 };
    uint64_t evicted = 0;
    assert_int_equal(state_save_buf_within(st, &b, 16384, &evicted), 0);
    assert_true(b.len <= 16384);
    assert_true(evicted > 0);
    for (; i < 60000; i++)
        feed(st, event_ts(i), event_r(i));
    state_stats(st, &a);
    assert_true(a.bytes <= ceiling);
    assert_true(a.bytes > ceiling / 2);      /* grew back up to the old ceiling */
    wd_buf_free(&b);
    state_destroy(st);
}

/* A snapshot of other counters (the pack changed): strict loading refuses
 * it; carrying it over keeps the counters whose name and spec are the
 * same, drops the changed and the removed ones, starts new ones empty and
 * keeps every label. */
static void test_carry_over_to_changed_counters(void **s)
{
    (void)s;
    state_t *a = mk(0);
    int64_t ts = 0;
    for (int i = 0; i < 5000; i++) {
        ts = event_ts(i);
        feed(a, ts, event_r(i));
    }
    wd_buf_t buf = { 0 };
    assert_int_equal(state_save_buf(a, &buf), 0);

    static const int64_t w1[] = { HOUR };
    const state_counter_def_t d2[] = {
        { "brand_new", "login", "ip", NULL, w1, 1 },
        { "ips_by_user", "login", "user.id", "ip", w1, 1 },       /* windows changed */
        { "pins_by_user", "pin_create", "user.id", NULL, w4, 4 }, /* unchanged, moved */
    };
    char err[256];
    state_t *b = state_new(d2, 3, 0, err, sizeof err);
    assert_non_null(b);
    assert_int_equal(state_load_buf(b, buf.data, buf.len, err, sizeof err), -1);
    assert_non_null(strstr(err, "other counters"));

    state_carry_t c;
    assert_int_equal(state_load_buf_carry(b, buf.data, buf.len, &c, err, sizeof err), 0);
    assert_int_equal(c.exact, 0);
    assert_int_equal(c.kept, 1);
    assert_int_equal(c.dropped, 2);
    assert_true(c.records > 0 && c.records_dropped > 0);
    int kept_keys = 0;
    for (int key = 0; key < 200; key++) {
        char k[64];
        key_of(k, sizeof k, key);
        for (size_t w = 0; w < 4; w++) {
            int64_t x = state_count(a, 0, k, strlen(k), w4[w], ts);
            assert_int_equal(state_count(b, 2, k, strlen(k), w4[w], ts), x);
            kept_keys += w == 3 && x > 0;
        }
        assert_int_equal(state_label_has(b, k, strlen(k), "suspect", 7, ts),
                         state_label_has(a, k, strlen(k), "suspect", 7, ts));
        assert_int_equal(state_distinct(b, 1, k, strlen(k), HOUR, ts), 0);
    }
    assert_true(kept_keys > 100);
    assert_int_equal(state_clock(b), state_clock(a));
    /* identical specs take the exact path: everything carries */
    state_t *a2 = mk(0);
    assert_int_equal(state_load_buf_carry(a2, buf.data, buf.len, &c, err, sizeof err), 0);
    assert_int_equal(c.exact, 1);
    assert_int_equal(c.kept, NDEFS);
    assert_int_equal(c.dropped, 0);
    assert_int_equal(c.records_dropped, 0);
    assert_same_answers(a, a2, ts);
    wd_buf_free(&buf);
    state_destroy(a);
    state_destroy(a2);
    state_destroy(b);
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* CRC-valid snapshots that no run of events could have written: a clock
 * beyond the event times the engine accepts (every later event would be
 * "late": the state froze), unknown flag bits, a counter record newer than
 * the clock, a counter table at odds with the fingerprint.  Each is refused
 * like a checksum failure and the target is left as it was. */
static void test_snapshot_with_impossible_clock_or_flags_is_refused(void **s)
{
    (void)s;
    state_t *a = mk(0);
    for (int i = 0; i < 300; i++)
        feed(a, event_ts(i), event_r(i));
    wd_buf_t buf = WD_BUF_INIT;
    assert_int_equal(state_save_buf(a, &buf), 0);
    size_t len = buf.len;
    unsigned char *b = malloc(len);
    state_t *t = target();
    int64_t before = sum_answers(t, event_ts(50499));

    const int64_t clocks[] = { STATE_TS_LIMIT_MS, INT64_MAX, INT64_MAX / 2, -STATE_TS_LIMIT_MS,
                               INT64_MIN + 1 };
    for (size_t i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
        memcpy(b, buf.data, len);
        put64(b + 40, (uint64_t)clocks[i]);
        reseal(b, len);
        expect_refused(t, before, b, len, "impossible clock");
        state_carry_t c;
        char err[400];
        assert_int_equal(state_load_buf_carry(t, b, len, &c, err, sizeof err), -1);
    }
    /* a clock before the newest event counted */
    memcpy(b, buf.data, len);
    put64(b + 40, (uint64_t)(event_ts(299) - DAY));
    reseal(b, len);
    expect_refused(t, before, b, len, "record newer than the state's clock");
    /* flags: none are defined */
    for (int bit = 0; bit < 32; bit += 7) {
        memcpy(b, buf.data, len);
        put32(b + 12, 1u << bit);
        reseal(b, len);
        expect_refused(t, before, b, len, "unknown flags");
    }
    /* the same fingerprint, but the table says pins_by_user is distinct
     * (payload: clock 8, nctr 1, name length 1, name 12, fingerprint 8) */
    memcpy(b, buf.data, len);
    assert_int_equal(b[40 + 8 + 1 + 1 + 12 + 8], 0);
    b[40 + 8 + 1 + 1 + 12 + 8] = 1;
    reseal(b, len);
    expect_refused(t, before, b, len, "counter table does not match");
    /* the untouched snapshot still loads */
    char err[400];
    assert_int_equal(state_load_buf(t, buf.data, len, err, sizeof err), 0);
    assert_same_answers(a, t, event_ts(299));
    free(b);
    wd_buf_free(&buf);
    state_destroy(a);
    state_destroy(t);
}

/* An exact distinct set that holds one value twice would count it twice. */
static void test_snapshot_with_repeated_distinct_value_is_refused(void **s)
{
    (void)s;
    int64_t w[] = { HOUR };
    state_counter_def_t d = { "d", "s", "k", "v", w, 1 };
    char err[400];
    state_t *a = state_new(&d, 1, 0, err, sizeof err);
    assert_non_null(a);
    assert_int_equal(state_add_distinct(a, 0, "k", 1, "x", 1, D0), STATE_OK);
    wd_buf_t buf = WD_BUF_INIT;
    assert_int_equal(state_save_buf(a, &buf), 0);
    /* The one record ends with: u8 kind 1, varint 1, u64 hash. */
    size_t len = buf.len;
    unsigned char *b = malloc(len + 8);
    memcpy(b, buf.data, len);
    assert_int_equal(b[len - 10], 1);
    assert_int_equal(b[len - 9], 1);
    b[len - 9] = 2;
    memcpy(b + len, b + len - 8, 8);
    put64(b + 24, len + 8 - 40);
    reseal(b, len + 8);
    state_t *t = state_new(&d, 1, 0, err, sizeof err);
    assert_int_equal(state_load_buf(t, b, len + 8, err, sizeof err), -1);
    assert_non_null(strstr(err, "distinct set holds a value twice"));
    assert_int_equal(state_distinct(t, 0, "k", 1, HOUR, D0), 0);
    assert_int_equal(state_load_buf(t, buf.data, len, err, sizeof err), 0);
    assert_int_equal(state_distinct(t, 0, "k", 1, HOUR, D0), 1);
    free(b);
    wd_buf_free(&buf);
    state_destroy(a);
    state_destroy(t);
}

/* The first counter record a batch emits ('C' at byte 5 of the value). */
typedef struct first_rec {
    wd_buf_t id, val;
} first_rec_t;

static int first_counter_rec(void *ud, const void *id, size_t idlen, const void *val, size_t vlen)
{
    first_rec_t *f = ud;
    if (f->val.len == 0 && val && vlen > 6 && ((const char *)val)[5] == 'C') {
        wd_buf_add(&f->id, id, idlen);
        wd_buf_add(&f->val, val, vlen);
    }
    return 0;
}

/* A changelog record carries the clock too: an impossible one is refused
 * and the state's clock does not move; so is a counter head after the
 * record's own clock. */
static void test_entry_with_impossible_clock_is_refused(void **s)
{
    (void)s;
    state_t *a = mk(0), *b = mk(0);
    assert_int_equal(state_log_track(a, 1), 0);
    feed(a, D0, event_r(1));
    feed(b, D0, event_r(2));
    first_rec_t f = { WD_BUF_INIT, WD_BUF_INIT };
    assert_int_equal(state_log_changes(a, first_counter_rec, &f), 0);
    assert_true(f.val.len > 26);
    char err[400];
    size_t len = f.val.len;
    unsigned char *r = malloc(len);
    const int64_t clocks[] = { STATE_TS_LIMIT_MS, INT64_MAX - 1, -STATE_TS_LIMIT_MS };
    for (size_t i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
        memcpy(r, f.val.data, len);
        put64(r + 14, (uint64_t)clocks[i]);
        put32(r + len - 4, crc32_ref(r, len - 4));
        int64_t clock = state_clock(b);
        assert_int_equal(state_log_apply(b, f.id.data, f.id.len, r, len, err, sizeof err), -1);
        assert_non_null(strstr(err, "impossible clock"));
        assert_int_equal(state_clock(b), clock);
        assert_int_equal(state_add(b, 0, "z", 1, clock + MIN), STATE_OK);   /* not frozen */
    }
    /* a head after the record's own clock */
    memcpy(r, f.val.data, len);
    put64(r + 14, (uint64_t)(D0 - HOUR));
    put32(r + len - 4, crc32_ref(r, len - 4));
    assert_int_equal(state_log_apply(b, f.id.data, f.id.len, r, len, err, sizeof err), -1);
    assert_non_null(strstr(err, "record newer than the state's clock"));
    assert_int_equal(state_log_apply(b, f.id.data, f.id.len, f.val.data, len, err, sizeof err), 0);
    free(r);
    wd_buf_free(&f.id);
    wd_buf_free(&f.val);
    state_destroy(a);
    state_destroy(b);
}

/* Saving over a device or FIFO is refused: the snapshot is renamed over
 * its path, which used to replace the node with a regular file (as root,
 * /dev/full itself) and report success. */
static void test_snapshot_file_refuses_a_path_that_is_not_a_regular_file(void **s)
{
    (void)s;
    state_t *st = mk(0);
    char dir[] = "/tmp/warden_snap.XXXXXX", fifo[64], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(state_save_file(st, fifo, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file"));
    struct stat sb;
    assert_int_equal(stat(fifo, &sb), 0);
    assert_true(S_ISFIFO(sb.st_mode));
    unlink(fifo);
    rmdir(dir);
    state_destroy(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_round_trip_answers_identical),
        cmocka_unit_test(test_snapshot_file_round_trip),
        cmocka_unit_test(test_snapshot_file_refuses_a_path_that_is_not_a_regular_file),
        cmocka_unit_test(test_snapshot_corruption_refused_state_unchanged),
        cmocka_unit_test(test_snapshot_load_alloc_failures_leave_state_unchanged),
        cmocka_unit_test(test_log_records_restore_the_live_state),
        cmocka_unit_test(test_log_records_restore_under_a_ceiling),
        cmocka_unit_test(test_log_rollback_restores_the_last_commit),
        cmocka_unit_test(test_log_seal_commits_one_batch_rolls_back_both),
        cmocka_unit_test(test_log_clock_tombstone_restarts_the_history),
        cmocka_unit_test(test_log_mark_all_emits_every_entry),
        cmocka_unit_test(test_log_bad_records_refused_foreign_passed_over),
        cmocka_unit_test(test_snapshot_within_limit_evicts_lru),
        cmocka_unit_test(test_snapshot_within_keeps_the_ceiling),
        cmocka_unit_test(test_carry_over_to_changed_counters),
        cmocka_unit_test(test_snapshot_with_impossible_clock_or_flags_is_refused),
        cmocka_unit_test(test_snapshot_with_repeated_distinct_value_is_refused),
        cmocka_unit_test(test_entry_with_impossible_clock_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
