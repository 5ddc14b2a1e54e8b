/* bench/eval: whole-engine throughput against a pure-Lua baseline.
 *
 *   build/bench/eval RULES_DIR EVENTS.jsonl [TOTAL]
 *
 * Loads up to 100,000 distinct events and cycles them to TOTAL (default
 * 1,000,000) evaluations.  Engine: raw JSON bytes → eng_engine_eval (parse,
 * routing, counters, `ev` view, rules, decision).  Baseline, same run, same
 * events and rules: each event pre-built as a plain Lua table (outside the
 * timing) and handed straight to the rules of its stream — pure Lua cost,
 * no parsing, no routing, no view.  Prints both and their ratio. */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/eng_engine.h"
#include "base/wd_json.h"
#include "base/wd_lua.h"
#include "base/wd_util.h"
#include "rules/rule_lua.h"
#include "rules/rule_pack.h"

#define MAX_DISTINCT 100000

typedef struct ev {
    char   *json;
    size_t  len;
    int     table_ref;   /* baseline: the event as a plain Lua table */
    rule_t *const *rules;
    size_t  nrules;
    int64_t ts;
} ev_t;

static void push_plain(lua_State *L, wd_jval_t v)
{
    if (rule_lua_push_scalar(L, v))
        return;
    int arr = wd_jval_type(v) == WD_JARRAY;
    lua_createtable(L, arr ? (int)wd_jval_count(v) : 0, arr ? 0 : (int)wd_jval_count(v));
    wd_jiter_t it;
    const char *k;
    size_t kl;
    wd_jval_t c;
    lua_Integer i = 1;
    wd_jiter_begin(v, &it);
    while (wd_jiter_next(&it, &k, &kl, &c)) {
        push_plain(L, c);
        if (arr)
            lua_rawseti(L, -2, i++);
        else {
            lua_pushlstring(L, k, kl);
            lua_insert(L, -2);
            lua_rawset(L, -3);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s RULES_DIR EVENTS.jsonl [TOTAL]\n", argv[0]);
        return 2;
    }
    long total = argc > 3 ? atol(argv[3]) : 1000000;
    eng_opts_t opts;
    eng_opts_default(&opts);
    opts.mem_cap = 0;    /* the baseline's tables live in the same VM */
    static char err[65536];
    eng_engine_t *e = eng_engine_new(&opts, argv[1], err, sizeof(err));
    if (e == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    FILE *f = fopen(argv[2], "r");
    if (f == NULL) {
        perror(argv[2]);
        return 1;
    }
    ev_t *evs = calloc(MAX_DISTINCT, sizeof(*evs));
    size_t n = 0, cap = 0;
    ssize_t len;
    char *line = NULL;
    wd_json_t *js = wd_json_new(0);
    lua_State *L = wd_lua_state(eng_engine_vm(e));
    const rule_pack_t *pack = eng_engine_pack(e);
    while (n < MAX_DISTINCT && (len = getline(&line, &cap, f)) > 1) {
        wd_jval_t root, s, t;
        if (wd_json_parse(js, line, (size_t)len, &root, err, sizeof(err)) != 0)
            continue;
        if (!wd_jval_get(root, "type", 4, &s) || wd_jval_type(s) != WD_JSTRING)
            continue;
        size_t sl;
        const char *sn = wd_jval_str(s, &sl);
        evs[n].json = strndup(line, (size_t)len);
        evs[n].len = (size_t)len;
        evs[n].nrules = rule_pack_stream_rules(pack, sn, sl, &evs[n].rules);
        evs[n].ts = 0;
        if (wd_jval_get(root, "ts", 2, &t) && wd_jval_type(t) == WD_JSTRING) {
            const char *ts = wd_jval_str(t, &sl);
            wd_parse_rfc3339(ts, sl, &evs[n].ts);
        }
        push_plain(L, root);
        evs[n].table_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        n++;
    }
    free(line);
    fclose(f);
    wd_json_destroy(js);
    if (n == 0) {
        fprintf(stderr, "no events in %s\n", argv[2]);
        return 1;
    }
    rule_t *const *all;
    size_t nall = rule_pack_rules(pack, &all);
    printf("bench/eval: %s, %zu rules, %zu distinct events cycled to %ld\n", argv[1], nall, n, total);

    /* Baseline: rules on prebuilt tables. */
    rule_ctx_t *c = eng_engine_rule_ctx(e);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->ctx_ref);
    int ctx_idx = lua_gettop(L);
    uint64_t calls = 0, base_hits = 0, base_err = 0;
    uint64_t t0 = wd_now_ns();
    for (long i = 0; i < total; i++) {
        ev_t *ev = &evs[i % (long)n];
        c->ts_ms = ev->ts;
        for (size_t k = 0; k < ev->nrules; k++) {
            c->rule = ev->rules[k];
            lua_rawgeti(L, LUA_REGISTRYINDEX, ev->rules[k]->eval_ref);
            lua_rawgeti(L, LUA_REGISTRYINDEX, ev->table_ref);
            lua_pushvalue(L, ctx_idx);
            if (lua_pcall(L, 2, 1, 0) != LUA_OK)
                base_err++;
            else if (!lua_isnil(L, -1))
                base_hits++;
            lua_pop(L, 1);
            calls++;
        }
    }
    double base_s = (double)(wd_now_ns() - t0) / 1e9;
    lua_pop(L, 1);
    eng_engine_reset_state(e);

    /* Engine: bytes in, outcome out. */
    uint64_t hits = 0, rejected = 0, rule_errors = 0;
    t0 = wd_now_ns();
    for (long i = 0; i < total; i++) {
        ev_t *ev = &evs[i % (long)n];
        const eng_outcome_t *o;
        eng_src_t src = { .msg_ts_ms = INT64_MIN, .file = "bench", .line = i };
        eng_engine_eval(e, NULL, ev->json, ev->len, &src, &o);
        hits += o->nhits;
        rule_errors += o->nerrors;
        rejected += o->status == ENG_EVENT_REJECTED;
    }
    double eng_s = (double)(wd_now_ns() - t0) / 1e9;
    const eng_rule_stats_t *st;
    size_t ns = eng_engine_rule_stats(e, &st);
    uint64_t evals = 0;
    for (size_t i = 0; i < ns; i++)
        evals += st[i].evals;

    printf("  baseline (Lua tables, rules only): %10.0f events/s  %10.0f rule evals/s  %6.1f ns/rule eval"
           "  (%llu calls, %llu non-nil, %llu errors)\n",
           (double)total / base_s, (double)calls / base_s, base_s * 1e9 / (double)(calls ? calls : 1),
           (unsigned long long)calls, (unsigned long long)base_hits, (unsigned long long)base_err);
    printf("  engine   (parse+route+state+ev+rules): %6.0f events/s  %10.0f rule evals/s  %6.1f ns/rule eval"
           "  (%llu hits, %llu rule errors, %llu rejected)\n",
           (double)total / eng_s, (double)evals / eng_s, eng_s * 1e9 / (double)(evals ? evals : 1),
           (unsigned long long)hits, (unsigned long long)rule_errors, (unsigned long long)rejected);
    printf("  ratio engine/baseline time: %.2fx   (aim <= 3x; engine %.0f ns/event)\n", eng_s / base_s,
           eng_s * 1e9 / (double)total);
    for (size_t i = 0; i < n; i++) {
        luaL_unref(L, LUA_REGISTRYINDEX, evs[i].table_ref);
        free(evs[i].json);
    }
    free(evs);
    eng_engine_destroy(e);
    return 0;
}
