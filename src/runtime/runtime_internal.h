/* Read access to a runtime's set-once configuration for the runtime module's other files
 * (runtime_extra.c). The runtime's struct stays private to runtime.c. */
#ifndef LX_RUNTIME_INTERNAL_H
#define LX_RUNTIME_INTERNAL_H

#include <stddef.h>

#include "llmux.h"
#include "runtime/remote.h"

/* The provider overrides copied at creation (*n entries; borrowed, valid for the runtime's life). */
const llmux_provider_params *lx_runtime_providers(const llmux_runtime *rt, size_t *n);
/* The remote timeouts configured at creation. */
lx_remote_timeouts lx_runtime_timeouts(const llmux_runtime *rt);

#endif
