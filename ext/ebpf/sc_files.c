/*
 * sc_files.c -- the open family and descriptor bookkeeping (dup, close, fcntl, ioctl, unshare),
 * so that OPEN records name the file and CLOSE records the file a descriptor held.
 */
#include "sc.h"

/* ---- open family ------------------------------------------------------------------------------ */

static int plain_read(int64_t flags)
{
    return (flags & O_ACCMODE) == O_RDONLY && !(flags & (O_CREAT | O_TRUNC));
}

/*
 * A successful open of (dirfd, path1) with these flags gave descriptor ev->ret: track it, and
 * report it unless roar-ptrace would not (O_PATH, a read-only directory, a skipped read, a
 * repeat within this process image).
 */
static void on_open(struct task *t, const struct rb_event *ev, const struct paths *p,
                    int64_t flags, int dirfd)
{
    int fd = (int)ev->ret;
    char path[ROAR_PATH_BUF];
    if (ev->info & RB_I_NOT_FILE) {
        /* a pipe, socket or anonymous inode reopened through /proc: not a file */
        fdt_remove(t->files, fd);
        fdt_remove(t->writes, fd);
        return;
    }
    if ((ev->info & RB_I_KNAME) && kernel_name(ev, path, sizeof path) == 0) {
        /* the kernel's own name: symlinks, "..", the dirfd resolved as the call did */
    } else if (!p->has1 || resolve(t, dirfd, p->p1, path, 0) < 0) {
        fdt_remove(t->files, fd);
        fdt_remove(t->writes, fd);
        if (p->has1 || !(flags & O_PATH))
            unresolved(t, "open");
        return;
    } else {
        /* Too deep for the kernel half: symlinks and ".." as the kernel followed them, as far
         * as the file still exists. */
        canonicalise(path, sizeof path, !(flags & O_NOFOLLOW));
    }
    /* Every descriptor opened by name may serve as a dirfd, an fchdir or a sendfile source. */
    fdt_set(t->files, fd, path, (flags & O_CLOEXEC) != 0);
    int writes = (flags & O_ACCMODE) != O_RDONLY;
    if (writes)
        fdt_set(t->writes, fd, path, (flags & O_CLOEXEC) != 0);
    else
        fdt_remove(t->writes, fd);
    if (flags & O_PATH)
        return; /* a handle, not access to the data */
    if (plain_read(flags) && (flags & O_DIRECTORY))
        return; /* a listing, or a dirfd for *at(): nothing roar records (a directory opened
                   without O_DIRECTORY gives a record, as with roar-ptrace) */
    if (plain_read(flags) && roar_skip_reads_enabled(&skip_reads) &&
        roar_skip_read(&skip_reads, path))
        return;
    unsigned cls = dedupe_open_class(flags);
    if (dedupe_reset_mark(path))
        dedupe_forget_instance(t->proc->instance); /* a Ray task begins or ends here */
    if (!(flags & O_TRUNC) && (flags & O_ACCMODE) != O_WRONLY)
        note_read(path);
    if ((flags & O_TRUNC) || (flags & O_ACCMODE) != O_RDONLY)
        snapshot_note_write(path);
    if (dedupe_first(t->proc->instance, cls, path)) {
        uint32_t info = (ev->info & RB_I_CREATED) ? ROAR_OPEN_CREATED : 0;
        emit_record(ROAR_EVK_OPEN, 0, t->proc->tgid, t->tid, (int32_t)flags, fd, info, path,
                    NULL);
    }
}

void h_open(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    on_open(t, ev, p, ARG(ev, 1), AT_FDCWD);
}

void h_creat(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    on_open(t, ev, p, O_CREAT | O_WRONLY | O_TRUNC, AT_FDCWD);
}

void h_openat(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    on_open(t, ev, p, ARG(ev, 2), ARG(ev, 0));
}

void h_openat2(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    on_open(t, ev, p, (int64_t)ev->aux, ARG(ev, 0));
}

void h_open_by_handle_at(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    on_open(t, ev, p, ARG(ev, 2), AT_FDCWD);
}

/* ---- descriptors ------------------------------------------------------------------------------ */

void h_close(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    (void)p; /* close(2) releases the descriptor even when it reports an error */
    close_fd(t, ARG(ev, 0));
}

void h_close_range(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    (void)p;
    unsigned lo = (unsigned)ev->args[0], hi = (unsigned)ev->args[1];
    unsigned flags = (unsigned)ev->args[2];
    if (flags & CLOSE_RANGE_UNSHARE)
        task_unshare_files(t);
    if (flags & CLOSE_RANGE_CLOEXEC) {
        fdt_close_range(t->files, lo, hi, 0, 1, NULL, NULL);
        fdt_close_range(t->writes, lo, hi, 0, 1, NULL, NULL);
    } else {
        fdt_close_range(t->writes, lo, hi, 0, 0, emit_close, t);
        fdt_close_range(t->files, lo, hi, 0, 0, NULL, NULL);
    }
}

static void dup_to(struct task *t, int oldfd, int newfd, int cloexec, int over)
{
    if (oldfd == newfd)
        return;
    if (over)
        close_fd(t, newfd); /* dup2/dup3 close newfd first: an implicit CLOSE */
    fdt_dup(t->files, oldfd, newfd, cloexec);
    fdt_dup(t->writes, oldfd, newfd, cloexec);
}

void h_dup(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    (void)p;
    dup_to(t, ARG(ev, 0), (int)ev->ret, 0, 0);
}

void h_dup2(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    (void)p;
    dup_to(t, ARG(ev, 0), ARG(ev, 1), 0, 1);
}

void h_dup3(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    (void)p;
    dup_to(t, ARG(ev, 0), ARG(ev, 1), (ARG(ev, 2) & O_CLOEXEC) != 0, 1);
}

void h_fcntl(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    (void)p; /* the kernel half reports only the commands below */
    int fd = ARG(ev, 0);
    switch (ARG(ev, 1)) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
        dup_to(t, fd, (int)ev->ret, ARG(ev, 1) == F_DUPFD_CLOEXEC, 0);
        break;
    case F_SETFD:
        fdt_set_cloexec(t->files, fd, (ARG(ev, 2) & FD_CLOEXEC) != 0);
        fdt_set_cloexec(t->writes, fd, (ARG(ev, 2) & FD_CLOEXEC) != 0);
        break;
    default:
        break;
    }
}

void h_ioctl(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    (void)p; /* FIOCLEX or FIONCLEX only */
    int cloexec = (unsigned)ev->args[1] == FIOCLEX;
    fdt_set_cloexec(t->files, ARG(ev, 0), cloexec);
    fdt_set_cloexec(t->writes, ARG(ev, 0), cloexec);
}

void h_unshare(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    (void)p;
    if (ev->args[0] & CLONE_FILES)
        task_unshare_files(t);
    if (ev->args[0] & CLONE_FS)
        task_unshare_cwd(t);
}
