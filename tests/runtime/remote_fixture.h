/* The fixture the runtime's remote tests share: a fake provider server and a runtime whose one
 * provider points at it with key "k". Header-only (static functions) so only the runtime tests,
 * which link the runtime, pull it in; include after <cmocka.h>. */
#ifndef LX_TEST_REMOTE_FIXTURE_H
#define LX_TEST_REMOTE_FIXTURE_H

#include <string.h>

#include "llmux.h"
#include "support/fake_server.h"

typedef struct fx {
    lx_fake_server *srv;
    llmux_runtime *rt;
    char url[256];
    llmux_provider_params p; /* what the runtime was given (tests resolve providers with it too) */
} fx;

/* Provider `name` (protocol NULL = derived from the name) at the fake server's URL + suffix;
 * first_byte_ms 0 = the runtime's default. */
static inline void fx_start(fx *f, const char *name, const char *protocol, const char *suffix, int64_t first_byte_ms) {
    memset(f, 0, sizeof *f);
    f->srv = lx_fake_server_start();
    assert_non_null(f->srv);
    lx_fake_server_url(f->srv, suffix, f->url, sizeof f->url);
    f->p = (llmux_provider_params){.name = name, .protocol = protocol, .base_url = f->url, .api_key = "k"};
    llmux_runtime_params rp = llmux_runtime_default_params();
    rp.providers = &f->p;
    rp.n_providers = 1;
    rp.first_byte_timeout_ms = first_byte_ms;
    llmux_error_info err;
    assert_int_equal(llmux_runtime_create(&rp, &f->rt, &err), LLMUX_OK);
}

static inline void fx_stop(fx *f) {
    llmux_runtime_destroy(f->rt);
    lx_fake_server_stop(f->srv);
}

/* Scripts one answer: method NULL = any, the body inline or from file (repository-relative),
 * status 0 = 200, content type ctype, the status line held back status_delay_ms. */
static inline void fx_push(fx *f, const char *method, const char *path, int status, const char *ctype,
                           const char *body, const char *file, int status_delay_ms) {
    char headers[160];
    snprintf(headers, sizeof headers, "Content-Type: %s\r\n", ctype);
    lx_fake_response r;
    memset(&r, 0, sizeof r);
    r.method = method;
    r.path_prefix = path;
    r.status = status;
    r.body = body;
    r.body_file = file;
    r.status_delay_ms = status_delay_ms;
    r.headers = headers;
    assert_true(lx_fake_server_push(f->srv, &r));
}

#endif
