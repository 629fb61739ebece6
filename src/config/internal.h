/* Internals of src/config/: the YAML tree, key paths and errors, scalar readers, the loaded
 * configuration. Private to the module (tests may include it). */
#ifndef LX_CONFIG_INTERNAL_H
#define LX_CONFIG_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/arena.h"

/* ------------------------------------------------------------------ tree */

typedef enum lx_ynode_kind { LX_YN_SCALAR, LX_YN_SEQ, LX_YN_MAP } lx_ynode_kind;

/* One YAML node. Nodes live in the tree's arena; an alias shares the anchored node, so the tree
 * is a DAG whose expanded size is capped (LX_CONFIG_MAX_NODES). */
typedef struct lx_ynode {
    lx_ynode_kind kind;
    int line, col;              /* 1-based, where the node starts */
    /* scalar */
    const char *str;            /* NUL-terminated (may contain NULs: len is authoritative) */
    size_t len;
    bool plain;                 /* unquoted and untagged: may be a number, bool or null */
    /* sequence: items[0..n); mapping: keys[i] (scalars) -> items[i] */
    struct lx_ynode **items;
    struct lx_ynode **keys;
    size_t n, cap;
    size_t weight;              /* nodes in the expanded subtree, itself included */
} lx_ynode;

typedef struct lx_ytree {
    lx_arena arena;
    lx_ynode *root;             /* NULL for an empty document */
} lx_ytree;

/* Parses text (one YAML document at most) into t. Refuses: syntax errors, more than one
 * document, tags other than !!str, keys that are not scalars, duplicate keys, undefined anchors,
 * nesting past LX_CONFIG_MAX_DEPTH and more than LX_CONFIG_MAX_NODES nodes (aliases counted as
 * what they expand to). Errors name file, line, column and the key path. t is released by
 * lx_ytree_release in every case. */
llmux_status lx_ytree_parse(lx_ytree *t, const char *file, const char *text, size_t len, llmux_error_info *err);
void lx_ytree_release(lx_ytree *t);
/* The value of key in a mapping, or NULL; *key_node (optional) gets the key. */
const lx_ynode *lx_ymap_get(const lx_ynode *map, const char *key, const lx_ynode **key_node);

/* ------------------------------------------------------------- key paths */

typedef struct lx_cpath {
    char buf[384];
    size_t len;
    bool truncated;
} lx_cpath;

/* Appends ".key" (just "key" at the start); a key that is not a plain identifier is written
 * as ["key"]. Returns the previous length for lx_cpath_pop. */
size_t lx_cpath_key(lx_cpath *p, const char *key);
/* Appends "[i]". */
size_t lx_cpath_index(lx_cpath *p, size_t i);
void lx_cpath_pop(lx_cpath *p, size_t len);

/* "FILE:LINE:COL: PATH: message" (PATH and its colon left out when empty) into err, status
 * LLMUX_E_CONFIGURATION. Returns that status. */
llmux_status lx_cfg_errorv(llmux_error_info *err, const char *file, int line, int col, const char *path,
                           const char *fmt, va_list ap);
llmux_status lx_cfg_error(llmux_error_info *err, const char *file, int line, int col, const char *path,
                          const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;

/* The candidate closest to word (edit distance, case-insensitive) when it is close enough to be
 * a likely typo, else NULL. */
const char *lx_cfg_suggest(const char *word, const char *const *candidates, size_t n);

/* ------------------------------------------------------ schema walking */

/* State of one load: the file name for messages, where relative paths start, the path of the
 * node being checked, the first error. */
typedef struct lx_cfg_ctx {
    const char *file;
    const char *base_dir;       /* NULL = "." */
    lx_cpath path;
    llmux_error_info *err;
    lx_config *cfg;
} lx_cfg_ctx;

/* Evaluates body (a bool expression checking the value of `key`) with the path extended by key;
 * returns false from the calling function when body is false. */
#define LX_CFG_WITH_KEY(c, key, body)                  \
    do {                                               \
        size_t old_ = lx_cpath_key(&(c)->path, (key)); \
        bool ok_ = (body);                             \
        lx_cpath_pop(&(c)->path, old_);                \
        if (!ok_) return false;                        \
    } while (0)

/* Reports an error at node n (its line and column) under the current path. Returns false so
 * callers can `return lx_cfg_fail(...)`. */
bool lx_cfg_fail(lx_cfg_ctx *c, const lx_ynode *n, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Out of memory, reported as LLMUX_E_OUT_OF_MEMORY. Returns false. */
bool lx_cfg_oom(lx_cfg_ctx *c);

/* Checks that n is a mapping whose keys are all in known (NULL-terminated); an unknown key is an
 * error at the key, with "did you mean" when one is close. `what` names the mapping in the
 * type error ("a mapping of provider settings"). */
bool lx_cfg_check_map(lx_cfg_ctx *c, const lx_ynode *n, const char *const *known, const char *what);

/* Typed scalar readers. Each reports a type or range error at the node (path = current path). */
bool lx_cfg_is_null(const lx_ynode *n);
/* Any scalar that is not null; NUL bytes refused. *out is a copy in the config's arena (the tree
 * is released after the load). */
bool lx_cfg_string(lx_cfg_ctx *c, const lx_ynode *n, const char **out);
/* Like lx_cfg_string, then an "env:VAR" value is replaced by the variable's value (copied into
 * the config's arena); *env_var gets the variable's name (arena) or NULL. A variable that is not
 * set, or empty, is an error naming it. `secret`: the value is never quoted in an error. */
bool lx_cfg_string_env(lx_cfg_ctx *c, const lx_ynode *n, bool secret, const char **out, const char **env_var);
/* An integer written without quotes, in [lo, hi]; `expect` describes the range in the error,
 * e.g. "a positive integer". */
bool lx_cfg_int(lx_cfg_ctx *c, const lx_ynode *n, int64_t lo, int64_t hi, const char *expect, int64_t *out);
/* A finite number written without quotes (integer or decimal), in [lo, hi] (lo_open: > lo). */
bool lx_cfg_number(lx_cfg_ctx *c, const lx_ynode *n, double lo, bool lo_open, double hi, const char *expect,
                   double *out);
bool lx_cfg_bool(lx_cfg_ctx *c, const lx_ynode *n, bool *out);
/* Whether a plain scalar reads as an integer / a number (for provider_options -> JSON). */
bool lx_cfg_scalar_int(const lx_ynode *n, int64_t *out);
bool lx_cfg_scalar_number(const lx_ynode *n, double *out);
/* A path from the file: "~/" expands to $HOME, a relative path is joined to the base directory.
 * Returns an arena copy or NULL (error reported). */
const char *lx_cfg_resolve_path(lx_cfg_ctx *c, const lx_ynode *n, const char *p);

/* ---------------------------------------------------------- the config */

typedef struct lx_cfg_provider_meta {
    int key_source;             /* LX_CFG_KEY_* */
    const char *key_env;        /* the variable's name for KEY_ENV */
    const char *base_url_env;   /* base_url came from env:VAR */
} lx_cfg_provider_meta;

enum { LX_CFG_KEY_DEFAULT = 0, LX_CFG_KEY_NONE, LX_CFG_KEY_FILE, LX_CFG_KEY_ENV };

struct lx_config {
    lx_arena arena;
    const char *path;

    llmux_provider_params *providers;
    lx_cfg_provider_meta *provider_meta;
    size_t n_providers;

    llmux_alias *aliases;
    size_t n_aliases;

    const char **model_dirs;
    size_t n_model_dirs;
    bool has_threads, has_ctx;
    int32_t threads, ctx;
    /* local: slots .. queue; -1 = not set (the runtime's default applies) */
    int32_t slots, prompt_cache_mb, max_waiting;
    int64_t memory_budget_mb, idle_unload_s, max_wait_ms, prompt_cache_dir_mb;
    const char *prompt_cache_dir; /* NULL = none */
    int isolation;              /* local.isolation: LLMUX_ISOLATION_*; -1 = not set */
    bool sandbox_require;       /* sandbox.require */
    int64_t sandbox_uid, sandbox_gid; /* sandbox.user / sandbox.group; 0 = not set (65534) */

    int64_t connect_ms, first_byte_ms, idle_ms, total_ms; /* 0 = not set */

    bool has_cooldown_failures, has_cooldown_seconds;
    int32_t cooldown_failures;  /* as the runtime wants it: < 0 = never */
    int64_t cooldown_ms;

    bool has_records;
    const char *records;        /* NULL with has_records: `records: none` */
    const char *records_env;
    bool records_omit_bodies;

    llmux_model_info *prices;
    size_t n_prices;

    bool has_server;
    const char *server_listen;  /* server.listen ("HOST:PORT"); NULL = unset */
    lx_config_server_settings server; /* server.keys, cors_origins, limits (schema_server.c) */

    bool has_telemetry;
    const char *telemetry_log;  /* "stderr", "off" or a resolved path; NULL = unset */
    bool has_telemetry_log_level;
    llmux_log_level telemetry_log_level;
    const char *otlp_endpoint;  /* NULL = unset */
    const char *otlp_endpoint_env; /* it came from env:VAR (may hold a token: not printed) */
    const char *metrics_key;    /* a secret: never printed; NULL = /metrics needs no key */
    const char *metrics_key_env;
};

/* Sections (schema.c, schema_models.c). Each takes the section's value node with the path
 * already naming the section. */
bool lx_cfg_parse_root(lx_cfg_ctx *c, const lx_ynode *root);
bool lx_cfg_parse_providers(lx_cfg_ctx *c, const lx_ynode *n);
/* After lx_cfg_parse_providers: targets are checked against the providers in c->cfg. */
bool lx_cfg_parse_models(lx_cfg_ctx *c, const lx_ynode *n);
/* server.keys, server.cors_origins and server.limits of the `server:` mapping n (schema_server.c). */
bool lx_cfg_parse_server_auth(lx_cfg_ctx *c, const lx_ynode *n);
/* Whether name is one of the built-in providers. */
bool lx_cfg_builtin_provider(const char *name);
extern const char *const lx_cfg_builtin_providers[];

#endif
