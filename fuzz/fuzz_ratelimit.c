/* Retry-delay parsers on arbitrary input: RFC 3339 instants, reset lists, Go durations and
 * Retry-After never crash or read past the value, return -1 or a delay >= 0, and an instant's delay
 * shrinks exactly as "now" advances. The same bytes as a block of kept header lines
 * (lx_http_response.kept_headers) go through lx_ratelimit_exhausted_resets: never a read past the
 * block, a list that fits the output (any size), at most LX_RATELIMIT_MAX_LIMITS whole values,
 * each one a value that appeared in the block. */
#define _GNU_SOURCE /* memmem, strdup, strtok_r */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "providers/dates.h"
#include "providers/ratelimit.h"
#include "transport/http.h"

#define MAX_VALUE 512            /* longer than any header value the transport keeps */
#define NOW 1767225600000LL      /* 2026-01-01T00:00:00Z */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void values(const char *s, size_t size) {
    int64_t t0 = lx_parse_rfc3339_ms(s, NOW);
    if (t0 < -1) abort();
    if (t0 >= 0) {
        int64_t t1 = lx_parse_rfc3339_ms(s, NOW + 1000);
        if (t1 != (t0 > 1000 ? t0 - 1000 : 0)) abort();
        if (strchr(s, ',')) abort(); /* never part of an instant */
        /* A lone instant short enough to be one list item is its own list. */
        if (size < 96 && lx_parse_ratelimit_reset(s, NOW) < t0) abort();
    }
    int64_t list = lx_parse_ratelimit_reset(s, NOW);
    if (list < -1) abort();
    int64_t d = lx_parse_duration_ms(s);
    if (d < -1) abort();
    if (d >= 0 && !strchr(s, ',') && size < 96 && list < d) abort();
    if (lx_parse_retry_after(s, NOW) < -1) abort();
}

static void header_block(const char *block, size_t size) {
    char out[LX_RATELIMIT_LIST_MAX + 1];
    for (size_t cap = 1; cap <= LX_RATELIMIT_LIST_MAX; cap = cap < 16 ? cap + 1 : cap * 2 + 1) {
        if (cap > LX_RATELIMIT_LIST_MAX) cap = LX_RATELIMIT_LIST_MAX;
        memset(out, 'X', sizeof out);
        lx_ratelimit_exhausted_resets(block, size, out, cap);
        size_t n = strlen(out);
        if (n >= cap) abort();
        if (n == 0) continue;
        /* Whole values from the block, ", "-separated, at most the limit's count. */
        size_t items = 1;
        for (const char *p = out; (p = strstr(p, ", ")); p += 2) items++;
        if (items > LX_RATELIMIT_MAX_LIMITS) abort();
        char *copy = strdup(out), *save = NULL;
        if (!copy) abort();
        for (char *v = strtok_r(copy, ",", &save); v; v = strtok_r(NULL, ",", &save)) {
            while (*v == ' ') v++;
            if (!*v || strlen(v) >= LX_RATELIMIT_RESET_MAX || !memmem(block, size, v, strlen(v))) abort();
        }
        free(copy);
        if (lx_parse_ratelimit_reset(out, NOW) < -1) abort();
        if (cap == LX_RATELIMIT_LIST_MAX) break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > LX_HTTP_KEPT_HEADERS_MAX) return 0;
    /* Exact-size copies: ASan catches any read past the terminator, or past the block. */
    char *s = malloc(size + 1);
    char *block = malloc(size ? size : 1);
    if (!s || !block) {
        free(s);
        free(block);
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0';
    memcpy(block, data, size);
    if (size <= MAX_VALUE) values(s, size);
    header_block(block, size);
    free(block);
    free(s);
    return 0;
}
