/* Ollama /api/chat adapter contract tests: canonical request -> golden wire JSON, NDJSON
 * responses (tests/providers/data/ollama) -> exact events at every split, error mapping. */
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

#define DATA LLMUX_SOURCE_DIR "/tests/providers/data/ollama/"

static lx_provider_config cfg_model(const char *model) {
    lx_provider_config c;
    memset(&c, 0, sizeof c);
    c.name = "ollama";
    c.base_url = "http://127.0.0.1:11434";
    c.model = model;
    return c;
}

static void expect_golden(const lx_provider_config *cfg, const llmux_request *req, const char *golden, lx_wire_request *w) {
    memset(w, 0, sizeof *w);
    lx_buf_init(&w->body, LX_WIRE_MAX_BODY);
    llmux_error_info err;
    if (lx_provider_ollama.encode(cfg, req, w, &err) != LLMUX_OK) fail_msg("encode: %s", err.message);
    h_expect_golden(&w->body, golden);
}

static void test_encode_text(void **s) {
    (void)s;
    llmux_part p = {.type = LLMUX_PART_TEXT, .text = "why is the sky blue?"};
    llmux_message m = {.role = LLMUX_ROLE_USER, .parts = &p, .n_parts = 1};
    llmux_request r = llmux_request_default();
    r.messages = &m;
    r.n_messages = 1;
    r.response_format = LLMUX_FORMAT_JSON_OBJECT;
    lx_provider_config cfg = cfg_model("llama3.2");
    lx_wire_request w;
    expect_golden(&cfg, &r, DATA "request_text.json", &w);
    assert_string_equal(w.path, "/api/chat");
    assert_string_equal(w.method, "POST");
    assert_false(w.stream);
    for (size_t i = 0; i < w.n_headers; i++) assert_string_not_equal(w.headers[i].name, "Authorization");
    lx_buf_free(&w.body);
}

static void test_encode_full(void **s) {
    (void)s;
    llmux_part u[] = {{.type = LLMUX_PART_TEXT, .text = "What is this? "},
                      {.type = LLMUX_PART_IMAGE, .data = "iVBORw0KGgo=", .mime_type = "image/png"},
                      {.type = LLMUX_PART_TEXT, .text = "Also weather?"}};
    llmux_part a[] = {{.type = LLMUX_PART_REASONING, .text = "not sent"},
                      {.type = LLMUX_PART_TOOL_CALL, .id = "call_0", .name = "get_weather", .arguments = "{\"city\":\"Paris\"}"}};
    llmux_part t = {.type = LLMUX_PART_TOOL_RESULT, .id = "call_0", .name = "get_weather", .text = "15C"};
    llmux_message msgs[] = {{.role = LLMUX_ROLE_USER, .parts = u, .n_parts = 3},
                            {.role = LLMUX_ROLE_ASSISTANT, .parts = a, .n_parts = 2},
                            {.role = LLMUX_ROLE_TOOL, .parts = &t, .n_parts = 1}};
    llmux_tool tool = {.name = "get_weather", .description = "Weather",
                       .parameters = "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}"};
    llmux_request r = llmux_request_default();
    r.system = "Be brief.";
    r.messages = msgs;
    r.n_messages = 3;
    r.tools = &tool;
    r.n_tools = 1;
    r.response_format = LLMUX_FORMAT_JSON_SCHEMA;
    r.schema = "{\"type\":\"object\",\"properties\":{\"answer\":{\"type\":\"string\"}},\"required\":[\"answer\"]}";
    r.sampling.temperature = 0.5;
    r.sampling.top_p = 0.8;
    r.sampling.top_k = 30;
    r.sampling.min_p = 0.1;
    r.sampling.max_tokens = 128;
    const char *stop[] = {"</s>"};
    r.sampling.stop = stop;
    r.sampling.n_stop = 1;
    r.sampling.seed = 42;
    r.sampling.repeat_penalty = 1.2;
    r.sampling.presence_penalty = 0.3;
    r.sampling.frequency_penalty = 0.4;
    r.stream = true;
    r.provider_options = "{\"ollama\":{\"keep_alive\":\"10m\",\"think\":true,\"options\":{\"num_ctx\":8192}}}";
    lx_provider_config cfg = cfg_model("llama3.2-vision");
    cfg.api_key = "ollama-cloud-SECRET";
    lx_wire_request w;
    expect_golden(&cfg, &r, DATA "request_full.json", &w);
    assert_true(w.stream);
    bool found = false;
    for (size_t i = 0; i < w.n_headers; i++)
        if (strcmp(w.headers[i].name, "Authorization") == 0) {
            found = true;
            assert_true(w.headers[i].secret);
        }
    assert_true(found);
    assert_null(strstr(w.body.data, "SECRET"));
    lx_buf_free(&w.body);
}

static void test_encode_errors(void **s) {
    (void)s;
    llmux_part img = {.type = LLMUX_PART_IMAGE, .image_url = "https://example.com/a.png"};
    llmux_message m = {.role = LLMUX_ROLE_USER, .parts = &img, .n_parts = 1};
    llmux_request r = llmux_request_default();
    r.messages = &m;
    r.n_messages = 1;
    lx_provider_config cfg = cfg_model("llava");
    lx_wire_request w;
    memset(&w, 0, sizeof w);
    lx_buf_init(&w.body, LX_WIRE_MAX_BODY);
    llmux_error_info err;
    assert_int_equal(lx_provider_ollama.encode(&cfg, &r, &w, &err), LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(err.message, "base64"));
    llmux_part p = {.type = LLMUX_PART_TEXT, .text = "x"};
    m.parts = &p;
    r.tool_choice = LLMUX_TOOL_CHOICE_REQUIRED;
    assert_int_equal(lx_provider_ollama.encode(&cfg, &r, &w, &err), LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(err.message, "tool_choice"));
    r.tool_choice = LLMUX_TOOL_CHOICE_AUTO;
    llmux_part call = {.type = LLMUX_PART_TOOL_CALL, .id = "c", .name = "f", .arguments = "{bad"};
    llmux_message am = {.role = LLMUX_ROLE_ASSISTANT, .parts = &call, .n_parts = 1};
    r.messages = &am;
    assert_int_equal(lx_provider_ollama.encode(&cfg, &r, &w, &err), LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(err.message, "arguments"));
    /* Documents: Ollama has no form for them. */
    llmux_part doc = {.type = LLMUX_PART_FILE, .data = "JVBERi0=", .mime_type = "application/pdf"};
    llmux_message dm = {.role = LLMUX_ROLE_USER, .parts = &doc, .n_parts = 1};
    r.messages = &dm;
    assert_int_equal(lx_provider_ollama.encode(&cfg, &r, &w, &err), LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(err.message, "files"));
    r.messages = &m;
    r.provider_options = "{\"ollama\":[]}";
    assert_int_equal(lx_provider_ollama.encode(&cfg, &r, &w, &err), LLMUX_E_INVALID_REQUEST);
    lx_buf_free(&w.body);
}

static void expect_events(bool stream, const char *wire, const char *events, llmux_status want_status) {
    lx_provider_config cfg = cfg_model("m");
    h_expect_events(&lx_provider_ollama, &cfg, stream, wire, events, want_status);
}

static void test_decode_text_thinking(void **s) {
    (void)s;
    expect_events(true, DATA "stream_text.ndjson", DATA "stream_text.events", LLMUX_OK);
}

static void test_decode_tool_calls(void **s) {
    (void)s;
    expect_events(true, DATA "stream_tool_calls.ndjson", DATA "stream_tool_calls.events", LLMUX_OK);
}

static void test_decode_nonstream(void **s) {
    (void)s;
    expect_events(false, DATA "response_text.json", DATA "response_text.events", LLMUX_OK);
    /* stream:false ignored by a server that streams anyway. */
    size_t len = 0;
    char *body = h_read_file(DATA "stream_tool_calls.ndjson", &len);
    lx_provider_config cfg = cfg_model("m");
    h_result r = h_decode(&lx_provider_ollama, &cfg, false, body, len, 0, 0);
    assert_int_equal(r.status, LLMUX_OK);
    assert_non_null(strstr(r.events, "finish tool_calls\n"));
    free(r.events);
    free(body);
}

static void test_decode_midstream_error(void **s) {
    (void)s;
    expect_events(true, DATA "stream_error_midstream.ndjson", DATA "stream_error_midstream.events", LLMUX_E_UPSTREAM_SERVER);
    size_t len = 0;
    char *body = h_read_file(DATA "stream_error_midstream.ndjson", &len);
    lx_provider_config cfg = cfg_model("m");
    h_result r = h_decode(&lx_provider_ollama, &cfg, true, body, len, 0, 0);
    assert_string_equal(r.err.provider_message, "an error was encountered while running the model: unexpected EOF");
    assert_int_equal(r.err.provider_status, 0);
    free(r.events);
    free(body);
}

static void test_decode_truncated(void **s) {
    (void)s;
    expect_events(true, DATA "stream_truncated.ndjson", DATA "stream_truncated.events", LLMUX_E_UPSTREAM_PROTOCOL);
}

static void test_decode_edge(void **s) {
    (void)s;
    lx_provider_config cfg = cfg_model("m");
    const char *b = "{\"done\":true,\"done_reason\":\"load\"}\n";
    h_result r = h_decode(&lx_provider_ollama, &cfg, true, b, strlen(b), 0, 0);
    assert_int_equal(r.status, LLMUX_OK);
    assert_string_equal(r.events, "start - - \"ollama\"\nfinish stop\n");
    free(r.events);
    b = "{\"done\":true}\n{\"done\":true}\n";
    r = h_decode(&lx_provider_ollama, &cfg, true, b, strlen(b), 0, 0);
    assert_int_equal(r.status, LLMUX_E_UPSTREAM_PROTOCOL);
    free(r.events);
    b = "not json\n";
    r = h_decode(&lx_provider_ollama, &cfg, true, b, strlen(b), 0, 0);
    assert_int_equal(r.status, LLMUX_E_UPSTREAM_PROTOCOL);
    free(r.events);
    b = "{\"error\":\"model \\\"llama9\\\" not found, try pulling it first\"}";
    r = h_decode(&lx_provider_ollama, &cfg, true, b, strlen(b), 0, 0);
    assert_int_equal(r.status, LLMUX_E_MODEL_NOT_FOUND);
    free(r.events);
    r = h_decode(&lx_provider_ollama, &cfg, true, "", 0, 0, 0);
    assert_int_equal(r.status, LLMUX_E_UPSTREAM_PROTOCOL);
    free(r.events);
}

static void test_map_error(void **s) {
    (void)s;
    const struct {
        int http;
        const char *body;
        llmux_status want;
    } cases[] = {
        {400, "{\"error\":\"model is required\"}", LLMUX_E_INVALID_REQUEST},
        {400, "{\"error\":\"\\\"all-minilm\\\" does not support chat\"}", LLMUX_E_INVALID_REQUEST},
        {400, "{\"error\":\"the input length exceeds the context length\"}", LLMUX_E_CONTEXT_LENGTH},
        {401, "{\"error\":\"unauthorized\"}", LLMUX_E_AUTHENTICATION},
        {404, "{\"error\":\"model \\\"llama3.2\\\" not found, try pulling it first\"}", LLMUX_E_MODEL_NOT_FOUND},
        {404, "{\"error\":\"model not found\"}", LLMUX_E_MODEL_NOT_FOUND},
        {429, "{\"error\":\"too many requests\"}", LLMUX_E_RATE_LIMITED},
        {500, "{\"error\":\"llama runner process has terminated\"}", LLMUX_E_UPSTREAM_SERVER},
        {503, "{\"error\":\"server busy, please try again.  maximum pending requests exceeded\"}", LLMUX_E_OVERLOADED},
        {502, "<html>bad gateway</html>", LLMUX_E_OVERLOADED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        llmux_error_info e;
        lx_provider_ollama.map_error(cases[i].http, cases[i].body, strlen(cases[i].body), NULL, &e);
        if (e.status != cases[i].want) fail_msg("case %zu: got %s", i, llmux_status_name(e.status));
        assert_int_equal(e.provider_status, cases[i].http);
        assert_true(strlen(e.provider_message) > 0);
    }
    llmux_error_info e;
    lx_provider_ollama.map_error(503, "{\"error\":\"busy\"}", 16, "3", &e);
    assert_int_equal(e.retry_after_ms, 3000);
    assert_string_equal(e.provider_message, "busy");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_text),        cmocka_unit_test(test_encode_full),
        cmocka_unit_test(test_encode_errors),      cmocka_unit_test(test_decode_text_thinking),
        cmocka_unit_test(test_decode_tool_calls),  cmocka_unit_test(test_decode_nonstream),
        cmocka_unit_test(test_decode_midstream_error), cmocka_unit_test(test_decode_truncated),
        cmocka_unit_test(test_decode_edge),        cmocka_unit_test(test_map_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
