/* Token counting by the providers' own endpoints (provider.h encode_count_tokens /
 * decode_count_tokens): Anthropic's POST /messages/count_tokens gets the Messages body's prompt
 * parts only (the endpoint refuses max_tokens and the sampling fields as extra inputs), Gemini's
 * POST /models/{model}:countTokens the whole generateContent request under
 * "generateContentRequest" with its model named; each decoder reads its count and refuses a body
 * without one, a negative or fractional count, or no JSON at all; OpenAI and Ollama have none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/buf.h"
#include "providers/provider.h"

static lx_provider_config config(const char *model) {
    lx_provider_config c;
    memset(&c, 0, sizeof c);
    c.name = "p";
    c.model = model;
    c.api_key = "sk-test";
    c.base_url = "http://127.0.0.1:1";
    return c;
}

static const llmux_part k_text = {.type = LLMUX_PART_TEXT, .text = "Weather in Paris?"};
static const llmux_message k_msg = {.role = LLMUX_ROLE_USER, .parts = &k_text, .n_parts = 1};
static const llmux_tool k_tool = {.name = "get_weather", .description = "Weather", .parameters = "{\"type\":\"object\"}"};

static llmux_request request(void) {
    llmux_request r = llmux_request_default();
    r.messages = &k_msg;
    r.n_messages = 1;
    r.system = "Be brief.";
    r.tools = &k_tool;
    r.n_tools = 1;
    r.sampling.max_tokens = 100;
    r.sampling.temperature = 0.5;
    r.stream = true;
    return r;
}

static json_t *encoded(const lx_provider *p, const char *model, lx_wire_request *w) {
    lx_provider_config cfg = config(model);
    llmux_request r = request();
    memset(w, 0, sizeof *w);
    lx_buf_init(&w->body, LLMUX_JSON_MAX_BYTES);
    llmux_error_info err;
    if (p->encode_count_tokens(&cfg, &r, w, &err) != LLMUX_OK) fail_msg("%s", err.message);
    assert_false(w->stream);
    json_t *j = json_loadb(w->body.data, w->body.len, 0, NULL);
    assert_non_null(j);
    return j;
}

static void test_anthropic_body(void **state) {
    (void)state;
    lx_wire_request w;
    json_t *j = encoded(&lx_provider_anthropic, "claude-sonnet-4-5", &w);
    assert_string_equal(w.method, "POST");
    assert_string_equal(w.path, "/messages/count_tokens");
    const char *keys[] = {"model", "messages", "system", "tools"};
    for (size_t i = 0; i < 4; i++) assert_non_null(json_object_get(j, keys[i]));
    const char *gone[] = {"max_tokens", "stream", "temperature", "top_p", "stop_sequences"};
    for (size_t i = 0; i < 5; i++) assert_null(json_object_get(j, gone[i]));
    assert_int_equal(json_object_size(j), 4);
    assert_string_equal(json_string_value(json_object_get(j, "model")), "claude-sonnet-4-5");
    json_decref(j);
    lx_buf_free(&w.body);
}

static void test_gemini_body(void **state) {
    (void)state;
    lx_wire_request w;
    json_t *j = encoded(&lx_provider_gemini, "gemini-2.5-flash", &w);
    assert_string_equal(w.path, "/models/gemini-2.5-flash:countTokens");
    assert_int_equal(json_object_size(j), 1);
    json_t *g = json_object_get(j, "generateContentRequest");
    assert_string_equal(json_string_value(json_object_get(g, "model")), "models/gemini-2.5-flash");
    assert_non_null(json_object_get(g, "contents"));
    assert_non_null(json_object_get(g, "systemInstruction"));
    assert_non_null(json_object_get(g, "tools"));
    json_decref(j);
    lx_buf_free(&w.body);
}

static void check_decode(const lx_provider *p, const char *body, llmux_status want, int64_t want_n) {
    lx_provider_config cfg = config("m");
    int64_t n = 77;
    llmux_error_info err;
    llmux_status st = p->decode_count_tokens(&cfg, body, strlen(body), &n, &err);
    if (st != want) fail_msg("%s: %s -> %d (%s)", p->protocol, body, (int)st, err.message);
    assert_int_equal(n, want_n);
}

static void test_decoders(void **state) {
    (void)state;
    check_decode(&lx_provider_anthropic, "{\"input_tokens\":2095}", LLMUX_OK, 2095);
    check_decode(&lx_provider_anthropic, "{\"input_tokens\":0}", LLMUX_OK, 0);
    check_decode(&lx_provider_gemini, "{\"totalTokens\":31,\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":31}]}",
                 LLMUX_OK, 31);
    const char *bad[] = {"", "not json", "[]", "{}", "{\"input_tokens\":-1}", "{\"input_tokens\":1.5}",
                         "{\"input_tokens\":\"12\"}", "{\"totalTokens\":-3}", "{\"input_tokens\":null}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        check_decode(&lx_provider_anthropic, bad[i], strstr(bad[i], "totalTokens") ? LLMUX_E_UPSTREAM_PROTOCOL
                                                                                     : LLMUX_E_UPSTREAM_PROTOCOL, 0);
        check_decode(&lx_provider_gemini, bad[i], LLMUX_E_UPSTREAM_PROTOCOL, 0);
    }
}

static void test_openai_and_ollama_have_none(void **state) {
    (void)state;
    assert_null(lx_provider_openai.encode_count_tokens);
    assert_null(lx_provider_openai.decode_count_tokens);
    assert_null(lx_provider_ollama.encode_count_tokens);
    assert_null(lx_provider_ollama.decode_count_tokens);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anthropic_body),
        cmocka_unit_test(test_gemini_body),
        cmocka_unit_test(test_decoders),
        cmocka_unit_test(test_openai_and_ollama_have_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
