/*
 * sc.h -- what the event handlers (sc_*.c) share: the paths of an event, resolving names the way
 * the call did, the records every family emits alike, and every handler the table in handlers.c
 * names.  Internal to roar-ebpf.
 */
#ifndef ROAR_EBPF_SC_H
#define ROAR_EBPF_SC_H

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bpf_event.h"
#include "emit.h"
#include "fdtable.h"
#include "handlers.h"
#include "log.h"
#include "paths.h"
#include "snapshot.h"
#include "tasks.h"
#include "unotify.h"

#ifndef O_PATH
#define O_PATH 010000000
#endif
#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef F_DUPFD_CLOEXEC
#define F_DUPFD_CLOEXEC 1030
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* An event's paths, NUL-terminated copies (the kernel's strings end in NUL, but trust nothing). */
struct paths {
    char p1[RB_PATH_MAX + 1];
    char p2[RB_PATH_MAX + 1];
    int has1, has2;
};

#define ARG(ev, i) ((int)(ev)->args[i])

/* sc_helpers.c */
void note_read(const char *path);
int proc_fd_path(pid_t tid, int fd, char *out, size_t size);
const char *fd_path(struct task *t, int fd, char *buf, size_t size);
int resolve(struct task *t, int dirfd, const char *raw, char *out, int allow_empty);
void canonicalise(char *path, size_t size, int follow);
int kernel_name(const struct rb_event *ev, char *out, size_t size);
void unresolved(struct task *t, const char *what);
void emit_close(void *ctx, int fd, const char *path);
void emit_namespace(struct task *t, uint8_t kind, int32_t arg0, int64_t arg1, const char *p1,
                    const char *p2);
void close_fd(struct task *t, int fd);

/* handlers.c: the root process's first exec was reported */
void handlers_exec_seen(pid_t tgid);

/* The handlers (sc_files.c, sc_names.c, sc_exec.c). */
#define HANDLER(name) void name(struct task *t, const struct rb_event *ev, const struct paths *p)
HANDLER(h_open);
HANDLER(h_creat);
HANDLER(h_openat);
HANDLER(h_openat2);
HANDLER(h_open_by_handle_at);
HANDLER(h_close);
HANDLER(h_close_range);
HANDLER(h_dup);
HANDLER(h_dup2);
HANDLER(h_dup3);
HANDLER(h_fcntl);
HANDLER(h_ioctl);
HANDLER(h_unshare);
HANDLER(h_rename);
HANDLER(h_renameat);
HANDLER(h_renameat2);
HANDLER(h_link);
HANDLER(h_linkat);
HANDLER(h_unlink);
HANDLER(h_unlinkat);
HANDLER(h_truncate);
HANDLER(h_ftruncate);
HANDLER(h_execve);
HANDLER(h_execveat);
HANDLER(h_sendfile);
HANDLER(h_copy_in_out);
HANDLER(h_chdir);
HANDLER(h_fchdir);
HANDLER(h_io_uring_setup);

#endif /* ROAR_EBPF_SC_H */
