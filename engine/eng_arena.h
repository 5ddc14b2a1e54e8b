/* engine/eng_arena.h — a bump allocator for per-event data (hit strings,
 * ids): allocations live until eng_arena_reset(); chunks are kept and reused,
 * so steady state allocates nothing. */
#ifndef WARDEN_ENG_ARENA_H
#define WARDEN_ENG_ARENA_H

#include <stddef.h>

typedef struct eng_arena eng_arena_t;

eng_arena_t *eng_arena_new(void);
void eng_arena_destroy(eng_arena_t *a);
/* Never returns NULL (aborts when memory is exhausted). */
void *eng_arena_alloc(eng_arena_t *a, size_t n);
/* Copies s[0..n) and a NUL. */
char *eng_arena_strndup(eng_arena_t *a, const char *s, size_t n);
void eng_arena_reset(eng_arena_t *a);

#endif
