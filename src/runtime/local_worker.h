/* The engine thread of one loaded local model: it owns all decoding on the model's context and
 * runs the model's continuous-batching scheduler (engine/sched.h): requests wait in a bounded
 * priority queue until one of the model's sequence slots is free, then every step decodes one
 * batch for all running requests, producing their events into their executions (execution.h).
 * A request cancelled (or past its deadline) while it waits leaves the queue at the next step
 * without START; one cancelled while it runs frees its slot at the next step. Callers never decode on their own thread, so
 * a request's callback may run another request on the same model without deadlocking, and
 * ggml's per-thread worker pools are not duplicated by concurrent callers. */
#ifndef LX_LOCAL_WORKER_H
#define LX_LOCAL_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "llmux.h"
#include "core/event_sink.h"
#include "telemetry/telemetry.h"
#include "transport/loop_gate.h"

/* Requests waiting for a model beyond those running, by default (local.queue.max_waiting): more
 * are refused with LLMUX_E_QUEUE_FULL at once (retry_after_ms = LX_WORKER_RETRY_AFTER_MS, the
 * server's Retry-After) instead of waiting without bound. */
#define LX_WORKER_MAX_QUEUED 256
#define LX_WORKER_RETRY_AFTER_MS 1000

typedef struct lx_worker lx_worker;

typedef struct lx_worker_params {
    lx_model *model;              /* borrowed: it must outlive the worker */
    int32_t max_waiting;          /* 0 = LX_WORKER_MAX_QUEUED */
    int64_t max_wait_ms;          /* longest wait for a slot; 0 = none (see lx_worker_submit) */
    lx_telemetry *telemetry; /* prompt-cache counters; NULL = none; outlives the worker */
    const char *label;            /* the model's metric label, "local/NAME"; copied */
    lx_loop_gate *gate;           /* the runtime's loop: before a step with a free slot, input it
                                     has not read yet is given a loop turn to become requests that
                                     join the step (transport/loop_gate.h); NULL = never */
} lx_worker_params;

/* What the model's host prompt cache holds, as of the end of the last scheduler step. */
typedef struct lx_worker_cache_stats {
    size_t bytes;                 /* host RAM held by evicted prefixes */
    uint64_t hits, reused_tokens; /* generations that reused a cached prefix, and its tokens */
} lx_worker_cache_stats;

/* Starts the thread for p->model. NULL when out of resources. */
lx_worker *lx_worker_create(const lx_worker_params *p);
/* Stops the thread: queued requests end with LLMUX_E_CANCELLED, running ones with
 * FINISH(CANCELLED). Accepts NULL. */
void lx_worker_destroy(lx_worker *w);

/* Runs on the worker thread when a queued request ended: its outcome (err borrowed for the call)
 * and generation figures (NULL when it never started). */
typedef void (*lx_worker_done_cb)(void *user_data, llmux_status st, const llmux_error_info *err,
                                  const lx_gen_stats *stats);

/* What one queued request needs; everything is borrowed until done ran. */
typedef struct lx_worker_job {
    const llmux_request *req;
    const llmux_cancel *cancel;
    int64_t deadline_ns;          /* CLOCK_MONOTONIC instant, 0 = none */
    lx_event_sink sink;           /* events, on the worker thread */
    void (*started)(void *user_data); /* when generation begins (after the queue); may be NULL */
    lx_worker_done_cb done;
    void *user_data;
    /* Non-NULL: instead of generating, run task on the engine thread (the only thread that touches
     * the model: a reload cannot race it) with task_data; no events, started is not called, done
     * gets task's status and NULL stats. req, cancel and deadline_ns are still the job's. */
    llmux_status (*task)(lx_model *m, const struct lx_worker_job *job, void *task_data, llmux_error_info *err);
    void *task_data;
} lx_worker_job;

/* Runs task on the engine thread of the local model `spec` (loaded when needed, held meanwhile)
 * and waits for it: what llmux_count_tokens and local llmux_embed do (model_task.c). job_req may
 * be NULL. Errors: the model's resolution (as llmux_run's refusals), QUEUE_FULL, CANCELLED, or
 * the task's own. */
llmux_status lx_worker_run_task(llmux_runtime *rt, const char *spec, const llmux_request *job_req,
                                const llmux_cancel *cancel, int64_t deadline_ns,
                                llmux_status (*task)(lx_model *m, const struct lx_worker_job *job, void *task_data,
                                                     llmux_error_info *err),
                                void *task_data, llmux_error_info *err);

/* Queues a request for the model. Higher req->priority runs first, FIFO among equals. Errors
 * (nothing queued, no callback runs): LLMUX_E_QUEUE_FULL (max_waiting requests wait already;
 * retry_after_ms set), LLMUX_E_OVERLOADED (deadline-aware admission: the estimated wait for a
 * slot, from how long recent requests held theirs, is longer than max_wait_ms or ends after the
 * job's deadline; retry_after_ms = the estimate, at least LX_WORKER_RETRY_AFTER_MS),
 * LLMUX_E_OUT_OF_MEMORY, LLMUX_E_CANCELLED (the worker is stopping). A queued job that waits
 * max_wait_ms without a slot ends with LLMUX_E_OVERLOADED (retry_after_ms set) through done. */
llmux_status lx_worker_submit(lx_worker *w, const lx_worker_job *job, llmux_error_info *err);

/* The host prompt cache's figures (any thread). */
lx_worker_cache_stats lx_worker_cache(lx_worker *w);

/* Requests queued or running (for choosing an idle model to unload). */
size_t lx_worker_load(lx_worker *w);
/* Requests queued and not yet running (the queue-depth metric). */
size_t lx_worker_queued(lx_worker *w);

/* Whether the calling thread is w's engine thread (which must never destroy w: it cannot join
 * itself). */
bool lx_worker_on_thread(const lx_worker *w);

#endif
