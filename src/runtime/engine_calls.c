/* The non-generating local calls through the engine child (engine_calls.h). */
#define _DEFAULT_SOURCE
#include "runtime/engine_calls.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/clock.h"
#include "core/embeddings.h"
#include "core/error.h"
#include "core/ipc_call.h"
#include "runtime/engine_sup.h"
#include "runtime/runtime_internal.h"

/* What is left of a deadline, for the child (which enforces it itself); 0 = none. */
static int64_t left_ms(int64_t deadline_ns) {
    if (!deadline_ns) return 0;
    int64_t ms = (deadline_ns - lx_now_ns() + 999999) / 1000000;
    return ms < 1 ? 1 : ms;
}

/* Sends call (taken: freed) and waits. NULL call: out of memory (or text that is not UTF-8,
 * which the public calls refuse before this). */
static llmux_status call_child(llmux_runtime *rt, char *call, bool if_running, const llmux_cancel *cancel,
                               int64_t deadline_ns, json_t **result, llmux_error_info *err) {
    *result = NULL;
    if (!call) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory encoding a call to the local engine process");
    llmux_status st = lx_engine_sup_call(lx_runtime_engine(rt), call, if_running, cancel, deadline_ns, result, err);
    free(call);
    return st;
}

/* A result the child sent that does not parse: the child is untrusted, its answer is not used. */
static llmux_status malformed(llmux_error_info *err, const char *op, const char *why) {
    return lx_error(err, LLMUX_E_INTERNAL, "the local engine process sent a malformed %s result: %s", op, why);
}

llmux_status lx_engine_embed(llmux_runtime *rt, const llmux_embed_request *req, const llmux_cancel *cancel,
                             int64_t deadline_ns, llmux_embeddings **out, llmux_error_info *err) {
    lx_local_use use;
    llmux_status st = lx_runtime_local(rt, req->model, cancel, &use, err);
    if (st != LLMUX_OK) return st;
    json_t *res = NULL;
    st = call_child(rt, lx_ipc_call_embed(use.child_model, req->inputs, req->n_inputs, req->dimensions, left_ms(deadline_ns)),
                    false, cancel, deadline_ns, &res, err);
    lx_runtime_local_release(rt, &use);
    if (st != LLMUX_OK) return st;
    const char *model;
    size_t dim;
    float *data;
    int64_t tokens;
    char why[200];
    if (!lx_ipc_result_embed_parse(res, req->n_inputs, &model, &dim, &data, &tokens, why, sizeof why)) {
        json_decref(res);
        return malformed(err, "embed", why);
    }
    llmux_embeddings *e = NULL;
    st = lx_embeddings_new(req->n_inputs, dim, "local", &e, err);
    if (st == LLMUX_OK && !lx_embeddings_set_meta(e, model, "local"))
        st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory embedding");
    if (st == LLMUX_OK) {
        for (size_t i = 0; i < req->n_inputs; i++) memcpy(lx_embeddings_row(e, i), data + i * dim, dim * sizeof *data);
        e->usage.input_tokens = tokens;
        e->usage.total_tokens = tokens;
        *out = e;
    } else {
        llmux_embeddings_free(e);
    }
    free(data);
    json_decref(res);
    return st;
}

llmux_status lx_engine_count_tokens(llmux_runtime *rt, const llmux_request *req, const llmux_cancel *cancel,
                                    int64_t deadline_ns, int64_t *n_tokens, llmux_error_info *err) {
    lx_local_use use;
    llmux_status st = lx_runtime_local(rt, req->model, cancel, &use, err);
    if (st != LLMUX_OK) return st;
    llmux_request r = *req;
    r.model = use.child_model;
    char *rj = llmux_request_to_json(&r);
    json_t *res = NULL;
    st = call_child(rt, rj ? lx_ipc_call_count_tokens(rj, left_ms(deadline_ns)) : NULL, false, cancel, deadline_ns,
                    &res, err);
    llmux_free(rj);
    lx_runtime_local_release(rt, &use);
    if (st != LLMUX_OK) return st;
    char why[200];
    if (!lx_ipc_result_count_parse(res, n_tokens, why, sizeof why)) st = malformed(err, "count_tokens", why);
    json_decref(res);
    return st;
}

/* The spec the child gets for a model: a name as given (the child resolves it in the same model
 * directories, and lists the model under it as in-process), a path as the runtime resolved it
 * (the child's working directory is no concern then). */
static llmux_status child_spec(llmux_runtime *rt, const char *spec, const llmux_cancel *cancel, char *out, size_t size,
                               llmux_error_info *err) {
    lx_local_use use;
    llmux_status st = lx_runtime_local(rt, spec, cancel, &use, err);
    if (st != LLMUX_OK) return st;
    snprintf(out, size, "%s", use.child_model);
    lx_runtime_local_release(rt, &use);
    return LLMUX_OK;
}

llmux_status lx_engine_model_load(llmux_runtime *rt, const char *spec, const llmux_cancel *cancel,
                                  llmux_error_info *err) {
    char m[PATH_MAX];
    /* Resolved here first: a model outside the directories is refused as in-process. */
    llmux_status st = child_spec(rt, spec, cancel, m, sizeof m, err);
    if (st != LLMUX_OK) return st;
    json_t *res = NULL;
    st = call_child(rt, lx_ipc_call_model(LX_IPC_OP_MODEL_LOAD, m, 0), false, cancel, 0, &res, err);
    char why[200];
    if (st == LLMUX_OK && !lx_ipc_result_empty_parse(res, why, sizeof why)) st = malformed(err, "model_load", why);
    json_decref(res);
    return st;
}

llmux_status lx_engine_model_unload(llmux_runtime *rt, const char *spec, llmux_error_info *err) {
    char m[PATH_MAX];
    llmux_error_info ignored;
    /* A file that is gone is unloaded by the name it was loaded through: pass the spec as is. */
    if (child_spec(rt, spec, NULL, m, sizeof m, &ignored) != LLMUX_OK) snprintf(m, sizeof m, "%s", spec);
    json_t *res = NULL;
    llmux_status st = call_child(rt, lx_ipc_call_model(LX_IPC_OP_MODEL_UNLOAD, m, 0), true, NULL, 0, &res, err);
    if (st != LLMUX_OK) return st;
    char why[200];
    if (!res) st = lx_error(err, LLMUX_E_INVALID_REQUEST, "%.200s is not loaded", spec);
    else if (!lx_ipc_result_empty_parse(res, why, sizeof why)) st = malformed(err, "model_unload", why);
    json_decref(res);
    return st;
}

llmux_status lx_engine_models_loaded(llmux_runtime *rt, char **json, llmux_error_info *err) {
    *json = NULL;
    /* The answer comes through the loop: waiting for it there would wait forever. */
    if (llmux_runtime_on_loop(rt))
        return lx_error(err, LLMUX_E_INVALID_REQUEST,
                        "llmux_models_loaded: not on the runtime's loop thread with local.isolation: process (it asks "
                        "the engine process)");
    json_t *res = NULL;
    llmux_status st = call_child(rt, lx_ipc_call_model(LX_IPC_OP_MODELS_LOADED, NULL, 0), true, NULL, 0, &res, err);
    if (st != LLMUX_OK) return st;
    const json_t *models = NULL;
    char why[200];
    if (res && !lx_ipc_result_models_parse(res, &models, why, sizeof why)) {
        json_decref(res);
        return malformed(err, "models_loaded", why);
    }
    *json = models ? json_dumps(models, JSON_COMPACT) : strdup("[]");
    json_decref(res);
    if (!*json) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory listing the loaded models");
    return LLMUX_OK;
}
