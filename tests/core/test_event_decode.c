/* The canonical event decoder (core/event_decode.h): every event type round-trips through
 * llmux_event_to_json unchanged; malformed events (what a compromised engine child could send)
 * are refused with a reason naming the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/event_decode.h"
#include "llmux.h"

/* Encodes ev, decodes it, encodes again: the same JSON. */
static void round_trip(const llmux_event *ev) {
    char *j1 = llmux_event_to_json(ev);
    assert_non_null(j1);
    json_t *v = json_loads(j1, 0, NULL);
    assert_non_null(v);
    llmux_event out;
    llmux_error_info e;
    char why[200] = "";
    if (!lx_event_decode(v, &out, &e, why, sizeof why)) fail_msg("%s: %s", j1, why);
    assert_int_equal(out.type, ev->type);
    assert_int_equal(out.index, ev->index);
    assert_int_equal(out.text_len, ev->text_len);
    if (ev->text_len) assert_memory_equal(out.text, ev->text, ev->text_len);
    char *j2 = llmux_event_to_json(&out);
    assert_string_equal(j1, j2);
    llmux_free(j1);
    llmux_free(j2);
    json_decref(v);
}

static void test_round_trip_every_type(void **state) {
    (void)state;
    llmux_event ev;
    memset(&ev, 0, sizeof ev);
    ev.usage = llmux_usage_default();
    ev.type = LLMUX_EVENT_START;
    ev.id = "local-1";
    ev.name = "llmux-fortunes";
    ev.provider = "local";
    round_trip(&ev);

    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_TEXT_DELTA;
    ev.index = 3;
    ev.text = "caf\xc3\xa9 \"quoted\"\n";
    ev.text_len = strlen(ev.text);
    round_trip(&ev);

    ev.type = LLMUX_EVENT_TOOL_CALL_DELTA;
    ev.text = "{\"a\":";
    ev.text_len = 5;
    round_trip(&ev);

    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_REASONING_DELTA;
    ev.index = 1;
    ev.text = "think";
    ev.text_len = 5;
    ev.signature = "sig";
    ev.redacted = true;
    round_trip(&ev);

    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_TOOL_CALL_START;
    ev.index = UINT32_MAX;
    ev.id = "call_1";
    ev.name = "get_weather";
    round_trip(&ev);
    ev.type = LLMUX_EVENT_TOOL_CALL_END;
    ev.id = ev.name = NULL;
    round_trip(&ev);

    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_USAGE;
    ev.usage = llmux_usage_default();
    ev.usage.input_tokens = 6;
    ev.usage.output_tokens = 12;
    ev.usage.cached_input_tokens = 0;
    ev.cost_known = true;
    ev.cost_usd = 0.0125;
    round_trip(&ev);

    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_FINISH;
    ev.finish_reason = LLMUX_FINISH_CANCELLED;
    round_trip(&ev);

    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_NATIVE;
    ev.index = 3;
    ev.name = "anthropic";
    ev.text = "{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_1\",\"input\":{\"q\":\"\\u00e9\"}}";
    ev.text_len = strlen(ev.text);
    round_trip(&ev);

    llmux_error_info info;
    memset(&info, 0, sizeof info);
    info.status = LLMUX_E_OVERLOADED;
    snprintf(info.message, sizeof info.message, "all slots are busy");
    info.provider_status = 503;
    snprintf(info.provider_code, sizeof info.provider_code, "busy");
    info.retry_after_ms = 1000;
    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_ERROR;
    ev.error = &info;
    round_trip(&ev);
}

/* Each malformed event is refused, and the reason names what is wrong. */
static void test_malformed_refused(void **state) {
    (void)state;
    static const struct {
        const char *json, *why;
    } cases[] = {
        {"[]", "must be an object"},
        {"{}", "event.type"},
        {"{\"type\":\"teleport\"}", "unknown event type"},
        {"{\"type\":\"start\",\"extra\":1}", "unknown key \"extra\""},
        {"{\"type\":\"start\",\"id\":5}", "event.id: must be a string"},
        {"{\"type\":\"text_delta\",\"text\":\"x\"}", "event.index: missing"},
        {"{\"type\":\"text_delta\",\"index\":-1,\"text\":\"x\"}", "event.index: must be an integer"},
        {"{\"type\":\"text_delta\",\"index\":4294967296,\"text\":\"x\"}", "event.index: must be an integer"},
        {"{\"type\":\"text_delta\",\"index\":0}", "event.text: missing"},
        {"{\"type\":\"reasoning_delta\",\"index\":0,\"redacted\":1}", "event.redacted: must be a boolean"},
        {"{\"type\":\"tool_call_start\",\"index\":0,\"id\":\"c\"}", "event.name: missing"},
        {"{\"type\":\"usage\"}", "event.usage: missing"},
        {"{\"type\":\"usage\",\"usage\":{\"input_tokens\":-3}}", "event.usage.input_tokens"},
        {"{\"type\":\"usage\",\"usage\":{\"tokens\":3}}", "unknown key \"tokens\""},
        {"{\"type\":\"usage\",\"usage\":{},\"cost_usd\":-1}", "event.cost_usd"},
        {"{\"type\":\"finish\",\"finish_reason\":\"done\"}", "unknown reason"},
        {"{\"type\":\"finish\"}", "event.finish_reason: missing"},
        {"{\"type\":\"native\",\"index\":0,\"block\":\"{}\"}", "event.format: missing"},
        {"{\"type\":\"native\",\"index\":0,\"format\":\"\",\"block\":\"{}\"}", "event.format: must not be empty"},
        {"{\"type\":\"native\",\"index\":0,\"format\":\"anthropic\",\"block\":\"[1]\"}", "event.block: must hold a JSON object"},
        {"{\"type\":\"native\",\"index\":0,\"format\":\"anthropic\",\"block\":{}}", "event.block: must be a string"},
        {"{\"type\":\"error\"}", "event.error: missing"},
        {"{\"type\":\"error\",\"error\":{\"status\":\"ok\",\"message\":\"m\"}}", "not an error class"},
        {"{\"type\":\"error\",\"error\":{\"status\":\"nope\",\"message\":\"m\"}}", "not an error class"},
        {"{\"type\":\"error\",\"error\":{\"status\":\"internal\"}}", "event.error.message"},
        {"{\"type\":\"error\",\"error\":{\"status\":\"internal\",\"message\":\"m\",\"provider_status\":1000}}",
         "event.error.provider_status"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *v = json_loads(cases[i].json, 0, NULL);
        assert_non_null(v);
        llmux_event ev;
        llmux_error_info e;
        char why[200] = "";
        if (lx_event_decode(v, &ev, &e, why, sizeof why)) fail_msg("accepted: %s", cases[i].json);
        if (!strstr(why, cases[i].why)) fail_msg("%s: reason \"%s\" lacks \"%s\"", cases[i].json, why, cases[i].why);
        json_decref(v);
    }
}

/* Long error text is cut to the fixed fields, never past them. */
static void test_error_fields_bounded(void **state) {
    (void)state;
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    json_t *v = json_pack("{s:s,s:{s:s,s:s,s:s}}", "type", "error", "error", "status", "internal", "message", big,
                          "provider_code", big);
    llmux_event ev;
    llmux_error_info e;
    char why[200];
    assert_true(lx_event_decode(v, &ev, &e, why, sizeof why));
    assert_ptr_equal(ev.error, &e);
    assert_int_equal(e.status, LLMUX_E_INTERNAL);
    assert_true(strlen(e.message) < sizeof e.message);
    assert_true(strlen(e.provider_code) < sizeof e.provider_code);
    assert_int_equal(e.retry_after_ms, -1);
    json_decref(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_type),
        cmocka_unit_test(test_malformed_refused),
        cmocka_unit_test(test_error_fields_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
