/* Canonical event decoding (event_decode.h): the fields llmux_event_to_json writes, per type. */
#include "core/event_decode.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

static bool fail(char *why, size_t size, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static bool fail(char *why, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (why && size) vsnprintf(why, size, fmt, ap);
    va_end(ap);
    return false;
}

/* Every key of obj must be in allowed (NULL-terminated). */
static bool keys_ok(const json_t *obj, const char *const *allowed, const char *where, char *why, size_t size) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        (void)v;
        bool found = false;
        for (size_t i = 0; allowed[i] && !found; i++) found = strcmp(k, allowed[i]) == 0;
        if (!found) return fail(why, size, "%s: unknown key \"%.64s\"", where, k);
    }
    return true;
}

/* An optional string field (borrowed); *len its length (may hold NUL bytes). */
static bool str_field(const json_t *obj, const char *key, bool required, const char **out, size_t *len, char *why,
                      size_t size) {
    const json_t *v = json_object_get(obj, key);
    if (!v) return !required || fail(why, size, "event.%s: missing", key);
    if (!json_is_string(v)) return fail(why, size, "event.%s: must be a string", key);
    *out = json_string_value(v);
    if (len) *len = json_string_length(v);
    return true;
}

static bool int_field(const json_t *obj, const char *key, bool required, json_int_t lo, json_int_t hi,
                      json_int_t *out, const char *where, char *why, size_t size) {
    const json_t *v = json_object_get(obj, key);
    if (!v) return !required || fail(why, size, "%s.%s: missing", where, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return fail(why, size, "%s.%s: must be an integer in [%lld, %lld]", where, key, (long long)lo, (long long)hi);
    *out = json_integer_value(v);
    return true;
}

static bool index_field(const json_t *obj, llmux_event *ev, char *why, size_t size) {
    json_int_t i = 0;
    if (!int_field(obj, "index", true, 0, UINT32_MAX, &i, "event", why, size)) return false;
    ev->index = (uint32_t)i;
    return true;
}

static bool decode_usage(const json_t *obj, llmux_event *ev, char *why, size_t size) {
    static const char *const keys[] = {"input_tokens",       "output_tokens",    "cached_input_tokens",
                                       "cache_write_tokens", "reasoning_tokens", "total_tokens",
                                       "cache_write_1h_tokens", "web_search_requests", NULL};
    const json_t *u = json_object_get(obj, "usage");
    if (!u) return fail(why, size, "event.usage: missing");
    if (!json_is_object(u)) return fail(why, size, "event.usage: must be an object");
    if (!keys_ok(u, keys, "event.usage", why, size)) return false;
    ev->usage = llmux_usage_default();
    int64_t *dst[] = {&ev->usage.input_tokens,       &ev->usage.output_tokens,    &ev->usage.cached_input_tokens,
                      &ev->usage.cache_write_tokens, &ev->usage.reasoning_tokens, &ev->usage.total_tokens,
                      &ev->usage.cache_write_1h_tokens, &ev->usage.web_search_requests};
    for (size_t i = 0; i < 8; i++) {
        json_int_t n = -1;
        if (!int_field(u, keys[i], false, 0, INT64_MAX, &n, "event.usage", why, size)) return false;
        *dst[i] = n;
    }
    const json_t *c = json_object_get(obj, "cost_usd");
    if (c) {
        if (!json_is_number(c) || !isfinite(json_number_value(c)) || json_number_value(c) < 0)
            return fail(why, size, "event.cost_usd: must be a number >= 0");
        ev->cost_known = true;
        ev->cost_usd = json_number_value(c);
    }
    return true;
}

static bool decode_error(const json_t *obj, llmux_error_info *e, char *why, size_t size) {
    static const char *const keys[] = {"status",           "message",        "provider_status", "provider_code",
                                       "provider_message", "retry_after_ms", NULL};
    const json_t *v = json_object_get(obj, "error");
    if (!v) return fail(why, size, "event.error: missing");
    if (!json_is_object(v)) return fail(why, size, "event.error: must be an object");
    if (!keys_ok(v, keys, "event.error", why, size)) return false;
    const char *status = NULL, *message = NULL, *code = NULL, *pmsg = NULL;
    json_int_t pstatus = 0, retry = -1;
    const json_t *s = json_object_get(v, "status"), *m = json_object_get(v, "message");
    if (!json_is_string(s)) return fail(why, size, "event.error.status: must be a string");
    if (!json_is_string(m)) return fail(why, size, "event.error.message: must be a string");
    status = json_string_value(s);
    message = json_string_value(m);
    const json_t *pc = json_object_get(v, "provider_code"), *pm = json_object_get(v, "provider_message");
    if (pc && !json_is_string(pc)) return fail(why, size, "event.error.provider_code: must be a string");
    if (pm && !json_is_string(pm)) return fail(why, size, "event.error.provider_message: must be a string");
    code = pc ? json_string_value(pc) : NULL;
    pmsg = pm ? json_string_value(pm) : NULL;
    if (!int_field(v, "provider_status", false, 0, 999, &pstatus, "event.error", why, size) ||
        !int_field(v, "retry_after_ms", false, 0, INT64_MAX, &retry, "event.error", why, size))
        return false;
    llmux_status st;
    if (!llmux_status_from_name(status, &st) || st == LLMUX_OK)
        return fail(why, size, "event.error.status: not an error class: \"%.64s\"", status);
    lx_error_clear(e);
    e->status = st;
    lx_copy_field(e->message, sizeof e->message, message);
    e->provider_status = (int)pstatus;
    lx_copy_field(e->provider_code, sizeof e->provider_code, code);
    lx_copy_field(e->provider_message, sizeof e->provider_message, pmsg);
    e->retry_after_ms = retry;
    return true;
}

bool lx_event_decode(const json_t *v, llmux_event *ev, llmux_error_info *err_store, char *why, size_t why_size) {
    memset(ev, 0, sizeof *ev);
    ev->usage = llmux_usage_default();
    if (!json_is_object(v)) return fail(why, why_size, "event: must be an object");
    const json_t *t = json_object_get(v, "type");
    if (!json_is_string(t)) return fail(why, why_size, "event.type: must be a string");
    if (!llmux_event_type_from_name(json_string_value(t), &ev->type))
        return fail(why, why_size, "event.type: unknown event type \"%.64s\"", json_string_value(t));
    static const char *const k_start[] = {"type", "id", "name", "provider", NULL};
    static const char *const k_delta[] = {"type", "index", "text", NULL};
    static const char *const k_reasoning[] = {"type", "index", "text", "signature", "redacted", NULL};
    static const char *const k_tool_start[] = {"type", "index", "id", "name", NULL};
    static const char *const k_index[] = {"type", "index", NULL};
    static const char *const k_usage[] = {"type", "usage", "cost_usd", NULL};
    static const char *const k_finish[] = {"type", "finish_reason", "stop_sequence", NULL};
    static const char *const k_error[] = {"type", "error", NULL};
    static const char *const k_native[] = {"type", "index", "format", "block", NULL};
    switch (ev->type) {
    case LLMUX_EVENT_START:
        return keys_ok(v, k_start, "event", why, why_size) && str_field(v, "id", false, &ev->id, NULL, why, why_size) &&
               str_field(v, "name", false, &ev->name, NULL, why, why_size) &&
               str_field(v, "provider", false, &ev->provider, NULL, why, why_size);
    case LLMUX_EVENT_TEXT_DELTA:
    case LLMUX_EVENT_TOOL_CALL_DELTA:
        return keys_ok(v, k_delta, "event", why, why_size) && index_field(v, ev, why, why_size) &&
               str_field(v, "text", true, &ev->text, &ev->text_len, why, why_size);
    case LLMUX_EVENT_REASONING_DELTA: {
        const json_t *r = json_object_get(v, "redacted");
        if (r && !json_is_boolean(r)) return fail(why, why_size, "event.redacted: must be a boolean");
        ev->redacted = r && json_is_true(r);
        return keys_ok(v, k_reasoning, "event", why, why_size) && index_field(v, ev, why, why_size) &&
               str_field(v, "text", false, &ev->text, &ev->text_len, why, why_size) &&
               str_field(v, "signature", false, &ev->signature, NULL, why, why_size);
    }
    case LLMUX_EVENT_TOOL_CALL_START:
        return keys_ok(v, k_tool_start, "event", why, why_size) && index_field(v, ev, why, why_size) &&
               str_field(v, "id", true, &ev->id, NULL, why, why_size) &&
               str_field(v, "name", true, &ev->name, NULL, why, why_size);
    case LLMUX_EVENT_TOOL_CALL_END:
        return keys_ok(v, k_index, "event", why, why_size) && index_field(v, ev, why, why_size);
    case LLMUX_EVENT_USAGE: return keys_ok(v, k_usage, "event", why, why_size) && decode_usage(v, ev, why, why_size);
    case LLMUX_EVENT_FINISH: {
        const char *r = NULL;
        if (!keys_ok(v, k_finish, "event", why, why_size) ||
            !str_field(v, "finish_reason", true, &r, NULL, why, why_size))
            return false;
        if (!llmux_finish_reason_from_name(r, &ev->finish_reason))
            return fail(why, why_size, "event.finish_reason: unknown reason \"%.64s\"", r);
        return str_field(v, "stop_sequence", false, &ev->text, &ev->text_len, why, why_size);
    }
    case LLMUX_EVENT_NATIVE: {
        if (!keys_ok(v, k_native, "event", why, why_size) || !index_field(v, ev, why, why_size) ||
            !str_field(v, "format", true, &ev->name, NULL, why, why_size) ||
            !str_field(v, "block", true, &ev->text, &ev->text_len, why, why_size))
            return false;
        if (!*ev->name) return fail(why, why_size, "event.format: must not be empty");
        json_error_t je;
        json_t *b = json_loadb(ev->text, ev->text_len, JSON_REJECT_DUPLICATES, &je);
        bool obj = json_is_object(b);
        json_decref(b);
        return obj || fail(why, why_size, "event.block: must hold a JSON object");
    }
    case LLMUX_EVENT_ERROR:
        if (!keys_ok(v, k_error, "event", why, why_size) || !decode_error(v, err_store, why, why_size)) return false;
        ev->error = err_store;
        return true;
    }
    return fail(why, why_size, "event.type: unknown event type");
}
