/* Ollama embeddings (POST /api/embed) and installed models (GET /api/tags). */
#include <string.h>

#include "core/embeddings.h"
#include "core/error.h"
#include "core/models.h"
#include "providers/extra.h"

static const char *who_of(const lx_provider_config *cfg) { return cfg && cfg->name ? cfg->name : "ollama"; }

/* Ollama's errors are {"error": "text"}; a 200 body should never hold one, but say it plainly. */
static llmux_status body_error(const json_t *j, const char *who, llmux_error_info *err) {
    const char *msg = lx_json_str(j, "error");
    return lx_provider_error(err, LLMUX_E_UPSTREAM_SERVER, who, 0, NULL, msg, -1);
}

llmux_status lx_ollama_encode_embed(const lx_provider_config *cfg, const llmux_embed_request *req, lx_wire_request *out,
                                    llmux_error_info *err) {
    if (!cfg || !out) return lx_error(err, LLMUX_E_INTERNAL, "ollama: encode_embed called with NULL");
    const char *who = who_of(cfg);
    llmux_status st = lx_embed_check_request(req, who, err);
    if (st != LLMUX_OK) return st;
    const char *model = cfg->model && *cfg->model ? cfg->model : req->model;
    if (!model || !*model) return lx_error(err, LLMUX_E_INVALID_REQUEST, "model: missing");
    if (!lx_wire_set(out, "POST", "/api/embed")) return lx_error(err, LLMUX_E_INTERNAL, "%s: path too long", who);
    out->stream = false;
    if (!lx_wire_add_header(out, "Content-Type", "application/json", false) ||
        !lx_wire_add_header(out, "Accept", "application/json", false) || !lx_extra_bearer(out, cfg))
        return lx_error(err, LLMUX_E_CONFIGURATION, "%s: a header value is too long or contains a line break", who);
    json_t *inputs = NULL;
    st = lx_embed_inputs_json(req, who, &inputs, err);
    if (st != LLMUX_OK) return st;
    json_t *body = json_object();
    if (body && json_object_set_new(body, "model", json_string(model)) != 0) {
        json_decref(body);
        body = NULL;
    }
    if (!body || json_object_set_new(body, "input", inputs) != 0 ||
        (req->dimensions > 0 && json_object_set_new(body, "dimensions", json_integer(req->dimensions)) != 0)) {
        if (!body) json_decref(inputs); /* json_object_set_new steals it otherwise, also on failure */
        json_decref(body);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", who);
    }
    /* Pass-through last ("truncate", "keep_alive", "options"...). */
    st = lx_merge_provider_options(body, req->provider_options, "ollama", err);
    if (st == LLMUX_OK && strcmp(who, "ollama") != 0) st = lx_merge_provider_options(body, req->provider_options, who, err);
    if (st == LLMUX_OK && !lx_json_dump_buf(body, &out->body))
        st = lx_error(err, LLMUX_E_INVALID_REQUEST, "%s: request body exceeds %zu bytes", who, out->body.max);
    json_decref(body);
    return st;
}

llmux_status lx_ollama_decode_embed(const lx_provider_config *cfg, const char *body, size_t len, llmux_embeddings **out,
                                    llmux_error_info *err) {
    *out = NULL;
    const char *who = who_of(cfg);
    json_t *j = lx_extra_parse_object(body, len, who, "embeddings", err);
    if (!j) return LLMUX_E_UPSTREAM_PROTOCOL;
    llmux_status st;
    json_t *embs = lx_json_arr(j, "embeddings");
    if (!embs) {
        st = lx_json_str(j, "error") ? body_error(j, who, err)
                                     : lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL,
                                                "%s: embeddings response: embeddings: missing or not an array", who);
        json_decref(j);
        return st;
    }
    size_t n = json_array_size(embs);
    if (n > LX_EMBED_MAX_VECTORS) {
        json_decref(j);
        return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: %zu embeddings, more than the cap of %u", who, n,
                        LX_EMBED_MAX_VECTORS);
    }
    const json_t *rows[LX_EMBED_MAX_VECTORS];
    for (size_t i = 0; i < n; i++) rows[i] = json_array_get(embs, i);
    st = lx_embeddings_from_json_rows(rows, n, who, "embeddings[%zu]", out, err);
    if (st == LLMUX_OK) {
        (*out)->usage.input_tokens = lx_extra_count(j, "prompt_eval_count");
        const char *model = lx_json_str(j, "model");
        if (!lx_embeddings_set_meta(*out, model ? model : cfg->model, who)) {
            llmux_embeddings_free(*out);
            *out = NULL;
            st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", who);
        }
    }
    json_decref(j);
    return st;
}

llmux_status lx_ollama_encode_models(const lx_provider_config *cfg, lx_wire_request *out, llmux_error_info *err) {
    if (!cfg || !out) return lx_error(err, LLMUX_E_INTERNAL, "ollama: encode_models called with NULL");
    const char *who = who_of(cfg);
    if (!lx_wire_set(out, "GET", "/api/tags")) return lx_error(err, LLMUX_E_INTERNAL, "%s: path too long", who);
    out->stream = false;
    lx_buf_reset(&out->body);
    if (!lx_wire_add_header(out, "Accept", "application/json", false) || !lx_extra_bearer(out, cfg))
        return lx_error(err, LLMUX_E_CONFIGURATION, "%s: a header value is too long or contains a line break", who);
    return LLMUX_OK;
}

llmux_status lx_ollama_decode_models(const lx_provider_config *cfg, const char *body, size_t len,
                                     llmux_model_list **out, llmux_error_info *err) {
    *out = NULL;
    const char *who = who_of(cfg);
    json_t *j = lx_extra_parse_object(body, len, who, "model list", err);
    if (!j) return LLMUX_E_UPSTREAM_PROTOCOL;
    llmux_status st = LLMUX_OK;
    llmux_model_list *l = NULL;
    json_t *models = lx_json_arr(j, "models");
    if (!models) {
        st = lx_json_str(j, "error") ? body_error(j, who, err)
                                     : lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL,
                                                "%s: model list: models: missing or not an array", who);
        goto done;
    }
    l = lx_model_list_new();
    if (!l) {
        st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", who);
        goto done;
    }
    size_t i;
    json_t *item;
    json_array_foreach(models, i, item) {
        /* "name" is what /api/chat accepts; older servers had only it, newer ones repeat it as "model". */
        const char *name = lx_json_str(item, "name");
        if (!name || !*name) name = lx_json_str(item, "model");
        if (!name || !*name) {
            st = lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: model list: models[%zu].name: missing or not a string",
                          who, i);
            goto done;
        }
        st = lx_model_list_push(l, who, name, who, NULL, err);
        if (st != LLMUX_OK) goto done;
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
