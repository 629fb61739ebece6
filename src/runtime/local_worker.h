/* The engine thread of one loaded local model: it owns all decoding on the model's context and
 * runs the model's requests one after another from a bounded priority queue, producing their
 * events into their executions (execution.h). Callers never decode on their own thread, so
 * a request's callback may run another request on the same model without deadlocking, and
 * ggml's per-thread worker pools are not duplicated by concurrent callers. */
#ifndef LX_LOCAL_WORKER_H
#define LX_LOCAL_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "llmux.h"
#include "runtime/execution.h"

/* Requests waiting for a model beyond those running: more are refused with LLMUX_E_QUEUE_FULL
 * at once instead of waiting without bound. */
#define LX_WORKER_MAX_QUEUED 256

typedef struct lx_worker lx_worker;

/* Starts the thread for m (borrowed: it must outlive the worker). NULL when out of resources. */
lx_worker *lx_worker_create(lx_model *m);
/* Stops the thread: queued requests end with LLMUX_E_CANCELLED, the running one is cancelled
 * and finishes first. Accepts NULL. */
void lx_worker_destroy(lx_worker *w);

/* Queues req for the model; its events and end go to x (lx_exec_end runs on the worker thread).
 * req is borrowed until lx_exec_end ran. Higher req->priority runs first, FIFO among equals.
 * deadline_ns: CLOCK_MONOTONIC instant, 0 = none. Errors (nothing queued, x untouched):
 * LLMUX_E_QUEUE_FULL, LLMUX_E_OUT_OF_MEMORY, LLMUX_E_CANCELLED (the worker is stopping). */
llmux_status lx_worker_submit(lx_worker *w, const llmux_request *req, lx_exec *x, int64_t deadline_ns,
                              llmux_error_info *err);

/* Requests queued or running (for choosing an idle model to unload). */
size_t lx_worker_load(lx_worker *w);

#endif
