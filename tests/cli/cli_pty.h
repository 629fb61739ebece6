/* Running `llmux` on a pseudo-terminal, as a person at a terminal would: the child is a session
 * leader whose controlling terminal is the pty's slave (stdin, stdout and stderr), so a ^C byte
 * written to the master raises SIGINT when the terminal's ISIG is on, and line editors see a real
 * tty. Every read has a deadline: a bug fails the test instead of hanging it. Header-only (static
 * functions) for tests/cli programs; include after <cmocka.h>. */
#ifndef LX_TEST_CLI_PTY_H
#define LX_TEST_CLI_PTY_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

typedef struct cli_pty {
    pid_t pid;
    int master;       /* -1 once closed */
    char buf[1 << 18]; /* everything the child wrote (NUL-terminated; stops growing when full) */
    size_t len;
    size_t mark;      /* cli_pty_expect searches from here */
} cli_pty;

static double cli_pty_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Starts argv (argv[0] is the program path) with the environment entries env ("NAME=value"
 * sets, "NAME" unsets; NULL-terminated) applied on top of the test's. */
static void cli_pty_spawn(cli_pty *p, char *const argv[], const char *const env[]) {
    memset(p, 0, sizeof *p);
    p->master = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(p->master >= 0);
    assert_int_equal(grantpt(p->master), 0);
    assert_int_equal(unlockpt(p->master), 0);
    const char *slave = ptsname(p->master);
    assert_non_null(slave);
    char slave_path[256];
    snprintf(slave_path, sizeof slave_path, "%s", slave);
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        /* A new session: opening the slave makes it the controlling terminal, and this process
         * group the foreground one that ^C signals. */
        setsid();
        int s = open(slave_path, O_RDWR);
        if (s < 0) _exit(127);
        close(p->master);
        dup2(s, 0);
        dup2(s, 1);
        dup2(s, 2);
        if (s > 2) close(s);
        signal(SIGINT, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        for (size_t i = 0; env && env[i]; i++) {
            const char *eq = strchr(env[i], '=');
            if (eq) {
                char name[128];
                snprintf(name, sizeof name, "%.*s", (int)(eq - env[i]), env[i]);
                setenv(name, eq + 1, 1);
            } else {
                unsetenv(env[i]);
            }
        }
        execv(argv[0], argv);
        _exit(127);
    }
}

/* Reads what is available within wait_ms; false at EOF (the child closed the terminal). */
static bool cli_pty_pump(cli_pty *p, int wait_ms) {
    if (p->master < 0) return false;
    struct pollfd pfd = {p->master, POLLIN, 0};
    int r = poll(&pfd, 1, wait_ms);
    if (r < 0 && errno == EINTR) return true;
    if (r <= 0) return true;
    char tmp[4096];
    ssize_t n = read(p->master, tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) return true;
    /* Linux answers EIO once every slave descriptor is closed. */
    if (n <= 0) return false;
    size_t room = sizeof p->buf - 1 - p->len;
    size_t take = (size_t)n < room ? (size_t)n : room;
    memcpy(p->buf + p->len, tmp, take);
    p->len += take;
    p->buf[p->len] = '\0';
    return true;
}

/* Waits up to timeout_s for `want` after the mark; on success moves the mark past it and returns
 * where it starts. Fails the test (printing what arrived) otherwise. */
static const char *cli_pty_expect(cli_pty *p, const char *want, double timeout_s) {
    double end = cli_pty_now() + timeout_s;
    for (;;) {
        char *at = strstr(p->buf + p->mark, want);
        if (at) {
            p->mark = (size_t)(at - p->buf) + strlen(want);
            return at;
        }
        double left = end - cli_pty_now();
        if (left <= 0 || !cli_pty_pump(p, (int)(left * 1000) + 1)) {
            at = strstr(p->buf + p->mark, want);
            if (at) continue;
            fail_msg("no \"%s\" within %.0f s; the terminal shows after the mark:\n%s", want, timeout_s, p->buf + p->mark);
        }
    }
}

/* Waits up to timeout_s until the terminal leaves canonical mode: the line editor is reading
 * keys. libedit prints its prompt before it switches the terminal (on glibc the switch happens
 * at its first read), so keys sent as soon as the prompt shows could still meet the cooked
 * terminal: ^C would raise SIGINT, ^D would end a canonical line. A person cannot type that fast;
 * a test can, so it waits for the switch. Fails the test on timeout. */
static void cli_pty_wait_editing(cli_pty *p, double timeout_s) {
    double end = cli_pty_now() + timeout_s;
    for (;;) {
        struct termios t;
        assert_int_equal(tcgetattr(p->master, &t), 0);
        if (!(t.c_lflag & ICANON)) return;
        if (cli_pty_now() > end) fail_msg("the terminal stayed in canonical mode for %.0f s", timeout_s);
        cli_pty_pump(p, 5);
    }
}

/* Types s (raw bytes: "\r" is Enter, "\x03" Ctrl-C, "\x04" Ctrl-D). */
static void cli_pty_send(cli_pty *p, const char *s) {
    size_t n = strlen(s), off = 0;
    while (off < n) {
        ssize_t w = write(p->master, s + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        assert_true(w > 0);
        off += (size_t)w;
    }
}

/* Waits up to timeout_s for the child to exit (reading the terminal meanwhile so it never blocks
 * on a full one); on timeout kills it and fails the test. Returns the raw wait status. */
static int cli_pty_wait(cli_pty *p, double timeout_s) {
    double end = cli_pty_now() + timeout_s;
    int st = 0;
    for (;;) {
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid) break;
        if (cli_pty_now() > end) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &st, 0);
            fail_msg("llmux did not end within %.0f s; the terminal shows:\n%s", timeout_s, p->buf + p->mark);
        }
        if (!cli_pty_pump(p, 20)) {
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    while (cli_pty_pump(p, 0) && p->master >= 0) {
        struct pollfd pfd = {p->master, POLLIN, 0};
        if (poll(&pfd, 1, 0) <= 0) break;
    }
    close(p->master);
    p->master = -1;
    return st;
}

#endif
