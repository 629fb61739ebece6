/* The continuous-batching scheduler of one loaded local model.
 *
 * A model's context has N sequence slots over one unified KV cache. A request becomes a
 * sequence (lx_seq_start) when a slot is free; then each lx_model_step builds ONE llama_batch
 * from every active sequence: one token for each sequence that is generating, then prompt chunks
 * of sequences still in prefill (oldest first) up to the per-step token budget (the context's
 * n_batch, 512) — so a long prompt is processed a chunk per step while the others keep
 * receiving a token per step. After the decode each sequence samples from its own logits
 * (llama_get_logits_ith), emits, and those that ended are returned to the caller.
 *
 * Slot choice: the free slot whose KV shares the longest token prefix with the new prompt; the
 * divergent tail is removed (llama_memory_seq_rm) and only the rest of the prompt is decoded.
 * A shared prefix of one token (the BOS every prompt starts with) is not counted as reuse:
 * usage.cached_input_tokens is 0 for a cold prompt. A free slot keeps its KV as a cache until a
 * request needs the slot or the KV cells (least recently used first); with a host prompt cache
 * (lx_model_params.prompt_cache_mb, prompt_cache.h) what it held is copied to host RAM first,
 * and while requests run, free slots' caches beyond the running sequences' own cells go there
 * too (in a unified KV every running sequence's attention spans all cells). A prompt that shares
 * a longer prefix with a host entry than with any slot gets the entry restored into a slot.
 *
 * KV cells are shared: when a step needs more cells than are free after dropping every free
 * slot's cache, prompt chunks wait, and a generating sequence with no cell left ends with
 * FINISH(length).
 *
 * Not thread-safe: everything here runs on the model's one engine thread (local_worker.c),
 * which also owns every lx_model_generate call. */
#ifndef LX_ENGINE_SCHED_H
#define LX_ENGINE_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "core/event_sink.h"
#include "engine.h"
#include "llmux.h"

typedef struct lx_seq lx_seq;

/* The model's sequence slots, and how many hold a running request. */
int32_t lx_model_n_slots(const lx_model *m);
int32_t lx_model_n_active(const lx_model *m);

/* Bytes the host prompt cache holds (engine thread). */
size_t lx_model_prompt_cache_bytes(const lx_model *m);
/* Estimated bytes of the model's KV cache, every slot's cells: 2 (K and V) x cells x layers x
 * the KV width (n_embd x n_head_kv / n_head) x 2 bytes (f16); 0 when vocab-only or unloaded.
 * For the registry's memory budget; engine thread, or before the first request. */
int64_t lx_model_kv_bytes(const lx_model *m);

/* Whether the file on disk is no longer the one loaded (or the model is unloaded after a failed
 * reload). The scheduler stops admitting until the active sequences ended, then the next
 * lx_seq_start reloads it. */
bool lx_model_needs_reload(const lx_model *m);

/* Starts a request in a free slot: reloads a changed model when nothing is active, tokenizes,
 * builds the sampler, chooses the slot (see above) and emits START. The request and everything
 * it points at, cancel and sink are borrowed until the sequence ended (returned by
 * lx_model_step). Errors (nothing emitted, *out NULL): those of lx_model_generate before START,
 * LLMUX_E_OVERLOADED when no slot is free. */
llmux_status lx_seq_start(lx_model *m, const llmux_request *req, const llmux_cancel *cancel, int64_t deadline_ns,
                          lx_event_sink sink, void *user_data, lx_seq **out, llmux_error_info *err);

/* One scheduler step (one llama_decode over all active sequences). Writes the sequences that
 * ended during it to done[0..return) (cap >= lx_model_n_slots); the caller reads them and frees
 * them. Does nothing without active sequences. */
int32_t lx_model_step(lx_model *m, lx_seq **done, int32_t cap);

/* Ends every active sequence with FINISH(CANCELLED) (the model is being unloaded); writes them
 * to done like lx_model_step. */
int32_t lx_model_cancel_all(lx_model *m, lx_seq **done, int32_t cap);

/* An ended sequence's outcome: its status (LLMUX_OK, LLMUX_E_CANCELLED, or the error of its
 * ERROR event, err filled), generation figures, and the user_data given to lx_seq_start. */
llmux_status lx_seq_outcome(const lx_seq *s, lx_gen_stats *stats, llmux_error_info *err);
void *lx_seq_user_data(const lx_seq *s);
/* Frees an ended sequence. Accepts NULL. */
void lx_seq_free(lx_seq *s);

#endif
