/* The server's translators between the client formats (OpenAI Chat Completions, Anthropic
 * Messages) and llmux's canonical types. Pure functions on bytes and public llmux types: no
 * sockets, no loop, so they are unit-tested and fuzzed on their own (fuzz/fuzz_server_request.c).
 *
 * References: OpenAI "Create chat completion" and "Chat completion chunk" objects
 * (platform.openai.com/docs/api-reference/chat), Anthropic "Messages" and "Streaming messages"
 * (docs.anthropic.com/en/api/messages, /en/docs/build-with-claude/streaming). */
#ifndef LX_SERVER_TRANSLATE_H
#define LX_SERVER_TRANSLATE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "llmux.h"

/* Caps on what one client request may hold (each past its cap → 400 naming it). The body itself
 * is capped before parsing (lx_server_params.max_body_bytes). */
#define LX_SRV_MAX_MESSAGES 4096
#define LX_SRV_MAX_PARTS 1024  /* per message */
#define LX_SRV_MAX_TOOLS 512
#define LX_SRV_MAX_STOP 16
#define LX_SRV_MAX_JSON_DEPTH 64

/* LX_SRV_OPENAI_TEXT: the legacy OpenAI text completions (POST /v1/completions); its errors are
 * OpenAI's. */
/* LX_SRV_OPENAI_RESPONSES: OpenAI's Responses API (POST /v1/responses, responses.c); its errors
 * are OpenAI's. */
typedef enum lx_srv_format {
    LX_SRV_OPENAI = 0,
    LX_SRV_ANTHROPIC = 1,
    LX_SRV_OPENAI_TEXT = 2,
    LX_SRV_OPENAI_RESPONSES = 3
} lx_srv_format;

/* A translated request and everything it points to: strings borrow from the parsed JSON (kept
 * here), arrays and generated strings are owned by the bag. Released with lx_srv_req_free. */
typedef struct lx_srv_req {
    llmux_request req;
    json_t *root;
    void **allocs;           /* every allocation the request points to */
    size_t n_allocs, cap_allocs;
    bool include_usage;      /* OpenAI stream_options.include_usage */
    /* Responses API only: previous_response_id (borrowed from root; NULL when absent) and store
     * (true unless the client sent store: false). The server resolves the first against its
     * stored responses (response_store.h) before it submits. */
    const char *previous_response_id;
    bool store;
    /* Responses API only: the names of the client's custom (freeform) tools, which go to the
     * backend as function tools taking one string, `input` (borrowed from root). */
    const char **custom_tools;
    size_t n_custom_tools;
} lx_srv_req;

/* A set of tool names, owned (the custom tools of a Responses request, kept by its call and
 * stream after the request is gone). */
typedef struct lx_srv_names {
    char **v;
    size_t n;
} lx_srv_names;
bool lx_srv_names_copy(lx_srv_names *dst, const char *const *src, size_t n); /* false: out of memory */
void lx_srv_names_free(lx_srv_names *x);
bool lx_srv_names_has(const lx_srv_names *x, const char *name); /* x may be NULL */
/* A custom tool call's raw input from the arguments the backend produced for its function form:
 * the string `input` of the arguments object, else the arguments text itself (a model that
 * answered without the JSON wrapping). Malloc'd; NULL when out of memory. */
char *lx_srv_custom_input(const char *arguments, size_t len);

/* Parses and translates a client body (len bytes, need not be NUL-terminated). On success *out
 * is owned by the caller (lx_srv_req_free). On failure returns LLMUX_E_INVALID_REQUEST with a
 * message naming the field ("messages[2].content[0].type: ...") and *out is NULL. */
llmux_status lx_srv_openai_request(const char *body, size_t len, lx_srv_req **out, llmux_error_info *err);
llmux_status lx_srv_anthropic_request(const char *body, size_t len, lx_srv_req **out, llmux_error_info *err);
/* POST /v1/completions (completions.c): the prompt becomes one user message with
 * provider_options {"local": {"raw_prompt": true}} (a local model continues the raw text; a remote
 * one gets a chat turn), max_tokens defaults to 16 as in OpenAI's API; echo, suffix, best_of > 1,
 * n > 1 and logprobs are refused. */
llmux_status lx_srv_completions_request(const char *body, size_t len, lx_srv_req **out, llmux_error_info *err);
/* POST /v1/messages/count_tokens (count_tokens.c): a Messages body without max_tokens (any
 * max_tokens is ignored) and without stream. */
llmux_status lx_srv_count_tokens_request(const char *body, size_t len, lx_srv_req **out, llmux_error_info *err);
/* An item_reference's target: a new reference to the stored item with that id (an input or
 * output item of an earlier response); NULL with err saying why when there is none, or when it
 * belongs to previous_response_id (NULL: none), whose items the conversation holds already. */
typedef json_t *(*lx_srv_item_lookup)(void *ctx, const char *item_id, const char *previous_response_id,
                                      llmux_error_info *err);
/* POST /v1/responses (responses.c): input (a string, or message, function_call,
 * function_call_output, reasoning and item_reference items), instructions, flat function tools,
 * tool_choice, parallel_tool_calls, text.format, reasoning.effort, max_output_tokens,
 * temperature, top_p, stream, store, previous_response_id (read into r, not resolved here).
 * An item_reference is replaced by lookup(ctx, id, ...) before the input is read (no lookup,
 * no such item, an id named twice, or more than LLMUX_JSON_MAX_BYTES of referenced items → 400).
 * conversation and background are refused; built-in tools and other item types too. */
llmux_status lx_srv_responses_request(const char *body, size_t len, lx_srv_item_lookup lookup, void *ctx,
                                      lx_srv_req **out, llmux_error_info *err);
void lx_srv_req_free(lx_srv_req *r);
/* The client's anthropic-beta header (NULL: none) as provider_options.anthropic.betas, which an
 * Anthropic backend sends back as its anthropic-beta header (other backends ignore it): Claude
 * Code's betas (interleaved thinking, the 1M context) reach the provider. At most 32 names of
 * A-Z a-z 0-9 . _ - (each at most 128), comma-separated; anything else is a 400. */
bool lx_srv_anthropic_betas(lx_srv_req *r, const char *header, llmux_error_info *err);

/* Helpers the translators share (request_common.c). */
/* The start every translator shares: a default request, the body parsed as one object (root),
 * a non-empty "model" string. NULL (err filled, nothing left behind) when any of it fails. */
lx_srv_req *lx_srv_req_begin(const char *body, size_t len, llmux_error_info *err);
/* An OpenAI-style image URL into an IMAGE part: "data:<mime>;base64,<data>" as mime_type + data,
 * anything else as image_url. False (err names `where`) for a malformed data URL. */
bool lx_srv_image_url(lx_srv_req *r, const char *url, const char *where, llmux_part *p, llmux_error_info *err);
/* Appends {key: value (copied)} to the request's metadata (the caller's own tags come first);
 * false when out of memory. */
bool lx_srv_tag(lx_srv_req *r, const char *key, const char *value);
/* OpenAI's request fields that name the caller or steer the provider (Chat Completions,
 * Responses): prompt_cache_key, safety_identifier, user and service_tier, each as the request's
 * metadata of that name. The openai adapters send them back to OpenAI's own API only; the
 * anthropic adapter makes `user` its metadata.user_id. False (err filled) when one is not a
 * string of 1..1024 (prompt_cache_key), 1..256 (safety_identifier, user) or 1..32 (service_tier)
 * characters. */
bool lx_srv_openai_tags(lx_srv_req *r, llmux_error_info *err);
/* Sets provider_options[provider][key] = value in the request (key NULL: provider_options[provider]
 * = value), keeping what is there; value is taken. False (err filled) when out of memory. */
bool lx_srv_option_set(lx_srv_req *r, const char *provider, const char *key, json_t *value, llmux_error_info *err);
/* The sampling fields OpenAI-compatible servers add (llama-server, vLLM, OpenRouter): top_k (-1
 * and 0 mean off there: unset), min_p, repetition_penalty or llama-server's repeat_penalty, into
 * the canonical sampling (local models and compatible servers read all three, Anthropic top_k,
 * OpenAI's own API none). */
bool lx_srv_vendor_sampling(lx_srv_req *r, llmux_error_info *err);
/* Every top-level field of the body not named in known (NULL-terminated: what the endpoint reads
 * or deliberately leaves out) as provider_options.openai_chat: a Chat Completions backend gets
 * them as sent (vLLM's chat_template_kwargs, OpenRouter's provider, llama-server's grammar, ...;
 * OpenAI's own API only those of its own API: providers.md), others ignore them. At most
 * LX_SRV_MAX_EXTRAS fields. */
#define LX_SRV_MAX_EXTRAS 64
bool lx_srv_chat_extras(lx_srv_req *r, const char *const *known, llmux_error_info *err);
/* An OpenAI-style file (a Chat Completions part's "file" object, a Responses input_file item):
 * file_data, a base64 data URL, as data + mime_type, or file_url; filename as the part's name.
 * An uploaded file_id is refused (err names `where`). */
bool lx_srv_file(lx_srv_req *r, const json_t *f, const char *where, llmux_part *p, llmux_error_info *err);
/* An effort name as OpenAI spells it ("none" and "minimal" the least, "xhigh" the most) into
 * *out; false for any other value. */
bool lx_srv_effort(const char *name, llmux_reasoning_effort *out);
void *lx_srv_alloc(lx_srv_req *r, size_t size);          /* zeroed; NULL when out of memory */
char *lx_srv_strdup(lx_srv_req *r, const char *s, size_t n);
char *lx_srv_dump(lx_srv_req *r, const json_t *v);      /* compact JSON text of v */
llmux_status lx_srv_fail(llmux_error_info *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Parses the body as one JSON object with the depth cap. NULL (err filled) when it is not one. */
json_t *lx_srv_parse_object(const char *body, size_t len, llmux_error_info *err);
/* Reads an optional number / integer / bool field: true when absent or valid (then *out set when
 * present); false (err filled, naming `name`) when of the wrong type or out of range. */
bool lx_srv_opt_number(const json_t *obj, const char *name, double lo, double hi, double *out, llmux_error_info *err);
bool lx_srv_opt_int(const json_t *obj, const char *name, int64_t lo, int64_t hi, int64_t *out, llmux_error_info *err);
bool lx_srv_opt_bool(const json_t *obj, const char *name, bool *out, llmux_error_info *err);
/* An optional string field: true when absent (*out NULL) or a string. */
bool lx_srv_opt_string(const json_t *obj, const char *name, const char **out, llmux_error_info *err);
/* root[field] as the request's stop sequences: an array of non-empty strings (or one string when
 * string_ok), at most LX_SRV_MAX_STOP; absent or null = none. */
bool lx_srv_stop_list(lx_srv_req *r, const json_t *root, const char *field, bool string_ok, llmux_error_info *err);
/* obj's cache breakpoint into *out (the longer lifetime when both are there; absent or null
 * leaves *out): Anthropic-style "cache_control" ({"type": "ephemeral"}, optional "ttl" "5m" |
 * "1h"), and OpenAI's "prompt_cache_breakpoint" ({"mode": "explicit"}, optional "ttl" "30m" →
 * 5m, "12h" → 1h). False (err naming `where`) for any other value. Anthropic's API takes
 * cache_control on system blocks, tools and content blocks; OpenAI-format clients (LiteLLM's and
 * OpenRouter's convention) put it on content parts and tools; OpenAI's own API (gpt-5.6 and
 * later) takes prompt_cache_breakpoint on content parts. */
bool lx_srv_cache_control(const json_t *obj, const char *where, llmux_cache *out, llmux_error_info *err);
/* OpenAI's stream_options: {"include_usage": bool} into r->include_usage; absent or null = off. */
bool lx_srv_stream_options(lx_srv_req *r, const json_t *root, llmux_error_info *err);

/* ----------------------------------------------------------------- output */

/* The final, non-streamed answer in the client's format (JSON text, malloc'd; NULL when out of
 * memory). created: unix seconds. */
char *lx_srv_openai_response(const llmux_response *resp, const char *id, const char *model, long created);
char *lx_srv_anthropic_response(const llmux_response *resp, const char *id, const char *model);
/* The Responses API's response object (responses.c), and its pieces the stream encoder shares:
 * the usage object, a reasoning item (summary text, the signature as id + encrypted_content), the
 * response object around an output array (taken) and the status of a finish reason. */
char *lx_srv_responses_response(const llmux_response *resp, const char *id, const char *model, long created,
                                const char *previous_response_id, bool store, const lx_srv_names *custom);
/* A custom tool call as its output item (custom_tool_call with the raw input); NULL when out of
 * memory. */
json_t *lx_srv_responses_custom_call(const char *item_id, const char *status, const char *call_id, const char *name,
                                     const char *input);
json_t *lx_srv_responses_usage(const llmux_usage *u);
json_t *lx_srv_responses_reasoning_item(const char *item_id, const char *text, const char *signature);
/* A stored conversation (canonical messages) as the Responses input items a client sent for it,
 * in order (GET /v1/responses/{id}/input_items, item_reference): user and system messages as
 * message items, an assistant turn's parts as message, function_call and reasoning items, tool
 * results as function_call_output items. Item k's id is "<msg|fc|rs|fco>_<resp_id without
 * resp_>_in<k>", stable for the same conversation. A new array, NULL when out of memory. */
json_t *lx_srv_responses_input_items(const llmux_message *msgs, size_t n, const char *resp_id);
json_t *lx_srv_responses_object(const char *id, const char *model, long created, const char *status, json_t *output,
                                const llmux_usage *usage, const char *incomplete_reason);
const char *lx_srv_responses_status(llmux_finish_reason r, const char **incomplete);
/* Sets a response object's previous_response_id (NULL: null) and store; accepts a NULL o. */
void lx_srv_responses_state(json_t *o, const char *previous_response_id, bool store);
/* The text_completion object (completions.c). */
char *lx_srv_completions_response(const llmux_response *resp, const char *id, const char *model, long created);

/* ------------------------------------------------------------- embeddings */

#define LX_SRV_MAX_EMBED_INPUTS 2048 /* OpenAI's own cap on inputs per request */

/* A translated POST /v1/embeddings body (embeddings_json.c). Strings borrow from root. */
typedef struct lx_srv_embed {
    llmux_embed_request req;
    json_t *root;
    const char **inputs;
    bool base64;         /* encoding_format "base64": little-endian float32 bytes, base64 */
} lx_srv_embed;

/* Parses an embeddings body: model, input (a string or an array of strings; token arrays are
 * refused), encoding_format ("float" | "base64"), dimensions (>= 1), user (ignored). On failure
 * LLMUX_E_INVALID_REQUEST naming the field, *out NULL. */
llmux_status lx_srv_embed_request(const char *body, size_t len, lx_srv_embed **out, llmux_error_info *err);
void lx_srv_embed_free(lx_srv_embed *e);
/* The OpenAI list of embedding objects (malloc'd JSON text; NULL when out of memory). */
char *lx_srv_embed_response(const llmux_embeddings *e, const char *model, bool base64);

/* A JSON string of n bytes of model output; bytes that are not UTF-8 (a local model can emit
 * them) become U+FFFD instead of failing the whole answer. New reference; NULL when out of memory. */
json_t *lx_srv_json_text(const char *p, size_t n);

/* Whether a Responses input item of this type is a hosted tool's (web_search_call,
 * file_search_call, ...): kept whole as a NATIVE part of format openai_responses. */
bool lx_srv_responses_hosted_item(const char *type);
/* A NATIVE part's or event's item (len bytes of JSON text) as a Responses output item: a new
 * reference when format is "openai_responses" and the text is an object with a type, else NULL. */
json_t *lx_srv_responses_native_item(const char *format, const char *text, size_t len);
/* A NATIVE part's or event's block (len bytes of JSON text) as an Anthropic content block: a new
 * reference when format is "anthropic" and the text is a JSON object, else NULL (the part is
 * another provider's, or out of memory: left out of the answer). */
json_t *lx_srv_native_block(const char *format, const char *text, size_t len);

/* Usage objects in each format (unknown counts as 0); new references, NULL when out of memory. */
json_t *lx_srv_openai_usage(const llmux_usage *u);
json_t *lx_srv_anthropic_usage(const llmux_usage *u);
/* lx_srv_openai_usage's object as compact JSON text (the bytes json_dumps writes for it) into
 * out, NUL-terminated: five integers of at most 20 characters and the keys fit. */
#define LX_SRV_USAGE_TEXT_MAX 256
void lx_srv_openai_usage_text(const llmux_usage *u, char out[LX_SRV_USAGE_TEXT_MAX]);
/* An error object in the client's format (new reference; NULL when out of memory); a NULL or
 * empty message becomes the class's llmux_strerror. */
json_t *lx_srv_error_json(lx_srv_format f, llmux_status st, const char *message);

/* An error body in the client's format (malloc'd JSON text; NULL when out of memory). */
char *lx_srv_error_body(lx_srv_format f, llmux_status st, const char *message);

/* Streaming: canonical events in, the client's SSE bytes out. One per streamed request. */
typedef struct lx_srv_stream lx_srv_stream;

/* id: the response id the client sees; model: what the client asked for. NULL when out of memory. */
lx_srv_stream *lx_srv_stream_create(lx_srv_format f, const char *id, const char *model, long created,
                                    bool include_usage);
void lx_srv_stream_free(lx_srv_stream *s);
/* Responses streams: the continuation state every response object carries. With store, the text
 * of the final response object (response.completed / incomplete) is kept for
 * lx_srv_stream_take_final. False when out of memory. */
bool lx_srv_stream_responses_state(lx_srv_stream *s, const char *previous_response_id, bool store);
/* Responses streams: calls of these tools are custom_tool_call items (their raw input, once the
 * call is complete) instead of function_call items. False when out of memory. */
bool lx_srv_stream_custom_tools(lx_srv_stream *s, const char *const *names, size_t n);
/* The kept final response object (malloc'd JSON text, the caller's), NULL when there is none. */
char *lx_srv_stream_take_final(lx_srv_stream *s);
/* Appends the SSE text one event produces to *out (a malloc'd, NUL-terminated buffer the caller
 * frees; NULL when the event produces nothing). ERROR after the stream began → an in-stream error
 * event; FINISH → the closing events (finish chunk, usage, [DONE] / message_delta, message_stop).
 * False when out of memory. */
bool lx_srv_stream_event(lx_srv_stream *s, const llmux_event *ev, char **out);
/* A keep-alive: an Anthropic `ping` event, an SSE comment for OpenAI (malloc'd). */
char *lx_srv_stream_ping(lx_srv_stream *s);
/* Whether the stream has produced its terminal events. */
bool lx_srv_stream_ended(const lx_srv_stream *s);

/* "stop", "length", "tool_calls", "content_filter" / "end_turn", "max_tokens", "tool_use",
 * "refusal". tool_calls_seen: the answer holds a tool call, which then wins over a plain stop
 * (whatever backend answered, a tool call comes back as one). */
const char *lx_srv_openai_finish(llmux_finish_reason r, bool tool_calls_seen);
const char *lx_srv_anthropic_stop(llmux_finish_reason r, bool tool_calls_seen);

#endif
