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
    event_base_loopbreak(u->base);
    pthread_join(u->thread, NULL);
    evhttp_free(u->http);
    event_base_free(u->base);
    free(u->body);
}

#endif
