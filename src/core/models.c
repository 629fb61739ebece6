#include "models.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "error.h"

/* `pub` comes first so a llmux_model_list pointer is also a pointer to its box. */
typedef struct models_box {
    llmux_model_list pub;
    lx_arena arena;
    llmux_model_info *items;
    size_t cap;
    size_t max; /* entries allowed: LX_MODELS_MAX unless made with lx_model_list_new_max */
} models_box;

static models_box *box_of(llmux_model_list *l) { return (models_box *)(void *)l; }

llmux_model_list *lx_model_list_new_max(size_t max) {
    models_box *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    lx_arena_init(&b->arena);
    b->max = max;
    return &b->pub;
}

llmux_model_list *lx_model_list_new(void) { return lx_model_list_new_max(LX_MODELS_MAX); }

void llmux_model_list_free(llmux_model_list *list) {
    if (!list) return;
    models_box *b = box_of(list);
    lx_arena_release(&b->arena);
    free(b);
}

char *lx_model_list_strdup(llmux_model_list *l, const char *s) { return s ? lx_arena_strdup(&box_of(l)->arena, s) : NULL; }

llmux_status lx_model_list_push(llmux_model_list *l, const char *prefix, const char *name, const char *provider,
                                llmux_model_info **out, llmux_error_info *err) {
    models_box *b = box_of(l);
    if (out) *out = NULL;
    if (l->n >= b->max)
        return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: more than %zu models in the list",
                        provider ? provider : "models", b->max);
    /* The array doubles inside the arena; the old copies stay until the list is freed, which
     * costs at most as much again as the final array. */
    if (l->n == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 16;
        llmux_model_info *items = lx_arena_alloc(&b->arena, ncap * sizeof *items);
        if (!items) goto oom;
        if (l->n) memcpy(items, b->items, l->n * sizeof *items);
        b->items = items;
        b->cap = ncap;
        l->models = items;
    }
    size_t pl = prefix ? strlen(prefix) : 0, nl = name ? strlen(name) : 0;
    char *id = lx_arena_alloc(&b->arena, pl + 1 + nl + 1);
    if (!id) goto oom;
    if (pl) {
        memcpy(id, prefix, pl);
        id[pl++] = '/';
    }
    if (nl) memcpy(id + pl, name, nl);
    id[pl + nl] = '\0';
    const char *prov = provider ? lx_arena_strdup(&b->arena, provider) : NULL;
    if (provider && !prov) goto oom;
    llmux_model_info *m = &b->items[l->n++];
    memset(m, 0, sizeof *m);
    m->id = id;
    m->provider = prov;
    m->context_length = -1;
    m->max_output_tokens = -1;
    m->input_price = m->output_price = m->cache_read_price = m->cache_write_price = NAN;
    if (out) *out = m;
    return LLMUX_OK;
oom:
    return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", provider ? provider : "models");
}

llmux_status lx_model_list_push_copy(llmux_model_list *l, const llmux_model_info *src, llmux_error_info *err) {
    llmux_model_info *m;
    llmux_status st = lx_model_list_push(l, NULL, src->id, src->provider, &m, err);
    if (st != LLMUX_OK) return st;
    /* Everything by value, then the strings re-homed in l's arena: src's owner may free it next. */
    const char *id = m->id, *provider = m->provider;
    *m = *src;
    m->id = id;
    m->provider = provider;
    m->name = lx_model_list_strdup(l, src->name);
    if (src->name && !m->name)
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", src->provider ? src->provider : "models");
    return LLMUX_OK;
}

llmux_status lx_model_list_append(llmux_model_list *dst, const llmux_model_list *src, llmux_error_info *err) {
    if (!src || src->n == 0) return LLMUX_OK;
    const char *who = src->models[0].provider ? src->models[0].provider : "models";
    size_t max = box_of(dst)->max;
    if (src->n > max - dst->n)
        return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: more than %zu models in the list", who, max);
    for (size_t i = 0; i < src->n; i++) {
        llmux_status st = lx_model_list_push_copy(dst, &src->models[i], err);
        if (st != LLMUX_OK) return st;
    }
    return LLMUX_OK;
}
