/*
 * handlers.c -- see handlers.h.  One row per syscall: what the kernel half captures (struct
 * sc_spec) and what makes records of it here.  The rows mirror roar-ptrace's dispatch table
 * (ext/ptrace/syscalls.c) and the records are the ones its exit handlers send, with two
 * differences that come from seeing a syscall after the fact, when /proc may no longer know the
 * process:
 *   - an open's file and a chdir's directory are named by the kernel half (RB_I_KNAME), where
 *     roar-ptrace reads /proc/<tid>/fd/<fd> or /proc/<tid>/cwd; other names a call passed are
 *     joined to the working directory or dirfd kept in tasks.c, then canonicalised as
 *     roar-ptrace canonicalises rename paths (realpath of what still exists);
 *   - ROAR_OPEN_CREATED is the kernel's own FMODE_CREATED, not a look before the call.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

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

struct roar_skip_reads skip_reads;

static pid_t root_pid;
static int root_exec_seen;

/* An event's paths, NUL-terminated copies (the kernel's strings end in NUL, but trust nothing). */
struct paths {
    char p1[RB_PATH_MAX + 1];
    char p2[RB_PATH_MAX + 1];
    int has1, has2;
};

typedef void (*handler_fn)(struct task *t, const struct rb_event *ev, const struct paths *p);

struct row {
    long nr;
    const char *name;
    struct sc_spec spec;
    handler_fn handle;
};

#define ARG(ev, i) ((int)(ev)->args[i])

/* ---- shared helpers --------------------------------------------------------------------------- */

/* The job read path: snapshot.c must know, and the seccomp short cut (unotify.h) too. */
static void note_read(const char *path)
{
    if (!snapshot_enabled())
        return;
    snapshot_note_read(path);
    unotify_note_read(path);
}

/* What /proc says about a descriptor of a live thread: the fallback when the table has no entry. */
static int proc_fd_path(pid_t tid, int fd, char *out, size_t size)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/%d/fd/%d", (int)tid, fd);
    ssize_t n = readlink(link, out, size - 1);
    if (n <= 0)
        return -1;
    out[n] = '\0';
    return path_is_absolute(out) ? 0 : -1;
}

/* The path descriptor fd of t was opened on (by name), or NULL. */
static const char *fd_path(struct task *t, int fd, char *buf, size_t size)
{
    const char *known = fdt_get(t->files, fd);
    if (known)
        return known;
    return proc_fd_path(t->tid, fd, buf, size) == 0 ? buf : NULL;
}

/* 1 if a component of path is "..". */
static int has_dotdot(const char *path)
{
    for (const char *p = path; (p = strstr(p, "..")); p += 2) {
        if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
            return 1;
    }
    return 0;
}

/*
 * Make raw absolute against dirfd (AT_FDCWD: the working directory) as the call did.  An empty
 * raw with allow_empty (AT_EMPTY_PATH) is dirfd itself.  A name with ".." is left unnormalised:
 * "link/../x" is where the symlink leads, then up, which only canonicalise() can know.
 */
static int resolve(struct task *t, int dirfd, const char *raw, char *out, int allow_empty)
{
    char buf[ROAR_PATH_BUF];
    const char *base = t->cwd->path;
    if (dirfd != AT_FDCWD && (!raw[0] || !path_is_absolute(raw))) {
        base = fd_path(t, dirfd, buf, sizeof buf);
        if (!base)
            return -1;
    }
    if (!raw[0]) {
        if (!allow_empty)
            return -1;
        snprintf(out, ROAR_PATH_BUF, "%s", base);
        return 0;
    }
    int n = path_is_absolute(raw) ? snprintf(out, ROAR_PATH_BUF, "%s", raw)
                                  : snprintf(out, ROAR_PATH_BUF, "%s/%s", base, raw);
    if (n < 0 || n >= ROAR_PATH_BUF)
        return -1;
    path_fix_proc_self(out, ROAR_PATH_BUF, t->proc->tgid, t->tid);
    if (!has_dotdot(out))
        path_normalize(out);
    return 0;
}

/*
 * What the kernel found at a resolved name, as far as it still exists: the realpath() of the
 * whole name when the call follows a final symlink (follow), else of its directory.
 */
static void canonicalise(char *path, size_t size, int follow)
{
    if (follow)
        path_canonical_full(path, size);
    else
        path_canonical_parent(path, size);
    path_normalize(path);
}

/*
 * The kernel's name (RB_I_KNAME): path1's components, last first, each NUL-terminated.  Returns
 * 0 with the absolute path in out, or -1 when it does not fit.
 */
static int kernel_name(const struct rb_event *ev, char *out, size_t size)
{
    size_t used = 0;
    size_t end = ev->len1;
    out[0] = '\0';
    while (end > 0) {
        size_t start = end - 1; /* the NUL ending this component */
        while (start > 0 && ev->data[start - 1] != '\0')
            start--;
        size_t n = end - 1 - start;
        if (used + 1 + n + 1 > size)
            return -1;
        out[used++] = '/';
        memcpy(out + used, ev->data + start, n);
        used += n;
        end = start;
    }
    if (used == 0)
        out[used++] = '/';
    out[used] = '\0';
    return 0;
}

/* A successful call whose path we could not work out: say so rather than stay silent. */
static void unresolved(struct task *t, const char *what)
{
    emit_warn(t->proc->tgid, t->tid, "%s succeeded but its path could not be worked out", what);
    emit_count_lost(1);
}

static void emit_close(void *ctx, int fd, const char *path)
{
    struct task *t = ctx;
    emit_record(ROAR_EVK_CLOSE, 0, t->proc->tgid, t->tid, 0, fd, 0, path, NULL);
}

/* Records that change what lives at a path forget its dedupe entries. */
static void emit_namespace(struct task *t, uint8_t kind, int32_t arg0, int64_t arg1,
                           const char *p1, const char *p2)
{
    dedupe_forget(p1);
    if (p2)
        dedupe_forget(p2);
    emit_record(kind, 0, t->proc->tgid, t->tid, arg0, arg1, 0, p1, p2);
}

static void close_fd(struct task *t, int fd)
{
    const char *path = fdt_get(t->writes, fd);
    if (path) {
        emit_close(t, fd, path);
        fdt_remove(t->writes, fd);
    }
    fdt_remove(t->files, fd);
}

/* ---- open family ------------------------------------------------------------------------------ */

static int plain_read(int64_t flags)
{
    return (flags & O_ACCMODE) == O_RDONLY && !(flags & (O_CREAT | O_TRUNC));
}

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
    if (plain_read(flags) && ((flags & O_DIRECTORY) || (ev->info & RB_I_DIR)))
        return; /* a listing, or a dirfd for *at(): nothing roar records */
    if (plain_read(flags) && roar_skip_reads_enabled(&skip_reads) &&
        roar_skip_read(&skip_reads, path))
        return;
    unsigned cls;
    if (flags & O_TRUNC)
        cls = DEDUPE_OPEN_TRUNC;
    else if ((flags & O_ACCMODE) == O_WRONLY)
        cls = DEDUPE_OPEN_WRITE;
    else if ((flags & O_ACCMODE) == O_RDWR)
        cls = DEDUPE_OPEN_READWRITE;
    else
        cls = DEDUPE_OPEN_READ;
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

static void h_open(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    on_open(t, ev, p, ARG(ev, 1), AT_FDCWD);
}

static void h_creat(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    on_open(t, ev, p, O_CREAT | O_WRONLY | O_TRUNC, AT_FDCWD);
}

static void h_openat(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    on_open(t, ev, p, ARG(ev, 2), ARG(ev, 0));
}

static void h_openat2(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    on_open(t, ev, p, (int64_t)ev->aux, ARG(ev, 0));
}

static void h_open_by_handle_at(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    on_open(t, ev, p, ARG(ev, 2), AT_FDCWD);
}

/* ---- descriptors ------------------------------------------------------------------------------ */

static void h_close(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    (void)p; /* close(2) releases the descriptor even when it reports an error */
    close_fd(t, ARG(ev, 0));
}

static void h_close_range(struct task *t, const struct rb_event *ev, const struct paths *p)
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

static void h_dup(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    (void)p;
    dup_to(t, ARG(ev, 0), (int)ev->ret, 0, 0);
}

static void h_dup2(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    (void)p;
    dup_to(t, ARG(ev, 0), ARG(ev, 1), 0, 1);
}

static void h_dup3(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    (void)p;
    dup_to(t, ARG(ev, 0), ARG(ev, 1), (ARG(ev, 2) & O_CLOEXEC) != 0, 1);
}

static void h_fcntl(struct task *t, const struct rb_event *ev, const struct paths *p)
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

static void h_ioctl(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    (void)p; /* FIOCLEX or FIONCLEX only */
    int cloexec = (unsigned)ev->args[1] == FIOCLEX;
    fdt_set_cloexec(t->files, ARG(ev, 0), cloexec);
    fdt_set_cloexec(t->writes, ARG(ev, 0), cloexec);
}

static void h_unshare(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    (void)p;
    if (ev->args[0] & CLONE_FILES)
        task_unshare_files(t);
    if (ev->args[0] & CLONE_FS)
        task_unshare_cwd(t);
}

/* ---- rename / link / unlink / truncate -------------------------------------------------------- */

static void two_names(struct task *t, const struct rb_event *ev, const struct paths *p,
                      int dirfd1, int dirfd2, int allow_empty1, uint8_t kind, int32_t arg0,
                      int follow1, const char *what)
{
    char old[ROAR_PATH_BUF], new[ROAR_PATH_BUF];
    if (!p->has1 || !p->has2 || resolve(t, dirfd1, p->p1, old, allow_empty1) < 0 ||
        resolve(t, dirfd2, p->p2, new, 0) < 0) {
        unresolved(t, what);
        return;
    }
    (void)ev;
    /* The directories only: the old name may be gone now, the new one may be a symlink. */
    canonicalise(old, sizeof old, follow1);
    canonicalise(new, sizeof new, 0);
    snapshot_note_write(new);
    emit_namespace(t, kind, arg0, 0, old, new);
}

static void h_rename(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    two_names(t, ev, p, AT_FDCWD, AT_FDCWD, 0, ROAR_EVK_RENAME, 0, 0, "rename");
}

static void h_renameat(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    two_names(t, ev, p, ARG(ev, 0), ARG(ev, 2), 0, ROAR_EVK_RENAME, 0, 0, "rename");
}

static void h_renameat2(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    two_names(t, ev, p, ARG(ev, 0), ARG(ev, 2), 0, ROAR_EVK_RENAME, (int32_t)ev->args[4], 0,
              "rename");
}

static void h_link(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    /* link(2) does not follow a symlink in oldpath on Linux */
    two_names(t, ev, p, AT_FDCWD, AT_FDCWD, 0, ROAR_EVK_LINK, 0, 0, "link");
}

static void h_linkat(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    int flags = ARG(ev, 4);
    two_names(t, ev, p, ARG(ev, 0), ARG(ev, 2), (flags & AT_EMPTY_PATH) != 0, ROAR_EVK_LINK, 0,
              (flags & AT_SYMLINK_FOLLOW) != 0, "link");
}

static void one_name(struct task *t, const struct paths *p, int dirfd, uint8_t kind,
                     int64_t arg1, int follow, const char *what)
{
    char path[ROAR_PATH_BUF];
    if (!p->has1 || resolve(t, dirfd, p->p1, path, 0) < 0) {
        unresolved(t, what);
        return;
    }
    canonicalise(path, sizeof path, follow);
    if (kind == ROAR_EVK_TRUNCATE)
        snapshot_note_write(path);
    emit_namespace(t, kind, 0, arg1, path, NULL);
}

static void h_unlink(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    (void)ev;
    one_name(t, p, AT_FDCWD, ROAR_EVK_UNLINK, 0, 0, "unlink");
}

static void h_unlinkat(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    if (ARG(ev, 2) & AT_REMOVEDIR)
        return; /* rmdir: no file content goes away */
    one_name(t, p, ARG(ev, 0), ROAR_EVK_UNLINK, 0, 0, "unlink");
}

static void h_truncate(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    /* truncate(2) follows symlinks */
    one_name(t, p, AT_FDCWD, ROAR_EVK_TRUNCATE, (int64_t)ev->args[1], 1, "truncate");
}

static void h_ftruncate(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    (void)p;
    char buf[ROAR_PATH_BUF];
    const char *path = fd_path(t, ARG(ev, 0), buf, sizeof buf);
    if (!path) {
        unresolved(t, "ftruncate");
        return;
    }
    snapshot_note_write(path);
    emit_namespace(t, ROAR_EVK_TRUNCATE, 0, (int64_t)ev->args[1], path, NULL);
}

/* ---- exec ------------------------------------------------------------------------------------- */

static void on_exec(struct task *t, const struct rb_event *ev, const struct paths *p, int dirfd,
                    int allow_empty)
{
    t = task_exec(t, ev->tid);
    /* The kernel unshares the table, then closes the close-on-exec descriptors. */
    task_unshare_files(t);
    fdt_close_range(t->writes, 0, ~0u, 1, 0, emit_close, t);
    fdt_close_range(t->files, 0, ~0u, 1, 0, NULL, NULL);
    if (t->proc->tgid == root_pid)
        root_exec_seen = 1;

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

static void h_execve(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    on_exec(t, ev, p, AT_FDCWD, 0);
}

static void h_execveat(struct task *t, const struct rb_event *ev, const struct paths *p)
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

static void h_sendfile(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    (void)p; /* sendfile(out_fd, in_fd, offset, count) */
    fd_event(t, ROAR_EVK_READ, DEDUPE_FD_READ, ARG(ev, 1));
    fd_event(t, ROAR_EVK_WRITE, DEDUPE_FD_WRITE, ARG(ev, 0));
}

static void h_copy_in_out(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    (void)p; /* copy_file_range/splice(fd_in, off_in, fd_out, off_out, ...) */
    fd_event(t, ROAR_EVK_READ, DEDUPE_FD_READ, ARG(ev, 0));
    fd_event(t, ROAR_EVK_WRITE, DEDUPE_FD_WRITE, ARG(ev, 2));
}

/* ---- working directory ------------------------------------------------------------------------ */

static void set_cwd(struct task *t, const char *path)
{
    snprintf(t->cwd->path, sizeof t->cwd->path, "%s", path);
    emit_record(ROAR_EVK_CHDIR, 0, t->proc->tgid, t->tid, 0, 0, 0, path, NULL);
}

static void h_chdir(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    char path[ROAR_PATH_BUF];
    if ((ev->info & RB_I_KNAME) && kernel_name(ev, path, sizeof path) == 0) {
        set_cwd(t, path);
        return;
    }
    if (!p->has1 || resolve(t, AT_FDCWD, p->p1, path, 0) < 0) {
        unresolved(t, "chdir");
        return;
    }
    canonicalise(path, sizeof path, 1);
    set_cwd(t, path);
}

static void h_fchdir(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    (void)p;
    char buf[ROAR_PATH_BUF];
    if ((ev->info & RB_I_KNAME) && kernel_name(ev, buf, sizeof buf) == 0) {
        set_cwd(t, buf);
        return;
    }
    const char *path = fd_path(t, ARG(ev, 0), buf, sizeof buf);
    if (!path) {
        unresolved(t, "fchdir");
        return;
    }
    set_cwd(t, path);
}

/* ---- things we cannot see --------------------------------------------------------------------- */

static void h_io_uring_setup(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    (void)ev;
    (void)p;
    if (t->proc->warned_io_uring)
        return;
    t->proc->warned_io_uring = 1;
    emit_warn(t->proc->tgid, t->tid,
              "io_uring in use: files opened or written through it are not traced");
}

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
