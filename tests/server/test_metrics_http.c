/* GET /metrics on the real server over loopback (libcurl as the client): the Prometheus text of
 * the runtime after a chat completion went through it, and telemetry.metrics_key's check
 * (missing, wrong, right key; the check function on its own). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <event2/buffer.h>

#include "server/http/metrics_route.h"
#include "server/http/route_stats.h"
#include "server_fixture.h"

#define KEY "metrics-s3cret-key"

static void get_metrics(sf *f, const char *auth, sf_reply *r) {
    memset(r, 0, sizeof *r);
    assert_int_equal(sf_http(f, "GET", "/metrics", NULL, 0, auth, r), CURLE_OK);
}

static void test_metrics_after_a_request(void **state) {
    (void)state;
    sf f;
    sf_start(&f); /* no key: /metrics is open */
    sf_push(&f, "/v1/chat/completions", 200, "text/event-stream", "tests/data/fake/openai/stream_text.sse", NULL, 0, 0);
    sf_reply r;
    sf_post(&f, "/v1/chat/completions",
            "{\"model\":\"openai/gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    get_metrics(&f, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.headers, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
    assert_non_null(strstr(r.body, "# TYPE llmux_requests_total counter\n"));
    assert_non_null(strstr(r.body, "\nllmux_requests_total{model=\"openai/gpt-4o-mini\",provider=\"openai\",status=\"ok\"} 1\n"));
    assert_non_null(strstr(r.body, "\nvllm:prompt_tokens_total{model_name=\"openai/gpt-4o-mini\"} 11\n"));
    assert_non_null(strstr(r.body, "\nllmux_executions_in_flight 0\n"));
    free(r.body);
    /* A local model: its queue time and its (now empty) queue. */
    sf_post(&f, "/v1/chat/completions",
            "{\"model\":\"" SF_LOCAL "\",\"max_tokens\":4,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    get_metrics(&f, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\nllmux_requests_total{model=\"" SF_LOCAL "\",provider=\"local\",status=\"ok\"} 1\n"));
    assert_non_null(strstr(r.body, "\nvllm:request_queue_time_seconds_count{model_name=\"" SF_LOCAL "\"} 1\n"));
    if (!strstr(r.body, "\nllmux_local_queue_depth{model=\"" SF_LOCAL "\"} 0\n")) fail_msg("%s", r.body);
    free(r.body);
    /* Four requests at once on the one engine thread: while the first runs, the rest wait. */
    llmux_part part = {.type = LLMUX_PART_TEXT, .text = "hi"};
    llmux_message msg = {.role = LLMUX_ROLE_USER, .parts = &part, .n_parts = 1};
    llmux_request req = llmux_request_default();
    req.model = SF_LOCAL;
    req.messages = &msg;
    req.n_messages = 1;
    req.sampling.max_tokens = 32;
    llmux_execution *ex[4];
    for (int i = 0; i < 4; i++) assert_int_equal(llmux_submit(f.rt, &req, NULL, &ex[i], NULL), LLMUX_OK);
    get_metrics(&f, NULL, &r);
    const char *depth = strstr(r.body, "\nllmux_local_queue_depth{model=\"" SF_LOCAL "\"} ");
    assert_non_null(depth);
    long waiting = strtol(depth + strlen("\nllmux_local_queue_depth{model=\"" SF_LOCAL "\"} "), NULL, 10);
    assert_true(waiting >= 1 && waiting <= 4);
    const char *inflight = strstr(r.body, "\nllmux_executions_in_flight ");
    assert_non_null(inflight);
    assert_true(strtol(inflight + strlen("\nllmux_executions_in_flight "), NULL, 10) >= 1);
    free(r.body);
    for (int i = 0; i < 4; i++) {
        llmux_response *resp = NULL;
        llmux_execution_wait(ex[i], &resp, NULL);
        llmux_response_free(resp);
        llmux_execution_free(ex[i]);
    }
    get_metrics(&f, NULL, &r);
    assert_non_null(strstr(r.body, "\nllmux_local_queue_depth{model=\"" SF_LOCAL "\"} 0\n"));
    assert_non_null(strstr(r.body, "\nllmux_executions_in_flight 0\n"));
    free(r.body);
    /* Only GET. */
    memset(&r, 0, sizeof r);
    assert_int_equal(sf_http(&f, "POST", "/metrics", "{}", 2, NULL, &r), CURLE_OK);
    assert_int_not_equal(r.status, 200);
    free(r.body);
    sf_stop(&f);
}

static void test_metrics_key(void **state) {
    (void)state;
    lx_server_params sp = lx_server_default_params();
    sp.metrics_key = KEY;
    sf f;
    sf_start_with(&f, &sp);
    sf_reply r;
    get_metrics(&f, NULL, &r);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.headers, "WWW-Authenticate: Bearer"));
    assert_null(strstr(r.body, "llmux_requests_total"));
    assert_null(strstr(r.body, KEY));
    free(r.body);
    get_metrics(&f, "Authorization: Bearer metrics-s3cret-kez", &r);
    assert_int_equal(r.status, 401);
    free(r.body);
    get_metrics(&f, "Authorization: Basic " KEY, &r);
    assert_int_equal(r.status, 401);
    free(r.body);
    get_metrics(&f, "Authorization: Bearer " KEY, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "# TYPE llmux_requests_total counter\n"));
    free(r.body);
    /* The other routes do not take this key into account. */
    get_metrics(&f, NULL, &r);
    free(r.body);
    memset(&r, 0, sizeof r);
    assert_int_equal(sf_http(&f, "GET", "/health", NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    free(r.body);
    sf_stop(&f);
}

/* Every response is counted by route, method and code, those the executions never see too: a
 * 404 route, a 400 body, /health. */
static void test_http_responses_by_route(void **state) {
    (void)state;
    sf f;
    sf_start(&f);
    sf_reply r;
    for (int i = 0; i < 2; i++) {
        memset(&r, 0, sizeof r);
        assert_int_equal(sf_http(&f, "GET", "/health", NULL, 0, NULL, &r), CURLE_OK);
        assert_int_equal(r.status, 200);
        free(r.body);
    }
    memset(&r, 0, sizeof r);
    assert_int_equal(sf_http(&f, "GET", "/no/such/route", NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 404);
    free(r.body);
    sf_post(&f, "/v1/chat/completions", "{not json", &r);
    assert_int_equal(r.status, 400);
    free(r.body);
    /* An execution's reply (call.c) and an offloaded call's (offload.c) set their own completion
     * callbacks: they are counted too. */
    sf_push(&f, "/v1/chat/completions", 200, "text/event-stream", "tests/data/fake/openai/stream_text.sse", NULL, 0, 0);
    sf_post(&f, "/v1/chat/completions",
            "{\"model\":\"openai/gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    sf_post(&f, "/v1/messages/count_tokens",
            "{\"model\":\"" SF_LOCAL "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    memset(&r, 0, sizeof r);
    assert_int_equal(sf_http(&f, "DELETE", "/v1/responses/resp_nope", NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 404);
    free(r.body);
    memset(&r, 0, sizeof r);
    assert_int_equal(sf_http(&f, "GET", "/v1/responses/resp_nope/input_items?limit=2", NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 404);
    free(r.body);
    get_metrics(&f, NULL, &r); /* this one is counted once sent: in the next scrape */
    free(r.body);
    get_metrics(&f, NULL, &r);
    assert_int_equal(r.status, 200);
    const char *want[] = {
        "# TYPE llmux_http_requests_total counter\n",
        "\nllmux_http_requests_total{handler=\"/health\",method=\"GET\",code=\"200\"} 2\n",
        "\nllmux_http_requests_total{handler=\"other\",method=\"GET\",code=\"404\"} 1\n",
        "\nllmux_http_requests_total{handler=\"/v1/chat/completions\",method=\"POST\",code=\"400\"} 1\n",
        "\nllmux_http_requests_total{handler=\"/metrics\",method=\"GET\",code=\"200\"} 1\n",
        "\nllmux_http_requests_total{handler=\"/v1/chat/completions\",method=\"POST\",code=\"200\"} 1\n",
        "\nllmux_http_requests_total{handler=\"/v1/messages/count_tokens\",method=\"POST\",code=\"200\"} 1\n",
        "\nllmux_http_requests_total{handler=\"/v1/responses/{id}\",method=\"DELETE\",code=\"404\"} 1\n",
        "\nllmux_http_requests_total{handler=\"/v1/responses/{id}/input_items\",method=\"GET\",code=\"404\"} 1\n",
        "\n# TYPE llmux_responses_stored gauge\nllmux_responses_stored 0\n",
        "\nllmux_responses_stored_bytes 0\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(r.body, want[i])) fail_msg("missing %s in:\n%s", want[i], r.body);
    free(r.body);
    sf_stop(&f);
}

/* The series are bounded: past LX_ROUTE_STATS_MAX distinct ones, one overflow series. */
static void test_route_stats_bounded(void **state) {
    (void)state;
    lx_route_stats rs;
    lx_route_stats_init(&rs);
    for (int code = 100; code < 100 + LX_ROUTE_STATS_MAX + 5; code++) lx_route_stats_count(&rs, LX_ROUTE_CHAT, 1, code);
    lx_route_stats_count(&rs, LX_ROUTE_CHAT, 1, 100);
    assert_int_equal(rs.n, LX_ROUTE_STATS_MAX);
    assert_int_equal(rs.overflow, 5);
    assert_int_equal(lx_route_of("/v1/messages/count_tokens"), LX_ROUTE_COUNT_TOKENS);
    assert_int_equal(lx_route_of("/models/load"), LX_ROUTE_MODELS_ADMIN);
    assert_int_equal(lx_route_of("/v1/chat/completions/x"), LX_ROUTE_OTHER);
    assert_int_equal(lx_route_of("/responses/r1"), LX_ROUTE_RESPONSE_ID);
    assert_int_equal(lx_route_of("/v1/responses/r1/input_items"), LX_ROUTE_RESPONSE_ITEMS);
    assert_int_equal(lx_route_of("/responses/r1/input_items"), LX_ROUTE_RESPONSE_ITEMS);
    assert_int_equal(lx_route_of("/v1/responses/r1/cancel"), LX_ROUTE_OTHER);
    assert_int_equal(lx_route_of(NULL), LX_ROUTE_OTHER);
    struct evbuffer *b = evbuffer_new();
    assert_true(lx_route_stats_render(&rs, b));
    size_t n = evbuffer_get_length(b);
    char *text = calloc(n + 1, 1);
    evbuffer_remove(b, text, n);
    assert_non_null(strstr(text, "llmux_http_requests_total{handler=\"/v1/chat/completions\",method=\"POST\",code=\"100\"} 2\n"));
    assert_non_null(strstr(text, "llmux_http_requests_total{handler=\"other\",method=\"other\",code=\"other\"} 5\n"));
    free(text);
    evbuffer_free(b);
}

static void test_authorized(void **state) {
    (void)state;
    assert_true(lx_metrics_authorized(NULL, NULL));
    assert_true(lx_metrics_authorized(NULL, "anything"));
    assert_false(lx_metrics_authorized("abcdefgh", NULL));
    assert_false(lx_metrics_authorized("abcdefgh", ""));
    assert_false(lx_metrics_authorized("abcdefgh", "Bearer"));
    assert_false(lx_metrics_authorized("abcdefgh", "Bearer "));
    assert_false(lx_metrics_authorized("abcdefgh", "Bearer abcdefg"));
    assert_false(lx_metrics_authorized("abcdefgh", "Bearer abcdefghi"));
    assert_false(lx_metrics_authorized("abcdefgh", "Token abcdefgh"));
    assert_true(lx_metrics_authorized("abcdefgh", "Bearer abcdefgh"));
    assert_true(lx_metrics_authorized("abcdefgh", "bearer abcdefgh"));
    char big[2100];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    memcpy(big, "Bearer ", 7);
    assert_false(lx_metrics_authorized("abcdefgh", big)); /* past the size cap */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_after_a_request),
        cmocka_unit_test(test_metrics_key),
        cmocka_unit_test(test_http_responses_by_route),
        cmocka_unit_test(test_route_stats_bounded),
        cmocka_unit_test(test_authorized),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
