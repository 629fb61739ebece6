/* Fuzzes the gemini response decoder (SSE stream and whole body). The first input byte picks the
 * mode and the chunk size; the rest is the body. Properties checked beyond memory safety: the
 * events a decoder emits are always accepted by the shared aggregator, and a decoder that
 * reports success has emitted its terminal FINISH. */
#include <stdint.h>
#include <stdlib.h>

#include "llmux.h"
#include "providers/provider.h"

typedef struct sink_state {
    llmux_aggregator *agg;
} sink_state;

static bool on_event(void *user, const llmux_event *ev) {
    sink_state *s = user;
    llmux_error_info err;
    if (llmux_aggregator_add(s->agg, ev, &err) != LLMUX_OK) abort(); /* the decoder broke the event contract */
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const lx_provider *p = &lx_provider_gemini;
    bool stream = (data[0] & 0x80) == 0;
    size_t chunk = (size_t)(data[0] & 0x7f) + 1;
    data++;
    size--;
    sink_state s = {llmux_aggregator_create()};
    if (!s.agg) return 0;
    lx_provider_config cfg = {.name = "gemini", .model = "m"};
    lx_decoder *d = p->decoder_create(&cfg, stream, (lx_event_sink){on_event, &s});
    if (!d) {
        llmux_aggregator_destroy(s.agg);
        return 0;
    }
    llmux_error_info err;
    llmux_status st = LLMUX_OK;
    for (size_t off = 0; off < size && st == LLMUX_OK; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        st = p->decoder_feed(d, (const char *)data + off, n, &err);
    }
    if (st == LLMUX_OK) st = p->decoder_end(d, &err);
    if (st == LLMUX_OK && !llmux_aggregator_done(s.agg)) abort(); /* success without FINISH */
    p->decoder_destroy(d);
    llmux_response_free(llmux_aggregator_response(s.agg));
    llmux_aggregator_destroy(s.agg);
    return 0;
}
