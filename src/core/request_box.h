/* A request that owns its memory the way a decoded request does, for modules that build one
 * (handoff): one llmux_request_free() releases it and everything it points to. */
#ifndef LX_REQUEST_BOX_H
#define LX_REQUEST_BOX_H

#include "arena.h"
#include "llmux.h"

/* A new request set to llmux_request_default(); *arena receives the arena that owns it: put
 * every string and array the request points to there. NULL when out of memory. The caller
 * releases it with llmux_request_free(). */
llmux_request *lx_request_box_new(lx_arena **arena);

#endif
