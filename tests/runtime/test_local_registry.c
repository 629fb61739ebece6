/* The runtime's registry of loaded local models, through the public API: at most 16 loaded, the
 * least recently used idle one evicted for a 17th, OVERLOADED only while all 16 are generating,
 * a cancelled load never registered, names that resolve to something other than a regular file. */
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "llmux.h"
#include "support/local_runtime.h"
#include "support/model_dir.h"

#define N_MODELS 17 /* one more than the registry holds */

static char g_dir[PATH_MAX];

static int setup(void **state) {
    (void)state;
    if (model_dir_create("llmux-registry", g_dir, sizeof g_dir)) return -1;
    for (int i = 0; i < N_MODELS; i++) {
        char path[PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/m%02d.gguf", g_dir, i);
        if (gguf_gen(path, "--arch llama --n-layer 1 --n-embd 32 --n-head 2 --n-ff 64 --ctx 64 --type f16 --seed %d",
                     i + 1))
            return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    return model_dir_remove(g_dir);
}

/* Log lines of interest: loads and evictions. */
typedef struct log_state {
    pthread_mutex_t mu;
    int loaded;
    int evicted;
    char last_evicted[PATH_MAX + 64];
} log_state;

static void on_log(llmux_log_level level, const char *msg, void *ud) {
    (void)level;
    log_state *ls = ud;
    pthread_mutex_lock(&ls->mu);
    if (strcmp(msg, "model loaded") == 0) ls->loaded++;
    if (strstr(msg, "unloaded the least recently used model")) {
        ls->evicted++;
        snprintf(ls->last_evicted, sizeof ls->last_evicted, "%s", msg);
    }
    pthread_mutex_unlock(&ls->mu);
}

static llmux_runtime *make_runtime(log_state *ls) {
    local_rt l;
    local_rt_init(&l, g_dir, 1, 64);
    local_rt_debug_log(&l, on_log, ls);
    return local_rt_create(&l);
}

/* Runs "local/mNN" for two greedy tokens. */
static llmux_status run_model(llmux_runtime *rt, const char *spec, const llmux_run_params *rp, llmux_error_info *err) {
    return run_greedy(rt, spec, "Hi", 2, rp, NULL, err);
}

static llmux_status run_index(llmux_runtime *rt, int i, llmux_error_info *err) {
    char spec[32];
    snprintf(spec, sizeof spec, "local/m%02d", i);
    return run_model(rt, spec, NULL, err);
}

static void test_lru_eviction(void **state) {
    (void)state;
    log_state ls = {PTHREAD_MUTEX_INITIALIZER, 0, 0, ""};
    llmux_runtime *rt = make_runtime(&ls);
    llmux_error_info err;
    for (int i = 0; i < 16; i++) assert_int_equal(run_index(rt, i, &err), LLMUX_OK);
    assert_int_equal(ls.loaded, 16);
    assert_int_equal(ls.evicted, 0);
    /* m00 used again: m01 is now the least recently used. */
    assert_int_equal(run_index(rt, 0, &err), LLMUX_OK);
    assert_int_equal(ls.loaded, 16);
    /* The 17th model evicts it (it used to fail with a retryable "overloaded" forever). */
    llmux_status st = run_index(rt, 16, &err);
    if (st != LLMUX_OK) print_message("17th model: %s\n", err.message);
    assert_int_equal(st, LLMUX_OK);
    assert_int_equal(ls.loaded, 17);
    assert_int_equal(ls.evicted, 1);
    assert_non_null(strstr(ls.last_evicted, "/m01.gguf"));
    /* m00 is still loaded; m01 loads again, evicting the next least recently used (m02). */
    assert_int_equal(run_index(rt, 0, &err), LLMUX_OK);
    assert_int_equal(ls.loaded, 17);
    assert_int_equal(run_index(rt, 1, &err), LLMUX_OK);
    assert_int_equal(ls.loaded, 18);
    assert_non_null(strstr(ls.last_evicted, "/m02.gguf"));
    llmux_runtime_destroy(rt);
}

/* ------------------------------------------------- all sixteen models busy */

typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int waiting;   /* generations parked in their first event */
    bool open;
} gate;

static gate g_gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false};

/* Holds the generation (and with it the model) until the gate opens. */
static bool park(const llmux_event *ev, void *ud) {
    (void)ud;
    if (ev->type != LLMUX_EVENT_START) return true;
    pthread_mutex_lock(&g_gate.mu);
    g_gate.waiting++;
    pthread_cond_broadcast(&g_gate.cv);
    while (!g_gate.open) pthread_cond_wait(&g_gate.cv, &g_gate.mu);
    pthread_mutex_unlock(&g_gate.mu);
    return true;
}

typedef struct worker {
    llmux_runtime *rt;
    int index;
    llmux_status st;
} worker;

static void *work(void *ud) {
    worker *w = ud;
    char spec[32];
    snprintf(spec, sizeof spec, "local/m%02d", w->index);
    llmux_run_params rp = llmux_run_default_params();
    rp.on_event = park;
    llmux_error_info err;
    w->st = run_model(w->rt, spec, &rp, &err);
    return NULL;
}

static void test_all_busy_is_overloaded(void **state) {
    (void)state;
    log_state ls = {PTHREAD_MUTEX_INITIALIZER, 0, 0, ""};
    llmux_runtime *rt = make_runtime(&ls);
    pthread_t t[16];
    worker w[16];
    for (int i = 0; i < 16; i++) {
        w[i] = (worker){rt, i, LLMUX_E_INTERNAL};
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    pthread_mutex_lock(&g_gate.mu);
    while (g_gate.waiting < 16) pthread_cond_wait(&g_gate.cv, &g_gate.mu);
    pthread_mutex_unlock(&g_gate.mu);

    /* Every slot holds a model that is generating: none can be evicted. */
    llmux_error_info err;
    assert_int_equal(run_index(rt, 16, &err), LLMUX_E_OVERLOADED);
    assert_non_null(strstr(err.message, "in use"));
    assert_int_equal(ls.evicted, 0);

    pthread_mutex_lock(&g_gate.mu);
    g_gate.open = true;
    pthread_cond_broadcast(&g_gate.cv);
    pthread_mutex_unlock(&g_gate.mu);
    for (int i = 0; i < 16; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].st, LLMUX_OK);
    }
    /* Once they are done, the 17th loads. */
    assert_int_equal(run_index(rt, 16, &err), LLMUX_OK);
    assert_int_equal(ls.evicted, 1);
    llmux_runtime_destroy(rt);
}

/* A load cancelled through the request's token: CANCELLED, nothing registered, and the next
 * request loads the model from scratch. */
static void test_cancelled_load_not_registered(void **state) {
    (void)state;
    log_state ls = {PTHREAD_MUTEX_INITIALIZER, 0, 0, ""};
    llmux_runtime *rt = make_runtime(&ls);
    llmux_cancel *tok = llmux_cancel_create();
    llmux_cancel_trigger(tok);
    llmux_run_params rp = llmux_run_default_params();
    rp.cancel = tok;
    llmux_error_info err;
    assert_int_equal(run_model(rt, "local/m03", &rp, &err), LLMUX_E_CANCELLED);
    assert_int_equal(ls.loaded, 0);
    assert_int_equal(run_index(rt, 3, &err), LLMUX_OK);
    assert_int_equal(ls.loaded, 1);
    llmux_cancel_destroy(tok);
    llmux_runtime_destroy(rt);
}

/* A name or path that is a directory or a FIFO: CONFIGURATION "not a regular file" on every
 * path (the FIFO is never opened, so nothing blocks); a missing one: MODEL_NOT_FOUND. */
static void test_not_regular_files(void **state) {
    (void)state;
    char sub[PATH_MAX], fifo[PATH_MAX];
    snprintf(sub, sizeof sub, "%s/sub.gguf", g_dir);
    snprintf(fifo, sizeof fifo, "%s/pipe.gguf", g_dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    log_state ls = {PTHREAD_MUTEX_INITIALIZER, 0, 0, ""};
    llmux_runtime *rt = make_runtime(&ls);
    llmux_error_info err;
    const char *specs[] = {"local/sub", "local/pipe", "sub.gguf", sub, fifo};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        char path[PATH_MAX];
        /* "sub.gguf" is relative to the working directory, not the model directory: not found. */
        llmux_status want = i == 2 ? LLMUX_E_MODEL_NOT_FOUND : LLMUX_E_CONFIGURATION;
        snprintf(path, sizeof path, "%s", specs[i]);
        llmux_status st = run_model(rt, path, NULL, &err);
        if (st != want) print_message("%s: %s: %s\n", specs[i], llmux_status_name(st), err.message);
        assert_int_equal(st, want);
        if (want == LLMUX_E_CONFIGURATION) assert_non_null(strstr(err.message, "not a regular file"));
    }
    assert_int_equal(run_model(rt, "local/nothing-here", NULL, &err), LLMUX_E_MODEL_NOT_FOUND);
    llmux_runtime_destroy(rt);
    rmdir(sub);
    unlink(fifo);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lru_eviction),
        cmocka_unit_test(test_all_busy_is_overloaded),
        cmocka_unit_test(test_cancelled_load_not_registered),
        cmocka_unit_test(test_not_regular_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
