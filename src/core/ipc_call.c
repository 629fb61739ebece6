/* Call and result bodies of the IPC protocol (ipc_call.h). */
#include "core/ipc_call.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/embeddings.h"

static const char *const k_ops[] = {"embed", "count_tokens", "model_load", "model_unload", "models_loaded"};
#define N_OPS (sizeof k_ops / sizeof *k_ops)

const char *lx_ipc_op_name(lx_ipc_op op) { return (unsigned)op < N_OPS ? k_ops[op] : "unknown"; }

static bool say(char *why, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, size, fmt, ap);
    va_end(ap);
    return false;
}

/* Every key of o is one of the NULL-terminated allowed list: what the other side does not know it
 * must not send (a newer peer is a different build, never mixed with this one). */
static bool only_keys(const json_t *o, const char *const *allowed, const char *what, char *why, size_t size) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        (void)v;
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], key) != 0) i++;
        if (!allowed[i]) return say(why, size, "%s: unknown key \"%.64s\"", what, key);
    }
    return true;
}

static bool count_field(const json_t *o, const char *key, bool required, int64_t max, int64_t *out, char *why,
                        size_t size) {
    json_t *v = json_object_get(o, key);
    *out = 0;
    if (!v) return required ? say(why, size, "%s: required", key) : true;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
        return say(why, size, "%s: expected an integer in 0..%lld", key, (long long)max);
    *out = (int64_t)json_integer_value(v);
    return true;
}

static bool model_field(const json_t *o, const char **out, char *why, size_t size) {
    json_t *v = json_object_get(o, "model");
    if (!json_is_string(v) || json_string_length(v) < 1 || json_string_length(v) > LX_IPC_CALL_MAX_MODEL)
        return say(why, size, "model: expected a string of 1..%d bytes", LX_IPC_CALL_MAX_MODEL);
    *out = json_string_value(v);
    return true;
}

void lx_ipc_call_clear(lx_ipc_call *c) {
    free(c->inputs);
    memset(c, 0, sizeof *c);
}

bool lx_ipc_call_parse(const json_t *body, lx_ipc_call *c, char *why, size_t size) {
    memset(c, 0, sizeof *c);
    if (!json_is_object(body)) return say(why, size, "call: expected a JSON object");
    const char *op = json_string_value(json_object_get(body, "op"));
    if (!op) return say(why, size, "op: expected a string");
    size_t k = 0;
    while (k < N_OPS && strcmp(k_ops[k], op) != 0) k++;
    if (k == N_OPS) return say(why, size, "op: unknown operation \"%.64s\"", op);
    c->op = (lx_ipc_op)k;
    bool ok = true;
    int64_t v = 0;
    switch (c->op) {
    case LX_IPC_OP_EMBED: {
        static const char *const keys[] = {"op", "model", "inputs", "dimensions", "deadline_ms", NULL};
        ok = only_keys(body, keys, "embed", why, size) && model_field(body, &c->model, why, size) &&
             count_field(body, "dimensions", false, LX_EMBED_MAX_DIM, &v, why, size);
        c->dimensions = (int32_t)v;
        const json_t *in = json_object_get(body, "inputs");
        if (ok && (!json_is_array(in) || json_array_size(in) < 1 || json_array_size(in) > LX_EMBED_MAX_VECTORS))
            ok = say(why, size, "inputs: expected an array of 1..%u strings", LX_EMBED_MAX_VECTORS);
        if (ok && !(c->inputs = malloc(json_array_size(in) * sizeof *c->inputs))) ok = say(why, size, "out of memory");
        for (size_t i = 0; ok && i < json_array_size(in); i++) {
            const char *s = json_string_value(json_array_get(in, i));
            if (!s) ok = say(why, size, "inputs[%zu]: expected a string", i);
            else c->inputs[c->n_inputs++] = s;
        }
        break;
    }
    case LX_IPC_OP_COUNT_TOKENS: {
        static const char *const keys[] = {"op", "request", "deadline_ms", NULL};
        ok = only_keys(body, keys, "count_tokens", why, size);
        c->request = json_object_get(body, "request");
        if (ok && !json_is_object(c->request)) ok = say(why, size, "request: expected a canonical request object");
        break;
    }
    case LX_IPC_OP_MODEL_LOAD: {
        static const char *const keys[] = {"op", "model", "deadline_ms", NULL};
        ok = only_keys(body, keys, "model_load", why, size) && model_field(body, &c->model, why, size);
        break;
    }
    case LX_IPC_OP_MODEL_UNLOAD: {
        static const char *const keys[] = {"op", "model", NULL};
        ok = only_keys(body, keys, "model_unload", why, size) && model_field(body, &c->model, why, size);
        break;
    }
    case LX_IPC_OP_MODELS_LOADED: {
        static const char *const keys[] = {"op", NULL};
        ok = only_keys(body, keys, "models_loaded", why, size);
        break;
    }
    }
    /* A week, in ms: a longer deadline is a mistake, not a wish. */
    if (ok) ok = count_field(body, "deadline_ms", false, (int64_t)7 * 86400 * 1000, &c->deadline_ms, why, size);
    if (!ok) lx_ipc_call_clear(c);
    return ok;
}

/* ----------------------------------------------------------------- builders */

static char *dump(json_t *o) {
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

static void set_deadline(json_t *o, int64_t deadline_ms) {
    if (o && deadline_ms > 0) json_object_set_new(o, "deadline_ms", json_integer((json_int_t)deadline_ms));
}

char *lx_ipc_call_embed(const char *model, const char *const *inputs, size_t n, int32_t dimensions,
                        int64_t deadline_ms) {
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        if (json_array_append_new(arr, json_string(inputs[i])) != 0) {
            json_decref(arr);
            return NULL; /* out of memory, or not UTF-8 */
        }
    json_t *o = arr ? json_pack("{s:s,s:s,s:o}", "op", "embed", "model", model, "inputs", arr) : NULL;
    if (o && dimensions > 0) json_object_set_new(o, "dimensions", json_integer(dimensions));
    set_deadline(o, deadline_ms);
    return dump(o);
}

char *lx_ipc_call_count_tokens(const char *request_json, int64_t deadline_ms) {
    json_error_t je;
    json_t *req = json_loads(request_json, 0, &je);
    json_t *o = req ? json_pack("{s:s,s:o}", "op", "count_tokens", "request", req) : NULL;
    set_deadline(o, deadline_ms);
    return dump(o);
}

char *lx_ipc_call_model(lx_ipc_op op, const char *model, int64_t deadline_ms) {
    json_t *o = json_pack("{s:s}", "op", lx_ipc_op_name(op));
    if (o && op != LX_IPC_OP_MODELS_LOADED) json_object_set_new(o, "model", json_string(model));
    if (op == LX_IPC_OP_MODEL_LOAD) set_deadline(o, deadline_ms);
    return dump(o);
}

char *lx_ipc_result_embed(const char *model, size_t n, size_t dim, const float *data, int64_t input_tokens) {
    size_t bytes = n * dim * sizeof *data;
    char *b64 = malloc(lx_base64_encoded_len(bytes) + 1);
    if (!b64) return NULL;
    lx_base64_encode(data, bytes, b64);
    json_t *o = json_pack("{s:s,s:I,s:I,s:s,s:I}", "model", model, "n", (json_int_t)n, "dim", (json_int_t)dim, "data",
                          b64, "input_tokens", (json_int_t)input_tokens);
    free(b64);
    return dump(o);
}

char *lx_ipc_result_count(int64_t input_tokens) {
    return dump(json_pack("{s:I}", "input_tokens", (json_int_t)input_tokens));
}

char *lx_ipc_result_empty(void) { return dump(json_object()); }

char *lx_ipc_result_models(const char *models_json) {
    json_error_t je;
    json_t *m = json_loads(models_json, 0, &je);
    return dump(m ? json_pack("{s:o}", "models", m) : NULL);
}

/* ------------------------------------------------------------ result parsers */

bool lx_ipc_result_embed_parse(const json_t *v, size_t expect_n, const char **model, size_t *dim, float **data,
                               int64_t *input_tokens, char *why, size_t size) {
    static const char *const keys[] = {"model", "n", "dim", "data", "input_tokens", NULL};
    *model = NULL;
    *data = NULL;
    *dim = 0;
    *input_tokens = 0;
    int64_t n = 0, d = 0, t = 0;
    if (!json_is_object(v)) return say(why, size, "result: expected a JSON object");
    if (!only_keys(v, keys, "embed result", why, size) || !count_field(v, "n", true, LX_EMBED_MAX_VECTORS, &n, why, size) ||
        !count_field(v, "dim", true, LX_EMBED_MAX_DIM, &d, why, size) ||
        !count_field(v, "input_tokens", true, INT32_MAX, &t, why, size))
        return false;
    const char *m = json_string_value(json_object_get(v, "model"));
    if (!m || json_string_length(json_object_get(v, "model")) > LX_IPC_CALL_MAX_MODEL)
        return say(why, size, "model: expected a string");
    if ((size_t)n != expect_n) return say(why, size, "n: %lld vectors for %zu inputs", (long long)n, expect_n);
    if (d < 1 || (uint64_t)n * (uint64_t)d > LX_EMBED_MAX_FLOATS)
        return say(why, size, "dim: %lld floats per vector is out of range", (long long)d);
    const json_t *b = json_object_get(v, "data");
    if (!json_is_string(b)) return say(why, size, "data: expected base64 text");
    size_t want = (size_t)n * (size_t)d * sizeof(float), got = 0;
    if (json_string_length(b) != lx_base64_encoded_len(want))
        return say(why, size, "data: %zu characters, expected %zu for %lld x %lld floats", json_string_length(b),
                   lx_base64_encoded_len(want), (long long)n, (long long)d);
    float *f = malloc(want);
    if (!f) return say(why, size, "out of memory");
    if (!lx_base64_decode(json_string_value(b), json_string_length(b), f, want, &got) || got != want) {
        free(f);
        return say(why, size, "data: malformed base64");
    }
    for (size_t i = 0; i < (size_t)n * (size_t)d; i++)
        if (!isfinite(f[i])) {
            free(f);
            return say(why, size, "data: value %zu is not a finite number", i);
        }
    *model = m;
    *dim = (size_t)d;
    *data = f;
    *input_tokens = t;
    return true;
}

bool lx_ipc_result_count_parse(const json_t *v, int64_t *input_tokens, char *why, size_t size) {
    static const char *const keys[] = {"input_tokens", NULL};
    *input_tokens = 0;
    if (!json_is_object(v)) return say(why, size, "result: expected a JSON object");
    return only_keys(v, keys, "count_tokens result", why, size) &&
           count_field(v, "input_tokens", true, INT32_MAX, input_tokens, why, size);
}

bool lx_ipc_result_models_parse(const json_t *v, const json_t **models, char *why, size_t size) {
    static const char *const keys[] = {"models", NULL};
    *models = NULL;
    if (!json_is_object(v)) return say(why, size, "result: expected a JSON object");
    if (!only_keys(v, keys, "models_loaded result", why, size)) return false;
    const json_t *m = json_object_get(v, "models");
    if (!json_is_array(m)) return say(why, size, "models: expected an array");
    for (size_t i = 0; i < json_array_size(m); i++)
        if (!json_is_object(json_array_get(m, i))) return say(why, size, "models[%zu]: expected an object", i);
    *models = m;
    return true;
}

bool lx_ipc_result_empty_parse(const json_t *v, char *why, size_t size) {
    if (!json_is_object(v) || json_object_size(v) != 0) return say(why, size, "result: expected {}");
    return true;
}
