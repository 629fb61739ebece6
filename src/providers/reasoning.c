/* Reasoning settings in each provider's form; see reasoning.h. */
#include "reasoning.h"

int64_t lx_reasoning_budget(const llmux_request *req) {
    if (req->reasoning_budget > 0) return req->reasoning_budget;
    switch (req->reasoning_effort) {
    case LLMUX_REASONING_NONE: return 0;
    case LLMUX_REASONING_LOW: return LX_REASONING_BUDGET_LOW;
    case LLMUX_REASONING_MEDIUM: return LX_REASONING_BUDGET_MEDIUM;
    case LLMUX_REASONING_HIGH: return LX_REASONING_BUDGET_HIGH;
    default: return -1;
    }
}

const char *lx_reasoning_effort_text(const llmux_request *req) {
    switch (req->reasoning_effort) {
    case LLMUX_REASONING_NONE: return "minimal";
    case LLMUX_REASONING_LOW: return "low";
    case LLMUX_REASONING_MEDIUM: return "medium";
    case LLMUX_REASONING_HIGH: return "high";
    default: break;
    }
    if (req->reasoning_budget <= 0) return NULL;
    return req->reasoning_budget <= LX_REASONING_BUDGET_LOW      ? "low"
           : req->reasoning_budget <= LX_REASONING_BUDGET_MEDIUM ? "medium"
                                                                 : "high";
}
