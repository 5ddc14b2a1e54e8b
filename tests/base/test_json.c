/* tests/base/test_json.c — base/wd_json: the event parser's types,
 * limits and error messages, and a differential test against jansson
 * (tests/base/json_diff.h lists the documented differences). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/wd_json.h"
#include "tests/base/json_diff.h"

typedef struct fix {
    wd_json_t *p;
    wd_jval_t  root;
    char        err[256];
} fix_t;

static int setup(void **state) {
    fix_t *f = calloc(1, sizeof *f);
    f->p = wd_json_new(0);
    assert_non_null(f->p);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fix_t *f = *state;
    wd_json_destroy(f->p);
    free(f);
    return 0;
}

static wd_jval_t parse_ok(fix_t *f, const char *s) {
    f->err[0] = '\0';
    int rc = wd_json_parse(f->p, s, strlen(s), &f->root, f->err, sizeof f->err);
    if (rc != 0) fail_msg("parse of %s failed: %s", s, f->err);
    return f->root;
}

static const char *parse_err(fix_t *f, const char *s, size_t n) {
    f->err[0] = '\0';
    int rc = wd_json_parse(f->p, s, n, &f->root, f->err, sizeof f->err);
    if (rc != -1) fail_msg("parse of %.*s succeeded", (int)n, s);
    return f->err;
}

static wd_jval_t path(wd_jval_t v, const char *p) {
    wd_jval_t out;
    if (!wd_jval_path(v, p, &out)) fail_msg("no path %s", p);
    return out;
}

static void assert_str(wd_jval_t v, const char *want, size_t wantlen) {
    size_t n;
    const char *s = wd_jval_str(v, &n);
    assert_int_equal(wd_jval_type(v), WD_JSTRING);
    assert_non_null(s);
    assert_int_equal(n, wantlen);
    assert_memory_equal(s, want, wantlen);
    assert_int_equal(s[n], '\0');
}

/* ---- structure -------------------------------------------------------- */

static void test_nested_objects_read_through_dotted_paths(void **state) {
    fix_t *f = *state;
    wd_jval_t r = parse_ok(f, "{\"user\":{\"id\":\"u1\",\"age_days\":3,\"profile\":{\"vpn\":true}},"
                               "\"pin\":{\"link\":\"http://x\"},\"tags\":[{\"a\":1}],\"a.b\":5}");
    assert_int_equal(wd_jval_type(r), WD_JOBJECT);
    assert_int_equal(wd_jval_count(r), 4);
    assert_str(path(r, "user.id"), "u1", 2);
    assert_int_equal(wd_jval_int(path(r, "user.age_days")), 3);
    assert_int_equal(wd_jval_bool(path(r, "user.profile.vpn")), 1);
    assert_int_equal(wd_jval_type(path(r, "user.profile")), WD_JOBJECT);
    assert_str(path(r, "pin.link"), "http://x", 8);

    wd_jval_t out;
    assert_int_equal(wd_jval_path(r, "user.missing", &out), 0);
    assert_int_equal(wd_jval_path(r, "user.id.deeper", &out), 0);   /* through a string */
    assert_int_equal(wd_jval_path(r, "tags.0.a", &out), 0);         /* objects only */
    assert_int_equal(wd_jval_path(r, "a.b", &out), 0);              /* dots always split */
    assert_int_equal(wd_jval_get(r, "a.b", 3, &out), 1);
    assert_int_equal(wd_jval_int(out), 5);
    assert_int_equal(wd_jval_get(r, "user", 3, &out), 0);           /* length counts */
    assert_int_equal(wd_jval_get(path(r, "user.id"), "x", 1, &out), 0);
}

static void test_arrays_index_count_and_iterate_without_keys(void **state) {
    fix_t *f = *state;
    wd_jval_t r = parse_ok(f, "[1,\"two\",[3,[4]],{\"five\":5},null,2.5,false]");
    assert_int_equal(wd_jval_type(r), WD_JARRAY);
    assert_int_equal(wd_jval_count(r), 7);
    wd_jval_t e;
    assert_true(wd_jval_at(r, 0, &e));
    assert_int_equal(wd_jval_int(e), 1);
    assert_true(wd_jval_at(r, 3, &e));
    assert_int_equal(wd_jval_int(path(e, "five")), 5);
    assert_true(wd_jval_at(r, 6, &e));
    assert_int_equal(wd_jval_type(e), WD_JBOOL);
    assert_false(wd_jval_at(r, 7, &e));
    assert_true(wd_jval_at(r, 2, &e));
    assert_int_equal(wd_jval_count(e), 2);

    static const int types[] = { WD_JINT, WD_JSTRING, WD_JARRAY, WD_JOBJECT, WD_JNULL, WD_JDOUBLE, WD_JBOOL };
    wd_jiter_t it;
    const char *key = "sentinel";
    size_t klen = 99, n = 0;
    wd_jiter_begin(r, &it);
    while (wd_jiter_next(&it, &key, &klen, &e)) {
        assert_null(key);
        assert_int_equal(klen, 0);
        assert_int_equal(wd_jval_type(e), types[n]);
        n++;
    }
    assert_int_equal(n, 7);
    assert_int_equal(wd_jiter_next(&it, &key, &klen, &e), 0);

    r = parse_ok(f, "[[],{}]");
    assert_true(wd_jval_at(r, 0, &e));
    assert_int_equal(wd_jval_count(e), 0);
    wd_jiter_begin(e, &it);
    assert_int_equal(wd_jiter_next(&it, NULL, NULL, NULL), 0);
    assert_true(wd_jval_at(r, 1, &e));
    assert_int_equal(wd_jval_type(e), WD_JOBJECT);
    assert_int_equal(wd_jval_count(e), 0);
    wd_jiter_begin(e, &it);
    assert_int_equal(wd_jiter_next(&it, NULL, NULL, NULL), 0);
    wd_jiter_begin(parse_ok(f, "7"), &it);                  /* scalars: nothing */
    assert_int_equal(wd_jiter_next(&it, NULL, NULL, NULL), 0);
}

/* The cursor answers exactly what wd_jval_at answers, in any order of
 * reads (forward, backward, repeated, past the end, nested values). */
static void test_array_cursor_reads_what_at_reads_in_any_order(void **state) {
    fix_t *f = *state;
    wd_jval_t r = parse_ok(f, "[0,[1,[1.5]],{\"k\":2},\"3\",null,5,[],{},8,9]");
    static const size_t order[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 9, 3, 3, 0, 7, 2, 11, 1, 9 };
    wd_jcursor_t cur = { 0, 0 };
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        wd_jval_t a = { 0 }, b = { 0 };
        int ra = wd_jval_at(r, order[k], &a);
        int rb = wd_jval_at_cur(r, order[k], &cur, &b);
        assert_int_equal(ra, rb);
        if (ra) {
            assert_ptr_equal(a.doc, b.doc);
            assert_int_equal(a.idx, b.idx);
        }
    }
    /* Not an array: 0, the cursor unused. */
    wd_jcursor_t c2 = { 0, 0 };
    wd_jval_t e;
    assert_false(wd_jval_at_cur(parse_ok(f, "{\"a\":1}"), 0, &c2, &e));
    assert_int_equal(c2.idx, 0);
}

static void test_object_iteration_keeps_order_and_get_finds_first_duplicate(void **state) {
    fix_t *f = *state;
    wd_jval_t r = parse_ok(f, "{\"b\":1,\"a\":{\"x\":[1,2]},\"b\":3,\"\":4}");
    assert_int_equal(wd_jval_count(r), 4);
    static const char *keys[] = { "b", "a", "b", "" };
    wd_jiter_t it;
    const char *key;
    size_t klen, n = 0;
    wd_jval_t v;
    wd_jiter_begin(r, &it);
    while (wd_jiter_next(&it, &key, &klen, &v)) {
        assert_int_equal(klen, strlen(keys[n]));
        assert_memory_equal(key, keys[n], klen);
        assert_int_equal(key[klen], '\0');
        n++;
    }
    assert_int_equal(n, 4);
    assert_true(wd_jval_get(r, "b", 1, &v));
    assert_int_equal(wd_jval_int(v), 1);
    assert_true(wd_jval_get(r, "", 0, &v));
    assert_int_equal(wd_jval_int(v), 4);
}

static void test_every_type_and_wrong_type_accessors_read_as_zero(void **state) {
    fix_t *f = *state;
    wd_jval_t r = parse_ok(f, "{\"n\":null,\"t\":true,\"f\":false,\"i\":-42,\"d\":2.5,\"s\":\"x\",\"a\":[],\"o\":{}}");
    assert_int_equal(wd_jval_type(path(r, "n")), WD_JNULL);
    assert_int_equal(wd_jval_type(path(r, "t")), WD_JBOOL);
    assert_int_equal(wd_jval_bool(path(r, "t")), 1);
    assert_int_equal(wd_jval_type(path(r, "f")), WD_JBOOL);
    assert_int_equal(wd_jval_bool(path(r, "f")), 0);
    assert_int_equal(wd_jval_type(path(r, "i")), WD_JINT);
    assert_int_equal(wd_jval_int(path(r, "i")), -42);
    assert_true(wd_jval_double(path(r, "i")) == -42.0);
    assert_int_equal(wd_jval_type(path(r, "d")), WD_JDOUBLE);
    assert_true(wd_jval_double(path(r, "d")) == 2.5);
    assert_int_equal(wd_jval_type(path(r, "s")), WD_JSTRING);
    assert_int_equal(wd_jval_type(path(r, "a")), WD_JARRAY);
    assert_int_equal(wd_jval_type(path(r, "o")), WD_JOBJECT);

    size_t len = 7;
    assert_null(wd_jval_str(path(r, "i"), &len));
    assert_int_equal(len, 0);
    assert_int_equal(wd_jval_int(path(r, "d")), 0);
    assert_int_equal(wd_jval_int(path(r, "s")), 0);
    assert_true(wd_jval_double(path(r, "s")) == 0.0);
    assert_true(wd_jval_double(path(r, "n")) == 0.0);
    assert_int_equal(wd_jval_bool(path(r, "i")), 0);
    assert_int_equal(wd_jval_count(path(r, "s")), 0);
    wd_jval_t out;
    assert_false(wd_jval_at(path(r, "o"), 0, &out));
    assert_false(wd_jval_get(path(r, "a"), "x", 1, &out));

    /* A zeroed value (e.g. "missing") reads as null everywhere. */
    wd_jval_t z = { NULL, 0 };
    assert_int_equal(wd_jval_type(z), WD_JNULL);
    assert_int_equal(wd_jval_count(z), 0);
    assert_null(wd_jval_str(z, NULL));
    assert_false(wd_jval_path(z, "a", &out));
    wd_jiter_t it;
    wd_jiter_begin(z, &it);
    assert_int_equal(wd_jiter_next(&it, NULL, NULL, NULL), 0);
}

static void test_scalar_roots_parse_and_caller_checks_for_object(void **state) {
    fix_t *f = *state;
    assert_int_equal(wd_jval_int(parse_ok(f, " 42 ")), 42);
    assert_int_equal(wd_jval_type(parse_ok(f, "null")), WD_JNULL);
    assert_int_equal(wd_jval_bool(parse_ok(f, "\ttrue\n")), 1);
    assert_str(parse_ok(f, "\"s\""), "s", 1);
    assert_true(wd_jval_double(parse_ok(f, "1.5")) == 1.5);
    assert_int_equal(wd_jval_type(parse_ok(f, "[1]")), WD_JARRAY);
}

/* ---- strings ------------------------------------------------------------ */

static void test_unicode_escapes_decode_to_utf8_including_surrogate_pairs(void **state) {
    fix_t *f = *state;
    wd_jval_t r = parse_ok(f, "{\"e\":\"caf\\u00e9\",\"euro\":\"\\u20AC\",\"smile\":\"\\uD83D\\uDE00\","
                               "\"raw\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\","
                               "\"esc\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\",\"max\":\"\\uDBFF\\uDFFF\"}");
    assert_str(path(r, "e"), "caf\xc3\xa9", 5);
    assert_str(path(r, "euro"), "\xe2\x82\xac", 3);
    assert_str(path(r, "smile"), "\xf0\x9f\x98\x80", 4);
    assert_str(path(r, "raw"), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9);
    assert_str(path(r, "esc"), "\"\\/\b\f\n\r\t", 8);
    assert_str(path(r, "max"), "\xf4\x8f\xbf\xbf", 4);
}

static void test_escaped_nul_keeps_length_in_values_and_keys(void **state) {
    fix_t *f = *state;
    wd_jval_t r = parse_ok(f, "{\"v\":\"a\\u0000b\",\"k\\u0000\":1,\"z\":\"\\u0000\"}");
    assert_str(path(r, "v"), "a\0b", 3);
    assert_str(path(r, "z"), "\0", 1);
    wd_jval_t out;
    assert_true(wd_jval_get(r, "k\0", 2, &out));
    assert_int_equal(wd_jval_int(out), 1);
    assert_false(wd_jval_get(r, "k", 1, &out));
}

static void test_lone_surrogates_and_bad_escapes_are_rejected(void **state) {
    fix_t *f = *state;
    const char *e;
    e = parse_err(f, "[\"\\uD800\"]", 10);
    assert_string_equal(e, "invalid JSON at byte 2: Problem while parsing a string");
    e = parse_err(f, "[\"\\uDC00\"]", 10);
    assert_string_equal(e, "invalid JSON at byte 2: Problem while parsing a string");
    e = parse_err(f, "\"ab\\uD800\\u0041\"", 16);
    assert_string_equal(e, "invalid JSON at byte 3: Problem while parsing a string");
    e = parse_err(f, "\"a\\x\"", 5);
    assert_string_equal(e, "invalid JSON at byte 3: Problem while parsing a string");
    e = parse_err(f, "\"\\u12G4\"", 8);
    assert_string_equal(e, "invalid JSON at byte 5: Problem while parsing a string");
}

/* simdjson validates UTF-8 over the whole input: a bad byte anywhere is a
 * reject (there is no replacement-character mode). */
static void test_invalid_utf8_is_rejected_at_the_bad_byte(void **state) {
    fix_t *f = *state;
    static const struct { const char *in; size_t off; } cases[] = {
        { "{\"a\":\"\xff\"}", 6 },
        { "{\"a\":\"x\xc0\x80\"}", 7 },          /* overlong NUL */
        { "{\"a\":\"\xed\xa0\x80\"}", 7 },        /* UTF-8-encoded surrogate */
        { "{\"a\":\"\xf4\x90\x80\x80\"}", 7 },    /* beyond U+10FFFF */
        { "{\"a\":\"\xe2\x82\"}", 8 },            /* truncated sequence */
        { "{\"a\":1}\xc3", 8 },                   /* truncated, outside any string */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char want[128];
        snprintf(want, sizeof want, "invalid JSON at byte %zu: The input is not valid UTF-8", cases[i].off);
        assert_string_equal(parse_err(f, cases[i].in, strlen(cases[i].in)), want);
    }
}

/* ---- numbers ------------------------------------------------------------ */

static void test_int64_limits_are_exact_and_beyond_are_doubles(void **state) {
    fix_t *f = *state;
    wd_jval_t r = parse_ok(f, "{\"max\":9223372036854775807,\"min\":-9223372036854775808,"
                               "\"max1\":9223372036854775808,\"umax\":18446744073709551615,"
                               "\"umax1\":18446744073709551616,\"min1\":-9223372036854775809,\"z\":-0}");
    assert_int_equal(wd_jval_type(path(r, "max")), WD_JINT);
    assert_true(wd_jval_int(path(r, "max")) == INT64_MAX);
    assert_int_equal(wd_jval_type(path(r, "min")), WD_JINT);
    assert_true(wd_jval_int(path(r, "min")) == INT64_MIN);
    assert_int_equal(wd_jval_type(path(r, "max1")), WD_JDOUBLE);
    assert_true(wd_jval_double(path(r, "max1")) == 9223372036854775808.0);
    assert_int_equal(wd_jval_int(path(r, "max1")), 0);
    assert_int_equal(wd_jval_type(path(r, "umax")), WD_JDOUBLE);
    assert_true(wd_jval_double(path(r, "umax")) == 18446744073709551616.0);
    assert_int_equal(wd_jval_type(path(r, "umax1")), WD_JDOUBLE);
    assert_true(wd_jval_double(path(r, "umax1")) == 18446744073709551616.0);
    assert_int_equal(wd_jval_type(path(r, "min1")), WD_JDOUBLE);
    assert_true(wd_jval_double(path(r, "min1")) == -9223372036854775808.0);
    assert_int_equal(wd_jval_type(path(r, "z")), WD_JINT);
    assert_int_equal(wd_jval_int(path(r, "z")), 0);
}

static void test_30_digit_integers_read_as_doubles_and_strings_stay_intact(void **state) {
    fix_t *f = *state;
    wd_jval_t r = parse_ok(f, "123456789012345678901234567890");
    assert_int_equal(wd_jval_type(r), WD_JDOUBLE);
    assert_true(wd_jval_double(r) == 1.2345678901234568e29);

    r = parse_ok(f, "{\"s\":\"a\\\"123456789012345678901234567890\",\"n\":123456789012345678901234567890,"
                    "\"m\":-123456789012345678901234567890,\"k\":[1e5,-0.5,99999999999999999999999,7],"
                    "\"after\":\"x\"}");
    assert_str(path(r, "s"), "a\"123456789012345678901234567890", 32);
    assert_true(wd_jval_double(path(r, "n")) == 1.2345678901234568e29);
    assert_true(wd_jval_double(path(r, "m")) == -1.2345678901234568e29);
    wd_jval_t k = path(r, "k"), e;
    assert_int_equal(wd_jval_count(k), 4);
    assert_true(wd_jval_at(k, 2, &e));
    assert_int_equal(wd_jval_type(e), WD_JDOUBLE);
    assert_true(wd_jval_double(e) == 1e23);
    assert_true(wd_jval_at(k, 3, &e));
    assert_int_equal(wd_jval_type(e), WD_JINT);
    assert_int_equal(wd_jval_int(e), 7);
    assert_str(path(r, "after"), "x", 1);
}

static void assert_bigint(wd_jval_t v, const char *want) {
    char buf[WD_JSON_NUMBUF];
    size_t n = 0;
    const char *t = wd_jval_bigint(v, buf, &n);
    if (want == NULL) {
        if (t != NULL) fail_msg("bigint text %.*s, want none", (int)n, t);
        return;
    }
    if (t == NULL) fail_msg("no bigint text, want %s", want);
    if (n != strlen(want) || memcmp(t, want, n) != 0)
        fail_msg("bigint text %.*s, want %s", (int)n, t, want);
}

/* Integers beyond int64 keep their exact digits (as doubles two ids
 * ...001 and ...002 are the same number), aligned with the right values
 * when big and small numbers interleave, and forgotten by the next parse. */
static void test_integers_beyond_int64_keep_their_exact_digits(void **state) {
    fix_t *f = *state;
    wd_jval_t r = parse_ok(f, "{\"a\":10000000000000000001,\"b\":10000000000000000002,"
                              "\"c\":18446744073709551615,\"d\":-9223372036854775809,\"e\":1.5,"
                              "\"f\":[1,123456789012345678901234567890,2.5e3,-99999999999999999999999],"
                              "\"g\":9223372036854775807,\"h\":\"18446744073709551616\",\"i\":1e30,"
                              "\"j\":18446744073709551616}");
    assert_bigint(path(r, "a"), "10000000000000000001");
    assert_bigint(path(r, "b"), "10000000000000000002");
    assert_bigint(path(r, "c"), "18446744073709551615");
    assert_bigint(path(r, "d"), "-9223372036854775809");
    assert_bigint(path(r, "e"), NULL);
    assert_bigint(path(r, "g"), NULL);
    assert_bigint(path(r, "h"), NULL);
    assert_bigint(path(r, "i"), NULL);
    assert_bigint(path(r, "j"), "18446744073709551616");
    wd_jval_t a = path(r, "f"), e;
    const char *want[] = { NULL, "123456789012345678901234567890", NULL, "-99999999999999999999999" };
    for (size_t i = 0; i < 4; i++) {
        assert_true(wd_jval_at(a, i, &e));
        assert_bigint(e, want[i]);
    }
    /* Without a literal beyond 64 bits (the hot path) and after it. */
    r = parse_ok(f, "{\"a\":18446744073709551615,\"b\":1.5}");
    assert_bigint(path(r, "a"), "18446744073709551615");
    assert_bigint(path(r, "b"), NULL);
    r = parse_ok(f, "[1.5,2.5]");
    assert_true(wd_jval_at(r, 0, &e));
    assert_bigint(e, NULL);
}

static void test_big_integer_retry_still_reports_other_errors(void **state) {
    fix_t *f = *state;
    const char *in = "[123456789012345678901234567890,tru]";
    assert_string_equal(parse_err(f, in, strlen(in)),
                        "invalid JSON at byte 35: Problem while parsing an atom starting with the letter 't'");
    in = "[123456789012345678901234567890,01]";
    assert_string_equal(parse_err(f, in, strlen(in)), "invalid JSON at byte 33: Problem while parsing a number");
}

/* Doubles beyond DBL_MAX are rejected (simdjson and jansson agree; JSON
 * leaves the range to implementations); below the smallest denormal they
 * round to zero. */
static void test_out_of_range_doubles_are_rejected_tiny_ones_round_to_zero(void **state) {
    fix_t *f = *state;
    assert_string_equal(parse_err(f, "1e400", 5), "invalid JSON at byte 0: Problem while parsing a number");
    assert_string_equal(parse_err(f, "[1,-1e400]", 10), "invalid JSON at byte 3: Problem while parsing a number");
    assert_string_equal(parse_err(f, "[1.7976931348623159e308]", 24),
                        "invalid JSON at byte 1: Problem while parsing a number");
    char big[420] = "[";
    memset(big + 1, '7', 400);
    big[401] = ']';
    big[402] = '\0';
    assert_string_equal(parse_err(f, big, strlen(big)), "invalid JSON at byte 1: Problem while parsing a number");

    wd_jval_t r = parse_ok(f, "[1e-400,1.7976931348623157e308,4.9e-324,-0.0]");
    wd_jval_t e;
    assert_true(wd_jval_at(r, 0, &e));
    assert_true(wd_jval_double(e) == 0.0);
    assert_true(wd_jval_at(r, 1, &e));
    assert_true(wd_jval_double(e) == DBL_MAX);
    assert_true(wd_jval_at(r, 2, &e));
    assert_true(wd_jval_double(e) == 4.9e-324);
    assert_true(wd_jval_at(r, 3, &e));
    assert_int_equal(wd_jval_type(e), WD_JDOUBLE);
    assert_true(signbit(wd_jval_double(e)));
}

/* ---- limits ------------------------------------------------------------ */

/* A value 1 inside `depth` arrays (objects: {"k":…}). */
static char *nested(size_t depth, int objects) {
    char *s = malloc(depth * 6 + 8);
    size_t n = 0;
    for (size_t i = 0; i < depth; i++) {
        if (objects) { memcpy(s + n, "{\"k\":", 5); n += 5; }
        else s[n++] = '[';
    }
    s[n++] = '1';
    for (size_t i = 0; i < depth; i++) s[n++] = objects ? '}' : ']';
    s[n] = '\0';
    return s;
}

/* Depth counts the arrays/objects a value sits inside: with max_depth 5,
 * a value inside 5 passes (so does an empty container inside 5, since it
 * holds no value), anything inside 6 does not. */
static void test_depth_limit_accepts_exactly_max_and_rejects_one_more(void **state) {
    fix_t *f = *state;
    wd_json_t *p5 = wd_json_new(5);
    char err[128];
    wd_jval_t r;
    for (int objects = 0; objects < 2; objects++) {
        char *ok = nested(5, objects), *deep = nested(6, objects);
        assert_int_equal(wd_json_parse(p5, ok, strlen(ok), &r, err, sizeof err), 0);
        assert_int_equal(wd_json_parse(p5, deep, strlen(deep), &r, err, sizeof err), -1);
        assert_string_equal(err, "nesting deeper than 5");
        free(ok);
        free(deep);
    }
    static const struct { const char *in; int rc; } at5[] = {
        { "[[[[[[]]]]]]", 0 }, { "[[[[[{}]]]]]", 0 }, { "[[[[{\"a\":{}}]]]]", 0 },
        { "[[[[[[[]]]]]]]", -1 }, { "[[[[[[1]]]]]]", -1 }, { "[[[[{\"a\":{\"b\":1}}]]]]", -1 },
    };
    for (size_t i = 0; i < sizeof at5 / sizeof *at5; i++) {
        int rc = wd_json_parse(p5, at5[i].in, strlen(at5[i].in), &r, err, sizeof err);
        if (rc != at5[i].rc) fail_msg("%s: %d (%s)", at5[i].in, rc, rc ? err : "-");
        if (rc) assert_string_equal(err, "nesting deeper than 5");
    }
    wd_json_destroy(p5);

    /* 0 means WD_JSON_MAX_DEPTH (64). */
    char *ok = nested(WD_JSON_MAX_DEPTH, 0), *deep = nested(WD_JSON_MAX_DEPTH + 1, 1);
    wd_jval_t v = parse_ok(f, ok);
    for (int i = 0; i < WD_JSON_MAX_DEPTH; i++) assert_true(wd_jval_at(v, 0, &v));
    assert_int_equal(wd_jval_int(v), 1);
    assert_string_equal(parse_err(f, deep, strlen(deep)), "nesting deeper than 64");
    char *deeper = nested(100000, 0);
    assert_string_equal(parse_err(f, deeper, strlen(deeper)), "nesting deeper than 64");
    free(ok);
    free(deep);
    free(deeper);
}

static void test_malformed_inputs_name_the_byte(void **state) {
    fix_t *f = *state;
    static const struct { const char *in; size_t off; const char *what; } cases[] = {
        { "", 0, "Empty: no JSON found" },
        { "  \n", 3, "Empty: no JSON found" },
        { "{\"a\":1", 6, NULL },                   /* truncated */
        { "{\"a\":", 5, NULL },
        { "[1,2,]", 5, NULL },                     /* trailing comma */
        { "{\"a\":1,}", 7, NULL },
        { "[1 2]", 3, NULL },
        { "{\"a\" 1}", 5, NULL },
        { "{1:2}", 1, NULL },
        { "[1] x", 4, NULL },                      /* trailing garbage */
        { "{\"a\":1}}", 7, NULL },
        { "{} {}", 3, NULL },
        { "\"a\tb\"", 2, "Within strings, some characters must be escaped, we found unescaped characters" },
        { "{\"a\":\"x\ny\"}", 7, NULL },
        { "\"abc", 0, "A string is opened, but never closed." },
        { "[tru]", 4, NULL },
        { "nul", 3, NULL },
        { "[nulL]", 4, NULL },
        { "01", 1, NULL },
        { "-", 1, NULL },
        { "[-]", 2, NULL },
        { "1.", 2, NULL },
        { "[1.e5]", 3, NULL },
        { "[1e]", 3, NULL },
        { "[+1]", 1, NULL },
        { "[.5]", 1, NULL },
        { "[NaN]", 1, NULL },
        { "{'a':1}", 1, NULL },
        { "\xef\xbb\xbf{}", 0, NULL },             /* BOM */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *e = parse_err(f, cases[i].in, strlen(cases[i].in));
        char want[64];
        int n = snprintf(want, sizeof want, "invalid JSON at byte %zu: ", cases[i].off);
        if (strncmp(e, want, (size_t)n) != 0) fail_msg("case %zu (%s): got \"%s\", want \"%s…\"", i, cases[i].in, e, want);
        if (cases[i].what) assert_string_equal(e + n, cases[i].what);
    }
    /* A NUL byte is data, not an end marker. */
    assert_string_equal(parse_err(f, "{}\0", 3), "invalid JSON at byte 2: The JSON document has an improper "
                                                 "structure: missing or superfluous commas, braces, missing keys, etc.");
}

/* ---- ownership and buffers ------------------------------------------- */

static void test_input_is_copied_unpadded_and_buffers_grow_for_big_events(void **state) {
    fix_t *f = *state;
    /* Exactly sized, not NUL-terminated: ASan/valgrind catch reads past it. */
    const char *src = "{\"id\":\"e1\",\"n\":1}";
    size_t n = strlen(src);
    char *exact = malloc(n);
    memcpy(exact, src, n);
    wd_jval_t r;
    assert_int_equal(wd_json_parse(f->p, exact, n, &r, f->err, sizeof f->err), 0);
    memset(exact, 'x', n);                    /* the document does not borrow input */
    assert_str(path(r, "id"), "e1", 2);
    free(exact);

    /* Grow from 1 KiB to ~1 MiB and back: values stay right each time. */
    for (size_t size = 16; size <= (1u << 20); size *= 4) {
        jd_str_t s = { 0 };
        jd_adds(&s, "{\"pad\":\"");
        for (size_t i = 0; i < size; i++) jd_addc(&s, (char)('a' + i % 26));
        jd_adds(&s, "\",\"arr\":[");
        for (size_t i = 0; i < size / 8; i++) jd_addf(&s, "%s%zu", i ? "," : "", i);
        jd_adds(&s, "],\"last\":true}");
        assert_int_equal(wd_json_parse(f->p, s.p, s.n, &r, f->err, sizeof f->err), 0);
        size_t len;
        wd_jval_str(path(r, "pad"), &len);
        assert_int_equal(len, size);
        assert_int_equal(wd_jval_count(path(r, "arr")), size / 8);
        assert_int_equal(wd_jval_bool(path(r, "last")), 1);
        free(s.p);
    }
    assert_str(path(parse_ok(f, "{\"a\":\"b\"}"), "a"), "b", 1);
}

static void test_error_buffer_may_be_null_or_tiny(void **state) {
    fix_t *f = *state;
    wd_jval_t r;
    assert_int_equal(wd_json_parse(f->p, "[", 1, &r, NULL, 0), -1);
    char tiny[8];
    assert_int_equal(wd_json_parse(f->p, "[", 1, &r, tiny, sizeof tiny), -1);
    assert_string_equal(tiny, "invalid");
    assert_int_equal(wd_json_parse(f->p, "[]", 2, NULL, NULL, 0), 0);
    wd_json_destroy(NULL);
}

/* ---- differential against jansson ------------------------------------- */

/* 20,000 documents each, 2,000 under valgrind (tools/run_tests.sh sets
 * WARDEN_VALGRIND=1: the same paths checked for memory errors, at a tenth of
 * the scale); WARDEN_JSON_DIFF_DOCS=N runs more (or fewer). */
static int diff_docs(void) {
    const char *e = getenv("WARDEN_JSON_DIFF_DOCS");
    if (e && atoi(e) > 0)
        return atoi(e);
    const char *v = getenv("WARDEN_VALGRIND");
    return v && *v == '1' ? 2000 : 20000;
}

static void test_random_documents_read_the_same_as_jansson(void **state) {
    (void)state;
    wd_json_t *p = wd_json_new(4096);
    jd_rng_t rng = { 20261120 };
    jd_str_t doc = { 0 };
    char why[512];
    size_t bytes = 0, counts[6] = { 0 };
    int ndocs = diff_docs();
    for (int i = 0; i < ndocs; i++) {
        doc.n = 0;
        jd_gen_value(&rng, &doc, 0, 1 + jd_below(&rng, 7));
        bytes += doc.n;
        int v = jd_check(p, doc.p, doc.n, why, sizeof why);
        counts[v]++;
        if (v != JD_BOTH_ACCEPT) fail_msg("document %d: verdict %d: %s\n%s", i, v, why, doc.p);
    }
    print_message("%d generated documents (%zu bytes) read identically by wd_json and jansson\n",
                  ndocs, bytes);
    free(doc.p);
    wd_json_destroy(p);
}

static void test_mutated_documents_get_the_same_verdict_as_jansson(void **state) {
    (void)state;
    wd_json_t *p = wd_json_new(4096);
    jd_rng_t rng = { 77 };
    jd_str_t doc = { 0 }, mut = { 0 };
    char why[512];
    size_t counts[6] = { 0 };
    int ndocs = diff_docs();
    for (int i = 0; i < ndocs; i++) {
        doc.n = 0;
        jd_gen_value(&rng, &doc, 0, 1 + jd_below(&rng, 4));
        jd_mutate(&rng, doc.p, doc.n, &mut);
        int v = jd_check(p, mut.p ? mut.p : "", mut.n, why, sizeof why);
        counts[v]++;
        if (v == JD_DISAGREE || v == JD_VALUES_DIFFER || v == JD_BAD_MESSAGE)
            fail_msg("mutation %d: %s\n%.*s", i, why, (int)mut.n, mut.p);
    }
    print_message("%d mutations: %zu valid, %zu invalid in both, %zu documented differences\n",
                  ndocs, counts[JD_BOTH_ACCEPT], counts[JD_BOTH_REJECT], counts[JD_ALLOWED_DIFF]);
    /* The mutations must exercise both sides. */
    assert_true(counts[JD_BOTH_ACCEPT] > (size_t)ndocs / 20);
    assert_true(counts[JD_BOTH_REJECT] > (size_t)ndocs / 2);
    free(doc.p);
    free(mut.p);
    wd_json_destroy(p);
}

static void test_documented_differences_with_jansson(void **state) {
    (void)state;
    wd_json_t *p = wd_json_new(4096);
    char why[256];
    const char *nulkey = "{\"a\\u0000\":1}";
    assert_int_equal(jd_check(p, nulkey, strlen(nulkey), why, sizeof why), JD_ALLOWED_DIFF);
    const char *big = "[18446744073709551615,123456789012345678901234567890,-1,2.5]";
    assert_int_equal(jd_check(p, big, strlen(big), why, sizeof why), JD_BOTH_ACCEPT);
    char *deep = nested(3000, 0);
    assert_int_equal(jd_check(p, deep, strlen(deep), why, sizeof why), JD_ALLOWED_DIFF);
    free(deep);
    wd_json_destroy(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nested_objects_read_through_dotted_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arrays_index_count_and_iterate_without_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_array_cursor_reads_what_at_reads_in_any_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_object_iteration_keeps_order_and_get_finds_first_duplicate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_type_and_wrong_type_accessors_read_as_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scalar_roots_parse_and_caller_checks_for_object, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unicode_escapes_decode_to_utf8_including_surrogate_pairs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escaped_nul_keeps_length_in_values_and_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lone_surrogates_and_bad_escapes_are_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_utf8_is_rejected_at_the_bad_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_int64_limits_are_exact_and_beyond_are_doubles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_30_digit_integers_read_as_doubles_and_strings_stay_intact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_integers_beyond_int64_keep_their_exact_digits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_integer_retry_still_reports_other_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_range_doubles_are_rejected_tiny_ones_round_to_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_depth_limit_accepts_exactly_max_and_rejects_one_more, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_inputs_name_the_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_input_is_copied_unpadded_and_buffers_grow_for_big_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_buffer_may_be_null_or_tiny, setup, teardown),
        cmocka_unit_test(test_random_documents_read_the_same_as_jansson),
        cmocka_unit_test(test_mutated_documents_get_the_same_verdict_as_jansson),
        cmocka_unit_test(test_documented_differences_with_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
