/* bench/state.c — the rule state's hot path against a plain hash-table
 * increment measured in the same run: a minimal open-addressing table
 * keyed by the same strings with the same hash.
 *   - counter update (4 windows: 1m, 1h, 1d, 7d), update + reading all 4
 *     windows, at 10k keys (cache-resident) and 1M keys (memory-bound);
 *   - memory per key with 1,000,000 keys: accounted, and measured by the
 *     allocator (mallinfo2), next to the plain table's;
 *   - distinct update (1h, 1d) with small exact sets and into a sketch;
 *   - full expiry sweep and snapshot save/load of the 1M-key state.
 * Aims (issue 3): update within 3x the plain increment; <= 1 KiB per key.
 * Best of 3 runs per figure; BENCH_OPS=N changes the ops per run. */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "state/state_hll.h"
#include "state/state.h"

#define SEC  1000LL
#define MIN  (60 * SEC)
#define HOUR (60 * MIN)
#define DAY  (24 * HOUR)
#define T0   (20412 * DAY + 10 * HOUR + 5 * MIN)

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ---- the baseline: a minimal open-addressing counter table ---- */

typedef struct bent {
    uint64_t h;
    uint64_t count;
    uint32_t klen;
    char     key[20];
} bent_t;

typedef struct btab {
    bent_t *e;
    size_t  mask, n;
} btab_t;

static void b_init(btab_t *t, size_t cap)
{
    t->e = calloc(cap, sizeof(*t->e));
    t->mask = cap - 1;
    t->n = 0;
    if (t->e == NULL)
        abort();
}

static uint64_t b_incr(btab_t *t, const char *k, uint32_t klen)
{
    uint64_t h = wd_hash64(k, klen, 1) | 1;
    size_t i = h & t->mask;
    for (;;) {
        bent_t *e = &t->e[i];
        if (e->h == h && e->klen == klen && memcmp(e->key, k, klen) == 0)
            return ++e->count;
        if (e->h == 0) {
            e->h = h;
            e->klen = klen;
            memcpy(e->key, k, klen);
            t->n++;
            return e->count = 1;
        }
        i = (i + 1) & t->mask;
    }
}

/* ---- workload ---- */

typedef struct keys {
    char    (*k)[16];
    uint32_t *len;
    size_t    n;
} keys_t;

static void keys_make(keys_t *ks, size_t n)
{
    ks->k = malloc(n * sizeof(*ks->k));
    ks->len = malloc(n * sizeof(*ks->len));
    ks->n = n;
    for (size_t i = 0; i < n; i++)
        ks->len[i] = (uint32_t)snprintf(ks->k[i], sizeof ks->k[i], "user:%07zu", i);
}

static uint32_t *seq_make(size_t ops, size_t nkeys, uint64_t seed)
{
    uint32_t *s = malloc(ops * sizeof(*s));
    uint64_t x = seed;
    for (size_t i = 0; i < ops; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s[i] = (uint32_t)(x % nkeys);
    }
    return s;
}

static const int64_t w4[] = { MIN, HOUR, DAY, 7 * DAY };
static const int64_t w2[] = { HOUR, DAY };

static state_t *mk_state(void)
{
    state_counter_def_t d[] = {
        { "pins_by_user", "pin_create", "user.id", NULL, w4, 4 },
        { "ips_by_user", "login", "user.id", "ip", w2, 2 },
    };
    char err[256];
    state_t *st = state_new(d, 2, 0, err, sizeof err);
    if (st == NULL) {
        fprintf(stderr, "state: %s\n", err);
        exit(1);
    }
    return st;
}

/* ~5,000 events a second of event time: ts advances 1 ms every 5 ops. */
static int64_t ts_of(size_t op, int64_t base)
{
    return base + (int64_t)(op / 5);
}

static volatile uint64_t sink;

static double bench_baseline(btab_t *t, const keys_t *ks, const uint32_t *seq, size_t ops)
{
    uint64_t s = 0;
    double t0 = now_ns();
    for (size_t i = 0; i < ops; i++)
        s += b_incr(t, ks->k[seq[i]], ks->len[seq[i]]);
    double dt = now_ns() - t0;
    sink += s;
    return dt / (double)ops;
}

static double bench_update(state_t *st, const keys_t *ks, const uint32_t *seq, size_t ops,
                           int64_t base)
{
    double t0 = now_ns();
    for (size_t i = 0; i < ops; i++)
        if (state_add(st, 0, ks->k[seq[i]], ks->len[seq[i]], ts_of(i, base)) < 0)
            abort();
    return (now_ns() - t0) / (double)ops;
}

static double bench_update_read4(state_t *st, const keys_t *ks, const uint32_t *seq,
                                 size_t ops, int64_t base)
{
    uint64_t s = 0;
    double t0 = now_ns();
    for (size_t i = 0; i < ops; i++) {
        const char *k = ks->k[seq[i]];
        uint32_t kl = ks->len[seq[i]];
        int64_t ts = ts_of(i, base);
        state_add(st, 0, k, kl, ts);
        for (int w = 0; w < 4; w++)
            s += (uint64_t)state_count(st, 0, k, kl, w4[w], ts);
    }
    double dt = now_ns() - t0;
    sink += s;
    return dt / (double)ops;
}

static double bench_read1h(state_t *st, const keys_t *ks, const uint32_t *seq, size_t ops,
                           int64_t ts)
{
    uint64_t s = 0;
    double t0 = now_ns();
    for (size_t i = 0; i < ops; i++)
        s += (uint64_t)state_count(st, 0, ks->k[seq[i]], ks->len[seq[i]], HOUR, ts);
    double dt = now_ns() - t0;
    sink += s;
    return dt / (double)ops;
}

static double bench_distinct(state_t *st, const keys_t *ks, const uint32_t *seq, size_t ops,
                             int64_t base, int spread)
{
    char v[32];
    double t0 = now_ns();
    for (size_t i = 0; i < ops; i++) {
        uint32_t k = seq[i];
        int n = spread ? snprintf(v, sizeof v, "v%zu", i)
                       : snprintf(v, sizeof v, "10.0.%u.%u", k % 200, (unsigned)(i % 8));
        if (state_add_distinct(st, 1, ks->k[k], ks->len[k], v, (size_t)n, ts_of(i, base)) < 0)
            abort();
    }
    return (now_ns() - t0) / (double)ops;
}

static double best3(double a, double b, double c)
{
    double m = a < b ? a : b;
    return m < c ? m : c;
}

static void row(const char *what, double ns, double base)
{
    printf("  %-44s %8.1f ns/op   baseline %6.1f ns/op   ratio %5.2fx\n", what, ns, base,
           ns / base);
}

int main(void)
{
    size_t ops = 1500000;
    const char *env = getenv("BENCH_OPS");
    if (env && atol(env) > 0)
        ops = (size_t)atol(env);
    const size_t big = 1000000, hot = 10000;
    keys_t ks;
    keys_make(&ks, big);
    uint32_t *seq_hot = seq_make(ops, hot, 0x1234567), *seq_big = seq_make(ops, big, 0x7654321);
    printf("rule state (state/state): counter with windows 1m,1h,1d,7d; %zu ops per run, best of 3\n",
           ops);

    /* hot: 10k keys */
    double b[3], u[3], r[3];
    for (int run = 0; run < 3; run++) {
        btab_t t;
        b_init(&t, 32768);
        b[run] = bench_baseline(&t, &ks, seq_hot, ops);
        free(t.e);
        state_t *st = mk_state();
        u[run] = bench_update(st, &ks, seq_hot, ops, T0);
        state_destroy(st);
        st = mk_state();
        r[run] = bench_update_read4(st, &ks, seq_hot, ops, T0);
        state_destroy(st);
    }
    double bh = best3(b[0], b[1], b[2]);
    printf("10,000 keys (cache-resident):\n");
    row("counter update (4 windows)", best3(u[0], u[1], u[2]), bh);
    row("counter update + read 1m,1h,1d,7d", best3(r[0], r[1], r[2]), bh);

    /* big: 1M keys, memory first */
    struct mallinfo2 m0 = mallinfo2();
    state_t *st = mk_state();
    double t0 = now_ns();
    for (size_t i = 0; i < big; i++)
        state_add(st, 0, ks.k[i], ks.len[i], T0 + (int64_t)(i / 1000));
    double fill = (now_ns() - t0) / (double)big;
    struct mallinfo2 m1 = mallinfo2();
    state_stats_t sts;
    state_stats(st, &sts);
    btab_t bt;
    struct mallinfo2 mb0 = mallinfo2();
    b_init(&bt, 2 * 1048576);
    for (size_t i = 0; i < big; i++)
        b_incr(&bt, ks.k[i], ks.len[i]);
    struct mallinfo2 mb1 = mallinfo2();
    double st_alloc = (double)(m1.uordblks + m1.hblkhd - m0.uordblks - m0.hblkhd) / (double)big;
    double bt_alloc = (double)(mb1.uordblks + mb1.hblkhd - mb0.uordblks - mb0.hblkhd) / (double)big;
    printf("1,000,000 keys:\n");
    printf("  %-44s %8.0f B/key    baseline %6.0f B/key    ratio %5.2fx   (aim <= 1024)\n",
           "memory per key, allocated (mallinfo2)", st_alloc, bt_alloc, st_alloc / bt_alloc);
    printf("  %-44s %8.0f B/key\n", "memory per key, accounted (state_max_mb)",
           (double)sts.bytes / (double)sts.keys);
    printf("  %-44s %8.1f ns/op\n", "first event of a key (insert)", fill);
    double bb = 0;
    for (int run = 0; run < 3; run++) {
        b[run] = bench_baseline(&bt, &ks, seq_big, ops);
        u[run] = bench_update(st, &ks, seq_big, ops, T0 + (int64_t)(big / 1000) + run * 2 * MIN);
    }
    bb = best3(b[0], b[1], b[2]);
    row("counter update (4 windows)", best3(u[0], u[1], u[2]), bb);
    for (int run = 0; run < 3; run++)
        r[run] = bench_update_read4(st, &ks, seq_big, ops, T0 + 10 * MIN + run * 2 * MIN);
    row("counter update + read 1m,1h,1d,7d", best3(r[0], r[1], r[2]), bb);
    for (int run = 0; run < 3; run++)
        r[run] = bench_read1h(st, &ks, seq_big, ops, T0 + 20 * MIN);
    row("counter read 1h (60 minute buckets)", best3(r[0], r[1], r[2]), bb);
    t0 = now_ns();
    state_expire(st);
    printf("  %-44s %8.1f ms  (%.1f ns/key; runs when the clock crosses an hour)\n",
           "full expiry sweep", (now_ns() - t0) / 1e6, (now_ns() - t0) / (double)big);
    wd_buf_t snap = WD_BUF_INIT;
    t0 = now_ns();
    state_save_buf(st, &snap);
    double save = now_ns() - t0;
    state_t *st2 = state_new_like(st);
    char err[256];
    t0 = now_ns();
    if (state_load_buf(st2, snap.data, snap.len, err, sizeof err) != 0) {
        fprintf(stderr, "load: %s\n", err);
        return 1;
    }
    double load = now_ns() - t0;
    printf("  %-44s %8.1f MB, save %.0f ms, load %.0f ms\n", "snapshot of the 1M-key state",
           (double)snap.len / 1e6, save / 1e6, load / 1e6);
    wd_buf_free(&snap);
    state_destroy(st2);
    state_destroy(st);
    free(bt.e);

    /* distinct: 100k keys, 8 values each (exact sets); and one key into a sketch */
    uint32_t *seq_mid = seq_make(ops, 100000, 0x55aa55aa);
    double d[3];
    for (int run = 0; run < 3; run++) {
        btab_t t;
        b_init(&t, 262144);
        b[run] = bench_baseline(&t, &ks, seq_mid, ops);
        free(t.e);
        st = mk_state();
        d[run] = bench_distinct(st, &ks, seq_mid, ops, T0, 0);
        state_stats(st, &sts);
        state_destroy(st);
    }
    printf("distinct counter (windows 1h,1d), 100,000 keys:\n");
    row("distinct update, <= 8 values a key (exact)", best3(d[0], d[1], d[2]), best3(b[0], b[1], b[2]));
    printf("  %-44s %8.0f B/key (accounted)\n", "memory per key", (double)sts.bytes / (double)sts.keys);
    uint32_t *one = calloc(ops, sizeof(*one));
    for (int run = 0; run < 3; run++) {
        st = mk_state();
        d[run] = bench_distinct(st, &ks, one, ops, T0, 1);
        if (run == 2)
            printf("  %-44s %8.1f ns/op   (estimate %lld of %zu)\n",
                   "distinct update, one key into a sketch", best3(d[0], d[1], d[2]),
                   (long long)state_distinct(st, 1, ks.k[0], ks.len[0], DAY, ts_of(ops, T0)), ops);
        state_destroy(st);
    }
    free(one);
    free(seq_mid);
    free(seq_hot);
    free(seq_big);
    free(ks.k);
    free(ks.len);
    return 0;
}
