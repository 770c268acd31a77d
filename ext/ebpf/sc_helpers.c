/*
 * sc_helpers.c -- see sc.h: names resolved as the call resolved them, and the records every
 * family of handlers emits alike.
 */
#include "sc.h"

/* ---- shared helpers --------------------------------------------------------------------------- */

/* The job read path: snapshot.c must know, and the seccomp short cut (unotify.h) too. */
void note_read(const char *path)
{
    if (!snapshot_enabled())
        return;
    snapshot_note_read(path);
    unotify_note_read(path);
}

/* What /proc says about a descriptor of a live thread: the fallback when the table has no entry. */
int proc_fd_path(pid_t tid, int fd, char *out, size_t size)
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
const char *fd_path(struct task *t, int fd, char *buf, size_t size)
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
int resolve(struct task *t, int dirfd, const char *raw, char *out, int allow_empty)
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
void canonicalise(char *path, size_t size, int follow)
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
int kernel_name(const struct rb_event *ev, char *out, size_t size)
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
void unresolved(struct task *t, const char *what)
{
    emit_warn(t->proc->tgid, t->tid, "%s succeeded but its path could not be worked out", what);
    emit_count_lost(1);
}

void emit_close(void *ctx, int fd, const char *path)
{
    struct task *t = ctx;
    emit_record(ROAR_EVK_CLOSE, 0, t->proc->tgid, t->tid, 0, fd, 0, path, NULL);
}

/* Records that change what lives at a path forget its dedupe entries. */
void emit_namespace(struct task *t, uint8_t kind, int32_t arg0, int64_t arg1,
                           const char *p1, const char *p2)
{
    dedupe_forget(p1);
    if (p2)
        dedupe_forget(p2);
    emit_record(kind, 0, t->proc->tgid, t->tid, arg0, arg1, 0, p1, p2);
}

void close_fd(struct task *t, int fd)
{
    const char *path = fdt_get(t->writes, fd);
    if (path) {
        emit_close(t, fd, path);
        fdt_remove(t->writes, fd);
    }
    fdt_remove(t->files, fd);
}
