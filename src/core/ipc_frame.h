/* Length-prefixed frames: a 4-byte big-endian payload length followed by that many payload bytes
 * (for llmux's IPC, one UTF-8 JSON object). The codec knows nothing of the runtime, libevent or
 * JSON and does no I/O (src/server/ipc/frame_io.h reads and writes frames on a descriptor), so any
 * process can speak it: `llmux serve --unix` and its clients (docs/ipc.md), and the
 * runtime <-> sandboxed engine channel.
 *
 * Every reader takes a cap on the payload length and refuses a larger frame as soon as its
 * header is seen, before any payload is buffered: memory stays bounded by the cap. A zero-length
 * frame is valid framing (the layer above decides whether an empty payload means anything). */
#ifndef LX_IPC_FRAME_H
#define LX_IPC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define LX_FRAME_HEADER_BYTES 4
/* The default cap on a payload (8 MiB); the codec accepts any cap up to LX_FRAME_MAX_CAP. */
#define LX_FRAME_DEFAULT_MAX ((size_t)8 * 1024 * 1024)
/* The largest cap a reader may be given: the length must fit the 32-bit header. */
#define LX_FRAME_MAX_CAP ((size_t)UINT32_MAX)

typedef enum lx_frame_status {
    LX_FRAME_OK = 0,        /* a whole frame is there */
    LX_FRAME_NEED_MORE = 1, /* not yet: the header or part of the payload is missing */
    LX_FRAME_TOO_LARGE = 2, /* the header announces more than the cap: the stream is unusable */
    LX_FRAME_IO = 3,        /* read/write failed (errno says why) */
    LX_FRAME_EOF = 4,       /* the peer closed the stream between two frames */
    LX_FRAME_TRUNCATED = 5, /* the peer closed the stream inside a frame */
    LX_FRAME_NOMEM = 6
} lx_frame_status;

/* "ok", "need_more", "too_large", ... for messages. */
const char *lx_frame_status_name(lx_frame_status st);

/* Writes the header of a len-byte payload into out. len must be <= LX_FRAME_MAX_CAP. */
void lx_frame_put_header(uint8_t out[LX_FRAME_HEADER_BYTES], uint32_t len);

/* Looks at the first n bytes of a stream (a view, nothing is copied): OK with *payload_len set
 * when a whole frame of at most max payload bytes is there (it then occupies
 * LX_FRAME_HEADER_BYTES + *payload_len bytes from buf); NEED_MORE when more bytes are needed
 * (*payload_len is set once the header is complete, so a caller can tell how much to wait for);
 * TOO_LARGE when the header announces more than max (*payload_len = the announced length). */
lx_frame_status lx_frame_peek(const uint8_t *buf, size_t n, size_t max, size_t *payload_len);

/* Header + payload in one malloc'd buffer (*out, owned by the caller; *out_len its size).
 * TOO_LARGE when len > max; NOMEM. */
lx_frame_status lx_frame_encode(const void *payload, size_t len, size_t max, uint8_t **out, size_t *out_len);

#endif
