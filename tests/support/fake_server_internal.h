/* What fake_server.c shares with its TLS (fake_tls.c) and HTTP/2 (fake_h2.c) parts. Test support
 * only: one server thread owns every conn; the mutex guards the script, records and counters. */
#ifndef LX_FAKE_SERVER_INTERNAL_H
#define LX_FAKE_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "support/fake_server.h"

#define LX_FAKE_MAX_SCRIPT 64
#define LX_FAKE_MAX_RECORDS 64
#define LX_FAKE_MAX_CONNS 16
#define LX_FAKE_MAX_HEAD (64 * 1024)
#define LX_FAKE_MAX_REQUEST (8 * 1024 * 1024)

typedef struct ssl_st lx_fake_ssl;     /* OpenSSL's SSL, without its header here */
typedef struct ssl_ctx_st lx_fake_ssl_ctx;
typedef struct lx_fake_h2 lx_fake_h2;

typedef struct lx_fake_entry {
    lx_fake_response r;  /* strings below replace the caller's */
    char *method;
    char *path_prefix;
    char *headers;
    char *body;
} lx_fake_entry;

typedef struct lx_fake_conn {
    int fd;
    bool stalled;
    char *buf;
    size_t len;
    lx_fake_ssl *ssl;  /* NULL = plain */
    lx_fake_h2 *h2;    /* NULL = HTTP/1.1 */
} lx_fake_conn;

struct lx_fake_server {
    int listen_fd;
    int wake[2];  /* a byte in wake[0] means: stop */
    int port;
    lx_fake_server_opts opts;
    lx_fake_ssl_ctx *ssl_ctx;
    char tmp_dir[64];
    char ca_file[96];
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    lx_fake_entry script[LX_FAKE_MAX_SCRIPT];
    int n_script;
    int next;
    lx_fake_request *records;  /* LX_FAKE_MAX_RECORDS */
    int n_requests;
    int n_connections;
    int n_closed;
    int n_mismatches;
    int n_tls_failures;
    int n_h2_streams;
    int h2_max_concurrent;
    lx_fake_conn conns[LX_FAKE_MAX_CONNS];
};

/* ---- fake_server.c */

/* Sleeps ms, waking early (returning false) when the server is stopping. */
bool lx_fake_nap(lx_fake_server *s, int ms);
/* Sends all of p (TLS when the conn has it), waiting for a slow reader; false on error or stop. */
bool lx_fake_send_all(lx_fake_server *s, lx_fake_conn *c, const void *p, size_t n);
/* Reads what is available, up to cap bytes. >0 bytes read, 0 closed or failed, -1 nothing yet. */
ssize_t lx_fake_recv(lx_fake_conn *c, void *buf, size_t cap);
/* Takes the next script entry for a request; *match false (counted) when it does not fit.
 * NULL when the script is exhausted (counted as a mismatch too). */
lx_fake_entry *lx_fake_take_entry(lx_fake_server *s, const char *method, const char *path, bool *match);
/* Stores a received request (body moved: rq->body becomes NULL). */
void lx_fake_record(lx_fake_server *s, lx_fake_request *rq);
/* Milliseconds on CLOCK_MONOTONIC. */
int64_t lx_fake_now_ms(void);

/* ---- fake_tls.c */

/* Generates the key and certificate (written to s->ca_file) and the server context. */
bool lx_fake_tls_init(lx_fake_server *s);
void lx_fake_tls_free(lx_fake_server *s);
/* Runs the server side of the handshake on c (bounded wait). False when it failed (counted). */
bool lx_fake_tls_accept(lx_fake_server *s, lx_fake_conn *c);
/* Whether ALPN selected "h2" on c. */
bool lx_fake_tls_is_h2(const lx_fake_conn *c);
void lx_fake_tls_close(lx_fake_conn *c);

/* ---- fake_h2.c */

/* Starts an HTTP/2 session on c (server preface sent). False on failure. */
bool lx_fake_h2_start(lx_fake_server *s, lx_fake_conn *c);
/* Reads and processes what arrived; false when the connection must be closed. */
bool lx_fake_h2_on_readable(lx_fake_server *s, lx_fake_conn *c);
/* Starts responses and resumes streams whose delay passed, then sends; false to close. */
bool lx_fake_h2_tick(lx_fake_server *s, lx_fake_conn *c);
/* Milliseconds until the next timed action on c; -1 = none. */
int lx_fake_h2_next_ms(const lx_fake_conn *c);
void lx_fake_h2_free(lx_fake_conn *c);

#endif
