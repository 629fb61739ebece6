/* Filling an lx_wire_request (provider.h): method and path, headers (checked against header
 * injection), the bearer credential. */
#ifndef LX_PROVIDERS_WIRE_H
#define LX_PROVIDERS_WIRE_H

#include <stdbool.h>

#include "providers/provider.h"

/* Sets method + path and clears headers. False when a field is too long. */
bool lx_wire_set(lx_wire_request *w, const char *method, const char *path);
/* Appends a header; false when the table is full or a field is too long. */
bool lx_wire_add_header(lx_wire_request *w, const char *name, const char *value, bool secret);
/* "Authorization: Bearer <key>" when cfg has a key (a secret header). False when it does not fit. */
bool lx_wire_add_bearer(lx_wire_request *w, const lx_provider_config *cfg);

#endif
