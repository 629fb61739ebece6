/* The HTTP client against a hostile upstream, below the adapters: what lx_http_request_run makes
 * of a non-HTTP reply, an oversized header block, a 2xx of the wrong content type, a redirect
 * (reported with its Location), keep-alive bytes with and without a progress counter, and a
 * secret header value that is a short word (whole-token scrubbing of libcurl's messages). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_sink.h"
#include "support/fake_server.h"

typedef struct tfx {
    lx_fake_server *srv;
    lx_http_client *c;
    char url[256];
} tfx;

static void start(tfx *f) {
    memset(f, 0, sizeof *f);
    f->srv = lx_fake_server_start();
    assert_non_null(f->srv);
    lx_fake_server_url(f->srv, "/v1/chat", f->url, sizeof f->url);
    assert_int_equal(lx_http_client_create(NULL, &f->c, NULL), LLMUX_OK);
}

static void stop(tfx *f) {
    lx_http_client_destroy(f->c);
    lx_fake_server_stop(f->srv);
}

static llmux_status run(tfx *f, lx_http_request *r, lx_http_response *resp, llmux_error_info *err) {
    memset(err, 0, sizeof *err);
    return lx_http_request_run(f->c, r, resp, err);
}

static void test_content_type_match(void **state) {
    (void)state;
    const char *sse = "text/event-stream,application/json";
    assert_true(lx_http_content_type_ok("text/event-stream", sse));
    assert_true(lx_http_content_type_ok("Text/Event-Stream; charset=utf-8", sse));
    assert_true(lx_http_content_type_ok("application/json;charset=UTF-8", sse));
    assert_true(lx_http_content_type_ok("", sse));   /* omitted: accepted */
    assert_true(lx_http_content_type_ok(" ; x", sse)); /* no media type: accepted */
    assert_true(lx_http_content_type_ok("text/html", NULL));
    assert_true(lx_http_content_type_ok("application/x-ndjson", "application/x-ndjson, application/json"));
    assert_false(lx_http_content_type_ok("text/html; charset=utf-8", sse));
    assert_false(lx_http_content_type_ok("text/event-streamx", sse));
    assert_false(lx_http_content_type_ok("text/event", sse));
}

static void test_wrong_content_type_aborts(void **state) {
    (void)state;
    tfx f;
    start(&f);
    lx_fake_response r = {.headers = "Content-Type: text/html\r\n", .body = "<html></html>"};
    assert_true(lx_fake_server_push(f.srv, &r));
    sink s;
    sink_init(&s);
    lx_http_request rq = test_request(f.url, NULL, 0, &s, NULL);
    rq.accept_types = "text/event-stream";
    lx_http_response resp;
    llmux_error_info err;
    assert_int_equal(run(&f, &rq, &resp, &err), LLMUX_E_UPSTREAM_PROTOCOL);
    assert_non_null(strstr(err.message, "\"text/html\""));
    assert_int_equal(s.body.len, 0); /* the page never reached the decoder */
    lx_http_response_free(&resp);
    lx_buf_free(&s.body);
    stop(&f);
}

/* The transport still reports a redirect as the response it is, now with its target. */
static void test_redirect_location(void **state) {
    (void)state;
    tfx f;
    start(&f);
    lx_fake_response r = {.status = 307, .headers = "Location:  https://elsewhere.example/v1 \r\n", .body = "moved"};
    assert_true(lx_fake_server_push(f.srv, &r));
    sink s;
    sink_init(&s);
    lx_http_request rq = test_request(f.url, NULL, 0, &s, NULL);
    lx_http_response resp;
    llmux_error_info err;
    assert_int_equal(run(&f, &rq, &resp, &err), LLMUX_OK);
    assert_int_equal(resp.status, 307);
    assert_string_equal(resp.location, "https://elsewhere.example/v1");
    lx_http_response_free(&resp);
    lx_buf_free(&s.body);
    stop(&f);
}

static void test_non_http_reply(void **state) {
    (void)state;
    tfx f;
    start(&f);
    lx_fake_response r = {.raw = true, .body = "HELLO\r\n"};
    assert_true(lx_fake_server_push(f.srv, &r));
    sink s;
    sink_init(&s);
    lx_http_request rq = test_request(f.url, NULL, 0, &s, NULL);
    lx_http_response resp;
    llmux_error_info err;
    assert_int_equal(run(&f, &rq, &resp, &err), LLMUX_E_UPSTREAM_PROTOCOL);
    assert_non_null(strstr(err.message, "not HTTP"));
    lx_http_response_free(&resp);
    lx_buf_free(&s.body);
    stop(&f);
}

/* 40 header lines of 2 KB: past LX_HTTP_MAX_HEADER_BYTES though each line is within libcurl's. */
static void test_header_block_cap(void **state) {
    (void)state;
    tfx f;
    start(&f);
    size_t cap = 100 * 1024, n = 0;
    char *head = malloc(cap);
    assert_non_null(head);
    n += (size_t)snprintf(head, cap, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n");
    for (int i = 0; i < 40; i++) {
        n += (size_t)snprintf(head + n, cap - n, "X-Pad-%d: ", i);
        memset(head + n, 'p', 2048);
        n += 2048;
        n += (size_t)snprintf(head + n, cap - n, "\r\n");
    }
    snprintf(head + n, cap - n, "\r\n");
    lx_fake_response r = {.raw = true, .body = head};
    assert_true(lx_fake_server_push(f.srv, &r));
    sink s;
    sink_init(&s);
    lx_http_request rq = test_request(f.url, NULL, 0, &s, NULL);
    lx_http_response resp;
    llmux_error_info err;
    assert_int_equal(run(&f, &rq, &resp, &err), LLMUX_E_UPSTREAM_PROTOCOL);
    assert_non_null(strstr(err.message, "response header too large"));
    lx_http_response_free(&resp);
    lx_buf_free(&s.body);
    free(head);
    stop(&f);
}

/* The review's case: a one-letter key in a secret header turned libcurl's message into
 * "chun[redacted]ed-encoding". Only a whole-token match is scrubbed now. */
static void test_short_secret_keeps_message(void **state) {
    (void)state;
    tfx f;
    start(&f);
    lx_fake_response r = {.raw = true,
                          .body = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n"};
    assert_true(lx_fake_server_push(f.srv, &r));
    sink s;
    sink_init(&s);
    const lx_http_header h[] = {{"x-api-key", "k", true}};
    lx_http_request rq = test_request(f.url, h, 1, &s, NULL);
    lx_http_response resp;
    llmux_error_info err;
    assert_int_equal(run(&f, &rq, &resp, &err), LLMUX_E_UPSTREAM_PROTOCOL);
    assert_non_null(strstr(err.message, "in chunked-encoding"));
    assert_null(strstr(err.message, "[redacted]"));
    lx_http_response_free(&resp);
    lx_buf_free(&s.body);
    stop(&f);
}

static uint64_t no_progress(void *ud) {
    (void)ud;
    return 0;
}

/* Comments every 100 ms for about 1.5 s. Without a progress counter each chunk counts (the
 * buffered-body behaviour, unchanged); with one that never moves, the 500 ms idle timeout fires
 * (first_byte 500 ms too: before the first event the longer of the two applies). */
static void test_idle_counts_progress(void **state) {
    (void)state;
    tfx f;
    start(&f);
    lx_fake_response r = {.headers = "Content-Type: text/event-stream\r\n", .body = ": keep-alive\n\n",
                          .chunked = true, .chunk_delay_ms = 100, .repeat = 15};
    assert_true(lx_fake_server_push(f.srv, &r));
    assert_true(lx_fake_server_push(f.srv, &r));
    for (int with = 0; with < 2; with++) {
        sink s;
        sink_init(&s);
        lx_http_request rq = test_request(f.url, NULL, 0, &s, NULL);
        rq.timeouts.idle_ms = 500;
        rq.timeouts.first_byte_ms = 500;
        if (with) rq.progress = no_progress;
        lx_http_response resp;
        llmux_error_info err;
        llmux_status st = run(&f, &rq, &resp, &err);
        if (with) {
            assert_int_equal(st, LLMUX_E_TIMEOUT);
            assert_non_null(strstr(err.message, "idle timeout"));
        } else {
            assert_int_equal(st, LLMUX_OK);
            assert_int_equal(s.body.len, 15 * strlen(": keep-alive\n\n"));
        }
        lx_http_response_free(&resp);
        lx_buf_free(&s.body);
    }
    stop(&f);
}

/* Progress = how many events ("data:" lines) the sink has seen. */
static uint64_t data_lines(void *ud) {
    const sink *s = ud;
    uint64_t n = 0;
    for (const char *p = sink_text(s); (p = strstr(p, "data:")) != NULL; p += 5) n++;
    return n;
}

/* Keep-alives for about a second before the first event (a model's time to first token behind a
 * proxy): longer than idle_ms, within first_byte_ms from the request, so the stream goes on; after
 * the first event only idle_ms counts. */
static void test_first_event_gets_first_byte_budget(void **state) {
    (void)state;
    tfx f;
    start(&f);
    char body[512] = "";
    for (int i = 0; i < 10; i++) strcat(body, ": keep-alive\n\n");
    strcat(body, "data: x\n\n");
    lx_fake_response r = {.headers = "Content-Type: text/event-stream\r\n", .body = body, .chunked = true,
                          .chunk_size = 14, .chunk_delay_ms = 100};
    assert_true(lx_fake_server_push(f.srv, &r));
    sink s;
    sink_init(&s);
    lx_http_request rq = test_request(f.url, NULL, 0, &s, NULL);
    rq.timeouts.idle_ms = 400;
    rq.timeouts.first_byte_ms = 10000;
    rq.progress = data_lines;
    lx_http_response resp;
    llmux_error_info err;
    llmux_status st = run(&f, &rq, &resp, &err);
    lx_http_response_free(&resp);
    stop(&f);
    if (st != LLMUX_OK) fail_msg("%s: %s", llmux_status_name(st), err.message);
    assert_non_null(strstr(sink_text(&s), "data: x"));
    lx_buf_free(&s.body);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_type_match),  cmocka_unit_test(test_wrong_content_type_aborts),
        cmocka_unit_test(test_redirect_location),   cmocka_unit_test(test_non_http_reply),
        cmocka_unit_test(test_header_block_cap),    cmocka_unit_test(test_idle_counts_progress),
        cmocka_unit_test(test_short_secret_keeps_message), cmocka_unit_test(test_first_event_gets_first_byte_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
