/* One generation request in flight (POST /v1/chat/completions or /v1/messages): the client's
 * HTTP request, its execution and its stream encoder. Loop thread only. */
#ifndef LX_SERVER_CALL_H
#define LX_SERVER_CALL_H

#include <pthread.h>
#include <stdbool.h>

#include <event2/http.h>

#include "server/http/auth.h"
#include "server/http/route_stats.h"
#include "server/http/server.h"
#include "server/http/translate.h"

typedef struct lx_call lx_call;

/* The server's state (server.c); set-once parameters apart from the computed state. */
struct lx_server {
    lx_server_params p;             /* copied at start */
    llmux_runtime *rt;
    lx_auth *auth;                  /* keys, per-key limits, CORS (auth.h) */
    struct event_base *base;        /* the runtime's loop */
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    int port;
    bool ok;                        /* setup succeeded */
    char setup_msg[300];
    bool accepting;
    lx_call *calls;                 /* in flight, for cancel-all at shutdown */
    pthread_mutex_t mu;             /* guards active (read by the stopping thread) */
    pthread_cond_t cv;
    int active;
    int flushing;                   /* final replies handed to libevent, not yet fully written */
    struct lx_offload_pool *offload; /* blocking calls' threads (offload.h); NULL until used */
    lx_route_stats route_stats;     /* responses by route, for /metrics (route_stats.h) */
    struct lx_resp_store *resp_store; /* kept Responses API responses; NULL = none kept */
};

/* Translates the request's body, admits it for its key (lx_auth_admit: model, budget, rate,
 * slots) and starts its execution; answers the client itself on any failure. request_id: the
 * client's (validated) X-Request-Id, already echoed; NULL = none (the response id is echoed
 * instead). Either goes into the request's metadata as "request_id", and the key's name as
 * "key_name", so the execution record carries them. g: the key lx_auth_check identified. */
void lx_call_start(lx_server *s, struct evhttp_request *req, lx_srv_format f, const char *request_id,
                   const lx_auth_grant *g);
/* GET /v1/responses/{id} (the kept response object), DELETE /v1/responses/{id} and GET
 * /v1/responses/{id}/input_items (a page of its input items), for the key g identified (another
 * key's response does not exist for it). rest: the path after "/v1/responses/". */
void lx_responses_stored_route(lx_server *s, struct evhttp_request *req, const char *rest, const lx_auth_grant *g);
/* An item_reference's target (lx_srv_item_lookup, ctx an lx_item_lookup): the item with that id
 * among a kept response's output or input items, for the owner's key; a new reference, NULL (err
 * saying why) when there is none or it is previous_response_id's. The lookup keeps the last
 * response it read (its items parsed once for all the references into it) until
 * lx_item_lookup_release. */
typedef struct lx_item_lookup {
    lx_server *s;
    const char *owner; /* lx_auth_key_name of the request's key */
    char id[160];      /* the response read last ("" none), and its items (NULL: not read yet, or none) */
    json_t *output, *inputs;
} lx_item_lookup;
json_t *lx_responses_stored_item(void *ctx, const char *item_id, const char *previous_response_id,
                                 llmux_error_info *err);
void lx_item_lookup_release(lx_item_lookup *l);
/* Cancels every request in flight (shutdown after the grace period). */
void lx_call_cancel_all(lx_server *s);
/* Before the connections are freed: calls still in flight (a cancelled execution that did not
 * end, which would be a bug) let go of their requests so nothing touches freed memory. */
void lx_call_abandon_all(lx_server *s);

/* Replies: JSON with a status code; retry_after_ms > 0 (or a 429/503) adds Retry-After. */
void lx_call_reply_json(struct evhttp_request *req, int code, const char *body, int64_t retry_after_ms);
void lx_call_reply_error(struct evhttp_request *req, lx_srv_format f, llmux_status st, const char *message,
                         int64_t retry_after_ms);

#endif
