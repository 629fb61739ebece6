/* llmux_count_tokens (llmux.h): a count job on the local model's engine thread (local_worker.c),
 * the calling thread waiting for it. The model's tokenizer and template are only ever used on
 * that thread, so a count never races a reload of the model. */
#include <pthread.h>
#include <string.h>

#include "core/error.h"
#include "runtime/call_params.h"
#include "runtime/local_worker.h"
#include "runtime/runtime_internal.h"

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    llmux_status st;
    llmux_error_info err;
} waiter;

static void on_done(void *user_data, llmux_status st, const llmux_error_info *err, const lx_gen_stats *stats) {
    (void)stats;
    waiter *w = user_data;
    pthread_mutex_lock(&w->mu);
    w->st = st;
    if (st != LLMUX_OK && err) w->err = *err;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
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
    if (lx_runtime_is_remote(rt, req->model))
        return lx_error(err, LLMUX_E_INVALID_REQUEST,
                        "model \"%.200s\": token counting is available for local models only", req->model);
    lx_local_use use;
    if ((st = lx_runtime_local(rt, req->model, cancel, &use, err)) != LLMUX_OK) return st;
    waiter w = {.st = LLMUX_OK};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    int32_t n = 0;
    lx_worker_job job = {.req = req, .cancel = cancel, .deadline_ns = deadline_ns, .done = on_done, .user_data = &w,
                         .count_out = &n};
    st = lx_worker_submit(use.worker, &job, err);
    if (st == LLMUX_OK) {
        pthread_mutex_lock(&w.mu);
        while (!w.done) pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        st = w.st;
        if (st != LLMUX_OK) *err = w.err;
        else *n_tokens = n;
    }
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    lx_runtime_local_release(rt, &use);
    return st;
}
