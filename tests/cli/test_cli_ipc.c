/* `llmux ipc` against a real `llmux serve --unix PATH` process: answers from the bundled model and
 * from a provider (the fake server, reached through OPENAI_BASE_URL), text, --json and --events
 * output, exit codes like `llmux run` (a provider's 429, a wrong token, no server, SIGINT mid-
 * stream), usage errors, and the server's files: created 0600, removed on SIGTERM. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli_spawn.h"
#include "llmux.h"
#include "support/fake_server.h"

#define LLMUX LLMUX_TEST_BIN_DIR "/llmux"

typedef struct srv {
    lx_fake_server *up;
    cli_child child;
    char dir[64];
    char sock[128];
    char err[160];
} srv;

static srv g;

/* Starts `llmux serve --unix` (with extra arguments, NULL-terminated list in extra). */
static void server_start_with(char *const *extra) {
    memset(&g, 0, sizeof g);
    signal(SIGPIPE, SIG_IGN);
    g.up = lx_fake_server_start();
    assert_non_null(g.up);
    snprintf(g.dir, sizeof g.dir, "/tmp/llmux-cli-ipc-XXXXXX");
    assert_non_null(mkdtemp(g.dir));
    snprintf(g.sock, sizeof g.sock, "%s/run/llmux.sock", g.dir);
    snprintf(g.err, sizeof g.err, "%s/serve.err", g.dir);
    char url[256], rec[128];
    lx_fake_server_url(g.up, "/v1", url, sizeof url);
    snprintf(rec, sizeof rec, "sqlite:%s/records.db", g.dir);
    setenv("HOME", g.dir, 1);
    setenv("LLMUX_RECORDS", rec, 1);
    unsetenv("LLMUX_CONFIG");
    setenv("OPENAI_BASE_URL", url, 1);
    setenv("OPENAI_API_KEY", "k", 1);
    char *argv[24] = {LLMUX, "serve", "--unix", g.sock, "--grace", "0", "--threads", "2", "--ctx", "256"};
    int n = 10;
    for (int i = 0; extra && extra[i] && n < 23; i++) argv[n++] = extra[i];
    argv[n] = NULL;
    cli_spawn(&g.child, argv, g.err, true);
    if (!cli_child_read_until(&g.child, "serving IPC on unix:", 60)) {
        char e[2048];
        cli_read_small_file(g.err, e, sizeof e);
        fail_msg("serve did not start: %s / %s", g.child.out_buf, e);
    }
    /* --unix alone: no HTTP listener. */
    if (!extra) assert_null(strstr(g.child.out_buf, "http://"));
}

static void server_start(void) { server_start_with(NULL); }

/* Stops the server (SIGTERM: exit 0, files removed); with needle, asserts that the execution
 * records it flushed contain it. */
static void server_stop_checking(const char *needle) {
    kill(g.child.pid, SIGTERM);
    int st = cli_child_wait(&g.child, 60);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    struct stat sb;
    char token[160];
    snprintf(token, sizeof token, "%s.token", g.sock);
    assert_int_not_equal(lstat(g.sock, &sb), 0);
    assert_int_not_equal(lstat(token, &sb), 0);
    if (needle) {
        char url[128];
        snprintf(url, sizeof url, "sqlite:%s/records.db", g.dir);
        llmux_records *rec = NULL;
        llmux_error_info err;
        assert_int_equal(llmux_records_open(url, &rec, &err), LLMUX_OK);
        char *jsonl = NULL;
        assert_int_equal(llmux_records_list(rec, NULL, &jsonl, &err), LLMUX_OK);
        if (!strstr(jsonl, needle)) fail_msg("%s not in the records: %s", needle, jsonl);
        llmux_free(jsonl);
        llmux_records_close(rec);
    }
    lx_fake_server_stop(g.up);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g.dir);
    assert_int_equal(system(cmd), 0);
}

static void server_stop(void) { server_stop_checking(NULL); }

/* Runs `llmux ipc ARGS...` (NULL-terminated), stdout into out, stderr into err; the exit code. */
static int run_ipc(char *out, size_t out_size, char *err, size_t err_size, ...) {
    char *argv[32] = {LLMUX, "ipc"};
    int n = 2;
    va_list ap;
    va_start(ap, err_size);
    for (char *a; (a = va_arg(ap, char *)) && n < 31;) argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    char err_path[160];
    snprintf(err_path, sizeof err_path, "%s/ipc.err", g.dir);
    cli_child c;
    cli_spawn(&c, argv, err_path, true);
    cli_child_read_until(&c, NULL, 60);
    int st = cli_child_wait(&c, 60);
    snprintf(out, out_size, "%s", c.out_buf);
    cli_read_small_file(err_path, err, err_size);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void push(const char *file, int status, const char *ctype, size_t chunk, int delay_ms) {
    lx_fake_response r;
    memset(&r, 0, sizeof r);
    r.path_prefix = "/v1/chat/completions";
    r.status = status;
    char h[128];
    snprintf(h, sizeof h, "Content-Type: %s\r\n", ctype);
    r.headers = h;
    r.body_file = file;
    r.chunk_size = chunk;
    r.chunk_delay_ms = delay_ms;
    assert_true(lx_fake_server_push(g.up, &r));
}

static void test_answers(void **state) {
    server_start();
    struct stat sb;
    assert_int_equal(lstat(g.sock, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char token[160];
    snprintf(token, sizeof token, "%s.token", g.sock);
    assert_int_equal(lstat(token, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    char out[8192], err[2048];
    /* The bundled model (the server's default). */
    assert_int_equal(run_ipc(out, sizeof out, err, sizeof err, "--socket", g.sock, "-n", "12", "Hello", NULL), 0);
    assert_true(strlen(out) > 1);
    assert_int_equal(out[strlen(out) - 1], '\n');
    /* A provider, streamed as text. */
    push("tests/data/fake/openai/stream_text.sse", 200, "text/event-stream", 0, 0);
    assert_int_equal(run_ipc(out, sizeof out, err, sizeof err, "--socket", g.sock, "-m", "openai/gpt-4o-mini", "Hi", NULL), 0);
    assert_string_equal(out, "Hello, world!\n");
    /* --json: the canonical response (not streamed). */
    push("tests/data/fake/openai/response_text.json", 200, "application/json", 0, 0);
    assert_int_equal(run_ipc(out, sizeof out, err, sizeof err, "--socket", g.sock, "-m", "openai/gpt-4o-mini", "--json",
                             "Hi", NULL), 0);
    assert_non_null(strstr(out, "\"finish_reason\":\"stop\""));
    assert_non_null(strstr(out, "\"provider\":\"openai\""));
    /* --events: one canonical event per line, the terminal one last. */
    push("tests/data/fake/openai/stream_text.sse", 200, "text/event-stream", 0, 0);
    assert_int_equal(run_ipc(out, sizeof out, err, sizeof err, "--socket", g.sock, "-m", "openai/gpt-4o-mini",
                             "--events", "Hi", NULL), 0);
    assert_true(strncmp(out, "{\"type\":\"start\"", 15) == 0);
    assert_non_null(strstr(out, "{\"type\":\"finish\",\"finish_reason\":\"stop\"}\n"));
    server_stop();
}

static void test_errors_and_exit_codes(void **state) {
    server_start();
    char out[8192], err[2048];
    /* A provider's 429: rate_limited, 10 + 5. */
    push("tests/data/fake/openai/error_429.json", 429, "application/json", 0, 0);
    assert_int_equal(run_ipc(out, sizeof out, err, sizeof err, "--socket", g.sock, "-m", "openai/gpt-4o-mini", "Hi", NULL),
                     15);
    assert_non_null(strstr(err, "llmux: rate_limited: "));
    /* An unknown model: refused by the server's runtime, model_not_found (14). */
    assert_int_equal(run_ipc(out, sizeof out, err, sizeof err, "--socket", g.sock, "-m", "local/nope", "Hi", NULL), 14);
    /* A wrong token: authentication (12). */
    char bad[160];
    snprintf(bad, sizeof bad, "%s/bad.token", g.dir);
    FILE *f = fopen(bad, "w");
    assert_non_null(f);
    fputs("0000000000000000000000000000000000000000000000000000000000000000\n", f);
    fclose(f);
    assert_int_equal(run_ipc(out, sizeof out, err, sizeof err, "--socket", g.sock, "--token-file", bad, "Hi", NULL), 12);
    assert_non_null(strstr(err, "llmux: authentication: wrong token"));
    /* A file that is not a token: configuration (24). */
    assert_int_equal(run_ipc(out, sizeof out, err, sizeof err, "--socket", g.sock, "--token-file", g.err, "Hi", NULL), 24);
    /* No server there: network (21). */
    char none[160];
    snprintf(none, sizeof none, "%s/run/none.sock", g.dir);
    assert_int_equal(run_ipc(out, sizeof out, err, sizeof err, "--socket", none, "--token-file", bad, "Hi", NULL), 21);
    assert_non_null(strstr(err, "llmux: network: cannot connect"));
    /* No PROMPT and an empty stdin (/dev/null): invalid_request (11), as for `llmux run`. */
    assert_int_equal(run_ipc(out, sizeof out, err, sizeof err, "--socket", g.sock, NULL), 11);
    assert_non_null(strstr(err, "empty prompt"));
    /* Usage errors. */
    assert_int_equal(run_ipc(out, sizeof out, err, sizeof err, "Hi", NULL), 2);
    assert_int_equal(run_ipc(out, sizeof out, err, sizeof err, "--socket", g.sock, "--threads", "2", "Hi", NULL), 2);
    assert_int_equal(run_ipc(out, sizeof out, err, sizeof err, "--socket", g.sock, "a", "b", NULL), 2);
    server_stop();
}

static void test_sigint_cancels(void **state) {
    server_start();
    /* ~1 KiB in 16-byte writes 100 ms apart: ~7 s if it ran to the end. */
    push("tests/data/fake/openai/stream_text.sse", 200, "text/event-stream", 16, 100);
    char err_path[160];
    snprintf(err_path, sizeof err_path, "%s/ipc.err", g.dir);
    char *argv[] = {LLMUX, "ipc", "--socket", g.sock, "-m", "openai/gpt-4o-mini", "Hi", NULL};
    cli_child c;
    cli_spawn(&c, argv, err_path, true);
    assert_true(cli_child_read_until(&c, "Hello", 30));
    double t0 = cli_now_s();
    kill(c.pid, SIGINT);
    int st = cli_child_wait(&c, 30);
    assert_true(cli_now_s() - t0 < 5);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 22); /* cancelled */
    char err[1024];
    cli_read_small_file(err_path, err, sizeof err);
    assert_non_null(strstr(err, "llmux: cancelled: "));
    /* The server cancelled the execution: the upstream socket closed. */
    assert_true(lx_fake_server_wait_closed(g.up, 1, 5000));
    server_stop();
}

/* --unix with --listen: both servers in one process, on one loop. */
static void test_with_http(void **state) {
    char *extra[] = {"--listen", "127.0.0.1:0", NULL};
    server_start_with(extra);
    assert_true(cli_child_read_until(&g.child, "serving on http://127.0.0.1:", 30));
    char out[8192], err[2048];
    push("tests/data/fake/openai/stream_text.sse", 200, "text/event-stream", 0, 0);
    assert_int_equal(run_ipc(out, sizeof out, err, sizeof err, "--socket", g.sock, "-m", "openai/gpt-4o-mini", "Hi", NULL), 0);
    assert_string_equal(out, "Hello, world!\n");
    /* The execution record carries the client's request id. */
    server_stop_checking("\"metadata\":{\"request_id\":\"1\"}");
}

static void test_serve_usage(void **state) {
    char dir[64] = "/tmp/llmux-cli-ipc-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sock[128], err_path[128], errbuf[1024];
    snprintf(sock, sizeof sock, "%s/llmux.sock", dir);
    snprintf(err_path, sizeof err_path, "%s/err", dir);
    char rec[128], rec_file[128];
    snprintf(rec, sizeof rec, "sqlite:%s/records.db", dir);
    snprintf(rec_file, sizeof rec_file, "%s/records.db", dir);
    setenv("LLMUX_RECORDS", rec, 1);
    setenv("HOME", dir, 1);
    cli_child c;
    char *bad_frame[] = {LLMUX, "serve", "--unix", sock, "--max-frame", "10", NULL};
    cli_spawn(&c, bad_frame, err_path, true);
    int st = cli_child_wait(&c, 30);
    assert_int_equal(WEXITSTATUS(st), 2);
    /* A world-writable directory is refused: configuration (24), nothing created. */
    char *in_tmp[] = {LLMUX, "serve", "--unix", "/tmp/llmux-cli-ipc-test.sock", NULL};
    cli_spawn(&c, in_tmp, err_path, true);
    st = cli_child_wait(&c, 60);
    assert_int_equal(WEXITSTATUS(st), 24);
    cli_read_small_file(err_path, errbuf, sizeof errbuf);
    assert_non_null(strstr(errbuf, "others may write"));
    struct stat sb;
    assert_int_not_equal(lstat("/tmp/llmux-cli-ipc-test.sock", &sb), 0);
    unlink(err_path);
    unlink(rec_file);
    assert_int_equal(rmdir(dir), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_errors_and_exit_codes),
        cmocka_unit_test(test_sigint_cancels),
        cmocka_unit_test(test_with_http),
        cmocka_unit_test(test_serve_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
