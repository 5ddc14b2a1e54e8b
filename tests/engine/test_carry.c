/* tests/engine/test_carry.c — the engine's side of the repartitioned path
 * (engine/eng_engine.h): a hop keeps the counters of its key and reads back
 * every window for the event's own key (even when the event does not feed
 * the counter); the last hop answers ctx.count/ctx.distinct of counters kept
 * upstream from the carried values, for the event's own key only, and counts
 * label calls off the evaluation key. */
#include "tests/rules/testutil.h"
#include "rules/rule_counters.h"
#include "state/state.h"

static eng_engine_t *spray_engine(tu_pack_t *p)
{
    tu_pack_init(p);
    tu_write(p, "counters.lua",
             "return {\n"
             "  { name = \"by_user\", stream = \"s\", key = \"user\", windows = { \"1h\" } },\n"
             "  { name = \"users_by_ip\", stream = \"s\", key = \"ip\", distinct = \"user\",\n"
             "    where = { ok = false }, windows = { \"1h\", \"1d\" } },\n"
             "}\n");
    tu_rule(p, "r", NULL, "{ \"user\", \"ip\", \"other\" }",
            "    local n = ctx.distinct(\"users_by_ip\", ev.other or ev.ip, \"1d\")\n"
            "    ctx.label(ev.user, \"seen\", \"1h\")\n"
            "    return ctx.flag{ entity = ev.user, reason = tostring(n) .. \"/\" .. ctx.count(\"by_user\", ev.user, \"1h\") }");
    return tu_engine(p, NULL);
}

static void test_a_hop_reads_back_every_window_for_the_events_own_key(void **unused)
{
    (void)unused;
    tu_pack_t p;
    eng_engine_t *e = spray_engine(&p);
    state_t *st = state_new_like(eng_engine_state(e));
    size_t nv = eng_engine_value_slots(e);
    assert_int_equal(nv, 3);   /* by_user 1h; users_by_ip 1h, 1d */
    unsigned char local[2] = { 0, 1 }, have[3];
    int64_t vals[3];
    const eng_outcome_t *o;
    wd_jval_t root;
    const char *evs[] = {
        "{\"type\":\"s\",\"ts\":1000,\"user\":\"a\",\"ip\":\"1\",\"ok\":false}",
        "{\"type\":\"s\",\"ts\":2000,\"user\":\"b\",\"ip\":\"1\",\"ok\":false}",
        "{\"type\":\"s\",\"ts\":3000,\"user\":\"c\",\"ip\":\"1\",\"ok\":true}",   /* does not feed it */
    };
    for (int i = 0; i < 3; i++) {
        memset(have, 0, sizeof have);
        assert_int_equal(eng_engine_hop(e, st, evs[i], strlen(evs[i]), NULL, local, vals, have, &o, &root), 0);
        assert_int_equal(o->status, ENG_EVENT_OK);
        size_t s = eng_engine_value_slot(e, 1);
        assert_int_equal(have[0], 0);   /* by_user is not kept here */
        assert_int_equal(have[s], 1);
        assert_int_equal(have[s + 1], 1);
        assert_int_equal(vals[s + 1], i == 0 ? 1 : 2);
    }
    state_destroy(st);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_the_last_hop_answers_from_carried_values_for_the_own_key_only(void **unused)
{
    (void)unused;
    tu_pack_t p;
    eng_engine_t *e = spray_engine(&p);
    unsigned char local[2] = { 1, 0 }, have[3] = { 0, 1, 1 };
    int64_t vals[3] = { 0, 7, 20 };
    eng_carry_t c = { local, vals, have, "a", 1 };
    const char *ev = "{\"type\":\"s\",\"ts\":1000,\"user\":\"a\",\"ip\":\"1\",\"ok\":false}";
    const eng_outcome_t *o;
    assert_int_equal(eng_engine_eval_carry(e, NULL, ev, strlen(ev), NULL, &c, &o), 0);
    tu_assert_no_error(o, "r");
    const eng_hit_t *h = tu_hit(o, "r");
    assert_non_null(h);
    /* 20: the carried 1d value, not the state's (the hop kept it); 1: by_user, kept here */
    assert_string_equal(tu_str(h->reason, h->reason_len), "20/1");
    assert_int_equal(o->labels_off_key, 0);

    /* Another key of a counter kept upstream is an error, never a guess. */
    const char *other = "{\"type\":\"s\",\"ts\":2000,\"user\":\"a\",\"ip\":\"1\",\"other\":\"2\",\"ok\":false}";
    assert_int_equal(eng_engine_eval_carry(e, NULL, other, strlen(other), NULL, &c, &o), 0);
    tu_assert_error(o, "r", "only the event's own key '1' can be read, not '2'");

    /* A label on an entity other than the evaluation key is counted. */
    eng_carry_t c2 = { local, vals, have, "zzz", 3 };
    assert_int_equal(eng_engine_eval_carry(e, NULL, ev, strlen(ev), NULL, &c2, &o), 0);
    assert_int_equal(o->labels_off_key, 1);

    /* Without a carry, the engine counts everything itself (warden eval):
     * users_by_ip from its own state now (1), by_user the 4th event of a. */
    assert_int_equal(eng_engine_eval(e, NULL, ev, strlen(ev), NULL, &o), 0);
    h = tu_hit(o, "r");
    assert_non_null(h);
    assert_string_equal(tu_str(h->reason, h->reason_len), "1/4");
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_hop_reads_back_every_window_for_the_events_own_key),
        cmocka_unit_test(test_the_last_hop_answers_from_carried_values_for_the_own_key_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
