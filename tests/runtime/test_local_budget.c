/* The runtime's local model registry under `local:` limits, through the public API, on generated
 * models (tools/gguf_gen): a memory budget (estimate: file size + KV cache) unloads the least
 * recently used idle model to make room, refuses a model bigger than the whole budget with a
 * clear CONFIGURATION error, and answers OVERLOADED while the models holding the budget are in
 * use; idle_unload_s unloads a model nobody used for that long; local.slots reaches the engine;
 * a prompt reused from the cache shows in the Prometheus metrics. */
#define _XOPEN_SOURCE 700
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
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
#include "support/local_runtime.h"
#include "support/model_dir.h"

static char g_dir[PATH_MAX];

/* b00..b02: 0.76 MiB files, with their KV cache (256 cells at least: 0.25 MiB) about 1.01 MiB
 * each: one fits in 2 MiB, two in 3 MiB, not three; big: a 6 MiB file. */
static int gen(const char *name, int n_embd) {
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/%s.gguf", g_dir, name);
    return gguf_gen(path, "--arch llama --n-layer 2 --n-embd %d --n-head 2 --n-ff %d --ctx 256 --type f16 --seed 3",
                    n_embd, 2 * n_embd);
}

static int setup(void **state) {
    (void)state;
    if (model_dir_create("llmux-budget", g_dir, sizeof g_dir)) return -1;
    if (gen("b00", 128) || gen("b01", 128) || gen("b02", 128) || gen("big", 384)) return -1;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    return model_dir_remove(g_dir);
}

typedef struct log_state {
    pthread_mutex_t mu;
    int loaded, budget_unloads, idle_unloads;
    char last_unloaded[PATH_MAX + 96];
} log_state;

static void on_log(llmux_log_level level, const char *msg, void *ud) {
    (void)level;
    log_state *ls = ud;
    pthread_mutex_lock(&ls->mu);
    if (strcmp(msg, "model loaded") == 0) ls->loaded++;
    if (strstr(msg, "unloaded (memory budget)")) ls->budget_unloads++;
    if (strstr(msg, "unloaded the idle model")) ls->idle_unloads++;
    if (strncmp(msg, "unloaded", 8) == 0) snprintf(ls->last_unloaded, sizeof ls->last_unloaded, "%s", msg);
    pthread_mutex_unlock(&ls->mu);
}

static llmux_runtime *make_runtime(log_state *ls, int64_t budget_mb, int64_t idle_s, int32_t slots, int32_t n_ctx) {
    local_rt l;
    local_rt_init(&l, g_dir, 1, n_ctx);
    l.rp.local_memory_budget_mb = budget_mb;
    l.rp.local_idle_unload_s = idle_s;
    l.rp.local_slots = slots;
    local_rt_debug_log(&l, on_log, ls);
    return local_rt_create(&l);
}

static llmux_status run_prompt(llmux_runtime *rt, const char *spec, const char *prompt, llmux_error_info *err,
                               llmux_usage *usage) {
    llmux_response *resp = NULL;
    llmux_status st = run_greedy(rt, spec, prompt, 2, NULL, &resp, err);
    if (st == LLMUX_OK && usage) *usage = resp->usage;
    llmux_response_free(resp);
    return st;
}

static llmux_status run(llmux_runtime *rt, const char *spec, llmux_error_info *err) {
    return run_prompt(rt, spec, "Hi", err, NULL);
}

/* Two models fit in 3 MiB, a third unloads the least recently used; one alone bigger than the
 * budget is refused before it is loaded, naming the budget. */
static void test_memory_budget(void **state) {
    (void)state;
    log_state ls = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, ""};
    llmux_runtime *rt = make_runtime(&ls, 3, 0, 0, 64);
    llmux_error_info err;
    assert_int_equal(run(rt, "local/b00", &err), LLMUX_OK);
    assert_int_equal(run(rt, "local/b01", &err), LLMUX_OK);
    assert_int_equal(ls.budget_unloads, 0);
    assert_int_equal(run(rt, "local/b00", &err), LLMUX_OK); /* b01 is now the least recently used */
    assert_int_equal(ls.loaded, 2);
    assert_int_equal(run(rt, "local/b02", &err), LLMUX_OK);
    assert_int_equal(ls.loaded, 3);
    assert_int_equal(ls.budget_unloads, 1);
    assert_non_null(strstr(ls.last_unloaded, "/b01.gguf"));
    assert_int_equal(run(rt, "local/b00", &err), LLMUX_OK); /* still loaded */
    assert_int_equal(ls.loaded, 3);

    llmux_status st = run(rt, "local/big", &err);
    assert_int_equal(st, LLMUX_E_CONFIGURATION);
    assert_non_null(strstr(err.message, "local.memory_budget_mb"));
    assert_non_null(strstr(err.message, "big.gguf"));
    assert_int_equal(ls.loaded, 3);         /* never loaded */
    assert_int_equal(ls.budget_unloads, 1); /* and nothing unloaded for it */
    llmux_runtime_destroy(rt);
}

/* ---------------------------------------------- budget held by a model in use */

typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool parked, open, ended; /* ended: the holder's run returned (without parking: a failure) */
} gate;

static gate g_gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, false};

static bool park(const llmux_event *ev, void *ud) {
    (void)ud;
    if (ev->type != LLMUX_EVENT_START) return true;
    pthread_mutex_lock(&g_gate.mu);
    g_gate.parked = true;
    pthread_cond_broadcast(&g_gate.cv);
    while (!g_gate.open) pthread_cond_wait(&g_gate.cv, &g_gate.mu);
    pthread_mutex_unlock(&g_gate.mu);
    return true;
}

typedef struct holder {
    llmux_runtime *rt;
    llmux_status st;
} holder;

static void *hold_b00(void *ud) {
    holder *h = ud;
    llmux_part part = {.type = LLMUX_PART_TEXT, .text = "Hi"};
    llmux_message msg = {LLMUX_ROLE_USER, &part, 1, NULL};
    llmux_request req = llmux_request_default();
    req.model = "local/b00";
    req.messages = &msg;
    req.n_messages = 1;
    req.sampling.temperature = 0;
    req.sampling.max_tokens = 2;
    llmux_run_params rp = llmux_run_default_params();
    rp.on_event = park;
    llmux_response *resp = NULL;
    llmux_error_info err;
    h->st = llmux_run(h->rt, &req, &rp, &resp, &err);
    llmux_response_free(resp);
    if (h->st != LLMUX_OK) print_message("holder: %s\n", err.message);
    pthread_mutex_lock(&g_gate.mu);
    g_gate.ended = true;
    pthread_cond_broadcast(&g_gate.cv);
    pthread_mutex_unlock(&g_gate.mu);
    return NULL;
}

/* A 2 MiB budget holds one model: while it generates, another is OVERLOADED (retryable); once it
 * is done, the other loads in its place. */
static void test_budget_in_use_is_overloaded(void **state) {
    (void)state;
    log_state ls = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, ""};
    llmux_runtime *rt = make_runtime(&ls, 2, 0, 0, 64);
    holder h = {rt, LLMUX_E_INTERNAL};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, hold_b00, &h), 0);
    pthread_mutex_lock(&g_gate.mu);
    while (!g_gate.parked && !g_gate.ended) pthread_cond_wait(&g_gate.cv, &g_gate.mu);
    bool parked = g_gate.parked;
    pthread_mutex_unlock(&g_gate.mu);
    assert_true(parked);
    llmux_error_info err;
    assert_int_equal(run(rt, "local/b01", &err), LLMUX_E_OVERLOADED);
    assert_non_null(strstr(err.message, "in use"));
    assert_true(llmux_status_retryable(err.status));
    pthread_mutex_lock(&g_gate.mu);
    g_gate.open = true;
    pthread_cond_broadcast(&g_gate.cv);
    pthread_mutex_unlock(&g_gate.mu);
    pthread_join(t, NULL);
    assert_int_equal(h.st, LLMUX_OK);
    assert_int_equal(run(rt, "local/b01", &err), LLMUX_OK);
    assert_int_equal(ls.budget_unloads, 1);
    assert_non_null(strstr(ls.last_unloaded, "/b00.gguf"));
    llmux_runtime_destroy(rt);
}

/* idle_unload_s 1: a model unused for over a second is unloaded when the next local request
 * comes (and loads again when asked for); one used within the second stays. */
static void test_idle_unload(void **state) {
    (void)state;
    log_state ls = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, ""};
    llmux_runtime *rt = make_runtime(&ls, 0, 1, 0, 64);
    llmux_error_info err;
    assert_int_equal(run(rt, "local/b00", &err), LLMUX_OK);
    assert_int_equal(run(rt, "local/b01", &err), LLMUX_OK);
    assert_int_equal(run(rt, "local/b00", &err), LLMUX_OK);
    assert_int_equal(ls.idle_unloads, 0);
    nanosleep(&(struct timespec){1, 200 * 1000000L}, NULL);
    assert_int_equal(run(rt, "local/b02", &err), LLMUX_OK);
    assert_int_equal(ls.idle_unloads, 2);
    assert_int_equal(run(rt, "local/b00", &err), LLMUX_OK);
    assert_int_equal(ls.loaded, 4); /* b00, b01, b02, b00 again */
    assert_int_equal(run(rt, "local/b02", &err), LLMUX_OK);
    assert_int_equal(ls.loaded, 4);
    llmux_runtime_destroy(rt);
}

/* Out-of-range local settings are refused at creation. */
static void test_bad_params(void **state) {
    (void)state;
    llmux_runtime_params rp = llmux_runtime_default_params();
    rp.local_slots = 65;
    llmux_runtime *rt = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_runtime_create(&rp, &rt, &err), LLMUX_E_CONFIGURATION);
    assert_null(rt);
    rp = llmux_runtime_default_params();
    rp.local_memory_budget_mb = -1;
    assert_int_equal(llmux_runtime_create(&rp, &rt, &err), LLMUX_E_CONFIGURATION);
}

/* Value of the series `name{model="local/b00"}` in the metrics text, -1 when absent. */
static double metric(const char *text, const char *name) {
    char key[256];
    snprintf(key, sizeof key, "\n%s{model=\"local/b00\"} ", name);
    const char *p = strstr(text, key);
    return p ? strtod(p + strlen(key), NULL) : -1;
}

/* A prompt run twice on one slot: the second reuses the first's KV; the metrics count one hit and
 * its reused tokens, equal to the usage's cached_input_tokens, and show the host cache's bytes. */
static void test_prompt_cache_metrics(void **state) {
    (void)state;
    log_state ls = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, ""};
    llmux_runtime *rt = make_runtime(&ls, 0, 0, 1, 256);
    llmux_error_info err;
    static const char prompt[] = "A prompt long enough to be worth caching: one two three four five six seven eight nine";
    llmux_usage u1 = {0}, u2 = {0};
    assert_int_equal(run_prompt(rt, "local/b00", prompt, &err, &u1), LLMUX_OK);
    assert_int_equal(u1.cached_input_tokens, 0);
    assert_int_equal(run_prompt(rt, "local/b00", prompt, &err, &u2), LLMUX_OK);
    assert_true(u2.cached_input_tokens > 16);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(llmux_metrics_prometheus(rt, &text, &len, &err), LLMUX_OK);
    assert_true(metric(text, "llmux_local_prompt_cache_hits_total") == 1.0);
    assert_true(metric(text, "llmux_local_prompt_cache_reused_tokens_total") == (double)u2.cached_input_tokens);
    assert_true(metric(text, "llmux_local_prompt_cache_bytes") >= 0.0);
    assert_non_null(strstr(text, "# TYPE llmux_local_prompt_cache_bytes gauge"));
    llmux_free(text);
    llmux_runtime_destroy(rt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_budget),
        cmocka_unit_test(test_budget_in_use_is_overloaded),
        cmocka_unit_test(test_idle_unload),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_prompt_cache_metrics),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
