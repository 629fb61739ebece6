/* Process identity and limits: the environment (API keys live there), the user (root can undo
 * every other layer: load modules, ptrace anyone, read every file), and resource limits. */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "sandbox/layers.h"

int lx_sbx_clear_env(const char *const *keep, size_t n_keep, char *msg, size_t msg_len) {
    /* Copy the kept values first: clearenv() invalidates the strings getenv() returned. */
    enum { MAX_KEEP = 16 };
    if (n_keep > MAX_KEEP) {
        snprintf(msg, msg_len, "too many environment variables to keep (%zu, at most %d)", n_keep, MAX_KEEP);
        return -1;
    }
    char *values[MAX_KEEP] = {0};
    for (size_t i = 0; i < n_keep; i++) {
        const char *v = getenv(keep[i]);
        if (v && !(values[i] = strdup(v))) {
            for (size_t j = 0; j < i; j++) free(values[j]);
            snprintf(msg, msg_len, "out of memory keeping %s", keep[i]);
            return -1;
        }
    }
    int rc = clearenv() == 0 ? 0 : -1;
    if (rc != 0) snprintf(msg, msg_len, "clearenv failed");
    for (size_t i = 0; i < n_keep; i++) {
        if (rc == 0 && values[i] && setenv(keep[i], values[i], 1) != 0) {
            snprintf(msg, msg_len, "setenv %s: %s", keep[i], strerror(errno));
            rc = -1;
        }
        free(values[i]);
    }
    return rc;
}

int lx_sbx_drop_user(uid_t uid, gid_t gid, bool *dropped, char *msg, size_t msg_len) {
    *dropped = false;
    if (geteuid() != 0 && getuid() != 0) return 0; /* nothing to give up */
    if (uid == 0 || gid == 0) {
        snprintf(msg, msg_len, "the sandbox user and group must not be root (uid %u, gid %u)", (unsigned)uid,
                 (unsigned)gid);
        return -1;
    }
    /* Groups first: after setresuid the process may no longer change them. All three ids
     * (real, effective, saved) so that nothing can switch back. */
    if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) {
        snprintf(msg, msg_len, "dropping to uid %u gid %u: %s", (unsigned)uid, (unsigned)gid, strerror(errno));
        return -1;
    }
    /* Paranoia from CERT POS37-C: regaining root must now fail. */
    if (setuid(0) == 0 || geteuid() == 0) {
        snprintf(msg, msg_len, "root could be regained after dropping privileges");
        return -1;
    }
    *dropped = true;
    return 0;
}

static int set_limit(int resource, rlim_t value, const char *name, char *msg, size_t msg_len) {
    struct rlimit r;
    if (getrlimit(resource, &r) != 0) r.rlim_max = RLIM_INFINITY;
    if (r.rlim_max != RLIM_INFINITY && r.rlim_max < value) value = r.rlim_max; /* only lower */
    r.rlim_cur = r.rlim_max = value;
    if (setrlimit(resource, &r) != 0) {
        snprintf(msg, msg_len, "setrlimit %s: %s", name, strerror(errno));
        return -1;
    }
    return 0;
}

int lx_sbx_limit_resources(unsigned long max_open_files, char *msg, size_t msg_len) {
    /* RLIMIT_NPROC is deliberately not set: it counts threads (tasks) per real user across the
     * whole system, so 0 would stop llama.cpp from starting its worker threads, and root with
     * CAP_SYS_RESOURCE ignores it anyway. New processes are refused by seccomp instead (fork,
     * vfork, clone without CLONE_THREAD), which does not depend on the user. */
    if (set_limit(RLIMIT_NOFILE, (rlim_t)max_open_files, "RLIMIT_NOFILE", msg, msg_len) != 0) return -1;
    /* No core dumps: a crash must not write model memory or prompts to disk. */
    return set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE", msg, msg_len);
}
