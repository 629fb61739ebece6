/* OpenAI Chat Completions adapter contract tests: canonical request -> golden wire JSON, and
 * hand-written wire responses (tests/providers/data/openai) -> exact canonical events, also
 * with the body split at every byte; error mapping for every status class. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/utf8.h"
#include "decode_harness.h"
#include "providers/openai_internal.h"

#define DATA LLMUX_SOURCE_DIR "/tests/providers/data/openai/"

static lx_provider_config cfg_named(const char *name, const char *model) {
    lx_provider_config c;
    memset(&c, 0, sizeof c);
    c.name = name;
    c.base_url = "https://api.example.com/v1";
    c.api_key = "sk-test-SECRET-0123456789";
    c.model = model;
    return c;
}

/* Encodes and compares with a golden file after parsing both (key order and spacing free). */
static void expect_golden(const lx_provider_config *cfg, const llmux_request *req, const char *golden,
                          lx_wire_request *w) {
    memset(w, 0, sizeof *w);
    lx_buf_init(&w->body, LX_WIRE_MAX_BODY);
    llmux_error_info err;
    llmux_status st = lx_provider_openai.encode(cfg, req, w, &err);
    if (st != LLMUX_OK) fail_msg("encode failed: %s", err.message);
    h_expect_golden(&w->body, golden);
    /* The key never reaches the body. */
    assert_null(strstr(w->body.data, "SECRET"));
}

static void test_encode_text(void **s) {
    (void)s;
    llmux_part p = {.type = LLMUX_PART_TEXT, .text = "Hello"};
    llmux_message m = {.role = LLMUX_ROLE_USER, .parts = &p, .n_parts = 1, .name = "alice"};
    llmux_request r = llmux_request_default();
    r.system = "You are terse.";
    r.messages = &m;
    r.n_messages = 1;
    r.sampling.temperature = 0.2;
    r.sampling.top_p = 0.9;
    r.sampling.max_tokens = 100;
    const char *stops[] = {"END", "\n\n"};
    r.sampling.stop = stops;
    r.sampling.n_stop = 2;
    r.sampling.seed = 7;
    r.sampling.presence_penalty = 0.5;
    r.sampling.frequency_penalty = -0.5;
    r.sampling.top_k = 40;            /* not an OpenAI parameter: dropped for "openai" */
    r.sampling.repeat_penalty = 1.3;  /* likewise */
    r.provider_options = "{\"openai\":{\"user\":\"u-1\",\"service_tier\":\"default\"},\"anthropic\":{\"x\":1}}";
    lx_provider_config cfg = cfg_named("openai", "gpt-4o-mini");
    lx_wire_request w;
    expect_golden(&cfg, &r, DATA "request_text.json", &w);
    assert_string_equal(w.method, "POST");
    assert_string_equal(w.path, "/chat/completions");
    assert_false(w.stream);
    const lx_wire_header *auth = h_header(&w, "Authorization");
    assert_non_null(auth);
    assert_string_equal(auth->value, "Bearer sk-test-SECRET-0123456789");
    assert_true(auth->secret);
    assert_false(h_header(&w, "Content-Type")->secret);
    assert_string_equal(h_header(&w, "Accept")->value, "application/json");
    assert_null(h_header(&w, "HTTP-Referer"));
    lx_buf_free(&w.body);
}

static void test_encode_tools_images_schema_stream(void **s) {
    (void)s;
    llmux_part parts[] = {
        {.type = LLMUX_PART_TEXT, .text = "What is in this image, and what is the weather there?"},
        {.type = LLMUX_PART_IMAGE, .image_url = "https://example.com/paris.png"},
        {.type = LLMUX_PART_IMAGE, .data = "iVBORw0KGgo=", .mime_type = "image/png"},
    };
    llmux_message m = {.role = LLMUX_ROLE_USER, .parts = parts, .n_parts = 3};
    llmux_tool tools[] = {
        {.name = "get_weather", .description = "Current weather for a city",
         .parameters = "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}"},
        {.name = "now"},
    };
    llmux_request r = llmux_request_default();
    r.messages = &m;
    r.n_messages = 1;
    r.tools = tools;
    r.n_tools = 2;
    r.tool_choice = LLMUX_TOOL_CHOICE_TOOL;
    r.tool_choice_name = "get_weather";
    r.response_format = LLMUX_FORMAT_JSON_SCHEMA;
    r.schema_name = "answer";
    r.schema = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}";
    r.schema_strict = true;
    r.sampling.max_tokens = 500; /* o3-mini is a reasoning model: max_completion_tokens */
    r.stream = true;
    lx_provider_config cfg = cfg_named("openai", "o3-mini");
    lx_wire_request w;
    expect_golden(&cfg, &r, DATA "request_tools_stream.json", &w);
    assert_true(w.stream);
    assert_string_equal(h_header(&w, "Accept")->value, "text/event-stream");
    lx_buf_free(&w.body);
}

static void test_encode_history_openrouter(void **s) {
    (void)s;
    llmux_part u1 = {.type = LLMUX_PART_TEXT, .text = "Weather in Tokyo and Paris?"};
    llmux_part calls[] = {
        {.type = LLMUX_PART_REASONING, .text = "dropped: Chat Completions takes no reasoning input"},
        {.type = LLMUX_PART_TOOL_CALL, .id = "call_1", .name = "get_weather", .arguments = "{\"city\":\"Tokyo\"}"},
        {.type = LLMUX_PART_TOOL_CALL, .id = "call_2", .name = "get_weather", .arguments = "{\"city\":\"Paris\"}"},
    };
    llmux_part results[] = {
        {.type = LLMUX_PART_TOOL_RESULT, .id = "call_1", .text = "20C"},
        {.type = LLMUX_PART_TOOL_RESULT, .id = "call_2", .text = "15C"},
    };
    llmux_part a2 = {.type = LLMUX_PART_TEXT, .text = "Tokyo 20C, Paris 15C."};
    /* Anthropic-style user turn: a tool result followed by text. */
    llmux_part mixed[] = {
        {.type = LLMUX_PART_TOOL_RESULT, .id = "call_3", .text = "late result"},
        {.type = LLMUX_PART_TEXT, .text = "Thanks"},
    };
    llmux_part sys = {.type = LLMUX_PART_TEXT, .text = "Use tools."};
    llmux_message msgs[] = {
        {.role = LLMUX_ROLE_SYSTEM, .parts = &sys, .n_parts = 1},
        {.role = LLMUX_ROLE_USER, .parts = &u1, .n_parts = 1},
        {.role = LLMUX_ROLE_ASSISTANT, .parts = calls, .n_parts = 3},
        {.role = LLMUX_ROLE_TOOL, .parts = results, .n_parts = 2},
        {.role = LLMUX_ROLE_ASSISTANT, .parts = &a2, .n_parts = 1},
        {.role = LLMUX_ROLE_USER, .parts = mixed, .n_parts = 2},
    };
    llmux_tool tool = {.name = "get_weather", .parameters = "{\"type\":\"object\"}"};
    llmux_request r = llmux_request_default();
    r.messages = msgs;
    r.n_messages = 6;
    r.tools = &tool;
    r.n_tools = 1;
    r.tool_choice = LLMUX_TOOL_CHOICE_REQUIRED;
    r.response_format = LLMUX_FORMAT_JSON_OBJECT;
    r.sampling.max_tokens = 64;
    r.sampling.top_k = 40;
    r.sampling.min_p = 0.05;
    r.sampling.repeat_penalty = 1.1;
    r.provider_options = "{\"openrouter\":{\"provider\":{\"only\":[\"groq\"]},\"transforms\":[\"middle-out\"]}}";
    lx_provider_config cfg = cfg_named("openrouter", "meta-llama/llama-3.1-8b-instruct");
    cfg.referer = "https://llmux.example";
    cfg.title = "llmux tests";
    lx_wire_request w;
    expect_golden(&cfg, &r, DATA "request_history.json", &w);
    assert_string_equal(h_header(&w, "HTTP-Referer")->value, "https://llmux.example");
    assert_string_equal(h_header(&w, "X-Title")->value, "llmux tests");
    assert_true(h_header(&w, "Authorization")->secret);
    lx_buf_free(&w.body);
}

static void test_encode_compat_without_key(void **s) {
    (void)s;
    llmux_part p = {.type = LLMUX_PART_TEXT, .text = "hi"};
    llmux_message m = {.role = LLMUX_ROLE_USER, .parts = &p, .n_parts = 1};
    llmux_request r = llmux_request_default();
    r.messages = &m;
    r.n_messages = 1;
    r.sampling.max_tokens = 10;
    lx_provider_config cfg = cfg_named("vllm", "gpt-5-local-finetune");
    cfg.api_key = NULL;
    lx_wire_request w;
    memset(&w, 0, sizeof w);
    lx_buf_init(&w.body, LX_WIRE_MAX_BODY);
    llmux_error_info err;
    assert_int_equal(lx_provider_openai.encode(&cfg, &r, &w, &err), LLMUX_OK);
    assert_null(h_header(&w, "Authorization"));
    /* The name rule is about the model, whatever server hosts it. */
    assert_non_null(strstr(w.body.data, "\"max_completion_tokens\":10"));
    lx_buf_free(&w.body);
    assert_true(lx_openai_is_reasoning_model("o1"));
    assert_true(lx_openai_is_reasoning_model("o4-mini-2025-04-16"));
    assert_true(lx_openai_is_reasoning_model("openai/gpt-5-mini"));
    assert_false(lx_openai_is_reasoning_model("gpt-4o"));
    assert_false(lx_openai_is_reasoning_model("o1x"));
    assert_false(lx_openai_is_reasoning_model("omni"));
}

/* Body of req encoded for cfg, parsed. */
static json_t *encode_with(const lx_provider_config *cfg, const llmux_request *req) {
    lx_wire_request w;
    memset(&w, 0, sizeof w);
    lx_buf_init(&w.body, LX_WIRE_MAX_BODY);
    llmux_error_info err;
    if (lx_provider_openai.encode(cfg, req, &w, &err) != LLMUX_OK) fail_msg("encode failed: %s", err.message);
    json_t *j = json_loadb(w.body.data, w.body.len, 0, NULL);
    assert_non_null(j);
    lx_buf_free(&w.body);
    return j;
}

/* Body of req for a provider, parsed. */
static json_t *encode_for(const char *provider, const llmux_request *req) {
    lx_provider_config cfg = cfg_named(provider, "anthropic/claude-sonnet-4.5");
    return encode_with(&cfg, req);
}

/* A system prompt with a 5-minute breakpoint and a user turn whose first part has a 1-hour one. */
typedef struct cached_req {
    llmux_part sys, user[2];
    llmux_message m[2];
    llmux_request r;
} cached_req;

static void cached_req_init(cached_req *c) {
    c->sys = (llmux_part){.type = LLMUX_PART_TEXT, .text = "Long rules", .cache = LLMUX_CACHE_5M};
    c->user[0] = (llmux_part){.type = LLMUX_PART_TEXT, .text = "Doc", .cache = LLMUX_CACHE_1H};
    c->user[1] = (llmux_part){.type = LLMUX_PART_TEXT, .text = "Q"};
    c->m[0] = (llmux_message){.role = LLMUX_ROLE_SYSTEM, .parts = &c->sys, .n_parts = 1};
    c->m[1] = (llmux_message){.role = LLMUX_ROLE_USER, .parts = c->user, .n_parts = 2};
    c->r = llmux_request_default();
    c->r.messages = c->m;
    c->r.n_messages = 2;
}

/* OpenRouter takes cache breakpoints as cache_control on content parts (a cached single text is
 * written as a part to carry it); OpenAI and other compatible servers never see them. */
static void test_encode_cache_control_openrouter(void **s) {
    (void)s;
    cached_req c;
    cached_req_init(&c);
    llmux_message *m = c.m;
    llmux_request r = c.r;
    json_t *j = encode_for("openrouter", &r);
    json_t *msgs = json_object_get(j, "messages");
    json_t *sc = json_object_get(json_array_get(msgs, 0), "content");
    assert_true(json_is_array(sc));
    json_t *cc = json_object_get(json_array_get(sc, 0), "cache_control");
    assert_string_equal(json_string_value(json_object_get(cc, "type")), "ephemeral");
    json_t *uc = json_object_get(json_array_get(msgs, 1), "content");
    cc = json_object_get(json_array_get(uc, 0), "cache_control");
    assert_string_equal(json_string_value(json_object_get(cc, "ttl")), "1h");
    assert_null(json_object_get(json_array_get(uc, 1), "cache_control"));
    json_decref(j);
    j = encode_for("openai", &r);
    char *text = json_dumps(j, JSON_COMPACT);
    assert_null(strstr(text, "cache_control"));
    /* The lone system text stays a string there. */
    assert_true(json_is_string(json_object_get(json_array_get(json_object_get(j, "messages"), 0), "content")));
    free(text);
    json_decref(j);
    /* Several system blocks (Claude Code's, kept apart for their breakpoints) are one string, a
     * line apart, for a server that ignores breakpoints. */
    llmux_part blocks[] = {{.type = LLMUX_PART_TEXT, .text = "You are an agent."},
                           {.type = LLMUX_PART_TEXT, .text = "Rules.", .cache = LLMUX_CACHE_5M}};
    m[0].parts = blocks;
    m[0].n_parts = 2;
    j = encode_for("vllm", &r);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "messages"), 0), "content")),
                        "You are an agent.\nRules.");
    json_decref(j);
}

/* OpenAI's own API, from gpt-5.6 on, takes explicit cache breakpoints on text parts
 * (prompt_cache_breakpoint); older models and other servers never see one. */
static void test_encode_explicit_cache(void **s) {
    (void)s;
    assert_true(lx_openai_explicit_cache(&(lx_provider_config){.base_url = "https://api.openai.com/v1"}, "gpt-5.6"));
    const char *yes[] = {"gpt-5.6-mini", "gpt-5.10", "gpt-6", "gpt-6.1-codex"};
    const char *no[] = {"gpt-5", "gpt-5.5", "gpt-5-mini", "gpt-4.1", "o3", "gpt-", "gpt-x", "chatgpt-5.6"};
    lx_provider_config cfg = cfg_named("openai", "gpt-5.6");
    cfg.base_url = "https://api.openai.com/v1";
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) assert_true(lx_openai_explicit_cache(&cfg, yes[i]));
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) assert_false(lx_openai_explicit_cache(&cfg, no[i]));
    assert_false(lx_openai_explicit_cache(&(lx_provider_config){.base_url = "https://api.example.com/v1"}, "gpt-5.6"));

    cached_req c;
    cached_req_init(&c);
    llmux_request r = c.r;
    json_t *j = encode_with(&cfg, &r);
    json_t *msgs = json_object_get(j, "messages");
    json_t *sc = json_object_get(json_array_get(msgs, 0), "content");
    assert_true(json_is_array(sc));
    json_t *pb = json_object_get(json_array_get(sc, 0), "prompt_cache_breakpoint");
    assert_string_equal(json_string_value(json_object_get(pb, "mode")), "explicit");
    json_t *uc = json_object_get(json_array_get(msgs, 1), "content");
    assert_non_null(json_object_get(json_array_get(uc, 0), "prompt_cache_breakpoint"));
    assert_null(json_object_get(json_array_get(uc, 1), "prompt_cache_breakpoint"));
    char *text = json_dumps(j, JSON_COMPACT);
    assert_null(strstr(text, "cache_control"));
    free(text);
    json_decref(j);
    cfg.model = "gpt-5.5";
    j = encode_with(&cfg, &r);
    text = json_dumps(j, JSON_COMPACT);
    assert_null(strstr(text, "prompt_cache_breakpoint"));
    free(text);
    json_decref(j);
}

static llmux_status encode_expect_error(llmux_request *r, const char *needle);

/* The metadata's prompt_cache_key, safety_identifier, user and service_tier go to OpenAI's own API
 * only: another OpenAI-compatible server may refuse a field it does not know. */
static void test_encode_prompt_cache_key(void **s) {
    (void)s;
    llmux_part p = {.type = LLMUX_PART_TEXT, .text = "Hi"};
    llmux_message m = {.role = LLMUX_ROLE_USER, .parts = &p, .n_parts = 1};
    llmux_kv kv[] = {{.key = "request_id", .value = "r1"},         {.key = "prompt_cache_key", .value = "conv-42"},
                     {.key = "safety_identifier", .value = "h-9"},  {.key = "user", .value = "u-1"},
                     {.key = "service_tier", .value = "flex"}};
    llmux_request r = llmux_request_default();
    r.messages = &m;
    r.n_messages = 1;
    r.metadata = kv;
    r.n_metadata = 5;
    lx_provider_config cfg = cfg_named("openai", "gpt-4o");
    cfg.base_url = "https://api.openai.com/v1";
    json_t *j = encode_with(&cfg, &r);
    assert_string_equal(json_string_value(json_object_get(j, "prompt_cache_key")), "conv-42");
    assert_string_equal(json_string_value(json_object_get(j, "safety_identifier")), "h-9");
    assert_string_equal(json_string_value(json_object_get(j, "user")), "u-1");
    assert_string_equal(json_string_value(json_object_get(j, "service_tier")), "flex");
    assert_null(json_object_get(j, "request_id"));
    json_decref(j);
    j = encode_for("vllm", &r); /* https://api.example.com/v1 */
    assert_null(json_object_get(j, "prompt_cache_key"));
    assert_null(json_object_get(j, "user"));
    assert_null(json_object_get(j, "service_tier"));
    json_decref(j);
}

/* provider_options.openai_chat (the fields llmux serve does not read) reach a compatible server as
 * sent; OpenAI's own API gets only its own fields; provider_options.openai wins over both. */
static void test_encode_chat_extras(void **s) {
    (void)s;
    llmux_part p = {.type = LLMUX_PART_TEXT, .text = "Hi"};
    llmux_message m = {.role = LLMUX_ROLE_USER, .parts = &p, .n_parts = 1};
    llmux_request r = llmux_request_default();
    r.messages = &m;
    r.n_messages = 1;
    r.provider_options = "{\"openai_chat\":{\"chat_template_kwargs\":{\"enable_thinking\":false},\"verbosity\":\"low\","
                         "\"logit_bias\":{\"50256\":-100}},\"openai\":{\"verbosity\":\"high\"}}";
    json_t *j = encode_for("vllm", &r);
    assert_true(json_is_false(json_object_get(json_object_get(j, "chat_template_kwargs"), "enable_thinking")));
    assert_string_equal(json_string_value(json_object_get(j, "verbosity")), "high");
    assert_non_null(json_object_get(j, "logit_bias"));
    json_decref(j);
    lx_provider_config cfg = cfg_named("openai", "gpt-4o");
    cfg.base_url = "https://api.openai.com/v1";
    j = encode_with(&cfg, &r);
    assert_null(json_object_get(j, "chat_template_kwargs"));
    assert_non_null(json_object_get(j, "logit_bias"));
    json_decref(j);
    /* OpenAI's own API under another name: still no vendor sampling, still only its own fields. */
    r.sampling.top_k = 20;
    cfg = cfg_named("my-openai", "gpt-4o");
    cfg.base_url = "https://api.openai.com/v1";
    j = encode_with(&cfg, &r);
    assert_null(json_object_get(j, "top_k"));
    assert_null(json_object_get(j, "chat_template_kwargs"));
    json_decref(j);
    /* A provider named like a wire-format key does not get that key merged whole. */
    j = encode_for("openai_chat", &r);
    assert_null(json_object_get(j, "openai_chat"));
    assert_non_null(json_object_get(j, "chat_template_kwargs"));
    assert_int_equal(json_integer_value(json_object_get(j, "top_k")), 20);
    json_decref(j);
    r.provider_options = "{\"openai_chat\":[1]}";
    encode_expect_error(&r, "provider_options.openai_chat");
}

/* A document goes to Chat Completions as a file part with its data URL; a document URL is
 * refused (the API takes only uploaded file ids besides data). */
static void test_encode_file(void **s) {
    (void)s;
    llmux_part parts[] = {{.type = LLMUX_PART_TEXT, .text = "Summarize"},
                          {.type = LLMUX_PART_FILE, .data = "JVBERi0=", .mime_type = "application/pdf", .name = "a.pdf"}};
    llmux_message m = {.role = LLMUX_ROLE_USER, .parts = parts, .n_parts = 2};
    llmux_request r = llmux_request_default();
    r.messages = &m;
    r.n_messages = 1;
    json_t *j = encode_for("openai", &r);
    json_t *f = json_array_get(json_object_get(json_array_get(json_object_get(j, "messages"), 0), "content"), 1);
    assert_string_equal(json_string_value(json_object_get(f, "type")), "file");
    assert_string_equal(json_string_value(json_object_get(json_object_get(f, "file"), "filename")), "a.pdf");
    assert_string_equal(json_string_value(json_object_get(json_object_get(f, "file"), "file_data")),
                        "data:application/pdf;base64,JVBERi0=");
    json_decref(j);
    parts[1] = (llmux_part){.type = LLMUX_PART_FILE, .image_url = "https://example.com/a.pdf"};
    encode_expect_error(&r, "data + mime_type");
}

static llmux_status encode_expect_error(llmux_request *r, const char *needle) {
    lx_provider_config cfg = cfg_named("openai", "gpt-4o");
    lx_wire_request w;
    memset(&w, 0, sizeof w);
    lx_buf_init(&w.body, LX_WIRE_MAX_BODY);
    llmux_error_info err;
    llmux_status st = lx_provider_openai.encode(&cfg, r, &w, &err);
    assert_int_not_equal(st, LLMUX_OK);
    assert_int_equal(st, err.status);
    if (!strstr(err.message, needle)) fail_msg("message \"%s\" lacks \"%s\"", err.message, needle);
    assert_null(strstr(err.message, "SECRET"));
    lx_buf_free(&w.body);
    return st;
}

static void test_encode_errors(void **s) {
    (void)s;
    llmux_part p = {.type = LLMUX_PART_TEXT, .text = "hi"};
    llmux_message m = {.role = LLMUX_ROLE_USER, .parts = &p, .n_parts = 1};
    llmux_request r = llmux_request_default();
    r.messages = &m;
    r.n_messages = 1;
    llmux_tool bad = {.name = "t", .parameters = "{not json"};
    r.tools = &bad;
    r.n_tools = 1;
    assert_int_equal(encode_expect_error(&r, "tools[0].parameters"), LLMUX_E_INVALID_REQUEST);
    r.tools = NULL;
    r.n_tools = 0;
    r.tool_choice = LLMUX_TOOL_CHOICE_REQUIRED;
    assert_int_equal(encode_expect_error(&r, "tool_choice"), LLMUX_E_INVALID_REQUEST);
    r.tool_choice = LLMUX_TOOL_CHOICE_AUTO;
    r.response_format = LLMUX_FORMAT_JSON_SCHEMA;
    r.schema = NULL;
    assert_int_equal(encode_expect_error(&r, "schema"), LLMUX_E_INVALID_REQUEST);
    r.response_format = LLMUX_FORMAT_TEXT;
    r.provider_options = "[1]";
    assert_int_equal(encode_expect_error(&r, "provider_options"), LLMUX_E_INVALID_REQUEST);
    r.provider_options = "{\"openai\": 5}";
    assert_int_equal(encode_expect_error(&r, "provider_options.openai"), LLMUX_E_INVALID_REQUEST);
    r.provider_options = NULL;
    llmux_part img = {.type = LLMUX_PART_IMAGE, .data = "AAAA"};
    m.parts = &img;
    assert_int_equal(encode_expect_error(&r, "image needs"), LLMUX_E_INVALID_REQUEST);
    llmux_part res = {.type = LLMUX_PART_TOOL_RESULT, .text = "x"};
    m.parts = &res;
    m.role = LLMUX_ROLE_TOOL;
    assert_int_equal(encode_expect_error(&r, "call id"), LLMUX_E_INVALID_REQUEST);
    m.parts = &p;
    m.role = LLMUX_ROLE_USER;
    r.n_messages = 0;
    assert_int_equal(encode_expect_error(&r, "messages: empty"), LLMUX_E_INVALID_REQUEST);
    r.n_messages = 1;
    r.sampling.max_tokens = 0;
    assert_int_equal(encode_expect_error(&r, "max_tokens"), LLMUX_E_INVALID_REQUEST);
    r.sampling.max_tokens = -1;
    /* A key with a line break would split the request: refused, and never echoed. */
    lx_provider_config cfg = cfg_named("openai", "gpt-4o");
    cfg.api_key = "sk-SECRET\r\nX-Evil: 1";
    lx_wire_request w;
    memset(&w, 0, sizeof w);
    lx_buf_init(&w.body, LX_WIRE_MAX_BODY);
    llmux_error_info err;
    assert_int_equal(lx_provider_openai.encode(&cfg, &r, &w, &err), LLMUX_E_CONFIGURATION);
    assert_null(strstr(err.message, "SECRET"));
    lx_buf_free(&w.body);
}

/* ---------------------------------------------------------------- decoding */

static void expect_events(const char *provider, bool stream, const char *wire, const char *events,
                          llmux_status want_status) {
    lx_provider_config cfg = cfg_named(provider, "m");
    /* Same events and outcome whatever the chunking. */
    h_expect_events(&lx_provider_openai, &cfg, stream, wire, events, want_status);
}

static void test_decode_text_usage(void **s) {
    (void)s;
    expect_events("openai", true, DATA "stream_text_usage.sse", DATA "stream_text_usage.events", LLMUX_OK);
}

static void test_decode_parallel_tools_interleaved(void **s) {
    (void)s;
    expect_events("openai", true, DATA "stream_parallel_tools.sse", DATA "stream_parallel_tools.events", LLMUX_OK);
}

static void test_decode_reasoning(void **s) {
    (void)s;
    expect_events("openrouter", true, DATA "stream_reasoning.sse", DATA "stream_reasoning.events", LLMUX_OK);
}

static void test_decode_compat_tools_reported_as_stop(void **s) {
    (void)s;
    expect_events("vllm", true, DATA "stream_compat_tools_stop.sse", DATA "stream_compat_tools_stop.events", LLMUX_OK);
}

static void test_decode_nonstream(void **s) {
    (void)s;
    expect_events("openai", false, DATA "response_tool_calls.json", DATA "response_tool_calls.events", LLMUX_OK);
    expect_events("openai", false, DATA "response_text.json", DATA "response_text.events", LLMUX_OK);
    /* A server that ignores stream:true answers with one JSON body: decoded all the same. */
    expect_events("openai", true, DATA "response_text.json", DATA "response_text.events", LLMUX_OK);
}

static void test_decode_midstream_error(void **s) {
    (void)s;
    expect_events("openrouter", true, DATA "stream_midstream_error.sse", DATA "stream_midstream_error.events",
                  LLMUX_E_RATE_LIMITED);
    size_t len = 0;
    char *body = h_read_file(DATA "stream_midstream_error.sse", &len);
    lx_provider_config cfg = cfg_named("openrouter", "m");
    h_result r = h_decode(&lx_provider_openai, &cfg, true, body, len, 0, 0);
    assert_int_equal(r.err.status, LLMUX_E_RATE_LIMITED);
    assert_int_equal(r.err.provider_status, 0);
    assert_string_equal(r.err.provider_code, "rate_limit_exceeded");
    assert_string_equal(r.err.provider_message, "Rate limit exceeded. Please try again in 1.5s.");
    assert_int_equal(r.err.retry_after_ms, 1500);
    free(r.events);
    free(body);
}

static void test_decode_truncated(void **s) {
    (void)s;
    expect_events("openai", true, DATA "stream_truncated.sse", DATA "stream_truncated.events",
                  LLMUX_E_UPSTREAM_PROTOCOL);
}

static h_result decode_str(const char *provider, bool stream, const char *body) {
    lx_provider_config cfg = cfg_named(provider, "m");
    return h_decode(&lx_provider_openai, &cfg, stream, body, strlen(body), 0, 0);
}

static void test_decode_edge_cases(void **s) {
    (void)s;
    /* Empty body. */
    h_result r = decode_str("openai", true, "");
    assert_int_equal(r.status, LLMUX_E_UPSTREAM_PROTOCOL);
    assert_string_equal(r.events, "");
    free(r.events);
    /* Malformed JSON in a chunk. */
    r = decode_str("openai", true, "data: {\"choices\":[\n\n");
    assert_int_equal(r.status, LLMUX_E_UPSTREAM_PROTOCOL);
    assert_non_null(strstr(r.err.message, "invalid JSON"));
    free(r.events);
    /* [DONE] alone: a finished empty response. */
    r = decode_str("openai", true, "data: [DONE]\n\n");
    assert_int_equal(r.status, LLMUX_OK);
    assert_string_equal(r.events, "start - - \"openai\"\nfinish stop\n");
    free(r.events);
    /* Chunks after [DONE] are ignored. */
    r = decode_str("openai", true, "data: [DONE]\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n");
    assert_int_equal(r.status, LLMUX_OK);
    assert_null(strstr(r.events, "text_delta"));
    free(r.events);
    /* `event: error` (as the SDKs read it). */
    r = decode_str("openai", true, "event: error\ndata: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n");
    assert_int_equal(r.status, LLMUX_E_UPSTREAM_SERVER);
    assert_string_equal(r.err.provider_message, "boom");
    free(r.events);
    /* A 200 JSON body that is an error. */
    r = decode_str("openrouter", false, "{\"error\":{\"code\":502,\"message\":\"Provider returned error\"}}");
    assert_int_equal(r.status, LLMUX_E_OVERLOADED);
    free(r.events);
    /* A choice that ends with finish_reason "error" and no error object. */
    r = decode_str("openrouter", true, "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"error\"}]}\n\n");
    assert_int_equal(r.status, LLMUX_E_UPSTREAM_SERVER);
    free(r.events);
    /* finish_reason mapping. */
    r = decode_str("openai", true, "data: {\"choices\":[{\"delta\":{\"content\":\"x\"},\"finish_reason\":\"content_filter\"}]}\n\n");
    assert_int_equal(r.status, LLMUX_OK);
    assert_non_null(strstr(r.events, "finish content_filter\n"));
    free(r.events);
    r = decode_str("openai", false,
                   "{\"choices\":[{\"message\":{\"function_call\":{\"name\":\"f\",\"arguments\":\"{}\"}},\"finish_reason\":\"function_call\"}]}");
    assert_int_equal(r.status, LLMUX_OK);
    assert_string_equal(r.events, "start - - \"openai\"\ntool_call_start 0 \"call_0\" \"f\"\ntool_call_delta 0 \"{}\"\n"
                                  "tool_call_end 0\nfinish tool_calls\n");
    free(r.events);
    /* Refusal text: shown as text, the turn ends as content_filter. */
    r = decode_str("openai", true, "data: {\"choices\":[{\"delta\":{\"content\":null,\"refusal\":\"I can't.\"}}]}\n\n"
                                   "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
    assert_string_equal(r.events, "start - - \"openai\"\ntext_delta 0 \"I can't.\"\nfinish content_filter\n");
    free(r.events);
    /* Arguments fragment for a call never opened: opened with a generated id. */
    r = decode_str("openai", true, "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":3,\"function\":{\"arguments\":\"{}\"}}]}}]}\n\n"
                                   "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n");
    assert_string_equal(r.events, "start - - \"openai\"\ntool_call_start 0 \"call_0\" \"\"\ntool_call_delta 0 \"{}\"\n"
                                  "tool_call_end 0\nfinish tool_calls\n");
    free(r.events);
    /* Every call at index 0 with a new id (a known compatible-server bug): two calls. */
    r = decode_str("gemini-compat", true,
                   "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"a\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}}]}\n\n"
                   "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"b\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]}}]}\n\n"
                   "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
    assert_string_equal(r.events, "start - - \"gemini-compat\"\ntool_call_start 0 \"a\" \"f\"\ntool_call_delta 0 \"{}\"\n"
                                  "tool_call_end 0\ntool_call_start 1 \"b\" \"g\"\ntool_call_delta 1 \"{}\"\n"
                                  "tool_call_end 1\nfinish tool_calls\n");
    free(r.events);
    /* No choices in a whole response: protocol error. */
    r = decode_str("openai", false, "{\"id\":\"x\",\"choices\":[]}");
    assert_int_equal(r.status, LLMUX_E_UPSTREAM_PROTOCOL);
    free(r.events);
    /* Non-object JSON body. */
    r = decode_str("openai", false, "[1,2]");
    assert_int_equal(r.status, LLMUX_E_UPSTREAM_PROTOCOL);
    free(r.events);
}

static bool cancel_emit(void *ud, const llmux_event *ev) {
    (void)ev;
    int *n = ud;
    return ++*n < 2;
}

/* Azure OpenAI opens a stream with a prompt-filter chunk whose id and model are "" and whose
 * choices are []: START must carry the first non-empty id and model (the later chunks'), not "". */
static void test_decode_azure_empty_identity_preamble(void **s) {
    (void)s;
    static const char body[] =
        "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\","
        "\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{}}]}\n\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\"\",\"role\":\"assistant\"},\"finish_reason\":null,"
        "\"index\":0}],\"created\":1,\"id\":\"chatcmpl-az1\",\"model\":\"gpt-4o-2024-08-06\","
        "\"object\":\"chat.completion.chunk\"}\n\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null,\"index\":0}],"
        "\"id\":\"chatcmpl-az1\",\"model\":\"gpt-4o-2024-08-06\"}\n\n"
        "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\",\"index\":0}],"
        "\"id\":\"chatcmpl-az1\",\"model\":\"gpt-4o-2024-08-06\"}\n\n"
        "data: [DONE]\n\n";
    h_result r = decode_str("azure", true, body);
    assert_int_equal(r.status, LLMUX_OK);
    assert_string_equal(r.events, "start \"chatcmpl-az1\" \"gpt-4o-2024-08-06\" \"azure\"\ntext_delta 0 \"Hi\"\nfinish stop\n");
    free(r.events);
    /* Identifiers that never come: START still precedes the first content, without them. */
    r = decode_str("azure", true,
                   "data: {\"choices\":[],\"id\":\"\",\"model\":\"\"}\n\n"
                   "data: {\"choices\":[{\"delta\":{\"content\":\"x\"},\"index\":0}],\"id\":\"\"}\n\n"
                   "data: [DONE]\n\n");
    assert_int_equal(r.status, LLMUX_OK);
    assert_string_equal(r.events, "start - - \"azure\"\ntext_delta 0 \"x\"\nfinish stop\n");
    free(r.events);
}

static void test_decode_cancel(void **s) {
    (void)s;
    int n = 0;
    lx_provider_config cfg = cfg_named("openai", "m");
    lx_decoder *d = lx_provider_openai.decoder_create(&cfg, true, (lx_event_sink){cancel_emit, &n});
    const char *body = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\n\n";
    llmux_error_info err;
    assert_int_equal(lx_provider_openai.decoder_feed(d, body, strlen(body), &err), LLMUX_E_CANCELLED);
    assert_int_equal(n, 2);
    assert_int_equal(lx_provider_openai.decoder_feed(d, body, strlen(body), &err), LLMUX_E_CANCELLED);
    assert_int_equal(lx_provider_openai.decoder_end(d, &err), LLMUX_E_CANCELLED);
    assert_int_equal(n, 2);
    lx_provider_openai.decoder_destroy(d);
    lx_provider_openai.decoder_destroy(NULL);
}

/* ---------------------------------------------------------------- errors */

static void test_map_error(void **s) {
    (void)s;
    const err_case cases[] = {
        {400, "{\"error\":{\"message\":\"bad\",\"type\":\"invalid_request_error\",\"param\":\"x\",\"code\":null}}", NULL,
         LLMUX_E_INVALID_REQUEST, "invalid_request_error", -1},
        {400, "{\"error\":{\"message\":\"This model's maximum context length is 8192 tokens.\",\"type\":\"invalid_request_error\",\"code\":\"context_length_exceeded\"}}",
         NULL, LLMUX_E_CONTEXT_LENGTH, "context_length_exceeded", -1},
        {400, "{\"error\":{\"message\":\"This endpoint's maximum context length is 131072 tokens.\",\"code\":400}}", NULL,
         LLMUX_E_CONTEXT_LENGTH, "400", -1},
        {400, "{\"error\":{\"message\":\"Your request was rejected by our safety system.\",\"code\":\"content_policy_violation\"}}",
         NULL, LLMUX_E_CONTENT_FILTERED, "content_policy_violation", -1},
        {400, "{\"error\":{\"message\":\"flagged\",\"code\":\"content_filter\"}}", NULL, LLMUX_E_CONTENT_FILTERED,
         "content_filter", -1},
        {401, "{\"error\":{\"message\":\"Incorrect API key provided: sk-test12********wxyz.\",\"type\":\"invalid_request_error\",\"code\":\"invalid_api_key\"}}",
         NULL, LLMUX_E_AUTHENTICATION, "invalid_api_key", -1},
        {403, "{\"error\":{\"message\":\"Country not supported\",\"code\":\"unsupported_country_region_territory\"}}", NULL,
         LLMUX_E_PERMISSION, "unsupported_country_region_territory", -1},
        {404, "{\"error\":{\"message\":\"The model `x` does not exist\",\"code\":\"model_not_found\"}}", NULL,
         LLMUX_E_MODEL_NOT_FOUND, "model_not_found", -1},
        {400, "{\"error\":{\"message\":\"acme/fake is not a valid model ID\",\"error_type\":\"invalid_request\",\"http_status\":400,\"availability\":{\"code\":\"model_not_found\"}}}",
         NULL, LLMUX_E_MODEL_NOT_FOUND, "model_not_found", -1},
        {408, "{\"error\":{\"code\":408,\"message\":\"Operation timed out.\"}}", NULL, LLMUX_E_TIMEOUT, "408", -1},
        {413, "{\"error\":{\"code\":413,\"message\":\"Request payload too large\"}}", NULL, LLMUX_E_CONTEXT_LENGTH, "413", -1},
        {429, "{\"error\":{\"message\":\"Rate limit reached. Please try again in 644ms.\",\"type\":\"tokens\",\"code\":\"rate_limit_exceeded\"}}",
         "1", LLMUX_E_RATE_LIMITED, "rate_limit_exceeded", 1000},
        {429, "{\"error\":{\"message\":\"Rate limit reached. Please try again in 644ms.\",\"type\":\"tokens\",\"code\":\"rate_limit_exceeded\"}}",
         NULL, LLMUX_E_RATE_LIMITED, "rate_limit_exceeded", 644},
        {429, "{\"error\":{\"message\":\"slow down\",\"code\":\"rate_limit_exceeded\"}}", "6m0s", LLMUX_E_RATE_LIMITED,
         "rate_limit_exceeded", 360000},
        {429, "{\"error\":{\"message\":\"All providers are at capacity. Retry after 40 seconds.\",\"error_type\":\"rate_limit_exceeded\",\"http_status\":429,\"availability\":{\"code\":\"capacity_exhausted\",\"retry_after\":40}}}",
         NULL, LLMUX_E_RATE_LIMITED, "capacity_exhausted", 40000},
        {429, "{\"error\":{\"message\":\"You exceeded your current quota\",\"type\":\"insufficient_quota\",\"code\":\"insufficient_quota\"}}",
         "20", LLMUX_E_PERMISSION, "insufficient_quota", -1},
        {402, "{\"error\":{\"code\":402,\"message\":\"Insufficient credits.\"}}", NULL, LLMUX_E_PERMISSION, "402", -1},
        {500, "{\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\",\"code\":null}}", NULL,
         LLMUX_E_UPSTREAM_SERVER, "server_error", -1},
        {502, "{\"error\":{\"code\":502,\"message\":\"Provider returned error\"}}", NULL, LLMUX_E_OVERLOADED, "502", -1},
        {503, "{\"error\":{\"message\":\"The engine is currently overloaded\",\"type\":\"server_error\"}}", "2",
         LLMUX_E_OVERLOADED, "server_error", 2000},
        {504, "<html>Gateway Timeout</html>", NULL, LLMUX_E_TIMEOUT, "", -1},
        {524, "{\"error\":{\"code\":524,\"message\":\"Request timed out.\"}}", NULL, LLMUX_E_TIMEOUT, "524", -1},
        {529, "{\"error\":{\"code\":529,\"message\":\"Provider returned error\"}}", NULL, LLMUX_E_OVERLOADED, "529", -1},
        {422, "{\"detail\":\"Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096\"}", NULL,
         LLMUX_E_INVALID_REQUEST, "", -1},
        {400, "", NULL, LLMUX_E_INVALID_REQUEST, "", -1},
        {500, "not json at all", NULL, LLMUX_E_UPSTREAM_SERVER, "", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        llmux_error_info e;
        h_check_error_case(&lx_provider_openai, &cases[i], i, 0x55, &e);
        assert_true(strlen(e.message) > 0);
        assert_non_null(strstr(e.message, "HTTP"));
    }
    /* The masked key echoed by OpenAI is scrubbed further; a raw key never survives. */
    llmux_error_info e;
    const char *b = "{\"error\":{\"message\":\"Incorrect API key provided: sk-proj-abcdefSECRET123. Bearer abc.def\",\"code\":\"invalid_api_key\"}}";
    lx_provider_openai.map_error(401, b, strlen(b), NULL, &e);
    assert_null(strstr(e.provider_message, "SECRET"));
    assert_null(strstr(e.message, "SECRET"));
    assert_null(strstr(e.provider_message, "abc.def"));
    assert_non_null(strstr(e.provider_message, "Incorrect API key provided: sk-"));
    /* A long message is truncated, not overflowed. */
    lx_buf big;
    lx_buf_init(&big, 1 << 20);
    lx_buf_append_str(&big, "{\"error\":{\"message\":\"");
    for (int i = 0; i < 5000; i++) lx_buf_append_str(&big, "\xC3\xA9");
    lx_buf_append_str(&big, "\"}}");
    lx_provider_openai.map_error(400, big.data, big.len, NULL, &e);
    assert_int_equal(e.status, LLMUX_E_INVALID_REQUEST);
    assert_true(strlen(e.provider_message) < sizeof e.provider_message);
    assert_true(lx_utf8_valid(e.provider_message, strlen(e.provider_message)));
    lx_buf_free(&big);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_text),
        cmocka_unit_test(test_encode_tools_images_schema_stream),
        cmocka_unit_test(test_encode_history_openrouter),
        cmocka_unit_test(test_encode_cache_control_openrouter),
        cmocka_unit_test(test_encode_file),
        cmocka_unit_test(test_encode_prompt_cache_key),
        cmocka_unit_test(test_encode_chat_extras),
        cmocka_unit_test(test_encode_explicit_cache),
        cmocka_unit_test(test_encode_compat_without_key),
        cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_decode_text_usage),
        cmocka_unit_test(test_decode_parallel_tools_interleaved),
        cmocka_unit_test(test_decode_reasoning),
        cmocka_unit_test(test_decode_compat_tools_reported_as_stop),
        cmocka_unit_test(test_decode_nonstream),
        cmocka_unit_test(test_decode_midstream_error),
        cmocka_unit_test(test_decode_truncated),
        cmocka_unit_test(test_decode_edge_cases),
        cmocka_unit_test(test_decode_cancel),
        cmocka_unit_test(test_decode_azure_empty_identity_preamble),
        cmocka_unit_test(test_map_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
