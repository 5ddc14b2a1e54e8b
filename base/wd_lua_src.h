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

/* What each byte of Lua source is: out[i] for src[i], i < len, is
 * WD_LUA_CODE, WD_LUA_COMMENT (`-- …` to the end of the line, `--[[ … ]]`,
 * `--[==[ … ]==]`) or WD_LUA_STRING (a literal, its quotes or brackets
 * included: '…' and "…" with escapes, [[ … ]], [=[ … ]=]).  So a scan for
 * `ctx.count(` can tell a call from a mention in a comment or a string.
 * O(len). */
enum { WD_LUA_CODE = 0, WD_LUA_COMMENT = 1, WD_LUA_STRING = 2 };
void wd_lua_classify(const char *src, size_t len, unsigned char *out);

#endif
