/* engine/eng_lua.h — the rules' Lua VM: a lua_State with an accounting
 * allocator (memory cap), an instruction budget per protected call, and the
 * sandboxed environment each rule chunk gets as its own _ENV. */
#ifndef WARDEN_ENG_LUA_H
#define WARDEN_ENG_LUA_H

#include <stddef.h>
#include <lua.h>

typedef struct eng_lua eng_lua_t;

/* mem_cap: bytes the VM may hold (0: no cap); budget: instructions per
 * eng_lua_pcall (0: none). */
eng_lua_t *eng_lua_new(size_t mem_cap, long budget, char *errstr, size_t errstr_size);
void eng_lua_destroy(eng_lua_t *vm);
lua_State *eng_lua_state(eng_lua_t *vm);
/* The eng_lua_t of a state made by eng_lua_new (from its extra space). */
eng_lua_t *eng_lua_from(lua_State *L);

/* Per-VM user pointer (the rules/ layer keeps its evaluation context here). */
void  eng_lua_set_user(eng_lua_t *vm, void *user);
void *eng_lua_user(lua_State *L);

enum eng_lua_status { ENG_LUA_OK = 0, ENG_LUA_ERROR, ENG_LUA_TIMEOUT, ENG_LUA_OOM };

/* lua_pcall under the instruction budget and the memory cap.  The budget
 * re-arms after it fires, so a pcall inside Lua code cannot swallow the
 * kill.  On failure the error message is left on the stack (as lua_pcall). */
int eng_lua_pcall(eng_lua_t *vm, int nargs, int nresults);

/* Pushes a new sandbox environment: safe base functions and private copies
 * of string, table, math and utf8 (so no rule can change what another sees);
 * no io, os, require, load, dofile, debug, collectgarbage, print, string.dump. */
void eng_lua_push_sandbox_env(eng_lua_t *vm);

/* Loads text-only Lua source with a fresh sandbox env as its _ENV and leaves
 * the chunk on the stack.  chunkname as for lua_load ("@path").  Returns 0, or
 * -1 with the syntax error ("path:line: message") in errstr. */
int eng_lua_load_sandboxed(eng_lua_t *vm, const char *src, size_t len, const char *chunkname,
                           char *errstr, size_t errstr_size);

size_t eng_lua_mem_used(const eng_lua_t *vm);

#endif
