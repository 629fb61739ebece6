/* The catalog as JSON (catalog.h: lx_catalog_export_json): what `llmux models --catalog --json`
 * prints, with the provenance and capabilities llmux_model_info has no room for. */
#include <math.h>
#include <stdlib.h>

#include <jansson.h>

#include "catalog/catalog.h"
#include "core/error.h"

static const char *origin_name(lx_price_origin o) {
    switch (o) {
    case LX_PRICE_ORIGIN_CONFIGURED: return "configured";
    case LX_PRICE_ORIGIN_STATIC: return "static";
    case LX_PRICE_ORIGIN_DISCOVERED: return "discovered";
    case LX_PRICE_ORIGIN_NONE: break;
    }
    return NULL;
}

/* json_null() for absent values, so every key is always present and readers need no defaults. */
static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }
static json_t *len_or_null(int64_t v) { return v >= 0 ? json_integer(v) : json_null(); }
static json_t *price_or_null(double v) { return isnan(v) ? json_null() : json_real(v); }
static json_t *cap(signed char v) { return v < 0 ? json_null() : json_boolean(v); }

static json_t *entry_json(const lx_catalog *c, const llmux_model_info *m) {
    const lx_catalog_meta *meta = lx_catalog_meta_of(c, m->id);
    json_t *caps = json_null();
    if (meta)
        caps = json_pack("{s:o,s:o,s:o,s:o}", "tools", cap(meta->tools), "vision", cap(meta->vision), "reasoning",
                         cap(meta->reasoning), "json_schema", cap(meta->json_schema));
    bool static_price = lx_catalog_price_origin(c, m->id) == LX_PRICE_ORIGIN_STATIC;
    /* The date and page describe the shipped price: shown only while that price is the one in use. */
    return json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "id", m->id, "name",
                     str_or_null(m->name), "provider", str_or_null(m->provider), "context_length",
                     len_or_null(m->context_length), "max_output_tokens", len_or_null(m->max_output_tokens),
                     "input_price", price_or_null(m->input_price), "cache_read_price",
                     price_or_null(m->cache_read_price), "cache_write_price", price_or_null(m->cache_write_price),
                     "output_price", price_or_null(m->output_price), "price_source",
                     str_or_null(origin_name(lx_catalog_price_origin(c, m->id))), "price_date",
                     str_or_null(static_price && meta ? meta->price_date : NULL), "price_url",
                     str_or_null(static_price && meta ? meta->price_url : NULL), "limits_url",
                     str_or_null(meta ? meta->limits_url : NULL), "capabilities", caps, "note",
                     str_or_null(meta ? meta->note : NULL));
}

llmux_status lx_catalog_export_json(const lx_catalog *c, char **out, llmux_error_info *err) {
    if (!c || !out) return lx_error(err, LLMUX_E_INTERNAL, "lx_catalog_export_json: NULL argument");
    *out = NULL;
    llmux_model_list *l = NULL;
    llmux_status st = lx_catalog_export(c, &l, err);
    if (st != LLMUX_OK) return st;
    json_t *arr = json_array();
    bool ok = arr != NULL;
    for (size_t i = 0; ok && i < l->n; i++) ok = json_array_append_new(arr, entry_json(c, &l->models[i])) == 0;
    /* Precision 15 prints the prices as written (0.15, not 0.14999999999999999). */
    char *s = ok ? json_dumps(arr, JSON_INDENT(1) | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(arr);
    llmux_model_list_free(l);
    if (!s) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory exporting the model catalog as JSON");
    *out = s;
    return LLMUX_OK;
}
