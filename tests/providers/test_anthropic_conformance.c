/* Conformance: decodes every recorded Anthropic file in ../shared/fixtures/providers/
 * anthropic_messages (real captures, SDK fixtures and documented examples; see its SOURCES.md)
 * and checks specific outcomes. Skipped when the folder is absent. */
#include <dirent.h>
#include <sys/stat.h>

#include "decode_harness.h"

#define FIX LLMUX_SOURCE_DIR "/../shared/fixtures/providers/anthropic_messages/"

static const lx_provider *P = &lx_provider_anthropic;

#define REQUIRE_FIXTURES() h_require_dir(FIX)

/* Decodes a fixture (at several chunkings) and returns the aggregated response. */
static llmux_response *decode(const char *name, bool stream, llmux_status want, llmux_error_info *err) {
    return h_decode_response(P, FIX, name, stream, want, err);
}

static void expect_args(const llmux_part *p, const char *json) {
    assert_int_equal(p->type, LLMUX_PART_TOOL_CALL);
    json_t *got = json_loads(p->arguments, 0, NULL), *want = json_loads(json, 0, NULL);
    assert_non_null(got);
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
}

static void test_streams_text(void **state) {
    (void)state;
    REQUIRE_FIXTURES();
    llmux_error_info err;
    llmux_response *r = decode("stream_text.sse", true, LLMUX_OK, &err); /* no newline after the last event */
    assert_string_equal(r->id, "msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK");
    assert_string_equal(llmux_response_text(r), "Hello there!");
    assert_int_equal(r->finish_reason, LLMUX_FINISH_STOP);
    assert_int_equal(r->usage.input_tokens, 11);
    assert_int_equal(r->usage.output_tokens, 6);
    llmux_response_free(r);

    r = decode("stream_text_docs.sse", true, LLMUX_OK, &err);
    assert_string_equal(llmux_response_text(r), "Hello!");
    assert_int_equal(r->usage.input_tokens, 25);
    assert_int_equal(r->usage.output_tokens, 15);
    llmux_response_free(r);

    r = decode("stream_refusal.sse", true, LLMUX_OK, &err);
    assert_int_equal(r->finish_reason, LLMUX_FINISH_CONTENT_FILTER);
    assert_int_equal(r->n_parts, 0); /* the empty text block yields no part */
    assert_int_equal(r->usage.output_tokens, 0);
    llmux_response_free(r);
}

static void test_streams_tools(void **state) {
    (void)state;
    REQUIRE_FIXTURES();
    llmux_error_info err;
    llmux_response *r = decode("stream_tool_call.sse", true, LLMUX_OK, &err);
    assert_int_equal(r->n_parts, 2);
    assert_string_equal(r->parts[0].text, "I'll check the current weather in Paris for you.");
    assert_string_equal(r->parts[1].id, "toolu_01NRLabsLyVHZPKxbKvkfSMn");
    assert_string_equal(r->parts[1].name, "get_weather");
    assert_string_equal(r->parts[1].arguments, "{\"location\": \"Paris\"}");
    assert_int_equal(r->finish_reason, LLMUX_FINISH_TOOL_CALLS);
    assert_int_equal(r->usage.input_tokens, 377);
    assert_int_equal(r->usage.cached_input_tokens, 0);
    llmux_response_free(r);

    r = decode("stream_tool_call_docs.sse", true, LLMUX_OK, &err);
    assert_int_equal(r->n_parts, 2);
    expect_args(&r->parts[1], "{\"location\": \"San Francisco, CA\", \"unit\": \"fahrenheit\"}");
    assert_int_equal(r->usage.total_tokens, 472 + 89);
    llmux_response_free(r);

    /* Cut by max_tokens: no content_block_stop, the arguments are not valid JSON. */
    r = decode("stream_tool_call_truncated_max_tokens.sse", true, LLMUX_OK, &err);
    assert_int_equal(r->finish_reason, LLMUX_FINISH_LENGTH);
    assert_int_equal(r->n_parts, 2);
    assert_string_equal(r->parts[1].name, "make_file");
    assert_null(json_loads(r->parts[1].arguments, 0, NULL));
    assert_non_null(strstr(r->parts[1].arguments, "\"filename\": \"taxes.txt\""));
    llmux_response_free(r);
}

static void test_streams_thinking(void **state) {
    (void)state;
    REQUIRE_FIXTURES();
    llmux_error_info err;
    llmux_response *r = decode("stream_thinking.sse", true, LLMUX_OK, &err);
    assert_int_equal(r->n_parts, 2);
    assert_int_equal(r->parts[0].type, LLMUX_PART_REASONING);
    assert_false(r->parts[0].redacted);
    assert_true(strncmp(r->parts[0].text, "This is a straightforward question about pedestrian safety.", 58) == 0);
    assert_true(strncmp(r->parts[0].signature, "EvMCCkYICxgCKkCHP2cSuEdcJK", 26) == 0);
    assert_true(strncmp(r->parts[1].text, "Here are the basic steps", 24) == 0);
    assert_int_equal(r->usage.input_tokens, 43);
    assert_int_equal(r->usage.output_tokens, 282);
    llmux_response_free(r);

    r = decode("stream_thinking_docs.sse", true, LLMUX_OK, &err);
    assert_non_null(strstr(r->parts[0].text, "10,800 + 1,350 + 81 = 12,231"));
    assert_string_equal(r->parts[0].signature, "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds...");
    assert_string_equal(r->parts[1].text, "27 * 453 = 12,231");
    assert_int_equal(r->usage.input_tokens, -1); /* the docs example carries no usage */
    llmux_response_free(r);

    r = decode("stream_redacted_thinking.sse", true, LLMUX_OK, &err);
    assert_int_equal(r->n_parts, 3);
    assert_true(r->parts[0].redacted && r->parts[1].redacted);
    assert_true(strncmp(r->parts[0].text, "EqkECkYIBxgCKkA8AZ4noDfV", 24) == 0);
    assert_true(strncmp(r->parts[1].text, "EtgBCkYIBxgCKkDQfGkwzflE", 24) == 0);
    assert_null(r->parts[0].signature);
    assert_int_equal(r->parts[2].type, LLMUX_PART_TEXT);
    llmux_response_free(r);
}

static void test_streams_errors(void **state) {
    (void)state;
    REQUIRE_FIXTURES();
    llmux_error_info err;
    llmux_response *r = decode("stream_error_overloaded_event.sse", true, LLMUX_E_OVERLOADED, &err);
    assert_string_equal(err.provider_code, "overloaded_error");
    assert_string_equal(err.provider_message, "Overloaded");
    assert_int_equal(r->n_parts, 0);
    llmux_response_free(r);

    r = decode("stream_text_then_overloaded_error.sse", true, LLMUX_E_OVERLOADED, &err);
    assert_string_equal(llmux_response_text(r), "Hello there");
    llmux_response_free(r);
}

/* The assistant turn our encoder builds from a decoded response equals the one the official
 * client sent back in the recorded follow-up request: signatures and redacted data intact. */
static void round_trip(const char *response, const char *followup) {
    llmux_error_info err;
    llmux_response *r = decode(response, false, LLMUX_OK, &err);
    const llmux_part q = {.type = LLMUX_PART_TEXT, .text = "q"};
    const llmux_message msgs[] = {{.role = LLMUX_ROLE_USER, .parts = &q, .n_parts = 1},
                                  {.role = LLMUX_ROLE_ASSISTANT, .parts = r->parts, .n_parts = r->n_parts}};
    llmux_request req = llmux_request_default();
    req.messages = msgs;
    req.n_messages = 2;
    lx_provider_config cfg = {.name = "anthropic", .model = "claude-sonnet-4-5"};
    lx_wire_request w;
    memset(&w, 0, sizeof w);
    lx_buf_init(&w.body, 1u << 24);
    assert_int_equal(P->encode(&cfg, &req, &w, &err), LLMUX_OK);
    json_t *got = json_loadb(w.body.data, w.body.len, 0, NULL);
    char path[512];
    snprintf(path, sizeof path, FIX "%s", followup);
    json_t *want = json_load_file(path, 0, NULL);
    assert_non_null(got);
    assert_non_null(want);
    json_t *g = json_array_get(json_object_get(got, "messages"), 1);
    json_t *wm = json_array_get(json_object_get(want, "messages"), 1);
    if (!json_equal(g, wm)) {
        char *a = json_dumps(g, JSON_SORT_KEYS), *b = json_dumps(wm, JSON_SORT_KEYS);
        print_message("got  %.600s\nwant %.600s\n", a, b);
        free(a);
        free(b);
        fail_msg("%s -> %s: the assistant turn differs", response, followup);
    }
    json_decref(got);
    json_decref(want);
    lx_buf_free(&w.body);
    llmux_response_free(r);
}

static void test_responses_round_trip(void **state) {
    (void)state;
    REQUIRE_FIXTURES();
    round_trip("response_thinking.json", "request_thinking_followup.json");
    round_trip("response_redacted_thinking.json", "request_redacted_thinking_followup.json");
    round_trip("response_tool_call.json", "request_tool_result.json");
}

static void test_responses(void **state) {
    (void)state;
    REQUIRE_FIXTURES();
    llmux_error_info err;
    llmux_response *r = decode("response_text.json", false, LLMUX_OK, &err);
    assert_string_equal(llmux_response_text(r), "The capital of France is Paris.");
    assert_int_equal(r->usage.input_tokens, 20);
    assert_int_equal(r->usage.cache_write_tokens, 0);
    llmux_response_free(r);

    r = decode("response_tool_call.json", false, LLMUX_OK, &err);
    assert_int_equal(r->n_parts, 5); /* text + four parallel calls */
    static const char *const names[] = {"Alice", "Bob", "Charlie", "Daisy"};
    for (int i = 0; i < 4; i++) {
        char want[64];
        snprintf(want, sizeof want, "{\"name\": \"%s\"}", names[i]);
        expect_args(&r->parts[1 + i], want);
    }
    assert_int_equal(r->finish_reason, LLMUX_FINISH_TOOL_CALLS);
    llmux_response_free(r);

    const char *others[] = {"response_tool_result.json", "response_thinking_followup.json",
                            "response_redacted_thinking_followup.json"};
    for (int i = 0; i < 3; i++) {
        r = decode(others[i], false, LLMUX_OK, &err);
        assert_int_equal(r->finish_reason, LLMUX_FINISH_STOP);
        assert_true(strlen(llmux_response_text(r)) > 20);
        llmux_response_free(r);
    }
}

static char *retry_after_header(const char *headers) {
    const char *p = strstr(headers, "\nretry-after:");
    if (!p) return NULL;
    p += 13;
    while (*p == ' ') p++;
    size_t n = strcspn(p, "\r\n");
    char *v = malloc(n + 1);
    memcpy(v, p, n);
    v[n] = '\0';
    return v;
}

static void test_error_bodies(void **state) {
    (void)state;
    REQUIRE_FIXTURES();
    static const struct {
        const char *file;
        int http;
        llmux_status want;
    } cases[] = {
        {"error_400.json", 400, LLMUX_E_INVALID_REQUEST},
        {"error_400_context_length.json", 400, LLMUX_E_CONTEXT_LENGTH},
        {"error_401.json", 401, LLMUX_E_AUTHENTICATION},
        {"error_404_docs.json", 404, LLMUX_E_MODEL_NOT_FOUND},
        {"error_404_model_not_found.json", 404, LLMUX_E_MODEL_NOT_FOUND},
        {"error_429.json", 429, LLMUX_E_RATE_LIMITED},
        {"error_500.json", 500, LLMUX_E_UPSTREAM_SERVER},
        {"error_529.json", 529, LLMUX_E_OVERLOADED},
    };
    char *headers = h_read_file(FIX "error_429.headers", NULL);
    assert_non_null(headers);
    char *retry = retry_after_header(headers);
    assert_non_null(retry);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, FIX "%s", cases[i].file);
        size_t len = 0;
        char *body = h_read_file(path, &len);
        assert_non_null(body);
        llmux_error_info err;
        P->map_error(cases[i].http, body, len, cases[i].http == 429 ? retry : NULL, &err);
        if (err.status != cases[i].want)
            fail_msg("%s: %s, want %s", cases[i].file, llmux_status_name(err.status), llmux_status_name(cases[i].want));
        assert_int_equal(err.provider_status, cases[i].http);
        assert_true(err.provider_code[0] != '\0');
        assert_true(err.provider_message[0] != '\0');
        assert_int_equal(err.retry_after_ms, cases[i].http == 429 ? 15000 : -1);
        free(body);
    }
    free(retry);
    free(headers);
}

/* Every .sse file decodes to a terminal outcome without crashing, whatever the chunking. */
static void test_every_stream_file(void **state) {
    (void)state;
    REQUIRE_FIXTURES();
    DIR *dir = opendir(FIX);
    assert_non_null(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(dir))) {
        size_t l = strlen(e->d_name);
        bool sse = l > 4 && strcmp(e->d_name + l - 4, ".sse") == 0;
        bool resp = strncmp(e->d_name, "response_", 9) == 0;
        if (!sse && !resp) continue;
        char path[512];
        snprintf(path, sizeof path, FIX "%s", e->d_name);
        h_rec r = {0};
        llmux_error_info err;
        llmux_status st = h_decode_file(P, sse, path, &r, &err);
        bool error_file = strstr(e->d_name, "error") != NULL;
        if (error_file) assert_int_equal(st, LLMUX_E_OVERLOADED);
        else if (st != LLMUX_OK) fail_msg("%s: %s", e->d_name, err.message);
        else assert_non_null(strstr(h_lines(&r), "finish "));
        h_rec_free(&r);
        n++;
    }
    closedir(dir);
    assert_int_equal(n, 18);
}

int main(void) {
    h_fixtures_or_skip("../shared/fixtures/providers");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_streams_text),         cmocka_unit_test(test_streams_tools),
        cmocka_unit_test(test_streams_thinking),     cmocka_unit_test(test_streams_errors),
        cmocka_unit_test(test_responses),            cmocka_unit_test(test_responses_round_trip),
        cmocka_unit_test(test_error_bodies),         cmocka_unit_test(test_every_stream_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
