/* HTTP/2 for the fake server (libnghttp2's server session, fed from and written to the TLS
 * connection by the server thread). Each stream takes the next script entry when its request is
 * complete; its delays (status, between chunks) are timers the server loop waits on, so several
 * streams progress at once on one connection. One script chunk = one DATA frame (at most 16 KiB). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "support/fake_server_internal.h"

#define MAX_STREAMS 64        /* concurrent streams per connection (advertised in SETTINGS) */
#define MAX_RESP_HEADERS 64

typedef struct stream {
    struct stream *next;
    int32_t id;
    lx_fake_request *rq;      /* being received; moved to the records when complete */
    char *body;
    size_t body_len, body_cap;
    lx_fake_entry *e;         /* the script entry answering it; NULL before the request completes */
    bool submitted;           /* response headers submitted */
    bool deferred;            /* the data provider waits for next_at */
    bool stalled;             /* LX_FAKE_END_STALL reached: never resumed */
    int64_t respond_at;       /* monotonic ms: when to submit the response */
    int64_t next_at;          /* monotonic ms: the next chunk's time */
    size_t off, limit, step, chunk_left;
} stream;

struct lx_fake_h2 {
    nghttp2_session *session;
    lx_fake_server *srv;
    lx_fake_conn *conn;
    stream *streams;
    int active;
    lx_fake_entry fixed[2]; /* the answers of answer_500: exhausted, unexpected */
};

static stream *find(lx_fake_h2 *h, int32_t id) {
    for (stream *st = h->streams; st; st = st->next)
        if (st->id == id) return st;
    return NULL;
}

static void free_stream(stream *st) {
    if (!st) return;
    if (st->rq) free(st->rq->body);
    free(st->rq);
    free(st->body);
    free(st);
}

/* ------------------------------------------------------------- responses */

static ssize_t read_body(nghttp2_session *session, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                         nghttp2_data_source *source, void *ud) {
    (void)session;
    (void)id;
    (void)ud;
    stream *st = source->ptr;
    const lx_fake_response *r = &st->e->r;
    if (st->off >= st->limit) {
        if (r->end == LX_FAKE_END_NORMAL) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            return 0;
        }
        /* BREAK: the stream is reset (RST_STREAM INTERNAL_ERROR), the h2 form of a cut body. */
        if (r->end == LX_FAKE_END_BREAK) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        st->stalled = st->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    int64_t now = lx_fake_now_ms();
    if (st->next_at > now) {
        st->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    size_t k = st->chunk_left < length ? st->chunk_left : length;
    memcpy(buf, st->e->body + st->off, k);
    st->off += k;
    st->chunk_left -= k;
    if (st->chunk_left == 0 && st->off < st->limit) {
        st->chunk_left = st->limit - st->off < st->step ? st->limit - st->off : st->step;
        if (r->chunk_delay_ms > 0) st->next_at = now + r->chunk_delay_ms;
    }
    if (st->off >= st->limit && r->end == LX_FAKE_END_NORMAL) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)k;
}

static nghttp2_nv nv(const char *name, const char *value) {
    nghttp2_nv v = {(uint8_t *)name, (uint8_t *)value, strlen(name), strlen(value), NGHTTP2_NV_FLAG_NONE};
    return v;
}

/* Connection-specific fields are forbidden in HTTP/2 (RFC 9113 8.2.2). */
static bool h1_only(const char *name) {
    return strcmp(name, "connection") == 0 || strcmp(name, "transfer-encoding") == 0 ||
           strcmp(name, "keep-alive") == 0 || strcmp(name, "content-length") == 0 || strcmp(name, "upgrade") == 0;
}

/* Submits a response: status, the script's header lines (names lowercased, as HTTP/2 requires)
 * and a body from the stream's data provider. nghttp2 copies the name/value pairs. */
static bool submit(lx_fake_h2 *h, stream *st, int status, const char *headers, bool with_length, size_t body_len,
                   bool has_body) {
    char store[8192];
    size_t used = 0;
    nghttp2_nv nva[MAX_RESP_HEADERS];
    size_t n = 0;
    char status_s[8], len_s[24];
    snprintf(status_s, sizeof status_s, "%d", status);
    nva[n++] = nv(":status", status_s);
    for (const char *line = headers ? headers : ""; *line && n + 1 < MAX_RESP_HEADERS;) {
        const char *eol = strstr(line, "\r\n");
        size_t ll = eol ? (size_t)(eol - line) : strlen(line);
        const char *colon = memchr(line, ':', ll);
        if (colon && ll + 2 <= sizeof store - used) {
            char *name = store + used;
            size_t nl = (size_t)(colon - line);
            for (size_t i = 0; i < nl; i++) name[i] = (char)((line[i] >= 'A' && line[i] <= 'Z') ? line[i] + 32 : line[i]);
            name[nl] = '\0';
            char *value = name + nl + 1;
            const char *v = colon + 1;
            while (v < line + ll && (*v == ' ' || *v == '\t')) v++;
            size_t vl = (size_t)(line + ll - v);
            memcpy(value, v, vl);
            value[vl] = '\0';
            used += nl + vl + 2;
            if (!h1_only(name)) nva[n++] = nv(name, value);
        }
        if (!eol) break;
        line = eol + 2;
    }
    if (with_length && n < MAX_RESP_HEADERS) {
        snprintf(len_s, sizeof len_s, "%zu", body_len);
        nva[n++] = nv("content-length", len_s);
    }
    nghttp2_data_provider prd = {.source = {.ptr = st}, .read_callback = read_body};
    st->submitted = true;
    return nghttp2_submit_response(h->session, st->id, nva, n, has_body ? &prd : NULL) == 0;
}

static bool start_response(lx_fake_h2 *h, stream *st) {
    const lx_fake_response *r = &st->e->r;
    size_t body_len = r->body_len;
    st->limit = r->end == LX_FAKE_END_NORMAL ? body_len : (r->end_after < body_len ? r->end_after : body_len);
    st->step = r->chunk_size ? r->chunk_size : (st->limit ? st->limit : 1);
    st->chunk_left = st->limit < st->step ? st->limit : st->step;
    bool has_body = st->limit > 0 || r->end != LX_FAKE_END_NORMAL;
    return submit(h, st, r->status ? r->status : 200, st->e->headers, !r->chunked && !r->close_delimited, body_len,
                  has_body);
}

/* A fixed plain-text answer (script exhausted or mismatched), from a static entry. */
static bool answer_500(lx_fake_h2 *h, stream *st, const char *msg) {
    lx_fake_entry *e = &h->fixed[strstr(msg, "exhausted") ? 0 : 1];
    e->body = (char *)msg;
    e->r.body_len = strlen(msg);
    e->r.status = 500;
    st->e = e;
    return start_response(h, st);
}

/* ------------------------------------------------------------- requests */

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *ud) {
    lx_fake_h2 *h = ud;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    stream *st = calloc(1, sizeof *st);
    if (st) st->rq = calloc(1, sizeof *st->rq);
    if (!st || !st->rq) {
        free_stream(st);
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    st->id = frame->hd.stream_id;
    st->rq->http_version = 2;
    st->rq->tls = true;
    st->next = h->streams;
    h->streams = st;
    h->active++;
    pthread_mutex_lock(&h->srv->mu);
    h->srv->n_h2_streams++;
    if (h->active > h->srv->h2_max_concurrent) h->srv->h2_max_concurrent = h->active;
    pthread_mutex_unlock(&h->srv->mu);
    (void)session;
    return 0;
}

static void append_header(lx_fake_request *rq, const char *name, size_t nl, const char *value, size_t vl) {
    size_t used = strlen(rq->headers);
    /* Bounded like the HTTP/1.1 records: what does not fit is dropped. */
    if (used + nl + vl + 5 > sizeof rq->headers) return;
    memcpy(rq->headers + used, name, nl);
    used += nl;
    memcpy(rq->headers + used, ": ", 2);
    used += 2;
    memcpy(rq->headers + used, value, vl);
    used += vl;
    memcpy(rq->headers + used, "\r\n", 3);
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t nl,
                     const uint8_t *value, size_t vl, uint8_t flags, void *ud) {
    (void)session;
    (void)flags;
    stream *st = find(ud, frame->hd.stream_id);
    if (!st || !st->rq || frame->hd.type != NGHTTP2_HEADERS) return 0;
    lx_fake_request *rq = st->rq;
    const char *n = (const char *)name, *v = (const char *)value;
    if (nl == 7 && memcmp(n, ":method", 7) == 0) snprintf(rq->method, sizeof rq->method, "%.*s", (int)vl, v);
    else if (nl == 5 && memcmp(n, ":path", 5) == 0) snprintf(rq->path, sizeof rq->path, "%.*s", (int)vl, v);
    else if (nl == 10 && memcmp(n, ":authority", 10) == 0) append_header(rq, "host", 4, v, vl);
    else if (nl && n[0] != ':') append_header(rq, n, nl, v, vl);
    return 0;
}

static int on_data(nghttp2_session *session, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *ud) {
    (void)flags;
    stream *st = find(ud, id);
    if (!st || !st->rq) return 0;
    if (len > LX_FAKE_MAX_REQUEST - st->body_len) {
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    if (st->body_len + len + 1 > st->body_cap) {
        size_t cap = st->body_cap ? st->body_cap : 4096;
        while (cap < st->body_len + len + 1) cap *= 2;
        char *b = realloc(st->body, cap);
        if (!b) return NGHTTP2_ERR_CALLBACK_FAILURE;
        st->body = b;
        st->body_cap = cap;
    }
    memcpy(st->body + st->body_len, data, len);
    st->body_len += len;
    st->body[st->body_len] = '\0';
    return 0;
}

/* The request is complete (END_STREAM): record it and pick its answer. */
static int request_done(lx_fake_h2 *h, stream *st) {
    lx_fake_request *rq = st->rq;
    rq->body = st->body ? st->body : calloc(1, 1);
    rq->body_len = st->body_len;
    st->body = NULL;
    st->body_cap = st->body_len = 0;
    if (!rq->body) return NGHTTP2_ERR_CALLBACK_FAILURE;
    char method[sizeof rq->method], path[sizeof rq->path];
    memcpy(method, rq->method, sizeof method);
    memcpy(path, rq->path, sizeof path);
    lx_fake_record(h->srv, rq);
    free(rq->body); /* NULL when the record took it */
    free(rq);
    st->rq = NULL;
    bool match;
    lx_fake_entry *e = lx_fake_take_entry(h->srv, method, path, &match);
    if (!e) return answer_500(h, st, "fake server: script exhausted") ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
    if (!match) return answer_500(h, st, "fake server: unexpected request") ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
    st->e = e;
    st->respond_at = lx_fake_now_ms() + (e->r.status_delay_ms > 0 ? e->r.status_delay_ms : 0);
    if (e->r.status_delay_ms <= 0 && !start_response(h, st)) return NGHTTP2_ERR_CALLBACK_FAILURE;
    return 0;
}

static int on_frame(nghttp2_session *session, const nghttp2_frame *frame, void *ud) {
    (void)session;
    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
        !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    stream *st = find(ud, frame->hd.stream_id);
    return st && st->rq ? request_done(ud, st) : 0;
}

static int on_close(nghttp2_session *session, int32_t id, uint32_t code, void *ud) {
    (void)session;
    (void)code;
    lx_fake_h2 *h = ud;
    for (stream **p = &h->streams; *p; p = &(*p)->next) {
        if ((*p)->id != id) continue;
        stream *st = *p;
        *p = st->next;
        free_stream(st);
        h->active--;
        break;
    }
    return 0;
}

/* ------------------------------------------------------------- connection */

static bool flush(lx_fake_h2 *h) {
    for (;;) {
        const uint8_t *data = NULL;
        ssize_t n = nghttp2_session_mem_send(h->session, &data);
        if (n < 0) return false;
        if (n == 0) break;
        if (!lx_fake_send_all(h->srv, h->conn, data, (size_t)n)) return false;
    }
    return nghttp2_session_want_read(h->session) || nghttp2_session_want_write(h->session);
}

bool lx_fake_h2_start(lx_fake_server *s, lx_fake_conn *c) {
    lx_fake_h2 *h = calloc(1, sizeof *h);
    nghttp2_session_callbacks *cb = NULL;
    if (!h || nghttp2_session_callbacks_new(&cb) != 0) {
        free(h);
        return false;
    }
    h->srv = s;
    h->conn = c;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
    int rv = nghttp2_session_server_new(&h->session, cb, h);
    nghttp2_session_callbacks_del(cb);
    if (rv != 0) {
        free(h);
        return false;
    }
    c->h2 = h;
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS}};
    return nghttp2_submit_settings(h->session, NGHTTP2_FLAG_NONE, iv, 1) == 0 && flush(h);
}

bool lx_fake_h2_on_readable(lx_fake_server *s, lx_fake_conn *c) {
    (void)s;
    lx_fake_h2 *h = c->h2;
    uint8_t buf[16384];
    for (;;) {
        ssize_t n = lx_fake_recv(c, buf, sizeof buf);
        if (n == 0) return false;
        if (n < 0) break;
        if (nghttp2_session_mem_recv(h->session, buf, (size_t)n) < 0) return false;
        if ((size_t)n < sizeof buf) break;
    }
    return flush(h);
}

bool lx_fake_h2_tick(lx_fake_server *s, lx_fake_conn *c) {
    (void)s;
    lx_fake_h2 *h = c->h2;
    int64_t now = lx_fake_now_ms();
    for (stream *st = h->streams; st; st = st->next) {
        if (!st->e) continue;
        if (!st->submitted && st->respond_at <= now) {
            if (!start_response(h, st)) return false;
        } else if (st->deferred && !st->stalled && st->next_at <= now) {
            st->deferred = false;
            nghttp2_session_resume_data(h->session, st->id);
        }
    }
    return flush(h);
}

int lx_fake_h2_next_ms(const lx_fake_conn *c) {
    const lx_fake_h2 *h = c->h2;
    int64_t now = lx_fake_now_ms(), best = -1;
    for (const stream *st = h->streams; st; st = st->next) {
        int64_t at = -1;
        if (st->e && !st->submitted) at = st->respond_at;
        else if (st->deferred && !st->stalled) at = st->next_at;
        if (at >= 0 && (best < 0 || at < best)) best = at;
    }
    if (best < 0) return -1;
    return best <= now ? 0 : (int)(best - now);
}

void lx_fake_h2_free(lx_fake_conn *c) {
    lx_fake_h2 *h = c->h2;
    if (!h) return;
    nghttp2_session_del(h->session);
    while (h->streams) {
        stream *st = h->streams;
        h->streams = st->next;
        free_stream(st);
    }
    free(h);
    c->h2 = NULL;
}
