/* tests/engine/test_engine.c — the evaluation core's input side
 * (engine/eng_engine.c): what is rejected and why, unrouted streams, the
 * event id and its fallbacks, timestamps (RFC 3339 and epoch ms), custom
 * stream/id/ts field names, the streams and fields a pruner must keep, and
 * how rule errors are reported (rule, event id, whole file path). */
#include <time.h>

#include "tests/rules/testutil.h"
#include "engine/eng_test.h"
#include "rules/rule_pack.h"

/* A pack with one rule "r" on stream "s" flagging every event with its
 * ctx.now() as the entity; the caller frees p and destroys the engine. */
static eng_engine_t *echo_engine(tu_pack_t *p, const eng_opts_t *o)
{
    tu_pack_init(p);
    tu_rule(p, "r", NULL, "{ \"user\" }", "return ctx.flag{ entity = tostring(ctx.now()) }");
    return tu_engine(p, o);
}

static const eng_outcome_t *eval_at(eng_engine_t *e, const char *json, const eng_src_t *src)
{
    const eng_outcome_t *o = NULL;
    assert_int_equal(eng_engine_eval(e, NULL, json, strlen(json), src, &o), 0);
    assert_non_null(o);
    return o;
}

/* Asserts json is rejected with a reason containing want. */
static void expect_reject(eng_engine_t *e, const char *json, const char *want)
{
    const eng_outcome_t *o = tu_eval_raw_at(e, json, 7);
    if (o->status != ENG_EVENT_REJECTED)
        fail_msg("%s: status %d, want rejected (%s)", json, o->status, want);
    assert_non_null(o->reject_reason);
    if (strstr(o->reject_reason, want) == NULL)
        fail_msg("%s: reason \"%s\" lacks \"%s\"", json, o->reject_reason, want);
    assert_int_equal(o->nhits, 0);
    assert_int_equal(o->nerrors, 0);
    assert_int_equal(o->decision, RULE_VERDICT_NONE);
    assert_non_null(o->event_id);
}

static int64_t utc_ms(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                     .tm_min = mi, .tm_sec = s };
    return (int64_t)timegm(&tm) * 1000;
}

/* ---- rejects ----------------------------------------------------------- */

static void test_rejects_malformed_input(void **st)
{
    (void)st;
    tu_pack_t p;
    eng_engine_t *e = echo_engine(&p, NULL);
    expect_reject(e, "{", "");
    expect_reject(e, "not json at all", "");
    expect_reject(e, "{\"type\":\"s\",\"ts\":1,}", "");
    expect_reject(e, "{\"type\":\"s\" \"ts\":1}", "");
    expect_reject(e, "", "");
    expect_reject(e, "{\"type\":\"s\",\"ts\":1}{\"type\":\"s\",\"ts\":2}", "");
    expect_reject(e, "{\"type\":\"s\",\"ts\":1,\"bad\":\"\xff\xfe\"}", "");
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_rejects_non_objects(void **st)
{
    (void)st;
    tu_pack_t p;
    eng_engine_t *e = echo_engine(&p, NULL);
    expect_reject(e, "[1,2]", "not a JSON object");
    expect_reject(e, "5", "not a JSON object");
    expect_reject(e, "\"type\"", "not a JSON object");
    expect_reject(e, "null", "not a JSON object");
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_rejects_missing_or_non_string_stream(void **st)
{
    (void)st;
    tu_pack_t p;
    eng_engine_t *e = echo_engine(&p, NULL);
    expect_reject(e, "{\"id\":\"e1\",\"ts\":1}", "stream field 'type'");
    expect_reject(e, "{\"type\":5,\"ts\":1}", "stream field 'type'");
    expect_reject(e, "{\"type\":null,\"ts\":1}", "stream field 'type'");
    expect_reject(e, "{\"type\":[\"s\"],\"ts\":1}", "stream field 'type'");
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_rejects_bad_or_missing_timestamps(void **st)
{
    (void)st;
    tu_pack_t p;
    eng_engine_t *e = echo_engine(&p, NULL);
    expect_reject(e, "{\"type\":\"s\"}", "missing timestamp field 'ts'");
    expect_reject(e, "{\"type\":\"s\",\"ts\":null}", "timestamp field 'ts'");
    expect_reject(e, "{\"type\":\"s\",\"ts\":\"yesterday\"}", "timestamp field 'ts'");
    expect_reject(e, "{\"type\":\"s\",\"ts\":\"2026-11-20\"}", "timestamp field 'ts'");
    expect_reject(e, "{\"type\":\"s\",\"ts\":\"2026-13-01T00:00:00Z\"}", "timestamp field 'ts'");
    expect_reject(e, "{\"type\":\"s\",\"ts\":\"2026-11-20T25:00:00Z\"}", "timestamp field 'ts'");
    expect_reject(e, "{\"type\":\"s\",\"ts\":\"2026-11-20T10:00:00Zjunk\"}", "timestamp field 'ts'");
    expect_reject(e, "{\"type\":\"s\",\"ts\":\"\"}", "timestamp field 'ts'");
    expect_reject(e, "{\"type\":\"s\",\"ts\":true}", "timestamp field 'ts'");
    expect_reject(e, "{\"type\":\"s\",\"ts\":{\"ms\":1}}", "timestamp field 'ts'");
    expect_reject(e, "{\"type\":\"s\",\"ts\":[1]}", "timestamp field 'ts'");
    /* An id the results store could not key (event_id holds 512 bytes). */
    char big[700];
    snprintf(big, sizeof big, "{\"type\":\"s\",\"ts\":1,\"id\":\"%0600d\"}", 7);
    expect_reject(e, big, "id field 'id' is longer than 512 bytes");
    /* Out of range: no undefined float-to-int cast, no "missing" confusion. */
    expect_reject(e, "{\"type\":\"s\",\"ts\":1e300}", "timestamp field 'ts' is out of range");
    expect_reject(e, "{\"type\":\"s\",\"ts\":1e19}", "timestamp field 'ts' is out of range");
    expect_reject(e, "{\"type\":\"s\",\"ts\":-9223372036854775808}",
                  "timestamp field 'ts' is out of range");
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_rejected_events_keep_an_event_id(void **st)
{
    (void)st;
    tu_pack_t p;
    eng_engine_t *e = echo_engine(&p, NULL);
    const eng_outcome_t *o = tu_eval_raw_at(e, "{ not json", 12);
    assert_int_equal(o->status, ENG_EVENT_REJECTED);
    assert_string_equal(o->event_id, "events.jsonl:12");
    o = tu_eval_raw_at(e, "{\"id\":\"x9\",\"ts\":1}", 13);
    assert_int_equal(o->status, ENG_EVENT_REJECTED);
    assert_string_equal(o->event_id, "x9");
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_a_reject_does_not_disturb_the_next_event(void **st)
{
    (void)st;
    tu_pack_t p;
    eng_engine_t *e = echo_engine(&p, NULL);
    for (int i = 0; i < 3; i++) {
        expect_reject(e, "{\"type\":\"s\",\"ts\":\"bad\"}", "timestamp");
        const eng_outcome_t *o = tu_eval_raw(e, "{\"type\":\"s\",\"id\":\"ok\",\"ts\":5}");
        assert_int_equal(o->status, ENG_EVENT_OK);
        assert_null(o->reject_reason);
        assert_int_equal(o->nhits, 1);
    }
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

/* ---- routing ----------------------------------------------------------- */

static void test_unrouted_stream_runs_no_rule(void **st)
{
    (void)st;
    tu_pack_t p;
    eng_engine_t *e = echo_engine(&p, NULL);
    const eng_outcome_t *o = tu_eval_raw(e, "{\"type\":\"other\",\"id\":\"e1\",\"ts\":1}");
    assert_int_equal(o->status, ENG_EVENT_UNROUTED);
    assert_string_equal(o->stream, "other");
    assert_string_equal(o->event_id, "e1");
    assert_int_equal(o->nhits, 0);
    assert_int_equal(tu_stats(e, "r")->evals, 0);
    /* A stream name is matched whole, not as a prefix. */
    o = tu_eval_raw(e, "{\"type\":\"ss\",\"id\":\"e1\",\"ts\":1}");
    assert_int_equal(o->status, ENG_EVENT_UNROUTED);
    o = tu_eval_raw(e, "{\"type\":\"\",\"id\":\"e1\",\"ts\":1}");
    assert_int_equal(o->status, ENG_EVENT_UNROUTED);
    o = tu_eval_raw(e, "{\"type\":\"s\",\"id\":\"e1\",\"ts\":1}");
    assert_int_equal(o->status, ENG_EVENT_OK);
    assert_string_equal(o->stream, "s");
    assert_int_equal(tu_stats(e, "r")->evals, 1);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_events_only_reach_rules_of_their_stream(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_write(&p, "a.lua", "return { name = \"a\", version = 1, streams = { \"login\" }, mode = \"enforce\",\n"
                          "  evaluate = function(ev, ctx) return ctx.flag{ entity = 'a' } end }\n");
    tu_write(&p, "b.lua", "return { name = \"b\", version = 1, streams = { \"pin\", \"login\" },\n"
                          "  mode = \"enforce\",\n"
                          "  evaluate = function(ev, ctx) return ctx.flag{ entity = 'b' } end }\n");
    eng_engine_t *e = tu_engine(&p, NULL);
    const eng_outcome_t *o = tu_eval_raw(e, "{\"type\":\"pin\",\"id\":\"e1\",\"ts\":1}");
    assert_int_equal(o->nhits, 1);
    assert_string_equal(o->hits[0].rule, "b");
    o = tu_eval_raw(e, "{\"type\":\"login\",\"id\":\"e2\",\"ts\":1}");
    assert_int_equal(o->nhits, 2);
    assert_int_equal(tu_stats(e, "a")->evals, 1);
    assert_int_equal(tu_stats(e, "b")->evals, 2);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

/* ---- event ids --------------------------------------------------------- */

static void test_event_id_from_the_id_field(void **st)
{
    (void)st;
    tu_pack_t p;
    eng_engine_t *e = echo_engine(&p, NULL);
    const eng_outcome_t *o = tu_eval_raw(e, "{\"type\":\"s\",\"id\":\"evt-1\",\"ts\":1}");
    assert_string_equal(o->event_id, "evt-1");
    o = tu_eval_raw(e, "{\"type\":\"s\",\"id\":42,\"ts\":1}");
    assert_string_equal(o->event_id, "42");
    o = tu_eval_raw(e, "{\"type\":\"s\",\"id\":-9223372036854775808,\"ts\":1}");
    assert_string_equal(o->event_id, "-9223372036854775808");
    /* Past int64 the parser gives a double; it stays the event's id. */
    o = tu_eval_raw(e, "{\"type\":\"s\",\"id\":10000000000000000000,\"ts\":1}");
    assert_string_equal(o->event_id, "10000000000000000000");
    o = tu_eval_raw(e, "{\"type\":\"s\",\"id\":\"caf\\u00e9\",\"ts\":1}");
    assert_string_equal(o->event_id, "caf\xc3\xa9");
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_event_id_falls_back_to_file_and_line(void **st)
{
    (void)st;
    tu_pack_t p;
    eng_engine_t *e = echo_engine(&p, NULL);
    static const char *const no_id[] = {
        "{\"type\":\"s\",\"ts\":1}",                 /* no id */
        "{\"type\":\"s\",\"id\":\"\",\"ts\":1}",     /* empty */
        "{\"type\":\"s\",\"id\":null,\"ts\":1}",
        "{\"type\":\"s\",\"id\":1.5,\"ts\":1}",
        "{\"type\":\"s\",\"id\":{\"x\":1},\"ts\":1}",
        "{\"type\":\"s\",\"id\":true,\"ts\":1}",
    };
    for (size_t i = 0; i < sizeof no_id / sizeof no_id[0]; i++) {
        const eng_outcome_t *o = tu_eval_raw_at(e, no_id[i], 30 + (long)i);
        assert_int_equal(o->status, ENG_EVENT_OK);
        char want[64];
        snprintf(want, sizeof want, "events.jsonl:%ld", 30 + (long)i);
        assert_string_equal(o->event_id, want);
    }
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_event_id_falls_back_to_topic_partition_offset(void **st)
{
    (void)st;
    tu_pack_t p;
    eng_engine_t *e = echo_engine(&p, NULL);
    eng_src_t src = { .topic = "pins", .partition = 3, .offset = 12345678901LL,
                      .msg_ts_ms = INT64_MIN };
    const eng_outcome_t *o = eval_at(e, "{\"type\":\"s\",\"ts\":1}", &src);
    assert_string_equal(o->event_id, "pins/3/12345678901");
    /* The id field still wins. */
    o = eval_at(e, "{\"type\":\"s\",\"id\":\"own\",\"ts\":1}", &src);
    assert_string_equal(o->event_id, "own");
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

/* ---- timestamps -------------------------------------------------------- */

/* ts (a JSON value) → the event time the engine and ctx.now() see. */
static void expect_ts(eng_engine_t *e, const char *ts, int64_t want)
{
    char json[256];
    snprintf(json, sizeof json, "{\"type\":\"s\",\"id\":\"e1\",\"ts\":%s}", ts);
    const eng_outcome_t *o = tu_eval_raw(e, json);
    if (o->status != ENG_EVENT_OK)
        fail_msg("ts %s: status %d (%s)", ts, o->status, o->reject_reason ? o->reject_reason : "");
    if (o->event_ts_ms != want)
        fail_msg("ts %s: %lld ms, want %lld", ts, (long long)o->event_ts_ms, (long long)want);
    const eng_hit_t *h = tu_hit(o, "r");
    assert_non_null(h);
    char now[32];
    snprintf(now, sizeof now, "%lld", (long long)want);
    assert_string_equal(tu_str(h->entity, h->entity_len), now);
}

static void test_ts_rfc3339(void **st)
{
    (void)st;
    tu_pack_t p;
    eng_engine_t *e = echo_engine(&p, NULL);
    int64_t t = utc_ms(2026, 11, 20, 10, 0, 0);
    expect_ts(e, "\"2026-11-20T10:00:00Z\"", t);
    expect_ts(e, "\"2026-11-20t10:00:00z\"", t);
    expect_ts(e, "\"2026-11-20 10:00:00Z\"", t);
    expect_ts(e, "\"2026-11-20T10:00:00.5Z\"", t + 500);
    expect_ts(e, "\"2026-11-20T10:00:00.123Z\"", t + 123);
    expect_ts(e, "\"2026-11-20T10:00:00.123456789Z\"", t + 123);
    expect_ts(e, "\"2026-11-20T11:00:00+01:00\"", t);
    expect_ts(e, "\"2026-11-20T11:30:00.250+01:30\"", t + 250);
    expect_ts(e, "\"2026-11-20T04:30:00-05:30\"", t);
    expect_ts(e, "\"2026-11-20T10:00:00+00:00\"", t);
    expect_ts(e, "\"1970-01-01T00:00:00Z\"", 0);
    expect_ts(e, "\"2024-02-29T00:00:00Z\"", utc_ms(2024, 2, 29, 0, 0, 0));
    expect_ts(e, "\"2026-12-31T23:59:59Z\"", utc_ms(2026, 12, 31, 23, 59, 59));
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_ts_epoch_milliseconds(void **st)
{
    (void)st;
    tu_pack_t p;
    eng_engine_t *e = echo_engine(&p, NULL);
    expect_ts(e, "1767225600000", 1767225600000LL);
    expect_ts(e, "0", 0);
    expect_ts(e, "1767225600123.0", 1767225600123LL);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_ts_falls_back_to_the_kafka_timestamp(void **st)
{
    (void)st;
    tu_pack_t p;
    eng_engine_t *e = echo_engine(&p, NULL);
    eng_src_t src = { .topic = "pins", .partition = 0, .offset = 1, .msg_ts_ms = 1700000000000LL };
    const eng_outcome_t *o = eval_at(e, "{\"type\":\"s\",\"id\":\"e1\"}", &src);
    assert_int_equal(o->status, ENG_EVENT_OK);
    assert_int_equal(o->event_ts_ms, 1700000000000LL);
    /* The field wins over the message timestamp. */
    o = eval_at(e, "{\"type\":\"s\",\"id\":\"e1\",\"ts\":5}", &src);
    assert_int_equal(o->event_ts_ms, 5);
    /* Files have no message timestamp. */
    eng_src_t file = { .file = "f.jsonl", .line = 1, .msg_ts_ms = 1700000000000LL };
    o = eval_at(e, "{\"type\":\"s\",\"id\":\"e1\"}", &file);
    assert_int_equal(o->status, ENG_EVENT_REJECTED);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_kafka_event_far_ahead_of_its_message_time_is_rejected(void **st)
{
    (void)st;
    tu_pack_t p;
    eng_engine_t *e = echo_engine(&p, NULL);
    eng_src_t src = { .topic = "pins", .partition = 0, .offset = 1, .msg_ts_ms = 1700000000000LL };
    /* Up to max_future_ms (1 h) ahead is producer clock skew: accepted. */
    const eng_outcome_t *o = eval_at(e, "{\"type\":\"s\",\"id\":\"e1\",\"ts\":1700003600000}", &src);
    assert_int_equal(o->status, ENG_EVENT_OK);
    /* Beyond it, the event would drag the state's clock into the future. */
    o = eval_at(e, "{\"type\":\"s\",\"id\":\"e2\",\"ts\":1700003600001}", &src);
    assert_int_equal(o->status, ENG_EVENT_REJECTED);
    assert_non_null(strstr(o->reject_reason, "ahead of the message time"));
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

/* ---- effects: labels ----------------------------------------------------- */

static void test_labels_of_a_failing_evaluation_are_discarded(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    /* "a.set" labels u1 and then fails; "b.read" reports the label. */
    tu_rule(&p, "a.set", NULL, NULL, "ctx.label('u1', 'x', '1h') error('boom')");
    tu_rule(&p, "b.read", NULL, NULL, "if ctx.has_label('u1', 'x') then return ctx.flag{ entity = 'u1' } end");
    eng_opts_t o = tu_opts();
    eng_engine_t *e = tu_engine(&p, &o);
    tu_evalf(e, "\"n\":1");
    const eng_outcome_t *out = tu_evalf(e, "\"n\":2");
    assert_non_null(tu_error(out, "a.set"));
    assert_null(tu_hit(out, "b.read"));
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_shadow_labels_never_reach_enforcing_rules(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "a.shadow_set", "shadow", NULL, "ctx.label('u1', 'x', '1h')");
    tu_rule(&p, "b.enforce_read", NULL, NULL,
            "if ctx.has_label('u1', 'x') then return ctx.block{ entity = 'u1' } end");
    tu_rule(&p, "c.shadow_read", "shadow", NULL,
            "if ctx.has_label('u1', 'x') then return ctx.flag{ entity = 'u1' } end");
    tu_rule(&p, "d.enforce_set", NULL, NULL, "ctx.label('u2', 'y', '1h')");
    tu_rule(&p, "e.shadow_read_real", "shadow", NULL,
            "if ctx.has_label('u2', 'y') then return ctx.flag{ entity = 'u2' } end");
    eng_opts_t o = tu_opts();
    eng_engine_t *e = tu_engine(&p, &o);
    tu_evalf(e, "\"n\":1");
    const eng_outcome_t *out = tu_evalf(e, "\"n\":2");
    assert_null(tu_hit(out, "b.enforce_read"));       /* a rule on trial acts on nothing */
    assert_non_null(tu_hit(out, "c.shadow_read"));    /* but shadow rules see each other */
    assert_non_null(tu_hit(out, "e.shadow_read_real")); /* and the real labels */
    assert_int_equal(out->decision, RULE_VERDICT_NONE);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

/* Shadow labels live under an internal prefix; an enforce rule naming
 * that prefix got them ("\1shadow:x" read the shadow rule's "x").  Names
 * starting with the prefix byte are refused in has_label and label. */
static void test_enforce_rule_cannot_read_shadow_labels_by_their_prefix(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "a.shadow_set", "shadow", NULL, "ctx.label('u1', 'x', '1h')");
    tu_rule(&p, "b.enforce_peek", NULL, NULL,
            "if ctx.has_label('u1', '\\1shadow:x') then return ctx.block{ entity = 'u1' } end");
    tu_rule(&p, "c.enforce_forge", NULL, NULL, "ctx.label('u3', '\\1shadow:z', '1h')");
    tu_rule(&p, "d.shadow_read_forged", "shadow", NULL,
            "if ctx.has_label('u3', 'z') then return ctx.flag{ entity = 'u3' } end");
    eng_opts_t o = tu_opts();
    eng_engine_t *e = tu_engine(&p, &o);
    const eng_outcome_t *out = tu_evalf(e, "\"n\":1");
    tu_assert_error(out, "b.enforce_peek", "label names must not start with byte 0x01");
    tu_assert_error(out, "c.enforce_forge", "label names must not start with byte 0x01");
    out = tu_evalf(e, "\"n\":2");
    assert_null(tu_hit(out, "b.enforce_peek"));
    tu_assert_error(out, "b.enforce_peek", "reserved");
    assert_null(tu_hit(out, "d.shadow_read_forged"));   /* an enforce rule cannot plant one either */
    assert_int_equal(out->decision, RULE_VERDICT_NONE);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

/* Seconds for one rule test case whose event has n keys (read through
 * the strict view's pairs). */
static double big_case_secs(int n)
{
    tu_pack_t p;
    tu_pack_init(&p);
    char src[1024];
    snprintf(src, sizeof src,
             "local big = {}\n"
             "for i = 1, %d do big['k' .. i] = i end\n"
             "return { name = \"r\", version = 1, streams = { \"s\" }, mode = \"enforce\",\n"
             "  fields = { \"big\" },\n"
             "  evaluate = function(ev, ctx)\n"
             "    local n = 0\n"
             "    for k in pairs(ev.big) do n = n + 1 end\n"
             "    return ctx.flag{ entity = 'n' .. n }\n"
             "  end,\n"
             "  tests = { { name = \"big\", events = { { big = big } }, expect = { { entity = \"n%d\" } } } },\n"
             "}\n", n, n);
    tu_write(&p, "r.lua", src);
    eng_opts_t o = tu_opts();
    o.strict_fields = 1;
    o.instr_budget = 1000000000;
    eng_engine_t *e = tu_engine(&p, &o);
    rule_t *const *rules;
    assert_int_equal(rule_pack_rules(eng_engine_pack(e), &rules), 1);
    eng_test_totals_t t = { 0 };
    struct timespec a, b;
    /* this thread's CPU time: a busy machine stretches wall time, not this */
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    eng_test_rule(e, &o, rules[0], &t);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    assert_int_equal(t.cases, 1);
    assert_int_equal(t.passed, 1);
    eng_engine_destroy(e);
    tu_pack_free(&p);
    return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
}

/* The test runner sorted an event's keys by insertion: a 100k-key event
 * took minutes.  Now n log n.  No wall-clock bound (valgrind, busy
 * machines): ten times the keys must cost far less than a quadratic
 * sort's hundred times. */
static void test_test_runner_handles_a_100k_key_event_quickly(void **st)
{
    (void)st;
    double small = big_case_secs(10000), big = big_case_secs(100000);
    print_message("a test case with 10k keys %.3f s, 100k keys %.3f s\n", small, big);
    if (big > 40.0 * small + 0.05)
        fail_msg("10x the keys cost %.1fx the time: not n log n", big / (small > 1e-6 ? small : 1e-6));
}

/* ---- custom field names ------------------------------------------------ */

static void test_custom_stream_id_and_ts_fields(void **st)
{
    (void)st;
    eng_opts_t o = tu_opts();
    o.stream_field = "kind";
    o.id_field = "event_id";
    o.ts_field = "at";
    tu_pack_t p;
    eng_engine_t *e = echo_engine(&p, &o);
    const eng_outcome_t *out =
        tu_eval_raw(e, "{\"kind\":\"s\",\"event_id\":\"k1\",\"at\":\"2026-11-20T10:00:00Z\","
                       "\"type\":\"ignored\",\"id\":\"ignored\",\"ts\":1}");
    assert_int_equal(out->status, ENG_EVENT_OK);
    assert_string_equal(out->stream, "s");
    assert_string_equal(out->event_id, "k1");
    assert_int_equal(out->event_ts_ms, utc_ms(2026, 11, 20, 10, 0, 0));
    assert_int_equal(out->nhits, 1);
    /* The default names mean nothing now. */
    out = tu_eval_raw_at(e, "{\"type\":\"s\",\"id\":\"x\",\"ts\":1}", 3);
    assert_int_equal(out->status, ENG_EVENT_REJECTED);
    assert_non_null(strstr(out->reject_reason, "'kind'"));
    out = tu_eval_raw_at(e, "{\"kind\":\"s\",\"id\":\"x\",\"ts\":1}", 4);
    assert_int_equal(out->status, ENG_EVENT_REJECTED);
    assert_non_null(strstr(out->reject_reason, "'at'"));
    out = tu_eval_raw_at(e, "{\"kind\":\"s\",\"id\":\"x\",\"at\":1}", 5);
    assert_int_equal(out->status, ENG_EVENT_OK);
    assert_string_equal(out->event_id, "events.jsonl:5");
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

/* ---- what a pruner must keep ------------------------------------------- */

static void assert_list(const char *const *got, size_t n, const char *const *want, size_t nwant)
{
    for (size_t i = 0; i < n && i < nwant; i++)
        if (strcmp(got[i], want[i]) != 0)
            fail_msg("entry %zu: \"%s\", want \"%s\"", i, got[i], want[i]);
    assert_int_equal(n, nwant);
}

static void test_streams_and_their_fields(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_write(&p, "a.lua",
             "return { name = \"a\", version = 1, streams = { \"pin\", \"login\" }, mode = \"enforce\",\n"
             "  fields = { \"user.id\", \"pin.link\" },\n"
             "  evaluate = function(ev, ctx) end }\n");
    tu_write(&p, "b.lua",
             "return { name = \"b\", version = 1, streams = { \"login\" }, mode = \"shadow\",\n"
             "  fields = { \"login.ip\", \"user.id\" },\n"
             "  evaluate = function(ev, ctx) end }\n");
    tu_write(&p, "c.lua",
             "return { name = \"c\", version = 1, streams = { \"payment\", \"login\" }, mode = \"off\",\n"
             "  fields = { \"payment.amount\", \"login.secret\" },\n"
             "  evaluate = function(ev, ctx) end }\n");
    tu_write(&p, "counters.lua",
             "return {\n"
             "  { name = \"follows_by_user\", stream = \"follow\", key = \"user.id\",\n"
             "    distinct = \"follow.target\", windows = { \"1h\" } },\n"
             "  { name = \"logins_by_ip\", stream = \"login\", key = \"login.ip\",\n"
             "    where = { [\"login.success\"] = false }, windows = { \"1h\" } },\n"
             "}\n");
    eng_engine_t *e = tu_engine(&p, NULL);
    const char *const *names;
    size_t n = eng_engine_streams(e, &names);
    static const char *const want_streams[] = { "follow", "login", "pin" };
    assert_list(names, n, want_streams, 3);

    const char *const *f;
    n = eng_engine_stream_fields(e, "login", &f);
    static const char *const want_login[] = { "id", "login.ip", "login.success", "pin.link",
                                              "ts", "type", "user.id" };
    assert_list(f, n, want_login, 7);
    n = eng_engine_stream_fields(e, "pin", &f);
    static const char *const want_pin[] = { "id", "pin.link", "ts", "type", "user.id" };
    assert_list(f, n, want_pin, 5);
    n = eng_engine_stream_fields(e, "follow", &f);
    static const char *const want_follow[] = { "follow.target", "id", "ts", "type", "user.id" };
    assert_list(f, n, want_follow, 5);
    /* An off rule's stream is not used. */
    assert_int_equal(eng_engine_stream_fields(e, "payment", &f), 0);
    assert_int_equal(eng_engine_stream_fields(e, "nope", &f), 0);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_stream_fields_use_the_custom_field_names(void **st)
{
    (void)st;
    eng_opts_t o = tu_opts();
    o.stream_field = "kind";
    o.id_field = "eid";
    o.ts_field = "at";
    tu_pack_t p;
    eng_engine_t *e = echo_engine(&p, &o);
    const char *const *f;
    size_t n = eng_engine_stream_fields(e, "s", &f);
    static const char *const want[] = { "at", "eid", "kind", "user" };
    assert_list(f, n, want, 4);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

/* ---- rule errors ------------------------------------------------------- */

static void test_rule_error_names_rule_event_and_line(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "r", NULL, "{ \"user\" }", "return ctx.flag{ entity = ev.user.id.x.y }");
    eng_engine_t *e = tu_engine(&p, NULL);
    const eng_outcome_t *o = tu_eval_raw_at(e, "{\"type\":\"s\",\"ts\":1,\"user\":{\"id\":\"u\"}}", 9);
    assert_int_equal(o->status, ENG_EVENT_OK);
    assert_int_equal(o->nerrors, 1);
    assert_string_equal(o->errors[0].rule, "r");
    assert_string_equal(o->event_id, "events.jsonl:9");
    char want[128];
    snprintf(want, sizeof want, "%s/r.lua:7: ", p.dir);
    if (strncmp(o->errors[0].message, want, strlen(want)) != 0)
        fail_msg("\"%s\" does not start with \"%s\"", o->errors[0].message, want);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_rule_error_names_the_whole_path_of_a_long_rule_file(void **st)
{
    (void)st;
    /* Lua keeps 59 characters of a chunk name; messages must not. */
    static const char *const bodies[] = {
        "return ev.user.id.x.y",                                /* a Lua error */
        "return ctx.flag{ entity = 'u', score = 'high' }",      /* a ctx argument error */
        "ev.user = 1",                                          /* the read-only view */
        "while true do end",                                    /* the budget */
    };
    for (int strict = 0; strict <= 1; strict++) {
        for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
            tu_pack_t p;
            tu_pack_init(&p);
            char src[1024];
            snprintf(src, sizeof src,
                     "return { name = \"r\", version = 1, streams = { \"s\" }, mode = \"enforce\",\n"
                     "  fields = { \"user\" },\n"
                     "  evaluate = function(ev, ctx)\n"
                     "    %s\n"
                     "  end }\n", bodies[i]);
            const char *rel = "a_rather_long_directory_name/another_long_directory_name_too/r.lua";
            tu_write(&p, rel, src);
            eng_opts_t o = tu_opts();
            o.strict_fields = strict;
            o.instr_budget = 100000;
            eng_engine_t *e = tu_engine(&p, &o);
            const eng_outcome_t *out = tu_evalf(e, "\"user\":{\"id\":\"u\"}");
            const char *err = tu_error(out, "r");
            assert_non_null(err);
            char want[256];
            snprintf(want, sizeof want, "%s/%s:4: ", p.dir, rel);
            if (strncmp(err, want, strlen(want)) != 0)
                fail_msg("%s view, body \"%s\": \"%s\" does not start with \"%s\"",
                         strict ? "lazy" : "table", bodies[i], err, want);
            eng_engine_destroy(e);
            tu_pack_free(&p);
        }
    }
}

/* eng_engine_eval_doc on a document parsed elsewhere (replay's one parse)
 * gives what eng_engine_eval gives on the bytes, rejects included, and two
 * engines can evaluate the same document one after the other. */
static void test_eval_doc_matches_eval_on_the_bytes(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_rule(&p, "r", NULL, "{ \"user.id\", \"n\" }",
            "if ev.n and ev.n > 1 then return ctx.flag{ entity = ev.user.id, reason = 'n ' .. ev.n } end");
    eng_engine_t *bytes = tu_engine(&p, NULL), *doc1 = tu_engine(&p, NULL), *doc2 = tu_engine(&p, NULL);
    wd_json_t *json = wd_json_new(0);
    static const char *const evs[] = {
        "{\"type\":\"s\",\"id\":\"a\",\"ts\":1000,\"user\":{\"id\":\"u1\"},\"n\":2}",
        "{\"type\":\"s\",\"id\":\"b\",\"ts\":2000,\"user\":{\"id\":\"u2\"},\"n\":1}",
        "[1,2]",
        "{\"id\":\"c\",\"ts\":1}",
        "{\"type\":\"s\",\"id\":\"d\",\"ts\":\"yesterday\"}",
        "{\"type\":\"other\",\"id\":\"e\",\"ts\":3000}",
        "{\"type\":\"s\",\"ts\":4000,\"user\":{\"id\":\"u3\"},\"n\":5}",
    };
    eng_src_t src = { .topic = NULL, .msg_ts_ms = INT64_MIN, .file = "f.jsonl" };
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
        src.line = (long)i + 1;
        const eng_outcome_t *ob = NULL, *o1 = NULL, *o2 = NULL;
        wd_jval_t root;
        char err[128];
        assert_int_equal(wd_json_parse(json, evs[i], strlen(evs[i]), &root, err, sizeof(err)), 0);
        assert_int_equal(eng_engine_eval(bytes, NULL, evs[i], strlen(evs[i]), &src, &ob), 0);
        assert_int_equal(eng_engine_eval_doc(doc1, NULL, root, &src, &o1), 0);
        assert_int_equal(eng_engine_eval_doc(doc2, NULL, root, &src, &o2), 0);
        const eng_outcome_t *os[2] = { o1, o2 };
        for (int k = 0; k < 2; k++) {
            const eng_outcome_t *o = os[k];
            assert_int_equal(o->status, ob->status);
            assert_string_equal(o->event_id, ob->event_id);
            if (ob->reject_reason)
                assert_string_equal(o->reject_reason, ob->reject_reason);
            assert_int_equal(o->event_ts_ms, ob->event_ts_ms);
            assert_int_equal(o->nhits, ob->nhits);
            for (size_t h = 0; h < o->nhits; h++) {
                assert_int_equal(o->hits[h].entity_len, ob->hits[h].entity_len);
                assert_memory_equal(o->hits[h].entity, ob->hits[h].entity, ob->hits[h].entity_len);
                assert_int_equal(o->hits[h].reason_len, ob->hits[h].reason_len);
                assert_memory_equal(o->hits[h].reason, ob->hits[h].reason, ob->hits[h].reason_len);
            }
        }
    }
    assert_int_equal(tu_stats(doc2, "r")->hits[RULE_VERDICT_FLAG], 2);
    wd_json_destroy(json);
    eng_engine_destroy(bytes);
    eng_engine_destroy(doc1);
    eng_engine_destroy(doc2);
    tu_pack_free(&p);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rejects_malformed_input),
        cmocka_unit_test(test_rejects_non_objects),
        cmocka_unit_test(test_rejects_missing_or_non_string_stream),
        cmocka_unit_test(test_rejects_bad_or_missing_timestamps),
        cmocka_unit_test(test_rejected_events_keep_an_event_id),
        cmocka_unit_test(test_a_reject_does_not_disturb_the_next_event),
        cmocka_unit_test(test_unrouted_stream_runs_no_rule),
        cmocka_unit_test(test_events_only_reach_rules_of_their_stream),
        cmocka_unit_test(test_event_id_from_the_id_field),
        cmocka_unit_test(test_event_id_falls_back_to_file_and_line),
        cmocka_unit_test(test_event_id_falls_back_to_topic_partition_offset),
        cmocka_unit_test(test_ts_rfc3339),
        cmocka_unit_test(test_ts_epoch_milliseconds),
        cmocka_unit_test(test_ts_falls_back_to_the_kafka_timestamp),
        cmocka_unit_test(test_kafka_event_far_ahead_of_its_message_time_is_rejected),
        cmocka_unit_test(test_labels_of_a_failing_evaluation_are_discarded),
        cmocka_unit_test(test_shadow_labels_never_reach_enforcing_rules),
        cmocka_unit_test(test_enforce_rule_cannot_read_shadow_labels_by_their_prefix),
        cmocka_unit_test(test_test_runner_handles_a_100k_key_event_quickly),
        cmocka_unit_test(test_custom_stream_id_and_ts_fields),
        cmocka_unit_test(test_streams_and_their_fields),
        cmocka_unit_test(test_stream_fields_use_the_custom_field_names),
        cmocka_unit_test(test_rule_error_names_rule_event_and_line),
        cmocka_unit_test(test_rule_error_names_the_whole_path_of_a_long_rule_file),
        cmocka_unit_test(test_eval_doc_matches_eval_on_the_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
