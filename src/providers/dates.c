#include "providers/dates.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/civil.h"

int64_t lx_now_unix_ms(void) {
    struct timespec ts;
    if (timespec_get(&ts, TIME_UTC) != TIME_UTC) return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int month_from_name(const char *p) {
    static const char *const names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                        "jul", "aug", "sep", "oct", "nov", "dec"};
    for (int i = 0; i < 12; i++) {
        if (tolower((unsigned char)p[0]) == names[i][0] && tolower((unsigned char)p[1]) == names[i][1] &&
            tolower((unsigned char)p[2]) == names[i][2])
            return i + 1;
    }
    return 0;
}

static const char *skip_sp(const char *p) {
    while (*p == ' ' || *p == '\t') p++;
    return p;
}

/* Reads 1..max digits. */
static const char *read_num(const char *p, int max, int *out) {
    int v = 0, n = 0;
    while (n < max && isdigit((unsigned char)*p)) {
        v = v * 10 + (*p - '0');
        p++;
        n++;
    }
    if (n == 0) return NULL;
    *out = v;
    return p;
}

static const char *read_hms(const char *p, int *h, int *mi, int *s) {
    if (!(p = read_num(p, 2, h)) || *p++ != ':') return NULL;
    if (!(p = read_num(p, 2, mi)) || *p++ != ':') return NULL;
    return read_num(p, 2, s);
}

/* HTTP-date in its three RFC 9110 forms. Returns false when not a date. */
static bool parse_http_date(const char *p, int64_t *unix_s) {
    int day = 0, mon = 0, year = 0, h = 0, mi = 0, s = 0;
    const char *comma = strchr(p, ',');
    if (comma) {
        p = skip_sp(comma + 1);
        if (!(p = read_num(p, 2, &day))) return false;
        if (*p != ' ' && *p != '-') return false;
        p++;
        if (strlen(p) < 3 || !(mon = month_from_name(p))) return false;
        p += 3;
        if (*p != ' ' && *p != '-') return false;
        p++;
        const char *q = p;
        if (!(p = read_num(p, 4, &year))) return false;
        if (p - q == 2) year += year < 70 ? 2000 : 1900; /* RFC 850 two-digit year */
        p = skip_sp(p);
        if (!(p = read_hms(p, &h, &mi, &s))) return false;
    } else { /* asctime: "Sun Nov  6 08:49:37 1994" */
        p = skip_sp(p);
        if (strlen(p) < 8) return false;
        p += 3;
        p = skip_sp(p);
        if (strlen(p) < 3 || !(mon = month_from_name(p))) return false;
        p = skip_sp(p + 3);
        if (!(p = read_num(p, 2, &day))) return false;
        p = skip_sp(p);
        if (!(p = read_hms(p, &h, &mi, &s))) return false;
        p = skip_sp(p);
        if (!(p = read_num(p, 4, &year))) return false;
    }
    if (day < 1 || day > 31 || h > 23 || mi > 59 || s > 60 || year < 1970) return false;
    *unix_s = lx_days_from_civil(year, mon, day) * 86400 + h * 3600 + mi * 60 + s;
    return true;
}

int64_t lx_parse_retry_after(const char *value, int64_t now_unix_ms) {
    if (!value) return -1;
    const char *p = skip_sp(value);
    if (!*p) return -1;
    if (isdigit((unsigned char)*p)) {
        char *end = NULL;
        double secs = strtod(p, &end);
        if (end == p) return -1;
        end = (char *)skip_sp(end);
        if (*end == '\0' && secs >= 0 && secs < 1e9) return (int64_t)ceil(secs * 1000.0);
    }
    int64_t when;
    if (!parse_http_date(p, &when)) return -1;
    int64_t delta = when * 1000 - now_unix_ms;
    return delta > 0 ? delta : 0;
}

int64_t lx_parse_duration_ms(const char *value) {
    if (!value) return -1;
    const char *p = skip_sp(value);
    if (!*p) return -1;
    double total_ms = 0;
    while (*p && *p != ' ') {
        if (!isdigit((unsigned char)*p) && *p != '.') return -1;
        char *end = NULL;
        double v = strtod(p, &end);
        if (end == p || v < 0) return -1;
        p = end;
        double unit;
        if (strncmp(p, "ms", 2) == 0) unit = 1, p += 2;
        else if (strncmp(p, "us", 2) == 0 || strncmp(p, "\xc2\xb5s", 3) == 0) unit = 0.001, p += (*p == 'u' ? 2 : 3);
        else if (strncmp(p, "ns", 2) == 0) unit = 0.000001, p += 2;
        else if (*p == 'h') unit = 3600000, p++;
        else if (*p == 'm') unit = 60000, p++;
        else if (*p == 's') unit = 1000, p++;
        else return -1;
        total_ms += v * unit;
        if (total_ms > 1e12) return -1;
    }
    if (*skip_sp(p)) return -1;
    return (int64_t)ceil(total_ms);
}

/* Exactly n digits. */
static const char *read_fixed(const char *p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++, p++) {
        if (!isdigit((unsigned char)*p)) return NULL;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return p;
}

static int days_in_month(int y, int m) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

int64_t lx_parse_rfc3339_ms(const char *value, int64_t now_unix_ms) {
    if (!value) return -1;
    const char *p = skip_sp(value);
    int y, mo, d, h, mi, s;
    if (!(p = read_fixed(p, 4, &y)) || *p++ != '-' || !(p = read_fixed(p, 2, &mo)) || *p++ != '-' ||
        !(p = read_fixed(p, 2, &d)))
        return -1;
    if (*p != 'T' && *p != 't' && *p != ' ') return -1;
    p++;
    if (!(p = read_fixed(p, 2, &h)) || *p++ != ':' || !(p = read_fixed(p, 2, &mi)) || *p++ != ':' ||
        !(p = read_fixed(p, 2, &s)))
        return -1;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60) return -1;
    int64_t frac_ms = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        bool beyond = false; /* a non-zero digit past the milliseconds: round up */
        for (; isdigit((unsigned char)*p); p++, n++) {
            if (n < 3) frac_ms = frac_ms * 10 + (*p - '0');
            else if (*p != '0') beyond = true;
        }
        if (n == 0) return -1;
        for (int i = n; i < 3; i++) frac_ms *= 10;
        if (beyond) frac_ms++;
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (!(p = read_fixed(p, 2, &oh)) || *p++ != ':' || !(p = read_fixed(p, 2, &om)) || oh > 23 || om > 59) return -1;
        offset_s = sign * (oh * 3600 + om * 60);
    } else {
        return -1; /* RFC 3339 requires the offset: a local time would be a guess */
    }
    if (*skip_sp(p)) return -1;
    /* A leap second counts as the next second's start: close enough for a retry delay. */
    int64_t when_ms = (lx_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset_s) * 1000 + frac_ms;
    int64_t delta = when_ms - now_unix_ms;
    return delta > 0 ? delta : 0;
}
