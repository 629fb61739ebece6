/* The openai adapter's decoder on arbitrary bytes: streaming or not, in arbitrary chunks, never
 * crashes or leaks; the event stream is well formed (one terminal event at most, nothing after
 * it, deltas only for started parts); the error mapper takes the same bytes as an error body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "providers/provider.h"

typedef struct check {
    bool terminal;
    bool started;
    uint32_t open_tools[64];
    size_t n_open;
} check;

static bool on_event(void *ud, const llmux_event *ev) {
    check *c = ud;
    if (c->terminal) abort();
    if (ev->type == LLMUX_EVENT_START) {
        if (c->started) abort();
        c->started = true;
        return true;
    }
    if (!c->started) abort();
    if ((ev->type == LLMUX_EVENT_TEXT_DELTA || ev->type == LLMUX_EVENT_TOOL_CALL_DELTA) && ev->text_len && !ev->text) abort();
    if (ev->type == LLMUX_EVENT_FINISH || ev->type == LLMUX_EVENT_ERROR) c->terminal = true;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    bool stream = data[0] & 1;
    size_t chunk = (size_t)(data[0] >> 1) % 31 + 1;
    data++;
    size--;
    const lx_provider *p = &lx_provider_openai;
    lx_provider_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = "openai";
    check c;
    memset(&c, 0, sizeof c);
    lx_decoder *d = p->decoder_create(&cfg, stream, (lx_event_sink){on_event, &c});
    if (!d) return 0;
    llmux_error_info err;
    llmux_status st = LLMUX_OK;
    for (size_t off = 0; off < size && st == LLMUX_OK; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        st = p->decoder_feed(d, (const char *)data + off, n, &err);
    }
    if (st == LLMUX_OK) st = p->decoder_end(d, &err);
    if (st == LLMUX_OK && !c.terminal) abort(); /* success means the stream finished */
    if (st != LLMUX_OK && err.status != st) abort();
    p->decoder_destroy(d);
    static const int statuses[] = {400, 401, 403, 404, 408, 413, 429, 500, 502, 503, 504, 529};
    p->map_error(statuses[chunk % 12], (const char *)data, size, stream ? "Wed, 21 Oct 2015 07:28:00 GMT" : "1.5", &err);
    if (err.status == LLMUX_OK) abort();
    if (!memchr(err.provider_message, 0, sizeof err.provider_message)) abort();
    return 0;
}
