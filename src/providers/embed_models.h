/* Embeddings and model lists: the optional entry points of each adapter (provider.h) and the
 * helpers they share. Whole bodies, no streaming: the runtime buffers a 2xx body (capped at
 * LX_WIRE_MAX_BODY) and hands it to decode_*. Not for other modules. */
#ifndef LX_PROVIDERS_EMBED_MODELS_H
#define LX_PROVIDERS_EMBED_MODELS_H

#include <jansson.h>

#include "providers/provider.h"

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
json_t *lx_body_object(const char *body, size_t len, const char *who, const char *what, llmux_error_info *err);

/* The error a 2xx body carries instead of the expected array (OpenRouter and proxies answer
 * some failures that way), mapped with the adapter's own taxonomy; LLMUX_OK when the body holds
 * no error. `who` names the configured provider. */
typedef llmux_status (*lx_body_error_fn)(const json_t *body, const char *who, llmux_error_info *err);

/* body[key] when it is an array. Otherwise NULL with *st set: the body's own error
 * (body_error), else LLMUX_E_UPSTREAM_PROTOCOL "<who>: <what>: <key>: missing or not an array". */
json_t *lx_body_array(const json_t *body, const char *key, const char *what, const char *who,
                      lx_body_error_fn body_error, llmux_status *st, llmux_error_info *err);

/* The body of an OpenAI-style embed endpoint (OpenAI, Ollama): {"model", "input": [...],
 * "dimensions" when asked, extra_key: extra_value when extra_key is not NULL}, then
 * provider_options[base] and, for a provider configured under another name, provider_options[who]
 * merged on top (callers override what the adapter wrote). Written into out->body. */
llmux_status lx_embed_openai_body(const llmux_embed_request *req, const char *model, const char *base, const char *who,
                                  const char *extra_key, const char *extra_value, lx_wire_request *out,
                                  llmux_error_info *err);
/* Embeddings from a JSON array holding one vector per input, in input order: each element
 * itself (key NULL) or its `key` field. More than LX_EMBED_MAX_VECTORS elements is
 * LLMUX_E_UPSTREAM_PROTOCOL; what_fmt names row i in messages (lx_embeddings_from_json_rows). */
llmux_status lx_embed_rows(const json_t *arr, const char *key, const char *who, const char *what_fmt,
                           llmux_embeddings **out, llmux_error_info *err);
/* Sets the result's model and provider; out of memory frees *out, sets it to NULL and returns
 * LLMUX_E_OUT_OF_MEMORY. */
llmux_status lx_embed_set_meta(llmux_embeddings **out, const char *model, const char *who, llmux_error_info *err);

/* Where a model-list body keeps its entries; lx_models_decode_page walks it. Every entry's id
 * (id_key, else alt_id_key) must be a non-empty string; it becomes "<who>/<id>". */
typedef struct lx_model_list_layout {
    const char *array;        /* the list's field: "data", "models" */
    bool may_be_absent;       /* an absent field is an empty list (proto3 leaves empty lists out) */
    const char *id_key;       /* "id", "name" */
    const char *alt_id_key;   /* tried when id_key is missing or empty; may be NULL */
    const char *strip_prefix; /* dropped from the id when more follows ("models/"); may be NULL */
    const char *name_key;     /* the display name; may be NULL */
    lx_body_error_fn body_error;
    /* Copies what else the adapter knows about an entry (limits, prices); may be NULL. */
    void (*fill)(llmux_model_info *m, const json_t *item, const lx_provider_config *cfg);
    /* Pagination; both NULL = one page holds everything. cursor_key names the next page's
     * cursor (a string; absent, null or "" = none). When more_key is set (Anthropic's
     * has_more), the cursor counts only when that boolean is true, and must then be there. */
    const char *cursor_key;   /* "last_id", "nextPageToken" */
    const char *more_key;     /* "has_more"; may be NULL */
} lx_model_list_layout;

/* Decodes a whole 2xx model-list page laid out as `layout` says, as decode_models in
 * provider.h. *out: a new list (the caller frees it) or NULL on failure: LLMUX_E_UPSTREAM_PROTOCOL
 * for a malformed body (a wrongly typed cursor or more_key included), the mapped error for an
 * error body, LLMUX_E_OUT_OF_MEMORY. next: the cursor, "" for none and on failure. */
llmux_status lx_models_decode_page(const lx_model_list_layout *layout, const lx_provider_config *cfg, const char *who,
                                   const char *body, size_t len, char *next, size_t next_size,
                                   llmux_model_list **out, llmux_error_info *err);

/* Sets out to GET `first` (a path that already holds a query, "/models?limit=1000"), followed
 * by "&<param>=<cursor percent-encoded>" when cursor is neither NULL nor "". Everything but
 * RFC 3986's unreserved characters is encoded. LLMUX_E_UPSTREAM_PROTOCOL when the cursor is over
 * LX_MODELS_CURSOR_MAX bytes or the encoded path does not fit in out->path (the cursor came from
 * the server). */
llmux_status lx_models_page_path(lx_wire_request *out, const char *first, const char *param, const char *cursor,
                                 const char *who, llmux_error_info *err);

/* ------------------------------------------------------------ adapters */

llmux_status lx_openai_encode_embed(const lx_provider_config *cfg, const llmux_embed_request *req, lx_wire_request *out,
                                    llmux_error_info *err);
llmux_status lx_openai_decode_embed(const lx_provider_config *cfg, const char *body, size_t len, llmux_embeddings **out,
                                    llmux_error_info *err);
llmux_status lx_openai_encode_models(const lx_provider_config *cfg, const char *cursor, lx_wire_request *out,
                                     llmux_error_info *err);
llmux_status lx_openai_decode_models(const lx_provider_config *cfg, const char *body, size_t len, char *next,
                                     size_t next_size, llmux_model_list **out, llmux_error_info *err);
/* OpenRouter's price strings (USD per token, e.g. "0.0000025") as USD per million tokens,
 * computed from the decimal digits so "0.00003" gives exactly 30. NaN when absent, unparsable
 * or negative (OpenRouter's "-1" marks a price that varies per request). */
double lx_openrouter_price_per_million(const json_t *v);

llmux_status lx_anthropic_encode_models(const lx_provider_config *cfg, const char *cursor, lx_wire_request *out,
                                        llmux_error_info *err);
llmux_status lx_anthropic_decode_models(const lx_provider_config *cfg, const char *body, size_t len, char *next,
                                        size_t next_size, llmux_model_list **out, llmux_error_info *err);

llmux_status lx_gemini_encode_embed(const lx_provider_config *cfg, const llmux_embed_request *req, lx_wire_request *out,
                                    llmux_error_info *err);
llmux_status lx_gemini_decode_embed(const lx_provider_config *cfg, const char *body, size_t len, llmux_embeddings **out,
                                    llmux_error_info *err);
llmux_status lx_gemini_encode_models(const lx_provider_config *cfg, const char *cursor, lx_wire_request *out,
                                     llmux_error_info *err);
llmux_status lx_gemini_decode_models(const lx_provider_config *cfg, const char *body, size_t len, char *next,
                                     size_t next_size, llmux_model_list **out, llmux_error_info *err);

llmux_status lx_ollama_encode_embed(const lx_provider_config *cfg, const llmux_embed_request *req, lx_wire_request *out,
                                    llmux_error_info *err);
llmux_status lx_ollama_decode_embed(const lx_provider_config *cfg, const char *body, size_t len, llmux_embeddings **out,
                                    llmux_error_info *err);
llmux_status lx_ollama_encode_models(const lx_provider_config *cfg, const char *cursor, lx_wire_request *out,
                                     llmux_error_info *err);
llmux_status lx_ollama_decode_models(const lx_provider_config *cfg, const char *body, size_t len, char *next,
                                     size_t next_size, llmux_model_list **out, llmux_error_info *err);

#endif
