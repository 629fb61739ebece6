/* Helpers shared by the adapters' embeddings and model-list entry points. */
#include <stdio.h>
#include <string.h>

#include "core/embeddings.h"
#include "core/error.h"
#include "providers/extra.h"

llmux_status lx_embed_check_request(const llmux_embed_request *req, const char *who, llmux_error_info *err) {
    if (!req) return lx_error(err, LLMUX_E_INTERNAL, "%s: embed request is NULL", who);
    if (req->n_inputs == 0) return lx_error(err, LLMUX_E_INVALID_REQUEST, "inputs: empty (nothing to embed)");
    if (!req->inputs) return lx_error(err, LLMUX_E_INVALID_REQUEST, "inputs: NULL");
    if (req->n_inputs > LX_EMBED_MAX_VECTORS)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "inputs: %zu texts, at most %u per request", req->n_inputs,
                        LX_EMBED_MAX_VECTORS);
    for (size_t i = 0; i < req->n_inputs; i++)
        if (!req->inputs[i]) return lx_error(err, LLMUX_E_INVALID_REQUEST, "inputs[%zu]: NULL", i);
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

json_t *lx_extra_parse_object(const char *body, size_t len, const char *who, const char *what,
                              llmux_error_info *err) {
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

bool lx_extra_bearer(lx_wire_request *w, const lx_provider_config *cfg) {
    if (!cfg->api_key || !*cfg->api_key) return true;
    char auth[sizeof w->headers[0].value];
    int n = snprintf(auth, sizeof auth, "Bearer %s", cfg->api_key);
    bool ok = n > 0 && (size_t)n < sizeof auth && lx_wire_add_header(w, "Authorization", auth, true);
    memset(auth, 0, sizeof auth);
    return ok;
}

int64_t lx_extra_count(const json_t *obj, const char *key) {
    int64_t v;
    return lx_json_i64(obj, key, &v) && v >= 0 ? v : -1;
}
