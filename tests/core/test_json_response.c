/* Canonical response and event JSON, the response builder, UTF-8 repair and double formatting. */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/json.h"
#include "core/response.h"
#include "llmux.h"

static llmux_response *sample_response(void) {
    llmux_response *r = lx_response_new();
    assert_non_null(r);
    assert_true(lx_response_set_meta(r, "resp_1", "gpt-4o-mini", "openai"));
    llmux_part text = {.type = LLMUX_PART_TEXT, .text = "Hello, "};
    llmux_part reasoning = {.type = LLMUX_PART_REASONING, .text = "plan", .signature = "c2ln"};
    llmux_part text2 = {.type = LLMUX_PART_TEXT, .text = "world"};
    llmux_part call = {.type = LLMUX_PART_TOOL_CALL, .id = "call_9", .name = "lookup", .arguments = "{\"q\":1}"};
    assert_true(lx_response_add_part(r, &reasoning));
    assert_true(lx_response_add_part(r, &text));
    assert_true(lx_response_add_part(r, &text2));
    assert_true(lx_response_add_part(r, &call));
    r->finish_reason = LLMUX_FINISH_TOOL_CALLS;
    r->usage.input_tokens = 12;
    r->usage.output_tokens = 7;
    r->usage.total_tokens = 19;
    r->cost = (llmux_cost){.known = true, .input = 0.0001, .output = 0.00042, .cache_read = 0, .cache_write = 0,
                           .total = 0.00052};
    lx_response_set_timing(r, -1, 120.5, 830);
    assert_true(lx_response_add_warning(r, "unsupported_parameter", "top_k is ignored by openai"));
    return r;
}

static const char k_sample_json[] =
    "{\"id\":\"resp_1\",\"model\":\"gpt-4o-mini\",\"provider\":\"openai\",\"content\":["
    "{\"type\":\"reasoning\",\"text\":\"plan\",\"signature\":\"c2ln\"},{\"type\":\"text\",\"text\":\"Hello, \"},"
    "{\"type\":\"text\",\"text\":\"world\"},"
    "{\"type\":\"tool_call\",\"id\":\"call_9\",\"name\":\"lookup\",\"arguments\":\"{\\\"q\\\":1}\"}],"
    "\"finish_reason\":\"tool_calls\",\"usage\":{\"input_tokens\":12,\"output_tokens\":7,\"total_tokens\":19},"
    "\"cost\":{\"input\":0.0001,\"output\":0.00042,\"cache_read\":0.0,\"cache_write\":0.0,\"total\":0.00052},"
    "\"timing\":{\"ttft_ms\":120.5,\"total_ms\":830.0},"
    "\"warnings\":[{\"code\":\"unsupported_parameter\",\"message\":\"top_k is ignored by openai\"}]}";

static void test_builder_defaults(void **state) {
    (void)state;
    llmux_response *r = lx_response_new();
    assert_non_null(r);
    assert_int_equal(r->finish_reason, LLMUX_FINISH_NONE);
    assert_int_equal(r->usage.input_tokens, -1);
    assert_int_equal(r->usage.total_tokens, -1);
    assert_false(r->cost.known);
    assert_true(r->timing.queued_ms == -1 && r->timing.ttft_ms == -1 && r->timing.total_ms == -1);
    assert_int_equal(r->error.status, LLMUX_OK);
    assert_int_equal(r->error.retry_after_ms, -1);
    assert_string_equal(llmux_response_text(r), "");
    char *json = llmux_response_to_json(r);
    assert_string_equal(json, "{\"content\":[],\"finish_reason\":\"none\",\"usage\":{}}");
    llmux_free(json);
    llmux_response_free(r);
    llmux_response_free(NULL);
}

static void test_response_text(void **state) {
    (void)state;
    llmux_response *r = sample_response();
    assert_string_equal(llmux_response_text(r), "Hello, world");
    /* The cache follows later parts. */
    llmux_part more = {.type = LLMUX_PART_TEXT, .text = "!"};
    assert_true(lx_response_add_part(r, &more));
    assert_string_equal(llmux_response_text(r), "Hello, world!");
    assert_ptr_equal(llmux_response_text(r), llmux_response_text(r));
    llmux_response_free(r);
}

static void test_many_parts_and_warnings(void **state) {
    (void)state;
    llmux_response *r = lx_response_new();
    char buf[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(buf, sizeof buf, "%d,", i);
        llmux_part p = {.type = LLMUX_PART_TEXT, .text = buf};
        assert_true(lx_response_add_part(r, &p));
        assert_true(lx_response_add_warning(r, "w", buf));
    }
    assert_int_equal(r->n_parts, 1000);
    assert_int_equal(r->n_warnings, 1000);
    assert_string_equal(r->parts[999].text, "999,");
    assert_string_equal(r->warnings[500].message, "500,");
    assert_int_equal(strncmp(llmux_response_text(r), "0,1,2,3,", 8), 0);
    llmux_response_free(r);
}

static void test_response_exact_and_round_trip(void **state) {
    (void)state;
    llmux_response *r = sample_response();
    char *j1 = llmux_response_to_json(r);
    assert_string_equal(j1, k_sample_json);
    llmux_response *dec = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_response_from_json(j1, strlen(j1), &dec, &err), LLMUX_OK);
    char *j2 = llmux_response_to_json(dec);
    assert_string_equal(j1, j2);
    assert_string_equal(dec->id, "resp_1");
    assert_int_equal(dec->n_parts, 4);
    assert_string_equal(dec->parts[0].signature, "c2ln");
    assert_int_equal(dec->usage.cached_input_tokens, -1);
    assert_true(dec->cost.known);
    assert_true(dec->cost.total == 0.00052);
    assert_true(dec->timing.queued_ms == -1);
    assert_true(dec->timing.ttft_ms == 120.5);
    assert_string_equal(llmux_response_text(dec), "Hello, world");
    llmux_free(j1);
    llmux_free(j2);
    llmux_response_free(dec);
    llmux_response_free(r);
}

static void test_error_response_round_trip(void **state) {
    (void)state;
    llmux_response *r = lx_response_new();
    llmux_error_info e;
    memset(&e, 0, sizeof e);
    e.status = LLMUX_E_RATE_LIMITED;
    strcpy(e.message, "openai: rate limited");
    e.provider_status = 429;
    strcpy(e.provider_code, "rate_limit_exceeded");
    strcpy(e.provider_message, "Slow down \"please\"");
    e.retry_after_ms = 2000;
    lx_response_set_error(r, &e);
    r->finish_reason = LLMUX_FINISH_ERROR;
    char *j1 = llmux_response_to_json(r);
    assert_string_equal(j1, "{\"content\":[],\"finish_reason\":\"error\",\"usage\":{},\"error\":{\"status\":"
                            "\"rate_limited\",\"message\":\"openai: rate limited\",\"provider_status\":429,"
                            "\"provider_code\":\"rate_limit_exceeded\",\"provider_message\":\"Slow down "
                            "\\\"please\\\"\",\"retry_after_ms\":2000}}");
    llmux_response *dec = NULL;
    assert_int_equal(llmux_response_from_json(j1, strlen(j1), &dec, NULL), LLMUX_OK);
    assert_int_equal(dec->error.status, LLMUX_E_RATE_LIMITED);
    assert_int_equal(dec->error.provider_status, 429);
    assert_int_equal(dec->error.retry_after_ms, 2000);
    assert_string_equal(dec->error.provider_message, "Slow down \"please\"");
    char *j2 = llmux_response_to_json(dec);
    assert_string_equal(j1, j2);
    llmux_free(j1);
    llmux_free(j2);
    llmux_response_free(dec);
    llmux_response_free(r);
}

static const struct {
    const char *json;
    const char *message;
} k_bad_responses[] = {
    {"[1]", "response: must be a JSON object"},
    {"{\"finish_reason\":\"done\"}", "finish_reason: unknown finish reason \"done\""},
    {"{\"content\":[{\"type\":\"video\"}]}", "content[0].type: unknown part type \"video\""},
    {"{\"usage\":{\"input_tokens\":-1}}", "usage.input_tokens: must be an integer >= 0"},
    {"{\"usage\":{\"tokens\":1}}", "usage.tokens: unknown field"},
    {"{\"cost\":{\"input\":0,\"output\":0,\"cache_read\":0,\"cache_write\":0}}", "cost.total: missing"},
    {"{\"timing\":{\"ttft_ms\":-1}}", "timing.ttft_ms: must be a number >= 0"},
    {"{\"warnings\":[{\"code\":\"x\"}]}", "warnings[0].message: missing"},
    {"{\"error\":{\"status\":\"ok\",\"message\":\"\"}}", "error.status: must not be \"ok\" (omit \"error\" instead)"},
    {"{\"error\":{\"status\":\"bad\",\"message\":\"\"}}", "error.status: unknown status \"bad\""},
    {"{\"error\":{\"status\":\"network\",\"message\":\"x\",\"provider_status\":1000}}",
     "error.provider_status: must be an integer in [0, 999]"},
    {"{\"error\":{\"status\":\"network\"}}", "error.message: missing"},
    {"{\"ids\":\"x\"}", "ids: unknown field"},
};

static void test_response_decode_errors(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof k_bad_responses / sizeof k_bad_responses[0]; i++) {
        llmux_response *r = (llmux_response *)1;
        llmux_error_info err;
        llmux_status st = llmux_response_from_json(k_bad_responses[i].json, strlen(k_bad_responses[i].json), &r, &err);
        if (st != LLMUX_E_INVALID_REQUEST || strcmp(err.message, k_bad_responses[i].message) != 0)
            fail_msg("input %s: got %d %s, want %s", k_bad_responses[i].json, (int)st, err.message,
                     k_bad_responses[i].message);
        assert_null(r);
    }
}

/* Long upstream messages are cut to the fixed field on a character boundary. */
static void test_error_message_truncated(void **state) {
    (void)state;
    char json[2048];
    char msg[1100];
    for (int i = 0; i < 540; i++) memcpy(msg + 2 * i, "\xC3\xA9", 2); /* 1080 bytes of 'é' */
    msg[1080] = '\0';
    snprintf(json, sizeof json, "{\"error\":{\"status\":\"internal\",\"message\":\"%s\"}}", msg);
    llmux_response *r = NULL;
    assert_int_equal(llmux_response_from_json(json, strlen(json), &r, NULL), LLMUX_OK);
    assert_int_equal(strlen(r->error.message), 510);
    char *j1 = llmux_response_to_json(r);
    llmux_response *r2 = NULL;
    assert_int_equal(llmux_response_from_json(j1, strlen(j1), &r2, NULL), LLMUX_OK);
    char *j2 = llmux_response_to_json(r2);
    assert_string_equal(j1, j2);
    llmux_free(j1);
    llmux_free(j2);
    llmux_response_free(r);
    llmux_response_free(r2);
}

/* Only the provider's total is known: components are left out and decode back to NaN; a cost
 * without its total is refused. */
static void test_cost_total_only(void **state) {
    (void)state;
    const char *json = "{\"finish_reason\":\"stop\",\"cost\":{\"total\":0.00333825}}";
    llmux_response *r = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_response_from_json(json, strlen(json), &r, &err), LLMUX_OK);
    assert_true(r->cost.known);
    assert_true(r->cost.total == 0.00333825);
    assert_true(isnan(r->cost.input) && isnan(r->cost.output));
    assert_true(isnan(r->cost.cache_read) && isnan(r->cost.cache_write));
    char *back = llmux_response_to_json(r);
    assert_non_null(strstr(back, "\"cost\":{\"total\":0.00333825}"));
    llmux_free(back);
    llmux_response_free(r);
    const char *partial = "{\"cost\":{\"input\":0.1,\"total\":0.2}}";
    assert_int_equal(llmux_response_from_json(partial, strlen(partial), &r, &err), LLMUX_OK);
    assert_true(r->cost.input == 0.1 && isnan(r->cost.output));
    llmux_response_free(r);
    const char *bad = "{\"cost\":{\"input\":-0.1,\"total\":0.2}}";
    assert_int_equal(llmux_response_from_json(bad, strlen(bad), &r, &err), LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(err.message, "cost.input"));
}

static void expect_event(const llmux_event *ev, const char *want) {
    char *json = llmux_event_to_json(ev);
    assert_non_null(json);
    assert_string_equal(json, want);
    /* Every line is JSON on its own. */
    json_error_t e;
    json_t *v = json_loads(json, JSON_ALLOW_NUL, &e);
    if (!v) fail_msg("not JSON: %s (%s)", json, e.text);
    json_decref(v);
    llmux_free(json);
}

static void test_events(void **state) {
    (void)state;
    llmux_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_START;
    ev.id = "resp_1";
    ev.name = "qwen2.5-0.5b";
    ev.provider = "local";
    expect_event(&ev, "{\"type\":\"start\",\"id\":\"resp_1\",\"name\":\"qwen2.5-0.5b\",\"provider\":\"local\"}");

    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_TEXT_DELTA;
    ev.index = 0;
    ev.text = "Hi \"there\"\nXYZ";
    ev.text_len = 11; /* not NUL-terminated in general */
    expect_event(&ev, "{\"type\":\"text_delta\",\"index\":0,\"text\":\"Hi \\\"there\\\"\\n\"}");

    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_REASONING_DELTA;
    ev.index = 1;
    ev.text = "hmm";
    ev.text_len = 3;
    ev.signature = "EqQB";
    ev.redacted = true;
    expect_event(&ev,
                 "{\"type\":\"reasoning_delta\",\"index\":1,\"text\":\"hmm\",\"signature\":\"EqQB\",\"redacted\":true}");
    ev.text = NULL;
    ev.text_len = 0;
    ev.redacted = false;
    expect_event(&ev, "{\"type\":\"reasoning_delta\",\"index\":1,\"signature\":\"EqQB\"}");

    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_TOOL_CALL_START;
    ev.index = 2;
    ev.id = "call_1";
    ev.name = "get_weather";
    expect_event(&ev, "{\"type\":\"tool_call_start\",\"index\":2,\"id\":\"call_1\",\"name\":\"get_weather\"}");

    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_TOOL_CALL_DELTA;
    ev.index = 2;
    ev.text = "{\"city\":";
    ev.text_len = 8;
    expect_event(&ev, "{\"type\":\"tool_call_delta\",\"index\":2,\"text\":\"{\\\"city\\\":\"}");

    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_TOOL_CALL_END;
    ev.index = 4294967295u;
    expect_event(&ev, "{\"type\":\"tool_call_end\",\"index\":4294967295}");

    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_USAGE;
    ev.usage = llmux_usage_default();
    ev.usage.input_tokens = 10;
    ev.usage.reasoning_tokens = 0;
    expect_event(&ev, "{\"type\":\"usage\",\"usage\":{\"input_tokens\":10,\"reasoning_tokens\":0}}");
    ev.cost_known = true;
    ev.cost_usd = 0.000669;
    expect_event(&ev, "{\"type\":\"usage\",\"usage\":{\"input_tokens\":10,\"reasoning_tokens\":0},\"cost_usd\":0.000669}");

    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_FINISH;
    ev.finish_reason = LLMUX_FINISH_LENGTH;
    expect_event(&ev, "{\"type\":\"finish\",\"finish_reason\":\"length\"}");

    llmux_error_info e;
    memset(&e, 0, sizeof e);
    e.status = LLMUX_E_TIMEOUT;
    strcpy(e.message, "first byte timeout after 30000 ms");
    e.retry_after_ms = -1;
    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_ERROR;
    ev.error = &e;
    expect_event(&ev, "{\"type\":\"error\",\"error\":{\"status\":\"timeout\",\"message\":\"first byte timeout after "
                      "30000 ms\"}}");
    ev.error = NULL;
    expect_event(&ev, "{\"type\":\"error\",\"error\":{\"status\":\"internal\",\"message\":\"error event without "
                      "details\"}}");
}

/* Deltas can carry invalid UTF-8 (a provider bug, or bytes cut by someone else); jansson refuses
 * such strings, so each byte that starts no valid sequence becomes U+FFFD. */
static void test_invalid_utf8_replaced(void **state) {
    (void)state;
    static const char bytes[] = "a\xff" "b\xC3"      /* lone byte, truncated 2-byte sequence */
                                "\xC0\xAF"           /* overlong '/' */
                                "\xED\xA0\x80"       /* surrogate */
                                "\xF0\x9F\x98\x80"   /* valid emoji */
                                "\x01\x00z";         /* control and NUL */
    llmux_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = LLMUX_EVENT_TEXT_DELTA;
    ev.text = bytes;
    ev.text_len = sizeof bytes - 1;
    expect_event(&ev, "{\"type\":\"text_delta\",\"index\":0,\"text\":\"a\xEF\xBF\xBD" "b\xEF\xBF\xBD"
                      "\xEF\xBF\xBD\xEF\xBF\xBD"
                      "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                      "\xF0\x9F\x98\x80"
                      "\\u0001\\u0000z\"}");

    /* The same repair applies to request strings the caller built. */
    llmux_part p = {.type = LLMUX_PART_TEXT, .text = "x\x80y"};
    llmux_message m = {.role = LLMUX_ROLE_USER, .parts = &p, .n_parts = 1};
    llmux_request req = llmux_request_default();
    req.messages = &m;
    req.n_messages = 1;
    char *json = llmux_request_to_json(&req);
    assert_string_equal(json, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\xEF\xBF\xBDy\"}]}");
    llmux_request *dec = NULL;
    assert_int_equal(llmux_request_from_json(json, strlen(json), &dec, NULL), LLMUX_OK);
    assert_string_equal(dec->messages[0].parts[0].text, "x\xEF\xBF\xBDy");
    llmux_request_free(dec);
    llmux_free(json);
}

static void test_format_double(void **state) {
    (void)state;
    static const struct {
        double v;
        const char *s;
    } cases[] = {
        {0.0, "0.0"},       {-0.0, "-0.0"},         {1.0, "1.0"},         {0.7, "0.7"},
        {0.1 + 0.2, "0.30000000000000004"},         {1e-7, "1e-07"},      {123456789.0, "123456789.0"},
        {1e21, "1e+21"},    {830.0, "830.0"},       {1e16, "10000000000000000.0"}, {1.5e17, "1.5e+17"},    {-2.5, "-2.5"},         {5e-324, "5e-324"},   {1.7976931348623157e308, "1.7976931348623157e+308"},
    };
    char buf[40];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lx_json_format_double(buf, cases[i].v);
        assert_string_equal(buf, cases[i].s);
        assert_true(strtod(buf, NULL) == cases[i].v);
    }
    lx_jw w;
    lx_jw_init(&w);
    lx_jw_arr_begin(&w);
    lx_jw_real(&w, NAN);
    lx_jw_real(&w, INFINITY);
    lx_jw_int(&w, INT64_MIN);
    lx_jw_arr_end(&w);
    char *s = lx_jw_finish(&w);
    assert_string_equal(s, "[null,null,-9223372036854775808]");
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cost_total_only),
        cmocka_unit_test(test_builder_defaults),
        cmocka_unit_test(test_response_text),
        cmocka_unit_test(test_many_parts_and_warnings),
        cmocka_unit_test(test_response_exact_and_round_trip),
        cmocka_unit_test(test_error_response_round_trip),
        cmocka_unit_test(test_response_decode_errors),
        cmocka_unit_test(test_error_message_truncated),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_invalid_utf8_replaced),
        cmocka_unit_test(test_format_double),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
