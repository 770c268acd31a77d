/*
 * handlers.c -- see handlers.h.  One row per syscall: what the kernel half captures (struct
 * sc_spec) and which handler (sc_*.c) makes records of it.  The rows mirror roar-ptrace's dispatch table
 * (ext/ptrace/syscalls.c) and the records are the ones its exit handlers send, with two
 * differences that come from seeing a syscall after the fact, when /proc may no longer know the
 * process:
 *   - an open's file and a chdir's directory are named by the kernel half (RB_I_KNAME), where
 *     roar-ptrace reads /proc/<tid>/fd/<fd> or /proc/<tid>/cwd; other names a call passed are
 *     joined to the working directory or dirfd kept in tasks.c, then canonicalised as
 *     roar-ptrace canonicalises rename paths (realpath of what still exists);
 *   - ROAR_OPEN_CREATED is the kernel's own FMODE_CREATED, not a look before the call.
 */
#include "sc.h"

struct roar_skip_reads skip_reads;

static pid_t root_pid;
static int root_exec_seen;

typedef void (*handler_fn)(struct task *t, const struct rb_event *ev, const struct paths *p);

struct row {
    long nr;
    const char *name;
    struct sc_spec spec;
    handler_fn handle;
};

/* ---- the table -------------------------------------------------------------------------------- */

#define N SPEC_NO_ARG
#define SPEC(flags, a1, a2) {SPEC_TRACE | (flags), a1, a2, N, {0, 0, 0}, {0, 0, 0}}
#define ROW(name, flags, a1, a2, fn) {SYS_##name, #name, SPEC(flags, a1, a2), fn}

static const struct row rows[] = {
#ifdef SYS_open
    ROW(open, SPEC_OPEN, 0, N, h_open),
#endif
#ifdef SYS_creat
    ROW(creat, SPEC_OPEN, 0, N, h_creat),
#endif
    ROW(openat, SPEC_OPEN, 1, N, h_openat),
    ROW(openat2, SPEC_OPEN | SPEC_OPENAT2, 1, N, h_openat2),
    ROW(open_by_handle_at, SPEC_OPEN, N, N, h_open_by_handle_at),
    ROW(close, SPEC_ANY_RESULT, N, N, h_close),
    ROW(close_range, 0, N, N, h_close_range),
    ROW(dup, 0, N, N, h_dup),
#ifdef SYS_dup2
    ROW(dup2, 0, N, N, h_dup2),
#endif
    ROW(dup3, 0, N, N, h_dup3),
    {SYS_fcntl, "fcntl", {SPEC_TRACE, N, N, 1, {0}, {F_DUPFD, F_DUPFD_CLOEXEC, F_SETFD}}, h_fcntl},
    {SYS_ioctl, "ioctl", {SPEC_TRACE, N, N, 1, {0}, {FIOCLEX, FIONCLEX, FIONCLEX}}, h_ioctl},
    ROW(unshare, 0, N, N, h_unshare),
#ifdef SYS_rename
    ROW(rename, 0, 0, 1, h_rename),
#endif
#ifdef SYS_renameat
    ROW(renameat, 0, 1, 3, h_renameat),
#endif
    ROW(renameat2, 0, 1, 3, h_renameat2),
#ifdef SYS_link
    ROW(link, 0, 0, 1, h_link),
#endif
    ROW(linkat, 0, 1, 3, h_linkat),
#ifdef SYS_unlink
    ROW(unlink, 0, 0, N, h_unlink),
#endif
    ROW(unlinkat, 0, 1, N, h_unlinkat),
    ROW(truncate, 0, 0, N, h_truncate),
    ROW(ftruncate, 0, N, N, h_ftruncate),
    ROW(execve, SPEC_EXEC, 0, N, h_execve),
    ROW(execveat, SPEC_EXEC, 1, N, h_execveat),
    ROW(sendfile, 0, N, N, h_sendfile),
    ROW(copy_file_range, 0, N, N, h_copy_in_out),
    ROW(splice, 0, N, N, h_copy_in_out),
    ROW(chdir, SPEC_CWD, 0, N, h_chdir),
    ROW(fchdir, SPEC_CWD, N, N, h_fchdir),
    ROW(io_uring_setup, 0, N, N, h_io_uring_setup),
    /* Captured for the FORK record's ROAR_FORK_VFORK only. */
#ifdef SYS_vfork
    ROW(vfork, SPEC_VFORK | SPEC_NO_REPORT, N, N, NULL),
#endif
    ROW(clone, SPEC_CLONE | SPEC_NO_REPORT, N, N, NULL),
    ROW(clone3, SPEC_CLONE3 | SPEC_NO_REPORT, N, N, NULL),
};

#define NROWS (sizeof rows / sizeof rows[0])

static const struct row *by_nr[RB_MAX_NR];

void handlers_each_spec(void (*fn)(__u32 nr, const struct sc_spec *spec, void *ctx), void *ctx)
{
    for (size_t i = 0; i < NROWS; i++) {
        if (rows[i].nr < 0 || rows[i].nr >= RB_MAX_NR)
            continue;
        by_nr[rows[i].nr] = &rows[i];
        fn((__u32)rows[i].nr, &rows[i].spec, ctx);
    }
}

void handlers_root(pid_t pid, const char *cwd)
{
    root_pid = pid;
    task_add_root(pid, cwd);
}

int handlers_root_exec_seen(void)
{
    return root_exec_seen;
}

void handlers_exec_seen(pid_t tgid)
{
    if (tgid == root_pid)
        root_exec_seen = 1;
}

/* ---- dispatch --------------------------------------------------------------------------------- */

static int copy_paths(const struct rb_event *ev, struct paths *p)
{
    size_t room = ev->size - RB_EVENT_FIXED;
    if ((size_t)ev->len1 + ev->len2 > room || ev->len1 > RB_PATH_MAX || ev->len2 > RB_PATH_MAX)
        return -1;
    p->has1 = ev->len1 > 0;
    p->has2 = ev->len2 > 0;
    memcpy(p->p1, ev->data, ev->len1);
    p->p1[ev->len1] = '\0';
    memcpy(p->p2, ev->data + ev->len1, ev->len2);
    p->p2[ev->len2] = '\0';
    return 0;
}

static void on_fork(const struct rb_event *ev)
{
    struct task *parent = task_get(ev->tgid, ev->tid);
    pid_t child = (pid_t)ev->args[0];
    int thread = (ev->info & RB_I_THREAD) != 0;
    task_fork(parent, child, thread, (ev->info2 & RB_I2_SHARE_FILES) != 0,
              (ev->info2 & RB_I2_SHARE_FS) != 0);
    uint32_t flags = (thread ? ROAR_FORK_THREAD : 0) | (ev->info & RB_I_VFORK ? ROAR_FORK_VFORK : 0);
    VLOG("%d: %s -> %d", (int)ev->tid, thread ? "thread" : "fork", (int)child);
    emit_record(ROAR_EVK_FORK, 0, ev->tgid, ev->tid, (int32_t)child, 0, flags, NULL, NULL);
}

void handle_event(const struct rb_event *ev)
{
    static struct paths p; /* large: not on the stack */
    if (ev->size < RB_EVENT_FIXED)
        return;
    switch (ev->kind) {
    case RB_FORK:
        on_fork(ev);
        return;
    case RB_EXIT: {
        VLOG("%d: process exited, status %#x", (int)ev->tgid, (unsigned)ev->args[0]);
        emit_record(ROAR_EVK_EXIT, 0, ev->tgid, ev->tgid, (int32_t)ev->args[0], 0, 0, NULL, NULL);
        struct task *t = task_find(ev->tid);
        if (t)
            task_remove(t);
        return;
    }
    case RB_THREAD_EXIT: {
        struct task *t = task_find(ev->tid);
        if (t)
            task_remove(t);
        return;
    }
    case RB_FOREIGN:
        emit_warn(ev->tgid, ev->tid, "32-bit or x32 syscalls (nr %d) are not decoded: the files "
                  "this process opens through them are not traced", (int)ev->nr);
        return;
    case RB_SYSCALL:
        break;
    default:
        return;
    }
    if (ev->nr < 0 || ev->nr >= RB_MAX_NR || !by_nr[ev->nr] || !by_nr[ev->nr]->handle)
        return;
    const struct row *row = by_nr[ev->nr];
    if (copy_paths(ev, &p) < 0) {
        emit_warn(ev->tgid, ev->tid, "a malformed %s event from the kernel was dropped", row->name);
        emit_count_lost(1);
        return;
    }
    /* An exec reports the thread that made it, which may since have become the leader. */
    pid_t tid = (row->spec.flags & SPEC_EXEC) ? (pid_t)ev->aux : ev->tid;
    struct task *t = task_get(ev->tgid, tid);
    row->handle(t, ev, &p);
}
