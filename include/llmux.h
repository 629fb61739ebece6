/*
 * llmux — one inference runtime for remote providers and local GGUF models.
 *
 * This header is the public contract. Conventions, everywhere below:
 *
 *  - Public names start with `llmux_`. Opaque handles come with a create/destroy pair and every
 *    destroy function accepts NULL. Constructors take a params struct that comes from a
 *    `*_default_params()` function, so new fields never break callers.
 *  - Strings are NUL-terminated UTF-8. A NULL string means "absent".
 *  - Ownership: structs the caller builds (llmux_request and everything it points to) stay owned
 *    by the caller; the library copies what it needs and never frees them. Objects the library
 *    returns (llmux_response, a decoded llmux_request, JSON text) are owned by the caller and
 *    released with the free function named in their comment. Pointers inside a callback argument
 *    (llmux_event) are valid only during the callback.
 *  - Errors: functions return llmux_status (LLMUX_OK on success). Those that take a
 *    `llmux_error_info *err` fill it on failure when it is not NULL. When a function fails, its
 *    callbacks have not fired and its out-pointers are set to NULL.
 *  - Thread-safety: pure functions (names, JSON encode/decode, defaults) are safe from any thread.
 *    A llmux_runtime may be used from several threads at once; a cancel token may be triggered
 *    from any thread (including signal handlers). A response or decoded request is not shared
 *    state: one thread at a time.
 *  - Out of memory: every allocation is checked; a failure is reported as LLMUX_E_OUT_OF_MEMORY.
 *  - Growing without breaking the ABI: functions and fields are only ever appended; structs
 *    nested by value in public structs come last in them and carry reserved space of their own
 *    (always zero: never read or write it); params structs come from `*_default_params()`, so a
 *    caller compiled against an older header gets defaults for the fields it does not know.
 *    Structs a caller builds arrays of (llmux_part, llmux_tool, llmux_message) change stride
 *    when they grow: while the API is 0.x such a change needs a rebuild, and docs/api-changes.md
 *    says so. libllmux.so exports llmux_* only (LLMUX_API), with SOVERSION 0 while the API is 0.x.
 */
#ifndef LLMUX_H
#define LLMUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the public API: the only symbols libllmux.so exports (the rest is built hidden, and a
 * linker version script keeps everything but llmux_* local). */
#if defined(__GNUC__) || defined(__clang__)
#define LLMUX_API __attribute__((visibility("default")))
#else
#define LLMUX_API
#endif

/* ---------------------------------------------------------------- version */

#define LLMUX_VERSION_MAJOR 0
#define LLMUX_VERSION_MINOR 1
#define LLMUX_VERSION_PATCH 0
#define LLMUX_VERSION_NUM ((LLMUX_VERSION_MAJOR << 16) | (LLMUX_VERSION_MINOR << 8) | LLMUX_VERSION_PATCH)
#define LLMUX_VERSION_STRING "0.1.0"

/* The version of the linked library, as "MAJOR.MINOR.PATCH" (static storage). */
LLMUX_API const char *llmux_version(void);
/* The version of the linked library as LLMUX_VERSION_NUM would spell it. */
LLMUX_API unsigned llmux_version_num(void);

/* ----------------------------------------------------------------- errors */

/* One taxonomy for every provider and the local engine. Append-only: values never change,
 * new classes are added last. */
typedef enum llmux_status {
    LLMUX_OK = 0,
    LLMUX_E_INVALID_REQUEST = 1,   /* the request is malformed or unsupported (HTTP 400) */
    LLMUX_E_AUTHENTICATION = 2,    /* missing or wrong credentials (401) */
    LLMUX_E_PERMISSION = 3,        /* credentials valid, access denied (403) */
    LLMUX_E_MODEL_NOT_FOUND = 4,   /* unknown model or model file (404) */
    LLMUX_E_RATE_LIMITED = 5,      /* too many requests; retry after a delay (429) */
    LLMUX_E_CONTEXT_LENGTH = 6,    /* prompt + output exceed the context window (400) */
    LLMUX_E_CONTENT_FILTERED = 7,  /* blocked by a safety filter (400) */
    LLMUX_E_OVERLOADED = 8,        /* provider or engine temporarily overloaded (503) */
    LLMUX_E_UPSTREAM_SERVER = 9,   /* upstream returned a server error (502) */
    LLMUX_E_TIMEOUT = 10,          /* a deadline or timeout expired (504) */
    LLMUX_E_NETWORK = 11,          /* DNS, connect, TLS or reset (502) */
    LLMUX_E_CANCELLED = 12,        /* the caller cancelled (499) */
    LLMUX_E_UPSTREAM_PROTOCOL = 13,/* malformed or truncated upstream response (502) */
    LLMUX_E_CONFIGURATION = 14,    /* bad configuration: missing key, bad path, bad option (500) */
    LLMUX_E_ROUTING = 15,          /* no target could serve the request (502) */
    LLMUX_E_QUEUE_FULL = 16,       /* a bounded queue is full (429) */
    LLMUX_E_OUT_OF_MEMORY = 17,    /* an allocation failed (507) */
    LLMUX_E_INTERNAL = 18          /* a bug in llmux (500) */
} llmux_status;

/* Number of defined status values (LLMUX_OK included); grows as classes are appended. */
#define LLMUX_STATUS_COUNT 19

/* Short stable name, e.g. "rate_limited" ("unknown" for an undefined value). Static storage. */
LLMUX_API const char *llmux_status_name(llmux_status s);
/* One-sentence description, e.g. "rate limited by the provider". Static storage. */
LLMUX_API const char *llmux_strerror(llmux_status s);
/* Whether retrying the same request later can succeed (rate limited, overloaded, server,
 * timeout, network, queue full). */
LLMUX_API bool llmux_status_retryable(llmux_status s);
/* The HTTP status a server answers with for this class (200 for LLMUX_OK). */
LLMUX_API int llmux_status_http(llmux_status s);
/* Parses a name from llmux_status_name(); returns false when unknown. */
LLMUX_API bool llmux_status_from_name(const char *name, llmux_status *out);

/* A failure with its context. Plain data, fixed size: copy it freely. The provider fields keep
 * what the upstream said (0 / "" when the error did not come from a provider). Never holds a
 * secret. */
typedef struct llmux_error_info {
    llmux_status status;
    char message[512];            /* human-readable, names the field or file at fault */
    int provider_status;          /* upstream HTTP status, 0 if none */
    char provider_code[128];      /* upstream error code/type, e.g. "overloaded_error" */
    char provider_message[512];   /* upstream message, truncated */
    int64_t retry_after_ms;       /* delay the upstream asked for, -1 if none */
    int64_t reserved[4];          /* room to grow in place; always 0, never read */
} llmux_error_info;

/* ------------------------------------------------------- canonical request */

typedef enum llmux_role {
    LLMUX_ROLE_SYSTEM = 0,
    LLMUX_ROLE_USER = 1,
    LLMUX_ROLE_ASSISTANT = 2,
    LLMUX_ROLE_TOOL = 3
} llmux_role;

typedef enum llmux_part_type {
    LLMUX_PART_TEXT = 0,        /* text */
    LLMUX_PART_IMAGE = 1,       /* image_url, or data (base64) + mime_type */
    LLMUX_PART_TOOL_CALL = 2,   /* id, name, arguments (JSON text) */
    LLMUX_PART_TOOL_RESULT = 3, /* id (the call answered), text (content), is_error */
    LLMUX_PART_REASONING = 4,   /* text, signature; redacted: text holds the opaque payload */
    LLMUX_PART_FILE = 5,        /* a document (a PDF): data (base64) + mime_type, or image_url as
                                   the document's http(s) URL; name: its file name (optional) */
    LLMUX_PART_NATIVE = 6       /* a content block of one provider's own wire format that llmux
                                   does not model (Anthropic's server_tool_use and
                                   web_search_tool_result, ...): name = the format ("anthropic"),
                                   text = the block, a JSON object text, as that API writes it.
                                   Sent back as is to a provider of that format, left out for the
                                   others (docs/providers.md#native-blocks) */
} llmux_part_type;

/* A prompt-cache breakpoint on a part or a tool (Anthropic's cache_control): the provider caches
 * the prompt up to and including it, for the lifetime named. Providers with explicit caching get
 * it (anthropic; OpenRouter, which passes it to the models that take it); the others cache on
 * their own (OpenAI, Gemini, the local engine's prefix cache) and ignore it. Not on REASONING
 * parts (Anthropic refuses it on thinking blocks: dropped there). */
typedef enum llmux_cache {
    LLMUX_CACHE_NONE = 0,
    LLMUX_CACHE_5M = 1,         /* the provider's default lifetime (Anthropic: 5 minutes) */
    LLMUX_CACHE_1H = 2          /* one hour (Anthropic's ttl "1h"; writes cost more) */
} llmux_cache;

/* A typed content part. Only the fields of its type are read; the others stay NULL/false. */
typedef struct llmux_part {
    llmux_part_type type;
    const char *text;       /* TEXT, TOOL_RESULT content, REASONING text or redacted data,
                               NATIVE the block's JSON */
    const char *image_url;  /* IMAGE, FILE: http(s) URL */
    const char *data;       /* IMAGE, FILE: base64 bytes */
    const char *mime_type;  /* IMAGE: e.g. "image/png" (with data); FILE: "application/pdf" */
    const char *id;         /* TOOL_CALL: call id; TOOL_RESULT: id of the call answered */
    const char *name;       /* TOOL_CALL: tool name; TOOL_RESULT: tool name (optional);
                               FILE: file name (optional); NATIVE: the wire format */
    const char *arguments;  /* TOOL_CALL: arguments, a JSON text */
    const char *signature;  /* REASONING: provider signature that must travel back unchanged */
    bool is_error;          /* TOOL_RESULT: the tool failed */
    bool redacted;          /* REASONING: encrypted/redacted reasoning */
    llmux_cache cache;      /* any type but REASONING: a cache breakpoint after this part */
} llmux_part;

typedef struct llmux_message {
    llmux_role role;
    const llmux_part *parts;
    size_t n_parts;
    const char *name;       /* optional participant name */
} llmux_message;

typedef struct llmux_tool {
    const char *name;
    const char *description;  /* optional */
    const char *parameters;   /* JSON Schema text of the arguments object; NULL = no arguments */
    llmux_cache cache;        /* a cache breakpoint after this tool (the tools come first in the
                                 prompt: caches them all up to here) */
} llmux_tool;

typedef enum llmux_tool_choice {
    LLMUX_TOOL_CHOICE_AUTO = 0,     /* the model decides (default) */
    LLMUX_TOOL_CHOICE_NONE = 1,     /* never call a tool */
    LLMUX_TOOL_CHOICE_REQUIRED = 2, /* call at least one tool */
    LLMUX_TOOL_CHOICE_TOOL = 3      /* call the tool named in tool_choice_name */
} llmux_tool_choice;

/* How much a model that reasons should think before answering. Each provider gets its own form:
 * OpenAI (and OpenAI-compatible servers) reasoning_effort, Anthropic thinking.budget_tokens,
 * Gemini thinkingConfig.thinkingBudget, Ollama think (docs/providers.md#reasoning). */
typedef enum llmux_reasoning_effort {
    LLMUX_REASONING_DEFAULT = 0, /* the provider's and model's default */
    LLMUX_REASONING_NONE = 1,    /* as little as the model allows (off where it can be turned off) */
    LLMUX_REASONING_LOW = 2,
    LLMUX_REASONING_MEDIUM = 3,
    LLMUX_REASONING_HIGH = 4
} llmux_reasoning_effort;

typedef enum llmux_format {
    LLMUX_FORMAT_TEXT = 0,
    LLMUX_FORMAT_JSON_OBJECT = 1,
    LLMUX_FORMAT_JSON_SCHEMA = 2
} llmux_format;

typedef struct llmux_kv {
    const char *key;
    const char *value;
} llmux_kv;

/* Unset sampling values: floats are NaN (test with llmux_is_unset), integers are -1.
 * An unset value means "the provider's or model's default". */
#define LLMUX_UNSET_INT (-1)

typedef struct llmux_sampling {
    double temperature;        /* >= 0; 0 = greedy */
    double top_p;              /* (0, 1] */
    int32_t top_k;             /* >= 1 */
    double min_p;              /* [0, 1] */
    int32_t max_tokens;        /* >= 1: most output tokens */
    const char *const *stop;   /* stop sequences; never part of the output */
    size_t n_stop;
    int64_t seed;              /* >= 0 for reproducible sampling */
    double presence_penalty;   /* [-2, 2] */
    double frequency_penalty;  /* [-2, 2] */
    double repeat_penalty;     /* > 0; 1 = off (local engine, Ollama) */
    int64_t reserved[4];       /* room to grow in place; always 0, never read */
} llmux_sampling;

typedef struct llmux_request {
    const char *model;            /* "provider/model", "local/name" or a .gguf path; NULL = default */
    const char *system;           /* optional system prompt (also accepted as a SYSTEM message) */
    const llmux_message *messages;
    size_t n_messages;
    const llmux_tool *tools;
    size_t n_tools;
    llmux_tool_choice tool_choice;
    const char *tool_choice_name; /* with LLMUX_TOOL_CHOICE_TOOL */
    llmux_format response_format;
    const char *schema_name;      /* with LLMUX_FORMAT_JSON_SCHEMA */
    const char *schema;           /* JSON Schema text, with LLMUX_FORMAT_JSON_SCHEMA */
    bool schema_strict;
    bool stream;                  /* the caller wants events as they are produced */
    int32_t priority;             /* higher runs first when queued; 0 = normal */
    int64_t deadline_ms;          /* whole-request budget in milliseconds; 0 = none */
    const llmux_kv *metadata;     /* caller's tags, kept in records. A few keys also reach the
                                     provider: prompt_cache_key, safety_identifier, user and
                                     service_tier go to OpenAI's own API as those fields; user (or
                                     else safety_identifier) to Anthropic as metadata.user_id
                                     (docs/providers.md#caller-fields) */
    size_t n_metadata;
    const char *provider_options; /* JSON object text passed through, keyed by provider:
                                     {"openai": {...}, "anthropic": {...}}; NULL = none. The local
                                     engine reads {"local": {"raw_prompt": true}}: the messages
                                     without the chat template, texts joined by blank lines (a
                                     text completion's prompt). Two keys by wire format:
                                     "openai_chat" (fields for any Chat Completions server; OpenAI's
                                     own API takes only its own) and "openai_responses"
                                     (hosted_tools appended to the Responses API's tools): see
                                     docs/providers.md */
    llmux_sampling sampling;      /* a nested struct grows into its own reserved space */
    /* Reasoning: an effort, or a budget of reasoning tokens (> 0; wins over the effort for the
     * providers that take a budget, and is turned into an effort for those that take one). Both
     * unset (DEFAULT, 0) = the provider's default. The local engine ignores them. */
    llmux_reasoning_effort reasoning_effort;
    int32_t reasoning_budget;
    /* At most one tool call per answer (OpenAI parallel_tool_calls: false, Anthropic
     * tool_choice.disable_parallel_tool_use, the local chat template's parallel flag off); false =
     * the provider's default (parallel calls allowed). Only meaningful with tools. */
    bool single_tool_call;
} llmux_request;

/* A request with everything absent or unset (sampling NaN / -1, AUTO tool choice, TEXT format). */
LLMUX_API llmux_request llmux_request_default(void);
/* An all-unset sampling block. */
LLMUX_API llmux_sampling llmux_sampling_default(void);
/* True when a float sampling field is unset (NaN). */
LLMUX_API bool llmux_is_unset(double v);
/* A NaN, the "unset" float value. */
LLMUX_API double llmux_unset(void);

/* Checks every rule a request must satisfy before anything runs it, with the message llmux_run
 * and llmux_request_from_json give for the same fault (one validator behind all three). The
 * message starts with the field's canonical JSON path (docs/canonical-json.md), also for a
 * request built in C: `messages[2].content[0].id: missing` (a message's parts are its "content",
 * a tool result's text its "content", an image's image_url its "url"). Rules, in this order:
 * messages (at most 10000; each a known role, at most 1000 parts; parts as their type requires:
 * TEXT text, IMAGE exactly one of image_url / data and mime_type with data, TOOL_CALL id and
 * name, TOOL_RESULT id and text), tools (at most 512, each a non-empty name, parameters a JSON
 * object), tool_choice (REQUIRED needs a tool; TOOL a non-empty tool_choice_name naming one of
 * tools), response_format (JSON_SCHEMA needs schema, a JSON object; schema_name, schema and
 * schema_strict only with JSON_SCHEMA), the sampling ranges of llmux_sampling (NaN / -1 = unset
 * is always fine; stop: at most 16, each non-empty), deadline_ms >= 0, reasoning_effort a known
 * value and reasoning_budget >= 0, metadata (at most 256,
 * keys and values not NULL), provider_options a JSON object, and at last at least one message
 * or a system prompt. A count with a NULL array is refused (`tools: missing (n_tools is 2)`).
 * It does not resolve the model (unknown providers, missing keys and files are llmux_run's).
 *
 * Returns LLMUX_OK, or LLMUX_E_INVALID_REQUEST with err filled (when not NULL). Reads req only,
 * keeps nothing; pure: safe from any thread (req must not change meanwhile). A server calls it
 * before llmux_submit to answer 400 without touching the runtime. */
LLMUX_API llmux_status llmux_request_validate(const llmux_request *req, llmux_error_info *err);

/* What a model spec (llmux_request.model) names, from its spelling alone:
 *  - "local/NAME" or a bare NAME without '/': a local model looked up in the model directories
 *    (a bare NAME is first matched against the runtime's aliases);
 *  - a path ("/...", "./...", "../...", or anything ending in ".gguf"): a local GGUF file;
 *  - "provider/model" otherwise: a remote provider (an unknown provider name is refused with
 *    LLMUX_E_MODEL_NOT_FOUND naming it). */
typedef enum llmux_model_kind {
    LLMUX_MODEL_LOCAL_NAME = 0,
    LLMUX_MODEL_LOCAL_PATH = 1,
    LLMUX_MODEL_REMOTE = 2
} llmux_model_kind;

/* Classifies a spec (NULL or "" is LOCAL_NAME: the default model). Pure; any thread. */
LLMUX_API llmux_model_kind llmux_model_kind_of(const char *spec);

/* ------------------------------------------------------ canonical response */

typedef enum llmux_finish_reason {
    LLMUX_FINISH_NONE = 0,           /* not finished (only seen mid-stream) */
    LLMUX_FINISH_STOP = 1,           /* natural end or a stop sequence */
    LLMUX_FINISH_LENGTH = 2,         /* max_tokens or context reached */
    LLMUX_FINISH_TOOL_CALLS = 3,     /* the model called tools */
    LLMUX_FINISH_CONTENT_FILTER = 4, /* output blocked */
    LLMUX_FINISH_CANCELLED = 5,      /* the caller cancelled */
    LLMUX_FINISH_ERROR = 6,          /* failed; see llmux_response.error */
    LLMUX_FINISH_PAUSED = 7          /* the provider paused a long turn of its own server tools
                                        (Anthropic's pause_turn): send the answer back as the next
                                        request's last assistant message to let it go on */
} llmux_finish_reason;

/* "stop", "length", "tool_calls", "content_filter", "cancelled", "error", "paused" ("none" for
 * NONE). */
LLMUX_API const char *llmux_finish_reason_name(llmux_finish_reason r);
LLMUX_API bool llmux_finish_reason_from_name(const char *name, llmux_finish_reason *out);

/* Token counts; -1 when the provider did not report the value. input_tokens includes cached
 * and cache-write tokens; output_tokens includes reasoning tokens. */
typedef struct llmux_usage {
    int64_t input_tokens;
    int64_t output_tokens;
    int64_t cached_input_tokens;  /* read from a prompt cache */
    int64_t cache_write_tokens;   /* written to a prompt cache */
    int64_t reasoning_tokens;
    int64_t total_tokens;
    int64_t cache_write_1h_tokens; /* of cache_write_tokens, those written for an hour (Anthropic's
                                      ttl "1h", priced at twice the input price instead of the
                                      cache-write price); -1 unknown (all at the usual lifetime) */
    int64_t web_search_requests;  /* web searches the provider's own server tool ran for the
                                     answer (Anthropic's usage.server_tool_use.web_search_requests),
                                     billed per search; -1 unknown (0 and -1 cost nothing) */
    int64_t reserved[2];          /* room to grow in place; always 0, never read */
} llmux_usage;

/* All values -1 (unknown). */
LLMUX_API llmux_usage llmux_usage_default(void);
/* Folds one USAGE event's figures into dst: each field src knows (>= 0) replaces dst's, an
 * unknown one (-1) keeps it (a stream may report the prompt's usage first and the whole at the
 * end: see LLMUX_EVENT_USAGE). NULL arguments are ignored. Pure; any thread. */
LLMUX_API void llmux_usage_merge(llmux_usage *dst, const llmux_usage *src);

/* Cost in US dollars; known == false when neither the provider reported a cost nor the catalog
 * has a price for the model (a "price_unknown" warning says so; the request never fails for it).
 * input covers uncached input tokens, cache_read / cache_write the cached and cache-write ones.
 * A component is NaN when only the total is known: a provider-reported cost (OpenRouter's
 * usage.cost) for a model the catalog has no price for. When both exist the provider's figure is
 * the total (it is what is billed) and the components come from the catalog's prices. */
typedef struct llmux_cost {
    bool known;
    double input;
    double output;
    double cache_read;
    double cache_write;
    double total;
    double tools;                 /* the provider's server tools, per use (web searches: $10 per
                                     1,000 at Anthropic); 0 when none ran; included in total */
    double reserved[1];           /* room to grow in place; always 0, never read */
} llmux_cost;

/* Milliseconds; -1 when not measured. */
typedef struct llmux_timing {
    double queued_ms;   /* waiting for a slot before work started */
    double ttft_ms;     /* request start to first content event */
    double total_ms;    /* request start to the terminal event */
    double reserved[2]; /* room to grow in place; always 0, never read */
} llmux_timing;

typedef struct llmux_warning {
    const char *code;     /* stable, e.g. "price_unknown", "unsupported_parameter" */
    const char *message;
} llmux_warning;

/* The result of one request. Owned by the caller; release with llmux_response_free(). */
typedef struct llmux_response {
    const char *id;
    const char *model;          /* the model that answered */
    const char *provider;       /* "local", "openai", ... */
    const llmux_part *parts;    /* assistant content in index order: text, reasoning, tool calls */
    size_t n_parts;
    llmux_finish_reason finish_reason;
    const llmux_warning *warnings;
    size_t n_warnings;
    /* Nested structs last, each with reserved space of its own to grow into. */
    llmux_usage usage;
    llmux_cost cost;
    llmux_timing timing;
    llmux_error_info error;     /* status LLMUX_OK unless finish_reason is ERROR/CANCELLED */
    /* Appended after 0.1.0. */
    const char *execution_id;   /* this execution's id in the runtime's records ("exec_..."), also
                                   when records are off; NULL in a decoded response */
    const char *stop_sequence;  /* the request's stop sequence that ended the output (finish_reason
                                   STOP), when the backend says which: the local engine, Anthropic;
                                   NULL otherwise. Owned by the response, like its other strings */
} llmux_response;

/* Releases a response and everything it points to. Accepts NULL. */
LLMUX_API void llmux_response_free(llmux_response *resp);

/* The concatenated TEXT parts of a response (owned by the response; "" when none). */
LLMUX_API const char *llmux_response_text(const llmux_response *resp);

/* ----------------------------------------------------------------- events */

typedef enum llmux_event_type {
    LLMUX_EVENT_START = 0,           /* id, model, provider */
    LLMUX_EVENT_TEXT_DELTA = 1,      /* index, text/text_len */
    LLMUX_EVENT_REASONING_DELTA = 2, /* index, text/text_len and/or signature; redacted */
    LLMUX_EVENT_TOOL_CALL_START = 3, /* index, id, name */
    LLMUX_EVENT_TOOL_CALL_DELTA = 4, /* index, text/text_len: a fragment of the arguments JSON */
    LLMUX_EVENT_TOOL_CALL_END = 5,   /* index */
    LLMUX_EVENT_USAGE = 6,           /* usage; may come twice: the prompt's alone before the first
                                        token (output_tokens -1: the local engine, an Anthropic
                                        stream), then the whole; a field known later replaces the
                                        earlier value, an unset one (-1) keeps it */
    LLMUX_EVENT_FINISH = 7,          /* finish_reason (terminal); text/text_len: the stop sequence
                                        that ended the output, when one did (else NULL) */
    LLMUX_EVENT_ERROR = 8,           /* error (terminal) */
    LLMUX_EVENT_NATIVE = 9           /* index, name (the wire format), text/text_len: one whole
                                        NATIVE part (a provider's own block, e.g. Anthropic's
                                        server_tool_use), a JSON object text; consumers that do
                                        not speak that format skip it */
} llmux_event_type;

/* "start", "text_delta", "reasoning_delta", "tool_call_start", "tool_call_delta",
 * "tool_call_end", "usage", "finish", "error", "native". */
LLMUX_API const char *llmux_event_type_name(llmux_event_type t);
LLMUX_API bool llmux_event_type_from_name(const char *name, llmux_event_type *out);

/* One canonical stream event. `index` is the position of the content part the event belongs to
 * in the final response, so fragments of parallel tool calls can never be mixed up. Every
 * stream ends with exactly one FINISH or ERROR event. All pointers are borrowed: valid only
 * during the callback that receives the event. */
typedef struct llmux_event {
    llmux_event_type type;
    uint32_t index;
    const char *text;        /* delta bytes, not NUL-terminated in general: use text_len */
    size_t text_len;
    const char *id;          /* START: response id; TOOL_CALL_START: call id */
    const char *name;        /* START: model; TOOL_CALL_START: tool name; NATIVE: format */
    const char *provider;    /* START */
    const char *signature;   /* REASONING_DELTA: signature (or fragment) */
    bool redacted;           /* REASONING_DELTA */
    bool cost_known;         /* USAGE: the provider reported the request's cost (OpenRouter) */
    double cost_usd;         /* USAGE: that cost in US dollars, when cost_known */
    llmux_finish_reason finish_reason; /* FINISH */
    const llmux_error_info *error;     /* ERROR */
    llmux_usage usage;       /* USAGE (last: it grows into its own reserved space) */
} llmux_event;

/* Receives events in order. Return false to cancel the request (it then ends with a FINISH
 * event whose reason is CANCELLED). */
typedef bool (*llmux_event_cb)(const llmux_event *ev, void *user_data);

/* ----------------------------------------------------------- aggregation */

/* Turns a stream of events into a response; the one aggregator every provider shares. */
typedef struct llmux_aggregator llmux_aggregator;

/* Returns NULL when out of memory. */
LLMUX_API llmux_aggregator *llmux_aggregator_create(void);
/* Accepts NULL. */
LLMUX_API void llmux_aggregator_destroy(llmux_aggregator *agg);
/* Feeds one event. Fails with LLMUX_E_UPSTREAM_PROTOCOL on an event that contradicts the
 * stream so far (a delta for a part of another type, an event after the terminal one) and with
 * LLMUX_E_INVALID_REQUEST past the size cap (64 MiB of content). */
LLMUX_API llmux_status llmux_aggregator_add(llmux_aggregator *agg, const llmux_event *ev, llmux_error_info *err);
/* Whether a FINISH or ERROR event was added. */
LLMUX_API bool llmux_aggregator_done(const llmux_aggregator *agg);
/* Builds the response from what was added so far (a stream without a terminal event yields
 * finish_reason NONE). The caller owns the result; NULL when out of memory. */
LLMUX_API llmux_response *llmux_aggregator_response(const llmux_aggregator *agg);

/* ----------------------------------------------------------------- JSON */

/* Caps on JSON input (bytes); larger input is refused with LLMUX_E_INVALID_REQUEST. */
#define LLMUX_JSON_MAX_BYTES (32u * 1024u * 1024u)

/* Encodes a request / response / event as canonical JSON (docs/canonical-json.md). Returns a
 * NUL-terminated string the caller releases with llmux_free(), or NULL when out of memory. */
LLMUX_API char *llmux_request_to_json(const llmux_request *req);
LLMUX_API char *llmux_response_to_json(const llmux_response *resp);
LLMUX_API char *llmux_event_to_json(const llmux_event *ev);

/* Decodes canonical JSON. On success *out is owned by the caller (free with
 * llmux_request_free / llmux_response_free). On failure returns LLMUX_E_INVALID_REQUEST with a
 * message naming the field, e.g. `messages[2].content[0].type: unknown part type "imagex"`.
 * A decoded request has passed every rule of llmux_request_validate but the last (at least one
 * message or a system prompt): JSON also carries request fragments, such as alias overrides. */
LLMUX_API llmux_status llmux_request_from_json(const char *json, size_t len, llmux_request **out, llmux_error_info *err);
LLMUX_API llmux_status llmux_response_from_json(const char *json, size_t len, llmux_response **out, llmux_error_info *err);

/* Releases a request returned by llmux_request_from_json(). Accepts NULL. Never pass a request
 * the caller built. */
LLMUX_API void llmux_request_free(llmux_request *req);
/* Releases memory returned by llmux (JSON text). Accepts NULL. */
LLMUX_API void llmux_free(void *p);

/* ----------------------------------------------------------- cancellation */

/* A cancel token: trigger it from any thread; the request it is attached to stops at the next
 * decode step or upstream read and ends with FINISH(CANCELLED). */
typedef struct llmux_cancel llmux_cancel;

/* Returns NULL when out of memory. */
LLMUX_API llmux_cancel *llmux_cancel_create(void);
/* Accepts NULL. The token must outlive every request it is attached to. */
LLMUX_API void llmux_cancel_destroy(llmux_cancel *c);
/* Async-signal-safe. Idempotent. */
LLMUX_API void llmux_cancel_trigger(llmux_cancel *c);
LLMUX_API bool llmux_cancel_is_triggered(const llmux_cancel *c);

/* ---------------------------------------------------------------- runtime */

typedef enum llmux_log_level {
    LLMUX_LOG_DEBUG = 0,
    LLMUX_LOG_INFO = 1,
    LLMUX_LOG_WARN = 2,
    LLMUX_LOG_ERROR = 3
} llmux_log_level;

typedef void (*llmux_log_cb)(llmux_log_level level, const char *message, void *user_data);

/* Receives model-loading progress in [0, 1]. */
typedef void (*llmux_progress_cb)(float progress, void *user_data);

/* How to reach one remote provider. Strings are copied by llmux_runtime_create(). */
typedef struct llmux_provider_params {
    const char *name;      /* the prefix of model names: "openai", "anthropic", "gemini", "openrouter",
                              "ollama", or a custom name for any OpenAI-compatible server */
    const char *protocol;  /* "openai", "anthropic", "gemini", "ollama"; NULL = derived from name
                              (custom names speak "openai") */
    const char *base_url;  /* NULL = $<SDK>_BASE_URL / OLLAMA_HOST, else the provider's public URL */
    const char *api_key;   /* NULL = the SDK's environment variable (OPENAI_API_KEY, ...). A secret:
                              never logged, never in errors, events or records. */
    const char *http_referer; /* OpenRouter app attribution (HTTP-Referer header); NULL = none */
    const char *app_title;    /* OpenRouter app attribution (X-Title header); NULL = none */
} llmux_provider_params;

/* ------------------------------------------------------ routing (aliases) */

/* One target of an alias. */
typedef struct llmux_alias_target {
    const char *model;        /* "provider/model" or a local model, as llmux_request.model */
    uint32_t weight;          /* > 0: load-balanced among the alias's weighted targets (a seeded
                                 pick, recorded in the plan; the others stay fallbacks in list
                                 order); 0 = an ordered fallback */
    const char *overrides;    /* JSON object of canonical request fields (docs/canonical-json.md)
                                 applied to this target only, e.g. {"temperature": 0.2,
                                 "max_tokens": 512}; objects merge, other values replace; NULL =
                                 none */
} llmux_alias_target;

/* Attempts of one target before the plan moves to the next. */
typedef struct llmux_retry_policy {
    int32_t attempts;         /* tries per target, the first included; 0 = 2, 1 = no retry */
    int64_t backoff_ms;       /* before the first retry; doubles each retry, full jitter; 0 = 200 */
    int64_t max_backoff_ms;   /* cap on one backoff; 0 = 5000. A Retry-After (or rate-limit
                                 reset) longer than the backoff wins, bounded by the deadline. */
} llmux_retry_policy;

/* A model alias: what a request naming `name` runs. */
typedef struct llmux_alias {
    const char *name;                   /* e.g. "smart"; never contains '/' */
    const llmux_alias_target *targets;  /* at least one */
    size_t n_targets;
    llmux_retry_policy retry;
    const llmux_status *fallback_on;    /* classes that move on to the next target; NULL = the
                                           retryable classes (llmux_status_retryable) */
    size_t n_fallback_on;
} llmux_alias;

/* Where local models run (llmux_runtime_params.local_isolation; llmux.yaml `local: {isolation}`). */
typedef enum llmux_isolation {
    LLMUX_ISOLATION_IN_PROCESS = 0, /* in the calling process, one engine thread per model */
    LLMUX_ISOLATION_PROCESS = 1     /* in a sandboxed child process (`llmux engine`, docs/sandbox.md)
                                       that the runtime starts, watches and restarts */
} llmux_isolation;

typedef struct llmux_runtime_params {
    const char *const *model_dirs; /* directories local models may be loaded from */
    size_t n_model_dirs;
    const char *default_model;     /* used when a request names no model; NULL = none */
    int32_t n_threads;             /* engine threads; 0 = number of cores */
    int32_t n_ctx;                 /* local context size; 0 = the model's training context, capped at 4096 */
    llmux_log_cb log;              /* NULL = silent */
    llmux_log_level log_level;     /* least severe level passed to log */
    void *log_user_data;
    llmux_progress_cb progress;    /* model loading progress; NULL = none */
    void *progress_user_data;
    const llmux_provider_params *providers; /* overrides per provider; the five hosted providers
                                               work without an entry (keys from the environment) */
    size_t n_providers;
    int64_t connect_timeout_ms;    /* remote: TCP+TLS connect; 0 = 10 s */
    int64_t first_byte_timeout_ms; /* remote: request sent to first response byte; 0 = 120 s */
    int64_t idle_timeout_ms;       /* remote: longest gap between stream chunks; 0 = 60 s */
    const char *ca_bundle;         /* remote: PEM file of trusted CA certificates; NULL =
                                      $SSL_CERT_FILE, else $CURL_CA_BUNDLE, else the system store.
                                      TLS peer and host verification are always on. Copied. */
    /* Fields below were appended after 0.1.0; llmux_runtime_default_params sets each default. */
    const llmux_alias *aliases;    /* model aliases (deep-copied); names must be unique and must not
                                      shadow a provider prefix */
    size_t n_aliases;
    int64_t total_timeout_ms;      /* whole execution when the request sets no deadline_ms; 0 = none
                                      (the CLI and the config default to 600 s) */
    int32_t cooldown_failures;     /* consecutive failed attempts that put a target in cooldown;
                                      0 = 3; < 0 = never */
    int64_t cooldown_ms;           /* how long a target in cooldown is skipped (then one request
                                      probes it); 0 = 30 s */
    const char *records;           /* execution records: "sqlite:PATH" or "postgresql://..."; NULL =
                                      none. Copied. */
    bool records_omit_bodies;      /* false (default): the request (needed by replay) and the
                                      response text are stored; true: neither */
    /* Telemetry (docs/telemetry.md); metrics are always kept (llmux_metrics_prometheus). */
    const char *telemetry_log;     /* one JSON line per execution: NULL or "off" = none, "stderr",
                                      or a file path (created 0600, appended to). Copied. A file
                                      that cannot be opened: LLMUX_E_CONFIGURATION */
    llmux_log_level telemetry_log_level; /* least severe execution line written (successes are
                                      INFO, failures ERROR; DEBUG adds each attempt); default INFO */
    const char *otlp_endpoint;     /* OpenTelemetry traces over OTLP/HTTP JSON, POSTed in batches to
                                      {otlp_endpoint}/v1/traces; NULL = none. Copied. Not an
                                      http(s) URL: LLMUX_E_CONFIGURATION */
    /* Local models (llmux.yaml `local:`; docs/configuration.md). Appended after telemetry. */
    int32_t local_slots;           /* concurrent sequences per loaded model, 1..64; 0 (default) =
                                      one per 512 tokens of context, 1..8 */
    int32_t local_prompt_cache_mb; /* host RAM per model for prompt prefixes evicted from its
                                      slots; default 256; 0 = off */
    int64_t local_memory_budget_mb;/* loaded models together (estimate: file size + KV cache);
                                      least recently used idle models are unloaded to fit; a model
                                      alone bigger: LLMUX_E_CONFIGURATION. 0 (default) = none */
    int64_t local_idle_unload_s;   /* a model no request used for this long is unloaded (checked
                                      whenever a local request arrives); 0 (default) = never */
    int32_t local_max_waiting;     /* requests waiting per model beyond those running; more are
                                      refused at once with LLMUX_E_QUEUE_FULL + retry_after_ms;
                                      0 = 256 (default) */
    int64_t local_max_wait_ms;     /* longest wait for a sequence slot: a request that waited this
                                      long, or whose deadline is sooner than the estimated wait, is
                                      refused with LLMUX_E_OVERLOADED + retry_after_ms; 0 (default)
                                      = no limit */
    /* Appended after the local queue fields. */
    const char *local_prompt_cache_dir; /* a directory where local models' prompt prefixes are saved
                                      as files (when a model is unloaded, and when the host prompt
                                      cache pushes them out) and restored from by later runtimes:
                                      a returning prompt skips processing its saved prefix
                                      (usage.cached_input_tokens counts it). Created (0700) when
                                      missing; a path that is not a directory and cannot be
                                      created: LLMUX_E_CONFIGURATION. A damaged or foreign file in
                                      it is ignored with a LLMUX_LOG_WARN line. NULL (default) =
                                      none. Copied. */
    int64_t local_prompt_cache_dir_mb; /* bytes of all cache files in that directory, least
                                      recently used removed first; 0 (default) = 1024 */
    /* The sandboxed engine child (docs/sandbox.md, "Supervision"). Appended after local_*. */
    llmux_isolation local_isolation; /* LLMUX_ISOLATION_IN_PROCESS (default) or _PROCESS: local
                                      generations then run in a child started at first use, which
                                      can read only model_dirs and reach no network; a crashed or
                                      hung child is restarted and only its in-flight executions
                                      fail (LLMUX_E_INTERNAL, the message names the signal).
                                      Local embeddings, token counts and the model registry calls
                                      (llmux_model_load, _unload, llmux_models_loaded) are answered
                                      by the child too, with the same errors as in-process.
                                      Linux only */
    const char *engine_path;       /* the llmux executable the child runs (`PATH engine --fd N`);
                                      NULL = llmux next to libllmux (../bin/llmux or the same
                                      directory), else the first llmux on $PATH. Copied */
    int64_t engine_heartbeat_ms;   /* how often the runtime pings the child; 0 = 1000 */
    int64_t engine_heartbeat_timeout_ms; /* a ping unanswered this long gets the child killed
                                      (SIGKILL) and restarted; 0 = 10000. While the child may be
                                      loading a model (a request for a model it has not served yet
                                      has no START; any model when local_memory_budget_mb or
                                      local_idle_unload_s let it unload them), its event loop is
                                      busy and the limit is LLMUX_ENGINE_LOAD_TIMEOUT_MS instead */
    bool engine_sandbox_require;   /* the child refuses to start when the kernel lacks a sandbox
                                      layer (Landlock): its local requests then fail with
                                      LLMUX_E_INTERNAL ("could not start"; the reason, naming the
                                      layer, logged), instead of the child running with a warning
                                      and llmux_engine_sandbox_degraded = 1 */
    int64_t engine_uid;            /* when the runtime runs as root: the user the child becomes;
                                      0 = 65534 (nobody). Never root: the child refuses uid 0 */
    int64_t engine_gid;            /* ... and its group; 0 = 65534 (nogroup) */
} llmux_runtime_params;

/* How long a ping to the engine child may wait while it loads a model it has not served before. */
#define LLMUX_ENGINE_LOAD_TIMEOUT_MS 600000

LLMUX_API llmux_runtime_params llmux_runtime_default_params(void);

/* A long-lived handle: model registry and execution. */
typedef struct llmux_runtime llmux_runtime;

/* Creates a runtime. Copies everything it needs from params. Model directories that do not exist
 * are refused with LLMUX_E_CONFIGURATION. The runtime starts one thread for its HTTP loop (every
 * remote request of the runtime runs on it, with one connection cache) and, later, one engine
 * thread per loaded local model. */
LLMUX_API llmux_status llmux_runtime_create(const llmux_runtime_params *params, llmux_runtime **out, llmux_error_info *err);
/* Unloads models, stops the runtime's threads, closes its cached connections and releases it.
 * Accepts NULL. No request may be running. */
LLMUX_API void llmux_runtime_destroy(llmux_runtime *rt);

typedef struct llmux_run_params {
    llmux_event_cb on_event;  /* NULL = no streaming callback */
    void *user_data;
    llmux_cancel *cancel;     /* NULL = not cancellable; borrowed */
} llmux_run_params;

LLMUX_API llmux_run_params llmux_run_default_params(void);

/* What a blocking call other than llmux_run takes besides its request (llmux_embed,
 * llmux_list_models): a struct, so it can grow without breaking callers. Start from
 * llmux_call_default_params(); a NULL params pointer means the defaults. */
typedef struct llmux_call_params {
    llmux_cancel *cancel;     /* NULL = not cancellable; borrowed, must outlive the call */
    int64_t deadline_ms;      /* the whole call, from its start; 0 = the runtime's
                                 total_timeout_ms (none when that is 0); < 0 refused with
                                 LLMUX_E_INVALID_REQUEST. Expiry: LLMUX_E_TIMEOUT */
} llmux_call_params;

/* { cancel = NULL, deadline_ms = 0 }. Pure; any thread. */
LLMUX_API llmux_call_params llmux_call_default_params(void);

/* Runs one request to completion, streaming events to params->on_event as they are produced,
 * and returns the aggregated response in *out (owned by the caller, free with
 * llmux_response_free).
 *
 * Refused before it starts (invalid request, unknown provider or model, missing key, model file
 * that does not load): returns the error with *out == NULL and no event delivered.
 * Accepted (valid, model resolved): always exactly one terminal event (FINISH or ERROR, last) and
 * a response, also when it failed before producing anything (an upstream 429 or 401, a prompt
 * that does not fit the context, a full queue): the response's finish_reason is ERROR (or
 * CANCELLED), its error holds the class, the provider's status and code and the retry delay, and
 * the status returned is that class. A failure that happens before any event gives one event:
 * ERROR.
 *
 * Threads and callbacks: the request is produced elsewhere (remote: the runtime's HTTP loop
 * thread; local: the model's engine thread), but on_event always runs on the thread that called
 * llmux_run, in order, and never after llmux_run returned. Events are handed over through a
 * queue, so a slow callback delays only its own request (the producer keeps going; undelivered
 * events are capped, see LLMUX_E_INVALID_REQUEST below), and a callback may call llmux_run (or
 * any other llmux function) on the same runtime, also on the same local model: the nested
 * request is queued behind the current one on that model's engine thread. Returning false from
 * on_event cancels the request: the next and last event delivered is FINISH(CANCELLED).
 * A response past the aggregator's 64 MiB content cap ends with ERROR (LLMUX_E_INVALID_REQUEST,
 * the message names the cap), never as a cancellation.
 *
 * Blocking; safe to call from several threads at once. Requests on one local model run one at a
 * time, by priority (higher first), at most 256 waiting (then LLMUX_E_QUEUE_FULL). */
LLMUX_API llmux_status llmux_run(llmux_runtime *rt, const llmux_request *req, const llmux_run_params *params,
                       llmux_response **out, llmux_error_info *err);

/* The health of every target the runtime's aliases have used, as a JSON array (owned by the
 * caller, llmux_free): [{"target": "openai/gpt-4o", "consecutive_failures": 3, "cooling_down":
 * true, "cooldown_remaining_ms": 29000}, ...]. A target with cooldown_failures consecutive
 * retryable failures is skipped for cooldown_ms (while its alias has another target left), then
 * one request probes it: success heals it, failure starts a new period. Thread-safe. */
LLMUX_API llmux_status llmux_runtime_targets(llmux_runtime *rt, char **json, llmux_error_info *err);

/* The runtime's metrics in the Prometheus text exposition format (version 0.0.4): executions,
 * attempts, retries, fallbacks, errors, latency histograms, tokens, cost, executions in flight,
 * local queue depth, trace export counters (docs/telemetry.md lists every metric). *text is
 * NUL-terminated and owned by the caller (llmux_free); *len (len may be NULL) is its length.
 * LLMUX_E_OUT_OF_MEMORY, or LLMUX_E_INVALID_REQUEST when rt or text is NULL. Thread-safe; costs
 * about a microsecond per series (a scrape of a busy gateway takes well under a millisecond). */
LLMUX_API llmux_status llmux_metrics_prometheus(llmux_runtime *rt, char **text, size_t *len, llmux_error_info *err);

/* ------------------------------------------------- asynchronous executions */

/* Integration with the runtime's event loop (the server runs on it, so a proxied request crosses
 * no thread). The loop is a libevent 2.1 `struct event_base` (returned as void * so this header
 * needs no libevent), run by the runtime's own thread with evthread pthread locking enabled:
 * events may be added to it from any thread, and their callbacks run on the loop thread, like
 * llmux_submit's. Never run, stop or free it. Valid until llmux_runtime_destroy. */
LLMUX_API void *llmux_runtime_event_base(llmux_runtime *rt);
/* Runs fn(arg) on the loop thread soon (FIFO among posts). Any thread. LLMUX_E_CANCELLED when the
 * runtime is being destroyed (or, rarely, out of memory); fn then never runs. */
LLMUX_API llmux_status llmux_runtime_post(llmux_runtime *rt, void (*fn)(void *arg), void *arg);
/* Whether the calling thread is the runtime's loop thread. */
LLMUX_API bool llmux_runtime_on_loop(llmux_runtime *rt);


/* An execution submitted with llmux_submit: a request in flight. A short-lived object owned by
 * the caller (llmux_execution_free). */
typedef struct llmux_execution llmux_execution;

/* Runs on the runtime's loop thread once the execution ended, after its terminal event. */
typedef void (*llmux_done_cb)(llmux_execution *ex, void *user_data);

typedef struct llmux_submit_params {
    llmux_event_cb on_event;  /* NULL = no streaming callback; runs on the runtime's loop thread */
    llmux_done_cb on_done;    /* NULL = none; runs on the runtime's loop thread */
    void *user_data;
    llmux_cancel *cancel;     /* NULL = only llmux_execution_cancel; borrowed, must outlive the
                                 execution */
} llmux_submit_params;

/* New fields are appended: always start from this. */
LLMUX_API llmux_submit_params llmux_submit_default_params(void);

/* Starts req and returns at once with the execution in *out. No thread is created or blocked for
 * it: a remote request runs on the runtime's loop thread with every other one, a local request
 * queues on its model's engine thread. req is copied: the caller may free it on return.
 *
 * Refused (same cases as llmux_run): returns the error, *out is NULL, no callback ever runs.
 * Accepted: LLMUX_OK; then on_event receives the events in order and exactly one terminal event,
 * then on_done runs once; afterwards llmux_execution_wait returns the response.
 *
 * Callbacks run on the runtime's loop thread, which carries every remote stream of the runtime:
 * they must return quickly and must not block (no llmux_run, llmux_embed, llmux_list_models or
 * llmux_execution_wait there: wait refuses with LLMUX_E_INVALID_REQUEST). They may call
 * llmux_submit, llmux_execution_cancel and llmux_execution_free. Returning false from on_event
 * cancels the execution (its last event is then FINISH(CANCELLED)).
 *
 * To integrate with another event loop, have on_done (or on_event) post to that loop; for a
 * blocking call, use llmux_run (events on the calling thread). Thread-safe. */
LLMUX_API llmux_status llmux_submit(llmux_runtime *rt, const llmux_request *req, const llmux_submit_params *params,
                          llmux_execution **out, llmux_error_info *err);

/* Cancels the execution (upstream socket closed, or decoding stopped at the next step); it then
 * ends with FINISH(CANCELLED) unless it had already ended. Any thread; idempotent; NULL ok. */
LLMUX_API void llmux_execution_cancel(llmux_execution *ex);

/* Whether on_done has run. Any thread. */
LLMUX_API bool llmux_execution_done(llmux_execution *ex);

/* Blocks until the execution ended, then hands over its response (*out, owned by the caller;
 * only the first wait gets it, later ones get NULL) and returns its status (as llmux_run would
 * have). Not from a callback on the loop thread (LLMUX_E_INVALID_REQUEST). */
LLMUX_API llmux_status llmux_execution_wait(llmux_execution *ex, llmux_response **out, llmux_error_info *err);

/* Releases the execution. Still running: it is cancelled, no callback of it starts after this
 * returns (neither on_event nor on_done), and its memory is released once it ended. NULL ok.
 * Any thread, also from its own callbacks. All executions must be freed (and have ended) before
 * llmux_runtime_destroy. */
LLMUX_API void llmux_execution_free(llmux_execution *ex);

/* The cost of an execution that ended (its response's llmux_response.cost) into *out, so a
 * callback can account for it without llmux_execution_wait (which it may not call): from on_done
 * on, and on any thread once llmux_execution_done is true, until llmux_execution_wait handed the
 * response over. Returns false (and *out = {.known = false}) before that, after the wait took the
 * response, or for NULL arguments. Appended after 0.1.0. */
LLMUX_API bool llmux_execution_cost(llmux_execution *ex, llmux_cost *out);

/* Runs a recorded execution again (runtime params `records` must be set): the recorded request
 * (records_omit_bodies must have been off) with the recorded plan — for an alias the same
 * targets in the same order with the same weighted pick; the seed and every other field are in
 * the request. The new execution is recorded with replay_of = execution_id. Otherwise as
 * llmux_run: blocking, callbacks on the calling thread, the same outcomes. Errors before
 * anything runs: LLMUX_E_CONFIGURATION (no records), LLMUX_E_INVALID_REQUEST (no such execution,
 * recorded without its request, or its alias changed so that the plan no longer matches). */
LLMUX_API llmux_status llmux_replay(llmux_runtime *rt, const char *execution_id, const llmux_run_params *params,
                                    llmux_response **out, llmux_error_info *err);

/* Resolves a model path to its canonical form and checks it lies inside one of the runtime's
 * model directories (no "..", no symlink escape). Writes the canonical path into buf. Returns
 * LLMUX_E_PERMISSION when outside, LLMUX_E_MODEL_NOT_FOUND when missing, LLMUX_E_CONFIGURATION
 * when it is not a regular file (a directory, FIFO or device; nothing is opened),
 * LLMUX_E_INVALID_REQUEST when buf is too small. */
LLMUX_API llmux_status llmux_runtime_check_model_path(const llmux_runtime *rt, const char *path, char *buf, size_t buf_size,
                                            llmux_error_info *err);


/* ------------------------------------------------------------- embeddings */

typedef struct llmux_embed_request {
    const char *model;             /* "openai/text-embedding-3-small", "gemini/gemini-embedding-001",
                                      "ollama/nomic-embed-text", "local/NAME", ... */
    const char *const *inputs;     /* the texts to embed */
    size_t n_inputs;
    int32_t dimensions;            /* > 0: ask for this many dimensions where supported; 0 = default */
    const char *provider_options;  /* JSON object text keyed by provider, as in llmux_request */
} llmux_embed_request;

LLMUX_API llmux_embed_request llmux_embed_request_default(void);

/* Embedding vectors, one per input in input order. Owned by the caller; release with
 * llmux_embeddings_free(). */
typedef struct llmux_embeddings {
    const char *model;
    const char *provider;
    size_t n;              /* number of vectors */
    size_t dim;            /* floats per vector */
    const float *data;     /* (n, dim), row-major */
    llmux_usage usage;     /* input_tokens when the provider reports it, else -1 */
} llmux_embeddings;

/* Accepts NULL. */
LLMUX_API void llmux_embeddings_free(llmux_embeddings *e);

/* Embeds the inputs with a remote provider, or with a local model ("local/NAME", a bare NAME, a
 * .gguf path): there each input is tokenized as a prompt and run through the model on its engine
 * thread (queued with its generations), pooled as the model's metadata says (an embedding model
 * such as BERT: mean, CLS or last token; a generative model: its last hidden states mean-pooled)
 * and L2-normalized; a local embedding model cannot generate (llmux_run: INVALID_REQUEST);
 * usage.input_tokens counts the tokens; dimensions other than the model's hidden size are refused
 * (LLMUX_E_INVALID_REQUEST), an input longer than the context is LLMUX_E_CONTEXT_LENGTH. params: cancel token and deadline (NULL = the
 * defaults: not cancellable, the runtime's total_timeout_ms). Blocking; thread-safe like
 * llmux_run. Errors as for llmux_run (a triggered token: LLMUX_E_CANCELLED; the deadline:
 * LLMUX_E_TIMEOUT); a provider without embeddings gives LLMUX_E_INVALID_REQUEST. On failure
 * *out is NULL. Changed in 0.1 (docs/api-changes.md): the third argument was a bare
 * llmux_cancel *. */
LLMUX_API llmux_status llmux_embed(llmux_runtime *rt, const llmux_embed_request *req, const llmux_call_params *params,
                         llmux_embeddings **out, llmux_error_info *err);

/* -------------------------------------------------------- token counting */

/* Counts the input tokens req takes on its model, without generating. A local model ("local/NAME",
 * a bare NAME, a .gguf path inside the model directories): the prompt rendered (chat template,
 * system prompt, every message) and tokenized exactly as llmux_run does before generating. A
 * remote "provider/model" of the anthropic or gemini protocol: the provider's own counting
 * endpoint (Anthropic's /v1/messages/count_tokens, Gemini's countTokens), one HTTP request with
 * the runtime's timeouts, its errors mapped as llmux_run's (LLMUX_E_AUTHENTICATION,
 * LLMUX_E_RATE_LIMITED, ...). *n_tokens gets the count (0 on failure); req->model is required.
 * Errors: LLMUX_E_INVALID_REQUEST for an invalid request (llmux_request_validate's message), a
 * missing model or a provider without a counting endpoint (openai, ollama protocols);
 * LLMUX_E_MODEL_NOT_FOUND / LLMUX_E_CONFIGURATION as llmux_run for a model that does not load;
 * LLMUX_E_CONTEXT_LENGTH when the prompt does not fit the model's context (the message says at
 * least how many tokens it has); LLMUX_E_QUEUE_FULL when the model's queue is full;
 * LLMUX_E_CANCELLED / LLMUX_E_TIMEOUT from params (as for llmux_embed; NULL = the defaults).
 * The model is loaded when needed and the count runs on its engine thread, queued by priority
 * with its generations. Blocking (not on the runtime's loop thread); thread-safe. Reads req only,
 * keeps nothing. Added in 0.1; remote counting added in 0.1 (docs/api-changes.md). */
LLMUX_API llmux_status llmux_count_tokens(llmux_runtime *rt, const llmux_request *req, const llmux_call_params *params,
                                          int64_t *n_tokens, llmux_error_info *err);

/* ----------------------------------------------------- local model registry */

/* A runtime keeps the local models it loaded (at most 16, within local_memory_budget_mb), each
 * with its own engine thread; requests load a model on first use, and idle models are unloaded
 * by the budget (least recently used first) and by local_idle_unload_s. These calls do the same
 * on demand, for operators and servers (llmux serve's POST /models/load and /models/unload, GET
 * /api/ps; docs/server.md).
 *
 * Hot swap, with or without them: a model file replaced on disk (renamed over, same path; its
 * device, inode, size or times change), or a name whose symlink in a model directory is pointed
 * at another file, is noticed by the next request for it (the file is compared at most once a
 * second per model): that request loads the new file, requests already running finish on the
 * old one, which is freed when the last of them ends. No request fails because of a swap; a new
 * file that does not load fails the requests for it with LLMUX_E_CONFIGURATION, like any bad
 * file. Loads never hold up other models: a model loading, or failing to, delays only the
 * requests for that model. */

/* Loads a local model now ("local/NAME", a bare NAME, or a .gguf path inside the model
 * directories), or finds it loaded; its file is compared with the one on disk at once, so a file
 * replaced just before is the one loaded. Returns when the model is ready to serve. params:
 * cancel aborts the load (LLMUX_E_CANCELLED), deadline_ms bounds it (LLMUX_E_TIMEOUT; 0 = the
 * runtime's total_timeout_ms); NULL = the defaults. Errors: LLMUX_E_INVALID_REQUEST (NULL or
 * empty model, over 1024 bytes, a remote "provider/model", an alias, or called on the runtime's
 * loop thread), LLMUX_E_MODEL_NOT_FOUND / LLMUX_E_PERMISSION / LLMUX_E_CONFIGURATION as llmux_run
 * for a model that cannot be found or does not load (a corrupt file: CONFIGURATION naming it and
 * llama.cpp's reason), LLMUX_E_OVERLOADED (retry_after_ms set) when the memory budget or the 16
 * model slots are held by models in use, LLMUX_E_OUT_OF_MEMORY; with local_isolation PROCESS the
 * engine child loads it (starting the child if none runs) and answers with the same errors, plus
 * LLMUX_E_INTERNAL when the child ends meanwhile. Blocking (not on the loop thread); thread-safe:
 * concurrent loads of one model load it once. Added in 0.1 (docs/api-changes.md). */
LLMUX_API llmux_status llmux_model_load(llmux_runtime *rt, const char *model, const llmux_call_params *params,
                                        llmux_error_info *err);

/* Unloads a local model (named as for llmux_model_load; also by its name once its file is gone).
 * Requests running or queued on it finish normally first; the model's memory is released when
 * the last of them ended (at once when none), and later requests load it again. Errors:
 * LLMUX_E_INVALID_REQUEST (model not loaded, NULL, empty, over 1024 bytes, remote, or called on
 * the loop thread), LLMUX_E_OVERLOADED (retry_after_ms set) while the model is still loading,
 * LLMUX_E_OUT_OF_MEMORY; with local_isolation PROCESS the child's registry is the one unloaded
 * (no child running: "not loaded", none is started), LLMUX_E_INTERNAL when the child ends
 * meanwhile. Blocking only while an idle model's engine thread stops (PROCESS: one round trip to
 * the child); thread-safe. Added in 0.1 (docs/api-changes.md). */
LLMUX_API llmux_status llmux_model_unload(llmux_runtime *rt, const char *model, llmux_error_info *err);

/* The local models this runtime holds, most recently used first, as a JSON array; each object:
 * "model" ("local/NAME" as first asked for, or the path), "name" (file name without .gguf; ""
 * while loading), "path" (canonical), "state" ("loading", "loaded", or "retiring": replaced or
 * unloaded while requests finish on it), "memory_bytes" (the budget's estimate: file + KV cache),
 * "file_bytes", "kv_bytes", "context_length", "slots", "running", "queued" (requests on its
 * engine thread), "in_use" (requests holding it), "loaded_at_ms" (unix ms, null while loading),
 * "idle_ms" (since the last request left; 0 in use) and "unload_in_ms" (when local_idle_unload_s
 * will unload it; null when never or in use). Models idle past local_idle_unload_s are unloaded
 * first. *json is owned by the caller (llmux_free). Errors: LLMUX_E_INVALID_REQUEST (NULL
 * arguments; with local_isolation PROCESS also a call from the runtime's loop thread, since the
 * list is then the engine child's and its answer arrives on that thread), LLMUX_E_OUT_OF_MEMORY,
 * and in PROCESS mode LLMUX_E_INTERNAL when the child ends meanwhile. Thread-safe, never blocks on
 * a load (in PROCESS mode it waits for one round trip to the child, "[]" when none runs). Added in
 * 0.1. */
LLMUX_API llmux_status llmux_models_loaded(llmux_runtime *rt, char **json, llmux_error_info *err);

/* What this build can run local models on, as a JSON object: "version" (llmux_version()),
 * "ggml_version", "ggml_commit", "llama_system_info" (llama.cpp's one-line summary of the CPU
 * features in use), "cpu_cores", "default_threads" (what n_threads 0 means), "supports" {"mmap",
 * "mlock", "gpu_offload", "rpc"} and "backends": [{"name", "features" {NAME: VALUE}, "devices":
 * [{"name", "description", "type" ("cpu", "gpu", "igpu", "accel", ...), "memory_total_bytes",
 * "memory_free_bytes"}]}]. *json is owned by the caller (llmux_free). Errors:
 * LLMUX_E_INVALID_REQUEST (json NULL), LLMUX_E_OUT_OF_MEMORY. Needs no runtime; any thread.
 * Added in 0.1. */
LLMUX_API llmux_status llmux_system_info(char **json, llmux_error_info *err);

/* ------------------------------------------------------------ model lists */

typedef struct llmux_model_info {
    const char *id;             /* "provider/model", usable as llmux_request.model */
    const char *name;           /* display name; NULL when the provider gives none */
    const char *provider;
    int64_t context_length;     /* tokens; -1 unknown */
    int64_t max_output_tokens;  /* -1 unknown */
    double input_price;         /* USD per million input tokens; NaN unknown */
    double output_price;        /* USD per million output tokens; NaN unknown */
    double cache_read_price;    /* USD per million cached input tokens; NaN unknown */
    double cache_write_price;   /* USD per million cache-write tokens; NaN unknown */
} llmux_model_info;

/* Owned by the caller; release with llmux_model_list_free(). */
typedef struct llmux_model_list {
    const llmux_model_info *models;
    size_t n;
} llmux_model_list;

/* Accepts NULL. */
LLMUX_API void llmux_model_list_free(llmux_model_list *list);

/* Asks a provider ("openai", "anthropic", "gemini", "openrouter", "ollama" or a configured custom
 * name) for its models. The models also go into the runtime's catalog as discovered entries (see
 * below), so OpenRouter's prices price later requests. Blocking; thread-safe. On failure *out is
 * NULL and the catalog is unchanged. params as for llmux_embed (NULL = the defaults); the deadline
 * bounds every page of the list together. Changed in 0.1 (docs/api-changes.md): the third
 * argument was a bare llmux_cancel *. */
LLMUX_API llmux_status llmux_list_models(llmux_runtime *rt, const char *provider, const llmux_call_params *params,
                               llmux_model_list **out, llmux_error_info *err);

/* ---------------------------------------------------------------- catalog */

/* The runtime's model catalog prices every response (llmux_response.cost) from its usage: the
 * entry whose id is the request's model ("openrouter/meta-llama/llama-3.1-8b-instruct"), else
 * "<provider>/<model that answered>". A model without a price gets a "price_unknown" warning and
 * an unknown cost, never an error. Local models cost 0.
 *
 * Three layers, field by field: fields set here win over everything and are never replaced; the
 * data shipped with llmux (data/catalog.json, compiled into the library and loaded into every
 * runtime at creation: prices of the major providers' models with the date and page they were
 * read from) comes next; discovery (llmux_list_models) fills and refreshes only the fields
 * neither set. An unknown value (-1, NaN) never replaces a known one.
 *
 * Adds or updates entries (copied). id must be "provider/model"; provider may be NULL (taken from
 * the id); prices are US dollars per million tokens (NaN = unknown) and must be >= 0; lengths
 * -1 = unknown. A missing cache price falls back to the input price, with a "price_approximate"
 * warning on responses that used the cache. Errors: LLMUX_E_INVALID_REQUEST naming the entry
 * ("models[3].input_price: ..."), and then nothing was added; LLMUX_E_CONFIGURATION past 21000
 * models (a full 20000-model provider list next to the shipped entries); LLMUX_E_OUT_OF_MEMORY. Thread-safe. */
LLMUX_API llmux_status llmux_catalog_add(llmux_runtime *rt, const llmux_model_info *models, size_t n, llmux_error_info *err);

/* A snapshot of the catalog, sorted by id, owned by the caller (llmux_model_list_free).
 * Thread-safe. */
LLMUX_API llmux_status llmux_catalog_list(llmux_runtime *rt, llmux_model_list **out, llmux_error_info *err);

/* The catalog as a JSON array sorted by id, with what llmux_model_info has no room for. Each
 * object has every key, null when unknown: id, name, provider, context_length,
 * max_output_tokens, input_price, cache_read_price, cache_write_price, output_price (USD per
 * million tokens), price_source ("configured", "static" = the data shipped with llmux,
 * "discovered", or null), price_date and price_url (a static price: the day and the public page
 * it was read from), limits_url, capabilities ({"tools", "vision", "reasoning", "json_schema"}:
 * true, false or null; null for entries the shipped data does not describe) and note (tiers,
 * caveats). *out is released with llmux_free(). Thread-safe. */
LLMUX_API llmux_status llmux_catalog_export_json(llmux_runtime *rt, char **out, llmux_error_info *err);

/* ------------------------------------------------------ execution records */

/* Reading the execution records a runtime writes (llmux_runtime_params.records): every execution
 * with its attempts, usage, cost and, unless bodies are off, the request and the response text.
 * docs/records.md describes the schema and the JSON of a record.
 *
 * Thread-safety: a llmux_records handle may be used from several threads (calls are serialized
 * on it); open one handle per thread for parallel reads. Reading while a runtime writes the same
 * database is fine (SQLite WAL readers never block the writer; PostgreSQL is a server). */
typedef struct llmux_records llmux_records;

/* Which records llmux_records_list returns. Start from llmux_records_filter_default(). */
typedef struct llmux_records_filter {
    int64_t since_ms;       /* records started at or after this unix time in ms; 0 = no bound */
    const char *model;      /* the requested model (or alias) or the model that answered; NULL = any */
    const char *status;     /* final status name (llmux_status_name: "ok", "cancelled", ...); NULL = any */
    size_t limit;           /* most records; 0 = 100; at most 10000 */
    const char *before_id;  /* paging: records older (in list order) than this id, e.g. the last of
                               the previous page; NULL = from the newest */
    bool with_attempts;     /* include each record's "attempts" array */
} llmux_records_filter;

/* Everything unset: newest 100 records of any model and status, without attempts. */
LLMUX_API llmux_records_filter llmux_records_filter_default(void);

/* Opens a records database: "sqlite:PATH" or "postgresql://..." / "postgres://...". Creates and
 * migrates the schema when needed (so the first open of a new path creates the file). Errors:
 * LLMUX_E_CONFIGURATION for a bad URL, an unreachable server or a schema newer than this library
 * (messages never contain a password); LLMUX_E_OUT_OF_MEMORY. On success *out is owned by the
 * caller (llmux_records_close). */
LLMUX_API llmux_status llmux_records_open(const char *url, llmux_records **out, llmux_error_info *err);
/* Closes the connection and frees the handle. Accepts NULL. */
LLMUX_API void llmux_records_close(llmux_records *rec);
/* Records matching the filter (NULL = the defaults), newest first, as JSON lines: one record
 * object per line, each ending in "\n"; "" when none match. *jsonl is owned by the caller
 * (llmux_free). Errors: LLMUX_E_INVALID_REQUEST for a filter past its caps (unknown status, a
 * model over 256 bytes, limit over 10000, a malformed before_id); LLMUX_E_NETWORK or
 * LLMUX_E_INTERNAL when the database fails. */
LLMUX_API llmux_status llmux_records_list(llmux_records *rec, const llmux_records_filter *filter, char **jsonl,
                                llmux_error_info *err);
/* One record with all its attempts, as a JSON object (no trailing newline); *json is owned by the
 * caller (llmux_free). An id that is malformed (ids are 1..128 characters of A-Z a-z 0-9 . _ : -)
 * or unknown: LLMUX_E_INVALID_REQUEST ("no record <id>"). */
LLMUX_API llmux_status llmux_records_get(llmux_records *rec, const char *id, char **json, llmux_error_info *err);
/* The summed cost (USD, cost.total) of the recorded executions whose caller is `caller` (the name
 * of the API key a server recorded: request metadata "key_name" becomes the record's caller) and
 * that started at or after since_ms (unix ms; 0 = all), counting only known costs; 0 when there
 * are none. One aggregate query. Errors: LLMUX_E_INVALID_REQUEST (caller NULL, empty or over 256
 * bytes; since_ms < 0), LLMUX_E_NETWORK or LLMUX_E_INTERNAL when the database fails; *usd is
 * then 0. Thread-safe like the other llmux_records_* calls. Appended after 0.1.0. */
LLMUX_API llmux_status llmux_records_caller_cost(llmux_records *rec, const char *caller, int64_t since_ms, double *usd,
                                                 llmux_error_info *err);

#ifdef __cplusplus
}
#endif

#endif /* LLMUX_H */
