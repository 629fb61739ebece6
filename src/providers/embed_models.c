/* Helpers shared by the adapters' embeddings and model-list entry points. */
#include <stdio.h>
#include <string.h>

#include "core/embeddings.h"
#include "core/error.h"
#include "core/models.h"
#include "core/utf8.h"
#include "providers/embed_models.h"
#include "providers/json_util.h"
#include "providers/wire.h"

llmux_status lx_embed_check_request(const llmux_embed_request *req, const char *who, llmux_error_info *err) {
    if (!req) return lx_error(err, LLMUX_E_INTERNAL, "%s: embed request is NULL", who);
    if (req->n_inputs == 0) return lx_error(err, LLMUX_E_INVALID_REQUEST, "inputs: empty (nothing to embed)");
    if (!req->inputs) return lx_error(err, LLMUX_E_INVALID_REQUEST, "inputs: NULL");
    if (req->n_inputs > LX_EMBED_MAX_VECTORS)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "inputs: %zu texts, at most %u per request", req->n_inputs,
                        LX_EMBED_MAX_VECTORS);
    for (size_t i = 0; i < req->n_inputs; i++) {
        if (!req->inputs[i]) return lx_error(err, LLMUX_E_INVALID_REQUEST, "inputs[%zu]: NULL", i);
        /* A local model's tokenizer (llama.cpp) throws on an invalid code point. */
        if (!lx_utf8_valid(req->inputs[i], strlen(req->inputs[i])))
            return lx_error(err, LLMUX_E_INVALID_REQUEST, "inputs[%zu]: not valid UTF-8", i);
    }
    if (req->dimensions < 0)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "dimensions: %d, expected 0 (default) or more",
                        (int)req->dimensions);
    return LLMUX_OK;
}

llmux_status lx_embed_inputs_json(const llmux_embed_request *req, const char *who, json_t **out,
                                  llmux_error_info *err) {
    *out = NULL;
    json_t *arr = json_array();
    if (!arr) goto oom;
    for (size_t i = 0; i < req->n_inputs; i++) {
        /* jansson refuses invalid UTF-8; say which input instead of "out of memory". */
        json_t *s = json_string(req->inputs[i]);
        if (!s) {
            json_decref(arr);
            return lx_error(err, LLMUX_E_INVALID_REQUEST, "inputs[%zu]: not valid UTF-8", i);
        }
        if (json_array_append_new(arr, s) != 0) {
            json_decref(arr);
            goto oom;
        }
    }
    *out = arr;
    return LLMUX_OK;
oom:
    return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", who);
}

json_t *lx_body_object(const char *body, size_t len, const char *who, const char *what, llmux_error_info *err) {
    char label[96];
    snprintf(label, sizeof label, "%s %s", who, what);
    json_t *j = lx_json_parse_upstream(body ? body : "", body ? len : 0, LX_WIRE_MAX_BODY, label, err);
    if (j && !json_is_object(j)) {
        json_decref(j);
        lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: the %s body is not a JSON object", who, what);
        return NULL;
    }
    return j;
}

json_t *lx_body_array(const json_t *body, const char *key, const char *what, const char *who,
                      lx_body_error_fn body_error, llmux_status *st, llmux_error_info *err) {
    json_t *arr = lx_json_arr(body, key);
    *st = LLMUX_OK;
    if (arr) return arr;
    *st = body_error(body, who, err);
    if (*st == LLMUX_OK)
        *st = lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: %s: %s: missing or not an array", who, what, key);
    return NULL;
}

llmux_status lx_embed_openai_body(const llmux_embed_request *req, const char *model, const char *base, const char *who,
                                  const char *extra_key, const char *extra_value, lx_wire_request *out,
                                  llmux_error_info *err) {
    json_t *inputs = NULL;
    llmux_status st = lx_embed_inputs_json(req, who, &inputs, err);
    if (st != LLMUX_OK) return st;
    json_t *body = json_object();
    if (body && json_object_set_new(body, "model", json_string(model)) != 0) {
        json_decref(body);
        body = NULL;
    }
    if (!body || json_object_set_new(body, "input", inputs) != 0 ||
        (req->dimensions > 0 && json_object_set_new(body, "dimensions", json_integer(req->dimensions)) != 0) ||
        (extra_key && json_object_set_new(body, extra_key, json_string(extra_value)) != 0)) {
        if (!body) json_decref(inputs); /* json_object_set_new steals it otherwise, also on failure */
        json_decref(body);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", who);
    }
    st = lx_merge_provider_options(body, req->provider_options, base, err);
    if (st == LLMUX_OK && strcmp(who, base) != 0) st = lx_merge_provider_options(body, req->provider_options, who, err);
    if (st == LLMUX_OK && !lx_json_dump_buf(body, &out->body))
        st = lx_error(err, LLMUX_E_INVALID_REQUEST, "%s: request body exceeds %zu bytes", who, out->body.max);
    json_decref(body);
    return st;
}

llmux_status lx_embed_rows(const json_t *arr, const char *key, const char *who, const char *what_fmt,
                           llmux_embeddings **out, llmux_error_info *err) {
    size_t n = json_array_size(arr);
    if (n > LX_EMBED_MAX_VECTORS)
        return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: %zu embeddings, more than the cap of %u", who, n,
                        LX_EMBED_MAX_VECTORS);
    const json_t *rows[LX_EMBED_MAX_VECTORS];
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_array_get(arr, i);
        rows[i] = key ? lx_json_arr(item, key) : item;
    }
    return lx_embeddings_from_json_rows(rows, n, who, what_fmt, out, err);
}

llmux_status lx_embed_set_meta(llmux_embeddings **out, const char *model, const char *who, llmux_error_info *err) {
    if (lx_embeddings_set_meta(*out, model, who)) return LLMUX_OK;
    llmux_embeddings_free(*out);
    *out = NULL;
    return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", who);
}

/* One entry: the id checks, the push, the display name, then the adapter's extras. */
static llmux_status push_model(const lx_model_list_layout *layout, const lx_provider_config *cfg, const char *who,
                               llmux_model_list *l, const json_t *item, size_t i, llmux_error_info *err) {
    const char *id = lx_json_str(item, layout->id_key);
    if ((!id || !*id) && layout->alt_id_key) id = lx_json_str(item, layout->alt_id_key);
    if (!id || !*id)
        return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: model list: %s[%zu].%s: missing or not a string", who,
                        layout->array, i, layout->id_key);
    size_t strip = layout->strip_prefix ? strlen(layout->strip_prefix) : 0;
    if (strip && strncmp(id, layout->strip_prefix, strip) == 0 && id[strip]) id += strip;
    llmux_model_info *m;
    llmux_status st = lx_model_list_push(l, who, id, who, &m, err);
    if (st != LLMUX_OK) return st;
    const char *name = layout->name_key ? lx_json_str(item, layout->name_key) : NULL;
    if (name && !(m->name = lx_model_list_strdup(l, name)))
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", who);
    if (layout->fill) layout->fill(m, item, cfg);
    return LLMUX_OK;
}

/* The next page's cursor into next[size] ("" = none); see lx_model_list_layout. */
static llmux_status page_cursor(const lx_model_list_layout *layout, const json_t *body, const char *who, char *next,
                                size_t size, llmux_error_info *err) {
    if (!layout->cursor_key) return LLMUX_OK;
    if (layout->more_key) {
        const json_t *more = json_object_get(body, layout->more_key);
        if (more && !json_is_boolean(more) && !json_is_null(more))
            return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: model list: %s: not a boolean", who, layout->more_key);
    }
    const json_t *c = json_object_get(body, layout->cursor_key);
    if (c && !json_is_string(c) && !json_is_null(c))
        return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: model list: %s: not a string", who, layout->cursor_key);
    if (layout->more_key && !json_is_true(json_object_get(body, layout->more_key))) return LLMUX_OK;
    size_t n = json_is_string(c) ? json_string_length(c) : 0;
    if (n == 0) {
        if (!layout->more_key) return LLMUX_OK;
        return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: model list: %s is true but %s is missing or empty", who,
                        layout->more_key, layout->cursor_key);
    }
    const char *v = json_string_value(c);
    size_t cap = size - 1 < LX_MODELS_CURSOR_MAX ? size - 1 : LX_MODELS_CURSOR_MAX;
    if (n > cap || strlen(v) != n)
        return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: model list: %s: %zu bytes, at most %zu accepted", who,
                        layout->cursor_key, n, cap);
    memcpy(next, v, n + 1);
    return LLMUX_OK;
}

llmux_status lx_models_decode_page(const lx_model_list_layout *layout, const lx_provider_config *cfg, const char *who,
                                   const char *body, size_t len, char *next, size_t next_size,
                                   llmux_model_list **out, llmux_error_info *err) {
    *out = NULL;
    if (!next || !next_size) return lx_error(err, LLMUX_E_INTERNAL, "%s: decode_models called without a cursor buffer", who);
    next[0] = '\0';
    json_t *j = lx_body_object(body, len, who, "model list", err);
    if (!j) return LLMUX_E_UPSTREAM_PROTOCOL;
    llmux_status st = LLMUX_OK;
    llmux_model_list *l = NULL;
    json_t *items;
    if (layout->may_be_absent) {
        items = lx_json_arr(j, layout->array);
        if (!items) st = layout->body_error(j, who, err);
    } else {
        items = lx_body_array(j, layout->array, "model list", who, layout->body_error, &st, err);
    }
    if (st != LLMUX_OK) goto done;
    l = lx_model_list_new();
    if (!l) {
        st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", who);
        goto done;
    }
    if (!items && json_object_get(j, layout->array)) {
        st = lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: model list: %s: not an array", who, layout->array);
        goto done;
    }
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        st = push_model(layout, cfg, who, l, item, i, err);
        if (st != LLMUX_OK) goto done;
    }
    st = page_cursor(layout, j, who, next, next_size, err);
done:
    json_decref(j);
    if (st != LLMUX_OK) {
        next[0] = '\0';
        llmux_model_list_free(l);
        return st;
    }
    *out = l;
    return LLMUX_OK;
}

/* Every cursor decode accepts can be sent: 64 bytes cover "/models?pageSize=1000&pageToken=". */
_Static_assert(3u * LX_MODELS_CURSOR_MAX + 64u <= sizeof(((lx_wire_request *)0)->path),
               "an encoded page cursor must fit in a wire path");

/* RFC 3986 unreserved: the only bytes a query value may carry as they are. */
static bool unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

llmux_status lx_models_page_path(lx_wire_request *out, const char *first, const char *param, const char *cursor,
                                 const char *who, llmux_error_info *err) {
    static const char hex[] = "0123456789ABCDEF";
    char path[sizeof out->path];
    size_t n = strlen(first);
    if (n >= sizeof path) return lx_error(err, LLMUX_E_INTERNAL, "%s: path too long", who);
    memcpy(path, first, n + 1);
    if (cursor && *cursor) {
        size_t cl = strlen(cursor);
        if (cl > LX_MODELS_CURSOR_MAX)
            return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: model list: page cursor of %zu bytes, at most %u accepted",
                            who, cl, LX_MODELS_CURSOR_MAX);
        int k = snprintf(path + n, sizeof path - n, "&%s=", param);
        if (k < 0 || (size_t)k >= sizeof path - n) return lx_error(err, LLMUX_E_INTERNAL, "%s: path too long", who);
        n += (size_t)k;
        for (size_t i = 0; i < cl; i++) {
            unsigned char c = (unsigned char)cursor[i];
            size_t need = unreserved(c) ? 1 : 3;
            if (n + need >= sizeof path)
                return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL,
                                "%s: model list: the page cursor does not fit in a request path once encoded", who);
            if (need == 1) {
                path[n++] = (char)c;
            } else {
                path[n++] = '%';
                path[n++] = hex[c >> 4];
                path[n++] = hex[c & 15];
            }
        }
        path[n] = '\0';
    }
    if (!lx_wire_set(out, "GET", path)) return lx_error(err, LLMUX_E_INTERNAL, "%s: path too long", who);
    return LLMUX_OK;
}
