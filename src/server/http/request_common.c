/* What the request translators share: the allocation bag of a translated request, JSON parsing
 * with caps, typed optional fields. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/translate.h"

void *lx_srv_alloc(lx_srv_req *r, size_t size) {
    if (r->n_allocs == r->cap_allocs) {
        size_t cap = r->cap_allocs ? r->cap_allocs * 2 : 16;
        void **a = realloc(r->allocs, cap * sizeof *a);
        if (!a) return NULL;
        r->allocs = a;
        r->cap_allocs = cap;
    }
    void *p = calloc(1, size ? size : 1);
    if (p) r->allocs[r->n_allocs++] = p;
    return p;
}

char *lx_srv_strdup(lx_srv_req *r, const char *s, size_t n) {
    char *p = lx_srv_alloc(r, n + 1);
    if (p) memcpy(p, s, n);
    return p;
}

char *lx_srv_dump(lx_srv_req *r, const json_t *v) {
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) return NULL;
    char *p = lx_srv_strdup(r, s, strlen(s));
    free(s);
    return p;
}

void lx_srv_req_free(lx_srv_req *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n_allocs; i++) free(r->allocs[i]);
    free(r->allocs);
    json_decref(r->root);
    free(r);
}

llmux_status lx_srv_fail(llmux_error_info *err, const char *fmt, ...) {
    if (err) {
        memset(err, 0, sizeof *err);
        err->status = LLMUX_E_INVALID_REQUEST;
        err->retry_after_ms = -1;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return LLMUX_E_INVALID_REQUEST;
}

/* Nesting deeper than the cap is refused before jansson builds it: jansson's own limit is
 * 2048 levels, far more than any real request needs. Strings are skipped so brackets in them do
 * not count. */
static bool depth_ok(const char *s, size_t len) {
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > LX_SRV_MAX_JSON_DEPTH) return false;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return true;
}

json_t *lx_srv_parse_object(const char *body, size_t len, llmux_error_info *err) {
    if (!depth_ok(body, len)) {
        lx_srv_fail(err, "body: JSON nested deeper than %d levels", LX_SRV_MAX_JSON_DEPTH);
        return NULL;
    }
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        lx_srv_fail(err, "body: invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        lx_srv_fail(err, "body: expected a JSON object");
        return NULL;
    }
    return root;
}

bool lx_srv_opt_number(const json_t *obj, const char *name, double lo, double hi, double *out, llmux_error_info *err) {
    json_t *v = json_object_get(obj, name);
    if (!v || json_is_null(v)) return true;
    if (!json_is_number(v)) return lx_srv_fail(err, "%s: expected a number", name), false;
    double d = json_number_value(v);
    if (!isfinite(d) || d < lo || d > hi) return lx_srv_fail(err, "%s: must be in [%g, %g]", name, lo, hi), false;
    *out = d;
    return true;
}

bool lx_srv_opt_int(const json_t *obj, const char *name, int64_t lo, int64_t hi, int64_t *out, llmux_error_info *err) {
    json_t *v = json_object_get(obj, name);
    if (!v || json_is_null(v)) return true;
    if (!json_is_integer(v)) return lx_srv_fail(err, "%s: expected an integer", name), false;
    json_int_t i = json_integer_value(v);
    if (i < lo || i > hi)
        return lx_srv_fail(err, "%s: must be in [%lld, %lld]", name, (long long)lo, (long long)hi), false;
    *out = i;
    return true;
}

bool lx_srv_opt_bool(const json_t *obj, const char *name, bool *out, llmux_error_info *err) {
    json_t *v = json_object_get(obj, name);
    if (!v || json_is_null(v)) return true;
    if (!json_is_boolean(v)) return lx_srv_fail(err, "%s: expected true or false", name), false;
    *out = json_is_true(v);
    return true;
}

bool lx_srv_opt_string(const json_t *obj, const char *name, const char **out, llmux_error_info *err) {
    *out = NULL;
    json_t *v = json_object_get(obj, name);
    if (!v || json_is_null(v)) return true;
    if (!json_is_string(v)) return lx_srv_fail(err, "%s: expected a string", name), false;
    *out = json_string_value(v);
    return true;
}

bool lx_srv_stop_list(lx_srv_req *r, const json_t *root, const char *field, bool string_ok, llmux_error_info *err) {
    json_t *st = json_object_get(root, field);
    if (!st || json_is_null(st)) return true;
    if (!json_is_array(st) && !(string_ok && json_is_string(st)))
        return lx_srv_fail(err, "%s: expected %s", field, string_ok ? "a string or an array of strings" : "an array of strings"),
               false;
    size_t n = json_is_string(st) ? 1 : json_array_size(st);
    if (n > LX_SRV_MAX_STOP) return lx_srv_fail(err, "%s: more than %d sequences", field, LX_SRV_MAX_STOP), false;
    const char **out = lx_srv_alloc(r, (n ? n : 1) * sizeof *out);
    if (!out) return lx_srv_fail(err, "out of memory"), false;
    for (size_t i = 0; i < n; i++) {
        out[i] = json_is_string(st) ? json_string_value(st) : json_string_value(json_array_get(st, i));
        if (!out[i] || !*out[i]) return lx_srv_fail(err, "%s[%zu]: expected a non-empty string", field, i), false;
    }
    r->req.sampling.stop = out;
    r->req.sampling.n_stop = n;
    return true;
}

bool lx_srv_stream_options(lx_srv_req *r, const json_t *root, llmux_error_info *err) {
    json_t *so = json_object_get(root, "stream_options");
    if (!so || json_is_null(so)) return true;
    if (!json_is_object(so)) return lx_srv_fail(err, "stream_options: expected an object"), false;
    return lx_srv_opt_bool(so, "include_usage", &r->include_usage, err);
}

lx_srv_req *lx_srv_req_begin(const char *body, size_t len, llmux_error_info *err) {
    lx_srv_req *r = calloc(1, sizeof *r);
    if (!r) {
        lx_srv_fail(err, "out of memory");
        return NULL;
    }
    r->req = llmux_request_default();
    if (!(r->root = lx_srv_parse_object(body, len, err)) || !lx_srv_opt_string(r->root, "model", &r->req.model, err))
        goto fail;
    if (!r->req.model || !*r->req.model) {
        lx_srv_fail(err, "model: required");
        goto fail;
    }
    return r;
fail:
    lx_srv_req_free(r);
    return NULL;
}

bool lx_srv_effort(const char *s, llmux_reasoning_effort *out) {
    if (!s) return false;
    if (strcmp(s, "none") == 0 || strcmp(s, "minimal") == 0) *out = LLMUX_REASONING_NONE;
    else if (strcmp(s, "low") == 0) *out = LLMUX_REASONING_LOW;
    else if (strcmp(s, "medium") == 0) *out = LLMUX_REASONING_MEDIUM;
    else if (strcmp(s, "high") == 0 || strcmp(s, "xhigh") == 0) *out = LLMUX_REASONING_HIGH;
    else return false;
    return true;
}

bool lx_srv_image_url(lx_srv_req *r, const char *url, const char *where, llmux_part *p, llmux_error_info *err) {
    p->type = LLMUX_PART_IMAGE;
    if (strncmp(url, "data:", 5) != 0) {
        p->image_url = url;
        return true;
    }
    const char *semi = strstr(url, ";base64,");
    if (!semi || semi == url + 5)
        return lx_srv_fail(err, "%s: a data URL must be data:<mime>;base64,<data>", where), false;
    p->mime_type = lx_srv_strdup(r, url + 5, (size_t)(semi - (url + 5)));
    p->data = semi + 8;
    return p->mime_type != NULL || (lx_srv_fail(err, "out of memory"), false);
}

/* OpenAI's explicit breakpoint (gpt-5.6 and later): {mode: "explicit", ttl: "30m" | "12h"}. Its
 * default lifetime (30 minutes) becomes llmux's default one, 12 hours the hour. */
static bool prompt_cache_breakpoint(const json_t *obj, const char *where, llmux_cache *out, llmux_error_info *err) {
    json_t *pb = json_object_get(obj, "prompt_cache_breakpoint");
    if (!pb || json_is_null(pb)) return true;
    json_t *mode = json_object_get(pb, "mode"), *ttl = json_object_get(pb, "ttl");
    const char *m = json_string_value(mode), *t = json_string_value(ttl);
    if (!json_is_object(pb) || (mode && (!m || strcmp(m, "explicit") != 0)) || (ttl && !json_is_null(ttl) && !t) ||
        (t && strcmp(t, "30m") != 0 && strcmp(t, "12h") != 0))
        return lx_srv_fail(err, "%s.prompt_cache_breakpoint: expected {\"mode\": \"explicit\"} with an optional ttl "
                                "\"30m\" or \"12h\"",
                           where),
               false;
    llmux_cache k = t && strcmp(t, "12h") == 0 ? LLMUX_CACHE_1H : LLMUX_CACHE_5M;
    if (k > *out) *out = k;
    return true;
}

bool lx_srv_cache_control(const json_t *obj, const char *where, llmux_cache *out, llmux_error_info *err) {
    if (!prompt_cache_breakpoint(obj, where, out, err)) return false;
    json_t *cc = json_object_get(obj, "cache_control");
    if (!cc || json_is_null(cc)) return true;
    const char *type = json_string_value(json_object_get(cc, "type"));
    json_t *ttl = json_object_get(cc, "ttl");
    const char *t = json_string_value(ttl);
    if (!json_is_object(cc) || !type || strcmp(type, "ephemeral") != 0 || (ttl && !json_is_null(ttl) && !t) ||
        (t && strcmp(t, "5m") != 0 && strcmp(t, "1h") != 0))
        return lx_srv_fail(err, "%s.cache_control: expected {\"type\": \"ephemeral\"} with an optional ttl \"5m\" or \"1h\"",
                           where),
               false;
    llmux_cache k = t && strcmp(t, "1h") == 0 ? LLMUX_CACHE_1H : LLMUX_CACHE_5M;
    if (k > *out) *out = k;
    return true;
}

bool lx_srv_file(lx_srv_req *r, const json_t *f, const char *where, llmux_part *p, llmux_error_info *err) {
    const char *data = json_string_value(json_object_get(f, "file_data"));
    const char *url = json_string_value(json_object_get(f, "file_url"));
    if (!data && !url && json_object_get(f, "file_id"))
        return lx_srv_fail(err, "%s.file_id: uploaded files are not supported: send file_data (a base64 data URL)", where),
               false;
    if (!data && !url) return lx_srv_fail(err, "%s: expected file_data (a base64 data URL) or file_url", where), false;
    char w[160];
    snprintf(w, sizeof w, "%s.file_data", where);
    if (data && strncmp(data, "data:", 5) != 0)
        return lx_srv_fail(err, "%s: expected data:<mime>;base64,<data>", w), false;
    if (data && !lx_srv_image_url(r, data, w, p, err)) return false;
    if (!data) p->image_url = url;
    p->type = LLMUX_PART_FILE;
    return lx_srv_opt_string(f, "filename", &p->name, err);
}

bool lx_srv_tag(lx_srv_req *r, const char *key, const char *value) {
    llmux_kv *kv = lx_srv_alloc(r, (r->req.n_metadata + 1) * sizeof *kv);
    char *v = lx_srv_strdup(r, value, strlen(value));
    if (!kv || !v) return false;
    if (r->req.n_metadata) memcpy(kv, r->req.metadata, r->req.n_metadata * sizeof *kv);
    kv[r->req.n_metadata++] = (llmux_kv){.key = key, .value = v};
    r->req.metadata = kv;
    return true;
}

bool lx_srv_vendor_sampling(lx_srv_req *r, llmux_error_info *err) {
    llmux_sampling *s = &r->req.sampling;
    int64_t top_k = -1;
    double rp = llmux_unset(), rp2 = llmux_unset();
    if (!lx_srv_opt_int(r->root, "top_k", -1, INT32_MAX, &top_k, err) ||
        !lx_srv_opt_number(r->root, "min_p", 0, 1, &s->min_p, err) ||
        !lx_srv_opt_number(r->root, "repetition_penalty", 0, 10, &rp, err) ||
        !lx_srv_opt_number(r->root, "repeat_penalty", 0, 10, &rp2, err))
        return false;
    if (top_k > 0) s->top_k = (int32_t)top_k;
    const char *rp_name = llmux_is_unset(rp) ? "repeat_penalty" : "repetition_penalty";
    if (llmux_is_unset(rp)) rp = rp2; /* vLLM's name wins when both are sent */
    if (!llmux_is_unset(rp) && rp <= 0) return lx_srv_fail(err, "%s: expected a number > 0", rp_name), false;
    s->repeat_penalty = rp;
    return true;
}

bool lx_srv_chat_extras(lx_srv_req *r, const char *const *known, llmux_error_info *err) {
    json_t *extras = NULL;
    const char *k;
    json_t *v;
    json_object_foreach(r->root, k, v) {
        bool seen = false;
        for (size_t i = 0; known[i] && !seen; i++) seen = strcmp(k, known[i]) == 0;
        if (seen || json_is_null(v)) continue;
        if (!extras && !(extras = json_object())) return lx_srv_fail(err, "out of memory"), false;
        if (json_object_size(extras) >= LX_SRV_MAX_EXTRAS) {
            json_decref(extras);
            return lx_srv_fail(err, "more than %d fields this server does not read (passed on to the backend)",
                               LX_SRV_MAX_EXTRAS),
                   false;
        }
        json_object_set(extras, k, v);
    }
    return !extras || lx_srv_option_set(r, "openai_chat", NULL, extras, err);
}

bool lx_srv_option_set(lx_srv_req *r, const char *provider, const char *key, json_t *value, llmux_error_info *err) {
    const char *po = r->req.provider_options;
    json_t *opts = po ? json_loads(po, 0, NULL) : json_object();
    json_t *at = opts;
    if (opts && key) {
        at = json_object_get(opts, provider);
        if (!json_is_object(at) && json_object_set_new(opts, provider, at = json_object()) != 0) at = NULL;
    }
    bool ok = at && json_object_set_new(at, key ? key : provider, value) == 0;
    if (!at) json_decref(value);
    const char *text = ok ? lx_srv_dump(r, opts) : NULL;
    json_decref(opts);
    if (!text) return lx_srv_fail(err, "out of memory"), false;
    r->req.provider_options = text;
    return true;
}

bool lx_srv_openai_tags(lx_srv_req *r, llmux_error_info *err) {
    static const struct {
        const char *name;
        size_t max;
    } fields[] = {{"prompt_cache_key", 1024}, {"safety_identifier", 256}, {"user", 256}, {"service_tier", 32}};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        const char *v = NULL;
        if (!lx_srv_opt_string(r->root, fields[i].name, &v, err)) return false;
        if (!v) continue;
        if (!*v || strlen(v) > fields[i].max)
            return lx_srv_fail(err, "%s: expected 1..%zu characters", fields[i].name, fields[i].max), false;
        if (!lx_srv_tag(r, fields[i].name, v)) return lx_srv_fail(err, "out of memory"), false;
    }
    return true;
}
