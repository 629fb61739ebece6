#include "embeddings.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "arena.h"
#include "error.h"

/* `pub` comes first so a llmux_embeddings pointer is also a pointer to its box. */
typedef struct embed_box {
    llmux_embeddings pub;
    lx_arena arena;
    float *data; /* (n, dim), row-major; pub.data points here */
} embed_box;

static embed_box *box_of(llmux_embeddings *e) { return (embed_box *)(void *)e; }

llmux_embed_request llmux_embed_request_default(void) {
    llmux_embed_request r = {0};
    return r;
}

void llmux_embeddings_free(llmux_embeddings *e) {
    if (!e) return;
    embed_box *b = box_of(e);
    lx_arena_release(&b->arena);
    free(b);
}

llmux_status lx_embeddings_new(size_t n, size_t dim, const char *provider, llmux_embeddings **out,
                               llmux_error_info *err) {
    *out = NULL;
    const char *who = provider ? provider : "embeddings";
    if (n == 0) return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: the response holds no embedding", who);
    if (dim == 0) return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: an embedding has no values", who);
    if (n > LX_EMBED_MAX_VECTORS)
        return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: %zu embeddings, more than the cap of %u", who, n,
                        LX_EMBED_MAX_VECTORS);
    if (dim > LX_EMBED_MAX_DIM)
        return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: embeddings of %zu dimensions, more than the cap of %u",
                        who, dim, LX_EMBED_MAX_DIM);
    /* n and dim are both capped far below 2^32, so the product cannot overflow. */
    if (n * dim > LX_EMBED_MAX_FLOATS)
        return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: %zu x %zu values, more than the cap of %u", who, n, dim,
                        LX_EMBED_MAX_FLOATS);
    embed_box *b = calloc(1, sizeof *b);
    if (!b) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", who);
    lx_arena_init(&b->arena);
    b->data = lx_arena_alloc(&b->arena, n * dim * sizeof(float));
    if (!b->data) {
        free(b);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory for %zu x %zu values", who, n, dim);
    }
    b->pub.n = n;
    b->pub.dim = dim;
    b->pub.data = b->data;
    b->pub.usage = llmux_usage_default();
    *out = &b->pub;
    return LLMUX_OK;
}

float *lx_embeddings_row(llmux_embeddings *e, size_t i) { return box_of(e)->data + i * e->dim; }

bool lx_embeddings_set_meta(llmux_embeddings *e, const char *model, const char *provider) {
    embed_box *b = box_of(e);
    const char *m = model ? lx_arena_strdup(&b->arena, model) : NULL;
    const char *p = provider ? lx_arena_strdup(&b->arena, provider) : NULL;
    if ((model && !m) || (provider && !p)) return false;
    e->model = m;
    e->provider = p;
    return true;
}

/* Names row i for a message: the adapter's field format with the index filled in. */
static void row_name(char *dst, size_t cap, const char *fmt, size_t i) {
    snprintf(dst, cap, fmt ? fmt : "embeddings[%zu]", i);
}

llmux_status lx_embeddings_from_json_rows(const json_t *const *rows, size_t n, const char *provider,
                                          const char *what_fmt, llmux_embeddings **out, llmux_error_info *err) {
    *out = NULL;
    const char *who = provider ? provider : "embeddings";
    char what[96];
    if (n == 0) return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: the response holds no embedding", who);
    for (size_t i = 0; i < n; i++) {
        if (!json_is_array(rows[i])) {
            row_name(what, sizeof what, what_fmt, i);
            return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: %s: missing or not an array of numbers", who, what);
        }
    }
    size_t dim = json_array_size(rows[0]);
    for (size_t i = 1; i < n; i++) {
        size_t d = json_array_size(rows[i]);
        if (d != dim) {
            row_name(what, sizeof what, what_fmt, i);
            return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: %s: %zu values, expected %zu like the first vector",
                            who, what, d, dim);
        }
    }
    llmux_embeddings *e = NULL;
    llmux_status st = lx_embeddings_new(n, dim, provider, &e, err);
    if (st != LLMUX_OK) return st;
    for (size_t i = 0; i < n; i++) {
        float *row = lx_embeddings_row(e, i);
        for (size_t j = 0; j < dim; j++) {
            const json_t *v = json_array_get(rows[i], j);
            double x = json_is_number(v) ? json_number_value(v) : NAN;
            if (!isfinite(x) || x > FLT_MAX || x < -FLT_MAX) {
                row_name(what, sizeof what, what_fmt, i);
                llmux_embeddings_free(e);
                return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: %s[%zu]: %s", who, what, j,
                                json_is_number(v) ? "outside the float range" : "not a number");
            }
            row[j] = (float)x;
        }
    }
    *out = e;
    return LLMUX_OK;
}
