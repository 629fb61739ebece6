/* Building responses. A llmux_response and everything it points to live in one arena owned by
 * a private container; llmux_response_free() releases the whole thing at once. The JSON decoder,
 * the aggregator and the runtime (timing, cost, warnings) all build responses through these
 * helpers, so a response never holds memory from anywhere else.
 *
 * Only pass responses made by lx_response_new() here (and to llmux_response_free). */
#ifndef LX_RESPONSE_H
#define LX_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "llmux.h"

/* "text", "image", "tool_call", "tool_result", "reasoning" ("unknown" otherwise). Static. */
const char *lx_part_type_name(llmux_part_type t);
bool lx_part_type_from_name(const char *name, llmux_part_type *out);
/* A cache lifetime's canonical name ("5m", "1h"; "" for NONE) and back. */
const char *lx_cache_name(llmux_cache c);
bool lx_cache_from_name(const char *name, llmux_cache *out);

/* An empty response: no strings, no parts, finish_reason NONE, usage all -1, cost unknown,
 * timing all -1, error status OK (retry_after_ms -1). NULL when out of memory. */
llmux_response *lx_response_new(void);

/* The arena the response lives in, for callers that build their own arrays. */
lx_arena *lx_response_arena(llmux_response *r);

/* Copies into the response's arena. NULL in gives NULL out; NULL out with non-NULL in means out
 * of memory. strndup copies exactly n bytes (binary-safe) and appends a NUL. */
char *lx_response_strdup(llmux_response *r, const char *s);
char *lx_response_strndup(llmux_response *r, const char *s, size_t n);

/* Replaces id / model / provider with copies of the non-NULL arguments (NULL keeps the current
 * value). False when out of memory (then nothing changed). */
bool lx_response_set_meta(llmux_response *r, const char *id, const char *model, const char *provider);

/* Appends a zeroed part of the given type and returns it for the caller to fill (strings must
 * come from lx_response_strdup/strndup). The pointer stays valid until the next part is added
 * (the array may move). NULL when out of memory. */
llmux_part *lx_response_push_part(llmux_response *r, llmux_part_type type);

/* Appends a deep copy of src (only the fields of its type are copied). False when out of
 * memory (then nothing was added). */
bool lx_response_add_part(llmux_response *r, const llmux_part *src);

/* Appends a warning (both strings copied; NULL becomes ""). False when out of memory. */
bool lx_response_add_warning(llmux_response *r, const char *code, const char *message);

/* Sets the timing fields (milliseconds, -1 = not measured). The aggregator never measures time;
 * the runtime calls this once the response is built. */
void lx_response_set_timing(llmux_response *r, double queued_ms, double ttft_ms, double total_ms);

/* Copies an error into the response (plain data). */
void lx_response_set_error(llmux_response *r, const llmux_error_info *e);

#endif
