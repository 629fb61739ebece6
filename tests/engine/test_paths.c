/* Allowed-directory checks: canonicalisation, "..", symlink escapes, prefix tricks. */
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
#include <unistd.h>

#include <cmocka.h>

#include "engine/paths.h"

static char g_root[PATH_MAX];

static void touch(const char *rel) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", g_root, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("GGUF", f);
    fclose(f);
}

static void sub(char *out, const char *rel) { snprintf(out, PATH_MAX, "%s/%s", g_root, rel); }

static int setup(void **state) {
    (void)state;
    char tmpl[] = "/tmp/llmux-paths-XXXXXX";
    if (!mkdtemp(tmpl)) return -1;
    if (!realpath(tmpl, g_root)) return -1;
    char p[PATH_MAX];
    sub(p, "allowed");
    mkdir(p, 0700);
    sub(p, "allowed/sub");
    mkdir(p, 0700);
    sub(p, "allowed2");
    mkdir(p, 0700);
    sub(p, "outside");
    mkdir(p, 0700);
    touch("allowed/a.gguf");
    touch("allowed/sub/b.gguf");
    touch("allowed2/c.gguf");
    touch("outside/secret.gguf");
    char target[PATH_MAX];
    sub(target, "outside/secret.gguf");
    sub(p, "allowed/link.gguf");
    if (symlink(target, p) != 0) return -1;
    sub(target, "allowed/a.gguf");
    sub(p, "allowed/inner-link.gguf");
    if (symlink(target, p) != 0) return -1;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    return system(cmd) == 0 ? 0 : -1;
}

static llmux_status check(const char *rel, char *out, llmux_error_info *err) {
    char dir[PATH_MAX], p[PATH_MAX];
    sub(dir, "allowed");
    sub(p, rel);
    const char *dirs[] = {dir};
    return lx_path_check_allowed(dirs, 1, p, out, PATH_MAX, err);
}

static void test_inside_allowed(void **state) {
    (void)state;
    char out[PATH_MAX], want[PATH_MAX];
    llmux_error_info err;
    assert_int_equal(check("allowed/a.gguf", out, &err), LLMUX_OK);
    sub(want, "allowed/a.gguf");
    assert_string_equal(out, want);
    assert_int_equal(check("allowed/sub/b.gguf", out, &err), LLMUX_OK);
    /* "." and ".." that stay inside are fine, and canonicalised. */
    assert_int_equal(check("allowed/sub/../a.gguf", out, &err), LLMUX_OK);
    assert_string_equal(out, want);
    /* A symlink whose target is inside is fine, and resolves to the target. */
    assert_int_equal(check("allowed/inner-link.gguf", out, &err), LLMUX_OK);
    assert_string_equal(out, want);
}

static void test_dotdot_escape_refused(void **state) {
    (void)state;
    char out[PATH_MAX];
    llmux_error_info err;
    assert_int_equal(check("allowed/../outside/secret.gguf", out, &err), LLMUX_E_PERMISSION);
    assert_non_null(strstr(err.message, "outside the allowed model directories"));
}

static void test_symlink_escape_refused(void **state) {
    (void)state;
    char out[PATH_MAX];
    llmux_error_info err;
    assert_int_equal(check("allowed/link.gguf", out, &err), LLMUX_E_PERMISSION);
}

static void test_prefix_is_not_inside(void **state) {
    (void)state;
    /* "<root>/allowed2/c.gguf" starts with the string "<root>/allowed" but is not inside it. */
    char out[PATH_MAX];
    llmux_error_info err;
    assert_int_equal(check("allowed2/c.gguf", out, &err), LLMUX_E_PERMISSION);
}

static void test_missing_and_directory(void **state) {
    (void)state;
    char out[PATH_MAX];
    llmux_error_info err;
    assert_int_equal(check("allowed/nope.gguf", out, &err), LLMUX_E_MODEL_NOT_FOUND);
    /* A directory inside an allowed one is a configuration mistake, not a permission problem. */
    assert_int_equal(check("allowed/sub", out, &err), LLMUX_E_CONFIGURATION);
    assert_non_null(strstr(err.message, "not a regular file"));
    /* The allowed directory itself is not inside any allowed directory. */
    assert_int_equal(check("allowed", out, &err), LLMUX_E_PERMISSION);
}

/* A FIFO or a device inside an allowed directory: the same class and message as a directory,
 * and checking it never opens it (opening a FIFO for reading blocks until a writer comes). */
static void test_fifo_and_device(void **state) {
    (void)state;
    char out[PATH_MAX], fifo[PATH_MAX];
    llmux_error_info err;
    sub(fifo, "allowed/pipe.gguf");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(check("allowed/pipe.gguf", out, &err), LLMUX_E_CONFIGURATION);
    assert_non_null(strstr(err.message, "not a regular file"));
    const char *dev[] = {"/dev"};
    assert_int_equal(lx_path_check_allowed(dev, 1, "/dev/zero", out, sizeof out, &err), LLMUX_E_CONFIGURATION);
    assert_non_null(strstr(err.message, "not a regular file"));
    unlink(fifo);
}

static void test_small_buffer(void **state) {
    (void)state;
    char dir[PATH_MAX], p[PATH_MAX], out[8];
    llmux_error_info err;
    sub(dir, "allowed");
    sub(p, "allowed/a.gguf");
    const char *dirs[] = {dir};
    assert_int_equal(lx_path_check_allowed(dirs, 1, p, out, sizeof out, &err), LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(err.message, "bytes needed"));
}

static void test_no_dirs_refuses_all(void **state) {
    (void)state;
    char p[PATH_MAX], out[PATH_MAX];
    llmux_error_info err;
    sub(p, "allowed/a.gguf");
    assert_int_equal(lx_path_check_allowed(NULL, 0, p, out, sizeof out, &err), LLMUX_E_PERMISSION);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inside_allowed),        cmocka_unit_test(test_dotdot_escape_refused),
        cmocka_unit_test(test_symlink_escape_refused), cmocka_unit_test(test_prefix_is_not_inside),
        cmocka_unit_test(test_missing_and_directory), cmocka_unit_test(test_small_buffer),
        cmocka_unit_test(test_no_dirs_refuses_all),   cmocka_unit_test(test_fifo_and_device),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
