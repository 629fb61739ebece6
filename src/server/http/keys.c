/* API-key helpers without state (keys.h). */
#include <math.h>
#include <string.h>
#include <strings.h>

#include "server/http/keys.h"
#include "core/civil.h"

bool lx_ct_equal(const unsigned char *a, const unsigned char *b, size_t n) {
    /* volatile: the compiler may not turn the accumulation into an early exit. */
    volatile unsigned char diff = 0;
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

int lx_key_find(const lx_config_key *keys, size_t n, const char *presented, size_t len) {
    if (!presented || len == 0 || len > LX_CONFIG_KEY_MAX_BYTES) return -1;
    unsigned char d[32];
    lx_sha256(presented, len, d);
    /* Every digest is compared and the index is selected with masks, not branches. */
    volatile int found = -1;
    for (size_t i = 0; i < n; i++) {
        int eq = (int)lx_ct_equal(d, keys[i].sha256, sizeof d); /* 0 or 1 */
        int mask = -eq;                                       /* 0 or all ones */
        found = (found & ~mask) | ((int)i & mask);
    }
    return found;
}

bool lx_glob_match(const char *p, const char *s) {
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*p == '*') {
            star = p++;
            resume = s;
        } else if (*p == '?' || *p == *s) {
            p++;
            s++;
        } else if (star) {
            /* Let the last '*' swallow one more character and try again from there. */
            p = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*p == '*') p++;
    return *p == 0;
}

bool lx_key_allows(const lx_config_key *k, const char *model) {
    if (!model) return false;
    for (size_t i = 0; i < k->n_models; i++)
        if (lx_glob_match(k->models[i], model)) return true;
    return false;
}

static bool blank(char ch) { return ch == ' ' || ch == '\t'; }

static bool trimmed(const char *v, const char **out, size_t *len) {
    while (blank(*v)) v++;
    size_t n = strlen(v);
    while (n && blank(v[n - 1])) n--;
    if (!n) return false;
    *out = v;
    *len = n;
    return true;
}

bool lx_key_credential(const char *authorization, const char *x_api_key, const char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    if (authorization) {
        const char *a = authorization;
        while (blank(*a)) a++;
        /* RFC 9110 §11.1: the auth scheme is case-insensitive. */
        if (strncasecmp(a, "Bearer", 6) == 0 && blank(a[6]) && trimmed(a + 7, out, len)) return true;
    }
    if (x_api_key && trimmed(x_api_key, out, len)) return true;
    return false;
}

int64_t lx_rate_take(lx_rate *r, int64_t rpm, int64_t now_ms) {
    if (rpm <= 0) return 0;
    if (r->last_ms == 0) {
        r->tokens = (double)rpm;
        r->last_ms = now_ms;
    }
    if (now_ms > r->last_ms) {
        r->tokens += (double)(now_ms - r->last_ms) * (double)rpm / 60000.0;
        if (r->tokens > (double)rpm) r->tokens = (double)rpm;
        r->last_ms = now_ms;
    }
    if (r->tokens >= 1.0) {
        r->tokens -= 1.0;
        return 0;
    }
    double wait = (1.0 - r->tokens) * 60000.0 / (double)rpm;
    int64_t ms = (int64_t)ceil(wait);
    return ms < 1 ? 1 : ms;
}

#define DAY_MS INT64_C(86400000)

void lx_budget_window(lx_budget_period period, int64_t now_ms, int64_t *start_ms, int64_t *end_ms) {
    int64_t day = now_ms >= 0 ? now_ms / DAY_MS : -((-now_ms + DAY_MS - 1) / DAY_MS);
    switch (period) {
    case LX_BUDGET_DAILY:
        *start_ms = day * DAY_MS;
        *end_ms = *start_ms + DAY_MS;
        return;
    case LX_BUDGET_WEEKLY: {
        int64_t since_monday = ((day + 3) % 7 + 7) % 7; /* 1970-01-01 was a Thursday */
        *start_ms = (day - since_monday) * DAY_MS;
        *end_ms = *start_ms + 7 * DAY_MS;
        return;
    }
    case LX_BUDGET_MONTHLY: {
        int64_t y, m;
        lx_civil_from_days(day, &y, &m);
        *start_ms = lx_days_from_civil(y, m, 1) * DAY_MS;
        *end_ms = lx_days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) * DAY_MS;
        return;
    }
    case LX_BUDGET_TOTAL:
    default:
        *start_ms = 0;
        *end_ms = INT64_MAX;
        return;
    }
}
