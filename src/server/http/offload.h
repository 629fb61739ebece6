/* Requests whose work is a blocking public call (llmux_embed, llmux_count_tokens): the loop
 * thread must never block (every remote stream of the runtime runs on it), so the call runs on a
 * small pool of threads and its answer is posted back to the loop (llmux_runtime_post), where the
 * HTTP reply is written. The pool is bounded: LX_OFFLOAD_THREADS calls run at once, at most
 * LX_OFFLOAD_MAX_QUEUED wait; more are answered 429 with Retry-After at once. A client that goes
 * away triggers the call's cancel token; shutdown cancels every call (lx_offload_cancel_all). */
#ifndef LX_SERVER_OFFLOAD_H
#define LX_SERVER_OFFLOAD_H

#include <stdbool.h>

#include <event2/http.h>

#include "server/http/server.h"
#include "server/http/translate.h"

#define LX_OFFLOAD_THREADS 4
#define LX_OFFLOAD_MAX_QUEUED 64

typedef struct lx_offload_pool lx_offload_pool;
typedef struct lx_offload lx_offload;

/* One offloaded request. The endpoint allocates it (embedding it first in its own struct), sets
 * the three functions and hands it to lx_offload_start. */
struct lx_offload {
    /* Pool thread: the blocking call; reads and writes only the endpoint's own fields. cancel is
     * triggered when the client leaves or the server stops. */
    void (*run)(lx_offload *o, llmux_cancel *cancel);
    /* Loop thread, after run, only while the client is still connected: writes the reply with
     * lx_call_reply_json / lx_call_reply_error. */
    void (*reply)(lx_offload *o, struct evhttp_request *req);
    /* Loop thread: releases the endpoint's struct (always called exactly once). */
    void (*release)(lx_offload *o);
    /* The pool's bookkeeping (offload.c). */
    lx_server *s;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    llmux_cancel *cancel;
    lx_srv_format f;
    bool closed;
    struct lx_conn_watch *watch; /* notices a client that hung up (conn_watch.h) */
    lx_offload *prev, *next; /* in flight, under the pool's lock */
    lx_offload *qnext;       /* waiting for a thread */
};

/* Loop thread. Queues o (taken: o->release runs on every path) or answers the client at once: 429
 * when the server's max_requests or the pool's queue is full, 503/500 when threads or memory are
 * missing. */
void lx_offload_start(lx_server *s, struct evhttp_request *req, lx_srv_format f, lx_offload *o);
/* Triggers the cancel token of every offloaded call (queued calls then end without running). Any
 * thread. */
void lx_offload_cancel_all(lx_server *s);
/* Loop thread, before the connections are freed: calls still in flight (a cancelled call that
 * did not come back, which would be a bug) drop their requests so nothing touches freed memory. */
void lx_offload_abandon_all(lx_server *s);
/* Stopping thread, once nothing is in flight (after lx_server_stop's waits): joins the pool's
 * threads and frees it. Accepts a server whose pool never started. */
void lx_offload_shutdown(lx_server *s);

#endif
