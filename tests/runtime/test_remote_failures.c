/* Remote execution failure paths through lx_remote_run (OpenAI and Anthropic adapters against the
 * fake server): transport failures and timeouts before and after the first event, truncated and
 * malformed streams, mid-stream provider errors, cancellation, connection reuse, threads. The
 * rule under test: a failure before any event is returned without emitting; after one, the
 * stream ends with exactly one terminal event. */
#define _DEFAULT_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"
#include "runtime/remote.h"
#include "support/event_log.h"
#include "support/fake_server.h"
#include "runtime/shared_http.h"

static const char k_text[] = "tests/data/fake/openai/stream_text.sse";

static const char k_start[] = "start \"chatcmpl-fk1\" \"gpt-4o-mini-2024-07-18\" \"openai\"\n";
static const char k_hello[] = "text_delta 0 \"Hello\"\n";

typedef struct fx {
    lx_fake_server *srv;
    char base[128];
    llmux_provider_params params[2];
    lx_remote_target openai;
    lx_remote_target anthropic;
} fx;

static int setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->srv = lx_fake_server_start();
    assert_non_null(f->srv);
    lx_fake_server_url(f->srv, "", f->base, sizeof f->base);
    f->params[0] = (llmux_provider_params){.name = "openai", .base_url = f->base, .api_key = "sk-fail-test"};
    f->params[1] = (llmux_provider_params){.name = "anthropic", .base_url = f->base, .api_key = "sk-ant-fail"};
    assert_int_equal(lx_remote_resolve("openai/gpt-4o-mini", f->params, 2, &f->openai, NULL), LLMUX_OK);
    assert_int_equal(lx_remote_resolve("anthropic/claude-sonnet-4-5", f->params, 2, &f->anthropic, NULL), LLMUX_OK);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx *f = *state;
    lx_fake_server_stop(f->srv);
    free(f);
    return 0;
}

static const llmux_part k_hi = {.type = LLMUX_PART_TEXT, .text = "Hi"};
static const llmux_message k_msgs[] = {{.role = LLMUX_ROLE_USER, .parts = &k_hi, .n_parts = 1}};

static llmux_status run_t(const lx_remote_target *t, const char *model, const llmux_cancel *cancel, int64_t deadline,
                          const lx_remote_settings *to, log_t *l, llmux_error_info *err) {
    llmux_request r = llmux_request_default();
    r.model = model;
    r.messages = k_msgs;
    r.n_messages = 1;
    r.stream = true;
    r.sampling.max_tokens = 16;
    lx_remote_settings dflt = {.connect_ms = 10000, .first_byte_ms = 30000, .idle_ms = 30000};
    lx_remote_settings use = to ? *to : dflt;
    use.client = shared_http();
    return lx_remote_run(t, &r, cancel, deadline, &use, (lx_event_sink){log_emit, l}, err);
}

static llmux_status run(fx *f, const llmux_cancel *cancel, int64_t deadline, const lx_remote_settings *to, log_t *l,
                        llmux_error_info *err) {
    return run_t(&f->openai, "openai/gpt-4o-mini", cancel, deadline, to, l, err);
}

static void push(fx *f, const char *body, const char *file, size_t chunk, int delay, lx_fake_end end, size_t after) {
    lx_fake_response r = {.status = 200, .headers = "Content-Type: text/event-stream\r\n", .body = body,
                          .body_file = file, .chunked = true, .chunk_size = chunk, .chunk_delay_ms = delay,
                          .end = end, .end_after = after};
    assert_true(lx_fake_server_push(f->srv, &r));
}

/* The offset just past the SSE event that holds "Hello". */
static size_t after_hello(void) {
    size_t len;
    char *b = lx_fake_read_file(k_text, &len);
    assert_non_null(b);
    const char *h = strstr(b, "Hello");
    const char *end = strstr(h, "\n\n");
    size_t off = (size_t)(end + 2 - b);
    free(b);
    return off;
}

static void expect(const log_t *l, const char *tail) {
    char want[1024];
    snprintf(want, sizeof want, "%s%s%s", k_start, k_hello, tail);
    if (strcmp(l->out.data, want) != 0) fprintf(stderr, "got:\n%s\nwant:\n%s\n", l->out.data, want);
    assert_string_equal(l->out.data, want);
    assert_int_equal(l->n_terminal, 1);
    assert_false(l->after_terminal);
}

static void test_connect_refused(void **state) {
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", lx_fake_closed_port());
    llmux_provider_params p = {.name = "openai", .base_url = url, .api_key = "sk-refused-secret"};
    lx_remote_target t;
    assert_int_equal(lx_remote_resolve("openai/gpt-4o-mini", &p, 1, &t, NULL), LLMUX_OK);
    log_t l;
    log_init(&l);
    llmux_error_info err;
    assert_int_equal(run_t(&t, "openai/gpt-4o-mini", NULL, 0, NULL, &l, &err), LLMUX_E_NETWORK);
    assert_int_equal(l.n_events, 0);
    assert_null(strstr(err.message, "sk-refused-secret"));
    log_free(&l);
}

static void test_first_byte_timeout(void **state) {
    fx *f = *state;
    lx_fake_response r = {.status = 200, .body = "data: [DONE]\n\n", .status_delay_ms = 5000};
    assert_true(lx_fake_server_push(f->srv, &r));
    lx_remote_settings to = {.connect_ms = 10000, .first_byte_ms = 300, .idle_ms = 30000};
    log_t l;
    log_init(&l);
    llmux_error_info err;
    assert_int_equal(run(f, NULL, 0, &to, &l, &err), LLMUX_E_TIMEOUT);
    assert_non_null(strstr(err.message, "first-byte"));
    assert_int_equal(l.n_events, 0);
    log_free(&l);
}

static void test_idle_timeout_midstream(void **state) {
    fx *f = *state;
    push(f, NULL, k_text, 0, 0, LX_FAKE_END_STALL, after_hello());
    lx_remote_settings to = {.connect_ms = 10000, .first_byte_ms = 30000, .idle_ms = 300};
    log_t l;
    log_init(&l);
    llmux_error_info err;
    assert_int_equal(run(f, NULL, 0, &to, &l, &err), LLMUX_E_TIMEOUT);
    assert_non_null(strstr(err.message, "idle"));
    expect(&l, "error timeout\n");
    log_free(&l);
}

static void test_deadline(void **state) {
    fx *f = *state;
    /* Past before the call: refused, nothing sent, no event. */
    log_t l;
    log_init(&l);
    llmux_error_info err;
    assert_int_equal(run(f, NULL, lx_now_ns() - 1, NULL, &l, &err), LLMUX_E_TIMEOUT);
    assert_int_equal(l.n_events, 0);
    assert_int_equal(lx_fake_server_requests(f->srv), 0);
    log_free(&l);
    /* Reached mid-stream: an ERROR event ends the stream. */
    push(f, NULL, k_text, 0, 0, LX_FAKE_END_STALL, after_hello());
    log_init(&l);
    assert_int_equal(run(f, NULL, lx_now_ns() + 600 * 1000000LL, NULL, &l, &err), LLMUX_E_TIMEOUT);
    assert_non_null(strstr(err.message, "deadline"));
    expect(&l, "error timeout\n");
    log_free(&l);
}

static void test_truncated_and_malformed(void **state) {
    fx *f = *state;
    size_t cut = after_hello();
    /* A body that ends cleanly (complete chunked framing) but without [DONE]. */
    size_t len;
    char *b = lx_fake_read_file(k_text, &len);
    assert_non_null(b);
    b[cut] = '\0';
    push(f, b, NULL, 0, 0, LX_FAKE_END_NORMAL, 0);
    /* A malformed event after a good one. */
    char bad[4096];
    snprintf(bad, sizeof bad, "%sdata: {\"id\":\"chatcmpl-fk1\",\"choices\":[{\"delta\":{\"content\":\"x\"\n\n", b);
    push(f, bad, NULL, 0, 0, LX_FAKE_END_NORMAL, 0);
    free(b);
    for (int i = 0; i < 2; i++) {
        log_t l;
        log_init(&l);
        llmux_error_info err;
        assert_int_equal(run(f, NULL, 0, NULL, &l, &err), LLMUX_E_UPSTREAM_PROTOCOL);
        expect(&l, "error upstream_protocol_error\n");
        log_free(&l);
    }
    /* A 200 whose body is not a stream at all: nothing decodable, error returned, no event. */
    push(f, "<html>gateway</html>\n\n", NULL, 0, 0, LX_FAKE_END_NORMAL, 0);
    log_t l;
    log_init(&l);
    llmux_error_info err;
    assert_int_equal(run(f, NULL, 0, NULL, &l, &err), LLMUX_E_UPSTREAM_PROTOCOL);
    assert_int_equal(l.n_events, 0);
    log_free(&l);
}

static void test_midstream_provider_error(void **state) {
    fx *f = *state;
    const char *body =
        "event: message_start\n"
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_e\",\"type\":\"message\",\"role\":\"assistant\","
        "\"model\":\"claude-sonnet-4-5\",\"content\":[],\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n"
        "event: content_block_start\n"
        "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
        "event: content_block_delta\n"
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n"
        "event: error\n"
        "data: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    push(f, body, NULL, 11, 0, LX_FAKE_END_NORMAL, 0);
    log_t l;
    log_init(&l);
    llmux_error_info err;
    assert_int_equal(run_t(&f->anthropic, "anthropic/claude-sonnet-4-5", NULL, 0, NULL, &l, &err), LLMUX_E_OVERLOADED);
    assert_string_equal(err.provider_code, "overloaded_error");
    assert_string_equal(l.out.data, "start \"msg_e\" \"claude-sonnet-4-5\" \"anthropic\"\n"
                                    "usage in=3 out=-1 total=-1\n"
                                    "text_delta 0 \"Hel\"\n"
                                    "error overloaded\n");
    assert_int_equal(l.n_terminal, 1);
    log_free(&l);
}

static void test_cancel(void **state) {
    fx *f = *state;
    /* Triggered before the call: nothing sent. */
    llmux_cancel *c = llmux_cancel_create();
    assert_non_null(c);
    llmux_cancel_trigger(c);
    log_t l;
    log_init(&l);
    llmux_error_info err;
    assert_int_equal(run(f, c, 0, NULL, &l, &err), LLMUX_E_CANCELLED);
    assert_int_equal(l.n_events, 0);
    assert_int_equal(lx_fake_server_requests(f->srv), 0);
    log_free(&l);
    llmux_cancel_destroy(c);
    /* The sink refuses START: the stream still ends with FINISH(cancelled). */
    push(f, NULL, k_text, 0, 0, LX_FAKE_END_NORMAL, 0);
    log_init(&l);
    l.stop_at_event = 1;
    assert_int_equal(run(f, NULL, 0, NULL, &l, &err), LLMUX_E_CANCELLED);
    char want[256];
    snprintf(want, sizeof want, "%sfinish cancelled\n", k_start);
    assert_string_equal(l.out.data, want);
    log_free(&l);
    /* Cancelled while stalled mid-stream (the upstream sends nothing): seen promptly. */
    push(f, NULL, k_text, 0, 0, LX_FAKE_END_STALL, after_hello());
    log_init(&l);
    l.cancel_at_text_token = llmux_cancel_create();
    assert_int_equal(run(f, l.cancel_at_text_token, 0, NULL, &l, &err), LLMUX_E_CANCELLED);
    assert_true((lx_now_ns() - l.triggered_ns) / 1000000 < 2000);
    expect(&l, "finish cancelled\n");
    llmux_cancel_destroy(l.cancel_at_text_token);
    log_free(&l);
}

static void test_connection_reuse(void **state) {
    fx *f = *state;
    for (int i = 0; i < 3; i++) push(f, NULL, k_text, 64, 0, LX_FAKE_END_NORMAL, 0);
    for (int i = 0; i < 3; i++) {
        log_t l;
        log_init(&l);
        assert_int_equal(run(f, NULL, 0, NULL, &l, NULL), LLMUX_OK);
        assert_int_equal(l.n_terminal, 1);
        log_free(&l);
    }
    assert_int_equal(lx_fake_server_requests(f->srv), 3);
    assert_int_equal(lx_fake_server_connections(f->srv), 1);
}

typedef struct par {
    fx *f;
    llmux_status st;
    char events[1024];
} par;

static void *par_main(void *arg) {
    par *p = arg;
    log_t l;
    log_init(&l);
    p->st = run(p->f, NULL, 0, NULL, &l, NULL);
    snprintf(p->events, sizeof p->events, "%s", l.out.data);
    log_free(&l);
    return NULL;
}

static void test_threads(void **state) {
    fx *f = *state;
    for (int i = 0; i < 3; i++) push(f, NULL, k_text, 32, 2, LX_FAKE_END_NORMAL, 0);
    par p[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        p[i].f = f;
        assert_int_equal(pthread_create(&th[i], NULL, par_main, &p[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(p[i].st, LLMUX_OK);
        assert_non_null(strstr(p[i].events, "finish stop\n"));
        assert_string_equal(p[i].events, p[0].events);
    }
}


int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_connect_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_byte_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_timeout_midstream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_and_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_midstream_provider_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, shared_http_free);
}
