/* A fast path for the OpenAI stream's most common events, a content delta:
 *   {"id":"…","object":"chat.completion.chunk","created":1,"model":"…",
 *    "choices":[{"index":0,"delta":{"content":"…"},"logprobs":null,"finish_reason":null}]}
 * and the role chunk, finish chunk and usage chunk of the same shape, read without building a
 * jansson DOM (that was ~31% of the server's CPU on a proxied stream, docs/benchmarks.md
 * "Gateway"; the role and finish chunks through jansson were still ~5% after content deltas
 * moved here, the usage chunk ~3% after that). */
#ifndef LX_OPENAI_FAST_CHUNK_H
#define LX_OPENAI_FAST_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A usage object's counts, as the decoder's map_usage reads them. */
enum {
    LX_FAST_U_PROMPT = 1,          /* usage.prompt_tokens */
    LX_FAST_U_COMPLETION = 2,      /* usage.completion_tokens */
    LX_FAST_U_TOTAL = 4,           /* usage.total_tokens */
    LX_FAST_U_CACHED = 8,          /* usage.prompt_tokens_details.cached_tokens */
    LX_FAST_U_CACHE_WRITE = 16,    /* usage.prompt_tokens_details.cache_write_tokens */
    LX_FAST_U_REASONING = 32,      /* usage.completion_tokens_details.reasoning_tokens */
};

typedef struct lx_openai_usage {
    bool present;           /* usage is an object */
    unsigned set;           /* LX_FAST_U_* of the counts present */
    int64_t v[6];           /* by bit position: prompt, completion, total, cached, cache_write, reasoning */
} lx_openai_usage;

typedef struct lx_openai_delta {
    bool has_content;  /* delta.content is a string (possibly empty) */
    size_t content_len;
    /* The raw bytes of the id and model strings (pointers into data; NULL when absent), and
     * whether they hold an escape (then the bytes are not the value: the caller that needs the
     * value decodes the chunk in full). */
    const char *id, *model;
    size_t id_len, model_len;
    bool id_escaped, model_escaped;
    /* finish_reason when it is a string: its bytes (no escape in them, else the chunk is
     * refused), pointing into data; NULL when null or absent. */
    const char *finish;
    size_t finish_len;
    lx_openai_usage usage;  /* a usage object (the stream's last chunk, with no choice) */
} lx_openai_delta;

/* True when data[0..len) is exactly a chunk of that narrow shape, strict JSON that jansson reads
 * the same way: top-level keys only id, object, model, obfuscation (strings),
 * system_fingerprint, service_tier (string or null), created (integer), usage (null, or an
 * object as in lx_openai_fast_body below) and choices (one object: index 0, delta, logprobs
 * null, finish_reason null or a string without escapes; or, with a usage object, none: the
 * stream_options.include_usage chunk); delta's keys only
 * content (string or null), role (string), refusal (null); no key twice, none spelled with an
 * escape; no \u0000 and no number other than a plain integer. Then delta.content, unescaped, is in buf[0..content_len)
 * (buf holds at least len bytes: the unescaped text is never longer). Anything else: false,
 * nothing to trust in *out, and the caller decodes the chunk in full. Pure (no state). */
bool lx_openai_fast_delta(const char *data, size_t len, char *buf, lx_openai_delta *out);

/* The same for a whole non-streaming answer, a text-only chat.completion:
 *   {"id":"…","object":"chat.completion","created":1,"model":"…",
 *    "choices":[{"index":0,"message":{"role":"assistant","content":"…","refusal":null,
 *                "annotations":[]},"logprobs":null,"finish_reason":"stop"}],
 *    "usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2,
 *             "prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},
 *             "completion_tokens_details":{"reasoning_tokens":0,…}},
 *    "service_tier":"default","system_fingerprint":"fp_…"}
 * (jansson's DOM of it was ~8% of the server's CPU per proxied non-streaming request,
 * docs/benchmarks.md "Gateway", fifth pass). Accepted: the top-level keys of a chunk above, usage
 * an object or null, choices exactly one object (index 0, message, logprobs null, finish_reason
 * null or a string without escapes); message's keys only role (string), content (string or
 * null), refusal (null), annotations (an empty array); usage's keys only the three counts and the
 * two details objects, whose keys are only the counts listed in LX_FAST_U_*, and the ones
 * OpenAI sends that the decoder ignores (audio_tokens, accepted_prediction_tokens,
 * rejected_prediction_tokens), every value a plain non-negative integer. No key twice. Then
 * message.content, unescaped, is in buf[0..content_len) (buf holds at least len bytes). */

typedef struct lx_openai_body {
    bool has_content;
    size_t content_len;
    const char *id, *model; /* as in lx_openai_delta */
    size_t id_len, model_len;
    bool id_escaped, model_escaped;
    const char *finish;     /* as in lx_openai_delta */
    size_t finish_len;
    lx_openai_usage usage;
} lx_openai_body;

bool lx_openai_fast_body(const char *data, size_t len, char *buf, lx_openai_body *out);

#endif
