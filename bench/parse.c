/* bench/parse.c — ns per event for the hot-path parser (base/wd_json,
 * simdjson DOM) against jansson on the same realistic ~350-byte events:
 * parse, then read user.id, user.age_days and device.vpn.  Best of 3 runs.
 * BENCH_ITERS=N changes the iterations per run (default 300,000). */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/wd_json.h"

#define NVAR 64

typedef struct event {
    char   text[1024];
    size_t len;
} event_t;

static const char *const streams[] = { "pin_create", "login", "payment", "report" };
static const char *const countries[] = { "US", "DE", "BR", "IN", "JP", "FR" };

/* NVAR variants of one realistic event shape: nested user/pin/device
 * objects, a few strings (one escaped), ints, a double and booleans. */
static void make_events(event_t *ev) {
    for (int i = 0; i < NVAR; i++) {
        int n = snprintf(ev[i].text, sizeof ev[i].text,
            "{\"type\":\"%s\",\"id\":\"e-%06d\",\"ts\":\"2026-11-20T10:%02d:%02dZ\","
            "\"user\":{\"id\":\"u%d\",\"age_days\":%d,\"country\":\"%s\",\"verified\":%s},"
            "\"pin\":{\"id\":\"p%d\",\"link\":\"https://ex.com/i/%d?ref=feed\","
            "\"board\":\"b%d\",\"text\":\"Great deals caf\\u00e9 \\\"today\\\" #%d\",\"score\":%d.%02d},"
            "\"device\":{\"ip\":\"203.0.113.%d\",\"ua\":\"Mozilla/5.0 (Linux; Android 14)\","
            "\"vpn\":%s,\"platform\":\"%s\"}}",
            streams[i % 4], 100000 + i, i % 60, (i * 7) % 60,
            1000 + i * 37, i % 30, countries[i % 6], i % 3 ? "false" : "true",
            90000 + i, i * 11, 500 + i, i, i % 10, i % 100,
            i % 250, i % 5 ? "false" : "true", i % 2 ? "android" : "ios");
        ev[i].len = (size_t)n;
    }
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Each returns a checksum of the three fields so the work is not elided
 * and both parsers can be checked against each other. */
static uint64_t run_eng(wd_json_t *p, const event_t *ev, long iters) {
    uint64_t sum = 0;
    char err[128];
    for (long i = 0; i < iters; i++) {
        const event_t *e = &ev[i % NVAR];
        wd_jval_t root, v;
        if (wd_json_parse(p, e->text, e->len, &root, err, sizeof err) != 0) {
            fprintf(stderr, "parse: wd_json: %s\n", err);
            exit(1);
        }
        size_t n = 0;
        if (wd_jval_path(root, "user.id", &v)) wd_jval_str(v, &n);
        sum += n;
        if (wd_jval_path(root, "user.age_days", &v)) sum += (uint64_t)wd_jval_int(v);
        if (wd_jval_path(root, "device.vpn", &v)) sum += (uint64_t)wd_jval_bool(v);
    }
    return sum;
}

static uint64_t run_jansson(const event_t *ev, long iters) {
    uint64_t sum = 0;
    json_error_t err;
    for (long i = 0; i < iters; i++) {
        const event_t *e = &ev[i % NVAR];
        json_t *root = json_loadb(e->text, e->len, 0, &err);
        if (!root) {
            fprintf(stderr, "parse: jansson: %s\n", err.text);
            exit(1);
        }
        json_t *user = json_object_get(root, "user");
        sum += json_string_length(json_object_get(user, "id"));
        sum += (uint64_t)json_integer_value(json_object_get(user, "age_days"));
        sum += json_is_true(json_object_get(json_object_get(root, "device"), "vpn"));
        json_decref(root);
    }
    return sum;
}

int main(void) {
    static event_t ev[NVAR];
    make_events(ev);
    long iters = 300000;
    const char *e = getenv("BENCH_ITERS");
    if (e && atol(e) > 0) iters = atol(e);
    iters -= iters % NVAR;
    if (iters < NVAR) iters = NVAR;

    size_t total = 0;
    for (int i = 0; i < NVAR; i++) total += ev[i].len;

    wd_json_t *p = wd_json_new(0);
    if (!p) { fprintf(stderr, "parse: wd_json_new failed\n"); return 1; }
    uint64_t want = run_eng(p, ev, NVAR) * (uint64_t)(iters / NVAR);   /* also warms up */
    run_jansson(ev, NVAR);

    double best_eng = 1e300, best_jan = 1e300;
    for (int r = 0; r < 3; r++) {
        double t0 = now_ns();
        uint64_t s1 = run_eng(p, ev, iters);
        double t1 = now_ns();
        uint64_t s2 = run_jansson(ev, iters);
        double t2 = now_ns();
        if (s1 != want || s2 != want) {
            fprintf(stderr, "parse: checksums differ (eng %llu, jansson %llu, want %llu)\n",
                    (unsigned long long)s1, (unsigned long long)s2, (unsigned long long)want);
            return 1;
        }
        if ((t1 - t0) / (double)iters < best_eng) best_eng = (t1 - t0) / (double)iters;
        if ((t2 - t1) / (double)iters < best_jan) best_jan = (t2 - t1) / (double)iters;
    }
    wd_json_destroy(p);

    printf("parse: %d event variants, %zu bytes on average, %ld iterations, best of 3, 3 fields read\n",
           NVAR, total / NVAR, iters);
    printf("parse: simdjson-dom %.0f ns/event, jansson %.0f ns/event, ratio %.1f\n",
           best_eng, best_jan, best_jan / best_eng);
    printf("parse: wd_json throughput %.0f MB/s, %.2f M events/s\n",
           (double)(total / NVAR) / best_eng * 1e3, 1e3 / best_eng);
    return 0;
}
