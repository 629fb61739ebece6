/* local_prompt_cache_dir through the public API, on a copy of the bundled model: a prompt run by
 * one runtime is restored by the next (usage.cached_input_tokens counts the reused prefix) once
 * the first was destroyed; a damaged file is ignored with a warning and the request still
 * succeeds, processing its prompt whole; a model file changed on disk does not restore the old
 * model's state; a path that is a file is refused. Prints the first-token times it saw (not
 * asserted: timing on a shared machine is noise). */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
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

#include "llmux.h"
#include "support/local_runtime.h"
#include "support/model_dir.h"

#define BUNDLED BUNDLED_MODEL_DIR "/llmux-fortunes.gguf"
#define PROMPT                                                                                                        \
    "A long prompt that a returning user sends again: the system rules, the earlier turns of the conversation, "     \
    "and then the new question at the end. What will tomorrow bring?"

static char g_root[PATH_MAX], g_models[PATH_MAX], g_cache[PATH_MAX];

static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_warnings;
static char g_warning[1024];

static void on_log(llmux_log_level level, const char *msg, void *ud) {
    (void)ud;
    if (level != LLMUX_LOG_WARN) return;
    pthread_mutex_lock(&g_log_mu);
    if (strstr(msg, "prompt cache")) {
        g_warnings++;
        snprintf(g_warning, sizeof g_warning, "%s", msg);
    }
    pthread_mutex_unlock(&g_log_mu);
}

static llmux_runtime *make_runtime(const char *cache_dir, int32_t host_cache_mb) {
    local_rt l;
    local_rt_init(&l, g_models, 2, 256);
    l.rp.local_slots = 2;
    l.rp.local_prompt_cache_mb = host_cache_mb;
    l.rp.local_prompt_cache_dir = cache_dir;
    l.rp.local_prompt_cache_dir_mb = 64;
    l.rp.log = on_log;
    l.rp.log_level = LLMUX_LOG_WARN;
    return local_rt_create(&l);
}

/* Runs PROMPT greedily; returns its usage, and its first-token time in *ttft_ms. */
static llmux_usage run(llmux_runtime *rt, double *ttft_ms) {
    llmux_request req = llmux_request_default();
    llmux_part p = {.type = LLMUX_PART_TEXT, .text = PROMPT};
    llmux_message m = {.role = LLMUX_ROLE_USER, .parts = &p, .n_parts = 1};
    req.model = "local/fortunes";
    req.messages = &m;
    req.n_messages = 1;
    req.sampling.max_tokens = 8;
    req.sampling.temperature = 0;
    llmux_response *resp = NULL;
    llmux_error_info err;
    llmux_status st = llmux_run(rt, &req, NULL, &resp, &err);
    if (st != LLMUX_OK) fprintf(stderr, "%s\n", err.message);
    assert_int_equal(st, LLMUX_OK);
    llmux_usage u = resp->usage;
    if (ttft_ms) *ttft_ms = resp->timing.ttft_ms;
    llmux_response_free(resp);
    return u;
}

static int count_cache_files(void) {
    DIR *d = opendir(g_cache);
    if (!d) return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len > 5 && strcmp(de->d_name + len - 5, ".lxpc") == 0) n++;
    }
    closedir(d);
    return n;
}

/* The path of the one cache file (the test's runs leave one). */
static void cache_file(char *out, size_t size) {
    DIR *d = opendir(g_cache);
    assert_non_null(d);
    struct dirent *de;
    out[0] = '\0';
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len > 5 && strcmp(de->d_name + len - 5, ".lxpc") == 0) snprintf(out, size, "%s/%s", g_cache, de->d_name);
    }
    closedir(d);
    assert_true(out[0] != '\0');
}

static int setup(void **state) {
    (void)state;
    if (model_dir_create("llmux-pcdir", g_root, sizeof g_root)) return -1;
    snprintf(g_models, sizeof g_models, "%s/models", g_root);
    snprintf(g_cache, sizeof g_cache, "%s/cache", g_root); /* created by the runtime */
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "mkdir '%s' && cp '%s' '%s/fortunes.gguf'", g_models, BUNDLED, g_models);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    return model_dir_remove(g_root);
}

static int reset_cache(void **state) {
    (void)state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_cache);
    g_warnings = 0;
    return system(cmd) == 0 ? 0 : -1;
}

static void check_restored_across_runtimes(int32_t host_cache_mb) {
    double cold_ms = 0, warm_ms = 0;
    llmux_runtime *rt = make_runtime(g_cache, host_cache_mb);
    llmux_usage u1 = run(rt, &cold_ms);
    assert_int_equal(u1.cached_input_tokens, 0);
    assert_true(u1.input_tokens > 100);
    llmux_runtime_destroy(rt); /* the model is unloaded: its slots' prefixes go to files */
    assert_int_equal(count_cache_files(), 1);

    rt = make_runtime(g_cache, host_cache_mb);
    llmux_usage u2 = run(rt, &warm_ms);
    assert_int_equal(u2.input_tokens, u1.input_tokens);
    /* Everything but the last prompt token (decoded for its logits) came from the file. */
    assert_int_equal(u2.cached_input_tokens, u1.input_tokens - 1);
    llmux_runtime_destroy(rt);
    assert_int_equal(g_warnings, 0);
    /* The second runtime's slot held the same prefix and more: still one file. */
    assert_int_equal(count_cache_files(), 1);
    fprintf(stderr, "host cache %d MiB: %lld prompt tokens, first token after %.1f ms cold, %.1f ms restored\n",
            host_cache_mb, (long long)u1.input_tokens, cold_ms, warm_ms);
}

static void test_restored_across_runtimes(void **state) {
    (void)state;
    check_restored_across_runtimes(256);
}

static void test_restored_without_host_cache(void **state) {
    (void)state;
    check_restored_across_runtimes(0);
}

/* A byte of the saved state flipped: the file is refused with a warning, the prompt is processed
 * whole, and the answer comes. */
static void test_damaged_file_ignored(void **state) {
    (void)state;
    llmux_runtime *rt = make_runtime(g_cache, 256);
    run(rt, NULL);
    llmux_runtime_destroy(rt);
    char path[PATH_MAX];
    cache_file(path, sizeof path);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, -100, SEEK_END), 0);
    int c = fgetc(f);
    assert_int_equal(fseek(f, -100, SEEK_END), 0);
    fputc(c ^ 0x5a, f);
    fclose(f);

    rt = make_runtime(g_cache, 256);
    llmux_usage u = run(rt, NULL);
    assert_int_equal(u.cached_input_tokens, 0);
    llmux_runtime_destroy(rt);
    assert_true(g_warnings >= 1);
    assert_non_null(strstr(g_warning, "ignored"));

    /* Garbage in place of the file: refused when the directory is read. */
    f = fopen(path, "wb");
    assert_non_null(f);
    fputs("not a cache file at all", f);
    fclose(f);
    g_warnings = 0;
    rt = make_runtime(g_cache, 256);
    u = run(rt, NULL);
    assert_int_equal(u.cached_input_tokens, 0);
    llmux_runtime_destroy(rt);
    assert_true(g_warnings >= 1);
}

/* The model file changed on disk (new mtime): the old model's files are not its own. */
static void test_changed_model_not_restored(void **state) {
    (void)state;
    llmux_runtime *rt = make_runtime(g_cache, 256);
    run(rt, NULL);
    llmux_runtime_destroy(rt);
    char cmd[2 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "touch -d '+1 minute' '%s/fortunes.gguf'", g_models);
    assert_int_equal(system(cmd), 0);
    rt = make_runtime(g_cache, 256);
    llmux_usage u = run(rt, NULL);
    assert_int_equal(u.cached_input_tokens, 0);
    llmux_runtime_destroy(rt);
    assert_int_equal(g_warnings, 0); /* another model's files: left alone, silently */
    assert_int_equal(count_cache_files(), 2);
}

static void test_dir_refusals(void **state) {
    (void)state;
    char file[PATH_MAX + 8];
    snprintf(file, sizeof file, "%s/plain", g_root);
    FILE *f = fopen(file, "w");
    fclose(f);
    llmux_runtime_params rp = llmux_runtime_default_params();
    rp.local_prompt_cache_dir = file;
    llmux_runtime *rt = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_runtime_create(&rp, &rt, &err), LLMUX_E_CONFIGURATION);
    assert_null(rt);
    assert_non_null(strstr(err.message, "not a directory"));
    char deep[PATH_MAX + 16];
    snprintf(deep, sizeof deep, "%s/a/b/c", g_root);
    rp.local_prompt_cache_dir = deep;
    assert_int_equal(llmux_runtime_create(&rp, &rt, &err), LLMUX_E_CONFIGURATION);
    rp.local_prompt_cache_dir = "";
    assert_int_equal(llmux_runtime_create(&rp, &rt, &err), LLMUX_E_CONFIGURATION);
    rp.local_prompt_cache_dir = g_cache;
    rp.local_prompt_cache_dir_mb = -1;
    assert_int_equal(llmux_runtime_create(&rp, &rt, &err), LLMUX_E_CONFIGURATION);
    rp.local_prompt_cache_dir_mb = 0;
    assert_int_equal(llmux_runtime_create(&rp, &rt, &err), LLMUX_OK);
    struct stat st;
    assert_int_equal(stat(g_cache, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    llmux_runtime_destroy(rt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_restored_across_runtimes, reset_cache),
        cmocka_unit_test_setup(test_restored_without_host_cache, reset_cache),
        cmocka_unit_test_setup(test_damaged_file_ignored, reset_cache),
        cmocka_unit_test_setup(test_changed_model_not_restored, reset_cache),
        cmocka_unit_test_setup(test_dir_refusals, reset_cache),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
