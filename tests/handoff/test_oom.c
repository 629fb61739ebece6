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

#include "support/oom_torture.h"

static llmux_status run(const llmux_request *in, const lx_handoff_opts *o) {
    llmux_request *out = (llmux_request *)in; /* must come back NULL on failure */
    llmux_error_info err;
    llmux_status st = lx_handoff(in, o, &out, &err);
    if (st != LLMUX_OK) assert_null(out);
    if (st != LLMUX_OK) assert_int_equal(err.status, st);
    llmux_request_free(out);
    return st;
}

static const llmux_request *g_in;
static const lx_handoff_opts *g_opts;

static llmux_status run_current(void) { return run(g_in, g_opts); }

static void torture_json(const char *buf, size_t n, const char *path, const char *origin, const char *target) {
    llmux_request *in = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_request_from_json(buf, n, &in, &err), LLMUX_OK);
    lx_handoff_opts o = {.origin = origin, .target_protocol = target, .reasoning_as_text = true};
    g_in = in;
    g_opts = &o;
    long total = oom_torture(run_current);
    if (total <= 3) fail_msg("%s -> %s: only %ld allocations", path, target, total);
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
