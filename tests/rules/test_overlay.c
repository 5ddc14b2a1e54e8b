/* tests/rules/test_overlay.c — rules/rule_overlay: a list entry's answer by
 * effective time (before, at, after the change), delete masking, tombstone
 * back to the file, out-of-order records sorted by time, equal times (the
 * later record wins), label ttl and delete, record errors (bad key, bad
 * JSON, bad op, bad time, label add without ttl) leaving the overlay as it
 * was, and the keys and values warden writes read back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rules/rule_overlay.h"

#define T0 1795000000000LL   /* 2026-11-19 */

static int rec(rule_overlay_t *ov, const char *key, const char *val, int64_t msg_ts)
{
    char err[256];
    return rule_overlay_apply(ov, key, strlen(key), val, val ? strlen(val) : 0, msg_ts, err,
                              sizeof err);
}

static int in(rule_overlay_t *ov, const char *name, const char *v, int64_t ts)
{
    return rule_overlay_in_list(ov, name, v, strlen(v), ts);
}

static void test_add_applies_from_its_time_on(void **st)
{
    (void)st;
    rule_overlay_t *ov = rule_overlay_new();
    assert_int_equal(rec(ov, "list/bad_ips/10.0.0.1", "{\"op\":\"add\",\"time\":1795000000000}", 0), 0);
    assert_int_equal(in(ov, "bad_ips", "10.0.0.1", T0 - 1), -1);   /* before: the file answers */
    assert_int_equal(in(ov, "bad_ips", "10.0.0.1", T0), 1);        /* at: listed */
    assert_int_equal(in(ov, "bad_ips", "10.0.0.1", T0 + 86400000), 1);
    assert_int_equal(in(ov, "bad_ips", "10.0.0.2", T0), -1);       /* other values */
    assert_int_equal(in(ov, "other", "10.0.0.1", T0), -1);         /* other lists */
    rule_overlay_destroy(ov);
}

static void test_delete_masks_and_tombstone_goes_back_to_the_file(void **st)
{
    (void)st;
    rule_overlay_t *ov = rule_overlay_new();
    assert_int_equal(rec(ov, "list/l/v", "{\"op\":\"add\",\"time\":\"2026-11-19T00:00:00Z\"}", 0), 0);
    int64_t add;
    {
        /* what 2026-11-19T00:00:00Z is, through a lookup edge */
        add = 1795046400000LL;
        assert_int_equal(in(ov, "l", "v", add - 1), -1);
        assert_int_equal(in(ov, "l", "v", add), 1);
    }
    assert_int_equal(rec(ov, "list/l/v", "{\"op\":\"del\",\"time\":1795046460000}", 0), 0);
    assert_int_equal(in(ov, "l", "v", add + 59999), 1);
    assert_int_equal(in(ov, "l", "v", add + 60000), 0);          /* deleted: not listed */
    assert_int_equal(rec(ov, "list/l/v", NULL, add + 120000), 0);  /* tombstone: its record time */
    assert_int_equal(in(ov, "l", "v", add + 60000), 0);
    assert_int_equal(in(ov, "l", "v", add + 120000), -1);        /* the file answers again */
    /* a replay over the earlier window still sees what was in force then */
    assert_int_equal(in(ov, "l", "v", add + 1), 1);
    rule_overlay_stats_t s;
    rule_overlay_stats(ov, &s);
    assert_int_equal(s.records, 3);
    assert_int_equal(s.entries, 1);
    assert_int_equal(s.changes, 3);
    rule_overlay_destroy(ov);
}

static void test_records_out_of_time_order_are_sorted_and_ties_go_to_the_later(void **st)
{
    (void)st;
    rule_overlay_t *ov = rule_overlay_new();
    assert_int_equal(rec(ov, "list/l/v", "{\"op\":\"del\",\"time\":2000}", 0), 0);
    assert_int_equal(rec(ov, "list/l/v", "{\"op\":\"add\",\"time\":1000}", 0), 0);
    assert_int_equal(in(ov, "l", "v", 999), -1);
    assert_int_equal(in(ov, "l", "v", 1500), 1);
    assert_int_equal(in(ov, "l", "v", 2500), 0);
    assert_int_equal(rec(ov, "list/l/v", "{\"op\":\"add\",\"time\":2000}", 0), 0);
    assert_int_equal(in(ov, "l", "v", 2000), 1);
    /* no "time": the record's timestamp */
    assert_int_equal(rec(ov, "list/l/w", "{\"op\":\"add\"}", 5000), 0);
    assert_int_equal(in(ov, "l", "w", 4999), -1);
    assert_int_equal(in(ov, "l", "w", 5000), 1);
    rule_overlay_destroy(ov);
}

static void test_value_is_the_rest_of_the_key_bytes_exact(void **st)
{
    (void)st;
    rule_overlay_t *ov = rule_overlay_new();
    assert_int_equal(rec(ov, "list/urls/http://x/y z", "{\"op\":\"add\",\"time\":1}", 0), 0);
    assert_int_equal(in(ov, "urls", "http://x/y z", 1), 1);
    assert_int_equal(in(ov, "urls", "http://x/y", 1), -1);
    /* many entries: the table grows */
    char key[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "list/big/v%d", i);
        assert_int_equal(rec(ov, key, "{\"op\":\"add\",\"time\":10}", 0), 0);
    }
    for (int i = 0; i < 5000; i += 97) {
        snprintf(key, sizeof key, "v%d", i);
        assert_int_equal(in(ov, "big", key, 10), 1);
    }
    assert_int_equal(in(ov, "big", "v5000", 10), -1);
    rule_overlay_destroy(ov);
}

static void test_label_ttl_and_delete(void **st)
{
    (void)st;
    rule_overlay_t *ov = rule_overlay_new();
    assert_int_equal(rec(ov, "label/user/fraud/u/1", "{\"op\":\"add\",\"time\":60000,\"ttl\":\"1h\",\"reason\":\"r\"}", 0), 0);
    assert_int_equal(rule_overlay_has_label(ov, "u/1", 3, "fraud", 5, 59999), 0);
    assert_int_equal(rule_overlay_has_label(ov, "u/1", 3, "fraud", 5, 60000), 1);
    assert_int_equal(rule_overlay_has_label(ov, "u/1", 3, "fraud", 5, 60000 + 3599999), 1);
    assert_int_equal(rule_overlay_has_label(ov, "u/1", 3, "fraud", 5, 60000 + 3600000), 0);  /* expired */
    assert_int_equal(rule_overlay_has_label(ov, "u/1", 3, "other", 5, 60000), 0);
    assert_int_equal(rec(ov, "label/user/fraud/u/1", "{\"op\":\"del\",\"time\":120000}", 0), 0);
    assert_int_equal(rule_overlay_has_label(ov, "u/1", 3, "fraud", 5, 119999), 1);
    assert_int_equal(rule_overlay_has_label(ov, "u/1", 3, "fraud", 5, 120000), 0);
    rule_overlay_destroy(ov);
}

static void test_bad_records_are_refused_and_change_nothing(void **st)
{
    (void)st;
    rule_overlay_t *ov = rule_overlay_new();
    char err[256];
    static const char *const keys[] = { "list/", "list/name", "list//v", "lists/a/b", "label/user/fraud",
                                        "label//fraud/u1", "x" };
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        err[0] = '\0';
        assert_int_equal(rule_overlay_apply(ov, keys[i], strlen(keys[i]), "{\"op\":\"add\",\"time\":1}", 21, 0,
                                            err, sizeof err), -1);
        assert_true(strstr(err, "key") != NULL);
    }
    static const char *const vals[] = { "not json", "[1]", "{\"op\":\"put\",\"time\":1}", "{\"time\":1}",
                                        "{\"op\":\"add\",\"time\":\"yesterday\"}", "{\"op\":\"add\",\"time\":true}" };
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++)
        assert_int_equal(rule_overlay_apply(ov, "list/l/v", 8, vals[i], strlen(vals[i]), 0, err, sizeof err), -1);
    assert_int_equal(rule_overlay_apply(ov, "label/user/x/u1", 15, "{\"op\":\"add\",\"time\":1}", 21, 0, err, sizeof err), -1);
    assert_true(strstr(err, "ttl") != NULL);
    /* a tombstone without a record timestamp has no effective time */
    assert_int_equal(rule_overlay_apply(ov, "list/l/v", 8, NULL, 0, INT64_MIN, err, sizeof err), -1);
    rule_overlay_stats_t s;
    rule_overlay_stats(ov, &s);
    assert_int_equal(s.records, 0);
    assert_int_equal(s.changes, 0);
    assert_int_equal(in(ov, "l", "v", 10), -1);
    rule_overlay_destroy(ov);
}

static void test_written_keys_and_values_read_back_and_list_json(void **st)
{
    (void)st;
    rule_overlay_t *ov = rule_overlay_new();
    wd_buf_t k = WD_BUF_INIT, v = WD_BUF_INIT, j = WD_BUF_INIT;
    rule_overlay_list_key(&k, "bad_ips", "1.2.3.4", 7);
    assert_string_equal(k.data, "list/bad_ips/1.2.3.4");
    rule_overlay_value(&v, RULE_OV_ADD, 1795046400000LL, "tok:ab", "spam wave", NULL, INT64_MIN);
    assert_string_equal(v.data, "{\"op\":\"add\",\"time\":\"2026-11-19T00:00:00Z\",\"who\":\"tok:ab\",\"reason\":\"spam wave\"}");
    char err[256];
    assert_int_equal(rule_overlay_apply(ov, k.data, k.len, v.data, v.len, 0, err, sizeof err), 0);
    assert_int_equal(in(ov, "bad_ips", "1.2.3.4", 1795046400000LL), 1);
    wd_buf_reset(&k);
    wd_buf_reset(&v);
    rule_overlay_list_key(&k, "bad_ips", "5.6.7.8", 7);
    rule_overlay_value(&v, RULE_OV_DEL, 1795046400000LL, "tok:ab", NULL, NULL, INT64_MIN);
    assert_int_equal(rule_overlay_apply(ov, k.data, k.len, v.data, v.len, 0, err, sizeof err), 0);
    wd_buf_reset(&k);
    rule_overlay_label_key(&k, "user", "fraud", "u1", 2);
    assert_string_equal(k.data, "label/user/fraud/u1");
    size_t added, deleted;
    rule_overlay_list_json(ov, "bad_ips", &j, &added, &deleted);
    assert_int_equal(added, 1);
    assert_int_equal(deleted, 1);
    assert_non_null(strstr(j.data, "{\"value\":\"1.2.3.4\",\"op\":\"add\""));
    assert_non_null(strstr(j.data, "{\"value\":\"5.6.7.8\",\"op\":\"del\""));
    assert_true(strstr(j.data, "1.2.3.4") < strstr(j.data, "5.6.7.8"));
    wd_buf_reset(&j);
    rule_overlay_list_json(ov, "bad_ip", &j, &added, &deleted);   /* a prefix is another list */
    assert_string_equal(j.data, "[]");
    wd_buf_free(&k);
    wd_buf_free(&v);
    wd_buf_free(&j);
    rule_overlay_destroy(ov);
}

static void test_undo_deletion_round_trips_and_the_entity_listing(void **st)
{
    (void)st;
    rule_overlay_t *ov = rule_overlay_new();
    wd_buf_t k = WD_BUF_INIT, v = WD_BUF_INIT, l = WD_BUF_INIT;
    rule_overlay_label_key(&k, "user", "fraud", "u1", 2);
    rule_overlay_value(&v, RULE_OV_DEL, 5000, "undo:ab", "undo ab of r v1", NULL, 61000);
    assert_string_equal(v.data, "{\"op\":\"del\",\"time\":\"1970-01-01T00:00:05Z\",\"who\":\"undo:ab\","
                                "\"reason\":\"undo ab of r v1\",\"rule_labels_until\":\"1970-01-01T00:01:01Z\"}");
    char err[256];
    assert_int_equal(rule_overlay_apply(ov, k.data, k.len, v.data, v.len, 0, err, sizeof err), 0);
    assert_int_equal(rec(ov, "label/user/vip/u1", "{\"op\":\"add\",\"time\":1000,\"ttl\":\"1m\",\"who\":\"a\"}", 0), 0);
    assert_int_equal(rec(ov, "label/user/vip/u2", "{\"op\":\"add\",\"time\":1000,\"ttl\":\"1m\"}", 0), 0);
    assert_false(rule_overlay_label_hidden(ov, "u1", 2, "fraud", 5, 4999, 61000));
    assert_true(rule_overlay_label_hidden(ov, "u1", 2, "fraud", 5, 5000, 61000));
    assert_false(rule_overlay_label_hidden(ov, "u1", 2, "fraud", 5, 5000, 61001));   /* set past the bound */
    assert_false(rule_overlay_label_hidden(ov, "u1", 2, "vip", 3, 5000, 1));          /* an add hides nothing */
    rule_overlay_entity_labels_json(ov, "u1", 2, &l);
    assert_string_equal(l.data,
        "[{\"label\":\"fraud\",\"op\":\"del\",\"time_ms\":5000,\"expires_ms\":null,\"rule_labels_until_ms\":61000,"
        "\"who\":\"undo:ab\",\"reason\":\"undo ab of r v1\"},"
        "{\"label\":\"vip\",\"op\":\"add\",\"time_ms\":1000,\"expires_ms\":61000,\"rule_labels_until_ms\":null,"
        "\"who\":\"a\",\"reason\":null}]");
    /* A bound on a list record or an add is refused. */
    assert_int_equal(rec(ov, "list/x/1", "{\"op\":\"del\",\"time\":1,\"rule_labels_until\":5}", 0), -1);
    assert_int_equal(rec(ov, "label/user/fraud/u1", "{\"op\":\"del\",\"time\":1,\"rule_labels_until\":\"x\"}", 0), -1);
    wd_buf_free(&k);
    wd_buf_free(&v);
    wd_buf_free(&l);
    rule_overlay_destroy(ov);
}

static void test_clamped_record_never_takes_effect_before_it_was_written(void **st)
{
    (void)st;
    rule_overlay_t *ov = rule_overlay_new();
    rule_overlay_clamp_to_record_time(ov, 1);
    /* Written at 5000 with a time in the past: effective at 5000. */
    assert_int_equal(rec(ov, "list/l/v", "{\"op\":\"add\",\"time\":1000}", 5000), 0);
    assert_int_equal(in(ov, "l", "v", 4999), -1);
    assert_int_equal(in(ov, "l", "v", 5000), 1);
    /* A time past the write stays; a label keeps its ttl from the clamp. */
    assert_int_equal(rec(ov, "list/l/w", "{\"op\":\"add\",\"time\":9000}", 5000), 0);
    assert_int_equal(in(ov, "l", "w", 8999), -1);
    assert_int_equal(rec(ov, "label/user/x/u1", "{\"op\":\"add\",\"time\":1000,\"ttl\":\"1m\"}", 5000), 0);
    assert_false(rule_overlay_has_label(ov, "u1", 2, "x", 1, 4999));
    assert_true(rule_overlay_has_label(ov, "u1", 2, "x", 1, 64999));
    assert_false(rule_overlay_has_label(ov, "u1", 2, "x", 1, 65000));
    rule_overlay_destroy(ov);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_applies_from_its_time_on),
        cmocka_unit_test(test_delete_masks_and_tombstone_goes_back_to_the_file),
        cmocka_unit_test(test_records_out_of_time_order_are_sorted_and_ties_go_to_the_later),
        cmocka_unit_test(test_value_is_the_rest_of_the_key_bytes_exact),
        cmocka_unit_test(test_label_ttl_and_delete),
        cmocka_unit_test(test_bad_records_are_refused_and_change_nothing),
        cmocka_unit_test(test_written_keys_and_values_read_back_and_list_json),
        cmocka_unit_test(test_undo_deletion_round_trips_and_the_entity_listing),
        cmocka_unit_test(test_clamped_record_never_takes_effect_before_it_was_written),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
