/* Stored Responses API responses (response_store.h): a chained hash of ids over an LRU list. */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/response_store.h"

typedef struct entry {
    struct entry *hnext;         /* same bucket */
    struct entry *newer, *older; /* LRU list */
    char *owner;                 /* NULL: the server has no keys */
    char *history, *object;
    size_t n_input;              /* history's messages before this response's own turn */
    size_t bytes;                /* what this entry counts against the budget */
    uint64_t hash;
    char id[];
} entry;

struct lx_resp_store {
    entry **buckets;
    size_t n_buckets;           /* a power of two */
    size_t count, bytes, max_bytes;
    entry *newest, *oldest;
};

static uint64_t hash_of(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

lx_resp_store *lx_resp_store_create(size_t max_bytes) {
    lx_resp_store *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->n_buckets = 64;
    st->max_bytes = max_bytes;
    if (!(st->buckets = calloc(st->n_buckets, sizeof *st->buckets))) {
        free(st);
        return NULL;
    }
    return st;
}

static void entry_free(entry *e) {
    free(e->owner);
    free(e->history);
    free(e->object);
    free(e);
}

void lx_resp_store_free(lx_resp_store *st) {
    if (!st) return;
    for (entry *e = st->newest, *next; e; e = next) {
        next = e->older;
        entry_free(e);
    }
    free(st->buckets);
    free(st);
}

static bool same_owner(const entry *e, const char *owner) {
    if (!e->owner || !owner) return !e->owner && !owner;
    return strcmp(e->owner, owner) == 0;
}

static entry **slot_of(lx_resp_store *st, const char *id, uint64_t h) {
    entry **p = &st->buckets[h & (st->n_buckets - 1)];
    while (*p && ((*p)->hash != h || strcmp((*p)->id, id) != 0)) p = &(*p)->hnext;
    return p;
}

static void lru_unlink(lx_resp_store *st, entry *e) {
    if (e->newer) e->newer->older = e->older;
    else st->newest = e->older;
    if (e->older) e->older->newer = e->newer;
    else st->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push(lx_resp_store *st, entry *e) {
    e->older = st->newest;
    e->newer = NULL;
    if (st->newest) st->newest->newer = e;
    st->newest = e;
    if (!st->oldest) st->oldest = e;
}

/* Unlinks e from its bucket and the list and frees it. */
static void drop(lx_resp_store *st, entry *e) {
    entry **p = slot_of(st, e->id, e->hash);
    if (*p == e) *p = e->hnext;
    lru_unlink(st, e);
    st->count--;
    st->bytes -= e->bytes;
    entry_free(e);
}

/* Doubles the buckets once the table is as full as it is wide (a failed grow keeps the old). */
static void grow(lx_resp_store *st) {
    if (st->count < st->n_buckets) return;
    size_t n = st->n_buckets * 2;
    entry **b = calloc(n, sizeof *b);
    if (!b) return;
    for (size_t i = 0; i < st->n_buckets; i++)
        for (entry *e = st->buckets[i], *next; e; e = next) {
            next = e->hnext;
            e->hnext = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    free(st->buckets);
    st->buckets = b;
    st->n_buckets = n;
}

bool lx_resp_store_put(lx_resp_store *st, const char *id, const char *owner, char *history, size_t n_input,
                       char *object) {
    size_t idn = strlen(id);
    size_t bytes = sizeof(entry) + idn + 1 + (owner ? strlen(owner) + 1 : 0) + (history ? strlen(history) + 1 : 0) +
                   (object ? strlen(object) + 1 : 0);
    entry *e = bytes <= st->max_bytes ? malloc(sizeof *e + idn + 1) : NULL;
    if (!e || (owner && !(e->owner = strdup(owner)))) {
        free(e);
        free(history);
        free(object);
        return false;
    }
    if (!owner) e->owner = NULL;
    memcpy(e->id, id, idn + 1);
    e->history = history;
    e->n_input = n_input;
    e->object = object;
    e->bytes = bytes;
    e->hash = hash_of(id);
    e->hnext = NULL;
    entry *old = *slot_of(st, id, e->hash);
    if (old) drop(st, old);
    while (st->oldest && st->bytes + bytes > st->max_bytes) drop(st, st->oldest);
    grow(st);
    entry **p = slot_of(st, id, e->hash); /* the end of its bucket's chain */
    *p = e;
    lru_push(st, e);
    st->count++;
    st->bytes += bytes;
    return true;
}

bool lx_resp_store_get(lx_resp_store *st, const char *id, const char *owner, const char **history, size_t *n_input,
                       const char **object) {
    entry *e = *slot_of(st, id, hash_of(id));
    if (!e || !same_owner(e, owner)) {
        if (history) *history = NULL;
        if (n_input) *n_input = 0;
        if (object) *object = NULL;
        return false;
    }
    lru_unlink(st, e);
    lru_push(st, e);
    if (history) *history = e->history;
    if (n_input) *n_input = e->n_input;
    if (object) *object = e->object;
    return true;
}

bool lx_resp_store_delete(lx_resp_store *st, const char *id, const char *owner) {
    entry *e = *slot_of(st, id, hash_of(id));
    if (!e || !same_owner(e, owner)) return false;
    drop(st, e);
    return true;
}

size_t lx_resp_store_count(const lx_resp_store *st) { return st->count; }
size_t lx_resp_store_bytes(const lx_resp_store *st) { return st->bytes; }
