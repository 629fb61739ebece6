/* One client connection of the IPC server: handshake, session, frames in and out, and the
 * executions it runs. Loop thread only (bufferevent callbacks and llmux_submit callbacks both run
 * there), so nothing here locks except the server's counters.
 *
 * Closing: a protocol violation sends a fatal error frame, cancels (frees) the connection's
 * executions at once, stops reading, and frees the connection once the error frame is written or
 * after a short delay. A connection that the peer closed (EOF or error) is freed in the same
 * callback, which frees its executions: each is cancelled within that loop turn (the upstream
 * transfer is removed, or the engine stops at its next step). Frees requested from inside an
 * execution callback are deferred to the next loop turn (reaper). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "server/ipc/internal.h"
#include "core/ipc_message.h"
#include "server/ipc/pong_stats.h"

/* How long a closing connection may take to read its last error frame. */
#define CLOSE_LINGER_MS 2000

typedef struct ipc_exec ipc_exec;

struct ipc_exec {
    lx_ipc_conn *c;
    char id[LX_IPC_MAX_ID + 1];
    llmux_execution *ex;
    llmux_aggregator *agg;      /* the response frame is built from the events */
    bool stream;                /* the request asked for events; else only the response */
    bool starting;              /* inside llmux_submit: an on_done there defers the free to us */
    bool done_pending;
    bool client_cancel;         /* a cancel frame asked for it */
    ipc_exec *prev, *next;
};

struct lx_ipc_conn {
    lx_ipc_server *s;
    struct bufferevent *bev;
    struct event *timer;        /* the handshake deadline, then the closing linger */
    struct event *reaper;       /* frees the connection on the next loop turn */
    bool authed;
    bool trusted;               /* inherited from the parent: the hello's token is not compared */
    bool closing;               /* no more input is handled; freed soon */
    bool overflow;              /* the client left too much unread: its executions were cancelled */
    char session[LX_IPC_SESSION_HEX + 1];
    ipc_exec *execs;
    int n_execs;
    struct ucred peer;          /* SO_PEERCRED (pid, uid), kept for diagnostics: the socket's
                                   mode already limits who connects, the token authenticates */
    lx_ipc_conn *prev, *next;
};

static void counter_add(lx_ipc_server *s, int *field, int d) {
    pthread_mutex_lock(&s->mu);
    *field += d;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------ lifetime */

static void exec_free(ipc_exec *e) {
    lx_ipc_conn *c = e->c;
    if (e->prev) e->prev->next = e->next;
    else c->execs = e->next;
    if (e->next) e->next->prev = e->prev;
    c->n_execs--;
    llmux_execution_free(e->ex); /* cancels a running one; none of its callbacks runs after this */
    llmux_aggregator_destroy(e->agg);
    free(e);
    counter_add(c->s, &c->s->active, -1);
}

static void free_execs(lx_ipc_conn *c) {
    while (c->execs) exec_free(c->execs);
}

static void conn_free(lx_ipc_conn *c) {
    lx_ipc_server *s = c->s;
    lx_ipc_calls_detach(s, c);
    free_execs(c);
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    if (c->bev) bufferevent_free(c->bev);
    if (c->timer) event_free(c->timer);
    if (c->reaper) event_free(c->reaper);
    explicit_bzero(c->session, sizeof c->session);
    free(c);
    counter_add(s, &s->n_conns, -1);
}

static void on_reap(evutil_socket_t fd, short what, void *arg) { conn_free(arg); }

/* Frees the connection on the next loop turn: safe from inside any callback. */
static void reap_soon(lx_ipc_conn *c) {
    c->closing = true;
    event_active(c->reaper, EV_TIMEOUT, 0);
}

/* ------------------------------------------------------------- output */

static size_t unsent(const lx_ipc_conn *c) { return evbuffer_get_length(bufferevent_get_output(c->bev)); }

static void cancel_execs(lx_ipc_conn *c) {
    for (ipc_exec *e = c->execs; e; e = e->next) llmux_execution_cancel(e->ex);
}

/* Queues one frame (payload is freed). False when it was not sent: out of memory, larger than
 * the frame cap, or the connection is going away. Past the unsent cap the connection's
 * executions are cancelled (only their terminal events and responses go out after that); past
 * twice the cap plus one frame (room for such a response) the connection is dropped. */
static bool send_payload(lx_ipc_conn *c, char *payload) {
    if (!payload) return false;
    size_t len = strlen(payload);
    bool ok = !c->closing && len <= c->s->p.max_frame_bytes;
    if (ok) {
        uint8_t h[LX_FRAME_HEADER_BYTES];
        lx_frame_put_header(h, (uint32_t)len);
        struct evbuffer *out = bufferevent_get_output(c->bev);
        ok = evbuffer_expand(out, sizeof h + len) == 0 && evbuffer_add(out, h, sizeof h) == 0 &&
             evbuffer_add(out, payload, len) == 0;
    }
    free(payload);
    if (!ok || c->closing) return ok;
    size_t n = unsent(c);
    if (n > 2 * c->s->p.max_unsent_bytes + c->s->p.max_frame_bytes) {
        reap_soon(c);
    } else if (n > c->s->p.max_unsent_bytes && !c->overflow) {
        c->overflow = true;
        cancel_execs(c);
    }
    return ok;
}

static void send_error(lx_ipc_conn *c, const char *id, llmux_status st, const char *msg, bool fatal) {
    char *p = lx_ipc_error(c->authed ? c->session : NULL, id, llmux_status_name(st), msg, fatal);
    /* jansson refuses a message that is not UTF-8 (an upstream's text): say so rather than nothing. */
    if (!p) p = lx_ipc_error(c->authed ? c->session : NULL, id, llmux_status_name(st), "(message not UTF-8)", fatal);
    send_payload(c, p);
}

/* A protocol violation: the error frame, then the connection goes (its executions at once). */
static void fatal(lx_ipc_conn *c, const char *id, llmux_status st, const char *msg) {
    if (c->closing) return;
    send_error(c, id, st, msg, true);
    c->closing = true;
    free_execs(c);
    bufferevent_disable(c->bev, EV_READ);
    struct timeval tv = {.tv_sec = CLOSE_LINGER_MS / 1000, .tv_usec = (CLOSE_LINGER_MS % 1000) * 1000};
    evtimer_add(c->timer, &tv);
    if (unsent(c) == 0) reap_soon(c);
}

/* ---------------------------------------------------------- executions */

static bool on_event(const llmux_event *ev, void *ud) {
    ipc_exec *e = ud;
    lx_ipc_conn *c = e->c;
    if (c->closing) return false;
    llmux_error_info info;
    if (llmux_aggregator_add(e->agg, ev, &info) != LLMUX_OK) return false;
    bool terminal = ev->type == LLMUX_EVENT_FINISH || ev->type == LLMUX_EVENT_ERROR;
    if (!e->stream || (c->overflow && !terminal)) return true;
    /* A cancelled stream ends with an error event of class cancelled that says who cancelled,
     * as an HTTP stream does; the response frame keeps finish_reason "cancelled". */
    llmux_event cancelled;
    if (ev->type == LLMUX_EVENT_FINISH && ev->finish_reason == LLMUX_FINISH_CANCELLED) {
        memset(&info, 0, sizeof info);
        info.status = LLMUX_E_CANCELLED;
        info.retry_after_ms = -1;
        snprintf(info.message, sizeof info.message, "%s",
                 e->client_cancel ? "cancelled by the client"
                 : c->overflow   ? "cancelled: the client left too much of its answers unread"
                 : !c->s->accepting ? "cancelled: the server is stopping"
                                    : "cancelled");
        memset(&cancelled, 0, sizeof cancelled);
        cancelled.type = LLMUX_EVENT_ERROR;
        cancelled.error = &info;
        ev = &cancelled;
    }
    char *j = llmux_event_to_json(ev);
    char *frame = j ? lx_ipc_wrap(LX_IPC_EVENT, c->session, e->id, j) : NULL;
    llmux_free(j);
    if (!frame) return false;
    if (strlen(frame) > c->s->p.max_frame_bytes) {
        free(frame);
        send_error(c, e->id, LLMUX_E_INVALID_REQUEST, "an event exceeds the frame size cap", false);
        return false;
    }
    send_payload(c, frame);
    return true;
}

static void send_response(ipc_exec *e) {
    lx_ipc_conn *c = e->c;
    llmux_response *resp = llmux_aggregator_response(e->agg);
    char *j = resp ? llmux_response_to_json(resp) : NULL;
    llmux_response_free(resp);
    char *frame = j ? lx_ipc_wrap(LX_IPC_RESPONSE, c->session, e->id, j) : NULL;
    llmux_free(j);
    if (!frame) {
        send_error(c, e->id, LLMUX_E_OUT_OF_MEMORY, "out of memory encoding the response", false);
    } else if (strlen(frame) > c->s->p.max_frame_bytes) {
        free(frame);
        send_error(c, e->id, LLMUX_E_INVALID_REQUEST,
                   "the response exceeds the frame size cap (stream it: its events carry the same content)", false);
    } else {
        send_payload(c, frame);
    }
}

static void on_done(llmux_execution *ex, void *ud) {
    ipc_exec *e = ud;
    if (!e->c->closing) send_response(e);
    if (e->starting) e->done_pending = true;
    else exec_free(e);
}

static ipc_exec *find_exec(lx_ipc_conn *c, const char *id) {
    for (ipc_exec *e = c->execs; e; e = e->next)
        if (strcmp(e->id, id) == 0) return e;
    return NULL;
}

/* The request as submitted: req with {"request_id": id} appended to its metadata, so the
 * execution record can be found by the client's id (as the HTTP server does with X-Request-Id);
 * unless the client tagged one itself or the metadata is full (256). A shallow copy: *kv holds
 * the new array (the caller frees it after llmux_submit, which copies the request). */
static llmux_request tagged(const llmux_request *req, const char *id, llmux_kv **kv) {
    llmux_request r = *req;
    *kv = NULL;
    for (size_t i = 0; i < req->n_metadata; i++)
        if (strcmp(req->metadata[i].key, "request_id") == 0) return r;
    if (req->n_metadata >= 256 || !(*kv = malloc((req->n_metadata + 1) * sizeof **kv))) return r;
    if (req->n_metadata) memcpy(*kv, req->metadata, req->n_metadata * sizeof **kv);
    (*kv)[req->n_metadata] = (llmux_kv){.key = "request_id", .value = id};
    r.metadata = *kv;
    r.n_metadata = req->n_metadata + 1;
    return r;
}

/* `llmux engine --test-hooks` only (ipc.h): how the supervision tests make a real engine child
 * crash, hang or break its sandbox on request. */
static void test_hook(const llmux_request *req) {
    for (size_t i = 0; i < req->n_metadata; i++) {
        if (strcmp(req->metadata[i].key, "llmux_test_hook") != 0) continue;
        const char *v = req->metadata[i].value;
        if (strcmp(v, "abort") == 0) abort();
        if (strcmp(v, "hang") == 0)
            for (;;) sleep(3600); /* the loop thread stops: no pong, no event any more */
        if (strcmp(v, "exec") == 0) {
            char *argv[] = {"/bin/sh", NULL};
            execve("/bin/sh", argv, NULL); /* the seccomp filter kills the process (SIGSYS) */
            abort();
        }
    }
}

static void start_exec(lx_ipc_conn *c, const lx_ipc_msg *m) {
    lx_ipc_server *s = c->s;
    if (!s->accepting) {
        send_error(c, m->id, LLMUX_E_OVERLOADED, "the server is shutting down", false);
        return;
    }
    if (c->overflow) {
        send_error(c, m->id, LLMUX_E_OVERLOADED, "this connection left too much of its answers unread", false);
        return;
    }
    if (find_exec(c, m->id)) {
        send_error(c, m->id, LLMUX_E_INVALID_REQUEST, "id: an execution with this id is in flight on this connection",
                   false);
        return;
    }
    if (c->n_execs >= s->p.max_executions) {
        char msg[128];
        snprintf(msg, sizeof msg, "at most %d executions in flight per connection", s->p.max_executions);
        send_error(c, m->id, LLMUX_E_QUEUE_FULL, msg, false);
        return;
    }
    char *body = json_dumps(m->body, JSON_COMPACT);
    llmux_request *req = NULL;
    llmux_error_info err;
    llmux_status st = LLMUX_E_OUT_OF_MEMORY;
    snprintf(err.message, sizeof err.message, "out of memory");
    if (body) st = llmux_request_from_json(body, strlen(body), &req, &err);
    free(body);
    if (st != LLMUX_OK) {
        send_error(c, m->id, st, err.message, false);
        return;
    }
    if (s->p.test_hooks) test_hook(req);
    if (s->p.local_only && llmux_model_kind_of(req->model) == LLMUX_MODEL_REMOTE) {
        llmux_request_free(req);
        send_error(c, m->id, LLMUX_E_MODEL_NOT_FOUND, "model: this engine serves local models only", false);
        return;
    }
    ipc_exec *e = calloc(1, sizeof *e);
    if (!e || !(e->agg = llmux_aggregator_create())) {
        free(e);
        llmux_request_free(req);
        send_error(c, m->id, LLMUX_E_OUT_OF_MEMORY, "out of memory", false);
        return;
    }
    e->c = c;
    snprintf(e->id, sizeof e->id, "%s", m->id);
    e->stream = req->stream;
    e->next = c->execs;
    if (c->execs) c->execs->prev = e;
    c->execs = e;
    c->n_execs++;
    counter_add(s, &s->active, 1);
    llmux_submit_params sp = llmux_submit_default_params();
    sp.on_event = on_event;
    sp.on_done = on_done;
    sp.user_data = e;
    llmux_kv *kv;
    llmux_request sub = tagged(req, e->id, &kv);
    e->starting = true;
    st = llmux_submit(s->rt, &sub, &sp, &e->ex, &err);
    e->starting = false;
    free(kv);
    llmux_request_free(req); /* llmux_submit copied it */
    if (e->done_pending) {
        exec_free(e);
        return;
    }
    if (st != LLMUX_OK) {
        send_error(c, m->id, st, err.message, false);
        exec_free(e);
    }
}

/* ------------------------------------------------------------- input */

static void handshake(lx_ipc_conn *c, const lx_ipc_msg *m) {
    if (m->type != LX_IPC_HELLO) {
        fatal(c, m->id, LLMUX_E_AUTHENTICATION, "the first message must be a hello with the token");
        return;
    }
    if (!c->trusted && !lx_ipc_token_equal(c->s->ep.token, m->token, m->token_len)) {
        fatal(c, NULL, LLMUX_E_AUTHENTICATION, "wrong token");
        return;
    }
    if (!lx_ipc_random_hex(c->session, LX_IPC_SESSION_BYTES)) {
        fatal(c, NULL, LLMUX_E_INTERNAL, "no randomness for a session id");
        return;
    }
    c->authed = true;
    evtimer_del(c->timer);
    const lx_ipc_params *p = &c->s->p;
    send_payload(c, p->sandbox_landlock_abi >= 0
                        ? lx_ipc_welcome_sandboxed(c->session, p->max_frame_bytes, p->max_executions,
                                                   p->sandbox_landlock_abi, p->sandbox_warning)
                        : lx_ipc_welcome(c->session, p->max_frame_bytes, p->max_executions));
}

static void handle_frame(lx_ipc_conn *c, const char *p, size_t n) {
    lx_ipc_msg m;
    char err[256];
    if (!lx_ipc_msg_parse(p, n, &m, err, sizeof err)) {
        /* Before the handshake nothing but a valid hello is acceptable. */
        if (!c->authed) fatal(c, NULL, LLMUX_E_AUTHENTICATION, err);
        else send_error(c, m.id, LLMUX_E_INVALID_REQUEST, err, false);
        lx_ipc_msg_clear(&m);
        return;
    }
    if (!c->authed) {
        handshake(c, &m);
    } else if (!m.session || strcmp(m.session, c->session) != 0) {
        fatal(c, m.id, LLMUX_E_AUTHENTICATION, "wrong session id");
    } else if (m.type == LX_IPC_REQUEST) {
        start_exec(c, &m);
    } else if (m.type == LX_IPC_CALL) {
        lx_ipc_call_start(c, &m);
    } else if (m.type == LX_IPC_PING) {
        /* Answered here, on the loop thread: a pong proves the loop turns (a supervisor's
         * heartbeat); decoding runs on the engine threads and does not delay it. An engine
         * (local_only) adds its models' gauges for the supervisor's metrics (pong_stats.h). */
        char *pong = NULL;
        if (c->s->p.local_only) {
            lx_ipc_model_stat st[LX_IPC_MAX_MODEL_STATS];
            size_t n_st = lx_ipc_local_stats(c->s->rt, st, LX_IPC_MAX_MODEL_STATS);
            pong = lx_ipc_pong_with_models(c->session, m.id, c->n_execs, st, n_st);
        }
        send_payload(c, pong ? pong : lx_ipc_pong(c->session, m.id, c->n_execs));
    } else if (m.type == LX_IPC_CANCEL) {
        /* An id that is not in flight (it may have just ended) is ignored. */
        ipc_exec *e = find_exec(c, m.id);
        if (e) {
            e->client_cancel = true;
            llmux_execution_cancel(e->ex);
        } else {
            lx_ipc_calls_cancel(c->s, c, m.id);
        }
    } else {
        char msg[96];
        snprintf(msg, sizeof msg, "type: a client does not send %s messages", lx_ipc_type_name(m.type));
        send_error(c, m.id, LLMUX_E_INVALID_REQUEST, msg, false);
    }
    lx_ipc_msg_clear(&m);
}

static void on_read(struct bufferevent *bev, void *arg) {
    lx_ipc_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (!c->closing) {
        size_t have = evbuffer_get_length(in), len = 0;
        const uint8_t *h = evbuffer_pullup(in, have < LX_FRAME_HEADER_BYTES ? (ev_ssize_t)have : LX_FRAME_HEADER_BYTES);
        lx_frame_status st = lx_frame_peek(h, have, c->s->p.max_frame_bytes, &len);
        if (st == LX_FRAME_NEED_MORE) break;
        if (st == LX_FRAME_TOO_LARGE) {
            char msg[128];
            snprintf(msg, sizeof msg, "a frame of %zu bytes exceeds the cap of %zu bytes", len, c->s->p.max_frame_bytes);
            fatal(c, NULL, LLMUX_E_INVALID_REQUEST, msg);
            break;
        }
        evbuffer_drain(in, LX_FRAME_HEADER_BYTES);
        const char *p = len ? (const char *)evbuffer_pullup(in, (ev_ssize_t)len) : "";
        if (!p) {
            fatal(c, NULL, LLMUX_E_OUT_OF_MEMORY, "out of memory reading a frame");
            break;
        }
        handle_frame(c, p, len);
        evbuffer_drain(in, len);
    }
}

static void on_write(struct bufferevent *bev, void *arg) {
    lx_ipc_conn *c = arg;
    if (unsent(c) != 0) return;
    /* The last error frame of a closing connection is out. */
    if (c->closing) reap_soon(c);
    /* A client that caught up may run new executions (the cancelled ones stay cancelled). */
    else c->overflow = false;
}

static void on_sock_event(struct bufferevent *bev, short what, void *arg) {
    /* EOF or an error: the client is gone (a half-close counts: answers would have no reader
     * that can ask for more). Its executions are cancelled right here. */
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) conn_free(arg);
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
    lx_ipc_conn *c = arg;
    if (c->closing) reap_soon(c); /* the linger after a fatal error ran out */
    else if (!c->authed) fatal(c, NULL, LLMUX_E_TIMEOUT, "no hello before the handshake timeout");
}

void lx_ipc_conn_accept(lx_ipc_server *s, int fd, bool trusted) {
    pthread_mutex_lock(&s->mu);
    bool full = s->n_conns >= s->p.max_connections;
    pthread_mutex_unlock(&s->mu);
    lx_ipc_conn *c = !s->accepting || full ? NULL : calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->s = s;
    c->trusted = trusted;
    socklen_t len = sizeof c->peer;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->peer, &len) != 0) memset(&c->peer, 0, sizeof c->peer);
    evutil_make_socket_nonblocking(fd);
    c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->timer = evtimer_new(s->base, on_timer, c);
    c->reaper = event_new(s->base, -1, 0, on_reap, c);
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    counter_add(s, &s->n_conns, 1);
    if (!c->bev || !c->timer || !c->reaper) {
        if (!c->bev) close(fd);
        conn_free(c);
        return;
    }
    bufferevent_setcb(c->bev, on_read, on_write, on_sock_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    struct timeval tv = {.tv_sec = s->p.handshake_timeout_ms / 1000, .tv_usec = (s->p.handshake_timeout_ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
}

void lx_ipc_conn_cancel_all(lx_ipc_server *s) {
    for (lx_ipc_conn *c = s->conns; c; c = c->next) cancel_execs(c);
    lx_ipc_calls_cancel_all(s);
}

lx_ipc_server *lx_ipc_conn_server(lx_ipc_conn *c) { return c->s; }

const char *lx_ipc_conn_session(const lx_ipc_conn *c) { return c->session; }

bool lx_ipc_conn_send(lx_ipc_conn *c, char *payload) { return send_payload(c, payload); }

void lx_ipc_conn_send_error(lx_ipc_conn *c, const char *id, llmux_status st, const char *msg) {
    send_error(c, id, st, msg, false);
}

void lx_ipc_conn_close_all(lx_ipc_server *s) {
    while (s->conns) conn_free(s->conns);
}

size_t lx_ipc_conn_unsent(lx_ipc_server *s) {
    size_t n = 0;
    for (lx_ipc_conn *c = s->conns; c; c = c->next)
        if (!c->closing) n += unsent(c);
    return n;
}
