#include "transport/sse.h"

#include <string.h>

#include "core/error.h"

static const unsigned char k_bom[3] = {0xEF, 0xBB, 0xBF};

void lx_sse_parser_init(lx_sse_parser *p, size_t max) {
    memset(p, 0, sizeof *p);
    p->max = max;
    lx_buf_init(&p->line, max);
    lx_buf_init(&p->data, max);
    lx_buf_init(&p->event, max);
    lx_buf_init(&p->id, max);
    p->retry_ms = -1;
}

void lx_sse_parser_free(lx_sse_parser *p) {
    if (!p) return;
    lx_buf_free(&p->line);
    lx_buf_free(&p->data);
    lx_buf_free(&p->event);
    lx_buf_free(&p->id);
}

static llmux_status fail(lx_sse_parser *p, llmux_error_info *err, llmux_status st, const char *what) {
    p->failed = true;
    if (st == LLMUX_E_OUT_OF_MEMORY) return lx_error(err, st, "SSE: out of memory");
    return lx_error(err, st, "SSE: %s longer than the %zu-byte cap", what, p->max);
}

static bool field_is(const char *name, size_t n, const char *lit) {
    size_t l = strlen(lit);
    return n == l && memcmp(name, lit, l) == 0;
}

/* Appends to a capped buffer, telling "over the cap" from "out of memory". */
static llmux_status append(lx_buf *b, const char *s, size_t n) {
    if (n > b->max || b->len > b->max - n) return LLMUX_E_UPSTREAM_PROTOCOL;
    return lx_buf_append(b, s, n) ? LLMUX_OK : LLMUX_E_OUT_OF_MEMORY;
}

static llmux_status dispatch(lx_sse_parser *p, lx_sse_cb cb, void *ud) {
    if (!p->has_data) { /* spec: empty data buffer -> reset and do not dispatch */
        lx_buf_reset(&p->event);
        return LLMUX_OK;
    }
    lx_sse_event ev;
    ev.event = p->event.len ? p->event.data : "message";
    ev.event_len = p->event.len ? p->event.len : 7;
    ev.data = p->data.data ? p->data.data : "";
    ev.data_len = p->data.len;
    ev.id = p->id.data ? p->id.data : "";
    ev.retry_ms = p->retry_ms;
    p->n_events++;
    llmux_status st = cb ? cb(ud, &ev) : LLMUX_OK;
    lx_buf_reset(&p->data);
    lx_buf_reset(&p->event);
    p->has_data = false;
    return st;
}

/* Outcome of one line: the parser's own failures are told apart from the callback's status. */
typedef enum line_rc { LINE_OK, LINE_CAP, LINE_EVENT_CAP, LINE_OOM, LINE_STOP } line_rc;

static line_rc own_rc(llmux_status st) {
    return st == LLMUX_OK ? LINE_OK : st == LLMUX_E_OUT_OF_MEMORY ? LINE_OOM : LINE_CAP;
}

/* One complete line (without its terminator). A callback failure sets *cb_st. */
static line_rc process_line(lx_sse_parser *p, const char *line, size_t n, lx_sse_cb cb, void *ud,
                            llmux_status *cb_st) {
    if (n == 0) {
        *cb_st = dispatch(p, cb, ud);
        return *cb_st == LLMUX_OK ? LINE_OK : LINE_STOP;
    }
    if (line[0] == ':') return LINE_OK; /* comment */
    const char *colon = memchr(line, ':', n);
    size_t name_len = colon ? (size_t)(colon - line) : n;
    const char *value = colon ? colon + 1 : line + n;
    size_t value_len = colon ? n - name_len - 1 : 0;
    if (value_len > 0 && value[0] == ' ') {
        value++;
        value_len--;
    }
    llmux_status st = LLMUX_OK;
    if (field_is(line, name_len, "data")) {
        if (p->has_data) st = append(&p->data, "\n", 1);
        if (st == LLMUX_OK) st = append(&p->data, value, value_len);
        p->has_data = true;
    } else if (field_is(line, name_len, "event")) {
        lx_buf_reset(&p->event);
        st = append(&p->event, value, value_len);
    } else if (field_is(line, name_len, "id")) {
        if (!memchr(value, '\0', value_len)) {
            lx_buf_reset(&p->id);
            st = append(&p->id, value, value_len);
        }
    } else if (field_is(line, name_len, "retry")) {
        int64_t v = 0;
        bool ok = value_len > 0;
        for (size_t i = 0; ok && i < value_len; i++) {
            if (value[i] < '0' || value[i] > '9') ok = false;
            else if (v > (INT64_MAX - 9) / 10) ok = false; /* absurdly large: ignored like a non-number */
            else v = v * 10 + (value[i] - '0');
        }
        if (ok) p->retry_ms = v;
    }
    return st == LLMUX_OK ? LINE_OK : st == LLMUX_E_OUT_OF_MEMORY ? LINE_OOM : LINE_EVENT_CAP;
}

static llmux_status feed_bytes(lx_sse_parser *p, const char *s, size_t len, lx_sse_cb cb, void *ud,
                               llmux_error_info *err) {
    size_t i = 0;
    while (i < len) {
        if (p->after_cr) {
            p->after_cr = false;
            if (s[i] == '\n') { /* the LF of a CRLF split across chunks */
                i++;
                continue;
            }
        }
        size_t j = i;
        while (j < len && s[j] != '\n' && s[j] != '\r') j++;
        if (j == len) { /* incomplete: carry it over */
            line_rc rc = own_rc(append(&p->line, s + i, len - i));
            if (rc != LINE_OK) return fail(p, err, rc == LINE_OOM ? LLMUX_E_OUT_OF_MEMORY : LLMUX_E_UPSTREAM_PROTOCOL, "SSE line");
            return LLMUX_OK;
        }
        llmux_status cb_st = LLMUX_OK;
        line_rc rc;
        if (p->line.len) {
            rc = own_rc(append(&p->line, s + i, j - i));
            if (rc == LINE_OK) rc = process_line(p, p->line.data, p->line.len, cb, ud, &cb_st);
            lx_buf_reset(&p->line);
        } else if (j - i > p->max) {
            rc = LINE_CAP;
        } else {
            rc = process_line(p, s + i, j - i, cb, ud, &cb_st);
        }
        if (rc == LINE_STOP) {
            p->failed = true;
            return cb_st;
        }
        if (rc == LINE_OOM) return fail(p, err, LLMUX_E_OUT_OF_MEMORY, "");
        if (rc == LINE_CAP) return fail(p, err, LLMUX_E_UPSTREAM_PROTOCOL, "SSE line");
        if (rc == LINE_EVENT_CAP) return fail(p, err, LLMUX_E_UPSTREAM_PROTOCOL, "SSE event");
        if (s[j] == '\r') {
            if (j + 1 < len) {
                if (s[j + 1] == '\n') j++;
            } else {
                p->after_cr = true;
            }
        }
        i = j + 1;
    }
    return LLMUX_OK;
}

/* Between reads a stream usually has no event half-built: the buffers it was built in are
 * freed rather than kept for the next one, since a stream can wait minutes for its next token
 * and every open stream holds a parser (one malloc per read instead, for the first event). */
static void release_idle(lx_sse_parser *p) {
    if (!p->has_data && p->data.cap) lx_buf_free(&p->data);
    if (!p->line.len && p->line.cap) lx_buf_free(&p->line);
    if (!p->event.len && p->event.cap) lx_buf_free(&p->event);
}

llmux_status lx_sse_feed(lx_sse_parser *p, const char *data, size_t len, lx_sse_cb cb, void *user_data,
                         llmux_error_info *err) {
    if (p->failed) return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "SSE: stream already failed");
    if (err) lx_error_clear(err);
    if (!p->bom_done) {
        /* Match the BOM byte by byte: it may be split across chunks. */
        while (len > 0 && p->bom_matched < 3 && (unsigned char)data[0] == k_bom[p->bom_matched]) {
            p->bom_matched++;
            data++;
            len--;
        }
        if (p->bom_matched == 3) {
            p->bom_done = true;
        } else if (len > 0) {
            /* Not a BOM after all: the bytes held back are ordinary content. */
            p->bom_done = true;
            if (p->bom_matched) {
                llmux_status st = feed_bytes(p, (const char *)k_bom, p->bom_matched, cb, user_data, err);
                if (st != LLMUX_OK) return st;
            }
        } else {
            return LLMUX_OK;
        }
    }
    llmux_status st = feed_bytes(p, data, len, cb, user_data, err);
    release_idle(p);
    return st;
}

llmux_status lx_sse_flush(lx_sse_parser *p, lx_sse_cb cb, void *user_data, llmux_error_info *err) {
    if (p->failed) return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "SSE: stream already failed");
    if (p->line.len > 0 || !p->has_data) return LLMUX_OK;
    llmux_status st = dispatch(p, cb, user_data);
    if (st != LLMUX_OK) p->failed = true;
    return st;
}

llmux_status lx_sse_finish(lx_sse_parser *p, bool *pending, llmux_error_info *err) {
    if (pending) *pending = p->has_data || p->line.len > 0 || (!p->bom_done && p->bom_matched > 0);
    if (p->failed) return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "SSE: stream already failed");
    lx_buf_reset(&p->line);
    lx_buf_reset(&p->data);
    lx_buf_reset(&p->event);
    p->has_data = false;
    return LLMUX_OK;
}
