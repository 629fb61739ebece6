/* `llmux serve --unix PATH`: llmux's IPC server on a Unix socket (docs/ipc.md). It runs on the
 * runtime's own libevent loop (llmux_runtime_event_base), next to the HTTP server or alone:
 * socket callbacks and the executions' callbacks (llmux_submit) all run on the loop thread.
 *
 * A client connects, proves it may read PATH.token (hello with the token), gets a session id
 * (welcome) and then runs any number of executions at once on the connection: request frames
 * tagged with a client-chosen id, answered by event frames and one response frame each; cancel
 * frames stop one. Uses the public API only. The process ignores SIGPIPE (`llmux serve` does): a
 * write to a client that left must be an error, not a signal. */
#ifndef LX_IPC_H
#define LX_IPC_H

#include <stddef.h>
#include <stdint.h>

#include "llmux.h"
#include "server/ipc/endpoint.h"
#include "core/ipc_frame.h"

#define LX_IPC_DEFAULT_MAX_EXECUTIONS 64
#define LX_IPC_DEFAULT_MAX_UNSENT ((size_t)16 * 1024 * 1024)
#define LX_IPC_DEFAULT_MAX_CONNECTIONS 256
#define LX_IPC_DEFAULT_HANDSHAKE_MS 10000

typedef struct lx_ipc_params {
    const char *path;          /* the socket (copied); PATH.token is written next to it */
    size_t max_frame_bytes;    /* payload cap of a frame, both directions (LX_FRAME_DEFAULT_MAX) */
    int max_executions;        /* executions in flight per connection; more → queue_full error */
    size_t max_unsent_bytes;   /* bytes a client leaves unread: past this its executions are
                                  cancelled; past twice this plus one frame the connection
                                  is closed */
    int max_connections;       /* open connections; more are closed at once */
    int handshake_timeout_ms;  /* a connection without a valid hello by then is closed */
    /* For `llmux engine` (src/sandbox/engine.c), whose sandbox forbids bind(2): */
    lx_ipc_endpoint *opened;   /* an endpoint the caller opened (lx_ipc_endpoint_open) before it
                                  lost the right to bind; the server takes it over and path is
                                  ignored. NULL = open path */
    int inherited_fd;          /* >= 0: serve only this connected stream socket (one end of a
                                  socketpair from the parent), no listener and no token file; the
                                  hello's token is not compared (docs/ipc.md says why). The server
                                  owns it from the call on. -1 (default) = listen */
    bool local_only;           /* requests naming a remote model ("provider/model") get a
                                  model_not_found error frame and never reach the runtime */
    int sandbox_landlock_abi;  /* `llmux engine` only: >= 0 adds its sandbox report to the
                                  welcome (lx_ipc_welcome_sandboxed); -1 (default) = none */
    const char *sandbox_warning; /* with it: the sandbox's warning, NULL or "" when complete;
                                  borrowed for the server's life */
    bool test_hooks;           /* `llmux engine --test-hooks` only: a request whose metadata has
                                  llmux_test_hook = "abort" aborts the process, "hang" stops the
                                  loop thread for good, "exec" runs /bin/sh (the seccomp filter
                                  kills the process); ignored otherwise */
} lx_ipc_params;

lx_ipc_params lx_ipc_default_params(void);

typedef struct lx_ipc_server lx_ipc_server;

/* Creates the socket and token file (endpoint.h) and starts serving on rt's loop. Not from the
 * loop thread. LLMUX_E_CONFIGURATION when the socket cannot be set up (the message says why),
 * LLMUX_E_INVALID_REQUEST for bad params. rt must outlive the server. */
llmux_status lx_ipc_server_start(llmux_runtime *rt, const lx_ipc_params *p, lx_ipc_server **out, llmux_error_info *err);
/* The token file's path (owned by the server). */
const char *lx_ipc_server_token_path(const lx_ipc_server *s);
/* Executions in flight, and open connections. Any thread. */
int lx_ipc_server_active(lx_ipc_server *s);
int lx_ipc_server_connections(lx_ipc_server *s);
/* Stops taking connections and requests (new requests get an `overloaded` error) and removes the
 * socket and token files; executions in flight go on. Not from the loop thread. */
void lx_ipc_server_drain(lx_ipc_server *s);
/* Drains, lets executions in flight finish for up to grace_ms, cancels the rest (their clients
 * get a cancelled terminal event and their response), closes every connection and frees the
 * server. Not from the loop thread. Accepts NULL. */
void lx_ipc_server_stop(lx_ipc_server *s, int64_t grace_ms);

#endif
