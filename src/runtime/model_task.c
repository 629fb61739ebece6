/* lx_worker_run_task (local_worker.h): a task queued on a local model's engine thread, the
 * calling thread waiting for it. Used by the public calls that need a local model without
 * generating (llmux_count_tokens, local llmux_embed). */
#include <pthread.h>
#include <string.h>

#include "core/error.h"
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

llmux_status lx_worker_run_task(llmux_runtime *rt, const char *spec, const llmux_request *job_req,
                                const llmux_cancel *cancel, int64_t deadline_ns,
                                llmux_status (*task)(lx_model *m, const lx_worker_job *job, void *task_data,
                                                     llmux_error_info *err),
                                void *task_data, llmux_error_info *err) {
    lx_local_use use;
    llmux_status st = lx_runtime_local(rt, spec, cancel, &use, err);
    if (st != LLMUX_OK) return st;
    if (!use.worker) {
        /* local_isolation PROCESS: nothing runs on a model in this process (loading one here
         * would bypass the child's sandbox); the public calls send theirs to the child
         * (engine_calls.h) before they get here. */
        lx_runtime_local_release(rt, &use);
        return lx_error(err, LLMUX_E_INTERNAL, "a local model task reached the runtime in local.isolation: process");
    }
    waiter w = {.st = LLMUX_OK};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    lx_worker_job job = {.req = job_req, .cancel = cancel, .deadline_ns = deadline_ns, .done = on_done,
                         .user_data = &w, .task = task, .task_data = task_data};
    st = lx_worker_submit(use.worker, &job, err);
    if (st == LLMUX_OK) {
        pthread_mutex_lock(&w.mu);
        while (!w.done) pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        st = w.st;
        if (st != LLMUX_OK) *err = w.err;
    }
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    lx_runtime_local_release(rt, &use);
    return st;
}
