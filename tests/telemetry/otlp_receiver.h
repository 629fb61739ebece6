/* A tiny OTLP/HTTP collector for tests: a libevent HTTP server on its own thread on loopback that
 * keeps every POST body (parsed as JSON) and answers 200 (or a configured status). Header-only;
 * include after <cmocka.h>. */
#ifndef LX_TEST_OTLP_RECEIVER_H
#define LX_TEST_OTLP_RECEIVER_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct otlp_receiver {
    struct event_base *base;
    struct evhttp *http;
    pthread_t thread;
    int port;
    int status;                 /* answered to every POST */
    pthread_mutex_t mu;
    json_t *spans;              /* every span received, in arrival order */
    int posts;
    char path[128];             /* the last request's path */
    char content_type[128];     /* the last request's Content-Type */
} otlp_receiver;

static void otlp_receiver_on_request(struct evhttp_request *req, void *arg) {
    otlp_receiver *r = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    char *body = malloc(n + 1);
    evbuffer_remove(in, body, n);
    body[n] = 0;
    json_t *doc = json_loadb(body, n, 0, NULL);
    free(body);
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    pthread_mutex_lock(&r->mu);
    r->posts++;
    snprintf(r->path, sizeof r->path, "%s", evhttp_request_get_uri(req));
    snprintf(r->content_type, sizeof r->content_type, "%s", ct ? ct : "");
    /* resourceSpans[].scopeSpans[].spans[] */
    json_t *rs, *ss, *sp;
    size_t i, j, k;
    json_array_foreach(json_object_get(doc, "resourceSpans"), i, rs) {
        json_array_foreach(json_object_get(rs, "scopeSpans"), j, ss) {
            json_array_foreach(json_object_get(ss, "spans"), k, sp) json_array_append(r->spans, sp);
        }
    }
    pthread_mutex_unlock(&r->mu);
    json_decref(doc);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "{}");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, r->status, "X", b);
    evbuffer_free(b);
}

static void otlp_receiver_break(evutil_socket_t fd, short what, void *base) {
    (void)fd;
    (void)what;
    event_base_loopbreak(base);
}

static void *otlp_receiver_main(void *arg) {
    event_base_dispatch(((otlp_receiver *)arg)->base);
    return NULL;
}

static inline void otlp_receiver_start(otlp_receiver *r, int status) {
    memset(r, 0, sizeof *r);
    r->status = status;
    r->spans = json_array();
    pthread_mutex_init(&r->mu, NULL);
    assert_int_equal(evthread_use_pthreads(), 0);
    r->base = event_base_new();
    r->http = evhttp_new(r->base);
    assert_non_null(r->http);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(r->http, "127.0.0.1", 0);
    assert_non_null(bs);
    struct sockaddr_in sa;
    ev_socklen_t len = sizeof sa;
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &len), 0);
    r->port = ntohs(sa.sin_port);
    evhttp_set_gencb(r->http, otlp_receiver_on_request, r);
    assert_int_equal(pthread_create(&r->thread, NULL, otlp_receiver_main, r), 0);
}

static inline void otlp_receiver_url(const otlp_receiver *r, char *buf, size_t size) {
    snprintf(buf, size, "http://127.0.0.1:%d", r->port);
}

static inline size_t otlp_receiver_count(otlp_receiver *r) {
    pthread_mutex_lock(&r->mu);
    size_t n = json_array_size(r->spans);
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* Waits up to ms for at least n spans; returns how many arrived. */
static inline size_t otlp_receiver_wait(otlp_receiver *r, size_t n, int ms) {
    for (int waited = 0; waited < ms; waited += 10) {
        if (otlp_receiver_count(r) >= n) break;
        usleep(10000);
    }
    return otlp_receiver_count(r);
}

static inline void otlp_receiver_stop(otlp_receiver *r) {
    /* A break requested from here is lost when the loop thread has not entered its loop yet (the
     * loop clears the flag when it starts): a zero timeout queued on the base breaks the loop
     * from inside, whenever it runs. */
    struct timeval now = {0, 0};
    event_base_once(r->base, -1, EV_TIMEOUT, otlp_receiver_break, r->base, &now);
    pthread_join(r->thread, NULL);
    evhttp_free(r->http);
    event_base_free(r->base);
    json_decref(r->spans);
    pthread_mutex_destroy(&r->mu);
}

/* The value of attribute key in span (stringValue, or intValue as its decimal string); NULL when
 * absent. */
static inline const char *otlp_attr(json_t *span, const char *key) {
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(span, "attributes"), i, a) {
        if (strcmp(json_string_value(json_object_get(a, "key")), key) != 0) continue;
        json_t *v = json_object_get(a, "value");
        json_t *s = json_object_get(v, "stringValue");
        if (!s) s = json_object_get(v, "intValue");
        return json_string_value(s);
    }
    return NULL;
}

/* A closed loopback port: bound then closed, so connecting is refused. */
static inline int otlp_closed_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    return ntohs(sa.sin_port);
}

#endif
