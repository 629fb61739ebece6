/* Internal JSON helpers for the canonical format (docs/canonical-json.md).
 *
 * Encoding goes through lx_jw, a small writer of our own rather than json_dumps: it replaces
 * invalid UTF-8 with U+FFFD (jansson refuses such strings, and stream deltas can carry them),
 * writes doubles in their shortest round-trip form ("0.7", not "0.69999999999999996") and never
 * depends on the locale. Decoding goes through jansson (strict UTF-8, line/column errors,
 * duplicate keys refused) plus lx_jr, which tracks the field path so every error names it. */
#ifndef LX_JSON_H
#define LX_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "llmux.h"

/* ----------------------------------------------------------------- writer */

/* Commas are placed automatically: before a key or value, one is written unless the previous
 * byte opened a container or ended a key. Any failure (out of memory) is sticky in `failed`. */
typedef struct lx_jw {
    lx_buf buf;
    bool failed;
} lx_jw;

void lx_jw_init(lx_jw *w);
/* Returns the text (caller frees with free()/llmux_free) or NULL when any write failed; the
 * writer is emptied either way. */
char *lx_jw_finish(lx_jw *w);
void lx_jw_obj_begin(lx_jw *w);
void lx_jw_obj_end(lx_jw *w);
void lx_jw_arr_begin(lx_jw *w);
void lx_jw_arr_end(lx_jw *w);
void lx_jw_key(lx_jw *w, const char *key);
/* NULL writes "". */
void lx_jw_str(lx_jw *w, const char *s);
/* Binary-safe: n bytes, NULs written as \u0000, invalid UTF-8 bytes as U+FFFD. */
void lx_jw_strn(lx_jw *w, const char *s, size_t n);
void lx_jw_int(lx_jw *w, int64_t v);
/* Shortest form that reads back to the same double; integral values keep a ".0". Non-finite
 * values have no JSON form and are written as null. */
void lx_jw_real(lx_jw *w, double v);
void lx_jw_bool(lx_jw *w, bool v);
void lx_jw_null(lx_jw *w);
/* A jansson value, compact, keys in their stored (insertion) order. */
void lx_jw_json(lx_jw *w, const json_t *v);
/* JSON object text (a tool schema, provider options) written as a JSON value. Text that is not
 * a JSON object is written as a string, so decoding it again fails with a clear message instead
 * of the encoder producing broken JSON. */
void lx_jw_json_text(lx_jw *w, const char *text);

/* Key + value shorthands. */
void lx_jw_kstr(lx_jw *w, const char *key, const char *s);
void lx_jw_kint(lx_jw *w, const char *key, int64_t v);
void lx_jw_kreal(lx_jw *w, const char *key, double v);
void lx_jw_kbool(lx_jw *w, const char *key, bool v);

/* Writes the shortest "%.*g" form of v that strtod reads back exactly, with '.' as the decimal
 * point whatever the locale. out must hold 40 bytes. Returns the length. */
size_t lx_json_format_double(char *out, double v);

/* Canonical pieces shared by request, response and event encoders. */
void lx_jw_part(lx_jw *w, const llmux_part *p);
void lx_jw_usage(lx_jw *w, const llmux_usage *u);
void lx_jw_error(lx_jw *w, const llmux_error_info *e);

/* ----------------------------------------------------------------- reader */

#define LX_JR_PATH_MAX 256

typedef struct lx_jr {
    lx_arena *arena;        /* where decoded strings and arrays go */
    llmux_error_info *err;  /* may be NULL */
    llmux_status status;    /* first failure */
    const char *root;       /* "request" or "response": names the document in whole-document errors */
    char path[LX_JR_PATH_MAX];
    size_t path_len;
} lx_jr;

void lx_jr_init(lx_jr *r, lx_arena *arena, llmux_error_info *err, const char *root);

/* Parses at most LLMUX_JSON_MAX_BYTES with jansson (duplicate keys refused); NULL with the
 * error in r when the input is too large or not JSON. The caller json_decref()s the result. */
json_t *lx_jr_parse(lx_jr *r, const char *json, size_t len);

/* Path bookkeeping: push returns the length to pop back to. */
size_t lx_jr_push_key(lx_jr *r, const char *key);
size_t lx_jr_push_index(lx_jr *r, size_t i);
void lx_jr_pop(lx_jr *r, size_t len);

/* Copies an untrusted name or value for a message: at most cap-4 bytes (cut on a character
 * boundary, "..." appended) and control characters replaced by '?'. */
void lx_jr_show(char *dst, size_t cap, const char *s);

/* Records "<path>: <message>" (LLMUX_E_INVALID_REQUEST) unless an error is already recorded;
 * returns false so callers can `return lx_jr_fail(...)`. */
bool lx_jr_fail(lx_jr *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Records an out-of-memory failure; returns false. */
bool lx_jr_oom(lx_jr *r);

/* Fails on the first key of obj (document order) that is not in the NULL-terminated list. */
bool lx_jr_check_keys(lx_jr *r, const json_t *obj, const char *const *allowed);
/* Fails with "must be an object" / "must be an array" at the current path. */
bool lx_jr_expect_object(lx_jr *r, const json_t *v);
bool lx_jr_expect_array(lx_jr *r, const json_t *v, size_t max_items);

/* Field getters. A field that is absent leaves *out untouched (and fails with "missing" when
 * required); one of the wrong type fails with "must be ...". Strings are copied into the arena. */
bool lx_jr_string(lx_jr *r, const json_t *obj, const char *key, bool required, const char **out);
/* The string value at the current path (not a field). */
bool lx_jr_string_value(lx_jr *r, const json_t *v, const char **out);
bool lx_jr_bool(lx_jr *r, const json_t *obj, const char *key, bool *out);
/* Integer in [min, max]; `what` completes "must be an integer ..." (e.g. ">= 1"). */
bool lx_jr_int(lx_jr *r, const json_t *obj, const char *key, int64_t min, int64_t max, const char *what,
               int64_t *out);
/* Number (integer or real) accepted by ok(); `what` completes "must be a number ...". */
bool lx_jr_number(lx_jr *r, const json_t *obj, const char *key, bool (*ok)(double), const char *what, double *out);
/* A JSON object stored as compact JSON text in the arena. */
bool lx_jr_json_object(lx_jr *r, const json_t *obj, const char *key, const char **out);

bool lx_jr_part(lx_jr *r, const json_t *v, llmux_part *out);
/* Fails at key: `<what> "<value>"<tail>` (the value shown as lx_jr_show does; tail may be NULL).
 * Always false. */
bool lx_jr_fail_value(lx_jr *r, const char *key, const char *what, const char *value, const char *tail);
/* obj's optional "cache" ("5m" | "1h") into *out (left as is when absent). */
bool lx_jr_cache(lx_jr *r, const json_t *obj, llmux_cache *out);
bool lx_jr_usage(lx_jr *r, const json_t *obj, const char *key, llmux_usage *out);
bool lx_jr_error(lx_jr *r, const json_t *obj, const char *key, llmux_error_info *out);

#endif
