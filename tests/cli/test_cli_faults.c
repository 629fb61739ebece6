/* Fault injection on the `llmux` binary against a fake upstream that answers slowly: the overall
 * deadline (--timeout) of run, models and embed; a reader that leaves (SIGPIPE ignored: a write
 * error that must cancel generation; SIGPIPE default: the process ends); SIGINT, SIGTERM and a
 * double SIGINT during generation. Every wait is bounded; a hang fails the test. */
#define _XOPEN_SOURCE 700
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/cli_spawn.h"
#include "support/cli_run.h"
#include "support/fake_server.h"

#define LLMUX LLMUX_TEST_BIN_DIR "/llmux"
#define ENV_CLEAN                                                                                                   \
    "env -u OPENAI_API_KEY -u OPENAI_BASE_URL -u ANTHROPIC_API_KEY -u GEMINI_API_KEY -u OPENROUTER_API_KEY "
/* The slow stream: N_TICKS text deltas of "tick ", one 64-byte write every TICK_MS. A complete
 * delivery takes tens of seconds, so an early end is told apart from a full run by far more than
 * the machine's load can blur. */
#define N_TICKS 300
#define TICK_MS 40

static int setup(void **state) {
    (void)state;
    return cli_scratch_create("llmux-cli-faults");
}

static int teardown(void **state) {
    (void)state;
    return cli_scratch_remove();
}

/* An OpenAI chat-completions SSE stream of N_TICKS "tick " deltas. malloc'd. */
static char *tick_stream(void) {
    static const char head[] = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"x\",\"choices\":"
                               "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n";
    static const char tick[] = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"x\",\"choices\":"
                               "[{\"index\":0,\"delta\":{\"content\":\"tick \"},\"finish_reason\":null}]}\n\n";
    static const char tail[] = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"x\",\"choices\":"
                               "[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    size_t size = sizeof head + N_TICKS * (sizeof tick - 1) + sizeof tail;
    char *s = malloc(size);
    assert_non_null(s);
    char *p = s;
    p += sprintf(p, "%s", head);
    for (int i = 0; i < N_TICKS; i++) p += sprintf(p, "%s", tick);
    sprintf(p, "%s", tail);
    return s;
}

/* Scripts one slow streamed answer on /v1/chat/completions: chunk bytes every delay_ms. */
static void push_drip(lx_fake_server *s, size_t chunk, int delay_ms) {
    char *body = tick_stream();
    lx_fake_response r;
    memset(&r, 0, sizeof r);
    r.path_prefix = "/v1/chat/completions";
    r.headers = "Content-Type: text/event-stream\r\n";
    r.body = body;
    r.chunked = true;
    r.chunk_size = chunk;
    r.chunk_delay_ms = delay_ms;
    assert_true(lx_fake_server_push(s, &r));
    free(body);
}

/* A response whose status line is held back far longer than any test waits. */
static void push_silent(lx_fake_server *s, const char *path) {
    lx_fake_response r;
    memset(&r, 0, sizeof r);
    r.path_prefix = path;
    r.headers = "Content-Type: application/json\r\n";
    r.body = "{}";
    r.status_delay_ms = 120000;
    assert_true(lx_fake_server_push(s, &r));
}

static void err_path(char *buf, size_t size) { snprintf(buf, size, "%s/child-stderr.txt", cli_scratch()); }

/* Spawns `llmux run -m openai/x --base-url URL --api-key k [extra] 'Count'` on the slow stream. */
static void spawn_run(cli_child *c, lx_fake_server *s, const char *extra, bool ignore_sigpipe) {
    static char url[256], model[] = "openai/x", *argv[16];
    lx_fake_server_url(s, "/v1", url, sizeof url);
    int i = 0;
    argv[i++] = LLMUX;
    argv[i++] = "run";
    argv[i++] = "-m";
    argv[i++] = model;
    argv[i++] = "--base-url";
    argv[i++] = url;
    argv[i++] = "--api-key";
    argv[i++] = "k";
    if (extra) argv[i++] = (char *)extra;
    argv[i++] = "Count";
    argv[i] = NULL;
    char ep[PATH_MAX];
    err_path(ep, sizeof ep);
    cli_spawn(c, argv, ep, ignore_sigpipe);
}

/* Item 8: a dripping upstream (one byte a second) no longer keeps `llmux run` alive: --timeout 1
 * ends it with the timeout class. */
static void test_run_timeout_on_drip(void **state) {
    (void)state;
    lx_fake_server *s = lx_fake_server_start();
    assert_non_null(s);
    push_drip(s, 1, 1000); /* the full body would take over 12 hours */
    char url[256], cmd[1024];
    lx_fake_server_url(s, "/v1", url, sizeof url);
    snprintf(cmd, sizeof cmd, ENV_CLEAN LLMUX " run -m openai/x --base-url %s --api-key k --timeout 1 'Count'", url);
    cli_result r;
    double t0 = cli_now_s();
    cli_run(cmd, &r);
    double took = cli_now_s() - t0;
    assert_int_equal(r.code, 10 + 10); /* timeout */
    assert_non_null(strstr(r.err, "llmux: timeout: "));
    if (took > 20) fail_msg("--timeout 1 took %.1f s", took);
    lx_fake_server_stop(s);
}

/* Item 8: bad --timeout values are usage errors naming the option, for every command. */
static void test_timeout_validation(void **state) {
    (void)state;
    static const char *bad[] = {"0", "-1", "nan", "inf", "1e9", "604801", "abc", "1s", ""};
    static const char *cmds[] = {" run --timeout '%s' x", " models openai --timeout '%s'",
                                 " embed -m openai/e --timeout '%s' x"};
    char cmd[512], fmt[256];
    cli_result r;
    for (size_t c = 0; c < sizeof cmds / sizeof cmds[0]; c++) {
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            snprintf(fmt, sizeof fmt, "%s%s", LLMUX, cmds[c]);
            snprintf(cmd, sizeof cmd, fmt, bad[i]);
            cli_run(cmd, &r);
            if (r.code != 2 || !strstr(r.err, "--timeout: ")) fail_msg("%s: exit %d: %s", cmd, r.code, r.err);
        }
    }
    /* The bounds themselves and fractions are accepted: the run gets past option parsing. */
    static const char *good[] = {"604800", "0.25", "1e-3"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        snprintf(cmd, sizeof cmd, LLMUX " run --timeout %s -m local/does-not-exist x", good[i]);
        cli_run(cmd, &r);
        if (r.code != 10 + 4) fail_msg("%s: exit %d: %s", cmd, r.code, r.err); /* model_not_found */
    }
    /* The default is documented. */
    cli_run(LLMUX " run --help", &r);
    assert_non_null(strstr(r.out, "--timeout SECONDS"));
    assert_non_null(strstr(r.out, "default: 600"));
}

/* Item 8: models and embed pass --timeout as llmux_call_params.deadline_ms: a silent upstream
 * ends in a timeout (exit 20, the message names --timeout), not "cancelled". */
static void test_models_and_embed_timeout(void **state) {
    (void)state;
    lx_fake_server *s = lx_fake_server_start();
    assert_non_null(s);
    char url[256], cmd[1024];
    lx_fake_server_url(s, "/v1", url, sizeof url);
    cli_result r;

    push_silent(s, "/v1/models");
    snprintf(cmd, sizeof cmd, ENV_CLEAN LLMUX " models openai --base-url %s --api-key k --timeout 0.5", url);
    double t0 = cli_now_s();
    cli_run(cmd, &r);
    double took = cli_now_s() - t0;
    if (r.code != 20) fail_msg("models: exit %d: %s", r.code, r.err);
    assert_non_null(strstr(r.err, "llmux: timeout: "));
    assert_non_null(strstr(r.err, "--timeout"));
    if (took > 20) fail_msg("models --timeout 0.5 took %.1f s", took);
    lx_fake_server_stop(s);

    s = lx_fake_server_start();
    assert_non_null(s);
    lx_fake_server_url(s, "/v1", url, sizeof url);
    push_silent(s, "/v1/embeddings");
    snprintf(cmd, sizeof cmd,
             ENV_CLEAN LLMUX " embed -m openai/text-embedding-3-small --base-url %s --api-key k --timeout 0.5 hi", url);
    t0 = cli_now_s();
    cli_run(cmd, &r);
    took = cli_now_s() - t0;
    if (r.code != 20) fail_msg("embed: exit %d: %s", r.code, r.err);
    assert_non_null(strstr(r.err, "llmux: timeout: "));
    if (took > 20) fail_msg("embed --timeout 0.5 took %.1f s", took);
    lx_fake_server_stop(s);
}

/* Item 9: with SIGPIPE ignored, a reader that leaves turns into EPIPE on the next write: the
 * CLI stops generating at once and exits 3 with the reason, instead of streaming the whole
 * answer into the void and exiting 0. */
static void test_reader_leaves_sigpipe_ignored(void **state) {
    (void)state;
    lx_fake_server *s = lx_fake_server_start();
    assert_non_null(s);
    push_drip(s, 64, TICK_MS);
    cli_child c;
    double t0 = cli_now_s();
    spawn_run(&c, s, NULL, true);
    assert_true(cli_child_read_until(&c, "tick", 30));
    cli_child_close_out(&c);
    int st = cli_child_wait(&c, 60);
    double took = cli_now_s() - t0;
    char ep[PATH_MAX], err[4096];
    err_path(ep, sizeof ep);
    cli_read_small_file(ep, err, sizeof err);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 3) fail_msg("status 0x%x, stderr: %s", st, err);
    assert_non_null(strstr(err, "llmux: write error: Broken pipe"));
    /* The full stream takes N_TICKS * ~2.4 chunks * TICK_MS (about 30 s). */
    if (took > 10) fail_msg("the CLI kept going %.1f s after its reader left", took);
    lx_fake_server_stop(s);
}

/* With SIGPIPE at its default, the first write after the reader left kills the process: no
 * hang, no exit 0. */
static void test_reader_leaves_sigpipe_default(void **state) {
    (void)state;
    lx_fake_server *s = lx_fake_server_start();
    assert_non_null(s);
    push_drip(s, 64, TICK_MS);
    cli_child c;
    double t0 = cli_now_s();
    spawn_run(&c, s, NULL, false);
    assert_true(cli_child_read_until(&c, "tick", 30));
    cli_child_close_out(&c);
    int st = cli_child_wait(&c, 60);
    double took = cli_now_s() - t0;
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGPIPE);
    if (took > 10) fail_msg("the CLI kept going %.1f s after its reader left", took);
    lx_fake_server_stop(s);
}

/* SIGINT or SIGTERM mid-stream: the cancelled class, promptly, and what was printed stays
 * printed (followed by the newline the CLI ends text with). */
static void signal_mid_stream(int sig) {
    lx_fake_server *s = lx_fake_server_start();
    assert_non_null(s);
    push_drip(s, 64, TICK_MS);
    cli_child c;
    spawn_run(&c, s, NULL, false);
    assert_true(cli_child_read_until(&c, "tick tick", 30));
    size_t before = c.out_len;
    char seen[256];
    snprintf(seen, sizeof seen, "%.*s", (int)(before < 255 ? before : 255), c.out_buf);
    double t0 = cli_now_s();
    assert_int_equal(kill(c.pid, sig), 0);
    int st = cli_child_wait(&c, 30);
    double took = cli_now_s() - t0;
    char ep[PATH_MAX], err[4096];
    err_path(ep, sizeof ep);
    cli_read_small_file(ep, err, sizeof err);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 10 + 12) fail_msg("signal %d: status 0x%x, stderr: %s", sig, st, err);
    assert_non_null(strstr(err, "llmux: cancelled: "));
    assert_true(c.out_len >= before);
    assert_memory_equal(c.out_buf, seen, strlen(seen));
    assert_int_equal(c.out_buf[c.out_len - 1], '\n');
    /* Far less than the rest of the stream (tens of seconds). */
    if (took > 10) fail_msg("signal %d: took %.1f s to end", sig, took);
    lx_fake_server_stop(s);
}

static void test_sigint_mid_stream(void **state) {
    (void)state;
    signal_mid_stream(SIGINT);
}

static void test_sigterm_mid_stream(void **state) {
    (void)state;
    signal_mid_stream(SIGTERM);
}

/* Two SIGINTs in a row (an impatient Ctrl-C Ctrl-C): the first cancels, the second forces the
 * default action, so the process ends even when the cancel could not be honoured yet. Either
 * way: it ends promptly, by SIGINT or with the cancelled class. */
static void test_double_sigint(void **state) {
    (void)state;
    lx_fake_server *s = lx_fake_server_start();
    assert_non_null(s);
    push_drip(s, 64, TICK_MS);
    cli_child c;
    spawn_run(&c, s, NULL, false);
    assert_true(cli_child_read_until(&c, "tick", 30));
    assert_int_equal(kill(c.pid, SIGINT), 0);
    assert_int_equal(kill(c.pid, SIGINT), 0);
    int st = cli_child_wait(&c, 30);
    bool by_sigint = WIFSIGNALED(st) && WTERMSIG(st) == SIGINT;
    bool cancelled = WIFEXITED(st) && WEXITSTATUS(st) == 22;
    if (!by_sigint && !cancelled) fail_msg("status 0x%x", st);
    lx_fake_server_stop(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_timeout_on_drip),
        cmocka_unit_test(test_timeout_validation),
        cmocka_unit_test(test_models_and_embed_timeout),
        cmocka_unit_test(test_reader_leaves_sigpipe_ignored),
        cmocka_unit_test(test_reader_leaves_sigpipe_default),
        cmocka_unit_test(test_sigint_mid_stream),
        cmocka_unit_test(test_sigterm_mid_stream),
        cmocka_unit_test(test_double_sigint),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
