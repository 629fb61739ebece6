/* server.keys, server.cors_origins and server.limits of llmux.yaml (docs/configuration.md,
 * docs/server.md). A key is read (from the file or env:VAR), hashed and its copy wiped here, so
 * a loaded config never holds an API key's plaintext. */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include <string.h>

#include "config/internal.h"

#define MAX_NAME 64
#define MAX_PATTERN 256
#define MAX_ORIGIN 256
#define MAX_BUDGET_USD 1e9
#define MAX_RPM 1000000
#define MAX_STREAMS 100000

static bool name_ok(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n > MAX_NAME) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
              *s == '_' || *s == '-'))
            return false;
    return true;
}

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* key: the plaintext (file or env:VAR) → its digest; the arena copy is wiped at once. */
static bool key_plain(lx_cfg_ctx *c, const lx_ynode *v, unsigned char out[32]) {
    const char *s, *env;
    if (!lx_cfg_string_env(c, v, true, &s, &env)) return false;
    size_t n = strlen(s);
    bool ok = n >= LX_CONFIG_KEY_MIN_BYTES && n <= LX_CONFIG_KEY_MAX_BYTES;
    if (ok) lx_sha256(s, n, out);
    explicit_bzero((char *)s, n);
    /* A key written in the file also sits in the parsed tree (released after the load): wiped
     * there too. (The environment keeps its variable: it is the process's, not ours to change.) */
    if (!env) explicit_bzero((char *)v->str, v->len);
    if (!ok)
        return lx_cfg_fail(c, v, "a key must be %d..%d bytes long (a short key can be guessed)", LX_CONFIG_KEY_MIN_BYTES,
                           LX_CONFIG_KEY_MAX_BYTES);
    return true;
}

static bool key_digest(lx_cfg_ctx *c, const lx_ynode *v, unsigned char out[32]) {
    const char *s;
    if (!lx_cfg_string(c, v, &s)) return false;
    if (strlen(s) != 64) return lx_cfg_fail(c, v, "expected 64 hex digits (sha256sum of the key)");
    for (int i = 0; i < 32; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return lx_cfg_fail(c, v, "expected 64 hex digits (sha256sum of the key)");
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

/* A sequence of 1..max non-empty strings of at most max_len bytes, into an arena array. */
static bool string_list(lx_cfg_ctx *c, const lx_ynode *v, size_t max, size_t max_len, const char *what,
                        const char ***out, size_t *n) {
    if (v->kind != LX_YN_SEQ) return lx_cfg_fail(c, v, "expected a sequence of %s", what);
    if (v->n > max) return lx_cfg_fail(c, v, "more than %zu entries", max);
    const char **a = lx_arena_alloc(&c->cfg->arena, (v->n ? v->n : 1) * sizeof *a);
    if (!a) return lx_cfg_oom(c);
    for (size_t i = 0; i < v->n; i++) {
        size_t old = lx_cpath_index(&c->path, i);
        const char *s;
        if (!lx_cfg_string(c, v->items[i], &s)) return false;
        if (!*s || strlen(s) > max_len) return lx_cfg_fail(c, v->items[i], "expected 1..%zu bytes", max_len);
        a[i] = s;
        lx_cpath_pop(&c->path, old);
    }
    *out = a;
    *n = v->n;
    return true;
}

const char *lx_budget_period_name(lx_budget_period p) {
    static const char *const names[] = {"total", "daily", "weekly", "monthly"};
    return (unsigned)p < sizeof names / sizeof names[0] ? names[p] : NULL;
}

static bool budget_period(lx_cfg_ctx *c, const lx_ynode *v, lx_budget_period *out) {
    const char *s, *name;
    if (!lx_cfg_string(c, v, &s)) return false;
    for (int i = 0; (name = lx_budget_period_name((lx_budget_period)i)) != NULL; i++)
        if (strcmp(s, name) == 0) return *out = (lx_budget_period)i, true;
    return lx_cfg_fail(c, v, "expected total, daily, weekly or monthly");
}

static bool parse_key(lx_cfg_ctx *c, const lx_ynode *n, lx_config_key *k) {
    static const char *const keys[] = {"name", "key", "key_sha256", "models", "budget_usd", "budget_period", "rpm", NULL};
    if (!lx_cfg_check_map(c, n, keys, "a mapping (name, key or key_sha256, models, budget_usd, budget_period, rpm)"))
        return false;
    const lx_ynode *v = lx_ymap_get(n, "name", NULL);
    if (!v) return lx_cfg_fail(c, n, "name is required (it identifies the key in records and logs)");
    LX_CFG_WITH_KEY(c, "name", lx_cfg_string(c, v, &k->name) &&
                                   (name_ok(k->name) || lx_cfg_fail(c, v, "expected 1..%d characters of A-Z a-z 0-9 . _ -", MAX_NAME)));
    const lx_ynode *plain = lx_ymap_get(n, "key", NULL), *digest = lx_ymap_get(n, "key_sha256", NULL);
    if (!plain == !digest) return lx_cfg_fail(c, n, "exactly one of key (e.g. env:ALICE_KEY) or key_sha256 is required");
    if (plain) LX_CFG_WITH_KEY(c, "key", key_plain(c, plain, k->sha256));
    else LX_CFG_WITH_KEY(c, "key_sha256", key_digest(c, digest, k->sha256));
    if ((v = lx_ymap_get(n, "models", NULL))) {
        const char **m = NULL;
        LX_CFG_WITH_KEY(c, "models", string_list(c, v, LX_CONFIG_MAX_KEY_MODELS, MAX_PATTERN, "model patterns", &m, &k->n_models) &&
                                         (k->n_models > 0 || lx_cfg_fail(c, v, "expected at least one model pattern (\"*\" = all)")));
        k->models = m;
    } else {
        static const char *const all[] = {"*"};
        k->models = all;
        k->n_models = 1;
    }
    k->budget_usd = -1;
    if ((v = lx_ymap_get(n, "budget_usd", NULL)))
        LX_CFG_WITH_KEY(c, "budget_usd", lx_cfg_number(c, v, 0, true, MAX_BUDGET_USD, "a positive number of US dollars", &k->budget_usd));
    if ((v = lx_ymap_get(n, "budget_period", NULL))) {
        if (k->budget_usd < 0) return lx_cfg_fail(c, v, "budget_period needs budget_usd");
        LX_CFG_WITH_KEY(c, "budget_period", budget_period(c, v, &k->budget_period));
    }
    if ((v = lx_ymap_get(n, "rpm", NULL)))
        LX_CFG_WITH_KEY(c, "rpm", lx_cfg_int(c, v, 1, MAX_RPM, "an integer in [1, 1000000] (requests per minute)", &k->rpm));
    return true;
}

static bool parse_keys(lx_cfg_ctx *c, const lx_ynode *n) {
    if (n->kind != LX_YN_SEQ) return lx_cfg_fail(c, n, "expected a sequence of keys ({name, key, models, ...})");
    if (n->n > LX_CONFIG_MAX_KEYS) return lx_cfg_fail(c, n, "more than %d keys", LX_CONFIG_MAX_KEYS);
    lx_config_key *keys = lx_arena_alloc(&c->cfg->arena, (n->n ? n->n : 1) * sizeof *keys);
    if (!keys) return lx_cfg_oom(c);
    for (size_t i = 0; i < n->n; i++) {
        size_t old = lx_cpath_index(&c->path, i);
        if (!parse_key(c, n->items[i], &keys[i])) return false;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(keys[j].name, keys[i].name) == 0)
                return lx_cfg_fail(c, n->items[i], "the name \"%s\" is used by keys[%zu] too", keys[i].name, j);
            if (memcmp(keys[j].sha256, keys[i].sha256, 32) == 0)
                return lx_cfg_fail(c, n->items[i], "the same key as keys[%zu] (\"%s\")", j, keys[j].name);
        }
        lx_cpath_pop(&c->path, old);
    }
    c->cfg->server.keys = keys;
    c->cfg->server.n_keys = n->n;
    return true;
}

/* "*" or scheme://host[:port], as browsers send Origin (no path, no trailing slash). */
static bool origin_ok(const char *s) {
    if (strcmp(s, "*") == 0) return true;
    const char *rest = strncmp(s, "https://", 8) == 0 ? s + 8 : strncmp(s, "http://", 7) == 0 ? s + 7 : NULL;
    if (!rest || !*rest) return false;
    for (; *rest; rest++)
        if (*rest == '/' || *rest == ' ' || *rest == ',' || (unsigned char)*rest < 0x21 || (unsigned char)*rest > 0x7e)
            return false;
    return true;
}

static bool parse_cors(lx_cfg_ctx *c, const lx_ynode *n) {
    const char **a = NULL;
    size_t k = 0;
    if (!string_list(c, n, LX_CONFIG_MAX_CORS_ORIGINS, MAX_ORIGIN, "origins (\"https://app.example\" or \"*\")", &a, &k))
        return false;
    for (size_t i = 0; i < k; i++)
        if (!origin_ok(a[i])) {
            size_t old = lx_cpath_index(&c->path, i);
            lx_cfg_fail(c, n->items[i], "expected \"*\" or an origin such as \"https://app.example\" (scheme://host[:port], no path)");
            lx_cpath_pop(&c->path, old);
            return false;
        }
    c->cfg->server.cors_origins = a;
    c->cfg->server.n_cors_origins = k;
    return true;
}

static bool parse_limits(lx_cfg_ctx *c, const lx_ynode *n) {
    static const char *const keys[] = {"max_body_bytes", "max_streams_per_key", "responses_store_mb", NULL};
    if (!lx_cfg_check_map(c, n, keys, "a mapping (max_body_bytes, max_streams_per_key, responses_store_mb)")) return false;
    const lx_ynode *v;
    if ((v = lx_ymap_get(n, "max_body_bytes", NULL)))
        LX_CFG_WITH_KEY(c, "max_body_bytes", lx_cfg_int(c, v, 1024, LLMUX_JSON_MAX_BYTES, "an integer in [1024, 33554432] (bytes)",
                                                        &c->cfg->server.max_body_bytes));
    if ((v = lx_ymap_get(n, "max_streams_per_key", NULL)))
        LX_CFG_WITH_KEY(c, "max_streams_per_key", lx_cfg_int(c, v, 1, MAX_STREAMS, "an integer in [1, 100000]",
                                                             &c->cfg->server.max_streams_per_key));
    if ((v = lx_ymap_get(n, "responses_store_mb", NULL))) {
        LX_CFG_WITH_KEY(c, "responses_store_mb", lx_cfg_int(c, v, 0, 1048576, "an integer in [0, 1048576] (MiB)",
                                                            &c->cfg->server.responses_store_mb));
        c->cfg->server.has_responses_store_mb = true;
    }
    return true;
}

bool lx_cfg_parse_server_auth(lx_cfg_ctx *c, const lx_ynode *n) {
    const lx_ynode *v;
    if ((v = lx_ymap_get(n, "keys", NULL)) && !lx_cfg_is_null(v)) LX_CFG_WITH_KEY(c, "keys", parse_keys(c, v));
    if ((v = lx_ymap_get(n, "cors_origins", NULL)) && !lx_cfg_is_null(v)) LX_CFG_WITH_KEY(c, "cors_origins", parse_cors(c, v));
    if ((v = lx_ymap_get(n, "limits", NULL)) && !lx_cfg_is_null(v)) LX_CFG_WITH_KEY(c, "limits", parse_limits(c, v));
    return true;
}
