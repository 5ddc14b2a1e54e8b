/* tests/storage/test_store_backoff.c — exponential backoff with jitter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "storage/store_backoff.h"

static void test_delays_double_within_jitter_and_cap(void **st)
{
    (void)st;
    store_backoff_t b;
    store_backoff_init(&b, 100, 5000, 42);
    uint32_t expect = 100;
    for (int i = 0; i < 20; i++) {
        uint32_t d = store_backoff_next(&b);
        /* uniform in [expect/2, expect] */
        assert_true(d >= expect - expect / 2);
        assert_true(d <= expect);
        expect = expect * 2 > 5000 ? 5000 : expect * 2;
    }
    assert_int_equal(b.attempt, 20);
}

static void test_reset_starts_from_base_again(void **st)
{
    (void)st;
    store_backoff_t b;
    store_backoff_init(&b, 10, 1000, 7);
    for (int i = 0; i < 8; i++)
        store_backoff_next(&b);
    store_backoff_reset(&b);
    assert_true(store_backoff_next(&b) <= 10);
}

static void test_jitter_spreads_delays(void **st)
{
    (void)st;
    /* Two writers that failed together do not retry in step. */
    store_backoff_t a, b;
    store_backoff_init(&a, 1000, 1000, 1);
    store_backoff_init(&b, 1000, 1000, 2);
    int differ = 0;
    uint32_t lo = 1000, hi = 0;
    for (int i = 0; i < 100; i++) {
        uint32_t x = store_backoff_next(&a), y = store_backoff_next(&b);
        differ += x != y;
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
    }
    assert_true(differ > 90);
    assert_true(lo < 600);
    assert_true(hi > 900);
}

static void test_huge_attempt_counts_do_not_overflow(void **st)
{
    (void)st;
    store_backoff_t b;
    store_backoff_init(&b, 1, 60000, 0);
    b.attempt = 4000000000u;
    uint32_t d = store_backoff_next(&b);
    assert_true(d >= 30000 && d <= 60000);
    store_backoff_init(&b, 0, 0, 0);   /* degenerate settings stay sane */
    assert_true(store_backoff_next(&b) <= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delays_double_within_jitter_and_cap),
        cmocka_unit_test(test_reset_starts_from_base_again),
        cmocka_unit_test(test_jitter_spreads_delays),
        cmocka_unit_test(test_huge_attempt_counts_do_not_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
