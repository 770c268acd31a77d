/*
 * tracer.h -- the tracer's view of the traced tree: one `struct thread` per traced task (tid),
 * grouped into `struct process` (thread group).
 *
 * Why per-thread state: syscalls are per thread.  A thread stopped at a syscall's seccomp stop
 * carries the syscall's number, arguments and the paths read at entry until its exit stop, while
 * other threads of the same process stop and resume independently.
 */
#ifndef ROAR_PTRACE_TRACER_H
#define ROAR_PTRACE_TRACER_H

#include <stdint.h>
#include <sys/types.h>

struct fdtable;
struct syscall_row;

struct process {
    pid_t tgid;
    uint64_t instance;    /* new for each process and each exec: the dedupe key */
    int refs;             /* threads pointing here */
    int warned_foreign;   /* a WARN about 32-bit/x32 syscalls was sent */
    int warned_io_uring;  /* a WARN about io_uring was sent */
};

enum thread_flag {
    T_KNOWN = 1u << 0,      /* its parent's fork event was seen (or it is the root) */
    T_AWAIT_EXIT = 1u << 1, /* resumed with PTRACE_SYSCALL to see the exit of `sc` */
    T_DEAD = 1u << 2,       /* exited before its parent's fork event was seen */
};

struct syscall_state {
    const struct syscall_row *row;
    long nr;
    uint64_t args[6];
    int64_t aux;        /* handler scratch: open flags, renameat2 flags, ... */
    uint32_t open_info; /* open family: ROAR_OPEN_* for the OPEN record, decided at entry */
    int ok1, ok2;       /* path1/path2 were resolved at entry */
    uint8_t evflags;    /* ROAR_EVF_TRUNCATED when a path read from the tracee was cut */
};

struct thread {
    struct thread *next; /* hash chain */
    pid_t tid;
    unsigned flags;      /* enum thread_flag */
    int status;          /* not T_KNOWN: the stop to replay once known; T_DEAD: wait status */
    struct process *proc;
    struct fdtable *fds; /* shared between threads (CLONE_FILES) */
    struct syscall_state sc;
    char *path1, *path2; /* ROAR_PATH_BUF bytes each, allocated on first use */
    char *exec_path;     /* absolute filename of the last execve attempt, or NULL */
};

/* No seccomp filter: every syscall stops (PTRACE_SYSCALL), as on kernels without seccomp. */
extern int trace_all_syscalls;

/* One of the two path buffers of t (which = 1 or 2), or NULL when out of memory. */
char *thread_path(struct thread *t, int which);

/* Give t a descriptor table of its own if it shares one (exec, unshare, close_range). */
void thread_unshare_fds(struct thread *t);

/* Emit CLOSE for every tracked descriptor in [lo, hi] of t (see fdtable.h) and forget them. */
void thread_close_fds(struct thread *t, unsigned lo, unsigned hi, int only_cloexec);

/* Start tracing: runs the wait loop until no tracee is left.  Returns the root's wait status. */
int tracer_run(pid_t root);

/* SIGTERM/SIGHUP received by us are sent to this pid while it is > 0. */
extern volatile pid_t tracer_forward_pid;

#endif /* ROAR_PTRACE_TRACER_H */
