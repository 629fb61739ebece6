/* llmux_run over real TLS and HTTP/2 (the fake server on loopback): the runtime's ca_bundle,
 * else $SSL_CERT_FILE, is what makes the self-signed server trusted; without either the request
 * fails with a network error. And 429 answers that carry only rate-limit headers (no
 * Retry-After) give err.retry_after_ms from the latest exhausted limit's reset. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "llmux.h"
#include "support/fake_server.h"

static const llmux_part k_hi = {.type = LLMUX_PART_TEXT, .text = "Hi"};
static const llmux_message k_msgs[] = {{.role = LLMUX_ROLE_USER, .parts = &k_hi, .n_parts = 1}};

typedef struct deltas {
    int n;
    char text[256];
} deltas;

static bool on_event(const llmux_event *ev, void *ud) {
    deltas *d = ud;
    if (ev->type != LLMUX_EVENT_TEXT_DELTA) return true;
    d->n++;
    size_t used = strlen(d->text), room = sizeof d->text - used - 1;
    size_t n = ev->text_len < room ? ev->text_len : room;
    memcpy(d->text + used, ev->text, n);
    d->text[used + n] = '\0';
    return true;
}

static void clear_env(void) {
    static const char *const vars[] = {"SSL_CERT_FILE", "CURL_CA_BUNDLE", "http_proxy", "https_proxy",
                                       "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "OPENAI_BASE_URL",
                                       "ANTHROPIC_BASE_URL"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) unsetenv(vars[i]);
}

/* Runs "<provider>/<model>" streamed against base_url with the given ca_bundle. */
static llmux_status run(const char *provider, const char *model, const char *base_url, const char *ca,
                        deltas *d, llmux_response **out, llmux_error_info *err) {
    llmux_provider_params p = {.name = provider, .base_url = base_url, .api_key = "sk-tls-runtime-secret"};
    llmux_runtime_params rp = llmux_runtime_default_params();
    rp.providers = &p;
    rp.n_providers = 1;
    rp.ca_bundle = ca;
    llmux_runtime *rt = NULL;
    assert_int_equal(llmux_runtime_create(&rp, &rt, NULL), LLMUX_OK);
    llmux_request r = llmux_request_default();
    r.model = model;
    r.messages = k_msgs;
    r.n_messages = 1;
    r.stream = true;
    r.sampling.max_tokens = 16;
    llmux_run_params run_p = llmux_run_default_params();
    run_p.on_event = on_event;
    run_p.user_data = d;
    llmux_status st = llmux_run(rt, &r, &run_p, out, err);
    llmux_runtime_destroy(rt);
    return st;
}

static lx_fake_server *h2_server(char *base, size_t size) {
    lx_fake_server_opts o = {.tls = true, .h2 = true};
    lx_fake_server *srv = lx_fake_server_start_opts(&o);
    assert_non_null(srv);
    lx_fake_server_url(srv, "/v1", base, size);
    return srv;
}

static void push_stream(lx_fake_server *srv) {
    lx_fake_response fr = {.method = "POST", .path_prefix = "/v1/chat/completions",
                           .headers = "Content-Type: text/event-stream\r\n",
                           .body_file = "tests/data/fake/openai/stream_text.sse", .chunk_size = 64,
                           .chunk_delay_ms = 5};
    assert_true(lx_fake_server_push(srv, &fr));
}

static void check_stream(lx_fake_server *srv, llmux_status st, const deltas *d, llmux_response *resp) {
    assert_int_equal(st, LLMUX_OK);
    assert_non_null(resp);
    assert_string_equal(llmux_response_text(resp), "Hello, world!");
    assert_string_equal(d->text, "Hello, world!");
    assert_int_equal(d->n, 3);
    lx_fake_request rq;
    assert_true(lx_fake_server_request(srv, 0, &rq));
    assert_int_equal(rq.http_version, 2);
    assert_true(rq.tls);
    assert_string_equal(rq.path, "/v1/chat/completions");
    assert_non_null(strstr(rq.body, "\"stream\":true"));
    char v[128];
    assert_true(lx_fake_request_header(&rq, "authorization", v, sizeof v));
    assert_string_equal(v, "Bearer sk-tls-runtime-secret");
    free(rq.body);
}

static void test_stream_h2_ca_bundle(void **state) {
    (void)state;
    clear_env();
    char base[128];
    lx_fake_server *srv = h2_server(base, sizeof base);
    assert_int_equal(strncmp(base, "https://127.0.0.1:", 18), 0);
    push_stream(srv);
    deltas d = {0};
    llmux_response *resp = NULL;
    llmux_error_info err;
    llmux_status st = run("openai", "openai/gpt-4o-mini", base, lx_fake_server_ca_file(srv), &d, &resp, &err);
    check_stream(srv, st, &d, resp);
    llmux_response_free(resp);
    lx_fake_server_stop(srv);
}

static void test_stream_h2_ssl_cert_file(void **state) {
    (void)state;
    clear_env();
    char base[128];
    lx_fake_server *srv = h2_server(base, sizeof base);
    push_stream(srv);
    setenv("SSL_CERT_FILE", lx_fake_server_ca_file(srv), 1);
    deltas d = {0};
    llmux_response *resp = NULL;
    llmux_error_info err;
    llmux_status st = run("openai", "openai/gpt-4o-mini", base, NULL, &d, &resp, &err);
    unsetenv("SSL_CERT_FILE");
    check_stream(srv, st, &d, resp);
    llmux_response_free(resp);
    lx_fake_server_stop(srv);
}

static void test_untrusted_fails(void **state) {
    (void)state;
    clear_env();
    char base[128];
    lx_fake_server *srv = h2_server(base, sizeof base);
    push_stream(srv);
    deltas d = {0};
    llmux_response *resp = NULL;
    llmux_error_info err;
    llmux_status st = run("openai", "openai/gpt-4o-mini", base, NULL, &d, &resp, &err);
    assert_int_equal(st, LLMUX_E_NETWORK);
    assert_int_equal(err.status, LLMUX_E_NETWORK);
    assert_non_null(strstr(err.message, "certificate"));
    assert_null(strstr(err.message, "sk-tls-runtime-secret"));
    assert_int_equal(d.n, 0);
    assert_int_equal(lx_fake_server_requests(srv), 0);
    llmux_response_free(resp);
    lx_fake_server_stop(srv);
}

/* ------------------------------------------------------------ rate limits */

static llmux_status rate_limited(const char *provider, const char *model, const char *path, const char *headers,
                                 const char *body_file, bool tls, llmux_error_info *err) {
    lx_fake_server_opts o = {.tls = tls, .h2 = tls};
    lx_fake_server *srv = lx_fake_server_start_opts(&o);
    assert_non_null(srv);
    char base[128];
    lx_fake_server_url(srv, strcmp(provider, "openai") == 0 ? "/v1" : "", base, sizeof base);
    lx_fake_response fr = {.status = 429, .path_prefix = path, .headers = headers, .body_file = body_file};
    assert_true(lx_fake_server_push(srv, &fr));
    deltas d = {0};
    llmux_response *resp = NULL;
    llmux_status st = run(provider, model, base, lx_fake_server_ca_file(srv), &d, &resp, err);
    assert_int_equal(lx_fake_server_requests(srv), 1);
    assert_int_equal(lx_fake_server_mismatches(srv), 0);
    assert_int_equal(d.n, 0);
    llmux_response_free(resp);
    lx_fake_server_stop(srv);
    return st;
}

static void test_openai_reset_headers(void **state) {
    (void)state;
    clear_env();
    /* The fixture's shape without Retry-After: tokens exhausted (6m0s), requests left (1s). */
    static const char h[] = "Content-Type: application/json\r\n"
                            "x-ratelimit-limit-requests: 60\r\n"
                            "x-ratelimit-remaining-requests: 59\r\n"
                            "x-ratelimit-remaining-tokens: 0\r\n"
                            "x-ratelimit-reset-requests: 1s\r\n"
                            "x-ratelimit-reset-tokens: 6m0s\r\n";
    llmux_error_info err;
    for (int tls = 0; tls < 2; tls++) {
        assert_int_equal(rate_limited("openai", "openai/gpt-4o-mini", "/v1/chat/completions", h,
                                      "tests/data/fake/openai/error_429.json", tls, &err),
                         LLMUX_E_RATE_LIMITED);
        assert_int_equal(err.status, LLMUX_E_RATE_LIMITED);
        assert_int_equal(err.provider_status, 429);
        assert_int_equal(err.retry_after_ms, 360000);
    }
    /* Both exhausted: the later reset. */
    static const char both[] = "Content-Type: application/json\r\n"
                               "x-ratelimit-remaining-requests: 0\r\n"
                               "x-ratelimit-reset-requests: 20s\r\n"
                               "x-ratelimit-remaining-tokens: 0\r\n"
                               "x-ratelimit-reset-tokens: 1.5s\r\n";
    assert_int_equal(rate_limited("openai", "openai/gpt-4o-mini", NULL, both, "tests/data/fake/openai/error_429.json",
                                  false, &err),
                     LLMUX_E_RATE_LIMITED);
    assert_int_equal(err.retry_after_ms, 20000);
    /* None exhausted: no delay from these headers (the message has no hint either). */
    static const char left[] = "Content-Type: application/json\r\n"
                               "x-ratelimit-remaining-requests: 5\r\n"
                               "x-ratelimit-reset-requests: 20s\r\n";
    assert_int_equal(rate_limited("openai", "openai/gpt-4o-mini", NULL, left, "tests/data/fake/openai/error_429.json",
                                  false, &err),
                     LLMUX_E_RATE_LIMITED);
    assert_int_equal(err.retry_after_ms, -1);
}

/* An RFC 3339 instant `secs` seconds from now (whole seconds, UTC). */
static void instant(int secs, char *buf, size_t size, int64_t *at_unix_ms) {
    time_t t = time(NULL) + secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
    *at_unix_ms = (int64_t)t * 1000;
}

static int64_t now_unix_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_anthropic_reset_headers(void **state) {
    (void)state;
    clear_env();
    char near[32], far[32], h[1024];
    int64_t near_ms, far_ms;
    instant(5, near, sizeof near, &near_ms);
    instant(12, far, sizeof far, &far_ms);
    snprintf(h, sizeof h,
             "Content-Type: application/json\r\n"
             "anthropic-ratelimit-requests-remaining: 49\r\n"
             "anthropic-ratelimit-requests-reset: %s\r\n"
             "anthropic-ratelimit-input-tokens-remaining: 0\r\n"
             "anthropic-ratelimit-input-tokens-reset: %s\r\n"
             "anthropic-ratelimit-tokens-remaining: 0\r\n"
             "anthropic-ratelimit-tokens-reset: %s\r\n",
             far, near, far);
    for (int tls = 0; tls < 2; tls++) {
        llmux_error_info err;
        int64_t before = now_unix_ms();
        assert_int_equal(rate_limited("anthropic", "anthropic/claude-sonnet-4-5", "/v1/messages", h,
                                      "tests/data/fake/anthropic/error_429.json", tls, &err),
                         LLMUX_E_RATE_LIMITED);
        int64_t after = now_unix_ms();
        assert_int_equal(err.provider_status, 429);
        /* The later exhausted reset (far), measured from when the error was mapped. */
        assert_true(err.retry_after_ms <= far_ms - before);
        assert_true(err.retry_after_ms >= far_ms - after);
        assert_true(err.retry_after_ms > near_ms - before);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_h2_ca_bundle),
        cmocka_unit_test(test_stream_h2_ssl_cert_file),
        cmocka_unit_test(test_untrusted_fails),
        cmocka_unit_test(test_openai_reset_headers),
        cmocka_unit_test(test_anthropic_reset_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
