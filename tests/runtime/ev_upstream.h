/* An upstream for tests that need many requests or connections at once (the scripted fake
 * server serves a bounded script): a libevent HTTP server on its own thread in the test process,
 * answering every request with the same status and body, counting requests. Header-only;
 * include after <cmocka.h>. */
#ifndef LX_TEST_EV_UPSTREAM_H
#define LX_TEST_EV_UPSTREAM_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "llmux.h"
#include "support/fake_server.h"

typedef struct ev_upstream {
    struct event_base *base;
    struct evhttp *http;
    pthread_t thread;
    int port;
    int status;
    const char *ctype;
    char *body;
    size_t body_len;
    atomic_int requests;
} ev_upstream;

static void ev_upstream_on_request(struct evhttp_request *req, void *arg) {
    ev_upstream *u = arg;
    atomic_fetch_add(&u->requests, 1);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", u->ctype);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, u->body, u->body_len);
    evhttp_send_reply(req, u->status, "X", b);
    evbuffer_free(b);
}

static void ev_upstream_break(evutil_socket_t fd, short what, void *base) {
    (void)fd;
    (void)what;
    event_base_loopbreak(base);
}

static void *ev_upstream_main(void *arg) {
    event_base_dispatch(((ev_upstream *)arg)->base);
    return NULL;
}

/* Serves body_file (repository-relative) with status and content type to every request. */
static inline void ev_upstream_start(ev_upstream *u, int status, const char *ctype, const char *body_file) {
    memset(u, 0, sizeof *u);
    u->status = status;
    u->ctype = ctype;
    u->body = lx_fake_read_file(body_file, &u->body_len);
    assert_non_null(u->body);
    assert_int_equal(evthread_use_pthreads(), 0);
    u->base = event_base_new();
    u->http = evhttp_new(u->base);
    assert_non_null(u->http);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(u->http, "127.0.0.1", 0);
    assert_non_null(bs);
    struct sockaddr_in sa;
    ev_socklen_t len = sizeof sa;
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &len), 0);
    u->port = ntohs(sa.sin_port);
    evhttp_set_gencb(u->http, ev_upstream_on_request, u);
    assert_int_equal(pthread_create(&u->thread, NULL, ev_upstream_main, u), 0);
}

static inline void ev_upstream_url(const ev_upstream *u, char *buf, size_t size) {
    snprintf(buf, size, "http://127.0.0.1:%d/v1", u->port);
}

static inline void ev_upstream_stop(ev_upstream *u) {
    /* A break requested from here is lost when the loop thread has not entered its loop yet (the
     * loop clears the flag when it starts): a zero timeout queued on the base breaks the loop
     * from inside, whenever it runs. */
    struct timeval now = {0, 0};
    event_base_once(u->base, -1, EV_TIMEOUT, ev_upstream_break, u->base, &now);
    pthread_join(u->thread, NULL);
    evhttp_free(u->http);
    event_base_free(u->base);
    free(u->body);
}

/* Providers "a" and "b", each on its own ev_upstream serving `body_file` as an SSE stream, behind
 * the alias `alias` = [a/m weight wa, b/m weight wb]; records at `records` (NULL = none). */
typedef struct ev_pair {
    ev_upstream ua, ub;
    char url_a[64], url_b[64];
    llmux_provider_params p[2];
    llmux_alias_target t[2];
    llmux_alias al;
    llmux_runtime *rt;
} ev_pair;

static inline void ev_pair_start(ev_pair *e, const char *body_file, const char *alias, uint32_t wa, uint32_t wb,
                                 const char *records) {
    memset(e, 0, sizeof *e);
    ev_upstream_start(&e->ua, 200, "text/event-stream", body_file);
    ev_upstream_start(&e->ub, 200, "text/event-stream", body_file);
    ev_upstream_url(&e->ua, e->url_a, sizeof e->url_a);
    ev_upstream_url(&e->ub, e->url_b, sizeof e->url_b);
    e->p[0] = (llmux_provider_params){.name = "a", .protocol = "openai", .base_url = e->url_a, .api_key = "k"};
    e->p[1] = (llmux_provider_params){.name = "b", .protocol = "openai", .base_url = e->url_b, .api_key = "k"};
    e->t[0] = (llmux_alias_target){.model = "a/m", .weight = wa};
    e->t[1] = (llmux_alias_target){.model = "b/m", .weight = wb};
    e->al = (llmux_alias){.name = alias, .targets = e->t, .n_targets = 2};
    llmux_runtime_params rp = llmux_runtime_default_params();
    rp.providers = e->p;
    rp.n_providers = 2;
    rp.aliases = &e->al;
    rp.n_aliases = 1;
    rp.records = records;
    assert_int_equal(llmux_runtime_create(&rp, &e->rt, NULL), LLMUX_OK);
}

/* Destroys the runtime (flushing its records) if still there, then stops both upstreams. */
static inline void ev_pair_stop(ev_pair *e) {
    llmux_runtime_destroy(e->rt);
    e->rt = NULL;
    ev_upstream_stop(&e->ua);
    ev_upstream_stop(&e->ub);
}

#endif
