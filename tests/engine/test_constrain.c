/* response_format on the local engine (constrain.h), on the bundled model (a byte-level toy
 * that writes fortunes, never JSON of its own accord): json_schema output parses and validates
 * against its schema for every seed tried, sampled and greedy; json_object output is a JSON
 * object; the same seed gives the same JSON; constrained and unconstrained sequences running at
 * once in the scheduler each keep their own grammar; schemas the converter refuses, over the
 * caps or malformed fail with INVALID_REQUEST naming response_format.schema before anything is
 * emitted; max_tokens cuts a JSON text short with finish "length". */
#define _XOPEN_SOURCE 700
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "engine/constrain.h"
#include "engine/engine.h"
#include "engine/sched.h"

#define MODEL LLMUX_SOURCE_DIR "/models/llmux-fortunes.gguf"

static lx_model *g_model;

/* A schema with every kind of value the validator below checks; strings and arrays are bounded
 * so the toy model's output fits its 256-token context. */
static const char k_person_schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":8},"
    "\"age\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":150},"
    "\"score\":{\"type\":\"number\"},"
    "\"member\":{\"type\":\"boolean\"},"
    "\"color\":{\"enum\":[\"red\",\"green\",\"blue\"]},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"maxLength\":4},\"maxItems\":2}},"
    "\"required\":[\"name\",\"age\",\"member\",\"color\"],"
    "\"additionalProperties\":false}";

/* ------------------------------------------------------------ capture */

typedef struct capture {
    lx_buf text;
    size_t n_events;
    llmux_finish_reason finish;
    llmux_status error_status;
} capture;

static bool on_event(void *ud, const llmux_event *ev) {
    capture *c = ud;
    c->n_events++;
    if (ev->type == LLMUX_EVENT_TEXT_DELTA) assert_true(lx_buf_append(&c->text, ev->text, ev->text_len));
    if (ev->type == LLMUX_EVENT_FINISH) c->finish = ev->finish_reason;
    if (ev->type == LLMUX_EVENT_ERROR) c->error_status = ev->error->status;
    return true;
}

static void capture_init(capture *c) {
    memset(c, 0, sizeof *c);
    lx_buf_init(&c->text, 1 << 20);
    assert_true(lx_buf_append(&c->text, "", 0));
}

typedef struct req_parts {
    llmux_part part;
    llmux_message msg;
    llmux_request req;
} req_parts;

static void make_request(req_parts *r, const char *prompt, llmux_format fmt, const char *schema, int64_t seed,
                         double temperature, int32_t max_tokens) {
    memset(r, 0, sizeof *r);
    r->part.type = LLMUX_PART_TEXT;
    r->part.text = prompt;
    r->msg = (llmux_message){LLMUX_ROLE_USER, &r->part, 1, NULL};
    r->req = llmux_request_default();
    r->req.messages = &r->msg;
    r->req.n_messages = 1;
    r->req.response_format = fmt;
    r->req.schema = schema;
    r->req.sampling.seed = seed;
    r->req.sampling.temperature = temperature;
    r->req.sampling.max_tokens = max_tokens;
}

static llmux_status run(const llmux_request *req, capture *c, llmux_error_info *err) {
    capture_init(c);
    lx_gen_stats st;
    lx_event_sink sink = {on_event, c};
    return lx_model_generate(g_model, req, NULL, 0, sink, &st, err);
}

/* ------------------------------------------------------------ checks */

/* Every rule of k_person_schema, on a parsed value. */
static void assert_person(const json_t *v, const char *text) {
    if (!json_is_object(v)) fail_msg("not an object: %s", text);
    const char *key;
    json_t *m;
    json_object_foreach((json_t *)v, key, m) { /* additionalProperties: false */
        static const char *const known[] = {"name", "age", "score", "member", "color", "tags"};
        bool ok = false;
        for (size_t i = 0; i < 6; i++) ok = ok || !strcmp(key, known[i]);
        if (!ok) fail_msg("unexpected key \"%s\": %s", key, text);
    }
    const json_t *name = json_object_get(v, "name");
    if (!json_is_string(name)) fail_msg("name: %s", text);
    size_t n = json_string_length(name); /* bytes: the byte-level model's characters are ASCII here */
    assert_true(n >= 1);
    const json_t *age = json_object_get(v, "age");
    if (!json_is_integer(age)) fail_msg("age: %s", text);
    assert_true(json_integer_value(age) >= 0 && json_integer_value(age) <= 150);
    const json_t *score = json_object_get(v, "score");
    assert_true(!score || json_is_number(score));
    if (!json_is_boolean(json_object_get(v, "member"))) fail_msg("member: %s", text);
    const char *color = json_string_value(json_object_get(v, "color"));
    if (!color) fail_msg("color: %s", text);
    assert_true(!strcmp(color, "red") || !strcmp(color, "green") || !strcmp(color, "blue"));
    const json_t *tags = json_object_get(v, "tags");
    if (tags) {
        assert_true(json_is_array(tags));
        assert_true(json_array_size(tags) <= 2);
        for (size_t i = 0; i < json_array_size(tags); i++) assert_true(json_is_string(json_array_get(tags, i)));
    }
}

static json_t *parse_whole(const capture *c) {
    json_error_t jerr;
    json_t *v = json_loadb(c->text.data, c->text.len, JSON_DECODE_ANY, &jerr);
    if (!v) fail_msg("output is not JSON (%s): %s", jerr.text, c->text.data);
    return v;
}

/* ------------------------------------------------------------ setup */

static int setup(void **state) {
    (void)state;
    lx_model_params p = lx_model_default_params();
    p.path = MODEL;
    p.n_threads = 2;
    p.n_ctx = 256;
    p.n_slots = 2;
    /* The engine's determinism option (one KV stream per slot, plain attention): the tests below
     * compare seeded texts of a request run twice (the second finds its prompt in a slot and
     * decodes only the last token) and batched with another against alone. With the default
     * (unified cache, flash attention) those differ by rounding noise that a seeded draw may
     * follow (docs/local.md, "Determinism"); the grammar is what is tested here. */
    p.kv_per_slot = true;
    llmux_error_info err;
    if (lx_model_load(&p, &g_model, &err) != LLMUX_OK) {
        fprintf(stderr, "loading %s: %s\n", MODEL, err.message);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    lx_model_free(g_model);
    return 0;
}

/* ------------------------------------------------------------ tests */

static void test_json_schema_output_validates(void **state) {
    (void)state;
    /* Sampled (temperature 0.8, the default chain) over several seeds, and greedy. */
    const int64_t seeds[] = {1, 2, 3, 4, 5, 6, 7, 8, 42, 1234};
    for (size_t i = 0; i <= sizeof seeds / sizeof seeds[0]; i++) {
        bool greedy = i == sizeof seeds / sizeof seeds[0];
        req_parts r;
        make_request(&r, "Describe a person as JSON.", LLMUX_FORMAT_JSON_SCHEMA, k_person_schema, greedy ? 0 : seeds[i],
                     greedy ? 0.0 : 0.8, 200);
        capture c;
        llmux_error_info err;
        assert_int_equal(run(&r.req, &c, &err), LLMUX_OK);
        if (c.finish != LLMUX_FINISH_STOP) fail_msg("seed %zu ended with finish %d: %s", i, (int)c.finish, c.text.data);
        json_t *v = parse_whole(&c);
        assert_person(v, c.text.data);
        json_decref(v);
        lx_buf_free(&c.text);
    }
}

static void test_json_object_output_parses(void **state) {
    (void)state;
    for (int64_t seed = 1; seed <= 8; seed++) {
        req_parts r;
        make_request(&r, "Answer in JSON.", LLMUX_FORMAT_JSON_OBJECT, NULL, seed, 0.8, 200);
        capture c;
        llmux_error_info err;
        assert_int_equal(run(&r.req, &c, &err), LLMUX_OK);
        if (c.finish != LLMUX_FINISH_STOP)
            fail_msg("seed %lld ended with finish %d: %s", (long long)seed, (int)c.finish, c.text.data);
        json_t *v = parse_whole(&c);
        if (!json_is_object(v)) fail_msg("seed %lld: not an object: %s", (long long)seed, c.text.data);
        json_decref(v);
        lx_buf_free(&c.text);
    }
}

static void test_same_seed_same_json(void **state) {
    (void)state;
    capture a, b;
    llmux_error_info err;
    req_parts r;
    make_request(&r, "Describe a person as JSON.", LLMUX_FORMAT_JSON_SCHEMA, k_person_schema, 77, 0.8, 200);
    assert_int_equal(run(&r.req, &a, &err), LLMUX_OK);
    assert_int_equal(run(&r.req, &b, &err), LLMUX_OK);
    assert_string_equal(a.text.data, b.text.data);
    lx_buf_free(&a.text);
    lx_buf_free(&b.text);
}

/* Two sequences in the scheduler at once, one constrained and one not: each gives what it gives
 * alone (a grammar belongs to its sequence, not to the context). */
static void test_concurrent_sequences_keep_their_grammar(void **state) {
    (void)state;
    req_parts rj, rt;
    make_request(&rj, "Describe a person as JSON.", LLMUX_FORMAT_JSON_SCHEMA, k_person_schema, 5, 0.8, 200);
    make_request(&rt, "Once upon a time", LLMUX_FORMAT_TEXT, NULL, 5, 0.8, 40);
    capture alone_j, alone_t, cj, ct;
    llmux_error_info err;
    assert_int_equal(run(&rj.req, &alone_j, &err), LLMUX_OK);
    assert_int_equal(run(&rt.req, &alone_t, &err), LLMUX_OK);

    capture_init(&cj);
    capture_init(&ct);
    lx_seq *sj = NULL, *st = NULL;
    assert_int_equal(lx_seq_start(g_model, &rj.req, NULL, 0, (lx_event_sink){on_event, &cj}, NULL, &sj, &err), LLMUX_OK);
    assert_int_equal(lx_seq_start(g_model, &rt.req, NULL, 0, (lx_event_sink){on_event, &ct}, NULL, &st, &err), LLMUX_OK);
    int ended = 0;
    lx_seq *done[LX_MAX_SLOTS];
    while (ended < 2) {
        int32_t n = lx_model_step(g_model, done, LX_MAX_SLOTS);
        for (int32_t i = 0; i < n; i++) {
            assert_int_equal(lx_seq_outcome(done[i], NULL, &err), LLMUX_OK);
            lx_seq_free(done[i]);
            ended++;
        }
    }
    assert_string_equal(cj.text.data, alone_j.text.data);
    assert_string_equal(ct.text.data, alone_t.text.data);
    json_t *v = parse_whole(&cj);
    assert_person(v, cj.text.data);
    json_decref(v);
    lx_buf_free(&alone_j.text);
    lx_buf_free(&alone_t.text);
    lx_buf_free(&cj.text);
    lx_buf_free(&ct.text);
}

static void test_max_tokens_cuts_json_short(void **state) {
    (void)state;
    req_parts r;
    make_request(&r, "Describe a person as JSON.", LLMUX_FORMAT_JSON_SCHEMA, k_person_schema, 3, 0.8, 5);
    capture c;
    llmux_error_info err;
    assert_int_equal(run(&r.req, &c, &err), LLMUX_OK);
    assert_int_equal(c.finish, LLMUX_FINISH_LENGTH);
    assert_int_equal(c.text.len, 5); /* byte-level vocabulary: 5 tokens, 5 bytes */
    assert_int_equal(c.text.data[0], '{');
    lx_buf_free(&c.text);
}

/* A refused schema: INVALID_REQUEST naming response_format.schema (and want, when given, in the
 * message), before START (no event at all). */
static void assert_refused(const char *schema, const char *want) {
    req_parts r;
    make_request(&r, "Describe a person as JSON.", LLMUX_FORMAT_JSON_SCHEMA, schema, 1, 0.8, 20);
    capture c;
    llmux_error_info err;
    assert_int_equal(run(&r.req, &c, &err), LLMUX_E_INVALID_REQUEST);
    assert_int_equal(err.status, LLMUX_E_INVALID_REQUEST);
    assert_int_equal(c.n_events, 0);
    if (strncmp(err.message, "response_format.schema: ", 24) != 0) fail_msg("message: %s", err.message);
    if (want && !strstr(err.message, want)) fail_msg("message lacks \"%s\": %s", want, err.message);
    assert_null(strchr(err.message, '\n'));
    lx_buf_free(&c.text);
}

static void test_invalid_schemas_are_refused(void **state) {
    (void)state;
    /* The converter's own refusals. */
    assert_refused("{\"$ref\":\"https://example.com/schema.json\"}", "only references into the same document");
    assert_refused("{\"$ref\":\"#/$defs/missing\"}", "missing");
    assert_refused("{\"type\":\"string\",\"pattern\":\"^(ab$\"}", NULL);
    assert_refused("{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":7}}}", "$ref must be a string");
    /* A pattern repetition whose minimum is above its maximum: the converter passes it through,
     * llama.cpp's grammar parser would try to build ~2^64 rules (gbnf_check.h). */
    assert_refused("{\"type\":\"string\",\"pattern\":\"^[a-z]{5,4}-[0-9]+$\"}", "minimum above its maximum");
    /* Malformed input, as a C caller can send it (llmux_run's validator refuses it earlier). */
    assert_refused("{\"type\":", "not JSON");
    assert_refused("[1,2]", "a JSON Schema is an object");
    assert_refused("{\"a\":1,\"a\":2}", "not JSON");
    assert_refused("", "not JSON");
    /* jansson's message quotes the text near the error: a raw newline there stays off the line. */
    assert_refused("{\"p\\\n\"", "not JSON");
    /* The caps: nesting and size. */
    lx_buf deep;
    lx_buf_init(&deep, 1 << 20);
    for (int i = 0; i < LX_SCHEMA_MAX_DEPTH; i++) assert_true(lx_buf_append_str(&deep, "{\"type\":\"array\",\"items\":"));
    assert_true(lx_buf_append_str(&deep, "{\"type\":\"integer\"}"));
    for (int i = 0; i < LX_SCHEMA_MAX_DEPTH; i++) assert_true(lx_buf_append_str(&deep, "}"));
    assert_refused(deep.data, "nested deeper than 64 levels");
    lx_buf_free(&deep);
    lx_buf big;
    lx_buf_init(&big, 1 << 20);
    assert_true(lx_buf_append_str(&big, "{\"description\":\""));
    while (big.len <= LX_SCHEMA_MAX_BYTES) assert_true(lx_buf_append_str(&big, "xxxxxxxxxxxxxxxx"));
    assert_true(lx_buf_append_str(&big, "\",\"type\":\"object\"}"));
    assert_refused(big.data, "local models take at most");
    lx_buf_free(&big);
    /* A missing schema with JSON_SCHEMA (a C caller again). */
    assert_refused(NULL, "missing");
}

/* Nesting at the cap is fine, and a refused request leaves the model working. */
static void test_schema_at_the_caps_is_accepted(void **state) {
    (void)state;
    lx_buf deep;
    lx_buf_init(&deep, 1 << 20);
    for (int i = 0; i < LX_SCHEMA_MAX_DEPTH - 1; i++)
        assert_true(lx_buf_append_str(&deep, "{\"type\":\"array\",\"maxItems\":1,\"items\":"));
    assert_true(lx_buf_append_str(&deep, "{\"type\":\"integer\"}"));
    for (int i = 0; i < LX_SCHEMA_MAX_DEPTH - 1; i++) assert_true(lx_buf_append_str(&deep, "}"));
    char *gbnf = NULL;
    llmux_error_info err;
    req_parts r;
    make_request(&r, "x", LLMUX_FORMAT_JSON_SCHEMA, deep.data, 1, 0.8, 20);
    assert_int_equal(lx_response_grammar(&r.req, &gbnf, &err), LLMUX_OK);
    assert_non_null(strstr(gbnf, "root ::="));
    free(gbnf);
    lx_buf_free(&deep);
}

static void test_response_grammar_forms(void **state) {
    (void)state;
    req_parts r;
    char *gbnf = (char *)"sentinel";
    llmux_error_info err;
    make_request(&r, "x", LLMUX_FORMAT_TEXT, NULL, 1, 0.8, 20);
    assert_int_equal(lx_response_grammar(&r.req, &gbnf, &err), LLMUX_OK);
    assert_null(gbnf);
    make_request(&r, "x", LLMUX_FORMAT_JSON_OBJECT, NULL, 1, 0.8, 20);
    assert_int_equal(lx_response_grammar(&r.req, &gbnf, &err), LLMUX_OK);
    assert_non_null(strstr(gbnf, "root ::= "));
    assert_non_null(strstr(gbnf, "\"{\""));
    free(gbnf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_response_grammar_forms),
        cmocka_unit_test(test_json_schema_output_validates),
        cmocka_unit_test(test_json_object_output_parses),
        cmocka_unit_test(test_same_seed_same_json),
        cmocka_unit_test(test_concurrent_sequences_keep_their_grammar),
        cmocka_unit_test(test_max_tokens_cuts_json_short),
        cmocka_unit_test(test_invalid_schemas_are_refused),
        cmocka_unit_test(test_schema_at_the_caps_is_accepted),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
