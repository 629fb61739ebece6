/* seccomp (libseccomp): a denylist of the system calls an inference engine never needs and an
 * attacker running code inside it would want. Not an allowlist: llama.cpp and its ggml backends
 * use a wide, version-dependent set (mmap, mremap, madvise, futex, sched_*, get_mempolicy, pread64,
 * openat, statx, clone for threads, ...) and an allowlist that misses one kills a working engine
 * in production; the dangerous set is small and stable. Landlock already confines files and TCP.
 *
 * Actions, per rule:
 *  - KILL_PROCESS for calls whose only use here would be an escape or an attack (exec, ptrace,
 *    mount, kexec, bpf, perf, kernel keyrings, namespaces, modules, io_uring): the runtime sees
 *    SIGSYS, restarts the child and reports the violation.
 *  - EPERM for calls that libraries legitimately probe and handle failing (a socket family, a
 *    connect, fork for ggml's crash backtrace, clone3 as ENOSYS so glibc falls back to clone).
 * Foreign architectures (i386, x32 on x86_64) are killed: their numbers would bypass the table. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <seccomp.h>

#include "sandbox/layers.h"

/* Namespace flags of clone/unshare (linux/sched.h); CLONE_NEWTIME is missing from old headers. */
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
static const unsigned long k_ns_flags[] = {CLONE_NEWNS,  CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
                                           CLONE_NEWUSER, CLONE_NEWPID,   CLONE_NEWNET, CLONE_NEWTIME};

static const char *const k_kill[] = {
    "execve", "execveat",                                           /* no other program */
    "ptrace", "process_vm_readv", "process_vm_writev",              /* no other process's memory */
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr",                           /* no file system changes */
    "kexec_load", "kexec_file_load", "reboot", "init_module", "finit_module", "delete_module",
    "swapon", "swapoff", "acct", "quotactl",                        /* no kernel changes */
    "bpf", "perf_event_open", "userfaultfd",                        /* kernel attack surface */
    "add_key", "request_key", "keyctl",                             /* no kernel keyrings */
    "unshare", "setns",                                             /* no new namespaces */
    "io_uring_setup", "io_uring_enter", "io_uring_register",        /* bypasses this filter */
    "open_by_handle_at", "name_to_handle_at",                       /* bypasses paths (and Landlock) */
};

static int rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n, const struct scmp_arg_cmp *cmp) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) return 0; /* not on this architecture */
    return seccomp_rule_add_array(ctx, action, nr, n, cmp);
}

static int add_rules(scmp_filter_ctx ctx) {
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof k_kill / sizeof k_kill[0]; i++)
        rc = rule(ctx, SCMP_ACT_KILL_PROCESS, k_kill[i], 0, NULL);
    /* Sockets: only AF_UNIX (the IPC protocol); no connect or bind at all, since the IPC socket
     * arrives already connected. This also covers Unix sockets by path, which Landlock does not. */
    struct scmp_arg_cmp not_unix = SCMP_A0(SCMP_CMP_NE, AF_UNIX);
    if (rc == 0) rc = rule(ctx, SCMP_ACT_ERRNO(EPERM), "socket", 1, &not_unix);
    if (rc == 0) rc = rule(ctx, SCMP_ACT_ERRNO(EPERM), "socketpair", 1, &not_unix);
    /* Unix datagram sockets reach pathname sockets (/dev/log, journald) with sendto and no
     * connect, which Landlock does not cover; the IPC protocol is a stream. The type's low bits
     * (SOCK_CLOEXEC and SOCK_NONBLOCK are flags above them). */
    struct scmp_arg_cmp unix_dgram[2] = {SCMP_A0(SCMP_CMP_EQ, AF_UNIX), SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_DGRAM)};
    if (rc == 0) rc = rule(ctx, SCMP_ACT_ERRNO(EPERM), "socket", 2, unix_dgram);
    if (rc == 0) rc = rule(ctx, SCMP_ACT_ERRNO(EPERM), "connect", 0, NULL);
    if (rc == 0) rc = rule(ctx, SCMP_ACT_ERRNO(EPERM), "bind", 0, NULL);
    /* No new processes; threads only. clone's flags are in a register, clone3's in memory that
     * seccomp cannot read, so clone3 reports ENOSYS and glibc falls back to clone. */
    if (rc == 0) rc = rule(ctx, SCMP_ACT_ERRNO(EPERM), "fork", 0, NULL);
    if (rc == 0) rc = rule(ctx, SCMP_ACT_ERRNO(EPERM), "vfork", 0, NULL);
    if (rc == 0) rc = rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
    struct scmp_arg_cmp no_thread = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0);
    if (rc == 0) rc = rule(ctx, SCMP_ACT_ERRNO(EPERM), "clone", 1, &no_thread);
    /* A thread with a namespace flag: an escape attempt (namespaces widen the kernel surface). */
    for (size_t i = 0; rc == 0 && i < sizeof k_ns_flags / sizeof k_ns_flags[0]; i++) {
        /* One comparison per argument (libseccomp's rule): both bits in one mask. */
        unsigned long bits = k_ns_flags[i] | CLONE_THREAD;
        struct scmp_arg_cmp ns_thread = SCMP_A0(SCMP_CMP_MASKED_EQ, bits, bits);
        rc = rule(ctx, SCMP_ACT_KILL_PROCESS, "clone", 1, &ns_thread);
    }
    /* TIOCSTI/TIOCLINUX push input into a terminal inherited from the parent. */
    struct scmp_arg_cmp sti = SCMP_A1(SCMP_CMP_EQ, TIOCSTI);
    struct scmp_arg_cmp lnx = SCMP_A1(SCMP_CMP_EQ, TIOCLINUX);
    if (rc == 0) rc = rule(ctx, SCMP_ACT_ERRNO(EPERM), "ioctl", 1, &sti);
    if (rc == 0) rc = rule(ctx, SCMP_ACT_ERRNO(EPERM), "ioctl", 1, &lnx);
    return rc;
}

int lx_sbx_seccomp_apply(char *msg, size_t msg_len) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) {
        snprintf(msg, msg_len, "seccomp_init failed");
        return -1;
    }
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    /* Every thread, not only the caller's (a library may have started one). */
    if (rc == 0) rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    if (rc == 0) rc = add_rules(ctx);
    if (rc == 0) rc = seccomp_load(ctx);
    if (rc != 0) snprintf(msg, msg_len, "seccomp: %s", strerror(-rc));
    seccomp_release(ctx);
    return rc == 0 ? 0 : -1;
}
