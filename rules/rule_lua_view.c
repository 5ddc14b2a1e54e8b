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

#include "base/wd_alloc.h"
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

/* Private metatable keys of an object's proxy: the tape index of the JSON
 * object it was filled from, and the event generation of that fill. */
static const char origin_idx_key = 0, origin_gen_key = 0;

/* Records that the proxy at idx holds JSON object obj of the current event. */
static void set_origin(lua_State *L, int idx, wd_jval_t obj)
{
    const rule_ctx_t *c = wd_lua_user(L);
    lua_getmetatable(L, idx);
    lua_pushinteger(L, (lua_Integer)obj.idx);
    lua_rawsetp(L, -2, &origin_idx_key);
    lua_pushinteger(L, c ? (lua_Integer)c->gen : 0);
    lua_rawsetp(L, -2, &origin_gen_key);
    lua_pop(L, 1);
}

static int ro_next(lua_State *L)
{
    lua_settop(L, 2);
    if (lua_next(L, lua_upvalueindex(1)))
        return 2;
    lua_pushnil(L);
    return 1;
}

typedef struct ro_iter {
    uint64_t   gen;
    wd_jval_t  obj;
    wd_jiter_t it;
} ro_iter_t;

/* pairs over an object in the JSON document's member order, the order of
 * the checking view: a Lua table's own order follows its string hashes,
 * which Lua seeds anew in every process, so a rule walking ev.user gave
 * a different answer on each run.  Walks the event's members and yields
 * those the data table holds (declared, not null; the first of duplicate
 * keys). */
static int ro_next_ordered(lua_State *L)
{
    ro_iter_t *it = lua_touserdata(L, lua_upvalueindex(2));
    const rule_ctx_t *c = wd_lua_user(L);
    if (c == NULL || c->gen != it->gen)
        return rule_lua_error(L, "event expired during iteration");
    const char *k;
    size_t kl;
    wd_jval_t v;
    while (wd_jiter_next(&it->it, &k, &kl, &v)) {
        /* A key seen before is a later duplicate: the first was returned
         * (a table of the keys returned keeps this linear). */
        lua_pushlstring(L, k, kl);
        if (lua_rawget(L, lua_upvalueindex(3)) != LUA_TNIL) {
            lua_pop(L, 1);
            continue;
        }
        lua_pop(L, 1);
        lua_pushlstring(L, k, kl);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) {
            lua_pushvalue(L, -2);
            lua_pushboolean(L, 1);
            lua_rawset(L, lua_upvalueindex(3));
            return 2;
        }
        lua_pop(L, 2);
    }
    lua_pushnil(L);
    return 1;
}

static int ro_pairs(lua_State *L)
{
    const rule_ctx_t *c = wd_lua_user(L);
    lua_getmetatable(L, 1);
    int mt = lua_gettop(L);
    push_data(L, 1);
    if (lua_rawgetp(L, mt, &origin_idx_key) != LUA_TNUMBER || c == NULL) {
        lua_pop(L, 1);
        /* Arrays (1..n in order) and the empty root. */
        lua_pushcclosure(L, ro_next, 1);   /* the data table stays hidden in the upvalue */
        lua_pushvalue(L, 1);
        lua_pushnil(L);
        return 3;
    }
    size_t idx = (size_t)lua_tointeger(L, -1);
    lua_pop(L, 1);
    lua_rawgetp(L, mt, &origin_gen_key);
    uint64_t gen = (uint64_t)lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (gen != c->gen)
        return rule_lua_error(L, "event expired: `ev` is only valid during the evaluation it was passed to");
    ro_iter_t *it = lua_newuserdatauv(L, sizeof(*it), 0);
    it->gen = gen;
    it->obj.doc = c->root.doc;
    it->obj.idx = idx;
    wd_jiter_begin(it->obj, &it->it);
    lua_newtable(L);   /* keys returned: grows with the iteration */
    lua_pushcclosure(L, ro_next_ordered, 3);
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

int rule_lua_push_scalar(lua_State *L, wd_jval_t v)
{
    switch (wd_jval_type(v)) {
    case WD_JBOOL:
        lua_pushboolean(L, wd_jval_bool(v));
        return 1;
    case WD_JINT:
        lua_pushinteger(L, (lua_Integer)wd_jval_int(v));
        return 1;
    case WD_JDOUBLE: {
        /* Integers beyond int64 as their exact digits, as in the lazy view. */
        char nb[WD_JSON_NUMBUF];
        size_t n;
        const char *big = wd_jval_bigint(v, nb, &n);
        if (big)
            lua_pushlstring(L, big, n);
        else
            lua_pushnumber(L, wd_jval_double(v));
        return 1;
    }
    case WD_JSTRING: {
        size_t n;
        const char *s = wd_jval_str(v, &n);
        lua_pushlstring(L, s, n);
        return 1;
    }
    case WD_JARRAY:
    case WD_JOBJECT:
        return 0;
    default:
        lua_pushnil(L);
        return 1;
    }
}

static vnode_t *child(vnode_t *n, const char *seg, size_t len)
{
    for (size_t i = 0; i < n->nkids; i++)
        if (n->kids[i]->nlen == len && memcmp(n->kids[i]->name, seg, len) == 0)
            return n->kids[i];
    vnode_t *k = wd_calloc(1, sizeof(*k));
    vnode_t **kids = wd_realloc(n->kids, (n->nkids + 1) * sizeof(*n->kids));
    if (kids)
        n->kids = kids;
    if (k == NULL || kids == NULL || (k->name = wd_strndup(seg, len)) == NULL) {
        free(k);
        return NULL;
    }
    k->nlen = len;
    k->key_ref = k->data_ref = k->proxy_ref = LUA_NOREF;
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
    rule_view_t *v = wd_calloc(1, sizeof(*v));
    if (v == NULL)
        return NULL;
    v->root.key_ref = v->root.data_ref = v->root.proxy_ref = LUA_NOREF;
    for (size_t i = 0; i < npaths; i++) {
        vnode_t *n = &v->root;
        const char *seg = paths[i];
        for (;;) {
            const char *dot = strchr(seg, '.');
            size_t len = dot ? (size_t)(dot - seg) : strlen(seg);
            n = child(n, seg, len);
            if (n == NULL) {
                rule_view_destroy(v, L);
                return NULL;
            }
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

/* A declared path through an array (`items.sku`): the production `ev`
 * holds the array as a lazy view, not tables built before the rules run
 * (a padded array of a million objects would be a million tables outside
 * every budget).  Element i is built through the path's node when a rule
 * first reads it, inside that rule's budgets, and kept for the event
 * (user value 1: a table i → element) so ev.items[1] == ev.items[1]. */
#define RULE_VIEW_ARRAY_MT "warden.view.array"

typedef struct parr {
    uint64_t       gen;
    wd_jval_t      arr;
    const vnode_t *n;
    wd_jcursor_t   cur;   /* the last element read, for in-order walks */
} parr_t;

static void push_pruned(lua_State *L, rule_ctx_t *c, const vnode_t *n, wd_jval_t v);

static parr_t *check_parr(lua_State *L, int i)
{
    parr_t *a = luaL_checkudata(L, i, RULE_VIEW_ARRAY_MT);
    const rule_ctx_t *c = wd_lua_user(L);
    if (c == NULL || a->gen != c->gen)
        rule_lua_error(L, "event expired: `ev` is only valid during the evaluation it was passed to");
    return a;
}

/* Pushes element i (1-based) of the array at idx, el its JSON value:
 * the one built before, or a new one (remembered). */
static void parr_push_elem(lua_State *L, int idx, const parr_t *a, lua_Integer i, wd_jval_t el)
{
    idx = lua_absindex(L, idx);
    lua_getiuservalue(L, idx, 1);
    if (lua_rawgeti(L, -1, i) != LUA_TNIL) {
        lua_remove(L, -2);
        return;
    }
    lua_pop(L, 1);
    push_pruned(L, wd_lua_user(L), a->n, el);
    if (!lua_isnil(L, -1)) {
        lua_pushvalue(L, -1);
        lua_rawseti(L, -3, i);
    }
    lua_remove(L, -2);
}

static int parr_index(lua_State *L)
{
    parr_t *a = check_parr(L, 1);
    int isint = 0;
    /* Numbers only ("1" is not an index), but 2.0 is 2, as for a table. */
    lua_Integer i = lua_type(L, 2) == LUA_TNUMBER ? lua_tointegerx(L, 2, &isint) : 0;
    wd_jval_t el;
    if (isint && i >= 1 && wd_jval_at_cur(a->arr, (size_t)(i - 1), &a->cur, &el))
        parr_push_elem(L, 1, a, i, el);
    else
        lua_pushnil(L);
    return 1;
}

static int parr_len(lua_State *L)
{
    parr_t *a = check_parr(L, 1);
    lua_pushinteger(L, (lua_Integer)wd_jval_count(a->arr));
    return 1;
}

typedef struct parr_iter {
    uint64_t    gen;
    wd_jiter_t  it;
    lua_Integer index;
} parr_iter_t;

/* pairs: 1..n in order, no entry for a null (as pairs over a table). */
static int parr_next(lua_State *L)
{
    parr_t *a = check_parr(L, 1);
    parr_iter_t *it = lua_touserdata(L, lua_upvalueindex(1));
    if (it->gen != a->gen)
        return rule_lua_error(L, "event expired during iteration");
    const char *k;
    size_t kl;
    wd_jval_t el;
    while (wd_jiter_next(&it->it, &k, &kl, &el)) {
        lua_Integer i = it->index++;
        if (wd_jval_type(el) == WD_JNULL)
            continue;
        lua_pushinteger(L, i);
        parr_push_elem(L, 1, a, i, el);
        return 2;
    }
    lua_pushnil(L);
    return 1;
}

static int parr_pairs(lua_State *L)
{
    parr_t *a = check_parr(L, 1);
    parr_iter_t *it = lua_newuserdatauv(L, sizeof(*it), 0);
    it->gen = a->gen;
    it->index = 1;
    wd_jiter_begin(a->arr, &it->it);
    lua_pushcclosure(L, parr_next, 1);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static int parr_newindex(lua_State *L)
{
    check_parr(L, 1);
    return ro_newindex(L);
}

static int parr_eq(lua_State *L)
{
    const parr_t *a = check_parr(L, 1), *b = check_parr(L, 2);
    lua_pushboolean(L, a->arr.doc == b->arr.doc && a->arr.idx == b->arr.idx && a->n == b->n);
    return 1;
}

static int parr_tostring(lua_State *L)
{
    check_parr(L, 1);
    const rule_ctx_t *c = wd_lua_user(L);
    lua_pushfstring(L, "event array (%s)", c->event_id ? c->event_id : "?");
    return 1;
}

static void push_parr(lua_State *L, rule_ctx_t *c, const vnode_t *n, wd_jval_t arr)
{
    parr_t *a = lua_newuserdatauv(L, sizeof(*a), 1);
    a->gen = c->gen;
    a->arr = arr;
    a->n = n;
    a->cur = (wd_jcursor_t){ 0, 0 };
    lua_createtable(L, 0, 0);   /* the elements built so far */
    lua_setiuservalue(L, -2, 1);
    if (luaL_newmetatable(L, RULE_VIEW_ARRAY_MT)) {   /* once per VM */
        static const luaL_Reg mt[] = {
            { "__index", parr_index }, { "__newindex", parr_newindex }, { "__len", parr_len },
            { "__pairs", parr_pairs }, { "__eq", parr_eq },             { "__tostring", parr_tostring },
            { NULL, NULL },
        };
        luaL_setfuncs(L, mt, 0);
        /* type() in the sandbox says "table", as for the checking view. */
        lua_pushliteral(L, "table");
        lua_setfield(L, -2, "__type");
        lua_pushliteral(L, "locked");
        lua_setfield(L, -2, "__metatable");
    }
    lua_setmetatable(L, -2);
}

/* Pushes v as seen through node n (a node with kids: some fields below it
 * are declared).  An object shows only the declared fields (a fresh
 * table); an array is transparent — each element is seen through n, so
 * `items.sku` declares `sku` in every element of `items` — and lazy; a
 * declared leaf holding an object or array is a lazy view of it; a scalar
 * shows as itself. */
static void push_pruned(lua_State *L, rule_ctx_t *c, const vnode_t *n, wd_jval_t v)
{
    int t = wd_jval_type(v);
    if (t == WD_JARRAY) {
        push_parr(L, c, n, v);
        return;
    }
    if (t != WD_JOBJECT) {
        rule_lua_push_json(L, c, v);
        return;
    }
    luaL_checkstack(L, 8, "event nested too deeply");
    lua_createtable(L, 0, (int)n->nkids);
    for (size_t i = 0; i < n->nkids; i++) {
        const vnode_t *k = n->kids[i];
        wd_jval_t e;
        if (!wd_jval_get(v, k->name, k->nlen, &e))
            continue;
        lua_rawgeti(L, LUA_REGISTRYINDEX, k->key_ref);
        if (k->nkids)
            push_pruned(L, c, k, e);
        else
            rule_lua_push_json(L, c, e);
        lua_rawset(L, -3);
    }
    make_proxy(L);
    set_origin(L, -1, v);
}

/* Refills node n (an object node with kids) from obj.  A declared field
 * holding an object or an array becomes a lazy view of it (rule_lua_event.c,
 * or the array view above on the way to declared fields) rather than
 * tables: its contents are decoded only when a rule reads them, inside
 * that rule's budgets, so padding an event with a huge declared subtree
 * costs nothing to the rules that do not read it. */
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
            set_origin(L, -1, v);
        } else if (k->nkids && wd_jval_type(v) == WD_JARRAY) {
            push_parr(L, c, k, v);
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
    if (v->root.nkids)
        set_origin(L, -1, root);
}
