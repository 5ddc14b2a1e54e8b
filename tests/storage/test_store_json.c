/* tests/storage/test_store_json.c — the contract JSON form of a hit row
 * (store_row_json) and the wd_buf formatting beneath it: every escape
 * case, invalid UTF-8, numbers, timestamps, nulls, truncation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/wd_buf.h"
#include "storage/store.h"

static store_row_t example(void)
{
    store_row_t r = {
        .run_id = "live", .event_id = "e1", .stream = "pin_create", .rule = "spam.link_burst",
        .version = 3, .mode = "enforce", .verdict = "block", .entity = "u1", .entity_len = 2,
        .entity_type = "user",
        .reason = "link burst", .reason_len = 10, .has_score = 1, .score = 0.9,
        .event_ts_ms = 1795168800000LL, .topic = NULL,
    };
    return r;
}

static char *row_json(const store_row_t *r)
{
    size_t n = store_row_json(r, NULL, 0);
    char *s = malloc(n + 1);
    assert_int_equal(store_row_json(r, s, n + 1), n);
    assert_int_equal(strlen(s), n);
    return s;
}

static char *json_str(const char *s, size_t n)
{
    wd_buf_t b = WD_BUF_INIT;
    wd_buf_json_str(&b, s, n);
    return b.data;   /* caller frees */
}

static void test_row_matches_design_example_key_order(void **st)
{
    (void)st;
    store_row_t r = example();
    char *s = row_json(&r);
    assert_string_equal(s,
        "{\"event_id\":\"e1\",\"stream\":\"pin_create\",\"rule\":\"spam.link_burst\",\"version\":3,"
        "\"mode\":\"enforce\",\"verdict\":\"block\",\"entity\":\"u1\",\"entity_type\":\"user\",\"reason\":\"link burst\","
        "\"score\":0.9,\"event_ts\":\"2026-11-20T10:00:00Z\",\"run_id\":\"live\"}");
    free(s);
}

static void test_absent_reason_score_and_time_are_null_not_omitted(void **st)
{
    (void)st;
    store_row_t r = example();
    r.reason = NULL;
    r.reason_len = 0;
    r.has_score = 0;
    r.event_ts_ms = INT64_MIN;
    char *s = row_json(&r);
    assert_non_null(strstr(s, ",\"reason\":null,\"score\":null,\"event_ts\":null,\"run_id\":\"live\"}"));
    free(s);
}

static void test_row_json_truncates_like_snprintf(void **st)
{
    (void)st;
    store_row_t r = example();
    char small[10];
    size_t n = store_row_json(&r, small, sizeof(small));
    assert_true(n > sizeof(small));
    assert_string_equal(small, "{\"event_i");
}

static void test_entity_with_nul_uses_its_length(void **st)
{
    (void)st;
    store_row_t r = example();
    r.entity = "a\0b";
    r.entity_len = 3;
    char *s = row_json(&r);
    assert_non_null(strstr(s, "\"entity\":\"a\\u0000b\""));
    free(s);
}

static void test_quotes_backslashes_and_controls_are_escaped(void **st)
{
    (void)st;
    const char in[] = "\"\\/\b\f\n\r\t\x01\x1f\x7f";
    char *s = json_str(in, sizeof(in) - 1);
    assert_string_equal(s, "\"\\\"\\\\/\\u0008\\u000c\\u000a\\u000d\\u0009\\u0001\\u001f\x7f\"");
    free(s);
}

static void test_valid_utf8_passes_through(void **st)
{
    (void)st;
    const char in[] = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";   /* é € 😀 */
    char *s = json_str(in, sizeof(in) - 1);
    assert_string_equal(s, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    free(s);
}

static void test_invalid_utf8_becomes_replacement_char(void **st)
{
    (void)st;
    static const struct { const char *in; size_t n; const char *out; } cases[] = {
        { "\xff", 1, "\"\xef\xbf\xbd\"" },                                 /* never valid */
        { "\xc3", 1, "\"\xef\xbf\xbd\"" },                                 /* truncated */
        { "\xc3(", 2, "\"\xef\xbf\xbd(\"" },                               /* bad continuation */
        { "\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"" },                 /* overlong */
        { "\xe0\x80\xaf", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" }, /* overlong 3 */
        { "\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" }, /* surrogate */
        { "\xf4\x90\x80\x80", 4,
          "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" },       /* > U+10FFFF */
        { "a\x80z", 3, "\"a\xef\xbf\xbdz\"" },                             /* lone continuation */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *s = json_str(cases[i].in, cases[i].n);
        assert_string_equal(s, cases[i].out);
        free(s);
    }
}

static void test_empty_string_and_large_string(void **st)
{
    (void)st;
    char *s = json_str("", 0);
    assert_string_equal(s, "\"\"");
    free(s);
    size_t n = 1 << 20;
    char *big = malloc(n);
    memset(big, '"', n);
    wd_buf_t b = WD_BUF_INIT;
    wd_buf_json_str(&b, big, n);
    assert_int_equal(b.len, 2 * n + 2);
    wd_buf_free(&b);
    free(big);
}

static void test_numbers_shortest_round_trip(void **st)
{
    (void)st;
    static const struct { double d; const char *out; } cases[] = {
        { 0.9, "0.9" }, { 0.1, "0.1" }, { 3, "3" }, { -2, "-2" }, { 0, "0" },
        { 1e16, "10000000000000000" }, { 1e20, "1e+20" }, { 0.30000000000000004, "0.30000000000000004" },
        { 1.0 / 3, "0.3333333333333333" }, { 2.5e-300, "2.5e-300" }, { 123.456, "123.456" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        wd_buf_t b = WD_BUF_INIT;
        wd_buf_json_num(&b, cases[i].d);
        assert_string_equal(b.data, cases[i].out);
        assert_true(strtod(b.data, NULL) == cases[i].d);
        wd_buf_free(&b);
    }
    wd_buf_t b = WD_BUF_INIT;
    wd_buf_json_num(&b, NAN);
    wd_buf_addc(&b, ' ');
    wd_buf_json_num(&b, INFINITY);
    assert_string_equal(b.data, "null null");
    wd_buf_free(&b);
}

static void test_rfc3339_millis_only_when_needed(void **st)
{
    (void)st;
    wd_buf_t b = WD_BUF_INIT;
    wd_buf_rfc3339(&b, 1795168800000LL);
    wd_buf_addc(&b, ' ');
    wd_buf_rfc3339(&b, 1795168800007LL);
    wd_buf_addc(&b, ' ');
    wd_buf_rfc3339(&b, 0);
    wd_buf_addc(&b, ' ');
    wd_buf_rfc3339(&b, -1);
    assert_string_equal(b.data, "2026-11-20T10:00:00Z 2026-11-20T10:00:00.007Z "
                                "1970-01-01T00:00:00Z 1969-12-31T23:59:59.999Z");
    wd_buf_free(&b);
}

static void test_buf_printf_grows_and_reset_keeps_memory(void **st)
{
    (void)st;
    wd_buf_t b = WD_BUF_INIT;
    for (int i = 0; i < 1000; i++)
        wd_buf_printf(&b, "%d,", i);
    assert_int_equal(strncmp(b.data, "0,1,2,", 6), 0);
    assert_int_equal(b.len, strlen(b.data));
    size_t cap = b.cap;
    wd_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_int_equal(b.cap, cap);
    wd_buf_free(&b);
    wd_buf_free(&b);   /* twice is harmless */
    assert_null(b.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_row_matches_design_example_key_order),
        cmocka_unit_test(test_absent_reason_score_and_time_are_null_not_omitted),
        cmocka_unit_test(test_row_json_truncates_like_snprintf),
        cmocka_unit_test(test_entity_with_nul_uses_its_length),
        cmocka_unit_test(test_quotes_backslashes_and_controls_are_escaped),
        cmocka_unit_test(test_valid_utf8_passes_through),
        cmocka_unit_test(test_invalid_utf8_becomes_replacement_char),
        cmocka_unit_test(test_empty_string_and_large_string),
        cmocka_unit_test(test_numbers_shortest_round_trip),
        cmocka_unit_test(test_rfc3339_millis_only_when_needed),
        cmocka_unit_test(test_buf_printf_grows_and_reset_keeps_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
