/* A request's reasoning settings (llmux_request.reasoning_effort / reasoning_budget) in the two
 * forms providers take: a token budget (Anthropic thinking.budget_tokens, Gemini
 * thinkingConfig.thinkingBudget) or an effort name (OpenAI reasoning_effort). One mapping for
 * every adapter, so an effort means the same budget everywhere: LiteLLM's (low 1024, medium 2048,
 * high 4096 tokens), which users coming from it expect. */
#ifndef LX_PROVIDERS_REASONING_H
#define LX_PROVIDERS_REASONING_H

#include <stdint.h>

#include "llmux.h"

#define LX_REASONING_BUDGET_LOW 1024
#define LX_REASONING_BUDGET_MEDIUM 2048
#define LX_REASONING_BUDGET_HIGH 4096

/* The budget asked for: reasoning_budget when set, else the effort's; 0 for NONE (reasoning
 * off); -1 when neither is set (say nothing: the provider's default). */
int64_t lx_reasoning_budget(const llmux_request *req);

/* The effort asked for, as OpenAI names it: the effort when set ("minimal" for NONE, the least
 * OpenAI's reasoning models take), else the budget's nearest (up to 1024 "low", up to 2048
 * "medium", above "high"); NULL when neither is set. */
const char *lx_reasoning_effort_text(const llmux_request *req);

#endif
