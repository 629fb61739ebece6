/* Costs end to end against the fake provider server: OpenRouter's reported usage.cost reaches
 * llmux_response.cost, the catalog prices other providers (configured with llmux_catalog_add or
 * discovered through llmux_list_models), a configured price survives discovery, a model without
 * a price gets a warning and never fails, and the catalog refuses malformed entries whole. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "llmux.h"
#include "remote_fixture.h"

static void start(fx *f, const char *name, const char *suffix) { fx_start(f, name, NULL, suffix, 0); }

static void push(fx *f, const char *path, const char *ctype, const char *body, const char *file) {
    fx_push(f, NULL, path, 200, ctype, body, file, 0);
}

static llmux_response *run(fx *f, const char *model, bool stream) {
    llmux_part part = {.type = LLMUX_PART_TEXT, .text = "Hi"};
    llmux_message m = {.role = LLMUX_ROLE_USER, .parts = &part, .n_parts = 1};
    llmux_request req = llmux_request_default();
    req.model = model;
    req.messages = &m;
    req.n_messages = 1;
    req.stream = stream;
    llmux_response *resp = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_run(f->rt, &req, NULL, &resp, &err), LLMUX_OK);
    assert_non_null(resp);
    return resp;
}

static const llmux_warning *warning(const llmux_response *r, const char *code) {
    for (size_t i = 0; i < r->n_warnings; i++)
        if (strcmp(r->warnings[i].code, code) == 0) return &r->warnings[i];
    return NULL;
}

static llmux_model_info info(const char *id, double in, double out) {
    llmux_model_info m = {.id = id, .context_length = -1, .max_output_tokens = -1, .input_price = in,
                          .output_price = out, .cache_read_price = NAN, .cache_write_price = NAN};
    return m;
}

#define NEAR(a, b) assert_true(fabs((a) - (b)) <= 1e-15)

/* Entries in the runtime's catalog: every runtime starts with the shipped ones (data/catalog.json),
 * so the tests below count what they add on top of those. */
static size_t catalog_size(llmux_runtime *rt) {
    llmux_model_list *l = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_catalog_list(rt, &l, &err), LLMUX_OK);
    size_t n = l->n;
    llmux_model_list_free(l);
    return n;
}

static const llmux_model_info *find_model(const llmux_model_list *l, const char *id) {
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->models[i].id, id) == 0) return &l->models[i];
    fail_msg("%s is not in the catalog", id);
    return NULL;
}

static void test_unpriced_model_warns_and_succeeds(void **state) {
    (void)state;
    fx f;
    start(&f, "openai", "/v1");
    /* The model must stay out of the shipped catalog (data/catalog.json) for this test to mean
     * anything: say so here rather than fail below on a missing warning. */
    llmux_model_list *l = NULL;
    assert_int_equal(llmux_catalog_list(f.rt, &l, NULL), LLMUX_OK);
    for (size_t i = 0; i < l->n; i++)
        if (strncmp(l->models[i].id, "openai/llmux-unpriced", 21) == 0)
            fail_msg("%s is in the shipped catalog: pick an unpriced model for this test", l->models[i].id);
    llmux_model_list_free(l);
    push(&f, "/v1/chat/completions", "application/json", NULL, "tests/data/fake/openai/response_text.json");
    llmux_response *r = run(&f, "openai/llmux-unpriced", false);
    assert_string_equal(llmux_response_text(r), "Hello, world!");
    assert_false(r->cost.known);
    const llmux_warning *w = warning(r, "price_unknown");
    assert_non_null(w);
    assert_non_null(strstr(w->message, "openai/llmux-unpriced"));
    llmux_response_free(r);
    fx_stop(&f);
}

static void test_configured_price(void **state) {
    (void)state;
    fx f;
    start(&f, "openai", "/v1");
    llmux_model_info m = info("openai/gpt-4o-mini", 0.15, 0.60);
    llmux_error_info err;
    assert_int_equal(llmux_catalog_add(f.rt, &m, 1, &err), LLMUX_OK);
    push(&f, "/v1/chat/completions", "application/json", NULL, "tests/data/fake/openai/response_text.json");
    llmux_response *r = run(&f, "openai/gpt-4o-mini", false);
    /* usage: 11 input, 4 output tokens */
    assert_true(r->cost.known);
    NEAR(r->cost.input, 11 * 0.15 / 1e6);
    NEAR(r->cost.output, 4 * 0.60 / 1e6);
    NEAR(r->cost.cache_read, 0);
    NEAR(r->cost.total, 11 * 0.15 / 1e6 + 4 * 0.60 / 1e6);
    assert_int_equal(r->n_warnings, 0);
    llmux_response_free(r);
    fx_stop(&f);
}

/* An Anthropic answer that ran a web search (usage.server_tool_use.web_search_requests): the
 * search is priced on top of the tokens ($10 per 1,000), streamed and not. */
static void test_web_search_priced(void **state) {
    (void)state;
    fx f;
    start(&f, "anthropic", "/v1");
    llmux_model_info m = info("anthropic/llmux-search-model", 3.0, 15.0);
    assert_int_equal(llmux_catalog_add(f.rt, &m, 1, NULL), LLMUX_OK);
    push(&f, "/v1/messages", "application/json", NULL, "tests/data/fake/anthropic/response_web_search.json");
    push(&f, "/v1/messages", "text/event-stream", NULL, "tests/data/fake/anthropic/stream_web_search.sse");
    for (int stream = 0; stream < 2; stream++) {
        llmux_response *r = run(&f, "anthropic/llmux-search-model", stream);
        assert_int_equal(r->usage.web_search_requests, 1);
        assert_true(r->cost.known);
        NEAR(r->cost.tools, 0.01);
        assert_true(fabs(r->cost.total - ((10682 * 3.0 + 510 * 15.0) / 1e6 + 0.01)) <= 1e-12);
        llmux_response_free(r);
    }
    fx_stop(&f);
}

/* Only the dated model that answered is in the catalog: found through "<provider>/<model>". */
static void test_price_of_the_answering_model(void **state) {
    (void)state;
    fx f;
    start(&f, "openai", "/v1");
    llmux_model_info m = info("openai/gpt-4o-mini-2024-07-18", 1.0, 2.0);
    assert_int_equal(llmux_catalog_add(f.rt, &m, 1, NULL), LLMUX_OK);
    push(&f, "/v1/chat/completions", "application/json", NULL, "tests/data/fake/openai/response_text.json");
    llmux_response *r = run(&f, "openai/llmux-unpriced", false);
    assert_true(r->cost.known);
    NEAR(r->cost.total, 11e-6 + 8e-6);
    llmux_response_free(r);
    fx_stop(&f);
}

static void test_openrouter_reported_cost(void **state) {
    (void)state;
    fx f;
    start(&f, "openrouter", "/api/v1");
    push(&f, "/api/v1/chat/completions", "text/event-stream", NULL, "tests/data/fake/openrouter/stream_text.sse");
    llmux_response *r = run(&f, "openrouter/meta-llama/llama-3.1-8b-instruct", true);
    assert_true(r->cost.known);
    NEAR(r->cost.total, 0.0000021);
    assert_true(isnan(r->cost.input) && isnan(r->cost.output) && isnan(r->cost.cache_read));
    assert_null(warning(r, "price_unknown"));
    char *json = llmux_response_to_json(r);
    assert_non_null(strstr(json, "\"cost\":{\"total\":2.1e-06}"));
    llmux_free(json);
    llmux_response_free(r);
    fx_stop(&f);
}

static const char k_or_models[] =
    "{\"data\":[{\"id\":\"meta-llama/llama-3.1-8b-instruct\",\"name\":\"Meta: Llama 3.1 8B Instruct\","
    "\"context_length\":131072,\"pricing\":{\"prompt\":\"0.00000002\",\"completion\":\"0.00000005\"}},"
    "{\"id\":\"openai/gpt-4o\",\"name\":\"OpenAI: GPT-4o\",\"context_length\":128000,"
    "\"pricing\":{\"prompt\":\"0.0000025\",\"completion\":\"0.00001\",\"input_cache_read\":\"0.00000125\"}}]}";

/* The model list feeds the catalog: the next request gets a breakdown from the discovered prices
 * while the total stays what OpenRouter billed; a configured price outlives discovery. */
static void test_model_list_feeds_catalog(void **state) {
    (void)state;
    fx f;
    start(&f, "openrouter", "/api/v1");
    size_t n0 = catalog_size(f.rt);
    llmux_model_info pinned = info("openrouter/openai/gpt-4o", 2.0, NAN);
    assert_int_equal(llmux_catalog_add(f.rt, &pinned, 1, NULL), LLMUX_OK);

    push(&f, "/api/v1/models", "application/json", k_or_models, NULL);
    llmux_model_list *l = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_list_models(f.rt, "openrouter", NULL, &l, &err), LLMUX_OK);
    assert_int_equal(l->n, 2);
    llmux_model_list_free(l);

    assert_int_equal(llmux_catalog_list(f.rt, &l, &err), LLMUX_OK);
    assert_int_equal(l->n, n0 + 2);
    const llmux_model_info *llama = find_model(l, "openrouter/meta-llama/llama-3.1-8b-instruct");
    assert_string_equal(llama->name, "Meta: Llama 3.1 8B Instruct");
    assert_int_equal(llama->context_length, 131072);
    NEAR(llama->input_price, 0.02);
    const llmux_model_info *gpt = find_model(l, "openrouter/openai/gpt-4o");
    assert_string_equal(gpt->provider, "openrouter");
    NEAR(gpt->input_price, 2.0);   /* configured: kept */
    NEAR(gpt->output_price, 10.0); /* configured unknown: discovered */
    NEAR(gpt->cache_read_price, 1.25);
    llmux_model_list_free(l);

    push(&f, "/api/v1/chat/completions", "text/event-stream", NULL, "tests/data/fake/openrouter/stream_text.sse");
    llmux_response *r = run(&f, "openrouter/meta-llama/llama-3.1-8b-instruct", true);
    assert_true(r->cost.known);
    NEAR(r->cost.input, 11 * 0.02 / 1e6);
    NEAR(r->cost.output, 4 * 0.05 / 1e6);
    NEAR(r->cost.total, 0.0000021); /* what OpenRouter reported, not the catalog's sum */
    assert_int_equal(r->n_warnings, 0);
    llmux_response_free(r);
    fx_stop(&f);
}

/* A failing model list leaves the catalog as it was. */
static void test_failed_list_changes_nothing(void **state) {
    (void)state;
    fx f;
    start(&f, "openrouter", "/api/v1");
    size_t n0 = catalog_size(f.rt);
    push(&f, "/api/v1/models", "application/json", "{\"data\":[{\"id\":", NULL);
    llmux_model_list *l = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_list_models(f.rt, "openrouter", NULL, &l, &err), LLMUX_E_UPSTREAM_PROTOCOL);
    assert_null(l);
    assert_int_equal(catalog_size(f.rt), n0);
    fx_stop(&f);
}

static void test_catalog_add_refuses_whole_batch(void **state) {
    (void)state;
    fx f;
    start(&f, "openai", "/v1");
    size_t n0 = catalog_size(f.rt);
    llmux_model_info ms[3] = {info("openai/a", 1, 2), info("openai/b", -1, 2), info("openai/c", 1, 2)};
    llmux_error_info err;
    assert_int_equal(llmux_catalog_add(f.rt, ms, 3, &err), LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(err.message, "models[1].input_price"));
    ms[1] = info("no-slash", 1, 2);
    assert_int_equal(llmux_catalog_add(f.rt, ms, 3, &err), LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(err.message, "models[1].id"));
    assert_int_equal(catalog_size(f.rt), n0);
    assert_int_equal(llmux_catalog_add(NULL, ms, 1, &err), LLMUX_E_INVALID_REQUEST);
    assert_int_equal(llmux_catalog_list(f.rt, NULL, &err), LLMUX_E_INVALID_REQUEST);
    fx_stop(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unpriced_model_warns_and_succeeds),
        cmocka_unit_test(test_configured_price),
        cmocka_unit_test(test_price_of_the_answering_model),
        cmocka_unit_test(test_web_search_priced),
        cmocka_unit_test(test_openrouter_reported_cost),
        cmocka_unit_test(test_model_list_feeds_catalog),
        cmocka_unit_test(test_failed_list_changes_nothing),
        cmocka_unit_test(test_catalog_add_refuses_whole_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
