/* What the HTTP client tests share: a body sink for on_data and the POST request they all send.
 * Header-only (static functions) for the transport tests; include after <cmocka.h>. */
#ifndef LX_TEST_HTTP_SINK_H
#define LX_TEST_HTTP_SINK_H

#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "transport/http.h"

typedef struct sink {
    lx_buf body;
    int calls;
    int fail_after;   /* >0: the callback fails on that call */
    int64_t first_ns; /* when the first chunk arrived */
} sink;

/* on_data: runs on the client's loop thread, so it reports failure by status, never asserts. */
static llmux_status collect(void *ud, const char *data, size_t len, llmux_error_info *err) {
    sink *s = ud;
    if (!s->calls++) s->first_ns = lx_now_ns();
    if (s->fail_after && s->calls >= s->fail_after)
        return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "test: callback refused chunk %d", s->calls);
    return lx_buf_append(&s->body, data, len) ? LLMUX_OK : lx_error(err, LLMUX_E_OUT_OF_MEMORY, "test: sink full");
}

static inline void sink_init(sink *s) {
    memset(s, 0, sizeof *s);
    lx_buf_init(&s->body, 1 << 20);
}

static inline const char *sink_text(const sink *s) { return s->body.data ? s->body.data : ""; }

/* POST {"q":1} to url with the headers, into s, generous timeouts; ca NULL = the system store. */
static inline lx_http_request test_request(const char *url, const lx_http_header *h, size_t nh, sink *s,
                                           const char *ca) {
    lx_http_request r = lx_http_request_default();
    r.method = "POST";
    r.url = url;
    r.headers = h;
    r.n_headers = nh;
    r.body = "{\"q\":1}";
    r.body_len = strlen(r.body);
    r.on_data = collect;
    r.user_data = s;
    r.timeouts.connect_ms = 10000;
    r.timeouts.first_byte_ms = 30000;
    r.timeouts.idle_ms = 30000;
    r.timeouts.total_ms = 60000;
    r.ca_bundle = ca;
    return r;
}

#endif
