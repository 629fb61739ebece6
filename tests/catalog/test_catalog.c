/* The model catalog's merge rules (configured fields pinned, discovery fills the rest, unknown
 * never replaces known), validation (whole batch refused), lookup through index growth, export
 * order, the entry cap and name truncation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "catalog/catalog.h"

static llmux_model_info entry(const char *id) {
    llmux_model_info m = {.id = id, .context_length = -1, .max_output_tokens = -1, .input_price = NAN,
                          .output_price = NAN, .cache_read_price = NAN, .cache_write_price = NAN};
    return m;
}

static void test_merge_rules(void **state) {
    (void)state;
    lx_catalog *c = lx_catalog_create();
    assert_non_null(c);
    llmux_error_info err;

    llmux_model_info conf = entry("openrouter/x/y");
    conf.input_price = 1.0;
    conf.context_length = 1000;
    assert_int_equal(lx_catalog_merge(c, &conf, 1, LX_CATALOG_CONFIGURED, &err), LLMUX_OK);

    llmux_model_info disc = entry("openrouter/x/y");
    disc.name = "Discovered";
    disc.input_price = 9.0;       /* pinned by configuration: ignored */
    disc.output_price = 3.0;      /* unknown so far: taken */
    disc.context_length = 2000;   /* pinned: ignored */
    disc.max_output_tokens = 100; /* taken */
    assert_int_equal(lx_catalog_merge(c, &disc, 1, LX_CATALOG_DISCOVERED, &err), LLMUX_OK);

    const llmux_model_info *m = lx_catalog_find(c, "openrouter/x/y");
    assert_non_null(m);
    assert_string_equal(m->provider, "openrouter");
    assert_string_equal(m->name, "Discovered");
    assert_true(m->input_price == 1.0);
    assert_true(m->output_price == 3.0);
    assert_int_equal(m->context_length, 1000);
    assert_int_equal(m->max_output_tokens, 100);

    /* A refresh moves discovered fields; an unknown value keeps what is known. */
    llmux_model_info refresh = entry("openrouter/x/y");
    refresh.output_price = 4.0;
    assert_int_equal(lx_catalog_merge(c, &refresh, 1, LX_CATALOG_DISCOVERED, &err), LLMUX_OK);
    m = lx_catalog_find(c, "openrouter/x/y");
    assert_true(m->output_price == 4.0);
    assert_int_equal(m->max_output_tokens, 100);
    assert_string_equal(m->name, "Discovered");

    /* A later configuration replaces an earlier one, and pins what it sets. */
    llmux_model_info conf2 = entry("openrouter/x/y");
    conf2.input_price = 0.5;
    conf2.output_price = 0.25;
    assert_int_equal(lx_catalog_merge(c, &conf2, 1, LX_CATALOG_CONFIGURED, &err), LLMUX_OK);
    refresh.output_price = 7.0;
    assert_int_equal(lx_catalog_merge(c, &refresh, 1, LX_CATALOG_DISCOVERED, &err), LLMUX_OK);
    m = lx_catalog_find(c, "openrouter/x/y");
    assert_true(m->input_price == 0.5);
    assert_true(m->output_price == 0.25);
    assert_int_equal(lx_catalog_size(c), 1);
    assert_null(lx_catalog_find(c, "openrouter/x"));
    assert_null(lx_catalog_find(c, "OPENROUTER/x/y"));
    lx_catalog_destroy(c);
}

static void test_validation_refuses_batch(void **state) {
    (void)state;
    lx_catalog *c = lx_catalog_create();
    llmux_error_info err;
    char long_id[600];
    memset(long_id, 'a', sizeof long_id);
    long_id[1] = '/';
    long_id[sizeof long_id - 1] = '\0';
    struct {
        llmux_model_info bad;
        const char *msg;
    } cases[] = {
        {entry(NULL), "models[1].id: missing"},
        {entry(""), "models[1].id: missing"},
        {entry("noslash"), "is not PROVIDER/MODEL"},
        {entry("/model"), "is not PROVIDER/MODEL"},
        {entry("prov/"), "is not PROVIDER/MODEL"},
        {entry(long_id), "longer than 512 bytes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        llmux_model_info batch[2] = {entry("a/ok"), cases[i].bad};
        assert_int_equal(lx_catalog_merge(c, batch, 2, LX_CATALOG_CONFIGURED, &err), LLMUX_E_INVALID_REQUEST);
        assert_non_null(strstr(err.message, cases[i].msg));
    }
    const double bad_prices[] = {-1.0, INFINITY, -INFINITY};
    for (size_t i = 0; i < 3; i++) {
        llmux_model_info batch[2] = {entry("a/ok"), entry("a/b")};
        batch[1].cache_write_price = bad_prices[i];
        assert_int_equal(lx_catalog_merge(c, batch, 2, LX_CATALOG_DISCOVERED, &err), LLMUX_E_INVALID_REQUEST);
        assert_non_null(strstr(err.message, "models[1].cache_write_price"));
    }
    llmux_model_info neg = entry("a/b");
    neg.context_length = -2;
    assert_int_equal(lx_catalog_merge(c, &neg, 1, LX_CATALOG_CONFIGURED, &err), LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(err.message, "models[0].context_length"));
    assert_int_equal(lx_catalog_size(c), 0); /* "a/ok" never went in */
    assert_int_equal(lx_catalog_merge(c, NULL, 0, LX_CATALOG_CONFIGURED, &err), LLMUX_OK);
    lx_catalog_destroy(c);
}

/* Thousands of ids: every one is found after the index grew many times; export is sorted. */
static void test_many_entries_and_export(void **state) {
    (void)state;
    lx_catalog *c = lx_catalog_create();
    llmux_error_info err;
    enum { N = 5000 };
    static char ids[N][32];
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "p%d/model-%d", i % 7, (i * 7919) % N);
        llmux_model_info m = entry(ids[i]);
        m.input_price = i;
        assert_int_equal(lx_catalog_merge(c, &m, 1, LX_CATALOG_DISCOVERED, &err), LLMUX_OK);
    }
    assert_int_equal(lx_catalog_size(c), N);
    for (int i = 0; i < N; i++) {
        const llmux_model_info *m = lx_catalog_find(c, ids[i]);
        assert_non_null(m);
        assert_true(m->input_price == i);
    }
    llmux_model_list *l = NULL;
    assert_int_equal(lx_catalog_export(c, &l, &err), LLMUX_OK);
    assert_int_equal(l->n, N);
    for (size_t i = 1; i < l->n; i++) assert_true(strcmp(l->models[i - 1].id, l->models[i].id) < 0);
    assert_string_equal(l->models[0].provider, "p0");
    llmux_model_list_free(l);
    lx_catalog_destroy(c);
}

static void test_cap_and_names(void **state) {
    (void)state;
    lx_catalog *c = lx_catalog_create();
    llmux_error_info err;
    size_t n = LX_CATALOG_MAX_ENTRIES;
    llmux_model_info *ms = calloc(n + 1, sizeof *ms);
    char (*ids)[24] = calloc(n + 1, sizeof *ids);
    assert_non_null(ms);
    assert_non_null(ids);
    for (size_t i = 0; i <= n; i++) {
        snprintf(ids[i], sizeof ids[i], "p/m%zu", i);
        ms[i] = entry(ids[i]);
    }
    assert_int_equal(lx_catalog_merge(c, ms, n, LX_CATALOG_DISCOVERED, &err), LLMUX_OK);
    /* Refreshing known ids is fine at the cap; one new id is not. */
    assert_int_equal(lx_catalog_merge(c, ms, 10, LX_CATALOG_DISCOVERED, &err), LLMUX_OK);
    assert_int_equal(lx_catalog_merge(c, &ms[n], 1, LX_CATALOG_DISCOVERED, &err), LLMUX_E_CONFIGURATION);
    assert_int_equal(lx_catalog_size(c), n);
    /* A full catalog (more than one provider list may hold) still exports whole. */
    llmux_model_list *l = NULL;
    assert_int_equal(lx_catalog_export(c, &l, &err), LLMUX_OK);
    assert_int_equal(l->n, n);
    llmux_model_list_free(l);
    free(ms);
    free(ids);
    lx_catalog_destroy(c);

    /* A display name is cut at 512 bytes, never inside a UTF-8 character. */
    c = lx_catalog_create();
    char name[700];
    for (size_t i = 0; i + 2 < sizeof name; i += 2) memcpy(name + i, "\xC3\xA9", 2); /* é */
    name[sizeof name - 1] = '\0';
    memmove(name + 1, name, sizeof name - 1); /* shift by one: the cut falls inside a character */
    name[0] = 'x';
    name[sizeof name - 1] = '\0';
    llmux_model_info m = entry("p/named");
    m.name = name;
    assert_int_equal(lx_catalog_merge(c, &m, 1, LX_CATALOG_CONFIGURED, &err), LLMUX_OK);
    const llmux_model_info *got = lx_catalog_find(c, "p/named");
    assert_int_equal(strlen(got->name), 511);
    lx_catalog_destroy(c);
    lx_catalog_destroy(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_rules),
        cmocka_unit_test(test_validation_refuses_batch),
        cmocka_unit_test(test_many_entries_and_export),
        cmocka_unit_test(test_cap_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
