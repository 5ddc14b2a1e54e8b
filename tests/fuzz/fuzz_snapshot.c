/* tests/fuzz/fuzz_snapshot.c — libFuzzer target: bytes as a state snapshot
 * (what a changelog record or --state-in holds) loaded into a state with
 * the example pack's counters.  A load either succeeds, and the state then
 * answers reads and saves again, or fails with a message and leaves the
 * state untouched.
 *   build-fuzz/fuzz/fuzz_snapshot -max_total_time=60 tests/fuzz/corpus/snapshot */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/wd_buf.h"
#include "rules/rule_counters.h"
#include "state/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static state_t *proto;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[4096];
    if (!proto) {
        rule_counters_t *cs;
        if (rule_counters_load("examples/rules", &cs, err, sizeof(err)) != 0) {
            fprintf(stderr, "fuzz_snapshot: run from the repository root: %s\n", err);
            abort();
        }
        proto = state_new(rule_counters_defs(cs), rule_counters_count(cs), 64u << 20, err, sizeof(err));
        rule_counters_destroy(cs);
        if (!proto)
            abort();
    }
    state_t *st = state_new_like(proto);
    if (!st)
        abort();
    wd_buf_t before = WD_BUF_INIT, after = WD_BUF_INIT;
    state_save_buf(st, &before);
    if (state_load_buf(st, data, size, err, sizeof(err)) == 0) {
        state_stats_t s;
        state_stats(st, &s);
        wd_buf_t again = WD_BUF_INIT;
        if (state_save_buf(st, &again) != 0)
            abort();
        wd_buf_free(&again);
    } else {
        if (err[0] == '\0')
            abort();
        state_save_buf(st, &after);   /* a failed load leaves the state as it was */
        if (before.len != after.len || memcmp(before.data, after.data, before.len) != 0)
            abort();
    }
    wd_buf_free(&before);
    wd_buf_free(&after);
    state_destroy(st);
    return 0;
}
