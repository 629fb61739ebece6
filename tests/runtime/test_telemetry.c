/* The runtime's telemetry end to end: requests on loopback upstreams (ev_upstream.h) through an
 * alias with a retry and a fallback, then the Prometheus text (llmux_metrics_prometheus), the
 * execution log file (each line parsed) and the spans a loopback OTLP collector received; and a
 * collector that is down: requests are unaffected, the dropped spans are counted. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "llmux.h"
#include "runtime/ev_upstream.h"
#include "telemetry/otlp_receiver.h"

#define STREAM "tests/data/fake/openai/stream_text.sse"
#define ERRBODY "tests/data/fake/openai/error_429.json"

/* Upstream "a" always answers 503, "b" streams an answer; alias smart = [a/m, b/m] with two
 * tries per target: a, a again (retry), then b (fallback). */
typedef struct rig {
    ev_upstream ua, ub;
    char url_a[64], url_b[64], otlp[64], log_path[128], dir[64];
    llmux_provider_params p[2];
    llmux_alias_target t[2];
    llmux_alias al;
    llmux_runtime *rt;
} rig;

static void rig_start(rig *g, const char *otlp_endpoint) {
    memset(g, 0, sizeof *g);
    ev_upstream_start(&g->ua, 503, "application/json", ERRBODY);
    ev_upstream_start(&g->ub, 200, "text/event-stream", STREAM);
    ev_upstream_url(&g->ua, g->url_a, sizeof g->url_a);
    ev_upstream_url(&g->ub, g->url_b, sizeof g->url_b);
    g->p[0] = (llmux_provider_params){.name = "a", .protocol = "openai", .base_url = g->url_a, .api_key = "k"};
    g->p[1] = (llmux_provider_params){.name = "b", .protocol = "openai", .base_url = g->url_b, .api_key = "k"};
    g->t[0] = (llmux_alias_target){.model = "a/m"};
    g->t[1] = (llmux_alias_target){.model = "b/m"};
    g->al = (llmux_alias){.name = "smart", .targets = g->t, .n_targets = 2,
                          .retry = {.attempts = 2, .backoff_ms = 1, .max_backoff_ms = 2}};
    snprintf(g->dir, sizeof g->dir, "/tmp/lx_rt_tel_XXXXXX");
    assert_non_null(mkdtemp(g->dir));
    snprintf(g->log_path, sizeof g->log_path, "%s/exec.log", g->dir);
    llmux_runtime_params rp = llmux_runtime_default_params();
    rp.providers = g->p;
    rp.n_providers = 2;
    rp.aliases = &g->al;
    rp.n_aliases = 1;
    rp.cooldown_failures = -1; /* every request tries a again */
    rp.telemetry_log = g->log_path;
    rp.otlp_endpoint = otlp_endpoint;
    llmux_error_info err;
    assert_int_equal(llmux_runtime_create(&rp, &g->rt, &err), LLMUX_OK);
}

static void rig_stop(rig *g) {
    llmux_runtime_destroy(g->rt);
    g->rt = NULL;
    ev_upstream_stop(&g->ua);
    ev_upstream_stop(&g->ub);
    unlink(g->log_path);
    rmdir(g->dir);
}

static llmux_status run(rig *g, const char *model, const char *request_id, bool stream) {
    llmux_part part = {.type = LLMUX_PART_TEXT, .text = "hi"};
    llmux_message msg = {.role = LLMUX_ROLE_USER, .parts = &part, .n_parts = 1};
    llmux_kv meta[] = {{.key = "request_id", .value = request_id}, {.key = "key_name", .value = "team-a"}};
    llmux_request req = llmux_request_default();
    req.model = model;
    req.messages = &msg;
    req.n_messages = 1;
    req.stream = stream;
    req.metadata = meta;
    req.n_metadata = 2;
    llmux_response *resp = NULL;
    llmux_status st = llmux_run(g->rt, &req, NULL, &resp, NULL);
    llmux_response_free(resp);
    return st;
}

static char *metrics(rig *g) {
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(llmux_metrics_prometheus(g->rt, &text, &len, NULL), LLMUX_OK);
    assert_int_equal(strlen(text), len);
    return text;
}

/* The value of the sample line that starts with `series ` (name and labels exactly); fails when
 * there is none. */
static double sample(const char *text, const char *series) {
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ') return strtod(p + n + 1, NULL);
    fail_msg("no sample %s in:\n%s", series, text);
    return -1;
}

static json_t *log_lines(const char *path) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    json_t *all = json_array();
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        json_t *o = json_loadb(line, (size_t)n - 1, 0, NULL);
        if (!o) fail_msg("not a JSON line: %s", line);
        json_array_append_new(all, o);
    }
    free(line);
    fclose(f);
    return all;
}

static void test_metrics_log_and_traces(void **state) {
    (void)state;
    otlp_receiver r;
    otlp_receiver_start(&r, 200);
    char url[64];
    otlp_receiver_url(&r, url, sizeof url);
    rig g;
    rig_start(&g, url);
    assert_int_equal(run(&g, "smart", "req-1", true), LLMUX_OK);   /* a, a (retry), b (fallback) */
    assert_int_equal(run(&g, "b/m", "req-2", true), LLMUX_OK);    /* one attempt */
    llmux_status failed = run(&g, "a/m", "req-3", false);          /* one attempt, fails */
    assert_int_not_equal(failed, LLMUX_OK);
    assert_int_equal(run(&g, "nosuch/x", "req-4", false), LLMUX_E_MODEL_NOT_FOUND); /* refused */
    const char *cls = llmux_status_name(failed);
    char s[256];

    char *t = metrics(&g);
    assert_non_null(strstr(t, "# TYPE llmux_requests_total counter\n"));
    assert_non_null(strstr(t, "# TYPE vllm:time_to_first_token_seconds histogram\n"));
    assert_non_null(strstr(t, "# TYPE llmux_local_queue_depth gauge\n"));
    assert_true(sample(t, "llmux_requests_total{model=\"smart\",provider=\"b\",status=\"ok\"}") == 1);
    assert_true(sample(t, "llmux_requests_total{model=\"b/m\",provider=\"b\",status=\"ok\"}") == 1);
    snprintf(s, sizeof s, "llmux_requests_total{model=\"a/m\",provider=\"a\",status=\"%s\"}", cls);
    assert_true(sample(t, s) == 1);
    assert_true(sample(t, "llmux_requests_total{model=\"nosuch/x\",provider=\"\",status=\"model_not_found\"}") == 1);
    snprintf(s, sizeof s, "llmux_attempts_total{model=\"m\",provider=\"a\",status=\"%s\"}", cls);
    assert_true(sample(t, s) == 3); /* two for smart, one for a/m */
    assert_true(sample(t, "llmux_attempts_total{model=\"m\",provider=\"b\",status=\"ok\"}") == 2);
    assert_true(sample(t, "llmux_retries_total{model=\"smart\"}") == 1);
    assert_true(sample(t, "llmux_fallbacks_total{model=\"smart\"}") == 1);
    snprintf(s, sizeof s, "llmux_errors_total{class=\"%s\"}", cls);
    assert_true(sample(t, s) == 1);
    assert_true(sample(t, "llmux_errors_total{class=\"model_not_found\"}") == 1);
    assert_true(sample(t, "vllm:prompt_tokens_total{model_name=\"smart\"}") == 11);
    assert_true(sample(t, "vllm:generation_tokens_total{model_name=\"smart\"}") == 4);
    assert_true(sample(t, "vllm:time_to_first_token_seconds_count{model_name=\"smart\"}") == 1);
    assert_true(sample(t, "vllm:time_to_first_token_seconds_bucket{model_name=\"smart\",le=\"+Inf\"}") == 1);
    assert_true(sample(t, "vllm:e2e_request_latency_seconds_count{model_name=\"smart\"}") == 1);
    assert_true(sample(t, "vllm:e2e_request_latency_seconds_count{model_name=\"a/m\"}") == 1);
    assert_true(sample(t, "vllm:request_time_per_output_token_seconds_count{model_name=\"b/m\"}") == 1);
    assert_true(sample(t, "llmux_executions_in_flight") == 0);
    free(t);

    /* The log: one line per execution, the refused one included, in order. */
    json_t *lines = log_lines(g.log_path);
    assert_int_equal(json_array_size(lines), 4);
    json_t *l0 = json_array_get(lines, 0);
    assert_string_equal(json_string_value(json_object_get(l0, "request_id")), "req-1");
    assert_string_equal(json_string_value(json_object_get(l0, "key_name")), "team-a");
    assert_string_equal(json_string_value(json_object_get(l0, "model")), "smart");
    assert_string_equal(json_string_value(json_object_get(l0, "provider")), "b");
    assert_string_equal(json_string_value(json_object_get(l0, "status")), "ok");
    assert_int_equal(json_integer_value(json_object_get(l0, "attempts")), 3);
    assert_int_equal(json_integer_value(json_object_get(l0, "retries")), 1);
    assert_int_equal(json_integer_value(json_object_get(l0, "fallbacks")), 1);
    assert_int_equal(json_integer_value(json_object_get(l0, "input_tokens")), 11);
    assert_int_equal(json_integer_value(json_object_get(l0, "output_tokens")), 4);
    assert_true(json_number_value(json_object_get(l0, "latency_ms")) > 0);
    assert_true(json_is_true(json_object_get(l0, "stream")));
    assert_int_equal(strncmp(json_string_value(json_object_get(l0, "execution_id")), "exec_", 5), 0);
    json_t *l2 = json_array_get(lines, 2);
    assert_string_equal(json_string_value(json_object_get(l2, "status")), cls);
    assert_string_equal(json_string_value(json_object_get(l2, "level")), "error");
    assert_non_null(json_string_value(json_object_get(l2, "error")));
    json_t *l3 = json_array_get(lines, 3);
    assert_string_equal(json_string_value(json_object_get(l3, "status")), "model_not_found");
    assert_int_equal(json_integer_value(json_object_get(l3, "attempts")), 0);
    json_decref(lines);

    /* The traces: 4 execution spans and 5 attempt spans (3 + 1 + 1), sent by the shutdown at the
     * latest. */
    rig_stop(&g);
    assert_int_equal(otlp_receiver_wait(&r, 9, 5000), 9);
    pthread_mutex_lock(&r.mu);
    json_t *root = NULL;
    size_t i;
    json_t *sp;
    json_array_foreach(r.spans, i, sp) if (strcmp(json_string_value(json_object_get(sp, "name")), "chat smart") == 0) root = sp;
    assert_non_null(root);
    assert_string_equal(otlp_attr(root, "llmux.request_id"), "req-1");
    assert_string_equal(otlp_attr(root, "gen_ai.usage.input_tokens"), "11");
    assert_string_equal(otlp_attr(root, "gen_ai.response.model"), "gpt-4o-mini-2024-07-18");
    const char *root_id = json_string_value(json_object_get(root, "spanId"));
    int children = 0, a_children = 0;
    json_array_foreach(r.spans, i, sp) {
        if (strcmp(json_string_value(json_object_get(sp, "parentSpanId")), root_id) != 0) continue;
        children++;
        assert_string_equal(json_string_value(json_object_get(sp, "traceId")),
                            json_string_value(json_object_get(root, "traceId")));
        assert_string_equal(json_string_value(json_object_get(sp, "name")), "chat m");
        if (strcmp(otlp_attr(sp, "gen_ai.provider.name"), "a") == 0) {
            a_children++;
            assert_string_equal(otlp_attr(sp, "error.type"), cls);
            assert_string_equal(otlp_attr(sp, "http.response.status_code"), "503");
        }
    }
    assert_int_equal(children, 3);
    assert_int_equal(a_children, 2);
    pthread_mutex_unlock(&r.mu);
    otlp_receiver_stop(&r);
}

/* Submitted executions finish on the loop thread: counted the same way, in flight back to 0. */
static void test_submit_counts(void **state) {
    (void)state;
    rig g;
    rig_start(&g, NULL);
    llmux_part part = {.type = LLMUX_PART_TEXT, .text = "hi"};
    llmux_message msg = {.role = LLMUX_ROLE_USER, .parts = &part, .n_parts = 1};
    llmux_request req = llmux_request_default();
    req.model = "b/m";
    req.messages = &msg;
    req.n_messages = 1;
    req.stream = true; /* the upstream answers with an event stream */
    llmux_execution *ex[8];
    for (int i = 0; i < 8; i++) assert_int_equal(llmux_submit(g.rt, &req, NULL, &ex[i], NULL), LLMUX_OK);
    for (int i = 0; i < 8; i++) {
        llmux_response *resp = NULL;
        assert_int_equal(llmux_execution_wait(ex[i], &resp, NULL), LLMUX_OK);
        llmux_response_free(resp);
        llmux_execution_free(ex[i]);
    }
    char *t = metrics(&g);
    assert_true(sample(t, "llmux_requests_total{model=\"b/m\",provider=\"b\",status=\"ok\"}") == 8);
    assert_true(sample(t, "llmux_executions_in_flight") == 0);
    free(t);
    json_t *lines = log_lines(g.log_path);
    assert_int_equal(json_array_size(lines), 8);
    json_decref(lines);
    char *text = NULL;
    assert_int_equal(llmux_metrics_prometheus(NULL, &text, NULL, NULL), LLMUX_E_INVALID_REQUEST);
    assert_null(text);
    rig_stop(&g);
}

/* A collector that is down: every request still succeeds at once; the spans are dropped and
 * /metrics says so. */
static void test_collector_down(void **state) {
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", otlp_closed_port());
    rig g;
    rig_start(&g, url);
    for (int i = 0; i < 20; i++) assert_int_equal(run(&g, "b/m", "req", true), LLMUX_OK);
    char *t = NULL;
    for (int i = 0; i < 500; i++) { /* the exporter tries within its 1 s flush period */
        free(t);
        t = metrics(&g);
        if (sample(t, "llmux_otlp_spans_dropped_total") == 40) break;
        usleep(10000);
    }
    assert_true(sample(t, "llmux_otlp_spans_dropped_total") == 40);
    assert_true(sample(t, "llmux_otlp_spans_exported_total") == 0);
    assert_true(sample(t, "llmux_otlp_export_failures_total") >= 1);
    assert_true(sample(t, "llmux_requests_total{model=\"b/m\",provider=\"b\",status=\"ok\"}") == 20);
    free(t);
    rig_stop(&g);
}

static void test_bad_settings(void **state) {
    (void)state;
    llmux_runtime_params rp = llmux_runtime_default_params();
    assert_int_equal(rp.telemetry_log_level, LLMUX_LOG_INFO);
    llmux_runtime *rt = NULL;
    llmux_error_info err;
    rp.telemetry_log = "/nonexistent-dir/exec.log";
    assert_int_equal(llmux_runtime_create(&rp, &rt, &err), LLMUX_E_CONFIGURATION);
    assert_null(rt);
    rp.telemetry_log = NULL;
    rp.otlp_endpoint = "collector:4318";
    assert_int_equal(llmux_runtime_create(&rp, &rt, &err), LLMUX_E_CONFIGURATION);
    assert_non_null(strstr(err.message, "otlp_endpoint"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_log_and_traces),
        cmocka_unit_test(test_submit_counts),
        cmocka_unit_test(test_collector_down),
        cmocka_unit_test(test_bad_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
