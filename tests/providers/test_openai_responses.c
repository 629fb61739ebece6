/* The Responses API adapter (openai_responses.c) on the project's own wire files
 * (tests/providers/data/openai_responses, written from the documented format): events of text,
 * reasoning, parallel calls, an incomplete answer, a failed response, a truncated stream, a whole
 * body (each also fed byte by byte); the request body: instructions, input items of every kind,
 * a reasoning part sent back as the item it came from, flat tools, text.format, reasoning effort,
 * stateless (store false, encrypted reasoning included); stop sequences refused. */
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

#define DATA LLMUX_SOURCE_DIR "/tests/providers/data/openai_responses/"

static const lx_provider *P = &lx_provider_openai_responses;

static h_result decode(const char *file, bool stream) {
    lx_provider_config cfg = {.name = "openai-responses"};
    return h_decode_fixture(P, &cfg, file, stream);
}

static void expect(const char *file, bool stream, llmux_status st, const char *events) {
    h_result r = decode(file, stream);
    if (r.status != st || strcmp(r.events, events) != 0)
        fail_msg("%s: [%s] %s\n%s", file, llmux_status_name(r.status), r.err.message, r.events);
    free(r.events);
}

#define START "start \"resp_1\" \"gpt-5-codex\" \"openai-responses\"\n"
#define USAGE "usage in=20 out=30 cached=8 cache_write=-1 reasoning=12 total=50\n"

static void test_decode(void **state) {
    (void)state;
    expect(DATA "stream_text.sse", true, LLMUX_OK,
           START "reasoning_delta 0 \"Thinking\"\n"
                 "reasoning_delta 0 \"\" sig=\"rs_1|gAAAAenc\"\n"
                 "text_delta 1 \"Hello\"\n"
                 "text_delta 1 \", world\"\n" USAGE "finish stop\n");
    /* Arguments keyed by output_index, interleaved: each call gets its own. */
    expect(DATA "stream_tools.sse", true, LLMUX_OK,
           START "tool_call_start 0 \"call_a\" \"get_weather\"\n"
                 "tool_call_start 1 \"call_b\" \"get_time\"\n"
                 "tool_call_delta 1 \"{}\"\n"
                 "tool_call_delta 0 \"{\\\"city\\\":\"\n"
                 "tool_call_delta 0 \"\\\"Paris\\\"}\"\n"
                 "tool_call_end 0\n"
                 "tool_call_end 1\n" USAGE "finish tool_calls\n");
    expect(DATA "stream_incomplete.sse", true, LLMUX_OK, START "text_delta 0 \"Once upon\"\n" USAGE "finish length\n");
    expect(DATA "response_mixed.json", false, LLMUX_OK,
           START "reasoning_delta 0 \"\" sig=\"rs_9|gAAAAxyz\"\n"
                 "text_delta 1 \"Hi there\"\n"
                 "tool_call_start 2 \"call_z\" \"lookup\"\n"
                 "tool_call_delta 2 \"{\\\"q\\\":1}\"\n"
                 "tool_call_end 2\n" USAGE "finish tool_calls\n");
    /* A hosted web search: its web_search_call item, once done, as a NATIVE part; the answer's
     * text after it (its url_citation annotations are not kept). */
    expect(DATA "stream_web_search.sse", true, LLMUX_OK,
           "start \"resp_ws\" \"gpt-5-codex\" \"openai-responses\"\n"
           "native 0 \"openai_responses\" {\"id\":\"ws_1\",\"type\":\"web_search_call\",\"status\":\"completed\","
           "\"action\":{\"type\":\"search\",\"query\":\"llmux release notes\"}}\n"
           "text_delta 1 \"Version 2 is out.\"\n"
           "usage in=30 out=12 cached=-1 cache_write=-1 reasoning=-1 total=42 web_searches=1\n"
           "finish stop\n");
    h_result r = decode(DATA "stream_failed.sse", true);
    assert_int_equal(r.status, LLMUX_E_RATE_LIMITED);
    assert_string_equal(r.err.provider_code, "rate_limit_exceeded");
    assert_string_equal(r.events, START);
    free(r.events);
    r = decode(DATA "stream_truncated.sse", true);
    assert_int_equal(r.status, LLMUX_E_UPSTREAM_PROTOCOL);
    assert_non_null(strstr(r.err.message, "truncated"));
    free(r.events);
}

static void test_decode_malformed(void **state) {
    (void)state;
    lx_provider_config cfg = {.name = "openai-responses"};
    static const char *const bad[] = {
        "event: x\ndata: [1]\n\n",                                          /* not an object */
        "data: {\"no\":\"type\"}\n\n",                                      /* no type */
        "data: {\"type\":\"response.output_text.delta\",\"delta\":5}\n\n",  /* delta not a string */
        "data: {\"type\":\"response.function_call_arguments.delta\",\"output_index\":3,\"delta\":\"{}\"}\n\n",
        "data: {\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"type\":\"function_call\"}}\n\n",
        "data: {\"type\":\"response.completed\"}\n\n",                       /* no response */
        "data: {\"type\":\"response.created\",\"response\":{}}\n\ndata: {bad json\n\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        h_result r = h_decode(P, &cfg, true, bad[i], strlen(bad[i]), 0, 0);
        if (r.status == LLMUX_OK) fail_msg("accepted: %s", bad[i]);
        assert_true(strlen(r.err.message) > 0);
        free(r.events);
    }
    const char *body = "{\"id\":\"resp_1\",\"status\":\"completed\"}"; /* no output */
    h_result r = h_decode(P, &cfg, false, body, strlen(body), 0, 0);
    assert_int_equal(r.status, LLMUX_E_UPSTREAM_PROTOCOL);
    free(r.events);
}

static json_t *encode_as(const llmux_request *req, const char *model, llmux_status want, const char *msg_part) {
    lx_provider_config cfg = {.name = "openai-responses", .base_url = "https://api.openai.com/v1",
                              .api_key = "sk-SECRET-123", .model = model};
    lx_wire_request w;
    memset(&w, 0, sizeof w);
    lx_buf_init(&w.body, LX_WIRE_MAX_BODY);
    llmux_error_info err;
    llmux_status st = P->encode(&cfg, req, &w, &err);
    if (st != want) fail_msg("encode: %s: %s", llmux_status_name(st), err.message);
    if (st != LLMUX_OK) {
        if (msg_part && !strstr(err.message, msg_part)) fail_msg("\"%s\" lacks \"%s\"", err.message, msg_part);
        lx_buf_free(&w.body);
        return NULL;
    }
    assert_string_equal(w.path, "/responses");
    assert_null(strstr(w.body.data, "SECRET"));
    const lx_wire_header *auth = h_header(&w, "Authorization");
    assert_non_null(auth);
    assert_true(auth->secret);
    json_t *j = json_loadb(w.body.data, w.body.len, 0, NULL);
    assert_non_null(j);
    lx_buf_free(&w.body);
    return j;
}

static json_t *encode(const llmux_request *req, llmux_status want, const char *msg_part) {
    return encode_as(req, "gpt-5-codex", want, msg_part);
}

/* A document as an input_file: data URL with its file name, or file_url. */
static void test_encode_file(void **state) {
    (void)state;
    llmux_part parts[] = {{.type = LLMUX_PART_FILE, .data = "JVBERi0=", .mime_type = "application/pdf", .name = "a.pdf"},
                          {.type = LLMUX_PART_FILE, .image_url = "https://example.com/b.pdf"}};
    llmux_message m = {.role = LLMUX_ROLE_USER, .parts = parts, .n_parts = 2};
    llmux_request r = llmux_request_default();
    r.messages = &m;
    r.n_messages = 1;
    json_t *j = encode(&r, LLMUX_OK, NULL);
    json_t *c = json_object_get(json_array_get(json_object_get(j, "input"), 0), "content");
    json_t *f0 = json_array_get(c, 0), *f1 = json_array_get(c, 1);
    assert_string_equal(json_string_value(json_object_get(f0, "type")), "input_file");
    assert_string_equal(json_string_value(json_object_get(f0, "filename")), "a.pdf");
    assert_string_equal(json_string_value(json_object_get(f0, "file_data")), "data:application/pdf;base64,JVBERi0=");
    assert_string_equal(json_string_value(json_object_get(f1, "file_url")), "https://example.com/b.pdf");
    assert_null(json_object_get(j, "prompt_cache_key"));
    json_decref(j);
    /* OpenAI's own API gets the prompt_cache_key of the metadata. */
    llmux_kv kv = {.key = "prompt_cache_key", .value = "conv-7"};
    r.metadata = &kv;
    r.n_metadata = 1;
    j = encode(&r, LLMUX_OK, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "prompt_cache_key")), "conv-7");
    json_decref(j);
}

/* A text part's cache breakpoint goes as OpenAI's explicit one to gpt-5.6 and later only. */
static void test_encode_explicit_cache(void **state) {
    (void)state;
    llmux_part parts[] = {{.type = LLMUX_PART_TEXT, .text = "Doc", .cache = LLMUX_CACHE_5M},
                          {.type = LLMUX_PART_TEXT, .text = "Q"}};
    llmux_message m = {.role = LLMUX_ROLE_USER, .parts = parts, .n_parts = 2};
    llmux_request r = llmux_request_default();
    r.messages = &m;
    r.n_messages = 1;
    json_t *j = encode_as(&r, "gpt-5.6", LLMUX_OK, NULL);
    json_t *c = json_object_get(json_array_get(json_object_get(j, "input"), 0), "content");
    json_t *pb = json_object_get(json_array_get(c, 0), "prompt_cache_breakpoint");
    assert_string_equal(json_string_value(json_object_get(pb, "mode")), "explicit");
    assert_null(json_object_get(json_array_get(c, 1), "prompt_cache_breakpoint"));
    json_decref(j);
    j = encode(&r, LLMUX_OK, NULL); /* gpt-5-codex */
    c = json_object_get(json_array_get(json_object_get(j, "input"), 0), "content");
    assert_null(json_object_get(json_array_get(c, 0), "prompt_cache_breakpoint"));
    json_decref(j);
}

/* provider_options.openai_responses: hosted tools (a Codex client's web_search) follow the
 * request's function tools; a tool_choice naming one replaces the adapter's. */
static void test_encode_hosted_tools(void **state) {
    (void)state;
    llmux_part q = {.type = LLMUX_PART_TEXT, .text = "News?"};
    llmux_message m = {.role = LLMUX_ROLE_USER, .parts = &q, .n_parts = 1};
    llmux_tool t = {.name = "shell", .parameters = "{\"type\":\"object\"}"};
    llmux_request r = llmux_request_default();
    r.messages = &m;
    r.n_messages = 1;
    r.tools = &t;
    r.n_tools = 1;
    r.provider_options = "{\"openai_responses\":{\"hosted_tools\":[{\"type\":\"web_search\",\"external_web_access\":true}],"
                         "\"tool_choice\":{\"type\":\"web_search\"}}}";
    json_t *j = encode(&r, LLMUX_OK, NULL);
    json_t *tools = json_object_get(j, "tools");
    assert_int_equal(json_array_size(tools), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(tools, 0), "name")), "shell");
    assert_string_equal(json_string_value(json_object_get(json_array_get(tools, 1), "type")), "web_search");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "tool_choice"), "type")), "web_search");
    json_decref(j);
    /* Without function tools the hosted ones are the whole list. */
    r.n_tools = 0;
    r.tools = NULL;
    r.provider_options = "{\"openai_responses\":{\"hosted_tools\":[{\"type\":\"web_search\"}]}}";
    j = encode(&r, LLMUX_OK, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "tools")), 1);
    json_decref(j);
    /* This API's own item (a web_search_call of an earlier turn) goes back in the assistant turn
     * as it came, before the turn's message; another provider's own block in a user message is
     * left out, not refused. */
    llmux_part asst[] = {{.type = LLMUX_PART_NATIVE, .name = "openai_responses",
                          .text = "{\"id\":\"ws_1\",\"type\":\"web_search_call\",\"status\":\"completed\"}"},
                         {.type = LLMUX_PART_TEXT, .text = "Found it."}};
    llmux_message turns[] = {m, {.role = LLMUX_ROLE_ASSISTANT, .parts = asst, .n_parts = 2}, m};
    r.messages = turns;
    r.n_messages = 3;
    r.provider_options = NULL;
    j = encode(&r, LLMUX_OK, NULL);
    json_t *in = json_object_get(j, "input");
    assert_int_equal(json_array_size(in), 4);
    assert_string_equal(json_string_value(json_object_get(json_array_get(in, 1), "type")), "web_search_call");
    assert_string_equal(json_string_value(json_object_get(json_array_get(in, 1), "id")), "ws_1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(in, 2), "role")), "assistant");
    json_decref(j);
    r.messages = &m;
    r.n_messages = 1;
    /* Another provider's own block in a user message is left out, not refused. */
    llmux_part with_native[] = {{.type = LLMUX_PART_NATIVE, .name = "anthropic", .text = "{\"type\":\"search_result\"}"},
                                {.type = LLMUX_PART_TEXT, .text = "News?"}};
    m.parts = with_native;
    m.n_parts = 2;
    r.provider_options = NULL;
    j = encode(&r, LLMUX_OK, NULL);
    json_t *content = json_object_get(json_array_get(json_object_get(j, "input"), 0), "content");
    assert_int_equal(json_array_size(content), 1);
    json_decref(j);
    r.provider_options = "{\"openai_responses\":{\"hosted_tools\":{}}}";
    j = encode(&r, LLMUX_E_INVALID_REQUEST, "hosted_tools an array");
    json_decref(j);
}

static void test_encode(void **state) {
    (void)state;
    llmux_part user[2] = {{.type = LLMUX_PART_TEXT, .text = "Look"},
                          {.type = LLMUX_PART_IMAGE, .data = "QQ==", .mime_type = "image/png"}};
    llmux_part asst[3] = {{.type = LLMUX_PART_REASONING, .text = "Thinking", .signature = "rs_1|gAAAAenc"},
                          {.type = LLMUX_PART_TEXT, .text = "Checking."},
                          {.type = LLMUX_PART_TOOL_CALL, .id = "call_a", .name = "get_weather", .arguments = "{\"city\":\"Paris\"}"}};
    llmux_part result = {.type = LLMUX_PART_TOOL_RESULT, .id = "call_a", .text = "18C"};
    llmux_message msgs[3] = {{.role = LLMUX_ROLE_USER, .parts = user, .n_parts = 2},
                             {.role = LLMUX_ROLE_ASSISTANT, .parts = asst, .n_parts = 3},
                             {.role = LLMUX_ROLE_TOOL, .parts = &result, .n_parts = 1}};
    llmux_tool tool = {.name = "get_weather", .description = "Weather", .parameters = "{\"type\":\"object\"}"};
    llmux_request req = llmux_request_default();
    req.system = "Be terse.";
    req.messages = msgs;
    req.n_messages = 3;
    req.tools = &tool;
    req.n_tools = 1;
    req.tool_choice = LLMUX_TOOL_CHOICE_REQUIRED;
    req.single_tool_call = true;
    req.sampling.max_tokens = 500;
    req.sampling.temperature = 0.5;
    req.reasoning_effort = LLMUX_REASONING_HIGH;
    req.stream = true;
    json_t *j = encode(&req, LLMUX_OK, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "model")), "gpt-5-codex");
    assert_string_equal(json_string_value(json_object_get(j, "instructions")), "Be terse.");
    assert_true(json_is_false(json_object_get(j, "store")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "include"), 0)), "reasoning.encrypted_content");
    assert_true(json_is_true(json_object_get(j, "stream")));
    assert_int_equal(json_integer_value(json_object_get(j, "max_output_tokens")), 500);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "reasoning"), "effort")), "high");
    assert_string_equal(json_string_value(json_object_get(j, "tool_choice")), "required");
    assert_true(json_is_false(json_object_get(j, "parallel_tool_calls")));
    json_t *in = json_object_get(j, "input");
    assert_int_equal(json_array_size(in), 5); /* user, reasoning, assistant text, call, output */
    json_t *u = json_array_get(in, 0);
    assert_string_equal(json_string_value(json_object_get(u, "role")), "user");
    json_t *img = json_array_get(json_object_get(u, "content"), 1);
    assert_string_equal(json_string_value(json_object_get(img, "type")), "input_image");
    assert_string_equal(json_string_value(json_object_get(img, "image_url")), "data:image/png;base64,QQ==");
    json_t *rs = json_array_get(in, 1);
    assert_string_equal(json_string_value(json_object_get(rs, "type")), "reasoning");
    assert_string_equal(json_string_value(json_object_get(rs, "id")), "rs_1");
    assert_string_equal(json_string_value(json_object_get(rs, "encrypted_content")), "gAAAAenc");
    json_t *msg = json_array_get(in, 2);
    assert_string_equal(json_string_value(json_object_get(msg, "role")), "assistant");
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(msg, "content"), 0), "type")),
                        "output_text");
    json_t *fc = json_array_get(in, 3);
    assert_string_equal(json_string_value(json_object_get(fc, "type")), "function_call");
    assert_string_equal(json_string_value(json_object_get(fc, "call_id")), "call_a");
    json_t *out = json_array_get(in, 4);
    assert_string_equal(json_string_value(json_object_get(out, "type")), "function_call_output");
    assert_string_equal(json_string_value(json_object_get(out, "output")), "18C");
    json_t *t = json_array_get(json_object_get(j, "tools"), 0);
    assert_string_equal(json_string_value(json_object_get(t, "name")), "get_weather");
    assert_true(json_is_false(json_object_get(t, "strict")));
    json_decref(j);

    /* Reasoning from elsewhere (no "rs_...|" signature) is left out; json_schema as text.format. */
    asst[0].signature = "anthropic-signature";
    req.response_format = LLMUX_FORMAT_JSON_SCHEMA;
    req.schema_name = "weather";
    req.schema = "{\"type\":\"object\"}";
    req.schema_strict = true;
    j = encode(&req, LLMUX_OK, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "input")), 4);
    json_t *fmt = json_object_get(json_object_get(j, "text"), "format");
    assert_string_equal(json_string_value(json_object_get(fmt, "type")), "json_schema");
    assert_string_equal(json_string_value(json_object_get(fmt, "name")), "weather");
    assert_true(json_is_true(json_object_get(fmt, "strict")));
    json_decref(j);

    /* Stop sequences do not exist here: refused rather than dropped. */
    const char *stops[] = {"END"};
    req.sampling.stop = stops;
    req.sampling.n_stop = 1;
    encode(&req, LLMUX_E_INVALID_REQUEST, "stop");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_decode_malformed),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_encode_file),
        cmocka_unit_test(test_encode_explicit_cache),
        cmocka_unit_test(test_encode_hosted_tools),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
