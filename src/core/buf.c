#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lx_buf_init(lx_buf *b, size_t max) {
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void lx_buf_free(lx_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void lx_buf_reset(lx_buf *b) {
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

static bool reserve(lx_buf *b, size_t extra) {
    if (extra > b->max || b->len > b->max - extra) return false;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
    char *d = realloc(b->data, cap);
    if (!d) return false;
    b->data = d;
    b->cap = cap;
    return true;
}

bool lx_buf_append(lx_buf *b, const void *p, size_t n) {
    if (!reserve(b, n)) return false;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

bool lx_buf_append_str(lx_buf *b, const char *s) {
    return lx_buf_append(b, s, strlen(s));
}

bool lx_buf_printf(lx_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n)) return false;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return true;
}

void lx_buf_consume(lx_buf *b, size_t n) {
    if (n >= b->len) {
        lx_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *lx_buf_steal(lx_buf *b) {
    char *d = b->data;
    if (!d) {
        d = malloc(1);
        if (d) d[0] = '\0';
    }
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}
