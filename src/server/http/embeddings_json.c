/* OpenAI embeddings body ↔ llmux_embed_request / llmux_embeddings (POST /v1/embeddings).
 * Reference: https://platform.openai.com/docs/api-reference/embeddings/create and the embedding
 * object. Pure: no I/O (fuzz/fuzz_server_embeddings.c). The official openai SDK asks for
 * encoding_format "base64" by default and decodes the bytes as little-endian float32, so that
 * encoding is exact here, independent of the host's byte order. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/translate.h"

void lx_srv_embed_free(lx_srv_embed *e) {
    if (!e) return;
    free(e->inputs);
    json_decref(e->root);
    free(e);
}

static llmux_status fail(lx_srv_embed *e, llmux_error_info *err, const char *msg) {
    lx_srv_embed_free(e);
    return lx_srv_fail(err, "%s", msg);
}

llmux_status lx_srv_embed_request(const char *body, size_t len, lx_srv_embed **out, llmux_error_info *err) {
    *out = NULL;
    lx_srv_embed *e = calloc(1, sizeof *e);
    if (!e) return lx_srv_fail(err, "out of memory");
    e->req = llmux_embed_request_default();
    if (!(e->root = lx_srv_parse_object(body, len, err))) {
        lx_srv_embed_free(e);
        return LLMUX_E_INVALID_REQUEST;
    }
    const json_t *root = e->root;
    if (!lx_srv_opt_string(root, "model", &e->req.model, err)) goto fail_err;
    if (!e->req.model || !*e->req.model) return fail(e, err, "model: required");
    json_t *in = json_object_get(root, "input");
    size_t n = json_is_string(in) ? 1 : json_is_array(in) ? json_array_size(in) : 0;
    if (!json_is_string(in) && !json_is_array(in))
        return fail(e, err, "input: expected a string or an array of strings");
    if (n == 0) return fail(e, err, "input: expected at least one input");
    if (n > LX_SRV_MAX_EMBED_INPUTS) return fail(e, err, "input: more than 2048 inputs");
    if (!(e->inputs = calloc(n, sizeof *e->inputs))) return fail(e, err, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_is_string(in) ? in : json_array_get(in, i);
        if (json_is_integer(v) || json_is_array(v)) {
            lx_srv_fail(err, "input[%zu]: token arrays are not supported; send the text", i);
            goto fail_err;
        }
        if (!json_is_string(v)) {
            lx_srv_fail(err, "input[%zu]: expected a string", i);
            goto fail_err;
        }
        if (json_string_length(v) == 0) {
            lx_srv_fail(err, "input[%zu]: must not be empty", i);
            goto fail_err;
        }
        e->inputs[i] = json_string_value(v);
    }
    e->req.inputs = e->inputs;
    e->req.n_inputs = n;
    const char *fmt = NULL;
    if (!lx_srv_opt_string(root, "encoding_format", &fmt, err)) goto fail_err;
    if (fmt && strcmp(fmt, "base64") == 0) e->base64 = true;
    else if (fmt && strcmp(fmt, "float") != 0) return fail(e, err, "encoding_format: expected \"float\" or \"base64\"");
    int64_t dims = 0;
    if (!lx_srv_opt_int(root, "dimensions", 1, 65536, &dims, err)) goto fail_err;
    e->req.dimensions = (int32_t)dims;
    *out = e;
    return LLMUX_OK;
fail_err:
    lx_srv_embed_free(e);
    return LLMUX_E_INVALID_REQUEST;
}

/* RFC 4648 base64 of n bytes; malloc'd, NUL-terminated; NULL when out of memory. */
static char *base64(const unsigned char *p, size_t n) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = malloc((n + 2) / 3 * 4 + 1), *w = o;
    if (!o) return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        *w++ = tab[v >> 18 & 63];
        *w++ = tab[v >> 12 & 63];
        *w++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *w++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *w = 0;
    return o;
}

static json_t *vector(const float *v, size_t dim, bool b64) {
    if (!b64) {
        json_t *a = json_array();
        for (size_t k = 0; a && k < dim; k++)
            if (json_array_append_new(a, json_real(v[k])) != 0) {
                json_decref(a);
                return NULL;
            }
        return a;
    }
    unsigned char *bytes = malloc(dim * 4 + 1);
    if (!bytes) return NULL;
    for (size_t k = 0; k < dim; k++) {
        uint32_t u;
        memcpy(&u, &v[k], 4);
        for (int j = 0; j < 4; j++) bytes[k * 4 + (size_t)j] = (unsigned char)(u >> (8 * j));
    }
    char *s = base64(bytes, dim * 4);
    free(bytes);
    json_t *j = s ? json_string(s) : NULL;
    free(s);
    return j;
}

char *lx_srv_embed_response(const llmux_embeddings *e, const char *model, bool b64) {
    json_t *data = json_array();
    for (size_t i = 0; data && i < e->n; i++) {
        json_t *v = vector(e->data + i * e->dim, e->dim, b64);
        json_t *o = v ? json_pack("{s:s,s:I,s:o}", "object", "embedding", "index", (json_int_t)i, "embedding", v) : NULL;
        if (!o || json_array_append_new(data, o) != 0) {
            json_decref(data);
            data = NULL;
        }
    }
    json_int_t tokens = e->usage.input_tokens >= 0 ? (json_int_t)e->usage.input_tokens : 0;
    json_t *o = data ? json_pack("{s:s,s:o,s:s,s:{s:I,s:I}}", "object", "list", "data", data, "model", model, "usage",
                                 "prompt_tokens", tokens, "total_tokens", tokens)
                     : NULL;
    /* float32 needs 9 significant digits to travel exactly (IEEE 754 §5.12.2). */
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(o);
    return s;
}
