/* The static layer of the model catalog: the data shipped with llmux (data/catalog.json, schema
 * in data/README.md), parsed from a string the build compiles into the library. Pure: the
 * runtime hands over the bytes, nothing here reads files. */
#ifndef LX_CATALOG_STATIC_H
#define LX_CATALOG_STATIC_H

#include <stddef.h>

#include "catalog/catalog.h"

#define LX_CATALOG_STATIC_MAX_BYTES (1u << 20) /* the shipped file is a few KiB; more is a mistake */
#define LX_CATALOG_STATIC_SCHEMA 1

/* Validates the whole document, then merges its models as LX_CATALOG_STATIC entries and attaches
 * their provenance (lx_catalog_meta). Nothing is merged when any part is invalid:
 * LLMUX_E_CONFIGURATION with a message naming the place ("models[3].price.date: ..."): not JSON
 * (line and column), over LX_CATALOG_STATIC_MAX_BYTES or LX_CATALOG_STATIC_MAX_ENTRIES models, an unknown schema or key, an id that is not
 * "provider/model" or repeats, a length that is not an integer >= 0, a price that is not a finite
 * number >= 0, a price without a YYYY-MM-DD date and an https:// source, limits without an
 * https:// limits_source, a capability that is not true, false or null.
 * LLMUX_E_OUT_OF_MEMORY. */
llmux_status lx_catalog_load_static(lx_catalog *c, const char *json, size_t len, llmux_error_info *err);

#endif
