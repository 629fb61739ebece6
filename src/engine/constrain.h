/* Constrained output for local models: a request's response_format (json_object, json_schema)
 * as a GBNF grammar that the sequence's sampling obeys, so the text generated is JSON of the
 * requested shape (until max_tokens or the context cuts it short: then finish is "length").
 *
 *   json_object  the grammar of any JSON object (llama.cpp's converter on {"type": "object"})
 *   json_schema  llama.cpp's own JSON-Schema-to-grammar converter (common/json-schema-to-
 *                grammar.h, through json_grammar.cpp) on the request's schema
 *
 * Sampling follows llama-server (common/sampling.cpp, common_sampler_sample): the sequence's
 * ordinary chain samples first; the grammar only checks that one token, and only when it is
 * refused are the logits sampled again with the grammar applied before the chain. A grammar
 * mostly costs one check per token instead of a pass over the whole vocabulary; the token is the
 * chain's own choice when the grammar allows it, else the chain's choice among the tokens the
 * grammar allows. Seeded requests stay reproducible (the chain's generator is the only one).
 *
 * Used by one thread at a time (the model's engine thread), one per sequence. */
#ifndef LX_ENGINE_CONSTRAIN_H
#define LX_ENGINE_CONSTRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llama.h"
#include "llmux.h"

/* Most bytes of a JSON Schema a local request may carry, most nesting levels of its objects and
 * arrays (the converter recurses on them), most bytes of the grammar made from it. */
#define LX_SCHEMA_MAX_BYTES (256u * 1024u)
#define LX_SCHEMA_MAX_DEPTH 64
#define LX_GRAMMAR_MAX_BYTES (1024u * 1024u)

typedef struct lx_constraint {
    struct llama_sampler *grammar; /* NULL: the request is unconstrained */
    llama_token_data *cand;        /* n_vocab candidates, refilled from the logits each token */
    int32_t n_vocab;
} lx_constraint;

/* Makes the GBNF grammar for req's response_format: NULL in *gbnf for TEXT. Errors:
 * INVALID_REQUEST naming `response_format.schema` (over the caps, not JSON, a schema the
 * converter refuses, with its reason), OUT_OF_MEMORY. The caller frees *gbnf with free(). */
llmux_status lx_response_grammar(const llmux_request *req, char **gbnf, llmux_error_info *err);

/* Prepares c for req on vocab: unconstrained for TEXT, else the grammar's sampler. Errors: those
 * of lx_response_grammar, INVALID_REQUEST when llama.cpp refuses the grammar. c is zeroed on
 * failure; lx_constraint_free accepts it either way. */
llmux_status lx_constraint_init(lx_constraint *c, const struct llama_vocab *vocab, const llmux_request *req,
                                llmux_error_info *err);
/* Prepares c around a grammar sampler made elsewhere (the tools' grammar, tools.h); takes it, also
 * on failure (OUT_OF_MEMORY). NULL: unconstrained. */
llmux_status lx_constraint_init_sampler(lx_constraint *c, const struct llama_vocab *vocab, struct llama_sampler *grammar,
                                        llmux_error_info *err);
void lx_constraint_free(lx_constraint *c);

/* Samples the next token from the logits at idx with chain (which also accepts it, as
 * llama_sampler_sample does), obeying the grammar when there is one (which accepts it too).
 * Returns the token, or -1 when the grammar allows no token of this vocabulary (the sequence
 * cannot go on; nothing was accepted). */
int32_t lx_constraint_sample(lx_constraint *c, struct llama_sampler *chain, struct llama_context *ctx, int32_t idx);

#endif
