/* Conformance: decodes every recorded Gemini file in ../shared/fixtures/providers/gemini (real
 * captures and official SDK test data; see its SOURCES.md) and checks specific outcomes.
 * Skipped when the folder is absent. */
#include <dirent.h>
#include <sys/stat.h>

#include "decode_harness.h"

#define FIX LLMUX_SOURCE_DIR "/../shared/fixtures/providers/gemini/"

static const lx_provider *P = &lx_provider_gemini;

#define REQUIRE_FIXTURES() h_require_dir(FIX)

static llmux_response *decode(const char *name, bool stream, llmux_status want, llmux_error_info *err) {
    return h_decode_response(P, FIX, name, stream, want, err);
}

static void expect_args(const llmux_part *p, const char *name, const char *json) {
    assert_int_equal(p->type, LLMUX_PART_TOOL_CALL);
    assert_string_equal(p->name, name);
    json_t *got = json_loads(p->arguments, 0, NULL), *want = json_loads(json, 0, NULL);
    assert_non_null(got);
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
}

static void test_streams(void **state) {
    (void)state;
    REQUIRE_FIXTURES();
    llmux_error_info err;
    /* CRLF frames; usage repeated in every chunk, promptTokenCount 15 -> 13: the last wins. */
    llmux_response *r = decode("stream_text.sse", true, LLMUX_OK, &err);
    assert_string_equal(llmux_response_text(r), "The capital of France is Paris.\n");
    assert_int_equal(r->usage.input_tokens, 13);
    assert_int_equal(r->finish_reason, LLMUX_FINISH_STOP);
    llmux_response_free(r);

    r = decode("stream_text_firebase_fixture.sse", true, LLMUX_OK, &err);
    assert_non_null(strstr(llmux_response_text(r), "Cheyenne"));
    llmux_response_free(r);

    /* One whole functionCall with its thoughtSignature, then an empty text part + STOP. */
    r = decode("stream_tool_call.sse", true, LLMUX_OK, &err);
    assert_int_equal(r->n_parts, 2);
    assert_int_equal(r->parts[0].type, LLMUX_PART_REASONING);
    assert_true(strncmp(r->parts[0].signature, "EpwICpkIAXLI2nxlU6gsWZaZ", 24) == 0);
    assert_null(r->parts[0].text);
    expect_args(&r->parts[1], "get_country", "{}");
    assert_string_equal(r->parts[1].id, "call_0");
    assert_int_equal(r->finish_reason, LLMUX_FINISH_TOOL_CALLS);
    assert_int_equal(r->usage.reasoning_tokens, 202);
    assert_int_equal(r->usage.output_tokens, 212);
    llmux_response_free(r);

    /* promptTokenCount 55 in early chunks, 257 in the last one. */
    r = decode("stream_tool_result.sse", true, LLMUX_OK, &err);
    assert_string_equal(llmux_response_text(r), "The capital of Mexico is Mexico City.");
    assert_int_equal(r->usage.input_tokens, 257);
    llmux_response_free(r);

    r = decode("stream_tool_call_openapi_schema.sse", true, LLMUX_OK, &err);
    expect_args(&r->parts[0], "get_capital", "{\"country\":\"France\"}");
    llmux_response_free(r);

    r = decode("stream_thinking_tool_call_firebase_fixture.sse", true, LLMUX_OK, &err);
    assert_int_equal(r->n_parts, 3);
    assert_true(strncmp(r->parts[0].text, "**Calculating the Days**", 24) == 0);
    assert_non_null(strstr(r->parts[0].text, "**Determining the Approach**"));
    assert_true(strncmp(r->parts[1].signature, "CiIBVKhc7vB+vaaq6rA", 19) == 0);
    expect_args(&r->parts[2], "now", "{}");
    llmux_response_free(r);

    /* Two data chunks (both with finishReason STOP), then a bare JSON error. */
    r = decode("stream_error_midstream_vertex_fixture.txt", true, LLMUX_E_UPSTREAM_SERVER, &err);
    assert_string_equal(err.provider_code, "CANCELLED");
    assert_string_equal(err.provider_message, "The operation was cancelled.");
    assert_string_equal(llmux_response_text(r), "First Second ");
    llmux_response_free(r);
}

static void test_responses(void **state) {
    (void)state;
    REQUIRE_FIXTURES();
    llmux_error_info err;
    llmux_response *r = decode("response_text.json", false, LLMUX_OK, &err);
    assert_string_equal(llmux_response_text(r), "Hello! How can I help you today?");
    assert_int_equal(r->usage.input_tokens, 9);
    assert_int_equal(r->usage.output_tokens, 9 + 34); /* candidates + thoughts */
    assert_int_equal(r->usage.total_tokens, 52);
    llmux_response_free(r);

    r = decode("response_text_firebase_fixture.json", false, LLMUX_OK, &err);
    assert_non_null(strstr(llmux_response_text(r), "Mountain View, California"));
    llmux_response_free(r);

    r = decode("response_tool_call.json", false, LLMUX_OK, &err);
    expect_args(&r->parts[0], "temperature", "{\"city\":\"London\",\"date\":\"2022-01-01\"}");
    llmux_response_free(r);

    r = decode("response_tool_result.json", false, LLMUX_OK, &err);
    expect_args(&r->parts[0], "final_result", "{\"city\":\"London\",\"date\":\"2022-01-01\",\"temperature\":\"30\xc2\xb0" "C\"}");
    llmux_response_free(r);

    r = decode("response_parallel_function_calls_firebase_fixture.json", false, LLMUX_OK, &err);
    assert_int_equal(r->n_parts, 3);
    expect_args(&r->parts[0], "sum", "{\"x\":2,\"y\":1}");
    expect_args(&r->parts[2], "sum", "{\"x\":6,\"y\":5}");
    assert_string_equal(r->parts[1].id, "call_1");
    assert_int_equal(r->finish_reason, LLMUX_FINISH_TOOL_CALLS);
    llmux_response_free(r);

    r = decode("response_thinking_tool_call_firebase_fixture.json", false, LLMUX_OK, &err);
    assert_int_equal(r->n_parts, 3);
    assert_true(strncmp(r->parts[1].signature, "CtQOAVSoXO74PmYr9AFurEIJ", 24) == 0);
    expect_args(&r->parts[2], "now", "{}");
    llmux_response_free(r);

    r = decode("response_finish_reason_safety_firebase_fixture.json", false, LLMUX_OK, &err);
    assert_int_equal(r->finish_reason, LLMUX_FINISH_CONTENT_FILTER);
    assert_string_equal(llmux_response_text(r), "Safety error incoming in 5, 4, 3, 2...");
    llmux_response_free(r);

    /* candidates: [] and promptFeedback without blockReason: a blocked prompt, not an empty answer. */
    r = decode("response_prompt_blocked_firebase_fixture.json", false, LLMUX_E_CONTENT_FILTERED, &err);
    assert_string_equal(err.provider_message, "Message");
    llmux_response_free(r);
}

static void b64_std(char *s) {
    for (; *s; s++) {
        if (*s == '-') *s = '+';
        else if (*s == '_') *s = '/';
    }
}

/* The recorded follow-up request sent the functionCall back with its signature (re-encoded as
 * URL-safe base64 by that client). Ours carries the same signature on the same part. */
static void test_round_trip_against_followup(void **state) {
    (void)state;
    REQUIRE_FIXTURES();
    llmux_error_info err;
    llmux_response *r = decode("stream_tool_call.sse", true, LLMUX_OK, &err);
    const llmux_part q = {.type = LLMUX_PART_TEXT, .text = "What is the capital of the user country? Call the tool"};
    const llmux_part res = {.type = LLMUX_PART_TOOL_RESULT, .id = r->parts[1].id, .text = "Mexico"};
    const llmux_message msgs[] = {{.role = LLMUX_ROLE_USER, .parts = &q, .n_parts = 1},
                                  {.role = LLMUX_ROLE_ASSISTANT, .parts = r->parts, .n_parts = r->n_parts},
                                  {.role = LLMUX_ROLE_TOOL, .parts = &res, .n_parts = 1}};
    llmux_request req = llmux_request_default();
    req.messages = msgs;
    req.n_messages = 3;
    lx_provider_config cfg = {.name = "gemini", .model = "gemini-3-pro-preview"};
    lx_wire_request w;
    memset(&w, 0, sizeof w);
    lx_buf_init(&w.body, 1u << 24);
    assert_int_equal(P->encode(&cfg, &req, &w, &err), LLMUX_OK);
    json_t *got = json_loadb(w.body.data, w.body.len, 0, NULL);
    json_t *want = json_load_file(FIX "request_stream_tool_result.json", 0, NULL);
    assert_non_null(got);
    assert_non_null(want);
    json_t *gp = json_array_get(json_object_get(json_array_get(json_object_get(got, "contents"), 1), "parts"), 0);
    json_t *wp = json_array_get(json_object_get(json_array_get(json_object_get(want, "contents"), 1), "parts"), 0);
    char gs[4096], ws[4096];
    snprintf(gs, sizeof gs, "%s", json_string_value(json_object_get(gp, "thoughtSignature")));
    snprintf(ws, sizeof ws, "%s", json_string_value(json_object_get(wp, "thoughtSignature")));
    assert_true(strlen(ws) > 100 && strlen(ws) < sizeof ws - 1);
    b64_std(ws);
    assert_string_equal(gs, ws);
    assert_string_equal(json_string_value(json_object_get(json_object_get(gp, "functionCall"), "name")), "get_country");
    assert_true(json_equal(json_object_get(json_object_get(gp, "functionCall"), "args"),
                           json_object_get(json_object_get(wp, "functionCall"), "args")));
    /* The tool result went back as a functionResponse named after the call, in a user turn. */
    json_t *turn = json_array_get(json_object_get(got, "contents"), 2);
    assert_string_equal(json_string_value(json_object_get(turn, "role")), "user");
    json_t *fr = json_object_get(json_array_get(json_object_get(turn, "parts"), 0), "functionResponse");
    assert_string_equal(json_string_value(json_object_get(fr, "name")), "get_country");
    json_decref(got);
    json_decref(want);
    lx_buf_free(&w.body);
    llmux_response_free(r);
}

static void test_error_bodies(void **state) {
    (void)state;
    REQUIRE_FIXTURES();
    static const struct {
        const char *file;
        int http;
        llmux_status want;
        const char *code;
        int64_t retry_ms;
    } cases[] = {
        {"error_400_api_key_invalid.json", 400, LLMUX_E_AUTHENTICATION, "INVALID_ARGUMENT", -1},
        {"error_400_context_length.json", 400, LLMUX_E_CONTEXT_LENGTH, "INVALID_ARGUMENT", -1},
        {"error_403_api_not_enabled.json", 403, LLMUX_E_PERMISSION, "PERMISSION_DENIED", -1},
        {"error_404_model_not_found.json", 404, LLMUX_E_MODEL_NOT_FOUND, "NOT_FOUND", -1},
        {"error_404_model_not_found_firebase_fixture.json", 404, LLMUX_E_MODEL_NOT_FOUND, "NOT_FOUND", -1},
        {"error_429.json", 429, LLMUX_E_RATE_LIMITED, "RESOURCE_EXHAUSTED", 47000},
        {"error_429_quota_vertex_fixture.json", 429, LLMUX_E_RATE_LIMITED, "RESOURCE_EXHAUSTED", -1},
        {"error_500.json", 500, LLMUX_E_UPSTREAM_SERVER, "INTERNAL", -1},
        {"error_503.json", 503, LLMUX_E_OVERLOADED, "UNAVAILABLE", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, FIX "%s", cases[i].file);
        size_t len = 0;
        char *body = h_read_file(path, &len);
        assert_non_null(body);
        llmux_error_info err;
        P->map_error(cases[i].http, body, len, NULL, &err);
        if (err.status != cases[i].want)
            fail_msg("%s: %s, want %s", cases[i].file, llmux_status_name(err.status), llmux_status_name(cases[i].want));
        assert_string_equal(err.provider_code, cases[i].code);
        assert_int_equal(err.retry_after_ms, cases[i].retry_ms);
        assert_int_equal(err.provider_status, cases[i].http);
        assert_true(err.provider_message[0] != '\0');
        free(body);
    }
}

static void test_every_response_file(void **state) {
    (void)state;
    REQUIRE_FIXTURES();
    DIR *dir = opendir(FIX);
    assert_non_null(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(dir))) {
        size_t l = strlen(e->d_name);
        bool sse = (l > 4 && strcmp(e->d_name + l - 4, ".sse") == 0) || strncmp(e->d_name, "stream_", 7) == 0;
        bool resp = strncmp(e->d_name, "response_", 9) == 0;
        if (!sse && !resp) continue;
        char path[512];
        snprintf(path, sizeof path, FIX "%s", e->d_name);
        h_rec r = {0};
        llmux_error_info err;
        llmux_status st = h_decode_file(P, sse, path, &r, &err);
        if (strstr(e->d_name, "error") || strstr(e->d_name, "blocked")) assert_int_not_equal(st, LLMUX_OK);
        else if (st != LLMUX_OK) fail_msg("%s: %s", e->d_name, err.message);
        else assert_non_null(strstr(h_lines(&r), "finish "));
        h_rec_free(&r);
        n++;
    }
    closedir(dir);
    assert_int_equal(n, 15); /* 7 streams + 8 responses */
}

int main(void) {
    h_fixtures_or_skip("../shared/fixtures/providers");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_streams),
        cmocka_unit_test(test_responses),
        cmocka_unit_test(test_round_trip_against_followup),
        cmocka_unit_test(test_error_bodies),
        cmocka_unit_test(test_every_response_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
