/* The telemetry's text outputs on arbitrary input: label values of any bytes go through the
 * registry (src/telemetry/metrics.h) and the rendered text must still be valid Prometheus
 * exposition, line by line (each label value unescapes to what was stored, no raw quote or line
 * feed escapes its quotes); and the /metrics key check (server/http/metrics_route.h) on any
 * Authorization value only grants "Bearer <the key>". Input: a mode byte, then the data. */
#define _DEFAULT_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/http/metrics_route.h"
#include "telemetry/metrics.h"

#define MAX_INPUT 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *copy(const uint8_t *p, size_t n) {
    char *s = malloc(n + 1);
    if (!s) abort();
    for (size_t i = 0; i < n; i++) s[i] = p[i] ? (char)p[i] : ' ';
    s[n] = 0;
    return s;
}

static bool name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == ':';
}

/* One sample line: name{label="value",...} number. */
static void check_sample(const char *p, const char *end) {
    const char *q = p;
    while (q < end && name_char(*q)) q++;
    if (q == p) abort();
    if (q < end && *q == '{') {
        q++;
        while (q < end && *q != '}') {
            const char *ln = q;
            while (q < end && name_char(*q)) q++;
            if (q == ln || q + 1 >= end || q[0] != '=' || q[1] != '"') abort();
            q += 2;
            while (q < end && *q != '"') {
                if (*q == '\\') {
                    if (q + 1 >= end || (q[1] != '\\' && q[1] != '"' && q[1] != 'n')) abort();
                    q += 2;
                } else {
                    q++;
                }
            }
            if (q >= end) abort();
            q++; /* closing quote */
            if (q < end && *q == ',') q++;
        }
        if (q >= end) abort();
        q++;
    }
    if (q >= end || *q != ' ') abort();
    q++;
    char num[64];
    size_t n = (size_t)(end - q);
    if (n == 0 || n >= sizeof num) abort();
    memcpy(num, q, n);
    num[n] = 0;
    char *stop;
    (void)strtod(num, &stop);
    if (*stop) abort();
}

static void check_text(const char *t) {
    for (const char *p = t; *p;) {
        const char *nl = strchr(p, '\n');
        if (!nl) abort(); /* every line ends with a line feed */
        if (*p == '#') {
            if (strncmp(p, "# HELP ", 7) != 0 && strncmp(p, "# TYPE ", 7) != 0) abort();
        } else {
            check_sample(p, nl);
        }
        p = nl + 1;
    }
}

static void fuzz_labels(const uint8_t *data, size_t size) {
    lx_metrics *m = lx_metrics_create(4);
    if (!m) abort();
    const char *const labels[] = {"model", "status", NULL};
    const double b[] = {0.5, 1};
    int c = lx_metrics_define(m, "f_total", "Help with \\ and \n inside.", LX_METRIC_COUNTER, labels, NULL, 0);
    int h = lx_metrics_define(m, "f_seconds", "H.", LX_METRIC_HISTOGRAM, labels, b, 2);
    if (c < 0 || h < 0) abort();
    /* Values separated by 0xff bytes. */
    size_t start = 0;
    const char *prev = "";
    char *owned[64];
    size_t n_owned = 0;
    for (size_t i = 0; i <= size && n_owned < 64; i++) {
        if (i < size && data[i] != 0xff) continue;
        char *v = copy(data + start, i - start);
        owned[n_owned++] = v;
        const char *vals[] = {lx_metrics_bound(m, v), prev};
        lx_metrics_add(m, c, vals, 1);
        lx_metrics_observe(m, h, vals, (double)(i - start) / 8.0);
        prev = v;
        start = i + 1;
    }
    size_t len = 0;
    char *t = lx_metrics_render(m, &len);
    if (!t || strlen(t) != len) abort();
    check_text(t);
    free(t);
    for (size_t i = 0; i < n_owned; i++) free(owned[i]);
    lx_metrics_destroy(m);
}

static void fuzz_auth(const uint8_t *data, size_t size) {
    if (size < 1) return;
    size_t kl = 8 + data[0] % 24;
    if (size - 1 < kl) return;
    char *key = copy(data + 1, kl);
    char *auth = copy(data + 1 + kl, size - 1 - kl);
    if (lx_metrics_authorized(key, auth)) {
        /* Granted: the value is "Bearer" (any case), spaces, then exactly the key. */
        if (strncasecmp(auth, "Bearer ", 7) != 0) abort();
        const char *g = auth + 7;
        while (*g == ' ') g++;
        if (strcmp(g, key) != 0) abort();
    }
    size_t n = strlen(key) + 8;
    char *right = malloc(n);
    if (!right) abort();
    memcpy(right, "Bearer ", 7);
    memcpy(right + 7, key, n - 7);
    if (!strchr(key, ' ') && key[0] != ' ' && !lx_metrics_authorized(key, right)) abort();
    free(right);
    free(key);
    free(auth);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > MAX_INPUT) return 0;
    if (data[0] & 1) fuzz_auth(data + 1, size - 1);
    else fuzz_labels(data + 1, size - 1);
    return 0;
}
