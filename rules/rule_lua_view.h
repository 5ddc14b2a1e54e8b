/* rules/rule_lua_view.h — the production `ev`: plain Lua tables holding the
 * fields a stream's rules and counters declare, behind read-only proxies.
 * One view per stream is built when the pack loads; each event refills the
 * same tables (no allocation but for strings, whole declared subtrees and
 * arrays on the way to declared fields), so rules read fields at table
 * speed.  Arrays are transparent to paths: `items.sku` shows `sku` in
 * every element of `items`.  Fields nobody declared read as nil,
 * exactly as they would after `warden split` pruned them.  `warden test`
 * uses the lazy, checking view of rule_lua_event.c instead. */
#ifndef WARDEN_RULES_RULE_LUA_VIEW_H
#define WARDEN_RULES_RULE_LUA_VIEW_H

#include <stddef.h>

#include <lua.h>

#include "base/wd_json.h"

typedef struct rule_view rule_view_t;

/* paths: the dotted field paths to expose (a path makes its parents
 * readable; a path covers everything below it). */
rule_view_t *rule_view_new(lua_State *L, const char *const *paths, size_t npaths);
void rule_view_destroy(rule_view_t *v, lua_State *L);

/* Refills the view from root and pushes its root proxy (the `ev`). */
void rule_view_fill(rule_view_t *v, lua_State *L, wd_jval_t root);

/* Pushes v as a fresh read-only Lua value (objects and arrays as proxies). */
void rule_view_push_deep(lua_State *L, wd_jval_t v, int depth);

#endif
