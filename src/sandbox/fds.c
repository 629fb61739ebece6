/* Inherited descriptors: a child inherits whatever its parent had open (sockets to providers, the
 * records database, log files). Everything not explicitly kept is closed before any untrusted
 * input is parsed. Descriptors 0-2 are pointed at /dev/null instead of closed, so that a model
 * file opened later can never become "stderr" and be written to by a log call. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/layers.h"

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static bool is_kept(const int *keep, size_t n, int fd) {
    for (size_t i = 0; i < n; i++)
        if (keep[i] == fd) return true;
    return false;
}

/* Closes [lo, hi]; close_range (Linux 5.9) when the kernel has it, else one by one up to the
 * descriptor limit. Returns how many were closed, or -1 when the kernel did it in one call. */
static int close_span(int lo, int hi, bool to_end) {
    if (lo > hi) return 0;
#ifdef SYS_close_range
    /* to_end: ~0U also closes descriptors above the current limit (opened before it was lowered). */
    if (syscall(SYS_close_range, (unsigned)lo, to_end ? ~0u : (unsigned)hi, 0u) == 0) return -1;
#endif
    int n = 0;
    for (int fd = lo; fd <= hi; fd++)
        if (close(fd) == 0) n++;
    return n;
}

int lx_sbx_close_fds(const int *keep, size_t n_keep, int *closed, char *msg, size_t msg_len) {
    int sorted[64];
    if (n_keep > sizeof sorted / sizeof sorted[0]) {
        snprintf(msg, msg_len, "too many descriptors to keep (%zu, at most 64)", n_keep);
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < n_keep; i++)
        if (keep[i] >= 3) sorted[n++] = keep[i];
    qsort(sorted, n, sizeof sorted[0], cmp_int);

    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0) {
        snprintf(msg, msg_len, "open /dev/null: %s", strerror(errno));
        return -1;
    }
    for (int fd = 0; fd < 3; fd++) {
        if (is_kept(keep, n_keep, fd) || fd == devnull) continue;
        if (dup2(devnull, fd) < 0) {
            snprintf(msg, msg_len, "dup2 /dev/null onto %d: %s", fd, strerror(errno));
            return -1;
        }
    }
    if (devnull >= 3 && !is_kept(keep, n_keep, devnull)) close(devnull);

    int total = 0, lo = 3;
    bool by_range = false;
    long max = sysconf(_SC_OPEN_MAX);
    int top = max > 0 && max < (1 << 20) ? (int)max - 1 : (1 << 20) - 1;
    for (size_t i = 0; i <= n; i++) {
        int hi = i < n ? sorted[i] - 1 : top;
        int c = close_span(lo, hi, i == n);
        if (c < 0) by_range = true;
        else total += c;
        if (i < n) lo = sorted[i] + 1;
    }
    *closed = by_range ? -1 : total;
    return 0;
}
