/*
 * sc_open.c -- the open family: what an open will read or write, decided at its entry stop when
 * it can be (no exit stop for a read roar would drop), reported at its exit stop otherwise.
 */
#include "handlers.h"

/* ---- open family ------------------------------------------------------------------------------ */

/*
 * Whether the file the tracee names with (dirfd, raw) exists now: 1, 0 (ENOENT), or -1 when we
 * cannot tell.  Looked up by the kernel, not joined lexically: a relative name is looked up under
 * /proc/<tid>/cwd or /proc/<tid>/fd/<dirfd>, which lead to the tracee's very directory, so "..",
 * symlinks and the dirfd resolve exactly as the tracee's call will resolve them (in the tracer's
 * mount namespace and root: see Limits in ext/README.md).  One fstatat(2); three (open the
 * directory, fstatat, close) when the prefix makes the name longer than PATH_MAX.
 */
int exists_for(struct thread *t, int dirfd, const char *raw, int follow)
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
int plain_read(int64_t flags)
{
    return (flags & O_ACCMODE) == O_RDONLY && !(flags & (O_CREAT | O_TRUNC));
}

/* openat2(2), which kernels before 5.6 do not have (ENOSYS: remembered, never tried again). */
static int no_openat2;

int openat2_path(int base, const char *name, int nofollow, uint64_t resolve)
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
int has_dotdot(const char *path)
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
int lexical_is_canonical(const char *path)
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
int canonical_for(struct thread *t, int dirfd, const char *raw, int nofollow, char *out,
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
int skip_read_at_entry(struct thread *t, int64_t flags, int dirfd, uint64_t addr)
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
int open_entry_flags(struct thread *t, int64_t flags, int dirfd, uint64_t addr)
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

LEGACY_SYSCALL int enter_open(struct thread *t)
{
    return open_entry_flags(t, ARG_INT(t, 1), AT_FDCWD, t->sc.args[0]);
}

int enter_openat(struct thread *t)
{
    return open_entry_flags(t, ARG_INT(t, 2), ARG_INT(t, 0), t->sc.args[1]);
}

LEGACY_SYSCALL int enter_creat(struct thread *t)
{
    return open_entry_flags(t, O_CREAT | O_WRONLY | O_TRUNC, AT_FDCWD, t->sc.args[0]);
}

int enter_openat2(struct thread *t)
{
    uint64_t how_flags = 0; /* struct open_how starts with __u64 flags */
    if (tracee_read(t->tid, t->sc.args[2], &how_flags, sizeof how_flags) != sizeof how_flags)
        how_flags = 0; /* the call will fail with EFAULT anyway */
    return open_entry_flags(t, (int64_t)how_flags, ARG_INT(t, 0), t->sc.args[1]);
}

int enter_open_by_handle_at(struct thread *t)
{
    return open_entry_flags(t, ARG_INT(t, 2), AT_FDCWD, 0);
}

void exit_open(struct thread *t, int64_t rval)
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
    unsigned cls = dedupe_open_class(flags);
    if (dedupe_reset_mark(path))
        dedupe_forget_instance(t->proc->instance); /* a Ray task begins or ends here */
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
