/* The catalog shipped with llmux, end to end: every runtime starts with the entries of
 * data/catalog.json (the copy compiled into the library matches the file), a request to a
 * shipped model is priced exactly from the file's figures against the fake provider server, a
 * configured price overrides the shipped one, and discovery only fills what the shipped data
 * lacks. Expected figures are read from the file itself, so the tests follow the data. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <math.h>

#include "llmux.h"
#include "remote_fixture.h"
#include "runtime/runtime_internal.h"

static json_t *shipped(void) {
    json_error_t jerr;
    json_t *root = json_load_file(LLMUX_SOURCE_DIR "/data/catalog.json", 0, &jerr);
    if (!root) fail_msg("data/catalog.json: %s (line %d)", jerr.text, jerr.line);
    return root;
}

/* The shipped entry for id (borrowed from root). */
static json_t *shipped_model(json_t *root, const char *id) {
    json_t *models = json_object_get(root, "models");
    for (size_t i = 0; i < json_array_size(models); i++) {
        json_t *m = json_array_get(models, i);
        if (strcmp(json_string_value(json_object_get(m, "id")), id) == 0) return m;
    }
    fail_msg("%s is not in data/catalog.json", id);
    return NULL;
}

static double shipped_price(json_t *root, const char *id, const char *which) {
    json_t *v = json_object_get(json_object_get(shipped_model(root, id), "price"), which);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

static llmux_response *run(fx *f, const char *model) {
    llmux_part part = {.type = LLMUX_PART_TEXT, .text = "Hi"};
    llmux_message m = {.role = LLMUX_ROLE_USER, .parts = &part, .n_parts = 1};
    llmux_request req = llmux_request_default();
    req.model = model;
    req.messages = &m;
    req.n_messages = 1;
    llmux_response *resp = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_run(f->rt, &req, NULL, &resp, &err), LLMUX_OK);
    assert_non_null(resp);
    return resp;
}

static bool has_warning(const llmux_response *r, const char *code) {
    for (size_t i = 0; i < r->n_warnings; i++)
        if (strcmp(r->warnings[i].code, code) == 0) return true;
    return false;
}

static const llmux_model_info *find(const llmux_model_list *l, const char *id) {
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->models[i].id, id) == 0) return &l->models[i];
    return NULL;
}

/* The compiled-in copy is the file: same ids, same figures. */
static void test_every_runtime_starts_with_the_shipped_entries(void **state) {
    (void)state;
    json_t *root = shipped();
    llmux_runtime_params p = llmux_runtime_default_params();
    llmux_runtime *rt = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_runtime_create(&p, &rt, &err), LLMUX_OK);
    llmux_model_list *l = NULL;
    assert_int_equal(llmux_catalog_list(rt, &l, &err), LLMUX_OK);
    json_t *models = json_object_get(root, "models");
    assert_int_equal(l->n, json_array_size(models));
    for (size_t i = 0; i < json_array_size(models); i++) {
        json_t *m = json_array_get(models, i);
        const char *id = json_string_value(json_object_get(m, "id"));
        const llmux_model_info *got = find(l, id);
        if (!got) fail_msg("%s: not in a new runtime's catalog", id);
        json_t *in = json_object_get(json_object_get(m, "price"), "input");
        if (json_is_number(in)) assert_true(got->input_price == json_number_value(in));
        else assert_true(isnan(got->input_price));
        json_t *ctx = json_object_get(m, "context_length");
        assert_int_equal(got->context_length, json_is_integer(ctx) ? json_integer_value(ctx) : -1);
    }
    llmux_model_list_free(l);
    llmux_runtime_destroy(rt);
    json_decref(root);
}

/* tests/data/fake/anthropic/response_text.json reports 11 input and 4 output tokens. */
static void test_request_priced_from_shipped_data(void **state) {
    (void)state;
    json_t *root = shipped();
    const char *id = "anthropic/claude-sonnet-4-5-20250929";
    double in = shipped_price(root, id, "input"), out = shipped_price(root, id, "output");
    fx f;
    fx_start(&f, "anthropic", NULL, "", 0);
    fx_push(&f, NULL, "/v1/messages", 200, "application/json", NULL, "tests/data/fake/anthropic/response_text.json", 0);
    llmux_response *r = run(&f, id);
    assert_int_equal(r->usage.input_tokens, 11);
    assert_int_equal(r->usage.output_tokens, 4);
    assert_true(r->cost.known);
    assert_true(r->cost.input == 11 * in / 1e6);
    assert_true(r->cost.output == 4 * out / 1e6);
    assert_true(fabs(r->cost.total - (11 * in + 4 * out) / 1e6) <= 1e-18);
    assert_false(has_warning(r, "price_unknown"));
    assert_false(has_warning(r, "price_approximate"));
    assert_int_equal(lx_runtime_price_origin(f.rt, id, r), LX_PRICE_ORIGIN_STATIC);
    assert_int_equal(lx_runtime_price_origin(f.rt, "anthropic/not-shipped", &(llmux_response){0}),
                     LX_PRICE_ORIGIN_NONE);
    llmux_response_free(r);

    /* A configured price for the same id wins over the shipped one. */
    llmux_model_info conf = {.id = id, .context_length = -1, .max_output_tokens = -1, .input_price = 100,
                             .output_price = 1000, .cache_read_price = NAN, .cache_write_price = NAN};
    llmux_error_info err;
    assert_int_equal(llmux_catalog_add(f.rt, &conf, 1, &err), LLMUX_OK);
    fx_push(&f, NULL, "/v1/messages", 200, "application/json", NULL, "tests/data/fake/anthropic/response_text.json", 0);
    r = run(&f, id);
    assert_true(r->cost.input == 11 * 100 / 1e6);
    assert_true(r->cost.output == 4 * 1000 / 1e6);
    assert_int_equal(lx_runtime_price_origin(f.rt, id, r), LX_PRICE_ORIGIN_CONFIGURED);
    llmux_response_free(r);

    /* The export says where each price came from now. */
    char *doc = NULL;
    assert_int_equal(llmux_catalog_export_json(f.rt, &doc, &err), LLMUX_OK);
    json_error_t jerr;
    json_t *arr = json_loads(doc, 0, &jerr);
    llmux_free(doc);
    assert_non_null(arr);
    size_t seen = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *m = json_array_get(arr, i);
        const char *mid = json_string_value(json_object_get(m, "id"));
        const char *src = json_string_value(json_object_get(m, "price_source"));
        if (strcmp(mid, id) == 0) {
            assert_string_equal(src, "configured");
            seen++;
        } else if (strcmp(mid, "anthropic/claude-haiku-4-5-20251001") == 0) {
            assert_string_equal(src, "static");
            assert_string_equal(json_string_value(json_object_get(m, "price_date")),
                                json_string_value(json_object_get(
                                    json_object_get(shipped_model(root, mid), "price"), "date")));
            seen++;
        }
    }
    assert_int_equal(seen, 2);
    json_decref(arr);
    fx_stop(&f);
    json_decref(root);
}

/* OpenRouter's list disagrees with the shipped prices of openrouter/openai/gpt-4o-mini and adds a
 * max output the shipped data lacks: the prices stay, the max output is taken. */
static void test_discovery_fills_only_what_shipped_data_lacks(void **state) {
    (void)state;
    json_t *root = shipped();
    const char *id = "openrouter/openai/gpt-4o-mini";
    assert_true(json_is_null(json_object_get(shipped_model(root, id), "max_output_tokens")));
    double in = shipped_price(root, id, "input"), out = shipped_price(root, id, "output");
    fx f;
    fx_start(&f, "openrouter", NULL, "/api/v1", 0);
    fx_push(&f, NULL, "/api/v1/models", 200, "application/json",
            "{\"data\":[{\"id\":\"openai/gpt-4o-mini\",\"name\":\"Renamed\",\"context_length\":1,"
            "\"top_provider\":{\"max_completion_tokens\":16384},"
            "\"pricing\":{\"prompt\":\"0.009\",\"completion\":\"0.009\",\"input_cache_read\":\"0.000000075\"}}]}",
            NULL, 0);
    llmux_model_list *l = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_list_models(f.rt, "openrouter", NULL, &l, &err), LLMUX_OK);
    llmux_model_list_free(l);
    assert_int_equal(llmux_catalog_list(f.rt, &l, &err), LLMUX_OK);
    const llmux_model_info *m = find(l, id);
    assert_non_null(m);
    assert_true(m->input_price == in);
    assert_true(m->output_price == out);
    assert_int_equal(m->context_length, json_integer_value(json_object_get(shipped_model(root, id), "context_length")));
    assert_string_equal(m->name, json_string_value(json_object_get(shipped_model(root, id), "name")));
    assert_int_equal(m->max_output_tokens, 16384);           /* missing in the shipped data: filled */
    assert_true(fabs(m->cache_read_price - 0.075) <= 1e-12); /* likewise */
    llmux_model_list_free(l);
    fx_stop(&f);
    json_decref(root);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_runtime_starts_with_the_shipped_entries),
        cmocka_unit_test(test_request_priced_from_shipped_data),
        cmocka_unit_test(test_discovery_fills_only_what_shipped_data_lacks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
