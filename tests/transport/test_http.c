/* HTTP client against the fake server: streaming, framing, timeouts, cancellation, connection
 * reuse, error bodies, secrets. Timing bounds are loose on purpose (a loaded 2-core machine). */
#define _DEFAULT_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "support/fake_server.h"
#include "transport/http.h"
#include "http_sink.h"

static const char k_secret[] = "Bearer sk-test-0123456789abcdef";

typedef struct fixture {
    lx_fake_server *srv;
    lx_http_client *client;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->srv = lx_fake_server_start();
    assert_non_null(f->srv);
    assert_int_equal(lx_http_client_create(NULL, &f->client, NULL), LLMUX_OK);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    lx_http_client_destroy(f->client);
    lx_fake_server_stop(f->srv);
    free(f);
    return 0;
}

static lx_http_request make_request(fixture *f, const char *path, const lx_http_header *h, size_t nh, sink *s,
                                    char *url, size_t url_size) {
    lx_fake_server_url(f->srv, path, url, url_size);
    return test_request(url, h, nh, s, NULL);
}

static const char k_stream[] = "data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n";

static void test_chunked_stream(void **state) {
    fixture *f = *state;
    lx_fake_response fr = {.method = "POST", .path_prefix = "/v1/chat", .status = 200,
                           .headers = "Content-Type: text/event-stream\r\n", .body = k_stream, .chunked = true,
                           .chunk_size = 3, .chunk_delay_ms = 5};
    assert_true(lx_fake_server_push(f->srv, &fr));
    lx_http_header h[] = {{"Content-Type", "application/json", false}, {"Authorization", k_secret, true}};
    sink s = {0};
    lx_buf_init(&s.body, 1 << 20);
    char url[128];
    lx_http_request r = make_request(f, "/v1/chat/completions", h, 2, &s, url, sizeof url);
    lx_http_response resp;
    llmux_error_info err;
    assert_int_equal(lx_http_request_run(f->client, &r, &resp, &err), LLMUX_OK);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.http_version, 11);
    assert_string_equal(resp.content_type, "text/event-stream");
    assert_string_equal(resp.retry_after, "");
    assert_null(resp.error_body);
    assert_int_equal(resp.body_bytes, strlen(k_stream));
    assert_int_equal(s.body.len, strlen(k_stream));
    assert_memory_equal(s.body.data, k_stream, strlen(k_stream));
    /* Delivered as it arrived, not buffered to the end. */
    assert_true(s.calls >= 2);

    lx_fake_request rq;
    assert_true(lx_fake_server_request(f->srv, 0, &rq));
    assert_string_equal(rq.method, "POST");
    assert_string_equal(rq.path, "/v1/chat/completions");
    assert_string_equal(rq.body, "{\"q\":1}");
    char v[256];
    assert_true(lx_fake_request_header(&rq, "authorization", v, sizeof v));
    assert_string_equal(v, k_secret);
    assert_true(lx_fake_request_header(&rq, "content-type", v, sizeof v));
    assert_string_equal(v, "application/json");
    assert_false(lx_fake_request_header(&rq, "expect", v, sizeof v));
    assert_true(lx_fake_request_header(&rq, "user-agent", v, sizeof v));
    assert_string_equal(v, "llmux/" LLMUX_VERSION_STRING);
    free(rq.body);
    assert_int_equal(lx_fake_server_mismatches(f->srv), 0);
    lx_http_response_free(&resp);
    lx_buf_free(&s.body);
}

static void test_length_and_close_delimited(void **state) {
    fixture *f = *state;
    lx_fake_response a = {.status = 200, .body = "0123456789", .chunk_size = 4, .chunk_delay_ms = 2};
    lx_fake_response b = {.status = 200, .body = "abcdefghij", .close_delimited = true, .chunk_size = 1};
    assert_true(lx_fake_server_push(f->srv, &a));
    assert_true(lx_fake_server_push(f->srv, &b));
    for (int i = 0; i < 2; i++) {
        sink s = {0};
        lx_buf_init(&s.body, 1 << 20);
        char url[128];
        lx_http_request r = make_request(f, "/x", NULL, 0, &s, url, sizeof url);
        r.method = "GET";
        r.body = NULL;
        lx_http_response resp;
        assert_int_equal(lx_http_request_run(f->client, &r, &resp, NULL), LLMUX_OK);
        assert_int_equal(resp.status, 200);
        assert_string_equal(s.body.data, i == 0 ? "0123456789" : "abcdefghij");
        lx_http_response_free(&resp);
        lx_buf_free(&s.body);
    }
    lx_fake_request rq;
    assert_true(lx_fake_server_request(f->srv, 1, &rq));
    assert_string_equal(rq.method, "GET");
    assert_int_equal(rq.body_len, 0);
    free(rq.body);
}

static void test_connect_refused(void **state) {
    fixture *f = *state;
    int port = lx_fake_closed_port();
    assert_true(port > 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/chat", port);
    lx_http_header h[] = {{"Authorization", k_secret, true}};
    lx_http_request r = lx_http_request_default();
    r.url = url;
    r.headers = h;
    r.n_headers = 1;
    r.timeouts.connect_ms = 5000;
    lx_http_response resp;
    llmux_error_info err;
    assert_int_equal(lx_http_request_run(f->client, &r, &resp, &err), LLMUX_E_NETWORK);
    assert_int_equal(err.status, LLMUX_E_NETWORK);
    assert_int_equal(resp.status, 0);
    assert_true(strlen(err.message) > 6);
    assert_null(strstr(err.message, "sk-test"));
    lx_http_response_free(&resp);
}

static void test_bad_url_and_header(void **state) {
    fixture *f = *state;
    lx_http_request r = lx_http_request_default();
    r.url = "ftp://127.0.0.1/x";
    lx_http_response resp;
    llmux_error_info err;
    assert_int_equal(lx_http_request_run(f->client, &r, &resp, &err), LLMUX_E_CONFIGURATION);
    char url[128];
    lx_fake_server_url(f->srv, "/x", url, sizeof url);
    lx_http_header h[] = {{"Authorization", "Bearer sk-evil\r\nX-Injected: 1", true}};
    r.url = url;
    r.headers = h;
    r.n_headers = 1;
    assert_int_equal(lx_http_request_run(f->client, &r, &resp, &err), LLMUX_E_CONFIGURATION);
    assert_null(strstr(err.message, "sk-evil"));
    assert_int_equal(lx_fake_server_requests(f->srv), 0);
}

static int64_t ms_since(int64_t t0) { return (lx_now_ns() - t0) / 1000000; }

static void test_first_byte_timeout(void **state) {
    fixture *f = *state;
    lx_fake_response fr = {.status = 200, .body = "late", .status_delay_ms = 5000};
    assert_true(lx_fake_server_push(f->srv, &fr));
    sink s = {0};
    lx_buf_init(&s.body, 1 << 20);
    char url[128];
    lx_http_request r = make_request(f, "/x", NULL, 0, &s, url, sizeof url);
    r.timeouts.first_byte_ms = 300;
    lx_http_response resp;
    llmux_error_info err;
    int64_t t0 = lx_now_ns();
    assert_int_equal(lx_http_request_run(f->client, &r, &resp, &err), LLMUX_E_TIMEOUT);
    int64_t took = ms_since(t0);
    assert_non_null(strstr(err.message, "first-byte timeout"));
    assert_true(took >= 250);
    assert_true(took < 4000);
    assert_int_equal(resp.status, 0);
    assert_int_equal(s.calls, 0);
    lx_http_response_free(&resp);
    lx_buf_free(&s.body);
}

static void test_idle_timeout(void **state) {
    fixture *f = *state;
    lx_fake_response fr = {.status = 200, .body = k_stream, .chunked = true, .end = LX_FAKE_END_STALL,
                           .end_after = 10};
    assert_true(lx_fake_server_push(f->srv, &fr));
    sink s = {0};
    lx_buf_init(&s.body, 1 << 20);
    char url[128];
    lx_http_request r = make_request(f, "/x", NULL, 0, &s, url, sizeof url);
    r.timeouts.idle_ms = 300;
    lx_http_response resp;
    llmux_error_info err;
    int64_t t0 = lx_now_ns();
    assert_int_equal(lx_http_request_run(f->client, &r, &resp, &err), LLMUX_E_TIMEOUT);
    assert_true(ms_since(t0) < 5000);
    assert_non_null(strstr(err.message, "idle timeout"));
    assert_int_equal(resp.status, 200);
    assert_int_equal(s.body.len, 10);
    assert_memory_equal(s.body.data, k_stream, 10);
    /* The stalled connection was closed, not kept for the next request. */
    assert_true(lx_fake_server_wait_closed(f->srv, 1, 5000));
    lx_http_response_free(&resp);
    lx_buf_free(&s.body);
}

static void test_total_deadline(void **state) {
    fixture *f = *state;
    char body[200];
    memset(body, 'x', sizeof body - 1);
    body[sizeof body - 1] = '\0';
    lx_fake_response fr = {.status = 200, .body = body, .chunked = true, .chunk_size = 1, .chunk_delay_ms = 50};
    assert_true(lx_fake_server_push(f->srv, &fr));
    sink s = {0};
    lx_buf_init(&s.body, 1 << 20);
    char url[128];
    lx_http_request r = make_request(f, "/x", NULL, 0, &s, url, sizeof url);
    r.timeouts.total_ms = 500;
    lx_http_response resp;
    llmux_error_info err;
    int64_t t0 = lx_now_ns();
    assert_int_equal(lx_http_request_run(f->client, &r, &resp, &err), LLMUX_E_TIMEOUT);
    int64_t took = ms_since(t0);
    assert_non_null(strstr(err.message, "deadline"));
    assert_true(took >= 450);
    assert_true(took < 5000);
    assert_true(s.body.len > 0);
    assert_true(s.body.len < sizeof body - 1);
    lx_http_response_free(&resp);
    lx_buf_free(&s.body);

    /* An absolute deadline already past: refused before any I/O. */
    r.timeouts.total_ms = 0;
    r.deadline_ns = lx_now_ns() - 1;
    assert_int_equal(lx_http_request_run(f->client, &r, &resp, &err), LLMUX_E_TIMEOUT);
    assert_int_equal(lx_fake_server_requests(f->srv), 1);
    lx_http_response_free(&resp);
}

typedef struct canceller {
    llmux_cancel *cancel;
    int after_ms;
    int64_t fired_ns;
} canceller;

static void *cancel_thread(void *arg) {
    canceller *c = arg;
    usleep((useconds_t)c->after_ms * 1000);
    c->fired_ns = lx_now_ns();
    llmux_cancel_trigger(c->cancel);
    return NULL;
}

static void test_cancel_from_thread(void **state) {
    fixture *f = *state;
    char body[400];
    memset(body, 'y', sizeof body - 1);
    body[sizeof body - 1] = '\0';
    lx_fake_response fr = {.status = 200, .body = body, .chunked = true, .chunk_size = 2, .chunk_delay_ms = 50};
    assert_true(lx_fake_server_push(f->srv, &fr));
    sink s = {0};
    lx_buf_init(&s.body, 1 << 20);
    char url[128];
    lx_http_request r = make_request(f, "/x", NULL, 0, &s, url, sizeof url);
    canceller c = {.cancel = llmux_cancel_create(), .after_ms = 400};
    assert_non_null(c.cancel);
    r.cancel = c.cancel;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cancel_thread, &c), 0);
    lx_http_response resp;
    llmux_error_info err;
    assert_int_equal(lx_http_request_run(f->client, &r, &resp, &err), LLMUX_E_CANCELLED);
    int64_t after_trigger = ms_since(c.fired_ns);
    pthread_join(th, NULL);
    assert_true(after_trigger < 2000);
    assert_true(s.body.len > 0);
    assert_true(s.body.len < sizeof body - 1);
    /* The upstream connection is closed, and the next request opens a new one. */
    assert_true(lx_fake_server_wait_closed(f->srv, 1, 5000));
    lx_http_response_free(&resp);
    lx_buf_free(&s.body);

    lx_fake_response ok = {.status = 200, .body = "fresh"};
    assert_true(lx_fake_server_push(f->srv, &ok));
    sink s2 = {0};
    lx_buf_init(&s2.body, 1 << 20);
    r = make_request(f, "/x", NULL, 0, &s2, url, sizeof url);
    assert_int_equal(lx_http_request_run(f->client, &r, &resp, &err), LLMUX_OK);
    assert_string_equal(s2.body.data, "fresh");
    assert_int_equal(resp.new_connections, 1);
    assert_int_equal(lx_fake_server_connections(f->srv), 2);
    lx_http_response_free(&resp);
    lx_buf_free(&s2.body);

    /* A token triggered before the call: nothing is sent. */
    r.cancel = c.cancel;
    assert_int_equal(lx_http_request_run(f->client, &r, &resp, &err), LLMUX_E_CANCELLED);
    assert_int_equal(lx_fake_server_requests(f->srv), 2);
    llmux_cancel_destroy(c.cancel);
}

static void test_connection_reuse(void **state) {
    fixture *f = *state;
    lx_fake_response a = {.status = 200, .body = "one", .chunked = true};
    lx_fake_response b = {.status = 200, .body = "two"};
    lx_fake_response c = {.status = 429, .body = "{\"error\":\"slow down\"}"};
    lx_fake_response d = {.status = 200, .body = "four"};
    assert_true(lx_fake_server_push(f->srv, &a));
    assert_true(lx_fake_server_push(f->srv, &b));
    assert_true(lx_fake_server_push(f->srv, &c));
    assert_true(lx_fake_server_push(f->srv, &d));
    const char *want[] = {"one", "two", "", "four"};
    for (int i = 0; i < 4; i++) {
        sink s = {0};
        lx_buf_init(&s.body, 1 << 20);
        char url[128];
        lx_http_request r = make_request(f, "/x", NULL, 0, &s, url, sizeof url);
        lx_http_response resp;
        assert_int_equal(lx_http_request_run(f->client, &r, &resp, NULL), LLMUX_OK);
        assert_string_equal(s.body.data ? s.body.data : "", want[i]);
        assert_int_equal(resp.new_connections, i == 0 ? 1 : 0);
        lx_http_response_free(&resp);
        lx_buf_free(&s.body);
    }
    assert_int_equal(lx_fake_server_requests(f->srv), 4);
    assert_int_equal(lx_fake_server_connections(f->srv), 1);
}

static void test_error_status_headers(void **state) {
    fixture *f = *state;
    const char *body = "{\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}";
    lx_fake_response a = {.status = 429, .headers = "Content-Type: application/json\r\nRetry-After: 7\r\n",
                          .body = body, .chunk_size = 5, .chunk_delay_ms = 1};
    lx_fake_response b = {.status = 503, .headers = "retry-after-ms: 1500\r\n", .body = "busy", .chunked = true};
    assert_true(lx_fake_server_push(f->srv, &a));
    assert_true(lx_fake_server_push(f->srv, &b));
    sink s = {0};
    lx_buf_init(&s.body, 1 << 20);
    char url[128];
    lx_http_request r = make_request(f, "/x", NULL, 0, &s, url, sizeof url);
    lx_http_response resp;
    assert_int_equal(lx_http_request_run(f->client, &r, &resp, NULL), LLMUX_OK);
    assert_int_equal(resp.status, 429);
    assert_string_equal(resp.retry_after, "7");
    assert_string_equal(resp.content_type, "application/json");
    assert_non_null(resp.error_body);
    assert_int_equal(resp.error_body_len, strlen(body));
    assert_string_equal(resp.error_body, body);
    assert_false(resp.error_body_truncated);
    assert_int_equal(s.calls, 0); /* a non-2xx body never reaches on_data */
    lx_http_response_free(&resp);

    assert_int_equal(lx_http_request_run(f->client, &r, &resp, NULL), LLMUX_OK);
    assert_int_equal(resp.status, 503);
    assert_string_equal(resp.retry_after, "1.500");
    assert_string_equal(resp.error_body, "busy");
    assert_int_equal(s.calls, 0);
    lx_http_response_free(&resp);
    lx_buf_free(&s.body);
}

static void test_error_body_capped(void **state) {
    fixture *f = *state;
    static char big[20000];
    memset(big, 'e', sizeof big - 1);
    lx_fake_response a = {.status = 500, .body = big, .chunked = true, .chunk_size = 1000};
    assert_true(lx_fake_server_push(f->srv, &a));
    char url[128];
    sink s = {0};
    lx_buf_init(&s.body, 1 << 20);
    lx_http_request r = make_request(f, "/x", NULL, 0, &s, url, sizeof url);
    r.max_error_body = 100;
    lx_http_response resp;
    assert_int_equal(lx_http_request_run(f->client, &r, &resp, NULL), LLMUX_OK);
    assert_int_equal(resp.status, 500);
    assert_int_equal(resp.error_body_len, 100);
    assert_true(resp.error_body_truncated);
    assert_int_equal(strlen(resp.error_body), 100);
    lx_http_response_free(&resp);
    lx_buf_free(&s.body);
}

static void test_callback_abort_and_broken_body(void **state) {
    fixture *f = *state;
    lx_fake_response a = {.status = 200, .body = k_stream, .chunked = true, .chunk_size = 4, .chunk_delay_ms = 10};
    lx_fake_response b = {.status = 200, .body = k_stream, .chunked = true, .chunk_size = 5,
                          .end = LX_FAKE_END_BREAK, .end_after = 15};
    lx_fake_response c = {.status = 200, .body = k_stream, .end = LX_FAKE_END_BREAK, .end_after = 7};
    assert_true(lx_fake_server_push(f->srv, &a));
    assert_true(lx_fake_server_push(f->srv, &b));
    assert_true(lx_fake_server_push(f->srv, &c));
    char url[128];
    sink s = {.fail_after = 2};
    lx_buf_init(&s.body, 1 << 20);
    lx_http_request r = make_request(f, "/x", NULL, 0, &s, url, sizeof url);
    lx_http_response resp;
    llmux_error_info err;
    assert_int_equal(lx_http_request_run(f->client, &r, &resp, &err), LLMUX_E_UPSTREAM_PROTOCOL);
    assert_string_equal(err.message, "test: callback refused chunk 2");
    lx_http_response_free(&resp);
    assert_true(lx_fake_server_wait_closed(f->srv, 1, 5000));

    /* Chunked body cut short, then a Content-Length body cut short: both are network errors
     * after the bytes that did arrive were delivered. */
    for (int i = 0; i < 2; i++) {
        sink s2 = {0};
        lx_buf_init(&s2.body, 1 << 20);
        r = make_request(f, "/x", NULL, 0, &s2, url, sizeof url);
        assert_int_equal(lx_http_request_run(f->client, &r, &resp, &err), LLMUX_E_NETWORK);
        assert_int_equal(resp.status, 200);
        assert_int_equal(s2.body.len, i == 0 ? 15 : 7);
        assert_memory_equal(s2.body.data, k_stream, s2.body.len);
        lx_http_response_free(&resp);
        lx_buf_free(&s2.body);
    }
    lx_buf_free(&s.body);
}

typedef struct par {
    lx_http_client *client;
    char url[128];
    llmux_status st;
    char body[64];
} par;

static void *par_thread(void *arg) {
    par *p = arg;
    sink s = {0};
    lx_buf_init(&s.body, 1 << 20);
    lx_http_request r = lx_http_request_default();
    r.url = p->url;
    r.on_data = collect;
    r.user_data = &s;
    r.timeouts.total_ms = 30000;
    lx_http_response resp;
    p->st = lx_http_request_run(p->client, &r, &resp, NULL);
    snprintf(p->body, sizeof p->body, "%s", s.body.data ? s.body.data : "");
    lx_http_response_free(&resp);
    lx_buf_free(&s.body);
    return NULL;
}

/* One client shared by threads: each request runs on its own multi handle. */
static void test_threads_share_client(void **state) {
    fixture *f = *state;
    for (int i = 0; i < 4; i++) {
        lx_fake_response a = {.status = 200, .body = "same", .chunk_size = 1, .chunk_delay_ms = 5};
        assert_true(lx_fake_server_push(f->srv, &a));
    }
    par p[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        p[i].client = f->client;
        lx_fake_server_url(f->srv, "/p", p[i].url, sizeof p[i].url);
        assert_int_equal(pthread_create(&th[i], NULL, par_thread, &p[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(p[i].st, LLMUX_OK);
        assert_string_equal(p[i].body, "same");
    }
    assert_int_equal(lx_fake_server_requests(f->srv), 4);
}

/* Keep-alive connections survive a dip in concurrency: eight requests at once, all done, then
 * eight more at once open no new connection. libcurl's default pool keeps 4x the transfers in
 * flight at the moment a connection falls idle, so the last ones of the first round closed
 * connections the second round then opened again (http_loop.c, pool_follow). */
static void test_pool_survives_dips(void **state) {
    fixture *f = *state;
    int after_first = 0;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 8; i++) {
            lx_fake_response a = {.status = 200, .body = "same", .chunk_size = 1, .chunk_delay_ms = 10};
            assert_true(lx_fake_server_push(f->srv, &a));
        }
        par p[8];
        pthread_t th[8];
        for (int i = 0; i < 8; i++) {
            p[i].client = f->client;
            lx_fake_server_url(f->srv, "/p", p[i].url, sizeof p[i].url);
            assert_int_equal(pthread_create(&th[i], NULL, par_thread, &p[i]), 0);
        }
        for (int i = 0; i < 8; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(p[i].st, LLMUX_OK);
            assert_string_equal(p[i].body, "same");
        }
        if (round == 0) after_first = lx_fake_server_connections(f->srv);
    }
    assert_true(after_first >= 2); /* the first round ran concurrently */
    assert_int_equal(lx_fake_server_requests(f->srv), 16);
    assert_int_equal(lx_fake_server_connections(f->srv), after_first);
}

/* Eight callers stream at once through one client: every chunk is delivered on the same thread,
 * the client's loop thread, and none on a caller's. */
#define LOOP_CALLERS 8

typedef struct loop_caller {
    lx_http_client *client;
    char url[128];
    pthread_t self;
    pthread_mutex_t *mu;
    pthread_t *seen;        /* the thread of the first on_data call of any caller */
    int *seen_n;
    int foreign;            /* on_data calls from a thread other than *seen */
    int on_caller;          /* on_data calls on this caller's own thread */
    lx_buf body;
    llmux_status st;
    int status;
} loop_caller;

static llmux_status loop_collect(void *ud, const char *data, size_t len, llmux_error_info *err) {
    (void)err;
    loop_caller *lc = ud;
    pthread_t me = pthread_self();
    pthread_mutex_lock(lc->mu);
    if (*lc->seen_n == 0) *lc->seen = me;
    (*lc->seen_n)++;
    if (!pthread_equal(*lc->seen, me)) lc->foreign++;
    pthread_mutex_unlock(lc->mu);
    if (pthread_equal(lc->self, me)) lc->on_caller++;
    return lx_buf_append(&lc->body, data, len) ? LLMUX_OK : LLMUX_E_OUT_OF_MEMORY;
}

static void *loop_caller_thread(void *arg) {
    loop_caller *lc = arg;
    lc->self = pthread_self();
    lx_http_request r = lx_http_request_default();
    r.url = lc->url;
    r.on_data = loop_collect;
    r.user_data = lc;
    r.timeouts.connect_ms = 10000;
    r.timeouts.idle_ms = 20000;
    r.timeouts.total_ms = 60000;
    lx_http_response resp;
    lc->st = lx_http_request_run(lc->client, &r, &resp, NULL);
    lc->status = resp.status;
    lx_http_response_free(&resp);
    return NULL;
}

static void test_one_loop_thread_many_streams(void **state) {
    fixture *f = *state;
    for (int i = 0; i < LOOP_CALLERS; i++) {
        lx_fake_response a = {.status = 200, .body = k_stream, .chunked = true, .chunk_size = 6,
                              .chunk_delay_ms = 3};
        assert_true(lx_fake_server_push(f->srv, &a));
    }
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_t seen;
    int seen_n = 0;
    loop_caller lc[LOOP_CALLERS];
    pthread_t th[LOOP_CALLERS];
    memset(lc, 0, sizeof lc);
    for (int i = 0; i < LOOP_CALLERS; i++) {
        lc[i].client = f->client;
        lc[i].mu = &mu;
        lc[i].seen = &seen;
        lc[i].seen_n = &seen_n;
        lx_buf_init(&lc[i].body, 1 << 16);
        lx_fake_server_url(f->srv, "/s", lc[i].url, sizeof lc[i].url);
        assert_int_equal(pthread_create(&th[i], NULL, loop_caller_thread, &lc[i]), 0);
    }
    for (int i = 0; i < LOOP_CALLERS; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < LOOP_CALLERS; i++) {
        assert_int_equal(lc[i].st, LLMUX_OK);
        assert_int_equal(lc[i].status, 200);
        assert_int_equal(lc[i].body.len, strlen(k_stream));
        assert_memory_equal(lc[i].body.data, k_stream, strlen(k_stream));
        assert_int_equal(lc[i].foreign, 0);
        assert_int_equal(lc[i].on_caller, 0);
        assert_false(pthread_equal(seen, lc[i].self));
        lx_buf_free(&lc[i].body);
    }
    /* k_stream in 6-byte writes with pauses: several deliveries per stream. */
    assert_true(seen_n >= LOOP_CALLERS * 2);
    assert_false(pthread_equal(seen, pthread_self()));
    assert_int_equal(lx_fake_server_requests(f->srv), LOOP_CALLERS);
    assert_int_equal(lx_fake_server_mismatches(f->srv), 0);
}

typedef struct closing_caller {
    lx_http_client *client;
    char url[128];
    llmux_status st;
    llmux_error_info err;
    atomic_size_t got; /* written by the loop thread, polled by the test */
} closing_caller;

static llmux_status count_bytes(void *ud, const char *data, size_t len, llmux_error_info *err) {
    (void)data;
    (void)err;
    atomic_fetch_add(&((closing_caller *)ud)->got, len);
    return LLMUX_OK;
}

static void *closing_thread(void *arg) {
    closing_caller *cc = arg;
    lx_http_request r = lx_http_request_default();
    r.url = cc->url;
    r.on_data = count_bytes;
    r.user_data = cc;
    lx_http_response resp;
    cc->st = lx_http_request_run(cc->client, &r, &resp, &cc->err);
    lx_http_response_free(&resp);
    return NULL;
}

/* Destroying a client with a stream in flight ends it with CANCELLED and frees everything. */
static void test_destroy_cancels_in_flight(void **state) {
    fixture *f = *state;
    lx_fake_response a = {.status = 200, .body = k_stream, .chunked = true, .end = LX_FAKE_END_STALL,
                          .end_after = 10};
    assert_true(lx_fake_server_push(f->srv, &a));
    closing_caller cc;
    memset(&cc, 0, sizeof cc);
    assert_int_equal(lx_http_client_create(NULL, &cc.client, NULL), LLMUX_OK);
    lx_fake_server_url(f->srv, "/c", cc.url, sizeof cc.url);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, closing_thread, &cc), 0);
    /* Mid-body: the first 10 bytes arrived, the rest never will. */
    for (int i = 0; i < 1000 && atomic_load(&cc.got) < 10; i++) usleep(10000);
    lx_http_client_destroy(cc.client);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(cc.st, LLMUX_E_CANCELLED);
    assert_int_equal(cc.err.status, LLMUX_E_CANCELLED);
    assert_int_equal(atomic_load(&cc.got), 10);
    assert_true(lx_fake_server_wait_closed(f->srv, 1, 5000));
}

typedef struct nested {
    lx_http_client *client;
    char url[128];
    llmux_status inner;
} nested;

static llmux_status nested_run(void *ud, const lx_http_response *resp, llmux_error_info *err) {
    (void)resp;
    (void)err;
    nested *n = ud;
    lx_http_request r = lx_http_request_default();
    r.url = n->url;
    lx_http_response inner;
    llmux_error_info e;
    n->inner = lx_http_request_run(n->client, &r, &inner, &e);
    lx_http_response_free(&inner);
    return LLMUX_OK;
}

/* A request started from a callback would wait on the thread that has to run it: refused. */
static void test_request_from_callback_refused(void **state) {
    fixture *f = *state;
    lx_fake_response a = {.status = 200, .body = "outer"};
    assert_true(lx_fake_server_push(f->srv, &a));
    nested n = {.client = f->client, .inner = LLMUX_OK};
    lx_fake_server_url(f->srv, "/n", n.url, sizeof n.url);
    lx_http_request r = lx_http_request_default();
    r.url = n.url;
    r.on_headers = nested_run;
    r.user_data = &n;
    lx_http_response resp;
    assert_int_equal(lx_http_request_run(f->client, &r, &resp, NULL), LLMUX_OK);
    assert_int_equal(resp.status, 200);
    assert_int_equal(n.inner, LLMUX_E_INTERNAL);
    assert_int_equal(lx_fake_server_requests(f->srv), 1);
    lx_http_response_free(&resp);
}

/* lx_http_request_start copies the URL and the headers before it returns (http.h): the caller may
 * wipe and free them at once, and libcurl's message is still scrubbed of the secret at the end,
 * from the transfer's own copy. The secret here is what libcurl's connect error quotes (the
 * address), so the scrubbing is observable; under AddressSanitizer a read of the freed headers
 * would fail the test. */
typedef struct started_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    llmux_status st;
    llmux_error_info err;
} started_wait;

static void started_done(void *ud, llmux_status st, const llmux_error_info *err) {
    started_wait *w = ud;
    pthread_mutex_lock(&w->mu);
    w->st = st;
    w->err = *err;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void test_start_copies_headers(void **state) {
    fixture *f = *state;
    int port = lx_fake_closed_port();
    assert_true(port > 0);
    char *url = malloc(128);
    assert_non_null(url);
    snprintf(url, 128, "http://127.0.0.1:%d/v1/chat", port);
    char *name = strdup("Authorization"), *value = strdup("Bearer 127.0.0.1");
    assert_non_null(name);
    assert_non_null(value);
    lx_http_header *h = malloc(sizeof *h);
    assert_non_null(h);
    *h = (lx_http_header){name, value, true};
    lx_http_request *r = malloc(sizeof *r);
    assert_non_null(r);
    *r = lx_http_request_default();
    r->url = url;
    r->headers = h;
    r->n_headers = 1;
    r->timeouts.connect_ms = 5000;
    started_wait w = {.done = false};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    lx_http_response resp;
    llmux_error_info err;
    assert_int_equal(lx_http_request_start(f->client, r, &resp, started_done, &w, &err), LLMUX_OK);
    memset(value, 'x', strlen(value));
    memset(url, 'x', 127);
    free(value);
    free(name);
    free(h);
    free(url);
    pthread_mutex_lock(&w.mu);
    while (!w.done) pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    assert_int_equal(w.st, LLMUX_E_NETWORK);
    assert_non_null(strstr(w.err.message, "[redacted]"));
    assert_null(strstr(w.err.message, "127.0.0.1"));
    lx_http_response_free(&resp);
    free(r);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_chunked_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_length_and_close_delimited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_url_and_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_byte_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_total_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_from_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_status_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_body_capped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callback_abort_and_broken_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_share_client, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_survives_dips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_loop_thread_many_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_cancels_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_from_callback_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_copies_headers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
