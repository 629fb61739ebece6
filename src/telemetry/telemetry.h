/* The runtime's telemetry: one object that turns each finished execution into metric updates
 * (metrics.h), one JSON log line (exec_log.h) and, when an OTLP endpoint is configured, one span
 * for the execution plus one child span per attempt (otlp.h). docs/telemetry.md lists what is
 * produced.
 *
 * The runtime describes an execution with plain data (lx_tel_execution) so this module knows
 * nothing of the runtime's types. Threads: every function may be called from any thread once the
 * object is created; lx_telemetry_execution costs a few mutex-guarded additions, one write(2)
 * when the log is on, and a queue append when traces are on. */
#ifndef LX_TELEMETRY_H
#define LX_TELEMETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llmux.h"
#include "transport/http.h"

/* Distinct model names the metrics keep as label values; the rest are counted as "other". */
#define LX_TELEMETRY_MAX_MODELS 256

typedef struct lx_telemetry_params {
    const char *log;            /* NULL or "off" = no execution log; "stderr"; or a file path */
    llmux_log_level log_level;  /* least severe execution line written */
    const char *otlp_endpoint;  /* NULL = no traces */
    lx_http_client *client;     /* sends the traces (borrowed; must outlive the telemetry) */
    const char *ca_bundle;      /* for an https endpoint; NULL = the system store */
    int64_t otlp_flush_ms;      /* 0 = LX_OTLP_DEFAULT_FLUSH_MS */
    size_t otlp_max_queue;      /* 0 = LX_OTLP_DEFAULT_QUEUE */
    size_t otlp_max_batch;      /* 0 = LX_OTLP_DEFAULT_BATCH */
    int64_t otlp_timeout_ms;    /* 0 = LX_OTLP_DEFAULT_TIMEOUT_MS */
} lx_telemetry_params;

typedef struct lx_telemetry lx_telemetry;

/* LLMUX_E_CONFIGURATION when the log file cannot be opened or the endpoint is no http(s) URL. */
llmux_status lx_telemetry_create(const lx_telemetry_params *p, lx_telemetry **out, llmux_error_info *err);
/* Flushes the spans still queued (bounded by the OTLP timeout) and frees. NULL ok. Before the HTTP
 * client is destroyed. */
void lx_telemetry_destroy(lx_telemetry *t);
/* Flushes and stops the trace exporter (it sends through the runtime's HTTP client, so this runs
 * before that client goes); metrics and the log stay usable, later spans are dropped and counted,
 * until lx_telemetry_destroy. NULL ok. */
void lx_telemetry_halt_export(lx_telemetry *t);

/* One attempt of an execution. Strings borrowed for the call. */
typedef struct lx_tel_attempt {
    const char *target;         /* "provider/model" or the local spec */
    const char *provider;       /* "openai", ..., "local" */
    const char *model;          /* the target's model name */
    int64_t started_at_ms;      /* unix epoch */
    double duration_ms;
    double ttft_ms;             /* -1 when no content */
    llmux_status status;
    int32_t http_status;        /* 0 = none */
    const char *error;          /* "" or NULL when OK */
} lx_tel_attempt;

/* One finished execution (or one refused before it started: accepted false, no attempts).
 * Strings borrowed for the call; NULL = absent. */
typedef struct lx_tel_execution {
    bool accepted;              /* lx_telemetry_started was called for it */
    const char *execution_id;
    const char *request_id;     /* metadata "request_id" */
    const char *key_name;       /* metadata "key_name" */
    const char *requested_model;/* what the request named (an alias, a spec) */
    const char *model;          /* the model that answered (or was last tried) */
    const char *provider;
    const char *operation;      /* "chat" */
    bool stream;
    llmux_status status;
    const char *error;          /* the error message when status != OK */
    int64_t started_at_ms;      /* unix epoch */
    double latency_ms;          /* start to terminal event */
    double ttft_ms;             /* -1 when no content */
    double queued_ms;           /* -1 when not measured */
    int64_t input_tokens;       /* -1 unknown */
    int64_t output_tokens;      /* -1 unknown */
    bool cost_known;
    double cost_usd;
    const lx_tel_attempt *attempts;
    size_t n_attempts;
} lx_tel_execution;

/* An execution was accepted and is now in flight (the in-flight gauge). */
void lx_telemetry_started(lx_telemetry *t);
/* An execution ended (or was refused): metrics, the log line, the spans. */
void lx_telemetry_execution(lx_telemetry *t, const lx_tel_execution *x);

/* The local worker queues, as the runtime sees them at scrape time. */
void lx_telemetry_queues_begin(lx_telemetry *t);
void lx_telemetry_queue_depth(lx_telemetry *t, const char *model, size_t waiting);
/* Between queues_begin and render: a loaded model's host prompt cache size. */
void lx_telemetry_prompt_cache_bytes(lx_telemetry *t, const char *model, size_t bytes);
/* A local generation reused reused_tokens (> 0) cached prompt tokens. Any thread. */
void lx_telemetry_prompt_cache_hit(lx_telemetry *t, const char *model, int64_t reused_tokens);

/* The sandboxed engine child (local.isolation: process; runtime/engine_sup.c), loop thread or any:
 * one started; one answered its handshake (up 1) or ended (up 0) with how ("crash", "seccomp",
 * "killed", "heartbeat", "runtime", "exit") and failed requests and calls in flight. */
void lx_telemetry_engine_started(lx_telemetry *t);
void lx_telemetry_engine_up(lx_telemetry *t, bool up);
void lx_telemetry_engine_ended(lx_telemetry *t, const char *how, size_t failed);
/* The running child's sandbox, from its welcome: the kernel's Landlock ABI (0 = none) and whether
 * a layer could not be applied. */
void lx_telemetry_engine_sandbox(lx_telemetry *t, int landlock_abi, bool degraded);

/* Every metric as Prometheus text (caller frees); NULL when out of memory. */
char *lx_telemetry_render(lx_telemetry *t, size_t *len);

/* The JSON log line of x (without a line feed), as written to the log. Caller frees. */
char *lx_telemetry_log_line(const lx_tel_execution *x, bool with_attempts);

#endif
