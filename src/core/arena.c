#include "arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct lx_arena_block {
    lx_arena_block *next;
    size_t cap;
    size_t used;
    alignas(max_align_t) unsigned char data[];
};

/* Blocks grow from LX_ARENA_FIRST to LX_ARENA_BLOCK bytes, doubling: a small object (a decoded
 * request of a few hundred bytes, held by every execution in flight) costs a small block, a large
 * one still takes a logarithmic number of blocks. */
enum { LX_ARENA_FIRST = 512, LX_ARENA_BLOCK = 16 * 1024 };

void lx_arena_init(lx_arena *a) {
    a->head = NULL;
    a->used_bytes = 0;
}

void lx_arena_release(lx_arena *a) {
    lx_arena_block *b = a->head;
    while (b) {
        lx_arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->used_bytes = 0;
}

void *lx_arena_alloc(lx_arena *a, size_t size) {
    const size_t align = alignof(max_align_t);
    if (size == 0) size = 1;
    if (size > SIZE_MAX - align) return NULL;
    size_t need = (size + align - 1) & ~(align - 1);
    lx_arena_block *b = a->head;
    if (!b || b->cap - b->used < need) {
        size_t grow = b ? (b->cap < LX_ARENA_BLOCK / 2 ? b->cap * 2 : LX_ARENA_BLOCK) : LX_ARENA_FIRST;
        size_t cap = need > grow ? need : grow;
        if (cap > SIZE_MAX - sizeof(lx_arena_block)) return NULL;
        lx_arena_block *nb = malloc(sizeof(lx_arena_block) + cap);
        if (!nb) return NULL;
        nb->cap = cap;
        nb->used = 0;
        /* A big one-off allocation goes behind the current block so the space left in the
         * current block is not wasted. */
        if (b && need > LX_ARENA_BLOCK) {
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            a->head = nb;
        }
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->used_bytes += need;
    memset(p, 0, size);
    return p;
}

void *lx_arena_memdup(lx_arena *a, const void *p, size_t n) {
    void *q = lx_arena_alloc(a, n);
    if (q && n) memcpy(q, p, n);
    return q;
}

char *lx_arena_strndup(lx_arena *a, const char *s, size_t n) {
    if (!s) return NULL;
    if (n == SIZE_MAX) return NULL;
    char *q = lx_arena_alloc(a, n + 1);
    if (!q) return NULL;
    memcpy(q, s, n);
    q[n] = '\0';
    return q;
}

char *lx_arena_strdup(lx_arena *a, const char *s) {
    return s ? lx_arena_strndup(a, s, strlen(s)) : NULL;
}
