/* `llmux run` on local models at the edges the engine used to crash or misreport on: contexts
 * below 512 tokens, seeds at 2^32 - 1 and beyond, a directory, FIFO or device as the model, a
 * multi-megabyte prompt on stdin; and local.isolation: process (the same output from the engine
 * child). */
#define _XOPEN_SOURCE 700
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/cli_run.h"

#define LLMUX LLMUX_TEST_BIN_DIR "/llmux"
#define DEFAULT_MODEL LLMUX_SOURCE_DIR "/models/llmux-fortunes.gguf"

static int setup(void **state) {
    (void)state;
    return cli_scratch_create("llmux-cli-engine");
}

static int teardown(void **state) {
    (void)state;
    return cli_scratch_remove();
}

static void need_default_model(void) {
    if (access(DEFAULT_MODEL, R_OK) != 0) {
        print_message("bundled model %s missing\n", DEFAULT_MODEL);
        fail();
    }
}

/* --ctx below llama.cpp's 512-token batch used to abort (SIGABRT in llama_decode). */
static void test_small_ctx(void **state) {
    (void)state;
    need_default_model();
    cli_result r;
    cli_run(LLMUX " run --ctx 16 'one two three four five six seven eight nine ten'", &r);
    assert_int_equal(r.code, 10 + 6); /* context_length_exceeded */
    assert_non_null(strstr(r.err, "llmux: context_length_exceeded: "));
    assert_non_null(strstr(r.err, "the context holds 16"));
    cli_run(LLMUX " run --ctx 16 -n 4 -t 0 'one two'", &r);
    assert_int_equal(r.code, 0);
    cli_run(LLMUX " run --ctx 100 -n 4 -t 0 'one two three four five six seven eight nine ten eleven twelve'", &r);
    assert_int_equal(r.code, 0);
}

/* A model path in a directory that does not exist used to be `configuration` (the runtime refused
 * the directory the CLI allowed for it); it is simply not found. */
static void test_missing_model_dir(void **state) {
    (void)state;
    cli_result r;
    cli_run(LLMUX " run -m /nonexistent-llmux-dir/x.gguf hi", &r);
    assert_int_equal(r.code, 10 + 4); /* model_not_found */
    assert_non_null(strstr(r.err, "llmux: model_not_found: "));
    assert_non_null(strstr(r.err, "/nonexistent-llmux-dir/x.gguf"));
}

static void test_seed_edges(void **state) {
    (void)state;
    need_default_model();
    cli_result a, b;
    /* 4294967295 is llama.cpp's "random seed": it must still be reproducible. */
    cli_run(LLMUX " run -n 30 -t 1 --seed 4294967295 'Once upon a time'", &a);
    cli_run(LLMUX " run -n 30 -t 1 --seed 4294967295 'Once upon a time'", &b);
    assert_int_equal(a.code, 0);
    assert_int_equal(b.code, 0);
    assert_string_equal(a.out, b.out);
    /* 2^32 used to wrap to 0. */
    cli_run(LLMUX " run -n 30 -t 1 --seed 4294967296 'Once upon a time'", &a);
    cli_run(LLMUX " run -n 30 -t 1 --seed 0 'Once upon a time'", &b);
    assert_int_equal(a.code, 0);
    assert_int_equal(b.code, 0);
    assert_string_not_equal(a.out, b.out);
}

/* A directory, a FIFO and a device as the model: configuration, "not a regular file"; the FIFO
 * is never opened (that would block until a writer came, so the command runs under timeout). */
static void test_not_regular_models(void **state) {
    (void)state;
    char dir[PATH_MAX], fifo[PATH_MAX], cmd[PATH_MAX * 2];
    snprintf(dir, sizeof dir, "%s/dir.gguf", cli_scratch());
    snprintf(fifo, sizeof fifo, "%s/pipe.gguf", cli_scratch());
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    const char *models[] = {dir, fifo, "/dev/zero"};
    for (size_t i = 0; i < 3; i++) {
        cli_result r;
        snprintf(cmd, sizeof cmd, "timeout 20 " LLMUX " run -m '%s' 'x'", models[i]);
        cli_run(cmd, &r);
        if (r.code != 10 + 14) print_message("%s: exit %d: %s\n", models[i], r.code, r.err);
        assert_int_equal(r.code, 10 + 14); /* configuration */
        assert_non_null(strstr(r.err, "llmux: configuration: "));
        assert_non_null(strstr(r.err, "not a regular file"));
    }
}

/* 16 MB on stdin used to take 29 s and 1.1 GB to fail: it is refused from its size. */
static void test_huge_stdin_prompt(void **state) {
    (void)state;
    need_default_model();
    char big[PATH_MAX], cmd[PATH_MAX * 2];
    snprintf(big, sizeof big, "%s/big.txt", cli_scratch());
    FILE *f = fopen(big, "wb");
    assert_non_null(f);
    char line[1024];
    memset(line, 'a', sizeof line - 1);
    line[sizeof line - 1] = '\n';
    for (int i = 0; i < 16 * 1024; i++) assert_int_equal(fwrite(line, 1, sizeof line, f), sizeof line);
    fclose(f);
    snprintf(cmd, sizeof cmd, LLMUX " run < '%s'", big);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cli_result r;
    cli_run(cmd, &r);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    print_message("16 MiB prompt on stdin refused in %.0f ms\n",
                  (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    assert_int_equal(r.code, 10 + 6);
    assert_non_null(strstr(r.err, "llmux: context_length_exceeded: "));
}

/* local.isolation: process in llmux.yaml: `llmux run` runs the model in its own binary started as
 * the sandboxed engine child (/proc/self/exe engine --fd 3) and prints what in-process prints. */
static void test_isolation_process(void **state) {
    (void)state;
    need_default_model();
    char cfg[PATH_MAX], cmd[PATH_MAX + 128];
    snprintf(cfg, sizeof cfg, "%s/isolated.yaml", cli_scratch());
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fputs("local:\n  isolation: process\n", f);
    fclose(f);
    cli_result a, b;
    cli_run(LLMUX " run -n 16 -t 0 'Once upon a time'", &a);
    assert_int_equal(a.code, 0);
    snprintf(cmd, sizeof cmd, LLMUX " run --config %s -n 16 -t 0 'Once upon a time'", cfg);
    cli_run(cmd, &b);
    if (b.code != 0) fail_msg("isolation process: exit %d: %s", b.code, b.err);
    assert_string_equal(a.out, b.out);
    snprintf(cmd, sizeof cmd, LLMUX " config check %s", cfg);
    cli_run(cmd, &b);
    assert_int_equal(b.code, 0);
    assert_non_null(strstr(b.out, "isolation: process"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_ctx),
        cmocka_unit_test(test_missing_model_dir),
        cmocka_unit_test(test_seed_edges),
        cmocka_unit_test(test_not_regular_models),
        cmocka_unit_test(test_huge_stdin_prompt),
        cmocka_unit_test(test_isolation_process),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
