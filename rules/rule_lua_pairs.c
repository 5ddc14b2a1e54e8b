/* pairs for rules: over a table the rule built itself, a fixed order —
 * numbers ascending (so a list goes 1..n), then strings bytewise, then
 * false before true, then any other keys (tables, functions) in Lua's own
 * order.  Lua orders string keys by hashes it seeds anew in every process,
 * so `for k in pairs(t)` over a rule's own table gave another order, and
 * a rule concatenating or picking keys another answer, on every run.
 * Values with __pairs (the event views) keep theirs.  `next` stays raw.
 * Cost: the keys are collected and sorted once per loop, O(n log n) in C,
 * in memory under the VM's cap; the loop itself is counted by the budget. */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rule_lua.h"

typedef struct pkey {
    int         cls;      /* 0 number, 1 string, 2 boolean, 3 other */
    int         isint;
    lua_Integer i;
    lua_Number  d;
    const char *s;        /* anchored by the keys table */
    size_t      len;
    size_t      pos;      /* in Lua's order: the tie-break of class 3 */
} pkey_t;

static int pkey_cmp(const void *pa, const void *pb)
{
    const pkey_t *a = pa, *b = pb;
    if (a->cls != b->cls)
        return a->cls < b->cls ? -1 : 1;
    switch (a->cls) {
    case 0:
        if (a->isint && b->isint)
            return (a->i > b->i) - (a->i < b->i);
        {
            lua_Number x = a->isint ? (lua_Number)a->i : a->d, y = b->isint ? (lua_Number)b->i : b->d;
            if (x != y)
                return x < y ? -1 : 1;
            return a->isint - b->isint;   /* 2^63 as a float vs an integer near it */
        }
    case 1: {
        int c = memcmp(a->s, b->s, a->len < b->len ? a->len : b->len);
        return c ? c : (a->len > b->len) - (a->len < b->len);
    }
    case 2:
        return (a->i > b->i) - (a->i < b->i);
    default:
        return (a->pos > b->pos) - (a->pos < b->pos);
    }
}

/* Iterator: upvalue 1 the sorted keys, 2 the position.  Keys whose value
 * the loop set to nil are skipped, as next skips them. */
static int sorted_next(lua_State *L)
{
    lua_Integer i = lua_tointeger(L, lua_upvalueindex(2));
    for (;;) {
        if (lua_rawgeti(L, lua_upvalueindex(1), ++i) == LUA_TNIL)
            return 1;
        lua_pushvalue(L, -1);
        if (lua_rawget(L, 1) != LUA_TNIL) {
            lua_pushinteger(L, i);
            lua_replace(L, lua_upvalueindex(2));
            return 2;
        }
        lua_pop(L, 2);
    }
}

static int rule_pairs(lua_State *L)
{
    luaL_checkany(L, 1);
    if (luaL_getmetafield(L, 1, "__pairs") != LUA_TNIL) {
        lua_pushvalue(L, 1);
        lua_call(L, 1, 3);
        return 3;
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pop(L, 1);
        n++;
    }
    pkey_t *v = lua_newuserdatauv(L, (n ? n : 1) * sizeof(*v), 0);   /* 2 */
    lua_createtable(L, (int)(n < 0x7fffffff ? n : 0), 0);            /* 3: keys in Lua's order */
    size_t j = 0;
    lua_pushnil(L);
    while (j < n && lua_next(L, 1)) {
        lua_pop(L, 1);
        pkey_t *k = &v[j];
        memset(k, 0, sizeof(*k));
        k->pos = j;
        switch (lua_type(L, -1)) {
        case LUA_TNUMBER:
            k->isint = lua_isinteger(L, -1);
            if (k->isint)
                k->i = lua_tointeger(L, -1);
            else
                k->d = lua_tonumber(L, -1);
            break;
        case LUA_TSTRING:
            k->cls = 1;
            k->s = lua_tolstring(L, -1, &k->len);
            break;
        case LUA_TBOOLEAN:
            k->cls = 2;
            k->i = lua_toboolean(L, -1);
            break;
        default:
            k->cls = 3;
        }
        lua_pushvalue(L, -1);
        lua_rawseti(L, 3, (lua_Integer)++j);
    }
    if (lua_gettop(L) > 3)
        lua_settop(L, 3);   /* a table that grew while counting: the rest is not walked */
    n = j;
    qsort(v, n, sizeof(*v), pkey_cmp);
    lua_createtable(L, (int)(n < 0x7fffffff ? n : 0), 0);            /* 4: sorted */
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, 3, (lua_Integer)v[i].pos + 1);
        lua_rawseti(L, 4, (lua_Integer)i + 1);
    }
    lua_pushinteger(L, 0);
    lua_pushcclosure(L, sorted_next, 2);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

void rule_pairs_install(lua_State *L, int env)
{
    env = lua_absindex(L, env);
    lua_pushcfunction(L, rule_pairs);
    lua_setfield(L, env, "pairs");
}
