/* The canonical reasoning and single-tool-call settings (llmux_request.reasoning_effort,
 * reasoning_budget, single_tool_call) in each adapter's body: OpenAI reasoning_effort and
 * parallel_tool_calls, Anthropic thinking (budget cut below max_tokens, none when there is no
 * room) and tool_choice.disable_parallel_tool_use, Gemini thinkingConfig, Ollama think; nothing
 * written when unset; provider_options still win. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/buf.h"
#include "providers/provider.h"
#include "providers/reasoning.h"
#include "providers/wire.h"

typedef struct fx {
    llmux_part part;
    llmux_message msg;
    llmux_tool tool;
    llmux_request req;
} fx;

static void fx_init(fx *f) {
    memset(f, 0, sizeof *f);
    f->part = (llmux_part){.type = LLMUX_PART_TEXT, .text = "Hi"};
    f->msg = (llmux_message){.role = LLMUX_ROLE_USER, .parts = &f->part, .n_parts = 1};
    f->tool = (llmux_tool){.name = "lookup"};
    f->req = llmux_request_default();
    f->req.messages = &f->msg;
    f->req.n_messages = 1;
}

/* req encoded by provider p (configured as name, model), as JSON. */
static json_t *body(const lx_provider *p, const char *name, const char *model, const llmux_request *req) {
    lx_provider_config cfg = {.name = name, .base_url = "http://127.0.0.1:9/v1", .api_key = "k", .model = model};
    lx_wire_request w;
    memset(&w, 0, sizeof w);
    lx_buf_init(&w.body, 1u << 20);
    llmux_error_info err;
    if (p->encode(&cfg, req, &w, &err) != LLMUX_OK) fail_msg("%s: encode: %s", name, err.message);
    json_t *j = json_loadb(w.body.data, w.body.len, 0, NULL);
    assert_non_null(j);
    lx_buf_free(&w.body);
    return j;
}

static json_t *openai(const llmux_request *r) { return body(&lx_provider_openai, "openai", "o4-mini", r); }
static json_t *anthropic(const llmux_request *r) { return body(&lx_provider_anthropic, "anthropic", "claude-sonnet-4-5", r); }
static json_t *gemini(const llmux_request *r) { return body(&lx_provider_gemini, "gemini", "gemini-2.5-flash", r); }
static json_t *ollama(const llmux_request *r) { return body(&lx_provider_ollama, "ollama", "qwen3", r); }

static json_int_t int_at(const json_t *j, const char *a, const char *b) {
    const json_t *v = json_object_get(json_object_get(j, a), b);
    if (!json_is_integer(v)) fail_msg("%s.%s is not an integer", a, b);
    return json_integer_value(v);
}

static void test_mapping_helpers(void **state) {
    (void)state;
    fx f;
    fx_init(&f);
    assert_int_equal(lx_reasoning_budget(&f.req), -1);
    assert_null(lx_reasoning_effort_text(&f.req));
    const struct {
        llmux_reasoning_effort e;
        int64_t budget;
        const char *text;
    } efforts[] = {{LLMUX_REASONING_NONE, 0, "minimal"},
                   {LLMUX_REASONING_LOW, 1024, "low"},
                   {LLMUX_REASONING_MEDIUM, 2048, "medium"},
                   {LLMUX_REASONING_HIGH, 4096, "high"}};
    for (size_t i = 0; i < 4; i++) {
        f.req.reasoning_effort = efforts[i].e;
        assert_int_equal(lx_reasoning_budget(&f.req), efforts[i].budget);
        assert_string_equal(lx_reasoning_effort_text(&f.req), efforts[i].text);
    }
    /* A budget wins for budget-taking providers; with no effort it names the nearest effort. */
    f.req.reasoning_effort = LLMUX_REASONING_LOW;
    f.req.reasoning_budget = 10000;
    assert_int_equal(lx_reasoning_budget(&f.req), 10000);
    assert_string_equal(lx_reasoning_effort_text(&f.req), "low");
    f.req.reasoning_effort = LLMUX_REASONING_DEFAULT;
    const struct {
        int32_t budget;
        const char *text;
    } budgets[] = {{1, "low"}, {1024, "low"}, {1025, "medium"}, {2048, "medium"}, {2049, "high"}, {60000, "high"}};
    for (size_t i = 0; i < sizeof budgets / sizeof budgets[0]; i++) {
        f.req.reasoning_budget = budgets[i].budget;
        assert_string_equal(lx_reasoning_effort_text(&f.req), budgets[i].text);
    }
}

static void test_unset_writes_nothing(void **state) {
    (void)state;
    fx f;
    fx_init(&f);
    f.req.tools = &f.tool;
    f.req.n_tools = 1;
    json_t *j = openai(&f.req);
    assert_null(json_object_get(j, "reasoning_effort"));
    assert_null(json_object_get(j, "parallel_tool_calls"));
    json_decref(j);
    j = anthropic(&f.req);
    assert_null(json_object_get(j, "thinking"));
    assert_null(json_object_get(j, "tool_choice"));
    json_decref(j);
    j = gemini(&f.req);
    assert_null(json_object_get(json_object_get(j, "generationConfig"), "thinkingConfig"));
    json_decref(j);
    j = ollama(&f.req);
    assert_null(json_object_get(j, "think"));
    json_decref(j);
}

static void test_effort_and_budget(void **state) {
    (void)state;
    fx f;
    fx_init(&f);
    f.req.reasoning_effort = LLMUX_REASONING_HIGH;
    json_t *j = openai(&f.req);
    assert_string_equal(json_string_value(json_object_get(j, "reasoning_effort")), "high");
    json_decref(j);
    j = anthropic(&f.req);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "thinking"), "type")), "enabled");
    assert_int_equal(int_at(j, "thinking", "budget_tokens"), 4096);
    /* max_tokens unset: the default answer room on top of the budget. */
    assert_int_equal(json_integer_value(json_object_get(j, "max_tokens")), 4096 + 4096);
    json_decref(j);
    j = gemini(&f.req);
    json_t *tc = json_object_get(json_object_get(j, "generationConfig"), "thinkingConfig");
    assert_int_equal(json_integer_value(json_object_get(tc, "thinkingBudget")), 4096);
    assert_true(json_is_true(json_object_get(tc, "includeThoughts")));
    json_decref(j);
    j = ollama(&f.req);
    assert_true(json_is_true(json_object_get(j, "think")));
    json_decref(j);

    /* NONE: off everywhere it can be turned off. */
    f.req.reasoning_effort = LLMUX_REASONING_NONE;
    j = openai(&f.req);
    assert_string_equal(json_string_value(json_object_get(j, "reasoning_effort")), "minimal");
    json_decref(j);
    j = anthropic(&f.req);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "thinking"), "type")), "disabled");
    assert_null(json_object_get(json_object_get(j, "thinking"), "budget_tokens"));
    json_decref(j);
    j = gemini(&f.req);
    tc = json_object_get(json_object_get(j, "generationConfig"), "thinkingConfig");
    assert_int_equal(json_integer_value(json_object_get(tc, "thinkingBudget")), 0);
    assert_null(json_object_get(tc, "includeThoughts"));
    json_decref(j);
    j = ollama(&f.req);
    assert_true(json_is_false(json_object_get(j, "think")));
    json_decref(j);
}

/* Anthropic: budget_tokens must be >= 1024 and below max_tokens (which counts the thinking). */
static void test_anthropic_budget_fits_max_tokens(void **state) {
    (void)state;
    fx f;
    fx_init(&f);
    f.req.reasoning_budget = 8000;
    f.req.sampling.max_tokens = 3000;
    json_t *j = anthropic(&f.req);
    assert_int_equal(int_at(j, "thinking", "budget_tokens"), 2999);
    assert_int_equal(json_integer_value(json_object_get(j, "max_tokens")), 3000);
    json_decref(j);
    f.req.reasoning_budget = 100; /* below Anthropic's minimum: raised to it */
    j = anthropic(&f.req);
    assert_int_equal(int_at(j, "thinking", "budget_tokens"), 1024);
    json_decref(j);
    f.req.sampling.max_tokens = 1024; /* no room to think: no thinking asked for */
    j = anthropic(&f.req);
    assert_null(json_object_get(j, "thinking"));
    json_decref(j);
    /* provider_options.anthropic.thinking is merged last and wins. */
    f.req.sampling.max_tokens = 20000;
    f.req.provider_options = "{\"anthropic\":{\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":5000}}}";
    j = anthropic(&f.req);
    assert_int_equal(int_at(j, "thinking", "budget_tokens"), 5000);
    json_decref(j);
}

static void test_single_tool_call(void **state) {
    (void)state;
    fx f;
    fx_init(&f);
    f.req.single_tool_call = true;
    /* Without tools it says nothing (OpenAI refuses parallel_tool_calls without tools). */
    json_t *j = openai(&f.req);
    assert_null(json_object_get(j, "parallel_tool_calls"));
    json_decref(j);
    j = anthropic(&f.req);
    assert_null(json_object_get(j, "tool_choice"));
    json_decref(j);
    f.req.tools = &f.tool;
    f.req.n_tools = 1;
    j = openai(&f.req);
    assert_true(json_is_false(json_object_get(j, "parallel_tool_calls")));
    json_decref(j);
    j = anthropic(&f.req); /* auto made explicit to carry the flag */
    json_t *tc = json_object_get(j, "tool_choice");
    assert_string_equal(json_string_value(json_object_get(tc, "type")), "auto");
    assert_true(json_is_true(json_object_get(tc, "disable_parallel_tool_use")));
    json_decref(j);
    f.req.tool_choice = LLMUX_TOOL_CHOICE_REQUIRED;
    j = anthropic(&f.req);
    tc = json_object_get(j, "tool_choice");
    assert_string_equal(json_string_value(json_object_get(tc, "type")), "any");
    assert_true(json_is_true(json_object_get(tc, "disable_parallel_tool_use")));
    json_decref(j);
    f.req.tool_choice = LLMUX_TOOL_CHOICE_NONE; /* no calls at all: the flag means nothing */
    j = anthropic(&f.req);
    tc = json_object_get(j, "tool_choice");
    assert_string_equal(json_string_value(json_object_get(tc, "type")), "none");
    assert_null(json_object_get(tc, "disable_parallel_tool_use"));
    json_decref(j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mapping_helpers),
        cmocka_unit_test(test_unset_writes_nothing),
        cmocka_unit_test(test_effort_and_budget),
        cmocka_unit_test(test_anthropic_budget_fits_max_tokens),
        cmocka_unit_test(test_single_tool_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
