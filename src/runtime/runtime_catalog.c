/* The runtime's model catalog: the public catalog calls, the feed from provider model lists, and
 * pricing each response from it (catalog/ and pricing/ do the pure work; this file adds the lock
 * and the warnings). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/response.h"
#include "catalog/catalog_static.h"
#include "pricing/pricing.h"
#include "runtime/runtime_internal.h"
#include "runtime/shipped_catalog.h"

llmux_status lx_runtime_catalog_load_shipped(lx_catalog *c, llmux_error_info *err) {
    llmux_status st = lx_catalog_load_static(c, lx_shipped_catalog, lx_shipped_catalog_size, err);
    if (st == LLMUX_OK || st == LLMUX_E_OUT_OF_MEMORY) return st;
    lx_error_clear(err);
    return LLMUX_OK;
}

llmux_status llmux_catalog_add(llmux_runtime *rt, const llmux_model_info *models, size_t n, llmux_error_info *err) {
    llmux_error_info local_err;
    if (!err) err = &local_err;
    lx_error_clear(err);
    if (!rt || (n && !models))
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "llmux_catalog_add: rt and models are required");
    lx_catalog *c = lx_runtime_catalog_lock(rt);
    llmux_status st = lx_catalog_merge(c, models, n, LX_CATALOG_CONFIGURED, err);
    lx_runtime_catalog_unlock(rt);
    return st;
}

llmux_status llmux_catalog_list(llmux_runtime *rt, llmux_model_list **out, llmux_error_info *err) {
    llmux_error_info local_err;
    if (!err) err = &local_err;
    lx_error_clear(err);
    if (out) *out = NULL;
    if (!rt || !out) return lx_error(err, LLMUX_E_INVALID_REQUEST, "llmux_catalog_list: rt and out are required");
    lx_catalog *c = lx_runtime_catalog_lock(rt);
    llmux_status st = lx_catalog_export(c, out, err);
    lx_runtime_catalog_unlock(rt);
    return st;
}

llmux_status llmux_catalog_export_json(llmux_runtime *rt, char **out, llmux_error_info *err) {
    llmux_error_info local_err;
    if (!err) err = &local_err;
    lx_error_clear(err);
    if (out) *out = NULL;
    if (!rt || !out)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "llmux_catalog_export_json: rt and out are required");
    lx_catalog *c = lx_runtime_catalog_lock(rt);
    llmux_status st = lx_catalog_export_json(c, out, err);
    lx_runtime_catalog_unlock(rt);
    return st;
}

llmux_status lx_runtime_catalog_discovered(llmux_runtime *rt, const llmux_model_list *list, llmux_error_info *err) {
    lx_catalog *c = lx_runtime_catalog_lock(rt);
    llmux_status st = lx_catalog_merge(c, list->models, list->n, LX_CATALOG_DISCOVERED, err);
    lx_runtime_catalog_unlock(rt);
    return st;
}

/* Copies the prices of the first catalog entry found under `spec`, else under
 * "<provider>/<model>" (the model that answered, e.g. a dated snapshot of an alias), and which
 * layer its price came from (origin may be NULL). */
static bool find_prices(llmux_runtime *rt, const char *spec, const llmux_response *resp, llmux_model_info *out,
                        lx_price_origin *origin) {
    lx_catalog *c = lx_runtime_catalog_lock(rt);
    const llmux_model_info *m = lx_catalog_find(c, spec);
    /* The same models through the Responses API bill as OpenAI's. */
    if (!m && strncmp(spec, "openai-responses/", 17) == 0) {
        char same[1024];
        snprintf(same, sizeof same, "openai/%s", spec + 17);
        m = lx_catalog_find(c, same);
    }
    if ((!m || isnan(m->input_price) || isnan(m->output_price)) && resp->provider && resp->model) {
        char alt[1024]; /* only formatted when the spec itself has no price */
        snprintf(alt, sizeof alt, "%s/%s", resp->provider, resp->model);
        const llmux_model_info *m2 = strcmp(alt, spec) != 0 ? lx_catalog_find(c, alt) : NULL;
        if (m2) m = m2;
    }
    if (m) *out = *m;
    if (origin) *origin = m ? lx_catalog_price_origin(c, m->id) : LX_PRICE_ORIGIN_NONE;
    lx_runtime_catalog_unlock(rt);
    if (m) out->id = out->name = out->provider = NULL; /* borrowed strings are not kept past the lock */
    return m != NULL;
}

lx_price_origin lx_runtime_price_origin(llmux_runtime *rt, const char *spec, const llmux_response *resp) {
    llmux_model_info m;
    lx_price_origin origin = LX_PRICE_ORIGIN_NONE;
    find_prices(rt, spec, resp, &m, &origin);
    return origin;
}

bool lx_runtime_price_response(llmux_runtime *rt, const char *spec, llmux_response *resp) {
    llmux_model_info m;
    llmux_cost cost;
    unsigned approx = 0;
    lx_price_status ps = find_prices(rt, spec, resp, &m, NULL) ? lx_pricing_cost(&m, &resp->usage, &cost, &approx)
                                                         : LX_PRICE_NO_PRICE;
    if (ps == LX_PRICE_OK) {
        /* The provider's own figure is what it bills; the catalog only explains it. */
        if (resp->cost.known) cost.total = resp->cost.total;
        resp->cost = cost;
    }
    char msg[1200];
    if (ps == LX_PRICE_OK && approx) {
        snprintf(msg, sizeof msg, "%.400s has no %s price in the catalog: those tokens were priced as input tokens",
                 spec, approx == LX_PRICE_APPROX_CACHE_READ ? "cache-read"
                       : approx == LX_PRICE_APPROX_CACHE_WRITE ? "cache-write" : "cache-read or cache-write");
        if (!lx_response_add_warning(resp, "price_approximate", msg)) return false;
    }
    /* A provider-reported total stands alone; a failed request says nothing about prices. */
    if (ps == LX_PRICE_OK || resp->cost.known || resp->finish_reason == LLMUX_FINISH_ERROR ||
        resp->finish_reason == LLMUX_FINISH_CANCELLED)
        return true;
    if (ps == LX_PRICE_NO_PRICE)
        snprintf(msg, sizeof msg,
                 "no price for %.400s in the model catalog: cost unknown (add one with llmux_catalog_add, or list the "
                 "provider's models if it publishes prices)",
                 spec);
    else
        snprintf(msg, sizeof msg, "%.400s reported no token usage: cost unknown", spec);
    return lx_response_add_warning(resp, "price_unknown", msg);
}
