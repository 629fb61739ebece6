/* The runtime: resolves a request's model, runs it on the engine (remote providers plug in here
 * through the provider interface), streams events to the caller and aggregates the response. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/response.h"
#include "catalog/catalog.h"
#include "engine/engine.h"
#include "engine/paths.h"
#include "remote.h"
#include "runtime/runtime_internal.h" /* also checks the accessors against their declarations */
#include "llmux.h"

/* Bounded registry: a runtime never holds more than this many loaded local models. */
#define LX_MAX_MODELS 16

typedef struct loaded_model {
    char *path;              /* canonical */
    lx_model *model;
    pthread_mutex_t lock;    /* one generation at a time per model */
    int users;               /* requests holding it (get_model .. put_model); guarded by rt->lock */
    uint64_t last_used;      /* rt->use_clock at the last get_model; guarded by rt->lock */
} loaded_model;

struct llmux_runtime {
    /* set once at creation */
    char **model_dirs;
    size_t n_model_dirs;
    char *default_model;
    int32_t n_threads;
    int32_t n_ctx;
    llmux_log_cb log;
    llmux_log_level log_level;
    void *log_user_data;
    llmux_progress_cb progress;
    void *progress_user_data;
    llmux_provider_params *providers; /* deep copies */
    size_t n_providers;
    lx_remote_timeouts timeouts;
    char *ca_bundle;         /* timeouts.ca_bundle points here */
    /* state */
    pthread_mutex_t lock;    /* guards models[] */
    pthread_mutex_t catalog_lock; /* guards catalog */
    lx_catalog *catalog;
    loaded_model *models[LX_MAX_MODELS];
    size_t n_models;
    uint64_t use_clock;      /* ticks once per get_model: orders models by last use */
};

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
    lx_catalog_destroy(rt->catalog);
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
    rt->timeouts.connect_ms = params->connect_timeout_ms > 0 ? params->connect_timeout_ms : 10000;
    rt->timeouts.first_byte_ms = params->first_byte_timeout_ms > 0 ? params->first_byte_timeout_ms : 120000;
    rt->timeouts.idle_ms = params->idle_timeout_ms > 0 ? params->idle_timeout_ms : 60000;
    /* libcurl itself reads neither variable; the curl tool and most HTTP clients honour them. */
    const char *ca = params->ca_bundle;
    if (!ca || !*ca) ca = getenv("SSL_CERT_FILE");
    if (!ca || !*ca) ca = getenv("CURL_CA_BUNDLE");
    if (ca && *ca && !(rt->ca_bundle = dup_str(ca))) goto oom;
    rt->timeouts.ca_bundle = rt->ca_bundle;
    if (!(rt->catalog = lx_catalog_create())) goto oom;
    pthread_mutex_init(&rt->lock, NULL);
    pthread_mutex_init(&rt->catalog_lock, NULL);
    *out = rt;
    return LLMUX_OK;
oom:
    st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory creating the runtime");
fail:
    free_config(rt);
    free(rt);
    return st;
}

void llmux_runtime_destroy(llmux_runtime *rt) {
    if (!rt) return;
    for (size_t i = 0; i < rt->n_models; i++) {
        lx_model_free(rt->models[i]->model);
        pthread_mutex_destroy(&rt->models[i]->lock);
        free(rt->models[i]->path);
        free(rt->models[i]);
    }
    free_config(rt);
    pthread_mutex_destroy(&rt->lock);
    pthread_mutex_destroy(&rt->catalog_lock);
    free(rt);
}

llmux_status llmux_runtime_check_model_path(const llmux_runtime *rt, const char *path, char *buf, size_t buf_size,
                                            llmux_error_info *err) {
    return lx_path_check_allowed((const char *const *)rt->model_dirs, rt->n_model_dirs, path, buf, buf_size, err);
}

/* ------------------------------------------------------------ resolution */

static bool is_path_like(const char *m) {
    size_t n = strlen(m);
    return m[0] == '/' || m[0] == '.' || (n > 5 && strcmp(m + n - 5, ".gguf") == 0);
}

/* Resolves "local/NAME", a bare NAME or a path to a canonical, allowed GGUF path. A name is
 * looked up as NAME, then NAME.gguf, in each model directory; a candidate that exists but is not
 * a regular file (a directory, FIFO or device) is reported as such (CONFIGURATION) unless a
 * regular one is found. */
static llmux_status resolve_local(const llmux_runtime *rt, const char *spec, char *out, size_t out_size,
                                  llmux_error_info *err) {
    if (is_path_like(spec)) return llmux_runtime_check_model_path(rt, spec, out, out_size, err);
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
    lx_model_free(lm->model);
    pthread_mutex_destroy(&lm->lock);
    free(lm->path);
    free(lm);
}

/* Finds or loads a model by canonical path and takes a use of it: the caller gives it back with
 * put_model once its generation is over, and until then the model is never evicted. With all
 * LX_MAX_MODELS slots taken, loading another evicts the least recently used model no request
 * holds; when every one is in use the answer is OVERLOADED (retrying after one finishes can
 * succeed). cancel (may be NULL) aborts the load with CANCELLED; a model whose load failed or
 * was cancelled is never registered. Loads run under rt->lock, one at a time. */
static llmux_status get_model(llmux_runtime *rt, const char *canon, const llmux_cancel *cancel, loaded_model **out,
                              llmux_error_info *err) {
    *out = NULL;
    pthread_mutex_lock(&rt->lock);
    llmux_status st = LLMUX_OK;
    for (size_t i = 0; i < rt->n_models; i++)
        if (strcmp(rt->models[i]->path, canon) == 0) {
            *out = rt->models[i];
            goto take;
        }
    if (rt->n_models == LX_MAX_MODELS) {
        size_t victim = LX_MAX_MODELS;
        for (size_t i = 0; i < rt->n_models; i++)
            if (rt->models[i]->users == 0 &&
                (victim == LX_MAX_MODELS || rt->models[i]->last_used < rt->models[victim]->last_used))
                victim = i;
        if (victim == LX_MAX_MODELS) {
            st = lx_error(err, LLMUX_E_OVERLOADED,
                          "all %d loaded local models are in use; %s can be loaded when one of them finishes",
                          LX_MAX_MODELS, canon);
            goto done;
        }
        /* No request holds it (users == 0), so no thread uses or waits on its lock. */
        char msg[PATH_MAX + 64];
        snprintf(msg, sizeof msg, "unloaded the least recently used model %s", rt->models[victim]->path);
        free_loaded(rt->models[victim]);
        rt->models[victim] = rt->models[--rt->n_models];
        rt_log(rt, LLMUX_LOG_INFO, msg);
    }
    loaded_model *lm = calloc(1, sizeof *lm);
    if (!lm || !(lm->path = dup_str(canon))) {
        free(lm);
        st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory loading %s", canon);
        goto done;
    }
    lx_model_params mp = lx_model_default_params();
    mp.path = canon;
    mp.n_threads = rt->n_threads;
    mp.n_ctx = rt->n_ctx;
    mp.progress = rt->progress;
    mp.progress_user_data = rt->progress_user_data;
    mp.cancel = cancel;
    st = lx_model_load(&mp, &lm->model, err);
    if (st != LLMUX_OK) {
        free(lm->path);
        free(lm);
        goto done;
    }
    pthread_mutex_init(&lm->lock, NULL);
    rt->models[rt->n_models++] = lm;
    *out = lm;
    rt_log(rt, LLMUX_LOG_INFO, "model loaded");
take:
    (*out)->users++;
    (*out)->last_used = ++rt->use_clock;
done:
    pthread_mutex_unlock(&rt->lock);
    return st;
}

/* Gives back a use taken by get_model. */
static void put_model(llmux_runtime *rt, loaded_model *lm) {
    pthread_mutex_lock(&rt->lock);
    lm->users--;
    pthread_mutex_unlock(&rt->lock);
}

/* ------------------------------------------------------------------ run */

typedef struct run_ctx {
    llmux_aggregator *agg;
    const llmux_run_params *params;
    int64_t t_start;
    int64_t t_first;      /* first content event, 0 until then */
    llmux_status agg_status;
    llmux_error_info agg_err;
} run_ctx;

static bool on_event(void *ud, const llmux_event *ev) {
    run_ctx *rc = ud;
    if (!rc->t_first && (ev->type == LLMUX_EVENT_TEXT_DELTA || ev->type == LLMUX_EVENT_REASONING_DELTA ||
                         ev->type == LLMUX_EVENT_TOOL_CALL_START))
        rc->t_first = lx_now_ns();
    if (rc->agg_status == LLMUX_OK) rc->agg_status = llmux_aggregator_add(rc->agg, ev, &rc->agg_err);
    bool keep = true;
    if (rc->params->on_event) keep = rc->params->on_event(ev, rc->params->user_data);
    return keep && rc->agg_status == LLMUX_OK;
}

static bool validate(const llmux_request *req, llmux_error_info *err) {
    const llmux_sampling *s = &req->sampling;
    if (!req->n_messages && !req->system) {
        lx_error(err, LLMUX_E_INVALID_REQUEST, "messages: at least one message is required");
        return false;
    }
    if (!llmux_is_unset(s->temperature) && !(s->temperature >= 0)) {
        lx_error(err, LLMUX_E_INVALID_REQUEST, "temperature: must be a number >= 0");
        return false;
    }
    if (!llmux_is_unset(s->top_p) && !(s->top_p > 0 && s->top_p <= 1)) {
        lx_error(err, LLMUX_E_INVALID_REQUEST, "top_p: must be in (0, 1]");
        return false;
    }
    if (s->max_tokens != LLMUX_UNSET_INT && s->max_tokens < 1) {
        lx_error(err, LLMUX_E_INVALID_REQUEST, "max_tokens: must be >= 1");
        return false;
    }
    for (size_t i = 0; i < s->n_stop; i++)
        if (!s->stop[i] || !s->stop[i][0]) {
            lx_error(err, LLMUX_E_INVALID_REQUEST, "stop[%zu]: must be a non-empty string", i);
            return false;
        }
    return true;
}

/* Builds the response from an aggregator that saw a terminal event, with timing, cost (spec:
 * the remote model spec to price; NULL = local, free) and the error. */
static llmux_status finish_response(llmux_runtime *rt, const char *spec, run_ctx *rc, int64_t t_wait, int64_t t_run,
                                    const lx_gen_stats *stats, llmux_status st, llmux_response **out,
                                    llmux_error_info *err) {
    llmux_response *resp = llmux_aggregator_response(rc->agg);
    llmux_aggregator_destroy(rc->agg);
    rc->agg = NULL;
    if (!resp) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory building the response");
    int64_t t_end = lx_now_ns();
    lx_response_set_timing(resp, lx_ms_between(t_wait, t_run), rc->t_first ? lx_ms_between(rc->t_start, rc->t_first) : -1,
                           lx_ms_between(rc->t_start, t_end));
    bool priced = spec ? lx_runtime_price_response(rt, spec, resp)
                       : (resp->cost = (llmux_cost){.known = true}, true); /* local inference has no price */
    if (!priced || (stats && stats->warning && !lx_response_add_warning(resp, stats->warning_code, stats->warning))) {
        llmux_response_free(resp);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory building the response");
    }
    if (st != LLMUX_OK) lx_response_set_error(resp, err);
    *out = resp;
    return st;
}

static llmux_status run_remote(llmux_runtime *rt, const char *spec, const llmux_request *req,
                               const llmux_run_params *params, llmux_response **out, llmux_error_info *err) {
    int64_t t_start = lx_now_ns();
    lx_remote_target *target = malloc(sizeof *target);
    if (!target) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory resolving %s", spec);
    llmux_status st = lx_remote_resolve(spec, rt->providers, rt->n_providers, target, err);
    if (st != LLMUX_OK) {
        free(target);
        return st;
    }
    run_ctx rc;
    memset(&rc, 0, sizeof rc);
    rc.params = params;
    rc.t_start = t_start;
    rc.agg = llmux_aggregator_create();
    if (!rc.agg) {
        free(target);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory creating the aggregator");
    }
    int64_t deadline = req->deadline_ms > 0 ? t_start + req->deadline_ms * 1000000 : 0;
    lx_event_sink sink = {on_event, &rc};
    st = lx_remote_run(target, req, params->cancel, deadline, &rt->timeouts, sink, err);
    free(target);
    if (rc.agg_status != LLMUX_OK && st == LLMUX_OK) {
        *err = rc.agg_err;
        st = rc.agg_status;
    }
    if (!llmux_aggregator_done(rc.agg)) {
        /* Failed before the first event: nothing reached the caller. */
        llmux_aggregator_destroy(rc.agg);
        return st != LLMUX_OK ? st : lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "the provider ended without a terminal event");
    }
    return finish_response(rt, spec, &rc, t_start, t_start, NULL, st, out, err);
}

llmux_status llmux_run(llmux_runtime *rt, const llmux_request *req, const llmux_run_params *params,
                       llmux_response **out, llmux_error_info *err) {
    llmux_error_info local_err;
    if (!err) err = &local_err;
    lx_error_clear(err);
    *out = NULL;
    llmux_run_params defaults = llmux_run_default_params();
    if (!params) params = &defaults;
    int64_t t_start = lx_now_ns();
    if (!validate(req, err)) return err->status;

    const char *spec = req->model && *req->model ? req->model : rt->default_model;
    if (!spec) return lx_error(err, LLMUX_E_INVALID_REQUEST, "model: no model given and no default model configured");
    if (lx_remote_is_remote(spec, rt->providers, rt->n_providers)) return run_remote(rt, spec, req, params, out, err);

    char canon[PATH_MAX];
    llmux_status st = resolve_local(rt, spec, canon, sizeof canon, err);
    if (st != LLMUX_OK) return st;
    loaded_model *lm;
    if ((st = get_model(rt, canon, params->cancel, &lm, err)) != LLMUX_OK) return st;

    run_ctx rc;
    memset(&rc, 0, sizeof rc);
    rc.params = params;
    rc.t_start = t_start;
    rc.agg = llmux_aggregator_create();
    if (!rc.agg) {
        put_model(rt, lm);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory creating the aggregator");
    }

    int64_t deadline = req->deadline_ms > 0 ? t_start + req->deadline_ms * 1000000 : 0;
    int64_t t_wait = lx_now_ns();
    pthread_mutex_lock(&lm->lock);
    int64_t t_run = lx_now_ns();
    lx_gen_stats stats;
    lx_event_sink sink = {on_event, &rc};
    st = lx_model_generate(lm->model, req, params->cancel, deadline, sink, &stats, err);
    pthread_mutex_unlock(&lm->lock);
    put_model(rt, lm);

    if (rc.agg_status != LLMUX_OK && st == LLMUX_OK) {
        *err = rc.agg_err;
        st = rc.agg_status;
    }
    if (!llmux_aggregator_done(rc.agg)) {
        /* Refused before START (context length, empty prompt): no event went out. */
        llmux_aggregator_destroy(rc.agg);
        return st != LLMUX_OK ? st : lx_error(err, LLMUX_E_INTERNAL, "the engine ended without a terminal event");
    }
    return finish_response(rt, NULL, &rc, t_wait, t_run, &stats, st, out, err);
}

/* ---------------------------------------------- accessors (runtime_internal.h) */


const llmux_provider_params *lx_runtime_providers(const llmux_runtime *rt, size_t *n) {
    *n = rt->n_providers;
    return rt->providers;
}

lx_remote_timeouts lx_runtime_timeouts(const llmux_runtime *rt) { return rt->timeouts; }

lx_catalog *lx_runtime_catalog_lock(llmux_runtime *rt) {
    pthread_mutex_lock(&rt->catalog_lock);
    return rt->catalog;
}

void lx_runtime_catalog_unlock(llmux_runtime *rt) { pthread_mutex_unlock(&rt->catalog_lock); }
