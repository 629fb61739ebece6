/* `llmux models --catalog [--json]`: the built binary prints the catalog it ships (every entry
 * of data/catalog.json, with each price's source and date), a table with the same rows, and
 * refuses a PROVIDER or provider options next to --catalog. */
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "support/cli_run.h"

#define LLMUX LLMUX_TEST_BIN_DIR "/llmux"

static int setup(void **state) {
    (void)state;
    return cli_scratch_create("llmux-cli-catalog");
}

static int teardown(void **state) {
    (void)state;
    return cli_scratch_remove();
}

static json_t *shipped_models(void) {
    json_error_t jerr;
    json_t *root = json_load_file(LLMUX_SOURCE_DIR "/data/catalog.json", 0, &jerr);
    assert_non_null(root);
    json_t *models = json_incref(json_object_get(root, "models"));
    json_decref(root);
    return models;
}

static json_t *by_id(json_t *arr, const char *id) {
    for (size_t i = 0; i < json_array_size(arr); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(arr, i), "id")), id) == 0)
            return json_array_get(arr, i);
    return NULL;
}

static void test_catalog_json(void **state) {
    (void)state;
    cli_result r;
    cli_run(LLMUX " models --catalog --json", &r);
    if (r.code != 0) fprintf(stderr, "%s", r.err);
    assert_int_equal(r.code, 0);
    json_error_t jerr;
    json_t *out = json_loads(r.out, 0, &jerr);
    if (!out) fail_msg("stdout is not JSON (%s): %.200s", jerr.text, r.out);
    assert_true(json_is_array(out));
    json_t *models = shipped_models();
    assert_int_equal(json_array_size(out), json_array_size(models));
    const char *prev = "";
    for (size_t i = 0; i < json_array_size(out); i++) {
        json_t *e = json_array_get(out, i);
        const char *id = json_string_value(json_object_get(e, "id"));
        assert_non_null(id);
        assert_true(strcmp(prev, id) < 0); /* sorted by id */
        prev = id;
        json_t *m = by_id(models, id);
        if (!m) fail_msg("%s: printed but not shipped", id);
        json_t *price = json_object_get(m, "price");
        if (json_is_object(price)) {
            assert_string_equal(json_string_value(json_object_get(e, "price_source")), "static");
            assert_string_equal(json_string_value(json_object_get(e, "price_date")),
                                json_string_value(json_object_get(price, "date")));
            assert_string_equal(json_string_value(json_object_get(e, "price_url")),
                                json_string_value(json_object_get(price, "source")));
            json_t *in = json_object_get(price, "input");
            if (json_is_number(in))
                assert_true(json_number_value(json_object_get(e, "input_price")) == json_number_value(in));
        } else {
            assert_true(json_is_null(json_object_get(e, "price_source")));
            assert_true(json_is_null(json_object_get(e, "input_price")));
        }
        assert_true(json_is_object(json_object_get(e, "capabilities")));
    }
    json_decref(models);
    json_decref(out);
}

static void test_catalog_table(void **state) {
    (void)state;
    cli_result r;
    cli_run(LLMUX " models --catalog", &r);
    assert_int_equal(r.code, 0);
    json_t *models = shipped_models();
    /* A header line plus one line per entry. */
    size_t lines = 0;
    for (const char *p = r.out; *p; p++) lines += *p == '\n';
    assert_int_equal(lines, json_array_size(models) + 1);
    assert_true(strncmp(r.out, "ID ", 3) == 0);
    assert_non_null(strstr(r.out, "CONTEXT MAX_OUTPUT    INPUT   CACHED    WRITE   OUTPUT DATE       SOURCE\n"));
    for (size_t i = 0; i < json_array_size(models); i++) {
        const char *id = json_string_value(json_object_get(json_array_get(models, i), "id"));
        char needle[600];
        snprintf(needle, sizeof needle, "\n%s ", id);
        if (!strstr(r.out, needle)) fail_msg("%s: no row", id);
    }
    /* A shipped price with its date, in its row. */
    const char *row = strstr(r.out, "\nopenrouter/openai/gpt-4o-mini ");
    assert_non_null(row);
    const char *end = strchr(row + 1, '\n');
    char line[512];
    snprintf(line, sizeof line, "%.*s", (int)(end - row - 1), row + 1);
    assert_non_null(strstr(line, " 128000 "));
    assert_non_null(strstr(line, " 0.15 "));
    assert_non_null(strstr(line, " 0.6 "));
    assert_non_null(strstr(line, " static"));
    json_decref(models);
}

static void test_catalog_refuses_provider_arguments(void **state) {
    (void)state;
    cli_result r;
    cli_run(LLMUX " models --catalog openai", &r);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "--catalog takes no PROVIDER"));
    cli_run(LLMUX " models --catalog --base-url http://127.0.0.1:9", &r);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "--base-url"));
    assert_string_equal(r.out, "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog_json),
        cmocka_unit_test(test_catalog_table),
        cmocka_unit_test(test_catalog_refuses_provider_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
