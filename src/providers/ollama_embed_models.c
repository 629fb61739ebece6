/* Ollama embeddings (POST /api/embed) and installed models (GET /api/tags). */
#include <string.h>

#include "core/embeddings.h"
#include "core/error.h"
#include "core/models.h"
#include "providers/embed_models.h"
#include "providers/errors.h"
#include "providers/json_util.h"
#include "providers/wire.h"

static const char *who_of(const lx_provider_config *cfg) { return cfg && cfg->name ? cfg->name : "ollama"; }

/* Ollama's errors are {"error": "text"}; a 200 body should never hold one, but say it plainly. */
static llmux_status body_error(const json_t *j, const char *who, llmux_error_info *err) {
    const char *msg = lx_json_str(j, "error");
    return msg ? lx_provider_error(err, LLMUX_E_UPSTREAM_SERVER, who, 0, NULL, msg, -1) : LLMUX_OK;
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
        !lx_wire_add_header(out, "Accept", "application/json", false) || !lx_wire_add_bearer(out, cfg))
        return lx_error(err, LLMUX_E_CONFIGURATION, "%s: a header value is too long or contains a line break", who);
    /* Pass-through last ("truncate", "keep_alive", "options"...). */
    return lx_embed_openai_body(req, model, "ollama", who, NULL, NULL, out, err);
}

llmux_status lx_ollama_decode_embed(const lx_provider_config *cfg, const char *body, size_t len, llmux_embeddings **out,
                                    llmux_error_info *err) {
    *out = NULL;
    const char *who = who_of(cfg);
    json_t *j = lx_body_object(body, len, who, "embeddings", err);
    if (!j) return LLMUX_E_UPSTREAM_PROTOCOL;
    llmux_status st;
    json_t *embs = lx_body_array(j, "embeddings", "embeddings response", who, body_error, &st, err);
    if (st == LLMUX_OK) st = lx_embed_rows(embs, NULL, who, "embeddings[%zu]", out, err);
    if (st == LLMUX_OK) {
        (*out)->usage.input_tokens = lx_json_count(j, "prompt_eval_count");
        const char *model = lx_json_str(j, "model");
        st = lx_embed_set_meta(out, model ? model : cfg->model, who, err);
    }
    json_decref(j);
    return st;
}

llmux_status lx_ollama_encode_models(const lx_provider_config *cfg, const char *cursor, lx_wire_request *out,
                                     llmux_error_info *err) {
    if (!cfg || !out) return lx_error(err, LLMUX_E_INTERNAL, "ollama: encode_models called with NULL");
    const char *who = who_of(cfg);
    /* /api/tags answers everything at once; decode_models never hands out a cursor. */
    if (cursor && *cursor) return lx_error(err, LLMUX_E_INTERNAL, "%s: the model list has no pages", who);
    if (!lx_wire_set(out, "GET", "/api/tags")) return lx_error(err, LLMUX_E_INTERNAL, "%s: path too long", who);
    out->stream = false;
    lx_buf_reset(&out->body);
    if (!lx_wire_add_header(out, "Accept", "application/json", false) || !lx_wire_add_bearer(out, cfg))
        return lx_error(err, LLMUX_E_CONFIGURATION, "%s: a header value is too long or contains a line break", who);
    return LLMUX_OK;
}

/* "name" is what /api/chat accepts; older servers had only it, newer ones repeat it as "model". */
static const lx_model_list_layout k_models = {
    .array = "models", .id_key = "name", .alt_id_key = "model", .body_error = body_error};

llmux_status lx_ollama_decode_models(const lx_provider_config *cfg, const char *body, size_t len, char *next,
                                     size_t next_size, llmux_model_list **out, llmux_error_info *err) {
    return lx_models_decode_page(&k_models, cfg, who_of(cfg), body, len, next, next_size, out, err);
}
