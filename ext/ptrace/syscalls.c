/*
 * syscalls.c -- the dispatch table (see syscalls.h) and the seccomp program built from it.  The
 * handlers it names live by family in sc_open.c, sc_fds.c, sc_changes.c and sc_misc.c, with what
 * they share in sc_helpers.c (declared in handlers.h).
 *
 * Handlers run while the calling thread is stopped.  Entry handlers read what will be gone or
 * ambiguous later (the strings the tracee passed, the directory a relative path is relative to);
 * exit handlers run only when the call succeeded and emit the records.  Failed calls produce
 * nothing.  Paths of open-family results come from /proc/<tid>/fd/<fd>: the kernel has already
 * resolved symlinks, "..", the dirfd and the working directory exactly, which no amount of
 * re-resolving in the tracer could match.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__has_include)
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#endif
#endif

#include "emit.h"
#include "fdtable.h"
#include "log.h"
#include "paths.h"
#include "ptrace_utils.h"
#include "snapshot.h"
#include "syscall_names.h"
#include "syscalls.h"
#include "handlers.h"
#include "tracer.h"

struct roar_skip_reads skip_reads;


#define ROW(name, entry, exit) {SYS_##name, #name, entry, exit, 0, 0, {0}}

static const struct syscall_row rows[] = {
#ifdef SYS_open
    ROW(open, enter_open, exit_open),
#endif
#ifdef SYS_creat
    ROW(creat, enter_creat, exit_open),
#endif
    ROW(openat, enter_openat, exit_open),
#ifdef SYS_openat2
    ROW(openat2, enter_openat2, exit_open),
#endif
    ROW(open_by_handle_at, enter_open_by_handle_at, exit_open),
    ROW(close, enter_close, NULL),
#ifdef SYS_close_range
    ROW(close_range, enter_need_exit, exit_close_range),
#endif
    ROW(dup, enter_need_exit, exit_dup),
#ifdef SYS_dup2
    ROW(dup2, enter_need_exit, exit_dup2),
#endif
    ROW(dup3, enter_need_exit, exit_dup3),
    {SYS_fcntl, "fcntl", enter_fcntl, exit_fcntl, 1, 3, {F_DUPFD, F_DUPFD_CLOEXEC, F_SETFD}},
    {SYS_ioctl, "ioctl", enter_ioctl, exit_ioctl, 1, 2, {FIOCLEX, FIONCLEX}},
    ROW(unshare, enter_need_exit, exit_unshare),
#ifdef SYS_rename
    ROW(rename, enter_rename, exit_rename),
#endif
#ifdef SYS_renameat
    ROW(renameat, enter_renameat, exit_rename),
#endif
    ROW(renameat2, enter_renameat2, exit_rename),
#ifdef SYS_link
    ROW(link, enter_link, exit_link),
#endif
    ROW(linkat, enter_linkat, exit_link),
#ifdef SYS_unlink
    ROW(unlink, enter_unlink, exit_unlink),
#endif
    ROW(unlinkat, enter_unlinkat, exit_unlink),
    ROW(truncate, enter_truncate, exit_truncate),
    ROW(ftruncate, enter_ftruncate, exit_ftruncate),
    ROW(execve, enter_execve, NULL),
    ROW(execveat, enter_execveat, NULL),
    ROW(sendfile, enter_need_exit, exit_sendfile),
    ROW(copy_file_range, enter_need_exit, exit_copy_in_out),
    ROW(splice, enter_need_exit, exit_copy_in_out),
    ROW(chdir, enter_need_exit, exit_chdir),
    ROW(fchdir, enter_need_exit, exit_chdir),
#ifdef SYS_io_uring_setup
    ROW(io_uring_setup, enter_need_exit, exit_io_uring_setup),
#endif
};

#define NROWS (sizeof rows / sizeof rows[0])

/* nr -> row; syscall numbers are dense and below 1024 on both architectures. */
#define MAX_NR 1024
static const struct syscall_row *by_nr[MAX_NR];

void syscalls_init(void)
{
    for (size_t i = 0; i < NROWS; i++) {
        if (rows[i].nr >= 0 && rows[i].nr < MAX_NR)
            by_nr[rows[i].nr] = &rows[i];
    }
}

const struct syscall_row *syscall_lookup(long nr)
{
    return nr >= 0 && nr < MAX_NR ? by_nr[nr] : NULL;
}

const char *syscall_name(long nr)
{
    if (nr >= 0 && nr < SYSCALL_NAMES_COUNT && syscall_names[nr])
        return syscall_names[nr];
    return NULL;
}

/* ---- the seccomp program ---------------------------------------------------------------------- */

#include <linux/filter.h>
#include <linux/seccomp.h>

#define ARG_LO(i) ((uint32_t)(offsetof(struct seccomp_data, args) + (i) * sizeof(uint64_t)))

int seccomp_build_filter(struct sock_fprog *prog)
{
    /*
     * Layout (classic BPF jumps only forward, with 8-bit offsets, so everything targets one of
     * the two returns at the end):
     *   arch != native             -> TRACE (the tracer warns that it cannot decode them)
     *   nr has the x32 bit         -> TRACE (same)
     *   nr == row without filter   -> TRACE
     *   nr == row with filter      -> load arg; value matches -> TRACE, else ALLOW
     *   anything else              -> ALLOW
     */
    size_t cap = 8 + 2 * NROWS + 8 * NROWS;
    struct sock_filter *f = calloc(cap, sizeof *f);
    if (!f)
        return -1;
    size_t n = 0;
    /* Filled in once the position of the TRACE return is known: (index, jt?) pairs. */
    size_t fix[cap];
    int fix_jt[cap];
    size_t nfix = 0;

    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                          offsetof(struct seccomp_data, arch));
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ROAR_AUDIT_ARCH, 1, 0);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                          offsetof(struct seccomp_data, nr));
#ifdef ROAR_X32_SYSCALL_BIT
    fix[nfix] = n;
    fix_jt[nfix++] = 1;
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, ROAR_X32_SYSCALL_BIT, 0, 0);
#endif
    for (size_t i = 0; i < NROWS; i++) {
        if (rows[i].nfilter != 0)
            continue;
        fix[nfix] = n;
        fix_jt[nfix++] = 1;
        f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)rows[i].nr, 0,
                                              0);
    }
    for (size_t i = 0; i < NROWS; i++) {
        const struct syscall_row *r = &rows[i];
        if (r->nfilter == 0)
            continue;
        /* jeq nr ? fall into the block : skip it.  The block ends with a return. */
        uint8_t block = (uint8_t)(1 + r->nfilter + 1);
        f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)r->nr, 0, block);
        f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(r->filter_arg));
        for (int k = 0; k < r->nfilter; k++) {
            fix[nfix] = n;
            fix_jt[nfix++] = 1;
            f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, r->filter_vals[k],
                                                  0, 0);
        }
        f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    }
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    size_t trace_at = n;
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE);

    for (size_t i = 0; i < nfix; i++) {
        size_t off = trace_at - fix[i] - 1;
        if (off > 255) {
            free(f);
            errno = E2BIG;
            return -1;
        }
        if (fix_jt[i])
            f[fix[i]].jt = (uint8_t)off;
    }
    prog->len = (unsigned short)n;
    prog->filter = f;
    return 0;
}
