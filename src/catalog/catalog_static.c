/* Parsing and validating the shipped catalog (catalog_static.h). Strict on purpose: the file is
 * edited by hand from providers' pages, and a typo ("cache_raed", a price in cents, a dateless
 * figure) must fail the test suite instead of silently pricing requests wrong. */
#include "catalog/catalog_static.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/error.h"

typedef struct parsed {
    llmux_model_info *models;
    lx_catalog_meta *meta;
    size_t n;
} parsed;

#define BAD(...) lx_error(err, LLMUX_E_CONFIGURATION, "shipped model catalog: " __VA_ARGS__)

/* Refuses keys outside `allowed` (NULL-terminated): a misspelt key would otherwise read as null. */
static llmux_status only_keys(json_t *obj, const char *const *allowed, const char *where, llmux_error_info *err) {
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++) ok = strcmp(key, allowed[i]) == 0;
        if (!ok) return BAD("%s: unknown key \"%.100s\"", where, key);
    }
    return LLMUX_OK;
}

static bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* YYYY-MM-DD naming a real day (2026-02-30 is refused). */
static bool iso_date(const char *s) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) return false;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    if (y < 2000 || m < 1 || m > 12 || d < 1) return false;
    return d <= days[m - 1] + (m == 2 && is_leap(y));
}

/* An https:// URL with a host and no whitespace: the page a figure can be checked against. */
static bool https_url(const char *s) {
    if (strncmp(s, "https://", 8) != 0 || !s[8] || s[8] == '/') return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) return false;
    return true;
}

/* An optional string field: absent or null leaves *out NULL. */
static llmux_status opt_string(json_t *obj, const char *key, const char **out, const char *where,
                               llmux_error_info *err) {
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v)) return LLMUX_OK;
    if (!json_is_string(v)) return BAD("%s.%s: must be a string or null", where, key);
    *out = json_string_value(v);
    return LLMUX_OK;
}

static llmux_status opt_length(json_t *obj, const char *key, int64_t *out, const char *where, llmux_error_info *err) {
    json_t *v = json_object_get(obj, key);
    *out = -1;
    if (!v || json_is_null(v)) return LLMUX_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return BAD("%s.%s: must be an integer >= 0 or null", where, key);
    *out = json_integer_value(v);
    return LLMUX_OK;
}

static llmux_status opt_price(json_t *obj, const char *key, double *out, const char *where, llmux_error_info *err) {
    json_t *v = json_object_get(obj, key);
    *out = NAN;
    if (!v || json_is_null(v)) return LLMUX_OK;
    double d = json_is_number(v) ? json_number_value(v) : NAN;
    if (!isfinite(d) || d < 0) return BAD("%s.%s: must be a finite number >= 0 (USD per million tokens) or null", where, key);
    *out = d;
    return LLMUX_OK;
}

static llmux_status capabilities(json_t *obj, lx_catalog_meta *meta, const char *where, llmux_error_info *err) {
    static const char *const keys[] = {"tools", "vision", "reasoning", "json_schema", NULL};
    signed char *dst[] = {&meta->tools, &meta->vision, &meta->reasoning, &meta->json_schema};
    for (size_t i = 0; i < 4; i++) *dst[i] = -1;
    json_t *caps = json_object_get(obj, "capabilities");
    if (!caps || json_is_null(caps)) return LLMUX_OK;
    char here[64];
    snprintf(here, sizeof here, "%s.capabilities", where);
    if (!json_is_object(caps)) return BAD("%s: must be an object or null", here);
    llmux_status st = only_keys(caps, keys, here, err);
    for (size_t i = 0; st == LLMUX_OK && i < 4; i++) {
        json_t *v = json_object_get(caps, keys[i]);
        if (!v || json_is_null(v)) continue;
        if (!json_is_boolean(v)) return BAD("%s.%s: must be true, false or null", here, keys[i]);
        *dst[i] = json_is_true(v) ? 1 : 0;
    }
    return st;
}

static llmux_status price(json_t *obj, llmux_model_info *m, lx_catalog_meta *meta, const char *where,
                          llmux_error_info *err) {
    static const char *const keys[] = {"input", "cache_read", "cache_write", "output", "date", "source", NULL};
    m->input_price = m->output_price = m->cache_read_price = m->cache_write_price = NAN;
    json_t *p = json_object_get(obj, "price");
    if (!p || json_is_null(p)) return LLMUX_OK;
    char here[64];
    snprintf(here, sizeof here, "%s.price", where);
    if (!json_is_object(p)) return BAD("%s: must be an object or null", here);
    llmux_status st;
    if ((st = only_keys(p, keys, here, err)) != LLMUX_OK || (st = opt_price(p, "input", &m->input_price, here, err)) ||
        (st = opt_price(p, "cache_read", &m->cache_read_price, here, err)) ||
        (st = opt_price(p, "cache_write", &m->cache_write_price, here, err)) ||
        (st = opt_price(p, "output", &m->output_price, here, err)) ||
        (st = opt_string(p, "date", &meta->price_date, here, err)) ||
        (st = opt_string(p, "source", &meta->price_url, here, err)))
        return st;
    /* A figure nobody can date or check is worse than none: both are required with a price. */
    if (!meta->price_date || !iso_date(meta->price_date))
        return BAD("%s.date: must be the YYYY-MM-DD day the price was read", here);
    if (!meta->price_url || !https_url(meta->price_url))
        return BAD("%s.source: must be the https:// page the price was read from", here);
    if (isnan(m->input_price) && isnan(m->output_price) && isnan(m->cache_read_price) && isnan(m->cache_write_price))
        return BAD("%s: has no price at all (use \"price\": null)", here);
    return LLMUX_OK;
}

static llmux_status model(json_t *obj, size_t i, llmux_model_info *m, lx_catalog_meta *meta, llmux_error_info *err) {
    static const char *const keys[] = {"id",           "name",          "context_length", "max_output_tokens",
                                       "capabilities", "limits_source", "price",          "note",
                                       NULL};
    char where[40];
    snprintf(where, sizeof where, "models[%zu]", i);
    if (!json_is_object(obj)) return BAD("%s: must be an object", where);
    llmux_status st;
    if ((st = only_keys(obj, keys, where, err)) != LLMUX_OK) return st;
    json_t *id = json_object_get(obj, "id");
    const char *s = json_is_string(id) ? json_string_value(id) : NULL;
    const char *slash = s ? strchr(s, '/') : NULL;
    if (!slash || slash == s || !slash[1] || strlen(s) > LX_CATALOG_MAX_ID)
        return BAD("%s.id: must be a \"provider/model\" string of at most %u bytes", where, LX_CATALOG_MAX_ID);
    m->id = s;
    if ((st = opt_string(obj, "name", &m->name, where, err)) ||
        (st = opt_length(obj, "context_length", &m->context_length, where, err)) ||
        (st = opt_length(obj, "max_output_tokens", &m->max_output_tokens, where, err)) ||
        (st = opt_string(obj, "limits_source", &meta->limits_url, where, err)) ||
        (st = opt_string(obj, "note", &meta->note, where, err)) || (st = capabilities(obj, meta, where, err)) ||
        (st = price(obj, m, meta, where, err)))
        return st;
    if (meta->limits_url && !https_url(meta->limits_url))
        return BAD("%s.limits_source: must be an https:// URL", where);
    if ((m->context_length >= 0 || m->max_output_tokens >= 0) && !meta->limits_url)
        return BAD("%s.limits_source: required with context_length or max_output_tokens", where);
    return LLMUX_OK;
}

/* Checks every model into p (strings borrowed from root); nothing is merged here. */
static llmux_status parse(json_t *root, parsed *p, llmux_error_info *err) {
    static const char *const keys[] = {"schema", "about", "models", NULL};
    if (!json_is_object(root)) return BAD("the document must be an object");
    llmux_status st = only_keys(root, keys, "top level", err);
    if (st != LLMUX_OK) return st;
    json_t *schema = json_object_get(root, "schema");
    if (!json_is_integer(schema) || json_integer_value(schema) != LX_CATALOG_STATIC_SCHEMA)
        return BAD("schema: must be %d (this build reads no other)", LX_CATALOG_STATIC_SCHEMA);
    json_t *models = json_object_get(root, "models");
    if (!json_is_array(models)) return BAD("models: must be an array");
    size_t n = json_array_size(models);
    if (n > LX_CATALOG_STATIC_MAX_ENTRIES) return BAD("models: more than %u entries", LX_CATALOG_STATIC_MAX_ENTRIES);
    p->models = calloc(n ? n : 1, sizeof *p->models);
    p->meta = calloc(n ? n : 1, sizeof *p->meta);
    if (!p->models || !p->meta) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory reading the model catalog");
    for (size_t i = 0; i < n; i++) {
        if ((st = model(json_array_get(models, i), i, &p->models[i], &p->meta[i], err)) != LLMUX_OK) return st;
        /* Two entries for one id would merge silently, the second winning field by field. */
        for (size_t k = 0; k < i; k++)
            if (strcmp(p->models[k].id, p->models[i].id) == 0)
                return BAD("models[%zu].id: \"%.200s\" repeats models[%zu]", i, p->models[i].id, k);
        p->n = i + 1;
    }
    return LLMUX_OK;
}

llmux_status lx_catalog_load_static(lx_catalog *c, const char *json, size_t len, llmux_error_info *err) {
    if (!c || (!json && len)) return lx_error(err, LLMUX_E_INTERNAL, "lx_catalog_load_static: NULL argument");
    if (len > LX_CATALOG_STATIC_MAX_BYTES)
        return BAD("%zu bytes, more than the %u allowed", len, LX_CATALOG_STATIC_MAX_BYTES);
    json_error_t jerr;
    json_t *root = json_loadb(json ? json : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return BAD("not valid JSON at line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
    parsed p = {0};
    llmux_status st = parse(root, &p, err);
    if (st == LLMUX_OK) st = lx_catalog_merge(c, p.models, p.n, LX_CATALOG_STATIC, err);
    for (size_t i = 0; st == LLMUX_OK && i < p.n; i++) st = lx_catalog_set_meta(c, p.models[i].id, &p.meta[i], err);
    free(p.models);
    free(p.meta);
    json_decref(root);
    return st;
}
