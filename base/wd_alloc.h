/* base/wd_alloc.h — the one allocation interface of base/, rules/, engine/,
 * storage/ and the Lua VMs, with a process-wide fault-injection hook for
 * tests: "fail allocation N for N = 1, 2, … until the call succeeds".
 * Memory from these functions is plain malloc memory: free() releases it
 * (wd_free is the same call), so it may be handed to libraries that free. */
#ifndef WARDEN_BASE_WD_ALLOC_H
#define WARDEN_BASE_WD_ALLOC_H

#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
/* C++ (base/wd_json.cpp) has no _Atomic: the same hook as a call, taken
 * only when a buffer grows. */
extern "C" int wd_alloc_fail_hook(void);
extern "C" void wd_alloc_fail_after(long n);
extern "C" int wd_alloc_failed(void);
static inline void *wd_malloc(size_t n) { return wd_alloc_fail_hook() ? NULL : malloc(n); }
static inline void *wd_calloc(size_t n, size_t size) { return wd_alloc_fail_hook() ? NULL : calloc(n, size); }
static inline void *wd_realloc(void *p, size_t n) { return wd_alloc_fail_hook() ? NULL : realloc(p, n); }
#else
#include <stdatomic.h>

/* Countdown to the failing allocation (0: off).  Private to wd_alloc.c and
 * the inline wrappers: use wd_alloc_fail_after(). */
extern _Atomic long wd_alloc_countdown_;
/* Slow path, taken only while the hook is armed: 1 when this allocation
 * is the one to fail. */
int wd_alloc_fail_now_(void);

/* Test hook: the n-th allocation from now on (n >= 1) returns NULL, once,
 * then all succeed again; n = 0 turns it off.  Counts every wd_ allocation
 * and every growth of a Lua VM.  Meant for unit tests (one thread): the
 * counter is atomic, so another thread's allocation may take the failure. */
void wd_alloc_fail_after(long n);
/* Has the failure armed by the last wd_alloc_fail_after() happened?  An
 * operation that returned without it made fewer than n allocations. */
int wd_alloc_failed(void);
/* Whether the growth of Lua VMs counts as allocations for the hook (on by
 * default).  Off, a test walks every C allocation of an operation in a few
 * hundred steps instead of every Lua table and string of it. */
void wd_alloc_count_lua(int on);
extern _Atomic int wd_alloc_lua_off_;

/* Hot path: one relaxed load and a predicted branch over the libc call. */
static inline int wd_alloc_fail_(void)
{
    return __builtin_expect(atomic_load_explicit(&wd_alloc_countdown_, memory_order_relaxed) != 0, 0) &&
           wd_alloc_fail_now_();
}

static inline void *wd_malloc(size_t n)
{
    return wd_alloc_fail_() ? NULL : malloc(n);
}

static inline void *wd_calloc(size_t n, size_t size)
{
    return wd_alloc_fail_() ? NULL : calloc(n, size);
}

/* On failure p is left as it was (as realloc does). */
static inline void *wd_realloc(void *p, size_t n)
{
    return wd_alloc_fail_() ? NULL : realloc(p, n);
}

static inline char *wd_strdup(const char *s)
{
    return wd_alloc_fail_() ? NULL : strdup(s);
}

/* The n bytes at s (NUL bytes included: s must hold n bytes) and a NUL,
 * as wd_arena_strndup: for the length-counted strings (entities, JSON
 * strings read with JSON_ALLOW_NUL) that strndup() would cut short. */
static inline char *wd_strndup(const char *s, size_t n)
{
    char *d = wd_malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static inline void wd_free(void *p)
{
    free(p);
}

/* The test for a Lua VM's growth (base/wd_lua.c). */
static inline int wd_alloc_fail_lua_(void)
{
    return __builtin_expect(atomic_load_explicit(&wd_alloc_countdown_, memory_order_relaxed) != 0, 0) &&
           !atomic_load(&wd_alloc_lua_off_) && wd_alloc_fail_now_();
}

/* The inline test above as a function (for C++ and tests). */
int wd_alloc_fail_hook(void);
#endif

#endif
