/* Bump allocator for objects that live and die together (a decoded request, a response).
 * Not thread-safe; one owner. */
#ifndef LX_ARENA_H
#define LX_ARENA_H

#include <stddef.h>

typedef struct lx_arena_block lx_arena_block;

typedef struct lx_arena {
    lx_arena_block *head;  /* newest block first */
    size_t used_bytes;     /* total bytes handed out, for caps */
} lx_arena;

void lx_arena_init(lx_arena *a);
/* Frees every block. The arena can be reused after lx_arena_init(). */
void lx_arena_release(lx_arena *a);
/* Zeroed memory aligned for any type; NULL when out of memory. */
void *lx_arena_alloc(lx_arena *a, size_t size);
/* Copies; NULL in gives NULL out (and NULL when out of memory: check src != NULL first). */
char *lx_arena_strdup(lx_arena *a, const char *s);
/* Copies n bytes and appends a NUL. */
char *lx_arena_strndup(lx_arena *a, const char *s, size_t n);
void *lx_arena_memdup(lx_arena *a, const void *p, size_t n);

#endif
