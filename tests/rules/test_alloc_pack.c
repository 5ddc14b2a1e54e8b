/* tests/rules/test_alloc_pack.c — loading the example rule pack (its rule
 * files, counters.lua and lists/) with allocation N failing for N = 1, 2,
 * … until the load succeeds (base/wd_alloc.h): every failing load returns
 * an error saying memory (no crash, no abort, nothing leaked under
 * LSan/valgrind), and the one that succeeds holds what a load without
 * failure holds — no rule, counter, list or list entry silently missing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/wd_alloc.h"
#include "base/wd_buf.h"
#include "base/wd_lua.h"
#include "rules/rule_counters.h"
#include "rules/rule_lists.h"
#include "rules/rule_lua.h"
#include "rules/rule_pack.h"
#include "tests/base/alloc_loop.h"

#define PACK "examples/rules"

typedef struct loaded {
    wd_lua_t         *vm;
    rule_ctx_t        ctx;
    rule_pack_t      *pack;
    rule_counters_t  *counters;
    rule_lists_t     *lists;
} loaded_t;

static void unload(loaded_t *l)
{
    rule_pack_destroy(l->pack);
    wd_lua_destroy(l->vm);
    rule_counters_destroy(l->counters);
    rule_lists_destroy(l->lists);
    memset(l, 0, sizeof(*l));
}

/* The engine's load order: VM, ctx, rule files, counters.lua, lists/.
 * Returns 0, or -1 with the first error in err. */
static int load(loaded_t *l, char *err, size_t errn)
{
    memset(l, 0, sizeof(*l));
    err[0] = '\0';
    l->vm = wd_lua_new(64u << 20, 1000000, err, errn);
    if (l->vm == NULL)
        return -1;
    rule_lua_init(l->vm, &l->ctx);
    if ((l->pack = rule_pack_load(l->vm, PACK, err, errn)) == NULL ||
        rule_counters_load(PACK, &l->counters, err, errn) != 0 ||
        (l->lists = rule_lists_load(PACK, err, errn)) == NULL) {
        unload(l);
        return -1;
    }
    return 0;
}

/* What was loaded, as text. */
static void dump(const loaded_t *l, wd_buf_t *b)
{
    rule_t *const *rules;
    size_t n = rule_pack_rules(l->pack, &rules);
    wd_buf_printf(b, "pack %s, %zu rules\n", rule_pack_hash(l->pack), n);
    for (size_t i = 0; i < n; i++) {
        const rule_t *r = rules[i];
        wd_buf_printf(b, "%s v%ld mode %d sha %s tests %zu:", r->name, r->version, r->mode, r->sha256,
                      r->ntests);
        for (size_t j = 0; j < r->nstreams; j++) {
            rule_t *const *sr;
            size_t ns = rule_pack_stream_rules(l->pack, r->streams[j], strlen(r->streams[j]), &sr);
            wd_buf_printf(b, " %s(%zu)", r->streams[j], ns);
        }
        for (size_t j = 0; j < r->nfields; j++)
            wd_buf_printf(b, " .%s", r->fields[j]);
        wd_buf_addc(b, '\n');
    }
    size_t nc = rule_counters_count(l->counters);
    for (size_t i = 0; i < nc; i++) {
        const rule_counter_spec_t *c = rule_counters_get(l->counters, i);
        wd_buf_printf(b, "counter %s on %s by %s, %zu windows\n", c->name, c->stream, c->key,
                      c->nwindows);
    }
    size_t nl = rule_lists_count(l->lists);
    for (size_t i = 0; i < nl; i++) {
        const char *name = rule_lists_name(l->lists, i);
        wd_buf_printf(b, "list %s: %zu entries\n", name, rule_list_size(rule_lists_get(l->lists, name)));
    }
}

static wd_buf_t want = WD_BUF_INIT;

/* One load into *ud. */
static int load_op(void *ud, char *err, size_t errn)
{
    return load(ud, err, errn);
}

/* A success must hold want. */
static void load_done(void *ud, int rc)
{
    loaded_t *l = ud;
    if (rc != 0)
        return;
    wd_buf_t got = WD_BUF_INIT;
    dump(l, &got);
    unload(l);
    if (strcmp(got.data, want.data) != 0) {
        size_t at = 0;
        while (got.data[at] == want.data[at])
            at++;
        while (at > 0 && want.data[at - 1] != '\n')
            at--;
        fail_msg("loaded something else: got\n%.300s\nwant\n%.300s", got.data + at, want.data + at);
    }
    wd_buf_free(&got);
}

static void test_alloc_example_pack_loads_or_fails_cleanly(void **st)
{
    (void)st;
    char err[8192];
    loaded_t l;
    if (load(&l, err, sizeof err) != 0)
        fail_msg("%s", err);
    dump(&l, &want);
    unload(&l);
    al_report_t r;
    alloc_loop("example pack (rules, counters.lua, lists)", load_op, load_done, &l, &r);
    assert_true(r.c_failures > 0);
    wd_buf_free(&want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_example_pack_loads_or_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
