/* lx_openai_fast_delta (openai_fast_chunk.h): a strict reader of one JSON shape that refuses
 * everything it does not know, so the full decoder keeps every other case. Its acceptance is
 * checked against jansson's reading by tests/providers/test_openai_fast_chunk.c (the recorded
 * fixtures) and fuzz/fuzz_openai_fast_chunk.c. */
#include "openai_fast_chunk.h"

#include <stdint.h>
#include <string.h>

#include "core/utf8.h"

typedef struct cur {
    const char *p;
    const char *end;
} cur;

static void ws(cur *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static bool eat(cur *c, char ch) {
    ws(c);
    if (c->p >= c->end || *c->p != ch) return false;
    c->p++;
    return true;
}

static bool lit(cur *c, const char *s) {
    ws(c);
    size_t n = strlen(s);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0) return false;
    c->p += n;
    return true;
}

static int hex4(const char *p) {
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char h = p[i];
        int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* \uXXXX (and its low surrogate) at c->p (after the backslash and 'u'); \u0000 and lone
 * surrogates are refused (the full decoder handles them). Output is at most 6 input bytes → 4. */
static bool unicode_escape(cur *c, uint32_t *cp) {
    if (c->end - c->p < 4) return false;
    int hi = hex4(c->p);
    if (hi <= 0 || (hi >= 0xDC00 && hi <= 0xDFFF)) return false;
    c->p += 4;
    if (hi < 0xD800 || hi > 0xDBFF) {
        *cp = (uint32_t)hi;
        return true;
    }
    if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u') return false;
    int lo = hex4(c->p + 2);
    if (lo < 0xDC00 || lo > 0xDFFF) return false;
    c->p += 6;
    *cp = 0x10000u + (((uint32_t)hi - 0xD800u) << 10) + ((uint32_t)lo - 0xDC00u);
    return true;
}

/* A JSON string; unescaped into out (when not NULL) with its length in *n. The unescaped form
 * is never longer than the escaped one. */
static bool string(cur *c, char *out, size_t *n) {
    ws(c);
    if (c->p >= c->end || *c->p != '"') return false;
    c->p++;
    size_t k = 0;
    while (c->p < c->end) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch >= 0x20 && ch < 0x80 && ch != '"' && ch != '\\') {
            /* A run of plain ASCII: copied at once (most of a text is). */
            const char *run = c->p;
            while (c->p < c->end) {
                unsigned char x = (unsigned char)*c->p;
                if (x < 0x20 || x >= 0x80 || x == '"' || x == '\\') break;
                c->p++;
            }
            if (out) memcpy(out + k, run, (size_t)(c->p - run));
            k += (size_t)(c->p - run);
            continue;
        }
        if (ch == '"') {
            c->p++;
            if (n) *n = k;
            return true;
        }
        if (ch < 0x20) return false;
        if (ch == '\\') {
            if (c->end - c->p < 2) return false;
            char e = c->p[1];
            c->p += 2;
            char b;
            switch (e) {
            case '"': b = '"'; break;
            case '\\': b = '\\'; break;
            case '/': b = '/'; break;
            case 'b': b = '\b'; break;
            case 'f': b = '\f'; break;
            case 'n': b = '\n'; break;
            case 'r': b = '\r'; break;
            case 't': b = '\t'; break;
            case 'u': {
                uint32_t cp;
                if (!unicode_escape(c, &cp)) return false;
                char tmp[4];
                size_t m = put_utf8(tmp, cp);
                if (out) memcpy(out + k, tmp, m);
                k += m;
                continue;
            }
            default: return false;
            }
            if (out) out[k] = b;
            k++;
            continue;
        }
        size_t m = ch < 0x80 ? 1 : ch >= 0xC2 && ch <= 0xDF ? 2 : ch >= 0xE0 && ch <= 0xEF ? 3 : ch >= 0xF0 && ch <= 0xF4 ? 4 : 0;
        if (!m || (size_t)(c->end - c->p) < m || (m > 1 && !lx_utf8_valid(c->p, m))) return false;
        if (out) memcpy(out + k, c->p, m);
        k += m;
        c->p += m;
    }
    return false;
}

/* A string not unescaped: its raw bytes between the quotes, and whether an escape is among them
 * (every escape is longer than what it stands for, so the raw and unescaped lengths differ
 * exactly when one is). */
static bool string_span(cur *c, const char **s, size_t *n, bool *escaped) {
    ws(c);
    const char *start = c->p + 1;
    size_t k;
    if (!string(c, NULL, &k)) return false;
    *s = start;
    *n = (size_t)(c->p - 1 - start);
    *escaped = *n != k;
    return true;
}

/* A key's raw bytes, pointing into data: printable ASCII without escapes (every key this reader
 * knows is spelled so; one spelled with an escape or other bytes is refused like an unknown one). */
static bool key(cur *c, const char **k, size_t *n) {
    ws(c);
    if (c->p >= c->end || *c->p != '"') return false;
    const char *s = ++c->p;
    while (c->p < c->end && *c->p != '"') {
        unsigned char ch = (unsigned char)*c->p;
        if (ch == '\\' || ch < 0x20 || ch >= 0x80) return false;
        c->p++;
    }
    if (c->p >= c->end) return false;
    *k = s;
    *n = (size_t)(c->p - s);
    c->p++;
    return eat(c, ':');
}

static bool is(const char *k, size_t n, const char *name) { return strlen(name) == n && memcmp(k, name, n) == 0; }

/* A plain non-negative integer jansson reads as one (no sign, fraction, exponent or leading
 * zero; at most 18 digits, so never "too big"), its value in *v when v is not NULL.
 * `zero_only`: the integer must be 0. */
static bool integer_value(cur *c, bool zero_only, int64_t *v) {
    ws(c);
    const char *s = c->p;
    int64_t x = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        if (c->p - s < 18) x = x * 10 + (*c->p - '0');
        c->p++;
    }
    size_t n = (size_t)(c->p - s);
    if (n == 0 || n > 18 || (n > 1 && *s == '0') || (zero_only && !(n == 1 && *s == '0'))) return false;
    if (v) *v = x;
    return c->p >= c->end || (*c->p != '.' && *c->p != 'e' && *c->p != 'E');
}

static bool integer(cur *c, bool zero_only) { return integer_value(c, zero_only, NULL); }

/* '{' and whether a key follows: false for an empty object, and for a malformed one with *ok
 * false. */
static bool obj_first(cur *c, bool *ok) {
    *ok = eat(c, '{');
    if (!*ok) return false;
    ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return false;
    }
    return true;
}

/* After a member: ',' and another key, or '}' (anything else: *ok false). */
static bool obj_next(cur *c, bool *ok) {
    if (eat(c, ',')) return true;
    *ok = eat(c, '}');
    return false;
}

static bool seen_once(unsigned *seen, unsigned bit) {
    if (*seen & bit) return false;
    *seen |= bit;
    return true;
}

static bool delta(cur *c, char *buf, lx_openai_delta *out) {
    bool ok;
    unsigned seen = 0;
    const char *k;
    size_t kn;
    for (bool more = obj_first(c, &ok); more; more = obj_next(c, &ok)) {
        if (!key(c, &k, &kn)) return false;
        bool f;
        if (is(k, kn, "content")) {
            f = seen_once(&seen, 1);
            if (f && lit(c, "null")) continue;
            f = f && string(c, buf, &out->content_len);
            out->has_content = f;
        } else if (is(k, kn, "role")) {
            f = seen_once(&seen, 2) && string(c, NULL, NULL);
        } else if (is(k, kn, "refusal")) {
            f = seen_once(&seen, 4) && lit(c, "null");
        } else {
            f = false;
        }
        if (!f) return false;
    }
    return ok;
}

static bool choice(cur *c, char *buf, lx_openai_delta *out) {
    bool ok;
    unsigned seen = 0;
    const char *k;
    size_t kn;
    for (bool more = obj_first(c, &ok); more; more = obj_next(c, &ok)) {
        if (!key(c, &k, &kn)) return false;
        bool f;
        if (is(k, kn, "index")) f = seen_once(&seen, 1) && integer(c, true);
        else if (is(k, kn, "delta")) f = seen_once(&seen, 2) && delta(c, buf, out);
        else if (is(k, kn, "logprobs")) f = seen_once(&seen, 4) && lit(c, "null");
        else if (is(k, kn, "finish_reason")) {
            bool escaped = false;
            f = seen_once(&seen, 8) &&
                (lit(c, "null") || (string_span(c, &out->finish, &out->finish_len, &escaped) && !escaped));
        } else f = false;
        if (!f) return false;
    }
    return ok && (seen & 2);
}

static bool string_or_null(cur *c) { return lit(c, "null") || string(c, NULL, NULL); }

static bool usage(cur *c, lx_openai_usage *out);

/* choices of a chunk: one choice, or none ("[]") in the usage chunk (checked by the caller). */
static bool chunk_choices(cur *c, char *buf, lx_openai_delta *out, bool *empty) {
    if (!eat(c, '[')) return false;
    ws(c);
    *empty = c->p < c->end && *c->p == ']';
    if (*empty) {
        c->p++;
        return true;
    }
    return choice(c, buf, out) && eat(c, ']');
}

static bool chunk(cur *c, char *buf, lx_openai_delta *out) {
    bool ok, empty = false;
    unsigned seen = 0;
    const char *k;
    size_t kn;
    for (bool more = obj_first(c, &ok); more; more = obj_next(c, &ok)) {
        if (!key(c, &k, &kn)) return false;
        bool f;
        if (is(k, kn, "id")) f = seen_once(&seen, 1) && string_span(c, &out->id, &out->id_len, &out->id_escaped);
        else if (is(k, kn, "object")) f = seen_once(&seen, 2) && string(c, NULL, NULL);
        else if (is(k, kn, "model"))
            f = seen_once(&seen, 4) && string_span(c, &out->model, &out->model_len, &out->model_escaped);
        else if (is(k, kn, "obfuscation")) f = seen_once(&seen, 8) && string(c, NULL, NULL);
        else if (is(k, kn, "system_fingerprint")) f = seen_once(&seen, 16) && string_or_null(c);
        else if (is(k, kn, "service_tier")) f = seen_once(&seen, 32) && string_or_null(c);
        else if (is(k, kn, "created")) f = seen_once(&seen, 64) && integer(c, false);
        else if (is(k, kn, "usage")) f = seen_once(&seen, 128) && (lit(c, "null") || usage(c, &out->usage));
        else if (is(k, kn, "choices")) f = seen_once(&seen, 256) && chunk_choices(c, buf, out, &empty);
        else f = false;
        if (!f) return false;
    }
    return ok && (seen & 256) && (!empty || out->usage.present);
}

bool lx_openai_fast_delta(const char *data, size_t len, char *buf, lx_openai_delta *out) {
    if (!data || !buf || !out) return false;
    *out = (lx_openai_delta){0};
    cur c = {data, data + len};
    if (!chunk(&c, buf, out)) return false;
    ws(&c);
    return c.p == c.end;
}

/* ------------------------------------------------------------ whole answer */

static bool message(cur *c, char *buf, lx_openai_body *out) {
    bool ok;
    unsigned seen = 0;
    const char *k;
    size_t kn;
    for (bool more = obj_first(c, &ok); more; more = obj_next(c, &ok)) {
        if (!key(c, &k, &kn)) return false;
        bool f;
        if (is(k, kn, "content")) {
            f = seen_once(&seen, 1);
            if (f && lit(c, "null")) continue;
            f = f && string(c, buf, &out->content_len);
            out->has_content = f;
        } else if (is(k, kn, "role")) {
            f = seen_once(&seen, 2) && string(c, NULL, NULL);
        } else if (is(k, kn, "refusal")) {
            f = seen_once(&seen, 4) && lit(c, "null");
        } else if (is(k, kn, "annotations")) {
            f = seen_once(&seen, 8) && eat(c, '[') && eat(c, ']');
        } else {
            f = false;
        }
        if (!f) return false;
    }
    return ok;
}

static bool body_choice(cur *c, char *buf, lx_openai_body *out) {
    bool ok;
    unsigned seen = 0;
    const char *k;
    size_t kn;
    for (bool more = obj_first(c, &ok); more; more = obj_next(c, &ok)) {
        if (!key(c, &k, &kn)) return false;
        bool f;
        if (is(k, kn, "index")) f = seen_once(&seen, 1) && integer(c, true);
        else if (is(k, kn, "message")) f = seen_once(&seen, 2) && message(c, buf, out);
        else if (is(k, kn, "logprobs")) f = seen_once(&seen, 4) && lit(c, "null");
        else if (is(k, kn, "finish_reason")) {
            bool escaped = false;
            f = seen_once(&seen, 8) &&
                (lit(c, "null") || (string_span(c, &out->finish, &out->finish_len, &escaped) && !escaped));
        } else f = false;
        if (!f) return false;
    }
    return ok && (seen & 2);
}

/* A usage count: its LX_FAST_U_* bit (0: a count OpenAI sends that the decoder ignores). */
typedef struct count_key {
    const char *name;
    unsigned bit;
} count_key;

/* An object of plain counts, the known keys only, each once. */
static bool counts(cur *c, const count_key *keys, size_t n_keys, lx_openai_usage *out) {
    bool ok;
    unsigned seen = 0;
    const char *k;
    size_t kn;
    for (bool more = obj_first(c, &ok); more; more = obj_next(c, &ok)) {
        if (!key(c, &k, &kn)) return false;
        size_t i = 0;
        while (i < n_keys && !is(k, kn, keys[i].name)) i++;
        int64_t v;
        if (i == n_keys || !seen_once(&seen, 1u << i) || !integer_value(c, false, &v)) return false;
        unsigned bit = keys[i].bit;
        if (bit) {
            out->set |= bit;
            out->v[__builtin_ctz(bit)] = v;
        }
    }
    return ok;
}

static bool usage(cur *c, lx_openai_usage *out) {
    static const count_key prompt_details[] = {
        {"cached_tokens", LX_FAST_U_CACHED}, {"cache_write_tokens", LX_FAST_U_CACHE_WRITE}, {"audio_tokens", 0}};
    static const count_key completion_details[] = {{"reasoning_tokens", LX_FAST_U_REASONING},
                                                   {"audio_tokens", 0},
                                                   {"accepted_prediction_tokens", 0},
                                                   {"rejected_prediction_tokens", 0}};
    static const count_key top[] = {
        {"prompt_tokens", LX_FAST_U_PROMPT}, {"completion_tokens", LX_FAST_U_COMPLETION}, {"total_tokens", LX_FAST_U_TOTAL}};
    bool ok;
    unsigned seen = 0;
    const char *k;
    size_t kn;
    for (bool more = obj_first(c, &ok); more; more = obj_next(c, &ok)) {
        if (!key(c, &k, &kn)) return false;
        bool f;
        if (is(k, kn, "prompt_tokens_details"))
            f = seen_once(&seen, 1) && counts(c, prompt_details, sizeof prompt_details / sizeof *prompt_details, out);
        else if (is(k, kn, "completion_tokens_details"))
            f = seen_once(&seen, 2) &&
                counts(c, completion_details, sizeof completion_details / sizeof *completion_details, out);
        else {
            size_t i = 0;
            while (i < 3 && !is(k, kn, top[i].name)) i++;
            int64_t v;
            f = i < 3 && seen_once(&seen, 4u << i) && integer_value(c, false, &v);
            if (f) {
                out->set |= top[i].bit;
                out->v[__builtin_ctz(top[i].bit)] = v;
            }
        }
        if (!f) return false;
    }
    out->present = ok;
    return ok;
}

static bool body(cur *c, char *buf, lx_openai_body *out) {
    bool ok;
    unsigned seen = 0;
    const char *k;
    size_t kn;
    for (bool more = obj_first(c, &ok); more; more = obj_next(c, &ok)) {
        if (!key(c, &k, &kn)) return false;
        bool f;
        if (is(k, kn, "id")) f = seen_once(&seen, 1) && string_span(c, &out->id, &out->id_len, &out->id_escaped);
        else if (is(k, kn, "object")) f = seen_once(&seen, 2) && string(c, NULL, NULL);
        else if (is(k, kn, "model"))
            f = seen_once(&seen, 4) && string_span(c, &out->model, &out->model_len, &out->model_escaped);
        else if (is(k, kn, "system_fingerprint")) f = seen_once(&seen, 16) && string_or_null(c);
        else if (is(k, kn, "service_tier")) f = seen_once(&seen, 32) && string_or_null(c);
        else if (is(k, kn, "created")) f = seen_once(&seen, 64) && integer(c, false);
        else if (is(k, kn, "usage")) f = seen_once(&seen, 128) && (lit(c, "null") || usage(c, &out->usage));
        else if (is(k, kn, "choices"))
            f = seen_once(&seen, 256) && eat(c, '[') && body_choice(c, buf, out) && eat(c, ']');
        else f = false;
        if (!f) return false;
    }
    return ok && (seen & 256);
}

bool lx_openai_fast_body(const char *data, size_t len, char *buf, lx_openai_body *out) {
    if (!data || !buf || !out) return false;
    *out = (lx_openai_body){0};
    cur c = {data, data + len};
    if (!body(&c, buf, out)) return false;
    ws(&c);
    return c.p == c.end;
}
