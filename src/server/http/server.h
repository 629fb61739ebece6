/* `llmux serve`'s HTTP server: OpenAI- and Anthropic-compatible routes on the runtime's own
 * libevent loop (llmux_runtime_event_base), so a proxied request crosses no thread: the HTTP
 * callbacks, the execution's callbacks (llmux_submit) and the upstream transfer all run on the
 * runtime's loop thread. Uses the public API only. docs/server.md lists the routes. */
#ifndef LX_SERVER_H
#define LX_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "llmux.h"

#define LX_SERVER_DEFAULT_PORT 4000
#define LX_SERVER_DEFAULT_MAX_BODY ((size_t)8 * 1024 * 1024)
#define LX_SERVER_DEFAULT_MAX_HEADERS ((size_t)64 * 1024)
#define LX_SERVER_DEFAULT_MAX_REQUESTS 256
#define LX_SERVER_DEFAULT_KEEPALIVE_MS 15000
#define LX_SERVER_DEFAULT_IDLE_TIMEOUT_S 120
#define LX_SERVER_DEFAULT_MAX_UNSENT ((size_t)4 * 1024 * 1024)
#define LX_SERVER_DEFAULT_RESPONSES_STORE ((size_t)64 * 1024 * 1024)
#define LX_SERVER_DEFAULT_MAX_STREAMS_PER_KEY 64

typedef struct lx_server_params {
    const char *host;          /* address to bind; NULL = "127.0.0.1" */
    int port;                  /* 0 = an ephemeral port (lx_server_port says which) */
    size_t max_body_bytes;     /* a larger body → 413 */
    size_t max_header_bytes;   /* larger headers → 400 (answered by libevent itself) */
    int max_requests;          /* generations in flight at once; more → 429 with Retry-After */
    int64_t keepalive_ms;      /* SSE keep-alive (ping) period on a begun stream */
    size_t max_unsent_bytes;   /* a stream whose client leaves this much unread is cancelled
                                  (it ends with an in-stream error; memory stays bounded) */
    int idle_timeout_s;        /* a connection that sends nothing (between requests, or while
                                  sending one) for this long is closed */
    const char *const *models; /* ids listed first by GET /v1/models (aliases, local/<name>);
                                  copied */
    size_t n_models;
    /* Access (auth.h, docs/server.md). */
    const lx_config_key *keys; /* API keys (server.keys), copied; none = every request is served
                                  (the CLI then listens on loopback only) */
    size_t n_keys;
    const char *const *cors_origins; /* server.cors_origins, copied; none = CORS off */
    size_t n_cors_origins;
    int max_streams_per_key;   /* generations in flight per key; more → 429 with Retry-After;
                                  0 = LX_SERVER_DEFAULT_MAX_STREAMS_PER_KEY */
    const char *records;       /* the runtime's records URL: what each key with a budget spent is
                                  loaded from it at start; NULL = none (then a key with a budget
                                  is refused) */
    const char *metrics_key;   /* GET /metrics requires "Authorization: Bearer <key>"; NULL = open.
                                  Copied (wiped when the server stops) */
    size_t responses_store_bytes; /* memory for stored Responses API responses (response_store.h:
                                     previous_response_id, GET/DELETE /v1/responses/{id});
                                     0 = none are kept */
} lx_server_params;

lx_server_params lx_server_default_params(void);

typedef struct lx_server lx_server;

/* Binds and starts serving on rt's loop. Not from the loop thread (it waits for the loop).
 * LLMUX_E_CONFIGURATION when the address cannot be bound or a key has a budget but there are no
 * records (the message says why). rt must outlive the server. */
llmux_status lx_server_start(llmux_runtime *rt, const lx_server_params *p, lx_server **out, llmux_error_info *err);
/* The bound port. */
int lx_server_port(const lx_server *s);
/* Requests in flight (generations not yet answered). Any thread. */
int lx_server_active(lx_server *s);
/* Graceful stop: stops accepting, lets in-flight requests finish for up to grace_ms, cancels the
 * rest (their clients get an in-stream error or an error status), waits for them to end, closes
 * every connection and frees the server. Not from the loop thread. Accepts NULL. */
void lx_server_stop(lx_server *s, int64_t grace_ms);

#endif
