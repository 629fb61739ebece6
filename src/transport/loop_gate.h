/* Lets an engine thread give the runtime's event loop a turn before a scheduler step, when the
 * loop has input it has not read yet.
 *
 * A local model's engine thread starts a step (one llama_decode for every running sequence) the
 * moment it has work; a request that reached the process a moment earlier but whose bytes still
 * sit in a socket the loop watches (an IPC request frame in the engine child, an HTTP request in
 * `llmux serve`) joins only the step after, a whole step later. That happens whenever the loop
 * thread waits for a core the decode threads hold: on 2 cores with 2 decode threads, a burst of 8
 * requests through the engine child was split over two steps about every other time (the first
 * request's prefill ran alone; docs/benchmarks.md, "Sandboxed engine"). A request submitted
 * directly (in-process llmux_submit) is queued by its caller's thread and never waits for this.
 *
 * The gate belongs to the loop's owner (the runtime), which closes it before the loop goes, so an
 * engine thread that outlives the loop only finds it closed. */
#ifndef LX_LOOP_GATE_H
#define LX_LOOP_GATE_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

/* Descriptors inspected at most: past this many watched descriptors (a server with many idle
 * connections) a gate does not wait rather than poll them all before every step. */
#define LX_LOOP_GATE_MAX_FDS 64

typedef struct lx_loop_gate lx_loop_gate;

/* A gate on base (borrowed until lx_loop_gate_close). NULL when out of memory. */
lx_loop_gate *lx_loop_gate_create(struct event_base *base);

/* Any thread but base's own: when a descriptor with a read event added on base is readable now
 * (one poll(2) with a zero timeout), waits until the loop has dispatched it (a 1 us timer on base,
 * which libevent runs after the descriptors found ready in the same turn), at most timeout_ns.
 * True when it waited; false at once when nothing was pending or the gate is closed. */
bool lx_loop_gate_settle(lx_loop_gate *g, int64_t timeout_ns);

/* Before base is freed: later and waiting settles return at once. Any thread but base's own. */
void lx_loop_gate_close(lx_loop_gate *g);

/* Once no thread can call lx_loop_gate_settle any more (the engine threads are joined). NULL ok. */
void lx_loop_gate_destroy(lx_loop_gate *g);

#endif
