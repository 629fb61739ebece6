/* --since T: an RFC 3339 time ("2026-12-01T03:00:00Z", "2026-12-01T05:00:00.5+02:00"), a date
 * ("2026-12-01", midnight UTC) or a duration before now ("90s", "30m", "1h", "7d", "2w"). */
#define _XOPEN_SOURCE 700
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "core/civil.h"

static bool digits(const char *s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool parse_rfc3339(const char *s, int64_t *ms) {
    int y, mo, d, h = 0, mi = 0, se = 0;
    size_t len = strlen(s);
    if (len < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d))
        return false;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31) return false;
    const char *p = s + 10;
    int64_t frac_ms = 0, offset_min = 0;
    if (*p) {
        if (*p != 'T' && *p != 't' && *p != ' ') return false;
        p++;
        if (strlen(p) < 8 || !digits(p, 2, &h) || p[2] != ':' || !digits(p + 3, 2, &mi) || p[5] != ':' ||
            !digits(p + 6, 2, &se))
            return false;
        if (h > 23 || mi > 59 || se > 60) return false;
        p += 8;
        if (*p == '.') {
            p++;
            int nd = 0;
            int64_t scale = 100;
            while (isdigit((unsigned char)*p)) {
                if (nd < 3) frac_ms += (*p - '0') * scale, scale /= 10;
                nd++, p++;
            }
            if (nd == 0) return false;
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int oh, om;
            if (strlen(p) != 6 || !digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
                return false;
            offset_min = (*p == '+' ? 1 : -1) * (oh * 60 + om);
            p += 6;
        } else {
            return false; /* RFC 3339 requires the offset */
        }
        if (*p) return false;
    }
    int64_t secs = lx_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset_min * 60;
    *ms = secs * 1000 + frac_ms;
    return *ms >= 0;
}

int cli_parse_since(const char *s, int64_t now_ms, int64_t *out) {
    if (!s || !*s || strlen(s) > 64) return cli_usage_error("--since needs a time (RFC 3339) or a duration like 1h");
    char *end;
    if (isdigit((unsigned char)s[0]) && strchr("smhdw", s[strlen(s) - 1]) && !strchr(s, '-') && !strchr(s, ':')) {
        long long n = strtoll(s, &end, 10);
        static const struct {
            char unit;
            int64_t ms;
        } units[] = {{'s', 1000}, {'m', 60000}, {'h', 3600000}, {'d', 86400000}, {'w', 604800000}};
        for (size_t i = 0; end[0] && !end[1] && i < sizeof units / sizeof units[0]; i++) {
            if (*end != units[i].unit) continue;
            /* A century of history is more than any records database holds; the cap keeps the
             * arithmetic far from overflow. */
            if (n < 0 || n > 36500LL * 86400000 / units[i].ms)
                return cli_usage_error("--since %s: too far back (at most 36500d)", s);
            *out = now_ms - n * units[i].ms;
            if (*out < 0) *out = 0;
            return 0;
        }
        return cli_usage_error("--since %s: a duration is a number and one of s, m, h, d, w (e.g. 30m, 7d)", s);
    }
    if (!parse_rfc3339(s, out))
        return cli_usage_error("--since %s: not an RFC 3339 time (2026-12-01T03:00:00Z) or a duration (1h, 7d)", s);
    return 0;
}
