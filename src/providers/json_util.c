#include "providers/json_util.h"

#include <math.h>

#include "core/error.h"

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

int64_t lx_json_count(const json_t *obj, const char *key) {
    int64_t v;
    return lx_json_i64(obj, key, &v) && v >= 0 ? v : -1;
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

json_t *lx_json_cache_control(llmux_cache k) {
    if (k == LLMUX_CACHE_NONE) return NULL;
    return k == LLMUX_CACHE_1H ? json_pack("{s:s,s:s}", "type", "ephemeral", "ttl", "1h") : json_pack("{s:s}", "type", "ephemeral");
}
