/* OpenTelemetry trace export over OTLP/HTTP with the JSON encoding: spans are queued by whoever
 * finishes an execution and POSTed in batches to {endpoint}/v1/traces by one exporter thread.
 *
 * Why a thread of its own that sends through the runtime's HTTP client (transport/http.h)
 * rather than a transfer started from the loop: the transfer does run on the runtime's loop (one
 * connection cache, the same TLS, proxy and CA settings as provider traffic, no second libcurl
 * stack), but the batching timer, the JSON encoding of a batch and the wait for the collector's
 * answer stay off that loop, so a slow or dead collector delays nothing but this thread.
 *
 * Never blocking a request: lx_otlp_enqueue only appends to a bounded queue under a mutex; when
 * the queue is full the item's spans are dropped and counted. A batch the collector refuses or that times
 * out is dropped and counted as well (no retry queue to grow while the collector is down). */
#ifndef LX_TELEMETRY_OTLP_H
#define LX_TELEMETRY_OTLP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llmux.h"
#include "transport/http.h"

#define LX_OTLP_DEFAULT_QUEUE 4096      /* spans waiting (at most); more are dropped */
#define LX_OTLP_DEFAULT_BATCH 256       /* spans per POST */
#define LX_OTLP_DEFAULT_FLUSH_MS 1000   /* longest a span waits for its batch */
#define LX_OTLP_DEFAULT_TIMEOUT_MS 5000 /* one POST, connection included */
#define LX_OTLP_MAX_BODY ((size_t)16 * 1024 * 1024)

/* What the queue holds: an opaque item (an execution, copied by whoever enqueued it) that the
 * exporter thread turns into OTLP JSON spans only when it sends them, so the thread that finished
 * an execution pays for a copy, never for the JSON. */
typedef struct lx_otlp_item_ops {
    /* Appends the item's spans (OTLP JSON span objects) to spans; false when out of memory. */
    bool (*to_spans)(const void *item, json_t *spans);
    void (*release)(void *item);
} lx_otlp_item_ops;

typedef struct lx_otlp_params {
    const char *endpoint;      /* base URL, e.g. "http://127.0.0.1:4318"; "/v1/traces" is appended */
    lx_http_client *client;    /* borrowed: must outlive the exporter */
    const char *service_name;  /* resource attribute service.name; NULL = "llmux" */
    const char *ca_bundle;     /* PEM CA file for an https endpoint; NULL = the system store */
    size_t max_queue;          /* 0 = LX_OTLP_DEFAULT_QUEUE */
    size_t max_batch;          /* 0 = LX_OTLP_DEFAULT_BATCH */
    int64_t flush_ms;          /* 0 = LX_OTLP_DEFAULT_FLUSH_MS */
    int64_t timeout_ms;        /* 0 = LX_OTLP_DEFAULT_TIMEOUT_MS */
    lx_otlp_item_ops ops;      /* required */
} lx_otlp_params;

typedef struct lx_otlp lx_otlp;

/* Starts the exporter thread. LLMUX_E_CONFIGURATION for an endpoint that is not an http(s) URL. */
llmux_status lx_otlp_start(const lx_otlp_params *p, lx_otlp **out, llmux_error_info *err);
/* Sends what is queued (one last attempt, bounded by timeout_ms) and stops the thread; later
 * enqueues are dropped (counted). The object stays valid for enqueue and stats until
 * lx_otlp_stop. Must run before the HTTP client is destroyed. NULL ok; idempotent. */
void lx_otlp_halt(lx_otlp *o);
/* lx_otlp_halt (when not done yet), then frees. NULL ok. */
void lx_otlp_stop(lx_otlp *o);

/* Queues an item that will make n_spans spans (takes it: released through ops in every case; NULL = an item the caller could not make, counted as
 * dropped).
 * False when it was dropped (queue full, stopping): its spans count as dropped. Any thread; never
 * waits for the network. */
bool lx_otlp_enqueue(lx_otlp *o, void *item, size_t n_spans);

typedef struct lx_otlp_stats {
    uint64_t exported;       /* spans the collector accepted (2xx) */
    uint64_t dropped;        /* spans lost: queue full, or their batch failed */
    uint64_t failed_batches; /* POSTs that failed (network, timeout, non-2xx) */
    uint64_t queued;         /* spans waiting now */
} lx_otlp_stats;

lx_otlp_stats lx_otlp_get_stats(lx_otlp *o);

/* Wraps spans (an array, borrowed) into an ExportTraceServiceRequest JSON body for
 * service_name; NULL when out of memory. Caller frees. */
char *lx_otlp_body(json_t *spans, const char *service_name, size_t *len);

#endif
