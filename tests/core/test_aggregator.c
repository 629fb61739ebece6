/* The shared aggregator: events in, response out, and every way a stream can contradict itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "llmux.h"

static llmux_event ev_of(llmux_event_type t, uint32_t index) {
    llmux_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = t;
    ev.index = index;
    ev.usage = llmux_usage_default();
    return ev;
}

static void add_ok(llmux_aggregator *a, const llmux_event *ev) {
    llmux_error_info err;
    llmux_status st = llmux_aggregator_add(a, ev, &err);
    if (st != LLMUX_OK) fail_msg("event %s rejected: %s", llmux_event_type_name(ev->type), err.message);
}

static void add_bad(llmux_aggregator *a, const llmux_event *ev, llmux_status want, const char *message) {
    llmux_error_info err;
    llmux_status st = llmux_aggregator_add(a, ev, &err);
    if (st != want || strcmp(err.message, message) != 0)
        fail_msg("got %d \"%s\", want %d \"%s\"", (int)st, err.message, (int)want, message);
}

static void start(llmux_aggregator *a) {
    llmux_event ev = ev_of(LLMUX_EVENT_START, 0);
    ev.id = "resp_7";
    ev.name = "claude-x";
    ev.provider = "anthropic";
    add_ok(a, &ev);
}

static void text(llmux_aggregator *a, llmux_event_type t, uint32_t index, const char *s) {
    llmux_event ev = ev_of(t, index);
    ev.text = s;
    ev.text_len = strlen(s);
    add_ok(a, &ev);
}

static void tool_start(llmux_aggregator *a, uint32_t index, const char *id, const char *name) {
    llmux_event ev = ev_of(LLMUX_EVENT_TOOL_CALL_START, index);
    ev.id = id;
    ev.name = name;
    add_ok(a, &ev);
}

static void simple(llmux_aggregator *a, llmux_event_type t, uint32_t index) {
    llmux_event ev = ev_of(t, index);
    add_ok(a, &ev);
}

static void finish(llmux_aggregator *a, llmux_finish_reason r) {
    llmux_event ev = ev_of(LLMUX_EVENT_FINISH, 0);
    ev.finish_reason = r;
    add_ok(a, &ev);
}

static void test_text_stream(void **state) {
    (void)state;
    llmux_aggregator *a = llmux_aggregator_create();
    assert_non_null(a);
    start(a);
    text(a, LLMUX_EVENT_TEXT_DELTA, 0, "Hel");
    text(a, LLMUX_EVENT_TEXT_DELTA, 0, "lo");
    assert_false(llmux_aggregator_done(a));
    finish(a, LLMUX_FINISH_STOP);
    assert_true(llmux_aggregator_done(a));
    llmux_response *r = llmux_aggregator_response(a);
    assert_non_null(r);
    assert_string_equal(r->id, "resp_7");
    assert_string_equal(r->model, "claude-x");
    assert_string_equal(r->provider, "anthropic");
    assert_int_equal(r->n_parts, 1);
    assert_string_equal(r->parts[0].text, "Hello");
    assert_string_equal(llmux_response_text(r), "Hello");
    assert_int_equal(r->finish_reason, LLMUX_FINISH_STOP);
    assert_int_equal(r->error.status, LLMUX_OK);
    /* Timing is the runtime's business, usage unknown until reported. */
    assert_true(r->timing.queued_ms == -1 && r->timing.ttft_ms == -1 && r->timing.total_ms == -1);
    assert_int_equal(r->usage.input_tokens, -1);
    assert_int_equal(r->usage.total_tokens, -1);
    llmux_response_free(r);
    llmux_aggregator_destroy(a);
    llmux_aggregator_destroy(NULL);
}

/* Two tool calls stream their argument fragments interleaved; each keeps its own. */
static void test_interleaved_parallel_tools(void **state) {
    (void)state;
    llmux_aggregator *a = llmux_aggregator_create();
    text(a, LLMUX_EVENT_TEXT_DELTA, 0, "Checking both.");
    tool_start(a, 1, "call_a", "get_weather");
    tool_start(a, 2, "call_b", "get_time");
    text(a, LLMUX_EVENT_TOOL_CALL_DELTA, 1, "{\"ci");
    text(a, LLMUX_EVENT_TOOL_CALL_DELTA, 2, "{\"tz\":");
    text(a, LLMUX_EVENT_TOOL_CALL_DELTA, 1, "ty\":\"Par");
    text(a, LLMUX_EVENT_TOOL_CALL_DELTA, 2, "\"Europe/Paris\"}");
    text(a, LLMUX_EVENT_TOOL_CALL_DELTA, 1, "is\"}");
    simple(a, LLMUX_EVENT_TOOL_CALL_END, 2);
    simple(a, LLMUX_EVENT_TOOL_CALL_END, 1);
    finish(a, LLMUX_FINISH_TOOL_CALLS);
    llmux_response *r = llmux_aggregator_response(a);
    assert_int_equal(r->n_parts, 3);
    assert_int_equal(r->parts[0].type, LLMUX_PART_TEXT);
    assert_int_equal(r->parts[1].type, LLMUX_PART_TOOL_CALL);
    assert_string_equal(r->parts[1].id, "call_a");
    assert_string_equal(r->parts[1].name, "get_weather");
    assert_string_equal(r->parts[1].arguments, "{\"city\":\"Paris\"}");
    assert_int_equal(r->parts[2].type, LLMUX_PART_TOOL_CALL);
    assert_string_equal(r->parts[2].id, "call_b");
    assert_string_equal(r->parts[2].name, "get_time");
    assert_string_equal(r->parts[2].arguments, "{\"tz\":\"Europe/Paris\"}");
    assert_int_equal(r->finish_reason, LLMUX_FINISH_TOOL_CALLS);
    assert_string_equal(llmux_response_text(r), "Checking both.");
    llmux_response_free(r);
    llmux_aggregator_destroy(a);
}

static void test_empty_arguments(void **state) {
    (void)state;
    llmux_aggregator *a = llmux_aggregator_create();
    tool_start(a, 0, "c", "now");
    simple(a, LLMUX_EVENT_TOOL_CALL_END, 0);
    llmux_response *r = llmux_aggregator_response(a);
    assert_string_equal(r->parts[0].arguments, "{}");
    assert_int_equal(r->finish_reason, LLMUX_FINISH_NONE); /* no terminal event yet */
    llmux_response_free(r);
    llmux_aggregator_destroy(a);
}

static void test_reasoning_and_signature(void **state) {
    (void)state;
    llmux_aggregator *a = llmux_aggregator_create();
    text(a, LLMUX_EVENT_REASONING_DELTA, 0, "Let me ");
    text(a, LLMUX_EVENT_REASONING_DELTA, 0, "think.");
    llmux_event ev = ev_of(LLMUX_EVENT_REASONING_DELTA, 0);
    ev.signature = "EqQBCkgI";
    add_ok(a, &ev);
    ev.signature = "AxgC";
    add_ok(a, &ev);
    /* A redacted block: opaque data, flag kept. */
    ev = ev_of(LLMUX_EVENT_REASONING_DELTA, 1);
    ev.text = "ZW5jcnlwdGVk";
    ev.text_len = 12;
    ev.redacted = true;
    add_ok(a, &ev);
    text(a, LLMUX_EVENT_TEXT_DELTA, 2, "Answer");
    finish(a, LLMUX_FINISH_STOP);
    llmux_response *r = llmux_aggregator_response(a);
    assert_int_equal(r->n_parts, 3);
    assert_int_equal(r->parts[0].type, LLMUX_PART_REASONING);
    assert_string_equal(r->parts[0].text, "Let me think.");
    assert_string_equal(r->parts[0].signature, "EqQBCkgIAxgC");
    assert_false(r->parts[0].redacted);
    assert_string_equal(r->parts[1].text, "ZW5jcnlwdGVk");
    assert_null(r->parts[1].signature);
    assert_true(r->parts[1].redacted);
    assert_string_equal(llmux_response_text(r), "Answer");
    llmux_response_free(r);
    llmux_aggregator_destroy(a);
}

static void test_usage_merge(void **state) {
    (void)state;
    llmux_aggregator *a = llmux_aggregator_create();
    llmux_event ev = ev_of(LLMUX_EVENT_USAGE, 0);
    ev.usage.input_tokens = 100;
    ev.usage.cached_input_tokens = 40;
    add_ok(a, &ev);
    ev = ev_of(LLMUX_EVENT_USAGE, 0);
    ev.usage.output_tokens = 25;
    ev.usage.cached_input_tokens = 0; /* a reported 0 overrides; -1 never does */
    ev.usage.total_tokens = 125;
    add_ok(a, &ev);
    finish(a, LLMUX_FINISH_STOP);
    llmux_response *r = llmux_aggregator_response(a);
    assert_int_equal(r->usage.input_tokens, 100);
    assert_int_equal(r->usage.output_tokens, 25);
    assert_int_equal(r->usage.cached_input_tokens, 0);
    assert_int_equal(r->usage.cache_write_tokens, -1);
    assert_int_equal(r->usage.reasoning_tokens, -1);
    assert_int_equal(r->usage.total_tokens, 125);
    llmux_response_free(r);
    llmux_aggregator_destroy(a);
}

/* A provider-reported cost: the latest figure is the response's total, components unknown;
 * a negative or non-finite figure contradicts the stream. */
static void test_reported_cost(void **state) {
    (void)state;
    llmux_aggregator *a = llmux_aggregator_create();
    llmux_event ev = ev_of(LLMUX_EVENT_USAGE, 0);
    ev.cost_known = true;
    ev.cost_usd = 0.001;
    add_ok(a, &ev);
    ev.cost_usd = 0.00333825;
    add_ok(a, &ev);
    ev = ev_of(LLMUX_EVENT_USAGE, 0); /* usage without a cost keeps the cost */
    ev.usage.input_tokens = 687;
    add_ok(a, &ev);
    ev = ev_of(LLMUX_EVENT_USAGE, 0);
    ev.cost_known = true;
    ev.cost_usd = -1;
    add_bad(a, &ev, LLMUX_E_UPSTREAM_PROTOCOL, "usage event with a cost that is not a finite number >= 0");
    ev.cost_usd = INFINITY;
    add_bad(a, &ev, LLMUX_E_UPSTREAM_PROTOCOL, "usage event with a cost that is not a finite number >= 0");
    ev.cost_usd = NAN;
    add_bad(a, &ev, LLMUX_E_UPSTREAM_PROTOCOL, "usage event with a cost that is not a finite number >= 0");
    finish(a, LLMUX_FINISH_STOP);
    llmux_response *r = llmux_aggregator_response(a);
    assert_true(r->cost.known);
    assert_true(r->cost.total == 0.00333825);
    assert_true(isnan(r->cost.input) && isnan(r->cost.output));
    assert_int_equal(r->usage.input_tokens, 687);
    llmux_response_free(r);
    llmux_aggregator_destroy(a);

    a = llmux_aggregator_create(); /* no cost reported: unknown */
    finish(a, LLMUX_FINISH_STOP);
    r = llmux_aggregator_response(a);
    assert_false(r->cost.known);
    llmux_response_free(r);
    llmux_aggregator_destroy(a);
}

static void test_after_terminal_rejected(void **state) {
    (void)state;
    llmux_aggregator *a = llmux_aggregator_create();
    text(a, LLMUX_EVENT_TEXT_DELTA, 0, "x");
    finish(a, LLMUX_FINISH_STOP);
    llmux_event ev = ev_of(LLMUX_EVENT_TEXT_DELTA, 0);
    ev.text = "late";
    ev.text_len = 4;
    add_bad(a, &ev, LLMUX_E_UPSTREAM_PROTOCOL, "text_delta event after the terminal finish event");
    ev = ev_of(LLMUX_EVENT_FINISH, 0);
    ev.finish_reason = LLMUX_FINISH_STOP;
    add_bad(a, &ev, LLMUX_E_UPSTREAM_PROTOCOL, "finish event after the terminal finish event");
    llmux_response *r = llmux_aggregator_response(a);
    assert_string_equal(r->parts[0].text, "x");
    llmux_response_free(r);
    llmux_aggregator_destroy(a);

    a = llmux_aggregator_create();
    llmux_error_info e;
    memset(&e, 0, sizeof e);
    e.status = LLMUX_E_OVERLOADED;
    strcpy(e.message, "anthropic: overloaded");
    e.provider_status = 529;
    e.retry_after_ms = -1;
    ev = ev_of(LLMUX_EVENT_ERROR, 0);
    ev.error = &e;
    add_ok(a, &ev);
    assert_true(llmux_aggregator_done(a));
    ev = ev_of(LLMUX_EVENT_USAGE, 0);
    add_bad(a, &ev, LLMUX_E_UPSTREAM_PROTOCOL, "usage event after the terminal error event");
    r = llmux_aggregator_response(a);
    assert_int_equal(r->finish_reason, LLMUX_FINISH_ERROR);
    assert_int_equal(r->error.status, LLMUX_E_OVERLOADED);
    assert_int_equal(r->error.provider_status, 529);
    assert_string_equal(r->error.message, "anthropic: overloaded");
    llmux_response_free(r);
    llmux_aggregator_destroy(a);
}

static void test_contradictions_rejected(void **state) {
    (void)state;
    llmux_aggregator *a = llmux_aggregator_create();
    text(a, LLMUX_EVENT_TEXT_DELTA, 0, "t");
    tool_start(a, 1, "c1", "f");
    llmux_event ev = ev_of(LLMUX_EVENT_TEXT_DELTA, 1);
    ev.text = "x";
    ev.text_len = 1;
    add_bad(a, &ev, LLMUX_E_UPSTREAM_PROTOCOL, "text_delta at index 1: that index holds a tool_call part");
    ev.type = LLMUX_EVENT_REASONING_DELTA;
    ev.index = 0;
    add_bad(a, &ev, LLMUX_E_UPSTREAM_PROTOCOL, "reasoning_delta at index 0: that index holds a text part");
    ev.type = LLMUX_EVENT_TOOL_CALL_DELTA;
    add_bad(a, &ev, LLMUX_E_UPSTREAM_PROTOCOL, "tool_call_delta at index 0: that index holds a text part");
    ev.index = 5;
    add_bad(a, &ev, LLMUX_E_UPSTREAM_PROTOCOL, "tool_call_delta at index 5 before its tool_call_start");
    ev = ev_of(LLMUX_EVENT_TOOL_CALL_START, 1);
    ev.id = "c2";
    ev.name = "g";
    add_bad(a, &ev, LLMUX_E_UPSTREAM_PROTOCOL, "tool_call_start at index 1: that index already holds a tool_call part");
    ev = ev_of(LLMUX_EVENT_TOOL_CALL_END, 7);
    add_bad(a, &ev, LLMUX_E_UPSTREAM_PROTOCOL, "tool_call_end at index 7 before its tool_call_start");
    simple(a, LLMUX_EVENT_TOOL_CALL_END, 1);
    ev = ev_of(LLMUX_EVENT_TOOL_CALL_DELTA, 1);
    ev.text = "{}";
    ev.text_len = 2;
    add_bad(a, &ev, LLMUX_E_UPSTREAM_PROTOCOL, "tool_call_delta at index 1 after its tool_call_end");
    ev = ev_of(LLMUX_EVENT_TEXT_DELTA, 3);
    ev.text_len = 4;
    add_bad(a, &ev, LLMUX_E_UPSTREAM_PROTOCOL, "text_delta at index 3: text is NULL but text_len is not 0");
    ev = ev_of(LLMUX_EVENT_FINISH, 0);
    ev.finish_reason = LLMUX_FINISH_NONE;
    add_bad(a, &ev, LLMUX_E_UPSTREAM_PROTOCOL,
            "finish event with finish reason \"none\" (failures end with an error event)");
    ev = ev_of(LLMUX_EVENT_ERROR, 0);
    add_bad(a, &ev, LLMUX_E_UPSTREAM_PROTOCOL, "error event without error details");
    ev = ev_of((llmux_event_type)42, 0);
    add_bad(a, &ev, LLMUX_E_UPSTREAM_PROTOCOL, "unknown event type 42");
    /* Rejected events changed nothing. */
    assert_false(llmux_aggregator_done(a));
    llmux_response *r = llmux_aggregator_response(a);
    assert_int_equal(r->n_parts, 2);
    assert_string_equal(r->parts[0].text, "t");
    assert_string_equal(r->parts[1].arguments, "{}");
    llmux_response_free(r);
    llmux_aggregator_destroy(a);
}

/* Indexes may skip (a provider numbers blocks it did not send) and arrive out of order. */
static void test_sparse_indices(void **state) {
    (void)state;
    llmux_aggregator *a = llmux_aggregator_create();
    text(a, LLMUX_EVENT_TEXT_DELTA, 2, "second");
    text(a, LLMUX_EVENT_TEXT_DELTA, 0, "first ");
    tool_start(a, 1000000, "c", "f");
    text(a, LLMUX_EVENT_TEXT_DELTA, 7, " third");
    finish(a, LLMUX_FINISH_STOP);
    llmux_response *r = llmux_aggregator_response(a);
    assert_int_equal(r->n_parts, 4);
    assert_string_equal(r->parts[0].text, "first ");
    assert_string_equal(r->parts[1].text, "second");
    assert_string_equal(r->parts[2].text, " third");
    assert_int_equal(r->parts[3].type, LLMUX_PART_TOOL_CALL);
    assert_string_equal(llmux_response_text(r), "first second third");
    llmux_response_free(r);
    llmux_aggregator_destroy(a);
}

static void test_binary_safe_text(void **state) {
    (void)state;
    llmux_aggregator *a = llmux_aggregator_create();
    llmux_event ev = ev_of(LLMUX_EVENT_TEXT_DELTA, 0);
    ev.text = "\xC3"; /* a character split across two deltas */
    ev.text_len = 1;
    add_ok(a, &ev);
    ev.text = "\xA9tail-not-included";
    ev.text_len = 1;
    add_ok(a, &ev);
    llmux_response *r = llmux_aggregator_response(a);
    assert_string_equal(r->parts[0].text, "\xC3\xA9");
    llmux_response_free(r);
    llmux_aggregator_destroy(a);
}

static void test_cancelled(void **state) {
    (void)state;
    llmux_aggregator *a = llmux_aggregator_create();
    text(a, LLMUX_EVENT_TEXT_DELTA, 0, "partial");
    finish(a, LLMUX_FINISH_CANCELLED);
    llmux_response *r = llmux_aggregator_response(a);
    assert_int_equal(r->finish_reason, LLMUX_FINISH_CANCELLED);
    assert_int_equal(r->error.status, LLMUX_E_CANCELLED);
    assert_string_equal(r->parts[0].text, "partial");
    llmux_response_free(r);
    llmux_aggregator_destroy(a);
}

static void test_content_cap(void **state) {
    (void)state;
    const size_t cap = (size_t)64 * 1024 * 1024;
    const size_t chunk = (size_t)1024 * 1024;
    char *big = malloc(chunk);
    assert_non_null(big);
    memset(big, 'a', chunk);
    llmux_aggregator *a = llmux_aggregator_create();

    /* One oversized delta is refused before anything is copied. */
    llmux_event ev = ev_of(LLMUX_EVENT_TEXT_DELTA, 0);
    ev.text = big;
    ev.text_len = cap + 1; /* never read: the cap check comes first */
    add_bad(a, &ev, LLMUX_E_INVALID_REQUEST, "response content exceeds the cap of 67108864 bytes (64 MiB)");

    /* Exactly the cap is fine, one byte more is not, across parts and kinds. */
    ev.text_len = chunk;
    for (size_t i = 0; i < 63; i++) add_ok(a, &ev);
    ev.type = LLMUX_EVENT_REASONING_DELTA;
    ev.index = 1;
    ev.text_len = chunk - 4;
    add_ok(a, &ev);
    tool_start(a, 2, "ab", "cd");
    ev = ev_of(LLMUX_EVENT_TOOL_CALL_DELTA, 2);
    ev.text = "x";
    ev.text_len = 1;
    add_bad(a, &ev, LLMUX_E_INVALID_REQUEST, "response content exceeds the cap of 67108864 bytes (64 MiB)");
    finish(a, LLMUX_FINISH_LENGTH);
    llmux_response *r = llmux_aggregator_response(a);
    assert_non_null(r);
    assert_int_equal(strlen(r->parts[0].text), 63 * chunk);
    assert_int_equal(strlen(r->parts[1].text), chunk - 4);
    assert_string_equal(r->parts[2].arguments, "{}");
    llmux_response_free(r);
    llmux_aggregator_destroy(a);
    free(big);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_stream),
        cmocka_unit_test(test_interleaved_parallel_tools),
        cmocka_unit_test(test_empty_arguments),
        cmocka_unit_test(test_reasoning_and_signature),
        cmocka_unit_test(test_usage_merge),
        cmocka_unit_test(test_reported_cost),
        cmocka_unit_test(test_after_terminal_rejected),
        cmocka_unit_test(test_contradictions_rejected),
        cmocka_unit_test(test_sparse_indices),
        cmocka_unit_test(test_binary_safe_text),
        cmocka_unit_test(test_cancelled),
        cmocka_unit_test(test_content_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
