/* Contract tests for the Gemini adapter: canonical request -> exact wire JSON (golden files),
 * wire responses (hand-written from the documented format) -> exact events, error mapping for
 * every class, and thought signatures surviving a round trip. */
#include "decode_harness.h"

#define DATA LLMUX_SOURCE_DIR "/tests/providers/data/gemini/"

static const lx_provider *P = &lx_provider_gemini;

typedef struct enc_out {
    lx_wire_request w;
    llmux_error_info err;
    llmux_status st;
} enc_out;

static void encode_req(const llmux_request *req, const char *model, enc_out *o) {
    lx_provider_config cfg = {.name = "gemini", .base_url = "https://generativelanguage.googleapis.com/v1beta",
                              .api_key = "AIzaTESTKEY0123456789", .model = model};
    memset(o, 0, sizeof *o);
    lx_buf_init(&o->w.body, 1u << 24);
    o->st = P->encode(&cfg, req, &o->w, &o->err);
}

static json_t *encode_json(const llmux_request *req) {
    enc_out o;
    encode_req(req, "gemini-2.5-flash", &o);
    if (o.st != LLMUX_OK) fail_msg("encode: %s", o.err.message);
    json_t *j = json_loadb(o.w.body.data, o.w.body.len, 0, NULL);
    assert_non_null(j);
    lx_buf_free(&o.w.body);
    return j;
}

/* ------------------------------------------------------------ encode */

/* Reasoning another provider signed in the OpenAI Responses form ("<item id>|<encrypted>") keeps
 * its text as a thought but not the signature, which Gemini would refuse; its own base64
 * signatures stay. */
static void test_encode_foreign_signature(void **state) {
    (void)state;
    const llmux_part q = {.type = LLMUX_PART_TEXT, .text = "Hi"};
    const llmux_part a[] = {{.type = LLMUX_PART_REASONING, .text = "hm", .signature = "rs_1|gAAAAenc"},
                            {.type = LLMUX_PART_REASONING, .signature = "rs_2|gAAAAenc"},
                            {.type = LLMUX_PART_TEXT, .text = "Hello"},
                            {.type = LLMUX_PART_REASONING, .text = "ok", .signature = "VGhvdWdodFNpZzE="}};
    const llmux_message msgs[] = {{.role = LLMUX_ROLE_USER, .parts = &q, .n_parts = 1},
                                  {.role = LLMUX_ROLE_ASSISTANT, .parts = a, .n_parts = 4},
                                  {.role = LLMUX_ROLE_USER, .parts = &q, .n_parts = 1}};
    llmux_request req = llmux_request_default();
    req.messages = msgs;
    req.n_messages = 3;
    json_t *j = encode_json(&req);
    char *text = json_dumps(j, JSON_COMPACT);
    assert_null(strstr(text, "gAAAAenc"));
    assert_non_null(strstr(text, "\"thoughtSignature\":\"VGhvdWdodFNpZzE=\""));
    assert_non_null(strstr(text, "{\"text\":\"hm\",\"thought\":true}"));
    free(text);
    json_decref(j);
}

/* Anthropic's own blocks (a server tool's call and result) are left out; an assistant turn made of
 * nothing else is left out whole (Gemini refuses a content without parts). */
static void test_encode_native_left_out(void **state) {
    (void)state;
    const llmux_part q = {.type = LLMUX_PART_TEXT, .text = "Hi"};
    const llmux_part a[] = {{.type = LLMUX_PART_NATIVE, .name = "anthropic", .text = "{\"type\":\"server_tool_use\"}"}};
    const llmux_part b[] = {{.type = LLMUX_PART_NATIVE, .name = "anthropic", .text = "{\"type\":\"web_search_tool_result\"}"},
                            {.type = LLMUX_PART_TEXT, .text = "Sunny."}};
    const llmux_message msgs[] = {{.role = LLMUX_ROLE_USER, .parts = &q, .n_parts = 1},
                                  {.role = LLMUX_ROLE_ASSISTANT, .parts = a, .n_parts = 1},
                                  {.role = LLMUX_ROLE_ASSISTANT, .parts = b, .n_parts = 2},
                                  {.role = LLMUX_ROLE_USER, .parts = &q, .n_parts = 1}};
    llmux_request req = llmux_request_default();
    req.messages = msgs;
    req.n_messages = 4;
    json_t *j = encode_json(&req);
    json_t *contents = json_object_get(j, "contents");
    assert_int_equal(json_array_size(contents), 3);
    json_t *model = json_array_get(contents, 1);
    assert_string_equal(json_string_value(json_object_get(model, "role")), "model");
    assert_int_equal(json_array_size(json_object_get(model, "parts")), 1);
    char *text = json_dumps(j, JSON_COMPACT);
    assert_null(strstr(text, "server_tool_use"));
    assert_null(strstr(text, "web_search_tool_result"));
    free(text);
    json_decref(j);
}

static void test_encode_basic(void **state) {
    (void)state;
    const llmux_part hello = {.type = LLMUX_PART_TEXT, .text = "Hello"};
    const llmux_message msg = {.role = LLMUX_ROLE_USER, .parts = &hello, .n_parts = 1};
    const char *stops[] = {"\n\n"};
    llmux_request req = llmux_request_default();
    req.system = "Be brief.";
    req.messages = &msg;
    req.n_messages = 1;
    req.stream = true;
    req.sampling.temperature = 0.2;
    req.sampling.top_p = 0.95;
    req.sampling.top_k = 32;
    req.sampling.max_tokens = 256;
    req.sampling.stop = stops;
    req.sampling.n_stop = 1;
    req.sampling.seed = 42;
    req.sampling.presence_penalty = 0.5;
    req.sampling.frequency_penalty = -0.5;
    req.sampling.repeat_penalty = 1.1; /* no Gemini equivalent: ignored */
    req.response_format = LLMUX_FORMAT_JSON_SCHEMA;
    req.schema = "{\"type\":\"object\",\"properties\":{\"answer\":{\"type\":\"string\"}},\"required\":[\"answer\"]}";
    enc_out o;
    encode_req(&req, "models/gemini-2.5-flash", &o);
    assert_int_equal(o.st, LLMUX_OK);
    h_expect_golden(&o.w.body, DATA "request_basic.json");
    assert_string_equal(o.w.method, "POST");
    assert_string_equal(o.w.path, "/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
    assert_true(o.w.stream);
    const lx_wire_header *h = h_header(&o.w, "x-goog-api-key");
    assert_non_null(h);
    assert_string_equal(h->value, "AIzaTESTKEY0123456789");
    assert_true(h->secret);
    assert_null(strstr(o.w.path, "AIza")); /* never as ?key= */
    assert_null(strstr(o.w.body.data, "AIza"));
    lx_buf_free(&o.w.body);

    req.stream = false;
    req.response_format = LLMUX_FORMAT_JSON_OBJECT;
    encode_req(&req, "gemini-2.5-flash", &o);
    assert_int_equal(o.st, LLMUX_OK);
    assert_string_equal(o.w.path, "/models/gemini-2.5-flash:generateContent");
    json_t *j = json_loadb(o.w.body.data, o.w.body.len, 0, NULL);
    json_t *gc = json_object_get(j, "generationConfig");
    assert_string_equal(json_string_value(json_object_get(gc, "responseMimeType")), "application/json");
    assert_null(json_object_get(gc, "responseJsonSchema"));
    json_decref(j);
    lx_buf_free(&o.w.body);
}

static void test_encode_full_conversation(void **state) {
    (void)state;
    const llmux_part sys = {.type = LLMUX_PART_TEXT, .text = "Answer in English."};
    const llmux_part user[] = {
        {.type = LLMUX_PART_TEXT, .text = "Weather in Paris and time in Berlin?"},
        {.type = LLMUX_PART_IMAGE, .data = "iVBORw0KGgo=", .mime_type = "image/png"},
        {.type = LLMUX_PART_IMAGE, .image_url = "https://example.com/cat.JPG?x=1"},
    };
    const llmux_part model[] = {
        {.type = LLMUX_PART_REASONING, .text = "Plan: call both.", .signature = "VGhvdWdodFNpZzE="},
        {.type = LLMUX_PART_REASONING, .signature = "Q2FsbFNpZzI="},
        {.type = LLMUX_PART_TOOL_CALL, .id = "call_0", .name = "get_weather", .arguments = "{\"city\":\"Paris\"}"},
        {.type = LLMUX_PART_TOOL_CALL, .id = "call_1", .name = "get_time"},
        {.type = LLMUX_PART_REASONING, .text = "opaque", .redacted = true}, /* another provider's: dropped */
        {.type = LLMUX_PART_REASONING, .signature = "RW5kU2ln"},
    };
    const llmux_part res_a = {.type = LLMUX_PART_TOOL_RESULT, .id = "call_0", .text = "18C"};
    const llmux_part res_b = {.type = LLMUX_PART_TOOL_RESULT, .id = "call_1", .name = "get_time", .text = "timeout",
                              .is_error = true};
    const llmux_part answer = {.type = LLMUX_PART_TEXT, .text = "It is 18C."};
    const llmux_part thanks = {.type = LLMUX_PART_TEXT, .text = "Thanks"};
    const llmux_message msgs[] = {
        {.role = LLMUX_ROLE_SYSTEM, .parts = &sys, .n_parts = 1},
        {.role = LLMUX_ROLE_USER, .parts = user, .n_parts = 3},
        {.role = LLMUX_ROLE_ASSISTANT, .parts = model, .n_parts = 6},
        {.role = LLMUX_ROLE_TOOL, .parts = &res_a, .n_parts = 1},
        {.role = LLMUX_ROLE_TOOL, .parts = &res_b, .n_parts = 1},
        {.role = LLMUX_ROLE_ASSISTANT, .parts = &answer, .n_parts = 1},
        {.role = LLMUX_ROLE_USER, .parts = &thanks, .n_parts = 1},
    };
    const llmux_tool tools[] = {
        {.name = "get_weather", .description = "Current weather",
         .parameters = "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}"},
        {.name = "get_time"},
    };
    llmux_request req = llmux_request_default();
    req.system = "You are terse.";
    req.messages = msgs;
    req.n_messages = 7;
    req.tools = tools;
    req.n_tools = 2;
    req.tool_choice = LLMUX_TOOL_CHOICE_TOOL;
    req.tool_choice_name = "get_weather";
    req.provider_options = "{\"gemini\":{\"thinkingConfig\":{\"thinkingBudget\":1024,\"includeThoughts\":true},"
                           "\"generationConfig\":{\"candidateCount\":1},"
                           "\"safetySettings\":[{\"category\":\"HARM_CATEGORY_HARASSMENT\",\"threshold\":\"BLOCK_NONE\"}]},"
                           "\"anthropic\":{\"ignored\":true}}";
    enc_out o;
    encode_req(&req, "gemini-2.5-pro", &o);
    if (o.st != LLMUX_OK) fail_msg("encode: %s", o.err.message);
    h_expect_golden(&o.w.body, DATA "request_full.json");
    lx_buf_free(&o.w.body);
}

static void test_encode_tool_choice(void **state) {
    (void)state;
    const llmux_part hi = {.type = LLMUX_PART_TEXT, .text = "Hi"};
    const llmux_message msg = {.role = LLMUX_ROLE_USER, .parts = &hi, .n_parts = 1};
    const llmux_tool tool = {.name = "lookup", .parameters = "{\"type\":\"object\"}"};
    llmux_request req = llmux_request_default();
    req.messages = &msg;
    req.n_messages = 1;
    json_t *j = encode_json(&req);
    assert_null(json_object_get(j, "generationConfig")); /* nothing set, nothing sent */
    assert_null(json_object_get(j, "toolConfig"));
    assert_null(json_object_get(j, "systemInstruction"));
    json_decref(j);
    req.tools = &tool;
    req.n_tools = 1;
    static const struct {
        llmux_tool_choice c;
        const char *mode;
    } cases[] = {{LLMUX_TOOL_CHOICE_NONE, "NONE"}, {LLMUX_TOOL_CHOICE_REQUIRED, "ANY"}};
    for (size_t i = 0; i < 2; i++) {
        req.tool_choice = cases[i].c;
        j = encode_json(&req);
        json_t *fcc = json_object_get(json_object_get(j, "toolConfig"), "functionCallingConfig");
        assert_string_equal(json_string_value(json_object_get(fcc, "mode")), cases[i].mode);
        assert_null(json_object_get(fcc, "allowedFunctionNames"));
        json_decref(j);
    }
}

/* A document is inline data with its MIME type, as an image is. */
static void test_encode_file(void **state) {
    (void)state;
    const llmux_part parts[] = {{.type = LLMUX_PART_FILE, .data = "JVBERi0=", .mime_type = "application/pdf"},
                                {.type = LLMUX_PART_TEXT, .text = "Summarize"}};
    const llmux_message msg = {.role = LLMUX_ROLE_USER, .parts = parts, .n_parts = 2};
    llmux_request req = llmux_request_default();
    req.messages = &msg;
    req.n_messages = 1;
    json_t *j = encode_json(&req);
    json_t *p0 = json_array_get(json_object_get(json_array_get(json_object_get(j, "contents"), 0), "parts"), 0);
    json_t *inl = json_object_get(p0, "inlineData");
    assert_string_equal(json_string_value(json_object_get(inl, "mimeType")), "application/pdf");
    assert_string_equal(json_string_value(json_object_get(inl, "data")), "JVBERi0=");
    json_decref(j);
}

static void expect_encode_error(const llmux_request *req, const char *model, llmux_status want, const char *needle) {
    enc_out o;
    encode_req(req, model, &o);
    assert_int_equal(o.st, want);
    if (!strstr(o.err.message, needle)) fail_msg("message \"%s\" lacks \"%s\"", o.err.message, needle);
    lx_buf_free(&o.w.body);
}

static void test_encode_errors(void **state) {
    (void)state;
    const llmux_part hi = {.type = LLMUX_PART_TEXT, .text = "Hi"};
    const llmux_message ok = {.role = LLMUX_ROLE_USER, .parts = &hi, .n_parts = 1};
    llmux_request req = llmux_request_default();
    req.messages = &ok;
    req.n_messages = 1;
    expect_encode_error(&req, "gemini-2.5-flash:streamGenerateContent?key=x", LLMUX_E_CONFIGURATION, "model");
    expect_encode_error(&req, "../etc", LLMUX_E_CONFIGURATION, "model");
    expect_encode_error(&req, NULL, LLMUX_E_CONFIGURATION, "model");

    /* A result for a call we cannot find, without a name: Gemini needs the name. */
    const llmux_part orphan = {.type = LLMUX_PART_TOOL_RESULT, .id = "call_9", .text = "x"};
    const llmux_message m2[] = {ok, {.role = LLMUX_ROLE_TOOL, .parts = &orphan, .n_parts = 1}};
    req.messages = m2;
    req.n_messages = 2;
    expect_encode_error(&req, "gemini-2.5-flash", LLMUX_E_INVALID_REQUEST, "messages[1].parts[0].name");

    const llmux_part bad_args = {.type = LLMUX_PART_TOOL_CALL, .id = "c", .name = "f", .arguments = "nope"};
    const llmux_message m3[] = {ok, {.role = LLMUX_ROLE_ASSISTANT, .parts = &bad_args, .n_parts = 1}};
    req.messages = m3;
    expect_encode_error(&req, "gemini-2.5-flash", LLMUX_E_INVALID_REQUEST, "messages[1].parts[0].arguments");

    req.messages = &ok;
    req.n_messages = 1;
    req.response_format = LLMUX_FORMAT_JSON_SCHEMA;
    req.schema = "[]";
    expect_encode_error(&req, "gemini-2.5-flash", LLMUX_E_INVALID_REQUEST, "schema: must be a JSON object");
    req.schema = NULL;
    expect_encode_error(&req, "gemini-2.5-flash", LLMUX_E_INVALID_REQUEST, "schema");
    req.response_format = LLMUX_FORMAT_TEXT;

    req.tool_choice = LLMUX_TOOL_CHOICE_TOOL;
    expect_encode_error(&req, "gemini-2.5-flash", LLMUX_E_INVALID_REQUEST, "tool_choice");
    req.tool_choice = LLMUX_TOOL_CHOICE_AUTO;

    req.provider_options = "{\"gemini\":{\"generationConfig\":5}}";
    expect_encode_error(&req, "gemini-2.5-flash", LLMUX_E_INVALID_REQUEST, "provider_options.gemini.generationConfig");
    req.provider_options = "[1]";
    expect_encode_error(&req, "gemini-2.5-flash", LLMUX_E_INVALID_REQUEST, "provider_options");
}

/* ------------------------------------------------------------ decode */

static void expect_decode(const char *file, bool stream, llmux_status want_st, const char *want_lines,
                          llmux_error_info *err) {
    h_rec r = {0};
    llmux_status st = h_decode_file(P, stream, file, &r, err);
    if (st != want_st) fail_msg("%s: %s (%s), want %s", file, llmux_status_name(st), err->message,
                                llmux_status_name(want_st));
    assert_string_equal(h_lines(&r), want_lines);
    assert_int_equal(r.agg_status, LLMUX_OK);
    h_rec_free(&r);
}

static void test_decode_text_usage_last_wins(void **state) {
    (void)state;
    llmux_error_info err;
    /* output = candidates + thoughts; input includes the cached tokens already. */
    expect_decode(DATA "stream_text.sse", true, LLMUX_OK,
                  "start id=resp-1 model=gemini-2.5-flash provider=gemini\n"
                  "text[0] Bonjour\n"
                  "text[0]  le monde\n"
                  "usage in=8 out=13 cached=4 write=-1 reasoning=10 total=21\n"
                  "finish stop\n",
                  &err);
}

static void test_decode_thoughts_and_parallel_calls(void **state) {
    (void)state;
    llmux_error_info err;
    expect_decode(DATA "stream_thinking_tools.sse", true, LLMUX_OK,
                  "start id=resp-2 model=gemini-2.5-pro provider=gemini\n"
                  "reasoning[0] Plan: call both.\n"
                  "reasoning[0]  Then answer. sig=VGhvdWdodFNpZzE=\n"
                  "reasoning[1]  sig=Q2FsbFNpZzI=\n"
                  "tool_start[2] id=call_0 name=get_weather\n"
                  "tool_delta[2] {\"city\":\"Paris\"}\n"
                  "tool_end[2]\n"
                  "tool_start[3] id=call_1 name=get_time\n"
                  "tool_delta[3] {\"tz\":\"CET\"}\n"
                  "tool_end[3]\n"
                  "usage in=40 out=42 cached=0 write=-1 reasoning=30 total=82\n"
                  "finish tool_calls\n",
                  &err);
}

static void test_decode_signed_text_is_not_merged(void **state) {
    (void)state;
    llmux_error_info err;
    expect_decode(DATA "stream_text_signature.sse", true, LLMUX_OK,
                  "start id=resp-3 model=gemini-3-pro-preview provider=gemini\n"
                  "text[0] Hi\n"
                  "reasoning[1]  sig=U2lnVGV4dA==\n"
                  "text[2]  there\n"
                  "text[3] !\n"
                  "finish length\n",
                  &err);
}

static void test_decode_stream_errors(void **state) {
    (void)state;
    llmux_error_info err;
    expect_decode(DATA "stream_truncated.sse", true, LLMUX_E_UPSTREAM_PROTOCOL,
                  "start id=resp-4 model=gemini-2.5-flash provider=gemini\ntext[0] Once upon\n", &err);
    assert_non_null(strstr(err.message, "finishReason"));

    expect_decode(DATA "stream_midstream_error.sse", true, LLMUX_E_OVERLOADED,
                  "start id=resp-5 model=gemini-2.5-flash provider=gemini\ntext[0] Partial\n", &err);
    assert_string_equal(err.provider_code, "UNAVAILABLE");
    assert_string_equal(err.provider_message, "The model is overloaded. Please try again later.");
    assert_int_equal(err.provider_status, 0);

    /* A bare JSON error after the events overrides the finishReason seen before it. */
    expect_decode(DATA "stream_raw_error.txt", true, LLMUX_E_RATE_LIMITED,
                  "start id=resp-6 model=gemini-2.5-flash provider=gemini\ntext[0] Partial\n", &err);
    assert_string_equal(err.provider_code, "RESOURCE_EXHAUSTED");
    assert_int_equal(err.retry_after_ms, 12000);
}

static void test_decode_non_streaming(void **state) {
    (void)state;
    llmux_error_info err;
    expect_decode(DATA "response_blocked.json", false, LLMUX_E_CONTENT_FILTERED,
                  "start id=- model=gemini-2.5-flash provider=gemini\n", &err);
    assert_string_equal(err.provider_code, "SAFETY");
    /* The array form of the non-SSE streaming mode; RECITATION is a content filter stop. */
    expect_decode(DATA "response_array.json", false, LLMUX_OK,
                  "start id=resp-7 model=gemini-2.0-flash provider=gemini\n"
                  "text[0] Safe\n"
                  "text[0]  start\n"
                  "usage in=3 out=2 cached=0 write=-1 reasoning=0 total=5\n"
                  "finish content_filter\n",
                  &err);
}

static void decode_string(bool stream, const char *body, llmux_status want, const char *needle) {
    h_rec r = {0};
    llmux_error_info err;
    llmux_status st = h_decode_rec(P, stream, body, strlen(body), 0, &r, &err);
    if (st != want) fail_msg("status %s (%s), want %s", llmux_status_name(st), err.message, llmux_status_name(want));
    if (needle && !strstr(err.message, needle)) fail_msg("message \"%s\" lacks \"%s\"", err.message, needle);
    h_rec_free(&r);
}

static void test_decode_malformed(void **state) {
    (void)state;
    decode_string(true, "data: {\"candidates\":5}\n\n", LLMUX_E_UPSTREAM_PROTOCOL, "candidates");
    decode_string(true, "data: [1]\n\n", LLMUX_E_UPSTREAM_PROTOCOL, "not an object");
    decode_string(true, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"args\":{}}}]}}]}\n\n",
                  LLMUX_E_UPSTREAM_PROTOCOL, "functionCall without a name");
    decode_string(true, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]},\"finishReason\":\"STOP\"}]}\n\ngarbage line\n",
                  LLMUX_OK, NULL); /* an unknown SSE field is ignored (WHATWG) */
    decode_string(true, "data: {\"candidates\":[{\"finishReason\":\"STOP\"}]}\n\n{\"not\": \"an error\"}",
                  LLMUX_E_UPSTREAM_PROTOCOL, "not SSE");
    decode_string(true, "data: {\"candidates\":[{\"finishReason\":\"STOP\"}]}\n\n{\"unterminated",
                  LLMUX_E_UPSTREAM_PROTOCOL, "not SSE");
    decode_string(true, "data: {\"cand", LLMUX_E_UPSTREAM_PROTOCOL, "invalid JSON");
    decode_string(true, "", LLMUX_E_UPSTREAM_PROTOCOL, "finishReason");
    decode_string(false, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}]}", LLMUX_E_UPSTREAM_PROTOCOL,
                  "finishReason");
    decode_string(false, "", LLMUX_E_UPSTREAM_PROTOCOL, "invalid JSON");
    decode_string(false, "{\"error\":{\"code\":500,\"message\":\"x\",\"status\":\"INTERNAL\"}}", LLMUX_E_UPSTREAM_SERVER,
                  NULL);
}

/* ------------------------------------------------------------ errors */

static void test_map_error_classes(void **state) {
    (void)state;
    static const err_case cases[] = {
        {400, "{\"error\":{\"code\":400,\"message\":\"Invalid JSON payload received.\",\"status\":\"INVALID_ARGUMENT\"}}", NULL,
         LLMUX_E_INVALID_REQUEST, "INVALID_ARGUMENT", -1},
        {400, "{\"error\":{\"code\":400,\"message\":\"API key not valid. Please pass a valid API key.\",\"status\":\"INVALID_ARGUMENT\","
              "\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"API_KEY_INVALID\",\"domain\":\"googleapis.com\"}]}}",
         NULL, LLMUX_E_AUTHENTICATION, "INVALID_ARGUMENT", -1},
        {400, "{\"error\":{\"code\":400,\"message\":\"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).\",\"status\":\"INVALID_ARGUMENT\"}}",
         NULL, LLMUX_E_CONTEXT_LENGTH, "INVALID_ARGUMENT", -1},
        {401, "{\"error\":{\"code\":401,\"message\":\"Request had invalid authentication credentials.\",\"status\":\"UNAUTHENTICATED\"}}",
         NULL, LLMUX_E_AUTHENTICATION, "UNAUTHENTICATED", -1},
        {403, "{\"error\":{\"code\":403,\"message\":\"Permission denied.\",\"status\":\"PERMISSION_DENIED\"}}", NULL,
         LLMUX_E_PERMISSION, "PERMISSION_DENIED", -1},
        {404, "{\"error\":{\"code\":404,\"message\":\"models/gemini-9 is not found\",\"status\":\"NOT_FOUND\"}}", NULL,
         LLMUX_E_MODEL_NOT_FOUND, "NOT_FOUND", -1},
        {429, "{\"error\":{\"code\":429,\"message\":\"Quota exceeded\",\"status\":\"RESOURCE_EXHAUSTED\",\"details\":["
              "{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"30s\"}]}}",
         NULL, LLMUX_E_RATE_LIMITED, "RESOURCE_EXHAUSTED", 30000},
        {429, "{\"error\":{\"code\":429,\"message\":\"Quota exceeded\",\"status\":\"RESOURCE_EXHAUSTED\"}}", "3",
         LLMUX_E_RATE_LIMITED, "RESOURCE_EXHAUSTED", 3000},
        {500, "{\"error\":{\"code\":500,\"message\":\"An internal error has occurred.\",\"status\":\"INTERNAL\"}}", NULL,
         LLMUX_E_UPSTREAM_SERVER, "INTERNAL", -1},
        {503, "{\"error\":{\"code\":503,\"message\":\"The model is overloaded.\",\"status\":\"UNAVAILABLE\"}}", NULL,
         LLMUX_E_OVERLOADED, "UNAVAILABLE", -1},
        {504, "{\"error\":{\"code\":504,\"message\":\"Deadline expired.\",\"status\":\"DEADLINE_EXCEEDED\"}}", NULL,
         LLMUX_E_TIMEOUT, "DEADLINE_EXCEEDED", -1},
        {429, "[{\"error\":{\"code\":429,\"message\":\"q\",\"status\":\"RESOURCE_EXHAUSTED\"}}]", NULL, LLMUX_E_RATE_LIMITED,
         "RESOURCE_EXHAUSTED", -1},
        {502, "<html>Bad Gateway</html>", NULL, LLMUX_E_OVERLOADED, "", -1},
        {400, "{\"error\":{\"code\":400,\"message\":\"odd\"}}", NULL, LLMUX_E_INVALID_REQUEST, "", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        llmux_error_info err;
        h_check_error_case(P, &cases[i], i, 0, &err);
    }
    /* A key echoed in the message is redacted. */
    const char *b = "{\"error\":{\"code\":400,\"message\":\"API key not valid: AIzaSyA-1234567890abcdefghij\",\"status\":\"INVALID_ARGUMENT\"}}";
    llmux_error_info err;
    P->map_error(400, b, strlen(b), NULL, &err);
    assert_int_equal(err.status, LLMUX_E_AUTHENTICATION);
    assert_null(strstr(err.provider_message, "1234567890abcdefghij"));
    assert_null(strstr(err.message, "1234567890abcdefghij"));
}

/* ------------------------------------------------------------ round trip */

/* Thought signatures go back on the parts they came on: a thought keeps its own, a signed
 * function call gets its signature back, and a signed text part stays a separate part. */
static void test_round_trip_signatures(void **state) {
    (void)state;
    const char *files[] = {DATA "stream_thinking_tools.sse", DATA "stream_text_signature.sse"};
    const char *want_parts[] = {
        "[{\"text\":\"Plan: call both. Then answer.\",\"thought\":true,\"thoughtSignature\":\"VGhvdWdodFNpZzE=\"},"
        "{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":\"Paris\"}},\"thoughtSignature\":\"Q2FsbFNpZzI=\"},"
        "{\"functionCall\":{\"name\":\"get_time\",\"args\":{\"tz\":\"CET\"}}}]",
        "[{\"text\":\"Hi\"},{\"text\":\" there\",\"thoughtSignature\":\"U2lnVGV4dA==\"},{\"text\":\"!\"}]",
    };
    for (int k = 0; k < 2; k++) {
        h_rec r = {0};
        llmux_error_info err;
        assert_int_equal(h_decode_file(P, true, files[k], &r, &err), LLMUX_OK);
        llmux_response *resp = llmux_aggregator_response(r.agg);
        assert_non_null(resp);
        llmux_part results[4];
        size_t n_results = 0;
        for (size_t i = 0; i < resp->n_parts; i++)
            if (resp->parts[i].type == LLMUX_PART_TOOL_CALL) /* results by id only: the name is looked up */
                results[n_results++] = (llmux_part){.type = LLMUX_PART_TOOL_RESULT, .id = resp->parts[i].id, .text = "ok"};
        const llmux_part q = {.type = LLMUX_PART_TEXT, .text = "q"};
        const llmux_message msgs[] = {
            {.role = LLMUX_ROLE_USER, .parts = &q, .n_parts = 1},
            {.role = LLMUX_ROLE_ASSISTANT, .parts = resp->parts, .n_parts = resp->n_parts},
            {.role = LLMUX_ROLE_TOOL, .parts = results, .n_parts = n_results},
        };
        llmux_request req = llmux_request_default();
        req.messages = msgs;
        req.n_messages = n_results ? 3 : 2;
        json_t *j = encode_json(&req);
        json_t *contents = json_object_get(j, "contents");
        json_t *parts = json_object_get(json_array_get(contents, 1), "parts");
        json_t *want = json_loads(want_parts[k], 0, NULL);
        assert_non_null(want);
        if (!json_equal(parts, want)) {
            char *g = json_dumps(parts, 0);
            print_message("got %s\n", g);
            free(g);
            fail_msg("round trip %d differs", k);
        }
        json_decref(want);
        if (n_results) {
            json_t *fr = json_object_get(json_array_get(json_object_get(json_array_get(contents, 2), "parts"), 1),
                                         "functionResponse");
            assert_string_equal(json_string_value(json_object_get(fr, "name")), "get_time");
        }
        json_decref(j);
        llmux_response_free(resp);
        h_rec_free(&r);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_basic),
        cmocka_unit_test(test_encode_native_left_out),
        cmocka_unit_test(test_encode_foreign_signature),
        cmocka_unit_test(test_encode_full_conversation),
        cmocka_unit_test(test_encode_tool_choice),
        cmocka_unit_test(test_encode_file),
        cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_decode_text_usage_last_wins),
        cmocka_unit_test(test_decode_thoughts_and_parallel_calls),
        cmocka_unit_test(test_decode_signed_text_is_not_merged),
        cmocka_unit_test(test_decode_stream_errors),
        cmocka_unit_test(test_decode_non_streaming),
        cmocka_unit_test(test_decode_malformed),
        cmocka_unit_test(test_map_error_classes),
        cmocka_unit_test(test_round_trip_signatures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
