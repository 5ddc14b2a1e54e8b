/* base/wd_arena.h — a bump allocator for per-event data (hit strings,
 * ids): allocations live until wd_arena_reset(); chunks are kept and reused,
 * so steady state allocates nothing. */
#ifndef WARDEN_BASE_WD_ARENA_H
#define WARDEN_BASE_WD_ARENA_H

#include <stddef.h>

typedef struct wd_arena wd_arena_t;

/* NULL when out of memory. */
wd_arena_t *wd_arena_new(void);
void wd_arena_destroy(wd_arena_t *a);
/* NULL when out of memory (the arena is unchanged). */
void *wd_arena_alloc(wd_arena_t *a, size_t n);
/* Copies s[0..n) and a NUL; NULL when out of memory. */
char *wd_arena_strndup(wd_arena_t *a, const char *s, size_t n);
void wd_arena_reset(wd_arena_t *a);

#endif
