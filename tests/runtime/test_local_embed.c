/* llmux_embed on a local model (the bundled GGUF): one unit-length vector of the model's hidden
 * size per input, in input order, deterministic (the same text gives the same vector, also after a
 * generation used the context and when batched with other inputs), different texts give different
 * vectors, usage counts the tokens, a generation after embedding is unchanged (the prompt cache was
 * dropped correctly), and the refusals: dimensions other than the model's, an input past the
 * context, a triggered cancel token, an unknown local model. */
#define _DEFAULT_SOURCE
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
#include "support/local_runtime.h"

#define LOCAL BUNDLED_MODEL_SPEC

static llmux_runtime *make_runtime(void) {
    local_rt l;
    local_rt_init(&l, BUNDLED_MODEL_DIR, 2, 256);
    return local_rt_create(&l);
}

static llmux_embeddings *embed(llmux_runtime *rt, const char *const *in, size_t n) {
    llmux_embed_request req = llmux_embed_request_default();
    req.model = LOCAL;
    req.inputs = in;
    req.n_inputs = n;
    llmux_embeddings *e = NULL;
    llmux_error_info err;
    llmux_status st = llmux_embed(rt, &req, NULL, &e, &err);
    if (st != LLMUX_OK) fprintf(stderr, "%s\n", err.message);
    assert_int_equal(st, LLMUX_OK);
    return e;
}

static char *generate(llmux_runtime *rt) {
    llmux_request req = llmux_request_default();
    llmux_part p = {.type = LLMUX_PART_TEXT, .text = "Tell me a fortune"};
    llmux_message m = {.role = LLMUX_ROLE_USER, .parts = &p, .n_parts = 1};
    req.model = LOCAL;
    req.messages = &m;
    req.n_messages = 1;
    req.sampling.max_tokens = 12;
    req.sampling.temperature = 0;
    llmux_response *resp = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_run(rt, &req, NULL, &resp, &err), LLMUX_OK);
    char *t = strdup(llmux_response_text(resp));
    llmux_response_free(resp);
    return t;
}

static void test_vectors(void **state) {
    llmux_runtime *rt = make_runtime();
    char *before = generate(rt);
    const char *in[] = {"the quick brown fox", "a completely different sentence about taxes", "the quick brown fox"};
    llmux_embeddings *e = embed(rt, in, 3);
    assert_int_equal(e->n, 3);
    assert_true(e->dim >= 8);
    assert_string_equal(e->provider, "local");
    assert_true(e->usage.input_tokens >= 6);
    for (size_t i = 0; i < 3; i++) {
        double norm = 0;
        for (size_t d = 0; d < e->dim; d++) {
            float v = e->data[i * e->dim + d];
            assert_true(isfinite(v));
            norm += (double)v * v;
        }
        assert_true(fabs(sqrt(norm) - 1.0) < 1e-4);
    }
    /* Same text, same vector; different text, a different one. */
    assert_memory_equal(e->data, e->data + 2 * e->dim, e->dim * sizeof(float));
    double dot = 0;
    for (size_t d = 0; d < e->dim; d++) dot += (double)e->data[d] * e->data[e->dim + d];
    assert_true(dot < 0.9999);
    /* Alone, after a generation, it is still the same vector. */
    char *mid = generate(rt);
    llmux_embeddings *one = embed(rt, in, 1);
    assert_int_equal(one->dim, e->dim);
    for (size_t d = 0; d < e->dim; d++) assert_true(fabsf(one->data[d] - e->data[d]) < 1e-5f);
    /* Generation after embedding is what it was before. */
    char *after = generate(rt);
    assert_string_equal(before, mid);
    assert_string_equal(before, after);
    free(before);
    free(mid);
    free(after);
    llmux_embeddings_free(one);
    llmux_embeddings_free(e);
    llmux_runtime_destroy(rt);
}

static void test_refusals(void **state) {
    llmux_runtime *rt = make_runtime();
    const char *in[] = {"hello"};
    llmux_embed_request req = llmux_embed_request_default();
    req.model = LOCAL;
    req.inputs = in;
    req.n_inputs = 1;
    req.dimensions = 3;
    llmux_embeddings *e = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_embed(rt, &req, NULL, &e, &err), LLMUX_E_INVALID_REQUEST);
    assert_null(e);
    assert_non_null(strstr(err.message, "dimensions"));
    req.dimensions = 0;
    char *big = malloc(8000);
    size_t k = 0;
    for (int i = 0; i < 1000; i++) k += (size_t)sprintf(big + k, "word ");
    const char *bigs[] = {"fine", big};
    req.inputs = bigs;
    req.n_inputs = 2;
    assert_int_equal(llmux_embed(rt, &req, NULL, &e, &err), LLMUX_E_CONTEXT_LENGTH);
    assert_non_null(strstr(err.message, "input[1]"));
    free(big);
    req.inputs = in;
    req.n_inputs = 1;
    llmux_cancel *c = llmux_cancel_create();
    llmux_cancel_trigger(c);
    llmux_call_params cp = llmux_call_default_params();
    cp.cancel = c;
    assert_int_equal(llmux_embed(rt, &req, &cp, &e, &err), LLMUX_E_CANCELLED);
    llmux_cancel_destroy(c);
    req.model = "local/nope";
    assert_int_equal(llmux_embed(rt, &req, NULL, &e, &err), LLMUX_E_MODEL_NOT_FOUND);
    llmux_runtime_destroy(rt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
