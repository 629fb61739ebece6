/* A fast path for the OpenAI stream's most common events, a content delta:
 *   {"id":"…","object":"chat.completion.chunk","created":1,"model":"…",
 *    "choices":[{"index":0,"delta":{"content":"…"},"logprobs":null,"finish_reason":null}]}
 * and the role chunk and finish chunk of the same shape, read without building a jansson DOM
 * (that was ~31% of the server's CPU on a proxied stream, docs/benchmarks.md "Gateway"; the
 * role and finish chunks through jansson were still ~5% after content deltas moved here). */
#ifndef LX_OPENAI_FAST_CHUNK_H
#define LX_OPENAI_FAST_CHUNK_H

#include <stdbool.h>
#include <stddef.h>

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
} lx_openai_delta;

/* True when data[0..len) is exactly a chunk of that narrow shape, strict JSON that jansson reads
 * the same way: top-level keys only id, object, model, obfuscation (strings),
 * system_fingerprint, service_tier (string or null), created (integer), usage (null) and
 * choices (one object: index 0, delta, logprobs null, finish_reason null or a string without
 * escapes); delta's keys only
 * content (string or null), role (string), refusal (null); no key twice; no \u0000 and no
 * number other than a plain integer. Then delta.content, unescaped, is in buf[0..content_len)
 * (buf holds at least len bytes: the unescaped text is never longer). Anything else: false,
 * nothing to trust in *out, and the caller decodes the chunk in full. Pure (no state). */
bool lx_openai_fast_delta(const char *data, size_t len, char *buf, lx_openai_delta *out);

#endif
