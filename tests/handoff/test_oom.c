/* Out-of-memory policy (STYLE.md §9) for handoff: every allocation of lx_handoff fails in turn
 * (curl's torture mode, as in tests/core/test_oom.c); each failure is LLMUX_E_OUT_OF_MEMORY with
 * *out NULL, and the sanitizer build's LeakSanitizer checks that nothing leaks on the way out.
 * malloc/calloc/realloc are wrapped at link time (tests/CMakeLists.txt). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "handoff/handoff.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);

static long g_count;   /* allocations so far */
static long g_fail_at; /* the allocation that fails (1-based); 0 = never */
static int g_armed;    /* count only inside the operation under test */

static int should_fail(void) {
    if (!g_armed) return 0;
    g_count++;
    return g_fail_at && g_count == g_fail_at;
}

void *__wrap_malloc(size_t n);
void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_calloc(size_t n, size_t m) { return should_fail() ? NULL : __real_calloc(n, m); }
void *__wrap_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n) { return should_fail() ? NULL : __real_realloc(p, n); }

static llmux_status run(const llmux_request *in, const lx_handoff_opts *o) {
    llmux_request *out = (llmux_request *)in; /* must come back NULL on failure */
    llmux_error_info err;
    g_armed = 1;
    llmux_status st = lx_handoff(in, o, &out, &err);
    g_armed = 0;
    if (st != LLMUX_OK) assert_null(out);
    if (st != LLMUX_OK) assert_int_equal(err.status, st);
    llmux_request_free(out);
    return st;
}

static void torture_json(const char *buf, size_t n, const char *path, const char *origin, const char *target) {
    llmux_request *in = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_request_from_json(buf, n, &in, &err), LLMUX_OK);
    lx_handoff_opts o = {.origin = origin, .target_protocol = target, .reasoning_as_text = true};
    g_fail_at = 0;
    g_count = 0;
    assert_int_equal(run(in, &o), LLMUX_OK);
    long total = g_count;
    assert_true(total > 3); /* the output's arena, the work arrays, the id set at least */
    for (long k = 1; k <= total; k++) {
        g_count = 0;
        g_fail_at = k;
        llmux_status st = run(in, &o);
        if (st != LLMUX_E_OUT_OF_MEMORY)
            fail_msg("%s -> %s: failure %ld of %ld gave %s", path, target, k, total, llmux_status_name(st));
    }
    g_fail_at = 0;
    llmux_request_free(in);
}

static void torture(const char *path, const char *origin, const char *target) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("missing %s", path);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    torture_json(buf, n, path, origin, target);
}

static void test_handoff_oom(void **state) {
    (void)state;
    static const char *const targets[] = {"openai", "anthropic", "gemini", "ollama", "local"};
    for (int t = 0; t < 5; t++) {
        torture("tests/data/handoff/in_anthropic.json", "openai", targets[t]);
        torture("tests/data/handoff/in_gemini.json", "gemini", targets[t]);
        torture("tests/data/handoff/in_openai.json", "anthropic", targets[t]);
    }
    /* Orphans turned into text, a data-URL image split for Ollama, metadata and stop copied. */
    static const char images[] =
        "{\"messages\":[{\"role\":\"tool\",\"content\":[{\"type\":\"tool_result\",\"id\":\"x\",\"content\":\"r\"}]},"
        "{\"role\":\"user\",\"name\":\"n\",\"content\":[{\"type\":\"image\",\"url\":\"data:image/png;base64,AAAA\"}]},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_call\",\"id\":\"\",\"name\":\"f\"}]}],"
        "\"stop\":[\"s\"],\"metadata\":{\"k\":\"v\"}}";
    for (int t = 0; t < 5; t++) torture_json(images, sizeof images - 1, "inline", NULL, targets[t]);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_handoff_oom)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
