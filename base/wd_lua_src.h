/* base/wd_lua_src.h — facts read off Lua source text without running it,
 * for error messages that point at a line. */
#ifndef WD_LUA_SRC_H
#define WD_LUA_SRC_H

#include <stddef.h>

/* Line (from 1) of the table-constructor field path[n-1] written as
 * `name = …` or `["name"] = …`, nested as path[0] = { path[1] = { … } }
 * inside an outermost table constructor (the `return { … }` of a rule or
 * config file, or a `local t = { … }`).  Comments and strings are skipped.
 * The first such field wins; 0 when there is none (a table built by code).
 * 1 <= n <= 8. */
int wd_lua_field_line(const char *src, size_t len, const char *const *path, size_t n);

#endif
