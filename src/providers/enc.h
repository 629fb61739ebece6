/* Request-encoder state shared by the adapters that build their wire JSON piece by piece
 * (anthropic, gemini). Every builder below returns NULL/false once a step has failed and keeps
 * the first failure (status + message prefixed with the provider), so an encoder can chain calls
 * and check once. Builders that take a json_t argument steal it, also on failure, which lets a
 * nested builder's NULL pass straight through. */
#ifndef LX_PROVIDERS_ENC_H
#define LX_PROVIDERS_ENC_H

#include <jansson.h>
#include <stdbool.h>

#include "llmux.h"

typedef struct lx_enc {
    llmux_error_info *err;
    llmux_status st;          /* LLMUX_OK until the first failure */
    const char *who;          /* message prefix ("anthropic"); borrowed, static lifetime */
    const llmux_request *req; /* the request being encoded (borrowed) */
} lx_enc;

/* Records a failure (only the first one counts) as "<who>: <message>". Always returns false. */
bool lx_enc_failf(lx_enc *c, llmux_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Records LLMUX_E_OUT_OF_MEMORY; returns false. */
bool lx_enc_oom(lx_enc *c);

/* A JSON string of s (NULL gives ""). jansson refuses invalid UTF-8, which is the caller's
 * mistake: that is LLMUX_E_INVALID_REQUEST naming `where`, not an out-of-memory. */
json_t *lx_enc_str(lx_enc *c, const char *s, const char *where);
/* obj[key] = v; steals v. A NULL v is an earlier failure (or an allocation that failed). */
bool lx_enc_set(lx_enc *c, json_t *obj, const char *key, json_t *v);
/* Appends v to arr; steals v like lx_enc_set. */
bool lx_enc_push(lx_enc *c, json_t *arr, json_t *v);
/* obj[key] = v as a JSON real; an unset value (llmux_is_unset) writes nothing. */
bool lx_enc_set_real(lx_enc *c, json_t *obj, const char *key, double v);
/* A new object, with "type": type when type is not NULL. */
json_t *lx_enc_obj(lx_enc *c, const char *type);
/* Parses caller JSON that must be an object (tool arguments, schemas); NULL or "" gives {}.
 * Invalid JSON or another type is LLMUX_E_INVALID_REQUEST naming `where`. */
json_t *lx_enc_parse_object(lx_enc *c, const char *text, const char *where);

/* Makes one text element of the adapter's format (an Anthropic text block, a Gemini part). */
typedef json_t *(*lx_enc_text_fn)(lx_enc *c, const char *text, const char *where);
/* Appends the request's system prompt, then the text of every SYSTEM message, to arr, each as
 * text() makes it. A system message holding anything but text is LLMUX_E_INVALID_REQUEST. */
bool lx_enc_system_texts(lx_enc *c, json_t *arr, lx_enc_text_fn text);

#endif
