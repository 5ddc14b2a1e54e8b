/* tests/admin/test_adm.c — the admin API's pieces that need no broker:
 * the constant-time token compare, token ids, the listen address, and the
 * server answering health and auth errors over real HTTP (libcurl). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "admin/adm.h"
#include "admin/adm_int.h"
#include "engine/eng_engine.h"
#include "rules/rule_types.h"

static void test_token_equal_only_for_identical_bytes(void **s)
{
    (void)s;
    assert_true(adm_token_equal("abc", 3, "abc", 3));
    assert_false(adm_token_equal("abc", 3, "abd", 3));
    assert_false(adm_token_equal("abc", 3, "abcd", 4));
    assert_false(adm_token_equal("abcd", 4, "abc", 3));
    assert_false(adm_token_equal("", 0, "a", 1));
    assert_true(adm_token_equal("", 0, "", 0));
    /* A NUL inside counts like any byte; the prefix is not enough. */
    assert_false(adm_token_equal("ab\0c", 4, "ab\0d", 4));
    assert_false(adm_token_equal("ab", 2, "ab\0", 3));
}

/* The time of a compare must not depend on where the strings differ:
 * first byte vs last byte of a 4 KiB token, many rounds, within 3x. */
static void test_token_equal_time_does_not_depend_on_the_mismatch(void **s)
{
    (void)s;
    enum { N = 4096, R = 3000 };
    char *a = malloc(N), *b1 = malloc(N), *b2 = malloc(N);
    memset(a, 'x', N);
    memcpy(b1, a, N);
    memcpy(b2, a, N);
    b1[0] = 'y';
    b2[N - 1] = 'y';
    double best[2] = { 1e30, 1e30 };
    for (int round = 0; round < 5; round++) {
        for (int w = 0; w < 2; w++) {
            struct timespec t0, t1;
            /* this thread's CPU time: preemption on a busy machine is not counted */
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
            int eq = 0;
            for (int i = 0; i < R; i++)
                eq += adm_token_equal(a, N, w ? b2 : b1, N);
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
            assert_int_equal(eq, 0);
            double d = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
            if (d < best[w])
                best[w] = d;
        }
    }
    /* An early-exit compare would make the first-byte case ~4096x faster. */
    assert_true(best[0] * 3 > best[1]);
    assert_true(best[1] * 3 > best[0]);
    free(a);
    free(b1);
    free(b2);
}

static void test_token_id_is_a_hash_prefix_not_the_token(void **s)
{
    (void)s;
    char id[32];
    adm_token_id("s3cret-token", id);
    assert_non_null(strstr(id, "sha256:"));
    assert_null(strstr(id, "s3cret"));
    char id2[32];
    adm_token_id("s3cret-tokeN", id2);
    assert_string_not_equal(id, id2);
}

static void test_bad_listen_address_is_refused(void **s)
{
    (void)s;
    adm_opts_t o;
    memset(&o, 0, sizeof o);
    char err[256];
    const char *bad[] = { "nohost:", "1.2.3:9100", "127.0.0.1:99999", "127.0.0.1:x", NULL };
    for (int i = 0; bad[i]; i++) {
        o.listen = bad[i];
        assert_null(adm_new(&o, err, sizeof err));
        assert_non_null(strstr(err, "admin.listen"));
    }
}

static size_t sink(char *p, size_t sz, size_t n, void *ud)
{
    size_t *len = ud;
    (void)p;
    *len += sz * n;
    return sz * n;
}

static long http(int port, const char *method, const char *path, const char *auth)
{
    CURL *c = curl_easy_init();
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    struct curl_slist *h = auth ? curl_slist_append(NULL, auth) : NULL;
    size_t len = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &len);
    long status = -1;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

static void test_server_health_and_auth_statuses(void **s)
{
    (void)s;
    adm_opts_t o;
    memset(&o, 0, sizeof o);
    o.listen = "127.0.0.1:0";
    o.token = "t0ken";
    o.open_health = 1;
    char err[256];
    adm_t *a = adm_new(&o, err, sizeof err);
    assert_non_null(a);
    int port = adm_port(a);
    assert_true(port > 0);
    assert_int_equal(http(port, "GET", "/healthz", NULL), 200);
    assert_int_equal(http(port, "GET", "/readyz", NULL), 503);   /* nothing published yet */
    assert_int_equal(http(port, "GET", "/metrics", NULL), 200);
    assert_int_equal(http(port, "GET", "/rules", NULL), 401);
    assert_int_equal(http(port, "GET", "/rules", "Authorization: Bearer t0keN"), 401);
    assert_int_equal(http(port, "GET", "/rules", "Authorization: Bearer t0ken"), 200);
    assert_int_equal(http(port, "GET", "/rules/x", "Authorization: Bearer t0ken"), 404);
    assert_int_equal(http(port, "POST", "/healthz", NULL), 405);
    assert_int_equal(http(port, "GET", "/replays", "Authorization: Bearer t0ken"), 200);
    assert_int_equal(http(port, "POST", "/replays", NULL), 401);
    assert_int_equal(http(port, "GET", "/replays/r1", "Authorization: Bearer t0ken"), 404);
    assert_int_equal(http(port, "GET", "/other", NULL), 404);
    adm_destroy(a);
}

static size_t keep(char *p, size_t sz, size_t n, void *ud)
{
    wd_buf_add(ud, p, sz * n);
    return sz * n;
}

/* One request with a body; the answer in out. */
static long http_body(int port, const char *method, const char *path, const char *body, wd_buf_t *out)
{
    CURL *c = curl_easy_init();
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer t0ken");
    wd_buf_reset(out);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    long status = -1;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    wd_buf_addc(out, '\0');
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

/* A job over JSONL files on the server (no broker): accepted, run to the
 * end in its own thread, its report readable; the live side untouched. */
static void test_replay_job_over_files_runs_to_a_report(void **s)
{
    (void)s;
    adm_opts_t o;
    memset(&o, 0, sizeof o);
    o.listen = "127.0.0.1:0";
    o.token = "t0ken";
    o.replay_jobs_max = 1;
    o.replay_cpu_pct = 100;
    char err[256];
    adm_t *a = adm_new(&o, err, sizeof err);
    assert_non_null(a);
    int port = adm_port(a);
    wd_buf_t b = WD_BUF_INIT;
    /* No Kafka settings on this server: files only. */
    assert_int_equal(http_body(port, "POST", "/replays", "{\"rules\":\"examples/rules\",\"from\":\"-1h\"}", &b), 400);
    assert_non_null(strstr(b.data, "no Kafka settings"));
    assert_int_equal(http_body(port, "POST", "/replays", "{\"rules\":\"examples/rules\",\"input\":7}", &b), 400);
    assert_int_equal(http_body(port, "POST", "/replays", "{\"rules\":\"examples/rules\",\"input\":[\"a\"],"
                                                          "\"topics\":[\"t\"]}", &b), 400);
    /* The sample's first 1000 events (valgrind runs this too). */
    char path[] = "/tmp/test_adm_replay.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *in = fopen("examples/events/sample.jsonl", "r"), *outf = fdopen(fd, "w");
    assert_non_null(in);
    char line[8192];
    for (int i = 0; i < 1000 && fgets(line, sizeof line, in); i++)
        fputs(line, outf);
    fclose(in);
    fclose(outf);
    /* A job reading a FIFO nobody writes yet holds the one slot: a second
     * is refused (429) until it is cancelled; EOF then ends it, cancelled,
     * with a partial report. */
    char fifo[] = "/tmp/test_adm_fifo.XXXXXX";
    assert_non_null(mkdtemp(fifo));
    char fpath[64];
    snprintf(fpath, sizeof fpath, "%s/in", fifo);
    assert_int_equal(mkfifo(fpath, 0600), 0);
    char fjob[256];
    snprintf(fjob, sizeof fjob, "{\"rules\":\"examples/rules\",\"input\":[\"%s\"]}", fpath);
    assert_int_equal(http_body(port, "POST", "/replays", fjob, &b), 202);
    assert_non_null(strstr(b.data, "\"id\":\"r1\""));
    assert_int_equal(http_body(port, "POST", "/replays", fjob, &b), 429);
    assert_non_null(strstr(b.data, "replay_jobs_max"));
    assert_int_equal(http_body(port, "DELETE", "/replays/r1", NULL, &b), 200);
    assert_non_null(strstr(b.data, "\"status\":\"cancelled\""));
    /* The job may have stopped before it opened the FIFO: no reader,
     * nothing to write to (ENXIO). */
    int stopped = 0;
    for (int i = 0; i < 3000 && !stopped; i++) {
        int wfd = open(fpath, O_WRONLY | O_NONBLOCK);
        if (wfd >= 0) {
            assert_int_equal(write(wfd, "{}\n", 3), 3);
            close(wfd);
        }
        assert_int_equal(http_body(port, "GET", "/replays/r1", NULL, &b), 200);
        stopped = strstr(b.data, "\"partial\":true") != NULL;
        if (!stopped)
            usleep(20000);
    }
    assert_true(stopped);
    assert_non_null(strstr(b.data, "\"status\":\"cancelled\""));
    assert_int_equal(http_body(port, "DELETE", "/replays/r1", NULL, &b), 200);
    unlink(fpath);
    rmdir(fifo);

    char job[512];
    snprintf(job, sizeof job, "{\"rules\":\"examples/rules\",\"baseline\":\"examples/rules\",\"input\":[\"%s\"]}",
             path);
    assert_int_equal(http_body(port, "POST", "/replays", job, &b), 202);
    assert_non_null(strstr(b.data, "\"id\":\"r2\""));
    int done = 0;
    for (int i = 0; i < 3000 && !done; i++) {
        assert_int_equal(http_body(port, "GET", "/replays/r2", NULL, &b), 200);
        done = strstr(b.data, "\"status\":\"done\"") != NULL;
        if (!done)
            usleep(50000);
    }
    assert_true(done);
    assert_non_null(strstr(b.data, "\"read\":1000,"));
    assert_non_null(strstr(b.data, "\"partial\":false"));
    assert_non_null(strstr(b.data, "\"fraction\":1.0000"));
    /* Baseline = candidate: nothing added or removed. */
    assert_null(strstr(b.data, "\"added\":1"));
    assert_int_equal(http_body(port, "DELETE", "/replays/r2", NULL, &b), 200);
    assert_non_null(strstr(b.data, "\"deleted\":true"));
    assert_int_equal(http_body(port, "GET", "/replays/r2", NULL, &b), 404);
    assert_int_equal(http_body(port, "DELETE", "/replays/r2", NULL, &b), 404);
    wd_buf_free(&b);
    unlink(path);
    adm_destroy(a);
}

/* ---- the breaker, driven by an engine and adm_poll, no HTTP ------------- */

typedef struct host_ud {
    eng_engine_t *e;
} host_ud_t;

static eng_engine_t *h_engine(void *ud) { return ((host_ud_t *)ud)->e; }
static int h_reload(void *ud, char *err, size_t n)
{
    (void)ud;
    snprintf(err, n, "no reload here");
    return -1;
}

static char pack_dir[256];

static void write_file(const char *dir, const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static eng_engine_t *breaker_pack(void)
{
    snprintf(pack_dir, sizeof pack_dir, "/tmp/warden-test-adm.XXXXXX");
    assert_non_null(mkdtemp(pack_dir));
    write_file(pack_dir, "hot.lua",
               "return { name = 't.hot', version = 1, streams = { 't' }, mode = 'enforce', fields = { 'n' },\n"
               "  evaluate = function(ev, ctx)\n"
               "    if ev.n >= 1000 or ev.n % 10 == 0 then return ctx.block{ entity = 'e' .. ev.n } end\n"
               "  end }\n");
    write_file(pack_dir, "calm.lua",
               "return { name = 't.calm', version = 1, streams = { 't' }, mode = 'enforce', fields = { 'n' },\n"
               "  evaluate = function(ev, ctx) if ev.n % 10 == 0 then return ctx.flag{ entity = 'x' } end end }\n");
    char err[4096];
    eng_engine_t *e = eng_engine_new(NULL, pack_dir, err, sizeof err);
    if (!e)
        fail_msg("%s", err);
    return e;
}

static void drop_pack(void)
{
    const char *names[] = { "hot.lua", "calm.lua", NULL };
    char p[512];
    for (int i = 0; names[i]; i++) {
        snprintf(p, sizeof p, "%s/%s", pack_dir, names[i]);
        unlink(p);
    }
    rmdir(pack_dir);
}

static void eval_n(eng_engine_t *e, int from, int to, int minute)
{
    for (int i = from; i < to; i++) {
        char ev[160];
        int len = snprintf(ev, sizeof ev, "{\"type\":\"t\",\"id\":\"e%d\",\"ts\":\"2026-11-20T10:%02d:00Z\",\"n\":%d}",
                           i, minute, i);
        const eng_outcome_t *o;
        eng_src_t src = { .msg_ts_ms = INT64_MIN };
        assert_int_equal(eng_engine_eval(e, NULL, ev, (size_t)len, &src, &o), 0);
        assert_int_equal(o->status, ENG_EVENT_OK);
    }
}

static int mode_of(eng_engine_t *e, const char *rule)
{
    const eng_rule_stats_t *st;
    size_t n = eng_engine_rule_stats(e, &st);
    for (size_t i = 0; i < n; i++)
        if (strcmp(st[i].rule, rule) == 0)
            return st[i].mode;
    return -1;
}

static int64_t minute_ms(int m) { return 1795168800000LL + (int64_t)m * 60000; }   /* 2026-11-20T10:MM */

/* Over the hit-rate ceiling: a rule hitting 10% of events in its first
 * minutes (the baseline) and then every event trips; its calm neighbour,
 * at a steady 10%, does not; the trip is audited and counted. */
static void test_breaker_trips_on_a_hit_rate_over_the_baseline(void **s)
{
    (void)s;
    eng_engine_t *e = breaker_pack();
    adm_opts_t o;
    memset(&o, 0, sizeof o);
    o.listen = "127.0.0.1:0";
    o.breaker.hit_multiple = 3;
    o.breaker.min_evals = 50;
    char err[256];
    adm_t *a = adm_new(&o, err, sizeof err);
    assert_non_null(a);
    adm_engine_loaded(a, e);
    host_ud_t ud = { e };
    adm_host_t h = { &ud, h_engine, h_reload, 0, minute_ms(0), NULL, "test", NULL, NULL, NULL };
    /* Two minutes at 10%: the baseline. */
    for (int m = 0; m < 3; m++) {
        h.event_ts_ms = minute_ms(m);
        adm_poll(a, &h);
        eval_n(e, m * 100, m * 100 + 100, m);
        adm_poll(a, &h);
        assert_int_equal(mode_of(e, "t.hot"), RULE_MODE_ENFORCE);
    }
    /* Minute 3: every event hits t.hot (n >= 1000). */
    h.event_ts_ms = minute_ms(3);
    adm_poll(a, &h);
    eval_n(e, 1000, 1100, 3);
    adm_poll(a, &h);
    assert_int_equal(mode_of(e, "t.hot"), RULE_MODE_SHADOW);
    assert_int_equal(mode_of(e, "t.calm"), RULE_MODE_ENFORCE);
    pthread_mutex_lock(&a->mu);
    assert_int_equal(a->breaker_trips, 1);
    assert_string_equal(adm_mode_source(a, "t.hot"), "breaker");
    assert_string_equal(adm_mode_source(a, "t.calm"), "file");
    pthread_mutex_unlock(&a->mu);
    adm_destroy(a);
    eng_engine_destroy(e);
    drop_pack();
}

/* Actions per minute of event time: 9 in a minute pass a ceiling of 10,
 * the next minute starts from 0, 11 in one minute trip. */
static void test_breaker_trips_on_actions_per_minute_of_event_time(void **s)
{
    (void)s;
    eng_engine_t *e = breaker_pack();
    adm_opts_t o;
    memset(&o, 0, sizeof o);
    o.listen = "127.0.0.1:0";
    o.breaker.actions_per_min = 10;
    o.breaker.min_evals = 1;
    char err[256];
    adm_t *a = adm_new(&o, err, sizeof err);
    assert_non_null(a);
    adm_engine_loaded(a, e);
    host_ud_t ud = { e };
    adm_host_t h = { &ud, h_engine, h_reload, 0, minute_ms(0), NULL, "test", NULL, NULL, NULL };
    adm_poll(a, &h);
    eval_n(e, 0, 90, 0);            /* 9 hits of t.hot (n % 10 == 0) */
    adm_poll(a, &h);
    assert_int_equal(mode_of(e, "t.hot"), RULE_MODE_ENFORCE);
    h.event_ts_ms = minute_ms(1);
    adm_poll(a, &h);                /* a new minute */
    eval_n(e, 100, 190, 1);         /* 9 more, in minute 1 */
    adm_poll(a, &h);
    assert_int_equal(mode_of(e, "t.hot"), RULE_MODE_ENFORCE);
    eval_n(e, 1000, 1002, 1);       /* 2 more in minute 1: 11 > 10 */
    adm_poll(a, &h);
    assert_int_equal(mode_of(e, "t.hot"), RULE_MODE_SHADOW);
    adm_destroy(a);
    eng_engine_destroy(e);
    drop_pack();
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_equal_only_for_identical_bytes),
        cmocka_unit_test(test_token_equal_time_does_not_depend_on_the_mismatch),
        cmocka_unit_test(test_token_id_is_a_hash_prefix_not_the_token),
        cmocka_unit_test(test_bad_listen_address_is_refused),
        cmocka_unit_test(test_server_health_and_auth_statuses),
        cmocka_unit_test(test_replay_job_over_files_runs_to_a_report),
        cmocka_unit_test(test_breaker_trips_on_a_hit_rate_over_the_baseline),
        cmocka_unit_test(test_breaker_trips_on_actions_per_minute_of_event_time),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
