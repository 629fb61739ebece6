/* Key masking on arbitrary text and keys (transport/redact.h, lx_redact_secrets): never crashes
 * or reads past the text, never changes its length, only ever writes '*', and leaves no
 * whole-token occurrence of the key behind. Input: one length byte, that many key bytes, then
 * the text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "providers/redact.h"
#include "transport/redact.h"

#define MAX_TEXT 4096 /* past the largest error field */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An exact-size NUL-terminated copy without inner NULs (the redactor sees C strings). */
static char *copy(const uint8_t *p, size_t n) {
    char *s = malloc(n + 1);
    if (!s) return NULL;
    for (size_t i = 0; i < n; i++) s[i] = p[i] ? (char)p[i] : ' ';
    s[n] = '\0';
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t kl = data[0] % 48;
    if (size - 1 < kl || size - 1 - kl > MAX_TEXT) return 0;
    char *key = copy(data + 1, kl);
    char *text = copy(data + 1 + kl, size - 1 - kl);
    char *before = copy(data + 1 + kl, size - 1 - kl);
    if (!key || !text || !before) abort();
    size_t n = strlen(text);

    lx_redact_secrets(text, key);
    if (strlen(text) != n) abort();
    for (size_t i = 0; i < n; i++)
        if (text[i] != before[i] && text[i] != '*') abort();
    /* A key made of '*' would match its own mask: not a key anyone configures. */
    if (kl && !strchr(key, '*') && lx_redact_find(text, n, 0, key) != (size_t)-1) abort();

    free(key);
    free(text);
    free(before);
    return 0;
}
