/* base/wd_lua.h — the one Lua sandbox: a lua_State with an accounting
 * allocator (memory cap), an instruction budget and a wall-clock limit per
 * protected call, and the sandboxed environment each chunk gets as its own
 * _ENV (with bounded versions of the library functions that loop in C).
 * Rules, counters.lua and warden.lua all run in it, each with its own
 * wd_lua_opts_t. */
#ifndef WARDEN_BASE_WD_LUA_H
#define WARDEN_BASE_WD_LUA_H

#include <stddef.h>
#include <stdint.h>
#include <lua.h>

typedef struct wd_lua wd_lua_t;

/* What a sandbox env may hold beyond the core every use gets (assert,
 * error, ipairs, next, pairs, rawequal, rawget, rawlen, rawset, select,
 * tonumber, tostring, type, _VERSION and copies of string, table, math). */
enum wd_lua_allow {
    WD_LUA_ALLOW_UTF8       = 1 << 0,   /* the utf8 library */
    WD_LUA_ALLOW_PCALL      = 1 << 1,   /* pcall, xpcall (budget-safe versions) */
    WD_LUA_ALLOW_METATABLES = 1 << 2,   /* setmetatable (no __gc), getmetatable */
    WD_LUA_ALLOW_ALL        = (1 << 3) - 1,
};

/* Per-use options.  mem_cap: bytes the VM may hold during a wd_lua_pcall
 * (0: no cap); budget: instructions per wd_lua_pcall (0: none); allow:
 * enum wd_lua_allow bits. */
typedef struct wd_lua_opts {
    size_t   mem_cap;
    long     budget;
    unsigned allow;
} wd_lua_opts_t;

wd_lua_t *wd_lua_new_opts(const wd_lua_opts_t *opts, char *errstr, size_t errstr_size);
/* The rules' VM: everything allowed (WD_LUA_ALLOW_ALL). */
wd_lua_t *wd_lua_new(size_t mem_cap, long budget, char *errstr, size_t errstr_size);
void wd_lua_destroy(wd_lua_t *vm);
lua_State *wd_lua_state(wd_lua_t *vm);
/* The wd_lua_t of a state made by wd_lua_new (from its extra space). */
wd_lua_t *wd_lua_from(lua_State *L);

/* Per-VM user pointer (the rules/ layer keeps its evaluation context here). */
void  wd_lua_set_user(wd_lua_t *vm, void *user);
void *wd_lua_user(lua_State *L);

enum wd_lua_status { WD_LUA_OK = 0, WD_LUA_ERROR, WD_LUA_TIMEOUT, WD_LUA_OOM };

/* Wall-clock milliseconds each wd_lua_pcall may run (0, the default: no
 * limit).  Checked with the instruction budget in the count hook, and by
 * the bounded library functions and wd_lua_charge inside C calls. */
void wd_lua_set_time_limit(wd_lua_t *vm, long ms);
long wd_lua_time_limit(const wd_lua_t *vm);

/* The next wd_lua_pcall's time limit counts from now_ns, a wd_now_ns() the
 * caller has just read (it times its calls anyway): one clock read less
 * per call.  Used once; 0 or no call: the pcall reads the clock. */
void wd_lua_set_call_start(wd_lua_t *vm, uint64_t now_ns);

/* lua_pcall under the instruction budget, the time limit and the memory
 * cap.  A limit re-arms after it fires, so a pcall inside Lua code cannot
 * swallow the kill.  Returns enum wd_lua_status (WD_LUA_TIMEOUT for the
 * budget, the time limit and an interrupt: the message says which).  On
 * failure the error message is left on the stack (as lua_pcall). */
int wd_lua_pcall(wd_lua_t *vm, int nargs, int nresults);

/* For C functions called from Lua: charges n instructions' worth of work
 * done in C to the running call, and raises the budget's, the time limit's
 * or the interrupt's error ("file:line: ...") when the call is over one.
 * It may longjmp: call it only where no C memory is held.  A no-op outside
 * wd_lua_pcall. */
void wd_lua_charge(lua_State *L, long n);
/* Nanoseconds left before the running call's time limit (UINT64_MAX: none). */
uint64_t wd_lua_ns_left(lua_State *L);

/* Async-signal-safe: every running and later wd_lua_pcall of the process
 * fails at its next hook or charge with "interrupted by a stop signal",
 * from now on (wd_lua_interrupt) or from ms milliseconds on (an earlier
 * time wins).  For stop signals: the process is about to exit.
 * wd_lua_interrupted() says whether that time has come. */
void wd_lua_interrupt(void);
void wd_lua_interrupt_in(long ms);
int wd_lua_interrupted(void);

/* Pushes a new sandbox environment: the safe base functions and private
 * copies of the libraries the VM's opts allow (so no chunk can change what
 * another sees); never io, os, require, load, dofile, debug, collectgarbage,
 * print, string.dump. */
void wd_lua_push_sandbox_env(wd_lua_t *vm);

/* Loads text-only Lua source with a fresh sandbox env as its _ENV and leaves
 * the chunk on the stack.  chunkname as for lua_load ("@path").  Returns 0, or
 * -1 with the syntax error ("path:line: message") in errstr. */
int wd_lua_load_sandboxed(wd_lua_t *vm, const char *src, size_t len, const char *chunkname,
                           char *errstr, size_t errstr_size);

size_t wd_lua_mem_used(const wd_lua_t *vm);
/* Instructions of the last wd_lua_pcall, plus what C functions charged: an
 * unbiased estimate (a multiple of the hook's step for one call, but its
 * mean over many calls is the mean instruction count, however short the
 * calls; base/wd_lua.c count_hook).  The budget itself is exact: a call is
 * killed at budget + 1 instructions. */
long wd_lua_instructions(const wd_lua_t *vm);
size_t wd_lua_mem_cap(const wd_lua_t *vm);

#endif
