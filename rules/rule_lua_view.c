/* Read-only table views of events; see rule_lua_view.h.
 *
 * Each object node of the declared-field trie owns three tables, made once:
 * data (the values), proxy (what rules index: always empty) and the proxy's
 * metatable {__index = data, __newindex = error, __len, __pairs,
 * __metatable = "locked"}.  Reads go proxy → data inside the Lua VM without
 * a C call.  A refill overwrites every declared key (nil when absent). */
#include "rules/rule_lua_view.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rule_lua.h"

typedef struct vnode {
    char          *name;
    size_t         nlen;
    int            whole;      /* declared itself: everything below is exposed */
    struct vnode **kids;
    size_t         nkids;
    int            key_ref;    /* registry: the name as a Lua string */
    int            data_ref;   /* registry: data table (object nodes with kids) */
    int            proxy_ref;  /* registry: its proxy */
} vnode_t;

struct rule_view {
    vnode_t root;
};

static int ro_newindex(lua_State *L)
{
    return rule_lua_error(L, "event is read-only (assignment to field '%s')",
                          luaL_tolstring(L, 2, NULL));
}

/* The data table behind proxy at idx (its metatable's __index). */
static void push_data(lua_State *L, int idx)
{
    lua_getmetatable(L, idx);
    lua_rawgetp(L, -1, (void *)&push_data);   /* __index kept under a private key too */
    lua_remove(L, -2);
}

static int ro_len(lua_State *L)
{
    push_data(L, 1);
    lua_pushinteger(L, (lua_Integer)lua_rawlen(L, -1));
    return 1;
}

static int ro_next(lua_State *L)
{
    lua_settop(L, 2);
    if (lua_next(L, lua_upvalueindex(1)))
        return 2;
    lua_pushnil(L);
    return 1;
}

static int ro_pairs(lua_State *L)
{
    push_data(L, 1);
    lua_pushcclosure(L, ro_next, 1);   /* the data table stays hidden in the upvalue */
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

/* Makes a proxy for the data table at the top (popped) and pushes it. */
static void make_proxy(lua_State *L)
{
    int data = lua_gettop(L);
    lua_createtable(L, 0, 0);                 /* proxy */
    lua_createtable(L, 0, 6);                 /* its metatable */
    lua_pushvalue(L, data);
    lua_setfield(L, -2, "__index");
    lua_pushvalue(L, data);
    lua_rawsetp(L, -2, (void *)&push_data);
    lua_pushcfunction(L, ro_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, ro_len);
    lua_setfield(L, -2, "__len");
    lua_pushcfunction(L, ro_pairs);
    lua_setfield(L, -2, "__pairs");
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_remove(L, data);
}

static vnode_t *child(vnode_t *n, const char *seg, size_t len)
{
    for (size_t i = 0; i < n->nkids; i++)
        if (n->kids[i]->nlen == len && memcmp(n->kids[i]->name, seg, len) == 0)
            return n->kids[i];
    vnode_t *k = calloc(1, sizeof(*k));
    if (k == NULL || (k->name = strndup(seg, len)) == NULL)
        abort();
    k->nlen = len;
    k->key_ref = k->data_ref = k->proxy_ref = LUA_NOREF;
    n->kids = realloc(n->kids, (n->nkids + 1) * sizeof(*n->kids));
    if (n->kids == NULL)
        abort();
    n->kids[n->nkids++] = k;
    return k;
}

/* Creates the Lua side of every node: key strings, data tables, proxies. */
static void materialize(lua_State *L, vnode_t *n, int is_root)
{
    if (!is_root) {
        lua_pushlstring(L, n->name, n->nlen);
        n->key_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    if (n->whole) {
        for (size_t i = 0; i < n->nkids; i++)
            free(n->kids[i]->name), free(n->kids[i]);
        free(n->kids);
        n->kids = NULL;
        n->nkids = 0;
        return;
    }
    if (n->nkids == 0)
        return;
    lua_createtable(L, 0, (int)n->nkids);
    lua_pushvalue(L, -1);
    n->data_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    make_proxy(L);
    n->proxy_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    for (size_t i = 0; i < n->nkids; i++)
        materialize(L, n->kids[i], 0);
}

rule_view_t *rule_view_new(lua_State *L, const char *const *paths, size_t npaths)
{
    rule_view_t *v = calloc(1, sizeof(*v));
    if (v == NULL)
        abort();
    v->root.key_ref = v->root.data_ref = v->root.proxy_ref = LUA_NOREF;
    for (size_t i = 0; i < npaths; i++) {
        vnode_t *n = &v->root;
        const char *seg = paths[i];
        for (;;) {
            const char *dot = strchr(seg, '.');
            size_t len = dot ? (size_t)(dot - seg) : strlen(seg);
            n = child(n, seg, len);
            if (dot == NULL)
                break;
            seg = dot + 1;
        }
        n->whole = 1;
    }
    if (v->root.nkids == 0) {
        /* A stream whose rules declare nothing still gets an (empty) ev. */
        lua_createtable(L, 0, 0);
        lua_pushvalue(L, -1);
        v->root.data_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        make_proxy(L);
        v->root.proxy_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    } else {
        materialize(L, &v->root, 1);
    }
    return v;
}

static void free_node(vnode_t *n, lua_State *L)
{
    for (size_t i = 0; i < n->nkids; i++) {
        free_node(n->kids[i], L);
        free(n->kids[i]->name);
        free(n->kids[i]);
    }
    free(n->kids);
    if (L) {
        luaL_unref(L, LUA_REGISTRYINDEX, n->key_ref);
        luaL_unref(L, LUA_REGISTRYINDEX, n->data_ref);
        luaL_unref(L, LUA_REGISTRYINDEX, n->proxy_ref);
    }
}

void rule_view_destroy(rule_view_t *v, lua_State *L)
{
    if (v == NULL)
        return;
    free_node(&v->root, L);
    free(v);
}

/* Refills node n (an object node with kids) from obj.  A declared field
 * holding an object or an array becomes a lazy view of it (rule_lua_event.c)
 * rather than tables: its contents are decoded only when a rule reads them,
 * inside that rule's budgets, so padding an event with a huge declared
 * subtree costs nothing to the rules that do not read it. */
static void fill(lua_State *L, rule_ctx_t *c, const vnode_t *n, wd_jval_t obj)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, n->data_ref);
    int data = lua_gettop(L);
    for (size_t i = 0; i < n->nkids; i++) {
        const vnode_t *k = n->kids[i];
        wd_jval_t v;
        lua_rawgeti(L, LUA_REGISTRYINDEX, k->key_ref);
        if (!wd_jval_get(obj, k->name, k->nlen, &v)) {
            lua_pushnil(L);
        } else if (k->nkids && wd_jval_type(v) == WD_JOBJECT) {
            fill(L, c, k, v);
            lua_rawgeti(L, LUA_REGISTRYINDEX, k->proxy_ref);
        } else {
            rule_lua_push_json(L, c, v);
        }
        lua_rawset(L, data);
    }
    lua_settop(L, data - 1);
}

void rule_view_fill(rule_view_t *v, lua_State *L, rule_ctx_t *c, wd_jval_t root)
{
    if (v->root.nkids)
        fill(L, c, &v->root, root);
    lua_rawgeti(L, LUA_REGISTRYINDEX, v->root.proxy_ref);
}
