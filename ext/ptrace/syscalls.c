/*
 * syscalls.c -- the dispatch table and its handlers (see syscalls.h).
 *
 * Handlers run while the calling thread is stopped.  Entry handlers read what will be gone or
 * ambiguous later (the strings the tracee passed, the directory a relative path is relative to);
 * exit handlers run only when the call succeeded and emit the records.  Failed calls produce
 * nothing.  Paths of open-family results come from /proc/<tid>/fd/<fd>: the kernel has already
 * resolved symlinks, "..", the dirfd and the working directory exactly, which no amount of
 * re-resolving in the tracer could match.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__has_include)
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#endif
#endif

#include "emit.h"
#include "fdtable.h"
#include "log.h"
#include "paths.h"
#include "ptrace_utils.h"
#include "snapshot.h"
#include "syscall_names.h"
#include "syscalls.h"
#include "tracer.h"

#ifndef O_PATH
#define O_PATH 010000000
#endif
#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef F_DUPFD_CLOEXEC
#define F_DUPFD_CLOEXEC 1030
#endif
#ifndef SYS_openat2
#define SYS_openat2 437 /* the same number on every architecture */
#endif
#ifndef RESOLVE_NO_MAGICLINKS
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
struct open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};
#endif

struct roar_skip_reads skip_reads;

/* ---- helpers ---------------------------------------------------------------------------------- */

#define ARG_INT(t, i) ((int)(t)->sc.args[i])

/* Handlers of the pre-*at syscalls, which asm-generic architectures (aarch64) do not have. */
#define LEGACY_SYSCALL __attribute__((unused))

static pid_t pid_of(const struct thread *t)
{
    return t->proc->tgid;
}

/*
 * Read the path string the tracee passed at addr into raw (ROAR_PATH_BUF / 2 bytes: PATH_MAX, the
 * longest path the kernel accepts).  Returns its length, or -1.
 */
static ssize_t read_path_arg(struct thread *t, uint64_t addr, char *raw)
{
    int truncated = 0;
    ssize_t n = tracee_read_string(t->tid, addr, raw, ROAR_PATH_BUF / 2, &truncated);
    if (n >= 0 && truncated)
        t->sc.evflags |= ROAR_EVF_TRUNCATED;
    return n;
}

/*
 * Make raw (a path the tracee passed) absolute against dirfd (AT_FDCWD: the working directory).
 * An empty string with allow_empty (AT_EMPTY_PATH) means dirfd itself.  Only lexical work happens
 * here; canonicalisation waits for the exit stop.  Returns 0, or -1.
 */
static int resolve_raw(struct thread *t, int dirfd, const char *raw, char *out, int allow_empty)
{
    char base[ROAR_PATH_BUF / 2];
    if (!raw[0]) {
        if (!allow_empty)
            return -1;
        ssize_t n = dirfd == AT_FDCWD ? proc_readlink(t->tid, "cwd", out, ROAR_PATH_BUF)
                                      : proc_fd_path(t->tid, dirfd, out, ROAR_PATH_BUF);
        return n > 0 && path_is_absolute(out) ? 0 : -1;
    }
    if (!path_is_absolute(raw)) {
        ssize_t m = dirfd == AT_FDCWD ? proc_readlink(t->tid, "cwd", base, sizeof base)
                                      : proc_fd_path(t->tid, dirfd, base, sizeof base);
        if (m <= 0 || !path_is_absolute(base))
            return -1;
    }
    if (path_join(out, ROAR_PATH_BUF, base, raw) < 0)
        return -1;
    path_fix_proc_self(out, ROAR_PATH_BUF, pid_of(t), t->tid);
    path_normalize(out);
    return 0;
}

/* read_path_arg + resolve_raw. */
static int resolve_at(struct thread *t, int dirfd, uint64_t addr, char *out, int allow_empty)
{
    char raw[ROAR_PATH_BUF / 2];
    if (read_path_arg(t, addr, raw) < 0)
        return -1;
    return resolve_raw(t, dirfd, raw, out, allow_empty);
}

/* Resolve into t's path buffer `which`; records success in sc.ok1/ok2. */
static void resolve_arg(struct thread *t, int which, int dirfd, uint64_t addr, int allow_empty)
{
    char *buf = thread_path(t, which);
    int ok = buf && resolve_at(t, dirfd, addr, buf, allow_empty) == 0;
    if (which == 1)
        t->sc.ok1 = ok;
    else
        t->sc.ok2 = ok;
}

/* A successful call whose path we could not work out: say so rather than stay silent. */
static void unresolved(struct thread *t, const char *what)
{
    emit_warn(pid_of(t), t->tid, "%s succeeded but its path could not be read", what);
    emit_count_lost(1);
}

/* Emit a record that changes what lives at its paths, and forget their dedupe entries. */
static void emit_namespace(struct thread *t, uint8_t kind, int32_t arg0, int64_t arg1,
                           const char *p1, const char *p2)
{
    dedupe_forget(p1);
    if (p2)
        dedupe_forget(p2);
    emit_record(kind, t->sc.evflags, pid_of(t), t->tid, arg0, arg1, 0, p1, p2);
}

/*
 * The call about to run changes the file at `path` (absolute, lexical; follow: the call follows a
 * final symlink): let snapshot.c save it first if the job read it.  See snapshot.h.
 */
static void save_before(struct thread *t, const char *path, int follow, enum snapshot_how how,
                        int also_unread)
{
    char buf[ROAR_PATH_BUF];
    if (!snapshot_enabled() || strlen(path) >= sizeof buf)
        return;
    strcpy(buf, path);
    if (follow)
        path_canonical_full(buf, sizeof buf);
    else
        path_canonical_parent(buf, sizeof buf);
    snapshot_before_change(pid_of(t), t->tid, buf, how, also_unread);
}

static void emit_close(void *ctx, int fd, const char *path)
{
    struct thread *t = ctx;
    emit_record(ROAR_EVK_CLOSE, 0, pid_of(t), t->tid, 0, fd, 0, path, NULL);
}

/* ---- open family ------------------------------------------------------------------------------ */

/*
 * Whether the file the tracee names with (dirfd, raw) exists now: 1, 0 (ENOENT), or -1 when we
 * cannot tell.  Looked up by the kernel, not joined lexically: a relative name is looked up under
 * /proc/<tid>/cwd or /proc/<tid>/fd/<dirfd>, which lead to the tracee's very directory, so "..",
 * symlinks and the dirfd resolve exactly as the tracee's call will resolve them (in the tracer's
 * mount namespace and root: see Limits in ext/README.md).  One fstatat(2); three (open the
 * directory, fstatat, close) when the prefix makes the name longer than PATH_MAX.
 */
static int exists_for(struct thread *t, int dirfd, const char *raw, int follow)
{
    int at_flags = follow ? 0 : AT_SYMLINK_NOFOLLOW;
    char dir[64];
    char name[ROAR_PATH_BUF]; /* room for the prefix and the longest raw path */
    if (path_is_absolute(raw)) {
        snprintf(name, sizeof name, "%s", raw);
        path_fix_proc_self(name, sizeof name, pid_of(t), t->tid); /* "self" is the tracee */
    } else {
        if (dirfd == AT_FDCWD)
            snprintf(dir, sizeof dir, "/proc/%d/cwd", (int)t->tid);
        else
            snprintf(dir, sizeof dir, "/proc/%d/fd/%d", (int)t->tid, dirfd);
        snprintf(name, sizeof name, "%s/%s", dir, raw);
    }
    struct stat st;
    int rc = fstatat(AT_FDCWD, name, &st, at_flags);
    if (rc < 0 && errno == ENAMETOOLONG && !path_is_absolute(raw)) {
        int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
            return -1;
        rc = fstatat(dfd, raw, &st, at_flags);
        int err = errno;
        close(dfd);
        errno = err;
    }
    if (rc == 0)
        return 1;
    return errno == ENOENT ? 0 : -1;
}

/* An open that only reads: read-only, and neither creates nor truncates. */
static int plain_read(int64_t flags)
{
    return (flags & O_ACCMODE) == O_RDONLY && !(flags & (O_CREAT | O_TRUNC));
}

/* openat2(2), which kernels before 5.6 do not have (ENOSYS: remembered, never tried again). */
static int no_openat2;

static int openat2_path(int base, const char *name, int nofollow, uint64_t resolve)
{
    if (no_openat2) {
        errno = ENOSYS;
        return -1;
    }
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_PATH | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0);
    how.resolve = resolve;
    int fd = (int)syscall(SYS_openat2, base, name, &how, sizeof how);
    if (fd < 0 && errno == ENOSYS)
        no_openat2 = 1;
    return fd;
}

/* 1 if a component of path is "..": its lexical form may then name another file than the kernel
 * finds (a symlink before the ".." leads elsewhere). */
static int has_dotdot(const char *path)
{
    for (const char *p = path; (p = strstr(p, "..")); p += 2) {
        if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
            return 1;
    }
    return 0;
}

/*
 * Whether `path` -- the lexical, absolute form of a name without ".." (a relative one joined to
 * the directory /proc says the tracee is in, itself canonical) -- is already the canonical path
 * of what it names: 1 when it leads to a file through no symlink at all (one openat2 with
 * RESOLVE_NO_SYMLINKS, and a close), 0 when nothing is there (ENOENT, met before any symlink:
 * the tracee's open will fail), -1 when a symlink is on the way (ELOOP) or anything else goes
 * wrong.  The common case, and three times cheaper than asking /proc what a descriptor's path is.
 */
static int lexical_is_canonical(const char *path)
{
    int fd = openat2_path(AT_FDCWD, path, 0, RESOLVE_NO_SYMLINKS);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    close(fd);
    return 1;
}

/*
 * The canonical path of the file the tracee names with (dirfd, raw), as its open will find it:
 * 1 (in out), or -1 when we cannot tell.  Like exists_for, the kernel resolves it: a relative
 * name under the tracee's own directory (/proc/<tid>/cwd or /proc/<tid>/fd/<dirfd>, opened
 * first), an absolute one as is, with openat2(O_PATH, RESOLVE_NO_MAGICLINKS), then readlink of
 * our descriptor (realpath(3) would make a syscall per component).  A symlink on the way may lead
 * into /proc/self, which is the tracer here, not the tracee (/dev/stdin -> /proc/self/fd/0): a
 * magic link that we would follow to our own file is refused (ELOOP), and a name that ends in our
 * /proc (a result there, or ENOENT: our fd/900 may not exist where the tracee's does) is -1.
 */
static int canonical_for(struct thread *t, int dirfd, const char *raw, int nofollow, char *out,
                         size_t size)
{
    char fixed[ROAR_PATH_BUF];
    const char *name = raw;
    int base = AT_FDCWD;
    if (path_is_absolute(raw)) {
        snprintf(fixed, sizeof fixed, "%s", raw);
        path_fix_proc_self(fixed, sizeof fixed, pid_of(t), t->tid); /* "self" is the tracee */
        name = fixed;
    } else {
        char dir[64];
        if (dirfd == AT_FDCWD)
            snprintf(dir, sizeof dir, "/proc/%d/cwd", (int)t->tid);
        else
            snprintf(dir, sizeof dir, "/proc/%d/fd/%d", (int)t->tid, dirfd);
        base = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (base < 0)
            return -1;
    }
    int fd = openat2_path(base, name, nofollow, RESOLVE_NO_MAGICLINKS);
    if (base != AT_FDCWD)
        close(base);
    if (fd < 0)
        return -1;
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, size - 1);
    close(fd);
    if (n <= 0 || (size_t)n >= size - 1)
        return -1;
    out[n] = '\0';
    return path_is_absolute(out) && strncmp(out, "/proc/", 6) != 0 ? 1 : -1;
}

/*
 * A plain read (plain_read()) that the rule of skip_reads.h leaves out: decided here, so that it
 * costs no exit stop.  1: skip it; 0: take the exit stop as usual (which applies the rule again,
 * to the path the kernel opened).  Only a name that lies under a skip prefix as written (a string
 * test on its lexical form) and is not kept as written pays for a lookup; a symlink from elsewhere
 * into a skip prefix is left to the exit stop.  A name that does not exist (found without a
 * symlink on the way: lexical_is_canonical) is skipped: the open will fail.  Kernels without
 * openat2 (before 5.6) always take the exit stop.
 */
static int skip_read_at_entry(struct thread *t, int64_t flags, int dirfd, uint64_t addr)
{
    char raw[ROAR_PATH_BUF / 2];
    char path[ROAR_PATH_BUF];
    int truncated = 0;
    if (tracee_read_string(t->tid, addr, raw, sizeof raw, &truncated) < 0 || truncated)
        return 0;
    if (resolve_raw(t, dirfd, raw, path, 0) < 0 || !roar_under_any(path, &skip_reads.skip) ||
        roar_under_any(path, &skip_reads.keep) || roar_contains_any(path, &skip_reads.keep_sub))
        return 0;
    int nofollow = (flags & O_NOFOLLOW) != 0;
    int found = has_dotdot(raw) ? -1 : lexical_is_canonical(path);
    if (found < 0)
        found = canonical_for(t, dirfd, raw, nofollow, path, sizeof path);
    if (found < 0)
        return 0;
    if (found == 0) {
        VLOG("%d: open of %s: skipped at entry (it does not exist)", (int)t->tid, raw);
        return 1;
    }
    if (!roar_skip_read(&skip_reads, path))
        return 0;
    VLOG("%d: open of %s: skipped at entry (%s)", (int)t->tid, raw, path);
    return 1;
}

/*
 * dirfd/addr name the path (addr 0: no path, open_by_handle_at).  A read-only O_DIRECTORY open
 * and a read that skip_reads leaves out end here, with no exit stop.  Otherwise the path is read
 * here when the open may create the file (O_CREAT: does it exist now?  The answer goes into the
 * OPEN record at the exit stop as ROAR_OPEN_CREATED) or when snapshots are on and the open may
 * change an existing file's data; the record's path comes from the descriptor at the exit stop.
 */
static int open_entry_flags(struct thread *t, int64_t flags, int dirfd, uint64_t addr)
{
    if (flags & O_PATH)
        return SC_DONE; /* O_PATH gives a handle, not access to the data */
    if (plain_read(flags) && (flags & O_DIRECTORY))
        return SC_DONE; /* listing a directory, or a dirfd for *at(): nothing roar records */
    t->sc.aux = flags;
    if (!addr)
        return SC_NEED_EXIT;
    if (plain_read(flags)) {
        if (roar_skip_reads_enabled(&skip_reads) && skip_read_at_entry(t, flags, dirfd, addr))
            return SC_DONE;
        return SC_NEED_EXIT;
    }
    if ((flags & O_CREAT) && (flags & O_EXCL)) {
        t->sc.open_info = ROAR_OPEN_CREATED; /* if it succeeds, it created the file */
        return SC_NEED_EXIT;
    }
    int writes = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
    int snapshot = writes && snapshot_enabled();
    if (!snapshot && !(flags & O_CREAT))
        return SC_NEED_EXIT;
    char raw[ROAR_PATH_BUF / 2];
    if (read_path_arg(t, addr, raw) < 0)
        return SC_NEED_EXIT; /* the call will fail with EFAULT */
    int follow = !(flags & O_NOFOLLOW);
    if (flags & O_CREAT) {
        int exists = exists_for(t, dirfd, raw, follow);
        if (exists == 0) {
            t->sc.open_info = ROAR_OPEN_CREATED;
            return SC_NEED_EXIT; /* nothing there to save */
        }
    }
    char *path = snapshot ? thread_path(t, 2) : NULL;
    if (path && resolve_raw(t, dirfd, raw, path, 0) == 0) {
        int keeps_old = (flags & O_ACCMODE) == O_RDWR && !(flags & O_TRUNC);
        save_before(t, path, follow, SNAPSHOT_COPY, keeps_old);
    }
    return SC_NEED_EXIT;
}

LEGACY_SYSCALL static int enter_open(struct thread *t)
{
    return open_entry_flags(t, ARG_INT(t, 1), AT_FDCWD, t->sc.args[0]);
}

static int enter_openat(struct thread *t)
{
    return open_entry_flags(t, ARG_INT(t, 2), ARG_INT(t, 0), t->sc.args[1]);
}

LEGACY_SYSCALL static int enter_creat(struct thread *t)
{
    return open_entry_flags(t, O_CREAT | O_WRONLY | O_TRUNC, AT_FDCWD, t->sc.args[0]);
}

static int enter_openat2(struct thread *t)
{
    uint64_t how_flags = 0; /* struct open_how starts with __u64 flags */
    if (tracee_read(t->tid, t->sc.args[2], &how_flags, sizeof how_flags) != sizeof how_flags)
        how_flags = 0; /* the call will fail with EFAULT anyway */
    return open_entry_flags(t, (int64_t)how_flags, ARG_INT(t, 0), t->sc.args[1]);
}

static int enter_open_by_handle_at(struct thread *t)
{
    return open_entry_flags(t, ARG_INT(t, 2), AT_FDCWD, 0);
}

static void exit_open(struct thread *t, int64_t rval)
{
    int fd = (int)rval;
    int flags = (int)t->sc.aux;
    char *path = thread_path(t, 1);
    if (!path || proc_fd_path(t->tid, fd, path, ROAR_PATH_BUF) < 0) {
        unresolved(t, "open");
        return;
    }
    if (!path_is_absolute(path)) {
        /* pipe:[..], socket:[..], anon_inode:..: not files */
        fdt_remove(t->fds, fd);
        return;
    }
    path_normalize(path);
    if (plain_read(flags) && roar_skip_reads_enabled(&skip_reads) &&
        roar_skip_read(&skip_reads, path)) {
        VLOG("%d: open of %s: skipped at exit", (int)t->tid, path);
        fdt_remove(t->fds, fd); /* as for any read-only open */
        return;
    }
    unsigned cls;
    if (flags & O_TRUNC)
        cls = DEDUPE_OPEN_TRUNC;
    else if ((flags & O_ACCMODE) == O_WRONLY)
        cls = DEDUPE_OPEN_WRITE;
    else if ((flags & O_ACCMODE) == O_RDWR)
        cls = DEDUPE_OPEN_READWRITE;
    else
        cls = DEDUPE_OPEN_READ;
    if (dedupe_first(t->proc->instance, cls, path))
        emit_record(ROAR_EVK_OPEN, 0, pid_of(t), t->tid, flags, fd, t->sc.open_info, path, NULL);
    if (!(flags & O_TRUNC) && (flags & O_ACCMODE) != O_WRONLY)
        snapshot_note_read(path);
    if ((flags & O_TRUNC) || (flags & O_ACCMODE) != O_RDONLY)
        snapshot_note_write(path);
    if ((flags & O_ACCMODE) != O_RDONLY)
        fdt_set(t->fds, fd, path, (flags & O_CLOEXEC) != 0);
    else
        fdt_remove(t->fds, fd);
}

/* ---- descriptor bookkeeping (CLOSE records) --------------------------------------------------- */

static int enter_close(struct thread *t)
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

static int enter_need_exit(struct thread *t)
{
    (void)t;
    return SC_NEED_EXIT;
}

static void exit_close_range(struct thread *t, int64_t rval)
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

static void exit_dup(struct thread *t, int64_t rval)
{
    fdt_dup(t->fds, ARG_INT(t, 0), (int)rval, 0);
}

/* dup2/dup3: newfd is closed first when it was open (implicitly: a CLOSE for us). */
static void dup_over(struct thread *t, int oldfd, int newfd, int cloexec)
{
    if (oldfd == newfd)
        return;
    const char *old_path = fdt_get(t->fds, newfd);
    if (old_path)
        emit_close(t, newfd, old_path);
    fdt_dup(t->fds, oldfd, newfd, cloexec);
}

LEGACY_SYSCALL static void exit_dup2(struct thread *t, int64_t rval)
{
    (void)rval;
    dup_over(t, ARG_INT(t, 0), ARG_INT(t, 1), 0);
}

static void exit_dup3(struct thread *t, int64_t rval)
{
    (void)rval;
    dup_over(t, ARG_INT(t, 0), ARG_INT(t, 1), (ARG_INT(t, 2) & O_CLOEXEC) != 0);
}

static int enter_fcntl(struct thread *t)
{
    /* Without seccomp every fcntl stops here; only these commands change our table. */
    int cmd = ARG_INT(t, 1);
    return cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC || cmd == F_SETFD ? SC_NEED_EXIT : SC_DONE;
}

static void exit_fcntl(struct thread *t, int64_t rval)
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

static int enter_ioctl(struct thread *t)
{
    unsigned cmd = (unsigned)t->sc.args[1];
    return cmd == FIOCLEX || cmd == FIONCLEX ? SC_NEED_EXIT : SC_DONE;
}

static void exit_ioctl(struct thread *t, int64_t rval)
{
    (void)rval;
    fdt_set_cloexec(t->fds, ARG_INT(t, 0), (unsigned)t->sc.args[1] == FIOCLEX);
}

static void exit_unshare(struct thread *t, int64_t rval)
{
    (void)rval;
    if (t->sc.args[0] & CLONE_FILES)
        thread_unshare_fds(t);
}

/* ---- rename / link / unlink / truncate -------------------------------------------------------- */

static int enter_rename_common(struct thread *t)
{
    /* The file replaced at the new name loses its last name here (EXCHANGE keeps both). */
    if (t->sc.ok2 && !(t->sc.aux & RENAME_EXCHANGE))
        save_before(t, t->path2, 0, SNAPSHOT_LINK, 0);
    return SC_NEED_EXIT;
}

LEGACY_SYSCALL static int enter_rename(struct thread *t)
{
    resolve_arg(t, 1, AT_FDCWD, t->sc.args[0], 0);
    resolve_arg(t, 2, AT_FDCWD, t->sc.args[1], 0);
    t->sc.aux = 0;
    return enter_rename_common(t);
}

static int enter_renameat(struct thread *t)
{
    resolve_arg(t, 1, ARG_INT(t, 0), t->sc.args[1], 0);
    resolve_arg(t, 2, ARG_INT(t, 2), t->sc.args[3], 0);
    t->sc.aux = 0;
    return enter_rename_common(t);
}

static int enter_renameat2(struct thread *t)
{
    resolve_arg(t, 1, ARG_INT(t, 0), t->sc.args[1], 0);
    resolve_arg(t, 2, ARG_INT(t, 2), t->sc.args[3], 0);
    t->sc.aux = (int64_t)(uint32_t)t->sc.args[4];
    return enter_rename_common(t);
}

static void exit_rename(struct thread *t, int64_t rval)
{
    (void)rval;
    if (!t->sc.ok1 || !t->sc.ok2) {
        unresolved(t, "rename");
        return;
    }
    /* Canonicalise the directories only: the old name is gone now, the new one may be a link. */
    path_canonical_parent(t->path1, ROAR_PATH_BUF);
    path_canonical_parent(t->path2, ROAR_PATH_BUF);
    snapshot_note_write(t->path2);
    emit_namespace(t, ROAR_EVK_RENAME, (int32_t)t->sc.aux, 0, t->path1, t->path2);
}

LEGACY_SYSCALL static int enter_link(struct thread *t)
{
    resolve_arg(t, 1, AT_FDCWD, t->sc.args[0], 0);
    resolve_arg(t, 2, AT_FDCWD, t->sc.args[1], 0);
    t->sc.aux = 0; /* link(2) does not follow a symlink in oldpath on Linux */
    return SC_NEED_EXIT;
}

static int enter_linkat(struct thread *t)
{
    int flags = ARG_INT(t, 4);
    resolve_arg(t, 1, ARG_INT(t, 0), t->sc.args[1], (flags & AT_EMPTY_PATH) != 0);
    resolve_arg(t, 2, ARG_INT(t, 2), t->sc.args[3], 0);
    t->sc.aux = flags;
    return SC_NEED_EXIT;
}

static void exit_link(struct thread *t, int64_t rval)
{
    (void)rval;
    if (!t->sc.ok1 || !t->sc.ok2) {
        unresolved(t, "link");
        return;
    }
    if (t->sc.aux & AT_SYMLINK_FOLLOW)
        path_canonical_full(t->path1, ROAR_PATH_BUF);
    else
        path_canonical_parent(t->path1, ROAR_PATH_BUF);
    path_canonical_parent(t->path2, ROAR_PATH_BUF);
    snapshot_note_write(t->path2);
    emit_namespace(t, ROAR_EVK_LINK, 0, 0, t->path1, t->path2);
}

static int enter_unlink_common(struct thread *t)
{
    if (t->sc.ok1)
        save_before(t, t->path1, 0, SNAPSHOT_LINK, 0);
    return SC_NEED_EXIT;
}

LEGACY_SYSCALL static int enter_unlink(struct thread *t)
{
    resolve_arg(t, 1, AT_FDCWD, t->sc.args[0], 0);
    return enter_unlink_common(t);
}

static int enter_unlinkat(struct thread *t)
{
    if (ARG_INT(t, 2) & AT_REMOVEDIR)
        return SC_DONE; /* rmdir: no file content goes away */
    resolve_arg(t, 1, ARG_INT(t, 0), t->sc.args[1], 0);
    return enter_unlink_common(t);
}

static void exit_unlink(struct thread *t, int64_t rval)
{
    (void)rval;
    if (!t->sc.ok1) {
        unresolved(t, "unlink");
        return;
    }
    path_canonical_parent(t->path1, ROAR_PATH_BUF);
    emit_namespace(t, ROAR_EVK_UNLINK, 0, 0, t->path1, NULL);
}

static int enter_truncate(struct thread *t)
{
    resolve_arg(t, 1, AT_FDCWD, t->sc.args[0], 0);
    if (t->sc.ok1)
        save_before(t, t->path1, 1, SNAPSHOT_COPY, 0);
    return SC_NEED_EXIT;
}

static int enter_ftruncate(struct thread *t)
{
    char *path = snapshot_enabled() ? thread_path(t, 1) : NULL;
    if (path && proc_fd_path(t->tid, ARG_INT(t, 0), path, ROAR_PATH_BUF) > 0 &&
        path_is_absolute(path))
        save_before(t, path, 1, SNAPSHOT_COPY, 0);
    return SC_NEED_EXIT;
}

static void exit_truncate(struct thread *t, int64_t rval)
{
    (void)rval;
    if (!t->sc.ok1) {
        unresolved(t, "truncate");
        return;
    }
    path_canonical_full(t->path1, ROAR_PATH_BUF); /* truncate(2) follows symlinks */
    snapshot_note_write(t->path1);
    emit_namespace(t, ROAR_EVK_TRUNCATE, 0, (int64_t)t->sc.args[1], t->path1, NULL);
}

static void exit_ftruncate(struct thread *t, int64_t rval)
{
    (void)rval;
    char *path = thread_path(t, 1);
    if (!path || proc_fd_path(t->tid, ARG_INT(t, 0), path, ROAR_PATH_BUF) < 0) {
        unresolved(t, "ftruncate");
        return;
    }
    if (!path_is_absolute(path))
        return;
    path_normalize(path);
    snapshot_note_write(path);
    emit_namespace(t, ROAR_EVK_TRUNCATE, 0, (int64_t)t->sc.args[1], path, NULL);
}

/* ---- exec ------------------------------------------------------------------------------------- */

/*
 * The filename is read now, at the seccomp stop, and kept on the thread: at PTRACE_EVENT_EXEC the
 * old address space (and the string) is gone.  A failed attempt (execvp trying each $PATH entry)
 * is simply overwritten by the next one; no exit stop is needed.
 */
static int exec_entry(struct thread *t, int dirfd, uint64_t addr, int allow_empty)
{
    char *buf = thread_path(t, 1);
    free(t->exec_path);
    t->exec_path = NULL;
    if (buf && resolve_at(t, dirfd, addr, buf, allow_empty) == 0)
        t->exec_path = strdup(buf);
    return SC_DONE;
}

static int enter_execve(struct thread *t)
{
    return exec_entry(t, AT_FDCWD, t->sc.args[0], 0);
}

static int enter_execveat(struct thread *t)
{
    return exec_entry(t, ARG_INT(t, 0), t->sc.args[1], (ARG_INT(t, 4) & AT_EMPTY_PATH) != 0);
}

/* ---- data moved between descriptors ----------------------------------------------------------- */

static void fd_event(struct thread *t, uint8_t kind, unsigned cls, int fd)
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

static void exit_sendfile(struct thread *t, int64_t rval)
{
    (void)rval; /* sendfile(out_fd, in_fd, offset, count) */
    fd_event(t, ROAR_EVK_READ, DEDUPE_FD_READ, ARG_INT(t, 1));
    fd_event(t, ROAR_EVK_WRITE, DEDUPE_FD_WRITE, ARG_INT(t, 0));
}

static void exit_copy_in_out(struct thread *t, int64_t rval)
{
    (void)rval; /* copy_file_range/splice(fd_in, off_in, fd_out, off_out, ...) */
    fd_event(t, ROAR_EVK_READ, DEDUPE_FD_READ, ARG_INT(t, 0));
    fd_event(t, ROAR_EVK_WRITE, DEDUPE_FD_WRITE, ARG_INT(t, 2));
}

/* ---- working directory ------------------------------------------------------------------------ */

static void exit_chdir(struct thread *t, int64_t rval)
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

static void exit_io_uring_setup(struct thread *t, int64_t rval)
{
    (void)rval;
    if (t->proc->warned_io_uring)
        return;
    t->proc->warned_io_uring = 1;
    emit_warn(pid_of(t), t->tid,
              "io_uring in use: files opened or written through it are not traced");
}

/* ---- the table -------------------------------------------------------------------------------- */

#define ROW(name, entry, exit) {SYS_##name, #name, entry, exit, 0, 0, {0}}

static const struct syscall_row rows[] = {
#ifdef SYS_open
    ROW(open, enter_open, exit_open),
#endif
#ifdef SYS_creat
    ROW(creat, enter_creat, exit_open),
#endif
    ROW(openat, enter_openat, exit_open),
#ifdef SYS_openat2
    ROW(openat2, enter_openat2, exit_open),
#endif
    ROW(open_by_handle_at, enter_open_by_handle_at, exit_open),
    ROW(close, enter_close, NULL),
#ifdef SYS_close_range
    ROW(close_range, enter_need_exit, exit_close_range),
#endif
    ROW(dup, enter_need_exit, exit_dup),
#ifdef SYS_dup2
    ROW(dup2, enter_need_exit, exit_dup2),
#endif
    ROW(dup3, enter_need_exit, exit_dup3),
    {SYS_fcntl, "fcntl", enter_fcntl, exit_fcntl, 1, 3, {F_DUPFD, F_DUPFD_CLOEXEC, F_SETFD}},
    {SYS_ioctl, "ioctl", enter_ioctl, exit_ioctl, 1, 2, {FIOCLEX, FIONCLEX}},
    ROW(unshare, enter_need_exit, exit_unshare),
#ifdef SYS_rename
    ROW(rename, enter_rename, exit_rename),
#endif
#ifdef SYS_renameat
    ROW(renameat, enter_renameat, exit_rename),
#endif
    ROW(renameat2, enter_renameat2, exit_rename),
#ifdef SYS_link
    ROW(link, enter_link, exit_link),
#endif
    ROW(linkat, enter_linkat, exit_link),
#ifdef SYS_unlink
    ROW(unlink, enter_unlink, exit_unlink),
#endif
    ROW(unlinkat, enter_unlinkat, exit_unlink),
    ROW(truncate, enter_truncate, exit_truncate),
    ROW(ftruncate, enter_ftruncate, exit_ftruncate),
    ROW(execve, enter_execve, NULL),
    ROW(execveat, enter_execveat, NULL),
    ROW(sendfile, enter_need_exit, exit_sendfile),
    ROW(copy_file_range, enter_need_exit, exit_copy_in_out),
    ROW(splice, enter_need_exit, exit_copy_in_out),
    ROW(chdir, enter_need_exit, exit_chdir),
    ROW(fchdir, enter_need_exit, exit_chdir),
#ifdef SYS_io_uring_setup
    ROW(io_uring_setup, enter_need_exit, exit_io_uring_setup),
#endif
};

#define NROWS (sizeof rows / sizeof rows[0])

/* nr -> row; syscall numbers are dense and below 1024 on both architectures. */
#define MAX_NR 1024
static const struct syscall_row *by_nr[MAX_NR];

void syscalls_init(void)
{
    for (size_t i = 0; i < NROWS; i++) {
        if (rows[i].nr >= 0 && rows[i].nr < MAX_NR)
            by_nr[rows[i].nr] = &rows[i];
    }
}

const struct syscall_row *syscall_lookup(long nr)
{
    return nr >= 0 && nr < MAX_NR ? by_nr[nr] : NULL;
}

const char *syscall_name(long nr)
{
    if (nr >= 0 && nr < SYSCALL_NAMES_COUNT && syscall_names[nr])
        return syscall_names[nr];
    return NULL;
}

/* ---- the seccomp program ---------------------------------------------------------------------- */

#include <linux/filter.h>
#include <linux/seccomp.h>

#define ARG_LO(i) ((uint32_t)(offsetof(struct seccomp_data, args) + (i) * sizeof(uint64_t)))

int seccomp_build_filter(struct sock_fprog *prog)
{
    /*
     * Layout (classic BPF jumps only forward, with 8-bit offsets, so everything targets one of
     * the two returns at the end):
     *   arch != native             -> TRACE (the tracer warns that it cannot decode them)
     *   nr has the x32 bit         -> TRACE (same)
     *   nr == row without filter   -> TRACE
     *   nr == row with filter      -> load arg; value matches -> TRACE, else ALLOW
     *   anything else              -> ALLOW
     */
    size_t cap = 8 + 2 * NROWS + 8 * NROWS;
    struct sock_filter *f = calloc(cap, sizeof *f);
    if (!f)
        return -1;
    size_t n = 0;
    /* Filled in once the position of the TRACE return is known: (index, jt?) pairs. */
    size_t fix[cap];
    int fix_jt[cap];
    size_t nfix = 0;

    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                          offsetof(struct seccomp_data, arch));
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ROAR_AUDIT_ARCH, 1, 0);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                          offsetof(struct seccomp_data, nr));
#ifdef ROAR_X32_SYSCALL_BIT
    fix[nfix] = n;
    fix_jt[nfix++] = 1;
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, ROAR_X32_SYSCALL_BIT, 0, 0);
#endif
    for (size_t i = 0; i < NROWS; i++) {
        if (rows[i].nfilter != 0)
            continue;
        fix[nfix] = n;
        fix_jt[nfix++] = 1;
        f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)rows[i].nr, 0,
                                              0);
    }
    for (size_t i = 0; i < NROWS; i++) {
        const struct syscall_row *r = &rows[i];
        if (r->nfilter == 0)
            continue;
        /* jeq nr ? fall into the block : skip it.  The block ends with a return. */
        uint8_t block = (uint8_t)(1 + r->nfilter + 1);
        f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)r->nr, 0, block);
        f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(r->filter_arg));
        for (int k = 0; k < r->nfilter; k++) {
            fix[nfix] = n;
            fix_jt[nfix++] = 1;
            f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, r->filter_vals[k],
                                                  0, 0);
        }
        f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    }
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    size_t trace_at = n;
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE);

    for (size_t i = 0; i < nfix; i++) {
        size_t off = trace_at - fix[i] - 1;
        if (off > 255) {
            free(f);
            errno = E2BIG;
            return -1;
        }
        if (fix_jt[i])
            f[fix[i]].jt = (uint8_t)off;
    }
    prog->len = (unsigned short)n;
    prog->filter = f;
    return 0;
}
