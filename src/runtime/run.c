/* Running executions: validation (llmux_request_validate), the routing plan, the executor, and
 * the two ways to consume an execution: llmux_run (blocking, callbacks on the caller's thread)
 * and llmux_submit (callbacks on the runtime's loop thread). See docs/executions.md. */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/request_copy.h"
#include "core/response.h"
#include "router/router.h"
#include "runtime/execution.h"
#include "runtime/executor.h"
#include "runtime/record.h"
#include "runtime/report.h"
#include "store/store.h"
#include "runtime/remote.h"
#include "runtime/runtime_internal.h"
#include "transport/http.h"

/* ------------------------------------------------------------------ run */

/* An accepted execution and what it needs until it is consumed. */
typedef struct started {
    lx_exec *x;
    lx_driver *driver;
    int64_t t_start;
    int64_t started_at_ms;       /* wall clock, for the record */
    char id[40];                 /* the execution id ("exec_...") */
    const llmux_request *req;
    const char *replay_of;       /* NULL unless a replay */
} started;

static void started_release(started *s) {
    lx_driver_free(s->driver); /* only after the execution ended: nothing runs on it any more */
    s->driver = NULL;
    lx_exec_destroy(s->x);
    s->x = NULL;
}

/* Refuses a plain model the runtime cannot resolve, before anything starts: an unknown provider,
 * a missing key, a local model that does not exist or does not load. */
static llmux_status check_plain(llmux_runtime *rt, const char *spec, const llmux_cancel *cancel,
                                llmux_error_info *err) {
    if (lx_runtime_is_remote(rt, spec)) {
        size_t np;
        const llmux_provider_params *pp = lx_runtime_providers(rt, &np);
        lx_remote_target *t = malloc(sizeof *t);
        if (!t) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory resolving %.200s", spec);
        llmux_status st = lx_remote_resolve(spec, pp, np, t, err);
        explicit_bzero(t, sizeof *t);
        free(t);
        return st;
    }
    lx_local_use use;
    /* On the loop thread a model that is not loaded is not loaded here: the name is checked now,
     * the load runs on the loader thread and a failed load ends the execution (executor.c). */
    bool would_block = false;
    llmux_status st = lx_http_client_on_loop(lx_runtime_timeouts(rt).client)
                          ? lx_runtime_local_try(rt, spec, &use, &would_block, err)
                          : lx_runtime_local(rt, spec, cancel, &use, err);
    lx_runtime_local_release(rt, &use);
    return st;
}

/* Validates, plans and starts req. LLMUX_OK: accepted (s filled; the execution will end, also
 * when every attempt fails). Otherwise refused: nothing started. The consumer (on_event,
 * user_data) is set up, and notify/arg set (NULL = a blocking consumer), before anything runs.
 * req must stay valid until the execution ended. plan: a recorded plan to follow (replay), NULL =
 * plan from the request's model. */
static llmux_status start_execution(llmux_runtime *rt, const llmux_request *req, const lx_plan *plan,
                                    const llmux_cancel *cancel, llmux_event_cb on_event, void *user_data,
                                    void (*notify)(void *), void *arg, started *s, llmux_error_info *err) {
    const char *replay_of = s->replay_of; /* set by a replay before the call */
    memset(s, 0, sizeof *s);
    s->replay_of = replay_of;
    s->t_start = lx_now_ns();
    s->started_at_ms = lx_wall_ms();
    s->req = req;
    lx_make_id(s->id, sizeof s->id, "exec_");
    llmux_status vst = llmux_request_validate(req, err);
    if (vst != LLMUX_OK) return vst;
    lx_plan p;
    if (plan) {
        p = *plan;
    } else {
        const char *spec = req->model && *req->model ? req->model : lx_runtime_default_model(rt);
        if (!spec)
            return lx_error(err, LLMUX_E_INVALID_REQUEST, "model: no model given and no default model configured");
        const lx_alias *alias = lx_aliases_find(lx_runtime_aliases(rt), spec);
        if (alias) {
            lx_plan_for_alias(alias, lx_runtime_next_seed(rt), &p);
        } else {
            llmux_status st = check_plain(rt, spec, cancel, err);
            if (st != LLMUX_OK) return st;
            lx_plan_for_model(spec, &p);
        }
    }
    if (!(s->x = lx_exec_create(cancel))) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory starting the execution");
    lx_exec_consume_begin(s->x, on_event, user_data);
    if (notify) lx_exec_set_notify(s->x, notify, arg);
    /* Accepted: from here on the caller always gets a terminal event and a response. */
    lx_report_started(rt);
    int64_t budget_ms = req->deadline_ms > 0 ? req->deadline_ms : lx_runtime_total_timeout_ms(rt);
    llmux_error_info e;
    lx_error_clear(&e);
    if (lx_driver_start(rt, req, &p, s->x, lx_deadline_after(s->t_start, budget_ms), &s->driver, &e) != LLMUX_OK)
        lx_exec_end(s->x, e.status, &e, NULL);
    return LLMUX_OK;
}

/* What the execution leaves behind, for its record and its telemetry. plan: storage for the
 * driver's plan, which the input points to (it must outlive the input). */
static lx_record_input record_input(llmux_runtime *rt, const started *s, const llmux_response *resp, llmux_status st,
                                    const llmux_error_info *err, bool provider_cost, lx_plan *plan) {
    lx_record_input in = {.id = s->id, .replay_of = s->replay_of, .req = s->req, .bodies = lx_runtime_records_bodies(rt),
                          .resp = resp, .status = st, .err = err, .started_at_ms = s->started_at_ms,
                          .provider_cost = provider_cost};
    in.requested_model = s->req && s->req->model && *s->req->model ? s->req->model : lx_runtime_default_model(rt);
    if (s->driver) {
        lx_driver_plan(s->driver, plan);
        in.plan = plan;
        in.attempts = lx_driver_attempts(s->driver, &in.n_attempts);
        in.priced_spec = lx_driver_priced_spec(s->driver);
    }
    return in;
}

/* Tells the telemetry the execution ended (accepted: s->x exists) or was refused. */
static void report(llmux_runtime *rt, const started *s, const lx_record_input *in) {
    lx_report_execution(rt, in, s->x != NULL, s->driver ? lx_driver_model(s->driver) : NULL,
                        s->driver ? lx_driver_provider(s->driver) : NULL);
}

/* Hands the execution's record to the runtime's writer (refused requests too: resp NULL), and
 * reports it to the telemetry. */
static void record(llmux_runtime *rt, const started *s, const llmux_response *resp, llmux_status st,
                   const llmux_error_info *err, bool provider_cost) {
    lx_plan plan;
    lx_record_input in = record_input(rt, s, resp, st, err, provider_cost, &plan);
    report(rt, s, &in);
    if (!lx_runtime_records_on(rt)) return;
    lx_exec_record *r = lx_record_build(rt, &in);
    if (!r) lx_runtime_log(rt, LLMUX_LOG_ERROR, "out of memory building an execution record: it is lost");
    lx_runtime_record(rt, r);
}

/* Builds the response of a consumed execution: timing, cost, the model that was asked for when
 * no event named one, the error. */
static llmux_status build_response(llmux_runtime *rt, started *s, lx_exec_result *res, llmux_response **out,
                                   llmux_error_info *err) {
    llmux_response *resp = res->resp;
    *err = res->err;
    if (!resp) {
        lx_plan plan;
        lx_record_input in = record_input(rt, s, NULL, res->status, err, false, &plan);
        report(rt, s, &in); /* ends its in-flight count */
        return res->status;
    }
    const lx_driver *d = s->driver;
    int64_t t_end = lx_now_ns();
    int64_t t_run = res->t_run_ns ? res->t_run_ns : s->t_start;
    lx_response_set_timing(resp, lx_ms_between(s->t_start, t_run),
                           res->t_first_ns ? lx_ms_between(s->t_start, res->t_first_ns) : -1,
                           lx_ms_between(s->t_start, t_end));
    bool ok = true;
    if ((!resp->model || !*resp->model) && d)
        ok = lx_response_set_meta(resp, NULL, lx_driver_model(d), lx_driver_provider(d));
    const char *spec = d ? lx_driver_priced_spec(d) : NULL;
    /* A remote answer is priced; a local one, or a request nothing answered, costs nothing. */
    ok = ok && (spec ? lx_runtime_price_response(rt, spec, resp) : (resp->cost = (llmux_cost){.known = true}, true));
    if (ok && res->has_stats && res->stats.warning)
        ok = lx_response_add_warning(resp, res->stats.warning_code, res->stats.warning);
    if (!ok) {
        llmux_response_free(resp);
        llmux_status st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory building the response");
        lx_plan plan;
        lx_record_input in = record_input(rt, s, NULL, st, err, false, &plan);
        report(rt, s, &in);
        return st;
    }
    if (res->status != LLMUX_OK) lx_response_set_error(resp, err);
    resp->execution_id = lx_response_strdup(resp, s->id); /* NULL only when out of memory */
    record(rt, s, resp, res->status, err, res->provider_cost);
    *out = resp;
    return res->status;
}

/* llmux_run's body: start (with a recorded plan for a replay), consume on this thread, respond. */
static llmux_status run_blocking(llmux_runtime *rt, const llmux_request *req, const lx_plan *plan, const char *replay_of,
                                 const llmux_run_params *params, llmux_response **out, llmux_error_info *err) {
    started s = {.replay_of = replay_of};
    llmux_status st = start_execution(rt, req, plan, params->cancel, params->on_event, params->user_data, NULL, NULL,
                                      &s, err);
    if (st != LLMUX_OK) {
        record(rt, &s, NULL, st, err, false);
        return st;
    }
    while (!lx_exec_consume_some(s.x, true)) {
    }
    lx_exec_result res;
    lx_exec_consume_end(s.x, &res);
    st = build_response(rt, &s, &res, out, err);
    started_release(&s);
    return st;
}

llmux_status llmux_run(llmux_runtime *rt, const llmux_request *req, const llmux_run_params *params,
                       llmux_response **out, llmux_error_info *err) {
    llmux_error_info local_err;
    if (!err) err = &local_err;
    lx_error_clear(err);
    if (out) *out = NULL;
    if (!rt || !req || !out) return lx_error(err, LLMUX_E_INVALID_REQUEST, "llmux_run: rt, req and out are required");
    llmux_run_params defaults = llmux_run_default_params();
    return run_blocking(rt, req, NULL, NULL, params ? params : &defaults, out, err);
}

llmux_status llmux_replay(llmux_runtime *rt, const char *execution_id, const llmux_run_params *params,
                          llmux_response **out, llmux_error_info *err) {
    llmux_error_info local_err;
    if (!err) err = &local_err;
    lx_error_clear(err);
    if (out) *out = NULL;
    if (!rt || !execution_id || !out)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "llmux_replay: rt, execution_id and out are required");
    if (!lx_record_id_valid(execution_id))
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "llmux_replay: \"%.64s\" is not an execution id", execution_id);
    const char *url = lx_runtime_records_url(rt);
    if (!url) return lx_error(err, LLMUX_E_CONFIGURATION, "replay needs execution records: the runtime has none");
    lx_store *store = NULL;
    lx_exec_record *rec = NULL;
    llmux_request *req = NULL;
    llmux_status st = lx_store_open(url, &store, err);
    if (st == LLMUX_OK) st = lx_store_get(store, execution_id, &rec, err);
    lx_store_close(store);
    if (st != LLMUX_OK) return st;
    if (!rec->request_json) {
        st = lx_error(err, LLMUX_E_INVALID_REQUEST, "execution %s was recorded without its request (records bodies off)",
                      execution_id);
        goto done;
    }
    if ((st = llmux_request_from_json(rec->request_json, strlen(rec->request_json), &req, err)) != LLMUX_OK) goto done;
    /* The same plan: an alias's recorded targets, order and weighted pick; else the same model. */
    lx_plan plan;
    llmux_error_info pe;
    if (!rec->plan_json || lx_plan_from_json(rec->plan_json, lx_runtime_aliases(rt), &plan, &pe) != LLMUX_OK) {
        const char *model = req->model && *req->model ? req->model : rec->requested_model;
        if (lx_aliases_find(lx_runtime_aliases(rt), model)) {
            st = lx_error(err, LLMUX_E_INVALID_REQUEST, "execution %s: its plan cannot be followed again (%s)",
                          execution_id, rec->plan_json ? pe.message : "no plan recorded");
            goto done;
        }
        lx_plan_for_model(model, &plan);
    }
    llmux_run_params defaults = llmux_run_default_params();
    st = run_blocking(rt, req, &plan, execution_id, params ? params : &defaults, out, err);
done:
    llmux_request_free(req);
    lx_exec_record_free(rec);
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
    /* st's details, allocated when the execution ends (an execution in flight does not need
     * these 1.2 KiB); NULL when out of memory then. */
    llmux_error_info *err;
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
    free(ex->err);
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
    llmux_status st = build_response(ex->rt, &ex->s, &res, &resp, &e);
    llmux_error_info *kept = malloc(sizeof *kept);
    if (kept) *kept = e;
    pthread_mutex_lock(&ex->mu);
    ex->resp = resp;
    ex->st = st;
    ex->err = kept;
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
    if (!lx_http_client_post(lx_runtime_timeouts(ex->rt).client, execution_drain, ex)) {
        /* Only while the runtime is being destroyed (its loop takes no more posts): nothing else
         * would drain this execution, and a freed (detached) one would leak. It cannot be drained
         * here: this runs under the execution's lock (lx_exec_set_notify), which draining takes,
         * and draining may free the execution. The teardown drains it once every producer thread
         * is gone. */
        if (!lx_runtime_defer(ex->rt, execution_drain, ex))
            lx_runtime_log(ex->rt, LLMUX_LOG_ERROR, "out of memory: an execution ending during the runtime's teardown is lost");
    }
}

llmux_status llmux_submit(llmux_runtime *rt, const llmux_request *req, const llmux_submit_params *params,
                          llmux_execution **out, llmux_error_info *err) {
    llmux_error_info local_err;
    if (!err) err = &local_err;
    lx_error_clear(err);
    if (out) *out = NULL;
    if (!rt || !req || !out) return lx_error(err, LLMUX_E_INVALID_REQUEST, "llmux_submit: rt, req and out are required");
    /* Validated before the copy below, so a refusal reads as llmux_run's: the copy goes through
     * JSON, whose decoding would name a C-only fault (an enum out of range) differently. */
    llmux_status vst = llmux_request_validate(req, err);
    if (vst != LLMUX_OK) {
        started refused = {.req = req, .started_at_ms = lx_wall_ms()};
        lx_make_id(refused.id, sizeof refused.id, "exec_");
        record(rt, &refused, NULL, vst, err, false);
        return vst;
    }
    llmux_execution *ex = calloc(1, sizeof *ex);
    llmux_status st = LLMUX_OK;
    if (!ex) st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory submitting the request");
    /* A deep copy, equal to the canonical codec's round trip (request_copy.h): the caller may
     * free req once this returns. */
    if (st == LLMUX_OK) st = lx_request_copy(req, &ex->req, err);
    if (st != LLMUX_OK) {
        if (ex) llmux_request_free(ex->req);
        free(ex);
        return st;
    }
    ex->rt = rt;
    if (params) ex->params = *params;
    pthread_mutex_init(&ex->mu, NULL);
    pthread_cond_init(&ex->cv, NULL);
    st = start_execution(rt, ex->req, NULL, ex->params.cancel, execution_event, ex, execution_notify, ex, &ex->s, err);
    if (st != LLMUX_OK) {
        record(rt, &ex->s, NULL, st, err, false);
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
    if (lx_http_client_on_loop(lx_runtime_timeouts(ex->rt).client))
        return lx_error(err, LLMUX_E_INVALID_REQUEST,
                        "llmux_execution_wait called from a callback on the runtime's loop thread (it would deadlock)");
    pthread_mutex_lock(&ex->mu);
    while (!ex->done) pthread_cond_wait(&ex->cv, &ex->mu);
    if (out) {
        *out = ex->resp;
        ex->resp = NULL;
    }
    llmux_status st = ex->st;
    if (ex->err) *err = *ex->err;
    else if (st != LLMUX_OK) lx_error(err, st, "out of memory keeping the error details");
    else lx_error_clear(err);
    pthread_mutex_unlock(&ex->mu);
    return st;
}

bool llmux_execution_cost(llmux_execution *ex, llmux_cost *out) {
    if (out) *out = (llmux_cost){.known = false};
    if (!ex || !out) return false;
    /* resp is set under mu before on_done runs (execution_drain), and taken only by wait. */
    pthread_mutex_lock(&ex->mu);
    bool have = ex->resp != NULL;
    if (have) *out = ex->resp->cost;
    pthread_mutex_unlock(&ex->mu);
    return have;
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

