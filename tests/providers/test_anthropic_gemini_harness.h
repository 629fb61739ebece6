/* Test harness shared by the Anthropic and Gemini adapter tests: runs a decoder over bytes fed
 * in chunks of a chosen size, records the events as text lines (exact comparisons) and feeds
 * them to the shared aggregator; compares encoded bodies with golden JSON files. */
#ifndef TEST_ANTHROPIC_GEMINI_HARNESS_H
#define TEST_ANTHROPIC_GEMINI_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "llmux.h"
#include "providers/provider.h"

typedef struct h_rec {
    lx_buf lines;
    llmux_aggregator *agg;
    llmux_status agg_status;
    size_t n_events;
    size_t stop_after; /* return false from the sink after this many events; 0 = never */
} h_rec;

static inline void h_printf(lx_buf *b, const char *fmt, ...) {
    char tmp[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    assert_true(lx_buf_append_str(b, tmp));
}

static inline bool h_emit(void *user, const llmux_event *ev) {
    h_rec *r = user;
    lx_buf *b = &r->lines;
    int tl = (int)ev->text_len;
    const char *t = ev->text ? ev->text : "";
    switch (ev->type) {
    case LLMUX_EVENT_START:
        h_printf(b, "start id=%s model=%s provider=%s\n", ev->id ? ev->id : "-", ev->name ? ev->name : "-",
                 ev->provider ? ev->provider : "-");
        break;
    case LLMUX_EVENT_TEXT_DELTA: h_printf(b, "text[%u] %.*s\n", ev->index, tl, t); break;
    case LLMUX_EVENT_REASONING_DELTA:
        h_printf(b, "reasoning[%u] %.*s%s%s%s\n", ev->index, tl, t, ev->signature ? " sig=" : "",
                 ev->signature ? ev->signature : "", ev->redacted ? " redacted" : "");
        break;
    case LLMUX_EVENT_TOOL_CALL_START: h_printf(b, "tool_start[%u] id=%s name=%s\n", ev->index, ev->id, ev->name); break;
    case LLMUX_EVENT_TOOL_CALL_DELTA: h_printf(b, "tool_delta[%u] %.*s\n", ev->index, tl, t); break;
    case LLMUX_EVENT_TOOL_CALL_END: h_printf(b, "tool_end[%u]\n", ev->index); break;
    case LLMUX_EVENT_USAGE:
        h_printf(b, "usage in=%lld out=%lld cached=%lld write=%lld reasoning=%lld total=%lld\n",
                 (long long)ev->usage.input_tokens, (long long)ev->usage.output_tokens,
                 (long long)ev->usage.cached_input_tokens, (long long)ev->usage.cache_write_tokens,
                 (long long)ev->usage.reasoning_tokens, (long long)ev->usage.total_tokens);
        break;
    case LLMUX_EVENT_FINISH: h_printf(b, "finish %s\n", llmux_finish_reason_name(ev->finish_reason)); break;
    default: h_printf(b, "event %d\n", (int)ev->type); break;
    }
    if (r->agg && r->agg_status == LLMUX_OK) {
        llmux_error_info e;
        r->agg_status = llmux_aggregator_add(r->agg, ev, &e);
        if (r->agg_status != LLMUX_OK) print_message("aggregator: %s\n", e.message);
    }
    r->n_events++;
    return !(r->stop_after && r->n_events >= r->stop_after);
}

/* Decodes data fed in chunks of `chunk` bytes (0 = all at once). Returns the decoder's status;
 * r->lines holds the events. r must be zeroed; call h_rec_free after. */
static inline llmux_status h_decode(const lx_provider *p, bool stream, const char *data, size_t len, size_t chunk,
                                    h_rec *r, llmux_error_info *err) {
    lx_buf_init(&r->lines, 1u << 24);
    r->agg = llmux_aggregator_create();
    assert_non_null(r->agg);
    lx_provider_config cfg = {.name = NULL, .model = "m"};
    lx_decoder *d = p->decoder_create(&cfg, stream, (lx_event_sink){h_emit, r});
    assert_non_null(d);
    llmux_status st = LLMUX_OK;
    if (chunk == 0) chunk = len ? len : 1;
    for (size_t off = 0; off < len && st == LLMUX_OK; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        st = p->decoder_feed(d, data + off, n, err);
    }
    if (st == LLMUX_OK) st = p->decoder_end(d, err);
    /* After a failure the decoder stays failed with the same status. */
    if (st != LLMUX_OK) assert_int_equal(p->decoder_feed(d, "x", 1, NULL), st);
    p->decoder_destroy(d);
    return st;
}

static inline void h_rec_free(h_rec *r) {
    lx_buf_free(&r->lines);
    llmux_aggregator_destroy(r->agg);
    memset(r, 0, sizeof *r);
}

static inline const char *h_lines(const h_rec *r) { return r->lines.data ? r->lines.data : ""; }

static inline char *h_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    lx_buf b;
    lx_buf_init(&b, 1u << 26);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) assert_true(lx_buf_append(&b, tmp, n));
    fclose(f);
    if (len) *len = b.len;
    return lx_buf_steal(&b);
}

/* Decodes a file at chunk sizes 1, 7 and whole: the events (and status) must not depend on how
 * the bytes were split. Returns the status; r holds the whole-file run. */
static inline llmux_status h_decode_file(const lx_provider *p, bool stream, const char *path, h_rec *r,
                                         llmux_error_info *err) {
    size_t len = 0;
    char *data = h_read_file(path, &len);
    if (!data) fail_msg("cannot read %s", path);
    llmux_status st = h_decode(p, stream, data, len, 0, r, err);
    static const size_t chunks[] = {1, 7};
    for (size_t i = 0; i < 2; i++) {
        h_rec other = {0};
        llmux_error_info e2;
        llmux_status st2 = h_decode(p, stream, data, len, chunks[i], &other, &e2);
        assert_int_equal(st2, st);
        assert_string_equal(h_lines(&other), h_lines(r));
        h_rec_free(&other);
    }
    free(data);
    return st;
}

static inline void h_expect_golden(const lx_buf *body, const char *golden_path) {
    json_error_t je;
    json_t *got = json_loadb(body->data, body->len, 0, &je);
    if (!got) fail_msg("encoded body is not JSON: %s\n%.*s", je.text, (int)body->len, body->data);
    json_t *want = json_load_file(golden_path, 0, &je);
    if (!want) fail_msg("golden %s: %s (line %d)", golden_path, je.text, je.line);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_INDENT(2) | JSON_SORT_KEYS);
        char *w = json_dumps(want, JSON_INDENT(2) | JSON_SORT_KEYS);
        print_message("got:\n%s\nwant:\n%s\n", g, w);
        free(g);
        free(w);
        fail_msg("body differs from %s", golden_path);
    }
    json_decref(got);
    json_decref(want);
}

static inline const lx_wire_header *h_header(const lx_wire_request *w, const char *name) {
    for (size_t i = 0; i < w->n_headers; i++)
        if (strcmp(w->headers[i].name, name) == 0) return &w->headers[i];
    return NULL;
}

#endif
