/* local.isolation: process (runtime/engine_sup.h, docs/sandbox.md "Supervision"): a real runtime
 * starts the real `llmux engine` child (the built binary) and runs the bundled model through it.
 *
 * Covered: the same text, events and usage as in-process, from a child whose kernel view shows
 * its sandbox (Seccomp 2, NoNewPrivs 1); a crash (the child aborts on a test hook) fails only the
 * in-flight executions, with a message naming the signal, and the next request runs on a restarted
 * child; a hang (the child's loop stops) is killed at the heartbeat deadline; SIGKILL from outside
 * (what the OOM killer does) and a seccomp kill (SIGSYS) are each reported as such, while a
 * remote stream in flight goes on to its end; a corrupt model fails with configuration while the
 * other model keeps serving on the same child; cancel reaches the child and the child stays; an
 * engine that cannot start fails the request. Calls (core/ipc_call.h): embeddings and token counts
 * through the child equal in-process ones (vectors, dimensions, usage, names), and their errors
 * (unknown model, corrupt model, wrong dimensions, a prompt over the context) have the same class
 * and message; model load/unload/list act on the child's registry; a call in flight when the
 * child is killed fails with the signal, and the next call runs on a new child. The prompt cache
 * directory reaches the child (its one writable directory): a prompt saved by one child (at
 * unload) is restored by the next child after the first was killed.
 *
 * The crash hooks need `llmux engine --test-hooks`: the runtime's engine_path is a two-line shell
 * script that adds it (no environment variable, no hook reachable in a normal engine). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <math.h>

#include "llmux.h"
#include "support/fake_server.h"
#include "runtime/engine_sup.h"
#include "runtime/runtime_internal.h"

#define LLMUX LLMUX_TEST_BIN_DIR "/llmux"
#define MODEL_DIR LLMUX_SOURCE_DIR "/models"
#define LOCAL "local/llmux-fortunes"

static char g_tmp[64];        /* holds the hooks script and a model directory with a broken GGUF */
static char g_hooks[128];     /* the engine_path that adds --test-hooks */
static char g_broken_dir[128]; /* also holds minibert.gguf, a small BERT embedding model */

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int setup(void **state) {
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    snprintf(g_tmp, sizeof g_tmp, "/tmp/llmux-sup-XXXXXX");
    if (!mkdtemp(g_tmp)) return -1;
    /* Started as root, the engine drops to 65534 before it opens its model directories. */
    chmod(g_tmp, 0755);
    snprintf(g_hooks, sizeof g_hooks, "%s/llmux-with-hooks", g_tmp);
    FILE *f = fopen(g_hooks, "w");
    if (!f) return -1;
    fprintf(f, "#!/bin/sh\nexec '%s' \"$@\" --test-hooks\n", LLMUX);
    fclose(f);
    chmod(g_hooks, 0755);
    snprintf(g_broken_dir, sizeof g_broken_dir, "%s/models", g_tmp);
    mkdir(g_broken_dir, 0755);
    char broken[192];
    snprintf(broken, sizeof broken, "%s/broken.gguf", g_broken_dir);
    f = fopen(broken, "w");
    if (!f) return -1;
    fputs("this is not a GGUF file, only text pretending to be one\n", f);
    fclose(f);
    chmod(broken, 0644);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "'%s/gguf_gen' --embedding --pooling mean --n-layer 2 --n-embd 64 --n-head 4 --n-ff 128 --ctx 256 "
             "--type f32 --out '%s/minibert.gguf' >/dev/null && chmod 644 '%s/minibert.gguf'",
             LLMUX_TEST_BIN_DIR, g_broken_dir, g_broken_dir);
    if (system(cmd) != 0) return -1;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_tmp);
    return system(cmd) == 0 ? 0 : -1;
}

/* A runtime running local models in the child. hooks: start it through the hooks script.
 * upstream: a fake OpenAI-compatible provider named "fk" (NULL = none). */
static llmux_runtime *rt_process_with(bool hooks, int64_t heartbeat_ms, int64_t timeout_ms, lx_fake_server *upstream) {
    const char *dirs[] = {MODEL_DIR, g_broken_dir};
    llmux_runtime_params p = llmux_runtime_default_params();
    p.model_dirs = dirs;
    p.n_model_dirs = 2;
    p.n_threads = 2;
    p.n_ctx = 1024;
    p.local_slots = 2;
    p.local_isolation = LLMUX_ISOLATION_PROCESS;
    p.engine_path = hooks ? g_hooks : LLMUX;
    p.engine_heartbeat_ms = heartbeat_ms;
    p.engine_heartbeat_timeout_ms = timeout_ms;
    char url[128];
    llmux_provider_params prov = {.name = "fk", .protocol = "openai", .api_key = "k"};
    if (upstream) {
        lx_fake_server_url(upstream, "/v1", url, sizeof url);
        prov.base_url = url;
        p.providers = &prov;
        p.n_providers = 1;
    }
    llmux_runtime *rt = NULL;
    llmux_error_info err;
    llmux_status st = llmux_runtime_create(&p, &rt, &err);
    if (st != LLMUX_OK) fail_msg("runtime: %s", err.message);
    return rt;
}

static llmux_runtime *rt_process(bool hooks, int64_t heartbeat_ms, int64_t timeout_ms) {
    return rt_process_with(hooks, heartbeat_ms, timeout_ms, NULL);
}

static llmux_runtime *rt_in_process(void) {
    const char *dirs[] = {MODEL_DIR, g_broken_dir};
    llmux_runtime_params p = llmux_runtime_default_params();
    p.model_dirs = dirs;
    p.n_model_dirs = 2;
    p.n_threads = 2;
    p.n_ctx = 1024;
    p.local_slots = 2;
    llmux_runtime *rt = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_runtime_create(&p, &rt, &err), LLMUX_OK);
    return rt;
}

/* ------------------------------------------------------------ requests */

typedef struct req {
    llmux_part part;
    llmux_message msg;
    llmux_kv hook;
    llmux_request r;
} req;

static void req_init(req *q, const char *model, const char *prompt, int32_t max_tokens, const char *hook) {
    memset(q, 0, sizeof *q);
    q->part.type = LLMUX_PART_TEXT;
    q->part.text = prompt;
    q->msg.role = LLMUX_ROLE_USER;
    q->msg.parts = &q->part;
    q->msg.n_parts = 1;
    q->r.model = model;
    q->r.messages = &q->msg;
    q->r.n_messages = 1;
    q->r.stream = true;
    q->r.sampling = llmux_sampling_default();
    q->r.sampling.temperature = 0;
    q->r.sampling.max_tokens = max_tokens;
    q->r.sampling.seed = 7;
    if (hook) {
        q->hook = (llmux_kv){.key = "llmux_test_hook", .value = hook};
        q->r.metadata = &q->hook;
        q->r.n_metadata = 1;
    }
}

/* What a run produced. */
typedef struct seen {
    char text[8192];
    size_t len;
    int starts, deltas, usages, finishes, errors;
    char start_name[64], start_provider[32];
    llmux_usage usage;
    llmux_finish_reason finish;
} seen;

static bool collect(const llmux_event *ev, void *ud) {
    seen *s = ud;
    switch (ev->type) {
    case LLMUX_EVENT_START:
        s->starts++;
        snprintf(s->start_name, sizeof s->start_name, "%s", ev->name ? ev->name : "");
        snprintf(s->start_provider, sizeof s->start_provider, "%s", ev->provider ? ev->provider : "");
        break;
    case LLMUX_EVENT_TEXT_DELTA:
        s->deltas++;
        if (s->len + ev->text_len < sizeof s->text) {
            memcpy(s->text + s->len, ev->text, ev->text_len);
            s->len += ev->text_len;
        }
        break;
    case LLMUX_EVENT_USAGE:
        s->usages++;
        s->usage = ev->usage;
        break;
    case LLMUX_EVENT_FINISH:
        s->finishes++;
        s->finish = ev->finish_reason;
        break;
    case LLMUX_EVENT_ERROR: s->errors++; break;
    default: break;
    }
    return true;
}

static llmux_status run(llmux_runtime *rt, req *q, seen *s, llmux_error_info *err) {
    memset(s, 0, sizeof *s);
    llmux_run_params rp = llmux_run_default_params();
    rp.on_event = collect;
    rp.user_data = s;
    llmux_response *resp = NULL;
    llmux_status st = llmux_run(rt, &q->r, &rp, &resp, err);
    llmux_response_free(resp);
    return st;
}

/* An execution in flight on the loop: it signals its first text delta. */
typedef struct flight {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int deltas;
    bool done;
    req q;
    llmux_execution *ex;
} flight;

static bool flight_event(const llmux_event *ev, void *ud) {
    flight *f = ud;
    pthread_mutex_lock(&f->mu);
    if (ev->type == LLMUX_EVENT_TEXT_DELTA) f->deltas++;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    return true;
}

static void flight_start_model(flight *f, llmux_runtime *rt, const char *model, int32_t max_tokens) {
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    req_init(&f->q, model, "Tell me a long story about the sea.", max_tokens, NULL);
    llmux_submit_params sp = llmux_submit_default_params();
    sp.on_event = flight_event;
    sp.user_data = f;
    llmux_error_info err;
    assert_int_equal(llmux_submit(rt, &f->q.r, &sp, &f->ex, &err), LLMUX_OK);
}

static void flight_start(flight *f, llmux_runtime *rt, int32_t max_tokens) { flight_start_model(f, rt, LOCAL, max_tokens); }

/* Waits (at most 60 s) until the execution streamed at least one delta. */
static void flight_wait_delta(flight *f) {
    double end = now_s() + 60;
    pthread_mutex_lock(&f->mu);
    while (f->deltas == 0 && now_s() < end) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&f->cv, &f->mu, &ts);
    }
    int d = f->deltas;
    pthread_mutex_unlock(&f->mu);
    assert_true(d > 0);
}

static llmux_status flight_end(flight *f, llmux_error_info *err) {
    llmux_response *resp = NULL;
    llmux_status st = llmux_execution_wait(f->ex, &resp, err);
    llmux_response_free(resp);
    llmux_execution_free(f->ex);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    return st;
}

static pid_t child_pid(llmux_runtime *rt) { return lx_engine_sup_pid(lx_runtime_engine(rt)); }

/* The value of a "Key:\tN" line of /proc/PID/status, -1 when absent. */
static long proc_status(pid_t pid, const char *key) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long v = -1;
    size_t n = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == ':') v = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return v;
}

/* Waits (at most 10 s) until a child other than `old` runs. */
static pid_t wait_new_child(llmux_runtime *rt, pid_t old) {
    double end = now_s() + 10;
    pid_t p;
    while (((p = child_pid(rt)) == 0 || p == old) && now_s() < end) usleep(10000);
    return p;
}

/* ----------------------------------------------------------------- tests */

static double metric_value(llmux_runtime *rt, const char *name);

/* Through the child: the same events, text and usage as in-process, from a sandboxed process. */
static void test_same_as_in_process(void **state) {
    (void)state;
    req q;
    req_init(&q, LOCAL, "Say something wise.", 24, NULL);
    llmux_error_info err;
    seen a, b;
    llmux_runtime *in = rt_in_process();
    assert_int_equal(run(in, &q, &a, &err), LLMUX_OK);
    llmux_runtime_destroy(in);

    llmux_runtime *rt = rt_process(false, 0, 0);
    assert_int_equal(child_pid(rt), 0); /* started at first use */
    llmux_status st = run(rt, &q, &b, &err);
    if (st != LLMUX_OK) fail_msg("through the child: %s", err.message);
    assert_int_equal(b.starts, 1);
    assert_string_equal(b.start_name, "llmux-fortunes");
    assert_string_equal(b.start_provider, "local");
    assert_int_equal(b.finishes, 1);
    assert_int_equal(b.errors, 0);
    assert_int_equal(b.usages, 2); /* the prompt's, then the whole */
    assert_int_equal(a.usages, 2);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.text, b.text, a.len);
    assert_int_equal(a.usage.input_tokens, b.usage.input_tokens);
    assert_int_equal(a.usage.output_tokens, b.usage.output_tokens);
    assert_int_equal((int)a.finish, (int)b.finish);

    pid_t pid = child_pid(rt);
    assert_true(pid > 0 && pid != getpid());
    assert_int_equal(proc_status(pid, "NoNewPrivs"), 1);
    assert_int_equal(proc_status(pid, "Seccomp"), 2);
    assert_int_equal(lx_engine_sup_starts(lx_runtime_engine(rt)), 1);
    /* The child's welcome says how strong its sandbox is: Landlock as the kernel offers it (the
     * test asks the kernel itself, so it holds on a kernel without Landlock too). */
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, 1 /* LANDLOCK_CREATE_RULESET_VERSION */);
    double got = metric_value(rt, "llmux_engine_sandbox_landlock_abi");
    if (abi > 0) {
        assert_true(got >= 1);
        assert_true(metric_value(rt, "llmux_engine_sandbox_degraded") == 0);
    } else {
        assert_true(got == 0);
        assert_true(metric_value(rt, "llmux_engine_sandbox_degraded") == 1);
    }
    assert_true(metric_value(rt, "llmux_engine_process_up") == 1);
    llmux_runtime_destroy(rt);
    /* The child is gone with the runtime. */
    assert_int_equal(kill(pid, 0), -1);
}

/* A crash fails the in-flight executions at once, naming the signal; the next request runs on a
 * restarted child. */
static void test_crash_fails_in_flight_then_restarts(void **state) {
    (void)state;
    llmux_runtime *rt = rt_process(true, 0, 0);
    flight f;
    flight_start(&f, rt, 900);
    flight_wait_delta(&f);
    pid_t first = child_pid(rt);
    assert_true(first > 0);

    req q;
    req_init(&q, LOCAL, "crash now", 8, "abort");
    seen s;
    llmux_error_info err;
    double t0 = now_s();
    llmux_status st = run(rt, &q, &s, &err);
    assert_int_equal(st, LLMUX_E_INTERNAL);
    assert_non_null(strstr(err.message, "local engine process crashed (signal 6, SIGABRT)"));
    st = flight_end(&f, &err);
    assert_int_equal(st, LLMUX_E_INTERNAL);
    assert_non_null(strstr(err.message, "crashed (signal 6, SIGABRT)"));
    assert_true(now_s() - t0 < 10);

    pid_t second = wait_new_child(rt, first);
    assert_true(second > 0 && second != first);
    req_init(&q, LOCAL, "Say something wise.", 8, NULL);
    st = run(rt, &q, &s, &err);
    if (st != LLMUX_OK) fail_msg("after the restart: %s", err.message);
    assert_true(s.deltas > 0);
    assert_int_equal(lx_engine_sup_starts(lx_runtime_engine(rt)), 2);
    llmux_runtime_destroy(rt);
}

/* A child whose loop stops answering is killed at the heartbeat deadline and restarted. */
static void test_hang_killed_at_heartbeat_deadline(void **state) {
    (void)state;
    llmux_runtime *rt = rt_process(true, 100, 600);
    req q;
    seen s;
    llmux_error_info err;
    /* Served once first: the model is loaded, so the short deadline applies (not the load one). */
    req_init(&q, LOCAL, "Say something wise.", 4, NULL);
    assert_int_equal(run(rt, &q, &s, &err), LLMUX_OK);
    pid_t first = child_pid(rt);
    req_init(&q, LOCAL, "hang now", 8, "hang");
    double t0 = now_s();
    llmux_status st = run(rt, &q, &s, &err);
    double took = now_s() - t0;
    assert_int_equal(st, LLMUX_E_INTERNAL);
    assert_non_null(strstr(err.message, "did not answer its heartbeat within 600 ms"));
    assert_true(took >= 0.5 && took < 5);
    pid_t second = wait_new_child(rt, first);
    assert_true(second > 0 && second != first);
    req_init(&q, LOCAL, "Say something wise.", 4, NULL);
    st = run(rt, &q, &s, &err);
    if (st != LLMUX_OK) fail_msg("after the restart: %s", err.message);
    llmux_runtime_destroy(rt);
}

/* Whether the runtime's Prometheus text has a line starting with line (name, labels, value). */
static bool metric_line(llmux_runtime *rt, const char *line) {
    char *text = NULL;
    size_t len = 0;
    llmux_error_info err;
    assert_int_equal(llmux_metrics_prometheus(rt, &text, &len, &err), LLMUX_OK);
    bool found = false;
    size_t n = strlen(line);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == 0)) found = true;
    if (!found) fprintf(stderr, "metrics without \"%s\":\n%s\n", line, text);
    llmux_free(text);
    return found;
}

/* The value of an unlabelled metric, -1 when absent. */
static double metric_value(llmux_runtime *rt, const char *name) {
    char *text = NULL;
    size_t len = 0;
    llmux_error_info err;
    assert_int_equal(llmux_metrics_prometheus(rt, &text, &len, &err), LLMUX_OK);
    double v = -1;
    size_t n = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, name, n) == 0 && p[n] == ' ') v = strtod(p + n + 1, NULL);
    llmux_free(text);
    return v;
}

/* SIGKILL from outside (the OOM killer's way): only the in-flight execution fails, so named. */
static void test_sigkill_reported_and_restarted(void **state) {
    (void)state;
    llmux_runtime *rt = rt_process(false, 0, 0);
    flight f;
    flight_start(&f, rt, 900);
    flight_wait_delta(&f);
    pid_t first = child_pid(rt);
    assert_int_equal(kill(first, SIGKILL), 0);
    llmux_error_info err;
    llmux_status st = flight_end(&f, &err);
    assert_int_equal(st, LLMUX_E_INTERNAL);
    assert_non_null(strstr(err.message, "was killed (signal 9, SIGKILL"));
    pid_t second = wait_new_child(rt, first);
    assert_true(second > 0 && second != first);
    req q;
    seen s;
    req_init(&q, LOCAL, "Say something wise.", 4, NULL);
    st = run(rt, &q, &s, &err);
    if (st != LLMUX_OK) fail_msg("after the restart: %s", err.message);
    /* The supervisor's metrics: two children, one ended by SIGKILL with one request in flight. */
    assert_true(metric_line(rt, "llmux_engine_process_starts_total 2"));
    assert_true(metric_line(rt, "llmux_engine_process_ends_total{how=\"killed\"} 1"));
    assert_true(metric_line(rt, "llmux_engine_process_failed_requests_total 1"));
    assert_true(metric_line(rt, "llmux_engine_process_up 1"));
    llmux_runtime_destroy(rt);
}

/* A remote stream in flight when the child is killed goes on to its normal end: remote targets
 * never touch the child. */
static void test_remote_serves_through_a_crash(void **state) {
    (void)state;
    lx_fake_server *up = lx_fake_server_start();
    assert_non_null(up);
    lx_fake_response r = {.status = 200, .headers = "Content-Type: text/event-stream\r\n",
                          .body_file = "tests/data/fake/openai/stream_text.sse", .chunked = true, .chunk_size = 16,
                          .chunk_delay_ms = 40};
    assert_true(lx_fake_server_push(up, &r));
    llmux_runtime *rt = rt_process_with(false, 0, 0, up);
    flight local, remote;
    /* The remote stream first (its chunks come every 40 ms); the local one right before the kill,
     * so it cannot have finished its 900 tokens meanwhile. */
    flight_start_model(&remote, rt, "fk/gpt-4o-mini", 64);
    flight_wait_delta(&remote);
    flight_start(&local, rt, 900);
    flight_wait_delta(&local);
    pid_t pid = child_pid(rt);
    assert_int_equal(kill(pid, SIGKILL), 0);
    llmux_error_info err;
    assert_int_equal(flight_end(&local, &err), LLMUX_E_INTERNAL);
    assert_non_null(strstr(err.message, "SIGKILL"));
    llmux_status st = flight_end(&remote, &err);
    if (st != LLMUX_OK) fail_msg("the remote stream: %s", err.message);
    llmux_runtime_destroy(rt);
    lx_fake_server_stop(up);
}

/* A forbidden system call (exec) is killed by the seccomp filter, and said so. */
static void test_seccomp_kill_reported(void **state) {
    (void)state;
    llmux_runtime *rt = rt_process(true, 0, 0);
    req q;
    seen s;
    llmux_error_info err;
    req_init(&q, LOCAL, "exec a shell", 8, "exec");
    llmux_status st = run(rt, &q, &s, &err);
    assert_int_equal(st, LLMUX_E_INTERNAL);
    assert_non_null(strstr(err.message, "killed by its seccomp filter (signal 31, SIGSYS"));
    llmux_runtime_destroy(rt);
}

/* A corrupt model answers configuration; the other model keeps serving on the same child. */
static void test_corrupt_model_other_serves(void **state) {
    (void)state;
    llmux_runtime *rt = rt_process(false, 0, 0);
    req q;
    seen s;
    llmux_error_info err;
    req_init(&q, "local/broken", "hello", 8, NULL);
    llmux_status st = run(rt, &q, &s, &err);
    assert_int_equal(st, LLMUX_E_CONFIGURATION);
    assert_int_equal(s.deltas, 0);
    req_init(&q, LOCAL, "Say something wise.", 8, NULL);
    st = run(rt, &q, &s, &err);
    if (st != LLMUX_OK) fail_msg("the good model: %s", err.message);
    assert_true(s.deltas > 0);
    assert_int_equal(lx_engine_sup_starts(lx_runtime_engine(rt)), 1);
    llmux_runtime_destroy(rt);
}

/* Cancel reaches the child: the execution ends cancelled, the child stays and serves on. */
static void test_cancel_forwarded(void **state) {
    (void)state;
    llmux_runtime *rt = rt_process(false, 0, 0);
    flight f;
    flight_start(&f, rt, 900);
    flight_wait_delta(&f);
    pid_t pid = child_pid(rt);
    double t0 = now_s();
    llmux_execution_cancel(f.ex);
    llmux_error_info err;
    assert_int_equal(flight_end(&f, &err), LLMUX_E_CANCELLED);
    assert_true(now_s() - t0 < 5);
    req q;
    seen s;
    req_init(&q, LOCAL, "Say something wise.", 4, NULL);
    assert_int_equal(run(rt, &q, &s, &err), LLMUX_OK);
    assert_int_equal(s.finishes, 1);
    assert_int_equal(child_pid(rt), pid);
    assert_int_equal(lx_engine_sup_starts(lx_runtime_engine(rt)), 1);
    llmux_runtime_destroy(rt);
}

/* An engine_path that cannot run fails the waiting request with a clear error, never a hang. */
static void test_engine_that_cannot_start(void **state) {
    (void)state;
    const char *dirs[] = {MODEL_DIR};
    llmux_runtime_params p = llmux_runtime_default_params();
    p.model_dirs = dirs;
    p.n_model_dirs = 1;
    p.local_isolation = LLMUX_ISOLATION_PROCESS;
    p.engine_path = "/bin/false";
    llmux_runtime *rt = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_runtime_create(&p, &rt, &err), LLMUX_OK);
    req q;
    seen s;
    req_init(&q, LOCAL, "hello", 4, NULL);
    llmux_status st = run(rt, &q, &s, &err);
    assert_int_equal(st, LLMUX_E_INTERNAL);
    assert_non_null(strstr(err.message, "could not start: it exited with status 1"));
    llmux_runtime_destroy(rt);
}

/* ------------------------------------------------------------------ calls */

static const char *const k_inputs[] = {"the quick brown fox", "taxes are due", "the quick brown fox"};

static llmux_status embed(llmux_runtime *rt, const char *model, int32_t dims, llmux_embeddings **out,
                          llmux_error_info *err) {
    llmux_embed_request er = llmux_embed_request_default();
    er.model = model;
    er.inputs = k_inputs;
    er.n_inputs = 3;
    er.dimensions = dims;
    return llmux_embed(rt, &er, NULL, out, err);
}

/* One call's outcome on both runtimes: the same status, and for a failure the same message. */
static void same_embed_error(llmux_runtime *in, llmux_runtime *rt, const char *model, int32_t dims, llmux_status want) {
    llmux_embeddings *a = NULL, *b = NULL;
    llmux_error_info ea, eb;
    assert_int_equal(embed(in, model, dims, &a, &ea), want);
    llmux_status st = embed(rt, model, dims, &b, &eb);
    if (st != want) fail_msg("%s through the child: %s (%s)", model, llmux_status_name(st), eb.message);
    assert_null(a);
    assert_null(b);
    assert_string_equal(ea.message, eb.message);
}

/* Embeddings and token counts through the child: what in-process gives, errors included. */
static void test_embed_and_count_same_as_in_process(void **state) {
    (void)state;
    llmux_runtime *in = rt_in_process();
    llmux_runtime *rt = rt_process(false, 0, 0);
    llmux_embeddings *a = NULL, *b = NULL;
    llmux_error_info err;
    assert_int_equal(embed(in, "local/minibert", 0, &a, &err), LLMUX_OK);
    llmux_status st = embed(rt, "local/minibert", 0, &b, &err);
    if (st != LLMUX_OK) fail_msg("embed through the child: %s", err.message);
    assert_true(child_pid(rt) > 0);
    assert_int_equal(b->n, 3);
    assert_int_equal(b->dim, 64);
    assert_int_equal(a->dim, b->dim);
    assert_string_equal(b->model, "minibert");
    assert_string_equal(b->provider, "local");
    assert_int_equal(a->usage.input_tokens, b->usage.input_tokens);
    assert_true(b->usage.input_tokens > 0);
    /* Same model, same code, same thread count: the vectors agree to float rounding (base64 of
     * the float32 bytes carries them exactly). */
    double max_diff = 0;
    for (size_t i = 0; i < b->n * b->dim; i++) {
        double d = fabs((double)a->data[i] - (double)b->data[i]);
        if (d > max_diff) max_diff = d;
    }
    assert_true(max_diff < 1e-5);
    assert_memory_equal(b->data, b->data + 2 * b->dim, b->dim * sizeof(float)); /* same text, same vector */
    llmux_embeddings_free(a);
    llmux_embeddings_free(b);

    /* Errors: same class, same message. */
    same_embed_error(in, rt, "local/nope", 0, LLMUX_E_MODEL_NOT_FOUND);     /* the runtime resolves it */
    same_embed_error(in, rt, "local/broken", 0, LLMUX_E_CONFIGURATION);     /* the child fails to load it */
    same_embed_error(in, rt, "local/minibert", 65, LLMUX_E_INVALID_REQUEST); /* the model gives 64 */

    /* Token counts: the same number as in-process, and the same refusal past the context. */
    req q;
    req_init(&q, LOCAL, "Count these words, please.", 8, NULL);
    int64_t na = 0, nb = 0;
    assert_int_equal(llmux_count_tokens(in, &q.r, NULL, &na, &err), LLMUX_OK);
    st = llmux_count_tokens(rt, &q.r, NULL, &nb, &err);
    if (st != LLMUX_OK) fail_msg("count through the child: %s", err.message);
    assert_true(na > 5);
    assert_int_equal(na, nb);
    static char longp[40000];
    for (size_t i = 0; i + 6 < sizeof longp; i += 6) memcpy(longp + i, "words ", 6);
    req_init(&q, LOCAL, longp, 8, NULL);
    llmux_error_info ea, eb;
    assert_int_equal(llmux_count_tokens(in, &q.r, NULL, &na, &ea), LLMUX_E_CONTEXT_LENGTH);
    assert_int_equal(llmux_count_tokens(rt, &q.r, NULL, &nb, &eb), LLMUX_E_CONTEXT_LENGTH);
    assert_string_equal(ea.message, eb.message);
    assert_int_equal(lx_engine_sup_starts(lx_runtime_engine(rt)), 1); /* errors never cost the child */
    llmux_runtime_destroy(in);
    llmux_runtime_destroy(rt);
}

static json_t *loaded(llmux_runtime *rt) {
    char *text = NULL;
    llmux_error_info err;
    llmux_status st = llmux_models_loaded(rt, &text, &err);
    if (st != LLMUX_OK) fail_msg("models_loaded: %s", err.message);
    json_t *v = json_loads(text, 0, NULL);
    llmux_free(text);
    assert_true(json_is_array(v));
    return v;
}

/* The state of the listed entry named model, NULL when none. */
static const char *state_of(json_t *list, const char *model) {
    size_t i;
    json_t *m;
    json_array_foreach(list, i, m) {
        if (strcmp(json_string_value(json_object_get(m, "model")), model) == 0)
            return json_string_value(json_object_get(m, "state"));
    }
    return NULL;
}

/* Model admin acts on the child's registry; listing or unloading starts no child. */
static void test_model_admin_through_child(void **state) {
    (void)state;
    llmux_runtime *rt = rt_process(false, 0, 0);
    llmux_error_info err;
    json_t *l = loaded(rt);
    assert_int_equal(json_array_size(l), 0);
    json_decref(l);
    assert_int_equal(llmux_model_unload(rt, LOCAL, &err), LLMUX_E_INVALID_REQUEST);
    assert_non_null(strstr(err.message, "is not loaded"));
    assert_int_equal(child_pid(rt), 0);

    llmux_status st = llmux_model_load(rt, LOCAL, NULL, &err);
    if (st != LLMUX_OK) fail_msg("load: %s", err.message);
    assert_true(child_pid(rt) > 0);
    l = loaded(rt);
    assert_non_null(state_of(l, LOCAL));
    assert_string_equal(state_of(l, LOCAL), "loaded");
    json_decref(l);
    /* A generation names the model as the load did: one entry. */
    req q;
    seen s;
    req_init(&q, LOCAL, "Say something wise.", 4, NULL);
    assert_int_equal(run(rt, &q, &s, &err), LLMUX_OK);
    l = loaded(rt);
    assert_int_equal(json_array_size(l), 1);
    json_decref(l);

    assert_int_equal(llmux_model_load(rt, "local/broken", NULL, &err), LLMUX_E_CONFIGURATION);
    assert_int_equal(llmux_model_load(rt, "local/nope", NULL, &err), LLMUX_E_MODEL_NOT_FOUND);
    assert_int_equal(llmux_model_unload(rt, LOCAL, &err), LLMUX_OK);
    l = loaded(rt);
    assert_null(state_of(l, LOCAL));
    json_decref(l);
    assert_int_equal(llmux_model_unload(rt, LOCAL, &err), LLMUX_E_INVALID_REQUEST);
    assert_int_equal(lx_engine_sup_starts(lx_runtime_engine(rt)), 1);
    llmux_runtime_destroy(rt);
}

/* A call in flight when the child dies fails with how it ended; the next call gets a new child. */
typedef struct call_thread {
    llmux_runtime *rt;
    llmux_status st;
    llmux_error_info err;
} call_thread;

static void *load_main(void *arg) {
    call_thread *c = arg;
    /* Many inputs: the embedding runs long enough to be killed in the middle. */
    static const char *inputs[4096];
    for (size_t i = 0; i < 4096; i++) inputs[i] = "a sentence that takes a while to embed, again and again";
    llmux_embed_request er = llmux_embed_request_default();
    er.model = "local/minibert";
    er.inputs = inputs;
    er.n_inputs = 4096;
    llmux_embeddings *e = NULL;
    c->st = llmux_embed(c->rt, &er, NULL, &e, &c->err);
    llmux_embeddings_free(e);
    return NULL;
}

static void test_call_fails_when_child_killed(void **state) {
    (void)state;
    llmux_runtime *rt = rt_process(false, 0, 0);
    llmux_embeddings *e = NULL;
    llmux_error_info err;
    assert_int_equal(embed(rt, "local/minibert", 0, &e, &err), LLMUX_OK); /* loaded, child up */
    llmux_embeddings_free(e);
    pid_t first = child_pid(rt);
    call_thread c = {.rt = rt};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, load_main, &c), 0);
    usleep(300 * 1000);
    assert_int_equal(kill(first, SIGKILL), 0);
    pthread_join(t, NULL);
    /* Killed while it embedded (or, on a very fast machine, it had answered already). */
    fprintf(stderr, "the call in flight at the kill: %s\n", c.st == LLMUX_OK ? "had answered" : c.err.message);
    if (c.st != LLMUX_OK) {
        assert_int_equal(c.st, LLMUX_E_INTERNAL);
        assert_non_null(strstr(c.err.message, "SIGKILL"));
    }
    assert_true(wait_new_child(rt, first) != first);
    llmux_status st = embed(rt, "local/minibert", 0, &e, &err);
    if (st != LLMUX_OK) fail_msg("after the restart: %s", err.message);
    assert_int_equal(e->n, 3);
    llmux_embeddings_free(e);
    llmux_runtime_destroy(rt);
}

/* local_prompt_cache_dir in process mode: the first child saves the prompt's prefix when the model
 * is unloaded; after that child is killed, the next one restores it (cached_input_tokens). */
static void test_prompt_cache_dir_across_children(void **state) {
    (void)state;
    char cache[160];
    snprintf(cache, sizeof cache, "%s/prompt-cache", g_tmp); /* created by the runtime */
    const char *dirs[] = {MODEL_DIR};
    llmux_runtime_params p = llmux_runtime_default_params();
    p.model_dirs = dirs;
    p.n_model_dirs = 1;
    p.n_threads = 2;
    p.n_ctx = 1024;
    p.local_slots = 2;
    p.local_isolation = LLMUX_ISOLATION_PROCESS;
    p.engine_path = LLMUX;
    p.local_prompt_cache_dir = cache;
    llmux_runtime *rt = NULL;
    llmux_error_info err;
    assert_int_equal(llmux_runtime_create(&p, &rt, &err), LLMUX_OK);
    req q;
    seen s1, s2;
    req_init(&q, LOCAL,
             "A long prompt that a returning user sends again: the system rules, the earlier turns of the "
             "conversation, and then the new question at the end. What will tomorrow bring?",
             4, NULL);
    llmux_status st = run(rt, &q, &s1, &err);
    if (st != LLMUX_OK) fail_msg("first child: %s", err.message);
    assert_int_equal(s1.usage.cached_input_tokens, 0);
    assert_int_equal(llmux_model_unload(rt, LOCAL, &err), LLMUX_OK); /* the child saves its prefixes */
    /* A file appears in the directory (the unload's save finishes on the child's own time). */
    int files = 0;
    for (int i = 0; i < 500 && files == 0; i++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "test -n \"$(ls -A '%s')\"", cache);
        if (system(cmd) == 0) files = 1;
        else usleep(10000);
    }
    assert_int_equal(files, 1);
    struct stat sb;
    assert_int_equal(stat(cache, &sb), 0);
    if (geteuid() == 0) assert_int_equal((int)sb.st_uid, 65534); /* handed to the engine's user */
    pid_t first = child_pid(rt);
    assert_int_equal(kill(first, SIGKILL), 0);
    pid_t second = wait_new_child(rt, first);
    assert_true(second > 0 && second != first);
    st = run(rt, &q, &s2, &err);
    if (st != LLMUX_OK) fail_msg("second child: %s", err.message);
    assert_int_equal(s2.usage.input_tokens, s1.usage.input_tokens);
    assert_true(s2.usage.cached_input_tokens > 0);
    fprintf(stderr, "restored by the next child: %lld of %lld prompt tokens\n", (long long)s2.usage.cached_input_tokens,
            (long long)s2.usage.input_tokens);
    assert_int_equal(lx_engine_sup_starts(lx_runtime_engine(rt)), 2);
    /* The child's prompt cache hit counted in the runtime's metrics, as in-process. */
    char line[160];
    snprintf(line, sizeof line, "llmux_local_prompt_cache_reused_tokens_total{model=\"%s\"} %lld", LOCAL,
             (long long)s2.usage.cached_input_tokens);
    assert_true(metric_line(rt, line));
    assert_true(metric_line(rt, "llmux_local_prompt_cache_hits_total{model=\"" LOCAL "\"} 1"));
    llmux_runtime_destroy(rt);
}

/* The value of a metric line starting with prefix (name and labels), -1 when absent. */
static double metric_prefixed(llmux_runtime *rt, const char *prefix) {
    char *text = NULL;
    size_t len = 0;
    llmux_error_info err;
    assert_int_equal(llmux_metrics_prometheus(rt, &text, &len, &err), LLMUX_OK);
    double v = -1;
    size_t n = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, prefix, n) == 0 && p[n] == ' ') v = strtod(p + n + 1, NULL);
    llmux_free(text);
    return v;
}

#define DEPTH "llmux_local_queue_depth{model=\"" LOCAL "\"}"
#define PC_BYTES "llmux_local_prompt_cache_bytes{model=\"" LOCAL "\"}"
#define PC_HITS "llmux_local_prompt_cache_hits_total{model=\"" LOCAL "\"}"
#define PC_TOKENS "llmux_local_prompt_cache_reused_tokens_total{model=\"" LOCAL "\"}"

/* Three prompts one after the other on two slots (the third pushes a slot's prefix out to the
 * host prompt cache), then the first again (a cache hit). */
static void cache_workload(llmux_runtime *rt) {
    static const char *const prompts[] = {
        "The first long question of the day, asked with many words so that its prefix is worth keeping.",
        "A second and entirely different question, also long enough that its prefix is worth keeping around.",
        "Yet another question, the third, which needs a slot of its own and pushes one prefix to the host.",
        "The first long question of the day, asked with many words so that its prefix is worth keeping.",
    };
    for (size_t i = 0; i < sizeof prompts / sizeof *prompts; i++) {
        req q;
        seen s;
        llmux_error_info err;
        req_init(&q, LOCAL, prompts[i], 4, NULL);
        llmux_status st = run(rt, &q, &s, &err);
        if (st != LLMUX_OK) fail_msg("request %zu: %s", i, err.message);
    }
}

/* With local_isolation PROCESS the runtime's metrics show the child's local-engine gauges as
 * in-process shows its own: the queue depth (requests waiting for a slot, then 0) and the host
 * prompt cache's bytes, with the same values as in-process for the same requests, next to the
 * prompt cache hits and reused tokens. The gauges come with the child's pongs (every 50 ms here),
 * so they are polled for. */
static void test_local_metrics_as_in_process(void **state) {
    (void)state;
    llmux_runtime *in = rt_in_process();
    cache_workload(in);
    double in_bytes = metric_prefixed(in, PC_BYTES), in_hits = metric_prefixed(in, PC_HITS);
    double in_tokens = metric_prefixed(in, PC_TOKENS);
    assert_true(metric_prefixed(in, DEPTH) == 0);
    llmux_runtime_destroy(in);
    assert_true(in_bytes > 0);
    assert_true(in_hits >= 1);

    llmux_runtime *rt = rt_process(false, 50, 10000);
    assert_true(metric_prefixed(rt, DEPTH) == -1); /* no child, no model: no series */
    cache_workload(rt);
    double bytes = -1;
    for (int i = 0; i < 500 && bytes != in_bytes; i++) {
        usleep(10000);
        bytes = metric_prefixed(rt, PC_BYTES);
    }
    if (bytes != in_bytes) fail_msg("prompt cache bytes through the child %.0f, in-process %.0f", bytes, in_bytes);
    assert_true(metric_prefixed(rt, DEPTH) == 0);
    assert_true(metric_prefixed(rt, PC_HITS) == in_hits);
    assert_true(metric_prefixed(rt, PC_TOKENS) == in_tokens);

    /* Six long requests on two slots: some wait, and the gauge says so while they do. */
    flight f[6];
    for (int i = 0; i < 6; i++) flight_start(&f[i], rt, 400);
    double most = 0;
    for (int i = 0; i < 1000 && most < 1; i++) {
        double d = metric_prefixed(rt, DEPTH);
        if (d > most) most = d;
        usleep(5000);
    }
    llmux_error_info err;
    for (int i = 0; i < 6; i++) assert_int_equal(flight_end(&f[i], &err), LLMUX_OK);
    /* At most 6: a pong may come before the engine thread took the first two. */
    if (!(most >= 1 && most <= 6)) fail_msg("queue depth seen: %.0f", most);
    double depth = -1;
    for (int i = 0; i < 500 && depth != 0; i++) {
        usleep(10000);
        depth = metric_prefixed(rt, DEPTH);
    }
    assert_true(depth == 0);
    /* A child that ends takes its models' gauges with it: they read 0, as an unloaded model's
     * do in-process. */
    assert_true(metric_prefixed(rt, PC_BYTES) > 0);
    pid_t first = child_pid(rt);
    assert_int_equal(kill(first, SIGKILL), 0);
    assert_true(wait_new_child(rt, first) > 0);
    assert_true(metric_prefixed(rt, PC_BYTES) == 0);
    llmux_runtime_destroy(rt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_in_process),
        cmocka_unit_test(test_local_metrics_as_in_process),
        cmocka_unit_test(test_crash_fails_in_flight_then_restarts),
        cmocka_unit_test(test_hang_killed_at_heartbeat_deadline),
        cmocka_unit_test(test_sigkill_reported_and_restarted),
        cmocka_unit_test(test_remote_serves_through_a_crash),
        cmocka_unit_test(test_seccomp_kill_reported),
        cmocka_unit_test(test_corrupt_model_other_serves),
        cmocka_unit_test(test_cancel_forwarded),
        cmocka_unit_test(test_engine_that_cannot_start),
        cmocka_unit_test(test_embed_and_count_same_as_in_process),
        cmocka_unit_test(test_model_admin_through_child),
        cmocka_unit_test(test_call_fails_when_child_killed),
        cmocka_unit_test(test_prompt_cache_dir_across_children),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
