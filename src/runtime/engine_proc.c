/* Starting, reaping and describing the engine child (engine_proc.h). */
#define _GNU_SOURCE
#include "runtime/engine_proc.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARGS 128
/* Environment variables the child keeps: only the sanitizers' options (a sanitizer build is a
 * test build, and their runtimes read them at start). Everything else, API keys first, stays
 * in the parent: the child starts with no secret to leak (cmd_engine.c then needs no re-exec). */
#define MAX_ENV 8

static bool fail(char *why, size_t size, const char *what, int e) {
    snprintf(why, size, "%s: %s", what, strerror(e));
    return false;
}

bool lx_engine_spawn(const char *path, const char *const *args, size_t n_args, lx_engine_child *out, char *why,
                     size_t why_size) {
    out->pid = 0;
    out->sock = -1;
    if (n_args > MAX_ARGS - 6) return fail(why, why_size, "engine arguments", E2BIG);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return fail(why, why_size, "socketpair", errno);
    /* dup2 onto the same number would leave close-on-exec set on some C libraries: move the
     * child's end out of the way first. */
    if (sv[1] == LX_ENGINE_CHILD_FD) {
        int moved = fcntl(sv[1], F_DUPFD_CLOEXEC, LX_ENGINE_CHILD_FD + 1);
        if (moved < 0) {
            int e = errno;
            close(sv[0]);
            close(sv[1]);
            return fail(why, why_size, "fcntl", e);
        }
        close(sv[1]);
        sv[1] = moved;
    }
    char *argv[MAX_ARGS];
    size_t n = 0;
    char fdnum[16];
    snprintf(fdnum, sizeof fdnum, "%d", LX_ENGINE_CHILD_FD);
    argv[n++] = "llmux"; /* what ps shows: `llmux engine --fd 3 ...` (path may be /proc/self/exe) */
    argv[n++] = "engine";
    argv[n++] = "--fd";
    argv[n++] = fdnum;
    for (size_t i = 0; i < n_args; i++) argv[n++] = (char *)args[i];
    argv[n] = NULL;
    extern char **environ;
    char *envp[MAX_ENV];
    size_t ne = 0;
    /* LeakSanitizer's exit check stops the world with ptrace, which the child's seccomp filter
     * answers with a kill: a sanitizer build's child runs without it. */
    char asan[1024];
    for (char **e = environ; e && *e && ne < MAX_ENV - 1; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || eq - *e < 11 || strncmp(eq - 11, "SAN_OPTIONS", 11) != 0) continue;
        if (strncmp(*e, "ASAN_OPTIONS=", 13) == 0 && snprintf(asan, sizeof asan, "%s:detect_leaks=0", *e) < (int)sizeof asan)
            envp[ne++] = asan;
        else
            envp[ne++] = *e;
    }
    envp[ne] = NULL;

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    /* Descriptor 3 is the child's end (dup2 clears close-on-exec); every other descriptor above
     * stderr is closed, whatever the host program left without close-on-exec. */
    int rc = posix_spawn_file_actions_adddup2(&fa, sv[1], LX_ENGINE_CHILD_FD);
    if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&fa, LX_ENGINE_CHILD_FD + 1);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    /* The child blocks what it waits for itself; ignored signals (a server ignores SIGPIPE) would
     * otherwise stay ignored across exec. */
    if (rc == 0) rc = posix_spawnattr_setsigmask(&at, &none);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&at, &all);
    if (rc == 0) rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = 0;
    if (rc == 0) rc = posix_spawn(&pid, path, &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(sv[1]);
    if (rc != 0) {
        close(sv[0]);
        char what[PATH_MAX + 32];
        snprintf(what, sizeof what, "starting %s", path);
        return fail(why, why_size, what, rc);
    }
    int fl = fcntl(sv[0], F_GETFL);
    if (fl >= 0) fcntl(sv[0], F_SETFL, fl | O_NONBLOCK);
    out->pid = pid;
    out->sock = sv[0];
    return true;
}

bool lx_engine_reap(pid_t pid, int *wstatus) {
    int st = 0;
    pid_t r;
    do r = waitpid(pid, &st, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == pid) {
        *wstatus = st;
        return true;
    }
    if (r < 0) { /* ECHILD: someone else reaped it (or SIGCHLD is ignored) */
        *wstatus = -1;
        return true;
    }
    return false;
}

void lx_engine_stop_child(pid_t pid, int wait_ms) {
    if (pid <= 0) return;
    int st;
    for (int waited = 0; waited < wait_ms; waited += 5) {
        if (lx_engine_reap(pid, &st)) return;
        nanosleep(&(struct timespec){.tv_nsec = 5 * 1000000L}, NULL);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
}

void lx_engine_describe_end(int wstatus, const char *killed_why, char *out, size_t size) {
    if (killed_why) {
        snprintf(out, size, "was killed by the runtime: %s", killed_why);
    } else if (wstatus == -1) {
        snprintf(out, size, "ended (its exit status was taken by another waiter)");
    } else if (WIFSIGNALED(wstatus)) {
        int sig = WTERMSIG(wstatus);
        const char *name = sigabbrev_np(sig);
        if (sig == SIGSYS)
            snprintf(out, size, "was killed by its seccomp filter (signal %d, SIGSYS: it made a forbidden system call)", sig);
        else if (sig == SIGKILL)
            snprintf(out, size, "was killed (signal 9, SIGKILL; e.g. by the kernel's out-of-memory killer)");
        else
            snprintf(out, size, "crashed (signal %d, SIG%s)", sig, name ? name : "?");
    } else if (WIFEXITED(wstatus)) {
        snprintf(out, size, "exited with status %d", WEXITSTATUS(wstatus));
    } else {
        snprintf(out, size, "ended (wait status %#x)", (unsigned)wstatus);
    }
}

static char *executable(const char *dir, const char *rel) {
    char p[PATH_MAX];
    int k = snprintf(p, sizeof p, "%s/%s", dir, rel);
    struct stat sb;
    if (k < 0 || (size_t)k >= sizeof p || stat(p, &sb) != 0 || !S_ISREG(sb.st_mode) || access(p, X_OK) != 0)
        return NULL;
    char real[PATH_MAX];
    return strdup(realpath(p, real) ? real : p);
}

/* An address inside this library (or program): dladdr names the file it was loaded from. */
static const char k_anchor = 0;

char *lx_engine_default_path(void) {
    Dl_info info;
    if (dladdr(&k_anchor, &info) && info.dli_fname && strchr(info.dli_fname, '/')) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", info.dli_fname);
        *strrchr(dir, '/') = 0;
        char *p = executable(dir, "llmux");
        if (!p) p = executable(dir, "../bin/llmux");
        if (p) return p;
    }
    const char *path = getenv("PATH");
    if (!path) return NULL;
    while (*path) {
        size_t n = strcspn(path, ":");
        char dir[PATH_MAX];
        if (n > 0 && n < sizeof dir) {
            memcpy(dir, path, n);
            dir[n] = 0;
            char *p = executable(dir, "llmux");
            if (p) return p;
        }
        path += n + (path[n] == ':');
    }
    return NULL;
}
