/* response_format json_schema on arbitrary schema text (engine/constrain.h): the caps, jansson's
 * parse, llama.cpp's JSON-Schema-to-grammar converter behind the C++ shim and llama.cpp's grammar
 * parser never crash, leak or let an exception out; a refusal is INVALID_REQUEST naming
 * response_format.schema on one line; an accepted schema gives a grammar within the cap with a
 * root rule, and when llama.cpp builds its sampler (on the bundled model's vocabulary), one
 * sampling step over the whole vocabulary and the acceptance of an allowed token work.
 * Run from the repository root (the vocabulary is models/llmux-fortunes.gguf, or $LLMUX_FUZZ_MODEL). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/constrain.h"
#include "engine/engine.h"
#include "engine/json_grammar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lx_model *g_vocab_model;

static const struct llama_vocab *vocab(void) {
    if (g_vocab_model) return lx_model_vocab(g_vocab_model);
    lx_model_params p = lx_model_default_params();
    const char *path = getenv("LLMUX_FUZZ_MODEL");
    p.path = path ? path : "models/llmux-fortunes.gguf";
    p.vocab_only = true;
    llmux_error_info err;
    if (lx_model_load(&p, &g_vocab_model, &err) != LLMUX_OK) {
        fprintf(stderr, "fuzz_json_grammar: %s: %s\n", p.path, err.message);
        abort();
    }
    return lx_model_vocab(g_vocab_model);
}

/* One step of constrained sampling by hand: the grammar over every token, then an allowed one. */
static void one_step(struct llama_sampler *g, int32_t n_vocab) {
    llama_token_data *cand = malloc(sizeof *cand * (size_t)n_vocab);
    if (!cand) abort();
    for (int32_t t = 0; t < n_vocab; t++) cand[t] = (llama_token_data){t, 0.0f, 0.0f};
    llama_token_data_array arr = {cand, (size_t)n_vocab, -1, false};
    llama_sampler_apply(g, &arr);
    for (size_t i = 0; i < arr.size; i++) {
        if (!isfinite(arr.data[i].logit)) continue;
        llama_token tok = arr.data[i].id;
        if (!llama_vocab_is_eog(vocab(), tok) && !lx_grammar_sampler_accept(g, tok)) abort();
        break;
    }
    free(cand);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > LX_SCHEMA_MAX_BYTES + 16) return 0;
    char *schema = malloc(size + 1);
    if (!schema) abort();
    memcpy(schema, data, size);
    schema[size] = '\0'; /* an inner NUL ends the text, as it would for a C caller */

    llmux_request req = llmux_request_default();
    req.response_format = LLMUX_FORMAT_JSON_SCHEMA;
    req.schema = schema;
    char *gbnf = NULL;
    llmux_error_info err;
    llmux_status st = lx_response_grammar(&req, &gbnf, &err);
    if (st == LLMUX_OK) {
        if (!gbnf || strlen(gbnf) > LX_GRAMMAR_MAX_BYTES || !strstr(gbnf, "root ::=")) abort();
        char *why = NULL;
        struct llama_sampler *g = lx_grammar_sampler_init(vocab(), gbnf, &why);
        if (g) {
            one_step(g, llama_vocab_n_tokens(vocab()));
            llama_sampler_free(g);
        }
        free(why);
    } else if (st == LLMUX_E_INVALID_REQUEST) {
        if (gbnf) abort();
        if (strncmp(err.message, "response_format.schema: ", 24) != 0 || strchr(err.message, '\n')) abort();
    } else if (st != LLMUX_E_OUT_OF_MEMORY) {
        abort();
    }
    free(gbnf);
    free(schema);
    return 0;
}
