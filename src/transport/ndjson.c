#include "transport/ndjson.h"

#include <string.h>

#include "core/error.h"

static const unsigned char k_bom[3] = {0xEF, 0xBB, 0xBF};

void lx_ndjson_init(lx_ndjson_framer *f, size_t max) {
    memset(f, 0, sizeof *f);
    f->max = max;
    lx_buf_init(&f->line, max + 1); /* + the CR of a CRLF split from its LF */
}

void lx_ndjson_free(lx_ndjson_framer *f) {
    if (f) lx_buf_free(&f->line);
}

static llmux_status fail(lx_ndjson_framer *f, llmux_error_info *err, bool oom) {
    f->failed = true;
    if (oom) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "NDJSON: out of memory");
    return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "NDJSON: line longer than the %zu-byte cap", f->max);
}

static llmux_status deliver(lx_ndjson_framer *f, const char *s, size_t n, lx_ndjson_cb cb, void *ud) {
    if (n > 0 && s[n - 1] == '\r') n--;
    size_t k = 0;
    while (k < n && (s[k] == ' ' || s[k] == '\t')) k++;
    if (k == n) return LLMUX_OK; /* blank line */
    f->n_lines++;
    llmux_status st = cb ? cb(ud, s, n) : LLMUX_OK;
    if (st != LLMUX_OK) f->failed = true;
    return st;
}

/* Appends to the carried line, telling the cap from out of memory. */
static llmux_status carry(lx_ndjson_framer *f, const char *s, size_t n, llmux_error_info *err) {
    if (n > f->max + 1 || f->line.len > f->max + 1 - n) return fail(f, err, false);
    if (!lx_buf_append(&f->line, s, n)) return fail(f, err, true);
    return LLMUX_OK;
}

static llmux_status feed_bytes(lx_ndjson_framer *f, const char *s, size_t len, lx_ndjson_cb cb, void *ud,
                               llmux_error_info *err) {
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(s + i, '\n', len - i);
        if (!nl) return carry(f, s + i, len - i, err);
        size_t j = (size_t)(nl - s);
        llmux_status st;
        if (f->line.len) {
            if ((st = carry(f, s + i, j - i, err)) != LLMUX_OK) return st;
            size_t n = f->line.len;
            if (n > 0 && f->line.data[n - 1] == '\r') n--;
            if (n > f->max) return fail(f, err, false);
            st = deliver(f, f->line.data, f->line.len, cb, ud);
            lx_buf_reset(&f->line);
        } else {
            /* The CR of a CRLF does not count towards the cap. */
            size_t n = j - i;
            if (n > 0 && s[j - 1] == '\r') n--;
            if (n > f->max) return fail(f, err, false);
            st = deliver(f, s + i, j - i, cb, ud);
        }
        if (st != LLMUX_OK) return st;
        i = j + 1;
    }
    return LLMUX_OK;
}

llmux_status lx_ndjson_feed(lx_ndjson_framer *f, const char *data, size_t len, lx_ndjson_cb cb, void *user_data,
                            llmux_error_info *err) {
    if (f->failed) return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "NDJSON: stream already failed");
    if (!f->bom_done) {
        while (len > 0 && f->bom_matched < 3 && (unsigned char)data[0] == k_bom[f->bom_matched]) {
            f->bom_matched++;
            data++;
            len--;
        }
        if (f->bom_matched == 3) {
            f->bom_done = true;
        } else if (len > 0) {
            f->bom_done = true;
            if (f->bom_matched) {
                llmux_status st = feed_bytes(f, (const char *)k_bom, f->bom_matched, cb, user_data, err);
                if (st != LLMUX_OK) return st;
            }
        } else {
            return LLMUX_OK;
        }
    }
    return feed_bytes(f, data, len, cb, user_data, err);
}

llmux_status lx_ndjson_finish(lx_ndjson_framer *f, lx_ndjson_cb cb, void *user_data, llmux_error_info *err) {
    if (f->failed) return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "NDJSON: stream already failed");
    if (!f->bom_done && f->bom_matched) {
        /* A stream that is only a BOM prefix: those bytes are content. */
        f->bom_done = true;
        llmux_status st = carry(f, (const char *)k_bom, f->bom_matched, err);
        if (st != LLMUX_OK) return st;
    }
    llmux_status st = LLMUX_OK;
    size_t n = f->line.len;
    if (n > 0 && f->line.data[n - 1] == '\r') n--;
    if (n > f->max) return fail(f, err, false);
    if (f->line.len) st = deliver(f, f->line.data, f->line.len, cb, user_data);
    lx_buf_reset(&f->line);
    return st;
}
