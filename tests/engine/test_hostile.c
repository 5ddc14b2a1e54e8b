/* tests/engine/test_hostile.c — events and rules written to break the
 * engine: NUL bytes inside stream names, object keys, ids, labels, counter
 * and list names, verdict keys and test expectations.  Every name is
 * compared by length: a NUL never truncates, merges or over-reads. */
#include <lauxlib.h>

#include "base/wd_buf.h"
#include "engine/eng_test.h"
#include "rules/rule_types.h"
#include "rules/rule_pack.h"
#include "tests/rules/testutil.h"

/* Evaluates json[0..len) (it may hold NUL bytes: no strlen). */
static const eng_outcome_t *eval_n(eng_engine_t *e, const char *json, size_t len)
{
    const eng_outcome_t *o = NULL;
    eng_src_t src = { .topic = NULL, .msg_ts_ms = INT64_MIN, .file = "events.jsonl", .line = 1 };
    assert_int_equal(eng_engine_eval(e, NULL, json, len, &src, &o), 0);
    assert_non_null(o);
    return o;
}

static void done(tu_pack_t *p, eng_engine_t *e)
{
    eng_engine_destroy(e);
    tu_pack_free(p);
}

/* An event {"type":"s\u0000xxx…","id":"e1","ts":1000} with n x's. */
static char *nul_stream_event(size_t n, size_t *len)
{
    const char *head = "{\"type\":\"s\\u0000", *tail = "\",\"id\":\"e1\",\"ts\":1000}";
    size_t hl = strlen(head), tl = strlen(tail);
    char *b = malloc(hl + n + tl + 1);
    assert_non_null(b);
    memcpy(b, head, hl);
    memset(b + hl, 'x', n);
    memcpy(b + hl + n, tail, tl + 1);
    *len = hl + n + tl;
    return b;
}

/* ---- routing --------------------------------------------------------------- */

/* "s\0…" is not stream "s": it used to pass strncmp and then read
 * name[slen], hundreds of KB past the heap string (SIGSEGV). */
static void test_nul_in_stream_routes_nowhere_and_reads_nothing_past_names(void **st)
{
    (void)st;
    size_t sizes[] = { 0, 1, 7, 300000 };
    for (int strict = 0; strict < 2; strict++) {
        tu_pack_t p;
        tu_pack_init(&p);
        tu_rule(&p, "r", NULL, NULL, "return ctx.flag{ entity = 'hit' }");
        eng_opts_t o = tu_opts();
        o.strict_fields = strict;
        eng_engine_t *e = tu_engine(&p, &o);
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            size_t len;
            char *ev = nul_stream_event(sizes[i], &len);
            const eng_outcome_t *out = eval_n(e, ev, len);
            assert_int_equal(out->status, ENG_EVENT_UNROUTED);
            assert_int_equal(out->nhits, 0);
            assert_int_equal(strncmp(out->stream, "s\\x00", 5), 0);   /* not "s" */
            free(ev);
        }
        /* The plain stream still routes. */
        assert_int_equal(tu_evalf(e, "%s", "")->nhits, 1);
        done(&p, e);
    }
}

static void test_pack_stream_index_compares_by_length(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "r", NULL, NULL, "return nil");
    eng_engine_t *e = tu_engine(&p, NULL);
    rule_t *const *rules;
    assert_int_equal(rule_pack_stream_rules(eng_engine_pack(e), "s", 1, &rules), 1);
    assert_int_equal(rule_pack_stream_rules(eng_engine_pack(e), "s\0", 2, &rules), 0);
    char *big = calloc(1, 200000);
    assert_non_null(big);
    big[0] = 's';
    assert_int_equal(rule_pack_stream_rules(eng_engine_pack(e), big, 200000, &rules), 0);
    free(big);
    done(&p, e);
}

/* ---- object keys ------------------------------------------------------------ */

/* In the checking view, "user\0…" is an undeclared field, not "user"
 * (rule_field_child used to over-read the declared name). */
static void test_nul_in_key_is_not_the_declared_field_in_the_checking_view(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "r", NULL, "{ \"user\" }",
            "return ctx.flag{ entity = tostring(ev['user\\0' .. string.rep('x', 300000)]) }");
    tu_rule(&p, "walk", NULL, "{ \"user\" }",
            "local n = 0\n"
            "for k in pairs(ev) do n = n + 1 end\n"
            "return ctx.flag{ entity = tostring(n) }");
    eng_opts_t o = tu_opts();
    o.strict_fields = 1;
    eng_engine_t *e = tu_engine(&p, &o);
    const eng_outcome_t *out = tu_evalf(e, "\"user\":{\"id\":\"u1\"},\"user\\u0000x\":1");
    tu_assert_error(out, "r", "is not declared in 'fields' of rule r");
    tu_assert_error(out, "r", "user\\x00xxx");
    /* type, id, ts and user: the NUL key is as undeclared as any other. */
    const eng_hit_t *h = tu_hit(out, "walk");
    assert_non_null(h);
    assert_string_equal(tu_str(h->entity, h->entity_len), "1");
    done(&p, e);
}

/* ---- ids ---------------------------------------------------------------------- */

static void test_event_id_with_a_nul_is_rejected(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "r", NULL, NULL, "return ctx.flag{ entity = 'x' }");
    eng_engine_t *e = tu_engine(&p, NULL);
    const char *ev = "{\"type\":\"s\",\"id\":\"e1\\u0000a\",\"ts\":1000}";
    const eng_outcome_t *out = tu_eval_raw(e, ev);
    assert_int_equal(out->status, ENG_EVENT_REJECTED);
    assert_non_null(strstr(out->reject_reason, "contains a NUL byte"));
    assert_string_equal(out->event_id, "events.jsonl:1");
    done(&p, e);
}

/* ---- labels, counters, lists ------------------------------------------------ */

static void test_label_with_a_nul_is_its_own_label(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "a_set", NULL, "{ \"n\" }",
            "if ev.n == 1 then ctx.label('u1', 'a\\0b', '1h') end");
    tu_rule(&p, "b_read", NULL, NULL,
            "return ctx.flag{ entity = (ctx.has_label('u1', 'a') and 'a' or '-') ..\n"
            "  (ctx.has_label('u1', 'a\\0b') and 'ab' or '-') .. (ctx.has_label('u1', 'a\\0c') and 'ac' or '-') }");
    eng_engine_t *e = tu_engine(&p, NULL);
    tu_evalf(e, "\"n\":1");
    const eng_outcome_t *out = tu_evalf(e, "\"n\":2");
    tu_assert_no_error(out, "b_read");
    const eng_hit_t *h = tu_hit(out, "b_read");
    assert_non_null(h);
    assert_string_equal(tu_str(h->entity, h->entity_len), "-ab-");
    done(&p, e);
}

static void test_counter_list_and_window_names_with_a_nul_match_nothing(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_write(&p, "counters.lua",
             "return { { name = 'c', stream = 's', key = 'k', windows = { '1h' } } }\n");
    tu_write(&p, "lists/l.txt", "v\n");
    tu_rule(&p, "cnt", NULL, "{ \"k\" }", "local name = 'c\\0x'\nreturn ctx.flag{ entity = tostring(ctx.count(name, ev.k, '1h')) }");
    tu_rule(&p, "win", NULL, "{ \"k\" }", "local w = '1h\\0x'\nreturn ctx.flag{ entity = tostring(ctx.count('c', ev.k, w)) }");
    tu_rule(&p, "lst", NULL, NULL, "local l = 'l\\0x'\nreturn ctx.flag{ entity = tostring(ctx.in_list(l, 'v')) }");
    tu_rule(&p, "ok", NULL, "{ \"k\" }",
            "return ctx.flag{ entity = ctx.count('c', ev.k, '1h') .. tostring(ctx.in_list('l', 'v')) }");
    eng_engine_t *e = tu_engine(&p, NULL);
    const eng_outcome_t *out = tu_evalf(e, "\"k\":\"u\"");
    tu_assert_error(out, "cnt", "counter 'c\\x00x' is not declared");
    tu_assert_error(out, "win", "window \"1h\\x00x\" is not declared by counter 'c'");
    tu_assert_error(out, "lst", "no list 'l\\x00x'");
    const eng_hit_t *h = tu_hit(out, "ok");
    assert_non_null(h);
    assert_string_equal(tu_str(h->entity, h->entity_len), "1true");
    done(&p, e);
}

static void test_verdict_key_and_ttl_with_a_nul_are_refused(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "key", NULL, NULL, "return ctx.flag{ entity = 'x', ['reason\\0x'] = 'r' }");
    tu_rule(&p, "ttl", NULL, NULL, "return ctx.block{ entity = 'x', ttl = '1h\\0x' }");
    tu_rule(&p, "lttl", NULL, NULL, "ctx.label('x', 'l', '1h\\0x')");
    eng_engine_t *e = tu_engine(&p, NULL);
    const eng_outcome_t *out = tu_evalf(e, "%s", "");
    tu_assert_error(out, "key", "unknown field 'reason\\x00x'");
    tu_assert_error(out, "ttl", "'ttl' must be a duration");
    tu_assert_error(out, "lttl", "ttl must be a duration");
    assert_int_equal(out->nhits, 0);
    done(&p, e);
}

/* ---- the rule table ------------------------------------------------------------ */

static void test_rule_names_and_modes_with_a_nul_are_load_errors(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_write(&p, "a.lua",
             "return { name = 'a\\0evil', version = 1, streams = { 's' }, mode = 'enforce',\n"
             "  evaluate = function() end }\n");
    tu_write(&p, "b.lua",
             "return { name = 'b', version = 1, streams = { 's\\0x' }, mode = 'enforce\\0x',\n"
             "  ['evaluate\\0'] = 1, evaluate = function() end }\n");
    tu_write(&p, "c.lua",
             "return { name = 'c', version = 1, streams = { 's' }, mode = 'enforce',\n"
             "  fields = { 'user\\0x' }, evaluate = function() end }\n");
    const char *err = tu_load_err(&p);
    assert_non_null(strstr(err, "a.lua:1: name \"a\" has characters outside"));
    assert_non_null(strstr(err, "b.lua:1: 'streams' entry 1: invalid stream name"));
    assert_non_null(strstr(err, "b.lua:1: mode \"enforce\" (with a NUL byte)"));
    assert_non_null(strstr(err, "unknown key 'evaluate' (with a NUL byte)"));
    assert_non_null(strstr(err, "c.lua:2: 'fields' entry 1: invalid field path"));
    tu_pack_free(&p);
}

/* ---- warden test --------------------------------------------------------------- */

/* Runs rule r's tests in a fresh strict engine; returns the failed count. */
static int run_tests_of(const tu_pack_t *p, const char *rule)
{
    eng_opts_t o = tu_opts();
    o.strict_fields = 1;
    o.run_off_rules = 1;
    eng_engine_t *e = tu_engine(p, &o);
    rule_t *const *rules;
    size_t n = rule_pack_rules(eng_engine_pack(e), &rules);
    eng_test_totals_t t = { 0 };
    for (size_t i = 0; i < n; i++)
        if (strcmp(rules[i]->name, rule) == 0)
            eng_test_rule(e, &o, rules[i], &t);
    eng_engine_destroy(e);
    assert_int_equal(t.cases, 1);
    return t.failed;
}

static void test_expectations_compare_entity_and_reason_by_length(void **st)
{
    (void)st;
    static const char *const cases[][3] = {
        /* entity, reason expected, failures wanted */
        { "a\\0REAL", "r\\0REAL", "0" },
        { "a\\0WRONG", "r\\0REAL", "1" },
        { "a\\0REAL", "r\\0WRONG", "1" },
        { "a", "r\\0REAL", "1" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tu_pack_t p;
        tu_pack_init(&p);
        char src[1024];
        snprintf(src, sizeof src,
                 "return { name = 'r', version = 1, streams = { 's' }, mode = 'enforce',\n"
                 "  evaluate = function(ev, ctx) return ctx.block{ entity = 'a\\0REAL', reason = 'r\\0REAL' } end,\n"
                 "  tests = { { name = 't', events = { {} },\n"
                 "              expect = { { verdict = 'block', entity = '%s', reason = '%s' } } } } }\n",
                 cases[i][0], cases[i][1]);
        tu_write(&p, "r.lua", src);
        int failed = run_tests_of(&p, "r");
        if (failed != atoi(cases[i][2]))
            fail_msg("expect entity=%s reason=%s: %d failures, want %s", cases[i][0], cases[i][1],
                     failed, cases[i][2]);
        tu_pack_free(&p);
    }
}

/* Test events keep keys with a NUL whole: {['k\0a'] = 1, ['k\0b'] = 2} is
 * two fields, not field "k" written twice. */
static void test_test_event_keys_keep_their_nul_bytes(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_write(&p, "r.lua",
             "return { name = 'r', version = 1, streams = { 's' }, mode = 'enforce', fields = { 'k' },\n"
             "  evaluate = function(ev, ctx) return ctx.flag{ entity = tostring(ev.k) } end,\n"
             "  tests = { { name = 't', events = { { ['k\\0a'] = 1, ['k\\0b'] = 2 } },\n"
             "              expect = { { entity = 'nil' } } } } }\n");
    assert_int_equal(run_tests_of(&p, "r"), 0);
    tu_pack_free(&p);
}

/* A verdict or mode expected with a NUL is not the plain word. */
static void test_expected_verdict_with_a_nul_is_a_load_error(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_write(&p, "r.lua",
             "return { name = 'r', version = 1, streams = { 's' }, mode = 'enforce',\n"
             "  evaluate = function(ev, ctx) return ctx.block{ entity = 'a' } end,\n"
             "  tests = { { name = 't', events = { {} }, expect = { { verdict = 'block\\0x' } } } } }\n");
    const char *err = tu_load_err(&p);
    assert_non_null(strstr(err, "verdict \"block\" is not block, review or flag"));
    tu_pack_free(&p);
}

/* ---- integers beyond int64 ------------------------------------------------ */

/* Ids 10000000000000000001 and ...002 are two users, two counter keys,
 * two entities and two event ids: as doubles (%.14g) they were one. */
static void test_big_integer_ids_keep_their_digits_in_keys_entities_and_ids(void **st)
{
    (void)st;
    for (int strict = 0; strict < 2; strict++) {
        tu_pack_t p;
        tu_pack_init(&p);
        tu_write(&p, "counters.lua",
                 "return { { name = 'c', stream = 's', key = 'user.id', windows = { '1h' } } }\n");
        tu_rule(&p, "r", NULL, "{ \"user.id\" }",
                "return ctx.flag{ entity = ev.user.id, reason = tostring(ctx.count('c', ev.user.id, '1h')) }");
        eng_opts_t o = tu_opts();
        o.strict_fields = strict;
        eng_engine_t *e = tu_engine(&p, &o);
        const char *evs[] = {
            "{\"type\":\"s\",\"id\":20000000000000000001,\"ts\":1000,\"user\":{\"id\":10000000000000000001}}",
            "{\"type\":\"s\",\"id\":20000000000000000002,\"ts\":1001,\"user\":{\"id\":10000000000000000002}}",
            "{\"type\":\"s\",\"id\":18446744073709551615,\"ts\":1002,\"user\":{\"id\":10000000000000000001}}",
        };
        const char *want[][3] = {
            { "20000000000000000001", "10000000000000000001", "1" },
            { "20000000000000000002", "10000000000000000002", "1" },
            { "18446744073709551615", "10000000000000000001", "2" },
        };
        for (int i = 0; i < 3; i++) {
            const eng_outcome_t *out = tu_eval_raw(e, evs[i]);
            assert_int_equal(out->status, ENG_EVENT_OK);
            tu_assert_no_error(out, "r");
            const eng_hit_t *h = tu_hit(out, "r");
            assert_non_null(h);
            assert_string_equal(out->event_id, want[i][0]);
            assert_string_equal(tu_str(h->entity, h->entity_len), want[i][1]);
            assert_string_equal(tu_str(h->reason, h->reason_len), want[i][2]);
        }
        done(&p, e);
    }
}

/* ---- entities and reasons ------------------------------------------------ */

static void test_entity_must_be_finite_valid_utf8_and_within_the_limit(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "nan", NULL, NULL, "return ctx.flag{ entity = 0/0 }");
    tu_rule(&p, "inf", NULL, NULL, "return ctx.flag{ entity = -1/0 }");
    tu_rule(&p, "utf8", NULL, NULL, "return ctx.flag{ entity = 'ab' .. string.char(0xff) }");
    tu_rule(&p, "cut", NULL, NULL, "return ctx.flag{ entity = ('\\u{e9}'):rep(3):sub(1, 5) }");
    tu_rule(&p, "long", NULL, NULL, "return ctx.flag{ entity = ('x'):rep(1025) }");
    tu_rule(&p, "max", NULL, NULL, "return ctx.flag{ entity = ('x'):rep(1024) }");
    tu_rule(&p, "keynan", NULL, NULL, "return ctx.flag{ entity = tostring(ctx.has_label(0/0, 'l')) }");
    tu_rule(&p, "num", NULL, NULL, "return ctx.flag{ entity = 2.5 }");
    eng_engine_t *e = tu_engine(&p, NULL);
    const eng_outcome_t *out = tu_evalf(e, "%s", "");
    tu_assert_error(out, "nan", "'entity' must be a finite number");
    tu_assert_error(out, "inf", "'entity' must be a finite number");
    tu_assert_error(out, "utf8", "'entity' is not valid UTF-8 (byte 3)");
    tu_assert_error(out, "cut", "'entity' is not valid UTF-8 (byte 5)");
    tu_assert_error(out, "long", "'entity' is 1025 bytes, longer than 1024");
    tu_assert_error(out, "keynan", "ctx.has_label: entity must be a finite number");
    tu_assert_no_error(out, "max");
    tu_assert_no_error(out, "num");
    assert_int_equal(out->nhits, 2);
    assert_int_equal(tu_hit(out, "max")->entity_len, 1024);
    assert_string_equal(tu_str(tu_hit(out, "num")->entity, tu_hit(out, "num")->entity_len), "2.5");
    done(&p, e);
}

/* A reason over the limit is cut at a UTF-8 boundary and marked. */
static void test_long_reason_is_cut_at_a_utf8_boundary_with_a_marker(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "r", NULL, NULL, "return ctx.flag{ entity = 'u', reason = 'a' .. ('\\u{20ac}'):rep(3000) }");
    tu_rule(&p, "s", NULL, NULL, "return ctx.flag{ entity = 'u', reason = ('x'):rep(4096) }");
    eng_engine_t *e = tu_engine(&p, NULL);
    const eng_outcome_t *out = tu_evalf(e, "%s", "");
    const eng_hit_t *h = tu_hit(out, "r");
    assert_non_null(h);
    size_t ml = strlen(RULE_TRUNCATED);
    assert_true(h->reason_len <= RULE_MAX_REASON_LEN);
    assert_true(h->reason_len > RULE_MAX_REASON_LEN - ml - 3);
    assert_memory_equal(h->reason + h->reason_len - ml, RULE_TRUNCATED, ml);
    assert_int_equal(wd_utf8_valid_prefix(h->reason, h->reason_len), h->reason_len);
    assert_int_equal((h->reason_len - ml - 1) % 3, 0);   /* 'a' and whole euro signs */
    h = tu_hit(out, "s");
    assert_int_equal(h->reason_len, 4096);   /* at the limit: whole */
    assert_int_equal(h->reason[4095], 'x');
    done(&p, e);
}

/* ---- deterministic answers ------------------------------------------------ */

/* The hit entity of rule on one event evaluated by a fresh engine over p. */
static void entity_of(const tu_pack_t *p, int strict, const char *rule, const char *json,
                      char *out, size_t outn)
{
    eng_opts_t o = tu_opts();
    o.strict_fields = strict;
    eng_engine_t *e = tu_engine(p, &o);
    const eng_outcome_t *r = tu_eval_raw(e, json);
    assert_int_equal(r->status, ENG_EVENT_OK);
    tu_assert_no_error(r, rule);
    const eng_hit_t *h = tu_hit(r, rule);
    assert_non_null(h);
    snprintf(out, outn, "%.*s", (int)h->entity_len, h->entity);
    eng_engine_destroy(e);
}

#define SCRAMBLED "{\"q\":1,\"w\":2,\"e\":3,\"r\":4,\"t\":5,\"y\":6,\"u\":7,\"i\":8,\"o\":9," \
                  "\"p\":10,\"a\":11,\"s\":12,\"d\":13,\"f\":null,\"g\":15,\"h\":16,\"j\":{\"z\":1,\"b\":2}," \
                  "\"k\":18,\"l\":19,\"z\":20,\"x\":21,\"c\":22,\"v\":23,\"b\":24,\"n\":25,\"m\":26,\"q\":99}"

/* pairs over the event walks members in document order in both views
 * (nulls and later duplicates skipped, undeclared members invisible); the
 * table view used to follow Lua's hash order, seeded per process. */
static void test_pairs_over_the_event_follows_document_order_in_both_views(void **st)
{
    (void)st;
    static const char *const fields[] = {
        "{ \"user\" }",
        "{ \"user.m\", \"user.a\", \"user.z\", \"user.j\", \"user.f\", \"user.q\" }",
    };
    static const char *const want[] = {
        "q=1 w=2 e=3 r=4 t=5 y=6 u=7 i=8 o=9 p=10 a=11 s=12 d=13 g=15 h=16 j=(z=1 b=2) k=18 "
        "l=19 z=20 x=21 c=22 v=23 b=24 n=25 m=26 | user",
        "q=1 a=11 j=(z=1 b=2) z=20 m=26 | user",
    };
    const char *body =
        "local function show(t)\n"
        "  local out = {}\n"
        "  for k, v in pairs(t) do\n"
        "    out[#out + 1] = k .. '=' .. (type(v) == 'table' and '(' .. show(v) .. ')' or tostring(v))\n"
        "  end\n"
        "  return table.concat(out, ' ')\n"
        "end\n"
        "local top = {}\n"
        "for k in pairs(ev) do top[#top + 1] = k end\n"
        "return ctx.flag{ entity = show(ev.user) .. ' | ' .. table.concat(top, ' ') }";
    char json[1024];
    snprintf(json, sizeof json, "{\"type\":\"s\",\"id\":\"e1\",\"ts\":1000,\"user\":%s}", SCRAMBLED);
    for (int f = 0; f < 2; f++) {
        tu_pack_t p;
        tu_pack_init(&p);
        tu_rule(&p, "r", NULL, fields[f], body);
        for (int strict = 0; strict < 2; strict++) {
            char got[1024];
            entity_of(&p, strict, "r", json, got, sizeof got);
            if (strcmp(got, want[f]) != 0)
                fail_msg("fields %s, %s view:\n got  %s\n want %s", fields[f],
                         strict ? "checking" : "table", got, want[f]);
        }
        tu_pack_free(&p);
    }
}

/* A `user` table kept from an earlier event cannot be walked later. */
static void test_pairs_over_a_kept_table_view_is_an_error(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "r", NULL, "{ \"user\" }",
            "if kept == nil then kept = ev.user return end\n"
            "for k in pairs(kept) do end");
    eng_engine_t *e = tu_engine(&p, NULL);
    tu_assert_no_error(tu_evalf(e, "\"user\":{\"a\":1}"), "r");
    tu_assert_error(tu_evalf(e, "\"user\":{\"a\":1}"), "r", "event expired");
    done(&p, e);
}

#define RANDOM_BODY                                                                          \
    "local t = {}\n"                                                                          \
    "for i = 1, 4 do t[#t + 1] = math.random(1, 1000000000) end\n"                           \
    "t[#t + 1] = math.random(0)\n"                                                           \
    "t[#t + 1] = string.format('%.17g', math.random())\n"                                    \
    "return ctx.flag{ entity = table.concat(t, ',') }"

/* math.random gives the same numbers to the same rule on the same event:
 * in two engines (two lua_States, which Lua seeds apart), on a second
 * evaluation, in both views, and whatever another rule's randomseed does. */
static void test_math_random_is_a_function_of_rule_and_event(void **st)
{
    (void)st;
    const char *ev1 = "{\"type\":\"s\",\"id\":\"e1\",\"ts\":1000}";
    const char *ev2 = "{\"type\":\"s\",\"id\":\"e2\",\"ts\":1000}";
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "b", NULL, NULL, RANDOM_BODY);
    char a1[256], a2[256], a3[256], other[256];
    entity_of(&p, 0, "b", ev1, a1, sizeof a1);
    entity_of(&p, 0, "b", ev1, a2, sizeof a2);
    entity_of(&p, 1, "b", ev1, a3, sizeof a3);
    entity_of(&p, 0, "b", ev2, other, sizeof other);
    assert_string_equal(a1, a2);
    assert_string_equal(a1, a3);
    assert_string_not_equal(a1, other);
    /* A rule reseeding before b does not move b's numbers. */
    tu_rule(&p, "a", NULL, NULL, "math.randomseed(42)\nlocal x = math.random(10)");
    char seeded[256];
    entity_of(&p, 0, "b", ev1, seeded, sizeof seeded);
    assert_string_equal(a1, seeded);
    /* The same engine, the same event twice: the same numbers. */
    eng_engine_t *e = tu_engine(&p, NULL);
    const eng_outcome_t *o = tu_eval_raw(e, ev1);
    char first[256];
    snprintf(first, sizeof first, "%.*s", (int)tu_hit(o, "b")->entity_len, tu_hit(o, "b")->entity);
    tu_eval_raw(e, ev2);
    o = tu_eval_raw(e, ev1);
    assert_string_equal(first, tu_str(tu_hit(o, "b")->entity, tu_hit(o, "b")->entity_len));
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_math_random_ranges_and_randomseed_within_a_rule(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "r", NULL, NULL,
            "for i = 1, 2000 do\n"
            "  local a, b, c, f = math.random(3), math.random(-2, 2), math.random(5, 5), math.random()\n"
            "  assert(a >= 1 and a <= 3 and b >= -2 and b <= 2 and c == 5 and f >= 0 and f < 1)\n"
            "  assert(math.type(a) == 'integer' and math.type(f) == 'float')\n"
            "end\n"
            "local x = math.random(math.mininteger, math.maxinteger)\n"
            "math.randomseed(7)\n"
            "local s1 = math.random(1000000)\n"
            "math.randomseed(7)\n"
            "assert(math.random(1000000) == s1)\n"
            "math.randomseed()\n"
            "local back = math.random(1, 1000000000)\n"
            "math.randomseed()\n"
            "assert(math.random(1, 1000000000) == back)\n"
            "local ok, err = pcall(math.random, 3, 1)\n"
            "assert(not ok and err:find('interval is empty'))\n"
            "return ctx.flag{ entity = 'ok' }");
    eng_engine_t *e = tu_engine(&p, NULL);
    const eng_outcome_t *o = tu_evalf(e, "%s", "");
    tu_assert_no_error(o, "r");
    assert_non_null(tu_hit(o, "r"));
    done(&p, e);
}

/* pairs over a table the rule built: numbers ascending, strings bytewise,
 * false, true, whatever the insertion order and the process's hash seed;
 * a value set to nil in the loop is skipped, as with next. */
static void test_pairs_over_a_rules_own_table_has_a_fixed_order(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "r", NULL, NULL,
            "local t = {}\n"
            "for _, k in ipairs({ 'q', 'w', 'e', 'r', 't', 'y', 'u', 'i', 'o', 'p', 'a', 's', 'd',\n"
            "                     'f', 'g', 'h', 'j', 'k', 'l', 'z', 'x', 'c', 'v', 'b', 'n', 'm',\n"
            "                     'ab', 'a\\0', 'B' }) do t[k] = 1 end\n"
            "t[3] = 1; t[-1] = 1; t[1] = 1; t[2.5] = 1; t[true] = 1; t[false] = 1; t[2] = 1\n"
            "local out = {}\n"
            "for k in pairs(t) do\n"
            "  out[#out + 1] = tostring(k):gsub('%z', '0')\n"
            "  if k == 'm' then t.n = nil end\n"
            "end\n"
            "return ctx.flag{ entity = table.concat(out, ' ') }");
    char got[512];
    entity_of(&p, 0, "r", "{\"type\":\"s\",\"id\":\"e1\",\"ts\":1000}", got, sizeof got);
    assert_string_equal(got, "-1 1 2 2.5 3 B a a0 ab b c d e f g h i j k l m o p q r s t u v w x y z "
                             "false true");
    tu_pack_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nul_in_stream_routes_nowhere_and_reads_nothing_past_names),
        cmocka_unit_test(test_pack_stream_index_compares_by_length),
        cmocka_unit_test(test_nul_in_key_is_not_the_declared_field_in_the_checking_view),
        cmocka_unit_test(test_event_id_with_a_nul_is_rejected),
        cmocka_unit_test(test_label_with_a_nul_is_its_own_label),
        cmocka_unit_test(test_counter_list_and_window_names_with_a_nul_match_nothing),
        cmocka_unit_test(test_verdict_key_and_ttl_with_a_nul_are_refused),
        cmocka_unit_test(test_rule_names_and_modes_with_a_nul_are_load_errors),
        cmocka_unit_test(test_expectations_compare_entity_and_reason_by_length),
        cmocka_unit_test(test_test_event_keys_keep_their_nul_bytes),
        cmocka_unit_test(test_expected_verdict_with_a_nul_is_a_load_error),
        cmocka_unit_test(test_big_integer_ids_keep_their_digits_in_keys_entities_and_ids),
        cmocka_unit_test(test_entity_must_be_finite_valid_utf8_and_within_the_limit),
        cmocka_unit_test(test_long_reason_is_cut_at_a_utf8_boundary_with_a_marker),
        cmocka_unit_test(test_pairs_over_the_event_follows_document_order_in_both_views),
        cmocka_unit_test(test_pairs_over_a_kept_table_view_is_an_error),
        cmocka_unit_test(test_math_random_is_a_function_of_rule_and_event),
        cmocka_unit_test(test_math_random_ranges_and_randomseed_within_a_rule),
        cmocka_unit_test(test_pairs_over_a_rules_own_table_has_a_fixed_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
