/* `llmux models` and `llmux embed` end to end: the binary against the fake provider server
 * (exact stdout, the wire request it sent, exit codes and messages on failure). */
#define _XOPEN_SOURCE 700
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/cli_run.h"
#include <jansson.h>

#include "llmux.h"
#include "support/fake_server.h"

#define LLMUX LLMUX_TEST_BIN_DIR "/llmux"
#define DATA "tests/data/embed/"

#define run cli_run

static int setup(void **state) {
    (void)state;
    return cli_scratch_create("llmux-cli-embed-models");
}

static int teardown(void **state) {
    (void)state;
    return cli_scratch_remove();
}

static void push(lx_fake_server *s, const char *path, int status, const char *body, const char *file) {
    lx_fake_response r;
    memset(&r, 0, sizeof r);
    r.path_prefix = path;
    r.status = status;
    r.body = body;
    r.body_file = file;
    r.headers = "Content-Type: application/json\r\n";
    assert_true(lx_fake_server_push(s, &r));
}

static void test_models_openrouter(void **state) {
    (void)state;
    lx_fake_server *s = lx_fake_server_start();
    assert_non_null(s);
    char url[128], cmd[1024];
    lx_fake_server_url(s, "/api/v1", url, sizeof url);
    push(s, "/api/v1/models", 200, NULL, DATA "openrouter_models.json");
    snprintf(cmd, sizeof cmd, LLMUX " models openrouter --base-url %s --api-key k", url);
    cli_result r;
    run(cmd, &r);
    if (r.code != 0) fprintf(stderr, "%s", r.err);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out,
                        "openrouter/openai/gpt-4o-mini\tcontext=128000\tmax_output=16384\tinput=$0.15/M\toutput=$0.6/M"
                        "\tcache_read=$0.075/M\n"
                        "openrouter/anthropic/claude-sonnet-4.5\tcontext=1000000\tmax_output=64000\tinput=$3/M"
                        "\toutput=$15/M\tcache_read=$0.3/M\tcache_write=$3.75/M\n"
                        "openrouter/openrouter/auto\tcontext=2000000\n"
                        "openrouter/meta-llama/llama-3.1-8b-instruct:free\tcontext=131072\tinput=$0/M\toutput=$0/M\n");
    lx_fake_request rq;
    assert_true(lx_fake_server_request(s, 0, &rq));
    assert_string_equal(rq.method, "GET");
    assert_string_equal(rq.path, "/api/v1/models");
    char v[256];
    assert_true(lx_fake_request_header(&rq, "authorization", v, sizeof v));
    assert_string_equal(v, "Bearer k");
    free(rq.body);

    /* --json: an array of objects, null for what is unknown. */
    push(s, "/api/v1/models", 200, NULL, DATA "openrouter_models.json");
    snprintf(cmd, sizeof cmd, LLMUX " models --json openrouter --base-url %s --api-key k", url);
    run(cmd, &r);
    assert_int_equal(r.code, 0);
    json_error_t je;
    json_t *j = json_loads(r.out, 0, &je);
    assert_non_null(j);
    assert_int_equal(json_array_size(j), 4);
    json_t *m = json_array_get(j, 1);
    assert_string_equal(json_string_value(json_object_get(m, "id")), "openrouter/anthropic/claude-sonnet-4.5");
    assert_string_equal(json_string_value(json_object_get(m, "name")), "Anthropic: Claude Sonnet 4.5");
    assert_string_equal(json_string_value(json_object_get(m, "provider")), "openrouter");
    assert_int_equal(json_integer_value(json_object_get(m, "context_length")), 1000000);
    assert_int_equal(json_integer_value(json_object_get(m, "max_output_tokens")), 64000);
    assert_true(json_number_value(json_object_get(m, "input_price")) == 3.0);
    assert_true(json_number_value(json_object_get(m, "cache_write_price")) == 3.75);
    m = json_array_get(j, 2);
    assert_true(json_is_null(json_object_get(m, "input_price")));
    assert_true(json_is_null(json_object_get(m, "max_output_tokens")));
    json_decref(j);

    /* A failure: the class in the message and in the exit code (10 + status); the key never shows. */
    push(s, "/api/v1/models", 401, "{\"error\":{\"code\":401,\"message\":\"bad key sk-or-v1-secret0123456789\"}}", NULL);
    snprintf(cmd, sizeof cmd, LLMUX " models openrouter --base-url %s --api-key sk-or-v1-secret0123456789", url);
    run(cmd, &r);
    assert_int_equal(r.code, 10 + LLMUX_E_AUTHENTICATION);
    assert_string_equal(r.out, "");
    assert_non_null(strstr(r.err, "llmux: authentication: "));
    assert_null(strstr(r.err, "secret0123456789"));
    assert_int_equal(lx_fake_server_mismatches(s), 0);
    lx_fake_server_stop(s);

    run(LLMUX " models", &r);
    assert_int_equal(r.code, 2);
    run(LLMUX " models openai/gpt-4o", &r);
    assert_int_equal(r.code, 2);
    run(LLMUX " models nosuch", &r);
    assert_int_equal(r.code, 10 + LLMUX_E_MODEL_NOT_FOUND);
    assert_string_equal(r.err, "llmux: model_not_found: unknown provider \"nosuch\"\n");
    run(LLMUX " help models", &r);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "usage: llmux models"));
}

static void test_embed_openai(void **state) {
    (void)state;
    lx_fake_server *s = lx_fake_server_start();
    assert_non_null(s);
    char url[128], cmd[1024];
    lx_fake_server_url(s, "/v1", url, sizeof url);
    push(s, "/v1/embeddings", 200, NULL, DATA "openai_embeddings.json");
    snprintf(cmd, sizeof cmd, LLMUX " embed -m openai/text-embedding-3-small --dimensions 3 --base-url %s --api-key k "
                              "'first text' second", url);
    cli_result r;
    run(cmd, &r);
    if (r.code != 0) fprintf(stderr, "%s", r.err);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, "{\"model\":\"text-embedding-3-small\",\"provider\":\"openai\",\"dim\":3,\"embeddings\":[\n"
                               "[0.125,2,-3.5],\n"
                               "[0.5,-0.25,0.001]],\n"
                               "\"usage\":{\"input_tokens\":7,\"total_tokens\":7}}\n");
    lx_fake_request rq;
    assert_true(lx_fake_server_request(s, 0, &rq));
    assert_string_equal(rq.path, "/v1/embeddings");
    assert_string_equal(rq.body, "{\"model\":\"text-embedding-3-small\",\"input\":[\"first text\",\"second\"],"
                                 "\"dimensions\":3,\"encoding_format\":\"float\"}");
    free(rq.body);

    /* Inputs from stdin: one per non-empty line. */
    push(s, "/v1/embeddings", 200, NULL, DATA "openai_embeddings.json");
    snprintf(cmd, sizeof cmd, "printf 'one\\n\\r\\ntwo\\r\\n' | " LLMUX " embed -m openai/text-embedding-3-small "
                              "--base-url %s --api-key k", url);
    run(cmd, &r);
    assert_int_equal(r.code, 0);
    assert_true(lx_fake_server_request(s, 1, &rq));
    assert_string_equal(rq.body, "{\"model\":\"text-embedding-3-small\",\"input\":[\"one\",\"two\"],"
                                 "\"encoding_format\":\"float\"}");
    free(rq.body);

    /* Two vectors for three inputs: a protocol error, exit 10 + 13, nothing on stdout. */
    push(s, "/v1/embeddings", 200, NULL, DATA "openai_embeddings.json");
    snprintf(cmd, sizeof cmd, LLMUX " embed -m openai/text-embedding-3-small --base-url %s --api-key k a b c", url);
    run(cmd, &r);
    assert_int_equal(r.code, 10 + LLMUX_E_UPSTREAM_PROTOCOL);
    assert_string_equal(r.out, "");
    assert_string_equal(r.err, "llmux: upstream_protocol_error: openai: 2 embeddings for 3 inputs\n");
    assert_int_equal(lx_fake_server_mismatches(s), 0);
    lx_fake_server_stop(s);

    run(LLMUX " embed -m anthropic/claude-sonnet-4-5 --api-key k hi", &r);
    assert_int_equal(r.code, 10 + LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(r.err, "has no embeddings endpoint"));
    run(LLMUX " embed -m local/nomic hi", &r);
    assert_int_equal(r.code, 10 + LLMUX_E_MODEL_NOT_FOUND);
    assert_non_null(strstr(r.err, "nomic"));
    run(LLMUX " embed hi", &r);
    assert_int_equal(r.code, 2);
    run(LLMUX " embed -m openai/x --dimensions 0 hi", &r);
    assert_int_equal(r.code, 2);
    run("printf '\\n\\n' | " LLMUX " embed -m openai/x --api-key k", &r);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "nothing to embed"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_models_openrouter),
        cmocka_unit_test(test_embed_openai),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
