/* `ev`: a read-only, lazily decoded view of the current event.  Each object
 * or array is a small userdata boxing a view into the parsed JSON; a field
 * is converted to Lua only when a rule reads it.  Boxes carry the event's
 * generation, so a view kept past its evaluation raises an error instead of
 * reading freed memory.  Under strict mode (warden test) a read of a field
 * the running rule did not declare in `fields` is an error. */
#include <lauxlib.h>
#include <string.h>

#include "rules/rule_lua.h"

typedef struct ev_box {
    rule_ctx_t         *c;
    uint64_t            gen;
    wd_jval_t          val;
    const rule_field_t *node;   /* declared fields below here; NULL: all */
    int                 root;   /* node is the running rule's field root */
    wd_jcursor_t        cur;    /* arrays: the last element read, for in-order walks */
} ev_box_t;

typedef struct ev_iter {
    uint64_t            gen;
    wd_jiter_t         it;
    lua_Integer         index;  /* arrays: the next 1-based index */
    int                 array;
    const rule_field_t *node;
} ev_iter_t;

static ev_box_t *check_box(lua_State *L, int i)
{
    ev_box_t *b = luaL_checkudata(L, i, RULE_EVENT_MT);
    if (b->gen != b->c->gen)
        rule_lua_error(L, "event expired: `ev` is only valid during the evaluation it was passed to");
    return b;
}

static const rule_field_t *box_node(const ev_box_t *b)
{
    if (!b->c->strict)
        return NULL;
    return b->root ? (b->c->rule ? b->c->rule->field_root : NULL) : b->node;
}

static void push_box(lua_State *L, rule_ctx_t *c, wd_jval_t v, const rule_field_t *node, int root)
{
    ev_box_t *b = lua_newuserdatauv(L, sizeof(*b), 0);
    b->c = c;
    b->gen = c->gen;
    b->val = v;
    b->node = node;
    b->root = root;
    b->cur = (wd_jcursor_t){ 0, 0 };
    luaL_setmetatable(L, RULE_EVENT_MT);
}

/* Pushes a JSON value: scalars as Lua values, null as nil, containers as
 * views.  node: the declared fields below v (NULL: everything). */
static void push_value(lua_State *L, rule_ctx_t *c, wd_jval_t v, const rule_field_t *node)
{
    if (!rule_lua_push_scalar(L, v))
        push_box(L, c, v, node, 0);
}

/* The declared-field node for key under node; raises for an undeclared
 * field.  Returns NULL when everything below is readable. */
static const rule_field_t *descend(lua_State *L, const ev_box_t *b, const rule_field_t *node,
                                   const char *k, size_t kl)
{
    if (node == NULL || node->whole)
        return NULL;
    const rule_field_t *child = rule_field_child(node, k, kl);
    if (child == NULL) {
        char show[160];
        rule_lua_error(L, "field '%s%s%s' is not declared in 'fields' of rule %s", node->path,
                       *node->path ? "." : "", rule_str_show((rule_str_t){ k, kl }, show, sizeof(show)),
                       b->c->rule ? b->c->rule->name : "?");
        return NULL;   /* not reached: rule_lua_error raises */
    }
    return child->whole ? NULL : child;
}

static int ev_index(lua_State *L)
{
    ev_box_t *b = check_box(L, 1);
    const rule_field_t *node = box_node(b);
    wd_jval_t out;
    int t = wd_jval_type(b->val);
    if (t == WD_JOBJECT) {
        if (lua_type(L, 2) != LUA_TSTRING) {
            lua_pushnil(L);
            return 1;
        }
        size_t kl;
        const char *k = lua_tolstring(L, 2, &kl);
        const rule_field_t *child = descend(L, b, node, k, kl);
        if (!wd_jval_get(b->val, k, kl, &out)) {
            lua_pushnil(L);
            return 1;
        }
        push_value(L, b->c, out, child);
        return 1;
    }
    int isint = 0;
    /* Numbers only ("1" is not an index), but 2.0 is 2, as for a table. */
    lua_Integer i = lua_type(L, 2) == LUA_TNUMBER ? lua_tointegerx(L, 2, &isint) : 0;
    if (t == WD_JARRAY && isint) {
        if (i >= 1 && wd_jval_at_cur(b->val, (size_t)(i - 1), &b->cur, &out)) {
            push_value(L, b->c, out, node && node->whole ? NULL : node);
            return 1;
        }
    }
    lua_pushnil(L);
    return 1;
}

static int ev_newindex(lua_State *L)
{
    check_box(L, 1);
    return rule_lua_error(L, "event is read-only (assignment to field '%s')",
                          luaL_tolstring(L, 2, NULL));
}

static int ev_len(lua_State *L)
{
    ev_box_t *b = check_box(L, 1);
    lua_pushinteger(L, wd_jval_type(b->val) == WD_JARRAY ? (lua_Integer)wd_jval_count(b->val) : 0);
    return 1;
}

/* The iterator of pairs(): upvalue 1 the ev_iter_t, upvalue 2 (objects)
 * a table of the keys returned so far, so a repeated key is skipped in
 * O(1) rather than by a lookup from the object's start (O(n^2) over
 * 100k keys). */
static int ev_next(lua_State *L)
{
    ev_iter_t *it = lua_touserdata(L, lua_upvalueindex(1));
    ev_box_t *b = check_box(L, 1);
    if (it->gen != b->c->gen)
        return rule_lua_error(L, "event expired during iteration");
    const char *k;
    size_t kl;
    wd_jval_t v;
    while (wd_jiter_next(&it->it, &k, &kl, &v)) {
        /* As pairs over a table: no entry for nil (JSON null), and a key
         * once (the first of duplicate keys, which is what ev.k reads). */
        if (it->array) {
            lua_Integer i = it->index++;
            if (wd_jval_type(v) == WD_JNULL)
                continue;
            lua_pushinteger(L, i);
            push_value(L, b->c, v, it->node && it->node->whole ? NULL : it->node);
            return 2;
        }
        if (wd_jval_type(v) == WD_JNULL)
            continue;
        const rule_field_t *child = NULL;
        if (it->node && !it->node->whole) {
            child = rule_field_child(it->node, k, kl);
            if (child == NULL)
                continue;   /* undeclared fields are invisible to pairs() */
            if (child->whole)
                child = NULL;
        }
        lua_pushlstring(L, k, kl);
        if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL) {
            lua_pop(L, 1);
            continue;       /* a repeated key: the first one was returned */
        }
        lua_pop(L, 1);
        lua_pushlstring(L, k, kl);
        lua_pushboolean(L, 1);
        lua_rawset(L, lua_upvalueindex(2));
        lua_pushlstring(L, k, kl);
        push_value(L, b->c, v, child);
        return 2;
    }
    lua_pushnil(L);
    return 1;
}

static int ev_pairs(lua_State *L)
{
    ev_box_t *b = check_box(L, 1);
    ev_iter_t *it = lua_newuserdatauv(L, sizeof(*it), 0);
    it->gen = b->gen;
    it->index = 1;
    it->array = wd_jval_type(b->val) == WD_JARRAY;
    it->node = box_node(b);
    wd_jiter_begin(b->val, &it->it);
    lua_newtable(L);   /* grows with the iteration, not with the object */
    lua_pushcclosure(L, ev_next, 2);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static int ev_tostring(lua_State *L)
{
    ev_box_t *b = check_box(L, 1);
    lua_pushfstring(L, "event %s (%s)", wd_jval_type(b->val) == WD_JARRAY ? "array" : "object",
                    b->c->event_id ? b->c->event_id : "?");
    return 1;
}

/* ev.o == ev.o: each read makes a new box, but two boxes of the same
 * value of the same event are equal, as one table is to itself. */
static int ev_eq(lua_State *L)
{
    const ev_box_t *a = check_box(L, 1), *b = check_box(L, 2);
    lua_pushboolean(L, a->val.doc == b->val.doc && a->val.idx == b->val.idx);
    return 1;
}

void rule_lua_event_init(lua_State *L)
{
    static const luaL_Reg mt[] = {
        { "__index", ev_index },   { "__newindex", ev_newindex }, { "__len", ev_len },
        { "__pairs", ev_pairs },   { "__tostring", ev_tostring }, { "__eq", ev_eq },
        { NULL, NULL },
    };
    luaL_newmetatable(L, RULE_EVENT_MT);
    luaL_setfuncs(L, mt, 0);
    /* What type() says in the sandbox (base/wd_lua.c): the table view
     * of production is made of tables. */
    lua_pushliteral(L, "table");
    lua_setfield(L, -2, "__type");
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
}

int rule_lua_event_jtype(lua_State *L, int idx)
{
    const ev_box_t *b = luaL_testudata(L, idx, RULE_EVENT_MT);
    return b ? wd_jval_type(b->val) : -1;
}

void rule_lua_push_json(lua_State *L, rule_ctx_t *c, wd_jval_t v)
{
    push_value(L, c, v, NULL);
}

void rule_lua_push_event(lua_State *L, rule_ctx_t *c, wd_jval_t root)
{
    push_box(L, c, root, NULL, 1);
}
