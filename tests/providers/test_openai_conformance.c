/* Conformance against recorded real traffic in ../shared/fixtures/providers/{openai_chat,
 * openrouter} (read only; skipped when absent). Each file gets a specific expected outcome. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "decode_harness.h"

#define FIX "../shared/fixtures/providers/"

/* Byte-by-byte feeding must agree (h_decode_fixture). */
static h_result decode_file(const char *provider, const char *path, bool stream) {
    lx_provider_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = provider;
    return h_decode_fixture(&lx_provider_openai, &cfg, path, stream);
}

/* Concatenates the arguments deltas of the tool call at `index` and checks they are valid JSON. */
static void assert_tool_args_json(const char *events, unsigned index, const char *must_contain) {
    char prefix[48];
    snprintf(prefix, sizeof prefix, "tool_call_delta %u \"", index);
    lx_buf args;
    lx_buf_init(&args, 1 << 20);
    lx_buf_append(&args, "", 0);
    for (const char *p = strstr(events, prefix); p; p = strstr(p + 1, prefix)) {
        const char *q = p + strlen(prefix);
        /* Undo the harness's escaping: \" \\ \n. */
        for (; *q && !(q[0] == '"' && q[1] == '\n'); q++) {
            if (*q == '\\' && q[1]) {
                q++;
                lx_buf_append(&args, *q == 'n' ? "\n" : q, 1);
            } else {
                lx_buf_append(&args, q, 1);
            }
        }
    }
    json_error_t je;
    json_t *j = json_loads(args.data, 0, &je);
    if (!json_is_object(j)) fail_msg("tool call %u arguments are not a JSON object: %s", index, args.data);
    if (must_contain && !strstr(args.data, must_contain)) fail_msg("arguments %s lack %s", args.data, must_contain);
    json_decref(j);
    lx_buf_free(&args);
}

static void test_openai_stream_text(void **s) {
    (void)s;
    h_result r = decode_file("openai", FIX "openai_chat/stream_text.sse", true);
    assert_int_equal(r.status, LLMUX_OK);
    assert_true(strncmp(r.events, "start \"chatcmpl-", 16) == 0);
    assert_non_null(strstr(r.events, "text_delta 0 "));
    assert_non_null(strstr(r.events, "\nusage in="));
    assert_non_null(strstr(r.events, "finish stop\n"));
    assert_null(strstr(r.events, "tool_call"));
    free(r.events);
}

static void test_openai_stream_tool_call(void **s) {
    (void)s;
    h_result r = decode_file("openai", FIX "openai_chat/stream_tool_call.sse", true);
    assert_int_equal(r.status, LLMUX_OK);
    assert_non_null(strstr(r.events, "tool_call_start 0 \"call_ZR5UUuTt3pf61kjwAJIYdVMj\" \"get_capital\"\n"));
    assert_tool_args_json(r.events, 0, "country");
    assert_non_null(strstr(r.events, "tool_call_end 0\nfinish tool_calls\n"));
    free(r.events);
}

static void test_openai_stream_parallel(void **s) {
    (void)s;
    h_result r = decode_file("openai", FIX "openai_chat/stream_parallel_tool_calls.sse", true);
    assert_int_equal(r.status, LLMUX_OK);
    assert_non_null(strstr(r.events, "tool_call_start 0 "));
    assert_non_null(strstr(r.events, "tool_call_start 1 "));
    assert_null(strstr(r.events, "tool_call_start 2 "));
    assert_tool_args_json(r.events, 0, "Edinburgh");
    assert_tool_args_json(r.events, 1, "AAPL");
    assert_non_null(strstr(r.events, "finish tool_calls\n"));
    free(r.events);
}

static void test_openai_stream_tool_result_and_refusal(void **s) {
    (void)s;
    h_result r = decode_file("openai", FIX "openai_chat/stream_tool_result.sse", true);
    assert_int_equal(r.status, LLMUX_OK);
    assert_non_null(strstr(r.events, "text_delta 0 "));
    assert_non_null(strstr(r.events, "finish stop\n"));
    free(r.events);
    r = decode_file("openai", FIX "openai_chat/stream_refusal.sse", true);
    assert_int_equal(r.status, LLMUX_OK);
    assert_non_null(strstr(r.events, "text_delta 0 "));
    assert_non_null(strstr(r.events, "finish content_filter\n"));
    free(r.events);
}

static void test_openai_responses(void **s) {
    (void)s;
    const char *text_files[] = {"openai_chat/response_text.json", "openai_chat/response_text_docs.json",
                                "openai_chat/response_tool_result.json", "openrouter/response_text.json",
                                "openrouter/response_text_openapi.json", "openrouter/response_usage_accounting.json"};
    for (size_t i = 0; i < sizeof text_files / sizeof text_files[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, FIX "%s", text_files[i]);
        h_result r = decode_file(strstr(path, "openrouter") ? "openrouter" : "openai", path, false);
        if (r.status != LLMUX_OK) fail_msg("%s: %s", path, r.err.message);
        if (!strstr(r.events, "text_delta ")) fail_msg("%s: no text:\n%s", path, r.events);
        if (!strstr(r.events, "\nusage in=")) fail_msg("%s: no usage", path);
        if (!strstr(r.events, "finish stop\n")) fail_msg("%s: not finished with stop:\n%s", path, r.events);
        free(r.events);
    }
    const char *tool_files[] = {"openai_chat/response_tool_call.json", "openai_chat/response_tool_call_docs.json",
                                "openrouter/response_tool_call.json"};
    for (size_t i = 0; i < sizeof tool_files / sizeof tool_files[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, FIX "%s", tool_files[i]);
        h_result r = decode_file("openai", path, false);
        if (r.status != LLMUX_OK) fail_msg("%s: %s", path, r.err.message);
        assert_non_null(strstr(r.events, "tool_call_start "));
        if (!strstr(r.events, "finish tool_calls\n")) fail_msg("%s:\n%s", path, r.events);
        free(r.events);
    }
    /* OpenRouter: usage with cached/reasoning details. */
    h_result r = decode_file("openrouter", FIX "openrouter/response_usage_accounting.json", false);
    assert_null(strstr(r.events, "reasoning=-1"));
    assert_non_null(strstr(r.events, " cost=0.00435825\n")); /* usage.cost: what OpenRouter billed */
    free(r.events);
    /* A 200 body whose choice carries an error. */
    r = decode_file("openrouter", FIX "openrouter/response_200_with_error_docs.json", false);
    assert_int_equal(r.status, LLMUX_E_OVERLOADED);
    assert_string_equal(r.err.provider_message, "Provider disconnected mid-stream");
    free(r.events);
}

static void test_openrouter_streams(void **s) {
    (void)s;
    h_result r = decode_file("openrouter", FIX "openrouter/stream_text.sse", true);
    assert_int_equal(r.status, LLMUX_OK);
    assert_non_null(strstr(r.events, "text_delta "));
    assert_non_null(strstr(r.events, "\nusage in="));
    assert_non_null(strstr(r.events, "finish stop\n"));
    free(r.events);
    r = decode_file("openrouter", FIX "openrouter/stream_reasoning.sse", true);
    assert_int_equal(r.status, LLMUX_OK);
    assert_true(strstr(r.events, "reasoning_delta 0 ") != NULL);
    assert_non_null(strstr(r.events, " sig=\""));
    assert_non_null(strstr(r.events, " cost=0.000669\n"));
    assert_non_null(strstr(r.events, "text_delta 1 "));
    assert_true(strstr(r.events, "reasoning_delta 0 ") < strstr(r.events, "text_delta 1 "));
    free(r.events);
    r = decode_file("openrouter", FIX "openrouter/stream_error_midstream.sse", true);
    assert_int_equal(r.status, LLMUX_E_CONTEXT_LENGTH); /* "Token limit reached", code 400 */
    assert_string_equal(r.err.provider_message, "Token limit reached");
    assert_null(strstr(r.events, "finish"));
    free(r.events);
    r = decode_file("openrouter", FIX "openrouter/stream_error_midstream_docs.sse", true);
    assert_int_equal(r.status, LLMUX_E_UPSTREAM_SERVER);
    assert_string_equal(r.err.provider_code, "server_error");
    free(r.events);
    r = decode_file("openrouter", FIX "openrouter/stream_error_midstream_typed_docs.sse", true);
    assert_int_equal(r.status, LLMUX_E_RATE_LIMITED);
    free(r.events);
    /* Only a keep-alive comment: no chunk, no finish: truncated. */
    r = decode_file("openrouter", FIX "openrouter/stream_keepalive_comment_docs.sse", true);
    assert_int_equal(r.status, LLMUX_E_UPSTREAM_PROTOCOL);
    assert_string_equal(r.events, "");
    free(r.events);
}

typedef struct err_file {
    const char *file;
    int http;
    llmux_status want;
} err_file;

static void check_errors(const err_file *cases, size_t n, const char *headers_file) {
    for (size_t i = 0; i < n; i++) {
        char path[256];
        snprintf(path, sizeof path, FIX "%s", cases[i].file);
        size_t len = 0;
        char *body = h_load_or_skip(path, &len);
        llmux_error_info e;
        lx_provider_openai.map_error(cases[i].http, body, len, NULL, &e);
        if (e.status != cases[i].want)
            fail_msg("%s: got %s want %s", path, llmux_status_name(e.status), llmux_status_name(cases[i].want));
        assert_int_equal(e.provider_status, cases[i].http);
        assert_true(strlen(e.provider_message) > 0);
        /* The masked key OpenAI echoes must not survive as given. */
        assert_null(strstr(e.provider_message, "sk-test12"));
        free(body);
    }
    (void)headers_file;
}

static void test_openai_errors(void **s) {
    (void)s;
    const err_file cases[] = {
        {"openai_chat/error_400_context_length.json", 400, LLMUX_E_CONTEXT_LENGTH},
        {"openai_chat/error_400_invalid_param.json", 400, LLMUX_E_INVALID_REQUEST},
        {"openai_chat/error_400_unsupported_value.json", 400, LLMUX_E_INVALID_REQUEST},
        {"openai_chat/error_401.json", 401, LLMUX_E_AUTHENTICATION},
        {"openai_chat/error_404_model_not_found.json", 404, LLMUX_E_MODEL_NOT_FOUND},
        {"openai_chat/error_429.json", 429, LLMUX_E_RATE_LIMITED},
        {"openai_chat/error_429_insufficient_quota.json", 429, LLMUX_E_PERMISSION},
        {"openai_chat/error_500.json", 500, LLMUX_E_UPSTREAM_SERVER},
        {"openai_chat/error_503.json", 503, LLMUX_E_OVERLOADED},
    };
    check_errors(cases, sizeof cases / sizeof cases[0], NULL);
    /* 429 with the recorded headers: Retry-After wins over the message hint. */
    size_t len = 0;
    char *body = h_load_or_skip(FIX "openai_chat/error_429.json", &len);
    llmux_error_info e;
    lx_provider_openai.map_error(429, body, len, "1", &e);
    assert_int_equal(e.retry_after_ms, 1000);
    lx_provider_openai.map_error(429, body, len, NULL, &e);
    assert_int_equal(e.retry_after_ms, 644); /* "Please try again in 644ms." */
    lx_provider_openai.map_error(429, body, len, "6m0s", &e); /* x-ratelimit-reset-tokens */
    assert_int_equal(e.retry_after_ms, 360000);
    free(body);
}

static void test_openrouter_errors(void **s) {
    (void)s;
    const err_file cases[] = {
        {"openrouter/error_400_context_length.json", 400, LLMUX_E_CONTEXT_LENGTH},
        {"openrouter/error_400_docs.json", 400, LLMUX_E_INVALID_REQUEST},
        {"openrouter/error_400_model_not_found_docs.json", 400, LLMUX_E_MODEL_NOT_FOUND},
        {"openrouter/error_401.json", 401, LLMUX_E_AUTHENTICATION},
        {"openrouter/error_402.json", 402, LLMUX_E_PERMISSION},
        {"openrouter/error_403_guardrail_docs.json", 403, LLMUX_E_PERMISSION},
        {"openrouter/error_408.json", 408, LLMUX_E_TIMEOUT},
        {"openrouter/error_413.json", 413, LLMUX_E_CONTEXT_LENGTH},
        {"openrouter/error_429.json", 429, LLMUX_E_RATE_LIMITED},
        {"openrouter/error_429_capacity_exhausted_docs.json", 429, LLMUX_E_RATE_LIMITED},
        {"openrouter/error_429_provider_docs.json", 429, LLMUX_E_RATE_LIMITED},
        {"openrouter/error_500.json", 500, LLMUX_E_UPSTREAM_SERVER},
        {"openrouter/error_502.json", 502, LLMUX_E_OVERLOADED},
        {"openrouter/error_503.json", 503, LLMUX_E_OVERLOADED},
        {"openrouter/error_524.json", 524, LLMUX_E_TIMEOUT},
        {"openrouter/error_529.json", 529, LLMUX_E_OVERLOADED},
    };
    check_errors(cases, sizeof cases / sizeof cases[0], NULL);
    size_t len = 0;
    char *body = h_load_or_skip(FIX "openrouter/error_429_capacity_exhausted_docs.json", &len);
    llmux_error_info e;
    lx_provider_openai.map_error(429, body, len, NULL, &e);
    assert_int_equal(e.retry_after_ms, 40000);
    assert_string_equal(e.provider_code, "capacity_exhausted");
    free(body);
    body = h_load_or_skip(FIX "openrouter/error_429.json", &len);
    lx_provider_openai.map_error(429, body, len, NULL, &e);
    assert_non_null(strstr(e.provider_message, "temporarily rate-limited upstream")); /* metadata.raw kept */
    free(body);
}

int main(void) {
    h_fixtures_or_skip("../shared/fixtures/providers");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_stream_text),
        cmocka_unit_test(test_openai_stream_tool_call),
        cmocka_unit_test(test_openai_stream_parallel),
        cmocka_unit_test(test_openai_stream_tool_result_and_refusal),
        cmocka_unit_test(test_openai_responses),
        cmocka_unit_test(test_openrouter_streams),
        cmocka_unit_test(test_openai_errors),
        cmocka_unit_test(test_openrouter_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
