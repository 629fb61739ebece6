/* Conformance against recorded/documented Ollama traffic in ../shared/fixtures/providers/ollama
 * (read only; skipped when absent). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "decode_harness.h"

#define FIX "../shared/fixtures/providers/ollama/"

static h_result decode_file(const char *name, bool stream) {
    char path[256];
    snprintf(path, sizeof path, FIX "%s", name);
    lx_provider_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = "ollama";
    return h_decode_fixture(&lx_provider_ollama, &cfg, path, stream);
}

static void test_streams(void **s) {
    (void)s;
    h_result r = decode_file("stream_text.ndjson", true);
    assert_int_equal(r.status, LLMUX_OK);
    assert_non_null(strstr(r.events, "start - \"llama3.2\" \"ollama\"\ntext_delta 0 \"The\"\n"));
    assert_non_null(strstr(r.events, "usage in=26 out=282 "));
    assert_non_null(strstr(r.events, "finish stop\n"));
    free(r.events);
    r = decode_file("stream_tool_call.ndjson", true);
    assert_int_equal(r.status, LLMUX_OK);
    assert_non_null(strstr(r.events, "tool_call_start 0 \"call_0\" \"get_weather\"\n"));
    assert_non_null(strstr(r.events, "tool_call_delta 0 \"{"));
    assert_non_null(strstr(r.events, "tool_call_end 0\n"));
    assert_non_null(strstr(r.events, "finish tool_calls\n")); /* done_reason "stop" with a tool call */
    free(r.events);
    r = decode_file("stream_generate_text.ndjson", true); /* /api/generate shape: "response" */
    assert_int_equal(r.status, LLMUX_OK);
    assert_non_null(strstr(r.events, "text_delta 0 "));
    assert_non_null(strstr(r.events, "finish stop\n"));
    free(r.events);
    r = decode_file("stream_error_midstream.ndjson", true);
    assert_int_equal(r.status, LLMUX_E_UPSTREAM_SERVER);
    assert_int_equal(r.err.provider_status, 0);
    assert_true(strlen(r.err.provider_message) > 0);
    assert_null(strstr(r.events, "finish"));
    free(r.events);
}

static void test_responses(void **s) {
    (void)s;
    const char *text[] = {"response_text.json", "response_text_openapi.json", "response_tool_result.json"};
    for (size_t i = 0; i < 3; i++) {
        h_result r = decode_file(text[i], false);
        if (r.status != LLMUX_OK) fail_msg("%s: %s", text[i], r.err.message);
        assert_non_null(strstr(r.events, "text_delta 0 "));
        assert_non_null(strstr(r.events, "\nusage in="));
        assert_non_null(strstr(r.events, "finish stop\n"));
        free(r.events);
    }
    h_result r = decode_file("response_tool_call.json", false);
    assert_int_equal(r.status, LLMUX_OK);
    assert_non_null(strstr(r.events, "tool_call_start 0 \"call_0\" \"get_weather\"\n"));
    assert_non_null(strstr(r.events, "finish tool_calls\n"));
    free(r.events);
}

static void test_errors(void **s) {
    (void)s;
    const struct {
        const char *file;
        int http;
        llmux_status want;
    } cases[] = {
        {"error_400_chat_not_supported.json", 400, LLMUX_E_INVALID_REQUEST},
        {"error_400_model_required.json", 400, LLMUX_E_INVALID_REQUEST},
        {"error_400_thinking_not_supported.json", 400, LLMUX_E_INVALID_REQUEST},
        {"error_401.json", 401, LLMUX_E_AUTHENTICATION},
        {"error_404_model_not_found_chat.json", 404, LLMUX_E_MODEL_NOT_FOUND},
        {"error_404_model_not_found_generate.json", 404, LLMUX_E_MODEL_NOT_FOUND},
        {"error_429.json", 429, LLMUX_E_RATE_LIMITED},
        {"error_500.json", 500, LLMUX_E_UPSTREAM_SERVER},
        {"error_503.json", 503, LLMUX_E_OVERLOADED},
        {"error_generic_docs.json", 400, LLMUX_E_INVALID_REQUEST},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, FIX "%s", cases[i].file);
        size_t len = 0;
        char *body = h_load_or_skip(path, &len);
        llmux_error_info e;
        lx_provider_ollama.map_error(cases[i].http, body, len, NULL, &e);
        if (e.status != cases[i].want) fail_msg("%s: got %s", cases[i].file, llmux_status_name(e.status));
        assert_int_equal(e.provider_status, cases[i].http);
        assert_true(strlen(e.provider_message) > 0);
        assert_null(strchr(e.provider_message, '{')); /* the string, not the JSON envelope */
        free(body);
    }
}

int main(void) {
    h_fixtures_or_skip("../shared/fixtures/providers");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_streams),
        cmocka_unit_test(test_responses),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
