/*
 * sc_helpers.c -- reading a stopped thread's path arguments, resolving them, and the records
 * every family of handlers emits alike (namespace changes, unresolvable paths, CLOSE records).
 */
#include "handlers.h"

pid_t pid_of(const struct thread *t)
{
    return t->proc->tgid;
}

/*
 * Read the path string the tracee passed at addr into raw (ROAR_PATH_BUF / 2 bytes: PATH_MAX, the
 * longest path the kernel accepts).  Returns its length, or -1.
 */
ssize_t read_path_arg(struct thread *t, uint64_t addr, char *raw)
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
int resolve_raw(struct thread *t, int dirfd, const char *raw, char *out, int allow_empty)
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
int resolve_at(struct thread *t, int dirfd, uint64_t addr, char *out, int allow_empty)
{
    char raw[ROAR_PATH_BUF / 2];
    if (read_path_arg(t, addr, raw) < 0)
        return -1;
    return resolve_raw(t, dirfd, raw, out, allow_empty);
}

/* Resolve into t's path buffer `which`; records success in sc.ok1/ok2. */
void resolve_arg(struct thread *t, int which, int dirfd, uint64_t addr, int allow_empty)
{
    char *buf = thread_path(t, which);
    int ok = buf && resolve_at(t, dirfd, addr, buf, allow_empty) == 0;
    if (which == 1)
        t->sc.ok1 = ok;
    else
        t->sc.ok2 = ok;
}

/* A successful call whose path we could not work out: say so rather than stay silent. */
void unresolved(struct thread *t, const char *what)
{
    emit_warn(pid_of(t), t->tid, "%s succeeded but its path could not be read", what);
    emit_count_lost(1);
}

/* Emit a record that changes what lives at its paths, and forget their dedupe entries. */
void emit_namespace(struct thread *t, uint8_t kind, int32_t arg0, int64_t arg1,
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
void save_before(struct thread *t, const char *path, int follow, enum snapshot_how how,
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

void emit_close(void *ctx, int fd, const char *path)
{
    struct thread *t = ctx;
    emit_record(ROAR_EVK_CLOSE, 0, pid_of(t), t->tid, 0, fd, 0, path, NULL);
}
