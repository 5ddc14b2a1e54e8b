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
#include "base/wd_buf.h"
#include "base/wd_log.h"
#include "rules/rule_counters.h"
#include "rules/rule_lua.h"
#include "rules/rule_trace.h"

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
    if (t == LUA_TNUMBER && !lua_isinteger(L, i) && !isfinite(lua_tonumber(L, i)))
        rule_lua_error(L, "%s: %s must be a finite number, got %s", fn, what,
                       lua_tostring(L, i));   /* "nan" on one libc, "-nan" on another */
    return lua_tolstring(L, i, len);
}

static rule_str_t str_arg(lua_State *L, int i, const char *fn, const char *what)
{
    rule_str_t r;
    if (lua_type(L, i) != LUA_TSTRING)
        rule_lua_error(L, "%s: %s must be a string, got %s", fn, what, luaL_typename(L, i));
    r.s = lua_tolstring(L, i, &r.len);
    return r;
}

const char *rule_str_show(rule_str_t s, char *buf, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (size == 0)
        return buf;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.s[i];
        size_t need = c >= 0x20 && c < 0x7f ? 1 : 4;
        if (o + need + 4 > size) {   /* room for "..." and the NUL */
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (need == 1) {
            buf[o++] = (char)c;
        } else {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        }
    }
    buf[o] = '\0';
    return buf;
}

/* A duration ("30m") held by a Lua string that may contain NUL bytes. */
static int parse_duration_n(rule_str_t d, int64_t *ms)
{
    return strlen(d.s) == d.len ? rule_parse_duration(d.s, ms) : -1;
}

static const char *const verdict_names[] = { "none", "flag", "review", "block" };

/* ctx.block{entity=, entity_type=, reason=, score=, ttl=} and friends: validates and
 * returns a verdict table the engine recognises by its metatable. */
static int ctx_verdict(lua_State *L)
{
    int kind = (int)lua_tointeger(L, lua_upvalueindex(1));
    const char *fn = kind == RULE_VERDICT_BLOCK ? "ctx.block" : kind == RULE_VERDICT_REVIEW ? "ctx.review" : "ctx.flag";
    if (lua_type(L, 1) != LUA_TTABLE)
        return rule_lua_error(L, "%s: expected a table {entity=, entity_type=, reason=, score=, ttl=}, got %s", fn,
                              luaL_typename(L, 1));
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pop(L, 1);
        size_t kl = 0;
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &kl) : NULL;
        if (k == NULL || strlen(k) != kl ||
            (strcmp(k, "entity") && strcmp(k, "entity_type") && strcmp(k, "reason") &&
             strcmp(k, "score") && strcmp(k, "ttl"))) {
            char show[64];
            return rule_lua_error(L, "%s: unknown field '%s' (entity, entity_type, reason, score, ttl)", fn,
                                  k ? rule_str_show((rule_str_t){ k, kl }, show, sizeof(show))
                                    : luaL_typename(L, -1));
        }
    }
    lua_createtable(L, 0, 6);
    int v = lua_gettop(L);
    lua_pushstring(L, verdict_names[kind]);
    lua_setfield(L, v, "verdict");

    lua_getfield(L, 1, "entity");
    int t = lua_type(L, -1);
    if (t == LUA_TNIL)
        return rule_lua_error(L, "%s: 'entity' is required", fn);
    if (t != LUA_TSTRING && t != LUA_TNUMBER)
        return rule_lua_error(L, "%s: 'entity' must be a string or number, got %s", fn, luaL_typename(L, -1));
    if (t == LUA_TNUMBER && !lua_isinteger(L, -1) && !isfinite(lua_tonumber(L, -1)))
        return rule_lua_error(L, "%s: 'entity' must be a finite number, got %s", fn,
                              lua_tostring(L, -1));
    size_t elen;
    const char *ent = lua_tolstring(L, -1, &elen);
    if (elen == 0)
        return rule_lua_error(L, "%s: 'entity' is empty", fn);
    if (elen > RULE_MAX_ENTITY_LEN)
        return rule_lua_error(L, "%s: 'entity' is %d bytes, longer than %d", fn, (int)elen,
                              RULE_MAX_ENTITY_LEN);
    /* JSON outputs would replace invalid bytes with U+FFFD and so merge
     * entities that differ only there: refused, as a rule error. */
    size_t good = wd_utf8_valid_prefix(ent, elen);
    if (good != elen)
        return rule_lua_error(L, "%s: 'entity' is not valid UTF-8 (byte %d)", fn, (int)good + 1);
    lua_setfield(L, v, "entity");

    lua_getfield(L, 1, "entity_type");
    t = lua_type(L, -1);
    if (t != LUA_TNIL) {
        size_t tl = 0;
        const char *ty = t == LUA_TSTRING ? lua_tolstring(L, -1, &tl) : NULL;
        if (ty == NULL || !rule_entity_type_valid(ty, tl)) {
            char show[64];
            return rule_lua_error(L, "%s: 'entity_type' must be a short lower-case identifier "
                                  "such as \"user\" or \"ip\" ([a-z][a-z0-9_]*, at most %d bytes), got %s",
                                  fn, RULE_MAX_ENTITY_TYPE_LEN,
                                  ty ? rule_str_show((rule_str_t){ ty, tl }, show, sizeof(show))
                                     : luaL_typename(L, -1));
        }
    }
    lua_setfield(L, v, "entity_type");

    lua_getfield(L, 1, "reason");
    t = lua_type(L, -1);
    if (t != LUA_TNIL && t != LUA_TSTRING)
        return rule_lua_error(L, "%s: 'reason' must be a string, got %s", fn, luaL_typename(L, -1));
    size_t rlen;
    const char *reason = t == LUA_TSTRING ? lua_tolstring(L, -1, &rlen) : NULL;
    if (reason && rlen > RULE_MAX_REASON_LEN) {
        /* Cut within the limit, before a UTF-8 continuation byte, marked. */
        size_t ml = strlen(RULE_TRUNCATED), cut = RULE_MAX_REASON_LEN - ml;
        for (int k = 0; k < 3 && cut > 0 && ((unsigned char)reason[cut] & 0xC0) == 0x80; k++)
            cut--;
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        luaL_addlstring(&b, reason, cut);
        luaL_addlstring(&b, RULE_TRUNCATED, ml);
        luaL_pushresult(&b);
        lua_remove(L, -2);
    }
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
    rule_str_t ttl = { NULL, 0 };
    if (t == LUA_TSTRING)
        ttl.s = lua_tolstring(L, -1, &ttl.len);
    if (t != LUA_TNIL && (t != LUA_TSTRING || parse_duration_n(ttl, &ms) != 0)) {
        char show[64];
        return rule_lua_error(L, "%s: 'ttl' must be a duration such as \"30m\" or \"1d\", got %s", fn,
                              t == LUA_TSTRING ? rule_str_show(ttl, show, sizeof(show))
                                               : luaL_typename(L, -1));
    }
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
    rule_str_t counter = str_arg(L, 1, fn, "counter name"), key = { NULL, 0 };
    key.s = key_arg(L, 2, &key.len, fn, "key");
    rule_str_t window = str_arg(L, 3, fn, "window");
    if (c->ops == NULL || c->ops->count == NULL)
        return rule_lua_error(L, "%s: no counters are available here", fn);
    int64_t n = 0;
    char err[256];
    c->work = 0;
    int rc = c->ops->count(c->ops_ud, counter, key, window, distinct, &n, err, sizeof(err));
    if (c->trace)
        rule_trace_op(c->trace, distinct ? RULE_TRACE_DISTINCT : RULE_TRACE_COUNT, counter, key,
                      window, key.s ? n : 0, rc ? err : NULL);
    if (rc != 0)
        return rule_lua_error(L, "%s: %s", fn, err);
    /* A read over a long window (a month of buckets, sketches to merge)
     * costs the rule in proportion: a loop of them meets the budget and
     * the time limit.  Cheap reads skip the clock. */
    if (c->work >= 64)
        wd_lua_charge(L, c->work > (uint64_t)1 << 40 ? 1L << 40 : (long)c->work);
    lua_pushinteger(L, key.s ? (lua_Integer)n : 0);
    return 1;
}

static int ctx_count(lua_State *L) { return ctx_count_common(L, 0); }
static int ctx_distinct(lua_State *L) { return ctx_count_common(L, 1); }

static int ctx_has_label(lua_State *L)
{
    rule_ctx_t *c = get_ctx(L);
    rule_str_t entity = { NULL, 0 };
    entity.s = key_arg(L, 1, &entity.len, "ctx.has_label", "entity");
    rule_str_t label = str_arg(L, 2, "ctx.has_label", "label");
    int has = 0, rc = 0;
    char err[256];
    if (entity.s && c->ops && c->ops->has_label)
        rc = c->ops->has_label(c->ops_ud, entity, label, &has, err, sizeof(err));
    if (c->trace)
        rule_trace_op(c->trace, RULE_TRACE_HAS_LABEL, label, entity, (rule_str_t){ NULL, 0 },
                      has, rc ? err : NULL);
    if (rc != 0)
        return rule_lua_error(L, "ctx.has_label: %s", err);
    lua_pushboolean(L, has);
    return 1;
}

static int ctx_label(lua_State *L)
{
    rule_ctx_t *c = get_ctx(L);
    rule_str_t entity;
    entity.s = key_arg(L, 1, &entity.len, "ctx.label", "entity");
    if (entity.s == NULL || entity.len == 0)
        return rule_lua_error(L, "ctx.label: entity is required");
    rule_str_t label = str_arg(L, 2, "ctx.label", "label"), ttl = { NULL, 0 };
    if (lua_type(L, 3) == LUA_TSTRING)
        ttl.s = lua_tolstring(L, 3, &ttl.len);
    int64_t ms;
    if (ttl.s == NULL || parse_duration_n(ttl, &ms) != 0) {
        char show[64];
        return rule_lua_error(L, "ctx.label: ttl must be a duration such as \"30m\" or \"1d\", got %s",
                              ttl.s ? rule_str_show(ttl, show, sizeof(show)) : luaL_typename(L, 3));
    }
    char err[256];
    if (c->ops == NULL || c->ops->label == NULL)
        return rule_lua_error(L, "ctx.label: labels are not available here");
    int rc = c->ops->label(c->ops_ud, entity, label, ms, err, sizeof(err));
    if (c->trace)
        rule_trace_op(c->trace, RULE_TRACE_LABEL, label, entity, ttl, 0, rc ? err : NULL);
    if (rc != 0)
        return rule_lua_error(L, "ctx.label: %s", err);
    return 0;
}

static int ctx_in_list(lua_State *L)
{
    rule_ctx_t *c = get_ctx(L);
    rule_str_t list = str_arg(L, 1, "ctx.in_list", "list name"), value = { NULL, 0 };
    value.s = key_arg(L, 2, &value.len, "ctx.in_list", "value");
    int found = 0;
    char err[256];
    if (c->ops == NULL || c->ops->in_list == NULL)
        return rule_lua_error(L, "ctx.in_list: lists are not available here");
    /* Asked even for nil so that an unknown list name always errors. */
    rule_str_t asked = value.s ? value : (rule_str_t){ "", 0 };
    int rc = c->ops->in_list(c->ops_ud, list, asked, &found, err, sizeof(err));
    if (c->trace)
        rule_trace_op(c->trace, RULE_TRACE_IN_LIST, list, value, (rule_str_t){ NULL, 0 },
                      value.s != NULL && found, rc ? err : NULL);
    if (rc != 0)
        return rule_lua_error(L, "ctx.in_list: %s", err);
    lua_pushboolean(L, value.s != NULL && found);
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

/* *oom is set when the copy could not be made (NULL back). */
static const char *field_str(lua_State *L, int t, const char *k, wd_arena_t *a, size_t *len, int *oom)
{
    lua_pushstring(L, k);
    lua_rawget(L, t);
    const char *out = NULL;
    if (lua_type(L, -1) == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        out = wd_arena_strndup(a, s, n);
        if (out == NULL)
            *oom = 1;
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
    if (r->rng)
        rule_rng_seed(r->rng, r->name, c->event_id);
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->eval_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->ev_ref);
    if (c->trace)   /* warden explain: the one check per call */
        rule_trace_wrap_ev(L, c);
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
        int oom = 0;
        const char *v = field_str(L, t, "verdict", arena, NULL, &oom);
        for (int k = RULE_VERDICT_FLAG; v && k <= RULE_VERDICT_BLOCK; k++)
            if (strcmp(v, verdict_names[k]) == 0)
                out->verdict = k;
        out->entity = field_str(L, t, "entity", arena, &out->entity_len, &oom);
        out->entity_type = field_str(L, t, "entity_type", arena, NULL, &oom);
        if (out->entity_type == NULL)
            out->entity_type = RULE_ENTITY_TYPE_DEFAULT;
        out->reason = field_str(L, t, "reason", arena, &out->reason_len, &oom);
        out->ttl = field_str(L, t, "ttl", arena, NULL, &oom);
        lua_pushliteral(L, "score");
        if (lua_rawget(L, t) == LUA_TNUMBER) {
            out->has_score = 1;
            out->score = lua_tonumber(L, -1);
        }
        lua_pop(L, 2);
        if (oom) {
            snprintf(errstr, errstr_size, "%s: out of memory while copying the verdict", r->file);
            memset(out, 0, sizeof(*out));
            st = RULE_CALL_OOM;
        } else if (out->verdict == RULE_VERDICT_NONE || out->entity == NULL)
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
