/*
 * files.c -- wrappers for the calls that open files (the open family and stdio), and the record
 * helpers every file wrapper uses (declared in files.h; changes.c has the calls that move,
 * remove, truncate and copy files, close/dup and chdir).
 *
 * Why stdio and the fortified variants are wrapped too: inside libc, fopen, freopen, remove and
 * fclose call the internal __open/__unlink/__close directly, never through the PLT, so wrapping
 * open() alone would not see them.  Calls made by the dynamic loader (dlopen of shared
 * libraries) are not visible at all; nor is anything a program does with raw syscalls.
 *
 * Every wrapper: real call first (an open may look at its path just before: before_open), errno
 * saved; reporting only when the call succeeded and only inside the guard; errno restored; the
 * real return value returned.
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


/* ---- reporting helpers ------------------------------------------------------------------------ */

/* A read-only open's descriptor number may have been a written file's whose close we missed
 * (a raw syscall): it is not any more. */
static void forget_written_fd(int fd)
{
    if (fdtab_has(fd) && !shim_in_hookless_child())
        free(fdtab_take(fd));
}

/*
 * A read-only open without O_CREAT or O_TRUNC reports nothing when it opened a directory
 * (O_DIRECTORY: a listing, or a dirfd for *at() calls, which path_resolve_at reads from /proc
 * itself) -- not even the readlink is made -- or when shim_skip_reads leaves its path out (a
 * system file roar would drop: see ext/skip_reads.h).
 */
void report_open(int fd, int flags, uint32_t open_info, int dirfd, const char *path)
{
    if (flags & O_PATH)
        return; /* a handle, not access to the data */
    if ((flags & O_TMPFILE) == O_TMPFILE)
        return; /* nameless until linkat() gives it a name (a LINK record) */
    int plain_read = (flags & O_ACCMODE) == O_RDONLY && !(flags & (O_CREAT | O_TRUNC));
    if (plain_read && (flags & O_DIRECTORY)) {
        forget_written_fd(fd);
        return;
    }
    /* A successful O_EXCL open created the file; an O_NOFOLLOW one found no symlink. */
    int final_plain = (open_info & SHIM_OPEN_FINAL_PLAIN) || (flags & O_NOFOLLOW) ||
                      ((flags & O_CREAT) && (flags & O_EXCL));
    open_info &= ~SHIM_OPEN_FINAL_PLAIN;
    char lexical[SHIM_PATH], kernel[SHIM_PATH];
    uint32_t generation;
    int how = lexical_open_path(dirfd, path, final_plain, lexical, &generation);
    char *buf = how == 0 ? lexical : kernel; /* the path the record carries */
    if (how != 0) {
        int kind = path_of_fd(fd, buf);
        if (kind == 1)
            return; /* not a file */
        if (kind != 0 && path_resolve_at(dirfd, path, buf, 0) < 0) {
            emit_warn(1, "open of %.200s succeeded but its path could not be resolved", path);
            return;
        }
        path_normalize(buf);
        if (kind == 0 && how == 1)
            lexical_learn(lexical, buf, generation);
    }
    if (plain_read && roar_skip_reads_enabled(&shim_skip_reads) &&
        roar_skip_read(&shim_skip_reads, buf)) {
        forget_written_fd(fd);
        return;
    }
    if (shim_reset_under_len && strncmp(buf, shim_reset_under, shim_reset_under_len) == 0)
        dedupe_reset(); /* a unit of work (a Ray task) begins or ends here */
    if (dedupe_first(dedupe_open_class(flags), buf))
        emit(ROAR_EVK_OPEN, 0, flags, fd, open_info, buf, NULL);
    if (snapshot_enabled()) {
        if (!(flags & O_TRUNC) && (flags & O_ACCMODE) != O_WRONLY)
            snapshot_note_read(buf);
        if ((flags & O_TRUNC) || (flags & O_ACCMODE) != O_RDONLY)
            snapshot_note_write(buf);
    }
    /* In a vfork child the descriptor table's entries belong to the parent (shared memory). */
    if ((flags & O_ACCMODE) != O_RDONLY) {
        if (!shim_in_hookless_child())
            fdtab_set(fd, buf);
    } else {
        forget_written_fd(fd);
    }
}

void report_close(int fd)
{
    char *path = fdtab_take(fd);
    if (path) {
        emit(ROAR_EVK_CLOSE, 0, 0, fd, 0, path, NULL);
        free(path);
    }
}

/* RENAME/LINK/UNLINK/TRUNCATE: forget the paths' dedupe entries, then report. */
static void report_namespace(uint8_t kind, int32_t arg0, int64_t arg1, const char *p1,
                             const char *p2)
{
    dedupe_forget(p1);
    if (p2)
        dedupe_forget(p2);
    emit(kind, 0, arg0, arg1, 0, p1, p2);
}

void unresolved(const char *what)
{
    emit_warn(1, "%s succeeded but its path could not be resolved", what);
}

void report_rename(int olddir, const char *oldpath, int newdir, const char *newpath,
                   unsigned flags)
{
    char p1[SHIM_PATH], p2[SHIM_PATH];
    if (path_resolve_at(olddir, oldpath, p1, 0) < 0 || path_resolve_at(newdir, newpath, p2, 0) < 0) {
        unresolved("rename");
        return;
    }
    path_canonical_parent(p1);
    path_canonical_parent(p2);
    snapshot_note_write(p2);
    report_namespace(ROAR_EVK_RENAME, (int32_t)flags, 0, p1, p2);
}

void report_link(int olddir, const char *oldpath, int newdir, const char *newpath,
                 int flags)
{
    char p1[SHIM_PATH], p2[SHIM_PATH];
    if (path_resolve_at(olddir, oldpath, p1, (flags & AT_EMPTY_PATH) != 0) < 0 ||
        path_resolve_at(newdir, newpath, p2, 0) < 0) {
        unresolved("link");
        return;
    }
    if (flags & AT_SYMLINK_FOLLOW)
        path_canonical_full(p1);
    else
        path_canonical_parent(p1);
    path_canonical_parent(p2);
    snapshot_note_write(p2);
    report_namespace(ROAR_EVK_LINK, 0, 0, p1, p2);
}

void report_unlink(int dirfd, const char *path)
{
    char p[SHIM_PATH];
    if (path_resolve_at(dirfd, path, p, 0) < 0) {
        unresolved("unlink");
        return;
    }
    path_canonical_parent(p);
    report_namespace(ROAR_EVK_UNLINK, 0, 0, p, NULL);
}

void report_truncate_path(const char *path, int64_t length)
{
    char p[SHIM_PATH];
    if (path_resolve_at(AT_FDCWD, path, p, 0) < 0) {
        unresolved("truncate");
        return;
    }
    path_canonical_full(p); /* truncate(2) follows symlinks */
    snapshot_note_write(p);
    report_namespace(ROAR_EVK_TRUNCATE, 0, length, p, NULL);
}

void report_truncate_fd(int fd, int64_t length)
{
    char p[SHIM_PATH];
    int kind = path_of_fd(fd, p);
    if (kind == 1 || kind == 2)
        return;
    if (kind < 0) {
        unresolved("ftruncate");
        return;
    }
    path_normalize(p);
    snapshot_note_write(p);
    report_namespace(ROAR_EVK_TRUNCATE, 0, length, p, NULL);
}

void report_fd_data(uint8_t kind, unsigned cls, int fd)
{
    char p[SHIM_PATH];
    if (path_of_fd(fd, p) != 0)
        return; /* pipes and sockets are not files */
    path_normalize(p);
    if (kind == ROAR_EVK_READ)
        snapshot_note_read(p);
    else
        snapshot_note_write(p);
    if (dedupe_first(cls, p))
        emit(kind, 0, 0, fd, 0, p, NULL);
}

/* ---- the open family -------------------------------------------------------------------------- */

static inline int needs_mode(int flags)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

#define VA_MODE(flags)                                                                            \
    mode_t mode = 0;                                                                              \
    if (needs_mode(flags)) {                                                                      \
        va_list ap;                                                                               \
        va_start(ap, flags);                                                                      \
        mode = (mode_t)va_arg(ap, int);                                                           \
        va_end(ap);                                                                               \
    }

/* Whether path (dirfd-relative) exists, as an open resolves it: 1, 0 (ENOENT) or -1 (cannot
 * tell); *final_plain as stat_as_open says. */
static int exists_at(int dirfd, const char *path, int follow, int *final_plain)
{
    struct stat st;
    if (stat_as_open(dirfd, path, follow, &st, final_plain) == 0)
        return 1;
    return errno == ENOENT ? 0 : -1;
}

/*
 * Before an open: save the file first if the open may change data the job read (snapshots), and
 * find out whether an O_CREAT open is about to create the file.  Returns the ROAR_OPEN_* flags
 * for its OPEN record, and SHIM_OPEN_FINAL_PLAIN.
 *
 * Whether it creates: O_CREAT|O_EXCL always does (or fails); otherwise the path is looked up
 * just before the real call, with fstatat on the program's own dirfd and path, following a final
 * symlink unless O_NOFOLLOW -- as open resolves it (a dangling symlink: open creates its target,
 * and the lookup says "absent").  With snapshots on, every writing open already pays that stat
 * (snapshot_before_change_at) and its answer is reused, so an O_CREAT open costs no extra
 * syscall; with snapshots off it costs one.  The stat is an lstat first (stat_as_open), so it
 * also says whether the final component is a symlink, for free unless it is one.  Read-only
 * opens without O_CREAT pay nothing.  A stat that fails otherwise than ENOENT leaves the flag
 * unset (the open then nearly always fails too).
 */
static inline uint32_t before_open(int dirfd, const char *path, int flags)
{
    if (!path || (flags & O_PATH) || (flags & O_TMPFILE) == O_TMPFILE)
        return 0;
    if ((flags & O_CREAT) && (flags & O_EXCL))
        return ROAR_OPEN_CREATED; /* if it succeeds, it created the file: nothing to save */
    int writes = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
    int snapshot = writes && snapshot_enabled();
    if (!snapshot && !(flags & O_CREAT))
        return 0;
    uint32_t info = 0;
    int saved = errno;
    if (shim_enter()) {
        int follow = !(flags & O_NOFOLLOW);
        int keeps_old = (flags & O_ACCMODE) == O_RDWR && !(flags & O_TRUNC);
        int final_plain = 0;
        int exists = snapshot ? snapshot_before_change_at(dirfd, path, follow, SNAPSHOT_COPY,
                                                          keeps_old, &final_plain)
                              : exists_at(dirfd, path, follow, &final_plain);
        if ((flags & O_CREAT) && exists == 0)
            info = ROAR_OPEN_CREATED;
        if (final_plain)
            info |= SHIM_OPEN_FINAL_PLAIN;
        shim_leave();
    }
    errno = saved;
    return info;
}

/* Before a call that removes or replaces the name `path` (unlink, rename over, truncate). */
void before_change(int dirfd, const char *path, int follow, enum snapshot_how how)
{
    if (!snapshot_enabled() || !path)
        return;
    int saved = errno;
    if (shim_enter()) {
        snapshot_before_change_at(dirfd, path, follow, how, 0, NULL);
        shim_leave();
    }
    errno = saved;
}

/* Report after a successful open-family call; keeps errno. */
static inline int after_open(int fd, int flags, uint32_t info, int dirfd, const char *path)
{
    if (fd >= 0) {
        int saved = errno;
        if (shim_enter()) {
            report_open(fd, flags, info, dirfd, path);
            shim_leave();
        }
        errno = saved;
    }
    return fd;
}

REAL_DECL(int, open, (const char *, int, ...));
REAL_DECL(int, open64, (const char *, int, ...));
REAL_DECL(int, openat, (int, const char *, int, ...));
REAL_DECL(int, openat64, (int, const char *, int, ...));
REAL_DECL(int, creat, (const char *, mode_t));
REAL_DECL(int, creat64, (const char *, mode_t));
REAL_DECL(int, __open_2, (const char *, int));
REAL_DECL(int, __open64_2, (const char *, int));
REAL_DECL(int, __openat_2, (int, const char *, int));
REAL_DECL(int, __openat64_2, (int, const char *, int));
REAL_DECL(int, mkstemp, (char *));
REAL_DECL(int, mkostemp, (char *, int));
REAL_DECL(int, mkstemps, (char *, int));
REAL_DECL(int, mkostemps, (char *, int, int));

SHIM_API int open(const char *path, int flags, ...)
{
    VA_MODE(flags);
    uint32_t info = before_open(AT_FDCWD, path, flags);
    return after_open(REAL(open)(path, flags, mode), flags, info, AT_FDCWD, path);
}

SHIM_API int open64(const char *path, int flags, ...)
{
    VA_MODE(flags);
    uint32_t info = before_open(AT_FDCWD, path, flags);
    return after_open(REAL(open64)(path, flags, mode), flags, info, AT_FDCWD, path);
}

SHIM_API int openat(int dirfd, const char *path, int flags, ...)
{
    VA_MODE(flags);
    uint32_t info = before_open(dirfd, path, flags);
    return after_open(REAL(openat)(dirfd, path, flags, mode), flags, info, dirfd, path);
}

SHIM_API int openat64(int dirfd, const char *path, int flags, ...)
{
    VA_MODE(flags);
    uint32_t info = before_open(dirfd, path, flags);
    return after_open(REAL(openat64)(dirfd, path, flags, mode), flags, info, dirfd, path);
}

#define CREAT_FLAGS (O_CREAT | O_WRONLY | O_TRUNC)

SHIM_API int creat(const char *path, mode_t mode)
{
    uint32_t info = before_open(AT_FDCWD, path, CREAT_FLAGS);
    return after_open(REAL(creat)(path, mode), CREAT_FLAGS, info, AT_FDCWD, path);
}

SHIM_API int creat64(const char *path, mode_t mode)
{
    uint32_t info = before_open(AT_FDCWD, path, CREAT_FLAGS);
    return after_open(REAL(creat64)(path, mode), CREAT_FLAGS, info, AT_FDCWD, path);
}

SHIM_API int __open_2(const char *path, int flags)
{
    uint32_t info = before_open(AT_FDCWD, path, flags);
    return after_open(REAL(__open_2)(path, flags), flags, info, AT_FDCWD, path);
}

SHIM_API int __open64_2(const char *path, int flags)
{
    uint32_t info = before_open(AT_FDCWD, path, flags);
    return after_open(REAL(__open64_2)(path, flags), flags, info, AT_FDCWD, path);
}

SHIM_API int __openat_2(int dirfd, const char *path, int flags)
{
    uint32_t info = before_open(dirfd, path, flags);
    return after_open(REAL(__openat_2)(dirfd, path, flags), flags, info, dirfd, path);
}

SHIM_API int __openat64_2(int dirfd, const char *path, int flags)
{
    uint32_t info = before_open(dirfd, path, flags);
    return after_open(REAL(__openat64_2)(dirfd, path, flags), flags, info, dirfd, path);
}

/* mkstemp & co. open with libc's internal __open: a new file, read-write. */
#define MKSTEMP_FLAGS (O_RDWR | O_CREAT | O_EXCL)

SHIM_API int mkstemp(char *tmpl)
{
    return after_open(REAL(mkstemp)(tmpl), MKSTEMP_FLAGS, ROAR_OPEN_CREATED, AT_FDCWD, tmpl);
}

SHIM_API int mkostemp(char *tmpl, int flags)
{
    return after_open(REAL(mkostemp)(tmpl, flags), MKSTEMP_FLAGS | flags, ROAR_OPEN_CREATED,
                      AT_FDCWD, tmpl);
}

SHIM_API int mkstemps(char *tmpl, int suffixlen)
{
    return after_open(REAL(mkstemps)(tmpl, suffixlen), MKSTEMP_FLAGS, ROAR_OPEN_CREATED, AT_FDCWD,
                      tmpl);
}

SHIM_API int mkostemps(char *tmpl, int suffixlen, int flags)
{
    return after_open(REAL(mkostemps)(tmpl, suffixlen, flags), MKSTEMP_FLAGS | flags,
                      ROAR_OPEN_CREATED, AT_FDCWD, tmpl);
}

/* ---- stdio ------------------------------------------------------------------------------------ */

/* open(2) flags equivalent to an fopen mode string. */
static int fopen_flags(const char *mode)
{
    int flags;
    switch (mode ? mode[0] : 'r') {
    case 'w':
        flags = O_WRONLY | O_CREAT | O_TRUNC;
        break;
    case 'a':
        flags = O_WRONLY | O_CREAT | O_APPEND;
        break;
    default:
        flags = O_RDONLY;
        break;
    }
    for (const char *m = mode ? mode + 1 : ""; *m && *m != ','; m++) {
        if (*m == '+')
            flags = (flags & ~O_ACCMODE) | O_RDWR;
        else if (*m == 'x')
            flags |= O_EXCL;
        else if (*m == 'e')
            flags |= O_CLOEXEC;
    }
    return flags;
}

static FILE *after_fopen(FILE *fp, const char *mode, uint32_t info, const char *path)
{
    if (fp) {
        int saved = errno;
        if (shim_enter()) {
            report_open(fileno(fp), fopen_flags(mode), info, AT_FDCWD, path ? path : "");
            shim_leave();
        }
        errno = saved;
    }
    return fp;
}

REAL_DECL(FILE *, fopen, (const char *, const char *));
REAL_DECL(FILE *, fopen64, (const char *, const char *));
REAL_DECL(FILE *, freopen, (const char *, const char *, FILE *));
REAL_DECL(FILE *, freopen64, (const char *, const char *, FILE *));
REAL_DECL(int, fclose, (FILE *));

SHIM_API FILE *fopen(const char *path, const char *mode)
{
    uint32_t info = before_open(AT_FDCWD, path, fopen_flags(mode));
    return after_fopen(REAL(fopen)(path, mode), mode, info, path);
}

SHIM_API FILE *fopen64(const char *path, const char *mode)
{
    uint32_t info = before_open(AT_FDCWD, path, fopen_flags(mode));
    return after_fopen(REAL(fopen64)(path, mode), mode, info, path);
}

/* freopen closes the stream's old descriptor (a CLOSE) and opens path, or with path NULL
 * reopens the same file in a new mode. */
static void before_freopen(FILE *stream)
{
    int saved = errno;
    if (stream && shim_enter()) {
        report_close(fileno(stream));
        shim_leave();
    }
    errno = saved;
}

SHIM_API FILE *freopen(const char *path, const char *mode, FILE *stream)
{
    uint32_t info = before_open(AT_FDCWD, path, fopen_flags(mode));
    before_freopen(stream);
    return after_fopen(REAL(freopen)(path, mode, stream), mode, info, path);
}

SHIM_API FILE *freopen64(const char *path, const char *mode, FILE *stream)
{
    uint32_t info = before_open(AT_FDCWD, path, fopen_flags(mode));
    before_freopen(stream);
    return after_fopen(REAL(freopen64)(path, mode, stream), mode, info, path);
}

SHIM_API int fclose(FILE *stream)
{
    int fd = stream ? fileno(stream) : -1;
    int r = REAL(fclose)(stream);
    int saved = errno;
    if (fd >= 0 && fdtab_has(fd) && shim_enter()) {
        report_close(fd);
        shim_leave();
    }
    errno = saved;
    return r;
}
