/* The fixture of the executor's tests: OpenAI-compatible providers "a" and "b", each on its own
 * fake server (tests/support/fake_server.h), the alias "duo" = [a/m, b/m], and the bundled
 * model's directory. Header-only (the runtime tests link the runtime); include after <cmocka.h>. */
#ifndef LX_TEST_TWO_PROVIDERS_H
#define LX_TEST_TWO_PROVIDERS_H

#include <string.h>

#include "llmux.h"
#include "support/fake_server.h"

typedef struct two_opts {
    int32_t attempts;          /* the alias's retry attempts (0 = its default) */
    int32_t cooldown_failures; /* 0 = the runtime's default */
    int64_t cooldown_ms;
    const char *records;       /* NULL = no records */
} two_opts;

typedef struct two {
    lx_fake_server *sa, *sb;
    char ua[256], ub[256];
    llmux_provider_params p[2];
    llmux_alias_target targets[2];
    llmux_alias alias;
    llmux_runtime *rt;
} two;

static inline void two_start_opts(two *f, const two_opts *o) {
    memset(f, 0, sizeof *f);
    f->sa = lx_fake_server_start();
    f->sb = lx_fake_server_start();
    assert_non_null(f->sa);
    assert_non_null(f->sb);
    lx_fake_server_url(f->sa, "/v1", f->ua, sizeof f->ua);
    lx_fake_server_url(f->sb, "/v1", f->ub, sizeof f->ub);
    f->p[0] = (llmux_provider_params){.name = "a", .protocol = "openai", .base_url = f->ua, .api_key = "k"};
    f->p[1] = (llmux_provider_params){.name = "b", .protocol = "openai", .base_url = f->ub, .api_key = "k"};
    f->targets[0] = (llmux_alias_target){.model = "a/m"};
    f->targets[1] = (llmux_alias_target){.model = "b/m"};
    /* Backoffs of 1 ms: a test measures Retry-After, never the configured backoff. */
    f->alias = (llmux_alias){.name = "duo", .targets = f->targets, .n_targets = 2,
                             .retry = {.attempts = o->attempts, .backoff_ms = 1, .max_backoff_ms = 1}};
    llmux_runtime_params rp = llmux_runtime_default_params();
    rp.providers = f->p;
    rp.n_providers = 2;
    rp.aliases = &f->alias;
    rp.n_aliases = 1;
    rp.cooldown_failures = o->cooldown_failures;
    rp.cooldown_ms = o->cooldown_ms;
    rp.records = o->records;
    const char *dirs[] = {LLMUX_SOURCE_DIR "/models"};
    rp.model_dirs = dirs;
    rp.n_model_dirs = 1;
    rp.n_threads = 2;
    rp.n_ctx = 256;
    llmux_error_info err;
    llmux_status st = llmux_runtime_create(&rp, &f->rt, &err);
    if (st != LLMUX_OK) print_message("runtime: %s\n", err.message);
    assert_int_equal(st, LLMUX_OK);
}

static inline void two_start(two *f) {
    two_opts o = {0};
    two_start_opts(f, &o);
}

static inline void two_stop(two *f) {
    llmux_runtime_destroy(f->rt);
    lx_fake_server_stop(f->sa);
    lx_fake_server_stop(f->sb);
}

#endif
