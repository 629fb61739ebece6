#include "providers/ratelimit.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "providers/dates.h"

const char *const lx_ratelimit_headers_openai[] = {"x-ratelimit-", NULL};
const char *const lx_ratelimit_headers_anthropic[] = {"anthropic-ratelimit-", "x-ratelimit-", NULL};

/* One rate limit as its headers are read (remaining and reset come in any order). */
typedef struct limit {
    char key[LX_RATELIMIT_KEY_MAX]; /* "requests", "input-tokens"... */
    bool exhausted;                 /* its remaining count was 0 */
    char reset[LX_RATELIMIT_RESET_MAX];
} limit;

typedef struct limits {
    limit l[LX_RATELIMIT_MAX_LIMITS];
    size_t n;
} limits;

/* The limit named key (len bytes), added when new; NULL when the table is full or the key long. */
static limit *limit_for(limits *t, const char *key, size_t len) {
    if (len == 0 || len >= sizeof t->l[0].key) return NULL;
    for (size_t i = 0; i < t->n; i++)
        if (strlen(t->l[i].key) == len && strncasecmp(t->l[i].key, key, len) == 0) return &t->l[i];
    if (t->n == LX_RATELIMIT_MAX_LIMITS) return NULL;
    limit *l = &t->l[t->n++];
    memset(l, 0, sizeof *l);
    memcpy(l->key, key, len);
    return l;
}

static bool has_prefix_ci(const char *s, size_t n, const char *prefix) {
    size_t k = strlen(prefix);
    return n >= k && strncasecmp(s, prefix, k) == 0;
}

/* Records one header line (n bytes, no line break) when it is x-ratelimit-{remaining,reset}-<k>
 * or anthropic-ratelimit-<k>-{remaining,reset}. */
static void read_line(limits *t, const char *name, size_t n) {
    const char *colon = memchr(name, ':', n);
    if (!colon) return;
    const char *key;
    size_t nl = (size_t)(colon - name), kl;
    bool is_reset;
    if (has_prefix_ci(name, nl, "x-ratelimit-remaining-")) {
        key = name + 22, kl = nl - 22, is_reset = false;
    } else if (has_prefix_ci(name, nl, "x-ratelimit-reset-")) {
        key = name + 18, kl = nl - 18, is_reset = true;
    } else if (has_prefix_ci(name, nl, "anthropic-ratelimit-")) {
        key = name + 20, kl = nl - 20;
        if (kl > 10 && strncasecmp(key + kl - 10, "-remaining", 10) == 0) kl -= 10, is_reset = false;
        else if (kl > 6 && strncasecmp(key + kl - 6, "-reset", 6) == 0) kl -= 6, is_reset = true;
        else return; /* -limit */
    } else {
        return;
    }
    limit *l = limit_for(t, key, kl);
    if (!l) return;
    const char *v = colon + 1;
    size_t vl = n - nl - 1;
    while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t' || v[vl - 1] == '\r')) vl--;
    if (is_reset) {
        if (vl < sizeof l->reset) { /* whole values only: a cut one would lie */
            memcpy(l->reset, v, vl);
            l->reset[vl] = '\0';
        }
    } else {
        /* "0" (or "0.0"): nothing left. Anything unparsable counts as not exhausted. */
        char value[256];
        if (vl >= sizeof value) vl = sizeof value - 1;
        memcpy(value, v, vl);
        value[vl] = '\0';
        char *end = NULL;
        double left = strtod(value, &end);
        l->exhausted = end != value && *end == '\0' && left == 0;
    }
}

void lx_ratelimit_exhausted_resets(const char *headers, size_t len, char *out, size_t size) {
    out[0] = '\0';
    if (!headers) return;
    limits t;
    t.n = 0;
    for (size_t at = 0; at < len;) {
        const char *line = headers + at;
        const char *nl = memchr(line, '\n', len - at);
        size_t n = nl ? (size_t)(nl - line) : len - at;
        read_line(&t, line, n);
        at += n + 1;
    }
    size_t used = 0;
    for (size_t i = 0; i < t.n; i++) {
        const limit *l = &t.l[i];
        if (!l->exhausted || !l->reset[0] || strchr(l->reset, ',')) continue;
        size_t need = strlen(l->reset) + (used ? 2 : 0);
        if (used + need + 1 > size) continue; /* whole values only */
        used += (size_t)snprintf(out + used, size - used, "%s%s", used ? ", " : "", l->reset);
    }
}

int64_t lx_parse_ratelimit_reset(const char *list, int64_t now_unix_ms) {
    if (!list) return -1;
    int64_t best = -1;
    const char *p = list;
    for (int items = 0; *p && items < 16; items++) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char item[96];
        if (n < sizeof item) {
            memcpy(item, p, n);
            item[n] = '\0';
            int64_t ms = lx_parse_duration_ms(item);
            if (ms < 0) ms = lx_parse_rfc3339_ms(item, now_unix_ms);
            if (ms > best) best = ms;
        }
        if (!comma) break;
        p = comma + 1;
    }
    return best;
}

int64_t lx_parse_retry_hint(const char *hint) {
    if (!hint) return -1;
    int64_t now = lx_now_unix_ms();
    int64_t ms = lx_parse_retry_after(hint, now);
    return ms >= 0 ? ms : lx_parse_ratelimit_reset(hint, now);
}

const char *lx_ratelimit_retry_hint(const lx_http_response *resp, char *buf, size_t size) {
    if (!resp) return NULL;
    if (resp->retry_after[0]) return resp->retry_after;
    if (!buf || size == 0) return NULL;
    lx_ratelimit_exhausted_resets(resp->kept_headers.data, resp->kept_headers.len, buf, size);
    return buf[0] ? buf : NULL;
}
