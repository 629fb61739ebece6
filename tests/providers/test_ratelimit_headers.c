/* Rate-limit headers end to end, over HTTP/1.1 and HTTP/2: the transport keeps the header lines
 * an adapter asks for (lx_provider.keep_headers), and providers/ratelimit.c turns them into the
 * resets of the exhausted limits (remaining 0), in arrival order, for OpenAI's and Anthropic's
 * header families; lx_ratelimit_retry_hint chooses between Retry-After and them. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "providers/provider.h"
#include "providers/ratelimit.h"
#include "support/fake_server.h"
#include "transport/http.h"

/* The shapes of ../shared/fixtures/providers/{openai_chat,anthropic_messages}/error_429.headers,
 * without Retry-After. */
static const char k_openai[] = "x-ratelimit-limit-requests: 60\r\n"
                               "x-ratelimit-limit-tokens: 150000\r\n"
                               "x-ratelimit-remaining-requests: 59\r\n"
                               "x-ratelimit-remaining-tokens: 0\r\n"
                               "x-ratelimit-reset-requests: 1s\r\n"
                               "x-ratelimit-reset-tokens: 6m0s\r\n";
static const char k_openai_both[] = "X-RateLimit-Reset-Requests: 1s\r\n"
                                    "X-RateLimit-Remaining-Requests: 0\r\n"
                                    "X-RateLimit-Remaining-Tokens: 0\r\n"
                                    "X-RateLimit-Reset-Tokens: 6m0s\r\n";
static const char k_openai_left[] = "x-ratelimit-remaining-requests: 3\r\n"
                                    "x-ratelimit-reset-requests: 1s\r\n";
static const char k_anthropic[] = "anthropic-ratelimit-requests-limit: 50\r\n"
                                  "anthropic-ratelimit-requests-remaining: 49\r\n"
                                  "anthropic-ratelimit-requests-reset: 2026-01-01T00:00:01Z\r\n"
                                  "anthropic-ratelimit-input-tokens-limit: 30000\r\n"
                                  "anthropic-ratelimit-input-tokens-remaining: 0\r\n"
                                  "anthropic-ratelimit-input-tokens-reset: 2026-01-01T00:00:15Z\r\n"
                                  "anthropic-ratelimit-output-tokens-remaining: 8000\r\n"
                                  "anthropic-ratelimit-output-tokens-reset: 2026-01-01T00:00:00Z\r\n"
                                  "anthropic-ratelimit-tokens-remaining: 0\r\n"
                                  "anthropic-ratelimit-tokens-reset: 2026-01-01T00:00:20Z\r\n";

typedef struct expect {
    const lx_provider *p; /* whose keep_headers the request asks for */
    const char *headers;
    const char *reset;
    const char *hint;  /* NULL = no hint */
} expect;

static const expect k_cases[] = {
    {&lx_provider_openai, k_openai, "6m0s", "6m0s"},
    {&lx_provider_openai, k_openai_both, "1s, 6m0s", "1s, 6m0s"},
    {&lx_provider_openai, k_openai_left, "", NULL},
    {&lx_provider_anthropic, k_anthropic, "2026-01-01T00:00:15Z, 2026-01-01T00:00:20Z",
     "2026-01-01T00:00:15Z, 2026-01-01T00:00:20Z"},
    /* Anthropic's family is the anthropic adapter's alone; the OpenAI one (what gateways send)
     * every adapter reads. */
    {&lx_provider_openai, k_anthropic, "", NULL},
    {&lx_provider_gemini, k_anthropic, "", NULL},
    {&lx_provider_anthropic, k_openai, "6m0s", "6m0s"},
    {&lx_provider_gemini, k_openai, "6m0s", "6m0s"},
    {&lx_provider_ollama, k_openai_both, "1s, 6m0s", "1s, 6m0s"},
    /* Retry-After present: the resets are still read, but the hint is Retry-After. */
    {&lx_provider_anthropic,
     "retry-after: 15\r\nanthropic-ratelimit-tokens-remaining: 0\r\nanthropic-ratelimit-tokens-reset: "
     "2026-01-01T00:00:20Z\r\n",
     "2026-01-01T00:00:20Z", "15"},
    /* A remaining count that is not a number, a reset without remaining, an over-long value. */
    {&lx_provider_openai,
     "x-ratelimit-remaining-requests: none\r\nx-ratelimit-reset-requests: 1s\r\n"
     "x-ratelimit-reset-tokens: 2s\r\n"
     "x-ratelimit-remaining-images: 0\r\nx-ratelimit-reset-images: "
     "1111111111111111111111111111111111111111111111111111111111111111111111s\r\n",
     "", NULL},
    /* Only "0" is exhausted; "0.0" too, "00" too. */
    {&lx_provider_openai,
     "x-ratelimit-remaining-a: 0.0\r\nx-ratelimit-reset-a: 3s\r\nx-ratelimit-remaining-b: 00\r\n"
     "x-ratelimit-reset-b: 4s\r\nx-ratelimit-remaining-c: 10\r\nx-ratelimit-reset-c: 5s\r\n",
     "3s, 4s", "3s, 4s"},
};

/* What lx_provider_map_response reads from a response. */
static void resets_of(const lx_http_response *resp, char *out, size_t size) {
    lx_ratelimit_exhausted_resets(resp->kept_headers.data, resp->kept_headers.len, out, size);
}

static void run_cases(lx_fake_server *srv, long want_version) {
    lx_http_client *c;
    assert_int_equal(lx_http_client_create(NULL, &c, NULL), LLMUX_OK);
    size_t n = sizeof k_cases / sizeof k_cases[0];
    for (size_t i = 0; i < n; i++) {
        lx_fake_response fr = {.status = 429, .headers = k_cases[i].headers, .body = "{}"};
        assert_true(lx_fake_server_push(srv, &fr));
    }
    /* A 200 afterwards: a new response starts empty. */
    assert_true(lx_fake_server_push(srv, &(lx_fake_response){.body = "ok"}));
    char url[128];
    lx_fake_server_url(srv, "/v1/x", url, sizeof url);
    for (size_t i = 0; i <= n; i++) {
        lx_http_request r = lx_http_request_default();
        r.url = url;
        r.ca_bundle = lx_fake_server_ca_file(srv);
        r.timeouts.total_ms = 30000;
        r.keep_header_prefixes = i < n ? k_cases[i].p->keep_headers : lx_provider_openai.keep_headers;
        lx_http_response resp;
        llmux_error_info err;
        assert_int_equal(lx_http_request_run(c, &r, &resp, &err), LLMUX_OK);
        assert_int_equal(resp.http_version, want_version);
        char resets[LX_RATELIMIT_LIST_MAX], buf[LX_RATELIMIT_LIST_MAX];
        resets_of(&resp, resets, sizeof resets);
        const char *hint = lx_ratelimit_retry_hint(&resp, buf, sizeof buf);
        if (i == n) {
            assert_int_equal(resp.status, 200);
            assert_string_equal(resets, "");
            assert_null(hint);
        } else {
            assert_int_equal(resp.status, 429);
            assert_string_equal(resets, k_cases[i].reset);
            if (k_cases[i].hint) assert_string_equal(hint, k_cases[i].hint);
            else assert_null(hint);
        }
        lx_http_response_free(&resp);
    }
    lx_http_client_destroy(c);
}

static void test_http11(void **state) {
    (void)state;
    lx_fake_server *srv = lx_fake_server_start();
    assert_non_null(srv);
    run_cases(srv, 11);
    lx_fake_server_stop(srv);
}

static void test_h2(void **state) {
    (void)state;
    lx_fake_server_opts o = {.tls = true, .h2 = true};
    lx_fake_server *srv = lx_fake_server_start_opts(&o);
    assert_non_null(srv);
    run_cases(srv, 2);
    lx_fake_server_stop(srv);
}

static void test_table_bounded(void **state) {
    (void)state;
    /* Twelve exhausted limits: the first LX_RATELIMIT_MAX_LIMITS are tracked, whole values only. */
    char headers[2048] = "";
    char want[256] = "";
    for (int i = 0; i < 12; i++) {
        char line[128];
        snprintf(line, sizeof line, "x-ratelimit-remaining-k%d: 0\r\nx-ratelimit-reset-k%d: %ds\r\n", i, i, 10 + i);
        strcat(headers, line);
        if (i < LX_RATELIMIT_MAX_LIMITS) {
            snprintf(line, sizeof line, "%s%ds", i ? ", " : "", 10 + i);
            strcat(want, line);
        }
    }
    lx_fake_server *srv = lx_fake_server_start();
    assert_non_null(srv);
    assert_true(lx_fake_server_push(srv, &(lx_fake_response){.status = 429, .headers = headers}));
    lx_http_client *c;
    assert_int_equal(lx_http_client_create(NULL, &c, NULL), LLMUX_OK);
    char url[128];
    lx_fake_server_url(srv, "/", url, sizeof url);
    lx_http_request r = lx_http_request_default();
    r.url = url;
    r.keep_header_prefixes = lx_provider_openai.keep_headers;
    lx_http_response resp;
    assert_int_equal(lx_http_request_run(c, &r, &resp, NULL), LLMUX_OK);
    assert_int_equal(resp.kept_headers_dropped, 0);
    char resets[LX_RATELIMIT_LIST_MAX];
    resets_of(&resp, resets, sizeof resets);
    assert_string_equal(resets, want);
    lx_http_response_free(&resp);
    lx_http_client_destroy(c);
    lx_fake_server_stop(srv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http11),
        cmocka_unit_test(test_h2),
        cmocka_unit_test(test_table_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
