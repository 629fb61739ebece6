/* lx_sandbox_apply: the layers in order, each narrowing what the next may rely on. Descriptors
 * and the environment go first (they hold other processes' secrets); setsid and no_new_privs next;
 * then the user, while setuid is still allowed; resource limits; Landlock, which still needs to
 * open the rule directories; seccomp last, since it would refuse Landlock's own system calls if
 * they were ever added to its list. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "sandbox/layers.h"
#include "sandbox/sandbox.h"

lx_sandbox_params lx_sandbox_default_params(void) {
    lx_sandbox_params p;
    memset(&p, 0, sizeof p);
    p.layers = LX_SANDBOX_ALL;
    p.uid = 65534; /* nobody */
    p.gid = 65534; /* nogroup */
    p.max_open_files = 1024;
    return p;
}

/* Threads of this process (entries of /proc/self/task), -1 when /proc is not mounted. */
static int count_threads(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static llmux_status fail(llmux_error_info *err, llmux_status st, const char *step, const char *why) {
    if (err) {
        memset(err, 0, sizeof *err);
        err->status = st;
        err->retry_after_ms = -1;
        snprintf(err->message, sizeof err->message, "sandbox: %s: %s", step, why);
    }
    return st;
}

llmux_status lx_sandbox_apply(const lx_sandbox_params *p, lx_sandbox_report *out, llmux_error_info *err) {
    lx_sandbox_report local;
    lx_sandbox_report *r = out ? out : &local;
    memset(r, 0, sizeof *r);
    char msg[400] = "";
    unsigned want = p->layers;

    /* Landlock binds only the calling thread (and later children of it): a thread started
     * earlier would keep every file. Refuse rather than leave a hole. */
    int threads = count_threads();
    if ((want & LX_SANDBOX_LANDLOCK) && threads > 1) {
        snprintf(msg, sizeof msg, "called with %d threads; apply it before any thread starts", threads);
        return fail(err, LLMUX_E_CONFIGURATION, "threads", msg);
    }

    if (want & LX_SANDBOX_FDS) {
        if (lx_sbx_close_fds(p->keep_fds, p->n_keep_fds, &r->fds_closed, msg, sizeof msg) != 0)
            return fail(err, LLMUX_E_CONFIGURATION, "descriptors", msg);
        r->applied |= LX_SANDBOX_FDS;
    }
    if (want & LX_SANDBOX_ENV) {
        if (lx_sbx_clear_env(p->env_keep, p->n_env_keep, msg, sizeof msg) != 0)
            return fail(err, LLMUX_E_CONFIGURATION, "environment", msg);
        r->applied |= LX_SANDBOX_ENV;
    }
    if (want & LX_SANDBOX_SESSION) {
        /* EPERM: already a process group leader (started by hand from a shell); it then keeps
         * its terminal, which the fds layer has already replaced with /dev/null. */
        if (setsid() < 0 && getsid(0) != getpid())
            snprintf(r->warning, sizeof r->warning, "setsid: %s (no new session)", strerror(errno));
        else r->applied |= LX_SANDBOX_SESSION;
    }
    if (want & LX_SANDBOX_NNP) {
        /* No setuid binaries or file capabilities can raise privileges again (also required for
         * an unprivileged seccomp filter and Landlock). */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
            return fail(err, LLMUX_E_PERMISSION, "no_new_privs", strerror(errno));
        r->applied |= LX_SANDBOX_NNP;
    }
    if (want & LX_SANDBOX_USER) {
        if (lx_sbx_drop_user(p->uid, p->gid, &r->user_dropped, msg, sizeof msg) != 0)
            return fail(err, LLMUX_E_PERMISSION, "user", msg);
        r->applied |= LX_SANDBOX_USER;
    }
    if (want & LX_SANDBOX_NNP) {
        /* Not dumpable (after the user change, which resets it): other processes of the same
         * user cannot ptrace the engine or read its /proc memory, and no core file is written. */
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
            return fail(err, LLMUX_E_PERMISSION, "dumpable", strerror(errno));
    }
    if (want & LX_SANDBOX_RLIMITS) {
        if (lx_sbx_limit_resources(p->max_open_files ? p->max_open_files : 1024, msg, sizeof msg) != 0)
            return fail(err, LLMUX_E_PERMISSION, "limits", msg);
        r->applied |= LX_SANDBOX_RLIMITS;
    }
    r->landlock_abi = lx_sbx_landlock_abi();
    if (want & LX_SANDBOX_LANDLOCK) {
        if (r->landlock_abi < 1) {
            if (p->require_landlock)
                return fail(err, LLMUX_E_CONFIGURATION, "landlock",
                            "the kernel has no Landlock (needs Linux 5.13+ with lsm=landlock) and sandbox.require is set");
            snprintf(r->warning, sizeof r->warning,
                     "WARNING: the kernel has no Landlock: the engine can read and write every file its user can");
        } else {
            if (lx_sbx_landlock_apply(p, r->landlock_abi, msg, sizeof msg) != 0)
                return fail(err, LLMUX_E_CONFIGURATION, "landlock", msg);
            r->applied |= LX_SANDBOX_LANDLOCK;
        }
    }
    if (want & LX_SANDBOX_SECCOMP) {
        if (lx_sbx_seccomp_apply(msg, sizeof msg) != 0) return fail(err, LLMUX_E_PERMISSION, "seccomp", msg);
        r->applied |= LX_SANDBOX_SECCOMP;
    }
    return LLMUX_OK;
}
