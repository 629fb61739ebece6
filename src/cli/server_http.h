/* The CLI's client for a running `llmux serve` (server_http.c): the commands that manage or ask a
 * server rather than run a request themselves (`llmux models load|unload|ps`, `llmux info
 * --server`). One request at a time, JSON in and out, over libcurl. */
#ifndef LLMUX_CLI_SERVER_HTTP_H
#define LLMUX_CLI_SERVER_HTTP_H

#include <stddef.h>
#include <stdint.h>

/* Largest reply body read from a server; a larger one is an error. */
#define CLI_SERVER_MAX_REPLY ((size_t)8 * 1024 * 1024)
/* Longest --server URL. */
#define CLI_SERVER_MAX_URL 2048

typedef struct cli_server_reply {
    long status;  /* HTTP status */
    char *body;   /* NUL-terminated, malloc'd (free it); "" when the reply had none */
    size_t len;
} cli_server_reply;

/* The server's base URL: flag when given, else $LLMUX_SERVER, else "http://127.0.0.1:4000" (the
 * default of `llmux serve`). NULL after printing a usage error when it is not an http(s) URL or
 * longer than CLI_SERVER_MAX_URL. Static storage or flag itself. */
const char *cli_server_url(const char *flag);
/* The API key: flag when given, else $LLMUX_API_KEY, else NULL (none sent). */
const char *cli_server_key(const char *flag);

/* Sends method (GET or POST) to base + path with body (JSON; NULL for none) and, with api_key,
 * "Authorization: Bearer <api_key>"; waits at most timeout_ms (> 0) and stops early on SIGINT /
 * SIGTERM (cli_cancel_begin must be active). Returns 0 with *out filled for any HTTP status;
 * otherwise prints the failure (network, timeout, cancelled, a reply over the cap) and returns its
 * exit code, *out zeroed. */
int cli_server_call(const char *base, const char *method, const char *path, const char *body, const char *api_key,
                    int64_t timeout_ms, cli_server_reply *out);

/* For a reply that is not 2xx: prints the server's error ({"error": {"code", "message"}}, the
 * class from its code) and returns the exit code of its class, as a local failure would give. */
int cli_server_fail(const cli_server_reply *r);

/* Prints a GET /api/ps reply (cmd_models_admin.c): one line per model, or the body itself with
 * json. Returns the exit code. */
int cli_print_ps(const cli_server_reply *r, int json);

#endif
