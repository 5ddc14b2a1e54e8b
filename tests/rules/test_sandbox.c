/* tests/rules/test_sandbox.c — the rules' Lua sandbox (base/wd_lua.c,
 * rules/rule_lua_*.c) through the real engine: every escape attempt is a
 * rule error with a message; the engine goes on with the next rule and the
 * next event; loops, memory bombs and deep recursion are killed by the
 * instruction budget and the memory cap, even under pcall; rules cannot see
 * or change each other's globals and libraries; the per-rule counters count
 * each failure.  Escapes run against both views of the event: the table
 * view of production (eval, run) and the lazy checking view of strict mode
 * (warden test).  A test that would hang fails through alarm(). */
#include <signal.h>

#include "tests/rules/testutil.h"

#define HANG_SECONDS 60   /* generous: valgrind runs these too */

/* The escaping rule is "a.escape"; "b.next" runs after it on the same
 * event and flags every event, so the engine visibly goes on. */
static const char *const NEXT_RULE = "      return ctx.flag{ entity = ev.id, reason = \"next\" }";
#define FIELDS "{ \"id\", \"n\", \"k\", \"bomb\" }"

/* Does msg contain one of the '|'-separated alternatives in want? */
static int contains_any(const char *msg, const char *want)
{
    char alt[256];
    for (const char *a = want;;) {
        const char *bar = strchr(a, '|');
        size_t n = bar ? (size_t)(bar - a) : strlen(a);
        snprintf(alt, sizeof alt, "%.*s", (int)n, a);
        if (strstr(msg, alt))
            return 1;
        if (bar == NULL)
            return 0;
        a = bar + 1;
    }
}

static eng_opts_t opts_with(size_t mem_cap, long budget)
{
    eng_opts_t o = tu_opts();
    if (mem_cap)
        o.mem_cap = mem_cap;
    if (budget)
        o.instr_budget = budget;
    return o;
}

/* Asserts that event evaluation `o` carries a clean hit of b.next and no
 * error but (maybe) a.escape's. */
static void assert_next_rule_ran(const eng_outcome_t *o, const char *event_id)
{
    assert_int_equal(o->status, ENG_EVENT_OK);
    const eng_hit_t *h = tu_hit(o, "b.next");
    if (h == NULL)
        fail_msg("b.next gave no hit on event %s", event_id);
    assert_string_equal(tu_str(h->entity, h->entity_len), event_id);
    tu_assert_no_error(o, "b.next");
}

/* Runs `body` as a.escape on two events.  Both must fail with a message
 * containing `want`; b.next must hit both times; the counters must show two
 * evaluations and two errors.  Returns nothing; the stats checks for
 * timeouts/oom are done by the callers that need them. */
static void escape_case_view(const char *body, const char *want, const eng_opts_t *opts,
                             uint64_t want_timeouts, uint64_t want_oom)
{
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "a.escape", NULL, FIELDS, body);
    tu_rule(&p, "b.next", NULL, FIELDS, NEXT_RULE);
    alarm(HANG_SECONDS);
    eng_engine_t *e = tu_engine(&p, opts);
    const eng_outcome_t *o = tu_evalf(e, "\"n\":1");
    assert_null(tu_hit(o, "a.escape"));
    const char *msg = tu_error(o, "a.escape");
    if (msg == NULL || !contains_any(msg, want))
        fail_msg("%s view: rule a.escape %s \"%s\", wanted \"%s\"",
                 opts->strict_fields ? "lazy" : "table", msg ? "failed with" : "did not fail",
                 msg ? msg : "", want);
    assert_string_equal(o->event_id, "e1");
    assert_next_rule_ran(o, "e1");
    assert_int_equal(o->nerrors, 1);

    o = tu_eval_raw(e, "{\"type\":\"s\",\"id\":\"e2\",\"ts\":2000}");
    assert_non_null(tu_error(o, "a.escape"));
    assert_next_rule_ran(o, "e2");

    const eng_rule_stats_t *st = tu_stats(e, "a.escape");
    assert_int_equal(st->evals, 2);
    assert_int_equal(st->errors, 2);
    assert_int_equal(st->timeouts, want_timeouts);
    assert_int_equal(st->oom, want_oom);
    assert_int_equal(st->hits[RULE_VERDICT_BLOCK] + st->hits[RULE_VERDICT_REVIEW] +
                         st->hits[RULE_VERDICT_FLAG], 0);
    st = tu_stats(e, "b.next");
    assert_int_equal(st->evals, 2);
    assert_int_equal(st->errors, 0);
    assert_int_equal(st->hits[RULE_VERDICT_FLAG], 2);
    eng_engine_destroy(e);
    alarm(0);
    tu_pack_free(&p);
}

/* Both views: the production table view, then the strict lazy view. */
static void escape_case_opts(const char *body, const char *want, const eng_opts_t *opts,
                             uint64_t want_timeouts, uint64_t want_oom)
{
    eng_opts_t o = *opts;
    for (int strict = 0; strict <= 1; strict++) {
        o.strict_fields = strict;
        escape_case_view(body, want, &o, want_timeouts, want_oom);
    }
}

static void escape_case(const char *body, const char *want)
{
    eng_opts_t o = tu_opts();
    escape_case_opts(body, want, &o, 0, 0);
}

/* ---- absent libraries and functions ------------------------------------ */

static void test_io_open_is_absent(void **st)
{
    (void)st;
    escape_case("local f = io.open('/etc/passwd') return ctx.block{ entity = f:read('a') }",
                "global 'io'");
}

static void test_os_execute_is_absent(void **st)
{
    (void)st;
    escape_case("os.execute('touch /tmp/warden_pwned') return ctx.block{ entity = 'x' }",
                "global 'os'");
}

static void test_require_is_absent(void **st)
{
    (void)st;
    escape_case("local io = require('io') return ctx.block{ entity = 'x' }", "global 'require'");
}

static void test_load_is_absent(void **st)
{
    (void)st;
    escape_case("local f = load('return 1') return ctx.block{ entity = tostring(f()) }",
                "global 'load'");
}

static void test_loadstring_is_absent(void **st)
{
    (void)st;
    escape_case("local f = loadstring('return 1') return ctx.block{ entity = 'x' }",
                "global 'loadstring'");
}

static void test_dofile_is_absent(void **st)
{
    (void)st;
    escape_case("dofile('/etc/passwd') return ctx.block{ entity = 'x' }", "global 'dofile'");
}

static void test_loadfile_is_absent(void **st)
{
    (void)st;
    escape_case("loadfile('/etc/passwd') return ctx.block{ entity = 'x' }", "global 'loadfile'");
}

static void test_string_dump_is_absent(void **st)
{
    (void)st;
    escape_case("local d = string.dump(function() end) return ctx.block{ entity = d }",
                "field 'dump'");
}

static void test_string_dump_is_absent_as_a_method(void **st)
{
    (void)st;
    /* Strings index the real string table: dump must be gone there too. */
    escape_case("local d = ('x').dump(function() end) return ctx.block{ entity = d }",
                "field 'dump'");
}

static void test_debug_getregistry_is_absent(void **st)
{
    (void)st;
    escape_case("local r = debug.getregistry() return ctx.block{ entity = 'x' }",
                "global 'debug'");
}

static void test_collectgarbage_is_absent(void **st)
{
    (void)st;
    escape_case("collectgarbage('stop') return ctx.block{ entity = 'x' }",
                "global 'collectgarbage'");
}

static void test_print_is_absent_rules_log_through_ctx(void **st)
{
    (void)st;
    escape_case("ctx.log('ctx.log works', 1, true) print('hello') return ctx.block{ entity = 'x' }",
                "global 'print'");
}

static void test_coroutine_and_package_are_absent(void **st)
{
    (void)st;
    escape_case("local x = coroutine or package or utf8.nope or rawget(_G, 'os')\n"
                "      if x == nil then error('nothing reachable') end\n"
                "      return ctx.block{ entity = 'x' }",
                "nothing reachable");
}

/* ---- ev cannot be changed or unwrapped --------------------------------- */

static void test_setmetatable_on_ev_fails(void **st)
{
    (void)st;
    escape_case("setmetatable(ev, {}) return ctx.block{ entity = 'x' }",
                "bad argument #1 to 'setmetatable'|cannot change a protected metatable");
}

static void test_rawset_on_ev_fails(void **st)
{
    (void)st;
    escape_case("rawset(ev, 'id', 'forged') return ctx.block{ entity = ev.id }",
                "bad argument #1 to 'rawset'|rawset: the table is read-only");
}

static void test_rawget_on_ev_reveals_nothing(void **st)
{
    (void)st;
    /* The lazy view is a userdata (rawget raises); the table view's proxy is
     * empty, its data out of reach. */
    escape_case("local ok, v = pcall(rawget, ev, 'id')\n"
                "      if ok and v ~= nil then return ctx.block{ entity = v } end\n"
                "      local ok2, k = pcall(next, ev)\n"
                "      if ok2 and k ~= nil then return ctx.block{ entity = k } end\n"
                "      error('nothing behind ev')",
                "nothing behind ev");
}

static void test_rawset_on_ev_cannot_change_what_the_next_rule_sees(void **st)
{
    (void)st;
    for (int strict = 0; strict <= 1; strict++) {
        tu_pack_t p;
        tu_pack_init(&p);
        tu_rule(&p, "a.forger", NULL, FIELDS,
                "pcall(rawset, ev, 'id', 'forged')\n"
                "      pcall(rawset, ev, 'n', 99)");
        tu_rule(&p, "b.reader", NULL, FIELDS,
                "return ctx.flag{ entity = ev.id .. ':' .. tostring(ev.n) }");
        eng_opts_t o = tu_opts();
        o.strict_fields = strict;
        eng_engine_t *e = tu_engine(&p, &o);
        const eng_outcome_t *out = tu_evalf(e, "\"n\":1");
        const eng_hit_t *h = tu_hit(out, "b.reader");
        assert_non_null(h);
        assert_string_equal(tu_str(h->entity, h->entity_len), "e1:1");
        out = tu_eval_raw(e, "{\"type\":\"s\",\"id\":\"e2\",\"ts\":1}");
        h = tu_hit(out, "b.reader");
        assert_non_null(h);
        assert_string_equal(tu_str(h->entity, h->entity_len), "e2:nil");
        eng_engine_destroy(e);
        tu_pack_free(&p);
    }
}

static void test_getmetatable_of_ev_is_locked(void **st)
{
    (void)st;
    escape_case("local mt = getmetatable(ev)\n"
                "      if mt ~= 'locked' then return ctx.block{ entity = 'x' } end\n"
                "      mt.__newindex = nil",
                "attempt to index a string value");
}

static void test_ctx_is_read_only(void **st)
{
    (void)st;
    escape_case("ctx.block = function() end return ctx.block{ entity = 'x' }",
                "ctx is read-only");
}

static void test_string_metatable_cannot_be_reached(void **st)
{
    (void)st;
    escape_case("local mt = getmetatable('')\n"
                "      if type(mt) ~= 'string' then return ctx.block{ entity = 'x' } end\n"
                "      mt.__index.upper = function() return 'pwned' end",
                "attempt to index a nil value");
}

static void test_string_metatable_cannot_be_replaced(void **st)
{
    (void)st;
    escape_case("getmetatable('').__index = { upper = function() return 'pwned' end }",
                "attempt to index a string value");
}

static void test_setmetatable_with_gc_is_refused(void **st)
{
    (void)st;
    /* A finalizer runs with hooks off and outside any evaluation: an endless
     * one would hang the engine beyond the budget's reach. */
    escape_case("local t = setmetatable({}, { __gc = function() while true do end end })\n"
                "      return ctx.block{ entity = 'x' }",
                "__gc");
}

static void test_setmetatable_still_works_for_plain_tables(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "a.meta", NULL, NULL,
            "local t = setmetatable({}, { __index = function(_, k) return k .. '!' end })\n"
            "      local locked = setmetatable({}, { __metatable = 'no' })\n"
            "      local ok = pcall(setmetatable, locked, {})\n"
            "      if ok then return end\n"
            "      return ctx.flag{ entity = t.u1 }");
    eng_engine_t *e = tu_engine(&p, NULL);
    const eng_outcome_t *o = tu_evalf(e, "%s", "");
    tu_assert_no_error(o, "a.meta");
    const eng_hit_t *h = tu_hit(o, "a.meta");
    assert_non_null(h);
    assert_string_equal(tu_str(h->entity, h->entity_len), "u1!");
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

/* ---- rules are isolated from each other -------------------------------- */

static void test_globals_written_by_one_rule_are_invisible_to_another(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "a.writer", NULL, NULL,
            "shared = 'from a'\n"
            "      _G.shared2 = 'from a'\n"
            "      rawset(_G, 'shared3', 'from a')\n"
            "      _ENV.shared4 = 'from a'\n"
            "      count = (count or 0) + 1\n"
            "      return ctx.flag{ entity = 'a' .. count }");
    tu_rule(&p, "b.reader", NULL, NULL,
            "if shared or shared2 or shared3 or shared4 or count or rawget(_G, 'shared') then\n"
            "        return ctx.block{ entity = 'leaked' }\n"
            "      end\n"
            "      return ctx.flag{ entity = 'clean' }");
    eng_engine_t *e = tu_engine(&p, NULL);
    for (int i = 1; i <= 2; i++) {
        const eng_outcome_t *o = tu_evalf(e, "%s", "");
        tu_assert_no_error(o, "a.writer");
        tu_assert_no_error(o, "b.reader");
        const eng_hit_t *h = tu_hit(o, "b.reader");
        assert_non_null(h);
        assert_string_equal(tu_str(h->entity, h->entity_len), "clean");
        /* A rule's own globals persist from one event to the next. */
        h = tu_hit(o, "a.writer");
        assert_non_null(h);
        assert_string_equal(tu_str(h->entity, h->entity_len), i == 1 ? "a1" : "a2");
    }
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_library_changes_by_one_rule_are_invisible_to_another(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "a.vandal", NULL, NULL,
            "string.upper = function() return 'pwned' end\n"
            "      string.format = nil\n"
            "      math.floor = function() return 42 end\n"
            "      math.pi = 3\n"
            "      table.insert = nil\n"
            "      utf8.char = nil\n"
            "      tostring = function() return 'pwned' end\n"
            "      pairs = nil");
    tu_rule(&p, "b.victim", NULL, NULL,
            "local t = {}\n"
            "      table.insert(t, 'a')\n"
            "      local ok = string.upper('x') == 'X' and ('y'):upper() == 'Y'\n"
            "        and math.floor(1.5) == 1 and math.pi > 3.14 and t[1] == 'a'\n"
            "        and string.format('%d', 7) == '7' and utf8.char(65) == 'A'\n"
            "        and tostring(1) == '1' and pairs ~= nil\n"
            "      return ctx.flag{ entity = ok and 'intact' or 'changed' }");
    eng_engine_t *e = tu_engine(&p, NULL);
    for (int i = 0; i < 2; i++) {
        const eng_outcome_t *o = tu_evalf(e, "%s", "");
        tu_assert_no_error(o, "a.vandal");
        tu_assert_no_error(o, "b.victim");
        const eng_hit_t *h = tu_hit(o, "b.victim");
        assert_non_null(h);
        assert_string_equal(tu_str(h->entity, h->entity_len), "intact");
    }
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_string_methods_of_the_vandal_itself_stay_intact(void **st)
{
    (void)st;
    /* ("x"):upper() indexes the real string table, which no rule can reach. */
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "a.vandal", NULL, NULL,
            "string.upper = function() return 'pwned' end\n"
            "      return ctx.flag{ entity = ('x'):upper() }");
    eng_engine_t *e = tu_engine(&p, NULL);
    const eng_outcome_t *o = tu_evalf(e, "%s", "");
    const eng_hit_t *h = tu_hit(o, "a.vandal");
    assert_non_null(h);
    assert_string_equal(tu_str(h->entity, h->entity_len), "X");
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

/* ---- the instruction budget -------------------------------------------- */

static void test_budget_kills_infinite_loop(void **st)
{
    (void)st;
    eng_opts_t o = opts_with(0, 100000);
    escape_case_opts("while true do end", "instruction budget", &o, 2, 0);
}

static void test_budget_kills_loop_even_under_pcall(void **st)
{
    (void)st;
    eng_opts_t o = opts_with(0, 100000);
    escape_case_opts("while true do pcall(function() while true do end end) end",
                     "instruction budget", &o, 2, 0);
}

static void test_budget_kills_loop_even_under_xpcall_with_looping_handler(void **st)
{
    (void)st;
    eng_opts_t o = opts_with(0, 100000);
    escape_case_opts("local function spin() while true do end end\n"
                     "      while true do xpcall(spin, spin) end",
                     "instruction budget", &o, 2, 0);
}

static void test_xpcall_still_works_for_rules(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "a.xpcall", NULL, NULL,
            "local ok1, sum = xpcall(function(a, b) return a + b end, error, 1, 2)\n"
            "      local ok2, msg = xpcall(error, function(m) return 'handled ' .. m end, 'x', 0)\n"
            "      local ok3, herr = xpcall(error, function() error('again', 0) end, 'y')\n"
            "      local ok4 = pcall(xpcall, error)\n"
            "      return ctx.flag{ entity = table.concat({ tostring(ok1), sum, tostring(ok2), msg,\n"
            "                                               tostring(ok3), herr, tostring(ok4) }, ',') }");
    eng_engine_t *e = tu_engine(&p, NULL);
    const eng_outcome_t *o = tu_evalf(e, "%s", "");
    tu_assert_no_error(o, "a.xpcall");
    const eng_hit_t *h = tu_hit(o, "a.xpcall");
    assert_non_null(h);
    assert_string_equal(tu_str(h->entity, h->entity_len),
                        "true,3,false,handled x,false,again,false");
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_budget_swallowed_by_pcall_voids_the_verdict(void **st)
{
    (void)st;
    eng_opts_t o = opts_with(0, 100000);
    /* The rule catches the kill and returns a verdict: it must not count. */
    escape_case_opts("pcall(function() while true do end end)\n"
                     "      return ctx.block{ entity = 'escaped' }",
                     "instruction budget", &o, 2, 0);
}

static void test_budget_kills_loop_in_a_metamethod(void **st)
{
    (void)st;
    eng_opts_t o = opts_with(0, 100000);
    escape_case_opts("local t = setmetatable({}, { __index = function() while true do end end })\n"
                     "      return ctx.block{ entity = t.x }",
                     "instruction budget", &o, 2, 0);
}

static void test_budget_kills_loop_in_a_sort_comparator(void **st)
{
    (void)st;
    eng_opts_t o = opts_with(0, 100000);
    escape_case_opts("local t = { 3, 2, 1 }\n"
                     "      table.sort(t, function(a, b) while true do end end)",
                     "instruction budget", &o, 2, 0);
}

static void test_budget_error_names_rule_file_and_line(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "a.loop", NULL, NULL, "while true do end");
    eng_opts_t o = opts_with(0, 100000);
    alarm(HANG_SECONDS);
    eng_engine_t *e = tu_engine(&p, &o);
    const eng_outcome_t *out = tu_evalf(e, "%s", "");
    char want[128];
    /* tu_rule puts the body on line 7. */
    snprintf(want, sizeof want, "%s/a.loop.lua:7: instruction budget", p.dir);
    tu_assert_error(out, "a.loop", want);
    eng_engine_destroy(e);
    alarm(0);
    tu_pack_free(&p);
}

static void test_budget_is_per_evaluation_not_cumulative(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    /* About 80,000 instructions per call (2 per iteration) under a budget
     * of 100,000: never killed, however many events. */
    tu_rule(&p, "a.busy", NULL, NULL,
            "local n = 0\n"
            "      for i = 1, 40000 do n = n + 1 end\n"
            "      return ctx.flag{ entity = tostring(n) }");
    eng_opts_t o = opts_with(0, 100000);
    eng_engine_t *e = tu_engine(&p, &o);
    for (int i = 0; i < 5; i++) {
        const eng_outcome_t *out = tu_evalf(e, "%s", "");
        tu_assert_no_error(out, "a.busy");
        assert_non_null(tu_hit(out, "a.busy"));
    }
    assert_int_equal(tu_stats(e, "a.busy")->timeouts, 0);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

/* Per-rule instruction counts are fine-grained enough to compare rules
 * far shorter than the hook's step (6,250 under a budget of 100,000): a
 * rule doing 10x the work of another reports ~10x the instructions over
 * many evaluations.  (Counted in whole steps from the first hook on, the
 * short rule reported 0 and the long one 0 or a step.) */
static void test_instruction_counts_scale_with_the_work_of_short_rules(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "a.small", NULL, NULL,
            "local n = 0\n"
            "      for i = 1, 100 do n = n + i % 3 end\n"
            "      if n < 0 then return ctx.flag{ entity = 'x' } end");
    tu_rule(&p, "b.big", NULL, NULL,
            "local n = 0\n"
            "      for i = 1, 1000 do n = n + i % 3 end\n"
            "      if n < 0 then return ctx.flag{ entity = 'x' } end");
    eng_opts_t o = opts_with(0, 100000);
    eng_engine_t *e = tu_engine(&p, &o);
    int n = tu_scaled(20000);
    for (int i = 0; i < n; i++)
        tu_evalf(e, "%s", "");
    const eng_rule_stats_t *s = tu_stats(e, "a.small"), *b = tu_stats(e, "b.big");
    assert_int_equal(s->evals, n);
    assert_int_equal(b->evals, n);
    double ms = (double)s->instr / n, mb = (double)b->instr / n;
    /* A loop iteration is a handful of VM instructions. */
    if (!(ms > 100 * 2 && ms < 100 * 12))
        fail_msg("a.small: %.1f instructions per evaluation for 100 iterations", ms);
    if (!(mb / ms > 8.5 && mb / ms < 11.5))
        fail_msg("b.big/a.small = %.2f (%.1f vs %.1f per evaluation), want ~10", mb / ms, mb, ms);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

/* The budget is exact whatever the hook's step: budget 100,000 allows a
 * rule of ~99,000 instructions, and kills one of ~101,000 every time. */
static void test_budget_is_exact_at_its_edge(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    /* A numeric for loop body of one ADDI + the FORLOOP: 2 per iteration. */
    tu_rule(&p, "a.under", NULL, NULL,
            "local n = 0\n"
            "      for i = 1, 49000 do n = n + 1 end\n"
            "      return ctx.flag{ entity = tostring(n) }");
    tu_rule(&p, "b.over", NULL, NULL,
            "local n = 0\n"
            "      for i = 1, 51000 do n = n + 1 end\n"
            "      return ctx.flag{ entity = tostring(n) }");
    eng_opts_t o = opts_with(0, 100000);
    eng_engine_t *e = tu_engine(&p, &o);
    for (int i = 0; i < 50; i++)
        tu_evalf(e, "%s", "");
    assert_int_equal(tu_stats(e, "a.under")->timeouts, 0);
    assert_int_equal(tu_stats(e, "b.over")->timeouts, 50);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_budget_kills_loop_at_load_time(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_write(&p, "loop.lua", "while true do end\nreturn {}\n");
    alarm(HANG_SECONDS);
    const char *err = tu_load_err(&p);
    alarm(0);
    char want[128];
    snprintf(want, sizeof want, "%s/loop.lua:1: ", p.dir);
    if (strstr(err, want) == NULL || strstr(err, "instruction budget") == NULL)
        fail_msg("load error \"%s\" lacks \"%s...instruction budget\"", err, want);
    tu_pack_free(&p);
}

/* ---- time: loops inside C calls, the wall-clock limit ------------------ */

static eng_opts_t opts_timed(long budget, long time_ms)
{
    eng_opts_t o = tu_opts();
    o.instr_budget = budget;
    o.time_limit_ms = time_ms;
    return o;
}

static void test_time_limit_kills_loop_when_budget_is_huge(void **st)
{
    (void)st;
    eng_opts_t o = opts_timed(1000000000000000L, 50);
    escape_case_opts("while true do end", "time limit of 50 ms exceeded", &o, 2, 0);
}

static void test_time_limit_kills_loop_even_under_pcall(void **st)
{
    (void)st;
    eng_opts_t o = opts_timed(1000000000000000L, 50);
    escape_case_opts("while true do pcall(function() while true do end end) end\n"
                     "      return ctx.block{ entity = 'escaped' }",
                     "time limit of 50 ms exceeded", &o, 2, 0);
}

/* Each of these ran for hours inside one C call, out of the hook's reach:
 * now they are charged per element or refused before they start. */
static void test_c_library_loops_are_bounded(void **st)
{
    (void)st;
    static const char *const bodies[] = {
        "table.move({}, 1, math.maxinteger - 1, 2)",
        "table.move(setmetatable({}, { __index = '' }), 1, math.maxinteger - 1, 2)",
        "table.insert(setmetatable({}, { __len = function() return math.maxinteger - 1 end }), 1, 1)",
        "table.remove(setmetatable({}, { __len = function() return math.maxinteger - 1 end }), 1)",
        "table.concat(setmetatable({}, { __index = rawlen,\n"
        "        __len = function() return math.maxinteger - 1 end }))",
        "table.sort(setmetatable({}, { __index = rawlen, __newindex = rawequal,\n"
        "        __len = function() return 2^31 - 2 end }))",
        "string.find(('a'):rep(5000), ('a-'):rep(12) .. 'b')",
        "string.match(('a'):rep(5000), ('a*'):rep(12) .. 'b')",
        "string.gsub(('a'):rep(50000), '.-.-b', '')",
        "for w in string.gmatch(('a'):rep(50000), '(a*)(a*)(a*)b') do end",
        "string.match(('a'):rep(1 << 20), ('a'):rep(1 << 12) .. 'b')",
    };
    eng_opts_t o = opts_timed(1000000, 50);
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        char body[512];
        snprintf(body, sizeof body, "%s\n      return ctx.block{ entity = 'escaped' }", bodies[i]);
        const char *want = strstr(bodies[i], "string.") ? "pattern too costly|time limit"
                                                        : "time limit|instruction budget";
        escape_case_opts(body, want, &o, strstr(want, "pattern") ? 0 : 2, 0);
    }
}

static void test_empty_string_rep_is_instant(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "a.rep", NULL, NULL,
            "local s = string.rep('', math.maxinteger) .. ('x'):rep(0, math.maxinteger)\n"
            "        .. string.rep('', math.maxinteger, '') .. ('ab'):rep(2, '-')\n"
            "      return ctx.flag{ entity = s }");
    eng_opts_t o = opts_timed(1000000, 50);
    alarm(HANG_SECONDS);
    eng_engine_t *e = tu_engine(&p, &o);
    const eng_outcome_t *out = tu_evalf(e, "%s", "");
    tu_assert_no_error(out, "a.rep");
    const eng_hit_t *h = tu_hit(out, "a.rep");
    assert_non_null(h);
    assert_string_equal(tu_str(h->entity, h->entity_len), "ab-ab");
    eng_engine_destroy(e);
    alarm(0);
    tu_pack_free(&p);
}

/* The bounded library functions answer as the stock ones do. */
static void test_bounded_library_functions_keep_their_answers(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "a.lib", NULL, NULL,
            "local r = {}\n"
            "      local function add(...) local n = select('#', ...)\n"
            "        for i = 1, n do r[#r + 1] = tostring((select(i, ...))) end r[#r + 1] = '|' end\n"
            "      local s = 'hello'\n"
            "      add(s:find('l')) add(s:find('lo', 1, true)) add(s:find('', 10)) add(s:find('', 6))\n"
            "      add(s:find('h', -100)) add(s:find('o', -1)) add(s:find('x')) add(('xa.b'):find('a.b', 1, true))\n"
            "      add(s:find('ll', 0)) add(s:find('l+')) add(s:find('^h(.-)o$')) add(s:match('(h)(.)'))\n"
            "      add(s:gsub('l', 'L')) add(s:gsub('^h', 'H'))\n"
            "      local t = { 1, 2, 3 }\n"
            "      table.insert(t, 4) table.insert(t, 1, 0) add(table.concat(t, ','))\n"
            "      add(table.remove(t)) add(table.remove(t, 1)) add(table.concat(t, ',', 2, 3))\n"
            "      add(table.concat(table.move({ 1, 2, 3 }, 1, 3, 2), ','))\n"
            "      add(table.concat(table.move({ 1, 2, 3 }, 2, 3, 1), ','))\n"
            "      add(table.concat(table.move({ 1, 2 }, 1, 2, 2, { 9 }), ','))\n"
            "      local u = { 3, 1, 2 } table.sort(u) add(table.concat(u, ','))\n"
            "      table.sort(u, function(a, b) return a > b end) add(table.concat(u, ','))\n"
            "      add(pcall(table.insert, t, 5, 1, 2)) add(pcall(table.insert, t, 9, 1))\n"
            "      add(pcall(table.concat, { {} }))\n"
            "      return ctx.flag{ entity = table.concat(r, ' ') }");
    eng_engine_t *e = tu_engine(&p, NULL);
    const eng_outcome_t *out = tu_evalf(e, "%s", "");
    tu_assert_no_error(out, "a.lib");
    const eng_hit_t *h = tu_hit(out, "a.lib");
    assert_non_null(h);
    assert_string_equal(
        tu_str(h->entity, h->entity_len),
        "3 3 | 4 5 | nil | 6 5 | 1 1 | 5 5 | nil | 2 4 | 3 4 | 3 4 | 1 5 ell | h e | "
        "heLLo 2 | Hello 1 | 0,1,2,3,4 | 4 | 0 | 2,3 | 1,1,2,3 | 2,3,3 | 9,1,2 | "
        "1,2,3 | 3,2,1 | false wrong number of arguments to 'insert' | "
        "false bad argument #2 to 'table.insert' (position out of bounds) | "
        "false invalid value (at index 1) in table for 'concat' |");
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

/* Patterns of everyday rules on long, ordinary subjects stay well within
 * what the default time limit allows. */
static void test_ordinary_patterns_on_long_subjects_are_allowed(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "a.pat", NULL, NULL,
            "local words = {}\n"
            "      for i = 1, 600 do words[i] = 'word' .. i end\n"
            "      local text = '  ' .. table.concat(words, ' ') .. ' mail bob@example.com now  '\n"
            "      local big = text:rep(8)\n"
            "      local trimmed = text:match('^%s*(.-)%s*$')\n"
            "      local user, host = text:match('(%w+)@(%w+)%.com')\n"
            "      local n = 0 for d in big:gmatch('%d+') do n = n + 1 end\n"
            "      local squeezed, k = big:gsub('%s+', ' ')\n"
            "      local at = big:find('bob@', 1, true)\n"
            "      local none = ('a'):rep(1 << 16):find(('a'):rep(1 << 12) .. 'b')\n"
            "      return ctx.flag{ entity = table.concat({ #text - #trimmed, user, host, n, k,\n"
            "                                              at, tostring(none) }, ',') }");
    eng_opts_t o = tu_opts();
    eng_opts_default(&o);   /* the production limits */
    if (tu_scaled(10) == 1)
        o.time_limit_ms *= 50;   /* valgrind runs Lua ~50 times slower */
    wd_log_level = WD_LOG_ERROR;
    eng_engine_t *e = tu_engine(&p, &o);
    /* The patterns' refusal depends on the limit only and would fail every
     * try; a try may meet the clock on a busy machine, hence a few. */
    const eng_hit_t *h = NULL;
    for (int try = 0; try < 5 && h == NULL; try++) {
        const eng_outcome_t *out = tu_evalf(e, "%s", "");
        const char *msg = tu_error(out, "a.pat");
        if (msg && strstr(msg, "ms exceeded") == NULL)
            fail_msg("rule a.pat failed: %s", msg);
        h = tu_hit(out, "a.pat");
    }
    assert_non_null(h);
    assert_string_equal(tu_str(h->entity, h->entity_len), "4,bob,example,4800,4825,4700,nil");
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

/* A distinct read over a month of sketches merges them all: a loop of such
 * reads is charged for that work, not for the few instructions of the call. */
static void test_ctx_reads_are_charged_for_their_work(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_write(&p, "counters.lua",
             "return { { name = \"ips\", stream = \"s\", key = \"id\", distinct = \"ip\",\n"
             "           windows = { \"30d\" } } }\n");
    tu_rule(&p, "a.reads", NULL, "{ \"id\", \"n\" }",
            "if ev.n == nil then return end\n"
            "      local d = 0\n"
            "      for i = 1, ev.n do d = ctx.distinct('ips', ev.id, '30d') end\n"
            "      return ctx.flag{ entity = tostring(d) }");
    eng_opts_t o = opts_timed(200000, 0);
    eng_engine_t *e = tu_engine(&p, &o);
    /* 100 distinct ips in one day bucket: past 64 values it is a sketch. */
    for (int i = 0; i < 100; i++)
        tu_evalf(e, "\"ip\":\"10.0.0.%d\"", i);
    const eng_outcome_t *out = tu_evalf(e, "\"ip\":\"10.0.0.1\",\"n\":1");
    tu_assert_no_error(out, "a.reads");
    assert_non_null(tu_hit(out, "a.reads"));
    /* About 2,000 instructions' worth a read: 1,000 reads are over 200,000. */
    out = tu_evalf(e, "\"ip\":\"10.0.0.1\",\"n\":1000");
    tu_assert_error(out, "a.reads", "instruction budget");
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_time_limit_kills_c_loop_at_load_time(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_write(&p, "loop.lua", "table.move({}, 1, math.maxinteger - 1, 2)\nreturn {}\n");
    alarm(HANG_SECONDS);
    char err[4096];
    eng_opts_t o = opts_timed(1000000000000000L, 0);
    o.load_time_limit_ms = 100;
    eng_engine_t *e = eng_engine_new(&o, p.dir, err, sizeof err);
    alarm(0);
    assert_null(e);
    char want[256];
    snprintf(want, sizeof want, "%s/loop.lua:1: time limit of 100 ms exceeded", p.dir);
    if (strstr(err, want) == NULL)
        fail_msg("load error \"%s\" lacks \"%s\"", err, want);
    tu_pack_free(&p);
}

/* ---- the memory cap ---------------------------------------------------- */

#define TEST_MEM_CAP (16u << 20)

static void test_memory_cap_kills_table_growth(void **st)
{
    (void)st;
    eng_opts_t o = opts_with(TEST_MEM_CAP, 1000000000L);
    escape_case_opts("local t, i = {}, 0\n"
                     "      while true do i = i + 1; t[i] = { i, i, i } end",
                     "memory", &o, 0, 2);
}

static void test_memory_cap_kills_huge_string_rep(void **st)
{
    (void)st;
    eng_opts_t o = opts_with(TEST_MEM_CAP, 0);
    escape_case_opts("local s = string.rep('x', 1 << 30) return ctx.block{ entity = s:sub(1, 1) }",
                     "memory", &o, 0, 2);
}

static void test_memory_cap_kills_string_doubling(void **st)
{
    (void)st;
    eng_opts_t o = opts_with(TEST_MEM_CAP, 0);
    escape_case_opts("local s = 'x' while true do s = s .. s end", "memory", &o, 0, 2);
}

static void test_memory_cap_swallowed_by_pcall_voids_the_verdict(void **st)
{
    (void)st;
    eng_opts_t o = opts_with(TEST_MEM_CAP, 0);
    escape_case_opts("local ok = pcall(string.rep, 'x', 1 << 30)\n"
                     "      return ctx.block{ entity = tostring(ok) }",
                     "memory", &o, 0, 2);
}

static void test_garbage_from_a_memory_bomb_does_not_fail_later_rules(void **st)
{
    (void)st;
    /* The bomb leaves its table as garbage right at the cap.  Later calls
     * that allocate must get their memory from an emergency collection, not
     * be reported as out of memory. */
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "a.bomb", NULL, FIELDS,
            "if ev.bomb then local t, i = {}, 0\n"
            "        while true do i = i + 1; t[i] = { i } end end");
    tu_rule(&p, "b.alloc", NULL, FIELDS,
            "local t = {}\n"
            "      for i = 1, 2000 do t[i] = { i } end\n"
            "      return ctx.flag{ entity = ev.id .. ':' .. #t }");
    eng_opts_t o = opts_with(TEST_MEM_CAP, 1000000000L);
    alarm(HANG_SECONDS);
    eng_engine_t *e = tu_engine(&p, &o);
    for (int i = 0; i < 5; i++) {
        const eng_outcome_t *out = tu_evalf(e, "\"bomb\":true");
        tu_assert_error(out, "a.bomb", "memory");
        tu_assert_no_error(out, "b.alloc");
        const eng_hit_t *h = tu_hit(out, "b.alloc");
        assert_non_null(h);
        assert_string_equal(tu_str(h->entity, h->entity_len), "e1:2000");
        out = tu_evalf(e, "\"bomb\":false");
        tu_assert_no_error(out, "a.bomb");
        tu_assert_no_error(out, "b.alloc");
        assert_non_null(tu_hit(out, "b.alloc"));
    }
    assert_int_equal(tu_stats(e, "a.bomb")->oom, 5);
    assert_int_equal(tu_stats(e, "b.alloc")->oom, 0);
    assert_int_equal(tu_stats(e, "b.alloc")->errors, 0);
    eng_engine_destroy(e);
    alarm(0);
    tu_pack_free(&p);
}

/* ---- recursion --------------------------------------------------------- */

static void test_deep_lua_recursion_fails_cleanly(void **st)
{
    (void)st;
    eng_opts_t o = opts_with(0, 1000000000L);
    escape_case_opts("local function f(n) return 1 + f(n + 1) end\n"
                     "      return ctx.block{ entity = tostring(f(1)) }",
                     "stack overflow", &o, 0, 0);
}

static void test_deep_c_recursion_through_metamethods_fails_cleanly(void **st)
{
    (void)st;
    escape_case("local t = setmetatable({}, {})\n"
                "      getmetatable(t).__index = function(s, k) return s[k] end\n"
                "      return ctx.block{ entity = t.x }",
                "stack overflow");
}

static void test_deep_c_recursion_through_gsub_fails_cleanly(void **st)
{
    (void)st;
    escape_case("local function f(s) return (string.gsub(s, '.', f)) end\n"
                "      return ctx.block{ entity = f('ab') }",
                "stack overflow");
}

static void test_deep_recursion_through_tostring_fails_cleanly(void **st)
{
    (void)st;
    escape_case("local t = setmetatable({}, {})\n"
                "      getmetatable(t).__tostring = function(s) return tostring(s) end\n"
                "      return ctx.block{ entity = tostring(t) }",
                "stack overflow");
}

/* ---- errors of every kind ---------------------------------------------- */

static void test_error_with_a_table_value_fails_cleanly(void **st)
{
    (void)st;
    escape_case("error({ code = 1 })", "error object is not a string");
}

static void test_error_with_ev_as_value_fails_cleanly(void **st)
{
    (void)st;
    escape_case("error(ev)", "error object is not a string");
}

static void test_vm_stays_healthy_after_every_kind_of_failure(void **st)
{
    (void)st;
    /* One rule that fails a different way on each event; a rule after it and
     * every later event still work. */
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "a.chaos", NULL, FIELDS,
            "local k = ev.k\n"
            "      if k == 1 then while true do end\n"
            "      elseif k == 2 then local t = {} for i = 1, 1e9 do t[i] = i end\n"
            "      elseif k == 3 then local function f() return 1 + f() end f()\n"
            "      elseif k == 4 then error('plain')\n"
            "      elseif k == 5 then return string.rep('y', 1 << 30)\n"
            "      elseif k == 6 then ev.k = 7\n"
            "      end\n"
            "      return ctx.review{ entity = 'k' .. k }");
    tu_rule(&p, "b.next", NULL, FIELDS, NEXT_RULE);
    eng_opts_t o = opts_with(TEST_MEM_CAP, 2000000);
    alarm(HANG_SECONDS);
    eng_engine_t *e = tu_engine(&p, &o);
    for (int round = 0; round < 2; round++) {
        for (int k = 1; k <= 7; k++) {
            const eng_outcome_t *out = tu_evalf(e, "\"k\":%d", k);
            assert_next_rule_ran(out, "e1");
            if (k == 7) {
                tu_assert_no_error(out, "a.chaos");
                assert_non_null(tu_hit(out, "a.chaos"));
            } else {
                assert_non_null(tu_error(out, "a.chaos"));
                assert_null(tu_hit(out, "a.chaos"));
            }
        }
    }
    const eng_rule_stats_t *s = tu_stats(e, "a.chaos");
    assert_int_equal(s->evals, 14);
    assert_int_equal(s->errors, 12);
    assert_int_equal(s->hits[RULE_VERDICT_REVIEW], 2);
    assert_true(s->timeouts >= 2);
    assert_true(s->oom >= 2);
    eng_engine_destroy(e);
    alarm(0);
    tu_pack_free(&p);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_io_open_is_absent),
        cmocka_unit_test(test_os_execute_is_absent),
        cmocka_unit_test(test_require_is_absent),
        cmocka_unit_test(test_load_is_absent),
        cmocka_unit_test(test_loadstring_is_absent),
        cmocka_unit_test(test_dofile_is_absent),
        cmocka_unit_test(test_loadfile_is_absent),
        cmocka_unit_test(test_string_dump_is_absent),
        cmocka_unit_test(test_string_dump_is_absent_as_a_method),
        cmocka_unit_test(test_debug_getregistry_is_absent),
        cmocka_unit_test(test_collectgarbage_is_absent),
        cmocka_unit_test(test_print_is_absent_rules_log_through_ctx),
        cmocka_unit_test(test_coroutine_and_package_are_absent),
        cmocka_unit_test(test_setmetatable_on_ev_fails),
        cmocka_unit_test(test_rawset_on_ev_fails),
        cmocka_unit_test(test_rawget_on_ev_reveals_nothing),
        cmocka_unit_test(test_rawset_on_ev_cannot_change_what_the_next_rule_sees),
        cmocka_unit_test(test_getmetatable_of_ev_is_locked),
        cmocka_unit_test(test_ctx_is_read_only),
        cmocka_unit_test(test_string_metatable_cannot_be_reached),
        cmocka_unit_test(test_string_metatable_cannot_be_replaced),
        cmocka_unit_test(test_setmetatable_with_gc_is_refused),
        cmocka_unit_test(test_setmetatable_still_works_for_plain_tables),
        cmocka_unit_test(test_globals_written_by_one_rule_are_invisible_to_another),
        cmocka_unit_test(test_library_changes_by_one_rule_are_invisible_to_another),
        cmocka_unit_test(test_string_methods_of_the_vandal_itself_stay_intact),
        cmocka_unit_test(test_budget_kills_infinite_loop),
        cmocka_unit_test(test_budget_kills_loop_even_under_pcall),
        cmocka_unit_test(test_budget_kills_loop_even_under_xpcall_with_looping_handler),
        cmocka_unit_test(test_xpcall_still_works_for_rules),
        cmocka_unit_test(test_budget_swallowed_by_pcall_voids_the_verdict),
        cmocka_unit_test(test_budget_kills_loop_in_a_metamethod),
        cmocka_unit_test(test_budget_kills_loop_in_a_sort_comparator),
        cmocka_unit_test(test_budget_error_names_rule_file_and_line),
        cmocka_unit_test(test_budget_is_per_evaluation_not_cumulative),
        cmocka_unit_test(test_instruction_counts_scale_with_the_work_of_short_rules),
        cmocka_unit_test(test_budget_is_exact_at_its_edge),
        cmocka_unit_test(test_budget_kills_loop_at_load_time),
        cmocka_unit_test(test_time_limit_kills_loop_when_budget_is_huge),
        cmocka_unit_test(test_time_limit_kills_loop_even_under_pcall),
        cmocka_unit_test(test_c_library_loops_are_bounded),
        cmocka_unit_test(test_empty_string_rep_is_instant),
        cmocka_unit_test(test_bounded_library_functions_keep_their_answers),
        cmocka_unit_test(test_ordinary_patterns_on_long_subjects_are_allowed),
        cmocka_unit_test(test_ctx_reads_are_charged_for_their_work),
        cmocka_unit_test(test_time_limit_kills_c_loop_at_load_time),
        cmocka_unit_test(test_memory_cap_kills_table_growth),
        cmocka_unit_test(test_memory_cap_kills_huge_string_rep),
        cmocka_unit_test(test_memory_cap_kills_string_doubling),
        cmocka_unit_test(test_memory_cap_swallowed_by_pcall_voids_the_verdict),
        cmocka_unit_test(test_garbage_from_a_memory_bomb_does_not_fail_later_rules),
        cmocka_unit_test(test_deep_lua_recursion_fails_cleanly),
        cmocka_unit_test(test_deep_c_recursion_through_metamethods_fails_cleanly),
        cmocka_unit_test(test_deep_c_recursion_through_gsub_fails_cleanly),
        cmocka_unit_test(test_deep_recursion_through_tostring_fails_cleanly),
        cmocka_unit_test(test_error_with_a_table_value_fails_cleanly),
        cmocka_unit_test(test_error_with_ev_as_value_fails_cleanly),
        cmocka_unit_test(test_vm_stays_healthy_after_every_kind_of_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
