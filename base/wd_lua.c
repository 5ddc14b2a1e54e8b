#include "base/wd_lua.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/wd_alloc.h"
#include "base/wd_lua_int.h"
#include "base/wd_util.h"

/* When calls start failing (monotonic ns; 0: never), set from a signal
 * handler by wd_lua_interrupt_in: process-wide by nature, lock-free. */
static _Atomic uint64_t interrupt_at;

/* The small blocks of a VM (strings, tables, closures: most of what a rule
 * allocates per event) come from its own pool of size classes: no lock,
 * where malloc's arena lock is shared with the Kafka client's threads that
 * free what the service thread allocated, and back.  Lua tells every free
 * and realloc the block's size, so a block needs no header.  Freed blocks
 * stay in their class for reuse, returned to the system with the VM.
 * Under AddressSanitizer every block is malloc's, so that it checks them. */
#define POOL_GRAIN   16
#define POOL_MAX     256                        /* larger blocks: malloc */
#define POOL_CLASSES (POOL_MAX / POOL_GRAIN)
#define POOL_CHUNK   (64 * 1024)
#if defined(__SANITIZE_ADDRESS__)
#define POOL_ON 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_ON 0
#endif
#endif
#ifndef POOL_ON
#define POOL_ON 1
#endif

typedef struct blk { struct blk *next; } blk_t;   /* a free block, a chunk's first grain */

typedef struct pool {
    blk_t         *free[POOL_CLASSES];   /* per class: a list through the blocks */
    unsigned char *bump, *end;           /* the current chunk's unused part */
    blk_t         *chunks;               /* every chunk: a list through its first grain */
} pool_t;

struct wd_lua {
    lua_State *L;
    pool_t     pool;
    size_t     mem_used;
    size_t     mem_cap;
    int        mem_hit;     /* the cap refused an allocation in this call */
    int        refused;     /* the last growth was refused: its request, */
    const void *ref_ptr;    /* to recognise Lua's retry after an */
    size_t     ref_osize;   /* emergency collection */
    size_t     ref_nsize;
    int        hit_before;  /* mem_hit before that refusal */
    long       budget;      /* instructions per pcall */
    long       step;        /* hook granularity */
    long       used;        /* instructions reported for this call (an unbiased estimate) */
    long       exec;        /* instructions executed up to the last hook, plus charges (exact) */
    long       armed;       /* the count the hook is armed with */
    int        first;       /* the next hook is the call's first (its arm was dithered) */
    uint64_t   rng;         /* xorshift state for the first arm */
    int        timed_out;   /* a limit fired in this call: enum kill_reason */
    int        in_call;
    long       time_ms;     /* wall-clock limit per call (0: none) */
    uint64_t   deadline_ns; /* of the running call (0: none) */
    uint64_t   start_ns;    /* the next call's start, read by the caller (0: read it) */
    uint64_t   cpu_deadline_ns; /* past deadline_ns: the thread-CPU time at which
                             * the call is killed (0: not past it yet) */
    void      *user;
    int        libs_ref;    /* registry ref: table of the pristine libraries */
    unsigned   allow;       /* enum wd_lua_allow */
};

/* Accounting allocator: refuses growth past the cap while a protected call
 * runs (the engine's own allocations outside calls may go over slightly, so
 * an error path never fails for lack of memory).
 * Lua answers a refusal with an emergency full collection and then asks
 * again for the very same block.  If that retry fits, the call has not run
 * out of memory (it only met an earlier call's garbage), so the refusal is
 * forgotten; any other request in between makes it stick. */
static inline int pooled(size_t n) { return POOL_ON && n > 0 && n <= POOL_MAX; }

static void *pool_get(pool_t *p, size_t n)
{
    size_t c = (n - 1) / POOL_GRAIN;
    blk_t *b = p->free[c];
    if (b) {
        p->free[c] = b->next;
        return b;
    }
    size_t sz = (c + 1) * POOL_GRAIN;
    if ((size_t)(p->end - p->bump) < sz) {
        blk_t *ch = malloc(POOL_CHUNK);
        if (ch == NULL)
            return NULL;
        ch->next = p->chunks;
        p->chunks = ch;
        p->bump = (unsigned char *)ch + POOL_GRAIN;   /* the first grain links the chunks */
        p->end = (unsigned char *)ch + POOL_CHUNK;
    }
    void *r = p->bump;
    p->bump += sz;
    return r;
}

static void pool_put(pool_t *p, void *ptr, size_t n)
{
    size_t c = (n - 1) / POOL_GRAIN;
    blk_t *b = ptr;
    b->next = p->free[c];
    p->free[c] = b;
}

static void pool_release(pool_t *p)
{
    while (p->chunks) {
        blk_t *next = p->chunks->next;
        free(p->chunks);
        p->chunks = next;
    }
    memset(p, 0, sizeof(*p));
}

static void block_free(pool_t *p, void *ptr, size_t osize)
{
    if (pooled(osize))
        pool_put(p, ptr, osize);
    else
        free(ptr);
}

/* realloc over the pool and malloc: ptr (NULL or osize bytes) to nsize > 0. */
static void *block_resize(pool_t *p, void *ptr, size_t osize, size_t nsize)
{
    if (!pooled(osize) && !pooled(nsize))
        return realloc(ptr, nsize);
    if (ptr && pooled(osize) && pooled(nsize) && (osize - 1) / POOL_GRAIN == (nsize - 1) / POOL_GRAIN)
        return ptr;   /* the same class */
    void *q = pooled(nsize) ? pool_get(p, nsize) : malloc(nsize);
    if (q == NULL)
        return NULL;
    if (ptr) {
        memcpy(q, ptr, osize < nsize ? osize : nsize);
        block_free(p, ptr, osize);
    }
    return q;
}

static void *lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    wd_lua_t *vm = ud;
    if (ptr == NULL)
        osize = 0;
    if (nsize == 0) {
        if (ptr)
            block_free(&vm->pool, ptr, osize);
        vm->mem_used -= osize;
        return NULL;
    }
    if (nsize > osize) {
        int retry = vm->refused && ptr == vm->ref_ptr && osize == vm->ref_osize &&
                    nsize == vm->ref_nsize;
        if (vm->mem_cap && vm->in_call && vm->mem_used + (nsize - osize) > vm->mem_cap) {
            if (!retry) {
                vm->refused = 1;
                vm->ref_ptr = ptr;
                vm->ref_osize = osize;
                vm->ref_nsize = nsize;
                vm->hit_before = vm->mem_hit;
            }
            vm->mem_hit = 1;
            return NULL;
        }
        if (retry)
            vm->mem_hit = vm->hit_before;
        vm->refused = 0;
    }
    /* Lua assumes a shrink never fails: only growth meets the test hook. */
    void *p = nsize > osize && wd_alloc_fail_lua_() ? NULL : block_resize(&vm->pool, ptr, osize, nsize);
    if (p == NULL)
        return NULL;
    vm->mem_used = vm->mem_used - osize + nsize;
    return p;
}

enum kill_reason { KILL_NONE = 0, KILL_BUDGET, KILL_TIME, KILL_SIGNAL };

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The call has run its time limit on the wall clock.  On a busy machine
 * that may be time spent waiting for a core, not working: a cheap rule
 * must not be killed for it, or the same events would get different
 * verdicts under load.  So the kill waits until the thread has also used
 * a quarter of the limit in CPU time (at least 1 ms) after the wall
 * deadline: an unloaded runaway dies at 1.25 x the limit, a cheap call
 * that was only descheduled finishes.  The CPU clock is a system call
 * (some 200 ns), read only past the wall deadline. */
static int past_deadline(wd_lua_t *vm)
{
    uint64_t cpu = thread_cpu_ns();
    if (vm->cpu_deadline_ns == 0) {
        uint64_t grace = (uint64_t)vm->time_ms * 250000u;
        vm->cpu_deadline_ns = cpu + (grace < 1000000u ? 1000000u : grace);
        return KILL_NONE;
    }
    return cpu >= vm->cpu_deadline_ns ? KILL_TIME : KILL_NONE;
}

/* Which limit the running call is over, if any.  The clock is read at most
 * once per hook step or charge (a vDSO call, some 20 ns). */
static int over_limit(wd_lua_t *vm)
{
    if (vm->budget > 0 && vm->exec > vm->budget)
        return KILL_BUDGET;
    uint64_t at = atomic_load_explicit(&interrupt_at, memory_order_relaxed);
    if (!vm->deadline_ns && !at)
        return KILL_NONE;
    uint64_t now = wd_now_ns();
    if (at && now >= at)
        return KILL_SIGNAL;
    if (vm->deadline_ns && now >= vm->deadline_ns)
        return past_deadline(vm);
    return KILL_NONE;
}

static void push_kill_message(lua_State *L, const wd_lua_t *vm)
{
    /* lua_pushfstring knows no %ld. */
    if (vm->timed_out == KILL_BUDGET)
        lua_pushfstring(L, "instruction budget of %I exceeded", (lua_Integer)vm->budget);
    else if (vm->timed_out == KILL_TIME)
        lua_pushfstring(L, "time limit of %I ms exceeded", (lua_Integer)vm->time_ms);
    else
        lua_pushliteral(L, "interrupted by a stop signal");
}

/* Raises the kill of the running call.  level: as for luaL_where. */
static void kill_call(lua_State *L, wd_lua_t *vm, int level)
{
    /* From now on fire at every instruction: a pcall in the rule that
     * caught this error is killed at the first instruction after it.
     * (Re-arming every 64 let `while true do pcall(loop) end` live
     * forever: after each kill the next 64 counted instructions fell
     * mostly inside the next pcall, so the kill was always caught.) */
    vm->armed = 1;
    lua_sethook(L, lua_gethook(L), LUA_MASKCOUNT, 1);
    luaL_where(L, level);
    push_kill_message(L, vm);
    lua_concat(L, 2);
    lua_error(L);
}

/* The count the hook is armed with next: a step, or what is left of the
 * budget + 1 when that is less, so a kill happens at exactly budget + 1
 * instructions whatever the first arm was. */
static long next_arm(const wd_lua_t *vm)
{
    long n = vm->step;
    if (vm->budget > 0) {
        long left = vm->budget + 1 - vm->exec;
        if (left < n)
            n = left > 0 ? left : 1;
    }
    return n;
}

/* Instruction counting.  The hook fires every `armed` instructions; at a
 * fire, exec (the exact count so far) drives the budget.  What a call is
 * reported to cost (used) must also see the part after the last fire,
 * which Lua does not expose: so the call's first arm is a pseudo-random
 * 1..step and each fire counts a whole step.  A call of N instructions
 * then fires N/step times on average, and `used` is N on average: a rule
 * shorter than a step is not 0, and a rule doing 10x the work of another
 * reports 10x over many calls.  Cost: one lua_sethook per call more (at
 * the first fire), nothing per instruction. */
static void count_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    wd_lua_t *vm = wd_lua_from(L);
    vm->exec += vm->armed;
    vm->used += vm->first ? vm->step : vm->armed;
    int was_first = vm->first;
    vm->first = 0;
    if (!vm->timed_out)
        vm->timed_out = over_limit(vm);
    /* In a hook, level 0 is the Lua function that was running (level 1,
     * luaL_error's, is its caller: nothing for evaluate or a chunk). */
    if (vm->timed_out)
        kill_call(L, vm, 0);
    long n = next_arm(vm);
    if (n != vm->armed || was_first) {
        vm->armed = n;
        lua_sethook(L, count_hook, LUA_MASKCOUNT, (int)n);
    }
}

void wd_lua_charge(lua_State *L, long n)
{
    wd_lua_t *vm = wd_lua_from(L);
    if (!vm->in_call)
        return;
    vm->used += n > 0 ? n : 0;
    vm->exec += n > 0 ? n : 0;
    if (!vm->timed_out)
        vm->timed_out = over_limit(vm);
    if (vm->timed_out)
        kill_call(L, vm, 1);   /* level 1: the Lua code that called the C function */
}

void wd_lua_interrupt_in(long ms)
{
    /* clock_gettime is async-signal-safe; so is a lock-free atomic. */
    uint64_t at = wd_now_ns() + (uint64_t)(ms > 0 ? ms : 0) * 1000000u;
    uint64_t cur = atomic_load(&interrupt_at);
    while ((cur == 0 || at < cur) && !atomic_compare_exchange_weak(&interrupt_at, &cur, at))
        ;
}

void wd_lua_interrupt(void) { wd_lua_interrupt_in(0); }

int wd_lua_interrupted(void)
{
    uint64_t at = atomic_load(&interrupt_at);
    return at != 0 && wd_now_ns() >= at;
}
void wd_lua_set_call_start(wd_lua_t *vm, uint64_t now_ns) { vm->start_ns = now_ns; }
void wd_lua_set_time_limit(wd_lua_t *vm, long ms) { vm->time_ms = ms > 0 ? ms : 0; }
long wd_lua_time_limit(const wd_lua_t *vm) { return vm->time_ms; }
size_t wd_lua_mem_cap(const wd_lua_t *vm) { return vm->mem_cap; }

uint64_t wd_lua_ns_left(lua_State *L)
{
    const wd_lua_t *vm = wd_lua_from(L);
    if (!vm->in_call || vm->deadline_ns == 0)
        return UINT64_MAX;
    uint64_t now = wd_now_ns();
    return now >= vm->deadline_ns ? 0 : vm->deadline_ns - now;
}

wd_lua_t *wd_lua_from(lua_State *L)
{
    return *(wd_lua_t **)lua_getextraspace(L);
}

void wd_lua_set_user(wd_lua_t *vm, void *user) { vm->user = user; }
void *wd_lua_user(lua_State *L) { return wd_lua_from(L)->user; }
lua_State *wd_lua_state(wd_lua_t *vm) { return vm->L; }
size_t wd_lua_mem_used(const wd_lua_t *vm) { return vm->mem_used; }

/* The allow-list: every name a sandbox env may hold, with the wd_lua_allow
 * bit it needs (0: always there). */
typedef struct allowed {
    const char *name;
    unsigned    need;
} allowed_t;

static const allowed_t safe_base[] = {
    { "assert", 0 }, { "error", 0 }, { "ipairs", 0 }, { "next", 0 }, { "pairs", 0 },
    { "rawequal", 0 }, { "rawget", 0 }, { "rawlen", 0 }, { "rawset", 0 }, { "select", 0 },
    { "tonumber", 0 }, { "tostring", 0 }, { "type", 0 }, { "_VERSION", 0 },
    { "pcall", WD_LUA_ALLOW_PCALL }, { "xpcall", WD_LUA_ALLOW_PCALL },
    { "setmetatable", WD_LUA_ALLOW_METATABLES }, { "getmetatable", WD_LUA_ALLOW_METATABLES },
    { NULL, 0 }
};
static const allowed_t libs[] = {
    { "string", 0 }, { "table", 0 }, { "math", 0 }, { "utf8", WD_LUA_ALLOW_UTF8 }, { NULL, 0 }
};

/* setmetatable for rules: no __gc.  A finalizer runs whenever the
 * collector gets to it, often outside any evaluation, with hooks off and
 * the memory cap not armed: an endless or greedy one would escape both
 * budgets.  (Lua marks a table for finalization only when its metatable
 * has __gc at the time of this call, so adding one later does nothing.) */
static int sandbox_setmetatable(lua_State *L)
{
    int t = lua_type(L, 2);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
    if (t == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        int gc = lua_rawget(L, 2);
        lua_pop(L, 1);
        if (gc != LUA_TNIL)
            return luaL_error(L, "setmetatable: __gc metamethods are not allowed in rules");
    }
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
        return luaL_error(L, "cannot change a protected metatable");
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

/* rawset for rules: refused on a table whose metatable is protected
 * (__metatable set).  The event's read-only views are empty proxy tables
 * whose metatables are protected; a raw write would put a field on the
 * proxy that every later rule and event would read. */
static int sandbox_rawset(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkany(L, 2);
    luaL_checkany(L, 3);
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
        return luaL_error(L, "rawset: the table is read-only");
    lua_settop(L, 3);
    lua_rawset(L, 1);
    return 1;
}

/* type for rules: a userdata whose metatable names a type in __type (the
 * lazy event view says "table") reports that type, so a rule asking
 * type(ev.user) == "table" gets the same answer from the lazy view of
 * warden test as from the table view of production. */
static int sandbox_type(lua_State *L)
{
    int t = lua_type(L, 1);
    luaL_argcheck(L, t != LUA_TNONE, 1, "value expected");
    if (t == LUA_TUSERDATA && luaL_getmetafield(L, 1, "__type") == LUA_TSTRING)
        return 1;
    lua_pushstring(L, lua_typename(L, t));
    return 1;
}

/* xpcall for rules: the message handler runs after the failed call has
 * unwound, like pcall followed by h(err).  Lua runs a handler from inside
 * lua_error; when the error is the budget's kill, raised from the count
 * hook, hooks are still off there, so a looping handler could never be
 * stopped.  Without `debug` a rule cannot tell the difference. */
static int sandbox_xpcall(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushboolean(L, 1);
    lua_pushvalue(L, 1);
    lua_rotate(L, 3, 2);    /* f, h, true, f, args... */
    if (lua_pcall(L, n - 2, LUA_MULTRET, 0) == LUA_OK)
        return lua_gettop(L) - 2;
    lua_pushvalue(L, 2);
    lua_insert(L, -2);
    lua_pcall(L, 1, 1, 0);   /* the handler's result, or its own error */
    lua_pushboolean(L, 0);
    lua_replace(L, 3);
    return 2;
}

wd_lua_t *wd_lua_new(size_t mem_cap, long budget, char *errstr, size_t errstr_size)
{
    wd_lua_opts_t o = { mem_cap, budget, WD_LUA_ALLOW_ALL };
    return wd_lua_new_opts(&o, errstr, errstr_size);
}

/* The VM's libraries and sandbox, built inside a protected call: an
 * allocation refused here is LUA_ERRMEM for wd_lua_new, not a panic. */
static int vm_setup(lua_State *L)
{
    wd_lua_t *vm = *(wd_lua_t **)lua_getextraspace(L);
    luaL_requiref(L, "_G", luaopen_base, 1);
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
    luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
    lua_pop(L, 5);

    /* Pristine copies of what a sandbox may see, kept in the registry:
     * only what this VM's opts allow. */
    lua_newtable(L);
    lua_pushglobaltable(L);
    for (const allowed_t *a = safe_base; a->name; a++) {
        if ((a->need & vm->allow) != a->need)
            continue;
        lua_getfield(L, -1, a->name);
        lua_setfield(L, -3, a->name);
    }
    for (const allowed_t *a = libs; a->name; a++) {
        if ((a->need & vm->allow) != a->need)
            continue;
        lua_getfield(L, -1, a->name);
        lua_setfield(L, -3, a->name);
    }
    lua_pop(L, 1);
    if (vm->allow & WD_LUA_ALLOW_PCALL) {
        lua_pushcfunction(L, sandbox_xpcall);
        lua_setfield(L, -2, "xpcall");
    }
    if (vm->allow & WD_LUA_ALLOW_METATABLES) {
        lua_pushcfunction(L, sandbox_setmetatable);
        lua_setfield(L, -2, "setmetatable");
    }
    lua_pushcfunction(L, sandbox_rawset);
    lua_setfield(L, -2, "rawset");
    lua_pushcfunction(L, sandbox_type);
    lua_setfield(L, -2, "type");
    lua_getfield(L, -1, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    wd_lua_bound_libs(L, lua_gettop(L));
    vm->libs_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    /* Strings index the pristine string table, but nobody can reach it or
     * the metatable through getmetatable(""). */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);

    /* The global table itself is never a rule's _ENV; empty it of the
     * dangerous functions anyway so no code path can reach them. */
    lua_pushglobaltable(L);
    static const char *const drop[] = { "load", "loadstring", "dofile", "loadfile",
                                        "require", "collectgarbage", "print", NULL };
    for (const char *const *n = drop; *n; n++) {
        lua_pushnil(L);
        lua_setfield(L, -2, *n);
    }
    lua_pop(L, 1);
    return 0;
}

wd_lua_t *wd_lua_new_opts(const wd_lua_opts_t *opts, char *errstr, size_t errstr_size)
{
    wd_lua_t *vm = wd_calloc(1, sizeof(*vm));
    if (vm == NULL) {
        snprintf(errstr, errstr_size, "out of memory while creating the Lua VM");
        return NULL;
    }
    long budget = opts->budget;
    vm->mem_cap = opts->mem_cap;
    vm->budget = budget;
    vm->allow = opts->allow;
    vm->step = budget > 0 ? (budget / 16 > 1000 ? budget / 16 : (budget < 1000 ? budget : 1000)) : 0;
    /* The clock is read once per step: keep a step well under a millisecond. */
    if (vm->step == 0 || vm->step > WD_LUA_MAX_STEP)
        vm->step = WD_LUA_MAX_STEP;
    vm->rng = 0x9E3779B97F4A7C15ull;
    vm->L = lua_newstate(lua_alloc, vm);
    if (vm->L == NULL) {
        pool_release(&vm->pool);
        free(vm);
        snprintf(errstr, errstr_size, "out of memory while creating the Lua VM");
        return NULL;
    }
    lua_State *L = vm->L;
    *(wd_lua_t **)lua_getextraspace(L) = vm;
    lua_pushcfunction(L, vm_setup);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
        snprintf(errstr, errstr_size, "out of memory while creating the Lua VM");
        lua_close(L);
        pool_release(&vm->pool);
        free(vm);
        return NULL;
    }
    lua_gc(L, LUA_GCGEN, 0, 0);
    return vm;
}

void wd_lua_destroy(wd_lua_t *vm)
{
    if (vm == NULL)
        return;
    lua_close(vm->L);
    pool_release(&vm->pool);
    free(vm);
}

static void copy_table(lua_State *L, int src)
{
    src = lua_absindex(L, src);
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, src)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
}

void wd_lua_push_sandbox_env(wd_lua_t *vm)
{
    lua_State *L = vm->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->libs_ref);
    int libs_idx = lua_gettop(L);
    lua_newtable(L);
    for (const allowed_t *a = safe_base; a->name; a++) {
        lua_getfield(L, libs_idx, a->name);   /* nil when not allowed */
        lua_setfield(L, -2, a->name);
    }
    for (const allowed_t *a = libs; a->name; a++) {
        if (lua_getfield(L, libs_idx, a->name) != LUA_TTABLE) {
            lua_pop(L, 1);
            continue;
        }
        copy_table(L, -1);
        lua_remove(L, -2);
        lua_setfield(L, -2, a->name);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "_G");
    lua_remove(L, libs_idx);
}

int wd_lua_load_sandboxed(wd_lua_t *vm, const char *src, size_t len, const char *chunkname,
                           char *errstr, size_t errstr_size)
{
    lua_State *L = vm->L;
    int rc = luaL_loadbufferx(L, src, len, chunkname, "t");
    if (rc != LUA_OK) {
        snprintf(errstr, errstr_size, "%s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    wd_lua_push_sandbox_env(vm);
    lua_setupvalue(L, -2, 1);
    return 0;
}

int wd_lua_pcall(wd_lua_t *vm, int nargs, int nresults)
{
    lua_State *L = vm->L;
    vm->used = 0;
    vm->exec = 0;
    vm->timed_out = wd_lua_interrupted() ? KILL_SIGNAL : KILL_NONE;
    vm->mem_hit = 0;
    vm->refused = 0;
    vm->in_call = 1;
    if (vm->time_ms > 0) {
        uint64_t start = vm->start_ns ? vm->start_ns : wd_now_ns();
        vm->deadline_ns = start + (uint64_t)vm->time_ms * 1000000u;
    } else {
        vm->deadline_ns = 0;
    }
    vm->start_ns = 0;
    vm->cpu_deadline_ns = 0;
    /* The hook runs even without an instruction budget: it watches the
     * clock and the stop signal.  Interrupted: fire at once. */
    if (vm->timed_out) {
        vm->armed = 1;
        vm->first = 0;
    } else {
        /* xorshift64: deterministic for a given sequence of calls. */
        vm->rng ^= vm->rng << 13;
        vm->rng ^= vm->rng >> 7;
        vm->rng ^= vm->rng << 17;
        vm->armed = 1 + (long)(vm->rng % (uint64_t)vm->step);
        long cap = next_arm(vm);
        if (cap < vm->armed)
            vm->armed = cap;
        vm->first = 1;
    }
    lua_sethook(L, count_hook, LUA_MASKCOUNT, (int)vm->armed);
    int rc = lua_pcall(L, nargs, nresults, 0);
    lua_sethook(L, NULL, 0, 0);
    vm->in_call = 0;
    vm->deadline_ns = 0;
    if (vm->timed_out || vm->mem_hit) {
        if (rc == LUA_OK) {
            /* The rule swallowed the error and returned: its result is void. */
            lua_pop(L, nresults == LUA_MULTRET ? 0 : nresults);
            if (vm->timed_out)
                push_kill_message(L, vm);
            else
                lua_pushstring(L, "memory cap exceeded");
        } else if (vm->mem_hit && !vm->timed_out) {
            lua_pop(L, 1);
            lua_pushfstring(L, "memory cap of %d KiB exceeded", (int)(vm->mem_cap / 1024));
        }
        /* The garbage of a call killed at the cap can stay reachable from
         * dead stack slots that the next call's frame reuses before it
         * writes them: the next rule's first allocation then met a full
         * heap that even an emergency collection could not empty.  A full
         * collection here (rare: only after a kill) clears those slots. */
        if (vm->mem_hit)
            lua_gc(L, LUA_GCCOLLECT);
        return vm->timed_out ? WD_LUA_TIMEOUT : WD_LUA_OOM;
    }
    return rc == LUA_OK ? WD_LUA_OK : WD_LUA_ERROR;
}

long wd_lua_instructions(const wd_lua_t *vm) { return vm->used; }
