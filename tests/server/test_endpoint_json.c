/* The pure translators of the server's embeddings, completions and count_tokens endpoints:
 * caps and malformed bodies (each refused naming the field), the exact base64 of float32 vectors
 * (what the openai SDK decodes), float precision, the completions mapping and its exact SSE
 * bytes, and count_tokens' body without max_tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "server/http/translate.h"

static void refused(llmux_status (*fn)(const char *, size_t, lx_srv_req **, llmux_error_info *), const char *body,
                    const char *needle) {
    lx_srv_req *r = (lx_srv_req *)1;
    llmux_error_info err;
    assert_int_equal(fn(body, strlen(body), &r, &err), LLMUX_E_INVALID_REQUEST);
    assert_null(r);
    if (!strstr(err.message, needle)) fprintf(stderr, "\"%s\" not in \"%s\"\n", needle, err.message);
    assert_non_null(strstr(err.message, needle));
}

static void embed_refused(const char *body, size_t len, const char *needle) {
    lx_srv_embed *e = (lx_srv_embed *)1;
    llmux_error_info err;
    assert_int_equal(lx_srv_embed_request(body, len, &e, &err), LLMUX_E_INVALID_REQUEST);
    assert_null(e);
    if (!strstr(err.message, needle)) fprintf(stderr, "\"%s\" not in \"%s\"\n", needle, err.message);
    assert_non_null(strstr(err.message, needle));
}

/* {"model":"m","input":["x", ... n times]} */
static char *inputs_body(size_t n) {
    char *b = malloc(64 + n * 4);
    assert_non_null(b);
    size_t k = (size_t)sprintf(b, "{\"model\":\"m\",\"input\":[");
    for (size_t i = 0; i < n; i++) k += (size_t)sprintf(b + k, "%s\"x\"", i ? "," : "");
    sprintf(b + k, "]}");
    return b;
}

static void test_embed_caps_and_malformed(void **state) {
    char *b = inputs_body(LX_SRV_MAX_EMBED_INPUTS);
    lx_srv_embed *e = NULL;
    llmux_error_info err;
    assert_int_equal(lx_srv_embed_request(b, strlen(b), &e, &err), LLMUX_OK);
    assert_int_equal(e->req.n_inputs, LX_SRV_MAX_EMBED_INPUTS);
    lx_srv_embed_free(e);
    free(b);
    b = inputs_body(LX_SRV_MAX_EMBED_INPUTS + 1);
    embed_refused(b, strlen(b), "input: more than 2048 inputs");
    free(b);
    /* Nesting past the depth cap, truncated JSON, not an object, a NUL inside. */
    char deep[400];
    size_t k = (size_t)sprintf(deep, "{\"model\":\"m\",\"input\":");
    for (int i = 0; i < 100; i++) deep[k++] = '[';
    deep[k] = 0;
    embed_refused(deep, strlen(deep), "");
    embed_refused("{\"model\":\"m\",\"input\":[\"x\"", 25, "");
    embed_refused("[\"x\"]", 5, "");
    embed_refused("{\"model\":\"m\",\0\"input\":\"x\"}", 26, "");
    embed_refused("{\"model\":7,\"input\":\"x\"}", 23, "model");
    embed_refused("{\"model\":\"m\",\"input\":{\"a\":1}}", 29, "input: expected a string or an array");
    embed_refused("{\"model\":\"m\",\"input\":[\"a\",null]}", 32, "input[1]: expected a string");
    embed_refused("{\"model\":\"m\",\"input\":\"x\",\"dimensions\":1.5}", 42, "dimensions");
}

static void test_embed_response_encodings(void **state) {
    /* 1.0f is 00 00 80 3f little-endian: "AACAPw==". */
    const float v[] = {1.0f, -2.5f, 1e-3f, 0.1f};
    llmux_embeddings e = {.model = "x", .n = 2, .dim = 2, .data = v, .usage = llmux_usage_default()};
    char *s = lx_srv_embed_response(&e, "openai/e", true);
    assert_non_null(s);
    json_t *j = json_loads(s, 0, NULL);
    assert_non_null(j);
    json_t *d = json_object_get(j, "data");
    /* 1.0f, -2.5f = 00 00 80 3f 00 00 20 c0 */
    assert_string_equal(json_string_value(json_object_get(json_array_get(d, 0), "embedding")), "AACAPwAAIMA=");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "usage"), "prompt_tokens")), 0);
    json_decref(j);
    free(s);
    /* Floats: every value reads back as the same float32. */
    s = lx_srv_embed_response(&e, "openai/e", false);
    j = json_loads(s, 0, NULL);
    assert_non_null(j);
    for (size_t i = 0; i < 4; i++) {
        json_t *row = json_object_get(json_array_get(json_object_get(j, "data"), i / 2), "embedding");
        assert_true((float)json_real_value(json_array_get(row, i % 2)) == v[i]);
    }
    json_decref(j);
    free(s);
}

static void test_completions_mapping(void **state) {
    const char *body = "{\"model\":\"openai/x\",\"prompt\":[\"Say hi\"],\"stop\":\"END\",\"user\":\"u\",\"logit_bias\":{}}";
    lx_srv_req *r = NULL;
    llmux_error_info err;
    assert_int_equal(lx_srv_completions_request(body, strlen(body), &r, &err), LLMUX_OK);
    assert_int_equal(r->req.n_messages, 1);
    assert_int_equal(r->req.messages[0].role, LLMUX_ROLE_USER);
    assert_string_equal(r->req.messages[0].parts[0].text, "Say hi");
    assert_int_equal(r->req.sampling.max_tokens, 16); /* OpenAI's default for this endpoint */
    assert_int_equal(r->req.sampling.n_stop, 1);
    assert_string_equal(r->req.sampling.stop[0], "END");
    assert_false(r->req.stream);
    lx_srv_req_free(r);
    refused(lx_srv_completions_request, "{\"model\":\"m\",\"prompt\":\"x\",\"best_of\":3}", "best_of");
    refused(lx_srv_completions_request, "{\"model\":\"m\",\"prompt\":\"x\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\",\"q\"]}", "more than 16");
    refused(lx_srv_completions_request, "{\"model\":\"m\",\"prompt\":\"x\",\"temperature\":3}", "temperature");
    refused(lx_srv_completions_request, "{\"model\":\"m\",\"prompt\":\"x\",\"stream_options\":1}", "stream_options");
    refused(lx_srv_completions_request, "{\"model\":\"m\",\"prompt\":[]}", "one prompt");
    refused(lx_srv_completions_request, "nope", "");
}

/* The exact bytes of a streamed text completion: text chunks, the finish chunk, the usage chunk
 * with empty choices, [DONE]; reasoning has no place and is dropped. */
static void test_completions_stream_bytes(void **state) {
    lx_srv_stream *s = lx_srv_stream_create(LX_SRV_OPENAI_TEXT, "cmpl-1", "m", 7, true);
    assert_non_null(s);
    llmux_event evs[5];
    memset(evs, 0, sizeof evs);
    evs[0] = (llmux_event){.type = LLMUX_EVENT_START, .id = "x", .name = "m"};
    evs[1] = (llmux_event){.type = LLMUX_EVENT_REASONING_DELTA, .text = "hm", .text_len = 2};
    evs[2] = (llmux_event){.type = LLMUX_EVENT_TEXT_DELTA, .index = 1, .text = "Hi", .text_len = 2};
    evs[3] = (llmux_event){.type = LLMUX_EVENT_USAGE, .usage = llmux_usage_default()};
    evs[3].usage.input_tokens = 3;
    evs[3].usage.output_tokens = 1;
    evs[4] = (llmux_event){.type = LLMUX_EVENT_FINISH, .finish_reason = LLMUX_FINISH_LENGTH};
    char all[2048] = "";
    for (size_t i = 0; i < 5; i++) {
        char *out = NULL;
        assert_true(lx_srv_stream_event(s, &evs[i], &out));
        if (out) strcat(all, out);
        free(out);
    }
    assert_true(lx_srv_stream_ended(s));
    lx_srv_stream_free(s);
    assert_string_equal(
        all,
        "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":7,\"model\":\"m\",\"choices\":[{\"text\":\"Hi\","
        "\"index\":0,\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n"
        "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":7,\"model\":\"m\",\"choices\":[{\"text\":\"\","
        "\"index\":0,\"logprobs\":null,\"finish_reason\":\"length\"}],\"usage\":null}\n\n"
        "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":7,\"model\":\"m\",\"choices\":[],\"usage\":"
        "{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4,\"prompt_tokens_details\":{\"cached_tokens\":0},"
        "\"completion_tokens_details\":{\"reasoning_tokens\":0}}}\n\n"
        "data: [DONE]\n\n");
}

static void test_count_tokens_body(void **state) {
    const char *body = "{\"model\":\"local/x\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";
    lx_srv_req *r = NULL;
    llmux_error_info err;
    assert_int_equal(lx_srv_count_tokens_request(body, strlen(body), &r, &err), LLMUX_OK);
    assert_false(r->req.stream);
    assert_int_equal(r->req.n_messages, 1);
    lx_srv_req_free(r);
    refused(lx_srv_count_tokens_request, "{\"model\":\"local/x\"}", "messages");
    refused(lx_srv_count_tokens_request, "{\"model\":\"local/x\",\"messages\":[{\"role\":\"robot\",\"content\":\"Hi\"}]}", "messages[0].role");
    refused(lx_srv_count_tokens_request, "[]", "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embed_caps_and_malformed),
        cmocka_unit_test(test_embed_response_encodings),
        cmocka_unit_test(test_completions_mapping),
        cmocka_unit_test(test_completions_stream_bytes),
        cmocka_unit_test(test_count_tokens_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
