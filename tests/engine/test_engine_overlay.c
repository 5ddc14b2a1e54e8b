/* tests/engine/test_engine_overlay.c — ctx.in_list and ctx.has_label
 * through a real engine with runtime entries (rules/rule_overlay.h): an
 * event sees a change from its effective time on, by the event's time and
 * not by when it is evaluated; a delete masks a file entry; a CIDR list
 * ignores runtime entries; a manual label is seen until its ttl ends and
 * alongside rule-set labels; no overlay is the file alone. */
#include "tests/rules/testutil.h"
#include "rules/rule_overlay.h"

static void rec(rule_overlay_t *ov, const char *key, const char *val)
{
    char err[256];
    if (rule_overlay_apply(ov, key, strlen(key), val, val ? strlen(val) : 0, 0, err, sizeof err) != 0)
        fail_msg("%s: %s", key, err);
}

static eng_engine_t *pack(tu_pack_t *p)
{
    tu_pack_init(p);
    tu_write(p, "lists/ips.txt", "9.9.9.9\n");
    tu_write(p, "lists/nets.cidr", "10.0.0.0/8\n");
    tu_rule(p, "ip", NULL, "{ \"ip\" }", "if ctx.in_list(\"ips\", ev.ip) then return ctx.block{ entity = ev.ip } end");
    tu_rule(p, "net", NULL, "{ \"ip\" }", "if ctx.in_list(\"nets\", ev.ip) then return ctx.flag{ entity = ev.ip } end");
    tu_rule(p, "lab", NULL, "{ \"user\" }",
            "if ctx.has_label(ev.user, \"fraud\") then return ctx.review{ entity = ev.user } end");
    return tu_engine(p, NULL);
}

static int hit(eng_engine_t *e, const char *rule, long ts, const char *ip, const char *user)
{
    char json[256];
    snprintf(json, sizeof json, "{\"type\":\"s\",\"ts\":%ld,\"ip\":\"%s\",\"user\":\"%s\"}", ts, ip, user);
    const eng_outcome_t *o = tu_eval_raw(e, json);
    assert_int_equal(o->status, ENG_EVENT_OK);
    return tu_hit(o, rule) != NULL;
}

static void test_in_list_follows_the_effective_time_not_the_evaluation_order(void **st)
{
    (void)st;
    tu_pack_t p;
    eng_engine_t *e = pack(&p);
    rule_overlay_t *ov = rule_overlay_new();
    assert_false(hit(e, "ip", 5000, "1.1.1.1", "u"));
    eng_engine_set_overlay(e, ov);
    rec(ov, "list/ips/1.1.1.1", "{\"op\":\"add\",\"time\":5000}");
    assert_true(hit(e, "ip", 5000, "1.1.1.1", "u"));
    assert_false(hit(e, "ip", 4999, "1.1.1.1", "u"));   /* evaluated later, earlier event time */
    assert_true(hit(e, "ip", 1000, "9.9.9.9", "u"));    /* the file */
    rec(ov, "list/ips/9.9.9.9", "{\"op\":\"del\",\"time\":6000}");
    assert_true(hit(e, "ip", 5999, "9.9.9.9", "u"));
    assert_false(hit(e, "ip", 6000, "9.9.9.9", "u"));   /* masked */
    rec(ov, "list/nets/11.0.0.1", "{\"op\":\"add\",\"time\":0}");
    assert_false(hit(e, "net", 7000, "11.0.0.1", "u"));  /* CIDR lists: the file only */
    assert_true(hit(e, "net", 7000, "10.2.3.4", "u"));
    eng_engine_set_overlay(e, NULL);
    assert_false(hit(e, "ip", 9000, "1.1.1.1", "u"));
    assert_true(hit(e, "ip", 9000, "9.9.9.9", "u"));
    eng_engine_destroy(e);
    rule_overlay_destroy(ov);
    tu_pack_free(&p);
}

static void test_manual_label_is_seen_from_its_time_until_its_ttl(void **st)
{
    (void)st;
    tu_pack_t p;
    eng_engine_t *e = pack(&p);
    rule_overlay_t *ov = rule_overlay_new();
    eng_engine_set_overlay(e, ov);
    rec(ov, "label/user/fraud/u1", "{\"op\":\"add\",\"time\":60000,\"ttl\":\"1m\",\"reason\":\"r\"}");
    assert_false(hit(e, "lab", 59999, "0.0.0.0", "u1"));
    assert_true(hit(e, "lab", 60000, "0.0.0.0", "u1"));
    assert_true(hit(e, "lab", 119999, "0.0.0.0", "u1"));
    assert_false(hit(e, "lab", 120000, "0.0.0.0", "u1"));
    assert_false(hit(e, "lab", 60000, "0.0.0.0", "u2"));
    eng_engine_destroy(e);
    rule_overlay_destroy(ov);
    tu_pack_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_list_follows_the_effective_time_not_the_evaluation_order),
        cmocka_unit_test(test_manual_label_is_seen_from_its_time_until_its_ttl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
