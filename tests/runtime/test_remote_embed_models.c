/* llmux_embed and llmux_list_models end to end against the fake provider server: the exact wire
 * request per provider, the decoded vectors and model entries, error mapping, count mismatch,
 * body cap, timeouts from the runtime params, cancellation, and the refusals that happen before
 * any I/O (a local model that does not exist, no embeddings endpoint, unknown provider, missing key). */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <math.h>

#include "llmux.h"
#include "runtime/remote.h"
#include "remote_fixture.h"

#define DATA "tests/data/embed/"

static void start(fx *f, const char *name, const char *protocol, const char *suffix, int64_t first_byte_ms) {
    fx_start(f, name, protocol, suffix, first_byte_ms);
}

static void push(fx *f, const char *method, const char *path, int status, const char *body, const char *file) {
    fx_push(f, method, path, status, "application/json", body, file, 0);
}

/* Checks the recorded request i: method, exact path, exact body (NULL = empty), a header value. */
static void assert_request(fx *f, int i, const char *method, const char *path, const char *body, const char *hname,
                           const char *hvalue) {
    lx_fake_request rq;
    assert_true(lx_fake_server_request(f->srv, i, &rq));
    assert_string_equal(rq.method, method);
    assert_string_equal(rq.path, path);
    if (body) assert_string_equal(rq.body, body);
    else assert_int_equal(rq.body_len, 0);
    char v[512];
    assert_true(lx_fake_request_header(&rq, hname, v, sizeof v));
    assert_string_equal(v, hvalue);
    free(rq.body);
}

static const char *const k_two[] = {"alpha", "beta"};

static llmux_embed_request embed_req(const char *model, size_t n, int32_t dims) {
    llmux_embed_request r = llmux_embed_request_default();
    r.model = model;
    r.inputs = k_two;
    r.n_inputs = n;
    r.dimensions = dims;
    return r;
}

/* ------------------------------------------------------------- embeddings */

static void test_openai_embed(void **state) {
    (void)state;
    fx f;
    start(&f, "openai", NULL, "/v1", 0);
    push(&f, "POST", "/v1/embeddings", 200, NULL, DATA "openai_embeddings.json");
    llmux_embed_request req = embed_req("openai/text-embedding-3-small", 2, 3);
    llmux_embeddings *e = NULL;
    llmux_error_info err;
    llmux_status st = llmux_embed(f.rt, &req, NULL, &e, &err);
    if (st != LLMUX_OK) fprintf(stderr, "%s\n", err.message);
    assert_int_equal(st, LLMUX_OK);
    assert_request(&f, 0, "POST", "/v1/embeddings",
                   "{\"model\":\"text-embedding-3-small\",\"input\":[\"alpha\",\"beta\"],\"dimensions\":3,"
                   "\"encoding_format\":\"float\"}",
                   "authorization", "Bearer k");
    assert_int_equal(e->n, 2);
    assert_int_equal(e->dim, 3);
    const float want[] = {0.125f, 2.0f, -3.5f, 0.5f, -0.25f, 1e-3f};
    for (size_t i = 0; i < 6; i++) assert_true(e->data[i] == want[i]);
    assert_int_equal(e->usage.input_tokens, 7);
    assert_string_equal(e->model, "text-embedding-3-small");
    assert_string_equal(e->provider, "openai");
    llmux_embeddings_free(e);

    /* One input, two vectors back: a count mismatch is a protocol error, nothing returned. */
    push(&f, "POST", "/v1/embeddings", 200, NULL, DATA "openai_embeddings.json");
    req = embed_req("openai/text-embedding-3-small", 1, 0);
    e = (llmux_embeddings *)(uintptr_t)1;
    assert_int_equal(llmux_embed(f.rt, &req, NULL, &e, &err), LLMUX_E_UPSTREAM_PROTOCOL);
    assert_null(e);
    assert_string_equal(err.message, "openai: 2 embeddings for 1 inputs");

    /* A non-2xx answer goes through the adapter's error mapping. */
    push(&f, "POST", "/v1/embeddings", 401, "{\"error\":{\"message\":\"Incorrect API key provided\",\"type\":"
                                            "\"invalid_request_error\",\"code\":\"invalid_api_key\"}}", NULL);
    assert_int_equal(llmux_embed(f.rt, &req, NULL, &e, &err), LLMUX_E_AUTHENTICATION);
    assert_null(e);
    assert_int_equal(err.provider_status, 401);
    assert_string_equal(err.provider_code, "invalid_api_key");

    /* A malformed 2xx body. */
    push(&f, "POST", "/v1/embeddings", 200, "{\"data\":[{\"index\":0,\"embedding\":[1,2]},{\"index\":1,\"embedding\":[3]}]}",
         NULL);
    req = embed_req("openai/text-embedding-3-small", 2, 0);
    assert_int_equal(llmux_embed(f.rt, &req, NULL, &e, &err), LLMUX_E_UPSTREAM_PROTOCOL);
    assert_non_null(strstr(err.message, "expected 2 like the first vector"));
    assert_int_equal(lx_fake_server_mismatches(f.srv), 0);
    assert_int_equal(lx_fake_server_requests(f.srv), 4);
    fx_stop(&f);
}

static void test_gemini_ollama_embed(void **state) {
    (void)state;
    fx f;
    start(&f, "gemini", NULL, "/v1beta", 0);
    push(&f, "POST", "/v1beta/models/gemini-embedding-001:batchEmbedContents", 200, NULL, DATA "gemini_embeddings.json");
    llmux_embed_request req = embed_req("gemini/gemini-embedding-001", 2, 0);
    llmux_embeddings *e = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_embed(f.rt, &req, NULL, &e, &err), LLMUX_OK);
    assert_request(&f, 0, "POST", "/v1beta/models/gemini-embedding-001:batchEmbedContents",
                   "{\"requests\":[{\"model\":\"models/gemini-embedding-001\",\"content\":{\"parts\":[{\"text\":\"alpha\"}]}},"
                   "{\"model\":\"models/gemini-embedding-001\",\"content\":{\"parts\":[{\"text\":\"beta\"}]}}]}",
                   "x-goog-api-key", "k");
    assert_int_equal(e->n, 2);
    assert_int_equal(e->dim, 4);
    assert_true(e->data[7] == 0.0625f);
    assert_string_equal(e->provider, "gemini");
    llmux_embeddings_free(e);
    fx_stop(&f);

    start(&f, "ollama", NULL, "", 0);
    push(&f, "POST", "/api/embed", 200, NULL, DATA "ollama_embed.json");
    req = embed_req("ollama/nomic-embed-text", 2, 0);
    assert_int_equal(llmux_embed(f.rt, &req, NULL, &e, &err), LLMUX_OK);
    assert_request(&f, 0, "POST", "/api/embed", "{\"model\":\"nomic-embed-text\",\"input\":[\"alpha\",\"beta\"]}",
                   "authorization", "Bearer k");
    assert_int_equal(e->n, 2);
    assert_int_equal(e->dim, 3);
    assert_true(e->data[0] == 0.010071029f);
    assert_int_equal(e->usage.input_tokens, 8);
    llmux_embeddings_free(e);
    fx_stop(&f);
}

static void test_embed_refusals(void **state) {
    (void)state;
    fx f;
    start(&f, "anthropic", NULL, "", 0);
    llmux_embeddings *e = (llmux_embeddings *)(uintptr_t)1;
    llmux_error_info err;
    llmux_embed_request req = embed_req("anthropic/claude-sonnet-4-5", 1, 0);
    assert_int_equal(llmux_embed(f.rt, &req, NULL, &e, &err), LLMUX_E_INVALID_REQUEST);
    assert_null(e);
    assert_string_equal(err.message, "provider anthropic (anthropic protocol) has no embeddings endpoint");
    /* Local specs go to the local engine (tests/runtime/test_local_embed.c): with no such model in
     * the model directories they are refused before any I/O. */
    const char *local[] = {"local/nomic", "nomic-embed", "/models/x.gguf", "./x.gguf"};
    for (size_t i = 0; i < 4; i++) {
        req = embed_req(local[i], 1, 0);
        llmux_status st = llmux_embed(f.rt, &req, NULL, &e, &err);
        assert_true(st == LLMUX_E_MODEL_NOT_FOUND || st == LLMUX_E_PERMISSION);
        assert_null(e);
    }
    req = embed_req("nosuch/model", 1, 0);
    assert_int_equal(llmux_embed(f.rt, &req, NULL, &e, &err), LLMUX_E_MODEL_NOT_FOUND);
    assert_non_null(strstr(err.message, "unknown provider \"nosuch\""));
    req = embed_req(NULL, 1, 0);
    assert_int_equal(llmux_embed(f.rt, &req, NULL, &e, &err), LLMUX_E_INVALID_REQUEST);
    req = embed_req("ollama/x", 0, 0);
    assert_int_equal(llmux_embed(f.rt, &req, NULL, &e, &err), LLMUX_E_INVALID_REQUEST);
    assert_string_equal(err.message, "inputs: empty (nothing to embed)");
    /* A hosted provider without a key fails before any I/O. */
    unsetenv("OPENAI_API_KEY");
    req = embed_req("openai/text-embedding-3-small", 1, 0);
    assert_int_equal(llmux_embed(f.rt, &req, NULL, &e, &err), LLMUX_E_AUTHENTICATION);
    assert_non_null(strstr(err.message, "OPENAI_API_KEY"));
    /* A triggered token: nothing is sent. */
    llmux_cancel *c = llmux_cancel_create();
    llmux_cancel_trigger(c);
    req = embed_req("ollama/x", 1, 0);
    llmux_runtime *rt2;
    char url[256];
    lx_fake_server_url(f.srv, "", url, sizeof url);
    llmux_provider_params p = {.name = "ollama", .base_url = url};
    llmux_runtime_params rp = llmux_runtime_default_params();
    rp.providers = &p;
    rp.n_providers = 1;
    assert_int_equal(llmux_runtime_create(&rp, &rt2, &err), LLMUX_OK);
    llmux_call_params cp = llmux_call_default_params();
    cp.cancel = c;
    assert_int_equal(llmux_embed(rt2, &req, &cp, &e, &err), LLMUX_E_CANCELLED);
    llmux_model_list *l = (llmux_model_list *)(uintptr_t)1;
    assert_int_equal(llmux_list_models(rt2, "ollama", &cp, &l, &err), LLMUX_E_CANCELLED);
    assert_null(l);
    llmux_cancel_destroy(c);
    llmux_runtime_destroy(rt2);
    assert_int_equal(lx_fake_server_requests(f.srv), 0);
    fx_stop(&f);
}

static int64_t now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* llmux_call_params.deadline_ms bounds the whole call: a silent upstream (status line held back
 * 1.5 s, first-byte timeout 60 s) ends in the timeout class at the deadline, for both calls. A
 * negative deadline is refused before any I/O. */
static void test_call_deadline(void **state) {
    (void)state;
    fx f;
    start(&f, "ollama", NULL, "", 60000);
    lx_fake_response r;
    memset(&r, 0, sizeof r);
    r.body = "{\"models\":[]}";
    r.status_delay_ms = 1500;
    assert_true(lx_fake_server_push(f.srv, &r));
    llmux_call_params cp = llmux_call_default_params();
    assert_null(cp.cancel);
    assert_int_equal(cp.deadline_ms, 0);
    cp.deadline_ms = 200;
    llmux_model_list *l = (llmux_model_list *)(uintptr_t)1;
    llmux_error_info err;
    int64_t t0 = now_ms();
    assert_int_equal(llmux_list_models(f.rt, "ollama", &cp, &l, &err), LLMUX_E_TIMEOUT);
    int64_t took = now_ms() - t0;
    assert_null(l);
    assert_non_null(strstr(err.message, "deadline"));
    if (took < 150 || took > 1200) fail_msg("list_models deadline 200 ms took %lld ms", (long long)took);

    memset(&r, 0, sizeof r);
    r.body = "{\"embeddings\":[[1.0]]}";
    r.status_delay_ms = 1500;
    assert_true(lx_fake_server_push(f.srv, &r));
    llmux_embed_request req = embed_req("ollama/x", 1, 0);
    llmux_embeddings *e = (llmux_embeddings *)(uintptr_t)1;
    t0 = now_ms();
    assert_int_equal(llmux_embed(f.rt, &req, &cp, &e, &err), LLMUX_E_TIMEOUT);
    took = now_ms() - t0;
    assert_null(e);
    assert_non_null(strstr(err.message, "deadline"));
    if (took < 150 || took > 1200) fail_msg("embed deadline 200 ms took %lld ms", (long long)took);

    int before = lx_fake_server_requests(f.srv);
    cp.deadline_ms = -1;
    assert_int_equal(llmux_embed(f.rt, &req, &cp, &e, &err), LLMUX_E_INVALID_REQUEST);
    assert_string_equal(err.message, "llmux_embed: params.deadline_ms: must be >= 0 (0 = the runtime's default)");
    assert_int_equal(llmux_list_models(f.rt, "ollama", &cp, &l, &err), LLMUX_E_INVALID_REQUEST);
    assert_string_equal(err.message,
                        "llmux_list_models: params.deadline_ms: must be >= 0 (0 = the runtime's default)");
    assert_int_equal(lx_fake_server_requests(f.srv), before);
    fx_stop(&f);
}

static void test_first_byte_timeout_and_cap(void **state) {
    (void)state;
    fx f;
    start(&f, "ollama", NULL, "", 150);
    /* A 2xx body one byte over LX_WIRE_MAX_BODY is refused while it arrives. */
    size_t n = (size_t)LX_WIRE_MAX_BODY + 1;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = '\0';
    lx_fake_response r;
    memset(&r, 0, sizeof r);
    r.body = big;
    r.body_len = n;
    r.chunk_size = 1 << 20;
    assert_true(lx_fake_server_push(f.srv, &r));
    free(big);
    llmux_model_list *l = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_list_models(f.rt, "ollama", NULL, &l, &err), LLMUX_E_UPSTREAM_PROTOCOL);
    assert_null(l);
    assert_non_null(strstr(err.message, "exceeds the 16777216-byte cap"));

    /* The single-threaded fake server delays its status line: the runtime gives up first. */
    memset(&r, 0, sizeof r);
    r.body = "{\"models\":[]}";
    r.status_delay_ms = 2000;
    assert_true(lx_fake_server_push(f.srv, &r));
    assert_int_equal(llmux_list_models(f.rt, "ollama", NULL, &l, &err), LLMUX_E_TIMEOUT);
    assert_null(l);
    assert_non_null(strstr(err.message, "first-byte"));

    fx_stop(&f);
}

/* ------------------------------------------------------------ model lists */

static void test_list_models(void **state) {
    (void)state;
    fx f;
    start(&f, "openrouter", NULL, "/api/v1", 0);
    push(&f, "GET", "/api/v1/models", 200, NULL, DATA "openrouter_models.json");
    llmux_model_list *l = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_list_models(f.rt, "openrouter", NULL, &l, &err), LLMUX_OK);
    assert_request(&f, 0, "GET", "/api/v1/models", NULL, "authorization", "Bearer k");
    assert_int_equal(l->n, 4);
    assert_string_equal(l->models[1].id, "openrouter/anthropic/claude-sonnet-4.5");
    assert_int_equal(l->models[1].context_length, 1000000);
    assert_true(l->models[1].input_price == 3.0);
    assert_true(l->models[1].cache_write_price == 3.75);
    llmux_model_list_free(l);
    fx_stop(&f);

    start(&f, "anthropic", NULL, "", 0);
    push(&f, "GET", "/v1/models", 200, NULL, DATA "anthropic_models.json");
    assert_int_equal(llmux_list_models(f.rt, "anthropic", NULL, &l, &err), LLMUX_OK);
    assert_request(&f, 0, "GET", "/v1/models?limit=1000", NULL, "x-api-key", "k");
    assert_int_equal(l->n, 2);
    assert_string_equal(l->models[0].id, "anthropic/claude-sonnet-4-5-20250929");
    assert_string_equal(l->models[0].name, "Claude Sonnet 4.5");
    llmux_model_list_free(l);
    /* An error answer: Anthropic's overloaded status. */
    push(&f, "GET", "/v1/models", 529, "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}",
         NULL);
    assert_int_equal(llmux_list_models(f.rt, "anthropic", NULL, &l, &err), LLMUX_E_OVERLOADED);
    assert_null(l);
    assert_int_equal(err.provider_status, 529);
    fx_stop(&f);

    start(&f, "gemini", NULL, "/v1beta", 0);
    push(&f, "GET", "/v1beta/models", 200, NULL, DATA "gemini_models.json");
    assert_int_equal(llmux_list_models(f.rt, "gemini", NULL, &l, &err), LLMUX_OK);
    assert_request(&f, 0, "GET", "/v1beta/models?pageSize=1000", NULL, "x-goog-api-key", "k");
    assert_int_equal(l->n, 2);
    assert_string_equal(l->models[0].id, "gemini/gemini-2.5-flash");
    assert_int_equal(l->models[0].context_length, 1048576);
    llmux_model_list_free(l);
    fx_stop(&f);

    /* A custom OpenAI-compatible server (vLLM) by its configured name. */
    start(&f, "vllm", NULL, "/v1", 0);
    push(&f, "GET", "/v1/models", 200, "{\"object\":\"list\",\"data\":[{\"id\":\"Qwen/Qwen3-8B\",\"max_model_len\":32768}]}", NULL);
    assert_int_equal(llmux_list_models(f.rt, "vllm", NULL, &l, &err), LLMUX_OK);
    assert_int_equal(l->n, 1);
    assert_string_equal(l->models[0].id, "vllm/Qwen/Qwen3-8B");
    assert_string_equal(l->models[0].provider, "vllm");
    assert_int_equal(l->models[0].context_length, 32768);
    assert_true(isnan(l->models[0].input_price));
    llmux_model_list_free(l);
    /* Names that are not a bare provider. */
    l = (llmux_model_list *)(uintptr_t)1;
    assert_int_equal(llmux_list_models(f.rt, "nosuch", NULL, &l, &err), LLMUX_E_MODEL_NOT_FOUND);
    assert_string_equal(err.message, "unknown provider \"nosuch\"");
    assert_null(l);
    assert_int_equal(llmux_list_models(f.rt, "vllm/x", NULL, &l, &err), LLMUX_E_INVALID_REQUEST);
    assert_int_equal(llmux_list_models(f.rt, "", NULL, &l, &err), LLMUX_E_INVALID_REQUEST);
    assert_int_equal(llmux_list_models(f.rt, NULL, NULL, &l, &err), LLMUX_E_INVALID_REQUEST);
    assert_int_equal(lx_fake_server_requests(f.srv), 1);
    fx_stop(&f);

    start(&f, "ollama", NULL, "", 0);
    push(&f, "GET", "/api/tags", 200, NULL, DATA "ollama_tags.json");
    assert_int_equal(llmux_list_models(f.rt, "ollama", NULL, &l, &err), LLMUX_OK);
    assert_int_equal(l->n, 2);
    assert_string_equal(l->models[0].id, "ollama/llama3.2:latest");
    llmux_model_list_free(l);
    /* Two sequential requests to one host share one pooled connection. */
    push(&f, "GET", "/api/tags", 200, NULL, DATA "ollama_tags.json");
    assert_int_equal(llmux_list_models(f.rt, "ollama", NULL, &l, &err), LLMUX_OK);
    llmux_model_list_free(l);
    assert_int_equal(lx_fake_server_connections(f.srv), 1);
    fx_stop(&f);
}


int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_embed),
        cmocka_unit_test(test_gemini_ollama_embed),
        cmocka_unit_test(test_embed_refusals),
        cmocka_unit_test(test_first_byte_timeout_and_cap),
        cmocka_unit_test(test_call_deadline),
        cmocka_unit_test(test_list_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
