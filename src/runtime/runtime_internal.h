/* Read access to a runtime's set-once configuration for the runtime module's other files
 * (runtime_embed_models.c). The runtime's struct stays private to runtime.c. */
#ifndef LX_RUNTIME_INTERNAL_H
#define LX_RUNTIME_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llmux.h"
#include "catalog/catalog.h"
#include "runtime/remote.h"

/* The provider overrides copied at creation (*n entries; borrowed, valid for the runtime's life). */
const llmux_provider_params *lx_runtime_providers(const llmux_runtime *rt, size_t *n);
/* The remote timeouts configured at creation. */
lx_remote_settings lx_runtime_timeouts(const llmux_runtime *rt);

/* The runtime's model catalog, locked: every lx_runtime_catalog_lock is paired with one
 * lx_runtime_catalog_unlock, with no other runtime lock taken in between. */
lx_catalog *lx_runtime_catalog_lock(llmux_runtime *rt);
void lx_runtime_catalog_unlock(llmux_runtime *rt);

/* Sets resp->cost from the catalog (runtime_catalog.c): the provider's reported total wins, the
 * catalog's prices give the breakdown; adds "price_unknown" / "price_approximate" warnings.
 * False only when out of memory (adding a warning). */
bool lx_runtime_price_response(llmux_runtime *rt, const char *spec, llmux_response *resp);

/* Loads the catalog shipped with llmux (data/catalog.json, compiled in) into a new runtime's
 * catalog as its static layer (runtime_catalog.c). Only LLMUX_E_OUT_OF_MEMORY fails: shipped data
 * the loader refuses leaves the layer empty rather than break every runtime, and the test suite
 * (tests/catalog, tests/runtime) is what keeps such data from shipping. */
llmux_status lx_runtime_catalog_load_shipped(lx_catalog *c, llmux_error_info *err);

/* Which catalog layer priced (or would price) a response to `spec`: the entry
 * lx_runtime_price_response uses, and the layer that set its input price (configured, static =
 * the shipped data, discovered); LX_PRICE_ORIGIN_NONE without one. For records of a cost's source. */
lx_price_origin lx_runtime_price_origin(llmux_runtime *rt, const char *spec, const llmux_response *resp);

/* Merges a provider's model list into the catalog as discovered entries (runtime_catalog.c). */
llmux_status lx_runtime_catalog_discovered(llmux_runtime *rt, const llmux_model_list *list, llmux_error_info *err);

/* ---------------------------------------------------- for the executor (executor.c) */

typedef struct lx_worker lx_worker;
typedef struct lx_aliases lx_aliases;

const char *lx_runtime_default_model(const llmux_runtime *rt);
/* The execution budget when a request sets none (ms; 0 = none). */
int64_t lx_runtime_total_timeout_ms(const llmux_runtime *rt);
void lx_runtime_log(const llmux_runtime *rt, llmux_log_level level, const char *msg);
/* The next seed for a weighted pick (thread-safe). */
uint64_t lx_runtime_next_seed(llmux_runtime *rt);
/* The runtime's aliases (never NULL; may be empty). */
const lx_aliases *lx_runtime_aliases(const llmux_runtime *rt);
/* Whether spec names a remote provider (else it is a local model). */
bool lx_runtime_is_remote(const llmux_runtime *rt, const char *spec);
/* A local model held by one attempt: it is not unloaded until released. */
typedef struct lx_local_use {
    lx_worker *worker;       /* its engine thread; NULL with local_isolation PROCESS */
    const char *name;        /* display name (owned by the runtime, or by owned) */
    void *held;              /* the registry entry */
    const char *path;        /* PROCESS: the canonical model path the engine child loads */
    const char *child_model; /* PROCESS: the spec the child is sent: a local name as given (the
                                child resolves it in the same directories and lists the model
                                under it, as in-process), else path */
    char *owned;             /* PROCESS: holds path, name and child_model */
} lx_local_use;

/* Resolves a local model spec, loading the model when needed (cancel aborts the load), and holds
 * it until lx_runtime_local_release. Errors as llmux_run's refusals. With local_isolation
 * PROCESS nothing is loaded here: the spec is resolved to an allowed, existing file (use->path;
 * use->worker NULL) and the engine child loads it (lx_runtime_engine). */
llmux_status lx_runtime_local(llmux_runtime *rt, const char *spec, const llmux_cancel *cancel, lx_local_use *use,
                              llmux_error_info *err);
void lx_runtime_local_release(llmux_runtime *rt, lx_local_use *use);
/* Non-blocking lx_runtime_local for the loop thread: takes a use of the model when it is loaded
 * and ready; *would_block (and LLMUX_OK, nothing held) when it would have to load the model or
 * wait for its load, which the caller then does on the loader thread (lx_runtime_loader). */
llmux_status lx_runtime_local_try(llmux_runtime *rt, const char *spec, lx_local_use *use, bool *would_block,
                                  llmux_error_info *err);
struct lx_model_loader;
struct lx_model_loader *lx_runtime_loader(llmux_runtime *rt);

/* ------------------------------- explicit load / unload / listing (model_registry.c) */

/* Loads a local model now (or finds it loaded), comparing its file with the one on disk at once
 * rather than at most once a second, so a file replaced just before is the one loaded. Blocking;
 * errors as lx_runtime_local. Holds nothing on return. */
llmux_status lx_runtime_model_load(llmux_runtime *rt, const char *spec, const llmux_cancel *cancel,
                                   llmux_error_info *err);
/* Takes a loaded model out of service: freed now when no request holds it, else once the requests
 * holding it finished (they finish normally); later requests load it again. Errors:
 * INVALID_REQUEST (not loaded), OVERLOADED (being loaded; retry_after_ms set), OUT_OF_MEMORY. */
llmux_status lx_runtime_model_unload(llmux_runtime *rt, const char *spec, llmux_error_info *err);

/* One registry entry, copied out under the registry's lock. */
typedef struct lx_loaded_info {
    char path[4096];          /* canonical file */
    char via[320];            /* "local/NAME" (or the path) it was first asked for by */
    char name[256];           /* the model's display name (file name without .gguf); "" while loading */
    const char *state;        /* "loading", "loaded" or "retiring" (static) */
    int users;                /* requests holding it (and callers waiting for its load) */
    size_t queued, running;   /* on its engine thread */
    int64_t mem_bytes, file_bytes, kv_bytes;
    int32_t n_ctx, n_slots;
    int64_t loaded_at_ms;     /* unix ms; 0 while loading */
    int64_t idle_ms;          /* since the last request left it; 0 while in use */
    int64_t idle_unload_ms;   /* local.idle_unload_s in ms; 0 = never */
    uint64_t last_used;       /* larger = used more recently */
} lx_loaded_info;

/* The registry's entries (*n of them, at most 16) in *out (free()); idle models past
 * local.idle_unload_s are unloaded first. OUT_OF_MEMORY only. */
llmux_status lx_runtime_models_snapshot(llmux_runtime *rt, lx_loaded_info **out, size_t *n, llmux_error_info *err);
typedef struct lx_engine_sup lx_engine_sup;
/* The engine child's supervisor (engine_sup.h); NULL unless local_isolation is PROCESS. */
lx_engine_sup *lx_runtime_engine(const llmux_runtime *rt);

/* The cooldown of one target (by spec), per runtime (router.h's rules, thread-safe). */
int lx_runtime_cooldown_check(llmux_runtime *rt, const char *target);
void lx_runtime_cooldown_record(llmux_runtime *rt, const char *target, llmux_status st);

/* Queues fn(arg) to run in llmux_runtime_destroy after the loop and the engine threads stopped
 * (and before the records writer stops): for work the stopping loop no longer takes
 * (llmux_runtime_post refused) that must still run on some thread, such as draining an execution
 * that ended during the teardown. Any thread, also under an execution's lock (it takes only a
 * lock of its own, briefly). False when out of memory (fn will not run). */
bool lx_runtime_defer(llmux_runtime *rt, void (*fn)(void *arg), void *arg);

/* ------------------------------------------------------------------ records */

typedef struct lx_exec_record lx_exec_record;
/* Hands a heap record to the writer thread (blocks while its queue is full); frees it when
 * records are off. NULL ok. */
void lx_runtime_record(llmux_runtime *rt, lx_exec_record *r);
bool lx_runtime_records_on(const llmux_runtime *rt);
/* Whether requests and response text are stored (records_omit_bodies not set). */
bool lx_runtime_records_bodies(const llmux_runtime *rt);
/* The records URL, after flushing the writer (so what was submitted can be read); NULL = off. */
const char *lx_runtime_records_url(llmux_runtime *rt);

/* ---------------------------------------------------------------- telemetry */

typedef struct lx_telemetry lx_telemetry;
/* The runtime's telemetry (never NULL once created; valid for the runtime's life). */
lx_telemetry *lx_runtime_telemetry(const llmux_runtime *rt);

#endif
