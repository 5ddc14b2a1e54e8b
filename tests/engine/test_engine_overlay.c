/* tests/engine/test_engine_overlay.c — ctx.in_list and ctx.has_label
 * through a real engine with runtime entries (rules/rule_overlay.h): an
 * event sees a change from its effective time on, by the event's time and
 * not by when it is evaluated; a delete masks a file entry; a CIDR list
 * takes runtime ranges (longest prefix wins); a manual label is seen until its ttl ends and
 * alongside rule-set labels; no overlay is the file alone; a hit names
 * the labels its evaluation set; an undo's deletion hides a rule-set
 * label up to its bound, and a later set past the bound is seen again. */
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
    /* CIDR lists: runtime ranges and addresses, the longest prefix decides. */
    rec(ov, "list/nets/11.0.0.0/8", "{\"op\":\"add\",\"time\":7000}");
    assert_false(hit(e, "net", 6999, "11.1.2.3", "u"));
    assert_true(hit(e, "net", 7000, "11.1.2.3", "u"));
    assert_true(hit(e, "net", 7000, "::ffff:11.255.0.1", "u"));
    assert_false(hit(e, "net", 7000, "12.0.0.1", "u"));
    rec(ov, "list/nets/11.9.0.0/16", "{\"op\":\"del\",\"time\":7000}");
    assert_false(hit(e, "net", 7000, "11.9.1.1", "u"));   /* the longer deleted range */
    assert_true(hit(e, "net", 7000, "11.8.1.1", "u"));
    rec(ov, "list/nets/10.1.0.0/16", "{\"op\":\"del\",\"time\":7000}");
    assert_false(hit(e, "net", 7000, "10.1.2.3", "u"));   /* masks the file's 10.0.0.0/8 there */
    assert_true(hit(e, "net", 7000, "10.2.3.4", "u"));
    rec(ov, "list/nets/2001:db8::7", "{\"op\":\"add\",\"time\":7000}");
    assert_true(hit(e, "net", 7000, "2001:db8::7", "u"));
    assert_false(hit(e, "net", 7000, "2001:db8::8", "u"));
    rec(ov, "list/nets/not-an-address", "{\"op\":\"add\",\"time\":7000}");
    assert_false(hit(e, "net", 7000, "not-an-address", "u"));   /* never a range */
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

/* The setter labels the user (and the device, another entity) and flags
 * the user; "quiet" labels without a verdict; "lab" reads the label. */
static eng_engine_t *label_pack(tu_pack_t *p)
{
    tu_pack_init(p);
    tu_rule(p, "set", NULL, "{ \"user\", \"mark\", \"dev\" }",
            "if ev.mark then ctx.label(ev.user, \"fraud\", \"1m\"); ctx.label(ev.dev, \"bad_dev\", \"2m\"); "
            "return ctx.flag{ entity = ev.user } end");
    tu_rule(p, "quiet", NULL, "{ \"user\", \"mark\" }", "if ev.mark then ctx.label(ev.user, \"other\", \"1h\") end");
    tu_rule(p, "lab", NULL, "{ \"user\" }",
            "if ctx.has_label(ev.user, \"fraud\") then return ctx.review{ entity = ev.user } end");
    return tu_engine(p, NULL);
}

static const eng_outcome_t *ev(eng_engine_t *e, long ts, const char *user, int mark)
{
    char json[256];
    snprintf(json, sizeof json, "{\"type\":\"s\",\"ts\":%ld,\"user\":\"%s\",\"dev\":\"d1\",\"mark\":%s}", ts,
             user, mark ? "true" : "false");
    const eng_outcome_t *o = tu_eval_raw(e, json);
    assert_int_equal(o->status, ENG_EVENT_OK);
    return o;
}

static void test_hit_names_the_labels_its_evaluation_set(void **st)
{
    (void)st;
    tu_pack_t p;
    eng_engine_t *e = label_pack(&p);
    const eng_outcome_t *o = ev(e, 1000, "u1", 1);
    const eng_hit_t *h = tu_hit(o, "set");
    assert_non_null(h);
    assert_non_null(h->labels);
    assert_string_equal(h->labels, "[{\"label\":\"fraud\",\"ttl_ms\":60000,\"expires\":\"1970-01-01T00:01:01Z\"},"
                                   "{\"label\":\"bad_dev\",\"ttl_ms\":120000,\"expires\":\"1970-01-01T00:02:01Z\","
                                   "\"entity\":\"d1\"}]");
    assert_int_equal(h->labels_len, strlen(h->labels));
    o = ev(e, 2000, "u1", 0);
    h = tu_hit(o, "lab");
    assert_non_null(h);
    assert_null(h->labels);   /* it set none; "quiet"'s label went to no hit */
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_undo_deletion_hides_a_rule_label_up_to_its_bound(void **st)
{
    (void)st;
    tu_pack_t p;
    eng_engine_t *e = label_pack(&p);
    rule_overlay_t *ov = rule_overlay_new();
    eng_engine_set_overlay(e, ov);
    ev(e, 1000, "u1", 1);   /* fraud on u1 until 61000 */
    ev(e, 1000, "u2", 1);   /* and on u2 */
    rec(ov, "label/user/fraud/u1", "{\"op\":\"del\",\"time\":5000,\"who\":\"undo:x\",\"rule_labels_until\":61000}");
    assert_non_null(tu_hit(ev(e, 4999, "u1", 0), "lab"));   /* before the deletion's time */
    assert_null(tu_hit(ev(e, 5000, "u1", 0), "lab"));
    assert_null(tu_hit(ev(e, 60000, "u1", 0), "lab"));
    assert_non_null(tu_hit(ev(e, 5000, "u2", 0), "lab"));   /* another entity keeps it */
    ev(e, 10000, "u1", 1);   /* set again: until 70000, past the bound */
    assert_non_null(tu_hit(ev(e, 11000, "u1", 0), "lab"));
    /* A plain DELETE (no bound) leaves rule-set labels alone. */
    rec(ov, "label/user/fraud/u2", "{\"op\":\"del\",\"time\":5000,\"who\":\"tok\"}");
    assert_non_null(tu_hit(ev(e, 12000, "u2", 0), "lab"));
    char err[256];
    const char *bad = "{\"op\":\"add\",\"time\":1,\"ttl\":\"1m\",\"rule_labels_until\":5}";
    assert_int_equal(rule_overlay_apply(ov, "label/user/fraud/u3", 19, bad, strlen(bad), 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "rule_labels_until"));
    eng_engine_destroy(e);
    rule_overlay_destroy(ov);
    tu_pack_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_list_follows_the_effective_time_not_the_evaluation_order),
        cmocka_unit_test(test_manual_label_is_seen_from_its_time_until_its_ttl),
        cmocka_unit_test(test_hit_names_the_labels_its_evaluation_set),
        cmocka_unit_test(test_undo_deletion_hides_a_rule_label_up_to_its_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
