#include "server/loop_sync.h"

#include <pthread.h>

typedef struct hop {
    void (*fn)(void *arg);
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
} hop;

static void hop_run(void *p) {
    hop *h = p;
    h->fn(h->arg);
    pthread_mutex_lock(&h->mu);
    h->done = true;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

bool lx_run_on_loop_wait(llmux_runtime *rt, void (*fn)(void *arg), void *arg) {
    hop h = {.fn = fn, .arg = arg};
    pthread_mutex_init(&h.mu, NULL);
    pthread_cond_init(&h.cv, NULL);
    bool posted = llmux_runtime_post(rt, hop_run, &h) == LLMUX_OK;
    if (posted) {
        pthread_mutex_lock(&h.mu);
        while (!h.done) pthread_cond_wait(&h.cv, &h.mu);
        pthread_mutex_unlock(&h.mu);
    }
    pthread_mutex_destroy(&h.mu);
    pthread_cond_destroy(&h.cv);
    return posted;
}
