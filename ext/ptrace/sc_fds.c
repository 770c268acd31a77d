/*
 * sc_fds.c -- descriptor bookkeeping: close, close_range, dup, fcntl and ioctl, so that CLOSE
 * records name the file a descriptor held.
 */
#include "handlers.h"

/* ---- descriptor bookkeeping (CLOSE records) --------------------------------------------------- */

int enter_close(struct thread *t)
{
    /*
     * Handled at entry, with no exit stop: a descriptor in our table is open, and close(2)
     * releases it even when it reports an error (EINTR/EIO), so the outcome is known already.
     */
    int fd = ARG_INT(t, 0);
    const char *path = fdt_get(t->fds, fd);
    if (path) {
        emit_close(t, fd, path);
        fdt_remove(t->fds, fd);
    }
    return SC_DONE;
}

int enter_need_exit(struct thread *t)
{
    (void)t;
    return SC_NEED_EXIT;
}

void exit_close_range(struct thread *t, int64_t rval)
{
    (void)rval;
    unsigned lo = (unsigned)t->sc.args[0];
    unsigned hi = (unsigned)t->sc.args[1];
    unsigned flags = (unsigned)t->sc.args[2];
    if (flags & CLOSE_RANGE_UNSHARE)
        thread_unshare_fds(t);
    if (flags & CLOSE_RANGE_CLOEXEC)
        fdt_close_range(t->fds, lo, hi, 0, 1, NULL, NULL);
    else
        thread_close_fds(t, lo, hi, 0);
}

void exit_dup(struct thread *t, int64_t rval)
{
    fdt_dup(t->fds, ARG_INT(t, 0), (int)rval, 0);
}

/* dup2/dup3: newfd is closed first when it was open (implicitly: a CLOSE for us). */
void dup_over(struct thread *t, int oldfd, int newfd, int cloexec)
{
    if (oldfd == newfd)
        return;
    const char *old_path = fdt_get(t->fds, newfd);
    if (old_path)
        emit_close(t, newfd, old_path);
    fdt_dup(t->fds, oldfd, newfd, cloexec);
}

LEGACY_SYSCALL void exit_dup2(struct thread *t, int64_t rval)
{
    (void)rval;
    dup_over(t, ARG_INT(t, 0), ARG_INT(t, 1), 0);
}

void exit_dup3(struct thread *t, int64_t rval)
{
    (void)rval;
    dup_over(t, ARG_INT(t, 0), ARG_INT(t, 1), (ARG_INT(t, 2) & O_CLOEXEC) != 0);
}

int enter_fcntl(struct thread *t)
{
    /* Without seccomp every fcntl stops here; only these commands change our table. */
    int cmd = ARG_INT(t, 1);
    return cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC || cmd == F_SETFD ? SC_NEED_EXIT : SC_DONE;
}

void exit_fcntl(struct thread *t, int64_t rval)
{
    int fd = ARG_INT(t, 0);
    switch (ARG_INT(t, 1)) {
    case F_DUPFD:
        fdt_dup(t->fds, fd, (int)rval, 0);
        break;
    case F_DUPFD_CLOEXEC:
        fdt_dup(t->fds, fd, (int)rval, 1);
        break;
    case F_SETFD:
        fdt_set_cloexec(t->fds, fd, (ARG_INT(t, 2) & FD_CLOEXEC) != 0);
        break;
    default:
        break;
    }
}

int enter_ioctl(struct thread *t)
{
    unsigned cmd = (unsigned)t->sc.args[1];
    return cmd == FIOCLEX || cmd == FIONCLEX ? SC_NEED_EXIT : SC_DONE;
}

void exit_ioctl(struct thread *t, int64_t rval)
{
    (void)rval;
    fdt_set_cloexec(t->fds, ARG_INT(t, 0), (unsigned)t->sc.args[1] == FIOCLEX);
}

void exit_unshare(struct thread *t, int64_t rval)
{
    (void)rval;
    if (t->sc.args[0] & CLONE_FILES)
        thread_unshare_fds(t);
}
