/* The engine child's kernel sandbox (docs/sandbox.md): one call, made by a single-threaded process
 * before it opens any model, that closes inherited descriptors, clears the environment, starts a
 * new session, sets no_new_privs, drops root, lowers resource limits, restricts the file system and
 * TCP with Landlock and forbids dangerous system calls with seccomp. Every step is irreversible. */
#ifndef LLMUX_SANDBOX_SANDBOX_H
#define LLMUX_SANDBOX_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "llmux.h"

/* The layers, in the order lx_sandbox_apply applies them. Production uses LX_SANDBOX_ALL; the
 * tests select one layer at a time to prove that each stops an attempt on its own. */
enum {
    LX_SANDBOX_FDS = 1u << 0,      /* close every descriptor not in keep_fds; 0-2 go to /dev/null */
    LX_SANDBOX_ENV = 1u << 1,      /* empty environment, except the names in env_keep */
    LX_SANDBOX_SESSION = 1u << 2,  /* setsid: no controlling terminal */
    LX_SANDBOX_NNP = 1u << 3,      /* PR_SET_NO_NEW_PRIVS and not dumpable */
    LX_SANDBOX_USER = 1u << 4,     /* root only: drop to uid/gid, no supplementary groups */
    LX_SANDBOX_RLIMITS = 1u << 5,  /* RLIMIT_NOFILE bounded, RLIMIT_CORE 0 */
    LX_SANDBOX_LANDLOCK = 1u << 6, /* file system and TCP access rules */
    LX_SANDBOX_SECCOMP = 1u << 7,  /* system call filter */
    LX_SANDBOX_ALL = 0xffu
};

typedef struct lx_sandbox_params {
    unsigned layers;                  /* LX_SANDBOX_* bits; default LX_SANDBOX_ALL */
    const int *keep_fds;              /* descriptors that stay open (the IPC socket) */
    size_t n_keep_fds;
    const char *const *env_keep;      /* environment variable names kept (e.g. "TZ"); NULL = none */
    size_t n_env_keep;
    const char *const *model_dirs;    /* read-only (files and listings) beneath each; absolute */
    size_t n_model_dirs;
    const char *cache_dir;            /* read-write beneath it; NULL = none */
    const char *tmp_dir;              /* read-write beneath it, private to the child; NULL = none */
    uid_t uid;                        /* when started as root: the user to become (default 65534) */
    gid_t gid;                        /* ... and group (default 65534, nogroup) */
    unsigned long max_open_files;     /* RLIMIT_NOFILE, soft and hard; default 1024 */
    bool require_landlock;            /* refuse (LLMUX_E_CONFIGURATION) when the kernel lacks it */
} lx_sandbox_params;

typedef struct lx_sandbox_report {
    unsigned applied;        /* LX_SANDBOX_* bits actually in force */
    int landlock_abi;        /* the kernel's Landlock ABI; 0 = none (see warning) */
    bool user_dropped;       /* was root, now uid/gid */
    int fds_closed;          /* inherited descriptors closed; -1 = closed by range, count unknown */
    char warning[256];       /* non-empty when a layer could not be applied (e.g. no Landlock) */
} lx_sandbox_report;

lx_sandbox_params lx_sandbox_default_params(void);

/* Applies p->layers in order. Call from a single-threaded process (Landlock restricts only the
 * calling thread and its future children; setuid and seccomp are made process-wide, but a thread
 * started before the call would escape Landlock). On failure the process is left partly
 * restricted and must exit: it returns LLMUX_E_PERMISSION (a kernel refusal, e.g. setuid) or
 * LLMUX_E_CONFIGURATION (a bad parameter, a missing directory, Landlock required but absent),
 * with err->message naming the step. p and the arrays it points to are only read during the
 * call (borrowed); out may be NULL; err may be NULL. Allocates nothing that outlives the call. */
llmux_status lx_sandbox_apply(const lx_sandbox_params *p, lx_sandbox_report *out, llmux_error_info *err);

#endif
