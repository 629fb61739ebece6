/* providers: and models: (aliases with targets, weights, per-target params, retry, fallback_on). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "config/internal.h"
#include "core/json.h"

#define MAX_PROVIDERS 256
#define MAX_ALIASES 4096
#define MAX_TARGETS 64
#define MAX_WEIGHT 1000000
#define MAX_ATTEMPTS 100
#define MAX_BACKOFF_MS 3600000
#define MAX_STOPS 16

const char *const lx_cfg_builtin_providers[] = {"openai", "anthropic", "gemini", "openrouter", "ollama",
                                                "openai-responses", NULL};
static const char *const k_protocols[] = {"openai", "anthropic", "gemini", "ollama", "openai_responses", NULL};

bool lx_cfg_builtin_provider(const char *name) {
    for (size_t i = 0; lx_cfg_builtin_providers[i]; i++)
        if (strcmp(name, lx_cfg_builtin_providers[i]) == 0) return true;
    return false;
}

/* ------------------------------------------------------------ providers */

/* The prefix of model names: lower-case letters, digits, '.', '_', '-'. */
static bool provider_name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 64 || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0]))) return false;
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && !strchr("._-", s[i])) return false;
    return true;
}

static bool parse_provider(lx_cfg_ctx *c, const lx_ynode *key, const lx_ynode *n, llmux_provider_params *p,
                           lx_cfg_provider_meta *meta) {
    static const char *const keys[] = {"protocol", "base_url", "api_key", "http_referer", "app_title", NULL};
    const char *name = key->str;
    if (!provider_name_ok(name))
        return lx_cfg_fail(c, key, "a provider name is lower-case letters, digits, '.', '_' or '-' (at most 64)");
    if (strcmp(name, "local") == 0) return lx_cfg_fail(c, key, "\"local\" names local models, not a provider");
    if (!lx_cfg_check_map(c, n, keys, "a mapping (protocol, base_url, api_key, http_referer, app_title)")) return false;
    if (!(p->name = lx_arena_strdup(&c->cfg->arena, name))) return lx_cfg_oom(c);
    const lx_ynode *v;
    if ((v = lx_ymap_get(n, "protocol", NULL))) {
        size_t old = lx_cpath_key(&c->path, "protocol");
        const char *s;
        if (!lx_cfg_string(c, v, &s)) return false;
        size_t i = 0;
        while (k_protocols[i] && strcmp(k_protocols[i], s) != 0) i++;
        if (!k_protocols[i]) {
            const char *hint = lx_cfg_suggest(s, k_protocols, 4);
            if (hint) return lx_cfg_fail(c, v, "unknown protocol \"%.64s\" (did you mean \"%s\"?)", s, hint);
            return lx_cfg_fail(c, v, "unknown protocol \"%.64s\" (openai, anthropic, gemini or ollama)", s);
        }
        p->protocol = k_protocols[i];
        lx_cpath_pop(&c->path, old);
    }
    if ((v = lx_ymap_get(n, "base_url", NULL))) {
        size_t old = lx_cpath_key(&c->path, "base_url");
        if (!lx_cfg_string_env(c, v, true, &p->base_url, &meta->base_url_env)) return false;
        /* Not quoted: a URL may carry credentials. */
        if (strncmp(p->base_url, "http://", 7) != 0 && strncmp(p->base_url, "https://", 8) != 0)
            return lx_cfg_fail(c, v, "expected a URL starting with http:// or https://");
        lx_cpath_pop(&c->path, old);
    }
    if ((v = lx_ymap_get(n, "api_key", NULL))) {
        size_t old = lx_cpath_key(&c->path, "api_key");
        if (v->kind == LX_YN_SCALAR && strcmp(v->str, "none") == 0 && v->plain) {
            meta->key_source = LX_CFG_KEY_NONE;
        } else {
            if (!lx_cfg_string_env(c, v, true, &p->api_key, &meta->key_env)) return false;
            if (!*p->api_key) return lx_cfg_fail(c, v, "empty key (write none for a server without a key)");
            meta->key_source = meta->key_env ? LX_CFG_KEY_ENV : LX_CFG_KEY_FILE;
        }
        lx_cpath_pop(&c->path, old);
    }
    if ((v = lx_ymap_get(n, "http_referer", NULL))) LX_CFG_WITH_KEY(c, "http_referer", lx_cfg_string_env(c, v, false, &p->http_referer, NULL));
    if ((v = lx_ymap_get(n, "app_title", NULL))) LX_CFG_WITH_KEY(c, "app_title", lx_cfg_string_env(c, v, false, &p->app_title, NULL));
    if (!lx_cfg_builtin_provider(name) && !p->base_url) {
        const char *hint = lx_cfg_suggest(name, lx_cfg_builtin_providers, 6);
        if (hint) return lx_cfg_fail(c, key, "not a built-in provider (did you mean \"%s\"?); a new one needs base_url", hint);
        return lx_cfg_fail(c, key, "base_url is required for a provider that is not built in "
                                   "(openai, openai-responses, anthropic, gemini, openrouter, ollama)");
    }
    return true;
}

bool lx_cfg_parse_providers(lx_cfg_ctx *c, const lx_ynode *n) {
    if (n->kind != LX_YN_MAP) return lx_cfg_fail(c, n, "expected a mapping of provider names to their settings");
    if (n->n > MAX_PROVIDERS) return lx_cfg_fail(c, n, "more than %d providers", MAX_PROVIDERS);
    lx_config *cfg = c->cfg;
    size_t cap = n->n ? n->n : 1;
    cfg->providers = lx_arena_alloc(&cfg->arena, cap * sizeof *cfg->providers);
    cfg->provider_meta = lx_arena_alloc(&cfg->arena, cap * sizeof *cfg->provider_meta);
    if (!cfg->providers || !cfg->provider_meta) return lx_cfg_oom(c);
    for (size_t i = 0; i < n->n; i++) {
        LX_CFG_WITH_KEY(c, n->keys[i]->str,
                 parse_provider(c, n->keys[i], n->items[i], &cfg->providers[i], &cfg->provider_meta[i]));
        cfg->n_providers++;
    }
    return true;
}

/* -------------------------------------------------------------- aliases */

static bool is_provider(const lx_config *cfg, const char *name, size_t len) {
    for (size_t i = 0; lx_cfg_builtin_providers[i]; i++)
        if (strlen(lx_cfg_builtin_providers[i]) == len && memcmp(lx_cfg_builtin_providers[i], name, len) == 0) return true;
    for (size_t i = 0; i < cfg->n_providers; i++)
        if (strlen(cfg->providers[i].name) == len && memcmp(cfg->providers[i].name, name, len) == 0) return true;
    return false;
}

/* A local model path as `llmux run -m` reads one: "/x", "./x", "../x", "x.gguf". */
static bool is_path(const char *m) {
    size_t n = strlen(m);
    return m[0] == '/' || m[0] == '.' || (n > 5 && strcmp(m + n - 5, ".gguf") == 0);
}

static bool alias_name_ok(lx_cfg_ctx *c, const lx_ynode *key) {
    const char *s = key->str;
    size_t n = strlen(s);
    if (n == 0 || n > 128) return lx_cfg_fail(c, key, "an alias name has 1 to 128 characters");
    if (strchr(s, '/'))
        return lx_cfg_fail(c, key, "an alias name cannot contain '/' (names with '/' are PROVIDER/MODEL)");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
            return lx_cfg_fail(c, key, "an alias name cannot contain spaces or control characters");
    if (is_path(s)) return lx_cfg_fail(c, key, "an alias name cannot look like a model file (a leading '.' or .gguf)");
    if (strcmp(s, "local") == 0 || is_provider(c->cfg, s, n))
        return lx_cfg_fail(c, key, "\"%s\" is a provider name; an alias needs a name of its own", s);
    return true;
}

/* Every alias name (to say "aliases do not nest" for a target naming one). */
static bool names_alias(const lx_ynode *models, const char *s) { return lx_ymap_get(models, s, NULL) != NULL; }

static bool target_model(lx_cfg_ctx *c, const lx_ynode *n, const lx_ynode *models, const char **out) {
    const char *m;
    if (!lx_cfg_string(c, n, &m)) return false;
    if (is_path(m) || strncmp(m, "local/", 6) == 0) {
        if (strncmp(m, "local/", 6) == 0 && !m[6]) return lx_cfg_fail(c, n, "local/ needs a model name");
        *out = m;
        return true;
    }
    const char *slash = strchr(m, '/');
    if (!slash) {
        if (names_alias(models, m))
            return lx_cfg_fail(c, n, "\"%.64s\" is an alias; targets name PROVIDER/MODEL (aliases do not nest)", m);
        return lx_cfg_fail(c, n, "expected PROVIDER/MODEL (e.g. openai/gpt-4o), local/NAME or a .gguf path, got \"%.64s\"", m);
    }
    size_t pl = (size_t)(slash - m);
    if (!slash[1]) return lx_cfg_fail(c, n, "no model name after \"%.*s/\"", (int)(pl > 64 ? 64 : pl), m);
    if (!is_provider(c->cfg, m, pl)) {
        char prefix[65];
        snprintf(prefix, sizeof prefix, "%.*s", (int)(pl > 64 ? 64 : pl), m);
        const char *names[MAX_PROVIDERS + 8];
        size_t k = 0;
        for (size_t i = 0; lx_cfg_builtin_providers[i]; i++) names[k++] = lx_cfg_builtin_providers[i];
        for (size_t i = 0; i < c->cfg->n_providers; i++) names[k++] = c->cfg->providers[i].name;
        const char *hint = lx_cfg_suggest(prefix, names, k);
        if (hint) return lx_cfg_fail(c, n, "unknown provider \"%s\" (did you mean \"%s\"?)", prefix, hint);
        return lx_cfg_fail(c, n, "unknown provider \"%s\" (built in: openai, openai-responses, anthropic, gemini, "
                                 "openrouter, ollama; others go under providers:)", prefix);
    }
    *out = m;
    return true;
}

/* A YAML value as JSON for provider_options: plain numbers and booleans keep their type, other
 * scalars are strings. Depth is bounded by the tree's cap. */
static bool to_json(lx_cfg_ctx *c, lx_jw *w, const lx_ynode *n) {
    int64_t i;
    double d;
    switch (n->kind) {
    case LX_YN_MAP:
        lx_jw_obj_begin(w);
        for (size_t k = 0; k < n->n; k++) {
            lx_jw_key(w, n->keys[k]->str);
            if (!to_json(c, w, n->items[k])) return false;
        }
        lx_jw_obj_end(w);
        return true;
    case LX_YN_SEQ:
        lx_jw_arr_begin(w);
        for (size_t k = 0; k < n->n; k++)
            if (!to_json(c, w, n->items[k])) return false;
        lx_jw_arr_end(w);
        return true;
    case LX_YN_SCALAR:
        if (lx_cfg_is_null(n)) lx_jw_null(w);
        else if (n->plain && (strcmp(n->str, "true") == 0 || strcmp(n->str, "false") == 0)) lx_jw_bool(w, n->str[0] == 't');
        else if (lx_cfg_scalar_int(n, &i)) lx_jw_int(w, i);
        else if (lx_cfg_scalar_number(n, &d)) lx_jw_real(w, d);
        else lx_jw_strn(w, n->str, n->len);
        return true;
    }
    return false;
}

/* Sampling fields of the canonical request (docs/canonical-json.md), written with their
 * canonical names: the runtime merges the object into the request for this target. */
static const char *const k_params[] = {"temperature",      "top_p",           "top_k",          "min_p",
                                       "max_tokens",       "stop",            "seed",           "presence_penalty",
                                       "frequency_penalty", "repeat_penalty", "provider_options", NULL};

static bool param(lx_cfg_ctx *c, lx_jw *w, const char *key, const lx_ynode *v) {
    double d;
    int64_t i;
    lx_jw_key(w, key);
    if (strcmp(key, "temperature") == 0) {
        if (!lx_cfg_number(c, v, 0, false, 1e6, "a number >= 0", &d)) return false;
        lx_jw_real(w, d);
    } else if (strcmp(key, "top_p") == 0) {
        if (!lx_cfg_number(c, v, 0, true, 1, "a number in (0, 1]", &d)) return false;
        lx_jw_real(w, d);
    } else if (strcmp(key, "min_p") == 0) {
        if (!lx_cfg_number(c, v, 0, false, 1, "a number in [0, 1]", &d)) return false;
        lx_jw_real(w, d);
    } else if (strcmp(key, "presence_penalty") == 0 || strcmp(key, "frequency_penalty") == 0) {
        if (!lx_cfg_number(c, v, -2, false, 2, "a number in [-2, 2]", &d)) return false;
        lx_jw_real(w, d);
    } else if (strcmp(key, "repeat_penalty") == 0) {
        if (!lx_cfg_number(c, v, 0, true, 1e6, "a number > 0", &d)) return false;
        lx_jw_real(w, d);
    } else if (strcmp(key, "top_k") == 0 || strcmp(key, "max_tokens") == 0) {
        if (!lx_cfg_int(c, v, 1, INT32_MAX, "a positive integer", &i)) return false;
        lx_jw_int(w, i);
    } else if (strcmp(key, "seed") == 0) {
        if (!lx_cfg_int(c, v, 0, INT64_MAX, "an integer >= 0", &i)) return false;
        lx_jw_int(w, i);
    } else if (strcmp(key, "stop") == 0) {
        const lx_ynode *one = v;
        size_t n = 1;
        if (v->kind == LX_YN_SEQ) {
            n = v->n;
            if (n == 0 || n > MAX_STOPS) return lx_cfg_fail(c, v, "expected 1 to %d stop sequences", MAX_STOPS);
        }
        lx_jw_arr_begin(w);
        for (size_t k = 0; k < n; k++) {
            const lx_ynode *s = v->kind == LX_YN_SEQ ? v->items[k] : one;
            size_t old = v->kind == LX_YN_SEQ ? lx_cpath_index(&c->path, k) : c->path.len;
            const char *text;
            if (!lx_cfg_string(c, s, &text)) return false;
            if (!*text) return lx_cfg_fail(c, s, "a stop sequence cannot be empty");
            lx_jw_str(w, text);
            lx_cpath_pop(&c->path, old);
        }
        lx_jw_arr_end(w);
    } else { /* provider_options */
        if (v->kind != LX_YN_MAP)
            return lx_cfg_fail(c, v, "expected a mapping keyed by provider, e.g. {openai: {store: false}}");
        if (!to_json(c, w, v)) return false;
    }
    return true;
}

static bool parse_params(lx_cfg_ctx *c, const lx_ynode *n, const char **out) {
    if (!lx_cfg_check_map(c, n, k_params, "a mapping of request fields (temperature, max_tokens, ...)")) return false;
    if (n->n == 0) return true;
    lx_jw w;
    lx_jw_init(&w);
    lx_jw_obj_begin(&w);
    bool ok = true;
    for (size_t i = 0; i < n->n && ok; i++) {
        size_t old = lx_cpath_key(&c->path, n->keys[i]->str);
        ok = param(c, &w, n->keys[i]->str, n->items[i]);
        lx_cpath_pop(&c->path, old);
    }
    lx_jw_obj_end(&w);
    char *json = lx_jw_finish(&w);
    if (!ok) {
        free(json);
        return false;
    }
    if (!json) return lx_cfg_oom(c);
    /* The runtime reads this text as canonical request JSON: prove here that it does. */
    llmux_request *req = NULL;
    llmux_error_info e;
    llmux_status st = llmux_request_from_json(json, strlen(json), &req, &e);
    llmux_request_free(req);
    if (st == LLMUX_OK) *out = lx_arena_strdup(&c->cfg->arena, json);
    free(json);
    if (st != LLMUX_OK) return lx_cfg_fail(c, n, "%s", e.message);
    return *out ? true : lx_cfg_oom(c);
}

static bool parse_target(lx_cfg_ctx *c, const lx_ynode *n, const lx_ynode *models, llmux_alias_target *t) {
    if (n->kind == LX_YN_SCALAR) return target_model(c, n, models, &t->model);
    static const char *const keys[] = {"model", "weight", "params", NULL};
    if (!lx_cfg_check_map(c, n, keys, "PROVIDER/MODEL or a mapping (model, weight, params)")) return false;
    const lx_ynode *v = lx_ymap_get(n, "model", NULL);
    if (!v) return lx_cfg_fail(c, n, "model is required");
    LX_CFG_WITH_KEY(c, "model", target_model(c, v, models, &t->model));
    if ((v = lx_ymap_get(n, "weight", NULL))) {
        int64_t wt;
        LX_CFG_WITH_KEY(c, "weight", lx_cfg_int(c, v, 1, MAX_WEIGHT, "a positive integer", &wt));
        t->weight = (uint32_t)wt;
    }
    if ((v = lx_ymap_get(n, "params", NULL))) LX_CFG_WITH_KEY(c, "params", parse_params(c, v, &t->overrides));
    return true;
}

static bool parse_retry(lx_cfg_ctx *c, const lx_ynode *n, llmux_retry_policy *r) {
    static const char *const keys[] = {"attempts", "backoff_ms", "max_backoff_ms", NULL};
    if (!lx_cfg_check_map(c, n, keys, "a mapping (attempts, backoff_ms, max_backoff_ms)")) return false;
    const lx_ynode *v;
    int64_t x;
    if ((v = lx_ymap_get(n, "attempts", NULL))) {
        LX_CFG_WITH_KEY(c, "attempts", lx_cfg_int(c, v, 1, MAX_ATTEMPTS, "an integer in [1, 100] (1 = no retry)", &x));
        r->attempts = (int32_t)x;
    }
    if ((v = lx_ymap_get(n, "backoff_ms", NULL))) {
        LX_CFG_WITH_KEY(c, "backoff_ms", lx_cfg_int(c, v, 1, MAX_BACKOFF_MS, "a positive integer (milliseconds, at most 1 h)", &x));
        r->backoff_ms = x;
    }
    if ((v = lx_ymap_get(n, "max_backoff_ms", NULL))) {
        LX_CFG_WITH_KEY(c, "max_backoff_ms",
                 lx_cfg_int(c, v, 1, MAX_BACKOFF_MS, "a positive integer (milliseconds, at most 1 h)", &x) &&
                     (x >= (r->backoff_ms ? r->backoff_ms : 1) ||
                      lx_cfg_fail(c, v, "smaller than backoff_ms (%lld)", (long long)r->backoff_ms)));
        r->max_backoff_ms = x;
    }
    return true;
}

static bool parse_fallback_on(lx_cfg_ctx *c, const lx_ynode *n, llmux_alias *a) {
    if (n->kind != LX_YN_SEQ) return lx_cfg_fail(c, n, "expected a sequence of error classes, e.g. [rate_limited, overloaded]");
    if (n->n == 0) return lx_cfg_fail(c, n, "an empty list; leave fallback_on out for the default (the retryable classes)");
    if (n->n >= LLMUX_STATUS_COUNT) return lx_cfg_fail(c, n, "more classes than there are (%d)", LLMUX_STATUS_COUNT - 1);
    llmux_status *out = lx_arena_alloc(&c->cfg->arena, n->n * sizeof *out);
    if (!out) return lx_cfg_oom(c);
    const char *names[LLMUX_STATUS_COUNT];
    for (int i = 1; i < LLMUX_STATUS_COUNT; i++) names[i - 1] = llmux_status_name((llmux_status)i);
    for (size_t i = 0; i < n->n; i++) {
        size_t old = lx_cpath_index(&c->path, i);
        const char *s;
        if (!lx_cfg_string(c, n->items[i], &s)) return false;
        llmux_status st;
        if (!llmux_status_from_name(s, &st) || st == LLMUX_OK) {
            const char *hint = lx_cfg_suggest(s, names, LLMUX_STATUS_COUNT - 1);
            if (hint) return lx_cfg_fail(c, n->items[i], "unknown error class \"%.64s\" (did you mean \"%s\"?)", s, hint);
            return lx_cfg_fail(c, n->items[i], "unknown error class \"%.64s\" (docs/errors.md lists them)", s);
        }
        for (size_t j = 0; j < i; j++)
            if (out[j] == st) return lx_cfg_fail(c, n->items[i], "\"%s\" is listed twice", s);
        out[i] = st;
        lx_cpath_pop(&c->path, old);
    }
    a->fallback_on = out;
    a->n_fallback_on = n->n;
    return true;
}

static bool parse_alias(lx_cfg_ctx *c, const lx_ynode *key, const lx_ynode *n, const lx_ynode *models, llmux_alias *a) {
    static const char *const keys[] = {"targets", "retry", "fallback_on", NULL};
    if (!alias_name_ok(c, key)) return false;
    if (!lx_cfg_check_map(c, n, keys, "a mapping (targets, retry, fallback_on)")) return false;
    if (!(a->name = lx_arena_strdup(&c->cfg->arena, key->str))) return lx_cfg_oom(c);
    const lx_ynode *t = lx_ymap_get(n, "targets", NULL);
    if (!t) return lx_cfg_fail(c, n, "targets is required (a list of PROVIDER/MODEL)");
    size_t old = lx_cpath_key(&c->path, "targets");
    if (t->kind != LX_YN_SEQ) return lx_cfg_fail(c, t, "expected a sequence of targets, e.g. [openai/gpt-4o]");
    if (t->n == 0) return lx_cfg_fail(c, t, "no targets: an alias needs at least one");
    if (t->n > MAX_TARGETS) return lx_cfg_fail(c, t, "more than %d targets", MAX_TARGETS);
    llmux_alias_target *targets = lx_arena_alloc(&c->cfg->arena, t->n * sizeof *targets);
    if (!targets) return lx_cfg_oom(c);
    for (size_t i = 0; i < t->n; i++) {
        size_t o = lx_cpath_index(&c->path, i);
        if (!parse_target(c, t->items[i], models, &targets[i])) return false;
        lx_cpath_pop(&c->path, o);
    }
    lx_cpath_pop(&c->path, old);
    a->targets = targets;
    a->n_targets = t->n;
    const lx_ynode *v;
    if ((v = lx_ymap_get(n, "retry", NULL))) LX_CFG_WITH_KEY(c, "retry", parse_retry(c, v, &a->retry));
    if ((v = lx_ymap_get(n, "fallback_on", NULL))) LX_CFG_WITH_KEY(c, "fallback_on", parse_fallback_on(c, v, a));
    return true;
}

bool lx_cfg_parse_models(lx_cfg_ctx *c, const lx_ynode *n) {
    if (n->kind != LX_YN_MAP) return lx_cfg_fail(c, n, "expected a mapping of alias names to {targets, ...}");
    if (n->n > MAX_ALIASES) return lx_cfg_fail(c, n, "more than %d aliases", MAX_ALIASES);
    lx_config *cfg = c->cfg;
    cfg->aliases = lx_arena_alloc(&cfg->arena, (n->n ? n->n : 1) * sizeof *cfg->aliases);
    if (!cfg->aliases) return lx_cfg_oom(c);
    for (size_t i = 0; i < n->n; i++) {
        LX_CFG_WITH_KEY(c, n->keys[i]->str, parse_alias(c, n->keys[i], n->items[i], n, &cfg->aliases[i]));
        cfg->n_aliases++;
    }
    return true;
}
