#include "stop.h"

#include <string.h>

#include "core/utf8.h"

/* Bound on held-back bytes: the longest stop sequence plus a partial character. The pending
 * buffer never grows beyond one token piece plus this. */
#define LX_STOP_PENDING_MAX (1u << 20)

void lx_stop_init(lx_stop_filter *f, const char *const *stops, size_t n_stops, lx_text_out out, void *user_data) {
    f->stops = stops;
    f->n_stops = n_stops;
    lx_buf_init(&f->pending, LX_STOP_PENDING_MAX);
    f->matched = false;
    f->out = out;
    f->user_data = user_data;
}

void lx_stop_free(lx_stop_filter *f) { lx_buf_free(&f->pending); }

bool lx_stop_matched(const lx_stop_filter *f) { return f->matched; }

static void emit(lx_stop_filter *f, size_t n) {
    if (n == 0) return;
    f->out(f->user_data, f->pending.data, n);
    lx_buf_consume(&f->pending, n);
}

/* Earliest position where any stop sequence occurs in s[0..n), or n; *which: that sequence's
 * index (the first listed among those found at the same position). */
static size_t first_match(const lx_stop_filter *f, const char *s, size_t n, size_t *which) {
    size_t best = n;
    for (size_t i = 0; i < f->n_stops; i++) {
        size_t m = strlen(f->stops[i]);
        if (m == 0 || m > n) continue;
        for (size_t p = 0; p + m <= n && p < best; p++)
            if (memcmp(s + p, f->stops[i], m) == 0) {
                best = p;
                *which = i;
                break;
            }
    }
    return best;
}

/* Length of the longest suffix of s[0..n) that is a proper prefix of some stop sequence. */
static size_t held_suffix(const lx_stop_filter *f, const char *s, size_t n) {
    size_t best = 0;
    for (size_t i = 0; i < f->n_stops; i++) {
        size_t m = strlen(f->stops[i]);
        size_t k = m - 1 < n ? m - 1 : n;
        for (; k > best; k--)
            if (memcmp(s + n - k, f->stops[i], k) == 0) {
                best = k;
                break;
            }
    }
    return best;
}

bool lx_stop_feed(lx_stop_filter *f, const char *text, size_t len) {
    if (f->matched) return true;
    if (!lx_buf_append(&f->pending, text, len)) return false;
    const char *s = f->pending.data;
    size_t n = f->pending.len;
    size_t at = first_match(f, s, n, &f->which);
    if (at < n) {
        f->matched = true;
        emit(f, at);
        lx_buf_reset(&f->pending);
        return true;
    }
    size_t safe = n - held_suffix(f, s, n);
    safe = lx_utf8_complete_len(s, safe);
    emit(f, safe);
    return true;
}

void lx_stop_flush(lx_stop_filter *f) {
    if (!f->matched) emit(f, f->pending.len);
    lx_buf_reset(&f->pending);
}
