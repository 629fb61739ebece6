/* UTF-8 helpers for streaming: text deltas are never split inside a character. */
#ifndef LX_UTF8_H
#define LX_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the longest prefix of s[0..n) that does not end inside an incomplete UTF-8
 * sequence. Invalid bytes count as complete (they are passed on, not held forever). */
size_t lx_utf8_complete_len(const char *s, size_t n);
/* Whether s[0..n) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool lx_utf8_valid(const char *s, size_t n);

#endif
