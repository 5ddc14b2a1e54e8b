/* tests/rules/test_trace.c — the trace recorder of warden explain
 * (rules/rule_trace.h) through a real engine: what it records of `ev`
 * reads and ctx calls, that a traced evaluation answers exactly as an
 * untraced one, and that nothing is recorded while no trace is attached. */
#include "tests/rules/testutil.h"

#include "base/wd_buf.h"
#include "rules/rule_trace.h"

/* The entry of call `call` (a rule name) with this kind and name, or NULL. */
static const rule_trace_entry_t *find(const rule_trace_t *t, const char *rule, int kind, const char *name)
{
    const rule_trace_call_t *calls;
    size_t n = rule_trace_calls(t, &calls);
    for (size_t c = 0; c < n; c++) {
        if (strcmp(calls[c].rule, rule) != 0)
            continue;
        for (size_t i = calls[c].first; i < calls[c].first + calls[c].n; i++) {
            const rule_trace_entry_t *e = rule_trace_entry(t, i);
            if (e->kind == kind && strcmp(e->name, name) == 0)
                return e;
        }
    }
    return NULL;
}

static const rule_trace_call_t *call_of(const rule_trace_t *t, const char *rule)
{
    const rule_trace_call_t *calls;
    size_t n = rule_trace_calls(t, &calls);
    for (size_t c = 0; c < n; c++)
        if (strcmp(calls[c].rule, rule) == 0)
            return &calls[c];
    return NULL;
}

static void write_counters(tu_pack_t *p)
{
    tu_write(p, "counters.lua",
             "return {\n"
             "  { name = \"by_user\", stream = \"s\", key = \"user.id\", windows = { \"1h\" } },\n"
             "  { name = \"ips\", stream = \"s\", key = \"user.id\", distinct = \"ip\", windows = { \"1h\" } },\n"
             "}\n");
    tu_write(p, "lists/bad.txt", "evil\n");
}

static void test_trace_records_fields_counts_labels_and_lists(void **state)
{
    (void)state;
    tu_pack_t p;
    tu_pack_init(&p);
    write_counters(&p);
    tu_rule(&p, "a", NULL, "{ \"user.id\", \"user.age\", \"user.vip\", \"score\", \"ip\", \"nope\", \"tags\" }",
            "    local n = ctx.count(\"by_user\", ev.user.id, \"1h\")\n"
            "    local d = ctx.distinct(\"ips\", ev.user.id, \"1h\")\n"
            "    local _ = ev.user.age, ev.user.vip, ev.score, ev.nope, #ev.tags, ev.tags[2]\n"
            "    local seen = ctx.has_label(ev.user.id, \"watch\")\n"
            "    ctx.label(ev.user.id, \"watch\", \"30m\")\n"
            "    local bad = ctx.in_list(\"bad\", ev.ip)\n"
            "    if n >= 2 and bad then return ctx.block{ entity = ev.user.id, reason = 'r' .. d } end");
    eng_engine_t *e = tu_engine(&p, NULL);
    rule_trace_t *t = rule_trace_new();

    tu_evalf(e, "\"user\":{\"id\":\"u1\",\"age\":3,\"vip\":false},\"score\":0.5,\"ip\":\"evil\",\"tags\":[\"x\",\"y\"]");
    eng_engine_set_trace(e, t);
    const eng_outcome_t *o = tu_evalf(e, "\"user\":{\"id\":\"u1\",\"age\":3,\"vip\":false},\"score\":0.5,"
                                         "\"ip\":\"evil\",\"tags\":[\"x\",\"y\"]");
    eng_engine_set_trace(e, NULL);
    assert_int_equal(o->nhits, 1);
    assert_string_equal(o->hits[0].reason, "r1");

    const rule_trace_call_t *c = call_of(t, "a");
    assert_non_null(c);
    assert_int_equal(c->status, RULE_CALL_OK);
    const rule_trace_entry_t *f = find(t, "a", RULE_TRACE_FIELD, "user");
    assert_non_null(f);
    assert_string_equal(f->type, "object");
    f = find(t, "a", RULE_TRACE_FIELD, "user.id");
    assert_non_null(f);
    assert_string_equal(f->type, "string");
    assert_string_equal(f->value, "\"u1\"");
    f = find(t, "a", RULE_TRACE_FIELD, "user.age");
    assert_string_equal(f->type, "integer");
    assert_string_equal(f->value, "3");
    f = find(t, "a", RULE_TRACE_FIELD, "user.vip");
    assert_string_equal(f->type, "boolean");
    assert_string_equal(f->value, "false");
    f = find(t, "a", RULE_TRACE_FIELD, "score");
    assert_string_equal(f->type, "number");
    assert_string_equal(f->value, "0.5");
    f = find(t, "a", RULE_TRACE_FIELD, "nope");
    assert_string_equal(f->type, "nil");
    assert_string_equal(f->value, "null");
    f = find(t, "a", RULE_TRACE_FIELD, "tags");
    assert_string_equal(f->type, "array");
    f = find(t, "a", RULE_TRACE_FIELD, "tags[2]");
    assert_non_null(f);
    assert_string_equal(f->value, "\"y\"");

    const rule_trace_entry_t *k = find(t, "a", RULE_TRACE_COUNT, "by_user");
    assert_non_null(k);
    assert_string_equal(k->key, "u1");
    assert_string_equal(k->window, "1h");
    assert_int_equal(k->num, 2);   /* the earlier event and this one */
    k = find(t, "a", RULE_TRACE_DISTINCT, "ips");
    assert_non_null(k);
    assert_int_equal(k->num, 1);
    k = find(t, "a", RULE_TRACE_HAS_LABEL, "watch");
    assert_non_null(k);
    assert_int_equal(k->num, 1);   /* set by the first event */
    k = find(t, "a", RULE_TRACE_LABEL, "watch");
    assert_non_null(k);
    assert_string_equal(k->window, "30m");
    k = find(t, "a", RULE_TRACE_IN_LIST, "bad");
    assert_non_null(k);
    assert_string_equal(k->key, "evil");
    assert_int_equal(k->num, 1);

    rule_trace_destroy(t);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

/* Off: attached to no engine, a trace stays empty whatever is evaluated. */
static void test_trace_off_records_nothing(void **state)
{
    (void)state;
    tu_pack_t p;
    tu_pack_init(&p);
    write_counters(&p);
    tu_rule(&p, "a", NULL, "{ \"user.id\" }",
            "    return ctx.flag{ entity = ev.user.id .. ctx.count(\"by_user\", ev.user.id, \"1h\") }");
    eng_engine_t *e = tu_engine(&p, NULL);
    rule_trace_t *t = rule_trace_new();
    eng_engine_set_trace(e, t);
    tu_evalf(e, "\"user\":{\"id\":\"u1\"}");
    const rule_trace_call_t *calls;
    assert_int_equal(rule_trace_calls(t, &calls), 1);
    rule_trace_clear(t);
    eng_engine_set_trace(e, NULL);
    for (int i = 0; i < 10; i++)
        assert_int_equal(tu_evalf(e, "\"user\":{\"id\":\"u1\"}")->nhits, 1);
    assert_int_equal(rule_trace_calls(t, &calls), 0);
    assert_null(rule_trace_entry(t, 0));
    rule_trace_destroy(t);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

/* Traced and untraced evaluations of the same events by two engines give
 * the same hits: pairs(), #, ==, type() and nested reads go to the real
 * view unchanged. */
static void test_trace_answers_as_untraced(void **state)
{
    (void)state;
    tu_pack_t p;
    tu_pack_init(&p);
    write_counters(&p);
    tu_rule(&p, "walk", NULL, "{ \"user\", \"items\" }",
            "    local keys, sum = {}, 0\n"
            "    for k, v in pairs(ev.user) do keys[#keys + 1] = k .. '=' .. tostring(v) end\n"
            "    for i, it in pairs(ev.items or {}) do sum = sum + (it.n or 0) end\n"
            "    local same = ev.user == ev.user and type(ev.user) == 'table'\n"
            "    local ok = pcall(function() ev.user.id = 'x' end)\n"
            "    return ctx.flag{ entity = table.concat(keys, ',') .. '|' .. sum .. '|' .. #(ev.items or {})\n"
            "                     .. '|' .. tostring(same) .. '|' .. tostring(ok) .. '|' .. ctx.count('by_user', ev.user.id, '1h') }");
    eng_engine_t *plain = tu_engine(&p, NULL), *traced = tu_engine(&p, NULL);
    rule_trace_t *t = rule_trace_new();
    eng_engine_set_trace(traced, t);
    const char *evs[] = {
        "{\"type\":\"s\",\"id\":\"e1\",\"ts\":1000,\"user\":{\"id\":\"u1\",\"age\":3},\"items\":[{\"n\":2},{\"n\":5}]}",
        "{\"type\":\"s\",\"id\":\"e2\",\"ts\":2000,\"user\":{\"id\":\"u1\",\"x\":null,\"b\":true}}",
        "{\"type\":\"s\",\"id\":\"e3\",\"ts\":3000,\"user\":{\"id\":\"u2\"},\"items\":[]}",
    };
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
        const eng_outcome_t *a = tu_eval_raw(plain, evs[i]);
        char ea[512];
        assert_int_equal(a->nhits, 1);
        snprintf(ea, sizeof ea, "%.*s", (int)a->hits[0].entity_len, a->hits[0].entity);
        const eng_outcome_t *b = tu_eval_raw(traced, evs[i]);
        assert_int_equal(b->nhits, 1);
        assert_int_equal(b->hits[0].entity_len, strlen(ea));
        assert_memory_equal(b->hits[0].entity, ea, strlen(ea));
    }
    /* pairs over a traced object recorded what it yielded. */
    assert_non_null(find(t, "walk", RULE_TRACE_FIELD, "user.id"));
    rule_trace_destroy(t);
    eng_engine_destroy(plain);
    eng_engine_destroy(traced);
    tu_pack_free(&p);
}

/* An error in a ctx call is recorded with its message (and the call's
 * status); an endless loop ends the call as a budget kill. */
static void test_trace_records_errors_and_budget_kills(void **state)
{
    (void)state;
    tu_pack_t p;
    tu_pack_init(&p);
    write_counters(&p);
    tu_rule(&p, "bad", NULL, "{ \"user.id\" }",
            "    local name = 'no_' .. 'such'\n"
            "    return ctx.flag{ entity = ev.user.id .. ctx.count(name, ev.user.id, '1h') }");
    tu_rule(&p, "loop", NULL, "{ \"user.id\" }", "    while true do end");
    eng_opts_t o = tu_opts();
    o.instr_budget = 100000;
    eng_engine_t *e = tu_engine(&p, &o);
    rule_trace_t *t = rule_trace_new();
    eng_engine_set_trace(e, t);
    const eng_outcome_t *out = tu_evalf(e, "\"user\":{\"id\":\"u1\"}");
    assert_int_equal(out->nerrors, 2);
    const rule_trace_call_t *c = call_of(t, "bad");
    assert_non_null(c);
    assert_int_equal(c->status, RULE_CALL_ERROR);
    const rule_trace_entry_t *k = find(t, "bad", RULE_TRACE_COUNT, "no_such");
    assert_non_null(k);
    assert_non_null(k->error);
    assert_non_null(strstr(k->error, "not declared"));
    c = call_of(t, "loop");
    assert_non_null(c);
    assert_int_equal(c->status, RULE_CALL_TIMEOUT);
    rule_trace_destroy(t);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

/* A field read many times is one entry; past RULE_TRACE_MAX_ENTRIES a
 * call's entries are counted, not kept. */
static void test_trace_dedups_fields_and_caps_entries(void **state)
{
    (void)state;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "many", NULL, "{ \"user.id\", \"items\" }",
            "    for i = 1, 100 do local _ = ev.user.id end\n"
            "    local n = 0\n"
            "    for i = 1, #ev.items do n = n + ev.items[i] end\n"
            "    return ctx.flag{ entity = ev.user.id .. n }");
    eng_engine_t *e = tu_engine(&p, NULL);
    wd_buf_t b = WD_BUF_INIT;
    wd_buf_adds(&b, "{\"type\":\"s\",\"id\":\"e1\",\"ts\":1000,\"user\":{\"id\":\"u\"},\"items\":[");
    for (int i = 0; i < 5000; i++)
        wd_buf_printf(&b, "%s1", i ? "," : "");
    wd_buf_adds(&b, "]}");
    rule_trace_t *t = rule_trace_new();
    eng_engine_set_trace(e, t);
    const eng_outcome_t *o = tu_eval_raw(e, b.data);
    assert_int_equal(o->nhits, 1);
    assert_string_equal(o->hits[0].entity, "u5000");
    const rule_trace_call_t *c = call_of(t, "many");
    assert_int_equal(c->n, RULE_TRACE_MAX_ENTRIES);
    /* user, user.id, items, then items[1..]: the rest dropped */
    assert_int_equal(c->n + c->dropped, 3 + 5000);
    size_t ids = 0;
    for (size_t i = c->first; i < c->first + c->n; i++)
        ids += strcmp(rule_trace_entry(t, i)->name, "user.id") == 0;
    assert_int_equal(ids, 1);
    wd_buf_free(&b);
    rule_trace_destroy(t);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_records_fields_counts_labels_and_lists),
        cmocka_unit_test(test_trace_off_records_nothing),
        cmocka_unit_test(test_trace_answers_as_untraced),
        cmocka_unit_test(test_trace_records_errors_and_budget_kills),
        cmocka_unit_test(test_trace_dedups_fields_and_caps_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
