/* The server's key helpers (src/server/http/keys.c) from untrusted bytes: the credential headers
 * (Authorization / x-api-key values as a client sends them), model patterns against model names
 * (checked against a plain recursive matcher: the iterative one must agree on every input), the
 * key lookup by digest and the token bucket with arbitrary clocks. Input: four NUL-separated
 * fields: authorization, x-api-key, pattern, model. Inputs are capped at 4 KiB (headers and
 * patterns are far smaller in practice; the matcher's recursion reference needs the bound). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The definition, written the obvious way (exponential in the worst case): *budget counts the
 * calls left; -1 = too expensive to decide, the comparison is skipped. */
static int ref_match(const char *p, const char *s, long *budget) {
    if (--*budget <= 0) return -1;
    if (!*p) return !*s;
    if (*p == '*') {
        for (const char *t = s;; t++) {
            int r = ref_match(p + 1, t, budget);
            if (r != 0) return r;
            if (!*t) return 0;
        }
    }
    if (!*s) return 0;
    if (*p == '?' || *p == *s) return ref_match(p + 1, s + 1, budget);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char *buf = malloc(size + 4);
    if (!buf) return 0;
    memcpy(buf, data, size);
    memset(buf + size, 0, 4);
    const char *field[4];
    size_t at = 0;
    for (int i = 0; i < 4; i++) {
        field[i] = buf + (at <= size ? at : size);
        at += strlen(field[i]) + 1;
    }
    const char *cred = NULL;
    size_t len = 0;
    if (lx_key_credential(*field[0] ? field[0] : NULL, *field[1] ? field[1] : NULL, &cred, &len)) {
        /* The credential lies inside one of the two values and has no surrounding blanks. */
        if (!cred || len == 0 || cred < buf || cred + len > buf + size + 4) abort();
        if (cred[0] == ' ' || cred[0] == '\t' || cred[len - 1] == ' ' || cred[len - 1] == '\t') abort();
        static const char *const all[] = {"*"};
        lx_config_key k = {.name = "k", .models = all, .n_models = 1};
        lx_sha256(cred, len, k.sha256);
        if (len <= LX_CONFIG_KEY_MAX_BYTES && lx_key_find(&k, 1, cred, len) != 0) abort();
    }
    bool m = lx_glob_match(field[2], field[3]);
    if (strlen(field[2]) <= 64 && strlen(field[3]) <= 64) {
        long budget = 20000;
        int r = ref_match(field[2], field[3], &budget);
        if (r >= 0 && (r == 1) != m) abort();
    }
    lx_rate rate = {0};
    int64_t rpm = (int64_t)(size % 1000);
    int64_t t = 1;
    for (size_t i = 0; i < size && i < 64; i++) {
        t += (int64_t)(unsigned char)buf[i] * 37 - 2000; /* clocks that also go backwards */
        int64_t w = lx_rate_take(&rate, rpm, t);
        if (w < 0 || (rpm > 0 && w > 60001) || (rpm <= 0 && w != 0)) abort();
    }
    free(buf);
    return 0;
}
