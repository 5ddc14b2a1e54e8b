/* `ctx`: what a rule may ask and do.  Verdict constructors (block, review,
 * flag), state reads (count, distinct, has_label, in_list), effects (label,
 * buffered by the engine until the event ends) and log/now.  ctx is one
 * read-only userdata per VM; everything per event lives in rule_ctx_t. */
#include <lauxlib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rules/rule_types.h"
#include "base/wd_log.h"
#include "rules/rule_counters.h"
#include "rules/rule_lua.h"

static rule_ctx_t *get_ctx(lua_State *L)
{
    return wd_lua_user(L);
}

int rule_lua_error(lua_State *L, const char *fmt, ...)
{
    va_list ap;
    luaL_where(L, 1);
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    lua_concat(L, 2);
    return lua_error(L);
}

/* A string argument, or a number converted to its decimal form; NULL for
 * nil.  Anything else raises. */
static const char *key_arg(lua_State *L, int i, size_t *len, const char *fn, const char *what)
{
    int t = lua_type(L, i);
    if (t == LUA_TNIL || t == LUA_TNONE)
        return NULL;
    if (t != LUA_TSTRING && t != LUA_TNUMBER)
        rule_lua_error(L, "%s: %s must be a string or number, got %s", fn, what, luaL_typename(L, i));
    return lua_tolstring(L, i, len);
}

static const char *str_arg(lua_State *L, int i, const char *fn, const char *what)
{
    if (lua_type(L, i) != LUA_TSTRING)
        rule_lua_error(L, "%s: %s must be a string, got %s", fn, what, luaL_typename(L, i));
    return lua_tostring(L, i);
}

static const char *const verdict_names[] = { "none", "flag", "review", "block" };

/* ctx.block{entity=, reason=, score=, ttl=} and friends: validates and
 * returns a verdict table the engine recognises by its metatable. */
static int ctx_verdict(lua_State *L)
{
    int kind = (int)lua_tointeger(L, lua_upvalueindex(1));
    const char *fn = kind == RULE_VERDICT_BLOCK ? "ctx.block" : kind == RULE_VERDICT_REVIEW ? "ctx.review" : "ctx.flag";
    if (lua_type(L, 1) != LUA_TTABLE)
        return rule_lua_error(L, "%s: expected a table {entity=, reason=, score=, ttl=}, got %s", fn,
                              luaL_typename(L, 1));
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pop(L, 1);
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        if (k == NULL || (strcmp(k, "entity") && strcmp(k, "reason") && strcmp(k, "score") &&
                          strcmp(k, "ttl")))
            return rule_lua_error(L, "%s: unknown field '%s' (entity, reason, score, ttl)", fn,
                                  k ? k : luaL_typename(L, -1));
    }
    lua_createtable(L, 0, 5);
    int v = lua_gettop(L);
    lua_pushstring(L, verdict_names[kind]);
    lua_setfield(L, v, "verdict");

    lua_getfield(L, 1, "entity");
    int t = lua_type(L, -1);
    if (t == LUA_TNIL)
        return rule_lua_error(L, "%s: 'entity' is required", fn);
    if (t != LUA_TSTRING && t != LUA_TNUMBER)
        return rule_lua_error(L, "%s: 'entity' must be a string or number, got %s", fn, luaL_typename(L, -1));
    lua_tolstring(L, -1, NULL);
    if (lua_rawlen(L, -1) == 0)
        return rule_lua_error(L, "%s: 'entity' is empty", fn);
    lua_setfield(L, v, "entity");

    lua_getfield(L, 1, "reason");
    t = lua_type(L, -1);
    if (t != LUA_TNIL && t != LUA_TSTRING)
        return rule_lua_error(L, "%s: 'reason' must be a string, got %s", fn, luaL_typename(L, -1));
    lua_setfield(L, v, "reason");

    lua_getfield(L, 1, "score");
    t = lua_type(L, -1);
    if (t != LUA_TNIL && (t != LUA_TNUMBER || !isfinite(lua_tonumber(L, -1))))
        return rule_lua_error(L, "%s: 'score' must be a finite number, got %s", fn,
                              t == LUA_TNUMBER ? "a non-finite number" : luaL_typename(L, -1));
    lua_setfield(L, v, "score");

    lua_getfield(L, 1, "ttl");
    t = lua_type(L, -1);
    int64_t ms;
    if (t != LUA_TNIL && (t != LUA_TSTRING || rule_parse_duration(lua_tostring(L, -1), &ms) != 0))
        return rule_lua_error(L, "%s: 'ttl' must be a duration such as \"30m\" or \"1d\", got %s", fn,
                              t == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, -1));
    lua_setfield(L, v, "ttl");

    /* The validated table hides behind a userdata: a table's existing keys
     * can be reassigned (or rawset) without __newindex ever seeing it. */
    lua_newuserdatauv(L, 0, 1);
    lua_pushvalue(L, v);
    lua_setiuservalue(L, -2, 1);
    luaL_setmetatable(L, RULE_VERDICT_MT);
    return 1;
}

static int ctx_count_common(lua_State *L, int distinct)
{
    rule_ctx_t *c = get_ctx(L);
    const char *fn = distinct ? "ctx.distinct" : "ctx.count";
    const char *counter = str_arg(L, 1, fn, "counter name");
    size_t klen = 0;
    const char *key = key_arg(L, 2, &klen, fn, "key");
    const char *window = str_arg(L, 3, fn, "window");
    if (c->ops == NULL || c->ops->count == NULL)
        return rule_lua_error(L, "%s: no counters are available here", fn);
    int64_t n = 0;
    char err[256];
    c->work = 0;
    if (c->ops->count(c->ops_ud, counter, key, klen, window, distinct, &n, err, sizeof(err)) != 0)
        return rule_lua_error(L, "%s: %s", fn, err);
    /* A read over a long window (a month of buckets, sketches to merge)
     * costs the rule in proportion: a loop of them meets the budget and
     * the time limit.  Cheap reads skip the clock. */
    if (c->work >= 64)
        wd_lua_charge(L, c->work > (uint64_t)1 << 40 ? 1L << 40 : (long)c->work);
    lua_pushinteger(L, key ? (lua_Integer)n : 0);
    return 1;
}

static int ctx_count(lua_State *L) { return ctx_count_common(L, 0); }
static int ctx_distinct(lua_State *L) { return ctx_count_common(L, 1); }

static int ctx_has_label(lua_State *L)
{
    rule_ctx_t *c = get_ctx(L);
    size_t elen = 0;
    const char *entity = key_arg(L, 1, &elen, "ctx.has_label", "entity");
    const char *label = str_arg(L, 2, "ctx.has_label", "label");
    int has = 0;
    char err[256];
    if (entity && c->ops && c->ops->has_label &&
        c->ops->has_label(c->ops_ud, entity, elen, label, &has, err, sizeof(err)) != 0)
        return rule_lua_error(L, "ctx.has_label: %s", err);
    lua_pushboolean(L, has);
    return 1;
}

static int ctx_label(lua_State *L)
{
    rule_ctx_t *c = get_ctx(L);
    size_t elen = 0;
    const char *entity = key_arg(L, 1, &elen, "ctx.label", "entity");
    if (entity == NULL || elen == 0)
        return rule_lua_error(L, "ctx.label: entity is required");
    const char *label = str_arg(L, 2, "ctx.label", "label");
    const char *ttl = lua_tostring(L, 3);
    int64_t ms;
    if (lua_type(L, 3) != LUA_TSTRING || rule_parse_duration(ttl, &ms) != 0)
        return rule_lua_error(L, "ctx.label: ttl must be a duration such as \"30m\" or \"1d\", got %s",
                              lua_type(L, 3) == LUA_TSTRING ? ttl : luaL_typename(L, 3));
    char err[256];
    if (c->ops == NULL || c->ops->label == NULL)
        return rule_lua_error(L, "ctx.label: labels are not available here");
    if (c->ops->label(c->ops_ud, entity, elen, label, ms, err, sizeof(err)) != 0)
        return rule_lua_error(L, "ctx.label: %s", err);
    return 0;
}

static int ctx_in_list(lua_State *L)
{
    rule_ctx_t *c = get_ctx(L);
    const char *list = str_arg(L, 1, "ctx.in_list", "list name");
    size_t vlen = 0;
    const char *value = key_arg(L, 2, &vlen, "ctx.in_list", "value");
    int found = 0;
    char err[256];
    if (c->ops == NULL || c->ops->in_list == NULL)
        return rule_lua_error(L, "ctx.in_list: lists are not available here");
    /* Asked even for nil so that an unknown list name always errors. */
    if (c->ops->in_list(c->ops_ud, list, value ? value : "", value ? vlen : 0, &found, err,
                        sizeof(err)) != 0)
        return rule_lua_error(L, "ctx.in_list: %s", err);
    lua_pushboolean(L, value != NULL && found);
    return 1;
}

static int ctx_log(lua_State *L)
{
    rule_ctx_t *c = get_ctx(L);
    int n = lua_gettop(L);   /* before luaL_buffinit, which may push a box */
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, ' ');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    LOG_INFO("rule=%s event=%s log=\"%s\"", c->rule ? c->rule->name : "?",
             c->event_id ? c->event_id : "?", lua_tostring(L, -1));
    return 0;
}

static int ctx_now(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)get_ctx(L)->ts_ms);
    return 1;
}

static int ctx_newindex(lua_State *L)
{
    return rule_lua_error(L, "ctx is read-only");
}

static int verdict_newindex(lua_State *L)
{
    return rule_lua_error(L, "a verdict is read-only");
}

/* v.entity, v.verdict, ...: reads the hidden table. */
static int verdict_index(lua_State *L)
{
    luaL_checkudata(L, 1, RULE_VERDICT_MT);
    lua_getiuservalue(L, 1, 1);
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
}

void rule_lua_init(wd_lua_t *vm, rule_ctx_t *c)
{
    lua_State *L = wd_lua_state(vm);
    wd_lua_set_user(vm, c);
    rule_lua_event_init(L);

    luaL_newmetatable(L, RULE_VERDICT_MT);
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_pushcfunction(L, verdict_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, verdict_index);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "table");    /* type(v) in the sandbox, as before it hid in a userdata */
    lua_setfield(L, -2, "__type");
    lua_pop(L, 1);

    static const luaL_Reg methods[] = {
        { "count", ctx_count }, { "distinct", ctx_distinct }, { "has_label", ctx_has_label },
        { "label", ctx_label }, { "in_list", ctx_in_list },   { "log", ctx_log },
        { "now", ctx_now },     { NULL, NULL },
    };
    luaL_newmetatable(L, RULE_CTX_MT);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    static const int kinds[] = { RULE_VERDICT_BLOCK, RULE_VERDICT_REVIEW, RULE_VERDICT_FLAG };
    for (int i = 0; i < 3; i++) {
        lua_pushinteger(L, kinds[i]);
        lua_pushcclosure(L, ctx_verdict, 1);
        lua_setfield(L, -2, verdict_names[kinds[i]]);
    }
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, ctx_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);

    lua_newuserdatauv(L, 1, 0);
    luaL_setmetatable(L, RULE_CTX_MT);
    c->ctx_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushboolean(L, 0);
    c->ev_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

void rule_lua_begin_event(wd_lua_t *vm, rule_ctx_t *c, wd_jval_t root)
{
    lua_State *L = wd_lua_state(vm);
    c->gen++;
    c->root = root;
    rule_lua_push_event(L, c, root);
    lua_rawseti(L, LUA_REGISTRYINDEX, c->ev_ref);
}

static const char *field_str(lua_State *L, int t, const char *k, wd_arena_t *a, size_t *len)
{
    lua_pushstring(L, k);
    lua_rawget(L, t);
    const char *out = NULL;
    if (lua_type(L, -1) == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        out = wd_arena_strndup(a, s, n);
        if (len)
            *len = n;
    }
    lua_pop(L, 1);
    return out;
}

/* Lua names a chunk "@file" by at most LUA_IDSIZE - 1 characters, as
 * "...tail" when the path is longer (luaO_chunkid), so an error in a rule
 * under a long path starts "...ory/rule.lua:12:".  Writes msg to errstr
 * with such a start replaced by the whole file.  (rule_pack.c does the same
 * for load errors.) */
static void copy_error(char *errstr, size_t errstr_size, const char *msg, const char *file)
{
    size_t fl = strlen(file);
    if (strncmp(msg, "...", 3) == 0) {
        for (size_t k = fl; k > 0; k--) {
            if (strncmp(msg + 3, file + fl - k, k) == 0 && msg[3 + k] == ':') {
                snprintf(errstr, errstr_size, "%s%s", file, msg + 3 + k);
                return;
            }
        }
    }
    snprintf(errstr, errstr_size, "%s", msg);
}

int rule_lua_call(wd_lua_t *vm, rule_ctx_t *c, const rule_t *r, wd_arena_t *arena,
                  rule_verdict_t *out, char *errstr, size_t errstr_size)
{
    lua_State *L = wd_lua_state(vm);
    memset(out, 0, sizeof(*out));
    c->rule = r;
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->eval_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->ev_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->ctx_ref);
    int rc = wd_lua_pcall(vm, 2, 1);
    c->rule = NULL;
    if (rc != WD_LUA_OK) {
        const char *m = lua_tostring(L, -1);
        copy_error(errstr, errstr_size, m ? m : "error object is not a string", r->file);
        lua_pop(L, 1);
        return rc == WD_LUA_TIMEOUT ? RULE_CALL_TIMEOUT : rc == WD_LUA_OOM ? RULE_CALL_OOM
                                                                             : RULE_CALL_ERROR;
    }
    int st = RULE_CALL_OK;
    int top = lua_gettop(L);
    if (lua_isnil(L, top) || (lua_isboolean(L, top) && !lua_toboolean(L, top))) {
        /* nothing, nil or false (`return cond and ctx.block{...}`): no hit */
        out->verdict = RULE_VERDICT_NONE;
    } else if (luaL_testudata(L, top, RULE_VERDICT_MT)) {
        lua_getiuservalue(L, top, 1);   /* the table ctx_verdict validated */
        int t = lua_gettop(L);
        const char *v = field_str(L, t, "verdict", arena, NULL);
        for (int k = RULE_VERDICT_FLAG; v && k <= RULE_VERDICT_BLOCK; k++)
            if (strcmp(v, verdict_names[k]) == 0)
                out->verdict = k;
        out->entity = field_str(L, t, "entity", arena, &out->entity_len);
        out->reason = field_str(L, t, "reason", arena, &out->reason_len);
        out->ttl = field_str(L, t, "ttl", arena, NULL);
        lua_pushliteral(L, "score");
        if (lua_rawget(L, t) == LUA_TNUMBER) {
            out->has_score = 1;
            out->score = lua_tonumber(L, -1);
        }
        lua_pop(L, 2);
        if (out->verdict == RULE_VERDICT_NONE || out->entity == NULL)
            goto bad;
    } else {
    bad:
        snprintf(errstr, errstr_size,
                 "%s:%d: evaluate returned %s; return nothing or the result of ctx.block/review/flag{...}",
                 r->file, r->eval_line, luaL_typename(L, top));
        memset(out, 0, sizeof(*out));
        st = RULE_CALL_ERROR;
    }
    lua_settop(L, top - 1);
    return st;
}
