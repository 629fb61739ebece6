/* The supervisor of the sandboxed engine child (local.isolation: process; docs/sandbox.md,
 * "Supervision"). It runs local generations in `llmux engine --fd 3`, a child it starts at first
 * use, and speaks the IPC protocol (core/ipc_frame.h, core/ipc_message.h; docs/ipc.md) to it:
 * hello/welcome, one request frame per attempt, the child's canonical events mapped back to the
 * attempt's sink (the same START, deltas, USAGE and terminal event as in-process), cancel frames.
 *
 * Supervision: a ping every heartbeat_ms; a child whose pong does not come within
 * heartbeat_timeout_ms (LLMUX_ENGINE_LOAD_TIMEOUT_MS while it loads a model it has not served
 * yet, which holds its loop) is killed with SIGKILL. A child that ends for any reason (crash,
 * seccomp kill, the OOM killer, the heartbeat kill) is reaped; the attempts it was running fail
 * at once with LLMUX_E_INTERNAL naming how it ended ("local engine process crashed (signal 6,
 * SIGABRT)"); it is restarted after a backoff (100 ms, doubling, at most 5 s; reset once a child
 * served for 10 s). Attempts that arrive meanwhile wait for the restart (their cancel token and
 * deadline still apply); a child that dies before its handshake fails them instead, so nothing
 * waits on a child that cannot start.
 *
 * Threads: everything runs on the runtime's loop thread (libevent), no thread per request;
 * lx_engine_sup_submit may be called from any thread and posts to the loop. */
#ifndef LX_ENGINE_SUP_H
#define LX_ENGINE_SUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "llmux.h"
#include "runtime/target.h"
#include "telemetry/telemetry.h"
#include "transport/http.h"

typedef struct lx_engine_sup lx_engine_sup;

typedef struct lx_engine_sup_params {
    lx_http_client *loop;            /* the runtime's loop (lx_http_client_base/post); outlives it */
    const char *path;                /* the llmux executable (copied) */
    const char *const *args;         /* extra arguments after `engine --fd 3` (copied) */
    size_t n_args;
    int64_t heartbeat_ms;            /* > 0 */
    int64_t heartbeat_timeout_ms;    /* > 0 */
    bool models_unload;              /* the child may unload models on its own (idle_unload_s,
                                        memory budget): a model it served may load again, so any
                                        request without its START yet may be a load */
    void (*log)(void *ud, llmux_log_level level, const char *msg); /* loop thread; may be NULL */
    void *log_ud;
    lx_telemetry *telemetry;         /* the runtime's metrics: children started, up, ended (how),
                                        the requests that failed with them, and the prompt cache
                                        hits the child's usage reports; borrowed; may be NULL */
} lx_engine_sup_params;

/* NULL when out of memory. Starts nothing: the child starts with the first submit. */
lx_engine_sup *lx_engine_sup_create(const lx_engine_sup_params *p);
/* Fails what is still in flight (LLMUX_E_CANCELLED), closes the connection (the child exits when
 * it sees that), waits up to 2 s for it and kills it otherwise, then frees the supervisor. Not
 * from the loop thread; the loop must still run. Accepts NULL. */
void lx_engine_sup_destroy(lx_engine_sup *s);

/* Runs req on the local model at model_path (canonical, inside the model directories the child
 * was given; child_model: what the request frame names, the spec as the runtime resolved it or
 * that path) in the child, reporting to cbs (borrowed until cbs->done ran) like a local worker
 * job: events on the loop thread, started when the child's START arrives, done once. req is
 * encoded before this returns. deadline_ns: CLOCK_MONOTONIC, 0 = none (the child enforces it).
 * Errors (nothing emitted, done never runs): LLMUX_E_OUT_OF_MEMORY, LLMUX_E_CANCELLED (the
 * runtime is stopping). */
llmux_status lx_engine_sup_submit(lx_engine_sup *s, const char *model_path, const char *child_model,
                                  const llmux_request *req,
                                  const llmux_cancel *cancel, int64_t deadline_ns, const lx_attempt_cbs *cbs,
                                  llmux_error_info *err);

/* Runs one call (core/ipc_call.h: embeddings, a token count, model load/unload/list; call_json
 * is its body, copied) in the child and waits for the answer. LLMUX_OK with *result, the result
 * object (the caller's: json_decref), or the child's error frame (the class and message the
 * public call gives in-process: the child runs that call); LLMUX_E_INTERNAL naming how the child
 * ended when it ended meanwhile; LLMUX_E_CANCELLED / LLMUX_E_TIMEOUT when cancel or deadline_ns
 * (CLOCK_MONOTONIC, 0 = none; the child is also given it in the call) end the wait. if_running:
 * when no child runs, LLMUX_OK with *result NULL at once instead of starting one (there is
 * nothing to list or unload). Blocking: never from the loop thread. Thread-safe. */
llmux_status lx_engine_sup_call(lx_engine_sup *s, const char *call_json, bool if_running, const llmux_cancel *cancel,
                                int64_t deadline_ns, json_t **result, llmux_error_info *err);

/* Between lx_telemetry_queues_begin and render (a metrics scrape, any thread): the child's
 * llmux_local_queue_depth and llmux_local_prompt_cache_bytes per loaded model, as its last pong
 * reported them (at most engine_heartbeat_ms old; none while no child runs). */
void lx_engine_sup_export(lx_engine_sup *s, lx_telemetry *t);

/* The current child's process id, 0 when none (any thread; for tests and diagnostics). */
pid_t lx_engine_sup_pid(lx_engine_sup *s);
/* Children started so far (any thread). */
uint64_t lx_engine_sup_starts(lx_engine_sup *s);

#endif
