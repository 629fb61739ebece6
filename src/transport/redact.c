#include "transport/redact.h"

#include <string.h>

/* Shortest key prefix masked at the end of a cut message: a few characters of a key say little,
 * and fewer would mask ordinary words that happen to start like it. */
#define LX_REDACT_MIN_CUT 4

bool lx_redact_key_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* The match at s[i..i+kl) is a whole token: nothing key-like glued on either side. */
static bool bounded(const char *s, size_t n, size_t i, const char *key, size_t kl) {
    bool left = i == 0 || !lx_redact_key_char(s[i - 1]) || !lx_redact_key_char(key[0]);
    bool right = i + kl == n || !lx_redact_key_char(s[i + kl]) || !lx_redact_key_char(key[kl - 1]);
    return left && right;
}

size_t lx_redact_find(const char *s, size_t n, size_t from, const char *key) {
    if (!s || !key || !*key) return (size_t)-1;
    size_t kl = strlen(key);
    for (size_t i = from; kl <= n && i <= n - kl; i++) {
        if (s[i] == key[0] && memcmp(s + i, key, kl) == 0 && bounded(s, n, i, key, kl)) return i;
    }
    return (size_t)-1;
}

size_t lx_redact_mask(char *s, const char *key) {
    if (!s || !key || !*key) return 0;
    size_t n = strlen(s), kl = strlen(key), count = 0;
    for (size_t i = lx_redact_find(s, n, 0, key); i != (size_t)-1; i = lx_redact_find(s, n, i + kl, key)) {
        memset(s + i, '*', kl);
        count++;
    }
    /* A message cut inside the key (truncated to its buffer) ends with the key's first bytes. At
     * least LX_REDACT_MIN_CUT of them, so a word at the end of a sentence that merely starts
     * like the key is not taken for it; the cut starts a token like a full match would. */
    for (size_t m = kl - 1 < n ? kl - 1 : n; m >= LX_REDACT_MIN_CUT; m--) {
        size_t i = n - m;
        if (memcmp(s + i, key, m) == 0 && (i == 0 || !lx_redact_key_char(s[i - 1]) || !lx_redact_key_char(key[0]))) {
            memset(s + i, '*', m);
            count++;
            break;
        }
    }
    return count;
}
