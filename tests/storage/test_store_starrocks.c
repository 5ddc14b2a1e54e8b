/* tests/storage/test_store_starrocks.c — contract tests of the starrocks://
 * sink (Stream Load) against tests/storage/fake_starrocks.py, a local HTTP
 * server that follows the documented FE/BE protocol: redirect, credentials,
 * Expect, labels, error bodies.  No real StarRocks runs here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/wd_buf.h"
#include "base/wd_util.h"
#include "storage/store.h"
#include "storage/store_int.h"
#include "storage/store_queue.h"

static pid_t server_pid;
static int fe_port;
static char url[256];

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    wd_buf_add(arg, p, size * n);
    return size * n;
}

/* GET/POST on the fake's FE port; returns the parsed JSON answer. */
static json_t *http(const char *method, const char *path, const char *body)
{
    char u[256];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d%s", fe_port, path);
    CURL *c = curl_easy_init();
    wd_buf_t out = WD_BUF_INIT;
    curl_easy_setopt(c, CURLOPT_URL, u);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    if (strcmp(method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_cleanup(c);
    json_error_t je;
    json_t *j = json_loadb(out.data ? out.data : "", out.len, 0, &je);
    wd_buf_free(&out);
    assert_non_null(j);
    return j;
}

static long counter(const char *name)
{
    json_t *s = http("GET", "/state", NULL);
    long v = (long)json_integer_value(json_object_get(json_object_get(s, "counters"), name));
    json_decref(s);
    return v;
}

/* Rows of a table in the fake, as a new JSON array. */
static json_t *table_rows(const char *table)
{
    json_t *s = http("GET", "/state", NULL);
    json_t *t = json_object_get(json_object_get(s, "tables"), table);
    json_t *out = t ? json_deep_copy(t) : json_array();
    json_decref(s);
    return out;
}

static void control(const char *json)
{
    json_decref(http("POST", "/control", json));
}

static int setup_all(void **st)
{
    (void)st;
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    server_pid = fork();
    if (server_pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execlp("python3", "python3", "tests/storage/fake_starrocks.py", "--user", "warden",
               "--password", "s3cr:et", (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char line[64] = "";
    FILE *f = fdopen(fd[0], "r");
    if (!f || !fgets(line, sizeof(line), f)) {
        fprintf(stderr, "fake_starrocks.py did not start (run from the repository root)\n");
        return -1;
    }
    fclose(f);
    fe_port = atoi(line);
    setenv("WARDEN_STORE_PASSWORD", "s3cr:et", 1);
    snprintf(url, sizeof(url),
             "starrocks://warden@127.0.0.1:%d/wardendb?backoff_ms=5&backoff_max_ms=40&timeout=5",
             fe_port);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return 0;
}

static int teardown_all(void **st)
{
    (void)st;
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
    }
    curl_global_cleanup();
    return 0;
}

static int reset_fake(void **st)
{
    (void)st;
    json_decref(http("POST", "/reset", NULL));
    return 0;
}

static store_row_t row(const char *event_id, const char *entity)
{
    store_row_t r = {
        .run_id = "live", .event_id = event_id, .stream = "pin_create", .rule = "spam.link_burst",
        .version = 3, .mode = "enforce", .verdict = "block", .entity = entity,
        .entity_len = strlen(entity), .reason = "link \"burst\"\n\\", .reason_len = 14,
        .has_score = 1, .score = 0.9, .event_ts_ms = 1795168800123LL, .topic = "pins",
        .partition = 2, .offset = 77,
    };
    return r;
}

#define SHA_HEX "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

static void write_rows(store_t *s, int n, const char *prefix, const char *entity)
{
    char err[512], id[64];
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "%s%d", prefix, i);
        store_row_t r = row(id, entity);
        if (i % 2 == 0)
            r.rule_sha256 = SHA_HEX;
        assert_int_equal(store_write(s, &r, 1, err, sizeof(err)), 0);
    }
}

static void test_load_follows_redirect_with_credentials_and_expect(void **st)
{
    (void)st;
    store_t *s;
    char err[512];
    assert_int_equal(store_open(&s, url, NULL, err, sizeof(err)), 0);
    write_rows(s, 250, "e", "u\xc3\xa9\"1");
    assert_int_equal(store_flush(s, err, sizeof(err)), 0);
    store_stats_t stats;
    store_stats(s, &stats);
    assert_int_equal(stats.rows_written, 250);
    assert_int_equal(stats.retries, 0);
    assert_int_equal(store_close(s, err, sizeof(err)), 0);

    assert_int_equal(counter("fe_no_expect"), 0);
    assert_int_equal(counter("auth_failures"), 0);
    assert_true(counter("fe_requests") >= 1);
    assert_int_equal(counter("be_requests"), counter("fe_requests"));
    json_t *rows = table_rows("rule_results");
    assert_int_equal(json_array_size(rows), 250);
    json_t *r0 = json_array_get(rows, 0);
    assert_string_equal(json_string_value(json_object_get(r0, "entity")), "u\xc3\xa9\"1");
    assert_string_equal(json_string_value(json_object_get(r0, "reason")), "link \"burst\"\n\\");
    assert_string_equal(json_string_value(json_object_get(r0, "event_day")), "2026-11-20");
    assert_string_equal(json_string_value(json_object_get(r0, "event_ts")), "2026-11-20 10:00:00.123");
    assert_int_equal(json_integer_value(json_object_get(r0, "kafka_offset")), 77);
    assert_true(json_real_value(json_object_get(r0, "score")) == 0.9);
    /* rule_sha256: the hex string when given, null (not missing) otherwise. */
    size_t with = 0, null = 0, i;
    json_t *ri;
    json_array_foreach(rows, i, ri) {
        json_t *h = json_object_get(ri, "rule_sha256");
        assert_non_null(h);
        if (json_is_null(h))
            null++;
        else if (json_is_string(h) && strcmp(json_string_value(h), SHA_HEX) == 0)
            with++;
    }
    assert_int_equal(with, 125);
    assert_int_equal(null, 125);
    json_decref(rows);
}

/* The longest ids the engine accepts (run_id 128, event_id 512, rule 128
 * bytes) would make a natural primary key of 772 bytes, which StarRocks
 * (and the fake, like its primary_key_limit_size) refuses for the whole
 * load; the digest key is 32 bytes whatever the ids. */
static void test_longest_ids_load_under_the_primary_key_limit(void **st)
{
    (void)st;
    char run_id[129], event_id[513], rule[129];
    memset(run_id, 'r', 128);
    run_id[128] = '\0';
    memset(event_id, 'e', 512);
    event_id[512] = '\0';
    memset(rule, 'x', 128);
    rule[128] = '\0';
    store_t *s;
    char err[512];
    assert_int_equal(store_open(&s, url, NULL, err, sizeof(err)), 0);
    store_row_t r = row(event_id, "u1");
    r.run_id = run_id;
    r.rule = rule;
    assert_int_equal(store_write(s, &r, 1, err, sizeof(err)), 0);
    store_decision_t d = { .run_id = run_id, .event_id = event_id, .stream = "pin_create",
                           .entity = "u1", .verdict = "block", .event_ts_ms = r.event_ts_ms };
    const char *rules[] = { rule };
    d.rules = rules;
    d.nrules = 1;
    assert_int_equal(store_write_decision(s, &d, err, sizeof(err)), 0);
    store_rule_version_t rv = { .name = rule, .version = 2147483647, .sha256 = SHA_HEX,
                                .source = "return {}", .source_len = 9, .seen_ms = r.event_ts_ms };
    assert_int_equal(store_rule_version(s, &rv, err, sizeof(err)), 0);
    assert_int_equal(store_flush(s, err, sizeof(err)), 0);
    assert_int_equal(store_close(s, err, sizeof(err)), 0);
    assert_int_equal(counter("rejected"), 0);

    /* row_key: the first 32 hex digits of sha256("128:rrr…512:eee…xxx…") */
    wd_buf_t k = WD_BUF_INIT;
    wd_buf_printf(&k, "128:%s512:%s%s", run_id, event_id, rule);
    char hex[65];
    wd_sha256_hex(k.data, k.len, hex);
    hex[32] = '\0';
    wd_buf_free(&k);
    json_t *rows = table_rows("rule_results");
    assert_int_equal(json_array_size(rows), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "row_key")), hex);
    assert_int_equal(strlen(json_string_value(json_object_get(json_array_get(rows, 0), "event_id"))), 512);
    json_decref(rows);
    rows = table_rows("decisions");
    assert_int_equal(json_array_size(rows), 1);
    char dk[33];
    store_row_key(run_id, event_id, NULL, dk);
    assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "row_key")), dk);
    assert_string_not_equal(dk, hex);   /* a decision's key leaves the rule out */
    json_decref(rows);
    rows = table_rows("rule_versions");
    assert_int_equal(json_array_size(rows), 1);
    json_decref(rows);
}

/* An answer that is not JSON is quoted in the message from its bytes only,
 * never read past its length (found by tests/fuzz/fuzz_stream_load). */
static void test_judge_reads_a_bad_answer_within_its_length(void **st)
{
    (void)st;
    char *body = malloc(5);
    memcpy(body, "<html", 5);   /* no NUL after it */
    char err[512];
    assert_int_equal(store_sr_judge("l", 1, body, 5, err, sizeof(err)), 1);
    assert_non_null(strstr(err, "not a JSON object: <html"));
    assert_int_equal(store_sr_judge("l", 1, body, 0, err, sizeof(err)), 1);
    free(body);
}

/* Length prefixes keep keys apart that plain concatenation would merge. */
static void test_row_keys_do_not_collide_across_field_boundaries(void **st)
{
    (void)st;
    char a[33], b[33], c[33];
    store_row_key("ab", "c", "r", a);
    store_row_key("a", "bc", "r", b);
    store_row_key("a", "b", "cr", c);
    assert_string_not_equal(a, b);
    assert_string_not_equal(b, c);
    assert_string_not_equal(a, c);
    assert_int_equal(strlen(a), 32);
}

static void test_label_exists_finished_counts_as_success(void **st)
{
    (void)st;
    /* The BE commits, then the answer is lost: the retry with the same label
     * must be recognised as done, not loaded twice. */
    control("{\"drop_after_commit\": 1}");
    store_t *s;
    char err[512];
    assert_int_equal(store_open(&s, url, NULL, err, sizeof(err)), 0);
    write_rows(s, 10, "d", "u1");
    assert_int_equal(store_flush(s, err, sizeof(err)), 0);
    store_stats_t stats;
    store_stats(s, &stats);
    assert_int_equal(stats.retries, 1);
    assert_int_equal(stats.rows_written, 10);
    assert_int_equal(store_close(s, err, sizeof(err)), 0);
    assert_int_equal(counter("loads"), 1);
    assert_int_equal(counter("label_exists"), 1);
    json_t *rows = table_rows("rule_results");
    assert_int_equal(json_array_size(rows), 10);
    json_decref(rows);
}

static void test_label_running_is_checked_again_until_finished(void **st)
{
    (void)st;
    control("{\"running\": 2}");
    store_t *s;
    char err[512];
    assert_int_equal(store_open(&s, url, NULL, err, sizeof(err)), 0);
    write_rows(s, 5, "r", "u2");
    assert_int_equal(store_flush(s, err, sizeof(err)), 0);
    store_stats_t stats;
    store_stats(s, &stats);
    /* lost answer, RUNNING, RUNNING, then FINISHED */
    assert_int_equal(stats.retries, 3);
    assert_int_equal(store_close(s, err, sizeof(err)), 0);
    assert_int_equal(counter("loads"), 1);
    json_t *rows = table_rows("rule_results");
    assert_int_equal(json_array_size(rows), 5);
    json_decref(rows);
}

static void test_5xx_and_transient_fail_are_retried(void **st)
{
    (void)st;
    control("{\"fail_5xx\": 3, \"transient_fail\": 2}");
    store_t *s;
    char err[512];
    assert_int_equal(store_open(&s, url, NULL, err, sizeof(err)), 0);
    write_rows(s, 20, "x", "u3");
    assert_int_equal(store_flush(s, err, sizeof(err)), 0);
    store_stats_t stats;
    store_stats(s, &stats);
    assert_int_equal(stats.retries, 5);
    assert_int_equal(stats.failures, 5);
    assert_int_equal(stats.rows_written, 20);
    assert_int_equal(store_health(s, err, sizeof(err)), 0);
    assert_int_equal(store_close(s, err, sizeof(err)), 0);
    assert_int_equal(counter("answered_5xx"), 3);
    assert_int_equal(counter("transient"), 2);
    assert_int_equal(counter("loads"), 1);
}

static void test_rejected_rows_fail_the_sink_loudly(void **st)
{
    (void)st;
    control("{\"reject_entity\": \"bad\"}");
    store_t *s;
    char err[512] = "";
    assert_int_equal(store_open(&s, url, NULL, err, sizeof(err)), 0);
    write_rows(s, 3, "ok", "fine");
    write_rows(s, 1, "no", "bad");
    assert_int_equal(store_flush(s, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "rejected"));
    assert_non_null(strstr(err, "_load_error_log"));
    assert_int_equal(store_health(s, err, sizeof(err)), -1);
    store_row_t r = row("later", "fine");
    assert_int_equal(store_write(s, &r, 1, err, sizeof(err)), -1);
    assert_int_equal(store_close(s, err, sizeof(err)), -1);
    assert_int_equal(counter("rejected"), 1);
    assert_int_equal(counter("loads"), 0);
}

static void test_same_batch_twice_has_the_same_label(void **st)
{
    (void)st;
    store_t *s;
    char err[512];
    assert_int_equal(store_open(&s, url, NULL, err, sizeof(err)), 0);
    write_rows(s, 7, "same", "u4");
    assert_int_equal(store_flush(s, err, sizeof(err)), 0);
    write_rows(s, 7, "same", "u4");
    assert_int_equal(store_flush(s, err, sizeof(err)), 0);
    assert_int_equal(store_close(s, err, sizeof(err)), 0);
    assert_int_equal(counter("loads"), 1);
    assert_int_equal(counter("label_exists"), 1);
    json_t *s2 = http("GET", "/state", NULL);
    assert_int_equal(json_object_size(json_object_get(s2, "labels")), 1);
    const char *label;
    json_t *v;
    json_object_foreach(json_object_get(s2, "labels"), label, v)
        assert_int_equal(strncmp(label, "warden_rule_results_", 20), 0);
    json_decref(s2);
}

static void test_runs_versions_and_decisions_go_to_their_tables(void **st)
{
    (void)st;
    store_t *s;
    char err[512];
    assert_int_equal(store_open(&s, url, NULL, err, sizeof(err)), 0);
    store_run_t run = { .run_id = "replay-1", .kind = "replay", .started_ms = 1795168800000LL,
                        .rules_sha256 = "ab", .params = "{\"from\":\"x\"}" };
    assert_int_equal(store_begin_run(s, &run, err, sizeof(err)), 0);
    store_rule_version_t rv = { .name = "spam.x", .version = 2, .sha256 = "cd",
                                .source = "return {}", .seen_ms = 1795168800000LL };
    assert_int_equal(store_rule_version(s, &rv, err, sizeof(err)), 0);
    const char *rules[] = { "spam.a", "spam.b" };
    store_decision_t d = { .run_id = "replay-1", .event_id = "e1", .stream = "pin_create",
                           .entity = "u1", .verdict = "block", .rules = rules, .nrules = 2,
                           .event_ts_ms = INT64_MIN };
    assert_int_equal(store_write_decision(s, &d, err, sizeof(err)), 0);
    run.finished_ms = 1795168900000LL;
    run.events = 10;
    run.hits = 2;
    assert_int_equal(store_end_run(s, &run, err, sizeof(err)), 0);
    assert_int_equal(store_close(s, err, sizeof(err)), 0);

    json_t *runs = table_rows("rule_runs");
    assert_int_equal(json_array_size(runs), 1);
    json_t *r = json_array_get(runs, 0);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "finished");
    assert_int_equal(json_integer_value(json_object_get(r, "events")), 10);
    json_decref(runs);
    json_t *dec = table_rows("decisions");
    assert_int_equal(json_array_size(dec), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(dec, 0), "rules")), "spam.a,spam.b");
    assert_string_equal(json_string_value(json_object_get(json_array_get(dec, 0), "event_day")), "1970-01-01");
    json_decref(dec);
    json_t *ver = table_rows("rule_versions");
    assert_int_equal(json_array_size(ver), 1);
    json_decref(ver);
}

static void test_wrong_password_is_fatal(void **st)
{
    (void)st;
    char bad[300];
    snprintf(bad, sizeof(bad), "starrocks://warden:nope@127.0.0.1:%d/wardendb?backoff_ms=5", fe_port);
    store_t *s;
    char err[512];
    assert_int_equal(store_open(&s, bad, NULL, err, sizeof(err)), 0);
    write_rows(s, 1, "a", "u");
    assert_int_equal(store_flush(s, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "HTTP 401"));
    assert_int_equal(store_close(s, err, sizeof(err)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_load_follows_redirect_with_credentials_and_expect, reset_fake),
        cmocka_unit_test_setup(test_longest_ids_load_under_the_primary_key_limit, reset_fake),
        cmocka_unit_test(test_row_keys_do_not_collide_across_field_boundaries),
        cmocka_unit_test(test_judge_reads_a_bad_answer_within_its_length),
        cmocka_unit_test_setup(test_label_exists_finished_counts_as_success, reset_fake),
        cmocka_unit_test_setup(test_label_running_is_checked_again_until_finished, reset_fake),
        cmocka_unit_test_setup(test_5xx_and_transient_fail_are_retried, reset_fake),
        cmocka_unit_test_setup(test_rejected_rows_fail_the_sink_loudly, reset_fake),
        cmocka_unit_test_setup(test_same_batch_twice_has_the_same_label, reset_fake),
        cmocka_unit_test_setup(test_runs_versions_and_decisions_go_to_their_tables, reset_fake),
        cmocka_unit_test_setup(test_wrong_password_is_fatal, reset_fake),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
