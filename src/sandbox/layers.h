/* The sandbox's layers, one file each (fds.c, landlock.c, seccomp.c, limits.c); sandbox.c calls
 * them in order. Each returns 0, or -1 with msg (msg_len bytes) saying why. */
#ifndef LLMUX_SANDBOX_LAYERS_H
#define LLMUX_SANDBOX_LAYERS_H

#include <stddef.h>

#include "sandbox/sandbox.h"

/* Closes every descriptor >= 3 not in keep; points 0, 1 and 2 at /dev/null unless kept. */
int lx_sbx_close_fds(const int *keep, size_t n_keep, int *closed, char *msg, size_t msg_len);
/* Empties the environment except the named variables. */
int lx_sbx_clear_env(const char *const *keep, size_t n_keep, char *msg, size_t msg_len);
/* Root only (else a no-op): no supplementary groups, then gid, then uid; checks root is gone. */
int lx_sbx_drop_user(uid_t uid, gid_t gid, bool *dropped, char *msg, size_t msg_len);
/* RLIMIT_NOFILE (soft and hard) and RLIMIT_CORE 0. */
int lx_sbx_limit_resources(unsigned long max_open_files, char *msg, size_t msg_len);
/* The kernel's Landlock ABI version, 0 when Landlock is absent or disabled. */
int lx_sbx_landlock_abi(void);
/* Restricts this thread (and its future threads and children) to the rules of p. */
int lx_sbx_landlock_apply(const lx_sandbox_params *p, int abi, char *msg, size_t msg_len);
/* Installs the seccomp filter on every thread of the process. */
int lx_sbx_seccomp_apply(char *msg, size_t msg_len);

#endif
