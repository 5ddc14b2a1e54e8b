/* tests/state/test_state.c — counters, distinct counts and labels of
 * state/state: exact window edges at each granularity, equivalence of
 * the bucket cascade with a naive per-event list over 100k random events
 * (out of order, with jumps, expiry and resets), late events, expiry, LRU
 * eviction under the ceiling, the exact→HyperLogLog switch, label TTL
 * edges, and allocation failures that leave the state unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "state/state.h"

#define SEC  1000LL
#define MIN  (60 * SEC)
#define HOUR (60 * MIN)
#define DAY  (24 * HOUR)
#define D0   (20412 * DAY)        /* a UTC midnight */

static int64_t cnt(state_t *st, size_t c, const char *key, int64_t w, int64_t now)
{
    return state_count(st, c, key, strlen(key), w, now);
}

static int64_t dis(state_t *st, size_t c, const char *key, int64_t w, int64_t now)
{
    return state_distinct(st, c, key, strlen(key), w, now);
}

static int add(state_t *st, size_t c, const char *key, int64_t ts)
{
    return state_add(st, c, key, strlen(key), ts);
}

static int addd(state_t *st, size_t c, const char *key, const char *val, int64_t ts)
{
    return state_add_distinct(st, c, key, strlen(key), val, strlen(val), ts);
}

static state_t *one_counter(const int64_t *w, size_t nw, int distinct, size_t max_bytes)
{
    state_counter_def_t d = { "c", "s", "k", distinct ? "v" : NULL, w, nw };
    char err[256];
    state_t *st = state_new(&d, 1, max_bytes, err, sizeof err);
    assert_non_null(st);
    return st;
}

static const int64_t edge_windows[] = { MIN, HOUR, 90 * MIN, DAY, 25 * HOUR, 7 * DAY };

/* g = 1m for W <= 1h: "1h" at 10:30:15 covers minute buckets 09:31..10:30. */
static void test_window_edges_minute_granularity(void **s)
{
    (void)s;
    state_t *st = one_counter(edge_windows, 6, 0, 0);
    int64_t now = D0 + 10 * HOUR + 30 * MIN + 15 * SEC;
    assert_int_equal(add(st, 0, "k", D0 + 9 * HOUR + 30 * MIN + 59 * SEC + 999), 0); /* 09:30 */
    assert_int_equal(add(st, 0, "k", D0 + 9 * HOUR + 31 * MIN), 0);                  /* 09:31 */
    assert_int_equal(add(st, 0, "k", D0 + 10 * HOUR + 30 * MIN + 59 * SEC + 999), 0); /* 10:30 */
    assert_int_equal(add(st, 0, "k", D0 + 10 * HOUR + 31 * MIN), 0);                 /* 10:31 */
    assert_int_equal(cnt(st, 0, "k", HOUR, now), 2);
    assert_int_equal(cnt(st, 0, "k", MIN, now), 1);
    /* one minute later the window is 09:32..10:31 */
    assert_int_equal(cnt(st, 0, "k", HOUR, now + MIN), 2);
    assert_int_equal(cnt(st, 0, "k", MIN, now + MIN), 1);
    /* exactly at 10:30:00.000 the bucket 10:30 is in, 09:30 is out */
    assert_int_equal(cnt(st, 0, "k", HOUR, D0 + 10 * HOUR + 30 * MIN), 2);
    /* at 10:29:59.999 the window is 09:30..10:29 */
    assert_int_equal(cnt(st, 0, "k", HOUR, D0 + 10 * HOUR + 30 * MIN - 1), 2);
    assert_int_equal(cnt(st, 0, "k", MIN, D0 + 10 * HOUR + 30 * MIN - 1), 0);
    state_destroy(st);
}

/* g = 1h for 1h < W <= 1d: "1d" at 10:30 covers hours 11:00 yesterday ..
 * 10:00 today; "90m" covers the hours 09:00 and 10:00. */
static void test_window_edges_hour_granularity(void **s)
{
    (void)s;
    state_t *st = one_counter(edge_windows, 6, 0, 0);
    int64_t now = D0 + 10 * HOUR + 30 * MIN;
    add(st, 0, "k", D0 - DAY + 11 * HOUR - 1);        /* 10:00 yesterday: out */
    add(st, 0, "k", D0 - DAY + 11 * HOUR);            /* 11:00 yesterday: in */
    add(st, 0, "k", D0 + 11 * HOUR - 1);              /* 10:59:59.999 today: in */
    add(st, 0, "k", D0 + 11 * HOUR);                  /* 11:00 today: out */
    assert_int_equal(cnt(st, 0, "k", DAY, now), 2);
    add(st, 0, "n", D0 + 9 * HOUR - 1);               /* 08:00 bucket: out of 90m */
    add(st, 0, "n", D0 + 9 * HOUR);                   /* 09:00: in */
    add(st, 0, "n", D0 + 10 * HOUR + 59 * MIN);       /* 10:00: in */
    assert_int_equal(cnt(st, 0, "n", 90 * MIN, now), 2);
    assert_int_equal(cnt(st, 0, "n", 90 * MIN, D0 + 11 * HOUR), 1);
    state_destroy(st);
}

/* g = 1d above 1d: "7d" on day D covers days D-6 .. D; "25h" covers D-1, D. */
static void test_window_edges_day_granularity(void **s)
{
    (void)s;
    state_t *st = one_counter(edge_windows, 6, 0, 0);
    int64_t now = D0 + 10 * HOUR + 30 * MIN;
    add(st, 0, "k", D0 - 6 * DAY - 1);                /* day D-7: out */
    add(st, 0, "k", D0 - 6 * DAY);                    /* day D-6: in */
    add(st, 0, "k", D0 + DAY - 1);                    /* day D: in */
    add(st, 0, "k", D0 + DAY);                        /* day D+1: out */
    assert_int_equal(cnt(st, 0, "k", 7 * DAY, now), 2);
    add(st, 0, "n", D0 - DAY - 1);                    /* D-2: out of 25h */
    add(st, 0, "n", D0 - DAY);                        /* D-1: in */
    add(st, 0, "n", D0 + 3 * HOUR);                   /* D: in */
    assert_int_equal(cnt(st, 0, "n", 25 * HOUR, now), 2);
    assert_int_equal(cnt(st, 0, "n", 7 * DAY, now), 3);
    state_destroy(st);
}

static void test_undeclared_window_and_wrong_kind_are_errors(void **s)
{
    (void)s;
    int64_t w[] = { HOUR };
    state_counter_def_t d[] = { { "a", "s", "k", NULL, w, 1 }, { "b", "s", "k", "v", w, 1 } };
    char err[256];
    state_t *st = state_new(d, 2, 0, err, sizeof err);
    assert_non_null(st);
    assert_int_equal(state_counter_index(st, "b"), 1);
    assert_int_equal(state_counter_index(st, "zz"), -1);
    assert_int_equal(cnt(st, 0, "k", DAY, D0), STATE_EWINDOW);
    assert_int_equal(cnt(st, 0, "never", HOUR, D0), 0);
    assert_int_equal(cnt(st, 1, "k", HOUR, D0), STATE_EKIND);
    assert_int_equal(dis(st, 0, "k", HOUR, D0), STATE_EKIND);
    assert_int_equal(cnt(st, 2, "k", HOUR, D0), STATE_ENOCOUNTER);
    assert_int_equal(add(st, 1, "k", D0), STATE_EKIND);
    assert_int_equal(addd(st, 0, "k", "v", D0), STATE_EKIND);
    assert_int_equal(add(st, 5, "k", D0), STATE_ENOCOUNTER);
    assert_non_null(strstr(state_strerror(STATE_EWINDOW), "window"));
    state_destroy(st);
}

static void test_bad_defs_are_refused(void **s)
{
    (void)s;
    char err[256];
    int64_t bad[] = { 90 * SEC };
    state_counter_def_t d = { "a", "s", "k", NULL, bad, 1 };
    assert_null(state_new(&d, 1, 0, err, sizeof err));
    assert_non_null(strstr(err, "whole number of minutes"));
    int64_t rep[] = { HOUR, 60 * MIN };
    d.windows_ms = rep;
    d.nwindows = 2;
    assert_null(state_new(&d, 1, 0, err, sizeof err));
    assert_non_null(strstr(err, "repeats"));
    int64_t ok[] = { HOUR };
    state_counter_def_t two[] = { { "a", "s", "k", NULL, ok, 1 }, { "a", "s", "k", NULL, ok, 1 } };
    assert_null(state_new(two, 2, 0, err, sizeof err));
    assert_non_null(strstr(err, "declared twice"));
    /* no counters at all is fine: labels only */
    state_t *st = state_new(NULL, 0, 0, err, sizeof err);
    assert_non_null(st);
    assert_int_equal(state_label_set(st, "u", 1, "x", 1, D0 + HOUR), 0);
    assert_int_equal(state_label_has(st, "u", 1, "x", 1, D0), 1);
    state_destroy(st);
    state_destroy(NULL);
}

/* ---- the naive model ---- */

typedef struct nev {
    int64_t ts;
    int     val;
} nev_t;

typedef struct nkey {
    nev_t  *ev;
    size_t  n, cap;
    int64_t head;
    int     exists;
} nkey_t;

#define NKEYS 40
#define NVALS 50

typedef struct nctr {
    int64_t  windows[4];
    size_t   nw;
    int      distinct;
    int      top;
    int64_t  topk;
    int64_t  ring[3];
    nkey_t   keys[NKEYS];
} nctr_t;

static int64_t fdiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

static const int64_t gran[3] = { MIN, HOUR, DAY };
static const int64_t slack[3] = { 4, 2, 1 };

static int level_of(int64_t w)
{
    return w <= HOUR ? 0 : w <= DAY ? 1 : 2;
}

static int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

/* The documented layout: ring = next power of two >= need + slack. */
static void nctr_init(nctr_t *c)
{
    int64_t need[3] = { 0, 0, 0 }, wmax = 0;
    for (size_t i = 0; i < c->nw; i++) {
        int L = level_of(c->windows[i]);
        int64_t k = ceil_div(c->windows[i], gran[L]);
        if (k > need[L])
            need[L] = k;
        if (c->windows[i] > wmax) {
            wmax = c->windows[i];
            c->top = L;
        }
    }
    c->topk = need[c->top];
    for (int L = 0; L < 3; L++) {
        int64_t r = 1;
        while (r < need[L] + slack[L])
            r *= 2;
        c->ring[L] = need[L] ? r : 0;
    }
}

static int n_expired(const nctr_t *c, const nkey_t *k, int64_t clock)
{
    return fdiv(k->head, gran[c->top]) <= fdiv(clock, gran[c->top]) - c->topk;
}

/* Returns what state_add should return. */
static int n_add(nctr_t *c, int key, int64_t ts, int val, int64_t *clock)
{
    if (ts > *clock)
        *clock = ts;
    if (fdiv(ts, gran[c->top]) <= fdiv(*clock, gran[c->top]) - c->topk)
        return STATE_SKIPPED;
    nkey_t *k = &c->keys[key];
    if (k->exists && n_expired(c, k, *clock))
        k->n = 0, k->exists = 0;
    if (!k->exists) {
        k->exists = 1;
        k->head = ts;
    }
    if (k->n == k->cap) {
        /* drop events the top ring no longer holds before growing */
        int64_t keep = fdiv(k->head, gran[c->top]) - c->ring[c->top] + 1;
        size_t w = 0;
        for (size_t i = 0; i < k->n; i++)
            if (fdiv(k->ev[i].ts, gran[c->top]) >= keep)
                k->ev[w++] = k->ev[i];
        k->n = w;
        if (k->cap == 0 || k->n * 2 > k->cap) {
            k->cap = k->cap ? k->cap * 2 : 64;
            k->ev = realloc(k->ev, k->cap * sizeof(*k->ev));
            assert_non_null(k->ev);
        }
    }
    k->ev[k->n++] = (nev_t){ ts, val };
    if (ts > k->head)
        k->head = ts;
    return STATE_OK;
}

static int64_t n_read(const nctr_t *c, int key, int64_t w, int64_t t, int64_t clock)
{
    const nkey_t *k = &c->keys[key];
    if (!k->exists || n_expired(c, k, clock))
        return 0;
    int L = level_of(w);
    int64_t g = gran[L], tb = fdiv(t, g), hb = fdiv(k->head, g);
    int64_t lo = tb - ceil_div(w, g) + 1, hi = tb < hb ? tb : hb;
    if (lo < hb - c->ring[L] + 1)
        lo = hb - c->ring[L] + 1;
    int64_t n = 0;
    char seen[NVALS] = { 0 };
    for (size_t i = 0; i < k->n; i++) {
        int64_t b = fdiv(k->ev[i].ts, g);
        if (b < lo || b > hi)
            continue;
        if (c->distinct) {
            n += !seen[k->ev[i].val];
            seen[k->ev[i].val] = 1;
        } else {
            n++;
        }
    }
    return n;
}

static uint64_t rng_state = 0x1234567887654321ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static const int64_t pool[] = { MIN,      5 * MIN,  17 * MIN, HOUR,    90 * MIN, 2 * HOUR,
                                6 * HOUR, DAY,      25 * HOUR, 2 * DAY, 7 * DAY, 30 * DAY };

/* 100k random events, out of order now and then, with jumps that expire
 * keys; after every event one random read at the event time (sometimes a
 * little earlier) must equal the naive per-event answer. */
static void test_cascade_equals_naive_event_list_100k_random(void **s)
{
    (void)s;
    enum { NC = 6, NEV = 100000 };
    nctr_t *c = calloc(NC, sizeof(*c));
    state_counter_def_t defs[NC];
    char names[NC][16];
    for (int i = 0; i < NC; i++) {
        /* 1-4 distinct windows from the pool; the last counter always has
         * the example set */
        if (i == NC - 1) {
            int64_t ex[] = { MIN, HOUR, DAY, 7 * DAY };
            memcpy(c[i].windows, ex, sizeof ex);
            c[i].nw = 4;
        } else {
            size_t want = 1 + rnd() % 4;
            while (c[i].nw < want) {
                int64_t w = pool[rnd() % (sizeof(pool) / sizeof(pool[0]))];
                int dup = 0;
                for (size_t j = 0; j < c[i].nw; j++)
                    dup |= c[i].windows[j] == w;
                if (!dup)
                    c[i].windows[c[i].nw++] = w;
            }
        }
        c[i].distinct = i == 1 || i == 3;
        nctr_init(&c[i]);
        snprintf(names[i], sizeof names[i], "c%d", i % 100);
        defs[i] = (state_counter_def_t){ names[i], "s", "k", c[i].distinct ? "v" : NULL,
                                             c[i].windows, c[i].nw };
    }
    char err[256];
    state_t *st = state_new(defs, NC, 0, err, sizeof err);
    assert_non_null(st);
    int64_t cur = D0, clock = INT64_MIN;
    long reads = 0, nonzero = 0, skipped = 0;
    for (int e = 0; e < NEV; e++) {
        uint64_t r = rnd() % 1000;
        int64_t ts;
        if (r < 2)
            cur += (int64_t)(rnd() % (3 * DAY));           /* a jump: keys expire */
        else
            cur += (int64_t)(rnd() % (3 * SEC));
        if (r >= 950) {
            static const int64_t lateness[] = { 5 * MIN, 3 * HOUR, 2 * DAY, 40 * DAY };
            ts = cur - (int64_t)(rnd() % lateness[rnd() % 4]);
        } else {
            ts = cur;
        }
        int key = (int)(rnd() % NKEYS), val = (int)(rnd() % NVALS);
        char kb[16], vb[16];
        snprintf(kb, sizeof kb, "user%d", key);
        snprintf(vb, sizeof vb, "10.0.0.%d", val);
        for (int i = 0; i < NC; i++) {
            int64_t nclock = clock;
            int want = n_add(&c[i], key, ts, val, &nclock);
            int got = c[i].distinct ? addd(st, (size_t)i, kb, vb, ts) : add(st, (size_t)i, kb, ts);
            assert_int_equal(got, want);
            clock = nclock;
            skipped += got == STATE_SKIPPED;
        }
        for (int q = 0; q < 2; q++) {
            int i = (int)(rnd() % NC);
            int64_t w = c[i].windows[rnd() % c[i].nw];
            int64_t t = ts - (rnd() % 4 == 0 ? (int64_t)(rnd() % (10 * MIN)) : 0);
            int qk = q == 0 ? key : (int)(rnd() % NKEYS);
            snprintf(kb, sizeof kb, "user%d", qk);
            int64_t want = n_read(&c[i], qk, w, t, clock);
            int64_t got = c[i].distinct ? dis(st, (size_t)i, kb, w, t) : cnt(st, (size_t)i, kb, w, t);
            if (got != want)
                fail_msg("event %d counter %d key %d window %lld t %lld: got %lld want %lld", e, i,
                         qk, (long long)w, (long long)t, (long long)got, (long long)want);
            reads++;
            nonzero += want > 0;
        }
    }
    state_stats_t sts;
    state_stats(st, &sts);
    assert_int_equal(sts.late_skipped, (uint64_t)skipped);
    print_message("cascade: %ld reads (%ld non-zero), %ld late skips, %llu expired, %llu keys\n",
                  reads, nonzero, skipped, (unsigned long long)sts.expired,
                  (unsigned long long)sts.keys);
    assert_true(nonzero > reads / 2);
    assert_true(skipped > 0);
    assert_true(sts.expired > 0);
    for (int i = 0; i < NC; i++)
        for (int k = 0; k < NKEYS; k++)
            free(c[i].keys[k].ev);
    free(c);
    state_destroy(st);
}

/* A late event inside the longest window counts into its own bucket; one
 * older than that is skipped and counted in stats.late_skipped. */
static void test_late_events_within_longest_window_count_older_are_skipped(void **s)
{
    (void)s;
    int64_t w[] = { HOUR, DAY };
    state_t *st = one_counter(w, 2, 0, 0);
    int64_t now = D0 + 12 * HOUR;
    assert_int_equal(add(st, 0, "k", now), STATE_OK);
    /* 3 hours late: in the 1d window, outside 1h at now */
    assert_int_equal(add(st, 0, "k", now - 3 * HOUR), STATE_OK);
    assert_int_equal(cnt(st, 0, "k", DAY, now), 2);
    assert_int_equal(cnt(st, 0, "k", HOUR, now), 1);
    /* read at the late event's own time: the 1d window sees it (and not
     * the newer event); the minute ring keeps only ~64 minutes behind the
     * newest event, so a 1h read 3 hours back finds nothing retained */
    assert_int_equal(cnt(st, 0, "k", DAY, now - 3 * HOUR), 1);
    assert_int_equal(cnt(st, 0, "k", HOUR, now - 3 * HOUR), 0);
    /* 2 minutes late: into its own minute bucket */
    assert_int_equal(add(st, 0, "k", now - 2 * MIN), STATE_OK);
    assert_int_equal(cnt(st, 0, "k", HOUR, now), 2);
    assert_int_equal(cnt(st, 0, "k", HOUR, now - 2 * MIN), 1);
    /* the 1d window at 12:xx covers hours from 13:00 yesterday: 12:59 yesterday is too late */
    assert_int_equal(add(st, 0, "k", now - 23 * HOUR - 1), STATE_SKIPPED);
    assert_int_equal(add(st, 0, "other", now - 2 * DAY), STATE_SKIPPED);
    assert_int_equal(add(st, 0, "k", now - 23 * HOUR), STATE_OK);
    assert_int_equal(cnt(st, 0, "k", DAY, now), 4);
    assert_int_equal(cnt(st, 0, "other", DAY, now), 0);
    state_stats_t sts;
    state_stats(st, &sts);
    assert_int_equal(sts.late_skipped, 2);
    assert_int_equal(sts.keys, 1);
    state_destroy(st);
}

/* A key whose newest event has left its longest window reads as 0 at once
 * (even at an old time) and is removed by the sweep when the clock crosses
 * the next hour, wherever it sits in the LRU queue. */
static void test_idle_key_expires_past_longest_window(void **s)
{
    (void)s;
    int64_t w[] = { MIN, HOUR };
    state_t *st = one_counter(w, 2, 0, 0);
    add(st, 0, "idle", D0 + 10 * MIN);
    add(st, 0, "busy", D0 + 10 * MIN);
    state_stats_t sts;
    state_stats(st, &sts);
    assert_int_equal(sts.keys, 2);
    uint64_t bytes2 = sts.bytes;
    /* at 01:09 the 1h window still covers minute 00:10 (a read moves
     * "idle" to the back of the LRU queue) */
    add(st, 0, "busy", D0 + HOUR + 9 * MIN);
    assert_int_equal(cnt(st, 0, "idle", HOUR, D0 + HOUR + 9 * MIN), 1);
    /* at 01:10 it does not: "idle" has expired and reads 0 even at 00:30 */
    add(st, 0, "busy", D0 + HOUR + 10 * MIN);
    assert_int_equal(cnt(st, 0, "idle", HOUR, D0 + HOUR + 10 * MIN), 0);
    assert_int_equal(cnt(st, 0, "idle", HOUR, D0 + 30 * MIN), 0);
    state_stats(st, &sts);
    assert_int_equal(sts.keys, 2);
    /* the hour sweep removes it */
    state_advance(st, D0 + 2 * HOUR);
    state_stats(st, &sts);
    assert_int_equal(sts.keys, 1);
    assert_int_equal(sts.expired, 1);
    assert_true(sts.bytes < bytes2);
    /* a new event for it starts from scratch */
    assert_int_equal(add(st, 0, "idle", D0 + 2 * HOUR), STATE_OK);
    assert_int_equal(cnt(st, 0, "idle", HOUR, D0 + 2 * HOUR), 1);
    state_advance(st, D0 + 4 * HOUR);
    state_stats(st, &sts);
    assert_int_equal(sts.keys, 0);
    assert_int_equal(sts.bytes, 0);
    state_destroy(st);
}

/* When the clock crosses a minute, expired keys at the front of each LRU
 * queue are removed without waiting for the hour sweep. */
static void test_minute_sweep_removes_expired_lru_front(void **s)
{
    (void)s;
    int64_t w[] = { MIN };
    state_t *st = one_counter(w, 1, 0, 0);
    add(st, 0, "a", D0 + 10 * SEC);
    add(st, 0, "b", D0 + 20 * SEC);
    add(st, 0, "b", D0 + 50 * SEC);
    state_stats_t sts;
    state_stats(st, &sts);
    assert_int_equal(sts.keys, 2);
    add(st, 0, "c", D0 + MIN + 5 * SEC);
    state_stats(st, &sts);
    assert_int_equal(sts.expired, 2);
    assert_int_equal(sts.keys, 1);
    assert_int_equal(cnt(st, 0, "c", MIN, D0 + MIN + 5 * SEC), 1);
    state_destroy(st);
}

/* Under the byte ceiling the least recently used keys (reads count as use)
 * are evicted, counted, and bytes stay under the ceiling. */
static void test_lru_eviction_under_ceiling(void **s)
{
    (void)s;
    int64_t w[] = { HOUR };
    state_t *st = one_counter(w, 1, 0, 0);
    add(st, 0, "k0", D0);
    state_stats_t sts;
    state_stats(st, &sts);
    uint64_t per = sts.bytes;
    assert_true(per > 0 && per < 1024);
    state_set_max_bytes(st, per * 10);
    for (int i = 1; i < 10; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        add(st, 0, k, D0 + i);
    }
    state_stats(st, &sts);
    assert_int_equal(sts.keys, 10);
    assert_int_equal(sts.evictions, 0);
    /* use k0 (a read) and k1 (an add): now k2 and k3 are the oldest */
    assert_int_equal(cnt(st, 0, "k0", HOUR, D0 + 20), 1);
    add(st, 0, "k1", D0 + 21);
    add(st, 0, "new1", D0 + 22);
    add(st, 0, "new2", D0 + 23);
    state_stats(st, &sts);
    assert_int_equal(sts.evictions, 2);
    assert_int_equal(sts.keys, 10);
    assert_true(sts.bytes <= per * 10);
    assert_int_equal(cnt(st, 0, "k2", HOUR, D0 + 30), 0);
    assert_int_equal(cnt(st, 0, "k3", HOUR, D0 + 30), 0);
    assert_int_equal(cnt(st, 0, "k0", HOUR, D0 + 30), 1);
    assert_int_equal(cnt(st, 0, "k1", HOUR, D0 + 30), 2);
    assert_int_equal(cnt(st, 0, "k4", HOUR, D0 + 30), 1);
    /* labels compete for the same ceiling */
    assert_int_equal(state_label_set(st, "u", 1, "spam", 4, D0 + DAY), 0);
    state_stats(st, &sts);
    assert_int_equal(sts.evictions, 3);
    assert_int_equal(cnt(st, 0, "k5", HOUR, D0 + 30), 0);
    /* lowering the ceiling evicts at once; the state keeps working */
    state_set_max_bytes(st, per * 2);
    state_stats(st, &sts);
    assert_true(sts.bytes <= per * 2);
    assert_int_equal(add(st, 0, "again", D0 + 40), 0);
    assert_int_equal(cnt(st, 0, "again", HOUR, D0 + 40), 1);
    state_destroy(st);
}

/* Many keys through a small ceiling: the queue and table stay consistent
 * (every live key still readable, bytes <= ceiling). */
static void test_eviction_churn_keeps_tables_consistent(void **s)
{
    (void)s;
    int64_t w[] = { HOUR, DAY };
    state_t *st = one_counter(w, 2, 0, 0);
    add(st, 0, "x", D0);
    state_stats_t sts;
    state_stats(st, &sts);
    uint64_t per = sts.bytes;
    state_set_max_bytes(st, per * 300);
    for (int i = 0; i < 20000; i++) {
        char k[16];
        snprintf(k, sizeof k, "key%d", (int)(rnd() % 1000));
        assert_int_equal(add(st, 0, k, D0 + i), 0);
        assert_true(cnt(st, 0, k, HOUR, D0 + i) >= 1);
    }
    state_stats(st, &sts);
    assert_true(sts.keys <= 300);
    assert_true(sts.bytes <= per * 300);
    assert_true(sts.evictions > 1000);
    state_destroy(st);
}

/* ---- distinct ---- */

/* Exact up to 64 values in a bucket, a sketch from the 65th on. */
static void test_distinct_exact_to_64_then_hll(void **s)
{
    (void)s;
    int64_t w[] = { MIN, HOUR };
    state_t *st = one_counter(w, 2, 1, 0);
    char v[32];
    for (int i = 0; i < 64; i++) {
        snprintf(v, sizeof v, "ip%d", i);
        assert_int_equal(addd(st, 0, "u", v, D0 + i), 0);
        assert_int_equal(addd(st, 0, "u", v, D0 + i), 0);   /* repeats do not count */
    }
    assert_int_equal(dis(st, 0, "u", MIN, D0), 64);
    state_stats_t a, b;
    state_stats(st, &a);
    addd(st, 0, "u", "ip64", D0 + 100);
    state_stats(st, &b);
    assert_true(b.bytes > a.bytes + 1500);          /* became a 2 KiB sketch */
    int64_t e = dis(st, 0, "u", MIN, D0);
    assert_true(e >= 63 && e <= 67);
    /* exact buckets union exactly across the hour */
    for (int m = 1; m < 60; m++)
        for (int i = 0; i < 40; i++) {
            snprintf(v, sizeof v, "ip%d", m + i);     /* overlapping sets */
            addd(st, 0, "x", v, D0 + m * MIN);
        }
    assert_int_equal(dis(st, 0, "x", HOUR, D0 + 59 * MIN), 59 + 39);
    assert_int_equal(dis(st, 0, "x", MIN, D0 + 59 * MIN), 40);
    /* a window mixing a sketch with exact sets is estimated */
    e = dis(st, 0, "u", HOUR, D0 + 59 * MIN);
    assert_true(e >= 63 && e <= 67);
    state_destroy(st);
}

/* Sketches merge across buckets: 20 minutes x 5000 values with half of
 * each minute repeated from the previous one. */
static void test_distinct_hll_merges_across_buckets(void **s)
{
    (void)s;
    int64_t w[] = { HOUR, DAY };
    state_t *st = one_counter(w, 2, 1, 0);
    char v[32];
    for (int m = 0; m < 20; m++)
        for (int i = 0; i < 5000; i++) {
            snprintf(v, sizeof v, "v%d", m * 2500 + i);
            addd(st, 0, "u", v, D0 + m * MIN + i);
        }
    double truth = 19 * 2500 + 5000;
    double e1 = (double)dis(st, 0, "u", HOUR, D0 + 20 * MIN);
    double e2 = (double)dis(st, 0, "u", DAY, D0 + 20 * MIN);
    print_message("distinct over 20 sketches: 1h %.0f, 1d %.0f (truth %.0f)\n", e1, e2, truth);
    assert_true(e1 > truth * 0.94 && e1 < truth * 1.06);
    assert_true(e2 > truth * 0.94 && e2 < truth * 1.06);
    state_destroy(st);
}

/* ---- labels ---- */

static int has(state_t *st, const char *e, const char *l, int64_t now)
{
    return state_label_has(st, e, strlen(e), l, strlen(l), now);
}

static int setl(state_t *st, const char *e, const char *l, int64_t exp)
{
    return state_label_set(st, e, strlen(e), l, strlen(l), exp);
}

/* A label holds while now < expire: gone exactly at expire. */
static void test_label_expires_exactly_at_expiry(void **s)
{
    (void)s;
    state_t *st = one_counter((int64_t[]){ HOUR }, 1, 0, 0);
    state_advance(st, D0);
    assert_int_equal(setl(st, "u1", "spammer", D0 + HOUR), 0);
    assert_int_equal(has(st, "u1", "spammer", D0), 1);
    assert_int_equal(has(st, "u1", "spammer", D0 + HOUR - 1), 1);
    assert_int_equal(has(st, "u1", "spammer", D0 + HOUR), 0);
    assert_int_equal(has(st, "u1", "other", D0), 0);
    assert_int_equal(has(st, "u2", "spammer", D0), 0);
    /* entity and label are separate: ("u1s","pammer") is not ("u1","spammer") */
    assert_int_equal(has(st, "u1s", "pammer", D0), 0);
    /* the later expiry wins */
    assert_int_equal(setl(st, "u1", "spammer", D0 + 10 * MIN), 0);
    assert_int_equal(has(st, "u1", "spammer", D0 + 30 * MIN), 1);
    assert_int_equal(setl(st, "u1", "spammer", D0 + 2 * HOUR), 0);
    assert_int_equal(has(st, "u1", "spammer", D0 + 90 * MIN), 1);
    /* once the clock passes the expiry the label is gone even for late reads */
    state_advance(st, D0 + 2 * HOUR);
    assert_int_equal(has(st, "u1", "spammer", D0 + HOUR), 0);
    /* setting an already-expired label does nothing */
    assert_int_equal(setl(st, "u3", "x", D0 + HOUR), 0);
    assert_int_equal(has(st, "u3", "x", D0), 0);
    state_stats_t sts;
    state_stats(st, &sts);
    assert_int_equal(sts.labels, 0);        /* swept at the hour */
    /* long entity and label (beyond the on-stack key buffer) */
    char big[600];
    memset(big, 'e', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(setl(st, big, big, D0 + 5 * HOUR), 0);
    assert_int_equal(has(st, big, big, D0 + 3 * HOUR), 1);
    state_destroy(st);
}

/* ---- allocation failures ---- */

typedef struct probe {
    int64_t c0, c1, d0, d1;
    int     l;
    state_stats_t s;
} probe_t;

static void take(state_t *st, probe_t *p, int64_t now)
{
    p->c0 = cnt(st, 0, "a", HOUR, now);
    p->c1 = cnt(st, 0, "a-key-longer-than-twenty-four-bytes", DAY, now);
    p->d0 = dis(st, 1, "u", HOUR, now);
    p->d1 = dis(st, 1, "u", DAY, now);
    p->l = has(st, "ent", "lab", now);
    state_stats(st, &p->s);
}

static void same(const probe_t *a, const probe_t *b)
{
    assert_int_equal(a->c0, b->c0);
    assert_int_equal(a->c1, b->c1);
    assert_int_equal(a->d0, b->d0);
    assert_int_equal(a->d1, b->d1);
    assert_int_equal(a->l, b->l);
    assert_int_equal(a->s.keys, b->s.keys);
    assert_int_equal(a->s.labels, b->s.labels);
    assert_int_equal(a->s.bytes, b->s.bytes);
}

/* Fail allocation N = 1, 2, … until the call succeeds: every failure
 * returns STATE_ENOMEM and leaves every answer and the accounting as
 * they were (leaks show under valgrind / ASan). */
static void test_alloc_failures_leave_state_unchanged(void **s)
{
    (void)s;
    int64_t w[] = { HOUR, DAY };
    state_counter_def_t d[] = { { "c", "s", "k", NULL, w, 2 }, { "d", "s", "k", "v", w, 2 } };
    char err[256];
    state_t *st = state_new(d, 2, 0, err, sizeof err);
    assert_non_null(st);
    char v[32];
    for (int i = 0; i < 64; i++) {     /* a full exact set: the next value converts */
        snprintf(v, sizeof v, "v%d", i);
        assert_int_equal(addd(st, 1, "u", v, D0), 0);
    }
    int64_t now = D0 + MIN;
    for (int op = 0; op < 5; op++) {
        int rc = -1, failures = 0;
        for (long n = 1; n < 100; n++) {
            probe_t before, after;
            take(st, &before, now);
            state_fail_alloc_after(st, n);
            switch (op) {
            case 0: rc = add(st, 0, "a", now); break;
            case 1: rc = add(st, 0, "a-key-longer-than-twenty-four-bytes", now); break;
            case 2: rc = addd(st, 1, "u", "v64", now); break;          /* exact -> sketch */
            case 3: rc = addd(st, 1, "u", "fresh", now + HOUR); break; /* new buckets */
            case 4: rc = setl(st, "ent", "lab", now + 2 * HOUR); break;
            }
            state_fail_alloc_after(st, 0);
            if (rc == 0)
                break;
            failures++;
            assert_int_equal(rc, STATE_ENOMEM);
            take(st, &after, now);
            same(&before, &after);
        }
        assert_int_equal(rc, 0);
        if (failures < 1)
            fail_msg("op %d never allocated", op);
    }
    probe_t p;
    take(st, &p, now);
    assert_int_equal(p.c0, 1);
    assert_int_equal(p.c1, 1);
    assert_true(p.d1 >= 64 && p.d1 <= 68);
    assert_int_equal(p.l, 1);
    state_destroy(st);
}

static void test_clock_never_goes_back(void **s)
{
    (void)s;
    state_t *st = one_counter((int64_t[]){ HOUR }, 1, 0, 0);
    assert_true(state_clock(st) == INT64_MIN);
    state_advance(st, D0 + HOUR);
    state_advance(st, D0);
    assert_true(state_clock(st) == D0 + HOUR);
    add(st, 0, "k", D0 + 30 * MIN);
    assert_true(state_clock(st) == D0 + HOUR);
    /* negative (pre-1970) times floor correctly */
    state_t *neg = one_counter((int64_t[]){ MIN, HOUR }, 2, 0, 0);
    add(neg, 0, "k", -1);           /* minute bucket -1 */
    add(neg, 0, "k", 0);            /* minute bucket 0 */
    assert_int_equal(cnt(neg, 0, "k", MIN, 0), 1);
    assert_int_equal(cnt(neg, 0, "k", MIN, -1), 1);
    assert_int_equal(cnt(neg, 0, "k", HOUR, 0), 2);
    state_destroy(neg);
    state_destroy(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_edges_minute_granularity),
        cmocka_unit_test(test_window_edges_hour_granularity),
        cmocka_unit_test(test_window_edges_day_granularity),
        cmocka_unit_test(test_undeclared_window_and_wrong_kind_are_errors),
        cmocka_unit_test(test_bad_defs_are_refused),
        cmocka_unit_test(test_cascade_equals_naive_event_list_100k_random),
        cmocka_unit_test(test_late_events_within_longest_window_count_older_are_skipped),
        cmocka_unit_test(test_idle_key_expires_past_longest_window),
        cmocka_unit_test(test_minute_sweep_removes_expired_lru_front),
        cmocka_unit_test(test_lru_eviction_under_ceiling),
        cmocka_unit_test(test_eviction_churn_keeps_tables_consistent),
        cmocka_unit_test(test_distinct_exact_to_64_then_hll),
        cmocka_unit_test(test_distinct_hll_merges_across_buckets),
        cmocka_unit_test(test_label_expires_exactly_at_expiry),
        cmocka_unit_test(test_alloc_failures_leave_state_unchanged),
        cmocka_unit_test(test_clock_never_goes_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
