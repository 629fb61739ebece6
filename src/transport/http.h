/* HTTP client for provider requests, on libcurl's multi interface driven by an event loop.
 *
 * Each client owns one loop thread (a libevent base) and one curl multi handle driven through the
 * multi-socket API (http_loop.c): every request of the client runs on that thread, so one thread
 * carries any number of concurrent streams. lx_http_request_run stays blocking for its caller: it
 * prepares the transfer in the calling thread, hands it to the loop, and waits for its end. The
 * loop streams the response body to a callback as chunks arrive and enforces per-request timeouts
 * (connect by libcurl; first byte, idle gap and total deadline by a per-transfer timer) and a
 * cancel token (checked at least every LX_HTTP_POLL_MS, so a trigger from another thread is seen
 * within about that time).
 *
 * Connection reuse: the single multi handle's connection cache, which only the loop thread
 * touches (what libcurl requires), serves every request: sequential requests to one host reuse one
 * TCP/TLS connection, concurrent ones open their own (or share an HTTP/2 one). DNS answers and TLS
 * sessions are shared through a locked CURLSH. The client is thread-safe.
 *
 * An aborted transfer (cancel, timeout, callback error) is removed from its multi handle before
 * it completed: libcurl closes an HTTP/1.1 connection in that case (never cached for reuse)
 * and resets the stream of an HTTP/2 one.
 *
 * Defaults kept on purpose: TLS peer and host verification on; proxy environment variables
 * (http_proxy, https_proxy, no_proxy...) honoured; CURLOPT_VERBOSE off; redirects not followed
 * (a redirect is reported as the 3xx status it is). HTTP/2 is negotiated over TLS (ALPN), HTTP/1.1
 * otherwise. Only http:// and https:// URLs are accepted.
 *
 * Secrets: header values marked secret are never logged nor copied into error messages (libcurl's
 * messages are scrubbed of them as well, whole tokens only: transport/redact.h), and their copies
 * are wiped before being freed. */
#ifndef LX_HTTP_H
#define LX_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "llmux.h"

/* Longest gap between two checks of a transfer (ms): bounds how late a cancel trigger is noticed. */
#define LX_HTTP_POLL_MS 20
/* Caps on the header lines a response keeps for lx_http_request.keep_header_prefixes: all kept
 * lines together, and one line (bytes, as stored). Rate-limit headers, what providers ask for,
 * take a few hundred bytes. */
#define LX_HTTP_KEPT_HEADERS_MAX 2048u
#define LX_HTTP_KEPT_LINE_MAX 512u
/* Cap on the final response's header block (bytes, all lines): libcurl's own limit reports a
 * larger one as out of memory, which it is not. Real providers send a few kilobytes. */
#define LX_HTTP_MAX_HEADER_BYTES (64u * 1024u)
/* Default cap on a buffered non-2xx body (bytes). */
#define LX_HTTP_ERROR_BODY_MAX (1024u * 1024u)

typedef struct lx_http_client lx_http_client;

typedef struct lx_http_client_params {
    size_t max_idle;          /* unused since the event loop (one multi handle); kept for callers */
    const char *user_agent;   /* NULL = "llmux/<version>"; copied */
} lx_http_client_params;

lx_http_client_params lx_http_client_default_params(void);

/* Creates a client (curl_global_init runs once per process, on first use). Returns
 * LLMUX_E_OUT_OF_MEMORY or LLMUX_E_INTERNAL (libcurl could not initialise); *out is NULL then. */
llmux_status lx_http_client_create(const lx_http_client_params *params, lx_http_client **out, llmux_error_info *err);
/* Stops the loop thread, closes the cached connections and frees the client. Accepts NULL.
 * Requests still running end with LLMUX_E_CANCELLED; destroy waits until their callers are out of
 * lx_http_request_run, but they must not start new ones on a client being destroyed. */
void lx_http_client_destroy(lx_http_client *c);

typedef struct lx_http_header {
    const char *name;
    const char *value;
    bool secret;  /* a credential: never logged, scrubbed from messages, wiped after use */
} lx_http_header;

/* Per-request timeouts in milliseconds; 0 = none.
 *  connect:    TCP + TLS handshake (libcurl's CURLOPT_CONNECTTIMEOUT_MS).
 *  first_byte: from the request being sent (connection ready) to the first response byte
 *              (the status line), i.e. the upstream's time to answer.
 *  idle:       longest gap between two received chunks (headers or body) after the first; with
 *              lx_http_request.progress (2xx bodies), between two chunks that made decoded
 *              progress, and until the first such chunk at least first_byte from the request
 *              (an upstream may send keep-alives while its model has not started answering).
 *  total:      the whole request, from the call; combined with deadline_ns below. */
typedef struct lx_http_timeouts {
    int64_t connect_ms;
    int64_t first_byte_ms;
    int64_t idle_ms;
    int64_t total_ms;
} lx_http_timeouts;

#define LX_HTTP_LOCATION_MAX 256

/* What is known about the final response (after any 1xx). Strings are NUL-terminated, "" when
 * the header was absent, and truncated to their field. */
typedef struct lx_http_response {
    int status;              /* HTTP status; 0 when no response arrived */
    long http_version;       /* 11, 2 (HTTP/2) or 0 when unknown */
    char content_type[128];
    char retry_after[64];    /* Retry-After; when absent, retry-after-ms converted to seconds */
    /* The header lines whose names start with one of the request's keep_header_prefixes
     * (case-insensitive), raw, for the caller to interpret (a provider adapter's rate-limit
     * headers: providers/ratelimit.h), in arrival order: "name: value\n" each, the name as sent,
     * the value without surrounding blanks. NUL-terminated; data is NULL when none was kept.
     * Bounded: a line longer than LX_HTTP_KEPT_LINE_MAX, one that would take the whole past
     * LX_HTTP_KEPT_HEADERS_MAX, or one holding a control byte is left out whole, never cut, and
     * counted in kept_headers_dropped. Owner: the response (lx_http_response_free). */
    lx_buf kept_headers;
    unsigned kept_headers_dropped;
    /* Location of a 3xx (redirects are not followed; the error names where it pointed), cut to
     * LX_HTTP_LOCATION_MAX - 1 bytes; NULL when absent. Allocated when the header arrives (a
     * fixed field would cost every transfer in flight 256 bytes for a header only a misconfigured
     * base URL produces). Owner: the response (lx_http_response_free). */
    char *location;
    /* A non-2xx body, buffered up to max_error_body bytes (NUL-terminated; NULL when empty).
     * Owner: the response (lx_http_response_free). */
    char *error_body;
    size_t error_body_len;
    bool error_body_truncated; /* the body was longer than the cap (the rest was not read) */
    uint64_t body_bytes;     /* body bytes received (any status) */
    long new_connections;    /* connections opened for this request (0 = a cached one was reused) */
} lx_http_response;

/* Releases what a response owns (not the struct itself). Accepts NULL. */
void lx_http_response_free(lx_http_response *r);

/* Callbacks run on the client's loop thread, not the caller's, while the caller is blocked in
 * lx_http_request_run: they must be quick (they delay every other stream of the client) and must
 * not run a request on the same client (refused with LLMUX_E_INTERNAL: it would deadlock).
 *
 * Receives the final response's status and headers once they are complete (before any body
 * byte). A status other than LLMUX_OK aborts the transfer; the request returns it and err (filled
 * by the callback) as they are. */
typedef llmux_status (*lx_http_headers_cb)(void *user_data, const lx_http_response *resp, llmux_error_info *err);
/* Receives body bytes of a 2xx response as they arrive (any split). Same abort rule. */
typedef llmux_status (*lx_http_data_cb)(void *user_data, const char *data, size_t len, llmux_error_info *err);
/* A counter of decoded progress (events that carried content, as the body's consumer defines
 * it), read after each on_data call: the idle timeout then measures the gap between changes of
 * this value instead of between raw chunks, so keep-alive comments or a drip of bytes that never
 * completes an event cannot hold a stream open forever. */
typedef uint64_t (*lx_http_progress_cb)(void *user_data);

typedef struct lx_http_request {
    const char *method;          /* "GET", "POST", ... */
    const char *url;             /* http:// or https:// */
    const lx_http_header *headers;
    size_t n_headers;
    const char *body;            /* NULL = no body */
    size_t body_len;
    lx_http_timeouts timeouts;
    int64_t deadline_ns;         /* CLOCK_MONOTONIC instant; 0 = none */
    const llmux_cancel *cancel;  /* NULL = not cancellable; borrowed */
    lx_http_headers_cb on_headers; /* may be NULL */
    lx_http_data_cb on_data;       /* may be NULL (2xx body discarded) */
    void *user_data;
    size_t max_error_body;       /* 0 = LX_HTTP_ERROR_BODY_MAX */
    const char *ca_bundle;       /* PEM file of trusted CA certificates; NULL = the system store */
    /* Media types a 2xx body may have, comma-separated ("text/event-stream"); NULL = any. Any
     * other Content-Type aborts with LLMUX_E_UPSTREAM_PROTOCOL naming it (parameters such as
     * charset and case are ignored; an absent Content-Type is accepted, as servers omit it). */
    const char *accept_types;
    lx_http_progress_cb progress; /* NULL = every received chunk counts as progress */
    /* Header-name prefixes, NULL-terminated ({"x-ratelimit-", NULL}), compared without regard
     * to case: the final response's header lines whose names start with one of them are kept in
     * lx_http_response.kept_headers. NULL = none. Borrowed. */
    const char *const *keep_header_prefixes;
} lx_http_request;

/* Whether content_type fits accept as lx_http_request.accept_types describes. */
bool lx_http_content_type_ok(const char *content_type, const char *accept);

/* A request with no headers, no body, no timeouts and method GET. */
lx_http_request lx_http_request_default(void);

/* Runs one request to completion; blocking (the transfer itself runs on the loop thread).
 * Thread-safe on a shared client.
 *
 * Returns LLMUX_OK when a complete response was received, whatever its status (resp->status
 * says; a non-2xx body is in resp->error_body, never passed to on_data). Otherwise:
 *  LLMUX_E_CANCELLED   the cancel token was triggered;
 *  LLMUX_E_TIMEOUT     a timeout fired; the message names it ("connect timeout", "first-byte
 *                      timeout", "idle timeout", "deadline");
 *  LLMUX_E_NETWORK     DNS, connect, TLS, send/receive failure, connection closed early
 *                      (message from libcurl, never holding a secret header value);
 *  LLMUX_E_UPSTREAM_PROTOCOL  a malformed or non-HTTP response, a header block past
 *                      LX_HTTP_MAX_HEADER_BYTES, a 2xx Content-Type outside accept_types;
 *  LLMUX_E_CONFIGURATION      a malformed or unsupported URL, or a header with a line break;
 *  a callback's status, as it returned it.
 * resp is always filled with what arrived (status, headers) and must be released with
 * lx_http_response_free, also on failure. */
llmux_status lx_http_request_run(lx_http_client *c, const lx_http_request *req, lx_http_response *resp,
                                 llmux_error_info *err);

/* ------------------------------------------------------ asynchronous transfers */

/* Runs on the client's loop thread once a started request ended: st and err as
 * lx_http_request_run would have returned them (err is borrowed for the call). resp (given to
 * lx_http_request_start) is complete and the caller's again: release it with
 * lx_http_response_free. */
typedef void (*lx_http_done_cb)(void *user_data, llmux_status st, const llmux_error_info *err);

typedef struct lx_http_transfer lx_http_transfer;

/* Starts req on the client's loop and returns at once: no thread waits for it, so one loop
 * carries any number of transfers. req, its body and resp must stay valid until done runs; the
 * URL and the headers are copied before this returns (the transfer keeps its own copies of the
 * secret values, wiped when it ends), so the caller may free them then. on_headers / on_data run
 * on the loop thread as for lx_http_request_run.
 * Callable from any thread, the loop thread included (from a callback). On failure (bad URL,
 * cancelled, client closing, out of memory) done never runs and resp needs no release. */
llmux_status lx_http_request_start(lx_http_client *c, const lx_http_request *req, lx_http_response *resp,
                                   lx_http_done_cb done, void *user_data, llmux_error_info *err);

struct event_base;
/* The client's libevent base (its loop thread), for callers that put their own watchers on it. */
struct event_base *lx_http_client_base(lx_http_client *c);
/* Runs fn(arg) on the client's loop thread soon; callable from any thread. False when the client
 * is closing or out of memory (fn will not run). */
bool lx_http_client_post(lx_http_client *c, void (*fn)(void *arg), void *arg);
/* True when called on the client's loop thread. */
bool lx_http_client_on_loop(const lx_http_client *c);

#endif
