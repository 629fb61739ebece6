/* A fake provider server for tests: HTTP/1.1 on 127.0.0.1 (ephemeral port), one thread, serving
 * a scripted sequence of responses with controllable delivery (chunk size, delays, a broken
 * connection, a stalled body, a late status line). It records every request it received so
 * tests can assert the exact wire request.
 *
 * Connections are served one request at a time, in the server thread, with keep-alive (a client
 * may send several requests over one connection; `n_connections` counts accepted sockets, so a
 * test can assert connection reuse). Every buffer is bounded.
 *
 * Optional modes (lx_fake_server_start_opts): TLS with a certificate generated at start (its PEM
 * file is the CA bundle a client trusts), HTTP/2 negotiated by ALPN (several concurrent streams
 * per connection, each response delivered with the same script controls), and a forward proxy
 * for plain http:// (absolute-form request targets; with TLS on, CONNECT turns the connection
 * into the TLS origin itself, so https through a proxy is served by the same script). */
#ifndef LX_FAKE_SERVER_H
#define LX_FAKE_SERVER_H

#include <stdbool.h>
#include <stddef.h>

/* How the body ends. */
typedef enum lx_fake_end {
    LX_FAKE_END_NORMAL = 0,  /* the whole body, then keep-alive (or close when close_delimited) */
    LX_FAKE_END_BREAK = 1,   /* after end_after body bytes, close the socket without finishing the framing */
    LX_FAKE_END_STALL = 2,   /* after end_after body bytes, send nothing more; keep the socket */
    LX_FAKE_END_RESET = 3    /* after end_after body bytes, reset the connection (RST, not FIN);
                              * HTTP/1.1 only */
} lx_fake_end;

/* One scripted response. Strings are copied by lx_fake_server_push. */
typedef struct lx_fake_response {
    const char *method;        /* expected method; NULL = any */
    const char *path_prefix;   /* expected path prefix; NULL = any */
    int status;                /* 0 = 200 */
    const char *headers;       /* extra header lines, each ending in "\r\n"; NULL = none */
    const char *body;          /* body text; NULL = read body_file */
    size_t body_len;           /* 0 = strlen(body) */
    const char *body_file;     /* path relative to the working directory (the repository root) */
    bool chunked;              /* Transfer-Encoding: chunked */
    bool close_delimited;      /* no length: Connection: close, the body ends when the socket closes */
    size_t chunk_size;         /* bytes per write (and per HTTP chunk); 0 = the whole body at once */
    int chunk_delay_ms;        /* pause between two writes */
    int status_delay_ms;       /* pause before the status line (first-byte timeouts) */
    lx_fake_end end;
    size_t end_after;          /* body bytes sent before BREAK / STALL / RESET (of all repeats) */
    /* Hostile-upstream modes (HTTP/1.1 only; zero = off, so older scripts are unchanged): */
    bool raw;                  /* send body as the whole reply, no status line or headers of ours
                                * (garbage, a hand-made head, broken chunked framing); the socket
                                * closes after it unless end is STALL */
    size_t repeat;             /* send the body this many times (0 = once): endless-looking floods;
                                * the length header counts every repeat */
} lx_fake_response;

/* One request as received. Over HTTP/2 the pseudo-headers fill method and path (:authority
 * becomes a "host" line) and headers holds the regular fields as "name: value\r\n" lines. Through
 * the proxy, path is the absolute-form target ("http://host:port/path"); CONNECT records
 * "host:port". */
typedef struct lx_fake_request {
    char method[16];
    char path[1024];
    char headers[16384];       /* the raw header lines after the request line */
    char *body;                /* NUL-terminated; owned by the server */
    size_t body_len;
    int http_version;          /* 11 or 2 */
    bool tls;                  /* arrived over TLS */
} lx_fake_request;

typedef struct lx_fake_server lx_fake_server;

typedef struct lx_fake_server_opts {
    bool tls;              /* accept TLS (a fresh self-signed CA-style certificate, see ca_file) */
    bool h2;               /* with tls: ALPN offers "h2" (then "http/1.1"); else "http/1.1" only */
    bool proxy;            /* a plain-HTTP forward proxy: absolute-form targets; CONNECT when tls */
    const char *cert_san;  /* the certificate's subjectAltName; NULL = "IP:127.0.0.1,DNS:localhost" */
} lx_fake_server_opts;

/* Starts a server on 127.0.0.1 with an ephemeral port. NULL on failure (printed to stderr). */
lx_fake_server *lx_fake_server_start(void);
/* The same with options (NULL = plain HTTP/1.1, as lx_fake_server_start). */
lx_fake_server *lx_fake_server_start_opts(const lx_fake_server_opts *opts);
/* The PEM certificate file of a TLS server (in a temporary directory removed by stop); NULL
 * without TLS. */
const char *lx_fake_server_ca_file(const lx_fake_server *s);
/* Stops the thread (promptly, even mid-delay or mid-stall), closes every socket, frees. Accepts NULL. */
void lx_fake_server_stop(lx_fake_server *s);
int lx_fake_server_port(const lx_fake_server *s);
/* "http://127.0.0.1:PORT" (https:// for a TLS server) followed by suffix (may be ""), into buf. */
void lx_fake_server_url(const lx_fake_server *s, const char *suffix, char *buf, size_t size);

/* Appends a response to the script. False when out of memory, the script is full or the body
 * file cannot be read. */
bool lx_fake_server_push(lx_fake_server *s, const lx_fake_response *r);

/* Counters (thread-safe). `mismatches` counts requests that did not match the script entry's
 * method/path (answered 500) or arrived after the script was exhausted (answered 500). */
int lx_fake_server_connections(lx_fake_server *s);
int lx_fake_server_requests(lx_fake_server *s);
int lx_fake_server_mismatches(lx_fake_server *s);
/* How many accepted connections have been closed by the peer or by the server so far. */
int lx_fake_server_closed(lx_fake_server *s);
/* TLS handshakes that failed (the client rejected the certificate, or spoke no TLS). */
int lx_fake_server_tls_failures(lx_fake_server *s);
/* HTTP/2 streams served, and the most streams that were open at once on one connection. */
int lx_fake_server_h2_streams(lx_fake_server *s);
int lx_fake_server_h2_max_concurrent(lx_fake_server *s);

/* Copies the i-th recorded request (0-based) into *out; out->body is a new malloc'd copy the
 * caller frees. False when there is no such request. */
bool lx_fake_server_request(lx_fake_server *s, int i, lx_fake_request *out);
/* Finds a header (case-insensitive name) in a recorded request; copies its value (trimmed).
 * False when absent. */
bool lx_fake_request_header(const lx_fake_request *r, const char *name, char *value, size_t size);

/* Waits up to timeout_ms for `lx_fake_server_closed` to reach n. */
bool lx_fake_server_wait_closed(lx_fake_server *s, int n, int timeout_ms);

/* A loopback port with nothing listening on it (connections are refused). */
int lx_fake_closed_port(void);

/* Reads a whole file (tests' fixtures) into a malloc'd NUL-terminated buffer; NULL on failure. */
char *lx_fake_read_file(const char *path, size_t *len);

#endif
