/* The runtime handle: its set-once configuration (providers, aliases, timeouts), the HTTP client
 * (its loop thread carries every remote stream), the local models with their engine threads, the
 * targets' cooldown state and the catalog. Executions run in run.c and executor.c. */
#define _DEFAULT_SOURCE /* explicit_bzero */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/response.h"
#include "catalog/catalog.h"
#include "engine/engine.h"
#include "engine/paths.h"
#include "engine/sched.h"
#include "remote.h"
#include "router/router.h"
#include "store/store.h"
#include "runtime/engine_calls.h"
#include "runtime/engine_proc.h"
#include "runtime/engine_sup.h"
#include "runtime/local_worker.h"
#include "runtime/model_loader.h"
#include "runtime/runtime_internal.h"
#include "telemetry/telemetry.h"
#include "transport/http.h" /* also checks the accessors against their declarations */
#include "llmux.h"

/* Bounded registry: a runtime never holds more than this many loaded local models. */
#define LX_MAX_MODELS 16

/* How often the registry compares a loaded model's file with the one on disk (hot swap): a stat
 * per model per second at most, on the request path (no watcher thread). */
#define LX_SWAP_CHECK_NS ((int64_t)1000000000)

/* A file's identity, compared to notice a model file replaced on disk (a rename over it, a
 * rewrite, a copy): any field changing means another file. */
typedef struct file_stamp {
    uint64_t dev, ino;
    int64_t size, mtime_ns, ctime_ns;
} file_stamp;

typedef enum lm_state {
    LM_LOADING, /* one caller loads it outside rt->lock; others asking for it wait (rt->loaded) */
    LM_READY,
    LM_FAILED   /* its load failed: out of models[], kept until the callers that waited read why */
} lm_state;

typedef struct loaded_model {
    char *path;              /* canonical */
    char *via;               /* the spec it was first asked for by ("local/NAME", NAME or a path):
                                when that name later resolves to another file (a symlink
                                re-pointed), this entry is retired */
    lx_model *model;         /* NULL until loaded */
    lx_worker *worker;       /* the model's engine thread: all its decoding happens there */
    int users;               /* attempts holding it (get_model .. put_model), and callers waiting
                                for its load; guarded by rt->lock */
    uint64_t last_used;      /* rt->use_clock at the last get_model; guarded by rt->lock */
    int64_t idle_since_ns;   /* when users last dropped to 0 (idle_unload_s); guarded by rt->lock */
    int64_t mem_bytes;       /* estimate for the memory budget: file size (while loading), then
                                file size + KV cache */
    int64_t file_bytes, kv_bytes;
    int32_t n_ctx, n_slots;  /* measured after the load, before the engine thread starts */
    int64_t loaded_at_ms;    /* wall clock, when it became ready */
    file_stamp stamp;        /* the file as it was just before the load */
    int64_t checked_ns;      /* when stamp was last compared with the file on disk */
    lm_state state;          /* guarded by rt->lock */
    bool retired;            /* replaced (file changed, name re-pointed) or unloaded while in use:
                                no new request gets it, its own requests finish on it, and it is
                                freed when the last one leaves; guarded by rt->lock */
    llmux_error_info load_err; /* LM_FAILED: why, for the callers that waited */
} loaded_model;

static void free_loaded(loaded_model *lm);

/* One target's health, by spec. */
typedef struct cooldown_entry {
    char *target;
    lx_cooldown c;
} cooldown_entry;
/* Targets tracked for cooldown; past it the oldest-healthy are forgotten (never one cooling down). */
#define LX_MAX_COOLDOWNS 4096

struct llmux_runtime {
    /* set once at creation */
    char **model_dirs;
    size_t n_model_dirs;
    char *default_model;
    int32_t n_threads;
    int32_t n_ctx;
    int32_t local_slots, local_prompt_cache_mb, local_max_waiting;
    int64_t local_max_wait_ms;
    char *prompt_cache_dir;  /* NULL = none */
    bool prompt_cache_dir_created; /* this runtime made it (mkdir) */
    int64_t prompt_cache_dir_mb;
    int64_t memory_budget;   /* bytes; 0 = none */
    int64_t idle_unload_ns;  /* 0 = never */
    llmux_log_cb log;
    llmux_log_level log_level;
    void *log_user_data;
    llmux_progress_cb progress;
    void *progress_user_data;
    llmux_provider_params *providers; /* deep copies */
    size_t n_providers;
    lx_remote_settings timeouts; /* .client is http below */
    char *ca_bundle;         /* timeouts.ca_bundle points here */
    lx_http_client *http;    /* every remote request runs on its loop thread */
    lx_loop_gate *gate;      /* the engine threads' view of that loop's unread input
                                (transport/loop_gate.h); closed before the loop goes */
    lx_telemetry *telemetry; /* metrics, execution log, traces (sent through http) */
    lx_aliases *aliases;
    int64_t total_timeout_ms;
    int32_t cooldown_failures;   /* < 0: never */
    int64_t cooldown_ns;
    lx_engine_sup *engine;   /* local_isolation PROCESS: the engine child's supervisor */
    /* state */
    pthread_mutex_t cooldown_lock; /* guards cooldowns, seed */
    struct cooldown_entry *cooldowns;
    lx_record_writer *records;   /* NULL when records are off */
    char *records_url;           /* for replay's reads */
    bool records_omit_bodies;
    size_t n_cooldowns;
    uint64_t seed;
    /* state */
    pthread_mutex_t lock;    /* guards models[] */
    pthread_cond_t loaded;   /* broadcast when a model's load ends (LM_LOADING left) */
    pthread_mutex_t catalog_lock; /* guards catalog */
    lx_catalog *catalog;
    loaded_model *models[LX_MAX_MODELS];
    size_t n_models;
    uint64_t use_clock;      /* ticks once per get_model: orders models by last use */
    lx_model_loader *loader; /* loads for requests that came on the loop thread (model_loader.h) */
    int reaping;             /* models being freed on a thread of their own (free_victims) */
    /* Work the loop refused while stopping (lx_runtime_defer), run by llmux_runtime_destroy once
     * no producer thread is left. */
    pthread_mutex_t defer_lock; /* guards deferred only (taken under an execution's lock) */
    struct deferred *deferred;
};

typedef struct deferred {
    void (*fn)(void *arg);
    void *arg;
    struct deferred *next;
} deferred;

static void rt_log(const llmux_runtime *rt, llmux_log_level lvl, const char *msg) {
    if (rt->log && lvl >= rt->log_level) rt->log(lvl, msg, rt->log_user_data);
}

static char *dup_str(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static void free_config(llmux_runtime *rt) {
    for (size_t i = 0; i < rt->n_model_dirs; i++) free(rt->model_dirs[i]);
    free(rt->model_dirs);
    free(rt->default_model);
    free(rt->ca_bundle);
    free(rt->prompt_cache_dir);
    lx_catalog_destroy(rt->catalog);
    lx_aliases_destroy(rt->aliases);
    for (size_t i = 0; i < rt->n_cooldowns; i++) free(rt->cooldowns[i].target);
    free(rt->cooldowns);
    for (size_t i = 0; i < rt->n_providers; i++) {
        llmux_provider_params *p = &rt->providers[i];
        free((char *)p->name);
        free((char *)p->protocol);
        free((char *)p->base_url);
        free((char *)p->http_referer);
        free((char *)p->app_title);
        if (p->api_key) {
            /* Do not leave the secret in freed memory. */
            volatile char *k = (volatile char *)p->api_key;
            while (*k) *k++ = 0;
            free((char *)p->api_key);
        }
    }
    free(rt->providers);
}

/* local_prompt_cache_dir: an existing directory, or one level created (0700). */
static llmux_status prompt_cache_dir_init(llmux_runtime *rt, const llmux_runtime_params *params, llmux_error_info *err) {
    const char *d = params->local_prompt_cache_dir;
    struct stat sb;
    if (!*d || params->local_prompt_cache_dir_mb < 0 || params->local_prompt_cache_dir_mb > (INT64_MAX >> 21))
        return lx_error(err, LLMUX_E_CONFIGURATION, "local prompt cache directory: empty path or size out of range");
    bool created = false;
    if (stat(d, &sb) != 0 && (errno != ENOENT || mkdir(d, 0700) != 0 || !(created = true) || stat(d, &sb) != 0))
        return lx_error(err, LLMUX_E_CONFIGURATION, "local prompt cache directory %s cannot be created: %s", d,
                        strerror(errno));
    rt->prompt_cache_dir_created = created;
    if (!S_ISDIR(sb.st_mode))
        return lx_error(err, LLMUX_E_CONFIGURATION, "local prompt cache directory %s is not a directory", d);
    if (!(rt->prompt_cache_dir = dup_str(d))) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory");
    rt->prompt_cache_dir_mb = params->local_prompt_cache_dir_mb;
    return LLMUX_OK;
}

/* A local model's prompt cache warnings (engine thread). */
static void engine_warn(void *ud, const char *msg) { rt_log(ud, LLMUX_LOG_WARN, msg); }

/* The records writer's failures go to the runtime's log (from the writer thread). */
static void records_log(llmux_log_level level, const char *msg, void *ud) { rt_log(ud, level, msg); }

static void engine_log(void *ud, llmux_log_level level, const char *msg) { rt_log(ud, level, msg); }

/* Started as root, the engine child runs as engine_uid (default LX_ENGINE_CHILD_UID): a prompt
 * cache directory the runtime created itself (0700, root's) is handed to that user, or the child
 * could not write it. A directory that existed is left as it is (its owner chose); the child then
 * says why it cannot start if it cannot use it. */
static void engine_cache_owner(llmux_runtime *rt, int64_t uid, int64_t gid) {
    if (geteuid() != 0 || !rt->prompt_cache_dir_created) return;
    if (uid <= 0) uid = LX_ENGINE_CHILD_UID;
    if (gid <= 0) gid = LX_ENGINE_CHILD_UID;
    if (chown(rt->prompt_cache_dir, (uid_t)uid, (gid_t)gid) != 0) {
        char msg[600];
        snprintf(msg, sizeof msg, "could not give the prompt cache directory %.400s to the engine's user %lld: %s",
                 rt->prompt_cache_dir, (long long)uid, strerror(errno));
        rt_log(rt, LLMUX_LOG_WARN, msg);
    }
}

/* "UID:GID" of the engine's user (0 = the default), into buf. */
static const char *user_arg(char *buf, int64_t uid, int64_t gid) {
    snprintf(buf, 24, "%lld:%lld", (long long)(uid > 0 ? uid : LX_ENGINE_CHILD_UID),
             (long long)(gid > 0 ? gid : LX_ENGINE_CHILD_UID));
    return buf;
}

/* local_isolation PROCESS: the supervisor of the engine child, which gets the model directories
 * (the only ones its sandbox lets it read) and the local settings as flags of `llmux engine`.
 * Nothing starts until the first local request. */
static llmux_status engine_create(llmux_runtime *rt, const llmux_runtime_params *p, llmux_error_info *err) {
    if (p->engine_heartbeat_ms < 0 || p->engine_heartbeat_timeout_ms < 0)
        return lx_error(err, LLMUX_E_CONFIGURATION, "engine heartbeat settings must be >= 0");
    if (p->engine_uid < 0 || p->engine_gid < 0 || p->engine_uid > 0x7fffffff || p->engine_gid > 0x7fffffff)
        return lx_error(err, LLMUX_E_CONFIGURATION, "engine_uid and engine_gid must be in [0, 2147483647] (0 = 65534)");
    if (rt->n_model_dirs > 16)
        return lx_error(err, LLMUX_E_CONFIGURATION,
                        "isolation process: the engine process takes at most 16 model directories (%zu given)",
                        rt->n_model_dirs);
    char *path = p->engine_path && *p->engine_path ? strdup(p->engine_path) : lx_engine_default_path();
    if (!path)
        return lx_error(err, LLMUX_E_CONFIGURATION,
                        "isolation process: no llmux executable found for the engine process (none next to "
                        "libllmux or on PATH); set engine_path");
    /* At most 16 dirs x 2 + 11 settings x 2 + the cache directory x 2 + --require-sandbox. */
    char nums[11][24];
    const char *args[64];
    size_t n = 0, k = 0;
    for (size_t i = 0; i < rt->n_model_dirs; i++) {
        args[n++] = "--model-dir";
        args[n++] = rt->model_dirs[i];
    }
#define NUM_ARG(flag, fmt, v)                                      \
    do {                                                           \
        snprintf(nums[k], sizeof nums[k], fmt, v);                 \
        args[n++] = flag;                                          \
        args[n++] = nums[k++];                                     \
    } while (0)
    if (rt->n_threads > 0) NUM_ARG("--threads", "%d", (int)rt->n_threads);
    if (rt->n_ctx > 0) NUM_ARG("--ctx", "%d", (int)rt->n_ctx);
    if (rt->local_slots > 0) NUM_ARG("--slots", "%d", (int)rt->local_slots);
    NUM_ARG("--prompt-cache-mb", "%d", (int)rt->local_prompt_cache_mb);
    if (rt->local_max_waiting > 0) NUM_ARG("--max-waiting", "%d", (int)rt->local_max_waiting);
    if (rt->local_max_wait_ms > 0) NUM_ARG("--max-wait-ms", "%lld", (long long)rt->local_max_wait_ms);
    if (rt->memory_budget > 0) NUM_ARG("--memory-budget-mb", "%lld", (long long)(rt->memory_budget >> 20));
    if (rt->idle_unload_ns > 0) NUM_ARG("--idle-unload-s", "%lld", (long long)(rt->idle_unload_ns / 1000000000));
    NUM_ARG("--max-frame", "%u", LLMUX_JSON_MAX_BYTES);
    if (p->engine_sandbox_require) args[n++] = "--require-sandbox";
    if (p->engine_uid > 0 || p->engine_gid > 0) {
        args[n++] = "--user";
        args[n++] = user_arg(nums[k++], p->engine_uid, p->engine_gid);
    }
    /* local_prompt_cache_dir: the child's one writable directory (its sandbox grants it), so
     * prompts it saved are restored by the next child after a crash or restart. */
    if (rt->prompt_cache_dir) {
        args[n++] = "--cache-dir";
        args[n++] = rt->prompt_cache_dir;
        if (rt->prompt_cache_dir_mb > 0) NUM_ARG("--prompt-cache-dir-mb", "%lld", (long long)rt->prompt_cache_dir_mb);
        engine_cache_owner(rt, p->engine_uid, p->engine_gid);
    }
#undef NUM_ARG
    lx_engine_sup_params sp = {.loop = rt->http, .path = path, .args = args, .n_args = n,
                               .heartbeat_ms = p->engine_heartbeat_ms ? p->engine_heartbeat_ms : 1000,
                               .heartbeat_timeout_ms = p->engine_heartbeat_timeout_ms ? p->engine_heartbeat_timeout_ms : 10000,
                               .models_unload = rt->memory_budget > 0 || rt->idle_unload_ns > 0,
                               .log = engine_log, .log_ud = rt, .telemetry = rt->telemetry};
    rt->engine = lx_engine_sup_create(&sp);
    free(path);
    if (!rt->engine) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory creating the engine supervisor");
    return LLMUX_OK;
}

llmux_status llmux_runtime_create(const llmux_runtime_params *params, llmux_runtime **out, llmux_error_info *err) {
    *out = NULL;
    llmux_runtime_params defaults = llmux_runtime_default_params();
    if (!params) params = &defaults;
    llmux_runtime *rt = calloc(1, sizeof *rt);
    if (!rt) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory creating the runtime");
    llmux_status st = LLMUX_OK;
    if (params->n_model_dirs) {
        rt->model_dirs = calloc(params->n_model_dirs, sizeof(char *));
        if (!rt->model_dirs) goto oom;
    }
    for (size_t i = 0; i < params->n_model_dirs; i++) {
        struct stat sb;
        const char *d = params->model_dirs[i];
        if (!d || stat(d, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            st = lx_error(err, LLMUX_E_CONFIGURATION, "model directory %s does not exist", d ? d : "(null)");
            goto fail;
        }
        rt->model_dirs[i] = dup_str(d);
        if (!rt->model_dirs[i]) goto oom;
        rt->n_model_dirs++;
    }
    if (params->default_model && !(rt->default_model = dup_str(params->default_model))) goto oom;
    rt->n_threads = params->n_threads;
    rt->n_ctx = params->n_ctx;
    rt->local_slots = params->local_slots;
    rt->local_prompt_cache_mb = params->local_prompt_cache_mb;
    rt->local_max_waiting = params->local_max_waiting;
    rt->local_max_wait_ms = params->local_max_wait_ms;
    if (params->local_slots < 0 || params->local_slots > LX_MAX_SLOTS || params->local_prompt_cache_mb < 0 ||
        params->local_memory_budget_mb < 0 || params->local_idle_unload_s < 0 || params->local_max_waiting < 0 ||
        params->local_max_wait_ms < 0 || params->local_memory_budget_mb > (INT64_MAX >> 21) ||
        params->local_idle_unload_s > INT64_MAX / 2000000000) {
        st = lx_error(err, LLMUX_E_CONFIGURATION,
                      "local settings out of range (slots 0..%d; sizes, times and max_waiting >= 0)", LX_MAX_SLOTS);
        goto fail;
    }
    if (params->local_prompt_cache_dir && (st = prompt_cache_dir_init(rt, params, err)) != LLMUX_OK) goto fail;
    rt->memory_budget = params->local_memory_budget_mb * 1024 * 1024;
    rt->idle_unload_ns = params->local_idle_unload_s * 1000000000;
    rt->log = params->log;
    rt->log_level = params->log_level;
    rt->log_user_data = params->log_user_data;
    rt->progress = params->progress;
    rt->progress_user_data = params->progress_user_data;
    if (params->n_providers) {
        rt->providers = calloc(params->n_providers, sizeof *rt->providers);
        if (!rt->providers) goto oom;
    }
    for (size_t i = 0; i < params->n_providers; i++) {
        const llmux_provider_params *src = &params->providers[i];
        llmux_provider_params *dst = &rt->providers[i];
        rt->n_providers++;
        if (!src->name || !*src->name) {
            st = lx_error(err, LLMUX_E_CONFIGURATION, "providers[%zu].name: missing", i);
            goto fail;
        }
        if (!(dst->name = dup_str(src->name)) || (src->protocol && !(dst->protocol = dup_str(src->protocol))) ||
            (src->base_url && !(dst->base_url = dup_str(src->base_url))) ||
            (src->api_key && !(dst->api_key = dup_str(src->api_key))) ||
            (src->http_referer && !(dst->http_referer = dup_str(src->http_referer))) ||
            (src->app_title && !(dst->app_title = dup_str(src->app_title))))
            goto oom;
    }
    rt->timeouts.connect_ms = lx_pick_ms(params->connect_timeout_ms, LX_DEFAULT_CONNECT_MS);
    rt->timeouts.first_byte_ms = lx_pick_ms(params->first_byte_timeout_ms, LX_DEFAULT_FIRST_BYTE_MS);
    rt->timeouts.idle_ms = lx_pick_ms(params->idle_timeout_ms, LX_DEFAULT_IDLE_MS);
    /* libcurl itself reads neither variable; the curl tool and most HTTP clients honour them. */
    const char *ca = params->ca_bundle;
    if (!ca || !*ca) ca = getenv("SSL_CERT_FILE");
    if (!ca || !*ca) ca = getenv("CURL_CA_BUNDLE");
    if (ca && *ca && !(rt->ca_bundle = dup_str(ca))) goto oom;
    rt->timeouts.ca_bundle = rt->ca_bundle;
    if (!(rt->catalog = lx_catalog_create())) goto oom;
    if ((st = lx_runtime_catalog_load_shipped(rt->catalog, err)) != LLMUX_OK) goto fail;
    if ((st = lx_aliases_create(params->aliases, params->n_aliases, &rt->aliases, err)) != LLMUX_OK) goto fail;
    for (size_t i = 0; i < params->n_aliases; i++)
        if (strcmp(params->aliases[i].name, "local") == 0) {
            st = lx_error(err, LLMUX_E_CONFIGURATION, "aliases[%zu].name: \"%.64s\" is a provider name", i,
                          params->aliases[i].name);
            goto fail;
        }
    rt->total_timeout_ms = params->total_timeout_ms > 0 ? params->total_timeout_ms : 0;
    rt->cooldown_failures = params->cooldown_failures ? params->cooldown_failures : 3;
    rt->cooldown_ns = (params->cooldown_ms > 0 ? params->cooldown_ms : 30000) * 1000000;
    rt->seed = (uint64_t)lx_now_ns() ^ ((uint64_t)(uintptr_t)rt << 17);
    rt->records_omit_bodies = params->records_omit_bodies;
    if (params->records && *params->records) {
        lx_store *store = NULL;
        if (!(rt->records_url = dup_str(params->records))) goto oom;
        if ((st = lx_store_open(params->records, &store, err)) != LLMUX_OK) goto fail;
        lx_record_writer_params wp = lx_record_writer_default_params();
        wp.log = records_log;
        wp.log_user_data = rt;
        if ((st = lx_record_writer_start_ex(store, &wp, &rt->records, err)) != LLMUX_OK) goto fail;
    }
    pthread_mutex_init(&rt->cooldown_lock, NULL);
    pthread_mutex_init(&rt->defer_lock, NULL);
    if ((st = lx_http_client_create(NULL, &rt->http, err)) != LLMUX_OK) goto fail;
    if (!(rt->gate = lx_loop_gate_create(lx_http_client_base(rt->http)))) {
        st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory creating the runtime");
        goto fail;
    }
    rt->timeouts.client = rt->http;
    if (!(rt->loader = lx_model_loader_create(rt->http))) {
        st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "could not start the model loader thread");
        goto fail;
    }
    lx_telemetry_params tp = {.log = params->telemetry_log, .log_level = params->telemetry_log_level,
                              .otlp_endpoint = params->otlp_endpoint, .client = rt->http, .ca_bundle = rt->ca_bundle};
    if ((st = lx_telemetry_create(&tp, &rt->telemetry, err)) != LLMUX_OK) goto fail;
    if (params->local_isolation == LLMUX_ISOLATION_PROCESS && (st = engine_create(rt, params, err)) != LLMUX_OK)
        goto fail;
    pthread_mutex_init(&rt->lock, NULL);
    pthread_cond_init(&rt->loaded, NULL);
    pthread_mutex_init(&rt->catalog_lock, NULL);
    *out = rt;
    return LLMUX_OK;
oom:
    st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory creating the runtime");
fail:
    lx_engine_sup_destroy(rt->engine);
    lx_record_writer_stop(rt->records);
    free(rt->records_url);
    lx_telemetry_destroy(rt->telemetry);
    lx_model_loader_destroy(rt->loader);
    lx_loop_gate_close(rt->gate);
    lx_http_client_destroy(rt->http);
    lx_loop_gate_destroy(rt->gate);
    free_config(rt);
    free(rt);
    return st;
}

/* Runs (and frees) what lx_runtime_defer queued, oldest first. */
static void run_deferred(llmux_runtime *rt) {
    pthread_mutex_lock(&rt->defer_lock);
    deferred *d = rt->deferred, *rev = NULL;
    rt->deferred = NULL;
    pthread_mutex_unlock(&rt->defer_lock);
    while (d) {
        deferred *next = d->next;
        d->next = rev;
        rev = d;
        d = next;
    }
    while (rev) {
        deferred *next = rev->next;
        rev->fn(rev->arg);
        free(rev);
        rev = next;
    }
}

bool lx_runtime_defer(llmux_runtime *rt, void (*fn)(void *arg), void *arg) {
    deferred *d = malloc(sizeof *d);
    if (!d) return false;
    d->fn = fn;
    d->arg = arg;
    pthread_mutex_lock(&rt->defer_lock);
    d->next = rt->deferred;
    rt->deferred = d;
    pthread_mutex_unlock(&rt->defer_lock);
    return true;
}

void llmux_runtime_destroy(llmux_runtime *rt) {
    if (!rt) return;
    /* The trace exporter first: its last batch goes out through the HTTP client. The telemetry
     * itself stays until the end: executions still ending below (transfers the loop ends, local
     * requests the engine threads finish) report to it. */
    lx_telemetry_halt_export(rt->telemetry);
    /* The loader before the loop: the executions waiting for a load end (cancelled) and their
     * continuation still reaches the loop. */
    lx_model_loader_destroy(rt->loader);
    rt->loader = NULL;
    /* The engine child while the loop still runs (its connection lives there): it sees its
     * connection close and exits, or is killed after a wait. */
    lx_engine_sup_destroy(rt->engine);
    /* The loop next: it ends any transfer still open and closes the cached connections. The
     * engine threads, which outlive it, stop looking at it first. */
    lx_loop_gate_close(rt->gate);
    lx_http_client_destroy(rt->http);
    /* Then the local models: their engine threads end what they still run (each ends with a
     * record, so this comes before the writer stops). */
    pthread_mutex_lock(&rt->lock);
    while (rt->reaping > 0) pthread_cond_wait(&rt->loaded, &rt->lock);
    pthread_mutex_unlock(&rt->lock);
    for (size_t i = 0; i < rt->n_models; i++) free_loaded(rt->models[i]);
    lx_loop_gate_destroy(rt->gate); /* no engine thread is left to use it */
    /* Executions that ended while the loop was stopping: no thread produces anything any more,
     * and the records writer still takes their records. */
    run_deferred(rt);
    /* Then the records: everything queued is written before the writer stops. */
    lx_record_writer_stop(rt->records);
    free(rt->records_url);
    lx_telemetry_destroy(rt->telemetry);
    free_config(rt);
    pthread_mutex_destroy(&rt->lock);
    pthread_cond_destroy(&rt->loaded);
    pthread_mutex_destroy(&rt->catalog_lock);
    pthread_mutex_destroy(&rt->cooldown_lock);
    pthread_mutex_destroy(&rt->defer_lock);
    free(rt);
}

llmux_status llmux_runtime_check_model_path(const llmux_runtime *rt, const char *path, char *buf, size_t buf_size,
                                            llmux_error_info *err) {
    return lx_path_check_allowed((const char *const *)rt->model_dirs, rt->n_model_dirs, path, buf, buf_size, err);
}

/* ------------------------------------------------------------ resolution */


/* Resolves "local/NAME", a bare NAME or a path to a canonical, allowed GGUF path. A name is
 * looked up as NAME, then NAME.gguf, in each model directory; a candidate that exists but is not
 * a regular file (a directory, FIFO or device) is reported as such (CONFIGURATION) unless a
 * regular one is found. */
static llmux_status resolve_local(const llmux_runtime *rt, const char *spec, char *out, size_t out_size,
                                  llmux_error_info *err) {
    if (llmux_model_kind_of(spec) == LLMUX_MODEL_LOCAL_PATH)
        return llmux_runtime_check_model_path(rt, spec, out, out_size, err);
    const char *name = strncmp(spec, "local/", 6) == 0 ? spec + 6 : spec;
    if (!*name) return lx_error(err, LLMUX_E_INVALID_REQUEST, "model: empty local model name");
    char odd[PATH_MAX] = ""; /* the first candidate that exists but is not a regular file */
    for (size_t i = 0; i < rt->n_model_dirs; i++) {
        static const char *const suffixes[] = {"", ".gguf"};
        for (size_t s = 0; s < 2; s++) {
            char cand[PATH_MAX];
            int k = snprintf(cand, sizeof cand, "%s/%s%s", rt->model_dirs[i], name, suffixes[s]);
            if (k < 0 || (size_t)k >= sizeof cand) continue;
            struct stat sb;
            if (stat(cand, &sb) != 0) continue;
            if (!S_ISREG(sb.st_mode)) {
                if (!odd[0]) memcpy(odd, cand, (size_t)k + 1);
                continue;
            }
            /* Found by name: it must still resolve inside an allowed directory ("../x" or a
             * symlink pointing out is refused). */
            return llmux_runtime_check_model_path(rt, cand, out, out_size, err);
        }
    }
    if (odd[0]) return llmux_runtime_check_model_path(rt, odd, out, out_size, err);
    return lx_error(err, LLMUX_E_MODEL_NOT_FOUND, "local model \"%s\" not found in the %zu model director%s", name,
                    rt->n_model_dirs, rt->n_model_dirs == 1 ? "y" : "ies");
}

static void free_loaded(loaded_model *lm) {
    if (!lm) return;
    lx_worker_destroy(lm->worker); /* joins the engine thread: never under rt->lock (it may want it) */
    lx_model_free(lm->model);
    free(lm->via);
    free(lm->path);
    free(lm);
}

/* Frees a victim on its own detached thread: the caller is the victim's engine thread (an
 * attempt that failed there gave back the last use of a retired model), which cannot join
 * itself. llmux_runtime_destroy waits for these (rt->reaping). */
typedef struct reap_job {
    llmux_runtime *rt;
    loaded_model *lm;
} reap_job;

static void *reap_main(void *arg) {
    reap_job *j = arg;
    llmux_runtime *rt = j->rt;
    free_loaded(j->lm);
    free(j);
    pthread_mutex_lock(&rt->lock);
    rt->reaping--;
    pthread_cond_broadcast(&rt->loaded);
    pthread_mutex_unlock(&rt->lock);
    return NULL;
}

/* Frees what a registry change took out of service, after rt->lock was released. */
static void free_victims(llmux_runtime *rt, loaded_model **victims, size_t n) {
    for (size_t i = 0; i < n; i++) {
        loaded_model *lm = victims[i];
        if (!lm->worker || !lx_worker_on_thread(lm->worker)) {
            free_loaded(lm);
            continue;
        }
        reap_job *j = malloc(sizeof *j);
        pthread_attr_t attr;
        pthread_t t;
        bool started = false;
        if (j && pthread_attr_init(&attr) == 0) {
            *j = (reap_job){rt, lm};
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            pthread_mutex_lock(&rt->lock);
            rt->reaping++;
            pthread_mutex_unlock(&rt->lock);
            started = pthread_create(&t, &attr, reap_main, j) == 0;
            if (started) rt_log(rt, LLMUX_LOG_DEBUG, "freeing a model on a thread of its own: its engine thread let go of it last");
            pthread_attr_destroy(&attr);
            if (!started) {
                pthread_mutex_lock(&rt->lock);
                rt->reaping--;
                pthread_mutex_unlock(&rt->lock);
            }
        }
        if (!started) {
            /* No thread to free it on: keep it (leaked until exit) rather than join oneself. */
            free(j);
            rt_log(rt, LLMUX_LOG_ERROR, "could not free an unloaded model: no thread available");
        }
    }
}

static size_t index_of(const llmux_runtime *rt, const loaded_model *lm) {
    for (size_t i = 0; i < rt->n_models; i++)
        if (rt->models[i] == lm) return i;
    return rt->n_models;
}

/* Under rt->lock: removes models[i] from the registry and adds it to victims (freed by the caller
 * after the lock: its engine thread may be waiting for it). Only for a model no request holds
 * (users == 0): nothing is queued on its engine thread. */
static void unregister(llmux_runtime *rt, size_t i, loaded_model **victims, size_t *n_victims, const char *why) {
    char msg[PATH_MAX + 96];
    snprintf(msg, sizeof msg, "unloaded %s model %s", why, rt->models[i]->path);
    victims[(*n_victims)++] = rt->models[i];
    rt->models[i] = rt->models[--rt->n_models];
    rt_log(rt, LLMUX_LOG_INFO, msg);
}

/* Under rt->lock: unregisters every model no request has held for idle_unload_s. Checked whenever
 * a local model is asked for and at each metrics scrape rather than on a timer: no thread or loop
 * event of its own, and freeing a model (joining its engine thread) never blocks the HTTP loop. */
static void unload_idle(llmux_runtime *rt, loaded_model **victims, size_t *n_victims) {
    if (!rt->idle_unload_ns) return;
    int64_t now = lx_now_ns();
    for (size_t i = rt->n_models; i-- > 0;)
        if (rt->models[i]->state == LM_READY && rt->models[i]->users == 0 &&
            now - rt->models[i]->idle_since_ns >= rt->idle_unload_ns)
            unregister(rt, i, victims, n_victims, "the idle");
}

/* Under rt->lock: the index of the least recently used model no request holds, other than skip;
 * rt->n_models when every one is in use (or loading). */
static size_t lru_idle(const llmux_runtime *rt, const loaded_model *skip) {
    size_t victim = rt->n_models;
    for (size_t i = 0; i < rt->n_models; i++)
        if (rt->models[i] != skip && rt->models[i]->state == LM_READY && rt->models[i]->users == 0 &&
            (victim == rt->n_models || rt->models[i]->last_used < rt->models[victim]->last_used))
            victim = i;
    return victim;
}

/* Under rt->lock: unregisters least recently used idle models (never keep) until `need` more bytes
 * fit in the memory budget beside the others (models being loaded count with their file size,
 * retired ones still in use with their whole size). False when the models in use leave too
 * little. */
static bool make_room(llmux_runtime *rt, int64_t need, const loaded_model *keep, loaded_model **victims,
                      size_t *n_victims) {
    if (!rt->memory_budget) return true;
    for (;;) {
        int64_t used = 0;
        for (size_t i = 0; i < rt->n_models; i++)
            if (rt->models[i] != keep) used += rt->models[i]->mem_bytes;
        if (used + need <= rt->memory_budget) return true;
        size_t v = lru_idle(rt, keep);
        if (v == rt->n_models) return false;
        unregister(rt, v, victims, n_victims, "(memory budget) the least recently used");
    }
}

#define MIB(b) ((long long)(((b) + (1 << 20) - 1) >> 20))

static bool stamp_of(const char *path, file_stamp *out) {
    struct stat sb;
    if (stat(path, &sb) != 0) return false;
    *out = (file_stamp){(uint64_t)sb.st_dev, (uint64_t)sb.st_ino, (int64_t)sb.st_size,
                        (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec,
                        (int64_t)sb.st_ctim.tv_sec * 1000000000 + sb.st_ctim.tv_nsec};
    return true;
}

/* Under rt->lock: whether lm's file was replaced on disk since it was loaded (hot swap), looked at
 * no more than once per LX_SWAP_CHECK_NS unless force. A file that is gone does not count: the
 * name no longer resolves, so no request reaches this entry by it. */
static bool file_replaced(loaded_model *lm, int64_t now, bool force) {
    if (!force && now - lm->checked_ns < LX_SWAP_CHECK_NS) return false;
    lm->checked_ns = now;
    file_stamp on_disk;
    if (!stamp_of(lm->path, &on_disk)) return false;
    const file_stamp *a = &lm->stamp;
    return a->dev != on_disk.dev || a->ino != on_disk.ino || a->size != on_disk.size ||
           a->mtime_ns != on_disk.mtime_ns || a->ctime_ns != on_disk.ctime_ns;
}

/* Under rt->lock: takes a ready model out of service. Nobody holds it: unregistered now (into
 * victims). Otherwise retired: no later request gets it, those holding it finish on it, and the
 * last one to let go unregisters it (drop_user). */
static void retire(llmux_runtime *rt, loaded_model *lm, loaded_model **victims, size_t *n_victims, const char *why) {
    size_t i = index_of(rt, lm);
    if (i == rt->n_models || lm->retired) return;
    if (lm->users == 0) {
        unregister(rt, i, victims, n_victims, why);
        return;
    }
    lm->retired = true;
    char msg[PATH_MAX + 160];
    snprintf(msg, sizeof msg, "retiring %s model %s: %d request%s finish on it first", why, lm->path, lm->users,
             lm->users == 1 ? "" : "s");
    rt_log(rt, LLMUX_LOG_INFO, msg);
}

/* Under rt->lock: gives back one use of lm. A retired model nobody holds any more is unregistered
 * and a failed load nobody waits for any more freed (both into victims). */
static void drop_user(llmux_runtime *rt, loaded_model *lm, loaded_model **victims, size_t *n_victims) {
    if (--lm->users > 0) return;
    lm->idle_since_ns = lx_now_ns();
    if (lm->state == LM_FAILED) {
        victims[(*n_victims)++] = lm; /* already out of models[] */
    } else if (lm->retired) {
        size_t i = index_of(rt, lm);
        if (i < rt->n_models) unregister(rt, i, victims, n_victims, "the retired");
    }
}

/* Under rt->lock: the serving entry (ready or loading, not retired) of a canonical path. */
static loaded_model *find_serving(const llmux_runtime *rt, const char *canon) {
    for (size_t i = 0; i < rt->n_models; i++)
        if (!rt->models[i]->retired && strcmp(rt->models[i]->path, canon) == 0) return rt->models[i];
    return NULL;
}

/* Under rt->lock: a name (not a path) that now resolves to canon retires the entries it loaded
 * from another file before: a symlink in a model directory re-pointed at a new file swaps the
 * model like a file replaced in place. */
static void retire_repointed(llmux_runtime *rt, const char *via, const char *canon, loaded_model **victims,
                             size_t *n_victims) {
    if (!via || llmux_model_kind_of(via) == LLMUX_MODEL_LOCAL_PATH) return;
    for (size_t i = rt->n_models; i-- > 0;) {
        loaded_model *lm = rt->models[i];
        if (lm->state == LM_READY && !lm->retired && lm->via && strcmp(lm->via, via) == 0 &&
            strcmp(lm->path, canon) != 0)
            retire(rt, lm, victims, n_victims, "the re-pointed");
    }
}

/* Under rt->lock, which it releases while waiting: waits for lm (held by the caller as a user)
 * to leave LM_LOADING. cancel (may be NULL) is looked at every 20 ms. */
static llmux_status wait_loaded(llmux_runtime *rt, loaded_model *lm, const llmux_cancel *cancel, llmux_error_info *err) {
    while (lm->state == LM_LOADING) {
        if (llmux_cancel_is_triggered(cancel))
            return lx_error(err, LLMUX_E_CANCELLED, "cancelled while waiting for %s to load", lm->path);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 20 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&rt->loaded, &rt->lock, &until);
    }
    if (lm->state == LM_FAILED) {
        if (err) *err = lm->load_err;
        return lm->load_err.status;
    }
    return LLMUX_OK;
}

/* Loads lm->path into lm (LM_LOADING, held by the caller) outside rt->lock: another model's
 * requests never wait for this load, nor for its failure. Sets model, kv_bytes, n_ctx and
 * n_slots; on failure lm->model stays NULL. */
static llmux_status load_entry(llmux_runtime *rt, loaded_model *lm, const llmux_cancel *cancel, llmux_error_info *err) {
    lx_model_params mp = lx_model_default_params();
    mp.path = lm->path;
    mp.n_threads = rt->n_threads;
    mp.n_ctx = rt->n_ctx;
    mp.progress = rt->progress;
    mp.progress_user_data = rt->progress_user_data;
    mp.cancel = cancel;
    mp.n_slots = rt->local_slots;
    mp.prompt_cache_mb = rt->local_prompt_cache_mb;
    mp.prompt_cache_dir = rt->prompt_cache_dir;
    mp.prompt_cache_dir_mb = rt->prompt_cache_dir_mb;
    mp.warn = engine_warn;
    mp.warn_user_data = rt;
    llmux_status st = lx_model_load(&mp, &lm->model, err);
    if (st != LLMUX_OK) return st;
    /* Measured before the engine thread starts: it is the only one touching the model after. */
    lm->kv_bytes = lx_model_kv_bytes(lm->model);
    lm->n_ctx = lx_model_n_ctx(lm->model);
    lm->n_slots = lx_model_n_slots(lm->model);
    return LLMUX_OK;
}

/* Under rt->lock, after load_entry succeeded: checks the loaded size against the budget (making
 * room), starts the engine thread and makes lm ready. On failure lm keeps its model (the caller
 * frees it outside the lock). */
static llmux_status publish_entry(llmux_runtime *rt, loaded_model *lm, loaded_model **victims, size_t *n_victims,
                                  llmux_error_info *err) {
    lm->mem_bytes = lm->file_bytes + lm->kv_bytes;
    if (rt->memory_budget && lm->mem_bytes > rt->memory_budget)
        return lx_error(err, LLMUX_E_CONFIGURATION,
                        "local model %s needs about %lld MiB (file %lld MiB + KV cache), more than "
                        "local.memory_budget_mb (%lld MiB); lower local.ctx or raise the budget",
                        lm->path, MIB(lm->mem_bytes), MIB(lm->file_bytes), MIB(rt->memory_budget));
    if (!make_room(rt, lm->mem_bytes, lm, victims, n_victims))
        return lx_error(err, LLMUX_E_OVERLOADED,
                        "local.memory_budget_mb (%lld MiB) is taken by models in use; %s (about %lld MiB) can be "
                        "loaded when one of them finishes",
                        MIB(rt->memory_budget), lm->path, MIB(lm->mem_bytes));
    char label[300];
    snprintf(label, sizeof label, "local/%.250s", lx_model_name(lm->model));
    lx_worker_params wp = {.model = lm->model, .max_waiting = rt->local_max_waiting,
                           .max_wait_ms = rt->local_max_wait_ms, .telemetry = rt->telemetry, .label = label,
                           .gate = rt->gate};
    if (!(lm->worker = lx_worker_create(&wp)))
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "could not start the engine thread for %s", lm->path);
    lm->state = LM_READY;
    lm->loaded_at_ms = lx_wall_ms();
    return LLMUX_OK;
}

/* "local/NAME" for a name (bare or prefixed), the spec itself for a path: what an entry was
 * asked for by (loaded_model.via). NULL when out of memory. */
static char *via_of(const char *spec) {
    if (llmux_model_kind_of(spec) == LLMUX_MODEL_LOCAL_PATH || strncmp(spec, "local/", 6) == 0) return dup_str(spec);
    size_t n = strlen(spec);
    char *s = malloc(n + 7);
    if (s) {
        memcpy(s, "local/", 6);
        memcpy(s + 6, spec, n + 1);
    }
    return s;
}

/* Finds or loads a model by canonical path and takes a use of it: the caller gives it back with
 * put_model once its generation is over, and until then the model is never unloaded. Loading
 * makes room first: with all LX_MAX_MODELS slots taken the least recently used model no request
 * holds is unloaded, and with a memory budget (local.memory_budget_mb) as many least recently
 * used idle models as the new one needs (its file size before the load, file + KV cache after).
 * When the models in use leave no room the answer is OVERLOADED (retrying after one finishes
 * can succeed); a model bigger than the whole budget is CONFIGURATION. Models idle for
 * local.idle_unload_s are unloaded here too. cancel (may be NULL) aborts the load (or the wait
 * for another caller's load of the same model) with CANCELLED; a model whose load failed or was
 * cancelled is never registered.
 *
 * Loads run outside rt->lock: requests for other models go on meanwhile, and callers asking for
 * the model being loaded wait for that one load and share its outcome (a failure included, so a
 * corrupt file fails its requests at once and never holds up another model).
 *
 * Hot swap: a loaded model whose file changed on disk (compared at most once a second, or now
 * when check_now) is retired and the file loaded anew, as is one its name (via) no longer
 * resolves to; requests already holding the old one finish on it. */
static llmux_status get_model(llmux_runtime *rt, const char *canon, const char *via, const llmux_cancel *cancel,
                              bool check_now, bool *would_block, loaded_model **out, llmux_error_info *err) {
    llmux_error_info local_err;
    if (!err) err = &local_err; /* a failed load keeps its reason for the callers that waited */
    *out = NULL;
    loaded_model *victims[2 * LX_MAX_MODELS + 2]; /* freed after the lock */
    size_t n_victims = 0;
    loaded_model *lm = NULL;
    llmux_status st = LLMUX_OK;
    pthread_mutex_lock(&rt->lock);
    unload_idle(rt, victims, &n_victims);
    while ((lm = find_serving(rt, canon)) != NULL) {
        if (would_block && lm->state == LM_LOADING) {
            /* The non-blocking caller (the loop thread) hands the wait to the loader. */
            *would_block = true;
            lm = NULL;
            goto done;
        }
        lm->users++;
        if (lm->state == LM_LOADING) {
            st = wait_loaded(rt, lm, cancel, err);
            if (st == LLMUX_OK) goto take;
            drop_user(rt, lm, victims, &n_victims);
            lm = NULL;
            /* The loader's own cancel stopped that load: not a failure of this caller's. */
            if (st == LLMUX_E_CANCELLED && !llmux_cancel_is_triggered(cancel)) {
                st = LLMUX_OK;
                pthread_mutex_unlock(&rt->lock); /* victims stay bounded however often this repeats */
                free_victims(rt, victims, n_victims);
                n_victims = 0;
                pthread_mutex_lock(&rt->lock);
                continue;
            }
            goto done;
        }
        if (!file_replaced(lm, lx_now_ns(), check_now)) goto take;
        drop_user(rt, lm, victims, &n_victims);
        retire(rt, lm, victims, &n_victims, "the replaced");
        lm = NULL;
    }
    if (would_block) {
        /* Nothing ready: the load happens on the loader thread (model_loader.c). */
        *would_block = true;
        goto done;
    }
    retire_repointed(rt, via, canon, victims, &n_victims);
    file_stamp stamp = {0};
    int64_t file_bytes = stamp_of(canon, &stamp) ? stamp.size : 0;
    if (rt->memory_budget && file_bytes > rt->memory_budget) {
        st = lx_error(err, LLMUX_E_CONFIGURATION, "local model %s (%lld MiB) does not fit in local.memory_budget_mb (%lld MiB)",
                      canon, MIB(file_bytes), MIB(rt->memory_budget));
        goto done;
    }
    if (rt->n_models == LX_MAX_MODELS) {
        size_t v = lru_idle(rt, NULL);
        if (v == rt->n_models) {
            st = lx_error(err, LLMUX_E_OVERLOADED,
                          "all %d loaded local models are in use; %s can be loaded when one of them finishes",
                          LX_MAX_MODELS, canon);
            goto done;
        }
        unregister(rt, v, victims, &n_victims, "the least recently used");
    }
    if (!make_room(rt, file_bytes, NULL, victims, &n_victims)) {
        st = lx_error(err, LLMUX_E_OVERLOADED,
                      "local.memory_budget_mb (%lld MiB) is taken by models in use; %s can be loaded when one of them finishes",
                      MIB(rt->memory_budget), canon);
        goto done;
    }
    lm = calloc(1, sizeof *lm);
    if (!lm || !(lm->path = dup_str(canon)) || (via && !(lm->via = via_of(via)))) {
        if (lm) free(lm->path);
        free(lm);
        lm = NULL;
        st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory loading %s", canon);
        goto done;
    }
    lm->state = LM_LOADING;
    lm->users = 1;
    lm->stamp = stamp;
    lm->checked_ns = lx_now_ns();
    lm->file_bytes = file_bytes;
    lm->mem_bytes = file_bytes; /* what it will take at least, while it loads */
    rt->models[rt->n_models++] = lm;
    pthread_mutex_unlock(&rt->lock);
    /* Victims (idle models unloaded to make room) are freed before the load: their memory is
     * what the new model needs. */
    free_victims(rt, victims, n_victims);
    n_victims = 0;
    st = load_entry(rt, lm, cancel, err);
    pthread_mutex_lock(&rt->lock);
    if (st == LLMUX_OK) st = publish_entry(rt, lm, victims, &n_victims, err);
    lx_model *failed_model = NULL;
    if (st != LLMUX_OK) {
        /* Out of models[] now, so the next request tries again; callers that waited for this
         * load read why from load_err until the last of them lets go (drop_user). */
        size_t i = index_of(rt, lm);
        if (i < rt->n_models) rt->models[i] = rt->models[--rt->n_models];
        lm->state = LM_FAILED;
        lm->load_err = *err;
        failed_model = lm->model;
        lm->model = NULL;
    }
    pthread_cond_broadcast(&rt->loaded);
    if (st != LLMUX_OK) {
        drop_user(rt, lm, victims, &n_victims);
        lm = NULL;
        pthread_mutex_unlock(&rt->lock);
        lx_model_free(failed_model);
        free_victims(rt, victims, n_victims);
        return st;
    }
    rt_log(rt, LLMUX_LOG_INFO, "model loaded");
    lm->last_used = ++rt->use_clock;
    *out = lm;
    goto done;
take:
    lm->last_used = ++rt->use_clock;
    *out = lm;
done:
    pthread_mutex_unlock(&rt->lock);
    free_victims(rt, victims, n_victims);
    return st;
}

/* Gives back a use taken by get_model. */
static void put_model(llmux_runtime *rt, loaded_model *lm) {
    loaded_model *victims[1];
    size_t n_victims = 0;
    pthread_mutex_lock(&rt->lock);
    drop_user(rt, lm, victims, &n_victims);
    pthread_mutex_unlock(&rt->lock);
    free_victims(rt, victims, n_victims);
}

/* ---------------------------------------------- accessors (runtime_internal.h) */


const llmux_provider_params *lx_runtime_providers(const llmux_runtime *rt, size_t *n) {
    *n = rt->n_providers;
    return rt->providers;
}

lx_remote_settings lx_runtime_timeouts(const llmux_runtime *rt) { return rt->timeouts; }

lx_catalog *lx_runtime_catalog_lock(llmux_runtime *rt) {
    pthread_mutex_lock(&rt->catalog_lock);
    return rt->catalog;
}

void lx_runtime_catalog_unlock(llmux_runtime *rt) { pthread_mutex_unlock(&rt->catalog_lock); }

/* ------------------------------------------------ for the executor and run.c */

const char *lx_runtime_default_model(const llmux_runtime *rt) { return rt->default_model; }

int64_t lx_runtime_total_timeout_ms(const llmux_runtime *rt) { return rt->total_timeout_ms; }

void lx_runtime_log(const llmux_runtime *rt, llmux_log_level level, const char *msg) { rt_log(rt, level, msg); }

const lx_aliases *lx_runtime_aliases(const llmux_runtime *rt) { return rt->aliases; }

bool lx_runtime_is_remote(const llmux_runtime *rt, const char *spec) {
    (void)rt;
    return llmux_model_kind_of(spec) == LLMUX_MODEL_REMOTE;
}

uint64_t lx_runtime_next_seed(llmux_runtime *rt) {
    pthread_mutex_lock(&rt->cooldown_lock);
    uint64_t v = lx_rng_next(&rt->seed);
    pthread_mutex_unlock(&rt->cooldown_lock);
    return v;
}

lx_engine_sup *lx_runtime_engine(const llmux_runtime *rt) { return rt->engine; }

/* local_isolation PROCESS: the resolved path, its display name (as lx_model_name derives it:
 * the file name without .gguf) and the spec the engine child is sent. */
static llmux_status local_for_child(const char *canon, const char *spec, lx_local_use *use, llmux_error_info *err) {
    const char *base = strrchr(canon, '/');
    base = base ? base + 1 : canon;
    size_t n = strlen(canon), b = strlen(base);
    if (b > 5 && strcmp(base + b - 5, ".gguf") == 0) b -= 5;
    const char *child = llmux_model_kind_of(spec) == LLMUX_MODEL_LOCAL_NAME ? spec : canon;
    size_t c = strlen(child);
    if (!(use->owned = malloc(n + 1 + b + 1 + c + 1)))
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory resolving %s", canon);
    memcpy(use->owned, canon, n + 1);
    memcpy(use->owned + n + 1, base, b);
    use->owned[n + 1 + b] = 0;
    memcpy(use->owned + n + 1 + b + 1, child, c + 1);
    use->path = use->owned;
    use->name = use->owned + n + 1;
    use->child_model = use->owned + n + 1 + b + 1;
    return LLMUX_OK;
}

/* Resolves a local spec and takes a use of its model (loading it when needed). */
static llmux_status local_acquire(llmux_runtime *rt, const char *spec, const llmux_cancel *cancel, bool check_now,
                                  bool *would_block, lx_local_use *use, llmux_error_info *err) {
    char canon[PATH_MAX];
    loaded_model *lm = NULL;
    memset(use, 0, sizeof *use);
    if (would_block) *would_block = false;
    llmux_status st = resolve_local(rt, spec, canon, sizeof canon, err);
    if (st == LLMUX_OK && rt->engine) return local_for_child(canon, spec, use, err);
    if (st == LLMUX_OK) st = get_model(rt, canon, spec, cancel, check_now, would_block, &lm, err);
    if (st != LLMUX_OK || !lm) return st;
    use->worker = lm->worker;
    use->name = lx_model_name(lm->model);
    use->held = lm;
    return LLMUX_OK;
}

llmux_status lx_runtime_local(llmux_runtime *rt, const char *spec, const llmux_cancel *cancel, lx_local_use *use,
                              llmux_error_info *err) {
    return local_acquire(rt, spec, cancel, false, NULL, use, err);
}

llmux_status lx_runtime_local_try(llmux_runtime *rt, const char *spec, lx_local_use *use, bool *would_block,
                                  llmux_error_info *err) {
    return local_acquire(rt, spec, NULL, false, would_block, use, err);
}

lx_model_loader *lx_runtime_loader(llmux_runtime *rt) { return rt->loader; }

void lx_runtime_local_release(llmux_runtime *rt, lx_local_use *use) {
    if (use->held) put_model(rt, use->held);
    free(use->owned);
    memset(use, 0, sizeof *use);
}

/* ------------------------------------------ explicit load and unload (model_registry.c) */

llmux_status lx_runtime_model_load(llmux_runtime *rt, const char *spec, const llmux_cancel *cancel,
                                   llmux_error_info *err) {
    if (rt->engine) return lx_engine_model_load(rt, spec, cancel, err); /* the child's registry */
    lx_local_use use;
    llmux_status st = local_acquire(rt, spec, cancel, true, NULL, &use, err);
    if (st == LLMUX_OK) lx_runtime_local_release(rt, &use);
    return st;
}

/* Under rt->lock: the serving entry a spec names: by the file it resolves to, else (the file is
 * gone or the name re-pointed) by the name it was loaded through. */
static loaded_model *find_for_unload(const llmux_runtime *rt, const char *canon, const char *via) {
    loaded_model *lm = canon ? find_serving(rt, canon) : NULL;
    for (size_t i = 0; !lm && via && i < rt->n_models; i++)
        if (!rt->models[i]->retired && rt->models[i]->via && strcmp(rt->models[i]->via, via) == 0) lm = rt->models[i];
    return lm;
}

llmux_status lx_runtime_model_unload(llmux_runtime *rt, const char *spec, llmux_error_info *err) {
    if (rt->engine) return lx_engine_model_unload(rt, spec, err); /* the child's registry */
    char canon[PATH_MAX];
    llmux_error_info ignored;
    bool resolved = resolve_local(rt, spec, canon, sizeof canon, &ignored) == LLMUX_OK;
    char *via = via_of(spec);
    if (!via) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory unloading %.200s", spec);
    loaded_model *victims[LX_MAX_MODELS];
    size_t n_victims = 0;
    llmux_status st = LLMUX_OK;
    pthread_mutex_lock(&rt->lock);
    loaded_model *lm = find_for_unload(rt, resolved ? canon : NULL, via);
    if (!lm) {
        st = lx_error(err, LLMUX_E_INVALID_REQUEST, "%.200s is not loaded", via);
    } else if (lm->state == LM_LOADING) {
        st = lx_error(err, LLMUX_E_OVERLOADED, "%.200s is being loaded; unload it once it is", via);
        if (err) err->retry_after_ms = 1000;
    } else {
        retire(rt, lm, victims, &n_victims, "(on request) the");
    }
    pthread_mutex_unlock(&rt->lock);
    free(via);
    free_victims(rt, victims, n_victims);
    return st;
}

llmux_status lx_runtime_models_snapshot(llmux_runtime *rt, lx_loaded_info **out, size_t *n, llmux_error_info *err) {
    *out = NULL;
    *n = 0;
    lx_loaded_info *info = calloc(LX_MAX_MODELS, sizeof *info);
    if (!info) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory listing the loaded models");
    loaded_model *victims[LX_MAX_MODELS + 1];
    size_t n_victims = 0;
    int64_t now = lx_now_ns();
    pthread_mutex_lock(&rt->lock);
    unload_idle(rt, victims, &n_victims); /* a listing, like a scrape, ends idle models' time */
    size_t k = 0;
    for (size_t i = 0; i < rt->n_models; i++) {
        const loaded_model *lm = rt->models[i];
        lx_loaded_info *o = &info[k++];
        lx_copy_field(o->path, sizeof o->path, lm->path);
        lx_copy_field(o->via, sizeof o->via, lm->via ? lm->via : "");
        lx_copy_field(o->name, sizeof o->name, lm->model ? lx_model_name(lm->model) : "");
        o->state = lm->state == LM_LOADING ? "loading" : lm->retired ? "retiring" : "loaded";
        o->users = lm->users;
        if (lm->worker) {
            size_t load = lx_worker_load(lm->worker), queued = lx_worker_queued(lm->worker);
            o->queued = queued;
            o->running = load > queued ? load - queued : 0;
        }
        o->mem_bytes = lm->mem_bytes;
        o->file_bytes = lm->file_bytes;
        o->kv_bytes = lm->kv_bytes;
        o->n_ctx = lm->n_ctx;
        o->n_slots = lm->n_slots;
        o->loaded_at_ms = lm->loaded_at_ms;
        o->idle_ms = lm->users == 0 && lm->state == LM_READY ? (now - lm->idle_since_ns) / 1000000 : 0;
        o->last_used = lm->last_used;
        o->idle_unload_ms = rt->idle_unload_ns / 1000000;
    }
    pthread_mutex_unlock(&rt->lock);
    free_victims(rt, victims, n_victims);
    *out = info;
    *n = k;
    return LLMUX_OK;
}

/* Under cooldown_lock: the entry of target, added when new (NULL when out of memory or full). */
static cooldown_entry *cooldown_of(llmux_runtime *rt, const char *target, bool add) {
    for (size_t i = 0; i < rt->n_cooldowns; i++)
        if (strcmp(rt->cooldowns[i].target, target) == 0) return &rt->cooldowns[i];
    if (!add || rt->n_cooldowns == LX_MAX_COOLDOWNS) return NULL;
    cooldown_entry *grown = realloc(rt->cooldowns, (rt->n_cooldowns + 1) * sizeof *grown);
    if (!grown) return NULL;
    rt->cooldowns = grown;
    cooldown_entry *e = &rt->cooldowns[rt->n_cooldowns];
    if (!(e->target = dup_str(target))) return NULL;
    e->c = (lx_cooldown){0};
    rt->n_cooldowns++;
    return e;
}

int lx_runtime_cooldown_check(llmux_runtime *rt, const char *target) {
    pthread_mutex_lock(&rt->cooldown_lock);
    cooldown_entry *e = cooldown_of(rt, target, false);
    int v = e ? (int)lx_cooldown_check(&e->c, lx_now_ns()) : LX_COOLDOWN_USE;
    pthread_mutex_unlock(&rt->cooldown_lock);
    return v;
}

void lx_runtime_cooldown_record(llmux_runtime *rt, const char *target, llmux_status st) {
    if (rt->cooldown_failures < 0) return;
    pthread_mutex_lock(&rt->cooldown_lock);
    cooldown_entry *e = cooldown_of(rt, target, st != LLMUX_OK);
    if (e) lx_cooldown_record(&e->c, st, lx_now_ns(), rt->cooldown_failures, rt->cooldown_ns);
    pthread_mutex_unlock(&rt->cooldown_lock);
}

llmux_status llmux_runtime_targets(llmux_runtime *rt, char **json, llmux_error_info *err) {
    if (json) *json = NULL;
    if (!rt || !json) return lx_error(err, LLMUX_E_INVALID_REQUEST, "llmux_runtime_targets: rt and json are required");
    json_t *arr = json_array();
    bool ok = arr != NULL;
    pthread_mutex_lock(&rt->cooldown_lock);
    int64_t now = lx_now_ns();
    for (size_t i = 0; i < rt->n_cooldowns && ok; i++) {
        const cooldown_entry *e = &rt->cooldowns[i];
        int64_t left = e->c.until_ns > now ? (e->c.until_ns - now + 999999) / 1000000 : 0;
        ok = json_array_append_new(arr, json_pack("{s:s,s:i,s:b,s:I}", "target", e->target, "consecutive_failures",
                                                  (int)e->c.failures, "cooling_down", left > 0,
                                                  "cooldown_remaining_ms", (json_int_t)left)) == 0;
    }
    pthread_mutex_unlock(&rt->cooldown_lock);
    if (ok) *json = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (!*json) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory listing targets");
    return LLMUX_OK;
}

void lx_runtime_record(llmux_runtime *rt, lx_exec_record *r) {
    if (rt->records && r) lx_record_writer_submit(rt->records, r); /* blocks while its queue is full */
    else lx_exec_record_free(r);
}

bool lx_runtime_records_on(const llmux_runtime *rt) { return rt->records != NULL; }

bool lx_runtime_records_bodies(const llmux_runtime *rt) { return !rt->records_omit_bodies; }

const char *lx_runtime_records_url(llmux_runtime *rt) {
    if (rt->records) lx_record_writer_flush(rt->records); /* what was submitted is readable */
    return rt->records_url;
}

void *llmux_runtime_event_base(llmux_runtime *rt) { return rt ? (void *)lx_http_client_base(rt->http) : NULL; }

llmux_status llmux_runtime_post(llmux_runtime *rt, void (*fn)(void *arg), void *arg) {
    if (!rt || !fn) return LLMUX_E_INVALID_REQUEST;
    /* It fails when the loop is stopping or when the post's few bytes cannot be allocated; the
     * caller's answer is the same (fn will not run), so one class says so. */
    return lx_http_client_post(rt->http, fn, arg) ? LLMUX_OK : LLMUX_E_CANCELLED;
}

bool llmux_runtime_on_loop(llmux_runtime *rt) { return rt && lx_http_client_on_loop(rt->http); }

/* ---------------------------------------------------------------- telemetry */

lx_telemetry *lx_runtime_telemetry(const llmux_runtime *rt) { return rt->telemetry; }

llmux_status llmux_metrics_prometheus(llmux_runtime *rt, char **text, size_t *len, llmux_error_info *err) {
    llmux_error_info local_err;
    if (!err) err = &local_err;
    lx_error_clear(err);
    if (text) *text = NULL;
    if (len) *len = 0;
    if (!rt || !text) return lx_error(err, LLMUX_E_INVALID_REQUEST, "llmux_metrics_prometheus: rt and text are required");
    /* The local queues are read now rather than tracked on every enqueue. rt->lock is also held
     * through a model load (seconds): a scrape, which may run on the loop thread, waits at most
     * 10 ms for it (other holders keep it for microseconds) and otherwise keeps the depths it
     * reported last. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 10 * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    loaded_model *victims[LX_MAX_MODELS + 1];
    size_t n_victims = 0;
    if (pthread_mutex_timedlock(&rt->lock, &until) == 0) {
        unload_idle(rt, victims, &n_victims); /* a scrape also ends idle models' time (idle_unload_s) */
        lx_telemetry_queues_begin(rt->telemetry);
        for (size_t i = 0; i < rt->n_models; i++) {
            if (rt->models[i]->state != LM_READY) continue; /* no engine thread yet */
            const char *name = lx_model_name(rt->models[i]->model);
            char label[300];
            snprintf(label, sizeof label, "local/%.250s", name ? name : "");
            lx_telemetry_queue_depth(rt->telemetry, label, lx_worker_queued(rt->models[i]->worker));
            lx_telemetry_prompt_cache_bytes(rt->telemetry, label, lx_worker_cache(rt->models[i]->worker).bytes);
        }
        /* local_isolation PROCESS: the models are the engine child's (its last pong's gauges). */
        lx_engine_sup_export(lx_runtime_engine(rt), rt->telemetry);
        pthread_mutex_unlock(&rt->lock);
    }
    free_victims(rt, victims, n_victims);
    *text = lx_telemetry_render(rt->telemetry, len);
    if (!*text) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory rendering the metrics");
    return LLMUX_OK;
}
