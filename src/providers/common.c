#define _DEFAULT_SOURCE /* explicit_bzero, strdup */
#include "providers/common.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/error.h"
#include "core/utf8.h"
#include "transport/redact.h"

/* ------------------------------------------------------------ errors */

llmux_status lx_http_status_class(int s) {
    switch (s) {
    case 400: return LLMUX_E_INVALID_REQUEST;
    case 401: return LLMUX_E_AUTHENTICATION;
    case 402: return LLMUX_E_PERMISSION; /* out of credits: retrying will not help */
    case 403: return LLMUX_E_PERMISSION;
    case 404: return LLMUX_E_MODEL_NOT_FOUND;
    case 408: return LLMUX_E_TIMEOUT;
    case 413: return LLMUX_E_CONTEXT_LENGTH;
    case 429: return LLMUX_E_RATE_LIMITED;
    case 500: return LLMUX_E_UPSTREAM_SERVER;
    case 502: return LLMUX_E_OVERLOADED;
    case 503: return LLMUX_E_OVERLOADED;
    case 504: return LLMUX_E_TIMEOUT;
    case 524: return LLMUX_E_TIMEOUT;
    case 529: return LLMUX_E_OVERLOADED;
    default: break;
    }
    if (s >= 500 && s <= 599) return LLMUX_E_UPSTREAM_SERVER;
    if (s >= 400 && s <= 499) return LLMUX_E_INVALID_REQUEST;
    return LLMUX_E_UPSTREAM_PROTOCOL; /* a non-error status handed to an error mapper */
}

int64_t lx_now_unix_ms(void) {
    struct timespec ts;
    if (timespec_get(&ts, TIME_UTC) != TIME_UTC) return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm): timegm is
 * not in C11. */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
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
    *unix_s = days_from_civil(year, mon, day) * 86400 + h * 3600 + mi * 60 + s;
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
    int64_t when_ms = (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset_s) * 1000 + frac_ms;
    int64_t delta = when_ms - now_unix_ms;
    return delta > 0 ? delta : 0;
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

bool lx_contains_ci(const char *h, const char *n) {
    if (!h || !n) return false;
    size_t nl = strlen(n);
    if (nl == 0) return true;
    for (; *h; h++) {
        size_t i = 0;
        while (i < nl && h[i] && tolower((unsigned char)h[i]) == tolower((unsigned char)n[i])) i++;
        if (i == nl) return true;
    }
    return false;
}

bool lx_mentions_context_length(const char *t) {
    static const char *const k[] = {"context_length_exceeded", "context length", "context_length", "context window",
                                    "maximum context", "too many tokens", "prompt is too long", "prompt too long",
                                    "input is too long", "exceeds the max", "token limit", "request too large",
                                    "reduce the length"};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (lx_contains_ci(t, k[i])) return true;
    return false;
}

bool lx_mentions_content_filter(const char *t) {
    static const char *const k[] = {"content_filter", "content filter", "content_policy", "content policy",
                                    "safety", "moderation", "flagged", "guardrail"};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (lx_contains_ci(t, k[i])) return true;
    return false;
}

static bool token_char(char c) {
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '*' || c == '.';
}

/* Masks s[from..) up to the end of the token with '*'. Returns the end. */
static size_t mask_token(char *s, size_t from) {
    size_t i = from;
    while (s[i] && token_char(s[i])) s[i++] = '*';
    return i;
}

void lx_redact_secrets(char *s, const char *secret) {
    if (!s) return;
    static const struct {
        const char *prefix;
        size_t min_tail; /* characters that must follow, to avoid masking prose */
    } k[] = {{"sk-", 4}, {"sk_", 4}, {"AIza", 16}, {"Bearer ", 1}, {"key=", 1}};
    for (size_t i = 0; s[i];) {
        bool at_start = i == 0 || !token_char(s[i - 1]);
        bool hit = false;
        for (size_t j = 0; at_start && j < sizeof k / sizeof k[0]; j++) {
            size_t pl = strlen(k[j].prefix);
            if (strncmp(s + i, k[j].prefix, pl) != 0) continue;
            size_t tail = 0;
            while (s[i + pl + tail] && token_char(s[i + pl + tail])) tail++;
            if (tail < k[j].min_tail) continue;
            i = mask_token(s, i + pl);
            hit = true;
            break;
        }
        if (!hit) i++;
    }
    /* The configured key last: masking a credential-shaped token above can turn the character
     * next to a key occurrence into '*', making it a whole token (whole tokens only: see
     * transport/redact.h). */
    lx_redact_mask(s, secret);
}

/* Upstream text lands in logs and JSON: invalid UTF-8 becomes '?', control characters spaces. */
static void sanitize(char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f) s[i] = ' ';
            i++;
            continue;
        }
        size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (len > 1 && i + len <= n && lx_utf8_valid(s + i, len)) {
            i += len;
        } else {
            s[i++] = '?';
        }
    }
}

llmux_status lx_provider_error(llmux_error_info *err, llmux_status status, const char *provider, int http_status,
                               const char *code, const char *message, int64_t retry_after_ms) {
    if (!err) return status;
    char msg[sizeof err->provider_message];
    lx_copy_field(msg, sizeof msg, message);
    sanitize(msg);
    lx_redact_secrets(msg, NULL);
    if (http_status > 0)
        lx_error(err, status, "%s: HTTP %d: %s%s%s", provider ? provider : "provider", http_status,
                 llmux_strerror(status), msg[0] ? ": " : "", msg);
    else
        lx_error(err, status, "%s: %s%s%s", provider ? provider : "provider", llmux_strerror(status),
                 msg[0] ? ": " : "", msg);
    lx_redact_secrets(err->message, NULL);
    err->provider_status = http_status;
    lx_copy_field(err->provider_code, sizeof err->provider_code, code);
    sanitize(err->provider_code);
    lx_redact_secrets(err->provider_code, NULL);
    memcpy(err->provider_message, msg, sizeof msg);
    err->retry_after_ms = retry_after_ms;
    return status;
}

llmux_status lx_provider_error_raw(llmux_error_info *err, const char *provider, int http_status, const char *body,
                                   size_t len, int64_t retry_after_ms) {
    char text[256];
    size_t n = body ? (len < sizeof text - 1 ? len : sizeof text - 1) : 0;
    if (n) memcpy(text, body, n);
    text[n] = '\0';
    return lx_provider_error(err, lx_http_status_class(http_status), provider, http_status, NULL, text,
                             retry_after_ms);
}

void lx_redact_error(llmux_error_info *err, const char *key) {
    if (!err) return;
    lx_redact_secrets(err->message, key);
    lx_redact_secrets(err->provider_message, key);
    lx_redact_secrets(err->provider_code, key);
}

llmux_status lx_redact_status(llmux_status st, llmux_error_info *err, llmux_error_info *sticky, const char *key) {
    if (st == LLMUX_OK) return st;
    lx_redact_error(err, key);
    if (sticky != err) lx_redact_error(sticky, key);
    return st;
}

char *lx_secret_dup(const char *key) { return key && *key ? strdup(key) : NULL; }

void lx_secret_free(char *key) {
    if (!key) return;
    explicit_bzero(key, strlen(key));
    free(key);
}

/* Copies a header value that goes into a message: control bytes become spaces, long values are
 * cut at `size` (the caller's cap) on a UTF-8 boundary. */
static void copy_printable(char *dst, size_t size, const char *src) {
    lx_copy_field(dst, size, src ? src : "");
    sanitize(dst);
}

llmux_status lx_provider_map_response(const lx_provider *p, const lx_provider_config *cfg,
                                      const lx_http_response *resp, llmux_error_info *err) {
    llmux_error_info e;
    lx_error_clear(&e);
    const char *who = cfg && cfg->name ? cfg->name : p ? p->protocol : "provider";
    const char *key = cfg ? cfg->api_key : NULL;
    if (resp->status >= 300 && resp->status <= 399) {
        /* Redirects are not followed (a POST would turn into a GET, a key could be sent to another
         * host): a redirect means the configured base URL is not the API's, which retrying cannot
         * fix. Naming the target tells the user what to configure instead. */
        char loc[200];
        copy_printable(loc, sizeof loc, resp->location);
        char text[256];
        snprintf(text, sizeof text, "redirected to %s; check base_url (redirects are not followed)",
                 loc[0] ? loc : "(no Location header)");
        lx_provider_error(&e, LLMUX_E_CONFIGURATION, who, resp->status, NULL, text, -1);
    } else if (p && p->map_error) {
        p->map_error(resp->status, resp->error_body ? resp->error_body : "", resp->error_body_len,
                     lx_http_retry_hint(resp), &e);
    }
    if (e.status == LLMUX_OK) lx_error(&e, LLMUX_E_UPSTREAM_SERVER, "%s: HTTP %d", who, resp->status);
    lx_redact_error(&e, key);
    if (err) *err = e;
    return e.status;
}

/* --------------------------------------------------------------- JSON */

json_t *lx_json_parse_upstream(const char *data, size_t len, size_t max, const char *what, llmux_error_info *err) {
    if (len > max) {
        lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: %zu bytes exceed the %zu-byte cap", what, len, max);
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(data ? data : "", len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &je);
    if (!j) {
        lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: invalid JSON at line %d column %d: %s", what, je.line,
                 je.column, je.text);
        return NULL;
    }
    return j;
}

json_t *lx_json_parse_request(const char *text, const char *field, llmux_error_info *err) {
    json_error_t je;
    json_t *j = text ? json_loads(text, JSON_DECODE_ANY, &je) : NULL;
    if (!j) {
        lx_error(err, LLMUX_E_INVALID_REQUEST, "%s: invalid JSON at line %d column %d: %s", field,
                 text ? je.line : 0, text ? je.column : 0, text ? je.text : "missing");
        return NULL;
    }
    return j;
}

const char *lx_json_str(const json_t *obj, const char *key) {
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

json_t *lx_json_obj(const json_t *obj, const char *key) {
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_object(v) ? v : NULL;
}

json_t *lx_json_arr(const json_t *obj, const char *key) {
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_array(v) ? v : NULL;
}

bool lx_json_i64(const json_t *obj, const char *key, int64_t *out) {
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d >= -9e18 && d <= 9e18 && d == floor(d)) {
            *out = (int64_t)d;
            return true;
        }
    }
    return false;
}

static int dump_cb(const char *buffer, size_t size, void *data) {
    return lx_buf_append((lx_buf *)data, buffer, size) ? 0 : -1;
}

bool lx_json_dump_buf(const json_t *j, lx_buf *out) {
    /* 15 significant digits print 0.7 as 0.7, not 0.69999999999999996. */
    return json_dump_callback(j, dump_cb, out, JSON_COMPACT | JSON_REAL_PRECISION(15) | JSON_ENCODE_ANY) == 0;
}

llmux_status lx_provider_options_get(const char *provider_options, const char *key, json_t **out,
                                     llmux_error_info *err) {
    *out = NULL;
    if (!provider_options) return LLMUX_OK;
    json_t *all = lx_json_parse_request(provider_options, "provider_options", err);
    if (!all) return LLMUX_E_INVALID_REQUEST;
    if (!json_is_object(all)) {
        json_decref(all);
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "provider_options: must be a JSON object");
    }
    json_t *v = json_object_get(all, key);
    if (v) *out = json_incref(v);
    json_decref(all);
    return LLMUX_OK;
}

llmux_status lx_merge_provider_options(json_t *body, const char *provider_options, const char *key,
                                       llmux_error_info *err) {
    json_t *v = NULL;
    llmux_status st = lx_provider_options_get(provider_options, key, &v, err);
    if (st != LLMUX_OK || !v) return st;
    if (!json_is_object(v)) {
        json_decref(v);
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "provider_options.%s: must be a JSON object", key);
    }
    int rc = json_object_update(body, v);
    json_decref(v);
    return rc == 0 ? LLMUX_OK : lx_error(err, LLMUX_E_OUT_OF_MEMORY, "provider_options.%s: out of memory", key);
}

static bool copy_bounded(char *dst, size_t size, const char *src) {
    size_t n = strlen(src);
    if (n >= size) return false;
    memcpy(dst, src, n + 1);
    return true;
}

bool lx_wire_set(lx_wire_request *w, const char *method, const char *path) {
    w->n_headers = 0;
    return copy_bounded(w->method, sizeof w->method, method) && copy_bounded(w->path, sizeof w->path, path);
}

bool lx_wire_add_header(lx_wire_request *w, const char *name, const char *value, bool secret) {
    if (w->n_headers >= LX_WIRE_MAX_HEADERS) return false;
    lx_wire_header *h = &w->headers[w->n_headers];
    /* Header injection: a CR or LF in a configured value would split the request. */
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n")) return false;
    if (!copy_bounded(h->name, sizeof h->name, name) || !copy_bounded(h->value, sizeof h->value, value)) return false;
    h->secret = secret;
    w->n_headers++;
    return true;
}

/* ------------------------------------------------------------ emitter */

void lx_emitter_init(lx_emitter *e, lx_event_sink sink, const char *provider) {
    memset(e, 0, sizeof *e);
    e->sink = sink;
    e->provider = provider;
    e->text_index = -1;
    e->reasoning_index = -1;
}

void lx_emitter_free(lx_emitter *e) {
    free(e->tools);
    e->tools = NULL;
    e->n_tools = e->cap_tools = 0;
}

static llmux_status deliver(lx_emitter *e, llmux_event *ev, llmux_error_info *err) {
    if (e->finished)
        return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: %s event after the end of the response",
                        e->provider ? e->provider : "provider", llmux_event_type_name(ev->type));
    if (e->cancelled) return lx_error(err, LLMUX_E_CANCELLED, "cancelled by the event consumer");
    e->n_events++;
    if (e->sink.emit && !e->sink.emit(e->sink.user_data, ev)) {
        e->cancelled = true;
        return lx_error(err, LLMUX_E_CANCELLED, "cancelled by the event consumer");
    }
    return LLMUX_OK;
}

static llmux_event blank(llmux_event_type t) {
    llmux_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = t;
    ev.usage = llmux_usage_default();
    return ev;
}

llmux_status lx_emit_start(lx_emitter *e, const char *id, const char *model, llmux_error_info *err) {
    if (e->started) return LLMUX_OK;
    llmux_event ev = blank(LLMUX_EVENT_START);
    ev.id = id;
    ev.name = model;
    ev.provider = e->provider;
    llmux_status st = deliver(e, &ev, err);
    if (st == LLMUX_OK) e->started = true;
    return st;
}

llmux_status lx_emit_text(lx_emitter *e, const char *text, size_t len, llmux_error_info *err) {
    if (len == 0) return LLMUX_OK;
    llmux_status st = lx_emit_start(e, NULL, NULL, err);
    if (st != LLMUX_OK) return st;
    if (e->text_index < 0) e->text_index = e->next_index++;
    llmux_event ev = blank(LLMUX_EVENT_TEXT_DELTA);
    ev.index = (uint32_t)e->text_index;
    ev.text = text;
    ev.text_len = len;
    return deliver(e, &ev, err);
}

llmux_status lx_emit_reasoning(lx_emitter *e, const char *text, size_t len, const char *signature, bool redacted,
                               llmux_error_info *err) {
    if (len == 0 && (!signature || !*signature) && !redacted) return LLMUX_OK;
    llmux_status st = lx_emit_start(e, NULL, NULL, err);
    if (st != LLMUX_OK) return st;
    if (e->reasoning_index < 0) e->reasoning_index = e->next_index++;
    llmux_event ev = blank(LLMUX_EVENT_REASONING_DELTA);
    ev.index = (uint32_t)e->reasoning_index;
    ev.text = text;
    ev.text_len = len;
    ev.signature = signature;
    ev.redacted = redacted;
    return deliver(e, &ev, err);
}

void lx_emitter_break_text(lx_emitter *e) { e->text_index = -1; }
void lx_emitter_break_reasoning(lx_emitter *e) { e->reasoning_index = -1; }

/* The newest call with this key: keys may be reused after a call ended. */
static lx_emitter_tool *find_tool(const lx_emitter *e, int64_t key) {
    for (size_t i = e->n_tools; i-- > 0;)
        if (e->tools[i].key == key) return (lx_emitter_tool *)&e->tools[i];
    return NULL;
}

bool lx_emitter_has_tool(const lx_emitter *e, int64_t key) { return find_tool(e, key) != NULL; }

bool lx_emitter_tool_open(const lx_emitter *e, int64_t key) {
    const lx_emitter_tool *t = find_tool(e, key);
    return t && t->open;
}

llmux_status lx_emit_tool_start(lx_emitter *e, int64_t key, const char *id, const char *name, llmux_error_info *err) {
    const char *prov = e->provider ? e->provider : "provider";
    lx_emitter_tool *t = find_tool(e, key);
    if (t && t->open) return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: tool call %lld started twice", prov, (long long)key);
    if (e->n_tools >= LX_EMITTER_MAX_TOOLS)
        return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: more than %d tool calls", prov, LX_EMITTER_MAX_TOOLS);
    llmux_status st = lx_emit_start(e, NULL, NULL, err);
    if (st != LLMUX_OK) return st;
    if (e->n_tools == e->cap_tools) {
        size_t cap = e->cap_tools ? e->cap_tools * 2 : 4;
        if (cap > LX_EMITTER_MAX_TOOLS) cap = LX_EMITTER_MAX_TOOLS;
        lx_emitter_tool *grown = realloc(e->tools, cap * sizeof *grown);
        if (!grown) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory for a tool call", prov);
        e->tools = grown;
        e->cap_tools = cap;
    }
    t = &e->tools[e->n_tools++];
    t->key = key;
    t->index = e->next_index++;
    t->open = true;
    t->tag = 0;
    llmux_event ev = blank(LLMUX_EVENT_TOOL_CALL_START);
    ev.index = t->index;
    ev.id = id ? id : "";
    ev.name = name ? name : "";
    return deliver(e, &ev, err);
}

llmux_status lx_emit_tool_delta(lx_emitter *e, int64_t key, const char *frag, size_t len, llmux_error_info *err) {
    lx_emitter_tool *t = find_tool(e, key);
    if (!t || !t->open)
        return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: arguments for tool call %lld that is not open",
                        e->provider ? e->provider : "provider", (long long)key);
    if (len == 0) return LLMUX_OK;
    llmux_event ev = blank(LLMUX_EVENT_TOOL_CALL_DELTA);
    ev.index = t->index;
    ev.text = frag;
    ev.text_len = len;
    return deliver(e, &ev, err);
}

static llmux_status end_tool(lx_emitter *e, lx_emitter_tool *t, llmux_error_info *err) {
    if (!t->open) return LLMUX_OK;
    t->open = false;
    llmux_event ev = blank(LLMUX_EVENT_TOOL_CALL_END);
    ev.index = t->index;
    return deliver(e, &ev, err);
}

llmux_status lx_emit_tool_end(lx_emitter *e, int64_t key, llmux_error_info *err) {
    lx_emitter_tool *t = find_tool(e, key);
    if (!t)
        return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: end of unknown tool call %lld",
                        e->provider ? e->provider : "provider", (long long)key);
    return end_tool(e, t, err);
}

llmux_status lx_emit_usage(lx_emitter *e, const llmux_usage *u, llmux_error_info *err) {
    return lx_emit_usage_cost(e, u, NAN, err);
}

llmux_status lx_emit_usage_cost(lx_emitter *e, const llmux_usage *u, double cost_usd, llmux_error_info *err) {
    llmux_status st = lx_emit_start(e, NULL, NULL, err);
    if (st != LLMUX_OK) return st;
    llmux_event ev = blank(LLMUX_EVENT_USAGE);
    ev.usage = *u;
    if (isfinite(cost_usd) && cost_usd >= 0) {
        ev.cost_known = true;
        ev.cost_usd = cost_usd;
    }
    return deliver(e, &ev, err);
}

llmux_status lx_emit_finish(lx_emitter *e, llmux_finish_reason reason, llmux_error_info *err) {
    llmux_status st = lx_emit_start(e, NULL, NULL, err);
    for (size_t i = 0; st == LLMUX_OK && i < e->n_tools; i++) st = end_tool(e, &e->tools[i], err);
    if (st != LLMUX_OK) return st;
    llmux_event ev = blank(LLMUX_EVENT_FINISH);
    ev.finish_reason = reason;
    st = deliver(e, &ev, err);
    e->finished = true;
    return st;
}
