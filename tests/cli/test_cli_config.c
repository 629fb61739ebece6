/* llmux.yaml through the CLI: `llmux config check` (report, errors, exit codes, keys never
 * printed) and --config / llmux --config / $LLMUX_CONFIG reaching a real run against the fake
 * provider server: the provider, its env: key, the timeouts and the prices of the file. */
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "llmux.h"
#include "support/cli_run.h"
#include "support/fake_server.h"

#define LLMUX LLMUX_TEST_BIN_DIR "/llmux"
#define FAKE "tests/data/fake/"
#define SECRET "sk-config-test-5ecret"

/* A clean environment: no provider variables, no config found by accident (HOME and
 * XDG_CONFIG_HOME point into the scratch directory, the command runs from the repository root
 * which has no llmux.yaml), and the key the configs below read. */
static void run(const char *cmdline, cli_result *r) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY -u GEMINI_API_KEY -u GOOGLE_API_KEY -u OPENROUTER_API_KEY "
             "-u OPENAI_BASE_URL -u ANTHROPIC_BASE_URL -u OLLAMA_HOST -u LLMUX_CONFIG HOME=%s XDG_CONFIG_HOME=%s/xdg "
             "LX_CFG_TEST_KEY=" SECRET " %s",
             cli_scratch(), cli_scratch(), cmdline);
    cli_run(cmd, r);
}

static int setup(void **state) {
    (void)state;
    return cli_scratch_create("llmux-cli-config");
}

static int teardown(void **state) {
    (void)state;
    return cli_scratch_remove();
}

/* Writes a config into the scratch directory; returns its path (static buffer per name). */
static const char *write_config(const char *name, const char *text) {
    static char path[4][512];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, 512, "%s/%s", cli_scratch(), name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static void test_check_valid(void **state) {
    (void)state;
    const char *path = write_config("ok.yaml",
                                    "providers:\n"
                                    "  openai: {api_key: env:LX_CFG_TEST_KEY}\n"
                                    "  vllm-a: {protocol: openai, base_url: \"http://gpu-box.internal:8000/v1\", api_key: none}\n"
                                    "models:\n"
                                    "  smart:\n"
                                    "    targets: [anthropic/claude-sonnet-4-5, openai/gpt-4o]\n"
                                    "    retry: {attempts: 3, backoff_ms: 200, max_backoff_ms: 5000}\n"
                                    "    fallback_on: [rate_limited, overloaded]\n"
                                    "  cheap:\n"
                                    "    targets: [{model: vllm-a/qwen, weight: 3}, {model: openrouter/q/q, weight: 1}]\n"
                                    "timeouts: {total_ms: 1000}\n");
    char cmd[1024];
    cli_result r;
    snprintf(cmd, sizeof cmd, LLMUX " config check %s", path);
    run(cmd, &r);
    if (r.code != 0) fail_msg("exit %d: %s", r.code, r.err);
    char want[700];
    snprintf(want, sizeof want, "file: %s\n", path);
    assert_non_null(strstr(r.out, want));
    assert_non_null(strstr(r.out, "  openai: protocol openai (built in), base_url default, key: set (env:LX_CFG_TEST_KEY)\n"));
    assert_non_null(strstr(r.out, "  vllm-a: protocol openai, base_url http://gpu-box.internal:8000/v1, key: none\n"));
    assert_non_null(strstr(r.out, "  smart:\n    targets:\n      1. anthropic/claude-sonnet-4-5\n      2. openai/gpt-4o\n"
                                  "    retry: attempts 3, backoff_ms 200, max_backoff_ms 5000\n"
                                  "    fallback_on: rate_limited, overloaded\n"));
    assert_non_null(strstr(r.out, "      1. vllm-a/qwen (weight 3)\n      2. openrouter/q/q (weight 1)\n"));
    assert_non_null(strstr(r.out, "total_ms 1000\n"));
    snprintf(want, sizeof want, "%s: valid\n", path);
    assert_non_null(strstr(r.out, want));
    assert_null(strstr(r.out, SECRET));
    assert_null(strstr(r.err, SECRET));

    /* The same file named by the global option and by $LLMUX_CONFIG. */
    snprintf(cmd, sizeof cmd, LLMUX " --config %s config check", path);
    run(cmd, &r);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, want));
    snprintf(cmd, sizeof cmd, "LLMUX_CONFIG=%s " LLMUX " config check", path);
    run(cmd, &r);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, want));
}

static void test_check_errors(void **state) {
    (void)state;
    const char *path = write_config("bad.yaml", "models:\n  chain:\n    targets: [openai/a, {model: openai/b, weight: 0}]\n");
    char cmd[1024], want[1024];
    cli_result r;
    snprintf(cmd, sizeof cmd, LLMUX " config check %s", path);
    run(cmd, &r);
    assert_int_equal(r.code, 10 + LLMUX_E_CONFIGURATION);
    snprintf(want, sizeof want,
             "llmux: configuration: %s:3:51: models.chain.targets[1].weight: expected a positive integer, got \"0\"\n", path);
    assert_string_equal(r.err, want);
    assert_string_equal(r.out, "");

    /* The same error stops a run before anything else happens. */
    snprintf(cmd, sizeof cmd, LLMUX " run --config %s -m openai/gpt-4o hi", path);
    run(cmd, &r);
    assert_int_equal(r.code, 10 + LLMUX_E_CONFIGURATION);
    assert_string_equal(r.err, want);

    /* A variable the file needs but the environment lacks: named, no value printed. */
    path = write_config("env.yaml", "providers:\n  openai: {api_key: env:LX_CFG_TEST_MISSING}\n");
    snprintf(cmd, sizeof cmd, LLMUX " config check %s", path);
    run(cmd, &r);
    assert_int_equal(r.code, 10 + LLMUX_E_CONFIGURATION);
    snprintf(want, sizeof want,
             "llmux: configuration: %s:2:21: providers.openai.api_key: environment variable LX_CFG_TEST_MISSING is not "
             "set\n",
             path);
    assert_string_equal(r.err, want);

    /* Named files that do not exist are errors; no file at all is not. */
    run(LLMUX " config check /nonexistent/llmux.yaml", &r);
    assert_int_equal(r.code, 10 + LLMUX_E_CONFIGURATION);
    assert_string_equal(r.err, "llmux: configuration: /nonexistent/llmux.yaml: no such file\n");
    run("LLMUX_CONFIG=/nonexistent/x.yaml " LLMUX " embed -m openai/text-embedding-3-small hi", &r);
    assert_int_equal(r.code, 10 + LLMUX_E_CONFIGURATION);
    assert_string_equal(r.err, "llmux: configuration: LLMUX_CONFIG=/nonexistent/x.yaml: no such file\n");
    run(LLMUX " models --config /nonexistent/y.yaml openai", &r);
    assert_int_equal(r.code, 10 + LLMUX_E_CONFIGURATION);
    run(LLMUX " config check", &r);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "no configuration file"));
    run(LLMUX " config frobnicate", &r);
    assert_int_equal(r.code, 2);
}

static void push_stream(lx_fake_server *s, int status_delay_ms) {
    lx_fake_response fr;
    memset(&fr, 0, sizeof fr);
    fr.path_prefix = "/v1/chat/completions";
    fr.body_file = FAKE "openai/stream_text.sse";
    fr.headers = "Content-Type: text/event-stream\r\n";
    fr.chunked = true;
    fr.chunk_size = 7;
    fr.status_delay_ms = status_delay_ms;
    assert_true(lx_fake_server_push(s, &fr));
}

static void check_auth(lx_fake_server *s, int i, const char *want) {
    lx_fake_request rq;
    char v[256];
    assert_true(lx_fake_server_request(s, i, &rq));
    assert_true(lx_fake_request_header(&rq, "authorization", v, sizeof v));
    assert_string_equal(v, want);
    free(rq.body);
}

/* A config whose provider is the fake server, with the key from the environment. */
static const char *fake_config(lx_fake_server *s, const char *name, const char *extra) {
    char url[256], text[2048];
    lx_fake_server_url(s, "/v1", url, sizeof url);
    snprintf(text, sizeof text,
             "providers:\n"
             "  fake: {protocol: openai, base_url: \"%s\", api_key: env:LX_CFG_TEST_KEY}\n"
             "%s",
             url, extra);
    return write_config(name, text);
}

static void test_run_with_config(void **state) {
    (void)state;
    lx_fake_server *s = lx_fake_server_start();
    assert_non_null(s);
    const char *path = fake_config(s, "run.yaml", "");
    char cmd[1024];
    cli_result r;

    snprintf(cmd, sizeof cmd, LLMUX " run --config %s -m fake/gpt-4o-mini 'Say hello'", path);
    push_stream(s, 0);
    run(cmd, &r);
    if (r.code != 0) fail_msg("exit %d: %s", r.code, r.err);
    assert_string_equal(r.out, "Hello, world!\n");
    check_auth(s, 0, "Bearer " SECRET);

    /* llmux --config FILE run ..., and $LLMUX_CONFIG. */
    snprintf(cmd, sizeof cmd, LLMUX " --config %s run -m fake/gpt-4o-mini 'Say hello'", path);
    push_stream(s, 0);
    run(cmd, &r);
    if (r.code != 0) fail_msg("exit %d: %s", r.code, r.err);
    assert_string_equal(r.out, "Hello, world!\n");
    snprintf(cmd, sizeof cmd, "LLMUX_CONFIG=%s " LLMUX " run -m fake/gpt-4o-mini 'Say hello'", path);
    push_stream(s, 0);
    run(cmd, &r);
    if (r.code != 0) fail_msg("exit %d: %s", r.code, r.err);
    assert_string_equal(r.out, "Hello, world!\n");

    /* --api-key wins over the file's key (the file's base URL stays). */
    snprintf(cmd, sizeof cmd, LLMUX " run --config %s --api-key flag-key -m fake/gpt-4o-mini 'Say hello'", path);
    push_stream(s, 0);
    run(cmd, &r);
    if (r.code != 0) fail_msg("exit %d: %s", r.code, r.err);
    check_auth(s, 3, "Bearer flag-key");
    assert_int_equal(lx_fake_server_mismatches(s), 0);
    lx_fake_server_stop(s);
}

static void test_run_timeouts(void **state) {
    (void)state;
    lx_fake_server *s = lx_fake_server_start();
    assert_non_null(s);
    char cmd[1024];
    cli_result r;

    /* timeouts.first_byte_ms: a server that answers after 4 s is cut at 300 ms. */
    const char *path = fake_config(s, "fb.yaml", "timeouts: {first_byte_ms: 300}\n");
    snprintf(cmd, sizeof cmd, LLMUX " run --config %s -m fake/gpt-4o-mini hi", path);
    push_stream(s, 4000);
    run(cmd, &r);
    if (r.code != 10 + LLMUX_E_TIMEOUT) fail_msg("exit %d: %s", r.code, r.err);

    /* timeouts.total_ms is the CLI's default deadline... */
    path = fake_config(s, "total.yaml", "timeouts: {total_ms: 500}\n");
    snprintf(cmd, sizeof cmd, LLMUX " run --config %s -m fake/gpt-4o-mini hi", path);
    push_stream(s, 4000);
    run(cmd, &r);
    if (r.code != 10 + LLMUX_E_TIMEOUT) fail_msg("exit %d: %s", r.code, r.err);

    /* ...and --timeout wins over it: the same slow answer (1.5 s) now arrives. */
    snprintf(cmd, sizeof cmd, LLMUX " run --config %s --timeout 60 -m fake/gpt-4o-mini hi", path);
    push_stream(s, 1500);
    run(cmd, &r);
    if (r.code != 0) fail_msg("exit %d: %s", r.code, r.err);
    assert_string_equal(r.out, "Hello, world!\n");
    lx_fake_server_stop(s);
}

static void test_run_prices(void **state) {
    (void)state;
    lx_fake_server *s = lx_fake_server_start();
    assert_non_null(s);
    /* $1 per input token and $0.50 per output token: the fixture's 11 + 4 tokens cost $13. */
    const char *path = fake_config(s, "prices.yaml", "prices:\n  \"fake/gpt-4o-mini\": {input: 1000000, output: 500000}\n");
    lx_fake_response fr;
    memset(&fr, 0, sizeof fr);
    fr.path_prefix = "/v1/chat/completions";
    fr.body_file = FAKE "openai/response_text.json";
    fr.headers = "Content-Type: application/json\r\n";
    assert_true(lx_fake_server_push(s, &fr));
    char cmd[1024];
    cli_result r;
    snprintf(cmd, sizeof cmd, LLMUX " run --config %s --json -m fake/gpt-4o-mini hi", path);
    run(cmd, &r);
    if (r.code != 0) fail_msg("exit %d: %s", r.code, r.err);
    json_error_t je;
    json_t *j = json_loads(r.out, 0, &je);
    assert_non_null(j);
    json_t *cost = json_object_get(j, "cost");
    assert_non_null(cost);
    assert_true(json_real_value(json_object_get(cost, "input")) == 11.0);
    assert_true(json_real_value(json_object_get(cost, "output")) == 2.0);
    assert_true(json_real_value(json_object_get(cost, "total")) == 13.0);
    json_decref(j);
    lx_fake_server_stop(s);
}

/* embed and models read the same file: a provider defined there, its key from the environment. */
static void test_embed_and_models_with_config(void **state) {
    (void)state;
    lx_fake_server *s = lx_fake_server_start();
    assert_non_null(s);
    const char *path = fake_config(s, "extra.yaml", "");
    lx_fake_response fr;
    memset(&fr, 0, sizeof fr);
    fr.path_prefix = "/v1/embeddings";
    fr.body_file = "tests/data/embed/openai_embeddings.json";
    fr.headers = "Content-Type: application/json\r\n";
    assert_true(lx_fake_server_push(s, &fr));
    fr.path_prefix = "/v1/models";
    fr.body = "{\"object\":\"list\",\"data\":[{\"id\":\"m-one\",\"object\":\"model\"}]}";
    fr.body_file = NULL;
    assert_true(lx_fake_server_push(s, &fr));
    char cmd[1024];
    cli_result r;
    snprintf(cmd, sizeof cmd, LLMUX " embed --config %s -m fake/text-embedding-3-small one two", path);
    run(cmd, &r);
    if (r.code != 0) fail_msg("exit %d: %s", r.code, r.err);
    assert_non_null(strstr(r.out, "\"dim\":3"));
    check_auth(s, 0, "Bearer " SECRET);
    snprintf(cmd, sizeof cmd, LLMUX " --config %s models fake", path);
    run(cmd, &r);
    if (r.code != 0) fail_msg("exit %d: %s", r.code, r.err);
    assert_non_null(strstr(r.out, "m-one"));
    check_auth(s, 1, "Bearer " SECRET);
    assert_int_equal(lx_fake_server_mismatches(s), 0);
    lx_fake_server_stop(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_valid),     cmocka_unit_test(test_check_errors),
        cmocka_unit_test(test_run_with_config), cmocka_unit_test(test_run_timeouts),
        cmocka_unit_test(test_run_prices),      cmocka_unit_test(test_embed_and_models_with_config),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
