/* tests/rules/test_prune.c — field pruning for warden split
 * (rules/rule_prune.c): kept values are the input's bytes (1.0, -0.0, big
 * integers, escapes and spacing survive); arrays on the way to a declared
 * field keep every element pruned the same way; objects on the way that
 * hold nothing declared stay as {}; scalars on the way stay; text that does
 * not match its parse is refused.  And the whole point: the example pack
 * gives the same hits on the sample events raw and pruned. */
#include "tests/rules/testutil.h"

#include "base/wd_buf.h"
#include "base/wd_json.h"
#include "rules/rule_prune.h"

/* Prunes json to paths; returns the output (static) or NULL on -1. */
static const char *prune(const char *const *paths, size_t n, const char *json)
{
    static wd_buf_t out = WD_BUF_INIT;
    wd_json_t *j = wd_json_new(0);
    wd_jval_t root;
    char err[256];
    assert_int_equal(wd_json_parse(j, json, strlen(json), &root, err, sizeof err), 0);
    rule_prune_t *p = rule_prune_new(paths, n);
    assert_non_null(p);
    wd_buf_reset(&out);
    wd_buf_adds(&out, "");
    int rc = rule_prune_write(p, root, json, strlen(json), &out);
    rule_prune_destroy(p);
    wd_json_destroy(j);
    if (rc != 0) {
        assert_int_equal(out.len, 0);
        return NULL;
    }
    /* the output is JSON */
    wd_json_t *k = wd_json_new(0);
    if (wd_json_parse(k, out.data, out.len, &root, err, sizeof err) != 0)
        fail_msg("pruned output is not JSON (%s): %.*s", err, (int)out.len, out.data);
    wd_json_destroy(k);
    return out.data;
}

#define P(...) (const char *const[]){ __VA_ARGS__ }, sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(char *)

/* split re-encoded 1.0 as 1 (a float became an integer: another counter
 * key) and -0.0 as -0. */
static void test_numbers_keep_their_text(void **st)
{
    (void)st;
    assert_string_equal(prune(P("a", "b", "c", "d", "e"),
                              "{\"a\":1.0,\"b\":-0.0,\"c\":12345678901234567890,\"d\":1e2,\"x\":5,"
                              "\"e\":-123456789012345678901234567890.5e-3}"),
                        "{\"a\":1.0,\"b\":-0.0,\"c\":12345678901234567890,\"d\":1e2,"
                        "\"e\":-123456789012345678901234567890.5e-3}");
}

static void test_strings_and_keys_keep_their_escapes(void **st)
{
    (void)st;
    assert_string_equal(prune(P("user.id", "s"),
                              "{\"\\u0075ser\":{\"id\":\"a\\u00e9\\\"\\n\",\"pw\":\"x\"},\"s\":\"\\/\",\"t\":1}"),
                        "{\"\\u0075ser\":{\"id\":\"a\\u00e9\\\"\\n\"},\"s\":\"\\/\"}");
}

static void test_arrays_on_the_way_keep_every_element_pruned(void **st)
{
    (void)st;
    assert_string_equal(prune(P("items.sku"),
                              "{\"items\":[{\"sku\":\"a\",\"price\":1},7,[{\"sku\":\"b\",\"p\":2}],null,{},[]],"
                              "\"other\":[1]}"),
                        "{\"items\":[{\"sku\":\"a\"},7,[{\"sku\":\"b\"}],null,{},[]]}");
    assert_string_equal(prune(P("o.lines.p.id"),
                              "{\"o\":{\"lines\":[{\"p\":{\"id\":1.50,\"secret\":2},\"q\":3}],\"z\":0}}"),
                        "{\"o\":{\"lines\":[{\"p\":{\"id\":1.50}}]}}");
}

/* An object on the way with nothing declared in it stays: ev.user is a
 * (empty) table in every view, so ev.user.id reads nil, not an error. */
static void test_objects_and_scalars_on_the_way_stay(void **st)
{
    (void)st;
    assert_string_equal(prune(P("user.id"), "{\"user\":{\"name\":\"x\"}}"), "{\"user\":{}}");
    assert_string_equal(prune(P("user.id"), "{\"user\":\"str\"}"), "{\"user\":\"str\"}");
    assert_string_equal(prune(P("user.id"), "{\"user\":null,\"x\":{}}"), "{\"user\":null}");
    assert_string_equal(prune(P("user.id"), "{}"), "{}");
    assert_string_equal(prune(P("user.id"), "{\"x\":1}"), "{}");
}

static void test_a_whole_path_wins_and_duplicates_stay(void **st)
{
    (void)st;
    assert_string_equal(prune(P("user.id", "user"), "{\"user\":{\"id\":1,\"n\":[1, 2]}}"),
                        "{\"user\":{\"id\":1,\"n\":[1, 2]}}");
    assert_string_equal(prune(P("a"), "{\"a\":1,\"b\":2,\"a\":3}"), "{\"a\":1,\"a\":3}");
}

static void test_spacing_is_read_and_kept_values_keep_theirs(void **st)
{
    (void)st;
    assert_string_equal(prune(P("a.b", "c"),
                              " {\n \"a\" : { \"b\" : [ 1 , 2.0 ] , \"x\" : \"}\" } ,\r\n"
                              "\t\"c\" : \"]\" , \"d\" : { \"e\" : \"{\" } }\n"),
                        "{\"a\":{\"b\":[ 1 , 2.0 ]},\"c\":\"]\"}");
}

/* Text that is not what was parsed (a caller bug) is refused, out unchanged. */
static void test_text_that_does_not_match_its_parse_is_refused(void **st)
{
    (void)st;
    wd_json_t *j = wd_json_new(0);
    wd_jval_t root;
    char err[256];
    const char *parsed = "{\"a\":{\"b\":1},\"c\":2}";
    assert_int_equal(wd_json_parse(j, parsed, strlen(parsed), &root, err, sizeof err), 0);
    const char *paths[] = { "a.b" };
    rule_prune_t *p = rule_prune_new(paths, 1);
    wd_buf_t out = WD_BUF_INIT;
    wd_buf_adds(&out, "keep");
    const char *bad[] = { "{\"a\":[1],\"c\":2}", "{\"a\":{\"b\":1}}", "{\"a\":{\"b\":1},\"c\":2} x", "", "[" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(rule_prune_write(p, root, bad[i], strlen(bad[i]), &out), -1);
        assert_string_equal(out.data, "keep");
    }
    assert_int_equal(wd_json_parse(j, "[1]", 3, &root, err, sizeof err), 0);
    assert_int_equal(rule_prune_write(p, root, "[1]", 3, &out), -1);
    assert_string_equal(out.data, "keep");
    wd_buf_free(&out);
    rule_prune_destroy(p);
    wd_json_destroy(j);
}

/* The example pack on the sample events: every event pruned to its
 * stream's fields (what warden split writes) gives the same hits as the
 * raw event, in both event views. */
static void test_example_pack_gives_the_same_hits_raw_and_pruned(void **st)
{
    (void)st;
    FILE *f = fopen("examples/events/sample.jsonl", "r");
    assert_non_null(f);
    char err[16384];
    for (int strict = 0; strict <= 1; strict++) {
        rewind(f);
        eng_opts_t o = tu_opts();
        o.strict_fields = strict;
        eng_engine_t *raw = eng_engine_new(&o, "examples/rules", err, sizeof err);
        eng_engine_t *cut = eng_engine_new(&o, "examples/rules", err, sizeof err);
        assert_non_null(raw);
        assert_non_null(cut);
        const char *const *names;
        size_t ns = eng_engine_streams(raw, &names);
        rule_prune_t **pr = calloc(ns, sizeof(*pr));
        for (size_t i = 0; i < ns; i++) {
            const char *const *fields;
            size_t nf = eng_engine_stream_fields(raw, names[i], &fields);
            pr[i] = rule_prune_new(fields, nf);
        }
        wd_json_t *j = wd_json_new(0);
        wd_buf_t out = WD_BUF_INIT;
        char line[65536];
        long n = 0, hits = 0;
        size_t saved = 0;
        while (fgets(line, sizeof line, f)) {
            size_t len = strcspn(line, "\n");
            wd_jval_t root, tv;
            assert_int_equal(wd_json_parse(j, line, len, &root, err, sizeof err), 0);
            assert_true(wd_jval_get(root, "type", 4, &tv));
            size_t tl;
            const char *type = wd_jval_str(tv, &tl);
            size_t s = 0;
            while (s < ns && (strlen(names[s]) != tl || memcmp(names[s], type, tl) != 0))
                s++;
            if (s == ns)
                continue;
            wd_buf_reset(&out);
            assert_int_equal(rule_prune_write(pr[s], root, line, len, &out), 0);
            saved += len - out.len;
            eng_src_t src = { .msg_ts_ms = INT64_MIN, .file = "sample.jsonl", .line = ++n };
            const eng_outcome_t *a, *b;
            assert_int_equal(eng_engine_eval(raw, NULL, line, len, &src, &a), 0);
            size_t na = a->nhits;
            char ra[4096] = "";
            int m = 0;
            for (size_t h = 0; h < na; h++)
                m += snprintf(ra + m, sizeof ra - (size_t)m, "%s/%d/%.*s ", a->hits[h].rule, a->hits[h].verdict,
                              (int)a->hits[h].entity_len, a->hits[h].entity);
            size_t ea = a->nerrors;
            assert_int_equal(eng_engine_eval(cut, NULL, out.data, out.len, &src, &b), 0);
            char rb[4096] = "";
            m = 0;
            for (size_t h = 0; h < b->nhits; h++)
                m += snprintf(rb + m, sizeof rb - (size_t)m, "%s/%d/%.*s ", b->hits[h].rule, b->hits[h].verdict,
                              (int)b->hits[h].entity_len, b->hits[h].entity);
            if (b->nhits != na || strcmp(ra, rb) != 0 || b->nerrors != ea)
                fail_msg("event %ld: raw hits [%s] (%zu errors), pruned [%s] (%zu errors)\n%s\n%s", n,
                         na ? ra : "", ea, b->nhits ? rb : "", b->nerrors, line, out.data);
            hits += (long)na;
        }
        print_message("%s: %ld events, %ld hits, pruning saved %zu bytes\n", strict ? "strict" : "table",
                      n, hits, saved);
        assert_true(n > 10000 && hits > 100 && saved > 0);
        for (size_t i = 0; i < ns; i++)
            rule_prune_destroy(pr[i]);
        free(pr);
        wd_buf_free(&out);
        wd_json_destroy(j);
        eng_engine_destroy(raw);
        eng_engine_destroy(cut);
    }
    fclose(f);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers_keep_their_text),
        cmocka_unit_test(test_strings_and_keys_keep_their_escapes),
        cmocka_unit_test(test_arrays_on_the_way_keep_every_element_pruned),
        cmocka_unit_test(test_objects_and_scalars_on_the_way_stay),
        cmocka_unit_test(test_a_whole_path_wins_and_duplicates_stay),
        cmocka_unit_test(test_spacing_is_read_and_kept_values_keep_theirs),
        cmocka_unit_test(test_text_that_does_not_match_its_parse_is_refused),
        cmocka_unit_test(test_example_pack_gives_the_same_hits_raw_and_pruned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
