/* Fault injection: a misbehaving upstream (the fake server's hostile modes) against llmux_run.
 * Every case asserts the exact error class and, by returning at all, that the call never hangs
 * (CTest's timeout is the backstop) nor crashes (CI runs this under ASan/UBSan). Timeouts in the
 * runtime params are small so the suite stays well under a minute.
 *
 * Cases: a drip of bytes that never completes an event, keep-alive comments (and Anthropic pings)
 * alone, a non-HTTP reply, a huge response header (one line, or many), an HTML page answering
 * 200, redirects (every provider), a connection reset mid-stream, broken chunked framing, and
 * floods (one SSE line past its cap; valid events past the 64 MiB response cap). Each test stops
 * its fixture before checking, so a failed check does not also report the fixture as leaked. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llmux.h"
#include "support/fake_server.h"

#define IDLE_MS 800
#define STREAM_TEXT "tests/data/fake/openai/stream_text.sse"

typedef struct ffx {
    lx_fake_server *srv;
    llmux_runtime *rt;
    char url[256];
    llmux_provider_params p;
} ffx;

static void start(ffx *f, const char *name) {
    memset(f, 0, sizeof *f);
    f->srv = lx_fake_server_start();
    assert_non_null(f->srv);
    lx_fake_server_url(f->srv, "", f->url, sizeof f->url);
    f->p = (llmux_provider_params){.name = name, .base_url = f->url, .api_key = "sk-fault-test"};
    llmux_runtime_params rp = llmux_runtime_default_params();
    rp.providers = &f->p;
    rp.n_providers = 1;
    rp.connect_timeout_ms = 2000;
    rp.first_byte_timeout_ms = 3000;
    rp.idle_timeout_ms = IDLE_MS;
    llmux_error_info err;
    assert_int_equal(llmux_runtime_create(&rp, &f->rt, &err), LLMUX_OK);
}

static void stop(ffx *f) {
    llmux_runtime_destroy(f->rt);
    lx_fake_server_stop(f->srv);
}

static void push(ffx *f, const lx_fake_response *r) { assert_true(lx_fake_server_push(f->srv, r)); }

static const llmux_part k_hi = {.type = LLMUX_PART_TEXT, .text = "Hi"};
static const llmux_message k_msgs[] = {{.role = LLMUX_ROLE_USER, .parts = &k_hi, .n_parts = 1}};

/* Runs a streaming request for model; returns the status, err filled. */
static llmux_status run_model(ffx *f, const char *model, llmux_error_info *err) {
    llmux_request r = llmux_request_default();
    r.model = model;
    r.messages = k_msgs;
    r.n_messages = 1;
    r.stream = true;
    r.sampling.max_tokens = 8;
    llmux_run_params rp = llmux_run_default_params();
    llmux_response *out = NULL;
    memset(err, 0, sizeof *err);
    llmux_status st = llmux_run(f->rt, &r, &rp, &out, err);
    llmux_response_free(out);
    return st;
}

static llmux_status run(ffx *f, llmux_error_info *err) { return run_model(f, "openai/gpt-4o-mini", err); }

static void expect(llmux_status got, llmux_status want, const llmux_error_info *err, const char *needle) {
    if (got != want)
        fail_msg("got %s (%s), want %s", llmux_status_name(got), err->message, llmux_status_name(want));
    if (needle && !strstr(err->message, needle)) fail_msg("message \"%s\" does not name \"%s\"", err->message, needle);
}

/* One byte at a time, slower than nothing but never completing an event: the idle timeout must
 * fire (the old timer restarted on every byte, so the request lived as long as the drip). */
static void test_slow_drip(void **state) {
    (void)state;
    ffx f;
    start(&f, "openai");
    lx_fake_response r = {.headers = "Content-Type: text/event-stream\r\n",
                          .body = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"never ends\"}}]}",
                          .chunked = true, .chunk_size = 1, .chunk_delay_ms = 250};
    push(&f, &r);
    llmux_error_info err;
    llmux_status st = run(&f, &err);
    stop(&f);
    expect(st, LLMUX_E_TIMEOUT, &err, "idle");
}

/* SSE comments every 200 ms and nothing else: bytes arrive, but no event, so the stream is idle. */
static void test_keepalive_only(void **state) {
    (void)state;
    ffx f;
    start(&f, "openai");
    lx_fake_response r = {.headers = "Content-Type: text/event-stream\r\n", .body = ": keep-alive\n\n",
                          .chunked = true, .chunk_delay_ms = 200, .repeat = 200};
    push(&f, &r);
    llmux_error_info err;
    llmux_status st = run(&f, &err);
    stop(&f);
    expect(st, LLMUX_E_TIMEOUT, &err, "idle");
}

/* The review's case: the answer starts, then only comments follow, every 100 ms, without end. */
static void test_keepalive_after_first_event(void **state) {
    (void)state;
    ffx f;
    start(&f, "openai");
    static const char first[] = "data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":"
                                "{\"content\":\"Hello\"}}]}\n\n";
    size_t cap = sizeof first + 400 * 14;
    char *body = malloc(cap);
    assert_non_null(body);
    snprintf(body, cap, "%s", first);
    for (int i = 0; i < 400; i++) strcat(body, ": keep-alive\n\n"); /* 14 bytes each */
    lx_fake_response r = {.headers = "Content-Type: text/event-stream\r\n", .body = body, .chunked = true,
                          .chunk_size = 14, .chunk_delay_ms = 20};
    push(&f, &r);
    llmux_error_info err;
    llmux_status st = run(&f, &err);
    free(body);
    stop(&f);
    expect(st, LLMUX_E_TIMEOUT, &err, "idle");
}

/* Anthropic's keep-alive is a real SSE event (ping) that carries nothing: same outcome. */
static void test_anthropic_pings_only(void **state) {
    (void)state;
    ffx f;
    start(&f, "anthropic");
    lx_fake_response r = {.headers = "Content-Type: text/event-stream\r\n",
                          .body = "event: ping\ndata: {\"type\": \"ping\"}\n\n", .chunked = true,
                          .chunk_delay_ms = 200, .repeat = 200};
    push(&f, &r);
    llmux_error_info err;
    llmux_status st = run_model(&f, "anthropic/claude-sonnet-4-5", &err);
    stop(&f);
    expect(st, LLMUX_E_TIMEOUT, &err, "idle");
}

/* The other side of the rule: a slow stream whose events keep coming finishes, even though it
 * lasts longer than the idle timeout and its chunks split events. */
static void test_slow_but_alive_stream_completes(void **state) {
    (void)state;
    ffx f;
    start(&f, "openai");
    lx_fake_response r = {.headers = "Content-Type: text/event-stream\r\n", .body_file = STREAM_TEXT,
                          .chunked = true, .chunk_size = 64, .chunk_delay_ms = 60};
    push(&f, &r);
    llmux_error_info err;
    llmux_status st = run(&f, &err);
    stop(&f);
    expect(st, LLMUX_OK, &err, NULL);
}

static void test_garbage_reply(void **state) {
    (void)state;
    ffx f;
    start(&f, "openai");
    lx_fake_response r = {.raw = true, .body = "HELLO\r\n"};
    push(&f, &r);
    llmux_error_info err;
    llmux_status st = run(&f, &err);
    stop(&f);
    expect(st, LLMUX_E_UPSTREAM_PROTOCOL, &err, "not HTTP");
}

static char *huge_head(size_t line_len, size_t n_lines) {
    size_t cap = 128 + n_lines * (line_len + 16);
    char *h = malloc(cap);
    assert_non_null(h);
    size_t n = (size_t)snprintf(h, cap, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n");
    for (size_t i = 0; i < n_lines; i++) {
        n += (size_t)snprintf(h + n, cap - n, "X-Big-%zu: ", i);
        memset(h + n, 'a', line_len);
        n += line_len;
        memcpy(h + n, "\r\n", 2);
        n += 2;
    }
    memcpy(h + n, "\r\n", 3);
    return h;
}

/* One 200 KB header line (past libcurl's own line limit, which it reports as out of memory),
 * and 100 lines of 1 KB (past llmux's cap on the header block). */
static void test_huge_header(void **state) {
    (void)state;
    ffx f;
    start(&f, "openai");
    char *one = huge_head(200 * 1024, 1), *many = huge_head(1024, 100);
    lx_fake_response r = {.raw = true, .body = one};
    push(&f, &r);
    r.body = many;
    push(&f, &r);
    llmux_error_info err1, err2;
    llmux_status st1 = run(&f, &err1), st2 = run(&f, &err2);
    free(one);
    free(many);
    stop(&f);
    expect(st1, LLMUX_E_UPSTREAM_PROTOCOL, &err1, "header too large");
    expect(st2, LLMUX_E_UPSTREAM_PROTOCOL, &err2, "header too large");
}

/* A login portal or proxy page answering 200: named by its content type, not "truncated". */
static void test_html_page(void **state) {
    (void)state;
    ffx f;
    start(&f, "openai");
    lx_fake_response r = {.headers = "Content-Type: text/html; charset=utf-8\r\n",
                          .body = "<!DOCTYPE html><html><body>Sign in</body></html>"};
    push(&f, &r);
    llmux_error_info err;
    llmux_status st = run(&f, &err);
    stop(&f);
    expect(st, LLMUX_E_UPSTREAM_PROTOCOL, &err, "text/html");
}

/* A redirect means the base URL is wrong: not retryable, and the target is named. */
static void test_redirect_every_provider(void **state) {
    (void)state;
    static const struct {
        const char *name, *model;
        int status;
    } k[] = {{"openai", "openai/gpt-4o-mini", 301},
             {"anthropic", "anthropic/claude-sonnet-4-5", 308},
             {"gemini", "gemini/gemini-2.5-flash", 302},
             {"ollama", "ollama/llama3.2", 307}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        ffx f;
        start(&f, k[i].name);
        lx_fake_response r = {.status = k[i].status,
                              .headers = "Location: https://api.example.com/v1/moved\r\nContent-Type: text/html\r\n",
                              .body = "<html>Moved</html>"};
        push(&f, &r);
        llmux_error_info err;
        llmux_status st = run_model(&f, k[i].model, &err);
        stop(&f);
        expect(st, LLMUX_E_CONFIGURATION, &err, "https://api.example.com/v1/moved");
        assert_int_equal(err.provider_status, k[i].status);
        assert_false(llmux_status_retryable(st)); /* Ollama's 307 used to be a retryable server error */
    }
}

/* RST after the first event: a network failure, after which exactly the error ends the stream. */
static void test_reset_mid_stream(void **state) {
    (void)state;
    ffx f;
    start(&f, "openai");
    lx_fake_response r = {.headers = "Content-Type: text/event-stream\r\n", .body_file = STREAM_TEXT,
                          .chunked = true, .chunk_size = 256, .chunk_delay_ms = 20, .end = LX_FAKE_END_RESET,
                          .end_after = 400};
    push(&f, &r);
    llmux_error_info err;
    llmux_status st = run(&f, &err);
    stop(&f);
    expect(st, LLMUX_E_NETWORK, &err, NULL);
}

/* Chunked framing cut inside a chunk, and a chunk size that is not hexadecimal. */
static void test_broken_chunked(void **state) {
    (void)state;
    ffx f;
    start(&f, "openai");
    lx_fake_response r = {.raw = true,
                          .body = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
                                  "\r\n40\r\ndata: {\"choices\":[{\"delta\":"};
    push(&f, &r);
    r.body = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n";
    push(&f, &r);
    llmux_error_info err1, err2;
    llmux_status st1 = run(&f, &err1), st2 = run(&f, &err2);
    stop(&f);
    expect(st1, LLMUX_E_NETWORK, &err1, NULL);
    expect(st2, LLMUX_E_UPSTREAM_PROTOCOL, &err2, "chunked");
}

/* One SSE line that never ends, past the 4 MiB line cap: refused, not buffered without bound. */
static void test_flood_one_line(void **state) {
    (void)state;
    ffx f;
    start(&f, "openai");
    size_t piece = 64 * 1024;
    char *body = malloc(piece + 1);
    assert_non_null(body);
    memset(body, 'a', piece);
    memcpy(body, "data: ", 6);
    body[piece] = '\0';
    /* "data: aaaa..." then more 'a's: the first copy's "data: " sits inside the line, harmless. */
    lx_fake_response r = {.headers = "Content-Type: text/event-stream\r\n", .body = body, .chunked = true,
                          .repeat = 80};
    push(&f, &r);
    llmux_error_info err;
    llmux_status st = run(&f, &err);
    free(body);
    stop(&f);
    expect(st, LLMUX_E_UPSTREAM_PROTOCOL, &err, "cap");
}

/* Valid events without end, past the 64 MiB response cap. The runtime reported this as
 * `cancelled`; the fix (in the runtime's run path) makes it a distinct error naming the cap. */
static void test_flood_events_past_response_cap(void **state) {
    (void)state;
    ffx f;
    start(&f, "openai");
    char body[1200];
    char text[1024];
    memset(text, 'x', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    snprintf(body, sizeof body, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%s\"}}]}\n\n", text);
    lx_fake_response r = {.headers = "Content-Type: text/event-stream\r\n", .body = body, .chunked = true,
                          .repeat = 72 * 1024}; /* 72 Ki events of 1 KiB of text: past 64 MiB */
    push(&f, &r);
    llmux_error_info err;
    llmux_status st = run(&f, &err);
    stop(&f);
    if (st == LLMUX_OK || st == LLMUX_E_CANCELLED)
        fail_msg("flood past the response cap: %s (%s)", llmux_status_name(st), err.message);
    if (!strstr(err.message, "cap")) fail_msg("message \"%s\" does not name the cap", err.message);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_drip),
        cmocka_unit_test(test_keepalive_only),
        cmocka_unit_test(test_keepalive_after_first_event),
        cmocka_unit_test(test_anthropic_pings_only),
        cmocka_unit_test(test_slow_but_alive_stream_completes),
        cmocka_unit_test(test_garbage_reply),
        cmocka_unit_test(test_huge_header),
        cmocka_unit_test(test_html_page),
        cmocka_unit_test(test_redirect_every_provider),
        cmocka_unit_test(test_reset_mid_stream),
        cmocka_unit_test(test_broken_chunked),
        cmocka_unit_test(test_flood_one_line),
        cmocka_unit_test(test_flood_events_past_response_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
