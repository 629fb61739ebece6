/* Private to src/engine: the three parts of a loaded local model.
 *
 *   model    (lx_model, engine.c)    the weights, vocabulary and file identity; shared by every
 *                                    request on the model.
 *   context  (lx_context, context.c) the one llama_context with N sequence slots over one unified
 *                                    KV cache, the token record of what each slot's KV holds, and
 *                                    the batch the scheduler fills each step.
 *   sequence (lx_seq, sequence.c)    one request: prompt tokens, seeded sampler chain, response
 *                                    grammar (constrain.c), stop filter (with its UTF-8
 *                                    holdback), emitter, cancel token, deadline.
 *
 * All of it is used by one thread at a time (the model's engine thread). */
#ifndef LX_ENGINE_INTERNAL_H
#define LX_ENGINE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "constrain.h"
#include "core/emitter.h"
#include "engine.h"
#include "llama.h"
#include "prompt.h"
#include "prompt_cache.h"
#include "sched.h"
#include "stop.h"
#include "tools.h"

/* Caps: prompts and rendered templates are bounded so a request cannot allocate without limit. */
#define LX_PROMPT_MAX_BYTES (64u * 1024u * 1024u)

/* What identifies the file a model was loaded from: `cp new.gguf m.gguf` truncates and rewrites
 * the same inode, so size and times matter as much as the inode (ctime too: `cp -p` can carry
 * an old mtime over, nothing can set the ctime back). */
typedef struct file_id {
    dev_t dev;
    ino_t ino;
    off_t size;
    int64_t mtime_ns;
    int64_t ctime_ns;
} file_id;

/* One sequence slot: llama.cpp sequence id = its index in lx_context.slots. */
typedef struct lx_slot {
    int32_t *cache;      /* tokens whose KV this sequence id holds, positions 0..n_cache-1 */
    int32_t n_cache;
    uint64_t last_used;  /* context clock when it was last given to a request (LRU) */
    lx_seq *seq;         /* the request occupying it, NULL when free (its KV stays as a cache) */
} lx_slot;

typedef struct lx_context {
    struct llama_context *ctx;
    int32_t n_ctx;       /* most tokens one sequence may hold (the context asked for) */
    int32_t n_cells;     /* KV cells shared by all slots (unified KV; >= n_ctx) */
    int32_t n_batch;     /* most tokens per llama_decode: the step budget while all prefill */
    int32_t n_ubatch;    /* llama.cpp's micro-batch: the step budget while a sequence generates */
    int32_t n_slots;
    lx_slot *slots;
    int32_t n_active;    /* slots with a sequence */
    uint64_t clock;      /* admission counter: slot LRU and prefill order */
    struct llama_batch batch;
    lx_pcache pc;        /* prefixes evicted from free slots, in host RAM */
} lx_context;

struct lx_model {
    /* set once at creation */
    char *path;
    char *name;
    lx_model_params params;         /* params.path points at path; cancel is cleared */
    /* the loaded state; all NULL/0 while unloaded (a reload failed) */
    struct llama_model *model;
    const struct llama_vocab *vocab;
    lx_vocab_info vi;
    file_id file;
    int32_t n_ctx;                  /* usable context per sequence, tokens (the context requested) */
    lx_context *cx;                 /* NULL when vocab-only */
};

/* Sequence lifecycle as the context sees it. */
typedef enum lx_seq_phase {
    LX_SEQ_PREFILL,   /* prompt tokens still to decode (n_past < n_prompt) */
    LX_SEQ_DECODE,    /* a sampled token waits to be decoded */
    LX_SEQ_DONE,      /* ended: terminal event delivered, slot released */
} lx_seq_phase;

struct lx_seq {
    lx_model *m;
    void *user_data;
    int32_t slot;                 /* index in cx->slots, -1 once released */
    uint64_t admitted;            /* cx->clock at admission: prefill order */
    lx_seq_phase phase;
    int32_t *prompt;              /* the prompt's tokens */
    int32_t n_prompt;
    int32_t n_past;               /* prompt tokens whose KV is in the slot */
    int32_t pending;              /* LX_SEQ_DECODE: the token to decode next */
    int32_t logits_at;            /* index in this step's batch of the logits to sample, -1 none */
    int32_t max_new;
    struct llama_sampler *smpl;
    lx_constraint cons;           /* response_format's or the tools' grammar (constrain.h) */
    lx_tools *tools;              /* the request's tools (tools.h), NULL without */
    lx_stop_filter stop;
    size_t n_req_stops;       /* the first stop sequences of `stop` are the request's (then the template's) */
    lx_emitter em;
    const llmux_cancel *cancel;
    int64_t deadline_ns;
    bool sink_stopped;            /* the sink returned false */
    char *long_piece;             /* token pieces longer than the stack buffer */
    size_t long_cap;
    int64_t t_admit_ns, t_prompt_done_ns;
    lx_gen_stats stats;
    llmux_status st;              /* outcome, once DONE */
    llmux_error_info err;
};

/* context.c */
/* Takes ctx on success; on failure (OUT_OF_MEMORY) the caller still owns it. */
llmux_status lx_context_init(lx_context *cx, struct llama_context *ctx, int32_t n_ctx, int32_t n_slots,
                             size_t prompt_cache_bytes);
void lx_context_free(lx_context *cx);
/* Gives s a free slot: the one whose KV shares the longest prefix with s's prompt (ties and no
 * sharing: the least recently used), or, when an entry of the host prompt cache shares a longer
 * one, the least recently used free slot with that entry restored into it; trims the slot's KV
 * to the shared prefix (saving a long divergent tail to the host cache first) and sets s->n_past
 * and stats.n_reused. False when every slot is taken. */
bool lx_context_admit(lx_context *cx, lx_seq *s);
/* Releases s's slot (its KV stays, as a prefix cache for later requests). */
void lx_context_release(lx_context *cx, lx_seq *s);
/* Writes what the free slots and the host prompt cache hold to the cache directory, when there
 * is one (the model is being unloaded; no sequence runs). */
void lx_context_persist(lx_context *cx);

/* sequence.c */
bool lx_seq_should_stop(lx_seq *s);
/* Samples s's next token from the logits at s->logits_at (after the prompt or a decoded token):
 * emits its text, or ends the sequence (stop, length, cancel, deadline, end of generation). */
void lx_seq_after_logits(lx_context *cx, lx_seq *s);
/* Ends s: flushes held-back text unless cancelled or failed, emits USAGE and the terminal event,
 * frees its per-request state and releases its slot. st/reason: its outcome. */
void lx_seq_end(lx_context *cx, lx_seq *s, llmux_status st, llmux_finish_reason reason);

/* engine.c */
/* tools: the request's (lx_tools_new), NULL without. */
llmux_status lx_model_tokenize_prompt(const lx_model *m, const llmux_request *req, lx_tools *tools, int32_t *tokens,
                                      int32_t cap, int32_t *n_out, llmux_error_info *err);
llmux_status lx_model_ensure_current(lx_model *m, const llmux_cancel *cancel, llmux_error_info *err);

#endif
