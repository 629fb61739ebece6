/* Cost math (pricing.h). */
#include "pricing/pricing.h"

#include <math.h>
#include <string.h>

static double per_million(int64_t tokens, double price) { return (double)tokens * price / 1e6; }

lx_price_status lx_pricing_cost(const llmux_model_info *m, const llmux_usage *u, llmux_cost *out, unsigned *approx) {
    memset(out, 0, sizeof *out);
    if (approx) *approx = 0;
    if (!m || isnan(m->input_price) || isnan(m->output_price)) return LX_PRICE_NO_PRICE;
    if (!u || u->input_tokens < 0 || u->output_tokens < 0) return LX_PRICE_NO_USAGE;
    unsigned flags = 0;
    int64_t cached = u->cached_input_tokens > 0 ? u->cached_input_tokens : 0;
    int64_t written = u->cache_write_tokens > 0 ? u->cache_write_tokens : 0;
    int64_t uncached = u->input_tokens - cached - written;
    if (uncached < 0) uncached = 0;
    /* Hour-long writes (Anthropic's ttl "1h") cost twice the input price, not the cache-write
     * price (1.25x) the catalog carries for the 5-minute ones. */
    int64_t written_1h = u->cache_write_1h_tokens > 0 ? u->cache_write_1h_tokens : 0;
    if (written_1h > written) written_1h = written;
    written -= written_1h;
    double read_price = m->cache_read_price, write_price = m->cache_write_price;
    if (cached && isnan(read_price)) {
        read_price = m->input_price;
        flags |= LX_PRICE_APPROX_CACHE_READ;
    }
    if (written && isnan(write_price)) {
        write_price = m->input_price;
        flags |= LX_PRICE_APPROX_CACHE_WRITE;
    }
    out->input = per_million(uncached, m->input_price);
    out->cache_read = cached ? per_million(cached, read_price) : 0;
    out->cache_write = (written ? per_million(written, write_price) : 0) +
                       (written_1h ? per_million(written_1h, 2 * m->input_price) : 0);
    out->output = per_million(u->output_tokens, m->output_price);
    out->tools = u->web_search_requests > 0 ? (double)u->web_search_requests * LX_PRICE_WEB_SEARCH_USD : 0;
    out->total = out->input + out->cache_read + out->cache_write + out->output + out->tools;
    out->known = true;
    if (approx) *approx = flags;
    return LX_PRICE_OK;
}
