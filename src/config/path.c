/* Key paths ("models.chain.targets[1].weight"), the error format and "did you mean". */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "config/internal.h"
#include "core/error.h"

static void put(lx_cpath *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void put(lx_cpath *p, const char *fmt, ...) {
    if (p->truncated) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p->buf + p->len, sizeof p->buf - p->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof p->buf - p->len) {
        /* Keep what fits and say it was cut: "models.x.targets...". */
        p->truncated = true;
        p->len = sizeof p->buf - 1;
        memcpy(p->buf + sizeof p->buf - 4, "...", 4);
        return;
    }
    p->len += (size_t)n;
}

/* Keys that read unambiguously after a dot; anything else ("vllm-a/qwen", "a b") is bracketed. */
static bool simple_key(const char *k) {
    if (!*k) return false;
    for (const char *c = k; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-') return false;
    return true;
}

size_t lx_cpath_key(lx_cpath *p, const char *key) {
    size_t old = p->len;
    if (simple_key(key)) put(p, "%s%s", p->len ? "." : "", key);
    else put(p, "[\"%.64s\"]", key);
    return old;
}

size_t lx_cpath_index(lx_cpath *p, size_t i) {
    size_t old = p->len;
    put(p, "[%zu]", i);
    return old;
}

void lx_cpath_pop(lx_cpath *p, size_t len) {
    if (len > p->len) return;
    p->len = len;
    p->buf[len] = '\0';
    p->truncated = false;
}

llmux_status lx_cfg_errorv(llmux_error_info *err, const char *file, int line, int col, const char *path,
                           const char *fmt, va_list ap) {
    char what[400];
    vsnprintf(what, sizeof what, fmt, ap);
    if (path && *path) return lx_error(err, LLMUX_E_CONFIGURATION, "%s:%d:%d: %s: %s", file, line, col, path, what);
    return lx_error(err, LLMUX_E_CONFIGURATION, "%s:%d:%d: %s", file, line, col, what);
}

llmux_status lx_cfg_error(llmux_error_info *err, const char *file, int line, int col, const char *path,
                          const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    llmux_status st = lx_cfg_errorv(err, file, line, col, path, fmt, ap);
    va_end(ap);
    return st;
}

/* Levenshtein distance, case-insensitive, on short words (longer ones are never suggested). */
static size_t distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return SIZE_MAX;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t best = diag + cost;
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *lx_cfg_suggest(const char *word, const char *const *candidates, size_t n) {
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    size_t wl = strlen(word);
    for (size_t i = 0; i < n; i++) {
        size_t d = distance(word, candidates[i]);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    /* Close enough to be a typo: up to a third of the word, at least 1 and at most 3 edits. */
    size_t limit = wl / 3;
    if (limit < 1) limit = 1;
    if (limit > 3) limit = 3;
    return best && best_d <= limit ? best : NULL;
}
