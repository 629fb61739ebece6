/* The execution log (exec_log.h). */
#define _DEFAULT_SOURCE
#include "telemetry/exec_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

struct lx_exec_log {
    int fd;
    bool own_fd;              /* a file we opened (stderr is never closed) */
    llmux_log_level min_level;
    atomic_uint_fast64_t failed;
};

llmux_status lx_exec_log_open(const char *where, llmux_log_level min_level, lx_exec_log **out, llmux_error_info *err) {
    *out = NULL;
    lx_exec_log *l = calloc(1, sizeof *l);
    if (!l) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory opening the execution log");
    l->min_level = min_level;
    atomic_init(&l->failed, 0);
    if (!where || strcmp(where, "stderr") == 0) {
        l->fd = STDERR_FILENO;
    } else {
        l->fd = open(where, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
        if (l->fd < 0) {
            int e = errno;
            free(l);
            return lx_error(err, LLMUX_E_CONFIGURATION, "telemetry.log: cannot open %.300s: %s", where, strerror(e));
        }
        l->own_fd = true;
    }
    *out = l;
    return LLMUX_OK;
}

void lx_exec_log_close(lx_exec_log *l) {
    if (!l) return;
    if (l->own_fd) close(l->fd);
    free(l);
}

bool lx_exec_log_wants(const lx_exec_log *l, llmux_log_level level) { return l && level >= l->min_level; }

bool lx_exec_log_write(lx_exec_log *l, llmux_log_level level, const char *line, size_t len) {
    if (!lx_exec_log_wants(l, level)) return false;
    if (len + 1 > LX_EXEC_LOG_MAX_LINE || memchr(line, '\n', len)) {
        atomic_fetch_add(&l->failed, 1);
        return false;
    }
    /* One buffer, one write: the line and its line feed land together. */
    char stack[4096];
    char *buf = len + 1 <= sizeof stack ? stack : malloc(len + 1);
    if (!buf) {
        atomic_fetch_add(&l->failed, 1);
        return false;
    }
    memcpy(buf, line, len);
    buf[len] = '\n';
    size_t off = 0;
    bool ok = true;
    while (off < len + 1) {
        ssize_t w = write(l->fd, buf + off, len + 1 - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            ok = false;
            break;
        }
        off += (size_t)w; /* only a pipe or a full disk splits a write */
    }
    if (buf != stack) free(buf);
    if (!ok) atomic_fetch_add(&l->failed, 1);
    return ok;
}

uint64_t lx_exec_log_failed(const lx_exec_log *l) {
    return l ? (uint64_t)atomic_load(&((lx_exec_log *)l)->failed) : 0;
}

bool lx_log_level_parse(const char *s, llmux_log_level *out) {
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (llmux_log_level)i;
            return true;
        }
    return false;
}

const char *lx_log_level_name(llmux_log_level level) {
    switch (level) {
    case LLMUX_LOG_DEBUG: return "debug";
    case LLMUX_LOG_INFO: return "info";
    case LLMUX_LOG_WARN: return "warn";
    default: return "error";
    }
}
