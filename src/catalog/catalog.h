/* The model catalog: what llmux knows about each "provider/model" id (display name, context and
 * output limits, prices per million tokens), merged from three layers, strongest first:
 *
 *  - configured entries (llmux_catalog_add: the caller's or the config file's own table),
 *  - static entries (the data shipped with llmux, data/catalog.json: see catalog_static.h), and
 *  - discovered entries (provider model lists: OpenRouter prices, Gemini token limits, ...).
 *
 * Field by field: a configured value replaces anything and is never replaced by the layers below
 * it, so a negotiated price or a corrected limit survives; a static value replaces discovered
 * ones and is never replaced by discovery; discovery fills and refreshes only the fields neither
 * other layer set. Within a layer a later value replaces an earlier one; an unknown value
 * (-1 / NaN) never replaces a known one.
 *
 * Pure logic, no I/O, not thread-safe: the runtime guards a catalog with its own lock. */
#ifndef LX_CATALOG_H
#define LX_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

#include "llmux.h"

/* Room for a full provider list (LX_MODELS_MAX) next to the shipped entries, so shipping data
 * never makes a legal model list fail to merge. */
#define LX_CATALOG_STATIC_MAX_ENTRIES 1000u
#define LX_CATALOG_MAX_ENTRIES (20000u + LX_CATALOG_STATIC_MAX_ENTRIES)
#define LX_CATALOG_MAX_ID 512u    /* bytes in an id */
#define LX_CATALOG_MAX_NAME 512u  /* bytes kept of a display name (cut on a UTF-8 boundary) */

typedef enum lx_catalog_source {
    LX_CATALOG_CONFIGURED = 0,
    LX_CATALOG_DISCOVERED = 1,
    LX_CATALOG_STATIC = 2
} lx_catalog_source;

/* Which layer an entry's price came from: the one that set its input price. */
typedef enum lx_price_origin {
    LX_PRICE_ORIGIN_NONE = 0, /* no input price known */
    LX_PRICE_ORIGIN_CONFIGURED,
    LX_PRICE_ORIGIN_STATIC,
    LX_PRICE_ORIGIN_DISCOVERED
} lx_price_origin;

/* What the shipped data says about an entry beyond llmux_model_info: where and when its figures
 * were read, and its capabilities (1 yes, 0 no, -1 unknown). Strings NULL when absent. */
typedef struct lx_catalog_meta {
    const char *price_date; /* YYYY-MM-DD the static price was read */
    const char *price_url;  /* the public page it was read from */
    const char *limits_url; /* the page the context and output limits were read from */
    const char *note;       /* tiers, caveats */
    signed char tools, vision, reasoning, json_schema;
} lx_catalog_meta;

typedef struct lx_catalog lx_catalog;

/* An empty catalog; NULL when out of memory. */
lx_catalog *lx_catalog_create(void);
/* Accepts NULL. */
void lx_catalog_destroy(lx_catalog *c);

/* Merges n entries (see the rules above). Every entry is checked before any is applied, so a
 * refused batch changes nothing. Refused with LLMUX_E_INVALID_REQUEST (message naming the entry
 * "models[i].field"): an id missing, longer than LX_CATALOG_MAX_ID or without "provider/model"
 * form; a negative or non-finite price; a length below -1. LLMUX_E_CONFIGURATION past
 * LX_CATALOG_MAX_ENTRIES; LLMUX_E_OUT_OF_MEMORY. `provider` may be NULL: the id's prefix is used. */
llmux_status lx_catalog_merge(lx_catalog *c, const llmux_model_info *models, size_t n, lx_catalog_source source,
                              llmux_error_info *err);

/* The entry for an id (exact, case-sensitive), or NULL. Borrowed: valid until the next merge or
 * destroy. */
const llmux_model_info *lx_catalog_find(const lx_catalog *c, const char *id);

/* Number of entries. */
size_t lx_catalog_size(const lx_catalog *c);

/* A copy of every entry, sorted by id, owned by the caller (llmux_model_list_free). */
llmux_status lx_catalog_export(const lx_catalog *c, llmux_model_list **out, llmux_error_info *err);

/* Attaches a copy of `meta` to the entry `id` (replacing any earlier one). LLMUX_E_INTERNAL when
 * the id is not in the catalog; LLMUX_E_OUT_OF_MEMORY. */
llmux_status lx_catalog_set_meta(lx_catalog *c, const char *id, const lx_catalog_meta *meta, llmux_error_info *err);

/* The entry's metadata, or NULL (no entry, or none attached). Borrowed like lx_catalog_find. */
const lx_catalog_meta *lx_catalog_meta_of(const lx_catalog *c, const char *id);

/* Where the entry's price came from; LX_PRICE_ORIGIN_NONE for an unknown id. */
lx_price_origin lx_catalog_price_origin(const lx_catalog *c, const char *id);

/* The whole catalog as a JSON array sorted by id: llmux_model_info's fields plus price_source,
 * price_date, price_url, limits_url, capabilities and note (see llmux_catalog_export_json).
 * *out is a NUL-terminated string released with free(). */
llmux_status lx_catalog_export_json(const lx_catalog *c, char **out, llmux_error_info *err);

#endif
