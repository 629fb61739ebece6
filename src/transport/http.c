/* HTTP client on libcurl's multi interface: request setup and result mapping. The transfers run
 * on the client's event loop (http_loop.c); see http.h for the design. */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include "transport/http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "transport/http_loop.h"
#include "transport/redact.h"

#define DEFAULT_MAX_IDLE 4
/* CURLOPT_BUFFERSIZE (see xfer_prepare): libcurl's minimum (CURLOPT_BUFFERSIZE(3): "The minimum
 * buffer size allowed to be set is 1024"). */
#define LX_HTTP_RECV_BUFFER 1024
#define NS_PER_MS 1000000

/* Easy handles kept for reuse (lx_http_client.spare): about the transfers a busy server has in
 * flight at once; each is ~6.5 KiB. */
#define LX_HTTP_SPARE_EASY 64

struct lx_http_client {
    lx_http_loop *loop;         /* the thread and multi handle every transfer runs on */
    CURLSH *share;              /* DNS cache and TLS sessions, shared by every easy handle */
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    char *user_agent;
    /* Easy handles of finished transfers, reset and kept for the next ones (easy_take/give):
     * creating and freeing one per request (a 5 KiB calloc, libcurl's set-up and teardown, and
     * the malloc_consolidate the large free triggers) was ~4% of a proxied request's CPU
     * (docs/benchmarks.md, Gateway, fifth pass). At most LX_HTTP_SPARE_EASY, so a burst leaves
     * no more than that behind. */
    pthread_mutex_t spare_mu;
    CURL *spare[LX_HTTP_SPARE_EASY];
    size_t n_spare;
};

/* ------------------------------------------------------------ global init */

static pthread_once_t g_init_once = PTHREAD_ONCE_INIT;
static CURLcode g_init_result = CURLE_FAILED_INIT;

static void global_init(void) { g_init_result = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* ----------------------------------------------------------------- client */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud) {
    (void)h;
    (void)access;
    lx_http_client *c = ud;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST) pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud) {
    (void)h;
    lx_http_client *c = ud;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST) pthread_mutex_unlock(&c->share_locks[data]);
}

lx_http_client_params lx_http_client_default_params(void) {
    lx_http_client_params p = {.max_idle = DEFAULT_MAX_IDLE, .user_agent = NULL};
    return p;
}

llmux_status lx_http_client_create(const lx_http_client_params *params, lx_http_client **out, llmux_error_info *err) {
    if (!out) return lx_error(err, LLMUX_E_INTERNAL, "http: client_create without out");
    *out = NULL;
    pthread_once(&g_init_once, global_init);
    if (g_init_result != CURLE_OK) return lx_error(err, LLMUX_E_INTERNAL, "http: libcurl failed to initialise");
    lx_http_client_params p = params ? *params : lx_http_client_default_params();
    lx_http_client *c = calloc(1, sizeof *c);
    if (!c) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "http: out of memory");
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_init(&c->share_locks[i], NULL);
    pthread_mutex_init(&c->spare_mu, NULL);
    c->user_agent = strdup(p.user_agent ? p.user_agent : "llmux/" LLMUX_VERSION_STRING);
    c->share = curl_share_init();
    if (!c->user_agent || !c->share) goto oom;
    if (curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_USERDATA, c) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
        lx_http_client_destroy(c);
        return lx_error(err, LLMUX_E_INTERNAL, "http: libcurl share setup failed");
    }
    c->loop = lx_http_loop_create();
    if (!c->loop) {
        lx_http_client_destroy(c);
        return lx_error(err, LLMUX_E_INTERNAL, "http: the event loop could not start");
    }
    *out = c;
    return LLMUX_OK;
oom:
    lx_http_client_destroy(c);
    return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "http: out of memory");
}

void lx_http_client_destroy(lx_http_client *c) {
    if (!c) return;
    /* Ends running requests (CANCELLED) and waits for their callers to have released their easy
     * handles: then nothing uses the share. */
    lx_http_loop_destroy(c->loop);
    /* The kept handles hold the share: freed first (curl_share_cleanup refuses a share in use). */
    for (size_t i = 0; i < c->n_spare; i++) curl_easy_cleanup(c->spare[i]);
    pthread_mutex_destroy(&c->spare_mu);
    if (c->share) curl_share_cleanup(c->share);
    free(c->user_agent);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_destroy(&c->share_locks[i]);
    free(c);
}

/* --------------------------------------------------------------- request */

lx_http_request lx_http_request_default(void) {
    lx_http_request r;
    memset(&r, 0, sizeof r);
    r.method = "GET";
    return r;
}

bool lx_http_content_type_ok(const char *content_type, const char *accept) {
    if (!accept || !*accept || !content_type) return true;
    /* The media type without parameters or blanks ("text/event-stream; charset=utf-8"). */
    const char *ct = content_type;
    while (*ct == ' ' || *ct == '\t') ct++;
    size_t n = strcspn(ct, "; \t");
    if (n == 0) return true;
    for (const char *a = accept; *a;) {
        while (*a == ' ') a++;
        size_t m = strcspn(a, ", ");
        if (m == n && strncasecmp(a, ct, n) == 0) return true;
        a += m;
        while (*a == ',' || *a == ' ') a++;
    }
    return false;
}

void lx_http_response_free(lx_http_response *r) {
    if (!r) return;
    free(r->error_body);
    r->error_body = NULL;
    r->error_body_len = 0;
    lx_buf_free(&r->kept_headers);
    r->kept_headers_dropped = 0;
    free(r->location);
    r->location = NULL;
}

typedef struct xfer {
    const lx_http_request *req;
    lx_http_response *resp;
    /* Where failures are described: the caller's (lx_http_request_run), or for a started transfer
     * (lazy_err) allocated by xerr when something fails, since every transfer in flight would
     * otherwise hold 1.2 KiB of error details it almost never needs. */
    llmux_error_info *err;
    bool lazy_err;
    CURL *easy;
    size_t max_error_body;
    lx_buf error_body;
    char retry_after_ms[32];
    bool headers_done;     /* the final response's headers are complete */
    bool got_first_byte;
    int64_t last_byte_ns;
    bool cb_failed;        /* a callback asked to abort: cb_status + err hold why */
    llmux_status cb_status;
    bool oom;
    size_t header_bytes;   /* of the current response's header block (LX_HTTP_MAX_HEADER_BYTES) */
    uint64_t progress;     /* the last value of req->progress */
    bool progressed;       /* it changed at least once */
    /* For the loop thread's tick. */
    int64_t start, deadline, sent_ns; /* sent_ns: when the connection was ready and the request went out */
    /* Owned by the transfer from xfer_prepare to xfer_release. */
    lx_http_client *client;
    struct curl_slist *headers;
    /* Copies of the secret header values, for scrubbing libcurl's messages at the end: the
     * caller's headers need only live until the transfer is set up (lx_http_request_start), so
     * an in-flight transfer keeps these few bytes instead of the caller's header table. NULL
     * when no header is secret; wiped before being freed. */
    char **secrets;
    size_t n_secrets;
    char errbuf[CURL_ERROR_SIZE];
    bool entered;          /* counted as a user of the client's loop */
} xfer;

static bool is_2xx(int status) { return status >= 200 && status < 300; }

/* x's error details, allocated on first use for a started transfer (see xfer.err); NULL when out
 * of memory (lx_error accepts NULL: the status still tells what happened). */
static llmux_error_info *xerr(xfer *x) {
    if (!x->err && x->lazy_err) {
        x->err = malloc(sizeof *x->err);
        lx_error_clear(x->err);
    }
    return x->err;
}

/* Copies a callback's error details into x's (only when it failed: the copy is 1.2 KiB). */
static void keep_cb_error(xfer *x, const llmux_error_info *e) {
    llmux_error_info *dst = xerr(x);
    if (dst) *dst = *e;
}

/* Copies a header value with surrounding blanks and the line break removed. */
static void copy_value(char *dst, size_t dst_size, const char *v, size_t n) {
    while (n && (*v == ' ' || *v == '\t')) v++, n--;
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
    if (n >= dst_size) n = dst_size - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static bool header_is(const char *line, size_t n, const char *name, const char **value, size_t *vlen) {
    size_t k = strlen(name);
    if (n <= k || line[k] != ':' || strncasecmp(line, name, k) != 0) return false;
    *value = line + k + 1;
    *vlen = n - k - 1;
    return true;
}

static bool has_prefix_ci(const char *s, size_t n, const char *prefix) {
    size_t k = strlen(prefix);
    return n >= k && strncasecmp(s, prefix, k) == 0;
}

/* Keeps the line in resp->kept_headers when its name starts with one of the request's
 * keep_header_prefixes (see lx_http_response.kept_headers for the form and the bounds). False
 * only when out of memory. */
static bool keep_header(xfer *x, const char *line, size_t n) {
    const char *const *prefix = x->req->keep_header_prefixes;
    if (!prefix) return true;
    const char *colon = memchr(line, ':', n);
    if (!colon || colon == line) return true;
    size_t nl = (size_t)(colon - line);
    bool wanted = false;
    for (; *prefix && !wanted; prefix++) wanted = has_prefix_ci(line, nl, *prefix);
    if (!wanted) return true;
    const char *v = colon + 1;
    size_t vl = n - nl - 1;
    while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
    lx_http_response *r = x->resp;
    lx_buf *b = &r->kept_headers;
    size_t need = nl + 2 + vl + 1; /* "name: value\n" */
    bool clean = true;
    for (size_t i = 0; i < nl && clean; i++) clean = (unsigned char)line[i] > 32 && (unsigned char)line[i] != 127;
    for (size_t i = 0; i < vl && clean; i++)
        clean = v[i] == '\t' || ((unsigned char)v[i] >= 32 && (unsigned char)v[i] != 127);
    if (!clean || need > LX_HTTP_KEPT_LINE_MAX || need > LX_HTTP_KEPT_HEADERS_MAX - b->len) {
        r->kept_headers_dropped++; /* whole lines only: a cut value would lie */
        return true;
    }
    if (!b->max) lx_buf_init(b, LX_HTTP_KEPT_HEADERS_MAX); /* the response was zeroed: first use */
    return lx_buf_printf(b, "%.*s: %.*s\n", (int)nl, line, (int)vl, v);
}

static size_t on_header(char *line, size_t size, size_t nitems, void *ud) {
    xfer *x = ud;
    size_t n = size * nitems;
    int64_t now = lx_now_ns();
    x->got_first_byte = true;
    x->last_byte_ns = now;
    lx_http_response *r = x->resp;
    x->header_bytes += n;
    if (x->header_bytes > LX_HTTP_MAX_HEADER_BYTES) {
        x->cb_failed = true;
        x->cb_status = lx_error(xerr(x), LLMUX_E_UPSTREAM_PROTOCOL, "http: response header too large (over %u bytes)",
                                LX_HTTP_MAX_HEADER_BYTES);
        return 0;
    }
    if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        /* A new response begins (after a 1xx, or the first one): forget the previous headers. */
        const char *sp = memchr(line, ' ', n);
        int status = 0;
        if (sp) {
            for (const char *p = sp + 1; p < line + n && *p >= '0' && *p <= '9' && status < 1000; p++)
                status = status * 10 + (*p - '0');
        }
        r->status = status;
        x->header_bytes = n;
        free(r->location);
        r->location = NULL;
        r->content_type[0] = '\0';
        r->retry_after[0] = '\0';
        lx_buf_reset(&r->kept_headers);
        r->kept_headers_dropped = 0;
        x->retry_after_ms[0] = '\0';
        x->headers_done = false;
        return n;
    }
    if (n <= 2 && (n == 0 || line[0] == '\r' || line[0] == '\n')) {
        if (r->status >= 200 && !x->headers_done) {
            x->headers_done = true;
            long ver = 0;
            if (curl_easy_getinfo(x->easy, CURLINFO_HTTP_VERSION, &ver) == CURLE_OK) {
                r->http_version = ver == CURL_HTTP_VERSION_2_0 ? 2 : ver == CURL_HTTP_VERSION_1_1 ? 11
                                  : ver == CURL_HTTP_VERSION_1_0 ? 10 : 0;
            }
            if (!r->retry_after[0] && x->retry_after_ms[0]) {
                char *end = NULL;
                double ms = strtod(x->retry_after_ms, &end);
                if (end != x->retry_after_ms && *end == '\0' && ms >= 0 && ms < 1e12)
                    snprintf(r->retry_after, sizeof r->retry_after, "%.3f", ms / 1000.0);
            }
            if (is_2xx(r->status) && !lx_http_content_type_ok(r->content_type, x->req->accept_types)) {
                /* An HTML error page or login portal answering 200: decoding it as the expected
                 * stream would only report a truncated stream. */
                x->cb_failed = true;
                x->cb_status = lx_error(xerr(x), LLMUX_E_UPSTREAM_PROTOCOL,
                                        "http: unexpected content type \"%.100s\" (expected %.100s)", r->content_type,
                                        x->req->accept_types);
                return 0;
            }
            if (x->req->on_headers) {
                llmux_error_info e;
                lx_error_clear(&e);
                llmux_status st = x->req->on_headers(x->req->user_data, r, &e);
                if (st != LLMUX_OK) {
                    keep_cb_error(x, &e);
                    x->cb_failed = true;
                    x->cb_status = st;
                    return 0;
                }
            }
        }
        return n;
    }
    const char *v;
    size_t vlen;
    if (header_is(line, n, "content-type", &v, &vlen)) copy_value(r->content_type, sizeof r->content_type, v, vlen);
    else if (header_is(line, n, "location", &v, &vlen)) {
        char *loc = r->location ? r->location : malloc(LX_HTTP_LOCATION_MAX);
        if (!loc) {
            x->oom = true;
            return 0;
        }
        r->location = loc;
        copy_value(loc, LX_HTTP_LOCATION_MAX, v, vlen);
    }
    else if (header_is(line, n, "retry-after", &v, &vlen)) copy_value(r->retry_after, sizeof r->retry_after, v, vlen);
    else if (header_is(line, n, "retry-after-ms", &v, &vlen))
        copy_value(x->retry_after_ms, sizeof x->retry_after_ms, v, vlen);
    if (!keep_header(x, line, n)) {
        x->oom = true;
        return 0;
    }
    return n;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud) {
    xfer *x = ud;
    size_t n = size * nmemb;
    x->got_first_byte = true;
    x->resp->body_bytes += n;
    if (is_2xx(x->resp->status)) {
        const lx_http_request *req = x->req;
        if (!req->on_data || !req->progress) x->last_byte_ns = lx_now_ns();
        if (!req->on_data || n == 0) return n;
        /* On this stack for the call: copied into the transfer only when the callback failed. */
        llmux_error_info e;
        e.status = LLMUX_OK;
        e.message[0] = '\0';
        llmux_status st = req->on_data(req->user_data, data, n, &e);
        if (st != LLMUX_OK) {
            keep_cb_error(x, &e);
            x->cb_failed = true;
            x->cb_status = st;
            return 0;
        }
        if (req->progress) {
            /* Only decoded progress restarts the idle timer (see lx_http_progress_cb). */
            uint64_t p = req->progress(req->user_data);
            if (p != x->progress) {
                x->progress = p;
                x->progressed = true;
                x->last_byte_ns = lx_now_ns();
            }
        }
        return n;
    }
    x->last_byte_ns = lx_now_ns();
    size_t room = x->max_error_body - x->error_body.len;
    size_t take = n < room ? n : room;
    if (take && !lx_buf_append(&x->error_body, data, take)) {
        x->oom = true;
        return 0;
    }
    if (take < n) {
        /* Past the cap: stop reading; what was kept is enough to map the error. */
        x->resp->error_body_truncated = true;
        return 0;
    }
    return n;
}

/* Replaces each whole-token occurrence (transport/redact.h: a short key must not rewrite words)
 * of a secret header value in msg with "[redacted]". An "Authorization: Bearer <key>" value is
 * also searched for without its scheme, since a message would quote the bare key. */
static void scrub_one(char *msg, size_t size, const char *s) {
    static const char mark[] = "[redacted]";
    size_t sl = strlen(s), ml = sizeof mark - 1;
    size_t at = 0;
    for (;;) {
        size_t n = strlen(msg);
        size_t i = lx_redact_find(msg, n, at, s);
        if (i == (size_t)-1) break;
        size_t tail = n - i - sl;
        if (i + ml + tail + 1 > size) {
            msg[i] = '\0'; /* no room: cut the message at the secret */
            break;
        }
        memmove(msg + i + ml, msg + i + sl, tail + 1);
        memcpy(msg + i, mark, ml);
        at = i + ml;
    }
}

static void scrub(char *msg, size_t size, const xfer *x) {
    for (size_t i = 0; i < x->n_secrets; i++) {
        const char *s = x->secrets[i];
        scrub_one(msg, size, s);
        if (strncasecmp(s, "Bearer ", 7) == 0 && s[7]) scrub_one(msg, size, s + 7);
    }
}

static void free_secrets(xfer *x) {
    for (size_t i = 0; i < x->n_secrets; i++) {
        explicit_bzero(x->secrets[i], strlen(x->secrets[i]));
        free(x->secrets[i]);
    }
    free(x->secrets);
    x->secrets = NULL;
    x->n_secrets = 0;
}

/* Copies the non-empty secret header values into x (for scrub). False when out of memory. */
static bool copy_secrets(xfer *x, const lx_http_request *req) {
    size_t n = 0;
    for (size_t i = 0; i < req->n_headers; i++)
        if (req->headers[i].secret && req->headers[i].value && *req->headers[i].value) n++;
    if (!n) return true;
    if (!(x->secrets = calloc(n, sizeof *x->secrets))) return false;
    for (size_t i = 0; i < req->n_headers; i++) {
        const char *v = req->headers[i].value;
        if (!req->headers[i].secret || !v || !*v) continue;
        size_t len = strlen(v) + 1;
        char *c = malloc(len);
        if (!c) return false; /* xfer_release frees those copied so far */
        memcpy(c, v, len);
        x->secrets[x->n_secrets++] = c;
    }
    return true;
}

static bool valid_header(const lx_http_header *h) {
    if (!h->name || !*h->name || !h->value) return false;
    for (const char *p = h->name; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= 32 || ch >= 127 || ch == ':') return false;
    }
    for (const char *p = h->value; *p; p++)
        if (*p == '\r' || *p == '\n') return false;
    return true;
}

static void free_headers(struct curl_slist *list) {
    /* The list holds credentials: wipe every line before it goes back to the allocator. */
    for (struct curl_slist *l = list; l; l = l->next)
        if (l->data) explicit_bzero(l->data, strlen(l->data));
    curl_slist_free_all(list);
}

static llmux_status build_headers(const lx_http_request *req, struct curl_slist **out, llmux_error_info *err) {
    struct curl_slist *list = NULL;
    for (size_t i = 0; i < req->n_headers; i++) {
        const lx_http_header *h = &req->headers[i];
        if (!valid_header(h)) {
            free_headers(list);
            /* Name the header, never its value (it may be a credential). */
            return lx_error(err, LLMUX_E_CONFIGURATION, "http: header %zu (%.64s) has an invalid name or a line break",
                            i, h->name && !h->secret ? h->name : "?");
        }
        size_t n = strlen(h->name) + strlen(h->value) + 3;
        char *line = malloc(n);
        if (!line) {
            free_headers(list);
            return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "http: out of memory");
        }
        /* "Name;" is libcurl's spelling of a header with an empty value. */
        if (*h->value) snprintf(line, n, "%s: %s", h->name, h->value);
        else snprintf(line, n, "%s;", h->name);
        struct curl_slist *next = curl_slist_append(list, line);
        explicit_bzero(line, n);
        free(line);
        if (!next) {
            free_headers(list);
            return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "http: out of memory");
        }
        list = next;
    }
    /* No "Expect: 100-continue" round trip for large bodies: providers answer directly. */
    struct curl_slist *next = curl_slist_append(list, "Expect:");
    if (!next) {
        free_headers(list);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "http: out of memory");
    }
    *out = next;
    return LLMUX_OK;
}

static llmux_status map_curl(CURLcode rc, const char *errbuf, const xfer *x, bool connected, bool headers_done,
                             llmux_error_info *err) {
    char msg[CURL_ERROR_SIZE + 64];
    snprintf(msg, sizeof msg, "%s", errbuf && *errbuf ? errbuf : curl_easy_strerror(rc));
    scrub(msg, sizeof msg, x);
    llmux_status st;
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return lx_error(err, LLMUX_E_TIMEOUT, "http: %s (%s)", connected ? "timeout" : "connect timeout", msg);
    case CURLE_OUT_OF_MEMORY:
        /* libcurl refuses a header line past its own limit (100 KB) this way: a hostile or
         * broken server, not a lack of memory. */
        if (connected && !headers_done)
            return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL,
                            "http: response header too large (a header line past libcurl's limit)");
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "http: out of memory");
    case CURLE_UNSUPPORTED_PROTOCOL:
        /* Once the request is out, this is libcurl refusing the reply ("Received HTTP/0.9 when
         * not allowed"): the server does not speak HTTP on that port. */
        if (connected)
            return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "http: the server's reply is not HTTP (%s)", msg);
        return lx_error(err, LLMUX_E_CONFIGURATION, "http: bad URL (%s)", msg);
    case CURLE_URL_MALFORMAT:
        return lx_error(err, LLMUX_E_CONFIGURATION, "http: bad URL (%s)", msg);
    case CURLE_RECV_ERROR:
        /* libcurl reports malformed chunked framing as a receive error, "<why> in
         * chunked-encoding" (lib/http_chunks.c): the server broke HTTP, the network did not. */
        st = strstr(msg, "chunked-encoding") ? LLMUX_E_UPSTREAM_PROTOCOL : LLMUX_E_NETWORK;
        break;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_TOO_MANY_REDIRECTS:
        st = LLMUX_E_UPSTREAM_PROTOCOL;
        break;
    default: /* resolve, connect, TLS, send/recv, got nothing, partial body, HTTP/2 stream... */
        st = LLMUX_E_NETWORK;
        break;
    }
    return lx_error(err, st, "http: %s", msg);
}

static int64_t min_nonzero(int64_t a, int64_t b) { return !a ? b : !b ? a : a < b ? a : b; }

/* On the loop thread: the cancel token and the loop's timeouts (connect is libcurl's). Sets how
 * long until the next check: the poll interval while a cancel can come or the connection is not
 * ready, otherwise up to a second, shortened to the next timeout. */
static llmux_status tick(void *ud, int *next_ms) {
    xfer *x = ud;
    const lx_http_request *req = x->req;
    const lx_http_timeouts *to = &req->timeouts;
    if (llmux_cancel_is_triggered(req->cancel)) return lx_error(xerr(x), LLMUX_E_CANCELLED, "http: cancelled");
    int64_t now = lx_now_ns();
    if (!x->sent_ns) {
        curl_off_t us = 0;
        if (curl_easy_getinfo(x->easy, CURLINFO_PRETRANSFER_TIME_T, &us) == CURLE_OK && us > 0)
            x->sent_ns = x->start + us * 1000;
    }
    if (x->deadline && now >= x->deadline)
        return lx_error(xerr(x), LLMUX_E_TIMEOUT, "http: deadline reached after %lld ms",
                        (long long)((now - x->start) / NS_PER_MS));
    int64_t fb_at = 0, idle_at = 0;
    if (to->first_byte_ms > 0 && x->sent_ns && !x->got_first_byte) fb_at = x->sent_ns + to->first_byte_ms * NS_PER_MS;
    bool events = req->progress && is_2xx(x->resp->status); /* idle counts decoded progress */
    if (to->idle_ms > 0 && x->got_first_byte) {
        idle_at = x->last_byte_ns + to->idle_ms * NS_PER_MS;
        /* Before the first event the upstream is still answering (a model's time to first token
         * behind a proxy that sends keep-alives meanwhile): the first-byte budget, counted from
         * the request, applies when it is the longer one. */
        if (events && !x->progressed && to->first_byte_ms > 0 && x->sent_ns &&
            x->sent_ns + to->first_byte_ms * NS_PER_MS > idle_at)
            idle_at = x->sent_ns + to->first_byte_ms * NS_PER_MS;
    }
    if (fb_at && now >= fb_at)
        return lx_error(xerr(x), LLMUX_E_TIMEOUT, "http: first-byte timeout: no response within %lld ms",
                        (long long)to->first_byte_ms);
    if (idle_at && now >= idle_at) {
        if (events)
            return lx_error(xerr(x), LLMUX_E_TIMEOUT,
                            "http: idle timeout: no event for %lld ms (keep-alive data does not count)",
                            (long long)((now - (x->progressed ? x->last_byte_ns : x->sent_ns)) / NS_PER_MS));
        return lx_error(xerr(x), LLMUX_E_TIMEOUT, "http: idle timeout: no data for %lld ms", (long long)to->idle_ms);
    }
    int64_t wake = min_nonzero(min_nonzero(x->deadline, fb_at), idle_at);
    int64_t wait_ms = req->cancel || !x->sent_ns ? LX_HTTP_POLL_MS : 1000;
    if (wake) {
        int64_t left = (wake - now + NS_PER_MS - 1) / NS_PER_MS;
        if (left < wait_ms) wait_ms = left < 1 ? 1 : left;
    }
    *next_ms = (int)wait_ms;
    return LLMUX_OK;
}

/* Checks the request and sets up x (easy handle, headers, callbacks). On failure x holds
 * nothing that xfer_release would not free. */
/* A kept easy handle (reset to its defaults by easy_give) or a new one. */
static CURL *easy_take(lx_http_client *c) {
    CURL *e = NULL;
    pthread_mutex_lock(&c->spare_mu);
    if (c->n_spare) e = c->spare[--c->n_spare];
    pthread_mutex_unlock(&c->spare_mu);
    return e ? e : curl_easy_init();
}

/* Keeps e for the next transfer, or frees it. curl_easy_reset returns every option to its default
 * (our headers, body, error buffer and callbacks are forgotten: xfer_prepare sets them all
 * again) and keeps what libcurl keeps across reuse by design: its receive buffer, the share, the
 * DNS and connection caches (https://curl.se/libcurl/c/curl_easy_reset.html). Only a handle
 * the multi handle has let go of may come here. */
static void easy_give(lx_http_client *c, CURL *e) {
    if (!e) return;
    curl_easy_reset(e);
    pthread_mutex_lock(&c->spare_mu);
    bool kept = c->n_spare < LX_HTTP_SPARE_EASY;
    if (kept) c->spare[c->n_spare++] = e;
    pthread_mutex_unlock(&c->spare_mu);
    if (!kept) curl_easy_cleanup(e);
}

static llmux_status xfer_prepare(lx_http_client *c, const lx_http_request *req, lx_http_response *resp, xfer *x,
                                 llmux_error_info *err) {
    memset(x, 0, sizeof *x);
    if (resp) memset(resp, 0, sizeof *resp);
    if (!c || !req || !req->url || !req->method || !resp)
        return lx_error(err, LLMUX_E_INTERNAL, "http: request called with NULL");
    if (strncmp(req->url, "http://", 7) != 0 && strncmp(req->url, "https://", 8) != 0)
        return lx_error(err, LLMUX_E_CONFIGURATION, "http: only http:// and https:// URLs are supported");

    int64_t start = lx_now_ns();
    const lx_http_timeouts *to = &req->timeouts;
    int64_t deadline = min_nonzero(req->deadline_ns, to->total_ms > 0 ? start + to->total_ms * NS_PER_MS : 0);
    if (llmux_cancel_is_triggered(req->cancel)) return lx_error(err, LLMUX_E_CANCELLED, "http: cancelled");
    if (deadline && start >= deadline) return lx_error(err, LLMUX_E_TIMEOUT, "http: deadline reached before the request");
    if (!lx_http_loop_enter(c->loop)) return lx_error(err, LLMUX_E_CANCELLED, "http: cancelled (client closing)");

    x->client = c;
    x->entered = true;
    x->req = req;
    x->resp = resp;
    x->err = err;
    x->max_error_body = req->max_error_body ? req->max_error_body : LX_HTTP_ERROR_BODY_MAX;
    x->start = start;
    x->deadline = deadline;
    lx_buf_init(&x->error_body, x->max_error_body);

    llmux_status st = build_headers(req, &x->headers, err);
    if (st != LLMUX_OK) return st;
    if (!copy_secrets(x, req)) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "http: out of memory");

    CURL *e = easy_take(c);
    x->easy = e;
    if (!e) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "http: out of memory");
    bool ok = curl_easy_setopt(e, CURLOPT_URL, req->url) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_SHARE, c->share) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_HEADERDATA, x) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_WRITEDATA, x) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK;
    /* libcurl's receive buffer, one per transfer for its whole life before libcurl 8.7 (16 KiB by
     * default): the largest per-transfer allocation once a thousand streams are in flight, while
     * a streamed chunk is typically under a kilobyte. A large non-streaming body takes more,
     * smaller reads (16 MiB over loopback: ~35 ms instead of ~11 ms with 4 KiB, see
     * docs/benchmarks.md); the data itself is not copied more often. */
    ok = ok && curl_easy_setopt(e, CURLOPT_BUFFERSIZE, (long)LX_HTTP_RECV_BUFFER) == CURLE_OK;
    /* HTTP/2 when TLS negotiates it, HTTP/1.1 otherwise (a failure is tolerated: a libcurl
     * without nghttp2 still speaks HTTP/1.1). */
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
#if LIBCURL_VERSION_NUM >= 0x075500
    ok = ok && curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
#else
    ok = ok && curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) == CURLE_OK;
#endif
    /* Verification stays on: a custom bundle only changes which CAs are trusted. */
    if (req->ca_bundle && *req->ca_bundle)
        ok = ok && curl_easy_setopt(e, CURLOPT_CAINFO, req->ca_bundle) == CURLE_OK;
    if (to->connect_ms > 0) ok = ok && curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)to->connect_ms) == CURLE_OK;
    if (req->body) {
        ok = ok && curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len) == CURLE_OK;
        ok = ok && curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body) == CURLE_OK;
        if (strcmp(req->method, "POST") != 0)
            ok = ok && curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method) == CURLE_OK;
    } else if (strcmp(req->method, "GET") == 0) {
        ok = ok && curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) == CURLE_OK;
    } else {
        ok = ok && curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method) == CURLE_OK;
    }
    if (!ok) return lx_error(err, LLMUX_E_INTERNAL, "http: libcurl refused an option");
    return LLMUX_OK;
}

/* The outcome of a transfer the loop is done with (see lx_http_request_run for the classes). */
static llmux_status xfer_result(xfer *x, const lx_http_job *job) {
    lx_http_response *resp = x->resp;
    CURL *e = x->easy;
    llmux_status st;
    if (!x->sent_ns) {
        curl_off_t us = 0;
        if (curl_easy_getinfo(e, CURLINFO_PRETRANSFER_TIME_T, &us) == CURLE_OK && us > 0) x->sent_ns = x->start + us * 1000;
    }
    switch (job->end) {
    case LX_HTTP_JOB_COMPLETED:
        if (x->oom) st = lx_error(xerr(x), LLMUX_E_OUT_OF_MEMORY, "http: out of memory");
        else if (x->cb_failed) st = x->cb_status;
        else if (job->result == CURLE_OK || (job->result == CURLE_WRITE_ERROR && resp->error_body_truncated)) st = LLMUX_OK;
        else st = map_curl(job->result, x->errbuf, x, x->sent_ns != 0, x->headers_done, xerr(x));
        break;
    case LX_HTTP_JOB_ABORTED:
        st = job->aborted; /* the tick filled err */
        break;
    case LX_HTTP_JOB_SHUTDOWN:
        st = lx_error(xerr(x), LLMUX_E_CANCELLED, "http: cancelled (client closing)");
        break;
    case LX_HTTP_JOB_ADD_FAILED:
    default:
        st = lx_error(xerr(x), LLMUX_E_INTERNAL, "http: curl_multi_add_handle failed");
        break;
    }
    long nconn = 0;
    if (curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &nconn) == CURLE_OK) resp->new_connections = nconn;
    return st;
}

/* Frees what xfer_prepare set up and hands the buffered error body to the response. reuse: the
 * loop removed the easy handle from its multi handle (the transfer completed or was aborted), so
 * it may serve another transfer. */
static void xfer_release(xfer *x, bool reuse) {
    if (x->easy && reuse && x->client) easy_give(x->client, x->easy);
    else if (x->easy) curl_easy_cleanup(x->easy);
    x->easy = NULL;
    free_headers(x->headers);
    x->headers = NULL;
    free_secrets(x);
    if (x->entered) lx_http_loop_leave(x->client->loop);
    x->entered = false;
    if (x->error_body.len && x->resp) {
        x->resp->error_body_len = x->error_body.len;
        x->resp->error_body = lx_buf_steal(&x->error_body);
    }
    lx_buf_free(&x->error_body);
}

llmux_status lx_http_request_run(lx_http_client *c, const lx_http_request *req, lx_http_response *resp,
                                 llmux_error_info *err) {
    /* From a callback of another request: it would wait for the thread that runs it. */
    if (c && lx_http_loop_is_current(c->loop)) {
        if (resp) memset(resp, 0, sizeof *resp);
        return lx_error(err, LLMUX_E_INTERNAL, "http: request_run called from an HTTP callback");
    }
    xfer x;
    bool reuse = false;
    llmux_status st = xfer_prepare(c, req, resp, &x, err);
    if (st == LLMUX_OK) {
        lx_http_job job = {.easy = x.easy, .tick = tick, .ud = &x};
        if (!lx_http_loop_run(c->loop, &job)) st = lx_error(err, LLMUX_E_CANCELLED, "http: cancelled (client closing)");
        else st = xfer_result(&x, &job); /* the loop is done with the transfer: x is this thread's again */
        reuse = job.done && (job.end == LX_HTTP_JOB_COMPLETED || job.end == LX_HTTP_JOB_ABORTED);
    }
    xfer_release(&x, reuse);
    return st;
}

/* ------------------------------------------------------ asynchronous transfers */

struct lx_http_transfer {
    xfer x;                 /* x.err: allocated when the transfer fails (xerr) */
    lx_http_job job;
    lx_http_done_cb done;
    void *user_data;
};

static void transfer_end(lx_http_job *job) {
    lx_http_transfer *t = (lx_http_transfer *)(void *)((char *)job - offsetof(lx_http_transfer, job));
    llmux_status st = xfer_result(&t->x, job);
    xfer_release(&t->x, job->end == LX_HTTP_JOB_COMPLETED || job->end == LX_HTTP_JOB_ABORTED);
    llmux_error_info fallback;
    const llmux_error_info *e = t->x.err;
    if (!e) {
        /* Nothing failed, or the details could not be allocated. */
        if (st == LLMUX_OK) lx_error_clear(&fallback);
        else lx_error(&fallback, st, "http: out of memory keeping the error details");
        e = &fallback;
    }
    t->done(t->user_data, st, e);
    free(t->x.err);
    free(t);
}

llmux_status lx_http_request_start(lx_http_client *c, const lx_http_request *req, lx_http_response *resp,
                                   lx_http_done_cb done, void *user_data, llmux_error_info *err) {
    if (!done) return lx_error(err, LLMUX_E_INTERNAL, "http: request_start without a completion callback");
    lx_http_transfer *t = calloc(1, sizeof *t);
    if (!t) {
        if (resp) memset(resp, 0, sizeof *resp);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "http: out of memory");
    }
    /* The setup reports into the caller's err; from then on the transfer's own, made on failure. */
    llmux_status st = xfer_prepare(c, req, resp, &t->x, err);
    if (st == LLMUX_OK) {
        t->x.err = NULL;
        t->x.lazy_err = true;
        t->done = done;
        t->user_data = user_data;
        t->job = (lx_http_job){.easy = t->x.easy, .tick = tick, .ud = &t->x, .on_end = transfer_end};
        if (lx_http_loop_start(c->loop, &t->job)) return LLMUX_OK;
        t->x.err = err;
        t->x.lazy_err = false;
        st = lx_error(err, LLMUX_E_CANCELLED, "http: cancelled (client closing)");
    }
    xfer_release(&t->x, false);
    free(t);
    return st;
}

struct event_base *lx_http_client_base(lx_http_client *c) { return lx_http_loop_base(c->loop); }

bool lx_http_client_post(lx_http_client *c, void (*fn)(void *arg), void *arg) { return lx_http_loop_post(c->loop, fn, arg); }

bool lx_http_client_on_loop(const lx_http_client *c) { return lx_http_loop_is_current(c->loop); }
