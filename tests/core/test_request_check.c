/* The one request validator (src/core/request_check.c): one case per rule with its class and
 * message (field path first), the same message from decoding the fault's canonical JSON, the
 * boundaries every rule accepts, and the response decoder's use of the part rules. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llmux.h"
#include "support/request_cases.h"

static void expect_valid(const llmux_request *r, const char *what) {
    llmux_error_info err;
    llmux_status st = llmux_request_validate(r, &err);
    if (st != LLMUX_OK) fail_msg("%s: refused: %s", what, err.message);
    assert_int_equal(err.status, LLMUX_OK);
}

/* Decodes json and expects the failure `message`, nothing handed out. */
static void expect_decode_fails(const char *json, const char *rule, const char *message) {
    llmux_request *out = (llmux_request *)(uintptr_t)1;
    llmux_error_info err;
    llmux_status st = llmux_request_from_json(json, strlen(json), &out, &err);
    if (st != LLMUX_E_INVALID_REQUEST || strcmp(err.message, message) != 0)
        fail_msg("%s: decoding %.300s\n  got %d \"%s\"\n  want \"%s\"", rule, json, (int)st, err.message, message);
    assert_null(out);
}

static void test_rules_table(void **state) {
    (void)state;
    for (size_t i = 0; i < rc_n_cases; i++) {
        const rc_case *c = &rc_cases[i];
        rc_fx f;
        rc_fx_init(&f);
        expect_valid(&f.r, "the fixture"); /* so each case breaks its rule and nothing else */
        c->apply(&f);
        llmux_error_info err;
        llmux_status st = llmux_request_validate(&f.r, &err);
        if (st != LLMUX_E_INVALID_REQUEST || err.status != LLMUX_E_INVALID_REQUEST || strcmp(err.message, c->message))
            fail_msg("%s: got %d \"%s\", want \"%s\"", c->rule, (int)st, err.message, c->message);
        if (!c->json) continue;
        if (c->json == RC_ENCODE) {
            char *json = llmux_request_to_json(&f.r);
            assert_non_null(json);
            expect_decode_fails(json, c->rule, c->message);
            llmux_free(json);
        } else {
            expect_decode_fails(c->json, c->rule, c->message);
        }
    }
}

/* The one rule canonical JSON does not apply: a fragment ({} or an alias's overrides) decodes,
 * and validating the decoded request then says what it lacks. A system prompt is enough. */
static void test_something_to_run(void **state) {
    (void)state;
    llmux_request *req = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_request_from_json("{\"temperature\":0.5}", 19, &req, &err), LLMUX_OK);
    assert_int_equal(llmux_request_validate(req, &err), LLMUX_E_INVALID_REQUEST);
    assert_string_equal(err.message, "messages: at least one message is required");
    llmux_request_free(req);
    llmux_request r = llmux_request_default();
    r.system = "Be brief.";
    expect_valid(&r, "a system prompt only");
}

static void test_null_arguments(void **state) {
    (void)state;
    llmux_error_info err;
    assert_int_equal(llmux_request_validate(NULL, &err), LLMUX_E_INVALID_REQUEST);
    assert_string_equal(err.message, "llmux_request_validate: req is NULL");
    rc_fx f;
    rc_fx_init(&f);
    f.r.sampling.top_p = 0;
    assert_int_equal(llmux_request_validate(&f.r, NULL), LLMUX_E_INVALID_REQUEST); /* err is optional */
}

/* Each rule's edge is inside: unset values, the ends of every range, every cap exactly. */
static void test_boundaries_accepted(void **state) {
    (void)state;
    static llmux_message msgs[10000];
    static llmux_part parts[1000];
    static llmux_tool tools[512];
    static const char *stop[16];
    static llmux_kv kv[256];
    static char keys[256][8];
    rc_fx f;
    rc_fx_init(&f);
    expect_valid(&f.r, "all sampling unset");
    llmux_sampling *s = &f.r.sampling;
    s->temperature = 0;
    s->top_p = 1;
    s->top_k = INT32_MAX;
    s->min_p = 0;
    s->max_tokens = 1;
    s->seed = 0;
    s->presence_penalty = -2;
    s->frequency_penalty = 2;
    s->repeat_penalty = 1e-9;
    expect_valid(&f.r, "range ends");
    s->top_k = 1;
    s->min_p = 1;
    s->max_tokens = INT32_MAX;
    s->seed = INT64_MAX;
    s->top_p = 1e-300;
    expect_valid(&f.r, "other range ends");

    for (size_t i = 0; i < 16; i++) stop[i] = "x";
    s->stop = stop;
    s->n_stop = 16;
    for (size_t i = 0; i < 1000; i++) parts[i] = (llmux_part){.type = LLMUX_PART_TEXT, .text = ""};
    for (size_t i = 0; i < 10000; i++) msgs[i] = (llmux_message){.role = LLMUX_ROLE_USER, .parts = parts, .n_parts = 1};
    msgs[0].n_parts = 1000;
    msgs[1].n_parts = 0; /* an empty message is fine (an assistant turn with nothing said) */
    f.r.messages = msgs;
    f.r.n_messages = 10000;
    for (size_t i = 0; i < 512; i++) tools[i] = (llmux_tool){.name = "t", .parameters = "{\"type\":\"object\"}"};
    tools[511].name = "last";
    f.r.tools = tools;
    f.r.n_tools = 512;
    f.r.tool_choice = LLMUX_TOOL_CHOICE_TOOL;
    f.r.tool_choice_name = "last";
    for (size_t i = 0; i < 256; i++) {
        snprintf(keys[i], sizeof keys[i], "k%zu", i);
        kv[i] = (llmux_kv){keys[i], ""};
    }
    f.r.metadata = kv;
    f.r.n_metadata = 256;
    f.r.response_format = LLMUX_FORMAT_JSON_SCHEMA;
    f.r.schema = "{}";
    f.r.schema_name = "w";
    f.r.schema_strict = true;
    f.r.provider_options = "{\"openai\":{}}";
    f.r.deadline_ms = 0;
    expect_valid(&f.r, "every cap exactly");

    /* Every part type with what it needs (and an image URL with its optional mime_type). */
    const llmux_part shapes[] = {
        {.type = LLMUX_PART_IMAGE, .image_url = "https://x/a.png", .mime_type = "image/png"},
        {.type = LLMUX_PART_IMAGE, .data = "AA==", .mime_type = "image/png"},
        {.type = LLMUX_PART_TOOL_CALL, .id = "c", .name = "f"}, /* NULL arguments means {} */
        {.type = LLMUX_PART_TOOL_RESULT, .id = "c", .text = ""},
        {.type = LLMUX_PART_REASONING},
    };
    rc_fx g;
    rc_fx_init(&g);
    g.msgs[0].parts = shapes;
    g.msgs[0].n_parts = sizeof shapes / sizeof shapes[0];
    expect_valid(&g.r, "every part shape");
}

/* JSON -1 is a value, not "unset": it stays refused for every integer whose C unset is -1. */
static void test_json_minus_one(void **state) {
    (void)state;
    expect_decode_fails("{\"top_k\":-1}", "top_k -1", "top_k: must be an integer in [1, 2147483647]");
    expect_decode_fails("{\"max_tokens\":-1}", "max_tokens -1", "max_tokens: must be an integer in [1, 2147483647]");
    expect_decode_fails("{\"seed\":-1}", "seed -1", "seed: must be an integer >= 0");
}

/* The response decoder runs the same part rules, at its own path. */
static void test_response_parts(void **state) {
    (void)state;
    static const struct {
        const char *json, *message;
    } cases[] = {
        {"{\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"tool_call\",\"name\":\"f\"}]}",
         "content[1].id: missing"},
        {"{\"content\":[{\"type\":\"text\"}]}", "content[0].text: missing"},
        {"{\"content\":[{\"type\":\"image\"}]}", "content[0]: image needs \"url\" or \"data\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        llmux_response *resp = (llmux_response *)(uintptr_t)1;
        llmux_error_info err;
        assert_int_equal(llmux_response_from_json(cases[i].json, strlen(cases[i].json), &resp, &err),
                         LLMUX_E_INVALID_REQUEST);
        assert_string_equal(err.message, cases[i].message);
        assert_null(resp);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_table),        cmocka_unit_test(test_something_to_run),
        cmocka_unit_test(test_null_arguments),     cmocka_unit_test(test_boundaries_accepted),
        cmocka_unit_test(test_json_minus_one),     cmocka_unit_test(test_response_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
