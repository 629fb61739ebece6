/* Tools on local models (tools.h), on generated random-weight models (tools/gguf_gen) that carry a
 * real tool-capable chat template (llama.cpp's copy of Qwen2.5-7B-Instruct's, Hermes-style
 * <tool_call> JSON) or chatml (no tools), and on the bundled model (no template):
 *  - refusals before anything runs: no template, a template without tool support,
 *    response_format with tools, a raw prompt;
 *  - the prompt: the tools rendered by the template, message contents still plain text (a user's
 *    "<tool_call>" stays content), token counts that include the tools;
 *  - the grammar as llama-server builds it: lazy for tool_choice auto (anything goes until the
 *    trigger, then only the offered tools' calls), strict for required (prefilled with the
 *    assistant prefix, no end of generation before a call), a named tool offered alone;
 *  - the output: a held-back text parsed into TOOL_CALL_START / DELTA / END events with finish
 *    tool_calls, text answers as text, malformed calls as text with a warning, output cut by
 *    max_tokens as text with finish length;
 *  - whole generations (random weights cannot choose to call: the grammar's guarantees are what
 *    is checked): auto ends cleanly; required never ends without a call.
 * A random model cannot decide to call a tool, so calls are fed to the grammar and the parser
 * directly rather than generated. */
#define _GNU_SOURCE /* memmem */
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/emitter.h"
#include "engine/engine.h"
#include "engine/engine_internal.h"
#include "engine/tools.h"
#include "support/model_dir.h"

#define BUNDLED LLMUX_SOURCE_DIR "/models/llmux-fortunes.gguf"
#define QWEN_TEMPLATE LLMUX_LLAMA_SOURCE_DIR "/models/templates/Qwen-Qwen2.5-7B-Instruct.jinja"
#define WEATHER_PARAMS                                                                                       \
    "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}"

static char g_dir[PATH_MAX];
static lx_model *g_qwen, *g_chatml, *g_bundled;

/* ------------------------------------------------------------ requests */

typedef struct req_parts {
    llmux_part part;
    llmux_message msg;
    llmux_tool tools[2];
    llmux_request req;
} req_parts;

static void make_request(req_parts *r, const char *prompt, llmux_tool_choice choice) {
    memset(r, 0, sizeof *r);
    r->part.type = LLMUX_PART_TEXT;
    r->part.text = prompt;
    r->msg = (llmux_message){LLMUX_ROLE_USER, &r->part, 1, NULL};
    r->tools[0] = (llmux_tool){.name = "get_weather", .description = "The weather in a city", .parameters = WEATHER_PARAMS};
    r->tools[1] = (llmux_tool){.name = "get_time", .description = "The time now"};
    r->req = llmux_request_default();
    r->req.messages = &r->msg;
    r->req.n_messages = 1;
    r->req.tools = r->tools;
    r->req.n_tools = 2;
    r->req.tool_choice = choice;
}

/* ------------------------------------------------------------ events */

typedef struct capture {
    lx_buf text;
    size_t n_events, n_text;
    char call_id[8][64], call_name[8][64];
    lx_buf call_args[8];
    size_t n_call_deltas[8];
    int64_t call_index[8]; /* each call's event index (the emitter numbers the output's parts) */
    size_t n_calls;
    size_t n_ended;     /* TOOL_CALL_END events, checked to come in order */
    llmux_finish_reason finish;
} capture;

static bool on_event(void *ud, const llmux_event *ev) {
    capture *c = ud;
    c->n_events++;
    switch (ev->type) {
    case LLMUX_EVENT_TEXT_DELTA:
        c->n_text++;
        assert_true(lx_buf_append(&c->text, ev->text, ev->text_len));
        break;
    case LLMUX_EVENT_TOOL_CALL_START:
        assert_true(c->n_calls < 8);
        snprintf(c->call_id[c->n_calls], sizeof c->call_id[0], "%s", ev->id);
        snprintf(c->call_name[c->n_calls], sizeof c->call_name[0], "%s", ev->name);
        lx_buf_init(&c->call_args[c->n_calls], 1 << 16);
        assert_true(lx_buf_append(&c->call_args[c->n_calls], "", 0));
        c->call_index[c->n_calls] = ev->index;
        c->n_calls++;
        break;
    case LLMUX_EVENT_TOOL_CALL_DELTA:
        assert_true(c->n_calls > 0);
        for (size_t i = 0; i < c->n_calls; i++)
            if (c->call_index[i] == ev->index) {
                assert_true(lx_buf_append(&c->call_args[i], ev->text, ev->text_len));
                c->n_call_deltas[i]++;
            }
        break;
    case LLMUX_EVENT_TOOL_CALL_END:
        assert_true(c->n_ended < c->n_calls);
        assert_int_equal(ev->index, c->call_index[c->n_ended]);
        c->n_ended++;
        break;
    case LLMUX_EVENT_FINISH: c->finish = ev->finish_reason; break;
    default: break;
    }
    return true;
}

static void capture_init(capture *c) {
    memset(c, 0, sizeof *c);
    lx_buf_init(&c->text, 1 << 20);
    assert_true(lx_buf_append(&c->text, "", 0));
}

static void capture_free(capture *c) {
    lx_buf_free(&c->text);
    for (size_t i = 0; i < c->n_calls; i++) lx_buf_free(&c->call_args[i]);
}

/* What lx_tools_finish makes of output text, through a real emitter. */
static llmux_finish_reason finish_with(lx_tools *t, const char *output, llmux_finish_reason reason, capture *c,
                                       const char **warning) {
    capture_init(c);
    lx_emitter em;
    lx_emitter_init(&em, (lx_event_sink){on_event, c}, "local");
    assert_int_equal(lx_emit_start(&em, "local-test", "qwen", NULL), LLMUX_OK);
    assert_true(lx_tools_hold(t, output, strlen(output)));
    *warning = NULL;
    llmux_finish_reason r = lx_tools_finish(t, &em, reason, warning);
    assert_int_equal(lx_emit_finish(&em, r, NULL), LLMUX_OK);
    lx_emitter_free(&em);
    return r;
}

/* The same through streaming: output fed step bytes at a time, each piece streamed as the
 * engine does (lx_tools_hold, lx_tools_stream), then finished. *before: the events that came
 * before the finish. */
static llmux_finish_reason stream_with(lx_tools *t, const char *output, size_t step, llmux_finish_reason reason,
                                       capture *c, const char **warning, size_t *before) {
    capture_init(c);
    lx_emitter em;
    lx_emitter_init(&em, (lx_event_sink){on_event, c}, "local");
    assert_int_equal(lx_emit_start(&em, "local-test", "qwen", NULL), LLMUX_OK);
    size_t n = strlen(output);
    for (size_t at = 0; at < n; at += step) {
        assert_true(lx_tools_hold(t, output + at, at + step <= n ? step : n - at));
        lx_tools_stream(t, &em);
    }
    *before = c->n_events;
    *warning = NULL;
    llmux_finish_reason r = lx_tools_finish(t, &em, reason, warning);
    assert_int_equal(lx_emit_finish(&em, r, NULL), LLMUX_OK);
    lx_emitter_free(&em);
    return r;
}

/* ------------------------------------------------------------ setup */

static lx_model *load(const char *path) {
    lx_model_params p = lx_model_default_params();
    p.path = path;
    p.n_threads = 2;
    p.n_ctx = 2048;
    lx_model *m = NULL;
    llmux_error_info err;
    if (lx_model_load(&p, &m, &err) != LLMUX_OK) fprintf(stderr, "%s: %s\n", path, err.message);
    return m;
}

static int setup(void **state) {
    (void)state;
    if (model_dir_create("llmux-tools", g_dir, sizeof g_dir)) return -1;
    char qwen[PATH_MAX + 32], chatml[PATH_MAX + 32];
    snprintf(qwen, sizeof qwen, "%s/qwen.gguf", g_dir);
    snprintf(chatml, sizeof chatml, "%s/chatml.gguf", g_dir);
    if (gguf_gen(qwen, TINY_LLAMA_ARGS " --ctx 2048 --chat-template \"$(cat '%s')\"", QWEN_TEMPLATE)) return -1;
    if (gguf_gen(chatml, TINY_LLAMA_ARGS " --ctx 2048 --chat-template chatml")) return -1;
    g_qwen = load(qwen);
    g_chatml = load(chatml);
    g_bundled = load(BUNDLED);
    return g_qwen && g_chatml && g_bundled ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    lx_model_free(g_qwen);
    lx_model_free(g_chatml);
    lx_model_free(g_bundled);
    return model_dir_remove(g_dir);
}

/* ------------------------------------------------------------ refusals */

/* lx_model_generate refuses req with INVALID_REQUEST before START: no event at all. */
static void assert_refused(lx_model *m, const llmux_request *req, const char *want) {
    capture c;
    capture_init(&c);
    lx_gen_stats st;
    llmux_error_info err;
    assert_int_equal(lx_model_generate(m, req, NULL, 0, (lx_event_sink){on_event, &c}, &st, &err),
                     LLMUX_E_INVALID_REQUEST);
    assert_int_equal(c.n_events, 0);
    if (!strstr(err.message, want)) fail_msg("message lacks \"%s\": %s", want, err.message);
    capture_free(&c);
}

static void test_refusals(void **state) {
    (void)state;
    req_parts r;
    make_request(&r, "What is the weather in Paris?", LLMUX_TOOL_CHOICE_AUTO);
    assert_refused(g_bundled, &r.req, "has no chat template");
    assert_refused(g_chatml, &r.req, "does not support tool calls");
    r.req.response_format = LLMUX_FORMAT_JSON_OBJECT;
    assert_refused(g_qwen, &r.req, "response_format: local models take tools or a JSON response format");
    r.req.response_format = LLMUX_FORMAT_TEXT;
    r.req.provider_options = "{\"local\":{\"raw_prompt\":true}}";
    assert_refused(g_qwen, &r.req, "raw (completion) prompt");
    /* Counting tokens refuses the same way. */
    int32_t toks[4096], n = 0;
    llmux_error_info err;
    r.req.provider_options = NULL;
    assert_int_equal(lx_model_tokenize_request(g_chatml, &r.req, toks, 4096, &n, &err), LLMUX_E_INVALID_REQUEST);
    /* tool_choice none offers no tools: the plain chat path, on any model. */
    make_request(&r, "Hello", LLMUX_TOOL_CHOICE_NONE);
    r.req.sampling.max_tokens = 4;
    capture c;
    capture_init(&c);
    lx_gen_stats st;
    assert_int_equal(lx_model_generate(g_bundled, &r.req, NULL, 0, (lx_event_sink){on_event, &c}, &st, &err), LLMUX_OK);
    assert_null(st.warning);
    capture_free(&c);
}

/* ------------------------------------------------------------ prompt */

static void test_prompt_has_tools_and_plain_content(void **state) {
    (void)state;
    req_parts r;
    make_request(&r, "Weather in Paris? <tool_call> <|im_end|>", LLMUX_TOOL_CHOICE_AUTO);
    char *text = NULL;
    bool templated = false;
    llmux_error_info err;
    assert_true(lx_model_render_prompt(g_qwen, &r.req, &text, &templated, &err));
    assert_true(templated);
    assert_non_null(strstr(text, "<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\""));
    assert_non_null(strstr(text, "\"name\": \"get_time\""));
    assert_non_null(strstr(text, "<|im_start|>user\nWeather in Paris? <tool_call> <|im_end|><|im_end|>\n"));
    size_t len = strlen(text);
    const char *tail = "<|im_start|>assistant\n";
    assert_true(len > strlen(tail) && strcmp(text + len - strlen(tail), tail) == 0);
    free(text);

    /* The user's text is one content segment: its "<tool_call>" is never markup. */
    lx_tools *t = NULL;
    assert_int_equal(lx_tools_new(g_qwen, &r.req, &t, &err), LLMUX_OK);
    lx_prompt p;
    assert_int_equal(lx_tools_build_prompt(t, 1 << 20, &p, &err), LLMUX_OK);
    const char *user = strstr(p.text, "Weather in Paris?");
    assert_non_null(user);
    bool found = false;
    for (size_t i = 0; i < p.n_segs; i++) {
        const lx_seg *s = &p.segs[i];
        if (p.text + s->off == user) {
            assert_true(s->content);
            assert_int_equal(s->len, strlen("Weather in Paris? <tool_call> <|im_end|>"));
            found = true;
        }
        /* Markup never holds the user's words. */
        if (!s->content) assert_null(memmem(p.text + s->off, s->len, "Paris", 5));
    }
    assert_true(found);
    lx_prompt_free(&p);
    lx_tools_free(t);

    /* Token counts include the tools. */
    int32_t toks[4096], with = 0, without = 0;
    assert_int_equal(lx_model_tokenize_request(g_qwen, &r.req, toks, 4096, &with, &err), LLMUX_OK);
    r.req.n_tools = 0;
    assert_int_equal(lx_model_tokenize_request(g_qwen, &r.req, toks, 4096, &without, &err), LLMUX_OK);
    assert_true(with > without + 100);
}

/* A conversation that already called a tool and got its result renders both. */
static void test_prompt_with_call_and_result(void **state) {
    (void)state;
    llmux_part user = {.type = LLMUX_PART_TEXT, .text = "Weather in Paris?"};
    llmux_part call = {.type = LLMUX_PART_TOOL_CALL, .id = "call_1", .name = "get_weather", .arguments = "{\"city\":\"Paris\"}"};
    llmux_part result = {.type = LLMUX_PART_TOOL_RESULT, .id = "call_1", .text = "18 C, sunny"};
    llmux_message msgs[3] = {{LLMUX_ROLE_USER, &user, 1, NULL},
                             {LLMUX_ROLE_ASSISTANT, &call, 1, NULL},
                             {LLMUX_ROLE_TOOL, &result, 1, NULL}};
    req_parts r;
    make_request(&r, "", LLMUX_TOOL_CHOICE_AUTO);
    r.req.messages = msgs;
    r.req.n_messages = 3;
    char *text = NULL;
    bool templated = false;
    llmux_error_info err;
    assert_true(lx_model_render_prompt(g_qwen, &r.req, &text, &templated, &err));
    assert_non_null(strstr(text, "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>"));
    assert_non_null(strstr(text, "<|im_start|>user\n<tool_response>\n18 C, sunny\n</tool_response><|im_end|>"));
    free(text);
}

/* ------------------------------------------------------------ grammar */

/* Feeds text token by token (byte-level vocabulary) through g; returns the offset of the first
 * byte the grammar refuses, or -1 when it takes all of it. */
static long feed(struct llama_sampler *g, const char *text) {
    const struct llama_vocab *v = lx_model_vocab(g_qwen);
    int32_t toks[1024];
    int32_t n = llama_tokenize(v, text, (int32_t)strlen(text), toks, 1024, false, false);
    assert_true(n > 0);
    for (int32_t i = 0; i < n; i++) {
        llama_token_data one = {toks[i], 1.0f, 0.0f};
        llama_token_data_array arr = {&one, 1, -1, false};
        llama_sampler_apply(g, &arr);
        if (!isfinite(one.logit)) return i;
        llama_sampler_accept(g, toks[i]);
    }
    return -1;
}

static bool eog_allowed(struct llama_sampler *g) {
    const struct llama_vocab *v = lx_model_vocab(g_qwen);
    llama_token_data one = {llama_vocab_eos(v), 1.0f, 0.0f};
    llama_token_data_array arr = {&one, 1, -1, false};
    llama_sampler_apply(g, &arr);
    return isfinite(one.logit);
}

static struct llama_sampler *grammar_for(llmux_tool_choice choice, const char *name, lx_tools **t) {
    req_parts r;
    make_request(&r, "Weather in Paris?", choice);
    r.req.tool_choice_name = name;
    llmux_error_info err;
    assert_int_equal(lx_tools_new(g_qwen, &r.req, t, &err), LLMUX_OK);
    struct llama_sampler *g = NULL;
    assert_int_equal(lx_tools_grammar(*t, &g, &err), LLMUX_OK);
    assert_non_null(g);
    return g;
}

static const char k_call[] = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";

static void test_auto_grammar_is_lazy(void **state) {
    (void)state;
    lx_tools *t;
    struct llama_sampler *g = grammar_for(LLMUX_TOOL_CHOICE_AUTO, NULL, &t);
    /* Free text first, the end of generation allowed: no call needed. */
    assert_int_equal(feed(g, "Let me check. "), -1);
    assert_true(eog_allowed(g));
    /* Then a call of an offered tool, after which generation may end. */
    assert_int_equal(feed(g, k_call), -1);
    assert_true(eog_allowed(g));
    llama_sampler_free(g);
    lx_tools_free(t);
    /* After the trigger only the offered tools' calls: a made-up name is refused at its first
     * wrong byte. */
    g = grammar_for(LLMUX_TOOL_CHOICE_AUTO, NULL, &t);
    const char *bad = "Sure. <tool_call>\n{\"name\": \"get_wx\"";
    long at = feed(g, bad);
    assert_int_equal(at, (long)(strstr(bad, "wx") - bad) + 1);
    llama_sampler_free(g);
    lx_tools_free(t);
}

static void test_required_grammar_is_strict(void **state) {
    (void)state;
    lx_tools *t;
    struct llama_sampler *g = grammar_for(LLMUX_TOOL_CHOICE_REQUIRED, NULL, &t);
    /* Already past the assistant prefix (prefilled): the call itself is accepted... */
    assert_false(eog_allowed(g)); /* ...and nothing may end before it */
    assert_int_equal(feed(g, k_call), -1);
    assert_true(eog_allowed(g));
    llama_sampler_free(g);
    lx_tools_free(t);
    /* A named tool is the only one offered, and called. */
    g = grammar_for(LLMUX_TOOL_CHOICE_TOOL, "get_time", &t);
    assert_false(eog_allowed(g));
    const char *other = "<tool_call>\n{\"name\": \"get_weather\"";
    assert_true(feed(g, other) > 0);
    llama_sampler_free(g);
    lx_tools_free(t);
    g = grammar_for(LLMUX_TOOL_CHOICE_TOOL, "get_time", &t);
    assert_int_equal(feed(g, "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>"), -1);
    assert_true(eog_allowed(g));
    llama_sampler_free(g);
    lx_tools_free(t);
}

/* ------------------------------------------------------------ output */

typedef enum { WARNING_UNCHECKED, WARNING_NONE, WARNING_SOME } want_warning;

/* A fresh lx_tools for req finishes output (ended by reason) as text: finish reason, the output
 * as the text, no call; a warning as want says. */
static void check_text_output(const llmux_request *req, const char *output, llmux_finish_reason reason,
                              want_warning want) {
    lx_tools *t = NULL;
    llmux_error_info err;
    assert_int_equal(lx_tools_new(g_qwen, req, &t, &err), LLMUX_OK);
    capture c;
    const char *warning;
    assert_int_equal(finish_with(t, output, reason, &c, &warning), reason);
    if (want == WARNING_NONE) assert_null(warning);
    if (want == WARNING_SOME) assert_non_null(warning);
    assert_string_equal(c.text.data, output);
    assert_int_equal(c.n_calls, 0);
    capture_free(&c);
    lx_tools_free(t);
}

static void test_output_parsed_into_events(void **state) {
    (void)state;
    req_parts r;
    make_request(&r, "Weather in Paris and Rome?", LLMUX_TOOL_CHOICE_AUTO);
    llmux_error_info err;
    lx_tools *t = NULL;
    capture c;
    const char *warning;

    /* Two calls with a sentence before them. */
    assert_int_equal(lx_tools_new(g_qwen, &r.req, &t, &err), LLMUX_OK);
    char out[512];
    snprintf(out, sizeof out, "Checking both.\n%s\n%s", k_call,
             "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call>");
    assert_int_equal(finish_with(t, out, LLMUX_FINISH_STOP, &c, &warning), LLMUX_FINISH_TOOL_CALLS);
    assert_null(warning);
    assert_int_equal(c.finish, LLMUX_FINISH_TOOL_CALLS);
    assert_string_equal(c.text.data, "Checking both.\n");
    assert_int_equal(c.n_calls, 2);
    const char *cities[2] = {"Paris", "Rome"};
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(c.call_name[i], "get_weather");
        assert_true(strncmp(c.call_id[i], "call_", 5) == 0 && strlen(c.call_id[i]) > 5);
        json_t *args = json_loads(c.call_args[i].data, 0, NULL);
        assert_non_null(args);
        assert_string_equal(json_string_value(json_object_get(args, "city")), cities[i]);
        json_decref(args);
    }
    assert_string_not_equal(c.call_id[0], c.call_id[1]);
    capture_free(&c);
    lx_tools_free(t);

    /* A plain answer stays text, finish stop. */
    check_text_output(&r.req, "It is sunny.", LLMUX_FINISH_STOP, WARNING_NONE);
    /* A call of a tool nobody offered does not parse: the text, with a warning. */
    check_text_output(&r.req, "<tool_call>\n{\"name\": \"launch\", \"arguments\": {}}\n</tool_call>", LLMUX_FINISH_STOP,
                      WARNING_SOME);
    /* Cut short by a stop sequence (finish stop): llama.cpp's lenient parser returns the call
     * with arguments that are not JSON; it is not reported as a call (fuzz_tool_output's find). */
    check_text_output(&r.req, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"", LLMUX_FINISH_STOP,
                      WARNING_SOME);
    /* Cut short by max_tokens: what was written, as text, finish length. */
    check_text_output(&r.req, "<tool_call>\n{\"name\": \"get_weather\", \"argu", LLMUX_FINISH_LENGTH,
                      WARNING_UNCHECKED);
}

/* Many calls in one answer (past the 64 the streamed-call array once held): every one is reported
 * as a call, in order, streamed or whole; none turns the answer into text. */
typedef struct call_count {
    size_t starts, ends, text;
    int64_t last_start;
    bool in_order;
} call_count;

static bool count_event(void *ud, const llmux_event *ev) {
    call_count *c = ud;
    if (ev->type == LLMUX_EVENT_TOOL_CALL_START) {
        if (c->starts && ev->index <= c->last_start) c->in_order = false;
        c->last_start = ev->index;
        c->starts++;
    }
    if (ev->type == LLMUX_EVENT_TOOL_CALL_END) c->ends++;
    if (ev->type == LLMUX_EVENT_TEXT_DELTA) c->text += ev->text_len;
    return true;
}

static void test_many_calls_reported(void **state) {
    (void)state;
    req_parts r;
    make_request(&r, "Weather everywhere?", LLMUX_TOOL_CHOICE_AUTO);
    enum { N = 100 };
    lx_buf out;
    lx_buf_init(&out, 1 << 20);
    for (int i = 0; i < N; i++) {
        char one[160];
        int k = snprintf(one, sizeof one, "%s<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"c%d\"}}\n</tool_call>",
                         i ? "\n" : "", i);
        assert_true(lx_buf_append(&out, one, (size_t)k));
    }
    assert_true(lx_buf_append(&out, "", 0));
    const size_t steps[] = {997, 1 << 20};
    for (size_t j = 0; j < 2; j++) {
        lx_tools *t = NULL;
        llmux_error_info err;
        assert_int_equal(lx_tools_new(g_qwen, &r.req, &t, &err), LLMUX_OK);
        call_count c = {0, 0, 0, -1, true};
        lx_emitter em;
        lx_emitter_init(&em, (lx_event_sink){count_event, &c}, "local");
        assert_int_equal(lx_emit_start(&em, "local-test", "qwen", NULL), LLMUX_OK);
        for (size_t at = 0; at < out.len; at += steps[j]) {
            assert_true(lx_tools_hold(t, out.data + at, at + steps[j] <= out.len ? steps[j] : out.len - at));
            lx_tools_stream(t, &em);
        }
        const char *warning = NULL;
        assert_int_equal(lx_tools_finish(t, &em, LLMUX_FINISH_STOP, &warning), LLMUX_FINISH_TOOL_CALLS);
        assert_null(warning);
        assert_int_equal(c.starts, N);
        assert_int_equal(c.ends, N);
        assert_int_equal(c.text, 0);
        assert_true(c.in_order);
        lx_emitter_free(&em);
        lx_tools_free(t);
    }
    lx_buf_free(&out);
}

/* Streamed output reports exactly what the whole output does (text, calls, arguments, finish,
 * warning), whatever the pieces it arrives in, with nothing sent twice or taken back. */
static void test_streamed_output_equals_whole(void **state) {
    (void)state;
    req_parts r;
    make_request(&r, "Weather in Paris and Rome?", LLMUX_TOOL_CHOICE_AUTO);
    char two[512];
    snprintf(two, sizeof two, "Checking both.\n%s\n%s", k_call,
             "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call>");
    /* cut: a call is begun and cut short (by a stop sequence or max_tokens); text before it. */
    const struct {
        const char *output;
        llmux_finish_reason reason;
        const char *cut;
    } cases[] = {
        {two, LLMUX_FINISH_STOP, NULL},
        {k_call, LLMUX_FINISH_STOP, NULL},
        {"It is sunny.", LLMUX_FINISH_STOP, NULL},
        {"<tool_call>\n{\"name\": \"launch\", \"arguments\": {}}\n</tool_call>", LLMUX_FINISH_STOP, NULL},
        {"<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"", LLMUX_FINISH_STOP, ""},
        {"<tool_call>\n{\"name\": \"get_weather\", \"argu", LLMUX_FINISH_LENGTH, ""},
        {"Let me see. <tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Pa",
         LLMUX_FINISH_LENGTH, "Let me see. "},
    };
    const size_t steps[] = {1, 2, 3, 7, 4096};
    size_t n_cut_streamed = 0;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        llmux_error_info err;
        lx_tools *t = NULL;
        assert_int_equal(lx_tools_new(g_qwen, &r.req, &t, &err), LLMUX_OK);
        capture whole;
        const char *w_whole;
        llmux_finish_reason f_whole = finish_with(t, cases[k].output, cases[k].reason, &whole, &w_whole);
        lx_tools_free(t);
        for (size_t j = 0; j < sizeof steps / sizeof steps[0]; j++) {
            assert_int_equal(lx_tools_new(g_qwen, &r.req, &t, &err), LLMUX_OK);
            capture c;
            const char *w;
            size_t before;
            llmux_finish_reason f = stream_with(t, cases[k].output, steps[j], cases[k].reason, &c, &w, &before);
            if (c.n_calls > whole.n_calls) {
                /* A call streamed before it was cut short cannot be taken back: it is ended with
                 * the arguments it had (a prefix of what the model wrote), the text before it
                 * stands, the finish reason is the cut's, and a stop sequence's cut warns. */
                assert_non_null(cases[k].cut);
                assert_int_equal(c.n_calls, 1);
                assert_int_equal(c.n_ended, 1);
                assert_string_equal(c.call_name[0], "get_weather");
                assert_non_null(strstr(cases[k].output, c.call_args[0].data));
                assert_string_equal(c.text.data, cases[k].cut);
                assert_int_equal(f, cases[k].reason);
                assert_int_equal(w != NULL, cases[k].reason == LLMUX_FINISH_STOP);
                n_cut_streamed++;
                capture_free(&c);
                lx_tools_free(t);
                continue;
            }
            if (f != f_whole || strcmp(c.text.data, whole.text.data) != 0)
                fail_msg("case %zu step %zu: finish %d text '%s', whole: %d '%s'", k, steps[j], (int)f, c.text.data,
                         (int)f_whole, whole.text.data);
            assert_int_equal(w != NULL, w_whole != NULL);
            if (cases[k].reason == LLMUX_FINISH_STOP) {
                /* Parsed: the same calls, each ended once. */
                assert_int_equal(c.n_calls, whole.n_calls);
                assert_int_equal(c.n_ended, c.n_calls);
                for (size_t i = 0; i < c.n_calls; i++) {
                    assert_string_equal(c.call_name[i], whole.call_name[i]);
                    assert_string_equal(c.call_args[i].data, whole.call_args[i].data);
                    assert_true(strncmp(c.call_id[i], "call_", 5) == 0);
                }
            } else {
                /* Cut short: a call begun is ended, its arguments a prefix of what was written. */
                assert_int_equal(c.n_ended, c.n_calls);
            }
            if (k == 0 && steps[j] < 8) {
                /* Streamed: the sentence and both calls' starts and arguments came before the
                 * end, the arguments in several pieces. */
                assert_int_equal(c.n_calls, 2);
                assert_true(c.n_text > 1);
                assert_true(c.n_call_deltas[0] > 1 && c.n_call_deltas[1] > 1);
                assert_true(before > c.n_text + 4);
            }
            capture_free(&c);
            lx_tools_free(t);
        }
        capture_free(&whole);
    }
    assert_true(n_cut_streamed >= 3 * 4); /* the three cut calls, streamed in small pieces */
}

/* ------------------------------------------------------------ generation */

/* The weather question with both tools offered at choice, sampled (temperature 1) with seed for
 * at most max_tokens; events into c (capture_free it). Fails the test when generation fails. */
static void generate_seeded(llmux_tool_choice choice, int64_t seed, int32_t max_tokens, capture *c, lx_gen_stats *st) {
    req_parts r;
    make_request(&r, "What is the weather in Paris?", choice);
    r.req.sampling.seed = seed;
    r.req.sampling.temperature = 1.0;
    r.req.sampling.max_tokens = max_tokens;
    capture_init(c);
    llmux_error_info err;
    llmux_status rc = lx_model_generate(g_qwen, &r.req, NULL, 0, (lx_event_sink){on_event, c}, st, &err);
    if (rc != LLMUX_OK) fail_msg("seed %lld: %s", (long long)seed, err.message);
}

static void test_generation_auto_ends_cleanly(void **state) {
    (void)state;
    for (int64_t seed = 1; seed <= 3; seed++) {
        capture c;
        lx_gen_stats st;
        generate_seeded(LLMUX_TOOL_CHOICE_AUTO, seed, 24, &c, &st);
        /* Calls streamed are ended, each with arguments that are a JSON object when parsed. */
        assert_int_equal(c.n_ended, c.n_calls);
        for (size_t i = 0; c.finish == LLMUX_FINISH_TOOL_CALLS && i < c.n_calls; i++) {
            json_t *args = json_loads(c.call_args[i].data, 0, NULL);
            assert_true(json_is_object(args));
            json_decref(args);
        }
        assert_true(c.finish == LLMUX_FINISH_STOP || c.finish == LLMUX_FINISH_LENGTH ||
                    (c.finish == LLMUX_FINISH_TOOL_CALLS && c.n_calls > 0));
        assert_true(st.n_prompt > 600); /* the tools are in the prompt */
        capture_free(&c);
    }
}

static void test_generation_required_never_ends_without_a_call(void **state) {
    (void)state;
    for (int64_t seed = 1; seed <= 3; seed++) {
        capture c;
        lx_gen_stats st;
        generate_seeded(LLMUX_TOOL_CHOICE_REQUIRED, seed, 48, &c, &st);
        if (c.finish == LLMUX_FINISH_TOOL_CALLS) {
            assert_true(c.n_calls > 0);
        } else {
            assert_int_equal(c.finish, LLMUX_FINISH_LENGTH);
            assert_int_equal(st.n_generated, 48);
        }
        assert_int_equal(c.n_ended, c.n_calls);
        capture_free(&c);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_prompt_has_tools_and_plain_content),
        cmocka_unit_test(test_prompt_with_call_and_result),
        cmocka_unit_test(test_auto_grammar_is_lazy),
        cmocka_unit_test(test_required_grammar_is_strict),
        cmocka_unit_test(test_output_parsed_into_events),
        cmocka_unit_test(test_streamed_output_equals_whole),
        cmocka_unit_test(test_many_calls_reported),
        cmocka_unit_test(test_generation_auto_ends_cleanly),
        cmocka_unit_test(test_generation_required_never_ends_without_a_call),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
