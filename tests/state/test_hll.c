/* tests/state/test_hll.c — state/state_hll: HyperLogLog relative error at
 * 10^3 .. 10^6 distinct values (standard error 1.6%: one run must stay
 * within 6%, the RMS of each size within 2.5% and of all 108 runs
 * within 2%), an empty sketch reads 0, duplicates do not count, merge
 * equals the sketch of the union, and the hash spreads short similar keys
 * over all bits. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "state/state_hll.h"

static double run(long n, int seed, uint8_t *regs)
{
    memset(regs, 0, STATE_HLL_BYTES);
    /* 16-byte keys (seed, i): like short ids, and cheap enough to run
     * millions under valgrind. */
    for (long i = 0; i < n; i++) {
        int64_t k[2] = { seed, i };
        state_hll_add(regs, wd_hash64(k, sizeof k, 42));
    }
    return state_hll_estimate(regs);
}

static void test_hll_relative_error_1e3_to_1e6(void **s)
{
    (void)s;
    uint8_t regs[STATE_HLL_BYTES];
    const long ns[] = { 1000, 10000, 100000, 1000000 };
    double all_se = 0;
    int all_runs = 0;
    for (size_t i = 0; i < 4; i++) {
        int seeds = ns[i] >= 1000000 ? 12 : 32;
        double se = 0, worst = 0;
        for (int seed = 0; seed < seeds; seed++) {
            double e = run(ns[i], seed, regs);
            double rel = (e - (double)ns[i]) / (double)ns[i];
            se += rel * rel;
            if (fabs(rel) > fabs(worst))
                worst = rel;
            assert_true(fabs(rel) <= 0.06);
        }
        double rms = sqrt(se / seeds);
        print_message("hll n=%-8ld rms error %.2f%%  worst %+.2f%%  (%d runs)\n", ns[i], rms * 100,
                      worst * 100, seeds);
        assert_true(rms <= 0.025);   /* per size: 12-32 runs estimate it to ~+-0.3% */
        all_se += se;
        all_runs += seeds;
    }
    /* The bound on the standard error, over all 108 runs. */
    double rms = sqrt(all_se / all_runs);
    print_message("hll all sizes: rms error %.2f%% (%d runs)\n", rms * 100, all_runs);
    assert_true(rms <= 0.02);
}

static void test_hll_empty_small_and_duplicates(void **s)
{
    (void)s;
    uint8_t regs[STATE_HLL_BYTES] = { 0 };
    assert_true(state_hll_estimate(regs) == 0.0);
    assert_int_equal(state_hll_add(regs, wd_hash64("a", 1, 1)), 1);
    assert_int_equal(state_hll_add(regs, wd_hash64("a", 1, 1)), 0);
    assert_true(fabs(state_hll_estimate(regs) - 1.0) < 0.01);
    for (int r = 0; r < 10; r++)
        for (int i = 0; i < 100; i++) {
            char b[8];
            int n = snprintf(b, sizeof b, "%d", i);
            state_hll_add(regs, wd_hash64(b, (size_t)n, 1));
        }
    double e = state_hll_estimate(regs);
    assert_true(e > 97 && e < 103);
}

static void test_hll_merge_equals_union(void **s)
{
    (void)s;
    uint8_t a[STATE_HLL_BYTES] = { 0 }, b[STATE_HLL_BYTES] = { 0 }, u[STATE_HLL_BYTES] = { 0 };
    for (int i = 0; i < 30000; i++) {
        char k[16];
        int n = snprintf(k, sizeof k, "%d", i);
        uint64_t h = wd_hash64(k, (size_t)n, 7);
        if (i < 20000)
            state_hll_add(a, h);
        if (i >= 10000)
            state_hll_add(b, h);
        state_hll_add(u, h);
    }
    state_hll_merge(a, b);
    assert_memory_equal(a, u, STATE_HLL_BYTES);
    double e = state_hll_estimate(a);
    assert_true(e > 30000 * 0.94 && e < 30000 * 1.06);
}

/* Short keys differing in one character: every output bit is set about
 * half the time, and the top 12 bits (the register index) are spread. */
static void test_hash_spreads_similar_short_keys(void **s)
{
    (void)s;
    enum { N = 65536 };
    unsigned bits[64] = { 0 };
    static unsigned buckets[4096];
    for (int i = 0; i < N; i++) {
        char k[16];
        int n = snprintf(k, sizeof k, "u%d", i);
        uint64_t h = wd_hash64(k, (size_t)n, 0);
        for (int b = 0; b < 64; b++)
            bits[b] += (h >> b) & 1;
        buckets[h >> 52]++;
    }
    for (int b = 0; b < 64; b++)
        assert_true(bits[b] > N * 0.47 && bits[b] < N * 0.53);
    unsigned empty = 0, max = 0;
    for (int i = 0; i < 4096; i++) {
        empty += buckets[i] == 0;
        if (buckets[i] > max)
            max = buckets[i];
    }
    assert_true(empty < 10);      /* expected 4096 * e^-16: none */
    assert_true(max < 45);        /* mean 16 */
    /* seed and length matter */
    assert_true(wd_hash64("abc", 3, 0) != wd_hash64("abc", 3, 1));
    assert_true(wd_hash64("abc", 3, 0) != wd_hash64("abc\0", 4, 0));
    assert_true(wd_hash64("", 0, 0) != wd_hash64("", 0, 1));
    /* every length path (0..40 bytes) hashes without reading past the end */
    char buf[41];
    memset(buf, 'x', sizeof buf);
    uint64_t prev = 0;
    for (size_t n = 0; n <= 40; n++) {
        uint64_t h = wd_hash64(buf, n, 0);
        assert_true(h != prev);
        prev = h;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hll_relative_error_1e3_to_1e6),
        cmocka_unit_test(test_hll_empty_small_and_duplicates),
        cmocka_unit_test(test_hll_merge_equals_union),
        cmocka_unit_test(test_hash_spreads_similar_short_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
