/* End-to-end tests of the `llmux` binary: `llmux run` on the bundled default model, output
 * modes, errors and exit codes. */
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

#define LLMUX LLMUX_TEST_BIN_DIR "/llmux"
#define DEFAULT_MODEL LLMUX_SOURCE_DIR "/models/llmux-fortunes.gguf"

#define run cli_run

static int setup(void **state) {
    (void)state;
    return cli_scratch_create("llmux-cli");
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

static void test_version_and_help(void **state) {
    (void)state;
    cli_result r;
    run(LLMUX " --version", &r);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, "llmux 0.1.0\n");
    run(LLMUX " help", &r);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "usage: llmux <command>"));
    run(LLMUX " run --help", &r);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "--max-tokens"));
    run(LLMUX " frobnicate", &r);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "llmux: unknown command \"frobnicate\""));
}

static void test_run_default_model_text(void **state) {
    (void)state;
    need_default_model();
    cli_result r;
    run(LLMUX " run -n 40 --seed 3 'Once upon a time'", &r);
    assert_int_equal(r.code, 0);
    size_t n = strlen(r.out);
    assert_true(n > 10);
    assert_int_equal(r.out[n - 1], '\n');
    /* The bundled model writes English-looking text: mostly letters and spaces. */
    size_t letters = 0;
    for (size_t i = 0; i < n; i++)
        if ((r.out[i] >= 'a' && r.out[i] <= 'z') || (r.out[i] >= 'A' && r.out[i] <= 'Z') || r.out[i] == ' ') letters++;
    assert_true(letters * 10 >= n * 7);
    /* Same seed, same text. */
    cli_result r2;
    run(LLMUX " run -n 40 --seed 3 'Once upon a time'", &r2);
    assert_string_equal(r.out, r2.out);
}

static void test_run_json(void **state) {
    (void)state;
    need_default_model();
    cli_result r;
    run(LLMUX " run --json -n 12 -t 0 'The meaning of life'", &r);
    assert_int_equal(r.code, 0);
    json_error_t je;
    json_t *j = json_loads(r.out, 0, &je);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "provider")), "local");
    assert_string_equal(json_string_value(json_object_get(j, "model")), "llmux-fortunes");
    const char *fr = json_string_value(json_object_get(j, "finish_reason"));
    assert_non_null(fr);
    assert_true(strcmp(fr, "length") == 0 || strcmp(fr, "stop") == 0);
    json_t *usage = json_object_get(j, "usage");
    assert_true(json_integer_value(json_object_get(usage, "output_tokens")) <= 12);
    /* byte-level tokenizer: 19 bytes + BOS */
    assert_int_equal(json_integer_value(json_object_get(usage, "input_tokens")), 20);
    json_decref(j);
}

static void test_run_events(void **state) {
    (void)state;
    need_default_model();
    cli_result r;
    run("echo 'A penny saved' | " LLMUX " run --events -n 8 --seed 1", &r);
    assert_int_equal(r.code, 0);
    char *save = NULL;
    int lines = 0;
    char first[32] = "", last[32] = "";
    for (char *line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        assert_non_null(j);
        const char *type = json_string_value(json_object_get(j, "type"));
        assert_non_null(type);
        if (lines == 0) snprintf(first, sizeof first, "%s", type);
        snprintf(last, sizeof last, "%s", type);
        lines++;
        json_decref(j);
    }
    assert_string_equal(first, "start");
    assert_string_equal(last, "finish");
    assert_true(lines >= 3);
}

static void test_errors_and_exit_codes(void **state) {
    (void)state;
    cli_result r;
    char cmd[PATH_MAX + 128];
    run(LLMUX " run --temperature hot 'x'", &r);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "--temperature: expected a number >= 0"));

    snprintf(cmd, sizeof cmd, LLMUX " run -m '%s/nope.gguf' 'x'", cli_scratch());
    run(cmd, &r);
    assert_int_equal(r.code, 10 + 4); /* model_not_found */
    assert_non_null(strstr(r.err, "llmux: model_not_found: "));

    char bad[PATH_MAX];
    snprintf(bad, sizeof bad, "%s/bad.gguf", cli_scratch());
    FILE *f = fopen(bad, "w");
    assert_non_null(f);
    fputs("not a model", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, LLMUX " run -m '%s' 'x'", bad);
    run(cmd, &r);
    assert_int_equal(r.code, 10 + 14); /* configuration */
    assert_non_null(strstr(r.err, "llmux: configuration: "));
    assert_non_null(strstr(r.err, "not a GGUF file"));

    run(LLMUX " run -m local/does-not-exist 'x'", &r);
    assert_int_equal(r.code, 10 + 4);
    assert_non_null(strstr(r.err, "local model \"does-not-exist\" not found"));
}

static void test_stop_flag(void **state) {
    (void)state;
    need_default_model();
    cli_result full, cut;
    run(LLMUX " run -t 0 -n 30 'Q: What is'", &full);
    assert_int_equal(full.code, 0);
    size_t n = strlen(full.out);
    if (n < 8) skip();
    /* Stop at the first space the model writes. */
    const char *sp = strchr(full.out, ' ');
    if (!sp) skip();
    run(LLMUX " run -t 0 -n 30 --stop ' ' 'Q: What is'", &cut);
    assert_int_equal(cut.code, 0);
    size_t want = (size_t)(sp - full.out);
    /* The CLI ends non-empty text with a newline and prints nothing for empty text. */
    assert_int_equal(strlen(cut.out), want ? want + 1 : 0);
    assert_memory_equal(cut.out, full.out, want);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_and_help), cmocka_unit_test(test_run_default_model_text),
        cmocka_unit_test(test_run_json),         cmocka_unit_test(test_run_events),
        cmocka_unit_test(test_errors_and_exit_codes), cmocka_unit_test(test_stop_flag),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
