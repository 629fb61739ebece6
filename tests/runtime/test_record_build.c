/* lx_record_build's JSON columns: the warnings array is written directly (record.c) and must be
 * the bytes jansson's compact encoding of the same array gave before. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "runtime/record.h"

static char *warnings_jansson(const llmux_response *r) {
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_warnings; i++)
        json_array_append_new(a, json_pack("{s:s?,s:s?}", "code", r->warnings[i].code, "message", r->warnings[i].message));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static lx_exec_record *build(const llmux_response *resp) {
    lx_plan plan;
    lx_plan_for_model("up/m", &plan);
    lx_record_input in = {.id = "exec_1", .requested_model = "up/m", .plan = &plan, .resp = resp,
                          .status = LLMUX_OK, .started_at_ms = 1};
    /* The runtime is only consulted for a known cost's origin: none here. */
    return lx_record_build(NULL, &in);
}

static void test_warnings_json(void **state) {
    (void)state;
    llmux_warning w[] = {{"unsupported_parameter", "seed is not supported; ignored"},
                         {"x", "quote \" backslash \\ newline \n tab \t ctl \x01 caf\xc3\xa9 \xe8\xbf\x91"},
                         {NULL, "no code"},
                         {"no_message", NULL}};
    llmux_response resp = {.model = "m", .provider = "up", .warnings = w, .n_warnings = 4};
    lx_exec_record *r = build(&resp);
    assert_non_null(r);
    char *want = warnings_jansson(&resp);
    assert_non_null(r->warnings_json);
    assert_string_equal(r->warnings_json, want);
    free(want);
    /* The plan column is there too (its own bytes are checked in test_router.c). */
    assert_non_null(r->plan_json);
    lx_exec_record_free(r);

    llmux_response none = {.model = "m", .provider = "up"};
    r = build(&none);
    assert_non_null(r);
    assert_null(r->warnings_json);
    lx_exec_record_free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_warnings_json)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
