/* tests/base/test_alloc.c — the fault-injecting allocator (base/wd_alloc.h)
 * and the base modules under it: the hook fails exactly the n-th
 * allocation; a wd_buf that cannot grow fails sticky and keeps what it
 * held; and for the config loader (the example config and one that sets
 * every key of every section) and the JSON parse wrapper, allocation N
 * fails for N = 1, 2, … until the call succeeds: every failing call
 * returns an error, nothing leaks (LSan, valgrind), and the successful
 * result equals the one without failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/wd_alloc.h"
#include "base/wd_buf.h"
#include "base/wd_config.h"
#include "base/wd_json.h"
#include "base/wd_util.h"

/* Allocations an operation may make before it must have succeeded: a loop
 * past this is a hook that never fires, not a slow operation. */
#define MAX_N 200000

static void test_hook_fails_exactly_the_nth_allocation(void **st)
{
    (void)st;
    wd_alloc_fail_after(3);
    void *a = wd_malloc(8), *b = wd_calloc(1, 8), *c = wd_strdup("x"), *d = wd_malloc(8);
    assert_non_null(a);
    assert_non_null(b);
    assert_null(c);
    assert_non_null(d);
    assert_true(wd_alloc_failed());
    free(a), free(b), free(d);
    /* Off: nothing fails, and failed() forgets. */
    wd_alloc_fail_after(0);
    assert_false(wd_alloc_failed());
    void *e = wd_realloc(NULL, 16);
    assert_non_null(e);
    free(e);
    /* Armed past what an operation makes: it never fires. */
    wd_alloc_fail_after(1000);
    void *f = wd_malloc(8);
    assert_non_null(f);
    free(f);
    assert_false(wd_alloc_failed());
    wd_alloc_fail_after(0);
}

/* wd_strndup copies exactly n bytes, NUL bytes included (entities and
 * JSON strings are length-counted), and fails through the hook. */
static void test_strndup_keeps_nul_bytes_and_fails_through_the_hook(void **st)
{
    (void)st;
    static const char src[] = { 'a', '\0', 'b', 'c' };
    char *d = wd_strndup(src, sizeof src);
    assert_non_null(d);
    assert_memory_equal(d, src, sizeof src);
    assert_int_equal(d[sizeof src], '\0');
    free(d);
    d = wd_strndup("abcdef", 3);
    assert_string_equal(d, "abc");
    free(d);
    wd_alloc_fail_after(1);
    assert_null(wd_strndup("abc", 3));
    assert_true(wd_alloc_failed());
    wd_alloc_fail_after(0);
}

static void test_buf_growth_failure_is_sticky_and_keeps_contents(void **st)
{
    (void)st;
    wd_buf_t b = WD_BUF_INIT;
    wd_buf_adds(&b, "kept");
    wd_alloc_fail_after(1);
    char big[200];
    memset(big, 'x', sizeof big);
    wd_buf_add(&b, big, sizeof big);   /* needs to grow past 64: fails */
    wd_alloc_fail_after(0);
    assert_true(wd_buf_failed(&b));
    wd_buf_adds(&b, "more");           /* would fit, but the line is lost already */
    wd_buf_printf(&b, "%d", 42);
    wd_buf_json_str(&b, "a", 1);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "kept");
    assert_int_equal(wd_buf_reserve(&b, 1), -1);
    wd_buf_reset(&b);
    assert_false(wd_buf_failed(&b));
    wd_buf_adds(&b, "again");
    assert_string_equal(b.data, "again");
    wd_buf_free(&b);
}

/* ---- config ---------------------------------------------------------------- */

/* Every setting of c as text, one "key=value" a line, into out. */
static void config_dump(const wd_config_t *c, wd_buf_t *out)
{
    for (const wd_config_section_t *s = wd_config_sections(); s->name; s++)
        for (const wd_config_key_t *k = s->keys; k && k->key; k++) {
            char full[256];
            snprintf(full, sizeof full, "%s%s%s", s->name, *s->name ? "." : "", k->key);
            wd_buf_printf(out, "%s=", full);
            switch (k->type) {
            case WD_CFG_INT: wd_buf_printf(out, "%ld", wd_config_int(c, full)); break;
            case WD_CFG_BOOL: wd_buf_printf(out, "%d", wd_config_bool(c, full)); break;
            case WD_CFG_LIST: {
                const char *const *items;
                size_t n = wd_config_list(c, full, &items);
                for (size_t i = 0; i < n; i++)
                    wd_buf_printf(out, "%s%s", i ? "," : "", items[i]);
                break;
            }
            default: wd_buf_adds(out, wd_config_str(c, full)); break;
            }
            wd_buf_addc(out, '\n');
        }
    const char *const *keys, *const *vals;
    size_t n = wd_config_kafka(c, &keys, &vals);
    for (size_t i = 0; i < n; i++)
        wd_buf_printf(out, "kafka.%s=%s\n", keys[i], vals[i]);
}

/* Loads path with allocation N failing for N = 1, 2, … until the load
 * succeeds; each failure is an error naming the memory, the success gives
 * the settings of a load without failure.  Returns that N. */
static long config_loop(const char *path)
{
    char err[4096];
    wd_config_t *ref = wd_config_load(path, 0, err, sizeof err);
    if (ref == NULL)
        fail_msg("%s: %s", path, err);
    wd_buf_t want = WD_BUF_INIT;
    config_dump(ref, &want);
    wd_config_destroy(ref);
    for (long n = 1; n < MAX_N; n++) {
        err[0] = '\0';
        wd_alloc_fail_after(n);
        wd_config_t *c = wd_config_load(path, 0, err, sizeof err);
        int fired = wd_alloc_failed();
        wd_alloc_fail_after(0);
        if (c == NULL) {
            if (!fired)
                fail_msg("N=%ld: the load failed without a failed allocation: %s", n, err);
            if (strstr(err, "memory") == NULL)
                fail_msg("N=%ld: the error does not say memory: %s", n, err);
            continue;
        }
        wd_buf_t got = WD_BUF_INIT;
        config_dump(c, &got);
        wd_config_destroy(c);
        assert_false(wd_buf_failed(&got));
        if (strcmp(got.data, want.data) != 0)
            fail_msg("N=%ld: the load succeeded with other settings:\n%s\nwant:\n%s", n, got.data,
                     want.data);
        wd_buf_free(&got);
        if (!fired) {
            wd_buf_free(&want);
            return n;
        }
    }
    fail_msg("the config load still fails after %d allocations", MAX_N);
    return -1;
}

static void test_alloc_config_example(void **st)
{
    (void)st;
    long n = config_loop("examples/warden.lua");
    print_message("examples/warden.lua: succeeds from N=%ld\n", n);
    assert_true(n > 1);
}

/* A config setting every key of every section (each to its default, or a
 * value of its type), and two kafka properties. */
static void test_alloc_config_every_section(void **st)
{
    (void)st;
    char dir[] = "/tmp/test_alloc.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/warden.lua", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("return {\n  kafka = { [\"bootstrap.servers\"] = \"127.0.0.1:9092\", [\"client.id\"] = \"t\" },\n", f);
    int keys = 0;
    for (const wd_config_section_t *s = wd_config_sections(); s->name; s++) {
        if (*s->name)
            fprintf(f, "  %s = {\n", s->name);
        for (const wd_config_key_t *k = s->keys; k && k->key; k++) {
            const char *ind = *s->name ? "    " : "  ";
            const char *def = k->def ? k->def : "";
            if (k->type == WD_CFG_INT)
                fprintf(f, "%s%s = %ld,\n", ind, k->key, *def ? strtol(def, NULL, 10) : k->min);
            else if (k->type == WD_CFG_BOOL)
                fprintf(f, "%s%s = %s,\n", ind, k->key, strcmp(def, "true") == 0 ? "true" : "false");
            else if (k->type == WD_CFG_LIST)
                fprintf(f, "%s%s = { \"%s\", \"b\" },\n", ind, k->key, *def ? def : "a");
            else if (k->type == WD_CFG_ENUM) {
                const char *bar = strchr(k->choices, '|');
                fprintf(f, "%s%s = \"%.*s\",\n", ind, k->key,
                        *def ? (int)strlen(def) : (int)(bar ? bar - k->choices : (long)strlen(k->choices)),
                        *def ? def : k->choices);
            } else
                fprintf(f, "%s%s = \"%s\",\n", ind, k->key, *def ? def : "x");
            keys++;
        }
        if (*s->name)
            fputs("  },\n", f);
    }
    fputs("}\n", f);
    fclose(f);
    long n = config_loop(path);
    print_message("a config of all %d keys: succeeds from N=%ld\n", keys, n);
    assert_true(n > 1);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- the JSON parse wrapper ---------------------------------------------- */

/* A digest of a document's values in order (keys, scalars, nesting). */
static void json_dump(wd_jval_t v, wd_buf_t *out)
{
    switch (wd_jval_type(v)) {
    case WD_JOBJECT:
    case WD_JARRAY: {
        wd_jiter_t it;
        const char *k;
        size_t kl;
        wd_jval_t x;
        wd_buf_addc(out, wd_jval_type(v) == WD_JOBJECT ? '{' : '[');
        wd_jiter_begin(v, &it);
        while (wd_jiter_next(&it, &k, &kl, &x)) {
            if (k)
                wd_buf_json_str(out, k, kl), wd_buf_addc(out, ':');
            json_dump(x, out);
            wd_buf_addc(out, ',');
        }
        wd_buf_addc(out, wd_jval_type(v) == WD_JOBJECT ? '}' : ']');
        break;
    }
    case WD_JSTRING: {
        size_t n;
        const char *s = wd_jval_str(v, &n);
        wd_buf_json_str(out, s, n);
        break;
    }
    case WD_JINT: wd_buf_printf(out, "%lld", (long long)wd_jval_int(v)); break;
    case WD_JDOUBLE: {
        char nb[WD_JSON_NUMBUF];
        size_t n;
        const char *big = wd_jval_bigint(v, nb, &n);
        if (big)
            wd_buf_add(out, big, n);
        else
            wd_buf_json_num(out, wd_jval_double(v));
        break;
    }
    case WD_JBOOL: wd_buf_adds(out, wd_jval_bool(v) ? "true" : "false"); break;
    default: wd_buf_adds(out, "null"); break;
    }
}

/* A new parser and one parse of doc, with allocation N failing for
 * N = 1, 2, …: a big event (the parser grows), integers past int64 (the
 * cold retry with its vectors) and a malformed one (the error scan). */
static long json_loop(const char *doc, size_t len, int valid)
{
    wd_buf_t want = WD_BUF_INIT;
    char err[256];
    wd_jval_t root;
    wd_json_t *p = wd_json_new(0);
    assert_non_null(p);
    int rc = wd_json_parse(p, doc, len, &root, err, sizeof err);
    assert_int_equal(rc, valid ? 0 : -1);
    if (valid)
        json_dump(root, &want);
    else
        wd_buf_adds(&want, err);
    wd_json_destroy(p);
    for (long n = 1; n < MAX_N; n++) {
        wd_alloc_fail_after(n);
        p = wd_json_new(0);
        rc = p ? wd_json_parse(p, doc, len, &root, err, sizeof err) : -1;
        int fired = wd_alloc_failed();
        wd_alloc_fail_after(0);
        wd_buf_t got = WD_BUF_INIT;
        if (rc == 0)
            json_dump(root, &got);
        else if (p)
            wd_buf_adds(&got, err);
        wd_json_destroy(p);
        if (!fired || rc == 0) {
            assert_non_null(p);
            if (strcmp(got.data ? got.data : "", want.data) != 0)
                fail_msg("N=%ld: got %.200s, want %.200s", n, got.data ? got.data : "", want.data);
        } else if (p && strcmp(got.data, want.data) != 0 && strstr(err, "memory") == NULL) {
            fail_msg("N=%ld: the failed parse does not say memory: %s", n, err);
        }
        wd_buf_free(&got);
        if (!fired) {
            wd_buf_free(&want);
            return n;
        }
    }
    fail_msg("the parse still fails after %d allocations", MAX_N);
    return -1;
}

static void test_alloc_json_parse(void **st)
{
    (void)st;
    /* The first lines of the sample, as one event of ~40 KB. */
    char *sample;
    size_t slen;
    char err[256];
    assert_int_equal(wd_read_file("examples/events/sample.jsonl", &sample, &slen, err, sizeof err), 0);
    wd_buf_t ev = WD_BUF_INIT;
    wd_buf_adds(&ev, "{\"type\":\"login\",\"events\":[");
    const char *line = sample;
    for (int i = 0; i < 100 && line < sample + slen; i++) {
        const char *nl = memchr(line, '\n', (size_t)(sample + slen - line));
        size_t l = nl ? (size_t)(nl - line) : strlen(line);
        wd_buf_add(&ev, line, l);
        wd_buf_addc(&ev, ',');
        line = nl ? nl + 1 : sample + slen;
    }
    wd_buf_adds(&ev, "{}],\"big\":18446744073709551616,\"neg\":-99999999999999999999}");
    free(sample);
    long n1 = json_loop(ev.data, ev.len, 1);
    const char *bad = "{\"type\":\"login\",\"a\":[1,2,3,}";
    long n2 = json_loop(bad, strlen(bad), 0);
    print_message("JSON parse: a %zu-byte event with big integers succeeds from N=%ld, a malformed "
                  "one reports its error from N=%ld\n", ev.len, n1, n2);
    wd_buf_free(&ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hook_fails_exactly_the_nth_allocation),
        cmocka_unit_test(test_strndup_keeps_nul_bytes_and_fails_through_the_hook),
        cmocka_unit_test(test_buf_growth_failure_is_sticky_and_keeps_contents),
        cmocka_unit_test(test_alloc_config_example),
        cmocka_unit_test(test_alloc_config_every_section),
        cmocka_unit_test(test_alloc_json_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
