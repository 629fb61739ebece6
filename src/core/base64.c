/* Base64 (base64.h). */
#include "core/base64.h"

#include <stdint.h>

static const char k_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t lx_base64_encoded_len(size_t n) { return (n + 2) / 3 * 4; }

void lx_base64_encode(const void *in, size_t n, char *out) {
    const uint8_t *p = in;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *out++ = k_alpha[v >> 18];
        *out++ = k_alpha[(v >> 12) & 63];
        *out++ = k_alpha[(v >> 6) & 63];
        *out++ = k_alpha[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        *out++ = k_alpha[v >> 18];
        *out++ = k_alpha[(v >> 12) & 63];
        *out++ = '=';
        *out++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        *out++ = k_alpha[v >> 18];
        *out++ = k_alpha[(v >> 12) & 63];
        *out++ = k_alpha[(v >> 6) & 63];
        *out++ = '=';
    }
    *out = 0;
}

static int value_of(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

bool lx_base64_decode(const char *in, size_t len, void *out, size_t max, size_t *n_out) {
    uint8_t *o = out;
    *n_out = 0;
    if (len % 4 != 0) return false;
    size_t k = 0;
    for (size_t i = 0; i < len; i += 4) {
        bool last = i + 4 == len;
        int a = value_of(in[i]), b = value_of(in[i + 1]), c = value_of(in[i + 2]), d = value_of(in[i + 3]);
        if (a < 0 || b < 0) return false;
        size_t bytes = 3;
        if (last && in[i + 2] == '=' && in[i + 3] == '=') {
            if (b & 15) return false; /* non-canonical: bits that encode nothing must be 0 */
            bytes = 1;
        } else if (last && in[i + 3] == '=') {
            if (c < 0 || (c & 3)) return false;
            bytes = 2;
        } else if (c < 0 || d < 0) {
            return false;
        }
        if (k + bytes > max) return false;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)(c < 0 ? 0 : c) << 6 | (uint32_t)(d < 0 ? 0 : d);
        o[k++] = (uint8_t)(v >> 16);
        if (bytes > 1) o[k++] = (uint8_t)(v >> 8);
        if (bytes > 2) o[k++] = (uint8_t)v;
    }
    *n_out = k;
    return true;
}
