/* Gemini embeddings (POST /models/{model}:batchEmbedContents, one request per input) and
 * model list (GET /models). */
#include <stdio.h>
#include <string.h>

#include "core/embeddings.h"
#include "core/error.h"
#include "core/models.h"
#include "providers/embed_models.h"
#include "providers/gemini_internal.h"
#include "providers/json_util.h"
#include "providers/wire.h"

static const char *who_of(const lx_provider_config *cfg) { return cfg && cfg->name ? cfg->name : "gemini"; }

/* A google.rpc.Status in a 2xx body. */
static llmux_status body_error(const json_t *body, const char *who, llmux_error_info *err) {
    json_t *e = lx_json_obj(body, "error");
    return e ? lx_gemini_error(e, 0, -1, who, err) : LLMUX_OK;
}

static bool key_header(lx_wire_request *out, const lx_provider_config *cfg) {
    return !cfg->api_key || !*cfg->api_key || lx_wire_add_header(out, "x-goog-api-key", cfg->api_key, true);
}

/* One EmbedContentRequest: {"model","content":{"parts":[{"text"}]},"outputDimensionality"?}
 * plus the caller's provider_options.gemini fields (taskType, title...). */
static json_t *one_request(const char *model_ref, const llmux_embed_request *req, json_t *inputs, size_t i,
                           json_t *opts) {
    json_t *r = json_pack("{s:s, s:{s:[{s:O}]}}", "model", model_ref, "content", "parts", "text",
                          json_array_get(inputs, i));
    if (!r) return NULL;
    if ((req->dimensions > 0 && json_object_set_new(r, "outputDimensionality", json_integer(req->dimensions)) != 0) ||
        (opts && json_object_update(r, opts) != 0)) {
        json_decref(r);
        return NULL;
    }
    return r;
}

llmux_status lx_gemini_encode_embed(const lx_provider_config *cfg, const llmux_embed_request *req, lx_wire_request *out,
                                    llmux_error_info *err) {
    if (!cfg || !out) return lx_error(err, LLMUX_E_INTERNAL, "gemini: encode_embed called with NULL");
    const char *who = who_of(cfg);
    llmux_status st = lx_embed_check_request(req, who, err);
    if (st != LLMUX_OK) return st;
    const char *model;
    if (!lx_gemini_model_id(cfg->model, &model))
        return lx_error(err, LLMUX_E_CONFIGURATION, "%s: model \"%.64s\" is missing or not a plain model id", who,
                        model ? model : "");
    char path[256], model_ref[160];
    if (snprintf(path, sizeof path, "/models/%s:batchEmbedContents", model) >= (int)sizeof path ||
        snprintf(model_ref, sizeof model_ref, "models/%s", model) >= (int)sizeof model_ref)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "%s: model name too long", who);
    if (!lx_wire_set(out, "POST", path)) return lx_error(err, LLMUX_E_INTERNAL, "%s: path too long", who);
    out->stream = false;
    if (!lx_wire_add_header(out, "content-type", "application/json", false) || !key_header(out, cfg))
        return lx_error(err, LLMUX_E_CONFIGURATION, "%s: a header value is too long or holds a line break", who);

    json_t *inputs = NULL, *opts = NULL, *body = NULL, *requests = NULL;
    st = lx_embed_inputs_json(req, who, &inputs, err);
    if (st == LLMUX_OK) st = lx_provider_options_get(req->provider_options, "gemini", &opts, err);
    if (st != LLMUX_OK) goto done;
    if (opts && !json_is_object(opts)) {
        st = lx_error(err, LLMUX_E_INVALID_REQUEST, "provider_options.gemini: must be a JSON object");
        goto done;
    }
    body = json_object();
    requests = json_array();
    if (!body || !requests) goto oom;
    for (size_t i = 0; i < req->n_inputs; i++)
        if (json_array_append_new(requests, one_request(model_ref, req, inputs, i, opts)) != 0) goto oom;
    if (json_object_set(body, "requests", requests) != 0) goto oom;
    if (!lx_json_dump_buf(body, &out->body))
        st = lx_error(err, LLMUX_E_INVALID_REQUEST, "%s: request body exceeds %zu bytes", who, out->body.max);
    goto done;
oom:
    st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", who);
done:
    json_decref(inputs);
    json_decref(opts);
    json_decref(requests);
    json_decref(body);
    return st;
}

llmux_status lx_gemini_decode_embed(const lx_provider_config *cfg, const char *body, size_t len, llmux_embeddings **out,
                                    llmux_error_info *err) {
    *out = NULL;
    const char *who = who_of(cfg);
    json_t *j = lx_body_object(body, len, who, "embeddings", err);
    if (!j) return LLMUX_E_UPSTREAM_PROTOCOL;
    llmux_status st;
    json_t *embs = lx_body_array(j, "embeddings", "embeddings response", who, body_error, &st, err);
    if (st == LLMUX_OK) st = lx_embed_rows(embs, "values", who, "embeddings[%zu].values", out, err);
    if (st == LLMUX_OK) st = lx_embed_set_meta(out, cfg->model, who, err);
    json_decref(j);
    return st;
}

llmux_status lx_gemini_encode_models(const lx_provider_config *cfg, const char *cursor, lx_wire_request *out,
                                     llmux_error_info *err) {
    if (!cfg || !out) return lx_error(err, LLMUX_E_INTERNAL, "gemini: encode_models called with NULL");
    const char *who = who_of(cfg);
    /* pageSize=1000 is the API's maximum (the default is 50); the next page is asked by token. */
    llmux_status st = lx_models_page_path(out, "/models?pageSize=1000", "pageToken", cursor, who, err);
    if (st != LLMUX_OK) return st;
    out->stream = false;
    lx_buf_reset(&out->body);
    if (!lx_wire_add_header(out, "accept", "application/json", false) || !key_header(out, cfg))
        return lx_error(err, LLMUX_E_CONFIGURATION, "%s: a header value is too long or holds a line break", who);
    return LLMUX_OK;
}

static void fill(llmux_model_info *m, const json_t *item, const lx_provider_config *cfg) {
    (void)cfg;
    m->context_length = lx_json_count(item, "inputTokenLimit");
    m->max_output_tokens = lx_json_count(item, "outputTokenLimit");
}

/* Names are "models/<id>"; an account with no models gets {} (proto3 leaves an empty repeated
 * field out). */
static const lx_model_list_layout k_models = {.array = "models",
                                              .may_be_absent = true,
                                              .id_key = "name",
                                              .strip_prefix = "models/",
                                              .name_key = "displayName",
                                              .body_error = body_error,
                                              .fill = fill,
                                              .cursor_key = "nextPageToken"};

llmux_status lx_gemini_decode_models(const lx_provider_config *cfg, const char *body, size_t len, char *next,
                                     size_t next_size, llmux_model_list **out, llmux_error_info *err) {
    return lx_models_decode_page(&k_models, cfg, who_of(cfg), body, len, next, next_size, out, err);
}
