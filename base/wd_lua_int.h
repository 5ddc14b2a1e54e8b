/* base/wd_lua_int.h — private to base/wd_lua*.c: the bounded library
 * functions (base/wd_lua_lib.c) that replace, in the sandbox's pristine
 * libraries, the C functions that can loop without bound. */
#ifndef WARDEN_BASE_WD_LUA_INT_H
#define WARDEN_BASE_WD_LUA_INT_H

#include <lua.h>

/* Instructions between two count-hook calls at most (the clock is read at
 * each): well under a millisecond of Lua. */
#define WD_LUA_MAX_STEP 20000

/* Replaces string.rep, find, match, gmatch, gsub and table.insert, remove,
 * move, concat, sort in the table of libraries at libs (holding "string"
 * and "table") with bounded versions. */
void wd_lua_bound_libs(lua_State *L, int libs);

#endif
