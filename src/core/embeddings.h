/* Building llmux_embeddings. A result and everything it points to live in one arena owned by a
 * private container, so llmux_embeddings_free() releases it at once (like core/response.h).
 *
 * Caps (an upstream that sends more is refused, never trusted with memory):
 * LX_EMBED_MAX_VECTORS vectors, LX_EMBED_MAX_DIM floats per vector, LX_EMBED_MAX_FLOATS in all. */
#ifndef LX_EMBEDDINGS_H
#define LX_EMBEDDINGS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "llmux.h"

#define LX_EMBED_MAX_VECTORS 4096u
#define LX_EMBED_MAX_DIM 65536u
#define LX_EMBED_MAX_FLOATS (64u * 1024u * 1024u)

/* A result of n vectors of dim floats, all 0, usage unknown (-1), model/provider NULL.
 * n == 0 or dim == 0 or a cap exceeded is LLMUX_E_UPSTREAM_PROTOCOL (the numbers come from the
 * wire); out of memory is LLMUX_E_OUT_OF_MEMORY. `provider` names the adapter in messages. */
llmux_status lx_embeddings_new(size_t n, size_t dim, const char *provider, llmux_embeddings **out,
                               llmux_error_info *err);

/* Row i (dim floats) for the builder to fill. Only for results made by lx_embeddings_new. */
float *lx_embeddings_row(llmux_embeddings *e, size_t i);

/* Copies model and provider (NULL keeps the field NULL). False when out of memory. */
bool lx_embeddings_set_meta(llmux_embeddings *e, const char *model, const char *provider);

/* Builds a result from n JSON arrays of numbers (rows[i] is vector i; the caller has already
 * put them in input order). Every row must be an array of finite numbers that fit a float, all
 * of the same non-zero length; otherwise LLMUX_E_UPSTREAM_PROTOCOL naming `what` and the row
 * ("openai: data[2].embedding: 3 values, expected 4 like the first vector"). `what_fmt` is the
 * field name of row i as a printf format taking a size_t ("data[%zu].embedding"). */
llmux_status lx_embeddings_from_json_rows(const json_t *const *rows, size_t n, const char *provider,
                                          const char *what_fmt, llmux_embeddings **out, llmux_error_info *err);

#endif
