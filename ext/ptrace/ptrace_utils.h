/*
 * ptrace_utils.h -- looking into a stopped tracee: its syscall, its memory, its /proc entries.
 *
 * Why process_vm_readv first: one syscall copies a whole path, where PTRACE_PEEKDATA needs one
 * per word.  PEEKDATA remains as the fallback for kernels or sandboxes that refuse
 * process_vm_readv (EPERM/ENOSYS).
 *
 * Why PTRACE_GET_SYSCALL_INFO: it says whether a stop is a seccomp stop, a syscall-entry stop or
 * a syscall-exit stop, which registers alone cannot say reliably.  On kernels before 5.3 (or with
 * --no-syscall-info) we fall back to the registers and the per-architecture conventions
 * (x86_64: rax == -ENOSYS at entry; aarch64: x7 is 0 at entry, 1 at exit).
 */
#ifndef ROAR_PTRACE_UTILS_H
#define ROAR_PTRACE_UTILS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum sc_op { SC_OP_NONE = 0, SC_OP_ENTRY = 1, SC_OP_EXIT = 2, SC_OP_SECCOMP = 3 };

struct sc_info {
    int op;            /* enum sc_op */
    uint32_t arch;     /* AUDIT_ARCH_* (native arch when read from registers) */
    long nr;           /* entry/seccomp only */
    uint64_t args[6];  /* entry/seccomp only */
    int64_t rval;      /* exit only: return value, -errno on failure */
    int is_error;      /* exit only */
};

/* Set to 0 to force the register fallback (tests of old-kernel behaviour). */
extern int use_syscall_info;

/*
 * Describe the syscall stop `tid` is in.  `seccomp_stop` says the stop was PTRACE_EVENT_SECCOMP
 * (the register fallback cannot tell otherwise).  Returns 0 or -1 (errno set).
 */
int sc_info_get(pid_t tid, int seccomp_stop, struct sc_info *info);

/* Copy len bytes at addr in the tracee into buf.  Returns bytes read or -1. */
ssize_t tracee_read(pid_t tid, uint64_t addr, void *buf, size_t len);

/*
 * Read a NUL-terminated string.  Returns its length, or -1 on error.  A string longer than
 * size - 1 is cut and *truncated is set.
 */
ssize_t tracee_read_string(pid_t tid, uint64_t addr, char *buf, size_t size, int *truncated);

/* readlink("/proc/<tid>/<what>") into buf, NUL-terminated.  Returns length or -1. */
ssize_t proc_readlink(pid_t tid, const char *what, char *buf, size_t size);

/*
 * The path behind descriptor fd of tid.  A file unlinked since it was opened reads as
 * "<path> (deleted)" in /proc; when the descriptor really has no links left, that suffix is
 * removed so the record keeps the name it was opened under.  Returns length or -1.
 */
ssize_t proc_fd_path(pid_t tid, int fd, char *buf, size_t size);

/* Tgid from /proc/<tid>/status, or -1. */
pid_t proc_tgid(pid_t tid);

/* 1 if a and b share one descriptor table (kcmp KCMP_FILES), 0 if not, -1 if unknown. */
int same_files(pid_t a, pid_t b);

#endif /* ROAR_PTRACE_UTILS_H */
