/* The Responses API adapter against recorded real traffic in
 * ../shared/fixtures/providers/openai_responses (read only; the test reports SKIP when absent):
 * streams and whole bodies decode to the events the recording holds (byte by byte too), the
 * recorded error bodies and in-stream errors map to their classes, and the adapter's encoding of
 * the recorded conversation has the recorded input items' shape. */
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

#define FIX "../shared/fixtures/providers/openai_responses/"

static const lx_provider *P = &lx_provider_openai_responses;

static h_result decode_file(const char *path, bool stream) {
    lx_provider_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = "openai-responses";
    return h_decode_fixture(P, &cfg, path, stream);
}

static void test_stream_text(void **s) {
    (void)s;
    h_result r = decode_file(FIX "stream_text.sse", true);
    if (r.status != LLMUX_OK) fail_msg("%s\n%s", r.err.message, r.events);
    assert_true(strncmp(r.events, "start \"resp_", 12) == 0);
    assert_non_null(strstr(r.events, "text_delta 0 "));
    /* Usage comes only with response.completed, before the finish. */
    const char *u = strstr(r.events, "\nusage in=");
    assert_non_null(u);
    assert_non_null(strstr(u, "\nfinish stop\n"));
    assert_null(strstr(r.events, "tool_call"));
    free(r.events);
    /* The documentation's example (its middle elided with a literal "..." line). */
    r = decode_file(FIX "stream_text_docs.sse", true);
    if (r.status != LLMUX_OK) fail_msg("%s\n%s", r.err.message, r.events);
    assert_non_null(strstr(r.events, "text_delta 0 \"Hi\""));
    assert_non_null(strstr(r.events, "usage in=37 out=11 cached=-1 cache_write=-1 reasoning=0 total=48\nfinish stop\n"));
    free(r.events);
}

/* A reasoning item (encrypted, no summary) then a function call whose arguments stream keyed by
 * output_index: the call keeps its call_id and name, the arguments are whole JSON, the reasoning
 * part carries "<id>|<encrypted_content>" as its signature. */
static void test_stream_tool_call(void **s) {
    (void)s;
    h_result r = decode_file(FIX "stream_tool_call.sse", true);
    if (r.status != LLMUX_OK) fail_msg("%s\n%s", r.err.message, r.events);
    assert_non_null(strstr(r.events, "reasoning_delta 0 \"\" sig=\"rs_"));
    assert_non_null(strstr(r.events, "|gAAAA"));
    const char *start = strstr(r.events, "tool_call_start 1 \"call_");
    if (!start) fail_msg("no call:\n%s", r.events);
    assert_non_null(strstr(start, "\"final_result\"\n"));
    lx_buf args;
    lx_buf_init(&args, 1 << 16);
    lx_buf_append(&args, "", 0);
    for (const char *p = strstr(r.events, "tool_call_delta 1 \""); p; p = strstr(p + 1, "tool_call_delta 1 \"")) {
        const char *q = p + strlen("tool_call_delta 1 \"");
        for (; *q && !(q[0] == '"' && q[1] == '\n'); q++) {
            if (*q == '\\' && q[1]) q++;
            lx_buf_append(&args, q, 1);
        }
    }
    json_t *j = json_loads(args.data, 0, NULL);
    if (!json_is_integer(json_object_get(j, "result"))) fail_msg("arguments: %s", args.data);
    json_decref(j);
    lx_buf_free(&args);
    assert_non_null(strstr(r.events, "tool_call_end 1\n"));
    const char *u = strstr(r.events, "\nusage in=");
    assert_non_null(u);
    assert_null(strstr(u, "reasoning=-1")); /* reasoning tokens reported */
    assert_non_null(strstr(u, "\nfinish tool_calls\n"));
    free(r.events);
}

static void test_whole_bodies(void **s) {
    (void)s;
    static const struct {
        const char *file;
        const char *must;   /* in the events */
        const char *finish;
    } cases[] = {
        {"response_text.json", "usage in=14 out=8 cached=0 cache_write=-1 reasoning=0 total=22\n", "finish stop\n"},
        {"response_tool_result.json", "usage in=67 out=11 cached=0 cache_write=-1 reasoning=0 total=78\n", "finish stop\n"},
        {"response_text_docs.json", "usage in=36 out=87", "finish stop\n"},
        {"response_tool_call.json", "tool_call_start 0 \"call_YfwRsW8sUxDKipwyhWTzOXCA\" \"get_capital\"\n",
         "finish tool_calls\n"},
        {"response_tool_call_docs.json", "tool_call_start 0 \"call_unLAR8MvFNptuiZK6K6HCy5k\" \"get_current_weather\"\n",
         "finish tool_calls\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, FIX "%s", cases[i].file);
        h_result r = decode_file(path, false);
        if (r.status != LLMUX_OK) fail_msg("%s: %s", path, r.err.message);
        assert_true(strncmp(r.events, "start \"resp_", 12) == 0);
        if (!strstr(r.events, cases[i].must)) fail_msg("%s: no \"%s\" in:\n%s", path, cases[i].must, r.events);
        if (!strstr(r.events, cases[i].finish)) fail_msg("%s:\n%s", path, r.events);
        if (strstr(cases[i].finish, "stop") && !strstr(r.events, "text_delta 0 ")) fail_msg("%s: no text", path);
        free(r.events);
    }
    /* The same body on a stream request (a server that ignored stream: true) decodes alike. */
    h_result r = decode_file(FIX "response_text.json", true);
    assert_int_equal(r.status, LLMUX_OK);
    assert_non_null(strstr(r.events, "finish stop\n"));
    free(r.events);
}

static void test_errors(void **s) {
    (void)s;
    static const struct {
        const char *file;
        int http;
        llmux_status want;
    } cases[] = {
        {"error_400.json", 400, LLMUX_E_INVALID_REQUEST},
        {"error_400_model_not_found.json", 400, LLMUX_E_MODEL_NOT_FOUND},
    };
    for (size_t i = 0; i < 2; i++) {
        char path[256];
        snprintf(path, sizeof path, FIX "%s", cases[i].file);
        size_t len = 0;
        char *body = h_load_or_skip(path, &len);
        llmux_error_info e;
        P->map_error(cases[i].http, body, len, NULL, &e);
        if (e.status != cases[i].want)
            fail_msg("%s: got %s want %s", path, llmux_status_name(e.status), llmux_status_name(cases[i].want));
        assert_true(strlen(e.provider_message) > 0);
        free(body);
    }
    /* In-stream failures: an `error` event (code and message at its top level) and a
     * response.failed event, each after the stream began. */
    const char *files[] = {"stream_event_error.json", "stream_event_response_failed.json"};
    const char *codes[] = {"ERR_SOMETHING", "server_error"};
    for (size_t i = 0; i < 2; i++) {
        char path[256];
        snprintf(path, sizeof path, FIX "%s", files[i]);
        size_t len = 0;
        char *payload = h_load_or_skip(path, &len);
        json_t *j = json_loadb(payload, len, 0, NULL);
        assert_non_null(j);
        char *compact = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        lx_buf wire;
        lx_buf_init(&wire, 1 << 20);
        lx_buf_printf(&wire,
                      "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\","
                      "\"model\":\"gpt-5\",\"status\":\"in_progress\",\"output\":[]}}\n\nevent: %s\ndata: %s\n\n",
                      i == 0 ? "error" : "response.failed", compact);
        free(compact);
        lx_provider_config cfg = {.name = "openai-responses"};
        h_result r = h_decode(P, &cfg, true, wire.data, wire.len, 0, 0);
        if (r.status == LLMUX_OK) fail_msg("%s: accepted:\n%s", files[i], r.events);
        assert_string_equal(r.err.provider_code, codes[i]);
        assert_null(strstr(r.events, "finish"));
        free(r.events);
        lx_buf_free(&wire);
        free(payload);
    }
}

/* The recorded second turn (a user message, the model's function_call, its output) built as a
 * canonical request and encoded: the same three input items, flat function tools. */
static void test_encode_matches_recorded_shape(void **s) {
    (void)s;
    size_t len = 0;
    char *rec = h_load_or_skip(FIX "request_tool_result.json", &len);
    json_t *want = json_loadb(rec, len, 0, NULL);
    free(rec);
    assert_non_null(want);
    llmux_part up = {.type = LLMUX_PART_TEXT, .text = "What is the capital of PotatoLand?"};
    llmux_part call = {.type = LLMUX_PART_TOOL_CALL, .id = "call_YfwRsW8sUxDKipwyhWTzOXCA", .name = "get_capital",
                       .arguments = "{\"country\":\"PotatoLand\"}"};
    llmux_part result = {.type = LLMUX_PART_TOOL_RESULT, .id = "call_YfwRsW8sUxDKipwyhWTzOXCA", .text = "Potato City"};
    llmux_message msgs[] = {{.role = LLMUX_ROLE_USER, .parts = &up, .n_parts = 1},
                            {.role = LLMUX_ROLE_ASSISTANT, .parts = &call, .n_parts = 1},
                            {.role = LLMUX_ROLE_TOOL, .parts = &result, .n_parts = 1}};
    llmux_tool tool = {.name = "get_capital",
                       .parameters = "{\"type\":\"object\",\"properties\":{\"country\":{\"type\":\"string\"}},"
                                     "\"required\":[\"country\"],\"additionalProperties\":false}"};
    llmux_request req = llmux_request_default();
    req.messages = msgs;
    req.n_messages = 3;
    req.tools = &tool;
    req.n_tools = 1;
    lx_provider_config cfg = {.name = "openai-responses", .base_url = "https://api.openai.com/v1", .api_key = "k",
                              .model = "gpt-4o"};
    lx_wire_request w;
    memset(&w, 0, sizeof w);
    lx_buf_init(&w.body, LX_WIRE_MAX_BODY);
    llmux_error_info err;
    if (P->encode(&cfg, &req, &w, &err) != LLMUX_OK) fail_msg("encode: %s", err.message);
    assert_string_equal(w.path, "/responses");
    json_t *got = json_loadb(w.body.data, w.body.len, 0, NULL);
    assert_non_null(got);
    json_t *gi = json_object_get(got, "input"), *wi = json_object_get(want, "input");
    assert_int_equal(json_array_size(gi), json_array_size(wi));
    static const char *const keys[] = {"type", "call_id", "name", "arguments", "output"};
    for (size_t i = 0; i < json_array_size(wi); i++) {
        json_t *g = json_array_get(gi, i), *x = json_array_get(wi, i);
        for (size_t k = 0; k < 5; k++) {
            json_t *xv = json_object_get(x, keys[k]);
            if (json_is_string(xv) && !json_equal(xv, json_object_get(g, keys[k])))
                fail_msg("input[%zu].%s differs: %s", i, keys[k], w.body.data);
        }
        if (json_object_get(x, "role"))
            assert_string_equal(json_string_value(json_object_get(g, "role")), json_string_value(json_object_get(x, "role")));
    }
    json_t *gt = json_array_get(json_object_get(got, "tools"), 0);
    assert_string_equal(json_string_value(json_object_get(gt, "type")), "function");
    assert_string_equal(json_string_value(json_object_get(gt, "name")), "get_capital");
    assert_null(json_object_get(gt, "function")); /* flat, unlike Chat Completions */
    assert_true(json_equal(json_object_get(gt, "parameters"),
                           json_object_get(json_array_get(json_object_get(want, "tools"), 0), "parameters")));
    json_decref(got);
    json_decref(want);
    lx_buf_free(&w.body);
}

int main(void) {
    h_fixtures_or_skip("../shared/fixtures/providers/openai_responses");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_text),
        cmocka_unit_test(test_stream_tool_call),
        cmocka_unit_test(test_whole_bodies),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_encode_matches_recorded_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
