/* bench_gateway_upstream: the fake OpenAI-compatible upstream every path of bench/gateway/run.sh
 * talks to (direct, nginx, Portkey, llmux serve), so the only difference between the paths is the
 * gateway. One libevent evhttp loop on loopback, keep-alive, answers precomputed:
 *
 *   POST .../chat/completions, "stream": false → one chat.completion JSON (Content-Length)
 *   POST .../chat/completions, "stream": true  → CHUNKS content chunks, a finish chunk, a usage
 *                                                chunk and [DONE], each SSE event its own HTTP chunk
 *   same, with "model": "bench-hold"            → the role chunk and one content chunk, then the
 *                                                stream is held open until the client goes (the
 *                                                idle-stream memory figure; a gateway may wait for
 *                                                content before it answers at all, as llmux does)
 *   GET /health                                 → 200 ok
 *
 * usage: bench_gateway_upstream [--port P] [--chunks N]   (port 0 = any; prints "port N") */
#define _DEFAULT_SOURCE
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#define UPSTREAM_MAX_BODY (1024 * 1024) /* requests are ~100 bytes; anything larger is refused */
#define UPSTREAM_MAX_CHUNKS 100000
#define HOLD_MODEL "bench-hold"

typedef struct upstream {
    char *completion; /* the non-streaming answer */
    size_t completion_len;
    char *role_chunk; /* first SSE event */
    char *content_chunk;
    char *tail; /* finish chunk + usage chunk + [DONE] */
    int n_chunks;
    long held; /* streams held open so far (bench-hold) */
} upstream;

#define CHUNK_HEAD "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-bench\","

static int build_answers(upstream *u) {
    u->completion = strdup("{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\",\"created\":1700000000,"
                           "\"model\":\"gpt-bench\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                           "\"content\":\"Hello from the bench upstream, a short answer of a few tokens.\"},"
                           "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":16,"
                           "\"total_tokens\":27}}");
    u->role_chunk = strdup(CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                                      "\"finish_reason\":null}]}\n\n");
    u->content_chunk = strdup(CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" token\"},"
                                         "\"finish_reason\":null}]}\n\n");
    u->tail = strdup(CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n" CHUNK_HEAD
                                "\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":16,"
                                "\"total_tokens\":27}}\n\ndata: [DONE]\n\n");
    if (!u->completion || !u->role_chunk || !u->content_chunk || !u->tail) return -1;
    u->completion_len = strlen(u->completion);
    return 0;
}

/* Small writes of a stream must leave at once, not wait for an ACK (evhttp leaves Nagle on). */
static void no_delay(struct evhttp_request *req) {
    struct evhttp_connection *c = evhttp_request_get_connection(req);
    struct bufferevent *bev = c ? evhttp_connection_get_bufferevent(c) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    int one = 1;
    if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void reply_text(struct evhttp_request *req, int code, const char *type, const char *body, size_t len) {
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
    evbuffer_add(out, body, len);
    evhttp_send_reply(req, code, code == 200 ? "OK" : "Bad Request", out);
    evbuffer_free(out);
}

static void send_event(struct evhttp_request *req, const char *event) {
    struct evbuffer *b = evbuffer_new();
    if (!b) return;
    evbuffer_add_reference(b, event, strlen(event), NULL, NULL);
    evhttp_send_reply_chunk(req, b);
    evbuffer_free(b);
}

static void stream(upstream *u, struct evhttp_request *req, bool hold) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_send_reply_start(req, 200, "OK");
    send_event(req, u->role_chunk);
    send_event(req, u->content_chunk);
    if (hold) {
        /* Held until the client closes; libevent frees the request with its connection. */
        u->held++;
        return;
    }
    for (int i = 1; i < u->n_chunks; i++) send_event(req, u->content_chunk);
    send_event(req, u->tail);
    evhttp_send_reply_end(req);
}

static void on_request(struct evhttp_request *req, void *arg) {
    upstream *u = arg;
    const char *uri = evhttp_request_get_uri(req);
    no_delay(req);
    if (evhttp_request_get_command(req) == EVHTTP_REQ_GET && strcmp(uri, "/health") == 0) {
        reply_text(req, 200, "text/plain", "ok", 2);
        return;
    }
    size_t ulen = strlen(uri);
    const char *route = "/chat/completions";
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST || ulen < strlen(route) ||
        strcmp(uri + ulen - strlen(route), route) != 0) {
        evhttp_send_error(req, 404, NULL);
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    const char *body = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
    json_error_t jerr;
    json_t *j = body ? json_loadb(body, n, 0, &jerr) : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        static const char bad[] = "{\"error\":{\"message\":\"body is not a JSON object\",\"type\":\"invalid_request_error\"}}";
        reply_text(req, 400, "application/json", bad, sizeof bad - 1);
        return;
    }
    bool streamed = json_is_true(json_object_get(j, "stream"));
    const char *model = json_string_value(json_object_get(j, "model"));
    /* A gateway may prefix or rewrite the model; "bench-hold" anywhere in it asks to hold. */
    bool hold = model && strstr(model, HOLD_MODEL) != NULL;
    json_decref(j);
    if (streamed) stream(u, req, hold);
    else reply_text(req, 200, "application/json", u->completion, u->completion_len);
}

int main(int argc, char **argv) {
    int port = 0;
    upstream u = {.n_chunks = 16};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--chunks") == 0 && i + 1 < argc) u.n_chunks = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--port P] [--chunks N]\n", argv[0]);
            return 2;
        }
    }
    if (port < 0 || port > 65535 || u.n_chunks < 0 || u.n_chunks > UPSTREAM_MAX_CHUNKS) {
        fprintf(stderr, "bench_gateway_upstream: port 0..65535, chunks 0..%d\n", UPSTREAM_MAX_CHUNKS);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (build_answers(&u) != 0) return 1;
    struct event_base *base = event_base_new();
    struct evhttp *http = base ? evhttp_new(base) : NULL;
    if (!http) return 1;
    evhttp_set_max_body_size(http, UPSTREAM_MAX_BODY);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_gencb(http, on_request, &u);
    struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(http, "127.0.0.1", (ev_uint16_t)port);
    if (!bound) {
        fprintf(stderr, "bench_gateway_upstream: cannot bind 127.0.0.1:%d\n", port);
        return 1;
    }
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sa, &sl);
    printf("port %d\n", ntohs(sa.sin_port));
    fflush(stdout);
    event_base_dispatch(base);
    evhttp_free(http);
    event_base_free(base);
    free(u.completion);
    free(u.role_chunk);
    free(u.content_chunk);
    free(u.tail);
    return 0;
}
