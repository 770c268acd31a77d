/*
 * changes.c -- wrappers for calls that move, remove, truncate and copy files, for close and dup
 * (CLOSE records, and keeping the connection's descriptor out of the program's reach), and for
 * chdir and rmdir (which also tell lexical.c that the working directory or a directory changed).
 * The open family and stdio are in files.c; what both use is declared in files.h.
 *
 * Every wrapper: real call first, errno saved; reporting only when the call succeeded and only
 * inside the guard; errno restored; the real return value returned.
 */
#define _GNU_SOURCE
#include "shim.h"
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- rename, link, unlink, truncate ----------------------------------------------------------- */

REAL_DECL(int, rename, (const char *, const char *));
REAL_DECL(int, renameat, (int, const char *, int, const char *));
REAL_DECL(int, renameat2, (int, const char *, int, const char *, unsigned));
REAL_DECL(int, link, (const char *, const char *));
REAL_DECL(int, linkat, (int, const char *, int, const char *, int));
REAL_DECL(int, unlink, (const char *));
REAL_DECL(int, unlinkat, (int, const char *, int));
REAL_DECL(int, remove, (const char *));
REAL_DECL(int, rmdir, (const char *));
REAL_DECL(int, truncate, (const char *, off_t));
REAL_DECL(int, truncate64, (const char *, off64_t));
REAL_DECL(int, ftruncate, (int, off_t));
REAL_DECL(int, ftruncate64, (int, off64_t));

/* ftruncate: the descriptor's file is about to change in place. */
static void before_fd_change(int fd)
{
    if (!snapshot_enabled())
        return;
    int saved = errno;
    if (shim_enter()) {
        char p[SHIM_PATH];
        if (path_of_fd(fd, p) == 0) {
            path_normalize(p);
            snapshot_before_change(p, SNAPSHOT_COPY, 0);
        }
        shim_leave();
    }
    errno = saved;
}

#define REPORT_IF_OK(r, call)                                                                     \
    do {                                                                                          \
        if ((r) == 0) {                                                                           \
            int saved_ = errno;                                                                   \
            if (shim_enter()) {                                                                   \
                call;                                                                             \
                shim_leave();                                                                     \
            }                                                                                     \
            errno = saved_;                                                                       \
        }                                                                                         \
    } while (0)

/*
 * After a successful rename: a directory that moved (or an exchange, which may swap a directory
 * and a symlink) can change what a directory's path leads to, so lexical.c forgets what it knew.
 * A file renamed over a file changes no directory.  Outside the guard: forgetting must not be
 * skipped.
 */
static void after_rename(int r, int newdir, const char *newpath, unsigned flags)
{
    if (r != 0)
        return;
    int saved = errno;
    struct stat st;
    if ((flags & RENAME_EXCHANGE) || fstatat(newdir, newpath, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        S_ISDIR(st.st_mode))
        lexical_dirs_changed();
    errno = saved;
}

SHIM_API int rename(const char *oldpath, const char *newpath)
{
    before_change(AT_FDCWD, newpath, 0, SNAPSHOT_LINK);
    int r = REAL(rename)(oldpath, newpath);
    after_rename(r, AT_FDCWD, newpath, 0);
    REPORT_IF_OK(r, report_rename(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0));
    return r;
}

SHIM_API int renameat(int olddir, const char *oldpath, int newdir, const char *newpath)
{
    before_change(newdir, newpath, 0, SNAPSHOT_LINK);
    int r = REAL(renameat)(olddir, oldpath, newdir, newpath);
    after_rename(r, newdir, newpath, 0);
    REPORT_IF_OK(r, report_rename(olddir, oldpath, newdir, newpath, 0));
    return r;
}

SHIM_API int renameat2(int olddir, const char *oldpath, int newdir, const char *newpath,
                       unsigned flags)
{
    if (!REAL(renameat2)) {
        errno = ENOSYS;
        return -1;
    }
    if (!(flags & RENAME_EXCHANGE)) /* an exchange keeps both files */
        before_change(newdir, newpath, 0, SNAPSHOT_LINK);
    int r = real_renameat2(olddir, oldpath, newdir, newpath, flags);
    after_rename(r, newdir, newpath, flags);
    REPORT_IF_OK(r, report_rename(olddir, oldpath, newdir, newpath, flags));
    return r;
}

SHIM_API int link(const char *oldpath, const char *newpath)
{
    int r = REAL(link)(oldpath, newpath);
    REPORT_IF_OK(r, report_link(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0));
    return r;
}

SHIM_API int linkat(int olddir, const char *oldpath, int newdir, const char *newpath, int flags)
{
    int r = REAL(linkat)(olddir, oldpath, newdir, newpath, flags);
    REPORT_IF_OK(r, report_link(olddir, oldpath, newdir, newpath, flags));
    return r;
}

SHIM_API int unlink(const char *path)
{
    before_change(AT_FDCWD, path, 0, SNAPSHOT_LINK);
    int r = REAL(unlink)(path);
    REPORT_IF_OK(r, report_unlink(AT_FDCWD, path));
    return r;
}

SHIM_API int unlinkat(int dirfd, const char *path, int flags)
{
    if (!(flags & AT_REMOVEDIR))
        before_change(dirfd, path, 0, SNAPSHOT_LINK);
    int r = REAL(unlinkat)(dirfd, path, flags);
    if (!(flags & AT_REMOVEDIR)) /* rmdir: no file content goes away */
        REPORT_IF_OK(r, report_unlink(dirfd, path));
    else if (r == 0)
        lexical_dirs_changed(); /* a symlink may take the directory's name */
    return r;
}

/* No record (no file content goes away), but a symlink may take the directory's name. */
SHIM_API int rmdir(const char *path)
{
    int r = REAL(rmdir)(path);
    if (r == 0)
        lexical_dirs_changed();
    return r;
}

SHIM_API int remove(const char *path)
{
    /* remove(3) unlinks a file or removes an empty directory; only the first is an UNLINK. */
    struct stat st;
    int saved = errno;
    int is_dir = lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
    errno = saved;
    if (!is_dir)
        before_change(AT_FDCWD, path, 0, SNAPSHOT_LINK);
    int r = REAL(remove)(path);
    if (!is_dir)
        REPORT_IF_OK(r, report_unlink(AT_FDCWD, path));
    else if (r == 0)
        lexical_dirs_changed();
    return r;
}

SHIM_API int truncate(const char *path, off_t length)
{
    before_change(AT_FDCWD, path, 1, SNAPSHOT_COPY);
    int r = REAL(truncate)(path, length);
    REPORT_IF_OK(r, report_truncate_path(path, (int64_t)length));
    return r;
}

SHIM_API int truncate64(const char *path, off64_t length)
{
    before_change(AT_FDCWD, path, 1, SNAPSHOT_COPY);
    int r = REAL(truncate64)(path, length);
    REPORT_IF_OK(r, report_truncate_path(path, (int64_t)length));
    return r;
}

SHIM_API int ftruncate(int fd, off_t length)
{
    before_fd_change(fd);
    int r = REAL(ftruncate)(fd, length);
    REPORT_IF_OK(r, report_truncate_fd(fd, (int64_t)length));
    return r;
}

SHIM_API int ftruncate64(int fd, off64_t length)
{
    before_fd_change(fd);
    int r = REAL(ftruncate64)(fd, length);
    REPORT_IF_OK(r, report_truncate_fd(fd, (int64_t)length));
    return r;
}

/* ---- data copied between descriptors ---------------------------------------------------------- */

REAL_DECL(ssize_t, copy_file_range, (int, off64_t *, int, off64_t *, size_t, unsigned));
REAL_DECL(ssize_t, sendfile, (int, int, off_t *, size_t));
REAL_DECL(ssize_t, sendfile64, (int, int, off64_t *, size_t));
REAL_DECL(ssize_t, splice, (int, off64_t *, int, off64_t *, size_t, unsigned));

static void after_copy(ssize_t r, int in_fd, int out_fd)
{
    if (r < 0)
        return;
    int saved = errno;
    if (shim_enter()) {
        report_fd_data(ROAR_EVK_READ, DEDUPE_FD_READ, in_fd);
        report_fd_data(ROAR_EVK_WRITE, DEDUPE_FD_WRITE, out_fd);
        shim_leave();
    }
    errno = saved;
}

SHIM_API ssize_t copy_file_range(int in_fd, off64_t *in_off, int out_fd, off64_t *out_off,
                                 size_t len, unsigned flags)
{
    if (!REAL(copy_file_range)) {
        errno = ENOSYS;
        return -1;
    }
    ssize_t r = real_copy_file_range(in_fd, in_off, out_fd, out_off, len, flags);
    after_copy(r, in_fd, out_fd);
    return r;
}

SHIM_API ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
    ssize_t r = REAL(sendfile)(out_fd, in_fd, offset, count);
    after_copy(r, in_fd, out_fd);
    return r;
}

SHIM_API ssize_t sendfile64(int out_fd, int in_fd, off64_t *offset, size_t count)
{
    ssize_t r = REAL(sendfile64)(out_fd, in_fd, offset, count);
    after_copy(r, in_fd, out_fd);
    return r;
}

SHIM_API ssize_t splice(int in_fd, off64_t *in_off, int out_fd, off64_t *out_off, size_t len,
                        unsigned flags)
{
    ssize_t r = REAL(splice)(in_fd, in_off, out_fd, out_off, len, flags);
    after_copy(r, in_fd, out_fd);
    return r;
}

/* ---- close and dup: CLOSE records, and the connection stays ours ------------------------------ */

REAL_DECL(int, close, (int));
REAL_DECL(int, dup2, (int, int));
REAL_DECL(int, dup3, (int, int, int));
REAL_DECL(int, close_range, (unsigned, unsigned, int));
REAL_DECL(void, closefrom, (int));

static int is_conn(int fd)
{
    return shim_ready && fd >= 0 && fd == transport_fd();
}

SHIM_API int close(int fd)
{
    if (is_conn(fd)) {
        errno = EBADF; /* as if it were not open: the program never opened it */
        return -1;
    }
    int r = REAL(close)(fd);
    if (!(r < 0 && errno == EBADF) && fdtab_has(fd) && !shim_in_hookless_child()) {
        int saved = errno;
        if (shim_enter()) {
            report_close(fd);
            shim_leave();
        }
        errno = saved;
    }
    return r;
}

static void before_dup_over(int oldfd, int newfd)
{
    if (oldfd == newfd || !shim_ready || shim_in_hookless_child())
        return; /* a vfork child: its descriptors are its own, our bookkeeping is the parent's */
    int saved = errno;
    if (is_conn(newfd))
        transport_evacuate(newfd);
    if (fdtab_has(newfd) && fcntl(oldfd, F_GETFD) >= 0 && shim_enter()) {
        report_close(newfd); /* dup2 closes newfd first */
        shim_leave();
    }
    errno = saved;
}

SHIM_API int dup2(int oldfd, int newfd)
{
    before_dup_over(oldfd, newfd);
    return REAL(dup2)(oldfd, newfd);
}

SHIM_API int dup3(int oldfd, int newfd, int flags)
{
    before_dup_over(oldfd, newfd);
    return REAL(dup3)(oldfd, newfd, flags);
}

static int raw_close_range(unsigned lo, unsigned hi, int flags)
{
    if (lo > hi)
        return 0;
    if (REAL(close_range))
        return real_close_range(lo, hi, flags);
#ifdef SYS_close_range
    return (int)syscall(SYS_close_range, lo, hi, flags);
#else
    errno = ENOSYS;
    return -1;
#endif
}

static void close_records(unsigned lo, unsigned hi)
{
    if (hi > FDTAB_SCAN_LIMIT)
        hi = FDTAB_SCAN_LIMIT;
    int saved = errno;
    if (lo <= hi && !shim_in_hookless_child() && shim_enter()) {
        for (unsigned fd = lo; fd <= hi; fd++) {
            if (fdtab_has((int)fd))
                report_close((int)fd);
        }
        shim_leave();
    }
    errno = saved;
}

SHIM_API int close_range(unsigned lo, unsigned hi, int flags)
{
    int conn = shim_ready ? transport_fd() : -1;
    int r;
    if (conn >= 0 && (unsigned)conn >= lo && (unsigned)conn <= hi) {
        /* Leave a hole for the connection. */
        int r1 = (unsigned)conn > lo ? raw_close_range(lo, (unsigned)conn - 1, flags) : 0;
        int e1 = errno;
        int r2 = (unsigned)conn < hi ? raw_close_range((unsigned)conn + 1, hi, flags) : 0;
        if (r1 < 0) {
            errno = e1;
            r = r1;
        } else {
            r = r2;
        }
    } else {
        r = raw_close_range(lo, hi, flags);
    }
    if (r == 0 && !(flags & CLOSE_RANGE_CLOEXEC))
        close_records(lo, hi);
    return r;
}

SHIM_API void closefrom(int lo)
{
    int conn = shim_ready ? transport_fd() : -1;
    if (lo < 0)
        lo = 0;
    if (conn >= lo) {
        int saved = errno;
        raw_close_range((unsigned)lo, (unsigned)conn - 1, 0);
        raw_close_range((unsigned)conn + 1, ~0U, 0);
        errno = saved;
    } else if (REAL(closefrom)) {
        real_closefrom(lo);
    } else {
        raw_close_range((unsigned)lo, ~0U, 0);
    }
    close_records((unsigned)lo, ~0U);
}

/* ---- working directory ------------------------------------------------------------------------ */

REAL_DECL(int, chdir, (const char *));
REAL_DECL(int, fchdir, (int));

static void report_chdir(void)
{
    char cwd[SHIM_PATH];
    if (getcwd(cwd, sizeof cwd) && cwd[0] == '/')
        emit(ROAR_EVK_CHDIR, 0, 0, 0, 0, cwd, NULL);
    else
        unresolved("chdir");
}

SHIM_API int chdir(const char *path)
{
    int r = REAL(chdir)(path);
    if (r == 0)
        lexical_cwd_changed();
    REPORT_IF_OK(r, report_chdir());
    return r;
}

SHIM_API int fchdir(int fd)
{
    int r = REAL(fchdir)(fd);
    if (r == 0)
        lexical_cwd_changed();
    REPORT_IF_OK(r, report_chdir());
    return r;
}
