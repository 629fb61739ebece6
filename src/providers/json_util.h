/* JSON helpers for the adapters, over jansson: parsing untrusted upstream JSON and caller-supplied
 * JSON (with the error class each deserves), typed lookups, compact dumping into an lx_buf, and
 * the request's provider_options pass-through. */
#ifndef LX_PROVIDERS_JSON_UTIL_H
#define LX_PROVIDERS_JSON_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "llmux.h"

/* Parses untrusted JSON (at most max bytes; NUL bytes in strings allowed). On failure returns
 * NULL and fills err with LLMUX_E_UPSTREAM_PROTOCOL naming `what` and jansson's line/column. The
 * caller owns the result (json_decref). */
json_t *lx_json_parse_upstream(const char *data, size_t len, size_t max, const char *what, llmux_error_info *err);

/* Parses a JSON text the caller supplied in the canonical request (tool parameters, schema,
 * provider options). On failure returns NULL with LLMUX_E_INVALID_REQUEST naming `field`. */
json_t *lx_json_parse_request(const char *text, const char *field, llmux_error_info *err);

/* Typed lookups on an object; NULL / false when obj is not an object, the key is missing or the
 * value has another type. */
const char *lx_json_str(const json_t *obj, const char *key);
json_t *lx_json_obj(const json_t *obj, const char *key);
json_t *lx_json_arr(const json_t *obj, const char *key);
/* An integer (or an integral real) value. */
bool lx_json_i64(const json_t *obj, const char *key, int64_t *out);
/* An integer field >= 0, else -1. */
int64_t lx_json_count(const json_t *obj, const char *key);

/* A cache breakpoint as Anthropic's cache_control ({"type": "ephemeral"}, with "ttl": "1h" for the
 * hour), the form Anthropic and OpenRouter take; NULL for LLMUX_CACHE_NONE or out of memory. */
json_t *lx_json_cache_control(llmux_cache k);

/* Writes j compactly into out (appending; key order preserved). False when out of memory or
 * past out's cap. */
bool lx_json_dump_buf(const json_t *j, lx_buf *out);

/* Merges provider_options[key] (an object) into body: each field is set on body, replacing what
 * the adapter wrote. provider_options NULL or without `key` is a no-op. Invalid JSON or a
 * non-object value is LLMUX_E_INVALID_REQUEST. */
llmux_status lx_merge_provider_options(json_t *body, const char *provider_options, const char *key,
                                       llmux_error_info *err);

/* Reads provider_options[key] into *out as a new reference (NULL when provider_options is NULL
 * or has no such key). Invalid JSON or a non-object provider_options is LLMUX_E_INVALID_REQUEST. */
llmux_status lx_provider_options_get(const char *provider_options, const char *key, json_t **out,
                                     llmux_error_info *err);

#endif
