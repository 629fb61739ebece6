/* The runtime: owns the HTTP client (its loop thread carries every remote stream) and the local
 * models with their engine threads; resolves a request's model, starts it as an execution on
 * the right producer and hands its events to the caller (execution.h). */
#define _DEFAULT_SOURCE /* explicit_bzero */
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
#include "runtime/execution.h"
#include "runtime/local_worker.h"
#include "runtime/runtime_internal.h"
#include "transport/http.h" /* also checks the accessors against their declarations */
#include "llmux.h"

/* Bounded registry: a runtime never holds more than this many loaded local models. */
#define LX_MAX_MODELS 16

typedef struct loaded_model {
    char *path;              /* canonical */
    lx_model *model;
    lx_worker *worker;       /* the model's engine thread: all its decoding happens there */
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
    lx_remote_settings timeouts; /* .client is http below */
    char *ca_bundle;         /* timeouts.ca_bundle points here */
    lx_http_client *http;    /* every remote request runs on its loop thread */
    /* state */
    pthread_mutex_t lock;    /* guards models[] */
    pthread_mutex_t catalog_lock; /* guards catalog */
    lx_catalog *catalog;
    loaded_model *models[LX_MAX_MODELS];
    size_t n_models;
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
    if ((st = lx_http_client_create(NULL, &rt->http, err)) != LLMUX_OK) goto fail;
    rt->timeouts.client = rt->http;
    pthread_mutex_init(&rt->lock, NULL);
    pthread_mutex_init(&rt->catalog_lock, NULL);
    *out = rt;
    return LLMUX_OK;
oom:
    st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory creating the runtime");
fail:
    lx_http_client_destroy(rt->http);
    free_config(rt);
    free(rt);
    return st;
}

void llmux_runtime_destroy(llmux_runtime *rt) {
    if (!rt) return;
    /* The loop first: it ends any transfer still open and closes the cached connections. */
    lx_http_client_destroy(rt->http);
    for (size_t i = 0; i < rt->n_models; i++) {
        lx_worker_destroy(rt->models[i]->worker);
        lx_model_free(rt->models[i]->model);
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

/* Resolves "local/NAME", a bare NAME or a path to a canonical, allowed GGUF path. */
static llmux_status resolve_local(const llmux_runtime *rt, const char *spec, char *out, size_t out_size,
                                  llmux_error_info *err) {
    if (is_path_like(spec)) return llmux_runtime_check_model_path(rt, spec, out, out_size, err);
    const char *name = strncmp(spec, "local/", 6) == 0 ? spec + 6 : spec;
    if (!*name) return lx_error(err, LLMUX_E_INVALID_REQUEST, "model: empty local model name");
    for (size_t i = 0; i < rt->n_model_dirs; i++) {
        static const char *const suffixes[] = {"", ".gguf"};
        for (size_t s = 0; s < 2; s++) {
            char cand[PATH_MAX];
            int k = snprintf(cand, sizeof cand, "%s/%s%s", rt->model_dirs[i], name, suffixes[s]);
            if (k < 0 || (size_t)k >= sizeof cand) continue;
            struct stat sb;
            if (stat(cand, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
            /* Found by name: it must still resolve inside an allowed directory ("../x" or a
             * symlink pointing out is refused). */
            return llmux_runtime_check_model_path(rt, cand, out, out_size, err);
        }
    }
    return lx_error(err, LLMUX_E_MODEL_NOT_FOUND, "local model \"%s\" not found in the %zu model director%s", name,
                    rt->n_model_dirs, rt->n_model_dirs == 1 ? "y" : "ies");
}

/* Finds or loads a model by canonical path. */
static llmux_status get_model(llmux_runtime *rt, const char *canon, loaded_model **out, llmux_error_info *err) {
    *out = NULL;
    pthread_mutex_lock(&rt->lock);
    for (size_t i = 0; i < rt->n_models; i++)
        if (strcmp(rt->models[i]->path, canon) == 0) {
            *out = rt->models[i];
            pthread_mutex_unlock(&rt->lock);
            return LLMUX_OK;
        }
    llmux_status st;
    if (rt->n_models == LX_MAX_MODELS) {
        st = lx_error(err, LLMUX_E_OVERLOADED, "%d models are loaded; no room for %s", LX_MAX_MODELS, canon);
        goto done;
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
    st = lx_model_load(&mp, &lm->model, err);
    if (st == LLMUX_OK && !(lm->worker = lx_worker_create(lm->model))) {
        lx_model_free(lm->model);
        st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "could not start the engine thread for %s", canon);
    }
    if (st != LLMUX_OK) {
        free(lm->path);
        free(lm);
        goto done;
    }
    rt->models[rt->n_models++] = lm;
    *out = lm;
    rt_log(rt, LLMUX_LOG_INFO, "model loaded");
done:
    pthread_mutex_unlock(&rt->lock);
    return st;
}

/* ------------------------------------------------------------------ run */

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
    if (req->deadline_ms < 0) {
        lx_error(err, LLMUX_E_INVALID_REQUEST, "deadline_ms: must be >= 0");
        return false;
    }
    return true;
}

/* Builds the response of a consumed execution: timing, cost (spec: the remote model spec to
 * price; NULL = local, free), the model that was asked for when no event named one, the error. */
static llmux_status finish_response(llmux_runtime *rt, const char *spec, const char *model, const char *provider,
                                    int64_t t_start, lx_exec_result *res, llmux_response **out,
                                    llmux_error_info *err) {
    llmux_response *resp = res->resp;
    *err = res->err;
    if (!resp) return res->status;
    int64_t t_end = lx_now_ns();
    int64_t t_run = res->t_run_ns ? res->t_run_ns : t_start;
    lx_response_set_timing(resp, lx_ms_between(t_start, t_run),
                           res->t_first_ns ? lx_ms_between(t_start, res->t_first_ns) : -1, lx_ms_between(t_start, t_end));
    bool ok = (!resp->model || !*resp->model) ? lx_response_set_meta(resp, NULL, model, provider) : true;
    ok = ok && (spec ? lx_runtime_price_response(rt, spec, resp)
                     : (resp->cost = (llmux_cost){.known = true}, true)); /* local inference has no price */
    if (ok && res->has_stats && res->stats.warning)
        ok = lx_response_add_warning(resp, res->stats.warning_code, res->stats.warning);
    if (!ok) {
        llmux_response_free(resp);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory building the response");
    }
    if (res->status != LLMUX_OK) lx_response_set_error(resp, err);
    *out = resp;
    return res->status;
}

static void remote_done(void *ud, llmux_status st, const llmux_error_info *err) { lx_exec_end(ud, st, err, NULL); }

/* An accepted execution and what its producer borrows until it ended. */
typedef struct started {
    lx_exec *x;
    lx_remote_target *target;  /* remote: owned (holds the key: wiped when freed) */
    const char *spec;          /* remote: the spec to price; NULL for local */
    const char *model;         /* the model asked for, for a response no event named */
    const char *provider;
    int64_t t_start;
} started;

static void started_release(started *s) {
    lx_exec_destroy(s->x);
    s->x = NULL;
    if (s->target) {
        explicit_bzero(s->target, sizeof *s->target);
        free(s->target);
        s->target = NULL;
    }
}

/* Validates, resolves and starts req. LLMUX_OK: accepted (s filled; the producer runs and will
 * end the execution, also when starting it failed). Otherwise refused: nothing started.
 * The consumer (on_event, user_data) is set up, and notify/arg set (NULL = a blocking consumer),
 * before the producer starts.
 * req must stay valid until the execution ended. */
static llmux_status start_execution(llmux_runtime *rt, const llmux_request *req, const llmux_cancel *cancel,
                                    llmux_event_cb on_event, void *user_data, void (*notify)(void *), void *arg,
                                    started *s, llmux_error_info *err) {
    memset(s, 0, sizeof *s);
    s->t_start = lx_now_ns();
    if (!validate(req, err)) return err->status;
    const char *spec = req->model && *req->model ? req->model : rt->default_model;
    if (!spec) return lx_error(err, LLMUX_E_INVALID_REQUEST, "model: no model given and no default model configured");
    int64_t deadline = lx_deadline_after(s->t_start, req->deadline_ms);
    llmux_error_info e;
    lx_error_clear(&e);
    llmux_status st;
    if (lx_remote_is_remote(spec, rt->providers, rt->n_providers)) {
        if (!(s->target = malloc(sizeof *s->target)))
            return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory resolving %.200s", spec);
        if ((st = lx_remote_resolve(spec, rt->providers, rt->n_providers, s->target, err)) != LLMUX_OK ||
            !(s->x = lx_exec_create(cancel))) {
            if (st == LLMUX_OK) st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory starting the execution");
            started_release(s);
            return st;
        }
        s->spec = spec;
        s->model = s->target->cfg.model;
        s->provider = s->target->cfg.name;
        lx_exec_consume_begin(s->x, on_event, user_data);
        if (notify) lx_exec_set_notify(s->x, notify, arg);
        /* Accepted: from here on the caller always gets a terminal event and a response. */
        st = lx_remote_start(s->target, req, lx_exec_cancel(s->x), deadline, &rt->timeouts, lx_exec_sink(s->x),
                             remote_done, s->x, &e);
    } else {
        char canon[PATH_MAX];
        loaded_model *lm;
        if ((st = resolve_local(rt, spec, canon, sizeof canon, err)) != LLMUX_OK ||
            (st = get_model(rt, canon, &lm, err)) != LLMUX_OK)
            return st;
        if (!(s->x = lx_exec_create(cancel)))
            return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory starting the execution");
        s->model = lx_model_name(lm->model);
        s->provider = "local";
        lx_exec_consume_begin(s->x, on_event, user_data);
        if (notify) lx_exec_set_notify(s->x, notify, arg);
        st = lx_worker_submit(lm->worker, req, s->x, deadline, &e);
    }
    if (st != LLMUX_OK) lx_exec_end(s->x, st, &e, NULL);
    return LLMUX_OK;
}

llmux_status llmux_run(llmux_runtime *rt, const llmux_request *req, const llmux_run_params *params,
                       llmux_response **out, llmux_error_info *err) {
    llmux_error_info local_err;
    if (!err) err = &local_err;
    lx_error_clear(err);
    if (out) *out = NULL;
    if (!rt || !req || !out) return lx_error(err, LLMUX_E_INVALID_REQUEST, "llmux_run: rt, req and out are required");
    llmux_run_params defaults = llmux_run_default_params();
    if (!params) params = &defaults;
    started s;
    llmux_status st = start_execution(rt, req, params->cancel, params->on_event, params->user_data, NULL, NULL, &s, err);
    if (st != LLMUX_OK) return st;
    while (!lx_exec_consume_some(s.x, true)) {
    }
    lx_exec_result res;
    lx_exec_consume_end(s.x, &res);
    st = finish_response(rt, s.spec, s.model, s.provider, s.t_start, &res, out, err);
    started_release(&s);
    return st;
}

/* ------------------------------------------------------ asynchronous executions */

struct llmux_execution {
    llmux_runtime *rt;
    llmux_request *req;        /* the execution's own copy */
    llmux_submit_params params;
    started s;

    pthread_mutex_t mu;        /* guards the fields below */
    pthread_cond_t cv;
    bool done;                 /* on_done ran; resp/st/err final */
    bool detached;             /* llmux_execution_free came first: the loop frees it at the end */
    llmux_response *resp;
    llmux_status st;
    llmux_error_info err;
};

llmux_submit_params llmux_submit_default_params(void) {
    llmux_submit_params p;
    memset(&p, 0, sizeof p);
    return p;
}

static void execution_free_now(llmux_execution *ex) {
    started_release(&ex->s);
    llmux_request_free(ex->req);
    llmux_response_free(ex->resp);
    pthread_cond_destroy(&ex->cv);
    pthread_mutex_destroy(&ex->mu);
    free(ex);
}

/* On the loop thread whenever the execution's producer queued something. */
static void execution_drain(void *arg) {
    llmux_execution *ex = arg;
    if (!lx_exec_consume_some(ex->s.x, false)) return;
    lx_exec_result res;
    lx_exec_consume_end(ex->s.x, &res);
    llmux_response *resp = NULL;
    llmux_error_info e;
    llmux_status st = finish_response(ex->rt, ex->s.spec, ex->s.model, ex->s.provider, ex->s.t_start, &res, &resp, &e);
    pthread_mutex_lock(&ex->mu);
    ex->resp = resp;
    ex->st = st;
    ex->err = e;
    pthread_mutex_unlock(&ex->mu);
    pthread_mutex_lock(&ex->mu);
    bool call_done = !ex->detached && ex->params.on_done;
    pthread_mutex_unlock(&ex->mu);
    if (call_done) ex->params.on_done(ex, ex->params.user_data);
    pthread_mutex_lock(&ex->mu);
    ex->done = true;
    bool detached = ex->detached;
    pthread_cond_broadcast(&ex->cv);
    pthread_mutex_unlock(&ex->mu);
    if (detached) execution_free_now(ex);
}

/* The caller's on_event, unless the execution was freed (then nothing more reaches the caller
 * and the execution stops). */
static bool execution_event(const llmux_event *ev, void *arg) {
    llmux_execution *ex = arg;
    pthread_mutex_lock(&ex->mu);
    bool detached = ex->detached;
    pthread_mutex_unlock(&ex->mu);
    if (detached) return false;
    return ex->params.on_event ? ex->params.on_event(ev, ex->params.user_data) : true;
}

/* The producer's notification: consume on the loop thread. */
static void execution_notify(void *arg) {
    llmux_execution *ex = arg;
    if (!lx_http_client_post(ex->rt->http, execution_drain, ex)) {
        /* Only when the runtime is being destroyed, which needs every execution ended. */
        rt_log(ex->rt, LLMUX_LOG_ERROR, "an execution ended while the runtime was being destroyed");
    }
}

llmux_status llmux_submit(llmux_runtime *rt, const llmux_request *req, const llmux_submit_params *params,
                          llmux_execution **out, llmux_error_info *err) {
    llmux_error_info local_err;
    if (!err) err = &local_err;
    lx_error_clear(err);
    if (out) *out = NULL;
    if (!rt || !req || !out) return lx_error(err, LLMUX_E_INVALID_REQUEST, "llmux_submit: rt, req and out are required");
    llmux_execution *ex = calloc(1, sizeof *ex);
    char *json = llmux_request_to_json(req);
    llmux_status st = LLMUX_OK;
    if (!ex || !json) st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory submitting the request");
    /* A deep copy through the canonical codec: the caller may free req once this returns. */
    if (st == LLMUX_OK) st = llmux_request_from_json(json, strlen(json), &ex->req, err);
    llmux_free(json);
    if (st != LLMUX_OK) {
        if (ex) llmux_request_free(ex->req);
        free(ex);
        return st;
    }
    ex->rt = rt;
    if (params) ex->params = *params;
    pthread_mutex_init(&ex->mu, NULL);
    pthread_cond_init(&ex->cv, NULL);
    st = start_execution(rt, ex->req, ex->params.cancel, execution_event, ex, execution_notify, ex, &ex->s, err);
    if (st != LLMUX_OK) {
        llmux_request_free(ex->req);
        pthread_cond_destroy(&ex->cv);
        pthread_mutex_destroy(&ex->mu);
        free(ex);
        return st;
    }
    *out = ex;
    return LLMUX_OK;
}

void llmux_execution_cancel(llmux_execution *ex) {
    if (ex) llmux_cancel_trigger((llmux_cancel *)lx_exec_cancel(ex->s.x));
}

bool llmux_execution_done(llmux_execution *ex) {
    if (!ex) return false;
    pthread_mutex_lock(&ex->mu);
    bool d = ex->done;
    pthread_mutex_unlock(&ex->mu);
    return d;
}

llmux_status llmux_execution_wait(llmux_execution *ex, llmux_response **out, llmux_error_info *err) {
    llmux_error_info local_err;
    if (!err) err = &local_err;
    if (out) *out = NULL;
    if (!ex) return lx_error(err, LLMUX_E_INVALID_REQUEST, "llmux_execution_wait: no execution");
    if (lx_http_client_on_loop(ex->rt->http))
        return lx_error(err, LLMUX_E_INVALID_REQUEST,
                        "llmux_execution_wait called from a callback on the runtime's loop thread (it would deadlock)");
    pthread_mutex_lock(&ex->mu);
    while (!ex->done) pthread_cond_wait(&ex->cv, &ex->mu);
    if (out) {
        *out = ex->resp;
        ex->resp = NULL;
    }
    llmux_status st = ex->st;
    *err = ex->err;
    pthread_mutex_unlock(&ex->mu);
    return st;
}

void llmux_execution_free(llmux_execution *ex) {
    if (!ex) return;
    pthread_mutex_lock(&ex->mu);
    bool done = ex->done;
    if (!done) {
        /* Still running: cancel it; it frees itself on the loop thread once it ended (which
         * cannot happen before this lock is released). */
        ex->detached = true;
        llmux_cancel_trigger((llmux_cancel *)lx_exec_cancel(ex->s.x));
    }
    pthread_mutex_unlock(&ex->mu);
    if (done) execution_free_now(ex);
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
