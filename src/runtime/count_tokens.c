/* llmux_count_tokens (llmux.h): a local model's prompt tokenized on its engine thread
 * (lx_worker_run_task), exactly as a generation tokenizes it, without generating; a remote model's
 * counted by its provider's endpoint (Anthropic, Gemini). */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "runtime/call_params.h"
#include "runtime/engine_calls.h"
#include "runtime/local_worker.h"
#include "runtime/remote.h"
#include "runtime/runtime_internal.h"

static llmux_status count(lx_model *m, const lx_worker_job *job, void *task_data, llmux_error_info *err) {
    int32_t cap = lx_model_n_ctx(m);
    if (cap <= 0) return lx_error(err, LLMUX_E_INTERNAL, "the model has no context");
    int32_t *tokens = malloc((size_t)cap * sizeof *tokens);
    if (!tokens) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory counting tokens");
    llmux_status st = lx_model_tokenize_request(m, job->req, tokens, cap, task_data, err);
    free(tokens);
    return st;
}

/* A remote model: its provider's counting endpoint (remote.h), where it has one. */
static llmux_status count_remote(llmux_runtime *rt, const llmux_request *req, const llmux_cancel *cancel,
                                 int64_t deadline_ns, int64_t *n_tokens, llmux_error_info *err) {
    size_t np = 0;
    const llmux_provider_params *pp = lx_runtime_providers(rt, &np);
    /* Heap, not stack: a target carries 4 KiB of storage, and it holds the key until wiped. */
    lx_remote_target *t = malloc(sizeof *t);
    if (!t) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory resolving %.200s", req->model);
    llmux_status st = lx_remote_resolve(req->model, pp, np, t, err);
    if (st == LLMUX_OK) {
        lx_remote_settings to = lx_runtime_timeouts(rt);
        st = lx_remote_count_tokens(t, req, cancel, deadline_ns, &to, n_tokens, err);
    }
    explicit_bzero(t, sizeof *t);
    free(t);
    return st;
}

llmux_status llmux_count_tokens(llmux_runtime *rt, const llmux_request *req, const llmux_call_params *params,
                                int64_t *n_tokens, llmux_error_info *err) {
    llmux_error_info local_err;
    if (!err) err = &local_err;
    lx_error_clear(err);
    if (n_tokens) *n_tokens = 0;
    if (!rt || !req || !n_tokens)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "llmux_count_tokens: rt, req and n_tokens are required");
    const llmux_cancel *cancel;
    int64_t deadline_ns;
    llmux_status st = lx_call_begin(rt, params, "llmux_count_tokens", &cancel, &deadline_ns, err);
    if (st != LLMUX_OK) return st;
    if ((st = llmux_request_validate(req, err)) != LLMUX_OK) return st;
    if (!req->model || !*req->model) return lx_error(err, LLMUX_E_INVALID_REQUEST, "model: required to count tokens");
    if (lx_runtime_is_remote(rt, req->model)) return count_remote(rt, req, cancel, deadline_ns, n_tokens, err);
    if (lx_runtime_engine(rt)) return lx_engine_count_tokens(rt, req, cancel, deadline_ns, n_tokens, err);
    int32_t n = 0;
    st = lx_worker_run_task(rt, req->model, req, cancel, deadline_ns, count, &n, err);
    if (st == LLMUX_OK) *n_tokens = n;
    return st;
}
