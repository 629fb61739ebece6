/* One execution: the hand-over between the thread that produces its events (the HTTP loop thread
 * for a remote target, the model's engine thread for a local one) and the thread that consumes
 * them (the caller of llmux_run). The producer never waits for the consumer: events are copied
 * into a queue, so a slow consumer stalls only its own execution, and a consumer may itself run
 * requests from its callback (on the same local model too) without deadlocking.
 *
 * The stream rules live here once: events after the terminal one are dropped, a producer that
 * ends without a terminal event gets one synthesized (ERROR with its failure, FINISH(CANCELLED)
 * when cancelled), and every accepted execution ends with exactly one terminal event and one
 * response.
 *
 * Lifecycle: lx_exec_create -> the producer: lx_exec_sink events ..., lx_exec_end once -> the
 * consumer: lx_exec_consume_begin, lx_exec_consume_some until done, lx_exec_consume_end ->
 * lx_exec_destroy. */
#ifndef LX_EXECUTION_H
#define LX_EXECUTION_H

#include <stdint.h>

#include "core/event_sink.h"
#include "engine/engine.h"
#include "llmux.h"

typedef struct lx_exec lx_exec;

/* Most bytes of event data queued and not yet consumed: past it the producer is stopped and the
 * execution fails naming the cap (the aggregator's own content cap is 64 MiB, so a consumer that
 * keeps up never meets this one). */
#define LX_EXEC_QUEUE_MAX ((size_t)80 * 1024 * 1024)

/* caller_cancel: the caller's token (borrowed, may be NULL; must outlive the execution). NULL
 * when out of memory. */
lx_exec *lx_exec_create(const llmux_cancel *caller_cancel);
/* Accepts NULL. Only after consuming finished (or when no producer was ever started). */
void lx_exec_destroy(lx_exec *x);

/* The execution's own cancel token: follows the caller's, and is triggered when the consumer
 * stops reading. Give it to the producer (transport, engine). */
const llmux_cancel *lx_exec_cancel(const lx_exec *x);

/* The producer's sink: copies each event into the queue. Returns false once the execution is
 * cancelled or stopped (the producer then stops at its next step). One producer thread at a time. */
lx_event_sink lx_exec_sink(lx_exec *x);

/* The producer starts working on it (after waiting in a queue): for timing.queued_ms. */
void lx_exec_started(lx_exec *x);

/* The producer is done: st/err is its outcome (err may be NULL when st is OK), stats its local
 * generation figures (NULL for remote). A terminal event is synthesized when none went out.
 * Called exactly once, on the producer's thread; the producer must not touch x afterwards. */
void lx_exec_end(lx_exec *x, llmux_status st, const llmux_error_info *err, const lx_gen_stats *stats);

/* What the consumer needs to build the response. */
typedef struct lx_exec_result {
    llmux_response *resp;      /* aggregated; NULL when out of memory (status says so) */
    llmux_status status;       /* the terminal event's class (OK for a normal FINISH) */
    llmux_error_info err;      /* status's details */
    int64_t t_first_ns;        /* first content event produced, 0 when none */
    int64_t t_run_ns;          /* lx_exec_started, 0 when never called */
    bool provider_cost;        /* the cost came from the provider (a USAGE event's cost) */
    lx_gen_stats stats;        /* valid when has_stats */
    bool has_stats;
} lx_exec_result;

/* The consumer, on one thread at a time: begin once (before the producer starts), then
 * consume_some until it returns true (the producer ended and every event was delivered; block:
 * wait for events instead of returning at once when there are none), then end once for the
 * result. Each event goes to on_event (may be NULL) and the aggregator. When on_event returns
 * false, the next and last event delivered is FINISH(CANCELLED) and the producer is cancelled;
 * when the aggregator refuses an event (its 64 MiB cap), the last event is ERROR with that error. */
void lx_exec_consume_begin(lx_exec *x, llmux_event_cb on_event, void *user_data);
bool lx_exec_consume_some(lx_exec *x, bool block);
void lx_exec_consume_end(lx_exec *x, lx_exec_result *out);

/* fn(arg) is called (under the execution's lock, from the producer's thread) when events or the
 * end arrive while no notification is pending; the pending state clears when the consumer takes
 * the queue. fn must only schedule work (e.g. post to a loop), never consume. Set it before the
 * producer starts. */
void lx_exec_set_notify(lx_exec *x, void (*fn)(void *arg), void *arg);

#endif
