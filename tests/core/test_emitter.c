/* The event emitter (core/emitter.h) on its own, with no adapter: part indices in order of first
 * appearance, START once and first, tool calls closed before FINISH, nothing after FINISH, the
 * tool-call cap, a sink that stops the stream, and the stream guard's terminal rules (exactly one
 * FINISH or ERROR for a stream that delivered anything, delivered after a stop too, nothing after
 * it, silence for a stream that delivered nothing). Links llmux_core only: the emitter knows no
 * provider. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/emitter.h"
#include "core/error.h"
#include "llmux.h"

typedef struct rec {
    llmux_event_type type[64];
    uint32_t index[64];
    llmux_finish_reason finish[64];
    llmux_status error[64];   /* the ERROR event's status */
    size_t n;
    size_t stop_at; /* the sink refuses this event (1-based); 0 = never */
} rec;

static bool record(void *ud, const llmux_event *ev) {
    rec *r = ud;
    if (r->n < 64) {
        r->type[r->n] = ev->type;
        r->index[r->n] = ev->index;
        r->finish[r->n] = ev->finish_reason;
        r->error[r->n] = ev->error ? ev->error->status : LLMUX_OK;
    }
    r->n++;
    return !(r->stop_at && r->n == r->stop_at);
}

static void test_indices_and_order(void **state) {
    (void)state;
    rec r = {0};
    lx_emitter e;
    lx_emitter_init(&e, (lx_event_sink){record, &r}, "test");
    llmux_error_info err;
    assert_int_equal(lx_emit_reasoning(&e, "hm", 2, NULL, false, &err), LLMUX_OK); /* START implied */
    assert_int_equal(lx_emit_text(&e, "a", 1, &err), LLMUX_OK);
    assert_int_equal(lx_emit_text(&e, "", 0, &err), LLMUX_OK); /* nothing */
    assert_int_equal(lx_emit_tool_start(&e, 7, "call_1", "f", &err), LLMUX_OK);
    assert_int_equal(lx_emit_tool_delta(&e, 7, "{}", 2, &err), LLMUX_OK);
    lx_emitter_break_text(&e);
    assert_int_equal(lx_emit_text(&e, "b", 1, &err), LLMUX_OK); /* a new text part */
    assert_int_equal(lx_emit_start(&e, "id", "m", &err), LLMUX_OK); /* already sent: no-op */
    llmux_usage u = llmux_usage_default();
    assert_int_equal(lx_emit_usage_cost(&e, &u, NAN, &err), LLMUX_OK);
    assert_int_equal(lx_emit_finish(&e, LLMUX_FINISH_TOOL_CALLS, &err), LLMUX_OK); /* closes call 7 */
    static const llmux_event_type want[] = {LLMUX_EVENT_START,          LLMUX_EVENT_REASONING_DELTA,
                                            LLMUX_EVENT_TEXT_DELTA,     LLMUX_EVENT_TOOL_CALL_START,
                                            LLMUX_EVENT_TOOL_CALL_DELTA, LLMUX_EVENT_TEXT_DELTA,
                                            LLMUX_EVENT_USAGE,          LLMUX_EVENT_TOOL_CALL_END,
                                            LLMUX_EVENT_FINISH};
    static const uint32_t want_index[] = {0, 0, 1, 2, 2, 3, 0, 2, 0};
    assert_int_equal(r.n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < r.n; i++) {
        assert_int_equal(r.type[i], want[i]);
        if (want[i] != LLMUX_EVENT_START && want[i] != LLMUX_EVENT_USAGE && want[i] != LLMUX_EVENT_FINISH)
            assert_int_equal(r.index[i], want_index[i]);
    }
    assert_int_equal(e.n_events, r.n);
    /* Nothing after FINISH. */
    assert_int_equal(lx_emit_text(&e, "late", 4, &err), LLMUX_E_UPSTREAM_PROTOCOL);
    assert_non_null(strstr(err.message, "test: "));
    assert_int_equal(r.n, sizeof want / sizeof want[0]);
    lx_emitter_free(&e); /* the tool table, allocated at the first tool call */
}

static void test_tool_rules(void **state) {
    (void)state;
    rec r = {0};
    lx_emitter e;
    lx_emitter_init(&e, (lx_event_sink){record, &r}, NULL);
    llmux_error_info err;
    assert_int_equal(lx_emit_tool_delta(&e, 1, "x", 1, &err), LLMUX_E_UPSTREAM_PROTOCOL); /* not open */
    assert_int_equal(lx_emit_tool_end(&e, 1, &err), LLMUX_E_UPSTREAM_PROTOCOL);            /* unknown */
    assert_int_equal(lx_emit_tool_start(&e, 1, NULL, NULL, &err), LLMUX_OK);
    assert_int_equal(lx_emit_tool_start(&e, 1, NULL, NULL, &err), LLMUX_E_UPSTREAM_PROTOCOL); /* twice */
    assert_true(lx_emitter_tool_open(&e, 1));
    assert_int_equal(lx_emit_tool_end(&e, 1, &err), LLMUX_OK);
    assert_int_equal(lx_emit_tool_end(&e, 1, &err), LLMUX_OK); /* already ended: no-op */
    assert_false(lx_emitter_tool_open(&e, 1));
    assert_true(lx_emitter_has_tool(&e, 1));
    assert_int_equal(lx_emit_tool_start(&e, 1, NULL, NULL, &err), LLMUX_OK); /* key reused after its end */
    for (int64_t k = 2; k <= LX_EMITTER_MAX_TOOLS - 1; k++)
        assert_int_equal(lx_emit_tool_start(&e, k, NULL, NULL, &err), LLMUX_OK);
    assert_int_equal(lx_emit_tool_start(&e, 100000, NULL, NULL, &err), LLMUX_E_UPSTREAM_PROTOCOL); /* cap */
    lx_emitter_free(&e); /* the tool table, allocated at the first tool call */
}

static void test_sink_stops(void **state) {
    (void)state;
    rec r = {.stop_at = 2};
    lx_emitter e;
    lx_emitter_init(&e, (lx_event_sink){record, &r}, "test");
    llmux_error_info err;
    assert_int_equal(lx_emit_text(&e, "a", 1, &err), LLMUX_E_CANCELLED); /* START ok, the delta refused */
    assert_int_equal(err.status, LLMUX_E_CANCELLED);
    assert_int_equal(lx_emit_text(&e, "b", 1, &err), LLMUX_E_CANCELLED);
    assert_int_equal(r.n, 2);
    lx_emitter_free(&e); /* the tool table, allocated at the first tool call */
}

/* A stream that delivered nothing ends silently (its caller may retry); once it delivered an
 * event, a failure ends it with exactly one ERROR, and nothing follows. */
static void test_close_error(void **state) {
    (void)state;
    rec r = {0};
    lx_emitter e;
    lx_emitter_init(&e, (lx_event_sink){record, &r}, "test");
    llmux_error_info err, why;
    lx_error(&why, LLMUX_E_NETWORK, "connection reset");
    assert_false(lx_emitter_close(&e, LLMUX_E_NETWORK, &why));
    assert_int_equal(r.n, 0);
    assert_int_equal(lx_emit_text(&e, "a", 1, &err), LLMUX_OK); /* START, TEXT_DELTA */
    assert_true(lx_emitter_close(&e, LLMUX_E_NETWORK, &why));
    assert_int_equal(r.n, 3);
    assert_int_equal(r.type[2], LLMUX_EVENT_ERROR);
    assert_int_equal(r.error[2], LLMUX_E_NETWORK);
    assert_true(e.finished);
    assert_int_equal(e.end_status, LLMUX_E_NETWORK);
    /* Nothing after the terminal event: not a second terminal, not content. */
    assert_false(lx_emitter_close(&e, LLMUX_E_CANCELLED, NULL));
    assert_int_equal(lx_emit_finish(&e, LLMUX_FINISH_STOP, &err), LLMUX_E_UPSTREAM_PROTOCOL);
    assert_int_equal(lx_emit_error(&e, &why, &err), LLMUX_E_UPSTREAM_PROTOCOL);
    assert_int_equal(lx_emit_usage(&e, &(llmux_usage){0}, &err), LLMUX_E_UPSTREAM_PROTOCOL);
    assert_int_equal(r.n, 3);
    lx_emitter_free(&e);
}

/* After the sink asked to stop, content is refused but USAGE and the terminal event still reach
 * it, and the terminal event is FINISH(CANCELLED) whatever reason the producer gives; open tool
 * calls are not closed after the stop. */
static void test_stop_then_terminal(void **state) {
    (void)state;
    rec r = {.stop_at = 3}; /* START, TOOL_CALL_START, then TEXT_DELTA refused */
    lx_emitter e;
    lx_emitter_init(&e, (lx_event_sink){record, &r}, "test");
    llmux_error_info err;
    assert_int_equal(lx_emit_tool_start(&e, 7, "id", "f", &err), LLMUX_OK);
    assert_int_equal(lx_emit_text(&e, "a", 1, &err), LLMUX_E_CANCELLED);
    assert_int_equal(lx_emit_text(&e, "b", 1, &err), LLMUX_E_CANCELLED);
    assert_int_equal(lx_emit_usage(&e, &(llmux_usage){.output_tokens = 3}, &err), LLMUX_OK);
    assert_int_equal(lx_emit_finish(&e, LLMUX_FINISH_STOP, &err), LLMUX_E_CANCELLED);
    assert_int_equal(r.n, 5);
    assert_int_equal(r.type[3], LLMUX_EVENT_USAGE);
    assert_int_equal(r.type[4], LLMUX_EVENT_FINISH);
    assert_int_equal(r.finish[4], LLMUX_FINISH_CANCELLED);
    assert_int_equal(e.end_status, LLMUX_E_CANCELLED);
    assert_false(lx_emitter_close(&e, LLMUX_E_CANCELLED, NULL)); /* already ended */
    assert_int_equal(r.n, 5);
    lx_emitter_free(&e);
}

/* A cancellation after some event ends the stream with FINISH(CANCELLED); an ERROR sent without
 * START is preceded by one; a refused terminal event still ends the stream. */
static void test_close_cancelled_and_error_start(void **state) {
    (void)state;
    rec r = {0};
    lx_emitter e;
    lx_emitter_init(&e, (lx_event_sink){record, &r}, "test");
    llmux_error_info err;
    assert_int_equal(lx_emit_start(&e, "id", "m", &err), LLMUX_OK);
    assert_true(lx_emitter_close(&e, LLMUX_E_CANCELLED, NULL));
    assert_int_equal(r.n, 2);
    assert_int_equal(r.type[1], LLMUX_EVENT_FINISH);
    assert_int_equal(r.finish[1], LLMUX_FINISH_CANCELLED);
    assert_int_equal(e.end_status, LLMUX_E_CANCELLED);
    lx_emitter_free(&e);

    rec r2 = {.stop_at = 2}; /* the ERROR itself is refused */
    lx_emitter_init(&e, (lx_event_sink){record, &r2}, "test");
    llmux_error_info why;
    lx_error(&why, LLMUX_E_CONTEXT_LENGTH, "too long");
    assert_int_equal(lx_emit_error(&e, &why, &err), LLMUX_OK);
    assert_int_equal(r2.n, 2);
    assert_int_equal(r2.type[0], LLMUX_EVENT_START);
    assert_int_equal(r2.type[1], LLMUX_EVENT_ERROR);
    assert_int_equal(r2.error[1], LLMUX_E_CONTEXT_LENGTH);
    assert_true(e.finished);
    assert_int_equal(lx_emit_finish(&e, LLMUX_FINISH_STOP, &err), LLMUX_E_UPSTREAM_PROTOCOL);
    assert_int_equal(r2.n, 2);
    lx_emitter_free(&e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_indices_and_order),
        cmocka_unit_test(test_tool_rules),
        cmocka_unit_test(test_sink_stops),
        cmocka_unit_test(test_close_error),
        cmocka_unit_test(test_stop_then_terminal),
        cmocka_unit_test(test_close_cancelled_and_error_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
