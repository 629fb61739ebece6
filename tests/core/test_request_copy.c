/* lx_request_copy (src/core/request_copy.c), llmux_submit's copy of the caller's request: for
 * every request here it must give exactly what the canonical JSON round trip gave before it
 * (same struct field for field, same canonical JSON), own all its memory (the original is freed
 * and poisoned first), and take the round trip's own path, errors included, for what a direct
 * copy cannot reproduce. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/request_copy.h"
#include "llmux.h"
#include "support/request_cases.h"

static void str_eq(const char *a, const char *b, const char *what) {
    if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
        fail_msg("%s: copy \"%s\" vs round trip \"%s\"", what, a ? a : "(null)", b ? b : "(null)");
}

static void real_eq(double a, double b, const char *what) {
    if (isnan(a) && isnan(b)) return;
    if (memcmp(&a, &b, sizeof a) != 0) fail_msg("%s: copy %.17g vs round trip %.17g", what, a, b);
}

static void part_eq(const llmux_part *a, const llmux_part *b) {
    assert_int_equal(a->type, b->type);
    str_eq(a->text, b->text, "part text");
    str_eq(a->image_url, b->image_url, "part image_url");
    str_eq(a->data, b->data, "part data");
    str_eq(a->mime_type, b->mime_type, "part mime_type");
    str_eq(a->id, b->id, "part id");
    str_eq(a->name, b->name, "part name");
    str_eq(a->arguments, b->arguments, "part arguments");
    str_eq(a->signature, b->signature, "part signature");
    assert_int_equal(a->is_error, b->is_error);
    assert_int_equal(a->redacted, b->redacted);
    assert_int_equal(a->cache, b->cache);
}

/* Every field of the two requests, not only what their JSON shows. */
static void request_eq(const llmux_request *a, const llmux_request *b) {
    str_eq(a->model, b->model, "model");
    str_eq(a->system, b->system, "system");
    assert_int_equal(a->n_messages, b->n_messages);
    for (size_t i = 0; i < a->n_messages; i++) {
        assert_int_equal(a->messages[i].role, b->messages[i].role);
        str_eq(a->messages[i].name, b->messages[i].name, "message name");
        assert_int_equal(a->messages[i].n_parts, b->messages[i].n_parts);
        for (size_t j = 0; j < a->messages[i].n_parts; j++) part_eq(&a->messages[i].parts[j], &b->messages[i].parts[j]);
    }
    assert_int_equal(a->n_tools, b->n_tools);
    for (size_t i = 0; i < a->n_tools; i++) {
        str_eq(a->tools[i].name, b->tools[i].name, "tool name");
        str_eq(a->tools[i].description, b->tools[i].description, "tool description");
        str_eq(a->tools[i].parameters, b->tools[i].parameters, "tool parameters");
        assert_int_equal(a->tools[i].cache, b->tools[i].cache);
    }
    assert_int_equal(a->tool_choice, b->tool_choice);
    str_eq(a->tool_choice_name, b->tool_choice_name, "tool_choice_name");
    assert_int_equal(a->response_format, b->response_format);
    str_eq(a->schema_name, b->schema_name, "schema_name");
    str_eq(a->schema, b->schema, "schema");
    assert_int_equal(a->schema_strict, b->schema_strict);
    assert_int_equal(a->stream, b->stream);
    assert_int_equal(a->priority, b->priority);
    assert_int_equal(a->deadline_ms, b->deadline_ms);
    assert_int_equal(a->reasoning_effort, b->reasoning_effort);
    assert_int_equal(a->reasoning_budget, b->reasoning_budget);
    assert_int_equal(a->single_tool_call, b->single_tool_call);
    assert_int_equal(a->n_metadata, b->n_metadata);
    for (size_t i = 0; i < a->n_metadata; i++) {
        str_eq(a->metadata[i].key, b->metadata[i].key, "metadata key");
        str_eq(a->metadata[i].value, b->metadata[i].value, "metadata value");
    }
    str_eq(a->provider_options, b->provider_options, "provider_options");
    const llmux_sampling *x = &a->sampling, *y = &b->sampling;
    real_eq(x->temperature, y->temperature, "temperature");
    real_eq(x->top_p, y->top_p, "top_p");
    assert_int_equal(x->top_k, y->top_k);
    real_eq(x->min_p, y->min_p, "min_p");
    assert_int_equal(x->max_tokens, y->max_tokens);
    assert_int_equal(x->n_stop, y->n_stop);
    for (size_t i = 0; i < x->n_stop; i++) str_eq(x->stop[i], y->stop[i], "stop");
    assert_int_equal(x->seed, y->seed);
    real_eq(x->presence_penalty, y->presence_penalty, "presence_penalty");
    real_eq(x->frequency_penalty, y->frequency_penalty, "frequency_penalty");
    real_eq(x->repeat_penalty, y->repeat_penalty, "repeat_penalty");
    assert_memory_equal(x->reserved, y->reserved, sizeof x->reserved);
}

/* The copy of req equals the round trip's, field for field and in canonical JSON. */
static void expect_copy_matches(const llmux_request *req) {
    llmux_error_info e1, e2;
    llmux_status vst = llmux_request_validate(req, &e1);
    if (vst != LLMUX_OK) fail_msg("the test's request is invalid: %s", e1.message);
    llmux_request *copy = NULL, *ref = NULL;
    llmux_status s1 = lx_request_copy(req, &copy, &e1);
    llmux_status s2 = lx_request_copy_via_json(req, &ref, &e2);
    assert_int_equal(s1, s2);
    if (s1 != LLMUX_OK) {
        assert_string_equal(e1.message, e2.message);
        assert_null(copy);
        return;
    }
    request_eq(copy, ref);
    char *j1 = llmux_request_to_json(copy);
    char *j2 = llmux_request_to_json(ref);
    assert_non_null(j1);
    assert_string_equal(j1, j2);
    llmux_free(j1);
    llmux_free(j2);
    llmux_request_free(copy);
    llmux_request_free(ref);
}

/* The corpus's requests (decoded, so already canonical). */
static void test_corpus_requests(void **state) {
    (void)state;
    const char *names[] = {"full_request.json", "numbers.json", "shorthand.json"};
    size_t copied = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/fuzz/corpus/request_json/%s", LLMUX_SOURCE_DIR, names[i]);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        char buf[16384];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        llmux_request *req = NULL;
        llmux_error_info e;
        /* Some seeds are made to fail (shorthand.json) or are fragments without messages
         * (numbers.json): nothing llmux_submit would copy. */
        if (llmux_request_from_json(buf, n, &req, &e) != LLMUX_OK) continue;
        if (llmux_request_validate(req, &e) == LLMUX_OK) {
            expect_copy_matches(req);
            copied++;
        }
        llmux_request_free(req);
    }
    assert_true(copied >= 1);
}

/* A request built in C the way library callers do: non-compact JSON texts, fields the part's
 * type does not carry, NULLs the encoder fills in. */
static void test_c_built_request(void **state) {
    (void)state;
    rc_fx f;
    rc_fx_init(&f);
    f.parts[0][0] = (llmux_part){.type = LLMUX_PART_TEXT, .text = "h\xc3\xa9llo \"q\"\n", .id = "dropped", .name = "x"};
    f.parts[0][1] = (llmux_part){.type = LLMUX_PART_IMAGE, .image_url = "https://example.com/a.png", .text = "dropped",
                                 .cache = LLMUX_CACHE_1H};
    f.msgs[0].n_parts = 2;
    f.msgs[0].name = "alice";
    f.parts[1][0] = (llmux_part){.type = LLMUX_PART_TOOL_CALL, .id = "c1", .name = "get", .text = "dropped"};
    /* A cache breakpoint on reasoning is dropped by both. */
    f.parts[1][1] = (llmux_part){.type = LLMUX_PART_REASONING, .text = "t", .signature = "s", .redacted = true,
                                 .cache = LLMUX_CACHE_5M};
    f.msgs[1] = (llmux_message){.role = LLMUX_ROLE_ASSISTANT, .parts = f.parts[1], .n_parts = 2};
    f.r.n_messages = 2;
    f.tools[0] = (llmux_tool){.name = "get", .description = "d", .parameters = "{ \"type\" : \"object\",\n \"x\": 1.50 }"};
    f.tools[1] = (llmux_tool){.name = "noop", .cache = LLMUX_CACHE_5M};
    f.r.tools = f.tools;
    f.r.n_tools = 2;
    f.r.tool_choice = LLMUX_TOOL_CHOICE_TOOL;
    f.r.tool_choice_name = "get";
    f.r.response_format = LLMUX_FORMAT_JSON_SCHEMA;
    f.r.schema_name = "s";
    f.r.schema = " { \"type\": \"object\" } ";
    f.r.schema_strict = true;
    f.stop[0] = "END";
    f.stop[1] = "\xe2\x82\xac";
    f.r.sampling.stop = f.stop;
    f.r.sampling.n_stop = 2;
    f.r.sampling.temperature = 0.1;
    f.r.sampling.top_p = 1.0 / 3.0;
    f.r.sampling.seed = 7;
    f.r.sampling.max_tokens = 16;
    f.kv[0] = (llmux_kv){.key = "k", .value = "v"};
    f.r.metadata = f.kv;
    f.r.n_metadata = 1;
    f.r.provider_options = "{\"openai\" : {\"store\" : false}}";
    f.r.system = "sys";
    f.r.stream = true;
    f.r.priority = -3;
    f.r.deadline_ms = 1234;
    f.r.reasoning_effort = LLMUX_REASONING_HIGH;
    f.r.reasoning_budget = 8000;
    f.r.single_tool_call = true;
    expect_copy_matches(&f.r);

    /* A tool result and the one-text-part shorthand. */
    rc_fx g;
    rc_fx_init(&g);
    g.parts[1][0] = (llmux_part){.type = LLMUX_PART_TOOL_RESULT, .id = "c1", .text = "42", .is_error = true,
                                 .cache = LLMUX_CACHE_5M};
    g.msgs[1] = (llmux_message){.role = LLMUX_ROLE_TOOL, .parts = g.parts[1], .n_parts = 1};
    g.r.n_messages = 2;
    expect_copy_matches(&g.r);
    /* A file part with the fields of another type set (dropped by both). */
    g.parts[0][0] = (llmux_part){.type = LLMUX_PART_FILE, .data = "JVBERi0=", .mime_type = "application/pdf", .name = "a.pdf",
                                 .text = "dropped", .id = "dropped"};
    expect_copy_matches(&g.r);
    /* A provider's own block: its JSON stored compact, a breakpoint on it dropped (it lives in the
     * block's own JSON). */
    g.parts[0][0] = (llmux_part){.type = LLMUX_PART_NATIVE, .name = "anthropic",
                                 .text = "{ \"type\": \"web_search_tool_result\", \"content\": [] }", .cache = LLMUX_CACHE_5M};
    expect_copy_matches(&g.r);
    llmux_error_info ve;
    g.parts[0][0].text = "[1]";
    assert_int_equal(llmux_request_validate(&g.r, &ve), LLMUX_E_INVALID_REQUEST);
    assert_string_equal(ve.message, "messages[0].content[0].block: must be an object");
    g.parts[0][0].text = "{}";
    g.parts[0][0].name = NULL;
    assert_int_equal(llmux_request_validate(&g.r, &ve), LLMUX_E_INVALID_REQUEST);
    assert_string_equal(ve.message, "messages[0].content[0].format: missing");
    g.parts[0][0] = (llmux_part){.type = LLMUX_PART_TEXT, .text = "hi"};
    /* One cached text part: no shorthand, the breakpoint kept. */
    g.parts[0][0].cache = LLMUX_CACHE_1H;
    expect_copy_matches(&g.r);
}

/* What the direct copy leaves to the round trip gives the round trip's answer, errors too. */
static void test_round_trip_cases(void **state) {
    (void)state;
    rc_fx f;
    rc_fx_init(&f);
    f.parts[0][0].text = "bad \xff utf-8"; /* refused before any copy: never reaches a tokenizer */
    llmux_error_info ev;
    assert_int_equal(llmux_request_validate(&f.r, &ev), LLMUX_E_INVALID_REQUEST);
    assert_string_equal(ev.message, "messages[0].content[0].text: must be valid UTF-8");
    f.parts[0][0].text = "na\xc3\xafve \xe2\x9c\x93 \xf0\x9f\x98\x80"; /* 2-, 3- and 4-byte sequences */
    expect_copy_matches(&f.r);

    rc_fx g;
    rc_fx_init(&g);
    llmux_kv kv[2] = {{.key = "a", .value = "1"}, {.key = "a", .value = "2"}};
    g.r.metadata = kv;
    g.r.n_metadata = 2;
    llmux_request *out = (llmux_request *)(uintptr_t)1;
    llmux_error_info e;
    assert_int_equal(lx_request_copy(&g.r, &out, &e), LLMUX_E_INVALID_REQUEST); /* decoding refuses */
    assert_null(out);
    expect_copy_matches(&g.r);

    rc_fx h;
    rc_fx_init(&h);
    h.r.sampling.presence_penalty = -0.0;
    expect_copy_matches(&h.r);
}

/* The copy owns everything: the original's memory is poisoned and freed before the copy is read. */
static char *dup(const char *s) {
    char *d = malloc(strlen(s) + 1);
    assert_non_null(d);
    return strcpy(d, s);
}

static void test_copy_owns_its_memory(void **state) {
    (void)state;
    char *text = dup("what is 2+2?");
    char *model = dup("openai/gpt-4o-mini");
    char *opts = dup("{\"openai\":{\"user\":\"u\"}}");
    llmux_part *part = calloc(1, sizeof *part);
    llmux_message *msg = calloc(1, sizeof *msg);
    assert_true(text && model && opts && part && msg);
    *part = (llmux_part){.type = LLMUX_PART_TEXT, .text = text};
    *msg = (llmux_message){.role = LLMUX_ROLE_USER, .parts = part, .n_parts = 1};
    llmux_request r = llmux_request_default();
    r.model = model;
    r.messages = msg;
    r.n_messages = 1;
    r.provider_options = opts;
    llmux_request *copy = NULL;
    llmux_error_info e;
    assert_int_equal(lx_request_copy(&r, &copy, &e), LLMUX_OK);
    memset(text, 'x', strlen(text));
    memset(model, 'x', strlen(model));
    memset(part, 0xa5, sizeof *part);
    free(text);
    free(model);
    free(opts);
    free(part);
    free(msg);
    assert_string_equal(copy->model, "openai/gpt-4o-mini");
    assert_int_equal(copy->n_messages, 1);
    assert_string_equal(copy->messages[0].parts[0].text, "what is 2+2?");
    assert_string_equal(copy->provider_options, "{\"openai\":{\"user\":\"u\"}}");
    llmux_request_free(copy);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_requests),
        cmocka_unit_test(test_c_built_request),
        cmocka_unit_test(test_round_trip_cases),
        cmocka_unit_test(test_copy_owns_its_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
