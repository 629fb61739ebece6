/* Test helpers for adapter decoders: events serialised one per line so whole sequences compare
 * as strings, file loading, and feeding a body split at chosen positions. Header-only (static). */
#ifndef LX_TEST_DECODE_HARNESS_H
#define LX_TEST_DECODE_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "providers/provider.h"

typedef struct harness {
    lx_buf out;      /* serialised events */
    size_t n_events;
    size_t cancel_at; /* return false on this event (1-based); 0 = never */
} harness;

static void h_escape(lx_buf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') lx_buf_append_str(b, "\\n");
        else if (c == '"') lx_buf_append_str(b, "\\\"");
        else if (c == '\\') lx_buf_append_str(b, "\\\\");
        else if (c < 0x20) lx_buf_printf(b, "\\x%02x", c);
        else lx_buf_append(b, &s[i], 1);
    }
}

static void h_str(lx_buf *b, const char *s) {
    if (!s) {
        lx_buf_append_str(b, "-");
        return;
    }
    lx_buf_append_str(b, "\"");
    h_escape(b, s, strlen(s));
    lx_buf_append_str(b, "\"");
}

static bool h_emit(void *ud, const llmux_event *ev) {
    harness *h = ud;
    lx_buf *b = &h->out;
    h->n_events++;
    lx_buf_append_str(b, llmux_event_type_name(ev->type));
    switch (ev->type) {
    case LLMUX_EVENT_START:
        lx_buf_append_str(b, " ");
        h_str(b, ev->id);
        lx_buf_append_str(b, " ");
        h_str(b, ev->name);
        lx_buf_append_str(b, " ");
        h_str(b, ev->provider);
        break;
    case LLMUX_EVENT_TEXT_DELTA:
    case LLMUX_EVENT_TOOL_CALL_DELTA:
        lx_buf_printf(b, " %u \"", ev->index);
        h_escape(b, ev->text, ev->text_len);
        lx_buf_append_str(b, "\"");
        break;
    case LLMUX_EVENT_REASONING_DELTA:
        lx_buf_printf(b, " %u \"", ev->index);
        h_escape(b, ev->text ? ev->text : "", ev->text_len);
        lx_buf_append_str(b, "\"");
        if (ev->signature) {
            lx_buf_append_str(b, " sig=");
            h_str(b, ev->signature);
        }
        if (ev->redacted) lx_buf_append_str(b, " redacted");
        break;
    case LLMUX_EVENT_TOOL_CALL_START:
        lx_buf_printf(b, " %u ", ev->index);
        h_str(b, ev->id);
        lx_buf_append_str(b, " ");
        h_str(b, ev->name);
        break;
    case LLMUX_EVENT_TOOL_CALL_END: lx_buf_printf(b, " %u", ev->index); break;
    case LLMUX_EVENT_USAGE:
        lx_buf_printf(b, " in=%lld out=%lld cached=%lld cache_write=%lld reasoning=%lld total=%lld",
                      (long long)ev->usage.input_tokens, (long long)ev->usage.output_tokens,
                      (long long)ev->usage.cached_input_tokens, (long long)ev->usage.cache_write_tokens,
                      (long long)ev->usage.reasoning_tokens, (long long)ev->usage.total_tokens);
        break;
    case LLMUX_EVENT_FINISH: lx_buf_printf(b, " %s", llmux_finish_reason_name(ev->finish_reason)); break;
    case LLMUX_EVENT_ERROR: lx_buf_printf(b, " %s", ev->error ? llmux_status_name(ev->error->status) : "?"); break;
    }
    lx_buf_append_str(b, "\n");
    return !(h->cancel_at && h->n_events == h->cancel_at);
}

static void h_init(harness *h) {
    memset(h, 0, sizeof *h);
    lx_buf_init(&h->out, 64u << 20);
    lx_buf_append(&h->out, "", 0);
}

/* Reads a whole file; NULL when it does not exist. */
static char *h_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    lx_buf b;
    lx_buf_init(&b, 64u << 20);
    char tmp[8192];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) lx_buf_append(&b, tmp, n);
    fclose(f);
    lx_buf_append(&b, "", 0);
    *len = b.len;
    return b.data;
}

typedef struct h_result {
    char *events;          /* serialised events (free) */
    llmux_status status;   /* first failure of feed/end, or LLMUX_OK */
    llmux_error_info err;
} h_result;

/* Decodes body split into pieces of `chunk` bytes (0 = whole; `first` > 0 = split once there). */
static h_result h_decode(const lx_provider *p, const lx_provider_config *cfg, bool stream, const char *body,
                         size_t len, size_t chunk, size_t first) {
    harness h;
    h_init(&h);
    lx_event_sink sink = {h_emit, &h};
    lx_decoder *d = p->decoder_create(cfg, stream, sink);
    h_result r;
    memset(&r, 0, sizeof r);
    r.status = LLMUX_OK;
    size_t off = 0;
    while (off < len && r.status == LLMUX_OK) {
        size_t n = len - off;
        if (first && off == 0) n = first < len ? first : len;
        else if (chunk && chunk < n) n = chunk;
        r.status = p->decoder_feed(d, body + off, n, &r.err);
        off += n;
    }
    if (r.status == LLMUX_OK) r.status = p->decoder_end(d, &r.err);
    p->decoder_destroy(d);
    r.events = lx_buf_steal(&h.out);
    return r;
}

#endif
