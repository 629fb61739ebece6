/* Helpers shared by the HTTP provider adapters (openai, anthropic, gemini, ollama).
 *
 * Three groups: error mapping (HTTP status -> taxonomy, Retry-After, secret scrubbing), JSON
 * helpers over jansson, and an event emitter that assigns canonical part indices and keeps the
 * per-stream bookkeeping every adapter needs (START once, tool calls closed before FINISH).
 * These signatures are stable: other adapters build on them. */
#ifndef LX_PROVIDERS_COMMON_H
#define LX_PROVIDERS_COMMON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "providers/provider.h"
#include "transport/http.h"

/* ------------------------------------------------------------ errors */

/* The default class of a non-2xx HTTP status: 400 invalid request, 401 authentication, 403
 * permission, 404 model not found, 408/504/524 timeout, 413 context length, 429 rate limited,
 * 502/503/529 overloaded, other 5xx upstream server, other 4xx invalid request. Adapters refine
 * it from the body (e.g. a 400 that says "context length"). */
llmux_status lx_http_status_class(int http_status);

/* Parses a Retry-After value: delta-seconds ("120", fractions accepted) or an HTTP-date
 * ("Wed, 21 Oct 2015 07:28:00 GMT", also the obsolete RFC 850 and asctime forms), the latter
 * relative to now_unix_ms (a date in the past gives 0). Returns milliseconds, -1 when absent or
 * unparsable. */
int64_t lx_parse_retry_after(const char *value, int64_t now_unix_ms);

/* Parses a Go-style duration as OpenAI's x-ratelimit-reset-* headers send it ("1s", "6m0s",
 * "12ms", "1h2m3.5s", "250us"). Returns milliseconds (rounded up), -1 when unparsable. */
int64_t lx_parse_duration_ms(const char *value);

/* Parses an RFC 3339 instant as Anthropic's anthropic-ratelimit-*-reset headers send it
 * ("2026-01-01T00:00:15Z", "2026-01-01T01:00:15.250+01:00": 'T', 't' or a space between date and
 * time, optional fractional seconds, 'Z'/'z' or a +-hh:mm offset), relative to now_unix_ms.
 * Returns the milliseconds until then (fractions rounded up, an instant in the past gives 0), -1
 * when absent or malformed (field out of range, missing offset, trailing bytes). */
int64_t lx_parse_rfc3339_ms(const char *value, int64_t now_unix_ms);

/* Parses lx_http_response.ratelimit_reset: comma-separated reset values of the exhausted rate
 * limits, each a Go duration (lx_parse_duration_ms) or an RFC 3339 instant
 * (lx_parse_rfc3339_ms). Returns the LATEST of them in milliseconds from now (every exhausted
 * limit must have reset before a retry can pass); malformed items are skipped; -1 when no item
 * parses. At most 16 items are read. */
int64_t lx_parse_ratelimit_reset(const char *list, int64_t now_unix_ms);

/* The retry delay a map_error gets from the runtime's hint (lx_http_retry_hint): a Retry-After
 * value, else the exhausted limits' reset list (lx_parse_ratelimit_reset), both relative to the
 * current time. Milliseconds; -1 when hint is NULL or neither form parses. */
int64_t lx_parse_retry_hint(const char *hint);

/* Current wall-clock time in Unix milliseconds (for lx_parse_retry_after). */
int64_t lx_now_unix_ms(void);

/* Case-insensitive substring test; false when either is NULL. */
bool lx_contains_ci(const char *haystack, const char *needle);

/* Whether an upstream error message/code describes a context-window overflow
 * ("context_length_exceeded", "maximum context length", "too many tokens", "prompt is too long",
 * "exceeds the context window"...). */
bool lx_mentions_context_length(const char *text);
/* Whether it describes a safety/content-policy block ("content_filter",
 * "content_policy_violation", "safety", "moderation"...). */
bool lx_mentions_content_filter(const char *text);

/* Masks with '*', in place (s never grows), anything in s that looks like a credential: tokens
 * that start with "sk-", "sk_", "AIza", and the token after "Bearer " / "key=". `secret` (the
 * configured key; may be NULL) is masked wherever it appears as a whole token (transport/redact.h:
 * a short key never rewrites the words that contain it), also when s ends inside it. */
void lx_redact_secrets(char *s, const char *secret);

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

/* Masks the configured key (and credential-shaped tokens, as lx_redact_secrets) in err's
 * message, provider_message and provider_code. Every error that leaves an adapter with upstream
 * text in it goes through this with cfg->api_key: upstreams echo the key back (401 bodies do). */
void lx_redact_error(llmux_error_info *err, const char *key);

/* For decoders: when st is an error, masks key in err and in the decoder's sticky copy (either
 * may be NULL). Returns st. */
llmux_status lx_redact_status(llmux_status st, llmux_error_info *err, llmux_error_info *sticky, const char *key);

/* A private copy of the configured key for an object that outlives the config's borrow (NULL
 * for NULL or ""); lx_secret_free wipes it before freeing. NULL also on out of memory: masking is
 * then limited to credential-shaped tokens. */
char *lx_secret_dup(const char *key);
void lx_secret_free(char *key);

/* The error for a complete non-2xx response: a 3xx is LLMUX_E_CONFIGURATION naming the redirect
 * target (the Location header, capped), anything else goes through p->map_error (and becomes
 * LLMUX_E_UPSTREAM_SERVER when the mapper set nothing). cfg->api_key is masked in the result.
 * Returns the status it filled err with. */
llmux_status lx_provider_map_response(const lx_provider *p, const lx_provider_config *cfg,
                                      const lx_http_response *resp, llmux_error_info *err);

/* --------------------------------------------------------------- JSON */

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

/* Sets method + path and clears headers. False when a field is too long. */
bool lx_wire_set(lx_wire_request *w, const char *method, const char *path);
/* Appends a header; false when the table is full or a field is too long. */
bool lx_wire_add_header(lx_wire_request *w, const char *name, const char *value, bool secret);

/* ------------------------------------------------------------ emitter */

#define LX_EMITTER_MAX_TOOLS 256 /* tool calls per response; more is an upstream protocol error */

typedef struct lx_emitter_tool {
    int64_t key;     /* the adapter's own key for the call (OpenAI index, Anthropic block index...) */
    uint32_t index;  /* canonical part index */
    bool open;
    uint64_t tag;    /* the adapter's own value for the call (OpenAI: a hash of its id); 0 at start */
} lx_emitter_tool;

/* Turns adapter-level happenings into canonical events with part indices assigned in order of
 * first appearance. Embed it in a decoder; its only allocation is the tool-call table, made at
 * the first tool call (most responses have none, and every stream in flight holds an emitter),
 * released by lx_emitter_free. Every lx_emit_* returns LLMUX_OK, LLMUX_E_CANCELLED (the sink
 * returned false; err filled), LLMUX_E_OUT_OF_MEMORY (the tool table could not grow) or
 * LLMUX_E_UPSTREAM_PROTOCOL (an event that contradicts the stream: unknown tool key, too many
 * tools, anything after FINISH). */
typedef struct lx_emitter {
    lx_event_sink sink;
    const char *provider;     /* START's provider (borrowed, static or config lifetime) */
    uint32_t next_index;
    int64_t text_index;       /* -1 = no open text part */
    int64_t reasoning_index;  /* -1 = no open reasoning part */
    lx_emitter_tool *tools;   /* n_tools used of cap_tools; NULL until the first tool call */
    size_t n_tools, cap_tools;
    bool started;
    bool finished;
    bool cancelled;
    uint64_t n_events;        /* events delivered, for benchmarks */
} lx_emitter;

void lx_emitter_init(lx_emitter *e, lx_event_sink sink, const char *provider);
/* Releases the tool table. Accepts an emitter that was only initialised (or zeroed). */
void lx_emitter_free(lx_emitter *e);

/* START once (later calls are no-ops); id / model may be NULL. Content emitters call it
 * implicitly with NULLs when it has not been sent. */
llmux_status lx_emit_start(lx_emitter *e, const char *id, const char *model, llmux_error_info *err);
/* TEXT_DELTA to the current text part (opened on first use). Empty text emits nothing. */
llmux_status lx_emit_text(lx_emitter *e, const char *text, size_t len, llmux_error_info *err);
/* REASONING_DELTA to the current reasoning part; text and/or signature; empty both = nothing. */
llmux_status lx_emit_reasoning(lx_emitter *e, const char *text, size_t len, const char *signature, bool redacted,
                               llmux_error_info *err);
/* The next text / reasoning delta opens a new part (Anthropic-style separate blocks). */
void lx_emitter_break_text(lx_emitter *e);
void lx_emitter_break_reasoning(lx_emitter *e);
/* TOOL_CALL_START for a new call identified by key (a key seen before is a protocol error
 * unless that call was ended; then it opens a new call). id / name may be NULL (""). */
llmux_status lx_emit_tool_start(lx_emitter *e, int64_t key, const char *id, const char *name, llmux_error_info *err);
/* TOOL_CALL_DELTA for the open call `key`. Empty fragments emit nothing. */
llmux_status lx_emit_tool_delta(lx_emitter *e, int64_t key, const char *frag, size_t len, llmux_error_info *err);
/* TOOL_CALL_END for `key` (a no-op when already ended). */
llmux_status lx_emit_tool_end(lx_emitter *e, int64_t key, llmux_error_info *err);
/* Whether a call with this key was started (open or not). */
bool lx_emitter_has_tool(const lx_emitter *e, int64_t key);
/* Whether a call with this key is open. */
bool lx_emitter_tool_open(const lx_emitter *e, int64_t key);
llmux_status lx_emit_usage(lx_emitter *e, const llmux_usage *u, llmux_error_info *err);
/* USAGE with the provider's own cost figure for the request (OpenRouter's usage.cost), in US
 * dollars; NaN, negative or infinite = not reported (same as lx_emit_usage). */
llmux_status lx_emit_usage_cost(lx_emitter *e, const llmux_usage *u, double cost_usd, llmux_error_info *err);
/* Ends every open tool call, then FINISH (START first if never sent). */
llmux_status lx_emit_finish(lx_emitter *e, llmux_finish_reason reason, llmux_error_info *err);

#endif
