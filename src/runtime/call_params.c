/* llmux_call_params: defaults, and the deadline a call runs under. */
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "runtime/call_params.h"
#include "runtime/runtime_internal.h"

llmux_call_params llmux_call_default_params(void) {
    llmux_call_params p;
    memset(&p, 0, sizeof p);
    return p;
}

llmux_status lx_call_begin(const llmux_runtime *rt, const llmux_call_params *params, const char *fn,
                           const llmux_cancel **cancel, int64_t *deadline_ns, llmux_error_info *err) {
    llmux_call_params p = params ? *params : llmux_call_default_params();
    *cancel = p.cancel;
    *deadline_ns = 0;
    if (p.deadline_ms < 0)
        return lx_error(err, LLMUX_E_INVALID_REQUEST,
                        "%s: params.deadline_ms: must be >= 0 (0 = the runtime's default)", fn);
    /* As llmux_run: without a deadline of its own, a call gets the runtime's whole-call budget. */
    int64_t ms = p.deadline_ms > 0 ? p.deadline_ms : lx_runtime_total_timeout_ms(rt);
    *deadline_ns = lx_deadline_after(lx_now_ns(), ms);
    return LLMUX_OK;
}
