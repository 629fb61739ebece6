/* OTLP/HTTP JSON trace export (src/telemetry/otlp.c, telemetry.c) against a collector on loopback
 * (otlp_receiver.h, a real HTTP server) through the real transport (libcurl on the client's
 * loop): span names, ids and parent ids, GenAI attributes, batching, and a collector that is
 * down or does not answer (spans dropped and counted, enqueueing never waits). */
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

#include "core/clock.h"
#include "telemetry/otlp.h"
#include "telemetry/otlp_receiver.h"
#include "telemetry/telemetry.h"
#include "transport/http.h"

static const lx_tel_attempt k_attempts[] = {
    {.target = "openai/gpt-4o", .provider = "openai", .model = "gpt-4o", .started_at_ms = 1700000000000,
     .duration_ms = 5, .ttft_ms = -1, .status = LLMUX_E_OVERLOADED, .http_status = 503, .error = "overloaded"},
    {.target = "gemini/gemini-2.5-flash", .provider = "gemini", .model = "gemini-2.5-flash",
     .started_at_ms = 1700000000010, .duration_ms = 30, .ttft_ms = 12, .status = LLMUX_OK, .http_status = 200},
};

static lx_tel_execution execution(void) {
    return (lx_tel_execution){.accepted = true, .execution_id = "exec_1", .request_id = "req-1", .key_name = "team-a",
                              .requested_model = "smart", .model = "gemini-2.5-flash", .provider = "gemini",
                              .operation = "chat", .status = LLMUX_OK, .started_at_ms = 1700000000000,
                              .latency_ms = 40, .ttft_ms = 22, .queued_ms = -1, .input_tokens = 11,
                              .output_tokens = 4, .cost_known = true, .cost_usd = 0.001, .attempts = k_attempts,
                              .n_attempts = 2};
}

static lx_http_client *client(void) {
    lx_http_client *c = NULL;
    assert_int_equal(lx_http_client_create(NULL, &c, NULL), LLMUX_OK);
    return c;
}

static json_t *span_named(json_t *spans, const char *name) {
    size_t i;
    json_t *s;
    json_array_foreach(spans, i, s) if (strcmp(json_string_value(json_object_get(s, "name")), name) == 0) return s;
    fail_msg("no span named %s", name);
    return NULL;
}

static void test_spans_and_attributes(void **state) {
    (void)state;
    otlp_receiver r;
    otlp_receiver_start(&r, 200);
    char url[64];
    otlp_receiver_url(&r, url, sizeof url);
    lx_http_client *c = client();
    lx_telemetry_params p = {.otlp_endpoint = url, .client = c, .otlp_flush_ms = 50};
    lx_telemetry *t = NULL;
    assert_int_equal(lx_telemetry_create(&p, &t, NULL), LLMUX_OK);
    lx_tel_execution x = execution();
    lx_telemetry_execution(t, &x);
    /* Sent within the flush period, without waiting for a full batch or the shutdown. */
    assert_int_equal(otlp_receiver_wait(&r, 3, 5000), 3);
    /* Not UTF-8: still sent (high bytes as '?'), never failing its batch. */
    lx_tel_execution odd = execution();
    odd.requested_model = "odd\xfe";
    odd.n_attempts = 0;
    lx_telemetry_execution(t, &odd);
    assert_int_equal(otlp_receiver_wait(&r, 4, 5000), 4);
    pthread_mutex_lock(&r.mu);
    assert_non_null(span_named(r.spans, "chat odd?"));
    pthread_mutex_unlock(&r.mu);
    pthread_mutex_lock(&r.mu);
    assert_string_equal(r.path, "/v1/traces");
    assert_string_equal(r.content_type, "application/json");
    json_t *root = span_named(r.spans, "chat smart");
    json_t *a0 = span_named(r.spans, "chat gpt-4o");
    json_t *a1 = span_named(r.spans, "chat gemini-2.5-flash");
    const char *trace = json_string_value(json_object_get(root, "traceId"));
    const char *root_id = json_string_value(json_object_get(root, "spanId"));
    assert_int_equal(strlen(trace), 32);
    assert_int_equal(strlen(root_id), 16);
    assert_string_equal(json_string_value(json_object_get(root, "parentSpanId")), "");
    assert_string_equal(json_string_value(json_object_get(a0, "traceId")), trace);
    assert_string_equal(json_string_value(json_object_get(a1, "traceId")), trace);
    assert_string_equal(json_string_value(json_object_get(a0, "parentSpanId")), root_id);
    assert_string_equal(json_string_value(json_object_get(a1, "parentSpanId")), root_id);
    assert_string_not_equal(json_string_value(json_object_get(a0, "spanId")), json_string_value(json_object_get(a1, "spanId")));
    assert_int_equal(json_integer_value(json_object_get(root, "kind")), 1); /* INTERNAL */
    assert_int_equal(json_integer_value(json_object_get(a0, "kind")), 3);   /* CLIENT */
    assert_string_equal(json_string_value(json_object_get(root, "startTimeUnixNano")), "1700000000000000000");
    assert_string_equal(json_string_value(json_object_get(root, "endTimeUnixNano")), "1700000000040000000");
    assert_string_equal(json_string_value(json_object_get(a1, "startTimeUnixNano")), "1700000000010000000");
    assert_string_equal(json_string_value(json_object_get(a1, "endTimeUnixNano")), "1700000000040000000");
    /* GenAI semantic conventions */
    assert_string_equal(otlp_attr(root, "gen_ai.operation.name"), "chat");
    assert_string_equal(otlp_attr(root, "gen_ai.request.model"), "smart");
    assert_string_equal(otlp_attr(root, "gen_ai.response.model"), "gemini-2.5-flash");
    assert_string_equal(otlp_attr(root, "gen_ai.provider.name"), "gcp.gemini");
    assert_string_equal(otlp_attr(root, "gen_ai.system"), "gemini");
    assert_string_equal(otlp_attr(root, "gen_ai.usage.input_tokens"), "11");
    assert_string_equal(otlp_attr(root, "gen_ai.usage.output_tokens"), "4");
    assert_string_equal(otlp_attr(root, "llmux.execution_id"), "exec_1");
    assert_string_equal(otlp_attr(root, "llmux.request_id"), "req-1");
    assert_null(otlp_attr(root, "error.type"));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(root, "status"), "code")), 1);
    assert_string_equal(otlp_attr(a0, "gen_ai.provider.name"), "openai");
    assert_string_equal(otlp_attr(a0, "gen_ai.request.model"), "gpt-4o");
    assert_string_equal(otlp_attr(a0, "error.type"), "overloaded");
    assert_string_equal(otlp_attr(a0, "http.response.status_code"), "503");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(a0, "status"), "code")), 2);
    assert_string_equal(otlp_attr(a1, "gen_ai.response.model"), "gemini-2.5-flash");
    pthread_mutex_unlock(&r.mu);
    /* Counted once the collector's answer is in (just after the receiver saw the spans). */
    char *text = NULL;
    for (int i = 0; i < 500; i++) {
        free(text);
        text = lx_telemetry_render(t, NULL);
        if (strstr(text, "\nllmux_otlp_spans_exported_total 4\n")) break;
        usleep(10000);
    }
    assert_non_null(strstr(text, "\nllmux_otlp_spans_exported_total 4\n"));
    assert_non_null(strstr(text, "\nllmux_otlp_spans_dropped_total 0\n"));
    free(text);
    lx_telemetry_destroy(t);
    lx_http_client_destroy(c);
    otlp_receiver_stop(&r);
}

static void test_batching_and_shutdown_flush(void **state) {
    (void)state;
    otlp_receiver r;
    otlp_receiver_start(&r, 200);
    char url[64];
    otlp_receiver_url(&r, url, sizeof url);
    lx_http_client *c = client();
    /* A long flush period: only full batches go out before the shutdown sends the rest. */
    lx_telemetry_params p = {.otlp_endpoint = url, .client = c, .otlp_flush_ms = 60000, .otlp_max_batch = 4};
    lx_telemetry *t = NULL;
    assert_int_equal(lx_telemetry_create(&p, &t, NULL), LLMUX_OK);
    lx_tel_execution x = execution();
    x.n_attempts = 0;
    for (int i = 0; i < 10; i++) lx_telemetry_execution(t, &x);
    assert_int_equal(otlp_receiver_wait(&r, 8, 5000), 8);
    usleep(100000);
    assert_int_equal(otlp_receiver_count(&r), 8); /* the last 2 wait for their batch */
    lx_telemetry_destroy(t);                      /* flushes them */
    assert_int_equal(otlp_receiver_count(&r), 10);
    assert_int_equal(r.posts, 3);
    lx_http_client_destroy(c);
    otlp_receiver_stop(&r);
}

static int64_t ms_now(void) { return lx_now_ns() / 1000000; }

static void test_collector_down(void **state) {
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", otlp_closed_port());
    lx_http_client *c = client();
    lx_telemetry_params p = {.otlp_endpoint = url, .client = c, .otlp_flush_ms = 20, .otlp_timeout_ms = 1000};
    lx_telemetry *t = NULL;
    assert_int_equal(lx_telemetry_create(&p, &t, NULL), LLMUX_OK);
    lx_tel_execution x = execution();
    int64_t t0 = ms_now();
    for (int i = 0; i < 100; i++) lx_telemetry_execution(t, &x); /* 300 spans */
    assert_true(ms_now() - t0 < 1000);
    /* Every span is eventually counted as dropped: the connection is refused. */
    char *text = NULL;
    for (int i = 0; i < 500; i++) {
        free(text);
        text = lx_telemetry_render(t, NULL);
        if (strstr(text, "\nllmux_otlp_spans_dropped_total 300\n")) break;
        usleep(10000);
    }
    assert_non_null(strstr(text, "\nllmux_otlp_spans_dropped_total 300\n"));
    assert_non_null(strstr(text, "\nllmux_otlp_spans_exported_total 0\n"));
    assert_null(strstr(text, "\nllmux_otlp_export_failures_total 0\n"));
    free(text);
    lx_telemetry_destroy(t);
    lx_http_client_destroy(c);
}

/* A collector that accepts connections and never answers: the queue fills, later spans are
 * dropped at once, and no caller waits. */
static void test_collector_stuck(void **state) {
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 16), 0);
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(sa.sin_port));
    lx_http_client *c = client();
    lx_telemetry_params p = {.otlp_endpoint = url, .client = c, .otlp_flush_ms = 10, .otlp_max_queue = 16,
                             .otlp_max_batch = 4, .otlp_timeout_ms = 400};
    lx_telemetry *t = NULL;
    assert_int_equal(lx_telemetry_create(&p, &t, NULL), LLMUX_OK);
    lx_tel_execution x = execution();
    x.n_attempts = 0;
    lx_telemetry_execution(t, &x);
    usleep(100000); /* the exporter is now waiting on the stuck collector */
    int64_t t0 = ms_now();
    for (int i = 0; i < 1000; i++) lx_telemetry_execution(t, &x);
    int64_t took = ms_now() - t0;
    assert_true(took < 300); /* well under one export timeout: nobody waited for it */
    char *text = lx_telemetry_render(t, NULL);
    /* 16 fit in the queue; the rest were dropped on arrival. */
    assert_non_null(strstr(text, "\nllmux_otlp_spans_dropped_total 984\n"));
    free(text);
    int64_t s0 = ms_now();
    lx_telemetry_destroy(t); /* one more timeout at most, then the rest is dropped */
    assert_true(ms_now() - s0 < 3000);
    lx_http_client_destroy(c);
    close(fd);
}

static void test_bad_endpoint(void **state) {
    (void)state;
    lx_http_client *c = client();
    lx_telemetry_params p = {.otlp_endpoint = "ftp://collector", .client = c};
    lx_telemetry *t = NULL;
    llmux_error_info err;
    assert_int_equal(lx_telemetry_create(&p, &t, &err), LLMUX_E_CONFIGURATION);
    assert_null(t);
    assert_non_null(strstr(err.message, "otlp_endpoint"));
    lx_http_client_destroy(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spans_and_attributes), cmocka_unit_test(test_batching_and_shutdown_flush),
        cmocka_unit_test(test_collector_down),       cmocka_unit_test(test_collector_stuck),
        cmocka_unit_test(test_bad_endpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
