/* The engine thread of one local model; see local_worker.h. */
#include "runtime/local_worker.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/error.h"

typedef struct job {
    lx_worker_job j;
    struct job *next;
} job;

struct lx_worker {
    lx_model *model;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *queue;          /* by priority, FIFO among equals */
    size_t n_queued;
    bool running;        /* a job is being generated */
    bool stopping;
};

static void run_job(lx_worker *w, job *q) {
    const lx_worker_job *j = &q->j;
    if (j->task) {
        /* Tasks run here, on the engine thread, like generations: the model (and its
         * vocabulary, which a reload replaces) is only ever touched from this thread. */
        llmux_error_info err;
        lx_error_clear(&err);
        llmux_status st = llmux_cancel_is_triggered(j->cancel) ? lx_error(&err, LLMUX_E_CANCELLED, "cancelled while queued")
                                                               : j->task(w->model, j, j->task_data, &err);
        j->done(j->user_data, st, &err, NULL);
        return;
    }
    if (j->started) j->started(j->user_data);
    lx_gen_stats stats;
    llmux_error_info err;
    lx_error_clear(&err);
    llmux_status st = lx_model_generate(w->model, j->req, j->cancel, j->deadline_ns, j->sink, &stats, &err);
    j->done(j->user_data, st, &err, &stats);
}

static void *worker_main(void *arg) {
    lx_worker *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->queue && !w->stopping) pthread_cond_wait(&w->cv, &w->mu);
        if (w->stopping) break;
        job *j = w->queue;
        w->queue = j->next;
        w->n_queued--;
        w->running = true;
        pthread_mutex_unlock(&w->mu);
        run_job(w, j);
        free(j);
        pthread_mutex_lock(&w->mu);
        w->running = false;
    }
    /* Stopping: what is still queued never started. */
    while (w->queue) {
        job *j = w->queue;
        w->queue = j->next;
        w->n_queued--;
        pthread_mutex_unlock(&w->mu);
        llmux_error_info e;
        lx_error(&e, LLMUX_E_CANCELLED, "cancelled: the model is being unloaded");
        j->j.done(j->j.user_data, LLMUX_E_CANCELLED, &e, NULL);
        free(j);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

lx_worker *lx_worker_create(lx_model *m) {
    lx_worker *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->model = m;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
    }
    return w;
}

void lx_worker_destroy(lx_worker *w) {
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

llmux_status lx_worker_submit(lx_worker *w, const lx_worker_job *jb, llmux_error_info *err) {
    job *j = malloc(sizeof *j);
    if (!j) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory queueing the request");
    *j = (job){.j = *jb};
    const llmux_request *req = jb->req;
    pthread_mutex_lock(&w->mu);
    llmux_status st = LLMUX_OK;
    if (w->stopping) {
        st = lx_error(err, LLMUX_E_CANCELLED, "cancelled: the model is being unloaded");
    } else if (w->n_queued >= LX_WORKER_MAX_QUEUED) {
        st = lx_error(err, LLMUX_E_QUEUE_FULL, "local model %s: %d requests are already waiting",
                      lx_model_name(w->model), LX_WORKER_MAX_QUEUED);
    } else {
        job **at = &w->queue;
        while (*at && (*at)->j.req->priority >= req->priority) at = &(*at)->next;
        j->next = *at;
        *at = j;
        w->n_queued++;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    if (st != LLMUX_OK) free(j);
    return st;
}

size_t lx_worker_load(lx_worker *w) {
    pthread_mutex_lock(&w->mu);
    size_t n = w->n_queued + (w->running ? 1 : 0);
    pthread_mutex_unlock(&w->mu);
    return n;
}

size_t lx_worker_queued(lx_worker *w) {
    pthread_mutex_lock(&w->mu);
    size_t n = w->n_queued;
    pthread_mutex_unlock(&w->mu);
    return n;
}
