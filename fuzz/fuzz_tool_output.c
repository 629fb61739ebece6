/* A local model's output with tools on arbitrary text (engine/chat_tools.h): llama.cpp's parser for
 * a real tool-capable template (its copy of Qwen2.5-7B-Instruct's, Hermes-style <tool_call> JSON)
 * and its lazy tool-call grammar never crash, leak or let an exception out; a parse that succeeds
 * names only offered tools, with arguments that are a JSON object; a refusal has a message.
 * The text is fed to the grammar token by token as well, as far as the grammar takes it.
 * Run from the repository root after scripts/setup.sh (the vocabulary is the bundled model's, the
 * template comes from .deps/llama.cpp). */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "engine/chat_tools.h"
#include "engine/engine.h"
#include "engine/engine_internal.h"

#define MAX_TEXT 8192
#define TEMPLATE ".deps/llama.cpp/models/templates/Qwen-Qwen2.5-7B-Instruct.jinja"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lx_model *g_model;
static lx_chat_tools *g_ct;

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = calloc(1, 1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf && n == 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static void init(void) {
    lx_model_params p = lx_model_default_params();
    p.path = "models/llmux-fortunes.gguf";
    p.vocab_only = true;
    llmux_error_info err;
    char *tmpl = read_file(TEMPLATE);
    if (!tmpl || lx_model_load(&p, &g_model, &err) != LLMUX_OK) {
        fprintf(stderr, "fuzz_tool_output: needs %s and %s (run from the repository root)\n", p.path, TEMPLATE);
        abort();
    }
    lx_ct_message msg = {.role = "user", .content = "Weather in Paris?"};
    lx_ct_tool tools[2] = {
        {"get_weather", "The weather", "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}"},
        {"get_time", NULL, NULL}};
    char *why = NULL;
    if (lx_chat_tools_init(g_model->model, tmpl, &msg, 1, tools, 2, false, false, &g_ct, &why) != LX_JG_OK) {
        fprintf(stderr, "fuzz_tool_output: %s\n", why ? why : "out of memory");
        abort();
    }
    free(tmpl);
}

static void check_parse(const char *text, size_t len) {
    lx_ct_output o;
    char *why = NULL;
    lx_jg_status js = lx_chat_tools_parse(g_ct, text, len, false, &o, &why);
    if (js == LX_JG_INVALID) {
        if (!why || !*why) abort();
        free(why);
        return;
    }
    if (js != LX_JG_OK) return; /* out of memory */
    if (!o.content || !o.reasoning) abort();
    for (size_t i = 0; i < o.n_calls; i++) {
        if (strcmp(o.calls[i].name, "get_weather") != 0 && strcmp(o.calls[i].name, "get_time") != 0) abort();
        json_t *args = json_loads(o.calls[i].arguments, JSON_DECODE_ANY, NULL);
        if (!json_is_object(args)) abort();
        json_decref(args);
    }
    lx_ct_output_free(&o);
}

/* The output so far, parsed as it streams (partial mode): never a crash or an exception, every
 * string present, a name for every call but possibly the last. */
static void check_partial(const char *text, size_t len) {
    lx_ct_output o;
    char *why = NULL;
    lx_jg_status js = lx_chat_tools_parse(g_ct, text, len, true, &o, &why);
    free(why);
    if (js != LX_JG_OK) return;
    if (!o.content || !o.reasoning) abort();
    for (size_t i = 0; i < o.n_calls; i++)
        if (!o.calls[i].name || !o.calls[i].arguments || !o.calls[i].id) abort();
    lx_ct_output_free(&o);
}

static void check_grammar(const char *text, size_t len) {
    char *why = NULL;
    const struct llama_vocab *v = lx_model_vocab(g_model);
    struct llama_sampler *g = lx_chat_tools_grammar(g_ct, v, &why);
    if (!g) abort(); /* the template's grammar is fixed: it always builds */
    int32_t toks[MAX_TEXT + 2];
    int32_t n = llama_tokenize(v, text, (int32_t)len, toks, MAX_TEXT + 2, false, false);
    for (int32_t i = 0; i < n; i++) {
        llama_token_data one = {toks[i], 1.0f, 0.0f};
        llama_token_data_array arr = {&one, 1, -1, false};
        llama_sampler_apply(g, &arr);
        if (!isfinite(one.logit) || llama_vocab_is_eog(v, toks[i])) break;
        if (!lx_grammar_sampler_accept(g, toks[i])) abort(); /* allowed, so accepted */
    }
    llama_sampler_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_ct) init();
    if (size > MAX_TEXT) return 0;
    check_parse((const char *)data, size);
    check_partial((const char *)data, size);
    check_partial((const char *)data, size / 2);
    /* Text reaches llama.cpp's tokenizer only as valid UTF-8 (the request rules; it throws on
     * an invalid code point, a crash this harness found through `llmux run`). */
    if (lx_utf8_valid((const char *)data, size)) check_grammar((const char *)data, size);
    return 0;
}
