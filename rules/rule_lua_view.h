/* rules/rule_lua_view.h — the production `ev`: plain Lua tables holding the
 * fields a stream's rules and counters declare, behind read-only proxies.
 * One view per stream is built when the pack loads; each event refills the
 * same tables (no allocation but for strings, the tables of declared
 * objects inside arrays and one lazy view per declared field holding an
 * object or array, built when a rule reads them), so rules read fields at
 * table speed and an event's cost before the rules run is bounded by what
 * they declare.  Arrays are transparent to paths: `items.sku` shows `sku`
 * in every element of `items`.  Fields nobody declared read as nil,
 * exactly as they would after `warden split` pruned them.  `warden test`
 * uses the lazy, checking view of rule_lua_event.c instead. */
#ifndef WARDEN_RULES_RULE_LUA_VIEW_H
#define WARDEN_RULES_RULE_LUA_VIEW_H

#include <stddef.h>

#include <lua.h>

#include "base/wd_json.h"

typedef struct rule_view rule_view_t;
struct rule_ctx;

/* paths: the dotted field paths to expose (a path makes its parents
 * readable; a path covers everything below it).  NULL when out of memory. */
rule_view_t *rule_view_new(lua_State *L, const char *const *paths, size_t npaths);
void rule_view_destroy(rule_view_t *v, lua_State *L);

/* Refills the view from root and pushes its root proxy (the `ev`).  c: the
 * evaluation context (its generation expires the lazy views of the event). */
void rule_view_fill(rule_view_t *v, lua_State *L, struct rule_ctx *c, wd_jval_t root);

#endif
