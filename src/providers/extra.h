/* Embeddings and model lists: the optional entry points of each adapter (provider.h) and the
 * helpers they share. Whole bodies, no streaming: the runtime buffers a 2xx body (capped at
 * LX_WIRE_MAX_BODY) and hands it to decode_*. Not for other modules. */
#ifndef LX_PROVIDERS_EXTRA_H
#define LX_PROVIDERS_EXTRA_H

#include <jansson.h>

#include "providers/common.h"

/* ------------------------------------------------------------ shared */

/* Checks what every adapter needs from an embed request: 1..LX_EMBED_MAX_VECTORS inputs, none
 * NULL, dimensions >= 0. LLMUX_E_INVALID_REQUEST naming the field otherwise. */
llmux_status lx_embed_check_request(const llmux_embed_request *req, const char *who, llmux_error_info *err);
/* The inputs as a JSON array of strings (*out: a new reference). Errors: an input that is not
 * valid UTF-8 (LLMUX_E_INVALID_REQUEST naming it), out of memory. */
llmux_status lx_embed_inputs_json(const llmux_embed_request *req, const char *who, json_t **out,
                                  llmux_error_info *err);
/* Parses a whole 2xx body that must be a JSON object (capped at LX_WIRE_MAX_BODY).
 * NULL with LLMUX_E_UPSTREAM_PROTOCOL naming `who` and `what` otherwise. */
json_t *lx_extra_parse_object(const char *body, size_t len, const char *who, const char *what,
                              llmux_error_info *err);
/* "Authorization: Bearer <key>" when cfg has a key (a secret header). False when it does not fit. */
bool lx_extra_bearer(lx_wire_request *w, const lx_provider_config *cfg);
/* An integer field >= 0, else -1. */
int64_t lx_extra_count(const json_t *obj, const char *key);

/* ------------------------------------------------------------ adapters */

llmux_status lx_openai_encode_embed(const lx_provider_config *cfg, const llmux_embed_request *req, lx_wire_request *out,
                                    llmux_error_info *err);
llmux_status lx_openai_decode_embed(const lx_provider_config *cfg, const char *body, size_t len, llmux_embeddings **out,
                                    llmux_error_info *err);
llmux_status lx_openai_encode_models(const lx_provider_config *cfg, lx_wire_request *out, llmux_error_info *err);
llmux_status lx_openai_decode_models(const lx_provider_config *cfg, const char *body, size_t len,
                                     llmux_model_list **out, llmux_error_info *err);
/* OpenRouter's price strings (USD per token, e.g. "0.0000025") as USD per million tokens,
 * computed from the decimal digits so "0.00003" gives exactly 30. NaN when absent, unparsable
 * or negative (OpenRouter's "-1" marks a price that varies per request). */
double lx_openrouter_price_per_million(const json_t *v);

llmux_status lx_anthropic_encode_models(const lx_provider_config *cfg, lx_wire_request *out, llmux_error_info *err);
llmux_status lx_anthropic_decode_models(const lx_provider_config *cfg, const char *body, size_t len,
                                        llmux_model_list **out, llmux_error_info *err);

llmux_status lx_gemini_encode_embed(const lx_provider_config *cfg, const llmux_embed_request *req, lx_wire_request *out,
                                    llmux_error_info *err);
llmux_status lx_gemini_decode_embed(const lx_provider_config *cfg, const char *body, size_t len, llmux_embeddings **out,
                                    llmux_error_info *err);
llmux_status lx_gemini_encode_models(const lx_provider_config *cfg, lx_wire_request *out, llmux_error_info *err);
llmux_status lx_gemini_decode_models(const lx_provider_config *cfg, const char *body, size_t len,
                                     llmux_model_list **out, llmux_error_info *err);

llmux_status lx_ollama_encode_embed(const lx_provider_config *cfg, const llmux_embed_request *req, lx_wire_request *out,
                                    llmux_error_info *err);
llmux_status lx_ollama_decode_embed(const lx_provider_config *cfg, const char *body, size_t len, llmux_embeddings **out,
                                    llmux_error_info *err);
llmux_status lx_ollama_encode_models(const lx_provider_config *cfg, lx_wire_request *out, llmux_error_info *err);
llmux_status lx_ollama_decode_models(const lx_provider_config *cfg, const char *body, size_t len,
                                     llmux_model_list **out, llmux_error_info *err);

#endif
