/* Feeds arbitrary bytes to every adapter's decode_embed and decode_models (OpenAI as "openai"
 * and as "openrouter", whose price parsing differs); every decoder sees every input. Checked: a
 * result satisfies its invariants (n, dim within the caps, finite floats, ids "<provider>/...",
 * counts >= -1, prices NaN or finite and >= 0); a failure leaves *out NULL and err filled. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/embeddings.h"
#include "core/models.h"
#include "providers/provider.h"

static void check_embed(const lx_provider *p, const char *name, const char *data, size_t size) {
    lx_provider_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = name;
    cfg.model = "m";
    llmux_embeddings *e = (llmux_embeddings *)(uintptr_t)1;
    llmux_error_info err;
    memset(&err, 0, sizeof err);
    llmux_status st = p->decode_embed(&cfg, data, size, &e, &err);
    if (st != LLMUX_OK) {
        if (e != NULL || err.status != st) abort();
        return;
    }
    if (!e || e->n == 0 || e->n > LX_EMBED_MAX_VECTORS || e->dim == 0 || e->dim > LX_EMBED_MAX_DIM ||
        e->n * e->dim > LX_EMBED_MAX_FLOATS || !e->provider || strcmp(e->provider, name) != 0)
        abort();
    for (size_t i = 0; i < e->n * e->dim; i++)
        if (!isfinite(e->data[i])) abort();
    if (e->usage.input_tokens < -1 || e->usage.total_tokens < -1) abort();
    llmux_embeddings_free(e);
}

static bool price_ok(double v) { return isnan(v) || (isfinite(v) && v >= 0); }

static void check_models(const lx_provider *p, const char *name, const char *data, size_t size) {
    lx_provider_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = name;
    llmux_model_list *l = (llmux_model_list *)(uintptr_t)1;
    llmux_error_info err;
    memset(&err, 0, sizeof err);
    llmux_status st = p->decode_models(&cfg, data, size, &l, &err);
    if (st != LLMUX_OK) {
        if (l != NULL || err.status != st) abort();
        return;
    }
    if (!l || l->n > LX_MODELS_MAX || (l->n && !l->models)) abort();
    size_t pl = strlen(name);
    for (size_t i = 0; i < l->n; i++) {
        const llmux_model_info *m = &l->models[i];
        if (!m->id || strncmp(m->id, name, pl) != 0 || m->id[pl] != '/' || !m->id[pl + 1]) abort();
        if (!m->provider || strcmp(m->provider, name) != 0) abort();
        if (m->context_length < -1 || m->max_output_tokens < -1) abort();
        if (!price_ok(m->input_price) || !price_ok(m->output_price) || !price_ok(m->cache_read_price) ||
            !price_ok(m->cache_write_price))
            abort();
    }
    llmux_model_list_free(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *d = (const char *)data;
    check_embed(&lx_provider_openai, "openai", d, size);
    check_embed(&lx_provider_gemini, "gemini", d, size);
    check_embed(&lx_provider_ollama, "ollama", d, size);
    check_models(&lx_provider_openai, "openai", d, size);
    check_models(&lx_provider_openai, "openrouter", d, size);
    check_models(&lx_provider_anthropic, "anthropic", d, size);
    check_models(&lx_provider_gemini, "gemini", d, size);
    check_models(&lx_provider_ollama, "ollama", d, size);
    return 0;
}
