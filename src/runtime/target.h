/* One interface for the places an attempt can run: a remote provider (adapter + HTTP on the
 * runtime's loop) or a local model (its engine thread). The executor resolves a plan step's spec
 * to a target, prepares the request for the target's protocol, starts it, and releases it; it
 * never asks which kind it holds. */
#ifndef LX_TARGET_H
#define LX_TARGET_H

#include <stdint.h>

#include "core/event_sink.h"
#include "engine/engine.h"
#include "llmux.h"
#include "runtime/runtime_internal.h"

/* Where an attempt reports. done runs once per started attempt, on the producer's thread (the
 * loop thread for remote, the engine thread for local), with stats NULL for remote. */
typedef struct lx_attempt_cbs {
    lx_event_sink sink;
    void (*started)(void *user_data); /* work begins after any queue; may be NULL */
    void (*done)(void *user_data, llmux_status st, const llmux_error_info *err, const lx_gen_stats *stats);
    void *user_data;
} lx_attempt_cbs;

typedef struct lx_target lx_target;

typedef struct lx_target_ops {
    /* Resolves spec (loading a local model when needed; cancel aborts the load) into t. Errors as
     * llmux_run's refusals (unknown provider, missing key, model not found or not loadable). */
    llmux_status (*resolve)(lx_target *t, const char *spec, const llmux_cancel *cancel, llmux_error_info *err);
    /* Starts one attempt; req only needs to live until this returns for remote, until done for
     * local. On failure nothing was emitted and done never runs. */
    llmux_status (*start)(lx_target *t, const llmux_request *req, const llmux_cancel *cancel, int64_t deadline_ns,
                          const lx_attempt_cbs *cbs, llmux_error_info *err);
    /* Gives back what resolve holds (a local model's registry use; a remote key, wiped). Safe to
     * call twice and on a target never resolved. */
    void (*release)(lx_target *t);
} lx_target_ops;

struct lx_target {
    const lx_target_ops *ops;
    llmux_runtime *rt;
    /* Set by resolve, borrowed from the target's state (valid until release). */
    const char *model;     /* the model as the target names it ("gpt-4o", the local model's name) */
    const char *provider;  /* "openai", a configured name, or "local" */
    const char *protocol;  /* "openai", "anthropic", "gemini", "ollama" or "local" (for handoff) */
    /* Set before resolve by a caller on the loop thread: a local model that is not loaded and
     * ready is not loaded there; resolve then sets pending (and holds nothing), and the caller
     * resolves again (blocking) on the loader thread (model_loader.h). */
    bool nowait;
    bool pending;
    /* The kind's own state. */
    struct lx_remote_target *remote;
    lx_local_use local;
};

/* A target for spec on rt, not yet resolved: the kind follows llmux_model_kind_of. */
void lx_target_init(lx_target *t, llmux_runtime *rt, const char *spec);

#endif
