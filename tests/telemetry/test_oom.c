/* Out of memory in the telemetry (STYLE.md §9): creating it fails with LLMUX_E_OUT_OF_MEMORY, an
 * update that cannot allocate its series is lost without harm (never a crash, never a half-made
 * series), a render that cannot allocate returns NULL, and nothing leaks on any of these paths
 * (LSan in the sanitizer build). malloc, calloc and realloc are wrapped at link time for llmux's
 * own code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "telemetry/metrics.h"
#include "telemetry/telemetry.h"

#include "support/oom_torture.h"

static const lx_tel_attempt k_attempts[] = {
    {.target = "a/m", .provider = "a", .model = "m", .duration_ms = 5, .ttft_ms = -1, .status = LLMUX_E_OVERLOADED},
    {.target = "b/m", .provider = "b", .model = "m", .duration_ms = 5, .ttft_ms = 2, .status = LLMUX_OK},
};

/* The whole life of a telemetry object: OK only when every update landed. */
static llmux_status op_telemetry(void) {
    lx_telemetry_params p = {0};
    lx_telemetry *t = NULL;
    llmux_error_info err;
    llmux_status st = lx_telemetry_create(&p, &t, &err);
    if (st != LLMUX_OK) {
        assert_null(t);
        return st;
    }
    lx_tel_execution x = {.accepted = true, .execution_id = "exec_1", .requested_model = "smart", .model = "m",
                          .provider = "b", .status = LLMUX_OK, .latency_ms = 10, .ttft_ms = 4, .queued_ms = -1,
                          .input_tokens = 11, .output_tokens = 4, .cost_known = true, .cost_usd = 0.5,
                          .attempts = k_attempts, .n_attempts = 2};
    lx_telemetry_started(t);
    lx_telemetry_execution(t, &x);
    lx_telemetry_queues_begin(t);
    lx_telemetry_queue_depth(t, "local/x", 2);
    size_t len = 0;
    char *text = lx_telemetry_render(t, &len);
    st = LLMUX_OK;
    /* An update lost to a failed allocation shows as a missing sample. */
    if (!text || !strstr(text, "llmux_requests_total{model=\"smart\",provider=\"b\",status=\"ok\"} 1\n") ||
        !strstr(text, "llmux_attempts_total{model=\"m\",provider=\"a\",status=\"overloaded\"} 1\n") ||
        !strstr(text, "vllm:e2e_request_latency_seconds_count{model_name=\"smart\"} 1\n") ||
        !strstr(text, "llmux_cost_usd_total{model=\"smart\",provider=\"b\"} 0.5\n") ||
        !strstr(text, "llmux_local_queue_depth{model=\"local/x\"} 2\n") ||
        !strstr(text, "llmux_attempts_total{model=\"m\",provider=\"b\",status=\"ok\"} 1\n") ||
        !strstr(text, "llmux_fallbacks_total{model=\"smart\"} 1\n") ||
        !strstr(text, "vllm:time_to_first_token_seconds_count{model_name=\"smart\"} 1\n") ||
        !strstr(text, "vllm:request_time_per_output_token_seconds_count{model_name=\"smart\"} 1\n") ||
        !strstr(text, "vllm:prompt_tokens_total{model_name=\"smart\"} 11\n") ||
        !strstr(text, "vllm:generation_tokens_total{model_name=\"smart\"} 4\n"))
        st = LLMUX_E_OUT_OF_MEMORY;
    if (text) assert_int_equal(strlen(text), len);
    free(text);
    lx_telemetry_destroy(t);
    return st;
}

static void test_telemetry_oom(void **state) {
    (void)state;
    long points = oom_torture(op_telemetry);
    print_message("telemetry: %ld allocation failure points\n", points);
    assert_true(points > 20);
}

/* The cardinality set under failure: a value it could not store is "other", never NULL. */
static llmux_status op_bound(void) {
    lx_metrics *m = lx_metrics_create(64);
    if (!m) return LLMUX_E_OUT_OF_MEMORY;
    llmux_status st = LLMUX_OK;
    char name[16];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "m%d", i);
        const char *v = lx_metrics_bound(m, name);
        assert_non_null(v);
        if (strcmp(v, name) != 0) st = LLMUX_E_OUT_OF_MEMORY;
    }
    lx_metrics_destroy(m);
    return st;
}

static void test_bound_oom(void **state) {
    (void)state;
    assert_true(oom_torture(op_bound) > 40);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_telemetry_oom),
        cmocka_unit_test(test_bound_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
