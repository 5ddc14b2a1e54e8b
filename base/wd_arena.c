#include "base/wd_arena.h"

#include "base/wd_alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct chunk {
    struct chunk *next;
    size_t        size;
    size_t        used;
    char          data[];
} chunk_t;

struct wd_arena {
    chunk_t *head;   /* current chunk; earlier ones follow */
    chunk_t *spare;  /* chunks freed by reset, reused first */
};

wd_arena_t *wd_arena_new(void)
{
    return wd_calloc(1, sizeof(struct wd_arena));
}

static void free_list(chunk_t *c)
{
    while (c) {
        chunk_t *n = c->next;
        free(c);
        c = n;
    }
}

void wd_arena_destroy(wd_arena_t *a)
{
    if (a == NULL)
        return;
    free_list(a->head);
    free_list(a->spare);
    free(a);
}

void *wd_arena_alloc(wd_arena_t *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    chunk_t *c = a->head;
    if (c == NULL || c->size - c->used < n) {
        chunk_t **pp = &a->spare;
        while (*pp && (*pp)->size < n)
            pp = &(*pp)->next;
        if (*pp) {
            c = *pp;
            *pp = c->next;
        } else {
            size_t size = n > 65536 ? n : 65536;
            c = n > SIZE_MAX - sizeof(chunk_t) ? NULL : wd_malloc(sizeof(chunk_t) + size);
            if (c == NULL)
                return NULL;
            c->size = size;
        }
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

char *wd_arena_strndup(wd_arena_t *a, const char *s, size_t n)
{
    char *d = wd_arena_alloc(a, n + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void wd_arena_reset(wd_arena_t *a)
{
    chunk_t *c = a->head;
    while (c) {
        chunk_t *n = c->next;
        /* Huge one-off chunks (a 1 MB reason) are not kept. */
        if (c->size > (1u << 20)) {
            free(c);
        } else {
            c->next = a->spare;
            a->spare = c;
        }
        c = n;
    }
    a->head = NULL;
}
