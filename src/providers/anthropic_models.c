/* Anthropic model list (GET /v1/models). Anthropic has no embeddings endpoint. */
#include <string.h>

#include "core/error.h"
#include "core/models.h"
#include "providers/anthropic_internal.h"
#include "providers/embed_models.h"
#include "providers/json_util.h"
#include "providers/wire.h"

/* The same API version the Messages adapter sends (anthropic.c). */
#define ANTHROPIC_VERSION "2023-06-01"

llmux_status lx_anthropic_encode_models(const lx_provider_config *cfg, const char *cursor, lx_wire_request *out,
                                        llmux_error_info *err) {
    if (!cfg || !out) return lx_error(err, LLMUX_E_INTERNAL, "anthropic: encode_models called with NULL");
    /* limit=1000 is the API's maximum page; the next page starts after the previous last_id. */
    llmux_status st = lx_models_page_path(out, "/models?limit=1000", "after_id", cursor,
                                          cfg->name ? cfg->name : "anthropic", err);
    if (st != LLMUX_OK) return st;
    out->stream = false;
    lx_buf_reset(&out->body);
    if (!lx_wire_add_header(out, "accept", "application/json", false) ||
        !lx_wire_add_header(out, "anthropic-version", ANTHROPIC_VERSION, false) ||
        (cfg->api_key && *cfg->api_key && !lx_wire_add_header(out, "x-api-key", cfg->api_key, true)))
        return lx_error(err, LLMUX_E_CONFIGURATION, "anthropic: a header value is too long or holds a line break");
    return LLMUX_OK;
}

static llmux_status body_error(const json_t *body, const char *who, llmux_error_info *err) {
    json_t *e = lx_json_obj(body, "error");
    return e ? lx_anthropic_error(e, 0, -1, who, err) : LLMUX_OK;
}

/* Newer API versions describe the limits; older answers simply lack them. */
static void fill(llmux_model_info *m, const json_t *item, const lx_provider_config *cfg) {
    (void)cfg;
    m->context_length = lx_json_count(item, "max_input_tokens");
    m->max_output_tokens = lx_json_count(item, "max_tokens");
}

/* A page is {data, has_more, first_id, last_id}; first_id/last_id are null on an empty page. */
static const lx_model_list_layout k_models = {.array = "data",
                                              .id_key = "id",
                                              .name_key = "display_name",
                                              .body_error = body_error,
                                              .fill = fill,
                                              .cursor_key = "last_id",
                                              .more_key = "has_more"};

llmux_status lx_anthropic_decode_models(const lx_provider_config *cfg, const char *body, size_t len, char *next,
                                        size_t next_size, llmux_model_list **out, llmux_error_info *err) {
    return lx_models_decode_page(&k_models, cfg, cfg && cfg->name ? cfg->name : "anthropic", body, len, next,
                                 next_size, out, err);
}
