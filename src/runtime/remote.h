/* Remote execution: one request against one provider (adapter + HTTP transport). */
#ifndef LX_REMOTE_H
#define LX_REMOTE_H

#include <stdint.h>

#include "core/event_sink.h"
#include "llmux.h"
#include "providers/provider.h"

typedef struct lx_http_client lx_http_client;

/* The one place the remote timeout defaults live (milliseconds). */
#define LX_DEFAULT_CONNECT_MS 10000
#define LX_DEFAULT_FIRST_BYTE_MS 120000
#define LX_DEFAULT_IDLE_MS 60000
/* v when set (> 0), else the default. */
static inline int64_t lx_pick_ms(int64_t v, int64_t dflt) { return v > 0 ? v : dflt; }

/* Transport settings for remote requests: the runtime's HTTP client, timeouts (milliseconds;
 * 0 = the defaults above) and the CA bundle. Borrowed: the runtime owns the client. */
typedef struct lx_remote_settings {
    lx_http_client *client; /* required: every transfer runs on this client's loop thread */
    int64_t connect_ms;
    int64_t first_byte_ms;
    int64_t idle_ms;
    const char *ca_bundle;  /* PEM file of trusted CAs; NULL = the system store (borrowed) */
} lx_remote_settings;

/* A resolved remote target: the adapter and its configuration. The strings live in `storage`. */
typedef struct lx_remote_target {
    const lx_provider *provider;
    lx_provider_config cfg;
    char storage[4096];
} lx_remote_target;


/* Resolves "provider/model" with the runtime's provider overrides and the environment variables
 * each official SDK reads (OPENAI_API_KEY/OPENAI_BASE_URL, ANTHROPIC_API_KEY/ANTHROPIC_BASE_URL,
 * GEMINI_API_KEY, OPENROUTER_API_KEY, OLLAMA_HOST). Errors: MODEL_NOT_FOUND (unknown provider),
 * AUTHENTICATION (a provider that needs a key has none: the message names the variable). */
llmux_status lx_remote_resolve(const char *model_spec, const llmux_provider_params *providers, size_t n_providers,
                               lx_remote_target *out, llmux_error_info *err);

/* Runs on the HTTP client's loop thread when a started attempt ended: st and err (borrowed for
 * the call) as lx_remote_run would return them; the stream rules of lx_remote_run hold. */
typedef void (*lx_remote_done_cb)(void *user_data, llmux_status st, const llmux_error_info *err);

/* Starts the request on the client's loop and returns at once (no thread waits for it): events
 * reach sink on the loop thread, then done runs there once. t and req need only live until this
 * returns: the request is encoded and the target's configuration copied (the key wiped when the
 * attempt ends).
 * On failure (encoding, URL, cancelled, out of memory) nothing was emitted and done never runs. */
llmux_status lx_remote_start(const lx_remote_target *t, const llmux_request *req, const llmux_cancel *cancel,
                             int64_t deadline_ns, const lx_remote_settings *settings, lx_event_sink sink,
                             lx_remote_done_cb done, void *user_data, llmux_error_info *err);

/* Blocking form of lx_remote_start (waits on the calling thread, which must not be the loop
 * thread; the sink runs on the loop thread). Runs the request: encode, send, stream the body through the adapter's decoder into sink.
 * Cancellation (token, deadline, or sink returning false) aborts the transfer and closes the
 * socket promptly. Every accepted request ends with exactly one FINISH or ERROR event through
 * the sink (a failure before any event is returned without emitting, so the caller may retry
 * or fall back). deadline_ns: CLOCK_MONOTONIC instant, 0 = none. */
llmux_status lx_remote_run(const lx_remote_target *t, const llmux_request *req, const llmux_cancel *cancel,
                           int64_t deadline_ns, const lx_remote_settings *timeouts, lx_event_sink sink,
                           llmux_error_info *err);

/* Resolution details (lx_remote_resolve):
 *  - The provider name is the spec up to the first '/', the model everything after it:
 *    "openrouter/meta-llama/llama-3.1-8b-instruct" -> openrouter, "meta-llama/llama-3.1-8b-instruct".
 *  - Built-in names: openai (https://api.openai.com/v1, OPENAI_API_KEY, OPENAI_BASE_URL),
 *    anthropic (https://api.anthropic.com/v1, ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL), gemini
 *    (https://generativelanguage.googleapis.com/v1beta, GEMINI_API_KEY, else GOOGLE_API_KEY),
 *    openrouter (https://openrouter.ai/api/v1, OPENROUTER_API_KEY, protocol openai), ollama
 *    (http://127.0.0.1:11434 or OLLAMA_HOST, no key). A llmux_provider_params entry with the same
 *    name overrides the environment field by field (base_url, api_key, protocol); any other name
 *    needs an entry with a base_url and speaks "openai" unless it sets a protocol; its key is
 *    optional.
 *  - Anthropic base URLs follow the SDK's convention (no version: ANTHROPIC_BASE_URL=
 *    "https://api.anthropic.com"): "/v1" is appended when the URL does not already end with it,
 *    whether it came from the environment or from params. OLLAMA_HOST (and an ollama base_url)
 *    may lack a scheme ("host", "host:port", ":port"): http and port 11434 are assumed, as
 *    Ollama's own client does. A trailing '/' is removed; other URLs must start with http(s)://.
 *  - The four hosted providers fail with LLMUX_E_AUTHENTICATION naming the variable when no key is
 *    found, before any network I/O.
 *  - The target's cfg points into its own storage: do not copy a target by value.
 *
 * Remote requests run on the runtime's HTTP client (lx_remote_settings.client): one loop thread
 * and one connection cache per runtime, released by llmux_runtime_destroy. */

/* ------------------------------------------- embeddings and model lists (remote_embed_models.c) */

/* Resolves a bare provider name ("openrouter", "ollama", a configured custom name) the way
 * lx_remote_resolve resolves "<name>/<model>" (same environment variables and overrides, same
 * errors); out->cfg.model is NULL. A name that is empty, holds a '/' or is longer than 64 bytes
 * is LLMUX_E_INVALID_REQUEST. */
llmux_status lx_remote_resolve_provider(const char *name, const llmux_provider_params *providers, size_t n_providers,
                                        lx_remote_target *out, llmux_error_info *err);

/* Embeds req->inputs with the target's adapter: encode_embed, one HTTP request whose 2xx body is
 * buffered (capped at LX_WIRE_MAX_BODY), decode_embed. Errors: LLMUX_E_INVALID_REQUEST when the
 * adapter has no embeddings (Anthropic) or the request is malformed; a non-2xx answer through the
 * adapter's map_error; LLMUX_E_UPSTREAM_PROTOCOL for a malformed body or a vector count other than
 * req->n_inputs; transport errors as lx_http_request_run. On success *out is the caller's
 * (llmux_embeddings_free); on failure it is NULL. deadline_ns as for lx_remote_run. */
llmux_status lx_remote_embed(const lx_remote_target *t, const llmux_embed_request *req, const llmux_cancel *cancel,
                             int64_t deadline_ns, const lx_remote_settings *timeouts, llmux_embeddings **out,
                             llmux_error_info *err);

/* Counts req's input tokens with the provider's own endpoint (encode_count_tokens /
 * decode_count_tokens: Anthropic's /v1/messages/count_tokens, Gemini's countTokens).
 * LLMUX_E_INVALID_REQUEST when the provider has none (OpenAI, Ollama). Otherwise as
 * lx_remote_embed. */
llmux_status lx_remote_count_tokens(const lx_remote_target *t, const llmux_request *req, const llmux_cancel *cancel,
                                    int64_t deadline_ns, const lx_remote_settings *timeouts, int64_t *n,
                                    llmux_error_info *err);

/* Lists the target provider's models (encode_models / decode_models), every page: the adapter's
 * cursor is followed until a page has none, all pages in one list in order. deadline_ns and
 * cancel cover the whole walk. LLMUX_E_UPSTREAM_PROTOCOL for a cursor that repeats the previous
 * one, more than LX_MODELS_MAX_PAGES pages or LX_MODELS_MAX models; an error on any page fails the call
 * (no partial list). Otherwise as lx_remote_embed. *out is the caller's (llmux_model_list_free). */
llmux_status lx_remote_list_models(const lx_remote_target *t, const llmux_cancel *cancel, int64_t deadline_ns,
                                   const lx_remote_settings *timeouts, llmux_model_list **out, llmux_error_info *err);

#endif
