/* The model catalog: what llmux knows about each "provider/model" id (display name, context and
 * output limits, prices per million tokens), merged from two sources:
 *
 *  - configured entries (llmux_catalog_add: the caller's or the config file's own table), and
 *  - discovered entries (provider model lists: OpenRouter prices, Gemini token limits, ...).
 *
 * Static first: a field a configured entry set is never replaced by discovery, so a negotiated
 * price or a corrected limit survives a refresh; discovery fills and refreshes everything else.
 * A later configured value replaces an earlier configured one; an unknown value (-1 / NaN) never
 * replaces a known one.
 *
 * Pure logic, no I/O, not thread-safe: the runtime guards a catalog with its own lock. */
#ifndef LX_CATALOG_H
#define LX_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

#include "llmux.h"

#define LX_CATALOG_MAX_ENTRIES 20000u /* = LX_MODELS_MAX: every catalog can be exported */
#define LX_CATALOG_MAX_ID 512u    /* bytes in an id */
#define LX_CATALOG_MAX_NAME 512u  /* bytes kept of a display name (cut on a UTF-8 boundary) */

typedef enum lx_catalog_source {
    LX_CATALOG_CONFIGURED = 0,
    LX_CATALOG_DISCOVERED = 1
} lx_catalog_source;

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

#endif
