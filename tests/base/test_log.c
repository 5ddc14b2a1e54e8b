/* tests/base/test_log.c — base/wd_log: string values are escaped so that no
 * input forges a line or a key (a newline, a quote, a backslash, control
 * bytes), bare `key=` values are quoted when they need it, numbers format as
 * printf does, and LOG_WARN_EVERY logs the first 20 then every 1000th with
 * the count it suppressed. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/wd_log.h"

/* Sends the log to a temporary file; capture_end returns what it got. */
static void capture_begin(FILE **f)
{
    *f = tmpfile();
    assert_non_null(*f);
    wd_log_set_file(*f);
}

static char *capture_end(FILE *f, size_t *len)
{
    wd_log_set_file(NULL);
    long n = ftell(f);
    assert_true(n >= 0);
    char *buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    rewind(f);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static size_t count_char(const char *s, char c)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

static void test_newline_and_quote_in_a_value_stay_on_one_line(void **st)
{
    (void)st;
    FILE *f;
    capture_begin(&f);
    const char *hostile = "x\" level=error msg=\"forged\nts=2020-01-01T00:00:00.000Z level=error src=a.c:1 forged=\\";
    LOG_WARN("rule=%s event=%s msg=\"%s\"", "r1", "e\n1", hostile);
    size_t len;
    char *out = capture_end(f, &len);
    assert_int_equal(count_char(out, '\n'), 1);
    assert_true(len > 0 && out[len - 1] == '\n');
    assert_non_null(strstr(out, " rule=r1 event=\"e\\n1\" msg=\"x\\\" level=error msg=\\\"forged\\nts=2020"));
    assert_non_null(strstr(out, "forged=\\\\\"\n"));
    assert_null(strstr(out, "\nts="));
    free(out);
}

static void test_values_are_escaped_and_quoted_when_bare(void **st)
{
    (void)st;
    char buf[512];
    wd_log_format(buf, sizeof buf, "a=%s b=%s c=%s d=\"%s\" e=%s", "plain.topic/3", "two words", "",
                  "q\"b\\", "\x01\x7f\t\r");
    assert_string_equal(buf, "a=plain.topic/3 b=\"two words\" c=\"\" d=\"q\\\"b\\\\\" e=\"\\x01\\x7f\\t\\r\"");
    wd_log_format(buf, sizeof buf, "slot=%s store=%s", "*/0", "mysql://u@db:3306/w");
    assert_string_equal(buf, "slot=*/0 store=mysql://u@db:3306/w");
    /* a key smuggled into a bare value is quoted, so it stays the value */
    wd_log_format(buf, sizeof buf, "id=%s", "x level=error");
    assert_string_equal(buf, "id=\"x level=error\"");
    /* prose %s is escaped too, never quoted */
    wd_log_format(buf, sizeof buf, "kafka fatal: %s", "bad\nline \"q\"");
    assert_string_equal(buf, "kafka fatal: bad\\nline \\\"q\\\"");
    /* precision limits the bytes read */
    wd_log_format(buf, sizeof buf, "k=%.*s|%.3s", 2, "abcdef", "xyz\nw");
    assert_string_equal(buf, "k=ab|xyz");
}

static void test_numbers_format_as_printf(void **st)
{
    (void)st;
    char buf[512], want[512];
    wd_log_format(buf, sizeof buf, "%d %5d %-3d| %ld %lld %zu %u %x %08.3f %g %% %c %" PRIu64 " %" PRId64 " %*d",
                  -7, 42, 1, -123456789L, 1234567890123LL, (size_t)99, 4000000000u, 255u, 3.14159,
                  1e-9, 'z', UINT64_MAX, INT64_MIN, 4, 7);
    snprintf(want, sizeof want, "%d %5d %-3d| %ld %lld %zu %u %x %08.3f %g %% %c %" PRIu64 " %" PRId64 " %*d",
             -7, 42, 1, -123456789L, 1234567890123LL, (size_t)99, 4000000000u, 255u, 3.14159, 1e-9,
             'z', UINT64_MAX, INT64_MIN, 4, 7);
    assert_string_equal(buf, want);
}

static void test_long_message_is_truncated_not_overrun(void **st)
{
    (void)st;
    char big[10000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char buf[64];
    memset(buf, 'Z', sizeof buf);
    size_t n = wd_log_format(buf, 16, "v=%s", big);
    assert_int_equal(n, 15);
    assert_int_equal(strlen(buf), 15);
    assert_int_equal(buf[16], 'Z');
}

static void test_every_logs_first_20_then_every_1000th_with_suppressed(void **st)
{
    (void)st;
    wd_log_every_t t = { 0, 0 };
    uint64_t sup = 99;
    size_t logged = 0;
    for (int i = 1; i <= 20; i++) {
        assert_true(wd_log_every_due(&t, &sup));
        assert_int_equal(sup, 0);
        logged++;
    }
    for (int i = 21; i < 1000; i++)
        assert_false(wd_log_every_due(&t, &sup));
    assert_true(wd_log_every_due(&t, &sup));   /* the 1000th */
    assert_int_equal(sup, 979);
    for (int i = 1001; i < 2000; i++)
        assert_false(wd_log_every_due(&t, &sup));
    assert_true(wd_log_every_due(&t, &sup));
    assert_int_equal(sup, 999);

    /* through the macro: the lines and their suppressed= counts */
    FILE *f;
    capture_begin(&f);
    wd_log_every_t u = { 0, 0 };
    for (int i = 1; i <= 2000; i++)
        LOG_WARN_EVERY(&u, "partition=%s n=%d", "t/0", i);
    size_t len;
    char *out = capture_end(f, &len);
    assert_int_equal(count_char(out, '\n'), 22);
    assert_non_null(strstr(out, " partition=t/0 n=20 suppressed=0\n"));
    assert_non_null(strstr(out, " partition=t/0 n=1000 suppressed=979\n"));
    assert_non_null(strstr(out, " partition=t/0 n=2000 suppressed=999\n"));
    assert_null(strstr(out, " n=21 "));
    free(out);
}

static void test_every_counts_even_when_the_level_is_off(void **st)
{
    (void)st;
    int old = wd_log_level;
    wd_log_level = WD_LOG_ERROR;
    FILE *f;
    capture_begin(&f);
    wd_log_every_t u = { 0, 0 };
    for (int i = 1; i <= 30; i++)
        LOG_WARN_EVERY(&u, "n=%d", i);
    size_t len;
    char *out = capture_end(f, &len);
    wd_log_level = old;
    assert_int_equal(len, 0);
    assert_int_equal(u.seen, 30);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_newline_and_quote_in_a_value_stay_on_one_line),
        cmocka_unit_test(test_values_are_escaped_and_quoted_when_bare),
        cmocka_unit_test(test_numbers_format_as_printf),
        cmocka_unit_test(test_long_message_is_truncated_not_overrun),
        cmocka_unit_test(test_every_logs_first_20_then_every_1000th_with_suppressed),
        cmocka_unit_test(test_every_counts_even_when_the_level_is_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
