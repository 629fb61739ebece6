/* `llmux serve --unix PATH`: starting and stopping the IPC server (src/server/ipc/) next to, or
 * instead of, the HTTP server. Kept out of cmd_serve.c so that file only wires the flags. */
#ifndef LLMUX_CLI_SERVE_IPC_H
#define LLMUX_CLI_SERVE_IPC_H

#include <stdint.h>

#include "server/http/server.h"
#include "server/ipc/ipc.h"

/* Parses a frame cap in bytes (1024 .. LLMUX_JSON_MAX_BYTES). 0, or prints the usage error and
 * returns CLI_EXIT_USAGE. */
int cli_serve_size_arg(const char *opt, const char *arg, size_t *out);
/* Starts the IPC server and prints where it listens and where its token is. */
llmux_status cli_serve_ipc_start(llmux_runtime *rt, const lx_ipc_params *p, lx_ipc_server **out, llmux_error_info *err);
/* The graceful stop of both servers (either may be NULL) within one grace period: the IPC server
 * stops taking requests at once, both let their executions finish until the period ends. */
void cli_serve_ipc_stop(lx_ipc_server *ipc, lx_server *srv, int64_t grace_ms);

#endif
