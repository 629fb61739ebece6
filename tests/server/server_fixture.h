/* What the server tests share: a runtime whose "openai", "openai-responses" and "anthropic"
 * providers point at one
 * fake provider server (tests/support/fake_server.h) and whose model directory holds the bundled
 * model, an lx_server on it (ephemeral loopback port), and a libcurl client. Header-only (static
 * functions); include after <cmocka.h>. */
#ifndef LX_TEST_SERVER_FIXTURE_H
#define LX_TEST_SERVER_FIXTURE_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "llmux.h"
#include "server/http/server.h"
#include "support/fake_server.h"
#include "support/local_runtime.h"

#define SF_MODEL_DIR BUNDLED_MODEL_DIR
#define SF_LOCAL BUNDLED_MODEL_SPEC

typedef struct sf {
    lx_fake_server *up;
    llmux_runtime *rt;
    lx_server *srv;
    char url_openai[256], url_anthropic[256];
    llmux_provider_params p[3];
} sf;

/* The fake provider server started, and l filled with the runtime params every server test
 * starts from: the "openai" and "anthropic" providers on it, the bundled model's directory, 2
 * threads, a 256-token context (a test adds its own before local_rt_create). */
static inline void sf_upstream_start(sf *f, local_rt *l) {
    memset(f, 0, sizeof *f);
    signal(SIGPIPE, SIG_IGN); /* a write to a client that left is an error, not a signal */
    f->up = lx_fake_server_start();
    assert_non_null(f->up);
    lx_fake_server_url(f->up, "/v1", f->url_openai, sizeof f->url_openai);
    lx_fake_server_url(f->up, "", f->url_anthropic, sizeof f->url_anthropic);
    f->p[0] = (llmux_provider_params){.name = "openai", .base_url = f->url_openai, .api_key = "k"};
    f->p[1] = (llmux_provider_params){.name = "anthropic", .base_url = f->url_anthropic, .api_key = "k"};
    f->p[2] = (llmux_provider_params){.name = "openai-responses", .base_url = f->url_openai, .api_key = "k"};
    local_rt_init(l, SF_MODEL_DIR, 2, 256);
    l->rp.providers = f->p;
    l->rp.n_providers = 3;
}

static inline void sf_start_with(sf *f, const lx_server_params *sp_in) {
    local_rt l;
    sf_upstream_start(f, &l);
    f->rt = local_rt_create(&l);
    llmux_error_info err;
    lx_server_params sp = sp_in ? *sp_in : lx_server_default_params();
    sp.port = 0;
    const char *ids[] = {SF_LOCAL, "smart"};
    sp.models = ids;
    sp.n_models = 2;
    assert_int_equal(lx_server_start(f->rt, &sp, &f->srv, &err), LLMUX_OK);
    assert_true(lx_server_port(f->srv) > 0);
}

static inline void sf_start(sf *f) { sf_start_with(f, NULL); }

static inline void sf_stop(sf *f) {
    lx_server_stop(f->srv, 0);
    llmux_runtime_destroy(f->rt);
    lx_fake_server_stop(f->up);
}

/* Scripts one upstream answer from a fixture file. */
static inline void sf_push(sf *f, const char *path, int status, const char *ctype, const char *file,
                           const char *extra_headers, size_t chunk_size, int chunk_delay_ms) {
    char headers[256];
    snprintf(headers, sizeof headers, "Content-Type: %s\r\n%s", ctype, extra_headers ? extra_headers : "");
    lx_fake_response r;
    memset(&r, 0, sizeof r);
    r.path_prefix = path;
    r.status = status;
    r.body_file = file;
    r.headers = headers;
    r.chunk_size = chunk_size;
    r.chunk_delay_ms = chunk_delay_ms;
    assert_true(lx_fake_server_push(f->up, &r));
}

/* ------------------------------------------------------------ the client */

typedef struct sf_reply {
    long status;
    char *body;          /* NUL-terminated, malloc'd */
    size_t len;
    char headers[4096];  /* response header lines */
    size_t abort_after;  /* > 0: the client hangs up once this many body bytes arrived */
} sf_reply;

static size_t sf_body_cb(char *p, size_t size, size_t n, void *ud) {
    sf_reply *r = ud;
    size_t k = size * n;
    char *b = realloc(r->body, r->len + k + 1);
    if (!b) return 0;
    memcpy(b + r->len, p, k);
    r->body = b;
    r->len += k;
    b[r->len] = 0;
    if (r->abort_after && r->len >= r->abort_after) return 0; /* curl closes the connection */
    return k;
}

static size_t sf_header_cb(char *p, size_t size, size_t n, void *ud) {
    sf_reply *r = ud;
    size_t k = size * n, have = strlen(r->headers);
    if (have + k < sizeof r->headers) {
        memcpy(r->headers + have, p, k);
        r->headers[have + k] = 0;
    }
    return k;
}

/* method "GET", "POST" or "DELETE" (body may be NULL); extra: one more header line or NULL (a
 * /v1/messages path gets anthropic-version: 2023-06-01 unless extra names that header). Returns curl's
 * code; r is filled (free r->body). */
static inline CURLcode sf_http(const sf *f, const char *method, const char *path, const char *body, size_t body_len,
                               const char *extra, sf_reply *r) {
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", lx_server_port(f->srv), path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    /* Anthropic's routes require anthropic-version, as its SDK always sends it; an extra header
     * "anthropic-version:" (no value) sends none. */
    bool pin = strncmp(path, "/v1/messages", 12) == 0 && (!extra || strncasecmp(extra, "anthropic-version:", 18) != 0);
    if (pin) h = curl_slist_append(h, "anthropic-version: 2023-06-01");
    if (extra && strcasecmp(extra, "anthropic-version:") != 0) h = curl_slist_append(h, extra);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sf_body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, sf_header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (strcmp(method, "DELETE") == 0) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(body ? body_len : 0));
    }
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc;
}

static inline void sf_post(const sf *f, const char *path, const char *body, sf_reply *r) {
    memset(r, 0, sizeof *r);
    assert_int_equal(sf_http(f, "POST", path, body, strlen(body), NULL, r), CURLE_OK);
    assert_non_null(r->body);
}

#endif
