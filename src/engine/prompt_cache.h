/* Host-RAM cache of evicted prompt prefixes: when a free slot's KV is about to be dropped (its
 * slot goes to another conversation, or its cells are needed), the sequence's state is copied
 * out (llama_state_seq_get_data) with its tokens; a later prompt that shares a longer prefix with
 * a saved entry than with any slot gets it copied back (llama_state_seq_set_data) instead of
 * decoding it again. Least recently used entries go first when the byte budget is exceeded.
 *
 * With a cache directory (disk, prompt_disk.h) the host cache has a second tier below it: an
 * entry pushed out of host RAM by the budget is written to a file, a prefix the host cache cannot
 * hold (no host budget, or larger than it) goes to a file directly, and lx_pcache_persist writes
 * whatever the host cache holds when the model is unloaded.
 * Private to src/engine; used by the engine thread only. */
#ifndef LX_ENGINE_PROMPT_CACHE_H
#define LX_ENGINE_PROMPT_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "llama.h"

/* Prefixes shorter than this are cheaper to decode again than to keep. */
#define LX_PCACHE_MIN_TOKENS 16

typedef struct lx_pcache_entry {
    int32_t *tokens;
    int32_t n;
    uint8_t *state;     /* llama_state_seq_get_data's bytes */
    size_t size;
    uint64_t used;      /* LRU clock */
} lx_pcache_entry;

typedef struct lx_pcache {
    lx_pcache_entry *e;
    size_t n, cap;
    size_t bytes;       /* state and tokens held */
    size_t budget;      /* 0 = the cache is off */
    uint64_t clock;
    uint64_t saves, restores, restored_tokens; /* counters, for tests and metrics */
    struct lx_pdisk *disk; /* the cache directory's index; NULL = none; owned (lx_pcache_free) */
} lx_pcache;

void lx_pcache_init(lx_pcache *c, size_t budget_bytes);
void lx_pcache_free(lx_pcache *c);

/* Copies sequence seq's KV, holding tokens[0..n), into the cache, unless n is below
 * LX_PCACHE_MIN_TOKENS or a saved entry already holds these tokens as its prefix (entries that
 * are a prefix of these are replaced). A state over the host budget goes to the directory (when
 * there is one) instead; so do entries the host budget pushes out. */
void lx_pcache_save(lx_pcache *c, struct llama_context *ctx, int32_t seq, const int32_t *tokens, int32_t n);

/* Writes sequence seq's KV, holding tokens[0..n), to the directory (not to host RAM), unless
 * there is none or it holds these tokens already. */
void lx_pcache_save_to_disk(lx_pcache *c, struct llama_context *ctx, int32_t seq, const int32_t *tokens, int32_t n);

/* Writes every host entry to the directory (the model is being unloaded). */
void lx_pcache_persist(lx_pcache *c);

/* The entry sharing the longest prefix with prompt[0..limit), -1 when none shares at least
 * LX_PCACHE_MIN_TOKENS; the shared length in *common. */
int64_t lx_pcache_find(const lx_pcache *c, const int32_t *prompt, int32_t limit, int32_t *common);

/* Takes entry i out of the cache (the caller owns it: lx_pcache_entry_free). */
lx_pcache_entry lx_pcache_take(lx_pcache *c, size_t i);
void lx_pcache_entry_free(lx_pcache_entry *e);

#endif
