/* Blocking frame I/O on a descriptor (frame_io.h). */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "server/ipc/frame_io.h"

/* Reads exactly n bytes; *got says how many arrived before an end of stream. */
static lx_frame_status read_all(int fd, uint8_t *p, size_t n, size_t *got) {
    *got = 0;
    while (*got < n) {
        ssize_t k = read(fd, p + *got, n - *got);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return LX_FRAME_IO;
        if (k == 0) return LX_FRAME_EOF;
        *got += (size_t)k;
    }
    return LX_FRAME_OK;
}

lx_frame_status lx_frame_read_fd(int fd, size_t max, char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    uint8_t h[LX_FRAME_HEADER_BYTES];
    size_t got;
    lx_frame_status st = read_all(fd, h, sizeof h, &got);
    if (st == LX_FRAME_EOF) return got == 0 ? LX_FRAME_EOF : LX_FRAME_TRUNCATED;
    if (st != LX_FRAME_OK) return st;
    size_t n = 0;
    if (lx_frame_peek(h, sizeof h, max, &n) == LX_FRAME_TOO_LARGE) return LX_FRAME_TOO_LARGE;
    char *b = malloc(n + 1);
    if (!b) return LX_FRAME_NOMEM;
    st = read_all(fd, (uint8_t *)b, n, &got);
    if (st != LX_FRAME_OK) {
        free(b);
        return st == LX_FRAME_EOF ? LX_FRAME_TRUNCATED : st;
    }
    b[n] = 0;
    *out = b;
    *len = n;
    return LX_FRAME_OK;
}

lx_frame_status lx_frame_write_fd(int fd, const void *payload, size_t len, size_t max) {
    if (len > max || len > LX_FRAME_MAX_CAP) return LX_FRAME_TOO_LARGE;
    uint8_t h[LX_FRAME_HEADER_BYTES];
    lx_frame_put_header(h, (uint32_t)len);
    /* One writev for small frames, so a frame is usually one segment on the wire. */
    struct iovec iov[2] = {{.iov_base = h, .iov_len = sizeof h}, {.iov_base = (void *)payload, .iov_len = len}};
    int cnt = len ? 2 : 1;
    struct iovec *v = iov;
    while (cnt > 0) {
        ssize_t k = writev(fd, v, cnt);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return LX_FRAME_IO;
        size_t done = (size_t)k;
        while (cnt > 0 && done >= v->iov_len) {
            done -= v->iov_len;
            v++;
            cnt--;
        }
        if (cnt > 0) {
            v->iov_base = (char *)v->iov_base + done;
            v->iov_len -= done;
        }
    }
    return LX_FRAME_OK;
}
