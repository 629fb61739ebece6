/* Pieces of the Anthropic adapter shared between its encoder (anthropic.c) and its decoder
 * (anthropic_decode.c). Not for other modules. */
#ifndef LX_ANTHROPIC_INTERNAL_H
#define LX_ANTHROPIC_INTERNAL_H

#include <jansson.h>

#include "providers/provider.h"

/* JSON output (response_format json_object / json_schema), which the Messages API has no field
 * for, is asked as a call of this one tool, whose input schema is the requested schema, forced by
 * tool_choice (as LiteLLM does); the decoder turns that call's input back into the answer's text
 * and its tool_use stop into a plain stop. The name is reserved. */
#define LX_ANTHROPIC_JSON_TOOL "llmux_json_response"

/* Used when the request leaves max_tokens unset (the API requires it). */
#define LX_ANTHROPIC_DEFAULT_MAX_TOKENS 4096

/* Maps an Anthropic error object {"type": "...", "message": "..."} (the value of the envelope's
 * "error" field; NULL when the body had none) plus the HTTP status (0 inside a stream) to the
 * taxonomy. Returns the status it filled err with. */
llmux_status lx_anthropic_error(const json_t *error, int http_status, int64_t retry_after_ms, const char *provider,
                                llmux_error_info *err);

lx_decoder *lx_anthropic_decoder_create(const lx_provider_config *cfg, bool stream, lx_event_sink sink);
llmux_status lx_anthropic_decoder_feed(lx_decoder *d, const char *data, size_t len, llmux_error_info *err);
llmux_status lx_anthropic_decoder_end(lx_decoder *d, llmux_error_info *err);
void lx_anthropic_decoder_destroy(lx_decoder *d);
uint64_t lx_anthropic_decoder_progress(const lx_decoder *d);
struct lx_emitter *lx_anthropic_decoder_emitter(lx_decoder *d);

#endif
