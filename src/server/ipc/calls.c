/* The IPC server's `call` messages (core/ipc_call.h; docs/ipc.md, "Calls"): embeddings, token
 * counts and model load/unload/list, served with the public blocking calls (llmux_embed,
 * llmux_count_tokens, llmux_model_load, ...). Those block (a model may load), and the loop thread
 * carries every connection, so a call runs on a small pool of threads started at the first call
 * and its answer is posted back to the loop (llmux_runtime_post), where the frame is written.
 *
 * Lifetime: a call belongs to the server's list (loop thread) from its start until its answer is
 * delivered on the loop. A connection that goes away detaches its calls (they are cancelled and
 * their answers dropped); lx_ipc_server_stop cancels, waits for and joins them before it frees
 * anything, so a posted answer never finds freed memory. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ipc_call.h"
#include "core/ipc_message.h"
#include "server/ipc/internal.h"

/* Calls running at once. Each is a blocking public call on its own model's engine thread (or a
 * load); two keep one slow load from holding every count and embedding behind it without
 * starting a thread per call. */
#define CALL_THREADS 2

typedef struct ipc_call ipc_call;
struct ipc_call {
    lx_ipc_server *s;
    lx_ipc_conn *c;              /* loop thread; NULL once the connection went away */
    char id[LX_IPC_MAX_ID + 1];
    json_t *root;                /* the call message (owned: a reference) */
    lx_ipc_call call;            /* borrows from root */
    llmux_cancel *cancel;
    /* written by the pool thread, read on the loop after the post */
    llmux_status st;
    llmux_error_info err;
    char *result;                /* the result body (JSON text) when st is OK */
    ipc_call *prev, *next;       /* the server's list (loop thread) */
    ipc_call *qnext;             /* the pool's queue (under its lock) */
};

struct lx_ipc_calls {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t threads[CALL_THREADS];
    int n_threads;
    bool stop;
    ipc_call *head, *tail;       /* waiting for a thread */
    ipc_call *all;               /* in flight (loop thread) */
};

static void active_add(lx_ipc_server *s, int d) {
    pthread_mutex_lock(&s->mu);
    s->active += d;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void call_free(ipc_call *k) {
    lx_ipc_calls *p = k->s->calls;
    if (k->prev) k->prev->next = k->next;
    else p->all = k->next;
    if (k->next) k->next->prev = k->prev;
    lx_ipc_call_clear(&k->call);
    json_decref(k->root);
    llmux_cancel_destroy(k->cancel);
    free(k->result);
    lx_ipc_server *s = k->s;
    free(k);
    active_add(s, -1);
}

/* ----------------------------------------------------------- pool thread */

static bool remote(const char *model) { return model && llmux_model_kind_of(model) == LLMUX_MODEL_REMOTE; }

static llmux_status not_local(llmux_error_info *err) {
    memset(err, 0, sizeof *err);
    err->status = LLMUX_E_MODEL_NOT_FOUND;
    err->retry_after_ms = -1;
    snprintf(err->message, sizeof err->message, "model: this engine serves local models only");
    return err->status;
}

static llmux_status oom(llmux_error_info *err) {
    memset(err, 0, sizeof *err);
    err->status = LLMUX_E_OUT_OF_MEMORY;
    err->retry_after_ms = -1;
    snprintf(err->message, sizeof err->message, "out of memory encoding the result");
    return err->status;
}

static llmux_status run_embed(ipc_call *k, const llmux_call_params *cp) {
    llmux_embed_request er = llmux_embed_request_default();
    er.model = k->call.model;
    er.inputs = k->call.inputs;
    er.n_inputs = k->call.n_inputs;
    er.dimensions = k->call.dimensions;
    llmux_embeddings *e = NULL;
    llmux_status st = llmux_embed(k->s->rt, &er, cp, &e, &k->err);
    if (st != LLMUX_OK) return st;
    k->result = lx_ipc_result_embed(e->model ? e->model : "", e->n, e->dim, e->data, e->usage.input_tokens);
    llmux_embeddings_free(e);
    return k->result ? LLMUX_OK : oom(&k->err);
}

static llmux_status run_count(ipc_call *k, const llmux_call_params *cp) {
    char *body = json_dumps(k->call.request, JSON_COMPACT);
    if (!body) return oom(&k->err);
    llmux_request *req = NULL;
    llmux_status st = llmux_request_from_json(body, strlen(body), &req, &k->err);
    free(body);
    if (st != LLMUX_OK) return st;
    int64_t n = 0;
    if (k->s->p.local_only && remote(req->model)) st = not_local(&k->err);
    else st = llmux_count_tokens(k->s->rt, req, cp, &n, &k->err);
    llmux_request_free(req);
    if (st != LLMUX_OK) return st;
    k->result = lx_ipc_result_count(n);
    return k->result ? LLMUX_OK : oom(&k->err);
}

static llmux_status run_call(ipc_call *k) {
    llmux_call_params cp = llmux_call_default_params();
    cp.cancel = k->cancel;
    cp.deadline_ms = k->call.deadline_ms;
    llmux_runtime *rt = k->s->rt;
    if (k->s->p.local_only && remote(k->call.model)) return not_local(&k->err);
    switch (k->call.op) {
    case LX_IPC_OP_EMBED: return run_embed(k, &cp);
    case LX_IPC_OP_COUNT_TOKENS: return run_count(k, &cp);
    case LX_IPC_OP_MODEL_LOAD: {
        llmux_status st = llmux_model_load(rt, k->call.model, &cp, &k->err);
        if (st == LLMUX_OK && !(k->result = lx_ipc_result_empty())) st = oom(&k->err);
        return st;
    }
    case LX_IPC_OP_MODEL_UNLOAD: {
        llmux_status st = llmux_model_unload(rt, k->call.model, &k->err);
        if (st == LLMUX_OK && !(k->result = lx_ipc_result_empty())) st = oom(&k->err);
        return st;
    }
    case LX_IPC_OP_MODELS_LOADED: {
        char *json = NULL;
        llmux_status st = llmux_models_loaded(rt, &json, &k->err);
        if (st != LLMUX_OK) return st;
        k->result = lx_ipc_result_models(json);
        llmux_free(json);
        return k->result ? LLMUX_OK : oom(&k->err);
    }
    }
    return oom(&k->err);
}

static void deliver(void *arg);

static void *pool_main(void *arg) {
    lx_ipc_calls *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->head && !p->stop) pthread_cond_wait(&p->cv, &p->mu);
        ipc_call *k = p->head;
        if (k) {
            p->head = k->qnext;
            if (!p->head) p->tail = NULL;
        }
        pthread_mutex_unlock(&p->mu);
        if (!k) return NULL; /* stopping, nothing queued */
        k->st = run_call(k);
        /* The loop runs until the server stopped (which joins this thread first), so the post
         * is refused only when out of memory: the call then stays listed and is freed at stop. */
        llmux_runtime_post(k->s->rt, deliver, k);
    }
}

/* ------------------------------------------------------------ loop thread */

static void deliver(void *arg) {
    ipc_call *k = arg;
    if (k->c) {
        if (k->st == LLMUX_OK) {
            char *frame = lx_ipc_wrap(LX_IPC_RESULT, lx_ipc_conn_session(k->c), k->id, k->result);
            if (frame && strlen(frame) > k->s->p.max_frame_bytes) {
                free(frame);
                lx_ipc_conn_send_error(k->c, k->id, LLMUX_E_INVALID_REQUEST,
                                       "the result exceeds the frame size cap (send fewer inputs per call)");
            } else if (!frame) {
                lx_ipc_conn_send_error(k->c, k->id, LLMUX_E_OUT_OF_MEMORY, "out of memory encoding the result");
            } else {
                lx_ipc_conn_send(k->c, frame);
            }
        } else {
            lx_ipc_conn_send_error(k->c, k->id, k->st, k->err.message);
        }
    }
    call_free(k);
}

static bool pool_start(lx_ipc_server *s) {
    if (s->calls) return true;
    lx_ipc_calls *p = calloc(1, sizeof *p);
    if (!p) return false;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (int i = 0; i < CALL_THREADS; i++)
        if (pthread_create(&p->threads[p->n_threads], NULL, pool_main, p) == 0) p->n_threads++;
    if (p->n_threads == 0) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        free(p);
        return false;
    }
    s->calls = p;
    return true;
}

static size_t calls_of(const lx_ipc_server *s, const lx_ipc_conn *c) {
    size_t n = 0;
    for (ipc_call *k = s->calls ? s->calls->all : NULL; k; k = k->next) n += k->c == c;
    return n;
}

static ipc_call *find(const lx_ipc_server *s, const lx_ipc_conn *c, const char *id) {
    for (ipc_call *k = s->calls ? s->calls->all : NULL; k; k = k->next)
        if (k->c == c && strcmp(k->id, id) == 0) return k;
    return NULL;
}

void lx_ipc_call_start(lx_ipc_conn *c, const lx_ipc_msg *m) {
    lx_ipc_server *s = lx_ipc_conn_server(c);
    char why[256];
    if (!s->accepting) {
        lx_ipc_conn_send_error(c, m->id, LLMUX_E_OVERLOADED, "the server is shutting down");
        return;
    }
    if (find(s, c, m->id)) {
        lx_ipc_conn_send_error(c, m->id, LLMUX_E_INVALID_REQUEST, "id: a call with this id is in flight on this connection");
        return;
    }
    if (calls_of(s, c) >= (size_t)s->p.max_executions) {
        snprintf(why, sizeof why, "at most %d calls in flight per connection", s->p.max_executions);
        lx_ipc_conn_send_error(c, m->id, LLMUX_E_QUEUE_FULL, why);
        return;
    }
    ipc_call *k = calloc(1, sizeof *k);
    if (!k || !pool_start(s) || !(k->cancel = llmux_cancel_create())) {
        if (k) llmux_cancel_destroy(k->cancel);
        free(k);
        lx_ipc_conn_send_error(c, m->id, LLMUX_E_OUT_OF_MEMORY, "out of memory starting the call");
        return;
    }
    if (!lx_ipc_call_parse(m->body, &k->call, why, sizeof why)) {
        llmux_cancel_destroy(k->cancel);
        free(k);
        lx_ipc_conn_send_error(c, m->id, LLMUX_E_INVALID_REQUEST, why);
        return;
    }
    k->s = s;
    k->c = c;
    snprintf(k->id, sizeof k->id, "%s", m->id);
    k->root = json_incref(m->root); /* call borrows from it */
    lx_ipc_calls *p = s->calls;
    k->next = p->all;
    if (p->all) p->all->prev = k;
    p->all = k;
    active_add(s, 1);
    pthread_mutex_lock(&p->mu);
    if (p->tail) p->tail->qnext = k;
    else p->head = k;
    p->tail = k;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

bool lx_ipc_calls_cancel(lx_ipc_server *s, lx_ipc_conn *c, const char *id) {
    ipc_call *k = find(s, c, id);
    if (k) llmux_cancel_trigger(k->cancel);
    return k != NULL;
}

void lx_ipc_calls_detach(lx_ipc_server *s, lx_ipc_conn *c) {
    for (ipc_call *k = s->calls ? s->calls->all : NULL; k; k = k->next)
        if (k->c == c) {
            k->c = NULL;
            llmux_cancel_trigger(k->cancel);
        }
}

void lx_ipc_calls_cancel_all(lx_ipc_server *s) {
    for (ipc_call *k = s->calls ? s->calls->all : NULL; k; k = k->next) llmux_cancel_trigger(k->cancel);
}

void lx_ipc_calls_join(lx_ipc_server *s) {
    lx_ipc_calls *p = s->calls;
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads; i++) pthread_join(p->threads[i], NULL);
    p->n_threads = 0;
}

void lx_ipc_calls_free(lx_ipc_server *s) {
    lx_ipc_calls *p = s->calls;
    if (!p) return;
    while (p->all) call_free(p->all); /* answers that were never posted (out of memory) */
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
    s->calls = NULL;
}
