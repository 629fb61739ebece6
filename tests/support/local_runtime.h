/* A runtime over one directory of local models, and one greedy request on it, for tests through
 * the public API (the runtime tests that load generated or bundled models set these up alike).
 * Header-only, static inline: it calls the runtime (llmux_runtime_create, llmux_run), which
 * llmux_test_support does not link (some tests link only their own module). Include after
 * <cmocka.h>. */
#ifndef LX_TEST_LOCAL_RUNTIME_H
#define LX_TEST_LOCAL_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "llmux.h"

/* The repository's bundled model (models/llmux-fortunes.gguf) and its directory. */
#define BUNDLED_MODEL_DIR LLMUX_SOURCE_DIR "/models"
#define BUNDLED_MODEL_SPEC "local/llmux-fortunes"

/* Runtime params whose model_dirs points at dirs (kept here, so the params can be filled in one
 * function and used in another). */
typedef struct local_rt {
    const char *dirs[1];
    llmux_runtime_params rp;
} local_rt;

/* Params for a runtime that loads local models from dir only, with n_threads threads and a
 * context of n_ctx tokens; everything else at its default (callers edit l->rp further). dir is
 * borrowed: it must outlive local_rt_create. */
static inline void local_rt_init(local_rt *l, const char *dir, int32_t n_threads, int32_t n_ctx) {
    l->dirs[0] = dir;
    l->rp = llmux_runtime_default_params();
    l->rp.model_dirs = l->dirs;
    l->rp.n_model_dirs = 1;
    l->rp.n_threads = n_threads;
    l->rp.n_ctx = n_ctx;
}

/* Every log line (LLMUX_LOG_DEBUG and up) to log(..., user_data). */
static inline void local_rt_debug_log(local_rt *l, llmux_log_cb log, void *user_data) {
    l->rp.log = log;
    l->rp.log_level = LLMUX_LOG_DEBUG;
    l->rp.log_user_data = user_data;
}

/* Creates the runtime; fails the test (with the runtime's message) when it cannot. */
static inline llmux_runtime *local_rt_create(const local_rt *l) {
    llmux_runtime *rt = NULL;
    llmux_error_info err;
    llmux_status st = llmux_runtime_create(&l->rp, &rt, &err);
    if (st != LLMUX_OK) print_message("runtime: %s\n", err.message);
    assert_int_equal(st, LLMUX_OK);
    return rt;
}

/* A request of one user text message (prompt) for spec, greedy (temperature 0), max_tokens;
 * part and msg hold the message and must outlive the request. */
static inline llmux_request greedy_request(const char *spec, const char *prompt, int32_t max_tokens, llmux_part *part,
                                           llmux_message *msg) {
    *part = (llmux_part){.type = LLMUX_PART_TEXT, .text = prompt};
    *msg = (llmux_message){LLMUX_ROLE_USER, part, 1, NULL};
    llmux_request req = llmux_request_default();
    req.model = spec;
    req.messages = msg;
    req.n_messages = 1;
    req.sampling.temperature = 0;
    req.sampling.max_tokens = max_tokens;
    return req;
}

/* Runs greedy_request(spec, prompt, max_tokens) with llmux_run (run: its params, NULL = none).
 * On success the response goes to *out when out is not NULL (the caller frees it with
 * llmux_response_free), else it is freed here. */
static inline llmux_status run_greedy(llmux_runtime *rt, const char *spec, const char *prompt, int32_t max_tokens,
                                      const llmux_run_params *run, llmux_response **out, llmux_error_info *err) {
    llmux_part part;
    llmux_message msg;
    llmux_request req = greedy_request(spec, prompt, max_tokens, &part, &msg);
    llmux_response *resp = NULL;
    llmux_status st = llmux_run(rt, &req, run, &resp, err);
    if (out && st == LLMUX_OK) {
        *out = resp;
        return st;
    }
    llmux_response_free(resp);
    return st;
}

#endif
