/* The top level of llmux.yaml and its small sections: local, timeouts, cooldown, records, prices,
 * server, telemetry. providers and models are in schema_models.c. docs/configuration.md is the reference. */
#include <grp.h>
#include <math.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/internal.h"

#define MAX_MODEL_DIRS LX_CONFIG_MAX_MODEL_DIRS
#define MAX_PRICES 20000          /* the catalog's own cap (llmux_catalog_add) */
#define MAX_TIMEOUT_MS 604800000  /* 7 days, the CLI's --timeout cap */
#define MAX_LOCAL_WAITING 65536   /* local.queue.max_waiting */
#define MAX_LOCAL_MB 1048576      /* 1 TiB: prompt_cache_mb; memory_budget_mb up to 16x */
#define MAX_PRICE 1e6             /* USD per million tokens; more is a typo */

/* local.queue: admission in front of each local model's sequence slots. */
static bool parse_local_queue(lx_cfg_ctx *c, const lx_ynode *n) {
    static const char *const keys[] = {"max_waiting", "max_wait_ms", NULL};
    if (!lx_cfg_check_map(c, n, keys, "a mapping (max_waiting, max_wait_ms)")) return false;
    const lx_ynode *v;
    int64_t t;
    if ((v = lx_ymap_get(n, "max_waiting", NULL))) {
        LX_CFG_WITH_KEY(c, "max_waiting", lx_cfg_int(c, v, 1, MAX_LOCAL_WAITING, "an integer in [1, 65536]", &t));
        c->cfg->max_waiting = (int32_t)t;
    }
    if ((v = lx_ymap_get(n, "max_wait_ms", NULL))) {
        LX_CFG_WITH_KEY(c, "max_wait_ms",
                        lx_cfg_int(c, v, 0, MAX_TIMEOUT_MS, "milliseconds in [0, 604800000] (0 = no limit)", &t));
        c->cfg->max_wait_ms = t;
    }
    return true;
}

/* The integer keys of local: besides threads and ctx (each -1 in cfg until set). */
static bool parse_local_sizes(lx_cfg_ctx *c, const lx_ynode *n) {
    lx_config *cfg = c->cfg;
    const lx_ynode *v;
    int64_t t;
    if ((v = lx_ymap_get(n, "slots", NULL))) {
        LX_CFG_WITH_KEY(c, "slots", lx_cfg_int(c, v, 0, 64, "an integer in [0, 64] (0 = from the context size)", &t));
        cfg->slots = (int32_t)t;
    }
    if ((v = lx_ymap_get(n, "prompt_cache_mb", NULL))) {
        LX_CFG_WITH_KEY(c, "prompt_cache_mb",
                        lx_cfg_int(c, v, 0, MAX_LOCAL_MB, "megabytes in [0, 1048576] (0 = off)", &t));
        cfg->prompt_cache_mb = (int32_t)t;
    }
    if ((v = lx_ymap_get(n, "memory_budget_mb", NULL))) {
        LX_CFG_WITH_KEY(c, "memory_budget_mb",
                        lx_cfg_int(c, v, 0, MAX_LOCAL_MB * 16, "megabytes in [0, 16777216] (0 = no budget)", &t));
        cfg->memory_budget_mb = t;
    }
    if ((v = lx_ymap_get(n, "idle_unload_s", NULL))) {
        LX_CFG_WITH_KEY(c, "idle_unload_s",
                        lx_cfg_int(c, v, 0, 30 * 86400, "seconds in [0, 2592000] (0 = never)", &t));
        cfg->idle_unload_s = t;
    }
    if ((v = lx_ymap_get(n, "prompt_cache_dir_mb", NULL))) {
        LX_CFG_WITH_KEY(c, "prompt_cache_dir_mb",
                        lx_cfg_int(c, v, 1, MAX_LOCAL_MB, "megabytes in [1, 1048576]", &t));
        cfg->prompt_cache_dir_mb = t;
    }
    if ((v = lx_ymap_get(n, "queue", NULL)) && !lx_cfg_is_null(v)) LX_CFG_WITH_KEY(c, "queue", parse_local_queue(c, v));
    return true;
}

/* local.prompt_cache_dir: a path (relative to the file), created by the runtime when missing. */
static bool parse_prompt_cache_dir(lx_cfg_ctx *c, const lx_ynode *v) {
    const char *s, *p;
    size_t old = lx_cpath_key(&c->path, "prompt_cache_dir");
    if (!lx_cfg_string_env(c, v, false, &s, NULL)) return false;
    if (!*s) return lx_cfg_fail(c, v, "expected a directory, got an empty string");
    if (!(p = lx_cfg_resolve_path(c, v, s))) return false;
    lx_cpath_pop(&c->path, old);
    c->cfg->prompt_cache_dir = p;
    return true;
}

/* local.isolation: where local models run (docs/sandbox.md, "Supervision"). */
static bool parse_isolation(lx_cfg_ctx *c, const lx_ynode *v) {
    const char *s;
    if (!lx_cfg_string(c, v, &s)) return false;
    if (strcmp(s, "process") == 0) c->cfg->isolation = LLMUX_ISOLATION_PROCESS;
    else if (strcmp(s, "in_process") == 0) c->cfg->isolation = LLMUX_ISOLATION_IN_PROCESS;
    else return lx_cfg_fail(c, v, "expected process or in_process, got \"%.64s\"", s);
    return true;
}

static bool parse_local(lx_cfg_ctx *c, const lx_ynode *n) {
    static const char *const keys[] = {"model_dirs",       "threads",         "ctx",   "slots", "memory_budget_mb",
                                       "idle_unload_s",    "prompt_cache_mb", "queue", "prompt_cache_dir",
                                       "prompt_cache_dir_mb", "isolation", NULL};
    if (!lx_cfg_check_map(c, n, keys,
                          "a mapping (model_dirs, threads, ctx, slots, memory_budget_mb, idle_unload_s, "
                          "prompt_cache_mb, queue, prompt_cache_dir, prompt_cache_dir_mb, isolation)"))
        return false;
    if (!parse_local_sizes(c, n)) return false;
    lx_config *cfg = c->cfg;
    const lx_ynode *v;
    if ((v = lx_ymap_get(n, "prompt_cache_dir", NULL)) && !lx_cfg_is_null(v) && !parse_prompt_cache_dir(c, v))
        return false;
    if ((v = lx_ymap_get(n, "isolation", NULL))) LX_CFG_WITH_KEY(c, "isolation", parse_isolation(c, v));
    if ((v = lx_ymap_get(n, "threads", NULL))) {
        int64_t t;
        LX_CFG_WITH_KEY(c, "threads", lx_cfg_int(c, v, 0, 1024, "an integer in [0, 1024] (0 = one per core)", &t));
        cfg->threads = (int32_t)t;
        cfg->has_threads = true;
    }
    if ((v = lx_ymap_get(n, "ctx", NULL))) {
        int64_t t;
        size_t old = lx_cpath_key(&c->path, "ctx");
        bool ok = lx_cfg_int(c, v, 0, 1 << 20, "0 or an integer in [16, 1048576]", &t) &&
                  (t == 0 || t >= 16 || lx_cfg_fail(c, v, "expected 0 or an integer in [16, 1048576], got %lld", (long long)t));
        lx_cpath_pop(&c->path, old);
        if (!ok) return false;
        cfg->ctx = (int32_t)t;
        cfg->has_ctx = true;
    }
    if ((v = lx_ymap_get(n, "model_dirs", NULL))) {
        size_t old = lx_cpath_key(&c->path, "model_dirs");
        if (v->kind != LX_YN_SEQ) return lx_cfg_fail(c, v, "expected a sequence of directories, e.g. [./models]");
        if (v->n > MAX_MODEL_DIRS) return lx_cfg_fail(c, v, "more than %d directories", MAX_MODEL_DIRS);
        cfg->model_dirs = lx_arena_alloc(&cfg->arena, (v->n ? v->n : 1) * sizeof *cfg->model_dirs);
        if (!cfg->model_dirs) return lx_cfg_oom(c);
        for (size_t i = 0; i < v->n; i++) {
            size_t o = lx_cpath_index(&c->path, i);
            const char *s, *p;
            if (!lx_cfg_string_env(c, v->items[i], false, &s, NULL)) return false;
            if (!*s) return lx_cfg_fail(c, v->items[i], "expected a directory, got an empty string");
            if (!(p = lx_cfg_resolve_path(c, v->items[i], s))) return false;
            /* The runtime refuses a missing directory too, but only here can the error say where
             * it was written. */
            struct stat st;
            if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
                return lx_cfg_fail(c, v->items[i], "%.200s is not a directory", p);
            cfg->model_dirs[cfg->n_model_dirs++] = p;
            lx_cpath_pop(&c->path, o);
        }
        lx_cpath_pop(&c->path, old);
    }
    return true;
}

static bool parse_timeouts(lx_cfg_ctx *c, const lx_ynode *n) {
    static const char *const keys[] = {"connect_ms", "first_byte_ms", "idle_ms", "total_ms", NULL};
    if (!lx_cfg_check_map(c, n, keys, "a mapping (connect_ms, first_byte_ms, idle_ms, total_ms)")) return false;
    int64_t *dst[] = {&c->cfg->connect_ms, &c->cfg->first_byte_ms, &c->cfg->idle_ms, &c->cfg->total_ms};
    for (size_t i = 0; i < 4; i++) {
        const lx_ynode *v = lx_ymap_get(n, keys[i], NULL);
        if (v)
            LX_CFG_WITH_KEY(c, keys[i],
                     lx_cfg_int(c, v, 1, MAX_TIMEOUT_MS, "a positive integer (milliseconds, at most 7 days)", dst[i]));
    }
    return true;
}

static bool parse_cooldown(lx_cfg_ctx *c, const lx_ynode *n) {
    static const char *const keys[] = {"failures", "seconds", NULL};
    if (!lx_cfg_check_map(c, n, keys, "a mapping (failures, seconds)")) return false;
    const lx_ynode *v;
    if ((v = lx_ymap_get(n, "failures", NULL))) {
        int64_t f;
        LX_CFG_WITH_KEY(c, "failures", lx_cfg_int(c, v, 0, 1000, "an integer in [0, 1000] (0 = never)", &f));
        /* 0 in the file reads "never"; the runtime spells that as a negative count (0 there
         * means its default). */
        c->cfg->cooldown_failures = f == 0 ? -1 : (int32_t)f;
        c->cfg->has_cooldown_failures = true;
    }
    if ((v = lx_ymap_get(n, "seconds", NULL))) {
        double s;
        LX_CFG_WITH_KEY(c, "seconds", lx_cfg_number(c, v, 0, true, 86400, "a number of seconds in (0, 86400]", &s));
        int64_t ms = (int64_t)llround(s * 1000.0);
        c->cfg->cooldown_ms = ms > 0 ? ms : 1;
        c->cfg->has_cooldown_seconds = true;
    }
    return true;
}

/* "sqlite:PATH" (PATH resolved like other paths) or a postgresql:// / postgres:// URL. */
static bool records_url(lx_cfg_ctx *c, const lx_ynode *n) {
    const char *s, *env;
    if (!lx_cfg_string_env(c, n, true, &s, &env)) return false;
    lx_config *cfg = c->cfg;
    cfg->has_records = true;
    cfg->records_env = env;
    if (!env && strcmp(s, "none") == 0) {
        cfg->records = NULL;
        return true;
    }
    if (strncmp(s, "sqlite:", 7) == 0) {
        if (!s[7]) return lx_cfg_fail(c, n, "sqlite: needs a file path, e.g. \"sqlite:./records.db\"");
        const char *p = lx_cfg_resolve_path(c, n, s + 7);
        if (!p) return false;
        size_t l = strlen(p) + 8;
        char *r = lx_arena_alloc(&cfg->arena, l);
        if (!r) return lx_cfg_oom(c);
        memcpy(r, "sqlite:", 7);
        memcpy(r + 7, p, l - 7);
        cfg->records = r;
        return true;
    }
    if ((strncmp(s, "postgresql://", 13) == 0 && s[13]) || (strncmp(s, "postgres://", 11) == 0 && s[11])) {
        cfg->records = s;
        return true;
    }
    /* The value may be a URL with a password: never quoted. */
    return lx_cfg_fail(c, n, "expected \"sqlite:PATH\", a \"postgresql://\" URL or none");
}

static bool parse_records(lx_cfg_ctx *c, const lx_ynode *n) {
    if (n->kind == LX_YN_SCALAR) return records_url(c, n);
    static const char *const keys[] = {"url", "bodies", NULL};
    if (!lx_cfg_check_map(c, n, keys, "\"sqlite:PATH\", a \"postgresql://\" URL or a mapping (url, bodies)"))
        return false;
    const lx_ynode *v = lx_ymap_get(n, "url", NULL);
    if (!v) return lx_cfg_fail(c, n, "url is required (\"sqlite:PATH\" or a \"postgresql://\" URL)");
    LX_CFG_WITH_KEY(c, "url", records_url(c, v));
    if ((v = lx_ymap_get(n, "bodies", NULL))) {
        bool bodies;
        LX_CFG_WITH_KEY(c, "bodies", lx_cfg_bool(c, v, &bodies));
        c->cfg->records_omit_bodies = !bodies;
    }
    return true;
}

/* `server:` of `llmux serve` (docs/server.md): listen here, keys / cors_origins / limits in
 * schema_server.c. Other keys are not checked yet, so a file written for later server features
 * still loads. */
static bool parse_server(lx_cfg_ctx *c, const lx_ynode *n) {
    if (n->kind != LX_YN_MAP) return lx_cfg_fail(c, n, "expected a mapping of server settings");
    c->cfg->has_server = true;
    if (!lx_cfg_parse_server_auth(c, n)) return false;
    const lx_ynode *v = lx_ymap_get(n, "listen", NULL);
    if (!v || lx_cfg_is_null(v)) return true;
    const char *s;
    LX_CFG_WITH_KEY(c, "listen", lx_cfg_string(c, v, &s));
    const char *colon = strrchr(s, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || !colon[1] || *end || port < 0 || port > 65535) {
        size_t old = lx_cpath_key(&c->path, "listen");
        lx_cfg_fail(c, v, "expected \"HOST:PORT\" (e.g. \"127.0.0.1:4000\"), got \"%.100s\"", s);
        lx_cpath_pop(&c->path, old);
        return false;
    }
    c->cfg->server_listen = s;
    return true;
}

/* `telemetry:` (docs/telemetry.md): the execution log, traces, and the /metrics key. */
static bool parse_telemetry(lx_cfg_ctx *c, const lx_ynode *n) {
    static const char *const keys[] = {"log", "log_level", "otlp_endpoint", "metrics_key", NULL};
    if (!lx_cfg_check_map(c, n, keys, "a mapping (log, log_level, otlp_endpoint, metrics_key)")) return false;
    lx_config *cfg = c->cfg;
    cfg->has_telemetry = true;
    const lx_ynode *v;
    if ((v = lx_ymap_get(n, "log", NULL)) && !lx_cfg_is_null(v)) {
        const char *s;
        LX_CFG_WITH_KEY(c, "log", lx_cfg_string(c, v, &s));
        if (!*s) {
            size_t old = lx_cpath_key(&c->path, "log");
            lx_cfg_fail(c, v, "expected stderr, off or a file path, got an empty string");
            lx_cpath_pop(&c->path, old);
            return false;
        }
        if (strcmp(s, "stderr") != 0 && strcmp(s, "off") != 0) {
            size_t old = lx_cpath_key(&c->path, "log");
            s = lx_cfg_resolve_path(c, v, s);
            lx_cpath_pop(&c->path, old);
            if (!s) return false;
        }
        cfg->telemetry_log = s;
    }
    if ((v = lx_ymap_get(n, "log_level", NULL)) && !lx_cfg_is_null(v)) {
        const char *s;
        LX_CFG_WITH_KEY(c, "log_level", lx_cfg_string(c, v, &s));
        static const char *const names[] = {"debug", "info", "warn", "error"};
        bool found = false;
        for (int i = 0; i < 4 && !found; i++)
            if (strcmp(s, names[i]) == 0) {
                cfg->telemetry_log_level = (llmux_log_level)i;
                found = true;
            }
        if (!found) {
            size_t old = lx_cpath_key(&c->path, "log_level");
            lx_cfg_fail(c, v, "expected debug, info, warn or error, got \"%.40s\"", s);
            lx_cpath_pop(&c->path, old);
            return false;
        }
        cfg->has_telemetry_log_level = true;
    }
    if ((v = lx_ymap_get(n, "otlp_endpoint", NULL)) && !lx_cfg_is_null(v)) {
        const char *s, *env;
        LX_CFG_WITH_KEY(c, "otlp_endpoint", lx_cfg_string_env(c, v, false, &s, &env));
        if (!(strncmp(s, "http://", 7) == 0 && s[7]) && !(strncmp(s, "https://", 8) == 0 && s[8])) {
            size_t old = lx_cpath_key(&c->path, "otlp_endpoint");
            lx_cfg_fail(c, v, "expected an http:// or https:// URL (the collector's OTLP/HTTP base, e.g. "
                              "\"http://127.0.0.1:4318\")");
            lx_cpath_pop(&c->path, old);
            return false;
        }
        cfg->otlp_endpoint = s;
        cfg->otlp_endpoint_env = env;
    }
    if ((v = lx_ymap_get(n, "metrics_key", NULL)) && !lx_cfg_is_null(v)) {
        const char *s;
        LX_CFG_WITH_KEY(c, "metrics_key", lx_cfg_string_env(c, v, true, &s, &cfg->metrics_key_env));
        if (strlen(s) < 8) {
            size_t old = lx_cpath_key(&c->path, "metrics_key");
            lx_cfg_fail(c, v, "too short: a key needs at least 8 characters");
            lx_cpath_pop(&c->path, old);
            return false;
        }
        cfg->metrics_key = s;
    }
    return true;
}

static bool valid_model_id(const char *id) {
    const char *slash = strchr(id, '/');
    return slash && slash != id && slash[1];
}

static bool parse_price(lx_cfg_ctx *c, const lx_ynode *key, const lx_ynode *n, llmux_model_info *m) {
    static const char *const keys[] = {"input", "output", "cache_read", "cache_write", NULL};
    if (!valid_model_id(key->str)) return lx_cfg_fail(c, key, "expected \"provider/model\" as the key");
    if (!lx_cfg_check_map(c, n, keys, "a mapping (input, output, cache_read, cache_write)")) return false;
    if (n->n == 0) return lx_cfg_fail(c, n, "no price given (input, output, cache_read, cache_write)");
    if (!(m->id = lx_arena_strdup(&c->cfg->arena, key->str))) return lx_cfg_oom(c);
    m->context_length = -1;
    m->max_output_tokens = -1;
    double *dst[] = {&m->input_price, &m->output_price, &m->cache_read_price, &m->cache_write_price};
    for (size_t i = 0; i < 4; i++) {
        *dst[i] = NAN;
        const lx_ynode *v = lx_ymap_get(n, keys[i], NULL);
        if (v)
            LX_CFG_WITH_KEY(c, keys[i],
                     lx_cfg_number(c, v, 0, false, MAX_PRICE, "a price in [0, 1000000] (USD per million tokens)", dst[i]));
    }
    return true;
}

static bool parse_prices(lx_cfg_ctx *c, const lx_ynode *n) {
    if (n->kind != LX_YN_MAP)
        return lx_cfg_fail(c, n, "expected a mapping of \"provider/model\": {input, output, cache_read, cache_write}");
    if (n->n > MAX_PRICES) return lx_cfg_fail(c, n, "more than %d prices", MAX_PRICES);
    lx_config *cfg = c->cfg;
    cfg->prices = lx_arena_alloc(&cfg->arena, (n->n ? n->n : 1) * sizeof *cfg->prices);
    if (!cfg->prices) return lx_cfg_oom(c);
    for (size_t i = 0; i < n->n; i++) {
        LX_CFG_WITH_KEY(c, n->keys[i]->str, parse_price(c, n->keys[i], n->items[i], &cfg->prices[i]));
        cfg->n_prices++;
    }
    return true;
}

/* sandbox.user / sandbox.group: a name of this machine's user database or a number; never root
 * (0), which the engine would refuse anyway. */
static bool parse_sandbox_id(lx_cfg_ctx *c, const lx_ynode *v, bool group, int64_t *out) {
    int64_t id;
    if (lx_cfg_scalar_int(v, &id)) {
        if (id < 1 || id > 0x7fffffff) return lx_cfg_fail(c, v, "expected a %s name or a number in [1, 2147483647]", group ? "group" : "user");
        *out = id;
        return true;
    }
    const char *s;
    if (!lx_cfg_string(c, v, &s)) return false;
    if (group) {
        struct group *g = getgrnam(s);
        if (!g) return lx_cfg_fail(c, v, "no group named \"%.64s\" on this machine", s);
        id = (int64_t)g->gr_gid;
    } else {
        struct passwd *pw = getpwnam(s);
        if (!pw) return lx_cfg_fail(c, v, "no user named \"%.64s\" on this machine", s);
        id = (int64_t)pw->pw_uid;
    }
    if (id == 0) return lx_cfg_fail(c, v, "\"%.64s\" is root: the engine never runs as root", s);
    *out = id;
    return true;
}

/* sandbox: how the engine child (local.isolation: process) is confined (docs/sandbox.md). */
static bool parse_sandbox(lx_cfg_ctx *c, const lx_ynode *n) {
    static const char *const keys[] = {"require", "user", "group", NULL};
    if (!lx_cfg_check_map(c, n, keys, "a mapping (require, user, group)")) return false;
    const lx_ynode *v;
    if ((v = lx_ymap_get(n, "require", NULL))) LX_CFG_WITH_KEY(c, "require", lx_cfg_bool(c, v, &c->cfg->sandbox_require));
    if ((v = lx_ymap_get(n, "user", NULL))) LX_CFG_WITH_KEY(c, "user", parse_sandbox_id(c, v, false, &c->cfg->sandbox_uid));
    if ((v = lx_ymap_get(n, "group", NULL))) LX_CFG_WITH_KEY(c, "group", parse_sandbox_id(c, v, true, &c->cfg->sandbox_gid));
    return true;
}

static const char *const k_top[] = {"providers", "models", "local",  "timeouts",  "cooldown",
                                    "records",   "prices", "server", "telemetry", "sandbox", NULL};

bool lx_cfg_parse_root(lx_cfg_ctx *c, const lx_ynode *root) {
    if (!root || lx_cfg_is_null(root)) return true; /* an empty file: every default */
    if (!lx_cfg_check_map(c, root, k_top, "a mapping at the top level (providers, models, local, ...)")) return false;
    /* A section written with nothing after its colon (a template with its entries commented
     * out) is the same as no section. */
    const lx_ynode *providers = lx_ymap_get(root, "providers", NULL);
    if (lx_cfg_is_null(providers)) providers = NULL;
    if (providers) LX_CFG_WITH_KEY(c, "providers", lx_cfg_parse_providers(c, providers));
    const lx_ynode *v;
    if ((v = lx_ymap_get(root, "models", NULL)) && !lx_cfg_is_null(v))
        LX_CFG_WITH_KEY(c, "models", lx_cfg_parse_models(c, v));
    if ((v = lx_ymap_get(root, "local", NULL)) && !lx_cfg_is_null(v)) LX_CFG_WITH_KEY(c, "local", parse_local(c, v));
    if ((v = lx_ymap_get(root, "timeouts", NULL)) && !lx_cfg_is_null(v)) LX_CFG_WITH_KEY(c, "timeouts", parse_timeouts(c, v));
    if ((v = lx_ymap_get(root, "cooldown", NULL)) && !lx_cfg_is_null(v)) LX_CFG_WITH_KEY(c, "cooldown", parse_cooldown(c, v));
    if ((v = lx_ymap_get(root, "records", NULL)) && !lx_cfg_is_null(v)) LX_CFG_WITH_KEY(c, "records", parse_records(c, v));
    if ((v = lx_ymap_get(root, "prices", NULL)) && !lx_cfg_is_null(v)) LX_CFG_WITH_KEY(c, "prices", parse_prices(c, v));
    if ((v = lx_ymap_get(root, "server", NULL)) && !lx_cfg_is_null(v)) LX_CFG_WITH_KEY(c, "server", parse_server(c, v));
    if ((v = lx_ymap_get(root, "telemetry", NULL)) && !lx_cfg_is_null(v))
        LX_CFG_WITH_KEY(c, "telemetry", parse_telemetry(c, v));
    if ((v = lx_ymap_get(root, "sandbox", NULL)) && !lx_cfg_is_null(v)) LX_CFG_WITH_KEY(c, "sandbox", parse_sandbox(c, v));
    return true;
}
