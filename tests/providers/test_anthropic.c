/* Contract tests for the Anthropic Messages adapter: canonical request -> exact wire JSON
 * (golden files), wire responses (hand-written from the documented format) -> exact events,
 * error mapping for every class, and thinking signatures surviving a round trip. */
#include "decode_harness.h"

#define DATA LLMUX_SOURCE_DIR "/tests/providers/data/anthropic/"

static const lx_provider *P = &lx_provider_anthropic;

typedef struct enc_out {
    lx_wire_request w;
    llmux_error_info err;
    llmux_status st;
} enc_out;

static void encode_req(const llmux_request *req, const char *model, enc_out *o) {
    lx_provider_config cfg = {.name = "anthropic", .base_url = "https://api.anthropic.com/v1", .api_key = "sk-ant-test-key",
                              .model = model};
    memset(o, 0, sizeof *o);
    lx_buf_init(&o->w.body, 1u << 24);
    o->st = P->encode(&cfg, req, &o->w, &o->err);
}

/* ------------------------------------------------------------ encode */

static void test_encode_basic(void **state) {
    (void)state;
    const llmux_part hello = {.type = LLMUX_PART_TEXT, .text = "Hello"};
    const llmux_message msgs[] = {{.role = LLMUX_ROLE_USER, .parts = &hello, .n_parts = 1}};
    const char *stops[] = {"END", "STOP"};
    llmux_request req = llmux_request_default();
    req.system = "Be brief.";
    req.messages = msgs;
    req.n_messages = 1;
    req.stream = true;
    req.sampling.temperature = 0.7;
    req.sampling.top_p = 0.9;
    req.sampling.top_k = 40;
    req.sampling.max_tokens = 1024;
    req.sampling.stop = stops;
    req.sampling.n_stop = 2;
    req.sampling.seed = 7;     /* no Anthropic equivalent: ignored */
    req.sampling.min_p = 0.1;  /* idem */
    enc_out o;
    encode_req(&req, "claude-haiku-4-5", &o);
    assert_int_equal(o.st, LLMUX_OK);
    h_expect_golden(&o.w.body, DATA "request_basic.json");
    assert_string_equal(o.w.method, "POST");
    assert_string_equal(o.w.path, "/messages");
    assert_true(o.w.stream);
    const lx_wire_header *h = h_header(&o.w, "anthropic-version");
    assert_non_null(h);
    assert_string_equal(h->value, "2023-06-01");
    h = h_header(&o.w, "x-api-key");
    assert_non_null(h);
    assert_string_equal(h->value, "sk-ant-test-key");
    assert_true(h->secret);
    assert_false(h_header(&o.w, "content-type")->secret);
    /* The key travels only in its header. */
    assert_null(strstr(o.w.body.data, "sk-ant-test-key"));
    lx_buf_free(&o.w.body);
}

static void test_encode_full_conversation(void **state) {
    (void)state;
    const llmux_part sys = {.type = LLMUX_PART_TEXT, .text = "Answer in English."};
    const llmux_part user[] = {
        {.type = LLMUX_PART_TEXT, .text = "What's the weather in Paris and the time in Berlin?"},
        {.type = LLMUX_PART_IMAGE, .data = "iVBORw0KGgo=", .mime_type = "image/png"},
        {.type = LLMUX_PART_IMAGE, .image_url = "https://example.com/cat.jpg"},
        {.type = LLMUX_PART_IMAGE, .image_url = "data:image/jpeg;base64,/9j/4AAQ"},
    };
    const llmux_part asst[] = {
        {.type = LLMUX_PART_REASONING, .text = "The user wants two things.", .signature = "SIG_1"},
        {.type = LLMUX_PART_REASONING, .text = "REDACTED_DATA", .redacted = true},
        {.type = LLMUX_PART_REASONING, .text = "unsigned thoughts from another provider"},
        {.type = LLMUX_PART_TEXT, .text = "Checking."},
        {.type = LLMUX_PART_TOOL_CALL, .id = "toolu_A", .name = "get_weather", .arguments = "{\"city\": \"Paris\"}"},
        {.type = LLMUX_PART_TOOL_CALL, .id = "toolu_B", .name = "get_time", .arguments = ""},
    };
    const llmux_part res_a = {.type = LLMUX_PART_TOOL_RESULT, .id = "toolu_A", .text = "18C, sunny"};
    const llmux_part res_b = {.type = LLMUX_PART_TOOL_RESULT, .id = "toolu_B", .text = "timeout", .is_error = true};
    const llmux_part thanks = {.type = LLMUX_PART_TEXT, .text = "Thanks. Summarize."};
    const llmux_message msgs[] = {
        {.role = LLMUX_ROLE_SYSTEM, .parts = &sys, .n_parts = 1},
        {.role = LLMUX_ROLE_USER, .parts = user, .n_parts = 4},
        {.role = LLMUX_ROLE_ASSISTANT, .parts = asst, .n_parts = 6},
        {.role = LLMUX_ROLE_TOOL, .parts = &res_a, .n_parts = 1},
        {.role = LLMUX_ROLE_TOOL, .parts = &res_b, .n_parts = 1},
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
    req.n_messages = 6;
    req.tools = tools;
    req.n_tools = 2;
    req.sampling.temperature = 1.0;
    req.provider_options = "{\"anthropic\":{\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":2048},"
                           "\"metadata\":{\"user_id\":\"u-42\"}},\"openai\":{\"ignored\":1}}";
    enc_out o;
    encode_req(&req, "claude-sonnet-4-5", &o);
    assert_int_equal(o.st, LLMUX_OK);
    h_expect_golden(&o.w.body, DATA "request_full.json");
    assert_false(o.w.stream);
    assert_null(h_header(&o.w, "accept"));
    lx_buf_free(&o.w.body);
}

static json_t *encode_json(const llmux_request *req) {
    enc_out o;
    encode_req(req, "claude-sonnet-4-5", &o);
    assert_int_equal(o.st, LLMUX_OK);
    json_t *j = json_loadb(o.w.body.data, o.w.body.len, 0, NULL);
    assert_non_null(j);
    lx_buf_free(&o.w.body);
    return j;
}

/* Cache breakpoints become cache_control where Anthropic takes them: system blocks (a single
 * cached block stays an array), content blocks (the 1h lifetime with its ttl), tools; never on a
 * thinking block. */
static void test_encode_cache_control(void **state) {
    (void)state;
    const llmux_part sys[] = {{.type = LLMUX_PART_TEXT, .text = "Rules.", .cache = LLMUX_CACHE_1H}};
    const llmux_part user[] = {{.type = LLMUX_PART_TEXT, .text = "Long document", .cache = LLMUX_CACHE_1H},
                               {.type = LLMUX_PART_TEXT, .text = "Question"}};
    const llmux_part asst[] = {{.type = LLMUX_PART_REASONING, .text = "hm", .signature = "sig", .cache = LLMUX_CACHE_5M},
                               {.type = LLMUX_PART_TOOL_CALL, .id = "t1", .name = "lookup", .arguments = "{}"}};
    const llmux_part res = {.type = LLMUX_PART_TOOL_RESULT, .id = "t1", .text = "found", .cache = LLMUX_CACHE_5M};
    const llmux_message msgs[] = {{.role = LLMUX_ROLE_SYSTEM, .parts = sys, .n_parts = 1},
                                  {.role = LLMUX_ROLE_USER, .parts = user, .n_parts = 2},
                                  {.role = LLMUX_ROLE_ASSISTANT, .parts = asst, .n_parts = 2},
                                  {.role = LLMUX_ROLE_TOOL, .parts = &res, .n_parts = 1}};
    const llmux_tool tools[] = {{.name = "lookup"}, {.name = "other", .cache = LLMUX_CACHE_1H}};
    llmux_request req = llmux_request_default();
    req.messages = msgs;
    req.n_messages = 4;
    req.tools = tools;
    req.n_tools = 2;
    json_t *j = encode_json(&req);
    json_t *system = json_object_get(j, "system");
    assert_true(json_is_array(system));
    assert_int_equal(json_array_size(system), 1);
    json_t *cc = json_object_get(json_array_get(system, 0), "cache_control");
    assert_string_equal(json_string_value(json_object_get(cc, "type")), "ephemeral");
    assert_string_equal(json_string_value(json_object_get(cc, "ttl")), "1h");
    json_t *m = json_object_get(j, "messages");
    json_t *u = json_object_get(json_array_get(m, 0), "content");
    cc = json_object_get(json_array_get(u, 0), "cache_control");
    assert_string_equal(json_string_value(json_object_get(cc, "ttl")), "1h");
    assert_null(json_object_get(json_array_get(u, 1), "cache_control"));
    json_t *a = json_object_get(json_array_get(m, 1), "content");
    assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "type")), "thinking");
    assert_null(json_object_get(json_array_get(a, 0), "cache_control"));
    assert_null(json_object_get(json_array_get(a, 1), "cache_control"));
    json_t *t = json_object_get(json_array_get(m, 2), "content");
    assert_string_equal(json_string_value(json_object_get(json_array_get(t, 0), "type")), "tool_result");
    assert_non_null(json_object_get(json_array_get(t, 0), "cache_control"));
    json_t *ts = json_object_get(j, "tools");
    assert_null(json_object_get(json_array_get(ts, 0), "cache_control"));
    cc = json_object_get(json_array_get(ts, 1), "cache_control");
    assert_string_equal(json_string_value(json_object_get(cc, "ttl")), "1h");
    json_decref(j);
    /* Without breakpoints a lone system text stays a string. */
    const llmux_part plain = {.type = LLMUX_PART_TEXT, .text = "Rules."};
    const llmux_message m2[] = {{.role = LLMUX_ROLE_SYSTEM, .parts = &plain, .n_parts = 1},
                                {.role = LLMUX_ROLE_USER, .parts = user + 1, .n_parts = 1}};
    req = llmux_request_default();
    req.messages = m2;
    req.n_messages = 2;
    j = encode_json(&req);
    assert_string_equal(json_string_value(json_object_get(j, "system")), "Rules.");
    json_decref(j);
}

/* Whether block b carries a cache_control, and its ttl ("" for the default lifetime). */
static const char *ttl_of(const json_t *b) {
    const json_t *cc = json_object_get(b, "cache_control");
    if (!cc) return NULL;
    const char *t = json_string_value(json_object_get(cc, "ttl"));
    return t ? t : "";
}

/* Anthropic's limits on breakpoints hold whatever the request asks: past four, the first and the
 * last three are kept; a 1-hour breakpoint after a 5-minute one becomes a 5-minute one. */
static void test_encode_cache_control_fitted(void **state) {
    (void)state;
    llmux_part sys[] = {{.type = LLMUX_PART_TEXT, .text = "Rules.", .cache = LLMUX_CACHE_5M}};
    llmux_part u[6];
    llmux_message msgs[7] = {{.role = LLMUX_ROLE_SYSTEM, .parts = sys, .n_parts = 1}};
    for (int i = 0; i < 6; i++) {
        u[i] = (llmux_part){.type = LLMUX_PART_TEXT, .text = "turn", .cache = i == 4 ? LLMUX_CACHE_1H : LLMUX_CACHE_5M};
        msgs[1 + i] = (llmux_message){.role = i % 2 ? LLMUX_ROLE_ASSISTANT : LLMUX_ROLE_USER, .parts = &u[i], .n_parts = 1};
    }
    const llmux_tool tools[] = {{.name = "lookup", .cache = LLMUX_CACHE_1H}};
    llmux_request req = llmux_request_default();
    req.messages = msgs;
    req.n_messages = 7;
    req.tools = tools;
    req.n_tools = 1;
    json_t *j = encode_json(&req);
    /* Eight asked (the tool, the system block, six turns): the tool and the last three turns. */
    assert_string_equal(ttl_of(json_array_get(json_object_get(j, "tools"), 0)), "1h");
    assert_null(ttl_of(json_array_get(json_object_get(j, "system"), 0)));
    json_t *m = json_object_get(j, "messages");
    for (size_t i = 0; i < 3; i++) assert_null(ttl_of(json_array_get(json_object_get(json_array_get(m, i), "content"), 0)));
    assert_string_equal(ttl_of(json_array_get(json_object_get(json_array_get(m, 3), "content"), 0)), "");
    /* The 1-hour turn comes after a 5-minute one: made a 5-minute one. */
    assert_string_equal(ttl_of(json_array_get(json_object_get(json_array_get(m, 4), "content"), 0)), "");
    assert_string_equal(ttl_of(json_array_get(json_object_get(json_array_get(m, 5), "content"), 0)), "");
    json_decref(j);
    /* Four in the right order are left as they are. */
    req.messages = msgs + 3; /* a user turn first */
    req.n_messages = 3;
    u[2].cache = LLMUX_CACHE_1H;
    u[3].cache = LLMUX_CACHE_1H;
    j = encode_json(&req);
    m = json_object_get(j, "messages");
    assert_string_equal(ttl_of(json_array_get(json_object_get(j, "tools"), 0)), "1h");
    assert_string_equal(ttl_of(json_array_get(json_object_get(json_array_get(m, 0), "content"), 0)), "1h");
    assert_string_equal(ttl_of(json_array_get(json_object_get(json_array_get(m, 1), "content"), 0)), "1h");
    assert_string_equal(ttl_of(json_array_get(json_object_get(json_array_get(m, 2), "content"), 0)), "1h");
    json_decref(j);
}

/* Reasoning an OpenAI Responses model signed ("<item id>|<encrypted>", a conversation the client
 * moved from an OpenAI model) is left out: Anthropic would refuse the signature. */
/* The request body of a user / assistant (parts a) / user conversation; *content is the
 * assistant message's content blocks (borrowed from the returned body). */
static json_t *encode_assistant_turn(const llmux_part *a, size_t n, json_t **content) {
    const llmux_part q = {.type = LLMUX_PART_TEXT, .text = "Hi"};
    const llmux_message msgs[] = {{.role = LLMUX_ROLE_USER, .parts = &q, .n_parts = 1},
                                  {.role = LLMUX_ROLE_ASSISTANT, .parts = a, .n_parts = n},
                                  {.role = LLMUX_ROLE_USER, .parts = &q, .n_parts = 1}};
    llmux_request req = llmux_request_default();
    req.messages = msgs;
    req.n_messages = 3;
    json_t *j = encode_json(&req);
    *content = json_object_get(json_array_get(json_object_get(j, "messages"), 1), "content");
    return j;
}

static void test_encode_foreign_signature(void **state) {
    (void)state;
    const llmux_part a[] = {{.type = LLMUX_PART_REASONING, .text = "hm", .signature = "rs_1|gAAAAenc"},
                            {.type = LLMUX_PART_TEXT, .text = "Hello"}};
    json_t *content;
    json_t *j = encode_assistant_turn(a, 2, &content);
    assert_int_equal(json_array_size(content), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(content, 0), "type")), "text");
    json_decref(j);
}

/* An OpenAI-format client's end user (metadata user, or else safety_identifier) becomes
 * metadata.user_id; an Anthropic client's own metadata wins. */
static void test_encode_end_user(void **state) {
    (void)state;
    const llmux_part hello = {.type = LLMUX_PART_TEXT, .text = "Hi"};
    const llmux_message msg = {.role = LLMUX_ROLE_USER, .parts = &hello, .n_parts = 1};
    llmux_kv kv[] = {{.key = "safety_identifier", .value = "h-9"}, {.key = "user", .value = "u-1"}};
    llmux_request req = llmux_request_default();
    req.messages = &msg;
    req.n_messages = 1;
    req.metadata = kv;
    req.n_metadata = 2;
    json_t *j = encode_json(&req);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "metadata"), "user_id")), "u-1");
    json_decref(j);
    req.n_metadata = 1;
    j = encode_json(&req);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "metadata"), "user_id")), "h-9");
    json_decref(j);
    req.provider_options = "{\"anthropic\":{\"metadata\":{\"user_id\":\"from-client\"}}}";
    j = encode_json(&req);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "metadata"), "user_id")), "from-client");
    json_decref(j);
    req.provider_options = NULL;
    req.n_metadata = 0;
    j = encode_json(&req);
    assert_null(json_object_get(j, "metadata"));
    json_decref(j);
}

static void expect_encode_error(const llmux_request *req, const char *model, llmux_status want, const char *needle);

/* Beta features (provider_options.anthropic.betas, as the SDKs take them) go as the
 * anthropic-beta header, never in the body; a malformed list is refused. */
static void test_encode_betas(void **state) {
    (void)state;
    const llmux_part hello = {.type = LLMUX_PART_TEXT, .text = "Hi"};
    const llmux_message msg = {.role = LLMUX_ROLE_USER, .parts = &hello, .n_parts = 1};
    llmux_request req = llmux_request_default();
    req.messages = &msg;
    req.n_messages = 1;
    req.provider_options = "{\"anthropic\":{\"betas\":[\"interleaved-thinking-2025-05-14\",\"context-1m-2025-08-07\"]}}";
    enc_out o;
    encode_req(&req, "claude-sonnet-4-5", &o);
    assert_int_equal(o.st, LLMUX_OK);
    assert_string_equal(h_header(&o.w, "anthropic-beta")->value, "interleaved-thinking-2025-05-14,context-1m-2025-08-07");
    assert_null(strstr(o.w.body.data, "betas"));
    lx_buf_free(&o.w.body);
    req.provider_options = NULL;
    encode_req(&req, "claude-sonnet-4-5", &o);
    assert_null(h_header(&o.w, "anthropic-beta"));
    lx_buf_free(&o.w.body);
    const char *bad[] = {"{\"anthropic\":{\"betas\":\"x\"}}", "{\"anthropic\":{\"betas\":[\"a b\"]}}",
                         "{\"anthropic\":{\"betas\":[\"\"]}}", "{\"anthropic\":{\"betas\":[\"x\\r\\ny: z\"]}}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        req.provider_options = bad[i];
        expect_encode_error(&req, "claude-sonnet-4-5", LLMUX_E_INVALID_REQUEST, "betas");
    }
}

/* Documents: a PDF as a base64 or URL document block, plain text decoded into a text source;
 * another type is refused. */
static void test_encode_documents(void **state) {
    (void)state;
    const llmux_part parts[] = {
        {.type = LLMUX_PART_FILE, .data = "JVBERi0xLjQ=", .mime_type = "application/pdf", .name = "a.pdf"},
        {.type = LLMUX_PART_FILE, .image_url = "https://example.com/b.pdf"},
        {.type = LLMUX_PART_FILE, .data = "aGVsbG8gd29ybGQ=", .mime_type = "text/plain", .cache = LLMUX_CACHE_5M},
        {.type = LLMUX_PART_TEXT, .text = "Summarize."}};
    const llmux_message msg = {.role = LLMUX_ROLE_USER, .parts = parts, .n_parts = 4};
    llmux_request req = llmux_request_default();
    req.messages = &msg;
    req.n_messages = 1;
    json_t *j = encode_json(&req);
    json_t *c = json_object_get(json_array_get(json_object_get(j, "messages"), 0), "content");
    json_t *d0 = json_array_get(c, 0), *d1 = json_array_get(c, 1), *d2 = json_array_get(c, 2);
    assert_string_equal(json_string_value(json_object_get(d0, "type")), "document");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d0, "source"), "type")), "base64");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d0, "source"), "media_type")), "application/pdf");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d0, "source"), "data")), "JVBERi0xLjQ=");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d1, "source"), "url")), "https://example.com/b.pdf");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d2, "source"), "type")), "text");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d2, "source"), "data")), "hello world");
    assert_non_null(json_object_get(d2, "cache_control"));
    json_decref(j);
    const llmux_part bad = {.type = LLMUX_PART_FILE, .data = "AAAA", .mime_type = "application/zip"};
    const llmux_message m2 = {.role = LLMUX_ROLE_USER, .parts = &bad, .n_parts = 1};
    req.messages = &m2;
    expect_encode_error(&req, "claude-sonnet-4-5", LLMUX_E_INVALID_REQUEST, "application/pdf");
}

static void test_encode_tool_choice_and_defaults(void **state) {
    (void)state;
    const llmux_part hello = {.type = LLMUX_PART_TEXT, .text = "Hi"};
    const llmux_message msg = {.role = LLMUX_ROLE_USER, .parts = &hello, .n_parts = 1};
    const llmux_tool tool = {.name = "lookup"};
    llmux_request req = llmux_request_default();
    req.messages = &msg;
    req.n_messages = 1;
    /* max_tokens is required by the API: 4096 when unset. No system, no stream field. */
    json_t *j = encode_json(&req);
    assert_int_equal(json_integer_value(json_object_get(j, "max_tokens")), 4096);
    assert_null(json_object_get(j, "system"));
    assert_null(json_object_get(j, "stream"));
    assert_null(json_object_get(j, "tool_choice"));
    json_decref(j);

    req.tools = &tool;
    req.n_tools = 1;
    static const struct {
        llmux_tool_choice c;
        const char *type;
    } cases[] = {{LLMUX_TOOL_CHOICE_NONE, "none"}, {LLMUX_TOOL_CHOICE_REQUIRED, "any"}, {LLMUX_TOOL_CHOICE_TOOL, "tool"}};
    for (size_t i = 0; i < 3; i++) {
        req.tool_choice = cases[i].c;
        req.tool_choice_name = "lookup";
        j = encode_json(&req);
        json_t *tc = json_object_get(j, "tool_choice");
        assert_string_equal(json_string_value(json_object_get(tc, "type")), cases[i].type);
        if (cases[i].c == LLMUX_TOOL_CHOICE_TOOL)
            assert_string_equal(json_string_value(json_object_get(tc, "name")), "lookup");
        else
            assert_null(json_object_get(tc, "name"));
        json_decref(j);
    }
    /* An explicit max_tokens from provider_options wins over the default. */
    req.tool_choice = LLMUX_TOOL_CHOICE_AUTO;
    req.provider_options = "{\"anthropic\":{\"max_tokens\":99}}";
    j = encode_json(&req);
    assert_int_equal(json_integer_value(json_object_get(j, "max_tokens")), 99);
    json_decref(j);
}

/* response_format as the one forced tool whose input is the answer. */
static void test_encode_json_output(void **state) {
    (void)state;
    const llmux_part hello = {.type = LLMUX_PART_TEXT, .text = "Weather?"};
    const llmux_message msg = {.role = LLMUX_ROLE_USER, .parts = &hello, .n_parts = 1};
    llmux_request req = llmux_request_default();
    req.messages = &msg;
    req.n_messages = 1;
    req.response_format = LLMUX_FORMAT_JSON_SCHEMA;
    req.schema = "{\"type\":\"object\",\"properties\":{\"temp\":{\"type\":\"number\"}},\"required\":[\"temp\"]}";
    json_t *j = encode_json(&req);
    json_t *t = json_array_get(json_object_get(j, "tools"), 0);
    assert_int_equal(json_array_size(json_object_get(j, "tools")), 1);
    assert_string_equal(json_string_value(json_object_get(t, "name")), "llmux_json_response");
    assert_non_null(json_object_get(json_object_get(json_object_get(t, "input_schema"), "properties"), "temp"));
    json_t *tc = json_object_get(j, "tool_choice");
    assert_string_equal(json_string_value(json_object_get(tc, "type")), "tool");
    assert_string_equal(json_string_value(json_object_get(tc, "name")), "llmux_json_response");
    json_decref(j);
    req.response_format = LLMUX_FORMAT_JSON_OBJECT;
    req.reasoning_budget = 2048; /* thinking takes no forced tool: auto */
    j = encode_json(&req);
    t = json_array_get(json_object_get(j, "tools"), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "input_schema"), "type")), "object");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "tool_choice"), "type")), "auto");
    json_decref(j);
}

static void expect_encode_error(const llmux_request *req, const char *model, llmux_status want, const char *needle) {
    enc_out o;
    encode_req(req, model, &o);
    assert_int_equal(o.st, want);
    assert_int_equal(o.err.status, want);
    if (!strstr(o.err.message, needle)) fail_msg("message \"%s\" lacks \"%s\"", o.err.message, needle);
    lx_buf_free(&o.w.body);
}

static void test_encode_errors(void **state) {
    (void)state;
    const llmux_part hello = {.type = LLMUX_PART_TEXT, .text = "Hi"};
    const llmux_message ok_msg = {.role = LLMUX_ROLE_USER, .parts = &hello, .n_parts = 1};
    llmux_request req = llmux_request_default();
    req.messages = &ok_msg;
    req.n_messages = 1;

    /* JSON output is a forced tool call: not with the caller's own tools, and only for an object. */
    const llmux_tool tool = {.name = "lookup"};
    req.response_format = LLMUX_FORMAT_JSON_SCHEMA;
    req.schema = "{\"type\":\"object\"}";
    req.tools = &tool;
    req.n_tools = 1;
    expect_encode_error(&req, "claude-sonnet-4-5", LLMUX_E_INVALID_REQUEST, "response_format: json_schema together with tools");
    req.tools = NULL;
    req.n_tools = 0;
    req.schema = "{\"type\":\"array\"}";
    expect_encode_error(&req, "claude-sonnet-4-5", LLMUX_E_INVALID_REQUEST, "must be an object");
    req.response_format = LLMUX_FORMAT_TEXT;
    req.schema = NULL;

    expect_encode_error(&req, NULL, LLMUX_E_CONFIGURATION, "no model");

    req.tool_choice = LLMUX_TOOL_CHOICE_REQUIRED;
    expect_encode_error(&req, "m", LLMUX_E_INVALID_REQUEST, "tool_choice");
    req.tool_choice = LLMUX_TOOL_CHOICE_AUTO;

    const llmux_part bad_args = {.type = LLMUX_PART_TOOL_CALL, .id = "t1", .name = "f", .arguments = "{\"a\":"};
    const llmux_message m2[] = {ok_msg, {.role = LLMUX_ROLE_ASSISTANT, .parts = &bad_args, .n_parts = 1}};
    req.messages = m2;
    req.n_messages = 2;
    expect_encode_error(&req, "m", LLMUX_E_INVALID_REQUEST, "messages[1].parts[0].arguments");

    const llmux_part arr_args = {.type = LLMUX_PART_TOOL_CALL, .id = "t1", .name = "f", .arguments = "[1]"};
    const llmux_message m3[] = {ok_msg, {.role = LLMUX_ROLE_ASSISTANT, .parts = &arr_args, .n_parts = 1}};
    req.messages = m3;
    expect_encode_error(&req, "m", LLMUX_E_INVALID_REQUEST, "must be a JSON object");

    const llmux_part call = {.type = LLMUX_PART_TOOL_CALL, .id = "t1", .name = "f", .arguments = "{}"};
    const llmux_message m4 = {.role = LLMUX_ROLE_USER, .parts = &call, .n_parts = 1};
    req.messages = &m4;
    req.n_messages = 1;
    expect_encode_error(&req, "m", LLMUX_E_INVALID_REQUEST, "messages[0].parts[0]: this part type is not allowed");

    const llmux_part bad_utf8 = {.type = LLMUX_PART_TEXT, .text = "caf\xc3"};
    const llmux_message m5 = {.role = LLMUX_ROLE_USER, .parts = &bad_utf8, .n_parts = 1};
    req.messages = &m5;
    expect_encode_error(&req, "m", LLMUX_E_INVALID_REQUEST, "messages[0].parts[0]: not valid UTF-8");

    req.messages = &ok_msg;
    req.provider_options = "{\"anthropic\": 3}";
    expect_encode_error(&req, "m", LLMUX_E_INVALID_REQUEST, "provider_options.anthropic");
    req.provider_options = "{not json";
    expect_encode_error(&req, "m", LLMUX_E_INVALID_REQUEST, "provider_options");
}

/* ------------------------------------------------------------ decode */

static void expect_stream(const char *file, llmux_status want_st, const char *want_lines) {
    h_rec r = {0};
    llmux_error_info err;
    llmux_status st = h_decode_file(P, true, file, &r, &err);
    if (st != want_st) fail_msg("%s: status %s (%s), want %s", file, llmux_status_name(st), err.message,
                                llmux_status_name(want_st));
    assert_string_equal(h_lines(&r), want_lines);
    if (want_st == LLMUX_OK) assert_int_equal(r.agg_status, LLMUX_OK);
    h_rec_free(&r);
}

static void test_decode_text(void **state) {
    (void)state;
    expect_stream(DATA "stream_text.sse", LLMUX_OK,
                  "start id=msg_01T model=claude-sonnet-4-5 provider=anthropic\n"
                  "usage in=12 out=-1 cached=-1 write=-1 reasoning=-1 total=-1\n"
                  "text[0] Hello\n"
                  "text[0] , w\xc3\xb6rld \xe2\x9c\x93\n"
                  "usage in=12 out=6 cached=-1 write=-1 reasoning=-1 total=18\n"
                  "finish stop\n");
}

/* The forced tool's call comes back as the answer's text with a plain stop, streamed or whole. */
static void test_decode_json_output(void **state) {
    (void)state;
    expect_stream(DATA "stream_json_output.sse", LLMUX_OK,
                  "start id=msg_09J model=claude-sonnet-4-5 provider=anthropic\n"
                  "usage in=30 out=-1 cached=-1 write=-1 reasoning=-1 total=-1\n"
                  "text[0] {\"temp\":\n"
                  "text[0]  21.5}\n"
                  "usage in=30 out=12 cached=-1 write=-1 reasoning=-1 total=42\n"
                  "finish stop\n");
    h_rec r = {0};
    llmux_error_info err;
    assert_int_equal(h_decode_file(P, false, DATA "message_json_output.json", &r, &err), LLMUX_OK);
    assert_string_equal(h_lines(&r), "start id=msg_10J model=claude-sonnet-4-5 provider=anthropic\n"
                                     "text[0] {\"temp\":21.5}\n"
                                     "usage in=30 out=12 cached=-1 write=-1 reasoning=-1 total=42\n"
                                     "finish stop\n");
    h_rec_free(&r);
}

/* stop_reason stop_sequence: FINISH stop, naming the sequence. */
static void test_decode_stop_sequence(void **state) {
    (void)state;
    expect_stream(DATA "stream_stop_sequence.sse", LLMUX_OK,
                  "start id=msg_08S model=claude-sonnet-4-5 provider=anthropic\n"
                  "usage in=9 out=-1 cached=-1 write=-1 reasoning=-1 total=-1\n"
                  "text[0] 1, 2, 3\n"
                  "usage in=9 out=7 cached=-1 write=-1 reasoning=-1 total=16\n"
                  "finish stop stop=4\n");
}

static void test_decode_thinking_signature(void **state) {
    (void)state;
    expect_stream(DATA "stream_thinking.sse", LLMUX_OK,
                  "start id=msg_02K model=claude-sonnet-4-5 provider=anthropic\n"
                  "usage in=40 out=-1 cached=0 write=0 reasoning=-1 total=-1\n"
                  "reasoning[0] Let me think\n"
                  "reasoning[0]  more.\n"
                  "reasoning[0]  sig=EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxB+/dj==\n"
                  "text[1] 27 * 453 = 12231\n"
                  "usage in=40 out=91 cached=0 write=0 reasoning=-1 total=131\n"
                  "finish stop\n");
}

static void test_decode_redacted(void **state) {
    (void)state;
    expect_stream(DATA "stream_redacted.sse", LLMUX_OK,
                  "start id=msg_03R model=claude-3-7-sonnet-20250219 provider=anthropic\n"
                  "usage in=90 out=-1 cached=-1 write=-1 reasoning=-1 total=-1\n"
                  "reasoning[0] EmwKAhgBEgy3va3pzix/LafPsn4a redacted\n"
                  "reasoning[1] EpoBCkYIBRgCKkBx redacted\n"
                  "text[2] Done.\n"
                  "usage in=90 out=120 cached=-1 write=-1 reasoning=-1 total=210\n"
                  "finish stop\n");
}

static void test_decode_parallel_tools_and_cache_usage(void **state) {
    (void)state;
    /* input_tokens excludes cache reads and writes on the wire: 5 + 2000 + 300. */
    expect_stream(DATA "stream_parallel_tools.sse", LLMUX_OK,
                  "start id=msg_04P model=claude-sonnet-4-5 provider=anthropic\n"
                  "usage in=2305 out=-1 cached=2000 write=300 reasoning=-1 total=-1\n"
                  "text[0] Checking both.\n"
                  "tool_start[1] id=toolu_01A name=get_weather\n"
                  "tool_delta[1] {\"city\": \"Par\n"
                  "tool_delta[1] is\"}\n"
                  "tool_end[1]\n"
                  "tool_start[2] id=toolu_01B name=get_time\n"
                  "tool_delta[2] {\"tz\":\n"
                  "tool_delta[2]  \"CET\"}\n"
                  "tool_end[2]\n"
                  "tool_start[3] id=toolu_01C name=ping_server\n"
                  "tool_delta[3] {}\n"
                  "tool_end[3]\n"
                  "usage in=2305 out=80 cached=2000 write=300 reasoning=-1 total=2385\n"
                  "finish tool_calls\n");
}

static void test_decode_max_tokens_cuts_tool(void **state) {
    (void)state;
    expect_stream(DATA "stream_max_tokens_tool.sse", LLMUX_OK,
                  "start id=msg_07M model=claude-sonnet-4-5 provider=anthropic\n"
                  "usage in=30 out=-1 cached=-1 write=-1 reasoning=-1 total=-1\n"
                  "tool_start[0] id=toolu_07 name=write_file\n"
                  "tool_delta[0] {\"path\": \"a.txt\", \"text\": \"lo\n"
                  "tool_end[0]\n"
                  "usage in=30 out=16 cached=-1 write=-1 reasoning=-1 total=46\n"
                  "finish length\n");
}

static void test_decode_midstream_overloaded(void **state) {
    (void)state;
    h_rec r = {0};
    llmux_error_info err;
    assert_int_equal(h_decode_file(P, true, DATA "stream_overloaded.sse", &r, &err), LLMUX_E_OVERLOADED);
    assert_string_equal(h_lines(&r), "start id=msg_05O model=claude-sonnet-4-5 provider=anthropic\n"
                                       "usage in=12 out=-1 cached=-1 write=-1 reasoning=-1 total=-1\ntext[0] Hel\n");
    assert_int_equal(err.status, LLMUX_E_OVERLOADED);
    assert_int_equal(err.provider_status, 0);
    assert_string_equal(err.provider_code, "overloaded_error");
    assert_string_equal(err.provider_message, "Overloaded");
    assert_int_equal(err.retry_after_ms, -1);
    h_rec_free(&r);
}

static void test_decode_truncated(void **state) {
    (void)state;
    h_rec r = {0};
    llmux_error_info err;
    assert_int_equal(h_decode_file(P, true, DATA "stream_truncated.sse", &r, &err), LLMUX_E_UPSTREAM_PROTOCOL);
    assert_non_null(strstr(err.message, "message_stop"));
    assert_string_equal(h_lines(&r),
                        "start id=msg_06X model=claude-sonnet-4-5 provider=anthropic\n"
                        "usage in=12 out=-1 cached=-1 write=-1 reasoning=-1 total=-1\ntext[0] Once upon\n");
    h_rec_free(&r);
}

/* The cache writes split by lifetime (cache_creation): the hour-long ones are kept apart, for
 * their price. */
static void test_decode_cache_1h(void **state) {
    (void)state;
    h_rec r = {0};
    llmux_error_info err;
    assert_int_equal(h_decode_file(P, false, DATA "message_cache_1h.json", &r, &err), LLMUX_OK);
    llmux_response *resp = llmux_aggregator_response(r.agg);
    assert_non_null(resp);
    assert_int_equal(resp->usage.input_tokens, 2010);
    assert_int_equal(resp->usage.cache_write_tokens, 2000);
    assert_int_equal(resp->usage.cache_write_1h_tokens, 1500);
    llmux_response_free(resp);
    h_rec_free(&r);
}

static void test_decode_non_streaming(void **state) {
    (void)state;
    h_rec r = {0};
    llmux_error_info err;
    assert_int_equal(h_decode_file(P, false, DATA "message_full.json", &r, &err), LLMUX_OK);
    assert_string_equal(h_lines(&r), "start id=msg_08F model=claude-opus-4-1 provider=anthropic\n"
                                     "reasoning[0] Need the weather. sig=SIG_abc+/=\n"
                                     "reasoning[1] REDACTED_xyz redacted\n"
                                     "text[2] Let me check.\n"
                                     "tool_start[3] id=toolu_9 name=get_weather\n"
                                     "tool_delta[3] {\"city\":\"Paris\",\"days\":2}\n"
                                     "tool_end[3]\n"
                                     "tool_start[4] id=toolu_10 name=get_time\n"
                                     "tool_delta[4] {}\n"
                                     "tool_end[4]\n"
                                     "usage in=150 out=40 cached=50 write=0 reasoning=-1 total=190\n"
                                     "finish tool_calls\n");
    llmux_response *resp = llmux_aggregator_response(r.agg);
    assert_non_null(resp);
    assert_int_equal(resp->n_parts, 5);
    assert_int_equal(resp->finish_reason, LLMUX_FINISH_TOOL_CALLS);
    assert_string_equal(resp->parts[0].signature, "SIG_abc+/=");
    assert_true(resp->parts[1].redacted);
    assert_string_equal(resp->parts[3].arguments, "{\"city\":\"Paris\",\"days\":2}");
    llmux_response_free(resp);
    h_rec_free(&r);
}

/* Server tools: a server_tool_use (its streamed input put together) and a web_search_tool_result
 * come through whole as NATIVE parts between the text parts, streamed or not, so an Anthropic
 * client gets them back (and can send them back); citations are left out of the text. */
static void test_decode_server_tools(void **state) {
    (void)state;
    const char *native =
            "native[1] anthropic {\"type\":\"server_tool_use\",\"id\":\"srvtoolu_fk%d\",\"name\":\"web_search\","
            "\"input\":{\"query\":\"weather Paris today\"}}\n"
            "native[2] anthropic {\"type\":\"web_search_tool_result\",\"tool_use_id\":\"srvtoolu_fk%d\",\"content\":"
            "[{\"type\":\"web_search_result\",\"title\":\"Paris weather\",\"url\":\"https://weather.example/paris\","
            "\"encrypted_content\":\"EvwDCioIAhgCIiQ0ZmFr\",\"page_age\":\"2 hours ago\"}]}\n";
    char want[2048], mid[1024];
    snprintf(mid, sizeof mid, native, 1, 1);
    snprintf(want, sizeof want,
             "start id=msg_fkws model=claude-sonnet-4-5-20250929 provider=anthropic\n"
             "usage in=2679 out=-1 cached=0 write=0 reasoning=-1 total=-1\n"
             "text[0] Let me look that up.\n%s"
             "text[3] It is sunny in Paris.\n"
             "usage in=10682 out=510 cached=0 write=0 reasoning=-1 total=11192\n"
             "web_searches 1\n"
             "finish stop\n",
             mid);
    expect_stream("tests/data/fake/anthropic/stream_web_search.sse", LLMUX_OK, want);

    h_rec r = {0};
    llmux_error_info err;
    assert_int_equal(h_decode_file(P, false, "tests/data/fake/anthropic/response_web_search.json", &r, &err), LLMUX_OK);
    snprintf(mid, sizeof mid, native, 2, 2);
    snprintf(want, sizeof want,
             "start id=msg_fkws2 model=claude-sonnet-4-5-20250929 provider=anthropic\n"
             "text[0] Let me look that up.\n%s"
             "text[3] It is sunny in Paris.\n"
             "usage in=10682 out=510 cached=0 write=0 reasoning=-1 total=11192\n"
             "web_searches 1\n"
             "finish stop\n",
             mid);
    assert_string_equal(h_lines(&r), want);
    llmux_response *resp = llmux_aggregator_response(r.agg);
    assert_non_null(resp);
    assert_int_equal(resp->n_parts, 4);
    assert_int_equal(resp->parts[1].type, LLMUX_PART_NATIVE);
    assert_string_equal(resp->parts[1].name, "anthropic");
    assert_non_null(strstr(resp->parts[2].text, "web_search_tool_result"));
    assert_string_equal(llmux_response_text(resp), "Let me look that up.It is sunny in Paris.");
    llmux_response_free(resp);
    h_rec_free(&r);

    /* A long server-tool turn paused by the API: FINISH paused (the client sends it back to go on). */
    const char *paused = "{\"id\":\"m\",\"type\":\"message\",\"model\":\"c\",\"content\":[{\"type\":\"server_tool_use\","
                         "\"id\":\"s1\",\"name\":\"web_search\",\"input\":{\"query\":\"q\"}}],\"stop_reason\":\"pause_turn\","
                         "\"usage\":{\"input_tokens\":5,\"output_tokens\":2}}";
    memset(&r, 0, sizeof r);
    assert_int_equal(h_decode_rec(P, false, paused, strlen(paused), 0, &r, &err), LLMUX_OK);
    assert_non_null(strstr(h_lines(&r), "finish paused\n"));
    h_rec_free(&r);
    /* A streamed server tool input that is not a JSON object is the upstream's fault. */
    const char *bad = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\"}}\n\n"
                      "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"server_tool_use\",\"id\":\"s\",\"input\":{}}}\n\n"
                      "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"[1\"}}\n\n"
                      "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n";
    memset(&r, 0, sizeof r);
    assert_int_equal(h_decode_rec(P, true, bad, strlen(bad), 0, &r, &err), LLMUX_E_UPSTREAM_PROTOCOL);
    assert_non_null(strstr(err.message, "not a JSON object"));
    h_rec_free(&r);
}

/* NATIVE parts go back to Anthropic as they came (in either role); another format's are left out. */
static void test_encode_native_blocks(void **state) {
    (void)state;
    const llmux_part a[] = {
            {.type = LLMUX_PART_NATIVE, .name = "anthropic",
             .text = "{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_1\",\"name\":\"web_search\",\"input\":{\"query\":\"p\"}}"},
            {.type = LLMUX_PART_NATIVE, .name = "other", .text = "{\"type\":\"x\"}"},
            {.type = LLMUX_PART_TEXT, .text = "Sunny."}};
    json_t *content;
    json_t *j = encode_assistant_turn(a, 3, &content);
    assert_int_equal(json_array_size(content), 2);
    json_t *b = json_array_get(content, 0);
    assert_string_equal(json_string_value(json_object_get(b, "type")), "server_tool_use");
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "input"), "query")), "p");
    assert_string_equal(json_string_value(json_object_get(json_array_get(content, 1), "type")), "text");
    json_decref(j);
}

static void decode_string(bool stream, const char *body, llmux_status want, const char *needle) {
    h_rec r = {0};
    llmux_error_info err;
    llmux_status st = h_decode_rec(P, stream, body, strlen(body), 0, &r, &err);
    if (st != want) fail_msg("status %s (%s), want %s", llmux_status_name(st), err.message, llmux_status_name(want));
    if (needle && !strstr(err.message, needle)) fail_msg("message \"%s\" lacks \"%s\"", err.message, needle);
    h_rec_free(&r);
}

#define MSG_START "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\"}}\n\n"

static void test_decode_malformed(void **state) {
    (void)state;
    decode_string(true, MSG_START "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n",
                  LLMUX_E_UPSTREAM_PROTOCOL, "never started");
    decode_string(true, "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\"}}\n\n",
                  LLMUX_E_UPSTREAM_PROTOCOL, "message_start");
    decode_string(true, MSG_START "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\"}}\n\n"
                  "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\"}}\n\n",
                  LLMUX_E_UPSTREAM_PROTOCOL, "does not match");
    decode_string(true, MSG_START "data: {\"type\":\"content_block_start\",\"index\":-1,\"content_block\":{\"type\":\"text\"}}\n\n",
                  LLMUX_E_UPSTREAM_PROTOCOL, "index");
    decode_string(true, MSG_START "data: {\"type\":\"content_block_start\",\"index\":99999999,\"content_block\":{\"type\":\"text\"}}\n\n",
                  LLMUX_E_UPSTREAM_PROTOCOL, "index");
    decode_string(true, MSG_START "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"a\"}}\n\n",
                  LLMUX_E_UPSTREAM_PROTOCOL, "tool_use block without id or name");
    decode_string(true, MSG_START "data: {\"type\":\"message_sto", LLMUX_E_UPSTREAM_PROTOCOL, "invalid JSON");
    decode_string(true, "", LLMUX_E_UPSTREAM_PROTOCOL, "message_stop");
    decode_string(false, "<html>oops</html>", LLMUX_E_UPSTREAM_PROTOCOL, "invalid JSON");
    decode_string(false, "{\"type\":\"completion\"}", LLMUX_E_UPSTREAM_PROTOCOL, "not a message");
    decode_string(false, "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"boom\"}}",
                  LLMUX_E_UPSTREAM_SERVER, "boom");
    /* Unknown event and block types are skipped, and so are server-tool blocks' deltas. */
    decode_string(true, MSG_START "data: {\"type\":\"future_event\"}\n\n"
                  "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"server_tool_use\",\"id\":\"s\",\"name\":\"web_search\",\"input\":{}}}\n\n"
                  "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n"
                  "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
                  "data: {\"type\":\"message_stop\"}\n\n",
                  LLMUX_OK, NULL);
}

static void test_decode_cancel(void **state) {
    (void)state;
    size_t len = 0;
    char *data = h_read_file(DATA "stream_parallel_tools.sse", &len);
    assert_non_null(data);
    h_rec r = {0};
    r.stop_after = 3;
    llmux_error_info err;
    assert_int_equal(h_decode_rec(P, true, data, len, 0, &r, &err), LLMUX_E_CANCELLED);
    assert_int_equal(r.n_events, 3);
    h_rec_free(&r);
    free(data);
}

/* ------------------------------------------------------------ errors */

static void test_map_error_classes(void **state) {
    (void)state;
    static const err_case cases[] = {
        {400, "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"messages: roles must alternate\"}}",
         NULL, LLMUX_E_INVALID_REQUEST, "invalid_request_error", -1},
        {400, "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"prompt is too long: 210000 tokens > 200000 maximum\"}}",
         NULL, LLMUX_E_CONTEXT_LENGTH, "invalid_request_error", -1},
        {400, "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"input length and `max_tokens` exceed context limit: 199000 + 8192 > 200000\"}}",
         NULL, LLMUX_E_CONTEXT_LENGTH, "invalid_request_error", -1},
        {401, "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":\"invalid x-api-key\"}}", NULL,
         LLMUX_E_AUTHENTICATION, "authentication_error", -1},
        {403, "{\"type\":\"error\",\"error\":{\"type\":\"permission_error\",\"message\":\"no access\"}}", NULL,
         LLMUX_E_PERMISSION, "permission_error", -1},
        {404, "{\"type\":\"error\",\"error\":{\"type\":\"not_found_error\",\"message\":\"model: claude-x\"},\"request_id\":\"req_1\"}",
         NULL, LLMUX_E_MODEL_NOT_FOUND, "not_found_error", -1},
        {413, "{\"type\":\"error\",\"error\":{\"type\":\"request_too_large\",\"message\":\"Request exceeds the maximum allowed number of bytes.\"}}",
         NULL, LLMUX_E_CONTEXT_LENGTH, "request_too_large", -1},
        {429, "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"Number of request tokens has exceeded your per-minute rate limit\"}}",
         "17", LLMUX_E_RATE_LIMITED, "rate_limit_error", 17000},
        {500, "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"Internal server error\"}}", NULL,
         LLMUX_E_UPSTREAM_SERVER, "api_error", -1},
        {529, "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}", "2",
         LLMUX_E_OVERLOADED, "overloaded_error", 2000},
        {502, "<html><body>Bad Gateway</body></html>", NULL, LLMUX_E_OVERLOADED, "", -1},
        {504, "", NULL, LLMUX_E_TIMEOUT, "", -1},
        {418, "{\"type\":\"error\",\"error\":{\"type\":\"brand_new_error\",\"message\":\"?\"}}", NULL,
         LLMUX_E_INVALID_REQUEST, "brand_new_error", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        llmux_error_info err;
        h_check_error_case(P, &cases[i], i, 0, &err);
        assert_non_null(strstr(err.message, "anthropic"));
    }
    llmux_error_info err;
    const char *b = "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}";
    P->map_error(529, b, strlen(b), NULL, &err);
    assert_string_equal(err.provider_message, "Overloaded");
    /* A key echoed by the upstream never reaches the error. */
    b = "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":\"bad key sk-ant-api03-SECRETSECRET\"}}";
    P->map_error(401, b, strlen(b), NULL, &err);
    assert_null(strstr(err.provider_message, "SECRETSECRET"));
    assert_null(strstr(err.message, "SECRETSECRET"));
}

/* ------------------------------------------------------------ round trip */

/* A response's thinking (with its signature), redacted thinking and tool call go back in the
 * next request exactly as the API sent them. */
static void test_round_trip_signatures(void **state) {
    (void)state;
    const char *streams[] = {DATA "stream_thinking.sse", DATA "message_full.json"};
    for (int k = 0; k < 2; k++) {
        h_rec r = {0};
        llmux_error_info err;
        assert_int_equal(h_decode_file(P, k == 0, streams[k], &r, &err), LLMUX_OK);
        llmux_response *resp = llmux_aggregator_response(r.agg);
        assert_non_null(resp);
        const llmux_part q = {.type = LLMUX_PART_TEXT, .text = "What is 27 * 453?"};
        llmux_part results[8];
        size_t n_results = 0;
        for (size_t i = 0; i < resp->n_parts; i++)
            if (resp->parts[i].type == LLMUX_PART_TOOL_CALL)
                results[n_results++] = (llmux_part){.type = LLMUX_PART_TOOL_RESULT, .id = resp->parts[i].id, .text = "ok"};
        const llmux_message msgs[] = {
            {.role = LLMUX_ROLE_USER, .parts = &q, .n_parts = 1},
            {.role = LLMUX_ROLE_ASSISTANT, .parts = resp->parts, .n_parts = resp->n_parts},
            {.role = LLMUX_ROLE_TOOL, .parts = results, .n_parts = n_results},
        };
        llmux_request req = llmux_request_default();
        req.messages = msgs;
        req.n_messages = n_results ? 3 : 2;
        json_t *j = encode_json(&req);
        json_t *content = json_object_get(json_array_get(json_object_get(j, "messages"), 1), "content");
        if (k == 0) {
            json_t *want = json_loads("[{\"type\":\"thinking\",\"thinking\":\"Let me think more.\","
                                      "\"signature\":\"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxB+/dj==\"},"
                                      "{\"type\":\"text\",\"text\":\"27 * 453 = 12231\"}]",
                                      0, NULL);
            assert_true(json_equal(content, want));
            json_decref(want);
        } else {
            json_t *want = json_loads(
                "[{\"type\":\"thinking\",\"thinking\":\"Need the weather.\",\"signature\":\"SIG_abc+/=\"},"
                "{\"type\":\"redacted_thinking\",\"data\":\"REDACTED_xyz\"},{\"type\":\"text\",\"text\":\"Let me check.\"},"
                "{\"type\":\"tool_use\",\"id\":\"toolu_9\",\"name\":\"get_weather\",\"input\":{\"city\":\"Paris\",\"days\":2}},"
                "{\"type\":\"tool_use\",\"id\":\"toolu_10\",\"name\":\"get_time\",\"input\":{}}]",
                0, NULL);
            assert_true(json_equal(content, want));
            json_decref(want);
            json_t *tr = json_object_get(json_array_get(json_object_get(j, "messages"), 2), "content");
            assert_int_equal(json_array_size(tr), 2);
            assert_string_equal(json_string_value(json_object_get(json_array_get(tr, 1), "tool_use_id")), "toolu_10");
        }
        json_decref(j);
        llmux_response_free(resp);
        h_rec_free(&r);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_basic),
        cmocka_unit_test(test_encode_full_conversation),
        cmocka_unit_test(test_encode_tool_choice_and_defaults),
        cmocka_unit_test(test_encode_cache_control),
        cmocka_unit_test(test_encode_cache_control_fitted),
        cmocka_unit_test(test_encode_end_user),
        cmocka_unit_test(test_encode_foreign_signature),
        cmocka_unit_test(test_encode_betas),
        cmocka_unit_test(test_encode_documents),
        cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_decode_text),
        cmocka_unit_test(test_decode_stop_sequence),
        cmocka_unit_test(test_encode_json_output),
        cmocka_unit_test(test_decode_json_output),
        cmocka_unit_test(test_decode_thinking_signature),
        cmocka_unit_test(test_decode_redacted),
        cmocka_unit_test(test_decode_parallel_tools_and_cache_usage),
        cmocka_unit_test(test_decode_max_tokens_cuts_tool),
        cmocka_unit_test(test_decode_midstream_overloaded),
        cmocka_unit_test(test_decode_truncated),
        cmocka_unit_test(test_decode_non_streaming),
        cmocka_unit_test(test_decode_server_tools),
        cmocka_unit_test(test_encode_native_blocks),
        cmocka_unit_test(test_decode_cache_1h),
        cmocka_unit_test(test_decode_malformed),
        cmocka_unit_test(test_decode_cancel),
        cmocka_unit_test(test_map_error_classes),
        cmocka_unit_test(test_round_trip_signatures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
