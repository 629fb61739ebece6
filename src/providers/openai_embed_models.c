/* OpenAI embeddings (POST /embeddings) and model list (GET /models); also OpenRouter (whose
 * model list carries names, context lengths and prices) and OpenAI-compatible servers. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/embeddings.h"
#include "core/error.h"
#include "core/models.h"
#include "providers/embed_models.h"
#include "providers/json_util.h"
#include "providers/openai_internal.h"
#include "providers/wire.h"

static const char *who_of(const lx_provider_config *cfg) { return cfg && cfg->name ? cfg->name : "openai"; }
static bool is_openrouter(const lx_provider_config *cfg) { return cfg->name && strcmp(cfg->name, "openrouter") == 0; }

/* OpenRouter answers some failures with 200 and an error object. */
static llmux_status body_error(const json_t *body, const char *who, llmux_error_info *err) {
    json_t *e = lx_json_obj(body, "error");
    return e ? lx_openai_error_from_object(who, e, 0, NULL, err) : LLMUX_OK;
}

static bool common_headers(lx_wire_request *out, const lx_provider_config *cfg, bool body) {
    return (!body || lx_wire_add_header(out, "Content-Type", "application/json", false)) &&
           lx_wire_add_header(out, "Accept", "application/json", false) && lx_wire_add_bearer(out, cfg) &&
           (!cfg->referer || lx_wire_add_header(out, "HTTP-Referer", cfg->referer, false)) &&
           (!cfg->title || lx_wire_add_header(out, "X-Title", cfg->title, false));
}

llmux_status lx_openai_encode_embed(const lx_provider_config *cfg, const llmux_embed_request *req, lx_wire_request *out,
                                    llmux_error_info *err) {
    if (!cfg || !out) return lx_error(err, LLMUX_E_INTERNAL, "openai: encode_embed called with NULL");
    const char *who = who_of(cfg);
    llmux_status st = lx_embed_check_request(req, who, err);
    if (st != LLMUX_OK) return st;
    const char *model = cfg->model && *cfg->model ? cfg->model : req->model;
    if (!model || !*model) return lx_error(err, LLMUX_E_INVALID_REQUEST, "model: missing");
    if (!lx_wire_set(out, "POST", "/embeddings")) return lx_error(err, LLMUX_E_INTERNAL, "%s: path too long", who);
    out->stream = false;
    if (!common_headers(out, cfg, true))
        return lx_error(err, LLMUX_E_CONFIGURATION, "%s: a header value is too long or contains a line break", who);

    /* Pass-through last, so callers can override what the adapter wrote (e.g. "user"). */
    return lx_embed_openai_body(req, model, "openai", who, "encoding_format", "float", out, err);
}

llmux_status lx_openai_decode_embed(const lx_provider_config *cfg, const char *body, size_t len, llmux_embeddings **out,
                                    llmux_error_info *err) {
    *out = NULL;
    const char *who = who_of(cfg);
    json_t *j = lx_body_object(body, len, who, "embeddings", err);
    if (!j) return LLMUX_E_UPSTREAM_PROTOCOL;
    llmux_status st;
    const json_t **rows = NULL;
    json_t *data = lx_body_array(j, "data", "embeddings response", who, body_error, &st, err);
    if (!data) goto done;
    size_t n = json_array_size(data);
    if (n > LX_EMBED_MAX_VECTORS) {
        st = lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: %zu embeddings, more than the cap of %u", who, n,
                      LX_EMBED_MAX_VECTORS);
        goto done;
    }
    rows = calloc(n ? n : 1, sizeof *rows);
    if (!rows) {
        st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", who);
        goto done;
    }
    /* Vectors come back tagged with the input index; the order of data[] is not promised. */
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get(data, i);
        json_t *idx = json_is_object(item) ? json_object_get(item, "index") : NULL;
        int64_t k = (int64_t)i;
        if (!json_is_object(item)) {
            st = lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: data[%zu]: not an object", who, i);
            goto done;
        }
        if (idx && !lx_json_i64(item, "index", &k)) {
            st = lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: data[%zu].index: not an integer", who, i);
            goto done;
        }
        if (k < 0 || (uint64_t)k >= n || rows[k]) {
            st = lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: data[%zu].index: %lld is out of range or repeated", who,
                          i, (long long)k);
            goto done;
        }
        json_t *emb = json_object_get(item, "embedding");
        if (json_is_string(emb)) {
            st = lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL,
                          "%s: data[%zu].embedding: a base64 string, but floats were asked for", who, i);
            goto done;
        }
        if (!json_is_array(emb)) {
            st = lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: data[%zu].embedding: missing or not an array", who, i);
            goto done;
        }
        rows[k] = emb;
    }
    st = lx_embeddings_from_json_rows(rows, n, who, "embedding with index %zu", out, err);
    if (st != LLMUX_OK) goto done;
    json_t *usage = lx_json_obj(j, "usage");
    (*out)->usage.input_tokens = lx_json_count(usage, "prompt_tokens");
    (*out)->usage.total_tokens = lx_json_count(usage, "total_tokens");
    const char *model = lx_json_str(j, "model");
    st = lx_embed_set_meta(out, model ? model : cfg->model, who, err);
done:
    free(rows);
    json_decref(j);
    return st;
}

llmux_status lx_openai_encode_models(const lx_provider_config *cfg, const char *cursor, lx_wire_request *out,
                                     llmux_error_info *err) {
    if (!cfg || !out) return lx_error(err, LLMUX_E_INTERNAL, "openai: encode_models called with NULL");
    const char *who = who_of(cfg);
    /* /models answers everything at once; decode_models never hands out a cursor. */
    if (cursor && *cursor) return lx_error(err, LLMUX_E_INTERNAL, "%s: the model list has no pages", who);
    if (!lx_wire_set(out, "GET", "/models")) return lx_error(err, LLMUX_E_INTERNAL, "%s: path too long", who);
    out->stream = false;
    lx_buf_reset(&out->body);
    if (!common_headers(out, cfg, false))
        return lx_error(err, LLMUX_E_CONFIGURATION, "%s: a header value is too long or contains a line break", who);
    return LLMUX_OK;
}

/* Powers of ten that doubles hold exactly. */
static const double k_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* A decimal string, parsed without strtod (whose decimal point follows the locale), scaled by
 * 10^6. When the significant digits fit 2^53 and the exponent is small, the result is the
 * double nearest to the exact decimal product: an exact integer times or over an exact power of
 * ten, one rounding. */
static double decimal_per_million(const char *s) {
    uint64_t mant = 0;
    int digits = 0, exp10 = 6;
    bool any = false, dot = false;
    if (*s == '+') s++;
    if (*s == '-') return NAN; /* negative: OpenRouter's "varies" marker, never a price */
    for (;; s++) {
        if (*s >= '0' && *s <= '9') {
            any = true;
            if (mant == 0 && *s == '0') {
                if (dot) exp10--;
                continue;
            }
            if (digits < 19) {
                mant = mant * 10 + (uint64_t)(*s - '0');
                digits++;
                if (dot) exp10--;
            } else if (!dot) {
                exp10++; /* digits past what fits only shift the magnitude */
            }
        } else if (*s == '.' && !dot) {
            dot = true;
        } else {
            break;
        }
    }
    if (!any) return NAN;
    if (*s == 'e' || *s == 'E') {
        s++;
        int sign = 1, e = 0;
        if (*s == '+' || *s == '-') sign = *s++ == '-' ? -1 : 1;
        if (!(*s >= '0' && *s <= '9')) return NAN;
        while (*s >= '0' && *s <= '9') {
            if (e < 10000) e = e * 10 + (*s - '0');
            s++;
        }
        exp10 += sign * e;
    }
    if (*s) return NAN;
    if (mant == 0) return 0.0;
    double m = (double)mant;
    if (mant <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22)
        return exp10 >= 0 ? m * k_pow10[exp10] : m / k_pow10[-exp10];
    double r = m * pow(10.0, exp10);
    return isfinite(r) ? r : NAN; /* "1e400" is no price */
}

double lx_openrouter_price_per_million(const json_t *v) {
    if (json_is_string(v)) return decimal_per_million(json_string_value(v));
    if (json_is_number(v)) {
        double x = json_number_value(v);
        return x >= 0 && isfinite(x * 1e6) ? x * 1e6 : NAN;
    }
    return NAN;
}

static void fill(llmux_model_info *m, const json_t *item, const lx_provider_config *cfg) {
    /* OpenRouter and some compatible servers say context_length; vLLM says max_model_len. */
    m->context_length = lx_json_count(item, "context_length");
    if (m->context_length < 0) m->context_length = lx_json_count(item, "max_model_len");
    if (is_openrouter(cfg)) {
        m->max_output_tokens = lx_json_count(lx_json_obj(item, "top_provider"), "max_completion_tokens");
        json_t *p = lx_json_obj(item, "pricing");
        m->input_price = lx_openrouter_price_per_million(json_object_get(p, "prompt"));
        m->output_price = lx_openrouter_price_per_million(json_object_get(p, "completion"));
        m->cache_read_price = lx_openrouter_price_per_million(json_object_get(p, "input_cache_read"));
        m->cache_write_price = lx_openrouter_price_per_million(json_object_get(p, "input_cache_write"));
    }
}

static const lx_model_list_layout k_models = {
    .array = "data", .id_key = "id", .name_key = "name", .body_error = body_error, .fill = fill};

llmux_status lx_openai_decode_models(const lx_provider_config *cfg, const char *body, size_t len, char *next,
                                     size_t next_size, llmux_model_list **out, llmux_error_info *err) {
    return lx_models_decode_page(&k_models, cfg, who_of(cfg), body, len, next, next_size, out, err);
}
