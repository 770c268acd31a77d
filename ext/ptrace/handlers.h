/*
 * handlers.h -- what the syscall handlers (sc_*.c) share: the helpers that read a stopped
 * thread's arguments and resolve its paths, the compatibility definitions older headers lack,
 * and every entry/exit handler the dispatch table (syscalls.c) names.
 */
#ifndef ROAR_PTRACE_HANDLERS_H
#define ROAR_PTRACE_HANDLERS_H

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
#include "syscalls.h"
#include "tracer.h"

#ifndef O_PATH
#define O_PATH 010000000
#endif
#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef F_DUPFD_CLOEXEC
#define F_DUPFD_CLOEXEC 1030
#endif
#ifndef SYS_openat2
#define SYS_openat2 437 /* the same number on every architecture */
#endif
#ifndef RESOLVE_NO_MAGICLINKS
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
struct open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};
#endif

#define ARG_INT(t, i) ((int)(t)->sc.args[i])

/* Handlers of the pre-*at syscalls, which asm-generic architectures (aarch64) do not have. */
#define LEGACY_SYSCALL __attribute__((unused))

pid_t pid_of(const struct thread *t);
ssize_t read_path_arg(struct thread *t, uint64_t addr, char *raw);
int resolve_raw(struct thread *t, int dirfd, const char *raw, char *out, int allow_empty);
int resolve_at(struct thread *t, int dirfd, uint64_t addr, char *out, int allow_empty);
void resolve_arg(struct thread *t, int which, int dirfd, uint64_t addr, int allow_empty);
void unresolved(struct thread *t, const char *what);
void emit_namespace(struct thread *t, uint8_t kind, int32_t arg0, int64_t arg1,
                           const char *p1, const char *p2);
void save_before(struct thread *t, const char *path, int follow, enum snapshot_how how,
                        int also_unread);
void emit_close(void *ctx, int fd, const char *path);
int exists_for(struct thread *t, int dirfd, const char *raw, int follow);
int plain_read(int64_t flags);
int openat2_path(int base, const char *name, int nofollow, uint64_t resolve);
int has_dotdot(const char *path);
int lexical_is_canonical(const char *path);
int canonical_for(struct thread *t, int dirfd, const char *raw, int nofollow, char *out,
                         size_t size);
int skip_read_at_entry(struct thread *t, int64_t flags, int dirfd, uint64_t addr);
int open_entry_flags(struct thread *t, int64_t flags, int dirfd, uint64_t addr);
int enter_openat(struct thread *t);
int enter_openat2(struct thread *t);
int enter_open_by_handle_at(struct thread *t);
void exit_open(struct thread *t, int64_t rval);
int enter_open(struct thread *t);
int enter_creat(struct thread *t);
int enter_close(struct thread *t);
int enter_need_exit(struct thread *t);
void exit_close_range(struct thread *t, int64_t rval);
void exit_dup(struct thread *t, int64_t rval);
void dup_over(struct thread *t, int oldfd, int newfd, int cloexec);
void exit_dup3(struct thread *t, int64_t rval);
int enter_fcntl(struct thread *t);
void exit_fcntl(struct thread *t, int64_t rval);
int enter_ioctl(struct thread *t);
void exit_ioctl(struct thread *t, int64_t rval);
void exit_unshare(struct thread *t, int64_t rval);
void exit_dup2(struct thread *t, int64_t rval);
int enter_rename_common(struct thread *t);
int enter_renameat(struct thread *t);
int enter_renameat2(struct thread *t);
void exit_rename(struct thread *t, int64_t rval);
int enter_linkat(struct thread *t);
void exit_link(struct thread *t, int64_t rval);
int enter_unlink_common(struct thread *t);
int enter_unlinkat(struct thread *t);
void exit_unlink(struct thread *t, int64_t rval);
int enter_truncate(struct thread *t);
int enter_ftruncate(struct thread *t);
void exit_truncate(struct thread *t, int64_t rval);
void exit_ftruncate(struct thread *t, int64_t rval);
int enter_rename(struct thread *t);
int enter_link(struct thread *t);
int enter_unlink(struct thread *t);
int exec_entry(struct thread *t, int dirfd, uint64_t addr, int allow_empty);
int enter_execve(struct thread *t);
int enter_execveat(struct thread *t);
void fd_event(struct thread *t, uint8_t kind, unsigned cls, int fd);
void exit_sendfile(struct thread *t, int64_t rval);
void exit_copy_in_out(struct thread *t, int64_t rval);
void exit_chdir(struct thread *t, int64_t rval);
void exit_io_uring_setup(struct thread *t, int64_t rval);

#endif
