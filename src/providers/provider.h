/* The interface every wire-protocol adapter implements (DESIGN.md §3, providers/).
 *
 * An adapter is pure translation: canonical request -> wire request (path, headers, body), and
 * wire response bytes -> canonical events. It does no I/O; the runtime moves the bytes through
 * the transport. The same decoder handles streaming and non-streaming bodies: a non-streaming
 * body is buffered (capped) and decoded into the same events at the end, so the one aggregator
 * builds every response. */
#ifndef LX_PROVIDER_H
#define LX_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/event_sink.h"
#include "llmux.h"

/* Capabilities an adapter declares. */
enum {
    LX_CAP_TOOLS = 1u << 0,
    LX_CAP_VISION = 1u << 1,
    LX_CAP_JSON_SCHEMA = 1u << 2,
    LX_CAP_REASONING = 1u << 3,
    LX_CAP_EMBEDDINGS = 1u << 4,
    LX_CAP_STREAM_USAGE = 1u << 5,
    LX_CAP_MODEL_LIST = 1u << 6
};


/* Where and how to reach one provider (set-once configuration). Borrowed strings. */
typedef struct lx_provider_config {
    const char *name;      /* configured name: "openai", "openrouter", "vllm"... */
    const char *base_url;  /* e.g. "https://api.openai.com/v1" (no trailing slash) */
    const char *api_key;   /* NULL = none; a secret: never logged, never in errors/events */
    const char *model;     /* the model name without the "provider/" prefix */
    const char *referer;   /* OpenRouter HTTP-Referer; NULL = none */
    const char *title;     /* OpenRouter X-Title; NULL = none */
} lx_provider_config;

#define LX_WIRE_MAX_HEADERS 16

typedef struct lx_wire_header {
    char name[64];
    char value[1024];
    bool secret;  /* holds a credential: transports and logs must redact it */
} lx_wire_header;

/* One HTTP request to send. `path` is appended to the configured base URL (may hold a query). */
typedef struct lx_wire_request {
    char method[8];   /* "POST" or "GET" */
    char path[1024];
    lx_wire_header headers[LX_WIRE_MAX_HEADERS];
    size_t n_headers;
    lx_buf body;      /* JSON body; empty for GET. Owner: the caller (lx_buf_free). */
    bool stream;      /* the response body is a stream (SSE or NDJSON) */
    /* Media types the 2xx body may have (lx_http_request.accept_types; a static string); NULL =
     * any. Set for streams, so an HTML page answering 200 is named as such, not as a truncated
     * stream. */
    const char *accept_types;
} lx_wire_request;

/* Caps on what an adapter accepts from the wire. */
#define LX_WIRE_MAX_BODY (16u * 1024u * 1024u) /* non-streaming body */
#define LX_WIRE_MAX_LINE (4u * 1024u * 1024u)  /* one SSE event / NDJSON line */
/* A model-list page cursor (Anthropic's last_id, Gemini's nextPageToken): real ones are tens of
 * bytes, anything past this is a broken or hostile server. Small enough that any cursor, every
 * byte percent-encoded (x3), still fits in lx_wire_request.path after the first-page path. */
#define LX_MODELS_CURSOR_MAX 320u

typedef struct lx_decoder lx_decoder;

typedef struct lx_provider {
    const char *protocol;  /* "openai", "openai_responses", "anthropic", "gemini", "ollama" */
    unsigned caps;         /* LX_CAP_* */
    /* Translates a canonical request. Unsupported fields: an error if they change meaning
     * (LLMUX_E_INVALID_REQUEST naming the field), else ignored. out->body must be initialised
     * by the caller (lx_buf_init). */
    llmux_status (*encode)(const lx_provider_config *cfg, const llmux_request *req, lx_wire_request *out,
                           llmux_error_info *err);
    /* A decoder for one response body (stream == the request asked for a stream). NULL on OOM. */
    lx_decoder *(*decoder_create)(const lx_provider_config *cfg, bool stream, lx_event_sink sink);
    /* Feeds raw body bytes, split anywhere. Emits events through the sink as they complete.
     * Returns an error (and emits nothing more) on malformed input or a mid-stream error event
     * from the provider, mapped to the taxonomy (err->provider_* filled). LLMUX_E_CANCELLED when
     * the sink returned false. */
    llmux_status (*decoder_feed)(lx_decoder *d, const char *data, size_t len, llmux_error_info *err);
    /* End of body. Emits what is left, ending with FINISH (or returns an error). A stream that
     * ends without the provider's terminal marker is LLMUX_E_UPSTREAM_PROTOCOL (truncated). */
    llmux_status (*decoder_end)(lx_decoder *d, llmux_error_info *err);
    void (*decoder_destroy)(lx_decoder *d); /* accepts NULL */
    /* How many canonical events the decoder has emitted so far: the runtime's idle timeout
     * measures the gap between changes of this count (lx_http_progress_cb), so keep-alive
     * comments or pings never hold a stream open. NULL = raw bytes count as progress. */
    uint64_t (*decoder_progress)(const lx_decoder *d);
    /* The decoder's emitter (core/emitter.h), the stream guard of its events: the runtime ends a
     * stream the transport cut short through it (lx_emitter_close), so the rule "exactly one
     * terminal event" lives in one place. Required. */
    struct lx_emitter *(*decoder_emitter)(lx_decoder *d);
    /* Maps a non-2xx response (status, body, retry hint or NULL) to the taxonomy. The hint is
     * the Retry-After value, else the reset list of the rate limits the response reports
     * exhausted (lx_ratelimit_retry_hint: parse it with lx_parse_retry_hint). */
    void (*map_error)(int http_status, const char *body, size_t len, const char *retry_after, llmux_error_info *err);
    /* Prefixes of the response header names map_error's hint is read from (the adapter's
     * rate-limit headers, e.g. lx_ratelimit_headers_openai), NULL-terminated; the runtime asks
     * the transport to keep those lines (lx_http_request.keep_header_prefixes). NULL = none. */
    const char *const *keep_headers;
    /* Embeddings: request and whole-body response (capped at LX_WIRE_MAX_BODY). NULL = unsupported. */
    llmux_status (*encode_embed)(const lx_provider_config *cfg, const llmux_embed_request *req, lx_wire_request *out,
                                 llmux_error_info *err);
    llmux_status (*decode_embed)(const lx_provider_config *cfg, const char *body, size_t len, llmux_embeddings **out,
                                 llmux_error_info *err);
    /* Model list, one page per request: request and whole-body response. NULL = unsupported.
     * Ids in the list are prefixed with cfg->name ("openrouter/meta-llama/..."). `cursor` (NULL
     * or "" = the first page) is what decode_models returned in `next` for the previous page;
     * it is upstream data, so encode_models percent-encodes it. decode_models writes the next
     * page's cursor into next[next_size] ("" = last page, also on failure); a cursor longer than
     * LX_MODELS_CURSOR_MAX bytes, or than next_size - 1, is LLMUX_E_UPSTREAM_PROTOCOL. */
    llmux_status (*encode_models)(const lx_provider_config *cfg, const char *cursor, lx_wire_request *out,
                                  llmux_error_info *err);
    llmux_status (*decode_models)(const lx_provider_config *cfg, const char *body, size_t len, char *next,
                                  size_t next_size, llmux_model_list **out, llmux_error_info *err);
    /* Token counting of a request's prompt by the provider's own endpoint: request and whole-body
     * response (capped at LX_WIRE_MAX_BODY), *n the input tokens. NULL = the provider has none. */
    llmux_status (*encode_count_tokens)(const lx_provider_config *cfg, const llmux_request *req, lx_wire_request *out,
                                        llmux_error_info *err);
    llmux_status (*decode_count_tokens)(const lx_provider_config *cfg, const char *body, size_t len, int64_t *n,
                                        llmux_error_info *err);
} lx_provider;

/* The adapters. OpenRouter and other OpenAI-compatible servers use lx_provider_openai with
 * their own lx_provider_config. */
extern const lx_provider lx_provider_openai;
extern const lx_provider lx_provider_anthropic;
extern const lx_provider lx_provider_gemini;
extern const lx_provider lx_provider_ollama;
/* OpenAI's Responses API (POST /responses), stateless; protocol "openai_responses". */
extern const lx_provider lx_provider_openai_responses;

#endif
