/* The emitter's tool-call table: allocated at the first tool call (an emitter without tool calls
 * allocates nothing, since every stream in flight holds one), grown as calls arrive up to
 * LX_EMITTER_MAX_TOOLS with every call's key, part index and adapter tag kept across the growth,
 * and the call past the cap refused as an upstream protocol error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/emitter.h"

typedef struct counts {
    int starts, tool_starts, tool_ends, finishes;
    uint32_t last_index;
} counts;

static bool count_event(void *ud, const llmux_event *ev) {
    counts *c = ud;
    if (ev->type == LLMUX_EVENT_START) c->starts++;
    if (ev->type == LLMUX_EVENT_TOOL_CALL_START) {
        c->tool_starts++;
        c->last_index = ev->index;
    }
    if (ev->type == LLMUX_EVENT_TOOL_CALL_END) c->tool_ends++;
    if (ev->type == LLMUX_EVENT_FINISH) c->finishes++;
    return true;
}

static void test_no_tool_calls_no_table(void **state) {
    (void)state;
    counts c = {0};
    lx_emitter e;
    lx_emitter_init(&e, (lx_event_sink){count_event, &c}, "p");
    llmux_error_info err;
    assert_int_equal(lx_emit_text(&e, "hi", 2, &err), LLMUX_OK);
    assert_int_equal(lx_emit_finish(&e, LLMUX_FINISH_STOP, &err), LLMUX_OK);
    assert_null(e.tools);
    assert_int_equal(c.starts, 1);
    assert_int_equal(c.finishes, 1);
    lx_emitter_free(&e);
    lx_emitter_free(&e); /* twice: a freed emitter is an empty one */
}

static void test_table_grows_to_the_cap(void **state) {
    (void)state;
    counts c = {0};
    lx_emitter e;
    lx_emitter_init(&e, (lx_event_sink){count_event, &c}, "p");
    llmux_error_info err;
    for (int64_t k = 0; k < LX_EMITTER_MAX_TOOLS; k++) {
        char id[32];
        snprintf(id, sizeof id, "call_%lld", (long long)k);
        assert_int_equal(lx_emit_tool_start(&e, k * 7, id, "f", &err), LLMUX_OK);
        e.tools[e.n_tools - 1].tag = (uint64_t)k + 1000;
    }
    assert_int_equal(e.n_tools, LX_EMITTER_MAX_TOOLS);
    assert_true(e.cap_tools <= LX_EMITTER_MAX_TOOLS);
    /* Every call survived the reallocations: key, index (in order of appearance) and tag. */
    for (size_t i = 0; i < e.n_tools; i++) {
        assert_int_equal(e.tools[i].key, (int64_t)i * 7);
        assert_int_equal(e.tools[i].index, i);
        assert_int_equal(e.tools[i].tag, i + 1000);
        assert_true(lx_emitter_tool_open(&e, (int64_t)i * 7));
    }
    assert_int_equal(lx_emit_tool_delta(&e, 0, "{}", 2, &err), LLMUX_OK);
    assert_int_equal(lx_emit_tool_start(&e, 100000, "one_more", "f", &err), LLMUX_E_UPSTREAM_PROTOCOL);
    assert_non_null(strstr(err.message, "more than 256 tool calls"));
    assert_int_equal(c.tool_starts, LX_EMITTER_MAX_TOOLS);
    assert_int_equal(c.last_index, LX_EMITTER_MAX_TOOLS - 1);
    assert_int_equal(lx_emit_finish(&e, LLMUX_FINISH_TOOL_CALLS, &err), LLMUX_OK);
    assert_int_equal(c.tool_ends, LX_EMITTER_MAX_TOOLS); /* the end closes every open call */
    lx_emitter_free(&e);
    assert_null(e.tools);
    assert_int_equal(e.n_tools, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_tool_calls_no_table),
        cmocka_unit_test(test_table_grows_to_the_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
