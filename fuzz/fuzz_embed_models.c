/* Feeds arbitrary bytes to every adapter's decode_embed, decode_models and decode_count_tokens (OpenAI as "openai"
 * and as "openrouter", whose price parsing differs); every decoder sees every input. Checked: a
 * result satisfies its invariants (n, dim within the caps, finite floats, ids "<provider>/...",
 * counts >= -1, prices NaN or finite and >= 0); a failure leaves *out NULL and err filled. A
 * model-list page's cursor is NUL-terminated inside its buffer, at most LX_MODELS_CURSOR_MAX
 * bytes, "" on failure and for the adapters without pages, and the adapter's encode_models
 * turns it into a path. An input that starts with a space gets a short cursor buffer, so the
 * size check is exercised too. */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

/* The cursor: NUL-terminated within next_size (the bytes after it are a canary), within the
 * cap, empty when the adapter has no pages; and it can be sent as the next request. */
static void check_cursor(const lx_provider *p, const lx_provider_config *cfg, const char *next, size_t next_size,
                         bool paged) {
    const char *nul = memchr(next, '\0', next_size);
    if (!nul) abort();
    size_t n = (size_t)(nul - next);
    if (n > LX_MODELS_CURSOR_MAX || (!paged && n)) abort();
    for (size_t i = next_size; i < LX_MODELS_CURSOR_MAX + 2; i++)
        if (next[i] != 'C') abort();
    if (!n) return;
    lx_wire_request w;
    memset(&w, 0, sizeof w);
    lx_buf_init(&w.body, 1024);
    llmux_error_info err;
    if (p->encode_models(cfg, next, &w, &err) != LLMUX_OK || !memchr(w.path, '\0', sizeof w.path)) abort();
    /* The last query value is the cursor: only unreserved characters and %XX escapes, and it
     * decodes back to exactly the cursor. */
    const char *q = strrchr(w.path, '=');
    if (!q) abort();
    char back[LX_MODELS_CURSOR_MAX + 1];
    size_t k = 0;
    for (q++; *q; q++) {
        if (k >= n) abort();
        if (*q == '%') {
            unsigned v;
            if (!q[1] || !q[2] || sscanf(q + 1, "%2X", &v) != 1 || !strchr("0123456789ABCDEF", q[1]) ||
                !strchr("0123456789ABCDEF", q[2]))
                abort();
            back[k++] = (char)v;
            q += 2;
        } else if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~", *q)) {
            back[k++] = *q;
        } else {
            abort();
        }
    }
    if (k != n || memcmp(back, next, n) != 0) abort();
    lx_buf_free(&w.body);
}

static void check_models(const lx_provider *p, const char *name, bool paged, const char *data, size_t size) {
    lx_provider_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = name;
    llmux_model_list *l = (llmux_model_list *)(uintptr_t)1;
    llmux_error_info err;
    memset(&err, 0, sizeof err);
    char next[LX_MODELS_CURSOR_MAX + 2];
    memset(next, 'C', sizeof next);
    /* A leading space (still valid JSON) asks for a short buffer: 1..64 bytes. */
    size_t next_size = size && data[0] == ' ' ? 1 + size % 64 : LX_MODELS_CURSOR_MAX + 1;
    llmux_status st = p->decode_models(&cfg, data, size, next, next_size, &l, &err);
    if (st != LLMUX_OK) {
        if (l != NULL || err.status != st || next[0] != '\0') abort();
        return;
    }
    check_cursor(p, &cfg, next, next_size, paged);
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

/* A token count: >= 0 on success, 0 with err filled on failure. */
static void check_count(const lx_provider *p, const char *data, size_t size) {
    lx_provider_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = p->protocol;
    cfg.model = "m";
    int64_t n = -7;
    llmux_error_info err;
    memset(&err, 0, sizeof err);
    llmux_status st = p->decode_count_tokens(&cfg, data, size, &n, &err);
    if (st == LLMUX_OK ? n < 0 : (n != 0 || err.status != st)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *d = (const char *)data;
    check_embed(&lx_provider_openai, "openai", d, size);
    check_embed(&lx_provider_gemini, "gemini", d, size);
    check_embed(&lx_provider_ollama, "ollama", d, size);
    check_models(&lx_provider_openai, "openai", false, d, size);
    check_models(&lx_provider_openai, "openrouter", false, d, size);
    check_models(&lx_provider_anthropic, "anthropic", true, d, size);
    check_models(&lx_provider_gemini, "gemini", true, d, size);
    check_models(&lx_provider_ollama, "ollama", false, d, size);
    check_count(&lx_provider_anthropic, d, size);
    check_count(&lx_provider_gemini, d, size);
    return 0;
}
