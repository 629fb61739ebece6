/* Executions (issue 7, items 7 and 18, and the failure-before-first-event contract):
 *  - a slow event consumer stalls only its own request: an unrelated remote request completes
 *    while the first one's callback is blocked;
 *  - a callback may run another request: llmux_run from a remote request's callback, and on the
 *    same local model from that model's own callback (it used to deadlock);
 *  - llmux_runtime_destroy stops every thread the runtime started (the HTTP loop, engine threads);
 *  - a request that fails before its first event (an upstream 429) still yields one ERROR event
 *    and a response carrying the class, the provider status and the retry delay. */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "llmux.h"
#include "support/fake_server.h"
#include "two_providers.h"

#define STREAM "tests/data/fake/openai/stream_text.sse"
#define MODEL_DIR LLMUX_SOURCE_DIR "/models"
#define MODEL MODEL_DIR "/llmux-fortunes.gguf"

static void push_stream(lx_fake_server *s, int chunk_delay_ms) {
    lx_fake_response r = {.status = 200, .headers = "Content-Type: text/event-stream\r\n", .body_file = STREAM,
                          .chunked = true, .chunk_size = 64, .chunk_delay_ms = chunk_delay_ms};
    assert_true(lx_fake_server_push(s, &r));
}

static llmux_request text_request(const char *model, const llmux_message *m) {
    llmux_request req = llmux_request_default();
    req.model = model;
    req.messages = m;
    req.n_messages = 1;
    req.stream = true;
    return req;
}

static const llmux_part k_hi = {.type = LLMUX_PART_TEXT, .text = "Hi"};
static const llmux_message k_msg = {.role = LLMUX_ROLE_USER, .parts = &k_hi, .n_parts = 1};

/* ------------------------------------------------------------ slow consumer */

typedef struct blocker {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool in_callback;     /* A's callback is blocked */
    bool b_done;          /* B completed */
    bool b_done_while_blocked;
    bool blocked_once;
} blocker;

/* A's callback: on its first text delta, blocks until B completed (at most 20 s). */
static bool slow_cb(const llmux_event *ev, void *ud) {
    blocker *b = ud;
    if (ev->type != LLMUX_EVENT_TEXT_DELTA || b->blocked_once) return true;
    b->blocked_once = true;
    pthread_mutex_lock(&b->mu);
    b->in_callback = true;
    pthread_cond_broadcast(&b->cv);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20;
    while (!b->b_done)
        if (pthread_cond_timedwait(&b->cv, &b->mu, &until) != 0) break;
    b->b_done_while_blocked = b->b_done;
    pthread_mutex_unlock(&b->mu);
    return true;
}

typedef struct arun {
    llmux_runtime *rt;
    blocker *b;
    llmux_status st;
} arun;

static void *run_a(void *arg) {
    arun *a = arg;
    llmux_request req = text_request("a/m", &k_msg);
    llmux_run_params rp = llmux_run_default_params();
    rp.on_event = slow_cb;
    rp.user_data = a->b;
    llmux_response *resp = NULL;
    a->st = llmux_run(a->rt, &req, &rp, &resp, NULL);
    llmux_response_free(resp);
    return NULL;
}

static void test_slow_consumer_does_not_stall_others(void **state) {
    (void)state;
    two t;
    two_start(&t);
    push_stream(t.sa, 0);
    push_stream(t.sb, 0);
    blocker b = {.b_done = false};
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    arun a = {.rt = t.rt, .b = &b};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_a, &a), 0);
    pthread_mutex_lock(&b.mu);
    while (!b.in_callback) pthread_cond_wait(&b.cv, &b.mu);
    pthread_mutex_unlock(&b.mu);

    /* A's consumer is blocked: B, on the same runtime, must still run to completion. */
    llmux_request req = text_request("b/m", &k_msg);
    llmux_response *resp = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_run(t.rt, &req, NULL, &resp, &err), LLMUX_OK);
    assert_string_equal(llmux_response_text(resp), "Hello, world!");
    llmux_response_free(resp);
    pthread_mutex_lock(&b.mu);
    b.b_done = true;
    pthread_cond_broadcast(&b.cv);
    pthread_mutex_unlock(&b.mu);

    pthread_join(th, NULL);
    assert_true(b.b_done_while_blocked);
    assert_int_equal(a.st, LLMUX_OK);
    pthread_cond_destroy(&b.cv);
    pthread_mutex_destroy(&b.mu);
    two_stop(&t);
}

/* ------------------------------------------------------- nested requests */

typedef struct nest {
    llmux_runtime *rt;
    const char *inner_model;
    int32_t inner_max_tokens;
    bool ran;
    llmux_status inner_st;
    char inner_text[256];
} nest;

/* On the first text delta, runs a whole second request from inside the callback. */
static bool nesting_cb(const llmux_event *ev, void *ud) {
    nest *n = ud;
    if (ev->type != LLMUX_EVENT_TEXT_DELTA || n->ran) return true;
    n->ran = true;
    llmux_request req = text_request(n->inner_model, &k_msg);
    req.sampling.max_tokens = n->inner_max_tokens;
    llmux_response *resp = NULL;
    llmux_error_info err;
    n->inner_st = llmux_run(n->rt, &req, NULL, &resp, &err);
    if (n->inner_st != LLMUX_OK) fprintf(stderr, "inner: %s\n", err.message);
    if (resp) snprintf(n->inner_text, sizeof n->inner_text, "%s", llmux_response_text(resp));
    llmux_response_free(resp);
    return true;
}

static void test_run_from_remote_callback(void **state) {
    (void)state;
    two t;
    two_start(&t);
    push_stream(t.sa, 0);
    push_stream(t.sb, 0);
    nest n = {.rt = t.rt, .inner_model = "b/m", .inner_max_tokens = LLMUX_UNSET_INT};
    llmux_request req = text_request("a/m", &k_msg);
    llmux_run_params rp = llmux_run_default_params();
    rp.on_event = nesting_cb;
    rp.user_data = &n;
    llmux_response *resp = NULL;
    assert_int_equal(llmux_run(t.rt, &req, &rp, &resp, NULL), LLMUX_OK);
    assert_true(n.ran);
    assert_int_equal(n.inner_st, LLMUX_OK);
    assert_string_equal(n.inner_text, "Hello, world!");
    assert_string_equal(llmux_response_text(resp), "Hello, world!");
    llmux_response_free(resp);
    two_stop(&t);
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "test_exec: a nested local run deadlocked\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

static void test_run_same_local_model_from_its_callback(void **state) {
    (void)state;
    two t;
    two_start(&t);
    signal(SIGALRM, on_alarm); /* a deadlock fails the test instead of hanging it */
    alarm(120);
    nest n = {.rt = t.rt, .inner_model = MODEL, .inner_max_tokens = 4};
    llmux_request req = text_request(MODEL, &k_msg);
    req.sampling.max_tokens = 8;
    req.sampling.temperature = 0;
    llmux_run_params rp = llmux_run_default_params();
    rp.on_event = nesting_cb;
    rp.user_data = &n;
    llmux_response *resp = NULL;
    llmux_error_info err;
    llmux_status st = llmux_run(t.rt, &req, &rp, &resp, &err);
    alarm(0);
    if (st != LLMUX_OK) fprintf(stderr, "outer: %s\n", err.message);
    assert_int_equal(st, LLMUX_OK);
    assert_true(n.ran);
    assert_int_equal(n.inner_st, LLMUX_OK);
    assert_true(strlen(n.inner_text) > 0);
    assert_true(resp->usage.output_tokens > 0);
    llmux_response_free(resp);
    two_stop(&t);
}

/* ------------------------------------------------------ threads released */

static int thread_count(void) {
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static void test_destroy_stops_threads(void **state) {
    (void)state;
    lx_fake_server *s = lx_fake_server_start();
    assert_non_null(s);
    int before = thread_count(); /* the fake server's thread included */
    char url[256];
    lx_fake_server_url(s, "/v1", url, sizeof url);
    llmux_provider_params p = {.name = "a", .protocol = "openai", .base_url = url, .api_key = "k"};
    llmux_runtime_params rp = llmux_runtime_default_params();
    rp.providers = &p;
    rp.n_providers = 1;
    const char *dirs[] = {MODEL_DIR};
    rp.model_dirs = dirs;
    rp.n_model_dirs = 1;
    rp.n_threads = 1;
    rp.n_ctx = 128;
    for (int round = 0; round < 2; round++) {
        llmux_runtime *rt = NULL;
        assert_int_equal(llmux_runtime_create(&rp, &rt, NULL), LLMUX_OK);
        push_stream(s, 0);
        llmux_request req = text_request("a/m", &k_msg);
        llmux_response *resp = NULL;
        assert_int_equal(llmux_run(rt, &req, NULL, &resp, NULL), LLMUX_OK);
        llmux_response_free(resp);
        req = text_request(MODEL, &k_msg);
        req.sampling.max_tokens = 2;
        assert_int_equal(llmux_run(rt, &req, NULL, &resp, NULL), LLMUX_OK);
        llmux_response_free(resp);
        llmux_runtime_destroy(rt);
        /* Nothing the runtime started outlives it (the HTTP loop, the engine thread, and any
         * thread pool the engine spins up for a decode must all be gone). */
        /* Threads of earlier tests (OpenMP workers of a finished engine thread) may still be
         * exiting when `before` was counted, so fewer is fine; more is a leak. Give exiting
         * threads a moment. */
        int after = thread_count();
        for (int i = 0; i < 100 && after > before; i++) {
            usleep(20 * 1000);
            after = thread_count();
        }
        if (after > before) fprintf(stderr, "threads: %d before, %d after round %d\n", before, after, round);
        assert_true(after <= before);
    }
    lx_fake_server_stop(s);
}

/* ------------------------------------------- failure before the first event */

typedef struct seen {
    int n;
    llmux_event_type types[8];
} seen;

static bool record_cb(const llmux_event *ev, void *ud) {
    seen *s = ud;
    if (s->n < 8) s->types[s->n] = ev->type;
    s->n++;
    return true;
}

static void test_failure_before_first_event_has_response(void **state) {
    (void)state;
    two t;
    two_start(&t);
    lx_fake_response r = {.status = 429, .headers = "Content-Type: application/json\r\nRetry-After: 7\r\n",
                          .body_file = "tests/data/fake/openai/error_429.json"};
    assert_true(lx_fake_server_push(t.sa, &r));
    seen s = {0};
    llmux_request req = text_request("a/m", &k_msg);
    llmux_run_params rp = llmux_run_default_params();
    rp.on_event = record_cb;
    rp.user_data = &s;
    llmux_response *resp = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_run(t.rt, &req, &rp, &resp, &err), LLMUX_E_RATE_LIMITED);
    assert_int_equal(err.provider_status, 429);
    assert_int_equal(err.retry_after_ms, 7000);
    /* Exactly one event, the terminal ERROR. */
    assert_int_equal(s.n, 1);
    assert_int_equal(s.types[0], LLMUX_EVENT_ERROR);
    assert_non_null(resp);
    assert_int_equal(resp->finish_reason, LLMUX_FINISH_ERROR);
    assert_int_equal(resp->error.status, LLMUX_E_RATE_LIMITED);
    assert_int_equal(resp->error.provider_status, 429);
    assert_int_equal(resp->error.retry_after_ms, 7000);
    assert_string_equal(resp->provider, "a");
    assert_string_equal(resp->model, "m");
    llmux_response_free(resp);
    two_stop(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_consumer_does_not_stall_others),
        cmocka_unit_test(test_run_from_remote_callback),
        cmocka_unit_test(test_run_same_local_model_from_its_callback),
        cmocka_unit_test(test_destroy_stops_threads),
        cmocka_unit_test(test_failure_before_first_event_has_response),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
