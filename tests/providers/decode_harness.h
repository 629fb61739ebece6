/* Test harness for every adapter's decoder and encoder tests (openai, ollama, anthropic,
 * gemini): runs a decoder over bytes fed in pieces of a chosen size, records the events as text
 * so whole sequences compare as strings, loads files, and compares encoded bodies with golden
 * JSON. Header-only (static inline: each test uses part of it).
 *
 * The events are written in one of two line formats, because golden event files and expected
 * strings exist in both:
 * - h_decode (h_result): `text_delta 0 "esc\"aped"` (llmux_event_type_name, C-style escapes);
 * - h_decode_rec (h_rec): `text[0] raw text`, with every event also fed to the shared
 *   aggregator so a test can check the response it builds. */
#ifndef LX_TEST_DECODE_HARNESS_H
#define LX_TEST_DECODE_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "llmux.h"
#include "providers/provider.h"

/* ------------------------------------------------------------ shared */

/* Reads a whole file (NUL-terminated; *len when len is not NULL); NULL when it does not exist. */
static inline char *h_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    lx_buf b;
    lx_buf_init(&b, 64u << 20);
    char tmp[8192];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) assert_true(lx_buf_append(&b, tmp, n));
    fclose(f);
    if (len) *len = b.len;
    return lx_buf_steal(&b);
}

/* Recorded traffic lives outside the repository: skip (with the reason) when it is absent. */
static inline char *h_load_or_skip(const char *path, size_t *len) {
    char *b = h_read_file(path, len);
    if (!b) {
        printf("skipping: %s not present\n", path);
        skip();
    }
    return b;
}

/* Conformance tests call this first: without the recorded fixtures (a user's fresh clone) the
 * whole test reports SKIP to CTest (exit 77, SKIP_RETURN_CODE), never a pass. */
#define H_SKIP_EXIT 77
static inline void h_fixtures_or_skip(const char *dir) {
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("SKIP: %s is absent (recorded provider fixtures; present in CI)\n", dir);
        exit(H_SKIP_EXIT);
    }
}

static inline void h_require_dir(const char *dir) {
    struct stat st;
    if (stat(dir, &st) != 0) {
        print_message("skipped: %s is absent\n", dir);
        skip();
    }
}

/* Feeds body to d in pieces of `chunk` bytes (0 = whole; `first` > 0 = split once there), then
 * ends the stream. Returns the first failure, or LLMUX_OK. */
static inline llmux_status h_feed(const lx_provider *p, lx_decoder *d, const char *body, size_t len, size_t chunk,
                                  size_t first, llmux_error_info *err) {
    llmux_status st = LLMUX_OK;
    size_t off = 0;
    while (off < len && st == LLMUX_OK) {
        size_t n = len - off;
        if (first && off == 0) n = first < len ? first : len;
        else if (chunk && chunk < n) n = chunk;
        st = p->decoder_feed(d, body + off, n, err);
        off += n;
    }
    if (st == LLMUX_OK) st = p->decoder_end(d, err);
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

/* An error body and what map_error must make of it. */
typedef struct err_case {
    int http;
    const char *body;
    const char *retry_after;
    llmux_status want;
    const char *code;
    int64_t retry_ms;
} err_case;

/* Runs case i through p->map_error into *err (first filled with `fill` bytes, so an unset field
 * shows) and checks the class, provider_status, provider_code and retry_after_ms. */
static inline void h_check_error_case(const lx_provider *p, const err_case *c, size_t i, int fill,
                                      llmux_error_info *err) {
    memset(err, fill, sizeof *err);
    p->map_error(c->http, c->body, strlen(c->body), c->retry_after, err);
    if (err->status != c->want)
        fail_msg("case %zu (HTTP %d): %s, want %s", i, c->http, llmux_status_name(err->status),
                 llmux_status_name(c->want));
    assert_int_equal(err->provider_status, c->http);
    if (strcmp(err->provider_code, c->code) != 0)
        fail_msg("case %zu: code \"%s\", want \"%s\"", i, err->provider_code, c->code);
    if (err->retry_after_ms != c->retry_ms)
        fail_msg("case %zu: retry %lld, want %lld", i, (long long)err->retry_after_ms, (long long)c->retry_ms);
}

/* ------------------------------------------- escaped format (h_decode) */

typedef struct harness {
    lx_buf out;       /* serialised events */
    size_t n_events;
    size_t cancel_at; /* return false on this event (1-based); 0 = never */
} harness;

static inline void h_escape(lx_buf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') lx_buf_append_str(b, "\\n");
        else if (c == '"') lx_buf_append_str(b, "\\\"");
        else if (c == '\\') lx_buf_append_str(b, "\\\\");
        else if (c < 0x20) lx_buf_printf(b, "\\x%02x", c);
        else lx_buf_append(b, &s[i], 1);
    }
}

static inline void h_str(lx_buf *b, const char *s) {
    if (!s) {
        lx_buf_append_str(b, "-");
        return;
    }
    lx_buf_append_str(b, "\"");
    h_escape(b, s, strlen(s));
    lx_buf_append_str(b, "\"");
}

static inline bool h_emit(void *ud, const llmux_event *ev) {
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
    case LLMUX_EVENT_NATIVE:
        lx_buf_printf(b, " %u ", ev->index);
        h_str(b, ev->name);
        lx_buf_append_str(b, " ");
        lx_buf_append(b, ev->text, ev->text_len);
        break;
    case LLMUX_EVENT_USAGE:
        lx_buf_printf(b, " in=%lld out=%lld cached=%lld cache_write=%lld reasoning=%lld total=%lld",
                      (long long)ev->usage.input_tokens, (long long)ev->usage.output_tokens,
                      (long long)ev->usage.cached_input_tokens, (long long)ev->usage.cache_write_tokens,
                      (long long)ev->usage.reasoning_tokens, (long long)ev->usage.total_tokens);
        if (ev->usage.web_search_requests >= 0) lx_buf_printf(b, " web_searches=%lld", (long long)ev->usage.web_search_requests);
        if (ev->cost_known) lx_buf_printf(b, " cost=%.9g", ev->cost_usd);
        break;
    case LLMUX_EVENT_FINISH:
        lx_buf_printf(b, " %s", llmux_finish_reason_name(ev->finish_reason));
        if (ev->text && ev->text_len) {
            lx_buf_append_str(b, " stop=\"");
            h_escape(b, ev->text, ev->text_len);
            lx_buf_append_str(b, "\"");
        }
        break;
    case LLMUX_EVENT_ERROR: lx_buf_printf(b, " %s", ev->error ? llmux_status_name(ev->error->status) : "?"); break;
    }
    lx_buf_append_str(b, "\n");
    return !(h->cancel_at && h->n_events == h->cancel_at);
}

static inline void h_init(harness *h) {
    memset(h, 0, sizeof *h);
    lx_buf_init(&h->out, 64u << 20);
    lx_buf_append(&h->out, "", 0);
}

typedef struct h_result {
    char *events;        /* serialised events (free) */
    llmux_status status; /* first failure of feed/end, or LLMUX_OK */
    llmux_error_info err;
} h_result;

/* Decodes body split into pieces of `chunk` bytes (0 = whole; `first` > 0 = split once there). */
static inline h_result h_decode(const lx_provider *p, const lx_provider_config *cfg, bool stream, const char *body,
                                size_t len, size_t chunk, size_t first) {
    harness h;
    h_init(&h);
    lx_decoder *d = p->decoder_create(cfg, stream, (lx_event_sink){h_emit, &h});
    h_result r;
    memset(&r, 0, sizeof r);
    r.status = h_feed(p, d, body, len, chunk, first, &r.err);
    p->decoder_destroy(d);
    r.events = lx_buf_steal(&h.out);
    return r;
}

/* Decodes a recorded file whole and byte by byte (skipped when the file is absent); both runs
 * must agree. Returns the whole-file run. */
static inline h_result h_decode_fixture(const lx_provider *p, const lx_provider_config *cfg, const char *path,
                                        bool stream) {
    size_t len = 0;
    char *body = h_load_or_skip(path, &len);
    h_result r = h_decode(p, cfg, stream, body, len, 0, 0);
    h_result b = h_decode(p, cfg, stream, body, len, 1, 0);
    assert_string_equal(b.events, r.events);
    assert_int_equal(b.status, r.status);
    free(b.events);
    free(body);
    return r;
}

/* Decodes the wire file and compares with the golden events file: whole, split once at every
 * offset, and byte by byte; the status must be want_status every time. */
static inline void h_expect_events(const lx_provider *p, const lx_provider_config *cfg, bool stream, const char *wire,
                                   const char *events, llmux_status want_status) {
    size_t len = 0, elen = 0;
    char *body = h_read_file(wire, &len);
    char *want = h_read_file(events, &elen);
    assert_non_null(body);
    assert_non_null(want);
    h_result r = h_decode(p, cfg, stream, body, len, 0, 0);
    if (strcmp(r.events, want) != 0) fail_msg("%s: events differ:\n%s--- want:\n%s", wire, r.events, want);
    assert_int_equal(r.status, want_status);
    for (size_t k = 1; k < len; k++) {
        h_result q = h_decode(p, cfg, stream, body, len, 0, k);
        if (strcmp(q.events, want) != 0 || q.status != want_status)
            fail_msg("%s: split at %zu differs:\n%s", wire, k, q.events);
        free(q.events);
    }
    h_result b = h_decode(p, cfg, stream, body, len, 1, 0);
    assert_string_equal(b.events, want);
    assert_int_equal(b.status, want_status);
    free(b.events);
    free(r.events);
    free(body);
    free(want);
}

/* ------------------------------------ line format + aggregator (h_rec) */

typedef struct h_rec {
    lx_buf lines;
    llmux_aggregator *agg;
    llmux_status agg_status;
    size_t n_events;
    size_t stop_after; /* return false from the sink after this many events; 0 = never */
} h_rec;

static inline void h_printf(lx_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static inline void h_printf(lx_buf *b, const char *fmt, ...) {
    char tmp[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    assert_true(lx_buf_append_str(b, tmp));
}

static inline bool h_emit_line(void *user, const llmux_event *ev) {
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
    case LLMUX_EVENT_NATIVE: h_printf(b, "native[%u] %s %.*s\n", ev->index, ev->name ? ev->name : "-", tl, t); break;
    case LLMUX_EVENT_USAGE:
        h_printf(b, "usage in=%lld out=%lld cached=%lld write=%lld reasoning=%lld total=%lld\n",
                 (long long)ev->usage.input_tokens, (long long)ev->usage.output_tokens,
                 (long long)ev->usage.cached_input_tokens, (long long)ev->usage.cache_write_tokens,
                 (long long)ev->usage.reasoning_tokens, (long long)ev->usage.total_tokens);
        if (ev->usage.web_search_requests >= 0) h_printf(b, "web_searches %lld\n", (long long)ev->usage.web_search_requests);
        if (ev->cost_known) h_printf(b, "cost %.9g\n", ev->cost_usd);
        break;
    case LLMUX_EVENT_FINISH:
        if (ev->text && ev->text_len)
            h_printf(b, "finish %s stop=%.*s\n", llmux_finish_reason_name(ev->finish_reason), (int)ev->text_len, ev->text);
        else
            h_printf(b, "finish %s\n", llmux_finish_reason_name(ev->finish_reason));
        break;
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
static inline llmux_status h_decode_rec(const lx_provider *p, bool stream, const char *data, size_t len, size_t chunk,
                                        h_rec *r, llmux_error_info *err) {
    lx_buf_init(&r->lines, 1u << 24);
    r->agg = llmux_aggregator_create();
    assert_non_null(r->agg);
    lx_provider_config cfg = {.name = NULL, .model = "m"};
    lx_decoder *d = p->decoder_create(&cfg, stream, (lx_event_sink){h_emit_line, r});
    assert_non_null(d);
    llmux_status st = h_feed(p, d, data, len, chunk, 0, err);
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

/* Decodes a file at chunk sizes 1, 7 and whole: the events (and status) must not depend on how
 * the bytes were split. Returns the status; r holds the whole-file run. */
static inline llmux_status h_decode_file(const lx_provider *p, bool stream, const char *path, h_rec *r,
                                         llmux_error_info *err) {
    size_t len = 0;
    char *data = h_read_file(path, &len);
    if (!data) fail_msg("cannot read %s", path);
    llmux_status st = h_decode_rec(p, stream, data, len, 0, r, err);
    static const size_t chunks[] = {1, 7};
    for (size_t i = 0; i < 2; i++) {
        h_rec other = {0};
        llmux_error_info e2;
        llmux_status st2 = h_decode_rec(p, stream, data, len, chunks[i], &other, &e2);
        assert_int_equal(st2, st);
        assert_string_equal(h_lines(&other), h_lines(r));
        h_rec_free(&other);
    }
    free(data);
    return st;
}

/* Decodes a recorded file in dir (h_decode_file) whose outcome must be `want`, and returns the
 * response the aggregator built (the caller frees it). */
static inline llmux_response *h_decode_response(const lx_provider *p, const char *dir, const char *name, bool stream,
                                                llmux_status want, llmux_error_info *err) {
    char path[512];
    snprintf(path, sizeof path, "%s%s", dir, name);
    h_rec r = {0};
    llmux_status st = h_decode_file(p, stream, path, &r, err);
    if (st != want) fail_msg("%s: %s (%s), want %s", name, llmux_status_name(st), err->message, llmux_status_name(want));
    assert_int_equal(r.agg_status, LLMUX_OK);
    llmux_response *resp = llmux_aggregator_response(r.agg);
    assert_non_null(resp);
    h_rec_free(&r);
    return resp;
}

#endif
