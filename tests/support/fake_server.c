/* Fake provider server: see fake_server.h. */
#define _DEFAULT_SOURCE
#include "support/fake_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "support/fake_server_internal.h"

#define MAX_SCRIPT LX_FAKE_MAX_SCRIPT
#define MAX_RECORDS LX_FAKE_MAX_RECORDS
#define MAX_CONNS LX_FAKE_MAX_CONNS
#define MAX_HEAD LX_FAKE_MAX_HEAD
#define MAX_REQUEST LX_FAKE_MAX_REQUEST
#define MAX_BODY_FILE (16 * 1024 * 1024)

typedef lx_fake_entry entry;
typedef lx_fake_conn conn;

/* ------------------------------------------------------------- utilities */

char *lx_fake_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *data = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            size_t ncap = cap ? cap * 2 : 8192;
            if (ncap > MAX_BODY_FILE) {
                free(data);
                fclose(f);
                return NULL;
            }
            char *d = realloc(data, ncap);
            if (!d) {
                free(data);
                fclose(f);
                return NULL;
            }
            data = d;
            cap = ncap;
        }
        size_t got = fread(data + n, 1, 4096, f);
        n += got;
        if (got < 4096) break;
    }
    fclose(f);
    data[n] = '\0';
    if (len) *len = n;
    return data;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

bool lx_fake_nap(lx_fake_server *s, int ms) {
    if (ms <= 0) ms = 0;
    struct pollfd p = {.fd = s->wake[0], .events = POLLIN};
    return poll(&p, 1, ms) == 0;
}

static bool nap(lx_fake_server *s, int ms) { return ms <= 0 ? true : lx_fake_nap(s, ms); }

static bool stopping(lx_fake_server *s) { return !lx_fake_nap(s, 0); }

int64_t lx_fake_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for `events`, or the server stops (false). */
static bool wait_fd(lx_fake_server *s, int fd, short events) {
    struct pollfd pf[2] = {{.fd = fd, .events = events}, {.fd = s->wake[0], .events = POLLIN}};
    if (poll(pf, 2, 1000) < 0 && errno != EINTR) return false;
    return !pf[1].revents;
}

bool lx_fake_send_all(lx_fake_server *s, lx_fake_conn *c, const void *data, size_t n) {
    const char *p = data;
    while (n) {
        if (c->ssl) {
            ERR_clear_error();
            int w = SSL_write(c->ssl, p, n > 65536 ? 65536 : (int)n);
            if (w <= 0) {
                int e = SSL_get_error(c->ssl, w);
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                    if (!wait_fd(s, c->fd, e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN)) return false;
                    continue;
                }
                return false;
            }
            p += w;
            n -= (size_t)w;
            continue;
        }
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (!wait_fd(s, c->fd, POLLOUT)) return false;
                continue;
            }
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static bool send_all(lx_fake_server *s, conn *c, const char *p, size_t n) { return lx_fake_send_all(s, c, p, n); }

ssize_t lx_fake_recv(lx_fake_conn *c, void *buf, size_t cap) {
    if (!c->ssl) {
        for (;;) {
            ssize_t got = recv(c->fd, buf, cap, 0);
            if (got > 0) return got;
            if (got < 0 && errno == EINTR) continue;
            if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return -1;
            return 0;
        }
    }
    /* TLS: drain every decrypted byte OpenSSL holds, or poll would not report them again. */
    size_t total = 0;
    while (total < cap) {
        ERR_clear_error();
        int want = cap - total > 65536 ? 65536 : (int)(cap - total);
        int got = SSL_read(c->ssl, (char *)buf + total, want);
        if (got > 0) {
            total += (size_t)got;
            continue;
        }
        int e = SSL_get_error(c->ssl, got);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return total ? (ssize_t)total : -1;
        return total ? (ssize_t)total : 0;
    }
    return (ssize_t)total;
}

static void close_conn(lx_fake_server *s, conn *c) {
    if (c->fd < 0) return;
    lx_fake_h2_free(c);
    lx_fake_tls_close(c);
    close(c->fd);
    c->fd = -1;
    c->stalled = false;
    free(c->buf);
    c->buf = NULL;
    c->len = 0;
    pthread_mutex_lock(&s->mu);
    s->n_closed++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static const char *reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 529: return "Overloaded";
    default: return "Status";
    }
}

/* ------------------------------------------------------------- requests */

static const char *find_head_end(const char *buf, size_t len) {
    for (size_t i = 3; i < len; i++)
        if (buf[i - 3] == '\r' && buf[i - 2] == '\n' && buf[i - 1] == '\r' && buf[i] == '\n') return buf + i + 1;
    return NULL;
}

bool lx_fake_request_header(const lx_fake_request *r, const char *name, char *value, size_t size) {
    size_t k = strlen(name);
    const char *line = r->headers;
    while (*line) {
        const char *eol = strstr(line, "\r\n");
        size_t n = eol ? (size_t)(eol - line) : strlen(line);
        if (n > k && line[k] == ':' && strncasecmp(line, name, k) == 0) {
            const char *v = line + k + 1;
            size_t vl = n - k - 1;
            while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
            while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
            if (size) {
                if (vl >= size) vl = size - 1;
                memcpy(value, v, vl);
                value[vl] = '\0';
            }
            return true;
        }
        if (!eol) break;
        line = eol + 2;
    }
    return false;
}

/* Parses one complete request at the start of c->buf. Returns its total size, 0 when more bytes
 * are needed, -1 when malformed. */
static long parse_request(conn *c, lx_fake_request *out) {
    const char *end = find_head_end(c->buf, c->len);
    if (!end) return c->len > MAX_HEAD ? -1 : 0;
    size_t head_len = (size_t)(end - c->buf);
    const char *eol = strstr(c->buf, "\r\n");
    if (!eol || eol >= end) return -1;
    char line[1100];
    size_t ll = (size_t)(eol - c->buf);
    if (ll >= sizeof line) return -1;
    memcpy(line, c->buf, ll);
    line[ll] = '\0';
    char *sp1 = strchr(line, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2) return -1;
    *sp1 = *sp2 = '\0';
    memset(out, 0, sizeof *out);
    snprintf(out->method, sizeof out->method, "%s", line);
    snprintf(out->path, sizeof out->path, "%s", sp1 + 1);
    size_t hl = head_len - ll - 2;
    if (hl >= sizeof out->headers) hl = sizeof out->headers - 1;
    memcpy(out->headers, eol + 2, hl);
    out->headers[hl] = '\0';
    char cl[32];
    size_t body_len = 0;
    if (lx_fake_request_header(out, "content-length", cl, sizeof cl)) body_len = strtoul(cl, NULL, 10);
    if (lx_fake_request_header(out, "transfer-encoding", cl, sizeof cl)) return -1; /* unsupported */
    if (body_len > MAX_REQUEST - head_len) return -1;
    if (c->len < head_len + body_len) return 0;
    out->body = malloc(body_len + 1);
    if (!out->body) return -1;
    memcpy(out->body, end, body_len);
    out->body[body_len] = '\0';
    out->body_len = body_len;
    return (long)(head_len + body_len);
}

/* ------------------------------------------------------------- responses */

static bool send_simple(lx_fake_server *s, conn *c, int status, const char *msg) {
    char head[256];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n",
                     status, reason(status), strlen(msg));
    return send_all(s, c, head, (size_t)n) && send_all(s, c, msg, strlen(msg));
}

/* The origin-form path of a request target: an absolute-form one ("http://host:port/p?q", what a
 * client sends to a proxy) without its scheme and authority. */
static const char *origin_path(const char *target) {
    if (strncmp(target, "http://", 7) != 0 && strncmp(target, "https://", 8) != 0) return target;
    const char *p = strstr(target, "://") + 3;
    const char *slash = strchr(p, '/');
    return slash ? slash : "/";
}

lx_fake_entry *lx_fake_take_entry(lx_fake_server *s, const char *method, const char *path, bool *match) {
    if (s->opts.proxy) path = origin_path(path);
    pthread_mutex_lock(&s->mu);
    entry *e = s->next < s->n_script ? &s->script[s->next++] : NULL;
    *match = e && (!e->method || strcmp(e->method, method) == 0) &&
             (!e->path_prefix || strncmp(path, e->path_prefix, strlen(e->path_prefix)) == 0);
    if (!*match) s->n_mismatches++;
    pthread_mutex_unlock(&s->mu);
    return e;
}

/* Serves one scripted response. Returns false when the connection must be closed. */
static bool respond(lx_fake_server *s, conn *c, const char *method, const char *path) {
    bool match;
    entry *e = lx_fake_take_entry(s, method, path, &match);
    if (!e) return send_simple(s, c, 500, "fake server: script exhausted");
    if (!match) return send_simple(s, c, 500, "fake server: unexpected request");
    const lx_fake_response *r = &e->r;
    if (!nap(s, r->status_delay_ms)) return false;

    size_t reps = r->repeat ? r->repeat : 1;
    size_t body_len = r->body_len * reps;
    size_t limit = r->end == LX_FAKE_END_NORMAL ? body_len : (r->end_after < body_len ? r->end_after : body_len);
    char head[8192];
    int status = r->status ? r->status : 200;
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\n%s", status, reason(status), e->headers ? e->headers : "");
    if (n < 0 || (size_t)n >= sizeof head) return false;
    int m = 0;
    if (r->raw) n = 0; /* the body is the whole reply */
    else if (r->chunked) m = snprintf(head + n, sizeof head - (size_t)n, "Transfer-Encoding: chunked\r\n\r\n");
    else if (r->close_delimited) m = snprintf(head + n, sizeof head - (size_t)n, "Connection: close\r\n\r\n");
    else m = snprintf(head + n, sizeof head - (size_t)n, "Content-Length: %zu\r\n\r\n", body_len);
    if (m < 0 || (size_t)(n + m) >= sizeof head) return false;
    if (!send_all(s, c, head, (size_t)(n + m))) return false;

    size_t step = r->chunk_size ? r->chunk_size : (limit ? limit : 1);
    for (size_t off = 0; off < limit;) {
        if (off && !nap(s, r->chunk_delay_ms)) return false;
        size_t k = limit - off < step ? limit - off : step;
        /* With repeats, a write stops at the end of one copy of the body. */
        size_t at = r->body_len ? off % r->body_len : 0;
        if (r->body_len && k > r->body_len - at) k = r->body_len - at;
        if (r->chunked && !r->raw) {
            char size_line[32];
            int sl = snprintf(size_line, sizeof size_line, "%zx\r\n", k);
            if (!send_all(s, c, size_line, (size_t)sl) || !send_all(s, c, e->body + at, k) ||
                !send_all(s, c, "\r\n", 2))
                return false;
        } else if (!send_all(s, c, e->body + at, k)) {
            return false;
        }
        off += k;
    }
    if (r->end == LX_FAKE_END_RESET) {
        /* SO_LINGER with a zero timeout: close() sends RST (a crashed proxy, a dropped NAT entry). */
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        return false;
    }
    if (r->end == LX_FAKE_END_BREAK) return false; /* close without finishing the framing */
    if (r->end == LX_FAKE_END_STALL) {
        c->stalled = true;
        return true;
    }
    if (r->raw) return false; /* no framing of ours: the socket's end is the reply's end */
    if (r->chunked && !send_all(s, c, "0\r\n\r\n", 5)) return false;
    return !r->close_delimited;
}

void lx_fake_record(lx_fake_server *s, lx_fake_request *rq) {
    pthread_mutex_lock(&s->mu);
    if (s->n_requests < MAX_RECORDS) {
        s->records[s->n_requests] = *rq;
        rq->body = NULL; /* moved */
    }
    s->n_requests++;
    pthread_mutex_unlock(&s->mu);
}

/* TLS handshake on c, then HTTP/2 when ALPN chose it. False when c must be closed. */
static bool start_tls(lx_fake_server *s, conn *c) {
    if (!lx_fake_tls_accept(s, c)) return false;
    if (lx_fake_tls_is_h2(c)) return lx_fake_h2_start(s, c);
    return true;
}

/* Reads what is available on c and serves every complete request. */
static void serve(lx_fake_server *s, conn *c) {
    if (!c->buf) {
        c->buf = malloc(MAX_REQUEST + 1);
        if (!c->buf) {
            close_conn(s, c);
            return;
        }
    }
    if (c->len >= MAX_REQUEST) {
        close_conn(s, c);
        return;
    }
    ssize_t got = lx_fake_recv(c, c->buf + c->len, MAX_REQUEST - c->len);
    if (got < 0) return;
    if (got == 0) {
        close_conn(s, c);
        return;
    }
    if (c->stalled) {
        c->len = 0; /* a stalled connection ignores whatever else arrives */
        return;
    }
    c->len += (size_t)got;
    c->buf[c->len] = '\0';
    while (c->fd >= 0 && !c->stalled) {
        lx_fake_request rq;
        long used = parse_request(c, &rq);
        if (used == 0) return;
        if (used < 0) {
            send_simple(s, c, 400, "fake server: malformed request");
            close_conn(s, c);
            return;
        }
        char method[sizeof rq.method], path[sizeof rq.path];
        memcpy(method, rq.method, sizeof method);
        memcpy(path, rq.path, sizeof path);
        rq.http_version = 11;
        rq.tls = c->ssl != NULL;
        lx_fake_record(s, &rq);
        free(rq.body);
        memmove(c->buf, c->buf + used, c->len - (size_t)used);
        c->len -= (size_t)used;
        c->buf[c->len] = '\0';
        if (s->opts.proxy && s->opts.tls && !c->ssl && strcmp(method, "CONNECT") == 0) {
            /* The tunnel ends here: this connection becomes the TLS origin the client asked for. */
            static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
            if (!send_all(s, c, ok, sizeof ok - 1) || !start_tls(s, c)) close_conn(s, c);
            return;
        }
        if (!respond(s, c, method, path)) close_conn(s, c);
        if (stopping(s)) return;
    }
}

static void *server_main(void *arg) {
    lx_fake_server *s = arg;
    /* OpenSSL writes with plain write(): a peer that went away must not kill the test process.
     * SIGPIPE is sent to the writing thread, so blocking it here is enough. */
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
    for (;;) {
        struct pollfd pf[2 + MAX_CONNS];
        conn *who[2 + MAX_CONNS];
        nfds_t n = 0;
        pf[n] = (struct pollfd){.fd = s->wake[0], .events = POLLIN};
        who[n++] = NULL;
        pf[n] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
        who[n++] = NULL;
        int timeout = -1; /* HTTP/2 streams wait on timers (delays), not only on sockets */
        for (int i = 0; i < MAX_CONNS; i++) {
            if (s->conns[i].fd < 0) continue;
            pf[n] = (struct pollfd){.fd = s->conns[i].fd, .events = POLLIN};
            who[n++] = &s->conns[i];
            int t = s->conns[i].h2 ? lx_fake_h2_next_ms(&s->conns[i]) : -1;
            if (t >= 0 && (timeout < 0 || t < timeout)) timeout = t;
        }
        if (poll(pf, n, timeout) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (pf[0].revents) break;
        if (pf[1].revents & POLLIN) {
            int fd = accept(s->listen_fd, NULL, NULL);
            if (fd >= 0) {
                conn *slot = NULL;
                for (int i = 0; i < MAX_CONNS && !slot; i++)
                    if (s->conns[i].fd < 0) slot = &s->conns[i];
                pthread_mutex_lock(&s->mu);
                s->n_connections++;
                pthread_mutex_unlock(&s->mu);
                if (slot) {
                    /* Non-blocking, so a write to a client that stopped reading never blocks stop. */
                    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
                    /* Scripted chunks go out as written: Nagle + delayed ACK would add ~40 ms per
                     * small response and blur the chunking the tests ask for. */
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    slot->fd = fd;
                    slot->len = 0;
                    slot->stalled = false;
                    if (s->opts.tls && !s->opts.proxy && !start_tls(s, slot)) close_conn(s, slot);
                } else {
                    close(fd);
                    pthread_mutex_lock(&s->mu);
                    s->n_closed++;
                    pthread_mutex_unlock(&s->mu);
                }
            }
        }
        for (nfds_t i = 2; i < n; i++) {
            if (!pf[i].revents || who[i]->fd != pf[i].fd) continue;
            if (who[i]->h2) {
                if (!lx_fake_h2_on_readable(s, who[i])) close_conn(s, who[i]);
            } else {
                serve(s, who[i]);
            }
            if (stopping(s)) break;
        }
        for (int i = 0; i < MAX_CONNS; i++)
            if (s->conns[i].fd >= 0 && s->conns[i].h2 && !lx_fake_h2_tick(s, &s->conns[i])) close_conn(s, &s->conns[i]);
    }
    for (int i = 0; i < MAX_CONNS; i++) close_conn(s, &s->conns[i]);
    return NULL;
}

/* ------------------------------------------------------------- lifecycle */

lx_fake_server *lx_fake_server_start(void) { return lx_fake_server_start_opts(NULL); }

lx_fake_server *lx_fake_server_start_opts(const lx_fake_server_opts *opts) {
    lx_fake_server *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    if (opts) s->opts = *opts;
    s->opts.cert_san = NULL; /* only needed while the certificate is made, below */
    s->listen_fd = -1;
    s->wake[0] = s->wake[1] = -1;
    for (int i = 0; i < MAX_CONNS; i++) s->conns[i].fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->records = calloc(MAX_RECORDS, sizeof *s->records);
    if (!s->records || pipe(s->wake) != 0) goto fail;
    if (s->opts.tls) {
        s->opts.cert_san = opts->cert_san;
        bool ok = lx_fake_tls_init(s);
        s->opts.cert_san = NULL;
        if (!ok) goto fail;
    }
    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0) goto fail;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t al = sizeof a;
    if (bind(s->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->listen_fd, 16) != 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&a, &al) != 0)
        goto fail;
    s->port = ntohs(a.sin_port);
    if (pthread_create(&s->thread, NULL, server_main, s) != 0) goto fail;
    return s;
fail:
    perror("fake server");
    if (s->listen_fd >= 0) close(s->listen_fd);
    if (s->wake[0] >= 0) close(s->wake[0]);
    if (s->wake[1] >= 0) close(s->wake[1]);
    free(s->records);
    lx_fake_tls_free(s);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
    return NULL;
}

void lx_fake_server_stop(lx_fake_server *s) {
    if (!s) return;
    ssize_t w;
    do w = write(s->wake[1], "x", 1);
    while (w < 0 && errno == EINTR);
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
    close(s->wake[0]);
    close(s->wake[1]);
    for (int i = 0; i < s->n_script; i++) {
        free(s->script[i].method);
        free(s->script[i].path_prefix);
        free(s->script[i].headers);
        free(s->script[i].body);
    }
    for (int i = 0; i < MAX_RECORDS; i++) free(s->records[i].body);
    free(s->records);
    lx_fake_tls_free(s);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

int lx_fake_server_port(const lx_fake_server *s) { return s->port; }

const char *lx_fake_server_ca_file(const lx_fake_server *s) { return s->opts.tls ? s->ca_file : NULL; }

void lx_fake_server_url(const lx_fake_server *s, const char *suffix, char *buf, size_t size) {
    /* A proxy's own URL is plain http even when CONNECT leads to TLS. */
    const char *scheme = s->opts.tls && !s->opts.proxy ? "https" : "http";
    snprintf(buf, size, "%s://127.0.0.1:%d%s", scheme, s->port, suffix ? suffix : "");
}

bool lx_fake_server_push(lx_fake_server *s, const lx_fake_response *r) {
    entry e;
    memset(&e, 0, sizeof e);
    e.r = *r;
    size_t len = r->body_len;
    if (r->body) {
        if (!len) len = strlen(r->body);
        e.body = malloc(len + 1);
        if (e.body) {
            memcpy(e.body, r->body, len);
            e.body[len] = '\0';
        }
    } else if (r->body_file) {
        e.body = lx_fake_read_file(r->body_file, &len);
        if (!e.body) fprintf(stderr, "fake server: cannot read %s\n", r->body_file);
    } else {
        len = 0;
        e.body = calloc(1, 1);
    }
    e.r.body_len = len;
    e.method = dup_or_null(r->method);
    e.path_prefix = dup_or_null(r->path_prefix);
    e.headers = dup_or_null(r->headers);
    bool ok = e.body && (!r->method || e.method) && (!r->path_prefix || e.path_prefix) && (!r->headers || e.headers);
    pthread_mutex_lock(&s->mu);
    ok = ok && s->n_script < MAX_SCRIPT;
    if (ok) s->script[s->n_script++] = e;
    pthread_mutex_unlock(&s->mu);
    if (!ok) {
        free(e.body);
        free(e.method);
        free(e.path_prefix);
        free(e.headers);
    }
    return ok;
}

static int counter(lx_fake_server *s, const int *field) {
    pthread_mutex_lock(&s->mu);
    int v = *field;
    pthread_mutex_unlock(&s->mu);
    return v;
}

int lx_fake_server_connections(lx_fake_server *s) { return counter(s, &s->n_connections); }
int lx_fake_server_requests(lx_fake_server *s) { return counter(s, &s->n_requests); }
int lx_fake_server_mismatches(lx_fake_server *s) { return counter(s, &s->n_mismatches); }
int lx_fake_server_closed(lx_fake_server *s) { return counter(s, &s->n_closed); }
int lx_fake_server_tls_failures(lx_fake_server *s) { return counter(s, &s->n_tls_failures); }
int lx_fake_server_h2_streams(lx_fake_server *s) { return counter(s, &s->n_h2_streams); }
int lx_fake_server_h2_max_concurrent(lx_fake_server *s) { return counter(s, &s->h2_max_concurrent); }

bool lx_fake_server_request(lx_fake_server *s, int i, lx_fake_request *out) {
    pthread_mutex_lock(&s->mu);
    bool ok = i >= 0 && i < s->n_requests && i < MAX_RECORDS;
    if (ok) {
        *out = s->records[i];
        out->body = malloc(out->body_len + 1);
        if (out->body) {
            memcpy(out->body, s->records[i].body ? s->records[i].body : "", out->body_len);
            out->body[out->body_len] = '\0';
        } else {
            ok = false;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

bool lx_fake_server_wait_closed(lx_fake_server *s, int n, int timeout_ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    while (s->n_closed < n) {
        if (pthread_cond_timedwait(&s->cv, &s->mu, &until) != 0) break;
    }
    bool ok = s->n_closed >= n;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

int lx_fake_closed_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    int port = -1;
    /* Bound, never listening, then released: nothing listens there (a port another process
     * grabs in between is the only, unlikely, way this fails). */
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}
