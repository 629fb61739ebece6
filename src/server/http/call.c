/* A generation request from the client's bytes to its last byte. Loop thread only (evhttp
 * callbacks and llmux_submit callbacks both run there).
 *
 * Streaming: nothing is sent until the first event that belongs to the answer, so a failure
 * before it (an upstream 429, an unknown model) still gets a proper HTTP status and error body;
 * afterwards a failure is an in-stream error event. A client that goes away (the connection's
 * close callback, or conn_watch.h before any reply byte) cancels the execution: the upstream
 * socket closes or local decoding stops. */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "server/http/call.h"
#include "server/http/conn_trim.h"
#include "server/http/conn_watch.h"
#include "server/http/response_store.h"

#define CANON_MAX_MESSAGES 10000 /* llmux_request_validate's cap on messages (llmux.h) */

struct lx_call {
    lx_server *s;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    lx_srv_format f;
    bool stream;
    bool replied;           /* the final reply (or reply end) was handed to libevent */
    bool headers_sent;      /* the SSE response began */
    bool starting;          /* inside llmux_submit: an on_done there defers the free to us */
    bool overflow;          /* the client left too much unread: the execution was cancelled */
    bool done_pending;
    llmux_execution *ex;
    llmux_aggregator *agg;  /* non-streamed answers */
    lx_srv_stream *st;      /* streamed answers */
    struct event *ping;     /* keep-alive timer; also activated to flush `out` (flush_due) */
    struct evbuffer *out;   /* SSE bytes of the events delivered in this loop turn, not yet
                               handed to libevent (NULL when none: an idle stream holds none) */
    bool flush_due;         /* `ping` was activated to flush `out` */
    lx_conn_watch *watch;   /* notices a client that hung up before any reply byte */
    char id[64];
    char *model;
    long created;
    lx_auth_grant grant;    /* the request's key and its slot (released in call_free) */
    /* Responses API: the previous_response_id the response objects echo, and the conversation
     * this response answers (model and messages, the continued one's included) when it is to be
     * kept (response_store.h; echoed as store); NULL otherwise. */
    char *prev_id;
    lx_srv_names custom;    /* Responses, not streamed: the request's custom tools (a stream keeps its own) */
    llmux_request *hist_in;
    lx_call *prev, *next;
};

static const char *reason(int code) {
    switch (code) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 507: return "Insufficient Storage";
    default: return "Error";
    }
}

void lx_call_reply_json(struct evhttp_request *req, int code, const char *body, int64_t retry_after_ms) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    if (retry_after_ms > 0 || code == 429 || code == 503) {
        /* Retry-After is in whole seconds (RFC 9110 §10.2.3): round up, at least 1. */
        char v[32];
        snprintf(v, sizeof v, "%lld", (long long)(retry_after_ms > 0 ? (retry_after_ms + 999) / 1000 : 1));
        evhttp_add_header(h, "Retry-After", v);
    }
    struct evbuffer *b = evbuffer_new();
    if (b) evbuffer_add(b, body, strlen(body));
    evhttp_send_reply(req, code, reason(code), b);
    if (b) evbuffer_free(b);
}

void lx_call_reply_error(struct evhttp_request *req, lx_srv_format f, llmux_status st, const char *message,
                         int64_t retry_after_ms) {
    char *body = lx_srv_error_body(f, st, message);
    lx_call_reply_json(req, llmux_status_http(st), body ? body : "{}", retry_after_ms);
    free(body);
}

/* ------------------------------------------------------------- lifetime */

static void call_free(lx_call *c) {
    lx_server *s = c->s;
    if (c->prev) c->prev->next = c->next;
    else s->calls = c->next;
    if (c->next) c->next->prev = c->prev;
    lx_auth_release(s->auth, &c->grant);
    if (c->ping) event_free(c->ping);
    if (c->out) evbuffer_free(c->out);
    lx_conn_watch_stop(c->watch);
    llmux_execution_free(c->ex);
    llmux_aggregator_destroy(c->agg);
    lx_srv_stream_free(c->st);
    llmux_request_free(c->hist_in);
    free(c->prev_id);
    lx_srv_names_free(&c->custom);
    free(c->model);
    free(c);
    pthread_mutex_lock(&s->mu);
    s->active--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Detaches the connection's close callback: after the final reply the connection may outlive
 * the call (keep-alive) or be freed by libevent at any later point. */
static void detach(lx_call *c) {
    lx_conn_watch_stop(c->watch);
    c->watch = NULL;
    if (c->evcon) evhttp_connection_set_closecb(c->evcon, NULL, NULL);
    c->evcon = NULL;
}

/* A final reply is written by libevent after we handed it over; a graceful stop waits for that
 * (lx_server_stop) before it frees the connections. libevent calls on_complete only when the
 * reply was fully written, so that wait is bounded. */
static void on_complete(struct evhttp_request *req, void *arg) {
    lx_server *s = arg;
    lx_route_stats_sent(&s->route_stats, req); /* this callback replaced route_stats' own */
    pthread_mutex_lock(&s->mu);
    s->flushing--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void track_flush(lx_call *c) {
    pthread_mutex_lock(&c->s->mu);
    c->s->flushing++;
    pthread_mutex_unlock(&c->s->mu);
    evhttp_request_set_on_complete_cb(c->req, on_complete, c->s);
}

static void reply_error(lx_call *c, llmux_status st, const char *msg, int64_t retry_after_ms) {
    detach(c);
    c->replied = true;
    track_flush(c);
    lx_call_reply_error(c->req, c->f, st, msg, retry_after_ms);
}

/* The client closed its connection: libevent detached the request from it (it is ours to end)
 * and the connection is being freed. */
static void on_close(struct evhttp_connection *evcon, void *arg) {
    lx_call *c = arg;
    c->evcon = NULL;
    lx_conn_watch_stop(c->watch);
    c->watch = NULL;
    llmux_execution_free(c->ex); /* cancels it; none of its callbacks runs after this */
    c->ex = NULL;
    if (!c->replied) {
        c->replied = true;
        /* With no connection these only release the request. */
        if (c->headers_sent) evhttp_send_reply_end(c->req);
        else evhttp_send_reply(c->req, 499, reason(499), NULL);
    }
    call_free(c);
}

/* The client hung up while its answer was not begun (a non-streamed answer, a stream before its
 * first event): libevent would only notice at the first write (conn_watch.h). Cancelling ends
 * the execution; its reply then fails and libevent frees the connection. */
static void client_gone(void *arg) {
    lx_call *c = arg;
    llmux_execution_cancel(c->ex);
}

/* ------------------------------------------------------------- streaming */

static void arm_ping(lx_call *c) {
    struct timeval tv = {.tv_sec = c->s->p.keepalive_ms / 1000, .tv_usec = (c->s->p.keepalive_ms % 1000) * 1000};
    if (c->ping && c->s->p.keepalive_ms > 0) evtimer_add(c->ping, &tv);
}

/* Hands the pending SSE bytes to libevent as one HTTP chunk. */
static void flush(lx_call *c) {
    c->flush_due = false;
    if (!c->out) return;
    if (!c->replied) evhttp_send_reply_chunk(c->req, c->out);
    evbuffer_free(c->out);
    c->out = NULL;
    /* libevent queues whatever it cannot write yet: a client that does not read would make that
     * queue grow without bound. Past the cap the execution is cancelled; its stream then ends
     * with an in-stream error and the idle timeout closes the connection if it stays stuck. */
    struct bufferevent *bev = c->evcon ? evhttp_connection_get_bufferevent(c->evcon) : NULL;
    if (!c->overflow && bev && evbuffer_get_length(bufferevent_get_output(bev)) > c->s->p.max_unsent_bytes) {
        c->overflow = true;
        llmux_execution_cancel(c->ex);
    }
}

/* Queues SSE text (taken) for the client. The events one loop turn delivers (an upstream read
 * often carries a whole answer) leave as one HTTP chunk: the ping timer is activated to run
 * once this turn's callbacks are done (flush_due), instead of one evbuffer, one chunk header and
 * one write attempt per event (bench/gateway: ~11% of a proxied stream's CPU). now: flush at
 * once (a keep-alive, or the stream's end). */
static void send_sse(lx_call *c, char *text, bool now) {
    if (!text) return;
    if (!c->headers_sent) {
        struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
        evhttp_add_header(h, "Content-Type", "text/event-stream");
        evhttp_add_header(h, "Cache-Control", "no-cache");
        evhttp_send_reply_start(c->req, 200, "OK");
        c->headers_sent = true;
        arm_ping(c);
    }
    if (!c->out) c->out = evbuffer_new();
    if (c->out) evbuffer_add(c->out, text, strlen(text));
    free(text);
    if (now || !c->ping || (c->out && evbuffer_get_length(c->out) > c->s->p.max_unsent_bytes)) {
        flush(c);
    } else if (!c->flush_due) {
        c->flush_due = true;
        event_active(c->ping, EV_TIMEOUT, 0);
    }
}

/* The keep-alive timer, or the flush send_sse asked for (an activated timer is no longer
 * pending: the keep-alive is armed again either way, a full period after the last bytes). */
static void on_ping(evutil_socket_t fd, short what, void *arg) {
    lx_call *c = arg;
    if (c->flush_due) {
        flush(c);
        if (!c->replied && !lx_srv_stream_ended(c->st)) arm_ping(c);
        return;
    }
    if (c->replied || lx_srv_stream_ended(c->st)) return; /* nothing may follow the last event */
    send_sse(c, lx_srv_stream_ping(c->st), true);
    arm_ping(c);
}

static bool on_event(const llmux_event *ev, void *ud) {
    lx_call *c = ud;
    if (c->replied) return false;
    llmux_error_info err;
    if (!c->stream) return llmux_aggregator_add(c->agg, ev, &err) == LLMUX_OK;
    /* A stream to be kept also builds the whole response; failing that only loses the keeping. */
    if (c->agg && llmux_aggregator_add(c->agg, ev, &err) != LLMUX_OK) {
        llmux_aggregator_destroy(c->agg);
        c->agg = NULL;
    }
    if (ev->type == LLMUX_EVENT_ERROR && !c->headers_sent) {
        /* Nothing went out yet: the failure gets its HTTP status. */
        reply_error(c, ev->error->status, ev->error->message, ev->error->retry_after_ms);
        return true;
    }
    /* A client that stopped reading gets no more content, only the stream's end. */
    if (c->overflow && ev->type != LLMUX_EVENT_FINISH && ev->type != LLMUX_EVENT_ERROR) return false;
    char *text = NULL;
    if (!lx_srv_stream_event(c->st, ev, &text)) {
        if (!c->headers_sent) reply_error(c, LLMUX_E_OUT_OF_MEMORY, "out of memory encoding the stream", -1);
        return false;
    }
    send_sse(c, text, false);
    return true;
}

/* Keeps a Responses answer that ended well (completed or incomplete) for previous_response_id and
 * GET /v1/responses/{id}: the conversation with this answer as its last assistant turn, and the
 * response object (object, taken). */
static void keep_response(lx_call *c, const llmux_response *resp, char *object) {
    llmux_finish_reason fr = resp ? resp->finish_reason : LLMUX_FINISH_NONE;
    if (!c->hist_in || !object || fr == LLMUX_FINISH_NONE || fr == LLMUX_FINISH_ERROR || fr == LLMUX_FINISH_CANCELLED) {
        free(object);
        return;
    }
    size_t n = c->hist_in->n_messages, n_input = n;
    llmux_message *m = malloc((n + 1) * sizeof *m);
    if (!m) {
        free(object);
        return;
    }
    if (n) memcpy(m, c->hist_in->messages, n * sizeof *m);
    if (resp->n_parts) m[n++] = (llmux_message){.role = LLMUX_ROLE_ASSISTANT, .parts = resp->parts, .n_parts = resp->n_parts};
    llmux_request h = *c->hist_in;
    h.messages = m;
    h.n_messages = n;
    char *hist = llmux_request_to_json(&h);
    free(m);
    /* What a continuation could not read back (past the canonical JSON's size or message cap)
     * is not kept: the client then gets previous_response_not_found and resends the whole. */
    if (!hist || n > CANON_MAX_MESSAGES || strlen(hist) > LLMUX_JSON_MAX_BYTES) {
        llmux_free(hist);
        free(object);
        return;
    }
    lx_resp_store_put(c->s->resp_store, c->id, lx_auth_key_name(c->s->auth, &c->grant), hist, n_input, object);
}

static void finish_plain(lx_call *c) {
    llmux_response *resp = llmux_aggregator_response(c->agg);
    if (!resp) {
        reply_error(c, LLMUX_E_OUT_OF_MEMORY, "out of memory building the response", -1);
        return;
    }
    if (resp->finish_reason == LLMUX_FINISH_ERROR || resp->finish_reason == LLMUX_FINISH_CANCELLED ||
        resp->finish_reason == LLMUX_FINISH_NONE) {
        llmux_status st = resp->error.status != LLMUX_OK ? resp->error.status
                          : resp->finish_reason == LLMUX_FINISH_CANCELLED ? LLMUX_E_CANCELLED : LLMUX_E_INTERNAL;
        reply_error(c, st, resp->error.message, resp->error.retry_after_ms);
        llmux_response_free(resp);
        return;
    }
    char *body = c->f == LX_SRV_ANTHROPIC          ? lx_srv_anthropic_response(resp, c->id, c->model)
                 : c->f == LX_SRV_OPENAI_TEXT      ? lx_srv_completions_response(resp, c->id, c->model, c->created)
                 : c->f == LX_SRV_OPENAI_RESPONSES
                     ? lx_srv_responses_response(resp, c->id, c->model, c->created, c->prev_id, c->hist_in != NULL,
                                                 &c->custom)
                     : lx_srv_openai_response(resp, c->id, c->model, c->created);
    if (body && c->hist_in) keep_response(c, resp, strdup(body));
    llmux_response_free(resp);
    if (!body) {
        reply_error(c, LLMUX_E_OUT_OF_MEMORY, "out of memory encoding the response", -1);
        return;
    }
    detach(c);
    c->replied = true;
    track_flush(c);
    lx_call_reply_json(c->req, 200, body, -1);
    free(body);
}

static void on_done(llmux_execution *ex, void *ud) {
    lx_call *c = ud;
    /* The key's budget grows by what this execution cost (the records get the same figure). */
    llmux_cost cost;
    if (llmux_execution_cost(ex, &cost) && cost.known) lx_auth_charge(c->s->auth, &c->grant, cost.total);
    if (!c->replied) {
        if (!c->stream) {
            finish_plain(c);
        } else if (c->headers_sent) {
            if (c->hist_in && c->agg) {
                llmux_response *resp = llmux_aggregator_response(c->agg);
                keep_response(c, resp, lx_srv_stream_take_final(c->st));
                llmux_response_free(resp);
            }
            flush(c); /* the last events, before the stream's end */
            detach(c);
            c->replied = true;
            track_flush(c);
            evhttp_send_reply_end(c->req);
        } else {
            reply_error(c, LLMUX_E_INTERNAL, "the execution ended without an answer", -1);
        }
    }
    if (c->starting) c->done_pending = true;
    else call_free(c);
}

/* ----------------------------------------------------------------- start */

static void make_id(lx_call *c) {
    static unsigned long long counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->created = (long)ts.tv_sec;
    const char *prefix = c->f == LX_SRV_ANTHROPIC          ? "msg_"
                         : c->f == LX_SRV_OPENAI_TEXT      ? "cmpl-"
                         : c->f == LX_SRV_OPENAI_RESPONSES ? "resp_"
                                                           : "chatcmpl-";
    snprintf(c->id, sizeof c->id, "%s%llx%lx%llx", prefix, (unsigned long long)ts.tv_sec, (unsigned long)ts.tv_nsec,
             ++counter);
}


/* previous_response_id: the stored conversation goes before the request's own input (its
 * messages; its instructions are not carried over, as in OpenAI's API). *prev owns what the
 * request's messages now point into until the request is submitted. False after answering the
 * client: the id is unknown here (evicted, another key's, never stored, or the store is off) →
 * 400 previous_response_not_found, OpenAI's error. */
static bool continue_from(lx_server *s, struct evhttp_request *req, lx_srv_req *r, const lx_auth_grant *g,
                          llmux_request **prev) {
    const char *id = r->previous_response_id, *hist = NULL, *owner = lx_auth_key_name(s->auth, g);
    llmux_error_info err;
    bool found = s->resp_store && lx_resp_store_get(s->resp_store, id, owner, &hist, NULL, NULL);
    llmux_status st = found ? llmux_request_from_json(hist, strlen(hist), prev, &err) : LLMUX_OK;
    if (st == LLMUX_E_OUT_OF_MEMORY) {
        lx_call_reply_error(req, LX_SRV_OPENAI_RESPONSES, st, "out of memory", -1);
        return false;
    }
    if (st != LLMUX_OK) { /* unreadable (kept ones are checked when kept): forgotten */
        lx_resp_store_delete(s->resp_store, id, owner);
        found = false;
    }
    if (!found) {
        json_t *e = json_pack("{s:{s:o,s:s,s:s,s:s}}", "error", "message",
                              json_sprintf("Previous response with id '%s' not found.%s", id,
                                           s->resp_store ? "" : " (this server keeps no responses: server.limits.responses_store_mb is 0)"),
                              "type", "invalid_request_error", "param", "previous_response_id", "code",
                              "previous_response_not_found");
        char *body = e ? json_dumps(e, JSON_COMPACT) : NULL;
        json_decref(e);
        lx_call_reply_json(req, 400, body ? body : "{}", -1);
        free(body);
        return false;
    }
    size_t np = (*prev)->n_messages, n = np + r->req.n_messages;
    llmux_message *m = lx_srv_alloc(r, (n ? n : 1) * sizeof *m);
    if (!m) {
        lx_call_reply_error(req, LX_SRV_OPENAI_RESPONSES, LLMUX_E_OUT_OF_MEMORY, "out of memory", -1);
        return false;
    }
    if (np) memcpy(m, (*prev)->messages, np * sizeof *m);
    if (r->req.n_messages) memcpy(m + np, r->req.messages, r->req.n_messages * sizeof *m);
    r->req.messages = m;
    r->req.n_messages = n;
    return true;
}

/* The conversation a kept response answers: the request's model and messages only, as an owned
 * request (through its canonical JSON: the public copy). True with *out NULL when the request is
 * invalid: llmux_submit refuses it, saying why. */
static bool hist_copy(const llmux_request *req, llmux_request **out) {
    llmux_request h = llmux_request_default();
    h.model = req->model;
    h.messages = req->messages;
    h.n_messages = req->n_messages;
    llmux_error_info err;
    if (llmux_request_validate(&h, &err) != LLMUX_OK) return true;
    char *json = llmux_request_to_json(&h);
    if (!json) return false;
    /* Past the canonical JSON's cap the conversation is not kept (not an error for this turn). */
    llmux_status st = llmux_request_from_json(json, strlen(json), out, &err);
    llmux_free(json);
    return st != LLMUX_E_OUT_OF_MEMORY;
}

void lx_call_start(lx_server *s, struct evhttp_request *req, lx_srv_format f, const char *request_id,
                   const lx_auth_grant *g) {
    pthread_mutex_lock(&s->mu);
    bool full = s->active >= s->p.max_requests;
    pthread_mutex_unlock(&s->mu);
    if (full) {
        lx_call_reply_error(req, f, LLMUX_E_QUEUE_FULL, "too many requests in flight on this server", 1000);
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    /* libevent enforces the cap while reading; this is the same cap, kept for a body that
     * arrived whole before libevent's check. */
    if (len > s->p.max_body_bytes) {
        lx_call_reply_error(req, f, LLMUX_E_INVALID_REQUEST, "request body too large", -1);
        return;
    }
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    llmux_error_info err;
    lx_srv_req *r = NULL;
    lx_item_lookup items = {.s = s, .owner = lx_auth_key_name(s->auth, g)};
    llmux_status st = f == LX_SRV_ANTHROPIC          ? lx_srv_anthropic_request(body, len, &r, &err)
                      : f == LX_SRV_OPENAI_TEXT      ? lx_srv_completions_request(body, len, &r, &err)
                      : f == LX_SRV_OPENAI_RESPONSES ? lx_srv_responses_request(body, len, lx_responses_stored_item, &items, &r, &err)
                                                : lx_srv_openai_request(body, len, &r, &err);
    /* The translated request owns copies of what it needs. libevent keeps the body (the buffer
     * chunks it read, usually a few KiB) with the request until the answer ends, which for an
     * idle stream is ~10% of what the stream holds (docs/benchmarks.md, "Gateway"); so is the
     * emptied chunk the connection read it into. */
    if (st == LLMUX_OK && f == LX_SRV_ANTHROPIC &&
        !lx_srv_anthropic_betas(r, evhttp_find_header(evhttp_request_get_input_headers(req), "anthropic-beta"), &err)) {
        lx_srv_req_free(r);
        r = NULL;
        st = LLMUX_E_INVALID_REQUEST;
    }
    lx_item_lookup_release(&items);
    evbuffer_drain(in, len);
    lx_conn_trim_read_buffer(req);
    if (st != LLMUX_OK) {
        lx_call_reply_error(req, f, st, err.message, -1);
        return;
    }
    lx_auth_grant grant = *g;
    if (!lx_auth_admit(s, req, f, r->req.model, &grant)) {
        lx_srv_req_free(r);
        return;
    }
    llmux_request *prev = NULL; /* the continued conversation, until submitted */
    if (r->previous_response_id && !continue_from(s, req, r, &grant, &prev)) {
        llmux_request_free(prev);
        lx_auth_release(s->auth, &grant);
        lx_srv_req_free(r);
        return;
    }
    lx_call *c = calloc(1, sizeof *c);
    if (!c || !(c->model = strdup(r->req.model))) {
        free(c);
        llmux_request_free(prev);
        lx_auth_release(s->auth, &grant);
        lx_srv_req_free(r);
        lx_call_reply_error(req, f, LLMUX_E_OUT_OF_MEMORY, "out of memory", -1);
        return;
    }
    c->s = s;
    c->req = req;
    c->f = f;
    c->grant = grant;
    c->stream = r->req.stream;
    make_id(c);
    if (!request_id) evhttp_add_header(evhttp_request_get_output_headers(req), "X-Request-Id", c->id);
    bool ok = c->stream ? (c->st = lx_srv_stream_create(f, c->id, c->model, c->created, r->include_usage)) &&
                              (c->ping = evtimer_new(s->base, on_ping, c))
                        : (c->agg = llmux_aggregator_create()) != NULL;
    if (ok && f == LX_SRV_OPENAI_RESPONSES) {
        ok = (c->stream ? lx_srv_stream_custom_tools(c->st, r->custom_tools, r->n_custom_tools)
                        : lx_srv_names_copy(&c->custom, r->custom_tools, r->n_custom_tools)) &&
             (!r->previous_response_id || (c->prev_id = strdup(r->previous_response_id))) &&
             (!r->store || !s->resp_store || hist_copy(&r->req, &c->hist_in));
        /* Echoed as store: whether this response can be continued and fetched. */
        bool kept = c->hist_in != NULL;
        ok = ok && (!c->stream || lx_srv_stream_responses_state(c->st, c->prev_id, kept)) &&
             (!kept || !c->stream || (c->agg = llmux_aggregator_create()) != NULL);
    }
    ok = ok && lx_srv_tag(r, "request_id", request_id ? request_id : c->id);
    const char *key_name = lx_auth_key_name(s->auth, &c->grant);
    ok = ok && (!key_name || lx_srv_tag(r, "key_name", key_name));
    pthread_mutex_lock(&s->mu);
    s->active++;
    pthread_mutex_unlock(&s->mu);
    c->next = s->calls;
    if (s->calls) s->calls->prev = c;
    s->calls = c;
    if (!ok) {
        llmux_request_free(prev);
        lx_srv_req_free(r);
        reply_error(c, LLMUX_E_OUT_OF_MEMORY, "out of memory", -1);
        call_free(c);
        return;
    }
    llmux_submit_params sp = llmux_submit_default_params();
    sp.on_event = on_event;
    sp.on_done = on_done;
    sp.user_data = c;
    c->starting = true;
    st = llmux_submit(s->rt, &r->req, &sp, &c->ex, &err);
    c->starting = false;
    lx_srv_req_free(r); /* llmux_submit copied it */
    llmux_request_free(prev);
    if (c->done_pending) {
        call_free(c);
        return;
    }
    if (st != LLMUX_OK) {
        reply_error(c, st, err.message, err.retry_after_ms);
        call_free(c);
        return;
    }
    c->evcon = evhttp_request_get_connection(req);
    if (c->evcon && !c->replied) {
        evhttp_connection_set_closecb(c->evcon, on_close, c);
        c->watch = lx_conn_watch_start(s->base, c->evcon, client_gone, c);
        /* Everything the call needs from the headers was copied (request_id, into the
         * metadata): the rest would stay with the request for the whole answer. */
        lx_conn_trim_request_headers(req);
    }
}

void lx_call_cancel_all(lx_server *s) {
    for (lx_call *c = s->calls; c; c = c->next) llmux_execution_cancel(c->ex);
}

void lx_call_abandon_all(lx_server *s) {
    for (lx_call *c = s->calls; c; c = c->next) {
        detach(c);
        c->replied = true; /* its request dies with its connection: never touched again */
    }
}
