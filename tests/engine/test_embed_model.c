/* Embedding models (tools/gguf_gen --embedding: llama.cpp's BERT with the pooling type in its
 * metadata) in the local engine: lx_model_embed pools as the metadata says — each of mean, CLS
 * and last checked against a reference computed here from llama.cpp's per-token hidden states
 * (the same weights loaded with pooling none) — and returns unit-length vectors, bit-identical
 * for the same text alone, repeated and among other texts; different texts differ; such a model
 * refuses to generate; a text longer than its context is refused; the bundled generative model
 * (no pooling metadata) still mean-pools. */
#define _XOPEN_SOURCE 700
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "llama.h"
#include "support/model_dir.h"

#define TEXT "the quick brown fox jumps over the lazy dog"

static char g_dir[PATH_MAX];
static char g_mean[PATH_MAX], g_cls[PATH_MAX], g_last[PATH_MAX];

static lx_model *load(const char *path) {
    lx_model_params mp = lx_model_default_params();
    mp.path = path;
    mp.n_threads = 2;
    lx_model *m = NULL;
    llmux_error_info err;
    llmux_status st = lx_model_load(&mp, &m, &err);
    if (st != LLMUX_OK) fprintf(stderr, "%s\n", err.message);
    assert_int_equal(st, LLMUX_OK);
    return m;
}

static float *embed(lx_model *m, const char *const *texts, size_t n) {
    float *out = calloc(n * (size_t)lx_model_n_embd(m), sizeof(float));
    int64_t n_tokens = 0;
    llmux_error_info err;
    llmux_status st = lx_model_embed(m, texts, n, NULL, 0, out, &n_tokens, &err);
    if (st != LLMUX_OK) fprintf(stderr, "%s\n", err.message);
    assert_int_equal(st, LLMUX_OK);
    assert_true(n_tokens > 0);
    return out;
}

/* The reference: llama.cpp's own per-token hidden states of TEXT (pooling none on the same file),
 * pooled by hand as `pooling` says and L2-normalized, into ref (n_embd floats). */
static void reference(const char *path, enum llama_pooling_type pooling, float *ref, int32_t n_embd) {
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *model = llama_model_load_from_file(path, mp);
    assert_non_null(model);
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 256;
    cp.n_batch = cp.n_ubatch = 256;
    cp.embeddings = true;
    cp.pooling_type = LLAMA_POOLING_TYPE_NONE;
    cp.n_threads = cp.n_threads_batch = 2;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    assert_non_null(ctx);
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    llama_token tokens[256];
    int32_t k = llama_tokenize(vocab, TEXT, (int32_t)strlen(TEXT), tokens, 256, true, false);
    assert_true(k > 2);
    struct llama_batch b = llama_batch_init(k, 0, 1);
    for (int32_t i = 0; i < k; i++) {
        b.token[i] = tokens[i];
        b.pos[i] = i;
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = 0;
        b.logits[i] = 1;
    }
    b.n_tokens = k;
    assert_int_equal(llama_decode(ctx, b), 0);
    double acc[4096] = {0};
    assert_true(n_embd <= 4096);
    for (int32_t i = 0; i < k; i++) {
        bool take = pooling == LLAMA_POOLING_TYPE_MEAN || (pooling == LLAMA_POOLING_TYPE_CLS && i == 0) ||
                    (pooling == LLAMA_POOLING_TYPE_LAST && i == k - 1);
        if (!take) continue;
        const float *e = llama_get_embeddings_ith(ctx, i);
        assert_non_null(e);
        for (int32_t d = 0; d < n_embd; d++) acc[d] += e[d];
    }
    double norm = 0;
    for (int32_t d = 0; d < n_embd; d++) norm += acc[d] * acc[d];
    norm = sqrt(norm);
    for (int32_t d = 0; d < n_embd; d++) ref[d] = (float)(acc[d] / norm);
    llama_batch_free(b);
    llama_free(ctx);
    llama_model_free(model);
}

static double max_diff(const float *a, const float *b, int32_t n) {
    double m = 0;
    for (int32_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static void check_pooling(const char *path, enum llama_pooling_type pooling) {
    lx_model *m = load(path);
    assert_true(lx_model_is_embedding_only(m));
    int32_t dim = lx_model_n_embd(m);
    assert_int_equal(dim, 64);
    const char *in[] = {TEXT};
    float *v = embed(m, in, 1);
    float ref[64];
    reference(path, pooling, ref, dim);
    double diff = max_diff(v, ref, dim);
    if (diff >= 1e-4) fprintf(stderr, "pooling %d: max difference %g\n", (int)pooling, diff);
    assert_true(diff < 1e-4);
    free(v);
    lx_model_free(m);
}

static void test_mean_pooling_from_metadata(void **state) {
    (void)state;
    check_pooling(g_mean, LLAMA_POOLING_TYPE_MEAN);
}

static void test_cls_pooling_from_metadata(void **state) {
    (void)state;
    check_pooling(g_cls, LLAMA_POOLING_TYPE_CLS);
}

static void test_last_pooling_from_metadata(void **state) {
    (void)state;
    check_pooling(g_last, LLAMA_POOLING_TYPE_LAST);
}

/* The three files hold the same weights: only the pooling differs, and so do the vectors. */
static void test_poolings_differ(void **state) {
    (void)state;
    const char *in[] = {TEXT};
    lx_model *a = load(g_mean), *b = load(g_cls), *c = load(g_last);
    float *va = embed(a, in, 1), *vb = embed(b, in, 1), *vc = embed(c, in, 1);
    assert_true(max_diff(va, vb, 64) > 1e-3);
    assert_true(max_diff(va, vc, 64) > 1e-3);
    assert_true(max_diff(vb, vc, 64) > 1e-3);
    free(va);
    free(vb);
    free(vc);
    lx_model_free(a);
    lx_model_free(b);
    lx_model_free(c);
}

static void test_deterministic_normalized(void **state) {
    (void)state;
    lx_model *m = load(g_mean);
    int32_t dim = lx_model_n_embd(m);
    const char *batch[] = {"alpha beta", TEXT, "a rather different sentence about taxes", TEXT};
    const char *alone[] = {TEXT};
    float *v = embed(m, batch, 4);
    float *w = embed(m, alone, 1);
    float *x = embed(m, alone, 1);
    for (int i = 0; i < 4; i++) {
        double norm = 0;
        for (int32_t d = 0; d < dim; d++) {
            assert_true(isfinite(v[i * dim + d]));
            norm += (double)v[i * dim + d] * v[i * dim + d];
        }
        assert_true(fabs(sqrt(norm) - 1.0) < 1e-5);
    }
    assert_memory_equal(v + dim, v + 3 * dim, (size_t)dim * sizeof(float));
    assert_memory_equal(v + dim, w, (size_t)dim * sizeof(float));
    assert_memory_equal(w, x, (size_t)dim * sizeof(float));
    assert_true(max_diff(v, v + dim, dim) > 1e-3);
    assert_true(max_diff(v + dim, v + 2 * dim, dim) > 1e-3);
    free(v);
    free(w);
    free(x);
    lx_model_free(m);
}

static bool sink(void *ud, const llmux_event *ev) {
    (void)ud;
    (void)ev;
    return true;
}

static void test_refuses_generation_and_long_text(void **state) {
    (void)state;
    lx_model *m = load(g_mean);
    llmux_part part = {.type = LLMUX_PART_TEXT, .text = "hello"};
    llmux_message msg = {LLMUX_ROLE_USER, &part, 1, NULL};
    llmux_request req = llmux_request_default();
    req.messages = &msg;
    req.n_messages = 1;
    lx_gen_stats stats;
    llmux_error_info err;
    assert_int_equal(lx_model_generate(m, &req, NULL, 0, (lx_event_sink){sink, NULL}, &stats, &err),
                     LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(err.message, "embedding model"));
    char long_text[400];
    memset(long_text, 'x', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    const char *in[] = {"short", long_text};
    float out[2 * 64];
    int64_t n_tokens = -1;
    assert_int_equal(lx_model_embed(m, in, 2, NULL, 0, out, &n_tokens, &err), LLMUX_E_CONTEXT_LENGTH);
    assert_non_null(strstr(err.message, "input[1]"));
    assert_int_equal(n_tokens, 0);
    /* Still usable afterwards. */
    const char *ok[] = {TEXT};
    free(embed(m, ok, 1));
    lx_model_free(m);
}

/* A generative model has no pooling metadata: its hidden states are mean-pooled, as before. */
static void test_generative_model_mean_pools(void **state) {
    (void)state;
    const char *path = LLMUX_SOURCE_DIR "/models/llmux-fortunes.gguf";
    lx_model *m = load(path);
    assert_false(lx_model_is_embedding_only(m));
    int32_t dim = lx_model_n_embd(m);
    const char *in[] = {TEXT};
    float *v = embed(m, in, 1);
    float *ref = calloc((size_t)dim, sizeof(float));
    reference(path, LLAMA_POOLING_TYPE_MEAN, ref, dim);
    assert_true(max_diff(v, ref, dim) < 1e-4);
    free(ref);
    free(v);
    lx_model_free(m);
}

static int gen(const char *out, const char *pooling) {
    return gguf_gen(out, "--embedding --pooling %s --n-layer 2 --n-embd 64 --n-head 4 --n-ff 128 --ctx 256 --type f32 "
                         "--seed 11",
                    pooling);
}

static int setup(void **state) {
    (void)state;
    if (model_dir_create("llmux-embed-model", g_dir, sizeof g_dir)) return -1;
    snprintf(g_mean, sizeof g_mean, "%s/mean.gguf", g_dir);
    snprintf(g_cls, sizeof g_cls, "%s/cls.gguf", g_dir);
    snprintf(g_last, sizeof g_last, "%s/last.gguf", g_dir);
    llama_backend_init();
    return gen(g_mean, "mean") || gen(g_cls, "cls") || gen(g_last, "last") ? -1 : 0;
}

static int teardown(void **state) {
    (void)state;
    return model_dir_remove(g_dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mean_pooling_from_metadata),
        cmocka_unit_test(test_cls_pooling_from_metadata),
        cmocka_unit_test(test_last_pooling_from_metadata),
        cmocka_unit_test(test_poolings_differ),
        cmocka_unit_test(test_deterministic_normalized),
        cmocka_unit_test(test_refuses_generation_and_long_text),
        cmocka_unit_test(test_generative_model_mean_pools),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
