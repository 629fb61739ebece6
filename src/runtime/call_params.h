/* llmux_call_params (llmux.h) for the blocking calls besides llmux_run: their defaults and what
 * a call takes from them. */
#ifndef LX_CALL_PARAMS_H
#define LX_CALL_PARAMS_H

#include <stdint.h>

#include "llmux.h"

/* A call's cancel token and absolute deadline (monotonic ns, 0 = none; lx_deadline_after's
 * arithmetic, so a huge deadline_ms cannot overflow), from params (NULL = defaults) at the call's
 * start. Refuses a negative deadline_ms with LLMUX_E_INVALID_REQUEST naming fn. */
llmux_status lx_call_begin(const llmux_runtime *rt, const llmux_call_params *params, const char *fn,
                           const llmux_cancel **cancel, int64_t *deadline_ns, llmux_error_info *err);

#endif
