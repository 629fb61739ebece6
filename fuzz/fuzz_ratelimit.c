/* Retry-delay parsers on arbitrary header values: RFC 3339 instants, reset lists, Go durations and
 * Retry-After never crash or read past the value, return -1 or a delay >= 0, and an instant's delay
 * shrinks exactly as "now" advances. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "providers/common.h"

#define MAX_VALUE 512            /* longer than any header value the transport keeps */
#define NOW 1767225600000LL      /* 2026-01-01T00:00:00Z */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > MAX_VALUE) return 0;
    /* An exact-size copy: ASan catches any read past the terminator. */
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';

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
    free(s);
    return 0;
}
