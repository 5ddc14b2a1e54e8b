/* tests/fuzz/fuzz_event.c — libFuzzer target: one event through the whole
 * evaluation (parse, route, counters, rules, decision) with the example
 * pack, in both event views.  Differential: the production table view and
 * the checking view must give the same status, the same hits (rule,
 * verdict, entity, reason, score) and the same decision.  Both engines see
 * the same sequence of inputs, so their state stays equal.
 *   build-fuzz/fuzz/fuzz_event -max_total_time=60 tests/fuzz/corpus/event */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/eng_engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static eng_engine_t *fast, *checking;

static eng_engine_t *open_engine(int strict)
{
    eng_opts_t o;
    eng_opts_default(&o);
    o.strict_fields = strict;
    o.state_max_mb = 64;
    static char err[65536];
    const char *pack = getenv("WARDEN_FUZZ_PACK");
    eng_engine_t *e = eng_engine_new(&o, pack ? pack : "examples/rules", err, sizeof(err));
    if (!e) {
        fprintf(stderr, "fuzz_event: the pack does not load (run from the repository root):\n%s\n", err);
        abort();
    }
    return e;
}

static int same_str(const char *a, size_t al, const char *b, size_t bl)
{
    return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fast) {
        fast = open_engine(0);
        checking = open_engine(1);
    }
    eng_src_t src = { .file = "fuzz", .line = 1, .msg_ts_ms = INT64_MIN };
    const eng_outcome_t *a, *b;
    if (eng_engine_eval(fast, NULL, (const char *)data, size, &src, &a) != 0)
        abort();
    if (eng_engine_eval(checking, NULL, (const char *)data, size, &src, &b) != 0)
        abort();
    if (a->status != b->status)
        abort();
    if (a->status != ENG_EVENT_OK)
        return 0;
    /* A rule that reads an undeclared field errors in the checking view
     * only: the example pack declares what it reads, so none may. */
    if (a->nhits != b->nhits || a->decision != b->decision)
        abort();
    for (size_t i = 0; i < a->nhits; i++) {
        const eng_hit_t *x = &a->hits[i], *y = &b->hits[i];
        if (strcmp(x->rule, y->rule) != 0 || x->verdict != y->verdict || x->mode != y->mode ||
            !same_str(x->entity, x->entity_len, y->entity, y->entity_len) ||
            !same_str(x->reason ? x->reason : "", x->reason_len, y->reason ? y->reason : "",
                      y->reason_len) ||
            x->has_score != y->has_score || (x->has_score && x->score != y->score))
            abort();
    }
    if (a->decision && !same_str(a->decision_entity, a->decision_entity_len, b->decision_entity,
                                 b->decision_entity_len))
        abort();
    return 0;
}
