/* lx_ipc_local_stats: the local-engine gauges of a pong; see pong_stats.h. */
#include "server/ipc/pong_stats.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const k_families[] = {"llmux_local_queue_depth", "llmux_local_prompt_cache_bytes"};

/* The entry for label, added when new; NULL when out is full. */
static lx_ipc_model_stat *entry(const char *label, lx_ipc_model_stat *out, size_t cap, size_t *n) {
    for (size_t i = 0; i < *n; i++)
        if (strcmp(out[i].model, label) == 0) return &out[i];
    if (*n == cap) return NULL;
    lx_ipc_model_stat *e = &out[(*n)++];
    memset(e, 0, sizeof *e);
    snprintf(e->model, sizeof e->model, "%s", label);
    return e;
}

/* One line (p[0..n), no line feed): `FAMILY{model="LABEL"} VALUE`. */
static void read_line(const char *p, size_t n, lx_ipc_model_stat *out, size_t cap, size_t *count) {
    static const char key[] = "{model=\"";
    for (size_t f = 0; f < sizeof k_families / sizeof *k_families; f++) {
        size_t fl = strlen(k_families[f]);
        if (n < fl + sizeof key - 1 || memcmp(p, k_families[f], fl) != 0 || memcmp(p + fl, key, sizeof key - 1) != 0)
            continue;
        size_t i = fl + sizeof key - 1, o = 0;
        char label[LX_IPC_MAX_FIELD + 1];
        for (;;) {
            if (i >= n || o == LX_IPC_MAX_FIELD) return;
            char c = p[i++];
            if (c == '"') break;
            if (c == '\\') {
                if (i >= n) return;
                c = p[i++];
                if (c == 'n') c = '\n';
                else if (c != '\\' && c != '"') return;
            }
            if (c == 0) return;
            label[o++] = c;
        }
        label[o] = 0;
        if (o == 0 || i + 2 > n || p[i] != '}' || p[i + 1] != ' ') return;
        char num[48];
        size_t vl = n - (i + 2);
        if (vl == 0 || vl >= sizeof num) return;
        memcpy(num, p + i + 2, vl);
        num[vl] = 0;
        char *end;
        double v = strtod(num, &end);
        if (*end != 0 || !isfinite(v) || v < 0) return;
        long long iv = v >= 9.2e18 ? 9200000000000000000LL : (long long)v;
        lx_ipc_model_stat *e = entry(label, out, cap, count);
        if (!e) return;
        if (f == 0) e->queued = iv;
        else e->prompt_cache_bytes = iv;
        return;
    }
}

size_t lx_ipc_stats_from_metrics(const char *text, size_t len, lx_ipc_model_stat *out, size_t cap) {
    if (len > LX_IPC_STATS_MAX_TEXT) len = LX_IPC_STATS_MAX_TEXT;
    size_t n = 0;
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        read_line(text + at, end - at, out, cap, &n);
        at = end + 1;
    }
    return n;
}

size_t lx_ipc_local_stats(llmux_runtime *rt, lx_ipc_model_stat *out, size_t cap) {
    char *text = NULL;
    size_t len = 0;
    if (llmux_metrics_prometheus(rt, &text, &len, NULL) != LLMUX_OK || !text) return 0;
    size_t n = lx_ipc_stats_from_metrics(text, len, out, cap);
    llmux_free(text);
    return n;
}
