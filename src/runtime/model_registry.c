/* The public calls of the local model registry (include/llmux.h, "local model registry"):
 * explicit load and unload, the list of loaded models, and what the build runs models on. The
 * registry itself (entries, budget, hot swap) is in runtime.c; this file checks the arguments,
 * bounds a load by its deadline, and renders the JSON. */
#define _XOPEN_SOURCE 700
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/cancel.h"
#include "core/clock.h"
#include "core/error.h"
#include "engine/system_info.h"
#include "router/router.h"
#include "runtime/engine_calls.h"
#include "runtime/runtime_internal.h"

/* A model spec longer than this is refused before anything looks it up. */
#define LX_MODEL_SPEC_MAX 1024

/* What every registry call requires of its model argument. */
static llmux_status check_spec(llmux_runtime *rt, const char *fn, const char *model, llmux_error_info *err) {
    if (!rt || !model) return lx_error(err, LLMUX_E_INVALID_REQUEST, "%s: rt and model are required", fn);
    size_t n = strnlen(model, LX_MODEL_SPEC_MAX + 1);
    if (n == 0) return lx_error(err, LLMUX_E_INVALID_REQUEST, "model: empty");
    if (n > LX_MODEL_SPEC_MAX)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "model: longer than %d bytes", LX_MODEL_SPEC_MAX);
    if (llmux_model_kind_of(model) == LLMUX_MODEL_REMOTE)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "model \"%.200s\": only local models are loaded and unloaded",
                        model);
    if (lx_aliases_find(lx_runtime_aliases(rt), model))
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "model \"%.200s\" is an alias: name its local targets instead",
                        model);
    /* Loading blocks, and so may freeing a model's engine thread: never on the loop that carries
     * every remote stream. */
    if (llmux_runtime_on_loop(rt))
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "%s: not on the runtime's loop thread (it blocks)", fn);
    return LLMUX_OK;
}

/* ------------------------------------------------------------- deadline */

/* Triggers tok at deadline_ns (CLOCK_MONOTONIC) unless stopped first: llama.cpp's load is
 * interrupted through a cancel token only, so a deadline becomes one. */
typedef struct deadline_watch {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, fired;
    int64_t deadline_ns;
    llmux_cancel *tok;
} deadline_watch;

static void *watch_main(void *arg) {
    deadline_watch *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stop && lx_now_ns() < w->deadline_ns) {
        struct timespec until = {.tv_sec = w->deadline_ns / 1000000000, .tv_nsec = w->deadline_ns % 1000000000};
        pthread_cond_timedwait(&w->cv, &w->mu, &until);
    }
    if (!w->stop) {
        w->fired = true;
        llmux_cancel_trigger(w->tok);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static bool watch_start(deadline_watch *w, llmux_cancel *tok, int64_t deadline_ns) {
    *w = (deadline_watch){.deadline_ns = deadline_ns, .tok = tok};
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0) return false;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    bool ok = pthread_cond_init(&w->cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!ok) return false;
    pthread_mutex_init(&w->mu, NULL);
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        return false;
    }
    return true;
}

/* Stops the watch; true when it fired. */
static bool watch_stop(deadline_watch *w) {
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    return w->fired;
}

/* ----------------------------------------------------------------- public */

llmux_status llmux_model_load(llmux_runtime *rt, const char *model, const llmux_call_params *params,
                              llmux_error_info *err) {
    llmux_error_info local_err;
    if (!err) err = &local_err;
    lx_error_clear(err);
    llmux_call_params defaults = llmux_call_default_params();
    if (!params) params = &defaults;
    llmux_status st = check_spec(rt, "llmux_model_load", model, err);
    if (st != LLMUX_OK) return st;
    if (params->deadline_ms < 0) return lx_error(err, LLMUX_E_INVALID_REQUEST, "deadline_ms: must be >= 0");
    int64_t budget_ms = params->deadline_ms > 0 ? params->deadline_ms : lx_runtime_total_timeout_ms(rt);
    if (budget_ms <= 0) return lx_runtime_model_load(rt, model, params->cancel, err);
    llmux_cancel *tok = lx_cancel_create_linked(params->cancel);
    if (!tok) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory loading %.200s", model);
    deadline_watch w;
    int64_t budget_ns = budget_ms > INT64_MAX / 2000000 ? INT64_MAX / 2 : budget_ms * 1000000;
    if (!watch_start(&w, tok, lx_now_ns() + budget_ns)) {
        llmux_cancel_destroy(tok);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "could not start the deadline of loading %.200s", model);
    }
    st = lx_runtime_model_load(rt, model, tok, err);
    bool fired = watch_stop(&w);
    llmux_cancel_destroy(tok);
    if (st == LLMUX_E_CANCELLED && fired && !llmux_cancel_is_triggered(params->cancel))
        st = lx_error(err, LLMUX_E_TIMEOUT, "loading %.200s took longer than its deadline (%lld ms)", model,
                      (long long)budget_ms);
    return st;
}

llmux_status llmux_model_unload(llmux_runtime *rt, const char *model, llmux_error_info *err) {
    llmux_error_info local_err;
    if (!err) err = &local_err;
    lx_error_clear(err);
    llmux_status st = check_spec(rt, "llmux_model_unload", model, err);
    if (st != LLMUX_OK) return st;
    return lx_runtime_model_unload(rt, model, err);
}

static int by_last_use(const void *a, const void *b) {
    uint64_t x = ((const lx_loaded_info *)a)->last_used, y = ((const lx_loaded_info *)b)->last_used;
    return x < y ? 1 : x > y ? -1 : 0;
}

static json_t *entry_json(const lx_loaded_info *m) {
    bool loading = strcmp(m->state, "loading") == 0;
    /* When idle_unload_s will take it: only an idle, loaded model has such a time. */
    bool expires = m->idle_unload_ms > 0 && m->users == 0 && !loading;
    int64_t left = expires ? m->idle_unload_ms - m->idle_ms : 0;
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "model", m->via, "name", m->name,
                          "path", m->path, "state", m->state, "memory_bytes", (json_int_t)m->mem_bytes, "file_bytes",
                          (json_int_t)m->file_bytes, "kv_bytes", (json_int_t)m->kv_bytes, "context_length",
                          (json_int_t)m->n_ctx, "slots", (json_int_t)m->n_slots, "running", (json_int_t)m->running,
                          "queued", (json_int_t)m->queued, "in_use", (json_int_t)m->users, "idle_ms",
                          (json_int_t)m->idle_ms);
    if (!o) return NULL;
    if (json_object_set_new(o, "loaded_at_ms", loading ? json_null() : json_integer(m->loaded_at_ms)) != 0 ||
        json_object_set_new(o, "unload_in_ms", expires ? json_integer(left > 0 ? left : 0) : json_null()) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

llmux_status llmux_models_loaded(llmux_runtime *rt, char **json, llmux_error_info *err) {
    if (json) *json = NULL;
    if (!rt || !json) return lx_error(err, LLMUX_E_INVALID_REQUEST, "llmux_models_loaded: rt and json are required");
    if (lx_runtime_engine(rt)) return lx_engine_models_loaded(rt, json, err); /* local.isolation: process */
    lx_loaded_info *info = NULL;
    size_t n = 0;
    llmux_status st = lx_runtime_models_snapshot(rt, &info, &n, err);
    if (st != LLMUX_OK) return st;
    qsort(info, n, sizeof *info, by_last_use);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *o = entry_json(&info[i]);
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    free(info);
    if (arr) *json = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (!*json) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory listing the loaded models");
    return LLMUX_OK;
}

llmux_status llmux_system_info(char **json, llmux_error_info *err) {
    if (json) *json = NULL;
    if (!json) return lx_error(err, LLMUX_E_INVALID_REQUEST, "llmux_system_info: json is required");
    char *engine = lx_engine_system_info_json();
    json_t *o = engine ? json_loads(engine, 0, NULL) : NULL;
    free(engine);
    if (o && json_object_set_new(o, "version", json_string(llmux_version())) == 0) *json = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!*json) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory describing the system");
    return LLMUX_OK;
}
