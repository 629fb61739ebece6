/* llmux.yaml: the configuration file of the CLI and the server (docs/configuration.md).
 *
 * A file is read whole (at most LX_CONFIG_MAX_BYTES), parsed with libyaml, checked against the
 * schema and resolved (env: references, relative paths): a loaded lx_config is valid, and every
 * error is LLMUX_E_CONFIGURATION with a message "FILE:LINE:COLUMN: KEY.PATH: what is wrong",
 * e.g. `llmux.yaml:12:31: models.chain.targets[1].weight: expected a positive integer, got "0"`.
 * Secrets (API keys, values of environment variables) never appear in messages. */
#ifndef LX_CONFIG_H
#define LX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "llmux.h"

/* Caps: a configuration file is hand-written; anything bigger is a mistake or an attack. */
#define LX_CONFIG_MAX_BYTES (1u << 20)   /* the file */
#define LX_CONFIG_MAX_DEPTH 32           /* nested mappings / sequences */
#define LX_CONFIG_MAX_NODES 100000       /* nodes, counting what aliases expand to */
#define LX_CONFIG_MAX_MODEL_DIRS 64      /* local.model_dirs */

/* The config's own defaults (what `llmux config check` prints for an absent key, and what
 * lx_config_runtime_params sets for total_ms). */
#define LX_CONFIG_DEFAULT_TOTAL_MS 600000

typedef struct lx_config lx_config;

/* Reads and validates the file at path. On success *out is owned by the caller
 * (lx_config_free). On failure *out is NULL and err says why (LLMUX_E_CONFIGURATION, or
 * LLMUX_E_OUT_OF_MEMORY). */
llmux_status lx_config_load(const char *path, lx_config **out, llmux_error_info *err);
/* The same for text in memory; `name` stands for the file in messages, and relative paths in the
 * file resolve against `base_dir` (NULL = the current directory). */
llmux_status lx_config_load_text(const char *name, const char *base_dir, const char *text, size_t len,
                                 lx_config **out, llmux_error_info *err);
/* Accepts NULL. Wipes the resolved secrets before freeing them. */
void lx_config_free(lx_config *cfg);

/* Finds the file to load: `explicit_path` (--config), else $LLMUX_CONFIG, else ./llmux.yaml,
 * else $XDG_CONFIG_HOME/llmux/llmux.yaml (~/.config/llmux/llmux.yaml when XDG_CONFIG_HOME is unset
 * or not absolute). Writes the path into buf, or "" when no file exists (defaults apply). An
 * explicit path or $LLMUX_CONFIG naming no file is LLMUX_E_CONFIGURATION. */
llmux_status lx_config_find(const char *explicit_path, char *buf, size_t size, llmux_error_info *err);

/* Overlays what the file sets onto *out (which the caller initialised, normally from
 * llmux_runtime_default_params): providers, aliases, model_dirs, n_threads, n_ctx, the four
 * timeouts (total_timeout_ms is LX_CONFIG_DEFAULT_TOTAL_MS when the file sets none), cooldown,
 * records. Pointers borrow from cfg: it must outlive every use of *out (llmux_runtime_create
 * copies them). */
void lx_config_runtime_params(const lx_config *cfg, llmux_runtime_params *out);
/* True when the file says `records: none` (records off, rather than unset); false for NULL cfg. */
bool lx_config_records_off(const lx_config *cfg);
/* server.listen ("HOST:PORT", checked to end in a port), borrowed from cfg; NULL when unset or
 * cfg is NULL. */
const char *lx_config_server_listen(const lx_config *cfg);
/* local.isolation (LLMUX_ISOLATION_*); -1 when unset or cfg is NULL (each command has its own
 * default: `llmux serve` process, the others in_process). */
int lx_config_isolation(const lx_config *cfg);

/* ------------------------------------------------------------- server.keys */

#define LX_CONFIG_MAX_KEYS 1024          /* server.keys entries */
#define LX_CONFIG_MAX_KEY_MODELS 256     /* model patterns of one key */
#define LX_CONFIG_MAX_CORS_ORIGINS 64
#define LX_CONFIG_KEY_MIN_BYTES 16       /* a shorter key is guessable: refused */
#define LX_CONFIG_KEY_MAX_BYTES 4096

/* SHA-256 of len bytes (FIPS 180-4). Keys are held only as this digest: llmux.yaml's keys are
 * hashed at load, and the server hashes a presented key the same way. Any thread. */
void lx_sha256(const void *data, size_t len, unsigned char out[32]);

/* How often a key's budget starts again (server.keys[].budget_period): calendar windows in UTC. */
typedef enum lx_budget_period {
    LX_BUDGET_TOTAL = 0,          /* never: budget_usd is for all time */
    LX_BUDGET_DAILY,              /* from 00:00 UTC */
    LX_BUDGET_WEEKLY,             /* from Monday 00:00 UTC */
    LX_BUDGET_MONTHLY             /* from the 1st, 00:00 UTC */
} lx_budget_period;

/* "total", "daily", "weekly" or "monthly": the word llmux.yaml uses; NULL past the last. */
const char *lx_budget_period_name(lx_budget_period p);

/* One API key of `llmux serve` (server.keys). The plaintext is never kept: it was hashed at load
 * and its copy wiped. */
typedef struct lx_config_key {
    const char *name;             /* 1..64 of A-Z a-z 0-9 . _ - ; unique; what records and logs show */
    unsigned char sha256[32];     /* the key's digest; unique */
    const char *const *models;    /* glob patterns: "smart", "*", "local/" + "*" ...; at least one */
    size_t n_models;
    double budget_usd;            /* total spend allowed (USD, from the records); < 0 = none */
    int64_t rpm;                  /* requests per minute; 0 = no limit */
    lx_budget_period budget_period; /* when budget_usd starts again */
} lx_config_key;

/* What `server:` sets besides listen. Zero / NULL for what the file does not set. */
typedef struct lx_config_server_settings {
    const lx_config_key *keys;
    size_t n_keys;
    const char *const *cors_origins; /* "*" or "scheme://host[:port]" */
    size_t n_cors_origins;
    int64_t max_body_bytes;       /* server.limits.max_body_bytes; 0 = unset */
    int64_t max_streams_per_key;  /* server.limits.max_streams_per_key; 0 = unset */
    bool has_responses_store_mb;  /* server.limits.responses_store_mb was set (0 = keep none) */
    int64_t responses_store_mb;
} lx_config_server_settings;

/* Fills *out from cfg (borrowed: cfg must outlive its use); all zero when cfg is NULL. */
void lx_config_server(const lx_config *cfg, lx_config_server_settings *out);
/* Overlays `telemetry:` onto *out: telemetry_log, telemetry_log_level, otlp_endpoint (borrowed
 * from cfg). Separate from lx_config_runtime_params: `llmux serve` reports telemetry, one-shot
 * commands do not. */
void lx_config_telemetry_params(const lx_config *cfg, llmux_runtime_params *out);
/* telemetry.metrics_key, resolved (a secret: borrowed, never print it); NULL when unset. */
const char *lx_config_metrics_key(const lx_config *cfg);

/* The `prices:` entries as catalog entries for llmux_catalog_add (ids "provider/model", unknown
 * prices NaN, lengths -1). Borrowed from cfg; *n = 0 when there are none. */
void lx_config_prices(const lx_config *cfg, const llmux_model_info **out, size_t *n);

/* The file the config came from (the name given to load). */
const char *lx_config_path(const lx_config *cfg);

/* Writes the resolved configuration as `llmux config check` shows it: each alias with its
 * targets (weights, per-target params), retry policy (defaults filled in) and fallback classes;
 * providers with their protocol, base URL and where the key comes from ("key: set (env:VAR)",
 * "key: set (in the file)", "key: none", never the key); local, timeouts, cooldown, records,
 * prices. A value read from env:VAR that may hold a secret (base_url, records) is shown as
 * "(env:VAR)", and a password inside a URL as "***". */
void lx_config_print(const lx_config *cfg, FILE *f);

#endif
