/* Loading a configuration: the file (size-capped), the YAML tree, the schema; and the loaded
 * config as runtime parameters and catalog prices. */
#define _DEFAULT_SOURCE /* explicit_bzero, strndup */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/internal.h"
#include "core/error.h"

static void wipe_secrets(lx_config *cfg) {
    /* Keys from the file or the environment sit in the arena: zero them before it is freed. */
    for (size_t i = 0; i < cfg->n_providers; i++) {
        char *k = (char *)cfg->providers[i].api_key;
        if (k) explicit_bzero(k, strlen(k));
    }
}

void lx_config_free(lx_config *cfg) {
    if (!cfg) return;
    wipe_secrets(cfg);
    lx_arena_release(&cfg->arena);
    free(cfg);
}

llmux_status lx_config_load_text(const char *name, const char *base_dir, const char *text, size_t len,
                                 lx_config **out, llmux_error_info *err) {
    *out = NULL;
    lx_error_clear(err);
    if (!name) name = "llmux.yaml";
    if (len > LX_CONFIG_MAX_BYTES)
        return lx_error(err, LLMUX_E_CONFIGURATION, "%s: %zu bytes, larger than the %u-byte cap on a configuration file",
                        name, len, LX_CONFIG_MAX_BYTES);
    llmux_error_info local;
    if (!err) err = &local;
    lx_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", name);
    lx_arena_init(&cfg->arena);
    cfg->slots = cfg->prompt_cache_mb = cfg->max_waiting = -1;
    cfg->memory_budget_mb = cfg->idle_unload_s = cfg->max_wait_ms = cfg->prompt_cache_dir_mb = -1;
    cfg->isolation = -1;
    lx_ytree tree;
    llmux_status st = lx_ytree_parse(&tree, name, text, len, err);
    if (st == LLMUX_OK) {
        lx_cfg_ctx c = {.file = name, .base_dir = base_dir, .err = err, .cfg = cfg};
        if (!(cfg->path = lx_arena_strdup(&cfg->arena, name))) st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", name);
        else if (!lx_cfg_parse_root(&c, tree.root)) st = err->status;
    }
    lx_ytree_release(&tree);
    if (st != LLMUX_OK) {
        lx_config_free(cfg);
        return st;
    }
    *out = cfg;
    return LLMUX_OK;
}

/* The directory part of path, malloc'd ("." for a bare name). */
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

llmux_status lx_config_load(const char *path, lx_config **out, llmux_error_info *err) {
    *out = NULL;
    lx_error_clear(err);
    /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below as not a
     * regular file); reads of a regular file ignore the flag. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return lx_error(err, LLMUX_E_CONFIGURATION, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return lx_error(err, LLMUX_E_CONFIGURATION, "%s: not a regular file", path);
    }
    if (st.st_size > (off_t)LX_CONFIG_MAX_BYTES) {
        close(fd);
        return lx_error(err, LLMUX_E_CONFIGURATION, "%s: %lld bytes, larger than the %u-byte cap on a configuration file",
                        path, (long long)st.st_size, LX_CONFIG_MAX_BYTES);
    }
    /* Read to the cap + 1 whatever fstat said: the file may grow while we read. */
    char *buf = malloc(LX_CONFIG_MAX_BYTES + 1);
    if (!buf) {
        close(fd);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, LX_CONFIG_MAX_BYTES + 1 - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return lx_error(err, LLMUX_E_CONFIGURATION, "%s: read error: %s", path, strerror(e));
        }
        if (n == 0) break;
        len += (size_t)n;
        if (len > LX_CONFIG_MAX_BYTES) break;
    }
    close(fd);
    if (len > LX_CONFIG_MAX_BYTES) {
        free(buf);
        return lx_error(err, LLMUX_E_CONFIGURATION, "%s: larger than the %u-byte cap on a configuration file", path,
                        LX_CONFIG_MAX_BYTES);
    }
    buf[len] = '\0';
    char *dir = dir_of(path);
    llmux_status s = dir ? lx_config_load_text(path, dir, buf, len, out, err)
                         : lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", path);
    free(dir);
    /* The text may hold a literal API key. */
    explicit_bzero(buf, len);
    free(buf);
    return s;
}

const char *lx_config_path(const lx_config *cfg) { return cfg ? cfg->path : NULL; }

const char *lx_config_server_listen(const lx_config *cfg) { return cfg ? cfg->server_listen : NULL; }

int lx_config_isolation(const lx_config *cfg) { return cfg ? cfg->isolation : -1; }

void lx_config_server(const lx_config *cfg, lx_config_server_settings *out) {
    if (cfg) *out = cfg->server;
    else memset(out, 0, sizeof *out);
}

void lx_config_runtime_params(const lx_config *cfg, llmux_runtime_params *out) {
    if (!cfg || !out) return;
    if (cfg->n_providers) {
        out->providers = cfg->providers;
        out->n_providers = cfg->n_providers;
    }
    if (cfg->n_aliases) {
        out->aliases = cfg->aliases;
        out->n_aliases = cfg->n_aliases;
    }
    if (cfg->n_model_dirs) {
        out->model_dirs = cfg->model_dirs;
        out->n_model_dirs = cfg->n_model_dirs;
    }
    if (cfg->has_threads) out->n_threads = cfg->threads;
    if (cfg->has_ctx) out->n_ctx = cfg->ctx;
    if (cfg->slots >= 0) out->local_slots = cfg->slots;
    if (cfg->prompt_cache_mb >= 0) out->local_prompt_cache_mb = cfg->prompt_cache_mb;
    if (cfg->memory_budget_mb >= 0) out->local_memory_budget_mb = cfg->memory_budget_mb;
    if (cfg->idle_unload_s >= 0) out->local_idle_unload_s = cfg->idle_unload_s;
    if (cfg->max_waiting >= 0) out->local_max_waiting = cfg->max_waiting;
    if (cfg->max_wait_ms >= 0) out->local_max_wait_ms = cfg->max_wait_ms;
    if (cfg->prompt_cache_dir) out->local_prompt_cache_dir = cfg->prompt_cache_dir;
    if (cfg->prompt_cache_dir_mb > 0) out->local_prompt_cache_dir_mb = cfg->prompt_cache_dir_mb;
    if (cfg->isolation >= 0) out->local_isolation = (llmux_isolation)cfg->isolation;
    if (cfg->sandbox_require) out->engine_sandbox_require = true;
    if (cfg->sandbox_uid > 0) out->engine_uid = cfg->sandbox_uid;
    if (cfg->sandbox_gid > 0) out->engine_gid = cfg->sandbox_gid;
    if (cfg->connect_ms) out->connect_timeout_ms = cfg->connect_ms;
    if (cfg->first_byte_ms) out->first_byte_timeout_ms = cfg->first_byte_ms;
    if (cfg->idle_ms) out->idle_timeout_ms = cfg->idle_ms;
    out->total_timeout_ms = cfg->total_ms ? cfg->total_ms : LX_CONFIG_DEFAULT_TOTAL_MS;
    if (cfg->has_cooldown_failures) out->cooldown_failures = cfg->cooldown_failures;
    if (cfg->has_cooldown_seconds) out->cooldown_ms = cfg->cooldown_ms;
    if (cfg->has_records) {
        out->records = cfg->records;
        out->records_omit_bodies = cfg->records_omit_bodies;
    }
}

bool lx_config_records_off(const lx_config *cfg) { return cfg && cfg->has_records && !cfg->records; }

void lx_config_telemetry_params(const lx_config *cfg, llmux_runtime_params *out) {
    if (!cfg || !out) return;
    if (cfg->telemetry_log) out->telemetry_log = cfg->telemetry_log;
    if (cfg->has_telemetry_log_level) out->telemetry_log_level = cfg->telemetry_log_level;
    if (cfg->otlp_endpoint) out->otlp_endpoint = cfg->otlp_endpoint;
}

const char *lx_config_metrics_key(const lx_config *cfg) { return cfg ? cfg->metrics_key : NULL; }

void lx_config_prices(const lx_config *cfg, const llmux_model_info **out, size_t *n) {
    *out = cfg ? cfg->prices : NULL;
    *n = cfg ? cfg->n_prices : 0;
}
