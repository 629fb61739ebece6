/* Pieces of the OpenAI Chat Completions adapter shared between its files. */
#ifndef LX_OPENAI_INTERNAL_H
#define LX_OPENAI_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "providers/provider.h"

/* Canonical request -> POST /chat/completions (openai_encode.c). */
llmux_status lx_openai_encode(const lx_provider_config *cfg, const llmux_request *req, lx_wire_request *out,
                              llmux_error_info *err);

/* Whether a model needs `max_completion_tokens` instead of `max_tokens` (o1/o3/o4/gpt-5
 * reasoning models; a "vendor/" prefix is ignored). */
bool lx_openai_is_reasoning_model(const char *model);
/* For OpenAI's own API (a base URL on api.openai.com): the request's metadata prompt_cache_key (a
 * hint that keeps requests sharing a prefix on the same cache), safety_identifier and user (who
 * the end user is, for OpenAI's abuse checks) and service_tier (flex, priority, ...) as the body's
 * fields of those names. Nothing for any other server (OpenAI-compatible ones may refuse unknown
 * fields). False when out of memory. */
bool lx_openai_caller_fields(const lx_provider_config *cfg, const llmux_request *req, json_t *body);
/* Whether the target takes OpenAI's explicit cache breakpoints (prompt_cache_breakpoint on a text
 * part): OpenAI's own API (a base URL on api.openai.com) and a gpt-5.6 or later model. Older
 * models and other servers get none (they may refuse unknown fields). */
bool lx_openai_explicit_cache(const lx_provider_config *cfg, const char *model);
/* Whether cfg is OpenAI's own API (a base URL on https://api.openai.com/), whatever its name. */
bool lx_openai_own_api(const lx_provider_config *cfg);
/* provider_options.<configured name> is merged last, unless the name is one of the keys read by
 * wire format (openai_chat, openai_responses), which must not be merged whole. */
llmux_status lx_openai_merge_named(const lx_provider_config *cfg, const llmux_request *req, json_t *body,
                                   llmux_error_info *err);

/* Maps an OpenAI/OpenRouter error object ({"message","type","code","param"} or OpenRouter's
 * {"code":<int>,"message","metadata"} / {"error_type","http_status","availability"}) to the
 * taxonomy. http_status 0 = the error arrived inside a 200 body or stream. retry_after may be
 * NULL. Returns the status written to err. */
llmux_status lx_openai_error_from_object(const char *provider, const json_t *error_obj, int http_status,
                                         const char *retry_after, llmux_error_info *err);

/* lx_provider.map_error of the OpenAI adapters (Chat Completions and Responses: one envelope). */
void lx_openai_map_error(int http_status, const char *body, size_t len, const char *retry_after, llmux_error_info *err);

#endif
