/* The CLI's own input and output: a prompt from stdin is taken whole or refused with a reason
 * (a NUL byte, a directory, a closed stdin, an empty stdin, more than the 16 MiB cap, read in
 * bounded memory), and a failed write to stdout is an error, not exit 0. */
#define _XOPEN_SOURCE 700
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/cli_run.h"
#include "support/fake_server.h"

#define LLMUX LLMUX_TEST_BIN_DIR "/llmux"
#define DEFAULT_MODEL LLMUX_SOURCE_DIR "/models/llmux-fortunes.gguf"

static int setup(void **state) {
    (void)state;
    return cli_scratch_create("llmux-cli-io");
}

static int teardown(void **state) {
    (void)state;
    return cli_scratch_remove();
}

static void need_default_model(void) {
    if (access(DEFAULT_MODEL, R_OK) != 0) fail_msg("bundled model %s missing", DEFAULT_MODEL);
}

/* Item 15: everything after a NUL used to vanish; a C-string prompt cannot carry it. */
static void test_stdin_nul_byte(void **state) {
    (void)state;
    cli_result r;
    cli_run("printf 'abc\\000def' | " LLMUX " run -n 4", &r);
    assert_int_equal(r.code, 10 + 1);
    assert_non_null(strstr(r.err, "llmux: invalid_request: prompt contains a NUL byte at offset 3"));
    assert_string_equal(r.out, "");
    /* embed reads stdin the same way. */
    cli_run("printf 'a\\nb\\000c\\n' | " LLMUX " embed -m openai/e --api-key k --base-url http://127.0.0.1:9/v1", &r);
    assert_int_equal(r.code, 10 + 1);
    assert_non_null(strstr(r.err, "input contains a NUL byte at offset 3"));
}

/* Item 15: a directory on stdin is a read error (EISDIR), not an empty prompt. */
static void test_stdin_directory(void **state) {
    (void)state;
    cli_result r;
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, LLMUX " run -n 4 < '%s'", cli_scratch());
    cli_run(cmd, &r);
    assert_int_equal(r.code, 3);
    assert_non_null(strstr(r.err, "llmux: read error: stdin: Is a directory"));
    assert_string_equal(r.out, "");
}

/* Item 15: a closed stdin used to run an empty prompt and exit 0. */
static void test_stdin_closed(void **state) {
    (void)state;
    cli_result r;
    cli_run(LLMUX " run -n 4 <&-", &r);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "llmux: no prompt: stdin is closed"));
    cli_run(LLMUX " embed -m openai/e <&-", &r);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "llmux: no input: stdin is closed"));
}

/* Item 15: an empty stdin is refused (an explicit "" argument stays allowed). */
static void test_stdin_empty(void **state) {
    (void)state;
    cli_result r;
    cli_run(LLMUX " run -n 4 < /dev/null", &r);
    assert_int_equal(r.code, 10 + 1);
    assert_non_null(strstr(r.err, "llmux: invalid_request: empty prompt"));
    assert_string_equal(r.out, "");
}

/* A usage error found after the prompt was read from stdin frees it (LeakSanitizer would turn a
 * leak into a different exit status in the sanitizer build). */
static void test_stdin_prompt_then_usage_error(void **state) {
    (void)state;
    cli_result r;
    cli_run("echo hi | " LLMUX " run --base-url http://127.0.0.1:9/v1", &r);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "--base-url/--api-key need a remote model"));
}

/* Item 13: past the 16 MiB cap: invalid_request naming the cap (was a usage error, exit 2).
 * Reading stops at cap + 1, so an endless producer ends too. */
static void test_stdin_over_cap(void **state) {
    (void)state;
    cli_result r;
    cli_run("head -c 16777217 /dev/zero | tr '\\000' a | " LLMUX " run -n 4", &r);
    assert_int_equal(r.code, 10 + 1);
    assert_non_null(strstr(r.err, "llmux: invalid_request: prompt from stdin exceeds the 16 MiB cap"));
    cli_run("yes | " LLMUX " run -n 4", &r);
    assert_int_equal(r.code, 10 + 1);
    assert_non_null(strstr(r.err, "exceeds the 16 MiB cap"));
}

/* Exactly the cap is still a prompt: it goes to the (here unreachable) upstream. */
static void test_stdin_at_cap(void **state) {
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "head -c 16777216 /dev/zero | tr '\\000' a | " LLMUX
             " run -m openai/x --api-key k --base-url http://127.0.0.1:%d/v1",
             lx_fake_closed_port());
    cli_result r;
    cli_run(cmd, &r);
    assert_null(strstr(r.err, "cap"));
    if (r.code != 10 + 11) fail_msg("exit %d: %s", r.code, r.err); /* network: connection refused */
}

/* Item 9: a full stdout used to be ignored (exit 0). */
static void test_stdout_full(void **state) {
    (void)state;
    need_default_model();
    static const char *modes[] = {"", "--events", "--json"};
    char cmd[256];
    cli_result r;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        snprintf(cmd, sizeof cmd, LLMUX " run %s -n 8 --seed 1 'Once upon a time' > /dev/full", modes[i]);
        cli_run(cmd, &r);
        if (r.code != 3) fail_msg("%s: exit %d: %s", cmd, r.code, r.err);
        assert_non_null(strstr(r.err, "llmux: write error: No space left on device"));
    }
    cli_run(LLMUX " --version > /dev/full", &r);
    assert_int_equal(r.code, 3);
    assert_non_null(strstr(r.err, "llmux: write error: No space left on device"));
    cli_run(LLMUX " run --help > /dev/full", &r);
    assert_int_equal(r.code, 3);
}

/* A closed stdout is refused up front: its descriptor would otherwise go to the next file the
 * runtime opens. A closed stderr is quietly replaced by /dev/null and the run works. */
static void test_stdout_closed(void **state) {
    (void)state;
    need_default_model();
    cli_result r;
    cli_run(LLMUX " run -n 4 --seed 1 'Once' >&-", &r);
    assert_int_equal(r.code, 3);
    assert_non_null(strstr(r.err, "llmux: write error: stdout is closed"));
    cli_run("sh -c '" LLMUX " run -n 4 --seed 1 Once 2>&-'", &r);
    assert_int_equal(r.code, 0);
    assert_true(strlen(r.out) > 0);
}

/* Item 9, the bundled model: with SIGPIPE ignored and a reader that read one byte and left,
 * the run ends non-zero with the reason (it used to finish and exit 0). */
static void test_stdout_reader_gone_local(void **state) {
    (void)state;
    need_default_model();
    char cmd[PATH_MAX * 2 + 256], rc_path[PATH_MAX], err_path[PATH_MAX], buf[4096];
    snprintf(rc_path, sizeof rc_path, "%s/rc.txt", cli_scratch());
    snprintf(err_path, sizeof err_path, "%s/err2.txt", cli_scratch());
    /* The reader leaves before the first byte; the 1 s head start makes sure it has. */
    snprintf(cmd, sizeof cmd,
             "( trap '' PIPE; sleep 1; " LLMUX " run -n 200 --seed 1 'Once upon a time' 2>'%s'; echo $? >'%s' ) | true",
             err_path, rc_path);
    cli_result r;
    cli_run(cmd, &r);
    FILE *f = fopen(rc_path, "r");
    assert_non_null(f);
    int rc = -1;
    assert_int_equal(fscanf(f, "%d", &rc), 1);
    fclose(f);
    f = fopen(err_path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    if (rc != 3) fail_msg("exit %d: %s", rc, buf);
    assert_non_null(strstr(buf, "llmux: write error: Broken pipe"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stdin_nul_byte),  cmocka_unit_test(test_stdin_directory),
        cmocka_unit_test(test_stdin_closed),    cmocka_unit_test(test_stdin_empty),
        cmocka_unit_test(test_stdin_over_cap),  cmocka_unit_test(test_stdin_at_cap),
        cmocka_unit_test(test_stdout_full),     cmocka_unit_test(test_stdout_reader_gone_local),
        cmocka_unit_test(test_stdin_prompt_then_usage_error), cmocka_unit_test(test_stdout_closed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
