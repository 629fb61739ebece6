/* The frame codec (ipc_frame.h). libc only, no I/O. */
#include <stdlib.h>
#include <string.h>

#include "core/ipc_frame.h"

const char *lx_frame_status_name(lx_frame_status st) {
    switch (st) {
    case LX_FRAME_OK: return "ok";
    case LX_FRAME_NEED_MORE: return "need_more";
    case LX_FRAME_TOO_LARGE: return "too_large";
    case LX_FRAME_IO: return "io";
    case LX_FRAME_EOF: return "eof";
    case LX_FRAME_TRUNCATED: return "truncated";
    case LX_FRAME_NOMEM: return "nomem";
    }
    return "unknown";
}

void lx_frame_put_header(uint8_t out[LX_FRAME_HEADER_BYTES], uint32_t len) {
    out[0] = (uint8_t)(len >> 24);
    out[1] = (uint8_t)(len >> 16);
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
}

static uint32_t get_header(const uint8_t *b) {
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

lx_frame_status lx_frame_peek(const uint8_t *buf, size_t n, size_t max, size_t *payload_len) {
    if (n < LX_FRAME_HEADER_BYTES) return LX_FRAME_NEED_MORE;
    size_t len = get_header(buf);
    *payload_len = len;
    if (len > max) return LX_FRAME_TOO_LARGE;
    return n - LX_FRAME_HEADER_BYTES >= len ? LX_FRAME_OK : LX_FRAME_NEED_MORE;
}

lx_frame_status lx_frame_encode(const void *payload, size_t len, size_t max, uint8_t **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    if (len > max || len > LX_FRAME_MAX_CAP) return LX_FRAME_TOO_LARGE;
    uint8_t *b = malloc(LX_FRAME_HEADER_BYTES + len);
    if (!b) return LX_FRAME_NOMEM;
    lx_frame_put_header(b, (uint32_t)len);
    if (len) memcpy(b + LX_FRAME_HEADER_BYTES, payload, len);
    *out = b;
    *out_len = LX_FRAME_HEADER_BYTES + len;
    return LX_FRAME_OK;
}
