/* Finding a configured secret (an API key) in text that is about to be printed: libcurl's
 * messages, an upstream's error body, an error message built from them.
 *
 * Matching is by whole token: an occurrence counts only when the characters around it are not
 * key characters (ASCII letters, digits, '-', '_'), or when the key itself starts/ends with a
 * non-key character. A plain substring search would let a one-letter key rewrite every word
 * holding that letter ("chunked" -> "chun*ed"), which both mangles the message and shows where
 * the key's letters are. A key glued inside a longer token is left alone on purpose: such text
 * is not the key as a client would send it.
 *
 * Used by transport/http.c (libcurl messages) and providers/redact.c (error fields). */
#ifndef LX_REDACT_H
#define LX_REDACT_H

#include <stdbool.h>
#include <stddef.h>

/* Whether c may be part of a key (the boundary rule above). */
bool lx_redact_key_char(char c);

/* The offset of the first whole-token occurrence of key in s[from..n), or (size_t)-1 when none.
 * key NULL or "" never matches. */
size_t lx_redact_find(const char *s, size_t n, size_t from, const char *key);

/* Overwrites every whole-token occurrence of key in the NUL-terminated s with '*' (same length,
 * so s never grows), and a key prefix of at least 4 characters cut off by the end of s (a message
 * truncated inside the key). Returns how many were masked. key NULL or "" does nothing. */
size_t lx_redact_mask(char *s, const char *key);

#endif
