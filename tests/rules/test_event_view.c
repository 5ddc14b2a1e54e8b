/* tests/rules/test_event_view.c — `ev`, the read-only view of the event,
 * through the real engine and both of its implementations: the table view
 * of production (rules/rule_lua_view.c: declared fields only) and the lazy
 * checking view of strict mode (rules/rule_lua_event.c, warden test).
 * Nesting, arrays, pairs, number types, booleans, unicode and NUL bytes,
 * null and missing fields, huge numbers, assignment, views kept past their
 * event, declared-field checks, the nesting limit. */
#include <time.h>

#include "base/wd_buf.h"
#include "base/wd_lua.h"
#include "tests/rules/testutil.h"

enum { TABLE_VIEW = 0, LAZY_VIEW = 1, BOTH = 2 };

static const char *view_name(int strict) { return strict ? "lazy (strict) view" : "table view"; }

/* Runs rule "r" (fields, body) in the given view on the event
 * {"type":"s","id":"e1","ts":1000, MORE}.  Returns the engine; *out is the
 * outcome.  The caller destroys both. */
static eng_engine_t *run(tu_pack_t *p, int strict, const char *fields, const char *body,
                         const char *more, const eng_outcome_t **out)
{
    tu_pack_init(p);
    tu_rule(p, "r", NULL, fields, body);
    eng_opts_t o = tu_opts();
    o.strict_fields = strict;
    eng_engine_t *e = tu_engine(p, &o);
    *out = tu_evalf(e, "%s", more);
    return e;
}

/* In each view asked for, the rule's hit entity must equal want. */
static void expect_entity(int views, const char *fields, const char *more, const char *body,
                          const char *want)
{
    for (int strict = 0; strict <= 1; strict++) {
        if (views != BOTH && views != strict)
            continue;
        tu_pack_t p;
        const eng_outcome_t *o;
        eng_engine_t *e = run(&p, strict, fields, body, more, &o);
        const char *err = tu_error(o, "r");
        if (err)
            fail_msg("%s: rule failed: %s", view_name(strict), err);
        const eng_hit_t *h = tu_hit(o, "r");
        if (h == NULL)
            fail_msg("%s: no hit", view_name(strict));
        const char *got = tu_str(h->entity, h->entity_len);
        if (strcmp(got, want) != 0)
            fail_msg("%s: got \"%s\", want \"%s\"", view_name(strict), got, want);
        eng_engine_destroy(e);
        tu_pack_free(&p);
    }
}

/* In each view asked for, the rule must fail with a message containing want. */
static void expect_error(int views, const char *fields, const char *more, const char *body,
                         const char *want)
{
    for (int strict = 0; strict <= 1; strict++) {
        if (views != BOTH && views != strict)
            continue;
        tu_pack_t p;
        const eng_outcome_t *o;
        eng_engine_t *e = run(&p, strict, fields, body, more, &o);
        const char *err = tu_error(o, "r");
        if (err == NULL || strstr(err, want) == NULL)
            fail_msg("%s: rule %s \"%s\", wanted an error with \"%s\"", view_name(strict),
                     err ? "failed with" : "did not fail", err ? err : "", want);
        assert_null(tu_hit(o, "r"));
        eng_engine_destroy(e);
        tu_pack_free(&p);
    }
}

#define USER "\"user\":{\"id\":\"u1\",\"age\":12,\"profile\":{\"country\":\"FR\",\"langs\":[\"fr\",\"en\"]}}"

/* ---- structure --------------------------------------------------------- */

static void test_nested_objects_read_through(void **st)
{
    (void)st;
    expect_entity(BOTH, "{ \"user\" }", USER,
                  "return ctx.flag{ entity = ev.user.id .. '/' .. ev.user.profile.country }", "u1/FR");
    expect_entity(BOTH, "{ \"user.id\", \"user.profile.country\" }", USER,
                  "return ctx.flag{ entity = ev.user.id .. '/' .. ev.user.profile.country }", "u1/FR");
}

static void test_arrays_have_length_index_and_ipairs(void **st)
{
    (void)st;
    expect_entity(BOTH, "{ \"tags\", \"empty\" }", "\"tags\":[\"a\",\"b\",\"c\"],\"empty\":[]",
                  "local seen = {}\n"
                  "      for i, t in ipairs(ev.tags) do seen[#seen + 1] = i .. t end\n"
                  "      return ctx.flag{ entity = #ev.tags .. ':' .. table.concat(seen, ',') .. ':'\n"
                  "        .. ev.tags[2] .. ':' .. tostring(ev.tags[0]) .. ':' .. tostring(ev.tags[4])\n"
                  "        .. ':' .. #ev.empty }",
                  "3:1a,2b,3c:b:nil:nil:0");
}

static void test_arrays_of_objects_and_nested_arrays(void **st)
{
    (void)st;
    expect_entity(BOTH, "{ \"items\", \"grid\" }",
                  "\"items\":[{\"sku\":\"x1\"},{\"sku\":\"x2\",\"qty\":3}],\"grid\":[[1,2],[3,4,5]]",
                  "return ctx.flag{ entity = ev.items[2].sku .. ev.items[2].qty .. ':' .. #ev.grid[2]\n"
                  "        .. ev.grid[2][3] }",
                  "x23:35");
}

static void test_array_with_nulls(void **st)
{
    (void)st;
    expect_entity(BOTH, "{ \"a\" }", "\"a\":[1,null,3]",
                  "local n = 0 for _ in ipairs(ev.a) do n = n + 1 end\n"
                  "      return ctx.flag{ entity = tostring(ev.a[2]) .. ':' .. ev.a[3] .. ':' .. n }",
                  "nil:3:1");
}

static void test_array_length_counts_trailing_nulls_in_both_views(void **st)
{
    (void)st;
    /* JSON's length, not a Lua border: [1,2,null] has 3 elements. */
    expect_entity(BOTH, "{ \"a\" }", "\"a\":[1,2,null]", "return ctx.flag{ entity = tostring(#ev.a) }",
                  "3");
}

static void test_arrays_index_by_integral_floats_like_tables(void **st)
{
    (void)st;
    /* Lua reads t[2.0] as t[2]; a computed index must not depend on the view. */
    expect_entity(BOTH, "{ \"tags\" }", "\"tags\":[\"a\",\"b\",\"c\"]",
                  "local n = #ev.tags\n"
                  "      return ctx.flag{ entity = tostring(ev.tags[n / 3]) .. tostring(ev.tags[4 / 2])\n"
                  "        .. tostring(ev.tags[1.5]) .. tostring(ev.tags['1']) .. tostring(ev.tags[-1]) }",
                  "abnilnilnil");
}

static void test_pairs_skips_null_members_and_repeated_keys(void **st)
{
    (void)st;
    /* A Lua table cannot hold nil: pairs shows no key for a JSON null; and a
     * key once, with the value ev.k reads (the first). */
    expect_entity(BOTH, "{ \"o\", \"a\" }",
                  "\"o\":{\"x\":1,\"n\":null,\"y\":2,\"x\":3},\"a\":[null,\"p\",null,\"q\"]",
                  "local ks = {}\n"
                  "      for k, v in pairs(ev.o) do ks[#ks + 1] = k .. '=' .. tostring(v) end\n"
                  "      table.sort(ks)\n"
                  "      for i, v in pairs(ev.a) do ks[#ks + 1] = i .. '=' .. tostring(v) end\n"
                  "      return ctx.flag{ entity = table.concat(ks, ',') }",
                  "x=1,y=2,2=p,4=q");
}

static void test_pairs_over_objects_and_arrays(void **st)
{
    (void)st;
    expect_entity(BOTH, "{ \"o\", \"a\" }", "\"o\":{\"b\":2,\"a\":1,\"c\":{\"d\":4}},\"a\":[\"x\",\"y\"]",
                  "local ks = {}\n"
                  "      for k, v in pairs(ev.o) do ks[#ks + 1] = k .. '=' .. (type(v) == 'number' and v or 'obj') end\n"
                  "      table.sort(ks)\n"
                  "      for i, v in pairs(ev.a) do ks[#ks + 1] = i .. v end\n"
                  "      return ctx.flag{ entity = table.concat(ks, ',') }",
                  "a=1,b=2,c=obj,1x,2y");
}

static void test_duplicate_keys_first_wins(void **st)
{
    (void)st;
    expect_entity(BOTH, "{ \"k\", \"o\" }", "\"k\":\"first\",\"k\":\"second\",\"o\":{\"x\":1,\"x\":2}",
                  "return ctx.flag{ entity = ev.k .. ev.o.x }", "first1");
}

static void test_non_string_keys_read_nil(void **st)
{
    (void)st;
    expect_entity(BOTH, "{ \"user\" }", USER,
                  "return ctx.flag{ entity = tostring(ev[1]) .. tostring(ev.user[true]) }", "nilnil");
}

/* ---- scalars ----------------------------------------------------------- */

static void test_integers_and_floats_keep_their_types(void **st)
{
    (void)st;
    expect_entity(BOTH, "{ \"i\", \"f\", \"e\", \"neg\", \"big\", \"whole\" }",
                  "\"i\":42,\"f\":0.5,\"e\":1e3,\"neg\":-7,\"big\":9223372036854775807,\"whole\":2.0",
                  "return ctx.flag{ entity = table.concat({ math.type(ev.i), ev.i, math.type(ev.f),\n"
                  "        ev.f, math.type(ev.e), math.type(ev.neg), ev.neg, math.type(ev.big),\n"
                  "        tostring(ev.big == math.maxinteger), math.type(ev.whole) }, ',') }",
                  "integer,42,float,0.5,float,integer,-7,integer,true,float");
}

/* Integers beyond int64 read as strings of their exact digits (as floats
 * two ids 10000000000000000001 and ...002 were one entity, one counter
 * key); tonumber() gives the float.  Other huge numbers stay floats. */
static void test_integers_beyond_int64_read_as_their_exact_digits(void **st)
{
    (void)st;
    expect_entity(BOTH, "{ \"u64\", \"huge\", \"neg\", \"next\", \"f\", \"a\" }",
                  "\"u64\":18446744073709551615,\"huge\":123456789012345678901234567890,"
                  "\"neg\":-9223372036854775809,\"next\":9223372036854775808,\"f\":1e30,"
                  "\"a\":[10000000000000000001,10000000000000000002]",
                  "return ctx.flag{ entity = table.concat({ type(ev.u64), ev.u64, ev.huge, ev.neg,\n"
                  "        ev.next, math.type(ev.f), ev.a[1], ev.a[2],\n"
                  "        tostring(tonumber(ev.huge) > 1.2e29) }, ',') }",
                  "string,18446744073709551615,123456789012345678901234567890,"
                  "-9223372036854775809,9223372036854775808,float,10000000000000000001,"
                  "10000000000000000002,true");
}

static void test_booleans(void **st)
{
    (void)st;
    expect_entity(BOTH, "{ \"t\", \"f\" }", "\"t\":true,\"f\":false",
                  "return ctx.flag{ entity = tostring(ev.t == true) .. tostring(ev.f == false)\n"
                  "        .. type(ev.t) .. type(ev.f) }",
                  "truetruebooleanboolean");
}

static void test_unicode_strings_are_utf8(void **st)
{
    (void)st;
    expect_entity(BOTH, "{ \"s\", \"e\", \"raw\" }",
                  "\"s\":\"caf\\u00e9\",\"e\":\"\\ud83d\\ude00\",\"raw\":\"\xc3\xa9t\xc3\xa9\"",
                  "return ctx.flag{ entity = table.concat({ #ev.s, string.byte(ev.s, 4, 5) }, ' ')\n"
                  "        .. '|' .. table.concat({ string.byte(ev.e, 1, -1) }, ' ')\n"
                  "        .. '|' .. utf8.len(ev.raw) .. '|' .. tostring(ev.raw == '\\u{e9}t\\u{e9}') }",
                  "5 195 169|240 159 152 128|3|true");
}

static void test_strings_keep_nul_bytes(void **st)
{
    (void)st;
    expect_entity(BOTH, "{ \"s\" }", "\"s\":\"a\\u0000b\"",
                  "return ctx.flag{ entity = #ev.s .. ':' .. string.byte(ev.s, 2) .. ':'\n"
                  "        .. tostring(ev.s == 'a\\0b') }",
                  "3:0:true");
}

static void test_escaped_strings_are_unescaped(void **st)
{
    (void)st;
    expect_entity(BOTH, "{ \"s\" }", "\"s\":\"q\\\"b\\\\s\\/n\\nt\\t\"",
                  "return ctx.flag{ entity = tostring(ev.s == 'q\"b\\\\s/n\\nt\\t') }", "true");
}

static void test_null_and_missing_read_nil(void **st)
{
    (void)st;
    expect_entity(BOTH, "{ \"nul\", \"missing\", \"user\", \"obj.nul\", \"obj.gone\" }",
                  USER ",\"nul\":null,\"obj\":{\"nul\":null}",
                  "return ctx.flag{ entity = table.concat({ type(ev.nul), type(ev.missing),\n"
                  "        type(ev.user.nope), type(ev.obj.nul), type(ev.obj.gone),\n"
                  "        tostring(ev.nul == nil) }, ',') }",
                  "nil,nil,nil,nil,nil,true");
}

static void test_a_missing_parent_reads_nil_not_an_error(void **st)
{
    (void)st;
    expect_entity(BOTH, "{ \"device.vpn\" }", "\"other\":1",
                  "return ctx.flag{ entity = type(ev.device) }", "nil");
    /* ...but indexing that nil is the rule's own error, as in plain Lua. */
    expect_error(BOTH, "{ \"device.vpn\" }", "\"other\":1",
                 "return ctx.flag{ entity = ev.device.vpn }", "attempt to index a nil value");
}

static void test_a_declared_object_that_is_a_scalar_reads_as_the_scalar(void **st)
{
    (void)st;
    expect_entity(BOTH, "{ \"device.vpn\" }", "\"device\":\"phone\"",
                  "return ctx.flag{ entity = ev.device }", "phone");
}

/* The same expression must give the same answer in both views, or a rule
 * that passes warden test behaves differently in eval and run. */
static void test_both_views_agree(void **st)
{
    (void)st;
    static const char *const exprs[] = {
        "type(ev)", "type(ev.o)", "type(ev.a)", "type(ev.o.inner)",
        "#ev.t", "#ev.o", "#ev.e",
        "tostring(ev.a[0])", "tostring(ev.a[-1])", "tostring(ev.o[1])", "tostring(ev.a.x)",
        "tostring(ev.o == ev.o)", "tostring(ev.o.inner == ev.o.inner)", "tostring(ev.a == ev.o)",
        "tostring(ev.o ~= nil)", "tostring(not ev.o)",
        "select('#', ipairs(ev.a))",
    };
    int differ = 0;
    const char *event = "\"o\":{\"k\":1,\"inner\":{\"z\":true}},\"a\":[1,2,null],\"t\":[1,null,3],\"e\":[]";
    for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++) {
        char results[2][256];
        for (int strict = 0; strict <= 1; strict++) {
            char body[256];
            snprintf(body, sizeof body, "return ctx.flag{ entity = tostring(%s) }", exprs[i]);
            tu_pack_t p;
            const eng_outcome_t *o;
            eng_engine_t *e = run(&p, strict, "{ \"o\", \"a\", \"t\", \"e\" }", body, event, &o);
            const char *err = tu_error(o, "r");
            const eng_hit_t *h = tu_hit(o, "r");
            snprintf(results[strict], sizeof results[strict], "%s%s", err ? "error: " : "",
                     err ? err : h ? tu_str(h->entity, h->entity_len) : "no hit");
            eng_engine_destroy(e);
            tu_pack_free(&p);
        }
        if (strcmp(results[0], results[1]) != 0) {
            print_error("%s: table view \"%s\", lazy view \"%s\"\n", exprs[i], results[0],
                        results[1]);
            differ++;
        }
    }
    assert_int_equal(differ, 0);
}

/* ---- read-only --------------------------------------------------------- */

static void test_assignment_to_ev_raises_read_only(void **st)
{
    (void)st;
    expect_error(BOTH, "{ \"user\" }", USER, "ev.user = 'x'", "read-only");
    expect_error(BOTH, "{ \"user\" }", USER, "ev.brand_new = 1", "read-only");
}

static void test_assignment_to_a_nested_object_raises_read_only(void **st)
{
    (void)st;
    expect_error(BOTH, "{ \"user\" }", USER, "ev.user.id = 'x'", "read-only");
    expect_error(BOTH, "{ \"user.id\", \"user.profile\" }", USER, "ev.user.profile.country = 'x'",
                 "read-only");
    expect_error(BOTH, "{ \"user\" }", USER, "ev.user.profile.langs[1] = 'x'", "read-only");
}

static void test_a_failed_assignment_changes_nothing_for_the_next_rule(void **st)
{
    (void)st;
    for (int strict = 0; strict <= 1; strict++) {
        tu_pack_t p;
        tu_pack_init(&p);
        tu_rule(&p, "a.writer", NULL, "{ \"user\" }",
                "pcall(function() ev.user.id = 'forged' end)\n"
                "      pcall(function() ev.user = { id = 'forged' } end)");
        tu_rule(&p, "b.reader", NULL, "{ \"user\" }", "return ctx.flag{ entity = ev.user.id }");
        eng_opts_t o = tu_opts();
        o.strict_fields = strict;
        eng_engine_t *e = tu_engine(&p, &o);
        const eng_outcome_t *out = tu_evalf(e, USER);
        const eng_hit_t *h = tu_hit(out, "b.reader");
        assert_non_null(h);
        assert_string_equal(tu_str(h->entity, h->entity_len), "u1");
        eng_engine_destroy(e);
        tu_pack_free(&p);
    }
}

/* ---- views kept past their event --------------------------------------- */

/* A rule keeps `ev` (or a part of it) from the first event and reads it
 * during the second.  Returns the second evaluation's error or hit entity
 * in a static buffer ("error: ..." / "hit: ..."). */
static const char *kept_view(int strict, const char *fields, const char *keep, const char *read)
{
    static char res[1024];
    tu_pack_t p;
    tu_pack_init(&p);
    char body[512];
    snprintf(body, sizeof body,
             "if kept == nil then kept = %s return end\n"
             "      return ctx.flag{ entity = tostring(%s) }",
             keep, read);
    tu_rule(&p, "r", NULL, fields, body);
    eng_opts_t o = tu_opts();
    o.strict_fields = strict;
    eng_engine_t *e = tu_engine(&p, &o);
    const eng_outcome_t *out = tu_evalf(e, USER);
    assert_null(tu_error(out, "r"));
    out = tu_eval_raw(e, "{\"type\":\"s\",\"id\":\"e2\",\"ts\":2000,"
                         "\"user\":{\"id\":\"u2\",\"profile\":{\"country\":\"DE\"}}}");
    assert_int_equal(out->status, ENG_EVENT_OK);
    const char *err = tu_error(out, "r");
    const eng_hit_t *h = tu_hit(out, "r");
    if (err)
        snprintf(res, sizeof res, "error: %s", err);
    else if (h)
        snprintf(res, sizeof res, "hit: %s", tu_str(h->entity, h->entity_len));
    else
        snprintf(res, sizeof res, "nothing");
    eng_engine_destroy(e);
    tu_pack_free(&p);
    return res;
}

static void test_ev_kept_in_an_upvalue_is_expired_in_the_lazy_view(void **st)
{
    (void)st;
    const char *r = kept_view(LAZY_VIEW, "{ \"user\" }", "ev", "kept.user.id");
    if (strstr(r, "error: ") != r || strstr(r, "event expired") == NULL)
        fail_msg("kept ev: %s", r);
    r = kept_view(LAZY_VIEW, "{ \"user\" }", "ev.user", "kept.id");
    if (strstr(r, "event expired") == NULL)
        fail_msg("kept ev.user: %s", r);
    r = kept_view(LAZY_VIEW, "{ \"user\" }", "ev.user.profile", "#kept");
    if (strstr(r, "event expired") == NULL)
        fail_msg("kept ev.user.profile: %s", r);
    r = kept_view(LAZY_VIEW, "{ \"user\" }", "ev.user", "next({}) or select(2, pairs(kept))");
    if (strstr(r, "event expired") == NULL)
        fail_msg("pairs over kept ev.user: %s", r);
}

static void test_ev_kept_in_an_upvalue_never_shows_the_old_event_in_the_table_view(void **st)
{
    (void)st;
    /* The table view refills the same tables for each event: a kept `ev`
     * reads the current event (never freed memory, never the old one). */
    const char *r = kept_view(TABLE_VIEW, "{ \"user.id\" }", "ev", "kept.user.id");
    if (strcmp(r, "hit: u2") != 0 && strstr(r, "event expired") == NULL)
        fail_msg("kept ev: %s", r);
    r = kept_view(TABLE_VIEW, "{ \"user\" }", "ev", "kept.user.id");
    if (strcmp(r, "hit: u2") != 0 && strstr(r, "event expired") == NULL)
        fail_msg("kept ev (whole user): %s", r);
}

static void test_an_iterator_kept_past_its_event_is_expired(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "r", NULL, "{ \"user\" }",
            "if it == nil then it, state = pairs(ev.user) return end\n"
            "      return ctx.flag{ entity = tostring(it(state, nil)) }");
    eng_opts_t o = tu_opts();
    o.strict_fields = 1;
    eng_engine_t *e = tu_engine(&p, &o);
    tu_evalf(e, USER);
    const eng_outcome_t *out = tu_evalf(e, USER);
    tu_assert_error(out, "r", "expired");
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

/* ---- declared fields --------------------------------------------------- */

static void test_strict_mode_errors_on_undeclared_reads(void **st)
{
    (void)st;
    expect_error(LAZY_VIEW, "{ \"user.id\" }", USER, "return ctx.flag{ entity = ev.user.age }",
                 "field 'user.age' is not declared in 'fields' of rule r");
    expect_error(LAZY_VIEW, "{ \"user.id\" }", USER, "return ctx.flag{ entity = ev.other }",
                 "field 'other' is not declared in 'fields' of rule r");
    /* Undeclared means undeclared, whether or not the event has it. */
    expect_error(LAZY_VIEW, "{ \"user.id\" }", USER, "return ctx.flag{ entity = ev.absent }",
                 "field 'absent' is not declared");
    expect_error(LAZY_VIEW, NULL, USER, "return ctx.flag{ entity = ev.id }",
                 "field 'id' is not declared");
}

static void test_strict_mode_error_names_the_rule_line(void **st)
{
    (void)st;
    tu_pack_t p;
    const eng_outcome_t *o;
    eng_engine_t *e = run(&p, LAZY_VIEW, "{ \"user.id\" }", "return ctx.flag{ entity = ev.user.age }",
                          USER, &o);
    char want[128];
    snprintf(want, sizeof want, "%s/r.lua:7: ", p.dir);
    const char *err = tu_error(o, "r");
    assert_non_null(err);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("\"%s\" does not start with \"%s\"", err, want);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_a_declared_parent_makes_its_children_readable(void **st)
{
    (void)st;
    expect_entity(BOTH, "{ \"device\" }", "\"device\":{\"vpn\":true,\"os\":\"ios\",\"hw\":{\"m\":\"x\"}}",
                  "return ctx.flag{ entity = tostring(ev.device.vpn) .. ev.device.os .. ev.device.hw.m }",
                  "trueiosx");
}

static void test_a_declared_child_makes_its_parent_readable_but_not_its_siblings(void **st)
{
    (void)st;
    const char *ev = "\"device\":{\"vpn\":true,\"os\":\"ios\"}";
    expect_entity(BOTH, "{ \"device.vpn\" }", ev,
                  "return ctx.flag{ entity = tostring(ev.device ~= nil) .. tostring(ev.device.vpn) }",
                  "truetrue");
    expect_error(LAZY_VIEW, "{ \"device.vpn\" }", ev, "return ctx.flag{ entity = ev.device.os }",
                 "field 'device.os' is not declared");
    /* Production shows what a pruner would keep: the sibling is not there. */
    expect_entity(TABLE_VIEW, "{ \"device.vpn\" }", ev,
                  "return ctx.flag{ entity = type(ev.device.os) }", "nil");
}

static void test_undeclared_fields_read_nil_in_the_table_view(void **st)
{
    (void)st;
    expect_entity(TABLE_VIEW, "{ \"user.id\" }", USER ",\"other\":5",
                  "return ctx.flag{ entity = type(ev.other) .. type(ev.user.age) .. ev.user.id }",
                  "nilnilu1");
}

static void test_pairs_in_strict_mode_shows_declared_fields_only(void **st)
{
    (void)st;
    expect_entity(LAZY_VIEW, "{ \"user.id\", \"user.profile\" }", USER,
                  "local ks = {}\n"
                  "      for k in pairs(ev.user) do ks[#ks + 1] = k end\n"
                  "      table.sort(ks)\n"
                  "      return ctx.flag{ entity = table.concat(ks, ',') }",
                  "id,profile");
}

static void test_arrays_are_transparent_to_declared_paths(void **st)
{
    (void)st;
    const char *ev = "\"items\":[{\"sku\":\"a\",\"price\":1},{\"sku\":\"b\",\"price\":2}]";
    expect_entity(LAZY_VIEW, "{ \"items.sku\" }", ev,
                  "return ctx.flag{ entity = ev.items[1].sku .. ev.items[2].sku }", "ab");
    expect_error(LAZY_VIEW, "{ \"items.sku\" }", ev,
                 "return ctx.flag{ entity = ev.items[1].price }", "field 'items.price' is not declared");
}

/* With `items.sku` declared the table view showed all of items[1]
 * (price included); it shows what the lazy view allows: sku in every
 * element, arrays (nested ones too) keep their length, scalars stay. */
static void test_arrays_are_transparent_to_declared_paths_in_the_table_view(void **st)
{
    (void)st;
    const char *ev = "\"items\":[{\"sku\":\"a\",\"price\":1},{\"sku\":\"b\",\"price\":2},7,[{\"sku\":\"c\",\"x\":1}]]";
    expect_entity(BOTH, "{ \"items.sku\" }", ev,
                  "return ctx.flag{ entity = ev.items[1].sku .. ev.items[2].sku .. #ev.items .. ev.items[3]"
                  " .. ev.items[4][1].sku .. #ev.items[4] }",
                  "ab47c1");
    expect_entity(TABLE_VIEW, "{ \"items.sku\" }", ev,
                  "local ks = {}\n"
                  "      for k in pairs(ev.items[1]) do ks[#ks + 1] = k end\n"
                  "      return ctx.flag{ entity = table.concat(ks, ',') .. type(ev.items[1].price)"
                  " .. type(ev.items[4][1].x) }",
                  "skunilnil");
    /* deeper: an object inside the array elements */
    const char *ev2 = "\"o\":{\"lines\":[{\"p\":{\"id\":1,\"secret\":2},\"q\":3}]}";
    expect_entity(BOTH, "{ \"o.lines.p.id\" }", ev2,
                  "return ctx.flag{ entity = ev.o.lines[1].p.id .. #ev.o.lines }", "11");
    expect_entity(TABLE_VIEW, "{ \"o.lines.p.id\" }", ev2,
                  "return ctx.flag{ entity = type(ev.o.lines[1].q) .. type(ev.o.lines[1].p.secret) }",
                  "nilnil");
    expect_error(LAZY_VIEW, "{ \"o.lines.p.id\" }", ev2,
                 "return ctx.flag{ entity = ev.o.lines[1].p.secret }", "field 'o.lines.p.secret' is not declared");
    /* read-only like every view */
    expect_error(TABLE_VIEW, "{ \"items.sku\" }", ev, "ev.items[1].sku = 'z'", "read-only");
}

/* The calling thread's CPU time: what a walk costs, whatever else the
 * machine runs (a busy machine stretches wall time, not this). */
static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Seconds for pairs() over an object of n keys (plus one repeated key,
 * which must show once, with its first value) in one view. */
static double pairs_secs(int strict, int n)
{
    wd_buf_t j = WD_BUF_INIT;
    wd_buf_adds(&j, "{\"type\":\"s\",\"id\":\"e1\",\"ts\":1000,\"big\":{");
    for (int i = 0; i < n; i++)
        wd_buf_printf(&j, "%s\"k%d\":%d", i ? "," : "", i, i);
    wd_buf_adds(&j, ",\"k7\":-1}}");
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "r", NULL, "{ \"big\" }",
            "local n, s = 0, 0\n"
            "      for k, v in pairs(ev.big) do n = n + 1 if k == 'k7' then s = v end end\n"
            "      return ctx.flag{ entity = n .. '/' .. s }");
    eng_opts_t o = tu_opts();
    o.strict_fields = strict;
    o.instr_budget = 1000000000;
    eng_engine_t *e = tu_engine(&p, &o);
    double t0 = now_s();
    const eng_outcome_t *out = tu_eval_raw(e, j.data);
    double secs = now_s() - t0;
    tu_assert_no_error(out, "r");
    const eng_hit_t *h = tu_hit(out, "r");
    assert_non_null(h);
    char want[32];
    snprintf(want, sizeof want, "%d/7", n);
    assert_string_equal(tu_str(h->entity, h->entity_len), want);
    eng_engine_destroy(e);
    tu_pack_free(&p);
    wd_buf_free(&j);
    return secs;
}

/* pairs() looked each key up from the object's start to skip repeated
 * keys: 100k keys took ~40-80 s.  Now linear.  No wall-clock bound (it
 * would fail under valgrind or on a busy machine): ten times the keys must
 * cost well under the hundred times a quadratic walk would. */
static void test_pairs_over_100k_keys_is_linear_in_the_lazy_view(void **st)
{
    (void)st;
    for (int strict = 0; strict <= 1; strict++) {
        double small = pairs_secs(strict, tu_scaled(10000)), big = pairs_secs(strict, tu_scaled(100000));
        print_message("%s: pairs over 10k keys %.3f s, 100k keys %.3f s (x%.1f)\n", view_name(strict),
                      small, big, big / (small > 1e-6 ? small : 1e-6));
        if (big > 40.0 * small + 0.05)
            fail_msg("%s: 10x the keys cost %.1fx the time: not linear", view_name(strict),
                     big / (small > 1e-6 ? small : 1e-6));
    }
}

static void test_fields_of_other_rules_on_the_stream_are_not_declared_for_this_one(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "a.wide", NULL, "{ \"user\" }", "return");
    tu_rule(&p, "b.narrow", NULL, "{ \"user.id\" }", "return ctx.flag{ entity = ev.user.age }");
    eng_opts_t o = tu_opts();
    o.strict_fields = 1;
    eng_engine_t *e = tu_engine(&p, &o);
    const eng_outcome_t *out = tu_evalf(e, USER);
    tu_assert_error(out, "b.narrow", "field 'user.age' is not declared in 'fields' of rule b.narrow");
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

/* ---- limits ------------------------------------------------------------ */

static char *nested(int depth, const char *leaf)
{
    size_t n = (size_t)depth * 8 + strlen(leaf) + 64;
    char *s = malloc(n);
    assert_non_null(s);
    size_t k = 0;
    k += (size_t)snprintf(s + k, n - k, "\"a\":");
    for (int i = 1; i < depth; i++)
        k += (size_t)snprintf(s + k, n - k, "{\"a\":");
    k += (size_t)snprintf(s + k, n - k, "%s", leaf);
    for (int i = 1; i < depth; i++)
        s[k++] = '}';
    s[k] = '\0';
    return s;
}

static void test_deep_but_allowed_nesting_reads_through(void **st)
{
    (void)st;
    char *more = nested(50, "\"deep\"");
    expect_entity(BOTH, "{ \"a\" }", more,
                  "local v = ev.a\n"
                  "      while type(v) ~= 'string' do v = v.a end\n"
                  "      return ctx.flag{ entity = v }",
                  "deep");
    free(more);
}

static void test_nesting_beyond_the_limit_is_rejected(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "r", NULL, "{ \"a\" }", "return ctx.flag{ entity = 'ran' }");
    eng_engine_t *e = tu_engine(&p, NULL);
    char *more = nested(200, "1");
    char *json = NULL;
    assert_true(asprintf(&json, "{\"type\":\"s\",\"id\":\"e1\",\"ts\":1,%s}", more) > 0);
    const eng_outcome_t *o = tu_eval_raw(e, json);
    assert_int_equal(o->status, ENG_EVENT_REJECTED);
    assert_non_null(strstr(o->reject_reason, "nest"));
    assert_int_equal(o->nhits, 0);
    /* The next event is fine. */
    o = tu_evalf(e, "\"a\":1");
    assert_non_null(tu_hit(o, "r"));
    free(json);
    free(more);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_tostring_of_views_does_not_crash(void **st)
{
    (void)st;
    expect_entity(BOTH, "{ \"user\" }", USER,
                  "local s = tostring(ev) .. tostring(ev.user) .. tostring(ev.user.profile.langs)\n"
                  "      return ctx.flag{ entity = type(s) }",
                  "string");
}

static void test_many_events_through_one_engine_stay_independent(void **st)
{
    (void)st;
    for (int strict = 0; strict <= 1; strict++) {
        tu_pack_t p;
        tu_pack_init(&p);
        tu_rule(&p, "r", NULL, "{ \"user\", \"n\" }",
                "return ctx.flag{ entity = ev.user.id .. ':' .. tostring(ev.n) }");
        eng_opts_t o = tu_opts();
        o.strict_fields = strict;
        eng_engine_t *e = tu_engine(&p, &o);
        for (int i = 0; i < 200; i++) {
            const eng_outcome_t *out = i % 2 ? tu_evalf(e, "\"user\":{\"id\":\"u%d\"},\"n\":%d", i, i)
                                             : tu_evalf(e, "\"user\":{\"id\":\"u%d\"}", i);
            const eng_hit_t *h = tu_hit(out, "r");
            assert_non_null(h);
            char want[64];
            snprintf(want, sizeof want, i % 2 ? "u%d:%d" : "u%d:nil", i, i);
            assert_string_equal(tu_str(h->entity, h->entity_len), want);
        }
        eng_engine_destroy(e);
        tu_pack_free(&p);
    }
}

/* An event padded with 200,000 empty objects in a declared field (600 KB,
 * under Kafka's default message size) used to be decoded into tables for
 * every rule of its stream before any ran, outside the memory cap: every
 * rule then failed with "memory cap exceeded".  Now the padding is a lazy
 * view: a rule that does not read it gives its verdict, the VM holds no
 * more than before, and a rule that does read it pays inside its budgets. */
static void test_padding_a_declared_field_changes_no_other_verdict(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "a.id", NULL, "{ \"id\", \"pad\" }",
            "      return ctx.block{ entity = ev.id }");
    tu_rule(&p, "b.count", NULL, "{ \"pad\" }",
            "      local n = 0\n"
            "      for _, v in ipairs(ev.pad) do n = n + 1 end\n"
            "      return ctx.flag{ entity = tostring(n) .. ',' .. type(ev.pad) .. ',' .. #ev.pad }");
    const int PADS = tu_scaled(200000);
    char want_count[64];
    snprintf(want_count, sizeof want_count, "%d,table,%d", PADS, PADS);
    size_t cap = 64 + 3 * (size_t)PADS;
    char *json = malloc(cap);
    assert_non_null(json);
    size_t n = (size_t)snprintf(json, cap, "{\"type\":\"s\",\"id\":\"e1\",\"ts\":1000,\"pad\":[");
    for (int i = 0; i < PADS; i++)
        n += (size_t)snprintf(json + n, cap - n, "%s{}", i ? "," : "");
    snprintf(json + n, cap - n, "]}");
    for (int strict = 0; strict <= 1; strict++) {
        eng_opts_t o = tu_opts();
        o.strict_fields = strict;
        eng_engine_t *e = tu_engine(&p, &o);
        size_t before = wd_lua_mem_used(eng_engine_vm(e));
        const eng_outcome_t *out = tu_eval_raw(e, json);
        assert_int_equal(out->status, ENG_EVENT_OK);
        tu_assert_no_error(out, "a.id");
        const eng_hit_t *h = tu_hit(out, "a.id");
        assert_non_null(h);
        assert_int_equal(h->verdict, RULE_VERDICT_BLOCK);
        assert_string_equal(tu_str(h->entity, h->entity_len), "e1");
        tu_assert_no_error(out, "b.count");
        h = tu_hit(out, "b.count");
        assert_non_null(h);
        assert_string_equal(tu_str(h->entity, h->entity_len), want_count);
        /* What the next event meets: no decoded padding left behind. */
        out = tu_eval_raw(e, "{\"type\":\"s\",\"id\":\"e2\",\"ts\":2000,\"pad\":[]}");
        h = tu_hit(out, "b.count");
        assert_non_null(h);
        assert_string_equal(tu_str(h->entity, h->entity_len), "0,table,0");
        size_t after = wd_lua_mem_used(eng_engine_vm(e));
        if (after > before + (16u << 20))
            fail_msg("%s view: the VM grew from %zu to %zu bytes", strict ? "lazy" : "table",
                     before, after);
        eng_engine_destroy(e);
    }
    free(json);
    tu_pack_free(&p);
}

/* The same padding through an array-transparent path: with `pad.x`
 * declared the table view built a table per element of pad before any rule
 * ran (200,000 of them, outside the memory cap).  The array is a lazy view
 * now: elements are built when a rule reads them, once per event. */
static void test_padding_an_array_on_a_declared_path_changes_no_other_verdict(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "a.id", NULL, "{ \"id\", \"pad.x\" }",
            "      return ctx.block{ entity = ev.id }");
    tu_rule(&p, "b.len", NULL, "{ \"pad.x\" }",
            "      local n = 0\n"
            "      for i, v in pairs(ev.pad) do if i > 3 then break end n = n + (v.x or 0) end\n"
            "      return ctx.flag{ entity = #ev.pad .. ',' .. type(ev.pad) .. ',' .. tostring(ev.pad[2].x)\n"
            "        .. ',' .. tostring(ev.pad[1] == ev.pad[1]) .. ',' .. n .. ',' .. tostring(ev.pad[0]) }");
    const int PADS = tu_scaled(200000);
    char want_len[64];
    snprintf(want_len, sizeof want_len, "%d,table,2,true,3,nil", PADS);
    size_t cap = 64 + 3 * (size_t)PADS;
    char *json = malloc(cap);
    assert_non_null(json);
    size_t n = (size_t)snprintf(json, cap,
                                "{\"type\":\"s\",\"id\":\"e1\",\"ts\":1000,\"pad\":[{\"x\":1},{\"x\":2}");
    for (int i = 2; i < PADS; i++)
        n += (size_t)snprintf(json + n, cap - n, ",{}");
    snprintf(json + n, cap - n, "]}");
    for (int strict = 0; strict <= 1; strict++) {
        eng_opts_t o = tu_opts();
        o.strict_fields = strict;
        eng_engine_t *e = tu_engine(&p, &o);
        size_t before = wd_lua_mem_used(eng_engine_vm(e));
        const eng_outcome_t *out = tu_eval_raw(e, json);
        assert_int_equal(out->status, ENG_EVENT_OK);
        tu_assert_no_error(out, "a.id");
        const eng_hit_t *h = tu_hit(out, "a.id");
        assert_non_null(h);
        assert_string_equal(tu_str(h->entity, h->entity_len), "e1");
        tu_assert_no_error(out, "b.len");
        h = tu_hit(out, "b.len");
        assert_non_null(h);
        assert_string_equal(tu_str(h->entity, h->entity_len), want_len);
        size_t after = wd_lua_mem_used(eng_engine_vm(e));
        if (after > before + (4u << 20))
            fail_msg("%s view: the VM grew from %zu to %zu bytes", strict ? "lazy" : "table",
                     before, after);
        eng_engine_destroy(e);
    }
    free(json);
    tu_pack_free(&p);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nested_objects_read_through),
        cmocka_unit_test(test_arrays_have_length_index_and_ipairs),
        cmocka_unit_test(test_arrays_of_objects_and_nested_arrays),
        cmocka_unit_test(test_array_with_nulls),
        cmocka_unit_test(test_array_length_counts_trailing_nulls_in_both_views),
        cmocka_unit_test(test_arrays_index_by_integral_floats_like_tables),
        cmocka_unit_test(test_pairs_skips_null_members_and_repeated_keys),
        cmocka_unit_test(test_pairs_over_objects_and_arrays),
        cmocka_unit_test(test_both_views_agree),
        cmocka_unit_test(test_duplicate_keys_first_wins),
        cmocka_unit_test(test_non_string_keys_read_nil),
        cmocka_unit_test(test_integers_and_floats_keep_their_types),
        cmocka_unit_test(test_integers_beyond_int64_read_as_their_exact_digits),
        cmocka_unit_test(test_booleans),
        cmocka_unit_test(test_unicode_strings_are_utf8),
        cmocka_unit_test(test_strings_keep_nul_bytes),
        cmocka_unit_test(test_escaped_strings_are_unescaped),
        cmocka_unit_test(test_null_and_missing_read_nil),
        cmocka_unit_test(test_a_missing_parent_reads_nil_not_an_error),
        cmocka_unit_test(test_a_declared_object_that_is_a_scalar_reads_as_the_scalar),
        cmocka_unit_test(test_assignment_to_ev_raises_read_only),
        cmocka_unit_test(test_assignment_to_a_nested_object_raises_read_only),
        cmocka_unit_test(test_a_failed_assignment_changes_nothing_for_the_next_rule),
        cmocka_unit_test(test_ev_kept_in_an_upvalue_is_expired_in_the_lazy_view),
        cmocka_unit_test(test_ev_kept_in_an_upvalue_never_shows_the_old_event_in_the_table_view),
        cmocka_unit_test(test_an_iterator_kept_past_its_event_is_expired),
        cmocka_unit_test(test_strict_mode_errors_on_undeclared_reads),
        cmocka_unit_test(test_strict_mode_error_names_the_rule_line),
        cmocka_unit_test(test_a_declared_parent_makes_its_children_readable),
        cmocka_unit_test(test_a_declared_child_makes_its_parent_readable_but_not_its_siblings),
        cmocka_unit_test(test_undeclared_fields_read_nil_in_the_table_view),
        cmocka_unit_test(test_pairs_in_strict_mode_shows_declared_fields_only),
        cmocka_unit_test(test_arrays_are_transparent_to_declared_paths),
        cmocka_unit_test(test_arrays_are_transparent_to_declared_paths_in_the_table_view),
        cmocka_unit_test(test_pairs_over_100k_keys_is_linear_in_the_lazy_view),
        cmocka_unit_test(test_fields_of_other_rules_on_the_stream_are_not_declared_for_this_one),
        cmocka_unit_test(test_deep_but_allowed_nesting_reads_through),
        cmocka_unit_test(test_nesting_beyond_the_limit_is_rejected),
        cmocka_unit_test(test_tostring_of_views_does_not_crash),
        cmocka_unit_test(test_many_events_through_one_engine_stay_independent),
        cmocka_unit_test(test_padding_a_declared_field_changes_no_other_verdict),
        cmocka_unit_test(test_padding_an_array_on_a_declared_path_changes_no_other_verdict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
