/* tests/rules/test_verdict.c — the verdict API (ctx.block/review/flag in
 * rules/rule_lua_ctx.c) and the event's decision (engine/eng_engine.c):
 * what a verdict carries, how bad arguments fail (a rule error naming the
 * field, never a crash), what counts as a hit, severity among enforce-mode
 * rules, shadow and off modes, and name order. */
#include <math.h>

#include "tests/rules/testutil.h"

/* One rule "r" with body; evaluates one event and returns the engine (the
 * outcome in *out).  The caller destroys the engine and frees the pack. */
static eng_engine_t *one_rule(tu_pack_t *p, const char *body, const eng_outcome_t **out)
{
    tu_pack_init(p);
    tu_rule(p, "r", NULL, "{ \"user\" }", body);
    eng_engine_t *e = tu_engine(p, NULL);
    *out = tu_evalf(e, "\"user\":{\"id\":\"u1\",\"n\":42}");
    return e;
}

static void done(tu_pack_t *p, eng_engine_t *e)
{
    eng_engine_destroy(e);
    tu_pack_free(p);
}

/* Expects rule "r" to fail with a message containing want, and no hit. */
static void expect_rule_error(const char *body, const char *want)
{
    tu_pack_t p;
    const eng_outcome_t *o;
    eng_engine_t *e = one_rule(&p, body, &o);
    tu_assert_error(o, "r", want);
    assert_int_equal(o->nhits, 0);
    assert_int_equal(o->decision, RULE_VERDICT_NONE);
    assert_int_equal(tu_stats(e, "r")->errors, 1);
    /* The message points at the rule's file and line. */
    char where[128];
    snprintf(where, sizeof where, "%s/r.lua:%s", p.dir, strchr(body, '\n') ? "8: " : "7: ");
    if (strncmp(tu_error(o, "r"), where, strlen(where)) != 0)
        fail_msg("\"%s\" does not start with \"%s\"", tu_error(o, "r"), where);
    done(&p, e);
}

/* ---- what a verdict carries -------------------------------------------- */

static void test_block_carries_entity_reason_score_ttl(void **st)
{
    (void)st;
    tu_pack_t p;
    const eng_outcome_t *o;
    eng_engine_t *e = one_rule(&p,
        "return ctx.block{ entity = ev.user.id, reason = 'link burst', score = 0.9, ttl = '1d' }", &o);
    tu_assert_no_error(o, "r");
    assert_int_equal(o->nhits, 1);
    const eng_hit_t *h = &o->hits[0];
    assert_string_equal(h->rule, "r");
    assert_int_equal(h->version, 1);
    assert_int_equal(h->mode, RULE_MODE_ENFORCE);
    assert_int_equal(h->verdict, RULE_VERDICT_BLOCK);
    assert_string_equal(tu_str(h->entity, h->entity_len), "u1");
    assert_string_equal(tu_str(h->reason, h->reason_len), "link burst");
    assert_true(h->has_score);
    assert_true(h->score == 0.9);
    assert_string_equal(h->ttl, "1d");
    assert_int_equal(o->decision, RULE_VERDICT_BLOCK);
    assert_string_equal(tu_str(o->decision_entity, o->decision_entity_len), "u1");
    assert_string_equal(o->decision_ttl, "1d");
    assert_int_equal(o->ndecision_rules, 1);
    assert_string_equal(o->decision_rules[0], "r");
    assert_int_equal(tu_stats(e, "r")->hits[RULE_VERDICT_BLOCK], 1);
    done(&p, e);
}

static void test_review_and_flag_make_their_verdicts(void **st)
{
    (void)st;
    static const struct { const char *call; int verdict; } k[] = {
        { "review", RULE_VERDICT_REVIEW }, { "flag", RULE_VERDICT_FLAG }, { "block", RULE_VERDICT_BLOCK },
    };
    for (size_t i = 0; i < 3; i++) {
        char body[128];
        snprintf(body, sizeof body, "return ctx.%s{ entity = 'u9' }", k[i].call);
        tu_pack_t p;
        const eng_outcome_t *o;
        eng_engine_t *e = one_rule(&p, body, &o);
        assert_int_equal(o->nhits, 1);
        assert_int_equal(o->hits[0].verdict, k[i].verdict);
        assert_int_equal(o->decision, k[i].verdict);
        assert_string_equal(rule_verdict_name(o->hits[0].verdict), k[i].call);
        done(&p, e);
    }
}

static void test_only_entity_is_required(void **st)
{
    (void)st;
    tu_pack_t p;
    const eng_outcome_t *o;
    eng_engine_t *e = one_rule(&p, "return ctx.flag{ entity = 'u1' }", &o);
    assert_int_equal(o->nhits, 1);
    const eng_hit_t *h = &o->hits[0];
    assert_null(h->reason);
    assert_false(h->has_score);
    assert_null(h->ttl);
    done(&p, e);
}

static void test_integer_score_is_a_score(void **st)
{
    (void)st;
    tu_pack_t p;
    const eng_outcome_t *o;
    eng_engine_t *e = one_rule(&p, "return ctx.flag{ entity = 'u1', score = 1 }", &o);
    assert_int_equal(o->nhits, 1);
    assert_true(o->hits[0].has_score);
    assert_true(o->hits[0].score == 1.0);
    done(&p, e);
}

static void test_entity_integer_becomes_its_decimal_string(void **st)
{
    (void)st;
    tu_pack_t p;
    const eng_outcome_t *o;
    eng_engine_t *e = one_rule(&p, "return ctx.flag{ entity = ev.user.n }", &o);
    assert_int_equal(o->nhits, 1);
    assert_string_equal(tu_str(o->hits[0].entity, o->hits[0].entity_len), "42");
    done(&p, e);
}

static void test_entity_float_becomes_a_string(void **st)
{
    (void)st;
    tu_pack_t p;
    const eng_outcome_t *o;
    eng_engine_t *e = one_rule(&p, "return ctx.flag{ entity = 1.5 }", &o);
    assert_int_equal(o->nhits, 1);
    assert_string_equal(tu_str(o->hits[0].entity, o->hits[0].entity_len), "1.5");
    done(&p, e);
}

static void test_entity_and_reason_keep_embedded_nul_bytes(void **st)
{
    (void)st;
    tu_pack_t p;
    const eng_outcome_t *o;
    eng_engine_t *e = one_rule(&p, "return ctx.flag{ entity = 'a\\0b', reason = 'x\\0y' }", &o);
    assert_int_equal(o->nhits, 1);
    assert_int_equal(o->hits[0].entity_len, 3);
    assert_memory_equal(o->hits[0].entity, "a\0b", 3);
    assert_int_equal(o->hits[0].reason_len, 3);
    done(&p, e);
}

/* ---- bad arguments are rule errors naming the field -------------------- */

static void test_missing_entity_is_a_rule_error(void **st)
{
    (void)st;
    expect_rule_error("return ctx.block{ reason = 'no entity' }", "ctx.block: 'entity' is required");
}

static void test_nil_entity_from_a_missing_field_is_a_rule_error(void **st)
{
    (void)st;
    expect_rule_error("return ctx.review{ entity = ev.user.nope }", "ctx.review: 'entity' is required");
}

static void test_empty_entity_is_a_rule_error(void **st)
{
    (void)st;
    expect_rule_error("return ctx.flag{ entity = '' }", "ctx.flag: 'entity' is empty");
}

static void test_entity_boolean_is_a_rule_error(void **st)
{
    (void)st;
    expect_rule_error("return ctx.flag{ entity = true }",
                      "'entity' must be a string or number, got boolean");
}

static void test_entity_table_is_a_rule_error(void **st)
{
    (void)st;
    expect_rule_error("return ctx.flag{ entity = ev.user }", "'entity' must be a string or number");
}

static void test_reason_number_is_a_rule_error(void **st)
{
    (void)st;
    expect_rule_error("return ctx.block{ entity = 'u1', reason = 42 }",
                      "ctx.block: 'reason' must be a string, got number");
}

static void test_score_string_is_a_rule_error(void **st)
{
    (void)st;
    expect_rule_error("return ctx.block{ entity = 'u1', score = 'x' }",
                      "ctx.block: 'score' must be a finite number, got string");
}

static void test_score_nan_is_a_rule_error(void **st)
{
    (void)st;
    expect_rule_error("return ctx.block{ entity = 'u1', score = 0/0 }",
                      "'score' must be a finite number, got a non-finite number");
}

static void test_score_inf_is_a_rule_error(void **st)
{
    (void)st;
    expect_rule_error("return ctx.flag{ entity = 'u1', score = math.huge }",
                      "'score' must be a finite number");
}

static void test_ttl_free_text_is_a_rule_error(void **st)
{
    (void)st;
    expect_rule_error("return ctx.block{ entity = 'u1', ttl = '5 minutes' }",
                      "ctx.block: 'ttl' must be a duration such as \"30m\" or \"1d\", got 5 minutes");
}

static void test_ttl_number_is_a_rule_error(void **st)
{
    (void)st;
    expect_rule_error("return ctx.block{ entity = 'u1', ttl = 300 }", "'ttl' must be a duration");
}

static void test_unknown_field_is_a_rule_error(void **st)
{
    (void)st;
    expect_rule_error("return ctx.block{ entity = 'u1', reasn = 'typo' }",
                      "ctx.block: unknown field 'reasn'");
}

static void test_positional_field_is_a_rule_error(void **st)
{
    (void)st;
    expect_rule_error("return ctx.flag{ 'u1' }", "ctx.flag: unknown field");
}

static void test_verdict_without_a_table_is_a_rule_error(void **st)
{
    (void)st;
    expect_rule_error("return ctx.block('u1')", "ctx.block: expected a table");
}

static void test_method_call_syntax_is_a_rule_error(void **st)
{
    (void)st;
    expect_rule_error("return ctx:block{ entity = 'u1' }", "ctx.block: expected a table");
}

/* ---- what counts as a hit ---------------------------------------------- */

static void test_returning_a_plain_table_is_a_rule_error(void **st)
{
    (void)st;
    tu_pack_t p;
    const eng_outcome_t *o;
    eng_engine_t *e = one_rule(&p, "return { verdict = 'block', entity = 'u1' }", &o);
    tu_assert_error(o, "r", "evaluate returned table");
    assert_int_equal(o->nhits, 0);
    done(&p, e);
}

static void test_returning_a_table_with_a_foreign_metatable_is_a_rule_error(void **st)
{
    (void)st;
    tu_pack_t p;
    const eng_outcome_t *o;
    eng_engine_t *e = one_rule(&p, "return setmetatable({ verdict = 'block', entity = 'u1' }, {})", &o);
    tu_assert_error(o, "r", "evaluate returned table");
    assert_int_equal(o->nhits, 0);
    done(&p, e);
}

static void test_returning_a_string_is_a_rule_error(void **st)
{
    (void)st;
    tu_pack_t p;
    const eng_outcome_t *o;
    eng_engine_t *e = one_rule(&p, "return 'block'", &o);
    tu_assert_error(o, "r", "evaluate returned string");
    char where[128];
    snprintf(where, sizeof where, "%s/r.lua:6: ", p.dir);   /* evaluate's line */
    assert_true(strncmp(tu_error(o, "r"), where, strlen(where)) == 0);
    done(&p, e);
}

static void test_returning_a_number_is_a_rule_error(void **st)
{
    (void)st;
    tu_pack_t p;
    const eng_outcome_t *o;
    eng_engine_t *e = one_rule(&p, "return 3", &o);
    tu_assert_error(o, "r", "evaluate returned number");
    done(&p, e);
}

static void test_returning_false_is_no_hit(void **st)
{
    (void)st;
    /* The idiom `return cond and ctx.block{...}` yields false when cond fails. */
    tu_pack_t p;
    const eng_outcome_t *o;
    eng_engine_t *e = one_rule(&p, "return ev.nope ~= nil and ctx.block{ entity = 'u1' }", &o);
    tu_assert_no_error(o, "r");
    assert_int_equal(o->nhits, 0);
    done(&p, e);
}

static void test_verdict_not_returned_is_no_hit(void **st)
{
    (void)st;
    tu_pack_t p;
    const eng_outcome_t *o;
    eng_engine_t *e = one_rule(&p, "local v = ctx.block{ entity = 'u1' }", &o);
    tu_assert_no_error(o, "r");
    assert_int_equal(o->nhits, 0);
    assert_int_equal(o->decision, RULE_VERDICT_NONE);
    assert_int_equal(tu_stats(e, "r")->evals, 1);
    done(&p, e);
}

static void test_returning_nothing_is_no_hit(void **st)
{
    (void)st;
    tu_pack_t p;
    const eng_outcome_t *o;
    eng_engine_t *e = one_rule(&p, "return nil", &o);
    tu_assert_no_error(o, "r");
    assert_int_equal(o->nhits, 0);
    done(&p, e);
}

static void test_only_the_first_return_value_counts(void **st)
{
    (void)st;
    tu_pack_t p;
    const eng_outcome_t *o;
    eng_engine_t *e = one_rule(&p, "return ctx.flag{ entity = 'a' }, ctx.block{ entity = 'b' }", &o);
    assert_int_equal(o->nhits, 1);
    assert_int_equal(o->hits[0].verdict, RULE_VERDICT_FLAG);
    done(&p, e);
}

static void test_verdict_cannot_be_changed_after_validation(void **st)
{
    (void)st;
    /* Fields of a verdict exist, so __newindex alone never sees these
     * assignments: the validated values must still be what counts. */
    expect_rule_error("local v = ctx.block{ entity = 'u1', score = 0.5 }\n"
                      "      v.score = 0/0",
                      "read-only");
    expect_rule_error("local v = ctx.block{ entity = 'u1', score = 0.5 }\n"
                      "      v.entity = {}",
                      "read-only");
    expect_rule_error("local v = ctx.flag{ entity = 'u1' }\n"
                      "      v.verdict = 'block'",
                      "read-only");
    expect_rule_error("local v = ctx.flag{ entity = 'u1' }\n"
                      "      rawset(v, 'ttl', 'forever')",
                      "bad argument #1 to 'rawset'");
}

static void test_verdict_fields_can_be_read(void **st)
{
    (void)st;
    tu_pack_t p;
    const eng_outcome_t *o;
    eng_engine_t *e = one_rule(&p,
        "local v = ctx.review{ entity = 'u1', reason = 'why', score = 0.25, ttl = '2h' }\n"
        "      return ctx.flag{ entity = table.concat({ v.verdict, v.entity, v.reason,\n"
        "                                               tostring(v.score), v.ttl, type(v) }, ',') }", &o);
    tu_assert_no_error(o, "r");
    assert_int_equal(o->nhits, 1);
    assert_string_equal(tu_str(o->hits[0].entity, o->hits[0].entity_len),
                        "review,u1,why,0.25,2h,table");
    done(&p, e);
}

/* ---- decision, modes, order -------------------------------------------- */

static void test_decision_is_the_most_severe_enforce_verdict(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "a.flag", NULL, NULL, "return ctx.flag{ entity = 'uf', ttl = '1h' }");
    tu_rule(&p, "b.block", NULL, NULL, "return ctx.block{ entity = 'ub', ttl = '1d' }");
    tu_rule(&p, "c.review", NULL, NULL, "return ctx.review{ entity = 'ur', ttl = '2d' }");
    tu_rule(&p, "d.quiet", NULL, NULL, "return");
    eng_engine_t *e = tu_engine(&p, NULL);
    const eng_outcome_t *o = tu_evalf(e, "%s", "");
    assert_int_equal(o->nhits, 3);
    assert_int_equal(o->decision, RULE_VERDICT_BLOCK);
    assert_string_equal(tu_str(o->decision_entity, o->decision_entity_len), "ub");
    assert_string_equal(o->decision_ttl, "1d");
    assert_int_equal(o->ndecision_rules, 3);
    assert_string_equal(o->decision_rules[0], "a.flag");
    assert_string_equal(o->decision_rules[1], "b.block");
    assert_string_equal(o->decision_rules[2], "c.review");
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

/* Actions (format v2): one per (entity_type, entity), each with its own
 * most severe verdict, the ttl of the first rule giving it, and every
 * enforce-mode hit on it; shadow hits make none; the same value under two
 * types is two entities. */
static void test_actions_are_one_per_typed_entity(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "a.ip_block", NULL, NULL,
            "return ctx.block{ entity = '1.2.3.4', entity_type = 'ip', ttl = '1h' }");
    tu_rule(&p, "b.user_review", NULL, NULL, "return ctx.review{ entity = 'u1', entity_type = 'user' }");
    tu_rule(&p, "c.user_block", NULL, NULL,
            "return ctx.block{ entity = 'u1', entity_type = 'user', ttl = '2d' }");
    tu_rule(&p, "d.user_block_too", NULL, NULL,
            "return ctx.block{ entity = 'u1', entity_type = 'user', ttl = '9d' }");
    tu_rule(&p, "e.untyped", NULL, NULL, "return ctx.flag{ entity = 'u1' }");
    tu_rule(&p, "f.shadow", "shadow", NULL, "return ctx.block{ entity = 'u9', entity_type = 'user' }");
    eng_engine_t *e = tu_engine(&p, NULL);
    const eng_outcome_t *o = tu_evalf(e, "%s", "");
    assert_int_equal(o->nhits, 6);
    assert_string_equal(o->hits[0].entity_type, "ip");
    assert_string_equal(o->hits[4].entity_type, RULE_ENTITY_TYPE_DEFAULT);
    assert_int_equal(o->nactions, 3);
    const eng_action_t *a = &o->actions[0];
    assert_string_equal(a->entity_type, "ip");
    assert_string_equal(tu_str(a->entity, a->entity_len), "1.2.3.4");
    assert_int_equal(a->verdict, RULE_VERDICT_BLOCK);
    assert_string_equal(a->ttl, "1h");
    assert_int_equal(a->nhits, 1);
    assert_int_equal(a->hits[0], 0);
    a = &o->actions[1];
    assert_string_equal(a->entity_type, "user");
    assert_string_equal(tu_str(a->entity, a->entity_len), "u1");
    assert_int_equal(a->verdict, RULE_VERDICT_BLOCK);
    assert_string_equal(a->ttl, "2d");
    assert_int_equal(a->nhits, 3);
    assert_int_equal(a->hits[0], 1);
    assert_int_equal(a->hits[1], 2);
    assert_int_equal(a->hits[2], 3);
    a = &o->actions[2];
    assert_string_equal(a->entity_type, "unknown");
    assert_int_equal(a->verdict, RULE_VERDICT_FLAG);
    assert_null(a->ttl);
    /* The v1 decision is unchanged: the first most severe verdict's entity. */
    assert_int_equal(o->decision, RULE_VERDICT_BLOCK);
    assert_string_equal(tu_str(o->decision_entity, o->decision_entity_len), "1.2.3.4");
    assert_int_equal(o->ndecision_rules, 5);
    /* The next event starts with no actions. */
    o = tu_evalf(e, "%s", "");
    assert_int_equal(o->nactions, 3);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_bad_entity_type_is_a_rule_error(void **st)
{
    (void)st;
    expect_rule_error("return ctx.block{ entity = 'u1', entity_type = 'User' }",
                      "ctx.block: 'entity_type' must be a short lower-case identifier");
    expect_rule_error("return ctx.block{ entity = 'u1', entity_type = 'a:b' }", "got a:b");
    expect_rule_error("return ctx.flag{ entity = 'u1', entity_type = '' }", "'entity_type' must be");
    expect_rule_error("return ctx.flag{ entity = 'u1', entity_type = 7 }", "got number");
    expect_rule_error("return ctx.review{ entity = 'u1', entity_type = string.rep('a', 33) }",
                      "at most 32 bytes");
    assert_true(rule_entity_type_valid("device_2", 8));
    assert_false(rule_entity_type_valid("2fa", 3));
    assert_true(rule_entity_type_valid("abcdefghijklmnopqrstuvwxyzabcdef", 32));
}

static void test_review_beats_flag(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "a.review", NULL, NULL, "return ctx.review{ entity = 'ur' }");
    tu_rule(&p, "b.flag", NULL, NULL, "return ctx.flag{ entity = 'uf' }");
    eng_engine_t *e = tu_engine(&p, NULL);
    const eng_outcome_t *o = tu_evalf(e, "%s", "");
    assert_int_equal(o->decision, RULE_VERDICT_REVIEW);
    assert_string_equal(tu_str(o->decision_entity, o->decision_entity_len), "ur");
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_equal_severity_keeps_the_first_rule_by_name(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "b.second", NULL, NULL, "return ctx.block{ entity = 'u2' }");
    tu_rule(&p, "a.first", NULL, NULL, "return ctx.block{ entity = 'u1' }");
    eng_engine_t *e = tu_engine(&p, NULL);
    const eng_outcome_t *o = tu_evalf(e, "%s", "");
    assert_int_equal(o->decision, RULE_VERDICT_BLOCK);
    assert_string_equal(tu_str(o->decision_entity, o->decision_entity_len), "u1");
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_shadow_hits_are_hits_but_never_decide(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "a.shadow_block", "shadow", NULL, "return ctx.block{ entity = 'us' }");
    tu_rule(&p, "b.enforce_flag", "enforce", NULL, "return ctx.flag{ entity = 'ue' }");
    eng_engine_t *e = tu_engine(&p, NULL);
    const eng_outcome_t *o = tu_evalf(e, "%s", "");
    assert_int_equal(o->nhits, 2);
    assert_string_equal(o->hits[0].rule, "a.shadow_block");
    assert_int_equal(o->hits[0].mode, RULE_MODE_SHADOW);
    assert_int_equal(o->hits[0].verdict, RULE_VERDICT_BLOCK);
    assert_int_equal(o->hits[1].mode, RULE_MODE_ENFORCE);
    assert_int_equal(o->decision, RULE_VERDICT_FLAG);
    assert_string_equal(tu_str(o->decision_entity, o->decision_entity_len), "ue");
    assert_int_equal(o->ndecision_rules, 1);
    assert_string_equal(o->decision_rules[0], "b.enforce_flag");
    assert_int_equal(tu_stats(e, "a.shadow_block")->hits[RULE_VERDICT_BLOCK], 1);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_shadow_only_hits_make_no_decision(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "a.shadow", "shadow", NULL, "return ctx.block{ entity = 'us' }");
    eng_engine_t *e = tu_engine(&p, NULL);
    const eng_outcome_t *o = tu_evalf(e, "%s", "");
    assert_int_equal(o->nhits, 1);
    assert_int_equal(o->decision, RULE_VERDICT_NONE);
    assert_int_equal(o->ndecision_rules, 0);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_off_rules_never_run(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "a.off", "off", NULL, "error('an off rule ran') return ctx.block{ entity = 'x' }");
    tu_rule(&p, "b.on", NULL, NULL, "return ctx.flag{ entity = 'u' }");
    eng_engine_t *e = tu_engine(&p, NULL);
    for (int i = 0; i < 3; i++) {
        const eng_outcome_t *o = tu_evalf(e, "%s", "");
        assert_int_equal(o->nerrors, 0);
        assert_int_equal(o->nhits, 1);
        assert_string_equal(o->hits[0].rule, "b.on");
    }
    assert_int_equal(tu_stats(e, "a.off")->evals, 0);
    assert_int_equal(tu_stats(e, "b.on")->evals, 3);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_a_stream_with_only_off_rules_is_unrouted(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "a.off", "off", NULL, "error('ran')");
    eng_engine_t *e = tu_engine(&p, NULL);
    const eng_outcome_t *o = tu_eval_raw(e, "{\"type\":\"s\",\"id\":\"e1\",\"ts\":1}");
    assert_int_equal(o->status, ENG_EVENT_UNROUTED);
    assert_int_equal(o->nerrors, 0);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_rules_run_and_hits_come_out_in_name_order(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    /* File order (and creation order) differs from name order. */
    static const struct { const char *file, *name; } rules[] = {
        { "1.lua", "m.mid" }, { "0.lua", "z.last" }, { "z/9.lua", "a.first" }, { "5.lua", "a.first2" },
    };
    for (size_t i = 0; i < 4; i++) {
        char src[512];
        snprintf(src, sizeof src,
                 "return { name = \"%s\", version = 1, streams = { \"s\" }, mode = \"enforce\",\n"
                 "  fields = { \"fail\" },\n"
                 "  evaluate = function(ev, ctx)\n"
                 "    if ev.fail then error('fail %s') end\n"
                 "    return ctx.flag{ entity = \"%s\" } end }\n",
                 rules[i].name, rules[i].name, rules[i].name);
        tu_write(&p, rules[i].file, src);
    }
    eng_engine_t *e = tu_engine(&p, NULL);
    static const char *const want[] = { "a.first", "a.first2", "m.mid", "z.last" };
    const eng_outcome_t *o = tu_evalf(e, "%s", "");
    assert_int_equal(o->nhits, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(o->hits[i].rule, want[i]);
        assert_string_equal(tu_str(o->hits[i].entity, o->hits[i].entity_len), want[i]);
    }
    /* Errors, too, come out in the order the rules ran. */
    o = tu_evalf(e, "\"fail\":true");
    assert_int_equal(o->nerrors, 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(o->errors[i].rule, want[i]);
    const eng_rule_stats_t *s;
    assert_int_equal(eng_engine_rule_stats(e, &s), 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(s[i].rule, want[i]);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_rule_on_two_streams_runs_once_per_event(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_write(&p, "r.lua",
             "return { name = \"r\", version = 1, streams = { \"s\", \"t\", \"s\" }, mode = \"enforce\",\n"
             "  fields = { \"type\" },\n"
             "  evaluate = function(ev, ctx) return ctx.flag{ entity = ev.type } end }\n");
    eng_engine_t *e = tu_engine(&p, NULL);
    const eng_outcome_t *o = tu_eval_raw(e, "{\"type\":\"s\",\"id\":\"e1\",\"ts\":1}");
    assert_int_equal(o->nhits, 1);
    o = tu_eval_raw(e, "{\"type\":\"t\",\"id\":\"e2\",\"ts\":1}");
    assert_int_equal(o->nhits, 1);
    assert_string_equal(tu_str(o->hits[0].entity, o->hits[0].entity_len), "t");
    assert_int_equal(tu_stats(e, "r")->evals, 2);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_carries_entity_reason_score_ttl),
        cmocka_unit_test(test_review_and_flag_make_their_verdicts),
        cmocka_unit_test(test_only_entity_is_required),
        cmocka_unit_test(test_integer_score_is_a_score),
        cmocka_unit_test(test_entity_integer_becomes_its_decimal_string),
        cmocka_unit_test(test_entity_float_becomes_a_string),
        cmocka_unit_test(test_entity_and_reason_keep_embedded_nul_bytes),
        cmocka_unit_test(test_missing_entity_is_a_rule_error),
        cmocka_unit_test(test_nil_entity_from_a_missing_field_is_a_rule_error),
        cmocka_unit_test(test_empty_entity_is_a_rule_error),
        cmocka_unit_test(test_entity_boolean_is_a_rule_error),
        cmocka_unit_test(test_entity_table_is_a_rule_error),
        cmocka_unit_test(test_reason_number_is_a_rule_error),
        cmocka_unit_test(test_score_string_is_a_rule_error),
        cmocka_unit_test(test_score_nan_is_a_rule_error),
        cmocka_unit_test(test_score_inf_is_a_rule_error),
        cmocka_unit_test(test_ttl_free_text_is_a_rule_error),
        cmocka_unit_test(test_ttl_number_is_a_rule_error),
        cmocka_unit_test(test_unknown_field_is_a_rule_error),
        cmocka_unit_test(test_positional_field_is_a_rule_error),
        cmocka_unit_test(test_verdict_without_a_table_is_a_rule_error),
        cmocka_unit_test(test_method_call_syntax_is_a_rule_error),
        cmocka_unit_test(test_returning_a_plain_table_is_a_rule_error),
        cmocka_unit_test(test_returning_a_table_with_a_foreign_metatable_is_a_rule_error),
        cmocka_unit_test(test_returning_a_string_is_a_rule_error),
        cmocka_unit_test(test_returning_a_number_is_a_rule_error),
        cmocka_unit_test(test_verdict_not_returned_is_no_hit),
        cmocka_unit_test(test_returning_false_is_no_hit),
        cmocka_unit_test(test_returning_nothing_is_no_hit),
        cmocka_unit_test(test_only_the_first_return_value_counts),
        cmocka_unit_test(test_verdict_cannot_be_changed_after_validation),
        cmocka_unit_test(test_verdict_fields_can_be_read),
        cmocka_unit_test(test_decision_is_the_most_severe_enforce_verdict),
        cmocka_unit_test(test_review_beats_flag),
        cmocka_unit_test(test_equal_severity_keeps_the_first_rule_by_name),
        cmocka_unit_test(test_shadow_hits_are_hits_but_never_decide),
        cmocka_unit_test(test_shadow_only_hits_make_no_decision),
        cmocka_unit_test(test_off_rules_never_run),
        cmocka_unit_test(test_a_stream_with_only_off_rules_is_unrouted),
        cmocka_unit_test(test_rules_run_and_hits_come_out_in_name_order),
        cmocka_unit_test(test_rule_on_two_streams_runs_once_per_event),
        cmocka_unit_test(test_actions_are_one_per_typed_entity),
        cmocka_unit_test(test_bad_entity_type_is_a_rule_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
