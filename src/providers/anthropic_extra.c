/* Anthropic model list (GET /v1/models). Anthropic has no embeddings endpoint. */
#include <string.h>

#include "core/error.h"
#include "core/models.h"
#include "providers/anthropic_internal.h"
#include "providers/extra.h"

/* The same API version the Messages adapter sends (anthropic.c). */
#define ANTHROPIC_VERSION "2023-06-01"

llmux_status lx_anthropic_encode_models(const lx_provider_config *cfg, lx_wire_request *out, llmux_error_info *err) {
    if (!cfg || !out) return lx_error(err, LLMUX_E_INTERNAL, "anthropic: encode_models called with NULL");
    /* limit=1000 is the API's maximum page: one request lists every model (has_more is not followed). */
    if (!lx_wire_set(out, "GET", "/models?limit=1000"))
        return lx_error(err, LLMUX_E_INTERNAL, "anthropic: path too long");
    out->stream = false;
    lx_buf_reset(&out->body);
    if (!lx_wire_add_header(out, "accept", "application/json", false) ||
        !lx_wire_add_header(out, "anthropic-version", ANTHROPIC_VERSION, false) ||
        (cfg->api_key && *cfg->api_key && !lx_wire_add_header(out, "x-api-key", cfg->api_key, true)))
        return lx_error(err, LLMUX_E_CONFIGURATION, "anthropic: a header value is too long or holds a line break");
    return LLMUX_OK;
}

llmux_status lx_anthropic_decode_models(const lx_provider_config *cfg, const char *body, size_t len,
                                        llmux_model_list **out, llmux_error_info *err) {
    *out = NULL;
    const char *who = cfg && cfg->name ? cfg->name : "anthropic";
    json_t *j = lx_extra_parse_object(body, len, who, "model list", err);
    if (!j) return LLMUX_E_UPSTREAM_PROTOCOL;
    llmux_status st = LLMUX_OK;
    llmux_model_list *l = NULL;
    json_t *data = lx_json_arr(j, "data");
    json_t *e = lx_json_obj(j, "error");
    if (e && !data) {
        st = lx_anthropic_error(e, 0, -1, who, err);
        goto done;
    }
    if (!data) {
        st = lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: model list: data: missing or not an array", who);
        goto done;
    }
    l = lx_model_list_new();
    if (!l) {
        st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", who);
        goto done;
    }
    size_t i;
    json_t *item;
    json_array_foreach(data, i, item) {
        const char *id = lx_json_str(item, "id");
        if (!id || !*id) {
            st = lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: model list: data[%zu].id: missing or not a string", who, i);
            goto done;
        }
        llmux_model_info *m;
        st = lx_model_list_push(l, who, id, who, &m, err);
        if (st != LLMUX_OK) goto done;
        const char *name = lx_json_str(item, "display_name");
        if (name && !(m->name = lx_model_list_strdup(l, name))) {
            st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", who);
            goto done;
        }
        /* Newer API versions describe the limits; older answers simply lack them. */
        m->context_length = lx_extra_count(item, "max_input_tokens");
        m->max_output_tokens = lx_extra_count(item, "max_tokens");
    }
done:
    json_decref(j);
    if (st != LLMUX_OK) {
        llmux_model_list_free(l);
        return st;
    }
    *out = l;
    return LLMUX_OK;
}
