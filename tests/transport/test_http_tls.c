/* HTTP client over real TLS, HTTP/2 and a forward proxy, all on loopback against the fake server:
 * verification is on by default (an unknown CA or a certificate for another name fails with a
 * message naming the certificate), a ca_bundle makes it pass, ALPN picks HTTP/2 when offered
 * (streams arrive chunk by chunk, concurrent requests share one connection, cancel resets the
 * stream promptly), and proxy environment variables are honoured (no_proxy bypasses). */
#define _DEFAULT_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "support/fake_server.h"
#include "transport/http.h"
#include "http_sink.h"

static const char k_secret[] = "Bearer sk-tls-test-0123456789abcdef";
static const char k_sse[] = "data: {\"n\":1}\n\ndata: {\"n\":2}\n\ndata: {\"n\":3}\n\ndata: [DONE]\n\n";

static lx_fake_server *start(bool h2, const char *san) {
    lx_fake_server_opts o = {.tls = true, .h2 = h2, .cert_san = san};
    lx_fake_server *s = lx_fake_server_start_opts(&o);
    assert_non_null(s);
    assert_non_null(lx_fake_server_ca_file(s));
    return s;
}

/* A TLS fake server (start's h2 and san), a client, and the URL of path on the server. */
typedef struct tls_fx {
    lx_fake_server *srv;
    lx_http_client *c;
    char url[128];
} tls_fx;

static void fx_start(tls_fx *f, bool h2, const char *san, const char *path) {
    f->srv = start(h2, san);
    assert_int_equal(lx_http_client_create(NULL, &f->c, NULL), LLMUX_OK);
    lx_fake_server_url(f->srv, path, f->url, sizeof f->url);
}

static void fx_stop(tls_fx *f) {
    lx_http_client_destroy(f->c);
    lx_fake_server_stop(f->srv);
}

/* test_request to f->url with headers h[0..nh) into s (initialized here), verified with the
 * server's CA when with_ca (else the system store); the client's status. */
static llmux_status fx_run(tls_fx *f, const lx_http_header *h, size_t nh, bool with_ca, sink *s,
                           lx_http_response *resp, llmux_error_info *err) {
    sink_init(s);
    lx_http_request r = test_request(f->url, h, nh, s, with_ca ? lx_fake_server_ca_file(f->srv) : NULL);
    return lx_http_request_run(f->c, &r, resp, err);
}

static void run_free(lx_http_response *resp, sink *s) {
    lx_http_response_free(resp);
    lx_buf_free(&s->body);
}

/* The server's request i as test_request sent it with k_secret: POST path over http_version,
 * body {"q":1}. rq is left for more checks (free rq->body). */
static void assert_posted(lx_fake_server *srv, size_t i, int http_version, const char *path, lx_fake_request *rq) {
    assert_true(lx_fake_server_request(srv, i, rq));
    assert_int_equal(rq->http_version, http_version);
    assert_string_equal(rq->method, "POST");
    assert_string_equal(rq->path, path);
    assert_string_equal(rq->body, "{\"q\":1}");
    char v[128];
    assert_true(lx_fake_request_header(rq, "authorization", v, sizeof v));
    assert_string_equal(v, k_secret);
}

/* (a) No ca_bundle: the system store does not know the fake CA, so the handshake fails. */
static void test_unknown_ca_fails(void **state) {
    (void)state;
    tls_fx f;
    fx_start(&f, false, NULL, "/v1/x");
    assert_true(lx_fake_server_push(f.srv, &(lx_fake_response){.body = "never"}));
    assert_int_equal(strncmp(f.url, "https://", 8), 0);
    lx_http_header h[] = {{"authorization", k_secret, true}};
    sink s;
    lx_http_response resp;
    llmux_error_info err;
    assert_int_equal(fx_run(&f, h, 1, false, &s, &resp, &err), LLMUX_E_NETWORK);
    assert_int_equal(err.status, LLMUX_E_NETWORK);
    assert_non_null(strstr(err.message, "certificate"));
    assert_null(strstr(err.message, "sk-tls-test"));
    assert_int_equal(resp.status, 0);
    assert_int_equal(s.calls, 0);
    assert_int_equal(lx_fake_server_requests(f.srv), 0);
    assert_true(lx_fake_server_wait_closed(f.srv, 1, 5000));
    assert_int_equal(lx_fake_server_tls_failures(f.srv), 1);
    run_free(&resp, &s);
    fx_stop(&f);
}

/* (b) With the CA: success; only http/1.1 offered, so HTTP/1.1 over TLS. */
static void test_ca_bundle_http11(void **state) {
    (void)state;
    tls_fx f;
    fx_start(&f, false, NULL, "/v1/x");
    lx_fake_response fr = {.headers = "Content-Type: text/event-stream\r\n", .body = k_sse, .chunked = true,
                           .chunk_size = 14, .chunk_delay_ms = 20};
    assert_true(lx_fake_server_push(f.srv, &fr));
    lx_http_header h[] = {{"authorization", k_secret, true}};
    sink s;
    lx_http_response resp;
    llmux_error_info err;
    assert_int_equal(fx_run(&f, h, 1, true, &s, &resp, &err), LLMUX_OK);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.http_version, 11);
    assert_string_equal(resp.content_type, "text/event-stream");
    assert_string_equal(sink_text(&s), k_sse);
    lx_fake_request rq;
    assert_posted(f.srv, 0, 11, "/v1/x", &rq);
    assert_true(rq.tls);
    free(rq.body);
    assert_int_equal(lx_fake_server_tls_failures(f.srv), 0);
    run_free(&resp, &s);
    fx_stop(&f);
}

/* (c) h2 offered: HTTP/2, the SSE body arrives in several callbacks; the request as received. */
static void test_h2_stream(void **state) {
    (void)state;
    tls_fx f;
    fx_start(&f, true, NULL, "/v1/chat/completions");
    lx_fake_response fr = {.headers = "Content-Type: text/event-stream\r\nX-Request-Id: req-h2\r\n", .body = k_sse,
                           .chunk_size = 14, .chunk_delay_ms = 30};
    assert_true(lx_fake_server_push(f.srv, &fr));
    lx_http_header h[] = {{"authorization", k_secret, true}, {"content-type", "application/json", false}};
    sink s;
    lx_http_response resp;
    llmux_error_info err;
    assert_int_equal(fx_run(&f, h, 2, true, &s, &resp, &err), LLMUX_OK);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.http_version, 2);
    assert_string_equal(resp.content_type, "text/event-stream");
    assert_string_equal(sink_text(&s), k_sse);
    /* 60 bytes in five 14-byte DATA frames 30 ms apart: several callbacks (a loaded client may
     * read two frames at once, so not necessarily five). */
    assert_true(s.calls >= 3);
    assert_int_equal(resp.new_connections, 1);
    lx_fake_request rq;
    assert_posted(f.srv, 0, 2, "/v1/chat/completions", &rq);
    char v[128];
    assert_true(lx_fake_request_header(&rq, "content-type", v, sizeof v));
    assert_string_equal(v, "application/json");
    char host[64];
    snprintf(host, sizeof host, "127.0.0.1:%d", lx_fake_server_port(f.srv));
    assert_true(lx_fake_request_header(&rq, "host", v, sizeof v));
    assert_string_equal(v, host);
    free(rq.body);
    run_free(&resp, &s);

    /* An error status over h2: headers and the buffered body, like HTTP/1.1. */
    lx_fake_response e = {.status = 429, .headers = "Retry-After: 7\r\nContent-Type: application/json\r\n",
                          .body = "{\"error\":\"slow\"}"};
    assert_true(lx_fake_server_push(f.srv, &e));
    assert_int_equal(fx_run(&f, h, 2, true, &s, &resp, &err), LLMUX_OK);
    assert_int_equal(resp.status, 429);
    assert_int_equal(resp.http_version, 2);
    assert_string_equal(resp.retry_after, "7");
    assert_string_equal(resp.error_body, "{\"error\":\"slow\"}");
    assert_int_equal(resp.new_connections, 0);
    assert_int_equal(s.calls, 0);
    run_free(&resp, &s);
    assert_int_equal(lx_fake_server_connections(f.srv), 1);
    assert_int_equal(lx_fake_server_h2_streams(f.srv), 2);
    fx_stop(&f);
}

typedef struct par {
    lx_http_client *c;
    const char *url;
    const char *ca;
    sink s;
    llmux_status st;
    lx_http_response resp;
    int64_t end_ns;
} par;

static void *par_thread(void *arg) {
    par *p = arg;
    sink_init(&p->s);
    lx_http_request r = test_request(p->url, NULL, 0, &p->s, p->ca);
    llmux_error_info err;
    p->st = lx_http_request_run(p->c, &r, &p->resp, &err);
    p->end_ns = lx_now_ns();
    return NULL;
}

/* (c) Two concurrent streams on one client multiplexed on one HTTP/2 connection. */
static void test_h2_concurrent_one_connection(void **state) {
    (void)state;
    lx_fake_server *srv = start(true, NULL);
    lx_http_client *c;
    assert_int_equal(lx_http_client_create(NULL, &c, NULL), LLMUX_OK);
    char url[128];
    lx_fake_server_url(srv, "/v1/x", url, sizeof url);
    /* A first request opens the connection, so both concurrent ones find it negotiated. */
    assert_true(lx_fake_server_push(srv, &(lx_fake_response){.body = "warm"}));
    par w = {.c = c, .url = url, .ca = lx_fake_server_ca_file(srv)};
    par_thread(&w);
    assert_int_equal(w.st, LLMUX_OK);
    assert_int_equal(w.resp.http_version, 2);
    lx_http_response_free(&w.resp);
    lx_buf_free(&w.s.body);
    /* Each body takes >= 7 x 150 ms: served one after the other, both would need >= 2100 ms. */
    lx_fake_response slow = {.body = "0123456789abcdef", .chunk_size = 2, .chunk_delay_ms = 150};
    assert_true(lx_fake_server_push(srv, &slow));
    assert_true(lx_fake_server_push(srv, &slow));
    par p[2] = {{.c = c, .url = url, .ca = w.ca}, {.c = c, .url = url, .ca = w.ca}};
    pthread_t th[2];
    int64_t t0 = lx_now_ns();
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, par_thread, &p[i]), 0);
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(p[i].st, LLMUX_OK);
        assert_int_equal(p[i].resp.http_version, 2);
        assert_int_equal(p[i].resp.new_connections, 0);
        assert_string_equal(sink_text(&p[i].s), "0123456789abcdef");
        assert_true(p[i].s.calls >= 4);
        lx_http_response_free(&p[i].resp);
        lx_buf_free(&p[i].s.body);
    }
    assert_int_equal(lx_fake_server_connections(srv), 1);
    assert_int_equal(lx_fake_server_h2_streams(srv), 3);
    assert_int_equal(lx_fake_server_h2_max_concurrent(srv), 2);
    /* Interleaved, not queued: both ended within one body's time (+ slack), not two. */
    int64_t last = p[0].end_ns > p[1].end_ns ? p[0].end_ns : p[1].end_ns;
    assert_true((last - t0) / 1000000 < 1800);
    lx_http_client_destroy(c);
    lx_fake_server_stop(srv);
}

/* (d) A certificate for another name: trusted CA, yet the host check fails. */
static void test_hostname_mismatch(void **state) {
    (void)state;
    tls_fx f;
    fx_start(&f, true, "DNS:api.other.example", "/v1/x");
    assert_true(lx_fake_server_push(f.srv, &(lx_fake_response){.body = "never"}));
    sink s;
    lx_http_response resp;
    llmux_error_info err;
    assert_int_equal(fx_run(&f, NULL, 0, true, &s, &resp, &err), LLMUX_E_NETWORK);
    /* libcurl: "SSL: no alternative certificate subject name matches target host name ..." */
    assert_non_null(strstr(err.message, "certificate"));
    assert_non_null(strstr(err.message, "127.0.0.1"));
    assert_int_equal(lx_fake_server_requests(f.srv), 0);
    run_free(&resp, &s);

    /* The default certificate names 127.0.0.1 and localhost: both pass. */
    lx_fake_server *ok = start(false, NULL);
    assert_true(lx_fake_server_push(ok, &(lx_fake_response){.body = "by-name"}));
    char url[128];
    snprintf(url, sizeof url, "https://localhost:%d/v1/x", lx_fake_server_port(ok));
    sink_init(&s);
    lx_http_request r = test_request(url, NULL, 0, &s, lx_fake_server_ca_file(ok));
    assert_int_equal(lx_http_request_run(f.c, &r, &resp, &err), LLMUX_OK);
    assert_string_equal(sink_text(&s), "by-name");
    run_free(&resp, &s);
    lx_fake_server_stop(ok);
    fx_stop(&f);
}

typedef struct canceller {
    llmux_cancel *cancel;
    sink *s;
    int64_t fired_ns;
} canceller;

/* Cancels once the first chunk arrived, so the stream is surely under way. */
static void *cancel_thread(void *arg) {
    canceller *c = arg;
    for (int i = 0; i < 500 && __atomic_load_n(&c->s->calls, __ATOMIC_SEQ_CST) == 0; i++) usleep(10000);
    usleep(50000);
    c->fired_ns = lx_now_ns();
    llmux_cancel_trigger(c->cancel);
    return NULL;
}

static llmux_status collect_atomic(void *ud, const char *data, size_t len, llmux_error_info *err) {
    (void)err;
    sink *s = ud;
    if (!lx_buf_append(&s->body, data, len)) return LLMUX_E_OUT_OF_MEMORY;
    __atomic_add_fetch(&s->calls, 1, __ATOMIC_SEQ_CST);
    return LLMUX_OK;
}

/* (e) Cancel during an HTTP/2 stream: the request ends promptly; the connection stays usable. */
static void test_h2_cancel(void **state) {
    (void)state;
    tls_fx f;
    fx_start(&f, true, NULL, "/v1/x");
    lx_fake_response slow = {.body = k_sse, .chunk_size = 4, .chunk_delay_ms = 100};
    assert_true(lx_fake_server_push(f.srv, &slow));
    sink s;
    sink_init(&s);
    lx_http_request r = test_request(f.url, NULL, 0, &s, lx_fake_server_ca_file(f.srv));
    r.on_data = collect_atomic;
    canceller cc = {.cancel = llmux_cancel_create(), .s = &s};
    assert_non_null(cc.cancel);
    r.cancel = cc.cancel;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cancel_thread, &cc), 0);
    lx_http_response resp;
    llmux_error_info err;
    assert_int_equal(lx_http_request_run(f.c, &r, &resp, &err), LLMUX_E_CANCELLED);
    int64_t late_ms = (lx_now_ns() - cc.fired_ns) / 1000000;
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(resp.http_version, 2);
    assert_true(late_ms < 500);
    assert_true(s.body.len > 0);
    assert_true(s.body.len < strlen(k_sse));
    run_free(&resp, &s);
    llmux_cancel_destroy(cc.cancel);

    /* The stream was reset, not the connection: the next request reuses it. */
    assert_true(lx_fake_server_push(f.srv, &(lx_fake_response){.body = "after"}));
    assert_int_equal(fx_run(&f, NULL, 0, true, &s, &resp, &err), LLMUX_OK);
    assert_string_equal(sink_text(&s), "after");
    assert_int_equal(resp.new_connections, 0);
    assert_int_equal(lx_fake_server_connections(f.srv), 1);
    run_free(&resp, &s);
    fx_stop(&f);
}

/* A stream reset by the server mid-body (the h2 form of a broken connection) is a network error
 * after the bytes that arrived. */
static void test_h2_reset_midstream(void **state) {
    (void)state;
    tls_fx f;
    fx_start(&f, true, NULL, "/v1/x");
    lx_fake_response br = {.body = k_sse, .chunk_size = 14, .end = LX_FAKE_END_BREAK, .end_after = 28};
    assert_true(lx_fake_server_push(f.srv, &br));
    sink s;
    lx_http_response resp;
    llmux_error_info err;
    assert_int_equal(fx_run(&f, NULL, 0, true, &s, &resp, &err), LLMUX_E_NETWORK);
    assert_int_equal(resp.status, 200);
    assert_int_equal(s.body.len, 28);
    assert_memory_equal(s.body.data, k_sse, 28);
    run_free(&resp, &s);
    fx_stop(&f);
}

/* ------------------------------------------------------------- proxies */

/* Sets (or unsets, value NULL) the proxy variables curl reads for each transfer. */
static void proxy_env(const char *http_proxy, const char *https_proxy, const char *no_proxy) {
    const char *names[] = {"http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
                           "all_proxy", "ALL_PROXY"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) unsetenv(names[i]);
    if (http_proxy) setenv("http_proxy", http_proxy, 1);
    if (https_proxy) setenv("https_proxy", https_proxy, 1);
    if (no_proxy) setenv("no_proxy", no_proxy, 1);
}

/* http_proxy is honoured: the absolute-form target reaches the proxy; no_proxy bypasses it. */
static void test_http_proxy_env(void **state) {
    (void)state;
    lx_fake_server_opts po = {.proxy = true};
    lx_fake_server *proxy = lx_fake_server_start_opts(&po);
    lx_fake_server *direct = lx_fake_server_start();
    assert_non_null(proxy);
    assert_non_null(direct);
    lx_http_client *c;
    assert_int_equal(lx_http_client_create(NULL, &c, NULL), LLMUX_OK);
    lx_fake_response fr = {.method = "POST", .path_prefix = "/v1/chat/", .body = "via proxy"};
    assert_true(lx_fake_server_push(proxy, &fr));
    char purl[64];
    lx_fake_server_url(proxy, "", purl, sizeof purl);
    proxy_env(purl, NULL, NULL);

    static const char target[] = "http://upstream.invalid:1234/v1/chat/completions";
    lx_http_header h[] = {{"authorization", k_secret, true}};
    sink s;
    sink_init(&s);
    lx_http_request r = test_request(target, h, 1, &s, NULL);
    lx_http_response resp;
    llmux_error_info err;
    llmux_status st = lx_http_request_run(c, &r, &resp, &err);
    assert_int_equal(st, LLMUX_OK);
    assert_int_equal(resp.status, 200);
    assert_string_equal(sink_text(&s), "via proxy");
    assert_int_equal(lx_fake_server_mismatches(proxy), 0);
    lx_fake_request rq;
    assert_true(lx_fake_server_request(proxy, 0, &rq));
    assert_string_equal(rq.method, "POST");
    assert_string_equal(rq.path, target);
    char v[128];
    assert_true(lx_fake_request_header(&rq, "host", v, sizeof v));
    assert_string_equal(v, "upstream.invalid:1234");
    assert_true(lx_fake_request_header(&rq, "authorization", v, sizeof v));
    assert_string_equal(v, k_secret);
    assert_string_equal(rq.body, "{\"q\":1}");
    free(rq.body);
    lx_http_response_free(&resp);
    lx_buf_free(&s.body);

    /* no_proxy names the host: straight to it, the proxy sees nothing. */
    proxy_env(purl, NULL, "127.0.0.1");
    assert_true(lx_fake_server_push(direct, &(lx_fake_response){.body = "direct"}));
    char durl[128];
    lx_fake_server_url(direct, "/v1/x", durl, sizeof durl);
    sink_init(&s);
    r = test_request(durl, NULL, 0, &s, NULL);
    assert_int_equal(lx_http_request_run(c, &r, &resp, &err), LLMUX_OK);
    assert_string_equal(sink_text(&s), "direct");
    assert_int_equal(lx_fake_server_requests(proxy), 1);
    assert_true(lx_fake_server_request(direct, 0, &rq));
    assert_string_equal(rq.path, "/v1/x");
    free(rq.body);
    lx_http_response_free(&resp);
    lx_buf_free(&s.body);

    /* Without the variables the same URL goes direct too. */
    proxy_env(NULL, NULL, NULL);
    assert_true(lx_fake_server_push(direct, &(lx_fake_response){.body = "direct again"}));
    sink_init(&s);
    r = test_request(durl, NULL, 0, &s, NULL);
    assert_int_equal(lx_http_request_run(c, &r, &resp, &err), LLMUX_OK);
    assert_string_equal(sink_text(&s), "direct again");
    assert_int_equal(lx_fake_server_requests(proxy), 1);
    assert_int_equal(lx_fake_server_requests(direct), 2);
    lx_http_response_free(&resp);
    lx_buf_free(&s.body);

    lx_http_client_destroy(c);
    lx_fake_server_stop(direct);
    lx_fake_server_stop(proxy);
}

/* https_proxy: CONNECT host:port through the proxy, then TLS (verified with the bundle) and
 * HTTP/2 inside the tunnel. */
static void test_https_proxy_connect(void **state) {
    (void)state;
    lx_fake_server_opts po = {.proxy = true, .tls = true, .h2 = true};
    lx_fake_server *proxy = lx_fake_server_start_opts(&po);
    assert_non_null(proxy);
    lx_http_client *c;
    assert_int_equal(lx_http_client_create(NULL, &c, NULL), LLMUX_OK);
    assert_true(lx_fake_server_push(proxy, &(lx_fake_response){.path_prefix = "/v1/", .body = "tunnelled"}));
    char purl[64];
    lx_fake_server_url(proxy, "", purl, sizeof purl);
    proxy_env(NULL, purl, NULL);
    char url[128];
    /* The tunnel's far end is the proxy itself; the certificate names localhost. */
    snprintf(url, sizeof url, "https://localhost:%d/v1/models", 1 + lx_fake_server_port(proxy));
    sink s;
    sink_init(&s);
    lx_http_request r = test_request(url, NULL, 0, &s, lx_fake_server_ca_file(proxy));
    lx_http_response resp;
    llmux_error_info err;
    llmux_status st = lx_http_request_run(c, &r, &resp, &err);
    proxy_env(NULL, NULL, NULL);
    if (st != LLMUX_OK) fprintf(stderr, "proxy CONNECT: %s\n", err.message);
    assert_int_equal(st, LLMUX_OK);
    assert_string_equal(sink_text(&s), "tunnelled");
    assert_int_equal(resp.http_version, 2);
    lx_fake_request rq;
    char want[64];
    snprintf(want, sizeof want, "localhost:%d", 1 + lx_fake_server_port(proxy));
    assert_true(lx_fake_server_request(proxy, 0, &rq));
    assert_string_equal(rq.method, "CONNECT");
    assert_string_equal(rq.path, want);
    assert_false(rq.tls);
    free(rq.body);
    assert_true(lx_fake_server_request(proxy, 1, &rq));
    assert_string_equal(rq.method, "POST");
    assert_string_equal(rq.path, "/v1/models");
    assert_true(rq.tls);
    assert_int_equal(rq.http_version, 2);
    free(rq.body);
    lx_http_response_free(&resp);
    lx_buf_free(&s.body);
    lx_http_client_destroy(c);
    lx_fake_server_stop(proxy);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_ca_fails),
        cmocka_unit_test(test_ca_bundle_http11),
        cmocka_unit_test(test_h2_stream),
        cmocka_unit_test(test_h2_concurrent_one_connection),
        cmocka_unit_test(test_hostname_mismatch),
        cmocka_unit_test(test_h2_cancel),
        cmocka_unit_test(test_h2_reset_midstream),
        cmocka_unit_test(test_http_proxy_env),
        cmocka_unit_test(test_https_proxy_connect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
