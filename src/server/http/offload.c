/* The pool that runs blocking public calls off the loop thread (see offload.h).
 *
 * Threads: lx_offload_start, the close callback, done_on_loop and lx_offload_cancel_all run on the
 * loop thread; run() on a pool thread. The pool's lock guards the queue and the in-flight list
 * (the only state both sides touch); o->closed, o->evcon and o->req are loop-only. */
#define _DEFAULT_SOURCE
#include <pthread.h>
#include <stdlib.h>

#include "server/http/call.h"
#include "server/http/conn_watch.h"
#include "server/http/offload.h"

struct lx_offload_pool {
    llmux_runtime *rt;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t threads[LX_OFFLOAD_THREADS];
    int n_threads;
    bool stopping;
    bool drained;            /* shutdown: every posted completion has run */
    lx_offload *head, *tail; /* waiting, FIFO */
    int n_queued;
    lx_offload *inflight;    /* queued or running, for cancel-all */
};

static void active_add(lx_server *s, int d) {
    pthread_mutex_lock(&s->mu);
    s->active += d;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void unlink_inflight(lx_offload_pool *p, lx_offload *o) {
    pthread_mutex_lock(&p->mu);
    if (o->prev) o->prev->next = o->next;
    else if (p->inflight == o) p->inflight = o->next;
    if (o->next) o->next->prev = o->prev;
    o->prev = o->next = NULL;
    pthread_mutex_unlock(&p->mu);
}

static void finish(lx_offload *o) {
    lx_server *s = o->s;
    lx_conn_watch_stop(o->watch);
    llmux_cancel_destroy(o->cancel);
    o->release(o);
    active_add(s, -1);
}

/* A final reply is written by libevent later; lx_server_stop waits for it (as call.c does). */
static void on_complete(struct evhttp_request *req, void *arg) {
    lx_server *s = arg;
    lx_route_stats_sent(&s->route_stats, req); /* this callback replaced route_stats' own */
    pthread_mutex_lock(&s->mu);
    s->flushing--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void done_on_loop(void *arg) {
    lx_offload *o = arg;
    unlink_inflight(o->s->offload, o);
    lx_conn_watch_stop(o->watch);
    o->watch = NULL;
    if (!o->closed) {
        if (o->evcon) evhttp_connection_set_closecb(o->evcon, NULL, NULL);
        pthread_mutex_lock(&o->s->mu);
        o->s->flushing++;
        pthread_mutex_unlock(&o->s->mu);
        evhttp_request_set_on_complete_cb(o->req, on_complete, o->s);
        o->reply(o, o->req);
    }
    finish(o);
}

/* The client left: the call is cancelled; its result is dropped when it comes back. */
static void on_close(struct evhttp_connection *evcon, void *arg) {
    (void)evcon;
    lx_offload *o = arg;
    o->closed = true;
    o->evcon = NULL;
    lx_conn_watch_stop(o->watch);
    o->watch = NULL;
    llmux_cancel_trigger(o->cancel);
    /* With no connection this only releases the request (as in call.c). */
    evhttp_send_reply(o->req, 499, "Client Closed Request", NULL);
}

/* The client hung up before the reply (conn_watch.h): the call is cancelled; the reply, when it
 * comes, then fails and libevent frees the connection. */
static void client_gone(void *arg) {
    lx_offload *o = arg;
    llmux_cancel_trigger(o->cancel);
}

static void *worker(void *arg) {
    lx_offload_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->stopping) pthread_cond_wait(&p->cv, &p->mu);
        if (!p->head) break; /* stopping with nothing left */
        lx_offload *o = p->head;
        p->head = o->qnext;
        if (!p->head) p->tail = NULL;
        p->n_queued--;
        pthread_mutex_unlock(&p->mu);
        /* A cancelled call still runs: the public calls return LLMUX_E_CANCELLED at once for a
         * triggered token, and run() records that like any other outcome. */
        o->run(o, o->cancel);
        if (llmux_runtime_post(p->rt, done_on_loop, o) != LLMUX_OK) {
            /* Only while the runtime is being destroyed, which happens after the server stopped
             * (lx_server_stop waits for every call): nothing may touch the loop's objects now. */
        }
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static lx_offload_pool *pool_get(lx_server *s) {
    if (s->offload) return s->offload;
    lx_offload_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->rt = s->rt;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (int i = 0; i < LX_OFFLOAD_THREADS; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0) break;
        p->n_threads++;
    }
    s->offload = p; /* kept also without threads, so shutdown frees it */
    return p;
}

void lx_offload_start(lx_server *s, struct evhttp_request *req, lx_srv_format f, lx_offload *o) {
    o->s = s;
    o->req = req;
    o->f = f;
    pthread_mutex_lock(&s->mu);
    bool full = s->active >= s->p.max_requests;
    pthread_mutex_unlock(&s->mu);
    lx_offload_pool *p = full ? NULL : pool_get(s);
    llmux_status st = full ? LLMUX_E_QUEUE_FULL : !p ? LLMUX_E_OUT_OF_MEMORY : LLMUX_OK;
    if (st == LLMUX_OK && p->n_threads == 0) st = LLMUX_E_OVERLOADED;
    if (st == LLMUX_OK && !(o->cancel = llmux_cancel_create())) st = LLMUX_E_OUT_OF_MEMORY;
    if (st == LLMUX_OK) {
        pthread_mutex_lock(&p->mu);
        if (p->n_queued >= LX_OFFLOAD_MAX_QUEUED) {
            st = LLMUX_E_QUEUE_FULL;
        } else {
            o->qnext = NULL;
            if (p->tail) p->tail->qnext = o;
            else p->head = o;
            p->tail = o;
            p->n_queued++;
            o->next = p->inflight;
            if (p->inflight) p->inflight->prev = o;
            p->inflight = o;
            active_add(s, 1); /* under p->mu: a worker's post cannot overtake this count */
            pthread_cond_signal(&p->cv);
        }
        pthread_mutex_unlock(&p->mu);
    }
    if (st != LLMUX_OK) {
        const char *msg = st == LLMUX_E_QUEUE_FULL       ? "too many requests in flight on this server"
                          : st == LLMUX_E_OVERLOADED     ? "no worker thread could be started"
                                                         : "out of memory";
        lx_call_reply_error(req, f, st, msg, st == LLMUX_E_OUT_OF_MEMORY ? -1 : 1000);
        llmux_cancel_destroy(o->cancel);
        o->release(o);
        return;
    }
    o->evcon = evhttp_request_get_connection(req);
    if (o->evcon) evhttp_connection_set_closecb(o->evcon, on_close, o);
    o->watch = lx_conn_watch_start(s->base, o->evcon, client_gone, o);
}

void lx_offload_cancel_all(lx_server *s) {
    lx_offload_pool *p = s->offload;
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    for (lx_offload *o = p->inflight; o; o = o->next) llmux_cancel_trigger(o->cancel);
    pthread_mutex_unlock(&p->mu);
}

void lx_offload_abandon_all(lx_server *s) {
    lx_offload_pool *p = s->offload;
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    for (lx_offload *o = p->inflight; o; o = o->next) {
        lx_conn_watch_stop(o->watch);
        o->watch = NULL;
        if (o->evcon) evhttp_connection_set_closecb(o->evcon, NULL, NULL);
        o->evcon = NULL;
        o->closed = true;
    }
    pthread_mutex_unlock(&p->mu);
}

/* Runs on the loop after every done_on_loop posted before it (posts run in FIFO order). */
static void drained(void *arg) {
    lx_offload_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    p->drained = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void lx_offload_shutdown(lx_server *s) {
    lx_offload_pool *p = s->offload;
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads; i++) pthread_join(p->threads[i], NULL);
    /* A call that ignored its cancel past lx_server_stop's waits has posted its done_on_loop
     * meanwhile: let it run (its request was abandoned, so it only releases) before the pool and
     * the server go away. */
    if (llmux_runtime_post(p->rt, drained, p) == LLMUX_OK) {
        pthread_mutex_lock(&p->mu);
        while (!p->drained) pthread_cond_wait(&p->cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
    s->offload = NULL;
}
