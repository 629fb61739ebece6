/* The executor's plan driver; see executor.h. */
#include "runtime/executor.h"

#include <event2/event.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cancel.h"
#include "core/clock.h"
#include "core/error.h"
#include "handoff/handoff.h"
#include "runtime/model_loader.h"
#include "runtime/target.h"
#include "runtime/runtime_internal.h"
#include "transport/http.h"

struct lx_driver {
    llmux_runtime *rt;
    const llmux_request *req;
    lx_exec *x;
    int64_t deadline_ns;
    uint64_t rng;

    size_t step;                /* current plan step */
    int32_t tries;              /* attempts made on the current step */
    llmux_request *step_req;    /* req with the step's overrides; NULL = req itself */
    lx_target target;           /* the current attempt's target, held until it ended (the answering
                                   one until the execution was consumed: lx_driver_free) */
    lx_attempt_cbs cbs;         /* what the current attempt reports to */

    /* The current attempt. */
    int64_t t_attempt_ns;
    int64_t t_attempt_wall_ms;
    int64_t t_first_ns;         /* its first content event, 0 = none */
    bool forwarded;             /* an event of this execution reached the consumer */
    bool held;                  /* a START is held back */
    char *held_id, *held_name, *held_provider;
    /* The current step's names, sized to what they hold (every execution in flight has a
     * driver). cur_target borrows the plan step's spec (the alias's or the request's string, both
     * outliving the driver); the others are copies, NULL when unknown. */
    const char *cur_target;     /* the step's spec */
    char *cur_model;            /* the model as the target names it (remote: after the provider) */
    char *cur_provider;

    llmux_status load_st;       /* the loader thread's resolve of the current target (model_loader.h) */
    llmux_error_info *load_err; /* allocated by submit_load only: an error_info is ~1 KiB, and
                                   every in-flight execution would carry it (test_inflight_memory) */
    llmux_cancel *load_cancel;  /* the load's token: the execution's, plus the deadline (load_timer) */
    struct event *load_timer;   /* triggers load_cancel at the deadline (loop thread) */
    bool load_timed_out;        /* load_timer fired (loop thread) */

    struct event *timer;        /* backoff wait (loop thread) */
    int64_t wake_ns;            /* the backoff's end */

    lx_attempt_info *attempts;  /* grown as attempts are made (most executions make one) */
    size_t n_attempts, cap_attempts;
    bool answered;              /* an attempt produced the stream (cur_* name it) */

    /* The routing plan, copied without lx_plan's fixed table of LX_ALIAS_MAX_TARGETS steps (most
     * plans have one step, and every execution in flight holds a driver): the scalar fields here,
     * the steps in the flexible array below. lx_driver_plan rebuilds an lx_plan. */
    const char *plan_alias;     /* lx_plan.alias */
    uint64_t plan_seed;
    int32_t plan_picked;
    llmux_retry_policy retry;
    size_t n_steps;
    lx_plan_step steps[];       /* n_steps */
};

static void start_attempt(lx_driver *d);

/* Gives back the current target (a local model's registry use), once. */
static void release_target(lx_driver *d) {
    if (d->target.ops) d->target.ops->release(&d->target);
}

/* ----------------------------------------------------------------- helpers */

static void free_held(lx_driver *d) {
    free(d->held_id);
    free(d->held_name);
    free(d->held_provider);
    d->held_id = d->held_name = d->held_provider = NULL;
    d->held = false;
}

static char *dup_or_null(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (c) memcpy(c, s, n);
    return c;
}

/* Replaces *slot with a copy of s (NULL = none; also when out of memory: the name is then
 * unknown, as for a target that could not be resolved). */
static void set_name(char **slot, const char *s) {
    free(*slot);
    *slot = dup_or_null(s);
}

static const char *or_empty(const char *s) { return s ? s : ""; }

/* Deep-merges the object `over` into `base` (objects merge, anything else replaces). */
static void merge(json_t *base, json_t *over) {
    const char *k;
    json_t *v;
    json_object_foreach(over, k, v) {
        json_t *b = json_object_get(base, k);
        if (json_is_object(b) && json_is_object(v)) merge(b, v);
        else json_object_set(base, k, v);
    }
}

/* req with a target's overrides applied, through the canonical JSON codec (so the result is
 * validated like any decoded request). */
static llmux_status apply_overrides(const llmux_request *req, const char *overrides, llmux_request **out,
                                    llmux_error_info *err) {
    *out = NULL;
    char *text = llmux_request_to_json(req);
    json_t *base = text ? json_loads(text, 0, NULL) : NULL;
    json_t *over = json_loads(overrides, 0, NULL);
    llmux_free(text);
    llmux_status st = LLMUX_OK;
    if (!base || !over) {
        st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory applying a target's overrides");
    } else {
        merge(base, over);
        char *merged = json_dumps(base, JSON_COMPACT);
        if (!merged) st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory applying a target's overrides");
        else st = llmux_request_from_json(merged, strlen(merged), out, err);
        free(merged);
        if (st == LLMUX_E_INVALID_REQUEST) {
            char m[sizeof err->message];
            snprintf(m, sizeof m, "%s", err->message);
            lx_error(err, LLMUX_E_CONFIGURATION, "target overrides: %s", m);
            st = LLMUX_E_CONFIGURATION;
        }
    }
    json_decref(base);
    json_decref(over);
    return st;
}

static lx_exec *exec_of(lx_driver *d) { return d->x; }

static bool cancelled(lx_driver *d) { return llmux_cancel_is_triggered(lx_exec_cancel(exec_of(d))); }

/* ------------------------------------------------------------- the attempt sink */

static bool forward(lx_driver *d, const llmux_event *ev) {
    lx_event_sink s = lx_exec_sink(d->x);
    if (d->held) {
        llmux_event start;
        memset(&start, 0, sizeof start);
        start.type = LLMUX_EVENT_START;
        start.id = d->held_id;
        start.name = d->held_name;
        start.provider = d->held_provider;
        s.emit(s.user_data, &start);
        free_held(d);
    }
    d->forwarded = true;
    return s.emit(s.user_data, ev);
}

static bool attempt_emit(void *ud, const llmux_event *ev) {
    lx_driver *d = ud;
    if (!d->t_first_ns && (ev->type == LLMUX_EVENT_TEXT_DELTA || ev->type == LLMUX_EVENT_REASONING_DELTA ||
                           ev->type == LLMUX_EVENT_TOOL_CALL_START || ev->type == LLMUX_EVENT_NATIVE))
        d->t_first_ns = lx_now_ns();
    if (d->forwarded) return forward(d, ev);
    switch (ev->type) {
    case LLMUX_EVENT_START:
        /* Held back: until content arrives, a failure can still be retried elsewhere. */
        free_held(d);
        d->held = true;
        d->held_id = dup_or_null(ev->id);
        d->held_name = dup_or_null(ev->name);
        d->held_provider = dup_or_null(ev->provider);
        return !cancelled(d);
    case LLMUX_EVENT_ERROR:
        return false; /* the attempt's outcome; its end callback carries the class */
    case LLMUX_EVENT_FINISH:
        if (ev->finish_reason == LLMUX_FINISH_CANCELLED) return false; /* the driver ends it */
        return forward(d, ev);
    default:
        return forward(d, ev);
    }
}

/* --------------------------------------------------------------- outcomes */

static void finish(lx_driver *d, llmux_status st, const llmux_error_info *err, const lx_gen_stats *stats) {
    d->answered = d->forwarded;
    free_held(d);
    lx_exec_end(d->x, st, err, stats); /* the execution is the consumer's from here */
}

static void record_attempt(lx_driver *d, llmux_status st, const llmux_error_info *err) {
    if (d->n_attempts == LX_MAX_ATTEMPTS) return;
    if (d->n_attempts == d->cap_attempts) {
        size_t cap = d->cap_attempts ? d->cap_attempts * 2 : 1;
        lx_attempt_info *grown = realloc(d->attempts, cap * sizeof *grown);
        if (!grown) return; /* the attempt is made, only its line in the record is missing */
        d->attempts = grown;
        d->cap_attempts = cap;
    }
    lx_attempt_info *a = &d->attempts[d->n_attempts++];
    memset(a, 0, sizeof *a);
    snprintf(a->target, sizeof a->target, "%s", d->cur_target ? d->cur_target : "");
    a->started_at_ms = d->t_attempt_wall_ms;
    a->status = st;
    a->http_status = err ? err->provider_status : 0;
    if (st != LLMUX_OK && err) snprintf(a->error, sizeof a->error, "%s", err->message);
    a->retry_delay_ms = -1;
    a->ttft_ms = d->t_first_ns ? lx_ms_between(d->t_attempt_ns, d->t_first_ns) : -1;
    a->duration_ms = lx_ms_between(d->t_attempt_ns, lx_now_ns());
}

static void on_timer(evutil_socket_t fd, short what, void *arg);

/* Waits delay_ms on the loop, checking the cancel token every LX_HTTP_POLL_MS. */
static bool wait_then_retry(lx_driver *d, int64_t delay_ms) {
    struct event_base *base = lx_http_client_base(lx_runtime_timeouts(d->rt).client);
    if (!d->timer && !(d->timer = evtimer_new(base, on_timer, d))) return false;
    d->wake_ns = lx_now_ns() + delay_ms * 1000000;
    int64_t step = delay_ms < LX_HTTP_POLL_MS ? delay_ms : LX_HTTP_POLL_MS;
    struct timeval tv = {.tv_sec = step / 1000, .tv_usec = (step % 1000) * 1000};
    return evtimer_add(d->timer, &tv) == 0;
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    lx_driver *d = arg;
    llmux_error_info e;
    if (cancelled(d)) {
        lx_error(&e, LLMUX_E_CANCELLED, "cancelled during a retry backoff");
        finish(d, LLMUX_E_CANCELLED, &e, NULL);
        return;
    }
    int64_t now = lx_now_ns();
    if (now < d->wake_ns) {
        int64_t left = (d->wake_ns - now + 999999) / 1000000;
        if (left > LX_HTTP_POLL_MS) left = LX_HTTP_POLL_MS;
        struct timeval tv = {.tv_sec = 0, .tv_usec = left * 1000};
        evtimer_add(d->timer, &tv);
        return;
    }
    start_attempt(d);
}

/* An attempt ended (any thread): finish, retry, or fall back. */
static void attempt_ended(lx_driver *d, llmux_status st, const llmux_error_info *err, const lx_gen_stats *stats) {
    llmux_error_info e;
    if (err) e = *err;
    else lx_error_clear(&e);
    if (st != LLMUX_OK && e.status == LLMUX_OK) lx_error(&e, st, "attempt failed");
    record_attempt(d, st, &e);
    if (d->plan_alias) lx_runtime_cooldown_record(d->rt, d->cur_target, st);
    llmux_request_free(d->step_req);
    d->step_req = NULL;
    if (st == LLMUX_OK || d->forwarded) {
        /* The answering model stays held until the caller consumed the execution
         * (lx_driver_free): a model whose answer is still being read counts as in use. */
        finish(d, st, &e, stats);
        return;
    }
    release_target(d);
    free_held(d); /* a START with nothing after it never reaches the consumer */
    if (st == LLMUX_E_CANCELLED || cancelled(d)) {
        lx_error(&e, LLMUX_E_CANCELLED, "cancelled");
        finish(d, LLMUX_E_CANCELLED, &e, stats);
        return;
    }
    int64_t now = lx_now_ns();
    int64_t left_ms = d->deadline_ns ? (d->deadline_ns - now) / 1000000 : INT64_MAX;
    d->tries++;
    if (llmux_status_retryable(st) && d->tries < d->retry.attempts) {
        int64_t delay = lx_backoff_ms(&d->retry, d->tries - 1, lx_rng_next(&d->rng), e.retry_after_ms);
        if (delay < left_ms) {
            if (d->n_attempts) d->attempts[d->n_attempts - 1].retry_delay_ms = delay;
            if (wait_then_retry(d, delay)) return;
        }
        finish(d, st, &e, stats); /* no time left for the wait (or no timer): the failure stands */
        return;
    }
    if (lx_alias_falls_back(lx_runtime_aliases(d->rt), d->plan_alias, st) && d->step + 1 < d->n_steps && left_ms > 0) {
        d->step++;
        d->tries = 0;
        start_attempt(d);
        return;
    }
    finish(d, st, &e, stats);
}

static void attempt_started(void *ud) { lx_exec_started(((lx_driver *)ud)->x); }

static void attempt_done(void *ud, llmux_status st, const llmux_error_info *err, const lx_gen_stats *stats) {
    attempt_ended(ud, st, err, stats);
}

/* The provider a plan step names: what comes before '/' for a remote spec, "local" otherwise. */
static void provider_of(lx_driver *d, const char *spec, char *out, size_t size) {
    const char *slash = strchr(spec, '/');
    if (lx_runtime_is_remote(d->rt, spec) && slash) snprintf(out, size, "%.*s", (int)(slash - spec), spec);
    else snprintf(out, size, "local");
}

/* The request for the current attempt: the step's overrides applied, and, when the plan has
 * moved to a target of another provider than its first one (the provider the conversation was
 * written for), the conversation handed off to the target's conventions (src/handoff/: tool-call
 * ids, system placement, alternation, tool results, foreign reasoning). *req is d->req or
 * d->step_req. */
static llmux_status prepare_request(lx_driver *d, const lx_plan_step *s, const char *protocol,
                                    const llmux_request **req, llmux_error_info *e) {
    *req = d->req;
    if (s->overrides) {
        llmux_status st = apply_overrides(d->req, s->overrides, &d->step_req, e);
        if (st != LLMUX_OK) return st;
        *req = d->step_req;
    }
    char origin[128];
    provider_of(d, d->steps[0].model, origin, sizeof origin);
    if (d->step == 0 || strcmp(origin, or_empty(d->cur_provider)) == 0) return LLMUX_OK;
    lx_handoff_opts o = {.origin = origin, .target_protocol = protocol, .target_provider = or_empty(d->cur_provider)};
    llmux_request *handed = NULL;
    llmux_status st = lx_handoff(*req, &o, &handed, e);
    if (st != LLMUX_OK) return st;
    llmux_request_free(d->step_req);
    d->step_req = handed;
    *req = handed;
    return LLMUX_OK;
}

/* After the current target resolved (st): prepares the request and starts the attempt; every
 * failure goes through attempt_ended like any failed attempt. */
static void continue_attempt(lx_driver *d, llmux_status st, llmux_error_info *e) {
    const lx_plan_step *s = &d->steps[d->step];
    const llmux_cancel *cancel = lx_exec_cancel(d->x);
    const llmux_request *req = d->req;
    if (st == LLMUX_OK) {
        set_name(&d->cur_provider, d->target.provider);
        set_name(&d->cur_model, d->target.model);
        st = prepare_request(d, s, d->target.protocol, &req, e);
    }
    if (st == LLMUX_OK) {
        d->cbs = (lx_attempt_cbs){.sink = {attempt_emit, d}, .started = attempt_started, .done = attempt_done,
                                  .user_data = d};
        st = d->target.ops->start(&d->target, req, cancel, d->deadline_ns, &d->cbs, e);
        /* Started: d is the attempt's now (it may already have ended on another thread). */
        if (st == LLMUX_OK) return;
    }
    attempt_ended(d, st, e, NULL);
}

static void load_work(void *arg, bool stopping);
static void load_then(void *arg);
static const lx_load_job_ops k_load_ops = {load_work, load_then};

/* On the loader thread: the blocking resolve (the load, or the wait for another request's load
 * of the same model); the execution's cancel token aborts it. */
static void load_work(void *arg, bool stopping) {
    lx_driver *d = arg;
    lx_error_clear(d->load_err);
    if (stopping) {
        d->load_st = lx_error(d->load_err, LLMUX_E_CANCELLED, "the runtime is stopping: %s was not loaded", d->cur_target);
    } else if (cancelled(d)) {
        d->load_st = lx_error(d->load_err, LLMUX_E_CANCELLED, "cancelled while waiting for %s to load", d->cur_target);
    } else {
        d->target.nowait = false;
        const llmux_cancel *cancel = d->load_cancel ? d->load_cancel : lx_exec_cancel(d->x);
        d->load_st = d->target.ops->resolve(&d->target, d->cur_target, cancel, d->load_err);
    }
}

/* Back on the loop thread (on the loader's while the runtime is destroyed). */
static void load_then(void *arg) {
    lx_driver *d = arg;
    llmux_error_info e = *d->load_err;
    llmux_status st = d->load_st;
    free(d->load_err);
    d->load_err = NULL;
    if (d->load_timer) event_free(d->load_timer);
    d->load_timer = NULL;
    llmux_cancel_destroy(d->load_cancel); /* the resolve is over: nothing reads it any more */
    d->load_cancel = NULL;
    if (st == LLMUX_E_CANCELLED && d->load_timed_out && !cancelled(d))
        st = lx_error(&e, LLMUX_E_TIMEOUT, "deadline reached while loading %s", d->cur_target);
    d->load_timed_out = false;
    continue_attempt(d, st, &e);
}

/* The deadline came while the model loads: the load stops through its token (llama.cpp's load
 * is interrupted through a cancel token only), and load_then reports TIMEOUT. */
static void on_load_deadline(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    lx_driver *d = arg;
    d->load_timed_out = true;
    llmux_cancel_trigger(d->load_cancel);
}

/* Hands the current target's resolve to the loader thread, with the deadline armed on the loop.
 * False when the loader takes no more jobs (the runtime is stopping) or out of memory. */
static bool submit_load(lx_driver *d) {
    if (!(d->load_err = malloc(sizeof *d->load_err))) return false;
    if (d->deadline_ns) {
        struct event_base *base = lx_http_client_base(lx_runtime_timeouts(d->rt).client);
        if (!(d->load_cancel = lx_cancel_create_linked(lx_exec_cancel(d->x))) ||
            !(d->load_timer = evtimer_new(base, on_load_deadline, d)))
            goto fail;
        int64_t left_us = (d->deadline_ns - lx_now_ns()) / 1000;
        if (left_us < 0) left_us = 0;
        struct timeval tv = {.tv_sec = left_us / 1000000, .tv_usec = left_us % 1000000};
        if (evtimer_add(d->load_timer, &tv) != 0) goto fail;
    }
    if (lx_model_loader_submit(lx_runtime_loader(d->rt), d->cur_target, &k_load_ops, d)) return true;
fail:
    if (d->load_timer) event_free(d->load_timer);
    d->load_timer = NULL;
    llmux_cancel_destroy(d->load_cancel);
    d->load_cancel = NULL;
    free(d->load_err);
    d->load_err = NULL;
    return false;
}


/* Starts an attempt on the current step, skipping targets in cooldown; every failure to start
 * goes through attempt_ended like any failed attempt. */
static void start_attempt(lx_driver *d) {
    llmux_error_info e;
    lx_error_clear(&e);
    for (;;) {
        const lx_plan_step *s = &d->steps[d->step];
        d->cur_target = s->model;
        set_name(&d->cur_model, NULL);
        set_name(&d->cur_provider, NULL);
        d->t_attempt_ns = lx_now_ns();
        d->t_attempt_wall_ms = lx_wall_ms();
        d->t_first_ns = 0;
        if (d->plan_alias && d->n_steps > 1 && d->step + 1 < d->n_steps &&
            lx_runtime_cooldown_check(d->rt, s->model) == LX_COOLDOWN_SKIP) {
            /* Cooling down and something else is left to try: skip it, listed as skipped. */
            lx_error(&e, LLMUX_E_ROUTING, "skipped: %s is cooling down after repeated failures", s->model);
            record_attempt(d, LLMUX_E_ROUTING, &e);
            d->step++;
            d->tries = 0;
            continue;
        }
        break;
    }
    const lx_plan_step *s = &d->steps[d->step];
    if (d->deadline_ns && lx_now_ns() >= d->deadline_ns) {
        lx_error(&e, LLMUX_E_TIMEOUT, "deadline reached before the attempt on %s", s->model);
        attempt_ended(d, LLMUX_E_TIMEOUT, &e, NULL);
        return;
    }
    /* Resolve the target first: the request is prepared for its protocol. On the loop thread a
     * local model that is not ready is not loaded here (it would stall every other request the
     * loop serves): the loader thread resolves it and continue_attempt runs back on the loop. */
    lx_target_init(&d->target, d->rt, s->model);
    d->target.nowait = lx_http_client_on_loop(lx_runtime_timeouts(d->rt).client);
    llmux_status st = d->target.ops->resolve(&d->target, s->model, lx_exec_cancel(d->x), &e);
    if (st == LLMUX_OK && d->target.pending) {
        if (submit_load(d)) return;
        st = lx_error(&e, LLMUX_E_CANCELLED, "the runtime is stopping: %s was not loaded", s->model);
    }
    continue_attempt(d, st, &e);
}

/* ------------------------------------------------------------------- public */

llmux_status lx_driver_start(llmux_runtime *rt, const llmux_request *req, const lx_plan *plan, lx_exec *x,
                             int64_t deadline_ns, lx_driver **out, llmux_error_info *err) {
    *out = NULL;
    size_t n = plan->n_steps < LX_ALIAS_MAX_TARGETS ? plan->n_steps : LX_ALIAS_MAX_TARGETS;
    /* At least one slot: start_attempt reads steps[0] (a plan always has a step). */
    lx_driver *d = calloc(1, sizeof *d + (n ? n : 1) * sizeof d->steps[0]);
    if (!d) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory starting the execution");
    d->rt = rt;
    d->req = req;
    d->x = x;
    d->plan_alias = plan->alias;
    d->plan_seed = plan->seed;
    d->plan_picked = plan->picked;
    d->retry = plan->retry;
    d->n_steps = n;
    memcpy(d->steps, plan->steps, n * sizeof d->steps[0]);
    d->deadline_ns = deadline_ns;
    d->rng = plan->seed ^ 0x5bd1e995u;
    *out = d;
    start_attempt(d);
    return LLMUX_OK;
}

void lx_driver_free(lx_driver *d) {
    if (!d) return;
    release_target(d);
    if (d->timer) event_free(d->timer);
    free(d->attempts);
    free_held(d);
    llmux_request_free(d->step_req);
    free(d->cur_model);
    free(d->cur_provider);
    free(d->load_err); /* NULL unless freed while a load was pending */
    free(d);
}

const lx_attempt_info *lx_driver_attempts(const lx_driver *d, size_t *n) {
    *n = d->n_attempts;
    return d->attempts;
}

void lx_driver_plan(const lx_driver *d, lx_plan *out) {
    memset(out, 0, sizeof *out);
    out->alias = d->plan_alias;
    out->seed = d->plan_seed;
    out->picked = d->plan_picked;
    out->retry = d->retry;
    out->n_steps = d->n_steps;
    memcpy(out->steps, d->steps, d->n_steps * sizeof d->steps[0]);
}

const char *lx_driver_model(const lx_driver *d) { return d->cur_model && d->cur_model[0] ? d->cur_model : NULL; }

const char *lx_driver_provider(const lx_driver *d) {
    return d->cur_provider && d->cur_provider[0] ? d->cur_provider : NULL;
}

const char *lx_driver_priced_spec(const lx_driver *d) {
    if (!d->answered || !d->cur_target || strcmp(or_empty(d->cur_provider), "local") == 0) return NULL;
    return d->cur_target;
}
