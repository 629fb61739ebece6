/* The error taxonomy and the names of the canonical enums: stable strings other programs match. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "llmux.h"

static const struct {
    llmux_status status;
    const char *name;
    int http;
    bool retryable;
} k_taxonomy[LLMUX_STATUS_COUNT] = {
    {LLMUX_OK, "ok", 200, false},
    {LLMUX_E_INVALID_REQUEST, "invalid_request", 400, false},
    {LLMUX_E_AUTHENTICATION, "authentication", 401, false},
    {LLMUX_E_PERMISSION, "permission", 403, false},
    {LLMUX_E_MODEL_NOT_FOUND, "model_not_found", 404, false},
    {LLMUX_E_RATE_LIMITED, "rate_limited", 429, true},
    {LLMUX_E_CONTEXT_LENGTH, "context_length_exceeded", 400, false},
    {LLMUX_E_CONTENT_FILTERED, "content_filtered", 400, false},
    {LLMUX_E_OVERLOADED, "overloaded", 503, true},
    {LLMUX_E_UPSTREAM_SERVER, "upstream_server_error", 502, true},
    {LLMUX_E_TIMEOUT, "timeout", 504, true},
    {LLMUX_E_NETWORK, "network", 502, true},
    {LLMUX_E_CANCELLED, "cancelled", 499, false},
    {LLMUX_E_UPSTREAM_PROTOCOL, "upstream_protocol_error", 502, false},
    {LLMUX_E_CONFIGURATION, "configuration", 500, false},
    {LLMUX_E_ROUTING, "routing", 502, false},
    {LLMUX_E_QUEUE_FULL, "queue_full", 429, true},
    {LLMUX_E_OUT_OF_MEMORY, "out_of_memory", 507, false},
    {LLMUX_E_INTERNAL, "internal", 500, false},
};

static void test_taxonomy_table(void **state) {
    (void)state;
    for (int i = 0; i < LLMUX_STATUS_COUNT; i++) {
        llmux_status s = (llmux_status)i;
        assert_int_equal(k_taxonomy[i].status, s);
        assert_string_equal(llmux_status_name(s), k_taxonomy[i].name);
        assert_int_equal(llmux_status_http(s), k_taxonomy[i].http);
        assert_int_equal(llmux_status_retryable(s), k_taxonomy[i].retryable);
        assert_true(strlen(llmux_strerror(s)) > 0);
    }
}

static void test_names_unique_and_round_trip(void **state) {
    (void)state;
    for (int i = 0; i < LLMUX_STATUS_COUNT; i++) {
        for (int k = i + 1; k < LLMUX_STATUS_COUNT; k++) {
            assert_string_not_equal(llmux_status_name((llmux_status)i), llmux_status_name((llmux_status)k));
            assert_string_not_equal(llmux_strerror((llmux_status)i), llmux_strerror((llmux_status)k));
        }
        llmux_status back = LLMUX_E_INTERNAL;
        assert_true(llmux_status_from_name(llmux_status_name((llmux_status)i), &back));
        assert_int_equal(back, i);
    }
    llmux_status out = LLMUX_E_NETWORK;
    assert_false(llmux_status_from_name("nope", &out));
    assert_false(llmux_status_from_name("Rate_Limited", &out));
    assert_false(llmux_status_from_name("", &out));
    assert_false(llmux_status_from_name(NULL, &out));
    assert_int_equal(out, LLMUX_E_NETWORK);
    assert_string_equal(llmux_status_name((llmux_status)LLMUX_STATUS_COUNT), "unknown");
    assert_string_equal(llmux_status_name((llmux_status)-1), "unknown");
    assert_int_equal(llmux_status_http((llmux_status)99), 500);
    assert_false(llmux_status_retryable((llmux_status)99));
}

static void test_retryable_set(void **state) {
    (void)state;
    int n = 0;
    for (int i = 0; i < LLMUX_STATUS_COUNT; i++)
        if (llmux_status_retryable((llmux_status)i)) {
            const char *name = llmux_status_name((llmux_status)i);
            assert_true(strcmp(name, "rate_limited") == 0 || strcmp(name, "overloaded") == 0 ||
                        strcmp(name, "upstream_server_error") == 0 || strcmp(name, "timeout") == 0 ||
                        strcmp(name, "network") == 0 || strcmp(name, "queue_full") == 0);
            n++;
        }
    assert_int_equal(n, 6);
}

static void test_error_helpers(void **state) {
    (void)state;
    llmux_error_info e;
    memset(&e, 0x55, sizeof e);
    assert_int_equal(lx_error(&e, LLMUX_E_ROUTING, "no target for %s", "x/y"), LLMUX_E_ROUTING);
    assert_int_equal(e.status, LLMUX_E_ROUTING);
    assert_string_equal(e.message, "no target for x/y");
    assert_int_equal(e.provider_status, 0);
    assert_string_equal(e.provider_code, "");
    assert_int_equal(e.retry_after_ms, -1);
    assert_int_equal(lx_error(NULL, LLMUX_E_TIMEOUT, "x"), LLMUX_E_TIMEOUT);
    char small[4];
    lx_copy_field(small, sizeof small, "a\xC3\xA9z"); /* 'é' does not fit after "a" + 1 byte */
    assert_string_equal(small, "a\xC3\xA9");
    lx_copy_field(small, 3, "a\xC3\xA9z");
    assert_string_equal(small, "a");
}

static void test_enum_names(void **state) {
    (void)state;
    static const char *const finish[] = {"none",      "stop",  "length", "tool_calls", "content_filter",
                                         "cancelled", "error", "paused"};
    for (int i = 0; i < 8; i++) {
        assert_string_equal(llmux_finish_reason_name((llmux_finish_reason)i), finish[i]);
        llmux_finish_reason r;
        assert_true(llmux_finish_reason_from_name(finish[i], &r));
        assert_int_equal(r, i);
    }
    static const char *const events[] = {"start",         "text_delta", "reasoning_delta", "tool_call_start",
                                         "tool_call_delta", "tool_call_end", "usage",      "finish",
                                         "error",         "native"};
    for (int i = 0; i < 10; i++) {
        assert_string_equal(llmux_event_type_name((llmux_event_type)i), events[i]);
        llmux_event_type t;
        assert_true(llmux_event_type_from_name(events[i], &t));
        assert_int_equal(t, i);
    }
    assert_false(llmux_event_type_from_name("delta", NULL));
    assert_string_equal(llmux_event_type_name((llmux_event_type)10), "unknown");
    llmux_usage u = llmux_usage_default();
    assert_true(u.input_tokens == -1 && u.output_tokens == -1 && u.cached_input_tokens == -1 &&
                u.cache_write_tokens == -1 && u.reasoning_tokens == -1 && u.total_tokens == -1);
    assert_true(llmux_is_unset(llmux_unset()));
    assert_false(llmux_is_unset(0.0));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_taxonomy_table),     cmocka_unit_test(test_names_unique_and_round_trip),
        cmocka_unit_test(test_retryable_set),      cmocka_unit_test(test_error_helpers),
        cmocka_unit_test(test_enum_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
