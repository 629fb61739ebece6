/* NDJSON framer: arbitrary bytes in arbitrary chunks never crash, leak or exceed the cap, and
 * chunking never changes the lines. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transport/ndjson.h"

#define CAP 512

typedef struct acc {
    uint64_t hash;
    size_t n;
} acc;

static llmux_status on_line(void *ud, const char *line, size_t len) {
    acc *a = ud;
    if (len > CAP + 1) abort();
    for (size_t i = 0; i < len; i++) a->hash = (a->hash ^ (unsigned char)line[i]) * 1099511628211ull;
    a->hash = (a->hash ^ 0xFF) * 1099511628211ull;
    a->n++;
    return LLMUX_OK;
}

static llmux_status run(const uint8_t *data, size_t size, size_t chunk, acc *a) {
    lx_ndjson_framer f;
    lx_ndjson_init(&f, CAP);
    llmux_error_info err;
    llmux_status st = LLMUX_OK;
    for (size_t off = 0; off < size && st == LLMUX_OK; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        st = lx_ndjson_feed(&f, (const char *)data + off, n, on_line, a, &err);
        if (f.line.len > CAP + 1) abort(); /* + a CR held for a CRLF split across chunks */
    }
    if (st == LLMUX_OK) st = lx_ndjson_finish(&f, on_line, a, &err);
    lx_ndjson_free(&f);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t chunk = (size_t)data[0] % 13 + 1;
    data++;
    size--;
    acc whole = {1469598103934665603ull, 0}, split = {1469598103934665603ull, 0};
    llmux_status s1 = run(data, size, size ? size : 1, &whole);
    llmux_status s2 = run(data, size, chunk, &split);
    if (s1 != s2) abort();
    if (s1 == LLMUX_OK && (whole.hash != split.hash || whole.n != split.n)) abort();
    return 0;
}
