/* Out of memory in the catalog's static layer (STYLE.md §9): loading the shipped data and
 * exporting the catalog as JSON give LLMUX_E_OUT_OF_MEMORY at every allocation that fails, and
 * leak nothing (LSan checks in the sanitizer build). As in tests/core/test_oom.c, malloc, calloc
 * and realloc are wrapped at link time for llmux's own code; jansson keeps the real allocator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "catalog/catalog.h"
#include "catalog/catalog_static.h"

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

static char *g_doc; /* data/catalog.json, read before arming */
static size_t g_len;

typedef llmux_status (*op_fn)(void);

/* Runs op with every allocation failing in turn; returns how many failure points were tried. */
static long torture(op_fn op) {
    g_armed = 1;
    g_fail_at = 0;
    g_count = 0;
    assert_int_equal(op(), LLMUX_OK);
    long total = g_count;
    for (long n = 1; n <= total; n++) {
        g_count = 0;
        g_fail_at = n;
        llmux_status st = op();
        if (st != LLMUX_E_OUT_OF_MEMORY) print_message("failure point %ld of %ld gave %d\n", n, total, (int)st);
        assert_int_equal(st, LLMUX_E_OUT_OF_MEMORY);
    }
    g_armed = 0;
    g_fail_at = 0;
    return total;
}

static llmux_status op_load(void) {
    lx_catalog *c = lx_catalog_create();
    if (!c) return LLMUX_E_OUT_OF_MEMORY;
    llmux_error_info err;
    llmux_status st = lx_catalog_load_static(c, g_doc, g_len, &err);
    lx_catalog_destroy(c);
    return st;
}

static lx_catalog *g_loaded;

static llmux_status op_export_json(void) {
    char *s = NULL;
    llmux_error_info err;
    llmux_status st = lx_catalog_export_json(g_loaded, &s, &err);
    if (st == LLMUX_OK) assert_non_null(s);
    else assert_null(s);
    free(s);
    return st;
}

static void test_load_and_export(void **state) {
    (void)state;
    FILE *f = fopen(LLMUX_SOURCE_DIR "/data/catalog.json", "rb");
    assert_non_null(f);
    g_doc = malloc(LX_CATALOG_STATIC_MAX_BYTES);
    assert_non_null(g_doc);
    g_len = fread(g_doc, 1, LX_CATALOG_STATIC_MAX_BYTES, f);
    fclose(f);
    assert_true(g_len > 0);
    /* Every entry costs allocations: a sweep that tried only a handful would prove little. */
    assert_true(torture(op_load) > 20);

    g_loaded = lx_catalog_create();
    llmux_error_info err;
    assert_int_equal(lx_catalog_load_static(g_loaded, g_doc, g_len, &err), LLMUX_OK);
    assert_true(torture(op_export_json) > 1);
    lx_catalog_destroy(g_loaded);
    free(g_doc);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_load_and_export)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
