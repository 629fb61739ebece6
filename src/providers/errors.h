/* Error mapping shared by the HTTP provider adapters: HTTP status -> taxonomy, what an upstream
 * message says (context length, content filter), the error an adapter fills from the provider's
 * answer (sanitized, credentials masked), and the mapping of a whole non-2xx response through
 * the adapter's map_error. */
#ifndef LX_PROVIDERS_ERRORS_H
#define LX_PROVIDERS_ERRORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "providers/provider.h"
#include "transport/http.h"

/* The default class of a non-2xx HTTP status: 400 invalid request, 401 authentication, 403
 * permission, 404 model not found, 408/504/524 timeout, 413 context length, 429 rate limited,
 * 502/503/529 overloaded, other 5xx upstream server, other 4xx invalid request. Adapters refine
 * it from the body (e.g. a 400 that says "context length"). */
llmux_status lx_http_status_class(int http_status);

/* Case-insensitive substring test; false when either is NULL. */
bool lx_contains_ci(const char *haystack, const char *needle);

/* Whether an upstream error message/code describes a context-window overflow
 * ("context_length_exceeded", "maximum context length", "too many tokens", "prompt is too long",
 * "exceeds the context window"...). */
bool lx_mentions_context_length(const char *text);
/* Whether it describes a safety/content-policy block ("content_filter",
 * "content_policy_violation", "safety", "moderation"...). */
bool lx_mentions_content_filter(const char *text);

/* Fills err (when not NULL) as an error that came from the provider: status, a message naming
 * the provider and status, provider_status, provider_code and provider_message (truncated on a
 * UTF-8 boundary, credentials redacted), retry_after_ms (-1 = none). `provider` names the
 * configured provider for the message ("openai"); code/message may be NULL. Returns status. */
llmux_status lx_provider_error(llmux_error_info *err, llmux_status status, const char *provider, int http_status,
                               const char *code, const char *message, int64_t retry_after_ms);

/* The error for a body that is not the provider's documented error envelope (a proxy's HTML
 * page...): classified by HTTP status alone, its first 255 bytes kept as the message. Returns the
 * status it filled err with. */
llmux_status lx_provider_error_raw(llmux_error_info *err, const char *provider, int http_status, const char *body,
                                   size_t len, int64_t retry_after_ms);

/* The error for a complete non-2xx response: a 3xx is LLMUX_E_CONFIGURATION naming the redirect
 * target (the Location header, capped), anything else goes through p->map_error with the retry
 * hint lx_ratelimit_retry_hint finds in resp (Retry-After, else the resets of the exhausted rate
 * limits among the headers p->keep_headers asked the transport to keep), and becomes
 * LLMUX_E_UPSTREAM_SERVER when the mapper set nothing. cfg->api_key is masked in the result.
 * Returns the status it filled err with. */
llmux_status lx_provider_map_response(const lx_provider *p, const lx_provider_config *cfg,
                                      const lx_http_response *resp, llmux_error_info *err);

#endif
