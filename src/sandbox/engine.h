/* `llmux engine`: the engine child process (docs/sandbox.md, "The engine process"). It applies
 * the sandbox (sandbox.h) to itself before it reads any model, then runs a runtime that has only
 * local models (no providers configured, no records, no telemetry files, an empty environment so
 * no keys) and serves it with the IPC server (src/server/ipc/): the framing, handshake and session
 * ids of `llmux serve --unix`, restricted to local models.
 *
 * Two ways to reach it:
 *  - socket_path: debug mode; it listens there and writes PATH.token, as `llmux serve --unix`.
 *    The socket is created before the sandbox (which forbids bind).
 *  - inherited_fd: normal mode; one end of a socketpair the runtime made. Only the parent holds
 *    the other end, so possession of the descriptor is the authentication and the hello's token
 *    is not compared. The process exits when that connection closes. */
#ifndef LLMUX_SANDBOX_ENGINE_H
#define LLMUX_SANDBOX_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llmux.h"

typedef struct lx_engine_params {
    const char *socket_path;          /* debug mode; NULL when inherited_fd is used */
    int inherited_fd;                 /* normal mode; -1 when socket_path is used */
    const char *const *model_dirs;    /* read-only beneath each; at least one */
    size_t n_model_dirs;
    const char *cache_dir;            /* read-write beneath it, and the runtime's
                                         local_prompt_cache_dir (prompt prefixes saved as files
                                         and restored by the next engine); NULL = none */
    int64_t prompt_cache_dir_mb;      /* bytes of all cache files there; 0 = the default */
    int32_t n_threads;                /* engine threads; 0 = number of cores */
    int32_t n_ctx;                    /* local context size; 0 = the model's, capped */
    size_t max_frame_bytes;           /* 0 = LX_FRAME_DEFAULT_MAX */
    int64_t grace_ms;                 /* on SIGTERM/SIGINT, how long in-flight requests may
                                         finish before they are cancelled; 0 = cancel at once */
    /* The runtime's local settings (llmux_runtime_params local_*; 0 = its defaults, except
       prompt_cache_mb: -1 = the default, 0 = off). */
    int32_t slots;
    int32_t prompt_cache_mb;
    int32_t max_waiting;
    int64_t max_wait_ms;
    int64_t memory_budget_mb;
    int64_t idle_unload_s;
    bool require_sandbox;             /* refuse to start when a layer is missing (no Landlock) */
    uint32_t uid, gid;                /* started as root: the user and group to become; 0 =
                                         the sandbox's default (65534) */
    bool test_hooks;                  /* `--test-hooks`: requests whose metadata has
                                         llmux_test_hook = abort | hang | exec make the process
                                         abort, hang its event loop, or exec a shell (a seccomp
                                         kill): how the supervision tests crash a real child */
    void (*on_ready)(const char *socket_path, const char *token_path, void *ud); /* before the
                                         sandbox closes stdout; NULL = none */
    void *on_ready_ud;
} lx_engine_params;

/* Runs the engine until SIGTERM or SIGINT (or, with inherited_fd, until the peer closes), then
 * stops the IPC server (cancelling what is still in flight after grace_ms) and the runtime.
 * Must be called from a single-threaded process (the sandbox's Landlock rule); it blocks
 * SIGTERM, SIGINT and SIGHUP and ignores SIGPIPE. LLMUX_OK after a clean stop; otherwise err
 * says which step failed (LLMUX_E_CONFIGURATION or LLMUX_E_PERMISSION from the socket or the
 * sandbox, the runtime's or IPC server's status). Descriptors 0 and 1 point at /dev/null
 * afterwards; stderr (2) is kept for the runtime's log lines. */
llmux_status lx_engine_run(const lx_engine_params *p, llmux_error_info *err);

#endif
