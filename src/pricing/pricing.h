/* Cost math: token usage x catalog prices (US dollars per million tokens) -> llmux_cost.
 *
 * Usage follows llmux_usage's convention (input_tokens includes cached and cache-write tokens;
 * output_tokens includes reasoning tokens), so one formula serves every provider:
 *   input       = (input - cached - cache_write) x input_price
 *   cache_read  = cached x cache_read_price
 *   cache_write = cache_write x cache_write_price
 *   output      = output x output_price
 *   tools       = web_search_requests x LX_PRICE_WEB_SEARCH_USD
 * Pure logic; thread-safe. */
#ifndef LX_PRICING_H
#define LX_PRICING_H

#include "llmux.h"

/* One web search of a provider's server tool: Anthropic bills $10 per 1,000 searches whatever the
 * model (usage.server_tool_use.web_search_requests), OpenAI $10 per 1,000 web_search calls (the
 * Responses adapter counts the web_search_call items that searched). */
#define LX_PRICE_WEB_SEARCH_USD 0.01

typedef enum lx_price_status {
    LX_PRICE_OK = 0,
    LX_PRICE_NO_PRICE = 1,  /* the model has no input or no output price */
    LX_PRICE_NO_USAGE = 2   /* the provider reported no input or no output token count */
} lx_price_status;

/* Flags in *approx: a cache price was missing and the input price stood in for it (the cost may
 * be off for cached prompts; the caller warns). */
enum { LX_PRICE_APPROX_CACHE_READ = 1u << 0, LX_PRICE_APPROX_CACHE_WRITE = 1u << 1 };

/* Computes the cost of u at m's prices into *out (known = true) and sets *approx (may be NULL).
 * On anything but LX_PRICE_OK, *out is unknown (known = false, zeros). Token counts that
 * contradict each other (more cached than input tokens) count as 0 uncached input tokens. */
lx_price_status lx_pricing_cost(const llmux_model_info *m, const llmux_usage *u, llmux_cost *out, unsigned *approx);

#endif
