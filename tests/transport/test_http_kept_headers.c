/* lx_http_request.keep_header_prefixes: the transport keeps the final response's header lines
 * whose names start with a requested prefix (any case), raw and in arrival order, over HTTP/1.1
 * and HTTP/2; nothing when none is asked for; a 1xx's lines are forgotten; the bounds (a line
 * past LX_HTTP_KEPT_LINE_MAX, the whole past LX_HTTP_KEPT_HEADERS_MAX, a control byte) leave
 * lines out whole and count them; on_headers sees them; Retry-After stays the transport's. What
 * the lines mean is the adapters' business (tests/providers/test_ratelimit*.c). */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "support/fake_server.h"
#include "transport/http.h"

static const char *const k_ratelimit[] = {"x-ratelimit-", "anthropic-ratelimit-", NULL};

static const char k_headers[] = "x-request-id: req_123\r\n"
                                "X-RateLimit-Remaining-Tokens:   0  \r\n"
                                "x-ratelimitless: 1\r\n"
                                "anthropic-ratelimit-tokens-reset: 2026-01-01T00:00:20Z\r\n"
                                "anthropic-version: 2023-06-01\r\n"
                                "x-ratelimit-reset-tokens:6m0s\r\n";
static const char k_kept[] = "X-RateLimit-Remaining-Tokens: 0\n"
                             "anthropic-ratelimit-tokens-reset: 2026-01-01T00:00:20Z\n"
                             "x-ratelimit-reset-tokens: 6m0s\n";

typedef struct fx {
    lx_fake_server *srv;
    lx_http_client *c;
    char url[128];
} fx;

static void start(fx *f, bool h2) {
    lx_fake_server_opts o = {.tls = h2, .h2 = h2};
    f->srv = lx_fake_server_start_opts(&o);
    assert_non_null(f->srv);
    lx_fake_server_url(f->srv, "/v1/x", f->url, sizeof f->url);
    assert_int_equal(lx_http_client_create(NULL, &f->c, NULL), LLMUX_OK);
}

static void stop(fx *f) {
    lx_http_client_destroy(f->c);
    lx_fake_server_stop(f->srv);
}

static void run(fx *f, const char *const *prefixes, lx_http_response *resp) {
    lx_http_request r = lx_http_request_default();
    r.url = f->url;
    r.ca_bundle = lx_fake_server_ca_file(f->srv);
    r.timeouts.total_ms = 30000;
    r.keep_header_prefixes = prefixes;
    llmux_error_info err;
    assert_int_equal(lx_http_request_run(f->c, &r, resp, &err), LLMUX_OK);
}

static void kept_in_order(bool h2) {
    fx f;
    start(&f, h2);
    assert_true(lx_fake_server_push(f.srv, &(lx_fake_response){.status = 429, .headers = k_headers, .body = "{}"}));
    assert_true(lx_fake_server_push(f.srv, &(lx_fake_response){.status = 429, .headers = k_headers, .body = "{}"}));
    assert_true(lx_fake_server_push(f.srv, &(lx_fake_response){.body = "ok"}));
    lx_http_response resp;
    run(&f, k_ratelimit, &resp);
    assert_int_equal(resp.status, 429);
    assert_int_equal(resp.http_version, h2 ? 2 : 11);
    assert_non_null(resp.kept_headers.data);
    /* HTTP/2 sends names in lower case. */
    assert_int_equal(strcasecmp(resp.kept_headers.data, k_kept), 0);
    assert_int_equal(resp.kept_headers.len, strlen(k_kept));
    assert_int_equal(resp.kept_headers_dropped, 0);
    lx_http_response_free(&resp);
    assert_null(resp.kept_headers.data);
    /* Not asked for: nothing kept. */
    run(&f, NULL, &resp);
    assert_null(resp.kept_headers.data);
    assert_int_equal(resp.kept_headers.len, 0);
    lx_http_response_free(&resp);
    /* Asked for, none sent. */
    run(&f, k_ratelimit, &resp);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.kept_headers.len, 0);
    lx_http_response_free(&resp);
    stop(&f);
}

static void test_kept_http11(void **state) {
    (void)state;
    kept_in_order(false);
}

static void test_kept_h2(void **state) {
    (void)state;
    kept_in_order(true);
}

/* A 1xx's header lines belong to the 1xx: only the final response's are kept. */
static void test_interim_forgotten(void **state) {
    (void)state;
    fx f;
    start(&f, false);
    static const char reply[] = "HTTP/1.1 100 Continue\r\n"
                                "x-ratelimit-remaining-a: 0\r\n"
                                "\r\n"
                                "HTTP/1.1 429 Too Many Requests\r\n"
                                "Content-Length: 2\r\n"
                                "x-ratelimit-remaining-b: 0\r\n"
                                "\r\n"
                                "{}";
    assert_true(lx_fake_server_push(f.srv, &(lx_fake_response){.raw = true, .body = reply}));
    lx_http_response resp;
    run(&f, k_ratelimit, &resp);
    assert_int_equal(resp.status, 429);
    assert_string_equal(resp.kept_headers.data, "x-ratelimit-remaining-b: 0\n");
    lx_http_response_free(&resp);
    stop(&f);
}

/* Over-long lines, lines with control bytes and lines past the total are left out whole. */
static void test_bounded(void **state) {
    (void)state;
    fx f;
    start(&f, false);
    static char head[LX_HTTP_KEPT_HEADERS_MAX * 3];
    size_t n = 0;
    n += (size_t)snprintf(head + n, sizeof head - n, "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 2\r\n");
    /* One line of exactly LX_HTTP_KEPT_LINE_MAX bytes as stored ("name: value\n") is kept; one
     * byte more is not. */
    const char *name = "x-ratelimit-long";
    size_t value_len = LX_HTTP_KEPT_LINE_MAX - strlen(name) - 3;
    n += (size_t)snprintf(head + n, sizeof head - n, "%s: %0*d\r\n", name, (int)value_len, 7);
    n += (size_t)snprintf(head + n, sizeof head - n, "%s-x: %0*d\r\n", name, (int)value_len, 7); /* dropped */
    n += (size_t)snprintf(head + n, sizeof head - n, "x-ratelimit-ctl: a\x01z\r\n");            /* dropped */
    size_t kept = LX_HTTP_KEPT_LINE_MAX;
    int dropped = 2, i = 0;
    for (; n < sizeof head - 200; i++) {
        char line[64];
        int len = snprintf(line, sizeof line, "x-ratelimit-remaining-k%d: %d\r\n", i, i);
        memcpy(head + n, line, (size_t)len);
        n += (size_t)len;
        if (kept + (size_t)len - 1 <= LX_HTTP_KEPT_HEADERS_MAX) kept += (size_t)len - 1; /* CRLF -> LF */
        else dropped++;
    }
    n += (size_t)snprintf(head + n, sizeof head - n, "\r\n{}");
    assert_true(dropped > 2);
    assert_true(lx_fake_server_push(f.srv, &(lx_fake_response){.raw = true, .body = head, .body_len = n}));
    lx_http_response resp;
    run(&f, k_ratelimit, &resp);
    assert_int_equal(resp.status, 429);
    assert_int_equal(resp.kept_headers.len, kept);
    assert_true(resp.kept_headers.len <= LX_HTTP_KEPT_HEADERS_MAX);
    assert_int_equal(strlen(resp.kept_headers.data), kept);
    assert_int_equal(resp.kept_headers_dropped, (unsigned)dropped);
    assert_int_equal(strncmp(resp.kept_headers.data, "x-ratelimit-long: 000", 21), 0);
    assert_null(strstr(resp.kept_headers.data, "x-ratelimit-long-x"));
    assert_null(strstr(resp.kept_headers.data, "x-ratelimit-ctl"));
    /* Whole lines: the last one kept ends with its line break. */
    assert_int_equal(resp.kept_headers.data[kept - 1], '\n');
    lx_http_response_free(&resp);
    stop(&f);
}

static llmux_status on_headers(void *ud, const lx_http_response *resp, llmux_error_info *err) {
    (void)err;
    char *seen = ud;
    snprintf(seen, 128, "%s", resp->kept_headers.data ? resp->kept_headers.data : "(none)");
    return LLMUX_OK;
}

/* on_headers sees the kept lines; Retry-After and retry-after-ms remain the transport's, and can
 * be kept raw too when asked for. */
static void test_callback_and_retry_after(void **state) {
    (void)state;
    fx f;
    start(&f, false);
    assert_true(lx_fake_server_push(
        f.srv, &(lx_fake_response){.status = 503, .headers = "Retry-After-Ms: 1500\r\nx-other: 1\r\n", .body = "{}"}));
    static const char *const retry[] = {"retry-after", NULL};
    char seen[128] = "";
    lx_http_request r = lx_http_request_default();
    r.url = f.url;
    r.keep_header_prefixes = retry;
    r.on_headers = on_headers;
    r.user_data = seen;
    lx_http_response resp;
    assert_int_equal(lx_http_request_run(f.c, &r, &resp, NULL), LLMUX_OK);
    assert_string_equal(resp.retry_after, "1.500");
    assert_string_equal(resp.kept_headers.data, "Retry-After-Ms: 1500\n");
    assert_string_equal(seen, "Retry-After-Ms: 1500\n");
    lx_http_response_free(&resp);
    stop(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kept_http11),
        cmocka_unit_test(test_kept_h2),
        cmocka_unit_test(test_interim_forgotten),
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_callback_and_retry_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
