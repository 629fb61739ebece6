/* The executor: drives one execution through its routing plan (src/router/): an attempt on the
 * current target (remote on the HTTP loop, local on the model's engine thread), then on failure
 * a retry after a backoff (Retry-After honoured, bounded by the deadline), or the next target,
 * or the end. Never a retry or a fallback once an event went to the consumer: an attempt's START
 * is held back until its first content (or its normal end), so a stream that fails before its
 * first token still falls back.
 *
 * Threads: attempt callbacks arrive on the loop thread (remote, backoff timers) or the model's
 * engine thread (local); only one attempt runs at a time, so the driver's state has one writer
 * at a time. Cancellation (the execution's token) stops an attempt at its next step and a backoff
 * wait within LX_HTTP_POLL_MS. */
#ifndef LX_EXECUTOR_H
#define LX_EXECUTOR_H

#include <stdint.h>

#include "llmux.h"
#include "router/router.h"
#include "runtime/execution.h"

/* Most attempts recorded per execution (retries x targets beyond it are still made, not listed). */
#define LX_MAX_ATTEMPTS 64

/* One attempt, as the execution record lists it. */
typedef struct lx_attempt_info {
    char target[256];          /* "provider/model" or the local model spec */
    int64_t started_at_ms;     /* unix epoch ms */
    int32_t http_status;       /* 0 = none */
    llmux_status status;       /* LLMUX_OK for the attempt that answered */
    char error[256];           /* "" when OK */
    int64_t retry_delay_ms;    /* waited after this attempt before the next; -1 none */
    double ttft_ms;            /* -1 when no content */
    double duration_ms;
} lx_attempt_info;

typedef struct lx_driver lx_driver;

/* Starts req (borrowed until the execution ended) on plan (copied) into x. deadline_ns: the
 * whole execution's CLOCK_MONOTONIC deadline, 0 = none. Returns LLMUX_OK once the execution is
 * under way (every later outcome reaches x through lx_exec_end, exactly once). *out: the driver,
 * to read the attempts after the execution ended and to free (lx_driver_free) after that. */
llmux_status lx_driver_start(llmux_runtime *rt, const llmux_request *req, const lx_plan *plan, lx_exec *x,
                             int64_t deadline_ns, lx_driver **out, llmux_error_info *err);
/* Only after the execution ended. Accepts NULL. */
void lx_driver_free(lx_driver *d);

/* After the execution ended: the attempts made (at most LX_MAX_ATTEMPTS), the plan, the model
 * and provider of the last target tried (NULL when none could even be resolved), and the spec of
 * the remote target that answered, for pricing (NULL when nothing answered or it was local). */
const lx_attempt_info *lx_driver_attempts(const lx_driver *d, size_t *n);
void lx_driver_plan(const lx_driver *d, lx_plan *out);
const char *lx_driver_model(const lx_driver *d);
const char *lx_driver_provider(const lx_driver *d);
const char *lx_driver_priced_spec(const lx_driver *d);

#endif
