/* The canonical JSON writer (see json.h for why it is not json_dumps). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "response.h"
#include "utf8.h"

/* Output is bounded by what callers hold in memory; the cap only guards size_t arithmetic. */
#define JW_MAX ((size_t)SIZE_MAX / 4)

void lx_jw_init(lx_jw *w) {
    lx_buf_init(&w->buf, JW_MAX);
    w->failed = false;
}

char *lx_jw_finish(lx_jw *w) {
    if (w->failed) {
        lx_buf_free(&w->buf);
        return NULL;
    }
    return lx_buf_steal(&w->buf);
}

static void put(lx_jw *w, const char *s, size_t n) {
    if (!w->failed && !lx_buf_append(&w->buf, s, n)) w->failed = true;
}

static void putc_(lx_jw *w, char c) { put(w, &c, 1); }

static void sep(lx_jw *w) {
    if (w->buf.len == 0) return;
    char last = w->buf.data[w->buf.len - 1];
    if (last != '{' && last != '[' && last != ':') putc_(w, ',');
}

void lx_jw_obj_begin(lx_jw *w) {
    sep(w);
    putc_(w, '{');
}
void lx_jw_obj_end(lx_jw *w) { putc_(w, '}'); }
void lx_jw_arr_begin(lx_jw *w) {
    sep(w);
    putc_(w, '[');
}
void lx_jw_arr_end(lx_jw *w) { putc_(w, ']'); }

/* Length of the valid UTF-8 sequence starting at p (n bytes available), 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n) {
    unsigned char c = p[0];
    size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (len == 0 || len > n) return 0;
    return lx_utf8_valid((const char *)p, len) ? len : 0;
}

static void write_string(lx_jw *w, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    putc_(w, '"');
    size_t run = 0; /* start of the pending run of bytes copied as they are */
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t len = utf8_seq(p + i, n - i);
            if (len) {
                i += len;
                continue;
            }
        }
        put(w, s + run, i - run);
        char esc[6];
        switch (c) {
        case '"': put(w, "\\\"", 2); break;
        case '\\': put(w, "\\\\", 2); break;
        case '\n': put(w, "\\n", 2); break;
        case '\r': put(w, "\\r", 2); break;
        case '\t': put(w, "\\t", 2); break;
        case '\b': put(w, "\\b", 2); break;
        case '\f': put(w, "\\f", 2); break;
        default:
            if (c < 0x20) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                put(w, esc, 6);
            } else {
                /* One replacement character per byte that starts no valid sequence. */
                put(w, "\xEF\xBF\xBD", 3);
            }
        }
        i++;
        run = i;
    }
    put(w, s + run, n - run);
    putc_(w, '"');
}

void lx_jw_key(lx_jw *w, const char *key) {
    sep(w);
    write_string(w, key, strlen(key));
    putc_(w, ':');
}

void lx_jw_str(lx_jw *w, const char *s) { lx_jw_strn(w, s ? s : "", s ? strlen(s) : 0); }

void lx_jw_strn(lx_jw *w, const char *s, size_t n) {
    sep(w);
    write_string(w, s ? s : "", s ? n : 0);
}

void lx_jw_int(lx_jw *w, int64_t v) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%" PRId64, v);
    sep(w);
    put(w, tmp, (size_t)n);
}

size_t lx_json_format_double(char *out, double v) {
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) break;
    }
    /* %g switches to an exponent once it exceeds the precision ("8.3e+02"); below 1e17 the
     * plain digits are easier to read and still exact. */
    const char *e = strchr(tmp, 'e');
    if (e) {
        int x = atoi(e + 1);
        if (x >= 0 && x < 17) snprintf(tmp, sizeof tmp, "%.*g", x + 1, v);
    }
    /* The locale may spell the decimal point differently (even in several bytes). */
    size_t n = 0;
    bool point = false;
    bool exp = false;
    for (const char *c = tmp; *c; c++) {
        if ((*c >= '0' && *c <= '9') || *c == '-' || *c == '+') {
            out[n++] = *c;
        } else if (*c == 'e' || *c == 'E') {
            out[n++] = 'e';
            exp = true;
        } else if (!point) {
            out[n++] = '.';
            point = true;
        }
    }
    /* Keep reals real: "1" would read back as an integer. */
    if (!point && !exp) {
        out[n++] = '.';
        out[n++] = '0';
    }
    out[n] = '\0';
    return n;
}

void lx_jw_real(lx_jw *w, double v) {
    if (!isfinite(v)) {
        lx_jw_null(w);
        return;
    }
    char tmp[40];
    size_t n = lx_json_format_double(tmp, v);
    sep(w);
    put(w, tmp, n);
}

void lx_jw_bool(lx_jw *w, bool v) {
    sep(w);
    if (v)
        put(w, "true", 4);
    else
        put(w, "false", 5);
}

void lx_jw_null(lx_jw *w) {
    sep(w);
    put(w, "null", 4);
}

void lx_jw_json(lx_jw *w, const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        lx_jw_obj_begin(w);
        /* jansson keeps insertion order (2.8+), so schemas come out as they were written. */
        json_object_foreach((json_t *)v, k, x) {
            lx_jw_key(w, k);
            lx_jw_json(w, x);
        }
        lx_jw_obj_end(w);
        break;
    }
    case JSON_ARRAY: {
        lx_jw_arr_begin(w);
        for (size_t i = 0; i < json_array_size(v); i++) lx_jw_json(w, json_array_get(v, i));
        lx_jw_arr_end(w);
        break;
    }
    case JSON_STRING: lx_jw_strn(w, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: lx_jw_int(w, (int64_t)json_integer_value(v)); break;
    case JSON_REAL: lx_jw_real(w, json_real_value(v)); break;
    case JSON_TRUE: lx_jw_bool(w, true); break;
    case JSON_FALSE: lx_jw_bool(w, false); break;
    case JSON_NULL: lx_jw_null(w); break;
    }
}

void lx_jw_json_text(lx_jw *w, const char *text) {
    json_error_t e;
    json_t *v = json_loads(text ? text : "", JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
    if (v && json_is_object(v))
        lx_jw_json(w, v);
    else
        lx_jw_str(w, text);
    json_decref(v);
}

void lx_jw_kstr(lx_jw *w, const char *key, const char *s) {
    lx_jw_key(w, key);
    lx_jw_str(w, s);
}
void lx_jw_kint(lx_jw *w, const char *key, int64_t v) {
    lx_jw_key(w, key);
    lx_jw_int(w, v);
}
void lx_jw_kreal(lx_jw *w, const char *key, double v) {
    lx_jw_key(w, key);
    lx_jw_real(w, v);
}
void lx_jw_kbool(lx_jw *w, const char *key, bool v) {
    lx_jw_key(w, key);
    lx_jw_bool(w, v);
}

static void opt_str(lx_jw *w, const char *key, const char *s) {
    if (s) lx_jw_kstr(w, key, s);
}

void lx_jw_part(lx_jw *w, const llmux_part *p) {
    lx_jw_obj_begin(w);
    lx_jw_kstr(w, "type", lx_part_type_name(p->type));
    switch (p->type) {
    case LLMUX_PART_TEXT: lx_jw_kstr(w, "text", p->text); break;
    case LLMUX_PART_IMAGE:
        opt_str(w, "url", p->image_url);
        opt_str(w, "data", p->data);
        opt_str(w, "mime_type", p->mime_type);
        break;
    case LLMUX_PART_TOOL_CALL:
        lx_jw_kstr(w, "id", p->id);
        lx_jw_kstr(w, "name", p->name);
        lx_jw_kstr(w, "arguments", p->arguments ? p->arguments : "{}");
        break;
    case LLMUX_PART_TOOL_RESULT:
        lx_jw_kstr(w, "id", p->id);
        opt_str(w, "name", p->name);
        lx_jw_kstr(w, "content", p->text);
        if (p->is_error) lx_jw_kbool(w, "is_error", true);
        break;
    case LLMUX_PART_REASONING:
        opt_str(w, "text", p->text);
        opt_str(w, "signature", p->signature);
        if (p->redacted) lx_jw_kbool(w, "redacted", true);
        break;
    case LLMUX_PART_FILE:
        opt_str(w, "url", p->image_url);
        opt_str(w, "data", p->data);
        opt_str(w, "mime_type", p->mime_type);
        opt_str(w, "name", p->name);
        break;
    case LLMUX_PART_NATIVE:
        lx_jw_kstr(w, "format", p->name);
        lx_jw_key(w, "block");
        lx_jw_json_text(w, p->text);
        break;
    }
    if (p->cache != LLMUX_CACHE_NONE && p->type != LLMUX_PART_REASONING && p->type != LLMUX_PART_NATIVE) lx_jw_kstr(w, "cache", lx_cache_name(p->cache));
    lx_jw_obj_end(w);
}

void lx_jw_usage(lx_jw *w, const llmux_usage *u) {
    lx_jw_obj_begin(w);
    if (u->input_tokens >= 0) lx_jw_kint(w, "input_tokens", u->input_tokens);
    if (u->output_tokens >= 0) lx_jw_kint(w, "output_tokens", u->output_tokens);
    if (u->cached_input_tokens >= 0) lx_jw_kint(w, "cached_input_tokens", u->cached_input_tokens);
    if (u->cache_write_tokens >= 0) lx_jw_kint(w, "cache_write_tokens", u->cache_write_tokens);
    if (u->reasoning_tokens >= 0) lx_jw_kint(w, "reasoning_tokens", u->reasoning_tokens);
    if (u->total_tokens >= 0) lx_jw_kint(w, "total_tokens", u->total_tokens);
    if (u->cache_write_1h_tokens >= 0) lx_jw_kint(w, "cache_write_1h_tokens", u->cache_write_1h_tokens);
    if (u->web_search_requests >= 0) lx_jw_kint(w, "web_search_requests", u->web_search_requests);
    lx_jw_obj_end(w);
}

/* The fixed-size fields are filled by others: never read past them. */
static void field(lx_jw *w, const char *key, const char *s, size_t size) {
    const char *end = memchr(s, '\0', size);
    lx_jw_key(w, key);
    lx_jw_strn(w, s, end ? (size_t)(end - s) : size);
}

void lx_jw_error(lx_jw *w, const llmux_error_info *e) {
    lx_jw_obj_begin(w);
    lx_jw_kstr(w, "status", llmux_status_name(e->status));
    field(w, "message", e->message, sizeof e->message);
    if (e->provider_status != 0) lx_jw_kint(w, "provider_status", e->provider_status);
    if (e->provider_code[0]) field(w, "provider_code", e->provider_code, sizeof e->provider_code);
    if (e->provider_message[0]) field(w, "provider_message", e->provider_message, sizeof e->provider_message);
    if (e->retry_after_ms >= 0) lx_jw_kint(w, "retry_after_ms", e->retry_after_ms);
    lx_jw_obj_end(w);
}
