/* Out-of-memory policy (STYLE.md §9): llmux returns LLMUX_E_OUT_OF_MEMORY and leaks nothing
 * (ASan/LSan check the leaks in the sanitizer build). Like curl's torture mode: run an operation
 * once to count its allocations, then once more for every N with the N-th allocation failing.
 * malloc/calloc/realloc are wrapped at link time (-Wl,--wrap, see tests/CMakeLists.txt) so the
 * failures reach llmux's own code. jansson (a shared library) keeps the real allocator: it reports
 * some of its own allocation failures as syntax errors, which llmux cannot tell apart; llmux
 * classifies the ones jansson does flag (see lx_jr_parse). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llmux.h"

#include "support/oom_torture.h"


static const char k_request[] =
    "{\"model\":\"local/x\",\"system\":\"be brief\",\"messages\":["
    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"},"
    "{\"type\":\"image\",\"url\":\"https://example.com/a.png\"}]},"
    "{\"role\":\"assistant\",\"content\":[{\"type\":\"reasoning\",\"text\":\"t\",\"signature\":\"s\"},"
    "{\"type\":\"tool_call\",\"id\":\"c1\",\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}]},"
    "{\"role\":\"tool\",\"content\":[{\"type\":\"tool_result\",\"id\":\"c1\",\"content\":\"42\"}]}],"
    "\"tools\":[{\"name\":\"f\",\"description\":\"d\",\"parameters\":{\"type\":\"object\"}}],"
    "\"temperature\":0.5,\"stop\":[\"x\",\"y\"],\"metadata\":{\"k\":\"v\"}}";

static llmux_status op_decode_encode_request(void) {
    llmux_request *req = NULL;
    llmux_error_info err;
    llmux_status st = llmux_request_from_json(k_request, strlen(k_request), &req, &err);
    if (st != LLMUX_OK && st != LLMUX_E_OUT_OF_MEMORY) print_message("%s\n", err.message);
    if (st != LLMUX_OK) {
        assert_null(req);
        return st;
    }
    char *j = llmux_request_to_json(req);
    llmux_request_free(req);
    if (!j) return LLMUX_E_OUT_OF_MEMORY;
    llmux_free(j);
    return LLMUX_OK;
}

static llmux_status op_aggregate(void) {
    llmux_aggregator *agg = llmux_aggregator_create();
    if (!agg) return LLMUX_E_OUT_OF_MEMORY;
    llmux_error_info err;
    llmux_event ev;
    llmux_status st = LLMUX_OK;
    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_START;
    ev.id = "r1";
    ev.name = "m";
    ev.provider = "p";
    if (st == LLMUX_OK) st = llmux_aggregator_add(agg, &ev, &err);
    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_TEXT_DELTA;
    ev.text = "hello";
    ev.text_len = 5;
    if (st == LLMUX_OK) st = llmux_aggregator_add(agg, &ev, &err);
    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_TOOL_CALL_START;
    ev.index = 1;
    ev.id = "c";
    ev.name = "f";
    if (st == LLMUX_OK) st = llmux_aggregator_add(agg, &ev, &err);
    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_TOOL_CALL_DELTA;
    ev.index = 1;
    ev.text = "{}";
    ev.text_len = 2;
    if (st == LLMUX_OK) st = llmux_aggregator_add(agg, &ev, &err);
    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_FINISH;
    ev.finish_reason = LLMUX_FINISH_TOOL_CALLS;
    if (st == LLMUX_OK) st = llmux_aggregator_add(agg, &ev, &err);
    llmux_response *resp = st == LLMUX_OK ? llmux_aggregator_response(agg) : NULL;
    llmux_aggregator_destroy(agg);
    if (st != LLMUX_OK) return st;
    if (!resp) return LLMUX_E_OUT_OF_MEMORY;
    char *j = llmux_response_to_json(resp);
    llmux_response_free(resp);
    if (!j) return LLMUX_E_OUT_OF_MEMORY;
    llmux_free(j);
    return LLMUX_OK;
}

static void test_request_json_oom(void **state) {
    (void)state;
    long points = oom_torture(op_decode_encode_request);
    print_message("request decode+encode: %ld allocation failure points, all reported\n", points);
    assert_true(points > 5);
}

static void test_aggregator_oom(void **state) {
    (void)state;
    long points = oom_torture(op_aggregate);
    print_message("aggregate+encode: %ld allocation failure points, all reported\n", points);
    assert_true(points > 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_json_oom),
        cmocka_unit_test(test_aggregator_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
