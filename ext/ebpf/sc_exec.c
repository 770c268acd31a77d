/*
 * sc_exec.c -- exec, data moved between descriptors (sendfile, copy_file_range, splice), and
 * what the tracer cannot see (io_uring).
 */
#include "sc.h"

/* ---- exec ------------------------------------------------------------------------------------- */

static void on_exec(struct task *t, const struct rb_event *ev, const struct paths *p, int dirfd,
                    int allow_empty)
{
    t = task_exec(t, ev->tid);
    /* The kernel unshares the table, then closes the close-on-exec descriptors. */
    task_unshare_files(t);
    fdt_close_range(t->writes, 0, ~0u, 1, 0, emit_close, t);
    fdt_close_range(t->files, 0, ~0u, 1, 0, NULL, NULL);
    handlers_exec_seen(t->proc->tgid);

    char p1[ROAR_PATH_BUF], p2[ROAR_PATH_BUF];
    p1[0] = p2[0] = '\0';
    if (p->has1 && resolve(t, dirfd, p->p1, p1, allow_empty) == 0) {
        canonicalise(p1, sizeof p1, 1);
    } else {
        emit_count_lost(1);
        emit_warn(t->proc->tgid, t->tid, "exec succeeded but its filename could not be read");
    }
    /* The program the kernel runs: the file itself, or a script's interpreter (its #! name). */
    if (p->has2 && resolve(t, AT_FDCWD, p->p2, p2, 0) == 0)
        canonicalise(p2, sizeof p2, 1);
    if (p1[0])
        note_read(p1);
    if (p2[0])
        note_read(p2);
    emit_record(ROAR_EVK_EXEC, 0, t->proc->tgid, t->tid, 0, 0, 0, p1, p2[0] ? p2 : NULL);
}

void h_execve(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    on_exec(t, ev, p, AT_FDCWD, 0);
}

void h_execveat(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    on_exec(t, ev, p, ARG(ev, 0), (ARG(ev, 4) & AT_EMPTY_PATH) != 0);
}

/* ---- data moved between descriptors ----------------------------------------------------------- */

static void fd_event(struct task *t, uint8_t kind, unsigned cls, int fd)
{
    char buf[ROAR_PATH_BUF];
    const char *path = fd_path(t, fd, buf, sizeof buf);
    if (!path)
        return; /* pipes and sockets are not files */
    if (kind == ROAR_EVK_READ)
        note_read(path);
    else
        snapshot_note_write(path);
    if (dedupe_first(t->proc->instance, cls, path))
        emit_record(kind, 0, t->proc->tgid, t->tid, 0, fd, 0, path, NULL);
}

void h_sendfile(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    (void)p; /* sendfile(out_fd, in_fd, offset, count) */
    fd_event(t, ROAR_EVK_READ, DEDUPE_FD_READ, ARG(ev, 1));
    fd_event(t, ROAR_EVK_WRITE, DEDUPE_FD_WRITE, ARG(ev, 0));
}

void h_copy_in_out(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    (void)p; /* copy_file_range/splice(fd_in, off_in, fd_out, off_out, ...) */
    fd_event(t, ROAR_EVK_READ, DEDUPE_FD_READ, ARG(ev, 0));
    fd_event(t, ROAR_EVK_WRITE, DEDUPE_FD_WRITE, ARG(ev, 2));
}


/* ---- things we cannot see --------------------------------------------------------------------- */

void h_io_uring_setup(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    (void)ev;
    (void)p;
    if (t->proc->warned_io_uring)
        return;
    t->proc->warned_io_uring = 1;
    emit_warn(t->proc->tgid, t->tid,
              "io_uring in use: files opened or written through it are not traced");
}
