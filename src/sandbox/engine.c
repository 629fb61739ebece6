/* The engine child process (engine.h): socket, sandbox, runtime, IPC server, wait, stop. The
 * order matters: the socket is bound before the sandbox forbids bind, and the runtime (which
 * starts its loop thread, then one thread per loaded model) is created after it, because Landlock
 * restricts only the calling thread and the threads it starts later. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/engine.h"
#include "sandbox/sandbox.h"
#include "server/ipc/endpoint.h"
#include "server/ipc/ipc.h"

#define MAX_MODEL_DIRS 16
/* How often the waiting thread checks that the inherited connection is still there. */
#define POLL_MS 100

static llmux_status fail(llmux_error_info *err, llmux_status st, const char *fmt, const char *a, const char *b) {
    if (err) {
        memset(err, 0, sizeof *err);
        err->status = st;
        err->retry_after_ms = -1;
        snprintf(err->message, sizeof err->message, fmt, a, b);
    }
    return st;
}

/* Log lines of the runtime go to stderr, the one descriptor the sandbox keeps besides the
 * socket: the parent decides where that leads. */
static void log_stderr(llmux_log_level level, const char *msg, void *ud) {
    (void)ud;
    fprintf(stderr, "llmux engine: %s: %s\n", level >= LLMUX_LOG_ERROR ? "error" : level >= LLMUX_LOG_WARN ? "warning" : "info", msg);
}

/* Waits for SIGTERM/SIGINT/SIGHUP (blocked in every thread), or, with an inherited socket, for
 * its connection to be gone. */
static void wait_for_stop(lx_ipc_server *ipc, const sigset_t *set, bool inherited) {
    struct timespec ts = {.tv_sec = 0, .tv_nsec = POLL_MS * 1000000L};
    for (;;) {
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig > 0) return;
        if (inherited && lx_ipc_server_connections(ipc) == 0) return;
    }
}

llmux_status lx_engine_run(const lx_engine_params *p, llmux_error_info *err) {
    if (!p || (!p->socket_path) == (p->inherited_fd < 0))
        return fail(err, LLMUX_E_INVALID_REQUEST, "engine: exactly one of a socket path and an inherited descriptor%s%s", "", "");
    if (p->n_model_dirs < 1 || p->n_model_dirs > MAX_MODEL_DIRS)
        return fail(err, LLMUX_E_INVALID_REQUEST, "engine: 1 to 16 model directories%s%s", "", "");

    /* Blocked before any thread exists, so every thread inherits the mask and only
     * sigtimedwait below takes them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN); /* a write to a peer that left is an error, not a signal */

    /* The sandbox wants absolute directories; resolved now, while the whole tree is visible. */
    char dirs[MAX_MODEL_DIRS][PATH_MAX];
    const char *dir_ptrs[MAX_MODEL_DIRS];
    for (size_t i = 0; i < p->n_model_dirs; i++) {
        if (!realpath(p->model_dirs[i], dirs[i]))
            return fail(err, LLMUX_E_CONFIGURATION, "model directory %s: %s", p->model_dirs[i], strerror(errno));
        dir_ptrs[i] = dirs[i];
    }
    char cache[PATH_MAX];
    if (p->cache_dir && !realpath(p->cache_dir, cache))
        return fail(err, LLMUX_E_CONFIGURATION, "cache directory %s: %s", p->cache_dir, strerror(errno));

    if (p->inherited_fd >= 0) {
        /* A descriptor that is not a connected stream socket (closed, a file, a listener) is the
         * parent's mistake: say so now rather than serve nothing. */
        int type = 0, acc = 0;
        socklen_t len = sizeof type, alen = sizeof acc;
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        char num[16];
        snprintf(num, sizeof num, "%d", p->inherited_fd);
        if (getsockopt(p->inherited_fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM ||
            getsockopt(p->inherited_fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &alen) != 0 || acc ||
            getpeername(p->inherited_fd, (struct sockaddr *)&peer, &plen) != 0)
            return fail(err, LLMUX_E_CONFIGURATION, "--fd %s: not a connected stream socket%s", num, "");
    }
    lx_ipc_endpoint ep = {.fd = -1};
    int sock = p->inherited_fd;
    if (p->socket_path) {
        char msg[300];
        if (!lx_ipc_endpoint_open(p->socket_path, &ep, msg, sizeof msg))
            return fail(err, LLMUX_E_CONFIGURATION, "%s%s", msg, "");
        sock = ep.fd;
        if (p->on_ready) p->on_ready(ep.path, ep.token_path, p->on_ready_ud);
    }
    fflush(stdout);

    lx_sandbox_params sp = lx_sandbox_default_params();
    int keep[2] = {sock, STDERR_FILENO};
    sp.keep_fds = keep;
    sp.n_keep_fds = 2;
    sp.model_dirs = dir_ptrs;
    sp.n_model_dirs = p->n_model_dirs;
    sp.cache_dir = p->cache_dir ? cache : NULL;
    sp.require_landlock = p->require_sandbox;
    if (p->uid) sp.uid = (uid_t)p->uid;
    if (p->gid) sp.gid = (gid_t)p->gid;
    lx_sandbox_report rep;
    bool was_root = geteuid() == 0;
    llmux_status st = lx_sandbox_apply(&sp, &rep, err);
    if (st != LLMUX_OK) {
        /* Partly restricted: the socket file may not be removable any more; try. */
        lx_ipc_endpoint_close(&ep);
        /* The usual cause under `llmux serve` as root (process isolation is its default): a model
         * directory below a 0700 one (a home directory, mkdtemp) that the unprivileged user
         * cannot reach. Say what to do. */
        if (was_root && err && strstr(err->message, "Permission denied")) {
            size_t n = strlen(err->message);
            snprintf(err->message + n, sizeof err->message - n,
                     " (started as root, the engine runs as user %u: every model directory and the "
                     "directories above it must be readable and searchable by that user, the cache "
                     "directory writable; or choose the user with sandbox.user, or set "
                     "local.isolation: in_process)",
                     (unsigned)sp.uid);
        }
        return st;
    }
    if (rep.warning[0]) fprintf(stderr, "llmux engine: warning: %s\n", rep.warning);

    llmux_runtime_params rp = llmux_runtime_default_params();
    rp.model_dirs = dir_ptrs;
    rp.n_model_dirs = p->n_model_dirs;
    rp.n_threads = p->n_threads;
    rp.n_ctx = p->n_ctx;
    rp.local_slots = p->slots;
    if (p->prompt_cache_mb >= 0) rp.local_prompt_cache_mb = p->prompt_cache_mb;
    rp.local_max_waiting = p->max_waiting;
    rp.local_max_wait_ms = p->max_wait_ms;
    rp.local_memory_budget_mb = p->memory_budget_mb;
    rp.local_idle_unload_s = p->idle_unload_s;
    /* The one directory the sandbox lets it write: prompt prefixes saved there survive this
     * process (a crash, a restart) and are restored by the next engine. */
    if (p->cache_dir) {
        rp.local_prompt_cache_dir = cache;
        rp.local_prompt_cache_dir_mb = p->prompt_cache_dir_mb;
    }
    rp.log = log_stderr;
    rp.log_level = LLMUX_LOG_WARN;
    /* No providers, records, telemetry log or trace export: the defaults. The environment is
     * empty, so the hosted providers have no keys either; local_only refuses them anyway. */
    llmux_runtime *rt = NULL;
    st = llmux_runtime_create(&rp, &rt, err);
    if (st != LLMUX_OK) {
        lx_ipc_endpoint_close(&ep);
        if (p->inherited_fd >= 0) close(p->inherited_fd);
        return st;
    }

    lx_ipc_params ip = lx_ipc_default_params();
    if (p->max_frame_bytes) ip.max_frame_bytes = p->max_frame_bytes;
    ip.local_only = true;
    ip.test_hooks = p->test_hooks;
    /* The supervisor learns from the welcome how strong the sandbox is (rep lives until the
     * server stops, below). */
    ip.sandbox_landlock_abi = rep.landlock_abi;
    ip.sandbox_warning = rep.warning;
    /* One client (the runtime) multiplexes every local request on its connection. */
    if (p->inherited_fd >= 0) ip.max_executions = 4096;
    if (p->socket_path) ip.opened = &ep;
    else ip.inherited_fd = p->inherited_fd;
    lx_ipc_server *ipc = NULL;
    st = lx_ipc_server_start(rt, &ip, &ipc, err);
    if (st != LLMUX_OK) {
        lx_ipc_endpoint_close(&ep);
        llmux_runtime_destroy(rt);
        return st;
    }
    wait_for_stop(ipc, &set, p->inherited_fd >= 0);
    lx_ipc_server_stop(ipc, p->grace_ms);
    llmux_runtime_destroy(rt);
    return LLMUX_OK;
}
