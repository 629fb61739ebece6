/* The body of every adapter-decoder fuzz target (fuzz_<provider>_stream.c): the decoder runs on
 * arbitrary bytes, streaming or not, fed in arbitrary chunks, and must never crash or leak. Two
 * property sets, each with the input layout its seed corpora were written for:
 *
 * - lx_fuzz_stream_events: byte 0 bit 0 = stream, bits 1..7 pick a chunk of 1..31 bytes. The
 *   events are checked one by one (START first and once, nothing after the terminal event, no
 *   NULL text with a length), success requires a terminal event, and map_error takes the same
 *   bytes as an error body.
 * - lx_fuzz_stream_aggregate: byte 0 bit 7 clear = stream, bits 0..6 pick a chunk of 1..128
 *   bytes. Every event must be accepted by the shared aggregator, and success requires FINISH.
 *
 * Header-only (static inline: each target uses one of the two). */
#ifndef LX_FUZZ_STREAM_HARNESS_H
#define LX_FUZZ_STREAM_HARNESS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llmux.h"
#include "providers/provider.h"

/* Feeds data in pieces of `chunk` bytes until the first failure, then ends the stream. */
static inline llmux_status lx_fuzz_feed(const lx_provider *p, lx_decoder *d, const uint8_t *data, size_t size,
                                        size_t chunk, llmux_error_info *err) {
    llmux_status st = LLMUX_OK;
    for (size_t off = 0; off < size && st == LLMUX_OK; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        st = p->decoder_feed(d, (const char *)data + off, n, err);
    }
    if (st == LLMUX_OK) st = p->decoder_end(d, err);
    return st;
}

typedef struct lx_fuzz_check {
    bool terminal;
    bool started;
} lx_fuzz_check;

static inline bool lx_fuzz_check_event(void *ud, const llmux_event *ev) {
    lx_fuzz_check *c = ud;
    if (c->terminal) abort();
    if (ev->type == LLMUX_EVENT_START) {
        if (c->started) abort();
        c->started = true;
        return true;
    }
    if (!c->started) abort();
    if ((ev->type == LLMUX_EVENT_TEXT_DELTA || ev->type == LLMUX_EVENT_TOOL_CALL_DELTA) && ev->text_len && !ev->text)
        abort();
    if (ev->type == LLMUX_EVENT_FINISH || ev->type == LLMUX_EVENT_ERROR) c->terminal = true;
    return true;
}

static inline int lx_fuzz_stream_events(const lx_provider *p, const char *name, const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    bool stream = data[0] & 1;
    size_t chunk = (size_t)(data[0] >> 1) % 31 + 1;
    data++;
    size--;
    lx_provider_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = name;
    lx_fuzz_check c;
    memset(&c, 0, sizeof c);
    lx_decoder *d = p->decoder_create(&cfg, stream, (lx_event_sink){lx_fuzz_check_event, &c});
    if (!d) return 0;
    llmux_error_info err;
    llmux_status st = lx_fuzz_feed(p, d, data, size, chunk, &err);
    if (st == LLMUX_OK && !c.terminal) abort(); /* success means the stream finished */
    if (st != LLMUX_OK && err.status != st) abort();
    p->decoder_destroy(d);
    static const int statuses[] = {400, 401, 403, 404, 408, 413, 429, 500, 502, 503, 504, 529};
    p->map_error(statuses[chunk % 12], (const char *)data, size, stream ? "Wed, 21 Oct 2015 07:28:00 GMT" : "1.5",
                 &err);
    if (err.status == LLMUX_OK) abort();
    if (!memchr(err.provider_message, 0, sizeof err.provider_message)) abort();
    return 0;
}

static inline bool lx_fuzz_aggregate_event(void *user, const llmux_event *ev) {
    llmux_error_info err;
    if (llmux_aggregator_add(user, ev, &err) != LLMUX_OK) abort(); /* the decoder broke the event contract */
    return true;
}

static inline int lx_fuzz_stream_aggregate(const lx_provider *p, const char *name, const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    bool stream = (data[0] & 0x80) == 0;
    size_t chunk = (size_t)(data[0] & 0x7f) + 1;
    data++;
    size--;
    llmux_aggregator *agg = llmux_aggregator_create();
    if (!agg) return 0;
    lx_provider_config cfg = {.name = name, .model = "m"};
    lx_decoder *d = p->decoder_create(&cfg, stream, (lx_event_sink){lx_fuzz_aggregate_event, agg});
    if (!d) {
        llmux_aggregator_destroy(agg);
        return 0;
    }
    llmux_error_info err;
    llmux_status st = lx_fuzz_feed(p, d, data, size, chunk, &err);
    if (st == LLMUX_OK && !llmux_aggregator_done(agg)) abort(); /* success without FINISH */
    p->decoder_destroy(d);
    llmux_response_free(llmux_aggregator_response(agg));
    llmux_aggregator_destroy(agg);
    return 0;
}

#endif
