/* tests/base/test_lua_src.c — wd_lua_field_line: fields found by their
 * nesting, in both key spellings; comments, strings and long brackets that
 * look like fields are skipped; code-built tables and unbalanced text give
 * 0 rather than a wrong line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/wd_lua_src.h"

static int at(const char *src, const char *a, const char *b)
{
    const char *p[2] = { a, b };
    return wd_lua_field_line(src, strlen(src), p, b ? 2 : 1);
}

static void test_nesting_decides(void **s)
{
    (void)s;
    const char *src =
        "-- warden.lua\n"                            /* 1 */
        "return {\n"                                 /* 2 */
        "  batch_ms = 1,\n"                          /* 3: top level, not run's */
        "  run = {\n"                                /* 4 */
        "    group = 'g', batch_ms = \"fast\",\n"    /* 5 */
        "    inner = { batch_ms = 2 },\n"            /* 6: one level too deep */
        "  },\n"                                     /* 7 */
        "  split = { batch_ms = 3 },\n"              /* 8 */
        "  kafka = { [\"bootstrap.servers\"] = 'x', ['linger.ms'] = 5 },\n"  /* 9 */
        "}\n";
    assert_int_equal(at(src, "batch_ms", NULL), 3);
    assert_int_equal(at(src, "run", NULL), 4);
    assert_int_equal(at(src, "run", "batch_ms"), 5);
    assert_int_equal(at(src, "run", "group"), 5);
    assert_int_equal(at(src, "split", "batch_ms"), 8);
    assert_int_equal(at(src, "kafka", "bootstrap.servers"), 9);
    assert_int_equal(at(src, "kafka", "linger.ms"), 9);
    assert_int_equal(at(src, "run", "missing"), 0);
    assert_int_equal(at(src, "inner", "batch_ms"), 0);
    const char *p3[3] = { "run", "inner", "batch_ms" };
    assert_int_equal(wd_lua_field_line(src, strlen(src), p3, 3), 6);
}

static void test_comments_and_strings_are_not_fields(void **s)
{
    (void)s;
    const char *src =
        "--[[ run = { batch_ms = 1 }\n"              /* 1 */
        "   still a comment ]]\n"                    /* 2 */
        "local doc = [==[\n"                         /* 3 */
        " batch_ms = 9 ]] ]=]\n"                     /* 4 */
        "]==]\n"                                     /* 5 */
        "local cfg = {\n"                            /* 6 */
        "  note = \"batch_ms = 1 \\\" {\",\n"        /* 7 */
        "  f = function(x) if x then local batch_ms = x end repeat x = 1 until x; for i = 1, 2 do end return x end,\n"  /* 8 */
        "  batch_ms --[[ here ]] = 4, -- batch_ms = 5\n"  /* 9 */
        "}\n"
        "return cfg\n";
    assert_int_equal(at(src, "batch_ms", NULL), 9);
    assert_int_equal(at(src, "note", NULL), 7);
    assert_int_equal(at(src, "x", NULL), 0);
    assert_int_equal(at(src, "f", NULL), 8);
    assert_int_equal(at(src, "run", NULL), 0);
}

static void test_code_built_and_broken_text(void **s)
{
    (void)s;
    const char *built = "local t = {}\nt.run = {}\nt.run.batch_ms = 5\nreturn t\n";
    assert_int_equal(at(built, "run", "batch_ms"), 0);
    const char *cmp = "return { a = (1 == 2), b <= 3, c ~= 4 }\n";
    assert_int_equal(at(cmp, "a", NULL), 1);
    assert_int_equal(at(cmp, "b", NULL), 0);
    assert_int_equal(at(cmp, "c", NULL), 0);
    const char *open = "return { run = { batch_ms = 'unterminated\n";
    assert_int_equal(at(open, "run", "batch_ms"), 1);
    assert_int_equal(at("}}}] ) return { x = 1 }", "x", NULL), 1);
    /* text that ends inside something: no field, no read past the end
     * (the lengths below exclude a final byte that would close it) */
    const char *cut[] = {
        "return { x = 1, s = 'y = 2 \\",   /* a backslash as the last byte */
        "return { x = 1, --[[ y = 2",      /* an unterminated long comment */
        "return { x = 1, z = [==[ y = 2 ]=]",  /* an unterminated long string */
        "return { x = 1, [\"y",              /* ["key at the end */
        "return { x = 1, [\"y\"",            /* ["key" without ] */
        "return { x = 1, [\"y\"] ",          /* ["key"] without = */
        "return { x = 1, y",
    };
    for (size_t i = 0; i < sizeof cut / sizeof *cut; i++) {
        char *copy = malloc(strlen(cut[i]));   /* exactly the length: no NUL to lean on */
        memcpy(copy, cut[i], strlen(cut[i]));
        const char *p1[1] = { "y" }, *px[1] = { "x" };
        if (wd_lua_field_line(copy, strlen(cut[i]), p1, 1) != 0)
            fail_msg("case %zu: \"%s\" has a field y", i, cut[i]);
        assert_int_equal(wd_lua_field_line(copy, strlen(cut[i]), px, 1), 1);
        free(copy);
    }
    /* CRLF line ends count once */
    assert_int_equal(at("return {\r\n  a = 1,\r\n  b = 2,\r\n}\r\n", "b", NULL), 3);
    assert_int_equal(at("", "x", NULL), 0);
    const char *p[1] = { "x" };
    assert_int_equal(wd_lua_field_line(NULL, 0, p, 1), 0);
    char deep[400];
    size_t k = 0;
    for (int i = 0; i < 100; i++)
        deep[k++] = '{';
    deep[k] = '\0';
    assert_int_equal(at(deep, "x", NULL), 0);
}

/* The classes of src as a string: c(ode), k (comment), s(tring). */
static const char *classes(const char *src)
{
    static char out[512];
    size_t n = strlen(src);
    unsigned char k[512];
    memset(k, 9, sizeof k);
    wd_lua_classify(src, n, k);
    for (size_t i = 0; i < n; i++)
        out[i] = k[i] == WD_LUA_CODE ? 'c' : k[i] == WD_LUA_COMMENT ? 'k' : k[i] == WD_LUA_STRING ? 's' : '?';
    out[n] = '\0';
    assert_int_equal(k[n], 9);   /* nothing written past len */
    return out;
}

static void test_classify_comments_strings_and_code(void **s)
{
    (void)s;
    assert_string_equal(classes("a -- b\nc"), "cckkkkcc");
    assert_string_equal(classes("x'a\\'b'y"), "cssssssc");
    assert_string_equal(classes("\"a\\\"\"z"), "sssssc");
    assert_string_equal(classes("[[a]]b"), "sssssc");
    assert_string_equal(classes("[==[ ]] ]==]c"), "ssssssssssssc");
    assert_string_equal(classes("--[[x\n]]c"), "kkkkkkkkc");
    assert_string_equal(classes("--[=[ ]] ]=]c"), "kkkkkkkkkkkkc");
    assert_string_equal(classes("t[1]"), "cccc");        /* an index is code */
    assert_string_equal(classes("a - -b"), "cccccc");    /* two minus signs are not a comment */
    assert_string_equal(classes("'--'x"), "ssssc");     /* a comment mark inside a string */
    assert_string_equal(classes("--'x'\ny"), "kkkkkcc");
    assert_string_equal(classes("[[open"), "ssssss");    /* unfinished: to the end */
    assert_string_equal(classes("'ab\\"), "ssss");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nesting_decides),
        cmocka_unit_test(test_comments_and_strings_are_not_fields),
        cmocka_unit_test(test_code_built_and_broken_text),
        cmocka_unit_test(test_classify_comments_strings_and_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
