/* Asynchronous executions (llmux_submit): a thousand concurrent remote executions on one runtime
 * all complete correctly, callbacks run on the runtime's loop thread (one thread for all of them),
 * local executions queue on the model's engine thread, a freed execution is cancelled and calls
 * nothing afterwards, and waiting from a loop callback is refused instead of deadlocking.
 *
 * The upstream here is a libevent HTTP server in the test (thousands of connections at once, which
 * the scripted fake server is not built for), answering every request with the same SSE stream. */
#define _DEFAULT_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llmux.h"
#include "ev_upstream.h"

#define N_EXEC 1000
#define MODEL_DIR LLMUX_SOURCE_DIR "/models"
#define MODEL MODEL_DIR "/llmux-fortunes.gguf"

typedef ev_upstream upstream;

static void upstream_start(upstream *u) {
    ev_upstream_start(u, 200, "text/event-stream", "tests/data/fake/openai/stream_text.sse");
}

static void upstream_stop(upstream *u) { ev_upstream_stop(u); }

static llmux_runtime *runtime_for(upstream *u, char *url, size_t url_size, llmux_provider_params *p) {
    ev_upstream_url(u, url, url_size);
    *p = (llmux_provider_params){.name = "up", .protocol = "openai", .base_url = url, .api_key = "k"};
    llmux_runtime_params rp = llmux_runtime_default_params();
    rp.providers = p;
    rp.n_providers = 1;
    const char *dirs[] = {MODEL_DIR};
    rp.model_dirs = dirs;
    rp.n_model_dirs = 1;
    rp.n_threads = 2;
    rp.n_ctx = 256;
    llmux_runtime *rt = NULL;
    assert_int_equal(llmux_runtime_create(&rp, &rt, NULL), LLMUX_OK);
    return rt;
}

static const llmux_part k_hi = {.type = LLMUX_PART_TEXT, .text = "Hi"};
static const llmux_message k_msg = {.role = LLMUX_ROLE_USER, .parts = &k_hi, .n_parts = 1};

static llmux_request request(const char *model) {
    llmux_request req = llmux_request_default();
    req.model = model;
    req.messages = &k_msg;
    req.n_messages = 1;
    req.stream = true;
    return req;
}

/* ---------------------------------------------------------------- counters */

typedef struct counters {
    atomic_int events;
    atomic_int terminals;
    atomic_int done;
    atomic_int bad_thread;
    pthread_mutex_t mu;
    pthread_t loop;          /* the first callback's thread */
    bool have_loop;
} counters;

static void check_thread(counters *c) {
    pthread_mutex_lock(&c->mu);
    if (!c->have_loop) {
        c->loop = pthread_self();
        c->have_loop = true;
    } else if (!pthread_equal(c->loop, pthread_self())) {
        atomic_fetch_add(&c->bad_thread, 1);
    }
    pthread_mutex_unlock(&c->mu);
}

static bool count_event(const llmux_event *ev, void *ud) {
    counters *c = ud;
    check_thread(c);
    atomic_fetch_add(&c->events, 1);
    if (ev->type == LLMUX_EVENT_FINISH || ev->type == LLMUX_EVENT_ERROR) atomic_fetch_add(&c->terminals, 1);
    return true;
}

static void count_done(llmux_execution *ex, void *ud) {
    counters *c = ud;
    check_thread(c);
    /* Waiting here would deadlock the loop: it is refused. */
    llmux_response *r = (llmux_response *)(uintptr_t)1;
    llmux_error_info err;
    if (llmux_execution_wait(ex, &r, &err) != LLMUX_E_INVALID_REQUEST || r != NULL) atomic_fetch_add(&c->bad_thread, 1);
    atomic_fetch_add(&c->done, 1);
}

static void test_thousand_concurrent(void **state) {
    (void)state;
    upstream u;
    upstream_start(&u);
    char url[128];
    llmux_provider_params p;
    llmux_runtime *rt = runtime_for(&u, url, sizeof url, &p);
    counters c = {.have_loop = false};
    pthread_mutex_init(&c.mu, NULL);
    llmux_execution **ex = calloc(N_EXEC, sizeof *ex);
    assert_non_null(ex);
    llmux_submit_params sp = llmux_submit_default_params();
    sp.on_event = count_event;
    sp.on_done = count_done;
    sp.user_data = &c;
    for (int i = 0; i < N_EXEC; i++) {
        llmux_request req = request("up/m");
        llmux_error_info err;
        assert_int_equal(llmux_submit(rt, &req, &sp, &ex[i], &err), LLMUX_OK);
    }
    for (int i = 0; i < N_EXEC; i++) {
        llmux_response *r = NULL;
        llmux_error_info err;
        llmux_status st = llmux_execution_wait(ex[i], &r, &err);
        if (st != LLMUX_OK) fprintf(stderr, "execution %d: %s\n", i, err.message);
        assert_int_equal(st, LLMUX_OK);
        assert_string_equal(llmux_response_text(r), "Hello, world!");
        assert_int_equal(r->finish_reason, LLMUX_FINISH_STOP);
        assert_true(llmux_execution_done(ex[i]));
        llmux_response_free(r);
        llmux_execution_free(ex[i]);
    }
    assert_int_equal(atomic_load(&c.done), N_EXEC);
    assert_int_equal(atomic_load(&c.terminals), N_EXEC);
    assert_true(atomic_load(&c.events) >= N_EXEC * 4); /* start, deltas, usage, finish */
    assert_int_equal(atomic_load(&c.bad_thread), 0);
    assert_int_equal(atomic_load(&u.requests), N_EXEC);
    free(ex);
    llmux_runtime_destroy(rt);
    pthread_mutex_destroy(&c.mu);
    upstream_stop(&u);
}

static void test_local_submissions_queue(void **state) {
    (void)state;
    upstream u;
    upstream_start(&u);
    char url[128];
    llmux_provider_params p;
    llmux_runtime *rt = runtime_for(&u, url, sizeof url, &p);
    counters c = {.have_loop = false};
    pthread_mutex_init(&c.mu, NULL);
    llmux_submit_params sp = llmux_submit_default_params();
    sp.on_event = count_event;
    sp.on_done = count_done;
    sp.user_data = &c;
    llmux_execution *ex[3];
    for (int i = 0; i < 3; i++) {
        llmux_request req = request(MODEL);
        req.sampling.max_tokens = 4;
        req.sampling.temperature = 0;
        assert_int_equal(llmux_submit(rt, &req, &sp, &ex[i], NULL), LLMUX_OK);
    }
    char first[256] = "";
    for (int i = 0; i < 3; i++) {
        llmux_response *r = NULL;
        assert_int_equal(llmux_execution_wait(ex[i], &r, NULL), LLMUX_OK);
        assert_true(r->usage.output_tokens > 0);
        /* Greedy and the same prompt: the queued runs agree with each other. */
        if (i == 0) snprintf(first, sizeof first, "%s", llmux_response_text(r));
        else assert_string_equal(llmux_response_text(r), first);
        llmux_response_free(r);
        llmux_execution_free(ex[i]);
    }
    assert_int_equal(atomic_load(&c.done), 3);
    assert_int_equal(atomic_load(&c.bad_thread), 0);
    llmux_runtime_destroy(rt);
    pthread_mutex_destroy(&c.mu);
    upstream_stop(&u);
}

static atomic_int g_after_free;

static bool note_after_free(const llmux_event *ev, void *ud) {
    (void)ev;
    if (atomic_load((atomic_int *)ud)) atomic_fetch_add(&g_after_free, 1);
    return true;
}

static void test_free_running_execution(void **state) {
    (void)state;
    upstream u;
    upstream_start(&u);
    char url[128];
    llmux_provider_params p;
    llmux_runtime *rt = runtime_for(&u, url, sizeof url, &p);
    atomic_int freed = 0;
    llmux_submit_params sp = llmux_submit_default_params();
    sp.on_event = note_after_free;
    sp.user_data = &freed;
    /* A long local generation, freed while it runs: it is cancelled and calls nothing more. */
    llmux_request req = request(MODEL);
    req.sampling.max_tokens = 200;
    llmux_execution *ex = NULL;
    assert_int_equal(llmux_submit(rt, &req, &sp, &ex, NULL), LLMUX_OK);
    atomic_store(&freed, 1);
    llmux_execution_free(ex);
    /* The model stays usable: a blocking run after it completes (queued behind the cancelled one). */
    llmux_request r2 = request(MODEL);
    r2.sampling.max_tokens = 2;
    llmux_response *resp = NULL;
    assert_int_equal(llmux_run(rt, &r2, NULL, &resp, NULL), LLMUX_OK);
    llmux_response_free(resp);
    assert_int_equal(atomic_load(&g_after_free), 0);
    llmux_runtime_destroy(rt);
    upstream_stop(&u);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thousand_concurrent),
        cmocka_unit_test(test_local_submissions_queue),
        cmocka_unit_test(test_free_running_execution),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
