/* Canonical request JSON: exact encoding, byte-stable round trips and strict decoding errors. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llmux.h"

/* ------------------------------------------------------------- fixtures */

static const llmux_part k_user_parts[] = {
    {.type = LLMUX_PART_TEXT, .text = "What is in this image?"},
    {.type = LLMUX_PART_IMAGE, .image_url = "https://example.com/cat.png"},
};
static const llmux_part k_system_parts[] = {{.type = LLMUX_PART_TEXT, .text = "Be brief."}};
static const llmux_part k_assistant_parts[] = {
    {.type = LLMUX_PART_REASONING, .text = "think", .signature = "sig=="},
    {.type = LLMUX_PART_REASONING, .text = "opaque", .redacted = true},
    {.type = LLMUX_PART_TOOL_CALL, .id = "call_1", .name = "get_weather", .arguments = "{\"city\":\"Paris\"}"},
};
static const llmux_part k_tool_parts[] = {
    {.type = LLMUX_PART_TOOL_RESULT, .id = "call_1", .name = "get_weather", .text = "18C", .is_error = true},
};
static const llmux_part k_image_parts[] = {
    {.type = LLMUX_PART_IMAGE, .data = "iVBORw0KGgo=", .mime_type = "image/png"},
};
static const llmux_message k_messages[] = {
    {.role = LLMUX_ROLE_SYSTEM, .parts = k_system_parts, .n_parts = 1},
    {.role = LLMUX_ROLE_USER, .parts = k_user_parts, .n_parts = 2, .name = "alice"},
    {.role = LLMUX_ROLE_ASSISTANT, .parts = k_assistant_parts, .n_parts = 3},
    {.role = LLMUX_ROLE_TOOL, .parts = k_tool_parts, .n_parts = 1},
    {.role = LLMUX_ROLE_USER, .parts = k_image_parts, .n_parts = 1},
};
/* Written with spaces on purpose: the canonical form is compact, in the same key order. */
static const llmux_tool k_tools[] = {
    {.name = "get_weather",
     .description = "Current weather",
     .parameters = "{ \"type\": \"object\", \"properties\": { \"city\": { \"type\": \"string\" } }, "
                   "\"required\": [\"city\"], \"x-weight\": 0.1 }"},
    {.name = "noop"},
};
static const char *const k_stop[] = {"\n\n", "END"};
static const llmux_kv k_metadata[] = {{"user", "u1"}, {"trace", "t"}};

static llmux_request full_request(void) {
    llmux_request r = llmux_request_default();
    r.model = "openai/gpt-4o-mini";
    r.system = "You are terse.";
    r.messages = k_messages;
    r.n_messages = 5;
    r.tools = k_tools;
    r.n_tools = 2;
    r.tool_choice = LLMUX_TOOL_CHOICE_TOOL;
    r.tool_choice_name = "get_weather";
    r.response_format = LLMUX_FORMAT_JSON_SCHEMA;
    r.schema_name = "weather";
    r.schema = "{\"type\":\"object\"}";
    r.schema_strict = true;
    r.sampling.temperature = 0.7;
    r.sampling.top_p = 0.9;
    r.sampling.top_k = 40;
    r.sampling.min_p = 0.05;
    r.sampling.max_tokens = 256;
    r.sampling.stop = k_stop;
    r.sampling.n_stop = 2;
    r.sampling.seed = 42;
    r.sampling.presence_penalty = 0.5;
    r.sampling.frequency_penalty = -0.5;
    r.sampling.repeat_penalty = 1.1;
    r.stream = true;
    r.priority = 5;
    r.deadline_ms = 30000;
    r.metadata = k_metadata;
    r.n_metadata = 2;
    r.provider_options = "{\"openai\": {\"store\": false}}";
    r.reasoning_effort = LLMUX_REASONING_LOW;
    r.reasoning_budget = 3000;
    r.single_tool_call = true;
    return r;
}

static const char k_full_json[] =
    "{\"model\":\"openai/gpt-4o-mini\",\"system\":\"You are terse.\",\"messages\":["
    "{\"role\":\"system\",\"content\":\"Be brief.\"},"
    "{\"role\":\"user\",\"name\":\"alice\",\"content\":[{\"type\":\"text\",\"text\":\"What is in this image?\"},"
    "{\"type\":\"image\",\"url\":\"https://example.com/cat.png\"}]},"
    "{\"role\":\"assistant\",\"content\":[{\"type\":\"reasoning\",\"text\":\"think\",\"signature\":\"sig==\"},"
    "{\"type\":\"reasoning\",\"text\":\"opaque\",\"redacted\":true},"
    "{\"type\":\"tool_call\",\"id\":\"call_1\",\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}]},"
    "{\"role\":\"tool\",\"content\":[{\"type\":\"tool_result\",\"id\":\"call_1\",\"name\":\"get_weather\","
    "\"content\":\"18C\",\"is_error\":true}]},"
    "{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"data\":\"iVBORw0KGgo=\",\"mime_type\":\"image/png\"}]}],"
    "\"tools\":[{\"name\":\"get_weather\",\"description\":\"Current weather\",\"parameters\":{\"type\":\"object\","
    "\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"],\"x-weight\":0.1}},{\"name\":\"noop\"}],"
    "\"tool_choice\":{\"type\":\"tool\",\"name\":\"get_weather\"},"
    "\"response_format\":{\"type\":\"json_schema\",\"name\":\"weather\",\"schema\":{\"type\":\"object\"},"
    "\"strict\":true},"
    "\"temperature\":0.7,\"top_p\":0.9,\"top_k\":40,\"min_p\":0.05,\"max_tokens\":256,\"stop\":[\"\\n\\n\",\"END\"],"
    "\"seed\":42,\"presence_penalty\":0.5,\"frequency_penalty\":-0.5,\"repeat_penalty\":1.1,"
    "\"stream\":true,\"priority\":5,\"deadline_ms\":30000,"
    "\"reasoning_effort\":\"low\",\"reasoning_budget\":3000,\"single_tool_call\":true,"
    "\"metadata\":{\"user\":\"u1\",\"trace\":\"t\"},"
    "\"provider_options\":{\"openai\":{\"store\":false}}}";

/* ------------------------------------------------------------- helpers */

static bool str_eq(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

static void assert_str_eq(const char *a, const char *b) {
    if (!str_eq(a, b)) fail_msg("\"%s\" != \"%s\"", a ? a : "(null)", b ? b : "(null)");
}

static void assert_part_eq(const llmux_part *a, const llmux_part *b) {
    assert_int_equal(a->type, b->type);
    assert_str_eq(a->text, b->text);
    assert_str_eq(a->image_url, b->image_url);
    assert_str_eq(a->data, b->data);
    assert_str_eq(a->mime_type, b->mime_type);
    assert_str_eq(a->id, b->id);
    assert_str_eq(a->name, b->name);
    assert_str_eq(a->arguments, b->arguments);
    assert_str_eq(a->signature, b->signature);
    assert_int_equal(a->is_error, b->is_error);
    assert_int_equal(a->redacted, b->redacted);
}

static void assert_double_same(double a, double b) {
    if (isnan(a) && isnan(b)) return;
    if (a != b) fail_msg("%.17g != %.17g", a, b);
}

static llmux_request *decode_ok(const char *json) {
    llmux_request *req = NULL;
    llmux_error_info err;
    llmux_status st = llmux_request_from_json(json, strlen(json), &req, &err);
    if (st != LLMUX_OK) fail_msg("decode failed: %s (input %s)", err.message, json);
    assert_non_null(req);
    return req;
}

/* Decodes, re-encodes and checks the canonical text. */
static void assert_canonical(const char *in, const char *expected) {
    llmux_request *req = decode_ok(in);
    char *out = llmux_request_to_json(req);
    assert_non_null(out);
    assert_string_equal(out, expected);
    llmux_free(out);
    llmux_request_free(req);
}

/* ------------------------------------------------------------- tests */

static void test_exact_encoding(void **state) {
    (void)state;
    llmux_request r = full_request();
    char *json = llmux_request_to_json(&r);
    assert_non_null(json);
    assert_string_equal(json, k_full_json);
    llmux_free(json);
}

static void test_round_trip_full(void **state) {
    (void)state;
    llmux_request orig = full_request();
    char *j1 = llmux_request_to_json(&orig);
    assert_non_null(j1);
    llmux_request *dec = decode_ok(j1);
    char *j2 = llmux_request_to_json(dec);
    assert_non_null(j2);
    assert_string_equal(j1, j2);

    /* Field by field: every part type, every sampling field. */
    assert_str_eq(dec->model, orig.model);
    assert_str_eq(dec->system, orig.system);
    assert_int_equal(dec->n_messages, orig.n_messages);
    for (size_t i = 0; i < orig.n_messages; i++) {
        assert_int_equal(dec->messages[i].role, orig.messages[i].role);
        assert_str_eq(dec->messages[i].name, orig.messages[i].name);
        assert_int_equal(dec->messages[i].n_parts, orig.messages[i].n_parts);
        for (size_t k = 0; k < orig.messages[i].n_parts; k++)
            assert_part_eq(&dec->messages[i].parts[k], &orig.messages[i].parts[k]);
    }
    assert_int_equal(dec->n_tools, 2);
    assert_string_equal(dec->tools[0].name, "get_weather");
    assert_string_equal(dec->tools[0].description, "Current weather");
    assert_string_equal(dec->tools[0].parameters,
                        "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"],"
                        "\"x-weight\":0.1}");
    assert_null(dec->tools[1].description);
    assert_null(dec->tools[1].parameters);
    assert_int_equal(dec->tool_choice, LLMUX_TOOL_CHOICE_TOOL);
    assert_string_equal(dec->tool_choice_name, "get_weather");
    assert_int_equal(dec->response_format, LLMUX_FORMAT_JSON_SCHEMA);
    assert_string_equal(dec->schema_name, "weather");
    assert_string_equal(dec->schema, "{\"type\":\"object\"}");
    assert_true(dec->schema_strict);
    const llmux_sampling *s = &dec->sampling;
    assert_double_same(s->temperature, 0.7);
    assert_double_same(s->top_p, 0.9);
    assert_int_equal(s->top_k, 40);
    assert_double_same(s->min_p, 0.05);
    assert_int_equal(s->max_tokens, 256);
    assert_int_equal(s->n_stop, 2);
    assert_string_equal(s->stop[0], "\n\n");
    assert_string_equal(s->stop[1], "END");
    assert_int_equal(s->seed, 42);
    assert_double_same(s->presence_penalty, 0.5);
    assert_double_same(s->frequency_penalty, -0.5);
    assert_double_same(s->repeat_penalty, 1.1);
    assert_true(dec->stream);
    assert_int_equal(dec->priority, 5);
    assert_int_equal(dec->deadline_ms, 30000);
    assert_int_equal(dec->reasoning_effort, LLMUX_REASONING_LOW);
    assert_int_equal(dec->reasoning_budget, 3000);
    assert_true(dec->single_tool_call);
    assert_int_equal(dec->n_metadata, 2);
    assert_string_equal(dec->metadata[0].key, "user");
    assert_string_equal(dec->metadata[0].value, "u1");
    assert_string_equal(dec->metadata[1].key, "trace");
    assert_string_equal(dec->metadata[1].value, "t");
    assert_string_equal(dec->provider_options, "{\"openai\":{\"store\":false}}");

    llmux_free(j1);
    llmux_free(j2);
    llmux_request_free(dec);
}

static void test_defaults(void **state) {
    (void)state;
    llmux_request r = llmux_request_default();
    char *json = llmux_request_to_json(&r);
    assert_string_equal(json, "{\"messages\":[]}");
    llmux_free(json);

    llmux_request *dec = decode_ok("{}");
    assert_null(dec->model);
    assert_int_equal(dec->n_messages, 0);
    assert_int_equal(dec->tool_choice, LLMUX_TOOL_CHOICE_AUTO);
    assert_int_equal(dec->response_format, LLMUX_FORMAT_TEXT);
    assert_true(llmux_is_unset(dec->sampling.temperature));
    assert_true(llmux_is_unset(dec->sampling.top_p));
    assert_true(llmux_is_unset(dec->sampling.min_p));
    assert_true(llmux_is_unset(dec->sampling.repeat_penalty));
    assert_int_equal(dec->sampling.top_k, LLMUX_UNSET_INT);
    assert_int_equal(dec->sampling.max_tokens, LLMUX_UNSET_INT);
    assert_int_equal(dec->sampling.seed, LLMUX_UNSET_INT);
    assert_null(dec->provider_options);
    llmux_request_free(dec);
}

static void test_string_shorthand(void **state) {
    (void)state;
    llmux_request *dec = decode_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"hi \\u00e9\"}]}");
    assert_int_equal(dec->n_messages, 1);
    assert_int_equal(dec->messages[0].role, LLMUX_ROLE_USER);
    assert_int_equal(dec->messages[0].n_parts, 1);
    assert_int_equal(dec->messages[0].parts[0].type, LLMUX_PART_TEXT);
    assert_string_equal(dec->messages[0].parts[0].text, "hi \xC3\xA9");
    llmux_request_free(dec);
    /* A lone text part is written back in its shorthand; two parts stay an array. */
    assert_canonical("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}]}",
                     "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    assert_canonical("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
                     "{\"type\":\"text\",\"text\":\"b\"}]}]}",
                     "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
                     "{\"type\":\"text\",\"text\":\"b\"}]}]}");
    assert_canonical("{\"messages\":[{\"role\":\"assistant\",\"content\":[]}]}",
                     "{\"messages\":[{\"role\":\"assistant\",\"content\":[]}]}");
}

static void test_canonical_forms(void **state) {
    (void)state;
    /* Whitespace, one stop string, integer temperature, absent tool arguments, defaults spelled out. */
    assert_canonical("{ \"stop\" : \"###\", \"temperature\": 1, \"tool_choice\": \"auto\", "
                     "\"response_format\": {\"type\": \"text\"}, \"stream\": false, \"priority\": 0 }",
                     "{\"messages\":[],\"temperature\":1.0,\"stop\":[\"###\"]}");
    assert_canonical("{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_call\",\"id\":\"c\","
                     "\"name\":\"f\"}]}]}",
                     "{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_call\",\"id\":\"c\","
                     "\"name\":\"f\",\"arguments\":\"{}\"}]}]}");
    /* Shortest round-trip doubles; schema key order, nesting and escapes kept. */
    assert_canonical("{\"temperature\":0.30000000000000004,\"top_p\":1e-7,\"presence_penalty\":-2,"
                     "\"frequency_penalty\":2.0,\"tools\":[{\"name\":\"t\",\"parameters\":{\"z\":1,\"a\":[true,"
                     "null,-0.0,1.5e300,\"\\u2028\\n\"],\"m\":{}}}],\"response_format\":{\"type\":\"json_object\"},"
                     "\"tool_choice\":\"required\"}",
                     "{\"messages\":[],\"tools\":[{\"name\":\"t\",\"parameters\":{\"z\":1,\"a\":[true,null,-0.0,"
                     "1.5e+300,\"\xE2\x80\xA8\\n\"],\"m\":{}}}],\"tool_choice\":\"required\","
                     "\"response_format\":{\"type\":\"json_object\"},\"temperature\":0.30000000000000004,"
                     "\"top_p\":1e-07,\"presence_penalty\":-2.0,\"frequency_penalty\":2.0}");
    /* A file (document) part. */
    assert_canonical("{\"messages\":[{\"role\":\"user\",\"content\":[{\"name\":\"a.pdf\",\"type\":\"file\","
                     "\"mime_type\":\"application/pdf\",\"data\":\"JVBERi0=\"},{\"type\":\"file\",\"url\":\"https://x/b.pdf\"}]}]}",
                     "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"file\",\"data\":\"JVBERi0=\","
                     "\"mime_type\":\"application/pdf\",\"name\":\"a.pdf\"},{\"type\":\"file\",\"url\":\"https://x/b.pdf\"}]}]}");
    /* Cache breakpoints on parts and tools. */
    assert_canonical("{\"messages\":[{\"role\":\"user\",\"content\":[{\"cache\":\"1h\",\"type\":\"text\",\"text\":\"a\"}]}],"
                     "\"tools\":[{\"cache\":\"5m\",\"name\":\"t\"}]}",
                     "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\",\"cache\":\"1h\"}]}],"
                     "\"tools\":[{\"name\":\"t\",\"cache\":\"5m\"}]}");
    assert_canonical("{\"tool_choice\":\"none\",\"seed\":0,\"deadline_ms\":1,\"priority\":-3}",
                     "{\"messages\":[],\"tool_choice\":\"none\",\"seed\":0,\"priority\":-3,\"deadline_ms\":1}");
}

/* Caller-built text that is not a JSON object cannot be embedded: it is written as a string,
 * and decoding says what is wrong instead of the encoder emitting broken JSON. */
static void test_invalid_embedded_json(void **state) {
    (void)state;
    llmux_tool tool = {.name = "t", .parameters = "{not json"};
    llmux_request r = llmux_request_default();
    r.tools = &tool;
    r.n_tools = 1;
    char *json = llmux_request_to_json(&r);
    assert_string_equal(json, "{\"messages\":[],\"tools\":[{\"name\":\"t\",\"parameters\":\"{not json\"}]}");
    llmux_request *req = (llmux_request *)1;
    llmux_error_info err;
    assert_int_equal(llmux_request_from_json(json, strlen(json), &req, &err), LLMUX_E_INVALID_REQUEST);
    assert_null(req);
    assert_string_equal(err.message, "tools[0].parameters: must be an object");
    llmux_free(json);
}

typedef struct bad_case {
    const char *json;
    const char *message;
} bad_case;

static const bad_case k_bad[] = {
    {"{", "request: invalid JSON at line 1, column 1: string or '}' expected near end of file"},
    {"{} x", "request: invalid JSON at line 1, column 4: end of file expected near 'x'"},
    {"{\"model\":\"a\",\"model\":\"b\"}", "request: invalid JSON at line 1, column 20: duplicate object key near '\"model\"'"},
    {"{\"model\":\"\\u0000\"}",
     "request: invalid JSON at line 1, column 17: \\u0000 is not allowed without JSON_ALLOW_NUL near '\"\\u0000\"'"},
    {"{\"model\":\"\xff\"}", "request: invalid JSON at line 1, column 10: unable to decode byte 0xff near '\"'"},
    {"[]", "request: must be a JSON object"},
    {"{\"modle\":\"x\"}", "modle: unknown field"},
    {"{\"model\":5}", "model: must be a string"},
    {"{\"messages\":{}}", "messages: must be an array"},
    {"{\"messages\":[{\"content\":\"hi\"}]}", "messages[0].role: missing"},
    {"{\"messages\":[{\"role\":\"bot\",\"content\":\"hi\"}]}", "messages[0].role: unknown role \"bot\""},
    {"{\"messages\":[{\"role\":\"user\"}]}", "messages[0].content: missing"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\",\"extra\":1}]}", "messages[0].extra: unknown field"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":5}]}",
     "messages[0].content: must be a string or an array of parts"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"assistant\",\"content\":\"b\"},"
     "{\"role\":\"user\",\"content\":[{\"type\":\"imagex\",\"url\":\"u\"}]}]}",
     "messages[2].content[0].type: unknown part type \"imagex\""},
    {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]}]}", "messages[0].content[0].type: missing"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\",\"cache\":\"2h\"}]}]}",
     "messages[0].content[0].cache: unknown cache lifetime \"2h\" (expected \"5m\" or \"1h\")"},
    {"{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"reasoning\",\"text\":\"a\",\"cache\":\"5m\"}]}]}",
     "messages[0].content[0].cache: unknown field"},
    {"{\"tools\":[{\"name\":\"t\",\"cache\":5}]}", "tools[0].cache: must be a string"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"file\",\"name\":\"a\"}]}]}",
     "messages[0].content[0]: file needs \"url\" or \"data\""},
    {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"file\",\"data\":\"x\"}]}]}",
     "messages[0].content[0].mime_type: missing (required with \"data\")"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"file\",\"url\":\"u\",\"text\":\"t\"}]}]}",
     "messages[0].content[0].text: unknown field"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":[\"a\"]}]}", "messages[0].content[0]: must be an object"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}", "messages[0].content[0].text: missing"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\",\"url\":\"x\"}]}]}",
     "messages[0].content[0].url: unknown field"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\"}]}]}",
     "messages[0].content[0]: image needs \"url\" or \"data\""},
    {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"url\":\"u\",\"data\":\"d\"}]}]}",
     "messages[0].content[0]: image has both \"url\" and \"data\""},
    {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"data\":\"AA==\"}]}]}",
     "messages[0].content[0].mime_type: missing (required with \"data\")"},
    {"{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_call\",\"name\":\"f\"}]}]}",
     "messages[0].content[0].id: missing"},
    {"{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_call\",\"id\":\"c\",\"name\":\"f\","
     "\"arguments\":{}}]}]}",
     "messages[0].content[0].arguments: must be a string"},
    {"{\"messages\":[{\"role\":\"tool\",\"content\":[{\"type\":\"tool_result\",\"id\":\"c\",\"content\":\"x\","
     "\"is_error\":\"yes\"}]}]}",
     "messages[0].content[0].is_error: must be true or false"},
    {"{\"messages\":[{\"role\":\"tool\",\"content\":[{\"type\":\"tool_result\",\"id\":\"c\"}]}]}",
     "messages[0].content[0].content: missing"},
    {"{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"reasoning\",\"redacted\":1}]}]}",
     "messages[0].content[0].redacted: must be true or false"},
    {"{\"temperature\":-0.1}", "temperature: must be a number >= 0"},
    {"{\"temperature\":\"hot\"}", "temperature: must be a number >= 0"},
    {"{\"temperature\":null}", "temperature: must be a number >= 0"},
    {"{\"top_p\":0}", "top_p: must be a number in (0, 1]"},
    {"{\"top_p\":1.0000001}", "top_p: must be a number in (0, 1]"},
    {"{\"top_k\":0}", "top_k: must be an integer in [1, 2147483647]"},
    {"{\"top_k\":1.5}", "top_k: must be an integer in [1, 2147483647]"},
    {"{\"top_k\":2147483648}", "top_k: must be an integer in [1, 2147483647]"},
    {"{\"min_p\":1.5}", "min_p: must be a number in [0, 1]"},
    {"{\"max_tokens\":0}", "max_tokens: must be an integer in [1, 2147483647]"},
    {"{\"seed\":-1}", "seed: must be an integer >= 0"},
    {"{\"presence_penalty\":2.5}", "presence_penalty: must be a number in [-2, 2]"},
    {"{\"frequency_penalty\":-2.01}", "frequency_penalty: must be a number in [-2, 2]"},
    {"{\"repeat_penalty\":0}", "repeat_penalty: must be a number > 0"},
    {"{\"stop\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\",\"12\",\"13\",\"14\",\"15\","
     "\"16\",\"17\"]}",
     "stop: too many stop sequences: 17 (the limit is 16)"},
    {"{\"stop\":[\"a\",\"\"]}", "stop[1]: must not be empty"},
    /* The shorthand decodes to the canonical one-element array, and the rules name its element. */
    {"{\"stop\":\"\"}", "stop[0]: must not be empty"},
    {"{\"stop\":[1]}", "stop[0]: must be a string"},
    {"{\"stop\":{}}", "stop: must be a string or an array of strings"},
    {"{\"tools\":[{\"name\":\"a\"},{\"description\":\"x\"}]}", "tools[1].name: missing"},
    {"{\"tools\":[{\"name\":\"\"}]}", "tools[0].name: must not be empty"},
    {"{\"tools\":[{\"name\":\"a\",\"parameters\":\"{}\"}]}", "tools[0].parameters: must be an object"},
    {"{\"tools\":[{\"name\":\"a\",\"strict\":true}]}", "tools[0].strict: unknown field"},
    {"{\"tool_choice\":\"sometimes\"}",
     "tool_choice: unknown value \"sometimes\" (expected \"auto\", \"none\", \"required\" or "
     "{\"type\":\"tool\",\"name\":...})"},
    {"{\"tool_choice\":{\"type\":\"function\",\"name\":\"x\"}}", "tool_choice.type: must be \"tool\", not \"function\""},
    {"{\"tool_choice\":{\"type\":\"tool\"}}", "tool_choice.name: missing"},
    {"{\"tool_choice\":true}", "tool_choice: must be a string or an object"},
    {"{\"response_format\":{\"type\":\"yaml\"}}", "response_format.type: unknown format \"yaml\""},
    {"{\"response_format\":{\"type\":\"json_schema\"}}",
     "response_format.schema: missing (required with type \"json_schema\")"},
    {"{\"response_format\":{\"type\":\"text\",\"schema\":{}}}",
     "response_format.schema: only allowed with type \"json_schema\""},
    {"{\"response_format\":{\"type\":\"json_schema\",\"schema\":{},\"strict\":\"yes\"}}",
     "response_format.strict: must be true or false"},
    {"{\"metadata\":{\"k\":1}}", "metadata.k: must be a string"},
    {"{\"metadata\":[]}", "metadata: must be an object"},
    {"{\"provider_options\":[]}", "provider_options: must be an object"},
    {"{\"stream\":\"yes\"}", "stream: must be true or false"},
    {"{\"priority\":3000000000}", "priority: must be an integer in [-2147483648, 2147483647]"},
    {"{\"deadline_ms\":-5}", "deadline_ms: must be an integer >= 0"},
    {"{\"reasoning_effort\":\"extreme\"}",
     "reasoning_effort: must be \"none\", \"low\", \"medium\" or \"high\", not \"extreme\""},
    {"{\"reasoning_effort\":2}", "reasoning_effort: must be a string"},
    {"{\"reasoning_budget\":-1}", "reasoning_budget: must be an integer in [0, 2147483647]"},
    {"{\"single_tool_call\":1}", "single_tool_call: must be true or false"},
    {"{\"ba\\u0001d\":1}", "ba?d: unknown field"},
};

static void expect_error(const char *json, size_t len, const char *message) {
    llmux_request *req = (llmux_request *)1; /* must be reset to NULL */
    llmux_error_info err;
    llmux_status st = llmux_request_from_json(json, len, &req, &err);
    if (st != LLMUX_E_INVALID_REQUEST || strcmp(err.message, message) != 0)
        fail_msg("input %.200s\n  got status %d: %s\n  want: %s", json, (int)st, err.message, message);
    assert_null(req);
    assert_int_equal(err.status, LLMUX_E_INVALID_REQUEST);
}

static void test_malformed_table(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof k_bad / sizeof k_bad[0]; i++)
        expect_error(k_bad[i].json, strlen(k_bad[i].json), k_bad[i].message);
}

static void test_too_large(void **state) {
    (void)state;
    size_t n = (size_t)LLMUX_JSON_MAX_BYTES + 1;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    expect_error(big, n, "request: JSON is too large: 33554433 bytes (the limit is 33554432)");
    free(big);
    expect_error(NULL, 0, "request: no JSON input");
}

static char *repeat_json(const char *head, const char *item, size_t n, const char *tail) {
    size_t len = strlen(head) + n * (strlen(item) + 1) + strlen(tail) + 1;
    char *s = malloc(len);
    assert_non_null(s);
    char *p = s + sprintf(s, "%s", head);
    for (size_t i = 0; i < n; i++) p += sprintf(p, "%s%s", i ? "," : "", item);
    strcpy(p, tail);
    return s;
}

static void test_collection_caps(void **state) {
    (void)state;
    char *s = repeat_json("{\"messages\":[", "{\"role\":\"user\",\"content\":\"x\"}", 10001, "]}");
    expect_error(s, strlen(s), "messages: too many items: 10001 (the limit is 10000)");
    free(s);
    s = repeat_json("{\"messages\":[", "{\"role\":\"user\",\"content\":\"x\"}", 10000, "]}");
    llmux_request *req = decode_ok(s);
    assert_int_equal(req->n_messages, 10000);
    llmux_request_free(req);
    free(s);
    s = repeat_json("{\"messages\":[{\"role\":\"user\",\"content\":[", "{\"type\":\"text\",\"text\":\"x\"}", 1001, "]}]}");
    expect_error(s, strlen(s), "messages[0].content: too many items: 1001 (the limit is 1000)");
    free(s);
    s = repeat_json("{\"tools\":[", "{\"name\":\"t\"}", 513, "]}");
    expect_error(s, strlen(s), "tools: too many items: 513 (the limit is 512)");
    free(s);
}

/* Field names in errors are bounded and cannot smuggle control characters. */
static void test_long_unknown_key(void **state) {
    (void)state;
    char json[300];
    memset(json, 0, sizeof json);
    strcpy(json, "{\"");
    memset(json + 2, 'k', 200);
    strcat(json, "\":1}");
    char want[100];
    memset(want, 0, sizeof want);
    memset(want, 'k', 68);
    strcat(want, "...: unknown field");
    expect_error(json, strlen(json), want);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_encoding),   cmocka_unit_test(test_round_trip_full),
        cmocka_unit_test(test_defaults),         cmocka_unit_test(test_string_shorthand),
        cmocka_unit_test(test_canonical_forms),  cmocka_unit_test(test_invalid_embedded_json),
        cmocka_unit_test(test_malformed_table),  cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_collection_caps),  cmocka_unit_test(test_long_unknown_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
