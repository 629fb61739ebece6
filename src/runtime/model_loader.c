/* The loader thread; see model_loader.h. */
#include "runtime/model_loader.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct load_job {
    const lx_load_job_ops *ops;
    void *arg;
    struct load_job *next;
} load_job;

struct lx_model_loader {
    lx_http_client *loop;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    load_job *head, *tail; /* guarded by mu */
    bool stopping;         /* guarded by mu */
};

static void run_job(lx_model_loader *l, load_job *j, bool stopping) {
    j->ops->work(j->arg, stopping);
    /* The loop stopped taking posts only while the runtime is destroyed: then() here ends the
     * execution all the same (as execution.c drains a notify it could not post). */
    if (!lx_http_client_post(l->loop, j->ops->then, j->arg)) j->ops->then(j->arg);
    free(j);
}

static void *loader_main(void *arg) {
    lx_model_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->head && !l->stopping) pthread_cond_wait(&l->cv, &l->mu);
        load_job *j = l->head;
        if (!j) break; /* stopping and nothing left */
        l->head = j->next;
        if (!l->head) l->tail = NULL;
        bool stopping = l->stopping;
        pthread_mutex_unlock(&l->mu);
        run_job(l, j, stopping);
        pthread_mutex_lock(&l->mu);
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
    if (pthread_create(&l->thread, NULL, loader_main, l) != 0) {
        pthread_cond_destroy(&l->cv);
        pthread_mutex_destroy(&l->mu);
        free(l);
        return NULL;
    }
    return l;
}

bool lx_model_loader_submit(lx_model_loader *l, const lx_load_job_ops *ops, void *arg) {
    load_job *j = l ? malloc(sizeof *j) : NULL;
    if (!j) return false;
    *j = (load_job){ops, arg, NULL};
    pthread_mutex_lock(&l->mu);
    bool ok = !l->stopping;
    if (ok) {
        if (l->tail) l->tail->next = j;
        else l->head = j;
        l->tail = j;
        pthread_cond_signal(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    if (!ok) free(j);
    return ok;
}

void lx_model_loader_destroy(lx_model_loader *l) {
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->stopping = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
}
