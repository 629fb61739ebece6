/* Building execution records (record.c) for the runtime's writer (store.h). */
#ifndef LX_RUNTIME_RECORD_H
#define LX_RUNTIME_RECORD_H

#include <stdbool.h>
#include <stdint.h>

#include "core/clock.h" /* lx_wall_ms: records are wall-clock */
#include "llmux.h"
#include "router/router.h"
#include "runtime/executor.h"
#include "store/store.h"

/* What one execution (or a refused request) leaves to record. Everything is borrowed. */
typedef struct lx_record_input {
    const char *id;                 /* the execution id */
    const char *replay_of;          /* NULL unless a replay */
    const char *requested_model;    /* as the request named it */
    const llmux_request *req;       /* stored when bodies is set (NULL = none) */
    bool bodies;
    const lx_plan *plan;            /* NULL for a refused request */
    const lx_attempt_info *attempts;
    size_t n_attempts;
    const llmux_response *resp;     /* NULL for a refused request */
    llmux_status status;
    const llmux_error_info *err;
    int64_t started_at_ms;
    const char *priced_spec;        /* the remote spec that answered, NULL = local or none */
    bool provider_cost;             /* the provider reported the cost itself */
} lx_record_input;

/* A heap record (lx_exec_record_free), NULL when out of memory. */
lx_exec_record *lx_record_build(llmux_runtime *rt, const lx_record_input *in);

#endif
