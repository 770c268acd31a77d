/*
 * sc_misc.c -- exec, data moved between descriptors, the working directory, and what the tracer
 * cannot see (io_uring).
 */
#include "handlers.h"

/* ---- exec ------------------------------------------------------------------------------------- */

/*
 * The filename is read now, at the seccomp stop, and kept on the thread: at PTRACE_EVENT_EXEC the
 * old address space (and the string) is gone.  A failed attempt (execvp trying each $PATH entry)
 * is simply overwritten by the next one; no exit stop is needed.
 */
int exec_entry(struct thread *t, int dirfd, uint64_t addr, int allow_empty)
{
    char *buf = thread_path(t, 1);
    free(t->exec_path);
    t->exec_path = NULL;
    if (buf && resolve_at(t, dirfd, addr, buf, allow_empty) == 0)
        t->exec_path = strdup(buf);
    return SC_DONE;
}

int enter_execve(struct thread *t)
{
    return exec_entry(t, AT_FDCWD, t->sc.args[0], 0);
}

int enter_execveat(struct thread *t)
{
    return exec_entry(t, ARG_INT(t, 0), t->sc.args[1], (ARG_INT(t, 4) & AT_EMPTY_PATH) != 0);
}

/* ---- data moved between descriptors ----------------------------------------------------------- */

void fd_event(struct thread *t, uint8_t kind, unsigned cls, int fd)
{
    char *path = thread_path(t, 2);
    if (!path || proc_fd_path(t->tid, fd, path, ROAR_PATH_BUF) < 0 || !path_is_absolute(path))
        return; /* pipes and sockets are not files */
    path_normalize(path);
    if (kind == ROAR_EVK_READ)
        snapshot_note_read(path);
    else
        snapshot_note_write(path);
    if (dedupe_first(t->proc->instance, cls, path))
        emit_record(kind, 0, pid_of(t), t->tid, 0, fd, 0, path, NULL);
}

void exit_sendfile(struct thread *t, int64_t rval)
{
    (void)rval; /* sendfile(out_fd, in_fd, offset, count) */
    fd_event(t, ROAR_EVK_READ, DEDUPE_FD_READ, ARG_INT(t, 1));
    fd_event(t, ROAR_EVK_WRITE, DEDUPE_FD_WRITE, ARG_INT(t, 0));
}

void exit_copy_in_out(struct thread *t, int64_t rval)
{
    (void)rval; /* copy_file_range/splice(fd_in, off_in, fd_out, off_out, ...) */
    fd_event(t, ROAR_EVK_READ, DEDUPE_FD_READ, ARG_INT(t, 0));
    fd_event(t, ROAR_EVK_WRITE, DEDUPE_FD_WRITE, ARG_INT(t, 2));
}

/* ---- working directory ------------------------------------------------------------------------ */

void exit_chdir(struct thread *t, int64_t rval)
{
    (void)rval;
    char *path = thread_path(t, 1);
    if (!path || proc_readlink(t->tid, "cwd", path, ROAR_PATH_BUF) < 0) {
        unresolved(t, "chdir");
        return;
    }
    emit_record(ROAR_EVK_CHDIR, 0, pid_of(t), t->tid, 0, 0, 0, path, NULL);
}

/* ---- things we cannot see --------------------------------------------------------------------- */

void exit_io_uring_setup(struct thread *t, int64_t rval)
{
    (void)rval;
    if (t->proc->warned_io_uring)
        return;
    t->proc->warned_io_uring = 1;
    emit_warn(pid_of(t), t->tid,
              "io_uring in use: files opened or written through it are not traced");
}

/* ---- the table -------------------------------------------------------------------------------- */
