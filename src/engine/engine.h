/* The local engine: one GGUF model loaded through llama.cpp, generating canonical events.
 *
 * Lifecycle: lx_model_load() -> requests -> lx_model_free(). Requests run either one at a time
 * through lx_model_generate(), or many at once through the continuous-batching scheduler
 * (sched.h), always on one thread at a time (the runtime's engine thread of the model). The
 * model owns one llama_context with N sequence slots (engine_internal.h: model, context,
 * sequence) whose KV keeps earlier requests' tokens, so a request whose prompt shares a prefix
 * with an earlier one only processes the new suffix.
 *
 * Untrusted files: the GGUF metadata llama.cpp would abort on is checked before llama.cpp sees
 * the file (gguf_check.h). Files below mmap_min_bytes are read into memory, so the model never
 * faults on a file rewritten underneath it; larger ones are memory-mapped, and every generation
 * first compares the file's identity (device, inode, size, mtime) with the one loaded and
 * reloads the model when the file changed. */
#ifndef LX_ENGINE_H
#define LX_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event_sink.h"
#include "llmux.h"

typedef struct lx_model lx_model;

typedef struct lx_model_params {
    const char *path;            /* a GGUF file; the caller has checked it is allowed */
    int32_t n_threads;           /* 0 = number of online cores */
    int32_t n_ctx;               /* 0 = training context, capped at 4096; the usable context is
                                    exactly this many tokens */
    bool vocab_only;             /* load the tokenizer only (no context, no generation) */
    llmux_progress_cb progress;  /* NULL = none; also called when a changed file is reloaded */
    void *progress_user_data;
    const llmux_cancel *cancel;  /* NULL = none; borrowed for the duration of lx_model_load: a
                                    trigger aborts the load (LLMUX_E_CANCELLED) */
    int64_t mmap_min_bytes;      /* files at least this large are memory-mapped, smaller ones
                                    read into memory; 0 = 64 MiB */
    int32_t n_slots;             /* concurrent sequences; 0 = lx_model_slots_for(n_ctx, 0);
                                    at most LX_MAX_SLOTS and the batch size (512) */
    int32_t prompt_cache_mb;     /* host RAM for prefixes evicted from free slots (sched.h);
                                    0 = none */
    const char *prompt_cache_dir;  /* an existing directory where prompt prefixes are saved as
                                    files and restored from, across runs (prompt_disk.h); NULL =
                                    none. Borrowed: it must outlive the model */
    int64_t prompt_cache_dir_mb; /* bytes of all cache files in that directory; 0 = 1024 */
    void (*warn)(void *user_data, const char *msg); /* a cache file ignored, a write refused;
                                    NULL = silent; called on the engine thread */
    void *warn_user_data;
    bool kv_per_slot;            /* each slot gets its own KV stream of n_ctx cells (llama.cpp
                                    kv_unified = false) instead of one pool shared by all, and
                                    plain attention instead of flash attention: a sequence's
                                    numerics no longer depend on what else runs or ran (seeded
                                    sampling batched = alone on the bundled model), at n_slots
                                    times the KV memory */
} lx_model_params;

#define LX_MAX_SLOTS 64

/* The slot count for a context of n_ctx tokens: asked when > 0 (capped at LX_MAX_SLOTS), else
 * one slot per 512 tokens of context, from 1 to 8 (4096, the default context, gives 8). */
int32_t lx_model_slots_for(int32_t n_ctx, int32_t asked);

lx_model_params lx_model_default_params(void);

/* Loads a model. Errors: MODEL_NOT_FOUND (missing file), PERMISSION (unreadable), CONFIGURATION
 * (not a regular file, not GGUF, truncated, metadata llama.cpp cannot run, unsupported: the
 * message names the key or quotes llama.cpp's reason), CANCELLED (p->cancel triggered; returns
 * promptly even while llama.cpp is still allocating the context, which then finishes and frees
 * itself in the background, see lx_engine_wait_background), OUT_OF_MEMORY. */
llmux_status lx_model_load(const lx_model_params *p, lx_model **out, llmux_error_info *err);
/* Accepts NULL. */
void lx_model_free(lx_model *m);

/* Waits until every context creation left behind by a cancelled load has finished and freed its
 * memory. For tests and orderly shutdown; never needed for correctness. */
void lx_engine_wait_background(void);

/* Display name: the file name without ".gguf". Owned by the model. */
const char *lx_model_name(const lx_model *m);
/* Context size of the model's context (0 for vocab-only). */
int32_t lx_model_n_ctx(const lx_model *m);
/* The llama.cpp vocabulary (for tokenizer tests). */
const struct llama_vocab *lx_model_vocab(const lx_model *m);

/* Tokenizes text. Returns the count, or the negative of the count needed when n_max is too small
 * (like llama_tokenize). */
int32_t lx_model_tokenize(const lx_model *m, const char *text, size_t len, bool add_special, bool parse_special,
                          int32_t *tokens, int32_t n_max);

/* A token's text as generation emits it (llama_token_to_piece, special tokens not rendered).
 * Written to buf when it fits buf_size bytes, else to *heap, grown to the size llama.cpp asks
 * for (the caller keeps *heap / *heap_cap across calls and frees *heap). *out points at the bytes
 * (not NUL-terminated). Returns the length, or -1 when out of memory or llama.cpp refuses the
 * token (*out is then NULL). */
int32_t lx_model_token_piece(const lx_model *m, int32_t token, char *buf, size_t buf_size, char **heap,
                             size_t *heap_cap, const char **out);

/* Renders a request into the prompt text: the model's chat template when it has one, else plain
 * completion (system and message texts joined by blank lines). *used_template tells which.
 * Returns false with err set on an unsupported part (images) or out of memory. The caller frees
 * *prompt with free(). */
bool lx_model_render_prompt(const lx_model *m, const llmux_request *req, char **prompt, bool *used_template,
                            llmux_error_info *err);

/* Renders and tokenizes a request exactly as lx_model_generate does: template markup may yield
 * special tokens, message content (system, user, assistant, tool) never does: it is tokenized
 * as plain text. Writes at most cap tokens and their count to *n_out. A prompt that cannot fit
 * is refused from its length before it is tokenized whole. Errors: CONTEXT_LENGTH (more than cap
 * tokens), INVALID_REQUEST (empty, images, over the size cap), OUT_OF_MEMORY. */
llmux_status lx_model_tokenize_request(const lx_model *m, const llmux_request *req, int32_t *tokens, int32_t cap,
                                       int32_t *n_out, llmux_error_info *err);

/* Floats in one embedding of this model (its output width); 0 while unloaded. */
int32_t lx_model_n_embd(const lx_model *m);

/* Whether the model has no KV cache (an encoder such as BERT: bidirectional attention): it
 * embeds, it cannot generate (lx_seq_start refuses it with INVALID_REQUEST). */
bool lx_model_is_embedding_only(const lx_model *m);

/* Embeds n texts into out (n * lx_model_n_embd floats, caller-allocated): each text tokenized as a
 * prompt (BOS as the model wants it, special-token text kept as text), run through the model,
 * pooled as the model's metadata says (llama_pooling_type: mean, CLS or last token, computed by
 * llama.cpp over the whole text in one batch), or, for a model without pooling (a generative
 * model), its last hidden states mean-pooled (llama-server's --pooling mean); then L2-normalized.
 * Uses the generation context: call it on the engine thread only; the slot it borrows loses its
 * cached prefix. *n_tokens: tokens of all texts. Errors: CONTEXT_LENGTH (a text longer than the
 * context, or for a pooling model than one batch, naming its index), INVALID_REQUEST (a text
 * without tokens, a vocabulary-only model, a reranking model), CANCELLED, TIMEOUT (deadline_ns,
 * monotonic, 0 = none), OUT_OF_MEMORY, INTERNAL (llama_decode failed). */
llmux_status lx_model_embed(lx_model *m, const char *const *texts, size_t n, const llmux_cancel *cancel,
                            int64_t deadline_ns, float *out, int64_t *n_tokens, llmux_error_info *err);

/* What one generation did, for usage, timing and warnings. */
typedef struct lx_gen_stats {
    int32_t n_prompt;         /* prompt tokens */
    int32_t n_reused;         /* prompt tokens whose KV came from an earlier request (a slot's KV or
                                 the host prompt cache); 0 for a cold prompt */
    int32_t n_generated;      /* sampled tokens (stop tokens included) */
    int64_t t_prompt_ns;      /* prompt processing time */
    int64_t t_gen_ns;         /* generation time after the first token */
    const char *warning;      /* static text when something in the request was ignored, else NULL */
    const char *warning_code;
} lx_gen_stats;

/* Runs one request: emits START, TEXT_DELTA..., USAGE, FINISH through sink. Cancellation
 * (cancel token, deadline_ns, or the sink returning false) is checked before every decode step
 * and inside llama_decode; it ends the stream with FINISH(CANCELLED) (deadline: ERROR timeout).
 * Errors before START (context length, bad request) return the error without emitting.
 * When the model file changed on disk since it was loaded, the model is reloaded first; when
 * that fails, or the file is gone, the error is returned before START (and the next call tries
 * again). Seeds: every seed >= 0 gives reproducible sampling (seeds >= 2^32 - 1 are hashed to
 * 32 bits); a negative seed samples randomly. deadline_ns: CLOCK_MONOTONIC instant, 0 = none. */
llmux_status lx_model_generate(lx_model *m, const llmux_request *req, const llmux_cancel *cancel, int64_t deadline_ns,
                               lx_event_sink sink, lx_gen_stats *stats, llmux_error_info *err);

#endif
