/* engine/eng_test.h — the rule test runner: runs the `tests` cases inside a
 * rule file through the real engine in strict mode (an undeclared field read
 * fails), each case from fresh state, and compares the rule's hits with the
 * case's `expect`. */
#ifndef WARDEN_ENGINE_ENG_TEST_H
#define WARDEN_ENGINE_ENG_TEST_H

#include "engine/eng_engine.h"
#include "rules/rule_pack.h"

typedef struct eng_test_totals {
    int cases, passed, failed, rules;
    int verbose;
} eng_test_totals_t;

/* Runs every case of r (r->tests_ref must be set) on e with options o,
 * printing failing cases (all cases when t->verbose); adds to t. */
void eng_test_rule(eng_engine_t *e, const eng_opts_t *o, const rule_t *r, eng_test_totals_t *t);

#endif
