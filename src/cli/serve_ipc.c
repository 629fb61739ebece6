/* The IPC half of `llmux serve` (serve_ipc.h). */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "serve_ipc.h"

int cli_serve_size_arg(const char *opt, const char *arg, size_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (!*arg || *end || errno || v < 1024 || v > LLMUX_JSON_MAX_BYTES)
        return cli_usage_error("%s: expected 1024..%u bytes, got \"%s\"", opt, LLMUX_JSON_MAX_BYTES, arg);
    *out = (size_t)v;
    return 0;
}

llmux_status cli_serve_ipc_start(llmux_runtime *rt, const lx_ipc_params *p, lx_ipc_server **out, llmux_error_info *err) {
    llmux_status st = lx_ipc_server_start(rt, p, out, err);
    if (st != LLMUX_OK) return st;
    printf("llmux: serving IPC on unix:%s (token in %s; try: llmux ipc --socket %s \"Hello\")\n", p->path,
           lx_ipc_server_token_path(*out), p->path);
    fflush(stdout);
    return LLMUX_OK;
}

void cli_serve_ipc_stop(lx_ipc_server *ipc, lx_server *srv, int64_t grace_ms) {
    int64_t start = cli_now_ms();
    lx_ipc_server_drain(ipc);
    lx_server_stop(srv, grace_ms);
    int64_t left = grace_ms - (cli_now_ms() - start);
    lx_ipc_server_stop(ipc, left > 0 ? left : 0);
}
