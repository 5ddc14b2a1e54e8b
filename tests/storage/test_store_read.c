/* tests/storage/test_store_read.c — the walk over a hit's labels cell
 * (store_hist_labels, storage/store_read.h) that `warden investigate`,
 * GET /entities and `warden undo` share: each readable item once, on the
 * hit's entity unless it names another, with its expiry; what cannot be
 * read (not an array, no event time, an item without a string label and
 * an integer ttl_ms, or with a non-string entity) is counted, never passed
 * on; the callback's non-zero stops the walk.  No server needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "storage/store_read.h"

typedef struct seen {
    char   out[1024];   /* "entity|label|expire;" per call, bytes as given */
    size_t len;
    int    calls, stop_at;
} seen_t;

static void add(seen_t *s, const char *p, size_t n)
{
    assert_true(s->len + n < sizeof s->out);
    memcpy(s->out + s->len, p, n);
    s->len += n;
}

static int record(void *ud, const store_hist_t *h, const store_label_t *l)
{
    seen_t *s = ud;
    char x[32];
    (void)h;
    add(s, l->entity, l->entity_len);
    add(s, "|", 1);
    add(s, l->label, l->label_len);
    add(s, x, (size_t)snprintf(x, sizeof x, "|%lld;", (long long)l->expire_ms));
    return ++s->calls == s->stop_at ? 7 : 0;
}

static store_hist_t hit(const char *labels)
{
    store_hist_t h;
    memset(&h, 0, sizeof(h));
    h.rule = "r";
    h.mode = "enforce";
    h.entity = "u1";
    h.entity_len = 2;
    h.labels = labels;
    h.labels_len = labels ? strlen(labels) : 0;
    h.event_ts_ms = 1000;
    return h;
}

static void test_items_on_the_hits_entity_or_the_one_named(void **st)
{
    (void)st;
    store_hist_t h = hit("[{\"label\":\"a\",\"ttl_ms\":5,\"expires\":\"x\"},"
                         "{\"label\":\"b\",\"ttl_ms\":60000,\"entity\":\"ip9\"}]");
    seen_t s = { .stop_at = -1 };
    uint64_t bad = 0;
    assert_int_equal(store_hist_labels(&h, record, &s, &bad), 0);
    assert_string_equal(s.out, "u1|a|1005;ip9|b|61000;");
    assert_int_equal(bad, 0);
}

static void test_non_string_entity_is_unreadable_not_the_hits(void **st)
{
    (void)st;
    /* A number, null or object as the entity: neither the hit's entity
     * nor another one, so counted and left out. */
    store_hist_t h = hit("[{\"label\":\"a\",\"ttl_ms\":5,\"entity\":7},{\"label\":\"b\",\"ttl_ms\":5,\"entity\":null},"
                         "{\"label\":\"c\",\"ttl_ms\":5,\"entity\":{}},{\"label\":\"d\",\"ttl_ms\":5}]");
    seen_t s = { .stop_at = -1 };
    uint64_t bad = 0;
    assert_int_equal(store_hist_labels(&h, record, &s, &bad), 0);
    assert_string_equal(s.out, "u1|d|1005;");
    assert_int_equal(bad, 3);
}

static void test_bad_items_and_cells_are_counted(void **st)
{
    (void)st;
    seen_t s = { .stop_at = -1 };
    uint64_t bad = 0;
    store_hist_t h = hit("[{\"label\":1,\"ttl_ms\":5},{\"label\":\"a\",\"ttl_ms\":\"5\"},{\"ttl_ms\":5},7]");
    assert_int_equal(store_hist_labels(&h, record, &s, &bad), 0);
    assert_int_equal(bad, 4);
    bad = 0;
    h = hit("{\"label\":\"a\",\"ttl_ms\":5}");   /* not an array */
    assert_int_equal(store_hist_labels(&h, record, &s, &bad), 0);
    h = hit("[{\"label\":");                     /* not JSON */
    assert_int_equal(store_hist_labels(&h, record, &s, &bad), 0);
    h = hit("[{\"label\":\"a\",\"ttl_ms\":5}]");
    h.event_ts_ms = INT64_MIN;                   /* no event time: no expiry */
    assert_int_equal(store_hist_labels(&h, record, &s, &bad), 0);
    assert_int_equal(bad, 3);
    assert_int_equal(s.calls, 0);
    h = hit(NULL);                               /* no labels: nothing to read */
    assert_int_equal(store_hist_labels(&h, record, &s, &bad), 0);
    assert_int_equal(bad, 3);
}

static void test_nul_bytes_keep_their_length(void **st)
{
    (void)st;
    store_hist_t h = hit("[{\"label\":\"a\\u0000b\",\"ttl_ms\":1,\"entity\":\"x\\u0000y\"}]");
    seen_t s = { .stop_at = -1 };
    uint64_t bad = 0;
    assert_int_equal(store_hist_labels(&h, record, &s, &bad), 0);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.len, 13);
    assert_memory_equal(s.out, "x\0y|a\0b|1001;", 13);
}

static void test_callback_nonzero_stops_the_walk(void **st)
{
    (void)st;
    store_hist_t h = hit("[{\"label\":\"a\",\"ttl_ms\":1},{\"label\":\"b\",\"ttl_ms\":1},{\"label\":\"c\",\"ttl_ms\":1}]");
    seen_t s = { .stop_at = 2 };
    uint64_t bad = 0;
    assert_int_equal(store_hist_labels(&h, record, &s, &bad), 7);
    assert_int_equal(s.calls, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_items_on_the_hits_entity_or_the_one_named),
        cmocka_unit_test(test_non_string_entity_is_unreadable_not_the_hits),
        cmocka_unit_test(test_bad_items_and_cells_are_counted),
        cmocka_unit_test(test_nul_bytes_keep_their_length),
        cmocka_unit_test(test_callback_nonzero_stops_the_walk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
