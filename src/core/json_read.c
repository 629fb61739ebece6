/* Strict decoding helpers: every failure names the field path, e.g. `messages[2].content[0].type`. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "json.h"
#include "response.h"
#include "utf8.h"

void lx_jr_init(lx_jr *r, lx_arena *arena, llmux_error_info *err, const char *root) {
    r->arena = arena;
    r->err = err;
    r->status = LLMUX_OK;
    r->root = root;
    r->path[0] = '\0';
    r->path_len = 0;
}

/* Untrusted names and values go into messages: bounded, and without control characters. */
void lx_jr_show(char *dst, size_t cap, const char *s) {
    size_t n = strlen(s);
    size_t max = cap - 4;
    bool cut = n > max;
    if (cut) n = lx_utf8_complete_len(s, max);
    for (size_t i = 0; i < n; i++) dst[i] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
    if (cut) {
        memcpy(dst + n, "...", 3);
        n += 3;
    }
    dst[n] = '\0';
}

json_t *lx_jr_parse(lx_jr *r, const char *json, size_t len) {
    if (!json) {
        lx_jr_fail(r, "no JSON input");
        return NULL;
    }
    if (len > LLMUX_JSON_MAX_BYTES) {
        lx_jr_fail(r, "JSON is too large: %zu bytes (the limit is %u)", len, (unsigned)LLMUX_JSON_MAX_BYTES);
        return NULL;
    }
    json_error_t e;
    json_t *v = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
    if (!v) {
        /* jansson reports its own allocation failures as parse errors, and a failure while it sets
         * up the lexer with no message at all: keep the class right in both cases. */
        if (json_error_code(&e) == json_error_out_of_memory || e.text[0] == '\0') lx_jr_oom(r);
        else lx_jr_fail(r, "invalid JSON at line %d, column %d: %s", e.line, e.column, e.text);
        return NULL;
    }
    return v;
}

static size_t push(lx_jr *r, const char *fmt, const char *s, size_t i) {
    size_t old = r->path_len;
    if (r->path_len >= sizeof r->path - 1) return old;
    int n = s ? snprintf(r->path + r->path_len, sizeof r->path - r->path_len, fmt, s)
              : snprintf(r->path + r->path_len, sizeof r->path - r->path_len, fmt, i);
    if (n < 0) n = 0;
    r->path_len += (size_t)n;
    /* A path that no longer fits is cut on a character boundary, never mid-sequence. */
    if (r->path_len > sizeof r->path - 1) r->path_len = lx_utf8_complete_len(r->path, sizeof r->path - 1);
    r->path[r->path_len] = '\0';
    return old;
}

size_t lx_jr_push_key(lx_jr *r, const char *key) {
    char k[72];
    lx_jr_show(k, sizeof k, key);
    return push(r, r->path_len ? ".%s" : "%s", k, 0);
}

size_t lx_jr_push_index(lx_jr *r, size_t i) { return push(r, "[%zu]", NULL, i); }

void lx_jr_pop(lx_jr *r, size_t len) {
    r->path_len = len;
    r->path[len] = '\0';
}

bool lx_jr_fail(lx_jr *r, const char *fmt, ...) {
    if (r->status != LLMUX_OK) return false;
    char msg[sizeof ((llmux_error_info *)0)->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->status = LLMUX_E_INVALID_REQUEST;
    lx_error(r->err, LLMUX_E_INVALID_REQUEST, "%s: %s", r->path_len ? r->path : r->root, msg);
    return false;
}

bool lx_jr_oom(lx_jr *r) {
    if (r->status != LLMUX_OK) return false;
    r->status = LLMUX_E_OUT_OF_MEMORY;
    lx_error(r->err, LLMUX_E_OUT_OF_MEMORY, "out of memory decoding the %s", r->root);
    return false;
}

bool lx_jr_check_keys(lx_jr *r, const json_t *obj, const char *const *allowed) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++) ok = strcmp(*a, k) == 0;
        if (!ok) {
            size_t old = lx_jr_push_key(r, k);
            lx_jr_fail(r, "unknown field");
            lx_jr_pop(r, old);
            return false;
        }
    }
    return true;
}

bool lx_jr_expect_object(lx_jr *r, const json_t *v) {
    return json_is_object(v) ? true : lx_jr_fail(r, "must be an object");
}

bool lx_jr_expect_array(lx_jr *r, const json_t *v, size_t max_items) {
    if (!json_is_array(v)) return lx_jr_fail(r, "must be an array");
    if (json_array_size(v) > max_items)
        return lx_jr_fail(r, "too many items: %zu (the limit is %zu)", json_array_size(v), max_items);
    return true;
}

/* Looks a field up and pushes its name on the path; NULL (path unchanged) when absent. */
static const json_t *field(lx_jr *r, const json_t *obj, const char *key, bool required, size_t *old) {
    const json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required) {
            size_t o = lx_jr_push_key(r, key);
            lx_jr_fail(r, "missing");
            lx_jr_pop(r, o);
        }
        return NULL;
    }
    *old = lx_jr_push_key(r, key);
    return v;
}

bool lx_jr_string_value(lx_jr *r, const json_t *v, const char **out) {
    if (!json_is_string(v)) return lx_jr_fail(r, "must be a string");
    const char *s = lx_arena_strndup(r->arena, json_string_value(v), json_string_length(v));
    if (!s) return lx_jr_oom(r);
    *out = s;
    return true;
}

bool lx_jr_string(lx_jr *r, const json_t *obj, const char *key, bool required, const char **out) {
    size_t old;
    const json_t *v = field(r, obj, key, required, &old);
    if (!v) return !required;
    bool ok = lx_jr_string_value(r, v, out);
    lx_jr_pop(r, old);
    return ok;
}

bool lx_jr_bool(lx_jr *r, const json_t *obj, const char *key, bool *out) {
    size_t old;
    const json_t *v = field(r, obj, key, false, &old);
    if (!v) return true;
    bool ok = json_is_boolean(v) ? (*out = json_is_true(v), true) : lx_jr_fail(r, "must be true or false");
    lx_jr_pop(r, old);
    return ok;
}

bool lx_jr_int(lx_jr *r, const json_t *obj, const char *key, int64_t min, int64_t max, const char *what,
               int64_t *out) {
    size_t old;
    const json_t *v = field(r, obj, key, false, &old);
    if (!v) return true;
    bool ok = false;
    if (json_is_integer(v)) {
        int64_t x = (int64_t)json_integer_value(v);
        if (x >= min && x <= max) {
            *out = x;
            ok = true;
        }
    }
    if (!ok) lx_jr_fail(r, "must be an integer %s", what);
    lx_jr_pop(r, old);
    return ok;
}

bool lx_jr_number(lx_jr *r, const json_t *obj, const char *key, bool (*accept)(double), const char *what,
                  double *out) {
    size_t old;
    const json_t *v = field(r, obj, key, false, &old);
    if (!v) return true;
    bool ok = json_is_number(v) && accept(json_number_value(v));
    if (ok)
        *out = json_number_value(v);
    else
        lx_jr_fail(r, "must be a number %s", what);
    lx_jr_pop(r, old);
    return ok;
}

bool lx_jr_json_object(lx_jr *r, const json_t *obj, const char *key, const char **out) {
    size_t old;
    const json_t *v = field(r, obj, key, false, &old);
    if (!v) return true;
    bool ok = false;
    if (!json_is_object(v)) {
        lx_jr_fail(r, "must be an object");
    } else {
        /* Stored compact, in the writer's own spelling, so encoding it again is byte-stable. */
        lx_jw w;
        lx_jw_init(&w);
        lx_jw_json(&w, v);
        if (w.failed || !(*out = lx_arena_strndup(r->arena, w.buf.data, w.buf.len)))
            lx_jr_oom(r);
        else
            ok = true;
        lx_buf_free(&w.buf);
    }
    lx_jr_pop(r, old);
    return ok;
}

static const char *const k_text_keys[] = {"type", "text", "cache", NULL};
static const char *const k_image_keys[] = {"type", "url", "data", "mime_type", "cache", NULL};
static const char *const k_call_keys[] = {"type", "id", "name", "arguments", "cache", NULL};
static const char *const k_result_keys[] = {"type", "id", "name", "content", "is_error", "cache", NULL};

bool lx_jr_fail_value(lx_jr *r, const char *key, const char *what, const char *value, const char *tail) {
    char shown[72];
    lx_jr_show(shown, sizeof shown, value);
    size_t old = lx_jr_push_key(r, key);
    lx_jr_fail(r, "%s \"%s\"%s", what, shown, tail ? tail : "");
    lx_jr_pop(r, old);
    return false;
}

bool lx_jr_cache(lx_jr *r, const json_t *obj, llmux_cache *out) {
    const char *name = NULL;
    if (!lx_jr_string(r, obj, "cache", false, &name)) return false;
    if (!name || lx_cache_from_name(name, out)) return true;
    return lx_jr_fail_value(r, "cache", "unknown cache lifetime", name, " (expected \"5m\" or \"1h\")");
}

static const char *const k_reasoning_keys[] = {"type", "text", "signature", "redacted", NULL};
static const char *const k_file_keys[] = {"type", "url", "data", "mime_type", "name", "cache", NULL};
static const char *const k_native_keys[] = {"type", "format", "block", NULL};

bool lx_jr_part(lx_jr *r, const json_t *v, llmux_part *out) {
    memset(out, 0, sizeof *out);
    if (!lx_jr_expect_object(r, v)) return false;
    const char *type = NULL;
    if (!lx_jr_string(r, v, "type", true, &type)) return false;
    llmux_part_type t;
    if (!lx_part_type_from_name(type, &t)) return lx_jr_fail_value(r, "type", "unknown part type", type, NULL);
    out->type = t;
    /* Types only: which fields a part needs is lx_part_rules' (request_check.c), run by the
     * request rules and by the response decoder. */
    switch (t) {
    case LLMUX_PART_TEXT:
        return lx_jr_check_keys(r, v, k_text_keys) && lx_jr_string(r, v, "text", false, &out->text) &&
               lx_jr_cache(r, v, &out->cache);
    case LLMUX_PART_IMAGE:
        return lx_jr_check_keys(r, v, k_image_keys) && lx_jr_string(r, v, "url", false, &out->image_url) &&
               lx_jr_string(r, v, "data", false, &out->data) &&
               lx_jr_string(r, v, "mime_type", false, &out->mime_type) && lx_jr_cache(r, v, &out->cache);
    case LLMUX_PART_TOOL_CALL:
        if (!lx_jr_check_keys(r, v, k_call_keys) || !lx_jr_string(r, v, "id", false, &out->id) ||
            !lx_jr_string(r, v, "name", false, &out->name) ||
            !lx_jr_string(r, v, "arguments", false, &out->arguments) || !lx_jr_cache(r, v, &out->cache))
            return false;
        if (!out->arguments && !(out->arguments = lx_arena_strdup(r->arena, "{}"))) return lx_jr_oom(r);
        return true;
    case LLMUX_PART_TOOL_RESULT:
        return lx_jr_check_keys(r, v, k_result_keys) && lx_jr_string(r, v, "id", false, &out->id) &&
               lx_jr_string(r, v, "name", false, &out->name) && lx_jr_string(r, v, "content", false, &out->text) &&
               lx_jr_bool(r, v, "is_error", &out->is_error) && lx_jr_cache(r, v, &out->cache);
    case LLMUX_PART_FILE:
        return lx_jr_check_keys(r, v, k_file_keys) && lx_jr_string(r, v, "url", false, &out->image_url) &&
               lx_jr_string(r, v, "data", false, &out->data) &&
               lx_jr_string(r, v, "mime_type", false, &out->mime_type) && lx_jr_string(r, v, "name", false, &out->name) &&
               lx_jr_cache(r, v, &out->cache);
    case LLMUX_PART_REASONING:
        return lx_jr_check_keys(r, v, k_reasoning_keys) && lx_jr_string(r, v, "text", false, &out->text) &&
               lx_jr_string(r, v, "signature", false, &out->signature) &&
               lx_jr_bool(r, v, "redacted", &out->redacted);
    case LLMUX_PART_NATIVE:
        return lx_jr_check_keys(r, v, k_native_keys) && lx_jr_string(r, v, "format", false, &out->name) &&
               lx_jr_json_object(r, v, "block", &out->text);
    }
    return false;
}

static const char *const k_usage_keys[] = {"input_tokens",       "output_tokens",    "cached_input_tokens",
                                           "cache_write_tokens", "reasoning_tokens", "total_tokens",
                                           "cache_write_1h_tokens", "web_search_requests", NULL};

bool lx_jr_usage(lx_jr *r, const json_t *obj, const char *key, llmux_usage *out) {
    const json_t *v = json_object_get(obj, key);
    if (!v) return true;
    size_t old = lx_jr_push_key(r, key);
    bool ok = lx_jr_expect_object(r, v) && lx_jr_check_keys(r, v, k_usage_keys);
    int64_t *dst[] = {&out->input_tokens,       &out->output_tokens,    &out->cached_input_tokens,
                      &out->cache_write_tokens, &out->reasoning_tokens, &out->total_tokens,
                      &out->cache_write_1h_tokens, &out->web_search_requests};
    for (size_t i = 0; ok && i < 8; i++) ok = lx_jr_int(r, v, k_usage_keys[i], 0, INT64_MAX, ">= 0", dst[i]);
    lx_jr_pop(r, old);
    return ok;
}

static const char *const k_error_keys[] = {"status",           "message",        "provider_status", "provider_code",
                                           "provider_message", "retry_after_ms", NULL};

bool lx_jr_error(lx_jr *r, const json_t *obj, const char *key, llmux_error_info *out) {
    const json_t *v = json_object_get(obj, key);
    if (!v) return true;
    size_t old = lx_jr_push_key(r, key);
    const char *status = NULL, *message = NULL, *code = NULL, *pmsg = NULL;
    int64_t pstatus = 0, retry = -1;
    bool ok = lx_jr_expect_object(r, v) && lx_jr_check_keys(r, v, k_error_keys) &&
              lx_jr_string(r, v, "status", true, &status) && lx_jr_string(r, v, "message", true, &message) &&
              lx_jr_int(r, v, "provider_status", 0, 999, "in [0, 999]", &pstatus) &&
              lx_jr_string(r, v, "provider_code", false, &code) &&
              lx_jr_string(r, v, "provider_message", false, &pmsg) &&
              lx_jr_int(r, v, "retry_after_ms", 0, INT64_MAX, ">= 0", &retry);
    llmux_status st = LLMUX_OK;
    if (ok && !llmux_status_from_name(status, &st)) {
        char shown[72];
        lx_jr_show(shown, sizeof shown, status);
        size_t o = lx_jr_push_key(r, "status");
        ok = lx_jr_fail(r, "unknown status \"%s\"", shown);
        lx_jr_pop(r, o);
    } else if (ok && st == LLMUX_OK) {
        size_t o = lx_jr_push_key(r, "status");
        ok = lx_jr_fail(r, "must not be \"ok\" (omit \"error\" instead)");
        lx_jr_pop(r, o);
    }
    if (ok) {
        lx_error_clear(out);
        out->status = st;
        /* Fixed-size fields: longer text is cut on a character boundary. */
        lx_copy_field(out->message, sizeof out->message, message);
        out->provider_status = (int)pstatus;
        lx_copy_field(out->provider_code, sizeof out->provider_code, code);
        lx_copy_field(out->provider_message, sizeof out->provider_message, pmsg);
        out->retry_after_ms = retry;
    }
    lx_jr_pop(r, old);
    return ok;
}
