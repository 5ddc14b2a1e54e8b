/* tests/storage/test_store_jsonl.c — the jsonl: sink: one contract object
 * per line in write order, buffered until flush, errors surfaced. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/store.h"

static char path[256];

static int make_path(void **st)
{
    (void)st;
    snprintf(path, sizeof(path), "%s/warden-jsonl-%d.jsonl", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid());
    return 0;
}

static int drop_path(void **st)
{
    (void)st;
    unlink(path);
    return 0;
}

static char *slurp(size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return s;
}

static store_row_t row(const char *id)
{
    store_row_t r = {
        .run_id = "live", .event_id = id, .stream = "login", .rule = "ato.new_ip",
        .version = 1, .mode = "shadow", .verdict = "flag", .entity = "u\"9", .entity_len = 3,
        .reason = NULL, .has_score = 0, .event_ts_ms = 1795168800500LL,
    };
    return r;
}

static void test_lines_in_write_order_after_flush(void **st)
{
    (void)st;
    char url[300], err[256];
    snprintf(url, sizeof(url), "jsonl:%s", path);
    store_t *s;
    assert_int_equal(store_open(&s, url, NULL, err, sizeof(err)), 0);
    store_row_t rows[3] = { row("a"), row("b"), row("c") };
    assert_int_equal(store_write(s, rows, 3, err, sizeof(err)), 0);
    /* Buffered: nothing on disk before a flush. */
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, 0);
    assert_int_equal(store_flush(s, err, sizeof(err)), 0);
    store_stats_t stats;
    store_stats(s, &stats);
    assert_int_equal(stats.rows_written, 3);
    assert_int_equal(stats.buffer_rows, 0);
    assert_int_equal(store_close(s, err, sizeof(err)), 0);
    size_t n;
    char *got = slurp(&n);
    const char *line = "{\"event_id\":\"%s\",\"stream\":\"login\",\"rule\":\"ato.new_ip\",\"version\":1,"
                       "\"mode\":\"shadow\",\"verdict\":\"flag\",\"entity\":\"u\\\"9\",\"entity_type\":\"unknown\",\"reason\":null,"
                       "\"score\":null,\"event_ts\":\"2026-11-20T10:00:00.500Z\",\"run_id\":\"live\"}\n";
    char want[2048];
    int off = 0;
    off += snprintf(want + off, sizeof(want) - (size_t)off, line, "a");
    off += snprintf(want + off, sizeof(want) - (size_t)off, line, "b");
    snprintf(want + off, sizeof(want) - (size_t)off, line, "c");
    assert_string_equal(got, want);
    free(got);
}

static void test_many_rows_cross_the_internal_buffer(void **st)
{
    (void)st;
    char url[300], err[256], id[32];
    snprintf(url, sizeof(url), "jsonl:%s", path);
    store_t *s;
    assert_int_equal(store_open(&s, url, NULL, err, sizeof(err)), 0);
    for (int i = 0; i < 20000; i++) {
        snprintf(id, sizeof(id), "e%d", i);
        store_row_t r = row(id);
        assert_int_equal(store_write(s, &r, 1, err, sizeof(err)), 0);
    }
    assert_int_equal(store_close(s, err, sizeof(err)), 0);
    size_t n;
    char *got = slurp(&n);
    size_t lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += got[i] == '\n';
    assert_int_equal(lines, 20000);
    assert_non_null(strstr(got, "\"event_id\":\"e19999\""));
    free(got);
}

static void test_write_errors_fail_the_sink(void **st)
{
    (void)st;
    char err[256] = "";
    store_t *s;
    assert_int_equal(store_open(&s, "jsonl:/dev/full", NULL, err, sizeof(err)), 0);
    store_row_t r = row("x");
    assert_int_equal(store_write(s, &r, 1, err, sizeof(err)), 0);
    assert_int_equal(store_flush(s, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/dev/full"));
    assert_int_equal(store_health(s, err, sizeof(err)), -1);
    assert_int_equal(store_write(s, &r, 1, err, sizeof(err)), -1);
    assert_int_equal(store_close(s, err, sizeof(err)), -1);
    assert_int_equal(store_open(&s, "jsonl:/nonexistent-dir/x.jsonl", NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot open"));
    assert_int_equal(store_open(&s, "jsonl:", NULL, err, sizeof(err)), -1);
}

static void test_decisions_and_runs_are_accepted_and_ignored(void **st)
{
    (void)st;
    char url[300], err[256];
    snprintf(url, sizeof(url), "jsonl:%s", path);
    store_t *s;
    assert_int_equal(store_open(&s, url, NULL, err, sizeof(err)), 0);
    const char *rules[] = { "a" };
    store_decision_t d = { .run_id = "live", .event_id = "e", .stream = "s", .entity = "u",
                           .verdict = "block", .rules = rules, .nrules = 1 };
    store_run_t run = { .run_id = "live", .kind = "live" };
    store_rule_version_t rv = { .name = "a", .version = 1, .sha256 = "x", .source = "" };
    assert_int_equal(store_write_decision(s, &d, err, sizeof(err)), 0);
    assert_int_equal(store_begin_run(s, &run, err, sizeof(err)), 0);
    assert_int_equal(store_rule_version(s, &rv, err, sizeof(err)), 0);
    assert_int_equal(store_end_run(s, &run, err, sizeof(err)), 0);
    assert_int_equal(store_close(s, err, sizeof(err)), 0);
    size_t n;
    free(slurp(&n));
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lines_in_write_order_after_flush, make_path, drop_path),
        cmocka_unit_test_setup_teardown(test_many_rows_cross_the_internal_buffer, make_path, drop_path),
        cmocka_unit_test(test_write_errors_fail_the_sink),
        cmocka_unit_test_setup_teardown(test_decisions_and_runs_are_accepted_and_ignored, make_path, drop_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
