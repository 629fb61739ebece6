/* SSE parser: arbitrary bytes in arbitrary chunks never crash, leak or exceed the cap; the
 * events are the same whatever the chunking. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transport/sse.h"

#define CAP 1024

typedef struct acc {
    uint64_t hash;
    size_t n;
} acc;

static llmux_status on_event(void *ud, const lx_sse_event *ev) {
    acc *a = ud;
    if (ev->data_len > CAP || ev->event_len > CAP || strlen(ev->id) > CAP) abort();
    for (size_t i = 0; i < ev->data_len; i++) a->hash = (a->hash ^ (unsigned char)ev->data[i]) * 1099511628211ull;
    for (size_t i = 0; i < ev->event_len; i++) a->hash = (a->hash ^ (unsigned char)ev->event[i]) * 1099511628211ull;
    a->hash = (a->hash ^ (uint64_t)ev->retry_ms) * 1099511628211ull;
    a->n++;
    return LLMUX_OK;
}

static llmux_status run(const uint8_t *data, size_t size, size_t chunk, acc *a, bool *pending) {
    lx_sse_parser p;
    lx_sse_parser_init(&p, CAP);
    llmux_error_info err;
    llmux_status st = LLMUX_OK;
    for (size_t off = 0; off < size && st == LLMUX_OK; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        st = lx_sse_feed(&p, (const char *)data + off, n, on_event, a, &err);
        if (p.line.len > CAP || p.data.len > CAP) abort();
    }
    if (st == LLMUX_OK) st = lx_sse_finish(&p, pending, &err);
    lx_sse_parser_free(&p);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t chunk = (size_t)data[0] % 17 + 1;
    data++;
    size--;
    acc whole = {1469598103934665603ull, 0}, split = {1469598103934665603ull, 0};
    bool p1 = false, p2 = false;
    llmux_status s1 = run(data, size, size ? size : 1, &whole, &p1);
    llmux_status s2 = run(data, size, chunk, &split, &p2);
    /* Chunking never changes the outcome (a failure may stop earlier in one of them only when
     * the cap is hit, which both hit). */
    if (s1 != s2) abort();
    if (s1 == LLMUX_OK && (whole.hash != split.hash || whole.n != split.n || p1 != p2)) abort();
    return 0;
}
