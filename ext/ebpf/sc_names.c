/*
 * sc_names.c -- calls that change what lives at a name (rename, link, unlink, truncate) and the
 * working directory.
 */
#include "sc.h"

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

void h_rename(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    two_names(t, ev, p, AT_FDCWD, AT_FDCWD, 0, ROAR_EVK_RENAME, 0, 0, "rename");
}

void h_renameat(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    two_names(t, ev, p, ARG(ev, 0), ARG(ev, 2), 0, ROAR_EVK_RENAME, 0, 0, "rename");
}

void h_renameat2(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    two_names(t, ev, p, ARG(ev, 0), ARG(ev, 2), 0, ROAR_EVK_RENAME, (int32_t)ev->args[4], 0,
              "rename");
}

void h_link(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    /* link(2) does not follow a symlink in oldpath on Linux */
    two_names(t, ev, p, AT_FDCWD, AT_FDCWD, 0, ROAR_EVK_LINK, 0, 0, "link");
}

void h_linkat(struct task *t, const struct rb_event *ev, const struct paths *p)
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

void h_unlink(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    (void)ev;
    one_name(t, p, AT_FDCWD, ROAR_EVK_UNLINK, 0, 0, "unlink");
}

void h_unlinkat(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    if (ARG(ev, 2) & AT_REMOVEDIR)
        return; /* rmdir: no file content goes away */
    one_name(t, p, ARG(ev, 0), ROAR_EVK_UNLINK, 0, 0, "unlink");
}

void h_truncate(struct task *t, const struct rb_event *ev, const struct paths *p)
{
    if (t->truncated_name) {
        /* named while the call waited for the snapshot check: the file as the call found it */
        snapshot_note_write(t->truncated_name);
        emit_namespace(t, ROAR_EVK_TRUNCATE, 0, (int64_t)ev->args[1], t->truncated_name, NULL);
        free(t->truncated_name);
        t->truncated_name = NULL;
        return;
    }
    /* truncate(2) follows symlinks */
    one_name(t, p, AT_FDCWD, ROAR_EVK_TRUNCATE, (int64_t)ev->args[1], 1, "truncate");
}

void h_ftruncate(struct task *t, const struct rb_event *ev, const struct paths *p)
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


/* ---- working directory ------------------------------------------------------------------------ */

static void set_cwd(struct task *t, const char *path)
{
    snprintf(t->cwd->path, sizeof t->cwd->path, "%s", path);
    emit_record(ROAR_EVK_CHDIR, 0, t->proc->tgid, t->tid, 0, 0, 0, path, NULL);
}

void h_chdir(struct task *t, const struct rb_event *ev, const struct paths *p)
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

void h_fchdir(struct task *t, const struct rb_event *ev, const struct paths *p)
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
