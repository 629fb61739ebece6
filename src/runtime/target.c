/* The two kinds of lx_target (target.h): remote providers and local models. */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include "runtime/target.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "runtime/engine_sup.h"
#include "runtime/local_worker.h"
#include "runtime/remote.h"

/* ------------------------------------------------------------------ remote */

static void remote_release(lx_target *t) {
    if (t->remote) {
        explicit_bzero(t->remote, sizeof *t->remote); /* it holds the key */
        free(t->remote);
        t->remote = NULL;
    }
}

static llmux_status remote_resolve(lx_target *t, const char *spec, const llmux_cancel *cancel, llmux_error_info *err) {
    (void)cancel;
    if (!(t->remote = malloc(sizeof *t->remote))) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory resolving %.200s", spec);
    size_t np;
    const llmux_provider_params *pp = lx_runtime_providers(t->rt, &np);
    llmux_status st = lx_remote_resolve(spec, pp, np, t->remote, err);
    if (st != LLMUX_OK) {
        remote_release(t);
        return st;
    }
    t->model = t->remote->cfg.model;
    t->provider = t->remote->cfg.name;
    t->protocol = t->remote->provider->protocol;
    return LLMUX_OK;
}

static void remote_done(void *ud, llmux_status st, const llmux_error_info *err) {
    const lx_attempt_cbs *cbs = ud;
    cbs->done(cbs->user_data, st, err, NULL);
}

static llmux_status remote_start(lx_target *t, const llmux_request *req, const llmux_cancel *cancel, int64_t deadline_ns,
                                 const lx_attempt_cbs *cbs, llmux_error_info *err) {
    lx_remote_settings settings = lx_runtime_timeouts(t->rt);
    /* lx_remote_start copies what it keeps (config, key, body), so the resolved target goes right
     * after it. Taken out of t first: once started, the attempt may end on the loop thread at once
     * and the executor may already reuse t for the next attempt, so t is not touched afterwards.
     * (t->model and friends pointed into it: the executor copied them before starting.) The
     * callbacks struct is the executor's and outlives the attempt. */
    struct lx_remote_target *mine = t->remote;
    t->remote = NULL;
    llmux_status st = lx_remote_start(mine, req, cancel, deadline_ns, &settings, cbs->sink, remote_done, (void *)cbs, err);
    explicit_bzero(mine, sizeof *mine);
    free(mine);
    return st;
}

static const lx_target_ops k_remote = {remote_resolve, remote_start, remote_release};

/* ------------------------------------------------------------------- local */

static llmux_status local_resolve(lx_target *t, const char *spec, const llmux_cancel *cancel, llmux_error_info *err) {
    t->pending = false;
    llmux_status st = t->nowait ? lx_runtime_local_try(t->rt, spec, &t->local, &t->pending, err)
                                : lx_runtime_local(t->rt, spec, cancel, &t->local, err);
    if (st != LLMUX_OK || t->pending) return st;
    t->model = t->local.name;
    t->provider = "local";
    t->protocol = "local";
    return LLMUX_OK;
}

static llmux_status local_start(lx_target *t, const llmux_request *req, const llmux_cancel *cancel, int64_t deadline_ns,
                                const lx_attempt_cbs *cbs, llmux_error_info *err) {
    /* local_isolation PROCESS: the sandboxed engine child runs it (engine_sup.h). */
    if (!t->local.worker)
        return lx_engine_sup_submit(lx_runtime_engine(t->rt), t->local.path, t->local.child_model, req, cancel,
                                    deadline_ns, cbs, err);
    lx_worker_job job = {.req = req, .cancel = cancel, .deadline_ns = deadline_ns, .sink = cbs->sink,
                         .started = cbs->started, .done = cbs->done, .user_data = cbs->user_data};
    return lx_worker_submit(t->local.worker, &job, err);
}

static void local_release(lx_target *t) { lx_runtime_local_release(t->rt, &t->local); }

static const lx_target_ops k_local = {local_resolve, local_start, local_release};

void lx_target_init(lx_target *t, llmux_runtime *rt, const char *spec) {
    memset(t, 0, sizeof *t);
    t->rt = rt;
    t->ops = llmux_model_kind_of(spec) == LLMUX_MODEL_REMOTE ? &k_remote : &k_local;
}
