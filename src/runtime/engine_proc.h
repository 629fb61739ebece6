/* The engine child as a process: starting `llmux engine --fd 3` over a socketpair, reaping it,
 * and saying how it ended. No event loop here; the supervisor (engine_sup.h) drives these from
 * the runtime's loop thread. Linux only. */
#ifndef LX_ENGINE_PROC_H
#define LX_ENGINE_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The descriptor number the child finds its end of the socketpair at. */
#define LX_ENGINE_CHILD_FD 3
/* The user (and group) the child's sandbox switches to when it is started as root (the sandbox's
 * default, sandbox/sandbox.h, which the runtime may not include). */
#define LX_ENGINE_CHILD_UID 65534

typedef struct lx_engine_child {
    pid_t pid;  /* 0 when none */
    int sock;   /* the parent's end: non-blocking, close-on-exec; -1 when none */
} lx_engine_child;

/* Starts `path engine --fd 3 args...` (args: n_args extra arguments) with a new socketpair's
 * other end as descriptor 3 and no other descriptor of this process besides 0-2, every signal at
 * its default disposition and none blocked. Safe from a multi-threaded process (posix_spawn).
 * False with why set (nothing left open) when the socketpair or the spawn fails; a program that
 * exists but cannot run shows up as a child that exits at once (status 127). */
bool lx_engine_spawn(const char *path, const char *const *args, size_t n_args, lx_engine_child *out, char *why,
                     size_t why_size);

/* Whether the child has ended, without waiting: true with *wstatus (waitpid's) once it was
 * reaped; also true with *wstatus = -1 when it cannot be waited for (ECHILD: the host program
 * reaps its children itself). */
bool lx_engine_reap(pid_t pid, int *wstatus);

/* Waits up to wait_ms for the child to end by itself, then kills it (SIGKILL) and reaps it. */
void lx_engine_stop_child(pid_t pid, int wait_ms);

/* How the child ended, for errors and logs: "crashed (signal 11, SIGSEGV)", "was killed by its
 * seccomp filter (SIGSYS: it made a forbidden system call)", "was killed (signal 9, SIGKILL;
 * e.g. by the kernel's out-of-memory killer)", "exited with status 1". killed_why: when the
 * runtime itself killed it, why (the text then says so instead); NULL otherwise. */
void lx_engine_describe_end(int wstatus, const char *killed_why, char *out, size_t size);

/* The llmux executable next to the library holding this code (DIR/llmux or DIR/../bin/llmux),
 * else the first `llmux` on $PATH; malloc'd, or NULL when there is none. */
char *lx_engine_default_path(void);

#endif
