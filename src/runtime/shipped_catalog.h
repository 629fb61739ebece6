/* The model catalog shipped with llmux (data/catalog.json), compiled into the library by the
 * build (cmake/shipped_catalog.c.in). Not NUL-terminated: use the size. */
#ifndef LX_RUNTIME_SHIPPED_CATALOG_H
#define LX_RUNTIME_SHIPPED_CATALOG_H

#include <stddef.h>

extern const char *const lx_shipped_catalog;
extern const size_t lx_shipped_catalog_size;

#endif
