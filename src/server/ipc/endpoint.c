/* The socket, its directory and the token file (endpoint.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "server/ipc/endpoint.h"

bool lx_ipc_random_hex(char *out, size_t n) {
    unsigned char b[64];
    if (n > sizeof b) return false;
    size_t got = 0;
    while (got < n) {
        ssize_t k = getrandom(b + got, n - got, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return false;
        got += (size_t)k;
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * n] = 0;
    explicit_bzero(b, sizeof b);
    return true;
}

bool lx_ipc_token_path(const char *socket_path, char *buf, size_t size) {
    int k = snprintf(buf, size, "%s%s", socket_path, LX_IPC_TOKEN_SUFFIX);
    return k > 0 && (size_t)k < size;
}

/* The directory must be ours alone: whoever may write to it could replace the socket or the
 * token file with their own. Created (one level) when missing. */
static bool check_dir(const char *path, char *err, size_t size) {
    char copy[LX_IPC_MAX_PATH + 1];
    snprintf(copy, sizeof copy, "%s", path);
    const char *dir = dirname(copy);
    struct stat st;
    if (lstat(dir, &st) != 0) {
        if (errno != ENOENT || mkdir(dir, 0700) != 0 || lstat(dir, &st) != 0) {
            snprintf(err, size, "cannot create the socket directory %s: %s", dir, strerror(errno));
            return false;
        }
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, size, "%s is not a directory (a symbolic link is refused too)", dir);
        return false;
    }
    if (st.st_uid != geteuid()) {
        snprintf(err, size, "refusing the socket directory %s: it belongs to uid %u, not to this user (%u)", dir,
                 (unsigned)st.st_uid, (unsigned)geteuid());
        return false;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(err, size, "refusing the socket directory %s: others may write to it (mode %03o; use a 0700 directory)",
                 dir, (unsigned)(st.st_mode & 0777));
        return false;
    }
    return true;
}

/* A socket file already at path: a live server's (refused) or a stale one (removed). */
static bool clear_stale(const char *path, char *err, size_t size) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? true : (snprintf(err, size, "%s: %s", path, strerror(errno)), false);
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, size, "%s exists and is not a socket", path);
        return false;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    bool live = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0) close(fd);
    if (live) {
        snprintf(err, size, "another server is listening on %s", path);
        return false;
    }
    unlink(path);
    return true;
}

static bool write_token(lx_ipc_endpoint *e, char *err, size_t size) {
    if (!lx_ipc_random_hex(e->token, LX_IPC_TOKEN_BYTES)) {
        snprintf(err, size, "getrandom failed: %s", strerror(errno));
        return false;
    }
    unlink(e->token_path); /* a previous server's; the directory is ours */
    int fd = open(e->token_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, size, "cannot create the token file %s: %s", e->token_path, strerror(errno));
        return false;
    }
    char line[LX_IPC_TOKEN_HEX + 2];
    snprintf(line, sizeof line, "%s\n", e->token);
    bool ok = fchmod(fd, 0600) == 0 && write(fd, line, LX_IPC_TOKEN_HEX + 1) == LX_IPC_TOKEN_HEX + 1;
    int saved = errno;
    if (close(fd) != 0) ok = false;
    explicit_bzero(line, sizeof line);
    if (!ok) {
        unlink(e->token_path);
        snprintf(err, size, "cannot write the token file %s: %s", e->token_path, strerror(saved));
    }
    return ok;
}

static bool open_endpoint(const char *path, lx_ipc_endpoint *e, char *err, size_t size) {
    if (!path || !*path || strlen(path) > LX_IPC_MAX_PATH) {
        snprintf(err, size, "socket path: expected 1..%d bytes", LX_IPC_MAX_PATH);
        return false;
    }
    snprintf(e->path, sizeof e->path, "%s", path);
    lx_ipc_token_path(path, e->token_path, sizeof e->token_path);
    if (!check_dir(path, err, size) || !clear_stale(path, err, size)) return false;
    /* The token exists before the socket: a client that sees the socket can read it. */
    if (!write_token(e, err, size)) return false;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    /* bind creates the file with the process umask; the 0700 directory keeps everyone else out
     * until the chmod narrows it to 0600. */
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        snprintf(err, size, "cannot bind %s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        unlink(e->token_path);
        return false;
    }
    if (chmod(path, 0600) != 0 || listen(fd, 64) != 0) {
        snprintf(err, size, "cannot listen on %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        unlink(e->token_path);
        return false;
    }
    e->fd = fd;
    return true;
}

bool lx_ipc_endpoint_open(const char *path, lx_ipc_endpoint *e, char *err, size_t size) {
    memset(e, 0, sizeof *e);
    e->fd = -1;
    if (open_endpoint(path, e, err, size)) return true;
    /* Whatever is at the path now is not ours (another server's socket, a file that is not a
     * socket): a later close must not remove it. */
    memset(e, 0, sizeof *e);
    e->fd = -1;
    return false;
}

void lx_ipc_endpoint_close(lx_ipc_endpoint *e) {
    if (e->fd >= 0) close(e->fd);
    if (e->fd >= 0 || e->path[0]) {
        unlink(e->path);
        unlink(e->token_path);
    }
    e->fd = -1;
    e->path[0] = 0;
    explicit_bzero(e->token, sizeof e->token);
}

bool lx_ipc_token_read(const char *file, char out[LX_IPC_TOKEN_HEX + 1], char *err, size_t size) {
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, size, "cannot open the token file %s: %s", file, strerror(errno));
        return false;
    }
    struct stat st;
    char buf[256];
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) {
        snprintf(err, size, "cannot read the token file %s (not a regular file?)", file);
        return false;
    }
    buf[n] = 0;
    const char *p = buf;
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') p++;
    size_t k = 0;
    while (k < LX_IPC_TOKEN_HEX && ((p[k] >= '0' && p[k] <= '9') || (p[k] >= 'a' && p[k] <= 'f'))) k++;
    const char *rest = p + k;
    while (*rest == ' ' || *rest == '\n' || *rest == '\r' || *rest == '\t') rest++;
    if (k != LX_IPC_TOKEN_HEX || *rest) {
        explicit_bzero(buf, sizeof buf);
        snprintf(err, size, "%s does not hold an llmux token (64 hex digits)", file);
        return false;
    }
    memcpy(out, p, LX_IPC_TOKEN_HEX);
    out[LX_IPC_TOKEN_HEX] = 0;
    explicit_bzero(buf, sizeof buf);
    return true;
}
