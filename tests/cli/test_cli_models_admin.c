/* `llmux models load|unload|ps` and `llmux info` against a real `llmux serve` process on a
 * loopback port, with a generated model (tools/gguf_gen): what each prints, exit codes like a
 * local failure of the same class (not loaded, not found, no server), usage errors, an API key
 * from --api-key or $LLMUX_API_KEY (server.keys of llmux.yaml), and `llmux info`'s text and JSON
 * shapes, in-process and with --server. */
#define _GNU_SOURCE /* mkdtemp, setenv */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "cli_spawn.h"
#include "llmux.h"
#include "support/cli_run.h"

#define LLMUX LLMUX_TEST_BIN_DIR "/llmux"
#define KEY "sk-admin-test-0123456789"

static struct {
    cli_child child;
    char err[PATH_MAX];
    char url[128];
} g;

/* Starts `llmux serve` on an ephemeral loopback port over the scratch directory's models;
 * config: a llmux.yaml path or NULL. */
static void serve(const char *config) {
    snprintf(g.err, sizeof g.err, "%s/serve.err", cli_scratch());
    char models[PATH_MAX];
    snprintf(models, sizeof models, "%s/models", cli_scratch());
    char *argv[20] = {LLMUX, "serve", "--listen", "127.0.0.1:0", "--model-dir", models, "--grace", "0", "--threads", "1",
                      "--ctx", "256"};
    int n = 12;
    if (config) {
        argv[n++] = "--config";
        argv[n++] = (char *)config;
    }
    argv[n] = NULL;
    cli_spawn(&g.child, argv, g.err, true);
    if (!cli_child_read_until(&g.child, "serving on http://", 60)) {
        char e[2048];
        cli_read_small_file(g.err, e, sizeof e);
        fail_msg("serve did not start: %s / %s", g.child.out_buf, e);
    }
    const char *p = strstr(g.child.out_buf, "http://");
    int port = 0;
    assert_int_equal(sscanf(p, "http://127.0.0.1:%d", &port), 1);
    snprintf(g.url, sizeof g.url, "http://127.0.0.1:%d", port);
}

static void serve_stop(void) {
    kill(g.child.pid, SIGTERM);
    int st = cli_child_wait(&g.child, 30);
    assert_true(WIFEXITED(st));
}

static int setup(void **state) {
    (void)state;
    if (cli_scratch_create("llmux-cli-admin") != 0) return -1;
    char cmd[PATH_MAX * 2];
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/models' && '%s/gguf_gen' --arch llama --n-layer 2 --n-embd 64 --n-head 2 --n-ff 128 "
             "--ctx 256 --type f16 --seed 3 --out '%s/models/a.gguf' >/dev/null",
             cli_scratch(), LLMUX_TEST_BIN_DIR, cli_scratch());
    if (system(cmd) != 0) return -1;
    setenv("LLMUX_RECORDS", "none", 1);
    unsetenv("LLMUX_CONFIG");
    unsetenv("LLMUX_SERVER");
    unsetenv("LLMUX_API_KEY");
    setenv("HOME", cli_scratch(), 1);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    return cli_scratch_remove();
}

static void run(cli_result *r, const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    cli_run(cmd, r);
}

static void test_load_ps_unload(void **state) {
    (void)state;
    serve(NULL);
    static cli_result r;
    run(&r, LLMUX " models ps --server %s", g.url);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, "");
    run(&r, LLMUX " models load a --server %s/", g.url); /* a trailing slash names the same server */
    if (r.code) fprintf(stderr, "%s", r.err);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, "a\tloaded\n");
    run(&r, LLMUX " models ps --server %s", g.url);
    assert_int_equal(r.code, 0);
    assert_true(strncmp(r.out, "local/a\tloaded\tmemory=", 22) == 0);
    assert_non_null(strstr(r.out, "\tcontext=256\tslots=1\trunning=0\tqueued=0\tidle="));
    run(&r, LLMUX " models ps --json --server %s", g.url);
    assert_int_equal(r.code, 0);
    json_t *j = json_loads(r.out, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "models")), 1);
    json_decref(j);
    /* With $LLMUX_SERVER instead of --server. */
    run(&r, "LLMUX_SERVER=%s " LLMUX " info", g.url);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "loaded models (this process): none")); /* info asks a server only with --server */
    run(&r, LLMUX " info --server %s", g.url);
    assert_int_equal(r.code, 0);
    char want[256];
    snprintf(want, sizeof want, "loaded models (%s):\nlocal/a\tloaded\tmemory=", g.url);
    assert_non_null(strstr(r.out, want));
    run(&r, LLMUX " info --json --server %s", g.url);
    assert_int_equal(r.code, 0);
    j = json_loads(r.out, 0, NULL);
    assert_non_null(j);
    json_t *loaded = json_object_get(j, "loaded");
    assert_string_equal(json_string_value(json_object_get(loaded, "from")), g.url);
    assert_int_equal(json_array_size(json_object_get(loaded, "models")), 1);
    json_decref(j);

    run(&r, "LLMUX_SERVER=%s " LLMUX " models unload local/a", g.url);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, "local/a\tunloaded\n");
    run(&r, LLMUX " models unload local/a --server %s", g.url);
    assert_int_equal(r.code, 10 + LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(r.err, "invalid_request: local/a is not loaded"));
    run(&r, LLMUX " models load nope --server %s", g.url);
    assert_int_equal(r.code, 10 + LLMUX_E_MODEL_NOT_FOUND);
    assert_non_null(strstr(r.err, "model_not_found"));
    serve_stop();
    /* Nobody listens any more. */
    run(&r, LLMUX " models load a --server %s", g.url);
    assert_int_equal(r.code, 10 + LLMUX_E_NETWORK);
    assert_non_null(strstr(r.err, "network: "));
}

static void test_usage(void **state) {
    (void)state;
    static cli_result r;
    run(&r, LLMUX " models load --server http://127.0.0.1:9");
    assert_int_equal(r.code, 2);
    run(&r, LLMUX " models load openai/gpt-4o --server http://127.0.0.1:9");
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "only local models"));
    run(&r, LLMUX " models load a --server ftp://127.0.0.1:9");
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "http:// or https://"));
    run(&r, LLMUX " models ps extra --server http://127.0.0.1:9");
    assert_int_equal(r.code, 2);
    run(&r, LLMUX " models unload a --json");
    assert_int_equal(r.code, 2);
    run(&r, LLMUX " info extra");
    assert_int_equal(r.code, 2);
    run(&r, LLMUX " models load --help");
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "llmux models load NAME"));
    run(&r, LLMUX " help info");
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "usage: llmux info"));
}

/* The server's keys: a key allowed to use local/a loads it; none gets 401's class. */
static void test_api_key(void **state) {
    (void)state;
    char cfg[PATH_MAX];
    snprintf(cfg, sizeof cfg, "%s/llmux.yaml", cli_scratch());
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "server:\n  keys:\n    - name: ops\n      key: env:ADMIN_TEST_KEY\n      models: [\"local/a\"]\n");
    fclose(f);
    setenv("ADMIN_TEST_KEY", KEY, 1);
    serve(cfg);
    static cli_result r;
    run(&r, LLMUX " models load a --server %s", g.url);
    assert_int_equal(r.code, 10 + LLMUX_E_AUTHENTICATION);
    run(&r, LLMUX " models load local/a --server %s --api-key " KEY, g.url);
    assert_int_equal(r.code, 0);
    run(&r, "LLMUX_API_KEY=" KEY " " LLMUX " models ps --server %s", g.url);
    assert_int_equal(r.code, 0);
    assert_true(strncmp(r.out, "local/a\tloaded", 14) == 0);
    run(&r, "LLMUX_API_KEY=" KEY " " LLMUX " models load local/other --server %s", g.url);
    assert_int_equal(r.code, 10 + LLMUX_E_PERMISSION);
    serve_stop();
    unsetenv("ADMIN_TEST_KEY");
}

/* `llmux info` alone: this process's view, text and JSON. */
static void test_info_shape(void **state) {
    (void)state;
    static cli_result r;
    run(&r, LLMUX " info");
    assert_int_equal(r.code, 0);
    assert_true(strncmp(r.out, "llmux " LLMUX_VERSION_STRING " (ggml ", 12 + strlen(LLMUX_VERSION_STRING)) == 0);
    assert_non_null(strstr(r.out, "\nbackend CPU: "));
    assert_non_null(strstr(r.out, "\nCPU features: "));
    assert_non_null(strstr(r.out, "\nllama.cpp: CPU : "));
    assert_non_null(strstr(r.out, "\nsupports: mmap "));
    assert_non_null(strstr(r.out, "\nthreads: "));
    assert_non_null(strstr(r.out, "\nloaded models (this process): none\n"));
    /* local.threads and local.ctx of llmux.yaml show. */
    char cfg[PATH_MAX];
    snprintf(cfg, sizeof cfg, "%s/local.yaml", cli_scratch());
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "local:\n  threads: 3\n  ctx: 512\n");
    fclose(f);
    run(&r, LLMUX " info --config %s", cfg);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "\nthreads: 3 (local.threads; "));
    assert_non_null(strstr(r.out, "\ncontext: 512 tokens (local.ctx)\n"));

    run(&r, LLMUX " info --json");
    assert_int_equal(r.code, 0);
    json_t *j = json_loads(r.out, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "version")), LLMUX_VERSION_STRING);
    assert_true(json_integer_value(json_object_get(j, "threads")) >= 1);
    assert_string_equal(json_string_value(json_object_get(j, "threads_from")), "one per core");
    json_t *sys = json_object_get(j, "system");
    assert_true(json_is_array(json_object_get(sys, "backends")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(sys, "backends"), 0), "name")),
                        "CPU");
    json_t *loaded = json_object_get(j, "loaded");
    assert_string_equal(json_string_value(json_object_get(loaded, "from")), "process");
    assert_int_equal(json_array_size(json_object_get(loaded, "models")), 0);
    assert_true(json_is_array(json_object_get(loaded, "models")));
    json_decref(j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_ps_unload),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_api_key),
        cmocka_unit_test(test_info_shape),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
