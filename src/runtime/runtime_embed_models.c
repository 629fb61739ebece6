/* The public embeddings and model-list calls (llmux.h): resolution with the runtime's provider
 * overrides and timeouts, then one remote request (remote_embed_models.c); a local model embeds on
 * its engine thread (lx_model_embed). */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include <stdlib.h>
#include <string.h>

#include "core/embeddings.h"
#include "core/error.h"
#include "providers/embed_models.h"
#include "runtime/call_params.h"
#include "runtime/engine_calls.h"
#include "runtime/local_worker.h"
#include "runtime/remote.h"
#include "runtime/runtime_internal.h"


/* A local model's embeddings, computed on its engine thread (lx_model_embed). */
typedef struct local_embed {
    const llmux_embed_request *req;
    llmux_embeddings *out;
} local_embed;

static llmux_status embed_task(lx_model *m, const lx_worker_job *job, void *task_data, llmux_error_info *err) {
    local_embed *le = task_data;
    const llmux_embed_request *req = le->req;
    size_t dim = (size_t)lx_model_n_embd(m);
    if (req->dimensions > 0 && (size_t)req->dimensions != dim)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "dimensions: the local model %s gives %zu-dimensional embeddings",
                        lx_model_name(m), dim);
    float *v = malloc(req->n_inputs * dim * sizeof *v);
    if (!v) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory embedding");
    int64_t n_tokens = 0;
    llmux_embeddings *e = NULL;
    llmux_status st = lx_model_embed(m, req->inputs, req->n_inputs, job->cancel, job->deadline_ns, v, &n_tokens, err);
    if (st == LLMUX_OK) st = lx_embeddings_new(req->n_inputs, dim, "local", &e, err);
    if (st == LLMUX_OK && !lx_embeddings_set_meta(e, lx_model_name(m), "local"))
        st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory embedding");
    if (st == LLMUX_OK) {
        for (size_t i = 0; i < req->n_inputs; i++) memcpy(lx_embeddings_row(e, i), v + i * dim, dim * sizeof *v);
        e->usage.input_tokens = n_tokens;
        e->usage.total_tokens = n_tokens;
        le->out = e;
    } else {
        llmux_embeddings_free(e);
    }
    free(v);
    return st;
}

llmux_status llmux_embed(llmux_runtime *rt, const llmux_embed_request *req, const llmux_call_params *params,
                         llmux_embeddings **out, llmux_error_info *err) {
    llmux_error_info local_err;
    if (!err) err = &local_err;
    lx_error_clear(err);
    if (out) *out = NULL;
    if (!rt || !req || !out) return lx_error(err, LLMUX_E_INVALID_REQUEST, "llmux_embed: rt, req and out are required");
    const llmux_cancel *cancel;
    int64_t deadline_ns;
    if (lx_call_begin(rt, params, "llmux_embed", &cancel, &deadline_ns, err) != LLMUX_OK) return err->status;
    if (!req->model || !*req->model)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "model: missing (embeddings need PROVIDER/MODEL)");
    llmux_status st = lx_embed_check_request(req, "embed", err);
    if (st != LLMUX_OK) return st;
    size_t np = 0;
    const llmux_provider_params *pp = lx_runtime_providers(rt, &np);
    if (llmux_model_kind_of(req->model) != LLMUX_MODEL_REMOTE && lx_runtime_engine(rt))
        return lx_engine_embed(rt, req, cancel, deadline_ns, out, err); /* local.isolation: process */
    if (llmux_model_kind_of(req->model) != LLMUX_MODEL_REMOTE) {
        local_embed le = {.req = req};
        st = lx_worker_run_task(rt, req->model, NULL, cancel, deadline_ns, embed_task, &le, err);
        if (st == LLMUX_OK) *out = le.out;
        return st;
    }
    /* Heap, not stack: a target carries 4 KiB of storage, and it holds the key until wiped. */
    lx_remote_target *t = malloc(sizeof *t);
    if (!t) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory resolving %.200s", req->model);
    st = lx_remote_resolve(req->model, pp, np, t, err);
    if (st == LLMUX_OK) {
        lx_remote_settings to = lx_runtime_timeouts(rt);
        st = lx_remote_embed(t, req, cancel, deadline_ns, &to, out, err);
    }
    explicit_bzero(t, sizeof *t);
    free(t);
    return st;
}

llmux_status llmux_list_models(llmux_runtime *rt, const char *provider, const llmux_call_params *params,
                               llmux_model_list **out, llmux_error_info *err) {
    llmux_error_info local_err;
    if (!err) err = &local_err;
    lx_error_clear(err);
    if (out) *out = NULL;
    if (!rt || !out) return lx_error(err, LLMUX_E_INVALID_REQUEST, "llmux_list_models: rt and out are required");
    const llmux_cancel *cancel;
    int64_t deadline_ns;
    if (lx_call_begin(rt, params, "llmux_list_models", &cancel, &deadline_ns, err) != LLMUX_OK) return err->status;
    size_t np = 0;
    const llmux_provider_params *pp = lx_runtime_providers(rt, &np);
    lx_remote_target *t = malloc(sizeof *t);
    if (!t) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory resolving a provider");
    llmux_status st = lx_remote_resolve_provider(provider, pp, np, t, err);
    if (st == LLMUX_OK) {
        lx_remote_settings to = lx_runtime_timeouts(rt);
        st = lx_remote_list_models(t, cancel, deadline_ns, &to, out, err);
    }
    if (st == LLMUX_OK && (st = lx_runtime_catalog_discovered(rt, *out, err)) != LLMUX_OK) {
        llmux_model_list_free(*out);
        *out = NULL;
    }
    explicit_bzero(t, sizeof *t);
    free(t);
    return st;
}
