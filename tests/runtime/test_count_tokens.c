/* llmux_count_tokens through the public API on the bundled model: the count equals the
 * input_tokens llmux_run reports for the same request (system prompt, several turns, a tool
 * call and its result), also for a raw prompt (provider_options local.raw_prompt: no chat
 * template), counting while the model generates on
 * another thread works (the count queues on the engine thread), and the refusals: remote models,
 * an invalid request, a missing model, NULL arguments, a triggered cancel token, a prompt past the
 * context. */
#define _DEFAULT_SOURCE
#include <limits.h>
#include <pthread.h>
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
#include "support/model_dir.h"

#define LOCAL BUNDLED_MODEL_SPEC

static llmux_runtime *make_runtime(void) {
    local_rt l;
    local_rt_init(&l, BUNDLED_MODEL_DIR, 2, 256);
    return local_rt_create(&l);
}

static const llmux_part k_hello[] = {{.type = LLMUX_PART_TEXT, .text = "Hello there, how are you?"}};
static const llmux_part k_call[] = {{.type = LLMUX_PART_TOOL_CALL, .id = "c1", .name = "get_time", .arguments = "{}"}};
static const llmux_part k_result[] = {{.type = LLMUX_PART_TOOL_RESULT, .id = "c1", .text = "noon"}};
static const llmux_part k_again[] = {{.type = LLMUX_PART_TEXT, .text = "Thanks. And tomorrow?"}};
static const llmux_message k_msgs[] = {
    {.role = LLMUX_ROLE_USER, .parts = k_hello, .n_parts = 1},
    {.role = LLMUX_ROLE_ASSISTANT, .parts = k_call, .n_parts = 1},
    {.role = LLMUX_ROLE_TOOL, .parts = k_result, .n_parts = 1},
    {.role = LLMUX_ROLE_USER, .parts = k_again, .n_parts = 1},
};

static llmux_request conversation(size_t n_messages) {
    llmux_request r = llmux_request_default();
    r.model = LOCAL;
    r.system = "Be brief.";
    r.messages = k_msgs;
    r.n_messages = n_messages;
    r.sampling.max_tokens = 2;
    return r;
}

static void test_count_equals_run(void **state) {
    llmux_runtime *rt = make_runtime();
    llmux_error_info err;
    for (size_t n = 1; n <= 4; n += 3) {
        llmux_request req = conversation(n);
        int64_t count = -1;
        llmux_status st = llmux_count_tokens(rt, &req, NULL, &count, &err);
        if (st != LLMUX_OK) fprintf(stderr, "%s\n", err.message);
        assert_int_equal(st, LLMUX_OK);
        llmux_response *resp = NULL;
        assert_int_equal(llmux_run(rt, &req, NULL, &resp, &err), LLMUX_OK);
        fprintf(stderr, "%zu messages: counted %lld, run reports %lld input tokens\n", n, (long long)count,
                (long long)resp->usage.input_tokens);
        assert_int_equal(count, resp->usage.input_tokens);
        llmux_response_free(resp);
    }
    llmux_runtime_destroy(rt);
}

typedef struct gen_arg {
    llmux_runtime *rt;
    llmux_status st;
} gen_arg;

static void *generate(void *arg) {
    gen_arg *g = arg;
    llmux_request req = conversation(1);
    req.sampling.max_tokens = 48;
    llmux_response *resp = NULL;
    llmux_error_info err;
    g->st = llmux_run(g->rt, &req, NULL, &resp, &err);
    llmux_response_free(resp);
    return NULL;
}

/* provider_options {"local": {"raw_prompt": true}}: no chat template, fewer tokens, and the
 * generation reports the same count. */
static void test_raw_prompt(void **state) {
    /* A model with a chat template (the bundled one has none: its prompts are raw already). */
    char dir[PATH_MAX], path[PATH_MAX + 16];
    assert_int_equal(model_dir_create("llmux-count", dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/chatml.gguf", dir);
    assert_int_equal(gguf_gen(path, "--arch llama --n-layer 1 --n-embd 32 --n-head 2 --n-ff 64 --ctx 256 --type f16 "
                                    "--chat-template chatml"),
                     0);
    local_rt l;
    local_rt_init(&l, dir, 2, 256);
    llmux_runtime *rt = local_rt_create(&l);
    llmux_request req = conversation(1);
    req.model = "local/chatml";
    req.system = NULL;
    int64_t templated = 0, raw = 0;
    llmux_error_info err;
    assert_int_equal(llmux_count_tokens(rt, &req, NULL, &templated, &err), LLMUX_OK);
    req.provider_options = "{\"local\":{\"raw_prompt\":true}}";
    assert_int_equal(llmux_count_tokens(rt, &req, NULL, &raw, &err), LLMUX_OK);
    fprintf(stderr, "raw %lld tokens, templated %lld\n", (long long)raw, (long long)templated);
    assert_true(raw > 0 && raw < templated);
    llmux_response *resp = NULL;
    assert_int_equal(llmux_run(rt, &req, NULL, &resp, &err), LLMUX_OK);
    assert_int_equal(resp->usage.input_tokens, raw);
    llmux_response_free(resp);
    llmux_runtime_destroy(rt);
    assert_int_equal(model_dir_remove(dir), 0);
}

static void test_count_while_generating(void **state) {
    llmux_runtime *rt = make_runtime();
    llmux_request req = conversation(4);
    int64_t before = 0, during = 0;
    llmux_error_info err;
    assert_int_equal(llmux_count_tokens(rt, &req, NULL, &before, &err), LLMUX_OK);
    gen_arg g = {.rt = rt};
    pthread_t t;
    pthread_create(&t, NULL, generate, &g);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(llmux_count_tokens(rt, &req, NULL, &during, &err), LLMUX_OK);
        assert_int_equal(during, before);
    }
    pthread_join(t, NULL);
    assert_int_equal(g.st, LLMUX_OK);
    llmux_runtime_destroy(rt);
}

static void test_refusals(void **state) {
    llmux_runtime *rt = make_runtime();
    llmux_error_info err;
    int64_t n = 99;
    llmux_request req = conversation(1);
    /* Ollama's API has no counting endpoint (and needs no key, so resolution gets that far). */
    req.model = "ollama/llama3";
    assert_int_equal(llmux_count_tokens(rt, &req, NULL, &n, &err), LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(err.message, "no token counting endpoint"));
    assert_int_equal(n, 0);
    req.model = NULL;
    assert_int_equal(llmux_count_tokens(rt, &req, NULL, &n, &err), LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(err.message, "model"));
    req.model = "local/nope";
    assert_int_equal(llmux_count_tokens(rt, &req, NULL, &n, &err), LLMUX_E_MODEL_NOT_FOUND);
    req = conversation(1);
    req.sampling.top_p = 7;
    assert_int_equal(llmux_count_tokens(rt, &req, NULL, &n, &err), LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(err.message, "top_p"));
    req = conversation(1);
    assert_int_equal(llmux_count_tokens(rt, NULL, NULL, &n, &err), LLMUX_E_INVALID_REQUEST);
    assert_int_equal(llmux_count_tokens(rt, &req, NULL, NULL, &err), LLMUX_E_INVALID_REQUEST);
    llmux_cancel *c = llmux_cancel_create();
    llmux_cancel_trigger(c);
    llmux_call_params cp = llmux_call_default_params();
    cp.cancel = c;
    assert_int_equal(llmux_count_tokens(rt, &req, &cp, &n, &err), LLMUX_E_CANCELLED);
    llmux_cancel_destroy(c);
    /* Past the context (256 tokens). */
    char *big = malloc(8000);
    size_t k = 0;
    for (int i = 0; i < 1000; i++) k += (size_t)sprintf(big + k, "word ");
    llmux_part p = {.type = LLMUX_PART_TEXT, .text = big};
    llmux_message m = {.role = LLMUX_ROLE_USER, .parts = &p, .n_parts = 1};
    req.messages = &m;
    req.n_messages = 1;
    assert_int_equal(llmux_count_tokens(rt, &req, NULL, &n, &err), LLMUX_E_CONTEXT_LENGTH);
    assert_non_null(strstr(err.message, "tokens"));
    free(big);
    llmux_runtime_destroy(rt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_equals_run),
        cmocka_unit_test(test_raw_prompt),
        cmocka_unit_test(test_count_while_generating),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
