/* Blocking frame I/O on a descriptor, for simple clients (`llmux ipc`, tests, benchmarks): the
 * codec itself (core/ipc_frame.h) does no I/O, so the runtime can share it with the server. */
#ifndef LX_IPC_FRAME_IO_H
#define LX_IPC_FRAME_IO_H

#include <stddef.h>

#include "core/ipc_frame.h"

/* Blocking I/O on a stream socket or pipe, for simple clients and child processes (EINTR is
 * retried; the server side uses lx_frame_peek on its own buffers instead). A writer to a socket
 * whose peer may leave ignores SIGPIPE (the write then fails with EPIPE).
 *
 * lx_frame_read_fd reads one frame: OK with *out a malloc'd copy of the payload plus a NUL byte
 * (owned by the caller) and *len its length; EOF at a clean end of stream; TRUNCATED, TOO_LARGE
 * (nothing of the payload is read: the stream cannot be resynchronised), IO or NOMEM otherwise
 * (*out NULL). */
lx_frame_status lx_frame_read_fd(int fd, size_t max, char **out, size_t *len);
/* Writes one frame (header and payload). TOO_LARGE when len > max; IO with errno set. */
lx_frame_status lx_frame_write_fd(int fd, const void *payload, size_t len, size_t max);

#endif
