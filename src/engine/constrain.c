/* response_format as a grammar, and grammar-constrained sampling (constrain.h). */
#include "constrain.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "json_grammar.h"

#define SCHEMA_FIELD "response_format.schema"

/* ------------------------------------------------------------ grammar */

/* Whether v nests deeper than max levels of objects and arrays. Stops descending at max, so its
 * own recursion is bounded too (jansson already refuses more than 2048 levels). */
static bool too_deep(const json_t *v, int max) {
    if (!json_is_object(v) && !json_is_array(v)) return false;
    if (max == 0) return true;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (too_deep(json_array_get(v, i), max - 1)) return true;
        return false;
    }
    const char *k;
    json_t *m;
    json_object_foreach((json_t *)v, k, m) {
        if (too_deep(m, max - 1)) return true;
    }
    return false;
}

/* The schema's text for the converter: checked here against the caps first, as JSON the request
 * validator already accepted (a JSON object) when it came through llmux_run. */
static llmux_status check_schema(const char *schema, size_t len, llmux_error_info *err) {
    if (len > LX_SCHEMA_MAX_BYTES)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, SCHEMA_FIELD ": %zu bytes; local models take at most %u", len,
                        LX_SCHEMA_MAX_BYTES);
    json_error_t jerr;
    json_t *doc = json_loadb(schema, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        /* jansson quotes the text near the error, which may hold a raw newline: one line. */
        for (char *p = jerr.text; *p; p++)
            if ((unsigned char)*p < 0x20) *p = ' ';
        return lx_error(err, LLMUX_E_INVALID_REQUEST, SCHEMA_FIELD ": not JSON: %s", jerr.text);
    }
    llmux_status st = LLMUX_OK;
    if (!json_is_object(doc))
        st = lx_error(err, LLMUX_E_INVALID_REQUEST, SCHEMA_FIELD ": a JSON Schema is an object");
    else if (too_deep(doc, LX_SCHEMA_MAX_DEPTH))
        st = lx_error(err, LLMUX_E_INVALID_REQUEST, SCHEMA_FIELD ": nested deeper than %d levels", LX_SCHEMA_MAX_DEPTH);
    json_decref(doc);
    return st;
}

static llmux_status convert(const char *schema, size_t len, char **gbnf, llmux_error_info *err) {
    char *why = NULL;
    lx_jg_status js = lx_json_schema_to_gbnf(schema, len, gbnf, &why);
    if (js == LX_JG_NO_MEMORY) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory converting the JSON Schema");
    if (js != LX_JG_OK) {
        /* The converter's message spans lines ("JSON schema conversion failed:\n..."). */
        for (char *p = why; *p; p++)
            if (*p == '\n') *p = ' ';
        lx_error(err, LLMUX_E_INVALID_REQUEST, SCHEMA_FIELD ": the local engine cannot turn it into a grammar: %s", why);
        free(why);
        return LLMUX_E_INVALID_REQUEST;
    }
    if (strlen(*gbnf) > LX_GRAMMAR_MAX_BYTES) {
        free(*gbnf);
        *gbnf = NULL;
        return lx_error(err, LLMUX_E_INVALID_REQUEST, SCHEMA_FIELD ": its grammar exceeds %u bytes", LX_GRAMMAR_MAX_BYTES);
    }
    return LLMUX_OK;
}

llmux_status lx_response_grammar(const llmux_request *req, char **gbnf, llmux_error_info *err) {
    *gbnf = NULL;
    switch (req->response_format) {
    case LLMUX_FORMAT_TEXT:
        return LLMUX_OK;
    case LLMUX_FORMAT_JSON_OBJECT: {
        /* Any JSON object, in the converter's own JSON grammar (the json_schema form shares it). */
        static const char any_object[] = "{\"type\": \"object\"}";
        return convert(any_object, sizeof any_object - 1, gbnf, err);
    }
    case LLMUX_FORMAT_JSON_SCHEMA: {
        if (!req->schema) return lx_error(err, LLMUX_E_INVALID_REQUEST, SCHEMA_FIELD ": missing");
        size_t len = strlen(req->schema);
        llmux_status st = check_schema(req->schema, len, err);
        return st != LLMUX_OK ? st : convert(req->schema, len, gbnf, err);
    }
    }
    return lx_error(err, LLMUX_E_INVALID_REQUEST, "response_format: unknown type %d", (int)req->response_format);
}

/* ------------------------------------------------------------ sampler */

llmux_status lx_constraint_init(lx_constraint *c, const struct llama_vocab *vocab, const llmux_request *req,
                                llmux_error_info *err) {
    memset(c, 0, sizeof *c);
    char *gbnf = NULL;
    llmux_status st = lx_response_grammar(req, &gbnf, err);
    if (st != LLMUX_OK || !gbnf) return st;
    char *why = NULL;
    struct llama_sampler *g = lx_grammar_sampler_init(vocab, gbnf, &why);
    free(gbnf);
    if (!g) {
        st = why ? lx_error(err, LLMUX_E_INVALID_REQUEST, SCHEMA_FIELD ": %s", why)
                 : lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory building the grammar");
        free(why);
        return st;
    }
    return lx_constraint_init_sampler(c, vocab, g, err);
}

llmux_status lx_constraint_init_sampler(lx_constraint *c, const struct llama_vocab *vocab, struct llama_sampler *grammar,
                                        llmux_error_info *err) {
    memset(c, 0, sizeof *c);
    if (!grammar) return LLMUX_OK;
    c->grammar = grammar;
    c->n_vocab = llama_vocab_n_tokens(vocab);
    c->cand = malloc(sizeof *c->cand * (size_t)c->n_vocab);
    if (!c->cand) {
        lx_constraint_free(c);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory building the grammar");
    }
    return LLMUX_OK;
}

void lx_constraint_free(lx_constraint *c) {
    if (c->grammar) llama_sampler_free(c->grammar);
    free(c->cand);
    memset(c, 0, sizeof *c);
}

/* The candidates of the logits at idx, as llama_sampler_sample builds them. */
static llama_token_data_array candidates(lx_constraint *c, struct llama_context *ctx, int32_t idx) {
    const float *logits = llama_get_logits_ith(ctx, idx);
    for (int32_t t = 0; t < c->n_vocab; t++) c->cand[t] = (llama_token_data){t, logits[t], 0.0f};
    return (llama_token_data_array){c->cand, (size_t)c->n_vocab, -1, false};
}

static bool grammar_allows(lx_constraint *c, llama_token tok) {
    llama_token_data one = {tok, 1.0f, 0.0f};
    llama_token_data_array arr = {&one, 1, -1, false};
    llama_sampler_apply(c->grammar, &arr);
    return isfinite(one.logit);
}

int32_t lx_constraint_sample(lx_constraint *c, struct llama_sampler *chain, struct llama_context *ctx, int32_t idx) {
    if (!c->grammar) return llama_sampler_sample(chain, ctx, idx);
    /* common_sampler_sample (common/sampling.cpp, grammar_first = false): the chain first, the
     * grammar checks its one token, and only a refused token costs a pass over the vocabulary. */
    llama_token_data_array arr = candidates(c, ctx, idx);
    llama_sampler_apply(chain, &arr);
    llama_token tok = arr.data[arr.selected].id;
    if (!grammar_allows(c, tok)) {
        arr = candidates(c, ctx, idx);
        llama_sampler_apply(c->grammar, &arr);
        bool any = false;
        for (size_t i = 0; i < arr.size && !any; i++) any = isfinite(arr.data[i].logit);
        if (!any) return -1; /* no token of this vocabulary continues the grammar */
        llama_sampler_apply(chain, &arr);
        tok = arr.data[arr.selected].id;
    }
    /* The end of generation ends the sequence: the grammar allowed it, nothing follows. */
    if (!llama_vocab_is_eog(llama_model_get_vocab(llama_get_model(ctx)), tok) &&
        !lx_grammar_sampler_accept(c->grammar, tok))
        return -1;
    llama_sampler_accept(chain, tok);
    return tok;
}
