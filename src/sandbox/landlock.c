/* Landlock (Documentation/userspace-api/landlock.rst): an unprivileged, stackable access control
 * that the process applies to itself. The ruleset "handles" every access right the running kernel
 * knows; an access is then allowed only where a rule grants it. Rules here: read-only beneath each
 * model directory, read-write beneath the cache and temp directories, no TCP bind or connect at
 * all (ABI 4), no abstract Unix sockets or signals outside the sandbox (ABI 6).
 *
 * The system header may predate the running kernel (this one only knows ABI 2), so the newer
 * constants and struct fields are declared here with the values from the kernel's UAPI header;
 * rights the running ABI lacks are dropped from the ruleset, as the kernel documentation's example
 * does, so the same binary works (less strictly) on an older kernel. Raw syscalls: glibc has no
 * wrappers. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/landlock.h>

#include "sandbox/layers.h"

/* ABI 3 and later (include/uapi/linux/landlock.h, Linux 6.2-6.12). */
#define LX_LL_FS_TRUNCATE (1ULL << 14)        /* ABI 3 */
#define LX_LL_FS_IOCTL_DEV (1ULL << 15)       /* ABI 5 */
#define LX_LL_NET_BIND_TCP (1ULL << 0)        /* ABI 4 */
#define LX_LL_NET_CONNECT_TCP (1ULL << 1)     /* ABI 4 */
#define LX_LL_SCOPE_ABSTRACT_UNIX (1ULL << 0) /* ABI 6 */
#define LX_LL_SCOPE_SIGNAL (1ULL << 1)        /* ABI 6 */

/* struct landlock_ruleset_attr as of ABI 6; an older kernel accepts it when the fields it does
 * not know are zero. */
struct lx_ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

#define LX_LL_FS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
/* Read-write: files and directories, but no devices, FIFOs, sockets or symlinks (nothing the
 * engine needs, each a way to confuse another program that later reads the cache). */
#define LX_LL_FS_WRITE                                                                              \
    (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE | \
     LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_REFER | LX_LL_FS_TRUNCATE)

int lx_sbx_landlock_abi(void) {
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return abi < 0 ? 0 : (int)abi; /* ENOSYS: not built in; EOPNOTSUPP: disabled at boot */
}

/* Read-only system files llama.cpp and glibc read to size their thread pools: the CPU list
 * (sysconf(_SC_NPROCESSORS_ONLN) reads /sys/devices/system/cpu/online, then /proc/stat) and
 * /proc/cpuinfo (ggml's CPU feature and topology probe). Without them both still work, from
 * sched_getaffinity and cpuid, but may size the pool differently from an unsandboxed run. None
 * holds a secret. /proc as a whole stays closed: other processes' command lines and mounts. */
static const char *const k_system_read[] = {"/sys/devices/system/cpu", "/proc/cpuinfo"};

/* Files accept only the file rights; a directory rule covers everything beneath it. */
#define LX_LL_FILE_RIGHTS (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE | \
                           LX_LL_FS_TRUNCATE | LX_LL_FS_IOCTL_DEV)

static int add_path(int ruleset, const char *path, uint64_t access, uint64_t handled, bool optional, char *msg,
                    size_t msg_len) {
    if (!path || path[0] != '/') {
        snprintf(msg, msg_len, "sandbox path must be absolute: %s", path ? path : "(null)");
        return -1;
    }
    int fd = open(path, O_PATH | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || (!optional && !S_ISDIR(st.st_mode))) {
        int e = fd < 0 ? errno : ENOTDIR;
        if (fd >= 0) close(fd);
        if (optional) return 0; /* a system file this kernel does not have */
        snprintf(msg, msg_len, "sandbox directory %s: %s", path, strerror(e));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) access &= LX_LL_FILE_RIGHTS;
    struct landlock_path_beneath_attr rule = {.allowed_access = access & handled, .parent_fd = fd};
    long rc = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
    int e = errno;
    close(fd);
    if (rc != 0) {
        snprintf(msg, msg_len, "landlock rule for %s: %s", path, strerror(e));
        return -1;
    }
    return 0;
}

int lx_sbx_landlock_apply(const lx_sandbox_params *p, int abi, char *msg, size_t msg_len) {
    struct lx_ll_ruleset_attr attr = {
        .handled_access_fs = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
                             LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR |
                             LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
                             LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |
                             LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
                             LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_REFER | LX_LL_FS_TRUNCATE |
                             LX_LL_FS_IOCTL_DEV,
        .handled_access_net = LX_LL_NET_BIND_TCP | LX_LL_NET_CONNECT_TCP,
        .scoped = LX_LL_SCOPE_ABSTRACT_UNIX | LX_LL_SCOPE_SIGNAL,
    };
    /* Drop what the running ABI lacks (the kernel refuses unknown bits). Falls through on purpose. */
    switch (abi) {
    case 1: attr.handled_access_fs &= ~LANDLOCK_ACCESS_FS_REFER; /* fallthrough */
    case 2: attr.handled_access_fs &= ~LX_LL_FS_TRUNCATE;        /* fallthrough */
    case 3: attr.handled_access_net = 0;                         /* fallthrough */
    case 4: attr.handled_access_fs &= ~LX_LL_FS_IOCTL_DEV;       /* fallthrough */
    case 5: attr.scoped = 0;                                     /* fallthrough */
    default: break;
    }
    /* The size passed tells the kernel which fields exist: ABI < 4 kernels know only the first. */
    size_t size = abi < 4 ? sizeof attr.handled_access_fs : abi < 6 ? 2 * sizeof(uint64_t) : sizeof attr;
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (ruleset < 0) {
        snprintf(msg, msg_len, "landlock_create_ruleset: %s", strerror(errno));
        return -1;
    }
    uint64_t handled = attr.handled_access_fs;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < p->n_model_dirs; i++)
        rc = add_path(ruleset, p->model_dirs[i], LX_LL_FS_READ, handled, false, msg, msg_len);
    if (rc == 0 && p->cache_dir)
        rc = add_path(ruleset, p->cache_dir, LX_LL_FS_READ | LX_LL_FS_WRITE, handled, false, msg, msg_len);
    if (rc == 0 && p->tmp_dir)
        rc = add_path(ruleset, p->tmp_dir, LX_LL_FS_READ | LX_LL_FS_WRITE, handled, false, msg, msg_len);
    for (size_t i = 0; rc == 0 && i < sizeof k_system_read / sizeof k_system_read[0]; i++)
        rc = add_path(ruleset, k_system_read[i], LX_LL_FS_READ, handled, true, msg, msg_len);
    /* No LANDLOCK_RULE_NET_PORT rule: every TCP bind and connect is refused. */
    if (rc == 0) {
        /* restrict_self needs no_new_privs (or CAP_SYS_ADMIN); set it even when the NNP layer
         * is not selected, as the kernel documentation's example does. */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) {
            snprintf(msg, msg_len, "landlock_restrict_self: %s", strerror(errno));
            rc = -1;
        }
    }
    close(ruleset);
    return rc;
}
