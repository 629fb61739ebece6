#include "utf8.h"

#include <stdint.h>

/* Expected sequence length from a lead byte; 0 for a continuation or invalid lead. */
static int seq_len(unsigned char c) {
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) return 3;
    if (c >= 0xF0 && c <= 0xF4) return 4;
    return 0;
}

size_t lx_utf8_complete_len(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    /* Only the last three bytes can start an incomplete sequence. */
    size_t back = n < 3 ? n : 3;
    for (size_t k = 1; k <= back; k++) {
        unsigned char c = p[n - k];
        if ((c & 0xC0) == 0x80) continue; /* continuation: keep looking for the lead */
        int need = seq_len(c);
        if (need > (int)k) {
            /* Are the bytes after the lead all continuations? Then it is a prefix in progress. */
            for (size_t j = n - k + 1; j < n; j++)
                if ((p[j] & 0xC0) != 0x80) return n;
            return n - k;
        }
        return n;
    }
    return n;
}

bool lx_utf8_valid(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        int len = seq_len(c);
        if (len == 0 || i + (size_t)len > n) return false;
        uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1Fu) : len == 3 ? (c & 0x0Fu) : (c & 0x07u);
        for (int k = 1; k < len; k++) {
            unsigned char d = p[i + (size_t)k];
            if ((d & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (d & 0x3Fu);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return false;
        if (cp >= 0xD800 && cp <= 0xDFFF) return false;
        i += (size_t)len;
    }
    return true;
}
