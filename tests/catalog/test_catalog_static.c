/* The static layer of the catalog: the precedence of the three layers field by field (configured
 * over static over discovered, in whatever order they arrive), price provenance, the strict
 * loader (every malformed document refused whole, naming the place), the JSON export, and the
 * data file shipped in the repository: it loads, and every entry is well formed. */
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

#include "catalog/catalog.h"
#include "catalog/catalog_static.h"

static llmux_model_info entry(const char *id) {
    llmux_model_info m = {.id = id, .context_length = -1, .max_output_tokens = -1, .input_price = NAN,
                          .output_price = NAN, .cache_read_price = NAN, .cache_write_price = NAN};
    return m;
}

static llmux_status load(lx_catalog *c, const char *doc, llmux_error_info *err) {
    return lx_catalog_load_static(c, doc, strlen(doc), err);
}

/* One static entry: input 1, output 2, context 100; cache prices and max output unknown. */
static const char k_doc[] =
    "{\"schema\":1,\"models\":[{\"id\":\"p/m\",\"name\":\"Shipped\",\"context_length\":100,"
    "\"limits_source\":\"https://example.com/limits\",\"capabilities\":{\"tools\":true,\"vision\":false},"
    "\"price\":{\"input\":1,\"output\":2,\"date\":\"2026-12-01\",\"source\":\"https://example.com/prices\"},"
    "\"note\":\"base tier\"}]}";

static void test_discovery_fills_only_missing_static_fields(void **state) {
    (void)state;
    lx_catalog *c = lx_catalog_create();
    llmux_error_info err;
    assert_int_equal(load(c, k_doc, &err), LLMUX_OK);
    assert_int_equal(lx_catalog_price_origin(c, "p/m"), LX_PRICE_ORIGIN_STATIC);

    llmux_model_info d = entry("p/m");
    d.name = "Discovered";
    d.input_price = 9;        /* static: kept */
    d.output_price = 9;       /* static: kept */
    d.cache_read_price = 0.5; /* missing: filled */
    d.context_length = 999;   /* static: kept */
    d.max_output_tokens = 50; /* missing: filled */
    assert_int_equal(lx_catalog_merge(c, &d, 1, LX_CATALOG_DISCOVERED, &err), LLMUX_OK);
    const llmux_model_info *m = lx_catalog_find(c, "p/m");
    assert_string_equal(m->name, "Shipped");
    assert_true(m->input_price == 1 && m->output_price == 2);
    assert_true(m->cache_read_price == 0.5);
    assert_true(isnan(m->cache_write_price));
    assert_int_equal(m->context_length, 100);
    assert_int_equal(m->max_output_tokens, 50);
    assert_int_equal(lx_catalog_price_origin(c, "p/m"), LX_PRICE_ORIGIN_STATIC);

    /* A second refresh may update what discovery itself filled. */
    d.cache_read_price = 0.25;
    assert_int_equal(lx_catalog_merge(c, &d, 1, LX_CATALOG_DISCOVERED, &err), LLMUX_OK);
    assert_true(lx_catalog_find(c, "p/m")->cache_read_price == 0.25);
    lx_catalog_destroy(c);
}

static void test_configured_beats_static_in_either_order(void **state) {
    (void)state;
    llmux_error_info err;
    llmux_model_info conf = entry("p/m");
    conf.input_price = 7;
    conf.context_length = 5;

    /* Static first (the runtime's order), then configured: configured wins where it speaks. */
    lx_catalog *c = lx_catalog_create();
    assert_int_equal(load(c, k_doc, &err), LLMUX_OK);
    assert_int_equal(lx_catalog_merge(c, &conf, 1, LX_CATALOG_CONFIGURED, &err), LLMUX_OK);
    const llmux_model_info *m = lx_catalog_find(c, "p/m");
    assert_true(m->input_price == 7);
    assert_true(m->output_price == 2); /* configured said nothing: static stays */
    assert_int_equal(m->context_length, 5);
    assert_int_equal(lx_catalog_price_origin(c, "p/m"), LX_PRICE_ORIGIN_CONFIGURED);
    lx_catalog_destroy(c);

    /* Configured first, static later: the static layer never overwrites a configured field. */
    c = lx_catalog_create();
    assert_int_equal(lx_catalog_merge(c, &conf, 1, LX_CATALOG_CONFIGURED, &err), LLMUX_OK);
    assert_int_equal(load(c, k_doc, &err), LLMUX_OK);
    m = lx_catalog_find(c, "p/m");
    assert_true(m->input_price == 7);
    assert_true(m->output_price == 2);
    assert_int_equal(m->context_length, 5);
    assert_int_equal(lx_catalog_price_origin(c, "p/m"), LX_PRICE_ORIGIN_CONFIGURED);
    lx_catalog_destroy(c);
}

static void test_static_replaces_discovered(void **state) {
    (void)state;
    llmux_error_info err;
    lx_catalog *c = lx_catalog_create();
    llmux_model_info d = entry("p/m");
    d.input_price = 9;
    d.cache_write_price = 3;
    assert_int_equal(lx_catalog_merge(c, &d, 1, LX_CATALOG_DISCOVERED, &err), LLMUX_OK);
    assert_int_equal(lx_catalog_price_origin(c, "p/m"), LX_PRICE_ORIGIN_DISCOVERED);
    assert_int_equal(load(c, k_doc, &err), LLMUX_OK);
    const llmux_model_info *m = lx_catalog_find(c, "p/m");
    assert_true(m->input_price == 1);
    assert_true(m->cache_write_price == 3); /* the static data has none: the discovered one stays */
    assert_int_equal(lx_catalog_price_origin(c, "p/m"), LX_PRICE_ORIGIN_STATIC);
    assert_int_equal(lx_catalog_price_origin(c, "p/unknown"), LX_PRICE_ORIGIN_NONE);
    lx_catalog_destroy(c);
}

static void test_meta_and_json_export(void **state) {
    (void)state;
    llmux_error_info err;
    lx_catalog *c = lx_catalog_create();
    assert_int_equal(load(c, k_doc, &err), LLMUX_OK);
    llmux_model_info d = entry("q/discovered");
    d.input_price = 0.5;
    d.output_price = 1.5;
    assert_int_equal(lx_catalog_merge(c, &d, 1, LX_CATALOG_DISCOVERED, &err), LLMUX_OK);
    const lx_catalog_meta *meta = lx_catalog_meta_of(c, "p/m");
    assert_non_null(meta);
    assert_string_equal(meta->price_date, "2026-12-01");
    assert_string_equal(meta->price_url, "https://example.com/prices");
    assert_int_equal(meta->tools, 1);
    assert_int_equal(meta->vision, 0);
    assert_int_equal(meta->reasoning, -1);
    assert_null(lx_catalog_meta_of(c, "q/discovered"));

    char *s = NULL;
    assert_int_equal(lx_catalog_export_json(c, &s, &err), LLMUX_OK);
    json_error_t jerr;
    json_t *arr = json_loads(s, 0, &jerr);
    free(s);
    assert_non_null(arr);
    assert_int_equal(json_array_size(arr), 2);
    json_t *a = json_array_get(arr, 0), *b = json_array_get(arr, 1); /* sorted: p/m, q/discovered */
    assert_string_equal(json_string_value(json_object_get(a, "id")), "p/m");
    assert_string_equal(json_string_value(json_object_get(a, "price_source")), "static");
    assert_string_equal(json_string_value(json_object_get(a, "price_date")), "2026-12-01");
    assert_true(json_is_true(json_object_get(json_object_get(a, "capabilities"), "tools")));
    assert_true(json_is_null(json_object_get(json_object_get(a, "capabilities"), "reasoning")));
    assert_true(json_is_null(json_object_get(a, "cache_read_price")));
    assert_true(json_real_value(json_object_get(a, "output_price")) == 2);
    assert_string_equal(json_string_value(json_object_get(b, "price_source")), "discovered");
    assert_true(json_is_null(json_object_get(b, "price_date")));
    assert_true(json_is_null(json_object_get(b, "capabilities")));
    json_decref(arr);

    /* Once configuration overrides the price, the shipped date no longer describes it. */
    llmux_model_info conf = entry("p/m");
    conf.input_price = 4;
    assert_int_equal(lx_catalog_merge(c, &conf, 1, LX_CATALOG_CONFIGURED, &err), LLMUX_OK);
    assert_int_equal(lx_catalog_export_json(c, &s, &err), LLMUX_OK);
    arr = json_loads(s, 0, &jerr);
    free(s);
    a = json_array_get(arr, 0);
    assert_string_equal(json_string_value(json_object_get(a, "price_source")), "configured");
    assert_true(json_is_null(json_object_get(a, "price_date")));
    assert_string_equal(json_string_value(json_object_get(a, "limits_url")), "https://example.com/limits");
    json_decref(arr);
    lx_catalog_destroy(c);
}

/* Each document is refused with LLMUX_E_CONFIGURATION, a message containing `where`, and an
 * untouched catalog (the first, valid model of two-model documents is not merged either). */
static void test_malformed_documents_refused_whole(void **state) {
    (void)state;
#define OK_MODEL "{\"id\":\"a/ok\",\"price\":{\"input\":1,\"output\":1,\"date\":\"2026-01-01\",\"source\":\"https://x.y/\"}}"
#define DOC(m) "{\"schema\":1,\"models\":[" OK_MODEL "," m "]}"
#define PRICE(fields) "{\"id\":\"a/b\",\"price\":{" fields "}}"
    static const struct {
        const char *doc, *where;
    } bad[] = {
        {"{\"schema\":1,\"models\":[", "not valid JSON at line 1"},
        {"[]", "must be an object"},
        {"{\"schema\":2,\"models\":[]}", "schema"},
        {"{\"models\":[]}", "schema"},
        {"{\"schema\":1,\"models\":{}}", "models: must be an array"},
        {"{\"schema\":1,\"models\":[],\"extra\":1}", "unknown key \"extra\""},
        {"{\"schema\":1,\"schema\":1,\"models\":[]}", "not valid JSON"},
        {DOC("{\"id\":\"nomodel\"}"), "models[1].id"},
        {DOC("{\"id\":\"/x\"}"), "models[1].id"},
        {DOC("{\"id\":\"x/\"}"), "models[1].id"},
        {DOC("{\"id\":7}"), "models[1].id"},
        {DOC("{\"id\":\"a/ok\"}"), "models[1].id: \"a/ok\" repeats models[0]"},
        {DOC("{\"id\":\"a/b\",\"contex_length\":5}"), "models[1]: unknown key \"contex_length\""},
        {DOC("{\"id\":\"a/b\",\"context_length\":-1,\"limits_source\":\"https://x.y/\"}"), "models[1].context_length"},
        {DOC("{\"id\":\"a/b\",\"context_length\":1.5,\"limits_source\":\"https://x.y/\"}"), "models[1].context_length"},
        {DOC("{\"id\":\"a/b\",\"max_output_tokens\":10}"), "models[1].limits_source: required"},
        {DOC("{\"id\":\"a/b\",\"context_length\":10,\"limits_source\":\"http://x.y/\"}"), "models[1].limits_source"},
        {DOC("{\"id\":\"a/b\",\"capabilities\":{\"tools\":1}}"), "models[1].capabilities.tools"},
        {DOC("{\"id\":\"a/b\",\"capabilities\":{\"toolz\":true}}"), "unknown key \"toolz\""},
        {DOC(PRICE("\"input\":-1,\"date\":\"2026-01-01\",\"source\":\"https://x.y/\"")), "models[1].price.input"},
        {DOC(PRICE("\"output\":\"3\",\"date\":\"2026-01-01\",\"source\":\"https://x.y/\"")), "models[1].price.output"},
        {DOC(PRICE("\"cache_raed\":1,\"date\":\"2026-01-01\",\"source\":\"https://x.y/\"")), "unknown key \"cache_raed\""},
        {DOC(PRICE("\"input\":1,\"source\":\"https://x.y/\"")), "models[1].price.date"},
        {DOC(PRICE("\"input\":1,\"date\":\"2026-02-30\",\"source\":\"https://x.y/\"")), "models[1].price.date"},
        {DOC(PRICE("\"input\":1,\"date\":\"2026-1-01\",\"source\":\"https://x.y/\"")), "models[1].price.date"},
        {DOC(PRICE("\"input\":1,\"date\":\"2026-01-01\"")), "models[1].price.source"},
        {DOC(PRICE("\"input\":1,\"date\":\"2026-01-01\",\"source\":\"http://x.y/\"")), "models[1].price.source"},
        {DOC(PRICE("\"input\":1,\"date\":\"2026-01-01\",\"source\":\"https://x y/\"")), "models[1].price.source"},
        {DOC(PRICE("\"date\":\"2026-01-01\",\"source\":\"https://x.y/\"")), "has no price at all"},
        {DOC("{\"id\":\"a/b\",\"note\":5}"), "models[1].note"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lx_catalog *c = lx_catalog_create();
        llmux_error_info err;
        llmux_status st = load(c, bad[i].doc, &err);
        if (st != LLMUX_E_CONFIGURATION || !strstr(err.message, bad[i].where))
            fail_msg("case %zu: status %d, message \"%s\", expected \"%s\"", i, (int)st, err.message, bad[i].where);
        assert_int_equal(lx_catalog_size(c), 0);
        lx_catalog_destroy(c);
    }
    /* The valid part of those documents loads on its own: the refusals above were about the rest. */
    lx_catalog *c = lx_catalog_create();
    llmux_error_info err;
    assert_int_equal(load(c, "{\"schema\":1,\"models\":[" OK_MODEL "]}", &err), LLMUX_OK);
    assert_int_equal(lx_catalog_size(c), 1);
    lx_catalog_destroy(c);
}

static void test_size_cap(void **state) {
    (void)state;
    size_t n = LX_CATALOG_STATIC_MAX_BYTES + 1;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, ' ', n);
    lx_catalog *c = lx_catalog_create();
    llmux_error_info err;
    assert_int_equal(lx_catalog_load_static(c, big, n, &err), LLMUX_E_CONFIGURATION);
    assert_non_null(strstr(err.message, "more than"));
    free(big);
    lx_catalog_destroy(c);
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(LX_CATALOG_STATIC_MAX_BYTES + 1);
    *len = buf ? fread(buf, 1, LX_CATALOG_STATIC_MAX_BYTES + 1, f) : 0;
    fclose(f);
    return buf;
}

static bool is_iso_date(const char *s) {
    int y, m, d;
    char tail;
    return s && strlen(s) == 10 && sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 && m >= 1 && m <= 12 &&
           d >= 1 && d <= 31;
}

static void check_price(double p, const char *id, const char *what) {
    if (!isnan(p) && !(isfinite(p) && p >= 0)) fail_msg("%s: %s price %g", id, what, p);
}

/* The file in the repository, the one the build compiles into the library. */
static void test_shipped_file_loads_and_validates(void **state) {
    (void)state;
    size_t len = 0;
    char *doc = read_file(LLMUX_SOURCE_DIR "/data/catalog.json", &len);
    assert_non_null(doc);
    assert_true(len > 0 && len <= LX_CATALOG_STATIC_MAX_BYTES);
    lx_catalog *c = lx_catalog_create();
    llmux_error_info err;
    llmux_status st = lx_catalog_load_static(c, doc, len, &err);
    if (st != LLMUX_OK) fail_msg("data/catalog.json: %s", err.message);

    json_error_t jerr;
    json_t *root = json_loadb(doc, len, 0, &jerr);
    free(doc);
    assert_non_null(root);
    json_t *models = json_object_get(root, "models");
    assert_true(json_array_size(models) > 0);
    assert_int_equal(lx_catalog_size(c), json_array_size(models)); /* ids are distinct */
    size_t priced = 0;
    for (size_t i = 0; i < json_array_size(models); i++) {
        const char *id = json_string_value(json_object_get(json_array_get(models, i), "id"));
        const llmux_model_info *m = lx_catalog_find(c, id);
        assert_non_null(m);
        const char *slash = strchr(id, '/');
        if (!slash || slash == id || !slash[1]) fail_msg("%s: not provider/model", id);
        check_price(m->input_price, id, "input");
        check_price(m->output_price, id, "output");
        check_price(m->cache_read_price, id, "cache_read");
        check_price(m->cache_write_price, id, "cache_write");
        const lx_catalog_meta *meta = lx_catalog_meta_of(c, id);
        assert_non_null(meta);
        bool has_price = !isnan(m->input_price) || !isnan(m->output_price);
        if (has_price) {
            priced++;
            if (!is_iso_date(meta->price_date)) fail_msg("%s: price date %s", id, meta->price_date);
            if (!meta->price_url || strncmp(meta->price_url, "https://", 8) != 0)
                fail_msg("%s: price source %s", id, meta->price_url);
            assert_int_equal(lx_catalog_price_origin(c, id), LX_PRICE_ORIGIN_STATIC);
        }
        if ((m->context_length >= 0 || m->max_output_tokens >= 0) &&
            (!meta->limits_url || strncmp(meta->limits_url, "https://", 8) != 0))
            fail_msg("%s: limits without an https source", id);
    }
    assert_true(priced > 0);
    json_decref(root);
    lx_catalog_destroy(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_discovery_fills_only_missing_static_fields),
        cmocka_unit_test(test_configured_beats_static_in_either_order),
        cmocka_unit_test(test_static_replaces_discovered),
        cmocka_unit_test(test_meta_and_json_export),
        cmocka_unit_test(test_malformed_documents_refused_whole),
        cmocka_unit_test(test_size_cap),
        cmocka_unit_test(test_shipped_file_loads_and_validates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
