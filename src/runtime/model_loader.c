/* The loader threads; see model_loader.h. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "runtime/model_loader.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct load_job {
    const lx_load_job_ops *ops;
    void *arg;
    char *key; /* NULL: runs alongside anything */
    struct load_job *next;
} load_job;

struct lx_model_loader {
    lx_http_client *loop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    load_job *head, *tail;                   /* guarded by mu */
    const char *running[LX_LOADER_THREADS];  /* the key each thread runs, guarded by mu */
    pthread_t threads[LX_LOADER_THREADS];
    int n_threads, n_idle;                   /* guarded by mu */
    int n_queued;                            /* jobs in the queue, guarded by mu */
    bool stopping;                           /* guarded by mu */
};

static bool key_running(const lx_model_loader *l, const char *key) {
    if (!key) return false;
    for (int i = 0; i < l->n_threads; i++)
        if (l->running[i] && strcmp(l->running[i], key) == 0) return true;
    return false;
}

/* Takes the first queued job whose key no thread runs (arrival order within a key); NULL when
 * none can run now. Under mu. */
static load_job *take_runnable(lx_model_loader *l) {
    for (load_job **pp = &l->head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
        load_job *j = *pp;
        if (key_running(l, j->key)) continue;
        *pp = j->next;
        if (l->tail == j) l->tail = prev;
        l->n_queued--;
        return j;
    }
    return NULL;
}

static void run_job(lx_model_loader *l, load_job *j, bool stopping) {
    j->ops->work(j->arg, stopping);
    /* The loop stopped taking posts only while the runtime is destroyed: then() here ends the
     * execution all the same (as execution.c drains a notify it could not post). */
    if (!lx_http_client_post(l->loop, j->ops->then, j->arg)) j->ops->then(j->arg);
}

typedef struct thread_arg {
    lx_model_loader *l;
    int slot;
} thread_arg;

static void *loader_main(void *arg) {
    thread_arg ta = *(thread_arg *)arg;
    free(arg);
    lx_model_loader *l = ta.l;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        load_job *j = take_runnable(l);
        if (!j) {
            if (l->stopping && !l->head) break; /* nothing left to end */
            l->n_idle++;
            pthread_cond_wait(&l->cv, &l->mu);
            l->n_idle--;
            continue;
        }
        l->running[ta.slot] = j->key;
        bool stopping = l->stopping;
        pthread_mutex_unlock(&l->mu);
        run_job(l, j, stopping);
        pthread_mutex_lock(&l->mu);
        l->running[ta.slot] = NULL;
        free(j->key);
        free(j);
        pthread_cond_broadcast(&l->cv); /* a job of this key may run now */
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

lx_model_loader *lx_model_loader_create(lx_http_client *loop) {
    lx_model_loader *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->loop = loop;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    return l;
}

/* Starts one more thread when the queue, with the job about to join it, holds more jobs than
 * there are idle threads to take them, and there is room. Comparing with the queue matters: an
 * idle thread signalled for one job stays counted idle until it wakes, so two submits in a row
 * would both count on it, and the second job (another model) would wait behind the first's whole
 * load. Under mu. False only when no thread exists at all and none could start. */
static bool grow(lx_model_loader *l) {
    if (l->n_queued < l->n_idle || l->n_threads == LX_LOADER_THREADS) return l->n_threads > 0;
    thread_arg *ta = malloc(sizeof *ta);
    if (ta) *ta = (thread_arg){l, l->n_threads};
    if (ta && pthread_create(&l->threads[l->n_threads], NULL, loader_main, ta) == 0) {
        l->n_threads++;
        return true;
    }
    free(ta);
    return l->n_threads > 0; /* the running threads take it in turn */
}

bool lx_model_loader_submit(lx_model_loader *l, const char *key, const lx_load_job_ops *ops, void *arg) {
    load_job *j = l ? malloc(sizeof *j) : NULL;
    if (!j) return false;
    *j = (load_job){ops, arg, NULL, NULL};
    if (key && key[0] && !(j->key = strdup(key))) {
        free(j);
        return false;
    }
    pthread_mutex_lock(&l->mu);
    bool ok = !l->stopping && grow(l);
    if (ok) {
        if (l->tail) l->tail->next = j;
        else l->head = j;
        l->tail = j;
        l->n_queued++;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    if (!ok) {
        free(j->key);
        free(j);
    }
    return ok;
}

void lx_model_loader_destroy(lx_model_loader *l) {
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->stopping = true;
    pthread_cond_broadcast(&l->cv);
    int n = l->n_threads;
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < n; i++) pthread_join(l->threads[i], NULL);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
}
