/* engine/eng_test.c — the rule test runner behind `warden test`: runs the `tests` of a rule.  Each case starts from fresh
 * state; its events (Lua tables) are encoded to JSON and go through the real
 * engine in strict mode (reading an undeclared field fails), so a passing
 * test means the same thing as a hit in production.  The case compares the
 * rule's own hits with `expect`. */
#include <getopt.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/wd_buf.h"
#include "engine/eng_test.h"
#include "engine/eng_engine.h"
#include "base/wd_alloc.h"
#include "base/wd_lua.h"
#include "rules/rule_pack.h"

#define TEST_BASE_MS 1767225600000LL   /* 2026-01-01T00:00:00Z: default event time */
#define MAX_DEPTH 32

typedef struct got_hit {
    int    event;        /* 1-based index in the case */
    int    verdict;
    int    mode;
    char  *entity;       /* may hold NUL bytes: compared by length */
    size_t entity_len;
    char  *reason;
    size_t reason_len;
    int    has_score;
    double score;
} got_hit_t;

typedef struct key_ref {
    const char *s;
    size_t      len;
} key_ref_t;

/* Byte order, a prefix first: "a" < "a\0b" < "ab". */
static int key_cmp(const key_ref_t *a, const key_ref_t *b)
{
    int c = memcmp(a->s, b->s, a->len < b->len ? a->len : b->len);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* Is the Lua string at idx exactly s[0..n)?  By length: "a\0WRONG" is
 * not "a\0REAL". */
static int lua_str_is(lua_State *L, int idx, const char *s, size_t n)
{
    size_t l;
    const char *v = lua_tolstring(L, idx, &l);
    return v != NULL && l == n && memcmp(v, s, n) == 0;
}

/* t[k] without metamethods: test tables are read outside any protected
 * call, where a raising __index would abort the process. */
static int rawfield(lua_State *L, int t, const char *k)
{
    t = lua_absindex(L, t);
    lua_pushstring(L, k);
    return lua_rawget(L, t);
}

static int cmp_key(const void *a, const void *b)
{
    return key_cmp(a, b);
}

/* Encodes the Lua value at idx as JSON.  Returns 0 or -1 with err. */
static int encode(lua_State *L, int idx, wd_buf_t *b, int depth, char *err, size_t errn)
{
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        wd_buf_adds(b, "null");
        return 0;
    case LUA_TBOOLEAN:
        wd_buf_adds(b, lua_toboolean(L, idx) ? "true" : "false");
        return 0;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            wd_buf_printf(b, "%lld", (long long)lua_tointeger(L, idx));
        } else {
            double d = lua_tonumber(L, idx);
            if (!isfinite(d)) {
                snprintf(err, errn, "a number that is not finite cannot be JSON");
                return -1;
            }
            wd_buf_json_num(b, d);
        }
        return 0;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        wd_buf_json_str(b, s, n);
        return 0;
    }
    case LUA_TTABLE:
        break;
    default:
        snprintf(err, errn, "a %s cannot be part of a test event", luaL_typename(L, idx));
        return -1;
    }
    if (depth > MAX_DEPTH) {
        snprintf(err, errn, "test event nested deeper than %d", MAX_DEPTH);
        return -1;
    }
    size_t n = lua_rawlen(L, idx), count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        count++;
        lua_pop(L, 1);
    }
    if (n > 0 && n == count) {
        wd_buf_addc(b, '[');
        for (size_t i = 1; i <= n; i++) {
            if (i > 1)
                wd_buf_addc(b, ',');
            lua_rawgeti(L, idx, (lua_Integer)i);
            int rc = encode(L, -1, b, depth + 1, err, errn);
            lua_pop(L, 1);
            if (rc)
                return rc;
        }
        wd_buf_addc(b, ']');
        return 0;
    }
    /* Objects: keys sorted so the encoding does not depend on table order. */
    key_ref_t *keys = wd_calloc(count ? count : 1, sizeof(*keys));
    if (keys == NULL) {
        snprintf(err, errn, "out of memory while encoding the event");
        return -1;
    }
    size_t k = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            free(keys);
            snprintf(err, errn, "test event tables must have string keys (or be lists)");
            return -1;
        }
        keys[k].s = lua_tolstring(L, -1, &keys[k].len);   /* anchored by the table */
        k++;
    }
    if (k > 1)
        qsort(keys, k, sizeof(*keys), cmp_key);   /* O(n log n): events may have 100k keys */
    wd_buf_addc(b, '{');
    int rc = 0;
    for (size_t i = 0; i < k && rc == 0; i++) {
        if (i)
            wd_buf_addc(b, ',');
        wd_buf_json_str(b, keys[i].s, keys[i].len);
        wd_buf_addc(b, ':');
        lua_pushlstring(L, keys[i].s, keys[i].len);
        lua_rawget(L, idx);
        rc = encode(L, -1, b, depth + 1, err, errn);
        lua_pop(L, 1);
    }
    wd_buf_addc(b, '}');
    free(keys);
    return rc;
}

/* Encodes test event j (1-based) at idx, adding stream, id and ts when the
 * event has none. */
static int encode_event(lua_State *L, int idx, const eng_opts_t *o, const rule_t *r, int j,
                        wd_buf_t *b, char *err, size_t errn)
{
    wd_buf_reset(b);
    if (encode(L, idx, b, 0, err, errn) != 0)
        return -1;
    if (b->len < 2 || b->data[0] != '{') {
        snprintf(err, errn, "a test event must be a table with named fields");
        return -1;
    }
    wd_buf_t extra = WD_BUF_INIT;
    rawfield(L, idx, o->stream_field);
    if (lua_isnil(L, -1)) {
        wd_buf_json_str(&extra, o->stream_field, strlen(o->stream_field));
        wd_buf_addc(&extra, ':');
        wd_buf_json_str(&extra, r->streams[0], strlen(r->streams[0]));
        wd_buf_addc(&extra, ',');
    }
    lua_pop(L, 1);
    rawfield(L, idx, o->id_field);
    if (lua_isnil(L, -1)) {
        wd_buf_json_str(&extra, o->id_field, strlen(o->id_field));
        wd_buf_printf(&extra, ":\"t%d\",", j);
    }
    lua_pop(L, 1);
    rawfield(L, idx, o->ts_field);
    if (lua_isnil(L, -1)) {
        wd_buf_json_str(&extra, o->ts_field, strlen(o->ts_field));
        wd_buf_printf(&extra, ":%lld,", TEST_BASE_MS + (long long)(j - 1) * 1000);
    }
    lua_pop(L, 1);
    if (extra.len) {
        if (b->len == 2)   /* "{}" */
            extra.data[--extra.len] = '\0';
        wd_buf_t all = WD_BUF_INIT;
        wd_buf_addc(&all, '{');
        wd_buf_add(&all, extra.data, extra.len);
        wd_buf_add(&all, b->data + 1, b->len - 1);
        wd_buf_free(b);
        *b = all;
    }
    wd_buf_free(&extra);
    return 0;
}

static void describe_hit(wd_buf_t *b, const got_hit_t *h)
{
    static const char *const v[] = { "none", "flag", "review", "block" };
    wd_buf_printf(b, "%s entity=", v[h->verdict]);
    wd_buf_json_str(b, h->entity, h->entity_len);
    if (h->reason) {
        wd_buf_adds(b, " reason=");
        wd_buf_json_str(b, h->reason, h->reason_len);
    }
    if (h->has_score)
        wd_buf_printf(b, " score=%g", h->score);
    wd_buf_printf(b, " (event %d)", h->event);
}

/* Appends the value at the top without calling metamethods. */
static void plain_value(lua_State *L, wd_buf_t *b)
{
    if (lua_type(L, -1) == LUA_TNUMBER || lua_type(L, -1) == LUA_TSTRING)
        wd_buf_adds(b, lua_tostring(L, -1));
    else if (lua_isboolean(L, -1))
        wd_buf_adds(b, lua_toboolean(L, -1) ? "true" : "false");
    else
        wd_buf_printf(b, "(%s)", luaL_typename(L, -1));
}

/* Describes expectation table at idx ("block entity=\"u1\""). */
static void describe_expect(lua_State *L, int idx, wd_buf_t *b)
{
    static const char *const keys[] = { "verdict", "entity", "reason", "score", "mode", "event", NULL };
    int first = 1;
    for (const char *const *k = keys; *k; k++) {
        rawfield(L, idx, *k);
        if (!lua_isnil(L, -1)) {
            if (!first)
                wd_buf_addc(b, ' ');
            first = 0;
            if (strcmp(*k, "verdict") == 0) {
                plain_value(L, b);
            } else {
                wd_buf_printf(b, "%s=", *k);
                if (lua_type(L, -1) == LUA_TSTRING) {
                    size_t n;
                    const char *s = lua_tolstring(L, -1, &n);
                    wd_buf_json_str(b, s, n);
                } else {
                    plain_value(L, b);
                }
            }
        }
        lua_pop(L, 1);
    }
    if (first)
        wd_buf_adds(b, "(any hit)");
}

/* Does hit h satisfy the expectation table at idx?  Only given keys count. */
static int matches(lua_State *L, int idx, const got_hit_t *h)
{
    static const char *const v[] = { "none", "flag", "review", "block" };
    int ok = 1;
    rawfield(L, idx, "verdict");
    if (!lua_isnil(L, -1) && (lua_type(L, -1) != LUA_TSTRING ||
                              !lua_str_is(L, -1, v[h->verdict], strlen(v[h->verdict]))))
        ok = 0;
    lua_pop(L, 1);
    rawfield(L, idx, "entity");
    if (!lua_isnil(L, -1)) {
        /* A number expected is compared as the text Lua gives it, which
         * is what an entity given as a number becomes. */
        int t = lua_type(L, -1);
        if (t != LUA_TSTRING && t != LUA_TNUMBER) {
            ok = 0;
        } else {
            lua_pushvalue(L, -1);   /* lua_tolstring would turn the table's value into a string */
            if (!lua_str_is(L, -1, h->entity, h->entity_len))
                ok = 0;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    rawfield(L, idx, "reason");
    if (!lua_isnil(L, -1) && (lua_type(L, -1) != LUA_TSTRING || h->reason == NULL ||
                              !lua_str_is(L, -1, h->reason, h->reason_len)))
        ok = 0;
    lua_pop(L, 1);
    rawfield(L, idx, "score");
    if (!lua_isnil(L, -1) && (!h->has_score || fabs(lua_tonumber(L, -1) - h->score) > 1e-9))
        ok = 0;
    lua_pop(L, 1);
    rawfield(L, idx, "mode");
    if (!lua_isnil(L, -1) && (lua_type(L, -1) != LUA_TSTRING ||
                              !lua_str_is(L, -1, rule_mode_name(h->mode),
                                          strlen(rule_mode_name(h->mode)))))
        ok = 0;
    lua_pop(L, 1);
    rawfield(L, idx, "event");
    if (!lua_isnil(L, -1) && lua_tointeger(L, -1) != h->event)
        ok = 0;
    lua_pop(L, 1);
    return ok;
}



/* Runs case at the top of the stack for rule r.  Prints its result. */
static void run_case(eng_engine_t *e, const eng_opts_t *o, const rule_t *r, int ci,
                     eng_test_totals_t *t)
{
    lua_State *L = wd_lua_state(eng_engine_vm(e));
    int cidx = lua_gettop(L);
    rawfield(L, cidx, "name");
    char cname[200];
    snprintf(cname, sizeof(cname), "%s", lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?");
    lua_pop(L, 1);

    wd_buf_t why = WD_BUF_INIT, json = WD_BUF_INIT;
    if (eng_engine_reset_state(e) != 0)
        wd_buf_printf(&why, "      out of memory while resetting the state\n");
    got_hit_t *got = NULL;
    size_t ngot = 0;
    char err[512];
    rawfield(L, cidx, "events");
    int evs = lua_gettop(L);
    size_t nev = lua_rawlen(L, evs);
    for (size_t j = 1; j <= nev; j++) {
        lua_rawgeti(L, evs, (lua_Integer)j);
        int rc = encode_event(L, lua_gettop(L), o, r, (int)j, &json, err, sizeof(err));
        lua_pop(L, 1);
        if (rc == 0 && wd_buf_failed(&json)) {
            snprintf(err, sizeof(err), "out of memory while encoding the event");
            rc = -1;
        }
        if (rc != 0) {
            wd_buf_printf(&why, "      event %zu: %s\n", j, err);
            continue;
        }
        const eng_outcome_t *out;
        eng_src_t src = { .msg_ts_ms = INT64_MIN, .file = r->file, .line = 0 };
        if (eng_engine_eval(e, NULL, json.data, json.len, &src, &out) != 0) {
            wd_buf_printf(&why, "      event %zu: out of memory while evaluating it\n", j);
            continue;
        }
        if (out->status == ENG_EVENT_REJECTED) {
            wd_buf_printf(&why, "      event %zu rejected: %s\n", j, out->reject_reason);
            continue;
        }
        for (size_t k = 0; k < out->nerrors; k++)
            if (strcmp(out->errors[k].rule, r->name) == 0)
                wd_buf_printf(&why, "      event %zu: rule error: %s\n", j, out->errors[k].message);
        for (size_t k = 0; k < out->nhits; k++) {
            const eng_hit_t *h = &out->hits[k];
            if (strcmp(h->rule, r->name) != 0)
                continue;
            got_hit_t *ng = wd_realloc(got, (ngot + 1) * sizeof(*got));
            if (ng == NULL) {
                wd_buf_printf(&why, "      event %zu: out of memory while keeping its hits\n", j);
                break;
            }
            got = ng;
            got_hit_t *g = &got[ngot];
            memset(g, 0, sizeof(*g));
            g->event = (int)j;
            g->verdict = h->verdict;
            g->mode = h->mode;
            g->entity = wd_malloc(h->entity_len + 1);
            g->reason = h->reason ? wd_malloc(h->reason_len + 1) : NULL;
            if (g->entity == NULL || (h->reason && g->reason == NULL)) {
                free(g->entity);
                free(g->reason);
                wd_buf_printf(&why, "      event %zu: out of memory while keeping its hits\n", j);
                break;
            }
            ngot++;
            memcpy(g->entity, h->entity, h->entity_len);
            g->entity[h->entity_len] = '\0';
            g->entity_len = h->entity_len;
            if (g->reason) {
                memcpy(g->reason, h->reason, h->reason_len);
                g->reason[h->reason_len] = '\0';
            }
            g->reason_len = h->reason_len;
            g->has_score = h->has_score;
            g->score = h->score;
        }
    }
    lua_pop(L, 1);

    rawfield(L, cidx, "expect");
    int ex = lua_gettop(L);
    size_t nexp = lua_rawlen(L, ex);
    int same = nexp == ngot;
    for (size_t k = 0; same && k < nexp; k++) {
        lua_rawgeti(L, ex, (lua_Integer)(k + 1));
        same = matches(L, lua_gettop(L), &got[k]);
        lua_pop(L, 1);
    }
    int pass = same && why.len == 0 && !wd_buf_failed(&why);
    t->cases++;
    if (pass) {
        t->passed++;
        if (t->verbose)
            printf("  ok    %s: %s\n", r->name, cname);
    } else {
        t->failed++;
        printf("  FAIL  %s: %s  (%s, test #%d)\n", r->name, cname, r->file, ci);
        if (why.len)
            fputs(why.data, stdout);
        if (!same) {
            wd_buf_t d = WD_BUF_INIT;
            wd_buf_printf(&d, "      expected %zu hit(s), got %zu:\n", nexp, ngot);
            size_t n = nexp > ngot ? nexp : ngot;
            for (size_t k = 0; k < n; k++) {
                int ok = 0;
                if (k < nexp && k < ngot) {
                    lua_rawgeti(L, ex, (lua_Integer)(k + 1));
                    ok = matches(L, lua_gettop(L), &got[k]);
                    lua_pop(L, 1);
                }
                if (k < nexp) {
                    wd_buf_printf(&d, "      %s expected: ", ok ? " " : "-");
                    lua_rawgeti(L, ex, (lua_Integer)(k + 1));
                    describe_expect(L, lua_gettop(L), &d);
                    lua_pop(L, 1);
                    wd_buf_addc(&d, '\n');
                }
                if (k < ngot) {
                    wd_buf_printf(&d, "      %s actual:   ", ok ? " " : "+");
                    describe_hit(&d, &got[k]);
                    wd_buf_addc(&d, '\n');
                }
            }
            fputs(d.data, stdout);
            wd_buf_free(&d);
        }
    }
    lua_pop(L, 1);
    for (size_t k = 0; k < ngot; k++) {
        free(got[k].entity);
        free(got[k].reason);
    }
    free(got);
    wd_buf_free(&why);
    wd_buf_free(&json);
}

/* Runs every case of rule r (its tests table) on e; prints one line per
 * failing case (every case when t->verbose) and adds to t. */
void eng_test_rule(eng_engine_t *e, const eng_opts_t *o, const rule_t *r, eng_test_totals_t *t)
{
    lua_State *L = wd_lua_state(eng_engine_vm(e));
    t->rules++;
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->tests_ref);
    int tests = lua_gettop(L);
    for (size_t k = 1; k <= r->ntests; k++) {
        lua_rawgeti(L, tests, (lua_Integer)k);
        run_case(e, o, r, (int)k, t);
        lua_settop(L, tests);
    }
    lua_pop(L, 1);
}
