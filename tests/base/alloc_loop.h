/* tests/base/alloc_loop.h — the "fail allocation N for N = 1, 2, … until
 * the call succeeds" loop of the test_alloc* binaries (base/wd_alloc.h).
 * Header-only, included once per test binary.
 *
 * An operation op(ud, err, errn) makes its call and returns 0, keeping what
 * it made in ud, or -1 with the call's error in err (having freed
 * everything); then, with the hook disarmed, done(ud, rc) checks a success
 * against the result without failure (fail_msg) and frees it.  The loop:
 *  1. every C allocation: Lua's growth not counted, N = 1, 2, … until the
 *     armed failure no longer fires — each N a failing call must say
 *     "memory", and a call may only fail when the failure fired;
 *  2. every allocation, Lua's included: the first 64, then a stride over
 *     the rest (a pack load makes thousands of Lua allocations, each walk
 *     a full load), ALLOC_STEPS steps (200; 40 under valgrind).
 * LSan and valgrind see every failure path's leaks at exit. */
#ifndef WARDEN_TESTS_BASE_ALLOC_LOOP_H
#define WARDEN_TESTS_BASE_ALLOC_LOOP_H

#include <stdlib.h>
#include <string.h>

#include "base/wd_alloc.h"

typedef int (*al_op_fn)(void *ud, char *err, size_t errn);
typedef void (*al_done_fn)(void *ud, int rc);

typedef struct al_report {
    long c_allocs;    /* C allocations of the call (phase 1: N reached - 1) */
    long c_failures;  /* of those, the failures that made the call fail */
    long allocs;      /* all allocations of the call, Lua's included */
    long tried;       /* phase 2 steps */
    long failures;    /* phase 2 failures that made the call fail */
} al_report_t;

#define AL_MAX_N 1000000L

/* One attempt with allocation n failing; the checks every attempt meets. */
static inline void al_try(const char *what, al_op_fn op, al_done_fn done, void *ud, long n, int *fired,
                          int *failed)
{
    char err[8192];
    err[0] = '\0';
    wd_alloc_fail_after(n);
    int rc = op(ud, err, sizeof err);
    *fired = wd_alloc_failed();
    wd_alloc_fail_after(0);
    done(ud, rc);
    *failed = rc != 0;
    if (rc != 0 && !*fired)
        fail_msg("%s, N=%ld: failed without a failed allocation: %.500s", what, n, err);
    if (rc != 0 && strstr(err, "memory") == NULL)
        fail_msg("%s, N=%ld: the error does not say memory: %.500s", what, n, err);
}

/* How many allocations op makes (lua: counting Lua's growth). */
static inline long al_count(const char *what, al_op_fn op, al_done_fn done, void *ud, int lua)
{
    char err[8192];
    wd_alloc_count_lua(lua);
    wd_alloc_fail_after(AL_MAX_N * 100);
    int rc = op(ud, err, sizeof err);
    long n = AL_MAX_N * 100 - atomic_load(&wd_alloc_countdown_);
    wd_alloc_fail_after(0);
    if (rc != 0)
        fail_msg("%s: fails without any failed allocation: %.500s", what, err);
    done(ud, rc);
    return n;
}

/* Walks N = 1 … total+1 (every N under a stride of 1); *tried, *failures. */
static inline void al_walk(const char *what, al_op_fn op, al_done_fn done, void *ud, long total,
                           long stride, long *tried, long *failures)
{
    int fired, failed;
    for (long n = 1; n <= total; n += n < 64 ? 1 : stride) {
        al_try(what, op, done, ud, n, &fired, &failed);
        if (!fired)
            fail_msg("%s: N=%ld of %ld allocations did not fire", what, n, total);
        ++*tried;
        *failures += failed;
    }
    al_try(what, op, done, ud, total + 1, &fired, &failed);
    if (fired || failed)
        fail_msg("%s: N=%ld past the count of %ld allocations still fired", what, total + 1, total);
}

static inline void alloc_loop(const char *what, al_op_fn op, al_done_fn done, void *ud, al_report_t *r)
{
    memset(r, 0, sizeof(*r));
    const char *vg = getenv("WARDEN_VALGRIND");
    int slow = vg && *vg == '1';
    long tried = 0;
    r->c_allocs = al_count(what, op, done, ud, 0);
    al_walk(what, op, done, ud, r->c_allocs, slow && r->c_allocs > 40 ? r->c_allocs / 40 : 1, &tried,
            &r->c_failures);
    r->allocs = al_count(what, op, done, ud, 1);
    long steps = slow ? 40 : 200;
    al_walk(what, op, done, ud, r->allocs, r->allocs / steps > 1 ? r->allocs / steps : 1, &r->tried,
            &r->failures);
    wd_alloc_count_lua(1);
    print_message("%s: %ld C allocations (%ld of %ld tried failed the call, the rest were absorbed), "
                  "%ld in all with Lua's (%ld of %ld tried failed the call)\n", what, r->c_allocs,
                  r->c_failures, tried, r->allocs, r->failures, r->tried);
}

#endif
