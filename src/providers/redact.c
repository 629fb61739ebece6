#define _DEFAULT_SOURCE /* explicit_bzero, strdup */
#include "providers/redact.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "transport/redact.h"

static bool token_char(char c) {
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '*' || c == '.';
}

/* Masks s[from..) up to the end of the token with '*'. Returns the end. */
static size_t mask_token(char *s, size_t from) {
    size_t i = from;
    while (s[i] && token_char(s[i])) s[i++] = '*';
    return i;
}

void lx_redact_secrets(char *s, const char *secret) {
    if (!s) return;
    static const struct {
        const char *prefix;
        size_t min_tail; /* characters that must follow, to avoid masking prose */
    } k[] = {{"sk-", 4}, {"sk_", 4}, {"AIza", 16}, {"Bearer ", 1}, {"key=", 1}};
    for (size_t i = 0; s[i];) {
        bool at_start = i == 0 || !token_char(s[i - 1]);
        bool hit = false;
        for (size_t j = 0; at_start && j < sizeof k / sizeof k[0]; j++) {
            size_t pl = strlen(k[j].prefix);
            if (strncmp(s + i, k[j].prefix, pl) != 0) continue;
            size_t tail = 0;
            while (s[i + pl + tail] && token_char(s[i + pl + tail])) tail++;
            if (tail < k[j].min_tail) continue;
            i = mask_token(s, i + pl);
            hit = true;
            break;
        }
        if (!hit) i++;
    }
    /* The configured key last: masking a credential-shaped token above can turn the character
     * next to a key occurrence into '*', making it a whole token (whole tokens only: see
     * transport/redact.h). */
    lx_redact_mask(s, secret);
}

void lx_redact_error(llmux_error_info *err, const char *key) {
    if (!err) return;
    lx_redact_secrets(err->message, key);
    lx_redact_secrets(err->provider_message, key);
    lx_redact_secrets(err->provider_code, key);
}

llmux_status lx_redact_status(llmux_status st, llmux_error_info *err, llmux_error_info *sticky, const char *key) {
    if (st == LLMUX_OK) return st;
    lx_redact_error(err, key);
    if (sticky != err) lx_redact_error(sticky, key);
    return st;
}

char *lx_secret_dup(const char *key) { return key && *key ? strdup(key) : NULL; }

void lx_secret_free(char *key) {
    if (!key) return;
    explicit_bzero(key, strlen(key));
    free(key);
}
