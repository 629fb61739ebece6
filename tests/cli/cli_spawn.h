/* Running `llmux` as a child the test can signal: fork + exec with stdout on a pipe the test
 * reads (and may close early), stderr into a file, stdin from /dev/null, SIGPIPE ignored or
 * default. Header-only (static functions) for the tests/cli programs that need a pid; include
 * after <cmocka.h>. */
#ifndef LX_TEST_CLI_SPAWN_H
#define LX_TEST_CLI_SPAWN_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct cli_child {
    pid_t pid;
    int out;          /* read end of the child's stdout; -1 once closed */
    char out_buf[1 << 16];
    size_t out_len;   /* bytes read from out so far (NUL-terminated in out_buf) */
} cli_child;

static double cli_now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* argv[0] is the program path. stderr goes to err_path (truncated). */
static void cli_spawn(cli_child *c, char *const argv[], const char *err_path, bool ignore_sigpipe) {
    int p[2];
    assert_int_equal(pipe(p), 0);
    memset(c, 0, sizeof *c);
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0) {
        /* A disposition set to "ignore" survives exec; that is the condition under test. */
        signal(SIGPIPE, ignore_sigpipe ? SIG_IGN : SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        int in = open("/dev/null", O_RDONLY);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || err < 0) _exit(127);
        dup2(in, 0);
        dup2(p[1], 1);
        dup2(err, 2);
        close(p[0]);
        close(p[1]);
        close(in);
        close(err);
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    c->out = p[0];
}

/* Reads stdout until it holds `want` (NULL: until EOF) or timeout_s passes. True when found. */
static bool cli_child_read_until(cli_child *c, const char *want, double timeout_s) {
    double end = cli_now_s() + timeout_s;
    while (c->out >= 0) {
        if (want && strstr(c->out_buf, want)) return true;
        int left = (int)((end - cli_now_s()) * 1000);
        if (left <= 0) return false;
        struct pollfd pfd = {c->out, POLLIN, 0};
        int r = poll(&pfd, 1, left);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        if (c->out_len + 1 >= sizeof c->out_buf) return want == NULL ? false : strstr(c->out_buf, want) != NULL;
        ssize_t n = read(c->out, c->out_buf + c->out_len, sizeof c->out_buf - 1 - c->out_len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            close(c->out);
            c->out = -1;
            break;
        }
        c->out_len += (size_t)n;
        c->out_buf[c->out_len] = '\0';
    }
    return want ? strstr(c->out_buf, want) != NULL : true;
}

/* Closes the test's end of the child's stdout: the reader leaves. */
static void cli_child_close_out(cli_child *c) {
    if (c->out >= 0) close(c->out);
    c->out = -1;
}

/* Waits up to timeout_s for the child; on timeout kills it (SIGKILL) and fails the test. Returns
 * the raw wait status. */
static int cli_child_wait(cli_child *c, double timeout_s) {
    double end = cli_now_s() + timeout_s;
    int st = 0;
    for (;;) {
        pid_t r = waitpid(c->pid, &st, WNOHANG);
        if (r == c->pid) break;
        if (cli_now_s() > end) {
            kill(c->pid, SIGKILL);
            waitpid(c->pid, &st, 0);
            cli_child_close_out(c);
            fail_msg("llmux did not end within %.0f s", timeout_s);
        }
        /* Keep draining stdout so the child never blocks on a full pipe. */
        if (c->out >= 0) {
            struct pollfd pfd = {c->out, POLLIN, 0};
            if (poll(&pfd, 1, 10) > 0) {
                char sink[4096];
                size_t room = sizeof c->out_buf - 1 - c->out_len;
                ssize_t n = read(c->out, room ? c->out_buf + c->out_len : sink, room ? room : sizeof sink);
                if (n <= 0) {
                    cli_child_close_out(c);
                } else if (room) {
                    c->out_len += (size_t)n;
                    c->out_buf[c->out_len] = '\0';
                }
            }
        } else {
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    /* Whatever the child wrote last. */
    if (c->out >= 0) cli_child_read_until(c, NULL, 5);
    cli_child_close_out(c);
    return st;
}

/* A small file's content into buf (NUL-terminated; "" when missing). */
static void cli_read_small_file(const char *path, char *buf, size_t size) {
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, size - 1, f) : 0;
    buf[n] = '\0';
    if (f) fclose(f);
}

#endif
