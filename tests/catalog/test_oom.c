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

#include "support/oom_torture.h"

static char *g_doc; /* data/catalog.json, read before arming */
static size_t g_len;

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
    assert_true(oom_torture(op_load) > 20);

    g_loaded = lx_catalog_create();
    llmux_error_info err;
    assert_int_equal(lx_catalog_load_static(g_loaded, g_doc, g_len, &err), LLMUX_OK);
    assert_true(oom_torture(op_export_json) > 1);
    lx_catalog_destroy(g_loaded);
    free(g_doc);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_load_and_export)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
