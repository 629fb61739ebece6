/* The file-system side of `llmux serve --unix PATH`: the socket's directory (created 0700 when
 * missing; refused when it belongs to someone else or others may write to it), the listening
 * socket (mode 0600) and the token file PATH.token (mode 0600, 32 random bytes from getrandom as
 * 64 hex digits and a newline), and the client's reading of that file. libc only. */
#ifndef LX_IPC_ENDPOINT_H
#define LX_IPC_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/ipc_message.h"

/* sun_path holds 108 bytes with the terminator. */
#define LX_IPC_MAX_PATH 107
#define LX_IPC_TOKEN_SUFFIX ".token"

typedef struct lx_ipc_endpoint {
    int fd;                                           /* listening, non-blocking; -1 when closed */
    char path[LX_IPC_MAX_PATH + 1];
    char token_path[LX_IPC_MAX_PATH + sizeof LX_IPC_TOKEN_SUFFIX];
    char token[LX_IPC_TOKEN_HEX + 1];
} lx_ipc_endpoint;

/* Checks or creates the directory, writes a fresh token file and listens at path. A stale socket
 * file left by a server that is gone is replaced; one a live server listens on is refused, as is
 * any other kind of file. False with err set (nothing left behind) on failure. */
bool lx_ipc_endpoint_open(const char *path, lx_ipc_endpoint *e, char *err, size_t size);
/* Closes the socket and removes the socket file and the token file. Accepts a closed endpoint. */
void lx_ipc_endpoint_close(lx_ipc_endpoint *e);

/* n random bytes from getrandom as 2n lowercase hex digits and a NUL into out. */
bool lx_ipc_random_hex(char *out, size_t n);

/* "<socket_path>.token" into buf; false when it does not fit. */
bool lx_ipc_token_path(const char *socket_path, char *buf, size_t size);
/* Reads a token file: a regular file holding 64 hex digits (surrounding white space ignored).
 * False with err set otherwise. */
bool lx_ipc_token_read(const char *file, char out[LX_IPC_TOKEN_HEX + 1], char *err, size_t size);

#endif
