/* Host-RAM cache of evicted prompt prefixes; see prompt_cache.h. */
#include "prompt_cache.h"

#include "prompt_disk.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void lx_pcache_init(lx_pcache *c, size_t budget_bytes) {
    memset(c, 0, sizeof *c);
    c->budget = budget_bytes;
}

void lx_pcache_entry_free(lx_pcache_entry *e) {
    free(e->tokens);
    free(e->state);
    memset(e, 0, sizeof *e);
}

void lx_pcache_free(lx_pcache *c) {
    lx_pdisk_close(c->disk);
    for (size_t i = 0; i < c->n; i++) lx_pcache_entry_free(&c->e[i]);
    free(c->e);
    memset(c, 0, sizeof *c);
}

static size_t entry_bytes(const lx_pcache_entry *e) { return e->size + sizeof(int32_t) * (size_t)e->n; }

lx_pcache_entry lx_pcache_take(lx_pcache *c, size_t i) {
    lx_pcache_entry e = c->e[i];
    c->bytes -= entry_bytes(&e);
    c->e[i] = c->e[--c->n];
    return e;
}

static void drop(lx_pcache *c, size_t i) {
    lx_pcache_entry e = lx_pcache_take(c, i);
    lx_pcache_entry_free(&e);
}

/* Drops entry i to make room, keeping it in the directory when there is one. */
static void evict(lx_pcache *c, size_t i) {
    if (c->disk) lx_pdisk_save(c->disk, c->e[i].tokens, c->e[i].n, c->e[i].state, c->e[i].size);
    drop(c, i);
}

void lx_pcache_save_to_disk(lx_pcache *c, struct llama_context *ctx, int32_t seq, const int32_t *tokens, int32_t n) {
    if (!c->disk || n < LX_PCACHE_MIN_TOKENS || lx_pdisk_holds(c->disk, tokens, n)) return;
    size_t size = llama_state_seq_get_size(ctx, seq);
    uint8_t *state = size ? malloc(size) : NULL;
    if (state && (size = llama_state_seq_get_data(ctx, state, size, seq)) > 0) lx_pdisk_save(c->disk, tokens, n, state, size);
    free(state);
}

void lx_pcache_persist(lx_pcache *c) {
    if (!c->disk) return;
    for (size_t i = 0; i < c->n; i++) lx_pdisk_save(c->disk, c->e[i].tokens, c->e[i].n, c->e[i].state, c->e[i].size);
}

/* Whether a[0..na) is a prefix of b[0..nb). */
static bool is_prefix(const int32_t *a, int32_t na, const int32_t *b, int32_t nb) {
    return na <= nb && memcmp(a, b, sizeof(int32_t) * (size_t)na) == 0;
}

void lx_pcache_save(lx_pcache *c, struct llama_context *ctx, int32_t seq, const int32_t *tokens, int32_t n) {
    if ((c->budget == 0 && !c->disk) || n < LX_PCACHE_MIN_TOKENS) return;
    for (size_t i = 0; i < c->n; i++)
        if (is_prefix(tokens, n, c->e[i].tokens, c->e[i].n)) {
            c->e[i].used = ++c->clock; /* already held, whole */
            return;
        }
    size_t size = llama_state_seq_get_size(ctx, seq);
    if (size == 0) return;
    if (size + sizeof(int32_t) * (size_t)n > c->budget) {
        lx_pcache_save_to_disk(c, ctx, seq, tokens, n); /* host RAM cannot hold it */
        return;
    }
    lx_pcache_entry e = {0};
    e.tokens = malloc(sizeof(int32_t) * (size_t)n);
    e.state = malloc(size);
    if (!e.tokens || !e.state) goto fail;
    e.size = llama_state_seq_get_data(ctx, e.state, size, seq);
    if (e.size == 0) goto fail;
    memcpy(e.tokens, tokens, sizeof(int32_t) * (size_t)n);
    e.n = n;
    e.used = ++c->clock;
    /* Entries this one extends are redundant. */
    for (size_t i = 0; i < c->n;)
        if (is_prefix(c->e[i].tokens, c->e[i].n, tokens, n)) drop(c, i);
        else i++;
    while (c->n > 0 && c->bytes + entry_bytes(&e) > c->budget) {
        size_t lru = 0;
        for (size_t i = 1; i < c->n; i++)
            if (c->e[i].used < c->e[lru].used) lru = i;
        evict(c, lru);
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        lx_pcache_entry *grown = realloc(c->e, cap * sizeof *grown);
        if (!grown) goto fail;
        c->e = grown;
        c->cap = cap;
    }
    c->e[c->n++] = e;
    c->bytes += entry_bytes(&e);
    c->saves++;
    return;
fail:
    lx_pcache_entry_free(&e);
}

int64_t lx_pcache_find(const lx_pcache *c, const int32_t *prompt, int32_t limit, int32_t *common) {
    int64_t best = -1;
    int32_t best_k = 0;
    for (size_t i = 0; i < c->n; i++) {
        const lx_pcache_entry *e = &c->e[i];
        int32_t m = e->n < limit ? e->n : limit, k = 0;
        while (k < m && e->tokens[k] == prompt[k]) k++;
        if (k > best_k) {
            best_k = k;
            best = (int64_t)i;
        }
    }
    if (best_k < LX_PCACHE_MIN_TOKENS) return -1;
    *common = best_k;
    return best;
}
