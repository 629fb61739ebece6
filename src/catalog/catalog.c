/* The model catalog (catalog.h): entries in an array, found through an open-addressing index of
 * id hashes, so a lookup per request costs one hash and a compare whatever the catalog's size
 * (OpenRouter alone lists several hundred models). */
#include "catalog/catalog.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/models.h"
#include "core/utf8.h"

_Static_assert(LX_CATALOG_MAX_ENTRIES >= LX_MODELS_MAX + LX_CATALOG_STATIC_MAX_ENTRIES,
               "a full provider list must fit next to the shipped entries");

/* Field bits: which fields a configured entry set (pinned) and which the static layer set
 * (fixed); discovery leaves both alone, the static layer leaves pinned ones alone. */
enum {
    F_NAME = 1u << 0,
    F_CONTEXT = 1u << 1,
    F_MAX_OUTPUT = 1u << 2,
    F_INPUT = 1u << 3,
    F_OUTPUT = 1u << 4,
    F_CACHE_READ = 1u << 5,
    F_CACHE_WRITE = 1u << 6
};

typedef struct entry {
    llmux_model_info info; /* id, name, provider owned (malloc) */
    uint32_t pinned;       /* F_* set by a configured entry */
    uint32_t fixed;        /* F_* set by the static layer */
    lx_catalog_meta *meta; /* owned, strings too; NULL when none */
} entry;

struct lx_catalog {
    entry *entries;
    size_t n, cap;
    uint32_t *index; /* 0 = empty slot, else entry position + 1 */
    size_t index_cap; /* power of two, at least twice n */
};

static uint64_t hash_id(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

lx_catalog *lx_catalog_create(void) { return calloc(1, sizeof(lx_catalog)); }

static void meta_free(lx_catalog_meta *m) {
    if (!m) return;
    free((char *)m->price_date);
    free((char *)m->price_url);
    free((char *)m->limits_url);
    free((char *)m->note);
    free(m);
}

static void entry_free(entry *e) {
    free((char *)e->info.id);
    free((char *)e->info.name);
    free((char *)e->info.provider);
    meta_free(e->meta);
}

void lx_catalog_destroy(lx_catalog *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) entry_free(&c->entries[i]);
    free(c->entries);
    free(c->index);
    free(c);
}

size_t lx_catalog_size(const lx_catalog *c) { return c ? c->n : 0; }

static size_t slot_of(const lx_catalog *c, const char *id) {
    size_t mask = c->index_cap - 1;
    size_t i = (size_t)hash_id(id) & mask;
    while (c->index[i] && strcmp(c->entries[c->index[i] - 1].info.id, id) != 0) i = (i + 1) & mask;
    return i;
}

const llmux_model_info *lx_catalog_find(const lx_catalog *c, const char *id) {
    if (!c || !id || !c->index_cap) return NULL;
    uint32_t v = c->index[slot_of(c, id)];
    return v ? &c->entries[v - 1].info : NULL;
}

/* Makes room for `more` new entries: the array and an index kept at most half full. */
static bool reserve(lx_catalog *c, size_t more) {
    size_t need = c->n + more;
    if (need > c->cap) {
        size_t cap = c->cap ? c->cap : 64;
        while (cap < need) cap *= 2;
        entry *e = realloc(c->entries, cap * sizeof *e);
        if (!e) return false;
        c->entries = e;
        c->cap = cap;
    }
    if (need * 2 > c->index_cap) {
        size_t icap = c->index_cap ? c->index_cap : 128;
        while (need * 2 > icap) icap *= 2;
        uint32_t *idx = calloc(icap, sizeof *idx);
        if (!idx) return false;
        free(c->index);
        c->index = idx;
        c->index_cap = icap;
        for (size_t i = 0; i < c->n; i++) c->index[slot_of(c, c->entries[i].info.id)] = (uint32_t)(i + 1);
    }
    return true;
}

static char *dup_cut(const char *s, size_t max) {
    if (!s) return NULL;
    size_t n = strlen(s);
    if (n > max) n = lx_utf8_complete_len(s, max);
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static bool price_ok(double p) { return isnan(p) || (isfinite(p) && p >= 0); }

static llmux_status check(const llmux_model_info *m, size_t i, llmux_error_info *err) {
    const char *id = m->id;
    const char *slash = id ? strchr(id, '/') : NULL;
    if (!id || !*id) return lx_error(err, LLMUX_E_INVALID_REQUEST, "models[%zu].id: missing", i);
    if (strlen(id) > LX_CATALOG_MAX_ID)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "models[%zu].id: longer than %u bytes", i, LX_CATALOG_MAX_ID);
    if (!slash || slash == id || !slash[1])
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "models[%zu].id: \"%.200s\" is not PROVIDER/MODEL", i, id);
    if (m->context_length < -1)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "models[%zu].context_length: must be >= 0 (-1 = unknown)", i);
    if (m->max_output_tokens < -1)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "models[%zu].max_output_tokens: must be >= 0 (-1 = unknown)", i);
    const double prices[] = {m->input_price, m->output_price, m->cache_read_price, m->cache_write_price};
    const char *names[] = {"input_price", "output_price", "cache_read_price", "cache_write_price"};
    for (size_t k = 0; k < 4; k++)
        if (!price_ok(prices[k]))
            return lx_error(err, LLMUX_E_INVALID_REQUEST, "models[%zu].%s: must be a finite number >= 0 (NaN = unknown)",
                            i, names[k]);
    return LLMUX_OK;
}

/* The provider name: the given one, else the id up to its first '/'. */
static char *provider_of(const llmux_model_info *m) {
    if (m->provider && *m->provider) return dup_cut(m->provider, LX_CATALOG_MAX_ID);
    size_t n = (size_t)(strchr(m->id, '/') - m->id);
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, m->id, n);
    p[n] = '\0';
    return p;
}

/* May the layer `source` write a field whose bit is `bit`? Configured always; static unless a
 * configured value is there; discovered only where neither other layer wrote. */
static bool may_set(const entry *e, uint32_t bit, lx_catalog_source source) {
    if (source == LX_CATALOG_CONFIGURED) return true;
    if (source == LX_CATALOG_STATIC) return !(e->pinned & bit);
    return !((e->pinned | e->fixed) & bit);
}

static void mark(entry *e, uint32_t bit, lx_catalog_source source) {
    if (source == LX_CATALOG_CONFIGURED) e->pinned |= bit;
    else if (source == LX_CATALOG_STATIC) e->fixed |= bit;
}

/* Sets one numeric field under the layer rules; an unknown value never replaces a known one. */
static void set_len(entry *e, int64_t *dst, int64_t v, uint32_t bit, lx_catalog_source source) {
    if (v < 0 || !may_set(e, bit, source)) return;
    *dst = v;
    mark(e, bit, source);
}

static void set_price(entry *e, double *dst, double v, uint32_t bit, lx_catalog_source source) {
    if (isnan(v) || !may_set(e, bit, source)) return;
    *dst = v;
    mark(e, bit, source);
}

static bool apply(lx_catalog *c, const llmux_model_info *m, lx_catalog_source source) {
    size_t slot = slot_of(c, m->id);
    entry *e;
    if (c->index[slot]) {
        e = &c->entries[c->index[slot] - 1];
    } else {
        e = &c->entries[c->n];
        memset(e, 0, sizeof *e);
        e->info.context_length = e->info.max_output_tokens = -1;
        e->info.input_price = e->info.output_price = e->info.cache_read_price = e->info.cache_write_price = NAN;
        if (!(e->info.id = dup_cut(m->id, LX_CATALOG_MAX_ID)) || !(e->info.provider = provider_of(m))) {
            entry_free(e);
            return false;
        }
        c->index[slot] = (uint32_t)(++c->n);
    }
    if (m->name && *m->name && may_set(e, F_NAME, source)) {
        char *name = dup_cut(m->name, LX_CATALOG_MAX_NAME);
        if (!name) return false;
        free((char *)e->info.name);
        e->info.name = name;
        mark(e, F_NAME, source);
    }
    set_len(e, &e->info.context_length, m->context_length, F_CONTEXT, source);
    set_len(e, &e->info.max_output_tokens, m->max_output_tokens, F_MAX_OUTPUT, source);
    set_price(e, &e->info.input_price, m->input_price, F_INPUT, source);
    set_price(e, &e->info.output_price, m->output_price, F_OUTPUT, source);
    set_price(e, &e->info.cache_read_price, m->cache_read_price, F_CACHE_READ, source);
    set_price(e, &e->info.cache_write_price, m->cache_write_price, F_CACHE_WRITE, source);
    return true;
}

llmux_status lx_catalog_merge(lx_catalog *c, const llmux_model_info *models, size_t n, lx_catalog_source source,
                              llmux_error_info *err) {
    if (!c || (n && !models)) return lx_error(err, LLMUX_E_INTERNAL, "lx_catalog_merge: NULL argument");
    if (source != LX_CATALOG_CONFIGURED && source != LX_CATALOG_STATIC && source != LX_CATALOG_DISCOVERED)
        return lx_error(err, LLMUX_E_INTERNAL, "lx_catalog_merge: unknown source %d", (int)source);
    for (size_t i = 0; i < n; i++) {
        llmux_status st = check(&models[i], i, err);
        if (st != LLMUX_OK) return st;
    }
    if (n > LX_CATALOG_MAX_ENTRIES || c->n > LX_CATALOG_MAX_ENTRIES - n) {
        /* Only new ids count; recount before refusing a refresh of known ones. */
        size_t fresh = 0;
        for (size_t i = 0; i < n; i++) fresh += lx_catalog_find(c, models[i].id) == NULL;
        if (c->n + fresh > LX_CATALOG_MAX_ENTRIES)
            return lx_error(err, LLMUX_E_CONFIGURATION, "model catalog: more than %u models", LX_CATALOG_MAX_ENTRIES);
    }
    /* Room for every entry as if all were new, so applying cannot fail half-way for lack of slots. */
    if (!reserve(c, n)) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory growing the model catalog");
    for (size_t i = 0; i < n; i++)
        if (!apply(c, &models[i], source))
            return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory adding %.200s to the model catalog",
                            models[i].id);
    return LLMUX_OK;
}

static int by_id(const void *a, const void *b) {
    const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
    return strcmp(x->info.id, y->info.id);
}

llmux_status lx_catalog_export(const lx_catalog *c, llmux_model_list **out, llmux_error_info *err) {
    if (!c || !out) return lx_error(err, LLMUX_E_INTERNAL, "lx_catalog_export: NULL argument");
    *out = NULL;
    const entry **order = malloc((c->n ? c->n : 1) * sizeof *order);
    llmux_model_list *l = order ? lx_model_list_new_max(LX_CATALOG_MAX_ENTRIES) : NULL;
    if (!l) {
        free(order);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory exporting the model catalog");
    }
    for (size_t i = 0; i < c->n; i++) order[i] = &c->entries[i];
    qsort(order, c->n, sizeof *order, by_id);
    llmux_status st = LLMUX_OK;
    for (size_t i = 0; st == LLMUX_OK && i < c->n; i++) st = lx_model_list_push_copy(l, &order[i]->info, err);
    free(order);
    if (st != LLMUX_OK) {
        llmux_model_list_free(l);
        return st;
    }
    *out = l;
    return LLMUX_OK;
}

static entry *find_entry(const lx_catalog *c, const char *id) {
    if (!c || !id || !c->index_cap) return NULL;
    uint32_t v = c->index[slot_of(c, id)];
    return v ? &c->entries[v - 1] : NULL;
}

static bool dup_opt(const char **dst, const char *src) {
    *dst = NULL;
    if (!src) return true;
    return (*dst = dup_cut(src, strlen(src))) != NULL;
}

llmux_status lx_catalog_set_meta(lx_catalog *c, const char *id, const lx_catalog_meta *meta, llmux_error_info *err) {
    if (!meta) return lx_error(err, LLMUX_E_INTERNAL, "lx_catalog_set_meta: NULL argument");
    entry *e = find_entry(c, id);
    if (!e) return lx_error(err, LLMUX_E_INTERNAL, "lx_catalog_set_meta: %.200s is not in the catalog", id ? id : "(null)");
    lx_catalog_meta *m = calloc(1, sizeof *m);
    if (!m || !dup_opt(&m->price_date, meta->price_date) || !dup_opt(&m->price_url, meta->price_url) ||
        !dup_opt(&m->limits_url, meta->limits_url) || !dup_opt(&m->note, meta->note)) {
        meta_free(m);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory describing %.200s in the model catalog", id);
    }
    m->tools = meta->tools;
    m->vision = meta->vision;
    m->reasoning = meta->reasoning;
    m->json_schema = meta->json_schema;
    meta_free(e->meta);
    e->meta = m;
    return LLMUX_OK;
}

const lx_catalog_meta *lx_catalog_meta_of(const lx_catalog *c, const char *id) {
    const entry *e = find_entry(c, id);
    return e ? e->meta : NULL;
}

lx_price_origin lx_catalog_price_origin(const lx_catalog *c, const char *id) {
    const entry *e = find_entry(c, id);
    if (!e || isnan(e->info.input_price)) return LX_PRICE_ORIGIN_NONE;
    if (e->pinned & F_INPUT) return LX_PRICE_ORIGIN_CONFIGURED;
    if (e->fixed & F_INPUT) return LX_PRICE_ORIGIN_STATIC;
    return LX_PRICE_ORIGIN_DISCOVERED;
}
