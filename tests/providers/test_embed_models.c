/* Embeddings and model lists in every adapter: encode -> exact wire request; decode of
 * hand-written bodies (tests/data/embed/) -> exact vectors, ids, limits and prices; malformed,
 * ragged and over-cap bodies -> LLMUX_E_UPSTREAM_PROTOCOL; the shared recorded model lists
 * (../shared/fixtures/providers/<provider>/models_list.json) when present. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <math.h>

#include "core/buf.h"
#include "core/embeddings.h"
#include "core/models.h"
#include "providers/embed_models.h"
#include "support/fake_server.h"

#define FIX "../shared/fixtures/providers/"
#define DATA "tests/data/embed/"

static lx_provider_config config(const char *name, const char *model, const char *key) {
    lx_provider_config c;
    memset(&c, 0, sizeof c);
    c.name = name;
    c.model = model;
    c.api_key = key;
    c.base_url = "http://127.0.0.1:1";
    return c;
}

static void wire_init(lx_wire_request *w) {
    memset(w, 0, sizeof *w);
    lx_buf_init(&w->body, LLMUX_JSON_MAX_BYTES);
}

static const char *header(const lx_wire_request *w, const char *name, bool *secret) {
    for (size_t i = 0; i < w->n_headers; i++)
        if (strcasecmp(w->headers[i].name, name) == 0) {
            if (secret) *secret = w->headers[i].secret;
            return w->headers[i].value;
        }
    return NULL;
}

static char *load(const char *path, size_t *len) {
    char *b = lx_fake_read_file(path, len);
    assert_non_null(b);
    return b;
}

static char *load_or_skip(const char *path, size_t *len) {
    char *b = lx_fake_read_file(path, len);
    if (!b) {
        printf("skipping: %s not present (shared fixtures are optional)\n", path);
        skip();
    }
    return b;
}

static llmux_embeddings *decode_embed_ok(const lx_provider *p, const lx_provider_config *cfg, const char *body,
                                         size_t len) {
    llmux_embeddings *e = NULL;
    llmux_error_info err;
    llmux_status st = p->decode_embed(cfg, body, len, &e, &err);
    if (st != LLMUX_OK) fprintf(stderr, "decode_embed: %s\n", err.message);
    assert_int_equal(st, LLMUX_OK);
    assert_non_null(e);
    return e;
}

static void decode_embed_fails(const lx_provider *p, const lx_provider_config *cfg, const char *body,
                               llmux_status want, const char *msg_part) {
    llmux_embeddings *e = (llmux_embeddings *)(uintptr_t)1;
    llmux_error_info err;
    memset(&err, 0, sizeof err);
    llmux_status st = p->decode_embed(cfg, body, strlen(body), &e, &err);
    if (st != want || !strstr(err.message, msg_part))
        fprintf(stderr, "body %.80s: got %d \"%s\", want %d \"%s\"\n", body, st, err.message, want, msg_part);
    assert_int_equal(st, want);
    assert_int_equal(err.status, want);
    assert_null(e);
    assert_non_null(strstr(err.message, msg_part));
}

/* A page that decodes, with its next-page cursor ("" = none). */
static llmux_model_list *decode_page_ok(const lx_provider *p, const lx_provider_config *cfg, const char *body,
                                        size_t len, const char *want_next) {
    llmux_model_list *l = NULL;
    llmux_error_info err;
    char next[LX_MODELS_CURSOR_MAX + 1];
    memset(next, 'x', sizeof next);
    llmux_status st = p->decode_models(cfg, body, len, next, sizeof next, &l, &err);
    if (st != LLMUX_OK) fprintf(stderr, "decode_models: %s\n", err.message);
    assert_int_equal(st, LLMUX_OK);
    assert_non_null(l);
    assert_string_equal(next, want_next);
    return l;
}

static llmux_model_list *decode_models_ok(const lx_provider *p, const lx_provider_config *cfg, const char *body,
                                          size_t len) {
    return decode_page_ok(p, cfg, body, len, "");
}

static void decode_models_fails(const lx_provider *p, const lx_provider_config *cfg, const char *body,
                                llmux_status want, const char *msg_part) {
    size_t len = strlen(body);
    llmux_model_list *l = (llmux_model_list *)(uintptr_t)1;
    llmux_error_info err;
    memset(&err, 0, sizeof err);
    char next[LX_MODELS_CURSOR_MAX + 1];
    memset(next, 'x', sizeof next);
    llmux_status st = p->decode_models(cfg, body, len, next, sizeof next, &l, &err);
    assert_string_equal(next, ""); /* no cursor from a failed page */
    if (st != want || !strstr(err.message, msg_part))
        fprintf(stderr, "body %.80s: got %d \"%s\", want %d \"%s\"\n", body, st, err.message, want, msg_part);
    assert_int_equal(st, want);
    assert_null(l);
    assert_non_null(strstr(err.message, msg_part));
}

static void assert_model(const llmux_model_info *m, const char *id, const char *name, const char *provider,
                         int64_t ctx, int64_t max_out) {
    assert_string_equal(m->id, id);
    if (name) assert_string_equal(m->name, name);
    else assert_null(m->name);
    assert_string_equal(m->provider, provider);
    assert_int_equal(m->context_length, ctx);
    assert_int_equal(m->max_output_tokens, max_out);
}

static void assert_no_prices(const llmux_model_info *m) {
    assert_true(isnan(m->input_price));
    assert_true(isnan(m->output_price));
    assert_true(isnan(m->cache_read_price));
    assert_true(isnan(m->cache_write_price));
}

static const char *const k_two[] = {"hello", "world"};

static llmux_embed_request two_inputs(int32_t dims, const char *options) {
    llmux_embed_request r = llmux_embed_request_default();
    r.model = "x/ignored";
    r.inputs = k_two;
    r.n_inputs = 2;
    r.dimensions = dims;
    r.provider_options = options;
    return r;
}

/* ------------------------------------------------------------ core builders */

static void test_builders(void **state) {
    (void)state;
    llmux_embed_request d = llmux_embed_request_default();
    assert_null(d.model);
    assert_null(d.inputs);
    assert_int_equal(d.n_inputs, 0);
    assert_int_equal(d.dimensions, 0);
    assert_null(d.provider_options);
    llmux_embeddings_free(NULL);
    llmux_model_list_free(NULL);

    llmux_embeddings *e = NULL;
    llmux_error_info err;
    assert_int_equal(lx_embeddings_new(0, 3, "p", &e, &err), LLMUX_E_UPSTREAM_PROTOCOL);
    assert_int_equal(lx_embeddings_new(2, 0, "p", &e, &err), LLMUX_E_UPSTREAM_PROTOCOL);
    assert_int_equal(lx_embeddings_new(LX_EMBED_MAX_VECTORS + 1, 1, "p", &e, &err), LLMUX_E_UPSTREAM_PROTOCOL);
    assert_int_equal(lx_embeddings_new(1, LX_EMBED_MAX_DIM + 1, "p", &e, &err), LLMUX_E_UPSTREAM_PROTOCOL);
    assert_int_equal(lx_embeddings_new(LX_EMBED_MAX_VECTORS, LX_EMBED_MAX_DIM, "p", &e, &err), LLMUX_E_UPSTREAM_PROTOCOL);
    assert_non_null(strstr(err.message, "more than the cap"));
    assert_null(e);
    assert_int_equal(lx_embeddings_new(2, 3, "p", &e, &err), LLMUX_OK);
    assert_int_equal(e->n, 2);
    assert_int_equal(e->dim, 3);
    assert_int_equal(e->usage.input_tokens, -1);
    lx_embeddings_row(e, 1)[2] = 4.5f;
    assert_true(e->data[5] == 4.5f);
    assert_true(e->data[0] == 0.0f);
    assert_true(lx_embeddings_set_meta(e, "m", "p"));
    assert_string_equal(e->model, "m");
    assert_string_equal(e->provider, "p");
    llmux_embeddings_free(e);

    llmux_model_list *l = lx_model_list_new();
    assert_non_null(l);
    llmux_model_info *m = NULL;
    for (unsigned i = 0; i < LX_MODELS_MAX; i++) assert_int_equal(lx_model_list_push(l, "p", "x", "p", &m, &err), LLMUX_OK);
    assert_int_equal(l->n, LX_MODELS_MAX);
    assert_string_equal(l->models[LX_MODELS_MAX - 1].id, "p/x");
    assert_int_equal(lx_model_list_push(l, "p", "x", "p", &m, &err), LLMUX_E_UPSTREAM_PROTOCOL);
    assert_null(m);
    llmux_model_list_free(l);
    l = lx_model_list_new();
    assert_int_equal(lx_model_list_push(l, NULL, "bare", NULL, &m, &err), LLMUX_OK);
    assert_string_equal(m->id, "bare");
    assert_null(m->provider);
    assert_int_equal(m->context_length, -1);
    assert_no_prices(m);
    llmux_model_list_free(l);
}

/* ------------------------------------------------------------------ openai */

static void test_openai_encode_embed(void **state) {
    (void)state;
    lx_provider_config cfg = config("openai", "text-embedding-3-small", "sk-test");
    llmux_embed_request req = two_inputs(256, NULL);
    lx_wire_request w;
    wire_init(&w);
    llmux_error_info err;
    assert_int_equal(lx_provider_openai.encode_embed(&cfg, &req, &w, &err), LLMUX_OK);
    assert_string_equal(w.method, "POST");
    assert_string_equal(w.path, "/embeddings");
    assert_false(w.stream);
    assert_string_equal(w.body.data, "{\"model\":\"text-embedding-3-small\",\"input\":[\"hello\",\"world\"],"
                                     "\"dimensions\":256,\"encoding_format\":\"float\"}");
    bool secret = false;
    assert_string_equal(header(&w, "Authorization", &secret), "Bearer sk-test");
    assert_true(secret);
    assert_string_equal(header(&w, "Content-Type", NULL), "application/json");
    lx_buf_free(&w.body);

    /* OpenRouter: its headers, no dimensions, pass-through under both keys (the name wins). */
    cfg = config("openrouter", "openai/text-embedding-3-small", NULL);
    cfg.referer = "https://example.org";
    cfg.title = "llmux";
    req = two_inputs(0, "{\"openai\":{\"user\":\"u1\",\"encoding_format\":\"x\"},\"openrouter\":{\"user\":\"u2\"}}");
    wire_init(&w);
    assert_int_equal(lx_provider_openai.encode_embed(&cfg, &req, &w, &err), LLMUX_OK);
    assert_string_equal(w.body.data, "{\"model\":\"openai/text-embedding-3-small\",\"input\":[\"hello\",\"world\"],"
                                     "\"encoding_format\":\"x\",\"user\":\"u2\"}");
    assert_string_equal(header(&w, "HTTP-Referer", NULL), "https://example.org");
    assert_string_equal(header(&w, "X-Title", NULL), "llmux");
    assert_null(header(&w, "Authorization", NULL));
    lx_buf_free(&w.body);
}

static void test_embed_request_errors(void **state) {
    (void)state;
    const lx_provider *ps[] = {&lx_provider_openai, &lx_provider_gemini, &lx_provider_ollama};
    const char *bad_utf8[] = {"ok", "\xff\xfe"};
    const char *with_null[] = {"ok", NULL};
    for (size_t i = 0; i < 3; i++) {
        lx_provider_config cfg = config("p", "m", NULL);
        lx_wire_request w;
        llmux_error_info err;
        llmux_embed_request req = two_inputs(0, NULL);
        req.n_inputs = 0;
        wire_init(&w);
        assert_int_equal(ps[i]->encode_embed(&cfg, &req, &w, &err), LLMUX_E_INVALID_REQUEST);
        assert_string_equal(err.message, "inputs: empty (nothing to embed)");
        req = two_inputs(-1, NULL);
        assert_int_equal(ps[i]->encode_embed(&cfg, &req, &w, &err), LLMUX_E_INVALID_REQUEST);
        assert_non_null(strstr(err.message, "dimensions"));
        req = two_inputs(0, NULL);
        req.inputs = with_null;
        assert_int_equal(ps[i]->encode_embed(&cfg, &req, &w, &err), LLMUX_E_INVALID_REQUEST);
        assert_string_equal(err.message, "inputs[1]: NULL");
        req.inputs = bad_utf8;
        lx_buf_reset(&w.body);
        assert_int_equal(ps[i]->encode_embed(&cfg, &req, &w, &err), LLMUX_E_INVALID_REQUEST);
        assert_string_equal(err.message, "inputs[1]: not valid UTF-8");
        req = two_inputs(0, "{\"openai\": 3, \"gemini\": 3, \"ollama\": 3}");
        lx_buf_reset(&w.body);
        assert_int_equal(ps[i]->encode_embed(&cfg, &req, &w, &err), LLMUX_E_INVALID_REQUEST);
        req = two_inputs(0, "not json");
        lx_buf_reset(&w.body);
        assert_int_equal(ps[i]->encode_embed(&cfg, &req, &w, &err), LLMUX_E_INVALID_REQUEST);
        lx_buf_free(&w.body);
    }
    /* Anthropic has no embeddings endpoint: the entry points stay NULL. */
    assert_null(lx_provider_anthropic.encode_embed);
    assert_null(lx_provider_anthropic.decode_embed);
    assert_false(lx_provider_anthropic.caps & LX_CAP_EMBEDDINGS);
    assert_true(lx_provider_anthropic.caps & LX_CAP_MODEL_LIST);
    assert_true(lx_provider_openai.caps & LX_CAP_EMBEDDINGS);
}

static void test_openai_decode_embed(void **state) {
    (void)state;
    lx_provider_config cfg = config("openai", "text-embedding-3-small", NULL);
    size_t len;
    char *body = load(DATA "openai_embeddings.json", &len);
    llmux_embeddings *e = decode_embed_ok(&lx_provider_openai, &cfg, body, len);
    free(body);
    assert_int_equal(e->n, 2);
    assert_int_equal(e->dim, 3);
    /* data[] came as index 1 then 0: the result is in input order. */
    const float want[] = {0.125f, 2.0f, -3.5f, 0.5f, -0.25f, 1e-3f};
    for (size_t i = 0; i < 6; i++) assert_true(e->data[i] == want[i]);
    assert_int_equal(e->usage.input_tokens, 7);
    assert_int_equal(e->usage.total_tokens, 7);
    assert_int_equal(e->usage.output_tokens, -1);
    assert_string_equal(e->model, "text-embedding-3-small");
    assert_string_equal(e->provider, "openai");
    llmux_embeddings_free(e);

    /* Compatible servers may leave out index and usage: position order, usage unknown. */
    cfg = config("vllm", "bge", NULL);
    const char *plain = "{\"data\":[{\"embedding\":[1,2]},{\"embedding\":[3,4]}]}";
    e = decode_embed_ok(&lx_provider_openai, &cfg, plain, strlen(plain));
    assert_true(e->data[0] == 1.0f && e->data[3] == 4.0f);
    assert_int_equal(e->usage.input_tokens, -1);
    assert_string_equal(e->model, "bge");
    assert_string_equal(e->provider, "vllm");
    llmux_embeddings_free(e);
}

static void test_openai_decode_embed_malformed(void **state) {
    (void)state;
    lx_provider_config cfg = config("openai", "m", NULL);
    const lx_provider *p = &lx_provider_openai;
    const llmux_status P = LLMUX_E_UPSTREAM_PROTOCOL;
    decode_embed_fails(p, &cfg, "", P, "invalid JSON");
    decode_embed_fails(p, &cfg, "{\"data\":[", P, "invalid JSON");
    decode_embed_fails(p, &cfg, "[1,2]", P, "not a JSON object");
    decode_embed_fails(p, &cfg, "{}", P, "data: missing or not an array");
    decode_embed_fails(p, &cfg, "{\"data\":{}}", P, "data: missing or not an array");
    decode_embed_fails(p, &cfg, "{\"data\":[]}", P, "no embedding");
    decode_embed_fails(p, &cfg, "{\"data\":[3]}", P, "data[0]: not an object");
    decode_embed_fails(p, &cfg, "{\"data\":[{\"index\":0}]}", P, "data[0].embedding: missing");
    decode_embed_fails(p, &cfg, "{\"data\":[{\"index\":0,\"embedding\":[]}]}", P, "no values");
    decode_embed_fails(p, &cfg, "{\"data\":[{\"index\":0,\"embedding\":\"AAAA\"}]}", P, "base64");
    decode_embed_fails(p, &cfg, "{\"data\":[{\"index\":\"0\",\"embedding\":[1]}]}", P, "data[0].index: not an integer");
    decode_embed_fails(p, &cfg, "{\"data\":[{\"index\":0,\"embedding\":[1]},{\"index\":0,\"embedding\":[2]}]}", P,
                       "data[1].index: 0 is out of range or repeated");
    decode_embed_fails(p, &cfg, "{\"data\":[{\"index\":2,\"embedding\":[1]},{\"index\":0,\"embedding\":[2]}]}", P,
                       "data[0].index: 2 is out of range");
    decode_embed_fails(p, &cfg, "{\"data\":[{\"index\":-1,\"embedding\":[1]}]}", P, "out of range");
    /* Ragged vectors. */
    decode_embed_fails(p, &cfg, "{\"data\":[{\"index\":0,\"embedding\":[1,2]},{\"index\":1,\"embedding\":[1]}]}", P,
                       "embedding with index 1: 1 values, expected 2 like the first vector");
    decode_embed_fails(p, &cfg, "{\"data\":[{\"index\":0,\"embedding\":[1,\"x\"]}]}", P,
                       "embedding with index 0[1]: not a number");
    decode_embed_fails(p, &cfg, "{\"data\":[{\"index\":0,\"embedding\":[1,null]}]}", P, "not a number");
    decode_embed_fails(p, &cfg, "{\"data\":[{\"index\":0,\"embedding\":[1e39]}]}", P, "outside the float range");
    /* An error object inside a 200 body (OpenRouter) is the provider's error, classified. */
    llmux_embeddings *e = NULL;
    llmux_error_info err;
    const char *b401 = "{\"error\":{\"code\":401,\"message\":\"No auth credentials found\"}}";
    cfg = config("openrouter", "m", NULL);
    assert_int_equal(p->decode_embed(&cfg, b401, strlen(b401), &e, &err), LLMUX_E_AUTHENTICATION);
    assert_null(e);
    assert_non_null(strstr(err.provider_message, "No auth credentials"));
}

static void test_embed_caps(void **state) {
    (void)state;
    lx_provider_config cfg = config("openai", "m", NULL);
    /* LX_EMBED_MAX_VECTORS + 1 vectors. */
    lx_buf b;
    lx_buf_init(&b, 1u << 26);
    assert_true(lx_buf_append_str(&b, "{\"data\":["));
    for (unsigned i = 0; i <= LX_EMBED_MAX_VECTORS; i++)
        assert_true(lx_buf_printf(&b, "%s{\"index\":%u,\"embedding\":[1]}", i ? "," : "", i));
    assert_true(lx_buf_append_str(&b, "]}"));
    decode_embed_fails(&lx_provider_openai, &cfg, b.data, LLMUX_E_UPSTREAM_PROTOCOL, "more than the cap of 4096");
    /* One vector of LX_EMBED_MAX_DIM + 1 values, in each adapter's shape. */
    lx_buf vec;
    lx_buf_init(&vec, 1u << 26);
    assert_true(lx_buf_append_str(&vec, "[0"));
    for (unsigned i = 0; i < LX_EMBED_MAX_DIM; i++) assert_true(lx_buf_append_str(&vec, ",0"));
    assert_true(lx_buf_append_str(&vec, "]"));
    lx_buf_reset(&b);
    assert_true(lx_buf_printf(&b, "{\"data\":[{\"index\":0,\"embedding\":%s}]}", vec.data));
    decode_embed_fails(&lx_provider_openai, &cfg, b.data, LLMUX_E_UPSTREAM_PROTOCOL, "65537 dimensions");
    lx_buf_reset(&b);
    assert_true(lx_buf_printf(&b, "{\"embeddings\":[%s]}", vec.data));
    decode_embed_fails(&lx_provider_ollama, &cfg, b.data, LLMUX_E_UPSTREAM_PROTOCOL, "65537 dimensions");
    lx_buf_reset(&b);
    assert_true(lx_buf_printf(&b, "{\"embeddings\":[{\"values\":%s}]}", vec.data));
    decode_embed_fails(&lx_provider_gemini, &cfg, b.data, LLMUX_E_UPSTREAM_PROTOCOL, "65537 dimensions");
    /* A body over LX_WIRE_MAX_BODY is refused before parsing. */
    llmux_embeddings *e = NULL;
    llmux_error_info err;
    assert_int_equal(lx_provider_openai.decode_embed(&cfg, b.data, (size_t)LX_WIRE_MAX_BODY + 1, &e, &err),
                     LLMUX_E_UPSTREAM_PROTOCOL);
    assert_non_null(strstr(err.message, "byte cap"));
    lx_buf_free(&vec);
    lx_buf_free(&b);
}

static void test_openai_models(void **state) {
    (void)state;
    lx_provider_config cfg = config("openai", NULL, "sk-test");
    lx_wire_request w;
    wire_init(&w);
    llmux_error_info err;
    assert_int_equal(lx_provider_openai.encode_models(&cfg, NULL, &w, &err), LLMUX_OK);
    assert_string_equal(w.method, "GET");
    assert_string_equal(w.path, "/models");
    assert_int_equal(w.body.len, 0);
    assert_null(header(&w, "Content-Type", NULL));
    assert_string_equal(header(&w, "Authorization", NULL), "Bearer sk-test");
    lx_buf_free(&w.body);

    const char *body = "{\"object\":\"list\",\"data\":[{\"id\":\"gpt-4o-mini\",\"object\":\"model\",\"owned_by\":\"system\"},"
                       "{\"id\":\"text-embedding-3-small\",\"object\":\"model\"}]}";
    llmux_model_list *l = decode_models_ok(&lx_provider_openai, &cfg, body, strlen(body));
    assert_int_equal(l->n, 2);
    assert_model(&l->models[0], "openai/gpt-4o-mini", NULL, "openai", -1, -1);
    assert_no_prices(&l->models[0]);
    assert_model(&l->models[1], "openai/text-embedding-3-small", NULL, "openai", -1, -1);
    llmux_model_list_free(l);

    /* vLLM names the context max_model_len; pricing fields are only trusted from OpenRouter. */
    cfg = config("vllm", NULL, NULL);
    body = "{\"data\":[{\"id\":\"Qwen/Qwen3-8B\",\"max_model_len\":32768,\"pricing\":{\"prompt\":\"1\"}}]}";
    l = decode_models_ok(&lx_provider_openai, &cfg, body, strlen(body));
    assert_int_equal(l->n, 1);
    assert_model(&l->models[0], "vllm/Qwen/Qwen3-8B", NULL, "vllm", 32768, -1);
    assert_no_prices(&l->models[0]);
    llmux_model_list_free(l);

    body = "{\"data\":[]}";
    l = decode_models_ok(&lx_provider_openai, &cfg, body, strlen(body));
    assert_int_equal(l->n, 0);
    llmux_model_list_free(l);

    decode_models_fails(&lx_provider_openai, &cfg, "{}", LLMUX_E_UPSTREAM_PROTOCOL, "data: missing or not an array");
    decode_models_fails(&lx_provider_openai, &cfg, "{\"data\":[{\"id\":\"a\"},{\"id\":7}]}", LLMUX_E_UPSTREAM_PROTOCOL,
                        "data[1].id: missing or not a string");
    decode_models_fails(&lx_provider_openai, &cfg, "{\"data\":[{\"id\":\"\"}]}", LLMUX_E_UPSTREAM_PROTOCOL, "data[0].id");
    decode_models_fails(&lx_provider_openai, &cfg, "nope", LLMUX_E_UPSTREAM_PROTOCOL, "invalid JSON");
}

static void test_openrouter_models(void **state) {
    (void)state;
    lx_provider_config cfg = config("openrouter", NULL, "sk-or-test");
    size_t len;
    char *body = load(DATA "openrouter_models.json", &len);
    llmux_model_list *l = decode_models_ok(&lx_provider_openai, &cfg, body, len);
    free(body);
    assert_int_equal(l->n, 4);
    const llmux_model_info *m = &l->models[0];
    assert_model(m, "openrouter/openai/gpt-4o-mini", "OpenAI: GPT-4o-mini", "openrouter", 128000, 16384);
    assert_true(m->input_price == 0.15);
    assert_true(m->output_price == 0.6);
    assert_true(m->cache_read_price == 0.075);
    assert_true(isnan(m->cache_write_price));
    m = &l->models[1];
    assert_model(m, "openrouter/anthropic/claude-sonnet-4.5", "Anthropic: Claude Sonnet 4.5", "openrouter", 1000000,
                 64000);
    assert_true(m->input_price == 3.0);
    assert_true(m->output_price == 15.0);
    assert_true(m->cache_read_price == 0.3);
    assert_true(m->cache_write_price == 3.75);
    m = &l->models[2]; /* "-1": the price varies per request */
    assert_model(m, "openrouter/openrouter/auto", "Auto Router", "openrouter", 2000000, -1);
    assert_no_prices(m);
    m = &l->models[3];
    assert_model(m, "openrouter/meta-llama/llama-3.1-8b-instruct:free", "Meta: Llama 3.1 8B Instruct (free)",
                 "openrouter", 131072, -1);
    assert_true(m->input_price == 0.0 && m->output_price == 0.0);
    llmux_model_list_free(l);
}

static void test_openrouter_price_parsing(void **state) {
    (void)state;
    struct {
        const char *s;
        double want; /* NaN = unknown */
    } k[] = {{"0.00003", 30.0},     {"0.0000025", 2.5},  {"0.00000015", 0.15}, {"1e-6", 1.0},
             {"1.5E-7", 0.15},      {"+0.000001", 1.0},  {"0", 0.0},          {"0.000", 0.0},
             {"3", 3000000.0},      {"00.000002", 2.0},  {".000004", 4.0},    {"0.0000000000001", 1e-7},
             {"-1", NAN},           {"", NAN},           {".", NAN},          {"abc", NAN},
             {"0.1x", NAN},         {"1e", NAN},         {"1e+", NAN},        {"0,00003", NAN},
             {"0.000003 ", NAN},    {"1e400", NAN},      {"1e-400", 0.0}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        json_t *v = json_string(k[i].s);
        double got = lx_openrouter_price_per_million(v);
        json_decref(v);
        if (isnan(k[i].want)) {
            if (!isnan(got)) fprintf(stderr, "\"%s\" -> %.17g, want NaN\n", k[i].s, got);
            assert_true(isnan(got));
        } else {
            if (got != k[i].want) fprintf(stderr, "\"%s\" -> %.17g, want %.17g\n", k[i].s, got, k[i].want);
            assert_true(got == k[i].want);
        }
    }
    /* Many digits still give the right magnitude. */
    json_t *v = json_string("0.0000012345678901234567890123");
    assert_true(fabs(lx_openrouter_price_per_million(v) - 1.2345678901234567) < 1e-12);
    json_decref(v);
    v = json_real(0.000002);
    assert_true(fabs(lx_openrouter_price_per_million(v) - 2.0) < 1e-12);
    json_decref(v);
    v = json_null();
    assert_true(isnan(lx_openrouter_price_per_million(v)));
    json_decref(v);
    assert_true(isnan(lx_openrouter_price_per_million(NULL)));
}

/* --------------------------------------------------------------- anthropic */

static void test_anthropic_models(void **state) {
    (void)state;
    lx_provider_config cfg = config("anthropic", NULL, "sk-ant-test");
    lx_wire_request w;
    wire_init(&w);
    llmux_error_info err;
    assert_int_equal(lx_provider_anthropic.encode_models(&cfg, NULL, &w, &err), LLMUX_OK);
    assert_string_equal(w.method, "GET");
    assert_string_equal(w.path, "/models?limit=1000");
    assert_int_equal(w.body.len, 0);
    bool secret = false;
    assert_string_equal(header(&w, "x-api-key", &secret), "sk-ant-test");
    assert_true(secret);
    assert_string_equal(header(&w, "anthropic-version", NULL), "2023-06-01");
    lx_buf_free(&w.body);

    size_t len;
    char *body = load(DATA "anthropic_models.json", &len);
    llmux_model_list *l = decode_models_ok(&lx_provider_anthropic, &cfg, body, len);
    free(body);
    assert_int_equal(l->n, 2);
    assert_model(&l->models[0], "anthropic/claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "anthropic", 200000, 64000);
    assert_no_prices(&l->models[0]);
    assert_model(&l->models[1], "anthropic/claude-3-5-haiku-20241022", "Claude Haiku 3.5", "anthropic", -1, -1);
    llmux_model_list_free(l);

    decode_models_fails(&lx_provider_anthropic, &cfg, "{\"data\":[{\"type\":\"model\"}]}", LLMUX_E_UPSTREAM_PROTOCOL,
                        "data[0].id");
    const char *eb = "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":\"invalid x-api-key\"}}";
    decode_models_fails(&lx_provider_anthropic, &cfg, eb, LLMUX_E_AUTHENTICATION, "anthropic");
}

/* ------------------------------------------------------------------ gemini */

static void test_gemini_encode_embed(void **state) {
    (void)state;
    lx_provider_config cfg = config("gemini", "gemini-embedding-001", "AIza-test");
    llmux_embed_request req = two_inputs(768, "{\"gemini\":{\"taskType\":\"RETRIEVAL_DOCUMENT\"}}");
    lx_wire_request w;
    wire_init(&w);
    llmux_error_info err;
    assert_int_equal(lx_provider_gemini.encode_embed(&cfg, &req, &w, &err), LLMUX_OK);
    assert_string_equal(w.method, "POST");
    assert_string_equal(w.path, "/models/gemini-embedding-001:batchEmbedContents");
    assert_string_equal(w.body.data,
                        "{\"requests\":["
                        "{\"model\":\"models/gemini-embedding-001\",\"content\":{\"parts\":[{\"text\":\"hello\"}]},"
                        "\"outputDimensionality\":768,\"taskType\":\"RETRIEVAL_DOCUMENT\"},"
                        "{\"model\":\"models/gemini-embedding-001\",\"content\":{\"parts\":[{\"text\":\"world\"}]},"
                        "\"outputDimensionality\":768,\"taskType\":\"RETRIEVAL_DOCUMENT\"}]}");
    bool secret = false;
    assert_string_equal(header(&w, "x-goog-api-key", &secret), "AIza-test");
    assert_true(secret);
    lx_buf_free(&w.body);

    /* "models/" prefix accepted; no dimensions. */
    cfg.model = "models/text-embedding-004";
    req = two_inputs(0, NULL);
    req.n_inputs = 1;
    wire_init(&w);
    assert_int_equal(lx_provider_gemini.encode_embed(&cfg, &req, &w, &err), LLMUX_OK);
    assert_string_equal(w.path, "/models/text-embedding-004:batchEmbedContents");
    assert_string_equal(w.body.data, "{\"requests\":[{\"model\":\"models/text-embedding-004\",\"content\":{\"parts\":"
                                     "[{\"text\":\"hello\"}]}}]}");
    lx_buf_free(&w.body);

    cfg.model = "a/../b";
    wire_init(&w);
    assert_int_equal(lx_provider_gemini.encode_embed(&cfg, &req, &w, &err), LLMUX_E_CONFIGURATION);
    assert_non_null(strstr(err.message, "not a plain model id"));
    lx_buf_free(&w.body);
}

static void test_gemini_decode_embed(void **state) {
    (void)state;
    lx_provider_config cfg = config("gemini", "gemini-embedding-001", NULL);
    size_t len;
    char *body = load(DATA "gemini_embeddings.json", &len);
    llmux_embeddings *e = decode_embed_ok(&lx_provider_gemini, &cfg, body, len);
    free(body);
    assert_int_equal(e->n, 2);
    assert_int_equal(e->dim, 4);
    const float want[] = {0.0123f, -0.5f, 0.75f, 1.0f, -1.0f, 0.25f, 0.0f, 0.0625f};
    for (size_t i = 0; i < 8; i++) assert_true(e->data[i] == want[i]);
    assert_int_equal(e->usage.input_tokens, -1);
    assert_string_equal(e->model, "gemini-embedding-001");
    assert_string_equal(e->provider, "gemini");
    llmux_embeddings_free(e);

    const llmux_status P = LLMUX_E_UPSTREAM_PROTOCOL;
    decode_embed_fails(&lx_provider_gemini, &cfg, "{}", P, "embeddings: missing or not an array");
    decode_embed_fails(&lx_provider_gemini, &cfg, "{\"embeddings\":[]}", P, "no embedding");
    decode_embed_fails(&lx_provider_gemini, &cfg, "{\"embeddings\":[{\"values\":[1,2]},{\"values\":[1,2,3]}]}", P,
                       "embeddings[1].values: 3 values, expected 2");
    decode_embed_fails(&lx_provider_gemini, &cfg, "{\"embeddings\":[{\"values\":[1]},{}]}", P,
                       "embeddings[1].values: missing");
    decode_embed_fails(&lx_provider_gemini, &cfg, "{\"embeddings\":[7]}", P, "embeddings[0].values: missing");
    decode_embed_fails(&lx_provider_gemini, &cfg,
                       "{\"error\":{\"code\":429,\"status\":\"RESOURCE_EXHAUSTED\",\"message\":\"quota\"}}",
                       LLMUX_E_RATE_LIMITED, "gemini");
}

static void test_gemini_models(void **state) {
    (void)state;
    lx_provider_config cfg = config("gemini", NULL, "AIza-test");
    lx_wire_request w;
    wire_init(&w);
    llmux_error_info err;
    assert_int_equal(lx_provider_gemini.encode_models(&cfg, NULL, &w, &err), LLMUX_OK);
    assert_string_equal(w.method, "GET");
    assert_string_equal(w.path, "/models?pageSize=1000");
    assert_string_equal(header(&w, "x-goog-api-key", NULL), "AIza-test");
    lx_buf_free(&w.body);

    size_t len;
    char *body = load(DATA "gemini_models.json", &len);
    llmux_model_list *l = decode_models_ok(&lx_provider_gemini, &cfg, body, len);
    free(body);
    assert_int_equal(l->n, 2);
    assert_model(&l->models[0], "gemini/gemini-2.5-flash", "Gemini 2.5 Flash", "gemini", 1048576, 65536);
    assert_no_prices(&l->models[0]);
    assert_model(&l->models[1], "gemini/gemini-embedding-001", "Gemini Embedding 001", "gemini", 2048, 1);
    llmux_model_list_free(l);

    l = decode_models_ok(&lx_provider_gemini, &cfg, "{}", 2); /* proto3: an empty list is left out */
    assert_int_equal(l->n, 0);
    llmux_model_list_free(l);
    decode_models_fails(&lx_provider_gemini, &cfg, "{\"models\":3}", LLMUX_E_UPSTREAM_PROTOCOL, "models: not an array");
    decode_models_fails(&lx_provider_gemini, &cfg, "{\"models\":[{\"displayName\":\"x\"}]}", LLMUX_E_UPSTREAM_PROTOCOL,
                        "models[0].name");
}

/* ------------------------------------------------------------------ ollama */

static void test_ollama(void **state) {
    (void)state;
    lx_provider_config cfg = config("ollama", "nomic-embed-text", NULL);
    llmux_embed_request req = two_inputs(512, "{\"ollama\":{\"truncate\":false,\"keep_alive\":\"5m\"}}");
    lx_wire_request w;
    wire_init(&w);
    llmux_error_info err;
    assert_int_equal(lx_provider_ollama.encode_embed(&cfg, &req, &w, &err), LLMUX_OK);
    assert_string_equal(w.method, "POST");
    assert_string_equal(w.path, "/api/embed");
    assert_string_equal(w.body.data, "{\"model\":\"nomic-embed-text\",\"input\":[\"hello\",\"world\"],\"dimensions\":512,"
                                     "\"truncate\":false,\"keep_alive\":\"5m\"}");
    assert_null(header(&w, "Authorization", NULL));
    lx_buf_free(&w.body);

    size_t len;
    char *body = load(DATA "ollama_embed.json", &len);
    llmux_embeddings *e = decode_embed_ok(&lx_provider_ollama, &cfg, body, len);
    free(body);
    assert_int_equal(e->n, 2);
    assert_int_equal(e->dim, 3);
    const float want[] = {0.010071029f, -0.0017594862f, 0.05007221f, -0.0098027075f, 0.06042469f, 0.025154211f};
    for (size_t i = 0; i < 6; i++) assert_true(e->data[i] == want[i]);
    assert_int_equal(e->usage.input_tokens, 8);
    assert_string_equal(e->model, "nomic-embed-text");
    assert_string_equal(e->provider, "ollama");
    llmux_embeddings_free(e);

    const llmux_status P = LLMUX_E_UPSTREAM_PROTOCOL;
    decode_embed_fails(&lx_provider_ollama, &cfg, "{\"embeddings\":[[1,2],[3]]}", P,
                       "embeddings[1]: 1 values, expected 2 like the first vector");
    decode_embed_fails(&lx_provider_ollama, &cfg, "{\"embeddings\":[[1,2],{}]}", P, "embeddings[1]: missing");
    decode_embed_fails(&lx_provider_ollama, &cfg, "{\"embedding\":[1,2]}", P, "embeddings: missing");
    decode_embed_fails(&lx_provider_ollama, &cfg, "{\"error\":\"model not loaded\"}", LLMUX_E_UPSTREAM_SERVER, "ollama");

    wire_init(&w);
    assert_int_equal(lx_provider_ollama.encode_models(&cfg, NULL, &w, &err), LLMUX_OK);
    assert_string_equal(w.method, "GET");
    assert_string_equal(w.path, "/api/tags");
    lx_buf_free(&w.body);
    body = load(DATA "ollama_tags.json", &len);
    llmux_model_list *l = decode_models_ok(&lx_provider_ollama, &cfg, body, len);
    free(body);
    assert_int_equal(l->n, 2);
    assert_model(&l->models[0], "ollama/llama3.2:latest", NULL, "ollama", -1, -1);
    assert_model(&l->models[1], "ollama/nomic-embed-text:latest", NULL, "ollama", -1, -1);
    assert_no_prices(&l->models[1]);
    llmux_model_list_free(l);
    decode_models_fails(&lx_provider_ollama, &cfg, "{\"models\":[{}]}", P, "models[0].name");
    decode_models_fails(&lx_provider_ollama, &cfg, "{}", P, "models: missing");
}

static void test_models_cap(void **state) {
    (void)state;
    lx_buf b;
    lx_buf_init(&b, 1u << 24);
    assert_true(lx_buf_append_str(&b, "{\"models\":["));
    for (unsigned i = 0; i <= LX_MODELS_MAX; i++) assert_true(lx_buf_printf(&b, "%s{\"name\":\"m%u\"}", i ? "," : "", i));
    assert_true(lx_buf_append_str(&b, "]}"));
    lx_provider_config cfg = config("ollama", NULL, NULL);
    decode_models_fails(&lx_provider_ollama, &cfg, b.data, LLMUX_E_UPSTREAM_PROTOCOL, "more than 20000 models");
    lx_buf_free(&b);
}

/* ------------------------------------------------ shared recorded fixtures */

static llmux_model_list *shared_page(const lx_provider *p, const char *name, const char *path, const char *want_next) {
    size_t len;
    char *body = load_or_skip(path, &len);
    lx_provider_config cfg = config(name, NULL, NULL);
    llmux_model_list *l = decode_page_ok(p, &cfg, body, len, want_next);
    free(body);
    return l;
}

static llmux_model_list *shared(const lx_provider *p, const char *name, const char *path) {
    return shared_page(p, name, path, "");
}

static void test_shared_openai(void **state) {
    (void)state;
    llmux_model_list *l = shared(&lx_provider_openai, "openai", FIX "openai_chat/models_list.json");
    assert_int_equal(l->n, 3);
    assert_model(&l->models[0], "openai/model-id-0", NULL, "openai", -1, -1);
    assert_model(&l->models[2], "openai/model-id-2", NULL, "openai", -1, -1);
    llmux_model_list_free(l);
}

static void test_shared_openrouter(void **state) {
    (void)state;
    llmux_model_list *l = shared(&lx_provider_openai, "openrouter", FIX "openrouter/models_list.json");
    assert_int_equal(l->n, 1);
    assert_model(&l->models[0], "openrouter/openai/gpt-4", "GPT-4", "openrouter", 8192, 4096);
    assert_true(l->models[0].input_price == 30.0);
    assert_true(l->models[0].output_price == 60.0);
    assert_true(isnan(l->models[0].cache_read_price));
    llmux_model_list_free(l);
}

static void test_shared_anthropic(void **state) {
    (void)state;
    llmux_model_list *l = shared(&lx_provider_anthropic, "anthropic", FIX "anthropic_messages/models_list.json");
    assert_int_equal(l->n, 2);
    assert_model(&l->models[0], "anthropic/claude-opus-4-6", "Claude Opus 4.6", "anthropic", 200000, 128000);
    assert_model(&l->models[1], "anthropic/claude-haiku-4-5-20251001", "Claude Haiku 4.5", "anthropic", -1, -1);
    llmux_model_list_free(l);
}

static void test_shared_gemini(void **state) {
    (void)state;
    llmux_model_list *l = shared_page(&lx_provider_gemini, "gemini", FIX "gemini/models_list.json",
                                     "Chltb2RlbHMvZ2VtaW5pLWVtYmVkZGluZy0wMDE=");
    assert_int_equal(l->n, 2);
    assert_model(&l->models[0], "gemini/gemini-2.5-flash", "Gemini 2.5 Flash", "gemini", 1048576, 65536);
    assert_model(&l->models[1], "gemini/gemini-embedding-001", "Gemini Embedding 001", "gemini", 2048, 1);
    llmux_model_list_free(l);
}

static void test_shared_ollama(void **state) {
    (void)state;
    llmux_model_list *l = shared(&lx_provider_ollama, "ollama", FIX "ollama/models_list.json");
    assert_int_equal(l->n, 2);
    assert_model(&l->models[0], "ollama/deepseek-r1:latest", NULL, "ollama", -1, -1);
    assert_model(&l->models[1], "ollama/llama3.2:latest", NULL, "ollama", -1, -1);
    llmux_model_list_free(l);
    l = shared(&lx_provider_ollama, "ollama", FIX "ollama/models_list_openapi.json");
    assert_int_equal(l->n, 1);
    assert_string_equal(l->models[0].id, "ollama/gemma4");
    llmux_model_list_free(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builders),
        cmocka_unit_test(test_openai_encode_embed),
        cmocka_unit_test(test_embed_request_errors),
        cmocka_unit_test(test_openai_decode_embed),
        cmocka_unit_test(test_openai_decode_embed_malformed),
        cmocka_unit_test(test_embed_caps),
        cmocka_unit_test(test_openai_models),
        cmocka_unit_test(test_openrouter_models),
        cmocka_unit_test(test_openrouter_price_parsing),
        cmocka_unit_test(test_anthropic_models),
        cmocka_unit_test(test_gemini_encode_embed),
        cmocka_unit_test(test_gemini_decode_embed),
        cmocka_unit_test(test_gemini_models),
        cmocka_unit_test(test_ollama),
        cmocka_unit_test(test_models_cap),
        cmocka_unit_test(test_shared_openai),
        cmocka_unit_test(test_shared_openrouter),
        cmocka_unit_test(test_shared_anthropic),
        cmocka_unit_test(test_shared_gemini),
        cmocka_unit_test(test_shared_ollama),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
