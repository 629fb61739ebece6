/* llmux_execution_cost: an ended execution's cost, read from its own on_done (where
 * llmux_execution_wait is refused), as a server charging a key's budget does. Before the end it
 * reports nothing; after llmux_execution_wait took the response it reports nothing either. The
 * upstream is the scripted fake provider (tests/support/fake_server.h). */
#define _DEFAULT_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "llmux.h"
#include "support/fake_server.h"

typedef struct seen {
    bool called, have;
    llmux_cost cost;
} seen;

static void on_done(llmux_execution *ex, void *ud) {
    seen *s = ud;
    s->called = true;
    s->have = llmux_execution_cost(ex, &s->cost);
}

static void test_cost_in_on_done(void **state) {
    lx_fake_server *up = lx_fake_server_start();
    assert_non_null(up);
    char url[256];
    lx_fake_server_url(up, "/v1", url, sizeof url);
    lx_fake_response fr;
    memset(&fr, 0, sizeof fr);
    fr.path_prefix = "/v1/chat/completions";
    fr.headers = "Content-Type: application/json\r\n";
    fr.body_file = "tests/data/fake/openai/response_text.json"; /* 11 input, 4 output tokens */
    fr.status_delay_ms = 300;
    assert_true(lx_fake_server_push(up, &fr));
    llmux_provider_params p = {.name = "openai", .base_url = url, .api_key = "k"};
    llmux_runtime_params rp = llmux_runtime_default_params();
    rp.providers = &p;
    rp.n_providers = 1;
    llmux_runtime *rt = NULL;
    assert_int_equal(llmux_runtime_create(&rp, &rt, NULL), LLMUX_OK);
    /* 2 USD per million input tokens, 4 per million output: 11 * 2e-6 + 4 * 4e-6 = 3.8e-5 USD. */
    llmux_model_info price = {.id = "openai/gpt-4o-mini", .context_length = -1, .max_output_tokens = -1,
                              .input_price = 2, .output_price = 4, .cache_read_price = 2, .cache_write_price = 2};
    assert_int_equal(llmux_catalog_add(rt, &price, 1, NULL), LLMUX_OK);
    llmux_part hi = {.type = LLMUX_PART_TEXT, .text = "Hi"};
    llmux_message msg = {.role = LLMUX_ROLE_USER, .parts = &hi, .n_parts = 1};
    llmux_request req = llmux_request_default();
    req.model = "openai/gpt-4o-mini";
    req.messages = &msg;
    req.n_messages = 1;
    seen s = {0};
    llmux_submit_params sp = llmux_submit_default_params();
    sp.on_done = on_done;
    sp.user_data = &s;
    llmux_execution *ex = NULL;
    assert_int_equal(llmux_submit(rt, &req, &sp, &ex, NULL), LLMUX_OK);
    llmux_cost c;
    assert_false(llmux_execution_cost(ex, &c)); /* the upstream holds its answer 300 ms */
    assert_false(c.known);
    llmux_response *resp = NULL;
    assert_int_equal(llmux_execution_wait(ex, &resp, NULL), LLMUX_OK);
    assert_true(s.called && s.have && s.cost.known);
    assert_true(s.cost.total > 3.79e-5 && s.cost.total < 3.81e-5);
    assert_true(resp->cost.total == s.cost.total); /* the response's own figure */
    assert_false(llmux_execution_cost(ex, &c));  /* the wait took the response */
    assert_false(llmux_execution_cost(NULL, &c));
    assert_false(llmux_execution_cost(ex, NULL));
    llmux_response_free(resp);
    llmux_execution_free(ex);
    llmux_runtime_destroy(rt);
    lx_fake_server_stop(up);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_cost_in_on_done)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
