/* The trace recorder of warden explain (rules/rule_trace.h).  Entries are
 * plain C records with copied strings, grouped by rule call.  The tracing
 * `ev` is a userdata wrapping the real view (user value 1) with the path
 * that led to it (user value 2): reads go through the real view first, so
 * the rule sees exactly what it would untraced, and are recorded after. */
#include "rules/rule_trace.h"

#include <inttypes.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "base/wd_alloc.h"
#include "base/wd_buf.h"
#include "base/wd_json.h"

struct rule_trace {
    rule_trace_entry_t *e;
    size_t              n, cap;
    rule_trace_call_t  *calls;
    size_t              ncalls, calls_cap;
    int                 oom;       /* something was not recorded: rule_trace_failed */
    int                 skipping;  /* the current call could not be bracketed */
};

#define TRACE_EV_MT "warden.trace.ev"

rule_trace_t *rule_trace_new(void)
{
    return wd_calloc(1, sizeof(rule_trace_t));
}

static void entry_free(rule_trace_entry_t *e)
{
    free(e->name);
    free(e->key);
    free(e->window);
    free(e->value);
    free(e->error);
}

void rule_trace_clear(rule_trace_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        entry_free(&t->e[i]);
    t->n = 0;
    t->ncalls = 0;
    t->oom = 0;
    t->skipping = 0;
}

int rule_trace_failed(const rule_trace_t *t) { return t->oom; }

void rule_trace_destroy(rule_trace_t *t)
{
    if (t == NULL)
        return;
    rule_trace_clear(t);
    free(t->e);
    free(t->calls);
    free(t);
}

void rule_trace_begin(rule_trace_t *t, const char *rule)
{
    if (t->ncalls == t->calls_cap) {
        size_t cap = t->calls_cap ? t->calls_cap * 2 : 16;
        rule_trace_call_t *c = wd_realloc(t->calls, cap * sizeof(*t->calls));
        if (c == NULL) {
            t->oom = 1;
            t->skipping = 1;
            return;
        }
        t->calls = c;
        t->calls_cap = cap;
    }
    t->skipping = 0;
    t->calls[t->ncalls++] = (rule_trace_call_t){ .rule = rule, .status = RULE_TRACE_RUNNING,
                                                 .first = t->n };
}

void rule_trace_end(rule_trace_t *t, int status)
{
    if (t->skipping) {
        t->skipping = 0;
        return;
    }
    if (t->ncalls)
        t->calls[t->ncalls - 1].status = status;
}

size_t rule_trace_calls(const rule_trace_t *t, const rule_trace_call_t **out)
{
    *out = t->calls;
    return t->ncalls;
}

const rule_trace_entry_t *rule_trace_entry(const rule_trace_t *t, size_t i)
{
    return i < t->n ? &t->e[i] : NULL;
}

static char *dup_n(const char *s, size_t n) { return s ? wd_strndup(s, n) : NULL; }

static char *dup_s(const char *s) { return s ? dup_n(s, strlen(s)) : NULL; }

void rule_trace_add(rule_trace_t *t, const rule_trace_entry_t *in)
{
    if (t->ncalls == 0 && !t->skipping)
        rule_trace_begin(t, "?");   /* an entry outside a bracketed call */
    if (t->skipping)
        return;   /* out of memory: t->oom says the trace is short */
    rule_trace_call_t *call = &t->calls[t->ncalls - 1];
    if (in->kind == RULE_TRACE_FIELD)
        for (size_t i = call->first; i < t->n; i++)
            if (t->e[i].kind == RULE_TRACE_FIELD && strcmp(t->e[i].name, in->name) == 0)
                return;
    if (call->n >= RULE_TRACE_MAX_ENTRIES) {
        call->dropped++;
        return;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        rule_trace_entry_t *ne = wd_realloc(t->e, cap * sizeof(*t->e));
        if (ne == NULL) {
            t->oom = 1;
            call->dropped++;
            return;
        }
        t->e = ne;
        t->cap = cap;
    }
    rule_trace_entry_t *e = &t->e[t->n];
    *e = *in;
    e->name = dup_s(in->name);
    e->key = dup_n(in->key, in->key_len);
    e->window = dup_s(in->window);
    e->value = dup_s(in->value);
    e->error = dup_s(in->error);
    if ((in->name && !e->name) || (in->key && !e->key) || (in->window && !e->window) ||
        (in->value && !e->value) || (in->error && !e->error)) {
        entry_free(e);
        t->oom = 1;
        call->dropped++;
        return;
    }
    t->n++;
    call->n++;
}

/* ---- the tracing `ev` ----------------------------------------------------- */

typedef struct tw {
    uint64_t gen;   /* the event it was made for: later reads are not recorded */
} tw_t;

static void push_wrapper(lua_State *L, int val, uint64_t gen, int path);

/* Is the value at idx an object or array view, and which?  "object",
 * "array", or NULL for a scalar. */
static const char *container_type(lua_State *L, int idx)
{
    int t = lua_type(L, idx);
    if (t == LUA_TTABLE)
        return "object";   /* the table view's proxies are objects only */
    if (t != LUA_TUSERDATA)
        return NULL;
    int jt = rule_lua_event_jtype(L, idx);
    if (jt == WD_JOBJECT)
        return "object";
    if (jt == WD_JARRAY)
        return "array";
    if (luaL_testudata(L, idx, "warden.view.array"))
        return "array";
    return NULL;
}

/* Records the value at val read at the path at path (both stack indexes)
 * and, for an object or array, replaces it by a wrapper. */
static void record(lua_State *L, rule_ctx_t *c, uint64_t gen, int val, int path)
{
    val = lua_absindex(L, val);
    path = lua_absindex(L, path);
    rule_trace_entry_t e = { .kind = RULE_TRACE_FIELD };
    e.name = (char *)lua_tostring(L, path);
    wd_buf_t b = WD_BUF_INIT;
    const char *ct = container_type(L, val);
    switch (lua_type(L, val)) {
    case LUA_TNIL:
        e.type = "nil";
        break;
    case LUA_TBOOLEAN:
        e.type = "boolean";
        wd_buf_adds(&b, lua_toboolean(L, val) ? "true" : "false");
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, val)) {
            e.type = "integer";
            wd_buf_printf(&b, "%" PRId64, (int64_t)lua_tointeger(L, val));
        } else {
            e.type = "number";
            wd_buf_json_num(&b, lua_tonumber(L, val));
        }
        break;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, val, &n);
        e.type = "string";
        wd_buf_json_str(&b, s, n);
        break;
    }
    default:
        e.type = ct ? ct : lua_typename(L, lua_type(L, val));
        break;
    }
    e.value = b.len ? b.data : (char *)"null";
    rule_trace_add(c->trace, &e);
    wd_buf_free(&b);
    if (ct) {
        push_wrapper(L, val, gen, path);
        lua_replace(L, val);
    }
}

/* Pushes path .. "." .. key (or path[i]) for the key at k; returns 0 and
 * pushes nothing for a key that is neither a string nor an integer. */
static int push_path(lua_State *L, int path, int k)
{
    size_t pl;
    const char *p = lua_tolstring(L, path, &pl);
    if (lua_type(L, k) == LUA_TSTRING) {
        size_t kl;
        const char *ks = lua_tolstring(L, k, &kl);
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        luaL_addlstring(&b, p, pl);
        if (pl)
            luaL_addchar(&b, '.');
        luaL_addlstring(&b, ks, kl);
        luaL_pushresult(&b);
        return 1;
    }
    if (lua_isinteger(L, k)) {
        lua_pushfstring(L, "%s[%I]", p, (LUAI_UACINT)lua_tointeger(L, k));
        return 1;
    }
    return 0;
}

static rule_ctx_t *tracing(lua_State *L, const tw_t *w)
{
    rule_ctx_t *c = wd_lua_user(L);
    return c && c->trace && c->gen == w->gen ? c : NULL;
}

static int tw_index(lua_State *L)
{
    tw_t *w = luaL_checkudata(L, 1, TRACE_EV_MT);
    lua_settop(L, 2);
    lua_getiuservalue(L, 1, 1);   /* 3: the real view */
    lua_pushvalue(L, 2);
    lua_gettable(L, 3);           /* 4: what it answers */
    rule_ctx_t *c = tracing(L, w);
    if (c == NULL)
        return 1;
    lua_getiuservalue(L, 1, 2);   /* 5: our path */
    if (push_path(L, 5, 2))       /* 6: the value's path */
        record(L, c, w->gen, 4, 6);
    lua_settop(L, 4);
    return 1;
}

static int tw_newindex(lua_State *L)
{
    luaL_checkudata(L, 1, TRACE_EV_MT);
    return rule_lua_error(L, "event is read-only (assignment to field '%s')",
                          luaL_tolstring(L, 2, NULL));
}

static int tw_len(lua_State *L)
{
    luaL_checkudata(L, 1, TRACE_EV_MT);
    lua_getiuservalue(L, 1, 1);
    lua_len(L, -1);
    return 1;
}

static int tw_tostring(lua_State *L)
{
    luaL_checkudata(L, 1, TRACE_EV_MT);
    lua_getiuservalue(L, 1, 1);
    luaL_tolstring(L, -1, NULL);
    return 1;
}

/* ev.user == ev.user: two wrappers are equal when their views are. */
static int tw_eq(lua_State *L)
{
    if (!luaL_testudata(L, 1, TRACE_EV_MT) || !luaL_testudata(L, 2, TRACE_EV_MT)) {
        lua_pushboolean(L, 0);
        return 1;
    }
    lua_getiuservalue(L, 1, 1);
    lua_getiuservalue(L, 2, 1);
    lua_pushboolean(L, lua_compare(L, -2, -1, LUA_OPEQ));
    return 1;
}

/* The iterator of pairs over a wrapper: upvalue 1 the real iterator, 2 the
 * path, 3 the generation.  Calls the real one, records what it yields. */
static int tw_next(lua_State *L)
{
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_call(L, 2, 2);            /* 3: key, 4: value */
    if (lua_isnil(L, 3))
        return 1;
    tw_t w = { (uint64_t)lua_tointeger(L, lua_upvalueindex(3)) };
    rule_ctx_t *c = tracing(L, &w);
    if (c && push_path(L, lua_upvalueindex(2), 3)) {   /* 5 */
        record(L, c, w.gen, 4, 5);
        lua_settop(L, 4);
    }
    return 2;
}

static int raw_next(lua_State *L)
{
    lua_settop(L, 2);
    if (lua_next(L, 1))
        return 2;
    lua_pushnil(L);
    return 1;
}

static int tw_pairs(lua_State *L)
{
    tw_t *w = luaL_checkudata(L, 1, TRACE_EV_MT);
    lua_settop(L, 1);
    lua_getiuservalue(L, 1, 1);   /* 2 */
    if (luaL_getmetafield(L, 2, "__pairs") != LUA_TNIL) {
        lua_pushvalue(L, 2);
        lua_call(L, 1, 3);        /* 3, 4, 5: f, s, init */
    } else {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_pushcfunction(L, raw_next);
        lua_pushvalue(L, 2);
        lua_pushnil(L);
    }
    lua_pushvalue(L, 3);
    lua_getiuservalue(L, 1, 2);
    lua_pushinteger(L, (lua_Integer)w->gen);
    lua_pushcclosure(L, tw_next, 3);
    lua_replace(L, 3);
    return 3;
}

static void push_wrapper(lua_State *L, int val, uint64_t gen, int path)
{
    val = lua_absindex(L, val);
    path = lua_absindex(L, path);
    tw_t *w = lua_newuserdatauv(L, sizeof(*w), 2);
    w->gen = gen;
    lua_pushvalue(L, val);
    lua_setiuservalue(L, -2, 1);
    lua_pushvalue(L, path);
    lua_setiuservalue(L, -2, 2);
    if (luaL_newmetatable(L, TRACE_EV_MT)) {   /* once per VM */
        static const luaL_Reg mt[] = {
            { "__index", tw_index }, { "__newindex", tw_newindex }, { "__len", tw_len },
            { "__pairs", tw_pairs }, { "__eq", tw_eq },             { "__tostring", tw_tostring },
            { NULL, NULL },
        };
        luaL_setfuncs(L, mt, 0);
        lua_pushliteral(L, "table");   /* type(ev) in the sandbox, as untraced */
        lua_setfield(L, -2, "__type");
        lua_pushliteral(L, "locked");
        lua_setfield(L, -2, "__metatable");
    }
    lua_setmetatable(L, -2);
}

/* Protected: the wrapper is VM memory, allocated outside the rule's call. */
static int wrap_cf(lua_State *L)
{
    const rule_ctx_t *c = lua_touserdata(L, 2);
    lua_settop(L, 1);
    lua_pushliteral(L, "");
    push_wrapper(L, 1, c->gen, 2);
    return 1;
}

void rule_trace_wrap_ev(lua_State *L, rule_ctx_t *c)
{
    int ev = lua_gettop(L);
    lua_pushcfunction(L, wrap_cf);
    lua_pushvalue(L, ev);
    lua_pushlightuserdata(L, c);
    if (lua_pcall(L, 2, 1, 0) == LUA_OK)
        lua_replace(L, ev);
    else
        lua_pop(L, 1);   /* out of memory: the rule reads the real view, untraced */
}

void rule_trace_op(rule_trace_t *t, int kind, rule_str_t name, rule_str_t key, rule_str_t window,
                   int64_t num, const char *error)
{
    char *nm = dup_n(name.s, name.len), *win = window.s ? dup_n(window.s, window.len) : NULL;
    rule_trace_entry_t e = { .kind = kind, .name = nm, .key = (char *)key.s, .key_len = key.len,
                             .window = win, .num = num, .error = (char *)error };
    rule_trace_add(t, &e);
    free(nm);
    free(win);
}
